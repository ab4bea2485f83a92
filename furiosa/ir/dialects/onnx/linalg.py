"""Einsum and Det (ONNX opset-13 semantics).

An Einsum equation is parsed once, by :func:`parse_einsum`, for both the type rule and the
kernel: terms of letters, at most one ``...`` per term (the broadcast dims, which follow
numpy broadcasting across operands), spaces ignored, and in implicit mode (no ``->``) an
output of the broadcast dims followed by the letters used exactly once, in alphabetical order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import attrs

from furiosa.ir.core import AttrKind, Operation, attribute, op_def, operand, result
from furiosa.ir.dialects.common import FLOATS, NUMERIC, broadcast_shapes
from furiosa.ir.dialects.onnx.nn import reject_quantized
from furiosa.ir.dialects.onnx.tensor import merge_dim
from furiosa.ir.types import DYNAMIC, TensorType

ELLIPSIS = "..."


@attrs.frozen
class EinsumTerms:
    """A parsed equation: one label list per input and the output's; ``...`` is one label."""

    inputs: tuple[tuple[str, ...], ...]
    output: tuple[str, ...]

    def text(self) -> str:
        """The canonical explicit form (no spaces, always ``->``), which numpy accepts."""
        return ",".join("".join(t) for t in self.inputs) + "->" + "".join(self.output)


def _labels(op: Operation, term: str) -> tuple[str, ...]:
    labels: list[str] = []
    i = 0
    while i < len(term):
        if term.startswith(ELLIPSIS, i):
            if ELLIPSIS in labels:
                raise op.error(f"equation term '{term}' has more than one '...'")
            labels.append(ELLIPSIS)
            i += 3
        elif term[i].isascii() and term[i].isalpha():
            labels.append(term[i])
            i += 1
        else:
            raise op.error(f"equation term '{term}' has '{term[i]}'; terms hold letters and "
                           "one '...'")
    return tuple(labels)


def parse_einsum(op: Operation, equation: str, n_inputs: int) -> EinsumTerms:
    """The labels of each input and of the output of ``equation``."""
    eq = "".join(equation.split())
    lhs, arrow, rhs = eq.partition("->")
    if "->" in rhs:
        raise op.error(f"equation '{equation}' has more than one '->'")
    inputs = tuple(_labels(op, term) for term in lhs.split(","))
    if len(inputs) != n_inputs:
        raise op.error(f"equation '{equation}' has {len(inputs)} input terms but the op has "
                       f"{n_inputs} operands")
    if arrow:
        output = _labels(op, rhs)
        used = {label for term in inputs for label in term}
        for label, count in Counter(output).items():
            if count > 1:
                raise op.error(f"output label '{label}' appears more than once")
            if label not in used and label != ELLIPSIS:
                raise op.error(f"output label '{label}' is in no input term")
        if ELLIPSIS in used and ELLIPSIS not in output:
            raise op.error("input terms have '...' but the output term does not")
    else:
        counts = Counter(label for term in inputs for label in term if label != ELLIPSIS)
        lead = (ELLIPSIS,) if any(ELLIPSIS in term for term in inputs) else ()
        output = lead + tuple(sorted(label for label, c in counts.items() if c == 1))
    return EinsumTerms(inputs, output)


def einsum_shape(op: Operation, terms: EinsumTerms,
                 shapes: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """The output shape. A letter repeated in one term (a diagonal) needs one size there;
    across operands its sizes broadcast as numpy's do (1 stretches), like the ``...`` dims."""
    sizes: dict[str, list[int]] = {}
    broadcast: list[Sequence[int]] = []
    for k, (labels, shape) in enumerate(zip(terms.inputs, shapes, strict=True)):
        letters = len(labels) - (ELLIPSIS in labels)
        if len(shape) < letters or (ELLIPSIS not in labels and len(shape) != letters):
            raise op.error(f"operand {k} has rank {len(shape)} but its term "
                           f"'{''.join(labels)}' has {letters} letters")
        mine: dict[str, int] = {}
        pos = 0
        for label in labels:
            if label == ELLIPSIS:
                width = len(shape) - letters
                broadcast.append(shape[pos:pos + width])
                pos += width
                continue
            mine[label] = merge_dim(op, mine.get(label, DYNAMIC), shape[pos],
                                    f"operand {k} repeats label '{label}' on dims of sizes")
            pos += 1
        for label, d in mine.items():
            sizes.setdefault(label, []).append(d)
    merged: dict[str, int] = {}
    for label, ds in sizes.items():
        static = {d for d in ds if d not in (1, DYNAMIC)}
        if len(static) > 1:
            raise op.error(f"label '{label}' has sizes {sorted(static)} in different operands")
        merged[label] = static.pop() if static else (DYNAMIC if DYNAMIC in ds else 1)
    dims = broadcast_shapes(op, *broadcast) if broadcast else ()
    out: list[int] = []
    for label in terms.output:
        out.extend(dims if label == ELLIPSIS else (merged[label],))
    return tuple(out)


@op_def("onnx.Einsum")
class Einsum(Operation):
    """Einstein summation over the operands as the equation spells (numpy.einsum semantics)."""

    OPERANDS = (operand("Inputs", NUMERIC, variadic=True, min_count=1),)
    RESULTS = (result("Output"),)
    equation: str = attribute(AttrKind.STRING)

    def terms(self) -> EinsumTerms:
        return parse_einsum(self, self.equation, len(self.operands))

    def infer_types(self) -> list[TensorType]:
        values = self.operand_list("Inputs")
        elements = {v.type.element for v in values}
        if len(elements) != 1:
            raise self.error("operands must share one element type, got "
                             + ", ".join(sorted(str(e) for e in elements)))
        for i, v in enumerate(values):
            if v.type.is_quantized:
                raise self.error(f"operand {i} is quantized ({v.type}); this op computes on "
                                 "unquantized values")
        shape = einsum_shape(self, self.terms(), [v.type.shape for v in values])
        return [TensorType(shape, values[0].type.element)]


@op_def("onnx.Det")
class Det(Operation):
    """Determinant of each square matrix in the trailing two dims of X [*, M, M] -> [*]."""

    OPERANDS = (operand("X", FLOATS),)
    RESULTS = (result("Y"),)

    def infer_types(self) -> list[TensorType]:
        reject_quantized(self, "X")
        t = self.type_of("X")
        if t.rank < 2:
            raise self.error(f"operand 'X' has rank {t.rank}; expected [*, M, M]")
        merge_dim(self, t.shape[-2], t.shape[-1], "the matrices must be square; their dims")
        return [TensorType(t.shape[:-2], t.element)]
