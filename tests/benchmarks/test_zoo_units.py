"""Unit tests of the zoo's building blocks: padding, the float64 reference kernels,
BatchNorm folding, counting, input sampling, and the QDQ form against quantize_static."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from benchmarks.models import MODELS, checks, sample_inputs
from benchmarks.models import reference as ref
from benchmarks.models.graph import GraphBuilder, conv_out, same_pads
from benchmarks.models.inputs import InputSpec, images, sample
from benchmarks.models.quantize import fold_batchnorm, quantize_qdq
from benchmarks.models.stats import count_macs, count_params


@pytest.mark.parametrize(
    ("size", "k", "s", "expected"),
    [
        (224, 3, 2, (0, 1)),
        (75, 3, 2, (1, 1)),
        (19, 3, 2, (1, 1)),
        (2, 3, 2, (0, 1)),
        (7, 1, 1, (0, 0)),
    ],
)
def test_same_pads_match_tensorflow(size: int, k: int, s: int, expected: tuple[int, int]) -> None:
    pads = same_pads(size, k, s)
    assert pads == expected
    assert conv_out(size, k, s, *pads) == -(-size // s)


def _onnx_conv(
    x: np.ndarray, w: np.ndarray, stride: int, pads: tuple, group: int, dil: int
) -> np.ndarray:
    node = helper.make_node(
        "Conv",
        ["x", "w"],
        ["y"],
        strides=[stride] * 2,
        pads=list(pads),
        group=group,
        dilations=[dil] * 2,
    )
    graph = helper.make_graph(
        [node],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return checks.run(model, [{"x": x}])[0][0]


@pytest.mark.parametrize(
    ("cin", "cout", "k", "stride", "pads", "group", "dil"),
    [
        (3, 8, 3, 1, (1, 1, 1, 1), 1, 1),
        (4, 6, 3, 2, (0, 0, 1, 1), 1, 1),
        (8, 8, 3, 2, (1, 0, 1, 1), 8, 1),
        (6, 4, 1, 1, (0, 0, 0, 0), 1, 1),
        (4, 4, 3, 1, (2, 2, 2, 2), 2, 2),
        (3, 5, 7, 2, (3, 3, 3, 3), 1, 1),
    ],
)
def test_reference_conv_matches_onnxruntime(cin, cout, k, stride, pads, group, dil) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, cin, 13, 11)).astype(np.float32)
    w = rng.standard_normal((cout, cin // group, k, k)).astype(np.float32)
    got = ref.conv2d(x.astype(np.float64), w, stride, pads, group, dil)
    np.testing.assert_allclose(
        got, _onnx_conv(x, w, stride, pads, group, dil), rtol=1e-4, atol=1e-4
    )


def test_reference_pooling_and_rounding() -> None:
    x = np.arange(2 * 3 * 5 * 5, dtype=np.float64).reshape(2, 3, 5, 5)
    assert ref.maxpool2d(x, 3, 2, 1).shape == (2, 3, 3, 3)
    assert ref.maxpool2d(x, 3, 2, 1)[0, 0, 0, 0] == x[0, 0, 1, 1]
    assert ref.upsample_nearest(x, 2).shape == (2, 3, 10, 10)
    r = ref.round_sig(np.array([1.0 + 2**-20, 3.14159, 0.0, -2.5e-7]))
    assert r[0] == 1.0 and r[2] == 0.0 and abs(r[1] - 3.14159) < 1e-3 and r[3] < 0


def _tiny_convnet() -> onnx.ModelProto:
    g = GraphBuilder("tiny", 0)
    calib = images(np.random.default_rng(0), 4, (32, 32))
    x = g.input("input", (1, 3, 32, 32), calib=calib)
    x = g.conv_bn_act(x, 8, 3, 2, "same", act="relu6", conv="c1", bn="b1")
    y = g.conv_bn_act(x, 8, 3, 1, act=None, conv="c2", bn="b2")
    x = g.act(g.add(x, y), "relu")
    x = g.flatten(g.global_avg_pool(x))
    g.output(g.gemm(x, 10, center=True), "logits")
    return g.build()


def test_batchnorm_folding_preserves_outputs() -> None:
    model = _tiny_convnet()
    folded = fold_batchnorm(model)
    assert not [n for n in folded.graph.node if n.op_type == "BatchNormalization"]
    onnx.checker.check_model(folded, full_check=True)
    feeds = sample([InputSpec("input", (1, 3, 32, 32), "float32", "image:imagenet")], 3)
    for a, b in zip(checks.run(model, feeds), checks.run(folded, feeds), strict=True):
        np.testing.assert_allclose(a[0], b[0], rtol=1e-4, atol=1e-5)


def test_counts_on_a_small_graph() -> None:
    model = _tiny_convnet()
    # conv1: 8x16x16 outputs x 27 taps; conv2: 8x16x16 x 72; fc: 8 x 10
    assert count_macs(model) == 8 * 16 * 16 * 27 + 8 * 16 * 16 * 72 + 8 * 10
    # conv weights, 2 x BN scale+shift, fc weight+bias (running statistics excluded)
    assert count_params(model) == 8 * 27 + 8 * 72 + 2 * 16 + 80 + 10


def test_builder_is_deterministic_and_seeded() -> None:
    a = _tiny_convnet().SerializeToString()
    assert a == _tiny_convnet().SerializeToString()
    g = GraphBuilder("tiny", 1)
    assert g.rng.standard_normal() != GraphBuilder("tiny", 0).rng.standard_normal()


def test_batchnorm_statistics_normalise_the_calibration_batch() -> None:
    g = GraphBuilder("bn", 0)
    calib = images(np.random.default_rng(1), 8, (24, 24))
    x = g.conv(g.input("input", (1, 3, 24, 24), calib=calib), 16, 3)
    y = g.batchnorm(x, gamma=(1.0, 1.0))
    assert y.value is not None
    z = y.value - y.value.mean(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1.0, rtol=1e-2)


def test_sampled_inputs_are_seeded_and_in_range() -> None:
    a = sample_inputs("mobilenet_v2", 3)
    b = sample_inputs("mobilenet_v2", 3)
    assert all(np.array_equal(x["input"], y["input"]) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0]["input"], a[1]["input"])
    yolo = sample_inputs("yolov5s", 1)[0]["images"]
    assert yolo.min() >= 0.0 and yolo.max() <= 1.0
    tokens = sample_inputs("bert_tiny", 2)
    for feed in tokens:
        ids, mask = feed["input_ids"][0], feed["attention_mask"][0]
        assert ids[0] == 101 and ids[mask.sum() - 1] == 102 and (ids[mask == 0] == 0).all()
        assert feed["input_ids"].dtype == np.int64


def test_qdq_form_matches_quantize_static(zoo, zoo_dir: Path, tmp_path: Path) -> None:
    """Same graph as onnxruntime's quantize_static on the BN-folded model."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    zoo("mobilenet_v2")
    model = onnx.load(str(zoo_dir / "mobilenet_v2.onnx"))
    feeds = sample_inputs("mobilenet_v2", 4, "calibration")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(feeds)

        def get_next(self) -> dict | None:
            return next(self.it, None)

    out = tmp_path / "static.onnx"
    quantize_static(
        fold_batchnorm(model),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
    )
    theirs = onnx.load(str(out))
    ours = quantize_qdq(model, feeds)

    def shape(m: onnx.ModelProto) -> list[tuple[str, tuple[str, ...]]]:
        return [(n.op_type, tuple(n.input)) for n in m.graph.node]

    assert collections.Counter(n.op_type for n in ours.graph.node) == collections.Counter(
        n.op_type for n in theirs.graph.node
    )
    assert sorted(shape(ours)) == sorted(shape(theirs))
    assert sorted(t.name for t in ours.graph.initializer) == sorted(
        t.name for t in theirs.graph.initializer
    )
    assert MODELS["mobilenet_v2"].quant_op_types is None
