"""onnx.NegativeLogLikelihoodLoss and onnx.SoftmaxCrossEntropyLoss against onnxruntime and
ONNX shape inference."""

from __future__ import annotations

import numpy as np
import pytest

from furiosa.errors import InterpreterError, IRError
from furiosa.ir.dialects.onnx import loss
from furiosa.ir.types import DYNAMIC, Quantization, TensorType, tensor
from furiosa.ir.verifier import verify_operation
from tests.ir.test_onnx_nn import build_on, check_op, check_shapes, f32, run_ir

OPS = {"NegativeLogLikelihoodLoss": (loss.NegativeLogLikelihoodLoss, 1),
       "SoftmaxCrossEntropyLoss": (loss.SoftmaxCrossEntropyLoss, 2)}

# (scores shape, weighted, target dtype, ignore_index placed in the target, attributes)
CASES = [
    ((4, 5), False, np.int64, None, dict(reduction="none")),
    ((4, 5), True, np.int64, None, dict()),
    ((4, 5), True, np.int32, None, dict(reduction="sum")),
    ((3, 4, 6), False, np.int64, 2, dict(ignore_index=2)),
    ((3, 4, 6), True, np.int64, -1, dict(ignore_index=-1, reduction="sum")),
    ((2, 3, 4, 5), True, np.int32, 10, dict(ignore_index=10)),
    ((2, 3, 4, 5), False, np.int64, -5, dict(ignore_index=-5, reduction="none")),
    ((2, 3, 2, 2, 3), True, np.int64, None, dict(reduction="none")),
    ((2, 3, 2, 2, 3), False, np.int64, 0, dict(ignore_index=0, reduction="mean")),
]


def _inputs(shape: tuple[int, ...], weighted: bool, dtype: type, ignore: int | None,
            seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    n, c, *rest = shape
    target = rng.integers(0, c, (n, *rest)).astype(dtype)
    if ignore is not None:
        target.reshape(-1)[::3] = ignore
    inputs = [f32(rng, *shape), target]
    if weighted:
        inputs.append(rng.random(c).astype(np.float32))
    return inputs


@pytest.mark.parametrize("op_type", sorted(OPS))
@pytest.mark.parametrize(("shape", "weighted", "dtype", "ignore", "attrs"), CASES)
def test_matches_onnxruntime(op_type: str, shape: tuple[int, ...], weighted: bool, dtype: type,
                             ignore: int | None, attrs: dict[str, object]) -> None:
    cls, n_out = OPS[op_type]
    inputs = _inputs(shape, weighted, dtype, ignore)
    if op_type == "NegativeLogLikelihoodLoss":
        inputs[0] = -np.abs(inputs[0])  # log-probabilities, as the op expects
    check_op(cls, op_type, inputs, n_out, **attrs)
    check_shapes(cls, op_type, inputs, n_out, **attrs)


def test_mean_over_only_ignored_targets_is_nan() -> None:
    x = f32(np.random.default_rng(1), 2, 3)
    t = np.array([1, 1], dtype=np.int64)
    for op_type, (cls, n_out) in OPS.items():
        got = check_op(cls, op_type, [x, t], n_out, ignore_index=1)
        assert np.isnan(got[0])


def test_float64_and_float16() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 5))
    t = rng.integers(0, 4, (3, 5))
    w = rng.random(4)
    check_op(loss.SoftmaxCrossEntropyLoss, "SoftmaxCrossEntropyLoss", [x, t, w], 2,
             rtol=1e-12, atol=1e-12)
    half = run_ir(loss.SoftmaxCrossEntropyLoss, [x.astype(np.float16), t, w.astype(np.float16)])
    full = run_ir(loss.SoftmaxCrossEntropyLoss, [x, t, w])
    for h, f in zip(half, full, strict=True):
        assert h.dtype == np.float16
        np.testing.assert_allclose(h, f, rtol=1e-2, atol=1e-2)


def test_target_out_of_range_is_an_interpreter_error() -> None:
    x = f32(np.random.default_rng(3), 2, 3)
    with pytest.raises(InterpreterError, match=r"onnx\.NegativeLogLikelihoodLoss.*outside"):
        run_ir(loss.NegativeLogLikelihoodLoss, [x, np.array([0, 3], dtype=np.int64)])
    with pytest.raises(InterpreterError, match=r"onnx\.SoftmaxCrossEntropyLoss.*outside"):
        run_ir(loss.SoftmaxCrossEntropyLoss, [x, np.array([-1, 0], dtype=np.int64)],
               ignore_index=2)


def test_types_with_dynamic_dims() -> None:
    op = build_on(loss.SoftmaxCrossEntropyLoss, tensor((DYNAMIC, 4, 5), "f32"),
                  tensor((2, DYNAMIC), "i64"), reduction="none")
    assert [r.type.shape for r in op.results] == [(2, DYNAMIC), (DYNAMIC, 4, 5)]
    op = build_on(loss.NegativeLogLikelihoodLoss, tensor((DYNAMIC, 4), "f32"),
                  tensor((DYNAMIC,), "i32"), tensor((4,), "f32"), reduction="sum")
    assert op.result.type.shape == ()


@pytest.mark.parametrize(("types", "attrs", "message"), [
    ([(4,), (4,)], dict(), "rank"),
    ([(4, 5), (4, 2)], dict(), "rank"),
    ([(4, 5, 6), (3, 6)], dict(), "'target' dim 0"),
    ([(4, 5, 6), (4, 7)], dict(), "'target' dim 1"),
    ([(4, 5), (4,), (4,)], dict(), "'weight' length"),
    ([(4, 5), (4,), (1, 5)], dict(), "'weight' has rank"),
])
def test_bad_shapes_name_the_op(types: list[tuple[int, ...]], attrs: dict[str, object],
                                message: str) -> None:
    elements = ["f32", "i64", "f32"]
    with pytest.raises(IRError, match=rf"onnx\.NegativeLogLikelihoodLoss.*{message}"):
        build_on(loss.NegativeLogLikelihoodLoss,
                 *[tensor(s, e) for s, e in zip(types, elements, strict=False)], **attrs)


def test_bad_attributes_and_types_name_the_op() -> None:
    op = build_on(loss.SoftmaxCrossEntropyLoss, tensor((4, 5), "f32"), tensor((4,), "i64"),
                  reduction="average")
    with pytest.raises(IRError, match=r"onnx\.SoftmaxCrossEntropyLoss.*reduction"):
        verify_operation(op)
    op = build_on(loss.SoftmaxCrossEntropyLoss, tensor((4, 5), "f32"), tensor((4,), "u8"))
    with pytest.raises(IRError, match=r"onnx\.SoftmaxCrossEntropyLoss.*'labels'.*element"):
        verify_operation(op)
    with pytest.raises(IRError, match=r"onnx\.SoftmaxCrossEntropyLoss.*element type"):
        build_on(loss.SoftmaxCrossEntropyLoss, tensor((4, 5), "f32"), tensor((4,), "i64"),
                 tensor((5,), "f64"))
    q = TensorType((4, 5), tensor((), "i8").element, Quantization.per_tensor(0.1, 0))
    with pytest.raises(IRError, match=r"onnx\.NegativeLogLikelihoodLoss.*quantized"):
        build_on(loss.NegativeLogLikelihoodLoss, q, tensor((4,), "i64"))
