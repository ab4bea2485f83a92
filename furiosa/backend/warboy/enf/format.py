"""ENF, the Executable NPU Format: writer and reader (specified byte by byte in ``docs/enf.md``).

Layout: a 96-byte preamble, the header (canonical JSON), the section table, then the sections,
each starting on a 4096-byte boundary so that it can be mapped. Every byte is covered by a
check: the preamble by its CRC-32, header and table by a SHA-256 in the preamble, each section by
a SHA-256 in its table entry, and the padding between them must be zero. The reader never
executes anything from the file, checks every offset and length against the file's real size
before touching it, and maps the constants section instead of copying it.
"""

from __future__ import annotations

import hashlib
import json
import math
import mmap
import os
import struct
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import numpy as np

from furiosa.backend.warboy.isa.encoding import decode_program, encode_program
from furiosa.backend.warboy.isa.instructions import DType, IsaError, Program
from furiosa.errors import FuriosaError


class EnfError(FuriosaError):
    """An ENF file that is truncated, damaged, foreign, of a newer major version, or malformed."""


MAGIC = b"\x89ENF\r\n\x1a\n"
FORMAT_MAJOR = 1
FORMAT_MINOR = 0
ALIGNMENT = 4096
PREAMBLE = struct.Struct("<8sHHIQQQQII32sI4x")
SECTION_ENTRY = struct.Struct("<HHIQQ32s")
assert PREAMBLE.size == 96 and SECTION_ENTRY.size == 56

SECTION_PROGRAM = 1
SECTION_HOST_IR = 2
SECTION_CONSTANTS = 3
SECTION_OP_NAMES = 4
SECTION_NAMES = {SECTION_PROGRAM: "npu-program", SECTION_HOST_IR: "host-ir",
                 SECTION_CONSTANTS: "constants", SECTION_OP_NAMES: "op-names"}

MAX_HEADER_BYTES = 1 << 24
"""A header larger than this is rejected before it is parsed (hostile-file guard)."""


@attrs.frozen
class TensorDesc:
    """An input or output of the ENF: name, element type, shape, place in host memory, and its
    quantization (``scale``/``zero_point``, absent for unquantized tensors)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    host_address: int
    scale: float | None = None
    zero_point: int | None = None

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * DType[self.dtype.upper()].itemsize

    def as_json(self) -> dict[str, object]:
        d: dict[str, object] = {"name": self.name, "dtype": self.dtype, "shape": list(self.shape),
                                "host_address": self.host_address}
        if self.scale is not None:
            d["scale"] = self.scale
            d["zero_point"] = self.zero_point
        return d


@attrs.frozen
class Header:
    compiler_version: str
    target: str
    target_hash: str
    batch_size: int
    pipeline: str
    model_hash: str
    inputs: tuple[TensorDesc, ...]
    outputs: tuple[TensorDesc, ...]
    dram_bytes: int
    host_bytes: int

    def as_json(self) -> dict[str, object]:
        return {"compiler_version": self.compiler_version, "target": self.target,
                "target_hash": self.target_hash, "batch_size": self.batch_size,
                "pipeline": self.pipeline, "model_hash": self.model_hash,
                "inputs": [t.as_json() for t in self.inputs],
                "outputs": [t.as_json() for t in self.outputs],
                "dram_bytes": self.dram_bytes, "host_bytes": self.host_bytes}


@attrs.frozen
class Section:
    kind: int
    index: int
    offset: int
    length: int
    sha256: bytes

    @property
    def name(self) -> str:
        return SECTION_NAMES.get(self.kind, f"unknown-{self.kind}")


@attrs.frozen(eq=False)
class Enf:
    """A loaded (or to-be-written) ENF. ``constants`` is the initial DRAM image from address 0."""

    header: Header
    programs: tuple[Program, ...]
    host_ir: str
    constants: np.ndarray
    op_names: tuple[str, ...]
    sections: tuple[Section, ...] = ()
    version: tuple[int, int] = (FORMAT_MAJOR, FORMAT_MINOR)
    file_size: int = 0


# ----------------------------------------------------------------------------- writer


def _encode_op_names(names: Sequence[str]) -> bytes:
    out = bytearray(struct.pack("<I", len(names)))
    for n in names:
        b = n.encode()
        out += struct.pack("<I", len(b)) + b
    return bytes(out)


def _canonical_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode()


def write_enf(header: Header, programs: Sequence[Program], constants: bytes | np.ndarray,
              host_ir: str = "", op_names: Sequence[str] = ()) -> bytes:
    """The bytes of an ENF. Identical arguments give identical bytes (no time, no randomness)."""
    op_names = tuple(op_names)
    for p in programs:
        if p.op_names != op_names:
            raise EnfError(f"program '{p.name}' has op names that differ from the ENF's op-name table")
    if isinstance(constants, np.ndarray):
        constants = np.ascontiguousarray(constants).view(np.uint8).tobytes()
    if len(constants) > header.dram_bytes:
        raise EnfError(f"the constants ({len(constants)} bytes) exceed the declared DRAM "
                       f"({header.dram_bytes} bytes)")
    try:
        payloads = [(SECTION_PROGRAM, i, encode_program(p)) for i, p in enumerate(programs)]
    except IsaError as e:
        raise EnfError(f"cannot encode an NPU program: {e}") from None
    payloads += [(SECTION_HOST_IR, 0, host_ir.encode()), (SECTION_CONSTANTS, 0, bytes(constants)),
                 (SECTION_OP_NAMES, 0, _encode_op_names(op_names))]
    header_bytes = _canonical_json(header.as_json())
    table_offset = PREAMBLE.size + len(header_bytes)
    offset = _align(table_offset + SECTION_ENTRY.size * len(payloads))
    entries = bytearray()
    layout = []
    for kind, index, data in payloads:
        layout.append((offset, data))
        entries += SECTION_ENTRY.pack(kind, index, 0, offset, len(data), hashlib.sha256(data).digest())
        offset = _align(offset + len(data))
    file_size = layout[-1][0] + len(layout[-1][1])
    meta_hash = hashlib.sha256(header_bytes + bytes(entries)).digest()
    head = PREAMBLE.pack(MAGIC, FORMAT_MAJOR, FORMAT_MINOR, 0, file_size, PREAMBLE.size,
                         len(header_bytes), table_offset, len(payloads), 0, meta_hash, 0)
    crc = zlib.crc32(head[:-8])
    head = head[:-8] + struct.pack("<I4x", crc)
    out = bytearray(head + header_bytes + entries)
    for off, data in layout:
        out += bytes(off - len(out))
        out += data
    assert len(out) == file_size
    return bytes(out)


def _align(n: int) -> int:
    return -(-n // ALIGNMENT) * ALIGNMENT


# ----------------------------------------------------------------------------- reader


def read_enf(path: str | os.PathLike[str]) -> Enf:
    """Load the ENF at ``path``: map it, check it completely, decode programs and tables."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise EnfError(f"{p}: the file is empty, not an ENF")
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as e:
        raise EnfError(f"{p}: cannot read the file: {e.strerror}") from None
    return parse_enf(mapped, str(p))


def parse_enf(data: bytes | bytearray | memoryview | mmap.mmap, name: str = "<bytes>") -> Enf:
    """Check and decode ENF bytes (a mapping is kept alive by the returned constants array)."""
    view = memoryview(data)  # type: ignore[arg-type]
    size = len(view)

    def fail(message: str) -> EnfError:
        return EnfError(f"{name}: {message}")

    if size < PREAMBLE.size:
        if bytes(view[:min(size, len(MAGIC))]) != MAGIC[:min(size, len(MAGIC))]:
            raise fail("not an ENF file (wrong magic)")
        raise fail(f"truncated: {size} bytes, shorter than the {PREAMBLE.size}-byte preamble")
    (magic, major, minor, flags, file_size, header_offset, header_size, table_offset, count,
     reserved, meta_hash, crc) = PREAMBLE.unpack(view[:PREAMBLE.size])
    if magic != MAGIC:
        raise fail("not an ENF file (wrong magic)")
    if major > FORMAT_MAJOR:
        raise fail(f"ENF format {major}.{minor} is newer than this reader (major {FORMAT_MAJOR}); "
                   f"upgrade furiosa or recompile the model")
    if major != FORMAT_MAJOR:
        raise fail(f"ENF format {major}.{minor} is older than this reader supports (major "
                   f"{FORMAT_MAJOR}); recompile the model")
    if zlib.crc32(view[:PREAMBLE.size - 8]) != crc or any(view[PREAMBLE.size - 4:PREAMBLE.size]):
        raise fail("damaged: the preamble's checksum does not match")
    if file_size != size:
        if file_size > size:
            raise fail(f"truncated: the preamble declares {file_size} bytes, the file has {size}")
        raise fail(f"damaged: the preamble declares {file_size} bytes, the file has {size}")
    if flags or reserved:
        raise fail("damaged: reserved preamble fields are not zero")
    if header_offset != PREAMBLE.size or header_size > MAX_HEADER_BYTES or \
            table_offset != header_offset + header_size or \
            table_offset + count * SECTION_ENTRY.size > size:
        raise fail("damaged: the header or section table lies outside the file")
    meta = view[header_offset:table_offset + count * SECTION_ENTRY.size]
    if hashlib.sha256(meta).digest() != meta_hash:
        raise fail("damaged: the header or section table does not match its checksum")
    header = _parse_header(bytes(view[header_offset:table_offset]), fail)

    sections = []
    end = table_offset + count * SECTION_ENTRY.size
    for i in range(count):
        at = table_offset + i * SECTION_ENTRY.size
        kind, index, zero, offset, length, digest = SECTION_ENTRY.unpack(view[at:at + SECTION_ENTRY.size])
        if zero or offset % ALIGNMENT or offset < end or length > size - offset:
            raise fail(f"damaged: section {i} lies outside the file, overlaps, or is misaligned")
        if any(view[end:offset]):
            raise fail(f"damaged: non-zero padding before section {i}")
        if hashlib.sha256(view[offset:offset + length]).digest() != digest:
            raise fail(f"damaged: section {i} ({SECTION_NAMES.get(kind, kind)}) does not match "
                       f"its checksum")
        sections.append(Section(kind, index, offset, length, digest))
        end = offset + length
    if end != size:
        raise fail("damaged: bytes after the last section")

    def only(kind: int) -> Section:
        found = [s for s in sections if s.kind == kind]
        if len(found) != 1:
            raise fail(f"malformed: expected one {SECTION_NAMES[kind]} section, found {len(found)}")
        return found[0]

    op_names = _parse_op_names(view[only(SECTION_OP_NAMES).offset:][:only(SECTION_OP_NAMES).length], fail)
    host = only(SECTION_HOST_IR)
    try:
        host_ir = bytes(view[host.offset:host.offset + host.length]).decode()
    except UnicodeDecodeError:
        raise fail("malformed: the host program is not UTF-8") from None
    const = only(SECTION_CONSTANTS)
    if const.length > header.dram_bytes:
        raise fail("malformed: the constants are larger than the declared DRAM")
    # Mapped, not copied: the array is a view of the file's pages.
    constants = np.frombuffer(data, dtype=np.uint8, count=const.length, offset=const.offset)  # type: ignore[arg-type]
    programs = []
    prog_sections = sorted((s for s in sections if s.kind == SECTION_PROGRAM), key=lambda s: s.index)
    for i, s in enumerate(prog_sections):
        if s.index != i:
            raise fail("malformed: NPU program sections are not numbered 0, 1, ...")
        try:
            programs.append(decode_program(view[s.offset:s.offset + s.length], op_names,
                                           f"NPU program {i}"))
        except IsaError as e:
            raise fail(f"malformed: {e}") from None
    # Unknown section kinds are allowed only from a newer minor version of this major.
    if minor <= FORMAT_MINOR and any(s.kind not in SECTION_NAMES for s in sections):
        raise fail("malformed: a section of unknown kind")
    return Enf(header, tuple(programs), host_ir, constants, op_names, tuple(sections),
               (major, minor), size)


def _parse_header(raw: bytes, fail: Callable[[str], EnfError]) -> Header:
    try:
        d = json.loads(raw.decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise fail("malformed: the header is not JSON") from None
    try:
        def tensor(t: dict[str, object]) -> TensorDesc:
            desc = TensorDesc(str(t["name"]), str(t["dtype"]), tuple(int(x) for x in t["shape"]),
                              int(t["host_address"]),
                              None if t.get("scale") is None else float(t["scale"]),
                              None if t.get("zero_point") is None else int(t["zero_point"]))
            if desc.dtype.upper() not in DType.__members__ or any(x < 0 for x in desc.shape):
                raise ValueError(desc.name)
            return desc

        h = Header(str(d["compiler_version"]), str(d["target"]), str(d["target_hash"]),
                   int(d["batch_size"]), str(d["pipeline"]), str(d["model_hash"]),
                   tuple(tensor(t) for t in d["inputs"]), tuple(tensor(t) for t in d["outputs"]),
                   int(d["dram_bytes"]), int(d["host_bytes"]))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise fail("malformed: the header lacks a field or has a field of the wrong type") from None
    for t in h.inputs + h.outputs:
        if t.host_address < 0 or t.host_address + t.nbytes > h.host_bytes:
            raise fail(f"malformed: tensor '{t.name}' lies outside the declared host memory")
    if h.batch_size < 1 or h.dram_bytes < 0:
        raise fail("malformed: the header declares an impossible batch size or DRAM size")
    return h


def _parse_op_names(raw: memoryview, fail: Callable[[str], EnfError]) -> tuple[str, ...]:
    if len(raw) < 4:
        raise fail("malformed: the op-name table is truncated")
    (count,) = struct.unpack("<I", raw[:4])
    if count > (len(raw) - 4) // 4:
        raise fail("malformed: the op-name table declares more names than it holds")
    names, pos = [], 4
    for _ in range(count):
        if pos + 4 > len(raw):
            raise fail("malformed: the op-name table is truncated")
        (n,) = struct.unpack("<I", raw[pos:pos + 4])
        if pos + 4 + n > len(raw):
            raise fail("malformed: the op-name table is truncated")
        try:
            names.append(bytes(raw[pos + 4:pos + 4 + n]).decode())
        except UnicodeDecodeError:
            raise fail("malformed: an op name is not UTF-8") from None
        pos += 4 + n
    if pos != len(raw):
        raise fail("malformed: bytes after the op-name table")
    return tuple(names)
