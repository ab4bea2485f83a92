"""Kernels of the onnx convolution, matrix-product and pooling ops.

Windowed ops loop over kernel offsets (a handful of iterations), each step a
strided view of the whole padded input, so no Python loop ever runs per element.
Geometry comes from :func:`furiosa.ir.dialects.onnx.nn.window_geometry` on the
actual input shape, the same function the type rule uses.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence

import numpy as np

from furiosa.ir.dialects.onnx.nn import (
    AveragePool,
    Conv,
    ConvTranspose,
    Gemm,
    GlobalAveragePool,
    GlobalMaxPool,
    LpPool,
    MatMul,
    MaxPool,
    Window,
    window_geometry,
)
from furiosa.ir.interpreter import kernel


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """Float16 math runs in float32 (numpy's half matmul is slow and no more exact)."""
    return np.dtype(np.float32) if dtype == np.float16 else np.dtype(dtype)


def pad_spatial(x: np.ndarray, begin: Sequence[int], end: Sequence[int],
                value: float | int = 0) -> np.ndarray:
    """Pad the trailing ``len(begin)`` axes of ``x`` with a constant."""
    if not any(begin) and not any(end):
        return x
    lead = x.ndim - len(begin)
    widths = [(0, 0)] * lead + list(zip(begin, end, strict=True))
    return np.pad(x, widths, mode="constant", constant_values=value)


def window_slices(window: Window) -> Iterator[tuple[tuple[int, ...], tuple[slice, ...]]]:
    """(kernel offset, spatial slices of the padded input it reads) for every kernel offset."""
    for pos in itertools.product(*(range(k) for k in window.kernel)):
        yield pos, tuple(
            slice(p * d, p * d + (o - 1) * s + 1, s)
            for p, d, o, s in zip(pos, window.dilations, window.out, window.strides, strict=True))


def conv_window(op: Conv, x: np.ndarray, w: np.ndarray) -> Window:
    return window_geometry(op, x.shape[2:], w.shape[2:], op.strides, op.dilations, op.pads,
                           op.auto_pad)


def convolve(x: np.ndarray, w: np.ndarray, group: int, window: Window) -> np.ndarray:
    """Grouped N-D convolution by im2col: X [N, C, ...] (already in its compute dtype),
    W [M, C/group, k...] -> [N, M, out...]. Padding is applied here with zeros."""
    n, c = x.shape[:2]
    m = w.shape[0]
    xp = pad_spatial(x, window.pads_begin, window.pads_end)
    spatial = len(window.kernel)
    lead = (slice(None), slice(None))
    cols = np.stack([xp[lead + sl] for _, sl in window_slices(window)], axis=2)
    # cols: [N, C, K, out...] -> [N, G, Cg*K, P]; weight: [G, Mg, Cg*K].
    p = math.prod(window.out)
    k = math.prod(window.kernel)
    cols = cols.reshape(n, group, (c // group) * k, p)
    wg = w.reshape(group, m // group, (c // group) * k).astype(cols.dtype, copy=False)
    y = np.matmul(wg, cols)
    return y.reshape(n, m, *window.out) if spatial else y.reshape(n, m)


@kernel(Conv)
def _conv(op: Conv, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> list[np.ndarray]:
    ct = compute_dtype(x.dtype)
    window = conv_window(op, x, w)
    y = convolve(x.astype(ct, copy=False), w.astype(ct, copy=False), op.group, window)
    if b is not None:
        y = y + b.astype(ct).reshape(-1, *([1] * (y.ndim - 2)))
    return [y.astype(x.dtype, copy=False)]


@kernel(ConvTranspose)
def _conv_transpose(op: ConvTranspose, x: np.ndarray, w: np.ndarray,
                    b: np.ndarray | None = None) -> list[np.ndarray]:
    ct = compute_dtype(x.dtype)
    n, c = x.shape[:2]
    spatial = x.shape[2:]
    kernel_dims = w.shape[2:]
    g = op.group
    cg, mg = c // g, w.shape[1]
    out, begin, _ = op.geometry(spatial, kernel_dims)
    strides = op.strides or (1,) * len(spatial)
    dilations = op.dilations or (1,) * len(spatial)
    k = math.prod(kernel_dims)
    p = math.prod(spatial)
    # Every input position times every kernel tap, then scattered (strided add) per tap.
    xs = x.astype(ct, copy=False).reshape(n, g, cg, p).transpose(0, 1, 3, 2)
    wg = w.astype(ct, copy=False).reshape(g, cg, mg * k)
    contrib = np.matmul(xs, wg).reshape(n, g, *spatial, mg, k)
    contrib = np.moveaxis(contrib, (-2, -1), (2, 3))  # [N, G, Mg, K, spatial...]
    full = [max(s * (i - 1) + (kd - 1) * d + 1, pb + o)
            for s, i, kd, d, pb, o in zip(strides, spatial, kernel_dims, dilations, begin, out,
                                          strict=True)]
    acc = np.zeros((n, g, mg, *full), dtype=ct)
    for idx, pos in enumerate(itertools.product(*(range(kd) for kd in kernel_dims))):
        sl = tuple(slice(q * d, q * d + s * (i - 1) + 1, s)
                   for q, d, s, i in zip(pos, dilations, strides, spatial, strict=True))
        acc[(slice(None),) * 3 + sl] += contrib[:, :, :, idx]
    crop = tuple(slice(pb, pb + o) for pb, o in zip(begin, out, strict=True))
    y = acc[(slice(None),) * 3 + crop].reshape(n, g * mg, *out)
    if b is not None:
        y = y + b.astype(ct).reshape(-1, *([1] * len(out)))
    return [y.astype(x.dtype, copy=False)]


@kernel(Gemm)
def _gemm(op: Gemm, a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None) -> list[np.ndarray]:
    ct = compute_dtype(a.dtype)
    a2 = a.T if op.transA else a
    b2 = b.T if op.transB else b
    if a.dtype.kind == "f":
        y = np.matmul(a2.astype(ct, copy=False), b2.astype(ct, copy=False))
        if op.alpha != 1.0:
            y = y * ct.type(op.alpha)
        if c is not None and op.beta != 0.0:
            y = y + c.astype(ct) * ct.type(op.beta)
        return [y.astype(a.dtype, copy=False)]
    y = np.matmul(a2, b2)
    if op.alpha == 1.0 and op.beta == 1.0:
        # Exact (wrapping) integer arithmetic when no float factor is involved.
        return [y if c is None else (y + c).astype(a.dtype)]
    # As ONNX's reference: float factors computed in double, then truncated to the type.
    yf = y.astype(np.float64) * op.alpha
    if c is not None and op.beta != 0.0:
        yf = yf + c.astype(np.float64) * op.beta
    return [yf.astype(a.dtype)]


@kernel(MatMul)
def _matmul(op: MatMul, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    ct = compute_dtype(a.dtype)
    return [np.matmul(a.astype(ct, copy=False), b.astype(ct, copy=False)).astype(a.dtype,
                                                                                  copy=False)]


# --------------------------------------------------------------------------- pooling


def pool_window(op: AveragePool | MaxPool | LpPool, x: np.ndarray, ceil_mode: bool = False,
                dilations: Sequence[int] | None = None) -> Window:
    return window_geometry(op, x.shape[2:], op.kernel_shape, op.strides, dilations, op.pads,
                           op.auto_pad, ceil_mode)


def lowest(dtype: np.dtype) -> float | int:
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


@kernel(MaxPool)
def _max_pool(op: MaxPool, x: np.ndarray) -> list[np.ndarray]:
    w = pool_window(op, x, bool(op.ceil_mode), op.dilations)
    spatial = x.shape[2:]
    end = [e + x_ for e, x_ in zip(w.pads_end, w.extra_end(spatial), strict=True)]
    xp = pad_spatial(x, w.pads_begin, end, lowest(x.dtype))
    lead = (slice(None), slice(None))
    slices = [sl for _, sl in window_slices(w)]
    best = xp[lead + slices[0]].copy()
    arg = np.zeros(best.shape, dtype=np.int64) if len(op.results) > 1 else None
    for idx, sl in enumerate(slices[1:], start=1):
        v = xp[lead + sl]
        if arg is not None:
            # Strictly greater: the first maximum in row-major window order wins, as in onnxruntime.
            arg[v > best] = idx
        np.maximum(best, v, out=best)
    if arg is None:
        return [best]
    return [best, _max_indices(x.shape, w, arg, bool(op.storage_order))]


def _max_indices(shape: Sequence[int], w: Window, arg: np.ndarray,
                 column_major: bool) -> np.ndarray:
    """Flat input index of each window's maximum (row- or column-major within an image)."""
    spatial = shape[2:]
    offsets = np.unravel_index(arg, w.kernel)
    coords = []
    for axis, off in enumerate(offsets):
        start = (np.arange(w.out[axis]) * w.strides[axis] - w.pads_begin[axis]).reshape(
            [-1 if i == axis else 1 for i in range(len(spatial))])
        coords.append(start + off * w.dilations[axis])
    flat = np.zeros_like(arg)
    for axis in (reversed(range(len(spatial))) if column_major else range(len(spatial))):
        flat = flat * spatial[axis] + coords[axis]
    image = math.prod(spatial)
    channel = np.arange(shape[0] * shape[1], dtype=np.int64).reshape(
        shape[0], shape[1], *([1] * len(spatial)))
    return (channel * image + flat).astype(np.int64)


def window_sum(xp: np.ndarray, w: Window) -> np.ndarray:
    lead = (slice(None),) * (xp.ndim - len(w.kernel))
    acc: np.ndarray | None = None
    for _, sl in window_slices(w):
        v = xp[lead + sl]
        acc = v.copy() if acc is None else acc + v
    assert acc is not None
    return acc


@kernel(AveragePool)
def _average_pool(op: AveragePool, x: np.ndarray) -> list[np.ndarray]:
    ct = compute_dtype(x.dtype)
    w = pool_window(op, x, bool(op.ceil_mode))
    spatial = x.shape[2:]
    extra = w.extra_end(spatial)
    end = [e + x_ for e, x_ in zip(w.pads_end, extra, strict=True)]
    total = window_sum(pad_spatial(x.astype(ct, copy=False), w.pads_begin, end), w)
    # The divisor counts real input positions, plus the explicit pads with count_include_pad;
    # positions past the pads that ceil_mode reaches never count.
    if op.count_include_pad:
        mask = pad_spatial(np.ones(tuple(n + b + e for n, b, e in zip(spatial, w.pads_begin,
                                                                       w.pads_end, strict=True)),
                                   dtype=ct), (0,) * len(spatial), extra)
    else:
        mask = pad_spatial(np.ones(spatial, dtype=ct), w.pads_begin, end)
    count = window_sum(mask, w)
    return [(total / count).astype(x.dtype, copy=False)]


@kernel(LpPool)
def _lp_pool(op: LpPool, x: np.ndarray) -> list[np.ndarray]:
    ct = compute_dtype(x.dtype)
    w = pool_window(op, x)
    xp = pad_spatial(np.abs(x.astype(ct, copy=False)) ** op.p, w.pads_begin, w.pads_end)
    return [(window_sum(xp, w) ** (1.0 / op.p)).astype(x.dtype, copy=False)]


@kernel(GlobalAveragePool)
def _global_average_pool(op: GlobalAveragePool, x: np.ndarray) -> list[np.ndarray]:
    axes = tuple(range(2, x.ndim))
    ct = compute_dtype(x.dtype)
    return [np.mean(x.astype(ct, copy=False), axis=axes, keepdims=True).astype(x.dtype, copy=False)]


@kernel(GlobalMaxPool)
def _global_max_pool(op: GlobalMaxPool, x: np.ndarray) -> list[np.ndarray]:
    return [np.max(x, axis=tuple(range(2, x.ndim)), keepdims=True)]
