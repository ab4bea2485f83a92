"""The verifier: every IR invariant, each broken one reported in a sentence naming the op."""

from __future__ import annotations

from furiosa.errors import IRError, VerifyError
from furiosa.ir.core import Operation, check_attribute
from furiosa.ir.module import Module


def verify_operation(op: Operation) -> None:
    """Check one op against its declaration: arity, operand element types, attributes, result types."""
    op._check_arity()
    slots = op._operand_slots()
    for d in op.OPERANDS:
        if d.elements is None:
            continue
        slot = slots[d.name]
        values = op.operands[slot] if isinstance(slot, slice) else (
            [op.operands[slot]] if slot < len(op.operands) else [])
        for v in values:
            if v is not None and v.type.element not in d.elements:
                allowed = ", ".join(sorted(str(e) for e in d.elements))
                raise op.error(f"operand '{d.name}' has element type {v.type.element}; "
                               f"expected one of {allowed}")
    for name, spec in op.attribute_specs().items():
        check_attribute(op, name, spec, getattr(op, name))
    op.verify_op()
    inferred = op.infer_types()
    if len(inferred) != len(op.results):
        raise op.error(f"has {len(op.results)} results; its operands give {len(inferred)}")
    for i, (r, t) in enumerate(zip(op.results, inferred, strict=True)):
        if r.type != t:
            raise op.error(f"result {i} has type {r.type} but its operands and attributes give {t}")


def verify_module(module: Module) -> None:
    """Raise VerifyError on the first broken invariant of ``module``."""
    try:
        _verify(module)
    except VerifyError:
        raise
    except IRError as e:
        raise VerifyError(str(e)) from None


def _verify(module: Module) -> None:
    where = f"module @{module.name}"
    seen_inputs: set[str] = set()
    for v in module.inputs:
        if not v.name:
            raise VerifyError(f"{where} has an input without a name")
        if v.name in seen_inputs:
            raise VerifyError(f"{where} has two inputs named '{v.name}'")
        seen_inputs.add(v.name)
    ops = module.ops  # raises on a cycle
    defined = {id(v) for v in module.inputs}
    for op in ops:
        for i, v in enumerate(op.operands):
            if v is None:
                continue
            if id(v) not in defined:
                if v.owner is not None and v.owner in module:
                    raise VerifyError(f"{op.describe()} uses {v.describe()} before its definition")
                raise VerifyError(f"{op.describe()} operand {i} is {v.describe()}, "
                                  f"which is defined nowhere in {where} (a dangling value)")
            if (op, i) not in v.uses:
                raise VerifyError(f"{op.describe()} operand {i} is missing from the uses of {v.describe()}")
        for r in op.results:
            if r.owner is not op:
                raise VerifyError(f"{op.describe()} lists a result it does not own")
            defined.add(id(r))
        verify_operation(op)
    if len(module.outputs) != len(module.output_names):
        raise VerifyError(f"{where} has {len(module.outputs)} outputs but {len(module.output_names)} names")
    seen_outputs: set[str] = set()
    for v, name in zip(module.outputs, module.output_names, strict=True):
        if id(v) not in defined:
            raise VerifyError(f"{where} output '{name}' is {v.describe()}, which is defined nowhere")
        if name in seen_outputs:
            raise VerifyError(f"{where} has two outputs named '{name}'")
        seen_outputs.add(name)
