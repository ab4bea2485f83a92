"""The text form of programs (assembly), which prints and parses back to the same bytes.

::

    .op "conv1"                       # the user-op names, in index order
    .program "main"
    i0 = dma.load dst=sram[0:64]@0x0:i8<16x8x32> src=dram@0x0:i8<64x16x8x32> broadcast=0 op=0
    i1 = mac.conv dst=... src=... weights=... bias=none stride=1,1 ... op=0 after=i0

The printer writes every operand and attribute in schema order, addresses in hexadecimal and
float32 attributes in their shortest round-tripping decimal form, so
``print(parse(print(p))) == print(p)`` and the binary encodings agree. The parser also accepts
omitted attributes (their defaults), any operand and attribute order, and ``#`` comments.
Lines starting with another directive are handed back to the caller (the ENF assembler).
"""

from __future__ import annotations

import json
import re

import attrs
import numpy as np

from furiosa.backend.warboy.isa.instructions import (
    BY_NAME,
    AttrValue,
    DType,
    Instruction,
    IsaError,
    MemRef,
    Program,
    Space,
    check_instruction,
    make,
)


class AssemblyError(IsaError):
    """Assembly text that does not parse; the message starts with ``file:line:``."""


def format_memref(m: MemRef) -> str:
    if m.space == Space.NONE:
        return "none"
    shape = "x".join(str(d) for d in m.shape)
    where = (f"sram[{m.slice_first}:{m.slice_first + m.slice_count}]" if m.space == Space.SRAM
             else m.space.name.lower())
    return f"{where}@{m.address:#x}:{m.dtype.text}<{shape}>"


def format_attr(value: AttrValue, kind: str) -> str:
    if kind == "ints":
        return ",".join(str(v) for v in value)  # type: ignore[union-attr]
    if kind == "f32":
        return str(np.float32(value))
    return str(value)


def format_instruction(inst: Instruction, index: int) -> str:
    spec = inst.spec
    parts = [f"i{index} = {inst.opcode}"]
    parts += [f"{o.name}={format_memref(m)}" for o, m in zip(spec.operands, inst.operands, strict=True)]
    parts += [f"{a.name}={format_attr(v, a.kind)}"
              for a, v in zip(spec.attributes, inst.attributes, strict=True)]
    parts.append(f"op={inst.op}")
    if inst.deps:
        parts.append("after=" + ",".join(f"i{d}" for d in inst.deps))
    return " ".join(parts)


def print_ops(op_names: tuple[str, ...]) -> str:
    return "".join(f".op {json.dumps(n)}\n" for n in op_names)


def print_program(program: Program, with_ops: bool = True) -> str:
    """The canonical text of ``program`` (with its ``.op`` table unless ``with_ops`` is off)."""
    lines = [print_ops(program.op_names)] if with_ops else []
    lines.append(f".program {json.dumps(program.name)}\n")
    lines += [format_instruction(inst, i) + "\n" for i, inst in enumerate(program.instructions)]
    return "".join(lines)


_MEMREF = re.compile(r"^(?:(?P<space>host|dram)|sram\[(?P<first>\d+):(?P<end>\d+)\])"
                     r"@(?P<addr>0x[0-9a-fA-F]+|\d+):(?P<dtype>i8|u8|i32|f32)<(?P<shape>[0-9x]*)>$")
_INT = re.compile(r"^[+-]?(0x[0-9a-fA-F]+|\d+)$")


@attrs.define
class Directive:
    """A line the instruction parser does not own: ``.name`` and its raw argument text."""

    line: int
    name: str
    text: str


def parse_memref(text: str) -> MemRef:
    if text == "none":
        return MemRef(Space.NONE)
    m = _MEMREF.match(text)
    if m is None:
        raise ValueError(f"'{text}' is not a memory reference like sram[0:64]@0x0:i8<16x8x32>")
    shape = tuple(int(d) for d in m["shape"].split("x")) if m["shape"] else ()
    dtype = DType[m["dtype"].upper()]
    addr = int(m["addr"], 0)
    if m["space"]:
        return MemRef(Space[m["space"].upper()], dtype, shape, addr)
    first, end = int(m["first"]), int(m["end"])
    return MemRef(Space.SRAM, dtype, shape, addr, first, end - first)


def parse_int(text: str) -> int:
    if not _INT.match(text):
        raise ValueError(f"'{text}' is not an integer")
    return int(text, 0)


def _parse_attr(text: str, kind: str) -> AttrValue:
    if kind == "int":
        return parse_int(text)
    if kind == "ints":
        return tuple(parse_int(t) for t in text.split(","))
    if kind == "f32":
        try:
            return float(np.float32(float(text)))
        except ValueError:
            raise ValueError(f"'{text}' is not a number") from None
    return text


def parse_instruction(text: str, index: int) -> Instruction:
    tokens = text.split()
    if len(tokens) < 3 or tokens[1] != "=":
        raise ValueError("expected 'iN = opcode name=value ...'")
    if tokens[0] != f"i{index}":
        raise ValueError(f"instruction {index} is labelled '{tokens[0]}', expected 'i{index}'")
    spec = BY_NAME.get(tokens[2])
    if spec is None:
        raise ValueError(f"unknown opcode '{tokens[2]}' (known: {', '.join(BY_NAME)})")
    kinds = {a.name: a.kind for a in spec.attributes}
    operands = {o.name for o in spec.operands}
    values: dict[str, object] = {}
    op, deps = 0, ()
    for tok in tokens[3:]:
        key, eq, value = tok.partition("=")
        if not eq or not value:
            raise ValueError(f"expected name=value, not '{tok}'")
        if key in values or (key == "op" and "op" in tokens[3:]):
            raise ValueError(f"'{key}' is given twice")
        if key == "op":
            op = parse_int(value)
        elif key == "after":
            labels = value.split(",")
            if not all(re.fullmatch(r"i\d+", lab) for lab in labels):
                raise ValueError(f"'after' lists instructions as i0,i1,..., not '{value}'")
            deps = tuple(int(lab[1:]) for lab in labels)
        elif key in operands:
            m = parse_memref(value)
            values[key] = None if m.space == Space.NONE else m
        elif key in kinds:
            values[key] = _parse_attr(value, kinds[key])
        else:
            raise ValueError(f"{spec.name} has no operand or attribute '{key}'")
    return make(spec.name, op=op, deps=deps, **values)


def parse_assembly(text: str, filename: str = "<text>") -> tuple[list[Program], list[Directive]]:
    """The programs of an assembly text, and the directives other than ``.op``/``.program``."""
    ops: list[str] = []
    blocks: list[tuple[str, list[Instruction]]] = []
    directives: list[Directive] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        try:
            if line.startswith("."):
                name, _, rest = line.partition(" ")
                rest = rest.strip()
                if name == ".op":
                    ops.append(_json_string(rest))
                elif name == ".program":
                    blocks.append((_json_string(rest), []))
                else:
                    directives.append(Directive(lineno, name, rest))
                continue
            if not blocks:
                raise ValueError("an instruction comes before any .program directive")
            insts = blocks[-1][1]
            inst = parse_instruction(line, len(insts))
            check_instruction(inst, len(insts))
            insts.append(inst)
        except (ValueError, IsaError) as e:
            raise AssemblyError(f"{filename}:{lineno}: {e}") from None
    programs = [Program(name, tuple(ops), tuple(insts)) for name, insts in blocks]
    for p in programs:
        try:
            p.check()
        except IsaError as e:
            raise AssemblyError(f"{filename}: program '{p.name}': {e}") from None
    return programs, directives


def parse_program(text: str, filename: str = "<text>") -> Program:
    """The one program of ``text`` (which has no other directives)."""
    programs, directives = parse_assembly(text, filename)
    if directives:
        d = directives[0]
        raise AssemblyError(f"{filename}:{d.line}: unknown directive '{d.name}'")
    if len(programs) != 1:
        raise AssemblyError(f"{filename}: expected one .program, found {len(programs)}")
    return programs[0]


def _strip_comment(line: str) -> str:
    # A '#' inside a quoted string is not a comment.
    in_string = escaped = False
    for i, ch in enumerate(line):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "#":
            return line[:i]
    return line


def _json_string(text: str) -> str:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, str):
        raise ValueError(f"expected a quoted string, not {text!r}")
    return value
