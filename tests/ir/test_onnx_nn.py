"""onnx convolution, matrix-product and pooling ops against onnxruntime and ONNX shape inference.

Also holds the comparison helpers the tensor and quantized op tests share.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper, numpy_helper

from furiosa.errors import IRError
from furiosa.ir.core import Operation
from furiosa.ir.dialects.onnx import nn
from furiosa.ir.module import Function
from furiosa.ir.types import DYNAMIC, Quantization, TensorType, tensor
from tests.ir.onnx_reference import OPSET, run_onnx_node
from tests.ir.op_examples import run_example, single_op_module

# --------------------------------------------------------------------------- shared helpers


def run_ir(op_cls: type[Operation], inputs: Sequence[np.ndarray | None],
           constant: Sequence[int] = (), **attributes: object) -> list[np.ndarray]:
    """Outputs of a one-op module run by the interpreter."""
    return run_example(single_op_module(op_cls, inputs, constant=constant, **attributes))


def assert_outputs(got: Sequence[np.ndarray], want: Sequence[np.ndarray], rtol: float = 1e-5,
                   atol: float = 1e-6) -> None:
    """Same count, shapes and dtypes; floats within tolerance, everything else exactly."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape, (g.shape, w.shape)
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
        if g.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
        else:
            np.testing.assert_array_equal(g, w)


def check_op(op_cls: type[Operation], op_type: str, inputs: Sequence[np.ndarray | None],
             n_outputs: int = 1, constant: Sequence[int] = (), rtol: float = 1e-5,
             atol: float = 1e-6, domain: str = "", opset: int = OPSET,
             use_reference: bool = False, **attributes: object) -> list[np.ndarray]:
    """Interpreter vs onnxruntime (or ONNX's reference) on the same inputs and attributes."""
    got = run_ir(op_cls, inputs, constant, **attributes)
    want = run_onnx_node(op_type, inputs, n_outputs, domain=domain, opset=opset,
                         use_reference=use_reference, **attributes)
    assert_outputs(got, want, rtol, atol)
    return got


def onnx_inferred_shapes(op_type: str, inputs: Sequence[np.ndarray | None], n_outputs: int = 1,
                         constant: Sequence[int] = (), opset: int = OPSET,
                         **attributes: object) -> list[tuple[int, ...] | None]:
    """Output shapes from onnx.shape_inference (constant inputs as initializers); None where
    ONNX leaves a shape unknown."""
    names, graph_inputs, inits = [], [], []
    for i, a in enumerate(inputs):
        if a is None:
            names.append("")
            continue
        name = f"x{i}"
        names.append(name)
        if i in constant:
            inits.append(numpy_helper.from_array(np.asarray(a), name))
        else:
            graph_inputs.append(helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(np.asarray(a).dtype), list(np.shape(a))))
    while names and names[-1] == "":
        names.pop()
    outs = [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, names, outs, **attributes)
    graph = helper.make_graph([node], "g", graph_inputs,
                              [helper.make_empty_tensor_value_info(o) for o in outs],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    shapes: list[tuple[int, ...] | None] = []
    by_name = {v.name: v for v in [*inferred.graph.value_info, *inferred.graph.output]}
    for o in outs:
        t = by_name[o].type.tensor_type
        if not t.HasField("shape") or any(not d.HasField("dim_value") for d in t.shape.dim):
            shapes.append(None)
        else:
            shapes.append(tuple(d.dim_value for d in t.shape.dim))
    return shapes


def check_shapes(op_cls: type[Operation], op_type: str, inputs: Sequence[np.ndarray | None],
                 n_outputs: int = 1, constant: Sequence[int] = (), opset: int = OPSET,
                 **attributes: object) -> None:
    """infer_types agrees with ONNX shape inference wherever ONNX knows the shape."""
    ex = single_op_module(op_cls, inputs, constant=constant, **attributes)
    ours = [r.type.shape for r in ex.module.outputs]
    theirs = onnx_inferred_shapes(op_type, inputs, n_outputs, constant, opset, **attributes)
    for o, t in zip(ours, theirs, strict=True):
        if t is not None:
            assert o == t, (o, t)


def build_on(op_cls: type[Operation], *types: TensorType | None,
             **attributes: object) -> Operation:
    """An op built on module inputs of the given types (for type-rule tests)."""
    m = Function("t")
    vals = [None if ty is None else m.add_input(f"in{i}", ty) for i, ty in enumerate(types)]
    return op_cls.build(*vals, **attributes)


def f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


# --------------------------------------------------------------------------- Conv

CONV_CASES = [
    ((1, 4, 7, 8), (6, 2, 3, 3), True, dict(group=2)),
    ((2, 4, 7, 8), (6, 2, 3, 3), True, dict(group=2, strides=[2, 1], pads=[1, 0, 2, 1],
                                            dilations=[1, 2])),
    ((1, 3, 9, 9), (4, 3, 3, 3), False, dict(auto_pad="SAME_UPPER", strides=[2, 3])),
    ((1, 3, 9, 8), (4, 3, 2, 3), False, dict(auto_pad="SAME_LOWER", strides=[2, 2])),
    ((1, 3, 9, 8), (4, 3, 3, 3), True, dict(auto_pad="VALID", strides=[2, 3])),
    ((1, 4, 6, 6), (4, 1, 3, 3), True, dict(group=4, pads=[1, 1, 1, 1])),
    ((1, 3, 10), (4, 3, 3), True, dict(strides=[2], pads=[1, 2], dilations=[2])),
    ((1, 2, 5, 6, 4), (3, 2, 2, 3, 2), True, dict(pads=[1, 0, 1, 0, 1, 1], strides=[1, 2, 1])),
    ((1, 8, 5, 5), (16, 8, 1, 1), True, dict(kernel_shape=[1, 1])),
]


@pytest.mark.parametrize(("x_shape", "w_shape", "bias", "attrs"), CONV_CASES)
def test_conv_matches_onnxruntime(x_shape: tuple[int, ...], w_shape: tuple[int, ...],
                                  bias: bool, attrs: dict[str, object]) -> None:
    rng = np.random.default_rng(0)
    inputs = [f32(rng, *x_shape), f32(rng, *w_shape)] + ([f32(rng, w_shape[0])] if bias else [])
    check_op(nn.Conv, "Conv", inputs, constant=(1, 2), atol=1e-5, **attrs)
    check_shapes(nn.Conv, "Conv", inputs, constant=(1, 2), **attrs)


def test_conv_float16_and_float64() -> None:
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    check_op(nn.Conv, "Conv", [x, w], pads=[1, 1, 1, 1])
    check_op(nn.Conv, "Conv", [x.astype(np.float16), w.astype(np.float16)], rtol=1e-2, atol=1e-2)


CONV_TRANSPOSE_CASES = [
    ((1, 4, 3, 4), (4, 3, 3, 3), True, dict(group=2)),
    ((1, 4, 3, 4), (4, 3, 3, 2), True, dict(group=2, strides=[2, 3], pads=[1, 0, 0, 2],
                                            output_padding=[1, 2])),
    ((2, 2, 3, 3), (2, 2, 3, 3), False, dict(strides=[2, 2], dilations=[2, 1])),
    ((1, 2, 4, 4), (2, 3, 3, 3), False, dict(strides=[2, 3], auto_pad="SAME_UPPER")),
    ((1, 2, 4, 4), (2, 3, 3, 3), False, dict(strides=[2, 3], auto_pad="SAME_LOWER")),
    ((1, 2, 4, 4), (2, 3, 3, 3), True, dict(strides=[2, 3], auto_pad="VALID")),
    ((1, 2, 4, 4), (2, 3, 3, 3), False, dict(strides=[2, 2], output_shape=[8, 10])),
    ((1, 2, 4, 4), (2, 3, 3, 3), False, dict(strides=[2, 2], output_shape=[8, 9],
                                             auto_pad="SAME_UPPER")),
    ((1, 3, 10), (3, 2, 4), True, dict(strides=[3], pads=[1, 2])),
    ((1, 2, 2, 3, 2), (2, 2, 2, 2, 2), False, dict(strides=[2, 1, 2])),
]


@pytest.mark.parametrize(("x_shape", "w_shape", "bias", "attrs"), CONV_TRANSPOSE_CASES)
def test_conv_transpose_matches_onnxruntime(x_shape: tuple[int, ...], w_shape: tuple[int, ...],
                                            bias: bool, attrs: dict[str, object]) -> None:
    rng = np.random.default_rng(2)
    m = w_shape[1] * int(attrs.get("group", 1))  # type: ignore[call-overload]
    inputs = [f32(rng, *x_shape), f32(rng, *w_shape)] + ([f32(rng, m)] if bias else [])
    check_op(nn.ConvTranspose, "ConvTranspose", inputs, constant=(1, 2), atol=1e-5, **attrs)


# --------------------------------------------------------------------------- Gemm and MatMul

GEMM_CASES = [
    ((3, 5), (5, 4), (4,), dict()),
    ((5, 3), (4, 5), (1, 4), dict(transA=1, transB=1, alpha=0.5, beta=2.0)),
    ((3, 5), (4, 5), (3, 1), dict(transB=1, beta=0.0)),
    ((3, 5), (5, 4), (3, 4), dict(alpha=-1.5)),
    ((3, 5), (5, 4), None, dict(alpha=2.0)),
    ((3, 5), (5, 4), (1,), dict()),
]


@pytest.mark.parametrize(("a_shape", "b_shape", "c_shape", "attrs"), GEMM_CASES)
def test_gemm_matches_onnxruntime(a_shape: tuple[int, ...], b_shape: tuple[int, ...],
                                  c_shape: tuple[int, ...] | None,
                                  attrs: dict[str, object]) -> None:
    rng = np.random.default_rng(3)
    inputs = [f32(rng, *a_shape), f32(rng, *b_shape)]
    if c_shape is not None:
        inputs.append(f32(rng, *c_shape))
    check_op(nn.Gemm, "Gemm", inputs, **attrs)
    check_shapes(nn.Gemm, "Gemm", inputs, **attrs)


def test_gemm_integer_follows_onnx_reference() -> None:
    rng = np.random.default_rng(4)
    a = rng.integers(-9, 9, (3, 4)).astype(np.int32)
    b = rng.integers(-9, 9, (4, 2)).astype(np.int32)
    c = rng.integers(-9, 9, (2,)).astype(np.int32)
    check_op(nn.Gemm, "Gemm", [a, b, c], use_reference=True)
    check_op(nn.Gemm, "Gemm", [a, b, c], use_reference=True, alpha=0.5, beta=2.0)


MATMUL_SHAPES = [((3,), (3,)), ((3,), (2, 3, 4)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (4, 2)),
                 ((2, 3, 4), (4,)), ((1, 2, 3), (3, 5))]


@pytest.mark.parametrize(("a_shape", "b_shape"), MATMUL_SHAPES)
def test_matmul_matches_onnxruntime(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(5)
    inputs = [f32(rng, *a_shape), f32(rng, *b_shape)]
    check_op(nn.MatMul, "MatMul", inputs)
    check_shapes(nn.MatMul, "MatMul", inputs)
    ints = [rng.integers(-50, 50, a_shape).astype(np.int32),
            rng.integers(-50, 50, b_shape).astype(np.int32)]
    check_op(nn.MatMul, "MatMul", ints)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=0, max_size=3),
       st.lists(st.integers(1, 3), min_size=0, max_size=3),
       st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.data())
def test_matmul_batch_broadcast_property(batch_a: list[int], batch_b: list[int], m: int, k: int,
                                         n: int, data: st.DataObject) -> None:
    # Make the batch dims broadcastable: where both have a dim, one of them becomes 1 or equal.
    for i in range(1, min(len(batch_a), len(batch_b)) + 1):
        if batch_a[-i] != batch_b[-i] and 1 not in (batch_a[-i], batch_b[-i]):
            batch_b[-i] = data.draw(st.sampled_from([1, batch_a[-i]]))
    rng = np.random.default_rng(len(batch_a) * 7 + len(batch_b))
    a, b = f32(rng, *batch_a, m, k), f32(rng, *batch_b, k, n)
    (got,) = run_ir(nn.MatMul, [a, b])
    want = np.matmul(a, b)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- pooling

POOL_CASES = [
    ((2, 3, 7, 8), dict(kernel_shape=[3, 3])),
    ((2, 3, 7, 8), dict(kernel_shape=[3, 2], strides=[2, 2], pads=[1, 1, 1, 0])),
    ((2, 3, 7, 8), dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
    ((1, 2, 7, 8), dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1,
                        count_include_pad=1)),
    ((1, 2, 7, 8), dict(kernel_shape=[2, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                        count_include_pad=1)),
    ((1, 2, 7, 8), dict(kernel_shape=[3, 3], strides=[2, 3], auto_pad="SAME_UPPER")),
    ((1, 2, 7, 8), dict(kernel_shape=[3, 3], strides=[2, 3], auto_pad="SAME_LOWER",
                        count_include_pad=1)),
    ((1, 2, 7, 8), dict(kernel_shape=[3, 3], strides=[2, 3], auto_pad="VALID")),
    ((1, 3, 10), dict(kernel_shape=[3], strides=[2], pads=[1, 1])),
    ((1, 2, 5, 6, 5), dict(kernel_shape=[2, 2, 2], strides=[2, 2, 2], ceil_mode=1)),
]


def _only(attrs: dict[str, object], *names: str) -> dict[str, object]:
    return {k: v for k, v in attrs.items() if k in names}


@pytest.mark.parametrize(("shape", "attrs"), POOL_CASES)
def test_average_pool_matches_onnxruntime(shape: tuple[int, ...], attrs: dict[str, object]) -> None:
    x = f32(np.random.default_rng(6), *shape)
    check_op(nn.AveragePool, "AveragePool", [x], **attrs)
    check_shapes(nn.AveragePool, "AveragePool", [x], **attrs)


@pytest.mark.parametrize(("shape", "attrs"), POOL_CASES)
def test_max_pool_matches_onnxruntime(shape: tuple[int, ...], attrs: dict[str, object]) -> None:
    x = f32(np.random.default_rng(7), *shape)
    a = {k: v for k, v in attrs.items() if k != "count_include_pad"}
    check_op(nn.MaxPool, "MaxPool", [x], **a)
    check_shapes(nn.MaxPool, "MaxPool", [x], **a)


@pytest.mark.parametrize(("shape", "attrs"), [c for c in POOL_CASES if "ceil_mode" not in c[1]])
@pytest.mark.parametrize("p", [1, 2, 3])
def test_lp_pool_matches_onnxruntime(shape: tuple[int, ...], attrs: dict[str, object],
                                     p: int) -> None:
    x = f32(np.random.default_rng(8), *shape)
    a = _only(attrs, "kernel_shape", "strides", "pads", "auto_pad")
    check_op(nn.LpPool, "LpPool", [x], rtol=1e-5, atol=1e-5, p=p, **a)


@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[3, 3], dilations=[2, 1], strides=[1, 2], pads=[2, 1, 1, 1]),
    dict(kernel_shape=[2, 2], dilations=[2, 2], ceil_mode=1, strides=[2, 2]),
])
def test_max_pool_dilations(attrs: dict[str, object]) -> None:
    x = f32(np.random.default_rng(9), 1, 2, 8, 9)
    check_op(nn.MaxPool, "MaxPool", [x], **attrs)


@pytest.mark.parametrize("storage_order", [0, 1])
@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[2, 3], strides=[2, 2], pads=[1, 1, 0, 1]),
    dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    dict(kernel_shape=[2, 2], dilations=[2, 1]),
])
def test_max_pool_indices(storage_order: int, attrs: dict[str, object]) -> None:
    x = f32(np.random.default_rng(10), 2, 3, 6, 7)
    m = Function("pool")
    v = m.add_input("x", tensor(x.shape, "f32"))
    op = nn.MaxPool.with_indices(v, storage_order=storage_order, **attrs)
    m.add(op)
    m.set_outputs(op.results, ["y", "i"])
    from furiosa.ir.interpreter import interpret

    out = interpret(m, {"x": x})
    want = run_onnx_node("MaxPool", [x], 2, storage_order=storage_order, **attrs)
    assert_outputs([out["y"], out["i"]], want)
    assert op.results[1].type == tensor(op.results[0].type.shape, "i64")


def test_max_pool_int8_pads_with_lowest() -> None:
    x = np.random.default_rng(11).integers(-128, 128, (1, 2, 6, 6)).astype(np.int8)
    check_op(nn.MaxPool, "MaxPool", [x], kernel_shape=[2, 2], pads=[1, 1, 1, 1])
    check_op(nn.MaxPool, "MaxPool", [np.abs(x).astype(np.uint8)], kernel_shape=[3, 3],
             strides=[2, 2], pads=[1, 1, 1, 1])


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 2, 7), (1, 2, 3, 4, 2)])
def test_global_pools_match_onnxruntime(shape: tuple[int, ...]) -> None:
    x = f32(np.random.default_rng(12), *shape)
    check_op(nn.GlobalAveragePool, "GlobalAveragePool", [x])
    check_op(nn.GlobalMaxPool, "GlobalMaxPool", [x])
    check_shapes(nn.GlobalAveragePool, "GlobalAveragePool", [x])


def test_ceil_mode_drops_a_window_that_starts_in_the_end_padding() -> None:
    """As onnxruntime and PyTorch do (ONNX 1.x shape inference keeps that window)."""
    x = f32(np.random.default_rng(13), 1, 1, 5, 5)
    attrs = dict(kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)
    assert check_op(nn.MaxPool, "MaxPool", [x], **attrs)[0].shape == (1, 1, 3, 3)
    check_op(nn.AveragePool, "AveragePool", [x], **attrs)


@settings(max_examples=40, deadline=None)
@given(size=st.integers(3, 12), kernel=st.integers(1, 3), stride=st.integers(1, 3),
       dilation=st.integers(1, 2), pb=st.integers(0, 2), pe=st.integers(0, 2),
       ceil=st.integers(0, 1))
def test_pool_output_size_property(size: int, kernel: int, stride: int, dilation: int, pb: int,
                                   pe: int, ceil: int) -> None:
    """The shared window rule gives onnxruntime's MaxPool output size and values."""
    if (kernel - 1) * dilation + 1 > size + pb + pe or max(pb, pe) >= kernel:
        return
    x = f32(np.random.default_rng(size), 1, 1, size)
    check_op(nn.MaxPool, "MaxPool", [x], kernel_shape=[kernel], strides=[stride],
             dilations=[dilation], pads=[pb, pe], ceil_mode=ceil)


# --------------------------------------------------------------------------- type rules and errors


def test_dynamic_dims_propagate() -> None:
    x = TensorType((DYNAMIC, 4, DYNAMIC, 8), tensor((), "f32").element)
    w = tensor((6, 2, 3, 3), "f32")
    op = build_on(nn.Conv, x, w, group=2, pads=[1, 1, 1, 1], strides=[2, 2])
    assert op.result.type.shape == (DYNAMIC, 6, DYNAMIC, 4)
    op = build_on(nn.MaxPool, x, kernel_shape=[2, 2], auto_pad="SAME_UPPER", strides=[2, 2])
    assert op.result.type.shape == (DYNAMIC, 4, DYNAMIC, 4)
    op = build_on(nn.MatMul, tensor((DYNAMIC, 3, 4), "f32"), tensor((4, 5), "f32"))
    assert op.result.type.shape == (DYNAMIC, 3, 5)
    op = build_on(nn.ConvTranspose, TensorType((1, 2, DYNAMIC, 4), w.element),
                  tensor((2, 3, 3, 3), "f32"), strides=[2, 2])
    assert op.result.type.shape == (1, 3, DYNAMIC, 9)


@pytest.mark.parametrize(("op_cls", "types", "attrs", "message"), [
    (nn.Conv, [(1, 4, 5, 5), (6, 3, 3, 3)], dict(group=2), "channels"),
    (nn.Conv, [(1, 4, 5, 5), (5, 2, 3, 3)], dict(group=2), "groups"),
    (nn.Conv, [(1, 2, 2, 2), (3, 2, 3, 3)], dict(), "larger than"),
    (nn.Conv, [(1, 2, 5, 5), (3, 2, 3, 3)], dict(pads=[1, 1]), "pads"),
    (nn.Conv, [(1, 2, 5, 5), (3, 2, 3, 3)], dict(pads=[1, 1, 1, 1], auto_pad="SAME_UPPER"),
     "auto_pad"),
    (nn.Conv, [(1, 2, 5, 5), (3, 2, 3, 3)], dict(kernel_shape=[2, 2]), "kernel_shape"),
    (nn.Conv, [(1, 2, 5, 5), (3, 2, 3, 3), (4,)], dict(), "bias"),
    (nn.Conv, [(2, 5), (3, 2)], dict(), "rank"),
    (nn.ConvTranspose, [(1, 2, 5, 5), (2, 3, 3, 3)], dict(output_padding=[2, 0]),
     "output_padding"),
    (nn.Gemm, [(3, 4), (5, 2)], dict(), "inner"),
    (nn.Gemm, [(3, 4), (4, 2), (3, 3)], dict(), "broadcast"),
    (nn.MatMul, [(3, 4), (5, 2)], dict(), "inner"),
    (nn.MatMul, [(2, 3, 4), (3, 4, 2)], dict(), "broadcast"),
    (nn.MaxPool, [(1, 2, 5, 5)], dict(kernel_shape=[2]), "kernel_shape"),
    (nn.AveragePool, [(1, 2, 5, 5)], dict(kernel_shape=[2, 2], strides=[1]), "strides"),
])
def test_bad_shapes_and_attributes_name_the_op(op_cls: type[Operation],
                                               types: list[tuple[int, ...]],
                                               attrs: dict[str, object], message: str) -> None:
    with pytest.raises(IRError, match=rf"{op_cls.OP_NAME}.*{message}"):
        build_on(op_cls, *[tensor(s, "f32") for s in types], **attrs)


def test_declared_attribute_checks_reject_bad_values() -> None:
    from furiosa.ir.verifier import verify_operation

    op = build_on(nn.Conv, tensor((1, 2, 5, 5), "f32"), tensor((3, 2, 3, 3), "f32"))
    op.group = 0
    with pytest.raises(IRError, match=r"onnx\.Conv.*group"):
        verify_operation(op)
    op = build_on(nn.AveragePool, tensor((1, 2, 5, 5), "f32"), kernel_shape=[2, 2])
    op.auto_pad = "SAME"
    with pytest.raises(IRError, match=r"onnx\.AveragePool.*auto_pad"):
        verify_operation(op)


def test_arithmetic_ops_reject_quantized_inputs() -> None:
    q = TensorType((1, 2, 5, 5), tensor((), "i8").element, Quantization.per_tensor(0.1, 0))
    with pytest.raises(IRError, match=r"onnx\.GlobalAveragePool.*quantized"):
        build_on(nn.GlobalAveragePool, q)
    qa = TensorType((3, 4), tensor((), "i32").element, None)
    qb = TensorType((4, 2), tensor((), "i8").element, Quantization.per_tensor(0.1, 0))
    with pytest.raises(IRError, match=r"onnx\.MatMul"):
        build_on(nn.MatMul, qa, qb)


def test_max_pool_carries_quantization() -> None:
    i8 = tensor((), "i8").element
    per_channel = TensorType((1, 2, 4, 4), i8, Quantization.per_axis([0.1, 0.2], [0, 0], 1))
    op = build_on(nn.MaxPool, per_channel, kernel_shape=[2, 2], strides=[2, 2])
    assert op.result.type.quant == per_channel.quant
    spatial = TensorType((1, 2, 4, 4), i8, Quantization.per_axis([0.1] * 4, [0] * 4, 3))
    with pytest.raises(IRError, match=r"onnx\.MaxPool.*spatial"):
        build_on(nn.MaxPool, spatial, kernel_shape=[2, 2])
