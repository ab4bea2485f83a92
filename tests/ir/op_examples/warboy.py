"""Examples for the warboy dialect: each twin is the first example of the op it places on the
NPU, with that op converted to its twin (same operands, attributes and types)."""

from __future__ import annotations

from collections.abc import Callable

from furiosa.backend.warboy.dialect import TWINS
from furiosa.ir.core import Operation
from tests.ir.op_examples import EXAMPLES, Example, example


def _placed(base: type[Operation], twin: type[Operation]) -> Callable[[], Example]:
    def build() -> Example:
        ex = EXAMPLES[base.OP_NAME][0][1]()
        m = ex.module
        for op in m.ops:
            if type(op) is base:
                new = twin.from_parts(list(op.operands), op.attributes, [r.type for r in op.results],
                                      op.loc, dict(op.extra), [r.name for r in op.results])
                m.add(new, at=op)
                m.replace_op(op, new.results)
        return ex

    build.__name__ = f"placed_{base.OP_NAME.replace('.', '_')}"
    return build


# The base examples are looked up when an example is built, after every module has loaded.
for _base, _twin in TWINS.items():
    example(_twin.OP_NAME)(_placed(_base, _twin))
