"""Dialects: namespaces of declared ops (``onnx``, ``quant``, ``host``, ``func``).

Importing this package declares their ops; :func:`register` adds them to a tool's
dialect registry, and :func:`core_registry` is a registry of these alone.
"""

from __future__ import annotations

from functools import cache

from furiosa.ir.dialects import func, host, onnx, quant
from furiosa.ir.registry import DialectRegistry

__all__ = ["core_registry", "func", "host", "onnx", "quant", "register"]


def register(registry: DialectRegistry) -> None:
    """Add the IR's own dialects to ``registry``."""
    for name in ("onnx", "quant", "host", "func"):
        registry.add_dialect(name)


@cache
def core_registry() -> DialectRegistry:
    """A registry of the IR's own dialects (what a parser accepts when no tool says otherwise)."""
    registry = DialectRegistry()
    register(registry)
    return registry
