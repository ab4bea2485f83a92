"""The timing model against physics: nothing beats the MAC peak, DRAM or the host link; large
work gets close to them; overlapped engines cost the maximum, not the sum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from furiosa.backend.warboy.enf import Enf, Header
from furiosa.backend.warboy.isa import DType, Instruction, MemRef, Program, Space, make
from furiosa.backend.warboy.simulator import cost, simulate
from furiosa.backend.warboy.target import TARGETS, TargetSpec

TARGET_LIST = list(TARGETS.values())


def run_program(target: TargetSpec, insts: list[Instruction], dram: int = 1 << 20):
    header = Header("test", target.name, target.hash(), 1, "", "", (), (), dram, 0)
    program = Program("p", ("op-a", "op-b"), tuple(insts))
    program.check()
    return simulate(Enf(header, (program,), "", np.zeros(0, np.uint8), program.op_names), {})


def sram(target: TargetSpec, shape: tuple[int, ...], dtype: DType, address: int) -> MemRef:
    return MemRef(Space.SRAM, dtype, shape, address, 0, target.slices)


def gemm(target: TargetSpec, rows: int = 128, depth: int = 1024, cols: int = 64, op: int = 0,
         deps: tuple[int, ...] = ()) -> Instruction:
    a = sram(target, (rows, depth), DType.I8, 0)
    b = sram(target, (depth, cols), DType.I8, rows * depth)
    dst = sram(target, (rows, cols), DType.I32, rows * depth + depth * cols)
    return make("mac.matmul", dst=dst, a=a, b=b, op=op, deps=deps)


@pytest.mark.parametrize("target", TARGET_LIST, ids=lambda t: t.name)
def test_large_gemm_reaches_but_never_beats_mac_peak(target: TargetSpec) -> None:
    report = run_program(target, [gemm(target)]).report
    assert report.macs == target.slices * 128 * 1024 * 64
    assert report.mac_utilisation <= 1.0
    assert report.mac_utilisation >= 0.9, report.mac_utilisation


@pytest.mark.parametrize("target", TARGET_LIST, ids=lambda t: t.name)
def test_large_dram_copy_reaches_but_never_beats_dram_bandwidth(target: TargetSpec) -> None:
    per_slice = 128 * 1024
    tile = sram(target, (per_slice,), DType.I8, 0)
    whole = MemRef(Space.DRAM, DType.I8, (target.slices * per_slice,), 0)
    for inst in (make("dma.load", dst=tile, src=whole), make("dma.store", dst=whole, src=tile)):
        report = run_program(target, [inst], dram=target.slices * per_slice).report
        bandwidth = target.slices * per_slice / report.latency_s
        assert bandwidth <= target.dram_bandwidth
        assert bandwidth >= 0.9 * target.dram_bandwidth, bandwidth / target.dram_bandwidth


def test_large_host_transfer_never_beats_the_host_link() -> None:
    target = TARGETS["warboy"]
    n = 32 << 20
    inst = make("host.load", dst=MemRef(Space.DRAM, DType.I8, (n,), 0),
                src=MemRef(Space.HOST, DType.I8, (n,), 0))
    seconds = cost(inst, target).cycles / target.clock_hz
    assert 0.9 * target.host_link_bandwidth <= n / seconds <= target.host_link_bandwidth


@pytest.mark.parametrize("target", TARGET_LIST, ids=lambda t: t.name)
def test_dma_overlapped_with_compute_costs_the_max_not_the_sum(target: TargetSpec) -> None:
    load = make("dma.load", dst=sram(target, (96 * 1024,), DType.I8, 160 * 1024), op=1,
                src=MemRef(Space.DRAM, DType.I8, (target.slices * 96 * 1024,), 0))
    compute = gemm(target, rows=64, depth=1024, cols=64)
    alone = [run_program(target, [i], dram=16 << 20).report.total_cycles for i in (load, compute)]
    both = run_program(target, [load, compute], dram=16 << 20).report
    assert both.total_cycles == max(alone) < sum(alone)
    # The same two with a dependency: now they serialise, and the wait is a stall of op-a.
    chained = run_program(target, [load, gemm(target, rows=64, depth=1024, cols=64, deps=(0,))],
                          dram=16 << 20).report
    assert chained.total_cycles == sum(alone)
    assert chained.ops["op-b"].stall_cycles_caused == alone[0]


@settings(max_examples=150, deadline=None)
@given(rows=st.integers(1, 300), depth=st.integers(1, 3000), cols=st.integers(1, 300),
       slices=st.integers(1, 128), kernel=st.sampled_from([1, 3, 5, 7]),
       group=st.sampled_from([1, 2, 4]))
def test_no_mac_instruction_beats_peak(rows: int, depth: int, cols: int, slices: int,
                                       kernel: int, group: int) -> None:
    target = TARGETS["warboy-2pe"]
    per = target.macs_per_cycle_per_slice
    mm = make("mac.matmul", dst=MemRef(Space.SRAM, DType.I32, (rows, cols), 0, 0, slices),
              a=MemRef(Space.SRAM, DType.I8, (rows, depth), 0, 0, slices),
              b=MemRef(Space.SRAM, DType.I8, (depth, cols), 0, 0, slices))
    c = cost(mm, target)
    assert c.macs <= c.cycles * per * slices
    channels = 4 * group
    conv = make("mac.conv", dst=MemRef(Space.SRAM, DType.I32, (cols % 64 + group, rows % 9 + 1, 8), 0, 0, slices),
                src=MemRef(Space.SRAM, DType.I8, (channels, rows % 9 + kernel, 8 + kernel - 1), 0, 0, slices),
                weights=MemRef(Space.SRAM, DType.I8, ((cols % 64 + group) // group * group, channels // group, kernel, kernel), 0, 0, slices),
                group=group)
    c = cost(conv, target)
    assert c.macs <= c.cycles * per * slices


@settings(max_examples=150, deadline=None)
@given(per_slice=st.integers(1, 200_000), slices=st.integers(1, 128),
       address=st.integers(0, 1 << 20), broadcast=st.booleans())
def test_no_dma_beats_dram_bandwidth(per_slice: int, slices: int, address: int,
                                     broadcast: bool) -> None:
    target = TARGETS["warboy-2pe"]
    total = per_slice if broadcast else per_slice * slices
    inst = make("dma.load", dst=MemRef(Space.SRAM, DType.I8, (per_slice,), 0, 0, slices),
                src=MemRef(Space.DRAM, DType.I8, (total,), address), broadcast=int(broadcast))
    c = cost(inst, target)
    assert c.dram_read / (c.cycles / target.clock_hz) <= target.dram_bandwidth
