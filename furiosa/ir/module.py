"""Modules, functions and blocks: where operations live, in a stored program order.

A :class:`Module` holds functions by symbol name. A :class:`Function` has named
inputs and outputs and one :class:`Block`: its operations in program order, as a
doubly linked list (O(1) insertion and removal anywhere). Program order is what
the printer prints and the interpreter runs; the verifier checks that every use
comes after its definition.

``Value.uses`` is an insertion-ordered dict of ``(op, operand index)``, so a use
is added and removed in O(1). Use lists and the block are maintained only by the
methods of :class:`Function`, so passes never touch them directly.

The dataflow of a function is also a ``networkx.MultiDiGraph`` (:attr:`Function.graph`):
nodes are ops, an edge ``producer -> consumer`` with key ``(result index,
operand index)`` stands for each use. Graph algorithms (partitioning, cycle
checks, liveness) run on it. It is derived from the block on first request and
cached until the function changes: passes rewrite far more often than they ask
for the graph, and keeping it in step on every edit cost more than rebuilding it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import networkx as nx

from furiosa.errors import IRError
from furiosa.ir.core import Operation, Value
from furiosa.ir.types import TensorType


class Block:
    """An ordered list of operations (a doubly linked list threaded through the ops)."""

    __slots__ = ("_count", "first", "last")

    def __init__(self) -> None:
        self.first: Operation | None = None
        self.last: Operation | None = None
        self._count = 0

    def __iter__(self) -> Iterator[Operation]:
        op = self.first
        while op is not None:
            nxt = op._next  # read first: the caller may remove ``op`` while iterating
            yield op
            op = nxt

    def __reversed__(self) -> Iterator[Operation]:
        op = self.last
        while op is not None:
            prev = op._prev
            yield op
            op = prev

    def __len__(self) -> int:
        return self._count

    def insert_before(self, op: Operation, anchor: Operation | None) -> None:
        """Link ``op`` before ``anchor`` (at the end when ``anchor`` is None)."""
        if anchor is None:
            op._prev, op._next = self.last, None
            if self.last is not None:
                self.last._next = op
            else:
                self.first = op
            self.last = op
        else:
            op._prev, op._next = anchor._prev, anchor
            if anchor._prev is not None:
                anchor._prev._next = op
            else:
                self.first = op
            anchor._prev = op
        self._count += 1

    def remove(self, op: Operation) -> None:
        if op._prev is not None:
            op._prev._next = op._next
        else:
            self.first = op._next
        if op._next is not None:
            op._next._prev = op._prev
        else:
            self.last = op._prev
        op._prev = op._next = None
        self._count -= 1


class Function:
    """A function: named inputs, one ordered block of operations, named outputs."""

    def __init__(self, name: str = "main") -> None:
        self.name = name
        self.block = Block()
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        # Outputs keep the user's names whatever passes do to the values behind them.
        self.output_names: list[str] = []
        # The module this function belongs to (None while it stands alone).
        self.module: Module | None = None
        self._graph: nx.MultiDiGraph | None = None

    # ---- building

    def add_input(self, name: str, type: TensorType) -> Value:
        v = Value(type, name)
        self.inputs.append(v)
        return v

    def add(self, op: Operation, at: Operation | None = None) -> Operation:
        """Insert ``op`` before ``at`` (at the end when ``at`` is None) and link its operands."""
        if op._parent is not None:
            raise IRError(f"{op.describe()} already belongs to a function")
        if at is not None and at._parent is not self:
            raise IRError(f"cannot insert {op.describe()} before {at.describe()}: "
                          f"it is not in function @{self.name}")
        op._parent = self
        self.block.insert_before(op, at)
        for i, v in enumerate(op.operands):
            if v is not None:
                v.uses[(op, i)] = None
        self._graph = None
        return op

    def add_after(self, op: Operation, after: Operation) -> Operation:
        """Insert ``op`` right after ``after``."""
        return self.add(op, at=after._next) if after._next is not None else self.add(op)

    def append(self, op_or_ops: Operation | Sequence[Operation]) -> None:
        for op in [op_or_ops] if isinstance(op_or_ops, Operation) else op_or_ops:
            self.add(op)

    def move_before(self, op: Operation, anchor: Operation | None) -> None:
        """Move ``op`` before ``anchor`` (to the end when None); uses are unchanged."""
        if op is anchor:
            return
        self.block.remove(op)
        self.block.insert_before(op, anchor)
        self._graph = None

    def set_outputs(self, values: Sequence[Value], names: Sequence[str] | None = None) -> None:
        """Set the outputs; each is named ``names[i]``, else its value's name, else ``output<i>``."""
        self.outputs = list(values)
        if names is None:
            names = [v.name if v.name is not None else f"output{i}" for i, v in enumerate(values)]
        if len(names) != len(values):
            raise IRError(f"function @{self.name} has {len(values)} outputs but {len(names)} names")
        self.output_names = list(names)

    # ---- use-def maintenance

    def set_operand(self, op: Operation, i: int, v: Value | None) -> None:
        old = op.operands[i]
        if old is v:
            return
        if old is not None:
            old.uses.pop((op, i), None)
        op.operands[i] = v
        if v is not None:
            v.uses[(op, i)] = None
        self._graph = None

    def set_operands(self, op: Operation, values: Sequence[Value | None]) -> None:
        for i, old in enumerate(op.operands):
            if old is not None:
                old.uses.pop((op, i), None)
        op.operands = list(values)
        for i, v in enumerate(op.operands):
            if v is not None:
                v.uses[(op, i)] = None
        self._graph = None

    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Make every user of ``old`` (and the function's outputs) use ``new``."""
        if old is new:
            return
        for op, i in list(old.uses):
            self.set_operand(op, i, new)
        self.outputs = [new if o is old else o for o in self.outputs]

    def erase(self, op: Operation) -> None:
        """Remove an op whose results are unused."""
        if op._parent is not self:
            raise IRError(f"cannot erase {op.describe()}: it is not in function @{self.name}")
        for r in op.results:
            if r.uses or any(o is r for o in self.outputs):
                raise IRError(f"cannot erase {op.describe()}: its result is still used")
        for i, v in enumerate(op.operands):
            if v is not None:
                v.uses.pop((op, i), None)
        self.block.remove(op)
        op._parent = None
        self._graph = None

    def replace_op(self, op: Operation, new_values: Sequence[Value]) -> None:
        """Redirect every use of ``op``'s results to ``new_values`` and erase ``op``."""
        if len(new_values) != len(op.results):
            raise IRError(f"{op.describe()} has {len(op.results)} results; got {len(new_values)} replacements")
        for old, new in zip(op.results, new_values, strict=True):
            self.replace_all_uses(old, new)
        self.erase(op)

    # ---- queries

    @property
    def ops(self) -> list[Operation]:
        """The ops in program order (a fresh list: safe to mutate the function while walking it)."""
        return list(self.block)

    def __iter__(self) -> Iterator[Operation]:
        return iter(self.ops)

    def __len__(self) -> int:
        return len(self.block)

    def __contains__(self, op: object) -> bool:
        return isinstance(op, Operation) and op._parent is self

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The dataflow graph of the block (derived, cached until the function changes)."""
        if self._graph is None:
            g = nx.MultiDiGraph()
            g.add_nodes_from(self.block)
            for op in self.block:
                for i, v in enumerate(op.operands):
                    if v is not None and v.owner is not None and v.owner._parent is self:
                        g.add_edge(v.owner, op, key=(v.index, i))
            self._graph = g
        return self._graph

    def values(self) -> Iterator[Value]:
        """Every value: inputs, then results in program order."""
        yield from self.inputs
        for op in self.block:
            yield from op.results

    def input(self, name: str) -> Value:
        for v in self.inputs:
            if v.name == name:
                return v
        raise IRError(f"function @{self.name} has no input '{name}'")

    def sort_topologically(self) -> None:
        """Reorder the block so every op follows its operands' producers (stable otherwise).

        For builders that add ops out of order (a frontend reading a file whose nodes are
        unsorted); passes keep the order valid as they go and never need this.
        """
        position = {op: k for k, op in enumerate(self.block)}
        try:
            order = list(nx.lexicographical_topological_sort(self.graph, key=position.__getitem__))
        except nx.NetworkXUnfeasible:
            raise IRError(f"function @{self.name} has a cycle: {self.describe_cycle()}") from None
        for op in order:
            self.block.remove(op)
            self.block.insert_before(op, None)
        self._graph = None

    def describe_cycle(self) -> str:
        try:
            cycle = nx.find_cycle(self.graph)
        except nx.NetworkXNoCycle:
            return "none"
        return " -> ".join(u.describe() for u, *_ in cycle) + f" -> {cycle[0][0].describe()}"

    @property
    def input_types(self) -> list[TensorType]:
        return [v.type for v in self.inputs]

    @property
    def output_types(self) -> list[TensorType]:
        return [v.type for v in self.outputs]

    def copy(self, name: str | None = None) -> Function:
        """A deep copy sharing nothing mutable with this function (constant arrays are read-only)."""
        f = Function(self.name if name is None else name)
        vmap: dict[Value, Value] = {}
        for v in self.inputs:
            vmap[v] = f.add_input(v.name or "", v.type)
            vmap[v].name = v.name
        for op in self.block:
            new = op.clone([vmap[v] if v is not None else None for v in op.operands])
            f.add(new)
            vmap.update(zip(op.results, new.results, strict=True))
        f.set_outputs([vmap[v] for v in self.outputs], self.output_names)
        return f

    def __str__(self) -> str:
        from furiosa.ir.printer import print_module

        return print_module(self)

    def __repr__(self) -> str:
        return f"<function @{self.name}: {len(self)} ops>"


class Module:
    """Functions by symbol name, in a stored order. The first function is the entry point."""

    def __init__(self, functions: Iterable[Function] = ()) -> None:
        self._functions: dict[str, Function] = {}
        for f in functions:
            self.add_function(f)

    @classmethod
    def of(cls, unit: Module | Function) -> Module:
        """``unit`` itself, or the module a function belongs to (one made for it if it stands alone)."""
        if isinstance(unit, Module):
            return unit
        return unit.module if unit.module is not None else cls([unit])

    @property
    def functions(self) -> list[Function]:
        return list(self._functions.values())

    @property
    def main(self) -> Function:
        """The entry function (the first one)."""
        if not self._functions:
            raise IRError("the module has no function")
        return next(iter(self._functions.values()))

    @property
    def name(self) -> str:
        return self.main.name

    def function(self, name: str) -> Function:
        f = self._functions.get(name)
        if f is None:
            raise IRError(f"the module has no function @{name}")
        return f

    def has_function(self, name: str) -> bool:
        return name in self._functions

    def add_function(self, f: Function, after: Function | None = None) -> Function:
        """Add ``f`` (at the end, or right after ``after``); its name must be new."""
        if f.name in self._functions:
            raise IRError(f"the module already has a function @{f.name}")
        if f.module is not None and f.module is not self:
            raise IRError(f"function @{f.name} already belongs to another module")
        f.module = self
        if after is None:
            self._functions[f.name] = f
        else:
            items = list(self._functions.items())
            k = next(i for i, (n, _) in enumerate(items) if n == after.name) + 1
            items.insert(k, (f.name, f))
            self._functions = dict(items)
        return f

    def remove_function(self, f: Function) -> None:
        if self._functions.get(f.name) is not f:
            raise IRError(f"function @{f.name} is not in the module")
        del self._functions[f.name]
        f.module = None

    def unique_name(self, base: str) -> str:
        """``base``, or ``base_1``, ``base_2``... whichever is not yet a function name."""
        name, k = base, 0
        while name in self._functions:
            k += 1
            name = f"{base}_{k}"
        return name

    def copy(self) -> Module:
        return Module(f.copy() for f in self._functions.values())

    def __iter__(self) -> Iterator[Function]:
        return iter(self.functions)

    def __len__(self) -> int:
        return len(self._functions)

    def __str__(self) -> str:
        from furiosa.ir.printer import print_module

        return print_module(self)

    def __repr__(self) -> str:
        return f"<module: {', '.join('@' + n for n in self._functions)}>"
