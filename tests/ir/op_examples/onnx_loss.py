"""Examples of onnx.NegativeLogLikelihoodLoss and onnx.SoftmaxCrossEntropyLoss."""

from __future__ import annotations

import numpy as np

from furiosa.ir.dialects.onnx import loss
from tests.ir.op_examples import Example, example, single_op_module


def _f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


@example("onnx.NegativeLogLikelihoodLoss")
def nll_mean_weighted_ignore() -> Example:
    rng = np.random.default_rng(1)
    target = rng.integers(0, 4, (3, 5), dtype=np.int64)
    target[0, 0] = -1
    return single_op_module(loss.NegativeLogLikelihoodLoss,
                            [_f32(rng, 3, 4, 5), target, rng.random(4).astype(np.float32)],
                            ignore_index=-1)


@example("onnx.NegativeLogLikelihoodLoss")
def nll_none_2d_i32() -> Example:
    rng = np.random.default_rng(2)
    return single_op_module(loss.NegativeLogLikelihoodLoss,
                            [_f32(rng, 6, 3), rng.integers(0, 3, 6, dtype=np.int32)],
                            reduction="none")


@example("onnx.SoftmaxCrossEntropyLoss")
def sce_sum_weights() -> Example:
    rng = np.random.default_rng(3)
    return single_op_module(loss.SoftmaxCrossEntropyLoss,
                            [_f32(rng, 2, 5, 3, 2), rng.integers(0, 5, (2, 3, 2), dtype=np.int64),
                             rng.random(5).astype(np.float32)], reduction="sum")


@example("onnx.SoftmaxCrossEntropyLoss")
def sce_none_ignore_index() -> Example:
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 4, 5, dtype=np.int32)
    labels[2] = 7
    return single_op_module(loss.SoftmaxCrossEntropyLoss, [_f32(rng, 5, 4), labels],
                            reduction="none", ignore_index=7)
