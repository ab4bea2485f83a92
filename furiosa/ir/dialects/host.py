"""The ``host`` dialect: the work at the edges of an NPU region, done on the host.

Quantize and Dequantize move between float and the NPU's 8-bit integers; Lower and Unlower
move activations between NCHW and the NPU's tiled layouts. A lowered activation is tiled
over slices by outer height and outer channel: ``N·Ho·Co·Hi·Ci·W`` (order ``HCW``) or
``N·Ho·Co·Hi·W·Ci`` (order ``HWC``), with H and C padded up to multiples of the tiles. Its
type's layout names the axes, e.g. ``#layout<N.Ho.Co.Hi.Ci.W>``.
"""

from __future__ import annotations

import attrs

from furiosa.errors import IRError
from furiosa.ir.attributes import NCHW, Layout, NamedLayout
from furiosa.ir.core import AttrKind, Operation, Value, attribute, op_def, operand, result
from furiosa.ir.dialects.common import ANY, FLOATS, QUANT_STORAGE
from furiosa.ir.quantization import ROUNDINGS
from furiosa.ir.types import DYNAMIC, ElementType, Quantization, TensorType

E = ElementType

LOWERED_LAYOUTS: dict[str, NamedLayout] = {"HCW": NamedLayout("N.Ho.Co.Hi.Ci.W"),
                                            "HWC": NamedLayout("N.Ho.Co.Hi.W.Ci")}
"""Lowering order -> the layout of the lowered type."""
LOWERING_ORDERS: dict[Layout, str] = {layout: order for order, layout in LOWERED_LAYOUTS.items()}


def _ceil_div(a: int, b: int) -> int:
    return DYNAMIC if a == DYNAMIC else -(-a // b)


@op_def("host.Quantize")
class Quantize(Operation):
    """Float to stored integers: saturate(round(x / scale) + zero_point); shape and layout kept."""

    OPERANDS = (operand("input", FLOATS),)
    RESULTS = (result("output"),)
    scale: tuple[float, ...] = attribute(AttrKind.FLOATS)
    zero_point: tuple[int, ...] = attribute(AttrKind.INTS)
    axis: int | None = attribute(AttrKind.INT, None)
    to: ElementType = attribute(AttrKind.ELEMENT, choices=(E.I8, E.U8))
    rounding: str = attribute(AttrKind.STRING, "half_even", choices=ROUNDINGS)

    @property
    def quantization(self) -> Quantization:
        try:
            return Quantization(self.scale, self.zero_point, self.axis)
        except IRError as e:
            raise self.error(str(e)) from None

    def infer_types(self) -> list[TensorType]:
        x = self.type_of("input")
        q = self.quantization
        if q.axis is not None and not 0 <= q.axis < x.rank:
            raise self.error(f"attribute 'axis' {q.axis} is outside a tensor of rank {x.rank}")
        try:
            return [TensorType(x.shape, self.to, q, x.layout)]
        except IRError as e:
            raise self.error(str(e)) from None

    @classmethod
    def to_type(cls, input: Value, output: TensorType, rounding: str = "half_even", *,
                loc: str | None = None) -> Quantize:
        """The op quantizing ``input`` to the element and quantization of the type ``output``."""
        q = output.quant
        if q is None:
            raise IRError(f"{cls.OP_NAME}: the result type {output} is not quantized")
        return cls.build(input, loc=loc, scale=q.scale, zero_point=q.zero_point, axis=q.axis,
                         to=output.element, rounding=rounding)


@op_def("host.Dequantize")
class Dequantize(Operation):
    """Stored integers to float: (x - zero_point) · scale, in float32 (f64 for f64); layout kept."""

    OPERANDS = (operand("input", QUANT_STORAGE | {E.I32}),)
    RESULTS = (result("output"),)
    to: ElementType = attribute(AttrKind.ELEMENT, E.F32, choices=tuple(sorted(FLOATS, key=str)))

    def infer_types(self) -> list[TensorType]:
        x = self.type_of("input")
        if x.quant is None:
            raise self.error(f"operand 'input' must be quantized; its type is {x}")
        return [TensorType(x.shape, self.to, None, x.layout)]


@op_def("host.Lower")
class Lower(Operation):
    """NCHW to the tiled layout, padding H and C to tile multiples with the zero point (or 0)."""

    OPERANDS = (operand("input", ANY),)
    RESULTS = (result("output"),)
    height_tile: int = attribute(AttrKind.INT, check=lambda t: t >= 1, check_text=">= 1")
    channel_tile: int = attribute(AttrKind.INT, check=lambda t: t >= 1, check_text=">= 1")
    order: str = attribute(AttrKind.STRING, "HCW", choices=tuple(LOWERED_LAYOUTS))

    def infer_types(self) -> list[TensorType]:
        x = self.type_of("input")
        if x.rank != 4:
            raise self.error(f"operand 'input' must be N x C x H x W, not rank {x.rank}")
        if x.layout not in (None, NCHW):
            raise self.error(f"operand 'input' has layout {x.layout}; expected {NCHW}")
        if x.quant is not None and not x.quant.is_per_tensor:
            raise self.error("a per-axis quantized tensor cannot be lowered: channels are tiled")
        if self.height_tile < 1 or self.channel_tile < 1:
            raise self.error("tiles must be at least 1")
        if self.order not in LOWERED_LAYOUTS:
            raise self.error(f"attribute 'order' is {self.order!r}; expected one of "
                             + ", ".join(repr(o) for o in LOWERED_LAYOUTS))
        n, c, h, w = x.shape
        hi, ci = self.height_tile, self.channel_tile
        ho, co = _ceil_div(h, hi), _ceil_div(c, ci)
        shape = (n, ho, co, hi, ci, w) if self.order == "HCW" else (n, ho, co, hi, w, ci)
        return [attrs.evolve(x, shape=shape, layout=LOWERED_LAYOUTS[self.order])]


@op_def("host.Unlower")
class Unlower(Operation):
    """The inverse of host.Lower: the tiled layout back to NCHW, dropping the padding."""

    OPERANDS = (operand("input", ANY),)
    RESULTS = (result("output"),)
    channels: int = attribute(AttrKind.INT, check=lambda c: c >= 1, check_text=">= 1")
    height: int = attribute(AttrKind.INT, check=lambda h: h >= 1, check_text=">= 1")

    @property
    def order(self) -> str:
        x = self.type_of("input")
        order = LOWERING_ORDERS.get(x.layout) if x.layout is not None else None
        if order is None:
            raise self.error(f"operand 'input' has layout {x.layout}; expected one of "
                             + ", ".join(str(v) for v in LOWERED_LAYOUTS.values()))
        return order

    def infer_types(self) -> list[TensorType]:
        x = self.type_of("input")
        order = self.order
        if x.rank != 6:
            raise self.error(f"operand 'input' must have rank 6, not {x.rank}")
        if order == "HCW":
            n, ho, co, hi, ci, w = x.shape
        else:
            n, ho, co, hi, w, ci = x.shape
        if DYNAMIC in (hi, ci):
            raise self.error("the input's height and channel tiles must be static")
        for name, outer, size, tile in (("height", ho, self.height, hi),
                                        ("channels", co, self.channels, ci)):
            if outer != DYNAMIC and outer != _ceil_div(size, tile):
                raise self.error(f"attribute '{name}' is {size}, but the input holds "
                                 f"{outer} tiles of {tile}")
        return [attrs.evolve(x, shape=(n, self.channels, self.height, w), layout=None)]
