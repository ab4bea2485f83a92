"""Kernel of onnx.TfIdfVectorizer.

The n-grams of each row are matched against the pool by numbering every distinct n-gram
(``numpy.unique`` over rows), so the cost grows with the number of n-grams, never with
their product with the pool size.
"""

from __future__ import annotations

import numpy as np

from furiosa.ir.dialects.onnx.text import NgramLevel, TfIdfVectorizer
from furiosa.ir.interpreter import kernel


def _level_counts(x: np.ndarray, level: NgramLevel, max_skip: int) -> np.ndarray:
    """[rows, pool n-grams of this level]: how often each occurs in each row of ``x``."""
    rows, width = x.shape
    pool, pool_ids = np.unique(level.grams, axis=0, return_inverse=True)
    pool_ids = pool_ids.reshape(-1)
    counts = np.zeros((rows, len(pool)), dtype=np.int64)
    # A 1-gram is the same whatever the skip, so it is counted once.
    for skip in range(max_skip + 1 if level.n > 1 else 1):
        span = (level.n - 1) * (skip + 1) + 1
        if span > width or not len(pool):
            continue
        positions = np.arange(width - span + 1)[:, None] + np.arange(level.n) * (skip + 1)
        grams = x[:, positions].reshape(-1, level.n)  # [rows * starts, n]
        _, ids = np.unique(np.concatenate([pool, grams]), axis=0, return_inverse=True)
        ids = ids.reshape(-1)
        lookup = np.full(ids.max() + 1, -1, dtype=np.int64)
        lookup[ids[:len(pool)]] = np.arange(len(pool))
        found = lookup[ids[len(pool):]]
        row = np.repeat(np.arange(rows), width - span + 1)
        hit = found >= 0
        counts += np.bincount(row[hit] * len(pool) + found[hit],
                              minlength=rows * len(pool)).reshape(rows, len(pool))
    return counts[:, pool_ids]


@kernel(TfIdfVectorizer)
def _tfidf(op: TfIdfVectorizer, x: np.ndarray) -> list[np.ndarray]:
    rows = x.reshape(x.shape[0] if x.ndim == 2 else 1, x.shape[-1])
    width = max(op.ngram_indexes, default=-1) + 1
    y = np.zeros((rows.shape[0], width), dtype=np.float32)
    weights = np.asarray(op.weights if op.weights is not None else [1.0] * len(op.ngram_indexes),
                         dtype=np.float32)
    offset = 0
    for level in op.levels():
        count = len(level.columns)
        if op.min_gram_length <= level.n <= op.max_gram_length and count:
            tf = _level_counts(rows, level, op.max_skip_count).astype(np.float32)
            w = weights[offset:offset + count]
            value = {"TF": tf, "IDF": (tf > 0) * w, "TFIDF": tf * w}[op.mode]
            y[:, level.columns] = value
        offset += count
    return [y.reshape(*x.shape[:-1], width)]
