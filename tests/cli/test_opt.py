"""``furiosa`` and ``furiosa opt`` as a user runs them: real processes, real exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from furiosa import __version__

EXAMPLE = Path(__file__).parents[2] / "examples" / "mlp.fir"


def furiosa(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "furiosa.cli.main", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_version() -> None:
    r = furiosa("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"furiosa {__version__}"


def test_list_passes_shows_canonicalize_and_its_options() -> None:
    r = furiosa("opt", "--list-passes")
    assert r.returncode == 0
    assert "canonicalize" in r.stdout
    for opt in ("max-iterations=<int>  (default: 10)", "fold=<bool>  (default: true)", "cse=<bool>"):
        assert opt in r.stdout


def test_canonicalize_folds_the_example(tmp_path: Path) -> None:
    out = tmp_path / "out.fir"
    r = furiosa("opt", str(EXAMPLE), "--pass-pipeline=canonicalize", "-o", str(out),
                "--timing", "--pass-statistics")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    text = out.read_text()
    assert "onnx.Transpose" not in text and "onnx.Identity" not in text
    assert "Pass execution timing report" in r.stderr and "constants-folded" in r.stderr
    again = furiosa("opt", str(out))
    assert again.returncode == 0 and again.stdout == text


def test_stdin_input() -> None:
    r = furiosa("opt", "-", stdin=EXAMPLE.read_text())
    assert r.returncode == 0 and r.stdout.startswith("func @mlp(")


@pytest.mark.parametrize(("content", "expected"), [
    ("func @f(%x: tensor<2xf32>) {\n  %0 = onnx.Relu(%y) : tensor<2xf32>\n  return %0\n}\n",
     "bad.fir:2:18: error: value %y is used before it is defined"),
    ("func @f(%x: tensor<2xf33>) {\n  return %x\n}\n", "bad.fir:1:22: error: unknown element type 'f33'"),
    ("", "bad.fir:1:1: error: expected 'func', found end of file"),
    ("\x00\x01garbage", "bad.fir:1:1: error: expected 'func'"),
])
def test_malformed_input_is_one_line_without_traceback(tmp_path: Path, content: str, expected: str) -> None:
    bad = tmp_path / "bad.fir"
    bad.write_text(content)
    r = furiosa("opt", str(bad), "--pass-pipeline=canonicalize")
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert lines[0].startswith(str(tmp_path)) and expected.split(":", 1)[1] in lines[0]


@pytest.mark.parametrize(("args", "expected"), [
    (["opt", "missing.fir"], "missing.fir:1:1: error: cannot read the file"),
    (["opt", str(EXAMPLE), "--pass-pipeline=canonicalize{bogus=1}"], "has no option 'bogus'"),
    (["opt", str(EXAMPLE), "--pass-pipeline=nope"], "unknown pass 'nope'"),
    (["opt", str(EXAMPLE), "--pass-pipeline=canonicalize,"], "pass pipeline, column 14"),
    (["opt", str(EXAMPLE), "-o", "/nonexistent/dir/out.fir"], "cannot write /nonexistent/dir/out.fir"),
])
def test_user_errors_are_one_line(args: list[str], expected: str) -> None:
    r = furiosa(*args)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and expected in r.stderr, r.stderr


def test_binary_file_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bin.fir"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    r = furiosa("opt", str(bad))
    assert r.returncode == 1 and "not UTF-8 text" in r.stderr and "Traceback" not in r.stderr


def test_output_file_gets_the_usual_mode(tmp_path: Path) -> None:
    import os

    out = tmp_path / "out.fir"
    r = furiosa("opt", str(EXAMPLE), "-o", str(out))
    assert r.returncode == 0
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask
