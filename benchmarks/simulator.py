"""Simulator speed: 53 convolutions with ResNet50's layer shapes, simulator vs onnxruntime.

``python -m benchmarks.simulator [--out FILE.json] [--docs docs/benchmarks.md] [--repeat N]``

The same work on both sides: each of ResNet50-v1.5's 53 convolutions (stem, bottleneck 1x1 /
3x3 / 1x1 and the four projections) on seeded INT8 inputs and weights, requantized per output
channel. onnxruntime runs an equivalent QDQ model built with ``onnx.helper`` (with
``session.qdqisint8allowed=1``, so its integer kernels run); the simulator runs one NPU program
of coarse instructions that tiles every convolution over Warboy's slices (output rows and
output-channel chunks, halos materialised in DRAM). The outputs are compared bit for bit; the
figure of merit is simulator wall time / onnxruntime wall time (target: at most 5). Both sides
run on one thread (onnxruntime's ``intra_op_num_threads=1``; numpy's BLAS through
``OPENBLAS_NUM_THREADS=1``, set by re-running the benchmark when it is not), so the ratio
compares the work, not the scheduling, and stays stable on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import attrs
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from benchmarks import report
from furiosa.backend.warboy.enf import Header, parse_enf, write_enf
from furiosa.backend.warboy.isa import DType, Instruction, MemRef, Program, Space, make
from furiosa.backend.warboy.simulator import simulate
from furiosa.backend.warboy.target import TargetSpec, get_target
from furiosa.ir.quantization import combined_scale

ALIGN = 64


@attrs.frozen
class Layer:
    name: str
    cin: int
    cout: int
    kernel: int
    stride: int
    size: int  # input height = width

    @property
    def pad(self) -> int:
        return self.kernel // 2

    @property
    def out(self) -> int:
        return (self.size + 2 * self.pad - self.kernel) // self.stride + 1

    @property
    def macs(self) -> int:
        return self.cout * self.out * self.out * self.cin * self.kernel * self.kernel


def resnet50_convs() -> list[Layer]:
    """The 53 convolutions of ResNet50-v1.5 (stride on the 3x3 of each bottleneck)."""
    layers = [Layer("conv1", 3, 64, 7, 2, 224)]
    cin, size = 64, 56
    for stage, (mid, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), 2):
        out = mid * 4
        for b in range(blocks):
            stride = 2 if b == 0 and stage > 2 else 1
            p = f"res{stage}{chr(ord('a') + b)}"
            layers.append(Layer(f"{p}_branch2a", cin, mid, 1, 1, size))
            layers.append(Layer(f"{p}_branch2b", mid, mid, 3, stride, size))
            if b == 0:
                layers.append(Layer(f"{p}_branch1", cin, out, 1, stride, size))
            size //= stride
            layers.append(Layer(f"{p}_branch2c", mid, out, 1, 1, size))
            cin = out
    assert len(layers) == 53
    return layers


@attrs.frozen
class Data:
    x: np.ndarray
    w: np.ndarray
    bias: np.ndarray
    sw: np.ndarray
    sx: float = 0.05
    zx: int = -3
    sy: float = 0.2
    zy: int = 4


def make_data(layers: list[Layer], seed: int) -> list[Data]:
    rng = np.random.default_rng(seed)
    out = []
    for la in layers:
        x = rng.integers(-128, 128, size=(1, la.cin, la.size, la.size)).astype(np.int8)
        w = rng.integers(-127, 128, size=(la.cout, la.cin, la.kernel, la.kernel)).astype(np.int8)
        depth = la.cin * la.kernel * la.kernel
        # Weight scales that keep outputs spread over the int8 range.
        sw = (rng.uniform(0.5, 1.5, size=la.cout) * 4.0 / (0.05 * 127 * 60 * math.sqrt(depth)))
        bias = rng.integers(-2000, 2000, size=la.cout).astype(np.int32)
        out.append(Data(x, w, bias, sw.astype(np.float32)))
    return out


# --------------------------------------------------------------------------- onnxruntime side


def qdq_model(layers: list[Layer], data: list[Data]) -> onnx.ModelProto:
    nodes, inits, inputs, outputs = [], [], [], []
    for i, (la, d) in enumerate(zip(layers, data, strict=True)):
        p = f"l{i}_"
        inits += [numpy_helper.from_array(np.array(d.sx, np.float32), p + "sx"),
                  numpy_helper.from_array(np.array(d.zx, np.int8), p + "zx"),
                  numpy_helper.from_array(d.w, p + "w"),
                  numpy_helper.from_array(d.sw, p + "sw"),
                  numpy_helper.from_array(np.zeros(la.cout, np.int8), p + "zw"),
                  numpy_helper.from_array(d.bias, p + "b"),
                  numpy_helper.from_array((np.float32(d.sx) * d.sw).astype(np.float32), p + "sb"),
                  numpy_helper.from_array(np.zeros(la.cout, np.int32), p + "zb"),
                  numpy_helper.from_array(np.array(d.sy, np.float32), p + "sy"),
                  numpy_helper.from_array(np.array(d.zy, np.int8), p + "zy")]
        nodes += [
            helper.make_node("DequantizeLinear", [p + "x", p + "sx", p + "zx"], [p + "xf"]),
            helper.make_node("DequantizeLinear", [p + "w", p + "sw", p + "zw"], [p + "wf"], axis=0),
            helper.make_node("DequantizeLinear", [p + "b", p + "sb", p + "zb"], [p + "bf"], axis=0),
            helper.make_node("Conv", [p + "xf", p + "wf", p + "bf"], [p + "yf"],
                             kernel_shape=[la.kernel] * 2, strides=[la.stride] * 2,
                             pads=[la.pad] * 4),
            helper.make_node("QuantizeLinear", [p + "yf", p + "sy", p + "zy"], [p + "y"]),
        ]
        inputs.append(helper.make_tensor_value_info(p + "x", TensorProto.INT8, d.x.shape))
        outputs.append(helper.make_tensor_value_info(p + "y", TensorProto.INT8, None))
    graph = helper.make_graph(nodes, "resnet50_convs", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


# --------------------------------------------------------------------------- NPU program


@attrs.frozen
class Tiling:
    """Output rows in ``hs`` groups and output channels in ``cs`` chunks: slice c·hs + g."""

    hs: int
    cs: int
    rows_out: int
    rows_in: int
    footprint: int
    cycles: int


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _footprint(la: Layer, rows_out: int, mc: int) -> tuple[int, int]:
    rows_in = (rows_out - 1) * la.stride + la.kernel
    wp = la.size + 2 * la.pad
    parts = [la.cin * rows_in * wp, mc * la.cin * la.kernel ** 2 + 8 * mc,
             4 * mc * rows_out * la.out, mc * rows_out * la.out]
    return rows_in, sum(_aligned(p) for p in parts)


def choose_tiling(la: Layer, t: TargetSpec) -> Tiling:
    best: Tiling | None = None
    cs = 1
    while cs <= min(t.slices, la.cout):
        mc = la.cout // cs
        for hs in range(1, min(la.out, t.slices // cs) + 1):
            rows_out = -(-la.out // hs)
            rows_in, size = _footprint(la, rows_out, mc)
            if size > t.sram_per_slice:
                continue
            cycles = (-(-mc // t.mac_array_height) * -(-la.cin * la.kernel ** 2 // t.mac_array_width)
                      * rows_out * la.out)
            cand = Tiling(hs, cs, rows_out, rows_in, size, cycles)
            if best is None or (cand.cycles, cand.footprint) < (best.cycles, best.footprint):
                best = cand
        cs *= 2
    if best is None:
        raise SystemExit(f"{la.name} does not fit in SRAM with any tiling")
    return best


def build_enf(layers: list[Layer], data: list[Data], target: TargetSpec) -> tuple[bytes, list]:
    image = bytearray()

    def place(raw: bytes) -> int:
        nonlocal image
        at = len(image)
        image += raw + bytes(_aligned(len(raw)) - len(raw))
        return at

    insts: list[Instruction] = []
    placements = []
    last_store: dict[str, int] = {}  # SRAM half ("lo"/"hi"/"all") -> its last reader (a store)
    half = target.sram_per_slice // 2
    for i, (la, d) in enumerate(zip(layers, data, strict=True)):
        tl = choose_tiling(la, target)
        mc, wp = la.cout // tl.cs, la.size + 2 * la.pad
        # Lowered input: padded with the zero point, cut into hs row tiles with their halos.
        need = (tl.hs * tl.rows_out - 1) * la.stride + la.kernel
        xp = np.pad(d.x[0], ((0, 0), (la.pad, max(0, need - la.size - la.pad)), (la.pad, la.pad)),
                    constant_values=d.zx)
        starts = np.arange(tl.hs) * tl.rows_out * la.stride
        tiles = np.stack([xp[:, s:s + tl.rows_in] for s in starts])  # (hs, cin, rows_in, wp)
        x_at = place(tiles.tobytes())
        # Per channel chunk: weights, then int32 bias, then float32 combined scales.
        scales = combined_scale(d.sx, d.sw, d.sy)
        chunk_at = [place(d.w[c * mc:(c + 1) * mc].tobytes() + d.bias[c * mc:(c + 1) * mc].tobytes()
                          + scales[c * mc:(c + 1) * mc].astype("<f4").tobytes())
                    for c in range(tl.cs)]
        y_bytes = tl.cs * tl.hs * mc * tl.rows_out * la.out
        y_at = place(bytes(y_bytes))
        placements.append((la, tl, y_at))
        # Per-slice SRAM: [input][weights | bias | scales][accumulators][output], in one half
        # when it fits there (so that the next layer's loads overlap this one's compute).
        region = ("lo" if i % 2 == 0 else "hi") if tl.footprint <= half else "all"
        base = half if region == "hi" else 0
        in_b = _aligned(la.cin * tl.rows_in * wp)
        w_bytes = mc * la.cin * la.kernel ** 2
        w_b = _aligned(w_bytes + 8 * mc)
        acc_b = _aligned(4 * mc * tl.rows_out * la.out)
        a_in, a_w, a_acc = base, base + in_b, base + in_b + w_b
        a_out = a_acc + acc_b
        n = tl.hs * tl.cs
        blockers = [last_store[r] for r in last_store
                    if r == region or "all" in (r, region)]
        wait = (max(blockers),) if blockers else ()

        def sram(first: int, count: int, shape: tuple[int, ...], dtype: DType, at: int) -> MemRef:
            return MemRef(Space.SRAM, dtype, shape, at, first, count)

        in_shape = (la.cin, tl.rows_in, wp)
        load = len(insts)
        insts.append(make("dma.load", op=i, deps=wait, dst=sram(0, tl.hs, in_shape, DType.I8, a_in),
                          src=MemRef(Space.DRAM, DType.I8, (tl.hs, *in_shape), x_at)))
        ready = [load]
        if tl.cs > 1:  # the other channel chunks get the input tiles across slices
            ready.append(len(insts))
            insts.append(make("move.copy", op=i, deps=(load,), broadcast=1,
                              dst=sram(tl.hs, tl.hs * (tl.cs - 1), in_shape, DType.I8, a_in),
                              src=sram(0, tl.hs, in_shape, DType.I8, a_in)))
        for c in range(tl.cs):
            ready.append(len(insts))
            insts.append(make("dma.load", op=i, deps=wait, broadcast=1,
                              dst=sram(c * tl.hs, tl.hs, (w_bytes + 8 * mc,), DType.I8, a_w),
                              src=MemRef(Space.DRAM, DType.I8, (w_bytes + 8 * mc,), chunk_at[c])))
        acc_shape = (mc, tl.rows_out, la.out)
        conv = len(insts)
        insts.append(make("mac.conv", op=i, deps=tuple(ready), stride=(la.stride, la.stride),
                          x_zp=d.zx, dst=sram(0, n, acc_shape, DType.I32, a_acc),
                          src=sram(0, n, in_shape, DType.I8, a_in),
                          weights=sram(0, n, (mc, la.cin, la.kernel, la.kernel), DType.I8, a_w),
                          bias=sram(0, n, (mc,), DType.I32, a_w + w_bytes)))
        insts.append(make("vec.requant", op=i, deps=(conv,), mode="onnxruntime", out_zp=d.zy,
                          dst=sram(0, n, acc_shape, DType.I8, a_out),
                          src=sram(0, n, acc_shape, DType.I32, a_acc),
                          params=sram(0, n, (mc,), DType.F32, a_w + w_bytes + 4 * mc)))
        last_store[region] = len(insts)
        insts.append(make("dma.store", op=i, deps=(conv + 1,),
                          dst=MemRef(Space.DRAM, DType.I8, (n, *acc_shape), y_at),
                          src=sram(0, n, acc_shape, DType.I8, a_out)))
    names = tuple(la.name for la in layers)
    program = Program("resnet50_convs", names, tuple(insts))
    header = Header("bench", target.name, target.hash(), 1, "benchmark", "", (), (),
                    _aligned(len(image)), 0)
    return write_enf(header, [program], bytes(image), "", names), placements


def unlower(machine_dram: np.ndarray, la: Layer, tl: Tiling, y_at: int) -> np.ndarray:
    mc = la.cout // tl.cs
    raw = machine_dram[y_at:y_at + tl.cs * tl.hs * mc * tl.rows_out * la.out].view(np.int8)
    y = raw.reshape(tl.cs, tl.hs, mc, tl.rows_out, la.out).transpose(0, 2, 1, 3, 4)
    return y.reshape(la.cout, tl.hs * tl.rows_out, la.out)[:, :la.out]


# --------------------------------------------------------------------------- measurement


def measure(layers: list[Layer], data: list[Data], target: TargetSpec,
            repeat: int) -> dict[str, object]:
    """Run ``layers`` on onnxruntime and on the simulator; outputs compared, walls timed."""
    so = ort.SessionOptions()
    so.add_session_config_entry("session.qdqisint8allowed", "1")
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    session = ort.InferenceSession(qdq_model(layers, data).SerializeToString(), so,
                                   providers=["CPUExecutionProvider"])
    feeds = {f"l{i}_x": d.x for i, d in enumerate(data)}
    reference = session.run(None, feeds)
    ort_times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        session.run(None, feeds)
        ort_times.append(time.perf_counter() - t0)

    enf_bytes, placements = build_enf(layers, data, target)
    enf = parse_enf(enf_bytes, "resnet50_convs.enf")
    sim_times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = simulate(enf, {}, target, keep_machine=True)
        sim_times.append(time.perf_counter() - t0)
    assert result is not None and result.machine is not None
    mismatched = 0
    for (la, tl, y_at), ref in zip(placements, reference, strict=True):
        got = unlower(result.machine.dram, la, tl, y_at)
        mismatched += int((got != ref[0]).sum())
    r = result.report
    sim_wall, ort_wall = min(sim_times), min(ort_times)
    return {
        "target": target.name, "layers": len(layers),
        "macs": sum(la.macs for la in layers),
        "instructions": len(enf.programs[0].instructions),
        "simulator_wall_s": round(sim_wall, 4), "onnxruntime_wall_s": round(ort_wall, 4),
        "ratio": round(sim_wall / ort_wall, 2),
        "outputs_mismatched": mismatched,
        "simulated_cycles": r.total_cycles, "simulated_latency_ms": round(r.latency_s * 1e3, 4),
        "mac_utilisation": round(r.mac_utilisation, 4),
        "dram_read_bytes": r.dram_read_bytes, "dram_write_bytes": r.dram_write_bytes,
        "sram_peak_bytes_per_slice": r.sram_peak_bytes_per_slice,
    }


def run(repeat: int, seed: int, target_name: str) -> dict[str, object]:
    layers = resnet50_convs()
    res: dict[str, object] = {"benchmark": "53 ResNet50-v1.5 convolutions, INT8, batch 1"}
    res.update(measure(layers, make_data(layers, seed), get_target(target_name), repeat))
    res.update({"repeat": repeat, "seed": seed,
                "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}, "
                           f"onnxruntime {ort.__version__}"})
    return res


def docs_section(res: dict[str, object]) -> str:
    return "\n".join([
        "## Simulator speed",
        "",
        "`python -m benchmarks.simulator --docs docs/benchmarks.md` runs ResNet50-v1.5's 53",
        "convolutions (INT8, batch 1, seeded data) on the simulator and on onnxruntime's integer",
        "kernels (`session.qdqisint8allowed=1`, an equivalent QDQ model), compares the outputs",
        "bit for bit, and times both on one thread (best of the repeats). Target: simulator /",
        "onnxruntime <= 5.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| target | `{res['target']}` |",
        f"| MACs | {res['macs']:,} |",
        f"| NPU instructions | {res['instructions']} |",
        f"| outputs differing from onnxruntime | {res['outputs_mismatched']} |",
        f"| simulator wall | {float(res['simulator_wall_s']) * 1e3:.1f} ms |",
        f"| onnxruntime wall | {float(res['onnxruntime_wall_s']) * 1e3:.1f} ms |",
        f"| **ratio** | **{res['ratio']}x** |",
        f"| simulated NPU time | {res['simulated_cycles']:,} cycles = {res['simulated_latency_ms']} ms |",
        f"| simulated MAC utilisation | {float(res['mac_utilisation']) * 100:.1f} % |",
        "",
        f"Measured on {res['machine']}.",
    ])


THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def main(argv: list[str] | None = None) -> int:
    if argv is None and any(os.environ.get(v) != "1" for v in THREAD_VARIABLES):
        # BLAS reads its thread count when numpy loads: start again with one thread.
        env = dict(os.environ, **dict.fromkeys(THREAD_VARIABLES, "1"))
        os.execve(sys.executable, [sys.executable, "-m", "benchmarks.simulator", *sys.argv[1:]], env)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simulator", description=__doc__)
    parser.add_argument("--out", default="benchmarks/results/simulator.json", help="JSON result")
    parser.add_argument("--docs", default=None, help="update this markdown file's section")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", default="warboy")
    args = parser.parse_args(argv)
    res = run(args.repeat, args.seed, args.target)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    if args.docs:
        report.write_section(Path(args.docs), "simulator", docs_section(res))
    json.dump(res, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if res["outputs_mismatched"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
