"""Dialects: namespaces of declared ops. Importing this package registers them all."""

from furiosa.ir.dialects import host, onnx, quant

__all__ = ["host", "onnx", "quant"]
