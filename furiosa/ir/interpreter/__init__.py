"""The interpreter: executes any module with numpy.

It is both the host executor (ops left on the host run here) and the oracle
that checks passes: a pass is correct when the module computes the same thing
before and after it. Kernels are registered per op class with :func:`kernel`;
each takes the op and its operand arrays (None for an absent optional operand)
and returns one array per result. Every result is checked against the op's
declared type, so a kernel and its type rule cannot silently disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from furiosa.errors import FuriosaError, InterpreterError
from furiosa.ir.core import Operation, Value, set_constant_evaluator
from furiosa.ir.dialects.func import Call
from furiosa.ir.module import Function, Module
from furiosa.ir.types import shape_matches

Kernel = Callable[..., Sequence[np.ndarray]]
KERNELS: dict[type[Operation], Kernel] = {}


def kernel(*op_classes: type[Operation]) -> Callable[[Kernel], Kernel]:
    """Register ``fn(op, *arrays) -> list[array]`` as the kernel of each of ``op_classes``."""

    def wrap(fn: Kernel) -> Kernel:
        for cls in op_classes:
            if cls in KERNELS:
                raise ValueError(f"{cls.OP_NAME} has two kernels")
            KERNELS[cls] = fn
        return fn

    return wrap


def _load_kernels() -> None:
    import furiosa.ir.interpreter.kernels  # noqa: F401  (registers every kernel)


def _lookup(cls: type[Operation]) -> Kernel | None:
    # An op class derived from another (a warboy op from the op it places on the NPU)
    # computes the same thing, so it inherits the kernel.
    for c in cls.__mro__:
        fn = KERNELS.get(c)  # type: ignore[arg-type]
        if fn is not None:
            return fn
    return None


def kernel_for(op: Operation) -> Kernel:
    _load_kernels()
    fn = _lookup(type(op))
    if fn is None:
        raise InterpreterError(f"{op.describe()} has no interpreter kernel")
    return fn


def has_kernel(op: Operation) -> bool:
    _load_kernels()
    return _lookup(type(op)) is not None


def run_op(op: Operation, args: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    """Execute one op on operand arrays; results are checked against the declared types."""
    fn = kernel_for(op)
    try:
        with np.errstate(all="ignore"):
            outs = fn(op, *args)
    except FuriosaError:
        raise
    except (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError, MemoryError) as e:
        raise InterpreterError(f"{op.describe()} failed: {e}") from None
    return _check_results(op, list(outs))


def _check_results(op: Operation, outs: list[np.ndarray]) -> list[np.ndarray]:
    """Each result checked against the op's declared type (dtype and shape)."""
    if len(outs) != len(op.results):
        raise InterpreterError(f"{op.describe()} kernel gave {len(outs)} results, expected {len(op.results)}")
    checked = []
    for i, (r, a) in enumerate(zip(op.results, outs, strict=True)):
        a = np.asarray(a)
        if a.dtype != r.type.dtype:
            # Float kernels may compute wider; any other dtype difference is a kernel bug.
            if a.dtype.kind != "f" or r.type.dtype.kind != "f":
                raise InterpreterError(f"{op.describe()} result {i} has dtype {a.dtype} "
                                       f"but its type is {r.type}")
            a = a.astype(r.type.dtype)
        if not shape_matches(a.shape, r.type.shape):
            raise InterpreterError(f"{op.describe()} result {i} has shape {list(a.shape)} "
                                   f"but its type is {r.type}")
        checked.append(a)
    return checked


# ``call(callee, arrays) -> arrays``: how a ``func.Call`` runs. The default interprets the
# callee; the runtime passes its own to run NPU functions on the simulator.
CallHandler = Callable[[Function, list[np.ndarray]], Sequence[np.ndarray]]


def interpret(unit: Module | Function, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray],
              *, keep: Sequence[Value] = (), call: CallHandler | None = None) -> dict[str, np.ndarray]:
    """Run a module's entry function (or the given function) on ``inputs`` (by name, or in
    order) and return its outputs by name.

    Values in ``keep`` are also returned, keyed by their printed name, for debugging.
    ``call`` runs each ``func.Call`` (default: interpret the callee).
    """
    function = unit.main if isinstance(unit, Module) else unit
    where = f"function @{function.name}"
    if not isinstance(inputs, Mapping):
        seq = list(inputs)
        if len(seq) != len(function.inputs):
            raise InterpreterError(f"{where} takes {len(function.inputs)} inputs, got {len(seq)}")
        inputs = {v.name or "": a for v, a in zip(function.inputs, seq, strict=True)}
    unknown = sorted(set(inputs) - {v.name for v in function.inputs})
    if unknown:
        raise InterpreterError(f"{where} has no input named '{unknown[0]}'")
    args = []
    for v in function.inputs:
        if v.name not in inputs:
            raise InterpreterError(f"input '{v.name}' of {where} is missing")
        a = np.asarray(inputs[v.name])
        if not shape_matches(a.shape, v.type.shape):
            raise InterpreterError(f"input '{v.name}' has shape {list(a.shape)}; expected {list(v.type.shape)}")
        if a.dtype != v.type.dtype:
            raise InterpreterError(f"input '{v.name}' has dtype {a.dtype}; expected {v.type.dtype}")
        args.append(a)
    module = Module.of(function)
    handler = call if call is not None else _interpret_callee
    env = _run_function(function, module, args, handler, keep)
    result = {name: env[v] for v, name in zip(function.outputs, function.output_names, strict=True)}
    if keep:
        from furiosa.ir.printer import value_names

        names = value_names(function)
        result.update({names[v]: env[v] for v in keep})
    return result


def _interpret_callee(callee: Function, args: list[np.ndarray]) -> list[np.ndarray]:
    env = _run_function(callee, Module.of(callee), args, _interpret_callee, ())
    return [env[v] for v in callee.outputs]


def _run_function(function: Function, module: Module, args: Sequence[np.ndarray],
                  call: CallHandler, keep: Sequence[Value]) -> dict[Value, np.ndarray]:
    env: dict[Value, np.ndarray] = dict(zip(function.inputs, args, strict=True))
    ops = function.ops
    # Free each intermediate after its last use so large models fit in memory.
    last_use: dict[Value, int] = {}
    for i, op in enumerate(ops):
        for v in op.operands:
            if v is not None:
                last_use[v] = i
    pinned = set(function.outputs) | set(keep)
    for i, op in enumerate(ops):
        operands = [env[v] if v is not None else None for v in op.operands]
        if isinstance(op, Call):
            outs = _check_results(op, list(call(module.function(op.callee), operands)))
        else:
            outs = run_op(op, operands)
        for r, a in zip(op.results, outs, strict=True):
            env[r] = a
        for v in op.operands:
            if v is not None and last_use.get(v) == i and v not in pinned and v.owner is not None:
                env.pop(v, None)
    return env


def _evaluate_constant(op: Operation, args: list[np.ndarray | None]) -> list[np.ndarray] | None:
    """Constant folding during type inference: run the op's kernel, when it has one."""
    if isinstance(op, Call) or not has_kernel(op):
        return None
    return run_op(op, args)


set_constant_evaluator(_evaluate_constant)
