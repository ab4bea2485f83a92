"""Kernels of onnx.ReverseSequence, onnx.MaxUnpool and onnx.Unique."""

from __future__ import annotations

import numpy as np

from furiosa.ir.dialects.common import normalize_axis
from furiosa.ir.dialects.onnx.sequence import MaxUnpool, ReverseSequence, Unique
from furiosa.ir.interpreter import kernel


def reverse_sequences(x: np.ndarray, lens: np.ndarray, time_axis: int,
                      batch_axis: int) -> np.ndarray:
    """Reverse the first ``lens[b]`` steps along ``time_axis`` of each batch entry ``b``;
    later steps stay where they are. Also used by the recurrent kernels' reverse direction."""
    steps = x.shape[time_axis]
    lens = np.asarray(lens, dtype=np.int64)
    if lens.shape != (x.shape[batch_axis],):
        raise ValueError(f"sequence_lens has shape {list(lens.shape)}; expected "
                         f"[{x.shape[batch_axis]}]")
    if np.any((lens < 0) | (lens > steps)):
        raise ValueError(f"sequence_lens {lens.tolist()} is outside [0, {steps}]")
    t = np.arange(steps)[None, :]
    n = lens[:, None]
    src = np.where(t < n, n - 1 - t, t)  # [batch, time]
    # Move batch and time to the front, gather, and move them back.
    moved = np.moveaxis(x, (batch_axis, time_axis), (0, 1))
    index = src.reshape(src.shape + (1,) * (moved.ndim - 2))
    out = np.take_along_axis(moved, index, axis=1)
    return np.moveaxis(out, (0, 1), (batch_axis, time_axis))


@kernel(ReverseSequence)
def _reverse_sequence(op: ReverseSequence, x: np.ndarray, lens: np.ndarray) -> list[np.ndarray]:
    return [reverse_sequences(x, lens, op.time_axis, op.batch_axis)]


@kernel(MaxUnpool)
def _max_unpool(op: MaxUnpool, x: np.ndarray, idx: np.ndarray,
                output_shape: np.ndarray | None = None) -> list[np.ndarray]:
    shape = (op.default_shape(x.shape) if output_shape is None
             else tuple(int(d) for d in output_shape))
    size = int(np.prod(shape))
    flat = idx.reshape(-1)
    if flat.size and (flat.min() < 0 or flat.max() >= size):
        raise ValueError(f"an index in I is outside [0, {size}) of the output {list(shape)}")
    y = np.zeros(size, dtype=x.dtype)
    # Indices address the whole flattened output (N and C included), as MaxPool's do.
    y[flat] = x.reshape(-1)
    return [y.reshape(shape)]


@kernel(Unique)
def _unique(op: Unique, x: np.ndarray) -> list[np.ndarray]:
    axis = None if op.axis is None else normalize_axis(op, op.axis, x.ndim)
    # Slices along the axis compare as rows of a 2-D view, which numpy sorts lexicographically
    # (ONNX's sorted order); without an axis the flattened values are compared.
    data = x.reshape(-1) if axis is None else \
        np.moveaxis(x, axis, 0).reshape(x.shape[axis], x.size // max(x.shape[axis], 1))
    _, first, inverse, counts = np.unique(data, axis=None if axis is None else 0,
                                          return_index=True, return_inverse=True,
                                          return_counts=True)
    inverse = inverse.reshape(-1)
    if not op.sorted:
        # Renumber the distinct values by first occurrence.
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        first, counts, inverse = first[order], counts[order], rank[inverse]
    if axis is None:
        y = x.reshape(-1)[first]
    else:
        y = np.take(x, first, axis=axis)
    return [y, first.astype(np.int64), inverse.astype(np.int64), counts.astype(np.int64)]
