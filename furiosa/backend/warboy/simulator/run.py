"""Running an ENF on the simulator: functional results, timelines, reports and traces.

Instructions issue in program order. Each engine keeps one timeline: an instruction starts when
every instruction it waits for has finished and its engine is free, and keeps the engine busy
for the cycles of :func:`~furiosa.backend.warboy.simulator.timing.cost`. When an engine is free
but must wait for a dependency, the idle cycles are a stall, charged to the user op of the
dependency that finished last (the op that caused it). Programs run one after another.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import attrs
import numpy as np

from furiosa.backend.warboy.enf.format import Enf, TensorDesc
from furiosa.backend.warboy.isa.instructions import DType, Engine
from furiosa.backend.warboy.simulator.functional import Machine, SimulatorError
from furiosa.backend.warboy.simulator.timing import cost
from furiosa.backend.warboy.target import TargetSpec, get_target

_LOAD = {"host.load", "dma.load"}
_STORE = {"host.store", "dma.store"}


@attrs.define
class OpStats:
    """Per user op: cycles its instructions kept their engines busy, by kind, and its stalls."""

    name: str
    load_cycles: int = 0
    compute_cycles: int = 0
    store_cycles: int = 0
    macs: int = 0
    stall_cycles_caused: int = 0
    instructions: int = 0


@attrs.define
class TraceEvent:
    program: int
    index: int
    opcode: str
    engine: Engine
    op: str
    start: int
    cycles: int


@attrs.define
class Report:
    target: str
    clock_hz: float
    total_cycles: int = 0
    macs: int = 0
    mac_peak_per_cycle: int = 0
    dram_read_bytes: int = 0
    dram_write_bytes: int = 0
    host_to_npu_bytes: int = 0
    npu_to_host_bytes: int = 0
    sram_peak_bytes_per_slice: int = 0
    sram_peak_bytes: int = 0
    stall_cycles: int = 0
    engine_busy_cycles: dict[str, int] = attrs.Factory(dict)
    ops: dict[str, OpStats] = attrs.Factory(dict)

    @property
    def latency_s(self) -> float:
        return self.total_cycles / self.clock_hz

    @property
    def mac_utilisation(self) -> float:
        if not self.total_cycles:
            return 0.0
        return self.macs / (self.total_cycles * self.mac_peak_per_cycle)

    def as_json(self) -> dict[str, object]:
        return {
            "target": self.target, "total_cycles": self.total_cycles,
            "latency_ms": self.latency_s * 1e3, "macs": self.macs,
            "mac_utilisation": self.mac_utilisation,
            "dram_read_bytes": self.dram_read_bytes, "dram_write_bytes": self.dram_write_bytes,
            "host_to_npu_bytes": self.host_to_npu_bytes, "npu_to_host_bytes": self.npu_to_host_bytes,
            "sram_peak_bytes": self.sram_peak_bytes,
            "sram_peak_bytes_per_slice": self.sram_peak_bytes_per_slice,
            "stall_cycles": self.stall_cycles, "engine_busy_cycles": self.engine_busy_cycles,
            "ops": [attrs.asdict(s) for s in self.ops.values()],
        }

    def as_text(self) -> str:
        lines = [
            f"target {self.target}: {self.total_cycles} cycles, "
            f"{self.latency_s * 1e3:.4f} ms at {self.clock_hz / 1e9:g} GHz",
            f"MACs {self.macs}, MAC utilisation {self.mac_utilisation * 100:.1f} %",
            f"DRAM read {self.dram_read_bytes} B, written {self.dram_write_bytes} B; "
            f"host->NPU {self.host_to_npu_bytes} B, NPU->host {self.npu_to_host_bytes} B",
            f"SRAM peak {self.sram_peak_bytes} B ({self.sram_peak_bytes_per_slice} B in the "
            f"fullest slice); stalls {self.stall_cycles} cycles",
            "engines busy: " + ", ".join(f"{k} {v}" for k, v in self.engine_busy_cycles.items()),
            "",
        ]
        width = max([len(n) for n in self.ops] + [7])
        lines.append(f"{'op'.ljust(width)}  {'load':>10} {'compute':>10} {'store':>10} "
                     f"{'stalls':>10} {'MACs':>14}")
        for s in self.ops.values():
            lines.append(f"{s.name.ljust(width)}  {s.load_cycles:>10} {s.compute_cycles:>10} "
                         f"{s.store_cycles:>10} {s.stall_cycles_caused:>10} {s.macs:>14}")
        return "\n".join(lines) + "\n"


@attrs.define
class SimResult:
    outputs: dict[str, np.ndarray]
    report: Report
    trace: list[TraceEvent]
    machine: Machine | None = None
    """The final memories, when asked for with ``keep_machine`` (for tests and benchmarks)."""

    def chrome_trace(self) -> str:
        """Chrome-trace JSON (opens in Perfetto): one track per engine, times in microseconds."""
        us = 1e6 / self.report.clock_hz
        events: list[dict[str, object]] = [
            {"ph": "M", "pid": 0, "name": "process_name", "args": {"name": f"NPU {self.report.target}"}}]
        for e in Engine:
            events.append({"ph": "M", "pid": 0, "tid": int(e), "name": "thread_name",
                           "args": {"name": e.text}})
            events.append({"ph": "M", "pid": 0, "tid": int(e), "name": "thread_sort_index",
                           "args": {"sort_index": int(e)}})
        for ev in self.trace:
            events.append({"ph": "X", "pid": 0, "tid": int(ev.engine), "name": ev.opcode,
                           "ts": ev.start * us, "dur": ev.cycles * us, "cat": ev.op,
                           "args": {"op": ev.op, "program": ev.program, "instruction": ev.index,
                                    "start_cycle": ev.start, "cycles": ev.cycles}})
        return json.dumps({"traceEvents": events, "displayTimeUnit": "ns"}, indent=None) + "\n"


def _array_for(t: TensorDesc) -> tuple[np.dtype, tuple[int, ...]]:
    return DType[t.dtype.upper()].numpy, t.shape


def random_inputs(enf: Enf, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random values for every input of ``enf`` (uniform over the element type)."""
    rng = np.random.default_rng(seed)
    out = {}
    for t in enf.header.inputs:
        dtype, shape = _array_for(t)
        if dtype.kind == "f":
            out[t.name] = rng.standard_normal(shape).astype(dtype)
        else:
            info = np.iinfo(dtype)
            out[t.name] = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    return out


def simulate(enf: Enf, inputs: Mapping[str, np.ndarray], target: TargetSpec | None = None,
             keep_machine: bool = False) -> SimResult:
    """Run every NPU program of ``enf`` on ``inputs``; the outputs, a report and the trace."""
    t = target or get_target(enf.header.target)
    machine = Machine(t, enf.header.dram_bytes, enf.header.host_bytes)
    machine.dram[:enf.constants.size] = enf.constants
    known = {d.name for d in enf.header.inputs}
    for name in inputs:
        if name not in known:
            raise SimulatorError(f"the ENF has no input named '{name}' (inputs: {', '.join(sorted(known))})")
    for d in enf.header.inputs:
        if d.name not in inputs:
            raise SimulatorError(f"no value given for input '{d.name}'")
        dtype, shape = _array_for(d)
        value = np.asarray(inputs[d.name])
        if value.shape != shape or value.dtype != dtype:
            raise SimulatorError(f"input '{d.name}' must be {dtype} {list(shape)}, not "
                                 f"{value.dtype} {list(value.shape)}")
        machine.host[d.host_address:d.host_address + d.nbytes] = \
            np.ascontiguousarray(value).view(np.uint8).reshape(-1)

    report = Report(t.name, t.clock_hz, mac_peak_per_cycle=t.macs_per_cycle)
    report.engine_busy_cycles = {e.text: 0 for e in Engine}
    report.ops = {name: OpStats(name) for name in enf.op_names}
    trace: list[TraceEvent] = []
    clock = 0
    for pi, program in enumerate(enf.programs):
        free = dict.fromkeys(Engine, clock)
        end: list[int] = []
        names = program.op_names or ("(program)",)
        for name in names:
            report.ops.setdefault(name, OpStats(name))
        for i, inst in enumerate(program.instructions):
            machine.execute(inst, i)
            c = cost(inst, t)
            engine = inst.engine
            ready = max((end[d] for d in inst.deps), default=clock)
            start = max(ready, free[engine])
            if ready > free[engine]:
                # The engine sat idle waiting: blame the op whose instruction finished last.
                cause = max(inst.deps, key=lambda d: end[d])
                culprit = names[program.instructions[cause].op]
                report.ops[culprit].stall_cycles_caused += ready - free[engine]
                report.stall_cycles += ready - free[engine]
            end.append(start + c.cycles)
            free[engine] = start + c.cycles
            stats = report.ops[names[inst.op]]
            stats.instructions += 1
            stats.macs += c.macs
            if inst.opcode in _LOAD:
                stats.load_cycles += c.cycles
            elif inst.opcode in _STORE:
                stats.store_cycles += c.cycles
            else:
                stats.compute_cycles += c.cycles
            report.engine_busy_cycles[engine.text] += c.cycles
            report.macs += c.macs
            report.dram_read_bytes += c.dram_read
            report.dram_write_bytes += c.dram_write
            report.host_to_npu_bytes += c.host_to_npu
            report.npu_to_host_bytes += c.npu_to_host
            trace.append(TraceEvent(pi, i, inst.opcode, engine, names[inst.op], start, c.cycles))
        clock = max([clock, *end])
    report.total_cycles = clock
    report.sram_peak_bytes_per_slice = int(machine.sram_high.max(initial=0))
    report.sram_peak_bytes = int(machine.sram_high.sum())
    outputs = {}
    for d in enf.header.outputs:
        dtype, shape = _array_for(d)
        outputs[d.name] = machine.host[d.host_address:d.host_address + d.nbytes].view(dtype).reshape(shape).copy()
    return SimResult(outputs, report, trace, machine if keep_machine else None)
