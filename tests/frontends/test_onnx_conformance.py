"""Conformance record: the onnx package's node test cases valid at opset 13, through
furiosa's ONNX import and interpreter, against their expected outputs.

The target is every case onnxruntime passes at opset 13. A case furiosa fails is an error
unless onnxruntime fails it too or it is listed, with its reason, in
``onnx_conformance_skips.txt``; a listed case that passes is an error too, so the list
stays true. The number passed is printed at the end of the run (see conftest.py) and
recorded in docs/conformance.md.
"""

from __future__ import annotations

import pytest

from tests.frontends.conformance import load_skips, onnxruntime_passes, opset13_cases, run_furiosa

CASES = sorted(opset13_cases())
SKIPS = load_skips()


def test_skip_list_names_real_cases() -> None:
    unknown = sorted(set(SKIPS) - set(CASES))
    assert not unknown, f"skip list names cases that do not exist at opset 13: {unknown[:10]}"


@pytest.mark.parametrize("name", CASES)
def test_onnx_node_case(name: str) -> None:
    why = run_furiosa(opset13_cases()[name])
    if name in SKIPS:
        assert why is not None, f"{name} passes now: remove it from onnx_conformance_skips.txt"
        pytest.skip(SKIPS[name])
    if why is None:
        return
    if not onnxruntime_passes(name):
        pytest.xfail(f"onnxruntime fails it too; furiosa: {why}")
    pytest.fail(why)
