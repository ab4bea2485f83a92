"""Numpy kernels, one module per dialect family; importing this package registers them all."""

from furiosa.ir.interpreter.kernels import (
    host,
    onnx_base,
    onnx_elementwise,
    onnx_nn,
    onnx_quantized,
    onnx_reduce,
    onnx_tensor,
    quant,
)

__all__ = ["host", "onnx_base", "onnx_elementwise", "onnx_nn", "onnx_quantized", "onnx_reduce",
           "onnx_tensor", "quant"]
