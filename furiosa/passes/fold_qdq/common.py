"""What the fold-qdq stages share: which ops move data, how a rewrite replaces an op, and
how a value is put into another 8-bit quantization."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from furiosa.errors import IRError
from furiosa.ir.core import Dense, Operation, Value
from furiosa.ir.dialects import quant as qd
from furiosa.ir.dialects.host import Dequantize, Quantize
from furiosa.ir.dialects.onnx import nn
from furiosa.ir.dialects.onnx import tensor as tn
from furiosa.ir.quantization import dequantize, quantize
from furiosa.ir.traits import MovesData
from furiosa.ir.types import ElementType, Quantization, TensorType
from furiosa.ir.verifier import verify_operation
from furiosa.passes.rewrite import Rewriter

E = ElementType
EIGHT_BIT = (E.I8, E.U8)


def owner(v: Value | None, cls: type[Operation] | tuple[type[Operation], ...]) -> Operation | None:
    """The op producing ``v`` when it is an instance of ``cls``."""
    if v is None or v.owner is None or not isinstance(v.owner, cls):
        return None
    return v.owner


def moves_data(op: Operation) -> bool:
    """A data-movement op (it declares ``MovesData``: it commutes with (de)quantization, so it
    runs on the quantized tensor) whose result is exactly a rearrangement of its data operand."""
    if not op.has_trait(MovesData):
        return False
    if isinstance(op, nn.MaxPool) and len(op.results) != 1:
        return False
    if isinstance(op, tn.Resize):
        # Only nearest sampling copies elements; crop-and-resize extrapolates with a float.
        return op.mode == "nearest" and op.coordinate_transformation_mode != "tf_crop_and_resize"
    return True


def is_plain_8bit(t: TensorType) -> bool:
    return t.element in EIGHT_BIT and t.quant is None


def per_tensor_8bit(v: Value | None) -> bool:
    return (v is not None and v.type.element in EIGHT_BIT and v.type.quant is not None
            and v.type.quant.is_per_tensor)


def rebuild(op: Operation, operands: Sequence[Value | None], **changes: object) -> Operation:
    """An op of ``op``'s class and attributes on new operands (result types inferred)."""
    attributes = {**op.attributes, **changes}
    return type(op).build(*operands, loc=op.loc, **attributes)


def _adopt_name(new: Value, old: Value) -> None:
    if new.name is None and old.name is not None:
        new.name = old.name


def replace(rw: Rewriter, old: Operation, new_values: Sequence[Value]) -> None:
    for n, o in zip(new_values, old.results, strict=True):
        _adopt_name(n, o)
    rw.replace_op(old, new_values)


def _checked(*ops: Operation) -> None:
    """Run the verifier's per-op checks (``build`` infers types but does not call verify_op)."""
    for op in ops:
        verify_operation(op)


def typed(v: Value | None) -> Value | None:
    """``t`` when ``v`` is host.Dequantize(t) to float32."""
    d = owner(v, Dequantize)
    if d is None or d.to != E.F32:
        return None
    return d.operands[0]


def typed_8bit(v: Value | None) -> Value | None:
    """``t`` when ``v`` is the float32 dequantization of a per-tensor 8-bit tensor ``t``."""
    t = typed(v)
    return t if per_tensor_8bit(t) else None


def table_op(t: Value, fn: Callable[[np.ndarray], np.ndarray], out: Quantization,
           element: ElementType, loc: str | None, rounding: str = "half_even") -> qd.Table | None:
    """quant.Table of ``fn`` on the per-tensor 8-bit ``t``: each of the 256 entries is computed
    as host.Dequantize -> fn -> host.Quantize computes it, so the lookup is exact."""
    in_q, in_e = t.type.quant, t.type.element
    if in_q is None or not in_q.is_per_tensor or in_e not in EIGHT_BIT or \
            element not in EIGHT_BIT or not out.is_per_tensor:
        return None
    levels = np.arange(in_e.min, in_e.max + 1, dtype=np.int64).astype(in_e.dtype)
    try:
        real = dequantize(levels, in_q, np.float32)
        with np.errstate(all="ignore"):
            values = quantize(np.asarray(fn(real), np.float32), out, element, rounding)
        table = np.empty(256, element.dtype)
        table[levels.view(np.uint8)] = values
        op = qd.Table.build(t, loc=loc, table=Dense(table), output_scale=out.scale[0],
                            output_zero_point=out.zero_point[0])
        _checked(op)
    except IRError:
        return None
    return op


def requantized(value: Value, want: TensorType, loc: str | None, new: list[Operation],
                 rounding: str = "half_even") -> Value | None:
    """``value`` in the 8-bit type ``want``: itself, or through a table of
    Quantize(Dequantize(x)), which rounds exactly as the float reference does (a fixed-point
    requantization of 8-bit values rounds twice and is off by one step on many elements)."""
    if value.type == want:
        return value
    if want.quant is None or want.shape != value.type.shape:
        return None
    table = table_op(value, lambda real: real, want.quant, want.element, loc, rounding)
    if table is None:
        return None
    new.append(table)
    return table.results[0]


def finish(rw: Rewriter, q: Quantize, value: Value, extra: Sequence[Operation] = ()) -> bool:
    """Replace ``q`` by ``value`` (after inserting ``extra``), requantizing when the type
    differs from ``q``'s; False, with nothing changed, when it cannot."""
    ops = list(extra)
    result = requantized(value, q.results[0].type, q.loc, ops, q.rounding)
    if result is None:
        return False
    for op in ops:
        rw.insert(op)
    replace(rw, q, [result])
    return True


# Window attributes that say nothing when every entry has this value: quant ops leave them out.
_NEUTRAL = {"strides": 1, "dilations": 1, "pads": 0}


def _says_nothing(name: str, value: Any) -> bool:
    neutral = _NEUTRAL.get(name)
    return neutral is not None and value is not None and \
        all(v == neutral for v in value)


def window(**attributes: object) -> dict[str, object]:
    """Window attributes for a quant op, those that say nothing left out (None), so that the op
    is built in its brief form at once rather than rebuilt by ``build_checked``."""
    return {k: None if _says_nothing(k, v) else v for k, v in attributes.items()}


def _tidy(op: Operation) -> Operation:
    """A quant op without an absent trailing bias or all-default window attributes, so that it
    prints as briefly as an op written by hand."""
    if op.dialect() != "quant":
        return op
    operands = list(op.operands)
    while operands and operands[-1] is None:
        operands.pop()
    changes = {name: None for name in _NEUTRAL if _says_nothing(name, getattr(op, name, None))}
    if len(operands) == len(op.operands) and not changes:
        return op
    return rebuild(op, operands, **changes)


def build_checked(new: list[Operation], make: Callable[[], Operation]) -> Operation | None:
    try:
        op = _tidy(make())
        _checked(op)
    except IRError:
        return None
    new.append(op)
    return op


