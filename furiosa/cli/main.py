"""``furiosa``: the command-line entry point and its subcommands.

Every user-facing error is a :class:`~furiosa.errors.FuriosaError`; it is
printed as one line on stderr, without a traceback, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from furiosa import __version__
from furiosa.cli import compare, enf, ops, opt, sim
from furiosa.errors import FuriosaError, ParseError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="furiosa", description="An open compiler toolchain for Warboy-class NPUs.")
    parser.add_argument("--version", action="version", version=f"furiosa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    opt.add_parser(sub)
    ops.add_parser(sub)
    enf.add_parser(sub)
    sim.add_parser(sub)
    compare.add_parser(sub)
    return parser


def format_error(e: FuriosaError) -> str:
    if isinstance(e, ParseError):
        return f"{e.filename}:{e.line}:{e.col}: error: {e.reason}"
    return f"furiosa: error: {e}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except FuriosaError as e:
        print(format_error(e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
