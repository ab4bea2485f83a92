"""Element-type sets and shape rules shared by the dialects' type inference."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
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


# --------------------------------------------------------------------------- window geometry


@attrs.frozen
class Window:
    """Resolved sliding-window geometry over the spatial axes."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads_begin: tuple[int, ...]
    pads_end: tuple[int, ...]
    out: tuple[int, ...]

    @property
    def pads(self) -> tuple[int, ...]:
        """Pads in ONNX order: every begin, then every end."""
        return self.pads_begin + self.pads_end

    def extra_end(self, spatial: Sequence[int]) -> tuple[int, ...]:
        """Padding past ``pads_end`` that the last window reaches (only with ``ceil_mode``)."""
        return tuple(
            max(0, (o - 1) * s + (k - 1) * d + 1 - (n + b + e))
            for o, s, k, d, n, b, e in zip(self.out, self.strides, self.kernel, self.dilations,
                                           spatial, self.pads_begin, self.pads_end, strict=True))


def window_geometry(op: Operation, spatial: Sequence[int], kernel: Sequence[int],
                    strides: Sequence[int] | None, dilations: Sequence[int] | None,
                    pads: Sequence[int] | None, auto_pad: str,
                    ceil_mode: bool = False) -> Window:
    """Output size and pads of a conv/pool window, as ONNX and onnxruntime define them.

    Explicit pads: ``out = floor_or_ceil((n + pb + pe - ((k-1)*d + 1)) / s) + 1``; with
    ``ceil_mode`` a last window that would start past the padded input is dropped.
    ``SAME_*``: ``out = ceil(n / s)`` with the total pad split evenly, the odd one at the end
    (UPPER) or the beginning (LOWER). ``VALID``: no pads. A dynamic input dim gives a dynamic
    output dim (its pads are resolved by the kernel on the actual shape).
    """
    n = len(spatial)
    kernel = tuple(kernel)
    strides = tuple(strides) if strides is not None else (1,) * n
    dilations = tuple(dilations) if dilations is not None else (1,) * n
    for name, values in (("kernel_shape", kernel), ("strides", strides), ("dilations", dilations)):
        if len(values) != n:
            raise op.error(f"attribute '{name}' has {len(values)} values; expected {n} "
                           "(one per spatial axis)")
    if auto_pad == "NOTSET":
        explicit = tuple(pads) if pads is not None else (0,) * (2 * n)
        if len(explicit) != 2 * n:
            raise op.error(f"attribute 'pads' has {len(explicit)} values; expected {2 * n}")
    elif pads is not None and any(pads):
        raise op.error(f"attribute 'pads' cannot be given with auto_pad {auto_pad}")
    begin: list[int] = []
    end: list[int] = []
    out: list[int] = []
    for i in range(n):
        size, k, s, d = spatial[i], kernel[i], strides[i], dilations[i]
        extent = (k - 1) * d + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            if size == DYNAMIC:
                begin.append(0)
                end.append(0)
                out.append(DYNAMIC)
                continue
            o = -(-size // s)
            total = max(0, (o - 1) * s + extent - size)
            small = total // 2
            pb, pe = (small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small)
            begin.append(pb)
            end.append(pe)
            out.append(o)
            continue
        pb, pe = (explicit[i], explicit[i + n]) if auto_pad == "NOTSET" else (0, 0)
        begin.append(pb)
        end.append(pe)
        if size == DYNAMIC:
            out.append(DYNAMIC)
            continue
        span = size + pb + pe - extent
        if span < 0:
            raise op.error(f"the window (extent {extent}) is larger than spatial axis {i} "
                           f"of size {size} with pads {pb}+{pe}")
        if ceil_mode:
            o = -(-span // s) + 1
            if (o - 1) * s >= size + pb:
                o -= 1
        else:
            o = span // s + 1
        out.append(o)
    return Window(kernel, strides, dilations, tuple(begin), tuple(end), tuple(out))
