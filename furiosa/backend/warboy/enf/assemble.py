"""``furiosa enf assemble``: a hand-written program, with its tensors and constants, into an ENF.

Besides ``.op`` and ``.program`` blocks (``docs/isa.md``), the file takes these directives
(``docs/enf.md`` has the full syntax)::

    .target warboy                          # or warboy-2pe
    .batch 1                                # default 1
    .pipeline "hand-written"                # recorded in the header
    .input x i8 1x16x8x32 @0x0 scale=0.05 zp=-3
    .output y i8 1x32x8x32 @0x4000
    .const w i8 32x16x3x3 @0x0 npy weights.npy     # path relative to the .s file
    .const b i32 32 @0x1200 hex 0100000002000000...  # exactly the tile's bytes
    .const t u8 256 @0x1300 fill 7                 # every element the same value
    .dram 0x100000                          # DRAM bytes; default: the highest address used
    .host_ir host.fir                        # optional host program (IR text)
"""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path

import numpy as np

from furiosa import __version__
from furiosa.backend.warboy.enf.format import EnfError, Header, TensorDesc, write_enf
from furiosa.backend.warboy.isa.assembly import (
    AssemblyError,
    parse_assembly,
    parse_int,
)
from furiosa.backend.warboy.isa.instructions import DType, Space
from furiosa.backend.warboy.target import UnknownTargetError, get_target


def _dims(text: str) -> tuple[int, ...]:
    dims = tuple(parse_int(d) for d in text.split("x"))
    if any(d < 1 for d in dims):
        raise ValueError(f"'{text}' is not a shape like 1x16x8x32")
    return dims


def _dtype(text: str) -> DType:
    try:
        return DType[text.upper()]
    except KeyError:
        raise ValueError(f"'{text}' is not an element type (i8, u8, i32, f32)") from None


def _address(text: str) -> int:
    if not text.startswith("@"):
        raise ValueError(f"expected an address like @0x100, not '{text}'")
    return parse_int(text[1:])


def assemble(text: str, filename: str = "<text>", base: Path | None = None) -> bytes:
    """The ENF bytes of assembly ``text``; relative paths resolve against ``base``."""
    base = base or Path(".")
    programs, directives = parse_assembly(text, filename)
    if not programs:
        raise AssemblyError(f"{filename}: no .program in the file")
    target_name = "warboy"
    batch, pipeline, dram_bytes, host_ir = 1, "hand-written", None, ""
    inputs: list[TensorDesc] = []
    outputs: list[TensorDesc] = []
    constants: list[tuple[int, str, bytes]] = []
    for d in directives:
        try:
            args = shlex.split(d.text)
            if d.name == ".target" and len(args) == 1:
                target_name = args[0]
            elif d.name == ".batch" and len(args) == 1:
                batch = parse_int(args[0])
            elif d.name == ".pipeline" and len(args) == 1:
                pipeline = args[0]
            elif d.name == ".dram" and len(args) == 1:
                dram_bytes = parse_int(args[0])
            elif d.name == ".host_ir" and len(args) == 1:
                host_ir = _read(base / args[0]).decode()
            elif d.name in (".input", ".output") and len(args) >= 4:
                (inputs if d.name == ".input" else outputs).append(_tensor(args))
            elif d.name == ".const" and len(args) >= 6:
                constants.append(_constant(args, base))
            else:
                raise ValueError(f"malformed or unknown directive '{d.name} {d.text}'")
        except (ValueError, UnicodeDecodeError, UnknownTargetError) as e:
            raise AssemblyError(f"{filename}:{d.line}: {e}") from None
    try:
        target = get_target(target_name)
    except UnknownTargetError as e:
        raise AssemblyError(f"{filename}: {e}") from None

    constants.sort()
    image_end = 0
    for (addr, name, data), nxt in zip(constants, [*constants[1:], None], strict=True):
        if nxt is not None and addr + len(data) > nxt[0]:
            raise AssemblyError(f"{filename}: constants '{name}' and '{nxt[1]}' overlap in DRAM")
        image_end = max(image_end, addr + len(data))
    image = bytearray(image_end)
    for addr, _, data in constants:
        image[addr:addr + len(data)] = data
    used = image_end
    for p in programs:
        for inst in p.instructions:
            for m in inst.operands:
                if m.space == Space.DRAM:
                    used = max(used, m.address + m.total_bytes)
    if dram_bytes is None:
        dram_bytes = -(-used // target.dma_alignment) * target.dma_alignment
    elif dram_bytes < used:
        raise AssemblyError(f"{filename}: .dram {dram_bytes} is smaller than the {used} bytes "
                            f"the program and constants use")
    names = [t.name for t in inputs + outputs]
    if len(set(names)) != len(names):
        raise AssemblyError(f"{filename}: a tensor name is declared twice")
    host_bytes = max([t.host_address + t.nbytes for t in inputs + outputs], default=0)
    header = Header(__version__, target.name, target.hash(), batch, pipeline,
                    hashlib.sha256(text.encode()).hexdigest(), tuple(inputs), tuple(outputs),
                    dram_bytes, host_bytes)
    try:
        return write_enf(header, programs, bytes(image), host_ir, programs[0].op_names)
    except EnfError as e:
        raise AssemblyError(f"{filename}: {e}") from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror}") from None


def _tensor(args: list[str]) -> TensorDesc:
    name, dtype, shape, addr, *rest = args
    options = dict(a.partition("=")[::2] for a in rest)
    if set(options) - {"scale", "zp"} or ("scale" in options) != ("zp" in options):
        raise ValueError("a tensor takes only 'scale=S zp=Z', both or neither")
    scale = float(np.float32(float(options["scale"]))) if "scale" in options else None
    zp = parse_int(options["zp"]) if "zp" in options else None
    return TensorDesc(name, _dtype(dtype).text, _dims(shape), _address(addr), scale, zp)


def _constant(args: list[str], base: Path) -> tuple[int, str, bytes]:
    name, dtype_text, shape, addr_text, source, value = args[:6]
    if len(args) != 6:
        raise ValueError(f"constant '{name}' has extra arguments")
    dtype, dims, addr = _dtype(dtype_text), _dims(shape), _address(addr_text)
    nbytes = int(np.prod(dims)) * dtype.itemsize
    if source == "hex":
        try:
            data = bytes.fromhex(value)
        except ValueError:
            raise ValueError(f"constant '{name}': '{value[:20]}...' is not hexadecimal") from None
    elif source == "npy":
        try:
            array = np.load(base / value, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ValueError(f"constant '{name}': cannot load {base / value}: {e}") from None
        if array.dtype != dtype.numpy or array.size != int(np.prod(dims)):
            raise ValueError(f"constant '{name}': {value} holds {array.dtype} {list(array.shape)}, "
                             f"not {dtype.text} {list(dims)}")
        data = np.ascontiguousarray(array).view(np.uint8).tobytes()
    elif source == "fill":
        data = np.full(dims, parse_int(value) if dtype != DType.F32 else float(value),
                       dtype=dtype.numpy).tobytes()
    else:
        raise ValueError(f"constant '{name}': the source must be hex, npy or fill, not '{source}'")
    if len(data) != nbytes:
        raise ValueError(f"constant '{name}' has {len(data)} bytes; {dtype.text} {list(dims)} "
                         f"needs {nbytes}")
    return addr, name, data
