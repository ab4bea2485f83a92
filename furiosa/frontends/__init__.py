"""Frontends: import ONNX and TFLite models into the IR. They import only the IR.

:func:`load_model` picks the frontend from the file name and checks that the
content agrees with it, so a misnamed file gets an error that says so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from furiosa.errors import FrontendError, ModelFileError
from furiosa.ir.module import Module

MODEL_SUFFIXES = (".onnx", ".tflite")


def sniff_format(data: bytes) -> str | None:
    """'tflite' for a TFLite flatbuffer, 'fir' for text IR, None when the bytes do not say."""
    if len(data) >= 8 and data[4:8] == b"TFL3":
        return "tflite"
    if data.lstrip()[:5] in (b"func ", b"//") or data.lstrip().startswith(b"func @"):
        return "fir"
    return None


def load_model(path: str | os.PathLike[str], *,
               input_shapes: Mapping[str, Sequence[int]] | None = None) -> Module:
    """Import an ``.onnx`` or ``.tflite`` file into a module."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise ModelFileError(f"{p}: unknown model format '{suffix or '(no extension)'}'; "
                             "the compiler reads .onnx and .tflite models")
    if p.is_file():
        with open(p, "rb") as f:
            head = f.read(64)
        kind = sniff_format(head)
        expected = suffix[1:]
        if kind is not None and kind != expected:
            raise ModelFileError(f"{p} is named {suffix} but holds a {kind} "
                                 f"{'model' if kind == 'tflite' else 'file'}")
    if suffix == ".onnx":
        from furiosa.frontends.onnx import import_onnx

        return import_onnx(p, input_shapes=input_shapes)
    from furiosa.frontends.tflite import import_tflite

    return import_tflite(p, input_shapes=input_shapes)


def parse_shape_option(text: str) -> tuple[str, tuple[int, ...]]:
    """``NAME=1x3x224x224`` as given to ``--input-shape``."""
    name, sep, dims = text.rpartition("=")
    if not sep or not name:
        raise FrontendError(f"--input-shape '{text}' is not NAME=DIMS (e.g. x=1x3x224x224)")
    try:
        shape = tuple(int(d) for d in dims.lower().split("x")) if dims else ()
    except ValueError:
        raise FrontendError(f"--input-shape '{text}': '{dims}' is not dimensions like 1x3x224x224") from None
    if any(d < 0 for d in shape):
        raise FrontendError(f"--input-shape '{text}' has a negative dimension")
    return name, shape
