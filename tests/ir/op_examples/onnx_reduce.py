"""Examples of the onnx reductions, ArgMax/ArgMin, CumSum, softmax family and normalizations
(furiosa.ir.dialects.onnx.reduce)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from furiosa.ir.core import Operation
from furiosa.ir.dialects.onnx import reduce as rd
from furiosa.ir.types import Quantization, tensor
from tests.ir.op_examples import Example, example, single_op_module
from tests.ir.op_examples.onnx_elementwise import integers, register, uniform

# Each attribute-axes reduction: over one axis, over two with keepdims = 0, and over all axes.
_AXES_CASES: list[tuple[str, dict[str, object]]] = [
    ("axis1", {"axes": (1,)}),
    ("axes_first_last_dropped", {"axes": (0, -1), "keepdims": 0}),
    ("all", {}),
]
_REDUCTIONS: list[tuple[type[Operation], float, float]] = [
    (rd.ReduceMean, -3, 3), (rd.ReduceMax, -3, 3), (rd.ReduceMin, -3, 3),
    (rd.ReduceProd, 0.5, 1.5), (rd.ReduceL1, -3, 3), (rd.ReduceL2, -3, 3),
    (rd.ReduceLogSum, 0.1, 3), (rd.ReduceLogSumExp, -3, 3), (rd.ReduceSumSquare, -3, 3),
]


def _reduction(op_cls: type[Operation], lo: float, hi: float, seed: int,
               attrs: dict[str, object]) -> Callable[[], Example]:
    return lambda: single_op_module(op_cls, [uniform(seed, (2, 3, 4), lo, hi)], **attrs)


for _i, (_cls, _lo, _hi) in enumerate(_REDUCTIONS):
    for _j, (_suffix, _attrs) in enumerate(_AXES_CASES):
        register(_cls, f"{_cls.__name__.lower()}_{_suffix}",
                 _reduction(_cls, _lo, _hi, 10 * _i + _j, _attrs))


@example("onnx.ReduceMean")
def reduce_mean_i32_truncates() -> Example:
    return single_op_module(rd.ReduceMean, [integers(100, (3, 4), -20, 20, np.int32)], axes=(1,))


@example("onnx.ReduceMax")
def reduce_max_quantized() -> Example:
    t = tensor((2, 5), "i8", Quantization.per_tensor(0.1, -2))
    return single_op_module(rd.ReduceMax, [integers(101, (2, 5), -128, 128, np.int8)],
                            quant_types={0: t}, axes=(-1,), keepdims=0)


@example("onnx.ReduceMin")
def reduce_min_u8() -> Example:
    return single_op_module(rd.ReduceMin, [integers(102, (2, 5), 0, 256, np.uint8)], axes=(0,))


@example("onnx.ReduceSumSquare")
def reduce_sum_square_i64() -> Example:
    return single_op_module(rd.ReduceSumSquare, [integers(103, (3, 4), -9, 9, np.int64)],
                            axes=(0,))


@example("onnx.ReduceSum")
def reduce_sum_axis1() -> Example:
    return single_op_module(rd.ReduceSum, [uniform(110, (2, 3, 4)), np.array([1])], constant=[1])


@example("onnx.ReduceSum")
def reduce_sum_two_axes_dropped() -> Example:
    return single_op_module(rd.ReduceSum, [uniform(111, (2, 3, 4)), np.array([-1, 0])],
                            constant=[1], keepdims=0)


@example("onnx.ReduceSum")
def reduce_sum_all() -> Example:
    return single_op_module(rd.ReduceSum, [integers(112, (2, 3), -50, 50, np.int32)])


@example("onnx.ReduceSum")
def reduce_sum_empty_axes_noop() -> Example:
    return single_op_module(rd.ReduceSum, [uniform(113, (2, 3)), np.zeros(0, np.int64)],
                            constant=[1], noop_with_empty_axes=1)


@example("onnx.ReduceSum")
def reduce_sum_empty_axes_reduces_all() -> Example:
    return single_op_module(rd.ReduceSum, [uniform(114, (2, 3)), np.zeros(0, np.int64)],
                            constant=[1], keepdims=0)


@example("onnx.ArgMax")
def argmax_default() -> Example:
    return single_op_module(rd.ArgMax, [uniform(120, (3, 4))])


@example("onnx.ArgMax")
def argmax_last_index_ties() -> Example:
    return single_op_module(rd.ArgMax, [integers(121, (3, 6), 0, 3, np.int32)], axis=-1,
                            keepdims=0, select_last_index=1)


@example("onnx.ArgMin")
def argmin_axis1() -> Example:
    return single_op_module(rd.ArgMin, [uniform(122, (2, 3, 4))], axis=1)


@example("onnx.ArgMin")
def argmin_last_index_ties_u8() -> Example:
    return single_op_module(rd.ArgMin, [integers(123, (4, 5), 0, 3, np.uint8)], axis=0,
                            keepdims=0, select_last_index=1)


@example("onnx.CumSum")
def cumsum_axis1() -> Example:
    return single_op_module(rd.CumSum, [uniform(130, (2, 5)), np.array([1], np.int64)],
                            constant=[1])


@example("onnx.CumSum")
def cumsum_exclusive_reverse_i32() -> Example:
    # The axis is a run-time input: the result type does not depend on it.
    return single_op_module(rd.CumSum, [integers(131, (3, 4), -9, 9, np.int32),
                                        np.array(-1, np.int32)], exclusive=1, reverse=1)


@example("onnx.CumSum")
def cumsum_exclusive() -> Example:
    return single_op_module(rd.CumSum, [uniform(132, (4, 3), dtype=np.float64),
                                        np.array([0], np.int32)], constant=[1], exclusive=1)


@example("onnx.CumSum")
def cumsum_reverse() -> Example:
    return single_op_module(rd.CumSum, [uniform(133, (6,)), np.array([0], np.int64)],
                            constant=[1], reverse=1)


@example("onnx.Softmax")
def softmax_last_axis() -> Example:
    return single_op_module(rd.Softmax, [uniform(140, (2, 3, 5), -10, 10)])


@example("onnx.Softmax")
def softmax_axis1() -> Example:
    return single_op_module(rd.Softmax, [uniform(141, (2, 3, 5))], axis=1)


@example("onnx.LogSoftmax")
def log_softmax_last_axis() -> Example:
    return single_op_module(rd.LogSoftmax, [uniform(142, (3, 5), -10, 10)])


@example("onnx.LogSoftmax")
def log_softmax_axis0() -> Example:
    return single_op_module(rd.LogSoftmax, [uniform(143, (3, 5))], axis=0)


@example("onnx.Hardmax")
def hardmax_ties() -> Example:
    return single_op_module(rd.Hardmax, [np.floor(uniform(144, (3, 6)))])


@example("onnx.Hardmax")
def hardmax_axis0() -> Example:
    return single_op_module(rd.Hardmax, [uniform(145, (3, 4, 2))], axis=0)


@example("onnx.BatchNormalization")
def batch_norm_default() -> Example:
    return single_op_module(rd.BatchNormalization, [
        uniform(150, (2, 3, 4, 4)), uniform(151, (3,)), uniform(152, (3,)), uniform(153, (3,)),
        uniform(154, (3,), 0.5, 2)], constant=[1, 2, 3, 4])


@example("onnx.BatchNormalization")
def batch_norm_epsilon_momentum_2d() -> Example:
    return single_op_module(rd.BatchNormalization, [
        uniform(155, (5, 4)), uniform(156, (4,)), uniform(157, (4,)), uniform(158, (4,)),
        uniform(159, (4,), 0.0, 1.0)], constant=[1, 2, 3, 4], epsilon=1e-3, momentum=0.99)


@example("onnx.InstanceNormalization")
def instance_norm_default() -> Example:
    return single_op_module(rd.InstanceNormalization, [
        uniform(160, (2, 3, 4, 5)), uniform(161, (3,)), uniform(162, (3,))], constant=[1, 2])


@example("onnx.InstanceNormalization")
def instance_norm_epsilon_3d() -> Example:
    return single_op_module(rd.InstanceNormalization, [
        uniform(163, (2, 4, 6)), uniform(164, (4,)), uniform(165, (4,))], epsilon=0.01)


@example("onnx.LpNormalization")
def lp_norm_default() -> Example:
    return single_op_module(rd.LpNormalization, [uniform(170, (3, 4))])


@example("onnx.LpNormalization")
def lp_norm_p1_axis1_zero_row() -> Example:
    x = uniform(171, (2, 3, 4))
    x[1, :, 2] = 0
    return single_op_module(rd.LpNormalization, [x], axis=1, p=1)


@example("onnx.LRN")
def lrn_odd_size() -> Example:
    return single_op_module(rd.LRN, [uniform(180, (2, 5, 3, 3))], size=3)


@example("onnx.LRN")
def lrn_attributes() -> Example:
    return single_op_module(rd.LRN, [uniform(181, (1, 6, 2, 4))], size=5, alpha=0.001,
                            beta=0.5, bias=2.0)


@example("onnx.MeanVarianceNormalization")
def mvn_default_axes() -> Example:
    return single_op_module(rd.MeanVarianceNormalization, [uniform(190, (2, 3, 4, 5))])


@example("onnx.MeanVarianceNormalization")
def mvn_last_axis() -> Example:
    return single_op_module(rd.MeanVarianceNormalization, [uniform(191, (3, 8))], axes=(-1,))
