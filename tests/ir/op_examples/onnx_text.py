"""Examples of onnx.TfIdfVectorizer."""

from __future__ import annotations

import numpy as np

from furiosa.ir.dialects.onnx import text
from tests.ir.op_examples import Example, example, single_op_module

# 1-grams 2, 3, 5, 4; 2-grams (5, 6), (7, 8), (6, 7).
POOL = {"ngram_counts": [0, 4], "ngram_indexes": [0, 1, 2, 3, 4, 5, 6],
        "pool_int64s": [2, 3, 5, 4, 5, 6, 7, 8, 6, 7]}


@example("onnx.TfIdfVectorizer")
def tfidf_tf_uni_and_bigrams_skip() -> Example:
    x = np.array([[1, 1, 3, 3, 3, 7], [8, 6, 7, 5, 6, 8]], dtype=np.int32)
    return single_op_module(text.TfIdfVectorizer, [x], mode="TF", min_gram_length=1,
                            max_gram_length=2, max_skip_count=2, **POOL)


@example("onnx.TfIdfVectorizer")
def tfidf_idf_weights_1d() -> Example:
    x = np.array([1, 1, 3, 3, 3, 7, 8, 6, 7, 5, 6, 8], dtype=np.int64)
    return single_op_module(text.TfIdfVectorizer, [x], mode="IDF", min_gram_length=2,
                            max_gram_length=2, max_skip_count=0,
                            weights=[0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5], **POOL)


@example("onnx.TfIdfVectorizer")
def tfidf_tfidf_scattered_columns() -> Example:
    rng = np.random.default_rng(3)
    x = rng.integers(2, 9, (3, 10), dtype=np.int64)
    return single_op_module(text.TfIdfVectorizer, [x], mode="TFIDF", min_gram_length=1,
                            max_gram_length=2, max_skip_count=1, ngram_counts=[0, 4],
                            ngram_indexes=[8, 1, 0, 3, 2, 5, 4],
                            pool_int64s=[2, 3, 5, 4, 5, 6, 7, 8, 6, 7],
                            weights=[0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5])
