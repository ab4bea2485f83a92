"""Passes: the base class and registry, the pipeline grammar, the pass manager, rewrite patterns.

One module per pass family; each registers its passes on import (see ``all.py``).
"""

from furiosa.passes.base import (
    ModulePass,
    PassContext,
    lookup_pass,
    option,
    register_pass,
    registered_passes,
)
from furiosa.passes.manager import PassManager, run_pipeline
from furiosa.passes.pipeline import PipelineElement, build_pipeline, format_pipeline, parse_pipeline
from furiosa.passes.rewrite import RewritePattern, Rewriter, apply_patterns_greedily, pattern

__all__ = [
    "ModulePass",
    "PassContext",
    "PassManager",
    "PipelineElement",
    "RewritePattern",
    "Rewriter",
    "apply_patterns_greedily",
    "build_pipeline",
    "format_pipeline",
    "lookup_pass",
    "option",
    "parse_pipeline",
    "pattern",
    "register_pass",
    "registered_passes",
    "run_pipeline",
]
