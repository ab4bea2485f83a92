"""The element-wise onnx ops against onnxruntime, onnx shape inference and their error cases."""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

from furiosa.errors import InterpreterError, IRError
from furiosa.ir.core import Operation, constant_value
from furiosa.ir.dialects.onnx import elementwise as ew
from furiosa.ir.dialects.onnx.base import Constant
from furiosa.ir.interpreter.kernels.onnx_elementwise import erf
from furiosa.ir.module import Function
from furiosa.ir.types import DYNAMIC, ElementType, Quantization, TensorType, tensor
from furiosa.ir.verifier import verify_module
from tests.ir import op_examples
from tests.ir.onnx_reference import run_onnx_node
from tests.ir.op_examples import Example, run_example, single_op_module
from tests.ir.op_examples import onnx_elementwise as _registers_examples  # noqa: F401

# Ops defined after opset 13 are checked at the opset that defines them.
ONNX_OPSET = {"Gelu": 20, "HardSwish": 14}


# --------------------------------------------------------------------------- helpers


def the_op(ex: Example) -> Operation:
    """The one non-constant op of a single-op example."""
    (op,) = [op for op in ex.module.ops if not isinstance(op, Constant)]
    return op


def operand_arrays(ex: Example) -> list[np.ndarray | None]:
    """The op's operands as arrays: module inputs from the feeds, constants from their values."""
    arrays: list[np.ndarray | None] = []
    for v in the_op(ex).operands:
        if v is None:
            arrays.append(None)
        elif v.owner is None:
            arrays.append(ex.inputs[v.name or ""])
        else:
            arrays.append(np.asarray(constant_value(v)))
    return arrays


def onnx_attributes(op: Operation) -> dict[str, object]:
    """The op's attributes as ONNX node attributes (furiosa-only ones left out)."""
    out: dict[str, object] = {}
    for name, value in op.attributes.items():
        if value is None or (isinstance(op, ew.Dropout) and name == "with_mask"):
            continue
        if isinstance(value, ElementType):
            value = helper.np_dtype_to_tensor_dtype(value.dtype)
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


def onnx_type(op: Operation) -> str:
    return op.OP_NAME.split(".", 1)[1]


def tolerance(dtype: np.dtype) -> tuple[float, float]:
    # float16 keeps ~3 decimal digits, and kernels computing in float32 round differently.
    return (2e-3, 2e-3) if dtype == np.float16 else (1e-5, 1e-6)


def assert_matches(ours: Sequence[np.ndarray], theirs: Sequence[np.ndarray], what: str,
                   loose: float = 1.0) -> None:
    assert len(ours) == len(theirs), what
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        b = np.asarray(b)
        assert a.shape == b.shape, f"{what} result {i}: shape {a.shape} != {b.shape}"
        assert a.dtype == b.dtype, f"{what} result {i}: dtype {a.dtype} != {b.dtype}"
        if a.dtype.kind == "f":
            rtol, atol = tolerance(a.dtype)
            np.testing.assert_allclose(a, b, rtol=rtol * loose, atol=atol * loose,
                                       err_msg=f"{what} result {i}")
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"{what} result {i}")


def check_against_onnx(ex: Example, *, use_reference: bool = False, loose: float = 1.0) -> None:
    """Verify the example, run it, and compare every result with the ONNX oracle's."""
    verify_module(ex.module)
    op = the_op(ex)
    theirs = run_onnx_node(onnx_type(op), operand_arrays(ex), len(op.results),
                           opset=ONNX_OPSET.get(onnx_type(op), 13), use_reference=use_reference,
                           **onnx_attributes(op))
    assert_matches(run_example(ex), theirs, op.OP_NAME, loose)


def run_ours(op_cls: type[Operation], inputs: Sequence[np.ndarray | None], *,
             constant: Sequence[int] = (), **attributes: object) -> list[np.ndarray]:
    ex = single_op_module(op_cls, inputs, constant=constant, **attributes)
    verify_module(ex.module)
    return run_example(ex)


def compare(op_cls: type[Operation], inputs: Sequence[np.ndarray | None], *,
            constant: Sequence[int] = (), use_reference: bool = False, loose: float = 1.0,
            **attributes: object) -> None:
    check_against_onnx(single_op_module(op_cls, inputs, constant=constant, **attributes),
                       use_reference=use_reference, loose=loose)


def onnx_inferred_types(op: Operation) -> list[tuple[tuple[int, ...], int]]:
    """(shape, ONNX element type) of each result by onnx shape inference; unknown dims are -1.

    Constant operands become initializers so shape-giving values are visible to inference.
    """
    names, inputs, inits = [], [], []
    for i, v in enumerate(op.operands):
        if v is None:
            names.append("")
            continue
        name = f"x{i}"
        names.append(name)
        c = constant_value(v)
        if c is not None:
            inits.append(onnx.numpy_helper.from_array(np.asarray(c), name))
        else:
            dims = [None if d == DYNAMIC else d for d in v.type.shape]
            inputs.append(helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(v.type.dtype), dims))
    outs = [f"y{i}" for i in range(len(op.results))]
    node = helper.make_node(onnx_type(op), names, outs, **onnx_attributes(op))
    graph = helper.make_graph([node], "g", inputs, [helper.make_empty_tensor_value_info(o)
                                                    for o in outs], initializer=inits)
    opset = ONNX_OPSET.get(onnx_type(op), 13)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    result = []
    for o in inferred.graph.output:
        t = o.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else DYNAMIC for d in t.shape.dim)
        result.append((dims, t.elem_type))
    return result


def assert_types_match_onnx(op: Operation) -> None:
    ours = [(r.type.shape, helper.np_dtype_to_tensor_dtype(r.type.dtype)) for r in op.results]
    assert ours == onnx_inferred_types(op), op.OP_NAME


def build_on(op_cls: type[Operation], types: Sequence[TensorType | np.ndarray | None],
             **attributes: object) -> tuple[Function, Operation]:
    """An op on inputs of the given types (arrays become constants), added to a module."""
    m = Function("m")
    operands = []
    for i, t in enumerate(types):
        if t is None:
            operands.append(None)
        elif isinstance(t, TensorType):
            operands.append(m.add_input(f"in{i}", t))
        else:
            c = Constant.of(t)
            m.add(c)
            operands.append(c.result)
    op = op_cls.build(*operands, **attributes)
    m.add(op)
    m.set_outputs(op.results)
    return m, op


def attributes_never_set(op_names: Sequence[str]) -> list[str]:
    """'op.attribute' for each declared attribute no example sets to a non-default value."""
    missing = []
    for name in op_names:
        built = [the_op(fn()) for _, fn in op_examples.EXAMPLES.get(name, [])]
        for field in attrs.fields(type(built[0])) if built else ():
            if field.name in built[0].attribute_specs() and all(
                    getattr(op, field.name) == field.default for op in built):
                missing.append(f"{name}.{field.name}")
    return missing


def expect_error(fn: object, op_name: str, *words: str) -> None:
    """Calling ``fn`` raises an IRError whose message names ``op_name`` and has ``words``."""
    with pytest.raises(IRError) as info:
        fn()  # type: ignore[operator]
    message = str(info.value)
    assert op_name in message, message
    for w in words:
        assert w in message, message


# --------------------------------------------------------------------------- every example


DECLARED = sorted(cls.OP_NAME for cls in vars(ew).values()
                  if isinstance(cls, type) and issubclass(cls, Operation)
                  and cls.__module__ == ew.__name__ and cls.OP_NAME)
EXAMPLE_CASES = [(name, fn) for name in DECLARED for _, fn in op_examples.EXAMPLES.get(name, [])]


def test_every_op_has_an_example() -> None:
    assert DECLARED and all(op_examples.EXAMPLES.get(name) for name in DECLARED)


def test_examples_set_every_attribute() -> None:
    assert attributes_never_set(DECLARED) == []


@pytest.mark.parametrize("build", [fn for _, fn in EXAMPLE_CASES],
                         ids=[fn.__name__ for _, fn in EXAMPLE_CASES])
def test_example_matches_onnxruntime(build: object) -> None:
    check_against_onnx(build())  # type: ignore[operator]


@pytest.mark.parametrize("build", [fn for _, fn in EXAMPLE_CASES],
                         ids=[fn.__name__ for _, fn in EXAMPLE_CASES])
def test_example_types_match_onnx_shape_inference(build: object) -> None:
    assert_types_match_onnx(the_op(build()))  # type: ignore[operator]


# --------------------------------------------------------------------------- broadcasting


@st.composite
def broadcastable_shapes(draw: st.DrawFn, n: int) -> list[tuple[int, ...]]:
    """``n`` shapes that broadcast together: each dim of the result, or 1, right-aligned."""
    full = draw(st.lists(st.integers(1, 4), min_size=0, max_size=4))
    shapes = []
    for _ in range(n):
        rank = draw(st.integers(0, len(full)))
        tail = full[len(full) - rank:]
        shapes.append(tuple(d if draw(st.booleans()) else 1 for d in tail))
    return shapes


@settings(max_examples=40, deadline=None)
@given(shapes=broadcastable_shapes(2), op_cls=st.sampled_from([ew.Add, ew.Sub, ew.Mul, ew.Less]))
def test_binary_broadcasting_matches_numpy_onnx_and_onnxruntime(
        shapes: list[tuple[int, ...]], op_cls: type[Operation]) -> None:
    a = np.random.default_rng(0).uniform(-3, 3, shapes[0]).astype(np.float32)
    b = np.random.default_rng(1).uniform(-3, 3, shapes[1]).astype(np.float32)
    ex = single_op_module(op_cls, [a, b])
    op = the_op(ex)
    assert op.result.type.shape == np.broadcast_shapes(*shapes)
    assert_types_match_onnx(op)
    check_against_onnx(ex)


@settings(max_examples=25, deadline=None)
@given(shapes=broadcastable_shapes(3), op_cls=st.sampled_from([ew.Max, ew.Min, ew.Sum, ew.Mean]))
def test_variadic_broadcasting(shapes: list[tuple[int, ...]], op_cls: type[Operation]) -> None:
    arrays = [np.random.default_rng(i).uniform(-3, 3, s).astype(np.float32)
              for i, s in enumerate(shapes)]
    ex = single_op_module(op_cls, arrays)
    assert the_op(ex).result.type.shape == np.broadcast_shapes(*shapes)
    check_against_onnx(ex)


@settings(max_examples=25, deadline=None)
@given(shapes=broadcastable_shapes(3))
def test_where_three_way_broadcasting(shapes: list[tuple[int, ...]]) -> None:
    rng = np.random.default_rng(2)
    cond = rng.random(shapes[0]) > 0.5
    x = rng.integers(-9, 9, shapes[1]).astype(np.int64)
    y = rng.integers(-9, 9, shapes[2]).astype(np.int64)
    ex = single_op_module(ew.Where, [cond, x, y])
    assert the_op(ex).result.type.shape == np.broadcast_shapes(*shapes)
    assert_types_match_onnx(the_op(ex))
    check_against_onnx(ex)


def test_shapes_that_do_not_broadcast_are_rejected() -> None:
    f = tensor((2, 3), "f32")
    expect_error(lambda: build_on(ew.Add, [f, tensor((4,), "f32")]), "onnx.Add", "broadcast")
    expect_error(lambda: build_on(ew.Max, [f, f, tensor((3, 3), "f32")]), "onnx.Max", "broadcast")
    expect_error(lambda: build_on(ew.Where, [tensor((2,), "bool"), f, f]), "onnx.Where",
                 "broadcast")


def test_dynamic_dims_propagate() -> None:
    dyn = tensor((DYNAMIC, 3), "f32")
    _, add = build_on(ew.Add, [dyn, tensor((1, 3), "f32")])
    assert add.result.type.shape == (DYNAMIC, 3)
    _, add = build_on(ew.Add, [dyn, tensor((5, 1), "f32")])
    assert add.result.type.shape == (5, 3)
    _, relu = build_on(ew.Relu, [dyn])
    assert relu.result.type.shape == (DYNAMIC, 3)
    _, prelu = build_on(ew.PRelu, [tensor((DYNAMIC, 3, 4), "f32"), tensor((3, 1), "f32")])
    assert prelu.result.type.shape == (DYNAMIC, 3, 4)
    _, where = build_on(ew.Where, [tensor((DYNAMIC,), "bool"), tensor((1,), "i32"),
                                   tensor((DYNAMIC,), "i32")])
    assert where.result.type.shape == (DYNAMIC,)
    m, cast = build_on(ew.Cast, [dyn], to="i8")
    assert cast.result.type == tensor((DYNAMIC, 3), "i8")
    verify_module(m)


# --------------------------------------------------------------------------- integer arithmetic

I32_A = np.array([-7, 7, -7, 7, 0, -1, 9, -2**31 + 1], np.int32)
I32_B = np.array([2, 2, -2, -2, 3, 4, -9, 3], np.int32)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_div_truncates_toward_zero(dtype: type) -> None:
    compare(ew.Div, [I32_A.astype(dtype), I32_B.astype(dtype)])


def test_unsigned_div_and_wrapping_arithmetic() -> None:
    a = np.array([7, 0, 2**32 - 1, 5], np.uint32)
    b = np.array([2, 5, 3, 7], np.uint32)
    for op_cls in (ew.Div, ew.Add, ew.Sub, ew.Mul):
        compare(op_cls, [a, b])
    big = np.array([2**62, -2**63, 2**63 - 1], np.int64)
    for op_cls in (ew.Add, ew.Sub, ew.Mul):
        compare(op_cls, [big, np.array([4, -1, 2], np.int64)])


@pytest.mark.parametrize("fmod", [0, 1])
@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint16])
def test_integer_mod(fmod: int, dtype: type) -> None:
    if np.dtype(dtype).kind == "u":
        a, b = np.array([7, 0, 250, 9], dtype), np.array([2, 5, 7, 9], dtype)
    else:
        a, b = np.array([-7, 7, -7, 7, 0, -5], dtype), np.array([2, 3, -2, -3, 4, 5], dtype)
    compare(ew.Mod, [a, b], fmod=fmod)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_fmod(dtype: type) -> None:
    a = np.array([-7.5, 7.5, -7.5, 7.5, 0.0, 5.25], dtype)
    b = np.array([2.0, 2.0, -2.0, -2.0, 3.0, 0.5], dtype)
    compare(ew.Mod, [a, b], fmod=1)


@pytest.mark.parametrize("op_cls", [ew.Div, ew.Mod])
def test_integer_division_by_zero_is_an_error(op_cls: type[Operation]) -> None:
    ex = single_op_module(op_cls, [np.array([1, 2], np.int32), np.array([1, 0], np.int32)])
    with pytest.raises(InterpreterError, match=op_cls.OP_NAME) as info:
        run_example(ex)
    assert "by zero" in str(info.value)


@pytest.mark.parametrize(("x", "y"), [
    (np.array([2, -2, 3, 1, -1, 5, 0], np.int32), np.array([-1, -1, 2, -3, -3, 3, 2], np.int32)),
    (np.array([2, -3, 3, 10], np.int64), np.array([0.5, 2.0, 2.5, 3.0], np.float32)),
    (np.array([2, 3, -4], np.int64), np.array([3, 1, 2], np.uint8)),
    (np.array([-2.0, 0.5, 4.0], np.float32), np.array([3, -2, 0], np.int64)),
    (np.array([0.5, 2.0, 9.0], np.float64), np.array([-1.5, 0.25, 0.5], np.float64)),
    (np.array([-2.0, 0.5, 1.5], np.float16), np.array([2.0, -1.0, 3.0], np.float16)),
    (np.array([-8.0, 0.0], np.float32), np.array([1 / 3, -1.0], np.float32)),
])
def test_pow_type_pairs(x: np.ndarray, y: np.ndarray) -> None:
    compare(ew.Pow, [x, y])


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64])
def test_bit_shift(direction: str, dtype: type) -> None:
    bits = np.dtype(dtype).itemsize * 8
    x = np.array([1, 3, 255, 128, 7], dtype)
    y = np.array([0, 1, 3, bits - 1, 2], dtype)
    compare(ew.BitShift, [x, y], direction=direction)


@pytest.mark.parametrize("op_cls", [ew.Equal, ew.Less, ew.Greater, ew.LessOrEqual,
                                    ew.GreaterOrEqual])
@pytest.mark.parametrize("dtype", [np.int8, np.uint64, np.float16, np.float64])
def test_comparisons(op_cls: type[Operation], dtype: type) -> None:
    a = np.array([[0, 1, 2], [3, 1, 0]], dtype)
    b = np.array([1, 1, 0], dtype)
    compare(op_cls, [a, b])


def test_comparisons_with_nan() -> None:
    a = np.array([np.nan, 1.0, np.nan, np.inf], np.float32)
    b = np.array([np.nan, np.nan, 1.0, np.inf], np.float32)
    for op_cls in (ew.Equal, ew.Less, ew.Greater, ew.LessOrEqual, ew.GreaterOrEqual):
        compare(op_cls, [a, b])


def test_prelu_integer_and_broadcast_slopes() -> None:
    compare(ew.PRelu, [np.array([[-4, 3], [5, -6]], np.int32), np.array([2, 3], np.int32)])
    x = np.random.default_rng(3).uniform(-2, 2, (2, 3, 4)).astype(np.float64)
    compare(ew.PRelu, [x, np.array([[0.1], [0.2], [0.3]])])
    compare(ew.PRelu, [x, np.full((2, 3, 4), 0.25)])


# --------------------------------------------------------------------------- unary functions

SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 80.0, -80.0, 1e4, -1e4],
                   np.float32)
FLOAT_UNARY = [ew.Abs, ew.Neg, ew.Reciprocal, ew.Floor, ew.Ceil, ew.Round, ew.Sign, ew.Sqrt,
               ew.Exp, ew.Log, ew.Erf, ew.Tanh, ew.Sigmoid, ew.Atan, ew.Sinh, ew.Cosh, ew.Asinh,
               ew.Softplus, ew.Softsign, ew.Relu, ew.LeakyRelu, ew.Elu, ew.Selu, ew.Celu,
               ew.ThresholdedRelu, ew.HardSigmoid, ew.HardSwish, ew.Shrink, ew.Gelu]


@pytest.mark.parametrize("op_cls", FLOAT_UNARY, ids=lambda c: c.__name__)
def test_unary_special_values(op_cls: type[Operation]) -> None:
    compare(op_cls, [SPECIAL])


@pytest.mark.parametrize("op_cls", [ew.Exp, ew.Sigmoid, ew.Erf, ew.Tanh, ew.Softplus, ew.Round,
                                    ew.Elu, ew.HardSwish, ew.Gelu, ew.Relu, ew.Abs],
                         ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_unary_other_float_widths(op_cls: type[Operation], dtype: type) -> None:
    x = np.random.default_rng(4).uniform(-4, 4, (3, 5)).astype(dtype)
    x[0, :3] = [0.5, 1.5, -2.5]
    compare(op_cls, [x])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu(approximate: str, dtype: type) -> None:
    x = np.linspace(-8, 8, 101).astype(dtype)
    compare(ew.Gelu, [x], approximate=approximate)


def test_erf_is_accurate_in_float64() -> None:
    x = np.concatenate([np.linspace(-7, 7, 20001), np.logspace(-300, 1.2, 500),
                        [0.0, -0.0, 2.999999, 3.0, 3.000001, 27.0, 1e300]])
    want = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(erf(x), want, rtol=5e-15, atol=0)
    assert np.signbit(erf(np.array([-0.0])))[0]
    np.testing.assert_array_equal(erf(np.array([np.inf, -np.inf, np.nan])), [1, -1, np.nan])


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int64, np.uint32])
def test_integer_unary(dtype: type) -> None:
    info = np.iinfo(dtype)
    x = np.array([info.min, info.min + 1, -1 if info.min else 1, 0, 5, info.max], dtype)
    compare(ew.Abs, [x])
    compare(ew.Sign, [x])
    compare(ew.Shrink, [x], bias=2.5, lambd=1.0)
    if info.min:
        compare(ew.Neg, [x])


@pytest.mark.parametrize(("negative", "positive"), [(1, 1), (0, 1), (1, 0), (0, 0)])
def test_is_inf_and_is_nan(negative: int, positive: int) -> None:
    compare(ew.IsInf, [SPECIAL], detect_negative=negative, detect_positive=positive)
    compare(ew.IsInf, [SPECIAL.astype(np.float64)], detect_negative=negative,
            detect_positive=positive)
    compare(ew.IsNaN, [SPECIAL.astype(np.float16)])


# --------------------------------------------------------------------------- Clip


@pytest.mark.parametrize(("lo", "hi"), [(-1.0, 1.0), (1.0, -1.0), (None, 0.5), (0.5, None),
                                        (None, None), (-np.inf, np.inf)])
def test_clip_bounds(lo: float | None, hi: float | None) -> None:
    x = np.array([np.nan, -2.0, -0.5, 0.0, 0.7, 3.0, np.inf], np.float32)
    bound = [None if v is None else np.array(v, np.float32) for v in (lo, hi)]
    while bound and bound[-1] is None:
        bound.pop()
    compare(ew.Clip, [x, *bound])


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.int64, np.uint64])
def test_clip_integers(dtype: type) -> None:
    info = np.iinfo(dtype)
    x = np.array([info.min, 0, 3, 9, info.max], dtype)
    compare(ew.Clip, [x, np.array(2, dtype), np.array(8, dtype)])
    compare(ew.Clip, [x, None, np.array(4, dtype)])


def test_clip_one_element_bounds_from_constants() -> None:
    x = np.random.default_rng(5).uniform(-3, 3, (3, 4)).astype(np.float32)
    compare(ew.Clip, [x, np.array([-1], np.float32), np.array([2], np.float32)], constant=[1, 2])


# --------------------------------------------------------------------------- Cast

CAST_TARGETS = ["bool", "i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64", "f16", "f32", "f64"]
FLOAT_SOURCE = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 0.4, -0.6, 2.7, -2.7, 127.9, 128.5,
                         -129.5, 255.9, 300.0, -300.0, 7e4, 3e9, -3e9, 1e19, 1e30], np.float64)


@pytest.mark.parametrize("to", CAST_TARGETS)
@pytest.mark.parametrize("source", [np.float32, np.float64, np.float16])
def test_cast_from_floats(source: type, to: str) -> None:
    with np.errstate(all="ignore"):
        x = FLOAT_SOURCE.astype(source)
    compare(ew.Cast, [x], to=to)


@pytest.mark.parametrize("to", CAST_TARGETS)
@pytest.mark.parametrize("source", [np.bool_, np.int8, np.uint8, np.int32, np.int64, np.uint64])
def test_cast_from_integers(source: type, to: str) -> None:
    values = [0, 1, 2, 127, 255, 256, 2**31 - 1, 2**40 + 1, -1, -128, -2**40]
    with np.errstate(all="ignore"):
        x = np.array(values, np.int64).astype(source)
    compare(ew.Cast, [x], to=to)


# --------------------------------------------------------------------------- Dropout


@pytest.mark.parametrize("with_mask", [0, 1])
def test_dropout_is_identity_in_inference(with_mask: int) -> None:
    x = np.random.default_rng(6).uniform(-3, 3, (2, 3)).astype(np.float32)
    compare(ew.Dropout, [x], with_mask=with_mask)
    compare(ew.Dropout, [x, np.array(0.7, np.float32), np.array(False)], with_mask=with_mask)
    # Training mode with a zero ratio keeps everything too.
    compare(ew.Dropout, [x, np.array(0.0, np.float32), np.array(True)], with_mask=with_mask)


def test_dropout_training_mode_is_rejected() -> None:
    x = np.ones((2, 2), np.float32)
    ex = single_op_module(ew.Dropout, [x, np.array(0.5, np.float32), np.array(True)])
    with pytest.raises(InterpreterError, match=r"onnx\.Dropout.*training-mode"):
        run_example(ex)
    m, _ = build_on(ew.Dropout, [tensor((2, 2), "f32"), None, np.array([True])])
    expect_error(lambda: verify_module(m), "onnx.Dropout", "training-mode")
    m, _ = build_on(ew.Dropout, [tensor((2, 2), "f32"), np.array([1.5], np.float32)])
    expect_error(lambda: verify_module(m), "onnx.Dropout", "ratio 1.5")


# --------------------------------------------------------------------------- errors


QUANT = tensor((2, 3), "i8", Quantization.per_tensor(0.1, 0))
PER_AXIS = tensor((2, 3), "i8", Quantization.per_axis([0.1, 0.2, 0.3], [0, 0, 0], 1))


@pytest.mark.parametrize(("op_cls", "types", "attributes"), [
    (ew.Abs, [QUANT], {}),
    (ew.Neg, [QUANT], {}),
    (ew.Cast, [QUANT], {"to": "f32"}),
    (ew.Clip, [QUANT], {}),
    (ew.Shrink, [QUANT], {}),
    (ew.Max, [QUANT, QUANT], {}),
    (ew.Mod, [QUANT, QUANT], {}),
    (ew.Equal, [QUANT, QUANT], {}),
])
def test_quantized_operands_are_rejected(op_cls: type[Operation], types: list[TensorType],
                                         attributes: dict[str, object]) -> None:
    expect_error(lambda: build_on(op_cls, types, **attributes), op_cls.OP_NAME, "quantized",
                 "dequantize")


def test_where_passes_one_per_tensor_quantization_only() -> None:
    cond = tensor((2, 3), "bool")
    _, op = build_on(ew.Where, [cond, QUANT, QUANT])
    assert op.result.type == QUANT
    expect_error(lambda: build_on(ew.Where, [cond, QUANT, tensor((2, 3), "i8")]), "onnx.Where",
                 "quantization")
    expect_error(lambda: build_on(ew.Where, [cond, PER_AXIS, PER_AXIS]), "onnx.Where", "per-axis")


def _verify_built(op_cls: type[Operation], types: list[TensorType | np.ndarray | None],
                  **attributes: object) -> None:
    m, _ = build_on(op_cls, types, **attributes)
    verify_module(m)


@pytest.mark.parametrize(("op_cls", "types", "attributes", "words"), [
    (ew.Add, [tensor((2,), "f32"), tensor((2,), "f64")], {}, ["same element type"]),
    (ew.Add, [tensor((2,), "i8"), tensor((2,), "i8")], {}, ["element type i8"]),
    (ew.Sqrt, [tensor((2,), "i32")], {}, ["element type i32"]),
    (ew.Not, [tensor((2,), "f32")], {}, ["element type f32"]),
    (ew.Celu, [tensor((2,), "f32")], {"alpha": 0.0}, ["'alpha'", "non-zero"]),
    (ew.IsInf, [tensor((2,), "f32")], {"detect_negative": 2}, ["'detect_negative'"]),
    (ew.Gelu, [tensor((2,), "f32")], {"approximate": "fast"}, ["'approximate'"]),
    (ew.Mod, [tensor((2,), "f32"), tensor((2,), "f32")], {}, ["fmod must be 1"]),
    (ew.BitShift, [tensor((2,), "u8"), tensor((2,), "u8")], {"direction": "UP"},
     ["'direction'"]),
    (ew.Clip, [tensor((2,), "f32"), tensor((2,), "f32")], {}, ["'min'", "scalar"]),
    (ew.Clip, [tensor((2,), "f32"), None, tensor((), "f64")], {}, ["same element type"]),
    (ew.PRelu, [tensor((2, 3), "f32"), tensor((2,), "f32")], {}, ["'slope'", "broadcast"]),
    (ew.PRelu, [tensor((3,), "f32"), tensor((2, 3), "f32")], {}, ["'slope'", "broadcast"]),
    (ew.Pow, [tensor((2,), "u8"), tensor((2,), "u8")], {}, ["operand 'X'"]),
    (ew.Where, [tensor((2,), "i32"), tensor((2,), "f32"), tensor((2,), "f32")], {},
     ["'condition'"]),
    (ew.Dropout, [tensor((2,), "f32"), tensor((2,), "f32")], {}, ["'ratio'", "scalar"]),
    (ew.Mean, [tensor((2,), "f32"), tensor((2,), "f16")], {}, ["one element type"]),
])
def test_bad_ops_are_rejected(op_cls: type[Operation], types: list[TensorType | None],
                              attributes: dict[str, object], words: list[str]) -> None:
    expect_error(lambda: _verify_built(op_cls, types, **attributes), op_cls.OP_NAME, *words)


def test_bit_shift_direction_is_required() -> None:
    expect_error(lambda: build_on(ew.BitShift, [tensor((2,), "u8"), tensor((2,), "u8")]),
                 "onnx.BitShift", "direction")
