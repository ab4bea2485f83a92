"""Passes: the base class, the pipeline grammar, the pass manager, rewrite patterns, and one
module per target-independent pass.

:func:`register` adds this layer's passes and named pipelines to a tool's registry;
:func:`core_registry` is a registry of them alone (the backend adds its own on top).
"""

from __future__ import annotations

from functools import cache

from furiosa.passes.base import FunctionPass, ModulePass, PassContext, option
from furiosa.passes.manager import PassManager, run_pipeline
from furiosa.passes.pipeline import PipelineElement, build_pipeline, format_pipeline, parse_pipeline
from furiosa.passes.registry import PassRegistry
from furiosa.passes.rewrite import RewritePattern, Rewriter, apply_patterns_greedily, pattern

__all__ = [
    "FunctionPass",
    "ModulePass",
    "PassContext",
    "PassManager",
    "PassRegistry",
    "PipelineElement",
    "RewritePattern",
    "Rewriter",
    "apply_patterns_greedily",
    "build_pipeline",
    "core_registry",
    "format_pipeline",
    "option",
    "parse_pipeline",
    "pattern",
    "register",
    "run_pipeline",
]


def register(registry: PassRegistry) -> None:
    """Add the target-independent passes and named pipelines to ``registry``."""
    from furiosa.passes import canonicalize, fold_qdq, prelegalize, set_arithmetic

    registry.add_pass(canonicalize.Canonicalize, *fold_qdq.PASSES, *prelegalize.PASSES)
    registry.add_pipeline("fold-qdq", fold_qdq.PIPELINE, fold_qdq.SUMMARY)
    registry.add_pass(set_arithmetic.SetArithmetic)


@cache
def core_registry() -> PassRegistry:
    """The target-independent passes alone (what a pipeline may name when no tool says more)."""
    registry = PassRegistry()
    register(registry)
    return registry
