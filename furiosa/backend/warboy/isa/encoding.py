"""The binary form of a program: fixed little-endian layouts, no pickle (``docs/isa.md``).

Program::

    magic "WBPG" | u16 encoding version | u16 0 | u32 instruction count | u32 op count
    | u32 name length | name (UTF-8) zero-padded to 8 bytes | instructions

Instruction::

    u16 opcode | u16 number of waits | u32 user op
    | operands: 40 bytes each, in the opcode's schema order
    | attributes: one 64-bit word per value, in schema order
    | waits: u32 each, zero-padded to 8 bytes

Memory reference (40 bytes)::

    u8 space | u8 dtype | u8 rank | u8 0 | u16 first slice | u16 slice count | u64 address
    | 6 x u32 dimensions (0 beyond the rank)

An ``int`` attribute is an i64, an ``enum`` its index as i64, an ``ints`` attribute one i64 per
value, an ``f32`` its four IEEE bytes followed by four zero bytes. Decoding accepts only the
canonical form, so ``encode(decode(b)) == b`` for every ``b`` it accepts.
"""

from __future__ import annotations

import struct

import numpy as np

from furiosa.backend.warboy.isa.instructions import (
    BY_CODE,
    BY_NAME,
    MAX_RANK,
    DType,
    Instruction,
    IsaError,
    MemRef,
    Program,
    Space,
)

PROGRAM_MAGIC = b"WBPG"
ENCODING_VERSION = 1
MEMREF_BYTES = 40
_PROGRAM = struct.Struct("<4sHHIII")
_INSTRUCTION = struct.Struct("<HHI")
_MEMREF = struct.Struct("<BBBBHHQ6I")
_WORD = struct.Struct("<q")
_F32 = struct.Struct("<f4x")


def _pad8(n: int) -> int:
    return -n % 8


def encode_memref(m: MemRef) -> bytes:
    if m.space == Space.NONE:
        return bytes(MEMREF_BYTES)
    dims = list(m.shape) + [0] * (MAX_RANK - len(m.shape))
    return _MEMREF.pack(int(m.space), int(m.dtype), len(m.shape), 0, m.slice_first,
                        m.slice_count, m.address, *dims)


def encode_instruction(inst: Instruction) -> bytes:
    spec = BY_NAME[inst.opcode]
    out = bytearray(_INSTRUCTION.pack(spec.code, len(inst.deps), inst.op))
    for m in inst.operands:
        out += encode_memref(m)
    for a, v in zip(spec.attributes, inst.attributes, strict=True):
        if a.kind == "int":
            out += _WORD.pack(v)
        elif a.kind == "enum":
            out += _WORD.pack(a.choices.index(v))  # type: ignore[arg-type]
        elif a.kind == "ints":
            for x in v:  # type: ignore[union-attr]
                out += _WORD.pack(x)
        else:
            out += _F32.pack(v)
    deps = struct.pack(f"<{len(inst.deps)}I", *inst.deps)
    out += deps + bytes(_pad8(len(deps)))
    return bytes(out)


def encode_program(program: Program) -> bytes:
    """The canonical bytes of ``program`` (its op names are stored by the ENF, not here)."""
    program.check()
    name = program.name.encode()
    out = bytearray(_PROGRAM.pack(PROGRAM_MAGIC, ENCODING_VERSION, 0, len(program.instructions),
                                  len(program.op_names), len(name)))
    out += name + bytes(_pad8(len(name)))
    for inst in program.instructions:
        out += encode_instruction(inst)
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes | memoryview, what: str) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.what = what

    def take(self, n: int, item: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise IsaError(f"{self.what} ends inside {item} (byte {self.pos})")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, s: struct.Struct, item: str) -> tuple:
        return s.unpack(self.take(s.size, item))

    def zeros(self, n: int, item: str) -> None:
        if any(self.take(n, item)):
            raise IsaError(f"{self.what}: non-zero padding in {item}")


def _decode_memref(r: _Reader, item: str) -> MemRef:
    space, dtype, rank, zero, first, count, address, *dims = r.unpack(_MEMREF, item)
    if space == 0:
        if any((dtype, rank, zero, first, count, address, *dims)):
            raise IsaError(f"{r.what}: {item} is absent but not all zero")
        return MemRef(Space.NONE)
    if space not in Space._value2member_map_ or dtype not in DType._value2member_map_:
        raise IsaError(f"{r.what}: {item} has an unknown space {space} or element type {dtype}")
    if rank > MAX_RANK or zero or any(dims[rank:]):
        raise IsaError(f"{r.what}: {item} has a malformed shape")
    m = MemRef(Space(space), DType(dtype), tuple(dims[:rank]), address, first, count)
    m.check(f"{r.what}: {item}")
    return m


def _decode_instruction(r: _Reader, index: int) -> Instruction:
    item = f"instruction {index}"
    code, n_deps, op = r.unpack(_INSTRUCTION, item)
    spec = BY_CODE.get(code)
    if spec is None:
        raise IsaError(f"{r.what}: {item} has the unknown opcode {code}")
    operands = tuple(_decode_memref(r, f"{item} operand '{o.name}'") for o in spec.operands)
    attributes: list = []
    for a in spec.attributes:
        if a.kind == "f32":
            raw = r.take(8, item)
            if any(raw[4:]):
                raise IsaError(f"{r.what}: {item} attribute '{a.name}' has non-zero padding")
            attributes.append(float(np.frombuffer(raw[:4], "<f4")[0]))
        elif a.kind == "ints":
            attributes.append(tuple(r.unpack(_WORD, item)[0] for _ in range(a.count)))
        else:
            (v,) = r.unpack(_WORD, item)
            if a.kind == "enum":
                if not 0 <= v < len(a.choices):
                    raise IsaError(f"{r.what}: {item} attribute '{a.name}' has no choice {v}")
                v = a.choices[v]
            attributes.append(v)
    deps = struct.unpack(f"<{n_deps}I", r.take(4 * n_deps, item))
    r.zeros(_pad8(4 * n_deps), item)
    return Instruction(spec.name, operands, tuple(attributes), op, deps)


def decode_program(data: bytes | memoryview, op_names: tuple[str, ...],
                   what: str = "program") -> Program:
    """The program encoded in ``data``; every count and length is checked against ``data``."""
    r = _Reader(data, what)
    magic, version, zero, count, op_count, name_len = r.unpack(_PROGRAM, "the program header")
    if magic != PROGRAM_MAGIC:
        raise IsaError(f"{what} does not start with the program magic {PROGRAM_MAGIC!r}")
    if version != ENCODING_VERSION or zero:
        raise IsaError(f"{what} has instruction encoding {version}; this reader knows "
                       f"{ENCODING_VERSION}")
    if op_count != len(op_names):
        raise IsaError(f"{what} names {op_count} ops but the op-name table has {len(op_names)}")
    try:
        name = bytes(r.take(name_len, "the program name")).decode()
    except UnicodeDecodeError:
        raise IsaError(f"{what} has a name that is not UTF-8") from None
    r.zeros(_pad8(name_len), "the program name")
    # Each instruction takes at least 8 bytes: a count larger than that allows is a lie.
    if count > (len(r.data) - r.pos) // 8:
        raise IsaError(f"{what} declares {count} instructions, more than its bytes can hold")
    instructions = tuple(_decode_instruction(r, i) for i in range(count))
    if r.pos != len(r.data):
        raise IsaError(f"{what} has {len(r.data) - r.pos} bytes after its last instruction")
    program = Program(name, tuple(op_names), instructions)
    program.check()
    return program
