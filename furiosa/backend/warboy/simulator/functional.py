"""Functional execution: what each instruction does to the modelled memories.

DRAM and host memory are flat numpy byte arrays; SRAM is one byte row per slice. A memory
reference becomes a numpy view of those bytes (``(slices, *shape)`` in SRAM), and every
instruction is one vectorised computation over its whole tile and all its slices. The 8-bit
arithmetic calls the shared functions of :mod:`furiosa.ir.quantization`, which the
interpreter's kernels also use, so both agree to the bit in either arithmetic mode.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from furiosa.backend.warboy.isa.instructions import DType, Instruction, MemRef, Space
from furiosa.backend.warboy.target import TargetSpec
from furiosa.errors import FuriosaError
from furiosa.ir.quantization import (
    average_pool_float32,
    clamp_to,
    dequantize_float32,
    divide_round_half_away,
    exact_matmul,
    global_average_scale,
    multiply_by_quantized_multiplier,
    qlinear_add_values,
    qlinear_mul_values,
    requantize_float32,
    rint_saturate,
    wrap_int32,
)
from furiosa.ir.types import ElementType


class SimulatorError(FuriosaError):
    """A program the simulator cannot execute: a bad address, tile shape or input."""


_ELEMENT = {DType.I8: ElementType.I8, DType.U8: ElementType.U8, DType.I32: ElementType.I32}


class Machine:
    """The modelled memories of one NPU and its host buffer."""

    def __init__(self, target: TargetSpec, dram_bytes: int, host_bytes: int) -> None:
        if dram_bytes > target.dram_bytes:
            raise SimulatorError(f"the program needs {dram_bytes} bytes of DRAM; target "
                                 f"'{target.name}' has {target.dram_bytes}")
        self.target = target
        self.dram = np.zeros(dram_bytes, dtype=np.uint8)
        self.host = np.zeros(host_bytes, dtype=np.uint8)
        self.sram = np.zeros((target.slices, target.sram_per_slice), dtype=np.uint8)
        # High-water mark of SRAM bytes written, per slice.
        self.sram_high = np.zeros(target.slices, dtype=np.int64)

    # ------------------------------------------------------------------ memory references

    def _bytes(self, m: MemRef, where: str) -> np.ndarray:
        """The raw bytes of ``m``: (slices, bytes per slice) in SRAM, flat elsewhere."""
        n = m.bytes_per_slice
        if m.space == Space.SRAM:
            if m.slice_first + m.slice_count > self.target.slices:
                raise SimulatorError(
                    f"{where}: slices [{m.slice_first}:{m.slice_first + m.slice_count}] are "
                    f"outside the {self.target.slices} slices of '{self.target.name}'")
            if m.address + n > self.target.sram_per_slice:
                raise SimulatorError(
                    f"{where}: SRAM bytes [{m.address:#x}, {m.address + n:#x}) pass the end of a "
                    f"slice ({self.target.sram_per_slice:#x})")
            return self.sram[m.slice_first:m.slice_first + m.slice_count, m.address:m.address + n]
        memory = self.dram if m.space == Space.DRAM else self.host
        if m.address + n > memory.size:
            raise SimulatorError(f"{where}: {m.space.name.lower()} bytes [{m.address:#x}, "
                                 f"{m.address + n:#x}) pass the end of memory ({memory.size:#x})")
        return memory[m.address:m.address + n]

    def read(self, m: MemRef, where: str) -> np.ndarray:
        return self._bytes(m, where).view(m.dtype.numpy).reshape(m.logical_shape)

    def write(self, m: MemRef, value: np.ndarray, where: str) -> None:
        raw = self._bytes(m, where)
        value = np.asarray(value)
        if value.size * m.dtype.itemsize != raw.size:
            raise SimulatorError(f"{where}: a result of shape {value.shape} does not fill the "
                                 f"destination tile {m.logical_shape}")
        data = np.ascontiguousarray(value.astype(m.dtype.numpy, copy=False)).view(np.uint8)
        raw[...] = data.reshape(raw.shape)
        if m.space == Space.SRAM:
            end = m.address + m.bytes_per_slice
            high = self.sram_high[m.slice_first:m.slice_first + m.slice_count]
            np.maximum(high, end, out=high)

    # ------------------------------------------------------------------ execution

    def execute(self, inst: Instruction, index: int) -> None:
        where = f"instruction {index} ({inst.opcode})"
        _EXECUTE[inst.opcode](self, inst, where)


def _operands(machine: Machine, inst: Instruction, where: str,
              *names: str) -> list[np.ndarray | None]:
    out: list[np.ndarray | None] = []
    for name in names:
        m = inst.operand(name)
        out.append(None if m is None else machine.read(m, f"{where} operand '{name}'"))
    return out


def _dst(inst: Instruction) -> MemRef:
    m = inst.operand("dst")
    assert m is not None
    return m


def _element(m: MemRef, where: str) -> ElementType:
    if m.dtype not in (DType.I8, DType.U8):
        raise SimulatorError(f"{where}: the destination must be i8 or u8, not {m.dtype.text}")
    return _ELEMENT[m.dtype]


def _expect(cond: bool, where: str, message: str) -> None:
    if not cond:
        raise SimulatorError(f"{where}: {message}")


# ---------------------------------------------------------------------- data movement


def _copy(machine: Machine, inst: Instruction, where: str) -> None:
    dst = _dst(inst)
    src = inst.operand("src")
    assert src is not None
    _expect(src.dtype == dst.dtype, where,
            f"source and destination element types differ ({src.dtype.text}, {dst.dtype.text})")
    value = machine.read(src, f"{where} operand 'src'")
    broadcast = "broadcast" in {a.name for a in inst.spec.attributes} and inst.attr("broadcast")
    if broadcast and src.space == Space.SRAM:
        # Slice-to-slice broadcast: destination slice i receives source slice i mod (source
        # slices), so a tile spread over k slices is repeated over every k destination slices.
        k = src.slice_count
        _expect(dst.slice_count % k == 0 and src.elements_per_slice == dst.elements_per_slice,
                where, f"a broadcast of {k} slices of {src.shape} does not tile "
                f"{dst.slice_count} slices of {dst.shape}")
        value = np.broadcast_to(value.reshape(1, k, -1), (dst.slice_count // k, k, value[0].size))
    elif broadcast:
        # From DRAM: every destination slice receives the whole source tile.
        _expect(src.elements_per_slice == dst.elements_per_slice, where,
                f"a broadcast source of {src.elements_per_slice} elements does not fill a "
                f"slice's tile {dst.shape}")
        value = np.broadcast_to(value.reshape(1, -1), (dst.slice_count, src.elements_per_slice))
    else:
        _expect(value.size == dst.elements_per_slice * max(dst.slice_count, 1)
                if dst.space == Space.SRAM else value.size == dst.elements_per_slice, where,
                f"source tile {src.logical_shape} and destination tile {dst.logical_shape} hold "
                f"different numbers of elements")
    machine.write(dst, value, where)


# ---------------------------------------------------------------------- MAC arrays

def _shared_run(flat: np.ndarray) -> int:
    """The largest ``r`` such that slices come in runs of ``r`` identical rows (1 if none)."""
    n = flat.shape[0]
    if n == 1:
        return 1
    starts = np.flatnonzero(np.any(flat[1:] != flat[:-1], axis=1)) + 1
    if starts.size == 0:
        return n
    r = int(starts[0])
    if n % r or not np.array_equal(starts, np.arange(r, n, r)):
        return 1
    return r


def _conv(machine: Machine, inst: Instruction, where: str) -> None:
    x, w, bias = _operands(machine, inst, where, "src", "weights", "bias")
    assert x is not None and w is not None
    dst = _dst(inst)
    _expect(x.ndim == 4 and w.ndim == 5, where,
            "a convolution takes src (C, H, W) and weights (M, C/group, KH, KW) per slice")
    n, c, h, wd = x.shape
    _, m, cg, kh, kw = w.shape
    g = int(inst.attr("group"))  # type: ignore[arg-type]
    sh, sw = inst.attr("stride")  # type: ignore[misc]
    dh, dw = inst.attr("dilation")  # type: ignore[misc]
    pt, pl, pb, pr = inst.attr("pads")  # type: ignore[misc]
    _expect(g >= 1 and c % g == 0 and m % g == 0 and cg == c // g, where,
            f"weights {w.shape[1:]} do not fit {c} input channels in {g} groups")
    _expect(min(sh, sw, dh, dw) >= 1 and min(pt, pl, pb, pr) >= 0, where,
            "strides and dilations must be positive and pads non-negative")
    ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    ho, wo = (h + pt + pb - ekh) // sh + 1, (wd + pl + pr - ekw) // sw + 1
    _expect(ho >= 1 and wo >= 1, where, "the kernel is larger than the padded input")
    _expect(dst.dtype == DType.I32 and dst.logical_shape == (n, m, ho, wo), where,
            f"the destination must be i32 {(m, ho, wo)} per slice, not "
            f"{dst.dtype.text} {dst.shape}")
    # Slices that hold the same weights (a layer tiled by rows) form one product with their
    # positions side by side; when the input tiles also repeat with that period (a layer
    # tiled by rows and output-channel chunks), the whole instruction is one matrix product
    # per group over the distinct tiles. The same arithmetic, in fewer and larger products.
    r = _shared_run(w.reshape(n, -1))
    groups, k, positions, mg = n // r, cg * kh * kw, ho * wo, m // g
    periodic = groups > 1 and bool(np.array_equal(x[r:], x[:-r]))
    tiles = x[:r] if periodic else x
    # Padding with the zero point is real zero: centre first, then pad with 0.
    xc = tiles.astype(np.float32) - np.float32(int(inst.attr("x_zp")))  # type: ignore[arg-type]
    t = tiles.shape[0]
    if (kh, kw, sh, sw) == (1, 1, 1, 1) and not any((pt, pl, pb, pr)):
        patches = xc.reshape(t, g, cg, 1, 1, ho, wo)  # a 1x1 convolution needs no im2col
    else:
        xp = np.pad(xc, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        windows = sliding_window_view(xp, (ekh, ekw), axis=(2, 3))
        windows = windows[:, :, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw, ::dh, ::dw]
        patches = windows.reshape(t, g, cg, ho, wo, kh, kw).transpose(0, 1, 2, 5, 6, 3, 4)
    wu = w[::r].astype(np.float32).reshape(groups, g, mg, k)
    if periodic:
        # (g, groups·M/g, K) @ (g, K, r·P): im2col of the r distinct tiles only.
        cols = patches.transpose(1, 2, 3, 4, 0, 5, 6).reshape(g, k, r * positions)
        acc = exact_matmul(wu.transpose(1, 0, 2, 3).reshape(g, groups * mg, k), cols)
        acc = acc.reshape(g, groups, mg, r, positions).transpose(1, 3, 0, 2, 4)
    else:
        # (groups, g, r·P, K) @ (groups, g, K, M/g): one product per run of shared weights.
        cols = patches.reshape(groups, r, g, k, positions).transpose(0, 2, 1, 4, 3)
        acc = exact_matmul(cols.reshape(groups, g, r * positions, k), wu.transpose(0, 1, 3, 2))
        acc = acc.reshape(groups, g, r, positions, mg).transpose(0, 2, 1, 4, 3)
    acc = acc.reshape(n, m, ho, wo)
    if bias is not None:
        _expect(bias.shape == (n, m) and bias.dtype == np.int32, where,
                f"the bias must be i32 ({m},) per slice")
        acc += bias.astype(np.int64)[:, :, None, None]
    machine.write(dst, wrap_int32(acc), where)


def _matmul(machine: Machine, inst: Instruction, where: str) -> None:
    a, b, bias = _operands(machine, inst, where, "a", "b", "bias")
    assert a is not None and b is not None
    dst = _dst(inst)
    _expect(a.ndim == 3 and b.ndim == 3 and a.shape[2] == b.shape[1], where,
            f"a matrix product takes a (M, K) and b (K, N) per slice, not {a.shape[1:]} and "
            f"{b.shape[1:]}")
    n, mm, _ = a.shape
    nn = b.shape[2]
    _expect(dst.dtype == DType.I32 and dst.logical_shape == (n, mm, nn), where,
            f"the destination must be i32 {(mm, nn)} per slice")
    acc = exact_matmul(a.astype(np.float32) - np.float32(int(inst.attr("a_zp"))),  # type: ignore[arg-type]
                       b.astype(np.float32) - np.float32(int(inst.attr("b_zp"))))  # type: ignore[arg-type]
    if bias is not None:
        _expect(bias.shape == (n, nn) and bias.dtype == np.int32, where,
                f"the bias must be i32 ({nn},) per slice")
        acc += bias.astype(np.int64)[:, None, :]
    machine.write(dst, wrap_int32(acc), where)


# ---------------------------------------------------------------------- vector unit


def _clamp_bounds(inst: Instruction) -> tuple[int, int]:
    return int(inst.attr("act_min")), int(inst.attr("act_max"))  # type: ignore[arg-type]


def _requant(machine: Machine, inst: Instruction, where: str) -> None:
    src, params = _operands(machine, inst, where, "src", "params")
    assert src is not None and params is not None
    dst = _dst(inst)
    element = _element(dst, where)
    axis = int(inst.attr("axis"))  # type: ignore[arg-type]
    _expect(0 <= axis < src.ndim - 1, where, f"axis {axis} is not an axis of the tile")
    _expect(dst.logical_shape == src.shape, where, "source and destination tiles differ in shape")
    n, channels = src.shape[0], src.shape[axis + 1]
    bshape = [n] + [1] * (src.ndim - 1)
    bshape[axis + 1] = channels
    lo, hi = _clamp_bounds(inst)
    centred = src.astype(np.int64) - int(inst.attr("in_zp"))  # type: ignore[arg-type]
    zp = int(inst.attr("out_zp"))  # type: ignore[arg-type]
    if inst.attr("mode") == "tflite":
        _expect(params.dtype == np.int32 and params.shape[1:] in ((2, channels), (2, 1)), where,
                f"tflite parameters are i32 (2, {channels}) per slice: multipliers, then shifts")
        if params.shape[2] == 1:
            bshape[axis + 1] = 1
        mult = params[:, 0].reshape(bshape)
        shift = params[:, 1].reshape(bshape)
        y = multiply_by_quantized_multiplier(centred, mult, shift)
        out = clamp_to(y.astype(np.int64) + zp, element, lo, hi)
    else:
        _expect(params.dtype == np.float32 and params.shape[1:] in ((channels,), (1,)), where,
                f"onnxruntime parameters are f32 ({channels},) per slice: the combined scales")
        if params.shape[1] == 1:
            bshape[axis + 1] = 1
        out = requantize_float32(centred, params.reshape(bshape), zp, element, lo, hi)
    machine.write(dst, out, where)


def _binary_inputs(machine: Machine, inst: Instruction,
                   where: str) -> tuple[np.ndarray, np.ndarray, MemRef, ElementType]:
    a, b = _operands(machine, inst, where, "a", "b")
    assert a is not None and b is not None
    dst = _dst(inst)
    _expect(a.shape == b.shape == dst.logical_shape, where,
            f"operands {a.shape[1:]}, {b.shape[1:]} and destination {dst.shape} differ in shape")
    return a, b, dst, _element(dst, where)


def _add(machine: Machine, inst: Instruction, where: str) -> None:
    a, b, dst, element = _binary_inputs(machine, inst, where)
    at = {s.name: v for s, v in zip(inst.spec.attributes, inst.attributes, strict=True)}
    lo, hi = _clamp_bounds(inst)
    if at["mode"] == "tflite":
        # TFLite ADD: both inputs to a common scale with left_shift headroom, then the output.
        def scaled(x: np.ndarray, zp: object, mult: object, shift: object) -> np.ndarray:
            shifted = wrap_int32((x.astype(np.int64) - int(zp)) * (1 << int(at["left_shift"])))
            return multiply_by_quantized_multiplier(shifted, int(mult), int(shift)).astype(np.int64)

        raw = wrap_int32(scaled(a, at["a_zp"], at["a_mult"], at["a_shift"])
                         + scaled(b, at["b_zp"], at["b_mult"], at["b_shift"]))
        y = multiply_by_quantized_multiplier(raw, int(at["out_mult"]), int(at["out_shift"]))
        out = clamp_to(y.astype(np.int64) + int(at["out_zp"]), element, lo, hi)
    else:
        # onnxruntime's QLinearAdd: fixed = zc - fma(rA, za, rB·zb); v = fma(A, rA, fma(B, rB, fixed)).
        v = qlinear_add_values(a, b, float(at["a_ratio"]), float(at["b_ratio"]),  # type: ignore[arg-type]
                               int(at["a_zp"]), int(at["b_zp"]), int(at["out_zp"]))  # type: ignore[call-overload]
        out = rint_saturate(v, element, lo, hi)
    machine.write(dst, out, where)


def _mul(machine: Machine, inst: Instruction, where: str) -> None:
    a, b, dst, element = _binary_inputs(machine, inst, where)
    at = {s.name: v for s, v in zip(inst.spec.attributes, inst.attributes, strict=True)}
    lo, hi = _clamp_bounds(inst)
    product = (a.astype(np.int64) - int(at["a_zp"])) * (b.astype(np.int64) - int(at["b_zp"]))
    if at["mode"] == "tflite":
        y = multiply_by_quantized_multiplier(product, int(at["mult"]), int(at["shift"]))
        out = clamp_to(y.astype(np.int64) + int(at["out_zp"]), element, lo, hi)
    else:
        # onnxruntime's QLinearMul: the zero point is added in float32 before rounding.
        v = qlinear_mul_values(product, float(at["scale"]), int(at["out_zp"]))  # type: ignore[arg-type, call-overload]
        out = rint_saturate(v, element, lo, hi)
    machine.write(dst, out, where)


def _pool(machine: Machine, inst: Instruction, where: str) -> None:
    (x,) = _operands(machine, inst, where, "src")
    assert x is not None
    dst = _dst(inst)
    element = _element(dst, where)
    at = {s.name: v for s, v in zip(inst.spec.attributes, inst.attributes, strict=True)}
    _expect(x.ndim == 4, where, "a pool takes a (C, H, W) tile per slice")
    n, c, h, w = x.shape
    kh, kw = at["kernel"]  # type: ignore[misc]
    sh, sw = at["stride"]  # type: ignore[misc]
    pt, pl, pb, pr = at["pads"]  # type: ignore[misc]
    _expect(min(kh, kw, sh, sw) >= 1 and min(pt, pl, pb, pr) >= 0, where,
            "kernel and strides must be positive and pads non-negative")
    ho, wo = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    _expect(ho >= 1 and wo >= 1 and dst.logical_shape == (n, c, ho, wo), where,
            f"the destination must be {(c, ho, wo)} per slice, not {dst.shape}")
    lo, hi = _clamp_bounds(inst)
    xz, yz = int(at["x_zp"]), int(at["out_zp"])
    widths = ((0, 0), (0, 0), (pt, pb), (pl, pr))

    def windows(a: np.ndarray) -> np.ndarray:
        v = sliding_window_view(a, (kh, kw), axis=(2, 3))
        return v[:, :, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw]  # (n, c, ho, wo, kh, kw)

    if at["kind"] == "max":
        xp = np.pad(x, widths, constant_values=np.iinfo(x.dtype).min)
        out = clamp_to(windows(xp).max(axis=(-2, -1)).astype(np.int64), element, lo, hi)
    elif at["mode"] == "tflite":
        # TFLite AVERAGE_POOL: integer sum, divided rounding half away from zero.
        if at["count_include_pad"]:
            xp = np.pad(x.astype(np.int64), widths, constant_values=xz)
            count: np.ndarray | int = kh * kw
        else:
            xp = np.pad(x.astype(np.int64), widths)
            count = windows(np.pad(np.ones((1, 1, h, w), np.int64), widths)).sum(axis=(-2, -1))
        acc = windows(xp).sum(axis=(-2, -1))
        out = clamp_to(divide_round_half_away(acc, count), element, lo, hi)
    elif (kh, kw) == (h, w) and not any((pt, pl, pb, pr)):
        # onnxruntime's global path: integer sum, one float32 requantization.
        count_n = h * w
        acc = x.astype(np.int64).sum(axis=(2, 3), keepdims=True) - xz * count_n
        scale = global_average_scale(float(at["x_scale"]), float(at["out_scale"]), count_n)  # type: ignore[arg-type]
        out = requantize_float32(acc, scale, yz, element, lo, hi)
    else:
        # onnxruntime's QLinearAveragePool: float32 values summed in window order (row-major).
        xf = dequantize_float32(x, float(at["x_scale"]), xz)  # type: ignore[arg-type]
        win = windows(np.pad(xf, widths)).reshape(n, c, ho, wo, kh * kw)
        if at["count_include_pad"]:
            count_f: np.ndarray | int = kh * kw
        else:
            count_f = windows(np.pad(np.ones((1, 1, h, w), np.int64), widths)).sum(axis=(-2, -1))
        v = average_pool_float32(win, count_f, float(at["out_scale"]), yz)  # type: ignore[arg-type]
        out = rint_saturate(v, element, lo, hi)
    machine.write(dst, out, where)


def _reduce(machine: Machine, inst: Instruction, where: str) -> None:
    (x,) = _operands(machine, inst, where, "src")
    assert x is not None
    dst = _dst(inst)
    axis = int(inst.attr("axis"))  # type: ignore[arg-type]
    _expect(0 <= axis < x.ndim - 1, where, f"axis {axis} is not an axis of the tile")
    acc = np.sum(x.astype(np.int64) - int(inst.attr("x_zp")), axis=axis + 1,  # type: ignore[arg-type]
                 keepdims=True)
    _expect(dst.dtype == DType.I32 and dst.logical_shape == acc.shape, where,
            f"the destination must be i32 {acc.shape[1:]} per slice")
    machine.write(dst, wrap_int32(acc), where)


def _lookup(machine: Machine, inst: Instruction, where: str) -> None:
    x, table = _operands(machine, inst, where, "src", "table")
    assert x is not None and table is not None
    dst = _dst(inst)
    _expect(x.dtype.itemsize == 1 and table.shape[1:] == (256,), where,
            "a lookup takes 8-bit values and a (256,) table per slice")
    _expect(dst.logical_shape == x.shape and dst.dtype.numpy == table.dtype, where,
            "the destination must have the source's shape and the table's element type")
    # Entry b answers the stored byte b (two's complement for i8), like lookup_table builds it.
    index = x.view(np.uint8).reshape(x.shape[0], -1)
    machine.write(dst, np.take_along_axis(table, index.astype(np.intp), axis=1), where)


_EXECUTE = {
    "host.load": _copy, "host.store": _copy, "dma.load": _copy, "dma.store": _copy,
    "move.copy": _copy, "mac.conv": _conv, "mac.matmul": _matmul, "vec.requant": _requant,
    "vec.add": _add, "vec.mul": _mul, "vec.pool": _pool, "vec.reduce": _reduce,
    "tab.lookup": _lookup,
}
