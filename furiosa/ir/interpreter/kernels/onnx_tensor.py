"""Kernels of the onnx tensor-manipulation ops.

Shape arguments are read from the operand arrays (they equal the constants the type rule
used); index errors surface as IndexError, which the interpreter reports against the op.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from furiosa.ir.dialects.onnx.tensor import (
    Compress,
    Concat,
    ConstantOfShape,
    DepthToSpace,
    Expand,
    EyeLike,
    Flatten,
    Gather,
    GatherElements,
    GatherND,
    NonMaxSuppression,
    NonZero,
    OneHot,
    Pad,
    Range,
    Reshape,
    Resize,
    ScatterElements,
    ScatterND,
    Shape,
    Size,
    Slice,
    SpaceToDepth,
    Split,
    Squeeze,
    Tile,
    TopK,
    Transpose,
    Trilu,
    Unsqueeze,
    range_count,
    resize_output_dims,
    slice_bounds,
)
from furiosa.ir.interpreter import kernel


def ints(a: np.ndarray) -> list[int]:
    return [int(v) for v in np.asarray(a).reshape(-1)]


def axis_index(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


# --------------------------------------------------------------------------- reshaping


@kernel(Reshape)
def _reshape(op: Reshape, data: np.ndarray, shape: np.ndarray) -> list[np.ndarray]:
    target = [data.shape[i] if d == 0 else d for i, d in enumerate(ints(shape))]
    return [data.reshape(target)]


@kernel(Flatten)
def _flatten(op: Flatten, x: np.ndarray) -> list[np.ndarray]:
    axis = axis_index(op.axis, x.ndim)
    return [x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))]


@kernel(Squeeze)
def _squeeze(op: Squeeze, data: np.ndarray, axes: np.ndarray | None = None) -> list[np.ndarray]:
    if axes is None:
        return [np.squeeze(data)]
    return [np.squeeze(data, axis=tuple(axis_index(a, data.ndim) for a in ints(axes)))]


@kernel(Unsqueeze)
def _unsqueeze(op: Unsqueeze, data: np.ndarray, axes: np.ndarray) -> list[np.ndarray]:
    return [np.expand_dims(data, tuple(ints(axes)))]


@kernel(Transpose)
def _transpose(op: Transpose, data: np.ndarray) -> list[np.ndarray]:
    return [np.transpose(data, op.permutation(data.ndim))]


@kernel(DepthToSpace)
def _depth_to_space(op: DepthToSpace, x: np.ndarray) -> list[np.ndarray]:
    n, c, h, w = x.shape
    b = op.blocksize
    if op.mode == "DCR":
        y = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        y = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return [y.reshape(n, c // (b * b), h * b, w * b)]


@kernel(SpaceToDepth)
def _space_to_depth(op: SpaceToDepth, x: np.ndarray) -> list[np.ndarray]:
    n, c, h, w = x.shape
    b = op.blocksize
    y = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
    return [y.reshape(n, c * b * b, h // b, w // b)]


# --------------------------------------------------------------------------- joining and splitting


@kernel(Concat)
def _concat(op: Concat, *inputs: np.ndarray) -> list[np.ndarray]:
    return [np.concatenate(inputs, axis=axis_index(op.axis, inputs[0].ndim))]


@kernel(Split)
def _split(op: Split, x: np.ndarray, split: np.ndarray | None = None) -> list[np.ndarray]:
    axis = axis_index(op.axis, x.ndim)
    if split is not None:
        sizes = ints(split)
    else:
        n = len(op.results)
        sizes = [x.shape[axis] // n] * n
    bounds = np.cumsum(sizes)[:-1]
    return list(np.split(x, bounds, axis=axis))


@kernel(Tile)
def _tile(op: Tile, x: np.ndarray, repeats: np.ndarray) -> list[np.ndarray]:
    return [np.tile(x, ints(repeats))]


@kernel(Expand)
def _expand(op: Expand, x: np.ndarray, shape: np.ndarray) -> list[np.ndarray]:
    out = np.broadcast_shapes(x.shape, tuple(ints(shape)))
    return [np.broadcast_to(x, out).copy()]


# --------------------------------------------------------------------------- slicing and indexing


@kernel(Slice)
def _slice(op: Slice, data: np.ndarray, starts: np.ndarray, ends: np.ndarray,
           axes: np.ndarray | None = None, steps: np.ndarray | None = None) -> list[np.ndarray]:
    st, en = ints(starts), ints(ends)
    ax = (list(range(len(st))) if axes is None
          else [axis_index(a, data.ndim) for a in ints(axes)])
    sp = ints(steps) if steps is not None else [1] * len(st)
    index = [slice(None)] * data.ndim
    for a, s, e, step in zip(ax, st, en, sp, strict=True):
        lo, hi, _ = slice_bounds(data.shape[a], s, e, step)
        # A negative step running through index 0 ends at -1, which a Python slice reads as "last".
        index[a] = slice(lo, hi if hi >= 0 else None, step)
    return [data[tuple(index)].copy()]


@kernel(Gather)
def _gather(op: Gather, data: np.ndarray, indices: np.ndarray) -> list[np.ndarray]:
    return [np.take(data, indices, axis=axis_index(op.axis, data.ndim))]


def _check_index_range(idx: np.ndarray, dim: int, what: str) -> np.ndarray:
    """Indices in [-dim, dim) made non-negative; others are an IndexError."""
    if idx.size and (idx.min() < -dim or idx.max() >= dim):
        raise IndexError(f"{what} index out of range [-{dim}, {dim})")
    return np.where(idx < 0, idx + dim, idx)


@kernel(GatherElements)
def _gather_elements(op: GatherElements, data: np.ndarray, indices: np.ndarray) -> list[np.ndarray]:
    axis = axis_index(op.axis, data.ndim)
    idx = _check_index_range(indices.astype(np.int64), data.shape[axis], "GatherElements")
    return [np.take_along_axis(data, idx, axis=axis)]


@kernel(GatherND)
def _gather_nd(op: GatherND, data: np.ndarray, indices: np.ndarray) -> list[np.ndarray]:
    b = op.batch_dims
    k = indices.shape[-1]
    batch = data.shape[:b]
    nb = math.prod(batch)
    flat_data = data.reshape(nb, *data.shape[b:])
    flat_idx = indices.reshape(nb, -1, k)
    coords = [_check_index_range(flat_idx[..., i], data.shape[b + i], "GatherND")
              for i in range(k)]
    rows = np.arange(nb).reshape(nb, 1)
    gathered = flat_data[(rows, *coords)]
    return [gathered.reshape(*indices.shape[:-1], *data.shape[b + k:])]


@kernel(ScatterElements)
def _scatter_elements(op: ScatterElements, data: np.ndarray, indices: np.ndarray,
                      updates: np.ndarray) -> list[np.ndarray]:
    axis = axis_index(op.axis, data.ndim)
    out = data.copy()
    idx = _check_index_range(indices.astype(np.int64), data.shape[axis], "ScatterElements")
    np.put_along_axis(out, idx, updates, axis=axis)
    return [out]


@kernel(ScatterND)
def _scatter_nd(op: ScatterND, data: np.ndarray, indices: np.ndarray,
                updates: np.ndarray) -> list[np.ndarray]:
    out = data.copy()
    k = indices.shape[-1]
    coords = tuple(_check_index_range(indices[..., i], data.shape[i], "ScatterND")
                   for i in range(k))
    out[coords] = updates
    return [out]


@kernel(Compress)
def _compress(op: Compress, x: np.ndarray, condition: np.ndarray) -> list[np.ndarray]:
    if op.axis is None:
        return [np.compress(condition, x.reshape(-1))]
    return [np.compress(condition, x, axis=axis_index(op.axis, x.ndim))]


# --------------------------------------------------------------------------- padding


@kernel(Pad)
def _pad(op: Pad, data: np.ndarray, pads: np.ndarray,
         constant_value: np.ndarray | None = None) -> list[np.ndarray]:
    p = ints(pads)
    rank = data.ndim
    # Negative pads crop first; the rest pads.
    crop = tuple(slice(max(0, -p[i]), data.shape[i] - max(0, -p[i + rank])) for i in range(rank))
    x = data[crop]
    widths = [(max(0, p[i]), max(0, p[i + rank])) for i in range(rank)]
    if op.mode == "constant":
        value = (np.zeros((), data.dtype) if constant_value is None
                 else constant_value.reshape(()))
        return [np.pad(x, widths, mode="constant", constant_values=value)]
    return [np.pad(x, widths, mode=op.mode)]


# --------------------------------------------------------------------------- resize


def _source_coords(mode: str, out_len: int, in_len: int, scale: np.float32,
                   roi_start: float, roi_end: float) -> np.ndarray:
    """Input coordinate of each output index, in float32 as onnxruntime computes it."""
    f = np.float32
    x = np.arange(out_len, dtype=f)
    if mode == "half_pixel":
        return (x + f(0.5)) / scale - f(0.5)
    if mode == "pytorch_half_pixel":
        return (x + f(0.5)) / scale - f(0.5) if out_len > 1 else np.zeros(out_len, f)
    if mode == "tf_half_pixel_for_nn":
        return (x + f(0.5)) / scale
    if mode == "asymmetric":
        return x / scale
    if mode == "align_corners":
        return x * f(in_len - 1) / f(out_len - 1) if out_len > 1 else np.zeros(out_len, f)
    # tf_crop_and_resize
    if out_len > 1:
        return (f(roi_start) * f(in_len - 1)
                + x * (f(roi_end) - f(roi_start)) * f(in_len - 1) / f(out_len - 1))
    return np.full(out_len, 0.5 * (roi_start + roi_end) * (in_len - 1), dtype=f)


NEAREST: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "round_prefer_floor": lambda c: np.ceil(c - 0.5),
    "round_prefer_ceil": lambda c: np.floor(c + 0.5),
    "floor": np.floor,
    "ceil": np.ceil,
}


def _cubic_coeffs(r: np.ndarray, a: float) -> list[np.ndarray]:
    """Weights of taps floor(x)-1 .. floor(x)+2 for fraction ``r`` (Keys' cubic, parameter a)."""
    def near(t: np.ndarray) -> np.ndarray:  # |t| <= 1
        return ((a + 2) * t - (a + 3)) * t * t + 1

    def far(t: np.ndarray) -> np.ndarray:  # 1 < |t| < 2
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a

    return [far(r + 1), near(r), near(1 - r), far(2 - r)]


def _along(w: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    return w.reshape([-1 if i == axis else 1 for i in range(ndim)])


def _resize_axis(op: Resize, x: np.ndarray, axis: int, coords: np.ndarray) -> np.ndarray:
    n = x.shape[axis]
    if op.mode == "nearest":
        rounded = NEAREST[op.nearest_mode](coords.astype(np.float64))
        idx = np.clip(rounded, 0, n - 1).astype(np.int64)
        if idx.size == n and np.array_equal(idx, np.arange(n)):
            return x
        return np.take(x, idx, axis=axis)
    ct = x.dtype
    if op.mode == "linear":
        c = np.clip(coords, 0, n - 1).astype(ct)
        i0 = np.minimum(np.floor(c).astype(np.int64), n - 1)
        i1 = np.minimum(i0 + 1, n - 1)
        w1 = c - i0.astype(ct)
        if coords.size == n and not w1.any() and np.array_equal(i0, np.arange(n)):
            return x
        w0 = np.ones_like(w1) - w1
        return (np.take(x, i0, axis=axis) * _along(w0, axis, x.ndim)
                + np.take(x, i1, axis=axis) * _along(w1, axis, x.ndim))
    c = coords.astype(ct)
    base = np.floor(c)
    r = c - base
    base_i = base.astype(np.int64)
    taps = [base_i + k for k in (-1, 0, 1, 2)]
    coeffs = _cubic_coeffs(r, op.cubic_coeff_a)
    if op.exclude_outside:
        coeffs = [np.where((t >= 0) & (t < n), w, 0) for t, w in zip(taps, coeffs, strict=True)]
        total = sum(coeffs)
        coeffs = [w / total for w in coeffs]
    out = None
    for t, w in zip(taps, coeffs, strict=True):
        term = np.take(x, np.clip(t, 0, n - 1), axis=axis) * _along(w.astype(ct), axis, x.ndim)
        out = term if out is None else out + term
    assert out is not None
    return out


@kernel(Resize)
def _resize(op: Resize, x: np.ndarray, roi: np.ndarray | None = None,
            scales: np.ndarray | None = None, sizes: np.ndarray | None = None) -> list[np.ndarray]:
    scales = scales if scales is not None and scales.size else None
    sizes = sizes if sizes is not None and sizes.size else None
    out_dims = resize_output_dims(op, x.shape, scales, sizes)
    rank = x.ndim
    if sizes is not None:
        ratios = [np.float32(o) / np.float32(i) for o, i in zip(out_dims, x.shape, strict=True)]
    else:
        assert scales is not None
        ratios = [np.float32(s) for s in scales.reshape(-1)]
    crop = op.coordinate_transformation_mode == "tf_crop_and_resize"
    box = roi.astype(np.float64).reshape(-1) if roi is not None and roi.size else np.zeros(2 * rank)
    y = x if op.mode == "nearest" else x.astype(np.float64 if x.dtype == np.float64 else np.float32)
    outside = None
    for axis in range(rank):
        if op.mode == "nearest" and ratios[axis] == 1:
            # As onnxruntime: nearest leaves unscaled axes alone (no coordinate transform).
            continue
        coords = _source_coords(op.coordinate_transformation_mode, out_dims[axis], x.shape[axis],
                                ratios[axis], float(box[axis]), float(box[axis + rank]))
        y = _resize_axis(op, y, axis, coords)
        if crop:
            off = _along((coords < 0) | (coords > x.shape[axis] - 1), axis, rank)
            outside = off if outside is None else (outside | off)
    if outside is not None and outside.any():
        y = np.where(outside, np.asarray(op.extrapolation_value, dtype=y.dtype), y)
    return [y.astype(x.dtype, copy=False)]


# --------------------------------------------------------------------------- shapes and generators


@kernel(Shape)
def _shape(op: Shape, data: np.ndarray) -> list[np.ndarray]:
    return [np.array(data.shape, dtype=np.int64)]


@kernel(Size)
def _size(op: Size, data: np.ndarray) -> list[np.ndarray]:
    return [np.array(data.size, dtype=np.int64)]


@kernel(ConstantOfShape)
def _constant_of_shape(op: ConstantOfShape, shape: np.ndarray) -> list[np.ndarray]:
    return [np.full(ints(shape), op.value.array.reshape(()), dtype=op.value.type.dtype)]


@kernel(Range)
def _range(op: Range, start: np.ndarray, limit: np.ndarray, delta: np.ndarray) -> list[np.ndarray]:
    s, lim, d = start.reshape(()), limit.reshape(()), delta.reshape(())
    n = range_count(s, lim, d)
    if n is None:
        raise ValueError("start, limit and delta give no finite element count")
    if start.dtype.kind == "f":
        # onnxruntime adds delta repeatedly; a running sum reproduces its rounding.
        steps = np.full(n, d, dtype=start.dtype)
        if n:
            steps[0] = s
        return [np.cumsum(steps, dtype=start.dtype)]
    return [(s + np.arange(n, dtype=start.dtype) * d).astype(start.dtype)]


@kernel(EyeLike)
def _eye_like(op: EyeLike, x: np.ndarray) -> list[np.ndarray]:
    dtype = (op.dtype.dtype if op.dtype is not None else x.dtype)
    return [np.eye(x.shape[0], x.shape[1], k=op.k, dtype=dtype)]


@kernel(OneHot)
def _one_hot(op: OneHot, indices: np.ndarray, depth: np.ndarray,
             values: np.ndarray) -> list[np.ndarray]:
    n = int(depth.reshape(()))
    idx = indices.astype(np.int64)
    idx = np.where(idx < 0, idx + n, idx)
    axis = axis_index(op.axis, indices.ndim + 1)
    hot = np.expand_dims(idx, axis) == _along(np.arange(n), axis, indices.ndim + 1)
    return [np.where(hot, values[1], values[0]).astype(values.dtype)]


@kernel(Trilu)
def _trilu(op: Trilu, x: np.ndarray, k: np.ndarray | None = None) -> list[np.ndarray]:
    diag = int(k.reshape(())) if k is not None else 0
    return [np.triu(x, diag) if op.upper else np.tril(x, diag)]


# --------------------------------------------------------------------------- sorting and selection


@kernel(TopK)
def _top_k(op: TopK, x: np.ndarray, k: np.ndarray) -> list[np.ndarray]:
    axis = axis_index(op.axis, x.ndim)
    count = int(k.reshape(()))
    n = x.shape[axis]
    if op.largest:
        # Stable ascending sort of the reversed axis, read backwards: descending values with
        # ties in ascending index order.
        order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
        order = (n - 1) - np.flip(order, axis)
    else:
        order = np.argsort(x, axis=axis, kind="stable")
    idx = np.take(order, np.arange(count), axis=axis).astype(np.int64)
    return [np.take_along_axis(x, idx, axis=axis), idx]


@kernel(NonZero)
def _non_zero(op: NonZero, x: np.ndarray) -> list[np.ndarray]:
    return [np.array(np.nonzero(x.reshape(-1) if x.ndim == 0 else x), dtype=np.int64)]


def _corners(boxes: np.ndarray, center: bool) -> tuple[np.ndarray, ...]:
    """(y_min, x_min, y_max, x_max) in float32, however the boxes are given."""
    if center:
        xc, yc, w, h = (boxes[..., i] for i in range(4))
        half_w, half_h = w / np.float32(2), h / np.float32(2)
        return yc - half_h, xc - half_w, yc + half_h, xc + half_w
    y1, x1, y2, x2 = (boxes[..., i] for i in range(4))
    return np.minimum(y1, y2), np.minimum(x1, x2), np.maximum(y1, y2), np.maximum(x1, x2)


def _suppression_matrix(boxes: np.ndarray, center: bool, threshold: np.float32) -> np.ndarray:
    """[S, S] bool: box j is suppressed by box i (IoU > threshold), as onnxruntime decides it."""
    y0, x0, y1, x1 = _corners(boxes, center)
    area = (x1 - x0) * (y1 - y0)
    iy0 = np.maximum(y0[:, None], y0[None, :])
    ix0 = np.maximum(x0[:, None], x0[None, :])
    iy1 = np.minimum(y1[:, None], y1[None, :])
    ix1 = np.minimum(x1[:, None], x1[None, :])
    inter = (ix1 - ix0) * (iy1 - iy0)
    union = area[:, None] + area[None, :] - inter
    with np.errstate(all="ignore"):
        iou = inter / union
    valid = ((ix1 > ix0) & (iy1 > iy0) & (inter > 0) & (area[:, None] > 0) & (area[None, :] > 0)
             & (union > 0))
    return valid & (iou > threshold)


@kernel(NonMaxSuppression)
def _non_max_suppression(op: NonMaxSuppression, boxes: np.ndarray, scores: np.ndarray,
                         max_output: np.ndarray | None = None, iou: np.ndarray | None = None,
                         score_threshold: np.ndarray | None = None) -> list[np.ndarray]:
    limit = int(max_output.reshape(())) if max_output is not None and max_output.size else 0
    threshold = np.float32(iou.reshape(())) if iou is not None and iou.size else np.float32(0)
    rows: list[tuple[int, int, int]] = []
    if limit > 0:
        for b in range(boxes.shape[0]):
            suppress = _suppression_matrix(boxes[b], bool(op.center_point_box), threshold)
            for c in range(scores.shape[1]):
                s = scores[b, c]
                keep = np.ones(s.shape, dtype=bool)
                if score_threshold is not None and score_threshold.size:
                    keep = s > np.float32(score_threshold.reshape(()))
                candidates = np.flatnonzero(keep)
                # Descending score; equal scores by ascending box index.
                candidates = candidates[np.argsort(-s[candidates], kind="stable")]
                alive = np.ones(candidates.size, dtype=bool)
                picked = 0
                # Greedy selection: one iteration per selected box, each vectorised over the rest.
                while picked < limit and alive.any():
                    pos = int(np.argmax(alive))
                    box = int(candidates[pos])
                    rows.append((b, c, box))
                    picked += 1
                    alive[pos] = False
                    alive &= ~suppress[box, candidates]
    return [np.array(rows, dtype=np.int64).reshape(-1, 3)]
