"""The quant dialect: each kernel bit-exact against a slow scalar reference (plain loops with the
gemmlowp scalar functions), within one output step of the float computation on dequantized
values, and the verifier's checks of quantization parameters."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from fractions import Fraction

import numpy as np
import pytest

from furiosa.errors import IRError
from furiosa.ir.core import Operation, Value
from furiosa.ir.dialects import quant
from furiosa.ir.interpreter import run_op
from furiosa.ir.quantization import INT32_MAX, INT32_MIN, quantize_multiplier
from furiosa.ir.types import I8, I32, U8, ElementType, Quantization, TensorType
from furiosa.ir.verifier import verify_operation
from tests.ir.op_examples.quant import ModuleBuilder, q
from tests.ir.test_quantization import (
    ref_mbqm,
    ref_rdbpot,
    ref_round_half_away,
    ref_srdhm,
    ref_wrap32,
)

# --------------------------------------------------------------------------- harness


def scalar_quant(v: Value) -> tuple[float, int]:
    qq = v.type.quant
    assert qq is not None and qq.is_per_tensor
    return qq.scale[0], qq.zero_point[0]


def channel(values: Sequence[int], c: int) -> int:
    return values[c] if len(values) > 1 else values[0]


def bounds(op: Operation) -> tuple[int, int]:
    e = op.results[0].type.element
    lo = getattr(op, "activation_min", None)
    hi = getattr(op, "activation_max", None)
    return (int(e.min) if lo is None else lo, int(e.max) if hi is None else hi)


def finish(op: Operation, y: int) -> int:
    lo, hi = bounds(op)
    return min(hi, max(lo, y))


def check(op: Operation, feeds: Sequence[np.ndarray],
          reference: Callable[..., tuple[np.ndarray, np.ndarray]]) -> None:
    """The kernel equals ``reference``'s exact integers and is within 1 of its real values."""
    verify_operation(op)
    got = run_op(op, list(feeds))[0]
    exact, ideal = reference(op, *feeds)
    assert got.dtype == op.result.type.dtype and got.shape == exact.shape
    np.testing.assert_array_equal(got, exact)
    lo, hi = bounds(op)
    # The real result requantized to the output type, rounding at the very end only.
    target = np.clip(np.rint(ideal), lo, hi)
    assert np.max(np.abs(got.astype(np.float64) - target), initial=0) <= 1


def values_of(b: ModuleBuilder, op: Operation) -> list[np.ndarray]:
    """The operand arrays of an op built by ``b`` (inputs from the feeds, constants as stored)."""
    out = []
    for v in op.operands:
        if v is None:
            out.append(None)
        elif v.owner is None:
            out.append(b.feeds[v.name])
        else:
            out.append(v.owner.constant_array())
    return out


# --------------------------------------------------------------------------- convolution


def conv_reference(op: quant.Conv, x: np.ndarray, w: np.ndarray,
                   bias: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    xs, xz = scalar_quant(op.operand("input"))
    wq = op.type_of("weights").quant
    ys, yz = op.output_scale, op.output_zero_point
    win = op.window()
    nsp = len(win.kernel)
    out_sp = op.result.type.shape[2:]
    n = x.shape[0]
    m, cg = w.shape[:2]
    per_group = m // op.group
    exact = np.zeros((n, m, *out_sp), dtype=op.result.type.dtype)
    ideal = np.zeros(exact.shape)
    for b, oc, *pos in itertools.product(range(n), range(m), *[range(o) for o in out_sp]):
        g = oc // per_group
        acc, real = 0, 0.0
        w_scale = wq.scale[oc] if len(wq.scale) > 1 else wq.scale[0]
        for ic, *k in itertools.product(range(cg), *[range(kk) for kk in win.kernel]):
            idx = [pos[i] * win.strides[i] + k[i] * win.dilations[i] - win.pads[i]
                   for i in range(nsp)]
            if not all(0 <= idx[i] < x.shape[2 + i] for i in range(nsp)):
                continue
            xv = int(x[(b, g * cg + ic, *idx)]) - xz
            wv = int(w[(oc, ic, *k)])
            acc += xv * wv
            real += (xv * xs) * (wv * w_scale)
        if bias is not None:
            acc += int(bias[oc])
            real += int(bias[oc]) * xs * w_scale
        y = ref_mbqm(ref_wrap32(acc), channel(op.multiplier, oc), channel(op.shift, oc)) + yz
        exact[(b, oc, *pos)] = finish(op, y)
        ideal[(b, oc, *pos)] = real / ys + yz
    return exact, ideal


CONV_CASES = {
    "plain": dict(shape=(1, 3, 6, 5), w=(4, 3, 3, 3), per_channel=True, bias=True, attrs={}),
    "strided_padded_relu": dict(shape=(2, 3, 7, 6), w=(4, 3, 3, 2), per_channel=True, bias=True,
                                attrs=dict(strides=(2, 1), pads=(1, 0, 2, 1)), clamp=(0.0, None)),
    "dilated_relu6_u8": dict(shape=(1, 2, 8, 8), w=(3, 2, 3, 3), per_channel=False, bias=True,
                             element=U8, attrs=dict(dilations=(2, 3), pads=(2, 2, 2, 2)),
                             clamp=(0.0, 6.0)),
    "depthwise": dict(shape=(1, 4, 5, 5), w=(4, 1, 3, 3), per_channel=True, bias=False,
                      attrs=dict(group=4, pads=(1, 1, 1, 1))),
    "grouped_1d": dict(shape=(2, 4, 9), w=(6, 2, 4), per_channel=True, bias=True,
                       attrs=dict(group=2, strides=(3,), pads=(0, 2))),
    "pointwise_3d": dict(shape=(1, 3, 3, 4, 2), w=(2, 3, 1, 1, 1), per_channel=True, bias=True,
                         attrs={}),
}


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv(case: str) -> None:
    spec = CONV_CASES[case]
    element = spec.get("element", I8)
    b = ModuleBuilder("conv", sorted(CONV_CASES).index(case))
    x_scale, x_zp = 0.04, (120 if element is U8 else -7)
    x = b.input(spec["shape"], element, q(x_scale, x_zp))
    m = spec["w"][0]
    w_scales = list(b.rng.uniform(0.002, 0.02, size=m)) if spec["per_channel"] else [0.01]
    w = b.weights(spec["w"], w_scales)
    bias = b.bias(x_scale, w_scales, m) if spec["bias"] else None
    out = q(0.25, 130 if element is U8 else 3)
    op = quant.Conv.from_scales(x, w, bias, out, clamp=spec.get("clamp"), **spec["attrs"])
    check(op, values_of(b, op), conv_reference)


def test_conv_accumulator_wraps_like_int32() -> None:
    # 2^17 products of 128 · 127 overflow int32; the kernel wraps exactly as the reference does.
    b = ModuleBuilder("conv_wrap", 0)
    x = b.const(np.full((1, 2**13, 4, 4), -128, dtype=np.int8), I8, q(1.0, 127))
    w = b.const(np.full((1, 2**13, 4, 4), 127, dtype=np.int8), I8, Quantization.per_tensor(1.0))
    op = quant.Conv.build(x, w, multiplier=(1 << 30,), shift=(1,), output_scale=1.0)
    got = run_op(op, values_of(b, op))[0]
    acc = ref_wrap32(2**17 * (-255) * 127)
    assert got.item() == min(127, max(-128, acc))


# --------------------------------------------------------------------------- matmul


def matmul_reference(op: quant.MatMul, a: np.ndarray, b: np.ndarray,
                     bias: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    a_s, a_z = scalar_quant(op.operand("A"))
    bq = op.type_of("B").quant
    ys, yz = op.output_scale, op.output_zero_point
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    rows, depth, cols = a2.shape[-2], a2.shape[-1], b2.shape[-1]
    ab = np.broadcast_to(a2, (*batch, rows, depth))
    bb = np.broadcast_to(b2, (*batch, depth, cols))
    exact = np.zeros((*batch, rows, cols), dtype=op.result.type.dtype)
    ideal = np.zeros(exact.shape)
    for *bi, i, j in itertools.product(*[range(d) for d in (*batch, rows, cols)]):
        b_scale = bq.scale[j] if len(bq.scale) > 1 else bq.scale[0]
        b_zp = bq.zero_point[j] if len(bq.zero_point) > 1 else bq.zero_point[0]
        terms = [(int(ab[(*bi, i, k)]) - a_z) * (int(bb[(*bi, k, j)]) - b_zp) for k in range(depth)]
        acc = sum(terms) + (int(bias[j]) if bias is not None else 0)
        y = ref_mbqm(ref_wrap32(acc), channel(op.multiplier, j), channel(op.shift, j)) + yz
        exact[(*bi, i, j)] = finish(op, y)
        ideal[(*bi, i, j)] = acc * a_s * b_scale / ys + yz
    shape = op.result.type.shape
    return exact.reshape(shape), ideal.reshape(shape)


MATMUL_CASES = {
    "fc_per_column_bias_relu": ((3, 6), (6, 4), "weights_per_column", True, (0.0, None)),
    "fc_per_tensor_u8": ((2, 5), (5, 3), "weights", True, None),
    "batched_activations": ((2, 1, 3, 4), (3, 4, 2), "activation", False, None),
    "vector_matrix": ((5,), (2, 5, 3), "activation", False, None),
    "matrix_vector": ((2, 3, 4), (4,), "activation", False, (-1.0, 1.0)),
}


@pytest.mark.parametrize("case", sorted(MATMUL_CASES))
def test_matmul(case: str) -> None:
    a_shape, b_shape, kind, with_bias, clamp = MATMUL_CASES[case]
    element = U8 if case.endswith("u8") else I8
    bld = ModuleBuilder("matmul", sorted(MATMUL_CASES).index(case) + 10)
    a = bld.input(a_shape, element, q(0.05, 100 if element is U8 else 6))
    if kind == "activation":
        b = bld.input(b_shape, I8, q(0.07, -9))
        scales = [0.07]
    else:
        n = b_shape[-1] if kind == "weights_per_column" else 1
        scales = list(bld.rng.uniform(0.005, 0.03, size=n))
        b = bld.weights(b_shape, scales, axis=len(b_shape) - 1)
    bias = bld.bias(0.05, scales, b_shape[-1]) if with_bias else None
    op = quant.MatMul.from_scales(a, b, bias, q(0.2, 128 if element is U8 else -2), clamp=clamp)
    check(op, values_of(bld, op), matmul_reference)


# --------------------------------------------------------------------------- element-wise


def elementwise(op: Operation, arrays: Sequence[np.ndarray],
                fn: Callable[..., tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Apply the scalar ``fn`` (ints in; exact int and ideal float out) over broadcast arrays."""
    shape = op.result.type.shape
    arrays = [np.broadcast_to(a, shape) for a in arrays]
    exact = np.zeros(shape, dtype=op.result.type.dtype)
    ideal = np.zeros(shape)
    for idx in np.ndindex(*shape):
        e, f = fn(*[int(a[idx]) for a in arrays])
        exact[idx] = finish(op, e)
        ideal[idx] = f
    return exact, ideal


def add_sub_reference(op: quant.Add | quant.Sub, a: np.ndarray,
                      b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    (sa, za), (sb, zb) = scalar_quant(op.operand("A")), scalar_quant(op.operand("B"))
    sign = 1 if isinstance(op, quant.Add) else -1

    def one(x: int, y: int) -> tuple[int, float]:
        xs = ref_mbqm((x - za) * (1 << op.left_shift), op.a_multiplier, op.a_shift)
        ys = ref_mbqm((y - zb) * (1 << op.left_shift), op.b_multiplier, op.b_shift)
        raw = ref_wrap32(xs + sign * ys)
        out = ref_mbqm(raw, op.output_multiplier, op.output_shift) + op.output_zero_point
        real = (x - za) * sa + sign * (y - zb) * sb
        return out, real / op.output_scale + op.output_zero_point

    return elementwise(op, [a, b], one)


def mul_reference(op: quant.Mul, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    (sa, za), (sb, zb) = scalar_quant(op.operand("A")), scalar_quant(op.operand("B"))

    def one(x: int, y: int) -> tuple[int, float]:
        out = ref_mbqm((x - za) * (y - zb), op.multiplier, op.shift) + op.output_zero_point
        return out, (x - za) * sa * (y - zb) * sb / op.output_scale + op.output_zero_point

    return elementwise(op, [a, b], one)


BINARY_CASES = [
    ("add", (2, 3, 4), (3, 1), I8, None),
    ("add", (4, 5), (4, 5), U8, (0.0, None)),
    ("add", (1,), (3, 2), I8, (0.0, 2.0)),
    ("sub", (2, 3), (2, 1), I8, None),
    ("sub", (5,), (2, 5), U8, (0.0, None)),
    ("mul", (2, 3, 4), (4,), I8, (0.0, 6.0)),
    ("mul", (3, 4), (3, 1), U8, None),
]


@pytest.mark.parametrize(("kind", "a_shape", "b_shape", "element", "clamp"), BINARY_CASES)
def test_binary(kind: str, a_shape: tuple[int, ...], b_shape: tuple[int, ...], element: ElementType,
                clamp: tuple[float | None, float | None] | None) -> None:
    bld = ModuleBuilder(kind, len(a_shape) * 7 + len(b_shape))
    u8 = element is U8
    a = bld.input(a_shape, element, q(0.05, 128 if u8 else -3))
    b = bld.input(b_shape, element, q(0.13, 90 if u8 else 11))
    out = q(0.25 if kind != "mul" else 1.0, 120 if u8 else -8)
    cls = {"add": quant.Add, "sub": quant.Sub, "mul": quant.Mul}[kind]
    op = cls.from_scales(a, b, out, clamp=clamp)
    reference = mul_reference if kind == "mul" else add_sub_reference
    check(op, values_of(bld, op), reference)


def test_add_with_other_left_shift() -> None:
    bld = ModuleBuilder("add_ls", 3)
    a = bld.input((4, 4), I8, q(0.02, 0))
    b = bld.input((4, 4), I8, q(0.02, 5))
    ls = 12
    am, ash = quantize_multiplier(0.5)
    om, osh = quantize_multiplier(0.04 / ((1 << ls) * 0.03))
    op = quant.Add.build(a, b, left_shift=ls, a_multiplier=am, a_shift=ash, b_multiplier=am,
                         b_shift=ash, output_multiplier=om, output_shift=osh, output_scale=0.03)
    check(op, values_of(bld, op), add_sub_reference)


@pytest.mark.parametrize(("element", "to", "out"), [
    (I8, U8, q(0.05, 125)),  # an int8 -> uint8 shift of 128 at the same scale
    (I8, I8, q(0.11, -20)),
    (U8, I8, q(0.02, 3)),
])
def test_requantize(element: ElementType, to: ElementType, out: Quantization) -> None:
    bld = ModuleBuilder("requantize", 4)
    x = bld.input((3, 7), element, q(0.05, -3 if element is I8 else 128))
    op = quant.Requantize.from_scales(x, out, to)
    s, z = scalar_quant(x)

    def reference(op: quant.Requantize, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return elementwise(op, [x], lambda v: (
            ref_mbqm(v - z, op.multiplier, op.shift) + op.output_zero_point,
            (v - z) * s / op.output_scale + op.output_zero_point))

    check(op, values_of(bld, op), reference)


@pytest.mark.parametrize(("name", "fn", "element", "to"), [
    ("sigmoid", lambda v: 1 / (1 + np.exp(-v)), I8, I8),
    ("tanh", np.tanh, U8, I8),
    ("gelu", lambda v: 0.5 * v * (1 + np.tanh(0.7978845608 * (v + 0.044715 * v**3))), I8, U8),
])
def test_table(name: str, fn: Callable[[np.ndarray], np.ndarray], element: ElementType,
               to: ElementType) -> None:
    bld = ModuleBuilder(name, 5)
    x = bld.input((4, 16), element, q(0.05, 10 if element is I8 else 128))
    out = q(1 / 128, -128 if to is I8 else 0) if name != "gelu" else q(0.04, 10)
    op = quant.Table.from_function(x, fn, out, to)
    s, z = scalar_quant(x)

    def reference(op: quant.Table, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        def one(v: int) -> tuple[int, float]:
            real = float(fn(np.float32(s) * np.float32(v - z)))
            return int(op.table.array[v & 0xFF]), real / op.output_scale + op.output_zero_point
        return elementwise(op, [x], one)

    check(op, values_of(bld, op), reference)


# --------------------------------------------------------------------------- pooling and reduction


def pool_reference(op: quant.AveragePool | quant.MaxPool,
                   x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s, z = scalar_quant(op.operand("input"))
    win = op.window()
    nsp = len(win.kernel)
    shape = op.result.type.shape
    exact = np.zeros(shape, dtype=op.result.type.dtype)
    ideal = np.zeros(shape)
    average = isinstance(op, quant.AveragePool)
    for b, c, *pos in itertools.product(*[range(d) for d in shape]):
        vals = []
        padded = 0
        for k in itertools.product(*[range(kk) for kk in win.kernel]):
            idx = [pos[i] * win.strides[i] + k[i] * win.dilations[i] - win.pads[i]
                   for i in range(nsp)]
            if all(0 <= idx[i] < x.shape[2 + i] for i in range(nsp)):
                vals.append(int(x[(b, c, *idx)]))
            else:
                padded += 1
        if average:
            if op.count_include_pad:
                vals += [z] * padded
            acc, n = sum(vals), len(vals)
            y = (acc + n // 2) // n if acc > 0 else -((-acc + n // 2) // n)  # C: (acc ± n/2) / n
            real = sum((v - z) * s for v in vals) / n
        else:
            y = max(vals)
            real = (y - z) * s
        exact[(b, c, *pos)] = finish(op, y)
        ideal[(b, c, *pos)] = real / s + z
    return exact, ideal


POOL_CASES = [
    ("avg", (1, 2, 6, 7), I8, dict(kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1))),
    ("avg", (2, 2, 5, 5), U8, dict(kernel_shape=(2, 3), pads=(1, 0, 1, 2), count_include_pad=1)),
    ("avg", (1, 3, 5, 4), I8, dict(kernel_shape=(2, 2), count_include_pad=1, pads=(1, 1, 0, 0),
                                   activation_min=-20, activation_max=20)),
    ("avg", (1, 1, 8), I8, dict(kernel_shape=(4,), strides=(2,), pads=(3, 1))),
    ("max", (1, 3, 7, 7), I8, dict(kernel_shape=(2, 2), strides=(2, 1), pads=(1, 0, 1, 1),
                                   dilations=(2, 2))),
    ("max", (2, 2, 6, 6), U8, dict(kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1),
                                   activation_min=128, activation_max=240)),
]


@pytest.mark.parametrize(("kind", "shape", "element", "attrs"), POOL_CASES)
def test_pool(kind: str, shape: tuple[int, ...], element: ElementType, attrs: dict) -> None:
    bld = ModuleBuilder(kind, len(shape) + sum(shape))
    x = bld.input(shape, element, q(0.05, 128 if element is U8 else -5))
    cls = quant.AveragePool if kind == "avg" else quant.MaxPool
    op = cls.build(x, **attrs)
    check(op, values_of(bld, op), pool_reference)


def test_average_pool_rounds_stored_values_like_tflite() -> None:
    # TFLite divides the sum of stored values: (-1 + -2) / 2 = -1.5 rounds to -2, although the
    # zero-point-relative mean (9 + 8) / 2 = 8.5 would round to 9 - 10 = -1.
    bld = ModuleBuilder("avg_round", 0)
    x = bld.const(np.array([[[[-1, -2]]]], dtype=np.int8), I8, q(0.1, -10))
    op = quant.AveragePool.build(x, kernel_shape=(1, 2))
    assert run_op(op, values_of(bld, op))[0].item() == -2


def mean_reference(op: quant.Mean, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s, z = scalar_quant(op.operand("input"))
    axes = op.normalized_axes()
    kept = [d for d in range(x.ndim) if d not in axes]
    out_shape = op.result.type.shape
    exact = np.zeros(out_shape, dtype=op.result.type.dtype)
    ideal = np.zeros(out_shape)
    count = math.prod(x.shape[a] for a in axes)
    for kept_idx in itertools.product(*[range(x.shape[d]) for d in kept]):
        acc = 0
        for red_idx in itertools.product(*[range(x.shape[a]) for a in axes]):
            full = [0] * x.ndim
            for d, i in zip(kept, kept_idx, strict=True):
                full[d] = i
            for d, i in zip(axes, red_idx, strict=True):
                full[d] = i
            acc += int(x[tuple(full)]) - z
        scaled = ref_mbqm(acc, op.multiplier, op.shift)
        y = (scaled + count // 2) // count if scaled > 0 else -((-scaled + count // 2) // count)
        out_idx = (tuple(0 if d in axes else kept_idx[kept.index(d)] for d in range(x.ndim))
                   if op.keepdims else kept_idx)
        exact[out_idx] = finish(op, y + op.output_zero_point)
        ideal[out_idx] = acc * s / count / op.output_scale + op.output_zero_point
    return exact, ideal


@pytest.mark.parametrize(("shape", "axes", "keepdims", "element", "out"), [
    ((2, 3, 4, 5), (2, 3), 1, I8, q(0.02, 6)),
    ((3, 6), (-1,), 0, U8, q(0.1, 128)),
    ((2, 4, 3), (0, 2), 0, I8, q(0.05, -1)),
    ((1, 2, 3, 3), (1,), 1, I8, q(0.2, 0)),
])
def test_mean(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: int, element: ElementType,
              out: Quantization) -> None:
    bld = ModuleBuilder("mean", sum(shape))
    x = bld.input(shape, element, q(0.05, 128 if element is U8 else -3))
    op = quant.Mean.from_scales(x, out, axes, keepdims=keepdims)
    check(op, values_of(bld, op), mean_reference)


def test_concat() -> None:
    bld = ModuleBuilder("concat", 6)
    out = q(0.05, -3)
    quants = [out, q(0.08, 10), q(0.02, -100)]
    xs = [bld.input((2, n, 3), I8, qq) for n, qq in zip((2, 3, 1), quants, strict=True)]
    op = quant.Concat.from_scales(xs, out, axis=1)
    assert (op.multiplier[0], op.shift[0]) == (1 << 30, 1)  # the identity: copied

    def reference(op: quant.Concat, *arrays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts_exact, parts_ideal = [], []
        for arr, v, m, sh in zip(arrays, xs, op.multiplier, op.shift, strict=True):
            s, z = scalar_quant(v)
            e = [min(127, max(-128, ref_mbqm(int(a) - z, m, sh) - 3)) for a in arr.ravel()]
            parts_exact.append(np.array(e, dtype=np.int8).reshape(arr.shape))
            parts_ideal.append((arr.astype(np.float64) - z) * s / 0.05 - 3)
        return np.concatenate(parts_exact, axis=1), np.concatenate(parts_ideal, axis=1)

    feeds = values_of(bld, op)
    check(op, feeds, reference)
    np.testing.assert_array_equal(run_op(op, feeds)[0][:, :2], feeds[0])


# --------------------------------------------------------------------------- verifier


def _conv_parts(bld: ModuleBuilder, *, x_quant: Quantization | None = None,
                w_quant: Quantization | None = None) -> tuple[Value, Value]:
    x = bld.input((1, 4, 5, 5), I8, x_quant or q(0.05, 0))
    w_q = w_quant or Quantization.per_axis([0.01] * 2, [0, 0], 0)
    w = bld.const(bld.levels((2, 4, 3, 3), I8, -127, 127), I8, w_q)
    return x, w


def _bias(bld: ModuleBuilder, quant_: Quantization | None, element: ElementType = I32,
          n: int = 2) -> Value:
    return bld.const(np.zeros(n, dtype=element.dtype), element, quant_)


CONV_OK = dict(multiplier=(1 << 30,), shift=(-3,), output_scale=0.1)


def bad_ops() -> list[tuple[str, Callable[[ModuleBuilder], Operation], str]]:
    def conv(x_quant: Quantization | None = None, w_quant: Quantization | None = None,
             bias: Callable[[ModuleBuilder], Value] | None = None,
             **kw: object) -> Callable[[ModuleBuilder], Operation]:
        def build(bld: ModuleBuilder) -> Operation:
            x, w = _conv_parts(bld, x_quant=x_quant, w_quant=w_quant)
            b = bias(bld) if bias is not None else None
            return quant.Conv.build(x, w, b, **{**CONV_OK, **kw})
        return build

    return [
        ("weights_zero_point", conv(w_quant=Quantization.per_tensor(0.01, 3)), "zero point 0"),
        ("weights_axis", conv(w_quant=Quantization.per_axis([0.01] * 4, [0] * 4, 1)),
         "along axis 0"),
        ("multiplier_count", conv(multiplier=(1 << 30,) * 3, shift=(0,) * 3), "expected 1 or 2"),
        ("multiplier_shift_lengths", conv(multiplier=(1 << 30,) * 2), "equal lengths"),
        ("negative_multiplier", conv(multiplier=(-5,)), "attribute 'multiplier'"),
        ("shift_range", conv(shift=(40,)), "attribute 'shift'"),
        ("activation_order", conv(activation_min=10, activation_max=-10), "greater than"),
        ("activation_range", conv(activation_max=300), "i8 range"),
        ("output_scale", conv(output_scale=-1.0), "positive finite"),
        ("output_zero_point", conv(output_zero_point=300), "does not fit i8"),
        ("input_per_axis", conv(x_quant=Quantization.per_axis([0.1] * 4, [0] * 4, 1)),
         "per tensor"),
        ("bias_zero_point", conv(bias=lambda bld: _bias(bld, Quantization.per_tensor(0.0005, 1))),
         "zero point 0"),
        ("bias_scale", conv(bias=lambda bld: _bias(bld, Quantization.per_tensor(0.001))),
         "input_scale · weight_scale"),
        ("bias_unquantized", conv(bias=lambda bld: _bias(bld, None)), "must be quantized"),
        ("bias_shape", conv(bias=lambda bld: _bias(bld, Quantization.per_tensor(0.0005), n=3)),
         "shape [2]"),
        ("bias_element", conv(bias=lambda bld: _bias(bld, Quantization.per_tensor(0.0005), I8)),
         "element type i8"),
        ("groups", conv(group=3), "groups"),
        ("pads_length", conv(pads=(1, 1)), "expected 4"),
        ("pads_too_big", conv(pads=(3, 0, 0, 0)), "smaller than the window"),
        ("unquantized_input", lambda bld: quant.Conv.build(
            bld.input((1, 4, 5, 5), I8, None), _conv_parts(bld)[1], **CONV_OK),
         "must be quantized"),
        ("add_elements", lambda bld: quant.Add.from_scales(
            bld.input((2,), I8, q(0.1)), bld.input((2,), U8, q(0.1, 128)), q(0.1)),
         "same element type"),
        ("add_shapes", lambda bld: quant.Add.from_scales(
            bld.input((2,), I8, q(0.1)), bld.input((3,), I8, q(0.1)), q(0.1)), "do not broadcast"),
        ("matmul_axis", lambda bld: quant.MatMul.from_scales(
            bld.input((2, 3), I8, q(0.1)),
            bld.const(np.ones((3, 4), np.int8), I8, Quantization.per_axis([0.1] * 3, [0] * 3, 0)),
            None, q(0.1)), "along axis 1"),
        ("matmul_depth", lambda bld: quant.MatMul.from_scales(
            bld.input((2, 3), I8, q(0.1)), bld.input((4, 2), I8, q(0.1)), None, q(0.1)),
         "inner dimensions"),
        ("table_shape", lambda bld: quant.Table.build(
            bld.input((2,), I8, q(0.1)), table=np.zeros(10, np.int8), output_scale=0.1),
         "256-entry"),
        ("concat_multipliers", lambda bld: quant.Concat.build(
            bld.input((2,), I8, q(0.1)), bld.input((2,), I8, q(0.1)), axis=0,
            multiplier=(1 << 30,), shift=(1,), output_scale=0.1), "one per input"),
        ("concat_shapes", lambda bld: quant.Concat.from_scales(
            [bld.input((2, 3), I8, q(0.1)), bld.input((2, 4), I8, q(0.1))], q(0.1), axis=0),
         "does not match"),
        ("mean_axes", lambda bld: quant.Mean.from_scales(
            bld.input((2, 3), I8, q(0.1)), q(0.1), (1, -1)), "repeats"),
        ("requantize_to", lambda bld: quant.Requantize.build(
            bld.input((2,), I8, q(0.1)), to="i32", multiplier=1 << 30, shift=1, output_scale=0.1),
         "attribute 'to'"),
        ("pool_kernel_rank", lambda bld: quant.MaxPool.build(
            bld.input((1, 1, 4, 4), I8, q(0.1)), kernel_shape=(2,)), "kernel_shape"),
        ("pool_window_too_big", lambda bld: quant.AveragePool.build(
            bld.input((1, 1, 2, 2), I8, q(0.1)), kernel_shape=(3, 3)), "is larger than spatial axis"),
    ]


BAD = bad_ops()


@pytest.mark.parametrize(("name", "build", "message"), BAD, ids=[b[0] for b in BAD])
def test_verifier_rejects(name: str, build: Callable[[ModuleBuilder], Operation],
                          message: str) -> None:
    bld = ModuleBuilder("bad", 0)
    with pytest.raises(IRError, match=r"quant\.\w+") as info:
        verify_operation(build(bld))
    assert message in str(info.value)


def test_from_scales_needs_quantized_operands() -> None:
    bld = ModuleBuilder("bad", 0)
    x = bld.input((1, 2, 3, 3), I8, None)
    w = bld.weights((2, 2, 1, 1), [0.1])
    with pytest.raises(IRError, match=r"quant\.Conv: operand 'input' must be quantized"):
        quant.Conv.from_scales(x, w, None, q(0.1))
    with pytest.raises(IRError, match="per tensor"):
        quant.Mul.from_scales(bld.input((2,), I8, q(0.1)), bld.input((2,), I8, q(0.1)),
                              Quantization.per_axis([0.1, 0.1], [0, 0], 0))


def test_result_types() -> None:
    bld = ModuleBuilder("types", 0)
    x = bld.input((1, 3, 8, 8), U8, q(0.05, 128))
    w = bld.weights((6, 3, 3, 3), [0.01] * 6)
    op = quant.Conv.from_scales(x, w, None, q(0.1, 120), strides=(2, 2), pads=(1, 1, 1, 1))
    assert op.result.type == TensorType((1, 6, 4, 4), U8, q(0.1, 120))
    assert len(op.multiplier) == 6
    pool = quant.MaxPool.build(op.result, kernel_shape=(2, 2), strides=(2, 2))
    assert pool.result.type == TensorType((1, 6, 2, 2), U8, q(0.1, 120))
    mean = quant.Mean.from_scales(pool.result, q(0.1, 120), (2, 3), keepdims=0)
    assert mean.result.type == TensorType((1, 6), U8, q(0.1, 120))
    dyn = bld.module.add_input("dyn", TensorType((-1, 3, 8, 8), U8, q(0.05, 128)))
    assert quant.Conv.from_scales(dyn, w, None, q(0.1)).result.type.shape == (-1, 6, 6, 6)


# --------------------------------------------------------------------------- TFLite kernels


def fully_connected_reference(op: quant.FullyConnected, a: np.ndarray, b: np.ndarray,
                              bias: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    _, a_z = scalar_quant(op.operand("A"))
    bq = op.type_of("B").quant
    rows, depth = a.shape
    cols = b.shape[1]
    exact = np.zeros((rows, cols), dtype=op.result.type.dtype)
    ideal = np.zeros(exact.shape)
    for i, j in itertools.product(range(rows), range(cols)):
        b_zp = bq.zero_point[0] if bq.is_per_tensor else 0
        acc = sum((int(a[i, k]) - a_z) * (int(b[k, j]) - b_zp) for k in range(depth))
        acc = ref_wrap32(acc + (int(bias[j]) if bias is not None else 0))
        # Python's float product is the C double product; std::round then works on it exactly.
        product = acc * channel(op.scale, j)
        exact[i, j] = finish(op, ref_round_half_away(Fraction(product)) + op.output_zero_point)
        ideal[i, j] = product + op.output_zero_point
    return exact, ideal


@pytest.mark.parametrize(("case", "per_column", "with_bias", "clamp"), [
    ("per_column_relu", True, True, (0.0, None)),
    ("per_tensor", False, True, None),
    ("no_bias_relu6", True, False, (0.0, 6.0)),
])
def test_fully_connected(case: str, per_column: bool, with_bias: bool,
                         clamp: tuple[float | None, float | None] | None) -> None:
    bld = ModuleBuilder("fully_connected", len(case))
    a = bld.input((3, 7), I8, q(0.05, 4))
    scales = list(bld.rng.uniform(0.005, 0.03, size=5 if per_column else 1))
    b = bld.weights((7, 5), scales, axis=1)
    bias = bld.bias(0.05, scales, 5) if with_bias else None
    op = quant.FullyConnected.from_scales(a, b, bias, q(0.2, -2), clamp=clamp)
    check(op, values_of(bld, op), fully_connected_reference)


def test_fully_connected_rounds_once() -> None:
    # Just below one half: a single rounding of the double product gives 0.
    bld = ModuleBuilder("fc_round", 0)
    a = bld.const(np.array([[1]], np.int8), I8, q(1.0))
    b = bld.const(np.array([[1]], np.int8), I8, q(1.0))
    op = quant.FullyConnected.build(a, b, scale=(0.4999999999,), output_scale=1.0)
    assert run_op(op, values_of(bld, op))[0].item() == 0


def reduce_sum_reference(op: quant.ReduceSum, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s, z = scalar_quant(op.operand("input"))
    axes = op.normalized_axes()
    kept = [d for d in range(x.ndim) if d not in axes]
    exact = np.zeros(op.result.type.shape, dtype=op.result.type.dtype)
    ideal = np.zeros(exact.shape)
    count = math.prod(x.shape[a] for a in axes)
    # The real factor the multiplier encodes: the input scale over the output scale, over the
    # count when it is a mean (a sum's factor is input/output exactly).
    factor = op.multiplier * 2.0 ** (op.shift - 31)
    for kept_idx in itertools.product(*[range(x.shape[d]) for d in kept]):
        acc = 0
        for red_idx in itertools.product(*[range(x.shape[a]) for a in axes]):
            full = [0] * x.ndim
            for d, i in zip(kept, kept_idx, strict=True):
                full[d] = i
            for d, i in zip(axes, red_idx, strict=True):
                full[d] = i
            acc += int(x[tuple(full)]) - z
        out_idx = (tuple(0 if d in axes else kept_idx[kept.index(d)] for d in range(x.ndim))
                   if op.keepdims else kept_idx)
        exact[out_idx] = finish(op, ref_mbqm(acc, op.multiplier, op.shift) + op.output_zero_point)
        ideal[out_idx] = acc * factor + op.output_zero_point
    assert count > 0 and s > 0
    return exact, ideal


@pytest.mark.parametrize(("shape", "axes", "keepdims", "mean"), [
    ((2, 5, 7, 3), (1, 2), 1, True),
    ((3, 9), (-1,), 0, True),
    ((2, 4, 3), (0, 2), 0, False),
    ((1, 6, 6, 2), (1, 2), 1, False),
])
def test_reduce_sum(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: int,
                    mean: bool) -> None:
    bld = ModuleBuilder("reduce_sum", sum(shape))
    x = bld.input(shape, I8, q(0.05, -3))
    out = q(0.03, 2) if mean else q(0.5, 1)
    make = quant.ReduceSum.mean_from_scales if mean else quant.ReduceSum.from_scales
    op = make(x, out, axes, keepdims=keepdims)
    check(op, values_of(bld, op), reduce_sum_reference)


def test_mean_folds_the_count_into_the_multiplier() -> None:
    # TFLite: multiplier << floor(log2(35)) = 5, divided by 35 with truncation; shift - 5.
    bld = ModuleBuilder("mean_fold", 0)
    x = bld.input((1, 5, 7, 2), I8, q(0.05, 0))
    op = quant.ReduceSum.mean_from_scales(x, q(0.03, 0), (1, 2))
    m, s = quantize_multiplier(0.05 / 0.03)
    assert (op.multiplier, op.shift) == ((m << 5) // 35, s - 5)


# gemmlowp's scalar fixed-point functions, written from its definitions.


def ref_exp_on_interval(a: int) -> int:
    x = ref_wrap32(a + (1 << 28))
    x2 = ref_srdhm(x, x)
    x3 = ref_srdhm(x2, x)
    x4 = ref_srdhm(x2, x2)
    poly = ref_rdbpot(ref_wrap32(ref_srdhm(ref_wrap32(ref_rdbpot(x4, 2) + x3), 715827883) + x2),
                      1)
    return ref_wrap32(1895147668 + ref_srdhm(1895147668, ref_wrap32(x + poly)))


def ref_saturating_shift(x: int, exponent: int) -> int:
    limit = (1 << (31 - exponent)) - 1
    return INT32_MAX if x > limit else INT32_MIN if x < -limit else x << exponent


def ref_exp_on_negative_values(a: int, integer_bits: int = 5) -> int:
    fractional = 31 - integer_bits
    quarter = 1 << (fractional - 2)
    a_mod = ref_wrap32((a & (quarter - 1)) - quarter)
    result = ref_exp_on_interval(ref_saturating_shift(a_mod, integer_bits))
    remainder = ref_wrap32(a_mod - a)
    for exponent, multiplier in ((-2, 1672461947), (-1, 1302514674), (0, 790015084),
                                 (1, 290630308), (2, 39332535), (3, 720401), (4, 242)):
        if integer_bits > exponent and remainder & (1 << (fractional + exponent)):
            result = ref_srdhm(result, multiplier)
    return INT32_MAX if a == 0 else result


def ref_one_over_one_plus_x(a: int) -> int:
    total = a + INT32_MAX
    half = (total + 1) // 2 if total >= 0 else -((1 - total) // 2)
    x = ref_wrap32(1515870810 + ref_srdhm(half, -1010580540))
    for _ in range(3):
        x = ref_wrap32(x + ref_saturating_shift(
            ref_srdhm(x, ref_wrap32((1 << 29) - ref_srdhm(half, x))), 2))
    return ref_saturating_shift(x, 1)


def softmax_reference(op: quant.Softmax, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s, _ = scalar_quant(op.operand("input"))
    element = op.result.type.element
    moved = np.moveaxis(x, op.axis, -1)
    exact = np.zeros(moved.shape, dtype=op.result.type.dtype)
    ideal = np.zeros(moved.shape)
    beta_scale = op.input_multiplier * 2.0 ** (op.input_left_shift - 31) / 2**26
    for idx in np.ndindex(*moved.shape[:-1]):
        row = [int(v) for v in moved[idx]]
        top = max(row)
        scaled = [ref_srdhm(ref_wrap32((v - top) * (1 << op.input_left_shift)),
                            op.input_multiplier) if v - top >= op.diff_min else None for v in row]
        exps = [ref_exp_on_negative_values(d) if d is not None else None for d in scaled]
        total = ref_wrap32(sum(ref_rdbpot(e, 12) for e in exps if e is not None))
        headroom = 32 - total.bit_length()
        reciprocal = ref_one_over_one_plus_x(ref_wrap32(((total << headroom) & 0xFFFFFFFF)
                                                        - (1 << 31)))
        exponent = (12 - headroom) + 31 - element.bits
        for c, e in enumerate(exps):
            if e is None:
                exact[(*idx, c)] = element.min
            else:
                y = ref_rdbpot(ref_srdhm(reciprocal, e), exponent) + int(element.min)
                exact[(*idx, c)] = min(int(element.max), max(int(element.min), y))
        real = np.exp((np.array(row) - top) * beta_scale)
        ideal[idx] = real / real.sum() * 256 + int(element.min)
    assert s > 0
    return np.moveaxis(exact, -1, op.axis), np.moveaxis(ideal, -1, op.axis)


@pytest.mark.parametrize(("shape", "axis", "element", "x_quant", "beta"), [
    ((3, 12), -1, I8, q(0.1, 3), 1.0),
    ((2, 5, 4), 1, U8, q(0.05, 130), 2.0),
    ((4, 40), -1, I8, q(0.02, -10), 0.5),
    ((2, 9), 0, I8, q(0.9, 0), 1.0),
])
def test_softmax(shape: tuple[int, ...], axis: int, element: ElementType, x_quant: Quantization,
                 beta: float) -> None:
    bld = ModuleBuilder("softmax", sum(shape))
    x = bld.input(shape, element, x_quant)
    op = quant.Softmax.from_scales(x, q(1 / 256, int(element.min)), beta, axis=axis)
    check(op, values_of(bld, op), softmax_reference)


def resize_reference(op: quant.ResizeBilinear, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, c, in_h, in_w = x.shape
    out_h, out_w = op.sizes
    exact = np.zeros((n, c, out_h, out_w), dtype=op.result.type.dtype)
    ideal = np.zeros(exact.shape)

    def scale(size_in: int, size_out: int) -> int:
        if op.align_corners and size_out > 1:
            size_in, size_out = size_in - 1, size_out - 1
        return (1024 * size_in + size_out // 2) // size_out

    def coordinate(i: int, step: int, size_in: int) -> tuple[int, int, int]:
        v = i * step + (step // 2 - 512 if op.half_pixel_centers else 0)
        lower = max(math.trunc(Fraction(v, 1024)), 0)
        upper = min(math.trunc(Fraction(v + 1023, 1024)), size_in - 1)
        return v, lower, upper

    sh, sw = scale(in_h, out_h), scale(in_w, out_w)
    for b, ch, i, j in itertools.product(range(n), range(c), range(out_h), range(out_w)):
        vy, y0, y1 = coordinate(i, sh, in_h)
        vx, x0, x1 = coordinate(j, sw, in_w)
        wy, wx = vy - 1024 * y0, vx - 1024 * x0
        acc = (int(x[b, ch, y0, x0]) * (1024 - wy) * (1024 - wx)
               + int(x[b, ch, y1, x0]) * wy * (1024 - wx)
               + int(x[b, ch, y0, x1]) * (1024 - wy) * wx + int(x[b, ch, y1, x1]) * wy * wx)
        rounded = acc + (1 << 19 if acc > 0 else -(1 << 19))
        exact[b, ch, i, j] = finish(op, math.trunc(Fraction(rounded, 1 << 20)))
        ideal[b, ch, i, j] = acc / 2**20
    return exact, ideal


@pytest.mark.parametrize(("shape", "sizes", "align", "half"), [
    ((1, 2, 4, 5), (8, 10), 0, 0),
    ((2, 1, 5, 3), (9, 13), 0, 1),
    ((1, 3, 4, 5), (7, 3), 1, 0),
    ((1, 2, 6, 6), (4, 4), 0, 1),
])
def test_resize_bilinear(shape: tuple[int, ...], sizes: tuple[int, int], align: int,
                         half: int) -> None:
    bld = ModuleBuilder("resize", sum(shape) + sum(sizes))
    x = bld.input(shape, I8, q(0.05, 3))
    op = quant.ResizeBilinear.build(x, sizes=sizes, align_corners=align, half_pixel_centers=half)
    check(op, values_of(bld, op), resize_reference)


NEW_BAD: list[tuple[str, Callable[[ModuleBuilder], Operation], str]] = [
    ("softmax_zero_point", lambda bld: quant.Softmax.from_scales(
        bld.input((2, 4), I8, q(0.1)), q(1 / 256, 0)), "writes steps from -128"),
    ("softmax_scale", lambda bld: quant.Softmax.from_scales(
        bld.input((2, 4), I8, q(0.1)), q(0.01, -128)), "steps of 1/256"),
    ("softmax_axis", lambda bld: quant.Softmax.from_scales(
        bld.input((2, 4), I8, q(0.1)), q(1 / 256, -128), axis=2), "out of range"),
    ("resize_rank", lambda bld: quant.ResizeBilinear.build(
        bld.input((2, 4, 4), I8, q(0.1)), sizes=(2, 2)), "N x C x H x W"),
    ("resize_sizes", lambda bld: quant.ResizeBilinear.build(
        bld.input((1, 1, 4, 4), I8, q(0.1)), sizes=(0, 2)), "attribute 'sizes'"),
    ("resize_both_modes", lambda bld: quant.ResizeBilinear.build(
        bld.input((1, 1, 4, 4), I8, q(0.1)), sizes=(2, 2), align_corners=1,
        half_pixel_centers=1), "cannot both"),
    ("reduce_axes", lambda bld: quant.ReduceSum.from_scales(
        bld.input((2, 3), I8, q(0.1)), q(0.1), (0, -2)), "repeats"),
    ("fully_connected_rank", lambda bld: quant.FullyConnected.from_scales(
        bld.input((2, 3, 4), I8, q(0.1)), bld.weights((4, 2), [0.1]), None, q(0.1)),
     "matrices"),
    ("fully_connected_scales", lambda bld: quant.FullyConnected.build(
        bld.input((2, 4), I8, q(0.1)), bld.weights((4, 3), [0.1]), scale=(0.1, 0.2),
        output_scale=0.1), "expected 1 or 3"),
    ("fully_connected_scale_sign", lambda bld: quant.FullyConnected.build(
        bld.input((2, 4), I8, q(0.1)), bld.weights((4, 3), [0.1]), scale=(-0.1,),
        output_scale=0.1), "positive finite"),
]


@pytest.mark.parametrize(("name", "build", "message"), NEW_BAD, ids=[b[0] for b in NEW_BAD])
def test_verifier_rejects_tflite_ops(name: str, build: Callable[[ModuleBuilder], Operation],
                                     message: str) -> None:
    bld = ModuleBuilder("bad", 0)
    with pytest.raises(IRError, match=r"quant\.\w+") as info:
        verify_operation(build(bld))
    assert message in str(info.value)


def test_softmax_needs_a_usable_beta() -> None:
    bld = ModuleBuilder("bad", 0)
    with pytest.raises(IRError, match="too small for the fixed-point softmax"):
        quant.Softmax.from_scales(bld.input((2, 4), I8, q(1e-9)), q(1 / 256, -128))
