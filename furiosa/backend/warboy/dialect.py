"""The ``warboy`` dialect: ops placed on the NPU.

Every op the NPU can run has a warboy twin declared here: ``warboy.Conv`` is
``quant.Conv`` placed on the NPU, ``warboy.Reshape`` is ``onnx.Reshape`` on INT8
data. A twin is a subclass, so it has the same operands, attributes, type rule
and verifier, and the interpreter runs it with the same kernel: legalization
changes where an op runs, never what it computes. Later passes (tiling, memory
planning) refine these ops.
"""

from __future__ import annotations

import furiosa.ir.dialects  # noqa: F401  (declares every op, so all NpuCapable ones are seen)
from furiosa.ir.core import DECLARED_OPS, Operation, op_def
from furiosa.ir.traits import NpuCapable

# The classes the NPU runs are those that declare NpuCapable: every quant op, and the shape
# ops of the supported-operator table when their data is INT8 (they move bytes; the
# arithmetic is unchanged). Sorted by name so that twins are declared deterministically.
NPU_CLASSES: tuple[type[Operation], ...] = tuple(
    cls for name, cls in sorted(DECLARED_OPS.items())
    if cls.has_trait(NpuCapable) and cls.dialect() != "warboy")


def _declare_twin(base: type[Operation]) -> type[Operation]:
    short = base.OP_NAME.split(".", 1)[1]
    # onnx.Concat and quant.Concat would both be warboy.Concat: the INT8 one keeps the name.
    name = f"warboy.{short}" if base.dialect() == "quant" or short not in _QUANT_NAMES \
        else f"warboy.Onnx{short}"
    cls = type(short, (base,), {
        "__doc__": f"{base.OP_NAME} placed on the NPU.",
        "__module__": __name__,
        "BASE": base,
    })
    return op_def(name)(cls)


_QUANT_NAMES = {c.OP_NAME.split(".", 1)[1] for c in NPU_CLASSES if c.dialect() == "quant"}

TWINS: dict[type[Operation], type[Operation]] = {base: _declare_twin(base) for base in NPU_CLASSES}


def twin_of(op: Operation) -> type[Operation] | None:
    """The warboy class that places ``op`` on the NPU, or None when there is none."""
    return TWINS.get(type(op))


def base_of(op: Operation) -> type[Operation]:
    """The class a warboy op places (the op's own class for any other op)."""
    return getattr(type(op), "BASE", type(op))
