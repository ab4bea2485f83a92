"""The ONNX frontend: opset <= 13 (older opsets converted), plus known com.microsoft ops."""

from furiosa.frontends.onnx.importer import MAX_OPSET, import_onnx, load_onnx

__all__ = ["MAX_OPSET", "import_onnx", "load_onnx"]
