"""Kernels of the onnx reductions, ArgMax/ArgMin, CumSum, the softmax family and the
normalizations (furiosa.ir.dialects.onnx.reduce).

Integer reductions accumulate in the data's own type (wrapping, as onnxruntime does); where
the result is a real function of the sum (mean, L2, logarithms) it is computed in float64 and
truncated toward zero, which is what onnxruntime returns. float16 data is computed in float32.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from furiosa.ir.core import Operation
from furiosa.ir.dialects.common import normalize_axis
from furiosa.ir.dialects.onnx import reduce as rd
from furiosa.ir.interpreter import kernel
from furiosa.ir.interpreter.kernels.onnx_elementwise import trunc_divide

Array = np.ndarray
Axes = tuple[int, ...]


def _accumulator(x: Array) -> np.dtype:
    """The dtype sums of ``x`` run in: its own, except float32 for float16."""
    return np.dtype(np.float32) if x.dtype == np.float16 else x.dtype


def _real(x: Array) -> Array:
    """``x`` as floats for transcendental functions: float64 for integers, float32 for float16."""
    if x.dtype.kind != "f":
        return x.astype(np.float64)
    return x.astype(_accumulator(x), copy=False)


def _sum(x: Array, axes: Axes) -> Array:
    return np.sum(x, axis=axes, dtype=_accumulator(x), keepdims=True)


def _mean(x: Array, axes: Axes) -> Array:
    if x.dtype.kind == "f":
        return np.mean(x, axis=axes, dtype=_accumulator(x), keepdims=True)
    count = np.array(int(np.prod([x.shape[a] for a in axes])), dtype=x.dtype)
    return trunc_divide(_sum(x, axes), count)


def _sum_square(x: Array, axes: Axes) -> Array:
    return _sum(x * x, axes)


def _log_sum_exp(x: Array, axes: Axes) -> Array:
    xr = _real(x)
    m = np.max(xr, axis=axes, keepdims=True)
    # Shift by the maximum for stability; an infinite maximum is left unshifted (inf - inf).
    m = np.where(np.isfinite(m), m, 0)
    return np.log(np.sum(np.exp(xr - m), axis=axes, keepdims=True)) + m


# Reduction op -> f(data, axes) keeping the reduced axes as size 1.
_REDUCERS: dict[type[Operation], Callable[[Array, Axes], Array]] = {
    rd.ReduceSum: _sum,
    rd.ReduceMean: _mean,
    rd.ReduceMax: lambda x, axes: np.max(x, axis=axes, keepdims=True),
    rd.ReduceMin: lambda x, axes: np.min(x, axis=axes, keepdims=True),
    rd.ReduceProd: lambda x, axes: np.prod(x, axis=axes, dtype=_accumulator(x), keepdims=True),
    rd.ReduceL1: lambda x, axes: _sum(np.abs(x), axes),
    rd.ReduceL2: lambda x, axes: np.sqrt(_real(_sum_square(x, axes))),
    rd.ReduceLogSum: lambda x, axes: np.log(_real(_sum(x, axes))),
    rd.ReduceLogSumExp: _log_sum_exp,
    rd.ReduceSumSquare: _sum_square,
}


def _reduce(op: rd.Reduction, x: Array, axes: Axes | None) -> list[Array]:
    if axes is None:
        return [x]
    y = _REDUCERS[type(op)](x, axes)
    if not op.keepdims:
        y = np.squeeze(y, axis=axes)
    return [y.astype(x.dtype)]


@kernel(rd.ReduceSum)
def _reduce_sum(op: rd.ReduceSum, x: Array, axes: Array | None = None) -> list[Array]:
    requested = None if axes is None else [int(a) for a in axes.reshape(-1)]
    return _reduce(op, x, op.resolve_axes(requested, x.ndim))


def _reduce_by_attribute(op: rd.AxesReduction, x: Array) -> list[Array]:
    return _reduce(op, x, op.resolve_axes(op.axes, x.ndim))


for _cls in _REDUCERS:
    if _cls is not rd.ReduceSum:
        kernel(_cls)(_reduce_by_attribute)


# --------------------------------------------------------------------------- ArgMax / ArgMin


def _arg_reduce(op: rd.ArgReduction, x: Array, pick: Callable[..., Array]) -> list[Array]:
    axis = normalize_axis(op, op.axis, x.ndim)
    if op.select_last_index:
        # The last extreme is the first one of the reversed axis.
        index = x.shape[axis] - 1 - pick(np.flip(x, axis), axis=axis)
    else:
        index = pick(x, axis=axis)
    if op.keepdims:
        index = np.expand_dims(index, axis)
    return [np.asarray(index, dtype=np.int64)]


@kernel(rd.ArgMax)
def _argmax(op: rd.ArgMax, x: Array) -> list[Array]:
    return _arg_reduce(op, x, np.argmax)


@kernel(rd.ArgMin)
def _argmin(op: rd.ArgMin, x: Array) -> list[Array]:
    return _arg_reduce(op, x, np.argmin)


# --------------------------------------------------------------------------- CumSum


@kernel(rd.CumSum)
def _cumsum(op: rd.CumSum, x: Array, axis_value: Array) -> list[Array]:
    axis = normalize_axis(op, int(axis_value.reshape(-1)[0]), x.ndim)
    data = np.flip(x, axis) if op.reverse else x
    y = np.cumsum(data, axis=axis, dtype=x.dtype)
    if op.exclusive:
        # Shift by one along the axis: element i gets the sum of the elements before it.
        y = np.concatenate([np.zeros_like(np.take(y, [0], axis=axis)),
                            np.take(y, np.arange(y.shape[axis] - 1), axis=axis)], axis=axis)
    return [np.flip(y, axis) if op.reverse else y]


# --------------------------------------------------------------------------- Softmax family


def _shifted(op: rd.AxisSoftmax, x: Array) -> tuple[Array, int]:
    """x minus its maximum along the op's axis (so exponentials cannot overflow), and the axis."""
    axis = normalize_axis(op, op.axis, x.ndim)
    xr = _real(x)
    return xr - np.max(xr, axis=axis, keepdims=True), axis


@kernel(rd.Softmax)
def _softmax(op: rd.Softmax, x: Array) -> list[Array]:
    z, axis = _shifted(op, x)
    e = np.exp(z)
    return [(e / np.sum(e, axis=axis, keepdims=True)).astype(x.dtype)]


@kernel(rd.LogSoftmax)
def _log_softmax(op: rd.LogSoftmax, x: Array) -> list[Array]:
    z, axis = _shifted(op, x)
    return [(z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))).astype(x.dtype)]


@kernel(rd.Hardmax)
def _hardmax(op: rd.Hardmax, x: Array) -> list[Array]:
    axis = normalize_axis(op, op.axis, x.ndim)
    y = np.zeros_like(x)
    if x.size:
        np.put_along_axis(y, np.expand_dims(np.argmax(x, axis=axis), axis), 1, axis=axis)
    return [y]


# --------------------------------------------------------------------------- normalizations


def _per_channel(v: Array, rank: int) -> Array:
    """A per-channel vector shaped to broadcast along dim 1 of a rank-``rank`` tensor."""
    return v.reshape((1, -1) + (1,) * (rank - 2))


@kernel(rd.BatchNormalization)
def _batch_norm(op: rd.BatchNormalization, x: Array, scale: Array, b: Array, mean: Array,
                var: Array) -> list[Array]:
    xr = _real(x)
    c = [_per_channel(_real(v), x.ndim) for v in (scale, b, mean, var)]
    y = (xr - c[2]) / np.sqrt(c[3] + op.epsilon) * c[0] + c[1]
    return [y.astype(x.dtype)]


@kernel(rd.InstanceNormalization)
def _instance_norm(op: rd.InstanceNormalization, x: Array, scale: Array,
                   b: Array) -> list[Array]:
    xr = _real(x)
    spatial = tuple(range(2, x.ndim))
    mean = np.mean(xr, axis=spatial, keepdims=True)
    var = np.mean(np.square(xr - mean), axis=spatial, keepdims=True)
    y = (xr - mean) / np.sqrt(var + op.epsilon)
    y = y * _per_channel(_real(scale), x.ndim) + _per_channel(_real(b), x.ndim)
    return [y.astype(x.dtype)]


@kernel(rd.LpNormalization)
def _lp_norm(op: rd.LpNormalization, x: Array) -> list[Array]:
    axis = normalize_axis(op, op.axis, x.ndim)
    xr = _real(x)
    if op.p == 1:
        norm = np.sum(np.abs(xr), axis=axis, keepdims=True)
    else:
        norm = np.sqrt(np.sum(np.square(xr), axis=axis, keepdims=True))
    # A zero vector stays zero (onnxruntime's result) rather than becoming 0/0.
    y = np.divide(xr, norm, out=np.zeros_like(xr), where=norm != 0)
    return [y.astype(x.dtype)]


@kernel(rd.LRN)
def _lrn(op: rd.LRN, x: Array) -> list[Array]:
    xr = _real(x)
    channels = x.shape[1]
    before, after = (op.size - 1) // 2, op.size // 2
    pad = [(0, 0)] * x.ndim
    pad[1] = (before, after)
    squares = np.pad(np.square(xr), pad)
    # Channel c sums channels c - before .. c + after: one shifted slice per window offset.
    window = sum(squares[:, k:k + channels] for k in range(op.size))
    y = xr / (op.bias + op.alpha / op.size * window) ** op.beta
    return [y.astype(x.dtype)]


@kernel(rd.MeanVarianceNormalization)
def _mvn(op: rd.MeanVarianceNormalization, x: Array) -> list[Array]:
    axes = rd.normalize_axes(op, op.axes, x.ndim)
    xr = _real(x)
    centred = xr - np.mean(xr, axis=axes, keepdims=True)
    std = np.sqrt(np.mean(np.square(centred), axis=axes, keepdims=True))
    return [(centred / (std + op.EPSILON)).astype(x.dtype)]
