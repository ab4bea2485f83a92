"""Imports every pass module so that each registers itself."""

from furiosa.passes import canonicalize

__all__ = ["canonicalize"]
