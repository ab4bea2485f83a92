"""The Warboy backend: target description, supported-operator table, lowering and code generation.

:func:`register` adds the backend's dialect and passes to a tool's registries.
"""

from __future__ import annotations

from furiosa.ir.registry import DialectRegistry
from furiosa.passes.registry import PassRegistry


def register(dialects: DialectRegistry, passes: PassRegistry) -> None:
    """Add the ``warboy`` dialect and the backend's passes."""
    from furiosa.backend.warboy import attributes, dialect, legalize, partition  # noqa: F401

    dialects.add_dialect("warboy")
    passes.add_pass(legalize.Legalize, partition.Partition)

