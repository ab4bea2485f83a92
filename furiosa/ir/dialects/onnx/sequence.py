"""ReverseSequence, MaxUnpool and Unique (ONNX opset-13 semantics).

ReverseSequence and MaxUnpool move values without computing on them, so an IR-quantized
type passes through ReverseSequence. Unique is data-dependent: its results have a dynamic
dimension (the number of distinct values or slices), and all four of its outputs are
always results (a node that omits some leaves them unused).
"""

from __future__ import annotations

from collections.abc import Sequence

from furiosa.ir.core import AttrKind, Operation, attribute, op_def, operand, result
from furiosa.ir.dialects.common import ANY, FLOATS, as_index_list, check_ints_len, normalize_axis
from furiosa.ir.dialects.onnx.nn import reject_quantized
from furiosa.ir.dialects.onnx.tensor import carry_quant, merge_dim, product
from furiosa.ir.types import DYNAMIC, ElementType, TensorType

E = ElementType
I64 = frozenset({E.I64})


@op_def("onnx.ReverseSequence")
class ReverseSequence(Operation):
    """Reverse the first sequence_lens[b] entries along time_axis of each batch entry b."""

    OPERANDS = (operand("input", ANY), operand("sequence_lens", I64))
    RESULTS = (result("Y"),)
    batch_axis: int = attribute(AttrKind.INT, 1, choices=(0, 1))
    time_axis: int = attribute(AttrKind.INT, 0, choices=(0, 1))

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("input")
        if t.rank < 2:
            raise self.error(f"operand 'input' has rank {t.rank}; expected at least 2")
        for name in ("batch_axis", "time_axis"):
            if getattr(self, name) not in (0, 1):
                raise self.error(f"{name} {getattr(self, name)} is not 0 or 1")
        if self.batch_axis == self.time_axis:
            raise self.error(f"batch_axis and time_axis are both {self.batch_axis}")
        lens = self.type_of("sequence_lens")
        if lens.rank != 1:
            raise self.error(f"operand 'sequence_lens' has rank {lens.rank}; expected 1")
        merge_dim(self, lens.shape[0], t.shape[self.batch_axis],
                  "sequence_lens length and the batch size")
        q = t.quant
        if q is not None and q.axis == self.time_axis and len(q.scale) > 1:
            raise self.error("per-axis quantization on the time axis cannot follow "
                             "ReverseSequence")
        return [t]


def unpool_size(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int) -> int:
    """The length of the axis a pool of ``kernel``/``stride``/pads reduced to ``size``."""
    if size == DYNAMIC:
        return DYNAMIC
    return (size - 1) * stride + kernel - pad_begin - pad_end


@op_def("onnx.MaxUnpool")
class MaxUnpool(Operation):
    """Scatter X into zeros at the flat output positions I (MaxPool's Indices); the output
    is output_shape when given, else the shape the pool's geometry inverts to."""

    OPERANDS = (operand("X", FLOATS), operand("I", I64),
                operand("output_shape", I64, optional=True))
    RESULTS = (result("output"),)
    kernel_shape: tuple[int, ...] = attribute(AttrKind.INTS, check=lambda v: all(k >= 1 for k in v),
                                              check_text="all >= 1")
    pads: tuple[int, ...] | None = attribute(AttrKind.INTS, None,
                                             check=lambda v: all(p >= 0 for p in v),
                                             check_text="all >= 0")
    strides: tuple[int, ...] | None = attribute(AttrKind.INTS, None,
                                                check=lambda v: all(s >= 1 for s in v),
                                                check_text="all >= 1")

    def default_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        """The output shape without output_shape: the input of the pool that gave X."""
        n = len(shape) - 2
        check_ints_len(self, "kernel_shape", self.kernel_shape, n)
        check_ints_len(self, "strides", self.strides, n)
        check_ints_len(self, "pads", self.pads, 2 * n)
        strides = self.strides or (1,) * n
        pads = self.pads or (0,) * (2 * n)
        out = [unpool_size(shape[i + 2], self.kernel_shape[i], strides[i], pads[i], pads[i + n])
               for i in range(n)]
        for i, d in enumerate(out):
            if d != DYNAMIC and d < 1:
                raise self.error(f"spatial axis {i} would have size {d}")
        return (*shape[:2], *out)

    def infer_types(self) -> list[TensorType]:
        reject_quantized(self, "X")
        x, idx = self.type_of("X"), self.type_of("I")
        if x.rank < 3:
            raise self.error(f"operand 'X' has rank {x.rank}; expected N x C x spatial... "
                             "(rank >= 3)")
        if idx.shape != x.shape:
            raise self.error(f"operand 'I' has shape {list(idx.shape)}; expected X's shape "
                             f"{list(x.shape)}")
        shape = self.default_shape(x.shape)
        if self.operand("output_shape") is not None:
            given = as_index_list(self, self.require_const("output_shape"), "output_shape")
            if len(given) != x.rank:
                raise self.error(f"'output_shape' has {len(given)} values; expected {x.rank}")
            # A ceil_mode pool unpools to less than the default shape, so only N and C are
            # checked; the indices are checked against the size at run time.
            for axis in (0, 1):
                merge_dim(self, shape[axis], given[axis], f"'output_shape' dim {axis} and X's")
            if any(g < 1 for g in given):
                raise self.error(f"'output_shape' {given} has a dimension below 1")
            shape = tuple(given)
        return [TensorType(shape, x.element)]


@op_def("onnx.Unique")
class Unique(Operation):
    """Distinct values (axis absent, X flattened) or distinct slices along axis, sorted or in
    order of first occurrence, with int64 first-occurrence indices, inverse indices and counts."""

    OPERANDS = (operand("X", ANY),)
    RESULTS = (result("Y"), result("indices"), result("inverse_indices"), result("counts"))
    axis: int | None = attribute(AttrKind.INT, None)
    sorted: int = attribute(AttrKind.INT, 1, choices=(0, 1))

    def infer_types(self) -> list[TensorType]:
        t = self.type_of("X")
        found = TensorType((DYNAMIC,), E.I64)
        if self.axis is None:
            y = TensorType((DYNAMIC,), t.element, carry_quant(self, t, None))
            inverse = TensorType((product(t.shape),), E.I64)
            return [y, found, inverse, found]
        if t.rank == 0:
            raise self.error("a scalar has no axis to take unique slices along")
        axis = normalize_axis(self, self.axis, t.rank)
        shape = list(t.shape)
        shape[axis] = DYNAMIC
        q = t.quant
        axis_to = q.axis if q is not None and q.axis != axis else None
        y = TensorType(shape, t.element, carry_quant(self, t, axis_to))
        return [y, found, TensorType((t.shape[axis],), E.I64), found]
