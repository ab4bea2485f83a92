"""Numpy kernels, one module per dialect family; importing this package registers them all."""

from furiosa.ir.interpreter.kernels import (
    host,
    onnx_base,
    onnx_elementwise,
    onnx_linalg,
    onnx_loss,
    onnx_nn,
    onnx_quantized,
    onnx_recurrent,
    onnx_reduce,
    onnx_sequence,
    onnx_tensor,
    onnx_text,
    quant,
)

__all__ = ["host", "onnx_base", "onnx_elementwise", "onnx_linalg", "onnx_loss", "onnx_nn",
           "onnx_quantized", "onnx_recurrent", "onnx_reduce", "onnx_sequence", "onnx_tensor",
           "onnx_text", "quant"]
