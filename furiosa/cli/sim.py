"""``furiosa sim``: run an ENF on the Warboy simulator; outputs, report and trace."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from furiosa.backend.warboy.enf.format import read_enf
from furiosa.backend.warboy.simulator import random_inputs, simulate
from furiosa.cli.options import add_input_files_option, load_input_files
from furiosa.io import write_atomic


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="run an ENF on the simulator",
                       description="Run an ENF on the cycle-approximate Warboy simulator: the "
                                   "outputs, the cycles, and where they went.")
    p.add_argument("file", help="an .enf file")
    add_input_files_option(p, "the value of an input (repeat for several)")
    p.add_argument("--random", action="store_true",
                   help="give every input not set by --input seeded random values")
    p.add_argument("--seed", type=int, default=0, help="seed for --random (default 0)")
    p.add_argument("--report", action="store_true", help="print the cycle report")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="format of the report and the output summary")
    p.add_argument("--trace", metavar="FILE", help="write a Chrome-trace JSON (Perfetto) here")
    p.add_argument("--output-dir", metavar="DIR", help="save every output as DIR/NAME.npy")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    enf = read_enf(args.file)
    inputs = load_input_files(args.input)
    if args.random:
        for name, value in random_inputs(enf, args.seed).items():
            inputs.setdefault(name, value)
    result = simulate(enf, inputs)
    if args.output_dir:
        out_dir = Path(args.output_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, value in result.outputs.items():
            path = out_dir / f"{name}.npy"
            with open(path, "wb") as f:
                np.save(f, value, allow_pickle=False)
    if args.trace:
        write_atomic(args.trace, result.chrome_trace().encode())
    r = result.report
    if args.format == "json":
        d: dict[str, object] = {"outputs": {n: {"dtype": str(v.dtype), "shape": list(v.shape),
                                                "sha256": _digest(v)}
                                            for n, v in result.outputs.items()}}
        d["cycles"] = r.total_cycles
        if args.report:
            d["report"] = r.as_json()
        json.dump(d, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for n, v in result.outputs.items():
        sys.stdout.write(f"output {n}: {v.dtype} {'x'.join(map(str, v.shape))}  "
                         f"sha256 {_digest(v)[:16]}…\n")
    sys.stdout.write(f"{r.total_cycles} cycles, {r.latency_s * 1e3:.4f} ms at "
                     f"{r.clock_hz / 1e9:g} GHz\n")
    if args.report:
        sys.stdout.write("\n" + r.as_text())
    return 0


def _digest(v: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
