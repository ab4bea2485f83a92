"""Kernels of onnx.Einsum and onnx.Det."""

from __future__ import annotations

import numpy as np

from furiosa.ir.dialects.onnx.linalg import Det, Einsum
from furiosa.ir.interpreter import kernel
from furiosa.ir.interpreter.kernels.onnx_nn import compute_dtype


@kernel(Einsum)
def _einsum(op: Einsum, *inputs: np.ndarray) -> list[np.ndarray]:
    dtype = inputs[0].dtype
    work = compute_dtype(dtype)
    args = [a.astype(work, copy=False) for a in inputs]
    # optimize=True contracts pairwise with BLAS; integer einsum wraps like the ONNX types do.
    y = np.einsum(op.terms().text(), *args, optimize=len(args) > 1)
    return [np.asarray(y).astype(dtype, copy=False)]


@kernel(Det)
def _det(op: Det, x: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(np.linalg.det(x.astype(compute_dtype(x.dtype), copy=False))).astype(x.dtype)]
