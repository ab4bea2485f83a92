"""``propagate-qdq``: quantization moves through data-movement ops.

Ops that only move, select or repeat elements (Reshape, Transpose, Slice, MaxPool, Pad,
nearest Resize...) commute with quantization, which is element-wise and monotone:
op(Dequantize(t)) becomes Dequantize(op(t)) and Quantize(op(y)) becomes op(Quantize(y)), so
the op runs on the stored 8-bit values. A constant Pad value moves with it, quantized (when
sinking a Dequantize, only when that is exact). The stage decides where in a chain of data
movement the float / 8-bit boundary sits: as close to the float ops as it can.
"""

from __future__ import annotations

import attrs
import numpy as np

from furiosa.errors import IRError
from furiosa.ir.core import Operation, Value, constant_value
from furiosa.ir.dialects.host import Dequantize, Quantize
from furiosa.ir.dialects.onnx import tensor as tn
from furiosa.ir.dialects.onnx.base import (
    Constant,
)
from furiosa.ir.module import Function
from furiosa.ir.quantization import dequantize, quantize
from furiosa.ir.types import ElementType, Quantization
from furiosa.passes.base import FunctionPass, PassContext
from furiosa.passes.fold_qdq.common import (
    build_checked,
    finish,
    moves_data,
    rebuild,
    replace,
    typed,
)
from furiosa.passes.rewrite import RewritePattern, Rewriter, apply_patterns_greedily, pattern


def _quantized_pad_value(pad: tn.Pad, quant: Quantization, element: ElementType,
                         exact: bool) -> np.ndarray | None:
    """Pad's constant in stored integers: quantized (``exact``: only when that loses nothing)."""
    cv = pad.operand("constant_value")
    real = np.zeros((), np.float32) if cv is None else constant_value(cv)
    if real is None:
        return None
    stored = quantize(real.reshape(()).astype(np.float32), quant, element)
    if exact and dequantize(stored, quant, np.float32) != real.reshape(()).astype(np.float32):
        return None
    return np.asarray(stored, element.dtype).reshape(())


def _moved_operands(op: Operation, data: Value, new: list[Operation],
                    exact: bool) -> list[Value | None] | None:
    """``op``'s operands with ``data`` (IR-quantized) as its data, Pad's value converted."""
    operands = [data, *op.operands[1:]]
    if isinstance(op, tn.Pad) and op.mode == "constant":
        q = data.type.quant
        if q is None or not q.is_per_tensor:
            return None
        value = _quantized_pad_value(op, q, data.type.element, exact)
        if value is None:
            return None
        c = Constant.of(value)
        new.append(c)
        while len(operands) < 3:
            operands.append(None)
        operands[2] = c.results[0]
    return operands


@pattern(name="dequantizes-sunk")
def sink_dequantize(op: Operation, rw: Rewriter) -> bool:
    """op(Dequantize(t)) -> Dequantize(op(t)) for data movement: the op runs on stored values."""
    if not moves_data(op) or not op.operands:
        return False
    t = typed(op.operands[0])
    if t is None:
        return False
    new: list[Operation] = []
    operands = _moved_operands(op, t, new, exact=True)
    if operands is None:
        return False
    made = build_checked(new, lambda: rebuild(op, operands))
    if made is None:
        return False
    outs = []
    for r in made.results:
        try:
            d = Dequantize.build(r, loc=op.loc)
        except IRError:
            return False
        new.append(d)
        outs.append(d.results[0])
    if any(o.type != r.type for o, r in zip(outs, op.results, strict=True)):
        return False
    for n in new:
        rw.insert(n)
    replace(rw, op, outs)
    return True


@pattern(Quantize, name="quantizes-hoisted")
def hoist_quantize(q: Quantize, rw: Rewriter) -> bool:
    """Quantize(op(y)) -> op(Quantize(y)) for data movement (and Concat): exact, since
    quantization is element-wise and monotone."""
    if not q.quantization.is_per_tensor:
        return False
    y = q.operands[0]
    op = y.owner
    if op is None:
        return False
    new: list[Operation] = []

    def quantized(v: Value) -> Value | None:
        for user in v.users:
            if isinstance(user, Quantize) and user is not q and user in rw.function and \
                    user.attributes == q.attributes:
                return user.results[0]
        made = build_checked(new, lambda: rebuild(q, [v]))
        return made.results[0] if made is not None else None

    if isinstance(op, tn.Concat):
        parts = [quantized(v) for v in op.operand_list("inputs")]
        if any(p is None for p in parts):
            return False
        made = build_checked(new, lambda: rebuild(op, parts))
    else:
        if not moves_data(op) or not op.operands or op.operands[0] is None or \
                not op.operands[0].type.element.is_float:
            return False
        data = quantized(op.operands[0])
        if data is None:
            return False
        operands = _moved_operands(op, data, new, exact=False)
        if operands is None:
            return False
        made = build_checked(new, lambda: rebuild(op, operands))
    if made is None:
        return False
    return finish(rw, q, made.results[y.index], new)


PROPAGATE_PATTERNS: list[RewritePattern] = [hoist_quantize, sink_dequantize]


@attrs.frozen
class PropagateQDQ(FunctionPass):
    """Quantize above and Dequantize below data-movement ops."""

    NAME = "propagate-qdq"
    SUMMARY = "move host.Quantize above and host.Dequantize below data-movement ops"

    def run_on_function(self, function: Function, ctx: PassContext) -> None:
        apply_patterns_greedily(function, PROPAGATE_PATTERNS, ctx)
