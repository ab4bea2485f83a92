"""Per-model checks of the zoo: well-formed graphs, onnxruntime runs, sane activations,
counts against published figures, and float-vs-int8 agreement.

The small models run in the default suite; the large ones are marked slow.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from benchmarks.models import MODELS, checks, sample_inputs

from .zoo_testutil import model_params

COUNT_TOLERANCE = 0.05


def _load(zoo_dir: Path, fname: str) -> onnx.ModelProto:
    return onnx.load(str(zoo_dir / fname))


@pytest.mark.parametrize("name", model_params())
def test_files_match_manifest(name: str, zoo, zoo_dir: Path) -> None:
    entry = zoo(name)
    expected = {f"{name}.onnx", f"{name}.int8.onnx"}
    if MODELS[name].tflite:
        expected.add(f"{name}.int8.tflite")
    assert set(entry["files"]) == expected
    for fname, info in entry["files"].items():
        data = (zoo_dir / fname).read_bytes()
        assert len(data) == info["bytes"]
        assert hashlib.sha256(data).hexdigest() == info["sha256"]
    spec_inputs = {(s.name, s.shape) for s in MODELS[name].inputs}
    assert {(i["name"], tuple(i["shape"])) for i in entry["inputs"]} == spec_inputs
    assert entry["macs"] > 0 and entry["params"] > 0


@pytest.mark.parametrize("name", model_params())
def test_graphs_pass_checker_with_shape_inference(name: str, zoo, zoo_dir: Path) -> None:
    zoo(name)
    for fname in (f"{name}.onnx", f"{name}.int8.onnx"):
        model = _load(zoo_dir, fname)
        assert model.opset_import[0].version == 13
        onnx.checker.check_model(model, full_check=True)


@pytest.mark.parametrize("name", model_params())
def test_onnxruntime_runs_float_and_int8(name: str, zoo, zoo_dir: Path) -> None:
    entry = zoo(name)
    feeds = sample_inputs(name, 2)
    for fname in (f"{name}.onnx", f"{name}.int8.onnx"):
        results = checks.run(zoo_dir / fname, feeds)
        for outputs in results:
            assert len(outputs) == len(entry["outputs"])
            for value, spec in zip(outputs, entry["outputs"], strict=True):
                assert value.dtype.name == spec["dtype"]
                static = [d for d in spec["shape"] if isinstance(d, int)]
                if len(static) == len(spec["shape"]):
                    assert list(value.shape) == spec["shape"]
                if value.dtype.kind == "f":
                    assert np.isfinite(value).all()


@pytest.mark.parametrize("name", model_params())
def test_activations_are_sane(name: str, zoo, zoo_dir: Path) -> None:
    """No NaN/Inf, no input-dependent tensor that is constant, nothing exploding."""
    zoo(name)
    model = _load(zoo_dir, f"{name}.onnx")
    assert checks.insane_activations(model, sample_inputs(name, 1)[0]) == []


def _published(kind: str) -> list:
    names = [n for n, s in MODELS.items() if getattr(s.published, kind) is not None]
    return model_params(names)


@pytest.mark.parametrize("name", _published("macs"))
def test_macs_match_published(name: str, zoo) -> None:
    macs, published = zoo(name)["macs"], MODELS[name].published.macs
    assert abs(macs - published) / published < COUNT_TOLERANCE, (macs, published)


@pytest.mark.parametrize("name", _published("params"))
def test_params_match_published(name: str, zoo) -> None:
    params, published = zoo(name)["params"], MODELS[name].published.params
    assert abs(params - published) / published < COUNT_TOLERANCE, (params, published)


def test_required_published_figures_are_registered() -> None:
    for name in ("resnet50_v1.5", "mobilenet_v2", "ssd_mobilenet_v1", "bert_base"):
        assert MODELS[name].published.macs is not None
        assert MODELS[name].published.params is not None


@pytest.mark.parametrize("name", model_params())
def test_int8_agrees_with_float(name: str, zoo, zoo_dir: Path) -> None:
    """Random weights: a smoke test of the quantised graph, not an accuracy claim."""
    zoo(name)
    spec = MODELS[name]
    n = 32 if spec.task == "classification" else (2 if name == "ssd_resnet34" else 8)
    feeds = sample_inputs(name, n)
    ref = checks.run(zoo_dir / f"{name}.onnx", feeds)
    quant = checks.run(zoo_dir / f"{name}.int8.onnx", feeds)
    if name.endswith("_postprocess"):
        # Detections are data-dependent in count; the network outputs are compared on the
        # heads-only variant.  Here: same output kinds and boxes within the image.
        for outputs in quant:
            boxes = outputs[0]
            assert boxes.ndim == 3 and boxes.shape[-1] == 4
        return
    agreement = checks.compare_outputs([r[0] for r in ref], [q[0] for q in quant])
    if spec.task == "classification":
        print(f"\n{name}: {agreement}")
        assert agreement.top1 > 0.5, str(agreement)
    else:
        print(f"\n{name}: first output mean cosine {agreement.cosine:.4f} over {n} inputs")
    assert agreement.cosine > 0.9, str(agreement)


@pytest.mark.parametrize("name", model_params())
def test_int8_graph_has_onnxruntime_qdq_form(name: str, zoo, zoo_dir: Path) -> None:
    """Per-channel symmetric int8 weights (zero point 0), int32 biases with scale
    in_scale * w_scale, int8 activations through QuantizeLinear/DequantizeLinear pairs."""
    zoo(name)
    model = _load(zoo_dir, f"{name}.int8.onnx")
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}

    def dq_of(tensor: str) -> onnx.NodeProto:
        node = producer[tensor]
        assert node.op_type == "DequantizeLinear", f"{tensor} comes from {node.op_type}"
        return node

    def act_scale(tensor: str) -> float:
        dq = dq_of(tensor)
        assert dq.input[0] not in inits
        assert inits[dq.input[2]].dtype == np.int8
        return float(inits[dq.input[1]])

    weighted = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm")]
    weighted += [
        n
        for n in model.graph.node
        if n.op_type == "MatMul"
        and n.input[1] in producer
        and producer[n.input[1]].input[0] in inits
    ]
    assert weighted
    for node in weighted:
        w_dq = dq_of(node.input[1])
        w, w_scale, w_zp = (inits[i] for i in w_dq.input)
        assert w.dtype == np.int8 and not w_zp.any()
        out_axis = 1 if node.op_type == "MatMul" else 0
        assert w_scale.shape == (w.shape[out_axis],), node.name  # per output channel
        assert np.abs(w).max() <= 127  # symmetric
        if len(node.input) > 2:
            b, b_scale, b_zp = (inits[i] for i in dq_of(node.input[2]).input)
            assert b.dtype == np.int32 and not b_zp.any()
            np.testing.assert_allclose(b_scale, act_scale(node.input[0]) * w_scale, rtol=1e-6)
    qs = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert qs and all(inits[q.input[2]].dtype == np.int8 for q in qs)
