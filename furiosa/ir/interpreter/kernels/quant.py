"""Kernels of the quant dialect: bit-exact int8/uint8 arithmetic (TFLite reference semantics).

Products of 8-bit values are summed in float64 so that numpy's BLAS does the work: every
product is below 2^16 in magnitude and every partial sum below 2^53 for any realistic depth,
so float64 holds them exactly and the summation order does not matter. The int32 accumulator
of the reference is then recovered exactly, wrapping as int32 arithmetic does.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from furiosa.ir.dialects.quant import (
    Add,
    AveragePool,
    Concat,
    Conv,
    MatMul,
    MaxPool,
    Mean,
    Mul,
    Requantize,
    Sub,
    Table,
    Window,
    activation_bounds,
)
from furiosa.ir.interpreter import kernel
from furiosa.ir.quantization import (
    IDENTITY_MULTIPLIER,
    clamp_to,
    divide_round_half_away,
    multiply_by_quantized_multiplier,
    wrap_int32,
)
from furiosa.ir.types import TensorType


def _zero_point(t: TensorType) -> int:
    assert t.quant is not None
    return t.quant.zero_point[0]


def _per_channel(values: tuple[int, ...], rank: int, axis: int) -> np.ndarray:
    """A per-channel attribute shaped to broadcast along ``axis`` of a rank-``rank`` array."""
    arr = np.asarray(values, dtype=np.int64)
    if arr.size == 1:
        return arr.reshape(())
    shape = [1] * rank
    shape[axis] = arr.size
    return arr.reshape(shape)


def _pad_spatial(x: np.ndarray, pads: tuple[int, ...], value: float | int) -> np.ndarray:
    n = len(pads) // 2
    widths = [(0, 0), (0, 0)] + [(pads[i], pads[i + n]) for i in range(n)]
    return np.pad(x, widths, constant_values=value)


def _window_views(xp: np.ndarray, win: Window, out: tuple[int, ...]) -> Iterator[np.ndarray]:
    """For each kernel offset, the strided view of padded ``xp`` that it meets: (N, C, *out)."""
    for offset in np.ndindex(*win.kernel):
        index = [slice(None), slice(None)]
        for k, d, s, o in zip(offset, win.dilations, win.strides, out, strict=True):
            start = k * d
            index.append(slice(start, start + s * (o - 1) + 1, s))
        yield xp[tuple(index)]


# --------------------------------------------------------------------------- convolution and matmul


@kernel(Conv)
def _conv(op: Conv, x: np.ndarray, w: np.ndarray,
          bias: np.ndarray | None = None) -> list[np.ndarray]:
    xt, yt = op.type_of("input"), op.result.type
    win = op.window()
    out = win.output_shape(op, x.shape[2:])
    n, c = x.shape[:2]
    m, g = w.shape[0], op.group
    # Padding with the zero point contributes nothing: it is real zero.
    xp = _pad_spatial(x.astype(np.float64) - _zero_point(xt), win.pads, 0.0)
    cols = np.stack(list(_window_views(xp, win, out)), axis=2)  # (N, C, K, *out)
    k, positions = math.prod(win.kernel), math.prod(out)
    cols = cols.reshape(n, g, (c // g) * k, positions)
    wmat = w.astype(np.float64).reshape(g, m // g, (c // g) * k)
    acc = np.matmul(wmat, cols).reshape(n, m, *out).astype(np.int64)
    rank = acc.ndim
    if bias is not None:
        acc += bias.astype(np.int64).reshape((1, m) + (1,) * len(out))
    y = multiply_by_quantized_multiplier(acc, _per_channel(op.multiplier, rank, 1),
                                         _per_channel(op.shift, rank, 1))
    lo, hi = activation_bounds(op, yt.element)
    return [clamp_to(y.astype(np.int64) + _zero_point(yt), yt.element, lo, hi)]


@kernel(MatMul)
def _matmul(op: MatMul, a: np.ndarray, b: np.ndarray,
            bias: np.ndarray | None = None) -> list[np.ndarray]:
    at, bt, yt = op.type_of("A"), op.type_of("B"), op.result.type
    bq = bt.quant
    assert bq is not None
    b_zp = bq.zero_point[0] if bq.is_per_tensor else 0  # per-column weights are symmetric
    acc = np.matmul(a.astype(np.float64) - _zero_point(at), b.astype(np.float64) - b_zp)
    acc = np.asarray(acc).astype(np.int64)
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    # Per-column parameters run along the last axis, which is the output's column axis.
    mult = np.asarray(op.multiplier, dtype=np.int64)
    shift = np.asarray(op.shift, dtype=np.int64)
    if mult.size == 1:
        mult, shift = mult.reshape(()), shift.reshape(())
    y = multiply_by_quantized_multiplier(acc, mult, shift)
    lo, hi = activation_bounds(op, yt.element)
    return [clamp_to(y.astype(np.int64) + _zero_point(yt), yt.element, lo, hi)]


# --------------------------------------------------------------------------- element-wise


def _scaled_input(op: Add | Sub, name: str, x: np.ndarray, multiplier: int,
                  shift: int) -> np.ndarray:
    centred = x.astype(np.int64) - _zero_point(op.type_of(name))
    shifted = wrap_int32(centred * (1 << op.left_shift))
    return multiply_by_quantized_multiplier(shifted, multiplier, shift).astype(np.int64)


def _add_or_sub(op: Add | Sub, a: np.ndarray, b: np.ndarray, sign: int) -> list[np.ndarray]:
    sa = _scaled_input(op, "A", a, op.a_multiplier, op.a_shift)
    sb = _scaled_input(op, "B", b, op.b_multiplier, op.b_shift)
    raw = wrap_int32(sa + sign * sb)
    y = multiply_by_quantized_multiplier(raw, op.output_multiplier, op.output_shift)
    yt = op.result.type
    lo, hi = activation_bounds(op, yt.element)
    return [clamp_to(y.astype(np.int64) + _zero_point(yt), yt.element, lo, hi)]


@kernel(Add)
def _add(op: Add, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    return _add_or_sub(op, a, b, 1)


@kernel(Sub)
def _sub(op: Sub, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    return _add_or_sub(op, a, b, -1)


@kernel(Mul)
def _mul(op: Mul, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    product = ((a.astype(np.int64) - _zero_point(op.type_of("A")))
               * (b.astype(np.int64) - _zero_point(op.type_of("B"))))
    y = multiply_by_quantized_multiplier(product, op.multiplier, op.shift)
    yt = op.result.type
    lo, hi = activation_bounds(op, yt.element)
    return [clamp_to(y.astype(np.int64) + _zero_point(yt), yt.element, lo, hi)]


def _requantize(x: np.ndarray, t: TensorType, multiplier: int, shift: int,
                out: TensorType) -> np.ndarray:
    if (multiplier, shift) == IDENTITY_MULTIPLIER and _zero_point(t) == _zero_point(out):
        return clamp_to(x, out.element)
    centred = x.astype(np.int64) - _zero_point(t)
    y = multiply_by_quantized_multiplier(centred, multiplier, shift)
    return clamp_to(y.astype(np.int64) + _zero_point(out), out.element)


@kernel(Requantize)
def _requantize_kernel(op: Requantize, x: np.ndarray) -> list[np.ndarray]:
    return [_requantize(x, op.type_of("input"), op.multiplier, op.shift, op.result.type)]


@kernel(Table)
def _table(op: Table, x: np.ndarray) -> list[np.ndarray]:
    return [op.table.array[x.view(np.uint8)]]


# --------------------------------------------------------------------------- pooling and reduction


@kernel(AveragePool)
def _average_pool(op: AveragePool, x: np.ndarray) -> list[np.ndarray]:
    t = op.type_of("input")
    win = op.window()
    out = win.output_shape(op, x.shape[2:])
    if op.count_include_pad:
        # Padding is real zero, i.e. the zero point, and every window counts its full size.
        xp = _pad_spatial(x.astype(np.int64), win.pads, _zero_point(t))
        count: np.ndarray | int = math.prod(win.kernel)
    else:
        xp = _pad_spatial(x.astype(np.int64), win.pads, 0)
        ones = _pad_spatial(np.ones((1, 1, *x.shape[2:]), dtype=np.int64), win.pads, 0)
        count = sum(_window_views(ones, win, out))
    acc = sum(_window_views(xp, win, out))
    y = divide_round_half_away(acc, count)
    lo, hi = activation_bounds(op, t.element)
    return [clamp_to(y, t.element, lo, hi)]


@kernel(MaxPool)
def _max_pool(op: MaxPool, x: np.ndarray) -> list[np.ndarray]:
    t = op.type_of("input")
    win = op.window()
    out = win.output_shape(op, x.shape[2:])
    xp = _pad_spatial(x, win.pads, t.element.min)
    views = _window_views(xp, win, out)
    y = next(views).copy()
    for v in views:
        np.maximum(y, v, out=y)
    lo, hi = activation_bounds(op, t.element)
    return [clamp_to(y, t.element, lo, hi)]


@kernel(Mean)
def _mean(op: Mean, x: np.ndarray) -> list[np.ndarray]:
    t, yt = op.type_of("input"), op.result.type
    axes = op.normalized_axes()
    count = math.prod(x.shape[a] for a in axes)
    acc = np.sum(x.astype(np.int64) - _zero_point(t), axis=axes, keepdims=bool(op.keepdims))
    scaled = multiply_by_quantized_multiplier(acc, op.multiplier, op.shift)
    y = divide_round_half_away(scaled, count) if count else np.zeros_like(acc)
    return [clamp_to(y + _zero_point(yt), yt.element)]


# --------------------------------------------------------------------------- concatenation


@kernel(Concat)
def _concat(op: Concat, *xs: np.ndarray) -> list[np.ndarray]:
    yt = op.result.type
    inputs = op.operand_list("inputs")
    parts = [_requantize(x, v.type, m, s, yt)
             for x, v, m, s in zip(xs, inputs, op.multiplier, op.shift, strict=True)]
    return [np.concatenate(parts, axis=op.axis % yt.rank)]
