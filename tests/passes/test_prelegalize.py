"""Pre-legalization passes, checked by the interpreter: each module computes the same before
and after its pass (within float tolerance for the folds, exactly for pads and naming)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from furiosa.errors import PassError
from furiosa.ir.core import Operation, Value
from furiosa.ir.dialects.onnx import elementwise as ew
from furiosa.ir.dialects.onnx import nn
from furiosa.ir.dialects.onnx import reduce as rd
from furiosa.ir.dialects.onnx import tensor as tn
from furiosa.ir.dialects.onnx.base import Constant
from furiosa.ir.interpreter import interpret
from furiosa.ir.module import Function
from furiosa.ir.parser import parse_module
from furiosa.ir.printer import print_module
from furiosa.ir.types import tensor
from furiosa.ir.verifier import verify_module
from furiosa.passes import PassManager
from tests.registry import DIALECTS
from tests.registry import PASSES as REGISTRY

RTOL = ATOL = 1e-5
PRELEGALIZE = ("fold-batchnorm", "fold-conv-mul-add", "rewrite-prelu", "negative-pad-to-slice",
          "fix-batch", "name-ops")


# ---------------------------------------------------------------- helpers


def const(m: Function, array: np.ndarray, name: str | None = None) -> Value:
    return m.add(Constant.of(np.asarray(array), name=name)).result


def i64(m: Function, values: list[int]) -> Value:
    return const(m, np.array(values, np.int64))


def add(m: Function, op: Operation) -> Value:
    return m.add(op).result


def conv_weights(rng: np.random.Generator, m_out: int, c_in: int, k: int,
                 group: int = 1) -> np.ndarray:
    return (rng.standard_normal((m_out, c_in // group, k, k)) / np.sqrt(c_in * k * k / group)
            ).astype(np.float32)


def bn_stats(rng: np.random.Generator, c: int) -> list[np.ndarray]:
    """scale, beta, mean, var as a trained network has them."""
    scale = rng.normal(1.0, 0.2, c)
    beta = rng.normal(0.0, 0.1, c)
    mean = rng.normal(0.0, 0.5, c)
    var = rng.uniform(0.05, 2.0, c)
    return [a.astype(np.float32) for a in (scale, beta, mean, var)]


def run(m: Function, pipeline: str) -> PassManager:
    pm = PassManager(pipeline, registry=REGISTRY)
    pm.run(m)
    text = print_module(m)
    assert print_module(parse_module(text, registry=DIALECTS)) == text
    return pm


def stats(pm: PassManager) -> dict[str, int]:
    return pm.records[-1].statistics


def count(m: Function, cls: type[Operation]) -> int:
    return sum(isinstance(op, cls) for op in m.ops)


def assert_same(before: dict[str, np.ndarray], after: dict[str, np.ndarray], *,
                exact: bool = False) -> None:
    assert before.keys() == after.keys()
    for k in before:
        assert after[k].shape == before[k].shape and after[k].dtype == before[k].dtype, k
        if exact:
            np.testing.assert_array_equal(after[k], before[k], err_msg=k)
        else:
            np.testing.assert_allclose(after[k], before[k], rtol=RTOL, atol=ATOL, err_msg=k)


def check_pass(m: Function, pipeline: str, feed: dict[str, np.ndarray], *,
               exact: bool = False) -> PassManager:
    verify_module(m)
    before = interpret(m, feed)
    pm = run(m, pipeline)
    assert_same(before, interpret(m, feed), exact=exact)
    return pm


def image(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- registration


def test_passes_are_registered_with_docs() -> None:
    passes = REGISTRY.passes()
    for name in PRELEGALIZE:
        cls = passes[name]
        assert cls.SUMMARY and cls.__doc__ and "\n" not in cls.__doc__.strip()


# ---------------------------------------------------------------- fold-batchnorm


def conv_bn_module(seed: int, *, group: int = 1, bias: bool = True, transpose: bool = False,
                   stats_: list[np.ndarray] | None = None,
                   epsilon: float = 1e-5) -> tuple[Function, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    c_in, c_out = 4, 8
    m = Function("conv_bn")
    x = m.add_input("x", tensor((1, c_in, 7, 7), "f32"))
    if transpose:
        w = const(m, (rng.standard_normal((c_in, c_out // group, 3, 3)) / 6).astype(np.float32))
    else:
        w = const(m, conv_weights(rng, c_out, c_in, 3, group))
    b = const(m, rng.normal(0, 0.1, c_out).astype(np.float32)) if bias else None
    cls = nn.ConvTranspose if transpose else nn.Conv
    y = add(m, cls.build(x, w, b, group=group, pads=[1, 1, 1, 1], strides=[2, 2], loc="conv"))
    stats_ = stats_ if stats_ is not None else bn_stats(rng, c_out)
    bn = add(m, rd.BatchNormalization.build(y, *(const(m, s) for s in stats_), epsilon=epsilon))
    out = add(m, ew.Relu.build(bn))
    m.set_outputs([out], ["y"])
    return m, {"x": image(rng, (1, c_in, 7, 7))}


@pytest.mark.parametrize(("group", "bias", "transpose"),
                         [(1, True, False), (1, False, False), (2, True, False),
                          (4, False, False), (1, True, True), (2, False, True)])
def test_fold_batchnorm(group: int, bias: bool, transpose: bool) -> None:
    m, feed = conv_bn_module(group * 10 + bias, group=group, bias=bias, transpose=transpose)
    pm = check_pass(m, "fold-batchnorm", feed)
    assert stats(pm) == {"batchnorms-folded": 1}
    assert count(m, rd.BatchNormalization) == 0
    conv = next(op for op in m.ops if isinstance(op, nn.Conv | nn.ConvTranspose))
    assert conv.loc == "conv" and conv.operand("B") is not None
    # Only the new weight and bias remain as constants: the statistics and old weight are gone.
    assert count(m, Constant) == 2


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), eps=st.sampled_from([1e-5, 1e-3, 0.1]),
       var_scale=st.floats(0.01, 10.0), mean_shift=st.floats(-3.0, 3.0),
       group=st.sampled_from([1, 2, 4]), transpose=st.booleans())
def test_fold_batchnorm_random_stats(seed: int, eps: float, var_scale: float, mean_shift: float,
                                     group: int, transpose: bool) -> None:
    rng = np.random.default_rng(seed)
    scale, beta, mean, var = bn_stats(rng, 8)
    stats_ = [scale, beta, (mean + mean_shift).astype(np.float32),
              (var * var_scale).astype(np.float32)]
    m, feed = conv_bn_module(seed, group=group, transpose=transpose, stats_=stats_, epsilon=eps)
    check_pass(m, "fold-batchnorm", feed)
    assert count(m, rd.BatchNormalization) == 0


def test_fold_batchnorm_refusals() -> None:
    rng = np.random.default_rng(3)
    m = Function("refused")
    x = m.add_input("x", tensor((1, 3, 5, 5), "f32"))
    wx = m.add_input("wx", tensor((3, 3, 1, 1), "f32"))
    w = const(m, conv_weights(rng, 3, 3, 1))
    params = [const(m, s) for s in bn_stats(rng, 3)]
    # BN after a Relu: not directly after the Conv.
    relu = add(m, ew.Relu.build(add(m, nn.Conv.build(x, w))))
    bn1 = add(m, rd.BatchNormalization.build(relu, *params))
    # The Conv's result has a second reader.
    c2 = add(m, nn.Conv.build(x, w))
    bn2 = add(m, rd.BatchNormalization.build(c2, *params))
    other = add(m, ew.Sigmoid.build(c2))
    # The Conv's weight is a run-time value.
    bn3 = add(m, rd.BatchNormalization.build(add(m, nn.Conv.build(x, wx)), *params))
    # A weight computed from constants is a constant: this one folds.
    w4 = add(m, ew.Mul.build(w, const(m, np.float32(2.0))))
    bn4 = add(m, rd.BatchNormalization.build(add(m, nn.Conv.build(x, w4)), *params))
    m.set_outputs([bn1, bn2, other, bn3, bn4])
    feed = {"x": image(rng, (1, 3, 5, 5)), "wx": conv_weights(rng, 3, 3, 1)}
    pm = check_pass(m, "fold-batchnorm", feed)
    assert stats(pm) == {"batchnorms-folded": 1}
    assert count(m, rd.BatchNormalization) == 3 and count(m, ew.Mul) == 0


def test_fold_batchnorm_keeps_non_constant_statistics() -> None:
    rng = np.random.default_rng(4)
    m = Function("dynamic_stats")
    x = m.add_input("x", tensor((1, 2, 3, 3), "f32"))
    mean = m.add_input("mean", tensor((2,), "f32"))
    scale, beta, _, var = (const(m, s) for s in bn_stats(rng, 2))
    c = add(m, nn.Conv.build(x, const(m, conv_weights(rng, 2, 2, 1))))
    m.set_outputs([add(m, rd.BatchNormalization.build(c, scale, beta, mean, var))], ["y"])
    feed = {"x": image(rng, (1, 2, 3, 3)), "mean": image(rng, (2,))}
    pm = check_pass(m, "fold-batchnorm", feed)
    assert not stats(pm) and count(m, rd.BatchNormalization) == 1


# ---------------------------------------------------------------- fold-conv-mul-add

CHANNEL_SHAPES = [(), (1,), (6, 1, 1), (1, 6, 1, 1), (1, 1, 1), (1, 1, 1, 1)]


def conv_affine_module(seed: int, mul_shape: tuple[int, ...] | None,
                       add_shape: tuple[int, ...] | None, *, swap: bool = False,
                       sub: bool = False, transpose: bool = False,
                       ) -> tuple[Function, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    m = Function("conv_affine")
    x = m.add_input("x", tensor((1, 3, 6, 6), "f32"))
    if transpose:
        w = (rng.standard_normal((3, 6, 3, 3)) / 5).astype(np.float32)
        y = add(m, nn.ConvTranspose.build(x, const(m, w), const(m, rng.normal(0, 0.1, 6).astype(
            np.float32)), pads=[1, 1, 1, 1]))
    else:
        y = add(m, nn.Conv.build(x, const(m, conv_weights(rng, 6, 3, 3)),
                                 const(m, rng.normal(0, 0.1, 6).astype(np.float32)),
                                 pads=[1, 1, 1, 1]))
    if mul_shape is not None:
        s = const(m, rng.uniform(0.5, 2.0, mul_shape).astype(np.float32))
        y = add(m, ew.Mul.build(*((s, y) if swap else (y, s))))
    if add_shape is not None:
        a = const(m, rng.normal(0, 1, add_shape).astype(np.float32))
        if sub:
            y = add(m, ew.Sub.build(y, a))
        else:
            y = add(m, ew.Add.build(*((a, y) if swap else (y, a))))
    m.set_outputs([add(m, ew.Relu.build(y))], ["y"])
    return m, {"x": image(rng, (1, 3, 6, 6))}


@pytest.mark.parametrize("shape", CHANNEL_SHAPES, ids=str)
@pytest.mark.parametrize("form", ["mul-add", "mul", "add", "sub", "swapped", "transpose"])
def test_fold_conv_mul_add(shape: tuple[int, ...], form: str) -> None:
    mul_shape = shape if form in ("mul-add", "mul", "swapped", "transpose") else None
    add_shape = shape if form in ("mul-add", "add", "sub", "swapped", "transpose") else None
    m, feed = conv_affine_module(len(shape), mul_shape, add_shape, swap=form == "swapped",
                                 sub=form == "sub", transpose=form == "transpose")
    check_pass(m, "fold-conv-mul-add", feed)
    assert count(m, ew.Mul) + count(m, ew.Add) + count(m, ew.Sub) == 0
    assert [type(op) for op in m.ops if not isinstance(op, Constant)][-1] is ew.Relu


@pytest.mark.parametrize("shape", [(6,), (1, 1, 6, 1), (1, 6, 6, 6), (2, 6, 1, 1), (1, 1, 1, 6)],
                         ids=str)
def test_fold_conv_mul_add_refuses_non_channel_constants(shape: tuple[int, ...]) -> None:
    m, feed = conv_affine_module(9, shape, shape)
    pm = check_pass(m, "fold-conv-mul-add", feed)
    assert not stats(pm)
    assert count(m, ew.Mul) == 1 and count(m, ew.Add) == 1


def test_fold_conv_mul_add_refuses_shared_results() -> None:
    rng = np.random.default_rng(5)
    m = Function("shared")
    x = m.add_input("x", tensor((1, 2, 4, 4), "f32"))
    c = add(m, nn.Conv.build(x, const(m, conv_weights(rng, 2, 2, 1))))
    s = const(m, np.array([2.0, 3.0], np.float32).reshape(2, 1, 1))
    y = add(m, ew.Mul.build(c, s))
    z = add(m, ew.Add.build(y, s))
    # The Mul's result has two readers too, so neither step may fold.
    m.set_outputs([z, c, add(m, ew.Neg.build(y))])
    pm = check_pass(m, "fold-conv-mul-add", {"x": image(rng, (1, 2, 4, 4))})
    assert not stats(pm)


def test_fold_conv_mul_add_sub_option() -> None:
    m, feed = conv_affine_module(2, None, (6, 1, 1), sub=True)
    pm = check_pass(m, "fold-conv-mul-add{sub=false}", feed)
    assert not stats(pm) and count(m, ew.Sub) == 1


# ---------------------------------------------------------------- rewrite-prelu


@pytest.mark.parametrize("slope_shape", [(), (1,), (4, 1, 1), (1, 4, 1, 1), (5,), (4, 3, 5)],
                         ids=str)
@pytest.mark.parametrize("constant", [True, False])
def test_rewrite_prelu(slope_shape: tuple[int, ...], constant: bool) -> None:
    rng = np.random.default_rng(len(slope_shape))
    m = Function("prelu")
    x = m.add_input("x", tensor((2, 4, 3, 5), "f32"))
    slope_arr = rng.uniform(-0.5, 1.5, slope_shape).astype(np.float32)
    feed = {"x": image(rng, (2, 4, 3, 5)) * 4}
    if constant:
        slope = const(m, slope_arr)
    else:
        slope = m.add_input("slope", tensor(slope_shape, "f32"))
        feed["slope"] = slope_arr
    y = add(m, ew.PRelu.build(x, slope, loc="act"))
    m.set_outputs([y], ["y"])
    pm = check_pass(m, "rewrite-prelu", feed)
    assert stats(pm) == {"prelus-rewritten": 1}
    assert count(m, ew.PRelu) == 0 and count(m, ew.Relu) == 1
    assert (count(m, ew.Sub) == 0) == constant


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), scale=st.floats(0.01, 100.0))
def test_rewrite_prelu_random(seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    m = Function("prelu")
    x = m.add_input("x", tensor((1, 3, 4, 4), "f32"))
    slope = const(m, rng.uniform(-2.0, 2.0, (3, 1, 1)).astype(np.float32))
    m.set_outputs([add(m, ew.PRelu.build(x, slope))])
    check_pass(m, "rewrite-prelu", {"x": (image(rng, (1, 3, 4, 4)) * scale).astype(np.float32)})


# ---------------------------------------------------------------- negative-pad-to-slice


@st.composite
def pad_cases(draw: st.DrawFn) -> tuple[tuple[int, ...], list[int], str]:
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    mode = draw(st.sampled_from(["constant", "reflect", "edge"]))
    begin, end = [], []
    for d in shape:
        # Crop at most d - 1 so that reflect / edge padding still has an element to repeat.
        cut_b = draw(st.integers(0, d - 1))
        cut_e = draw(st.integers(0, d - 1 - cut_b))
        pad_b = draw(st.integers(0, 2)) if not cut_b else 0
        pad_e = draw(st.integers(0, 2)) if not cut_e else 0
        if mode == "reflect":
            kept = d - cut_b - cut_e
            pad_b, pad_e = min(pad_b, kept - 1), min(pad_e, kept - 1)
        begin.append(pad_b - cut_b)
        end.append(pad_e - cut_e)
    return shape, begin + end, mode


@settings(max_examples=50, deadline=None)
@given(case=pad_cases(), fill=st.sampled_from([None, 0.0, -3.5]))
def test_negative_pad_to_slice(case: tuple[tuple[int, ...], list[int], str],
                               fill: float | None) -> None:
    shape, pads, mode = case
    m = Function("pad")
    x = m.add_input("x", tensor(shape, "f32"))
    operands = [x, i64(m, pads)]
    if fill is not None and mode == "constant":
        operands.append(const(m, np.array(fill, np.float32)))
    y = add(m, tn.Pad.build(*operands, mode=mode, loc="pad"))
    m.set_outputs([y], ["y"])
    feed = {"x": np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    pm = check_pass(m, "negative-pad-to-slice", feed, exact=True)
    negative = any(p < 0 for p in pads)
    assert stats(pm) == ({"negative-pads-sliced": 1} if negative else {})
    assert count(m, tn.Slice) == int(negative)
    for op in m.ops:
        if isinstance(op, tn.Pad):
            assert np.all(op.const("pads") >= 0)
    assert count(m, tn.Pad) == int(any(p > 0 for p in pads) or not negative)


def test_negative_pad_on_integers() -> None:
    m = Function("pad_int")
    x = m.add_input("x", tensor((3, 4), "i32"))
    y = add(m, tn.Pad.build(x, i64(m, [-1, 2, 1, -3]), const(m, np.array(7, np.int32))))
    m.set_outputs([y], ["y"])
    check_pass(m, "negative-pad-to-slice", {"x": np.arange(12, dtype=np.int32).reshape(3, 4)},
               exact=True)
    assert count(m, tn.Pad) == 1 and count(m, tn.Slice) == 1


# ---------------------------------------------------------------- fix-batch


def batch_model(batch: int, seed: int = 0) -> Function:
    """A small classifier whose Reshape spells the batch out, as exporters write it."""
    rng = np.random.default_rng(seed)
    m = Function("classifier")
    x = m.add_input("x", tensor((batch, 3, 6, 6), "f32"))
    y = add(m, nn.Conv.build(x, const(m, conv_weights(rng, 4, 3, 3)), pads=[1, 1, 1, 1]))
    y = add(m, rd.BatchNormalization.build(y, *(const(m, s) for s in bn_stats(rng, 4))))
    y = add(m, ew.PRelu.build(y, const(m, np.full((4, 1, 1), 0.1, np.float32))))
    y = add(m, tn.Pad.build(y, i64(m, [0, 0, -1, -1, 0, 0, 0, 0])))
    y = add(m, nn.MaxPool.build(y, kernel_shape=[2, 2], strides=[2, 2]))
    y = add(m, tn.Reshape.build(y, i64(m, [batch, 4 * 2 * 2])))
    y = add(m, nn.MatMul.build(y, const(m, rng.standard_normal((16, 5)).astype(np.float32))))
    flat = add(m, tn.Flatten.build(x))
    m.set_outputs([add(m, rd.Softmax.build(y, axis=1)), flat], ["probs", "flat"])
    return m


def test_fix_batch_to_one() -> None:
    m = batch_model(4)
    sample = image(np.random.default_rng(1), (4, 3, 6, 6))
    before = interpret(m, {"x": sample})
    pm = run(m, "fix-batch")
    assert stats(pm)["inputs-fixed"] == 1 and stats(pm)["shape-constants-updated"] == 1
    assert m.inputs[0].type.shape == (1, 3, 6, 6)
    assert all(v.type.shape[0] == 1 for v in m.outputs)
    after = interpret(m, {"x": sample[:1]})
    for k in before:
        np.testing.assert_allclose(after[k], before[k][:1], rtol=1e-6, atol=1e-7, err_msg=k)


def test_fix_batch_up() -> None:
    m = batch_model(1)
    rng = np.random.default_rng(2)
    samples = [image(rng, (1, 3, 6, 6)) for _ in range(3)]
    singles = [interpret(m, {"x": s}) for s in samples]
    run(m, "fix-batch{batch=3}")
    after = interpret(m, {"x": np.concatenate(samples)})
    for i, single in enumerate(singles):
        for k in single:
            np.testing.assert_allclose(after[k][i:i + 1], single[k], rtol=1e-6, atol=1e-7)


def test_fix_batch_then_prelegalize() -> None:
    """The vendor's order: names, batch, then the rewrites; batch-1 results stay the same."""
    m = batch_model(2, seed=5)
    sample = image(np.random.default_rng(3), (2, 3, 6, 6))
    before = interpret(m, {"x": sample})
    run(m, "name-ops,fix-batch,negative-pad-to-slice,fold-batchnorm,fold-conv-mul-add,"
           "rewrite-prelu")
    assert count(m, rd.BatchNormalization) == count(m, ew.PRelu) == 0
    # Rewritten ops keep the loc of the op they replace; only new constants have none.
    assert all(op.loc for op in m.ops if not isinstance(op, Constant))
    after = interpret(m, {"x": sample[:1]})
    for k in before:
        np.testing.assert_allclose(after[k], before[k][:1], rtol=RTOL, atol=ATOL)


def test_fix_batch_error_names_the_op() -> None:
    m = Function("bad")
    x = m.add_input("x", tensor((4, 6), "f32"))
    m.set_outputs([add(m, tn.Reshape.build(x, i64(m, [2, 12]), loc="pairs"))])
    with pytest.raises(PassError, match=re.escape("onnx.Reshape 'pairs' cannot follow")):
        PassManager("fix-batch", registry=REGISTRY).run(m)


# ---------------------------------------------------------------- name-ops


def duplicate_names_module() -> Function:
    m = Function("dups")
    x = m.add_input("x", tensor((2, 3), "f32"))
    a = const(m, np.full((3,), 2.0, np.float32), name="w")
    b = const(m, np.full((3,), 3.0, np.float32), name="w")
    c = const(m, np.full((3,), 5.0, np.float32), name="w_1")
    y = add(m, ew.Mul.build(x, a))
    y = add(m, ew.Add.build(y, b))
    y = add(m, ew.Sub.build(y, c))
    # A value named like the output, defined after another value of the same name.
    d = m.add(ew.Relu.build(y, result_names=["out"])).result
    early = const(m, np.float32(1.0), name="out")
    m.set_outputs([add(m, ew.Mul.build(d, early)), d], ["y", "out"])
    return m


def test_name_ops_unique_names() -> None:
    m = duplicate_names_module()
    feed = {"x": np.arange(6, dtype=np.float32).reshape(2, 3)}
    text_before = print_module(m)
    pm = check_pass(m, "name-ops", feed, exact=True)
    names = [v.name for v in m.values() if v.name]
    assert len(names) == len(set(names))
    assert m.output_names == ["y", "out"] and m.outputs[1].name == "out"
    assert {"w", "w_1", "w_2", "out", "out_1"} <= set(names)
    locs = [op.loc for op in m.ops]
    assert all(locs) and len(locs) == len(set(locs))
    assert stats(pm) == {"ops-named": len(locs), "values-renamed": 2}
    # Deterministic: the same module names the same way; a second run changes nothing.
    again = duplicate_names_module()
    assert print_module(again) == text_before
    run(again, "name-ops")
    assert print_module(again) == print_module(m)
    text = print_module(m)
    assert not stats(run(m, "name-ops"))
    assert print_module(m) == text
