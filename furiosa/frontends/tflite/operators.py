"""One converter per supported TFLite builtin operator.

A converter reads its :class:`~furiosa.frontends.tflite.importer.Node` (the operator's
tensors and options), emits IR ops and defines the operator's outputs. float32 operators
become ``onnx`` ops with their fused activation as an explicit ``onnx.Relu``/``onnx.Clip``;
int8/uint8 operators become ``quant`` ops whose requantization parameters come from the
tensors' scales (``from_scales``), with the fused activation as their integer clamp. Where
LiteRT's integer kernel is its own per-value fixed-point arithmetic (LEAKY_RELU, PRELU,
HARD_SWISH), that arithmetic is run here over the 256 stored values and imported as a
``quant.Table``. Operators that only move or compare stored values take the float op on the
stored values; quantized operators with no exact IR counterpart are refused by name.

TFLite tensors stay NHWC. Convolution, pooling and resizing, which the IR defines on NCHW,
are imported as ``Transpose(NHWC→NCHW) → op → Transpose(NCHW→NHWC)``; their filters are
transposed here (OHWI→OIHW, depthwise 1HW(C·M)→(C·M)1HW).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tflite

from furiosa.errors import IRError
from furiosa.frontends.tflite.importer import Converter, Node
from furiosa.ir.core import Value
from furiosa.ir.dialects import host, quant
from furiosa.ir.dialects.onnx import Identity, nn, reduce, tensor
from furiosa.ir.dialects.onnx import elementwise as ew
from furiosa.ir.quantization import (
    activation_range,
    clamp_to,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    round_half_away,
)
from furiosa.ir.types import ElementType, Quantization, TensorType

B = tflite.BuiltinOperator
Act = tflite.ActivationFunctionType
E = ElementType
TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)
QUANTIZED = (E.I8, E.U8)

# Real bounds of the fused activations TFLite has (None: unbounded).
CLAMPS: dict[int, tuple[float | None, float | None]] = {
    Act.RELU: (0.0, None),
    Act.RELU6: (0.0, 6.0),
    Act.RELU_N1_TO_1: (-1.0, 1.0),
}

CONVERTERS: dict[int, Converter] = {}


def converts(*codes: int) -> Callable[[Converter], Converter]:
    def wrap(fn: Converter) -> Converter:
        for code in codes:
            CONVERTERS[code] = fn
        return fn

    return wrap


# --------------------------------------------------------------------------- helpers


def is_quantized(node: Node, i: int = 0) -> bool:
    """True for an int8/uint8 input; an error for element types the operator cannot take."""
    e = node.type(i).element
    if e in QUANTIZED:
        if node.type(i).quant is None:
            raise node.error(f"input '{node.tensor(i).name}' is {e} without quantization "
                             "parameters")
        return True
    if e is E.F32:
        return False
    raise node.unsupported(f"input '{node.tensor(i).name}' has element type {e}; the "
                           "operator is imported for float32, int8 and uint8")


def activation(node: Node, key: str = "FusedActivationFunction"
               ) -> tuple[float | None, float | None] | None:
    """The real bounds of the operator's fused activation (None when it has none)."""
    act = int(node.options.get(key, Act.NONE))
    if act == Act.NONE:
        return None
    clamp = CLAMPS.get(act)
    if clamp is None:
        names = {v: k for k, v in vars(Act).items() if not k.startswith("_")}
        raise node.unsupported(f"fused activation {names.get(act, act)} is not supported")
    return clamp


def float_activation(node: Node, v: Value,
                     clamp: tuple[float | None, float | None] | None) -> Value:
    """Apply a fused activation to a float value as explicit onnx ops."""
    if clamp is None:
        return v
    low, high = clamp
    if low == 0.0 and high is None:
        return node.emit(ew.Relu, v)
    bounds = [node.constant(np.array(b, np.float32)) if b is not None else None
              for b in (low, high)]
    return node.emit(ew.Clip, v, *bounds)


def transpose(node: Node, v: Value, perm: tuple[int, ...]) -> Value:
    return node.emit(tensor.Transpose, v, perm=perm)


def int64_constant(node: Node, values: object) -> Value:
    return node.constant(np.asarray(values, dtype=np.int64))


def spatial_padding(node: Node, size: int, kernel: int, stride: int,
                    dilation: int) -> tuple[int, int]:
    """(begin, end) padding of one spatial axis under the operator's padding mode."""
    extent = (kernel - 1) * dilation + 1
    if int(node.options.get("Padding", tflite.Padding.SAME)) == tflite.Padding.VALID:
        if size < extent:
            raise node.error(f"its window ({extent}) is larger than the input ({size}) with "
                             "VALID padding")
        return 0, 0
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + extent - size, 0)
    # TFLite puts the odd padding element at the end.
    return total // 2, total - total // 2


def window(node: Node, height: int, width: int, kh: int, kw: int, *, dilated: bool
           ) -> dict[str, tuple[int, ...]]:
    """strides, dilations and explicit NCHW pads of a conv/pool window from the options."""
    sh, sw = int(node.options.get("StrideH", 1)), int(node.options.get("StrideW", 1))
    dh = int(node.options.get("DilationHFactor", 1)) if dilated else 1
    dw = int(node.options.get("DilationWFactor", 1)) if dilated else 1
    for name, v in (("stride", sh), ("stride", sw), ("dilation", dh), ("dilation", dw)):
        if v < 1:
            raise node.error(f"its {name} {v} is not positive")
    ph = spatial_padding(node, height, kh, sh, dh)
    pw = spatial_padding(node, width, kw, sw, dw)
    attrs: dict[str, tuple[int, ...]] = {"strides": (sh, sw), "pads": (ph[0], pw[0], ph[1], pw[1])}
    if dilated:
        attrs["dilations"] = (dh, dw)
    return attrs


def rank4(node: Node, i: int = 0) -> TensorType:
    t = node.type(i)
    if t.rank != 4:
        raise node.unsupported(f"input '{node.tensor(i).name}' has rank {t.rank}; the "
                               "operator takes N x H x W x C tensors")
    return t


def same_quantization(node: Node, i: int = 0) -> None:
    """The output is quantized like input ``i`` (TFLite requires it where data is copied)."""
    q_in = node.type(i).quant
    q_out = node.out_quant()
    if q_in != q_out:
        raise node.unsupported(f"output '{node.out().name}' is quantized {q_out} but input "
                               f"'{node.tensor(i).name}' {q_in}; the operator copies stored "
                               "values, so they must match")


def weights_i8(node: Node, i: int, array: np.ndarray, axis_from: int, axis_to: int,
               shape_to: tuple[int, ...], transform: Callable[[np.ndarray], np.ndarray]
               ) -> Value:
    """A filter as an int8 IR constant: ``transform`` rearranges it, per-axis quantization
    moves from TFLite's ``axis_from`` to ``axis_to``. uint8 filters are centred on their zero
    point, which must leave them in int8 range."""
    t = node.tensor(i)
    ty = node.type(i)
    q = ty.quant
    if q is None:
        raise node.error(f"filter '{t.name}' has no quantization parameters")
    if ty.element is E.U8:
        centred = array.astype(np.int64) - np.asarray(q.zero_point).reshape(
            q.broadcast_shape(array.ndim) if q.axis is not None else ())
        if centred.min(initial=0) < -128 or centred.max(initial=0) > 127:
            raise node.unsupported(f"uint8 filter '{t.name}' (zero point {q.zero_point[0]}) "
                                   "does not fit int8 once centred on its zero point")
        array = centred.astype(np.int8)
    elif ty.element is not E.I8:
        raise node.unsupported(f"filter '{t.name}' is {ty.element}; quantized filters must be "
                               "int8 or uint8")
    elif any(z != 0 for z in q.zero_point):
        raise node.unsupported(f"int8 filter '{t.name}' has zero points {list(q.zero_point)}; "
                               "TFLite int8 filters are symmetric (zero point 0)")
    if q.is_per_tensor:
        wq = Quantization.per_tensor(q.scale[0])
    else:
        if q.axis != axis_from:
            raise node.unsupported(f"filter '{t.name}' is quantized along axis {q.axis}; "
                                   f"expected axis {axis_from} (output channels)")
        wq = Quantization.per_axis(q.scale, [0] * len(q.scale), axis_to)
    data = transform(array)
    return node.constant(np.ascontiguousarray(data), TensorType(shape_to, E.I8, wq), t.name)


def bias_i32(node: Node, i: int, x_scale: float, w_scales: tuple[float, ...],
             channels: int) -> Value | None:
    """The int32 bias as an IR constant quantized input_scale · filter_scale (zero point 0)."""
    if not node.has_input(i):
        return None
    t = node.tensor(i)
    array = node.require_const(i, "bias")
    if array.dtype != np.int32:
        raise node.unsupported(f"bias '{t.name}' is {array.dtype}; quantized operators take "
                               "an int32 bias")
    if array.shape != (channels,):
        raise node.error(f"bias '{t.name}' has shape {list(array.shape)}; expected [{channels}]")
    scales = [x_scale * s for s in w_scales]
    bq = (Quantization.per_tensor(scales[0]) if len(scales) == 1
          else Quantization.per_axis(scales, [0] * len(scales), 0))
    return node.constant(array, TensorType((channels,), E.I32, bq), t.name)


def float_weights(node: Node, i: int, what: str) -> np.ndarray:
    array = node.require_const(i, what)
    if array.dtype != np.float32:
        t = node.tensor(i)
        if node.type(i).element in QUANTIZED:
            raise node.unsupported(f"{what} '{t.name}' is {node.type(i).element} with float "
                                   "activations (dynamic-range quantization), which the "
                                   "compiler does not support; quantize the model fully "
                                   "(int8 activations) or keep it float")
        raise node.unsupported(f"{what} '{t.name}' is {array.dtype}; expected float32")
    return array


def float_bias(node: Node, i: int, channels: int) -> Value | None:
    if not node.has_input(i):
        return None
    array = float_weights(node, i, "bias")
    if array.shape != (channels,):
        raise node.error(f"bias '{node.tensor(i).name}' has shape {list(array.shape)}; "
                         f"expected [{channels}]")
    return node.value(i)


# --------------------------------------------------------------------------- convolution


@converts(B.CONV_2D, B.DEPTHWISE_CONV_2D)
def convolution(node: Node) -> None:
    x_type = rank4(node)
    depthwise = node.op.code == B.DEPTHWISE_CONV_2D
    filt = node.require_const(1, "filter")
    if filt.ndim != 4:
        raise node.error(f"filter '{node.tensor(1).name}' has rank {filt.ndim}; expected 4")
    _, height, width, channels = x_type.shape
    if depthwise:
        # [1, KH, KW, C·M] -> [C·M, 1, KH, KW], grouped by input channel.
        if filt.shape[0] != 1:
            raise node.error(f"depthwise filter '{node.tensor(1).name}' has shape "
                             f"{list(filt.shape)}; expected [1, KH, KW, C·M]")
        _, kh, kw, out_channels = filt.shape
        if channels == 0 or out_channels % channels:
            raise node.error(f"{out_channels} filter channels are not a multiple of the "
                             f"input's {channels}")
        group = channels
        shape_to = (out_channels, 1, kh, kw)

        def rearrange(a: np.ndarray) -> np.ndarray:
            return a[0].transpose(2, 0, 1)[:, None]

        axis_from = 3
    else:
        # OHWI -> OIHW; a filter with fewer input channels than the input is grouped.
        out_channels, kh, kw, in_per_group = filt.shape
        if in_per_group == 0 or channels % in_per_group:
            raise node.error(f"the input's {channels} channels are not a multiple of the "
                             f"filter's {in_per_group}")
        group = channels // in_per_group
        if out_channels % group:
            raise node.error(f"{out_channels} filters do not divide into {group} groups")
        shape_to = (out_channels, in_per_group, kh, kw)

        def rearrange(a: np.ndarray) -> np.ndarray:
            return a.transpose(0, 3, 1, 2)

        axis_from = 0
    geometry = window(node, height, width, kh, kw, dilated=True)
    clamp = activation(node)
    x = transpose(node, node.value(0), TO_NCHW)
    if is_quantized(node):
        w = weights_i8(node, 1, filt, axis_from, 0, shape_to, rearrange)
        w_scales = w.type.quant.scale
        bias = bias_i32(node, 2, x_type.quant.scale[0], w_scales, out_channels)
        out = node.out_quant()
        y = node.build(lambda: quant.Conv.from_scales(x, w, bias, out, clamp=clamp,
                                                      loc=node.loc, group=group, **geometry))
    else:
        weights = float_weights(node, 1, "filter")
        w = node.constant(np.ascontiguousarray(rearrange(weights)), None, node.tensor(1).name)
        bias = float_bias(node, 2, out_channels)
        y = node.emit(nn.Conv, x, w, bias, group=group, **geometry)
        y = float_activation(node, y, clamp)
    node.define(transpose(node, y, TO_NHWC))


def fc_weights(node: Node, depth: int, units: int) -> Value:
    """The quantized weights [units, depth] as the [depth, units] B of a matrix product."""
    w_type = node.type(1)
    q = w_type.quant
    if w_type.element not in QUANTIZED or q is None:
        raise node.unsupported(f"weights '{node.tensor(1).name}' are {w_type.element}"
                               f"{'' if q is not None else ' without quantization'}; a "
                               "quantized FULLY_CONNECTED needs int8 or uint8 weights")
    weights = node.const(1)
    if weights is None:
        return transpose(node, node.value(1), (1, 0))
    if not q.is_per_tensor:
        if q.axis != 0:
            raise node.unsupported(f"weights '{node.tensor(1).name}' are quantized along axis "
                                   f"{q.axis}; expected axis 0 (output units)")
        q = Quantization.per_axis(q.scale, q.zero_point, 1)
    return node.constant(np.ascontiguousarray(weights.T),
                         TensorType((depth, units), w_type.element, q), node.tensor(1).name)


@converts(B.FULLY_CONNECTED)
def fully_connected(node: Node) -> None:
    x_type = node.type(0)
    w_type = node.type(1)
    if w_type.rank != 2:
        raise node.error(f"weights '{node.tensor(1).name}' have rank {w_type.rank}; expected "
                         "2 (outputs x inputs)")
    if int(node.options.get("WeightsFormat", 0)) != 0:
        raise node.unsupported("shuffled weight formats are not supported")
    units, depth = w_type.shape
    total = int(np.prod(x_type.shape))
    if depth == 0 or total % depth:
        raise node.error(f"input '{node.tensor(0).name}' ({list(x_type.shape)}) does not "
                         f"flatten into rows of {depth}")
    rows = total // depth
    keep = bool(node.options.get("KeepNumDims", False))
    x = node.value(0)
    if x_type.rank != 2 or x_type.shape[0] != rows:
        x = node.emit(tensor.Reshape, x, int64_constant(node, (rows, depth)))
    clamp = activation(node)
    if is_quantized(node):
        out = node.out_quant()
        b = fc_weights(node, depth, units)
        w_scales = b.type.quant.scale if b.type.quant is not None else (1.0,)
        bias = bias_i32(node, 2, x_type.quant.scale[0], w_scales, units)
        # LiteRT's int8 reference rescales in double; its uint8 kernel in fixed point.
        cls = quant.FullyConnected if x_type.element is E.I8 else quant.MatMul
        y = node.build(lambda: cls.from_scales(x, b, bias, out, clamp=clamp, loc=node.loc))
    else:
        if node.const(1) is not None:
            float_weights(node, 1, "weights")
        bias = float_bias(node, 2, units)
        y = node.emit(nn.Gemm, x, node.value(1), bias, transB=1)
        y = float_activation(node, y, clamp)
    if keep and x_type.rank != 2:
        y = node.emit(tensor.Reshape, y, int64_constant(node, (*x_type.shape[:-1], units)))
    node.define(y)


# --------------------------------------------------------------------------- element-wise


BINARY = {B.ADD: (ew.Add, quant.Add), B.SUB: (ew.Sub, quant.Sub), B.MUL: (ew.Mul, quant.Mul)}


@converts(B.ADD, B.SUB, B.MUL)
def binary(node: Node) -> None:
    float_op, quant_op = BINARY[node.op.code]
    a, b = node.value(0), node.value(1)
    clamp = activation(node)
    qa, qb = is_quantized(node, 0), is_quantized(node, 1)
    if qa != qb or a.type.element != b.type.element:
        raise node.unsupported(f"its inputs mix {a.type.element} and {b.type.element}")
    if qa:
        out = node.out_quant()
        y = node.build(lambda: quant_op.from_scales(a, b, out, clamp=clamp, loc=node.loc))
    else:
        y = float_activation(node, node.emit(float_op, a, b), clamp)
    node.define(y)


def _sigmoid(v: np.ndarray) -> np.ndarray:
    # float32 arithmetic as TFLite's table builder, with a correctly rounded expf.
    e = np.exp(-v.astype(np.float64)).astype(np.float32)
    return np.float32(1) / (np.float32(1) + e)


def _tanh(v: np.ndarray) -> np.ndarray:
    return np.tanh(v.astype(np.float64)).astype(np.float32)


@converts(B.LOGISTIC, B.TANH)
def table_activation(node: Node) -> None:
    x = node.value(0)
    if is_quantized(node):
        fn = _sigmoid if node.op.code == B.LOGISTIC else _tanh
        out = node.out_quant()
        element = node.out_element()
        y = node.build(lambda: quant.Table.from_function(x, fn, out, element, loc=node.loc))
    else:
        y = node.emit(ew.Sigmoid if node.op.code == B.LOGISTIC else ew.Tanh, x)
    node.define(y)


@converts(B.RELU, B.RELU6, B.RELU_N1_TO_1)
def relu(node: Node) -> None:
    if is_quantized(node):
        raise node.unsupported(f"a standalone {node.op.name} on {node.type(0).element} is "
                               "not supported (fused into the operator before it, it is)")
    clamp = {B.RELU: CLAMPS[Act.RELU], B.RELU6: CLAMPS[Act.RELU6],
             B.RELU_N1_TO_1: CLAMPS[Act.RELU_N1_TO_1]}[node.op.code]
    node.define(float_activation(node, node.value(0), clamp))


@converts(B.GELU)
def gelu(node: Node) -> None:
    if is_quantized(node):
        raise node.unsupported(f"GELU on {node.type(0).element} is not supported")
    approximate = "tanh" if node.options.get("Approximate", False) else "none"
    node.define(node.emit(ew.Gelu, node.value(0), approximate=approximate))


@converts(B.SOFTMAX)
def softmax(node: Node) -> None:
    x = node.value(0)
    beta = float(node.options.get("Beta", 1.0))
    if is_quantized(node):
        out = node.out_quant()
        y = node.build(lambda: quant.Softmax.from_scales(x, out, beta, loc=node.loc))
    else:
        if beta != 1.0:
            x = node.emit(ew.Mul, x, node.constant(np.array(beta, np.float32)))
        y = node.emit(reduce.Softmax, x, axis=-1)
    node.define(y)


# --------------------------------------------------------------------------- pooling


@converts(B.AVERAGE_POOL_2D, B.MAX_POOL_2D)
def pool(node: Node) -> None:
    x_type = rank4(node)
    kh, kw = int(node.options.get("FilterHeight", 0)), int(node.options.get("FilterWidth", 0))
    if kh < 1 or kw < 1:
        raise node.error(f"its filter size {kh}x{kw} is not positive")
    geometry = window(node, x_type.shape[1], x_type.shape[2], kh, kw, dilated=False)
    clamp = activation(node)
    x = transpose(node, node.value(0), TO_NCHW)
    average = node.op.code == B.AVERAGE_POOL_2D
    if is_quantized(node):
        same_quantization(node)
        bounds = {}
        if clamp is not None:
            lo, hi = activation_bounds(node, clamp)
            bounds = {"activation_min": lo, "activation_max": hi}
        cls = quant.AveragePool if average else quant.MaxPool
        y = node.emit(cls, x, kernel_shape=(kh, kw), **geometry, **bounds)
    else:
        if average:
            y = node.emit(nn.AveragePool, x, kernel_shape=(kh, kw), count_include_pad=0,
                          **geometry)
        else:
            y = node.emit(nn.MaxPool, x, kernel_shape=(kh, kw), **geometry)
        y = float_activation(node, y, clamp)
    node.define(transpose(node, y, TO_NHWC))


def activation_bounds(node: Node, clamp: tuple[float | None, float | None]) -> tuple[int, int]:
    """The integer clamp of a fused activation in the output's quantization."""
    try:
        return activation_range(node.out_quant(), node.out_element(), clamp[0], clamp[1])
    except IRError as e:
        raise node.error(str(e)) from None


# --------------------------------------------------------------------------- data movement


def target_shape(node: Node, dims: list[int], size: int) -> tuple[int, ...]:
    """A TFLite shape with at most one -1, resolved against ``size`` elements."""
    if dims.count(-1) > 1:
        raise node.error(f"its new shape {dims} has more than one -1")
    if any(d < -1 for d in dims):
        raise node.error(f"its new shape {dims} has a negative size")
    known = int(np.prod([d for d in dims if d != -1]))
    if -1 in dims:
        if known == 0 or size % known:
            raise node.error(f"cannot reshape {size} elements to {dims}")
        dims = [size // known if d == -1 else d for d in dims]
    elif known != size:
        raise node.error(f"cannot reshape {size} elements to {dims}")
    return tuple(dims)


def reshape_to(node: Node, shape: tuple[int, ...]) -> None:
    x = node.value(0)
    if x.type.quant is not None:
        same_quantization(node)
    if any(d == 0 for d in shape):
        raise node.unsupported(f"the shape {list(shape)} has an empty dimension")
    node.define(node.emit(tensor.Reshape, x, int64_constant(node, shape)))


@converts(B.RESHAPE)
def reshape(node: Node) -> None:
    size = int(np.prod(node.type(0).shape))
    if node.has_input(1):
        dims = [int(d) for d in node.require_const(1, "shape").reshape(-1)]
    elif node.options.get("NewShape"):
        dims = list(node.options["NewShape"])
    else:
        dims = list(node.out().shape)
    reshape_to(node, target_shape(node, dims, size))


@converts(B.SQUEEZE)
def squeeze(node: Node) -> None:
    shape = node.type(0).shape
    rank = len(shape)
    axes = list(node.options.get("SqueezeDims", ()))
    for a in axes:
        if not -rank <= a < rank or shape[a] != 1:
            raise node.error(f"it squeezes axis {a} of a tensor of shape {list(shape)}")
    drop = {a % rank for a in axes} if axes else {i for i, d in enumerate(shape) if d == 1}
    reshape_to(node, tuple(d for i, d in enumerate(shape) if i not in drop))


@converts(B.EXPAND_DIMS)
def expand_dims(node: Node) -> None:
    shape = list(node.type(0).shape)
    axis = int(node.require_const(1, "axis").reshape(-1)[0])
    if not -len(shape) - 1 <= axis <= len(shape):
        raise node.error(f"axis {axis} is out of range for rank {len(shape)}")
    shape.insert(axis % (len(shape) + 1), 1)
    reshape_to(node, tuple(shape))


@converts(B.TRANSPOSE)
def transpose_op(node: Node) -> None:
    x = node.value(0)
    perm = [int(p) for p in node.require_const(1, "permutation").reshape(-1)]
    if sorted(perm) != list(range(x.type.rank)):
        raise node.error(f"{perm} is not a permutation of {x.type.rank} axes")
    if x.type.quant is not None:
        same_quantization(node)
    node.define(transpose(node, x, tuple(perm)))


@converts(B.CONCATENATION)
def concatenation(node: Node) -> None:
    values = [node.value(i) for i in range(node.input_count)]
    if not values:
        raise node.error("it has no inputs")
    axis = int(node.options.get("Axis", 0))
    clamp = activation(node)
    kinds = {is_quantized(node, i) for i in range(node.input_count)}
    if len(kinds) != 1 or len({v.type.element for v in values}) != 1:
        raise node.unsupported("its inputs mix element types")
    if kinds.pop():
        if clamp is not None:
            raise node.unsupported("a fused activation on a quantized concatenation is not "
                                   "supported")
        out = node.out_quant()
        if values[0].type.element is E.U8:
            values = [rescale_u8(node, v, out) for v in values]
        y = node.build(lambda: quant.Concat.from_scales(values, out, axis, loc=node.loc))
    else:
        y = float_activation(node, node.emit(tensor.Concat, *values, axis=axis), clamp)
    node.define(y)


def rescale_u8(node: Node, v: Value, out: Quantization) -> Value:
    """A uint8 input of CONCATENATION moved to the output's quantization as TFLite does it:
    in float32, ``round(x · s + b) + out_zp`` with ``s = in_scale · (1 / out_scale)`` and
    ``b = -in_zp · s``, tabulated over the 256 stored values."""
    q = v.type.quant
    if q == out:
        return v
    f = np.float32
    scale = f(q.scale[0]) * (f(1) / f(out.scale[0]))
    bias = f(-q.zero_point[0]) * scale
    levels = np.arange(256, dtype=np.float32) * scale + bias
    table = np.clip(round_half_away(levels).astype(np.int64) + out.zero_point[0], 0, 255)
    return node.emit(quant.Table, v, table=table.astype(np.uint8), output_scale=out.scale[0],
                     output_zero_point=out.zero_point[0])


@converts(B.PAD, B.PADV2)
def pad(node: Node) -> None:
    x = node.value(0)
    rank = x.type.rank
    paddings = node.require_const(1, "paddings")
    if paddings.shape != (rank, 2) or paddings.dtype.kind not in "iu":
        raise node.error(f"paddings '{node.tensor(1).name}' must be {rank} x 2 integers, not "
                         f"{paddings.dtype} {list(paddings.shape)}")
    if (paddings < 0).any():
        raise node.error("its paddings are negative")
    pads = int64_constant(node, [*paddings[:, 0], *paddings[:, 1]])
    quantized = is_quantized(node)
    if quantized:
        same_quantization(node)
    if node.op.code == B.PADV2 and node.has_input(2):
        value = node.require_const(2, "padding value").reshape(-1)
        if value.size != 1 or value.dtype != x.type.dtype:
            raise node.error(f"padding value '{node.tensor(2).name}' must be one "
                             f"{x.type.element}")
        fill = value.reshape(())
    else:
        # Real zero: the zero point of a quantized tensor.
        fill = np.array(x.type.quant.zero_point[0] if quantized else 0, x.type.dtype)
    fill_value = node.constant(fill, TensorType((), x.type.element, x.type.quant))
    node.define(node.emit(tensor.Pad, x, pads, fill_value))


@converts(B.MEAN)
def mean(node: Node) -> None:
    x = node.value(0)
    rank = x.type.rank
    raw = [int(a) for a in node.require_const(1, "axes").reshape(-1)]
    for a in raw:
        if not -rank <= a < rank:
            raise node.error(f"axis {a} is out of range for rank {rank}")
    axes = tuple(sorted({a % rank for a in raw}))
    keep = int(bool(node.options.get("KeepDims", False)))
    if not axes:
        raise node.unsupported("a mean over no axes is not supported")
    if is_quantized(node):
        out = node.out_quant()
        y = node.build(lambda: quant.ReduceSum.mean_from_scales(x, out, axes, keepdims=keep,
                                                                loc=node.loc))
    else:
        y = node.emit(reduce.ReduceMean, x, axes=axes, keepdims=keep)
    node.define(y)


@converts(B.RESIZE_BILINEAR)
def resize_bilinear(node: Node) -> None:
    x_type = rank4(node)
    size = node.require_const(1, "size").reshape(-1)
    if size.size != 2 or (size < 1).any():
        raise node.error(f"its size {size.tolist()} is not two positive integers")
    height, width = int(size[0]), int(size[1])
    align = bool(node.options.get("AlignCorners", False))
    half = bool(node.options.get("HalfPixelCenters", False))
    if align and half:
        raise node.error("align_corners and half_pixel_centers cannot both be set")
    if is_quantized(node):
        same_quantization(node)
        if x_type.element is not E.I8:
            raise node.unsupported(f"RESIZE_BILINEAR on {x_type.element} is not supported "
                                   "(TFLite computes it in float for uint8)")
        x = transpose(node, node.value(0), TO_NCHW)
        y = node.emit(quant.ResizeBilinear, x, sizes=(height, width), align_corners=int(align),
                      half_pixel_centers=int(half))
        node.define(transpose(node, y, TO_NHWC))
        return
    mode = "align_corners" if align else "half_pixel" if half else "asymmetric"
    sizes = int64_constant(node, (x_type.shape[0], height, width, x_type.shape[3]))
    node.define(node.emit(tensor.Resize, node.value(0), None, None, sizes, mode="linear",
                          coordinate_transformation_mode=mode))


# --------------------------------------------------------------------------- quantization


@converts(B.QUANTIZE)
def quantize(node: Node) -> None:
    x = node.value(0)
    out = node.out_quant()
    element = node.out_element()
    if element not in QUANTIZED:
        raise node.unsupported(f"quantizing to {element} is not supported (only int8 and "
                               "uint8)")
    if x.type.element is E.F32:
        # TFLite rounds half away from zero (std::round), unlike ONNX.
        y = node.build(lambda: host.Quantize.to_type(
            x, TensorType(x.type.shape, element, out), rounding="half_away", loc=node.loc))
    elif is_quantized(node):
        y = node.build(lambda: quant.Requantize.from_scales(x, out, element, loc=node.loc))
    else:
        raise node.unsupported(f"quantizing {x.type.element} is not supported")
    node.define(y)


@converts(B.DEQUANTIZE)
def dequantize(node: Node) -> None:
    x = node.value(0)
    if node.out_element() is not E.F32:
        raise node.unsupported(f"dequantizing to {node.out_element()} is not supported")
    if x.type.element is E.F16:
        # float16 weights: fold to a float32 constant (exact), else a cast.
        data = node.const(0)
        if data is not None:
            node.define(node.constant(data.astype(np.float32), None, node.out().name))
        else:
            node.define(node.emit(ew.Cast, x, to=E.F32))
        return
    if x.type.element not in (E.I8, E.U8, E.I32) or x.type.quant is None:
        raise node.unsupported(f"dequantizing {x.type} is not supported")
    node.define(node.emit(host.Dequantize, x, to=E.F32))


# --------------------------------------------------------------------------- more element-wise


def emit_op(node: Node, cls: type, *operands: Value | None, **attributes: object) -> list[Value]:
    """Build a multi-result op at this operator's location; its results."""
    try:
        op = cls.build(*operands, loc=node.loc, **attributes)
    except IRError as e:
        raise node.error(str(e)) from None
    return list(node.add_op(op).results)


def float_only(node: Node, *inputs: int) -> None:
    """Refuse an operator whose quantized form has no exact IR equivalent."""
    for i in inputs or (0,):
        if is_quantized(node, i):
            raise node.unsupported(f"{node.op.name} on {node.type(i).element} is not supported "
                                   "(LiteRT's integer kernel has no exact equivalent in the IR); "
                                   "keep the operator in float")


def no_quantization(node: Node, i: int = 0) -> None:
    """An input that must be a plain (not quantized) tensor."""
    if node.type(i).quant is not None:
        raise node.unsupported(f"input '{node.tensor(i).name}' is quantized; {node.op.name} "
                               "is imported for unquantized tensors only")


def is_quantized_any(node: Node, i: int = 0) -> bool:
    """Like :func:`is_quantized`, for operators that only move or compare stored values and
    so also take integer and bool tensors (shape arithmetic: SHAPE → STRIDED_SLICE → PACK)."""
    if node.type(i).element in QUANTIZED or node.type(i).element is E.F32:
        return is_quantized(node, i)
    return False


def same_quantizations(node: Node, inputs: tuple[int, ...]) -> bool:
    """All ``inputs`` and the output are quantized alike (True) or all unquantized (False):
    the operator compares or copies stored values, so the quantizations must match."""
    kinds = {is_quantized_any(node, i) for i in inputs}
    elements = {node.type(i).element for i in inputs}
    if len(kinds) != 1 or len(elements) != 1:
        raise node.unsupported("its inputs mix element types")
    quantized = kinds.pop()
    if quantized:
        for i in inputs:
            same_quantization(node, i)
    return quantized


UNARY_FLOAT: dict[int, type] = {B.EXP: ew.Exp, B.LOG: ew.Log, B.SQRT: ew.Sqrt, B.ABS: ew.Abs,
                                B.NEG: ew.Neg, B.FLOOR: ew.Floor,
                                B.SIN: ew.Sin, B.COS: ew.Cos,
                                B.HARD_SWISH: ew.HardSwish}


@converts(*UNARY_FLOAT, B.RSQRT, B.SQUARE)
def unary_float(node: Node) -> None:
    x = node.value(0)
    if node.op.code == B.HARD_SWISH and is_quantized(node):
        if node.out_element() != x.type.element:
            raise node.unsupported("its input and output element types differ")
        node.define(emit_table(node, hard_swish_table(node)))
        return
    if node.op.code in (B.EXP, B.LOG) and is_quantized(node) and node.type(0).element is E.I8:
        # LiteRT's int8 EXP and LOG are 256-entry tables built in float (LUTPopulate).
        out = node.out_quant()
        fn = _exp if node.op.code == B.EXP else _log
        node.define(node.build(lambda: quant.Table.from_function(
            x, fn, out, node.out_element(), loc=node.loc)))
        return
    if node.op.code == B.ABS and is_quantized(node) and node.type(0).element is E.I8:
        if node.out_element() != x.type.element:
            raise node.unsupported("its input and output element types differ")
        node.define(emit_table(node, abs_table(node)))
        return
    float_only(node)
    if node.op.code == B.RSQRT:
        y = node.emit(ew.Reciprocal, node.emit(ew.Sqrt, x))
    elif node.op.code == B.SQUARE:
        y = node.emit(ew.Mul, x, x)
    else:
        y = node.emit(UNARY_FLOAT[node.op.code], x)
    node.define(y)


def _exp(v: np.ndarray) -> np.ndarray:
    return np.exp(v.astype(np.float64)).astype(np.float32)


def _log(v: np.ndarray) -> np.ndarray:
    return np.log(v.astype(np.float64)).astype(np.float32)


def abs_table(node: Node) -> np.ndarray:
    """LiteRT's integer ABS: ``|x - in_zp|``, rescaled by MultiplyByQuantizedMultiplier with
    the float32 ratio of the scales unless the scales are equal, plus ``out_zp``."""
    q_in, q_out = node.type(0).quant, node.out_quant()
    element = node.type(0).element
    levels = np.arange(element.min, element.max + 1, dtype=np.int64)
    value = np.abs(levels - q_in.zero_point[0])
    s_in, s_out = np.float32(q_in.scale[0]), np.float32(q_out.scale[0])
    if s_in != s_out:
        try:
            m, shift = quantize_multiplier(float(s_in / s_out))
            value = multiply_by_quantized_multiplier(value, m, shift).astype(np.int64)
        except IRError as e:
            raise node.error(str(e)) from None
    table = np.empty(256, dtype=element.dtype)
    table[levels.astype(element.dtype).view(np.uint8)] = clamp_to(value + q_out.zero_point[0],
                                                                  element)
    return table


BINARY_FLOAT: dict[int, type] = {B.DIV: ew.Div, B.POW: ew.Pow, B.MAXIMUM: ew.Max,
                                 B.MINIMUM: ew.Min}


@converts(B.DIV, B.POW, B.SQUARED_DIFFERENCE)
def binary_float(node: Node) -> None:
    float_only(node, 0, 1)
    a, b = node.value(0), node.value(1)
    clamp = activation(node) if node.op.code == B.DIV else None
    if node.op.code == B.SQUARED_DIFFERENCE:
        d = node.emit(ew.Sub, a, b)
        y = node.emit(ew.Mul, d, d)
    else:
        y = node.emit(BINARY_FLOAT[node.op.code], a, b)
    node.define(float_activation(node, y, clamp))


@converts(B.MAXIMUM, B.MINIMUM)
def maximum(node: Node) -> None:
    cls = BINARY_FLOAT[node.op.code]
    a, b = node.value(0), node.value(1)
    if not same_quantizations(node, (0, 1)):
        node.define(node.emit(cls, a, b))
        return
    # LiteRT compares stored values. Under one quantization that is the maximum of the real
    # values, and quantizing a dequantized value gives back its stored value exactly.
    real = node.emit(cls, *(node.emit(host.Dequantize, v, to=E.F32) for v in (a, b)))
    out = TensorType(real.type.shape, a.type.element, a.type.quant)
    node.define(node.build(lambda: host.Quantize.to_type(real, out, rounding="half_away",
                                                         loc=node.loc)))


def relu_table(node: Node, positive: float, negative: float, alpha: int = 1) -> np.ndarray:
    """The 256-entry table of LiteRT's integer LEAKY_RELU, or PRELU with one alpha value:
    ``out_zp + MultiplyByQuantizedMultiplier(x - in_zp, m_pos)`` for x >= in_zp and
    ``out_zp + MultiplyByQuantizedMultiplier((x - in_zp) · alpha, m_neg)`` below (``alpha``
    is PRELU's stored alpha minus its zero point, 1 for LEAKY_RELU). The multipliers are the
    float32 scale products the kernels' Prepare computes."""
    q_in, q_out = node.type(0).quant, node.out_quant()
    element = node.type(0).element
    levels = np.arange(element.min, element.max + 1, dtype=np.int64)
    centred = levels - q_in.zero_point[0]
    try:
        m_pos, s_pos = quantize_multiplier(positive)
        m_neg, s_neg = quantize_multiplier(negative)
        pos = multiply_by_quantized_multiplier(centred, m_pos, s_pos).astype(np.int64)
        neg = multiply_by_quantized_multiplier(centred * alpha, m_neg, s_neg).astype(np.int64)
    except IRError as e:
        raise node.error(str(e)) from None
    values = clamp_to(np.where(centred >= 0, pos, neg) + q_out.zero_point[0], element)
    table = np.empty(256, dtype=element.dtype)
    table[levels.astype(element.dtype).view(np.uint8)] = values
    return table


def emit_table(node: Node, table: np.ndarray) -> Value:
    out = node.out_quant()
    return node.emit(quant.Table, node.value(0), table=table, output_scale=out.scale[0],
                     output_zero_point=out.zero_point[0])


@converts(B.LEAKY_RELU)
def leaky_relu(node: Node) -> None:
    alpha = float(np.float32(node.options.get("Alpha", 0.0)))
    if is_quantized(node):
        if node.out_element() != node.type(0).element:
            raise node.unsupported("its input and output element types differ")
        f = np.float32
        s_in, s_out = f(node.type(0).quant.scale[0]), f(node.out_quant().scale[0])
        node.define(emit_table(node, relu_table(node, float(s_in / s_out),
                                                 float(s_in * f(alpha) / s_out))))
        return
    node.define(node.emit(ew.LeakyRelu, node.value(0), alpha=alpha))


@converts(B.PRELU)
def prelu(node: Node) -> None:
    if not is_quantized(node):
        float_only(node, 1)
        node.define(node.emit(ew.PRelu, node.value(0), node.value(1)))
        return
    x_type, alpha_type = node.type(0), node.type(1)
    if alpha_type.element != x_type.element or alpha_type.quant is None \
            or not alpha_type.quant.is_per_tensor:
        raise node.unsupported(f"alpha '{node.tensor(1).name}' must be {x_type.element} "
                               "quantized per tensor")
    if node.out_element() != x_type.element:
        raise node.unsupported("its input and output element types differ")
    alphas = node.require_const(1, "alpha")
    if alphas.ndim > x_type.rank or \
            tuple(np.broadcast_shapes(x_type.shape, alphas.shape)) != x_type.shape:
        raise node.error(f"alpha '{node.tensor(1).name}' {list(alphas.shape)} does not "
                         f"broadcast to the input {list(x_type.shape)}")
    padded = alphas.reshape((1,) * (x_type.rank - alphas.ndim) + alphas.shape)
    varying = [a for a in range(x_type.rank) if (np.ptp(padded, axis=a) != 0).any()]
    if len(varying) > 1:
        raise node.unsupported(f"alpha '{node.tensor(1).name}' varies along axes {varying}; a "
                               f"quantized PRELU is imported for an alpha that varies along "
                               "one axis at most")
    f = np.float32
    s_in, s_out = f(x_type.quant.scale[0]), f(node.out_quant().scale[0])
    positive = float(s_in / s_out)
    negative = float(s_in * f(alpha_type.quant.scale[0]) / s_out)
    alpha_zp = alpha_type.quant.zero_point[0]

    def table(stored: int) -> np.ndarray:
        # LiteRT multiplies by the alpha's stored value minus its zero point, then rescales.
        return relu_table(node, positive, negative, int(stored) - alpha_zp)

    if not varying:
        node.define(emit_table(node, table(padded.reshape(-1)[0])))
        return
    # One table per run of equal alphas along the axis: split, look up, concatenate.
    axis = varying[0]
    line = padded.reshape(-1) if padded.size == padded.shape[axis] else \
        np.moveaxis(padded, axis, 0).reshape(padded.shape[axis], -1)[:, 0]
    starts = [0] + [i for i in range(1, line.size) if line[i] != line[i - 1]]
    sizes = [b - a for a, b in zip(starts, [*starts[1:], line.size], strict=True)]
    parts = emit_op(node, tensor.Split, node.value(0), int64_constant(node, sizes), axis=axis)
    out = node.out_quant()
    looked_up = [node.emit(quant.Table, p, table=table(line[a]), output_scale=out.scale[0],
                           output_zero_point=out.zero_point[0])
                 for p, a in zip(parts, starts, strict=True)]
    node.define(node.build(lambda: quant.Concat.from_scales(looked_up, out, axis, loc=node.loc)))


# --------------------------------------------------------------------------- more data movement


def axis_of(node: Node, axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < rank:
        raise node.error(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank


def define_all(node: Node, values: list[Value]) -> None:
    if len(values) != len(node.op.outputs):
        raise node.error(f"it computes {len(values)} outputs but lists {len(node.op.outputs)}")
    for k, v in enumerate(values):
        node.define(v, k)


def split_into(node: Node, x_index: int, axis: int, sizes: list[int]) -> None:
    x = node.value(x_index)
    if x.type.quant is not None:
        for k in range(len(node.op.outputs)):
            q_out = node.graph.quantization(node.out(k))
            if q_out != x.type.quant:
                raise node.unsupported(f"output '{node.out(k).name}' is quantized {q_out} but "
                                       f"input '{node.tensor(x_index).name}' {x.type.quant}; "
                                       "the operator copies stored values, so they must match")
    if len(sizes) == 1:
        define_all(node, [node.emit(Identity, x)])
        return
    define_all(node, emit_op(node, tensor.Split, x, int64_constant(node, sizes), axis=axis))


@converts(B.SPLIT)
def split(node: Node) -> None:
    rank = node.type(1).rank
    axis = axis_of(node, int(node.require_const(0, "axis").reshape(-1)[0]), rank)
    parts = int(node.options.get("NumSplits", 0))
    dim = node.type(1).shape[axis]
    if parts < 1 or dim % parts:
        raise node.error(f"axis {axis} of size {dim} does not split into {parts} equal parts")
    split_into(node, 1, axis, [dim // parts] * parts)


@converts(B.SPLIT_V)
def split_v(node: Node) -> None:
    rank = node.type(0).rank
    axis = axis_of(node, int(node.require_const(2, "axis").reshape(-1)[0]), rank)
    sizes = [int(v) for v in node.require_const(1, "size splits").reshape(-1)]
    dim = node.type(0).shape[axis]
    if sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = dim - sum(v for v in sizes if v != -1)
    if any(v < 0 for v in sizes) or sum(sizes) != dim:
        raise node.error(f"sizes {sizes} do not split axis {axis} of size {dim}")
    if any(v == 0 for v in sizes):
        raise node.unsupported(f"sizes {sizes} make an empty output")
    split_into(node, 0, axis, sizes)


def copies_stored_values(node: Node, i: int = 0) -> None:
    """A data-movement operator: a quantized output must be quantized like input ``i``."""
    if is_quantized_any(node, i):
        same_quantization(node, i)


@converts(B.STRIDED_SLICE)
def strided_slice(node: Node) -> None:
    x = node.value(0)
    shape = x.type.shape
    rank = len(shape)
    begin = [int(v) for v in node.require_const(1, "begin").reshape(-1)]
    end = [int(v) for v in node.require_const(2, "end").reshape(-1)]
    strides = ([int(v) for v in node.require_const(3, "strides").reshape(-1)]
               if node.has_input(3) else [1] * len(begin))
    for name, label in (("EllipsisMask", "ellipsis_mask"), ("NewAxisMask", "new_axis_mask")):
        if int(node.options.get(name, 0)):
            raise node.unsupported(f"its {label} {int(node.options[name])} is not supported")
    if not len(begin) == len(end) == len(strides) == rank:
        raise node.error(f"begin, end and strides must have {rank} values, not {len(begin)}, "
                         f"{len(end)} and {len(strides)}")
    copies_stored_values(node)
    begin_mask = int(node.options.get("BeginMask", 0))
    end_mask = int(node.options.get("EndMask", 0))
    shrink = int(node.options.get("ShrinkAxisMask", 0))
    offset = bool(node.options.get("Offset", False))
    starts, ends, out_shape = [], [], []
    for axis in range(rank):
        step = strides[axis]
        if step == 0:
            raise node.error(f"its stride on axis {axis} is 0")
        dim = shape[axis]
        if shrink >> axis & 1:
            # One element, at begin; the axis is dropped.
            b = begin[axis] + dim if begin[axis] < 0 else begin[axis]
            if not 0 <= b < dim:
                raise node.error(f"it takes index {begin[axis]} of axis {axis} of size {dim}")
            start, stop, step = b, b + 1, 1
        else:
            start = None if begin_mask >> axis & 1 else begin[axis]
            stop = (None if end_mask >> axis & 1
                    else begin[axis] + end[axis] if offset else end[axis])
            start, stop, step = slice(start, stop, step).indices(dim)
        count = len(range(start, stop, step))
        if count == 0:
            raise node.unsupported(f"it makes axis {axis} empty")
        strides[axis] = step
        starts.append(start)
        # A stop below 0 (walking backwards past index 0) as the lowest int64: Slice clamps it.
        ends.append(stop if stop >= 0 else np.iinfo(np.int64).min)
        if not shrink >> axis & 1:
            out_shape.append(count)
    y = node.emit(tensor.Slice, x, int64_constant(node, starts), int64_constant(node, ends),
                  int64_constant(node, list(range(rank))), int64_constant(node, strides))
    if shrink:
        y = node.emit(tensor.Reshape, y, int64_constant(node, out_shape))
    node.define(y)


@converts(B.GATHER)
def gather(node: Node) -> None:
    x_type = node.type(0)
    if int(node.options.get("BatchDims", 0)):
        raise node.unsupported(f"batch_dims {node.options['BatchDims']} is not supported")
    axis = axis_of(node, int(node.options.get("Axis", 0)), x_type.rank)
    copies_stored_values(node)
    indices = node.const(1)
    if indices is not None and ((indices < 0) | (indices >= x_type.shape[axis])).any():
        raise node.error(f"indices '{node.tensor(1).name}' leave axis {axis} of size "
                         f"{x_type.shape[axis]}")
    node.define(node.emit(tensor.Gather, node.value(0), node.value(1), axis=axis))


def nearest_indices(node: Node, in_size: int, out_size: int, align: bool,
                    half: bool) -> np.ndarray:
    """Source index of each output row/column, in float32 as LiteRT's GetNearestNeighbor."""
    f = np.float32
    scale = (f(in_size - 1) / f(out_size - 1) if align and out_size > 1
             else f(in_size) / f(out_size))
    pos = (np.arange(out_size, dtype=np.float32) + f(0.5 if half else 0.0)) * scale
    # TfLiteRound rounds half away from zero.
    idx = round_half_away(pos) if align else np.floor(pos)
    idx = np.minimum(idx.astype(np.int64), in_size - 1)
    return np.maximum(idx, 0) if half else idx


@converts(B.RESIZE_NEAREST_NEIGHBOR)
def resize_nearest(node: Node) -> None:
    x_type = rank4(node)
    size = node.require_const(1, "size").reshape(-1)
    if size.size != 2 or (size < 1).any():
        raise node.error(f"its size {size.tolist()} is not two positive integers")
    align = bool(node.options.get("AlignCorners", False))
    half = bool(node.options.get("HalfPixelCenters", False))
    copies_stored_values(node)
    # Static shapes: the source rows and columns are known at import; two gathers pick them.
    y = node.value(0)
    for axis, out_size in ((1, int(size[0])), (2, int(size[1]))):
        idx = nearest_indices(node, x_type.shape[axis], out_size, align, half)
        if out_size != x_type.shape[axis] or (idx != np.arange(out_size)).any():
            y = node.emit(tensor.Gather, y, int64_constant(node, idx), axis=axis)
    if y is node.value(0):
        y = node.emit(Identity, y)
    node.define(y)


@converts(B.DEPTH_TO_SPACE, B.SPACE_TO_DEPTH)
def depth_to_space(node: Node) -> None:
    rank4(node)
    block = int(node.options.get("BlockSize", 0))
    if block < 1:
        raise node.error(f"its block size {block} is not positive")
    copies_stored_values(node)
    x = transpose(node, node.value(0), TO_NCHW)
    # TFLite's NHWC channel order (row, column, channel) is ONNX's DCR order.
    if node.op.code == B.DEPTH_TO_SPACE:
        y = node.emit(tensor.DepthToSpace, x, blocksize=block, mode="DCR")
    else:
        y = node.emit(tensor.SpaceToDepth, x, blocksize=block)
    node.define(transpose(node, y, TO_NHWC))


@converts(B.PACK)
def pack(node: Node) -> None:
    count = node.input_count
    if int(node.options.get("ValuesCount", count)) != count:
        raise node.error(f"values_count {node.options['ValuesCount']} but {count} inputs")
    rank = node.type(0).rank
    axis = axis_of(node, int(node.options.get("Axis", 0)), rank + 1)
    same_quantizations(node, tuple(range(count)))
    parts = []
    for i in range(count):
        shape = list(node.type(i).shape)
        shape.insert(axis, 1)
        parts.append(node.emit(tensor.Reshape, node.value(i), int64_constant(node, shape)))
    y = parts[0] if count == 1 else node.emit(tensor.Concat, *parts, axis=axis)
    node.define(y)


@converts(B.UNPACK)
def unpack(node: Node) -> None:
    x = node.value(0)
    shape = list(x.type.shape)
    axis = axis_of(node, int(node.options.get("Axis", 0)), len(shape))
    num = int(node.options.get("Num", shape[axis]))
    if num != shape[axis]:
        raise node.error(f"num {num} but axis {axis} has size {shape[axis]}")
    if x.type.quant is not None:
        for k in range(len(node.op.outputs)):
            if node.graph.quantization(node.out(k)) != x.type.quant:
                raise node.unsupported(f"output '{node.out(k).name}' is quantized unlike "
                                       "the input; the operator copies stored values")
    parts = ([x] if num == 1 else
             emit_op(node, tensor.Split, x, int64_constant(node, [1] * num), axis=axis))
    rest = shape[:axis] + shape[axis + 1:]
    define_all(node, [node.emit(tensor.Reshape, p, int64_constant(node, rest)) for p in parts])


# --------------------------------------------------------------------------- more reductions


REDUCERS: dict[int, type] = {B.SUM: reduce.ReduceSum, B.REDUCE_MAX: reduce.ReduceMax,
                             B.REDUCE_MIN: reduce.ReduceMin, B.REDUCE_PROD: reduce.ReduceProd}


@converts(*REDUCERS)
def reducer(node: Node) -> None:
    x = node.value(0)
    rank = x.type.rank
    raw = [int(a) for a in node.require_const(1, "axes").reshape(-1)]
    axes = tuple(sorted({axis_of(node, a, rank) for a in raw}))
    if not axes:
        raise node.unsupported(f"a {node.op.name} over no axes is not supported")
    keep = int(bool(node.options.get("KeepDims", False)))
    code = node.op.code
    if code in (B.REDUCE_MAX, B.REDUCE_MIN):
        # LiteRT takes the extreme stored value: exact under one quantization.
        copies_stored_values(node)
    else:
        float_only(node)
    if code == B.SUM:
        y = node.emit(reduce.ReduceSum, x, int64_constant(node, axes), keepdims=keep)
    else:
        y = node.emit(REDUCERS[code], x, axes=axes, keepdims=keep)
    node.define(y)


@converts(B.ARG_MAX, B.ARG_MIN)
def arg_max(node: Node) -> None:
    x_type = node.type(0)
    is_quantized(node)  # float32, int8 or uint8
    axis = axis_of(node, int(node.require_const(1, "axis").reshape(-1)[0]), x_type.rank)
    # Stored int8/uint8 values order like the real values they stand for.
    cls = reduce.ArgMax if node.op.code == B.ARG_MAX else reduce.ArgMin
    y = node.emit(cls, node.value(0), axis=axis, keepdims=0)
    element = node.out_element()
    if element not in (E.I32, E.I64):
        raise node.unsupported(f"output type {element} is not supported (int32 or int64)")
    if element is E.I32:
        y = node.emit(ew.Cast, y, to=E.I32)
    node.define(y)


# --------------------------------------------------------------------------- matrix products


@converts(B.BATCH_MATMUL)
def batch_matmul(node: Node) -> None:
    quantized = {is_quantized(node, i) for i in (0, 1)}
    if len(quantized) != 1 or node.type(0).element != node.type(1).element:
        raise node.unsupported(f"its inputs mix {node.type(0).element} and "
                               f"{node.type(1).element}")
    values = []
    for i, key in ((0, "AdjX"), (1, "AdjY")):
        v = node.value(i)
        if v.type.rank < 2:
            raise node.error(f"input '{node.tensor(i).name}' has rank {v.type.rank}; expected "
                             "at least 2")
        if node.options.get(key, False):
            perm = (*range(v.type.rank - 2), v.type.rank - 1, v.type.rank - 2)
            v = transpose(node, v, perm)
        values.append(v)
    if quantized.pop():
        if node.type(1).quant is not None and not node.type(1).quant.is_per_tensor:
            raise node.unsupported(f"input '{node.tensor(1).name}' is quantized per axis; a "
                                   "quantized BATCH_MATMUL takes per-tensor operands")
        out = node.out_quant()
        a, b = values
        node.define(node.build(lambda: quant.MatMul.from_scales(a, b, None, out,
                                                                loc=node.loc)))
        return
    node.define(node.emit(nn.MatMul, *values))


@converts(B.TRANSPOSE_CONV)
def transpose_conv(node: Node) -> None:
    x_type = rank4(node, 2)
    out_shape = [int(v) for v in node.require_const(0, "output shape").reshape(-1)]
    quantized = is_quantized(node, 2)
    filt = node.require_const(1, "filter") if quantized else float_weights(node, 1, "filter")
    if filt.ndim != 4 or len(out_shape) != 4:
        raise node.error("its filter and output shape must have 4 dimensions")
    out_channels, kh, kw, in_channels = filt.shape
    if in_channels != x_type.shape[3] or out_shape[3] != out_channels \
            or out_shape[0] != x_type.shape[0]:
        raise node.error(f"filter {list(filt.shape)} does not fit input "
                         f"{list(x_type.shape)} and output shape {out_shape}")
    sh, sw = int(node.options.get("StrideH", 1)), int(node.options.get("StrideW", 1))
    if sh < 1 or sw < 1:
        raise node.error(f"its strides {sh}x{sw} are not positive")
    # The padding of the convolution this one transposes (from the output's size); TFLite
    # crops the odd element at the end.
    begins = [spatial_padding(node, out_shape[1], kh, sh, 1)[0],
              spatial_padding(node, out_shape[2], kw, sw, 1)[0]]
    clamp = activation(node)
    if quantized:
        transpose_conv_quantized(node, out_shape, filt, begins, (sh, sw), clamp)
        return
    pads_end, extra = [], []
    for size, out, k, s, begin in ((x_type.shape[1], out_shape[1], kh, sh, begins[0]),
                                   (x_type.shape[2], out_shape[2], kw, sw, begins[1])):
        end = (size - 1) * s + k - begin - out  # every contribution, less what is cropped
        if end < 0:
            # Rows past every contribution get only the bias: ONNX's output_padding.
            if -end >= s:
                raise node.unsupported(f"output size {out} is larger than the transposed "
                                       f"convolution reaches")
            extra.append(-end)
            end = 0
        else:
            extra.append(0)
        pads_end.append(end)
    w = node.constant(np.ascontiguousarray(filt.transpose(3, 0, 1, 2)), None,
                      node.tensor(1).name)
    bias = float_bias(node, 3, out_channels)
    x = transpose(node, node.value(2), TO_NCHW)
    attrs: dict[str, object] = {"kernel_shape": (kh, kw), "strides": (sh, sw),
                                "pads": (*begins, *pads_end)}
    if any(extra):
        attrs["output_padding"] = tuple(extra)
    y = node.emit(nn.ConvTranspose, x, w, bias, **attrs)
    y = float_activation(node, y, clamp)
    node.define(transpose(node, y, TO_NHWC))


def transpose_conv_quantized(node: Node, out_shape: list[int], filt: np.ndarray,
                             begins: list[int], strides: tuple[int, int],
                             clamp: tuple[float | None, float | None] | None) -> None:
    """A quantized TRANSPOSE_CONV as the stride-1 ``quant.Conv`` it equals: the input spread
    out with zero points between its rows and columns (they contribute nothing, as LiteRT
    skips them), padded by ``kernel - 1 - begin``, and the filter flipped. LiteRT sums the
    same int32 products and rescales each channel as a convolution does."""
    x = node.value(2)
    n, height, width, channels = x.type.shape
    out_channels, kh, kw, _ = filt.shape
    sh, sw = strides
    zp = x.type.quant.zero_point[0]
    zero = node.constant(np.array(zp, x.type.dtype), TensorType((), x.type.element,
                                                                 x.type.quant))
    if sh > 1 or sw > 1:
        spread = node.emit(tensor.Reshape, x, int64_constant(node, (n, height, 1, width, 1,
                                                                    channels)))
        pads = int64_constant(node, [0, 0, 0, 0, 0, 0, 0, 0, sh - 1, 0, sw - 1, 0])
        spread = node.emit(tensor.Pad, spread, pads, zero)
        x = node.emit(tensor.Reshape, spread, int64_constant(node, (n, height * sh,
                                                                    width * sw, channels)))
    conv_pads = []
    crop = []
    for axis, (size, out, k, begin) in enumerate(((height * sh, out_shape[1], kh, begins[0]),
                                                  (width * sw, out_shape[2], kw, begins[1]))):
        before = k - 1 - begin
        after = out + k - 1 - size - before
        if before < 0:
            raise node.error(f"its padding {begin} on axis {axis + 1} exceeds the filter")
        crop.append(size + min(after, 0))
        conv_pads.append((before, max(after, 0)))
    if crop != [height * sh, width * sw]:
        x = node.emit(tensor.Slice, x, int64_constant(node, (0, 0)), int64_constant(node, crop),
                      int64_constant(node, (1, 2)))
    w = weights_i8(node, 1, filt, 0, 0, (out_channels, channels, kh, kw),
                   lambda a: a[:, ::-1, ::-1, :].transpose(0, 3, 1, 2))
    bias = bias_i32(node, 3, x.type.quant.scale[0], w.type.quant.scale, out_channels)
    out = node.out_quant()
    x_nchw = transpose(node, x, TO_NCHW)
    pads = (conv_pads[0][0], conv_pads[1][0], conv_pads[0][1], conv_pads[1][1])
    y = node.build(lambda: quant.Conv.from_scales(x_nchw, w, bias, out, clamp=clamp,
                                                  loc=node.loc, strides=(1, 1), pads=pads,
                                                  dilations=(1, 1)))
    node.define(transpose(node, y, TO_NHWC))


# --------------------------------------------------------------------------- selection and casts


@converts(B.SELECT, B.SELECT_V2)
def select(node: Node) -> None:
    cond = node.value(0)
    if cond.type.element is not E.BOOL:
        raise node.error(f"condition '{node.tensor(0).name}' is {cond.type.element}, not bool")
    same_quantizations(node, (1, 2))
    x_type = node.type(1)
    if node.op.code == B.SELECT and cond.type.rank == 1 and x_type.rank > 1:
        # SELECT's rank-1 condition picks whole slices along the first axis.
        cond = node.emit(tensor.Reshape, cond,
                         int64_constant(node, (cond.type.shape[0],) + (1,) * (x_type.rank - 1)))
    node.define(node.emit(ew.Where, cond, node.value(1), node.value(2)))


@converts(B.CAST)
def cast(node: Node) -> None:
    no_quantization(node)
    element = node.out_element()
    if node.graph.quantization(node.out()) is not None:
        raise node.unsupported(f"output '{node.out().name}' is quantized; CAST is imported for "
                               "unquantized tensors only")
    node.define(node.emit(ew.Cast, node.value(0), to=element))


@converts(B.FILL)
def fill(node: Node) -> None:
    dims = [int(d) for d in node.require_const(0, "dims").reshape(-1)]
    if any(d < 1 for d in dims):
        raise node.error(f"its dims {dims} are not positive")
    value = node.value(1)
    if value.type.rank != 0 and value.type.shape != (1,):
        raise node.error(f"value '{node.tensor(1).name}' is not a scalar")
    if value.type.quant is not None:
        same_quantization(node, 1)
    node.define(node.emit(tensor.Expand, value, int64_constant(node, dims)))


# --------------------------------------------------------------------------- int8 HARD_SWISH


def _i16(x: np.ndarray) -> np.ndarray:
    """Saturate to int16 (kept as int64)."""
    return np.clip(x, -(1 << 15), (1 << 15) - 1)


def _rounding_doubling_high_mul16(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int16."""
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    t = ab + nudge
    high = np.where(t >= 0, t >> 15, -((-t) >> 15))  # C++ division truncates toward zero
    return np.where((a == -(1 << 15)) & (b == -(1 << 15)), (1 << 15) - 1, high)


def _rounding_divide_by_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def _int16_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier, then DownScaleInt32ToInt16Multiplier."""
    m, shift = quantize_multiplier(real)
    if m >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1, shift
    return (m + (1 << 15)) >> 16, shift


def hard_swish_table(node: Node) -> np.ndarray:
    """The 256-entry table of LiteRT's integer HARD_SWISH reference kernel: int16 fixed point,
    with its multipliers from the float32 scales as the kernel's Prepare derives them."""
    q_in, q_out = node.type(0).quant, node.out_quant()
    element = node.type(0).element
    f = np.float32
    hires = f(1.0 / 128.0) * f(q_in.scale[0])
    try:
        out_m, out_exp = _int16_multiplier(float(hires / f(q_out.scale[0])))
        relu_m, relu_exp = _int16_multiplier(float(hires / f(3.0 / 32768.0)))
    except IRError as e:
        raise node.error(str(e)) from None
    if out_exp > 0:
        raise node.unsupported(f"output scale {q_out.scale[0]:g} is too small for input scale "
                               f"{q_in.scale[0]:g} (LiteRT's kernel requires a right shift)")
    levels = np.arange(element.min, element.max + 1, dtype=np.int64)
    hires_value = (levels - q_in.zero_point[0]) * 128
    preshift_out = _rounding_doubling_high_mul16(hires_value, out_m)
    reluish = hires_value
    if relu_exp > 0:
        reluish = _i16(reluish << (relu_exp - 1))
    reluish = _rounding_doubling_high_mul16(reluish, relu_m)
    if relu_exp > 0:
        reluish = _i16(reluish << 1)
    if relu_exp < 0:
        reluish = _rounding_divide_by_pot(reluish, -relu_exp)
    reluish = (reluish + (1 << 15)) >> 1
    product = reluish * preshift_out
    # SaturatingDoublingHighMul: no rounding nudge, truncation toward zero.
    high = np.where(product >= 0, product >> 15, -((-product) >> 15))
    high = np.where((reluish == -(1 << 15)) & (preshift_out == -(1 << 15)), (1 << 15) - 1, high)
    out = _rounding_divide_by_pot(high, -out_exp) + q_out.zero_point[0]
    table = np.empty(256, dtype=element.dtype)
    table[levels.astype(element.dtype).view(np.uint8)] = clamp_to(out, element)
    return table


# --------------------------------------------------------------------------- slicing and tiling


@converts(B.SLICE)
def slice_op(node: Node) -> None:
    x = node.value(0)
    shape = x.type.shape
    begin = [int(v) for v in node.require_const(1, "begin").reshape(-1)]
    size = [int(v) for v in node.require_const(2, "size").reshape(-1)]
    if not len(begin) == len(size) == len(shape):
        raise node.error(f"begin {begin} and size {size} must have {len(shape)} values")
    ends = []
    for axis, (b, n, dim) in enumerate(zip(begin, size, shape, strict=True)):
        end = dim if n == -1 else b + n
        if not 0 <= b < end <= dim:
            raise node.error(f"begin {b} and size {n} leave axis {axis} of size {dim}")
        ends.append(end)
    copies_stored_values(node)
    node.define(node.emit(tensor.Slice, x, int64_constant(node, begin), int64_constant(node, ends)))


@converts(B.TILE)
def tile(node: Node) -> None:
    x = node.value(0)
    repeats = [int(v) for v in node.require_const(1, "multiples").reshape(-1)]
    if len(repeats) != x.type.rank or any(r < 1 for r in repeats):
        raise node.error(f"multiples {repeats} must be {x.type.rank} positive integers")
    copies_stored_values(node)
    node.define(node.emit(tensor.Tile, x, int64_constant(node, repeats)))


@converts(B.BROADCAST_TO)
def broadcast_to(node: Node) -> None:
    x = node.value(0)
    shape = [int(v) for v in node.require_const(1, "shape").reshape(-1)]
    if len(shape) < x.type.rank or any(d < 1 for d in shape):
        raise node.error(f"shape {shape} cannot hold an input of rank {x.type.rank}")
    copies_stored_values(node)
    node.define(node.emit(tensor.Expand, x, int64_constant(node, shape)))


@converts(B.MIRROR_PAD)
def mirror_pad(node: Node) -> None:
    x = node.value(0)
    rank = x.type.rank
    if int(node.options.get("Mode", tflite.MirrorPadMode.REFLECT)) != \
            tflite.MirrorPadMode.REFLECT:
        raise node.unsupported("SYMMETRIC mirror padding is not supported (the IR's Pad "
                               "reflects without repeating the edge)")
    paddings = node.require_const(1, "paddings")
    if paddings.shape != (rank, 2) or (paddings < 0).any():
        raise node.error(f"paddings '{node.tensor(1).name}' must be {rank} x 2 non-negative "
                         "integers")
    for axis, (lo, hi) in enumerate(paddings.tolist()):
        if max(lo, hi) >= x.type.shape[axis]:
            raise node.error(f"padding {max(lo, hi)} on axis {axis} of size "
                             f"{x.type.shape[axis]} reaches past the opposite edge")
    copies_stored_values(node)
    pads = int64_constant(node, [*paddings[:, 0], *paddings[:, 1]])
    node.define(node.emit(tensor.Pad, x, pads, None, mode="reflect"))


@converts(B.LOG_SOFTMAX)
def log_softmax(node: Node) -> None:
    float_only(node)
    node.define(node.emit(reduce.LogSoftmax, node.value(0), axis=-1))


# --------------------------------------------------------------------------- comparisons, logic


COMPARISONS: dict[int, type] = {B.LESS: ew.Less, B.LESS_EQUAL: ew.LessOrEqual,
                                B.GREATER: ew.Greater, B.GREATER_EQUAL: ew.GreaterOrEqual,
                                B.EQUAL: ew.Equal, B.NOT_EQUAL: ew.Equal}


@converts(*COMPARISONS)
def comparison(node: Node) -> None:
    for i in (0, 1):
        no_quantization(node, i)
    y = node.emit(COMPARISONS[node.op.code], node.value(0), node.value(1))
    if node.op.code == B.NOT_EQUAL:
        y = node.emit(ew.Not, y)
    node.define(y)


LOGICAL: dict[int, type] = {B.LOGICAL_AND: ew.And, B.LOGICAL_OR: ew.Or}


@converts(B.LOGICAL_AND, B.LOGICAL_OR, B.LOGICAL_NOT)
def logical(node: Node) -> None:
    count = 1 if node.op.code == B.LOGICAL_NOT else 2
    for i in range(count):
        if node.type(i).element is not E.BOOL:
            raise node.error(f"input '{node.tensor(i).name}' is {node.type(i).element}, not "
                             "bool")
    if count == 1:
        node.define(node.emit(ew.Not, node.value(0)))
    else:
        node.define(node.emit(LOGICAL[node.op.code], node.value(0), node.value(1)))


# --------------------------------------------------------------------------- space <-> batch


def block_and_pairs(node: Node, what: str) -> tuple[list[int], np.ndarray]:
    """The constant block shape (2 values) and paddings/crops (2 x 2) of a rank-4 operator."""
    rank4(node)
    block = [int(v) for v in node.require_const(1, "block shape").reshape(-1)]
    pairs = node.require_const(2, what)
    if len(block) != 2 or any(b < 1 for b in block):
        raise node.unsupported(f"block shape {block} is not two positive integers (the "
                               "operator is imported for N x H x W x C tensors)")
    if pairs.shape != (2, 2) or (pairs < 0).any():
        raise node.error(f"{what} '{node.tensor(2).name}' must be 2 x 2 non-negative integers")
    return block, pairs.astype(np.int64)


@converts(B.SPACE_TO_BATCH_ND)
def space_to_batch(node: Node) -> None:
    (bh, bw), pads = block_and_pairs(node, "paddings")
    x = node.value(0)
    n, height, width, channels = x.type.shape
    hp, wp = height + pads[0].sum(), width + pads[1].sum()
    if hp % bh or wp % bw:
        raise node.error(f"the padded size {hp}x{wp} is not a multiple of the block {bh}x{bw}")
    copies_stored_values(node)
    if pads.any():
        # Quantized tensors are padded with their zero point (real zero), as TFLite does.
        fill = np.array(x.type.quant.zero_point[0] if x.type.quant else 0, x.type.dtype)
        value = node.constant(fill, TensorType((), x.type.element, x.type.quant))
        x = node.emit(tensor.Pad, x, int64_constant(node, [0, pads[0][0], pads[1][0], 0, 0,
                                                           pads[0][1], pads[1][1], 0]), value)
    x = node.emit(tensor.Reshape, x, int64_constant(node, (n, hp // bh, bh, wp // bw, bw,
                                                           channels)))
    # Output batch (i · bw + j) · N + n holds the rows ≡ i and columns ≡ j of image n.
    x = transpose(node, x, (2, 4, 0, 1, 3, 5))
    node.define(node.emit(tensor.Reshape, x, int64_constant(
        node, (bh * bw * n, hp // bh, wp // bw, channels))))


@converts(B.BATCH_TO_SPACE_ND)
def batch_to_space(node: Node) -> None:
    (bh, bw), crops = block_and_pairs(node, "crops")
    x = node.value(0)
    batch, height, width, channels = x.type.shape
    if batch % (bh * bw):
        raise node.error(f"batch {batch} is not a multiple of the block {bh}x{bw}")
    n = batch // (bh * bw)
    full_h, full_w = height * bh, width * bw
    if crops[0].sum() >= full_h or crops[1].sum() >= full_w:
        raise node.error(f"crops {crops.tolist()} leave nothing of {full_h}x{full_w}")
    copies_stored_values(node)
    x = node.emit(tensor.Reshape, x, int64_constant(node, (bh, bw, n, height, width,
                                                           channels)))
    x = transpose(node, x, (2, 3, 0, 4, 1, 5))
    x = node.emit(tensor.Reshape, x, int64_constant(node, (n, full_h, full_w, channels)))
    if crops.any():
        x = node.emit(tensor.Slice, x, int64_constant(node, (crops[0][0], crops[1][0])),
                      int64_constant(node, (full_h - crops[0][1], full_w - crops[1][1])),
                      int64_constant(node, (1, 2)))
    node.define(x)


# --------------------------------------------------------------------------- shapes, reversal


@converts(B.SHAPE)
def shape_op(node: Node) -> None:
    element = node.out_element()
    if element not in (E.I32, E.I64):
        raise node.unsupported(f"output type {element} is not supported (int32 or int64)")
    # Static shapes: onnx.Shape knows its value, so shape arithmetic after it folds.
    y = node.emit(tensor.Shape, node.value(0))
    if element is E.I32:
        y = node.emit(ew.Cast, y, to=E.I32)
    node.define(y)


@converts(B.REVERSE_V2)
def reverse(node: Node) -> None:
    x = node.value(0)
    axes = sorted({axis_of(node, int(a), x.type.rank)
                   for a in node.require_const(1, "axes").reshape(-1)})
    if not axes:
        raise node.unsupported("a reversal over no axes is not supported")
    copies_stored_values(node)
    lowest = np.iinfo(np.int64).min
    node.define(node.emit(tensor.Slice, x, int64_constant(node, [-1] * len(axes)),
                          int64_constant(node, [lowest] * len(axes)),
                          int64_constant(node, axes), int64_constant(node, [-1] * len(axes))))
