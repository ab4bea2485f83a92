"""Options shared by every subcommand that reads a model."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

from furiosa.errors import FuriosaError
from furiosa.frontends import parse_shape_option


def add_input_shape_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input-shape", action="append", default=[], metavar="NAME=DIMS",
        help="fix the shape of a model input whose dimensions are symbolic, e.g. "
             "--input-shape x=1x3x224x224 (repeat for several inputs)")


def input_shapes_from(args: argparse.Namespace) -> dict[str, tuple[int, ...]] | None:
    shapes = dict(parse_shape_option(text) for text in args.input_shape)
    return shapes or None


def add_input_files_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy", help=help)


def load_input_files(specs: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays of ``--input NAME=FILE.npy`` options, by name (never unpickled)."""
    arrays = {}
    for text in specs:
        name, sep, file = text.partition("=")
        if not sep or not name or not file:
            raise FuriosaError(f"--input '{text}' is not NAME=FILE.npy")
        try:
            arrays[name] = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise FuriosaError(f"--input {name}: cannot read '{file}' as a .npy array: {e}") from None
    return arrays
