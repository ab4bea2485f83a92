"""``furiosa enf``: look inside an ENF (``inspect``), or build one from assembly (``assemble``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from furiosa.backend.warboy.enf.assemble import assemble
from furiosa.backend.warboy.enf.format import Enf, read_enf
from furiosa.backend.warboy.isa.assembly import print_ops, print_program
from furiosa.backend.warboy.isa.instructions import Engine
from furiosa.errors import FuriosaError
from furiosa.io import write_atomic


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("enf", help="inspect or assemble ENF files",
                       description="Inspect an ENF file, or assemble a hand-written NPU program "
                                   "into one.")
    enf_sub = p.add_subparsers(dest="enf_command", metavar="ACTION", required=True)
    i = enf_sub.add_parser("inspect", help="show an ENF's header, sections and programs")
    i.add_argument("file", help="an .enf file")
    i.add_argument("--disasm", action="store_true", help="also print every program as assembly")
    i.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    i.set_defaults(func=run_inspect)
    a = enf_sub.add_parser("assemble", help="assemble a program (.s) into an ENF")
    a.add_argument("program", help="assembly with its tensors and constants (docs/enf.md)")
    a.add_argument("-o", "--output", required=True, metavar="OUT", help="the .enf to write")
    a.set_defaults(func=run_assemble)


def describe(enf: Enf, disasm: bool) -> dict[str, object]:
    programs = []
    for p, s in zip(enf.programs, [s for s in enf.sections if s.name == "npu-program"], strict=True):
        engines = {e.text: sum(1 for i in p.instructions if i.engine == e) for e in Engine}
        entry: dict[str, object] = {"name": p.name, "instructions": len(p.instructions),
                                    "bytes": s.length, "instructions_per_engine": engines}
        if disasm:
            entry["assembly"] = print_program(p, with_ops=False)
        programs.append(entry)
    return {
        "format_version": f"{enf.version[0]}.{enf.version[1]}", "file_bytes": enf.file_size,
        "header": enf.header.as_json(),
        "sections": [{"kind": s.name, "index": s.index, "offset": s.offset, "bytes": s.length,
                      "sha256": s.sha256.hex()} for s in enf.sections],
        "programs": programs, "ops": list(enf.op_names),
        "constants_bytes": int(enf.constants.size), "host_ir_bytes": len(enf.host_ir.encode()),
    }


def _text(d: dict, enf: Enf, disasm: bool) -> str:
    h = enf.header
    lines = [f"ENF {d['format_version']}, {d['file_bytes']} bytes",
             f"compiler {h.compiler_version}, target {h.target} ({h.target_hash[:16]}…), "
             f"batch {h.batch_size}, pipeline {h.pipeline!r}",
             f"model sha256 {h.model_hash}",
             f"DRAM {h.dram_bytes} bytes ({d['constants_bytes']} of constants), host buffer "
             f"{h.host_bytes} bytes"]
    for kind, tensors in (("input", h.inputs), ("output", h.outputs)):
        for t in tensors:
            q = f" scale={np.float32(t.scale)} zp={t.zero_point}" if t.scale is not None else ""
            lines.append(f"{kind} {t.name}: {t.dtype} {'x'.join(map(str, t.shape))} at host "
                         f"{t.host_address:#x}{q}")
    lines.append("sections:")
    for s in d["sections"]:
        lines.append(f"  {s['kind']:<12} #{s['index']}  offset {s['offset']:#010x}  "
                     f"{s['bytes']:>10} bytes  sha256 {s['sha256'][:16]}…")
    for p in d["programs"]:
        per = ", ".join(f"{k} {v}" for k, v in p["instructions_per_engine"].items() if v)
        lines.append(f"program {p['name']!r}: {p['instructions']} instructions, {p['bytes']} "
                     f"bytes ({per})")
    lines.append(f"ops: {len(enf.op_names)}")
    text = "\n".join(lines) + "\n"
    if disasm:
        text += "\n" + print_ops(enf.op_names)
        text += "".join(print_program(p, with_ops=False) for p in enf.programs)
    return text


def run_inspect(args: argparse.Namespace) -> int:
    enf = read_enf(args.file)
    d = describe(enf, args.disasm)
    if args.format == "json":
        json.dump(d, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(_text(d, enf, args.disasm))
    return 0


def run_assemble(args: argparse.Namespace) -> int:
    path = Path(args.program)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise FuriosaError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    write_atomic(args.output, assemble(text, str(path), path.parent))
    return 0
