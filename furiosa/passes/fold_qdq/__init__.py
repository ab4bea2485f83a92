"""``fold-qdq``: quantized ONNX (QDQ and QOperator) into the ``quant`` dialect, in stages.

Each stage is one pass in its own module, a list of rewrite patterns run by the greedy driver:

1. ``normalize-qoperator`` (:mod:`.normalize_qoperator`): QOperator ops into QDQ form.
2. ``type-qdq`` (:mod:`.type_qdq`): Q / DQ pairs into quantized types.
3. ``fold-quant-ops`` (:mod:`.fold_quant_ops`): Dequantize -> op -> Quantize into quant ops,
   with the ``propagate-qdq`` patterns (:mod:`.propagate_qdq`) that move quantization through
   data movement.

``fold-qdq`` is the named pipeline of the three; :mod:`.common` holds what they share.
"""

from __future__ import annotations

from furiosa.passes.base import ModulePass
from furiosa.passes.fold_qdq.fold_quant_ops import FoldQuantOps
from furiosa.passes.fold_qdq.normalize_qoperator import NormalizeQOperator
from furiosa.passes.fold_qdq.propagate_qdq import PropagateQDQ
from furiosa.passes.fold_qdq.type_qdq import TypeQDQ

PASSES: tuple[type[ModulePass], ...] = (NormalizeQOperator, TypeQDQ, PropagateQDQ, FoldQuantOps)
PIPELINE = "normalize-qoperator,type-qdq,fold-quant-ops"
SUMMARY = "fold QuantizeLinear / DequantizeLinear and QLinear ops into quant ops"

__all__ = ["PASSES", "PIPELINE", "SUMMARY", "FoldQuantOps", "NormalizeQOperator", "PropagateQDQ",
           "TypeQDQ"]
