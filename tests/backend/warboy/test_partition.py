"""partition: NPU regions without cycles, tiny regions back to the host with the numbers,
quantize / dequantize / lower / unlower placed by the width rule; the interpreter gives the
same results before and after, and a second run changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from furiosa.backend.warboy.cost import (
    format_bytes,
    format_macs,
    format_seconds,
    host_seconds,
    npu_seconds,
    op_macs,
    region_cost,
    transfer_seconds,
)
from furiosa.backend.warboy.legalize import FIX, PLACEMENT, REASON
from furiosa.backend.warboy.partition import LOWER, UNLOWER, check_acyclic, form_regions
from furiosa.backend.warboy.target import WARBOY, WARBOY_2PE
from furiosa.errors import PassError
from furiosa.ir.core import Operation, Value
from furiosa.ir.dialects import host, quant
from furiosa.ir.dialects.onnx import elementwise, nn
from furiosa.ir.dialects.onnx.base import Constant
from furiosa.ir.interpreter import interpret
from furiosa.ir.module import Function, Module
from furiosa.ir.parser import parse_module
from furiosa.ir.printer import print_module
from furiosa.ir.types import Quantization
from furiosa.ir.types import tensor as ttype
from furiosa.passes import PassManager
from tests.backend.warboy.test_legalize import quantized_model
from tests.registry import DIALECTS, PASSES

Q_IN = Quantization.per_tensor(0.05, -3)
Q_MID = Quantization.per_tensor(0.1, 2)
RNG = np.random.default_rng(7)


def add_input(m: Function, name: str, shape: tuple[int, ...]) -> Value:
    x = m.add_input(name, ttype(shape, "f32"))
    return m.add(host.Quantize.to_type(x, ttype(shape, "i8", Q_IN), loc=f"quantize_{name}")).result


def conv(m: Function, x: Value, out_channels: int, loc: str) -> Operation:
    """A 3x3 same-size quantized convolution: 9 · C_in MACs per output element."""
    c = x.type.shape[1]
    w = m.add(Constant.of(RNG.integers(-127, 128, (out_channels, c, 3, 3), dtype=np.int8),
                          ttype((out_channels, c, 3, 3), "i8", Quantization.per_tensor(0.01)))).result
    return m.add(quant.Conv.from_scales(x, w, None, Q_MID, pads=[1, 1, 1, 1], loc=loc))


def dequantize(m: Function, v: Value, loc: str) -> Value:
    return m.add(host.Dequantize.build(v, loc=loc)).result


def run(m: Function, pipeline: str = "legalize,partition") -> dict[str, int]:
    pm = PassManager(pipeline, registry=PASSES)
    pm.run(m)
    return pm.records[-1].statistics


def by_loc(m: Function) -> dict[str, Operation]:
    """Every op by its loc, in whichever function of the module it now is."""
    return {op.loc: op for f in Module.of(m).functions for op in f.ops if op.loc}


def region(op: Operation) -> int | None:
    """The number of the NPU region function holding ``op`` (None on the host)."""
    name = op.parent.name
    return int(name.rsplit("_", 1)[1]) if name.startswith("npu_region_") else None


def inputs_of(m: Function) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {v.name: rng.standard_normal(v.type.shape).astype(np.float32) for v in m.inputs}


# 32 channels of 16 x 32 with a 3x3 kernel over 32 channels: 4.7 MMACs, worth the NPU.
SHAPE = (1, 32, 16, 32)


def diamond() -> Function:
    """a -> (dequantize -> sigmoid -> quantize) -> b, and a -> b directly; b -> c."""
    m = Function("diamond")
    x = add_input(m, "x", SHAPE)
    a = conv(m, x, 32, "a")
    h = m.add(elementwise.Sigmoid.build(dequantize(m, a.result, "dequantize_a"), loc="h"))
    hq = m.add(host.Quantize.to_type(h.result, ttype(SHAPE, "i8", Q_MID), loc="quantize_h"))
    b = m.add(quant.Add.from_scales(a.result, hq.result, Q_MID, loc="b"))
    c = conv(m, b.result, 32, "c")
    m.set_outputs([dequantize(m, c.result, "dequantize_c")], ["y"])
    return m


def test_a_merge_that_would_form_a_cycle_is_refused() -> None:
    m = diamond()
    before = interpret(m, inputs_of(m))["y"]
    stats = run(m)
    ops = by_loc(m)
    assert region(ops["a"]) == 0
    assert region(ops["b"]) == region(ops["c"]) == 1
    assert ops["h"].OP_NAME == "onnx.Sigmoid" and region(ops["h"]) is None
    assert stats["regions"] == 2 and stats["ops-on-npu"] == 3
    assert stats["npu-macs"] == 2 * 32 * 16 * 32 * 32 * 9 and stats["host-macs"] == 0
    np.testing.assert_array_equal(interpret(m, inputs_of(m))["y"], before)


def test_the_acyclicity_check_names_the_ops_of_a_naive_merge() -> None:
    m = diamond()
    run(m, "legalize")
    ops = by_loc(m)
    with pytest.raises(PassError, match=r"NPU regions form a cycle: .*onnx.Sigmoid 'h'.*"
                                        r"a region must never need a host result"):
        check_acyclic(m, [[ops["a"], ops["b"], ops["c"]]])
    check_acyclic(m, form_regions(m))


def test_a_chain_is_one_region() -> None:
    m = Function("chain")
    x = add_input(m, "x", SHAPE)
    c1 = conv(m, x, 32, "c1")
    c2 = conv(m, c1.result, 32, "c2")
    pool = m.add(quant.MaxPool.build(c2.result, kernel_shape=[2, 2], strides=[2, 2], loc="pool"))
    m.set_outputs([dequantize(m, pool.result, "dequantize")], ["y"])
    stats = run(m)
    ops = by_loc(m)
    assert [region(ops[n]) for n in ("c1", "c2", "pool")] == [0, 0, 0]
    assert stats["regions"] == 1 and stats["ops-on-npu"] == 3
    # Activations enter at c1 and leave at the pool: where they are lowered and unlowered.
    assert ops["c1"].extra[LOWER] == "npu" and UNLOWER not in ops["c1"].extra
    assert ops["pool"].extra[UNLOWER] == "host"  # the pooled width is 16
    assert LOWER not in ops["c2"].extra and UNLOWER not in ops["c2"].extra


def test_independent_subgraphs_are_separate_regions_numbered_in_print_order() -> None:
    m = Function("two")
    outs = []
    for name in ("p", "q"):
        c = conv(m, add_input(m, name, SHAPE), 32, f"conv_{name}")
        outs.append(dequantize(m, c.result, f"dequantize_{name}"))
    m.set_outputs(outs, ["yp", "yq"])
    stats = run(m)
    ops = by_loc(m)
    assert (region(ops["conv_p"]), region(ops["conv_q"])) == (0, 1)
    assert stats["regions"] == 2


def test_a_host_op_between_two_convolutions_separates_their_regions() -> None:
    m = Function("split")
    c1 = conv(m, add_input(m, "x", SHAPE), 32, "c1")
    h = m.add(elementwise.Sigmoid.build(dequantize(m, c1.result, "dq"), loc="h"))
    hq = m.add(host.Quantize.to_type(h.result, ttype(SHAPE, "i8", Q_MID), loc="q")).result
    c2 = conv(m, hq, 32, "c2")
    m.set_outputs([dequantize(m, c2.result, "dq2")], ["y"])
    run(m)
    ops = by_loc(m)
    assert (region(ops["c1"]), region(ops["c2"])) == (0, 1)


def test_a_join_merges_the_regions_of_both_branches() -> None:
    m = Function("join")
    left = conv(m, add_input(m, "p", SHAPE), 32, "left")
    right = conv(m, add_input(m, "q", SHAPE), 32, "right")
    add = m.add(quant.Add.from_scales(left.result, right.result, Q_MID, loc="add"))
    m.set_outputs([dequantize(m, add.result, "dq")], ["y"])
    stats = run(m)
    ops = by_loc(m)
    assert {region(ops[n]) for n in ("left", "right", "add")} == {0}
    assert stats["regions"] == 1


def random_graph(seed: int) -> Function:
    """A random DAG of 5 to 40 adds, each on the NPU (warboy) or the host (quant) at random."""
    from furiosa.backend.warboy.dialect import TWINS

    rng = np.random.default_rng(seed)
    m = Function("random")
    values = [add_input(m, f"x{i}", (1, 4)) for i in range(3)]
    npu_share = rng.random()
    for i in range(int(rng.integers(5, 40))):
        a, b = (values[j] for j in rng.choice(len(values), 2))
        cls = TWINS[quant.Add] if rng.random() < npu_share else quant.Add
        values.append(m.add(cls.from_scales(a, b, Q_MID, loc=f"op{i}")).result)  # type: ignore[attr-defined]
    m.set_outputs(values[-2:], ["y0", "y1"])
    return m


# Seeds past 40 give graphs where a cycle only appears when another region counts as one
# node: a region's op reads the group, and another op of that region leads back into it.
@pytest.mark.parametrize("seed", [*range(40), 708, 742, 1493, 1691, 2661])
def test_random_graphs_give_acyclic_regions(seed: int) -> None:
    m = random_graph(seed)
    regions = form_regions(m)
    check_acyclic(m, regions)
    npu_ops = [op for op in m.ops if op.OP_NAME.startswith("warboy.")]
    assert sorted(id(op) for r in regions for op in r) == sorted(id(op) for op in npu_ops)


def test_each_region_is_a_function_called_from_the_host_in_program_order() -> None:
    m = diamond()
    run(m)
    module = Module.of(m)
    assert [f.name for f in module.functions] == ["diamond", "npu_region_0", "npu_region_1"]
    calls = [op for op in m.ops if op.OP_NAME == "func.Call"]
    assert [op.callee for op in calls] == ["npu_region_0", "npu_region_1"]
    for call in calls:
        callee = module.function(call.callee)
        assert [v.type for v in call.operands] == callee.input_types
        assert [r.type for r in call.results] == callee.output_types
        assert all(op.OP_NAME.startswith("warboy.") or op.OP_NAME == "onnx.Constant"
                   for op in callee.ops)
    assert not any(op.OP_NAME.startswith("warboy.") for op in m.ops)
    # The text form holds all three functions and reads back the same.
    text = print_module(module)
    assert print_module(parse_module(text, registry=DIALECTS)) == text


def test_ops_reading_the_same_tensor_share_a_region() -> None:
    m = Function("siblings")
    x = add_input(m, "x", SHAPE)
    outs = [dequantize(m, conv(m, x, 32, f"conv{i}").result, f"dq{i}") for i in range(2)]
    m.set_outputs(outs, ["y0", "y1"])
    stats = run(m)
    ops = by_loc(m)
    assert region(ops["conv0"]) == region(ops["conv1"]) == 0
    assert stats["regions"] == 1


def test_a_tiny_region_returns_to_the_host_with_the_numbers() -> None:
    m = quantized_model()
    x = inputs_of(m)
    before = interpret(m, x)["probs"]
    stats = run(m, "legalize,partition{host-small-regions=true}")
    ops = by_loc(m)
    assert ops["conv"].OP_NAME == "quant.Conv" and ops["flatten"].OP_NAME == "onnx.Reshape"
    reason = ("a region of 2 ops and 20.7 kMACs saves 0.41 µs on the NPU but its 2 transfers "
              "(576 bytes) cost 10.0 µs; it runs on the host")
    assert ops["conv"].extra[REASON] == ops["flatten"].extra[REASON] == reason
    assert "at least 1.0 MMACs" in ops["conv"].extra[FIX]
    assert stats == {"regions": 0, "ops-on-npu": 0, "ops-returned-to-host": 2, "npu-macs": 0,
                     "host-macs": 8 * 8 * 6 * 6 * 9}
    # No region borders the quantize any more: it keeps legalize's reason, and no placement.
    assert PLACEMENT not in ops["quantize_x"].extra
    assert ops["quantize_x"].extra[REASON] == ("converts data between host ops; no NPU region "
                                               "borders it")
    np.testing.assert_array_equal(interpret(m, x)["probs"], before)
    text = print_module(m)
    assert print_module(parse_module(text, registry=DIALECTS)) == text


def test_only_the_tiny_region_returns() -> None:
    m = Function("mixed")
    big = conv(m, add_input(m, "x", SHAPE), 32, "big")
    h = m.add(elementwise.Sigmoid.build(dequantize(m, big.result, "dq"), loc="h"))
    hq = m.add(host.Quantize.to_type(h.result, ttype(SHAPE, "i8", Q_MID), loc="q")).result
    pool = m.add(quant.MaxPool.build(hq, kernel_shape=[2, 2], strides=[2, 2], loc="pool"))
    m.set_outputs([dequantize(m, pool.result, "dq2")], ["y"])
    stats = run(m, "legalize,partition{host-small-regions=true}")
    ops = by_loc(m)
    assert region(ops["big"]) == 0
    assert ops["pool"].OP_NAME == "quant.MaxPool"
    assert ops["pool"].extra[REASON].startswith("a region of 1 op and 0 MACs saves nothing on "
                                                "the NPU but its 2 transfers (20.5 kB) cost")
    assert stats["ops-returned-to-host"] == 1 and stats["regions"] == 1


def matmul_model(k: int, n: int) -> Function:
    m = Function("mm")
    a = add_input(m, "a", (1, k))
    b = m.add(Constant.of(RNG.integers(-127, 128, (k, n), dtype=np.int8),
                          ttype((k, n), "i8", Quantization.per_tensor(0.01)))).result
    mm = m.add(quant.MatMul.from_scales(a, b, None, Q_MID, loc="mm"))
    m.set_outputs([dequantize(m, mm.result, "dq")], ["y"])
    return m


def test_a_small_region_that_saves_more_than_its_transfers_stays() -> None:
    # 786 kMACs < 1 MMAC, but 15.7 µs on the host against 10.1 µs of transfers.
    m = matmul_model(1024, 768)
    run(m)
    mm = by_loc(m)["mm"]
    assert mm.OP_NAME == "warboy.MatMul" and region(mm) == 0
    cost = region_cost(mm.parent, [mm], WARBOY)
    assert cost.macs == 1024 * 768 < WARBOY.min_region_macs
    assert cost.transfers == 2 and cost.transfer_bytes == 1024 + 768
    assert cost.saving_s > cost.transfer_s and not cost.returns_to_host(WARBOY)


@pytest.mark.parametrize(("width", "on_npu"), [(32, True), (64, True), (30, False)])
def test_quantize_and_dequantize_run_on_the_npu_only_for_widths_of_multiples_of_32(
        width: int, on_npu: bool) -> None:
    m = Function("w")
    x = add_input(m, "x", (1, 32, 16, width))
    c = conv(m, x, 32, "conv")
    m.set_outputs([dequantize(m, c.result, "dequantize")], ["y"])
    run(m)
    ops = by_loc(m)
    q, dq = ops["quantize_x"], ops["dequantize"]
    place = "npu" if on_npu else "host"
    assert q.extra[PLACEMENT] == dq.extra[PLACEMENT] == place
    assert ops["conv"].extra[LOWER] == ops["conv"].extra[UNLOWER] == place
    if on_npu:
        assert REASON not in q.extra and REASON not in dq.extra
    else:
        assert q.extra[REASON] == ("the last axis has 30 elements, not a multiple of 32: "
                                   "quantizing runs on the host")
        assert dq.extra[REASON] == ("the last axis has 30 elements, not a multiple of 32: "
                                    "dequantizing runs on the host")
        assert "multiple of 32" in q.extra[FIX]


def test_a_rank_1_tensor_has_no_width_axis() -> None:
    m = Function("v")
    x = m.add_input("x", ttype((64,), "f32"))
    xq = m.add(host.Quantize.to_type(x, ttype((64,), "i8", Q_IN), loc="quantize_x")).result
    b = m.add(Constant.of(RNG.integers(-127, 128, (64, 32768), dtype=np.int8),
                          ttype((64, 32768), "i8", Quantization.per_tensor(0.01)))).result
    mm = m.add(quant.MatMul.from_scales(xq, b, None, Q_MID, loc="mm"))
    m.set_outputs([dequantize(m, mm.result, "dq")], ["y"])
    run(m)
    ops = by_loc(m)
    assert region(ops["mm"]) == 0
    assert ops["quantize_x"].extra[PLACEMENT] == "host"
    assert ops["quantize_x"].extra[REASON] == ("the tensor has rank 1, so it has no width axis: "
                                               "quantizing runs on the host")


def test_partition_is_idempotent() -> None:
    for build in (diamond, quantized_model):
        m = build()
        run(m)
        text = print_module(Module.of(m))
        stats = run(m, "partition")
        assert print_module(Module.of(m)) == text
        run(m, "legalize,partition")
        assert print_module(Module.of(m)) == text
        assert stats["ops-returned-to-host"] == 0


def test_the_2pe_target_runs_the_same_regions() -> None:
    m = diamond()
    stats = run(m, "legalize{target=warboy-2pe},partition{target=warboy-2pe}")
    assert stats["regions"] == 2
    macs = 1 << 24
    assert npu_seconds(macs, WARBOY_2PE) == pytest.approx(npu_seconds(macs, WARBOY) / 2)


# ---------------------------------------------------------------- the cost model


def test_mac_counts_come_from_the_shapes() -> None:
    m = Function("macs")
    x = m.add_input("x", ttype((1, 4, 8, 8), "f32"))
    w = m.add(Constant.of(np.ones((6, 2, 3, 3), np.float32))).result
    grouped = m.add(nn.Conv.build(x, w, group=2, pads=[1, 1, 1, 1]))
    assert op_macs(grouped) == 6 * 8 * 8 * 2 * 9
    wt = m.add(Constant.of(np.ones((4, 3, 2, 2), np.float32))).result
    up = m.add(nn.ConvTranspose.build(x, wt, strides=[2, 2]))
    assert op_macs(up) == 4 * 8 * 8 * 3 * 4
    a = m.add_input("a", ttype((2, 5, 7), "f32"))
    bm = m.add(Constant.of(np.ones((7, 3), np.float32))).result
    assert op_macs(m.add(nn.MatMul.build(a, bm))) == 2 * 5 * 3 * 7
    g = m.add_input("g", ttype((7, 5), "f32"))
    assert op_macs(m.add(nn.Gemm.build(g, bm, transA=1))) == 5 * 3 * 7
    assert op_macs(m.add(elementwise.Sigmoid.build(x))) == 0
    q = quantized_model()
    assert op_macs(by_loc(q)["conv"]) == 8 * 6 * 6 * 8 * 9
    run(q, "legalize")
    assert op_macs(by_loc(q)["conv"]) == 8 * 6 * 6 * 8 * 9  # the warboy twin counts the same


def test_fully_connected_macs() -> None:
    m = Function("fc")
    a = add_input(m, "a", (2, 16))
    b = m.add(Constant.of(np.ones((16, 4), np.int8),
                          ttype((16, 4), "i8", Quantization.per_tensor(0.01)))).result
    fc = m.add(quant.FullyConnected.from_scales(a, b, None, Q_MID))
    assert op_macs(fc) == 2 * 4 * 16


def test_cost_formulas_read_the_target() -> None:
    t = WARBOY
    assert npu_seconds(8192 * 2000, t) == pytest.approx(1e-6)  # 2000 cycles at 2 GHz
    assert host_seconds(50_000, t) == pytest.approx(50_000 / t.host_macs_per_second)
    assert transfer_seconds(16_000, 2, t) == pytest.approx(16_000 / 16e9 + 2 * 5e-6)
    assert (format_macs(12_345), format_macs(999), format_macs(1)) == ("12.3 kMACs", "999 MACs",
                                                                       "1 MAC")
    assert (format_seconds(6.1e-6), format_seconds(2e-4), format_seconds(3e-3)) == (
        "6.10 µs", "200.0 µs", "3.00 ms")
    assert (format_bytes(576), format_bytes(20_480)) == ("576 bytes", "20.5 kB")
