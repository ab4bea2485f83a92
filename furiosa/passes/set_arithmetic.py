"""``set-arithmetic``: choose whose integer kernels every quant op reproduces.

``set-arithmetic{mode=onnxruntime}`` sets the ``arithmetic`` attribute of every quant op that
has one to ``onnxruntime`` (onnxruntime's integer CPU kernels), ``mode=tflite`` back to LiteRT's
reference kernels. An ONNX model runs it after ``fold-qdq``, so that its answers are those of
onnxruntime. Ops whose result does not depend on the mode (``quant.MaxPool``; ``quant.Table``,
whose table already holds the results) have no such attribute and are left as they are.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from furiosa.ir.core import Operation
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
        set_arithmetic(function.ops, self.mode, ctx)


def set_arithmetic(ops: Iterable[Operation], mode: str, ctx: PassContext) -> None:
    """Set the ``arithmetic`` of each of ``ops`` that has one (the quant ops, and their twins
    placed on the NPU, which share their attributes) to ``mode``; count the changes."""
    for op in ops:
        if "arithmetic" not in op.attribute_specs():
            continue
        if op.arithmetic != mode:  # type: ignore[attr-defined]
            op.arithmetic = mode  # type: ignore[attr-defined]
            ctx.count("ops-changed")
