"""Helpers: run one instruction on a fresh machine of a target."""

from __future__ import annotations

import numpy as np

from furiosa.backend.warboy.isa import DType, Instruction, MemRef, Space
from furiosa.backend.warboy.simulator import Machine
from furiosa.backend.warboy.target import TargetSpec

DTYPES = {np.dtype(np.int8): DType.I8, np.dtype(np.uint8): DType.U8,
          np.dtype(np.int32): DType.I32, np.dtype(np.float32): DType.F32}


class Sram:
    """Places per-slice arrays in SRAM one after another (64-byte aligned)."""

    def __init__(self, machine: Machine, slices: int, first: int = 0) -> None:
        self.machine = machine
        self.slices = slices
        self.first = first
        self.next = 0

    def alloc(self, shape: tuple[int, ...], dtype: DType) -> MemRef:
        m = MemRef(Space.SRAM, dtype, shape, self.next, self.first, self.slices)
        self.next = -(-(self.next + m.bytes_per_slice) // 64) * 64
        return m

    def put(self, array: np.ndarray) -> MemRef:
        """``array`` is (slices, *per-slice shape)."""
        assert array.shape[0] == self.slices
        m = self.alloc(array.shape[1:], DTYPES[array.dtype])
        self.machine.write(m, array, "test")
        return m


def run(machine: Machine, inst: Instruction) -> None:
    machine.execute(inst, 0)


def fresh(target: TargetSpec) -> tuple[Machine, Sram]:
    machine = Machine(target, 1 << 20, 1 << 16)
    return machine, Sram(machine, target.slices)
