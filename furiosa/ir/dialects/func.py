"""The ``func`` dialect: calls between the functions of a module.

``func.Call`` runs another function of the same module by symbol and returns its
outputs. After partitioning, each NPU region is a function of its own and the host
function calls it. The callee's signature lives with the callee, so result types
are given when a call is built and the module verifier checks them against it.
"""

from __future__ import annotations

from furiosa.ir.core import AttrKind, Operation, attribute, op_def, operand, result
from furiosa.ir.types import TensorType


@op_def("func.Call")
class Call(Operation):
    """``outputs = callee(inputs)``: run function ``@callee`` of this module."""

    OPERANDS = (operand("inputs", variadic=True, min_count=0),)
    RESULTS = (result("outputs", variadic=True),)
    callee: str = attribute(AttrKind.SYMBOL, doc="the function called")
    # What the callee does to memory is not known here, so a call is never treated as pure.
    EFFECTS = None

    def infer_types(self) -> list[TensorType]:
        # A call's types are its callee's: they are given when it is built (the verifier
        # checks them against the callee), never inferred from the operands.
        if not self.results:
            raise self.error(f"needs the result types of @{self.callee} to be built")
        return [r.type for r in self.results]
