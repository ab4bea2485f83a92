"""Quantized ONNX ops: QDQ, the integer and QLinear ops of the standard domain, and the
com.microsoft QLinear ops of quantized and transformer models.

These ops take their scales and zero points as explicit *operands* (float32 tensors and
int8/uint8 tensors) and compute on plain int8/uint8 tensors; IR-quantized types are
rejected here (the quant dialect is where a later pass folds them to). Their numerics are
onnxruntime's: an exact integer accumulator rescaled in float32 and rounded half to even,
or dequantize-compute-quantize in float32 for the element-wise ops.
"""

from __future__ import annotations

from furiosa.ir.core import AttrKind, Operation, attribute, op_def, operand, result
from furiosa.ir.dialects.common import QUANT_STORAGE, broadcast_shapes, same_element
from furiosa.ir.dialects.onnx.nn import (
    ConvBase,
    PoolBase,
    gemm_dims,
    matmul_shape,
    window_geometry,
)
from furiosa.ir.dialects.onnx.tensor import concat_shape
from furiosa.ir.traits import (
    HasMACs,
    conv_macs,
    gemm_macs,
    matmul_macs,
)
from furiosa.ir.types import DYNAMIC, ElementType, TensorType

E = ElementType
F32 = frozenset({E.F32})
I32 = frozenset({E.I32})


class QuantizedOp(Operation):
    """Shared checks: plain (not IR-quantized) operands, scalar or per-axis scale/zero points."""

    def check_plain(self) -> None:
        for d in self.OPERANDS:
            for v in self.operand_list(d.name):
                if v.type.is_quantized:
                    raise self.error(f"operand '{d.name}' has the IR-quantized type {v.type}; "
                                     "these ops take scales and zero points as operands")

    def check_scalar(self, *names: str) -> None:
        """Per-tensor parameters: a scalar or a one-element 1-D tensor."""
        for name in names:
            v = self.operand(name)
            if v is not None and v.type.shape not in ((), (1,)):
                raise self.error(f"'{name}' has shape {list(v.type.shape)}; expected a scalar")

    def check_vector(self, names: tuple[str, ...], size: int, what: str) -> None:
        """Scales and zero points that may each be per-tensor or one per index of a dimension."""
        for name in names:
            v = self.operand(name)
            if v is None:
                continue
            shape = v.type.shape
            if shape not in ((), (1,)) and not (len(shape) == 1 and shape[0] in (size, DYNAMIC)):
                raise self.error(f"'{name}' has shape {list(shape)}; expected a scalar or "
                                 f"[{size}] ({what})")

    def zero_point_like(self, data: str, zero_point: str) -> None:
        v = self.operand(zero_point)
        if v is not None and v.type.element != self.type_of(data).element:
            raise self.error(f"'{zero_point}' is {v.type.element} but '{data}' is "
                             f"{self.type_of(data).element}")


# --------------------------------------------------------------------------- QDQ


@op_def("onnx.QuantizeLinear")
class QuantizeLinear(QuantizedOp):
    """y = saturate(round_half_even(x / y_scale) + y_zero_point); uint8 without a zero point."""

    OPERANDS = (operand("x", {E.F32, E.I32}), operand("y_scale", F32),
                operand("y_zero_point", QUANT_STORAGE, optional=True))
    RESULTS = (result("y"),)
    axis: int = attribute(AttrKind.INT, 1)

    def infer_types(self) -> list[TensorType]:
        self.check_plain()
        x = self.type_of("x")
        check_axis_params(self, x, ("y_scale", "y_zero_point"), self.axis)
        zp = self.operand("y_zero_point")
        return [TensorType(x.shape, zp.type.element if zp is not None else E.U8)]


@op_def("onnx.DequantizeLinear")
class DequantizeLinear(QuantizedOp):
    """y = (x - x_zero_point) * x_scale in float32, per tensor or along ``axis``."""

    OPERANDS = (operand("x", QUANT_STORAGE | {E.I32}), operand("x_scale", F32),
                operand("x_zero_point", QUANT_STORAGE | {E.I32}, optional=True))
    RESULTS = (result("y"),)
    axis: int = attribute(AttrKind.INT, 1)

    def infer_types(self) -> list[TensorType]:
        self.check_plain()
        x = self.type_of("x")
        self.zero_point_like("x", "x_zero_point")
        check_axis_params(self, x, ("x_scale", "x_zero_point"), self.axis)
        return [TensorType(x.shape, E.F32)]


def check_axis_params(op: QuantizedOp, x: TensorType, names: tuple[str, str], axis: int) -> None:
    """Scale and zero point of (de)quantization: scalars, or 1-D along ``axis`` of ``x``."""
    scale = op.type_of(names[0])
    if scale.shape in ((), (1,)):
        op.check_scalar(*names)
        return
    if scale.rank != 1:
        raise op.error(f"'{names[0]}' has shape {list(scale.shape)}; expected a scalar or 1-D")
    if not -x.rank <= axis < x.rank:
        raise op.error(f"axis {axis} is out of range for rank {x.rank}")
    op.check_vector(names, x.shape[axis % x.rank], f"along axis {axis}")


@op_def("onnx.DynamicQuantizeLinear")
class DynamicQuantizeLinear(QuantizedOp):
    """uint8 quantization of x with scale and zero point from its range widened to include 0."""

    OPERANDS = (operand("x", F32),)
    RESULTS = (result("y"), result("y_scale"), result("y_zero_point"))

    def infer_types(self) -> list[TensorType]:
        self.check_plain()
        x = self.type_of("x")
        return [TensorType(x.shape, E.U8), TensorType((), E.F32), TensorType((), E.U8)]


# --------------------------------------------------------------------------- integer products


@op_def("onnx.ConvInteger")
class ConvInteger(ConvBase, QuantizedOp):
    """int32 convolution of (x - x_zero_point) with (w - w_zero_point[m])."""
    TRAITS = (HasMACs(conv_macs()),)

    OPERANDS = (operand("x", QUANT_STORAGE), operand("w", QUANT_STORAGE),
                operand("x_zero_point", QUANT_STORAGE, optional=True),
                operand("w_zero_point", QUANT_STORAGE, optional=True))
    RESULTS = (result("y"),)

    def infer_types(self) -> list[TensorType]:
        self.check_plain()
        self.zero_point_like("x", "x_zero_point")
        self.zero_point_like("w", "w_zero_point")
        x, w = self.type_of("x"), self.type_of("w")
        if x.rank < 3:
            raise self.error(f"x has rank {x.rank}; expected N x C x spatial...")
        self.check_scalar("x_zero_point")
        self.check_vector(("w_zero_point",), w.shape[0], "per output channel")
        return [TensorType(self.conv_shape(x, w, None), E.I32)]


@op_def("onnx.QLinearConv")
class QLinearConv(ConvBase, QuantizedOp):
    """int32 convolution of zero-point-shifted x and w (+ B), requantized to y's parameters."""
    TRAITS = (HasMACs(conv_macs(3)),)  # x's scale and zero point come before the weights

    OPERANDS = (operand("x", QUANT_STORAGE), operand("x_scale", F32),
                operand("x_zero_point", QUANT_STORAGE), operand("w", QUANT_STORAGE),
                operand("w_scale", F32), operand("w_zero_point", QUANT_STORAGE),
                operand("y_scale", F32), operand("y_zero_point", QUANT_STORAGE),
                operand("B", I32, optional=True))
    RESULTS = (result("y"),)

    def infer_types(self) -> list[TensorType]:
        self.check_plain()
        self.zero_point_like("x", "x_zero_point")
        self.zero_point_like("w", "w_zero_point")
        x, w = self.type_of("x"), self.type_of("w")
        if x.rank < 3:
            raise self.error(f"x has rank {x.rank}; expected N x C x spatial...")
        self.check_scalar("x_scale", "x_zero_point", "y_scale", "y_zero_point")
        self.check_vector(("w_scale", "w_zero_point"), w.shape[0], "per output channel")
        b = self.operand("B")
        shape = self.conv_shape(x, w, b.type if b is not None else None)
        return [TensorType(shape, self.type_of("y_zero_point").element)]


@op_def("onnx.MatMulInteger")
class MatMulInteger(QuantizedOp):
    """int32 (A - a_zero_point) @ (B - b_zero_point); zero points per tensor, A row or B column."""
    TRAITS = (HasMACs(matmul_macs),)

    OPERANDS = (operand("A", QUANT_STORAGE), operand("B", QUANT_STORAGE),
                operand("a_zero_point", QUANT_STORAGE, optional=True),
                operand("b_zero_point", QUANT_STORAGE, optional=True))
    RESULTS = (result("Y"),)

    def infer_types(self) -> list[TensorType]:
        self.check_plain()
        self.zero_point_like("A", "a_zero_point")
        self.zero_point_like("B", "b_zero_point")
        a, b = self.type_of("A"), self.type_of("B")
        shape = matmul_shape(self, a.shape, b.shape)
        self.check_vector(("a_zero_point",), a.shape[-2] if a.rank > 1 else 1, "per row of A")
        self.check_vector(("b_zero_point",), b.shape[-1] if b.rank > 1 else 1, "per column of B")
        return [TensorType(shape, E.I32)]


@op_def("onnx.QLinearMatMul")
class QLinearMatMul(QuantizedOp):
    """int32 product of zero-point-shifted a and b, requantized by a_scale * b_scale / y_scale."""
    TRAITS = (HasMACs(matmul_macs),)

    OPERANDS = (operand("a", QUANT_STORAGE), operand("a_scale", F32),
                operand("a_zero_point", QUANT_STORAGE), operand("b", QUANT_STORAGE),
                operand("b_scale", F32), operand("b_zero_point", QUANT_STORAGE),
                operand("y_scale", F32), operand("y_zero_point", QUANT_STORAGE))
    RESULTS = (result("y"),)

    def infer_types(self) -> list[TensorType]:
        self.check_plain()
        self.zero_point_like("a", "a_zero_point")
        self.zero_point_like("b", "b_zero_point")
        a, b = self.type_of("a"), self.type_of("b")
        shape = matmul_shape(self, a.shape, b.shape)
        self.check_vector(("a_scale", "a_zero_point"), a.shape[-2] if a.rank > 1 else 1,
                          "per row of a")
        self.check_vector(("b_scale", "b_zero_point"), b.shape[-1] if b.rank > 1 else 1,
                          "per column of b")
        self.check_scalar("y_scale", "y_zero_point")
        return [TensorType(shape, self.type_of("y_zero_point").element)]


@op_def("onnx.QGemm")
class QGemm(QuantizedOp):
    """com.microsoft QGemm: alpha * A' @ B' (shifted, + int32 C), requantized or float32 output."""
    TRAITS = (HasMACs(gemm_macs),)

    OPERANDS = (operand("A", QUANT_STORAGE), operand("a_scale", F32),
                operand("a_zero_point", QUANT_STORAGE), operand("B", QUANT_STORAGE),
                operand("b_scale", F32), operand("b_zero_point", QUANT_STORAGE),
                operand("C", I32, optional=True), operand("y_scale", F32, optional=True),
                operand("y_zero_point", QUANT_STORAGE, optional=True))
    RESULTS = (result("Y"),)
    alpha: float = attribute(AttrKind.FLOAT, 1.0)
    transA: int = attribute(AttrKind.INT, 0, choices=(0, 1))
    transB: int = attribute(AttrKind.INT, 0, choices=(0, 1))

    def infer_types(self) -> list[TensorType]:
        self.check_plain()
        self.zero_point_like("A", "a_zero_point")
        self.zero_point_like("B", "b_zero_point")
        m, n = gemm_dims(self, self.type_of("A"), self.type_of("B"), self.transA, self.transB)
        self.check_scalar("a_scale", "a_zero_point", "y_scale", "y_zero_point")
        self.check_vector(("b_scale", "b_zero_point"), n, "per column of B'")
        c = self.operand("C")
        if c is not None and broadcast_shapes(self, (m, n), c.type.shape) != (m, n):
            raise self.error(f"C of shape {list(c.type.shape)} does not broadcast to [{m}, {n}]")
        zp = self.operand("y_zero_point")
        if zp is not None and self.operand("y_scale") is None:
            raise self.error("'y_zero_point' needs 'y_scale'")
        return [TensorType((m, n), zp.type.element if zp is not None else E.F32)]


# ------------------------------------------------------------------- com.microsoft element-wise


class QLinearBinary(QuantizedOp):
    """com.microsoft QLinearAdd / QLinearMul: C = quantize(f(dequantize(A), dequantize(B)))."""

    OPERANDS = (operand("A", QUANT_STORAGE), operand("A_scale", F32),
                operand("A_zero_point", QUANT_STORAGE, optional=True),
                operand("B", QUANT_STORAGE), operand("B_scale", F32),
                operand("B_zero_point", QUANT_STORAGE, optional=True),
                operand("C_scale", F32), operand("C_zero_point", QUANT_STORAGE, optional=True))
    RESULTS = (result("C"),)

    def infer_types(self) -> list[TensorType]:
        self.check_plain()
        element = same_element(self, "A", "A_zero_point", "B", "B_zero_point", "C_zero_point")
        self.check_scalar("A_scale", "A_zero_point", "B_scale", "B_zero_point", "C_scale",
                          "C_zero_point")
        shape = broadcast_shapes(self, self.type_of("A").shape, self.type_of("B").shape)
        return [TensorType(shape, element)]


@op_def("onnx.QLinearAdd")
class QLinearAdd(QLinearBinary):
    """com.microsoft QLinearAdd: quantized A + B with broadcasting."""


@op_def("onnx.QLinearMul")
class QLinearMul(QLinearBinary):
    """com.microsoft QLinearMul: quantized A * B with broadcasting."""


class QLinearUnary(QuantizedOp):
    """com.microsoft QLinear activations: Y = quantize(f(dequantize(X)))."""

    OPERANDS = (operand("X", QUANT_STORAGE), operand("X_scale", F32),
                operand("X_zero_point", QUANT_STORAGE, optional=True),
                operand("Y_scale", F32), operand("Y_zero_point", QUANT_STORAGE, optional=True))
    RESULTS = (result("Y"),)

    def infer_types(self) -> list[TensorType]:
        self.check_plain()
        element = same_element(self, "X", "X_zero_point", "Y_zero_point")
        self.check_scalar("X_scale", "X_zero_point", "Y_scale", "Y_zero_point")
        return [TensorType(self.type_of("X").shape, element)]


@op_def("onnx.QLinearSigmoid")
class QLinearSigmoid(QLinearUnary):
    """com.microsoft QLinearSigmoid: quantized 1 / (1 + exp(-x))."""


@op_def("onnx.QLinearLeakyRelu")
class QLinearLeakyRelu(QLinearUnary):
    """com.microsoft QLinearLeakyRelu: quantized x >= 0 ? x : alpha * x."""

    alpha: float = attribute(AttrKind.FLOAT, 0.01)


@op_def("onnx.QLinearConcat")
class QLinearConcat(QuantizedOp):
    """com.microsoft QLinearConcat: (tensor, scale, zero point) triples requantized and joined."""

    OPERANDS = (operand("Y_scale", F32), operand("Y_zero_point", QUANT_STORAGE),
                operand("inputs", QUANT_STORAGE | F32, variadic=True, min_count=3))
    RESULTS = (result("Y"),)
    axis: int = attribute(AttrKind.INT)

    def infer_types(self) -> list[TensorType]:
        self.check_plain()
        self.check_scalar("Y_scale", "Y_zero_point")
        vals = self.operand_list("inputs")
        if len(vals) % 3:
            raise self.error(f"'inputs' has {len(vals)} values; expected (tensor, scale, "
                             "zero point) triples")
        element = self.type_of("Y_zero_point").element
        tensors = vals[0::3]
        for i, (t, s, z) in enumerate(zip(tensors, vals[1::3], vals[2::3], strict=True)):
            if t.type.element != element or z.type.element != element:
                raise self.error(f"input triple {i} is {t.type.element} with a "
                                 f"{z.type.element} zero point; the output is {element}")
            if s.type.element != E.F32 or s.type.shape not in ((), (1,)) or \
                    z.type.shape not in ((), (1,)):
                raise self.error(f"input triple {i} needs a float32 scalar scale and a scalar "
                                 "zero point")
        shape, _ = concat_shape(self, [v.type for v in tensors], self.axis)
        return [TensorType(shape, element)]


# ------------------------------------------------------------------------ com.microsoft pooling


@op_def("onnx.QLinearAveragePool")
class QLinearAveragePool(PoolBase, QuantizedOp):
    """com.microsoft QLinearAveragePool: average pool of the dequantized input, requantized."""

    OPERANDS = (operand("X", QUANT_STORAGE), operand("x_scale", F32),
                operand("x_zero_point", QUANT_STORAGE, optional=True), operand("y_scale", F32),
                operand("y_zero_point", QUANT_STORAGE, optional=True))
    ceil_mode: int = attribute(AttrKind.INT, 0, choices=(0, 1))
    # 1: X and Y are [N, spatial..., C].
    channels_last: int = attribute(AttrKind.INT, 0, choices=(0, 1))
    count_include_pad: int = attribute(AttrKind.INT, 0, choices=(0, 1))

    def nchw_shape(self) -> tuple[int, ...]:
        x = self.type_of("X")
        if x.rank < 3:
            raise self.error(f"X has rank {x.rank}; expected >= 3")
        s = x.shape
        return (s[0], s[-1], *s[1:-1]) if self.channels_last else s

    def infer_types(self) -> list[TensorType]:
        self.check_plain()
        element = same_element(self, "X", "x_zero_point", "y_zero_point")
        self.check_scalar("x_scale", "x_zero_point", "y_scale", "y_zero_point")
        s = self.nchw_shape()
        w = window_geometry(self, s[2:], self.kernel_shape, self.strides, None, self.pads,
                            self.auto_pad, bool(self.ceil_mode))
        out = (s[0], *w.out, s[1]) if self.channels_last else (s[0], s[1], *w.out)
        return [TensorType(out, element)]


@op_def("onnx.QLinearGlobalAveragePool")
class QLinearGlobalAveragePool(QuantizedOp):
    """com.microsoft QLinearGlobalAveragePool: mean over the spatial axes, requantized."""

    OPERANDS = (operand("X", QUANT_STORAGE), operand("x_scale", F32),
                operand("x_zero_point", QUANT_STORAGE), operand("y_scale", F32),
                operand("y_zero_point", QUANT_STORAGE))
    RESULTS = (result("Y"),)
    # 1: X and Y are [N, spatial..., C].
    channels_last: int = attribute(AttrKind.INT, 0, choices=(0, 1))

    def infer_types(self) -> list[TensorType]:
        self.check_plain()
        element = same_element(self, "X", "x_zero_point", "y_zero_point")
        self.check_scalar("x_scale", "x_zero_point", "y_scale", "y_zero_point")
        x = self.type_of("X")
        if x.rank < 3:
            raise self.error(f"X has rank {x.rank}; expected >= 3")
        spatial = range(1, x.rank - 1) if self.channels_last else range(2, x.rank)
        return [TensorType([1 if i in spatial else d for i, d in enumerate(x.shape)], element)]
