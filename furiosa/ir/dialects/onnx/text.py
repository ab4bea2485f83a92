"""TfIdfVectorizer (ONNX opset-13 semantics) on integer token ids.

The pool of n-grams is ``pool_int64s``: all 1-grams, then all 2-grams, ... with
``ngram_counts[i]`` the position where the (i+1)-grams start; ``ngram_indexes[k]`` is the
output column of the k-th pool n-gram. String inputs (and so ``pool_strings``) have no IR
element type; the attribute is declared so that a model using it gets a clear error.
"""

from __future__ import annotations

import attrs
import numpy as np

from furiosa.ir.core import AttrKind, Operation, attribute, op_def, operand, result
from furiosa.ir.dialects.onnx.nn import reject_quantized
from furiosa.ir.types import ElementType, TensorType

E = ElementType
MODES = ("TF", "IDF", "TFIDF")


@attrs.frozen
class NgramLevel:
    """The pool n-grams of one length: ``grams [count, n]`` and their output columns."""

    n: int
    grams: np.ndarray
    columns: np.ndarray


@op_def("onnx.TfIdfVectorizer")
class TfIdfVectorizer(Operation):
    """Counts of the pool n-grams (skip-grams up to max_skip_count) in each row of X, as term
    frequencies (TF), weights of the n-grams present (IDF), or counts times weights (TFIDF)."""

    OPERANDS = (operand("X", {E.I32, E.I64}),)
    RESULTS = (result("Y"),)
    max_gram_length: int = attribute(AttrKind.INT, check=lambda n: n >= 1, check_text=">= 1")
    max_skip_count: int = attribute(AttrKind.INT, check=lambda n: n >= 0, check_text=">= 0")
    min_gram_length: int = attribute(AttrKind.INT, check=lambda n: n >= 1, check_text=">= 1")
    mode: str = attribute(AttrKind.STRING, choices=MODES)
    ngram_counts: tuple[int, ...] = attribute(AttrKind.INTS)
    ngram_indexes: tuple[int, ...] = attribute(AttrKind.INTS,
                                               check=lambda v: all(i >= 0 for i in v),
                                               check_text="all >= 0")
    pool_int64s: tuple[int, ...] | None = attribute(AttrKind.INTS, None)
    pool_strings: tuple[str, ...] | None = attribute(AttrKind.STRINGS, None)
    weights: tuple[float, ...] | None = attribute(AttrKind.FLOATS, None)

    def levels(self) -> list[NgramLevel]:
        """The pool split by n-gram length (an error when the attributes disagree)."""
        if self.pool_strings is not None:
            raise self.error("'pool_strings' matches string inputs, which the IR has no element "
                             "type for; give the token ids in 'pool_int64s'")
        if self.pool_int64s is None:
            raise self.error("attribute 'pool_int64s' is required")
        if self.min_gram_length > self.max_gram_length:
            raise self.error(f"min_gram_length {self.min_gram_length} exceeds max_gram_length "
                             f"{self.max_gram_length}")
        pool = np.asarray(self.pool_int64s, dtype=np.int64)
        starts = [*self.ngram_counts, len(pool)]
        levels: list[NgramLevel] = []
        column = 0
        for i in range(len(self.ngram_counts)):
            n, lo, hi = i + 1, starts[i], starts[i + 1]
            if not 0 <= lo <= hi <= len(pool) or (i == 0 and lo != 0):
                raise self.error(f"'ngram_counts' {list(self.ngram_counts)} is not a "
                                 f"non-decreasing list of starts from 0 within the pool of "
                                 f"{len(pool)}")
            if (hi - lo) % n:
                raise self.error(f"the {n}-gram part of the pool has {hi - lo} ids, not a "
                                 f"multiple of {n}")
            count = (hi - lo) // n
            levels.append(NgramLevel(n, pool[lo:hi].reshape(count, n),
                                     np.asarray(self.ngram_indexes[column:column + count],
                                                dtype=np.int64)))
            column += count
        if column != len(self.ngram_indexes):
            raise self.error(f"the pool holds {column} n-grams but 'ngram_indexes' has "
                             f"{len(self.ngram_indexes)} values")
        if self.weights is not None and len(self.weights) != len(self.ngram_indexes):
            raise self.error(f"'weights' has {len(self.weights)} values; expected one per "
                             f"n-gram ({len(self.ngram_indexes)})")
        return levels

    def verify_op(self) -> None:
        self.levels()

    def infer_types(self) -> list[TensorType]:
        reject_quantized(self, "X")
        x = self.type_of("X")
        if x.rank not in (1, 2):
            raise self.error(f"operand 'X' has rank {x.rank}; expected [C] or [N, C]")
        width = max(self.ngram_indexes, default=-1) + 1
        return [TensorType((*x.shape[:-1], width), E.F32)]
