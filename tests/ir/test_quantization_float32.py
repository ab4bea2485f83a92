"""The float32 requantization of onnxruntime's integer kernels (furiosa.ir.quantization)."""

from __future__ import annotations

import numpy as np

from furiosa.ir.quantization import combined_scale, requantize_float32
from furiosa.ir.types import ElementType


def test_combined_scale_is_float32_left_to_right() -> None:
    sx, sw, sy = 0.1, np.array([0.3, 0.7], np.float32), 0.2
    expected = ((np.float32(sx) * sw).astype(np.float32) / np.float32(sy)).astype(np.float32)
    got = combined_scale(sx, sw, sy)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_requantize_rounds_half_to_even_then_offsets_and_saturates() -> None:
    acc = np.array([5, 7, -5, -7, 1 << 30, -(1 << 30), 2, 3], dtype=np.int64)
    # scale 0.5: 2.5 -> 2, 3.5 -> 4, -2.5 -> -2, -3.5 -> -4 (ties to even), huge values saturate.
    got = requantize_float32(acc, np.float32(0.5), 10, ElementType.I8)
    np.testing.assert_array_equal(got, np.array([12, 14, 8, 6, 127, -128, 11, 12], np.int8))
    assert got.dtype == np.int8
    clamped = requantize_float32(acc, np.float32(0.5), 10, ElementType.I8, low=10, high=13)
    np.testing.assert_array_equal(clamped, np.array([12, 13, 10, 10, 13, 10, 11, 12], np.int8))


def test_requantize_per_channel_broadcasts_and_converts_through_float32() -> None:
    acc = np.array([[16777217, 3], [16777217, 3]], dtype=np.int64)  # 2^24 + 1 is not a float32
    scale = np.array([[1.0], [0.5]], np.float32)
    got = requantize_float32(acc, scale, 0, ElementType.I32)
    # f32(2^24 + 1) == 2^24: the accumulator goes through float32 as in onnxruntime.
    np.testing.assert_array_equal(got, np.array([[16777216, 3], [8388608, 2]], np.int32))
