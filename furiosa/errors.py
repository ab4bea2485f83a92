"""The one exception root of the toolchain.

Every error a user can cause derives from :class:`FuriosaError`; its message is
one sentence naming the file, op, tensor or variable at fault. The CLI prints
the message without a traceback and exits non-zero.
"""

from __future__ import annotations


class FuriosaError(Exception):
    """Root of every user-facing error."""


class IRError(FuriosaError):
    """A malformed IR construct (bad type, bad attribute, wrong arity)."""


class ParseError(IRError):
    """Text IR that does not parse; the message starts with ``file:line:col:``."""

    def __init__(self, filename: str, line: int, col: int, message: str) -> None:
        super().__init__(f"{filename}:{line}:{col}: {message}")
        self.filename = filename
        self.line = line
        self.col = col
        self.reason = message


class VerifyError(IRError):
    """A module that breaks an IR invariant."""


class InterpreterError(FuriosaError):
    """A module that cannot be executed on the given inputs."""


class PassError(FuriosaError):
    """A pass that cannot run, or a pipeline string that does not parse."""


class PipelineParseError(PassError):
    """A pipeline string that does not parse; the message names the column."""


class FrontendError(FuriosaError):
    """A model file that cannot be imported; the message names the file and the node or tensor."""


class ModelFileError(FrontendError):
    """The file is missing, empty, unreadable, or not a model of the format its name says."""


class UnsupportedModelError(FrontendError):
    """A valid model that uses something the compiler does not take (opset, domain, operator)."""


class DynamicShapeError(FrontendError):
    """An input whose shape is not static and was not given by the caller."""
