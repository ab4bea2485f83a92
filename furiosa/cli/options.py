"""Options shared by every subcommand that reads a model."""

from __future__ import annotations

import argparse

from furiosa.frontends import parse_shape_option


def add_input_shape_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input-shape", action="append", default=[], metavar="NAME=DIMS",
        help="fix the shape of a model input whose dimensions are symbolic, e.g. "
             "--input-shape x=1x3x224x224 (repeat for several inputs)")


def input_shapes_from(args: argparse.Namespace) -> dict[str, tuple[int, ...]] | None:
    shapes = dict(parse_shape_option(text) for text in args.input_shape)
    return shapes or None
