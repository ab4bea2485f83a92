"""INT8 execution on the host: the interpreter vs onnxruntime on whole zoo models.

``python -m benchmarks.numerics [--out FILE.json] [--docs docs/benchmarks.md] [--repeat N]
[--models NAME ...]``

For each INT8 QDQ model of the zoo (default: ResNet50-v1.5 and MobileNetV2), the compiler's
analysis pipeline (``fold-qdq`` ... ``partition``, as ``furiosa ops`` runs it) turns it into
quant ops, and the interpreter, the host executor, runs the result on a seeded input in each
arithmetic mode (``set-arithmetic{mode=tflite}``, then ``mode=onnxruntime``, the mode the
pipeline itself chooses for ONNX models).
onnxruntime runs the same model file with ``session.qdqisint8allowed=1`` (its integer kernels).
The figure of merit is interpreter wall / onnxruntime wall (target: at most 5); the outputs are
compared too (largest difference in output quantization steps and the share of differing
outputs). Both sides run on one thread (``intra_op_num_threads=1``; numpy's BLAS through
``OPENBLAS_NUM_THREADS=1``, set by re-running the benchmark when it is not).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from benchmarks import report
from benchmarks.models import default_zoo_dir, ensure, sample_inputs
from furiosa.backend.warboy.report import analysis_pipeline
from furiosa.compiler.registry import default_registry
from furiosa.frontends import load_model
from furiosa.ir.interpreter import interpret
from furiosa.ir.module import Module
from furiosa.passes import PassManager

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS = ("resnet50_v1.5", "mobilenet_v2")
TARGET = "warboy"
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
MODES = ("tflite", "onnxruntime")


def compile_module(path: Path, mode: str) -> Module:
    registry = default_registry().passes
    module = load_model(path)
    PassManager(analysis_pipeline(TARGET, 1), registry=registry).run(module)
    # The pipeline folds ONNX QDQ into onnxruntime arithmetic; set the mode asked for.
    PassManager(f"set-arithmetic{{mode={mode}}}", registry=registry).run(module)
    return module


def _best(fn: object, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times), out


def _agreement(got: dict[str, np.ndarray], want: list[np.ndarray],
               names: list[str]) -> dict[str, float]:
    """Largest difference and share of differing outputs; for float outputs the difference is
    counted in steps of the smallest nonzero gap between distinct reference values."""
    worst, differing, total = 0.0, 0, 0
    for name, ref in zip(names, want, strict=True):
        out = np.asarray(got[name]).astype(np.float64)
        ref64 = np.asarray(ref).astype(np.float64)
        diff = np.abs(out - ref64)
        step = 1.0
        if np.issubdtype(np.asarray(ref).dtype, np.floating):
            gaps = np.diff(np.unique(ref64))
            step = float(gaps[gaps > 0].min()) if np.any(gaps > 0) else 1.0
        worst = max(worst, float(diff.max(initial=0)) / step)
        differing += int(np.count_nonzero(diff))
        total += diff.size
    return {"max_steps": round(worst, 2), "differing_share": round(differing / max(total, 1), 6)}


def measure(name: str, zoo: Path, repeat: int) -> dict[str, object]:
    path = zoo / f"{name}.int8.onnx"
    feeds = sample_inputs(name, 1, seed="numerics")[0]
    session = _session(path, int8_allowed=True)
    names = [o.name for o in session.get_outputs()]
    session.run(None, feeds)  # warm-up
    ort_wall, reference = _best(lambda: session.run(None, feeds), repeat)
    # For scale: onnxruntime's default x86 graph shifts int8 activations to uint8 and runs its
    # u8s8 kernels, faster but with other float formulas (not the reference).
    default = _session(path, int8_allowed=False)
    default.run(None, feeds)
    default_wall, _ = _best(lambda: default.run(None, feeds), repeat)
    res: dict[str, object] = {"onnxruntime_wall_s": round(ort_wall, 4),
                              "onnxruntime_default_graph_wall_s": round(default_wall, 4)}
    for mode in MODES:
        module = compile_module(path, mode)
        wall, got = _best(lambda m=module: interpret(m, feeds), repeat)
        res[mode] = {"interpreter_wall_s": round(wall, 4), "ratio": round(wall / ort_wall, 2),
                     "ratio_to_default_graph": round(wall / default_wall, 2),
                     **_agreement(got, reference, names)}  # type: ignore[arg-type]
    return res


def _session(path: Path, int8_allowed: bool) -> ort.InferenceSession:
    so = ort.SessionOptions()
    if int8_allowed:
        so.add_session_config_entry("session.qdqisint8allowed", "1")
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def run(models: list[str], repeat: int) -> dict[str, object]:
    zoo = default_zoo_dir()
    ensure(models, zoo)
    return {
        "benchmark": "INT8 zoo models, batch 1: interpreter after the analysis pipeline vs "
                     "onnxruntime (session.qdqisint8allowed=1), one thread each",
        "models": {m: measure(m, zoo, repeat) for m in models},
        "repeat": repeat,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}, "
                   f"onnxruntime {ort.__version__}",
    }


def docs_section(res: dict[str, object]) -> str:
    lines = [
        "## INT8 execution on the host",
        "",
        "`python -m benchmarks.numerics --docs docs/benchmarks.md` compiles each INT8 zoo model",
        "through the analysis pipeline and runs it in the interpreter (the host executor), in",
        "both arithmetic modes, against onnxruntime's integer kernels",
        "(`session.qdqisint8allowed=1`) on one thread each (best of the repeats). Target:",
        "interpreter / onnxruntime <= 5. Agreement: the largest output difference in output",
        "quantization steps and the share of outputs that differ from onnxruntime's. For scale,",
        "the last column compares with onnxruntime's default x86 graph (int8 activations",
        "shifted to uint8, its faster u8s8 kernels; other float formulas, not the reference).",
        "",
        "| model | mode | interpreter | onnxruntime | **ratio** | max steps off | outputs differing "
        "| ratio to default graph |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in res["models"].items():  # type: ignore[attr-defined]
        for mode in MODES:
            m = r[mode]
            lines.append(f"| {name} | {mode} | {m['interpreter_wall_s'] * 1e3:.0f} ms | "
                         f"{r['onnxruntime_wall_s'] * 1e3:.1f} ms | **{m['ratio']}x** | "
                         f"{m['max_steps']} | {m['differing_share'] * 100:.2f} % | "
                         f"{m['ratio_to_default_graph']}x "
                         f"({r['onnxruntime_default_graph_wall_s'] * 1e3:.1f} ms) |")
    lines += ["", f"Measured on {res['machine']}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    if argv is None and any(os.environ.get(v) != "1" for v in THREAD_VARIABLES):
        # BLAS reads its thread count when numpy loads: start again with one thread.
        env = dict(os.environ, **dict.fromkeys(THREAD_VARIABLES, "1"))
        os.execve(sys.executable, [sys.executable, "-m", "benchmarks.numerics", *sys.argv[1:]],
                  env)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.numerics", description=__doc__)
    parser.add_argument("--out", default="benchmarks/results/numerics.json", help="JSON result")
    parser.add_argument("--docs", default=None, help="update this markdown file's section")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    args = parser.parse_args(argv)
    res = run(args.models, args.repeat)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    if args.docs:
        report.write_section(Path(args.docs), "numerics", docs_section(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
