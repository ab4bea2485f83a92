"""Which dialects a tool understands: the op (and attribute) names its parser accepts.

A tool (the CLI, the compiler entry point) builds one :class:`DialectRegistry` and
hands it down; each layer contributes its own dialects (``furiosa.ir.dialects.register``
for the IR's, the backend's ``register`` for its own). The IR core never imports a
layer above it to find an op.
"""

from __future__ import annotations

from typing import Any

from furiosa.errors import IRError
from furiosa.ir.attributes import ATTR_REGISTRY
from furiosa.ir.core import DECLARED_OPS, Operation


class DialectRegistry:
    """Op classes (and structured attribute classes) by qualified name, per dialect."""

    def __init__(self) -> None:
        self._ops: dict[str, type[Operation]] = {}
        self._attributes: dict[str, type[Any]] = {}
        self._dialects: list[str] = []

    def add_dialect(self, name: str) -> None:
        """Accept every op and structured attribute declared in dialect ``name`` (its Python
        modules must be imported)."""
        if name in self._dialects:
            return
        ops = {n: c for n, c in DECLARED_OPS.items() if n.split(".", 1)[0] == name}
        attributes = {n: c for n, c in ATTR_REGISTRY.items() if n.split(".", 1)[0] == name}
        if not ops and not attributes:
            raise IRError(f"dialect '{name}' declares no ops (is its module imported?)")
        self._dialects.append(name)
        self._ops.update(ops)
        self._attributes.update(attributes)

    @property
    def dialects(self) -> list[str]:
        return sorted(self._dialects)

    def lookup_op(self, name: str) -> type[Operation] | None:
        return self._ops.get(name)

    def lookup_attribute(self, name: str) -> type[Any] | None:
        # Undotted names (``layout``) are the IR's builtin attributes, known to every tool.
        return self._attributes.get(name) if "." in name else ATTR_REGISTRY.get(name)

    def ops(self) -> dict[str, type[Operation]]:
        return dict(sorted(self._ops.items()))

    def attributes(self) -> dict[str, type[Any]]:
        return dict(sorted(self._attributes.items()))
