"""Structured attributes: dialect-declared, frozen attrs classes with a text form.

A dialect declares one in a few lines::

    @attr_def("warboy.sram_range")
    @attrs.frozen
    class SramRange:
        slices: tuple[int, int]
        address: int
        size: int

and it prints as ``#warboy.sram_range<slices = [0, 64], address = 4096, size = 1024>``: the
fields by name, in declaration order, those equal to their default left out. The parser reads
that form back field by field, converting each value to the field's annotated type (``int``,
``float``, ``str``, ``bool``, an enum, a tuple, another structured attribute, ``X | None``).
A class may instead define its own body syntax with ``format_body(self) -> str`` and a
classmethod ``parse_body(cls, text) -> instance`` (the builtin named layout does).

Layouts are structured attributes deriving from :class:`Layout`; the builtin one is
:class:`NamedLayout` (``#layout<NHWC>``); backends add their own (``#warboy.tiled<...>``).

This module imports nothing else of the IR so that types and ops can both build on it.
"""

from __future__ import annotations

import enum
import json
import re
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from furiosa.errors import IRError

ATTR_REGISTRY: dict[str, type] = {}
"""Attribute name (``dialect.name``, or a bare name for builtins) -> its class."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")

T = TypeVar("T")


def format_float(x: float) -> str:
    """Shortest text that parses back to the same double (``nan``, ``inf``, ``-inf`` included)."""
    return repr(float(x))


def register_attr(name: str, cls: type) -> None:
    """Enter ``cls`` in the attribute table under ``name`` (the one place that writes it)."""
    if name in ATTR_REGISTRY and ATTR_REGISTRY[name] is not cls:
        raise ValueError(f"attribute '{name}' is declared twice")
    ATTR_REGISTRY[name] = cls


def attr_def(name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: register a frozen attrs class as the structured attribute ``name``.

    The class gets ``ATTR_NAME`` and a ``__str__`` giving its text form. A class that is not yet
    an attrs class is made a frozen one.
    """
    if not _NAME.match(name):
        raise ValueError(f"attribute name '{name}' is not a dotted identifier")

    def wrap(cls: type[T]) -> type[T]:
        if not attrs.has(cls):
            cls = attrs.frozen(cls)
        elif cls.__hash__ is None:  # attrs leaves mutable classes with eq unhashable
            raise ValueError(f"attribute class {cls.__name__} must be frozen")
        cls.ATTR_NAME = name  # type: ignore[attr-defined]
        cls.__str__ = format_struct  # type: ignore[method-assign, assignment]
        register_attr(name, cls)
        return cls

    return wrap


def is_struct(value: object) -> bool:
    """True when ``value`` is an instance of a declared structured attribute."""
    return getattr(type(value), "ATTR_NAME", None) is not None and attrs.has(type(value))


def lookup_attr(name: str) -> type | None:
    """The class declared as ``name``, loading the dialects on first use."""
    return ATTR_REGISTRY.get(name)


def registered_attrs() -> dict[str, type]:
    return dict(sorted(ATTR_REGISTRY.items()))


# --------------------------------------------------------------------------- printing


def format_value(value: object) -> str:
    """The text of an attribute value that structured attributes may hold."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, Ident):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if is_struct(value):
        return format_struct(value)
    return str(value)


def format_struct(value: Any) -> str:
    """``#name<body>``: the class's own ``format_body`` or the fields by name."""
    cls = type(value)
    custom = getattr(cls, "format_body", None)
    if custom is not None:
        body = custom(value)
    else:
        parts = []
        for f in attrs.fields(cls):
            v = getattr(value, f.name)
            if f.default is not attrs.NOTHING and v == _default(f):
                continue
            parts.append(f"{f.name} = {format_value(v)}")
        body = ", ".join(parts)
    return f"#{cls.ATTR_NAME}<{body}>"


def _default(f: attrs.Attribute) -> object:
    d = f.default
    if isinstance(d, attrs.Factory):  # type: ignore[arg-type]
        return d.factory()  # type: ignore[attr-defined]
    return d


# --------------------------------------------------------------------------- building from parsed fields


class Ident(str):
    """A bare identifier read inside a structured attribute (an enum member, ``none``)."""


def field_hints(cls: type) -> dict[str, Any]:
    """Field name -> resolved annotation (cached on the class)."""
    cached = cls.__dict__.get("_field_hints_cache")
    if cached is None:
        hints = typing.get_type_hints(cls)
        cached = {f.name: hints.get(f.name, Any) for f in attrs.fields(cls)}
        cls._field_hints_cache = cached  # type: ignore[attr-defined]
    return cached


def convert_field(cls: type, name: str, value: object) -> object:
    """``value`` (as parsed) converted to the annotated type of field ``name`` of ``cls``."""
    hints = field_hints(cls)
    if name not in hints:
        fields = ", ".join(hints) or "none"
        raise IRError(f"#{cls.ATTR_NAME} has no field '{name}' (its fields: {fields})")  # type: ignore[attr-defined]
    try:
        return _coerce(value, hints[name])
    except ValueError as e:
        raise IRError(f"field '{name}' of #{cls.ATTR_NAME}: {e}") from None  # type: ignore[attr-defined]


def build_struct(cls: type[T], fields: dict[str, object]) -> T:
    """An instance of ``cls`` from converted fields; missing required fields are an IRError."""
    missing = [f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING and f.name not in fields]
    if missing:
        raise IRError(f"#{cls.ATTR_NAME} needs field '{missing[0]}'")  # type: ignore[attr-defined]
    try:
        return cls(**fields)
    except (TypeError, ValueError) as e:
        raise IRError(f"#{cls.ATTR_NAME}: {e}") from None  # type: ignore[attr-defined]


def _describe(hint: Any) -> str:
    if isinstance(hint, type):
        if issubclass(hint, enum.Enum):
            return "one of " + ", ".join(str(m.value) for m in hint)
        if getattr(hint, "ATTR_NAME", None):
            return f"#{hint.ATTR_NAME}<...>"
        return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
            hint, hint.__name__)
    return str(hint).replace("typing.", "")


def _coerce(value: object, hint: Any) -> object:
    if hint is Any:
        return value
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if type(None) in options and (value is None or (value == "none" and isinstance(value, Ident))):
            return None
        for opt in options:
            if opt is type(None):
                continue
            try:
                return _coerce(value, opt)
            except ValueError:
                continue
        raise ValueError(f"expected {' or '.join(_describe(o) for o in options)}, got {format_value(value)}")
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, tuple):
            raise ValueError(f"expected a list, got {format_value(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0]) for v in value)
        if len(args) != len(value):
            raise ValueError(f"expected a list of {len(args)} items, got {len(value)}")
        return tuple(_coerce(v, a) for v, a in zip(value, args, strict=True))
    if not isinstance(hint, type):
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif issubclass(hint, enum.Enum):
        if isinstance(value, hint):
            return value
        if isinstance(value, str):
            try:
                return hint(str(value))
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, str) and not isinstance(value, Ident):
            return value
    elif isinstance(value, hint):
        return value
    raise ValueError(f"expected {_describe(hint)}, got {format_value(value)}")


# --------------------------------------------------------------------------- layouts


class Layout:
    """Base of layout attributes: how a shaped type's elements are arranged in memory."""

    __slots__ = ()

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """Raise IRError when the layout cannot describe a value of ``shape`` (override)."""


_LAYOUT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]*\Z")


@attr_def("layout")
@attrs.frozen
class NamedLayout(Layout):
    """A layout named by its axes, one letter each (``NHWC``) or dotted (``N.Ho.Co.Hi.Ci.W``).

    Printed ``#layout<NHWC>``. The number of axes must equal the rank of the type.
    """

    name: str

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not _LAYOUT_NAME.match(self.name):
            raise IRError(f"layout '{self.name}' is not a name of letters, digits, '_' and '.'")

    @property
    def axes(self) -> tuple[str, ...]:
        return tuple(self.name.split(".")) if "." in self.name else tuple(self.name)

    def check_shape(self, shape: tuple[int, ...]) -> None:
        if len(self.axes) != len(shape):
            raise IRError(f"layout {self.name} has {len(self.axes)} axes but the shape "
                          f"{list(shape)} has rank {len(shape)}")

    def format_body(self) -> str:
        return self.name

    @classmethod
    def parse_body(cls, text: str) -> NamedLayout:
        return cls(text.strip())


NCHW = NamedLayout("NCHW")
NHWC = NamedLayout("NHWC")
