"""onnx.ReverseSequence, onnx.MaxUnpool and onnx.Unique against onnxruntime and ONNX shape
inference."""

from __future__ import annotations

import numpy as np
import pytest

from furiosa.errors import InterpreterError, IRError
from furiosa.ir.dialects.onnx import sequence
from furiosa.ir.types import DYNAMIC, I8, Quantization, TensorType, tensor
from furiosa.ir.verifier import verify_operation
from tests.ir.onnx_reference import run_onnx_node
from tests.ir.test_onnx_nn import build_on, check_op, check_shapes, f32, run_ir

# --------------------------------------------------------------------------- ReverseSequence

REVERSE_CASES = [
    ((4, 4), [4, 3, 2, 1], dict()),
    ((4, 4), [1, 2, 3, 4], dict(batch_axis=0, time_axis=1)),
    ((5, 3, 2), [5, 1, 3], dict()),
    ((3, 5, 2, 2), [2, 5, 0], dict(batch_axis=0, time_axis=1)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
@pytest.mark.parametrize(("shape", "lens", "attrs"), REVERSE_CASES)
def test_reverse_sequence_matches_onnxruntime(shape: tuple[int, ...], lens: list[int],
                                              attrs: dict[str, int], dtype: type) -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    inputs = [x, np.array(lens, dtype=np.int64)]
    check_op(sequence.ReverseSequence, "ReverseSequence", inputs, **attrs)
    check_shapes(sequence.ReverseSequence, "ReverseSequence", inputs, **attrs)


def test_reverse_sequence_carries_quantization() -> None:
    i8 = TensorType((3, 4), I8, Quantization.per_axis([0.1, 0.2, 0.3], [0, 1, 2], 0))
    op = build_on(sequence.ReverseSequence, i8, tensor((3,), "i64"), batch_axis=0, time_axis=1)
    assert op.result.type == i8
    with pytest.raises(IRError, match=r"onnx\.ReverseSequence.*time axis"):
        build_on(sequence.ReverseSequence, i8, tensor((4,), "i64"))


@pytest.mark.parametrize(("shape", "lens_shape", "attrs", "message"), [
    ((4,), (4,), dict(), "rank"),
    ((4, 3), (4,), dict(), "batch size"),
    ((4, 3), (4,), dict(batch_axis=0, time_axis=0), "both"),
    ((4, 3), (3, 1), dict(), "rank"),
])
def test_reverse_sequence_bad_shapes_name_the_op(shape: tuple[int, ...],
                                                 lens_shape: tuple[int, ...],
                                                 attrs: dict[str, int], message: str) -> None:
    with pytest.raises(IRError, match=rf"onnx\.ReverseSequence.*{message}"):
        build_on(sequence.ReverseSequence, tensor(shape, "f32"), tensor(lens_shape, "i64"),
                 **attrs)


def test_reverse_sequence_bad_values() -> None:
    with pytest.raises(IRError, match=r"onnx\.ReverseSequence.*batch_axis"):
        build_on(sequence.ReverseSequence, tensor((3, 2), "f32"), tensor((2,), "i64"),
                 batch_axis=2)
    op = build_on(sequence.ReverseSequence, tensor((3, 2), "f32"), tensor((2,), "i64"))
    op.time_axis = -1
    with pytest.raises(IRError, match=r"onnx\.ReverseSequence.*time_axis"):
        verify_operation(op)
    with pytest.raises(InterpreterError, match=r"onnx\.ReverseSequence.*outside"):
        run_ir(sequence.ReverseSequence, [f32(np.random.default_rng(1), 3, 2),
                                          np.array([4, 1], dtype=np.int64)])


# --------------------------------------------------------------------------- MaxUnpool

UNPOOL_CASES = [
    ((1, 1, 4, 4), dict(kernel_shape=[2, 2], strides=[2, 2])),
    ((2, 3, 5, 6), dict(kernel_shape=[3, 2], strides=[2, 2])),
    ((1, 2, 5, 7), dict(kernel_shape=[3, 3], strides=[2, 3], pads=[1, 0, 1, 2])),
    ((2, 2, 9), dict(kernel_shape=[3], strides=[3])),
    ((1, 2, 4, 4, 4), dict(kernel_shape=[2, 2, 2], strides=[2, 2, 2])),
]


def _max_pool(x: np.ndarray, attrs: dict[str, object]) -> tuple[np.ndarray, np.ndarray]:
    y, idx = run_onnx_node("MaxPool", [x], 2, **attrs)
    return y, idx


@pytest.mark.parametrize(("shape", "attrs"), UNPOOL_CASES)
def test_max_unpool_inverts_max_pool_like_onnxruntime(shape: tuple[int, ...],
                                                      attrs: dict[str, object]) -> None:
    rng = np.random.default_rng(2)
    x = f32(rng, *shape)
    y, idx = _max_pool(x, attrs)
    (got,) = check_op(sequence.MaxUnpool, "MaxUnpool", [y, idx], **attrs)
    check_shapes(sequence.MaxUnpool, "MaxUnpool", [y, idx], **attrs)
    # Every maximum goes back where it came from (when the pool covered the whole input).
    kept = got != 0
    np.testing.assert_array_equal(got[kept], x[..., *(slice(0, s) for s in got.shape[2:])][kept])


@pytest.mark.parametrize(("shape", "attrs"), [
    ((1, 1, 5, 5), dict(kernel_shape=[2, 2], strides=[2, 2])),
    ((2, 3, 7), dict(kernel_shape=[2], strides=[2])),
    ((1, 2, 6, 7), dict(kernel_shape=[3, 3], strides=[2, 3], pads=[1, 0, 1, 1])),
    ((1, 2, 5, 5), dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)),
])
def test_max_unpool_to_the_pooled_shape(shape: tuple[int, ...],
                                        attrs: dict[str, object]) -> None:
    # The indices address the output_shape tensor, as MaxPool's address its input.
    rng = np.random.default_rng(3)
    x = f32(rng, *shape)
    y, idx = _max_pool(x, attrs)
    unpool = {k: v for k, v in attrs.items() if k != "ceil_mode"}
    inputs = [y, idx, np.array(shape, dtype=np.int64)]
    if "ceil_mode" in attrs:
        # The ceil_mode pool's input is smaller than the default unpooled shape, which
        # onnxruntime refuses; the maxima still go back where they came from.
        (got,) = run_ir(sequence.MaxUnpool, inputs, constant=(2,), **unpool)
    else:
        (got,) = check_op(sequence.MaxUnpool, "MaxUnpool", inputs, constant=(2,), **unpool)
    assert got.shape == shape
    np.testing.assert_array_equal(got[got != 0], x[got != 0])


def test_max_unpool_float64_and_bad_indices() -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 1, 4, 4))
    y, idx = _max_pool(x, dict(kernel_shape=[2, 2], strides=[2, 2]))
    check_op(sequence.MaxUnpool, "MaxUnpool", [y, idx], kernel_shape=[2, 2], strides=[2, 2])
    with pytest.raises(InterpreterError, match=r"onnx\.MaxUnpool.*outside"):
        run_ir(sequence.MaxUnpool, [y, idx + 16], kernel_shape=[2, 2], strides=[2, 2])


@pytest.mark.parametrize(("types", "attrs", "message"), [
    ([(1, 2, 3)], dict(kernel_shape=[2, 2]), "kernel_shape"),
    ([(1, 2, 3, 3)], dict(kernel_shape=[2, 2], strides=[2]), "strides"),
    ([(1, 2, 3, 3)], dict(kernel_shape=[2, 2], pads=[1, 1]), "pads"),
    ([(1, 2, 1, 1)], dict(kernel_shape=[1, 1], pads=[1, 1, 0, 0]), "size 0"),
    ([(2, 3)], dict(kernel_shape=[2]), "rank"),
])
def test_max_unpool_bad_attributes_name_the_op(types: list[tuple[int, ...]],
                                               attrs: dict[str, object], message: str) -> None:
    x = tensor(types[0], "f32")
    with pytest.raises(IRError, match=rf"onnx\.MaxUnpool.*{message}"):
        build_on(sequence.MaxUnpool, x, tensor(types[0], "i64"), **attrs)


def test_max_unpool_output_shape_checks() -> None:
    from furiosa.ir.dialects.onnx.base import Constant
    from furiosa.ir.module import Function

    m = Function("t")
    x = m.add_input("x", tensor((1, 2, 2, 2), "f32"))
    i = m.add_input("i", tensor((1, 2, 2, 2), "i64"))
    with pytest.raises(IRError, match=r"onnx\.MaxUnpool.*must be a constant"):
        sequence.MaxUnpool.build(x, i, m.add_input("s", tensor((4,), "i64")), kernel_shape=[2, 2])
    for shape, message in (([1, 3, 4, 4], "dim 1"), ([1, 2, 4], "values"),
                           ([1, 2, 0, 4], "below 1")):
        c = Constant.of(np.array(shape, dtype=np.int64))
        with pytest.raises(IRError, match=rf"onnx\.MaxUnpool.*{message}"):
            sequence.MaxUnpool.build(x, i, c.result, kernel_shape=[2, 2])
    with pytest.raises(IRError, match=r"onnx\.MaxUnpool.*'I' has shape"):
        build_on(sequence.MaxUnpool, tensor((1, 2, 2, 2), "f32"), tensor((1, 2, 2), "i64"),
                 kernel_shape=[2, 2])
    op = build_on(sequence.MaxUnpool, tensor((1, 2, DYNAMIC, 3), "f32"),
                  tensor((1, 2, DYNAMIC, 3), "i64"), kernel_shape=[2, 2], strides=[2, 2])
    assert op.result.type.shape == (1, 2, DYNAMIC, 6)


# --------------------------------------------------------------------------- Unique

UNIQUE_CASES = [
    (np.array([2, 1, 1, 3, 4, 3], dtype=np.float32), dict(sorted=0)),
    (np.array([2, 1, 1, 3, 4, 3], dtype=np.float32), dict()),
    (np.array([7], dtype=np.int64), dict()),
    (np.array([[1, 0, 0], [1, 0, 0], [2, 3, 4]], dtype=np.float32), dict(axis=0)),
    (np.array([[1, 0, 0], [1, 0, 0], [2, 3, 4]], dtype=np.int64), dict(axis=-1)),
    (np.array([[[1, 1], [0, 1], [2, 1], [0, 1]], [[1, 1], [0, 1], [2, 1], [0, 1]]],
              dtype=np.float32), dict(axis=1)),
    (np.array([[[1, 1], [0, 1], [2, 1], [0, 1]], [[1, 1], [0, 1], [2, 1], [0, 1]]],
              dtype=np.float32), dict(axis=1, sorted=0)),
    (np.array([[5, 3, 5], [3, 9, 1]], dtype=np.int64), dict(sorted=0)),
    (np.array([5, 3, 5, 0, 9, 0], dtype=np.int32), dict(sorted=0)),
    (np.array([[1.5, -0.0], [0.0, 2.5]], dtype=np.float64), dict()),
    (np.array([[5, 3], [3, 9], [5, 3], [1, 1]], dtype=np.int8), dict(axis=0, sorted=0)),
]


@pytest.mark.parametrize(("x", "attrs"), UNIQUE_CASES)
def test_unique_matches_onnxruntime(x: np.ndarray, attrs: dict[str, int]) -> None:
    check_op(sequence.Unique, "Unique", [x], 4, **attrs)
    check_shapes(sequence.Unique, "Unique", [x], 4, **attrs)


def test_unique_of_empty_tensors() -> None:
    y, first, inverse, counts = run_ir(sequence.Unique, [np.zeros((0, 3), np.float32)], axis=1)
    assert y.shape == (0, 1) and first.tolist() == [0] and inverse.tolist() == [0, 0, 0]
    assert counts.tolist() == [3]
    assert [a.size for a in run_ir(sequence.Unique, [np.zeros((0,), np.int64)])] == [0] * 4


def test_unique_random_values_match_onnxruntime() -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(0, 6, (5, 7)).astype(np.float32)
    for attrs in (dict(), dict(sorted=0), dict(axis=0), dict(axis=1, sorted=0)):
        y, first, inverse, counts = check_op(sequence.Unique, "Unique", [x], 4, **attrs)
        axis = attrs.get("axis")
        flat = x if axis is not None else x.reshape(-1)
        np.testing.assert_array_equal(np.take(flat, first, axis=axis or 0), y)
        np.testing.assert_array_equal(np.take(y, inverse, axis=axis or 0), flat)
        assert counts.sum() == (x.size if axis is None else x.shape[axis])


def test_unique_types() -> None:
    op = build_on(sequence.Unique, tensor((3, 4), "f32"))
    assert [r.type.shape for r in op.results] == [(DYNAMIC,), (DYNAMIC,), (12,), (DYNAMIC,)]
    op = build_on(sequence.Unique, tensor((3, 4, 5), "u8"), axis=-2)
    assert [str(r.type) for r in op.results] == [
        "tensor<3x?x5xu8>", "tensor<?xi64>", "tensor<4xi64>", "tensor<?xi64>"]
    op = build_on(sequence.Unique, tensor((DYNAMIC, 4), "f32"))
    assert op.results[2].type.shape == (DYNAMIC,)
    per_channel = TensorType((3, 4), I8, Quantization.per_axis([0.1, 0.2, 0.3], [0, 0, 0], 0))
    assert build_on(sequence.Unique, per_channel, axis=1).results[0].type.quant == \
        per_channel.quant
    with pytest.raises(IRError, match=r"onnx\.Unique.*per-axis"):
        build_on(sequence.Unique, per_channel, axis=0)
    with pytest.raises(IRError, match=r"onnx\.Unique.*per-axis"):
        build_on(sequence.Unique, per_channel)
    with pytest.raises(IRError, match=r"onnx\.Unique.*axis 2 is out of range"):
        build_on(sequence.Unique, tensor((3, 4), "f32"), axis=2)
    with pytest.raises(IRError, match=r"onnx\.Unique.*scalar"):
        build_on(sequence.Unique, tensor((), "f32"), axis=0)
    with pytest.raises(IRError, match=r"onnx\.Unique.*sorted"):
        verify_operation(build_on(sequence.Unique, tensor((3,), "f32"), sorted=2))
