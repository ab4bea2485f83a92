"""Examples of the onnx convolution, matrix-product and pooling ops."""

from __future__ import annotations

import numpy as np

from furiosa.ir.dialects.onnx import nn
from furiosa.ir.dialects.onnx.base import Constant
from furiosa.ir.module import Function
from furiosa.ir.types import I8, U8, Quantization, TensorType, tensor
from tests.ir.op_examples import Example, example, single_op_module


def _f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


@example("onnx.Conv")
def conv_2d_group_bias() -> Example:
    rng = np.random.default_rng(1)
    return single_op_module(nn.Conv, [_f32(rng, 1, 4, 7, 8), _f32(rng, 6, 2, 3, 3),
                                      _f32(rng, 6)], constant=(1, 2), group=2,
                            kernel_shape=[3, 3], strides=[2, 1], pads=[1, 0, 2, 1],
                            dilations=[1, 2])


@example("onnx.Conv")
def conv_1d_same_upper() -> Example:
    rng = np.random.default_rng(2)
    return single_op_module(nn.Conv, [_f32(rng, 2, 3, 11), _f32(rng, 4, 3, 4)], constant=(1,),
                            auto_pad="SAME_UPPER", strides=[3])


@example("onnx.Conv")
def conv_3d_same_lower() -> Example:
    rng = np.random.default_rng(3)
    return single_op_module(nn.Conv, [_f32(rng, 1, 2, 5, 4, 6), _f32(rng, 3, 2, 2, 3, 2)],
                            constant=(1,), auto_pad="SAME_LOWER", strides=[2, 1, 2])


@example("onnx.Conv")
def conv_valid_f64() -> Example:
    rng = np.random.default_rng(4)
    return single_op_module(nn.Conv, [rng.standard_normal((1, 2, 6, 6)),
                                      rng.standard_normal((2, 2, 3, 3))], auto_pad="VALID")


@example("onnx.ConvTranspose")
def conv_transpose_2d() -> Example:
    rng = np.random.default_rng(5)
    return single_op_module(nn.ConvTranspose, [_f32(rng, 1, 4, 3, 4), _f32(rng, 4, 3, 3, 2),
                                               _f32(rng, 6)], constant=(1, 2), group=2,
                            kernel_shape=[3, 2], strides=[2, 3], pads=[1, 0, 0, 1],
                            output_padding=[1, 2], dilations=[1, 1])


@example("onnx.ConvTranspose")
def conv_transpose_output_shape() -> Example:
    rng = np.random.default_rng(6)
    return single_op_module(nn.ConvTranspose, [_f32(rng, 1, 2, 4, 4), _f32(rng, 2, 3, 3, 3)],
                            constant=(1,), strides=[2, 2], output_shape=[8, 9],
                            auto_pad="SAME_UPPER")


@example("onnx.ConvTranspose")
def conv_transpose_same_lower_dilated() -> Example:
    rng = np.random.default_rng(7)
    return single_op_module(nn.ConvTranspose, [_f32(rng, 1, 2, 5), _f32(rng, 2, 2, 3)],
                            constant=(1,), strides=[2], dilations=[2], auto_pad="SAME_LOWER")


@example("onnx.ConvTranspose")
def conv_transpose_valid() -> Example:
    rng = np.random.default_rng(8)
    return single_op_module(nn.ConvTranspose, [_f32(rng, 1, 1, 3, 3), _f32(rng, 1, 2, 2, 2)],
                            constant=(1,), auto_pad="VALID", strides=[2, 2])


@example("onnx.Gemm")
def gemm_transposed_broadcast_c() -> Example:
    rng = np.random.default_rng(9)
    return single_op_module(nn.Gemm, [_f32(rng, 5, 3), _f32(rng, 4, 5), _f32(rng, 4)],
                            constant=(1, 2), transA=1, transB=1, alpha=0.5, beta=2.0)


@example("onnx.Gemm")
def gemm_int32() -> Example:
    rng = np.random.default_rng(10)
    return single_op_module(nn.Gemm, [rng.integers(-9, 9, (3, 4)).astype(np.int32),
                                      rng.integers(-9, 9, (4, 2)).astype(np.int32)])


@example("onnx.MatMul")
def matmul_batched_broadcast() -> Example:
    rng = np.random.default_rng(11)
    return single_op_module(nn.MatMul, [_f32(rng, 2, 1, 3, 4), _f32(rng, 5, 4, 6)])


@example("onnx.MatMul")
def matmul_vectors_int64() -> Example:
    rng = np.random.default_rng(12)
    return single_op_module(nn.MatMul, [rng.integers(-9, 9, (4,)),
                                        rng.integers(-9, 9, (2, 4, 3))])


@example("onnx.AveragePool")
def average_pool_ceil_include_pad() -> Example:
    rng = np.random.default_rng(13)
    return single_op_module(nn.AveragePool, [_f32(rng, 1, 2, 7, 8)], kernel_shape=[3, 3],
                            strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1)


@example("onnx.AveragePool")
def average_pool_same_upper() -> Example:
    rng = np.random.default_rng(14)
    return single_op_module(nn.AveragePool, [_f32(rng, 1, 3, 6, 5)], kernel_shape=[3, 2],
                            strides=[2, 2], auto_pad="SAME_UPPER")


@example("onnx.AveragePool")
def average_pool_valid_1d() -> Example:
    rng = np.random.default_rng(15)
    return single_op_module(nn.AveragePool, [_f32(rng, 2, 2, 9)], kernel_shape=[4],
                            strides=[2], auto_pad="VALID")


@example("onnx.MaxPool")
def max_pool_dilated_ceil() -> Example:
    rng = np.random.default_rng(16)
    return single_op_module(nn.MaxPool, [_f32(rng, 1, 2, 8, 7)], kernel_shape=[3, 2],
                            strides=[2, 2], dilations=[2, 1], pads=[1, 0, 1, 1], ceil_mode=1)


@example("onnx.MaxPool")
def max_pool_indices_column_major() -> Example:
    rng = np.random.default_rng(17)
    m = Function("onnx_MaxPool")
    x = m.add_input("in0", tensor((2, 2, 5, 6), "f32"))
    op = nn.MaxPool.with_indices(x, kernel_shape=[2, 3], strides=[2, 2], pads=[1, 1, 0, 1],
                                 storage_order=1)
    m.add(op)
    m.set_outputs(op.results, ["out0", "out1"])
    return Example(m, {"in0": _f32(rng, 2, 2, 5, 6)})


@example("onnx.MaxPool")
def max_pool_same_lower_quantized() -> Example:
    rng = np.random.default_rng(18)
    x = rng.integers(-128, 128, (1, 3, 6, 6)).astype(np.int8)
    q = TensorType(x.shape, I8, Quantization.per_axis([0.1, 0.2, 0.05], [0, 0, 0], axis=1))
    return single_op_module(nn.MaxPool, [x], quant_types={0: q}, kernel_shape=[3, 3],
                            strides=[2, 2], auto_pad="SAME_LOWER")


@example("onnx.LpPool")
def lp_pool_p3() -> Example:
    rng = np.random.default_rng(19)
    return single_op_module(nn.LpPool, [_f32(rng, 1, 2, 6, 7)], kernel_shape=[2, 3],
                            strides=[2, 2], pads=[0, 1, 1, 1], p=3)


@example("onnx.LpPool")
def lp_pool_same_lower() -> Example:
    rng = np.random.default_rng(20)
    return single_op_module(nn.LpPool, [_f32(rng, 1, 1, 5, 5)], kernel_shape=[2, 2],
                            auto_pad="SAME_LOWER")


@example("onnx.GlobalAveragePool")
def global_average_pool() -> Example:
    rng = np.random.default_rng(21)
    return single_op_module(nn.GlobalAveragePool, [_f32(rng, 2, 3, 4, 5)])


@example("onnx.GlobalMaxPool")
def global_max_pool_quantized_3d() -> Example:
    rng = np.random.default_rng(22)
    x = rng.integers(0, 256, (1, 2, 3, 4, 2)).astype(np.uint8)
    q = TensorType(x.shape, U8, Quantization.per_tensor(0.02, 128))
    return single_op_module(nn.GlobalMaxPool, [x], quant_types={0: q})


@example("onnx.MatMul")
def matmul_with_constant_weight() -> Example:
    """A two-op module: the weight is a named constant feeding MatMul."""
    rng = np.random.default_rng(23)
    m = Function("matmul_weight")
    x = m.add_input("x", tensor((3, 4), "f32"))
    w = Constant.of(_f32(rng, 4, 2), name="weight")
    m.add(w)
    op = nn.MatMul.build(x, w.result)
    m.add(op)
    m.set_outputs([op.result], ["y"])
    return Example(m, {"x": _f32(rng, 3, 4)})
