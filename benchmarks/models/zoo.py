"""The zoo: registry of models, building, and the content-keyed cache.

``build(name, out_dir)`` writes ``NAME.onnx``, ``NAME.int8.onnx`` and, where the model has
one, ``NAME.int8.tflite``, and returns the model's manifest entry.  ``ensure(names, out_dir)``
does the same but reuses files built earlier by the same builder code (the cache key hashes
the sources of this package, the seed and the versions of the libraries that shape the
bytes), and refreshes ``manifest.json``.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import onnx

from . import bert, mobilenet, resnet, ssd, yolo
from .inputs import InputSpec
from .inputs import sample as sample_feeds
from .quantize import quantize_qdq
from .stats import count_macs, count_params

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
CACHE_DIR = ".zoo"
# Libraries whose version can change the bytes written.
KEY_PACKAGES = ("numpy", "onnx", "onnxruntime", "flatbuffers", "tflite")


@dataclass(frozen=True)
class Published:
    """A published figure to compare the computed counts with (None: no reliable figure)."""

    macs: float | None
    params: float | None
    source: str


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    task: str  # classification | detection | language
    builder: Callable[[str, int], onnx.ModelProto]
    inputs: tuple[InputSpec, ...]
    published: Published
    tflite: bool = False
    fast: bool = False  # checked by the default test run (the others by the slow tests)
    calib_samples: int = 16
    float_scopes: tuple[str, ...] = ()  # node-name prefixes left in float by quantisation
    quant_op_types: tuple[str, ...] | None = None  # None: onnxruntime's default set


def _image(name: str, size: int, pixels: str) -> tuple[InputSpec, ...]:
    return (InputSpec(name, (1, 3, size, size), "float32", f"image:{pixels}"),)


_TOKENS = (
    InputSpec("input_ids", (1, bert.SEQ), "int64", "tokens"),
    InputSpec("attention_mask", (1, bert.SEQ), "int64", "mask"),
    InputSpec("token_type_ids", (1, bert.SEQ), "int64", "segments"),
)

_TORCHVISION = "torchvision model docs (GFLOPS there are GMACs)"
# The attention-mask Add spans -1e4..0: quantising it (or Softmax's input) at int8 would wipe
# out the attention scores, so transformer users quantise the projections only.
_TRANSFORMER_OPS = ("MatMul", "Gemm")


def _resnet(name: str, depth: int, macs: float, params: float, fast: bool) -> ModelSpec:
    return ModelSpec(
        name=name,
        description=f"ResNet-{depth}" + (" v1.5 (MLPerf)" if depth == 50 else ""),
        task="classification",
        builder=lambda n, seed: resnet.build_resnet(n, depth, seed),
        inputs=_image("input", 224, "imagenet"),
        published=Published(macs, params, _TORCHVISION),
        fast=fast,
    )


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _resnet("resnet50_v1.5", 50, 4.09e9, 25.557e6, True),
        _resnet("resnet18", 18, 1.81e9, 11.690e6, True),
        _resnet("resnet34", 34, 3.66e9, 21.798e6, False),
        _resnet("resnet101", 101, 7.80e9, 44.549e6, False),
        _resnet("resnet152", 152, 11.51e9, 60.193e6, False),
        ModelSpec(
            "mobilenet_v1",
            "MobileNet-v1 1.0/224",
            "classification",
            mobilenet.build_mobilenet_v1,
            _image("input", 224, "imagenet"),
            Published(569e6, 4.2e6, "Howard et al. 2017, MobileNets, Table 8"),
        ),
        ModelSpec(
            "mobilenet_v2",
            "MobileNet-v2 1.0/224",
            "classification",
            mobilenet.build_mobilenet_v2,
            _image("input", 224, "imagenet"),
            Published(300e6, 3.505e6, f"Sandler et al. 2018 (300M MAdds); {_TORCHVISION}"),
            tflite=True,
            fast=True,
        ),
        ModelSpec(
            "ssd_mobilenet_v1",
            "SSD-MobileNet-v1 300x300, COCO (MLPerf), heads only",
            "detection",
            lambda n, seed: ssd.build_ssd_mobilenet_v1(n, seed),
            _image("image", ssd.SSD_MOBILENET_SIZE, "minus_one_one"),
            Published(
                1.247e9, 6.807e6, "OpenVINO Open Model Zoo ssd_mobilenet_v1_coco (2.494 GFLOPs)"
            ),
            tflite=True,
            fast=True,
        ),
        ModelSpec(
            "ssd_mobilenet_v1_postprocess",
            "SSD-MobileNet-v1 300x300 with box decoding, TopK and NonMaxSuppression",
            "detection",
            lambda n, seed: ssd.build_ssd_mobilenet_v1(n, seed, postprocess=True),
            _image("image", ssd.SSD_MOBILENET_SIZE, "minus_one_one"),
            Published(1.247e9, 6.807e6, "as ssd_mobilenet_v1"),
            float_scopes=("postprocess.",),
            fast=True,
        ),
        ModelSpec(
            "ssd_resnet34",
            "SSD-ResNet34 1200x1200, COCO (MLPerf), heads only",
            "detection",
            ssd.build_ssd_resnet34,
            _image("image", ssd.SSD_RESNET34_SIZE, "imagenet"),
            Published(
                216.7e9, 20.058e6, "OpenVINO Open Model Zoo ssd-resnet34-1200-onnx (433.4 GFLOPs)"
            ),
            calib_samples=4,
        ),
        ModelSpec(
            "yolov5s",
            "YOLOv5s v6 640x640, COCO",
            "detection",
            yolo.build_yolov5s,
            _image("images", yolo.SIZE, "unit"),
            Published(8.25e9, 7.235e6, "ultralytics YOLOv5 README (16.5 GFLOPs at 640)"),
            calib_samples=8,
        ),
        ModelSpec(
            "bert_base",
            "BERT-base uncased encoder + pooler, sequence 128",
            "language",
            lambda n, seed: bert.build_bert(n, bert.BERT_BASE, seed),
            _TOKENS,
            Published(
                11.25e9,
                109.5e6,
                "Devlin et al. 2019 (110M); 22.5 GFLOPs at 128 tokens, Jiao et al. 2020",
            ),
            calib_samples=8,
            quant_op_types=_TRANSFORMER_OPS,
        ),
        ModelSpec(
            "bert_tiny",
            "BERT-tiny (2 layers, hidden 128) encoder + pooler, sequence 128",
            "language",
            lambda n, seed: bert.build_bert(n, bert.BERT_TINY, seed),
            _TOKENS,
            Published(None, 4.386e6, "Turc et al. 2019, BERT miniatures (L=2, H=128)"),
            quant_op_types=_TRANSFORMER_OPS,
            fast=True,
        ),
    )
}


def default_zoo_dir() -> Path:
    """``$FURIOSA_ZOO_DIR`` if set, else ``~/.cache/furiosa/zoo``."""
    env = os.environ.get("FURIOSA_ZOO_DIR")
    return Path(env) if env else Path.home() / ".cache" / "furiosa" / "zoo"


def sample_inputs(name: str, n: int, seed: int | str = "eval") -> list[dict]:
    """``n`` seeded onnxruntime feeds for model ``name`` (batch 1 each)."""
    return sample_feeds(list(MODELS[name].inputs), n, f"{name}/{seed}")


# ---------------------------------------------------------------------- building
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so readers never see a partial file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _value_infos(values: Iterable[onnx.ValueInfoProto]) -> list[dict]:
    out = []
    for vi in values:
        t = vi.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in t.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name
        out.append({"name": vi.name, "shape": shape, "dtype": dtype})
    return out


def build(name: str, out_dir: str | os.PathLike[str], *, seed: int = 0) -> dict:
    """Build model ``name`` into ``out_dir`` (always; see ``ensure`` for the cached path).

    Returns the manifest entry: name, description, inputs, outputs, MACs, parameter count,
    and the size and sha256 of each file written.
    """
    spec = MODELS[name]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = spec.builder(name, seed)
    onnx.checker.check_model(model, full_check=True)
    float_bytes = model.SerializeToString()
    files: dict[str, bytes] = {f"{name}.onnx": float_bytes}
    feeds = sample_feeds(list(spec.inputs), spec.calib_samples, f"{name}/calibration/{seed}")
    qmodel = quantize_qdq(
        model, feeds, exclude_scopes=spec.float_scopes, op_types=spec.quant_op_types
    )
    files[f"{name}.int8.onnx"] = qmodel.SerializeToString()
    if spec.tflite:
        from .tflite_export import qdq_to_tflite

        files[f"{name}.int8.tflite"] = qdq_to_tflite(qmodel, model)
    for fname, data in files.items():
        _write_atomic(out / fname, data)
    return {
        "name": name,
        "description": spec.description,
        "task": spec.task,
        "seed": seed,
        "inputs": _value_infos(model.graph.input),
        "outputs": _value_infos(model.graph.output),
        "macs": count_macs(model),
        "params": count_params(model),
        "files": {
            fname: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for fname, data in files.items()
        },
    }


@functools.cache
def _code_digest() -> str:
    """Sources of this package and versions of the libraries that shape the bytes.

    Read once per process, so a process keys its files by the code it actually runs.
    """
    h = hashlib.sha256()
    for src in sorted(Path(__file__).parent.glob("*.py")):
        h.update(src.name.encode() + b"\0" + src.read_bytes() + b"\0")
    for pkg in KEY_PACKAGES:
        try:
            version = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            version = "-"
        h.update(f"{pkg}={version}\0".encode())
    return h.hexdigest()


def builder_key(name: str, seed: int = 0) -> str:
    """Hash of everything that determines a model's bytes."""
    return hashlib.sha256(f"{name}\0{seed}\0{_code_digest()}".encode()).hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Exclusive lock so parallel test workers do not build the same model twice."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _cached_entry(out: Path, name: str, key: str) -> dict | None:
    meta = out / CACHE_DIR / f"{name}.json"
    if not meta.exists():
        return None
    record = json.loads(meta.read_text())
    if record.get("key") != key:
        return None
    entry = record["entry"]
    for fname, info in entry["files"].items():
        path = out / fname
        if (
            not path.exists()
            or path.stat().st_size != info["bytes"]
            or _sha256(path) != info["sha256"]
        ):
            return None
    return entry


def ensure(
    names: Iterable[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, dict]:
    """Build the named models (default: all) unless an identical build is already there.

    Returns ``{name: manifest entry}`` for the requested models and rewrites
    ``manifest.json`` in ``out_dir`` (default ``default_zoo_dir()``) to list every model
    present there.
    """
    out = Path(out_dir) if out_dir is not None else default_zoo_dir()
    wanted = list(MODELS) if names is None else list(names)
    unknown = [n for n in wanted if n not in MODELS]
    if unknown:
        raise KeyError(f"unknown model(s) {unknown}; known: {list(MODELS)}")
    entries = {}
    for name in wanted:
        key = builder_key(name, seed)
        with _locked(out / CACHE_DIR / f"{name}.lock"):
            start = time.perf_counter()
            entry = None if force else _cached_entry(out, name, key)
            if entry is None:
                entry = build(name, out, seed=seed)
                record = {"key": key, "entry": entry}
                meta = out / CACHE_DIR / f"{name}.json"
                _write_atomic(meta, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
                status = "built"
            else:
                status = "cached"
            if log is not None:
                log(f"{name:30s} {status:6s} {time.perf_counter() - start:7.1f}s")
        entries[name] = entry
    write_manifest(out, seed=seed)
    return entries


def write_manifest(out_dir: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Write ``manifest.json`` listing every model in ``out_dir`` built by the current code."""
    out = Path(out_dir)
    models = []
    for name in MODELS:
        meta = out / CACHE_DIR / f"{name}.json"
        if not meta.exists():
            continue
        record = json.loads(meta.read_text())
        if record.get("key") == builder_key(name, seed):
            models.append(record["entry"])
    manifest = {"version": MANIFEST_VERSION, "models": models}
    path = out / MANIFEST
    with _locked(out / CACHE_DIR / "manifest.lock"):
        _write_atomic(path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return path


def load_manifest(out_dir: str | os.PathLike[str] | None = None) -> dict[str, dict]:
    """``{name: entry}`` from ``manifest.json`` in ``out_dir`` (default ``default_zoo_dir()``)."""
    out = Path(out_dir) if out_dir is not None else default_zoo_dir()
    data = json.loads((out / MANIFEST).read_text())
    return {m["name"]: m for m in data["models"]}
