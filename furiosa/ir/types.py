"""Tensor types: static shape, element type, optional quantization and layout.

Text forms (see ``docs/ir.md``)::

    tensor<1x3x224x224xf32>
    tensor<f32>                                  (a scalar)
    tensor<1x64xi8, quant<0.0235:-3>>            (per-tensor)
    tensor<64x3x3x3xi8, quant<axis=0: 0.01:0, 0.02:0, ...>>   (per-axis)
    tensor<1x224x224x3xu8, quant<0.0078:128>, layout<NHWC>>
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Sequence

import attrs
import numpy as np

from furiosa.errors import IRError


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


def format_float(x: float) -> str:
    """Shortest text that parses back to the same double."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


@attrs.frozen
class Quantization:
    """Affine quantization: ``real = scale * (q - zero_point)``.

    Per tensor when ``axis`` is None (one scale and zero point), per axis
    otherwise (one pair per index of ``axis``).
    """

    scale: tuple[float, ...] = attrs.field(converter=lambda s: tuple(float(x) for x in s))
    zero_point: tuple[int, ...] = attrs.field(converter=lambda z: tuple(int(x) for x in z))
    axis: int | None = None

    def __attrs_post_init__(self) -> None:
        if len(self.scale) != len(self.zero_point):
            raise IRError(
                f"quantization has {len(self.scale)} scales but {len(self.zero_point)} zero points"
            )
        if not self.scale:
            raise IRError("quantization needs at least one scale")
        if self.axis is None and len(self.scale) != 1:
            raise IRError("per-tensor quantization takes exactly one scale; give an axis")
        for s in self.scale:
            if not (s > 0 and math.isfinite(s)):
                raise IRError(f"quantization scale {format_float(s)} is not a positive finite number")

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
        pairs = ", ".join(f"{format_float(s)}:{z}" for s, z in zip(self.scale, self.zero_point, strict=True))
        if self.axis is None:
            return f"quant<{pairs}>"
        return f"quant<axis={self.axis}: {pairs}>"


_LAYOUT_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.]*\Z")


def _check_layout(_: object, __: object, value: str | None) -> None:
    if value is not None and not _LAYOUT_RE.match(value):
        raise IRError(f"layout '{value}' is not a name of letters, digits, '_' and '.'")


DYNAMIC = -1
"""A dimension known only at run time. Only data-dependent ops (NonZero, NonMaxSuppression)
introduce one; everything downstream of them runs on the host."""


def _shape(value: Sequence[int]) -> tuple[int, ...]:
    dims = tuple(int(d) for d in value)
    for d in dims:
        if d < DYNAMIC:
            raise IRError(f"shape {list(dims)} has a negative dimension")
    return dims


@attrs.frozen
class TensorType:
    """A statically shaped tensor type."""

    shape: tuple[int, ...] = attrs.field(converter=_shape)
    element: ElementType
    quant: Quantization | None = None
    layout: str | None = attrs.field(default=None, validator=_check_layout)

    def __attrs_post_init__(self) -> None:
        q = self.quant
        if q is None:
            return
        if not self.element.is_integer:
            raise IRError(f"quantized tensor needs an integer element type, not {self.element}")
        if q.axis is not None:
            if not 0 <= q.axis < len(self.shape):
                raise IRError(
                    f"quantization axis {q.axis} is outside a tensor of rank {len(self.shape)}"
                )
            if self.shape[q.axis] != len(q.scale):
                raise IRError(
                    f"per-axis quantization has {len(q.scale)} scales but axis {q.axis} "
                    f"has size {self.shape[q.axis]}"
                )
        lo, hi = self.element.min, self.element.max
        for z in q.zero_point:
            if not lo <= z <= hi:
                raise IRError(f"zero point {z} does not fit {self.element}")

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

    def with_shape(self, shape: Sequence[int]) -> TensorType:
        """Same element type, new shape; per-axis quantization is dropped only if it cannot follow."""
        return attrs.evolve(self, shape=tuple(shape), quant=self.quant if self._quant_fits(shape) else None)

    def with_element(self, element: ElementType) -> TensorType:
        return TensorType(self.shape, element, None, self.layout)

    def with_quant(self, quant: Quantization | None) -> TensorType:
        return attrs.evolve(self, quant=quant)

    def with_layout(self, layout: str | None) -> TensorType:
        return attrs.evolve(self, layout=layout)

    def _quant_fits(self, shape: Sequence[int]) -> bool:
        q = self.quant
        return q is None or q.axis is None or (q.axis < len(shape) and shape[q.axis] == len(q.scale))

    def accepts(self, array: np.ndarray) -> bool:
        """True when ``array`` is a value of this type (shape and dtype)."""
        return shape_matches(array.shape, self.shape) and array.dtype == self.dtype

    def __str__(self) -> str:
        dims = "".join("?x" if d == DYNAMIC else f"{d}x" for d in self.shape)
        extra = ""
        if self.quant is not None:
            extra += f", {self.quant}"
        if self.layout is not None:
            extra += f", layout<{self.layout}>"
        return f"tensor<{dims}{self.element}{extra}>"


def shape_matches(actual: Sequence[int], declared: Sequence[int]) -> bool:
    """True when a concrete shape fits a declared one (dynamic dims match anything)."""
    return len(actual) == len(declared) and all(
        d == DYNAMIC or a == d for a, d in zip(actual, declared, strict=True))


def tensor(shape: Sequence[int], element: ElementType | str, quant: Quantization | None = None,
           layout: str | None = None) -> TensorType:
    """Convenience constructor: ``tensor((1, 3), "f32")``."""
    et = element if isinstance(element, ElementType) else ElementType.parse(element)
    return TensorType(tuple(shape), et, quant, layout)
