"""The pass base class, typed options and the registry.

A pass is a frozen attrs class registered under a name; its fields *are* its
options, so the pipeline string, the Python API and ``--list-passes`` are one
thing::

    @attrs.frozen
    class Canonicalize(FunctionPass):
        NAME = "canonicalize"
        max_iterations: int = option(10, "rounds of rewriting before giving up")

        def run_on_function(self, function: Function, ctx: PassContext) -> None: ...

In a pipeline an option is written with dashes: ``canonicalize{max-iterations=4}``.
Which passes a tool knows is its :class:`~furiosa.passes.registry.PassRegistry`,
to which each layer contributes its own (``furiosa.passes.register``, the backend's
``register``).
"""

from __future__ import annotations

import abc
import enum
from collections import Counter
from typing import Any, ClassVar

import attrs

from furiosa.errors import PassError
from furiosa.ir.module import Function, Module


def option(default: Any, help: str, *, choices: tuple[Any, ...] | None = None) -> Any:
    """Declare a pass option: a default and one line of help (shown by ``--list-passes``)."""
    return attrs.field(default=default, metadata={"help": help, "choices": choices},
                       validator=_check_choice if choices else None)


def _check_choice(inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    choices = attribute.metadata["choices"]
    if value not in choices:
        raise PassError(f"option '{option_name(attribute.name)}' of pass '{inst.NAME}' is {value!r}; "
                        f"expected one of {', '.join(map(str, choices))}")


def option_name(field_name: str) -> str:
    return field_name.replace("_", "-")


class PassContext:
    """What a running pass may report: named counters (its statistics)."""

    def __init__(self) -> None:
        self.statistics: Counter[str] = Counter()

    def count(self, name: str, n: int = 1) -> None:
        self.statistics[name] += n


class ModulePass(abc.ABC):
    """Base of every pass. Subclasses are frozen attrs classes with a ``NAME``."""

    NAME: ClassVar[str] = ""
    SUMMARY: ClassVar[str] = ""

    @abc.abstractmethod
    def run(self, module: Module, ctx: PassContext) -> None:
        """Rewrite ``module`` in place."""

    @classmethod
    def options(cls) -> list[attrs.Attribute]:
        return list(attrs.fields(cls))  # type: ignore[arg-type]

    @classmethod
    def from_options(cls, values: dict[str, Any]) -> ModulePass:
        """Build the pass from pipeline option values (dashed names, parsed text values)."""
        fields = {option_name(f.name): f for f in cls.options()}
        kwargs: dict[str, Any] = {}
        for key, raw in values.items():
            f = fields.get(key)
            if f is None:
                known = ", ".join(fields) or "none"
                raise PassError(f"pass '{cls.NAME}' has no option '{key}' (options: {known})")
            kwargs[f.name] = coerce_option(cls.NAME, key, f.type, raw)
        return cls(**kwargs)

    def option_values(self, *, include_defaults: bool = False) -> dict[str, Any]:
        out = {}
        for f in self.options():
            v = getattr(self, f.name)
            if include_defaults or v != f.default:
                out[option_name(f.name)] = v
        return out

    def pipeline_text(self) -> str:
        """This pass as a pipeline element, with every option that differs from its default."""
        from furiosa.passes.pipeline import PipelineElement

        return str(PipelineElement(self.NAME, self.option_values()))


class FunctionPass(ModulePass):
    """A pass that rewrites each function of the module on its own, in module order."""

    def run(self, module: Module, ctx: PassContext) -> None:
        for function in module.functions:
            self.run_on_function(function, ctx)

    @abc.abstractmethod
    def run_on_function(self, function: Function, ctx: PassContext) -> None:
        """Rewrite ``function`` in place."""


def coerce_option(pass_name: str, key: str, type_: Any, raw: Any) -> Any:
    """Convert a parsed option value to the declared field type, or raise PassError."""
    t = type_ if not isinstance(type_, str) else {"int": int, "float": float, "bool": bool,
                                                     "str": str}.get(type_, str)
    try:
        if t is bool:
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw in ("true", "false", "1", "0"):
                return raw in ("true", "1")
            if isinstance(raw, int) and raw in (0, 1):
                return bool(raw)
            raise ValueError
        if t is int:
            if isinstance(raw, bool):
                raise ValueError
            return int(raw) if not isinstance(raw, float) else _exact_int(raw)
        if t is float:
            return float(raw)
        if isinstance(t, type) and issubclass(t, enum.Enum):
            return t(raw)
        return str(raw)
    except (ValueError, TypeError):
        what = {int: "an integer", float: "a number", bool: "true or false"}.get(t, "a string")
        raise PassError(f"option '{key}' of pass '{pass_name}' must be {what}, got {raw!r}") from None


def _exact_int(x: float) -> int:
    if not x.is_integer():
        raise ValueError
    return int(x)
