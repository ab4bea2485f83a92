"""The host dialect: Quantize/Dequantize against onnxruntime, TFLite-style rounding, and the tiled
layouts of Lower/Unlower."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from furiosa.errors import IRError
from furiosa.ir.attributes import NHWC, NamedLayout
from furiosa.ir.core import Operation, Value
from furiosa.ir.dialects import host
from furiosa.ir.interpreter import interpret, run_op
from furiosa.ir.module import Function
from furiosa.ir.types import F32, F64, I8, I32, U8, ElementType, Quantization, TensorType
from furiosa.ir.verifier import verify_operation
from tests.ir.onnx_reference import run_onnx_node


def run_single(op_builder: Callable[[Value], Operation], x: np.ndarray,
               input_type: TensorType) -> tuple[Operation, np.ndarray]:
    m = Function("t")
    v = m.add_input("x", input_type)
    op = op_builder(v)
    m.add(op)
    m.set_outputs([op.result], ["y"])
    verify_operation(op)
    return op, interpret(m, {"x": x})["y"]


def float_input(seed: int, shape: tuple[int, ...], scale: np.ndarray | float) -> np.ndarray:
    """Random floats with exact ties (k + 1/2 steps) and values beyond the 8-bit range."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 100 * np.asarray(scale)
    ties = (rng.integers(-140, 140, size=shape) + 0.5) * np.asarray(scale)
    return np.where(rng.random(shape) < 0.3, ties, x).astype(np.float32)


# --------------------------------------------------------------------------- Quantize / Dequantize

QUANTIZE_CASES = [
    ((2, 3, 4), I8, [0.05], [-3], None),
    ((5, 7), U8, [0.02], [128], None),
    ((17,), U8, [1.0], [0], None),
    ((2, 3, 4), I8, [0.1, 0.05, 0.2], [0, 5, -9], 1),
    ((4, 2), U8, [0.5, 0.03, 0.07, 0.2], [10, 128, 0, 255], 0),
]


@pytest.mark.parametrize(("shape", "element", "scales", "zps", "axis"), QUANTIZE_CASES)
def test_quantize_matches_onnxruntime(shape: tuple[int, ...], element: ElementType,
                                      scales: list[float], zps: list[int],
                                      axis: int | None) -> None:
    scales = [float(np.float32(s)) for s in scales]  # ONNX scales are float32
    quant = Quantization(scales, zps, axis)
    bshape = quant.broadcast_shape(len(shape))
    step = np.reshape(scales, bshape) if axis is not None else scales[0]
    x = float_input(len(shape), shape, step)
    op, got = run_single(lambda v: host.Quantize.build(
        v, scale=scales, zero_point=zps, axis=axis, to=element), x, TensorType(shape, F32))
    assert op.result.type == TensorType(shape, element, quant)
    scale_arr = np.array(scales if axis is not None else scales[0], dtype=np.float32)
    zp_arr = np.array(zps if axis is not None else zps[0], dtype=element.dtype)
    (want,) = run_onnx_node("QuantizeLinear", [x, scale_arr, zp_arr],
                            axis=axis if axis is not None else 1)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(("shape", "element", "scales", "zps", "axis"),
                         [*QUANTIZE_CASES, ((3, 4), I32, [0.001], [0], None)])
def test_dequantize_matches_onnxruntime(shape: tuple[int, ...], element: ElementType,
                                        scales: list[float], zps: list[int],
                                        axis: int | None) -> None:
    scales = [float(np.float32(s)) for s in scales]
    quant = Quantization(scales, zps, axis)
    rng = np.random.default_rng(sum(shape))
    lo, hi = (-(2**20), 2**20) if element is I32 else (int(element.min), int(element.max))
    x = rng.integers(lo, hi, size=shape, endpoint=True).astype(element.dtype)
    op, got = run_single(lambda v: host.Dequantize.build(v), x, TensorType(shape, element, quant))
    assert op.result.type == TensorType(shape, F32)
    scale_arr = np.array(scales if axis is not None else scales[0], dtype=np.float32)
    zp_arr = np.array(zps if axis is not None else zps[0], dtype=element.dtype)
    (want,) = run_onnx_node("DequantizeLinear", [x, scale_arr, zp_arr],
                            axis=axis if axis is not None else 1)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_quantize_half_away_on_ties() -> None:
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -127.5, 0.49999997], dtype=np.float32)
    _, away = run_single(lambda v: host.Quantize.build(
        v, scale=(1.0,), zero_point=(0,), to=I8, rounding="half_away"), x, TensorType(x.shape, F32))
    assert away.tolist() == [1, 2, 3, -1, -2, -3, 127, -128, 0]
    _, even = run_single(lambda v: host.Quantize.build(
        v, scale=(1.0,), zero_point=(0,), to=I8), x, TensorType(x.shape, F32))
    assert even.tolist() == [0, 2, 2, 0, -2, -2, 126, -128, 0]


def test_quantize_to_type_and_dequantize_round_trip() -> None:
    t = TensorType((3, 5), U8, Quantization.per_tensor(0.04, 100))
    m = Function("rt")
    x = m.add_input("x", TensorType((3, 5), F32))
    qop = host.Quantize.to_type(x, t, "half_away")
    m.add(qop)
    dop = host.Dequantize.build(qop.result, to=F64)
    m.add(dop)
    m.set_outputs([qop.result, dop.result], ["q", "y"])
    assert qop.result.type == t and dop.result.type == TensorType((3, 5), F64)
    data = np.random.default_rng(0).uniform(-3, 5, size=(3, 5)).astype(np.float32)
    out = interpret(m, {"x": data})
    assert out["y"].dtype == np.float64
    np.testing.assert_allclose(out["y"], data, atol=0.02 + 1e-7)  # half a step


def test_quantize_infer_matches_onnx_shape_inference() -> None:
    node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_empty_tensor_value_info("y")],
        initializer=[helper.make_tensor("s", TensorProto.FLOAT, [], [0.1]),
                     helper.make_tensor("z", TensorProto.INT8, [], [3])])
    inferred = onnx.shape_inference.infer_shapes(helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 13)]))
    y = inferred.graph.output[0].type.tensor_type
    m = Function("s")
    op = host.Quantize.build(m.add_input("x", TensorType((2, 3), F32)), scale=(0.1,),
                             zero_point=(3,), to=I8)
    assert tuple(d.dim_value for d in y.shape.dim) == op.result.type.shape
    assert y.elem_type == TensorProto.INT8


# --------------------------------------------------------------------------- Lower / Unlower


def test_lower_hand_checked_layout() -> None:
    # N=1, C=3, H=3, W=2 with Hi=2, Ci=2: Ho = Co = 2; padding holds the zero point 7.
    x = np.arange(18, dtype=np.int8).reshape(1, 3, 3, 2)
    t = TensorType(x.shape, I8, Quantization.per_tensor(0.1, 7))
    op, hcw = run_single(lambda v: host.Lower.build(v, height_tile=2, channel_tile=2), x, t)
    assert op.result.type == TensorType((1, 2, 2, 2, 2, 2), I8, t.quant, NamedLayout("N.Ho.Co.Hi.Ci.W"))
    # hcw[n, ho, co, hi, ci, w] = x[n, co*2 + ci, ho*2 + hi, w]
    assert hcw[0, 0, 0].tolist() == [[[0, 1], [6, 7]], [[2, 3], [8, 9]]]
    assert hcw[0, 0, 1].tolist() == [[[12, 13], [7, 7]], [[14, 15], [7, 7]]]
    assert hcw[0, 1, 0].tolist() == [[[4, 5], [10, 11]], [[7, 7], [7, 7]]]
    assert hcw[0, 1, 1].tolist() == [[[16, 17], [7, 7]], [[7, 7], [7, 7]]]
    op, hwc = run_single(
        lambda v: host.Lower.build(v, height_tile=2, channel_tile=2, order="HWC"), x, t)
    assert op.result.type.layout == NamedLayout("N.Ho.Co.Hi.W.Ci")
    np.testing.assert_array_equal(hwc, hcw.transpose(0, 1, 2, 3, 5, 4))
    # An unquantized tensor pads with 0.
    _, f = run_single(lambda v: host.Lower.build(v, height_tile=2, channel_tile=2),
                      x.astype(np.float32), TensorType(x.shape, F32))
    assert f[0, 1, 1].tolist() == [[[16, 17], [0, 0]], [[0, 0], [0, 0]]]


@settings(max_examples=40, deadline=None)
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 9), st.integers(1, 9), st.integers(1, 5)),
       height_tile=st.integers(1, 5), channel_tile=st.integers(1, 8),
       order=st.sampled_from(["HCW", "HWC"]), element=st.sampled_from([I8, U8, F32]),
       seed=st.integers(0, 1000))
def test_lower_unlower_round_trip(shape: tuple[int, int, int, int], height_tile: int,
                                  channel_tile: int, order: str, element: ElementType,
                                  seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 100, size=shape).astype(element.dtype)
    quant = Quantization.per_tensor(0.1, 3) if element is not F32 else None
    m = Function("rt")
    v = m.add_input("x", TensorType(shape, element, quant))
    lower = host.Lower.build(v, height_tile=height_tile, channel_tile=channel_tile, order=order)
    unlower = host.Unlower.build(lower.result, channels=shape[1], height=shape[2])
    m.append([lower, unlower])
    m.set_outputs([lower.result, unlower.result], ["lowered", "y"])
    for op in (lower, unlower):
        verify_operation(op)
    assert unlower.result.type == v.type
    out = interpret(m, {"x": x})
    np.testing.assert_array_equal(out["y"], x)
    lowered = out["lowered"]
    n, c, h, w = shape
    ho, co = -(-h // height_tile), -(-c // channel_tile)
    expected_shape = ((n, ho, co, height_tile, channel_tile, w) if order == "HCW"
                      else (n, ho, co, height_tile, w, channel_tile))
    assert lowered.shape == expected_shape
    # Every element sits where the layout says, and the padding holds the zero point.
    ni, ci, hi, wi = np.indices(shape)
    outer = (ni, hi // height_tile, ci // channel_tile, hi % height_tile)
    where = (*outer, ci % channel_tile, wi) if order == "HCW" else (*outer, wi, ci % channel_tile)
    np.testing.assert_array_equal(lowered[where], x)
    padding = np.ones(lowered.shape, dtype=bool)
    padding[where] = False
    assert np.all(lowered[padding] == (3 if quant is not None else 0))


def test_quantize_commutes_with_lower() -> None:
    # Lowering pads floats with 0.0, which quantizes to the zero point, the padding of a
    # quantized tensor.
    x = float_input(9, (1, 5, 3, 4), 0.1)
    m = Function("commute")
    v = m.add_input("x", TensorType(x.shape, F32))
    params = dict(scale=(0.1,), zero_point=(-7,), to=I8)
    q_first = host.Quantize.build(v, **params)
    lower_q = host.Lower.build(q_first.result, height_tile=2, channel_tile=4)
    lower_f = host.Lower.build(v, height_tile=2, channel_tile=4)
    q_last = host.Quantize.build(lower_f.result, **params)
    m.append([q_first, lower_q, lower_f, q_last])
    m.set_outputs([lower_q.result, q_last.result], ["a", "b"])
    assert lower_q.result.type == q_last.result.type
    assert q_last.result.type.layout == NamedLayout("N.Ho.Co.Hi.Ci.W")
    out = interpret(m, {"x": x})
    np.testing.assert_array_equal(out["a"], out["b"])


def test_lower_propagates_dynamic_dims() -> None:
    m = Function("dyn")
    v = m.add_input("x", TensorType((-1, 8, -1, 32), F32))
    op = host.Lower.build(v, height_tile=4, channel_tile=4)
    assert op.result.type.shape == (-1, -1, 2, 4, 4, 32)


def _lowered(shape: tuple[int, ...], layout: str | None) -> Function:
    m = Function("l")
    named = NamedLayout(layout) if layout is not None else None
    m.add_input("x", TensorType(shape, I8, Quantization.per_tensor(0.1, 0), named))
    return m


@pytest.mark.parametrize(("build", "message"), [
    (lambda m: host.Lower.build(m.add_input("x", TensorType((2, 3, 4), F32)), height_tile=2,
                                channel_tile=2), "N x C x H x W"),
    (lambda m: host.Lower.build(m.add_input("x", TensorType((1, 2, 4, 4), F32, layout=NHWC)),
                                height_tile=2, channel_tile=2), "layout #layout<NHWC>"),
    (lambda m: host.Lower.build(m.add_input("x", TensorType(
        (1, 2, 4, 4), I8, Quantization.per_axis([0.1, 0.2], [0, 0], 1))), height_tile=2,
        channel_tile=2), "per-axis"),
    (lambda m: host.Lower.build(m.add_input("x", TensorType((1, 2, 4, 4), F32)), height_tile=2,
                                channel_tile=2, order="WHC"), "attribute 'order'"),
    (lambda m: host.Unlower.build(_lowered((1, 2, 2, 2, 2, 4), None).inputs[0], channels=4,
                                  height=4), "expected one of"),
    (lambda m: host.Unlower.build(_lowered((1, 2, 2, 2, 2, 4), "N.Ho.Co.Hi.Ci.W").inputs[0],
                                  channels=5, height=4), "attribute 'channels' is 5"),
    (lambda m: host.Unlower.build(_lowered((1, 2, 2, 2, 4, 2), "N.Ho.Co.Hi.W.Ci").inputs[0],
                                  channels=4, height=2), "attribute 'height' is 2"),
    (lambda m: host.Quantize.build(m.add_input("x", TensorType((2, 3), F32)), scale=(0.1, 0.2),
                                   zero_point=(0,), to=I8), "2 scales but 1 zero points"),
    (lambda m: host.Quantize.build(m.add_input("x", TensorType((2, 3), F32)), scale=(0.1, 0.2),
                                   zero_point=(0, 0), axis=1, to=I8), "axis 1 has size 3"),
    (lambda m: host.Quantize.build(m.add_input("x", TensorType((2, 3), F32)), scale=(0.1,),
                                   zero_point=(0,), axis=4, to=I8), "outside a tensor of rank 2"),
    (lambda m: host.Quantize.build(m.add_input("x", TensorType((2, 3), F32)), scale=(0.1,),
                                   zero_point=(200,), to=I8), "does not fit i8"),
    (lambda m: host.Quantize.build(m.add_input("x", TensorType((2, 3), F32)), scale=(0.1,),
                                   zero_point=(0,), to=I8, rounding="up"), "attribute 'rounding'"),
    (lambda m: host.Quantize.build(m.add_input("x", TensorType((2, 3), F32)), scale=(0.1,),
                                   zero_point=(0,), to=I32), "attribute 'to'"),
    (lambda m: host.Dequantize.build(m.add_input("x", TensorType((2, 3), I8))),
     "must be quantized"),
])
def test_verifier_rejects(build: Callable[[Function], Operation], message: str) -> None:
    with pytest.raises(IRError, match=r"host\.\w+") as info:
        verify_operation(build(Function("bad")))
    assert message in str(info.value)


def test_run_op_on_lowered_tensor() -> None:
    m = _lowered((1, 1, 1, 2, 2, 3), "N.Ho.Co.Hi.Ci.W")
    op = host.Unlower.build(m.inputs[0], channels=2, height=2)
    x = np.arange(12, dtype=np.int8).reshape(1, 1, 1, 2, 2, 3)
    (y,) = run_op(op, [x])
    # y[n, c, h, w] = x[n, 0, 0, h, c, w]
    np.testing.assert_array_equal(y, x[:, 0, 0].transpose(0, 2, 1, 3))
