"""The Warboy instruction set (``docs/isa.md``): instructions, binary encoding, assembly text."""

from furiosa.backend.warboy.isa.assembly import (
    AssemblyError,
    parse_assembly,
    parse_program,
    print_program,
)
from furiosa.backend.warboy.isa.encoding import decode_program, encode_program
from furiosa.backend.warboy.isa.instructions import (
    BY_NAME,
    OPCODES,
    DType,
    Engine,
    Instruction,
    IsaError,
    MemRef,
    Program,
    Space,
    make,
)

__all__ = [
    "BY_NAME", "OPCODES", "AssemblyError", "DType", "Engine", "Instruction", "IsaError", "MemRef",
    "Program", "Space", "decode_program", "encode_program", "make", "parse_assembly",
    "parse_program", "print_program",
]
