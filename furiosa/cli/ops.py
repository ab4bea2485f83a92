"""``furiosa ops``: what the NPU supports, and where each op of a model runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from furiosa.backend.warboy.report import place
from furiosa.backend.warboy.supported import RULES
from furiosa.backend.warboy.target import TARGETS, get_target
from furiosa.cli.options import add_input_shape_option, input_shapes_from
from furiosa.compiler.registry import default_registry
from furiosa.errors import FuriosaError
from furiosa.frontends import load_model


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ops", help="list the operators the NPU supports, or where each op of a model runs",
        description="Without a model: the supported-operator table. With a model: every op "
                    "under its own name, NPU or host, why, and what to change; then a summary.")
    p.add_argument("model", nargs="?", help="an .onnx or .tflite model")
    p.add_argument("--target-npu", default="warboy", choices=sorted(TARGETS),
                   help="the NPU (default: warboy)")
    p.add_argument("--batch-size", "--batch", dest="batch_size", type=int, default=1,
                   metavar="N", help="the compile-time batch size (default: 1)")
    p.add_argument("--host-small-regions", action="store_true",
                   help="return NPU regions too small to pay for their transfers to the host "
                        "(default: every op the NPU supports runs on it)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    add_input_shape_option(p)
    p.set_defaults(func=run)


def table_text(target_name: str = "warboy") -> str:
    target = get_target(target_name)
    width = max(len(r.operator) for r in RULES)
    pes = f"{target.pes} PE" + ("s fused" if target.pes > 1 else "")
    lines = [f"Operators the NPU accelerates on {target.name} ({pes}, {target.slices} slices):", "",
             f"{'operator'.ljust(width)}  condition"]
    lines += [f"{r.operator.ljust(width)}  {r.condition(target)}" for r in RULES]
    lines.append("")
    lines.append("Anything else runs on the host. The NPU computes INT8 only: float ops run on the host.")
    return "\n".join(lines) + "\n"


def table_json(target_name: str = "warboy") -> list[dict[str, str]]:
    target = get_target(target_name)
    return [{"operator": r.operator, "condition": r.condition(target),
             "fixes": [c.fix.format(t=target) for c in r.constraints]} for r in RULES]


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise FuriosaError(f"--batch-size must be at least 1, not {args.batch_size}")
    if args.model is None:
        if args.format == "json":
            json.dump(table_json(args.target_npu), sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            sys.stdout.write(table_text(args.target_npu))
        return 0
    module = load_model(args.model, input_shapes=input_shapes_from(args))
    report = place(module, args.target_npu, args.batch_size, Path(args.model).name,
                   registry=default_registry().passes, host_small_regions=args.host_small_regions)
    if args.format == "json":
        json.dump(report.as_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(report.as_text())
    return 0
