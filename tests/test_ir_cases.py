"""Golden IR tests: every ``.fir`` under ``tests/ir-cases`` runs its ``RUN:`` lines.

A RUN line is ``furiosa ARGS`` (``%s`` is the file itself), optionally preceded
by ``not`` (the command must fail), optionally followed by ``2>&1`` (check
stderr too) and ``| filecheck %s [--check-prefix=P]``. A case with a
``filecheck`` pipe must satisfy its ``CHECK`` lines; every case whose output is
IR also re-parses it and requires printing it again to give the same text.
"""

from __future__ import annotations

import contextlib
import io
import shlex
from pathlib import Path

import pytest

from furiosa.cli.main import main
from furiosa.ir.parser import parse_module
from furiosa.ir.printer import print_module
from tests.filecheck import filecheck
from tests.registry import DIALECTS

CASES = Path(__file__).parent / "ir-cases"


def run_lines(path: Path) -> list[str]:
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        if "RUN:" not in raw:
            continue
        part = raw.split("RUN:", 1)[1].strip()
        if part.endswith("\\"):
            current += part[:-1] + " "
            continue
        lines.append(current + part)
        current = ""
    return lines


def run_furiosa(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as e:  # argparse errors
            status = int(e.code or 0)
    return status, out.getvalue(), err.getvalue()


def run_case(path: Path, line: str) -> None:
    command, _, check = line.partition("|")
    words = shlex.split(command.replace("%s", shlex.quote(str(path))))
    expect_failure = words[:1] == ["not"]
    if expect_failure:
        words = words[1:]
    merge = "2>&1" in words
    words = [w for w in words if w != "2>&1"]
    assert words[:1] == ["furiosa"], f"{path.name}: RUN line must run furiosa: {line}"
    status, out, err = run_furiosa(words[1:])
    if expect_failure:
        assert status != 0, f"{path.name}: expected failure, got success:\n{out}"
        assert "Traceback" not in err
    else:
        assert status == 0, f"{path.name}: exit {status}\n{err}"
    text = out + err if merge else out
    if check.strip():
        check_words = shlex.split(check.replace("%s", shlex.quote(str(path))))
        assert check_words[0] == "filecheck", f"{path.name}: unknown pipe '{check}'"
        prefixes = [w.split("=", 1)[1] for w in check_words if w.startswith("--check-prefix=")]
        filecheck(text, path.read_text(), prefixes or ["CHECK"])
    if not expect_failure and out.startswith("func @"):
        reparsed = print_module(parse_module(out, f"{path.name} (output)", registry=DIALECTS))
        assert reparsed == out, f"{path.name}: output does not round-trip"


def collect() -> list[tuple[Path, str]]:
    cases = []
    for path in sorted(CASES.rglob("*.fir")):
        lines = run_lines(path)
        assert lines, f"{path} has no RUN line"
        cases.extend((path, line) for line in lines)
    return cases


@pytest.mark.parametrize(("path", "line"), collect(),
                         ids=lambda x: str(x.relative_to(CASES)) if isinstance(x, Path) else "")
def test_ir_case(path: Path, line: str) -> None:
    run_case(path, line)
