"""``furiosa ops`` answers for every zoo model, float, INT8 QDQ and INT8 TFLite: each op placed,
every host op with its reason, the summary consistent, text and JSON from one report."""

from __future__ import annotations

import json

import pytest

from benchmarks.models import MODELS, default_zoo_dir, ensure
from furiosa.backend.warboy.report import place
from furiosa.frontends import load_model
from tests.benchmarks.zoo_testutil import model_params
from tests.registry import PASSES

pytestmark = pytest.mark.xdist_group("zoo")


@pytest.mark.parametrize("name", model_params())
def test_every_zoo_model_is_placed(name: str) -> None:
    ensure([name])
    files = [f"{name}.onnx", f"{name}.int8.onnx"] + ([f"{name}.int8.tflite"] if MODELS[name].tflite else [])
    for file in files:
        report = place(load_model(default_zoo_dir() / file), "warboy", 1, file, registry=PASSES)
        s = report.summary()
        assert s["ops"] == len(report.ops) == s["npu_ops"] + s["host_ops"] > 0
        assert all(o.reason for o in report.ops if o.placement == "host"), file
        # Quantize / dequantize placed on the NPU sit at a region's edge, not inside it.
        assert all(o.region is not None for o in report.ops
                   if o.placement == "npu" and o.operator not in ("Quantize", "Dequantize")), file
        assert json.loads(json.dumps(report.as_json()))["summary"] == s
        assert report.as_text().count("\n") >= len(report.ops) + 2
        if file.endswith(".onnx") and ".int8." not in file:
            assert s["npu_ops"] == 0, f"{file} is float and must run on the host"
        else:
            assert s["npu_ops"] > 0 and s["regions"] >= 1 and s["npu_mac_share"] > 0.95, (file, s)
