"""Hand-written NPU programs for the ISA, ENF and simulator tests, with numpy references."""

from __future__ import annotations

import numpy as np

from furiosa.ir.quantization import combined_scale


def hexconst(name: str, array: np.ndarray, address: int) -> str:
    dtype = {np.dtype(np.int8): "i8", np.dtype(np.uint8): "u8", np.dtype("<i4"): "i32",
             np.dtype("<f4"): "f32"}[array.dtype]
    shape = "x".join(str(d) for d in array.shape)
    return f".const {name} {dtype} {shape} @{address:#x} hex {array.tobytes().hex()}\n"


def conv_example(slices: int = 8, per_slice: int = 4, mode: str = "onnxruntime",
                 target: str = "warboy", seed: int = 0) -> tuple[str, dict[str, np.ndarray]]:
    """Conv 3x3 (pads 1) + requantize + ReLU table + 2x2 max pool, output channels tiled over
    ``slices`` slices (``per_slice`` each), the input broadcast to every slice.

    Returns the assembly text and the constants by name (for the reference).
    """
    rng = np.random.default_rng(seed)
    c, h, w, m = 16, 8, 32, slices * per_slice
    weights = rng.integers(-127, 128, size=(m, c, 3, 3), dtype=np.int8)
    bias = rng.integers(-3000, 3000, size=m).astype("<i4")
    sx, sy, x_zp, y_zp = 0.05, 0.4, -3, 5
    sw = (rng.uniform(0.002, 0.02, size=m)).astype(np.float32)
    if mode == "onnxruntime":
        params = combined_scale(sx, sw, sy).astype("<f4")
    else:
        from furiosa.ir.quantization import quantize_multiplier

        pairs = [quantize_multiplier(float(np.float64(sx) * np.float64(s) / sy)) for s in sw]
        params = np.array([[p[0] for p in pairs], [p[1] for p in pairs]], dtype="<i4")
        # Per slice: rows (multipliers, shifts) for that slice's channels.
        params = params.reshape(2, slices, per_slice).transpose(1, 0, 2).copy()
    levels = np.arange(-128, 128)
    relu = np.maximum(levels, y_zp).astype(np.int8)
    table = np.empty(256, np.int8)
    table[levels.astype(np.int8).view(np.uint8)] = relu
    consts = {"weights": weights, "bias": bias, "params": params, "relu": table}
    pdt = "f32" if mode == "onnxruntime" else "i32"
    pshape = f"{per_slice}" if mode == "onnxruntime" else f"2x{per_slice}"
    pall = f"{m}" if mode == "onnxruntime" else f"{slices}x2x{per_slice}"
    xb = c * h * w
    s = f"sram[0:{slices}]"
    text = (
        f"# conv 3x3 + requantize ({mode}) + relu + maxpool, {slices} slices\n"
        f".target {target}\n"
        f".input x i8 {c}x{h}x{w} @0x0 scale={sx} zp={x_zp}\n"
        f".output y i8 {m}x{h // 2}x{w // 2} @{xb:#x} scale={sy} zp={y_zp}\n"
        + hexconst("weights", weights, 0x0)
        + hexconst("bias", bias, 0x10000)
        + hexconst("params", params, 0x11000)
        + hexconst("relu", table, 0x12000)
        + '.op "conv1"\n.op "relu1"\n.op "pool1"\n'
        + '.program "main"\n'
        f"i0 = host.load dst=dram@0x20000:i8<{c}x{h}x{w}> src=host@0x0:i8<{c}x{h}x{w}> op=0\n"
        f"i1 = dma.load dst={s}@0x0:i8<{c}x{h}x{w}> src=dram@0x20000:i8<{c}x{h}x{w}> "
        f"broadcast=1 op=0 after=i0\n"
        f"i2 = dma.load dst={s}@0x1000:i8<{per_slice}x{c}x3x3> src=dram@0x0:i8<{m}x{c}x3x3> op=0\n"
        f"i3 = dma.load dst={s}@0x3000:i32<{per_slice}> src=dram@0x10000:i32<{m}> op=0\n"
        f"i4 = dma.load dst={s}@0x3100:{pdt}<{pshape}> src=dram@0x11000:{pdt}<{pall}> op=0\n"
        f"i5 = dma.load dst={s}@0x3200:i8<256> src=dram@0x12000:i8<256> broadcast=1 op=1\n"
        f"i6 = mac.conv dst={s}@0x4000:i32<{per_slice}x{h}x{w}> src={s}@0x0:i8<{c}x{h}x{w}> "
        f"weights={s}@0x1000:i8<{per_slice}x{c}x3x3> bias={s}@0x3000:i32<{per_slice}> "
        f"pads=1,1,1,1 x_zp={x_zp} op=0 after=i1,i2,i3\n"
        f"i7 = vec.requant dst={s}@0x8000:i8<{per_slice}x{h}x{w}> "
        f"src={s}@0x4000:i32<{per_slice}x{h}x{w}> params={s}@0x3100:{pdt}<{pshape}> "
        f"mode={mode} axis=0 out_zp={y_zp} op=0 after=i6,i4\n"
        f"i8 = tab.lookup dst={s}@0x9000:i8<{per_slice}x{h}x{w}> src={s}@0x8000:i8<{per_slice}x{h}x{w}> "
        f"table={s}@0x3200:i8<256> op=1 after=i7,i5\n"
        f"i9 = vec.pool dst={s}@0xa000:i8<{per_slice}x{h // 2}x{w // 2}> "
        f"src={s}@0x9000:i8<{per_slice}x{h}x{w}> kind=max kernel=2,2 stride=2,2 op=2 after=i8\n"
        f"i10 = dma.store dst=dram@0x21000:i8<{m}x{h // 2}x{w // 2}> "
        f"src={s}@0xa000:i8<{per_slice}x{h // 2}x{w // 2}> op=2 after=i9\n"
        f"i11 = host.store dst=host@{xb:#x}:i8<{m}x{h // 2}x{w // 2}> "
        f"src=dram@0x21000:i8<{m}x{h // 2}x{w // 2}> op=2 after=i10\n"
    )
    consts.update(sx=np.float32(sx), sy=np.float32(sy), sw=sw, x_zp=np.int64(x_zp),
                  y_zp=np.int64(y_zp))
    return text, consts


def conv_accumulator(x: np.ndarray, w: np.ndarray, bias: np.ndarray, x_zp: int,
                     pads: int = 1) -> np.ndarray:
    """Reference int64 accumulators of a stride-1 conv over (C, H, W), by explicit taps."""
    _c, h, wd = x.shape
    m, _, kh, kw = w.shape
    xp = np.pad(x.astype(np.int64) - x_zp, ((0, 0), (pads, pads), (pads, pads)))
    ho, wo = h + 2 * pads - kh + 1, wd + 2 * pads - kw + 1
    acc = np.zeros((m, ho, wo), np.int64)
    for i in range(kh):
        for j in range(kw):
            acc += np.einsum("mc,chw->mhw", w[:, :, i, j].astype(np.int64),
                             xp[:, i:i + ho, j:j + wo])
    return acc + bias.astype(np.int64)[:, None, None]


def mlp_example(seed: int = 0) -> tuple[str, dict[str, np.ndarray]]:
    """A dense layer on warboy-2pe in tflite arithmetic: rows split over all 128 slices, the
    weights broadcast; requantize, a tanh table, a residual add of the two, and row sums."""
    from furiosa.ir.quantization import lookup_table, quantize_multiplier
    from furiosa.ir.types import ElementType, Quantization

    rng = np.random.default_rng(seed)
    slices, rows, k, n = 128, 16, 64, 32
    w = rng.integers(-127, 128, size=(k, n), dtype=np.int8)
    bias = rng.integers(-500, 500, size=n).astype("<i4")
    sx, xz, sw, sy, yz = 0.03, 2, 0.01, 0.08, -1
    mult, shift = quantize_multiplier(sx * sw / sy)
    params = np.array([[mult], [shift]], dtype="<i4")
    q = Quantization.per_tensor
    table = lookup_table(np.tanh, q(sy, yz), ElementType.I8, q(1 / 128, 0), ElementType.I8)
    # TFLite ADD of y (sy, yz) and t (1/128, 0) into (0.1, 0), left shift 20.
    so = 0.1
    twice = 2 * max(sy, 1 / 128)
    am, ash = quantize_multiplier(sy / twice)
    bm, bsh = quantize_multiplier((1 / 128) / twice)
    om, osh = quantize_multiplier(twice / ((1 << 20) * so))
    consts = {"w": w, "bias": bias, "params": params, "table": table,
              "add": np.array([am, ash, bm, bsh, om, osh]), "mult": np.array([mult, shift])}
    s = f"sram[0:{slices}]"
    text = (
        "# dense + requantize (tflite) + tanh table + residual add + row sums, 128 slices\n"
        ".target warboy-2pe\n"
        f".input x i8 {slices}x{rows}x{k} @0x0 scale={sx} zp={xz}\n"
        f".output y i8 {slices}x{rows}x{n} @0x40000 scale={so} zp=0\n"
        f".output sums i32 {slices}x{rows}x1 @0x80000\n"
        + hexconst("w", w, 0x0) + hexconst("bias", bias, 0x800)
        + hexconst("params", params, 0x900) + hexconst("tanh", table, 0xa00)
        + '.op "dense"\n.op "tanh"\n.op "residual"\n.op "sum"\n.program "main"\n'
        f"i0 = host.load dst=dram@0x10000:i8<{slices}x{rows}x{k}> src=host@0x0:i8<{slices}x{rows}x{k}> op=0\n"
        f"i1 = dma.load dst={s}@0x0:i8<{rows}x{k}> src=dram@0x10000:i8<{slices}x{rows}x{k}> op=0 after=i0\n"
        f"i2 = dma.load dst={s}@0x400:i8<{k}x{n}> src=dram@0x0:i8<{k}x{n}> broadcast=1 op=0\n"
        f"i3 = dma.load dst={s}@0xc00:i32<{n}> src=dram@0x800:i32<{n}> broadcast=1 op=0\n"
        f"i4 = dma.load dst={s}@0xc80:i32<2x1> src=dram@0x900:i32<2x1> broadcast=1 op=0\n"
        f"i5 = dma.load dst={s}@0xd00:i8<256> src=dram@0xa00:i8<256> broadcast=1 op=1\n"
        f"i6 = mac.matmul dst={s}@0x1000:i32<{rows}x{n}> a={s}@0x0:i8<{rows}x{k}> "
        f"b={s}@0x400:i8<{k}x{n}> bias={s}@0xc00:i32<{n}> a_zp={xz} op=0 after=i1,i2,i3\n"
        f"i7 = vec.requant dst={s}@0x1800:i8<{rows}x{n}> src={s}@0x1000:i32<{rows}x{n}> "
        f"params={s}@0xc80:i32<2x1> mode=tflite axis=1 out_zp={yz} op=0 after=i6,i4\n"
        f"i8 = tab.lookup dst={s}@0x1a00:i8<{rows}x{n}> src={s}@0x1800:i8<{rows}x{n}> "
        f"table={s}@0xd00:i8<256> op=1 after=i7,i5\n"
        f"i9 = vec.add dst={s}@0x1c00:i8<{rows}x{n}> a={s}@0x1800:i8<{rows}x{n}> "
        f"b={s}@0x1a00:i8<{rows}x{n}> a_zp={yz} b_zp=0 out_zp=0 a_mult={am} a_shift={ash} "
        f"b_mult={bm} b_shift={bsh} out_mult={om} out_shift={osh} op=2 after=i8\n"
        f"i10 = vec.reduce dst={s}@0x1e00:i32<{rows}x1> src={s}@0x1c00:i8<{rows}x{n}> axis=1 op=3 after=i9\n"
        f"i11 = dma.store dst=dram@0x20000:i8<{slices}x{rows}x{n}> src={s}@0x1c00:i8<{rows}x{n}> op=2 after=i9\n"
        f"i12 = dma.store dst=dram@0x30000:i32<{slices}x{rows}x1> src={s}@0x1e00:i32<{rows}x1> op=3 after=i10\n"
        f"i13 = host.store dst=host@0x40000:i8<{slices}x{rows}x{n}> src=dram@0x20000:i8<{slices}x{rows}x{n}> op=2 after=i11\n"
        f"i14 = host.store dst=host@0x80000:i32<{slices}x{rows}x1> src=dram@0x30000:i32<{slices}x{rows}x1> op=3 after=i12\n"
    )
    return text, consts
