"""The quant ops in ``onnxruntime`` arithmetic against onnxruntime itself, bit for bit.

Each case builds a single-op INT8 QDQ ONNX model (seeded data, the integers and scales given
here), runs it in onnxruntime with ``session.qdqisint8allowed=1`` (its integer kernels on int8
data, the reference configuration), builds the equivalent quant op by hand from the same
integers and scales, and requires identical outputs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from furiosa.ir.core import Dense, Operation, Value
from furiosa.ir.dialects import quant
from furiosa.ir.interpreter import run_op
from furiosa.ir.module import Function
from furiosa.ir.quantization import onnxruntime_table
from furiosa.ir.types import I8, I32, U8, ElementType, Quantization, TensorType
from furiosa.ir.verifier import verify_operation

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
helper, numpy_helper, TensorProto = onnx.helper, onnx.numpy_helper, onnx.TensorProto

ORT = "onnxruntime"
f32 = np.float32
_ONNX_TYPE = {I8: TensorProto.INT8, U8: TensorProto.UINT8}


@functools.cache
def _has_vnni() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_vnni" in flags or " avx_vnni" in flags


def needs_vnni() -> None:
    """onnxruntime's u8s8 kernels without VNNI saturate pair sums to int16: not exact integers."""
    if not _has_vnni():
        pytest.skip("this CPU lacks avx512_vnni/avx_vnni: onnxruntime's int8 GEMM kernels "
                    "saturate pair sums to int16 here, so they are no exact reference")


class Case:
    """One single-op model built twice: as ONNX QDQ for onnxruntime and as a quant op."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[object] = []
        self.inits: list[object] = []
        self.graph_inputs: list[object] = []
        self.feeds: dict[str, np.ndarray] = {}
        self.function = Function("case")
        self.values: list[Value] = []
        self.arrays: list[np.ndarray] = []
        self.count = 0

    def _name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def _scalars(self, scale: float | Sequence[float], zp: int | Sequence[int],
                 element: ElementType) -> tuple[str, str]:
        s_name, z_name = self._name("s"), self._name("z")
        self.inits.append(numpy_helper.from_array(np.asarray(scale, dtype=f32), s_name))
        self.inits.append(numpy_helper.from_array(np.asarray(zp, dtype=element.dtype), z_name))
        return s_name, z_name

    def levels(self, shape: Sequence[int], element: ElementType = I8,
               low: int | None = None, high: int | None = None) -> np.ndarray:
        lo = int(element.min) if low is None else low
        hi = int(element.max) if high is None else high
        return self.rng.integers(lo, hi + 1, size=tuple(shape)).astype(element.dtype)

    def activation(self, shape: Sequence[int], scale: float, zp: int,
                   element: ElementType = I8) -> tuple[str, Value]:
        """A graph input (random levels) dequantized in ONNX; an IR function input."""
        data = self.levels(shape, element)
        name = self._name("x")
        self.feeds[name] = data
        self.graph_inputs.append(helper.make_tensor_value_info(name, _ONNX_TYPE[element],
                                                               list(shape)))
        s, z = self._scalars(scale, zp, element)
        out = self._name("xf")
        self.nodes.append(helper.make_node("DequantizeLinear", [name, s, z], [out]))
        return out, self._ir(data, element, Quantization.per_tensor(scale, zp))

    def weights(self, shape: Sequence[int], scales: Sequence[float], axis: int,
                zp: int = 0) -> tuple[str, Value]:
        data = self.levels(shape, I8, -127, 127)
        name = self._name("w")
        self.inits.append(numpy_helper.from_array(data, name))
        zps = [zp] * len(scales)
        if len(scales) == 1:
            s, z = self._scalars(scales[0], zp, I8)
            quantization = Quantization.per_tensor(scales[0], zp)
            attrs: dict[str, int] = {}
        else:
            s, z = self._scalars(list(scales), zps, I8)
            quantization = Quantization.per_axis(scales, zps, axis)
            attrs = {"axis": axis}
        out = self._name("wf")
        self.nodes.append(helper.make_node("DequantizeLinear", [name, s, z], [out], **attrs))
        return out, self._ir(data, I8, quantization)

    def bias(self, count: int, scales: Sequence[float]) -> tuple[str, Value]:
        data = self.rng.integers(-3000, 3000, size=count).astype(np.int32)
        name = self._name("b")
        self.inits.append(numpy_helper.from_array(data, name))
        s_name, z_name = self._name("s"), self._name("z")
        self.inits.append(numpy_helper.from_array(np.asarray(scales, dtype=f32), s_name))
        self.inits.append(numpy_helper.from_array(np.zeros(len(scales), np.int32), z_name))
        out = self._name("bf")
        self.nodes.append(helper.make_node("DequantizeLinear", [name, s_name, z_name], [out],
                                           axis=0))
        q = (Quantization.per_tensor(scales[0]) if len(scales) == 1
             else Quantization.per_axis(scales, [0] * len(scales), 0))
        return out, self._ir(data, I32, q)

    def _ir(self, data: np.ndarray, element: ElementType, q: Quantization) -> Value:
        v = self.function.add_input(self._name("v"), TensorType(data.shape, element, q))
        self.values.append(v)
        self.arrays.append(data)
        return v

    def node(self, op_type: str, inputs: Sequence[str], **attrs: object) -> str:
        out = self._name("y")
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def run_onnxruntime(self, output: str, scale: float, zp: int,
                        element: ElementType = I8) -> np.ndarray:
        s, z = self._scalars(scale, zp, element)
        self.nodes.append(helper.make_node("QuantizeLinear", [output, s, z], ["out"]))
        graph = helper.make_graph(self.nodes, "case", self.graph_inputs,
                                  [helper.make_tensor_value_info("out", _ONNX_TYPE[element],
                                                                 None)], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        options = ort.SessionOptions()
        options.add_session_config_entry("session.qdqisint8allowed", "1")
        session = ort.InferenceSession(model.SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        return session.run(None, self.feeds)[0]

    def run_ir(self, op: Operation, arrays: Sequence[np.ndarray | None] | None = None
               ) -> np.ndarray:
        assert op.arithmetic == ORT  # type: ignore[attr-defined]
        verify_operation(op)
        return run_op(op, list(self.arrays if arrays is None else arrays))[0]


def onnxruntime_mode(op: Operation) -> Operation:
    op.arithmetic = ORT  # type: ignore[attr-defined]
    return op


def assert_identical(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    mismatches = int(np.count_nonzero(got != want))
    assert mismatches == 0, f"{mismatches} of {want.size} outputs differ from onnxruntime"


def q(scale: float, zp: int = 0) -> Quantization:
    return Quantization.per_tensor(scale, zp)


# --------------------------------------------------------------------------- conv, matmul, gemm


CONVS = {  # x shape, out channels, kernel, strides, pads, dilations, group, bias
    "3x3_per_channel": ((1, 3, 9, 7), 8, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, True),
    "1x1_wide": ((1, 32, 8, 8), 40, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1, True),
    "depthwise_s2": ((1, 24, 11, 10), 24, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 24, True),
    "odd_dilated_batch": ((2, 5, 13, 11), 6, (5, 3), (2, 1), (2, 0, 1, 1), (1, 2), 1, False),
    "grouped": ((1, 16, 7, 7), 32, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 16, True),
}


@pytest.mark.parametrize("name", list(CONVS))
def test_conv(name: str) -> None:
    needs_vnni()
    shape, m, kernel, strides, pads, dilations, group, with_bias = CONVS[name]
    case = Case(sum(map(ord, name)))
    sx, zx, sy, zy = 0.043, -7, 0.061, 5
    w_scales = [float(s) for s in case.rng.uniform(0.002, 0.01, size=m).astype(f32)]
    xf, xv = case.activation(shape, sx, zx)
    wf, wv = case.weights((m, shape[1] // group, *kernel), w_scales, 0)
    inputs, bv = [xf, wf], None
    if with_bias:
        bf, bv = case.bias(m, [float(f32(sx) * f32(s)) for s in w_scales])
        inputs.append(bf)
    y = case.node("Conv", inputs, kernel_shape=list(kernel), strides=list(strides),
                  pads=list(pads), dilations=list(dilations), group=group)
    want = case.run_onnxruntime(y, sy, zy)
    op = onnxruntime_mode(quant.Conv.from_scales(xv, wv, bv, q(sy, zy), strides=strides,
                                                 pads=pads, dilations=dilations, group=group))
    assert_identical(case.run_ir(op), want)


@pytest.mark.parametrize(("a_shape", "k", "n", "per_column", "b_zp"), [
    ((7, 33), 33, 10, True, 0), ((2, 5, 17), 17, 9, False, 3), ((1, 300), 300, 65, True, 0)])
def test_matmul(a_shape: tuple[int, ...], k: int, n: int, per_column: bool, b_zp: int) -> None:
    needs_vnni()
    case = Case(k * n)
    sa, za, sy, zy = 0.031, 4, 0.09, -3
    scales = ([float(s) for s in case.rng.uniform(0.003, 0.02, size=n).astype(f32)]
              if per_column else [0.011])
    af, av = case.activation(a_shape, sa, za)
    bf, bv = case.weights((k, n), scales, 1, b_zp)
    want = case.run_onnxruntime(case.node("MatMul", [af, bf]), sy, zy)
    op = onnxruntime_mode(quant.MatMul.from_scales(av, bv, None, q(sy, zy)))
    assert_identical(case.run_ir(op), want)


@pytest.mark.parametrize(("m", "k", "n"), [(4, 50, 12), (1, 257, 31)])
def test_gemm_as_fully_connected(m: int, k: int, n: int) -> None:
    needs_vnni()
    case = Case(m * k + n)
    sa, za, sy, zy = 0.027, -11, 0.05, 2
    scales = [float(s) for s in case.rng.uniform(0.003, 0.02, size=n).astype(f32)]
    af, av = case.activation((m, k), sa, za)
    bf, bv = case.weights((k, n), scales, 1)
    cf, cv = case.bias(n, [float(f32(sa) * f32(s)) for s in scales])
    want = case.run_onnxruntime(case.node("Gemm", [af, bf, cf]), sy, zy)
    op = onnxruntime_mode(quant.FullyConnected.from_scales(av, bv, cv, q(sy, zy)))
    assert_identical(case.run_ir(op), want)


# --------------------------------------------------------------------------- element-wise


BINARY_SHAPES = [((4, 37), (4, 37)), ((2, 3, 4, 5), (1, 3, 1, 1)), ((6, 7), (7,)),
                 ((1,), (3, 9)), ((3, 1, 5), (3, 4, 1)), ((2, 3, 8), (2, 3, 1))]
SCALE_SETS = [(0.02, 3, 0.03, -7, 0.04, 2), (0.0071, -50, 0.113, 17, 0.0452, -128),
              (0.25, 0, 0.0039, 100, 0.0625, 30)]


@pytest.mark.parametrize("kind", ["Add", "Sub", "Mul"])
@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("scales", range(len(SCALE_SETS)))
def test_binary(kind: str, shapes: tuple[tuple[int, ...], tuple[int, ...]], scales: int) -> None:
    sa, za, sb, zb, sy, zy = SCALE_SETS[scales]
    case = Case(len(kind) + 7 * scales)
    af, av = case.activation(shapes[0], sa, za)
    bf, bv = case.activation(shapes[1], sb, zb)
    want = case.run_onnxruntime(case.node(kind, [af, bf]), sy, zy)
    cls = {"Add": quant.Add, "Sub": quant.Sub, "Mul": quant.Mul}[kind]
    op = onnxruntime_mode(cls.from_scales(av, bv, q(sy, zy)))
    assert_identical(case.run_ir(op), want)


def test_add_all_code_pairs() -> None:
    """Every pair of int8 codes, for several scale sets (onnxruntime's FMA kernel)."""
    for i, (sa, za, sb, zb, sy, zy) in enumerate(SCALE_SETS):
        case = Case(i)
        a, b = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128))
        af, av = case.activation((256, 256), sa, za)
        bf, bv = case.activation((256, 256), sb, zb)
        case.feeds = {k: v for k, v in zip(case.feeds, (a.astype(np.int8), b.astype(np.int8)),
                                           strict=True)}
        want = case.run_onnxruntime(case.node("Add", [af, bf]), sy, zy)
        op = onnxruntime_mode(quant.Add.from_scales(av, bv, q(sy, zy)))
        assert_identical(case.run_ir(op, list(case.feeds.values())), want)


@pytest.mark.parametrize(("to", "sy", "zy"), [(I8, 0.07, 9), (U8, 0.02, 128), (I8, 0.0105, -3)])
def test_requantize(to: ElementType, sy: float, zy: int) -> None:
    case = Case(11)
    xf, xv = case.activation((5, 61), 0.043, -7)
    want = case.run_onnxruntime(xf, sy, zy, to)
    op = onnxruntime_mode(quant.Requantize.from_scales(xv, q(sy, zy), to))
    assert_identical(case.run_ir(op), want)


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-v))


TABLES: dict[str, tuple[Callable[..., object], Callable[[np.ndarray], np.ndarray], float, int]] = {
    "Sigmoid": (lambda c, x: c.node("Sigmoid", [x]), _sigmoid, 1 / 256, -128),
    "LeakyRelu": (lambda c, x: c.node("LeakyRelu", [x], alpha=0.1),
                  lambda v: np.where(v >= 0, v, np.float32(0.1) * v), 0.05, -20),
    "Tanh": (lambda c, x: c.node("Tanh", [x]), np.tanh, 1 / 128, 0),
}


@pytest.mark.parametrize("name", list(TABLES))
@pytest.mark.parametrize(("sx", "zx"), [(0.043, -7), (0.11, 20), (0.0123, 0)])
def test_table(name: str, sx: float, zx: int) -> None:
    build, fn, sy, zy = TABLES[name]
    case = Case(3)
    xf, xv = case.activation((1, 256), sx, zx)
    case.feeds[next(iter(case.feeds))] = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    want = case.run_onnxruntime(build(case, xf), sy, zy)  # type: ignore[arg-type]
    table = onnxruntime_table(fn, q(sx, zx), q(sy, zy))
    op = quant.Table.build(xv, table=Dense(table), output_scale=sy, output_zero_point=zy)
    verify_operation(op)
    assert_identical(run_op(op, list(case.feeds.values()))[0], want)


# --------------------------------------------------------------------------- pools and reductions


POOLS = {  # shape, kernel, strides, pads, count_include_pad
    "3x3_s1_p1": ((1, 3, 9, 8), (3, 3), (1, 1), (1, 1, 1, 1), 0),
    "3x3_s1_p1_include_pad": ((1, 3, 9, 8), (3, 3), (1, 1), (1, 1, 1, 1), 1),
    "3x3_s2_p1": ((2, 4, 11, 10), (3, 3), (2, 2), (1, 1, 1, 1), 0),
    "2x3_s2": ((1, 5, 8, 9), (2, 3), (2, 2), (0, 0, 0, 0), 0),
    "global_fallback_7x7": ((1, 6, 7, 7), (7, 7), (1, 1), (0, 0, 0, 0), 0),
}


@pytest.mark.parametrize("name", list(POOLS))
@pytest.mark.parametrize("own_output", [False, True])
def test_average_pool(name: str, own_output: bool) -> None:
    shape, kernel, strides, pads, include = POOLS[name]
    case = Case(len(name))
    sx, zx = 0.037, -9
    sy, zy = (0.021, 6) if own_output else (sx, zx)
    xf, xv = case.activation(shape, sx, zx)
    y = case.node("AveragePool", [xf], kernel_shape=list(kernel), strides=list(strides),
                  pads=list(pads), count_include_pad=include)
    want = case.run_onnxruntime(y, sy, zy)
    output = {"output_scale": sy, "output_zero_point": zy} if own_output else {}
    op = quant.AveragePool.build(xv, kernel_shape=kernel, strides=strides, pads=pads,
                                 count_include_pad=include, arithmetic=ORT, **output)
    assert_identical(case.run_ir(op), want)


@pytest.mark.parametrize(("shape", "sy", "zy"), [((1, 16, 7, 7), 0.021, -4),
                                                 ((2, 5, 8, 8), 0.0113, 12),
                                                 ((1, 3, 13, 5), 0.05, 0)])
def test_global_average_pool(shape: tuple[int, ...], sy: float, zy: int) -> None:
    case = Case(shape[1])
    xf, xv = case.activation(shape, 0.043, -7)
    want = case.run_onnxruntime(case.node("GlobalAveragePool", [xf]), sy, zy)
    op = onnxruntime_mode(quant.Mean.from_scales(xv, q(sy, zy), (2, 3)))
    assert_identical(case.run_ir(op), want)


@pytest.mark.parametrize(("kind", "shape", "axes"), [
    ("ReduceMean", (2, 12, 5), (1,)), ("ReduceSum", (3, 20), (1,)),
    ("ReduceSum", (2, 4, 6), (0, 2)), ("ReduceMean", (1, 64, 3), (1,)),
    ("ReduceMean", (16, 1000), (1,)), ("ReduceMean", (4, 300, 7), (1,)),
    ("ReduceSum", (32, 513), (1,)), ("ReduceMean", (8, 9, 40), (2,)),
    ("ReduceMean", (2, 64, 7, 7), (2, 3)), ("ReduceMean", (1, 16, 13, 5), (2, 3))])
def test_float_reductions(kind: str, shape: tuple[int, ...], axes: tuple[int, ...]) -> None:
    """onnxruntime leaves ReduceMean and ReduceSum in float between DQ and Q. A mean over H and
    W is quant.Mean's global-average-pool formula, which gives the same integers here."""
    case = Case(len(shape) + sum(axes))
    sy, zy = (0.04, 3) if kind == "ReduceMean" else (0.4, -2)
    xf, xv = case.activation(shape, 0.043, -7)
    if kind == "ReduceSum":
        axes_name = case._name("axes")
        case.inits.append(numpy_helper.from_array(np.asarray(axes, np.int64), axes_name))
        y = case.node(kind, [xf, axes_name], keepdims=1)
    else:
        y = case.node(kind, [xf], axes=list(axes), keepdims=1)
    want = case.run_onnxruntime(y, sy, zy)
    cls = quant.Mean if kind == "ReduceMean" else quant.ReduceSum
    op = onnxruntime_mode(cls.from_scales(xv, q(sy, zy), axes))
    assert_identical(case.run_ir(op), want)


# --------------------------------------------------------------------------- softmax


@pytest.mark.parametrize(("shape", "axis"), [((3, 10), -1), ((2, 21), -1), ((4, 100), 1),
                                             ((2, 7, 5), 1)])
@pytest.mark.parametrize(("sx", "sy", "zy"), [(0.1, 1 / 256, -128), (0.043, 0.0041, -100),
                                              (0.25, 0.0037, -128)])
def test_softmax(shape: tuple[int, ...], axis: int, sx: float, sy: float, zy: int) -> None:
    case = Case(shape[-1])
    xf, xv = case.activation(shape, sx, 5)
    want = case.run_onnxruntime(case.node("Softmax", [xf], axis=axis), sy, zy)
    op = onnxruntime_mode(quant.Softmax.from_scales(xv, q(sy, zy), axis=axis))
    assert_identical(case.run_ir(op), want)


# --------------------------------------------------------------------------- data movement


@pytest.mark.parametrize("same_first", [False, True])
def test_concat_with_different_parameters(same_first: bool) -> None:
    case = Case(5)
    sy, zy = 0.05, 2
    params = [(sy, zy) if same_first else (0.031, -9), (0.08, 14), (0.0123, 0)]
    pairs = [case.activation((1, c, 4, 5), s, z) for c, (s, z) in zip((3, 2, 4), params,
                                                                       strict=True)]
    want = case.run_onnxruntime(case.node("Concat", [f for f, _ in pairs], axis=1), sy, zy)
    op = onnxruntime_mode(quant.Concat.from_scales([v for _, v in pairs], q(sy, zy), 1))
    assert_identical(case.run_ir(op), want)


@pytest.mark.parametrize(("mode", "align", "half"), [("half_pixel", 0, 1),
                                                     ("align_corners", 1, 0),
                                                     ("asymmetric", 0, 0)])
@pytest.mark.parametrize(("shape", "sizes"), [((1, 3, 5, 7), (10, 14)), ((1, 2, 6, 4), (9, 11)),
                                              ((2, 2, 8, 8), (4, 3))])
def test_resize_bilinear(mode: str, align: int, half: int, shape: tuple[int, ...],
                         sizes: tuple[int, int]) -> None:
    """onnxruntime keeps a linear Resize in float between DQ and Q (equal parameters)."""
    case = Case(sizes[0])
    sx, zx = 0.043, -7
    xf, xv = case.activation(shape, sx, zx)
    sizes_name = case._name("sizes")
    case.inits.append(numpy_helper.from_array(np.asarray([*shape[:2], *sizes], np.int64),
                                              sizes_name))
    y = case.node("Resize", [xf, "", "", sizes_name], mode="linear",
                  coordinate_transformation_mode=mode)
    want = case.run_onnxruntime(y, sx, zx)
    op = onnxruntime_mode(quant.ResizeBilinear.build(xv, sizes=sizes, align_corners=align,
                                                     half_pixel_centers=half))
    assert_identical(case.run_ir(op), want)


def test_binary_cases_cover_each_span_kind() -> None:
    """The binary-op cases cover broadcasting on either side and a span scalar on each."""
    from furiosa.ir.interpreter.kernels.quant import broadcast_scalar_operand

    kinds = {broadcast_scalar_operand(a, b) for a, b in BINARY_SHAPES}
    assert kinds == {"", "a", "b"}


def test_onnxruntime_table_is_dequantize_function_quantize() -> None:
    """The table equals host-side DequantizeLinear -> fn -> QuantizeLinear (half to even),
    which is how fold-qdq's tables are computed."""
    from furiosa.ir.quantization import dequantize, quantize

    rng = np.random.default_rng(9)
    for x_element, y_element in ((I8, I8), (I8, U8), (U8, I8)):
        for _ in range(10):
            xq = q(float(rng.uniform(0.002, 0.3)), int(rng.integers(x_element.min, x_element.max)))
            yq = q(float(rng.uniform(0.002, 0.3)), int(rng.integers(y_element.min, y_element.max)))
            levels = np.arange(x_element.min, x_element.max + 1).astype(x_element.dtype)
            want = quantize(np.tanh(dequantize(levels, xq)), yq, y_element, "half_even")
            table = onnxruntime_table(np.tanh, xq, yq, x_element, y_element)
            np.testing.assert_array_equal(table[levels.view(np.uint8)], want)
