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


def _single_qdq_add(path: Path) -> Path:
    """One INT8 QDQ Add: far too small to pay for its transfers."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def qdq(name: str, out: str) -> list[onnx.NodeProto]:
        return [helper.make_node("QuantizeLinear", [name, "s", "z"], [f"{name}_q"]),
                helper.make_node("DequantizeLinear", [f"{name}_q", "s", "z"], [out])]

    nodes = [*qdq("x", "xd"), *qdq("w", "wd"), helper.make_node("Add", ["xd", "wd"], ["a"], name="add"),
             *qdq("a", "y")]
    inits = [numpy_helper.from_array(np.array(0.05, np.float32), "s"),
             numpy_helper.from_array(np.array(0, np.int8), "z")]
    graph = helper.make_graph(nodes, "g", [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 8, 32]),
        helper.make_tensor_value_info("w", TensorProto.FLOAT, [1, 8, 8, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 32])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_a_single_supported_op_runs_on_the_npu_unless_small_regions_go_to_the_host(
        tmp_path: Path) -> None:
    model = str(_single_qdq_add(tmp_path / "add.onnx"))
    ops = {o["name"]: o for o in json.loads(furiosa("ops", model, "--format", "json").stdout)["ops"]}
    assert ops["add"]["placement"] == "npu" and ops["add"]["region"] == 0
    r = furiosa("ops", model, "--format", "json", "--host-small-regions")
    ops = {o["name"]: o for o in json.loads(r.stdout)["ops"]}
    assert ops["add"]["placement"] == "host" and "it runs on the host" in ops["add"]["reason"]
