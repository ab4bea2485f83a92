"""Timing: how many cycles an instruction keeps its engine busy (``docs/simulator.md``).

Every parameter is read from the :class:`TargetSpec`; the formulas:

* every instruction: ``issue_cycles`` before its work starts;
* host link: ``host_link_latency_s · clock + bytes / (host_link_bandwidth / clock)``;
* DMA: ``dram_latency_cycles + dram_bytes / (dram_bandwidth / clock)``, where the DRAM bytes
  are the tile's bytes widened to ``dma_alignment`` at both ends, and each slice's chunk
  rounded up to ``dram_bulk_bytes``; a broadcast reads DRAM once;
* MAC arrays (per slice, all slices in parallel): ``warmup_cycles + groups · ⌈M_g / height⌉ ·
  ⌈K / width⌉ · positions`` with ``K`` the reduction depth (``C/g · KH · KW``, or the inner
  dimension of a matrix product) spread over the array's width and the output channels
  ``M_g`` (or columns) over its height: the padding to the array's shape is the waste;
* vector unit: ``⌈work / vector_lanes⌉`` with ``work`` the elements per slice (times the
  kernel taps for a pool);
* table unit: ``⌈elements per slice / lut_ports_per_slice⌉``;
* cross-slice move: ``⌈bytes per slice / move_bytes_per_cycle⌉ + hop_cycles · distance``,
  the distance being the largest slice-index offset between source and destination.
"""

from __future__ import annotations

import math

import attrs

from furiosa.backend.warboy.isa.instructions import Engine, Instruction, MemRef, Space
from furiosa.backend.warboy.target import TargetSpec


@attrs.frozen
class Cost:
    """An instruction's duration and what it moved or computed."""

    cycles: int
    macs: int = 0
    dram_read: int = 0
    dram_write: int = 0
    host_to_npu: int = 0
    npu_to_host: int = 0


def _ceil(a: float, b: float) -> int:
    return math.ceil(a / b)


def _dram_span(m: MemRef, align: int) -> int:
    start = m.address - m.address % align
    end = m.address + m.total_bytes
    return _ceil(end, align) * align - start


def cost(inst: Instruction, t: TargetSpec) -> Cost:
    """The duration in cycles of ``inst`` on target ``t``, and its traffic."""
    name = inst.opcode
    dst = inst.operand("dst")
    assert dst is not None
    issue = t.issue_cycles
    if inst.engine == Engine.HOST:
        src = inst.operand("src")
        assert src is not None
        nbytes = src.total_bytes
        cycles = issue + _ceil(t.host_link_latency_s * t.clock_hz, 1) + _ceil(
            nbytes * t.clock_hz, t.host_link_bandwidth)
        if name == "host.load":
            return Cost(cycles, dram_write=nbytes, host_to_npu=nbytes)
        return Cost(cycles, dram_read=nbytes, npu_to_host=nbytes)
    if inst.engine == Engine.DMA:
        sram, dram = (dst, inst.operand("src")) if name == "dma.load" else (inst.operand("src"), dst)
        assert sram is not None and dram is not None
        per_slice = sram.bytes_per_slice
        if name == "dma.load" and inst.attr("broadcast"):
            dram_bytes = _ceil(_dram_span(dram, t.dma_alignment), t.dram_bulk_bytes) * t.dram_bulk_bytes
        else:
            chunks = sram.slice_count * _ceil(per_slice, t.dram_bulk_bytes) * t.dram_bulk_bytes
            dram_bytes = max(_dram_span(dram, t.dma_alignment), chunks)
        cycles = issue + t.dram_latency_cycles + _ceil(dram_bytes * t.clock_hz, t.dram_bandwidth)
        if name == "dma.load":
            return Cost(cycles, dram_read=dram.total_bytes)
        return Cost(cycles, dram_write=dram.total_bytes)
    if inst.engine == Engine.MAC:
        width, height = t.mac_array_width, t.mac_array_height
        if name == "mac.conv":
            src, w = inst.operand("src"), inst.operand("weights")
            assert src is not None and w is not None
            g = int(inst.attr("group"))  # type: ignore[arg-type]
            m, cg, kh, kw = w.shape
            positions = math.prod(dst.shape[1:])
            depth = cg * kh * kw
            cycles = g * _ceil(m // g, height) * _ceil(depth, width) * positions
            macs = dst.slice_count * m * positions * depth
        else:
            a, b = inst.operand("a"), inst.operand("b")
            assert a is not None and b is not None
            rows, depth = a.shape
            cols = b.shape[1]
            cycles = _ceil(cols, height) * _ceil(depth, width) * rows
            macs = dst.slice_count * rows * cols * depth
        return Cost(issue + t.warmup_cycles + cycles, macs=macs)
    if inst.engine == Engine.VECTOR:
        work = dst.elements_per_slice
        if name == "vec.pool":
            kh, kw = inst.attr("kernel")  # type: ignore[misc]
            work *= kh * kw
        elif name == "vec.reduce":
            src = inst.operand("src")
            assert src is not None
            work = src.elements_per_slice
        return Cost(issue + _ceil(work, t.vector_lanes))
    if inst.engine == Engine.TABLE:
        return Cost(issue + _ceil(dst.elements_per_slice, t.lut_ports_per_slice))
    src = inst.operand("src")
    assert src is not None and src.space == Space.SRAM
    distance = max(abs(dst.slice_first - src.slice_first),
                   abs(dst.slice_first + dst.slice_count - src.slice_first - src.slice_count))
    return Cost(issue + _ceil(dst.bytes_per_slice, t.move_bytes_per_cycle)
                + t.hop_cycles * distance)
