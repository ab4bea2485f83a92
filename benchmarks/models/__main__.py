"""``python -m benchmarks.models --out DIR [--only NAME,...]``: build (or reuse) the zoo."""

from __future__ import annotations

import argparse
import sys
import time

from .zoo import MODELS, default_zoo_dir, ensure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.models",
        description="Build the offline model zoo: NAME.onnx, NAME.int8.onnx, NAME.int8.tflite "
        "and manifest.json. Files already built by the same code are reused.",
    )
    parser.add_argument(
        "--out", default=None, help=f"output directory (default {default_zoo_dir()})"
    )
    parser.add_argument("--only", default=None, help="comma-separated model names (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    parser.add_argument("--list", action="store_true", help="list the models and exit")
    args = parser.parse_args(argv)
    if args.list:
        for spec in MODELS.values():
            print(f"{spec.name:30s} {spec.description}")
        return 0
    names = None
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in MODELS]
        if unknown:
            parser.error(f"unknown model(s): {', '.join(unknown)} (see --list)")
    start = time.perf_counter()
    entries = ensure(names, args.out, seed=args.seed, force=args.force, log=print)
    out = args.out or default_zoo_dir()
    print(
        f"{len(entries)} model(s) in {out} ({time.perf_counter() - start:.1f}s); manifest.json written"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
