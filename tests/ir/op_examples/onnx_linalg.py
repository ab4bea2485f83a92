"""Examples of onnx.Einsum and onnx.Det."""

from __future__ import annotations

import numpy as np

from furiosa.ir.dialects.onnx import linalg
from tests.ir.op_examples import Example, example, single_op_module


def _f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


@example("onnx.Einsum")
def einsum_batch_matmul() -> Example:
    rng = np.random.default_rng(1)
    return single_op_module(linalg.Einsum, [_f32(rng, 2, 3, 4), _f32(rng, 2, 4, 5)],
                            equation="bij, bjk -> bik")


@example("onnx.Einsum")
def einsum_implicit_ellipsis_broadcast() -> Example:
    rng = np.random.default_rng(2)
    return single_op_module(linalg.Einsum, [_f32(rng, 2, 1, 3, 4), _f32(rng, 5, 4, 3)],
                            equation="...ij,...ji")


@example("onnx.Einsum")
def einsum_diagonal_three_operands_i32() -> Example:
    rng = np.random.default_rng(3)
    a = rng.integers(-5, 5, (3, 3, 2), dtype=np.int32)
    b = rng.integers(-5, 5, (2, 4), dtype=np.int32)
    c = rng.integers(-5, 5, (4,), dtype=np.int32)
    return single_op_module(linalg.Einsum, [a, b, c], equation="iij,jk,k->i")


@example("onnx.Det")
def det_batch() -> Example:
    rng = np.random.default_rng(4)
    return single_op_module(linalg.Det, [_f32(rng, 2, 3, 4, 4)])


@example("onnx.Det")
def det_single_f64() -> Example:
    rng = np.random.default_rng(5)
    return single_op_module(linalg.Det, [rng.standard_normal((3, 3))])
