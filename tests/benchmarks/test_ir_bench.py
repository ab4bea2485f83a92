"""The IR benchmark script (benchmarks/ir.py) works: its stages, its measurements, its report.

Nothing here asserts a time or a memory figure; the benchmark's numbers are its own business.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest

from benchmarks import ir
from tests.frontends.test_onnx_import import small_model


def test_stages_on_a_zoo_model(zoo: Callable[[str], dict], zoo_dir: Path) -> None:
    zoo("resnet18")
    module = ir._import(zoo_dir / "resnet18.int8.onnx")
    imported = ir._op_count(module)
    ir._analyse(module)
    # The pipeline folds the QDQ pairs away, and partition marks NPU regions on the ops.
    assert 0 < ir._op_count(module) < imported
    text = ir._print(module)
    assert "func @npu_region_0(" in text and "func.Call" in text
    parsed = ir._parse(text)
    assert ir._op_count(parsed) == ir._op_count(module)
    assert ir._print(parsed) == text
    ir._verify(module)
    ir._verify(parsed)


@pytest.fixture
def small_onnx(tmp_path: Path) -> Path:
    path = tmp_path / "small.onnx"
    onnx.save(small_model(), path)
    return path


def test_time_repeats_fast_stages_and_runs_a_slow_parse_once(small_onnx: Path) -> None:
    out = ir.measure_time(small_onnx, repeat=2, slow=0.0)
    stages = out["stages"]
    assert list(stages) == list(ir.STAGES)
    for name, st in stages.items():
        # With slow=0 every stage counts as slow: only those a later stage needs run again.
        assert len(st["runs"]) == (2 if name in ir.NEEDED else 1)
        assert st["seconds"] == min(st["runs"])
        assert st["maxrss_mib"] > 0
    facts = out["facts"]
    assert facts["ops_imported"] == ir._op_count(ir._import(small_onnx))
    assert facts["text_mb"] == len(ir._print(ir._analyse(ir._import(small_onnx))).encode()) / 1e6


def test_memory_is_measured_per_stage(small_onnx: Path) -> None:
    stages = ir.measure_memory(small_onnx)["stages"]
    assert list(stages) == list(ir.STAGES)
    # Importing allocates the module and keeps it; the peak is at least what is kept.
    assert stages["import"]["retained_mib"] > 0
    for st in stages.values():
        assert st["peak_mib"] >= st["retained_mib"]


def _with_times(result: dict, factor: float) -> dict:
    scaled = json.loads(json.dumps(result))
    for st in scaled["stages"].values():
        st["seconds"] *= factor
        st["peak_mib"] *= factor
    return scaled


def test_report_compares_before_and_after_and_keeps_other_sections(
        small_onnx: Path, tmp_path: Path) -> None:
    measured = ir.measure_model(small_onnx, repeat=1)  # the subprocess path
    env = {**ir.environment(), "repeat": 1, "slow_seconds": 10.0, "memory_limit_gib": 8.0,
           "pipeline": "p"}
    before = {**env, "models": {"small": measured}}
    results = {"benchmark": "ir", "runs": {"before": before}}

    only_before = ir.markdown(results)
    assert "| stage | before s | before peak MiB |" in only_before
    assert "after s" not in only_before

    results["runs"]["after"] = {**env, "models": {"small": _with_times(measured, 0.5)}}
    table = ir.markdown(results)
    assert "| stage | before s | after s | after ÷ before |" in table
    for stage in ir.STAGES:
        b, a = measured["stages"][stage], results["runs"]["after"]["models"]["small"]["stages"][stage]
        row = next(line for line in table.splitlines() if line.startswith(f"| {stage} |"))
        assert row.split("|")[4].strip() == ir._ratio(a["seconds"], b["seconds"])

    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## Other\n\nkept\n")
    ir.write_section(docs, only_before)
    ir.write_section(docs, table)
    text = docs.read_text()
    assert text.startswith("# Benchmarks\n\n## Other\n\nkept\n")
    assert text.count(ir.BEGIN) == text.count(ir.END) == 1
    assert table in text and only_before not in text

    # --docs-only rewrites the section from a results file, measuring nothing.
    results_path = tmp_path / "ir.json"
    results["runs"]["after"]["models"]["small"]["stages"]["parse"]["seconds"] = None
    results_path.write_text(json.dumps(results))
    assert ir.main(["--docs-only", "--json", str(results_path), "--docs", str(docs)]) == 0
    assert docs.read_text().startswith("# Benchmarks\n\n## Other\n\nkept\n")
    assert docs.read_text().count("| parse | ") == 1
    assert "| parse | " + ir._fmt(measured["stages"]["parse"]["seconds"]) + \
        " | out of memory (> 8 GiB) | — |" in docs.read_text()


def test_a_stage_out_of_memory_is_reported_and_not_retried(
        small_onnx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def parse_too_big(text: str) -> None:
        calls.append(text)
        raise MemoryError

    monkeypatch.setattr(ir, "_parse", parse_too_big)
    timed = ir.measure_time(small_onnx, repeat=2, slow=100.0)
    assert len(calls) == 1
    assert timed["stages"]["parse"]["seconds"] is None
    assert len(timed["stages"]["verify"]["runs"]) == 2
    memory = ir.measure_memory(small_onnx)
    assert memory["stages"]["parse"]["peak_mib"] is None
    assert memory["stages"]["verify"]["peak_mib"] is not None

    stages = {s: {**timed["stages"][s], **memory["stages"][s]} for s in ir.STAGES}
    model = {"file": "small.onnx", "file_mb": 0.001, **timed["facts"], "stages": stages}
    run = {**ir.environment(), "repeat": 2, "slow_seconds": 100.0, "memory_limit_gib": 3.0,
           "pipeline": "p", "models": {"small": model}}
    table = ir.markdown({"benchmark": "ir", "runs": {"before": run}})
    assert "| parse | out of memory (> 3 GiB) | out of memory (> 3 GiB) |" in table
