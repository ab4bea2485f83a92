"""Each instruction alone on hand-written tiles, on every slice of both targets, against numpy
references, the interpreter's quant kernels (tflite mode) and onnxruntime (onnxruntime mode)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from furiosa.backend.warboy.isa import DType, MemRef, Space, make
from furiosa.backend.warboy.simulator import SimulatorError
from furiosa.backend.warboy.target import TARGETS, TargetSpec
from furiosa.ir.quantization import (
    divide_round_half_away,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
)
from tests.backend.warboy.simulator.tiles import fresh, run

TARGET_LIST = list(TARGETS.values())
f32 = np.float32


def _levels(rng: np.random.Generator, shape: tuple[int, ...], lo: int = -128,
            hi: int = 127) -> np.ndarray:
    return rng.integers(lo, hi + 1, size=shape).astype(np.int8)


def conv_reference(x: np.ndarray, w: np.ndarray, stride: tuple[int, int],
                   dilation: tuple[int, int], pads: tuple[int, int, int, int], group: int,
                   x_zp: int) -> np.ndarray:
    """int64 accumulators of one slice's grouped conv, one kernel tap at a time."""
    _, h, wd = x.shape
    m, cg, kh, kw = w.shape
    pt, pl, pb, pr = pads
    xp = np.pad(x.astype(np.int64) - x_zp, ((0, 0), (pt, pb), (pl, pr)))
    ho = (h + pt + pb - (kh - 1) * dilation[0] - 1) // stride[0] + 1
    wo = (wd + pl + pr - (kw - 1) * dilation[1] - 1) // stride[1] + 1
    acc = np.zeros((m, ho, wo), np.int64)
    mg = m // group
    for g, i, j in itertools.product(range(group), range(kh), range(kw)):
        r0, c0 = i * dilation[0], j * dilation[1]
        patch = xp[g * cg:(g + 1) * cg, r0:r0 + stride[0] * (ho - 1) + 1:stride[0],
                   c0:c0 + stride[1] * (wo - 1) + 1:stride[1]]
        acc[g * mg:(g + 1) * mg] += np.einsum("mc,chw->mhw",
                                              w[g * mg:(g + 1) * mg, :, i, j].astype(np.int64), patch)
    return acc


@pytest.mark.parametrize("target", TARGET_LIST, ids=lambda t: t.name)
@pytest.mark.parametrize(("group", "stride", "dilation", "pads"), [
    (1, (1, 1), (1, 1), (1, 1, 1, 1)),
    (2, (2, 1), (1, 2), (0, 2, 1, 0)),
    (6, (1, 2), (2, 1), (2, 0, 0, 1)),  # depthwise: group == channels
])
def test_conv(target: TargetSpec, group: int, stride: tuple[int, int],
              dilation: tuple[int, int], pads: tuple[int, int, int, int]) -> None:
    rng = np.random.default_rng(group)
    n, c, h, w, m = target.slices, 6, 7, 9, 6 if group == 6 else 4
    machine, sram = fresh(target)
    x = _levels(rng, (n, c, h, w))
    wt = _levels(rng, (n, m, c // group, 3, 3), -127, 127)
    bias = rng.integers(-5000, 5000, size=(n, m)).astype(np.int32)
    ref = [conv_reference(x[s], wt[s], stride, dilation, pads, group, -5) + bias[s][:, None, None]
           for s in range(n)]
    dst = sram.alloc(ref[0].shape, DType.I32)
    run(machine, make("mac.conv", dst=dst, src=sram.put(x), weights=sram.put(wt),
                      bias=sram.put(bias), stride=stride, dilation=dilation, pads=pads,
                      group=group, x_zp=-5))
    np.testing.assert_array_equal(machine.read(dst, "test"), np.stack(ref))


@pytest.mark.parametrize("target", TARGET_LIST, ids=lambda t: t.name)
def test_matmul(target: TargetSpec) -> None:
    rng = np.random.default_rng(1)
    n = target.slices
    machine, sram = fresh(target)
    a, b = _levels(rng, (n, 5, 40)), _levels(rng, (n, 40, 3))
    bias = rng.integers(-99, 99, size=(n, 3)).astype(np.int32)
    dst = sram.alloc((5, 3), DType.I32)
    run(machine, make("mac.matmul", dst=dst, a=sram.put(a), b=sram.put(b), bias=sram.put(bias),
                      a_zp=7, b_zp=-2))
    ref = np.einsum("smk,skn->smn", a.astype(np.int64) - 7, b.astype(np.int64) + 2) + bias[:, None]
    np.testing.assert_array_equal(machine.read(dst, "test"), ref)


@pytest.mark.parametrize("target", TARGET_LIST, ids=lambda t: t.name)
@pytest.mark.parametrize("mode", ["tflite", "onnxruntime"])
def test_requant_per_channel(target: TargetSpec, mode: str) -> None:
    rng = np.random.default_rng(2)
    n, c = target.slices, 5
    machine, sram = fresh(target)
    acc = rng.integers(-40000, 40000, size=(n, 3, c, 4)).astype(np.int32)  # channel axis 1
    scales = rng.uniform(1e-4, 1e-2, size=(n, c)).astype(np.float32)
    if mode == "tflite":
        pairs = np.array([[quantize_multiplier(float(s)) for s in row] for row in scales])
        params = pairs.transpose(0, 2, 1).astype(np.int32)  # (n, 2, c)
        y = multiply_by_quantized_multiplier(acc.astype(np.int64) - 3, params[:, 0][:, None, :, None],
                                             params[:, 1][:, None, :, None])
        expected = np.clip(y.astype(np.int64) + 9, -20, 100)
    else:
        params = scales
        # The onnxruntime recipe, written out: f32 product, round half to even, + zp, saturate.
        prod = (acc.astype(np.int64) - 3).astype(f32) * scales[:, None, :, None]
        expected = np.clip(np.rint(prod.astype(f32)) + 9, -20, 100)
    dst = sram.alloc((3, c, 4), DType.I8)
    run(machine, make("vec.requant", dst=dst, src=sram.put(acc), params=sram.put(params),
                      mode=mode, axis=1, in_zp=3, out_zp=9, act_min=-20, act_max=100))
    np.testing.assert_array_equal(machine.read(dst, "test"), expected.astype(np.int8))


@pytest.mark.parametrize("target", TARGET_LIST, ids=lambda t: t.name)
def test_table_lookup(target: TargetSpec) -> None:
    rng = np.random.default_rng(3)
    n = target.slices
    machine, sram = fresh(target)
    x = _levels(rng, (n, 4, 33))
    table = rng.integers(0, 256, size=(n, 256)).astype(np.uint8)  # a different table per slice
    dst = sram.alloc((4, 33), DType.U8)
    run(machine, make("tab.lookup", dst=dst, src=sram.put(x), table=sram.put(table)))
    expected = np.stack([table[s][x[s].view(np.uint8)] for s in range(n)])
    np.testing.assert_array_equal(machine.read(dst, "test"), expected)


@pytest.mark.parametrize("target", TARGET_LIST, ids=lambda t: t.name)
@pytest.mark.parametrize(("kind", "mode", "include_pad"), [
    ("max", "tflite", 0), ("avg", "tflite", 0), ("avg", "tflite", 1),
    ("avg", "onnxruntime", 0), ("avg", "onnxruntime", 1)])
def test_pool(target: TargetSpec, kind: str, mode: str, include_pad: int) -> None:
    rng = np.random.default_rng(4)
    n, c, h, w = target.slices, 3, 6, 7
    machine, sram = fresh(target)
    x = _levels(rng, (n, c, h, w))
    kh, kw, sh, sw, pads = 3, 2, 2, 1, (1, 0, 1, 1)
    ho, wo = (h + 2 - kh) // sh + 1, (w + 1 - kw) // sw + 1
    dst = sram.alloc((c, ho, wo), DType.I8)
    run(machine, make("vec.pool", dst=dst, src=sram.put(x), kind=kind, mode=mode, kernel=(kh, kw),
                      stride=(sh, sw), pads=pads, count_include_pad=include_pad, x_zp=-4,
                      out_zp=6, x_scale=0.03, out_scale=0.05))
    got = machine.read(dst, "test")
    expected = np.zeros((n, c, ho, wo), np.int64)
    for i, j in itertools.product(range(ho), range(wo)):
        r0, c0 = i * sh - pads[0], j * sw - pads[1]
        rows = [r for r in range(r0, r0 + kh) if 0 <= r < h]
        cols = [q for q in range(c0, c0 + kw) if 0 <= q < w]
        win = x[:, :, rows][:, :, :, cols].astype(np.int64).reshape(n, c, -1)
        if kind == "max":
            expected[:, :, i, j] = win.max(axis=-1)
        elif mode == "tflite":
            total = win.sum(-1) + (-4) * (kh * kw - win.shape[-1]) * include_pad
            expected[:, :, i, j] = divide_round_half_away(total, kh * kw if include_pad else win.shape[-1])
        else:
            s = np.zeros((n, c), f32)
            for k in range(win.shape[-1]):  # float32 running sum, as onnxruntime
                s = (s + (f32(0.03) * (win[..., k] + 4).astype(f32)).astype(f32)).astype(f32)
            count = f32(kh * kw if include_pad else win.shape[-1])
            v = (((s / count).astype(f32) / f32(0.05)).astype(f32) + f32(6)).astype(f32)
            expected[:, :, i, j] = np.clip(np.rint(v), -128, 127)
    np.testing.assert_array_equal(got, expected.astype(np.int8))


@pytest.mark.parametrize("target", TARGET_LIST, ids=lambda t: t.name)
@pytest.mark.parametrize("mode", ["tflite", "onnxruntime"])
def test_add_and_mul(target: TargetSpec, mode: str) -> None:
    rng = np.random.default_rng(5)
    n = target.slices
    machine, sram = fresh(target)
    a, b = _levels(rng, (n, 2, 50)), _levels(rng, (n, 2, 50))
    ma, mb = sram.put(a), sram.put(b)
    add_dst, mul_dst = sram.alloc((2, 50), DType.I8), sram.alloc((2, 50), DType.I8)
    sa, sb, sc, za, zb, zc = 0.02, 0.03, 0.04, 3, -7, 2
    am, ash = quantize_multiplier(sa / (2 * max(sa, sb)))
    bm, bsh = quantize_multiplier(sb / (2 * max(sa, sb)))
    om, osh = quantize_multiplier(2 * max(sa, sb) / ((1 << 20) * sc))
    mm, msh = quantize_multiplier(sa * sb / sc)
    run(machine, make("vec.add", dst=add_dst, a=ma, b=mb, mode=mode, a_zp=za, b_zp=zb, out_zp=zc,
                      a_mult=am, a_shift=ash, b_mult=bm, b_shift=bsh, out_mult=om,
                      out_shift=osh, a_ratio=f32(sa) / f32(sc), b_ratio=f32(sb) / f32(sc)))
    run(machine, make("vec.mul", dst=mul_dst, a=ma, b=mb, mode=mode, a_zp=za, b_zp=zb, out_zp=zc,
                      mult=mm, shift=msh, scale=f32(f32(sa) * f32(sb)) / f32(sc)))
    ai, bi = a.astype(np.int64), b.astype(np.int64)
    if mode == "tflite":
        sa_ = multiply_by_quantized_multiplier((ai - za) << 20, am, ash).astype(np.int64)
        sb_ = multiply_by_quantized_multiplier((bi - zb) << 20, bm, bsh).astype(np.int64)
        add = multiply_by_quantized_multiplier(sa_ + sb_, om, osh).astype(np.int64) + zc
        mul = multiply_by_quantized_multiplier((ai - za) * (bi - zb), mm, msh).astype(np.int64) + zc
    else:
        ra, rb = f32(sa) / f32(sc), f32(sb) / f32(sc)
        fixed = f32(f32(zc) - f32(np.float64(ra) * za + np.float64(f32(rb * f32(zb)))))
        inner = (bi * np.float64(rb) + np.float64(fixed)).astype(f32)
        add = np.rint((ai * np.float64(ra) + inner.astype(np.float64)).astype(f32))
        r = f32(f32(sa) * f32(sb)) / f32(sc)
        mul = np.rint((((ai - za) * (bi - zb)).astype(f32) * r).astype(f32) + f32(zc))
    np.testing.assert_array_equal(machine.read(add_dst, "t"), np.clip(add, -128, 127).astype(np.int8))
    np.testing.assert_array_equal(machine.read(mul_dst, "t"), np.clip(mul, -128, 127).astype(np.int8))


@pytest.mark.parametrize("target", TARGET_LIST, ids=lambda t: t.name)
def test_reduce_and_moves(target: TargetSpec) -> None:
    rng = np.random.default_rng(6)
    n = target.slices
    machine, sram = fresh(target)
    x = _levels(rng, (n, 3, 8))
    mx = sram.put(x)
    red = sram.alloc((3, 1), DType.I32)
    run(machine, make("vec.reduce", dst=red, src=mx, axis=1, x_zp=-1))
    np.testing.assert_array_equal(machine.read(red, "t"), (x.astype(np.int64) + 1).sum(-1, keepdims=True))
    # Shift every slice's tile one slice down (a halo exchange), and broadcast slice 0's tile.
    shifted = MemRef(Space.SRAM, DType.I8, (3, 8), 0x8000, 1, n - 1)
    run(machine, make("move.copy", dst=shifted,
                      src=MemRef(Space.SRAM, DType.I8, (3, 8), mx.address, 0, n - 1)))
    np.testing.assert_array_equal(machine.read(shifted, "t"), x[:-1])
    everywhere = MemRef(Space.SRAM, DType.I8, (3, 8), 0x9000, 0, n)
    run(machine, make("move.copy", dst=everywhere, broadcast=1,
                      src=MemRef(Space.SRAM, DType.I8, (3, 8), mx.address, 0, 1)))
    np.testing.assert_array_equal(machine.read(everywhere, "t"), np.broadcast_to(x[:1], x.shape))
    # Slices [0:4] repeated over every group of 4 slices.
    repeated = MemRef(Space.SRAM, DType.I8, (3, 8), 0xA000, 0, n)
    run(machine, make("move.copy", dst=repeated, broadcast=1,
                      src=MemRef(Space.SRAM, DType.I8, (3, 8), mx.address, 0, 4)))
    np.testing.assert_array_equal(machine.read(repeated, "t"), np.tile(x[:4], (n // 4, 1, 1)))


@pytest.mark.parametrize("target", TARGET_LIST, ids=lambda t: t.name)
def test_dma_split_broadcast_and_store(target: TargetSpec) -> None:
    rng = np.random.default_rng(7)
    n = target.slices
    machine, sram = fresh(target)
    data = _levels(rng, (n, 2, 16))
    machine.dram[:data.size] = data.view(np.uint8).reshape(-1)
    split = sram.alloc((2, 16), DType.I8)
    run(machine, make("dma.load", dst=split, src=MemRef(Space.DRAM, DType.I8, (n * 2, 16), 0)))
    np.testing.assert_array_equal(machine.read(split, "t"), data)
    every = sram.alloc((2, 16), DType.I8)
    run(machine, make("dma.load", dst=every, broadcast=1, src=MemRef(Space.DRAM, DType.I8, (2, 16), 0)))
    np.testing.assert_array_equal(machine.read(every, "t"), np.broadcast_to(data[:1], data.shape))
    out = MemRef(Space.DRAM, DType.I8, (n, 2, 16), 0x40000)
    run(machine, make("dma.store", dst=out, src=every))
    np.testing.assert_array_equal(machine.read(out, "t"), np.broadcast_to(data[:1], data.shape))


def test_wrong_address_and_shape_are_errors_or_wrong_outputs() -> None:
    target = TARGETS["warboy"]
    machine, sram = fresh(target)
    x = np.ones((64, 4), np.int8)
    mx = sram.put(x)
    too_far = MemRef(Space.SRAM, DType.I8, (4,), target.sram_per_slice - 2, 0, 64)
    with pytest.raises(SimulatorError, match="pass the end of a slice"):
        run(machine, make("move.copy", dst=too_far, src=mx))
    with pytest.raises(SimulatorError, match="outside the 64 slices"):
        run(machine, make("move.copy", dst=MemRef(Space.SRAM, DType.I8, (4,), 0, 1, 64), src=mx))
    with pytest.raises(SimulatorError, match="different numbers of elements"):
        run(machine, make("move.copy", dst=MemRef(Space.SRAM, DType.I8, (5,), 0x100, 0, 64), src=mx))
    # An overlapping allocation is not detected: it silently clobbers, as on the chip.
    overlapping = MemRef(Space.SRAM, DType.I8, (4,), mx.address + 2, 0, 64)
    run(machine, make("move.copy", dst=overlapping, src=MemRef(Space.SRAM, DType.I8, (4,), 0x200, 0, 64)))
    assert not np.array_equal(machine.read(mx, "t"), x)


def test_exact_matmul_is_exact_beyond_float32_precision() -> None:
    from furiosa.backend.warboy.simulator.functional import exact_matmul

    rng = np.random.default_rng(8)
    a = rng.choice(np.array([255, 253, 251, 1], np.float32), size=(3, 4, 5000))
    b = rng.choice(np.array([127, 125, 3, 1], np.float32), size=(3, 5000, 6))
    expected = np.einsum("smk,skn->smn", a.astype(np.int64), b.astype(np.int64))
    np.testing.assert_array_equal(exact_matmul(a, b), expected)
    # Without chunking float32 would round these sums.
    assert not np.array_equal(np.matmul(a, b).astype(np.int64), expected)


@pytest.mark.parametrize("target", TARGET_LIST, ids=lambda t: t.name)
@pytest.mark.parametrize(("length", "periodic", "kernel"), [(4, True, 3), (4, False, 3), (8, True, 1),
                                                         (2, False, 1)])
def test_conv_with_weights_shared_across_slices(target: TargetSpec, length: int, periodic: bool,
                                                kernel: int) -> None:
    # A layer tiled by rows gives runs of slices with the same weights; tiled by rows and
    # output-channel chunks, the input tiles also repeat. Both must compute per slice as usual.
    rng = np.random.default_rng(length)
    n, c, m = target.slices, 8, 3
    machine, sram = fresh(target)
    distinct = _levels(rng, (length, c, 5, 6))
    x = np.tile(distinct, (n // length, 1, 1, 1)) if periodic else _levels(rng, (n, c, 5, 6))
    wt = np.repeat(_levels(rng, (n // length, m, c, kernel, kernel), -127, 127), length, axis=0)
    pads = (kernel // 2,) * 4
    ref = [conv_reference(x[s], wt[s], (1, 1), (1, 1), pads, 1, 2) for s in range(n)]
    dst = sram.alloc(ref[0].shape, DType.I32)
    inst = make("mac.conv", dst=dst, src=sram.put(x), weights=sram.put(wt), pads=pads, x_zp=2)
    run(machine, inst)
    np.testing.assert_array_equal(machine.read(dst, "test"), np.stack(ref))
