"""A module: one graph of operations on networkx, with named inputs and outputs.

Nodes of ``Module.graph`` (a ``networkx.MultiDiGraph``) are operations; an edge
``producer -> consumer`` with key ``(result index, operand index)`` stands for
each use. ``Value.uses`` mirrors the edges. Both are maintained only by the
methods here, so passes never touch them directly.

Ops print in a deterministic topological order: among ops ready at the same
time, the one with the smaller ordering key first. Keys come from insertion
order; an op inserted ``at`` another takes that op's position.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import networkx as nx

from furiosa.errors import IRError
from furiosa.ir.core import Operation, Value
from furiosa.ir.types import TensorType


class Module:
    """A graph of operations with named inputs and outputs."""

    def __init__(self, name: str = "main") -> None:
        self.name = name
        self.graph: nx.MultiDiGraph = nx.MultiDiGraph()
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        # Outputs keep the user's names whatever passes do to the values behind them.
        self.output_names: list[str] = []
        self._seq = 0
        self._order_cache: list[Operation] | None = None

    # ---- building

    def add_input(self, name: str, type: TensorType) -> Value:
        v = Value(type, name)
        self.inputs.append(v)
        return v

    def add(self, op: Operation, at: Operation | None = None) -> Operation:
        """Insert ``op`` (operands must already be defined here); ``at`` gives its print position."""
        if op._module is not None:
            raise IRError(f"{op.describe()} already belongs to a module")
        self._seq += 1
        pos = at._key[0] if at is not None else float(self._seq)
        op._key = (pos, self._seq)
        op._module = self
        self.graph.add_node(op)
        for i, v in enumerate(op.operands):
            if v is not None:
                self._link(v, op, i)
        self._order_cache = None
        return op

    def append(self, op_or_ops: Operation | Sequence[Operation]) -> None:
        for op in [op_or_ops] if isinstance(op_or_ops, Operation) else op_or_ops:
            self.add(op)

    def set_outputs(self, values: Sequence[Value], names: Sequence[str] | None = None) -> None:
        """Set the outputs; each is named ``names[i]``, else its value's name, else ``output<i>``."""
        self.outputs = list(values)
        if names is None:
            names = [v.name if v.name is not None else f"output{i}" for i, v in enumerate(values)]
        if len(names) != len(values):
            raise IRError(f"module @{self.name} has {len(values)} outputs but {len(names)} names")
        self.output_names = list(names)

    # ---- use-def maintenance

    def _link(self, v: Value, op: Operation, i: int) -> None:
        v.uses.append((op, i))
        if v.owner is not None:
            self.graph.add_edge(v.owner, op, key=(v.index, i))

    def _unlink(self, v: Value, op: Operation, i: int) -> None:
        try:
            v.uses.remove((op, i))
        except ValueError:
            pass
        if v.owner is not None and self.graph.has_edge(v.owner, op, key=(v.index, i)):
            self.graph.remove_edge(v.owner, op, key=(v.index, i))

    def set_operand(self, op: Operation, i: int, v: Value | None) -> None:
        old = op.operands[i]
        if old is v:
            return
        if old is not None:
            self._unlink(old, op, i)
        op.operands[i] = v
        if v is not None:
            self._link(v, op, i)
        self._order_cache = None

    def set_operands(self, op: Operation, values: Sequence[Value | None]) -> None:
        for i, old in enumerate(op.operands):
            if old is not None:
                self._unlink(old, op, i)
        op.operands = list(values)
        for i, v in enumerate(op.operands):
            if v is not None:
                self._link(v, op, i)
        self._order_cache = None

    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Make every user of ``old`` (and the module outputs) use ``new``."""
        if old is new:
            return
        for op, i in list(old.uses):
            self.set_operand(op, i, new)
        self.outputs = [new if o is old else o for o in self.outputs]

    def erase(self, op: Operation) -> None:
        """Remove an op whose results are unused."""
        for r in op.results:
            if r.uses or any(o is r for o in self.outputs):
                raise IRError(f"cannot erase {op.describe()}: its result is still used")
        for i, v in enumerate(op.operands):
            if v is not None:
                self._unlink(v, op, i)
        self.graph.remove_node(op)
        op._module = None
        self._order_cache = None

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
        """All ops in deterministic topological order (raises on a cycle)."""
        if self._order_cache is None:
            try:
                self._order_cache = list(
                    nx.lexicographical_topological_sort(self.graph, key=lambda op: op._key))
            except nx.NetworkXUnfeasible:
                raise IRError(f"module @{self.name} has a cycle: {self.describe_cycle()}") from None
        return list(self._order_cache)

    def __iter__(self) -> Iterator[Operation]:
        return iter(self.ops)

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __contains__(self, op: object) -> bool:
        return op in self.graph

    def describe_cycle(self) -> str:
        try:
            cycle = nx.find_cycle(self.graph)
        except nx.NetworkXNoCycle:
            return "none"
        return " -> ".join(u.describe() for u, *_ in cycle) + f" -> {cycle[0][0].describe()}"

    def values(self) -> Iterator[Value]:
        """Every value: inputs, then results in op order."""
        yield from self.inputs
        for op in self.ops:
            yield from op.results

    def input(self, name: str) -> Value:
        for v in self.inputs:
            if v.name == name:
                return v
        raise IRError(f"module @{self.name} has no input '{name}'")

    def copy(self) -> Module:
        """A deep copy sharing nothing mutable with this module (constant arrays are read-only)."""
        m = Module(self.name)
        vmap: dict[Value, Value] = {v: m.add_input(v.name or "", v.type) for v in self.inputs}
        for old_in, new_in in vmap.items():
            new_in.name = old_in.name
        for op in self.ops:
            new = type(op).from_parts(
                [vmap[v] if v is not None else None for v in op.operands], op.attributes,
                [r.type for r in op.results], op.loc, op.extra, [r.name for r in op.results])
            m.add(new)
            vmap.update(zip(op.results, new.results, strict=True))
        m.set_outputs([vmap[v] for v in self.outputs], self.output_names)
        return m

    def __str__(self) -> str:
        from furiosa.ir.printer import print_module

        return print_module(self)
