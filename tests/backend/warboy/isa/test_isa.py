"""The instruction set: every opcode round-trips text -> binary -> text byte for byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from furiosa.backend.warboy.isa import (
    OPCODES,
    AssemblyError,
    DType,
    IsaError,
    MemRef,
    Program,
    Space,
    decode_program,
    encode_program,
    make,
    parse_assembly,
    parse_program,
    print_program,
)
from furiosa.backend.warboy.isa.instructions import AttrSpec

ROOT = Path(__file__).parents[4]
GOLDEN = Path(__file__).parent / "golden"


def _operand(space: Space, k: int) -> MemRef:
    if space == Space.SRAM:
        return MemRef(Space.SRAM, DType.I8, (3, 5, 7 + k), 0x40 * (k + 1), k, 64 - k)
    return MemRef(space, DType.I32, (2, 9 + k), 0x1000 * (k + 1))


def _value(a: AttrSpec, k: int) -> object:
    """A value different from the default, so that the attribute's bytes are exercised."""
    if a.kind == "int":
        return -3 - k if "zp" in a.name else 7 + k
    if a.kind == "f32":
        return 0.1 * (k + 1)
    if a.kind == "ints":
        return tuple(2 + i + k for i in range(a.count))
    return a.choices[-1]


def _every_opcode() -> Program:
    insts = []
    for i, spec in enumerate(OPCODES):
        kwargs: dict[str, object] = {}
        for k, o in enumerate(spec.operands):
            kwargs[o.name] = _operand(min(o.spaces), k)
        for k, a in enumerate(spec.attributes):
            kwargs[a.name] = _value(a, k)
        insts.append(make(spec.name, op=i % 3, deps=tuple(range(max(0, i - 2), i)), **kwargs))
    # The same opcodes again with defaults and an absent optional operand.
    for spec in OPCODES:
        kwargs = {o.name: _operand(min(o.spaces), 0) for o in spec.operands if not o.optional}
        insts.append(make(spec.name, **kwargs))
    return Program("every-opcode", ("a", "b b", 'c"quoted"'), tuple(insts))


def test_every_opcode_round_trips_text_binary_text() -> None:
    program = _every_opcode()
    text = print_program(program)
    parsed = parse_program(text, "every.s")
    assert parsed == program
    binary = encode_program(parsed)
    decoded = decode_program(binary, program.op_names)
    assert decoded == program
    assert print_program(decoded) == text
    assert encode_program(decoded) == binary
    assert {i.opcode for i in program.instructions} == {s.name for s in OPCODES}


@pytest.mark.parametrize("spec", OPCODES, ids=lambda s: s.name)
def test_each_opcode_alone_round_trips(spec) -> None:  # type: ignore[no-untyped-def]
    kwargs = {o.name: _operand(min(o.spaces), k) for k, o in enumerate(spec.operands)}
    kwargs.update({a.name: _value(a, k) for k, a in enumerate(spec.attributes)})
    program = Program("one", ("op",), (make(spec.name, **kwargs),))
    text = print_program(program)
    binary = encode_program(parse_program(text))
    assert print_program(decode_program(binary, ("op",))) == text


def test_golden_program_prints_canonically() -> None:
    source = (ROOT / "examples" / "warboy" / "conv_relu_pool.s").read_text()
    programs, directives = parse_assembly(source, "conv_relu_pool.s")
    assert [d.name for d in directives][:1] == [".target"]
    text = print_program(programs[0])
    assert text == (GOLDEN / "conv_relu_pool.canonical.s").read_text()
    again = decode_program(encode_program(programs[0]), programs[0].op_names)
    assert print_program(again) == text


def test_parser_accepts_defaults_in_any_order_and_comments() -> None:
    text = ('.op "x"\n.program "p"  # comment\n'
            "i0 = vec.pool kernel=3,3 src=sram[0:2]@0x0:i8<1x4x4> kind=avg "
            "dst=sram[0:2]@0x100:i8<1x2x2> stride=1,1 op=0  # trailing\n")
    p = parse_program(text)
    assert p.instructions[0].attr("kind") == "avg"
    assert p.instructions[0].attr("mode") == "tflite"
    assert parse_program(print_program(p)) == p


@pytest.mark.parametrize(("line", "message"), [
    ("i0 = mac.frobnicate dst=none", "unknown opcode"),
    ("i1 = dma.store dst=dram@0x0:i8<4> src=sram[0:1]@0x0:i8<4>", "labelled 'i1'"),
    ("i0 = dma.store dst=dram@0x0:i8<4> src=sram[0:1]@0x0:i8<4> colour=3", "no operand or attribute"),
    ("i0 = dma.store dst=dram@0x0:i8<4> src=sram[0:1]@0x0:q8<4>", "not a memory reference"),
    ("i0 = dma.store dst=sram[0:1]@0x0:i8<4> src=sram[0:1]@0x0:i8<4>", "must be in dram"),
    ("i0 = dma.store dst=dram@0x0:i8<4> src=sram[0:1]@0x0:i8<4> after=i0", "does not come before"),
    ("i0 = dma.store dst=dram@0x0:i8<4> op=0", "required"),
    ("i0 = vec.requant dst=sram[0:1]@0x0:i8<4> src=sram[0:1]@0x0:i32<4> "
     "params=sram[0:1]@0x0:f32<4> mode=float", "must be one of"),
    ("i0 = vec.mul dst=sram[0:1]@0x0:i8<4> a=sram[0:1]@0x0:i8<4> b=sram[0:1]@0x0:i8<4> "
     "scale=nan", "finite"),
])
def test_bad_assembly_names_file_and_line(line: str, message: str) -> None:
    with pytest.raises(AssemblyError, match=rf"^bad\.s:(3|3:|\d).*{message}"):
        parse_program(f'.op "x"\n.program "p"\n{line}\n', "bad.s")


def test_decoder_rejects_noncanonical_and_truncated_bytes() -> None:
    program = _every_opcode()
    binary = encode_program(program)
    for cut in range(0, len(binary), 7):
        with pytest.raises(IsaError):
            decode_program(binary[:cut], program.op_names)
    with pytest.raises(IsaError, match="op-name table"):
        decode_program(binary, ("only-one",))
    with pytest.raises(IsaError, match="after its last instruction"):
        decode_program(binary + bytes(8), program.op_names)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_decoder_never_crashes_on_mutated_bytes(data: st.DataObject) -> None:
    program = _every_opcode()
    binary = bytearray(encode_program(program))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(binary) - 1))
        binary[pos] = data.draw(st.integers(0, 255))
    try:
        decoded = decode_program(bytes(binary), program.op_names)
    except IsaError:
        return
    # Accepted bytes are canonical: they re-encode to themselves.
    assert encode_program(decoded) == bytes(binary)


def test_memref_rules() -> None:
    bad = make("dma.store", dst=MemRef(Space.DRAM, DType.I8, (4,), 0, 0, 2),
               src=MemRef(Space.SRAM, DType.I8, (4,), 0, 0, 1))
    with pytest.raises(IsaError, match="no slice range"):
        Program("p", (), (bad,)).check()
    empty = make("dma.store", dst=MemRef(Space.DRAM, DType.I8, (4,), 0),
                 src=MemRef(Space.SRAM, DType.I8, (4,), 0, 0, 0))
    with pytest.raises(IsaError, match="non-empty slice range"):
        Program("p", (), (empty,)).check()
    m = MemRef(Space.SRAM, DType.I32, (4, 8), 0x100, 2, 10)
    assert m.logical_shape == (10, 4, 8) and m.bytes_per_slice == 128 and m.total_bytes == 1280
    assert np.dtype(DType.F32.numpy) == np.float32
