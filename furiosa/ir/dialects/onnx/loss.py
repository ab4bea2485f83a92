"""Loss functions: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (ONNX opset-13
semantics).

Both take scores ``[N, C, d1...]``, class indices ``[N, d1...]`` and optional per-class
weights ``[C]``; an index equal to ``ignore_index`` contributes nothing (weight 0). The
loss is per element (``reduction="none"``, shape ``[N, d1...]``), summed, or the weighted
mean (sum of weighted losses over the sum of the weights used). SoftmaxCrossEntropyLoss
always has its second result, ``log_prob`` (the log-softmax over C); a node that does not
ask for it leaves it unused.
"""

from __future__ import annotations

import attrs

from furiosa.ir.core import AttrKind, Operation, attribute, op_def, operand, result
from furiosa.ir.dialects.common import FLOATS, INDEX, same_element
from furiosa.ir.dialects.onnx.nn import reject_quantized
from furiosa.ir.dialects.onnx.tensor import merge_dim
from furiosa.ir.types import TensorType

REDUCTIONS = ("none", "sum", "mean")


@attrs.define(kw_only=True, eq=False, repr=False)
class LossBase(Operation):
    """The attributes and the shape rule of the two losses."""

    ignore_index: int | None = attribute(AttrKind.INT, None)
    reduction: str = attribute(AttrKind.STRING, "mean", choices=REDUCTIONS)

    def loss_types(self, scores: str, target: str, weight: str) -> TensorType:
        """Check scores / target / weight; give the type of the loss."""
        reject_quantized(self, scores, weight)
        element = same_element(self, scores, weight)
        s, t = self.type_of(scores), self.type_of(target)
        if s.rank < 2:
            raise self.error(f"operand '{scores}' has rank {s.rank}; expected [N, C, d1...]")
        if t.rank != s.rank - 1:
            raise self.error(f"operand '{target}' has rank {t.rank}; expected {s.rank - 1} "
                             f"([N, d1...] for '{scores}' of shape {list(s.shape)})")
        for i, d in enumerate(t.shape):
            merge_dim(self, d, s.shape[0 if i == 0 else i + 1],
                      f"'{target}' dim {i} and the matching dim of '{scores}'")
        w = self.operand(weight)
        if w is not None:
            if w.type.rank != 1:
                raise self.error(f"operand '{weight}' has rank {w.type.rank}; expected [C]")
            merge_dim(self, w.type.shape[0], s.shape[1], f"'{weight}' length and C")
        shape = t.shape if self.reduction == "none" else ()
        return TensorType(shape, element)


@op_def("onnx.NegativeLogLikelihoodLoss")
class NegativeLogLikelihoodLoss(LossBase):
    """loss = -input[n, target[n, d...], d...] * weight[target], reduced by 'reduction'."""

    OPERANDS = (operand("input", FLOATS), operand("target", INDEX),
                operand("weight", FLOATS, optional=True))
    RESULTS = (result("loss"),)

    def infer_types(self) -> list[TensorType]:
        return [self.loss_types("input", "target", "weight")]


@op_def("onnx.SoftmaxCrossEntropyLoss")
class SoftmaxCrossEntropyLoss(LossBase):
    """NegativeLogLikelihoodLoss of log_prob = LogSoftmax(scores, axis=1); log_prob is the
    second result."""

    OPERANDS = (operand("scores", FLOATS), operand("labels", INDEX),
                operand("weights", FLOATS, optional=True))
    RESULTS = (result("output"), result("log_prob"))

    def infer_types(self) -> list[TensorType]:
        loss = self.loss_types("scores", "labels", "weights")
        s = self.type_of("scores")
        return [loss, TensorType(s.shape, s.element)]
