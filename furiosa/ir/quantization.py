"""Fixed-point arithmetic of 8-bit quantized inference, bit-exact with TFLite's reference kernels.

A real multiplier ``r`` is represented as an int32 Q31 ``multiplier`` and a power-of-two
``shift`` with ``r ≈ multiplier · 2^(shift - 31)`` (:func:`quantize_multiplier`). An int32
accumulator is rescaled by :func:`multiply_by_quantized_multiplier`: gemmlowp's
SaturatingRoundingDoublingHighMul (round to nearest, ties toward +inf, like Arm's VQRDMULH)
followed by RoundingDivideByPOT (ties away from zero). The quant-dialect kernels, the
QDQ-folding pass and the simulator all use these functions, so they agree to the bit.

Also here: quantizing and dequantizing float arrays, the 256-entry lookup tables through which
the NPU evaluates element-wise non-linear functions, and the integer clamp of a fused activation.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from furiosa.errors import IRError
from furiosa.ir.types import ElementType, Quantization

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
# Shifts quantize_multiplier can return for multipliers the quant dialect accepts: a right shift
# of more than 31 is flushed to a zero multiplier, and a left shift of 31 or more overflows any
# non-zero int32.
MIN_SHIFT = -31
MAX_SHIFT = 30

IDENTITY_MULTIPLIER = (1 << 30, 1)
"""``(multiplier, shift)`` of the real multiplier 1 (0.5 · 2^1); exact on (-2^30, 2^30)."""

ROUNDINGS = ("half_even", "half_away")
"""``half_even``: ONNX QuantizeLinear (and onnxruntime); ``half_away``: TFLite (``std::round``)."""


# --------------------------------------------------------------------------- rounding


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, ties away from zero (C's ``round``); keeps the float type."""
    x = np.asarray(x)
    t = np.trunc(x)
    with np.errstate(invalid="ignore"):  # inf - inf: infinities stay as they are
        frac = x - t  # exact for binary floats
    return t + np.where(np.abs(frac) >= 0.5, np.sign(x), 0).astype(x.dtype)


def round_float(x: np.ndarray, rounding: str) -> np.ndarray:
    """Round float values with the given tie rule."""
    if rounding == "half_even":
        return np.rint(x)
    if rounding == "half_away":
        return round_half_away(x)
    raise IRError(f"unknown rounding '{rounding}'; expected one of {', '.join(ROUNDINGS)}")


def _round_half_away_scalar(v: float) -> int:
    t = math.trunc(v)
    frac = v - t
    return t + (1 if frac >= 0.5 else -1 if frac <= -0.5 else 0)


# --------------------------------------------------------------------------- fixed point


def quantize_multiplier(real: float) -> tuple[int, int]:
    """``(multiplier, shift)`` with ``real ≈ multiplier · 2^(shift - 31)``: QuantizeMultiplier.

    ``multiplier`` is in [2^30, 2^31) (a Q31 number in [0.5, 1)), or 0 for ``real`` 0 and for
    ``|real|`` below about 2^-32, which would need a right shift of more than 31.
    """
    real = float(real)
    if not math.isfinite(real):
        raise IRError(f"cannot quantize the multiplier {real}: it is not finite")
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = _round_half_away_scalar(q * (1 << 31))  # exact: scaling by 2^31 loses nothing
    if q_fixed == 1 << 31:  # q rounded up to 1.0: renormalise to 0.5 · 2^(shift + 1)
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def _fits_int32(x: np.ndarray) -> bool:
    return x.size == 0 or (int(x.min()) >= INT32_MIN and int(x.max()) <= INT32_MAX)


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of integers to the int32 range (as int64), like int32 arithmetic."""
    x = np.asarray(x, dtype=np.int64)
    if _fits_int32(x):  # the usual case: nothing wraps, and checking is cheaper than wrapping
        return x
    return ((x - INT32_MIN) & 0xFFFFFFFF) + INT32_MIN


def multiply_by_quantized_multiplier(acc: np.ndarray, multiplier: np.ndarray | int,
                                     shift: np.ndarray | int) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier on int32 accumulators, vectorised.

    ``RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(acc · 2^max(shift, 0), multiplier),
    max(-shift, 0))``. ``multiplier`` and ``shift`` broadcast against ``acc`` (per-channel
    arrays reshaped to the channel axis). Accumulators, and the left-shifted accumulator, wrap
    to int32 as the reference's int32 arithmetic does. Returns int32.
    """
    x = wrap_int32(acc)
    m = np.asarray(multiplier, dtype=np.int64)
    s = np.asarray(shift, dtype=np.int64)
    if np.any(s > 31) or np.any(s < -31):
        raise IRError("a quantized multiplier's shift must be in [-31, 31]")
    if np.any(s > 0):
        x = wrap_int32(x << np.maximum(s, 0))
    right = np.maximum(-s, 0)

    # SaturatingRoundingDoublingHighMul: (x·m + nudge) / 2^31 truncated, with nudge 2^30 for a
    # non-negative product and 1 - 2^30 for a negative one. Both cases are the one floor
    # (x·m + 2^30) >> 31 (ties toward +inf, as VQRDMULH); |x·m| <= 2^62 is exact in int64. The
    # one overflowing case, INT32_MIN · INT32_MIN, saturates.
    high = x * m
    full = np.broadcast_shapes(high.shape, s.shape)
    if high.shape != full:
        high = np.broadcast_to(high, full).copy()
    high += 1 << 30
    high >>= 31
    if np.any(m == INT32_MIN):
        high = np.where((x == INT32_MIN) & (m == INT32_MIN), INT32_MAX, high)

    # RoundingDivideByPOT: arithmetic shift right by `right`, rounding half away from zero:
    # (high >> right) + 1 when the remainder exceeds half (half minus one for negative high).
    if not np.any(right):
        return high.astype(np.int32)
    # RoundingDivideByPOT: x / 2^right rounded half away from zero, which is
    # (x + 2^(right-1)) >> right for x >= 0 and (x + 2^(right-1) - 1) >> right for x < 0.
    negative = high < 0
    if not np.all(right > 0):
        negative &= right > 0  # a zero shift leaves every value as it is
    high += np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0)
    high -= negative
    high >>= right
    return high.astype(np.int32)


def divide_round_half_away(acc: np.ndarray, count: np.ndarray | int) -> np.ndarray:
    """``acc / count`` rounded half away from zero, in integers (TFLite's pooling and MEAN).

    The reference computes ``(acc ± count / 2) / count`` with C's truncating division.
    """
    acc = np.asarray(acc, dtype=np.int64)
    count = np.asarray(count, dtype=np.int64)
    return np.sign(acc) * ((np.abs(acc) + count // 2) // count)


def offset_clamp(values: np.ndarray, offset: int, element: ElementType,
                 low: int | None = None, high: int | None = None) -> np.ndarray:
    """``clamp_to(values + offset, ...)`` of int32 results without widening them: clamping to
    the bounds minus the offset first keeps the sum inside int32."""
    lo = element.min if low is None else max(low, element.min)
    hi = element.max if high is None else min(high, element.max)
    v = np.clip(values, lo - offset, hi - offset)
    v += np.asarray(offset, dtype=v.dtype)
    return v.astype(element.dtype)


def clamp_to(values: np.ndarray, element: ElementType, low: int | None = None,
             high: int | None = None) -> np.ndarray:
    """Saturate integers to ``[low, high]`` (default: the element type's range) and cast."""
    lo = element.min if low is None else max(low, element.min)
    hi = element.max if high is None else min(high, element.max)
    return np.clip(values, lo, hi).astype(element.dtype)


# --------------------------------------------------------------------------- float <-> quantized


def _float_dtype(dtype: np.dtype) -> np.dtype:
    # ONNX and TFLite divide by a float32 scale in float32; only f64 data gets f64 arithmetic.
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


def quantize(x: np.ndarray, quant: Quantization, element: ElementType,
             rounding: str = "half_even") -> np.ndarray:
    """Stored integers of ``x``: ``saturate(round(x / scale) + zero_point)``.

    ``half_even`` is ONNX QuantizeLinear, ``half_away`` TFLite QUANTIZE; both divide in float32
    (float64 for f64 data). NaN quantizes to the zero point.
    """
    x = np.asarray(x)
    ft = _float_dtype(x.dtype)
    scale = quant.scale_array(x.ndim).astype(ft)
    scaled = x.astype(ft) / scale
    r = round_float(np.nan_to_num(scaled, nan=0.0, posinf=np.inf, neginf=-np.inf), rounding)
    # Clip before the integer cast so that inf and huge values saturate instead of wrapping.
    r = np.clip(r, -(2.0**40), 2.0**40).astype(np.int64)
    return clamp_to(r + quant.zero_point_array(x.ndim), element)


def dequantize(q: np.ndarray, quant: Quantization,
               dtype: np.dtype | type = np.float32) -> np.ndarray:
    """Real values ``(q - zero_point) · scale`` (ONNX DequantizeLinear's float32 product)."""
    q = np.asarray(q)
    ft = _float_dtype(np.dtype(dtype))
    centred = (q.astype(np.int64) - quant.zero_point_array(q.ndim)).astype(ft)
    return (centred * quant.scale_array(q.ndim).astype(ft)).astype(dtype)


def activation_range(quant: Quantization, element: ElementType, low: float | None,
                     high: float | None) -> tuple[int, int]:
    """The integer clamp of a fused activation with real bounds ``[low, high]`` (None: unbounded).

    As TFLite's CalculateActivationRangeQuantized: ReLU is ``(0, None)``, ReLU6 ``(0, 6)``.
    """
    if not quant.is_per_tensor:
        raise IRError("a fused activation needs a per-tensor quantized output")
    scale = np.float32(quant.scale[0])
    zp = quant.zero_point[0]

    def level(f: float) -> int:
        return zp + _round_half_away_scalar(float(np.float32(f) / scale))

    lo = int(element.min) if low is None else max(int(element.min), level(low))
    hi = int(element.max) if high is None else min(int(element.max), level(high))
    if lo > hi:
        raise IRError(f"the activation range [{low}, {high}] is empty in the output's quantization")
    return lo, hi


def lookup_table(fn: Callable[[np.ndarray], np.ndarray], input_quant: Quantization,
                 input_element: ElementType, output_quant: Quantization,
                 output_element: ElementType, rounding: str = "half_away") -> np.ndarray:
    """The 256-entry table of ``fn`` from one 8-bit quantization to another (TFLite's LUTPopulate).

    Entry ``b`` holds the output for the input whose stored byte is ``b`` (the two's-complement
    byte for i8), so a lookup is ``table[x.view(np.uint8)]``. Arithmetic is float32 like the
    reference; a NaN result maps to the output minimum (as -inf does).
    """
    for name, q, e in (("input", input_quant, input_element),
                       ("output", output_quant, output_element)):
        if e not in (ElementType.I8, ElementType.U8):
            raise IRError(f"a lookup table's {name} must be i8 or u8, not {e}")
        if not q.is_per_tensor:
            raise IRError(f"a lookup table's {name} must be quantized per tensor")
    levels = np.arange(input_element.min, input_element.max + 1, dtype=np.int64)
    centred = (levels - input_quant.zero_point[0]).astype(np.float32)
    real_in = np.float32(input_quant.scale[0]) * centred
    with np.errstate(all="ignore"):
        transformed = np.asarray(fn(real_in)).astype(np.float32)
        inverse_scale = np.float32(1.0) / np.float32(output_quant.scale[0])
        rescaled = round_float(transformed * inverse_scale, rounding)
    rescaled = np.where(np.isnan(rescaled), -np.inf, rescaled)
    stored = np.clip(rescaled, -(2.0**40), 2.0**40).astype(np.int64) + output_quant.zero_point[0]
    values = clamp_to(stored, output_element)
    table = np.empty(256, dtype=output_element.dtype)
    table[levels.astype(input_element.dtype).view(np.uint8)] = values
    return table


# --------------------------------------------------------------------------- float32 requantization
#
# onnxruntime's integer kernels (QLinearConv, QLinearMatMul, QGemm, QLinearGlobalAveragePool) on
# x86-64 requantize with one float32 multiply, not with a fixed-point multiplier: the int32
# accumulator (bias already added in int32) is converted to float32, multiplied by the float32
# combined scale, rounded half to even, offset by the zero point and saturated.


def combined_scale(input_scale: float | np.ndarray, weight_scale: float | np.ndarray,
                   output_scale: float | np.ndarray) -> np.ndarray:
    """``f32(f32(s_in · s_w) / s_out)``, evaluated left to right in float32 as onnxruntime does."""
    product = (np.float32(input_scale) * np.asarray(weight_scale, dtype=np.float32))
    return (product.astype(np.float32) / np.float32(output_scale)).astype(np.float32)


def requantize_float32(acc: np.ndarray, scale: np.ndarray | float, zero_point: int,
                       element: ElementType, low: int | None = None,
                       high: int | None = None) -> np.ndarray:
    """``saturate(rint_half_even(f32(acc) · scale) + zero_point)`` over int32 accumulators.

    ``scale`` is float32 and broadcasts against ``acc`` (a per-channel array reshaped to the
    channel axis). ``low``/``high`` narrow the saturation range (a fused activation).
    """
    v = np.asarray(acc).astype(np.float32)
    factor = np.asarray(scale, dtype=np.float32)
    if np.broadcast_shapes(v.shape, factor.shape) == v.shape:
        v *= factor
    else:
        v = v * factor
    np.rint(v, out=v)
    # Clamp to the output range minus the zero point while still in float (so huge values
    # saturate instead of wrapping), then add the zero point in integers: the same integers
    # as clamp(rint(v) + zp).
    lo = element.min if low is None else max(low, element.min)
    hi = element.max if high is None else min(high, element.max)
    zp = int(zero_point)
    np.clip(v, lo - zp, hi - zp, out=v)
    stored = v.astype(np.int32)
    stored += zp
    return stored.astype(element.dtype)


# --------------------------------------------------------------------------- arithmetic modes
#
# Every quant op whose result depends on it names the kernels it reproduces:
# ``tflite`` (LiteRT's reference kernels: fixed-point multipliers, double rounding) or
# ``onnxruntime`` (onnxruntime's integer CPU kernels on x86-64: exact int32 accumulation, float32
# requantization rounded half to even, the float formulas of QLinearAdd/QLinearMul/pools/softmax).

ARITHMETIC_MODES = ("tflite", "onnxruntime")
"""The arithmetic modes of the quant dialect; ``tflite`` is the default."""

_F32 = np.float32
_SATURATE = 2.0**40  # clip floats to this before an integer cast: huge values saturate, not wrap


def fma32(a: np.ndarray | float, b: np.ndarray | float, c: np.ndarray | float) -> np.ndarray:
    """float32 ``a·b + c`` rounded once, as a hardware fused multiply-add: the float64 product of
    two float32 values is exact, and so is its float64 sum with ``c`` while the two span at most
    53 binary places (8-bit codes, ratios and offsets of ordinary size), leaving one rounding."""
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64)
            + np.asarray(c, np.float64)).astype(_F32)


def rint_saturate(v: np.ndarray, element: ElementType, low: int | None = None,
                  high: int | None = None, offset: int = 0) -> np.ndarray:
    """``saturate(rint_half_even(v) + offset)`` of float values to ``element`` (and a clamp)."""
    rounded = np.clip(np.rint(v), -_SATURATE, _SATURATE).astype(np.int64)
    return clamp_to(rounded + offset, element, low, high)


def quantize_float32(x: np.ndarray, scale: float, zero_point: int, element: ElementType,
                     low: int | None = None, high: int | None = None) -> np.ndarray:
    """onnxruntime's QuantizeLinear: ``saturate(rint(f32(x / scale)) + zero_point)``, a true
    float32 division (not a multiply by the reciprocal)."""
    with np.errstate(all="ignore"):
        scaled = (np.asarray(x, _F32) / _F32(scale)).astype(_F32)
    return rint_saturate(np.nan_to_num(scaled, nan=0.0), element, low, high, int(zero_point))


def dequantize_float32(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """onnxruntime's DequantizeLinear: ``f32(q - zero_point) · scale`` in float32."""
    return ((np.asarray(q).astype(np.int64) - int(zero_point)).astype(_F32)
            * _F32(scale)).astype(_F32)


def onnxruntime_table(fn: Callable[[np.ndarray], np.ndarray], x_quant: Quantization,
                      y_quant: Quantization, x_element: ElementType = ElementType.I8,
                      y_element: ElementType | None = None) -> np.ndarray:
    """The 256-entry table onnxruntime builds for an element-wise op (QlinearBuildLookupTable):
    each stored input level dequantized in float32, ``fn`` applied in float32, and the result
    quantized by onnxruntime's QuantizeLinear (float32 division, half to even, saturation).

    Also the exact form of any element-wise op onnxruntime leaves in float between a
    DequantizeLinear and a QuantizeLinear (Tanh, HardSwish, a requantization). Indexed like
    :func:`lookup_table`: entry ``b`` answers the stored byte ``b``.
    """
    y_element = y_element or x_element
    for name, q, e in (("input", x_quant, x_element), ("output", y_quant, y_element)):
        if e not in (ElementType.I8, ElementType.U8):
            raise IRError(f"a lookup table's {name} must be i8 or u8, not {e}")
        if not q.is_per_tensor:
            raise IRError(f"a lookup table's {name} must be quantized per tensor")
    levels = np.arange(x_element.min, x_element.max + 1, dtype=np.int64)
    real_in = dequantize_float32(levels, x_quant.scale[0], x_quant.zero_point[0])
    with np.errstate(all="ignore"):
        real_out = np.asarray(fn(real_in)).astype(_F32)
    values = quantize_float32(real_out, y_quant.scale[0], y_quant.zero_point[0], y_element)
    table = np.empty(256, dtype=y_element.dtype)
    table[levels.astype(x_element.dtype).view(np.uint8)] = values
    return table


def requantize_divide(q: np.ndarray, in_quant: Quantization, out_quant: Quantization,
                      element: ElementType) -> np.ndarray:
    """onnxruntime's DequantizeLinear -> QuantizeLinear of 8-bit values (a requantization, a
    QLinearConcat input, a data-movement op with different parameters):
    ``saturate(rint(f32(f32(q - z1)·s1) / s2) + z2)``."""
    real = dequantize_float32(q, in_quant.scale[0], in_quant.zero_point[0])
    return quantize_float32(real, out_quant.scale[0], out_quant.zero_point[0], element)


def qlinear_add_values(a: np.ndarray, b: np.ndarray, a_ratio: float, b_ratio: float,
                       a_zp: int, b_zp: int, out_zp: int, scalar: str = "") -> np.ndarray:
    """The float32 value QLinearAdd rounds (MLAS's AVX2 kernel, FMA-contracted as built by GCC):
    ``fixed = zc - fma(rA, za, rB·zb)``, then ``fma(A, rA, fma(B, rB, fixed))``.

    ``a``/``b`` are the stored codes and zero points in the domain the kernel runs in (int8
    data stays int8 with ``session.qdqisint8allowed``; onnxruntime's default x86-64 graph
    shifts it to uint8 first). ``scalar`` is ``"a"`` or ``"b"`` when that
    operand is one value per span of the broadcast: onnxruntime then folds it into ``fixed``
    (``fixed += f32(B·rB)``, mul then add) and runs ``fma(A, rA, fixed)`` on the other.
    """
    ra, rb = _F32(a_ratio), _F32(b_ratio)
    fixed = (_F32(out_zp) - fma32(ra, _F32(a_zp), _F32(rb * _F32(b_zp)))).astype(_F32)
    af, bf = np.asarray(a, _F32), np.asarray(b, _F32)
    if scalar == "b":
        return fma32(af, ra, (fixed + (bf * rb).astype(_F32)).astype(_F32))
    if scalar == "a":
        return fma32(bf, rb, (fixed + (af * ra).astype(_F32)).astype(_F32))
    return fma32(af, ra, fma32(bf, rb, fixed))


def qlinear_mul_values(product: np.ndarray, scale: float, out_zp: int) -> np.ndarray:
    """The float32 value QLinearMul rounds: ``f32(f32(f32(p) · scale) + f32(zc))`` with the exact
    product ``p = (a - za)(b - zb)``; the output zero point is added before rounding."""
    return ((np.asarray(product).astype(_F32) * _F32(scale)).astype(_F32)
            + _F32(out_zp)).astype(_F32)


def qlinear_mul_scale(a_scale: float, b_scale: float, out_scale: float) -> np.float32:
    """QLinearMul's float32 multiplier ``f32(f32(sa · sb) / sc)``."""
    return _F32(_F32(_F32(a_scale) * _F32(b_scale)) / _F32(out_scale))


def qlinear_add_ratio(in_scale: float, out_scale: float) -> np.float32:
    """QLinearAdd's float32 ratio ``f32(s_in / s_out)`` of one operand."""
    return _F32(_F32(in_scale) / _F32(out_scale))


def global_average_scale(in_scale: float, out_scale: float, count: int) -> np.float32:
    """QLinearGlobalAveragePool's float32 multiplier ``f32(sx / f32(sy · f32(N)))``."""
    return _F32(_F32(in_scale) / _F32(_F32(out_scale) * _F32(count)))


def average_pool_float32(window_values: np.ndarray, count: np.ndarray | int,
                         out_scale: float, out_zp: int) -> np.ndarray:
    """QLinearAveragePool's float path after dequantization: ``window_values`` (..., taps) are
    the dequantized float32 inputs of each window (0 for padding) in window order; they are
    summed sequentially in float32, divided by the float32 ``count``, divided by the output
    scale and offset by the zero point in float32 (the caller rounds half to even)."""
    total = np.zeros(window_values.shape[:-1], _F32)
    for k in range(window_values.shape[-1]):  # sequential float32 sum, as the kernel's loop
        total = (total + window_values[..., k]).astype(_F32)
    mean = (total / np.asarray(count).astype(_F32)).astype(_F32)
    return ((mean / _F32(out_scale)).astype(_F32) + _F32(out_zp)).astype(_F32)


# --------------------------------------------------------------------------- exact int8 products

_EXACT_F32 = 1 << 24  # every integer of magnitude up to 2^24 is exact in float32


def _magnitude(x: np.ndarray) -> float:
    """``max |x|`` without an absolute-value copy of ``x``."""
    return 0.0 if x.size == 0 else max(float(x.max()), -float(x.min()))


def _largest_abs_sum(x: np.ndarray, axis: int) -> float:
    """The largest sum of ``|x|`` along ``axis`` (float64, so the bound itself is exact)."""
    return 0.0 if x.size == 0 else float(np.abs(x).sum(axis=axis, dtype=np.float64).max())


def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` of integer-valued float32 arrays, exact, as int64.

    float32 BLAS is twice as fast as float64, and exact while every partial sum stays below
    2^24 in magnitude, whatever order the BLAS sums in. One product does when a bound on the
    sums of ``|a_ik|·|b_kj|`` shows it; otherwise the reduction axis is cut into chunks of at
    most ``2^24 // (max|a| · max|b|)`` terms and the chunks' exact results are added in int64. The quant dialect's interpreter kernels and the simulator's MAC arrays
    both compute their int32 accumulators with it.
    """
    depth = a.shape[-1]
    # Every partial sum of row i and column j is at most Σ_k |a_ik|·|b_kj|, so at most the
    # largest row sum of |a| times max |b| (or max |a| times the largest column sum of |b|):
    # bounded on the smaller operand, that usually shows one product to be exact at full depth.
    if a.size <= b.size:
        bound = _largest_abs_sum(a, -1) * _magnitude(b)
    else:
        bound = _magnitude(a) * _largest_abs_sum(b, -2)
    if bound < _EXACT_F32:
        return np.matmul(a, b).astype(np.int64)
    largest = _magnitude(a) * _magnitude(b)
    chunk = depth if largest == 0 else max(1, int(_EXACT_F32 // largest))
    if chunk >= depth:
        return np.matmul(a, b).astype(np.int64)
    total = np.zeros(np.broadcast_shapes((*a.shape[:-1], 1), (*b.shape[:-2], 1, b.shape[-1])),
                     np.int64)
    for k in range(0, depth, chunk):  # a few chunks per product, never per element
        total += np.matmul(a[..., k:k + chunk], b[..., k:k + chunk, :]).astype(np.int64)
    return total


def softmax_exp_table(input_scale: float, length: int) -> np.ndarray:
    """QLinearSoftmax's 256-entry exponential table for rows of ``length`` values.

    Entry ``i`` is ``f32(exp((i - 255 + shift) · s))`` in double with ``shift =
    max(0, ln(f32(FLT_MAX / length)) - 5) / s``, so that a row's sum stays finite; a value
    ``d`` steps below its row's maximum reads entry ``255 - d``.
    """
    headroom = math.log(float(_F32(np.finfo(_F32).max) / _F32(length)))
    shift = max(0.0, headroom - 5.0) / float(_F32(input_scale))
    steps = np.arange(256, dtype=np.float64) - 255.0 + shift
    return np.exp(steps * float(_F32(input_scale))).astype(_F32)


def softmax_onnxruntime(x: np.ndarray, input_scale: float, output_scale: float,
                        output_zero_point: int, element: ElementType) -> np.ndarray:
    """QLinearSoftmax over the last axis of 8-bit ``x`` (onnxruntime's CPU kernel).

    ``e = table[255 - (max - x)]`` (:func:`softmax_exp_table`), the row sum ``vsum`` in float32
    in element order, then ``saturate(nearbyint(f32(e · floor(1 / y_scale)) / vsum) + y_zp)``.
    onnxruntime's vectorised kernels sum in lanes and multiply by ``1 / vsum``; on every input
    tested both orders gave the same integers, and its results saturate to the element range.
    """
    xi = np.asarray(x).astype(np.int64)
    table = softmax_exp_table(input_scale, xi.shape[-1])
    e = table[255 - (xi.max(axis=-1, keepdims=True) - xi)]
    # cumsum adds in element order (not pairwise).
    vsum = np.cumsum(e, axis=-1, dtype=_F32)[..., -1:]
    inverse = _F32(np.floor(_F32(1.0) / _F32(output_scale)))
    with np.errstate(all="ignore"):
        v = ((e * inverse).astype(_F32) / vsum).astype(_F32)
    return rint_saturate(v, element, offset=int(output_zero_point))
