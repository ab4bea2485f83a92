"""The Warboy backend: target description, supported-operator table, lowering and code generation.

:func:`register` adds the backend's dialect and passes to a tool's registries.
"""

from __future__ import annotations

from functools import cache

from furiosa.ir.registry import DialectRegistry
from furiosa.passes.registry import PassRegistry


def register(dialects: DialectRegistry, passes: PassRegistry) -> None:
    """Add the ``warboy`` dialect and the backend's passes."""
    from furiosa.backend.warboy import attributes, dialect, legalize, partition  # noqa: F401

    dialects.add_dialect("warboy")
    passes.add_pass(legalize.Legalize, partition.Partition)


@cache
def pass_registry() -> PassRegistry:
    """The target-independent passes and the backend's: what the backend's own entry points
    (``furiosa ops``'s placement report) run when no tool hands them a registry."""
    import furiosa.passes as passes

    registry = PassRegistry()
    passes.register(registry)
    register(DialectRegistry(), registry)
    return registry
