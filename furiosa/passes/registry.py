"""Which passes and named pipelines a tool knows.

A tool (the CLI, the compiler entry point) builds one :class:`PassRegistry`; each
layer contributes its own passes and pipelines (``furiosa.passes.register`` for the
target-independent ones, the backend's ``register`` for its own). A named pipeline is
a pipeline string under a name; in a pipeline it expands to its passes.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from furiosa.errors import PassError
from furiosa.passes.base import ModulePass


@attrs.frozen
class NamedPipeline:
    name: str
    text: str
    summary: str


class PassRegistry:
    """Pass classes and named pipelines by name (one namespace for both)."""

    def __init__(self) -> None:
        self._passes: dict[str, type[ModulePass]] = {}
        self._pipelines: dict[str, NamedPipeline] = {}

    def add_pass(self, *classes: type[ModulePass]) -> None:
        for cls in classes:
            if not cls.NAME:
                raise ValueError(f"{cls.__name__} has no NAME")
            if cls.NAME in self._passes or cls.NAME in self._pipelines:
                raise ValueError(f"'{cls.NAME}' is registered twice")
            self._passes[cls.NAME] = cls

    def add_pipeline(self, name: str, text: str, summary: str) -> None:
        if name in self._passes or name in self._pipelines:
            raise ValueError(f"'{name}' is registered twice")
        self._pipelines[name] = NamedPipeline(name, text, summary)

    def passes(self) -> dict[str, type[ModulePass]]:
        return dict(sorted(self._passes.items()))

    def pipelines(self) -> dict[str, NamedPipeline]:
        return dict(sorted(self._pipelines.items()))

    def names(self) -> Iterable[str]:
        return sorted([*self._passes, *self._pipelines])

    def lookup_pass(self, name: str) -> type[ModulePass]:
        cls = self._passes.get(name)
        if cls is None:
            raise PassError(f"unknown pass '{name}' (known: {', '.join(self.names())})")
        return cls

    def lookup_pipeline(self, name: str) -> NamedPipeline | None:
        return self._pipelines.get(name)
