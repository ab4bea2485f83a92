"""Examples of the quantized onnx ops (QDQ, integer products, com.microsoft QLinear ops)."""

from __future__ import annotations

import numpy as np

from furiosa.ir.dialects.onnx import quantized as q
from tests.ir.op_examples import Example, example, single_op_module


def _f(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def _s(value: float) -> np.ndarray:
    """A float32 scalar."""
    return np.array(value, dtype=np.float32)


def _ints(rng: np.random.Generator, dtype: type, *shape: int) -> np.ndarray:
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, shape).astype(dtype)


@example("onnx.QuantizeLinear")
def quantize_linear_per_tensor_int8() -> Example:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((2, 3, 4)) * 3).astype(np.float32)
    return single_op_module(q.QuantizeLinear, [x, _f(0.05), np.array([-3], np.int8)],
                            constant=(1, 2))


@example("onnx.QuantizeLinear")
def quantize_linear_per_axis_uint8() -> Example:
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((2, 3, 4)) * 3).astype(np.float32)
    return single_op_module(q.QuantizeLinear, [x, _f(0.01, 0.02, 0.03, 0.04),
                                               np.array([120, 128, 130, 0], np.uint8)],
                            constant=(1, 2), axis=-1)


@example("onnx.QuantizeLinear")
def quantize_linear_default_zero_point() -> Example:
    rng = np.random.default_rng(3)
    return single_op_module(q.QuantizeLinear, [rng.random((3, 5)).astype(np.float32),
                                               _s(1 / 255)])


@example("onnx.DequantizeLinear")
def dequantize_linear_per_axis() -> Example:
    rng = np.random.default_rng(4)
    return single_op_module(q.DequantizeLinear, [_ints(rng, np.int8, 3, 2, 2),
                                                 _f(0.1, 0.2, 0.3), np.array([1, -2, 0], np.int8)],
                            constant=(1, 2), axis=0)


@example("onnx.DequantizeLinear")
def dequantize_linear_int32() -> Example:
    rng = np.random.default_rng(5)
    return single_op_module(q.DequantizeLinear, [rng.integers(-5000, 5000, (4,)).astype(np.int32),
                                                 _s(0.001)])


@example("onnx.DynamicQuantizeLinear")
def dynamic_quantize_linear() -> Example:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    return single_op_module(q.DynamicQuantizeLinear, [x])


@example("onnx.ConvInteger")
def conv_integer_zero_points() -> Example:
    rng = np.random.default_rng(7)
    return single_op_module(q.ConvInteger, [_ints(rng, np.uint8, 1, 2, 5, 5),
                                            _ints(rng, np.uint8, 3, 2, 3, 3),
                                            np.array([128], np.uint8),
                                            np.array([120, 127, 130], np.uint8)],
                            constant=(1, 2, 3), pads=[1, 1, 1, 1], strides=[2, 1])


@example("onnx.ConvInteger")
def conv_integer_grouped_same() -> Example:
    rng = np.random.default_rng(8)
    return single_op_module(q.ConvInteger, [_ints(rng, np.int8, 1, 4, 4, 6),
                                            _ints(rng, np.int8, 4, 2, 2, 2)], constant=(1,),
                            group=2, auto_pad="SAME_UPPER", dilations=[1, 2], kernel_shape=[2, 2])


@example("onnx.QLinearConv")
def qlinear_conv_per_channel_bias() -> Example:
    rng = np.random.default_rng(9)
    inputs = [_ints(rng, np.uint8, 1, 3, 6, 6), _s(0.02), np.array(128, np.uint8),
              _ints(rng, np.int8, 4, 3, 3, 3), _f(0.01, 0.02, 0.005, 0.015),
              np.zeros(4, np.int8), _s(0.1), np.array(120, np.uint8),
              rng.integers(-3000, 3000, 4).astype(np.int32)]
    return single_op_module(q.QLinearConv, inputs, constant=(3, 4, 5, 8), pads=[1, 1, 1, 1],
                            dilations=[1, 2], kernel_shape=[3, 3])


@example("onnx.QLinearConv")
def qlinear_conv_int8_depthwise() -> Example:
    rng = np.random.default_rng(10)
    inputs = [_ints(rng, np.int8, 1, 4, 5, 5), _s(0.05), np.array(-2, np.int8),
              _ints(rng, np.int8, 4, 1, 3, 3), _s(0.01), np.array(0, np.int8), _s(0.2),
              np.array(3, np.int8)]
    return single_op_module(q.QLinearConv, inputs, constant=(3,), group=4, strides=[2, 2],
                            auto_pad="SAME_LOWER")


@example("onnx.MatMulInteger")
def matmul_integer_per_column() -> Example:
    rng = np.random.default_rng(11)
    return single_op_module(q.MatMulInteger, [_ints(rng, np.uint8, 2, 3, 8),
                                              _ints(rng, np.int8, 8, 5),
                                              np.array(128, np.uint8),
                                              np.array([0, 1, -1, 2, 0], np.int8)],
                            constant=(1, 3))


@example("onnx.MatMulInteger")
def matmul_integer_vector() -> Example:
    rng = np.random.default_rng(12)
    return single_op_module(q.MatMulInteger, [_ints(rng, np.int8, 6), _ints(rng, np.int8, 6, 3)])


@example("onnx.QLinearMatMul")
def qlinear_matmul() -> Example:
    rng = np.random.default_rng(13)
    inputs = [_ints(rng, np.uint8, 2, 4, 16), _s(0.02), np.array(130, np.uint8),
              _ints(rng, np.int8, 16, 6), _f(*(0.01 * (i + 1) for i in range(6))),
              np.zeros(6, np.int8), _s(0.5), np.array(125, np.uint8)]
    return single_op_module(q.QLinearMatMul, inputs, constant=(3, 4, 5))


@example("onnx.QGemm")
def qgemm_requantized() -> Example:
    rng = np.random.default_rng(14)
    inputs = [_ints(rng, np.uint8, 5, 16), _s(0.02), np.array(130, np.uint8),
              _ints(rng, np.uint8, 7, 16), _s(0.01), np.array(128, np.uint8),
              rng.integers(-3000, 3000, 7).astype(np.int32), _s(0.1), np.array(125, np.uint8)]
    return single_op_module(q.QGemm, inputs, constant=(3, 6), transB=1, alpha=0.7)


@example("onnx.QGemm")
def qgemm_float_output() -> Example:
    rng = np.random.default_rng(15)
    inputs = [_ints(rng, np.int8, 16, 5), _s(0.02), np.array(3, np.int8),
              _ints(rng, np.int8, 16, 4), _f(0.01, 0.02, 0.03, 0.04), np.zeros(4, np.int8)]
    return single_op_module(q.QGemm, inputs, constant=(3, 4, 5), transA=1)


@example("onnx.QLinearAdd")
def qlinear_add_broadcast() -> Example:
    rng = np.random.default_rng(16)
    inputs = [_ints(rng, np.uint8, 2, 3, 4), _s(0.05), np.array(10, np.uint8),
              _ints(rng, np.uint8, 3, 1), _s(0.03), np.array(5, np.uint8), _s(0.07),
              np.array(3, np.uint8)]
    return single_op_module(q.QLinearAdd, inputs)


@example("onnx.QLinearAdd")
def qlinear_add_no_zero_points() -> Example:
    rng = np.random.default_rng(17)
    inputs = [_ints(rng, np.int8, 4, 4), _s(0.05), None, _ints(rng, np.int8, 4, 4), _s(0.03),
              None, _s(0.07)]
    return single_op_module(q.QLinearAdd, inputs)


@example("onnx.QLinearMul")
def qlinear_mul() -> Example:
    rng = np.random.default_rng(18)
    inputs = [_ints(rng, np.int8, 3, 4), _s(0.05), np.array(1, np.int8), _ints(rng, np.int8, 4),
              _s(0.03), np.array(-2, np.int8), _s(0.5), np.array(0, np.int8)]
    return single_op_module(q.QLinearMul, inputs)


@example("onnx.QLinearSigmoid")
def qlinear_sigmoid() -> Example:
    rng = np.random.default_rng(19)
    inputs = [_ints(rng, np.uint8, 4, 8), _s(0.05), np.array(128, np.uint8), _s(1 / 256),
              np.array(0, np.uint8)]
    return single_op_module(q.QLinearSigmoid, inputs)


@example("onnx.QLinearLeakyRelu")
def qlinear_leaky_relu() -> Example:
    rng = np.random.default_rng(20)
    inputs = [_ints(rng, np.int8, 4, 8), _s(0.05), np.array(3, np.int8), _s(0.04),
              np.array(-10, np.int8)]
    return single_op_module(q.QLinearLeakyRelu, inputs, alpha=0.2)


@example("onnx.QLinearConcat")
def qlinear_concat() -> Example:
    rng = np.random.default_rng(21)
    inputs = [_s(0.05), np.array(3, np.uint8),
              _ints(rng, np.uint8, 2, 2, 3), _s(0.05), np.array(3, np.uint8),
              _ints(rng, np.uint8, 2, 1, 3), _s(0.02), np.array(7, np.uint8)]
    return single_op_module(q.QLinearConcat, inputs, axis=-2)


@example("onnx.QLinearAveragePool")
def qlinear_average_pool() -> Example:
    rng = np.random.default_rng(22)
    inputs = [_ints(rng, np.uint8, 1, 2, 6, 7), _s(0.05), np.array(10, np.uint8), _s(0.03),
              np.array(20, np.uint8)]
    return single_op_module(q.QLinearAveragePool, inputs, kernel_shape=[3, 3], strides=[2, 2],
                            pads=[1, 1, 1, 1], count_include_pad=1)


@example("onnx.QLinearAveragePool")
def qlinear_average_pool_channels_last_ceil() -> Example:
    rng = np.random.default_rng(23)
    inputs = [_ints(rng, np.int8, 1, 5, 6, 3), _s(0.05), np.array(1, np.int8), _s(0.04)]
    return single_op_module(q.QLinearAveragePool, inputs, kernel_shape=[2, 3], strides=[2, 2],
                            ceil_mode=1, channels_last=1)


@example("onnx.QLinearAveragePool")
def qlinear_average_pool_same_upper() -> Example:
    rng = np.random.default_rng(24)
    inputs = [_ints(rng, np.uint8, 1, 1, 5, 5), _s(0.05), np.array(0, np.uint8), _s(0.05)]
    return single_op_module(q.QLinearAveragePool, inputs, kernel_shape=[2, 2],
                            auto_pad="SAME_UPPER")


@example("onnx.QLinearGlobalAveragePool")
def qlinear_global_average_pool() -> Example:
    rng = np.random.default_rng(25)
    inputs = [_ints(rng, np.uint8, 2, 3, 4, 5), _s(0.05), np.array(10, np.uint8), _s(0.03),
              np.array(20, np.uint8)]
    return single_op_module(q.QLinearGlobalAveragePool, inputs)


@example("onnx.QLinearGlobalAveragePool")
def qlinear_global_average_pool_channels_last() -> Example:
    rng = np.random.default_rng(26)
    inputs = [_ints(rng, np.int8, 1, 4, 4, 6), _s(0.05), np.array(-1, np.int8), _s(0.02),
              np.array(4, np.int8)]
    return single_op_module(q.QLinearGlobalAveragePool, inputs, channels_last=1)
