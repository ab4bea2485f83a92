"""The Warboy instruction set: memory references, opcodes and their schemas, programs.

An instruction is coarse: it moves or computes one whole tile spread over a range of slices.
Its operands are :class:`MemRef` values (space, slice range, byte address, element type and
per-slice tiled shape); its attributes follow the fixed schema of its opcode; it names the user
op it belongs to (an index into the program's op-name table) and the earlier instructions it
waits for. ``docs/isa.md`` specifies every opcode, its operands' shapes and its arithmetic.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence

import attrs
import numpy as np

from furiosa.errors import FuriosaError


class IsaError(FuriosaError):
    """An instruction, program or assembly text that breaks the instruction set's rules."""


class Space(enum.IntEnum):
    """Where a memory reference points. ``NONE`` marks an absent optional operand."""

    NONE = 0
    HOST = 1
    DRAM = 2
    SRAM = 3


class DType(enum.IntEnum):
    """Element types an operand may hold."""

    I8 = 1
    U8 = 2
    I32 = 3
    F32 = 4

    @property
    def numpy(self) -> np.dtype:
        return _NUMPY[self]

    @property
    def itemsize(self) -> int:
        return _NUMPY[self].itemsize

    @property
    def text(self) -> str:
        return self.name.lower()


_NUMPY = {DType.I8: np.dtype(np.int8), DType.U8: np.dtype(np.uint8),
          DType.I32: np.dtype("<i4"), DType.F32: np.dtype("<f4")}

MAX_RANK = 6
"""Dimensions a memory reference's shape may have (fixed by the encoding)."""


class Engine(enum.IntEnum):
    """The units that execute instructions; each has its own timeline in the simulator."""

    HOST = 0  # host link: host memory <-> DRAM over PCIe
    DMA = 1  # DRAM <-> SRAM
    MAC = 2  # MAC arrays: convolutions and matrix products into int32 accumulators
    VECTOR = 3  # requantize, add, multiply, pool, reduce
    TABLE = 4  # 256-entry lookups
    MOVE = 5  # data movement across slices

    @property
    def text(self) -> str:
        return self.name.lower()


@attrs.frozen
class MemRef:
    """A tile in memory.

    In SRAM the tile covers slices ``[slice_first, slice_first + slice_count)``: each of those
    slices holds one tile of ``shape`` at byte ``address`` of its own SRAM row, so the logical
    array is ``(slice_count, *shape)``. In DRAM and host memory the tile is ``shape`` stored
    contiguously (row-major) from byte ``address``; the slice range is empty.
    """

    space: Space
    dtype: DType = DType.I8
    shape: tuple[int, ...] = ()
    address: int = 0
    slice_first: int = 0
    slice_count: int = 0

    @property
    def elements_per_slice(self) -> int:
        return math.prod(self.shape)

    @property
    def bytes_per_slice(self) -> int:
        """Bytes one slice holds (SRAM), or the whole tile's bytes (DRAM, host)."""
        return self.elements_per_slice * self.dtype.itemsize

    @property
    def total_bytes(self) -> int:
        return self.bytes_per_slice * (self.slice_count if self.space == Space.SRAM else 1)

    @property
    def logical_shape(self) -> tuple[int, ...]:
        return (self.slice_count, *self.shape) if self.space == Space.SRAM else self.shape

    def check(self, where: str) -> None:
        if self.space == Space.NONE:
            return
        if not 0 <= len(self.shape) <= MAX_RANK:
            raise IsaError(f"{where}: a tile has at most {MAX_RANK} dimensions, not {len(self.shape)}")
        if any(d < 1 or d >= 1 << 32 for d in self.shape):
            raise IsaError(f"{where}: tile dimensions must be in [1, 2^32), not {self.shape}")
        if not 0 <= self.address < 1 << 63:
            raise IsaError(f"{where}: address {self.address} is out of range")
        if self.space == Space.SRAM:
            if self.slice_count < 1 or self.slice_first < 0 or self.slice_first + self.slice_count > 0xFFFF:
                raise IsaError(f"{where}: an SRAM tile needs a non-empty slice range, not "
                               f"[{self.slice_first}:{self.slice_first + self.slice_count}]")
        elif self.slice_first or self.slice_count:
            raise IsaError(f"{where}: a {self.space.name.lower()} tile has no slice range")


NO_OPERAND = MemRef(Space.NONE)

AttrValue = int | float | tuple[int, ...] | str


@attrs.frozen
class AttrSpec:
    """One attribute of an opcode. ``kind``: ``int``, ``f32``, ``ints`` (``count`` values) or
    ``enum`` (one of ``choices``, encoded as its index)."""

    name: str
    kind: str
    default: AttrValue
    count: int = 1
    choices: tuple[str, ...] = ()

    @property
    def words(self) -> int:
        """64-bit words the attribute takes in the binary encoding."""
        return self.count if self.kind == "ints" else 1


@attrs.frozen
class OperandSpec:
    name: str
    spaces: frozenset[Space]
    optional: bool = False


@attrs.frozen
class OpcodeSpec:
    code: int
    name: str
    engine: Engine
    operands: tuple[OperandSpec, ...]
    attributes: tuple[AttrSpec, ...] = ()
    summary: str = ""


_SRAM = frozenset({Space.SRAM})
_DRAM = frozenset({Space.DRAM})
_HOST = frozenset({Space.HOST})
MODES = ("tflite", "onnxruntime")


def _o(name: str, spaces: frozenset[Space], optional: bool = False) -> OperandSpec:
    return OperandSpec(name, spaces, optional)


def _int(name: str, default: int = 0) -> AttrSpec:
    return AttrSpec(name, "int", default)


def _ints(name: str, default: tuple[int, ...]) -> AttrSpec:
    return AttrSpec(name, "ints", default, count=len(default))


def _f32(name: str, default: float = 1.0) -> AttrSpec:
    return AttrSpec(name, "f32", default)


def _enum(name: str, choices: tuple[str, ...]) -> AttrSpec:
    return AttrSpec(name, "enum", choices[0], choices=choices)


_CLAMP = (_int("act_min", -128), _int("act_max", 127))

OPCODES: tuple[OpcodeSpec, ...] = (
    OpcodeSpec(1, "host.load", Engine.HOST, (_o("dst", _DRAM), _o("src", _HOST)), (),
               "copy a host tile into DRAM over the host link"),
    OpcodeSpec(2, "host.store", Engine.HOST, (_o("dst", _HOST), _o("src", _DRAM)), (),
               "copy a DRAM tile to host memory over the host link"),
    OpcodeSpec(3, "dma.load", Engine.DMA, (_o("dst", _SRAM), _o("src", _DRAM)),
               (_int("broadcast"),),
               "copy a DRAM tile into SRAM slices; broadcast=1 gives every slice the whole tile"),
    OpcodeSpec(4, "dma.store", Engine.DMA, (_o("dst", _DRAM), _o("src", _SRAM)), (),
               "copy an SRAM tile (all its slices, in slice order) into DRAM"),
    OpcodeSpec(5, "mac.conv", Engine.MAC,
               (_o("dst", _SRAM), _o("src", _SRAM), _o("weights", _SRAM),
                _o("bias", _SRAM, optional=True)),
               (_ints("stride", (1, 1)), _ints("dilation", (1, 1)), _ints("pads", (0, 0, 0, 0)),
                _int("group", 1), _int("x_zp")),
               "int32 accumulators of a grouped 2-D convolution, per slice"),
    OpcodeSpec(6, "mac.matmul", Engine.MAC,
               (_o("dst", _SRAM), _o("a", _SRAM), _o("b", _SRAM), _o("bias", _SRAM, optional=True)),
               (_int("a_zp"), _int("b_zp")),
               "int32 accumulators of a matrix product, per slice"),
    OpcodeSpec(7, "vec.requant", Engine.VECTOR,
               (_o("dst", _SRAM), _o("src", _SRAM), _o("params", _SRAM)),
               (_enum("mode", MODES), _int("axis"), _int("in_zp"), _int("out_zp"), *_CLAMP),
               "requantize accumulators (or 8-bit values) to 8 bits, per channel"),
    OpcodeSpec(8, "vec.add", Engine.VECTOR,
               (_o("dst", _SRAM), _o("a", _SRAM), _o("b", _SRAM)),
               (_enum("mode", MODES), _int("a_zp"), _int("b_zp"), _int("out_zp"), *_CLAMP,
                _int("left_shift", 20), _int("a_mult", 1 << 30), _int("a_shift", 1),
                _int("b_mult", 1 << 30), _int("b_shift", 1), _int("out_mult", 1 << 30),
                _int("out_shift", 1), _f32("a_ratio"), _f32("b_ratio")),
               "quantized element-wise addition"),
    OpcodeSpec(9, "vec.mul", Engine.VECTOR,
               (_o("dst", _SRAM), _o("a", _SRAM), _o("b", _SRAM)),
               (_enum("mode", MODES), _int("a_zp"), _int("b_zp"), _int("out_zp"), *_CLAMP,
                _int("mult", 1 << 30), _int("shift", 1), _f32("scale")),
               "quantized element-wise multiplication"),
    OpcodeSpec(10, "vec.pool", Engine.VECTOR, (_o("dst", _SRAM), _o("src", _SRAM)),
               (_enum("kind", ("max", "avg")), _enum("mode", MODES), _ints("kernel", (2, 2)),
                _ints("stride", (2, 2)), _ints("pads", (0, 0, 0, 0)), _int("count_include_pad"),
                _int("x_zp"), _int("out_zp"), _f32("x_scale"), _f32("out_scale"), *_CLAMP),
               "2-D max or average pooling of 8-bit values"),
    OpcodeSpec(11, "vec.reduce", Engine.VECTOR, (_o("dst", _SRAM), _o("src", _SRAM)),
               (_int("axis"), _int("x_zp")),
               "int32 sum of (x - x_zp) along one axis of the tile"),
    OpcodeSpec(12, "tab.lookup", Engine.TABLE,
               (_o("dst", _SRAM), _o("src", _SRAM), _o("table", _SRAM)), (),
               "replace every 8-bit value by its entry in a 256-entry table"),
    OpcodeSpec(13, "move.copy", Engine.MOVE, (_o("dst", _SRAM), _o("src", _SRAM)),
               (_int("broadcast"),),
               "copy a tile from one range of slices to another; broadcast=1 repeats the source "
               "slices over the destination slices"),
)

BY_NAME: dict[str, OpcodeSpec] = {s.name: s for s in OPCODES}
BY_CODE: dict[int, OpcodeSpec] = {s.code: s for s in OPCODES}


def opcode(name: str) -> OpcodeSpec:
    try:
        return BY_NAME[name]
    except KeyError:
        raise IsaError(f"unknown opcode '{name}' (known: {', '.join(BY_NAME)})") from None


@attrs.frozen
class Instruction:
    """One instruction: its opcode, operands (in schema order), attributes, user op and waits."""

    opcode: str
    operands: tuple[MemRef, ...]
    attributes: tuple[AttrValue, ...]
    op: int = 0
    deps: tuple[int, ...] = ()

    @property
    def spec(self) -> OpcodeSpec:
        return BY_NAME[self.opcode]

    @property
    def engine(self) -> Engine:
        return self.spec.engine

    def operand(self, name: str) -> MemRef | None:
        for s, m in zip(self.spec.operands, self.operands, strict=True):
            if s.name == name:
                return None if m.space == Space.NONE else m
        raise KeyError(name)

    def attr(self, name: str) -> AttrValue:
        for s, v in zip(self.spec.attributes, self.attributes, strict=True):
            if s.name == name:
                return v
        raise KeyError(name)


def make(name: str, op: int = 0, deps: Sequence[int] = (), **kwargs: object) -> Instruction:
    """An instruction from keyword operands and attributes (missing attributes take defaults)."""
    spec = opcode(name)
    known = {o.name for o in spec.operands} | {a.name for a in spec.attributes}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise IsaError(f"{name} has no operand or attribute '{unknown[0]}'")
    operands = []
    for o in spec.operands:
        m = kwargs.get(o.name)
        operands.append(NO_OPERAND if m is None else m)
    attributes = tuple(_normalise(a, kwargs.get(a.name, a.default), name) for a in spec.attributes)
    inst = Instruction(name, tuple(operands), attributes, op, tuple(deps))  # type: ignore[arg-type]
    return inst


def _normalise(a: AttrSpec, value: object, where: str) -> AttrValue:
    if a.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise IsaError(f"{where}: attribute '{a.name}' must be an integer, not {value!r}")
        return int(value)
    if a.kind == "f32":
        if not isinstance(value, int | float | np.floating | np.integer):
            raise IsaError(f"{where}: attribute '{a.name}' must be a number, not {value!r}")
        if not np.isfinite(np.float32(value)):
            raise IsaError(f"{where}: attribute '{a.name}' must be finite in float32, not {value!r}")
        return float(np.float32(value))
    if a.kind == "ints":
        vals = tuple(int(v) for v in value) if isinstance(value, tuple | list) else ()
        if len(vals) != a.count:
            raise IsaError(f"{where}: attribute '{a.name}' needs {a.count} integers, not {value!r}")
        return vals
    if value not in a.choices:
        raise IsaError(f"{where}: attribute '{a.name}' must be one of {', '.join(a.choices)}, "
                       f"not {value!r}")
    return str(value)


def check_instruction(inst: Instruction, index: int) -> None:
    """Operand spaces, optional operands, attribute kinds and waits; shapes are the simulator's."""
    spec = BY_NAME.get(inst.opcode)
    where = f"instruction {index} ({inst.opcode})"
    if spec is None:
        raise IsaError(f"{where}: unknown opcode")
    if len(inst.operands) != len(spec.operands) or len(inst.attributes) != len(spec.attributes):
        raise IsaError(f"{where}: wrong number of operands or attributes")
    for o, m in zip(spec.operands, inst.operands, strict=True):
        if m.space == Space.NONE:
            if not o.optional:
                raise IsaError(f"{where}: operand '{o.name}' is required")
            continue
        if m.space not in o.spaces:
            allowed = "/".join(sorted(s.name.lower() for s in o.spaces))
            raise IsaError(f"{where}: operand '{o.name}' must be in {allowed}, "
                           f"not {m.space.name.lower()}")
        m.check(f"{where} operand '{o.name}'")
    for a, v in zip(spec.attributes, inst.attributes, strict=True):
        if _normalise(a, v, where) != v:
            raise IsaError(f"{where}: attribute '{a.name}' is not in canonical form")
    for d in inst.deps:
        if not 0 <= d < index:
            raise IsaError(f"{where} waits for instruction {d}, which does not come before it")
    if len(set(inst.deps)) != len(inst.deps):
        raise IsaError(f"{where} waits for the same instruction twice")


@attrs.frozen
class Program:
    """One NPU program: named, its user-op names, and its instructions in issue order."""

    name: str
    op_names: tuple[str, ...]
    instructions: tuple[Instruction, ...]

    def check(self) -> None:
        for i, inst in enumerate(self.instructions):
            check_instruction(inst, i)
            if not 0 <= inst.op < max(len(self.op_names), 1):
                raise IsaError(f"instruction {i} ({inst.opcode}) belongs to op {inst.op}, but "
                               f"program '{self.name}' names {len(self.op_names)} ops")

    def attributes_of(self, index: int) -> Mapping[str, AttrValue]:
        inst = self.instructions[index]
        return {a.name: v for a, v in zip(inst.spec.attributes, inst.attributes, strict=True)}
