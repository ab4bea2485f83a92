"""``furiosa compare``: the compiler's numbers against onnxruntime and LiteRT, tensor by tensor."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import attrs
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from benchmarks.models import default_zoo_dir, ensure
from furiosa.cli.main import main
from furiosa.compiler.compare import CompareError, CompareReport, compare_model
from furiosa.ir.dialects import quant as qd
from furiosa.ir.dialects.host import Quantize
from furiosa.ir.module import Module
from furiosa.ir.types import Quantization

SHAPE = (1, 3, 64, 64)
CHANNELS = 16


def qdq_model(seed: int = 0) -> onnx.ModelProto:
    """Conv+Relu, a 1x1 Conv, and the Add of both, every activation and weight in QDQ form:
    enough work (1.8 MMACs) for the convolutions to form an NPU region."""
    rng = np.random.default_rng(seed)
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, array: np.ndarray) -> None:
        inits.append(numpy_helper.from_array(array, name))

    def qdq(x: str, scale: float, zero: int, name: str) -> str:
        const(f"{name}_scale", np.array(scale, np.float32))
        const(f"{name}_zero", np.array(zero, np.int8))
        nodes.append(helper.make_node("QuantizeLinear", [x, f"{name}_scale", f"{name}_zero"],
                                      [f"{name}_q"], name=f"{name}_quantize"))
        nodes.append(helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_scale",
                                                           f"{name}_zero"],
                                      [f"{name}_dq"], name=f"{name}_dequantize"))
        return f"{name}_dq"

    def weight(name: str, shape: tuple[int, ...], input_scale: float) -> tuple[str, str]:
        w = rng.normal(0, 0.2, shape).astype(np.float32)
        scale = np.float32(np.abs(w).max() / 127)
        const(f"{name}_w", np.clip(np.round(w / scale), -127, 127).astype(np.int8))
        const(f"{name}_ws", np.array(scale, np.float32))
        const(f"{name}_wz", np.array(0, np.int8))
        nodes.append(helper.make_node("DequantizeLinear", [f"{name}_w", f"{name}_ws", f"{name}_wz"],
                                      [f"{name}_wdq"], name=f"{name}_weight"))
        bias_scale = np.float32(input_scale * scale)
        const(f"{name}_b", np.round(rng.normal(0, 0.1, shape[0]) / bias_scale).astype(np.int32))
        const(f"{name}_bs", np.array(bias_scale, np.float32))
        const(f"{name}_bz", np.array(0, np.int32))
        nodes.append(helper.make_node("DequantizeLinear", [f"{name}_b", f"{name}_bs", f"{name}_bz"],
                                      [f"{name}_bdq"], name=f"{name}_bias"))
        return f"{name}_wdq", f"{name}_bdq"

    x = qdq("x", 0.02, 0, "x")
    w, b = weight("conv1", (CHANNELS, 3, 3, 3), 0.02)
    nodes.append(helper.make_node("Conv", [x, w, b], ["conv1"], name="conv1", pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"))
    r = qdq("relu1", 0.03, -128, "relu1")
    w, b = weight("conv2", (CHANNELS, CHANNELS, 1, 1), 0.03)
    nodes.append(helper.make_node("Conv", [r, w, b], ["conv2"], name="conv2"))
    c = qdq("conv2", 0.04, 3, "conv2")
    nodes.append(helper.make_node("Add", [r, c], ["add"], name="add"))
    qdq("add", 0.05, -2, "add")
    graph = helper.make_graph(
        nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))],
        [helper.make_tensor_value_info("add_dq", TensorProto.FLOAT, [1, CHANNELS, *SHAPE[2:]])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compare") / "small.onnx"
    onnx.save(qdq_model(), str(path))
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["compare", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_report(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, str(small), "--format", "json", "--top", "0")
    assert code == 0, err
    report = json.loads(out)
    assert report["model"] == "small.onnx" and report["reference"].startswith("onnxruntime ")
    assert report["inputs"] == [{"name": "x", "shape": list(SHAPE), "dtype": "float32",
                                 "source": "random, seed 0"}]
    s = report["summary"]
    assert s["compared"] == s["identical"] + s["differing"]
    # x_q, relu1_q, conv2_q and add_q are the quantized tensors; add_dq is the float output.
    assert s["compared"] == 5 and s["reference_only"] > 0
    assert [o["tensor"] for o in s["outputs"]] == ["add_dq"]
    assert len(report["differing"]) == s["differing"]
    for t in report["differing"]:
        assert set(t) == {"tensor", "op", "operator", "region", "shape", "dtype",
                          "reference_dtype", "quantized", "max_lsb", "max_abs", "max_rel",
                          "differing_fraction", "alone_max_lsb", "alone_max_abs",
                          "alone_differing_fraction"}
        assert 0 < t["differing_fraction"] <= 1
        assert (t["max_lsb"] is not None) == t["quantized"]
    if s["differing"]:
        assert s["first_difference"] == report["differing"][0]["tensor"]


def test_text_report_and_region_values(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, str(small))
    assert code == 0, err
    assert "small.onnx: the compiler (warboy" in out and "tensors compared:" in out
    assert "output add_dq:" in out
    report = compare_model(small)
    # The convolutions run in an NPU region: its values are reached through the call handler.
    regions = {t.tensor: t.region for t in report.tensors}
    assert regions["relu1_q"] == 0 and regions["conv2_q"] == 0 and regions["x_q"] is None
    # Each tensor's op is the user's node, by name, with its ONNX operator.
    ops = {t.tensor: (t.op, t.operator) for t in report.tensors}
    assert ops["relu1_q"] == ("conv1", "Conv") and ops["add_q"][1] == "Add"


def test_deterministic(small: Path) -> None:
    assert compare_model(small, seed=3).as_json() == compare_model(small, seed=3).as_json()
    assert compare_model(small, seed=3).inputs[0][3] == "random, seed 3"


def test_perturbed_input_quantization_is_the_first_difference(small: Path) -> None:
    clean = compare_model(small)
    assert next(t for t in clean.tensors if t.tensor == "x_q").identical

    def shift_zero_point(module: Module) -> None:
        op = next(o for o in module.main.ops if isinstance(o, Quantize))
        op.zero_point = (op.zero_point[0] + 4,)

    report = compare_model(small, transform=shift_zero_point)
    first = report.differing[0]
    assert (first.tensor, first.op, first.operator) == ("x_q", "x_quantize", "Quantize")
    # Every element moves up by 4 steps, except those already saturated at +127.
    assert first.max_lsb == 4 and first.differing_fraction > 0.9
    assert report.summary()["first_introduced"] == "x_q"
    assert not report.summary()["outputs_identical"]


def test_perturbed_add_shows_where_the_error_enters(small: Path) -> None:
    clean = {t.tensor: t for t in compare_model(small).tensors}

    def shift_add(module: Module) -> None:
        # A quant op's output zero point is its result type's and its attribute's (the
        # kernels of both arithmetic modes add it after requantizing): shift both.
        for f in module.functions:
            for op in f.ops:
                if isinstance(op, qd.Add):
                    t = op.result.type
                    assert t.quant is not None
                    shifted = Quantization.per_tensor(t.quant.scale[0], t.quant.zero_point[0] + 9)
                    op.result.type = attrs.evolve(t, quant=shifted)
                    op.output_zero_point += 9

    report = {t.tensor: t for t in compare_model(small, transform=shift_add).tensors}
    for name in ("x_q", "relu1_q", "conv2_q"):
        assert report[name] == clean[name]  # upstream of the Add nothing changes
    # The Add's own difference (carried from its inputs) grows by the 9 steps of the shift, on
    # every element that does not saturate.
    before, after = clean["add_q"], report["add_q"]
    assert before.max_lsb is not None and after.max_lsb is not None
    assert after.max_lsb >= 9 - before.max_lsb and after.max_lsb > before.max_lsb
    assert after.differing_fraction > 0.5 > before.differing_fraction
    # Run alone on the reference's own operands, the Add shows its own 9 steps, which the
    # clean Add does not have.
    assert before.alone_max_lsb is not None and before.alone_max_lsb <= 1
    assert after.alone_max_lsb == 9 and after.introduces_difference


def test_input_files(small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = np.random.default_rng(7).uniform(-1, 1, SHAPE).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, out, err = run_cli(capsys, str(small), "--input", f"x={tmp_path / 'x.npy'}",
                             "--format", "json")
    assert code == 0, err
    assert json.loads(out)["inputs"][0]["source"] == "file"

    np.save(tmp_path / "bad.npy", x[:, :2])
    code, _, err = run_cli(capsys, str(small), "--input", f"x={tmp_path / 'bad.npy'}")
    assert code == 1
    assert err.strip() == ("furiosa: error: --input x: the array is float32 of shape "
                           "[1, 2, 64, 64], but the input is float32 of shape [1, 3, 64, 64]")
    code, _, err = run_cli(capsys, str(small), "--input", f"y={tmp_path / 'x.npy'}")
    assert code == 1 and "the model has no input named 'y'" in err
    code, _, err = run_cli(capsys, str(small), "--input", "x")
    assert code == 1 and "is not NAME=FILE.npy" in err


def test_reference_must_fit_the_model(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, str(small), "--reference", "litert")
    assert code == 1 and err.strip() == (
        f"furiosa: error: {small}: the litert reference runs .tflite models")


def test_missing_runtime_names_the_package(small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def without_onnxruntime(name: str, package: str | None = None) -> object:
        if name == "onnxruntime":
            raise ModuleNotFoundError("No module named 'onnxruntime'")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", without_onnxruntime)
    with pytest.raises(CompareError, match=r"needs the 'onnxruntime' package.*furiosa\[test\]"):
        compare_model(small)


# ---------------------------------------------------------------- zoo models


@pytest.fixture(scope="module")
def zoo() -> Path:
    ensure(["mobilenet_v2"])
    return default_zoo_dir()


@pytest.mark.xdist_group("zoo")
def test_mobilenet_v2_int8_onnx(zoo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, str(zoo / "mobilenet_v2.int8.onnx"), "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    s = report["summary"]
    # Every convolution's output is an INT8 tensor both sides hold.
    assert s["compared"] > 60 and s["compiler_only"] == 0
    assert [o["tensor"] for o in s["outputs"]] == ["logits"]
    assert all(t["region"] == 0 for t in report["differing"] if t["operator"] == "Conv")


@pytest.mark.xdist_group("zoo")
def test_mobilenet_v2_int8_tflite(zoo: Path) -> None:
    report: CompareReport = compare_model(zoo / "mobilenet_v2.int8.tflite")
    assert report.reference.startswith("LiteRT ") and "reference kernels" in report.reference
    # The quant dialect computes as TFLite's reference kernels do: bit for bit, every tensor,
    # including those the importer computes in NCHW between transposes.
    assert len(report.tensors) > 60 and report.compiler_only == 0 and report.reference_only == 0
    assert report.differing == [] and report.summary()["outputs_identical"]
    # Every op, NCHW ones included (their operands recomputed through the importer's
    # transposes), also runs alone on LiteRT's own operands, and agrees.
    assert all(t.alone_differing_fraction == 0.0 for t in report.tensors)


@pytest.mark.xdist_group("zoo")
def test_litert_optimized_kernels(zoo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, str(zoo / "mobilenet_v2.int8.tflite"),
                             "--litert-kernels", "default", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["reference"].endswith("(default kernels)")
    # LiteRT's optimized kernels round differently from its reference kernels, by one step
    # at most per op.
    assert all(t["alone_max_lsb"] is not None and t["alone_max_lsb"] <= 1
               for t in report["differing"])
