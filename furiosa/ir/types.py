"""Shaped types: tensors (value semantics) and buffers (placed in a memory space).

Both have a static shape, an element type, optional quantization and an optional layout
attribute. Text forms (see ``docs/ir.md``)::

    tensor<1x3x224x224xf32>
    tensor<f32>                                  (a scalar)
    tensor<1x64xi8, quant<0.0235:-3>>            (per-tensor)
    tensor<64x3x3x3xi8, quant<axis=0: 0.01:0, 0.02:0, ...>>   (per-axis)
    tensor<1x224x224x3xu8, quant<0.0078:128>, #layout<NHWC>>
    buffer<1x64x56x56xi8, quant<0.1:2>, #warboy.tiled<...>, sram, addr=4096, slices=0:64>
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from typing import ClassVar, TypeVar

import attrs
import numpy as np

from furiosa.errors import IRError
from furiosa.ir.attributes import Layout, format_float

__all__ = ["DYNAMIC", "BufferType", "ElementType", "Layout", "MemorySpace", "Quantization",
           "ShapedType", "TensorType", "format_float", "shape_matches", "tensor"]


class ElementType(enum.Enum):
    """Element types; the value is the text spelling."""

    BOOL = "bool"
    I8 = "i8"
    U8 = "u8"
    I16 = "i16"
    U16 = "u16"
    I32 = "i32"
    U32 = "u32"
    I64 = "i64"
    U64 = "u64"
    F16 = "f16"
    F32 = "f32"
    F64 = "f64"

    @property
    def dtype(self) -> np.dtype:
        return _DTYPES[self]

    @property
    def is_float(self) -> bool:
        return self in (ElementType.F16, ElementType.F32, ElementType.F64)

    @property
    def is_integer(self) -> bool:
        return not self.is_float and self is not ElementType.BOOL

    @property
    def is_signed(self) -> bool:
        return self.is_float or self.value.startswith("i")

    @property
    def bits(self) -> int:
        return 8 if self is ElementType.BOOL else self.dtype.itemsize * 8

    @property
    def min(self) -> int | float:
        return np.iinfo(self.dtype).min if self.is_integer else -math.inf

    @property
    def max(self) -> int | float:
        return np.iinfo(self.dtype).max if self.is_integer else math.inf

    @staticmethod
    def from_dtype(dtype: np.dtype | type) -> ElementType:
        dt = np.dtype(dtype)
        for et, d in _DTYPES.items():
            if d == dt:
                return et
        raise IRError(f"numpy dtype {dt} has no IR element type")

    @staticmethod
    def parse(text: str) -> ElementType:
        try:
            return ElementType(text)
        except ValueError:
            raise IRError(f"unknown element type '{text}'") from None

    def __str__(self) -> str:
        return self.value


_DTYPES: dict[ElementType, np.dtype] = {
    ElementType.BOOL: np.dtype(np.bool_),
    ElementType.I8: np.dtype(np.int8),
    ElementType.U8: np.dtype(np.uint8),
    ElementType.I16: np.dtype(np.int16),
    ElementType.U16: np.dtype(np.uint16),
    ElementType.I32: np.dtype(np.int32),
    ElementType.U32: np.dtype(np.uint32),
    ElementType.I64: np.dtype(np.int64),
    ElementType.U64: np.dtype(np.uint64),
    ElementType.F16: np.dtype(np.float16),
    ElementType.F32: np.dtype(np.float32),
    ElementType.F64: np.dtype(np.float64),
}

# Short aliases for readable op declarations and tests.
BOOL, I8, U8, I16, U16, I32, U32, I64, U64, F16, F32, F64 = ElementType


@attrs.frozen
class Quantization:
    """Affine quantization: ``real = scale * (q - zero_point)``.

    Per tensor when ``axis`` is None (one scale and zero point), per axis
    otherwise (one pair per index of ``axis``).
    """

    scale: tuple[float, ...] = attrs.field(converter=lambda s: tuple(map(float, s)))
    zero_point: tuple[int, ...] = attrs.field(converter=lambda z: tuple(map(int, z)))
    axis: int | None = None
    # The text form, made once: a wide layer's scales are printed with every type that has them.
    _text: str | None = attrs.field(default=None, init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if len(self.scale) != len(self.zero_point):
            raise IRError(
                f"quantization has {len(self.scale)} scales but {len(self.zero_point)} zero points"
            )
        if not self.scale:
            raise IRError("quantization needs at least one scale")
        if self.axis is None and len(self.scale) != 1:
            raise IRError("per-tensor quantization takes exactly one scale; give an axis")
        if not all(0 < s < math.inf for s in self.scale):  # NaN fails both comparisons
            bad = next(s for s in self.scale if not 0 < s < math.inf)
            raise IRError(f"quantization scale {format_float(bad)} is not a positive finite number")

    @staticmethod
    def per_tensor(scale: float, zero_point: int = 0) -> Quantization:
        return Quantization((scale,), (zero_point,), None)

    @staticmethod
    def per_axis(scales: Sequence[float], zero_points: Sequence[int], axis: int) -> Quantization:
        return Quantization(tuple(scales), tuple(zero_points), axis)

    @property
    def is_per_tensor(self) -> bool:
        return self.axis is None

    def broadcast_shape(self, rank: int) -> tuple[int, ...]:
        """Shape to which ``scale``/``zero_point`` arrays reshape for a rank-``rank`` tensor."""
        if self.axis is None:
            return ()
        shape = [1] * rank
        shape[self.axis] = len(self.scale)
        return tuple(shape)

    def scale_array(self, rank: int) -> np.ndarray:
        return np.asarray(self.scale, dtype=np.float64).reshape(self.broadcast_shape(rank))

    def zero_point_array(self, rank: int) -> np.ndarray:
        return np.asarray(self.zero_point, dtype=np.int64).reshape(self.broadcast_shape(rank))

    def __str__(self) -> str:
        if self._text is None:
            # repr is format_float for a float: shortest round-trip text, 'nan' and 'inf' included.
            pairs = ", ".join(map("{!r}:{}".format, self.scale, self.zero_point))
            text = f"quant<{pairs}>" if self.axis is None else f"quant<axis={self.axis}: {pairs}>"
            object.__setattr__(self, "_text", text)
        return self._text  # type: ignore[return-value]


DYNAMIC = -1
"""A dimension known only at run time. Only data-dependent ops (NonZero, NonMaxSuppression)
introduce one; everything downstream of them runs on the host."""


def _shape(value: Sequence[int]) -> tuple[int, ...]:
    dims = tuple(int(d) for d in value)
    for d in dims:
        if d < DYNAMIC:
            raise IRError(f"shape {list(dims)} has a negative dimension")
    return dims


def _check_layout(_: object, __: object, value: object) -> None:
    if value is not None and not isinstance(value, Layout):
        raise IRError(f"layout {value!r} is not a layout attribute (such as NamedLayout('NHWC'))")


@attrs.frozen
class ShapedType:
    """What tensors and buffers share: a static shape, an element type, optional quantization
    and an optional layout attribute. Values of either kind hold numpy arrays in the
    interpreter."""

    shape: tuple[int, ...] = attrs.field(converter=_shape)
    element: ElementType
    quant: Quantization | None = None
    layout: Layout | None = attrs.field(default=None, validator=_check_layout)

    def __attrs_post_init__(self) -> None:
        if self.layout is not None:
            self.layout.check_shape(self.shape)
        q = self.quant
        if q is None:
            return
        if not self.element.is_integer:
            raise IRError(f"quantized {self.KIND} needs an integer element type, not {self.element}")
        if q.axis is not None:
            if not 0 <= q.axis < len(self.shape):
                raise IRError(
                    f"quantization axis {q.axis} is outside a {self.KIND} of rank {len(self.shape)}"
                )
            if self.shape[q.axis] != len(q.scale):
                raise IRError(
                    f"per-axis quantization has {len(q.scale)} scales but axis {q.axis} "
                    f"has size {self.shape[q.axis]}"
                )
        lo, hi = self.element.min, self.element.max
        if not (lo <= min(q.zero_point) and max(q.zero_point) <= hi):
            bad = next(z for z in q.zero_point if not lo <= z <= hi)
            raise IRError(f"zero point {bad} does not fit {self.element}")

    KIND: ClassVar[str] = "shaped type"

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return DYNAMIC not in self.shape

    @property
    def size(self) -> int:
        if not self.is_static:
            raise IRError(f"{self} has a dynamic dimension and no static size")
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.element.dtype.itemsize

    @property
    def dtype(self) -> np.dtype:
        return self.element.dtype

    @property
    def is_quantized(self) -> bool:
        return self.quant is not None

    def with_shape(self: ShapedT, shape: Sequence[int]) -> ShapedT:
        """Same element type, new shape; per-axis quantization is dropped only if it cannot follow."""
        return attrs.evolve(self, shape=tuple(shape), quant=self.quant if self._quant_fits(shape) else None)

    def with_element(self: ShapedT, element: ElementType) -> ShapedT:
        return attrs.evolve(self, element=element, quant=None)

    def with_quant(self: ShapedT, quant: Quantization | None) -> ShapedT:
        return attrs.evolve(self, quant=quant)

    def with_layout(self: ShapedT, layout: Layout | None) -> ShapedT:
        return attrs.evolve(self, layout=layout)

    def _quant_fits(self, shape: Sequence[int]) -> bool:
        q = self.quant
        return q is None or q.axis is None or (q.axis < len(shape) and shape[q.axis] == len(q.scale))

    def accepts(self, array: np.ndarray) -> bool:
        """True when ``array`` is a value of this type (shape and dtype)."""
        return shape_matches(array.shape, self.shape) and array.dtype == self.dtype

    def _body(self) -> str:
        dims = "".join("?x" if d == DYNAMIC else f"{d}x" for d in self.shape)
        extra = ""
        if self.quant is not None:
            extra += f", {self.quant}"
        if self.layout is not None:
            extra += f", {self.layout}"
        return f"{dims}{self.element}{extra}"


ShapedT = TypeVar("ShapedT", bound=ShapedType)


@attrs.frozen
class TensorType(ShapedType):
    """A value-semantic tensor: ``tensor<1x3xf32, quant<...>, #layout<NC>>``."""

    KIND: ClassVar[str] = "tensor"

    def __str__(self) -> str:
        return f"tensor<{self._body()}>"


class MemorySpace(enum.Enum):
    """Where a buffer lives: host memory, the NPU's DRAM, or the slices' SRAM."""

    HOST = "host"
    DRAM = "dram"
    SRAM = "sram"

    @staticmethod
    def parse(text: str) -> MemorySpace:
        try:
            return MemorySpace(text)
        except ValueError:
            raise IRError(f"unknown memory space '{text}'; expected host, dram or sram") from None

    def __str__(self) -> str:
        return self.value


def _address(_: object, __: object, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise IRError(f"buffer address {value!r} is not a byte address (an integer >= 0)")


def _slices(value: Sequence[int] | None) -> tuple[int, int] | None:
    if value is None:
        return None
    s = tuple(int(x) for x in value)
    if len(s) != 2 or not 0 <= s[0] < s[1]:
        raise IRError(f"slice range {list(s)} is not [first, end) with 0 <= first < end")
    return (s[0], s[1])


@attrs.frozen
class BufferType(ShapedType):
    """A lowered value: a tensor placed in a memory space, optionally at an address.

    ``buffer<1x64x56x56xi8, quant<0.1:2>, #warboy.tiled<...>, sram, addr=4096, slices=0:64>``.
    ``address`` is a byte address in ``space`` (per slice for SRAM); ``slices`` is the half-open
    range of SRAM slices the buffer spreads over, and only SRAM buffers have one.
    """

    space: MemorySpace = attrs.field(kw_only=True)
    address: int | None = attrs.field(default=None, kw_only=True, validator=_address)
    slices: tuple[int, int] | None = attrs.field(default=None, kw_only=True, converter=_slices)

    KIND: ClassVar[str] = "buffer"

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.space, MemorySpace):
            raise IRError(f"buffer memory space {self.space!r} is not host, dram or sram")
        if self.slices is not None and self.space is not MemorySpace.SRAM:
            raise IRError(f"a {self.space} buffer has no slice range; only sram buffers do")
        super().__attrs_post_init__()

    @property
    def is_placed(self) -> bool:
        return self.address is not None

    def tensor_type(self) -> TensorType:
        """The value-semantic type of the same data."""
        return TensorType(self.shape, self.element, self.quant, self.layout)

    def __str__(self) -> str:
        text = f"buffer<{self._body()}, {self.space}"
        if self.address is not None:
            text += f", addr={self.address}"
        if self.slices is not None:
            text += f", slices={self.slices[0]}:{self.slices[1]}"
        return text + ">"


def shape_matches(actual: Sequence[int], declared: Sequence[int]) -> bool:
    """True when a concrete shape fits a declared one (dynamic dims match anything)."""
    return len(actual) == len(declared) and all(
        d == DYNAMIC or a == d for a, d in zip(actual, declared, strict=True))


def tensor(shape: Sequence[int], element: ElementType | str, quant: Quantization | None = None,
           layout: Layout | None = None) -> TensorType:
    """Convenience constructor: ``tensor((1, 3), "f32")``."""
    et = element if isinstance(element, ElementType) else ElementType.parse(element)
    return TensorType(tuple(shape), et, quant, layout)
