"""The hand-written example programs, assembled into ENFs and simulated, against numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from furiosa.backend.warboy.enf import parse_enf
from furiosa.backend.warboy.enf.assemble import assemble
from furiosa.backend.warboy.simulator import random_inputs, simulate
from furiosa.ir.quantization import multiply_by_quantized_multiplier
from tests.backend.warboy.handwritten import conv_accumulator, conv_example, mlp_example

EXAMPLES = Path(__file__).parents[4] / "examples" / "warboy"


def test_example_files_are_what_the_generators_write() -> None:
    assert (EXAMPLES / "conv_relu_pool.s").read_text() == conv_example()[0]
    assert (EXAMPLES / "mlp_2pe.s").read_text() == mlp_example()[0]


@pytest.mark.parametrize(("slices", "per_slice", "target"), [(64, 2, "warboy"),
                                                             (128, 1, "warboy-2pe")])
@pytest.mark.parametrize("mode", ["onnxruntime", "tflite"])
def test_conv_program_on_every_slice(slices: int, per_slice: int, target: str, mode: str) -> None:
    text, c = conv_example(slices, per_slice, mode, target, seed=slices)
    enf = parse_enf(assemble(text, "conv.s"))
    x = random_inputs(enf, seed=1)["x"]
    result = simulate(enf, {"x": x})
    acc = conv_accumulator(x, c["weights"], c["bias"], -3)
    if mode == "onnxruntime":
        scaled = np.rint((acc.astype(np.float32) * c["params"][:, None, None]).astype(np.float32))
    else:
        p = c["params"].transpose(1, 0, 2).reshape(2, -1)
        scaled = multiply_by_quantized_multiplier(acc, p[0][:, None, None], p[1][:, None, None])
    y = np.maximum(np.clip(scaled.astype(np.int64) + 5, -128, 127), 5)
    m = slices * per_slice
    y = y.reshape(m, 4, 2, 16, 2).max(axis=(2, 4)).astype(np.int8)
    np.testing.assert_array_equal(result.outputs["y"], y)
    report = result.report
    assert report.macs == m * 8 * 32 * 16 * 9
    assert report.ops["conv1"].compute_cycles > 0 and report.ops["pool1"].store_cycles > 0
    assert report.dram_read_bytes > 0 and report.npu_to_host_bytes == y.nbytes


def test_mlp_program_on_warboy_2pe() -> None:
    text, c = mlp_example()
    enf = parse_enf(assemble(text, "mlp.s"))
    x = random_inputs(enf, seed=2)["x"]
    result = simulate(enf, {"x": x})
    acc = np.einsum("srk,kn->srn", x.astype(np.int64) - 2, c["w"].astype(np.int64)) + c["bias"]
    mult, shift = (int(v) for v in c["mult"])
    y1 = np.clip(multiply_by_quantized_multiplier(acc, mult, shift).astype(np.int64) - 1, -128, 127)
    y2 = c["table"][y1.astype(np.int8).view(np.uint8)].astype(np.int64)
    am, ash, bm, bsh, om, osh = (int(v) for v in c["add"])
    sa = multiply_by_quantized_multiplier((y1 + 1) << 20, am, ash).astype(np.int64)
    sb = multiply_by_quantized_multiplier(y2 << 20, bm, bsh).astype(np.int64)
    y = np.clip(multiply_by_quantized_multiplier(sa + sb, om, osh), -128, 127).astype(np.int8)
    np.testing.assert_array_equal(result.outputs["y"], y)
    np.testing.assert_array_equal(result.outputs["sums"], y.astype(np.int64).sum(-1, keepdims=True))
    assert result.report.target == "warboy-2pe"
    assert result.report.sram_peak_bytes_per_slice == 0x1E00 + 16 * 4
