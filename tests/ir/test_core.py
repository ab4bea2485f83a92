"""Types, module maintenance and the verifier, on the base ops."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from furiosa.errors import IRError, VerifyError
from furiosa.ir.attributes import NamedLayout
from furiosa.ir.core import AttrKind, Dense, Operation, attribute, op_def, operand, result
from furiosa.ir.dialects.common import FLOATS
from furiosa.ir.dialects.onnx.base import Constant, Identity
from furiosa.ir.module import Function
from furiosa.ir.parser import parse_module
from furiosa.ir.printer import print_module
from furiosa.ir.types import F32, I8, Quantization, TensorType, tensor
from furiosa.ir.verifier import verify_module, verify_operation
from tests.registry import DIALECTS


@op_def("test.Scale")
class Scale(Operation):
    """y = x · factor; a test op with a choice and a check."""

    OPERANDS = (operand("x", FLOATS),)
    RESULTS = (result("y"),)
    factor: float = attribute(AttrKind.FLOAT, 1.0, check=lambda f: f != 0, check_text="non-zero")
    mode: str = attribute(AttrKind.STRING, "fast", choices=("fast", "exact"))


def chain(n: int = 2) -> tuple[Function, list[Operation]]:
    m = Function("chain")
    v = m.add_input("x", tensor((2, 3), "f32"))
    ops = []
    for _ in range(n):
        op = m.add(Identity.build(v))
        ops.append(op)
        v = op.result
    m.set_outputs([v], ["y"])
    return m, ops


# ---------------------------------------------------------------- types


def test_type_text() -> None:
    assert str(tensor((1, 3), "f32")) == "tensor<1x3xf32>"
    assert str(tensor((), "i64")) == "tensor<i64>"
    q = Quantization.per_axis([0.5, 0.25], [0, 0], axis=1)
    assert (str(TensorType((3, 2), I8, q, NamedLayout("NC")))
            == "tensor<3x2xi8, quant<axis=1: 0.5:0, 0.25:0>, #layout<NC>>")


@pytest.mark.parametrize(("build", "message"), [
    (lambda: TensorType((2,), F32, Quantization.per_tensor(0.1, 0)), "integer element type"),
    (lambda: TensorType((2,), I8, Quantization.per_tensor(0.1, 300)), "zero point 300 does not fit i8"),
    (lambda: TensorType((2, 3), I8, Quantization.per_axis([1.0, 1.0], [0, 0], 1)), "axis 1 has size 3"),
    (lambda: TensorType((2,), I8, Quantization.per_axis([1.0, 1.0], [0, 0], 3)), "axis 3 is outside"),
    (lambda: Quantization((1.0, 2.0), (0, 0), None), "exactly one scale"),
    (lambda: Quantization.per_tensor(float("nan")), "not a positive finite"),
    (lambda: TensorType((2, -3), F32), "negative dimension"),
    (lambda: TensorType((2,), F32, layout=NamedLayout("N/C")), "layout 'N/C'"),
    (lambda: TensorType((2,), F32, layout="NC"), "not a layout attribute"),
    (lambda: TensorType((2,), F32, layout=NamedLayout("NCHW")), "4 axes but the shape"),
])
def test_bad_types(build, message: str) -> None:
    with pytest.raises(IRError, match=message):
        build()


def test_dense_equality_is_by_type_and_bytes() -> None:
    a = Dense(np.arange(4, dtype=np.float32))
    b = Dense(np.arange(4, dtype=np.float32))
    c = Dense(np.arange(4, dtype=np.int32))
    assert a == b and hash(a) == hash(b) and a != c
    assert not a.array.flags.writeable


# ---------------------------------------------------------------- module


def test_uses_and_edges_follow_rewrites() -> None:
    m, (a, b) = chain()
    x = m.inputs[0]
    assert list(x.uses) == [(a, 0)] and list(a.result.uses) == [(b, 0)]
    assert m.graph.has_edge(a, b)
    m.replace_all_uses(a.result, x)
    assert b.operands[0] is x and not a.result.uses and not m.graph.has_edge(a, b)
    m.erase(a)
    assert a not in m and m.ops == [b]
    verify_module(m)


def test_erase_refuses_used_op() -> None:
    m, (a, _) = chain()
    with pytest.raises(IRError, match="still used"):
        m.erase(a)


def test_outputs_keep_their_names() -> None:
    m, (_, b) = chain()
    m.replace_all_uses(b.result, m.inputs[0])
    m.erase(b)
    assert m.output_names == ["y"]
    assert "return %x as \"y\"" in print_module(m)


def test_inserted_op_prints_at_its_anchor() -> None:
    m, (a, b, c) = chain(3)
    new = Identity.build(a.result)
    m.add(new, at=b)
    m.set_outputs([c.result, new.result], ["y", "z"])
    assert m.ops == [a, new, b, c]
    text = print_module(m)
    assert print_module(parse_module(text, registry=DIALECTS)) == text


def test_copy_prints_identically_and_is_independent() -> None:
    m, _ = chain()
    c = m.copy()
    assert print_module(c) == print_module(m)
    c.replace_all_uses(c.ops[0].result, c.inputs[0])
    assert print_module(c) != print_module(m)
    verify_module(m)


# ---------------------------------------------------------------- verifier


def test_use_before_definition_is_reported() -> None:
    m, (a, b) = chain()
    m.set_operand(a, 0, b.result)
    with pytest.raises(VerifyError, match=r"onnx\.Identity uses result 0 of onnx\.Identity "
                                          r"before its definition"):
        verify_module(m)


def test_dangling_value_is_reported() -> None:
    _, (o, _) = chain()
    m, (a, _) = chain()
    m.set_operand(a, 0, o.result)
    with pytest.raises(VerifyError, match="defined nowhere in function @chain"):
        verify_module(m)


def test_result_type_mismatch_is_reported() -> None:
    x = Function().add_input("x", tensor((2,), "f32"))
    op = Identity.from_parts([x], {}, [tensor((3,), "f32")], loc="copy")
    with pytest.raises(IRError, match=r"onnx\.Identity 'copy': result 0 has type tensor<3xf32>"):
        verify_operation(op)


def test_arity_is_reported() -> None:
    x = Function().add_input("x", tensor((2,), "f32"))
    with pytest.raises(IRError, match="takes 1 operands, got 2"):
        Identity.build(x, x)


def test_operand_element_type_is_reported() -> None:
    x = Function().add_input("x", tensor((2,), "i32"))
    with pytest.raises(IRError, match="operand 'x' has element type i32; expected one of f16, f32, f64"):
        verify_operation(Scale.from_parts([x], {}, [tensor((2,), "i32")]))


@pytest.mark.parametrize(("attrs", "message"), [
    ({"mode": "slow"}, "attribute 'mode' is 'slow'; expected one of 'fast', 'exact'"),
    ({"factor": 0.0}, "attribute 'factor' is 0.0; it must be non-zero"),
])
def test_attribute_constraints_are_reported(attrs: dict, message: str) -> None:
    x = Function().add_input("x", tensor((2,), "f32"))
    with pytest.raises(IRError, match=message):
        verify_operation(Scale.build(x, **attrs))


def test_attribute_kind_is_checked() -> None:
    x = Function().add_input("x", tensor((2,), "f32"))
    with pytest.raises(IRError, match="bad float attribute"):
        Scale.build(x, factor="big")


def test_duplicate_names_are_reported() -> None:
    m = Function()
    m.add_input("x", tensor((2,), "f32"))
    m.add_input("x", tensor((2,), "f32"))
    with pytest.raises(VerifyError, match="two inputs named 'x'"):
        verify_module(m)
    m2, _ = chain()
    m2.set_outputs([m2.inputs[0], m2.inputs[0]], ["y", "y"])
    with pytest.raises(VerifyError, match="two outputs named 'y'"):
        verify_module(m2)


def test_constant_type_comes_from_its_value() -> None:
    c = Constant.of(np.zeros((2, 2), np.int8), tensor((2, 2), "i8", Quantization.per_tensor(0.5, 1)))
    assert str(c.result.type) == "tensor<2x2xi8, quant<0.5:1>>"


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["f16", "f32", "f64", "i8", "u8", "i32", "i64", "bool"]),
       st.integers(1, 20), st.integers(0, 2**32 - 1))
def test_dense_round_trips_bit_exactly(element: str, n: int, seed: int) -> None:
    """Any bit pattern (NaN payloads aside) prints and parses back to the same bits, in both
    the literal form (small constants) and the hex form (large ones)."""
    t = tensor((n,), element)
    raw = np.random.default_rng(seed).integers(0, 256, n * t.dtype.itemsize, dtype=np.uint8)
    arr = raw.view(t.dtype) if element != "bool" else raw[:n] % 2 == 1
    m = Function("dense")
    c = m.add(Constant.of(arr, t))
    m.set_outputs([c.result], ["c"])
    back = parse_module(print_module(m)).main.ops[0].value.array
    if t.dtype.kind == "f":
        nan = np.isnan(arr)
        assert np.array_equal(np.isnan(back), nan)
        assert np.array_equal(arr[~nan].view(f"u{t.dtype.itemsize}"), back[~nan].view(f"u{t.dtype.itemsize}"))
    else:
        assert np.array_equal(arr, back)
