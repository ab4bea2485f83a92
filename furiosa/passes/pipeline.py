"""The pipeline grammar: ``name,name{key=value,key=value},...``.

::

    pipeline := element (',' element)*
    element  := pass-name [ '{' option (',' option)* '}' ]
    option   := key '=' value
    value    := word | quoted-string | '[' value (',' value)* ']'

Words are numbers, ``true``/``false`` or bare strings (letters, digits, ``-_.+``).
Parsing then printing gives back the same text (whitespace aside).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from furiosa.errors import PassError, PipelineParseError
from furiosa.passes.base import ModulePass

if TYPE_CHECKING:
    from furiosa.passes.registry import PassRegistry

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_WORD = re.compile(r"[A-Za-z0-9_.+-]+")
_INT = re.compile(r"[-+]?\d+\Z")
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?\Z")


@attrs.frozen
class PipelineElement:
    name: str
    options: dict[str, Any] = attrs.field(factory=dict)

    def __str__(self) -> str:
        if not self.options:
            return self.name
        return self.name + "{" + ",".join(f"{k}={format_value(v)}" for k, v in self.options.items()) + "}"


def format_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple):
        return "[" + ",".join(format_value(x) for x in v) + "]"
    if hasattr(v, "value") and not isinstance(v, int | float | str):  # an enum option
        v = v.value
    text = str(v)
    return text if _WORD.fullmatch(text) else json.dumps(text)


def _word_value(word: str) -> Any:
    if word in ("true", "false"):
        return word == "true"
    if _INT.match(word):
        return int(word)
    if _FLOAT.match(word):
        return float(word)
    return word


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str) -> PipelineParseError:
        return PipelineParseError(f"pass pipeline, column {self.pos + 1}: {message} "
                                  f"(in '{self.text}')")

    def ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def accept(self, ch: str) -> bool:
        self.ws()
        if self.text.startswith(ch, self.pos):
            self.pos += len(ch)
            return True
        return False

    def match(self, pattern: re.Pattern[str], what: str) -> str:
        self.ws()
        m = pattern.match(self.text, self.pos)
        if not m:
            found = repr(self.text[self.pos]) if self.pos < len(self.text) else "the end"
            raise self.error(f"expected {what}, found {found}")
        self.pos = m.end()
        return m.group(0)

    def value(self) -> Any:
        self.ws()
        if self.accept("["):
            items = []
            if not self.accept("]"):
                while True:
                    items.append(self.value())
                    if self.accept("]"):
                        break
                    if not self.accept(","):
                        raise self.error("expected ',' or ']'")
            return items
        if self.text.startswith('"', self.pos):
            m = re.compile(r'"(?:[^"\\]|\\.)*"').match(self.text, self.pos)
            if not m:
                raise self.error("unterminated string")
            self.pos = m.end()
            return json.loads(m.group(0))
        return _word_value(self.match(_WORD, "an option value"))

    def element(self) -> PipelineElement:
        name = self.match(_NAME, "a pass name")
        options: dict[str, Any] = {}
        if self.accept("{"):
            if not self.accept("}"):
                while True:
                    self.ws()
                    key_pos = self.pos
                    key = self.match(_NAME, "an option name")
                    if key in options:
                        self.pos = key_pos
                        raise self.error(f"option '{key}' is given twice")
                    if not self.accept("="):
                        raise self.error(f"expected '=' after option '{key}'")
                    options[key] = self.value()
                    if self.accept("}"):
                        break
                    if not self.accept(","):
                        raise self.error("expected ',' or '}'")
        return PipelineElement(name, options)


def parse_pipeline(text: str) -> list[PipelineElement]:
    """Parse a pipeline string into elements (names are not looked up here)."""
    r = _Reader(text)
    r.ws()
    if r.pos == len(text):
        return []
    elements = [r.element()]
    while r.accept(","):
        elements.append(r.element())
    r.ws()
    if r.pos != len(text):
        raise r.error(f"unexpected {text[r.pos]!r}")
    return elements


def format_pipeline(elements: Sequence[PipelineElement | ModulePass]) -> str:
    return ",".join(e.pipeline_text() if isinstance(e, ModulePass) else str(e) for e in elements)


def build_pipeline(pipeline: str | Sequence[PipelineElement | ModulePass],
                   registry: PassRegistry | None = None) -> list[ModulePass]:
    """Instantiate the passes of a pipeline (text, elements or pass objects); named pipelines
    expand to their passes. ``registry`` defaults to the target-independent passes alone."""
    if registry is None:
        from furiosa.passes import core_registry

        registry = core_registry()
    elements = parse_pipeline(pipeline) if isinstance(pipeline, str) else list(pipeline)
    return _expand(elements, registry, ())


def _expand(elements: Sequence[PipelineElement | ModulePass], registry: PassRegistry,
            within: tuple[str, ...]) -> list[ModulePass]:
    passes: list[ModulePass] = []
    for e in elements:
        if isinstance(e, ModulePass):
            passes.append(e)
            continue
        named = registry.lookup_pipeline(e.name)
        if named is None:
            passes.append(registry.lookup_pass(e.name).from_options(e.options))
            continue
        if e.name in within:
            raise PassError(f"pipeline '{e.name}' contains itself")
        stages = _expand(parse_pipeline(named.text), registry, (*within, e.name))
        if e.options:
            declared = {f.name.replace("_", "-") for p in stages for f in p.options()}
            unknown = sorted(set(e.options) - declared)
            if unknown:
                raise PassError(f"pipeline '{e.name}' has no stage with option '{unknown[0]}' "
                                f"(options: {', '.join(sorted(declared)) or 'none'})")
            stages = [_with_options(p, e.options) for p in stages]
        passes.extend(stages)
    return passes


def _with_options(p: ModulePass, options: dict[str, Any]) -> ModulePass:
    """A stage of a named pipeline with the options given to the pipeline that it declares."""
    mine = {k: v for k, v in options.items() if k in {f.name.replace("_", "-") for f in p.options()}}
    if not mine:
        return p
    return type(p).from_options({**p.option_values(), **mine})
