"""The offline model zoo: real architectures with seeded random weights, float and INT8.

Quick use::

    from benchmarks.models import MODELS, ensure, default_zoo_dir
    entries = ensure(["resnet18", "mobilenet_v2"])   # cached under default_zoo_dir()
    path = default_zoo_dir() / "resnet18.int8.onnx"

See docs/models.md for the models, how they are built and their counts.
"""

from .zoo import (
    MODELS,
    ModelSpec,
    Published,
    build,
    builder_key,
    default_zoo_dir,
    ensure,
    load_manifest,
    sample_inputs,
    write_manifest,
)

__all__ = [
    "MODELS",
    "ModelSpec",
    "Published",
    "build",
    "builder_key",
    "default_zoo_dir",
    "ensure",
    "load_manifest",
    "sample_inputs",
    "write_manifest",
]
