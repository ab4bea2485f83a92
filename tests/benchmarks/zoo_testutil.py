"""Parametrisation helpers shared by the zoo tests."""

from __future__ import annotations

import pytest

from benchmarks.models import MODELS


def model_params(names: list[str] | None = None) -> list:
    """pytest params for all models (or ``names``); those not in the fast set marked slow."""
    names = list(MODELS) if names is None else names
    return [pytest.param(n, marks=() if MODELS[n].fast else pytest.mark.slow, id=n) for n in names]
