"""The ``quant`` dialect: integer arithmetic on quantized tensors, as the NPU performs it.

Each op computes exactly what the TFLite int8 reference kernel of its kind computes (NCHW,
the layout of the onnx dialect), or, with ``arithmetic = "onnxruntime"``, what onnxruntime's
integer CPU kernel computes; in that mode the kernel takes its float32 scales from the operand
and result quantization in the types and leaves the fixed-point attributes unused
(``docs/numerics.md`` gives each op's formula in both modes). Operands and results are quantized tensors (``quant<...>``
over i8/u8; the interpreter holds their stored integers). Requantization is explicit: the
fixed-point ``multiplier``/``shift`` attributes (see :mod:`furiosa.ir.quantization`) and the
result's ``output_scale``/``output_zero_point`` are attributes, so passes, the backend and the
simulator read the same numbers. Each op's ``from_scales`` constructor derives them from the
operands' and the output's quantization, as TFLite's kernels do in their Prepare step.

``activation_min``/``activation_max`` are a fused ReLU/ReLU6-style clamp in the output's
integer domain (absent: the output type's range).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Self

import attrs
import numpy as np

from furiosa.errors import IRError
from furiosa.ir.core import AttrKind, Dense, Operation, Value, attribute, op_def, operand, result
from furiosa.ir.dialects.common import (
    QUANT_STORAGE,
    Window,
    broadcast_shapes,
    normalize_axis,
    window_geometry,
)
from furiosa.ir.quantization import (
    ARITHMETIC_MODES,
    IDENTITY_MULTIPLIER,
    INT32_MAX,
    MAX_SHIFT,
    MIN_SHIFT,
    activation_range,
    lookup_table,
    quantize_multiplier,
)
from furiosa.ir.traits import (
    Elementwise,
    HasMACs,
    MovesData,
    NpuCapable,
    conv_macs,
    conv_transpose_macs,
    matmul_macs,
)
from furiosa.ir.types import DYNAMIC, ElementType, Quantization, TensorType

E = ElementType
# TFLite accepts a bias whose scale differs from input_scale · weight_scale by this relative amount.
BIAS_SCALE_TOLERANCE = 1e-6


# --------------------------------------------------------------------------- attribute checks


def _multiplier_ok(m: int) -> bool:
    return 0 <= m <= INT32_MAX


def _shift_ok(s: int) -> bool:
    return MIN_SHIFT <= s <= MAX_SHIFT


def _all(pred: Callable[[int], bool]) -> Callable[[tuple[int, ...]], bool]:
    return lambda values: len(values) >= 1 and all(pred(v) for v in values)


MULTIPLIER_TEXT = f"in [0, {INT32_MAX}]"
SHIFT_TEXT = f"in [{MIN_SHIFT}, {MAX_SHIFT}]"


def multiplier_attr() -> Any:
    return attribute(AttrKind.INT, check=_multiplier_ok, check_text=MULTIPLIER_TEXT)


def shift_attr() -> Any:
    return attribute(AttrKind.INT, check=_shift_ok, check_text=SHIFT_TEXT)


def multipliers_attr() -> Any:
    return attribute(AttrKind.INTS, check=_all(_multiplier_ok),
                     check_text=f"one or more integers {MULTIPLIER_TEXT}")


def shifts_attr() -> Any:
    return attribute(AttrKind.INTS, check=_all(_shift_ok),
                     check_text=f"one or more integers {SHIFT_TEXT}")


def _positive(values: tuple[int, ...]) -> bool:
    return all(v >= 1 for v in values)


def _non_negative(values: tuple[int, ...]) -> bool:
    return all(v >= 0 for v in values)


def arithmetic_attr() -> Any:
    """Which runtime's integer kernels the op reproduces (module docstring); ``tflite`` default."""
    return attribute(AttrKind.STRING, "tflite", choices=ARITHMETIC_MODES)


def strides_attr() -> Any:
    return attribute(AttrKind.INTS, None, check=_positive, check_text=">= 1")


def pads_attr() -> Any:
    return attribute(AttrKind.INTS, None, check=_non_negative, check_text=">= 0")


def dilations_attr() -> Any:
    return attribute(AttrKind.INTS, None, check=_positive, check_text=">= 1")


# --------------------------------------------------------------------------- operand checks


def per_tensor_quant(op: Operation, name: str, value: Value | None = None) -> Quantization:
    """The per-tensor quantization of operand ``name`` (an error when it has none, or per axis)."""
    v = value if value is not None else op.operand(name)
    if v is None:
        raise op.error(f"operand '{name}' is absent")
    q = v.type.quant
    if q is None:
        raise op.error(f"operand '{name}' must be quantized; its type is {v.type}")
    if not q.is_per_tensor:
        raise op.error(f"operand '{name}' must be quantized per tensor, not per axis")
    return q


def check_activation_bounds(op: Clamped, element: ElementType) -> None:
    lo, hi = op.activation_min, op.activation_max
    for name, v in (("activation_min", lo), ("activation_max", hi)):
        if v is not None and not element.min <= v <= element.max:
            raise op.error(f"attribute '{name}' is {v}; it must lie in the {element} range "
                           f"[{element.min}, {element.max}]")
    if lo is not None and hi is not None and lo > hi:
        raise op.error(f"activation_min {lo} is greater than activation_max {hi}")


def activation_bounds(op: Clamped, element: ElementType) -> tuple[int, int]:
    """The op's output clamp as integers (the element range where an attribute is absent)."""
    lo, hi = op.activation_min, op.activation_max
    return (int(element.min) if lo is None else lo, int(element.max) if hi is None else hi)


def _check_per_channel(op: Operation, names: Sequence[str], count: int, what: str) -> None:
    """Each named INTS attribute holds one value, or ``count`` values (one per ``what``)."""
    lengths = {len(getattr(op, n)) for n in names}
    if len(lengths) != 1:
        raise op.error(f"attributes {' and '.join(repr(n) for n in names)} must have equal lengths")
    n = lengths.pop()
    if n not in (1, count) and count != DYNAMIC:
        raise op.error(f"attribute '{names[0]}' has {n} values; expected 1 or {count} "
                       f"(one per {what})")


def _check_bias(op: Operation, bias: Value, channels: int, x_scale: float,
                w_quant: Quantization) -> None:
    t = bias.type
    if t.rank != 1 or (t.shape[0] != channels and DYNAMIC not in (t.shape[0], channels)):
        raise op.error(f"operand 'bias' must have shape [{channels}], not {list(t.shape)}")
    q = t.quant
    if q is None:
        raise op.error("operand 'bias' must be quantized "
                       "(scale input_scale · weight_scale, zero point 0)")
    if any(z != 0 for z in q.zero_point):
        raise op.error("operand 'bias' must have zero point 0")
    if q.axis not in (None, 0):
        raise op.error("operand 'bias' must be quantized per tensor or along its only axis")
    expected = [x_scale * s for s in w_quant.scale]
    n = max(len(expected), len(q.scale))
    for i in range(n):
        want = expected[i if len(expected) > 1 else 0]
        got = q.scale[i if len(q.scale) > 1 else 0]
        if abs(got - want) > BIAS_SCALE_TOLERANCE * min(got, want):
            raise op.error(f"operand 'bias' has scale {got} at channel {i}; expected "
                           f"input_scale · weight_scale = {want}")


def _symmetric_weights(op: Operation, name: str, axis: int) -> Quantization:
    """Quantization of a weight operand: zero points 0, per tensor or along ``axis``."""
    t = op.type_of(name)
    q = t.quant
    if q is None:
        raise op.error(f"operand '{name}' must be quantized; its type is {t}")
    if any(z != 0 for z in q.zero_point):
        raise op.error(f"operand '{name}' must be symmetric (zero point 0), "
                       f"not zero points {list(q.zero_point)}")
    if q.axis is not None and q.axis != axis:
        raise op.error(f"operand '{name}' must be quantized per tensor or along axis {axis}, "
                       f"not axis {q.axis}")
    return q


def _output_quant(op_name: str, output: Quantization) -> Quantization:
    if not output.is_per_tensor:
        raise IRError(f"{op_name}: the output must be quantized per tensor")
    return output


def _input_quant(op_name: str, v: Value, name: str) -> Quantization:
    q = v.type.quant
    if q is None:
        raise IRError(f"{op_name}: operand '{name}' must be quantized; its type is {v.type}")
    return q


def _clamp_attrs(output: Quantization, element: ElementType,
                 clamp: tuple[float | None, float | None] | None) -> dict[str, int | None]:
    if clamp is None:
        return {}
    lo, hi = activation_range(output, element, clamp[0], clamp[1])
    # An unbounded side stays absent rather than spelling out the type's limit.
    return {"activation_min": None if clamp[0] is None else lo,
            "activation_max": None if clamp[1] is None else hi}


def _multipliers(reals: Sequence[float]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    pairs = [quantize_multiplier(r) for r in reals]
    return tuple(m for m, _ in pairs), tuple(s for _, s in pairs)


# --------------------------------------------------------------------------- window geometry


def window_of(op: Operation, input_name: str, kernel: Sequence[int], strides: Sequence[int] | None,
              pads: Sequence[int] | None, dilations: Sequence[int] | None) -> Window:
    """The op's window over its input (explicit pads only); pads must stay inside the window,
    as TFLite's kernels assume."""
    x = _spatial_input(op, input_name)
    w = window_geometry(op, x.shape[2:], kernel, strides, dilations, pads, "NOTSET")
    extents = [(k - 1) * d + 1 for k, d in zip(w.kernel, w.dilations, strict=True)]
    for i, ext in enumerate(extents):
        if w.pads_begin[i] >= ext or w.pads_end[i] >= ext:
            raise op.error(f"pads {list(w.pads)} must be smaller than the window ({ext}) "
                           f"on axis {i}")
    return w


def _spatial_input(op: Operation, name: str) -> TensorType:
    t = op.type_of(name)
    if t.rank < 3:
        raise op.error(f"operand '{name}' must be N x C x spatial..., not rank {t.rank}")
    return t


# --------------------------------------------------------------------------- base


@attrs.define(kw_only=True, eq=False, repr=False)
class RescalingOp(Operation):
    """A quant op whose result has its own per-tensor scale and zero point (attributes)."""

    output_scale: float = attribute(AttrKind.FLOAT, check=lambda s: s > 0 and math.isfinite(s),
                                    check_text="a positive finite number")
    output_zero_point: int = attribute(AttrKind.INT, 0)

    @property
    def output_quant(self) -> Quantization:
        return Quantization.per_tensor(self.output_scale, self.output_zero_point)

    def output_type(self, shape: Sequence[int], element: ElementType) -> TensorType:
        try:
            return TensorType(tuple(shape), element, self.output_quant)
        except IRError as e:
            raise self.error(str(e)) from None


# --------------------------------------------------------------------------- convolution and matmul


@op_def("quant.Conv")
class Conv(RescalingOp):
    """clamp(MBQM(Σ (x - x_zp)·w + bias, multiplier, shift) + y_zp) over NCHW conv windows."""
    # BatchNormalization runs folded into the Conv it follows (fold-batchnorm).
    TRAITS = (HasMACs(conv_macs()), NpuCapable("Conv", ("BatchNormalization",)))

    OPERANDS = (operand("input", QUANT_STORAGE), operand("weights", {E.I8}),
                operand("bias", {E.I32}, optional=True))
    RESULTS = (result("output"),)
    strides: tuple[int, ...] | None = strides_attr()
    pads: tuple[int, ...] | None = pads_attr()
    dilations: tuple[int, ...] | None = dilations_attr()
    group: int = attribute(AttrKind.INT, 1, check=lambda g: g >= 1, check_text=">= 1")
    multiplier: tuple[int, ...] = multipliers_attr()
    shift: tuple[int, ...] = shifts_attr()
    activation_min: int | None = attribute(AttrKind.INT, None)
    activation_max: int | None = attribute(AttrKind.INT, None)
    arithmetic: str = arithmetic_attr()

    def window(self) -> Window:
        w = self.type_of("weights")
        return window_of(self, "input", w.shape[2:], self.strides, self.pads, self.dilations)

    def infer_types(self) -> list[TensorType]:
        x = _spatial_input(self, "input")
        per_tensor_quant(self, "input")
        w = self.type_of("weights")
        if w.rank != x.rank:
            raise self.error(f"operand 'weights' has rank {w.rank}; expected {x.rank} "
                             "like the input")
        m, cg = w.shape[0], w.shape[1]
        if m % self.group:
            raise self.error(f"{m} output channels do not divide into {self.group} groups")
        c = x.shape[1]
        if c != DYNAMIC and c != cg * self.group:
            raise self.error(f"input has {c} channels but weights take {cg} per group "
                             f"x {self.group} groups")
        return [self.output_type((x.shape[0], m, *self.window().out), x.element)]

    def verify_op(self) -> None:
        xq = per_tensor_quant(self, "input")
        wq = _symmetric_weights(self, "weights", 0)
        m = self.type_of("weights").shape[0]
        _check_per_channel(self, ("multiplier", "shift"), m, "output channel")
        bias = self.operand("bias")
        if bias is not None:
            _check_bias(self, bias, m, xq.scale[0], wq)
        check_activation_bounds(self, self.type_of("input").element)

    @classmethod
    def from_scales(cls, input: Value, weights: Value, bias: Value | None, output: Quantization, *,
                    clamp: tuple[float | None, float | None] | None = None, loc: str | None = None,
                    **attributes: Any) -> Conv:
        """Build with multipliers ``input_scale · weight_scale[c] / output_scale`` (per channel).

        ``clamp`` gives a fused activation's real bounds, e.g. ``(0, 6)`` for ReLU6.
        """
        x_scale = _input_quant(cls.OP_NAME, input, "input").scale[0]
        w_scales = _input_quant(cls.OP_NAME, weights, "weights").scale
        out = _output_quant(cls.OP_NAME, output)
        mult, shift = _multipliers([x_scale * s / out.scale[0] for s in w_scales])
        return cls.build(input, weights, bias, loc=loc, multiplier=mult, shift=shift,
                         output_scale=out.scale[0], output_zero_point=out.zero_point[0],
                         **_clamp_attrs(out, input.type.element, clamp), **attributes)


@op_def("quant.MatMul")
class MatMul(RescalingOp):
    """clamp(MBQM(Σ_k (a - a_zp)·(b - b_zp) + bias, multiplier, shift) + y_zp), batched as numpy.

    Covers BATCH_MATMUL (two activations with zero points), uint8 FULLY_CONNECTED and ONNX
    MatMul / Gemm (constant B, per-tensor or per-column weights, bias); TFLite's int8
    FULLY_CONNECTED rescales in double and is ``quant.FullyConnected``.
    """
    TRAITS = (HasMACs(matmul_macs), NpuCapable("MatMul"))

    OPERANDS = (operand("A", QUANT_STORAGE), operand("B", QUANT_STORAGE),
                operand("bias", {E.I32}, optional=True))
    RESULTS = (result("output"),)
    multiplier: tuple[int, ...] = multipliers_attr()
    shift: tuple[int, ...] = shifts_attr()
    activation_min: int | None = attribute(AttrKind.INT, None)
    activation_max: int | None = attribute(AttrKind.INT, None)
    arithmetic: str = arithmetic_attr()

    def infer_types(self) -> list[TensorType]:
        a, b = self.type_of("A"), self.type_of("B")
        per_tensor_quant(self, "A")
        if a.rank == 0 or b.rank == 0:
            raise self.error("operands must have rank 1 or more")
        if b.quant is None:
            raise self.error(f"operand 'B' must be quantized; its type is {b}")
        a_shape = (1, *a.shape) if a.rank == 1 else a.shape
        b_shape = (*b.shape, 1) if b.rank == 1 else b.shape
        ka, kb = a_shape[-1], b_shape[-2]
        if DYNAMIC not in (ka, kb) and ka != kb:
            raise self.error(f"inner dimensions differ: A {list(a.shape)} and B {list(b.shape)}")
        batch = broadcast_shapes(self, a_shape[:-2], b_shape[:-2])
        rows = () if a.rank == 1 else (a_shape[-2],)
        cols = () if b.rank == 1 else (b_shape[-1],)
        return [self.output_type((*batch, *rows, *cols), a.element)]

    def verify_op(self) -> None:
        a_scale = per_tensor_quant(self, "A").scale[0]
        b = self.type_of("B")
        bq = b.quant
        assert bq is not None  # infer_types checks it
        columns = b.shape[-1] if b.rank >= 2 else 1
        if not bq.is_per_tensor:
            _symmetric_weights(self, "B", b.rank - 1)
            if b.rank < 2:
                raise self.error("a rank-1 operand 'B' must be quantized per tensor")
        _check_per_channel(self, ("multiplier", "shift"), columns, "column of B")
        bias = self.operand("bias")
        if bias is not None:
            if b.rank < 2:
                raise self.error("a bias needs operand 'B' of rank 2 or more")
            _check_bias(self, bias, columns, a_scale, bq)
        check_activation_bounds(self, self.type_of("A").element)

    @classmethod
    def from_scales(cls, a: Value, b: Value, bias: Value | None, output: Quantization, *,
                    clamp: tuple[float | None, float | None] | None = None,
                    loc: str | None = None) -> MatMul:
        """Build with multipliers ``a_scale · b_scale[j] / output_scale`` (per column of B)."""
        a_scale = _input_quant(cls.OP_NAME, a, "A").scale[0]
        b_scales = _input_quant(cls.OP_NAME, b, "B").scale
        out = _output_quant(cls.OP_NAME, output)
        mult, shift = _multipliers([a_scale * s / out.scale[0] for s in b_scales])
        return cls.build(a, b, bias, loc=loc, multiplier=mult, shift=shift,
                         output_scale=out.scale[0], output_zero_point=out.zero_point[0],
                         **_clamp_attrs(out, a.type.element, clamp))


# --------------------------------------------------------------------------- element-wise


@attrs.define(kw_only=True, eq=False, repr=False)
class _Binary(RescalingOp):
    """Two broadcast per-tensor quantized operands of one element type; result of that type."""
    TRAITS = (Elementwise(),)

    OPERANDS = (operand("A", QUANT_STORAGE), operand("B", QUANT_STORAGE))
    RESULTS = (result("output"),)

    def infer_types(self) -> list[TensorType]:
        a, b = self.type_of("A"), self.type_of("B")
        per_tensor_quant(self, "A")
        per_tensor_quant(self, "B")
        if a.element != b.element:
            raise self.error(f"operands 'A' ({a.element}) and 'B' ({b.element}) must have the "
                             "same element type")
        return [self.output_type(broadcast_shapes(self, a.shape, b.shape), a.element)]

    def verify_op(self) -> None:
        check_activation_bounds(self, self.type_of("A").element)


@attrs.define(kw_only=True, eq=False, repr=False)
class _AddOrSub(_Binary):
    """TFLite int8 ADD/SUB: both inputs are shifted left by ``left_shift``, rescaled to a common
    scale, combined, then rescaled to the output."""

    left_shift: int = attribute(AttrKind.INT, 20, check=lambda s: 0 <= s <= 30,
                                check_text="in [0, 30]")
    a_multiplier: int = multiplier_attr()
    a_shift: int = shift_attr()
    b_multiplier: int = multiplier_attr()
    b_shift: int = shift_attr()
    output_multiplier: int = multiplier_attr()
    output_shift: int = shift_attr()
    activation_min: int | None = attribute(AttrKind.INT, None)
    activation_max: int | None = attribute(AttrKind.INT, None)
    arithmetic: str = arithmetic_attr()

    @classmethod
    def from_scales(cls, a: Value, b: Value, output: Quantization, *,
                    clamp: tuple[float | None, float | None] | None = None,
                    loc: str | None = None) -> Self:
        """Build with TFLite's ADD/SUB parameters (left shift 20, inputs rescaled to twice the
        larger input scale)."""
        sa = _input_quant(cls.OP_NAME, a, "A").scale[0]
        sb = _input_quant(cls.OP_NAME, b, "B").scale[0]
        out = _output_quant(cls.OP_NAME, output)
        left_shift = 20
        twice_max = 2 * max(sa, sb)
        am, ash = quantize_multiplier(sa / twice_max)
        bm, bsh = quantize_multiplier(sb / twice_max)
        om, osh = quantize_multiplier(twice_max / ((1 << left_shift) * out.scale[0]))
        return cls.build(a, b, loc=loc, left_shift=left_shift, a_multiplier=am, a_shift=ash,
                         b_multiplier=bm, b_shift=bsh, output_multiplier=om, output_shift=osh,
                         output_scale=out.scale[0], output_zero_point=out.zero_point[0],
                         **_clamp_attrs(out, a.type.element, clamp))


@op_def("quant.Add")
class Add(_AddOrSub):
    """TFLite int8 ADD: clamp(MBQM(A' + B', output_multiplier, output_shift) + y_zp), where
    A' = MBQM((a - a_zp)·2^left_shift, a_multiplier, a_shift) and B' likewise."""
    # PRelu is rewritten (rewrite-prelu) as (1 - slope)·Relu(x) + slope·x, ending in an Add.
    TRAITS = (NpuCapable("Add", ("PRelu",)),)


@op_def("quant.Sub")
class Sub(_AddOrSub):
    """TFLite int8 SUB: clamp(MBQM(A' - B', output_multiplier, output_shift) + y_zp), where
    A' = MBQM((a - a_zp)·2^left_shift, a_multiplier, a_shift) and B' likewise."""
    TRAITS = (NpuCapable("Sub"),)


@op_def("quant.Mul")
class Mul(_Binary):
    """TFLite int8 MUL: clamp(MBQM((a - a_zp)·(b - b_zp), multiplier, shift) + y_zp)."""
    TRAITS = (NpuCapable("Mul"),)

    multiplier: int = multiplier_attr()
    shift: int = shift_attr()
    activation_min: int | None = attribute(AttrKind.INT, None)
    activation_max: int | None = attribute(AttrKind.INT, None)
    arithmetic: str = arithmetic_attr()

    @classmethod
    def from_scales(cls, a: Value, b: Value, output: Quantization, *,
                    clamp: tuple[float | None, float | None] | None = None,
                    loc: str | None = None) -> Mul:
        """Build with multiplier ``a_scale · b_scale / output_scale``."""
        sa = _input_quant(cls.OP_NAME, a, "A").scale[0]
        sb = _input_quant(cls.OP_NAME, b, "B").scale[0]
        out = _output_quant(cls.OP_NAME, output)
        m, s = quantize_multiplier(sa * sb / out.scale[0])
        return cls.build(a, b, loc=loc, multiplier=m, shift=s, output_scale=out.scale[0],
                         output_zero_point=out.zero_point[0],
                         **_clamp_attrs(out, a.type.element, clamp))


@op_def("quant.Requantize")
class Requantize(RescalingOp):
    """TFLite QUANTIZE of 8-bit to 8-bit: clamp(MBQM(x - x_zp, multiplier, shift) + y_zp)."""
    TRAITS = (Elementwise(), NpuCapable("Requantize", own=True))

    OPERANDS = (operand("input", QUANT_STORAGE),)
    RESULTS = (result("output"),)
    to: ElementType = attribute(AttrKind.ELEMENT, choices=(E.I8, E.U8))
    multiplier: int = multiplier_attr()
    shift: int = shift_attr()
    arithmetic: str = arithmetic_attr()

    def infer_types(self) -> list[TensorType]:
        per_tensor_quant(self, "input")
        return [self.output_type(self.type_of("input").shape, self.to)]

    @classmethod
    def from_scales(cls, input: Value, output: Quantization, to: ElementType | None = None, *,
                    loc: str | None = None) -> Requantize:
        """Build with multiplier ``input_scale / output_scale``; ``to`` defaults to the input's."""
        s_in = _input_quant(cls.OP_NAME, input, "input").scale[0]
        out = _output_quant(cls.OP_NAME, output)
        m, s = quantize_multiplier(s_in / out.scale[0])
        return cls.build(input, loc=loc, to=to or input.type.element, multiplier=m, shift=s,
                         output_scale=out.scale[0], output_zero_point=out.zero_point[0])


# The element-wise rows of the supported-operator table: the NPU computes each as a table.
TABLE_ROWS = ("Clip", "Relu", "LeakyRelu", "Sigmoid", "Softplus", "Tanh", "Exp", "Log", "Elu",
              "Erf", "Gelu", "Sqrt", "Pow")


@op_def("quant.Table")
class Table(RescalingOp):
    """Element-wise lookup output = table[byte of x] in a 256-entry i8/u8 table (TFLite's LUT)."""
    TRAITS = (Elementwise(), NpuCapable("Table", TABLE_ROWS, own=True))

    OPERANDS = (operand("input", QUANT_STORAGE),)
    RESULTS = (result("output"),)
    table: Dense = attribute(AttrKind.DENSE)

    def infer_types(self) -> list[TensorType]:
        per_tensor_quant(self, "input")
        t = self.table.type
        if t.shape != (256,) or t.element not in QUANT_STORAGE or t.quant is not None:
            raise self.error("attribute 'table' must be an unquantized 256-entry i8 or u8 "
                             f"tensor, not {t}")
        return [self.output_type(self.type_of("input").shape, t.element)]

    @classmethod
    def from_function(cls, input: Value, fn: Callable[[np.ndarray], np.ndarray],
                      output: Quantization, to: ElementType | None = None, *,
                      loc: str | None = None) -> Table:
        """Tabulate the float function ``fn`` (float32 in and out) for ``input``'s quantization."""
        in_q = _input_quant(cls.OP_NAME, input, "input")
        out = _output_quant(cls.OP_NAME, output)
        element = to or input.type.element
        try:
            table = lookup_table(fn, in_q, input.type.element, out, element)
        except IRError as e:
            raise IRError(f"{cls.OP_NAME}: {e}") from None
        return cls.build(input, loc=loc, table=Dense(table), output_scale=out.scale[0],
                         output_zero_point=out.zero_point[0])


# --------------------------------------------------------------------------- pooling and reduction


@op_def("quant.AveragePool")
class AveragePool(Operation):
    """TFLite int8 AVERAGE_POOL: window sum of stored values / count, rounded half away from zero.

    The result has the input's quantization. Padded positions are skipped
    (``count_include_pad = 0``) or count as the zero point.
    """
    TRAITS = (NpuCapable("AveragePool"),)

    OPERANDS = (operand("input", QUANT_STORAGE),)
    RESULTS = (result("output"),)
    kernel_shape: tuple[int, ...] = attribute(AttrKind.INTS, check=_positive, check_text=">= 1")
    strides: tuple[int, ...] | None = strides_attr()
    pads: tuple[int, ...] | None = pads_attr()
    count_include_pad: int = attribute(AttrKind.INT, 0, choices=(0, 1))
    activation_min: int | None = attribute(AttrKind.INT, None)
    activation_max: int | None = attribute(AttrKind.INT, None)
    arithmetic: str = arithmetic_attr()
    # onnxruntime's QLinearAveragePool requantizes to its own output quantization inside its
    # float formula; absent, the result has the input's (TFLite's AVERAGE_POOL always does).
    output_scale: float | None = attribute(
        AttrKind.FLOAT, None, check=lambda s: s > 0 and math.isfinite(s),
        check_text="a positive finite number")
    output_zero_point: int | None = attribute(AttrKind.INT, None)

    def window(self) -> Window:
        return window_of(self, "input", self.kernel_shape, self.strides, self.pads, None)

    def infer_types(self) -> list[TensorType]:
        (t,) = _pool_type(self)
        if self.output_scale is None and self.output_zero_point is None:
            return [t]
        out = Quantization.per_tensor(
            self.output_scale if self.output_scale is not None else t.quant.scale[0],  # type: ignore[union-attr]
            self.output_zero_point if self.output_zero_point is not None
            else t.quant.zero_point[0])  # type: ignore[union-attr]
        try:
            return [TensorType(t.shape, t.element, out)]
        except IRError as e:
            raise self.error(str(e)) from None

    def verify_op(self) -> None:
        check_activation_bounds(self, self.type_of("input").element)
        own = self.output_scale is not None or self.output_zero_point is not None
        if own and self.arithmetic != "onnxruntime":
            raise self.error("an output quantization of its own (output_scale, "
                             "output_zero_point) needs arithmetic = \"onnxruntime\"; TFLite's "
                             "average pool keeps the input's")


@op_def("quant.MaxPool")
class MaxPool(Operation):
    """Integer max over each window (padding never wins); same quantization in and out."""
    TRAITS = (MovesData(), NpuCapable("MaxPool"))

    OPERANDS = (operand("input", QUANT_STORAGE),)
    RESULTS = (result("output"),)
    kernel_shape: tuple[int, ...] = attribute(AttrKind.INTS, check=_positive, check_text=">= 1")
    strides: tuple[int, ...] | None = strides_attr()
    pads: tuple[int, ...] | None = pads_attr()
    dilations: tuple[int, ...] | None = dilations_attr()
    activation_min: int | None = attribute(AttrKind.INT, None)
    activation_max: int | None = attribute(AttrKind.INT, None)

    def window(self) -> Window:
        return window_of(self, "input", self.kernel_shape, self.strides, self.pads, self.dilations)

    def infer_types(self) -> list[TensorType]:
        return _pool_type(self)

    def verify_op(self) -> None:
        check_activation_bounds(self, self.type_of("input").element)


def _pool_type(op: AveragePool | MaxPool) -> list[TensorType]:
    x = _spatial_input(op, "input")
    q = per_tensor_quant(op, "input")
    if x.rank - 2 != len(op.kernel_shape):
        raise op.error(f"attribute 'kernel_shape' has {len(op.kernel_shape)} values; "
                       f"expected {x.rank - 2} for a rank-{x.rank} input")
    return [TensorType((*x.shape[:2], *op.window().out), x.element, q)]


@op_def("quant.Mean")
class Mean(RescalingOp):
    """round_half_away(MBQM(Σ (x - x_zp), multiplier, shift) / count) + y_zp over any axes.

    As TFLite's integer mean over H, W of a 4-D tensor (so GlobalAveragePool); TFLite's int8
    MEAN kernel folds 1/count into the multiplier instead and is ``quant.ReduceSum``'s mean form.
    """
    TRAITS = (NpuCapable("Mean"),)

    OPERANDS = (operand("input", QUANT_STORAGE),)
    RESULTS = (result("output"),)
    axes: tuple[int, ...] = attribute(AttrKind.INTS, check=lambda a: len(a) >= 1,
                                      check_text="one or more axes")
    keepdims: int = attribute(AttrKind.INT, 1, choices=(0, 1))
    multiplier: int = multiplier_attr()
    shift: int = shift_attr()
    arithmetic: str = arithmetic_attr()

    def normalized_axes(self) -> tuple[int, ...]:
        rank = self.type_of("input").rank
        axes = sorted({normalize_axis(self, a, rank, "axis") for a in self.axes})
        if len(axes) != len(self.axes):
            raise self.error(f"attribute 'axes' {list(self.axes)} repeats an axis")
        return tuple(axes)

    def infer_types(self) -> list[TensorType]:
        x = self.type_of("input")
        per_tensor_quant(self, "input")
        axes = self.normalized_axes()
        if self.keepdims:
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return [self.output_type(shape, x.element)]

    def verify_op(self) -> None:
        x = self.type_of("input")
        axes = self.normalized_axes()
        if self.arithmetic != "onnxruntime" or axes != tuple(range(2, x.rank)) or x.rank < 3:
            return
        count = math.prod(x.shape[a] for a in axes)
        if DYNAMIC in (x.shape[a] for a in axes):
            return
        # QLinearGlobalAveragePool refuses these (it would lose exactness in float32).
        scale = float(np.float32(per_tensor_quant(self, "input").scale[0])
                      / np.float32(np.float32(self.output_scale) * np.float32(count)))
        if count >= 1 << 24 or not 2.0**-32 <= scale < 256.0:
            raise self.error(f"onnxruntime's global average pool needs fewer than 2^24 values "
                             f"and a scale input_scale / (output_scale · count) in [2^-32, 256), "
                             f"not {count} values and {scale:g}")

    @classmethod
    def from_scales(cls, input: Value, output: Quantization, axes: Sequence[int], *,
                    keepdims: int = 1, loc: str | None = None) -> Mean:
        """Build with multiplier ``input_scale / output_scale``."""
        s_in = _input_quant(cls.OP_NAME, input, "input").scale[0]
        out = _output_quant(cls.OP_NAME, output)
        m, s = quantize_multiplier(s_in / out.scale[0])
        return cls.build(input, loc=loc, axes=tuple(axes), keepdims=keepdims, multiplier=m,
                         shift=s, output_scale=out.scale[0], output_zero_point=out.zero_point[0])


# --------------------------------------------------------------------------- concatenation


@op_def("quant.Concat")
class Concat(RescalingOp):
    """Concatenation along ``axis``; input i becomes clamp(MBQM(x - x_zp, M[i], s[i]) + y_zp).

    An input already in the output's quantization has the identity multiplier and is copied.
    """
    TRAITS = (NpuCapable("Concat"),)

    OPERANDS = (operand("inputs", QUANT_STORAGE, variadic=True, min_count=1),)
    RESULTS = (result("output"),)
    axis: int = attribute(AttrKind.INT)
    multiplier: tuple[int, ...] = multipliers_attr()
    shift: tuple[int, ...] = shifts_attr()
    arithmetic: str = arithmetic_attr()

    def infer_types(self) -> list[TensorType]:
        values = self.operand_list("inputs")
        for i, v in enumerate(values):
            per_tensor_quant(self, f"inputs[{i}]", v)
        first = values[0].type
        axis = normalize_axis(self, self.axis, first.rank)
        shape = list(first.shape)
        for i, v in enumerate(values[1:], start=1):
            t = v.type
            if t.element != first.element:
                raise self.error(f"input {i} has element type {t.element}; "
                                 f"expected {first.element}")
            pairs = zip(t.shape, first.shape, strict=False)
            if t.rank != first.rank or any(
                    a != b and DYNAMIC not in (a, b)
                    for j, (a, b) in enumerate(pairs) if j != axis):
                raise self.error(f"input {i} has shape {list(t.shape)}, which does not match "
                                 f"{list(first.shape)} off axis {axis}")
            dims = (shape[axis], t.shape[axis])
            shape[axis] = DYNAMIC if DYNAMIC in dims else sum(dims)
        return [self.output_type(shape, first.element)]

    def verify_op(self) -> None:
        n = len(self.operand_list("inputs"))
        for name in ("multiplier", "shift"):
            if len(getattr(self, name)) != n:
                raise self.error(f"attribute '{name}' has {len(getattr(self, name))} values; "
                                 f"expected {n} (one per input)")

    @classmethod
    def from_scales(cls, inputs: Sequence[Value], output: Quantization, axis: int, *,
                    loc: str | None = None) -> Concat:
        """Build with multipliers ``input_scale[i] / output_scale`` (identity for equal ones)."""
        out = _output_quant(cls.OP_NAME, output)
        pairs = []
        for i, v in enumerate(inputs):
            q = _input_quant(cls.OP_NAME, v, f"inputs[{i}]")
            pairs.append(IDENTITY_MULTIPLIER if q == out
                         else quantize_multiplier(q.scale[0] / out.scale[0]))
        return cls.build(*inputs, loc=loc, axis=axis, multiplier=tuple(m for m, _ in pairs),
                         shift=tuple(s for _, s in pairs), output_scale=out.scale[0],
                         output_zero_point=out.zero_point[0])


# --------------------------------------------------------------------------- fully connected


def _positive_finite_all(values: tuple[float, ...]) -> bool:
    return len(values) >= 1 and all(v > 0 and math.isfinite(v) for v in values)


@op_def("quant.FullyConnected")
class FullyConnected(RescalingOp):
    """TFLite's int8 reference FULLY_CONNECTED: the int32 accumulator of ``quant.MatMul``,
    rescaled in double precision instead of fixed point.

    ``clamp(round_half_away(acc · scale[j]) + y_zp)`` with ``acc = Σ_k (a - a_zp)·(b - b_zp)
    + bias[j]`` for A [M, K] and B [K, N]; ``scale[j]`` is ``a_scale · b_scale[j] /
    output_scale`` computed in double from the float32 scales, one per column of B or one for
    all.
    """
    TRAITS = (HasMACs(matmul_macs), NpuCapable("Gemm"))

    OPERANDS = (operand("A", QUANT_STORAGE), operand("B", QUANT_STORAGE),
                operand("bias", {E.I32}, optional=True))
    RESULTS = (result("output"),)
    scale: tuple[float, ...] = attribute(AttrKind.FLOATS, check=_positive_finite_all,
                                         check_text="one or more positive finite numbers")
    activation_min: int | None = attribute(AttrKind.INT, None)
    activation_max: int | None = attribute(AttrKind.INT, None)
    arithmetic: str = arithmetic_attr()

    def infer_types(self) -> list[TensorType]:
        a, b = self.type_of("A"), self.type_of("B")
        per_tensor_quant(self, "A")
        if a.rank != 2 or b.rank != 2:
            raise self.error(f"operands must be matrices, not ranks {a.rank} and {b.rank}")
        if b.quant is None:
            raise self.error(f"operand 'B' must be quantized; its type is {b}")
        if DYNAMIC not in (a.shape[1], b.shape[0]) and a.shape[1] != b.shape[0]:
            raise self.error(f"inner dimensions differ: A {list(a.shape)} and B {list(b.shape)}")
        return [self.output_type((a.shape[0], b.shape[1]), a.element)]

    def verify_op(self) -> None:
        a_scale = per_tensor_quant(self, "A").scale[0]
        b = self.type_of("B")
        bq = b.quant
        assert bq is not None  # infer_types checks it
        if not bq.is_per_tensor:
            _symmetric_weights(self, "B", 1)
        columns = b.shape[1]
        if len(self.scale) not in (1, columns) and columns != DYNAMIC:
            raise self.error(f"attribute 'scale' has {len(self.scale)} values; expected 1 or "
                             f"{columns} (one per column of B)")
        bias = self.operand("bias")
        if bias is not None:
            _check_bias(self, bias, columns, a_scale, bq)
        check_activation_bounds(self, self.type_of("A").element)

    @classmethod
    def from_scales(cls, a: Value, b: Value, bias: Value | None, output: Quantization, *,
                    clamp: tuple[float | None, float | None] | None = None,
                    loc: str | None = None) -> FullyConnected:
        """Build with ``scale[j] = a_scale · b_scale[j] / output_scale`` (double)."""
        a_scale = _input_quant(cls.OP_NAME, a, "A").scale[0]
        b_scales = _input_quant(cls.OP_NAME, b, "B").scale
        out = _output_quant(cls.OP_NAME, output)
        scales = tuple(a_scale * s / out.scale[0] for s in b_scales)
        return cls.build(a, b, bias, loc=loc, scale=scales, output_scale=out.scale[0],
                         output_zero_point=out.zero_point[0],
                         **_clamp_attrs(out, a.type.element, clamp))


# --------------------------------------------------------------------------- reductions with a sum


def _reduced_shape(op: Operation, axes: Sequence[int], keepdims: int) -> tuple[int, ...]:
    x = op.type_of("input")
    rank = x.rank
    normalized = sorted({normalize_axis(op, a, rank, "axis") for a in axes})
    if len(normalized) != len(axes):
        raise op.error(f"attribute 'axes' {list(axes)} repeats an axis")
    if keepdims:
        return tuple(1 if i in normalized else d for i, d in enumerate(x.shape))
    return tuple(d for i, d in enumerate(x.shape) if i not in normalized)


@op_def("quant.ReduceSum")
class ReduceSum(RescalingOp):
    """clamp(MBQM(Σ (x - x_zp), multiplier, shift) + y_zp) over ``axes``, in int32.

    A quantized sum (multiplier ``input_scale / output_scale``, :meth:`from_scales`), and
    TFLite's reference MEAN, which folds the 1/count into the multiplier instead of dividing
    the sum (:meth:`mean_from_scales`).
    """
    TRAITS = (NpuCapable("ReduceSum"),)

    OPERANDS = (operand("input", QUANT_STORAGE),)
    RESULTS = (result("output"),)
    axes: tuple[int, ...] = attribute(AttrKind.INTS, check=lambda a: len(a) >= 1,
                                      check_text="one or more axes")
    keepdims: int = attribute(AttrKind.INT, 1, choices=(0, 1))
    multiplier: int = multiplier_attr()
    shift: int = shift_attr()
    arithmetic: str = arithmetic_attr()

    def normalized_axes(self) -> tuple[int, ...]:
        rank = self.type_of("input").rank
        return tuple(sorted({normalize_axis(self, a, rank, "axis") for a in self.axes}))

    def infer_types(self) -> list[TensorType]:
        per_tensor_quant(self, "input")
        shape = _reduced_shape(self, self.axes, self.keepdims)
        return [self.output_type(shape, self.type_of("input").element)]

    @classmethod
    def from_scales(cls, input: Value, output: Quantization, axes: Sequence[int], *,
                    keepdims: int = 1, loc: str | None = None) -> ReduceSum:
        """A sum: multiplier ``input_scale / output_scale``."""
        s_in = _input_quant(cls.OP_NAME, input, "input").scale[0]
        out = _output_quant(cls.OP_NAME, output)
        m, s = quantize_multiplier(s_in / out.scale[0])
        return cls.build(input, loc=loc, axes=tuple(axes), keepdims=keepdims, multiplier=m,
                         shift=s, output_scale=out.scale[0], output_zero_point=out.zero_point[0])

    @classmethod
    def mean_from_scales(cls, input: Value, output: Quantization, axes: Sequence[int], *,
                         keepdims: int = 1, loc: str | None = None) -> ReduceSum:
        """A mean as TFLite's reference MEAN computes it: the multiplier of ``input_scale /
        output_scale`` is shifted left by ``floor(log2(count))`` (at most 32, and no further
        than a total shift of -31), divided by ``count`` with truncation, and the shift lowered
        to match."""
        s_in = _input_quant(cls.OP_NAME, input, "input").scale[0]
        out = _output_quant(cls.OP_NAME, output)
        m, s = quantize_multiplier(s_in / out.scale[0])
        x = input.type
        for a in axes:
            if not -x.rank <= a < x.rank:
                raise IRError(f"{cls.OP_NAME}: axis {a} is out of range for rank {x.rank}")
        reduced = [x.shape[a] for a in sorted({a % x.rank for a in axes})]
        if DYNAMIC in reduced:
            raise IRError(f"{cls.OP_NAME}: a mean needs static reduced axes, not {x}")
        count = math.prod(reduced)
        if count > 0:
            fold = min(count.bit_length() - 1, 32, 31 + s)
            m = (m << fold) // count
            s -= fold
        return cls.build(input, loc=loc, axes=tuple(axes), keepdims=keepdims, multiplier=m,
                         shift=s, output_scale=out.scale[0], output_zero_point=out.zero_point[0])


# --------------------------------------------------------------------------- softmax


SOFTMAX_DIFF_INTEGER_BITS = 5
"""Integer bits of the fixed-point input differences of TFLite's quantized softmax (Q5.26)."""
SOFTMAX_SCALE = 1.0 / 256
"""The output scale the 8-bit softmax computes in (results count 1/256 steps from the minimum)."""


@op_def("quant.Softmax")
class Softmax(RescalingOp):
    """TFLite's 8-bit reference SOFTMAX along ``axis``, in gemmlowp fixed point.

    Each difference ``x - max`` at or above ``diff_min`` is scaled to Q5.26 by
    ``SaturatingRoundingDoublingHighMul(d · 2^input_left_shift, input_multiplier)``, its
    exponential taken in Q0.31 (``exp_on_negative_values``), the exponentials summed in
    Q12.19, and each divided by the sum through a fixed-point reciprocal; smaller differences
    give the minimum. The result counts steps of 1/256 from the element type's minimum, so the
    output zero point is that minimum and the scale 1/256 (TFLite allows 0.1 % off it).
    """
    TRAITS = (NpuCapable("Softmax"),)

    OPERANDS = (operand("input", QUANT_STORAGE),)
    RESULTS = (result("output"),)
    axis: int = attribute(AttrKind.INT, -1)
    input_multiplier: int = multiplier_attr()
    input_left_shift: int = attribute(AttrKind.INT, check=lambda s: 0 <= s <= 31,
                                      check_text="in [0, 31]")
    diff_min: int = attribute(AttrKind.INT, check=lambda d: d <= 0, check_text="<= 0")
    arithmetic: str = arithmetic_attr()

    def infer_types(self) -> list[TensorType]:
        x = self.type_of("input")
        per_tensor_quant(self, "input")
        if x.rank == 0:
            raise self.error("operand 'input' must have rank 1 or more")
        normalize_axis(self, self.axis, x.rank)
        return [self.output_type(x.shape, x.element)]

    def verify_op(self) -> None:
        if self.arithmetic == "onnxruntime":
            self._verify_onnxruntime()
            return
        element = self.type_of("input").element
        if self.output_zero_point != element.min:
            raise self.error(f"attribute 'output_zero_point' is {self.output_zero_point}; an "
                             f"{element} softmax writes steps from {element.min}, its zero point")
        if abs(self.output_scale - SOFTMAX_SCALE) > 0.001 * SOFTMAX_SCALE:
            raise self.error(f"attribute 'output_scale' is {self.output_scale}; the softmax "
                             "computes in steps of 1/256")

    def _verify_onnxruntime(self) -> None:
        """QLinearSoftmax takes any output quantization but has no beta (ONNX Softmax): the
        fixed-point attributes, unused in this mode, must still encode beta 1."""
        s_in = per_tensor_quant(self, "input").scale[0]
        real = min(s_in * (1 << (31 - SOFTMAX_DIFF_INTEGER_BITS)), float(INT32_MAX))
        expected = quantize_multiplier(real)
        if (self.input_multiplier, self.input_left_shift) != expected:
            raise self.error(
                f"in onnxruntime arithmetic the softmax has no beta, but input_multiplier "
                f"{self.input_multiplier} and input_left_shift {self.input_left_shift} encode "
                f"beta != 1 for input scale {s_in} (beta 1 is {expected[0]}, {expected[1]})")

    @classmethod
    def from_scales(cls, input: Value, output: Quantization, beta: float = 1.0, *,
                    axis: int = -1, loc: str | None = None) -> Softmax:
        """Build as TFLite's Prepare does: ``input_multiplier``/``input_left_shift`` encode
        ``min(beta · input_scale · 2^26, 2^31 - 1)`` (``beta`` as the model's float32), and
        ``diff_min`` is minus the largest difference whose scaled value stays in range."""
        s_in = _input_quant(cls.OP_NAME, input, "input").scale[0]
        out = _output_quant(cls.OP_NAME, output)
        beta32 = float(np.float32(beta))
        real = min(beta32 * s_in * (1 << (31 - SOFTMAX_DIFF_INTEGER_BITS)), float(INT32_MAX))
        if not real > 1.0:
            raise IRError(f"{cls.OP_NAME}: beta · input scale = {beta32 * s_in:g} is too small "
                          "for the fixed-point softmax (it needs more than 2^-26)")
        m, shift = quantize_multiplier(real)
        radius = ((1 << SOFTMAX_DIFF_INTEGER_BITS) - 1) * (1 << (31 - SOFTMAX_DIFF_INTEGER_BITS))
        diff_min = -math.floor(radius / (1 << shift))
        return cls.build(input, loc=loc, axis=axis, input_multiplier=m, input_left_shift=shift,
                         diff_min=diff_min, output_scale=out.scale[0],
                         output_zero_point=out.zero_point[0])


# --------------------------------------------------------------------------- resizing


RESIZE_FRACTION_BITS = 10
"""Fractional bits of the source coordinates in TFLite's integer bilinear resize."""


@op_def("quant.ResizeBilinear")
class ResizeBilinear(Operation):
    """TFLite's integer RESIZE_BILINEAR of N x C x H x W to ``sizes`` (output H, W).

    Source coordinates are fixed point with 10 fractional bits: the scale is
    ``round(2^10 · in / out)`` (``(in - 1) / (out - 1)`` with ``align_corners``), and with
    ``half_pixel_centers`` each coordinate is ``y · scale + scale / 2 - 2^9``. The four
    neighbours are weighted in 2^20ths and the sum rounded half away from zero. The stored
    values are interpolated directly, so the result has the input's quantization.
    """
    TRAITS = (NpuCapable("Resize"),)

    OPERANDS = (operand("input", QUANT_STORAGE),)
    RESULTS = (result("output"),)
    sizes: tuple[int, ...] = attribute(AttrKind.INTS, check=lambda s: len(s) == 2 and
                                       all(d >= 1 for d in s),
                                       check_text="two sizes >= 1 (height, width)")
    align_corners: int = attribute(AttrKind.INT, 0, choices=(0, 1))
    half_pixel_centers: int = attribute(AttrKind.INT, 0, choices=(0, 1))
    arithmetic: str = arithmetic_attr()

    def infer_types(self) -> list[TensorType]:
        x = self.type_of("input")
        q = per_tensor_quant(self, "input")
        if x.rank != 4:
            raise self.error(f"operand 'input' must be N x C x H x W, not rank {x.rank}")
        return [TensorType((*x.shape[:2], *self.sizes), x.element, q)]

    def verify_op(self) -> None:
        if self.align_corners and self.half_pixel_centers:
            raise self.error("align_corners and half_pixel_centers cannot both be set")

    def source_scales(self, in_height: int, in_width: int) -> tuple[int, int]:
        """The fixed-point (2^10) source step along H and W."""
        scales = []
        for size_in, size_out in ((in_height, self.sizes[0]), (in_width, self.sizes[1])):
            if self.align_corners and size_out > 1:
                num, den = size_in - 1, size_out - 1
            else:
                num, den = size_in, size_out
            scales.append(((1 << RESIZE_FRACTION_BITS) * num + den // 2) // den)
        return scales[0], scales[1]


Clamped = Conv | MatMul | FullyConnected | Add | Sub | Mul | AveragePool | MaxPool
"""The quant ops with a fused activation clamp (``activation_min``/``activation_max``)."""


# --------------------------------------------------------------------------- float references


@attrs.define(kw_only=True, eq=False, repr=False)
class FloatReference(RescalingOp):
    """An INT8 op computed as onnxruntime computes its unfused QDQ form: every operand
    dequantized exactly (``(q - zero_point) · scale`` in float32), the float ONNX operator
    ``FLOAT_OP`` applied in float32 with this op's attributes (the onnx dialect's semantics,
    i.e. the ONNX reference formulas), and the result quantized to the output's scale and zero
    point (round half to even, saturated), as QuantizeLinear does."""

    FLOAT_OP: ClassVar[str] = ""

    def float_op(self) -> Operation:
        """The float op this op stands for, on float32 operands of the same shapes."""
        from furiosa.ir.core import DECLARED_OPS  # the onnx dialect registers itself on import

        cls = DECLARED_OPS[self.FLOAT_OP]
        operands = [None if v is None else Value(TensorType(v.type.shape, E.F32))
                    for v in self.operands]
        attributes = {k: v for k, v in self.attributes.items()
                      if k not in ("output_scale", "output_zero_point")}
        try:
            return cls.build(*operands, **attributes)
        except IRError as e:
            raise self.error(str(e)) from None

    def infer_types(self) -> list[TensorType]:
        x = self.operands[0]
        assert x is not None
        per_tensor_quant(self, self.OPERANDS[0].name)
        for spec, v in zip(self.OPERANDS, self.operands, strict=False):
            if v is not None and v.type.quant is None:
                raise self.error(f"operand '{spec.name}' must be quantized; its type is {v.type}")
        shape = self.float_op().results[0].type.shape
        return [self.output_type(shape, x.type.element)]


@op_def("quant.ConvTranspose")
class ConvTranspose(FloatReference):
    """ConvTranspose as onnxruntime runs an unfused QDQ ConvTranspose: DequantizeLinear of
    input, weights (int8, per tensor or per output channel) and int32 bias, float32
    ConvTranspose, QuantizeLinear. The float product is exact for 8-bit operands, so this
    differs from an int32-accumulating kernel only in the float32 summation order."""

    FLOAT_OP = "onnx.ConvTranspose"
    TRAITS = (HasMACs(conv_transpose_macs), NpuCapable("ConvTranspose"))

    OPERANDS = (operand("input", QUANT_STORAGE), operand("weights", QUANT_STORAGE),
                operand("bias", {E.I32}, optional=True))
    RESULTS = (result("output"),)
    strides: tuple[int, ...] | None = strides_attr()
    pads: tuple[int, ...] | None = pads_attr()
    dilations: tuple[int, ...] | None = dilations_attr()
    output_padding: tuple[int, ...] | None = attribute(AttrKind.INTS, None, check=_non_negative,
                                                       check_text=">= 0")
    group: int = attribute(AttrKind.INT, 1, check=lambda g: g >= 1, check_text=">= 1")

    def infer_types(self) -> list[TensorType]:
        _spatial_input(self, "input")
        return super().infer_types()


@op_def("quant.LpNormalization")
class LpNormalization(FloatReference):
    """x / ||x||_p along ``axis`` (a zero norm gives 0), as onnxruntime runs an unfused QDQ
    LpNormalization: DequantizeLinear, float32 LpNormalization, QuantizeLinear."""

    FLOAT_OP = "onnx.LpNormalization"
    TRAITS = (NpuCapable("LpNormalization"),)

    OPERANDS = (operand("input", QUANT_STORAGE),)
    RESULTS = (result("output"),)
    axis: int = attribute(AttrKind.INT, -1)
    p: int = attribute(AttrKind.INT, 2, choices=(1, 2))


@op_def("quant.ReduceL2")
class ReduceL2(FloatReference):
    """sqrt(Σ x²) over ``axes`` (all when absent), as onnxruntime runs an unfused QDQ
    ReduceL2: DequantizeLinear, float32 ReduceL2, QuantizeLinear."""

    FLOAT_OP = "onnx.ReduceL2"
    TRAITS = (NpuCapable("ReduceL2"),)

    OPERANDS = (operand("input", QUANT_STORAGE),)
    RESULTS = (result("output"),)
    axes: tuple[int, ...] | None = attribute(AttrKind.INTS, None)
    keepdims: int = attribute(AttrKind.INT, 1, choices=(0, 1))
