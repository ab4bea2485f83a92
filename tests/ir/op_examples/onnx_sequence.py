"""Examples of onnx.ReverseSequence, onnx.MaxUnpool and onnx.Unique."""

from __future__ import annotations

import numpy as np

from furiosa.ir.dialects.onnx import sequence
from furiosa.ir.types import I8, Quantization, TensorType
from tests.ir.op_examples import Example, example, single_op_module


@example("onnx.ReverseSequence")
def reverse_sequence_time_major() -> Example:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3, 2)).astype(np.float32)
    return single_op_module(sequence.ReverseSequence, [x, np.array([5, 0, 3], dtype=np.int64)])


@example("onnx.ReverseSequence")
def reverse_sequence_batch_major_quantized() -> Example:
    rng = np.random.default_rng(2)
    x = rng.integers(-128, 128, (3, 4), dtype=np.int8)
    qt = TensorType((3, 4), I8, Quantization.per_tensor(0.05, 3))
    return single_op_module(sequence.ReverseSequence, [x, np.array([2, 4, 1], dtype=np.int64)],
                            quant_types={0: qt}, batch_axis=0, time_axis=1)


def _pooled(rng: np.random.Generator, shape: tuple[int, ...],
            out_spatial: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """X and distinct flat indices into an output of [N, C, *out_spatial]."""
    size = shape[0] * shape[1] * int(np.prod(out_spatial))
    idx = rng.choice(size, int(np.prod(shape)), replace=False).reshape(shape).astype(np.int64)
    return rng.standard_normal(shape).astype(np.float32), idx


@example("onnx.MaxUnpool")
def max_unpool_strided_padded() -> Example:
    rng = np.random.default_rng(3)
    x, idx = _pooled(rng, (1, 2, 3, 3), (4, 5))
    return single_op_module(sequence.MaxUnpool, [x, idx], kernel_shape=[2, 3], strides=[2, 2],
                            pads=[1, 0, 0, 1])


@example("onnx.MaxUnpool")
def max_unpool_output_shape() -> Example:
    rng = np.random.default_rng(4)
    x, idx = _pooled(rng, (2, 1, 3), (7,))
    return single_op_module(sequence.MaxUnpool, [x, idx, np.array([2, 1, 7], dtype=np.int64)],
                            constant=(2,), kernel_shape=[2], strides=[2])


@example("onnx.Unique")
def unique_flat_first_occurrence() -> Example:
    x = np.array([[2, 1, 1], [3, 4, 3], [2, 2, 0]], dtype=np.int32)
    return single_op_module(sequence.Unique, [x], sorted=0)


@example("onnx.Unique")
def unique_slices_negative_axis() -> Example:
    x = np.array([[[1.0, 0.5], [1.0, 0.5], [0.0, 2.0]], [[3.0, 1.0], [3.0, 1.0], [1.0, 1.0]]],
                 dtype=np.float32)
    return single_op_module(sequence.Unique, [x], axis=-2)
