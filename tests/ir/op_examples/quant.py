"""Examples of the quant dialect: quantized operands, multipliers from ``from_scales``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from furiosa.ir import quantization
from furiosa.ir.core import Operation, Value
from furiosa.ir.dialects import quant
from furiosa.ir.dialects.onnx.base import Constant
from furiosa.ir.module import Function
from furiosa.ir.types import I8, I32, U8, ElementType, Quantization, TensorType
from tests.ir.op_examples import Example, example


class ModuleBuilder:
    """A module under construction: quantized inputs with random data, constants, one op."""

    def __init__(self, name: str, seed: int) -> None:
        self.module = Function(name)
        self.feeds: dict[str, np.ndarray] = {}
        self.rng = np.random.default_rng(seed)

    def levels(self, shape: Sequence[int], element: ElementType, low: int | None = None,
               high: int | None = None) -> np.ndarray:
        lo = int(element.min) if low is None else low
        hi = int(element.max) if high is None else high
        return self.rng.integers(lo, hi + 1, size=tuple(shape)).astype(element.dtype)

    def input(self, shape: Sequence[int], element: ElementType,
              quant: Quantization | None) -> Value:
        data = self.levels(shape, element)
        name = f"x{len(self.feeds)}"
        self.feeds[name] = data
        return self.module.add_input(name, TensorType(tuple(shape), element, quant))

    def const(self, data: np.ndarray, element: ElementType, quant: Quantization | None) -> Value:
        c = Constant.of(data, TensorType(data.shape, element, quant))
        self.module.add(c)
        return c.result

    def weights(self, shape: Sequence[int], scales: Sequence[float], axis: int = 0) -> Value:
        q = (Quantization.per_tensor(scales[0]) if len(scales) == 1
             else Quantization.per_axis(scales, [0] * len(scales), axis))
        return self.const(self.levels(shape, I8, -127, 127), I8, q)

    def bias(self, x_scale: float, w_scales: Sequence[float], count: int) -> Value:
        scales = [x_scale * s for s in w_scales]
        q = (Quantization.per_tensor(scales[0]) if len(scales) == 1
             else Quantization.per_axis(scales, [0] * len(scales), 0))
        return self.const(self.rng.integers(-2000, 2000, size=count).astype(np.int32), I32, q)

    def finish(self, op: Operation) -> Example:
        self.module.add(op)
        self.module.set_outputs(op.results, [f"out{i}" for i in range(len(op.results))])
        return Example(self.module, self.feeds)


def q(scale: float, zero_point: int = 0) -> Quantization:
    return Quantization.per_tensor(scale, zero_point)


# --------------------------------------------------------------------------- convolution and matmul


@example("quant.Conv")
def conv_per_channel_bias_relu() -> Example:
    b = ModuleBuilder("quant_conv", 1)
    x = b.input((1, 3, 7, 6), I8, q(0.05, -3))
    w_scales = [0.004, 0.007, 0.002, 0.01]
    w = b.weights((4, 3, 3, 3), w_scales)
    bias = b.bias(0.05, w_scales, 4)
    op = quant.Conv.from_scales(x, w, bias, q(0.08, -10), clamp=(0.0, None),
                                strides=(2, 1), pads=(1, 1, 0, 1))
    return b.finish(op)


@example("quant.Conv")
def conv_depthwise_dilated_u8_relu6() -> Example:
    b = ModuleBuilder("quant_conv_dw", 2)
    x = b.input((2, 4, 8, 8), U8, q(0.03, 128))
    w = b.weights((4, 1, 3, 3), [0.02])
    op = quant.Conv.from_scales(x, w, None, q(0.05, 100), clamp=(0.0, 6.0), group=4,
                                dilations=(2, 2), pads=(2, 2, 2, 2))
    return b.finish(op)


@example("quant.Conv")
def conv_1d_grouped() -> Example:
    b = ModuleBuilder("quant_conv_1d", 3)
    x = b.input((1, 4, 9), I8, q(0.1, 0))
    w_scales = [0.01, 0.02, 0.03, 0.015, 0.005, 0.025]
    w = b.weights((6, 2, 3), w_scales)
    op = quant.Conv.from_scales(x, w, b.bias(0.1, w_scales, 6), q(0.2, 5), group=2, strides=(2,))
    return b.finish(op)


@example("quant.MatMul")
def matmul_fully_connected() -> Example:
    b = ModuleBuilder("quant_fc", 4)
    a = b.input((2, 5), I8, q(0.06, 7))
    w_scales = [0.01, 0.03, 0.02]
    w = b.weights((5, 3), w_scales, axis=1)
    op = quant.MatMul.from_scales(a, w, b.bias(0.06, w_scales, 3), q(0.1, -4), clamp=(0.0, None))
    return b.finish(op)


@example("quant.MatMul")
def matmul_batched_activations() -> Example:
    b = ModuleBuilder("quant_bmm", 5)
    a = b.input((2, 1, 3, 4), I8, q(0.05, 5))
    bb = b.input((3, 4, 2), I8, q(0.07, -2))
    return b.finish(quant.MatMul.from_scales(a, bb, None, q(0.3, 1)))


@example("quant.MatMul")
def matmul_vector_u8() -> Example:
    b = ModuleBuilder("quant_mv", 6)
    a = b.input((4,), U8, q(0.02, 120))
    w = b.weights((4, 3), [0.05])
    return b.finish(quant.MatMul.from_scales(a, w, b.bias(0.02, [0.05], 3), q(0.04, 128),
                                             clamp=(None, 2.0)))


# --------------------------------------------------------------------------- element-wise


@example("quant.Add")
def add_broadcast_relu() -> Example:
    b = ModuleBuilder("quant_add", 7)
    x = b.input((2, 3, 4), I8, q(0.05, -2))
    y = b.input((3, 1), I8, q(0.11, 9))
    return b.finish(quant.Add.from_scales(x, y, q(0.12, -20), clamp=(0.0, None)))


@example("quant.Add")
def add_left_shift_16_u8() -> Example:
    b = ModuleBuilder("quant_add_ls", 8)
    x = b.input((3, 4), U8, q(0.02, 128))
    y = b.input((3, 4), U8, q(0.03, 100))
    twice_max, left_shift = 0.06, 16
    am, ash = quantization.quantize_multiplier(0.02 / twice_max)
    bm, bsh = quantization.quantize_multiplier(0.03 / twice_max)
    om, osh = quantization.quantize_multiplier(twice_max / ((1 << left_shift) * 0.04))
    return b.finish(quant.Add.build(x, y, left_shift=left_shift, a_multiplier=am, a_shift=ash,
                                    b_multiplier=bm, b_shift=bsh, output_multiplier=om,
                                    output_shift=osh, output_scale=0.04, output_zero_point=110,
                                    activation_max=240))


@example("quant.Sub")
def sub_broadcast() -> Example:
    b = ModuleBuilder("quant_sub", 9)
    x = b.input((2, 1, 5), I8, q(0.04, 3))
    y = b.input((4, 1), I8, q(0.02, -7))
    return b.finish(quant.Sub.from_scales(x, y, q(0.05, 0), clamp=(-3.0, 3.0)))


@example("quant.Mul")
def mul_broadcast_relu6() -> Example:
    b = ModuleBuilder("quant_mul", 10)
    x = b.input((2, 3, 4), I8, q(0.05, -2))
    y = b.input((4,), I8, q(0.03, 4))
    return b.finish(quant.Mul.from_scales(x, y, q(0.01, -50), clamp=(0.0, 6.0)))


@example("quant.Requantize")
def requantize_i8_to_u8() -> Example:
    b = ModuleBuilder("quant_requantize", 11)
    x = b.input((3, 5), I8, q(0.05, -3))
    return b.finish(quant.Requantize.from_scales(x, q(0.07, 130), U8))


@example("quant.Table")
def table_sigmoid() -> Example:
    b = ModuleBuilder("quant_sigmoid", 12)
    x = b.input((2, 8), I8, q(0.06, 4))
    return b.finish(quant.Table.from_function(x, lambda v: 1 / (1 + np.exp(-v)), q(1 / 256, -128)))


@example("quant.Table")
def table_tanh_u8() -> Example:
    b = ModuleBuilder("quant_tanh", 13)
    x = b.input((3, 4), U8, q(0.03, 128))
    return b.finish(quant.Table.from_function(x, np.tanh, q(1 / 128, 0), I8))


# --------------------------------------------------------------------------- pooling and reduction


@example("quant.AveragePool")
def average_pool_padded() -> Example:
    b = ModuleBuilder("quant_avgpool", 14)
    x = b.input((1, 2, 6, 7), I8, q(0.05, -5))
    return b.finish(quant.AveragePool.build(x, kernel_shape=(3, 3), strides=(2, 2),
                                            pads=(1, 1, 1, 1)))


@example("quant.AveragePool")
def average_pool_count_include_pad_clamped() -> Example:
    b = ModuleBuilder("quant_avgpool_cip", 15)
    x = b.input((2, 3, 5, 5), U8, q(0.02, 128))
    return b.finish(quant.AveragePool.build(x, kernel_shape=(2, 3), pads=(1, 0, 1, 2),
                                            count_include_pad=1, activation_min=128,
                                            activation_max=250))


@example("quant.MaxPool")
def max_pool_dilated_padded() -> Example:
    b = ModuleBuilder("quant_maxpool", 16)
    x = b.input((1, 3, 7, 7), I8, q(0.05, 10))
    return b.finish(quant.MaxPool.build(x, kernel_shape=(2, 2), strides=(2, 1), pads=(1, 0, 1, 1),
                                        dilations=(2, 2), activation_min=10, activation_max=100))


@example("quant.Mean")
def mean_global_average_pool() -> Example:
    b = ModuleBuilder("quant_gap", 17)
    x = b.input((2, 3, 4, 5), I8, q(0.05, -3))
    return b.finish(quant.Mean.from_scales(x, q(0.02, 6), (2, 3)))


@example("quant.Mean")
def mean_last_axis_no_keepdims() -> Example:
    b = ModuleBuilder("quant_mean", 18)
    x = b.input((3, 6), U8, q(0.1, 128))
    return b.finish(quant.Mean.from_scales(x, q(0.1, 128), (-1,), keepdims=0))


@example("quant.Concat")
def concat_requantizing() -> Example:
    b = ModuleBuilder("quant_concat", 19)
    out = q(0.05, -3)
    x0 = b.input((1, 2, 3), I8, out)
    x1 = b.input((1, 3, 3), I8, q(0.08, 10))
    x2 = b.input((1, 1, 3), I8, q(0.02, -100))
    return b.finish(quant.Concat.from_scales([x0, x1, x2], out, axis=-2))


# --------------------------------------------------------------------------- TFLite kernels


@example("quant.FullyConnected")
def fully_connected_per_column_relu() -> Example:
    b = ModuleBuilder("quant_fully_connected", 20)
    a = b.input((3, 6), I8, q(0.05, -4))
    w_scales = [0.01, 0.02, 0.015, 0.03]
    w = b.weights((6, 4), w_scales, axis=1)
    return b.finish(quant.FullyConnected.from_scales(a, w, b.bias(0.05, w_scales, 4),
                                                     q(0.12, 3), clamp=(0.0, None)))


@example("quant.FullyConnected")
def fully_connected_per_tensor_zero_point() -> Example:
    b = ModuleBuilder("quant_fully_connected_zp", 21)
    a = b.input((2, 5), I8, q(0.04, 9))
    w = b.const(b.levels((5, 3), I8), I8, q(0.02, -6))
    return b.finish(quant.FullyConnected.from_scales(a, w, None, q(0.1, 0)))


@example("quant.ReduceSum")
def reduce_sum_mean_spatial() -> Example:
    b = ModuleBuilder("quant_reduce_mean", 22)
    x = b.input((2, 5, 7, 3), I8, q(0.05, -3))
    return b.finish(quant.ReduceSum.mean_from_scales(x, q(0.03, 2), (1, 2)))


@example("quant.ReduceSum")
def reduce_sum_last_axis_u8() -> Example:
    b = ModuleBuilder("quant_reduce_sum", 23)
    x = b.input((3, 4), U8, q(0.01, 128))
    return b.finish(quant.ReduceSum.from_scales(x, q(0.1, 128), (-1,), keepdims=0))


@example("quant.Softmax")
def softmax_last_axis() -> Example:
    b = ModuleBuilder("quant_softmax", 24)
    x = b.input((2, 3, 10), I8, q(0.1, 3))
    return b.finish(quant.Softmax.from_scales(x, q(1 / 256, -128)))


@example("quant.Softmax")
def softmax_axis1_u8_beta() -> Example:
    b = ModuleBuilder("quant_softmax_u8", 25)
    x = b.input((2, 7, 3), U8, q(0.05, 130))
    return b.finish(quant.Softmax.from_scales(x, q(1 / 256, 0), beta=0.5, axis=1))


@example("quant.ResizeBilinear")
def resize_bilinear_half_pixel() -> Example:
    b = ModuleBuilder("quant_resize", 26)
    x = b.input((1, 2, 4, 5), I8, q(0.05, 3))
    return b.finish(quant.ResizeBilinear.build(x, sizes=(7, 9), half_pixel_centers=1))


@example("quant.ResizeBilinear")
def resize_bilinear_align_corners_down() -> Example:
    b = ModuleBuilder("quant_resize_ac", 27)
    x = b.input((2, 1, 6, 6), U8, q(0.05, 128))
    return b.finish(quant.ResizeBilinear.build(x, sizes=(4, 3), align_corners=1))


@example("quant.ConvTranspose")
def conv_transpose_per_channel_bias() -> Example:
    b = ModuleBuilder("quant_deconv", 28)
    x = b.input((1, 4, 5, 6), I8, q(0.05, -3))
    # Weights [C, M/group, k...]: per output channel along axis 1.
    w_scales = [0.01, 0.02, 0.005]
    w = b.weights((4, 3, 3, 3), w_scales, axis=1)
    return b.finish(quant.ConvTranspose.build(
        x, w, None, strides=(2, 2), pads=(1, 0, 0, 1), output_padding=(1, 0),
        output_scale=0.1, output_zero_point=4))


@example("quant.ConvTranspose")
def conv_transpose_grouped_u8_bias() -> Example:
    b = ModuleBuilder("quant_deconv_g", 29)
    x = b.input((2, 4, 4, 4), U8, q(0.03, 128))
    w = b.weights((4, 2, 2, 2), [0.02])
    bias = b.bias(0.03, [0.02], 4)
    return b.finish(quant.ConvTranspose.build(x, w, bias, strides=(2, 2), group=2,
                                              output_scale=0.05, output_zero_point=120))


@example("quant.LpNormalization")
def lp_normalization_channels() -> Example:
    b = ModuleBuilder("quant_lpnorm", 30)
    x = b.input((2, 6, 3, 4), I8, q(0.05, 2))
    return b.finish(quant.LpNormalization.build(x, axis=1, output_scale=1 / 128,
                                                output_zero_point=0))


@example("quant.ReduceL2")
def reduce_l2_width_u8() -> Example:
    b = ModuleBuilder("quant_reduce_l2", 31)
    x = b.input((2, 3, 5), U8, q(0.02, 128))
    return b.finish(quant.ReduceL2.build(x, axes=(-1,), keepdims=0, output_scale=0.05,
                                         output_zero_point=0))
