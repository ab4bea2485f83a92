"""Every declared op: it has an example, and each example verifies, round-trips through the
text form identically, copies faithfully, and runs in the interpreter."""

from __future__ import annotations

import numpy as np
import pytest

from furiosa.ir.dialects.func import Call
from furiosa.ir.interpreter import has_kernel, interpret
from furiosa.ir.module import Module
from furiosa.ir.parser import parse_module
from furiosa.ir.printer import print_module
from furiosa.ir.verifier import verify_module
from tests.ir.op_examples import load_all
from tests.registry import DIALECTS

EXAMPLES = load_all()
CASES = [(op, name, fn) for op, fns in sorted(EXAMPLES.items()) for name, fn in fns]
PRODUCT_OPS = sorted(n for n in DIALECTS.ops() if not n.startswith("test."))


@pytest.mark.parametrize("op_name", PRODUCT_OPS)
def test_every_op_has_an_example_and_a_kernel(op_name: str) -> None:
    assert op_name in EXAMPLES, f"{op_name} has no example in tests/ir/op_examples"
    ex = EXAMPLES[op_name][0][1]()
    op = next(o for o in ex.module.ops if o.OP_NAME == op_name)
    # A call has no kernel: the interpreter runs its callee.
    assert has_kernel(op) or isinstance(op, Call), f"{op_name} has no interpreter kernel"


@pytest.mark.parametrize(("op_name", "name", "fn"), CASES, ids=[f"{o}-{n}" for o, n, _ in CASES])
def test_example(op_name: str, name: str, fn) -> None:
    ex = fn()
    m = ex.module
    assert any(op.OP_NAME == op_name for op in m.ops), f"example {name} does not use {op_name}"
    module = Module.of(m)
    verify_module(module)
    text = print_module(module)
    reparsed = parse_module(text, f"{name}.fir", registry=DIALECTS)
    verify_module(reparsed)
    assert print_module(reparsed) == text
    assert print_module(module.copy()) == text
    out1 = interpret(m, ex.inputs)
    out2 = interpret(reparsed, ex.inputs)
    for key in out1:
        np.testing.assert_array_equal(out1[key], out2[key])
