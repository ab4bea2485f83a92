"""The TFLite frontend agrees with LiteRT, operator by operator and on small networks.

Models are built in code (``tests/frontends/tflite_builder.py``) with seeded random weights,
imported, run through the IR interpreter and through LiteRT's reference kernels
(``OpResolverType.BUILTIN_REF``): int8/uint8 results must be identical, float results within
1e-5 (relative to the output's magnitude). LiteRT's optimized kernels compute some int8
operators differently (fixed point where the reference uses double, float interpolation,
other rounding orders): against them results may differ by one quantization step where a
test says so, and against the default set-up (with the XNNPACK delegate) always.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from furiosa.frontends.tflite import SUPPORTED_OPERATORS, import_tflite
from furiosa.frontends.tflite.reader import operator_name
from furiosa.ir.interpreter import interpret
from furiosa.ir.parser import parse_module
from furiosa.ir.printer import print_module
from furiosa.ir.verifier import verify_module
from furiosa.passes.manager import PassManager
from tests.frontends.tflite_builder import (
    BUILTIN_ONLY,
    DEPRECATED_ONLY,
    PLACEHOLDER,
    Activation,
    BuiltinOperator,
    ModelBuilder,
    Padding,
)
from tests.registry import DIALECTS, PASSES

litert = pytest.importorskip("ai_edge_litert.interpreter")

OP = BuiltinOperator
REFERENCE = litert.OpResolverType.BUILTIN_REF
OPTIMIZED = litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
DEFAULT = litert.OpResolverType.AUTO  # optimized kernels plus the XNNPACK delegate
FLOAT_TOLERANCE = 1e-5


def run_litert(data: bytes, feeds: dict[str, np.ndarray],
               resolver: object) -> dict[str, np.ndarray]:
    interp = litert.Interpreter(model_content=data, experimental_op_resolver_type=resolver)
    interp.allocate_tensors()
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], feeds[d["name"]])
    interp.invoke()
    return {d["name"]: interp.get_tensor(d["index"]) for d in interp.get_output_details()}


def random_feeds(module_inputs: list, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for v in module_inputs:
        t = v.type
        if t.element.is_integer:
            info = np.iinfo(t.dtype)
            feeds[v.name] = rng.integers(info.min, int(info.max) + 1, t.shape).astype(t.dtype)
        else:
            feeds[v.name] = rng.normal(0.0, 2.0, t.shape).astype(t.dtype)
    return feeds


def compare(got: np.ndarray, want: np.ndarray, what: str, step: int = 0) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, what
    if got.dtype.kind == "f":
        scale = float(np.max(np.abs(want), initial=0.0)) or 1.0
        np.testing.assert_allclose(got, want, rtol=FLOAT_TOLERANCE,
                                   atol=FLOAT_TOLERANCE * scale, err_msg=what)
    elif step == 0:
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
        assert diff.max(initial=0) <= step, f"{what}: off by {diff.max()}"


def check(model: ModelBuilder, seed: int = 0, optimized_step: int = 0,
          positive: bool = False, all_levels: bool = False) -> None:
    """Import, verify, and compare with LiteRT's reference kernels (exact), its optimized
    kernels (``optimized_step``) and its default set-up with XNNPACK (one step).
    ``positive`` feeds float inputs their absolute values (plus a margin), for operators
    defined on positive numbers only; ``all_levels`` feeds 8-bit inputs every stored value
    (shuffled, repeated to the input's size), for operators imported as lookup tables."""
    data = model.build()
    module = import_tflite(data)
    verify_module(module)
    dead = [op for op in module.main.ops if not any(r.uses or r in module.main.outputs for r in op.results)]
    assert not dead, f"unused ops: {dead}"
    text = print_module(module)
    assert print_module(parse_module(text, "imported.fir", registry=DIALECTS)) == text
    feeds = random_feeds(module.main.inputs, seed)
    if positive:
        feeds = {k: np.abs(v) + np.float32(0.1) if v.dtype.kind == "f" else v
                 for k, v in feeds.items()}
    if all_levels:
        rng = np.random.default_rng(seed)
        for k, v in feeds.items():
            if v.dtype in (np.int8, np.uint8):
                info = np.iinfo(v.dtype)
                levels = rng.permutation(np.arange(info.min, int(info.max) + 1)).astype(v.dtype)
                assert v.size >= levels.size, f"input {k} is too small to hold every level"
                feeds[k] = np.resize(levels, v.shape)
    got = interpret(module, feeds)
    for resolver, step in ((REFERENCE, 0), (OPTIMIZED, optimized_step), (DEFAULT, 1)):
        want = run_litert(data, feeds, resolver)
        assert set(want) == set(got)
        for name in want:
            compare(got[name], want[name], f"{name} vs {resolver}", step)


# --------------------------------------------------------------------------- model helpers


@dataclass
class Q:
    """Random int8/uint8 quantization parameters for one test model."""

    rng: np.random.Generator
    dtype: type = np.int8
    made: list = field(default_factory=list)

    def act(self, lo: float = 0.01, hi: float = 0.1) -> dict:
        zp_range = (-20, 20) if self.dtype == np.int8 else (108, 148)
        return {"scale": float(self.rng.uniform(lo, hi)),
                "zero_point": int(self.rng.integers(*zp_range))}

    def weights(self, shape: tuple[int, ...], channels: int | None) -> tuple[np.ndarray, dict]:
        data = self.rng.integers(-127, 128, shape).astype(np.int8)
        n = channels or 1
        scales = self.rng.uniform(0.002, 0.02, n)
        return data, {"scale": scales, "zero_point": [0] * n}


def accumulation_scale(x: dict, w_scales: np.ndarray, depth: int) -> float:
    """An output scale that keeps a product-sum of ``depth`` terms mostly in range."""
    return float(74 * 73 * x["scale"] * np.mean(w_scales) * np.sqrt(depth) * 3 / 127)


def conv_model(dtype: type, *, depthwise: bool = False, multiplier: int = 1,
               shape: tuple[int, ...] = (1, 9, 8, 3), kernel: tuple[int, int] = (3, 3),
               out_channels: int = 4, padding: int = Padding.SAME, stride: tuple[int, int] = (1, 1),
               dilation: tuple[int, int] = (1, 1), act: int = Activation.NONE,
               per_channel: bool = True, groups: int = 1, seed: int = 0) -> ModelBuilder:
    rng = np.random.default_rng(seed)
    m = ModelBuilder()
    channels = shape[3]
    if depthwise:
        out_channels = channels * multiplier
        w_shape = (1, *kernel, out_channels)
        axis = 3
    else:
        w_shape = (out_channels, *kernel, channels // groups)
        axis = 0
    depth = kernel[0] * kernel[1] * (1 if depthwise else channels // groups)
    if dtype == np.float32:
        x = m.input("x", shape, np.float32)
        w = m.const("w", rng.normal(0, 0.3, w_shape).astype(np.float32))
        b = m.const("b", rng.normal(0, 0.5, out_channels).astype(np.float32))
        y_quant: dict = {}
    else:
        q = Q(rng, dtype)
        xq = q.act()
        x = m.input("x", shape, dtype, **xq)
        data, wq = q.weights(w_shape, out_channels if per_channel else None)
        w = m.const("w", data, axis=axis, **wq)
        b = m.const("b", rng.integers(-3000, 3000, out_channels).astype(np.int32),
                    scale=xq["scale"] * wq["scale"], axis=0)
        y_quant = {"scale": accumulation_scale(xq, wq["scale"], depth),
                   "zero_point": int(rng.integers(-10, 10)) if dtype == np.int8 else 128}
    out_shape = conv_out_shape(shape, kernel, stride, dilation, padding, out_channels)
    y = m.tensor("y", out_shape, dtype, **y_quant)
    options = {"Padding": padding, "StrideW": stride[1], "StrideH": stride[0],
               "FusedActivationFunction": act, "DilationWFactor": dilation[1],
               "DilationHFactor": dilation[0]}
    if depthwise:
        m.op(OP.DEPTHWISE_CONV_2D, [x, w, b], [y], "DepthwiseConv2DOptions",
             DepthMultiplier=multiplier, version=3, **options)
    else:
        m.op(OP.CONV_2D, [x, w, b], [y], "Conv2DOptions", version=3, **options)
    m.output(y)
    return m


def conv_out_shape(shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
                   dilation: tuple[int, int], padding: int, channels: int) -> tuple[int, ...]:
    dims = []
    for size, k, s, d in zip(shape[1:3], kernel, stride, dilation, strict=True):
        extent = (k - 1) * d + 1
        dims.append((size + s - 1) // s if padding == Padding.SAME else (size - extent + s) // s)
    return (shape[0], *dims, channels)


# --------------------------------------------------------------------------- convolution

CONV_CASES = {
    "same": {},
    "valid_stride2": {"padding": Padding.VALID, "stride": (2, 2)},
    "same_stride2_relu": {"stride": (2, 2), "act": Activation.RELU},
    "dilated_relu6": {"dilation": (2, 2), "act": Activation.RELU6, "shape": (1, 11, 10, 3)},
    "5x3_relu_n1": {"kernel": (5, 3), "act": Activation.RELU_N1_TO_1},
    "per_tensor_pointwise": {"kernel": (1, 1), "per_channel": False, "out_channels": 8},
    "grouped": {"shape": (1, 6, 7, 4), "groups": 2, "out_channels": 6},
}


@pytest.mark.parametrize("dtype", [np.float32, np.int8], ids=["f32", "i8"])
@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv_2d(case: str, dtype: type) -> None:
    # LiteRT's optimized int8 convolution rounds some results one step away from its
    # reference kernel.
    check(conv_model(dtype, seed=sorted(CONV_CASES).index(case), **CONV_CASES[case]),
          optimized_step=1)


DEPTHWISE_CASES = {
    "same": {},
    "multiplier2_valid": {"multiplier": 2, "padding": Padding.VALID},
    "stride2_relu6": {"stride": (2, 2), "act": Activation.RELU6, "shape": (1, 10, 9, 8)},
    "multiplier3_dilated": {"multiplier": 3, "dilation": (2, 1), "shape": (1, 9, 9, 2)},
}


@pytest.mark.parametrize("dtype", [np.float32, np.int8], ids=["f32", "i8"])
@pytest.mark.parametrize("case", sorted(DEPTHWISE_CASES))
def test_depthwise_conv_2d(case: str, dtype: type) -> None:
    check(conv_model(dtype, depthwise=True, seed=10 + sorted(DEPTHWISE_CASES).index(case),
                     **DEPTHWISE_CASES[case]))


def test_conv_2d_uint8_model() -> None:
    """A uint8 model: uint8 activations, uint8 filter with zero point 128, int32 bias."""
    rng = np.random.default_rng(5)
    m = ModelBuilder()
    x = m.input("x", (1, 6, 6, 3), np.uint8, scale=0.04, zero_point=120)
    w = m.const("w", rng.integers(0, 256, (4, 3, 3, 3)).astype(np.uint8), scale=0.01,
                zero_point=128)
    b = m.const("b", rng.integers(-500, 500, 4).astype(np.int32), scale=0.0004)
    y = m.tensor("y", (1, 6, 6, 4), np.uint8, scale=0.15, zero_point=128)
    m.op(OP.CONV_2D, [x, w, b], [y], "Conv2DOptions", Padding=Padding.SAME, StrideW=1,
         StrideH=1, FusedActivationFunction=Activation.RELU6)
    m.output(y)
    check(m, optimized_step=1)


def test_conv_2d_float16_weights() -> None:
    """float16 weights reach the float convolution through DEQUANTIZE."""
    rng = np.random.default_rng(6)
    m = ModelBuilder()
    x = m.input("x", (1, 5, 5, 2), np.float32)
    w16 = m.const("w16", rng.normal(0, 0.3, (3, 3, 3, 2)).astype(np.float16))
    w = m.tensor("w", (3, 3, 3, 2), np.float32)
    m.op(OP.DEQUANTIZE, [w16], [w], version=3)
    b = m.const("b", rng.normal(0, 0.5, 3).astype(np.float32))
    y = m.tensor("y", (1, 5, 5, 3), np.float32)
    m.op(OP.CONV_2D, [x, w, b], [y], "Conv2DOptions", Padding=Padding.SAME, StrideW=1,
         StrideH=1)
    m.output(y)
    check(m)
    module = import_tflite(m.build())
    assert not any(op.OP_NAME == "onnx.Cast" for op in module.main.ops)  # folded at import


# --------------------------------------------------------------------------- fully connected


def fc_model(dtype: type, *, shape: tuple[int, ...] = (2, 10), units: int = 6,
             per_channel: bool = False, bias: bool = True, act: int = Activation.NONE,
             keep: bool = False, seed: int = 0) -> ModelBuilder:
    rng = np.random.default_rng(seed)
    m = ModelBuilder()
    depth = shape[-1]
    rows = int(np.prod(shape)) // depth
    out_shape = (*shape[:-1], units) if keep else (rows, units)
    if dtype == np.float32:
        x = m.input("x", shape, np.float32)
        w = m.const("w", rng.normal(0, 0.3, (units, depth)).astype(np.float32))
        b = m.const("b", rng.normal(0, 0.5, units).astype(np.float32)) if bias else -1
        y = m.tensor("y", out_shape, np.float32)
    else:
        q = Q(rng)
        xq = q.act()
        x = m.input("x", shape, np.int8, **xq)
        data, wq = q.weights((units, depth), units if per_channel else None)
        w = m.const("w", data, axis=0, **wq)
        b = (m.const("b", rng.integers(-3000, 3000, units).astype(np.int32),
                     scale=xq["scale"] * wq["scale"], axis=0) if bias else -1)
        y = m.tensor("y", out_shape, np.int8,
                     scale=accumulation_scale(xq, wq["scale"], depth), zero_point=-3)
    m.op(OP.FULLY_CONNECTED, [x, w, b], [y], "FullyConnectedOptions",
         FusedActivationFunction=act, KeepNumDims=keep, version=5 if per_channel else 4)
    m.output(y)
    return m


FC_CASES = {
    "plain": {},
    "relu_no_bias": {"act": Activation.RELU, "bias": False},
    "flattened_rank4": {"shape": (1, 2, 3, 4)},
    "keep_num_dims": {"shape": (2, 3, 8), "keep": True},
    "per_channel": {"per_channel": True, "units": 5},
}


FC_PARAMS = [(case, dtype) for case in sorted(FC_CASES) for dtype in (np.float32, np.int8)
             if not (case == "per_channel" and dtype == np.float32)]


@pytest.mark.parametrize(("case", "dtype"), FC_PARAMS,
                         ids=[f"{c}-{'f32' if d == np.float32 else 'i8'}" for c, d in FC_PARAMS])
def test_fully_connected(case: str, dtype: type) -> None:
    # The int8 reference rescales in double, the optimized kernel in fixed point: they can
    # differ by one step.
    check(fc_model(dtype, seed=20 + sorted(FC_CASES).index(case), **FC_CASES[case]),
          optimized_step=1)


def test_fully_connected_uint8() -> None:
    """uint8 weights keep their zero point; LiteRT's uint8 kernel rescales in fixed point."""
    rng = np.random.default_rng(25)
    m = ModelBuilder()
    x = m.input("x", (3, 16), np.uint8, scale=0.03, zero_point=121)
    w = m.const("w", rng.integers(0, 256, (5, 16)).astype(np.uint8), scale=0.01,
                zero_point=131)
    b = m.const("b", rng.integers(-3000, 3000, 5).astype(np.int32), scale=0.0003)
    y = m.tensor("y", (3, 5), np.uint8, scale=0.2, zero_point=128)
    m.op(OP.FULLY_CONNECTED, [x, w, b], [y], "FullyConnectedOptions",
         FusedActivationFunction=Activation.RELU)
    m.output(y)
    check(m)
    assert "quant.MatMul" in [op.OP_NAME for op in import_tflite(m.build()).main.ops]


# --------------------------------------------------------------------------- element-wise


def binary_model(code: int, dtype: type, a_shape: tuple[int, ...], b_shape: tuple[int, ...],
                 act: int = Activation.NONE, const_b: bool = False, seed: int = 0) -> ModelBuilder:
    rng = np.random.default_rng(seed)
    m = ModelBuilder()
    out_shape = np.broadcast_shapes(a_shape, b_shape)
    options = {OP.ADD: "AddOptions", OP.SUB: "SubOptions", OP.MUL: "MulOptions"}[code]
    if dtype == np.float32:
        a = m.input("a", a_shape, np.float32)
        b = (m.const("b", rng.normal(0, 1, b_shape).astype(np.float32)) if const_b
             else m.input("b", b_shape, np.float32))
        y = m.tensor("y", out_shape, np.float32)
    else:
        q = Q(rng)
        a = m.input("a", a_shape, np.int8, **q.act())
        bq = q.act()
        b = (m.const("b", rng.integers(-128, 128, b_shape).astype(np.int8), **bq) if const_b
             else m.input("b", b_shape, np.int8, **bq))
        y = m.tensor("y", out_shape, np.int8, **(q.act(0.05, 0.2) if code != OP.MUL
                                                 else q.act(0.005, 0.02)))
    m.op(code, [a, b], [y], options, FusedActivationFunction=act, version=2)
    m.output(y)
    return m


BINARY_CASES = {
    "add_same": (OP.ADD, (1, 4, 4, 3), (1, 4, 4, 3), Activation.NONE, False),
    "add_broadcast_relu": (OP.ADD, (2, 3, 4, 5), (4, 1), Activation.RELU, False),
    "add_const_relu6": (OP.ADD, (1, 5, 3), (3,), Activation.RELU6, True),
    "sub_broadcast": (OP.SUB, (3, 1, 4), (2, 1), Activation.NONE, False),
    "mul_same": (OP.MUL, (2, 6), (2, 6), Activation.NONE, False),
    "mul_broadcast_relu_n1": (OP.MUL, (1, 3, 3, 4), (1, 1, 1, 4), Activation.RELU_N1_TO_1,
                              True),
    "mul_scalar_broadcast": (OP.MUL, (4, 5), (1,), Activation.RELU, False),
}


@pytest.mark.parametrize("dtype", [np.float32, np.int8], ids=["f32", "i8"])
@pytest.mark.parametrize("case", sorted(BINARY_CASES))
def test_binary(case: str, dtype: type) -> None:
    code, a_shape, b_shape, act, const_b = BINARY_CASES[case]
    check(binary_model(code, dtype, a_shape, b_shape, act, const_b,
                       seed=30 + sorted(BINARY_CASES).index(case)))


def unary_model(code: int, dtype: type, shape: tuple[int, ...], out_quant: dict,
                in_quant: dict | None = None, options: str | None = None,
                **fields: object) -> ModelBuilder:
    m = ModelBuilder()
    x = m.input("x", shape, dtype, **(in_quant or {}))
    y = m.tensor("y", shape, dtype, **out_quant)
    m.op(code, [x], [y], options, **fields)
    m.output(y)
    return m


@pytest.mark.parametrize(("code", "out_quant"), [
    (OP.LOGISTIC, {"scale": 1 / 256, "zero_point": -128}),
    (OP.TANH, {"scale": 1 / 128, "zero_point": 0}),
], ids=["logistic", "tanh"])
@pytest.mark.parametrize("in_quant", [{"scale": 0.02, "zero_point": 5},
                                      {"scale": 0.11, "zero_point": -40}], ids=["fine", "coarse"])
def test_table_activations_int8(code: int, out_quant: dict, in_quant: dict) -> None:
    check(unary_model(code, np.int8, (2, 8, 16), out_quant, in_quant))


@pytest.mark.parametrize("code", [OP.LOGISTIC, OP.TANH, OP.RELU, OP.RELU6, OP.RELU_N1_TO_1],
                         ids=["logistic", "tanh", "relu", "relu6", "relu_n1_to_1"])
def test_activations_float(code: int) -> None:
    check(unary_model(code, np.float32, (2, 5, 7), {}))


def test_gelu_float() -> None:
    for approximate in (False, True):
        check(unary_model(OP.GELU, np.float32, (3, 17), {}, None, "GeluOptions",
                          Approximate=approximate))


@pytest.mark.parametrize(("shape", "beta", "in_quant"), [
    ((2, 10), 1.0, {"scale": 0.1, "zero_point": 3}),
    ((1, 3, 4, 20), 0.5, {"scale": 0.05, "zero_point": -7}),
    ((3, 300), 2.0, {"scale": 0.2, "zero_point": 10}),
    ((4, 6), 1.0, {"scale": 0.004, "zero_point": 0}),
], ids=["rank2", "rank4_beta_half", "wide_beta2", "small_scale"])
def test_softmax(shape: tuple[int, ...], beta: float, in_quant: dict) -> None:
    out = {"scale": 1 / 256, "zero_point": -128}
    check(unary_model(OP.SOFTMAX, np.int8, shape, out, in_quant, "SoftmaxOptions", Beta=beta))
    check(unary_model(OP.SOFTMAX, np.float32, shape, {}, None, "SoftmaxOptions", Beta=beta))


def test_softmax_uint8() -> None:
    check(unary_model(OP.SOFTMAX, np.uint8, (3, 12), {"scale": 1 / 256, "zero_point": 0},
                      {"scale": 0.08, "zero_point": 130}, "SoftmaxOptions", Beta=1.0))


# --------------------------------------------------------------------------- pooling


def pool_model(code: int, dtype: type, *, shape: tuple[int, ...] = (1, 9, 8, 3),
               filt: tuple[int, int] = (3, 3), stride: tuple[int, int] = (2, 2),
               padding: int = Padding.SAME, act: int = Activation.NONE) -> ModelBuilder:
    m = ModelBuilder()
    quant = {"scale": 0.05, "zero_point": -4} if dtype != np.float32 else {}
    x = m.input("x", shape, dtype, **quant)
    out = conv_out_shape(shape, filt, stride, (1, 1), padding, shape[3])
    y = m.tensor("y", out, dtype, **quant)
    m.op(code, [x], [y], "Pool2DOptions", Padding=padding, StrideW=stride[1], StrideH=stride[0],
         FilterWidth=filt[1], FilterHeight=filt[0], FusedActivationFunction=act, version=2)
    m.output(y)
    return m


POOL_CASES = {
    "same_3x3_s2": {},
    "valid_2x2_s2": {"filt": (2, 2), "padding": Padding.VALID},
    "same_3x2_s1_relu6": {"filt": (3, 2), "stride": (1, 1), "act": Activation.RELU6},
    "global_valid": {"filt": (9, 8), "stride": (1, 1), "padding": Padding.VALID},
}


@pytest.mark.parametrize("dtype", [np.float32, np.int8], ids=["f32", "i8"])
@pytest.mark.parametrize("code", [OP.AVERAGE_POOL_2D, OP.MAX_POOL_2D], ids=["avg", "max"])
@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_pool(case: str, code: int, dtype: type) -> None:
    check(pool_model(code, dtype, **POOL_CASES[case]))


# --------------------------------------------------------------------------- data movement


def quant_kwargs(dtype: type) -> dict:
    return {"scale": 0.07, "zero_point": 9} if dtype != np.float32 else {}


@pytest.mark.parametrize("dtype", [np.float32, np.int8], ids=["f32", "i8"])
@pytest.mark.parametrize("how", ["tensor", "options", "minus_one"])
def test_reshape(how: str, dtype: type) -> None:
    m = ModelBuilder()
    q = quant_kwargs(dtype)
    x = m.input("x", (2, 3, 4), dtype, **q)
    y = m.tensor("y", (6, 4), dtype, **q)
    if how == "tensor":
        m.op(OP.RESHAPE, [x, m.const("shape", np.array([6, 4], np.int32))], [y])
    elif how == "options":
        m.op(OP.RESHAPE, [x], [y], "ReshapeOptions", NewShape=[6, 4])
    else:
        m.op(OP.RESHAPE, [x, m.const("shape", np.array([-1, 4], np.int32))], [y])
    m.output(y)
    check(m)


@pytest.mark.parametrize("dtype", [np.float32, np.int8], ids=["f32", "i8"])
@pytest.mark.parametrize("axis", [1, -1, 0])
def test_concatenation(axis: int, dtype: type) -> None:
    m = ModelBuilder()
    q = quant_kwargs(dtype)
    shapes = [(2, 3, 4), (2, 3, 4), (2, 3, 4)]
    grow = axis % 3
    shapes = [tuple(d + i if j == grow else d for j, d in enumerate(s))
              for i, s in enumerate(shapes)]
    xs = [m.input(f"x{i}", s, dtype, **q) for i, s in enumerate(shapes)]
    out = list(shapes[0])
    out[grow] = sum(s[grow] for s in shapes)
    y = m.tensor("y", out, dtype, **q)
    m.op(OP.CONCATENATION, xs, [y], "ConcatenationOptions", Axis=axis)
    m.output(y)
    check(m)


def test_concatenation_uint8_rescales() -> None:
    """uint8 inputs in other quantizations are rescaled in float, as LiteRT does."""
    m = ModelBuilder()
    a = m.input("a", (2, 3, 4), np.uint8, scale=0.031, zero_point=140)
    b = m.input("b", (2, 2, 4), np.uint8, scale=0.05, zero_point=128)
    c = m.input("c", (2, 1, 4), np.uint8, scale=0.017, zero_point=101)
    y = m.tensor("y", (2, 6, 4), np.uint8, scale=0.05, zero_point=128)
    m.op(OP.CONCATENATION, [a, b, c], [y], "ConcatenationOptions", Axis=1)
    m.output(y)
    check(m)


@pytest.mark.parametrize("dtype", [np.float32, np.int8], ids=["f32", "i8"])
@pytest.mark.parametrize("code", [OP.PAD, OP.PADV2], ids=["pad", "padv2"])
def test_pad(code: int, dtype: type) -> None:
    m = ModelBuilder()
    q = quant_kwargs(dtype)
    x = m.input("x", (1, 4, 5, 3), dtype, **q)
    paddings = m.const("paddings", np.array([[0, 0], [1, 2], [0, 3], [0, 0]], np.int32))
    y = m.tensor("y", (1, 7, 8, 3), dtype, **q)
    inputs = [x, paddings]
    if code == OP.PADV2:
        value = np.array([-0.5 if dtype == np.float32 else -20], dtype)
        inputs.append(m.const("value", value, **q))
    m.op(code, inputs, [y])
    m.output(y)
    check(m)


@pytest.mark.parametrize("dtype", [np.float32, np.int8], ids=["f32", "i8"])
def test_transpose_squeeze_expand_dims(dtype: type) -> None:
    m = ModelBuilder()
    q = quant_kwargs(dtype)
    x = m.input("x", (1, 3, 1, 4), dtype, **q)
    t = m.tensor("t", (1, 4, 1, 3), dtype, **q)
    m.op(OP.TRANSPOSE, [x, m.const("perm", np.array([0, 3, 2, 1], np.int32))], [t])
    s = m.tensor("s", (4, 3), dtype, **q)
    m.op(OP.SQUEEZE, [t], [s], "SqueezeOptions", SqueezeDims=[0, 2])
    e = m.tensor("e", (4, 1, 3), dtype, **q)
    m.op(OP.EXPAND_DIMS, [s, m.const("axis", np.array([1], np.int32))], [e])
    m.output(e)
    check(m)


# --------------------------------------------------------------------------- reductions


MEAN_CASES = {
    "hw_keepdims": ((2, 5, 7, 3), [1, 2], True),
    "hw": ((1, 4, 4, 8), [2, 1], False),
    "last_axis": ((3, 6, 4), [-1], False),
    "width_keepdims": ((2, 9, 10, 3), [2], True),
}


@pytest.mark.parametrize("dtype", [np.float32, np.int8], ids=["f32", "i8"])
@pytest.mark.parametrize("case", sorted(MEAN_CASES))
def test_mean(case: str, dtype: type) -> None:
    shape, axes, keep = MEAN_CASES[case]
    m = ModelBuilder()
    rank = len(shape)
    norm = {a % rank for a in axes}
    x = m.input("x", shape, dtype, **({"scale": 0.05, "zero_point": -3}
                                      if dtype != np.float32 else {}))
    out = [1 if i in norm else d for i, d in enumerate(shape)] if keep else \
        [d for i, d in enumerate(shape) if i not in norm]
    y = m.tensor("y", out, dtype, **({"scale": 0.03, "zero_point": 2}
                                     if dtype != np.float32 else {}))
    m.op(OP.MEAN, [x, m.const("axes", np.array(axes, np.int32))], [y], "ReducerOptions",
         KeepDims=keep, version=2)
    m.output(y)
    # LiteRT's optimized int8 MEAN rounds differently from its reference kernel.
    check(m, optimized_step=1)


# --------------------------------------------------------------------------- resizing


RESIZE_CASES = {
    "up_asymmetric": ((1, 4, 5, 3), (8, 10), False, False),
    "up_half_pixel": ((2, 5, 3, 2), (9, 13), False, True),
    "align_corners": ((1, 4, 5, 3), (7, 3), True, False),
    "down_half_pixel": ((1, 6, 6, 2), (4, 4), False, True),
}


@pytest.mark.parametrize("dtype", [np.float32, np.int8], ids=["f32", "i8"])
@pytest.mark.parametrize("case", sorted(RESIZE_CASES))
def test_resize_bilinear(case: str, dtype: type) -> None:
    shape, (h, w), align, half = RESIZE_CASES[case]
    m = ModelBuilder()
    q = quant_kwargs(dtype)
    x = m.input("x", shape, dtype, **q)
    y = m.tensor("y", (shape[0], h, w, shape[3]), dtype, **q)
    m.op(OP.RESIZE_BILINEAR, [x, m.const("size", np.array([h, w], np.int32))], [y],
         "ResizeBilinearOptions", AlignCorners=align, HalfPixelCenters=half, version=3)
    m.output(y)
    # LiteRT's optimized int8 kernel interpolates in float: it can differ by one step.
    check(m, optimized_step=1)


# --------------------------------------------------------------------------- quantization


@pytest.mark.parametrize(("src", "dst"), [
    (np.float32, np.int8), (np.float32, np.uint8), (np.int8, np.int8), (np.uint8, np.int8),
    (np.int8, np.uint8)])
def test_quantize(src: type, dst: type) -> None:
    m = ModelBuilder()
    in_q = {} if src == np.float32 else {"scale": 0.03, "zero_point": 7 if src == np.int8
                                         else 131}
    x = m.input("x", (3, 41), src, **in_q)
    y = m.tensor("y", (3, 41), dst, scale=0.021, zero_point=-5 if dst == np.int8 else 120)
    m.op(OP.QUANTIZE, [x], [y], version=2)
    m.output(y)
    check(m)


def test_quantize_rounds_half_away_from_zero() -> None:
    m = ModelBuilder()
    x = m.input("x", (8,), np.float32)
    y = m.tensor("y", (8,), np.int8, scale=0.5, zero_point=0)
    m.op(OP.QUANTIZE, [x], [y])
    m.output(y)
    data = m.build()
    feeds = {"x": np.array([0.25, -0.25, 0.75, -0.75, 1.25, 100.0, -100.0, 0.0], np.float32)}
    got = interpret(import_tflite(data), feeds)["y"]
    np.testing.assert_array_equal(got, run_litert(data, feeds, REFERENCE)["y"])
    np.testing.assert_array_equal(got[:5], [1, -1, 2, -2, 3])


@pytest.mark.parametrize("src", [np.int8, np.uint8])
def test_dequantize(src: type) -> None:
    m = ModelBuilder()
    x = m.input("x", (2, 3, 7), src, scale=0.013, zero_point=-6 if src == np.int8 else 140)
    y = m.tensor("y", (2, 3, 7), np.float32)
    m.op(OP.DEQUANTIZE, [x], [y], version=2)
    m.output(y)
    check(m)


# --------------------------------------------------------------------------- a small network


def int8_network(seed: int = 7) -> ModelBuilder:
    """float input -> QUANTIZE -> conv -> depthwise -> add (residual) -> avgpool -> reshape ->
    fully connected -> softmax -> DEQUANTIZE -> float output."""
    rng = np.random.default_rng(seed)
    q = Q(rng)
    m = ModelBuilder("furiosa test network")
    x = m.input("image", (1, 8, 8, 3), np.float32)
    xq_params = {"scale": 0.016, "zero_point": -2}
    xq = m.tensor("image_q", (1, 8, 8, 3), np.int8, **xq_params)
    m.op(OP.QUANTIZE, [x], [xq], version=2)

    def conv(name: str, src: int, src_q: dict, cin: int, cout: int, depthwise: bool) -> tuple:
        shape = (1, 3, 3, cout) if depthwise else (cout, 3, 3, cin)
        data, wq = q.weights(shape, cout)
        w = m.const(f"{name}/w", data, axis=3 if depthwise else 0, **wq)
        b = m.const(f"{name}/b", rng.integers(-2000, 2000, cout).astype(np.int32),
                    scale=src_q["scale"] * wq["scale"], axis=0)
        out_q = {"scale": accumulation_scale(src_q, wq["scale"], 9 * (1 if depthwise else cin)),
                 "zero_point": -128}
        y = m.tensor(name, (1, 8, 8, cout), np.int8, **out_q)
        opts = {"Padding": Padding.SAME, "StrideW": 1, "StrideH": 1,
                "FusedActivationFunction": Activation.RELU6}
        if depthwise:
            m.op(OP.DEPTHWISE_CONV_2D, [src, w, b], [y], "DepthwiseConv2DOptions",
                 DepthMultiplier=1, version=3, **opts)
        else:
            m.op(OP.CONV_2D, [src, w, b], [y], "Conv2DOptions", version=3, **opts)
        return y, out_q

    c1, c1_q = conv("conv1", xq, xq_params, 3, 8, False)
    c2, c2_q = conv("dw2", c1, c1_q, 8, 8, True)
    add_q = {"scale": c1_q["scale"] + c2_q["scale"], "zero_point": -128}
    s = m.tensor("add", (1, 8, 8, 8), np.int8, **add_q)
    m.op(OP.ADD, [c1, c2], [s], "AddOptions", version=2)
    p = m.tensor("pool", (1, 4, 4, 8), np.int8, **add_q)
    m.op(OP.AVERAGE_POOL_2D, [s], [p], "Pool2DOptions", Padding=Padding.VALID, StrideW=2,
         StrideH=2, FilterWidth=2, FilterHeight=2, version=2)
    flat = m.tensor("flat", (1, 128), np.int8, **add_q)
    m.op(OP.RESHAPE, [p, m.const("flat/shape", np.array([1, 128], np.int32))], [flat])
    data, wq = q.weights((10, 128), None)
    w = m.const("fc/w", data, **wq)
    b = m.const("fc/b", rng.integers(-2000, 2000, 10).astype(np.int32),
                scale=add_q["scale"] * wq["scale"])
    logits_q = {"scale": accumulation_scale(add_q, wq["scale"], 128) / 4, "zero_point": 0}
    logits = m.tensor("logits", (1, 10), np.int8, **logits_q)
    m.op(OP.FULLY_CONNECTED, [flat, w, b], [logits], "FullyConnectedOptions", version=4)
    probs = m.tensor("probs_q", (1, 10), np.int8, scale=1 / 256, zero_point=-128)
    m.op(OP.SOFTMAX, [logits], [probs], "SoftmaxOptions", Beta=1.0, version=2)
    out = m.tensor("probs", (1, 10), np.float32)
    m.op(OP.DEQUANTIZE, [probs], [out], version=2)
    m.output(out)
    return m


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_int8_network(seed: int) -> None:
    model = int8_network(seed)
    check(model, seed, optimized_step=1)
    module = import_tflite(model.build())
    names = [op.OP_NAME for op in module.main.ops]
    for expected in ("host.Quantize", "quant.Conv", "quant.Add", "quant.AveragePool",
                     "quant.FullyConnected", "quant.Softmax", "host.Dequantize"):
        assert expected in names
    assert module.main.inputs[0].name == "image" and module.main.output_names == ["probs"]
    conv = next(op for op in module.main.ops if op.OP_NAME == "quant.Conv")
    assert conv.loc == "conv1"


def uint8_network(seed: int) -> ModelBuilder:
    """A uint8 model: QUANTIZE -> depthwise (uint8 filter, zero point 128) -> MUL -> ADD ->
    max pool -> MEAN -> TANH -> DEQUANTIZE."""
    rng = np.random.default_rng(seed)
    m = ModelBuilder("furiosa uint8 network")
    x = m.input("x", (1, 6, 6, 3), np.float32)
    xq_params = {"scale": 0.02, "zero_point": 128}
    xq = m.tensor("xq", (1, 6, 6, 3), np.uint8, **xq_params)
    m.op(OP.QUANTIZE, [x], [xq])
    w = m.const("dw/w", rng.integers(0, 256, (1, 3, 3, 3)).astype(np.uint8), scale=0.01,
                zero_point=128)
    b = m.const("dw/b", rng.integers(-500, 500, 3).astype(np.int32), scale=0.0002)
    d_q = {"scale": 0.06, "zero_point": 120}
    d = m.tensor("dw", (1, 6, 6, 3), np.uint8, **d_q)
    m.op(OP.DEPTHWISE_CONV_2D, [xq, w, b], [d], "DepthwiseConv2DOptions", Padding=Padding.SAME,
         StrideW=1, StrideH=1, DepthMultiplier=1, FusedActivationFunction=Activation.RELU6)
    p = m.tensor("mul", (1, 6, 6, 3), np.uint8, scale=0.03, zero_point=100)
    m.op(OP.MUL, [d, xq], [p], "MulOptions")
    s_ = m.tensor("add", (1, 6, 6, 3), np.uint8, scale=0.08, zero_point=128)
    m.op(OP.ADD, [p, d], [s_], "AddOptions", FusedActivationFunction=Activation.RELU)
    pool_t = m.tensor("pool", (1, 3, 3, 3), np.uint8, scale=0.08, zero_point=128)
    m.op(OP.MAX_POOL_2D, [s_], [pool_t], "Pool2DOptions", Padding=Padding.VALID, StrideW=2,
         StrideH=2, FilterWidth=2, FilterHeight=2)
    mean_t = m.tensor("mean", (1, 3), np.uint8, scale=0.05, zero_point=110)
    m.op(OP.MEAN, [pool_t, m.const("axes", np.array([1, 2], np.int32))], [mean_t],
         "ReducerOptions", KeepDims=False)
    t = m.tensor("tanh", (1, 3), np.uint8, scale=1 / 128, zero_point=128)
    m.op(OP.TANH, [mean_t], [t])
    y = m.tensor("y", (1, 3), np.float32)
    m.op(OP.DEQUANTIZE, [t], [y])
    m.output(y)
    return m


@pytest.mark.parametrize("seed", [1, 2])
def test_uint8_network(seed: int) -> None:
    check(uint8_network(seed), seed, optimized_step=1)


# --------------------------------------------------------------------------- operator codes


def add_model(**code_fields: object) -> ModelBuilder:
    m = ModelBuilder()
    a = m.input("a", (2, 3), np.float32)
    b = m.input("b", (2, 3), np.float32)
    y = m.tensor("y", (2, 3), np.float32)
    m.op(OP.ADD, [a, b], [y], "AddOptions", **code_fields)
    m.output(y)
    return m


def gelu_model(**code_fields: object) -> ModelBuilder:
    m = ModelBuilder()
    x = m.input("x", (2, 7), np.float32)
    y = m.tensor("y", (2, 7), np.float32)
    m.op(OP.GELU, [x], [y], "GeluOptions", Approximate=False, **code_fields)
    m.output(y)
    return m


def conv_code_model(**code_fields: object) -> ModelBuilder:
    m = conv_model(np.float32, seed=3)
    code = m.codes[0]
    code.fields = code_fields.get("code_fields", code.fields)
    code.deprecated = code_fields.get("deprecated", code.deprecated)
    return m


@pytest.mark.parametrize(("make", "op_name"), [
    # builtin_code 3 alone: the package's BuiltinCode() would answer 0 (ADD).
    (lambda: conv_code_model(code_fields=BUILTIN_ONLY), "onnx.Conv"),
    # Files written before schema 3a: only the deprecated field.
    (lambda: add_model(code_fields=DEPRECATED_ONLY), "onnx.Add"),
    # A code above 127 written only in builtin_code.
    (lambda: gelu_model(code_fields=BUILTIN_ONLY), "onnx.Gelu"),
    # A code above 127 with the deprecated field at its placeholder 127.
    (lambda: gelu_model(deprecated=PLACEHOLDER), "onnx.Gelu"),
], ids=["builtin_only_below_127", "deprecated_only", "builtin_only_above_127", "placeholder"])
def test_operator_code_is_the_larger_field(make: Callable[[], ModelBuilder], op_name: str) -> None:
    model = make()
    module = import_tflite(model.build())
    assert op_name in [op.OP_NAME for op in module.main.ops]
    check(model)


# --------------------------------------------------------------------------- one-operator models


@dataclass
class In:
    """A graph input (``array`` None) or a constant of a one-operator model."""

    name: str
    shape: tuple[int, ...] = ()
    dtype: type = np.float32
    quant: dict = field(default_factory=dict)
    array: np.ndarray | None = None


def const(name: str, array: np.ndarray, **quant: object) -> In:
    return In(name, array.shape, array.dtype.type, dict(quant), array)


def op_model(code: int, inputs: list[In | None], outputs: list[In], options: str | None = None,
             version: int = 1, **fields: object) -> ModelBuilder:
    m = ModelBuilder()
    ids = []
    for t in inputs:
        if t is None:
            ids.append(-1)
        elif t.array is None:
            ids.append(m.input(t.name, t.shape, t.dtype, **t.quant))
        else:
            ids.append(m.const(t.name, t.array, **t.quant))
    outs = [m.tensor(t.name, t.shape, t.dtype, **t.quant) for t in outputs]
    m.op(code, ids, outs, options, version=version, **fields)
    m.output(*outs)
    return m


I8 = {"scale": 0.05, "zero_point": -3}
U8 = {"scale": 0.04, "zero_point": 131}
QUANT_PARAMS = [(np.float32, {}), (np.int8, I8), (np.uint8, U8)]
QUANT_IDS = ["f32", "i8", "u8"]


def ops_in(data: bytes) -> list[str]:
    return [op.OP_NAME for op in import_tflite(data).main.ops]


# --------------------------------------------------------------------------- PRELU, LEAKY_RELU


PRELU_ALPHA_SHAPES = {"per_channel": ((1, 5, 7, 3), (1, 1, 3)), "scalar": ((2, 9), (1,)),
                      "full": ((3, 4, 5), (3, 4, 5))}


@pytest.mark.parametrize("case", sorted(PRELU_ALPHA_SHAPES))
def test_prelu_float(case: str) -> None:
    shape, alpha_shape = PRELU_ALPHA_SHAPES[case]
    rng = np.random.default_rng(40)
    alpha = const("alpha", rng.uniform(-0.5, 0.8, alpha_shape).astype(np.float32))
    model = op_model(OP.PRELU, [In("x", shape), alpha], [In("y", shape)])
    check(model)
    # onnx.PRelu, which the rewrite-prelu pass rewrites as it rewrites ONNX's PRelu.
    data = model.build()
    module = import_tflite(data)
    assert "onnx.PRelu" in [op.OP_NAME for op in module.main.ops]
    feeds = random_feeds(module.main.inputs, 1)
    PassManager("rewrite-prelu", registry=PASSES).run(module)
    assert "onnx.PRelu" not in [op.OP_NAME for op in module.main.ops]
    compare(interpret(module, feeds)["y"], run_litert(data, feeds, REFERENCE)["y"], "rewritten")


@pytest.mark.parametrize(("dtype", "alpha_value"), [(np.int8, 50), (np.int8, -90),
                                                    (np.uint8, 200)], ids=["i8", "i8_neg", "u8"])
@pytest.mark.parametrize("shape", [(1, 9, 11, 3), (263,)], ids=["rank4", "odd_rank1"])
def test_prelu_quantized_one_alpha(dtype: type, alpha_value: int, shape: tuple[int, ...]) -> None:
    q = I8 if dtype == np.int8 else U8
    alpha = const("alpha", np.full((shape[-1],), alpha_value, dtype), scale=0.004,
                  zero_point=3 if dtype == np.int8 else 128)
    out = {"scale": 0.03, "zero_point": 5 if dtype == np.int8 else 120}
    model = op_model(OP.PRELU, [In("x", shape, dtype, q), alpha], [In("y", shape, dtype, out)])
    check(model, all_levels=True)
    assert "quant.Table" in ops_in(model.build())


@pytest.mark.parametrize(("dtype", "q", "out"), [
    (np.int8, I8, {"scale": 0.03, "zero_point": 5}),
    (np.uint8, U8, {"scale": 0.03, "zero_point": 120})], ids=["i8", "u8"])
@pytest.mark.parametrize(("shape", "alpha_shape"), [((1, 8, 11, 5), (1, 1, 5)),
                                                    ((2, 7, 3, 9), (7, 1, 1)),
                                                    ((4, 97), (4, 1))],
                         ids=["channels", "rows", "rank2"])
def test_prelu_quantized_per_channel(dtype: type, q: dict, out: dict, shape: tuple,
                                     alpha_shape: tuple) -> None:
    rng = np.random.default_rng(41)
    info = np.iinfo(dtype)
    values = rng.integers(info.min, int(info.max) + 1, alpha_shape).astype(dtype)
    values.reshape(-1)[1] = values.reshape(-1)[0]  # a run of two equal alphas
    alpha = const("alpha", values, scale=0.005, zero_point=-2 if dtype == np.int8 else 127)
    model = op_model(OP.PRELU, [In("x", shape, dtype, q), alpha], [In("y", shape, dtype, out)])
    check(model, all_levels=True)
    names = ops_in(model.build())
    assert names.count("quant.Table") == alpha_shape[0] * alpha_shape[-1] - 1


@pytest.mark.parametrize(("alpha", "out"), [(0.1, {"scale": 0.04, "zero_point": -10}),
                                            (0.3, {"scale": 0.05, "zero_point": -3}),
                                            (2.5, {"scale": 0.2, "zero_point": 0})],
                         ids=["small", "same_scale", "steep"])
@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS, ids=QUANT_IDS)
def test_leaky_relu(dtype: type, q: dict, alpha: float, out: dict) -> None:
    out = out if dtype != np.uint8 else {"scale": out["scale"], "zero_point": 128}
    model = op_model(OP.LEAKY_RELU, [In("x", (2, 9, 15), dtype, q)],
                     [In("y", (2, 9, 15), dtype, out if dtype != np.float32 else {})],
                     "LeakyReluOptions", version=2, Alpha=alpha)
    check(model, all_levels=True)


# --------------------------------------------------------------------------- unary and binary


UNARY_FLOAT_CODES = {"exp": OP.EXP, "log": OP.LOG, "sqrt": OP.SQRT, "rsqrt": OP.RSQRT,
                     "abs": OP.ABS, "neg": OP.NEG, "square": OP.SQUARE, "floor": OP.FLOOR,
                     "sin": OP.SIN, "cos": OP.COS,
                     "hard_swish": OP.HARD_SWISH, "tanh": OP.TANH}


@pytest.mark.parametrize("shape", [(2, 7), (1, 3, 5, 9)], ids=["rank2", "rank4"])
@pytest.mark.parametrize("name", sorted(UNARY_FLOAT_CODES))
def test_unary_float(name: str, shape: tuple[int, ...]) -> None:
    model = op_model(UNARY_FLOAT_CODES[name], [In("x", shape)], [In("y", shape)])
    check(model, positive=name in ("log", "sqrt", "rsqrt"))


@pytest.mark.parametrize(("dtype", "in_q", "out_q"), [
    (np.int8, {"scale": 0.02, "zero_point": -5}, {"scale": 0.05, "zero_point": -128}),
    (np.int8, {"scale": 0.01, "zero_point": 20}, {"scale": 0.004, "zero_point": -128}),
], ids=["i8", "i8_fine"])
def test_exp_quantized(dtype: type, in_q: dict, out_q: dict) -> None:
    model = op_model(OP.EXP, [In("x", (3, 91), dtype, in_q)], [In("y", (3, 91), dtype, out_q)])
    check(model, all_levels=True)
    assert "quant.Table" in ops_in(model.build())


BINARY_FLOAT_CASES = {
    "div_relu": (OP.DIV, (2, 3, 4), (3, 1), "DivOptions", {"FusedActivationFunction":
                                                            Activation.RELU}),
    "div_same": (OP.DIV, (5, 7), (5, 7), "DivOptions", {}),
    "pow": (OP.POW, (3, 5), (5,), None, {}),
    "squared_difference": (OP.SQUARED_DIFFERENCE, (2, 1, 5), (3, 1), None, {}),
}


@pytest.mark.parametrize("case", sorted(BINARY_FLOAT_CASES))
def test_binary_float(case: str) -> None:
    code, a_shape, b_shape, options, fields = BINARY_FLOAT_CASES[case]
    out = tuple(np.broadcast_shapes(a_shape, b_shape))
    model = op_model(code, [In("a", a_shape), In("b", b_shape)], [In("y", out)], options,
                     **fields)
    check(model, positive=code in (OP.POW, OP.DIV))


@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS, ids=QUANT_IDS)
@pytest.mark.parametrize("code", [OP.MAXIMUM, OP.MINIMUM], ids=["maximum", "minimum"])
@pytest.mark.parametrize(("a_shape", "b_shape"), [((2, 3, 5), (2, 3, 5)), ((4, 1, 3), (5, 1))],
                         ids=["same", "broadcast"])
def test_maximum_minimum(code: int, dtype: type, q: dict, a_shape: tuple, b_shape: tuple
                         ) -> None:
    out = tuple(np.broadcast_shapes(a_shape, b_shape))
    model = op_model(code, [In("a", a_shape, dtype, q), In("b", b_shape, dtype, q)],
                     [In("y", out, dtype, q)], version=2)
    check(model)


# --------------------------------------------------------------------------- data movement


@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS, ids=QUANT_IDS)
@pytest.mark.parametrize(("shape", "axis", "parts"), [((2, 9, 4), 1, 3), ((6, 5), -2, 2),
                                                      ((1, 4, 4, 7), 3, 1)],
                         ids=["axis1", "negative_axis", "one_part"])
def test_split(dtype: type, q: dict, shape: tuple, axis: int, parts: int) -> None:
    out = list(shape)
    out[axis] //= parts
    model = op_model(OP.SPLIT, [const("axis", np.array(axis, np.int32)), In("x", shape, dtype, q)],
                     [In(f"y{i}", tuple(out), dtype, q) for i in range(parts)], "SplitOptions",
                     version=2, NumSplits=parts)
    check(model)


@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS, ids=QUANT_IDS)
@pytest.mark.parametrize(("shape", "axis", "sizes"), [((2, 9, 4), 1, [2, -1, 3]),
                                                      ((7, 5), 0, [1, 6]),
                                                      ((1, 3, 3, 10), -1, [3, 3, 1, 3])],
                         ids=["minus_one", "axis0", "four"])
def test_split_v(dtype: type, q: dict, shape: tuple, axis: int, sizes: list[int]) -> None:
    dim = shape[axis]
    real = [dim - sum(s for s in sizes if s != -1) if s == -1 else s for s in sizes]
    outs = []
    for i, size in enumerate(real):
        out = list(shape)
        out[axis] = size
        outs.append(In(f"y{i}", tuple(out), dtype, q))
    model = op_model(OP.SPLIT_V, [In("x", shape, dtype, q),
                                  const("sizes", np.array(sizes, np.int32)),
                                  const("axis", np.array(axis, np.int32))],
                     outs, "SplitVOptions", version=2, NumSplits=len(sizes))
    check(model)


STRIDED_SLICE_CASES = {
    "plain": ((5, 7, 3), [1, 0, 0], [4, 7, 3], [1, 2, 1], {}),
    "negative_stride": ((5, 7, 3), [-1, 6, 0], [0, 0, 3], [-1, -3, 1], {}),
    "masks": ((4, 9, 6), [2, 1, 5], [3, 8, 0], [1, 3, -2], {"BeginMask": 0b001,
                                                              "EndMask": 0b100}),
    "shrink": ((2, 6, 5), [1, 2, -1], [2, 6, 0], [1, 1, 1], {"ShrinkAxisMask": 0b101}),
    "negative_bounds": ((8, 4), [-6, -3], [-1, 100], [2, 1], {}),
    "offset": ((6, 5), [1, 2], [3, 2], [1, 1], {"Offset": True}),
}


def strided_slice_out(shape: tuple, begin: list, end: list, strides: list, opts: dict) -> tuple:
    out = []
    for axis, dim in enumerate(shape):
        if opts.get("ShrinkAxisMask", 0) >> axis & 1:
            continue
        b = None if opts.get("BeginMask", 0) >> axis & 1 else begin[axis]
        e = (None if opts.get("EndMask", 0) >> axis & 1
             else begin[axis] + end[axis] if opts.get("Offset") else end[axis])
        out.append(len(range(*slice(b, e, strides[axis]).indices(dim))))
    return tuple(out)


@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS, ids=QUANT_IDS)
@pytest.mark.parametrize("case", sorted(STRIDED_SLICE_CASES))
def test_strided_slice(case: str, dtype: type, q: dict) -> None:
    shape, begin, end, strides, opts = STRIDED_SLICE_CASES[case]
    out = strided_slice_out(shape, begin, end, strides, opts)
    model = op_model(OP.STRIDED_SLICE, [In("x", shape, dtype, q),
                                        const("begin", np.array(begin, np.int32)),
                                        const("end", np.array(end, np.int32)),
                                        const("strides", np.array(strides, np.int32))],
                     [In("y", out, dtype, q)], "StridedSliceOptions",
                     version=4, **opts)
    check(model)


@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS, ids=QUANT_IDS)
@pytest.mark.parametrize(("shape", "indices", "axis"), [
    ((5, 3), [4, 0, 2, 2], 0), ((2, 7, 3), [[1, 6], [0, 3]], 1), ((3, 4), [3], -1)],
    ids=["axis0", "indices_rank2", "last_axis"])
def test_gather(dtype: type, q: dict, shape: tuple, indices: list, axis: int) -> None:
    idx = np.array(indices, np.int32)
    a = axis % len(shape)
    out = shape[:a] + idx.shape + shape[a + 1:]
    model = op_model(OP.GATHER, [In("x", shape, dtype, q), const("indices", idx)],
                     [In("y", out, dtype, q)], "GatherOptions", version=2, Axis=axis)
    check(model)


RESIZE_NEAREST_CASES = {
    "up2": ((1, 3, 4, 2), (6, 8), False, False),
    "up_odd": ((2, 3, 5, 1), (7, 11), False, False),
    "down_half_pixel": ((1, 9, 7, 3), (4, 3), False, True),
    "align_corners": ((1, 4, 5, 2), (7, 9), True, False),
    "align_half_pixel": ((1, 5, 3, 2), (8, 7), True, True),
}


@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS, ids=QUANT_IDS)
@pytest.mark.parametrize("case", sorted(RESIZE_NEAREST_CASES))
def test_resize_nearest_neighbor(case: str, dtype: type, q: dict) -> None:
    shape, (h, w), align, half = RESIZE_NEAREST_CASES[case]
    model = op_model(OP.RESIZE_NEAREST_NEIGHBOR,
                     [In("x", shape, dtype, q), const("size", np.array([h, w], np.int32))],
                     [In("y", (shape[0], h, w, shape[3]), dtype, q)],
                     "ResizeNearestNeighborOptions", version=3, AlignCorners=align,
                     HalfPixelCenters=half)
    check(model)


@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS, ids=QUANT_IDS)
@pytest.mark.parametrize(("shape", "block"), [((1, 3, 5, 8), 2), ((2, 2, 3, 18), 3)],
                         ids=["block2", "block3"])
def test_depth_to_space_and_back(dtype: type, q: dict, shape: tuple, block: int) -> None:
    n, h, w, c = shape
    up = (n, h * block, w * block, c // (block * block))
    check(op_model(OP.DEPTH_TO_SPACE, [In("x", shape, dtype, q)], [In("y", up, dtype, q)],
                   "DepthToSpaceOptions", BlockSize=block))
    check(op_model(OP.SPACE_TO_DEPTH, [In("x", up, dtype, q)], [In("y", shape, dtype, q)],
                   "SpaceToDepthOptions", BlockSize=block))


@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS, ids=QUANT_IDS)
@pytest.mark.parametrize(("shape", "count", "axis"), [((3, 5), 3, 0), ((2, 3, 4), 2, -1),
                                                      ((7,), 4, 1)],
                         ids=["axis0", "last", "rank1"])
def test_pack_unpack(dtype: type, q: dict, shape: tuple, count: int, axis: int) -> None:
    a = axis % (len(shape) + 1)
    packed = (*shape[:a], count, *shape[a:])
    check(op_model(OP.PACK, [In(f"x{i}", shape, dtype, q) for i in range(count)],
                   [In("y", packed, dtype, q)], "PackOptions", version=2, ValuesCount=count,
                   Axis=axis))
    check(op_model(OP.UNPACK, [In("x", packed, dtype, q)],
                   [In(f"y{i}", shape, dtype, q) for i in range(count)], "UnpackOptions",
                   version=2, Num=count, Axis=axis))


# --------------------------------------------------------------------------- reductions


REDUCER_CASES = {"hw_keep": ((2, 5, 7, 3), [1, 2], True), "last": ((3, 9), [-1], False),
                 "first_two": ((4, 3, 5), [0, 1], False), "all": ((3, 5), [0, 1], True)}
REDUCER_CODES = {"sum": (OP.SUM, False), "max": (OP.REDUCE_MAX, True),
                 "min": (OP.REDUCE_MIN, True), "prod": (OP.REDUCE_PROD, False)}


REDUCER_PARAMS = [(r, d, q, i) for r in sorted(REDUCER_CODES)
                  for (d, q), i in zip(QUANT_PARAMS, QUANT_IDS, strict=True)
                  if d == np.float32 or REDUCER_CODES[r][1]]


# SUM and REDUCE_PROD are float only (test_tflite_errors checks the refusal).
@pytest.mark.parametrize(("reducer", "dtype", "q", "dtype_id"), REDUCER_PARAMS,
                         ids=[f"{r}-{i}" for r, _, _, i in REDUCER_PARAMS])
@pytest.mark.parametrize("case", sorted(REDUCER_CASES))
def test_reducers(case: str, reducer: str, dtype: type, q: dict, dtype_id: str) -> None:
    code = REDUCER_CODES[reducer][0]
    shape, axes, keep = REDUCER_CASES[case]
    norm = {a % len(shape) for a in axes}
    out = tuple(1 if i in norm else d for i, d in enumerate(shape)) if keep else \
        tuple(d for i, d in enumerate(shape) if i not in norm)
    model = op_model(code, [In("x", shape, dtype, q), const("axes", np.array(axes, np.int32))],
                     [In("y", out, dtype, q)], "ReducerOptions", version=2, KeepDims=keep)
    check(model)


@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS, ids=QUANT_IDS)
@pytest.mark.parametrize("code", [OP.ARG_MAX, OP.ARG_MIN], ids=["arg_max", "arg_min"])
@pytest.mark.parametrize("out_type", [np.int32, np.int64], ids=["i32", "i64"])
@pytest.mark.parametrize(("shape", "axis"), [((3, 7), 1), ((2, 5, 4), 0), ((2, 3, 9), -1)],
                         ids=["rank2", "axis0", "negative"])
def test_arg_max_min(code: int, dtype: type, q: dict, out_type: type, shape: tuple,
                     axis: int) -> None:
    out = tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
    options = "ArgMaxOptions" if code == OP.ARG_MAX else "ArgMinOptions"
    tflite_type = {np.int32: 2, np.int64: 4}[out_type]
    model = op_model(code, [In("x", shape, dtype, q), const("axis", np.array([axis], np.int32))],
                     [In("y", out, out_type)], options, version=2, OutputType=tflite_type)
    check(model)


# --------------------------------------------------------------------------- matrix products


@pytest.mark.parametrize(("a_shape", "b_shape", "adj_x", "adj_y"), [
    ((2, 3, 5), (2, 5, 4), False, False),
    ((3, 7), (7, 6), False, False),
    ((2, 1, 5, 3), (4, 5, 7), True, False),
    ((1, 6, 5), (3, 2, 5), False, True)],
    ids=["batched", "rank2", "broadcast_adj_x", "adj_y"])
@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS[:2], ids=QUANT_IDS[:2])
def test_batch_matmul(a_shape: tuple, b_shape: tuple, adj_x: bool, adj_y: bool, dtype: type,
                      q: dict) -> None:
    a = list(a_shape)
    b = list(b_shape)
    if adj_x:
        a[-1], a[-2] = a[-2], a[-1]
    if adj_y:
        b[-1], b[-2] = b[-2], b[-1]
    out = (*np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2])), a[-2], b[-1])
    b_q = {"scale": 0.02, "zero_point": 4} if q else {}
    out_q = {"scale": accumulation_scale(q, np.array([0.02]), a[-1]),
             "zero_point": -7} if q else {}
    model = op_model(OP.BATCH_MATMUL, [In("a", a_shape, dtype, q), In("b", b_shape, dtype, b_q)],
                     [In("y", out, dtype, out_q)], "BatchMatMulOptions", version=1 if not q
                     else 2, AdjX=adj_x, AdjY=adj_y)
    check(model)


TRANSPOSE_CONV_CASES = {
    "same_stride2": ((1, 4, 5, 3), (3, 3), (2, 2), Padding.SAME, 4, (8, 10), True),
    "valid_stride2": ((1, 3, 4, 2), (3, 3), (2, 2), Padding.VALID, 3, (7, 9), True),
    "same_stride1_no_bias": ((2, 5, 5, 3), (3, 2), (1, 1), Padding.SAME, 2, (5, 5), False),
    "same_odd_out": ((1, 3, 3, 2), (4, 4), (2, 2), Padding.SAME, 3, (5, 6), True),
    "valid_extra_rows": ((1, 3, 3, 2), (2, 2), (3, 3), Padding.VALID, 2, (9, 10), True),
}


@pytest.mark.parametrize("act", [Activation.NONE, Activation.RELU6], ids=["none", "relu6"])
@pytest.mark.parametrize("case", sorted(TRANSPOSE_CONV_CASES))
def test_transpose_conv_float(case: str, act: int) -> None:
    shape, (kh, kw), (sh, sw), padding, cout, (oh, ow), bias = TRANSPOSE_CONV_CASES[case]
    rng = np.random.default_rng(60)
    w = const("w", rng.normal(0, 0.4, (cout, kh, kw, shape[3])).astype(np.float32))
    b = const("b", rng.normal(0, 0.5, cout).astype(np.float32)) if bias else None
    model = op_model(OP.TRANSPOSE_CONV,
                     [const("out_shape", np.array([shape[0], oh, ow, cout], np.int32)), w,
                      In("x", shape), b],
                     [In("y", (shape[0], oh, ow, cout))], "TransposeConvOptions", version=4,
                     Padding=padding, StrideW=sw, StrideH=sh, FusedActivationFunction=act)
    check(model)


@pytest.mark.parametrize("per_channel", [True, False], ids=["per_channel", "per_tensor"])
@pytest.mark.parametrize("case", sorted(TRANSPOSE_CONV_CASES))
def test_transpose_conv_int8(case: str, per_channel: bool) -> None:
    shape, (kh, kw), (sh, sw), padding, cout, (oh, ow), bias = TRANSPOSE_CONV_CASES[case]
    rng = np.random.default_rng(61 + sorted(TRANSPOSE_CONV_CASES).index(case))
    q = Q(rng)
    xq = q.act()
    data, wq = q.weights((cout, kh, kw, shape[3]), cout if per_channel else None)
    w = const("w", data, axis=0, **wq)
    b = (const("b", rng.integers(-3000, 3000, cout).astype(np.int32),
               scale=xq["scale"] * wq["scale"], axis=0) if bias else None)
    depth = max(kh * kw * shape[3] // (sh * sw), 1)
    y_q = {"scale": accumulation_scale(xq, wq["scale"], depth), "zero_point": -5}
    model = op_model(OP.TRANSPOSE_CONV,
                     [const("out_shape", np.array([shape[0], oh, ow, cout], np.int32)), w,
                      In("x", shape, np.int8, xq), b],
                     [In("y", (shape[0], oh, ow, cout), np.int8, y_q)], "TransposeConvOptions",
                     version=3, Padding=padding, StrideW=sw, StrideH=sh)
    check(model, optimized_step=1)
    assert "quant.Conv" in ops_in(model.build())


# --------------------------------------------------------------------------- selection, casts


@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS, ids=QUANT_IDS)
@pytest.mark.parametrize(("code", "cond_shape", "shape"), [
    (OP.SELECT, (2, 3, 4), (2, 3, 4)), (OP.SELECT, (3,), (3, 2, 5)),
    (OP.SELECT_V2, (1, 4), (3, 1, 4)), (OP.SELECT_V2, (5, 1), (5, 7))],
    ids=["select", "select_rank1", "select_v2_broadcast", "select_v2_column"])
def test_select(code: int, cond_shape: tuple, shape: tuple, dtype: type, q: dict) -> None:
    rng = np.random.default_rng(70)
    cond = const("cond", rng.integers(0, 2, cond_shape).astype(bool))
    out = tuple(np.broadcast_shapes(cond_shape, shape)) if code == OP.SELECT_V2 else shape
    model = op_model(code, [cond, In("a", shape, dtype, q), In("b", shape, dtype, q)],
                     [In("y", out, dtype, q)])
    check(model)


@pytest.mark.parametrize(("src", "dst"), [(np.float32, np.int32), (np.int32, np.float32),
                                          (np.float32, np.bool_), (np.int8, np.int32),
                                          (np.uint8, np.float32)])
def test_cast(src: type, dst: type) -> None:
    model = op_model(OP.CAST, [In("x", (3, 7), src)], [In("y", (3, 7), dst)])
    check(model)


@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS, ids=QUANT_IDS)
@pytest.mark.parametrize("dims", [(2, 3), (1, 5, 1, 3)], ids=["rank2", "rank4"])
def test_fill(dims: tuple, dtype: type, q: dict) -> None:
    model = op_model(OP.FILL, [const("dims", np.array(dims, np.int32)), In("v", (), dtype, q)],
                     [In("y", dims, dtype, q)], version=2 if dtype == np.float32 else 3)
    check(model)


@pytest.mark.parametrize(("dtype", "in_q", "out_q"), [
    (np.int8, {"scale": 0.05, "zero_point": -3}, {"scale": 0.04, "zero_point": -60}),
    (np.int8, {"scale": 0.2, "zero_point": 10}, {"scale": 0.15, "zero_point": -100}),
    (np.int8, {"scale": 0.003, "zero_point": 0}, {"scale": 0.004, "zero_point": -20}),
    (np.uint8, {"scale": 0.06, "zero_point": 128}, {"scale": 0.05, "zero_point": 30}),
], ids=["i8", "i8_wide", "i8_fine", "u8"])
def test_hard_swish_quantized(dtype: type, in_q: dict, out_q: dict) -> None:
    model = op_model(OP.HARD_SWISH, [In("x", (3, 5, 19), dtype, in_q)],
                     [In("y", (3, 5, 19), dtype, out_q)])
    check(model, all_levels=True)
    assert "quant.Table" in ops_in(model.build())


@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS, ids=QUANT_IDS)
@pytest.mark.parametrize(("shape", "begin", "size"), [((5, 7, 3), [1, 2, 0], [3, -1, 2]),
                                                      ((1, 9, 9, 4), [0, 4, 3, 1], [1, 5, 5, 3])],
                         ids=["minus_one", "rank4"])
def test_slice(dtype: type, q: dict, shape: tuple, begin: list, size: list) -> None:
    out = tuple(d - b if n == -1 else n for d, b, n in zip(shape, begin, size, strict=True))
    check(op_model(OP.SLICE, [In("x", shape, dtype, q), const("begin", np.array(begin, np.int32)),
                              const("size", np.array(size, np.int32))],
                   [In("y", out, dtype, q)], version=2))


@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS, ids=QUANT_IDS)
@pytest.mark.parametrize(("shape", "multiples"), [((2, 3), (3, 1)), ((1, 3, 1, 5), (2, 1, 3, 2))],
                         ids=["rank2", "rank4"])
def test_tile(dtype: type, q: dict, shape: tuple, multiples: tuple) -> None:
    out = tuple(d * m for d, m in zip(shape, multiples, strict=True))
    check(op_model(OP.TILE, [In("x", shape, dtype, q),
                             const("multiples", np.array(multiples, np.int32))],
                   [In("y", out, dtype, q)], version=2))


@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS, ids=QUANT_IDS)
@pytest.mark.parametrize(("shape", "target"), [((3, 1), (2, 3, 5)), ((1, 4), (3, 4))],
                         ids=["new_axes", "same_rank"])
def test_broadcast_to(dtype: type, q: dict, shape: tuple, target: tuple) -> None:
    check(op_model(OP.BROADCAST_TO, [In("x", shape, dtype, q),
                                     const("shape", np.array(target, np.int32))],
                   [In("y", target, dtype, q)], version=2))


@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS, ids=QUANT_IDS)
def test_mirror_pad_reflect(dtype: type, q: dict) -> None:
    paddings = np.array([[0, 0], [2, 1], [1, 3], [0, 0]], np.int32)
    check(op_model(OP.MIRROR_PAD, [In("x", (1, 5, 6, 3), dtype, q), const("paddings", paddings)],
                   [In("y", (1, 8, 10, 3), dtype, q)], "MirrorPadOptions", version=2, Mode=0))


def test_log_softmax_float() -> None:
    check(op_model(OP.LOG_SOFTMAX, [In("x", (3, 11))], [In("y", (3, 11))]))


@pytest.mark.parametrize("code", [OP.LESS, OP.LESS_EQUAL, OP.GREATER, OP.GREATER_EQUAL,
                                  OP.EQUAL, OP.NOT_EQUAL],
                         ids=["less", "less_equal", "greater", "greater_equal", "equal",
                              "not_equal"])
@pytest.mark.parametrize("dtype", [np.float32, np.int32], ids=["f32", "i32"])
def test_comparisons(code: int, dtype: type) -> None:
    rng = np.random.default_rng(80)
    b = const("b", rng.integers(-3, 4, (4, 5)).astype(dtype))
    check(op_model(code, [In("a", (3, 4, 5), dtype), b], [In("y", (3, 4, 5), np.bool_)]))


@pytest.mark.parametrize("code", [OP.LOGICAL_AND, OP.LOGICAL_OR, OP.LOGICAL_NOT],
                         ids=["and", "or", "not"])
def test_logical(code: int) -> None:
    rng = np.random.default_rng(81)
    inputs = [In("a", (2, 3, 4), np.bool_)]
    if code != OP.LOGICAL_NOT:
        inputs.append(const("b", rng.integers(0, 2, (3, 1)).astype(bool)))
    check(op_model(code, inputs, [In("y", (2, 3, 4), np.bool_)]))


@pytest.mark.parametrize(("dtype", "in_q", "out_q"), [
    (np.int8, {"scale": 0.05, "zero_point": -3}, {"scale": 0.05, "zero_point": -3}),
    (np.int8, {"scale": 0.05, "zero_point": 7}, {"scale": 0.03, "zero_point": -128}),
], ids=["i8_same_scale", "i8_rescaled"])
def test_abs_quantized(dtype: type, in_q: dict, out_q: dict) -> None:
    model = op_model(OP.ABS, [In("x", (3, 91), dtype, in_q)], [In("y", (3, 91), dtype, out_q)],
                     version=2)
    check(model, all_levels=True)
    assert "quant.Table" in ops_in(model.build())


@pytest.mark.parametrize(("in_q", "out_q"), [
    ({"scale": 0.05, "zero_point": -128}, {"scale": 0.04, "zero_point": 40}),
    ({"scale": 0.2, "zero_point": -100}, {"scale": 0.03, "zero_point": -20}),
], ids=["i8", "i8_wide"])
def test_log_quantized(in_q: dict, out_q: dict) -> None:
    model = op_model(OP.LOG, [In("x", (3, 91), np.int8, in_q)],
                     [In("y", (3, 91), np.int8, out_q)], version=2)
    check(model, all_levels=True)


def test_transpose_conv_uint8() -> None:
    """uint8 activations and a uint8 filter with zero point 128, as in older uint8 models."""
    rng = np.random.default_rng(62)
    w = const("w", rng.integers(0, 256, (3, 3, 3, 2)).astype(np.uint8), scale=0.01,
              zero_point=128)
    b = const("b", rng.integers(-500, 500, 3).astype(np.int32), scale=0.0004)
    model = op_model(OP.TRANSPOSE_CONV,
                     [const("out_shape", np.array([1, 7, 9, 3], np.int32)), w,
                      In("x", (1, 4, 5, 2), np.uint8, {"scale": 0.04, "zero_point": 120}), b],
                     [In("y", (1, 7, 9, 3), np.uint8, {"scale": 0.05, "zero_point": 128})],
                     "TransposeConvOptions", version=3, Padding=Padding.SAME, StrideW=2,
                     StrideH=2)
    check(model, optimized_step=1)
    data = model.build()
    feeds = random_feeds(import_tflite(data).main.inputs, 0)
    y = run_litert(data, feeds, REFERENCE)["y"]
    assert len(np.unique(y)) > 20  # the output scale keeps results in range


SPACE_BATCH_CASES = {"block2": ((1, 4, 6, 3), (2, 2), [[0, 0], [0, 0]]),
                     "padded": ((2, 5, 3, 2), (2, 3), [[1, 0], [2, 1]]),
                     "rows_only": ((1, 7, 4, 1), (3, 1), [[1, 1], [0, 0]])}


@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS, ids=QUANT_IDS)
@pytest.mark.parametrize("case", sorted(SPACE_BATCH_CASES))
def test_space_to_batch_and_back(case: str, dtype: type, q: dict) -> None:
    shape, (bh, bw), pads = SPACE_BATCH_CASES[case]
    n, h, w, c = shape
    hp, wp = h + sum(pads[0]), w + sum(pads[1])
    batched = (n * bh * bw, hp // bh, wp // bw, c)
    block = const("block", np.array([bh, bw], np.int32))
    check(op_model(OP.SPACE_TO_BATCH_ND, [In("x", shape, dtype, q), block,
                                          const("pads", np.array(pads, np.int32))],
                   [In("y", batched, dtype, q)], version=2))
    check(op_model(OP.BATCH_TO_SPACE_ND, [In("x", batched, dtype, q), block,
                                          const("crops", np.array(pads, np.int32))],
                   [In("y", shape, dtype, q)], version=2))


def test_docs_list_every_converted_builtin() -> None:
    text = (Path(__file__).parents[2] / "docs" / "frontends.md").read_text()
    table = text[text.index("| TFLite | float32 | int8 / uint8 | notes |"):]
    missing = [operator_name(c) for c in SUPPORTED_OPERATORS
               if f"`{operator_name(c)}`" not in table]
    assert not missing, f"docs/frontends.md does not list {sorted(missing)}"


@pytest.mark.parametrize(("dtype", "q"), QUANT_PARAMS, ids=QUANT_IDS)
@pytest.mark.parametrize(("shape", "axes"), [((4, 7), [1]), ((2, 3, 5), [1, 2]),
                                             ((3, 4, 2, 5), [-1])],
                         ids=["rank2", "two_axes", "negative"])
def test_reverse_v2(dtype: type, q: dict, shape: tuple, axes: list[int]) -> None:
    check(op_model(OP.REVERSE_V2, [In("x", shape, dtype, q),
                                   const("axes", np.array(axes, np.int32))],
                   [In("y", shape, dtype, q)], version=2))


@pytest.mark.parametrize("out_type", [np.int32, np.int64], ids=["i32", "i64"])
def test_shape(out_type: type) -> None:
    check(op_model(OP.SHAPE, [In("x", (2, 1, 7), np.int8, I8)], [In("y", (3,), out_type)],
                   "ShapeOptions", OutType=2 if out_type == np.int32 else 4))


def test_shape_arithmetic_folds_into_reshape() -> None:
    """SHAPE → STRIDED_SLICE (shrink) → PACK → RESHAPE, as converters emit for flattening."""
    out_type = np.int32
    m = ModelBuilder()
    x = m.input("x", (2, 3, 4), np.int8, scale=0.05, zero_point=-3)
    shape = m.tensor("shape", (3,), out_type)
    m.op(OP.SHAPE, [x], [shape], "ShapeOptions", OutType=2)
    batch = m.tensor("batch", (), out_type)
    m.op(OP.STRIDED_SLICE, [shape, m.const("b", np.array([0], np.int32)),
                            m.const("e", np.array([1], np.int32)),
                            m.const("s", np.array([1], np.int32))], [batch],
         "StridedSliceOptions", ShrinkAxisMask=1)
    target = m.tensor("target", (2,), out_type)
    m.op(OP.PACK, [batch, m.const("rest", np.array(-1, out_type))], [target], "PackOptions",
         ValuesCount=2, Axis=0)
    y = m.tensor("y", (2, 12), np.int8, scale=0.05, zero_point=-3)
    m.op(OP.RESHAPE, [x, target], [y])
    m.output(y)
    check(m)
    assert ops_in(m.build()) == ["onnx.Constant", "onnx.Reshape"]
