"""The TFLite frontend: int8, uint8 and float32 models (float16 weights behind DEQUANTIZE).

:func:`import_tflite` reads subgraph 0 of a ``.tflite`` flatbuffer into a module: quantized
operators in the ``quant`` dialect, float ones in the ``onnx`` dialect, tensors kept NHWC with
explicit transposes around the NCHW ops. Inputs and outputs keep their TFLite tensor names;
each op's location is the name of the tensor it computes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from furiosa.frontends.tflite.importer import MAX_ELEMENTS, GraphImporter, load
from furiosa.frontends.tflite.operators import CONVERTERS
from furiosa.frontends.tflite.reader import read_model
from furiosa.ir.module import Module

SUPPORTED_OPERATORS = frozenset(CONVERTERS)
"""Builtin operator codes the importer converts."""


def import_tflite(model: str | os.PathLike[str] | bytes, *,
                  input_shapes: Mapping[str, Sequence[int]] | None = None,
                  name: str | None = None) -> Module:
    """Import a TFLite model (a path or the file's bytes) into a module.

    ``input_shapes`` fixes the shape of inputs whose dimensions are dynamic (``-1`` in the
    shape signature); otherwise a dynamic first (batch) dimension becomes 1 and any other
    dynamic dimension is an error. ``name`` names the module (and labels errors when
    ``model`` is bytes).
    """
    data, label = load(model, name)
    read = read_model(data, label)
    return GraphImporter(read, label, name, input_shapes, CONVERTERS).run()


__all__ = ["MAX_ELEMENTS", "SUPPORTED_OPERATORS", "import_tflite"]
