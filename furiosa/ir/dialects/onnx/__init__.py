"""The ``onnx`` dialect: ONNX opset-13 semantics (also what TFLite imports into).

Ops are grouped by family, one module each; importing this package registers all of them.
"""

from furiosa.ir.dialects.onnx import (
    base,
    elementwise,
    linalg,
    loss,
    nn,
    quantized,
    recurrent,
    reduce,
    sequence,
    tensor,
    text,
)
from furiosa.ir.dialects.onnx.base import Constant, Identity

__all__ = ["Constant", "Identity", "base", "elementwise", "linalg", "loss", "nn", "quantized",
           "recurrent", "reduce", "sequence", "tensor", "text"]
