"""Fixtures for the model-zoo tests.

Models are built once into the shared zoo cache (``$FURIOSA_ZOO_DIR`` or
``~/.cache/furiosa/zoo``) and reused across runs while the builder code is unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.models import default_zoo_dir, ensure


@pytest.fixture(scope="session")
def zoo_dir() -> Path:
    return default_zoo_dir()


@pytest.fixture(scope="session")
def zoo(zoo_dir: Path):
    """``zoo(name) -> manifest entry``, building the model into the cache on first use."""
    cache: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in cache:
            cache[name] = ensure([name], zoo_dir)[name]
        return cache[name]

    return get
