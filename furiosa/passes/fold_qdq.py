"""``fold-qdq``: quantized ONNX (QDQ and QOperator) into the ``quant`` dialect.

Three stages, each a list of rewrite patterns run by the greedy driver:

1. **normalize**: QOperator ops whose scales and zero points are constants (QLinearConv,
   QLinearMatMul, QGemm, the com.microsoft QLinear ops, ConvInteger / MatMulInteger followed by
   a constant float rescale) become DequantizeLinear -> float op -> QuantizeLinear, their
   definition. Data-movement ops on plain 8-bit tensors between them (MaxPool, Flatten,
   Reshape...) are wrapped the same way with their producer's parameters, which is exact.
2. **type**: DequantizeLinear of a constant becomes ``host.Dequantize`` of a constant with an
   IR-quantized type; DequantizeLinear(QuantizeLinear(x)) with equal parameters becomes
   ``host.Dequantize(host.Quantize(x))``. From here on every 8-bit tensor says its scale in its
   type. uint8 becomes int8 with the zero point moved by -128 (``convert-uint8``), which changes
   no real value.
3. **fold**, rooted at ``host.Quantize``: Dequantize -> op -> Quantize becomes the quant op
   (Conv, MatMul, Gemm, Add, Sub, Mul, AveragePool, GlobalAveragePool, ReduceMean, Concat, any
   element-wise function of one tensor as a 256-entry table, Relu/Clip as the producer's
   activation clamp); quantization moves through data-movement ops (Quantize above them,
   Dequantize below them), so those ops run on the quantized tensor; Quantize(Dequantize(t))
   becomes ``t``, or a requantization table when the quantizations differ (a table of
   Quantize(Dequantize(x)) rounds exactly as the float ops; a fixed-point requantization of
   8-bit values rounds twice and is a step off on many elements). What matches nothing stays
   float between explicit ``host.Dequantize`` and ``host.Quantize``; Dequantize(Quantize(x))
   is never removed, since it rounds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import numpy as np

from furiosa.errors import IRError
from furiosa.ir.core import Dense, Operation, Value, constant_value
from furiosa.ir.dialects import quant as qd
from furiosa.ir.dialects.host import Dequantize, Quantize
from furiosa.ir.dialects.onnx import elementwise as ew
from furiosa.ir.dialects.onnx import nn
from furiosa.ir.dialects.onnx import quantized as oq
from furiosa.ir.dialects.onnx import reduce as rd
from furiosa.ir.dialects.onnx import tensor as tn
from furiosa.ir.dialects.onnx.base import (
    BinaryElementwise,
    Constant,
    Identity,
    UnaryElementwise,
    VariadicElementwise,
)
from furiosa.ir.interpreter import has_kernel, run_op
from furiosa.ir.module import Function
from furiosa.ir.quantization import INT32_MAX, INT32_MIN, activation_range, dequantize, quantize
from furiosa.ir.types import ElementType, Quantization, TensorType
from furiosa.ir.verifier import verify_operation
from furiosa.passes.base import FunctionPass, PassContext, option
from furiosa.passes.rewrite import RewritePattern, Rewriter, apply_patterns_greedily, pattern

E = ElementType
EIGHT_BIT = (E.I8, E.U8)
# Rounds of the fold stage; each round runs its patterns to a fixed point, so more than a few
# rounds only happen when a fold enables another one that the driver did not revisit.
MAX_FOLD_ROUNDS = 8

# Ops that only move, select or repeat elements: they commute with (de)quantization, so they
# run on the quantized tensor. Operand 0 is the data; the others are index/shape parameters.
DATA_MOVEMENT: tuple[type[Operation], ...] = (
    tn.Reshape, tn.Flatten, tn.Squeeze, tn.Unsqueeze, tn.Transpose, tn.Slice, tn.Gather,
    tn.DepthToSpace, tn.SpaceToDepth, tn.Expand, tn.Tile, tn.Split, tn.Pad, tn.Resize,
    nn.MaxPool, nn.GlobalMaxPool, Identity,
)


# ================================================================ shared helpers


# The most ops a constant subgraph may have for _const to evaluate it.
CONSTANT_SUBGRAPH_LIMIT = 16


def _const(v: Value | None) -> np.ndarray | None:
    """The value of ``v`` when it is a constant or a small subgraph of constants.

    The subgraph is walked first (at most CONSTANT_SUBGRAPH_LIMIT ops) so that asking about an
    activation stops at once instead of climbing, recursively, through the whole network.
    """
    if v is None or v.owner is None:
        return None
    stack, seen = [v.owner], set()
    while stack:
        op = stack.pop()
        static = getattr(op, "static_value", None)
        if id(op) in seen or getattr(op, "constant_array", None) is not None or \
                (static is not None and static() is not None):
            continue  # a constant, or known from types alone (Shape of a static tensor)
        seen.add(id(op))
        if len(seen) > CONSTANT_SUBGRAPH_LIMIT:
            return None
        for a in op.operands:
            if a is not None:
                if a.owner is None:
                    return None
                stack.append(a.owner)
    return constant_value(v)


def _owner(v: Value | None, cls: type[Operation] | tuple[type[Operation], ...]) -> Operation | None:
    """The op producing ``v`` when it is an instance of ``cls``."""
    if v is None or v.owner is None or not isinstance(v.owner, cls):
        return None
    return v.owner


def _moves_data(op: Operation) -> bool:
    """A data-movement op whose result is exactly a rearrangement of its data operand."""
    if not isinstance(op, DATA_MOVEMENT):
        return False
    if isinstance(op, nn.MaxPool) and len(op.results) != 1:
        return False
    if isinstance(op, tn.Resize):
        # Only nearest sampling copies elements; crop-and-resize extrapolates with a float.
        return op.mode == "nearest" and op.coordinate_transformation_mode != "tf_crop_and_resize"
    return True


def _is_plain_8bit(t: TensorType) -> bool:
    return t.element in EIGHT_BIT and t.quant is None


def _per_tensor_8bit(v: Value | None) -> bool:
    return (v is not None and v.type.element in EIGHT_BIT and v.type.quant is not None
            and v.type.quant.is_per_tensor)


def _rebuild(op: Operation, operands: Sequence[Value | None], **changes: object) -> Operation:
    """An op of ``op``'s class and attributes on new operands (result types inferred)."""
    attributes = {**op.attributes, **changes}
    return type(op).build(*operands, loc=op.loc, **attributes)


def _adopt_name(new: Value, old: Value) -> None:
    if new.name is None and old.name is not None:
        new.name = old.name


def _replace(rw: Rewriter, old: Operation, new_values: Sequence[Value]) -> None:
    for n, o in zip(new_values, old.results, strict=True):
        _adopt_name(n, o)
    rw.replace_op(old, new_values)


def _checked(*ops: Operation) -> None:
    """Run the verifier's per-op checks (``build`` infers types but does not call verify_op)."""
    for op in ops:
        verify_operation(op)


# ================================================================ stage 1: QOperator -> QDQ


def _scalar_param(v: Value | None) -> bool:
    return v is None or v.type.shape in ((), (1,))


def _params_const(op: Operation, names: Sequence[str]) -> bool:
    """Every named operand that is present is a constant, and every scale is positive."""
    for name in names:
        v = op.operand(name)
        if v is None:
            continue
        c = _const(v)
        if c is None:
            return False
        if v.type.element.is_float and not (np.all(np.isfinite(c)) and np.all(c > 0)):
            return False
    return True


def _same_values(a: Value | None, b: Value | None, default_element: ElementType) -> bool:
    """Two scale or zero-point operands hold the same values (an absent zero point is 0)."""
    ca = _const(a) if a is not None else np.zeros((), default_element.dtype)
    cb = _const(b) if b is not None else np.zeros((), default_element.dtype)
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
    while v is not None and v.owner is not None and _is_plain_8bit(v.type):
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
        if not _moves_data(op) or not op.operands or op.operands[0] is None:
            return None
        v = op.operands[0]
    return None


def _known(v: Value | None, scale: Value | None, zp: Value | None) -> bool:
    """The plain 8-bit ``v`` will get an IR-quantized type under the parameters (scale, zp):
    it is a constant, or its producer quantizes with the same parameters."""
    if v is None:
        return True
    if _const(v) is not None:
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
        return op.operand("y_zero_point") is not None and (c is None or _const(c) is not None) \
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
            _const(s) is not None and _const(z) is not None and bool(np.all(_const(s) > 0))
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
    _replace(rw, op, [out])
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
            xs = np.float32(_const(op.operand("x_scale")).reshape(()))
            ws = _const(op.operand("w_scale")).astype(np.float32).reshape(-1)
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
            a_s = np.float32(_const(op.operand("a_scale")).reshape(()))
            b_s = _const(op.operand("b_scale")).astype(np.float32).reshape(-1)
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


@pattern(*DATA_MOVEMENT, name="plain-data-movement-normalized")
def normalize_plain_data_movement(op: Operation, rw: Rewriter) -> bool:
    """A data-movement op on a plain 8-bit tensor of known quantization: DQ -> op -> Q."""
    if not _moves_data(op) or len(op.results) != 1 or not op.operands:
        return False
    x = op.operands[0]
    if x is None or not _is_plain_8bit(x.type):
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
        y = b.add(_rebuild(op, operands))
        return b.q(y, scale, zp, x.type.element)

    return _normalize(op, rw, build)


def _rescaled_integer_product(op: ew.Mul) -> tuple[Operation, np.ndarray] | None:
    """(ConvInteger or MatMulInteger, constant rescale) of Mul(Cast(product, f32), constant)."""
    for i in (0, 1):
        cast = _owner(op.operands[i], ew.Cast)
        c = _const(op.operands[1 - i])
        if cast is None or c is None or cast.to != E.F32:
            continue
        product = _owner(cast.operands[0], (oq.ConvInteger, oq.MatMulInteger))
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
    if params is None or _const(w) is None or not _same_values(params[1], x_zp, x.type.element):
        return False
    x_scale = np.float32(_const(params[0]).reshape(()))
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
    _replace(rw, op, [out])
    return True


NORMALIZE_PATTERNS: list[RewritePattern] = [
    normalize_qlinear_conv, normalize_qlinear_matmul, normalize_qgemm, normalize_qlinear_binary,
    normalize_qlinear_unary, normalize_qlinear_concat, normalize_qlinear_pool,
    normalize_integer_product, normalize_plain_data_movement,
]


# ================================================================ stage 2: typed Q / DQ


def _onnx_quantization(op: oq.QuantizeLinear | oq.DequantizeLinear
                       ) -> tuple[Quantization, ElementType] | None:
    """The constant quantization of an onnx QuantizeLinear / DequantizeLinear and its integer
    element type (None when the parameters are not constants or not valid)."""
    if isinstance(op, oq.QuantizeLinear):
        scale_v, zp_v = op.operand("y_scale"), op.operand("y_zero_point")
        element = zp_v.type.element if zp_v is not None else E.U8
        rank = op.operand("x").type.rank
    else:
        data, scale_v, zp_v = op.operand("x"), op.operand("x_scale"), op.operand("x_zero_point")
        element = data.type.element
        rank = data.type.rank
    scale = _const(scale_v)
    zp = _const(zp_v) if zp_v is not None else np.zeros(1, np.int64)
    if scale is None or zp is None:
        return None
    scale = scale.astype(np.float64).reshape(-1)
    zp = zp.astype(np.int64).reshape(-1)
    try:
        if scale_v.type.shape in ((), (1,)):
            if zp.size != 1:
                return None
            return Quantization.per_tensor(float(scale[0]), int(zp[0])), element
        if zp.size not in (1, scale.size):
            return None
        zps = np.broadcast_to(zp, scale.shape)
        q = Quantization.per_axis(scale.tolist(), zps.tolist(), op.axis % rank)
        TensorType(op.results[0].type.shape, element, q)  # checks zero points and the axis
        return q, element
    except IRError:
        return None


def _storage(q: Quantization, element: ElementType,
             convert_uint8: bool) -> tuple[Quantization, ElementType, int]:
    """The quantization and element type a tensor is stored in, and the shift of its stored
    values: uint8 becomes int8 with every zero point moved by -128 (the same real values)."""
    if convert_uint8 and element == E.U8:
        return Quantization(q.scale, [z - 128 for z in q.zero_point], q.axis), E.I8, -128
    return q, element, 0


def _make_dequantize_constant(convert_uint8: bool) -> RewritePattern:
    @pattern(oq.DequantizeLinear, name="quantized-constants")
    def dequantize_constant(op: oq.DequantizeLinear, rw: Rewriter) -> bool:
        x = op.operand("x")
        stored = _const(x)
        found = _onnx_quantization(op)
        if stored is None or found is None or stored.dtype != x.type.dtype:
            return False
        q, element, shift = _storage(*found, convert_uint8)
        try:
            values = (stored.astype(np.int64) + shift).astype(element.dtype)
            c = Constant.of(Dense(values, TensorType(x.type.shape, element, q)), name=x.name)
            d = Dequantize.build(c.result, loc=op.loc)
        except IRError:
            return False
        rw.insert(c)
        rw.insert(d)
        _replace(rw, op, d.results)
        return True

    return dequantize_constant


def _twin_quantize(rw: Rewriter, qop: oq.QuantizeLinear, q: Quantization,
                   element: ElementType) -> Value | None:
    """The host.Quantize of ``qop``'s input with quantization ``q``: an existing one, or new."""
    x = qop.operand("x")
    if not x.type.element.is_float:
        return None
    for user in x.users:
        if isinstance(user, Quantize) and user in rw.function and user.to == element and \
                user.rounding == "half_even" and user.quantization == q:
            return user.result
    try:
        new = Quantize.build(x, loc=qop.loc, scale=q.scale, zero_point=q.zero_point, axis=q.axis,
                             to=element, result_names=[qop.results[0].name])
    except IRError:
        return None
    rw.insert(new)
    return new.result


def _make_dequantize_quantized(convert_uint8: bool) -> RewritePattern:
    @pattern(oq.DequantizeLinear, name="quantize-dequantize-typed")
    def dequantize_quantized(op: oq.DequantizeLinear, rw: Rewriter) -> bool:
        qop = _owner(op.operand("x"), oq.QuantizeLinear)
        if qop is None:
            return False
        mine, theirs = _onnx_quantization(op), _onnx_quantization(qop)
        if mine is None or mine != theirs:
            return False
        q, element, _ = _storage(*mine, convert_uint8)
        twin = _twin_quantize(rw, qop, q, element)
        if twin is None:
            return False
        d = rw.insert(Dequantize.build(twin, loc=op.loc))
        _replace(rw, op, d.results)
        return True

    return dequantize_quantized


@pattern(oq.QuantizeLinear, name="quantized-outputs")
def quantize_output(op: oq.QuantizeLinear, rw: Rewriter) -> bool:
    """A QuantizeLinear read only as a function output: its element type is the interface, so
    uint8 stays uint8."""
    r = op.results[0]
    if r.uses or not any(o is r for o in rw.function.outputs):
        return False
    found = _onnx_quantization(op)
    if found is None:
        return False
    twin = _twin_quantize(rw, op, *found)
    if twin is None:
        return False
    _replace(rw, op, [twin])
    return True


# ================================================================ stage 3: folding


def _typed(v: Value | None) -> Value | None:
    """``t`` when ``v`` is host.Dequantize(t) to float32."""
    d = _owner(v, Dequantize)
    if d is None or d.to != E.F32:
        return None
    return d.operands[0]


def _typed_8bit(v: Value | None) -> Value | None:
    """``t`` when ``v`` is the float32 dequantization of a per-tensor 8-bit tensor ``t``."""
    t = _typed(v)
    return t if _per_tensor_8bit(t) else None


def _table(t: Value, fn: Callable[[np.ndarray], np.ndarray], out: Quantization,
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


def _requantized(value: Value, want: TensorType, loc: str | None, new: list[Operation],
                 rounding: str = "half_even") -> Value | None:
    """``value`` in the 8-bit type ``want``: itself, or through a table of
    Quantize(Dequantize(x)), which rounds exactly as the float reference does (a fixed-point
    requantization of 8-bit values rounds twice and is off by one step on many elements)."""
    if value.type == want:
        return value
    if want.quant is None or want.shape != value.type.shape:
        return None
    table = _table(value, lambda real: real, want.quant, want.element, loc, rounding)
    if table is None:
        return None
    new.append(table)
    return table.results[0]


def _finish(rw: Rewriter, q: Quantize, value: Value, extra: Sequence[Operation] = ()) -> bool:
    """Replace ``q`` by ``value`` (after inserting ``extra``), requantizing when the type
    differs from ``q``'s; False, with nothing changed, when it cannot."""
    ops = list(extra)
    result = _requantized(value, q.results[0].type, q.loc, ops, q.rounding)
    if result is None:
        return False
    for op in ops:
        rw.insert(op)
    _replace(rw, q, [result])
    return True


def _split_activation(v: Value) -> tuple[Value, tuple[float | None, float | None] | None]:
    """(input, real clamp) when ``v`` is Relu(input) or Clip(input) with constant bounds."""
    op = v.owner
    if isinstance(op, ew.Relu):
        return op.operands[0], (0.0, None)
    if isinstance(op, ew.Clip):
        bounds: list[float | None] = []
        for name in ("min", "max"):
            b = op.operand(name)
            if b is None:
                bounds.append(None)
                continue
            c = _const(b)
            if c is None:
                return v, None
            bounds.append(float(c.reshape(())))
        return op.operands[0], (bounds[0], bounds[1])
    return v, None


def _weights(w: Value, axis: int, new: list[Operation]) -> Value | None:
    """``w`` as symmetric int8 weights quantized per tensor or along ``axis``: itself, or a
    constant with the zero points subtracted when that fits int8 (appended to ``new``)."""
    q = w.type.quant
    if q is None or w.type.element not in EIGHT_BIT or (q.axis is not None and q.axis != axis):
        return None
    if w.type.element == E.I8 and all(z == 0 for z in q.zero_point):
        return w
    stored = _const(w)
    if stored is None:
        return None
    centred = stored.astype(np.int64) - q.zero_point_array(w.type.rank)
    if centred.min(initial=0) < E.I8.min or centred.max(initial=0) > E.I8.max:
        return None
    sym = Quantization(q.scale, [0] * len(q.zero_point), q.axis)
    c = Constant.of(Dense(centred.astype(np.int8), TensorType(w.type.shape, E.I8, sym)),
                    name=w.name)
    new.append(c)
    return c.results[0]


def _bias(v: Value, x_scale: float, w_quant: Quantization, channels: int,
          new: list[Operation], scale_by: float = 1.0) -> Value | None:
    """The constant float bias ``scale_by · v`` as int32 in units of x_scale · w_scale: the
    dequantized int32 constant itself when its scale already is that, else quantized."""
    scales = np.asarray([x_scale * s for s in w_quant.scale], dtype=np.float64)
    typed = _typed(v) if scale_by == 1.0 else None
    if typed is not None and typed.type.element == E.I32 and typed.type.shape == (channels,) \
            and typed.type.quant is not None and _const(typed) is not None:
        tq = typed.type.quant
        got = np.asarray(tq.scale, dtype=np.float64)
        if all(z == 0 for z in tq.zero_point) and tq.axis in (None, 0) and np.all(
                np.abs(got - scales) <= qd.BIAS_SCALE_TOLERANCE * np.minimum(got, scales)):
            return typed
    real = _const(v)
    if real is None or real.size not in (1, channels):
        return None
    real = np.broadcast_to(real.astype(np.float64).reshape(-1) * scale_by, (channels,))
    per = np.broadcast_to(scales, (channels,))
    stored = np.rint(real / per)
    if not np.all(np.isfinite(stored)) or stored.min() < INT32_MIN or stored.max() > INT32_MAX:
        return None
    q = (Quantization.per_tensor(float(scales[0])) if scales.size == 1
         else Quantization.per_axis(scales.tolist(), [0] * channels, 0))
    c = Constant.of(Dense(stored.astype(np.int32), TensorType((channels,), E.I32, q)))
    new.append(c)
    return c.results[0]


def _tidy(op: Operation) -> Operation:
    """A quant op without an absent trailing bias or all-default window attributes, so that it
    prints as briefly as an op written by hand."""
    if op.dialect() != "quant":
        return op
    operands = list(op.operands)
    while operands and operands[-1] is None:
        operands.pop()
    changes = {name: None for name, neutral in (("strides", 1), ("dilations", 1), ("pads", 0))
               if getattr(op, name, None) is not None and all(v == neutral
                                                               for v in getattr(op, name))}
    if len(operands) == len(op.operands) and not changes:
        return op
    return _rebuild(op, operands, **changes)


def _build_checked(new: list[Operation], make: Callable[[], Operation]) -> Operation | None:
    try:
        op = _tidy(make())
        _checked(op)
    except IRError:
        return None
    new.append(op)
    return op


@pattern(Quantize, name="convs-folded")
def fold_conv(q: Quantize, rw: Rewriter) -> bool:
    if not q.quantization.is_per_tensor:
        return False
    inner, clamp = _split_activation(q.operands[0])
    conv = _owner(inner, nn.Conv)
    if conv is None:
        return False
    x = _typed_8bit(conv.operand("X"))
    w_typed = _typed(conv.operand("W"))
    if x is None or w_typed is None:
        return False
    new: list[Operation] = []
    w = _weights(w_typed, 0, new)
    if w is None:
        return False
    bias = None
    if conv.operand("B") is not None:
        assert w.type.quant is not None
        bias = _bias(conv.operand("B"), x.type.quant.scale[0], w.type.quant, w.type.shape[0],
                     new)
        if bias is None:
            return False
    try:
        win = conv.conv_window(x.type, w.type)
    except IRError:
        return False
    made = _build_checked(new, lambda: qd.Conv.from_scales(
        x, w, bias, q.quantization, clamp=clamp, loc=conv.loc, strides=win.strides,
        pads=win.pads_begin + win.pads_end, dilations=win.dilations, group=conv.group))
    return made is not None and _finish(rw, q, made.results[0], new)


def _column_bias(c: np.ndarray, columns: int) -> bool:
    """A constant added to a matrix product that is one value per column (or one value)."""
    return c.size == 1 or (c.shape[-1] == columns and c.size == columns)


def _matrix_operand(v: Value, transpose: bool, new: list[Operation]) -> Value | None:
    """An IR-quantized 2-D operand, transposed when asked (a constant is transposed as data)."""
    if not transpose:
        return v
    stored = _const(v)
    if stored is None:
        made = _build_checked(new, lambda: tn.Transpose.build(v, perm=(1, 0)))
        return made.results[0] if made is not None else None
    q = v.type.quant
    assert q is not None
    tq = Quantization(q.scale, q.zero_point, None if q.axis is None else 1 - q.axis)
    c = Constant.of(Dense(np.ascontiguousarray(stored.T),
                          TensorType(v.type.shape[::-1], v.type.element, tq)), name=v.name)
    new.append(c)
    return c.results[0]


def _matmul(rw: Rewriter, q: Quantize, a: Value, b: Value, bias_real: Value | None,
            clamp: tuple[float | None, float | None] | None, loc: str | None,
            new: list[Operation], bias_scale: float = 1.0) -> bool:
    """Fold into quant.MatMul(a, b, bias): per-column B must be symmetric along its last axis."""
    bq = b.type.quant
    if bq is None or b.type.element not in EIGHT_BIT:
        return False
    if not bq.is_per_tensor:
        b = _weights(b, b.type.rank - 1, new)
        if b is None:
            return False
        bq = b.type.quant
    bias = None
    if bias_real is not None:
        if b.type.rank < 2:
            return False
        assert a.type.quant is not None and bq is not None
        bias = _bias(bias_real, a.type.quant.scale[0], bq, b.type.shape[-1], new, bias_scale)
        if bias is None:
            return False
    made = _build_checked(new, lambda: qd.MatMul.from_scales(a, b, bias, q.quantization,
                                                             clamp=clamp, loc=loc))
    return made is not None and _finish(rw, q, made.results[0], new)


@pattern(Quantize, name="matmuls-folded")
def fold_matmul(q: Quantize, rw: Rewriter) -> bool:
    """MatMul, optionally plus a constant per-column bias, optionally clamped."""
    if not q.quantization.is_per_tensor:
        return False
    inner, clamp = _split_activation(q.operands[0])
    mm = _owner(inner, nn.MatMul)
    bias = None
    add = _owner(inner, ew.Add)
    if mm is None and add is not None:
        for i in (0, 1):
            cand = _owner(add.operands[i], nn.MatMul)
            c = _const(add.operands[1 - i])
            if cand is not None and c is not None and \
                    add.results[0].type.shape == cand.results[0].type.shape and \
                    cand.operands[1].type.rank >= 2 and \
                    _column_bias(c, cand.operands[1].type.shape[-1]):
                mm, bias = cand, add.operands[1 - i]
                break
    if mm is None:
        return False
    a, b = _typed_8bit(mm.operands[0]), _typed(mm.operands[1])
    if a is None or b is None:
        return False
    return _matmul(rw, q, a, b, bias, clamp, mm.loc, [])


@pattern(Quantize, name="gemms-folded")
def fold_gemm(q: Quantize, rw: Rewriter) -> bool:
    if not q.quantization.is_per_tensor:
        return False
    inner, clamp = _split_activation(q.operands[0])
    gemm = _owner(inner, nn.Gemm)
    if gemm is None or gemm.alpha != 1.0:
        return False
    a, b = _typed_8bit(gemm.operand("A")), _typed(gemm.operand("B"))
    if a is None or b is None:
        return False
    new: list[Operation] = []
    a2 = _matrix_operand(a, bool(gemm.transA), new)
    b2 = _matrix_operand(b, bool(gemm.transB), new)
    if a2 is None or b2 is None:
        return False
    c = gemm.operand("C")
    if c is not None:
        cv = _const(c)
        if cv is None or not _column_bias(cv, b2.type.shape[-1]):
            return False
    return _matmul(rw, q, a2, b2, c, clamp, gemm.loc, new, gemm.beta)


_BINARY: dict[type[Operation], type[qd.Add | qd.Sub | qd.Mul]] = {
    ew.Add: qd.Add, ew.Sub: qd.Sub, ew.Mul: qd.Mul,
}


@pattern(Quantize, name="elementwise-arithmetic-folded")
def fold_binary(q: Quantize, rw: Rewriter) -> bool:
    if not q.quantization.is_per_tensor:
        return False
    inner, clamp = _split_activation(q.operands[0])
    op = inner.owner
    cls = _BINARY.get(type(op)) if op is not None else None
    if cls is None:
        return False
    a, b = _typed_8bit(op.operands[0]), _typed_8bit(op.operands[1])
    if a is None or b is None or a.type.element != b.type.element:
        return False
    new: list[Operation] = []
    made = _build_checked(new, lambda: cls.from_scales(a, b, q.quantization, clamp=clamp,
                                                       loc=op.loc))
    return made is not None and _finish(rw, q, made.results[0], new)


@pattern(Quantize, name="average-pools-folded")
def fold_average_pool(q: Quantize, rw: Rewriter) -> bool:
    pool = _owner(q.operands[0], nn.AveragePool)
    if pool is None:
        return False
    x = _typed_8bit(pool.operand("X"))
    if x is None:
        return False
    try:
        win = pool.pool_window(x.type, bool(pool.ceil_mode))
    except IRError:
        return False
    if any(win.extra_end(x.type.shape[2:])):
        return False  # a ceil_mode window past the padding has no quant.AveragePool form
    new: list[Operation] = []
    made = _build_checked(new, lambda: qd.AveragePool.build(
        x, loc=pool.loc, kernel_shape=win.kernel, strides=win.strides,
        pads=win.pads_begin + win.pads_end, count_include_pad=pool.count_include_pad))
    return made is not None and _finish(rw, q, made.results[0], new)


@pattern(Quantize, name="means-folded")
def fold_mean(q: Quantize, rw: Rewriter) -> bool:
    """GlobalAveragePool and ReduceMean: quant.Mean over the reduced axes."""
    op = _owner(q.operands[0], (nn.GlobalAveragePool, rd.ReduceMean))
    if op is None or not q.quantization.is_per_tensor:
        return False
    x = _typed_8bit(op.operands[0])
    if x is None:
        return False
    if isinstance(op, nn.GlobalAveragePool):
        axes, keepdims = tuple(range(2, x.type.rank)), 1
    else:
        try:
            resolved = op.resolve_axes(op.requested_axes(), x.type.rank)
        except IRError:
            return False
        if resolved is None:
            return False
        axes, keepdims = tuple(resolved), op.keepdims
    if not axes:
        return False
    new: list[Operation] = []
    made = _build_checked(new, lambda: qd.Mean.from_scales(x, q.quantization, axes,
                                                           keepdims=keepdims, loc=op.loc))
    return made is not None and _finish(rw, q, made.results[0], new)


@pattern(Quantize, name="concats-folded")
def fold_concat(q: Quantize, rw: Rewriter) -> bool:
    op = _owner(q.operands[0], tn.Concat)
    if op is None or not q.quantization.is_per_tensor:
        return False
    typed = [_typed_8bit(v) for v in op.operand_list("inputs")]
    if any(t is None for t in typed):
        return False
    # Inputs in another quantization go through exact requantization tables first, so the
    # concatenation itself only copies.
    new: list[Operation] = []
    inputs = [_requantized(t, TensorType(t.type.shape, q.to, q.quantization, t.type.layout),
                           op.loc, new, q.rounding) for t in typed]
    if any(v is None for v in inputs):
        return False
    made = _build_checked(new, lambda: qd.Concat.from_scales(inputs, q.quantization, op.axis,
                                                             loc=op.loc))
    return made is not None and _finish(rw, q, made.results[0], new)


@pattern(Quantize, name="activations-fused")
def fuse_activation(q: Quantize, rw: Rewriter) -> bool:
    """Quantize(Relu|Clip(Dequantize(t))) where ``t`` comes from a quant op with an activation
    clamp and is read only here, in the same quantization: tighten that clamp."""
    inner, clamp = _split_activation(q.operands[0])
    if clamp is None:
        return False
    act = q.operands[0].owner
    dq = _owner(inner, Dequantize)
    if dq is None or dq.to != E.F32 or len(dq.results[0].uses) != 1 or \
            len(act.results[0].uses) != 1:
        return False
    t = dq.operands[0]
    producer = t.owner
    if producer is None or not isinstance(producer, qd.Clamped) or t.type != q.results[0].type \
            or len(t.uses) != 1 or any(o is t for o in rw.function.outputs):
        return False
    assert t.type.quant is not None
    try:
        lo, hi = activation_range(t.type.quant, t.type.element, clamp[0], clamp[1])
    except IRError:
        return False
    old_lo, old_hi = qd.activation_bounds(producer, t.type.element)
    new_lo, new_hi = max(lo, old_lo), min(hi, old_hi)
    if new_lo > new_hi:
        return False
    new: list[Operation] = []
    made = _build_checked(new, lambda: _rebuild(
        producer, producer.operands,
        activation_min=new_lo if clamp[0] is not None or producer.activation_min is not None
        else None,
        activation_max=new_hi if clamp[1] is not None or producer.activation_max is not None
        else None))
    return made is not None and _finish(rw, q, made.results[0], new)


def _elementwise_function(op: Operation) -> tuple[Value, Callable[[np.ndarray], np.ndarray]] | None:
    """(x, f) when ``op`` computes f(x) element by element from one float32 tensor ``x`` and
    constants (one-element constants in a binary op), with ``f`` its interpreter kernel."""
    if not isinstance(op, UnaryElementwise | BinaryElementwise | VariadicElementwise):
        return None
    if len(op.results) != 1 or op.results[0].type.element != E.F32 or not has_kernel(op):
        return None
    data: Value | None = None
    consts: list[np.ndarray | None] = []
    for v in op.operands:
        c = _const(v) if v is not None else None
        if v is None:
            consts.append(None)
        elif c is not None and c.size == 1:
            consts.append(c)
        elif c is None and (data is None or data is v):
            data = v
            consts.append(None)
        else:
            return None
    if data is None or data.type.element != E.F32 or data.type.shape != op.results[0].type.shape:
        return None
    data_slots = [i for i, v in enumerate(op.operands) if v is data]

    def f(real: np.ndarray) -> np.ndarray:
        probe_in = Value(TensorType(real.shape, E.F32))
        operands = [probe_in if i in data_slots else
                    (None if v is None else Value(v.type)) for i, v in enumerate(op.operands)]
        probe = type(op).build(*operands, **op.attributes)
        args = [real if i in data_slots else consts[i] for i in range(len(op.operands))]
        return np.asarray(run_op(probe, args)[0]).reshape(-1)

    return data, f


@pattern(Quantize, name="tables-folded")
def fold_table(q: Quantize, rw: Rewriter) -> bool:
    """An element-wise function of one 8-bit tensor is a 256-entry lookup table; each entry is
    computed as the unfolded ops compute it, so the table is exact."""
    if not q.quantization.is_per_tensor or q.to not in EIGHT_BIT:
        return False
    op = q.operands[0].owner
    if op is None:
        return False
    found = _elementwise_function(op)
    if found is None:
        return False
    data, f = found
    t = _typed_8bit(data)
    if t is None:
        return False
    table = _table(t, f, q.quantization, q.to, op.loc, q.rounding)
    return table is not None and _finish(rw, q, table.results[0], [table])


def _quantized_pad_value(pad: tn.Pad, quant: Quantization, element: ElementType,
                         exact: bool) -> np.ndarray | None:
    """Pad's constant in stored integers: quantized (``exact``: only when that loses nothing)."""
    cv = pad.operand("constant_value")
    real = np.zeros((), np.float32) if cv is None else _const(cv)
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


@pattern(*DATA_MOVEMENT, name="dequantizes-sunk")
def sink_dequantize(op: Operation, rw: Rewriter) -> bool:
    """op(Dequantize(t)) -> Dequantize(op(t)) for data movement: the op runs on stored values."""
    if not _moves_data(op) or not op.operands:
        return False
    t = _typed(op.operands[0])
    if t is None:
        return False
    new: list[Operation] = []
    operands = _moved_operands(op, t, new, exact=True)
    if operands is None:
        return False
    made = _build_checked(new, lambda: _rebuild(op, operands))
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
    _replace(rw, op, outs)
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
        made = _build_checked(new, lambda: _rebuild(q, [v]))
        return made.results[0] if made is not None else None

    if isinstance(op, tn.Concat):
        parts = [quantized(v) for v in op.operand_list("inputs")]
        if any(p is None for p in parts):
            return False
        made = _build_checked(new, lambda: _rebuild(op, parts))
    else:
        if not _moves_data(op) or not op.operands or op.operands[0] is None or \
                not op.operands[0].type.element.is_float:
            return False
        data = quantized(op.operands[0])
        if data is None:
            return False
        operands = _moved_operands(op, data, new, exact=False)
        if operands is None:
            return False
        made = _build_checked(new, lambda: _rebuild(op, operands))
    if made is None:
        return False
    return _finish(rw, q, made.results[y.index], new)


@pattern(nn.MaxPool, nn.GlobalMaxPool, name="max-pools-folded")
def fold_max_pool(op: nn.MaxPool | nn.GlobalMaxPool, rw: Rewriter) -> bool:
    """A max pool on an IR-quantized tensor is quant.MaxPool."""
    x = op.operands[0]
    if not _per_tensor_8bit(x) or len(op.results) != 1:
        return False
    if isinstance(op, nn.GlobalMaxPool):
        attributes: dict[str, object] = {"kernel_shape": x.type.shape[2:]}
    else:
        try:
            win = op.pool_window(x.type, bool(op.ceil_mode), op.dilations)
        except IRError:
            return False
        if any(win.extra_end(x.type.shape[2:])):
            return False
        attributes = {"kernel_shape": win.kernel, "strides": win.strides,
                      "pads": win.pads_begin + win.pads_end, "dilations": win.dilations}
    new: list[Operation] = []
    made = _build_checked(new, lambda: qd.MaxPool.build(x, loc=op.loc, **attributes))
    if made is None or made.results[0].type != op.results[0].type:
        return False
    rw.insert(made)
    _replace(rw, op, made.results)
    return True


@pattern(tn.Concat, name="concats-folded")
def fold_typed_concat(op: tn.Concat, rw: Rewriter) -> bool:
    """A Concat of 8-bit tensors in one quantization (left by hoisting Quantize above it) is
    quant.Concat, which copies them."""
    inputs = op.operand_list("inputs")
    if not all(_per_tensor_8bit(v) for v in inputs) or \
            len({(v.type.element, v.type.quant) for v in inputs}) != 1:
        return False
    quant = inputs[0].type.quant
    assert quant is not None
    new: list[Operation] = []
    made = _build_checked(new, lambda: qd.Concat.from_scales(inputs, quant, op.axis, loc=op.loc))
    if made is None or made.results[0].type != op.results[0].type:
        return False
    rw.insert(made)
    _replace(rw, op, made.results)
    return True


@pattern(Quantize, name="quantize-dequantize-folded")
def fold_quantize_dequantize(q: Quantize, rw: Rewriter) -> bool:
    """Quantize(Dequantize(t)): ``t`` itself when the quantization is the same, else a
    requantization of ``t``."""
    t = _typed(q.operands[0])
    if t is None:
        return False
    return _finish(rw, q, t)


FOLD_PATTERNS: list[RewritePattern] = [
    fold_quantize_dequantize, fold_conv, fold_gemm, fold_matmul, fuse_activation, fold_table,
    fold_binary, fold_average_pool, fold_mean, fold_concat, hoist_quantize, sink_dequantize,
    fold_max_pool, fold_typed_concat,
]


# ================================================================ the pass


@attrs.frozen
class FoldQDQ(FunctionPass):
    """Quantized ONNX (QDQ and QOperator) to quant-dialect ops with quantized types."""

    NAME = "fold-qdq"
    SUMMARY = "fold QuantizeLinear / DequantizeLinear and QLinear ops into quant ops"

    convert_uint8: bool = option(True, "store uint8 tensors as int8 (zero point - 128), "
                                       "as the NPU computes; interface outputs keep uint8")

    def run_on_function(self, function: Function, ctx: PassContext) -> None:
        apply_patterns_greedily(function, NORMALIZE_PATTERNS, ctx)
        apply_patterns_greedily(function, [_make_dequantize_constant(self.convert_uint8),
                                         _make_dequantize_quantized(self.convert_uint8),
                                         quantize_output], ctx)
        for _ in range(MAX_FOLD_ROUNDS):
            if not apply_patterns_greedily(function, FOLD_PATTERNS, ctx):
                break
