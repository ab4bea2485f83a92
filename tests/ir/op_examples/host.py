"""Examples of the host dialect: quantize, dequantize, lower, unlower."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from furiosa.ir.core import Operation, Value
from furiosa.ir.dialects import host
from furiosa.ir.module import Function
from furiosa.ir.types import F32, F64, I8, U8, Quantization, TensorType
from tests.ir.op_examples import Example, example


def _floats(seed: int, shape: tuple[int, ...], scale: float = 3.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def _module(name: str, input_type: TensorType, data: np.ndarray,
            *builders: Callable[[Value], Operation]) -> Example:
    m = Function(name)
    v = m.add_input("x", input_type)
    for build in builders:
        op = build(v)
        m.add(op)
        v = op.result
    m.set_outputs([v], ["y"])
    return Example(m, {"x": data})


@example("host.Quantize")
def quantize_half_even_i8() -> Example:
    x = _floats(1, (2, 3, 4))
    return _module("quantize", TensorType(x.shape, F32), x, lambda v: host.Quantize.build(
        v, scale=(0.05,), zero_point=(-3,), to=I8))


@example("host.Quantize")
def quantize_half_away_u8() -> Example:
    x = (np.arange(-12, 12, dtype=np.float32) * 0.5).reshape(4, 6)
    return _module("quantize_away", TensorType(x.shape, F32), x, lambda v: host.Quantize.build(
        v, scale=(1.0,), zero_point=(128,), to=U8, rounding="half_away"))


@example("host.Quantize")
def quantize_per_axis() -> Example:
    x = _floats(2, (2, 3, 2))
    return _module("quantize_axis", TensorType(x.shape, F32), x, lambda v: host.Quantize.build(
        v, scale=(0.01, 0.02, 0.05), zero_point=(0, 1, -1), axis=1, to=I8))


@example("host.Dequantize")
def dequantize_i8() -> Example:
    x = np.random.default_rng(3).integers(-128, 128, size=(3, 5)).astype(np.int8)
    t = TensorType(x.shape, I8, Quantization.per_tensor(0.05, -3))
    return _module("dequantize", t, x, lambda v: host.Dequantize.build(v))


@example("host.Dequantize")
def dequantize_per_axis_u8_to_f64() -> Example:
    x = np.random.default_rng(4).integers(0, 256, size=(3, 2)).astype(np.uint8)
    t = TensorType(x.shape, U8, Quantization.per_axis([0.1, 0.02], [128, 3], 1))
    return _module("dequantize_axis", t, x, lambda v: host.Dequantize.build(v, to=F64))


@example("host.Lower")
def lower_hcw_quantized() -> Example:
    x = np.random.default_rng(5).integers(-128, 128, size=(1, 5, 7, 4)).astype(np.int8)
    t = TensorType(x.shape, I8, Quantization.per_tensor(0.05, -3))
    return _module("lower", t, x, lambda v: host.Lower.build(v, height_tile=3, channel_tile=2))


@example("host.Lower")
def lower_hwc_float() -> Example:
    x = _floats(6, (2, 3, 4, 5))
    return _module("lower_hwc", TensorType(x.shape, F32), x, lambda v: host.Lower.build(
        v, height_tile=4, channel_tile=2, order="HWC"))


@example("host.Unlower")
def lower_unlower_round_trip() -> Example:
    x = np.random.default_rng(7).integers(0, 256, size=(2, 6, 5, 3)).astype(np.uint8)
    t = TensorType(x.shape, U8, Quantization.per_tensor(0.1, 128))
    return _module("unlower", t, x,
                   lambda v: host.Lower.build(v, height_tile=2, channel_tile=4, order="HWC"),
                   lambda v: host.Unlower.build(v, channels=6, height=5))
