"""The ``warboy`` dialect's structured attributes: tiled layouts, SRAM ranges, DMA descriptors.

Activations on the NPU are *lowered*: tiled over slices by outer height and outer channel, as
``N·Ho·Co·Hi·Ci·W`` or ``N·Ho·Co·Hi·W·Ci`` (see the layouts section of docs/ir.md).
:class:`TiledLayout` records that arrangement on a buffer whose shape stays the logical
``N x C x H x W``; :class:`SramRange` is a placed SRAM allocation; :class:`DmaDescriptor` is one
DRAM <-> SRAM transfer between two :class:`MemRef`. Slice ranges are half-open ``[first, end)``.
Each prints and parses with the generic field syntax of :mod:`furiosa.ir.attributes`::

    #warboy.tiled<order = HCW, height_outer = 28, height_inner = 2, channel_outer = 2,
                  channel_inner = 32, slices = [0, 56]>
    #warboy.sram_range<slices = [0, 64], address = 4096, size = 1024>
"""

from __future__ import annotations

import enum
import math

import attrs

from furiosa.errors import IRError
from furiosa.ir.attributes import Layout, attr_def
from furiosa.ir.types import DYNAMIC, MemorySpace


def _check_slices(what: str, slices: tuple[int, int]) -> None:
    if not 0 <= slices[0] < slices[1]:
        raise IRError(f"{what} slice range {list(slices)} is not [first, end) with 0 <= first < end")


class TileOrder(enum.Enum):
    """The order of a tile's inner axes: ``HCW`` is N·Ho·Co·Hi·Ci·W, ``HWC`` is N·Ho·Co·Hi·W·Ci."""

    HCW = "HCW"
    HWC = "HWC"


@attr_def("warboy.tiled")
@attrs.frozen
class TiledLayout(Layout):
    """The NPU's lowered activation layout of a logical ``N x C x H x W`` value.

    Height splits into ``height_outer`` tiles of ``height_inner`` rows and channels into
    ``channel_outer`` tiles of ``channel_inner``; H and C are padded up to whole tiles. The
    ``height_outer x channel_outer`` tiles are spread over the slices ``slices``.
    """

    order: TileOrder
    height_outer: int
    height_inner: int
    channel_outer: int
    channel_inner: int
    slices: tuple[int, int]

    def __attrs_post_init__(self) -> None:
        for name in ("height_outer", "height_inner", "channel_outer", "channel_inner"):
            if getattr(self, name) < 1:
                raise IRError(f"#warboy.tiled field '{name}' is {getattr(self, name)}; it must be >= 1")
        _check_slices("#warboy.tiled", self.slices)

    @property
    def axes(self) -> tuple[str, ...]:
        inner = ("Ci", "W") if self.order is TileOrder.HCW else ("W", "Ci")
        return ("N", "Ho", "Co", "Hi", *inner)

    def tiled_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The six-axis shape (in :attr:`axes` order) of a logical N x C x H x W ``shape``."""
        n, _, _, w = shape
        inner = (self.channel_inner, w) if self.order is TileOrder.HCW else (w, self.channel_inner)
        return (n, self.height_outer, self.channel_outer, self.height_inner, *inner)

    def check_shape(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 4:
            raise IRError(f"#warboy.tiled describes an N x C x H x W value, not rank {len(shape)}")
        _, c, h, _ = shape
        for axis, size, outer, inner in (("height", h, self.height_outer, self.height_inner),
                                         ("channel", c, self.channel_outer, self.channel_inner)):
            if size != DYNAMIC and outer != math.ceil(size / inner):
                raise IRError(f"#warboy.tiled has {outer} {axis} tiles of {inner}, but {axis} "
                              f"{size} needs {math.ceil(size / inner)}")


@attr_def("warboy.sram_range")
@attrs.frozen
class SramRange:
    """An SRAM allocation: ``size`` bytes at ``address`` in each slice of ``slices``."""

    slices: tuple[int, int]
    address: int
    size: int

    def __attrs_post_init__(self) -> None:
        _check_slices("#warboy.sram_range", self.slices)
        if self.address < 0 or self.size < 1:
            raise IRError(f"#warboy.sram_range needs address >= 0 and size >= 1, "
                          f"not {self.address} and {self.size}")

    @property
    def end(self) -> int:
        return self.address + self.size


@attr_def("warboy.memref")
@attrs.frozen
class MemRef:
    """One side of a transfer: a strided block at a byte ``address`` of a memory space.

    ``shape`` and ``strides`` (in bytes) describe the block's elements; an SRAM reference also
    names the slices it spans, and only an SRAM one does.
    """

    space: MemorySpace
    address: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    slices: tuple[int, int] | None = None

    def __attrs_post_init__(self) -> None:
        if self.address < 0:
            raise IRError(f"#warboy.memref address {self.address} is negative")
        if len(self.shape) != len(self.strides):
            raise IRError(f"#warboy.memref has {len(self.shape)} dimensions but "
                          f"{len(self.strides)} strides")
        if any(d < 1 for d in self.shape):
            raise IRError(f"#warboy.memref shape {list(self.shape)} has a dimension below 1")
        if self.slices is not None:
            if self.space is not MemorySpace.SRAM:
                raise IRError(f"#warboy.memref in {self.space.value} has no slice range; only sram does")
            _check_slices("#warboy.memref", self.slices)


@attr_def("warboy.dma")
@attrs.frozen
class DmaDescriptor:
    """One DMA transfer of ``nbytes`` bytes between DRAM and SRAM (either way)."""

    source: MemRef
    destination: MemRef
    nbytes: int

    def __attrs_post_init__(self) -> None:
        spaces = {self.source.space, self.destination.space}
        if spaces != {MemorySpace.DRAM, MemorySpace.SRAM}:
            raise IRError(f"#warboy.dma moves between dram and sram, not from "
                          f"{self.source.space.value} to {self.destination.space.value}")
        if self.nbytes < 1:
            raise IRError(f"#warboy.dma byte count {self.nbytes} is below 1")
