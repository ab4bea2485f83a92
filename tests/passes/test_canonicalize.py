"""canonicalize, checked by the interpreter: random graphs compute the same before and after,
and a second run changes nothing."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from furiosa.ir.core import Value
from furiosa.ir.dialects.onnx import elementwise as ew
from furiosa.ir.dialects.onnx import tensor as tn
from furiosa.ir.dialects.onnx.base import Constant, Identity
from furiosa.ir.interpreter import interpret
from furiosa.ir.module import Function
from furiosa.ir.parser import parse_module
from furiosa.ir.printer import print_module
from furiosa.ir.types import tensor
from furiosa.ir.verifier import verify_module
from furiosa.passes import PassManager
from tests.registry import DIALECTS, PASSES

SHAPES = [(2, 3), (3,), (1, 3), (3, 2), (6,)]
UNARY = [ew.Relu, ew.Neg, ew.Abs, ew.Sigmoid, Identity]
BINARY = [ew.Add, ew.Sub, ew.Mul, ew.Max, ew.Min]


def const(m: Function, data: st.DataObject, shape: tuple[int, ...]) -> Value:
    values = data.draw(st.sampled_from(["zeros", "ones", "random"]))
    if values == "zeros":
        arr = np.zeros(shape, np.float32)
    elif values == "ones":
        arr = np.ones(shape, np.float32)
    else:
        seed = data.draw(st.integers(0, 3))
        arr = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return m.add(Constant.of(arr)).result


def i64(m: Function, values: list[int]) -> Value:
    return m.add(Constant.of(np.array(values, np.int64))).result


def random_module(data: st.DataObject) -> tuple[Function, dict[str, np.ndarray]]:
    m = Function("random")
    x = m.add_input("x", tensor((2, 3), "f32"))
    pool: list[Value] = [x]
    for _ in range(data.draw(st.integers(1, 14))):
        kind = data.draw(st.sampled_from(["const", "unary", "binary", "reshape", "transpose",
                                          "concat-slice", "duplicate"]))
        if kind == "const":
            pool.append(const(m, data, data.draw(st.sampled_from(SHAPES))))
            continue
        a = data.draw(st.sampled_from(pool))
        if kind == "unary":
            op = Identity.build(a) if (cls := data.draw(st.sampled_from(UNARY))) is Identity else cls.build(a)
        elif kind == "binary":
            partners = [v for v in pool if _broadcasts(v.type.shape, a.type.shape)]
            b = data.draw(st.sampled_from(partners)) if partners else const(m, data, a.type.shape)
            op = data.draw(st.sampled_from(BINARY)).build(a, b)
        elif kind == "reshape":
            size = int(np.prod(a.type.shape))
            target = data.draw(st.sampled_from([s for s in SHAPES if int(np.prod(s)) == size] or [(size,)]))
            op = tn.Reshape.build(a, i64(m, list(target)))
        elif kind == "transpose":
            perm = data.draw(st.permutations(range(a.type.rank)))
            op = tn.Transpose.build(a, perm=list(perm))
        elif kind == "concat-slice":
            both = m.add(tn.Concat.build(a, a, axis=0)).result
            n = a.type.shape[0] if a.type.rank else 1
            op = tn.Slice.build(both, i64(m, [0]), i64(m, [n]), i64(m, [0]))
        else:  # the same op twice: CSE must merge them
            op = ew.Relu.build(a)
            pool.append(m.add(ew.Relu.build(a)).result)
        pool.append(m.add(op).result)
    outs = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique_by=id))
    m.set_outputs(outs, [f"out{i}" for i in range(len(outs))])
    feed = {"x": np.random.default_rng(7).standard_normal((2, 3)).astype(np.float32)}
    return m, feed


def _broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_canonicalize_preserves_results(data: st.DataObject) -> None:
    m, feed = random_module(data)
    verify_module(m)
    before = interpret(m, feed)
    PassManager("canonicalize", registry=PASSES).run(m)
    after = interpret(m, feed)
    assert before.keys() == after.keys()
    for k in before:
        np.testing.assert_allclose(after[k], before[k], rtol=1e-6, atol=0, equal_nan=True)
    # A fixed point: running again changes nothing, and the result round-trips through text.
    text = print_module(m)
    PassManager("canonicalize", registry=PASSES).run(m)
    assert print_module(m) == text
    assert print_module(parse_module(text, registry=DIALECTS)) == text


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_constant_subgraphs_fold_away(data: st.DataObject) -> None:
    m, _ = random_module(data)
    PassManager("canonicalize", registry=PASSES).run(m)
    for op in m.ops:
        if isinstance(op, Constant):
            continue
        # Whatever is left depends on the input: nothing constant remains to fold.
        assert any(v is not None and not isinstance(v.owner, Constant) for v in op.operands), op
    ops = [op for op in m.ops if not isinstance(op, Constant)]
    keys = [(type(op), tuple(id(v) for v in op.operands), tuple(op.attributes.items())) for op in ops]
    assert len(keys) == len(set(keys)), "CSE left a duplicate"
