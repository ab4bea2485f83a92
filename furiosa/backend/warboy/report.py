"""What runs where: the per-op placement report behind ``furiosa ops MODEL``.

The model goes through the same passes as a compile up to partitioning (QDQ folding,
the vendor's pre-legalization rewrites, legalization and partitioning), then every op
of the result is reported under the user's own node name: its operator, NPU or host,
and — for the host — the reason and the suggested fix; then the op counts, the regions
and the share of the model's MACs that run on the NPU.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs

from furiosa.backend.warboy.cost import op_macs
from furiosa.backend.warboy.legalize import FIX, PLACEMENT, REASON
from furiosa.backend.warboy.supported import operator_name
from furiosa.ir.core import Operation
from furiosa.ir.dialects.func import Call
from furiosa.ir.dialects.onnx.base import Constant
from furiosa.ir.module import Module
from furiosa.passes import PassManager, PassRegistry


def analysis_pipeline(target: str, batch_size: int, host_small_regions: bool = False) -> str:
    """The compile pipeline up to partitioning, for ``target`` at ``batch_size``."""
    partition = f"partition{{target={target}" + (
        ",host-small-regions=true}" if host_small_regions else "}")
    return ",".join([
        "fold-qdq", "canonicalize", "name-ops", f"fix-batch{{batch={batch_size}}}",
        "negative-pad-to-slice", "fold-batchnorm", "fold-conv-mul-add", "rewrite-prelu",
        "canonicalize", f"legalize{{target={target}}}", partition,
    ])


@attrs.frozen
class OpPlacement:
    name: str
    operator: str
    placement: str  # "npu" or "host"
    reason: str
    fix: str
    macs: int
    region: int | None


@attrs.frozen
class PlacementReport:
    model: str
    target: str
    batch_size: int
    ops: tuple[OpPlacement, ...]

    @property
    def regions(self) -> int:
        return len({o.region for o in self.ops if o.region is not None})

    @property
    def macs(self) -> int:
        return sum(o.macs for o in self.ops)

    @property
    def npu_macs(self) -> int:
        return sum(o.macs for o in self.ops if o.placement == "npu")

    def summary(self) -> dict[str, Any]:
        npu = sum(1 for o in self.ops if o.placement == "npu")
        return {
            "ops": len(self.ops), "npu_ops": npu, "host_ops": len(self.ops) - npu,
            "regions": self.regions, "macs": self.macs, "npu_macs": self.npu_macs,
            "npu_mac_share": self.npu_macs / self.macs if self.macs else 0.0,
            "host_operators": dict(sorted(Counter(
                o.operator for o in self.ops if o.placement == "host").items())),
        }

    def as_json(self) -> dict[str, Any]:
        return {"model": self.model, "target": self.target, "batch_size": self.batch_size,
                "ops": [attrs.asdict(o) for o in self.ops], "summary": self.summary()}

    def as_text(self) -> str:
        rows = [("op", "operator", "runs on", "reason", "suggested fix")]
        for o in self.ops:
            where = f"NPU (region {o.region})" if o.placement == "npu" and o.region is not None \
                else o.placement.upper() if o.placement == "npu" else "host"
            rows.append((o.name, o.operator, where, o.reason, o.fix))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = []
        for r in rows:
            head = "  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True))
            tail = "  ".join(c for c in r[3:] if c)
            lines.append(f"{head}  {tail}".rstrip())
        s = self.summary()
        lines += [
            "",
            f"{self.model} on {self.target}, batch {self.batch_size}: {s['ops']} ops, "
            f"{s['npu_ops']} on the NPU in {s['regions']} region(s), {s['host_ops']} on the host",
            f"MACs: {s['npu_macs']:,} of {s['macs']:,} on the NPU ({100 * s['npu_mac_share']:.1f}%)",
        ]
        if s["host_operators"]:
            lines.append("on the host: " + ", ".join(f"{k} x{v}" for k, v in s["host_operators"].items()))
        return "\n".join(lines) + "\n"


def place(module: Module, target: str = "warboy", batch_size: int = 1,
          model_name: str = "model", *, registry: PassRegistry,
          host_small_regions: bool = False) -> PlacementReport:
    """Run the analysis pipeline on ``module`` (in place) and report every op's placement, in
    program order: a region's ops where the host function calls it."""
    PassManager(analysis_pipeline(target, batch_size, host_small_regions),
                registry=registry).run(module)
    regions = {f.name: k for k, f in enumerate(
        module.function(op.callee) for op in module.main.block if isinstance(op, Call))}
    rows = []

    def report(op: Operation, region: int | None) -> None:
        if isinstance(op, Constant):
            return
        on_npu = region is not None or op.extra.get(PLACEMENT) == "npu"
        rows.append(OpPlacement(
            name=op.loc or op.OP_NAME, operator=operator_name(op),
            placement="npu" if on_npu else "host",
            reason="" if on_npu else str(op.extra.get(REASON, "")),
            fix="" if on_npu else str(op.extra.get(FIX, "")),
            macs=op_macs(op), region=region))

    for op in module.main.block:
        if isinstance(op, Call) and op.callee in regions:
            for inner in module.function(op.callee).block:
                report(inner, regions[op.callee])
        else:
            report(op, None)
    return PlacementReport(model_name, target, batch_size, tuple(rows))
