"""Tensor manipulation: reshaping, indexing, padding, resizing, and the data-dependent ops
(ONNX opset-13 semantics).

Operands that decide a result shape (Reshape ``shape``, Slice ``starts``..., Pad ``pads``,
Resize ``scales``/``sizes``, TopK ``K``...) must be constants. Shape-only ops carry an
IR-quantized type through: per-tensor quantization as it is, per-axis quantization moved
(and re-indexed when the op selects, repeats or concatenates along its axis) or, when it
cannot follow, rejected with an error. Data-dependent ops (NonZero, NonMaxSuppression,
Compress) give a dynamic dimension.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from furiosa.ir.core import AttrKind, Dense, Operation, attribute, op_def, operand, result
from furiosa.ir.dialects.common import (
    ANY,
    FLOATS,
    INDEX,
    NUMERIC,
    as_index_list,
    broadcast_shapes,
    normalize_axis,
    same_element,
)
from furiosa.ir.dialects.onnx.nn import reject_quantized
from furiosa.ir.traits import (
    MovesData,
    NpuCapable,
    QuantFoldable,
    SameTypeIdentity,
)
from furiosa.ir.types import DYNAMIC, ElementType, Quantization, TensorType

E = ElementType
I64 = frozenset({E.I64})
RANGE_ELEMENTS = frozenset({E.F32, E.F64, E.I16, E.I32, E.I64})


# --------------------------------------------------------------------------- shape helpers


def product(dims: Sequence[int]) -> int:
    """Product of dims, DYNAMIC when any is dynamic (and none is 0)."""
    if 0 in dims:
        return 0
    return DYNAMIC if DYNAMIC in dims else math.prod(dims)


def merge_dim(op: Operation, a: int, b: int, what: str) -> int:
    """Two dims that must agree: the static one wins over a dynamic one."""
    if a == DYNAMIC:
        return b
    if b == DYNAMIC or a == b:
        return a
    raise op.error(f"{what}: {a} and {b} differ")


def concat_shape(op: Operation, types: Sequence[TensorType],
                 axis: int) -> tuple[tuple[int, ...], int]:
    """(result shape, normalized axis) of joining ``types`` along ``axis``: one rank and
    element type, equal dims off the axis, sizes summed on it."""
    first = types[0]
    if first.rank == 0:
        raise op.error("cannot concatenate scalars")
    axis = normalize_axis(op, axis, first.rank)
    shape = list(first.shape)
    for t in types[1:]:
        if t.element != first.element:
            raise op.error(f"inputs mix element types {first.element} and {t.element}")
        if t.rank != first.rank:
            raise op.error(f"inputs mix ranks {first.rank} and {t.rank}")
        for i in range(first.rank):
            if i == axis:
                shape[i] = DYNAMIC if DYNAMIC in (shape[i], t.shape[i]) else shape[i] + t.shape[i]
            else:
                shape[i] = merge_dim(op, shape[i], t.shape[i], f"dim {i} of the inputs")
    return tuple(shape), axis


def const_ints(op: Operation, name: str) -> list[int]:
    return as_index_list(op, op.require_const(name), name)


def normalize_axes(op: Operation, axes: Sequence[int], rank: int, name: str = "axes") -> list[int]:
    out = [normalize_axis(op, a, rank, name) for a in axes]
    if len(set(out)) != len(out):
        raise op.error(f"'{name}' {list(axes)} repeats an axis")
    return out


def slice_bounds(dim: int, start: int, end: int, step: int) -> tuple[int, int, int]:
    """ONNX Slice clamping: (start, end, length) along an axis of size ``dim``.

    ``range(start, end, step)`` lists the selected indices (``end`` is -1 when a negative
    step runs through index 0).
    """
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        start = min(max(start, 0), dim)
        end = min(max(end, 0), dim)
    else:
        start = min(max(start, 0), dim - 1)
        end = min(max(end, -1), dim - 1)
    length = max(0, -(-(end - start) // step))
    return start, end, length


def resize_output_dims(op: Operation, shape: Sequence[int], scales: np.ndarray | None,
                       sizes: np.ndarray | None) -> tuple[int, ...]:
    """Resize's output shape: ``sizes``, else ``floor(dim * scale)`` computed in float32
    as onnxruntime does."""
    rank = len(shape)
    if sizes is not None:
        out = as_index_list(op, sizes, "sizes")
        if len(out) != rank:
            raise op.error(f"'sizes' has {len(out)} values for an input of rank {rank}")
        if any(d < 0 for d in out):
            raise op.error(f"'sizes' {out} has a negative size")
        return tuple(out)
    assert scales is not None
    sc = np.asarray(scales, dtype=np.float32).reshape(-1)
    if sc.size != rank:
        raise op.error(f"'scales' has {sc.size} values for an input of rank {rank}")
    if not np.all(sc > 0):
        raise op.error(f"'scales' {sc.tolist()} must all be positive")
    return tuple(DYNAMIC if d == DYNAMIC else int(np.floor(np.float32(d) * s))
                 for d, s in zip(shape, sc, strict=True))


# --------------------------------------------------------------------------- quantization helpers


def carry_quant(op: Operation, t: TensorType, axis_to: int | None,
                scales: Sequence[int] | None = None) -> Quantization | None:
    """``t``'s quantization on a result of a shape-only op.

    Per tensor: unchanged. Per axis: moved to ``axis_to`` (None: it cannot follow, an error),
    with its (scale, zero point) pairs re-indexed by ``scales`` when given.
    """
    q = t.quant
    if q is None or q.axis is None:
        return q
    if axis_to is None and scales is None and len(q.scale) == 1:
        # One (scale, zero point) pair is per-tensor quantization, whatever happens to its axis.
        return Quantization.per_tensor(q.scale[0], q.zero_point[0])
    if axis_to is None:
        raise op.error(f"per-axis quantization on axis {q.axis} of {t} cannot follow this op")
    if scales is None:
        return Quantization(q.scale, q.zero_point, axis_to)
    return Quantization([q.scale[i] for i in scales], [q.zero_point[i] for i in scales], axis_to)


def reshape_axis(in_shape: Sequence[int], out_shape: Sequence[int], axis: int) -> int | None:
    """Where axis ``axis`` of ``in_shape`` lands in ``out_shape`` when it survives a reshape
    whole (same size, same number of elements before it), else None."""
    if DYNAMIC in in_shape[:axis + 1]:
        return None
    before = math.prod(in_shape[:axis])
    acc = 1
    for j, d in enumerate(out_shape):
        if acc == before and d == in_shape[axis]:
            return j
        if d == DYNAMIC:
            return None
        acc *= d
        if acc > before and before:
            return None
    return None


def reshape_type(op: Operation, t: TensorType, shape: Sequence[int]) -> TensorType:
    q = t.quant
    axis_to = reshape_axis(t.shape, shape, q.axis) if q is not None and q.axis is not None else None
    return TensorType(shape, t.element, carry_quant(op, t, axis_to))


# --------------------------------------------------------------------------- reshaping


@op_def("onnx.Reshape")
class Reshape(Operation):
    """``data`` with a new shape: 0 copies the input dim at that index, -1 is inferred."""
    TRAITS = (MovesData(), SameTypeIdentity(), NpuCapable("Reshape"))

    OPERANDS = (operand("data", ANY), operand("shape", I64))
    RESULTS = (result("reshaped"),)

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("data")
        target = const_ints(self, "shape")
        out: list[int] = []
        infer_at = None
        for i, d in enumerate(target):
            if d == 0:
                if i >= t.rank:
                    raise self.error(f"shape {target} copies dim {i} of a rank-{t.rank} input")
                out.append(t.shape[i])
            elif d == -1:
                if infer_at is not None:
                    raise self.error(f"shape {target} has more than one -1")
                infer_at = i
                out.append(DYNAMIC)
            elif d < -1:
                raise self.error(f"shape {target} has a negative size {d}")
            else:
                out.append(d)
        total = product(t.shape)
        known = product([d for i, d in enumerate(out) if i != infer_at])
        if infer_at is not None:
            if known == 0:
                raise self.error(f"shape {target} cannot infer its -1 beside a zero-size dim")
            if DYNAMIC not in (total, known):
                if total % known:
                    raise self.error(f"cannot reshape {list(t.shape)} ({total} elements) to "
                                     f"{target}")
                out[infer_at] = total // known
        elif DYNAMIC not in (total, known) and total != known:
            raise self.error(f"cannot reshape {list(t.shape)} ({total} elements) to {target} "
                             f"({known} elements)")
        return [reshape_type(self, t, out)]


@op_def("onnx.Flatten")
class Flatten(Operation):
    """2-D view [prod(dims[:axis]), prod(dims[axis:])]."""
    TRAITS = (MovesData(), SameTypeIdentity(), NpuCapable("Flatten"))

    OPERANDS = (operand("input", ANY),)
    RESULTS = (result("output"),)
    axis: int = attribute(AttrKind.INT, 1)

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("input")
        if not -t.rank <= self.axis <= t.rank:
            raise self.error(f"axis {self.axis} is out of range for rank {t.rank}")
        axis = self.axis + t.rank if self.axis < 0 else self.axis
        return [reshape_type(self, t, (product(t.shape[:axis]), product(t.shape[axis:])))]


@op_def("onnx.Squeeze")
class Squeeze(Operation):
    """Remove size-1 axes: the listed ``axes``, or every size-1 axis when absent."""
    TRAITS = (MovesData(), SameTypeIdentity())

    OPERANDS = (operand("data", ANY), operand("axes", I64, optional=True))
    RESULTS = (result("squeezed"),)

    def squeezed_axes(self) -> list[int]:
        t = self.type_of("data")
        if self.operand("axes") is None:
            if DYNAMIC in t.shape:
                raise self.error("needs 'axes' when the input has dynamic dims")
            return [i for i, d in enumerate(t.shape) if d == 1]
        axes = normalize_axes(self, const_ints(self, "axes"), t.rank)
        for a in axes:
            if t.shape[a] not in (1, DYNAMIC):
                raise self.error(f"axis {a} has size {t.shape[a]}, not 1")
        return sorted(axes)

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("data")
        drop = set(self.squeezed_axes())
        kept = [i for i in range(t.rank) if i not in drop]
        q = t.quant
        axis_to = kept.index(q.axis) if q is not None and q.axis in kept else None
        return [TensorType([t.shape[i] for i in kept], t.element, carry_quant(self, t, axis_to))]


@op_def("onnx.Unsqueeze")
class Unsqueeze(Operation):
    """Insert size-1 axes at ``axes`` (indices into the result)."""
    TRAITS = (MovesData(), SameTypeIdentity(), NpuCapable("Unsqueeze"))

    OPERANDS = (operand("data", ANY), operand("axes", I64))
    RESULTS = (result("expanded"),)

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("data")
        rank = t.rank + len(const_ints(self, "axes"))
        axes = set(normalize_axes(self, const_ints(self, "axes"), rank))
        src = iter(range(t.rank))
        origin = [None if i in axes else next(src) for i in range(rank)]
        shape = [1 if o is None else t.shape[o] for o in origin]
        q = t.quant
        axis_to = origin.index(q.axis) if q is not None and q.axis is not None else None
        return [TensorType(shape, t.element, carry_quant(self, t, axis_to))]


@op_def("onnx.Transpose")
class Transpose(Operation):
    """Permute axes: result axis i is input axis perm[i] (default: reversed)."""
    TRAITS = (MovesData(), NpuCapable("Transpose"))

    OPERANDS = (operand("data", ANY),)
    RESULTS = (result("transposed"),)
    perm: tuple[int, ...] | None = attribute(AttrKind.INTS, None)

    def permutation(self, rank: int) -> list[int]:
        if self.perm is None:
            return list(reversed(range(rank)))
        if sorted(self.perm) != list(range(rank)):
            raise self.error(f"perm {list(self.perm)} is not a permutation of {rank} axes")
        return list(self.perm)

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("data")
        perm = self.permutation(t.rank)
        q = t.quant
        axis_to = perm.index(q.axis) if q is not None and q.axis is not None else None
        return [TensorType([t.shape[p] for p in perm], t.element, carry_quant(self, t, axis_to))]


@op_def("onnx.DepthToSpace")
class DepthToSpace(Operation):
    """[N, C, H, W] -> [N, C/b², H*b, W*b], channels read depth-column-row (DCR) or CRD."""
    TRAITS = (MovesData(), NpuCapable("DepthToSpace"))

    OPERANDS = (operand("input", ANY),)
    RESULTS = (result("output"),)
    blocksize: int = attribute(AttrKind.INT, check=lambda b: b >= 1, check_text=">= 1")
    mode: str = attribute(AttrKind.STRING, "DCR", choices=("DCR", "CRD"))

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("input")
        if t.rank != 4:
            raise self.error(f"input has rank {t.rank}; expected 4 (N, C, H, W)")
        n, c, h, w = t.shape
        b = self.blocksize
        if c != DYNAMIC and c % (b * b):
            raise self.error(f"{c} channels do not divide by blocksize² = {b * b}")
        shape = (n, DYNAMIC if c == DYNAMIC else c // (b * b),
                 DYNAMIC if h == DYNAMIC else h * b, DYNAMIC if w == DYNAMIC else w * b)
        # Only a per-batch quantization survives the channel/space reshuffle.
        q = t.quant
        axis_to = 0 if q is not None and q.axis == 0 else None
        return [TensorType(shape, t.element, carry_quant(self, t, axis_to))]


@op_def("onnx.SpaceToDepth")
class SpaceToDepth(Operation):
    """[N, C, H, W] -> [N, C*b², H/b, W/b]."""
    TRAITS = (MovesData(), NpuCapable("SpaceToDepth"))

    OPERANDS = (operand("input", ANY),)
    RESULTS = (result("output"),)
    blocksize: int = attribute(AttrKind.INT, check=lambda b: b >= 1, check_text=">= 1")

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("input")
        if t.rank != 4:
            raise self.error(f"input has rank {t.rank}; expected 4 (N, C, H, W)")
        n, c, h, w = t.shape
        b = self.blocksize
        for name, d in (("height", h), ("width", w)):
            if d != DYNAMIC and d % b:
                raise self.error(f"{name} {d} does not divide by blocksize {b}")
        shape = (n, DYNAMIC if c == DYNAMIC else c * b * b,
                 DYNAMIC if h == DYNAMIC else h // b, DYNAMIC if w == DYNAMIC else w // b)
        # Only a per-batch quantization survives the channel/space reshuffle.
        q = t.quant
        axis_to = 0 if q is not None and q.axis == 0 else None
        return [TensorType(shape, t.element, carry_quant(self, t, axis_to))]


# --------------------------------------------------------------------------- joining and splitting


@op_def("onnx.Concat")
class Concat(Operation):
    """Join the inputs along ``axis``."""
    TRAITS = (QuantFoldable("quant.Concat"), NpuCapable("Concat"))

    OPERANDS = (operand("inputs", ANY, variadic=True, min_count=1),)
    RESULTS = (result("concat_result"),)
    axis: int = attribute(AttrKind.INT)

    def infer_types(self) -> list[TensorType]:
        types = [v.type for v in self.operand_list("inputs")]
        shape, axis = concat_shape(self, types, self.axis)
        return [TensorType(shape, types[0].element, self._quant(types, axis))]

    def _quant(self, types: list[TensorType], axis: int) -> Quantization | None:
        given = [t.quant for t in types]
        if all(q is None for q in given):
            return None
        quants = [q for q in given if q is not None]
        if len(quants) != len(given):
            raise self.error("cannot concatenate quantized and unquantized inputs")
        if all(q == quants[0] for q in quants) and quants[0].axis != axis:
            return quants[0]
        if all(q.axis == axis for q in quants):
            return Quantization([s for q in quants for s in q.scale],
                                [z for q in quants for z in q.zero_point], axis)
        raise self.error("inputs have different quantizations; requantize them to one first")


@op_def("onnx.Split")
class Split(Operation):
    """Split ``input`` along ``axis`` into ``split``-sized parts, or ``num_outputs`` equal ones."""
    TRAITS = (MovesData(), NpuCapable("Split"))

    OPERANDS = (operand("input", ANY), operand("split", I64, optional=True))
    RESULTS = (result("outputs", variadic=True),)
    axis: int = attribute(AttrKind.INT, 0)
    # Opset 18's attribute: without ``split``, opset 13 takes the part count from the node's
    # outputs, which an IR op must know before it has results.
    num_outputs: int | None = attribute(AttrKind.INT, None, check=lambda n: n >= 1,
                                        check_text=">= 1")

    def sizes(self, dim: int) -> list[int]:
        """The part sizes along an axis of size ``dim`` (DYNAMIC parts when it is dynamic)."""
        if self.operand("split") is not None:
            if self.num_outputs is not None:
                raise self.error("give either the 'split' operand or 'num_outputs', not both")
            parts = const_ints(self, "split")
            if not parts or any(p < 0 for p in parts):
                raise self.error(f"'split' {parts} must be non-negative sizes")
            if dim != DYNAMIC and sum(parts) != dim:
                raise self.error(f"'split' {parts} sums to {sum(parts)}, not the axis size {dim}")
            return parts
        if self.num_outputs is None:
            raise self.error("needs the 'split' operand or the 'num_outputs' attribute")
        if dim == DYNAMIC:
            return [DYNAMIC] * self.num_outputs
        if dim % self.num_outputs:
            raise self.error(f"axis size {dim} does not split into {self.num_outputs} equal parts")
        return [dim // self.num_outputs] * self.num_outputs

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("input")
        axis = normalize_axis(self, self.axis, t.rank)
        out = []
        start = 0
        q = t.quant
        for size in self.sizes(t.shape[axis]):
            shape = list(t.shape)
            shape[axis] = size
            if q is not None and q.axis == axis:
                quant = carry_quant(self, t, axis, range(start, start + size))
            else:
                quant = carry_quant(self, t, q.axis if q is not None else None)
            out.append(TensorType(shape, t.element, quant))
            start += size
        return out


@op_def("onnx.Tile")
class Tile(Operation):
    """Repeat ``input`` ``repeats[i]`` times along each axis i."""
    TRAITS = (MovesData(), SameTypeIdentity())

    OPERANDS = (operand("input", ANY), operand("repeats", I64))
    RESULTS = (result("output"),)

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("input")
        reps = const_ints(self, "repeats")
        if len(reps) != t.rank or any(r < 0 for r in reps):
            raise self.error(f"'repeats' {reps} needs {t.rank} non-negative values")
        shape = [0 if r == 0 else (DYNAMIC if d == DYNAMIC else d * r)
                 for d, r in zip(t.shape, reps, strict=True)]
        q = t.quant
        scales = None
        if q is not None and q.axis is not None:
            scales = list(range(len(q.scale))) * reps[q.axis]
        return [TensorType(shape, t.element, carry_quant(self, t, q.axis if q else None, scales))]


@op_def("onnx.Expand")
class Expand(Operation):
    """Broadcast ``input`` with ``shape`` (bidirectionally, as numpy does)."""
    TRAITS = (MovesData(), SameTypeIdentity(), NpuCapable("Expand"))

    OPERANDS = (operand("input", ANY), operand("shape", I64))
    RESULTS = (result("output"),)

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("input")
        target = const_ints(self, "shape")
        if any(d < 0 for d in target):
            raise self.error(f"'shape' {target} has a negative size")
        shape = broadcast_shapes(self, t.shape, target)
        q = t.quant
        axis_to = None
        if q is not None and q.axis is not None:
            new = q.axis + len(shape) - t.rank
            axis_to = new if shape[new] == t.shape[q.axis] else None
        return [TensorType(shape, t.element, carry_quant(self, t, axis_to))]


# --------------------------------------------------------------------------- slicing and indexing


@op_def("onnx.Slice")
class Slice(Operation):
    """``data[starts:ends:steps]`` on ``axes`` (default: the leading axes), clamped as ONNX does."""
    TRAITS = (MovesData(), NpuCapable("Slice"))

    OPERANDS = (operand("data", ANY), operand("starts", INDEX), operand("ends", INDEX),
                operand("axes", INDEX, optional=True), operand("steps", INDEX, optional=True))
    RESULTS = (result("output"),)

    def params(self, rank: int) -> dict[int, tuple[int, int, int]]:
        """axis -> (start, end, step), unclamped, from the constant operands."""
        starts = const_ints(self, "starts")
        ends = const_ints(self, "ends")
        if len(starts) != len(ends):
            raise self.error(f"'starts' has {len(starts)} values but 'ends' has {len(ends)}")
        axes = (normalize_axes(self, const_ints(self, "axes"), rank)
                if self.operand("axes") is not None else list(range(len(starts))))
        steps = ([1] * len(starts) if self.operand("steps") is None
                 else const_ints(self, "steps"))
        if not len(axes) == len(steps) == len(starts):
            raise self.error("'starts', 'ends', 'axes' and 'steps' must have the same length")
        if len(starts) > rank:
            raise self.error(f"{len(starts)} slices for a rank-{rank} input")
        if 0 in steps:
            raise self.error("'steps' cannot be 0")
        return {a: (s, e, st) for a, s, e, st in zip(axes, starts, ends, steps, strict=True)}

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("data")
        shape = list(t.shape)
        q = t.quant
        scales = None
        for axis, (start, end, step) in self.params(t.rank).items():
            if shape[axis] == DYNAMIC:
                continue
            lo, hi, length = slice_bounds(shape[axis], start, end, step)
            shape[axis] = length
            if q is not None and q.axis == axis:
                scales = list(range(lo, hi, step))
        return [TensorType(shape, t.element, carry_quant(self, t, q.axis if q else None, scales))]


@op_def("onnx.Gather")
class Gather(Operation):
    """Take entries of ``data`` along ``axis`` at ``indices`` (negative indices count back)."""
    TRAITS = (MovesData(),)

    OPERANDS = (operand("data", ANY), operand("indices", INDEX))
    RESULTS = (result("output"),)
    axis: int = attribute(AttrKind.INT, 0)

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("data")
        idx = self.type_of("indices")
        if t.rank == 0:
            raise self.error("cannot gather from a scalar")
        axis = normalize_axis(self, self.axis, t.rank)
        shape = (*t.shape[:axis], *idx.shape, *t.shape[axis + 1:])
        q = t.quant
        if q is None or q.axis is None or q.axis != axis:
            axis_to = None
            if q is not None and q.axis is not None:
                axis_to = q.axis if q.axis < axis else q.axis + idx.rank - 1
            return [TensorType(shape, t.element, carry_quant(self, t, axis_to))]
        # Gathering along the quantized axis picks scales; known only for constant indices.
        const = self.const("indices")
        if const is None or idx.rank > 1:
            raise self.error("per-axis quantization on the gathered axis needs constant 0-D or "
                             "1-D indices")
        picked = [int(i) % len(q.scale) for i in const.reshape(-1)]
        if idx.rank == 0:
            quant = Quantization.per_tensor(q.scale[picked[0]], q.zero_point[picked[0]])
        else:
            quant = carry_quant(self, t, axis, picked)
        return [TensorType(shape, t.element, quant)]


@op_def("onnx.GatherElements")
class GatherElements(Operation):
    """out[i][j]... = data[...][indices[i][j]...][...], indexing along ``axis``."""

    OPERANDS = (operand("data", ANY), operand("indices", INDEX))
    RESULTS = (result("output"),)
    axis: int = attribute(AttrKind.INT, 0)

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("data")
        idx = self.type_of("indices")
        if idx.rank != t.rank or t.rank == 0:
            raise self.error(f"indices rank {idx.rank} must equal data rank {t.rank} (>= 1)")
        axis = normalize_axis(self, self.axis, t.rank)
        q = t.quant
        axis_to = None
        if q is not None and q.axis is not None and q.axis != axis and \
                idx.shape[q.axis] == t.shape[q.axis]:
            axis_to = q.axis
        return [TensorType(idx.shape, t.element, carry_quant(self, t, axis_to))]


@op_def("onnx.GatherND")
class GatherND(Operation):
    """Gather slices of ``data`` addressed by the last axis of ``indices``."""

    OPERANDS = (operand("data", ANY), operand("indices", I64))
    RESULTS = (result("output"),)
    batch_dims: int = attribute(AttrKind.INT, 0, check=lambda b: b >= 0, check_text=">= 0")

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("data")
        idx = self.type_of("indices")
        b = self.batch_dims
        if idx.rank < 1 or t.rank < 1 or b >= min(idx.rank, t.rank):
            raise self.error(f"batch_dims {b} must be smaller than the ranks of data ({t.rank}) "
                             f"and indices ({idx.rank})")
        k = idx.shape[-1]
        if k == DYNAMIC or not 1 <= k <= t.rank - b:
            raise self.error(f"the last indices dim {k} must be static, in [1, {t.rank - b}]")
        for i in range(b):
            merge_dim(self, t.shape[i], idx.shape[i], f"batch dim {i}")
        shape = (*idx.shape[:-1], *t.shape[b + k:])
        q = t.quant
        axis_to = None
        if q is not None and q.axis is not None:
            if q.axis < b:
                axis_to = q.axis
            elif q.axis >= b + k:
                axis_to = q.axis - (b + k) + idx.rank - 1
        return [TensorType(shape, t.element, carry_quant(self, t, axis_to))]


class ScatterBase(Operation):
    """Result like ``data``; ``updates`` must have data's element type and quantization."""

    RESULTS = (result("output"),)

    def scatter_type(self) -> TensorType:
        t = self.type_of("data")
        u = self.type_of("updates")
        if u.element != t.element or u.quant != t.quant:
            raise self.error(f"updates type {u} does not match data type {t}")
        return TensorType(t.shape, t.element, t.quant)


@op_def("onnx.ScatterElements")
class ScatterElements(ScatterBase):
    """Copy of ``data`` with ``updates`` written at ``indices`` along ``axis``."""

    OPERANDS = (operand("data", ANY), operand("indices", INDEX), operand("updates", ANY))
    axis: int = attribute(AttrKind.INT, 0)

    def infer_types(self) -> list[TensorType]:
        out = self.scatter_type()
        idx, upd = self.type_of("indices"), self.type_of("updates")
        if idx.rank != out.rank or idx.shape != upd.shape:
            raise self.error(f"indices {list(idx.shape)} and updates {list(upd.shape)} must have "
                             f"one shape of rank {out.rank}")
        normalize_axis(self, self.axis, out.rank)
        return [out]


@op_def("onnx.ScatterND")
class ScatterND(ScatterBase):
    """Copy of ``data`` with ``updates`` written at the index tuples of ``indices``."""

    OPERANDS = (operand("data", ANY), operand("indices", I64), operand("updates", ANY))

    def infer_types(self) -> list[TensorType]:
        out = self.scatter_type()
        idx, upd = self.type_of("indices"), self.type_of("updates")
        k = idx.shape[-1] if idx.rank else 0
        if idx.rank < 1 or k == DYNAMIC or not 1 <= k <= out.rank:
            raise self.error(f"the last indices dim must be static, in [1, {out.rank}]")
        want = (*idx.shape[:-1], *out.shape[k:])
        if len(want) != upd.rank:
            raise self.error(f"updates shape {list(upd.shape)} must be {list(want)}")
        for a, b in zip(want, upd.shape, strict=True):
            merge_dim(self, a, b, "updates shape")
        return [out]


@op_def("onnx.Compress")
class Compress(Operation):
    """Entries of ``input`` along ``axis`` (flattened when absent) where ``condition`` is true."""

    OPERANDS = (operand("input", ANY), operand("condition", {E.BOOL}))
    RESULTS = (result("output"),)
    axis: int | None = attribute(AttrKind.INT, None)

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("input")
        if self.type_of("condition").rank != 1:
            raise self.error("'condition' must be 1-D")
        if self.axis is None:
            return [TensorType((DYNAMIC,), t.element, carry_quant(self, t, None))]
        axis = normalize_axis(self, self.axis, t.rank)
        shape = list(t.shape)
        shape[axis] = DYNAMIC
        q = t.quant
        axis_to = q.axis if q is not None and q.axis != axis else None
        return [TensorType(shape, t.element, carry_quant(self, t, axis_to))]


# --------------------------------------------------------------------------- padding and resizing


@op_def("onnx.Pad")
class Pad(Operation):
    """Pad (or, with negative pads, crop) ``data``: constant, reflect or edge."""
    TRAITS = (MovesData(), NpuCapable("Pad"))

    OPERANDS = (operand("data", ANY), operand("pads", I64),
                operand("constant_value", ANY, optional=True))
    RESULTS = (result("output"),)
    mode: str = attribute(AttrKind.STRING, "constant", choices=("constant", "reflect", "edge"))

    def widths(self, rank: int) -> list[tuple[int, int]]:
        pads = const_ints(self, "pads")
        if len(pads) != 2 * rank:
            raise self.error(f"'pads' has {len(pads)} values; expected {2 * rank}")
        return [(pads[i], pads[i + rank]) for i in range(rank)]

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("data")
        cv = self.operand("constant_value")
        if cv is not None:
            if cv.type.element != t.element:
                raise self.error(f"constant_value is {cv.type.element}; data is {t.element}")
            if cv.type.rank > 1 or (cv.type.rank == 1 and cv.type.shape[0] != 1):
                raise self.error("constant_value must be a scalar")
        shape = []
        for i, (b, e) in enumerate(self.widths(t.rank)):
            d = t.shape[i]
            if d == DYNAMIC:
                shape.append(DYNAMIC)
                continue
            # A negative pad crops before the other side pads, so the crops alone must fit.
            if max(0, -b) + max(0, -e) > d:
                raise self.error(f"pads {b}, {e} crop more of axis {i} than its {d} elements")
            if self.mode != "constant" and (b > 0 or e > 0) and d == 0:
                raise self.error(f"{self.mode} padding needs a non-empty axis {i}")
            shape.append(d + b + e)
        q = t.quant
        axis_to = None
        if q is not None and q.axis is not None and shape[q.axis] == t.shape[q.axis] and \
                self.widths(t.rank)[q.axis] == (0, 0):
            axis_to = q.axis
        return [TensorType(shape, t.element, carry_quant(self, t, axis_to))]


COORDINATE_MODES = ("half_pixel", "asymmetric", "pytorch_half_pixel", "tf_crop_and_resize",
                    "align_corners", "tf_half_pixel_for_nn")


@op_def("onnx.Resize")
class Resize(Operation):
    """Resize X to ``sizes`` or by ``scales``: nearest, or separable N-D linear/cubic."""
    TRAITS = (MovesData(), NpuCapable("Resize"))

    OPERANDS = (operand("X", NUMERIC), operand("roi", FLOATS, optional=True),
                operand("scales", {E.F32}, optional=True), operand("sizes", I64, optional=True))
    RESULTS = (result("Y"),)
    coordinate_transformation_mode: str = attribute(AttrKind.STRING, "half_pixel",
                                                    choices=COORDINATE_MODES)
    cubic_coeff_a: float = attribute(AttrKind.FLOAT, -0.75)
    exclude_outside: int = attribute(AttrKind.INT, 0, choices=(0, 1))
    extrapolation_value: float = attribute(AttrKind.FLOAT, 0.0)
    mode: str = attribute(AttrKind.STRING, "nearest", choices=("nearest", "linear", "cubic"))
    nearest_mode: str = attribute(AttrKind.STRING, "round_prefer_floor",
                                  choices=("round_prefer_floor", "round_prefer_ceil", "floor",
                                           "ceil"))

    def scales_and_sizes(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The constant scales / sizes; an empty tensor stands for an absent one."""
        scales = self.require_const("scales") if self.operand("scales") is not None else None
        sizes = self.require_const("sizes") if self.operand("sizes") is not None else None
        scales = scales if scales is not None and scales.size else None
        sizes = sizes if sizes is not None and sizes.size else None
        if (scales is None) == (sizes is None):
            raise self.error("needs exactly one of 'scales' and 'sizes' (non-empty)")
        return scales, sizes

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("X")
        scales, sizes = self.scales_and_sizes()
        shape = resize_output_dims(self, t.shape, scales, sizes)
        if self.coordinate_transformation_mode == "tf_crop_and_resize":
            roi = self.operand("roi")
            if roi is None:
                raise self.error("tf_crop_and_resize needs the 'roi' operand")
            if roi.type.shape not in ((2 * t.rank,), (DYNAMIC,)):
                raise self.error(f"'roi' must hold {2 * t.rank} values (starts, then ends)")
        if self.mode != "nearest":
            if not t.element.is_float:
                raise self.error(f"{self.mode} interpolation needs a float input, not {t.element}")
            reject_quantized(self, "X")
        q = t.quant
        axis_to = q.axis if q is not None and q.axis is not None and \
            shape[q.axis] == t.shape[q.axis] else None
        return [TensorType(shape, t.element, carry_quant(self, t, axis_to))]


# --------------------------------------------------------------------------- shapes and generators


@op_def("onnx.Shape")
class Shape(Operation):
    """The input's shape as a 1-D int64 tensor."""

    OPERANDS = (operand("data", ANY),)
    RESULTS = (result("shape"),)

    def infer_types(self) -> list[TensorType]:
        return [TensorType((self.type_of("data").rank,), E.I64)]

    def static_value(self) -> list[np.ndarray] | None:
        """Known from the type alone when the shape is static (no data is read)."""
        t = self.type_of("data")
        return [np.array(t.shape, np.int64)] if t.is_static else None


@op_def("onnx.Size")
class Size(Operation):
    """The input's element count as an int64 scalar."""

    OPERANDS = (operand("data", ANY),)
    RESULTS = (result("size"),)

    def infer_types(self) -> list[TensorType]:
        return [TensorType((), E.I64)]

    def static_value(self) -> list[np.ndarray] | None:
        t = self.type_of("data")
        return [np.array(t.size, np.int64)] if t.is_static else None


def _one_element(d: Dense) -> bool:
    return d.array.size == 1


@op_def("onnx.ConstantOfShape")
class ConstantOfShape(Operation):
    """A tensor of shape ``input`` filled with the one-element ``value`` (default float 0)."""

    OPERANDS = (operand("input", I64),)
    RESULTS = (result("output"),)
    value: Dense = attribute(AttrKind.DENSE, Dense(np.zeros((1,), dtype=np.float32)),
                             check=_one_element, check_text="a one-element tensor")

    def infer_types(self) -> list[TensorType]:
        shape = const_ints(self, "input")
        if self.type_of("input").rank != 1:
            raise self.error("'input' must be a 1-D shape")
        if any(d < 0 for d in shape):
            raise self.error(f"shape {shape} has a negative size")
        return [TensorType(shape, self.value.type.element)]


@op_def("onnx.Range")
class Range(Operation):
    """start, start + delta, ... short of ``limit``: max(ceil((limit - start) / delta), 0) items."""

    OPERANDS = (operand("start", RANGE_ELEMENTS), operand("limit", RANGE_ELEMENTS),
                operand("delta", RANGE_ELEMENTS))
    RESULTS = (result("output"),)

    def count(self) -> int:
        start, limit, delta = (self.require_const(n) for n in ("start", "limit", "delta"))
        for n, a in (("start", start), ("limit", limit), ("delta", delta)):
            if a.size != 1:
                raise self.error(f"'{n}' must be a scalar")
        if delta.reshape(()) == 0:
            raise self.error("'delta' cannot be 0")
        n = range_count(start.reshape(()), limit.reshape(()), delta.reshape(()))
        if n is None:
            raise self.error("start, limit and delta give no finite element count")
        return n

    def infer_types(self) -> list[TensorType]:
        element = same_element(self, "start", "limit", "delta")
        return [TensorType((self.count(),), element)]


def range_count(start: np.ndarray, limit: np.ndarray, delta: np.ndarray) -> int | None:
    """onnxruntime's count: the difference in the operands' type, divided in double
    (None when that is not finite)."""
    with np.errstate(all="ignore"):
        ratio = float((limit - start).astype(np.float64)) / float(delta)
    return max(math.ceil(ratio), 0) if math.isfinite(ratio) else None


@op_def("onnx.EyeLike")
class EyeLike(Operation):
    """A 2-D tensor shaped like ``input`` with ones on diagonal ``k``; element type ``dtype``."""

    OPERANDS = (operand("input", ANY),)
    RESULTS = (result("output"),)
    dtype: ElementType | None = attribute(AttrKind.ELEMENT, None)
    k: int = attribute(AttrKind.INT, 0)

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("input")
        if t.rank != 2:
            raise self.error(f"input has rank {t.rank}; expected 2")
        return [TensorType(t.shape, self.dtype or t.element)]


@op_def("onnx.OneHot")
class OneHot(Operation):
    """values[1] where the index equals the position along the new ``axis``, values[0] elsewhere."""

    OPERANDS = (operand("indices", NUMERIC), operand("depth", NUMERIC), operand("values", ANY))
    RESULTS = (result("output"),)
    axis: int = attribute(AttrKind.INT, -1)

    def depth_value(self) -> int:
        d = self.require_const("depth")
        if d.size != 1:
            raise self.error("'depth' must hold one value")
        depth = int(d.reshape(()))
        if depth < 1:
            raise self.error(f"'depth' {depth} must be positive")
        return depth

    def infer_types(self) -> list[TensorType]:
        idx = self.type_of("indices")
        values = self.type_of("values")
        if values.shape != (2,):
            raise self.error(f"'values' has shape {list(values.shape)}; expected [2] (off, on)")
        rank = idx.rank + 1
        if not -rank <= self.axis < rank:
            raise self.error(f"axis {self.axis} is out of range for rank {rank}")
        axis = self.axis % rank
        shape = list(idx.shape)
        shape.insert(axis, self.depth_value())
        return [TensorType(shape, values.element)]


@op_def("onnx.Trilu")
class Trilu(Operation):
    """Upper (or lower) triangle of the last two axes from diagonal ``k``, zeros elsewhere."""

    # An ONNX opset-14 op, declared here because exported models use it.
    OPERANDS = (operand("input", ANY), operand("k", I64, optional=True))
    RESULTS = (result("output"),)
    upper: int = attribute(AttrKind.INT, 1, choices=(0, 1))

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("input")
        if t.rank < 2:
            raise self.error(f"input has rank {t.rank}; expected >= 2")
        k = self.operand("k")
        if k is not None and k.type.rank > 1:
            raise self.error("'k' must be a scalar")
        # Zeroed entries are stored zeros, not real zeros of a quantized type.
        reject_quantized(self, "input")
        return [TensorType(t.shape, t.element)]


# --------------------------------------------------------------------------- sorting and selection


@op_def("onnx.TopK")
class TopK(Operation):
    """K largest (or smallest) entries along ``axis`` and int64 indices; ties to the lower index."""

    OPERANDS = (operand("X", NUMERIC), operand("K", I64))
    RESULTS = (result("Values"), result("Indices"))
    axis: int = attribute(AttrKind.INT, -1)
    largest: int = attribute(AttrKind.INT, 1, choices=(0, 1))
    sorted: int = attribute(AttrKind.INT, 1, choices=(0, 1))

    def k_value(self) -> int:
        k = self.require_const("K")
        if k.size != 1:
            raise self.error("'K' must hold one value")
        return int(k.reshape(()))

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("X")
        if t.rank == 0:
            raise self.error("cannot take the top K of a scalar")
        axis = normalize_axis(self, self.axis, t.rank)
        k = self.k_value()
        if k < 0 or (t.shape[axis] != DYNAMIC and k > t.shape[axis]):
            raise self.error(f"K {k} is outside [0, {t.shape[axis]}]")
        shape = list(t.shape)
        shape[axis] = k
        q = t.quant
        if q is not None and q.axis is not None and q.axis == axis:
            raise self.error("per-axis quantization on the sorted axis cannot follow TopK")
        return [TensorType(shape, t.element, q), TensorType(shape, E.I64)]


@op_def("onnx.NonZero")
class NonZero(Operation):
    """Indices of the non-zero entries, int64 [rank, ?] (a scalar is rank 1, as in onnxruntime)."""

    OPERANDS = (operand("X", ANY),)
    RESULTS = (result("Y"),)

    def infer_types(self) -> list[TensorType]:
        return [TensorType((max(self.type_of("X").rank, 1), DYNAMIC), E.I64)]


@op_def("onnx.NonMaxSuppression")
class NonMaxSuppression(Operation):
    """Greedy per-class box selection by score and IoU: int64 [?, 3] rows (batch, class, box)."""

    OPERANDS = (operand("boxes", {E.F32}), operand("scores", {E.F32}),
                operand("max_output_boxes_per_class", I64, optional=True),
                operand("iou_threshold", {E.F32}, optional=True),
                operand("score_threshold", {E.F32}, optional=True))
    RESULTS = (result("selected_indices"),)
    center_point_box: int = attribute(AttrKind.INT, 0, choices=(0, 1))

    def infer_types(self) -> list[TensorType]:
        boxes, scores = self.type_of("boxes"), self.type_of("scores")
        if boxes.rank != 3 or boxes.shape[2] not in (4, DYNAMIC):
            raise self.error(f"boxes has shape {list(boxes.shape)}; expected [batch, boxes, 4]")
        if scores.rank != 3:
            raise self.error(f"scores has shape {list(scores.shape)}; expected "
                             "[batch, classes, boxes]")
        merge_dim(self, boxes.shape[0], scores.shape[0], "batch of boxes and scores")
        merge_dim(self, boxes.shape[1], scores.shape[2], "box count of boxes and scores")
        for name in ("max_output_boxes_per_class", "iou_threshold", "score_threshold"):
            v = self.operand(name)
            if v is not None and v.type.is_static and v.type.size != 1:
                raise self.error(f"'{name}' must hold one value")
        return [TensorType((DYNAMIC, 3), E.I64)]
