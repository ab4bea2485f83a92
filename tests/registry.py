"""The tool-level registries, as the CLI builds them: for tests that run backend passes or
parse backend ops from Python."""

from furiosa.compiler.registry import default_registry

DIALECTS = default_registry().dialects
PASSES = default_registry().passes
