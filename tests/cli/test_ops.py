"""``furiosa ops``: the table without a model; per-op placement with reasons for zoo models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.models import default_zoo_dir, ensure

pytestmark = pytest.mark.xdist_group("zoo")


def furiosa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "furiosa.cli.main", *args], capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def zoo() -> Path:
    ensure(["ssd_mobilenet_v1_postprocess", "bert_tiny"])
    return default_zoo_dir()


def test_table_without_a_model() -> None:
    r = furiosa("ops")
    assert r.returncode == 0
    assert "Conv" in r.stdout and "group <= 128 (depthwise convolutions excepted) and dilation <= 12" in r.stdout
    rows = json.loads(furiosa("ops", "--format", "json").stdout)
    assert {row["operator"] for row in rows} >= {"Conv", "Softmax", "Concat", "Resize", "PRelu"}


@pytest.mark.parametrize(("target", "heading"), [
    ("warboy", "on warboy (1 PE, 64 slices)"), ("warboy-2pe", "on warboy-2pe (2 PEs fused, 128 slices)")])
def test_table_is_for_the_target_asked(target: str, heading: str) -> None:
    r = furiosa("ops", "--target-npu", target)
    assert r.returncode == 0 and heading in r.stdout.splitlines()[0]


def test_ssd_with_postprocessing(zoo: Path) -> None:
    r = furiosa("ops", str(zoo / "ssd_mobilenet_v1_postprocess.int8.onnx"), "--format", "json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["target"] == "warboy" and report["batch_size"] == 1
    by_operator: dict[str, set[str]] = {}
    for op in report["ops"]:
        by_operator.setdefault(op["operator"], set()).add(op["placement"])
        if op["placement"] == "host":
            assert op["reason"], op
    assert by_operator["NonMaxSuppression"] == {"host"} and by_operator["TopK"] == {"host"}
    assert by_operator["Conv"] == {"npu"}
    nms = next(op for op in report["ops"] if op["operator"] == "NonMaxSuppression")
    assert nms["reason"] == "'NonMaxSuppression' cannot be accelerated yet"
    s = report["summary"]
    assert s["regions"] >= 1 and s["npu_mac_share"] > 0.99
    assert s["npu_ops"] + s["host_ops"] == s["ops"] == len(report["ops"])


def test_ssd_text_names_the_users_ops(zoo: Path) -> None:
    r = furiosa("ops", str(zoo / "ssd_mobilenet_v1_postprocess.int8.onnx"), "--target-npu", "warboy-2pe")
    assert r.returncode == 0, r.stderr
    assert "postprocess.nms" in r.stdout and "on warboy-2pe, batch 1" in r.stdout
    assert "MACs:" in r.stdout and "region" in r.stdout


def test_bert_tiny(zoo: Path) -> None:
    r = furiosa("ops", str(zoo / "bert_tiny.int8.onnx"), "--format", "json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    matmuls = [op for op in report["ops"] if op["operator"] == "MatMul"]
    assert sum(op["placement"] == "npu" for op in matmuls) >= 12  # Q, K, V, scores, ... per layer
    host = [op for op in report["ops"] if op["placement"] == "host"]
    assert host and all(op["reason"] for op in host)
    assert 0 < report["summary"]["npu_mac_share"] <= 1


def test_batch_size_reaches_the_conditions(zoo: Path) -> None:
    one = json.loads(furiosa("ops", str(zoo / "bert_tiny.int8.onnx"), "--format", "json").stdout)
    four = json.loads(furiosa("ops", str(zoo / "bert_tiny.int8.onnx"), "--format", "json",
                              "--batch-size", "4").stdout)
    assert four["batch_size"] == 4 and one["summary"]["macs"] * 4 == four["summary"]["macs"]


def test_float_model_is_all_host(zoo: Path) -> None:
    report = json.loads(furiosa("ops", str(zoo / "bert_tiny.onnx"), "--format", "json").stdout)
    assert report["summary"]["npu_ops"] == 0
    assert any("the NPU computes INT8 only" in op["reason"] for op in report["ops"])


def test_bad_batch_and_missing_model() -> None:
    r = furiosa("ops", "missing.onnx")
    assert r.returncode == 1 and "missing.onnx: no such file" in r.stderr
    r = furiosa("ops", "missing.onnx", "--batch-size", "0")
    assert r.returncode == 1 and "--batch-size must be at least 1" in r.stderr
