"""The zoo's INT8 QDQ models, compiled up to partitioning and interpreted, give onnxruntime's
answers bit for bit: every output and every INT8 tensor both sides hold.

The reference is onnxruntime's integer kernels (``session.qdqisint8allowed=1``). On a CPU
without VNNI those kernels saturate u8 x s8 pair sums to int16 and no longer compute exact
integer products, so the comparison is skipped there with that reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.models import default_zoo_dir, ensure
from furiosa.compiler.compare import compare_model

MODELS = ("resnet50_v1.5", "mobilenet_v1", "mobilenet_v2", "ssd_mobilenet_v1", "yolov5s", "bert_tiny")


def _has_vnni() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("zoo"),
    pytest.mark.skipif(not _has_vnni(), reason="onnxruntime's u8s8 kernels saturate pair sums "
                       "to int16 on CPUs without VNNI, so they are not exact integer arithmetic"),
]


def _inputs(model: str) -> dict[str, np.ndarray] | None:
    if model != "bert_tiny":
        return None  # compare's own seeded random inputs
    rng = np.random.default_rng(7)
    # Token ids inside the vocabulary, token types 0 or 1, a mask with some padding.
    mask = np.ones((1, 128), np.int64)
    mask[0, 100:] = 0
    return {"input_ids": rng.integers(0, 1000, (1, 128)).astype(np.int64),
            "token_type_ids": rng.integers(0, 2, (1, 128)).astype(np.int64),
            "attention_mask": mask}


@pytest.mark.parametrize("model", MODELS)
def test_zoo_int8_model_matches_onnxruntime_bit_for_bit(model: str) -> None:
    ensure([model])
    report = compare_model(default_zoo_dir() / f"{model}.int8.onnx", inputs=_inputs(model),
                           seed=11)
    assert report.reference.startswith("onnxruntime")
    assert report.outputs and len(report.tensors) > 20
    first = report.differing[:1]
    assert not first, f"first difference: {first[0]}"
    assert all(t.differing_fraction == 0.0 for t in report.outputs)
