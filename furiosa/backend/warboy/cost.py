"""The partitioning cost model: what an NPU region saves, and what its transfers cost.

Every number comes from the :class:`TargetSpec`; the formulas (``docs/partition.md``):

* ``op_macs(op)``: the multiply-accumulates of one op, exact from its shapes, for the ops
  that do nearly all of a network's arithmetic (convolutions and matrix products, in their
  float, integer, ``quant`` and ``warboy`` forms): each declares the ``HasMACs`` trait with
  its formula; 0 for every other op. A dynamic dimension counts as 1, so the count is a
  lower bound.
* NPU time of ``macs`` MACs: ``macs / (macs_per_cycle · clock_hz)``, the MAC arrays at peak.
* host time of the same work: ``macs / host_macs_per_second``.
* transfer time of a region: ``bytes / host_link_bandwidth + transfers · host_link_latency_s``,
  where each tensor crossing the region's boundary (an activation read from outside it, or a
  result read outside it or returned by the module) is one transfer of its bytes. Constants
  are not transfers: they are uploaded once with the region's weights.

A region whose MACs are below ``min_region_macs`` and whose transfers cost more than it
saves (host time minus NPU time) is not worth running on the NPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs

from furiosa.backend.warboy.target import TargetSpec
from furiosa.ir.core import Operation, Value
from furiosa.ir.dialects.onnx.base import Constant
from furiosa.ir.module import Function
from furiosa.ir.traits import HasMACs
from furiosa.ir.types import DYNAMIC, TensorType


def elements(t: TensorType) -> int:
    """Elements of ``t``, a dynamic dimension counting as 1."""
    return _prod(t.shape)


def _prod(dims: Sequence[int]) -> int:
    return math.prod(_dim(d) for d in dims)


def tensor_bytes(t: TensorType) -> int:
    return elements(t) * t.dtype.itemsize


def op_macs(op: Operation) -> int:
    """Multiply-accumulates of ``op``: its HasMACs formula, 0 for ops without one."""
    trait = HasMACs.of(op)
    return trait.count(op) if trait is not None else 0


def _dim(d: int) -> int:
    return 1 if d == DYNAMIC else d


def npu_seconds(macs: int, target: TargetSpec) -> float:
    """``macs / (macs_per_cycle · clock_hz)``: the MAC arrays of every slice at peak."""
    return macs / (target.macs_per_cycle * target.clock_hz)


def host_seconds(macs: int, target: TargetSpec) -> float:
    """``macs / host_macs_per_second``."""
    return macs / target.host_macs_per_second


def transfer_seconds(nbytes: int, transfers: int, target: TargetSpec) -> float:
    """``nbytes / host_link_bandwidth + transfers · host_link_latency_s``."""
    return nbytes / target.host_link_bandwidth + transfers * target.host_link_latency_s


@attrs.frozen
class RegionCost:
    """What running one region on the NPU saves and costs."""

    ops: int
    macs: int
    transfers: int
    transfer_bytes: int
    npu_s: float
    host_s: float
    transfer_s: float

    @property
    def saving_s(self) -> float:
        """Host time minus NPU time for the region's work."""
        return self.host_s - self.npu_s

    def returns_to_host(self, target: TargetSpec) -> bool:
        """Too little work for the NPU: fewer MACs than ``min_region_macs``, and transfers
        that cost more than the NPU saves."""
        return self.macs < target.min_region_macs and self.transfer_s > self.saving_s


def boundary(function: Function, ops: Sequence[Operation]) -> tuple[list[Value], list[Value]]:
    """The tensors entering a region (activations it reads from outside: module inputs and
    results of ops outside it, constants excluded) and leaving it (its results read outside
    it or returned by the module), each once, in operand / result order."""
    members = set(ops)
    outputs = set(map(id, function.outputs))
    entering: dict[int, Value] = {}
    leaving: dict[int, Value] = {}
    for op in ops:
        for v in op.operands:
            if v is not None and v.owner not in members and not isinstance(v.owner, Constant):
                entering.setdefault(id(v), v)
        for r in op.results:
            if id(r) in outputs or any(u not in members for u in r.users):
                leaving.setdefault(id(r), r)
    return list(entering.values()), list(leaving.values())


def region_cost(function: Function, ops: Sequence[Operation], target: TargetSpec) -> RegionCost:
    macs = sum(op_macs(op) for op in ops)
    entering, leaving = boundary(function, ops)
    crossing = entering + leaving
    nbytes = sum(tensor_bytes(v.type) for v in crossing)
    return RegionCost(len(ops), macs, len(crossing), nbytes, npu_seconds(macs, target),
                      host_seconds(macs, target), transfer_seconds(nbytes, len(crossing), target))


# ---------------------------------------------------------------- numbers in messages


def format_macs(macs: int) -> str:
    for unit, size in (("GMACs", 1e9), ("MMACs", 1e6), ("kMACs", 1e3)):
        if macs >= size:
            return f"{macs / size:.1f} {unit}"
    return f"{macs} MAC" + ("" if macs == 1 else "s")


def format_seconds(seconds: float) -> str:
    if seconds <= 0:
        return "0 µs"
    if seconds < 1e-8:
        return f"{seconds * 1e9:.1f} ns"
    if seconds < 1e-5:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1e3:.2f} ms"


def format_bytes(nbytes: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} byte" + ("" if nbytes == 1 else "s")
