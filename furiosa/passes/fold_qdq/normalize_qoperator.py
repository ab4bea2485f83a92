"""``normalize-qoperator``: QOperator ops into their QDQ definition.

A QOperator op whose scales and zero points are constants (QLinearConv, QLinearMatMul, QGemm,
the com.microsoft QLinear ops, ConvInteger / MatMulInteger followed by a constant float
rescale) becomes DequantizeLinear -> float op -> QuantizeLinear, which is what it is defined
to compute. Data-movement ops on plain 8-bit tensors between them (MaxPool, Flatten,
Reshape...) are wrapped the same way with their producer's parameters, which is exact. The
stage decides which 8-bit tensors have a statically known quantization; what it cannot know
(dynamic scales, an 8-bit module input) stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import numpy as np

from furiosa.errors import IRError
from furiosa.ir.core import Dense, Operation, Value, constant_value
from furiosa.ir.dialects.onnx import elementwise as ew
from furiosa.ir.dialects.onnx import nn
from furiosa.ir.dialects.onnx import quantized as oq
from furiosa.ir.dialects.onnx import tensor as tn
from furiosa.ir.dialects.onnx.base import (
    Constant,
)
from furiosa.ir.module import Function
from furiosa.ir.types import ElementType, TensorType
from furiosa.passes.base import FunctionPass, PassContext
from furiosa.passes.fold_qdq.common import (
    E,
    is_plain_8bit,
    moves_data,
    owner,
    rebuild,
    replace,
)
from furiosa.passes.rewrite import RewritePattern, Rewriter, apply_patterns_greedily, pattern


def _scalar_param(v: Value | None) -> bool:
    return v is None or v.type.shape in ((), (1,))


def _params_const(op: Operation, names: Sequence[str]) -> bool:
    """Every named operand that is present is a constant, and every scale is positive."""
    for name in names:
        v = op.operand(name)
        if v is None:
            continue
        c = constant_value(v)
        if c is None:
            return False
        if v.type.element.is_float and not (np.all(np.isfinite(c)) and np.all(c > 0)):
            return False
    return True


def _same_values(a: Value | None, b: Value | None, default_element: ElementType) -> bool:
    """Two scale or zero-point operands hold the same values (an absent zero point is 0)."""
    ca = constant_value(a) if a is not None else np.zeros((), default_element.dtype)
    cb = constant_value(b) if b is not None else np.zeros((), default_element.dtype)
    if ca is None or cb is None:
        return False
    ea = a.type.element if a is not None else default_element
    eb = b.type.element if b is not None else default_element
    return ea == eb and ca.size == cb.size and bool(np.all(ca.reshape(-1) == cb.reshape(-1)))


# QOperator ops -> the operand names of their output scale and zero point.
_OUTPUT_PARAMS: dict[type[Operation], tuple[str, str]] = {
    oq.QLinearConv: ("y_scale", "y_zero_point"),
    oq.QLinearMatMul: ("y_scale", "y_zero_point"),
    oq.QGemm: ("y_scale", "y_zero_point"),
    oq.QLinearAdd: ("C_scale", "C_zero_point"),
    oq.QLinearMul: ("C_scale", "C_zero_point"),
    oq.QLinearSigmoid: ("Y_scale", "Y_zero_point"),
    oq.QLinearLeakyRelu: ("Y_scale", "Y_zero_point"),
    oq.QLinearConcat: ("Y_scale", "Y_zero_point"),
    oq.QLinearAveragePool: ("y_scale", "y_zero_point"),
    oq.QLinearGlobalAveragePool: ("y_scale", "y_zero_point"),
}


def _plain_params(v: Value | None) -> tuple[Value, Value | None] | None:
    """The constant per-tensor (scale, zero point) operands that give the plain 8-bit tensor
    ``v`` its meaning, found at its producer (None when they are not known statically)."""
    while v is not None and v.owner is not None and is_plain_8bit(v.type):
        op = v.owner
        if isinstance(op, oq.QuantizeLinear):
            scale, zp = op.operand("y_scale"), op.operand("y_zero_point")
            if _scalar_param(scale) and _scalar_param(zp) and _params_const(op, ("y_scale",
                                                                                  "y_zero_point")):
                return scale, zp
            return None
        names = _OUTPUT_PARAMS.get(type(op))
        if names is not None:
            return (op.operand(names[0]), op.operand(names[1])) if _normalizable(op) else None
        if not moves_data(op) or not op.operands or op.operands[0] is None:
            return None
        v = op.operands[0]
    return None


def _known(v: Value | None, scale: Value | None, zp: Value | None) -> bool:
    """The plain 8-bit ``v`` will get an IR-quantized type under the parameters (scale, zp):
    it is a constant, or its producer quantizes with the same parameters."""
    if v is None:
        return True
    if constant_value(v) is not None:
        return True
    params = _plain_params(v)
    return params is not None and _same_values(params[0], scale, E.F32) and \
        _same_values(params[1], zp, v.type.element)


def _normalizable(op: Operation) -> bool:
    """A QOperator op that stage 1 rewrites: constant parameters, known input quantizations."""
    if isinstance(op, oq.QLinearConv):
        return _params_const(op, ("x_scale", "x_zero_point", "w_scale", "w_zero_point",
                                  "y_scale", "y_zero_point")) and \
            _known(op.operand("x"), op.operand("x_scale"), op.operand("x_zero_point"))
    if isinstance(op, oq.QLinearMatMul):
        return _params_const(op, ("a_scale", "a_zero_point", "b_scale", "b_zero_point",
                                  "y_scale", "y_zero_point")) and \
            _scalar_param(op.operand("a_scale")) and _scalar_param(op.operand("a_zero_point")) and \
            _known(op.operand("a"), op.operand("a_scale"), op.operand("a_zero_point")) and \
            _known(op.operand("b"), op.operand("b_scale"), op.operand("b_zero_point"))
    if isinstance(op, oq.QGemm):
        c = op.operand("C")
        return op.operand("y_zero_point") is not None and (c is None or constant_value(c) is not None) \
            and _params_const(op, ("a_scale", "a_zero_point", "b_scale", "b_zero_point",
                                   "y_scale", "y_zero_point")) and \
            _known(op.operand("A"), op.operand("a_scale"), op.operand("a_zero_point")) and \
            _known(op.operand("B"), op.operand("b_scale"), op.operand("b_zero_point"))
    if isinstance(op, oq.QLinearBinary):
        return _params_const(op, ("A_scale", "A_zero_point", "B_scale", "B_zero_point",
                                  "C_scale", "C_zero_point")) and \
            _known(op.operand("A"), op.operand("A_scale"), op.operand("A_zero_point")) and \
            _known(op.operand("B"), op.operand("B_scale"), op.operand("B_zero_point"))
    if isinstance(op, oq.QLinearUnary):
        return _params_const(op, ("X_scale", "X_zero_point", "Y_scale", "Y_zero_point")) and \
            _known(op.operand("X"), op.operand("X_scale"), op.operand("X_zero_point"))
    if isinstance(op, oq.QLinearAveragePool | oq.QLinearGlobalAveragePool):
        return not op.channels_last and \
            _params_const(op, ("x_scale", "x_zero_point", "y_scale", "y_zero_point")) and \
            _known(op.operand("X"), op.operand("x_scale"), op.operand("x_zero_point"))
    if isinstance(op, oq.QLinearConcat):
        vals = op.operand_list("inputs")
        return _params_const(op, ("Y_scale", "Y_zero_point")) and all(
            constant_value(s) is not None and constant_value(z) is not None and bool(np.all(constant_value(s) > 0))
            and _known(t, s, z) for t, s, z in zip(vals[0::3], vals[1::3], vals[2::3],
                                                   strict=True))
    return False


class _Builder:
    """Ops built for one rewrite, inserted only once every one of them was built."""

    def __init__(self) -> None:
        self.ops: list[Operation] = []

    def add(self, op: Operation) -> Value:
        self.ops.append(op)
        return op.results[0]

    def const(self, array: np.ndarray, type: TensorType | None = None,
              name: str | None = None) -> Value:
        return self.add(Constant.of(Dense(array, type), name=name))

    def dq(self, x: Value, scale: Value, zp: Value | None, axis: int = 1) -> Value:
        return self.add(oq.DequantizeLinear.build(x, scale, zp, axis=axis))

    def q(self, y: Value, scale: Value, zp: Value | None, element: ElementType) -> Value:
        if zp is None:
            # QuantizeLinear without a zero point means uint8; the QLinear ops mean their type.
            zp = self.const(np.zeros((), element.dtype))
        return self.add(oq.QuantizeLinear.build(y, scale, zp))

    def insert(self, rw: Rewriter) -> None:
        for op in self.ops:
            rw.insert(op)


def _normalize(op: Operation, rw: Rewriter,
               build: Callable[[_Builder], Value]) -> bool:
    b = _Builder()
    try:
        out = build(b)
    except IRError:
        return False
    if out.type.shape != op.results[0].type.shape or out.type.element != op.results[0].type.element:
        return False
    b.insert(rw)
    replace(rw, op, [out])
    return True


def _f32_const(b: _Builder, array: np.ndarray) -> Value:
    return b.const(np.asarray(array, np.float32))


@pattern(oq.QLinearConv, name="qlinear-conv-normalized")
def normalize_qlinear_conv(op: oq.QLinearConv, rw: Rewriter) -> bool:
    if not _normalizable(op):
        return False

    def build(b: _Builder) -> Value:
        x = b.dq(op.operand("x"), op.operand("x_scale"), op.operand("x_zero_point"))
        w = b.dq(op.operand("w"), op.operand("w_scale"), op.operand("w_zero_point"), axis=0)
        bias = op.operand("B")
        if bias is not None:
            # The int32 bias is in units of x_scale · w_scale (per output channel).
            xs = np.float32(constant_value(op.operand("x_scale")).reshape(()))
            ws = constant_value(op.operand("w_scale")).astype(np.float32).reshape(-1)
            scale = xs * ws if ws.size > 1 else (xs * ws).reshape(())
            bias = b.dq(bias, _f32_const(b, scale), None, axis=0)
        y = b.add(nn.Conv.build(x, w, bias, loc=op.loc, **op.attributes))
        return b.q(y, op.operand("y_scale"), op.operand("y_zero_point"),
                   op.results[0].type.element)

    return _normalize(op, rw, build)


@pattern(oq.QLinearMatMul, name="qlinear-matmul-normalized")
def normalize_qlinear_matmul(op: oq.QLinearMatMul, rw: Rewriter) -> bool:
    if not _normalizable(op):
        return False

    def build(b: _Builder) -> Value:
        a = b.dq(op.operand("a"), op.operand("a_scale"), op.operand("a_zero_point"))
        bv = op.operand("b")
        bb = b.dq(bv, op.operand("b_scale"), op.operand("b_zero_point"),
                  axis=max(bv.type.rank - 1, 0))
        y = b.add(nn.MatMul.build(a, bb, loc=op.loc))
        return b.q(y, op.operand("y_scale"), op.operand("y_zero_point"),
                   op.results[0].type.element)

    return _normalize(op, rw, build)


@pattern(oq.QGemm, name="qgemm-normalized")
def normalize_qgemm(op: oq.QGemm, rw: Rewriter) -> bool:
    if not _normalizable(op):
        return False

    def build(b: _Builder) -> Value:
        a = b.dq(op.operand("A"), op.operand("a_scale"), op.operand("a_zero_point"))
        bv = op.operand("B")
        bb = b.dq(bv, op.operand("b_scale"), op.operand("b_zero_point"),
                  axis=0 if op.transB else 1)
        c = op.operand("C")
        if c is not None:
            # alpha · (A'B' + C): C is int32 in units of a_scale · b_scale, scaled by alpha too.
            a_s = np.float32(constant_value(op.operand("a_scale")).reshape(()))
            b_s = constant_value(op.operand("b_scale")).astype(np.float32).reshape(-1)
            scale = a_s * b_s if b_s.size > 1 else (a_s * b_s).reshape(())
            c = b.dq(c, _f32_const(b, scale), None, axis=max(c.type.rank - 1, 0))
        y = b.add(nn.Gemm.build(a, bb, c, loc=op.loc, alpha=op.alpha, beta=op.alpha,
                                transA=op.transA, transB=op.transB))
        return b.q(y, op.operand("y_scale"), op.operand("y_zero_point"),
                   op.results[0].type.element)

    return _normalize(op, rw, build)


@pattern(oq.QLinearAdd, oq.QLinearMul, name="qlinear-binary-normalized")
def normalize_qlinear_binary(op: oq.QLinearBinary, rw: Rewriter) -> bool:
    if not _normalizable(op):
        return False
    float_op = ew.Add if isinstance(op, oq.QLinearAdd) else ew.Mul

    def build(b: _Builder) -> Value:
        a = b.dq(op.operand("A"), op.operand("A_scale"), op.operand("A_zero_point"))
        bb = b.dq(op.operand("B"), op.operand("B_scale"), op.operand("B_zero_point"))
        y = b.add(float_op.build(a, bb, loc=op.loc))
        return b.q(y, op.operand("C_scale"), op.operand("C_zero_point"),
                   op.results[0].type.element)

    return _normalize(op, rw, build)


@pattern(oq.QLinearSigmoid, oq.QLinearLeakyRelu, name="qlinear-unary-normalized")
def normalize_qlinear_unary(op: oq.QLinearUnary, rw: Rewriter) -> bool:
    if not _normalizable(op):
        return False

    def build(b: _Builder) -> Value:
        x = b.dq(op.operand("X"), op.operand("X_scale"), op.operand("X_zero_point"))
        if isinstance(op, oq.QLinearLeakyRelu):
            y = b.add(ew.LeakyRelu.build(x, loc=op.loc, alpha=op.alpha))
        else:
            y = b.add(ew.Sigmoid.build(x, loc=op.loc))
        return b.q(y, op.operand("Y_scale"), op.operand("Y_zero_point"),
                   op.results[0].type.element)

    return _normalize(op, rw, build)


@pattern(oq.QLinearConcat, name="qlinear-concat-normalized")
def normalize_qlinear_concat(op: oq.QLinearConcat, rw: Rewriter) -> bool:
    if not _normalizable(op):
        return False

    def build(b: _Builder) -> Value:
        vals = op.operand_list("inputs")
        parts = [b.dq(t, s, z) for t, s, z in zip(vals[0::3], vals[1::3], vals[2::3],
                                                  strict=True)]
        y = b.add(tn.Concat.build(*parts, loc=op.loc, axis=op.axis))
        return b.q(y, op.operand("Y_scale"), op.operand("Y_zero_point"),
                   op.results[0].type.element)

    return _normalize(op, rw, build)


@pattern(oq.QLinearAveragePool, oq.QLinearGlobalAveragePool, name="qlinear-pool-normalized")
def normalize_qlinear_pool(op: oq.QLinearAveragePool | oq.QLinearGlobalAveragePool,
                           rw: Rewriter) -> bool:
    if not _normalizable(op):
        return False

    def build(b: _Builder) -> Value:
        x = b.dq(op.operand("X"), op.operand("x_scale"), op.operand("x_zero_point"))
        if isinstance(op, oq.QLinearAveragePool):
            y = b.add(nn.AveragePool.build(
                x, loc=op.loc, auto_pad=op.auto_pad, kernel_shape=op.kernel_shape, pads=op.pads,
                strides=op.strides, ceil_mode=op.ceil_mode,
                count_include_pad=op.count_include_pad))
        else:
            y = b.add(nn.GlobalAveragePool.build(x, loc=op.loc))
        return b.q(y, op.operand("y_scale"), op.operand("y_zero_point"),
                   op.results[0].type.element)

    return _normalize(op, rw, build)


@pattern(name="plain-data-movement-normalized")
def normalize_plain_data_movement(op: Operation, rw: Rewriter) -> bool:
    """A data-movement op on a plain 8-bit tensor of known quantization: DQ -> op -> Q."""
    if not moves_data(op) or len(op.results) != 1 or not op.operands:
        return False
    x = op.operands[0]
    if x is None or not is_plain_8bit(x.type):
        return False
    params = _plain_params(x)
    if params is None:
        return False
    scale, zp = params

    def build(b: _Builder) -> Value:
        operands = [b.dq(x, scale, zp), *op.operands[1:]]
        if isinstance(op, tn.Pad) and op.mode == "constant":
            # The plain op pads with a stored value (0 when absent): its real value is that.
            cv = op.operand("constant_value")
            if cv is None:
                cv = b.const(np.zeros((), x.type.dtype))
            operands = [*operands, None][:3]
            operands[2] = b.dq(cv, scale, zp)
        y = b.add(rebuild(op, operands))
        return b.q(y, scale, zp, x.type.element)

    return _normalize(op, rw, build)


def _rescaled_integer_product(op: ew.Mul) -> tuple[Operation, np.ndarray] | None:
    """(ConvInteger or MatMulInteger, constant rescale) of Mul(Cast(product, f32), constant)."""
    for i in (0, 1):
        cast = owner(op.operands[i], ew.Cast)
        c = constant_value(op.operands[1 - i])
        if cast is None or c is None or cast.to != E.F32:
            continue
        product = owner(cast.operands[0], (oq.ConvInteger, oq.MatMulInteger))
        if product is not None and np.all(np.isfinite(c)) and np.all(c > 0):
            return product, c.astype(np.float32)
    return None


@pattern(ew.Mul, name="integer-product-normalized")
def normalize_integer_product(op: ew.Mul, rw: Rewriter) -> bool:
    """ConvInteger / MatMulInteger rescaled by a constant (x_scale · w_scale) is the float
    product of the dequantized operands, when the left operand's scale is known."""
    found = _rescaled_integer_product(op)
    if found is None:
        return False
    product, c = found
    is_conv = isinstance(product, oq.ConvInteger)
    x, w = product.operands[0], product.operands[1]
    x_zp, w_zp = product.operand("x_zero_point" if is_conv else "a_zero_point"), \
        product.operand("w_zero_point" if is_conv else "b_zero_point")
    params = _plain_params(x)
    if params is None or constant_value(w) is None or not _same_values(params[1], x_zp, x.type.element):
        return False
    x_scale = np.float32(constant_value(params[0]).reshape(()))
    out_rank = product.results[0].type.rank
    channels = w.type.shape[0] if is_conv else w.type.shape[-1]
    if c.size == 1:
        w_scale = (c / x_scale).reshape(())
    else:
        # Per output channel: the rescale may vary along the product's channel axis only.
        axis = 1 if is_conv else out_rank - 1
        offset = out_rank - c.ndim
        if c.size != channels or offset < 0 or axis < offset or c.shape[axis - offset] != channels:
            return False
        w_scale = c.reshape(-1) / x_scale
    if not np.all(np.isfinite(w_scale)) or not np.all(w_scale > 0):
        return False

    def build(b: _Builder) -> Value:
        xd = b.dq(x, params[0], params[1])
        wd = b.dq(w, _f32_const(b, w_scale), w_zp, axis=0 if is_conv else max(w.type.rank - 1, 0))
        if is_conv:
            return b.add(nn.Conv.build(xd, wd, loc=product.loc, **product.attributes))
        return b.add(nn.MatMul.build(xd, wd, loc=product.loc))

    b = _Builder()
    try:
        out = build(b)
    except IRError:
        return False
    if out.type != op.results[0].type:
        return False
    b.insert(rw)
    replace(rw, op, [out])
    return True


NORMALIZE_PATTERNS: list[RewritePattern] = [
    normalize_qlinear_conv, normalize_qlinear_matmul, normalize_qgemm, normalize_qlinear_binary,
    normalize_qlinear_unary, normalize_qlinear_concat, normalize_qlinear_pool,
    normalize_integer_product, normalize_plain_data_movement,
]


@attrs.frozen
class NormalizeQOperator(FunctionPass):
    """QOperator ops with constant parameters to DequantizeLinear -> float op -> QuantizeLinear."""

    NAME = "normalize-qoperator"
    SUMMARY = "rewrite QLinear* and *Integer ops with constant scales in QDQ form"

    def run_on_function(self, function: Function, ctx: PassContext) -> None:
        apply_patterns_greedily(function, NORMALIZE_PATTERNS, ctx)
