"""The INT8 TFLite models: they load and run in the TFLite interpreter and track the QDQ
ONNX model they were written from (and, loosely, the float model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tflite

from benchmarks.models import MODELS, checks, sample_inputs

Interpreter = pytest.importorskip("ai_edge_litert.interpreter").Interpreter

TFLITE_MODELS = [name for name, spec in MODELS.items() if spec.tflite]


def _run_tflite(path: Path, feeds: list[dict]) -> list[list[np.ndarray]]:
    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    inputs, outputs = interp.get_input_details(), interp.get_output_details()
    results = []
    for feed in feeds:
        for detail in inputs:
            interp.set_tensor(detail["index"], feed[detail["name"]].transpose(0, 2, 3, 1))
        interp.invoke()
        results.append([interp.get_tensor(d["index"]) for d in outputs])
    return results


def test_tflite_models_are_the_expected_ones() -> None:
    assert TFLITE_MODELS == ["mobilenet_v2", "ssd_mobilenet_v1"]


@pytest.mark.parametrize("name", TFLITE_MODELS)
def test_tflite_structure(name: str, zoo, zoo_dir: Path) -> None:
    zoo(name)
    model = tflite.Model.GetRootAsModel((zoo_dir / f"{name}.int8.tflite").read_bytes(), 0)
    assert model.Version() == 3 and model.SubgraphsLength() == 1
    codes = set()
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        assert oc.DeprecatedBuiltinCode() == min(oc.BuiltinCode(), 127)
        codes.add(oc.BuiltinCode())
    op = tflite.BuiltinOperator
    assert {op.CONV_2D, op.DEPTHWISE_CONV_2D, op.QUANTIZE, op.DEQUANTIZE} <= codes
    graph = model.Subgraphs(0)
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        if (
            t.Type() == tflite.TensorType.INT8
            and t.Buffer()
            and model.Buffers(t.Buffer()).DataLength()
        ):
            q = t.Quantization()
            assert q.ZeroPointLength() == q.ScaleLength() > 1  # per-channel weights
            assert not q.ZeroPointAsNumpy().any()  # symmetric


@pytest.mark.parametrize("name", TFLITE_MODELS)
def test_tflite_tracks_qdq_onnx(name: str, zoo, zoo_dir: Path) -> None:
    zoo(name)
    feeds = sample_inputs(name, 8)
    lite = _run_tflite(zoo_dir / f"{name}.int8.tflite", feeds)
    qdq = checks.run(zoo_dir / f"{name}.int8.onnx", feeds)
    ref = checks.run(zoo_dir / f"{name}.onnx", feeds)
    for k in range(len(ref[0])):
        vs_qdq = checks.compare_outputs([q[k] for q in qdq], [t[k] for t in lite])
        vs_float = checks.compare_outputs([r[k] for r in ref], [t[k] for t in lite])
        print(f"\n{name} output {k}: vs QDQ ONNX {vs_qdq}; vs float {vs_float}")
        assert vs_qdq.cosine > 0.99, str(vs_qdq)
        assert vs_float.cosine > 0.9, str(vs_float)


def test_tflite_classifier_top1(zoo, zoo_dir: Path) -> None:
    zoo("mobilenet_v2")
    feeds = sample_inputs("mobilenet_v2", 32)
    lite = _run_tflite(zoo_dir / "mobilenet_v2.int8.tflite", feeds)
    ref = checks.run(zoo_dir / "mobilenet_v2.onnx", feeds)
    agreement = checks.compare_outputs([r[0] for r in ref], [t[0] for t in lite])
    print(f"\nmobilenet_v2 TFLite vs float: {agreement}")
    assert agreement.top1 > 0.5, str(agreement)
