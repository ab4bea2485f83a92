"""onnx.TfIdfVectorizer against onnxruntime and ONNX shape inference."""

from __future__ import annotations

import numpy as np
import pytest

from furiosa.errors import IRError
from furiosa.ir.dialects.onnx import text
from furiosa.ir.types import DYNAMIC, Quantization, TensorType, tensor
from furiosa.ir.verifier import verify_operation
from tests.ir.test_onnx_nn import build_on, check_op, check_shapes, run_ir

# 1-grams 2, 3, 5, 4; 2-grams (5, 6), (7, 8), (6, 7).
POOL = dict(ngram_counts=[0, 4], ngram_indexes=[0, 1, 2, 3, 4, 5, 6],
            pool_int64s=[2, 3, 5, 4, 5, 6, 7, 8, 6, 7])
# 1-grams 1, 2; 2-grams (1, 2), (2, 1); 3-grams (1, 1, 2), (2, 2, 2), in scattered columns.
POOL3 = dict(ngram_counts=[0, 2, 6], ngram_indexes=[7, 0, 2, 5, 1, 3],
             pool_int64s=[1, 2, 1, 2, 2, 1, 1, 1, 2, 2, 2, 2])
WEIGHTS = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]

CASES = [
    ((2, 6), dict(mode="TF", min_gram_length=2, max_gram_length=2, max_skip_count=0, **POOL)),
    ((12,), dict(mode="TF", min_gram_length=1, max_gram_length=2, max_skip_count=5, **POOL)),
    ((3, 8), dict(mode="IDF", min_gram_length=1, max_gram_length=2, max_skip_count=1, **POOL)),
    ((3, 8), dict(mode="IDF", min_gram_length=1, max_gram_length=2, max_skip_count=2,
                  weights=WEIGHTS, **POOL)),
    ((3, 8), dict(mode="TFIDF", min_gram_length=1, max_gram_length=1, max_skip_count=3,
                  weights=WEIGHTS, **POOL)),
    ((2, 9), dict(mode="TFIDF", min_gram_length=1, max_gram_length=2, max_skip_count=1, **POOL)),
    ((12,), dict(mode="TF", min_gram_length=2, max_gram_length=2, max_skip_count=0,
                 ngram_counts=[0, 0], ngram_indexes=[0, 1, 2],
                 pool_int64s=[5, 6, 7, 8, 6, 7])),
    ((4, 10), dict(mode="TF", min_gram_length=1, max_gram_length=3, max_skip_count=2, **POOL3)),
    ((4, 10), dict(mode="TF", min_gram_length=3, max_gram_length=3, max_skip_count=1, **POOL3)),
    ((2, 2), dict(mode="TF", min_gram_length=1, max_gram_length=3, max_skip_count=4, **POOL3)),
]


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize(("shape", "attrs"), CASES)
def test_matches_onnxruntime(shape: tuple[int, ...], attrs: dict[str, object],
                             dtype: type) -> None:
    rng = np.random.default_rng(sum(shape))
    high = 3 if attrs["ngram_counts"] == POOL3["ngram_counts"] else 9
    x = rng.integers(1, high, shape).astype(dtype)
    check_op(text.TfIdfVectorizer, "TfIdfVectorizer", [x], **attrs)
    check_shapes(text.TfIdfVectorizer, "TfIdfVectorizer", [x], **attrs)


def test_counts_a_known_row() -> None:
    x = np.array([1, 1, 3, 3, 3, 7, 8, 6, 7, 5, 6, 8], dtype=np.int64)
    attrs = dict(mode="TF", min_gram_length=1, max_gram_length=2, max_skip_count=0, **POOL)
    (y,) = check_op(text.TfIdfVectorizer, "TfIdfVectorizer", [x], **attrs)
    # 1-grams 2, 3, 5, 4 occur 0, 3, 1, 0 times; 2-grams (5, 6), (7, 8), (6, 7) once each.
    np.testing.assert_array_equal(y, [0, 3, 1, 0, 1, 1, 1])


def test_empty_rows_and_batches() -> None:
    attrs = dict(mode="TF", min_gram_length=1, max_gram_length=2, max_skip_count=1, **POOL)
    (y,) = run_ir(text.TfIdfVectorizer, [np.zeros((2, 0), dtype=np.int64)], **attrs)
    np.testing.assert_array_equal(y, np.zeros((2, 7), dtype=np.float32))
    (y,) = run_ir(text.TfIdfVectorizer, [np.zeros((0, 3), dtype=np.int64)], **attrs)
    assert y.shape == (0, 7)


def test_dynamic_rows_stay_dynamic() -> None:
    op = build_on(text.TfIdfVectorizer, tensor((DYNAMIC, 5), "i64"), mode="TF",
                  min_gram_length=1, max_gram_length=1, max_skip_count=0, **POOL)
    assert op.result.type == tensor((DYNAMIC, 7), "f32")


@pytest.mark.parametrize(("attrs", "message"), [
    (dict(mode="BM25"), "mode"),
    (dict(min_gram_length=3), "exceeds max_gram_length"),
    (dict(max_skip_count=-1), "max_skip_count"),
    (dict(ngram_counts=[0, 5]), "multiple of 2"),
    (dict(ngram_counts=[1, 4]), "ngram_counts"),
    (dict(ngram_counts=[0, 12]), "ngram_counts"),
    (dict(ngram_indexes=[0, 1, 2]), "ngram_indexes"),
    (dict(ngram_indexes=[0, 1, 2, 3, 4, 5, -6]), "ngram_indexes"),
    (dict(weights=[1.0]), "weights"),
    (dict(pool_int64s=None), "pool_int64s"),
    (dict(pool_strings=["a", "b"]), "pool_strings"),
])
def test_bad_attributes_name_the_op(attrs: dict[str, object], message: str) -> None:
    full = dict(mode="TF", min_gram_length=1, max_gram_length=2, max_skip_count=0, **POOL)
    full.update(attrs)
    op = build_on(text.TfIdfVectorizer, tensor((2, 6), "i64"), **full)
    with pytest.raises(IRError, match=rf"onnx\.TfIdfVectorizer.*{message}"):
        verify_operation(op)


def test_bad_inputs_name_the_op() -> None:
    attrs = dict(mode="TF", min_gram_length=1, max_gram_length=2, max_skip_count=0, **POOL)
    with pytest.raises(IRError, match=r"onnx\.TfIdfVectorizer.*rank"):
        build_on(text.TfIdfVectorizer, tensor((2, 3, 4), "i64"), **attrs)
    with pytest.raises(IRError, match=r"onnx\.TfIdfVectorizer.*element type"):
        verify_operation(build_on(text.TfIdfVectorizer, tensor((6,), "f32"), **attrs))
    q = TensorType((6,), tensor((), "i32").element, Quantization.per_tensor(0.5, 0))
    with pytest.raises(IRError, match=r"onnx\.TfIdfVectorizer.*quantized"):
        build_on(text.TfIdfVectorizer, q, **attrs)
