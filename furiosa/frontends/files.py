"""Reading a model file: the checks every frontend makes before it parses anything."""

from __future__ import annotations

import os
from pathlib import Path

from furiosa.errors import ModelFileError


def read_model_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes, or a ModelFileError saying why there are none."""
    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"{p}: no such file")
    if p.is_dir():
        raise ModelFileError(f"{p} is a directory, not a model file")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ModelFileError(f"{p}: cannot read the file: {e.strerror}") from None
    if not data:
        raise ModelFileError(f"{p} is empty")
    return data
