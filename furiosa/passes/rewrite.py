"""Declarative rewrite patterns and the greedy driver that applies them.

A pattern names the op classes it roots at and rewrites one match::

    @pattern(onnx.Identity)
    def forward_identity(op: onnx.Identity, rw: Rewriter) -> bool:
        rw.replace_op(op, [op.operands[0]])
        return True

:func:`apply_patterns_greedily` keeps a worklist of ops; it tries every pattern
rooted at an op's class (in declaration order), re-queues the ops a rewrite
touched, and erases ops that become dead, until nothing changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence

import attrs

from furiosa.errors import PassError
from furiosa.ir.core import Operation, Value
from furiosa.ir.module import Function
from furiosa.ir.traits import only_reads
from furiosa.passes.base import PassContext

RewriteFn = Callable[[Operation, "Rewriter"], bool]


@attrs.frozen
class RewritePattern:
    """Rewrite ``fn(op, rewriter) -> bool`` for ops of ``roots`` (any op when empty)."""

    name: str
    roots: tuple[type[Operation], ...]
    fn: RewriteFn

    def matches(self, op: Operation) -> bool:
        return not self.roots or isinstance(op, self.roots)


def pattern(*roots: type[Operation], name: str | None = None) -> Callable[[RewriteFn], RewritePattern]:
    """Decorator: turn a rewrite function into a :class:`RewritePattern`."""

    def wrap(fn: RewriteFn) -> RewritePattern:
        return RewritePattern(name or fn.__name__.replace("_", "-"), tuple(roots), fn)

    return wrap


class Rewriter:
    """The only way patterns change the function; it tells the driver what to revisit."""

    def __init__(self, function: Function, root: Operation | None = None) -> None:
        self.function = function
        self.root = root
        self.touched: list[Operation] = []

    def insert(self, op: Operation) -> Operation:
        """Add a new op, printed where the op being rewritten stands."""
        self.function.add(op, at=self.root if self.root is not None and self.root in self.function else None)
        self.touched.append(op)
        return op

    def replace_value(self, old: Value, new: Value) -> None:
        self.touched.extend(old.users)
        self.function.replace_all_uses(old, new)

    def replace_op(self, op: Operation, new_values: Sequence[Value]) -> None:
        for r in op.results:
            self.touched.extend(r.users)
        self._touch_producers(op)
        self.function.replace_op(op, new_values)

    def erase(self, op: Operation) -> None:
        self._touch_producers(op)
        self.function.erase(op)

    def set_operand(self, op: Operation, i: int, v: Value | None) -> None:
        old = op.operands[i]
        if old is not None and old.owner is not None:
            self.touched.append(old.owner)
        self.function.set_operand(op, i, v)
        self.touched.append(op)

    def _touch_producers(self, op: Operation) -> None:
        self.touched.extend(v.owner for v in op.operands if v is not None and v.owner is not None)


def is_dead(function: Function, op: Operation) -> bool:
    """Unused, and erasing it changes no memory (it is pure or only reads)."""
    return only_reads(op.effects()) and not any(r.uses for r in op.results) and not any(
        o is r for r in op.results for o in function.outputs)


def apply_patterns_greedily(function: Function, patterns: Iterable[RewritePattern],
                            ctx: PassContext | None = None, *, max_rewrites: int | None = None,
                            erase_dead: bool = True, sweeps: int = 1) -> bool:
    """Apply ``patterns`` until none matches; True when anything changed.

    Counts each successful pattern in ``ctx`` under its name. Raises PassError
    when the patterns keep rewriting past ``max_rewrites`` (default: 20 per op),
    which means two patterns undo each other. ``sweeps`` > 1 starts over from every
    op while the last sweep changed something, at most that many times: for patterns
    that look further than the ops a rewrite touched, so a rewrite can enable a match
    the worklist does not revisit.
    """
    patterns = list(patterns)
    changed = False
    for _ in range(sweeps):
        if not _sweep(function, patterns, ctx, max_rewrites, erase_dead):
            break
        changed = True
    return changed


def _sweep(function: Function, patterns: list[RewritePattern], ctx: PassContext | None,
           max_rewrites: int | None, erase_dead: bool) -> bool:
    """One run of the worklist, seeded with every op of ``function``."""
    ops = function.ops
    limit = max_rewrites if max_rewrites is not None else 20 * max(len(ops), 1) + 100
    worklist: deque[Operation] = deque(ops)
    queued = {id(op) for op in ops}
    rewrites = 0
    changed = False
    while worklist:
        op = worklist.popleft()
        queued.discard(id(op))
        if op not in function:
            continue
        if erase_dead and is_dead(function, op):
            rw = Rewriter(function, op)
            rw.erase(op)
            _requeue(rw.touched, worklist, queued)
            if ctx is not None:
                ctx.count("dead-ops-erased")
            changed = True
            continue
        for p in patterns:
            if not p.matches(op):
                continue
            rw = Rewriter(function, op)
            if p.fn(op, rw):
                rewrites += 1
                changed = True
                if ctx is not None:
                    ctx.count(p.name)
                if rewrites > limit:
                    raise PassError(f"rewrite patterns did not converge after {limit} rewrites "
                                    f"(last: '{p.name}' on {op.describe()})")
                if op in function:
                    rw.touched.append(op)
                _requeue(rw.touched, worklist, queued)
                break
    return changed


def _requeue(ops: Iterable[Operation], worklist: deque[Operation], queued: set[int]) -> None:
    for op in ops:
        if id(op) not in queued:
            worklist.append(op)
            queued.add(id(op))
