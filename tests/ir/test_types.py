"""Shaped types: buffers beside tensors, their text form, and dense literals in both forms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from furiosa.backend.warboy.attributes import TiledLayout, TileOrder
from furiosa.errors import IRError, ParseError
from furiosa.ir.attributes import NCHW, NamedLayout
from furiosa.ir.core import Dense
from furiosa.ir.dialects.onnx.base import Constant
from furiosa.ir.module import Function
from furiosa.ir.parser import parse_module
from furiosa.ir.printer import LITERAL_LIMIT, format_dense, print_module
from furiosa.ir.types import (
    DYNAMIC,
    F32,
    I8,
    I32,
    BufferType,
    ElementType,
    MemorySpace,
    Quantization,
    ShapedType,
    TensorType,
)
from tests.registry import DIALECTS

TILED = TiledLayout(TileOrder.HCW, 28, 2, 2, 32, (0, 56))


def _roundtrip_type(t: ShapedType) -> ShapedType:
    text = f"func @f(%x: {t}) {{\n  return %x\n}}\n"
    m = parse_module(text, registry=DIALECTS)
    assert print_module(m) == text
    return m.main.inputs[0].type


@pytest.mark.parametrize(("t", "text"), [
    (BufferType((2, 3), F32, space=MemorySpace.HOST), "buffer<2x3xf32, host>"),
    (BufferType((4,), I32, space=MemorySpace.DRAM, address=0), "buffer<4xi32, dram, addr=0>"),
    (BufferType((1, 64, 56, 56), I8, Quantization.per_tensor(0.1, 2), TILED,
                space=MemorySpace.SRAM, address=4096, slices=(0, 64)),
     "buffer<1x64x56x56xi8, quant<0.1:2>, #warboy.tiled<order = HCW, height_outer = 28, "
     "height_inner = 2, channel_outer = 2, channel_inner = 32, slices = [0, 56]>, sram, "
     "addr=4096, slices=0:64>"),
    (BufferType((1, 3, 2, 2), I8, Quantization.per_axis([0.5, 0.25, 1.0], [0, 1, 2], 1), NCHW,
                space=MemorySpace.SRAM, slices=(8, 16)),
     "buffer<1x3x2x2xi8, quant<axis=1: 0.5:0, 0.25:1, 1.0:2>, #layout<NCHW>, sram, slices=8:16>"),
    (BufferType((DYNAMIC, 3), F32, space=MemorySpace.HOST), "buffer<?x3xf32, host>"),
    (TensorType((1, 8, 8, 3), F32, layout=NamedLayout("NHWC")), "tensor<1x8x8x3xf32, #layout<NHWC>>"),
])
def test_shaped_type_text_round_trip(t: ShapedType, text: str) -> None:
    assert str(t) == text
    assert _roundtrip_type(t) == t


def test_buffer_shares_the_tensor_interface() -> None:
    q = Quantization.per_tensor(0.1, 2)
    b = BufferType((1, 64, 56, 56), I8, q, TILED, space=MemorySpace.SRAM, address=4096)
    t = TensorType((1, 64, 56, 56), I8, q, TILED)
    for name in ("shape", "element", "quant", "layout", "dtype", "size", "nbytes", "rank",
                 "is_static", "is_quantized"):
        assert getattr(b, name) == getattr(t, name), name
    assert b != t and b.tensor_type() == t and b.is_placed
    assert b.with_shape((1, 64, 56, 56)) == b
    assert b.with_element(I32).element is I32 and b.with_element(I32).quant is None
    assert isinstance(b.with_quant(None), BufferType)
    assert b.accepts(np.zeros(b.shape, np.int8)) and not b.accepts(np.zeros(b.shape, np.uint8))
    assert not BufferType((2,), F32, space=MemorySpace.DRAM).is_placed


@pytest.mark.parametrize(("build", "message"), [
    (lambda: BufferType((2,), F32, space=MemorySpace.DRAM, slices=(0, 4)), "only sram buffers"),
    (lambda: BufferType((2,), F32, space=MemorySpace.SRAM, address=-4), "not a byte address"),
    (lambda: BufferType((2,), F32, space=MemorySpace.SRAM, slices=(4, 4)), "slice range [4, 4]"),
    (lambda: BufferType((2,), F32, space="sram"), "not host, dram or sram"),
    (lambda: BufferType((2,), F32, Quantization.per_tensor(0.5), space=MemorySpace.HOST),
     "quantized buffer needs an integer"),
])
def test_bad_buffers(build, message: str) -> None:
    with pytest.raises(IRError, match=message.replace("[", r"\[")):
        build()


@pytest.mark.parametrize(("type_text", "col", "message"), [
    ("buffer<2xf32, vram>", 27, "unknown memory space 'vram'; expected host, dram or sram"),
    ("buffer<2xf32>", 13, "a buffer type needs a memory space"),
    ("buffer<2xf32, dram, slices=0:4>", 13, "a dram buffer has no slice range"),
    ("buffer<2xf32, dram, dram>", 33, "the type gives its space twice"),
    ("buffer<2xf32, sram, addr=x>", 38, "expected a byte address"),
    ("tensor<2xf32, sram>", 27, "expected quant<...>, a #layout attribute, found 'sram>"),
    ("tensor<2xf32, #layout<NCHW>>", 13, "layout NCHW has 4 axes but the shape [2] has rank 1"),
    ("buffer<2xf33, host>", 22, "unknown element type 'f33'"),
])
def test_malformed_types_point_at_the_text(type_text: str, col: int, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_module(f"func @f(%x: {type_text}) {{\n  return %x\n}}\n", "t.fir", registry=DIALECTS)
    e = info.value
    assert message in e.reason
    assert (e.line, e.col) == (1, col), str(e)


# ---------------------------------------------------------------- dense literals

ELEMENTS = list(ElementType)


@st.composite
def dense_arrays(draw: st.DrawFn) -> np.ndarray:
    et = draw(st.sampled_from(ELEMENTS))
    # Sizes on both sides of the limit give both printed forms.
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=6))
    if et.is_float:
        # Any bit pattern: NaN payloads, signed NaN, -0.0, infinities, subnormals.
        bits = draw(hnp.arrays(np.dtype(f"u{et.dtype.itemsize}"), shape))
        return bits.view(et.dtype)
    return draw(hnp.arrays(et.dtype, shape))


def _constant_module(arr: np.ndarray) -> Function:
    m = Function("c")
    op = m.add(Constant.build(value=Dense(arr)))
    m.set_outputs([op.result], ["y"])
    return m


@settings(max_examples=300, deadline=None)
@given(dense_arrays())
def test_dense_round_trip_is_bit_exact(arr: np.ndarray) -> None:
    text = print_module(_constant_module(arr))
    back = parse_module(text, registry=DIALECTS)
    got = back.main.ops[0].value.array
    assert got.dtype == arr.dtype and got.shape == arr.shape
    assert got.tobytes() == arr.tobytes()
    assert print_module(back) == text


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([e for e in ELEMENTS if e.is_float]),
       st.lists(st.floats(allow_nan=False, width=16), min_size=1, max_size=LITERAL_LIMIT))
def test_small_float_constants_stay_readable(et: ElementType, values: list[float]) -> None:
    arr = np.array(values, dtype=et.dtype)
    text = format_dense(Dense(arr))
    assert text.startswith("dense<[") and '"0x' not in text
    back = parse_module(print_module(_constant_module(arr))).main.ops[0].value.array
    assert back.tobytes() == arr.tobytes()


def test_dense_forms() -> None:
    small = np.array([1.5, -0.0, np.inf, np.nan], np.float32)
    assert format_dense(Dense(small)) == "dense<[1.5, -0.0, inf, nan]> : tensor<4xf32>"
    # A NaN other than the one 'nan' reads back as must keep its bits: the hex form.
    payload = np.array([0x7FC00001], np.uint32).view(np.float32)
    assert format_dense(Dense(payload)) == 'dense<"0x0100C07F"> : tensor<1xf32>'
    big = np.arange(LITERAL_LIMIT + 1, dtype=np.int16)
    assert format_dense(Dense(big)).startswith('dense<"0x00000100')


@pytest.mark.parametrize(("literal", "message"), [
    ('"0x0G"', "even number of hex digits"),
    ('"0x00 01"', "even number of hex digits"),
    ('"0x0001"', "dense data has 2 bytes but tensor<4xi8> needs 4"),
    ('"00010203"', "dense hex data must start with 0x"),
])
def test_bad_hex_dense(literal: str, message: str) -> None:
    text = ("func @f() {\n  %0 = onnx.Constant() {value = dense<" + literal
            + "> : tensor<4xi8>} : tensor<4xi8>\n  return %0\n}\n")
    with pytest.raises(ParseError, match=message):
        parse_module(text, registry=DIALECTS)


def test_bool_hex_dense_holds_only_zero_and_one() -> None:
    values = np.zeros(LITERAL_LIMIT + 1, np.bool_)
    values[3] = True
    text = print_module(_constant_module(values))
    assert parse_module(text, registry=DIALECTS).main.ops[0].value.array.tolist() == values.tolist()
    bad = text.replace("000001", "000002", 1)
    with pytest.raises(ParseError, match="other than 00 and 01"):
        parse_module(bad, registry=DIALECTS)
