"""Element-type sets and shape rules shared by the dialects' type inference."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from furiosa.errors import IRError
from furiosa.ir.core import Operation
from furiosa.ir.types import DYNAMIC, ElementType

E = ElementType
FLOATS = frozenset({E.F16, E.F32, E.F64})
SIGNED_INTS = frozenset({E.I8, E.I16, E.I32, E.I64})
UNSIGNED_INTS = frozenset({E.U8, E.U16, E.U32, E.U64})
INTS = SIGNED_INTS | UNSIGNED_INTS
NUMERIC = FLOATS | INTS
SIGNED_NUMERIC = FLOATS | SIGNED_INTS
ANY = NUMERIC | {E.BOOL}
INDEX = frozenset({E.I32, E.I64})
QUANT_STORAGE = frozenset({E.I8, E.U8})


def broadcast_shapes(op: Operation, *shapes: Sequence[int]) -> tuple[int, ...]:
    """Numpy (ONNX multidirectional) broadcasting, with an error naming the op.

    A dynamic dim (-1) broadcast against 1 or another dynamic dim stays dynamic;
    against a static n > 1 it must be n at run time, so it is n.
    """
    rank = max((len(s) for s in shapes), default=0)
    out: list[int] = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        static = {d for d in dims if d not in (1, DYNAMIC)}
        if len(static) > 1:
            raise op.error("operand shapes " + " and ".join(str(list(s)) for s in shapes)
                           + " do not broadcast")
        if static:
            out.append(static.pop())
        elif DYNAMIC in dims:
            out.append(DYNAMIC)
        else:
            out.append(1)
    return tuple(out)


def normalize_axis(op: Operation, axis: int, rank: int, name: str = "axis") -> int:
    """An axis in [-rank, rank) made non-negative."""
    if not -rank <= axis < rank:
        raise op.error(f"{name} {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def same_element(op: Operation, *names: str) -> ElementType:
    """The common element type of the named operands (an error when they differ)."""
    types = [(n, op.type_of(n)) for n in names if op.operand(n) is not None]
    first_name, first = types[0]
    for n, t in types[1:]:
        if t.element != first.element:
            raise op.error(f"operands '{first_name}' ({first.element}) and '{n}' ({t.element}) "
                           "must have the same element type")
    return first.element


def check_ints_len(op: Operation, name: str, value: Sequence[int] | None, n: int) -> None:
    if value is not None and len(value) != n:
        raise op.error(f"attribute '{name}' has {len(value)} values; expected {n}")


def as_index_list(op: Operation, arr: np.ndarray, name: str) -> list[int]:
    if arr.dtype.kind not in "iu":
        raise IRError(f"{op.describe()}: operand '{name}' must hold integers")
    return [int(x) for x in np.asarray(arr).reshape(-1)]
