"""``furiosa enf assemble|inspect`` and ``furiosa sim`` on the hand-written example program."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from furiosa.backend.warboy.enf import read_enf
from tests.backend.warboy.handwritten import conv_accumulator

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "warboy" / "conv_relu_pool.s"


def furiosa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "furiosa.cli.main", *args], capture_output=True,
                          text=True, timeout=600, cwd=ROOT)


@pytest.fixture(scope="module")
def enf_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("enf") / "conv.enf"
    r = furiosa("enf", "assemble", str(EXAMPLE), "-o", str(out))
    assert r.returncode == 0, r.stderr
    return out


def test_inspect_text_json_and_disasm(enf_path: Path) -> None:
    r = furiosa("enf", "inspect", str(enf_path))
    assert r.returncode == 0, r.stderr
    assert "target warboy" in r.stdout and "input x: i8 16x8x32" in r.stdout
    assert "program 'main': 12 instructions" in r.stdout
    d = json.loads(furiosa("enf", "inspect", str(enf_path), "--format", "json", "--disasm").stdout)
    assert [s["kind"] for s in d["sections"]] == ["npu-program", "host-ir", "constants", "op-names"]
    assert d["ops"] == ["conv1", "relu1", "pool1"]
    asm = furiosa("enf", "inspect", str(enf_path), "--disasm").stdout
    assert "i6 = mac.conv" in asm and '.op "conv1"' in asm


def test_sim_outputs_report_and_trace(enf_path: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, size=(16, 8, 32)).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    trace = tmp_path / "trace.json"
    r = furiosa("sim", str(enf_path), "--input", f"x={tmp_path / 'x.npy'}", "--report",
                "--trace", str(trace), "--output-dir", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert "MAC utilisation" in r.stdout and "conv1" in r.stdout
    # The output against a numpy reference built from the ENF's own constants.
    enf = read_enf(enf_path)
    c = enf.constants
    w = c[0:32 * 16 * 9].view(np.int8).reshape(32, 16, 3, 3)
    bias = c[0x10000:0x10000 + 128].view("<i4")
    scale = c[0x11000:0x11000 + 128].view("<f4")
    acc = conv_accumulator(x, w, bias, -3)
    y = np.clip(np.rint((acc.astype(np.float32) * scale[:, None, None]).astype(np.float32)) + 5,
                -128, 127)
    y = np.maximum(y, 5).reshape(32, 4, 2, 16, 2).max(axis=(2, 4)).astype(np.int8)
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "y.npy"), y)
    events = json.loads(trace.read_text())["traceEvents"]
    tracks = {e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    assert tracks == {"host", "dma", "mac", "vector", "table", "move"}
    spans = [e for e in events if e["ph"] == "X"]
    assert len(spans) == 12 and all(e["dur"] > 0 for e in spans)
    report = json.loads(furiosa("sim", str(enf_path), "--random", "--report", "--format", "json").stdout)
    assert report["report"]["total_cycles"] == report["cycles"] > 0
    assert {op["name"] for op in report["report"]["ops"]} == {"conv1", "relu1", "pool1"}


def test_errors_are_one_line(enf_path: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.enf"
    data = bytearray(enf_path.read_bytes())
    data[5000] ^= 0xFF
    damaged.write_bytes(bytes(data))
    for args in (("enf", "inspect", str(damaged)), ("sim", str(damaged), "--random"),
                 ("sim", str(enf_path)), ("sim", str(enf_path), "--input", "z=nothing.npy"),
                 ("enf", "assemble", str(tmp_path / "none.s"), "-o", str(tmp_path / "o.enf"))):
        r = furiosa(*args)
        assert r.returncode == 1, args
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("furiosa: error: "), r.stderr
        assert "Traceback" not in r.stderr
