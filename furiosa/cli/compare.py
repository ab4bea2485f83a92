"""``furiosa compare``: the compiler's numbers against a reference runtime, tensor by tensor."""

from __future__ import annotations

import argparse
import json
import sys

from furiosa.backend.warboy.target import TARGETS
from furiosa.cli.options import add_input_files_option, load_input_files
from furiosa.compiler.compare import LITERT_KERNELS, REFERENCES, compare_model
from furiosa.errors import FuriosaError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="compare the compiler's numbers with a reference runtime, tensor by tensor",
        description="Run the model through the compiler (up to partitioning, interpreted: what "
                    "the NPU computes) and through onnxruntime or LiteRT on the same inputs; "
                    "report the first tensors that differ, in program order, and a summary.")
    p.add_argument("model", help="an .onnx or .tflite model")
    p.add_argument("--reference", choices=REFERENCES, default=None,
                   help="the reference runtime (default: onnxruntime for .onnx, litert for .tflite)")
    p.add_argument("--litert-kernels", choices=LITERT_KERNELS, default="reference",
                   help="LiteRT's kernels: its reference kernels (default) or its optimized ones")
    add_input_files_option(
        p, "the array for one model input (repeat for several); the others are random")
    p.add_argument("--seed", type=int, default=0, help="the seed of the random inputs (default: 0)")
    p.add_argument("--target-npu", default="warboy", choices=sorted(TARGETS),
                   help="the NPU (default: warboy)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    p.add_argument("--top", type=int, default=10, metavar="K",
                   help="how many differing tensors to list (default: 10; 0 lists them all)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.top < 0:
        raise FuriosaError(f"--top must be 0 or more, not {args.top}")
    report = compare_model(args.model, reference=args.reference, target=args.target_npu,
                           inputs=load_input_files(args.input), seed=args.seed,
                           litert_kernels=args.litert_kernels)
    if args.format == "json":
        json.dump(report.as_json(args.top), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(report.as_text(args.top))
    return 0
