"""The tool-level registries: every dialect, pass and named pipeline, each layer contributing
its own. The CLI and the compiler build theirs here and hand them down."""

from __future__ import annotations

from functools import cache

import attrs

from furiosa.ir.registry import DialectRegistry
from furiosa.passes.registry import PassRegistry


@attrs.frozen
class Registry:
    dialects: DialectRegistry
    passes: PassRegistry


@cache
def default_registry() -> Registry:
    """The IR's dialects, the target-independent passes and the Warboy backend's own."""
    import furiosa.backend.warboy as warboy
    import furiosa.ir.dialects as ir_dialects
    import furiosa.passes as passes

    registry = Registry(DialectRegistry(), PassRegistry())
    ir_dialects.register(registry.dialects)
    passes.register(registry.passes)
    warboy.register(registry.dialects, registry.passes)
    return registry
