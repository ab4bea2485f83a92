"""legalize: INT8 ops within the table become warboy ops, everything else stays with a reason;
analysis mode changes nothing; the interpreter gives the same results before and after."""

from __future__ import annotations

import numpy as np
import pytest

from furiosa.backend.warboy.legalize import FIX, PLACEMENT, REASON
from furiosa.ir.dialects import host, quant
from furiosa.ir.dialects.onnx import nn, reduce, tensor
from furiosa.ir.dialects.onnx.base import Constant
from furiosa.ir.interpreter import interpret
from furiosa.ir.module import Function
from furiosa.ir.parser import parse_module
from furiosa.ir.printer import print_module
from furiosa.ir.types import Quantization
from furiosa.ir.types import tensor as ttype
from furiosa.passes import PassManager
from tests.registry import DIALECTS, PASSES

Q_IN = Quantization.per_tensor(0.05, -3)
Q_OUT = Quantization.per_tensor(0.1, 2)


def quantized_model(group: int = 1, channels: int = 8, batch: int = 1) -> Function:
    """x(f32) -> Quantize -> quant.Conv(group) -> Reshape (INT8) -> Dequantize -> Softmax (f32)."""
    rng = np.random.default_rng(0)
    m = Function("q")
    x = m.add_input("x", ttype((batch, channels, 6, 6), "f32"))
    xq = m.add(host.Quantize.to_type(x, ttype(x.type.shape, "i8", Q_IN), loc="quantize_x")).result
    w_q = Quantization.per_axis([0.02] * channels, [0] * channels, 0)
    w = m.add(Constant.of(rng.integers(-127, 128, (channels, channels // group, 3, 3), dtype=np.int8),
                          ttype((channels, channels // group, 3, 3), "i8", w_q))).result
    conv = m.add(quant.Conv.from_scales(xq, w, None, Q_OUT, group=group, pads=[1, 1, 1, 1], loc="conv"))
    shape = m.add(Constant.of(np.array([batch, -1], np.int64))).result
    flat = m.add(tensor.Reshape.build(conv.result, shape, loc="flatten"))
    deq = m.add(host.Dequantize.build(flat.result, loc="dequantize"))
    sm = m.add(reduce.Softmax.build(deq.result, loc="softmax"))
    m.set_outputs([sm.result], ["probs"])
    return m


X = np.random.default_rng(1).standard_normal((1, 8, 6, 6)).astype(np.float32)


def by_loc(m: Function) -> dict[str, object]:
    return {op.loc: op for op in m.ops if op.loc}


def test_int8_ops_become_warboy_ops_and_float_ops_stay_with_a_reason() -> None:
    m = quantized_model()
    before = interpret(m, {"x": X})["probs"]
    pm = PassManager("legalize{target=warboy}", registry=PASSES)
    pm.run(m)
    ops = by_loc(m)
    assert ops["conv"].OP_NAME == "warboy.Conv" and ops["flatten"].OP_NAME == "warboy.Reshape"
    soft = ops["softmax"]
    assert soft.OP_NAME == "onnx.Softmax"
    assert soft.extra[REASON] == "'Softmax' computes on f32; the NPU computes INT8 only"
    assert "quantize the model" in soft.extra[FIX]
    assert pm.records[0].statistics == {"ops-on-npu": 2, "ops-on-host": 1}
    np.testing.assert_array_equal(interpret(m, {"x": X})["probs"], before)
    text = print_module(m)
    assert print_module(parse_module(text, registry=DIALECTS)) == text


def test_analysis_mode_converts_nothing() -> None:
    m = quantized_model()
    PassManager("legalize{analyze=true}", registry=PASSES).run(m)
    ops = by_loc(m)
    assert ops["conv"].OP_NAME == "quant.Conv" and ops["conv"].extra[PLACEMENT] == "npu"
    assert ops["softmax"].extra[PLACEMENT] == "host"
    assert REASON not in ops["conv"].extra


@pytest.mark.parametrize(("group", "on_npu"), [(128, True), (129, False)])
def test_table_conditions_apply_to_int8_ops(group: int, on_npu: bool) -> None:
    m = quantized_model(group=group, channels=2 * group)  # grouped, not depthwise
    PassManager("legalize", registry=PASSES).run(m)
    conv = by_loc(m)["conv"]
    assert (conv.OP_NAME == "warboy.Conv") is on_npu
    if not on_npu:
        assert conv.extra[REASON] == "Conv with group 129 > 128 cannot be accelerated"


def test_float_model_is_all_host_with_the_reason() -> None:
    m = Function("f")
    x = m.add_input("x", ttype((1, 3, 8, 8), "f32"))
    w = m.add(Constant.of(np.ones((4, 3, 3, 3), np.float32))).result
    conv = m.add(nn.Conv.build(x, w, loc="conv"))
    m.set_outputs([conv.result], ["y"])
    PassManager("legalize", registry=PASSES).run(m)
    assert conv.OP_NAME == "onnx.Conv" and conv in m
    assert conv.extra[REASON] == "'Conv' computes on f32; the NPU computes INT8 only"


def test_unsupported_operator_reason_comes_first() -> None:
    m = Function("f")
    x = m.add_input("x", ttype((1, 10), "f32"))
    op = m.add(reduce.LogSoftmax.build(x, loc="logsoftmax"))
    m.set_outputs([op.result], ["y"])
    PassManager("legalize", registry=PASSES).run(m)
    assert op.extra[REASON] == "'LogSoftmax' cannot be accelerated yet"


def test_legalize_is_idempotent() -> None:
    m = quantized_model()
    PassManager("legalize", registry=PASSES).run(m)
    text = print_module(m)
    PassManager("legalize", registry=PASSES).run(m)
    assert print_module(m) == text
