"""The fixed-point arithmetic against scalar references written from the TFLite/gemmlowp definitions
with Python integers and exact fractions."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from furiosa.errors import IRError
from furiosa.ir.quantization import (
    INT32_MAX,
    INT32_MIN,
    activation_range,
    dequantize,
    divide_round_half_away,
    lookup_table,
    multiply_by_quantized_multiplier,
    quantize,
    quantize_multiplier,
    round_half_away,
)
from furiosa.ir.types import I8, U8, Quantization

# --------------------------------------------------------------------------- scalar references


def ref_round_half_away(v: Fraction) -> int:
    """std::round on an exact value."""
    n = math.floor(abs(v) + Fraction(1, 2))
    return n if v >= 0 else -n


def ref_quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: frexp, then q · 2^31 rounded half away from zero."""
    if real == 0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = ref_round_half_away(Fraction(q) * 2**31)
    if q_fixed == 2**31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return q_fixed, shift


def ref_wrap32(x: int) -> int:
    return (x + 2**31) % 2**32 - 2**31


def ref_srdhm(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return math.trunc(Fraction(ab + nudge, 1 << 31))  # C++ integer division truncates


def ref_rdbpot(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def ref_mbqm(x: int, multiplier: int, shift: int) -> int:
    """TFLite MultiplyByQuantizedMultiplier (double rounding) on int32 ``x``."""
    left, right = max(shift, 0), max(-shift, 0)
    return ref_rdbpot(ref_srdhm(ref_wrap32(x * (1 << left)), multiplier), right)


# --------------------------------------------------------------------------- quantize_multiplier

fractions_below_one = st.floats(min_value=1e-12, max_value=1.0, exclude_max=True,
                                allow_subnormal=False)
above_one = st.floats(min_value=1.0, max_value=2.0**29)


@settings(max_examples=50, deadline=None)
@given(st.one_of(fractions_below_one, above_one))
def test_quantize_multiplier_matches_reference(real: float) -> None:
    m, s = quantize_multiplier(real)
    assert (m, s) == ref_quantize_multiplier(real)
    if m:
        assert 2**30 <= m < 2**31
        error = abs(Fraction(m) * Fraction(2) ** (s - 31) - Fraction(real))
        assert error <= Fraction(2) ** (s - 32)  # half a unit of the Q31 multiplier


@pytest.mark.parametrize("k", [-40, -32, -31, -30, -1, 0, 1, 5, 20])
def test_quantize_multiplier_powers_of_two(k: int) -> None:
    m, s = quantize_multiplier(2.0**k)
    if k < -32:  # needs a right shift beyond 31: flushed to zero
        assert (m, s) == (0, 0)
    else:
        assert (m, s) == (1 << 30, k + 1)
    assert (m, s) == ref_quantize_multiplier(2.0**k)


@pytest.mark.parametrize("exponent", [-10, 0, 3])
def test_quantize_multiplier_rounds_up_to_two_pow_31(exponent: int) -> None:
    # q · 2^31 = 2^31 - 1/4 rounds to 2^31, which is renormalised to 2^30 with shift + 1.
    real = math.ldexp(1 - 2.0**-33, exponent)
    assert quantize_multiplier(real) == (1 << 30, exponent + 1)
    assert quantize_multiplier(real) == ref_quantize_multiplier(real)


def test_quantize_multiplier_rounds_half_away() -> None:
    # q · 2^31 = 2^30 + 1/2 exactly: TFLite's std::round gives 2^30 + 1 (half-even would give 2^30).
    real = (2**30 + 0.5) / 2**31
    assert quantize_multiplier(real) == (2**30 + 1, 0)
    assert quantize_multiplier(0.0) == (0, 0)
    with pytest.raises(IRError, match="not finite"):
        quantize_multiplier(math.inf)


# --------------------------------------------------------------------------- MBQM

EXTREMES = [INT32_MIN, INT32_MIN + 1, -(2**30), -1, 0, 1, 2**30, INT32_MAX - 1, INT32_MAX]


@settings(max_examples=50, deadline=None)
@given(multiplier=st.one_of(st.integers(2**30, INT32_MAX),
                            st.sampled_from([0, INT32_MIN, -(2**30)])),
       shift=st.integers(-31, 30), seed=st.integers(0, 2**32 - 1))
def test_mbqm_matches_gemmlowp_reference(multiplier: int, shift: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    acc = np.concatenate([rng.integers(INT32_MIN, INT32_MAX, size=40, endpoint=True),
                          rng.integers(-5000, 5000, size=20), EXTREMES]).astype(np.int32)
    got = multiply_by_quantized_multiplier(acc, multiplier, shift)
    assert got.dtype == np.int32
    assert got.tolist() == [ref_mbqm(int(x), multiplier, shift) for x in acc]


def test_mbqm_per_channel_broadcast_and_int64_accumulators() -> None:
    rng = np.random.default_rng(0)
    acc = rng.integers(-(2**40), 2**40, size=(2, 3, 4))  # int64: wraps to int32 like the reference
    mult = np.array([1 << 30, 1518500250, INT32_MAX]).reshape(1, 3, 1)
    shift = np.array([-3, 0, 2]).reshape(1, 3, 1)
    got = multiply_by_quantized_multiplier(acc, mult, shift)
    for idx in np.ndindex(acc.shape):
        c = idx[1]
        want = ref_mbqm(ref_wrap32(int(acc[idx])), int(mult[0, c, 0]), int(shift[0, c, 0]))
        assert got[idx] == want


def test_srdhm_saturates_the_one_overflow() -> None:
    got = multiply_by_quantized_multiplier(np.array([INT32_MIN]), INT32_MIN, 0)
    assert got.tolist() == [INT32_MAX] == [ref_mbqm(INT32_MIN, INT32_MIN, 0)]


def test_rounding_at_exact_halves() -> None:
    # RoundingDivideByPOT rounds ties away from zero: x · 0.5 (multiplier 2^30, shift 0 leaves the
    # doubling high-mul exact for even x) and x · 0.25.
    half = multiply_by_quantized_multiplier(np.array([2, 6, -2, -6]), 1 << 30, -1)
    assert half.tolist() == [1, 2, -1, -2]  # 0.5 -> 1, 1.5 -> 2, -0.5 -> -1, -1.5 -> -2
    quarter = multiply_by_quantized_multiplier(np.array([10, -10, 6, -6]), 1 << 30, -2)
    assert quarter.tolist() == [1, -1, 1, -1]  # ±1.25 and ±0.75
    # The doubling high-mul itself sends ties toward +inf (gemmlowp's nudge, as VQRDMULH).
    high = multiply_by_quantized_multiplier(np.array([3, -3, 1, -1]), 1 << 30, 0)
    assert high.tolist() == [2, -1, 1, 0] == [ref_mbqm(x, 1 << 30, 0) for x in (3, -3, 1, -1)]


def test_mbqm_is_close_to_the_real_product() -> None:
    rng = np.random.default_rng(1)
    acc = rng.integers(-(2**20), 2**20, size=500)
    for real in (0.0003, 0.07, 0.5, 0.93, 1.7, 37.0):
        m, s = quantize_multiplier(real)
        got = multiply_by_quantized_multiplier(acc, m, s).astype(np.float64)
        assert np.max(np.abs(got - acc * real)) <= 1.0


def test_divide_round_half_away() -> None:
    acc = np.array([5, -5, 7, -7, 4, -4, 0, 6, -6])
    assert divide_round_half_away(acc, 2).tolist() == [3, -3, 4, -4, 2, -2, 0, 3, -3]
    assert divide_round_half_away(acc, 4).tolist() == [1, -1, 2, -2, 1, -1, 0, 2, -2]
    assert divide_round_half_away(np.array([5, 4, -5]), np.array([3, 3, 3])).tolist() == [2, 1, -2]


# --------------------------------------------------------------------------- float <-> quantized


def test_round_half_away() -> None:
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 0.49999997, -0.49999997, 2.4], dtype=np.float32)
    assert round_half_away(x).tolist() == [1, 2, 3, -1, -3, 0, 0, 2]


@pytest.mark.parametrize(("rounding", "expected"), [
    ("half_even", [0, 2, 2, -2, 127, -128, 3, 4]),
    ("half_away", [1, 2, 3, -3, 127, -128, 3, 4]),
])
def test_quantize_rounding_and_saturation(rounding: str, expected: list[int]) -> None:
    x = np.array([0.5, 1.5, 2.5, -2.5, 1000.0, -np.inf, 3.0, 3.5], dtype=np.float32)
    assert quantize(x, Quantization.per_tensor(1.0, 0), I8, rounding).tolist() == expected


def test_quantize_per_axis_and_dequantize() -> None:
    quant = Quantization.per_axis([0.5, 0.25], [10, 0], 1)
    x = np.array([[1.0, 1.0], [-1.0, 0.3]], dtype=np.float32)
    q = quantize(x, quant, U8)
    assert q.tolist() == [[12, 4], [8, 1]]
    assert dequantize(q, quant).tolist() == [[1.0, 1.0], [-1.0, 0.25]]
    nan = np.array([np.nan], dtype=np.float32)
    assert quantize(nan, Quantization.per_tensor(0.1, 7), I8).tolist() == [7]


def test_activation_range() -> None:
    out = Quantization.per_tensor(0.05, -10)
    assert activation_range(out, I8, 0.0, None) == (-10, 127)
    assert activation_range(out, I8, 0.0, 6.0) == (-10, 110)
    assert activation_range(out, I8, None, 100.0) == (-128, 127)
    with pytest.raises(IRError, match="empty"):
        activation_range(out, I8, 20.0, 30.0)


def test_lookup_table_matches_per_level_reference() -> None:
    def sigmoid(v: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-v))

    in_q, out_q = Quantization.per_tensor(0.06, 4), Quantization.per_tensor(1 / 256, -128)
    table = lookup_table(sigmoid, in_q, I8, out_q, I8)
    assert table.dtype == np.int8 and table.shape == (256,)
    for level in range(-128, 128):
        real = np.float32(0.06) * np.float32(level - 4)
        y = sigmoid(np.array([real], dtype=np.float32))[0]
        rescaled = Fraction(float(np.float32(y) * np.float32(256)))
        want = min(127, max(-128, ref_round_half_away(rescaled) - 128))
        assert table[level & 0xFF] == want


def test_lookup_table_u8_indexes_by_value_and_maps_nan_to_minimum() -> None:
    q = Quantization.per_tensor(0.1, 128)
    table = lookup_table(np.log, q, U8, Quantization.per_tensor(0.05, 0), I8)
    assert table[128] == -128  # log(0) = -inf
    assert table[0] == -128  # log of a negative number is NaN
    assert table[138] == 0  # log(1.0)
    with pytest.raises(IRError, match="per tensor"):
        lookup_table(np.exp, Quantization.per_axis([0.1, 0.2], [0, 0], 0), I8, q, U8)
