"""``partition``: group the NPU ops of a legalized function into regions without cycles.

After ``legalize`` every ``warboy`` op runs on the NPU and everything else on the host;
constants are data and belong to no region. This pass

1. grows **regions** greedily in the function's topological order: an NPU op joins the
   regions of its NPU producers, and of NPU ops reading the same tensor, when the graph of
   regions stays acyclic (a region must never need a host result that itself needs the
   region); otherwise it starts a region of its own;
2. with ``host-small-regions=true`` (off by default: like the vendor's compiler, every op the
   table accepts runs on the NPU), returns **tiny regions** to the host, converting their ops
   back to their ``quant`` / ``onnx`` classes, when they do fewer MACs than
   ``min_region_macs`` and their transfers cost more than the NPU saves (``cost.py``), then
   forms the regions again, until nothing changes;
3. places the **edges**: each ``host.Quantize`` / ``host.Dequantize`` (and ``host.Lower`` /
   ``host.Unlower``) next to a region runs on the NPU only when its tensor's last axis is
   width and a multiple of ``lowering_width_multiple``, and the same rule decides where each
   activation entering or leaving a region is lowered or unlowered.

Then each region is outlined into a function ``@npu_region_k`` that the host function calls
where the region began. Attributes written: ``warboy.lower``
/ ``warboy.unlower`` on the ops where activations enter / leave a region,
``warboy.placement`` (and, on the host, ``warboy.reason`` / ``warboy.fix``) on the edge ops,
and ``warboy.reason`` / ``warboy.fix`` on every op returned to the host. See
``docs/partition.md``.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import networkx as nx

from furiosa.backend.warboy.cost import (
    RegionCost,
    boundary,
    format_bytes,
    format_macs,
    format_seconds,
    op_macs,
    region_cost,
)
from furiosa.backend.warboy.dialect import base_of
from furiosa.backend.warboy.legalize import EDGE_OPS, FIX, PLACEMENT, REASON, target_option
from furiosa.backend.warboy.target import TargetSpec, get_target
from furiosa.errors import PassError
from furiosa.ir.core import Operation, Value
from furiosa.ir.dialects.func import Call
from furiosa.ir.dialects.onnx.base import Constant
from furiosa.ir.module import Function, Module
from furiosa.ir.types import DYNAMIC, TensorType
from furiosa.passes.base import ModulePass, PassContext, option

LOWER = "warboy.lower"
UNLOWER = "warboy.unlower"

# What each edge op does, for its reason.
_EDGE_VERBS = {"host.Quantize": "quantizing", "host.Dequantize": "dequantizing",
               "host.Lower": "lowering", "host.Unlower": "unlowering"}


def is_npu(op: Operation) -> bool:
    return op.OP_NAME.startswith("warboy.")


# ---------------------------------------------------------------- regions


def form_regions(function: Function) -> list[list[Operation]]:
    """The NPU ops grouped into regions whose graph is acyclic; each region in print order,
    regions numbered by their first op."""
    ops = function.ops
    pos = {op: i for i, op in enumerate(ops)}
    graph = function.graph
    region_of: dict[Operation, int] = {}
    members: dict[int, list[Operation]] = {}
    # Ops outside each region that read one of its results: where a path out of it starts.
    exits: dict[int, set[Operation]] = {}
    next_id = 0

    def closes_cycle(group: set[int], op: Operation) -> bool:
        """Would ``op`` and the regions ``group`` as one region lie on a cycle of regions?

        Searches from the group's readers, through host ops and other regions (a region
        is one node: reaching any of its ops reaches all of its readers), for a way back
        into the group. Ops after ``op`` in topological order cannot lead back: no region
        holds one yet, and their successors come later still.
        """
        def inside(x: Operation) -> bool:
            return x is op or region_of.get(x) in group

        limit = pos[op]
        stack = [x for r in group for x in exits[r] if not inside(x) and pos[x] < limit]
        seen = set(stack)
        seen_regions: set[int] = set()
        while stack:
            x = stack.pop()
            r = region_of.get(x)
            if r is not None:
                if r in seen_regions:
                    continue
                seen_regions.add(r)
                following: Iterable[Operation] = exits[r]
            else:
                following = graph.successors(x)
            for y in following:
                if inside(y):
                    return True
                if pos[y] < limit and y not in seen:
                    seen.add(y)
                    stack.append(y)
        return False

    for op in ops:
        if not is_npu(op):
            continue
        group: set[int] = set()
        for neighbour in _neighbours(op, pos):
            r = region_of[neighbour]
            if r not in group and not closes_cycle(group | {r}, op):
                group.add(r)
        if group:
            # Relabel into the largest region, so that each op is relabelled O(log n) times.
            k = max(group, key=lambda r: len(members[r]))
            for r in sorted(group - {k}):
                for x in members.pop(r):
                    region_of[x] = k
                    members[k].append(x)
                exits[k] |= exits.pop(r)
        else:
            k = next_id
            next_id += 1
            members[k] = []
            exits[k] = set()
        region_of[op] = k
        members[k].append(op)
        exits[k] |= set(graph.successors(op))
        exits[k] = {x for x in exits[k] if region_of.get(x) != k}

    regions = [sorted(m, key=pos.__getitem__) for m in members.values()]
    return sorted(regions, key=lambda m: pos[m[0]])


def _neighbours(op: Operation, pos: dict[Operation, int]) -> list[Operation]:
    """Earlier NPU ops whose region ``op`` may join: its producers first (in operand order),
    then the ops that read the same tensors (sharing a transfer)."""
    out: dict[Operation, None] = {}
    for v in op.operands:
        if v is not None and v.owner is not None and is_npu(v.owner):
            out.setdefault(v.owner)
    for v in op.operands:
        if v is None or isinstance(v.owner, Constant):
            continue
        for user in v.users:
            if user is not op and is_npu(user) and pos[user] < pos[op]:
                out.setdefault(user)
    return list(out)


def check_acyclic(function: Function, regions: list[list[Operation]]) -> None:
    """Raise PassError, naming the ops, when the graph with each region as one node has a
    cycle: a region would need a host result that itself needs the region."""
    region_of = {op: k for k, ops in enumerate(regions) for op in ops}

    def node(op: Operation) -> object:
        return ("region", region_of[op]) if op in region_of else op

    quotient = nx.DiGraph()
    for u, v in function.graph.edges():
        a, b = node(u), node(v)
        if a != b:
            quotient.add_edge(a, b)
    if nx.is_directed_acyclic_graph(quotient):
        return  # the common case, decided by one topological sort; find_cycle walks edges
    try:
        cycle = nx.find_cycle(quotient)
    except nx.NetworkXNoCycle:
        return

    def describe(n: object) -> str:
        if isinstance(n, tuple):
            ops = regions[n[1]]
            more = ", …" if len(ops) > 1 else ""
            return f"region {n[1]} ({ops[0].describe()}{more})"
        assert isinstance(n, Operation)
        return n.describe()

    path = " -> ".join(describe(u) for u, _ in cycle) + f" -> {describe(cycle[0][0])}"
    raise PassError(f"NPU regions form a cycle: {path}; a region must never need a host "
                    "result that itself needs the region")


# ---------------------------------------------------------------- tiny regions


def return_to_host(function: Function, op: Operation, reason: str, fix: str) -> Operation:
    """Replace the NPU op ``op`` by its base class: same operands, attributes, types and
    names, with the reason it runs on the host."""
    base = base_of(op)
    extra = {k: v for k, v in op.extra.items() if k not in (LOWER, UNLOWER, PLACEMENT)}
    extra[REASON] = reason
    extra[FIX] = fix
    new = op.clone(op.operands, as_class=base, extra=extra)
    function.add(new, at=op)
    for old in op.results:
        old.name = None  # the new op's results carry the names now
    function.replace_op(op, new.results)
    return new


def tiny_region_reason(cost: RegionCost) -> str:
    ops = f"{cost.ops} op" + ("" if cost.ops == 1 else "s")
    saves = "nothing" if cost.saving_s <= 0 else format_seconds(cost.saving_s)
    transfers = f"{cost.transfers} transfer" + ("" if cost.transfers == 1 else "s")
    return (f"a region of {ops} and {format_macs(cost.macs)} saves {saves} on the NPU but its "
            f"{transfers} ({format_bytes(cost.transfer_bytes)}) cost "
            f"{format_seconds(cost.transfer_s)}; it runs on the host")


def tiny_region_fix(target: TargetSpec) -> str:
    return ("give the region more work, at least "
            f"{format_macs(target.min_region_macs)}: quantize the float ops around it so that "
            "they join it, or compile with a larger batch")


# ---------------------------------------------------------------- edges


def edge_on_host(t: TensorType, target: TargetSpec) -> str | None:
    """Why a tensor of type ``t`` is quantized, dequantized, lowered or unlowered on the host,
    or None when the NPU does it: its last axis must be width (rank 2 or more, axes named as
    in NCHW) with a size that is a multiple of ``lowering_width_multiple``."""
    if t.rank < 2:
        return f"the tensor has rank {t.rank}, so it has no width axis"
    width = t.shape[-1]
    if width == DYNAMIC:
        return "the last axis has a dynamic size"
    multiple = target.lowering_width_multiple
    if width % multiple:
        return f"the last axis has {width} elements, not a multiple of {multiple}"
    return None


def _edge_tensor(op: Operation) -> TensorType:
    """The NCHW side of an edge op (an unlowered tensor's type is its result's)."""
    if op.OP_NAME == "host.Unlower":
        return op.results[0].type
    v = op.operands[0]
    assert v is not None  # every edge op has one required operand
    return v.type


def place_edges(function: Function, region_of: dict[Operation, int], target: TargetSpec) -> None:
    """Record where each edge op next to a region runs, and where each activation crossing
    a region's boundary is lowered (entering) or unlowered (leaving)."""
    for op in function.ops:
        if op.OP_NAME not in EDGE_OPS:
            continue
        reads_region = any(v is not None and v.owner in region_of for v in op.operands)
        feeds_region = any(u in region_of for r in op.results for u in r.users)
        if not (reads_region or feeds_region):
            continue
        why = edge_on_host(_edge_tensor(op), target)
        if why is None:
            op.extra[PLACEMENT] = "npu"
            op.extra.pop(REASON, None)
            op.extra.pop(FIX, None)
            continue
        op.extra[PLACEMENT] = "host"
        op.extra[REASON] = f"{why}: {_EDGE_VERBS[op.OP_NAME]} runs on the host"
        op.extra[FIX] = (f"make the last axis the width, with a size that is a multiple of "
                         f"{target.lowering_width_multiple}")

    regions: dict[int, list[Operation]] = {}
    for op, k in region_of.items():
        regions.setdefault(k, []).append(op)
    for ops in regions.values():
        entering, leaving = boundary(function, ops)
        entering_ids = {id(v) for v in entering}
        leaving_ids = {id(v) for v in leaving}
        for op in ops:
            _record(op, LOWER, [v for v in op.operands if v is not None and id(v) in entering_ids],
                    target)
            _record(op, UNLOWER, [r for r in op.results if id(r) in leaving_ids], target)


def _record(op: Operation, key: str, crossing: list[Value], target: TargetSpec) -> None:
    # One decision per op: on the host as soon as one of its crossing tensors needs it.
    if crossing:
        on_host = any(edge_on_host(v.type, target) is not None for v in crossing)
        op.extra[key] = "host" if on_host else "npu"


# ---------------------------------------------------------------- the pass


def _clear(function: Function) -> None:
    """Forget an earlier partition's decisions, so that running the pass again is a no-op."""
    for op in function.ops:
        for key in (LOWER, UNLOWER):
            op.extra.pop(key, None)
        # An edge op's placement is ours, and so is its reason then; without a placement,
        # the reason is legalize's (an edge op that no NPU region borders), which stays.
        if op.OP_NAME in EDGE_OPS and op.extra.pop(PLACEMENT, None) is not None:
            op.extra.pop(REASON, None)
            op.extra.pop(FIX, None)


@attrs.frozen
class Partition(ModulePass):
    """Group NPU ops into acyclic regions, return tiny ones to the host, place the edges."""

    NAME = "partition"
    SUMMARY = "NPU regions without cycles as functions; edge placement; optionally tiny regions back to the host"

    target: str = target_option()
    host_small_regions: bool = option(
        False, "return regions too small to pay for their transfers to the host")

    def run(self, module: Module, ctx: PassContext) -> None:
        target = get_target(self.target)
        # Functions already called are NPU regions of an earlier run: only the roots partition.
        called = {op.callee for f in module.functions for op in f.block if isinstance(op, Call)}
        for key in ("regions", "ops-on-npu", "ops-returned-to-host", "npu-macs", "host-macs"):
            ctx.count(key, 0)  # every statistic is reported, zero included
        for function in [f for f in module.functions if f.name not in called]:
            self._partition(module, function, target, ctx)

    def _partition(self, module: Module, function: Function, target: TargetSpec,
                   ctx: PassContext) -> None:
        if not any(is_npu(op) for op in function.block):
            return  # nothing to place (or already partitioned: its regions are functions now)
        _clear(function)
        returned = 0
        while True:
            regions = form_regions(function)
            tiny = [(ops, cost) for ops in regions if self.host_small_regions
                    and (cost := region_cost(function, ops, target)).returns_to_host(target)]
            if not tiny:
                break
            fix = tiny_region_fix(target)
            for ops, cost in tiny:
                reason = tiny_region_reason(cost)
                for op in ops:
                    return_to_host(function, op, reason, fix)
                returned += len(ops)
        check_acyclic(function, regions)
        region_of = {op: k for k, ops in enumerate(regions) for op in ops}
        place_edges(function, region_of, target)

        npu_macs = sum(op_macs(op) for op in region_of)
        host_macs = sum(op_macs(op) for op in function.ops if op not in region_of)
        for k, ops in enumerate(regions):
            outline(module, function, ops, module.unique_name(f"{REGION_FUNCTION}_{k}"))
        # Each call stands where its region began; a region's readers may stand earlier than
        # its last input's producer, so restore def-before-use once, for every call at once
        # (the region graph is acyclic, so an order exists).
        function.sort_topologically()
        ctx.count("regions", len(regions))
        ctx.count("ops-on-npu", len(region_of))
        ctx.count("ops-returned-to-host", returned)
        ctx.count("npu-macs", npu_macs)
        ctx.count("host-macs", host_macs)


# ---------------------------------------------------------------- outlining

REGION_FUNCTION = "npu_region"
"""Region functions are ``npu_region_0``, ``npu_region_1``, ... in host program order."""


def outline(module: Module, host: Function, ops: list[Operation], name: str) -> Call:
    """Move the region ``ops`` (in program order) into a new function ``@name`` and call it
    from ``host`` where the region's first op stood. The caller restores def-before-use in
    ``host`` afterwards (``sort_topologically``): the call may now precede an input's producer.

    The function takes the activations entering the region and returns those leaving it;
    the constants it reads are copied into it (they are data: the NPU program's own),
    and the host's copies go when nothing else reads them.
    """
    members = set(ops)
    region = Function(name)
    vmap: dict[Value, Value] = {}
    arg_names: set[str] = set()
    entering: list[Value] = []

    def inner(v: Value | None) -> Value | None:
        if v is None:
            return None
        if v in vmap:
            return vmap[v]
        owner = v.owner
        if isinstance(owner, Constant):
            c = owner.clone([])
            region.add(c)
            vmap[v] = c.result
        else:
            # An activation entering the region: a function input, named after the value.
            base = v.name or f"arg{len(entering)}"
            arg, k = base, 0
            while arg in arg_names:
                k += 1
                arg = f"{base}_{k}"
            arg_names.add(arg)
            vmap[v] = region.add_input(arg, v.type)
            entering.append(v)
        return vmap[v]

    for op in ops:
        new = op.clone([inner(v) for v in op.operands])
        region.add(new)
        vmap.update(zip(op.results, new.results, strict=True))
    host_outputs = {id(v) for v in host.outputs}
    leaving = [r for op in ops for r in op.results
               if id(r) in host_outputs or any(u not in members for u in r.users)]
    region.set_outputs([vmap[r] for r in leaving],
                       [r.name or f"result{i}" for i, r in enumerate(leaving)])
    module.add_function(region)

    call = Call.build(*entering, callee=name, result_types=[r.type for r in leaving],
                      loc=name, result_names=[r.name for r in leaving])
    host.add(call, at=ops[0])
    for old, new in zip(leaving, call.results, strict=True):
        old.name = None  # the call's results carry the names now
        host.replace_all_uses(old, new)
    for op in reversed(ops):
        host.erase(op)
    for c in {v.owner for op in ops for v in op.operands
              if v is not None and isinstance(v.owner, Constant)}:
        if c.parent is host and not any(r.uses for r in c.results) and \
                not any(r is o for r in c.results for o in host.outputs):
            host.erase(c)
    return call
