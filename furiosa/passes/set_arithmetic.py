"""``set-arithmetic``: choose whose integer kernels every quant op reproduces.

``set-arithmetic{mode=onnxruntime}`` sets the ``arithmetic`` attribute of every quant op that
has one to ``onnxruntime`` (onnxruntime's integer CPU kernels), ``mode=tflite`` back to LiteRT's
reference kernels. An ONNX model runs it after ``fold-qdq``, so that its answers are those of
onnxruntime. Ops whose result does not depend on the mode (``quant.MaxPool``; ``quant.Table``,
whose table already holds the results) have no such attribute and are left as they are.
"""

from __future__ import annotations

import attrs

from furiosa.ir.module import Function
from furiosa.ir.quantization import ARITHMETIC_MODES
from furiosa.passes.base import FunctionPass, PassContext, option


@attrs.frozen
class SetArithmetic(FunctionPass):
    NAME = "set-arithmetic"
    SUMMARY = "set the arithmetic mode (tflite or onnxruntime) of every quant op"

    mode: str = option("tflite", "whose integer kernels the quant ops reproduce",
                       choices=ARITHMETIC_MODES)

    def run_on_function(self, function: Function, ctx: PassContext) -> None:
        for op in function.ops:
            # The quant ops, and their twins placed on the NPU, which share their attributes.
            if "arithmetic" not in op.attribute_specs():
                continue
            if op.arithmetic != self.mode:  # type: ignore[attr-defined]
                op.arithmetic = self.mode  # type: ignore[attr-defined]
                ctx.count("ops-changed")
