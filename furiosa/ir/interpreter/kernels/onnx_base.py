"""Kernels of onnx.Constant and onnx.Identity."""

from __future__ import annotations

import numpy as np

from furiosa.ir.dialects.onnx.base import Constant, Identity
from furiosa.ir.interpreter import kernel


@kernel(Constant)
def _constant(op: Constant) -> list[np.ndarray]:
    return [op.value.array]


@kernel(Identity)
def _identity(op: Identity, x: np.ndarray) -> list[np.ndarray]:
    return [x]
