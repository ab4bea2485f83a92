"""``python -m benchmarks.ir``: how fast the IR core imports, analyses, prints, parses and verifies.

For each model (default: the INT8 ``resnet50_v1.5`` and ``bert_base`` of the zoo) five stages
are measured, each for wall time and peak memory:

1. ``import``  — the ONNX frontend turns the file into a module;
2. ``analyse`` — the pipeline ``furiosa ops`` runs, up to ``partition``;
3. ``print``   — the analysed module to text;
4. ``parse``   — that text back to a module;
5. ``verify``  — the analysed module through the verifier.

Each stage goes through one small function below (``_import``, ``_analyse``, ``_print``,
``_parse``, ``_verify``): they are the only places that name the IR's entry points.

Every model runs in two fresh subprocesses: one for time (best of ``--repeat`` runs; a stage
whose first run takes longer than ``--slow`` seconds and that nothing after it needs is run
once), one for memory (``tracemalloc``, one run). Results go to a JSON file under a label
(``--label before|after``) and to the "IR core" section of docs/benchmarks.md; see that section
for the method.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.models import default_zoo_dir, ensure
from furiosa.backend.warboy.report import analysis_pipeline
from furiosa.compiler.registry import default_registry
from furiosa.frontends import load_model
from furiosa.ir.module import Module
from furiosa.ir.parser import parse_module
from furiosa.ir.printer import print_module
from furiosa.ir.verifier import verify_module
from furiosa.passes import PassManager

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS = ("resnet50_v1.5", "bert_base")
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "ir.json"
DEFAULT_DOCS = ROOT / "docs" / "benchmarks.md"
STAGES = ("import", "analyse", "print", "parse", "verify")
# Stages whose result a later stage uses: they run in every repetition whatever they cost.
NEEDED = frozenset({"import", "analyse", "print"})
TARGET = "warboy"
BATCH = 1
BEGIN = "<!-- ir:begin -->"
END = "<!-- ir:end -->"
MIB = 1024 * 1024
REGISTRY = default_registry()


# ---- the stages: the only functions that call the IR core's entry points


def _import(path: Path) -> Module:
    return load_model(path)


def _analyse(module: Module) -> Module:
    """The ``furiosa ops`` pipeline (up to partition), in place."""
    PassManager(analysis_pipeline(TARGET, BATCH), registry=REGISTRY.passes).run(module)
    return module


def _print(module: Module) -> str:
    return print_module(module)


def _parse(text: str) -> Module:
    return parse_module(text, registry=REGISTRY.dialects)


def _verify(module: Module) -> None:
    verify_module(module)


def _op_count(module: Module) -> int:
    return sum(len(f) for f in module.functions)


# ---- measuring one model (inside a fresh subprocess)


def _run_stages(path: Path, stage: Callable[[str, Callable[[], Any]], Any],
                skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """One pass of the five stages; ``stage(name, thunk)`` runs and measures each."""
    module = stage("import", lambda: _import(path))
    ops_imported = _op_count(module)
    stage("analyse", lambda: _analyse(module))
    text = stage("print", lambda: _print(module))
    facts: dict[str, Any] = {"ops_imported": ops_imported, "ops": _op_count(module),
                             "text_mb": len(text.encode()) / 1e6}
    if "parse" not in skip:
        try:
            parsed = stage("parse", lambda: _parse(text))
        except MemoryError:
            # Recorded by ``stage``; verify works on the analysed module, so it still runs.
            parsed = None
        if parsed is not None and _op_count(parsed) != facts["ops"]:
            raise RuntimeError(f"{path.name}: parsing the printed module gave "
                               f"{_op_count(parsed)} ops, not {facts['ops']}")
        parsed = None  # freed before verify, so its objects do not weigh on the collector
    text = ""
    if "verify" not in skip:
        stage("verify", lambda: _verify(module))
    return facts


def _warm_up(tmp: Path) -> None:
    """One untimed pass on a tiny model, so that no stage pays for lazily imported modules."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((2, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["y"])], "warm_up",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])], [w])
    path = tmp / "warm_up.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    _run_stages(path, lambda _name, thunk: thunk())


def _limit_memory(gib: float) -> None:
    """Cap this process's address space: a stage that needs more fails with MemoryError here
    instead of making the kernel kill processes on a shared machine."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = int(gib * 1024 * MIB)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard < 0 else min(limit, hard), hard))


def _maxrss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_time(path: Path, repeat: int, slow: float) -> dict[str, Any]:
    """Best-of-``repeat`` wall seconds per stage, and the process's RSS high-water mark."""
    runs: dict[str, list[float]] = {s: [] for s in STAGES}
    maxrss: dict[str, float] = {}
    failed: set[str] = set()
    facts: dict[str, Any] = {}

    def stage(name: str, thunk: Callable[[], Any]) -> Any:
        gc.collect()
        start = time.perf_counter()
        try:
            out = thunk()
        except MemoryError:
            failed.add(name)
            raise
        runs[name].append(time.perf_counter() - start)
        # The high-water mark only grows, so only the first pass says something per stage.
        maxrss.setdefault(name, _maxrss_mib())
        return out

    for i in range(repeat):
        skip = frozenset(s for s in STAGES if i > 0 and s not in NEEDED
                         and (s in failed or (runs[s] and runs[s][0] > slow)))
        facts = _run_stages(path, stage, skip)
    return {"facts": facts,
            "stages": {s: {"seconds": None if s in failed else min(runs[s]),
                           "runs": runs[s], "maxrss_mib": maxrss.get(s)}
                       for s in STAGES}}


def measure_memory(path: Path) -> dict[str, Any]:
    """Per stage, tracemalloc's peak above the stage's starting level, and what it retains."""
    result: dict[str, dict[str, float | None]] = {}

    def stage(name: str, thunk: Callable[[], Any]) -> Any:
        gc.collect()
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        try:
            out = thunk()
        except MemoryError:
            result[name] = {"peak_mib": None, "retained_mib": None}
            raise
        current, peak = tracemalloc.get_traced_memory()
        result[name] = {"peak_mib": (peak - before) / MIB, "retained_mib": (current - before) / MIB}
        return out

    tracemalloc.start()
    try:
        _run_stages(path, stage)
    finally:
        tracemalloc.stop()
    return {"stages": result}


def _worker(args: argparse.Namespace) -> int:
    path = Path(args.worker_path)
    _limit_memory(args.memory_limit)
    with tempfile.TemporaryDirectory() as tmp:
        _warm_up(Path(tmp))
    out = measure_memory(path) if args.worker == "memory" else measure_time(path, args.repeat,
                                                                           args.slow)
    json.dump(out, sys.stdout)
    return 0


def _subprocess(kind: str, path: Path, repeat: int, slow: float,
                memory_limit: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.ir", "--worker", kind, "--worker-path", str(path),
           "--repeat", str(repeat), "--slow", str(slow), "--memory-limit", str(memory_limit)]
    env = dict(os.environ)
    # The worker must import this checkout's furiosa and benchmarks, as the parent did.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the {kind} benchmark of {path.name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def measure_model(path: Path, repeat: int = 3, slow: float = 10.0,
                  memory_limit: float = 8.0) -> dict[str, Any]:
    """Both measurements of one model file, each in its own fresh interpreter."""
    timed = _subprocess("time", path, repeat, slow, memory_limit)
    memory = _subprocess("memory", path, repeat, slow, memory_limit)
    stages = {s: {**timed["stages"][s], **memory["stages"][s]} for s in STAGES}
    return {"file": path.name, "file_mb": path.stat().st_size / 1e6, **timed["facts"],
            "stages": stages}


# ---- where and with what


def _git(*args: str) -> str:
    proc = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("furiosa", "numpy", "onnx", "networkx", "attrs"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def environment() -> dict[str, Any]:
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        # Only changes to the compiler itself make the commit an inexact description.
        "furiosa_dirty": bool(_git("status", "--porcelain", "--", "furiosa")),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "system": platform.system(),
                    "arch": platform.machine()},
        # How busy the shared machine was when the run began: context for the noise.
        "load_average_1m": round(os.getloadavg()[0], 2),
        "versions": _versions(),
    }


# ---- the report


def _fmt(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.1f}" if x < 1000 else f"{x:.0f}"


def _cell(x: float | None, memory_limit: float) -> str:
    """A figure, or the stage's failure to fit in the memory cap."""
    return f"out of memory (> {memory_limit:g} GiB)" if x is None else _fmt(x)


def _ratio(after: float | None, before: float | None) -> str:
    return f"{after / before:.2f}x" if after is not None and before and before > 0 else "—"


def _describe(label: str, run: dict[str, Any]) -> str:
    m = run["machine"]
    commit = run["git_commit"][:12] + (" (compiler modified)" if run["furiosa_dirty"] else "")
    return (f"`{label}`: commit `{commit}`, {run['date']}, {m['cpu']}, {m['cores']} cores, "
            f"load {run['load_average_1m']} at start, Python {run['versions']['python']}, "
            f"best of {run['repeat']}")


def markdown(results: dict[str, Any]) -> str:
    """The "IR core" section: method, then one table per model."""
    runs = results.get("runs", {})
    labels = [label for label in ("before", "after") if label in runs]
    labels += sorted(label for label in runs if label not in labels)
    both = "before" in runs and "after" in runs
    shown = ["before", "after"] if both else labels[:1]
    lines = [
        "## IR core", "",
        "`python -m benchmarks.ir --label before|after` measures the IR core on the zoo's INT8",
        "models (docs/models.md): importing the ONNX file, the analysis pipeline `furiosa ops`",
        "runs (up to `partition`), printing the module to text, parsing that text back, and",
        "verifying the module. Each model runs in fresh subprocesses, so one model's heap does",
        "not weigh on the next, after one untimed pass on a tiny model so that no stage pays for",
        "importing Python modules.", "",
        "* **Time** is wall-clock seconds, the best of `--repeat` runs (default 3), because the",
        "  machine is shared and the minimum is the least disturbed run. A stage whose first run",
        "  takes over `--slow` seconds (default 10) and whose result no later stage needs",
        "  (`parse`, `verify`) is run once: one such run is already long against the noise.",
        "* **Peak** is the most memory the stage held at once above what was allocated when it",
        "  began, from `tracemalloc` in a separate run (tracing slows the code, so it is never",
        "  timed). `tracemalloc` sees every Python object and numpy array, which is where the IR",
        "  lives, and measures each stage on its own; the process's `ru_maxrss` cannot, because",
        "  it only ever grows. What `tracemalloc` does not see is memory allocated in C++ by",
        "  the `onnx` package while reading the file; `maxrss` in the JSON (the high-water mark",
        "  of the timing process after each stage) includes it.",
        "* **Out of memory (> N GiB)**: each measuring process has its address space capped",
        "  (`--memory-limit`, default 8 GiB) so that a stage that needs more fails on its own",
        "  instead of making the kernel kill processes on the shared machine; verify still runs,",
        "  on the analysed module.",
        "* **Text** is the printed module in MB (10^6 bytes); **ops** the op count after import",
        "  and after the analysis pipeline (the module printed, parsed and verified).", "",
        "Runs: " + "; ".join(_describe(label, runs[label]) for label in shown) + ".", "",
    ]
    models = list(dict.fromkeys(name for label in shown for name in runs[label]["models"]))
    for name in models:
        per = {label: runs[label]["models"].get(name) for label in shown}
        present = [label for label in shown if per[label] is not None]
        first = per[present[0]]
        lines.append(f"### `{name}` ({first['file']}, {first['file_mb']:.1f} MB)")
        lines.append("")
        facts = "; ".join(f"{label}: {per[label]['ops_imported']} ops imported, "
                          f"{per[label]['ops']} after analysis, text "
                          f"{per[label]['text_mb']:.1f} MB" for label in present)
        lines += [facts, ""]
        if both and len(present) == 2:
            b, a = per["before"]["stages"], per["after"]["stages"]
            lb, la = runs["before"]["memory_limit_gib"], runs["after"]["memory_limit_gib"]
            lines += ["| stage | before s | after s | after ÷ before | before peak MiB "
                      "| after peak MiB | after ÷ before |",
                      "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
            for s in STAGES:
                lines.append(
                    f"| {s} | {_cell(b[s]['seconds'], lb)} | {_cell(a[s]['seconds'], la)} "
                    f"| {_ratio(a[s]['seconds'], b[s]['seconds'])} "
                    f"| {_cell(b[s]['peak_mib'], lb)} | {_cell(a[s]['peak_mib'], la)} "
                    f"| {_ratio(a[s]['peak_mib'], b[s]['peak_mib'])} |")
        else:
            st = first["stages"]
            lim = runs[present[0]]["memory_limit_gib"]
            lines += [f"| stage | {present[0]} s | {present[0]} peak MiB |",
                      "| --- | ---: | ---: |"]
            lines += [f"| {s} | {_cell(st[s]['seconds'], lim)} | {_cell(st[s]['peak_mib'], lim)} |"
                      for s in STAGES]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def write_section(docs: Path, section: str) -> None:
    """Put ``section`` between the ir markers of ``docs``, leaving the rest of the file alone."""
    report.write_section(docs, "ir", section)


def run(names: list[str], label: str, json_path: Path, docs: Path | None, *, repeat: int = 3,
        slow: float = 10.0, memory_limit: float = 8.0, zoo_dir: Path | None = None,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Build (or reuse) the models, measure them, store the run under ``label``, write docs."""
    zoo_dir = zoo_dir or default_zoo_dir()
    ensure(names, zoo_dir)
    entry: dict[str, Any] = {**environment(), "repeat": repeat, "slow_seconds": slow,
                             "memory_limit_gib": memory_limit,
                             "pipeline": analysis_pipeline(TARGET, BATCH), "models": {}}
    for name in names:
        log(f"{name}: measuring ...")
        entry["models"][name] = measure_model(zoo_dir / f"{name}.int8.onnx", repeat, slow,
                                              memory_limit)
        st = entry["models"][name]["stages"]
        log("  " + ", ".join(f"{s}: {_cell(st[s]['seconds'], memory_limit)} s, "
                             f"{_cell(st[s]['peak_mib'], memory_limit)} MiB" for s in STAGES))
    results: dict[str, Any] = {"benchmark": "ir", "runs": {}}
    if json_path.exists():
        results = json.loads(json_path.read_text())
    results.setdefault("runs", {})[label] = entry
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    if docs is not None:
        write_section(docs, markdown(results))
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ir",
                                description="Time and memory of the IR core's stages on zoo models.")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help=f"comma-separated zoo models (default: {','.join(DEFAULT_MODELS)})")
    p.add_argument("--label", default="before", help="store the run under this label "
                   "(before or after; the docs compare the two; default: before)")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON,
                   help="results file (default: benchmarks/results/ir.json)")
    p.add_argument("--docs", type=Path, default=DEFAULT_DOCS,
                   help="markdown file whose IR core section is rewritten (default: "
                        "docs/benchmarks.md)")
    p.add_argument("--docs-only", action="store_true",
                   help="only rewrite the markdown from the results file; measure nothing")
    p.add_argument("--no-docs", action="store_true", help="do not write the markdown")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per stage (default 3)")
    p.add_argument("--slow", type=float, default=10.0,
                   help="seconds above which a stage no other needs runs once (default 10)")
    p.add_argument("--memory-limit", type=float, default=8.0, metavar="GIB",
                   help="address-space cap of each measuring process; a stage needing more is "
                        "reported as out of memory (default 8)")
    p.add_argument("--zoo", type=Path, default=None, help="zoo directory (default: the cache)")
    p.add_argument("--worker", choices=("time", "memory"), help=argparse.SUPPRESS)
    p.add_argument("--worker-path", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return _worker(args)
    if args.docs_only:
        write_section(args.docs, markdown(json.loads(args.json.read_text())))
        return 0
    if args.repeat < 1:
        p.error(f"--repeat must be at least 1, not {args.repeat}")
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    run(names, args.label, args.json, None if args.no_docs else args.docs, repeat=args.repeat,
        slow=args.slow, memory_limit=args.memory_limit, zoo_dir=args.zoo)
    return 0


if __name__ == "__main__":
    sys.exit(main())
