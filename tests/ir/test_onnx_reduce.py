"""The onnx reductions, ArgMax/ArgMin, CumSum, softmax family and normalizations against
onnxruntime, onnx shape inference and their error cases."""

from __future__ import annotations

import numpy as np
import pytest

from furiosa.ir.core import Operation
from furiosa.ir.dialects.onnx import reduce as rd
from furiosa.ir.types import DYNAMIC, Quantization, TensorType, tensor
from furiosa.ir.verifier import verify_module
from tests.ir import op_examples
from tests.ir.op_examples import onnx_reduce as _registers_examples  # noqa: F401
from tests.ir.op_examples import single_op_module
from tests.ir.test_onnx_elementwise import (
    assert_types_match_onnx,
    attributes_never_set,
    build_on,
    check_against_onnx,
    compare,
    expect_error,
    run_ours,
    the_op,
)


def data(seed: int, shape: tuple[int, ...], lo: float = -3.0, hi: float = 3.0,
         dtype: type = np.float32) -> np.ndarray:
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(dtype)


DECLARED = sorted(cls.OP_NAME for cls in vars(rd).values()
                  if isinstance(cls, type) and issubclass(cls, Operation)
                  and cls.__module__ == rd.__name__ and cls.OP_NAME)
EXAMPLE_CASES = [fn for name in DECLARED for _, fn in op_examples.EXAMPLES.get(name, [])]


def test_every_op_has_an_example() -> None:
    assert DECLARED and all(op_examples.EXAMPLES.get(name) for name in DECLARED)


def test_examples_set_every_attribute() -> None:
    assert attributes_never_set(DECLARED) == []


@pytest.mark.parametrize("build", EXAMPLE_CASES, ids=[fn.__name__ for fn in EXAMPLE_CASES])
def test_example_matches_onnxruntime(build: object) -> None:
    check_against_onnx(build())  # type: ignore[operator]


@pytest.mark.parametrize("build", EXAMPLE_CASES, ids=[fn.__name__ for fn in EXAMPLE_CASES])
def test_example_types_match_onnx_shape_inference(build: object) -> None:
    assert_types_match_onnx(the_op(build()))  # type: ignore[operator]


# --------------------------------------------------------------------------- Reduce*

ATTRIBUTE_REDUCTIONS = [rd.ReduceMean, rd.ReduceMax, rd.ReduceMin, rd.ReduceProd, rd.ReduceL1,
                        rd.ReduceL2, rd.ReduceLogSum, rd.ReduceLogSumExp, rd.ReduceSumSquare]
AXES = [None, (0,), (-1,), (0, 2), (2, -3), (1, 0, 2)]


def _positive_for_logs(op_cls: type[Operation], lo: float) -> float:
    return 0.1 if op_cls is rd.ReduceLogSum else lo


@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("axes", AXES, ids=str)
@pytest.mark.parametrize("op_cls", ATTRIBUTE_REDUCTIONS, ids=lambda c: c.__name__)
def test_attribute_reductions(op_cls: type[Operation], axes: tuple[int, ...] | None,
                              keepdims: int) -> None:
    x = data(1, (2, 3, 4), _positive_for_logs(op_cls, -2.0), 2.0)
    ex = single_op_module(op_cls, [x], axes=axes, keepdims=keepdims)
    assert_types_match_onnx(the_op(ex))
    check_against_onnx(ex)


@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("axes", AXES, ids=str)
def test_reduce_sum_axes_operand(axes: tuple[int, ...] | None, keepdims: int) -> None:
    x = data(2, (2, 3, 4))
    inputs = [x] if axes is None else [x, np.array(axes, np.int64)]
    ex = single_op_module(rd.ReduceSum, inputs, constant=[1], keepdims=keepdims)
    assert_types_match_onnx(the_op(ex))
    check_against_onnx(ex)


@pytest.mark.parametrize("noop", [0, 1])
@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("empty", [True, False])
def test_reduce_sum_empty_axes(noop: int, keepdims: int, empty: bool) -> None:
    x = data(3, (3, 2))
    inputs = [x, np.zeros(0, np.int64)] if empty else [x]
    ex = single_op_module(rd.ReduceSum, inputs, constant=[1], keepdims=keepdims,
                          noop_with_empty_axes=noop)
    assert the_op(ex).result.type.shape == ((3, 2) if noop else (1, 1) if keepdims else ())
    assert_types_match_onnx(the_op(ex))
    check_against_onnx(ex)


# onnxruntime lacks unsigned LogSum, LogSumExp and SumSquare kernels, and onnx's reference
# evaluator refuses the first two and widens the third, so there is no oracle for those.
INTEGER_CASES = [(op_cls, dtype) for op_cls in [rd.ReduceSum, *ATTRIBUTE_REDUCTIONS]
                 for dtype in (np.int32, np.int64, np.uint32)
                 if dtype != np.uint32 or op_cls not in (rd.ReduceLogSum, rd.ReduceLogSumExp,
                                                         rd.ReduceSumSquare)]


@pytest.mark.parametrize(("op_cls", "dtype"), INTEGER_CASES,
                         ids=[f"{c.__name__}-{np.dtype(d)}" for c, d in INTEGER_CASES])
def test_integer_reductions(op_cls: type[Operation], dtype: type) -> None:
    # Means and logarithms of integers truncate toward zero, like onnxruntime's.
    lo = 1 if op_cls is rd.ReduceLogSum or np.dtype(dtype).kind == "u" else -9
    x = np.random.default_rng(4).integers(lo, 10, (3, 5)).astype(dtype)
    attributes = {} if op_cls is rd.ReduceSum else {"axes": (1,)}
    compare(op_cls, [x], **attributes)


@pytest.mark.parametrize("op_cls", [rd.ReduceMax, rd.ReduceMin])
@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_min_max_of_bytes(op_cls: type[Operation], dtype: type) -> None:
    x = np.random.default_rng(5).integers(0, 127, (4, 6)).astype(dtype)
    compare(op_cls, [x], axes=(0,), keepdims=0)


@pytest.mark.parametrize("op_cls", [rd.ReduceSum, rd.ReduceMean, rd.ReduceLogSumExp, rd.ReduceL2,
                                    rd.ReduceMax], ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_float_widths(op_cls: type[Operation], dtype: type) -> None:
    compare(op_cls, [data(6, (3, 8), dtype=dtype)])


def test_reductions_with_special_values() -> None:
    x = np.array([[np.nan, 1.0, 2.0], [-np.inf, 0.0, 1.0], [np.inf, np.inf, 1.0],
                  [-np.inf, -np.inf, -np.inf]], np.float32)
    for op_cls in (rd.ReduceMax, rd.ReduceMin, rd.ReduceLogSumExp, rd.ReduceSum, rd.ReduceMean):
        attributes = {} if op_cls is rd.ReduceSum else {"axes": (1,)}
        compare(op_cls, [x], **attributes)
    big = np.array([[1000.0, 1000.0], [-1000.0, 0.0]], np.float32)
    compare(rd.ReduceLogSumExp, [big], axes=(1,))


def test_scalar_data_reduces_to_itself() -> None:
    ex = single_op_module(rd.ReduceMean, [np.array(2.5, np.float32)])
    assert the_op(ex).result.type.shape == ()
    check_against_onnx(ex)


def test_reduction_keeps_dynamic_dims() -> None:
    x = tensor((DYNAMIC, 4, 5), "f32")
    _, op = build_on(rd.ReduceMean, [x], axes=(1,))
    assert op.result.type.shape == (DYNAMIC, 1, 5)
    _, op = build_on(rd.ReduceMax, [x], axes=(0,), keepdims=0)
    assert op.result.type.shape == (4, 5)
    _, op = build_on(rd.ReduceSum, [x, np.array([2], np.int64)], keepdims=0)
    assert op.result.type.shape == (DYNAMIC, 4)
    _, op = build_on(rd.ArgMin, [x], axis=2)
    assert op.result.type == tensor((DYNAMIC, 4, 1), "i64")
    m, op = build_on(rd.Softmax, [x])
    assert op.result.type == x
    verify_module(m)


# --------------------------------------------------------------------------- ArgMax / ArgMin


@pytest.mark.parametrize("select_last_index", [0, 1])
@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("axis", [-3, -1, 0, 1, 2])
@pytest.mark.parametrize("op_cls", [rd.ArgMax, rd.ArgMin], ids=lambda c: c.__name__)
def test_arg_reductions(op_cls: type[Operation], axis: int, keepdims: int,
                        select_last_index: int) -> None:
    # Few distinct values, so ties are common and the first/last choice matters.
    x = np.random.default_rng(7).integers(0, 3, (3, 4, 5)).astype(np.float32)
    ex = single_op_module(op_cls, [x], axis=axis, keepdims=keepdims,
                          select_last_index=select_last_index)
    assert_types_match_onnx(the_op(ex))
    check_against_onnx(ex)


@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int64, np.float64, np.float16])
def test_arg_reductions_element_types(dtype: type) -> None:
    x = np.random.default_rng(8).integers(0, 4, (4, 6)).astype(dtype)
    compare(rd.ArgMax, [x], axis=1, select_last_index=1)
    compare(rd.ArgMin, [x], axis=0, keepdims=0)


# --------------------------------------------------------------------------- CumSum


@pytest.mark.parametrize("reverse", [0, 1])
@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("axis", [-2, -1, 0, 1, 2])
def test_cumsum(axis: int, exclusive: int, reverse: int) -> None:
    x = data(9, (2, 3, 4))
    compare(rd.CumSum, [x, np.array(axis, np.int64)], exclusive=exclusive, reverse=reverse)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint32, np.uint64, np.float64])
def test_cumsum_element_types(dtype: type) -> None:
    x = np.random.default_rng(10).integers(0, 50, (3, 5)).astype(dtype)
    compare(rd.CumSum, [x, np.array(1, np.int32)], exclusive=1)
    compare(rd.CumSum, [x, np.array(0, np.int64)], reverse=1)


def test_cumsum_integers_wrap() -> None:
    x = np.array([2**31 - 1, 1, 1], np.int32)
    compare(rd.CumSum, [x, np.array(0, np.int32)])


# --------------------------------------------------------------------------- Softmax family


@pytest.mark.parametrize("axis", [-3, -2, -1, 0, 1, 2])
@pytest.mark.parametrize("op_cls", [rd.Softmax, rd.LogSoftmax, rd.Hardmax],
                         ids=lambda c: c.__name__)
def test_softmax_family_axes(op_cls: type[Operation], axis: int) -> None:
    x = np.floor(data(11, (2, 3, 4), -4, 4))
    compare(op_cls, [x], axis=axis)


@pytest.mark.parametrize("op_cls", [rd.Softmax, rd.LogSoftmax, rd.Hardmax],
                         ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_softmax_family_large_and_infinite_inputs(op_cls: type[Operation], dtype: type) -> None:
    x = np.array([[1000.0, 999.0, -1000.0], [-np.inf, 0.0, 1.0], [60000.0, 60000.0, 1.0]], dtype)
    compare(op_cls, [x])


# --------------------------------------------------------------------------- normalizations


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (2, 3, 4, 4), (1, 3, 2, 3, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_normalization(shape: tuple[int, ...], dtype: type) -> None:
    c = shape[1]
    compare(rd.BatchNormalization, [data(12, shape, dtype=dtype), data(13, (c,), dtype=dtype),
                                    data(14, (c,), dtype=dtype), data(15, (c,), dtype=dtype),
                                    data(16, (c,), 0.0, 2.0, dtype=dtype)], epsilon=1e-3)


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 4), (1, 2, 3, 2, 4)])
def test_instance_normalization(shape: tuple[int, ...]) -> None:
    c = shape[1]
    compare(rd.InstanceNormalization, [data(17, shape), data(18, (c,)), data(19, (c,))],
            epsilon=1e-4)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("axis", [-1, 0, 1, 2])
def test_lp_normalization(axis: int, p: int) -> None:
    x = data(20, (3, 4, 5))
    x[0, 0, :] = 0
    compare(rd.LpNormalization, [x], axis=axis, p=p)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 8])
def test_lrn_sizes(size: int) -> None:
    # onnxruntime implements odd sizes only. onnx's reference evaluator takes any, but loops
    # its channel index over the batch dim, so it is right only when N == C.
    compare(rd.LRN, [data(21, (6, 6, 2, 3))], size=size, alpha=0.01, beta=0.6, bias=1.5,
            use_reference=size % 2 == 0)


@pytest.mark.parametrize("shape", [(2, 5, 7), (1, 4, 2, 3, 2)])
def test_lrn_other_ranks_equal_the_4d_result(shape: tuple[int, ...]) -> None:
    # Both oracles implement 4-D LRN only; the window runs along channels, so folding the
    # spatial dims into one must not change the result.
    x = data(22, shape)
    x4 = x.reshape(shape[0], shape[1], -1, 1)
    (ours,) = run_ours(rd.LRN, [x], size=3, alpha=0.01)
    (folded,) = run_ours(rd.LRN, [x4], size=3, alpha=0.01)
    np.testing.assert_array_equal(ours, folded.reshape(shape))
    compare(rd.LRN, [x4], size=3, alpha=0.01)


@pytest.mark.parametrize("axes", [(0, 2, 3), (1,), (2, 3), (-1,), (0, 1, 2, 3)], ids=str)
def test_mean_variance_normalization(axes: tuple[int, ...]) -> None:
    compare(rd.MeanVarianceNormalization, [data(24, (2, 3, 4, 5))], axes=axes)


def test_mean_variance_normalization_of_a_constant_is_zero() -> None:
    # ONNX's function body adds 1e-9 to the deviation; onnxruntime divides 0 by 0 here.
    compare(rd.MeanVarianceNormalization, [np.ones((1, 2, 2, 2), np.float32)],
            use_reference=True)


# --------------------------------------------------------------------------- quantized data

QUANT = tensor((2, 3), "i8", Quantization.per_tensor(0.1, 4))
PER_AXIS = tensor((2, 3), "i8", Quantization.per_axis([0.1, 0.2], [0, 0], 0))


def test_selections_keep_per_tensor_quantization() -> None:
    _, op = build_on(rd.ReduceMax, [QUANT], axes=(1,))
    assert op.result.type == tensor((2, 1), "i8", QUANT.quant)
    _, op = build_on(rd.ReduceMin, [QUANT], keepdims=0)
    assert op.result.type == tensor((), "i8", QUANT.quant)
    _, op = build_on(rd.ArgMax, [QUANT], axis=1)
    assert op.result.type == tensor((2, 1), "i64")
    for op_cls in (rd.ReduceMax, rd.ArgMin):
        expect_error(lambda c=op_cls: build_on(c, [PER_AXIS]), op_cls.OP_NAME, "per-axis")


@pytest.mark.parametrize("op_cls", [rd.ReduceSum, rd.ReduceMean, rd.ReduceL2, rd.CumSum,
                                    rd.Softmax, rd.LpNormalization], ids=lambda c: c.__name__)
def test_arithmetic_rejects_quantized_data(op_cls: type[Operation]) -> None:
    q = tensor((2, 3), "i32", Quantization.per_tensor(0.5, 0))
    operands: list[TensorType | np.ndarray] = [q]
    if op_cls is rd.CumSum:
        operands.append(tensor((), "i64"))
    if op_cls in (rd.Softmax, rd.LpNormalization):
        # Their element types exclude integers; the verifier reports that first.
        m, _ = build_on(op_cls, [tensor((2, 3), "f32")])
        verify_module(m)
        expect_error(lambda: verify_module(build_on(op_cls, [q])[0]), op_cls.OP_NAME, "i32")
        return
    expect_error(lambda: build_on(op_cls, operands), op_cls.OP_NAME, "quantized", "dequantize")


# --------------------------------------------------------------------------- errors

F = tensor((2, 3, 4), "f32")


@pytest.mark.parametrize(("op_cls", "types", "attributes", "words"), [
    (rd.ReduceMean, [F], {"axes": (3,)}, ["axis 3", "rank 3"]),
    (rd.ReduceMean, [F], {"axes": (-4,)}, ["axis -4"]),
    (rd.ReduceL1, [F], {"axes": (1, -2)}, ["twice"]),
    (rd.ReduceMax, [F], {"keepdims": 2}, ["'keepdims'"]),
    (rd.ReduceSum, [F, tensor((1,), "i64")], {}, ["'axes'", "constant"]),
    (rd.ReduceSum, [F, np.array([[1]], np.int64)], {}, ["'axes'", "1-D"]),
    (rd.ReduceSum, [F, np.array([0, 5], np.int64)], {}, ["axis 5"]),
    (rd.ReduceSum, [F, np.array([1], np.int32)], {}, ["'axes'", "i32"]),
    (rd.ReduceSum, [F], {"noop_with_empty_axes": 3}, ["'noop_with_empty_axes'"]),
    (rd.ReduceProd, [tensor((2,), "i8")], {}, ["element type i8"]),
    (rd.ArgMax, [F], {"axis": 3}, ["axis 3"]),
    (rd.ArgMin, [F], {"select_last_index": 2}, ["'select_last_index'"]),
    (rd.ArgMax, [tensor((2,), "bool")], {}, ["element type bool"]),
    (rd.CumSum, [F, tensor((2,), "i64")], {}, ["'axis'", "scalar"]),
    (rd.CumSum, [F, np.array([3], np.int64)], {}, ["axis 3"]),
    (rd.CumSum, [F, tensor((), "f32")], {}, ["'axis'", "f32"]),
    (rd.CumSum, [F, tensor((), "i64")], {"exclusive": 2}, ["'exclusive'"]),
    (rd.Softmax, [F], {"axis": 3}, ["axis 3"]),
    (rd.Hardmax, [F], {"axis": -4}, ["axis -4"]),
    (rd.BatchNormalization, [F, *[tensor((3,), "f32")] * 3, tensor((4,), "f32")], {},
     ["'var'", "[3]"]),
    (rd.BatchNormalization, [F, *[tensor((3,), "f32")] * 3, tensor((3,), "f16")], {},
     ["same element type"]),
    (rd.BatchNormalization, [tensor((3,), "f32"), *[tensor((3,), "f32")] * 4], {}, ["rank 1"]),
    (rd.InstanceNormalization, [F, tensor((2,), "f32"), tensor((3,), "f32")], {}, ["'scale'"]),
    (rd.InstanceNormalization, [tensor((2, 3), "f32"), tensor((3,), "f32"),
                                tensor((3,), "f32")], {}, ["rank 2"]),
    (rd.LpNormalization, [F], {"p": 3}, ["'p'"]),
    (rd.LpNormalization, [F], {"axis": 5}, ["axis 5"]),
    (rd.LRN, [F], {"size": 0}, ["'size'", ">= 1"]),
    (rd.LRN, [tensor((2, 3), "f32")], {"size": 3}, ["rank 2"]),
    (rd.MeanVarianceNormalization, [F], {}, ["axis 3"]),
    (rd.MeanVarianceNormalization, [F], {"axes": (0, -3)}, ["twice"]),
])
def test_bad_ops_are_rejected(op_cls: type[Operation], types: list[TensorType | np.ndarray],
                              attributes: dict[str, object], words: list[str]) -> None:
    expect_error(lambda: verify_module(build_on(op_cls, types, **attributes)[0]),
                 op_cls.OP_NAME, *words)


def test_lrn_size_is_required() -> None:
    expect_error(lambda: build_on(rd.LRN, [F]), "onnx.LRN", "size")
