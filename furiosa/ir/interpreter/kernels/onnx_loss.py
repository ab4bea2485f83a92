"""Kernels of onnx.NegativeLogLikelihoodLoss and onnx.SoftmaxCrossEntropyLoss."""

from __future__ import annotations

import numpy as np

from furiosa.ir.dialects.onnx.loss import (
    LossBase,
    NegativeLogLikelihoodLoss,
    SoftmaxCrossEntropyLoss,
)
from furiosa.ir.interpreter import kernel
from furiosa.ir.interpreter.kernels.onnx_nn import compute_dtype


def nll_loss(op: LossBase, log_prob: np.ndarray, target: np.ndarray,
             weight: np.ndarray | None) -> np.ndarray:
    """The reduced -log_prob[n, target, d...] * weight[target] (in log_prob's dtype)."""
    classes = log_prob.shape[1]
    ignored = (target == op.ignore_index) if op.ignore_index is not None else \
        np.zeros(target.shape, dtype=bool)
    bad = ~ignored & ((target < 0) | (target >= classes))
    if np.any(bad):
        raise ValueError(f"target value {int(target[bad][0])} is outside [0, {classes})")
    index = np.where(ignored, 0, target).astype(np.intp)
    picked = np.take_along_axis(log_prob, index[:, None], axis=1)[:, 0]
    w = weight[index] if weight is not None else np.ones(index.shape, dtype=log_prob.dtype)
    w = np.where(ignored, 0, w).astype(log_prob.dtype)
    loss = -picked * w
    if op.reduction == "none":
        return loss
    if op.reduction == "sum":
        return np.sum(loss)
    # The weighted mean: 0/0 (every target ignored) is NaN, as the ONNX function body gives.
    return np.sum(loss) / np.sum(w)


@kernel(NegativeLogLikelihoodLoss)
def _nll(op: NegativeLogLikelihoodLoss, x: np.ndarray, target: np.ndarray,
         weight: np.ndarray | None = None) -> list[np.ndarray]:
    work = compute_dtype(x.dtype)
    w = weight.astype(work) if weight is not None else None
    return [np.asarray(nll_loss(op, x.astype(work, copy=False), target, w)).astype(x.dtype)]


@kernel(SoftmaxCrossEntropyLoss)
def _softmax_cross_entropy(op: SoftmaxCrossEntropyLoss, scores: np.ndarray, labels: np.ndarray,
                           weights: np.ndarray | None = None) -> list[np.ndarray]:
    work = compute_dtype(scores.dtype)
    z = scores.astype(work, copy=False)
    z = z - np.max(z, axis=1, keepdims=True)
    log_prob = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    w = weights.astype(work) if weights is not None else None
    loss = np.asarray(nll_loss(op, log_prob, labels, w))
    return [loss.astype(scores.dtype), log_prob.astype(scores.dtype)]
