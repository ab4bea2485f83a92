"""Kernels of the quant dialect: bit-exact int8/uint8 arithmetic in either arithmetic mode.

``tflite`` ops compute as LiteRT's reference kernels (fixed-point multipliers from the ops'
attributes); ``onnxruntime`` ops as onnxruntime's integer CPU kernels, deriving their float32
scales from the operand and result quantization in the types (the fixed-point attributes are
then unused).

Products of 8-bit values are summed by float32 BLAS through
:func:`furiosa.ir.quantization.exact_matmul`, which cuts the reduction so that every partial
sum stays exactly representable; the int32 accumulator is then recovered exactly, wrapping as
int32 arithmetic does.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from furiosa.ir.dialects.quant import (
    Add,
    AveragePool,
    Concat,
    Conv,
    FloatReference,
    FullyConnected,
    MatMul,
    MaxPool,
    Mean,
    Mul,
    ReduceSum,
    Requantize,
    ResizeBilinear,
    Softmax,
    Sub,
    Table,
    Window,
    activation_bounds,
)
from furiosa.ir.dialects.quant import ConvTranspose as QuantConvTranspose
from furiosa.ir.dialects.quant import LpNormalization as QuantLpNormalization
from furiosa.ir.dialects.quant import ReduceL2 as QuantReduceL2
from furiosa.ir.interpreter import kernel, run_op
from furiosa.ir.quantization import (
    IDENTITY_MULTIPLIER,
    INT32_MAX,
    INT32_MIN,
    average_pool_float32,
    clamp_to,
    combined_scale,
    dequantize,
    dequantize_float32,
    divide_round_half_away,
    exact_matmul,
    global_average_scale,
    multiply_by_quantized_multiplier,
    offset_clamp,
    onnxruntime_table,
    qlinear_add_ratio,
    qlinear_add_values,
    qlinear_mul_scale,
    qlinear_mul_values,
    quantize,
    quantize_float32,
    requantize_float32,
    rint_saturate,
    round_half_away,
    softmax_onnxruntime,
    wrap_int32,
)
from furiosa.ir.types import Quantization, TensorType

ORT = "onnxruntime"


def _zero_point(t: TensorType) -> int:
    assert t.quant is not None
    return t.quant.zero_point[0]


def _quant(t: TensorType) -> Quantization:
    assert t.quant is not None
    return t.quant


def _scale(t: TensorType) -> float:
    return _quant(t).scale[0]


def _per_channel(values: tuple[int, ...], rank: int, axis: int) -> np.ndarray:
    """A per-channel attribute shaped to broadcast along ``axis`` of a rank-``rank`` array."""
    arr = np.asarray(values, dtype=np.int64)
    if arr.size == 1:
        return arr.reshape(())
    shape = [1] * rank
    shape[axis] = arr.size
    return arr.reshape(shape)


def _pad_spatial(x: np.ndarray, pads: tuple[int, ...], value: float | int) -> np.ndarray:
    n = len(pads) // 2
    widths = [(0, 0), (0, 0)] + [(pads[i], pads[i + n]) for i in range(n)]
    return np.pad(x, widths, constant_values=value)


def _window_views(xp: np.ndarray, win: Window, out: tuple[int, ...]) -> Iterator[np.ndarray]:
    """For each kernel offset, the strided view of padded ``xp`` that it meets: (N, C, *out)."""
    for offset in np.ndindex(*win.kernel):
        index = [slice(None), slice(None)]
        for k, d, s, o in zip(offset, win.dilations, win.strides, out, strict=True):
            start = k * d
            index.append(slice(start, start + s * (o - 1) + 1, s))
        yield xp[tuple(index)]


# --------------------------------------------------------------------------- convolution and matmul


_DEPTHWISE_EXACT_TAPS = 512  # 512 products below 2^15 sum below 2^24: exact in float32


def _conv_accumulator(op: Conv, x: np.ndarray, w: np.ndarray,
                      bias: np.ndarray | None) -> np.ndarray:
    """Σ (x - x_zp)·w + bias over each window, exact, as int64 (N, M, *out)."""
    win = op.window()
    out = win.out
    n, c = x.shape[:2]
    m, g = w.shape[0], op.group
    k, positions = math.prod(win.kernel), math.prod(out)
    # Padding with the zero point contributes nothing: it is real zero.
    xc = x.astype(np.float32)
    xc -= np.float32(_zero_point(op.type_of("input")))
    wf = w.astype(np.float32)
    if g == c == m and k <= _DEPTHWISE_EXACT_TAPS:
        # Depthwise: one multiply-add per kernel tap over the whole output, no im2col. Each
        # product is below 2^15 in magnitude, so float32 sums of up to 512 taps are exact.
        xp = _pad_spatial(xc, win.pads, 0.0)
        taps = wf.reshape(m, k)
        total = np.zeros((n, m, *out), np.float32)
        for i, view in enumerate(_window_views(xp, win, out)):
            total += view * taps[:, i].reshape((1, m) + (1,) * len(out))
        acc = total.astype(np.int64)
    else:
        if all(kk == 1 for kk in win.kernel) and all(s == 1 for s in win.strides) \
                and not any(win.pads):
            cols = xc.reshape(n, g, c // g, positions)  # a 1x1 convolution needs no im2col
        else:
            xp = _pad_spatial(xc, win.pads, 0.0)
            cols = np.stack(list(_window_views(xp, win, out)), axis=2)  # (N, C, K, *out)
            cols = cols.reshape(n, g, (c // g) * k, positions)
        acc = exact_matmul(wf.reshape(g, m // g, (c // g) * k), cols).reshape(n, m, *out)
    if bias is not None:
        acc += bias.astype(np.int64).reshape((1, m) + (1,) * len(out))
    return acc


@kernel(Conv)
def _conv(op: Conv, x: np.ndarray, w: np.ndarray,
          bias: np.ndarray | None = None) -> list[np.ndarray]:
    yt = op.result.type
    acc = _conv_accumulator(op, x, w, bias)
    rank = acc.ndim
    lo, hi = activation_bounds(op, yt.element)
    if op.arithmetic == ORT:
        # QLinearConv: one float32 multiply by f32(f32(s_in · s_w[c]) / s_out), half to even.
        scale = combined_scale(_scale(op.type_of("input")), _quant(op.type_of("weights")).scale,
                               op.output_scale)
        return [requantize_float32(wrap_int32(acc), _per_channel_f32(scale, rank, 1),
                                   op.output_zero_point, yt.element, lo, hi)]
    y = multiply_by_quantized_multiplier(acc, _per_channel(op.multiplier, rank, 1),
                                         _per_channel(op.shift, rank, 1))
    return [offset_clamp(y, _zero_point(yt), yt.element, lo, hi)]


def _per_channel_f32(values: np.ndarray, rank: int, axis: int) -> np.ndarray:
    """Float32 per-channel scales shaped to broadcast along ``axis`` (a scalar if only one)."""
    if values.size == 1:
        return values.reshape(())
    shape = [1] * rank
    shape[axis] = values.size
    return values.reshape(shape)


def _matmul_accumulator(op: MatMul | FullyConnected, a: np.ndarray, b: np.ndarray,
                        bias: np.ndarray | None) -> np.ndarray:
    """Σ_k (a - a_zp)·(b - b_zp) + bias, exact in int64 (float64 products of 8-bit values are)."""
    at, bt = op.type_of("A"), op.type_of("B")
    bq = bt.quant
    assert bq is not None
    b_zp = bq.zero_point[0] if bq.is_per_tensor else 0  # per-column weights are symmetric
    af = a.astype(np.float32) - np.float32(_zero_point(at))
    bf = b.astype(np.float32) - np.float32(b_zp)
    # numpy's rank-1 rules: a vector A is a row, a vector B a column, and both drop out.
    acc = exact_matmul(af.reshape(1, -1) if a.ndim == 1 else af,
                       bf.reshape(-1, 1) if b.ndim == 1 else bf)
    if a.ndim == 1:
        acc = acc[..., 0, :]
    if b.ndim == 1:
        acc = acc[..., 0]
    return acc if bias is None else acc + bias.astype(np.int64)


def _matmul_onnxruntime(op: MatMul | FullyConnected, acc: np.ndarray) -> np.ndarray:
    """QLinearMatMul / QGemm: one float32 multiply by ``f32(f32(s_a · s_b[j]) / s_out)``."""
    yt = op.result.type
    scale = combined_scale(_scale(op.type_of("A")), _quant(op.type_of("B")).scale,
                           op.output_scale)
    lo, hi = activation_bounds(op, yt.element)
    # Per-column scales run along the last axis, which is the output's column axis.
    return requantize_float32(wrap_int32(acc), scale if scale.size > 1 else scale.reshape(()),
                              op.output_zero_point, yt.element, lo, hi)


@kernel(MatMul)
def _matmul(op: MatMul, a: np.ndarray, b: np.ndarray,
            bias: np.ndarray | None = None) -> list[np.ndarray]:
    yt = op.result.type
    acc = _matmul_accumulator(op, a, b, bias)
    if op.arithmetic == ORT:
        return [_matmul_onnxruntime(op, acc)]
    # Per-column parameters run along the last axis, which is the output's column axis.
    mult = np.asarray(op.multiplier, dtype=np.int64)
    shift = np.asarray(op.shift, dtype=np.int64)
    if mult.size == 1:
        mult, shift = mult.reshape(()), shift.reshape(())
    y = multiply_by_quantized_multiplier(acc, mult, shift)
    lo, hi = activation_bounds(op, yt.element)
    return [offset_clamp(y, _zero_point(yt), yt.element, lo, hi)]


@kernel(FullyConnected)
def _fully_connected(op: FullyConnected, a: np.ndarray, b: np.ndarray,
                     bias: np.ndarray | None = None) -> list[np.ndarray]:
    yt = op.result.type
    if op.arithmetic == ORT:
        return [_matmul_onnxruntime(op, _matmul_accumulator(op, a, b, bias))]
    acc = wrap_int32(_matmul_accumulator(op, a, b, bias))
    # The reference rescales in double: the product rounds once, then half away from zero.
    scaled = round_half_away(acc.astype(np.float64) * np.asarray(op.scale, dtype=np.float64))
    y = np.clip(scaled, INT32_MIN, INT32_MAX).astype(np.int64)
    lo, hi = activation_bounds(op, yt.element)
    return [clamp_to(y + _zero_point(yt), yt.element, lo, hi)]


# --------------------------------------------------------------------------- element-wise


def _scaled_input(op: Add | Sub, name: str, x: np.ndarray, multiplier: int,
                  shift: int) -> np.ndarray:
    centred = x.astype(np.int64) - _zero_point(op.type_of(name))
    shifted = wrap_int32(centred * (1 << op.left_shift))
    return multiply_by_quantized_multiplier(shifted, multiplier, shift).astype(np.int64)


def _add_or_sub(op: Add | Sub, a: np.ndarray, b: np.ndarray, sign: int) -> list[np.ndarray]:
    sa = _scaled_input(op, "A", a, op.a_multiplier, op.a_shift)
    sb = _scaled_input(op, "B", b, op.b_multiplier, op.b_shift)
    raw = wrap_int32(sa + sign * sb)
    y = multiply_by_quantized_multiplier(raw, op.output_multiplier, op.output_shift)
    yt = op.result.type
    lo, hi = activation_bounds(op, yt.element)
    return [offset_clamp(y, _zero_point(yt), yt.element, lo, hi)]


def broadcast_scalar_operand(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> str:
    """Which operand onnxruntime's broadcast loop sees as one value per span: ``"a"``, ``"b"``
    or ``""`` (both spans are full). The span is the innermost run of output axes larger than
    1 with one broadcast pattern; an operand of size 1 along it is a scalar there."""
    rank = max(len(a_shape), len(b_shape))
    a_full = (1,) * (rank - len(a_shape)) + tuple(a_shape)
    b_full = (1,) * (rank - len(b_shape)) + tuple(b_shape)
    for da, db in zip(reversed(a_full), reversed(b_full), strict=True):
        if max(da, db) == 1:
            continue
        return "a" if da == 1 else "b" if db == 1 else ""
    return ""


@kernel(Add)
def _add(op: Add, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    if op.arithmetic != ORT:
        return _add_or_sub(op, a, b, 1)
    at, bt, yt = op.type_of("A"), op.type_of("B"), op.result.type
    # QLinearAdd: the float32 FMA formula on the stored codes.
    v = qlinear_add_values(a, b, qlinear_add_ratio(_scale(at), op.output_scale),
                           qlinear_add_ratio(_scale(bt), op.output_scale), _zero_point(at),
                           _zero_point(bt), op.output_zero_point,
                           broadcast_scalar_operand(a.shape, b.shape))
    lo, hi = activation_bounds(op, yt.element)
    return [rint_saturate(v, yt.element, lo, hi)]


@kernel(Sub)
def _sub(op: Sub, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    if op.arithmetic != ORT:
        return _add_or_sub(op, a, b, -1)
    at, bt, yt = op.type_of("A"), op.type_of("B"), op.result.type
    # onnxruntime does not fuse Sub: DequantizeLinear, a float32 Sub, QuantizeLinear.
    diff = (dequantize_float32(a, _scale(at), _zero_point(at))
            - dequantize_float32(b, _scale(bt), _zero_point(bt))).astype(np.float32)
    lo, hi = activation_bounds(op, yt.element)
    return [quantize_float32(diff, op.output_scale, op.output_zero_point, yt.element, lo, hi)]


@kernel(Mul)
def _mul(op: Mul, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    product = ((a.astype(np.int64) - _zero_point(op.type_of("A")))
               * (b.astype(np.int64) - _zero_point(op.type_of("B"))))
    yt = op.result.type
    lo, hi = activation_bounds(op, yt.element)
    if op.arithmetic == ORT:
        # QLinearMul: exact product, float32 multiply, zero point added in float32, half to even.
        scale = qlinear_mul_scale(_scale(op.type_of("A")), _scale(op.type_of("B")),
                                  op.output_scale)
        return [rint_saturate(qlinear_mul_values(product, scale, op.output_zero_point),
                              yt.element, lo, hi)]
    y = multiply_by_quantized_multiplier(product, op.multiplier, op.shift)
    return [offset_clamp(y, _zero_point(yt), yt.element, lo, hi)]


def _requantize(x: np.ndarray, t: TensorType, multiplier: int, shift: int,
                out: TensorType) -> np.ndarray:
    if (multiplier, shift) == IDENTITY_MULTIPLIER and _zero_point(t) == _zero_point(out):
        return clamp_to(x, out.element)
    centred = x.astype(np.int64) - _zero_point(t)
    y = multiply_by_quantized_multiplier(centred, multiplier, shift)
    return clamp_to(y.astype(np.int64) + _zero_point(out), out.element)


def _requantize_onnxruntime(x: np.ndarray, t: TensorType, out: TensorType) -> np.ndarray:
    """DequantizeLinear -> QuantizeLinear through onnxruntime's 256-entry table (a copy when
    the quantization is unchanged), as QLinearConcat and the data-movement ops compute it."""
    if _quant(t) == _quant(out) and t.element == out.element:
        return x
    table = onnxruntime_table(lambda v: v, _quant(t), _quant(out), t.element, out.element)
    return table[x.view(np.uint8)]


@kernel(Requantize)
def _requantize_kernel(op: Requantize, x: np.ndarray) -> list[np.ndarray]:
    if op.arithmetic == ORT:
        return [_requantize_onnxruntime(x, op.type_of("input"), op.result.type)]
    return [_requantize(x, op.type_of("input"), op.multiplier, op.shift, op.result.type)]


@kernel(Table)
def _table(op: Table, x: np.ndarray) -> list[np.ndarray]:
    return [op.table.array[x.view(np.uint8)]]


# --------------------------------------------------------------------------- pooling and reduction


def _valid_counts(x: np.ndarray, win: Window, out: tuple[int, ...]) -> np.ndarray:
    """The number of unpadded input positions in each window."""
    ones = _pad_spatial(np.ones((1, 1, *x.shape[2:]), dtype=np.int64), win.pads, 0)
    return sum(_window_views(ones, win, out))  # type: ignore[return-value]


def _average_pool_onnxruntime(op: AveragePool, x: np.ndarray) -> np.ndarray:
    t = op.type_of("input")
    win = op.window()
    out = win.out
    lo, hi = activation_bounds(op, t.element)
    s, z = _scale(t), _zero_point(t)
    ys, yz = _scale(op.result.type), _zero_point(op.result.type)
    if tuple(win.kernel) == tuple(x.shape[2:]) and not any(win.pads):
        # A window covering the whole unpadded plane falls back to QLinearGlobalAveragePool.
        count = math.prod(win.kernel)
        acc = x.astype(np.int64).sum(axis=tuple(range(2, x.ndim)), keepdims=True) - z * count
        scale = global_average_scale(s, ys, count)
        return requantize_float32(acc, scale, yz, t.element, lo, hi)
    # QLinearAveragePool: dequantized float32 values summed in window order, h outer.
    xp = _pad_spatial(dequantize_float32(x, s, z), win.pads, 0.0)
    taps = np.stack(list(_window_views(xp, win, out)), axis=-1)
    count = math.prod(win.kernel) if op.count_include_pad else _valid_counts(x, win, out)
    return rint_saturate(average_pool_float32(taps, count, ys, yz), t.element, lo, hi)


@kernel(AveragePool)
def _average_pool(op: AveragePool, x: np.ndarray) -> list[np.ndarray]:
    if op.arithmetic == ORT:
        return [_average_pool_onnxruntime(op, x)]
    t = op.type_of("input")
    win = op.window()
    out = win.out
    if op.count_include_pad:
        # Padding is real zero, i.e. the zero point, and every window counts its full size.
        xp = _pad_spatial(x.astype(np.int64), win.pads, _zero_point(t))
        count: np.ndarray | int = math.prod(win.kernel)
    else:
        xp = _pad_spatial(x.astype(np.int64), win.pads, 0)
        ones = _pad_spatial(np.ones((1, 1, *x.shape[2:]), dtype=np.int64), win.pads, 0)
        count = sum(_window_views(ones, win, out))
    acc = sum(_window_views(xp, win, out))
    y = divide_round_half_away(acc, count)
    lo, hi = activation_bounds(op, t.element)
    return [clamp_to(y, t.element, lo, hi)]


@kernel(MaxPool)
def _max_pool(op: MaxPool, x: np.ndarray) -> list[np.ndarray]:
    t = op.type_of("input")
    win = op.window()
    out = win.out
    xp = _pad_spatial(x, win.pads, t.element.min)
    views = _window_views(xp, win, out)
    y = next(views).copy()
    for v in views:
        np.maximum(y, v, out=y)
    lo, hi = activation_bounds(op, t.element)
    return [clamp_to(y, t.element, lo, hi)]


def _float_reduction_onnxruntime(op: Mean | ReduceSum, x: np.ndarray, mean: bool) -> np.ndarray:
    """DequantizeLinear, a float32 ReduceMean / ReduceSum, QuantizeLinear: onnxruntime does not
    fuse these. The float32 sum's order is the runtime's own (numpy sums pairwise here)."""
    t, yt = op.type_of("input"), op.result.type
    axes = op.normalized_axes()
    real = dequantize_float32(x, _scale(t), _zero_point(t))
    total = np.sum(real, axis=axes, keepdims=bool(op.keepdims), dtype=np.float32)
    if mean:
        total = (total / np.float32(math.prod(x.shape[a] for a in axes))).astype(np.float32)
    return quantize_float32(total, op.output_scale, op.output_zero_point, yt.element)


def is_spatial_mean(op: Mean) -> bool:
    """A mean over every axis after N and C: what QLinearGlobalAveragePool computes."""
    rank = op.type_of("input").rank
    return rank >= 3 and op.normalized_axes() == tuple(range(2, rank))


@kernel(Mean)
def _mean(op: Mean, x: np.ndarray) -> list[np.ndarray]:
    t, yt = op.type_of("input"), op.result.type
    axes = op.normalized_axes()
    count = math.prod(x.shape[a] for a in axes)
    if op.arithmetic == ORT:
        if not is_spatial_mean(op):
            return [_float_reduction_onnxruntime(op, x, mean=True)]
        # QLinearGlobalAveragePool: exact integer sum, one float32 requantization.
        acc = np.sum(x.astype(np.int64) - _zero_point(t), axis=axes, keepdims=bool(op.keepdims))
        scale = global_average_scale(_scale(t), op.output_scale, count)
        return [requantize_float32(acc, scale, op.output_zero_point, yt.element)]
    acc = np.sum(x.astype(np.int64) - _zero_point(t), axis=axes, keepdims=bool(op.keepdims))
    scaled = multiply_by_quantized_multiplier(acc, op.multiplier, op.shift)
    y = divide_round_half_away(scaled, count) if count else np.zeros_like(acc)
    return [clamp_to(y + _zero_point(yt), yt.element)]


# --------------------------------------------------------------------------- concatenation


@kernel(Concat)
def _concat(op: Concat, *xs: np.ndarray) -> list[np.ndarray]:
    yt = op.result.type
    inputs = op.operand_list("inputs")
    if op.arithmetic == ORT:
        # QLinearConcat: inputs in the output's quantization are copied, others go through
        # onnxruntime's requantization table.
        parts = [_requantize_onnxruntime(x, v.type, yt) for x, v in zip(xs, inputs, strict=True)]
        return [np.concatenate(parts, axis=op.axis % yt.rank)]
    parts = [_requantize(x, v.type, m, s, yt)
             for x, v, m, s in zip(xs, inputs, op.multiplier, op.shift, strict=True)]
    return [np.concatenate(parts, axis=op.axis % yt.rank)]


# --------------------------------------------------------------------------- sum-based reduction


@kernel(ReduceSum)
def _reduce_sum(op: ReduceSum, x: np.ndarray) -> list[np.ndarray]:
    if op.arithmetic == ORT:
        return [_float_reduction_onnxruntime(op, x, mean=False)]
    t, yt = op.type_of("input"), op.result.type
    acc = np.sum(x.astype(np.int64) - _zero_point(t), axis=op.normalized_axes(),
                 keepdims=bool(op.keepdims))
    y = multiply_by_quantized_multiplier(acc, op.multiplier, op.shift)
    return [offset_clamp(y, _zero_point(yt), yt.element)]


# --------------------------------------------------------------------------- gemmlowp fixed point
#
# Raw int32 fixed-point values held in int64 arrays; each helper wraps or saturates exactly as
# gemmlowp's scalar int32 code does, so whole tensors go through one call.


def _high_mul(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul: round(a · b / 2^31), ties toward +inf."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b
    t = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(t >= 0, t >> 31, -((-t) >> 31))  # C++ division truncates toward zero
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, high)


def _divide_by_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from zero."""
    x = np.asarray(x, dtype=np.int64)
    e = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    return (x >> e) + ((x & mask) > (mask >> 1) + (x < 0))


def _saturating_shift_left(x: np.ndarray, exponent: int) -> np.ndarray:
    """SaturatingRoundingMultiplyByPOT with a positive exponent."""
    x = np.asarray(x, dtype=np.int64)
    limit = (1 << (31 - exponent)) - 1
    return np.where(x > limit, INT32_MAX, np.where(x < -limit, INT32_MIN, x << exponent))


# exp(-2^k) in Q0.31 for the barrel shifter of exp_on_negative_values, k = -2 .. 4.
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))


def _exp_on_quarter_interval(a: np.ndarray) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor series around -1/8."""
    exp_minus_one_eighth, one_third = 1895147668, 715827883
    x = wrap_int32(a + (1 << 28))
    x2 = _high_mul(x, x)
    x3 = _high_mul(x2, x)
    x4 = _high_mul(x2, x2)
    poly = _divide_by_pot(wrap_int32(_high_mul(wrap_int32(_divide_by_pot(x4, 2) + x3),
                                               one_third) + x2), 1)
    return wrap_int32(exp_minus_one_eighth + _high_mul(exp_minus_one_eighth, wrap_int32(x + poly)))


def _exp_on_negative_values(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """exp(a) for a <= 0 in Q(integer_bits), result in Q0.31 (gemmlowp's exp_on_negative_values)."""
    fractional = 31 - integer_bits
    quarter = 1 << (fractional - 2)
    a_mod = wrap_int32((a & (quarter - 1)) - quarter)
    result = _exp_on_quarter_interval(_saturating_shift_left(a_mod, integer_bits)
                                      if integer_bits else a_mod)
    remainder = wrap_int32(a_mod - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = remainder & (1 << (fractional + exponent))
            result = np.where(bit != 0, _high_mul(result, multiplier), result)
    if integer_bits > 5:
        result = np.where(a < -(1 << (36 - integer_bits)), 0, result)
    return np.where(a == 0, INT32_MAX, result)


def _one_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out: three Newton-Raphson steps in Q2.29."""
    total = np.asarray(a, dtype=np.int64) + INT32_MAX
    half_denominator = np.where(total >= 0, (total + 1) // 2, -((1 - total) // 2))
    x = wrap_int32(1515870810 + _high_mul(half_denominator, -1010580540))  # 48/17 - 32/17·d
    for _ in range(3):
        one_minus = wrap_int32((1 << 29) - _high_mul(half_denominator, x))
        x = wrap_int32(x + _saturating_shift_left(_high_mul(x, one_minus), 2))
    return _saturating_shift_left(x, 1)


_SOFTMAX_ACCUMULATOR_BITS = 12


@kernel(Softmax)
def _softmax(op: Softmax, x: np.ndarray) -> list[np.ndarray]:
    yt = op.result.type
    axis = op.axis % x.ndim
    if op.arithmetic == ORT:
        # QLinearSoftmax moves the axis last, computes, and moves it back.
        y = softmax_onnxruntime(np.moveaxis(x, axis, -1), _scale(op.type_of("input")),
                                op.output_scale, op.output_zero_point, yt.element)
        return [np.moveaxis(y, -1, axis)]
    xi = np.moveaxis(x.astype(np.int64), axis, -1)
    diff = xi - xi.max(axis=-1, keepdims=True)
    kept = diff >= op.diff_min
    scaled = _high_mul(wrap_int32(diff << op.input_left_shift), op.input_multiplier)
    exps = _exp_on_negative_values(scaled, 5)
    total = wrap_int32(np.sum(np.where(kept, _divide_by_pot(exps, _SOFTMAX_ACCUMULATOR_BITS), 0),
                              axis=-1, keepdims=True))
    # GetReciprocal: normalise the sum to [1, 2), take 1 / (1 + fraction) and remember the bits.
    headroom = 32 - np.frexp(total.astype(np.float64))[1].astype(np.int64)
    fraction = wrap_int32(((total << headroom) & 0xFFFFFFFF) - (1 << 31))
    reciprocal = _one_over_one_plus_x(fraction)
    exponent = (_SOFTMAX_ACCUMULATOR_BITS - headroom) + 31 - yt.element.bits
    steps = _divide_by_pot(_high_mul(reciprocal, exps), exponent)
    low = int(yt.element.min)
    y = np.where(kept, steps + low, low)
    return [np.moveaxis(clamp_to(y, yt.element), -1, axis)]


# --------------------------------------------------------------------------- resizing


def _source_coordinates(size_out: int, size_in: int, scale: int,
                        half_pixel: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(2^10 fixed-point source coordinate, lower index, upper index) of each output index."""
    one = 1 << 10
    v = np.arange(size_out, dtype=np.int64) * scale
    if half_pixel:
        v = v + scale // 2 - (one >> 1)
    # C++ integer division truncates toward zero, also for the negative half-pixel start.
    lower = np.maximum(np.sign(v) * (np.abs(v) // one), 0)
    shifted = v + one - 1
    upper = np.minimum(np.sign(shifted) * (np.abs(shifted) // one), size_in - 1)
    return v, lower, upper


def _source_weights_f32(size_out: int, size_in: int, align_corners: bool,
                        half_pixel: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """onnxruntime's float bilinear setup along one axis: (lower index, upper index, weight of
    the upper, weight of the lower), all float32 arithmetic as its UpsampleBilinear."""
    f = np.float32
    scale = f(f(size_out) / f(size_in))
    x = np.arange(size_out, dtype=f)
    if scale == 1:
        orig = x
    elif align_corners:
        orig = (np.zeros_like(x) if size_out == 1
                else ((x * f(size_in - 1)).astype(f) / f(size_out - 1)).astype(f))
    elif half_pixel:
        orig = (((x + f(0.5)).astype(f) / scale).astype(f) - f(0.5)).astype(f)
    else:
        orig = (x / scale).astype(f)
    orig = np.clip(orig, f(0), f(size_in - 1)).astype(f)
    lower = np.minimum(orig.astype(np.int64), size_in - 1)
    upper = np.minimum(lower + 1, size_in - 1)
    d1 = np.abs(orig - lower.astype(f)).astype(f)
    d2 = np.abs(orig - upper.astype(f)).astype(f)
    same = lower == upper
    d1[same], d2[same] = f(0.5), f(0.5)
    return lower, upper, d1, d2


def _resize_bilinear_onnxruntime(op: ResizeBilinear, x: np.ndarray) -> np.ndarray:
    """DequantizeLinear, the float32 linear Resize, QuantizeLinear (onnxruntime keeps a linear
    Resize in float): ``dx2·dy2·X11 + dx1·dy2·X21 + dx2·dy1·X12 + dx1·dy1·X22``."""
    t = op.type_of("input")
    f = np.float32
    align, half = bool(op.align_corners), bool(op.half_pixel_centers)
    y0, y1, dy1, dy2 = _source_weights_f32(op.sizes[0], x.shape[2], align, half)
    x0, x1, dx1, dx2 = _source_weights_f32(op.sizes[1], x.shape[3], align, half)
    real = dequantize_float32(x, _scale(t), _zero_point(t))
    r0, r1 = real[:, :, y0], real[:, :, y1]
    dy1, dy2 = dy1[:, None], dy2[:, None]
    terms = ((dx2 * dy2).astype(f) * r0[..., x0], (dx1 * dy2).astype(f) * r0[..., x1],
             (dx2 * dy1).astype(f) * r1[..., x0], (dx1 * dy1).astype(f) * r1[..., x1])
    total = terms[0].astype(f)
    for term in terms[1:]:
        total = (total + term.astype(f)).astype(f)
    return quantize_float32(total, _scale(t), _zero_point(t), t.element)


@kernel(ResizeBilinear)
def _resize_bilinear(op: ResizeBilinear, x: np.ndarray) -> list[np.ndarray]:
    if op.arithmetic == ORT:
        return [_resize_bilinear_onnxruntime(op, x)]
    t = op.type_of("input")
    in_h, in_w = x.shape[2:]
    scale_h, scale_w = op.source_scales(in_h, in_w)
    one = 1 << 10
    sy, y0, y1 = _source_coordinates(op.sizes[0], in_h, scale_h, bool(op.half_pixel_centers))
    sx, x0, x1 = _source_coordinates(op.sizes[1], in_w, scale_w, bool(op.half_pixel_centers))
    wy = (sy - one * y0)[:, None]
    wx = (sx - one * x0)[None, :]
    v = x.astype(np.int64)
    rows0, rows1 = v[:, :, y0], v[:, :, y1]
    acc = (rows0[..., x0] * (one - wy) * (one - wx) + rows1[..., x0] * wy * (one - wx)
           + rows0[..., x1] * (one - wy) * wx + rows1[..., x1] * wy * wx)
    # Weights total 2^20: divide rounding half away from zero, as the reference does.
    y = np.sign(acc) * ((np.abs(acc) + (1 << 19)) >> 20)
    return [clamp_to(y, t.element)]


# ---------------------------------------------------------------- float references


@kernel(QuantConvTranspose, QuantLpNormalization, QuantReduceL2)
def _float_reference(op: FloatReference, *operands: np.ndarray | None) -> list[np.ndarray]:
    """Dequantize every operand, run the float op's kernel, quantize as QuantizeLinear."""
    reals = []
    for v, x in zip(op.operands, operands, strict=True):
        if v is None or x is None:
            reals.append(None)
            continue
        assert v.type.quant is not None
        reals.append(dequantize(x, v.type.quant, np.float32))
    real = run_op(op.float_op(), reals)[0]
    out = op.results[0].type
    return [quantize(real, op.output_quant, out.element)]
