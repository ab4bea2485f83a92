"""``furiosa opt``: run a pass pipeline over a module and print the result."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from furiosa.cli.options import add_input_shape_option, input_shapes_from
from furiosa.compiler.registry import default_registry
from furiosa.errors import FuriosaError
from furiosa.frontends import MODEL_SUFFIXES, load_model
from furiosa.io import write_atomic
from furiosa.ir.module import Module
from furiosa.ir.parser import parse_file, parse_module
from furiosa.ir.printer import print_module
from furiosa.ir.verifier import verify_module
from furiosa.passes import PassManager
from furiosa.passes.base import option_name


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("opt", help="run a pass pipeline over a module",
                       description="Run a pass pipeline over a module and print the resulting IR.")
    p.add_argument("input", nargs="?",
                   help="a model (.onnx, .tflite), a text IR file (.fir), or - for standard input")
    add_input_shape_option(p)
    p.add_argument("--pass-pipeline", default="", metavar="PIPELINE",
                   help="passes to run, e.g. 'canonicalize,canonicalize{max-iterations=2}'")
    p.add_argument("-o", "--output", metavar="OUTPUT", help="write the IR here instead of stdout")
    p.add_argument("--print-ir-before-all", action="store_true", help="print the IR before each pass")
    p.add_argument("--print-ir-after-all", action="store_true", help="print the IR after each pass")
    p.add_argument("--print-ir-after-change", action="store_true",
                   help="print the IR after each pass that changed it")
    p.add_argument("--timing", action="store_true", help="report the time each pass took")
    p.add_argument("--pass-statistics", action="store_true", help="report each pass's statistics")
    p.add_argument("--no-verify", action="store_true", help="do not verify the IR after each pass")
    p.add_argument("--list-passes", action="store_true", help="list the passes and their options")
    p.set_defaults(func=run)


def list_passes() -> str:
    passes = default_registry().passes
    lines = ["Available passes:"]
    for name, cls in passes.passes().items():
        lines.append(f"  {name}  -  {cls.SUMMARY or (cls.__doc__ or '').strip().splitlines()[0]}")
        for f in cls.options():
            tname = getattr(f.type, "__name__", str(f.type))
            default = f.default
            shown = ("true" if default else "false") if isinstance(default, bool) else default
            lines.append(f"      {option_name(f.name)}=<{tname}>  (default: {shown})  "
                         f"{f.metadata.get('help', '')}")
    lines.append("Named pipelines:")
    for name, p in passes.pipelines().items():
        lines.append(f"  {name}  -  {p.summary}")
        lines.append(f"      = {p.text}")
    return "\n".join(lines) + "\n"


def load_module(path: str, input_shapes: dict[str, tuple[int, ...]] | None = None) -> Module:
    """Read text IR, or import a model through its frontend."""
    if path == "-":
        return parse_module(sys.stdin.read(), "<stdin>", default_registry().dialects)
    if Path(path).suffix.lower() in MODEL_SUFFIXES:
        return load_model(path, input_shapes=input_shapes)
    return parse_file(path, default_registry().dialects)


def run(args: argparse.Namespace) -> int:
    if args.list_passes:
        sys.stdout.write(list_passes())
        return 0
    if args.input is None:
        raise FuriosaError("furiosa opt needs an INPUT file (or --list-passes)")
    pm = PassManager(args.pass_pipeline, verify=not args.no_verify,
                     print_ir_before_all=args.print_ir_before_all,
                     print_ir_after_all=args.print_ir_after_all,
                     print_ir_after_change=args.print_ir_after_change,
                     registry=default_registry().passes)
    module = load_module(args.input, input_shapes_from(args))
    if not args.no_verify:
        verify_module(module)
    pm.run(module)
    text = print_module(module)
    if args.output:
        write_atomic(args.output, text.encode())
    else:
        sys.stdout.write(text)
    if args.timing:
        sys.stderr.write(pm.timing_report())
    if args.pass_statistics:
        sys.stderr.write(pm.statistics_report())
    return 0
