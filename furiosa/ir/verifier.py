"""The verifier: every IR invariant, each broken one reported in a sentence naming the op."""

from __future__ import annotations

from furiosa.errors import IRError, VerifyError
from furiosa.ir.core import Operation, check_attribute
from furiosa.ir.dialects.func import Call
from furiosa.ir.module import Function, Module


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


def verify_module(unit: Module | Function) -> None:
    """Raise VerifyError on the first broken invariant of a module (or of one function)."""
    try:
        if isinstance(unit, Function):
            _verify_function(unit, unit.module)
        else:
            if not unit.functions:
                raise VerifyError("the module has no function")
            for f in unit.functions:
                _verify_function(f, unit)
    except VerifyError:
        raise
    except IRError as e:
        raise VerifyError(str(e)) from None


def _verify_function(function: Function, module: Module | None) -> None:
    where = f"function @{function.name}"
    seen_inputs: set[str] = set()
    for v in function.inputs:
        if not v.name:
            raise VerifyError(f"{where} has an input without a name")
        if v.name in seen_inputs:
            raise VerifyError(f"{where} has two inputs named '{v.name}'")
        seen_inputs.add(v.name)
    # One walk in program order: each operand must be defined above its use (dominance in
    # a single block), and each use must be in its value's use list (O(1) per check).
    defined = {id(v) for v in function.inputs}
    for op in function.block:
        if op.parent is not function:
            raise VerifyError(f"{op.describe()} is linked into {where} but does not belong to it")
        for i, v in enumerate(op.operands):
            if v is None:
                continue
            if id(v) not in defined:
                if v.owner is not None and v.owner.parent is function:
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
        if isinstance(op, Call):
            _verify_call(op, module)
    if len(function.outputs) != len(function.output_names):
        raise VerifyError(f"{where} has {len(function.outputs)} outputs but "
                          f"{len(function.output_names)} names")
    seen_outputs: set[str] = set()
    for v, name in zip(function.outputs, function.output_names, strict=True):
        if id(v) not in defined:
            raise VerifyError(f"{where} output '{name}' is {v.describe()}, which is defined nowhere")
        if name in seen_outputs:
            raise VerifyError(f"{where} has two outputs named '{name}'")
        seen_outputs.add(name)


def _verify_call(op: Call, module: Module | None) -> None:
    if module is None or not module.has_function(op.callee):
        raise VerifyError(f"{op.describe()} calls @{op.callee}, which is not a function of the module")
    callee = module.function(op.callee)
    args = [v.type for v in op.operands if v is not None]
    if args != callee.input_types:
        raise VerifyError(f"{op.describe()} passes ({', '.join(map(str, args))}) but @{op.callee} "
                          f"takes ({', '.join(map(str, callee.input_types))})")
    results = [r.type for r in op.results]
    if results != callee.output_types:
        raise VerifyError(f"{op.describe()} returns ({', '.join(map(str, results))}) but "
                          f"@{op.callee} gives ({', '.join(map(str, callee.output_types))})")
