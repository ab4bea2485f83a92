"""One converter per supported TFLite builtin operator.

A converter reads its :class:`~furiosa.frontends.tflite.importer.Node` (the operator's
tensors and options), emits IR ops and defines the operator's outputs. float32 operators
become ``onnx`` ops with their fused activation as an explicit ``onnx.Relu``/``onnx.Clip``;
int8/uint8 operators become ``quant`` ops whose requantization parameters come from the
tensors' scales (``from_scales``), with the fused activation as their integer clamp.

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
from furiosa.ir.dialects.onnx import elementwise as ew
from furiosa.ir.dialects.onnx import nn, reduce, tensor
from furiosa.ir.quantization import activation_range, round_half_away
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
