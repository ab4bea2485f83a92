"""furiosa: an open compiler toolchain for Warboy-class NPUs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("furiosa")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"

__all__ = ["__version__"]
