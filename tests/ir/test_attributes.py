"""Structured attributes: declaration, registry, text round trip, op attributes of that kind."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from furiosa.backend.warboy.attributes import (
    DmaDescriptor,
    MemRef,
    SramRange,
    TiledLayout,
    TileOrder,
)
from furiosa.errors import IRError, ParseError
from furiosa.ir.attributes import (
    ATTR_REGISTRY,
    NHWC,
    Layout,
    NamedLayout,
    attr_def,
    lookup_attr,
    registered_attrs,
)
from furiosa.ir.core import AttrKind, Operation, attribute, op_def, operand, result
from furiosa.ir.dialects.common import ANY
from furiosa.ir.dialects.onnx.base import Identity
from furiosa.ir.interpreter import interpret
from furiosa.ir.module import Function
from furiosa.ir.parser import parse_module
from furiosa.ir.printer import format_attr, print_module
from furiosa.ir.registry import DialectRegistry
from furiosa.ir.types import F32, I8, BufferType, MemorySpace, Quantization, TensorType
from furiosa.ir.verifier import verify_module, verify_operation
from tests.registry import DIALECTS as TOOL_DIALECTS


@attr_def("test.window")
@attrs.frozen
class Window:
    """A test attribute using every field kind the generic syntax knows."""

    size: tuple[int, ...]
    scale: float = 1.0
    name: str = "w"
    exact: bool = False
    space: MemorySpace = MemorySpace.HOST
    element: object = None
    inner: SramRange | None = None


@op_def("test.Tagged")
class Tagged(Operation):
    """Identity carrying a structured attribute constrained to SramRange."""

    OPERANDS = (operand("x", ANY),)
    RESULTS = (result("y"),)
    where: SramRange = attribute(AttrKind.STRUCT, cls=SramRange)
    layout: Layout | None = attribute(AttrKind.STRUCT, None, cls=Layout)


SRAM = SramRange((0, 64), 4096, 1024)
TILED = TiledLayout(TileOrder.HCW, 28, 2, 2, 32, (0, 56))
DMA = DmaDescriptor(MemRef(MemorySpace.DRAM, 128, (2, 64), (64, 1)),
                    MemRef(MemorySpace.SRAM, 0, (2, 64), (64, 1), (0, 2)), 128)


# The tool's dialects and this file's own test dialect.
DIALECTS = DialectRegistry()
for _name in (*TOOL_DIALECTS.dialects, "test"):
    DIALECTS.add_dialect(_name)


def test_registry_and_lookup() -> None:
    assert lookup_attr("warboy.tiled") is TiledLayout
    assert lookup_attr("warboy.sram_range") is SramRange
    assert lookup_attr("warboy.dma") is DmaDescriptor
    assert lookup_attr("layout") is NamedLayout
    assert lookup_attr("warboy.nothing") is None
    assert set(registered_attrs()) >= {"layout", "warboy.tiled", "warboy.memref", "test.window"}
    assert ATTR_REGISTRY["test.window"] is Window


def test_declaring_twice_or_unfrozen_is_refused() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        attr_def("test.window")(attrs.frozen(type("Other", (), {"__annotations__": {"a": "int"}})))
    with pytest.raises(ValueError, match="must be frozen"):
        attr_def("test.mutable")(attrs.define(type("Mutable", (), {"__annotations__": {"a": "int"}})))
    with pytest.raises(ValueError, match="dotted identifier"):
        attr_def("test/bad")


@pytest.mark.parametrize(("value", "text"), [
    (SRAM, "#warboy.sram_range<slices = [0, 64], address = 4096, size = 1024>"),
    (TILED, "#warboy.tiled<order = HCW, height_outer = 28, height_inner = 2, channel_outer = 2, "
            "channel_inner = 32, slices = [0, 56]>"),
    (DMA, "#warboy.dma<source = #warboy.memref<space = dram, address = 128, shape = [2, 64], "
          "strides = [64, 1]>, destination = #warboy.memref<space = sram, address = 0, "
          "shape = [2, 64], strides = [64, 1], slices = [0, 2]>, nbytes = 128>"),
    (NHWC, "#layout<NHWC>"),
    (Window((3, 3)), "#test.window<size = [3, 3]>"),
    (Window((), -0.0, 'a "q"', True, MemorySpace.SRAM, I8, SRAM),
     '#test.window<size = [], scale = -0.0, name = "a \\"q\\"", exact = true, space = sram, '
     'element = i8, inner = #warboy.sram_range<slices = [0, 64], address = 4096, size = 1024>>'),
])
def test_print_and_parse_exactly(value: object, text: str) -> None:
    assert str(value) == text
    assert format_attr(value) == text
    m = Function("m")
    x = m.add_input("x", TensorType((2,), F32))
    op = m.add(Identity.build(x))
    op.extra["test.attr"] = value
    m.set_outputs([op.result], ["y"])
    printed = print_module(m)
    assert f'"test.attr" = {text}' in printed or f"test.attr = {text}" in printed
    back = parse_module(printed, registry=DIALECTS)
    assert back.main.ops[0].extra["test.attr"] == value
    assert print_module(back) == printed


def test_op_attribute_of_structured_kind() -> None:
    m = Function("m")
    x = m.add_input("x", TensorType((2, 4, 4, 8), I8, Quantization.per_tensor(0.5, 0)))
    op = m.add(Tagged.build(x, where=SRAM, layout=NHWC))
    m.set_outputs([op.result], ["y"])
    verify_module(m)
    text = print_module(m)
    assert "where = #warboy.sram_range<" in text and "layout = #layout<NHWC>" in text
    back = parse_module(text, registry=DIALECTS)
    assert back.main.ops[0].where == SRAM and back.main.ops[0].layout == NHWC
    assert print_module(back) == text
    with pytest.raises(IRError, match=r"bad structured attribute attribute: expected #warboy.sram_range"):
        Tagged.build(x, where=NHWC)
    with pytest.raises(IRError, match="expected a structured attribute"):
        Tagged.build(x, where=(0, 64))
    with pytest.raises(ValueError, match="only a STRUCT attribute takes a class"):
        attribute(AttrKind.INT, 0, cls=SramRange)


def _error(text: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse_module(text, "a.fir", registry=DIALECTS)
    return info.value


def _with_extra(value: str) -> str:
    return f"func @f(%x: tensor<2xf32>) {{\n  %0 = onnx.Identity(%x) {{a.b = {value}}} : tensor<2xf32>\n  return %0\n}}\n"


@pytest.mark.parametrize(("value", "col", "message"), [
    ("#warboy.bogus<a = 1>", 33, "unknown attribute '#warboy.bogus'"),
    ("#warboy.sram_range<slices = [0, 64], adress = 1, size = 2>", 70,
     "#warboy.sram_range has no field 'adress' (its fields: slices, address, size)"),
    ("#warboy.sram_range<slices = [0, 64], address = \"x\", size = 2>", 70,
     "field 'address' of #warboy.sram_range: expected an integer, got \"x\""),
    ("#warboy.sram_range<slices = [0, 64, 1], address = 1, size = 2>", 52,
     "expected a list of 2 items, got 3"),
    ("#warboy.sram_range<slices = [0, 64], size = 2>", 33, "#warboy.sram_range needs field 'address'"),
    ("#warboy.sram_range<slices = [4, 2], address = 1, size = 2>", 33, "slice range [4, 2]"),
    ("#warboy.memref<space = vram, address = 0, shape = [1], strides = [1]>", 48,
     "field 'space' of #warboy.memref: expected one of host, dram, sram, got vram"),
    ("#warboy.sram_range<slices = [0, 64], address = 1, address = 2>", 83, "given twice"),
    ("#layout<N/C>", 33, "layout 'N/C' is not a name"),
    ("#warboy.sram_range<slices = [0, 64] address = 1>", 69, "expected ',' or '>'"),
])
def test_malformed_attributes_point_at_the_text(value: str, col: int, message: str) -> None:
    e = _error(_with_extra(value))
    assert (e.line, e.col) == (2, col), str(e)
    assert message in e.reason
    assert str(e).startswith(f"a.fir:2:{col}: ")


def test_dma_and_memref_checks() -> None:
    with pytest.raises(IRError, match="moves between dram and sram, not from dram to dram"):
        DmaDescriptor(DMA.source, DMA.source, 4)
    with pytest.raises(IRError, match="only sram does"):
        MemRef(MemorySpace.DRAM, 0, (1,), (1,), (0, 1))
    with pytest.raises(IRError, match="2 dimensions but 1 strides"):
        MemRef(MemorySpace.DRAM, 0, (1, 2), (1,))
    with pytest.raises(IRError, match="size >= 1"):
        SramRange((0, 1), 0, 0)


def test_tiled_layout_describes_its_shape() -> None:
    assert TILED.axes == ("N", "Ho", "Co", "Hi", "Ci", "W")
    assert TILED.tiled_shape((1, 64, 56, 56)) == (1, 28, 2, 2, 32, 56)
    hwc = attrs.evolve(TILED, order=TileOrder.HWC)
    assert hwc.tiled_shape((1, 64, 56, 56)) == (1, 28, 2, 2, 56, 32)
    TensorType((1, 50, 55, 7), I8, layout=TILED)  # 55 rows pad to 28 tiles of 2, 50 channels to 2 of 32
    with pytest.raises(IRError, match="28 height tiles of 2, but height 58 needs 29"):
        TensorType((1, 64, 58, 56), I8, layout=TILED)
    with pytest.raises(IRError, match="N x C x H x W value, not rank 3"):
        TensorType((64, 56, 56), I8, layout=TILED)


def test_layout_position_needs_a_layout() -> None:
    text = ("func @f(%x: tensor<2xf32, #warboy.sram_range<slices = [0, 1], address = 0, size = 1>>) "
            "{\n  return %x\n}\n")
    e = _error(text)
    assert (e.line, e.col) == (1, 27) and "#warboy.sram_range is not a layout" in e.reason


def test_buffer_values_verify_and_interpret() -> None:
    t = BufferType((1, 64, 56, 56), I8, Quantization.per_tensor(0.1, 2), TILED,
                   space=MemorySpace.SRAM, address=4096, slices=(0, 64))
    tagged = Function("tagged")
    op = tagged.add(Tagged.build(tagged.add_input("x", t), where=SRAM))
    tagged.set_outputs([op.result], ["y"])
    verify_module(tagged)
    assert op.result.type == t
    m = Function("m")
    op = m.add(Identity.build(m.add_input("x", t)))
    m.set_outputs([op.result], ["y"])
    verify_operation(op)
    text = print_module(m)
    assert "buffer<1x64x56x56xi8, quant<0.1:2>, #warboy.tiled<" in text
    assert text == print_module(parse_module(text, registry=DIALECTS))
    data = np.arange(64 * 56 * 56, dtype=np.int8).reshape(t.shape)
    np.testing.assert_array_equal(interpret(parse_module(text, registry=DIALECTS), {"x": data})["y"], data)


_SLICES = st.tuples(st.integers(0, 127), st.integers(1, 128)).filter(lambda s: s[0] < s[1])
_MEMREFS = st.lists(st.integers(1, 4096), max_size=4).flatmap(lambda shape: st.builds(
    MemRef, st.just(MemorySpace.DRAM), st.integers(0, 2**40), st.just(tuple(shape)),
    st.lists(st.integers(0, 2**20), min_size=len(shape), max_size=len(shape)).map(tuple)))
_STRUCTS = st.one_of(
    st.builds(SramRange, _SLICES, st.integers(0, 2**20), st.integers(1, 2**20)),
    st.builds(TiledLayout, st.sampled_from(list(TileOrder)), st.integers(1, 64), st.integers(1, 64),
              st.integers(1, 64), st.integers(1, 64), _SLICES),
    st.builds(Window, st.lists(st.integers(-(2**63), 2**63), max_size=5).map(tuple),
              st.floats(allow_nan=False), st.text(), st.booleans(), st.sampled_from(list(MemorySpace)),
              st.sampled_from([None, F32, I8])),
    st.builds(lambda d, s, n: DmaDescriptor(attrs.evolve(d, space=MemorySpace.DRAM),
                                            attrs.evolve(d, space=MemorySpace.SRAM, slices=s), n),
              _MEMREFS, st.one_of(st.none(), _SLICES), st.integers(1, 2**32)),
)


@settings(max_examples=200, deadline=None)
@given(_STRUCTS)
def test_structured_attributes_round_trip(value: object) -> None:
    m = Function("m")
    x = m.add_input("x", TensorType((2,), F32))
    op = m.add(Identity.build(x))
    op.extra["test.attr"] = value
    m.set_outputs([op.result], ["y"])
    text = print_module(m)
    back = parse_module(text, registry=DIALECTS)
    assert back.main.ops[0].extra["test.attr"] == value
    assert print_module(back) == text
