"""Kernels of the host dialect: quantize, dequantize, and the NPU's tiled activation layouts."""

from __future__ import annotations

import numpy as np

from furiosa.ir.dialects.host import Dequantize, Lower, Quantize, Unlower
from furiosa.ir.interpreter import kernel
from furiosa.ir.quantization import dequantize, quantize

# Axis permutations from (N, Co, Ci, Ho, Hi, W) to each lowered layout.
_LOWER_PERMUTATION = {"HCW": (0, 3, 1, 4, 2, 5), "HWC": (0, 3, 1, 4, 5, 2)}


@kernel(Quantize)
def _quantize(op: Quantize, x: np.ndarray) -> list[np.ndarray]:
    return [quantize(x, op.quantization, op.to, op.rounding)]


@kernel(Dequantize)
def _dequantize(op: Dequantize, x: np.ndarray) -> list[np.ndarray]:
    q = op.type_of("input").quant
    assert q is not None
    return [dequantize(x, q, op.to.dtype)]


@kernel(Lower)
def _lower(op: Lower, x: np.ndarray) -> list[np.ndarray]:
    t = op.type_of("input")
    n, c, h, w = x.shape
    hi, ci = op.height_tile, op.channel_tile
    ho, co = -(-h // hi), -(-c // ci)
    fill = t.quant.zero_point[0] if t.quant is not None else 0
    padded = np.pad(x, [(0, 0), (0, co * ci - c), (0, ho * hi - h), (0, 0)], constant_values=fill)
    tiled = padded.reshape(n, co, ci, ho, hi, w).transpose(_LOWER_PERMUTATION[op.order])
    return [np.ascontiguousarray(tiled)]


@kernel(Unlower)
def _unlower(op: Unlower, x: np.ndarray) -> list[np.ndarray]:
    inverse = np.argsort(_LOWER_PERMUTATION[op.order])
    n, co, ci, ho, hi, w = x.transpose(inverse).shape
    full = x.transpose(inverse).reshape(n, co * ci, ho * hi, w)
    return [np.ascontiguousarray(full[:, : op.channels, : op.height])]
