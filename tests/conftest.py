"""Suite-wide hooks: the ONNX conformance count is printed at the end of every run."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    def count(kind: str) -> int:
        return sum(1 for r in terminalreporter.stats.get(kind, [])
                   if "test_onnx_node_case" in getattr(r, "nodeid", "") and r.when == "call")

    passed, failed = count("passed"), count("failed")
    skipped, xfailed = count("skipped"), count("xfailed")
    if passed + failed + skipped + xfailed:
        terminalreporter.write_sep(
            "=", f"ONNX conformance (opset 13): {passed} passed, {failed} failed, "
                 f"{skipped} skipped (listed), {xfailed} failed by onnxruntime too")
