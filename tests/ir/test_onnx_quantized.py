"""Quantized onnx ops against onnxruntime, bit for bit (com.microsoft ops included)."""

from __future__ import annotations

import numpy as np
import pytest

from furiosa.errors import IRError
from furiosa.ir.core import Operation
from furiosa.ir.dialects.onnx import quantized as q
from furiosa.ir.types import I8, Quantization, TensorType, tensor
from tests.ir.test_onnx_nn import build_on, check_op, check_shapes

MS = "com.microsoft"


def ints(rng: np.random.Generator, dtype: type, *shape: int) -> np.ndarray:
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, shape).astype(dtype)


def s(value: float) -> np.ndarray:
    return np.array(value, dtype=np.float32)


def zp(value: int, dtype: type) -> np.ndarray:
    return np.array(value, dtype=dtype)


def exact(op_cls: type[Operation], op_type: str, inputs: list[np.ndarray | None],
          n_outputs: int = 1, **attributes: object) -> None:
    """Bit-exact agreement with onnxruntime (float outputs to float32 rounding)."""
    check_op(op_cls, op_type, inputs, n_outputs, rtol=0, atol=0, **attributes)


# --------------------------------------------------------------------------- QDQ


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_quantize_linear_per_tensor_rounds_half_to_even_and_saturates(dtype: type) -> None:
    scale = 0.25  # exact in binary: x / scale lands exactly on the .5 ties
    ties = np.array([0.125, 0.375, 0.625, -0.125, -0.375, 100.0, -100.0, 31.9, -32.1],
                    np.float32)
    rng = np.random.default_rng(0)
    x = np.concatenate([ties, (rng.standard_normal(40) * 20).astype(np.float32)])
    exact(q.QuantizeLinear, "QuantizeLinear", [x, s(scale), zp(3, dtype)])
    exact(q.QuantizeLinear, "QuantizeLinear", [x, np.array([scale], np.float32),
                                               np.array([-2 if dtype == np.int8 else 2], dtype)])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_quantize_linear_per_axis(axis: int) -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((3, 4, 5)) * 4).astype(np.float32)
    n = x.shape[axis]
    scales = (rng.random(n) * 0.05 + 0.01).astype(np.float32)
    exact(q.QuantizeLinear, "QuantizeLinear", [x, scales, ints(rng, np.uint8, n)], axis=axis)
    exact(q.QuantizeLinear, "QuantizeLinear", [x, scales, ints(rng, np.int8, n)], axis=axis)
    check_shapes(q.QuantizeLinear, "QuantizeLinear", [x, scales, ints(rng, np.int8, n)],
                 axis=axis)


def test_quantize_linear_defaults_to_uint8() -> None:
    x = np.random.default_rng(2).random((4, 5)).astype(np.float32) * 2
    exact(q.QuantizeLinear, "QuantizeLinear", [x, s(1 / 255)])


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int32])
def test_dequantize_linear(dtype: type) -> None:
    rng = np.random.default_rng(3)
    x = ints(rng, dtype, 2, 3, 4) if dtype != np.int32 else rng.integers(-9999, 9999, (2, 3, 4)
                                                                        ).astype(np.int32)
    zero = zp(0 if dtype == np.int32 else 5, dtype)
    exact(q.DequantizeLinear, "DequantizeLinear", [x, s(0.03), zero])
    exact(q.DequantizeLinear, "DequantizeLinear", [x, s(0.03)])
    if dtype != np.int32:
        exact(q.DequantizeLinear, "DequantizeLinear",
              [x, (rng.random(3) * 0.1).astype(np.float32), ints(rng, dtype, 3)], axis=1)


@pytest.mark.parametrize("case", ["mixed", "positive", "negative", "zeros"])
def test_dynamic_quantize_linear(case: str) -> None:
    x = (np.random.default_rng(4).standard_normal((3, 7)) * 5).astype(np.float32)
    x = {"mixed": x, "positive": np.abs(x), "negative": -np.abs(x), "zeros": x * 0}[case]
    exact(q.DynamicQuantizeLinear, "DynamicQuantizeLinear", [x], 3)


# --------------------------------------------------------------------------- integer products


@pytest.mark.parametrize("attrs", [dict(pads=[1, 1, 1, 1], dilations=[2, 1]),
                                   dict(strides=[2, 2]),
                                   dict(group=2, auto_pad="SAME_UPPER", strides=[1, 2])])
def test_conv_integer(attrs: dict[str, object]) -> None:
    rng = np.random.default_rng(5)
    group = int(attrs.get("group", 1))  # type: ignore[call-overload]
    x, w = ints(rng, np.uint8, 1, 4, 6, 7), ints(rng, np.uint8, 4, 4 // group, 3, 3)
    exact(q.ConvInteger, "ConvInteger", [x, w, zp(128, np.uint8), zp(120, np.uint8)], **attrs)
    exact(q.ConvInteger, "ConvInteger", [x, w], **attrs)


def test_conv_integer_per_channel_weight_zero_point() -> None:
    """onnxruntime takes only per-tensor zero points here; ONNX's reference checks the rest."""
    rng = np.random.default_rng(6)
    inputs = [ints(rng, np.int8, 1, 2, 5, 5), ints(rng, np.int8, 3, 2, 3, 3), zp(-3, np.int8),
              np.array([1, -2, 0], np.int8)]
    check_op(q.ConvInteger, "ConvInteger", inputs, use_reference=True, pads=[1, 1, 1, 1])


QLINEAR_CONV_TYPES = [(np.uint8, np.int8, np.uint8), (np.uint8, np.uint8, np.uint8),
                      (np.int8, np.int8, np.int8), (np.uint8, np.int8, np.int8)]


@pytest.mark.parametrize(("xt", "wt", "yt"), QLINEAR_CONV_TYPES)
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("attrs", [dict(pads=[1, 1, 1, 1], dilations=[1, 2]),
                                   dict(strides=[2, 1], group=2),
                                   dict(auto_pad="SAME_LOWER", strides=[2, 2], group=8)])
def test_qlinear_conv(xt: type, wt: type, yt: type, per_channel: bool,
                      attrs: dict[str, object]) -> None:
    rng = np.random.default_rng(7)
    group = int(attrs.get("group", 1))  # type: ignore[call-overload]
    c, m = 8, 8
    x, w = ints(rng, xt, 2, c, 7, 7), ints(rng, wt, m, c // group, 3, 3)
    if per_channel:
        w_scale = (10 ** rng.uniform(-3, -2, m)).astype(np.float32)
        w_zp = np.zeros(m, wt) if wt == np.int8 else np.full(m, 128, wt)
    else:
        w_scale, w_zp = s(0.004), zp(0 if wt == np.int8 else 127, wt)
    inputs = [x, s(0.02), zp(int(rng.integers(-10, 10)) + (128 if xt == np.uint8 else 0), xt),
              w, w_scale, w_zp, s(0.15), zp(3 if yt == np.int8 else 120, yt),
              rng.integers(-20000, 20000, m).astype(np.int32)]
    exact(q.QLinearConv, "QLinearConv", inputs, **attrs)
    exact(q.QLinearConv, "QLinearConv", inputs[:8], **attrs)


@pytest.mark.parametrize(("a_shape", "b_shape"), [((2, 5, 16), (16, 7)), ((5, 16), (16, 7)),
                                                  ((16,), (16, 3)), ((3, 16), (2, 16, 4))])
def test_matmul_integer(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(8)
    a, b = ints(rng, np.uint8, *a_shape), ints(rng, np.int8, *b_shape)
    exact(q.MatMulInteger, "MatMulInteger", [a, b, zp(128, np.uint8), zp(3, np.int8)])
    exact(q.MatMulInteger, "MatMulInteger", [a, b])
    if len(b_shape) == 2:  # onnxruntime takes per-column zero points of 2-D B only
        exact(q.MatMulInteger, "MatMulInteger", [a, b, zp(7, np.uint8),
                                                 ints(rng, np.int8, b_shape[-1])])
    check_shapes(q.MatMulInteger, "MatMulInteger", [a, b])


@pytest.mark.parametrize(("at", "bt", "yt"), [(np.uint8, np.int8, np.uint8),
                                              (np.int8, np.int8, np.int8),
                                              (np.uint8, np.uint8, np.int8)])
@pytest.mark.parametrize("per_column", [False, True])
def test_qlinear_matmul(at: type, bt: type, yt: type, per_column: bool) -> None:
    rng = np.random.default_rng(9)
    a, b = ints(rng, at, 3, 6, 32), ints(rng, bt, 32, 10)
    b_scale = (10 ** rng.uniform(-3, -2, 10)).astype(np.float32) if per_column else s(0.005)
    b_zp = np.zeros(10, bt) if per_column else zp(0, bt)
    inputs = [a, s(0.02), zp(5, at), b, b_scale, b_zp, s(0.3), zp(-4 if yt == np.int8 else 130,
                                                                   yt)]
    exact(q.QLinearMatMul, "QLinearMatMul", inputs)
    check_shapes(q.QLinearMatMul, "QLinearMatMul", inputs)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("c_shape", [None, (7,), (1, 7), (5, 7)])
@pytest.mark.parametrize("requantize", [True, False])
def test_qgemm(dtype: type, c_shape: tuple[int, ...] | None, requantize: bool) -> None:
    rng = np.random.default_rng(10)
    a, b = ints(rng, dtype, 16, 5), ints(rng, dtype, 7, 16)
    c = None if c_shape is None else rng.integers(-5000, 5000, c_shape).astype(np.int32)
    inputs: list[np.ndarray | None] = [a, s(0.02), zp(3, dtype), b,
                                       (10 ** rng.uniform(-3, -2, 7)).astype(np.float32),
                                       np.zeros(7, dtype) if dtype == np.int8 else
                                       np.full(7, 128, dtype), c]
    if requantize:
        inputs += [s(0.2), zp(2, dtype)]
    while inputs[-1] is None:
        inputs.pop()
    exact(q.QGemm, "QGemm", inputs, domain=MS, transA=1, transB=1, alpha=0.75)


# ------------------------------------------------------------------- com.microsoft element-wise


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("b_shape", [(2, 3, 4), (3, 1), (1,), (4,)])
@pytest.mark.parametrize("seed", [11, 12])
def test_qlinear_add_and_mul(dtype: type, b_shape: tuple[int, ...], seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = ints(rng, dtype, 2, 3, 4), ints(rng, dtype, *b_shape)
    info = np.iinfo(dtype)

    def z() -> np.ndarray:
        return zp(int(rng.integers(info.min // 2, info.max // 2)), dtype)

    def sc(lo: float, hi: float) -> np.ndarray:
        return s(float(10 ** rng.uniform(lo, hi)))

    exact(q.QLinearAdd, "QLinearAdd", [a, sc(-3, -1), z(), b, sc(-3, -1), z(), sc(-3, -1), z()],
          domain=MS)
    exact(q.QLinearMul, "QLinearMul", [a, sc(-2, -1), z(), b, sc(-2, -1), z(), sc(-4, -2), z()],
          domain=MS)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("seed", [13, 14, 15])
def test_qlinear_activations(dtype: type, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = ints(rng, dtype, 4, 64)
    info = np.iinfo(dtype)
    z = zp(int(rng.integers(info.min // 2, info.max // 2)), dtype)
    exact(q.QLinearSigmoid, "QLinearSigmoid", [x, s(float(10 ** rng.uniform(-2, -1))), z,
                                               s(1 / 256), zp(info.min, dtype)], domain=MS)
    exact(q.QLinearLeakyRelu, "QLinearLeakyRelu",
          [x, s(float(10 ** rng.uniform(-2, -1))), z, s(float(10 ** rng.uniform(-2, -1))), z],
          domain=MS, alpha=float(rng.uniform(0.01, 0.3)))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("axis", [1, -1])
def test_qlinear_concat(dtype: type, axis: int) -> None:
    rng = np.random.default_rng(16)
    shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
    for i, shape in enumerate(shapes):
        shape[axis] = i + 1
    xs = [ints(rng, dtype, *shape) for shape in shapes]
    inputs = [s(0.05), zp(3, dtype),
              xs[0], s(0.05), zp(3, dtype),  # same parameters: copied through
              xs[1], s(0.02), zp(7, dtype),
              xs[2], s(0.11), zp(-1 if dtype == np.int8 else 1, dtype)]
    exact(q.QLinearConcat, "QLinearConcat", inputs, domain=MS, axis=axis)


# ------------------------------------------------------------------------ com.microsoft pooling

QPOOL_CASES = [
    ((1, 3, 7, 8), dict(kernel_shape=[3, 3])),
    ((1, 3, 7, 8), dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])),
    ((1, 3, 7, 8), dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2],
                        count_include_pad=1)),
    ((1, 3, 7, 8), dict(kernel_shape=[3, 2], strides=[2, 2], ceil_mode=1)),
    ((1, 3, 7, 8), dict(kernel_shape=[3, 3], auto_pad="SAME_UPPER", strides=[2, 2])),
    ((2, 3, 7, 8), dict(kernel_shape=[7, 8])),
    ((1, 3, 7, 8), dict(kernel_shape=[3, 3], channels_last=1, pads=[1, 0, 0, 1])),
    ((1, 2, 9), dict(kernel_shape=[3], strides=[2], pads=[1, 1])),
    ((1, 2, 4, 5, 6), dict(kernel_shape=[2, 2, 3], strides=[2, 2, 2])),
]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize(("shape", "attrs"), QPOOL_CASES)
def test_qlinear_average_pool(dtype: type, shape: tuple[int, ...],
                              attrs: dict[str, object]) -> None:
    rng = np.random.default_rng(17)
    x = ints(rng, dtype, *shape)
    exact(q.QLinearAveragePool, "QLinearAveragePool",
          [x, s(0.05), zp(10, dtype), s(0.03), zp(20, dtype)], domain=MS, **attrs)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("channels_last", [0, 1])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 16, 7, 7), (1, 3, 10)])
def test_qlinear_global_average_pool(dtype: type, channels_last: int,
                                     shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(18)
    exact(q.QLinearGlobalAveragePool, "QLinearGlobalAveragePool",
          [ints(rng, dtype, *shape), s(0.05), zp(10, dtype), s(0.03), zp(-20 if dtype == np.int8
                                                                        else 20, dtype)],
          domain=MS, channels_last=channels_last)


# --------------------------------------------------------------------------- type rules and errors


def test_result_types() -> None:
    f = tensor((), "f32")
    op = build_on(q.QuantizeLinear, tensor((2, 3), "f32"), f)
    assert op.result.type == tensor((2, 3), "u8")
    op = build_on(q.QuantizeLinear, tensor((2, 3), "f32"), tensor((3,), "f32"),
                  tensor((3,), "i8"), axis=-1)
    assert op.result.type == tensor((2, 3), "i8")
    op = build_on(q.DynamicQuantizeLinear, tensor((4,), "f32"))
    assert [r.type for r in op.results] == [tensor((4,), "u8"), f, tensor((), "u8")]
    op = build_on(q.QGemm, tensor((3, 4), "u8"), f, tensor((), "u8"), tensor((4, 5), "i8"), f,
                  tensor((), "i8"))
    assert op.result.type == tensor((3, 5), "f32")
    op = build_on(q.QLinearAveragePool, tensor((1, 6, 6, 3), "i8"), f, None, f,
                  kernel_shape=[2, 2], strides=[2, 2], channels_last=1)
    assert op.result.type == tensor((1, 3, 3, 3), "i8")
    op = build_on(q.QLinearGlobalAveragePool, tensor((1, 6, 6, 3), "u8"), f, tensor((), "u8"),
                  f, tensor((), "u8"), channels_last=1)
    assert op.result.type == tensor((1, 1, 1, 3), "u8")


def test_ir_quantized_operands_are_rejected() -> None:
    qt = TensorType((2, 3), I8, Quantization.per_tensor(0.1, 0))
    with pytest.raises(IRError, match=r"onnx\.DequantizeLinear.*IR-quantized"):
        build_on(q.DequantizeLinear, qt, tensor((), "f32"))


@pytest.mark.parametrize(("op_cls", "types", "attrs", "message"), [
    (q.QuantizeLinear, [((2, 3), "f32"), ((4,), "f32"), ((4,), "u8")], {}, "axis 1"),
    (q.QuantizeLinear, [((2, 3), "f32"), ((3,), "f32"), ((3,), "u8")], {"axis": 2},
     "out of range"),
    (q.DequantizeLinear, [((2, 3), "u8"), ((), "f32"), ((), "i8")], {}, "x_zero_point"),
    (q.QLinearMatMul, [((2, 4), "u8"), ((3,), "f32"), ((), "u8"), ((4, 3), "i8"), ((), "f32"),
                       ((), "i8"), ((), "f32"), ((), "u8")], {}, "a_scale"),
    (q.QLinearConv, [((1, 2, 4, 4), "u8"), ((), "f32"), ((), "u8"), ((3, 2, 3, 3), "i8"),
                     ((2,), "f32"), ((), "i8"), ((), "f32"), ((), "u8")], {}, "w_scale"),
    (q.QLinearAdd, [((2, 3), "u8"), ((), "f32"), ((), "u8"), ((2, 3), "i8"), ((), "f32"),
                    ((), "i8"), ((), "f32")], {}, "element type"),
    (q.QLinearAdd, [((2, 3), "u8"), ((2,), "f32"), ((), "u8"), ((2, 3), "u8"), ((), "f32"),
                    ((), "u8"), ((), "f32")], {}, "scalar"),
    (q.QLinearConcat, [((), "f32"), ((), "u8"), ((2, 3), "u8"), ((), "f32"), ((), "u8"),
                       ((2, 3), "u8")], {"axis": 0}, "triples"),
    (q.QLinearConcat, [((), "f32"), ((), "u8"), ((2, 3), "i8"), ((), "f32"), ((), "i8")],
     {"axis": 0}, "output is u8"),
    (q.QGemm, [((3, 4), "u8"), ((), "f32"), ((), "u8"), ((4, 5), "u8"), ((), "f32"),
               ((), "u8"), None, None, ((), "u8")], {}, "y_scale"),
    (q.QGemm, [((3, 4), "u8"), ((), "f32"), ((), "u8"), ((5, 5), "u8"), ((), "f32"),
               ((), "u8")], {}, "inner"),
    (q.MatMulInteger, [((2, 4), "u8"), ((4, 3), "u8"), ((3,), "u8")], {}, "a_zero_point"),
])
def test_bad_operands_name_the_op(op_cls: type[Operation],
                                  types: list[tuple[tuple[int, ...], str] | None],
                                  attrs: dict[str, object], message: str) -> None:
    tys = [None if ty is None else tensor(*ty) for ty in types]
    with pytest.raises(IRError, match=rf"{op_cls.OP_NAME}.*{message}"):
        build_on(op_cls, *tys, **attrs)
