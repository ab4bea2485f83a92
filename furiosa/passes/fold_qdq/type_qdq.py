"""``type-qdq``: QuantizeLinear / DequantizeLinear pairs into quantized types.

DequantizeLinear of a constant becomes ``host.Dequantize`` of a constant with an IR-quantized
type; DequantizeLinear(QuantizeLinear(x)) with equal constant parameters becomes
``host.Dequantize(host.Quantize(x))``; a QuantizeLinear read only as a module output becomes
``host.Quantize``. From here on every 8-bit tensor says its scale and zero point in its type.
uint8 becomes int8 with the zero point moved by -128 (``convert-uint8``), which changes no
real value. The stage decides which parameters are one quantization (constant, positive
scales, zero points that fit) and in which element type each tensor is stored.
"""

from __future__ import annotations

import attrs
import numpy as np

from furiosa.errors import IRError
from furiosa.ir.core import Dense, Value, constant_value
from furiosa.ir.dialects.host import Dequantize, Quantize
from furiosa.ir.dialects.onnx import quantized as oq
from furiosa.ir.dialects.onnx.base import (
    Constant,
)
from furiosa.ir.module import Function
from furiosa.ir.types import ElementType, Quantization, TensorType
from furiosa.passes.base import FunctionPass, PassContext, option
from furiosa.passes.fold_qdq.common import (
    E,
    owner,
    replace,
)
from furiosa.passes.rewrite import RewritePattern, Rewriter, apply_patterns_greedily, pattern


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
    scale = constant_value(scale_v)
    zp = constant_value(zp_v) if zp_v is not None else np.zeros(1, np.int64)
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
        stored = constant_value(x)
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
        replace(rw, op, d.results)
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
        qop = owner(op.operand("x"), oq.QuantizeLinear)
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
        replace(rw, op, d.results)
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
    replace(rw, op, [twin])
    return True


@attrs.frozen
class TypeQDQ(FunctionPass):
    """Constant-parameter Q / DQ into host.Quantize / host.Dequantize on quantized types."""

    NAME = "type-qdq"
    SUMMARY = "give the 8-bit tensors between QuantizeLinear and DequantizeLinear quantized types"

    convert_uint8: bool = option(True, "store uint8 tensors as int8 (zero point - 128), "
                                       "as the NPU computes; interface outputs keep uint8")

    def run_on_function(self, function: Function, ctx: PassContext) -> None:
        apply_patterns_greedily(function, [_make_dequantize_constant(self.convert_uint8),
                                         _make_dequantize_quantized(self.convert_uint8),
                                         quantize_output], ctx)
