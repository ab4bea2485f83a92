"""Imports every pass module so that each registers itself."""

from furiosa.backend.warboy import legalize, partition
from furiosa.passes import canonicalize, fold_qdq, prelegalize

__all__ = ["canonicalize", "fold_qdq", "legalize", "partition", "prelegalize"]
