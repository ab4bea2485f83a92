"""The numerics benchmark on MobileNetV2: the interpreter in onnxruntime arithmetic gives
onnxruntime's outputs bit for bit on a whole INT8 network; in tflite arithmetic it does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.numerics import docs_section, measure


@pytest.mark.xdist_group("zoo")
def test_mobilenet_v2_matches_onnxruntime_in_its_arithmetic(zoo, zoo_dir: Path) -> None:  # type: ignore[no-untyped-def]
    zoo("mobilenet_v2")
    res = measure("mobilenet_v2", zoo_dir, repeat=1)
    assert res["onnxruntime"] == {**res["onnxruntime"], "max_steps": 0.0, "differing_share": 0.0}  # type: ignore[dict-item]
    # LiteRT's double-rounding fixed point drifts from onnxruntime through the network.
    assert float(res["tflite"]["differing_share"]) > 0  # type: ignore[index]
    text = docs_section({"models": {"mobilenet_v2": res}, "machine": "test"})
    assert "| mobilenet_v2 | onnxruntime |" in text
