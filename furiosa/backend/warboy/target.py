"""The Warboy target description: every hardware number the compiler uses, in one place.

Facts come from ``shared/spec/warboy.md`` (the vendor's SDK documentation, its MLPerf
submissions and its compiler hardware file); each field's docstring says where from, or
says *modelling choice* when the number is the project's own. Nothing else in the code
may write a hardware number: the supported-operator table, the cost model and the
simulator all read a :class:`TargetSpec`.
"""

from __future__ import annotations

import hashlib
import json

import attrs

from furiosa.errors import FuriosaError

KIB = 1024
MIB = 1024 * KIB
GB = 1000**3


class UnknownTargetError(FuriosaError):
    """A target name the compiler does not know."""


@attrs.frozen
class TargetSpec:
    """One NPU configuration. Immutable; its :meth:`hash` goes into cache keys and ENF headers."""

    name: str
    """The ``--target-npu`` value."""
    pes: int
    """Processing elements used as one (1 alone, 2 fused). spec: chip table."""
    device: str
    """Device string in the vendor SDK's form (``warboy(1)*1``)."""

    # ---- clock and compute (spec: chip table, PE table)
    clock_hz: float = 2.0e9
    """Core clock. spec: 2.0 GHz."""
    slices_per_pe: int = 64
    """Slices per PE. spec: 64 (128 fused)."""
    mac_array_width: int = 32
    """MAC array width per slice. spec: 32 wide x 4 high."""
    mac_array_height: int = 4
    """MAC array height per slice. spec: 32 wide x 4 high."""

    # ---- memory (spec: chip and PE tables)
    sram_per_slice: int = 256 * KIB
    """Usable SRAM per slice. spec: 256 KiB."""
    sram_address_space_per_slice: int = 1 * MIB
    """Address space per slice. spec: 1 MiB."""
    sram_access_bytes: int = 8
    """SRAM access width. spec: hardware file, 8 bytes."""
    dram_bytes: int = 16 * GB
    """DRAM size. spec: 16 GB (32 GB cards exist)."""
    dram_bandwidth: float = 66e9
    """Peak DRAM bandwidth in bytes/s. spec: LPDDR4X-4266, 66 GB/s."""
    dram_bulk_bytes: int = 32
    """DRAM burst granularity. spec: hardware file 'DRAM bulk 32 bytes'."""
    dma_alignment: int = 64
    """DMA I/O alignment. spec: hardware file, 64 bytes."""
    host_link_bandwidth: float = 16e9
    """Host<->NPU bandwidth each way in bytes/s. spec: PCIe Gen4 x8, ~16 GB/s (derived)."""
    instruction_memory: int = 256 * KIB
    """Instruction memory per PE. spec: hardware file, 256 KiB."""

    # ---- units named in the hardware file
    registers: int = 32
    """Registers. spec: hardware file."""
    lut_ports_per_slice: int = 2
    """Lookup-table ports per slice (element-wise functions as INT8 tables). spec: hardware file."""
    vector_register_file: int = 128
    """Vector engine register-file entries. spec: hardware file."""
    accumulator_size: int = 4
    """Accumulator size. spec: hardware file."""
    hop_cycles: int = 2
    """Cycles per network hop. spec: hardware file."""
    control_delay_cycles: int = 2
    """Control delay. spec: hardware file."""
    warmup_cycles: int = 20
    """Warm-up base cycles. spec: hardware file."""
    fetch_network_width: int = 16
    """Fetch network width. spec: hardware file."""

    # ---- operator limits (spec: supported-operator table)
    max_conv_group: int = 128
    """Conv runs on the NPU with group <= this. spec: supported operators."""
    max_conv_dilation: int = 12
    """Conv runs on the NPU with dilation <= this. spec: supported operators."""
    max_softmax_batch: int = 2
    """Softmax runs on the NPU with batch <= this. spec: supported operators."""
    max_lpnorm_batch: int = 2
    """LpNormalization runs on the NPU with batch <= this. spec: supported operators."""
    lowering_width_multiple: int = 32
    """Lower/unlower and quantize/dequantize run on the NPU only when the last axis is width
    and its size is a multiple of this; otherwise on the host. spec: PE section."""

    # ---- modelling choices (the project's own; see docs/target.md)
    host_link_latency_s: float = 5e-6
    """Fixed cost of one host<->NPU transfer, in seconds. *Modelling choice*: a typical PCIe
    DMA round trip, so that tiny NPU regions are not worth their transfers."""
    min_region_macs: int = 1 << 20
    """An NPU region doing fewer MACs than this, with transfers costing more than it saves,
    goes back to the host. *Modelling choice* (the partitioner compares costs with it)."""

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


def get_target(name: str) -> TargetSpec:
    """The description named ``name`` (``warboy`` or ``warboy-2pe``)."""
    try:
        return TARGETS[name]
    except KeyError:
        raise UnknownTargetError(
            f"unknown target NPU '{name}' (known: {', '.join(TARGETS)})") from None
