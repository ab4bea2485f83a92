"""onnx.Einsum and onnx.Det against onnxruntime, numpy and ONNX shape inference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from furiosa.errors import IRError
from furiosa.ir.dialects.onnx import linalg
from furiosa.ir.types import DYNAMIC, Quantization, TensorType, tensor
from tests.ir.test_onnx_nn import build_on, check_op, check_shapes, f32, run_ir

EINSUM_CASES = [
    ("bij, bjk -> bik", [(5, 2, 3), (5, 3, 4)]),
    ("ij->ji", [(3, 4)]),
    ("ij->i", [(3, 4)]),
    ("...ii ->...i", [(3, 5, 5)]),
    ("i,i", [(5,), (5,)]),
    ("->", [()]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ji", [(2, 3)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (1, 5, 4, 2)]),
    ("ij,ij->ij", [(2, 3), (1, 3)]),
    ("ii", [(4, 4)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("i,j->ij", [(3,), (4,)]),
    ("...", [(2, 3)]),
]


@pytest.mark.parametrize(("equation", "shapes"), EINSUM_CASES)
def test_einsum_matches_onnxruntime(equation: str, shapes: list[tuple[int, ...]]) -> None:
    rng = np.random.default_rng(0)
    inputs = [f32(rng, *s) for s in shapes]
    check_op(linalg.Einsum, "Einsum", inputs, equation=equation)
    check_shapes(linalg.Einsum, "Einsum", inputs, equation=equation)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float64])
def test_einsum_other_types_match_onnxruntime(dtype: type) -> None:
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((2, 3, 4)) * 50).astype(dtype)
    b = (rng.standard_normal((2, 4, 3)) * 50).astype(dtype)
    check_op(linalg.Einsum, "Einsum", [a, b], equation="bij,bjk->bik")


def test_integer_einsum_wraps_like_its_type() -> None:
    a = np.array([100, 100, 100], dtype=np.int8)
    check_op(linalg.Einsum, "Einsum", [a, a], equation="i,i->", use_reference=True)
    big = np.array([100000, 300000], dtype=np.int32)
    check_op(linalg.Einsum, "Einsum", [big, big], equation="i,i")


def test_einsum_upper_case_labels_uneven_ellipses_and_float16() -> None:
    # ONNX shape inference (so onnxruntime) wants every '...' to stand for as many dims;
    # numpy broadcasts them like operands of different ranks, and so does the IR.
    rng = np.random.default_rng(2)
    x, y = f32(rng, 2, 1, 3, 4), f32(rng, 5, 4, 2)
    (got,) = run_ir(linalg.Einsum, [x, y], equation="...ij,...jk->...ik")
    np.testing.assert_allclose(got, x @ y, rtol=1e-5, atol=1e-6)
    a, b = f32(rng, 2, 3), f32(rng, 3, 4)
    (got,) = run_ir(linalg.Einsum, [a, b], equation="Ab,bC")
    np.testing.assert_allclose(got, a @ b, rtol=1e-5)
    (half,) = run_ir(linalg.Einsum, [a.astype(np.float16), b.astype(np.float16)],
                     equation="ij,jk")
    assert half.dtype == np.float16
    np.testing.assert_allclose(half, a @ b, rtol=1e-2, atol=1e-2)


_LETTERS = "abcde"


@st.composite
def _einsum_problems(draw: st.DrawFn) -> tuple[str, list[tuple[int, ...]]]:
    """A random valid equation (some ellipses, repeated letters, implicit or explicit output)
    and operand shapes for it."""
    sizes = {c: draw(st.integers(1, 3)) for c in _LETTERS}
    batch = draw(st.lists(st.integers(1, 3), max_size=2))
    terms, shapes = [], []
    use_ellipsis = draw(st.booleans())
    for _ in range(draw(st.integers(1, 3))):
        letters = draw(st.lists(st.sampled_from(_LETTERS), max_size=3))
        term = "".join(letters)
        shape = [sizes[c] for c in letters]
        if use_ellipsis and draw(st.booleans()):
            # A suffix of the batch dims, some stretched from 1.
            lead = batch[draw(st.integers(0, len(batch))):]
            lead = [1 if draw(st.booleans()) else d for d in lead]
            term, shape = "..." + term, lead + shape
        terms.append(term)
        shapes.append(tuple(shape))
    equation = ",".join(terms)
    if draw(st.booleans()):
        used = sorted({c for t in terms for c in t if c.isalpha()})
        out = draw(st.permutations(used))[:draw(st.integers(0, len(used)))]
        lead = "..." if any("..." in t for t in terms) else ""
        equation += "->" + lead + "".join(out)
    return equation, shapes


@settings(max_examples=40, deadline=None)
@given(_einsum_problems())
def test_einsum_type_rule_agrees_with_numpy(problem: tuple[str, list[tuple[int, ...]]]) -> None:
    equation, shapes = problem
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal(s) for s in shapes]
    want = np.einsum(equation, *inputs)
    (got,) = run_ir(linalg.Einsum, inputs, equation=equation)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_einsum_propagates_dynamic_dims() -> None:
    op = build_on(linalg.Einsum, tensor((DYNAMIC, 3), "f32"), tensor((3, 4), "f32"),
                  equation="ij,jk->ik")
    assert op.result.type.shape == (DYNAMIC, 4)
    op = build_on(linalg.Einsum, tensor((DYNAMIC, 3), "f32"), tensor((1, 3), "f32"),
                  equation="...j,...j->...")
    assert op.result.type.shape == (DYNAMIC,)


@pytest.mark.parametrize(("equation", "shapes", "message"), [
    ("ij,jk", [(2, 3)], "input terms"),
    ("ij->ik", [(2, 3)], "'k' is in no input"),
    ("ij->ii", [(2, 3)], "more than once"),
    ("i.j", [(2, 3)], "letters"),
    ("...i...", [(2, 3)], "more than one '...'"),
    ("ij->i->j", [(2, 3)], "more than one '->'"),
    ("ijk", [(2, 3)], "rank"),
    ("ij,jk", [(2, 3), (4, 5)], "label 'j'"),
    ("ii", [(2, 3)], "repeats label 'i'"),
    ("...i->i", [(2, 3)], "'...'"),
    ("...i,...i", [(2, 3), (4, 3)], "broadcast"),
])
def test_einsum_bad_equations_name_the_op(equation: str, shapes: list[tuple[int, ...]],
                                          message: str) -> None:
    with pytest.raises(IRError, match=rf"onnx\.Einsum.*{message}"):
        build_on(linalg.Einsum, *[tensor(s, "f32") for s in shapes], equation=equation)


def test_einsum_rejects_mixed_and_quantized_operands() -> None:
    with pytest.raises(IRError, match=r"onnx\.Einsum.*one element type"):
        build_on(linalg.Einsum, tensor((2,), "f32"), tensor((2,), "f64"), equation="i,i")
    q = TensorType((2,), tensor((), "i8").element, Quantization.per_tensor(0.5, 0))
    with pytest.raises(IRError, match=r"onnx\.Einsum.*quantized"):
        build_on(linalg.Einsum, q, equation="i->")


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (2, 3, 2, 2), (1, 1)])
def test_det_matches_onnxruntime(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(4)
    check_op(linalg.Det, "Det", [f32(rng, *shape)], rtol=1e-4, atol=1e-5)
    check_shapes(linalg.Det, "Det", [f32(rng, *shape)])


def test_det_float64_singular_and_float16() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 5, 5))
    x[1, 2] = x[1, 0]  # a singular matrix
    (got,) = run_ir(linalg.Det, [x])
    np.testing.assert_allclose(got, np.linalg.det(x), rtol=1e-12, atol=1e-12)
    assert abs(got[1]) < 1e-12
    (half,) = run_ir(linalg.Det, [x[0].astype(np.float16)])
    assert half.dtype == np.float16 and half.shape == ()
    np.testing.assert_allclose(half, np.linalg.det(x[0]), rtol=1e-2)


@pytest.mark.parametrize(("shape", "message"), [((3,), "rank"), ((2, 3, 4), "square")])
def test_det_bad_shapes_name_the_op(shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(IRError, match=rf"onnx\.Det.*{message}"):
        build_on(linalg.Det, tensor(shape, "f32"))
    assert build_on(linalg.Det, tensor((DYNAMIC, 3, DYNAMIC), "f32")).result.type.shape == \
        (DYNAMIC,)
