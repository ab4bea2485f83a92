"""Building the zoo: byte-identical rebuilds, the content-keyed cache, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.models import MODELS, build, builder_key, ensure, load_manifest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["bert_tiny", "mobilenet_v2"])
def test_same_seed_gives_identical_bytes(name: str, tmp_path: Path) -> None:
    first = build(name, tmp_path / "a")
    second = build(name, tmp_path / "b")
    assert first == second
    for fname in first["files"]:
        assert (tmp_path / "a" / fname).read_bytes() == (tmp_path / "b" / fname).read_bytes()


def test_other_seed_gives_other_weights(tmp_path: Path) -> None:
    a = build("bert_tiny", tmp_path / "a", seed=0)
    b = build("bert_tiny", tmp_path / "b", seed=1)
    assert a["files"]["bert_tiny.onnx"]["sha256"] != b["files"]["bert_tiny.onnx"]["sha256"]
    assert (a["macs"], a["params"]) == (b["macs"], b["params"])


def test_cache_reuses_and_repairs(tmp_path: Path) -> None:
    log: list[str] = []
    entry = ensure(["bert_tiny"], tmp_path, log=log.append)["bert_tiny"]
    path = tmp_path / "bert_tiny.onnx"
    mtime = path.stat().st_mtime_ns
    again = ensure(["bert_tiny"], tmp_path, log=log.append)["bert_tiny"]
    assert again == entry and path.stat().st_mtime_ns == mtime
    assert "built" in log[0] and "cached" in log[1]
    path.write_bytes(b"corrupted")
    repaired = ensure(["bert_tiny"], tmp_path, log=log.append)["bert_tiny"]
    assert repaired == entry and "built" in log[2]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [m["name"] for m in manifest["models"]] == ["bert_tiny"]
    assert load_manifest(tmp_path)["bert_tiny"] == entry


def test_cache_key_depends_on_name_and_seed() -> None:
    keys = {builder_key(n, s) for n in MODELS for s in (0, 1)}
    assert len(keys) == 2 * len(MODELS)


def test_unknown_model_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        ensure(["resnet9000"], tmp_path)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.models", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_cli_builds_then_reuses(tmp_path: Path) -> None:
    first = _cli("--out", str(tmp_path), "--only", "bert_tiny")
    assert first.returncode == 0, first.stderr
    assert "built" in first.stdout
    assert {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")} == {
        "bert_tiny.onnx",
        "bert_tiny.int8.onnx",
        "manifest.json",
    }
    before = (tmp_path / "bert_tiny.onnx").read_bytes()
    second = _cli("--out", str(tmp_path), "--only", "bert_tiny")
    assert second.returncode == 0 and "cached" in second.stdout
    assert (tmp_path / "bert_tiny.onnx").read_bytes() == before


def test_cli_list_and_errors() -> None:
    listing = _cli("--list")
    assert listing.returncode == 0
    assert all(name in listing.stdout for name in MODELS)
    bad = _cli("--only", "nope")
    assert bad.returncode != 0 and "unknown model" in bad.stderr
