"""ENF: deterministic bytes, a full round trip, and a reader that rejects every truncated,
damaged, foreign, newer or hostile file with EnfError in bounded memory."""

from __future__ import annotations

import hashlib
import json
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from furiosa.backend.warboy.enf import EnfError, parse_enf, read_enf, write_enf
from furiosa.backend.warboy.enf.assemble import assemble
from furiosa.backend.warboy.enf.format import (
    ALIGNMENT,
    FORMAT_MAJOR,
    PREAMBLE,
    SECTION_ENTRY,
)
from furiosa.backend.warboy.isa import AssemblyError, print_program
from furiosa.backend.warboy.simulator import SimulatorError, simulate
from furiosa.errors import FuriosaError
from tests.backend.warboy.handwritten import conv_example

TINY = """\
.target warboy-2pe
.input x i8 4x16 @0x0
.output y i8 4x16 @0x40
.const t u8 256 @0x0 fill 3
.op "copy"
.program "main"
i0 = host.load dst=dram@0x100:i8<4x16> src=host@0x0:i8<4x16> op=0
i1 = dma.load dst=sram[0:4]@0x0:i8<16> src=dram@0x100:i8<4x16> op=0 after=i0
i2 = dma.store dst=dram@0x200:i8<4x16> src=sram[0:4]@0x0:i8<16> op=0 after=i1
i3 = host.store dst=host@0x40:i8<4x16> src=dram@0x200:i8<4x16> op=0 after=i2
"""


@pytest.fixture(scope="module")
def tiny() -> bytes:
    return assemble(TINY, "tiny.s")


def reseal(data: bytearray) -> bytes:
    """Recompute every checksum of (possibly hostile) ENF bytes, as an attacker would."""
    fields = list(PREAMBLE.unpack(bytes(data[:PREAMBLE.size])))
    header_size, table_offset, count = fields[6], fields[7], fields[8]
    for i in range(count):
        at = table_offset + i * SECTION_ENTRY.size
        if at + SECTION_ENTRY.size > len(data):
            break
        kind, index, zero, offset, length, _ = SECTION_ENTRY.unpack(data[at:at + SECTION_ENTRY.size])
        digest = hashlib.sha256(data[offset:offset + length]).digest()
        data[at:at + SECTION_ENTRY.size] = SECTION_ENTRY.pack(kind, index, zero, offset, length, digest)
    fields[10] = hashlib.sha256(bytes(data[96:table_offset + count * SECTION_ENTRY.size])).digest()
    del header_size
    head = PREAMBLE.pack(*fields[:11], 0)
    data[:PREAMBLE.size] = head[:-8] + struct.pack("<I4x", zlib.crc32(head[:-8]))
    return bytes(data)


def test_identical_inputs_give_identical_bytes(tiny: bytes) -> None:
    assert assemble(TINY, "tiny.s") == tiny
    text, _ = conv_example()
    assert assemble(text) == assemble(text)


def test_round_trip(tiny: bytes, tmp_path: Path) -> None:
    path = tmp_path / "tiny.enf"
    path.write_bytes(tiny)
    enf = read_enf(path)
    assert enf.version == (FORMAT_MAJOR, 0)
    assert enf.header.target == "warboy-2pe" and enf.header.batch_size == 1
    assert [t.name for t in enf.header.inputs] == ["x"]
    assert enf.op_names == ("copy",)
    assert len(enf.programs[0].instructions) == 4
    assert bytes(enf.constants) == bytes([3]) * 256
    # Mapped, not copied: a read-only view of the file's pages.
    assert not enf.constants.flags.owndata and not enf.constants.flags.writeable
    assert all(s.offset % ALIGNMENT == 0 for s in enf.sections)
    again = write_enf(enf.header, enf.programs, enf.constants, enf.host_ir, enf.op_names)
    assert again == tiny
    assert print_program(enf.programs[0]).count("\n") == 6


def test_every_truncation_is_rejected(tiny: bytes) -> None:
    for n in range(len(tiny)):
        with pytest.raises(EnfError):
            parse_enf(tiny[:n], "cut.enf")


def test_every_byte_flipped_is_rejected(tiny: bytes) -> None:
    for i in range(len(tiny)):
        damaged = bytearray(tiny)
        damaged[i] ^= 1 << (i % 8)
        with pytest.raises(EnfError):
            parse_enf(bytes(damaged), "flip.enf")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_bytes_are_rejected_or_identical(tiny: bytes, data: st.DataObject) -> None:
    mutated = bytearray(tiny)
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(st.sampled_from(["set", "insert", "delete"]))
        pos = data.draw(st.integers(0, len(mutated) - 1))
        if action == "set":
            mutated[pos] = data.draw(st.integers(0, 255))
        elif action == "insert":
            mutated[pos:pos] = bytes([data.draw(st.integers(0, 255))])
        else:
            del mutated[pos]
    try:
        enf = parse_enf(bytes(mutated), "mutated.enf")
    except EnfError:
        return
    assert bytes(mutated) == tiny and enf.op_names == ("copy",)


def test_foreign_empty_and_newer_files(tiny: bytes, tmp_path: Path) -> None:
    with pytest.raises(EnfError, match="not an ENF"):
        parse_enf(b"PK\x03\x04" + bytes(200), "model.zip")
    with pytest.raises(EnfError, match="not an ENF"):
        parse_enf(b"ir_version: 8\n", "model.onnx")
    (tmp_path / "empty.enf").write_bytes(b"")
    with pytest.raises(EnfError, match="empty"):
        read_enf(tmp_path / "empty.enf")
    with pytest.raises(EnfError, match="cannot read"):
        read_enf(tmp_path / "missing.enf")
    newer = bytearray(tiny)
    newer[8:10] = struct.pack("<H", FORMAT_MAJOR + 1)
    with pytest.raises(EnfError, match="newer than this reader"):
        parse_enf(reseal(newer), "newer.enf")
    older = bytearray(tiny)
    older[8:10] = struct.pack("<H", 0)
    with pytest.raises(EnfError, match="older"):
        parse_enf(reseal(older), "older.enf")
    assert issubclass(EnfError, FuriosaError)


def _section(data: bytes, kind: int) -> tuple[int, int, int]:
    """(table entry position, offset, length) of the first section of ``kind``."""
    fields = PREAMBLE.unpack(data[:PREAMBLE.size])
    for i in range(fields[8]):
        at = fields[7] + i * SECTION_ENTRY.size
        k, _, _, offset, length, _ = SECTION_ENTRY.unpack(data[at:at + SECTION_ENTRY.size])
        if k == kind:
            return at, offset, length
    raise AssertionError(kind)


def _hostile_files(tiny: bytes) -> dict[str, bytes]:
    files = {}
    # An op-name table claiming four billion names.
    d = bytearray(tiny)
    _, offset, _ = _section(tiny, 4)
    d[offset:offset + 4] = struct.pack("<I", 0xFFFFFFFF)
    files["op names"] = reseal(d)
    # A program claiming four billion instructions.
    d = bytearray(tiny)
    _, offset, _ = _section(tiny, 1)
    d[offset + 8:offset + 12] = struct.pack("<I", 0xFFFFFFFF)
    files["instruction count"] = reseal(d)
    # A section whose length runs far past the end of the file.
    d = bytearray(tiny)
    at, offset, _ = _section(tiny, 3)
    d[at + 16:at + 24] = struct.pack("<Q", 1 << 60)
    files["section length"] = reseal(d)
    # A header size of an exabyte.
    d = bytearray(tiny)
    d[40:48] = struct.pack("<Q", 1 << 60)
    files["header size"] = reseal(d)
    # A declared DRAM of an exabyte and tensors of absurd shape: checked, never allocated.
    header_end = PREAMBLE.unpack(tiny[:PREAMBLE.size])[7]
    header = json.loads(tiny[PREAMBLE.size:header_end])
    header["dram_bytes"] = 1 << 60
    header["inputs"][0]["shape"] = [1 << 40, 1 << 40]
    files["declared sizes"] = _rebuild_header(tiny, json.dumps(header).encode())
    files["nested header"] = _rebuild_header(tiny, b"[" * 200_000 + b"]" * 200_000)
    return files


def _rebuild_header(tiny: bytes, header: bytes) -> bytes:
    """``tiny`` with another header (sections moved so that they stay aligned)."""
    fields = list(PREAMBLE.unpack(tiny[:PREAMBLE.size]))
    old_end, count = fields[7], fields[8]
    table = bytearray(tiny[old_end:old_end + count * SECTION_ENTRY.size])
    shift = -(-(len(header) - (old_end - PREAMBLE.size)) // ALIGNMENT) * ALIGNMENT
    body_start = min(SECTION_ENTRY.unpack(table[i * 56:(i + 1) * 56])[3] for i in range(count))
    for i in range(count):
        k, idx, z, off, length, dig = SECTION_ENTRY.unpack(table[i * 56:(i + 1) * 56])
        table[i * 56:(i + 1) * 56] = SECTION_ENTRY.pack(k, idx, z, off + shift, length, dig)
    table_offset = PREAMBLE.size + len(header)
    head_and_table = header + bytes(table)
    out = bytearray(tiny[:PREAMBLE.size]) + head_and_table
    out += bytes(body_start + shift - len(out))
    out += tiny[body_start:]
    fields[4], fields[6], fields[7] = len(out), len(header), table_offset
    out[:PREAMBLE.size] = PREAMBLE.pack(*fields)
    return reseal(out)


def test_hostile_files_are_rejected_in_bounded_memory(tiny: bytes) -> None:
    for name, data in _hostile_files(tiny).items():
        tracemalloc.start()
        try:
            with pytest.raises(EnfError):
                parse_enf(data, f"hostile-{name}.enf")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        # Parsing may hold a few copies of the small file, never what it declares.
        assert peak < 4 * len(data) + (4 << 20), (name, peak)


def test_declared_dram_is_checked_by_the_simulator_not_allocated(tiny: bytes) -> None:
    header_end = PREAMBLE.unpack(tiny[:PREAMBLE.size])[7]
    header = json.loads(tiny[PREAMBLE.size:header_end])
    header["dram_bytes"] = 1 << 60
    enf = parse_enf(_rebuild_header(tiny, json.dumps(header).encode()), "big.enf")
    assert enf.header.dram_bytes == 1 << 60
    with pytest.raises(SimulatorError, match="bytes of DRAM"):
        simulate(enf, {"x": np.zeros((4, 16), np.int8)})


def test_assembler_errors_name_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(AssemblyError, match=r"^bad\.s:2: 'q' is not an integer"):
        assemble('.target warboy\n.input x i8 4xq @0x0\n.program "p"\n', "bad.s")
    with pytest.raises(AssemblyError, match="unknown target"):
        assemble('.target warboy-9\n.program "p"\n', "bad.s")
    with pytest.raises(AssemblyError, match="overlap in DRAM"):
        assemble('.const a i8 8 @0x0 fill 1\n.const b i8 8 @0x4 fill 2\n.program "p"\n', "bad.s")
    with pytest.raises(AssemblyError, match="needs 8"):
        assemble('.const a i8 8 @0x0 hex 0102\n.program "p"\n', "bad.s")
    np.save(tmp_path / "w.npy", np.zeros((2, 3), np.float64))
    with pytest.raises(AssemblyError, match="holds float64"):
        assemble('.const w i8 2x3 @0x0 npy w.npy\n.program "p"\n', "bad.s", tmp_path)
    np.save(tmp_path / "w8.npy", np.arange(6, dtype=np.int8).reshape(2, 3))
    enf = parse_enf(assemble('.const w i8 2x3 @0x40 npy w8.npy\n.op "a"\n.program "p"\n', "ok.s",
                             tmp_path))
    assert bytes(enf.constants[0x40:]) == bytes(range(6))
