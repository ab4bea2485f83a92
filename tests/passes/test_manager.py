"""The pass manager: verification, IR dumps, timing and statistics; the rewrite driver."""

from __future__ import annotations

import io

import attrs
import pytest

from furiosa.errors import PassError
from furiosa.ir.dialects.onnx.base import Identity
from furiosa.ir.module import Function
from furiosa.ir.printer import print_module
from furiosa.ir.types import tensor
from furiosa.passes import (
    FunctionPass,
    PassContext,
    PassManager,
    PassRegistry,
    apply_patterns_greedily,
    pattern,
    register,
)


def identities(n: int) -> Function:
    m = Function("ids")
    v = m.add_input("x", tensor((2,), "f32"))
    for _ in range(n):
        v = m.add(Identity.build(v)).result
    m.set_outputs([v], ["y"])
    return m


@pattern(Identity)
def forward_identity(op: Identity, rw) -> bool:
    rw.replace_op(op, [op.operands[0]])
    return True


@attrs.frozen
class DropIdentities(FunctionPass):
    """Forward every Identity to its operand."""

    NAME = "test-drop-identities"

    def run_on_function(self, module: Function, ctx: PassContext) -> None:
        apply_patterns_greedily(module, [forward_identity], ctx)


@attrs.frozen
class BreakTypes(FunctionPass):
    """Leave a result whose type its op cannot produce."""

    NAME = "test-break-types"

    def run_on_function(self, module: Function, ctx: PassContext) -> None:
        module.ops[0].results[0].type = tensor((5,), "f32")


PASSES = PassRegistry()
register(PASSES)
PASSES.add_pass(DropIdentities, BreakTypes)


def test_pipeline_runs_and_counts() -> None:
    m = identities(3)
    pm = PassManager("test-drop-identities", registry=PASSES)
    pm.run(m)
    assert len(m) == 0
    assert pm.records[0].statistics == {"forward-identity": 3}
    assert "forward-identity" in pm.statistics_report()


def test_verifier_catches_a_bad_pass() -> None:
    with pytest.raises(PassError, match=r"pass 'test-break-types' produced invalid IR: .*tensor<5xf32>"):
        PassManager("test-break-types", registry=PASSES).run(identities(1))
    PassManager("test-break-types", registry=PASSES, verify=False).run(identities(1))


def test_print_after_change_only_prints_changes() -> None:
    out = io.StringIO()
    pm = PassManager("test-drop-identities,test-drop-identities", registry=PASSES, print_ir_after_change=True, stream=out)
    pm.run(identities(2))
    text = out.getvalue()
    assert text.count("IR Dump After test-drop-identities") == 1
    assert [r.changed for r in pm.records] == [True, False]


def test_print_before_and_after_all() -> None:
    out = io.StringIO()
    m = identities(1)
    before = print_module(m)
    PassManager("test-drop-identities", registry=PASSES, print_ir_before_all=True, print_ir_after_all=True,
                stream=out).run(m)
    text = out.getvalue()
    assert text.index("IR Dump Before") < text.index(before) < text.index("IR Dump After")
    assert text.endswith(print_module(m) + "\n")


def test_timing_report_lists_every_pass() -> None:
    pm = PassManager("test-drop-identities,test-drop-identities", registry=PASSES)
    pm.run(identities(2))
    report = pm.timing_report()
    assert report.count("test-drop-identities") == 2
    assert "(verifier)" in report and "Total Execution Time" in report


def test_driver_stops_patterns_that_undo_each_other() -> None:
    @pattern(Identity)
    def grow(op: Identity, rw) -> bool:
        new = rw.insert(Identity.build(op.operands[0]))
        rw.replace_op(op, [new.result])
        return True

    with pytest.raises(PassError, match="did not converge"):
        apply_patterns_greedily(identities(1), [grow], max_rewrites=50)
