"""The simulator's 8-bit arithmetic equals the interpreter's quant kernels in each arithmetic
mode, and onnxruntime's integer kernels in onnxruntime mode, bit for bit."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from furiosa.backend.warboy.isa import DType, make
from furiosa.backend.warboy.target import TARGETS
from furiosa.ir.dialects import quant
from furiosa.ir.interpreter import run_op
from furiosa.ir.quantization import combined_scale
from furiosa.ir.types import I8
from tests.backend.warboy.simulator.tiles import fresh, run
from tests.ir.op_examples.quant import ModuleBuilder, q
from tests.ir.test_quant_dialect import values_of

f32 = np.float32


def _conv_on_slices(x: np.ndarray, w: np.ndarray, bias: np.ndarray, params: np.ndarray,
                    mode: str, x_zp: int, y_zp: int, pads: tuple[int, ...],
                    act: tuple[int, int] = (-128, 127)) -> np.ndarray:
    """Conv + requantize with the output channels spread over every slice of warboy-2pe."""
    target = TARGETS["warboy-2pe"]
    n = target.slices
    m = w.shape[0]
    per = m // n
    machine, sram = fresh(target)
    xs = sram.put(np.broadcast_to(x, (n, *x.shape)).copy())
    ws = sram.put(w.reshape(n, per, *w.shape[1:]))
    bs = sram.put(bias.reshape(n, per).astype(np.int32))
    ps = sram.put(params.reshape(n, per) if mode == "onnxruntime"
                  else params.reshape(2, n, per).transpose(1, 0, 2).copy())
    h = x.shape[1] + pads[0] + pads[2] - w.shape[2] + 1
    wo = x.shape[2] + pads[1] + pads[3] - w.shape[3] + 1
    acc = sram.alloc((per, h, wo), DType.I32)
    out = sram.alloc((per, h, wo), DType.I8)
    run(machine, make("mac.conv", dst=acc, src=xs, weights=ws, bias=bs, pads=pads, x_zp=x_zp))
    run(machine, make("vec.requant", dst=out, src=acc, params=ps, mode=mode, out_zp=y_zp,
                      act_min=act[0], act_max=act[1]))
    return machine.read(out, "test").reshape(m, h, wo)


def test_tflite_conv_equals_the_interpreter_kernel() -> None:
    b = ModuleBuilder("sim_conv", 0)
    x = b.input((1, 8, 6, 7), I8, q(0.04, -7))
    m = 128
    w_scales = list(b.rng.uniform(0.002, 0.02, size=m))
    w = b.weights((m, 8, 3, 3), w_scales)
    bias = b.bias(0.04, w_scales, m)
    op = quant.Conv.from_scales(x, w, bias, q(0.25, 3), clamp=(0.0, None), pads=(1, 1, 1, 1))
    xv, wv, bv = values_of(b, op)
    expected = run_op(op, [xv, wv, bv])[0][0]
    params = np.array([op.multiplier, op.shift], dtype=np.int32)
    lo = op.activation_min if op.activation_min is not None else -128
    hi = op.activation_max if op.activation_max is not None else 127
    got = _conv_on_slices(xv[0], wv, bv, params, "tflite", -7, 3, (1, 1, 1, 1), (lo, hi))
    np.testing.assert_array_equal(got, expected)


def test_tflite_add_mul_pool_equal_the_interpreter_kernels() -> None:
    target = TARGETS["warboy"]
    b = ModuleBuilder("sim_add", 1)
    a = b.input((64, 3, 10), I8, q(0.02, 4))
    c = b.input((64, 3, 10), I8, q(0.05, -9))
    add = quant.Add.from_scales(a, c, q(0.06, 1))
    mul = quant.Mul.from_scales(a, c, q(0.01, -2))
    pool_in = b.input((1, 64, 6, 6), I8, q(0.02, 4))
    pool = quant.AveragePool.build(pool_in, kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1))
    av, cv = b.feeds[a.name], b.feeds[c.name]
    machine, sram = fresh(target)
    ma, mc = sram.put(av), sram.put(cv)
    dst_add, dst_mul = sram.alloc((3, 10), DType.I8), sram.alloc((3, 10), DType.I8)
    run(machine, make("vec.add", dst=dst_add, a=ma, b=mc, a_zp=4, b_zp=-9, out_zp=1,
                      left_shift=add.left_shift, a_mult=add.a_multiplier, a_shift=add.a_shift,
                      b_mult=add.b_multiplier, b_shift=add.b_shift,
                      out_mult=add.output_multiplier, out_shift=add.output_shift))
    run(machine, make("vec.mul", dst=dst_mul, a=ma, b=mc, a_zp=4, b_zp=-9, out_zp=-2,
                      mult=mul.multiplier, shift=mul.shift))
    np.testing.assert_array_equal(machine.read(dst_add, "t"), run_op(add, [av, cv])[0])
    np.testing.assert_array_equal(machine.read(dst_mul, "t"), run_op(mul, [av, cv])[0])
    pv = b.feeds[pool_in.name]
    # One channel per slice: the (1, C, H, W) tensor tiled by channel.
    src = sram.put(pv.reshape(64, 1, 6, 6))
    dst_pool = sram.alloc((1, 3, 3), DType.I8)
    run(machine, make("vec.pool", dst=dst_pool, src=src, kind="avg", kernel=(3, 3), stride=(2, 2),
                      pads=(1, 1, 1, 1)))
    np.testing.assert_array_equal(machine.read(dst_pool, "t").reshape(1, 64, 3, 3),
                                  run_op(pool, [pv])[0])


def _ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> np.ndarray:
    so = ort.SessionOptions()
    so.add_session_config_entry("session.qdqisint8allowed", "1")
    so.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def _scalar(name: str, value: float | int, dtype: type) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(value, dtype=dtype), name)


def test_onnxruntime_conv_equals_qlinearconv() -> None:
    rng = np.random.default_rng(0)
    m, c = 256, 16
    x = rng.integers(-128, 128, size=(1, c, 9, 11)).astype(np.int8)
    w = rng.integers(-127, 128, size=(m, c, 3, 3)).astype(np.int8)
    sw = rng.uniform(0.001, 0.01, size=m).astype(np.float32)
    bias = rng.integers(-20000, 20000, size=m).astype(np.int32)
    sx, sy, zx, zy = 0.05, 0.3, -4, 6
    inits = [_scalar("sx", sx, np.float32), _scalar("zx", zx, np.int8),
             numpy_helper.from_array(w, "w"), numpy_helper.from_array(sw, "sw"),
             numpy_helper.from_array(np.zeros(m, np.int8), "zw"),
             _scalar("sy", sy, np.float32), _scalar("zy", zy, np.int8),
             numpy_helper.from_array(bias, "b")]
    node = helper.make_node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "b"],
                            ["y"], pads=[1, 1, 1, 1])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.INT8, x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.INT8, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    expected = _ort(model, {"x": x})[0]
    got = _conv_on_slices(x[0], w, bias, combined_scale(sx, sw, sy), "onnxruntime", zx, zy,
                          (1, 1, 1, 1))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("op_type", ["QLinearAdd", "QLinearMul"])
def test_onnxruntime_add_mul_equal_contrib_kernels(op_type: str) -> None:
    rng = np.random.default_rng(1)
    target = TARGETS["warboy"]
    a = rng.integers(-128, 128, size=(64, 4, 64)).astype(np.int8)
    b = rng.integers(-128, 128, size=(64, 4, 64)).astype(np.int8)
    sa, za, sb, zb, sc, zc = 0.021, 5, 0.047, -11, 0.055, 3
    inits = [_scalar("sa", sa, np.float32), _scalar("za", za, np.int8),
             _scalar("sb", sb, np.float32), _scalar("zb", zb, np.int8),
             _scalar("sc", sc, np.float32), _scalar("zc", zc, np.int8)]
    node = helper.make_node(op_type, ["a", "sa", "za", "b", "sb", "zb", "sc", "zc"], ["c"],
                            domain="com.microsoft")
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("a", TensorProto.INT8, a.shape),
                      helper.make_tensor_value_info("b", TensorProto.INT8, b.shape)],
        [helper.make_tensor_value_info("c", TensorProto.INT8, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("com.microsoft", 1)])
    expected = _ort(model, {"a": a, "b": b})
    machine, sram = fresh(target)
    ma, mb = sram.put(a), sram.put(b)
    dst = sram.alloc((4, 64), DType.I8)
    if op_type == "QLinearAdd":
        inst = make("vec.add", dst=dst, a=ma, b=mb, mode="onnxruntime", a_zp=za, b_zp=zb, out_zp=zc,
                    a_ratio=f32(sa) / f32(sc), b_ratio=f32(sb) / f32(sc))
    else:
        inst = make("vec.mul", dst=dst, a=ma, b=mb, mode="onnxruntime", a_zp=za, b_zp=zb,
                    out_zp=zc, scale=f32(f32(sa) * f32(sb)) / f32(sc))
    run(machine, inst)
    got = machine.read(dst, "t")
    mismatches = int((got != expected).sum())
    assert mismatches == 0, f"{mismatches} of {got.size} differ from onnxruntime"


def test_onnxruntime_conv_equals_the_interpreter_kernel() -> None:
    """The same conv in onnxruntime arithmetic: MAC arrays and requantizer against the
    interpreter's quant.Conv kernel in that mode."""
    b = ModuleBuilder("sim_conv_ort", 2)
    x = b.input((1, 8, 6, 7), I8, q(0.04, -7))
    m = 128
    w_scales = list(b.rng.uniform(0.002, 0.02, size=m))
    w = b.weights((m, 8, 3, 3), w_scales)
    bias = b.bias(0.04, w_scales, m)
    op = quant.Conv.from_scales(x, w, bias, q(0.25, 3), pads=(1, 1, 1, 1))
    op.arithmetic = "onnxruntime"
    xv, wv, bv = values_of(b, op)
    expected = run_op(op, [xv, wv, bv])[0][0]
    got = _conv_on_slices(xv[0], wv, bv, combined_scale(0.04, np.array(w_scales, f32), 0.25),
                          "onnxruntime", -7, 3, (1, 1, 1, 1))
    np.testing.assert_array_equal(got, expected)


def test_onnxruntime_add_mul_equal_the_interpreter_kernels() -> None:
    target = TARGETS["warboy"]
    b = ModuleBuilder("sim_add_ort", 3)
    a = b.input((64, 3, 10), I8, q(0.02, 4))
    c = b.input((64, 3, 10), I8, q(0.05, -9))
    add = quant.Add.from_scales(a, c, q(0.06, 1))
    mul = quant.Mul.from_scales(a, c, q(0.01, -2))
    add.arithmetic = mul.arithmetic = "onnxruntime"
    av, cv = b.feeds[a.name], b.feeds[c.name]
    machine, sram = fresh(target)
    ma, mc = sram.put(av), sram.put(cv)
    dst_add, dst_mul = sram.alloc((3, 10), DType.I8), sram.alloc((3, 10), DType.I8)
    run(machine, make("vec.add", dst=dst_add, a=ma, b=mc, mode="onnxruntime", a_zp=4, b_zp=-9,
                      out_zp=1, a_ratio=f32(0.02) / f32(0.06), b_ratio=f32(0.05) / f32(0.06)))
    run(machine, make("vec.mul", dst=dst_mul, a=ma, b=mc, mode="onnxruntime", a_zp=4, b_zp=-9,
                      out_zp=-2, scale=f32(f32(0.02) * f32(0.05)) / f32(0.01)))
    np.testing.assert_array_equal(machine.read(dst_add, "t"), run_op(add, [av, cv])[0])
    np.testing.assert_array_equal(machine.read(dst_mul, "t"), run_op(mul, [av, cv])[0])
