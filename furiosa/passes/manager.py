"""The pass manager: runs a pipeline, verifying after each pass, printing IR and timing on request.

The same pipeline strings drive ``furiosa opt`` and the Python API::

    pm = PassManager("canonicalize{max-iterations=4}", print_ir_after_change=True)
    pm.run(module)
    print(pm.timing_report())
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Sequence
from typing import TextIO

import attrs

from furiosa.errors import PassError, VerifyError
from furiosa.ir.module import Function, Module
from furiosa.ir.printer import print_module
from furiosa.ir.verifier import verify_module
from furiosa.passes.base import ModulePass, PassContext
from furiosa.passes.pipeline import PipelineElement, build_pipeline, format_pipeline
from furiosa.passes.registry import PassRegistry


@attrs.define
class PassRecord:
    """What one pass did in one run: its time, whether the IR changed, its statistics."""

    name: str
    seconds: float
    changed: bool
    statistics: dict[str, int]


class PassManager:
    def __init__(self, pipeline: str | Sequence[PipelineElement | ModulePass], *,
                 verify: bool = True, print_ir_before_all: bool = False,
                 print_ir_after_all: bool = False, print_ir_after_change: bool = False,
                 stream: TextIO | None = None, registry: PassRegistry | None = None) -> None:
        self.passes = build_pipeline(pipeline, registry)
        self.verify = verify
        self.print_ir_before_all = print_ir_before_all
        self.print_ir_after_all = print_ir_after_all
        self.print_ir_after_change = print_ir_after_change
        self.stream = stream
        self.records: list[PassRecord] = []
        self.verify_seconds = 0.0

    @property
    def pipeline(self) -> str:
        return format_pipeline(self.passes)

    def _out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stderr

    def _dump(self, when: str, p: ModulePass, module: Module) -> None:
        self._out().write(f"// -----// IR Dump {when} {p.pipeline_text()} //----- //\n")
        self._out().write(print_module(module))
        self._out().write("\n")

    def run(self, unit: Module | Function) -> Module:
        """Run every pass on a module in place and return it. A function given alone runs as
        the module it belongs to (one made for it when it stands alone)."""
        module = Module.of(unit)
        track_change = self.print_ir_after_change
        for p in self.passes:
            if self.print_ir_before_all:
                self._dump("Before", p, module)
            before = _fingerprint(module) if track_change else b""
            ctx = PassContext()
            start = time.perf_counter()
            p.run(module, ctx)
            elapsed = time.perf_counter() - start
            changed = track_change and _fingerprint(module) != before
            self.records.append(PassRecord(p.NAME, elapsed, changed, dict(ctx.statistics)))
            if self.verify:
                vstart = time.perf_counter()
                try:
                    verify_module(module)
                except VerifyError as e:
                    raise PassError(f"pass '{p.NAME}' produced invalid IR: {e}") from None
                self.verify_seconds += time.perf_counter() - vstart
            if self.print_ir_after_all or (self.print_ir_after_change and changed):
                self._dump("After", p, module)
        return module

    def timing_report(self) -> str:
        """Per-pass wall time, in pipeline order, with the verifier's share."""
        total = sum(r.seconds for r in self.records) + self.verify_seconds
        rule = "===" + "-" * 70 + "==="
        lines = [rule, "  Pass execution timing report".center(76), rule,
                 f"  Total Execution Time: {total:.4f} seconds", "",
                 "  ----Wall Time----  ----Name----"]
        denom = total or 1.0
        for r in self.records:
            lines.append(f"  {r.seconds:8.4f} ({100 * r.seconds / denom:5.1f}%)  {r.name}")
        if self.verify:
            lines.append(f"  {self.verify_seconds:8.4f} ({100 * self.verify_seconds / denom:5.1f}%)"
                         "  (verifier)")
        lines.append(f"  {total:8.4f} (100.0%)  Total")
        return "\n".join(lines) + "\n"

    def statistics_report(self) -> str:
        """Each pass's counters, in pipeline order."""
        lines = [f"Pass statistics for pipeline '{self.pipeline}':"]
        for r in self.records:
            lines.append(f"  {r.name}")
            if not r.statistics:
                lines.append("    (none)")
            for key in sorted(r.statistics):
                lines.append(f"    {r.statistics[key]:8d}  {key}")
        return "\n".join(lines) + "\n"


def _fingerprint(module: Module) -> bytes:
    return hashlib.sha256(print_module(module).encode()).digest()


def run_pipeline(module: Module | Function, pipeline: str, **kwargs: object) -> Module:
    """Shorthand: ``PassManager(pipeline, **kwargs).run(module)``."""
    return PassManager(pipeline, **kwargs).run(module)  # type: ignore[arg-type]
