"""``canonicalize``: constant folding, identity elimination, CSE and dead-code elimination.

Rounds of (patterns to a fixed point, then CSE) repeat until a round changes
nothing or ``max-iterations`` rounds have run. Folding runs an op's interpreter
kernel on constant operands, so it is exactly the interpreter's semantics.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from furiosa.ir.core import Dense, Operation, Value, constant_value, produced_constant
from furiosa.ir.dialects.onnx import elementwise as ew
from furiosa.ir.dialects.onnx import tensor as tn
from furiosa.ir.dialects.onnx.base import Constant
from furiosa.ir.interpreter import has_kernel, run_op
from furiosa.ir.module import Function
from furiosa.ir.traits import SameTypeIdentity
from furiosa.passes.base import FunctionPass, PassContext, option
from furiosa.passes.rewrite import RewritePattern, Rewriter, apply_patterns_greedily, pattern

# ---------------------------------------------------------------- constant folding


def make_fold_pattern(limit: int) -> RewritePattern:
    @pattern(name="constants-folded")
    def fold(op: Operation, rw: Rewriter) -> bool:
        if isinstance(op, Constant) or not op.is_pure or not has_kernel(op):
            return False
        if not all(r.type.is_static and r.type.size <= limit for r in op.results):
            return False
        static = getattr(op, "static_value", None)
        outs = static() if static is not None else None
        if outs is None:
            # Only ops whose operands come straight from constants: a chain folds one op at a
            # time through the worklist (each fold re-queues its users), so no query ever
            # walks a deep ancestry looking for constants.
            args = []
            for v in op.operands:
                c = None if v is None else produced_constant(v)
                if v is not None and c is None:
                    return False
                args.append(c)
            outs = run_op(op, args)
        news = []
        for r, a in zip(op.results, outs, strict=True):
            c = Constant.build(value=Dense(a, r.type), loc=op.loc, result_names=[r.name])
            news.append(rw.insert(c).result)
        rw.replace_op(op, news)
        return True

    return fold





# ---------------------------------------------------------------- identities

def _forward(op: Operation, rw: Rewriter, value: Value | None) -> bool:
    """Replace ``op``'s only used result with ``value`` when the types agree exactly."""
    if value is None or value.type != op.results[0].type:
        return False
    if any(r.uses or any(o is r for o in rw.function.outputs) for r in op.results[1:]):
        return False
    rw.replace_value(op.results[0], value)  # the driver then erases the dead op
    return True


@pattern(name="identities-removed")
def same_type_identity(op: Operation, rw: Rewriter) -> bool:
    """An op declaring SameTypeIdentity is its operand when the types agree."""
    return op.has_trait(SameTypeIdentity) and _forward(op, rw, op.operands[0])


@pattern(tn.Transpose, name="identities-removed")
def identity_transpose(op: Operation, rw: Rewriter) -> bool:
    rank = op.results[0].type.rank
    perm = op.perm if op.perm is not None else tuple(reversed(range(rank)))
    return perm == tuple(range(rank)) and _forward(op, rw, op.operands[0])


@pattern(tn.Slice, name="identities-removed")
def identity_slice(op: Operation, rw: Rewriter) -> bool:
    steps = op.const("steps") if op.operand("steps") is not None else np.ones(1)
    if steps is None or not np.all(steps > 0):
        return False
    return _forward(op, rw, op.operands[0])


@pattern(tn.Pad, name="identities-removed")
def identity_pad(op: Operation, rw: Rewriter) -> bool:
    pads = op.const("pads")
    return pads is not None and not np.any(pads) and _forward(op, rw, op.operands[0])


@pattern(tn.Concat, tn.Split, ew.Sum, ew.Max, ew.Min, ew.Mean, name="identities-removed")
def single_operand(op: Operation, rw: Rewriter) -> bool:
    present = [v for v in op.operands if v is not None]
    if len(present) != 1 or len(op.results) != 1:
        return False
    return _forward(op, rw, present[0])


@pattern(tn.Resize, name="identities-removed")
def identity_resize(op: Operation, rw: Rewriter) -> bool:
    # Same size and no crop box means every output sample sits on an input sample.
    return op.coordinate_transformation_mode != "tf_crop_and_resize" and _forward(op, rw, op.operands[0])


def _is_splat(v: Value | None, x: float) -> bool:
    c = constant_value(v)
    return c is not None and c.size > 0 and bool(np.all(c == x))


def _neutral(op: Operation, rw: Rewriter, unit: float, commutative: bool) -> bool:
    a, b = op.operands[0], op.operands[1]
    if _is_splat(b, unit) and _forward(op, rw, a):
        return True
    return commutative and _is_splat(a, unit) and _forward(op, rw, b)


@pattern(ew.Add, name="identities-removed")
def add_zero(op: Operation, rw: Rewriter) -> bool:
    return _neutral(op, rw, 0.0, commutative=True)


@pattern(ew.Sub, name="identities-removed")
def sub_zero(op: Operation, rw: Rewriter) -> bool:
    return _neutral(op, rw, 0.0, commutative=False)


@pattern(ew.Mul, name="identities-removed")
def mul_one(op: Operation, rw: Rewriter) -> bool:
    return _neutral(op, rw, 1.0, commutative=True)


@pattern(ew.Div, name="identities-removed")
def div_one(op: Operation, rw: Rewriter) -> bool:
    return _neutral(op, rw, 1.0, commutative=False)


# ---------------------------------------------------------------- compositions


@pattern(tn.Reshape, name="reshapes-composed")
def reshape_of_reshape(op: Operation, rw: Rewriter) -> bool:
    inner = op.operands[0].owner if op.operands[0] is not None else None
    shape = op.const("shape")
    # A 0 in the outer shape copies a dim of the inner result, so it cannot skip the inner reshape.
    if not isinstance(inner, tn.Reshape) or shape is None or np.any(shape == 0):
        return False
    rw.set_operand(op, 0, inner.operands[0])
    return True


@pattern(tn.Transpose, name="transposes-composed")
def transpose_of_transpose(op: Operation, rw: Rewriter) -> bool:
    inner = op.operands[0].owner if op.operands[0] is not None else None
    if not isinstance(inner, tn.Transpose):
        return False
    rank = op.results[0].type.rank
    p1 = inner.perm if inner.perm is not None else tuple(reversed(range(rank)))
    p2 = op.perm if op.perm is not None else tuple(reversed(range(rank)))
    new = rw.insert(tn.Transpose.build(inner.operands[0], perm=[p1[j] for j in p2], loc=op.loc))
    rw.replace_op(op, [new.result])
    return True


IDENTITY_PATTERNS: list[RewritePattern] = [
    same_type_identity, identity_transpose, identity_slice, identity_pad, single_operand,
    identity_resize, add_zero, sub_zero, mul_one, div_one, reshape_of_reshape, transpose_of_transpose,
]


# ---------------------------------------------------------------- CSE


def _cse_key(op: Operation) -> tuple[Any, ...] | None:
    try:
        attrs_key = tuple((k, _hashable(v)) for k, v in op.attributes.items())
        extra_key = tuple(sorted((k, _hashable(v)) for k, v in op.extra.items()))
        key = (type(op), tuple(id(v) if v is not None else None for v in op.operands), attrs_key,
               extra_key, tuple(r.type for r in op.results))
        hash(key)
    except TypeError:
        return None
    return key


def _hashable(v: Any) -> Any:
    return tuple(_hashable(x) for x in v) if isinstance(v, list | tuple) else v


def eliminate_common_subexpressions(function: Function, ctx: PassContext | None = None) -> bool:
    """Replace each op equal to an earlier one (same class, operands, attributes, types)."""
    seen: dict[tuple[Any, ...], Operation] = {}
    changed = False
    for op in function.ops:
        if not op.is_pure:
            continue
        key = _cse_key(op)
        if key is None:
            continue
        first = seen.get(key)
        if first is None:
            seen[key] = op
            continue
        for old, new in zip(op.results, first.results, strict=True):
            if new.name is None:
                new.name = old.name
        function.replace_op(op, first.results)
        changed = True
        if ctx is not None:
            ctx.count("common-subexpressions-removed")
    return changed


# ---------------------------------------------------------------- the pass


@attrs.frozen
class Canonicalize(FunctionPass):
    """Fold constants, remove identities and duplicates, erase dead ops."""

    NAME = "canonicalize"
    SUMMARY = "constant folding, identity and dead-code elimination, CSE"

    max_iterations: int = option(10, "rounds of rewriting and CSE before stopping")
    fold: bool = option(True, "evaluate ops whose operands are all constants")
    fold_limit: int = option(1 << 22, "largest result (in elements) that folding may create")
    cse: bool = option(True, "merge ops that compute the same thing")

    def run_on_function(self, function: Function, ctx: PassContext) -> None:
        patterns = list(IDENTITY_PATTERNS)
        if self.fold:
            patterns.insert(0, make_fold_pattern(self.fold_limit))
        for _ in range(max(self.max_iterations, 1)):
            changed = apply_patterns_greedily(function, patterns, ctx)
            if self.cse:
                changed = eliminate_common_subexpressions(function, ctx) or changed
            if not changed:
                break

