"""Kernels of the quant dialect: bit-exact int8/uint8 arithmetic (TFLite reference semantics).

Products of 8-bit values are summed in float64 so that numpy's BLAS does the work: every
product is below 2^16 in magnitude and every partial sum below 2^53 for any realistic depth,
so float64 holds them exactly and the summation order does not matter. The int32 accumulator
of the reference is then recovered exactly, wrapping as int32 arithmetic does.
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
    clamp_to,
    dequantize,
    divide_round_half_away,
    multiply_by_quantized_multiplier,
    quantize,
    round_half_away,
    wrap_int32,
)
from furiosa.ir.types import TensorType


def _zero_point(t: TensorType) -> int:
    assert t.quant is not None
    return t.quant.zero_point[0]


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


@kernel(Conv)
def _conv(op: Conv, x: np.ndarray, w: np.ndarray,
          bias: np.ndarray | None = None) -> list[np.ndarray]:
    xt, yt = op.type_of("input"), op.result.type
    win = op.window()
    out = win.out
    n, c = x.shape[:2]
    m, g = w.shape[0], op.group
    # Padding with the zero point contributes nothing: it is real zero.
    xp = _pad_spatial(x.astype(np.float64) - _zero_point(xt), win.pads, 0.0)
    cols = np.stack(list(_window_views(xp, win, out)), axis=2)  # (N, C, K, *out)
    k, positions = math.prod(win.kernel), math.prod(out)
    cols = cols.reshape(n, g, (c // g) * k, positions)
    wmat = w.astype(np.float64).reshape(g, m // g, (c // g) * k)
    acc = np.matmul(wmat, cols).reshape(n, m, *out).astype(np.int64)
    rank = acc.ndim
    if bias is not None:
        acc += bias.astype(np.int64).reshape((1, m) + (1,) * len(out))
    y = multiply_by_quantized_multiplier(acc, _per_channel(op.multiplier, rank, 1),
                                         _per_channel(op.shift, rank, 1))
    lo, hi = activation_bounds(op, yt.element)
    return [clamp_to(y.astype(np.int64) + _zero_point(yt), yt.element, lo, hi)]


def _matmul_accumulator(op: MatMul | FullyConnected, a: np.ndarray, b: np.ndarray,
                        bias: np.ndarray | None) -> np.ndarray:
    """Σ_k (a - a_zp)·(b - b_zp) + bias, exact in int64 (float64 products of 8-bit values are)."""
    at, bt = op.type_of("A"), op.type_of("B")
    bq = bt.quant
    assert bq is not None
    b_zp = bq.zero_point[0] if bq.is_per_tensor else 0  # per-column weights are symmetric
    acc = np.asarray(np.matmul(a.astype(np.float64) - _zero_point(at),
                               b.astype(np.float64) - b_zp)).astype(np.int64)
    return acc if bias is None else acc + bias.astype(np.int64)


@kernel(MatMul)
def _matmul(op: MatMul, a: np.ndarray, b: np.ndarray,
            bias: np.ndarray | None = None) -> list[np.ndarray]:
    yt = op.result.type
    acc = _matmul_accumulator(op, a, b, bias)
    # Per-column parameters run along the last axis, which is the output's column axis.
    mult = np.asarray(op.multiplier, dtype=np.int64)
    shift = np.asarray(op.shift, dtype=np.int64)
    if mult.size == 1:
        mult, shift = mult.reshape(()), shift.reshape(())
    y = multiply_by_quantized_multiplier(acc, mult, shift)
    lo, hi = activation_bounds(op, yt.element)
    return [clamp_to(y.astype(np.int64) + _zero_point(yt), yt.element, lo, hi)]


@kernel(FullyConnected)
def _fully_connected(op: FullyConnected, a: np.ndarray, b: np.ndarray,
                     bias: np.ndarray | None = None) -> list[np.ndarray]:
    yt = op.result.type
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
    return [clamp_to(y.astype(np.int64) + _zero_point(yt), yt.element, lo, hi)]


@kernel(Add)
def _add(op: Add, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    return _add_or_sub(op, a, b, 1)


@kernel(Sub)
def _sub(op: Sub, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    return _add_or_sub(op, a, b, -1)


@kernel(Mul)
def _mul(op: Mul, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    product = ((a.astype(np.int64) - _zero_point(op.type_of("A")))
               * (b.astype(np.int64) - _zero_point(op.type_of("B"))))
    y = multiply_by_quantized_multiplier(product, op.multiplier, op.shift)
    yt = op.result.type
    lo, hi = activation_bounds(op, yt.element)
    return [clamp_to(y.astype(np.int64) + _zero_point(yt), yt.element, lo, hi)]


def _requantize(x: np.ndarray, t: TensorType, multiplier: int, shift: int,
                out: TensorType) -> np.ndarray:
    if (multiplier, shift) == IDENTITY_MULTIPLIER and _zero_point(t) == _zero_point(out):
        return clamp_to(x, out.element)
    centred = x.astype(np.int64) - _zero_point(t)
    y = multiply_by_quantized_multiplier(centred, multiplier, shift)
    return clamp_to(y.astype(np.int64) + _zero_point(out), out.element)


@kernel(Requantize)
def _requantize_kernel(op: Requantize, x: np.ndarray) -> list[np.ndarray]:
    return [_requantize(x, op.type_of("input"), op.multiplier, op.shift, op.result.type)]


@kernel(Table)
def _table(op: Table, x: np.ndarray) -> list[np.ndarray]:
    return [op.table.array[x.view(np.uint8)]]


# --------------------------------------------------------------------------- pooling and reduction


@kernel(AveragePool)
def _average_pool(op: AveragePool, x: np.ndarray) -> list[np.ndarray]:
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


@kernel(Mean)
def _mean(op: Mean, x: np.ndarray) -> list[np.ndarray]:
    t, yt = op.type_of("input"), op.result.type
    axes = op.normalized_axes()
    count = math.prod(x.shape[a] for a in axes)
    acc = np.sum(x.astype(np.int64) - _zero_point(t), axis=axes, keepdims=bool(op.keepdims))
    scaled = multiply_by_quantized_multiplier(acc, op.multiplier, op.shift)
    y = divide_round_half_away(scaled, count) if count else np.zeros_like(acc)
    return [clamp_to(y + _zero_point(yt), yt.element)]


# --------------------------------------------------------------------------- concatenation


@kernel(Concat)
def _concat(op: Concat, *xs: np.ndarray) -> list[np.ndarray]:
    yt = op.result.type
    inputs = op.operand_list("inputs")
    parts = [_requantize(x, v.type, m, s, yt)
             for x, v, m, s in zip(xs, inputs, op.multiplier, op.shift, strict=True)]
    return [np.concatenate(parts, axis=op.axis % yt.rank)]


# --------------------------------------------------------------------------- sum-based reduction


@kernel(ReduceSum)
def _reduce_sum(op: ReduceSum, x: np.ndarray) -> list[np.ndarray]:
    t, yt = op.type_of("input"), op.result.type
    acc = np.sum(x.astype(np.int64) - _zero_point(t), axis=op.normalized_axes(),
                 keepdims=bool(op.keepdims))
    y = multiply_by_quantized_multiplier(acc, op.multiplier, op.shift)
    return [clamp_to(y.astype(np.int64) + _zero_point(yt), yt.element)]


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


@kernel(ResizeBilinear)
def _resize_bilinear(op: ResizeBilinear, x: np.ndarray) -> list[np.ndarray]:
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
