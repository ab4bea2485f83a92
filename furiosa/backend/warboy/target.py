"""The Warboy target description: every hardware number the compiler uses, in one place.

Facts come from ``docs/warboy.md`` (the published hardware facts with their public sources:
the vendor's SDK documentation, its MLPerf submissions and its compiler hardware file); each
field's metadata says where from, or says *modelling choice* when the number is the project's
own. Nothing else in the code
may write a hardware number: the supported-operator table, the cost model and the
simulator all read a :class:`TargetSpec`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import attrs

from furiosa.errors import FuriosaError

KIB = 1024
MIB = 1024 * KIB
GB = 1000**3


class UnknownTargetError(FuriosaError):
    """A target name the compiler does not know."""


def fact(value: object, doc: str, source: str) -> Any:
    """A field holding a published figure; ``source`` says where in docs/warboy.md."""
    return attrs.field(default=value, metadata={"doc": doc, "source": source})


def choice(value: object, doc: str) -> Any:
    """A field holding the project's own modelling choice; ``doc`` says why this value."""
    return attrs.field(default=value, metadata={"doc": doc, "source": "modelling choice"})


@attrs.frozen
class TargetSpec:
    """One NPU configuration. Immutable; its :meth:`hash` goes into cache keys and ENF headers."""

    name: str = attrs.field(metadata={"doc": "the --target-npu value", "source": "compiler spec"})
    pes: int = attrs.field(metadata={"doc": "processing elements used as one (1 alone, 2 fused)",
                                     "source": "chip table"})
    device: str = attrs.field(metadata={"doc": "device string in the vendor SDK's form",
                                        "source": "vendor SDK"})

    # ---- clock and compute
    clock_hz: float = fact(2.0e9, "core clock, Hz", "chip table: 2.0 GHz")
    slices_per_pe: int = fact(64, "slices per PE", "PE table: 64 (128 fused)")
    mac_array_width: int = fact(32, "MAC array width per slice", "PE table: 32 wide x 4 high")
    mac_array_height: int = fact(4, "MAC array height per slice", "PE table: 32 wide x 4 high")

    # ---- memory
    sram_per_slice: int = fact(256 * KIB, "usable SRAM per slice, bytes", "PE table: 256 KiB")
    sram_address_space_per_slice: int = fact(1 * MIB, "SRAM address space per slice, bytes",
                                             "PE table: 1 MiB")
    sram_access_bytes: int = fact(8, "SRAM access width, bytes", "hardware file")
    dram_bytes: int = fact(16 * GB, "DRAM size, bytes", "chip table: 16 GB (32 GB cards exist)")
    dram_bandwidth: float = fact(66e9, "peak DRAM bandwidth, bytes/s",
                                 "chip table: LPDDR4X-4266, 66 GB/s")
    dram_bulk_bytes: int = fact(32, "DRAM burst granularity, bytes", "hardware file: DRAM bulk")
    dma_alignment: int = fact(64, "DMA I/O alignment, bytes", "hardware file")
    host_link_bandwidth: float = fact(16e9, "host<->NPU bandwidth each way, bytes/s",
                                      "chip table: PCIe Gen4 x8 (derived)")
    instruction_memory: int = fact(256 * KIB, "instruction memory per PE, bytes", "hardware file")

    # ---- units named in the hardware file
    registers: int = fact(32, "registers", "hardware file")
    lut_ports_per_slice: int = fact(2, "lookup-table ports per slice (element-wise functions "
                                       "run as INT8 tables)", "hardware file")
    vector_register_file: int = fact(128, "vector engine register-file entries", "hardware file")
    accumulator_size: int = fact(4, "accumulator size", "hardware file")
    hop_cycles: int = fact(2, "cycles per network hop", "hardware file")
    control_delay_cycles: int = fact(2, "control delay, cycles", "hardware file")
    warmup_cycles: int = fact(20, "warm-up base, cycles", "hardware file")
    fetch_network_width: int = fact(16, "fetch network width", "hardware file")

    # ---- operator limits
    max_conv_group: int = fact(128, "Conv runs on the NPU with group <= this",
                               "supported operators")
    max_conv_dilation: int = fact(12, "Conv runs on the NPU with dilation <= this",
                                  "supported operators")
    max_softmax_batch: int = fact(2, "Softmax runs on the NPU with batch <= this",
                                  "supported operators")
    max_lpnorm_batch: int = fact(2, "LpNormalization runs on the NPU with batch <= this",
                                 "supported operators")
    lowering_width_multiple: int = fact(
        32, "lower/unlower and quantize/dequantize run on the NPU only when the last axis is "
            "width and its size is a multiple of this; otherwise on the host", "PE section")

    # ---- modelling choices
    host_link_latency_s: float = choice(
        5e-6, "fixed cost of one host<->NPU transfer, seconds: a typical PCIe DMA round trip, "
              "so that tiny NPU regions are not worth their transfers")
    min_region_macs: int = choice(
        1 << 20, "an NPU region doing fewer MACs than this, whose transfers cost more than it "
                 "saves, goes back to the host")
    host_macs_per_second: float = choice(
        5e10, "INT8 MACs per second the host sustains on an NPU region's work, which is what "
              "a region returned to the host costs: a 16-core 3 GHz CPU doing about one MAC "
              "per core per cycle on real layers")
    issue_cycles: int = choice(
        8, "cycles every instruction spends on its engine before its work starts (decode and "
           "operand set-up); the hardware file's control delay and hop cycles are of this order")
    dram_latency_cycles: int = choice(
        200, "cycles from a DMA request to its first DRAM byte: about 100 ns, typical of LPDDR4X")
    vector_lanes: int = choice(
        32, "elements the vector unit of one slice processes per cycle: one MAC-array row of "
            "accumulators per cycle, so requantizing keeps pace with a convolution")
    move_bytes_per_cycle: int = choice(
        16, "bytes per cycle one slice sends across slices: read as the hardware file's fetch "
            "network width, in bytes")
    tensor_axis_roles: str = choice(
        "NCHW", "axes are named from the end of a shape: width last, then height, channel, "
                "batch; tensors of rank other than 4 are read the same way")

    @property
    def slices(self) -> int:
        """Slices in all. spec: 64 per PE, 128 fused (derived)."""
        return self.slices_per_pe * self.pes

    @property
    def macs_per_cycle_per_slice(self) -> int:
        return self.mac_array_width * self.mac_array_height

    @property
    def macs_per_cycle(self) -> int:
        """spec: 8,192 for one PE, 16,384 fused (derived)."""
        return self.slices * self.macs_per_cycle_per_slice

    @property
    def sram_bytes(self) -> int:
        """spec: 16 MiB for one PE, 32 MiB fused (derived)."""
        return self.slices * self.sram_per_slice

    @property
    def peak_ops_per_second(self) -> float:
        """Two ops (multiply, add) per MAC per cycle. spec: 32.8 / 65.5 TOPS (derived)."""
        return 2.0 * self.macs_per_cycle * self.clock_hz

    def as_dict(self) -> dict[str, object]:
        return attrs.asdict(self)

    def hash(self) -> str:
        """A stable digest of every field: the same description always gives the same hash."""
        text = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


WARBOY = TargetSpec(name="warboy", pes=1, device="warboy(1)*1")
WARBOY_2PE = TargetSpec(name="warboy-2pe", pes=2, device="warboy(2)*1")

TARGETS: dict[str, TargetSpec] = {t.name: t for t in (WARBOY, WARBOY_2PE)}


def render_markdown() -> str:
    """docs/target.md: every parameter, its value per target, and its source."""
    lines = [
        "# The Warboy target description",
        "",
        "<!-- Generated by `python -m furiosa.backend.warboy.target > docs/target.md` from",
        "     furiosa/backend/warboy/target.py; a test fails when this page is stale. -->",
        "",
        "`furiosa/backend/warboy/target.py` holds every hardware number the compiler uses, one",
        "immutable `TargetSpec` per `--target-npu` value; the supported-operator table, the cost",
        "model and the simulator all read it, and no number is written anywhere else. Published",
        "figures come from [`docs/warboy.md`](warboy.md) (the source column says where); the rows",
        "marked *modelling choice* are the project's own. The description's SHA-256 (`hash()`)",
        "goes into compiler-cache keys and ENF headers.",
        "",
        "| parameter | " + " | ".join(f"`{t.name}`" for t in TARGETS.values()) + " | meaning | source |",
        "|---|" + "---|" * len(TARGETS) + "---|---|",
    ]
    for f in attrs.fields(TargetSpec):
        is_bytes = "bytes" in f.metadata["doc"]
        values = " | ".join(_format_value(getattr(t, f.name), is_bytes) for t in TARGETS.values())
        source = f.metadata["source"]
        source = "*modelling choice*" if source == "modelling choice" else source
        lines.append(f"| `{f.name}` | {values} | {f.metadata['doc']} | {source} |")
    lines += ["", "Derived figures:", "",
              "| figure | " + " | ".join(f"`{t.name}`" for t in TARGETS.values()) + " |",
              "|---|" + "---|" * len(TARGETS)]
    derived = [("slices", lambda t: t.slices), ("MACs per cycle", lambda t: t.macs_per_cycle),
               ("SRAM in all", lambda t: f"{t.sram_bytes // MIB} MiB"),
               ("peak INT8", lambda t: f"{t.peak_ops_per_second / 1e12:.1f} TOPS")]
    for label, fn in derived:
        lines.append(f"| {label} | " + " | ".join(str(fn(t)) for t in TARGETS.values()) + " |")
    lines += ["", "Target hashes: " + ", ".join(f"`{t.name}` {t.hash()[:16]}…" for t in TARGETS.values()), ""]
    return "\n".join(lines)


def _format_value(v: object, is_bytes: bool) -> str:
    if isinstance(v, float) and v >= 1e9:
        return f"{v / 1e9:g}e9"
    if not is_bytes or isinstance(v, bool) or not isinstance(v, int):
        return str(v)
    if v >= GB and v % GB == 0:
        return f"{v // GB} GB"
    if v >= MIB and v % MIB == 0:
        return f"{v // MIB} MiB"
    if v >= KIB and v % KIB == 0:
        return f"{v // KIB} KiB"
    return str(v)


def get_target(name: str) -> TargetSpec:
    """The description named ``name`` (``warboy`` or ``warboy-2pe``)."""
    try:
        return TARGETS[name]
    except KeyError:
        raise UnknownTargetError(
            f"unknown target NPU '{name}' (known: {', '.join(TARGETS)})") from None


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_markdown())
