"""Traits and memory effects: declared on op classes, inherited, and respected by passes."""

from __future__ import annotations

import attrs
import numpy as np

from furiosa.ir.core import constant_value
from furiosa.ir.dialects import func, quant
from furiosa.ir.dialects.onnx import elementwise as ew
from furiosa.ir.dialects.onnx import nn, tensor
from furiosa.ir.dialects.onnx.base import Constant, Identity
from furiosa.ir.module import Function, Module
from furiosa.ir.traits import (
    Effect,
    EffectKind,
    Elementwise,
    HasMACs,
    MovesData,
    NpuCapable,
    QuantFoldable,
    SameTypeIdentity,
    write,
)
from furiosa.ir.types import tensor as ttype
from furiosa.passes import PassManager
from tests.registry import PASSES


@attrs.define(kw_only=True, eq=False, repr=False)
class SramRelu(ew.Relu):
    """A Relu that also writes its result to SRAM: not pure (not registered as a dialect op)."""

    OP_NAME = "test.SramRelu"
    EFFECTS = (write("warboy.sram"),)


@attrs.define(kw_only=True, eq=False, repr=False)
class PlainMaxPool(nn.MaxPool):
    """A family member that withdraws one inherited trait and redeclares another."""

    OP_NAME = "test.PlainMaxPool"
    TRAITS = (NpuCapable("AveragePool"),)
    WITHOUT_TRAITS = (MovesData,)


def test_queries_on_ops_and_classes() -> None:
    x = Function("f").add_input("x", ttype((1, 4), "f32"))
    relu = ew.Relu.build(x)
    assert relu.has_trait(Elementwise) and ew.Relu.has_trait(Elementwise)
    assert Elementwise.of(relu) == Elementwise()
    assert QuantFoldable.of(relu) == QuantFoldable("quant.Table")
    assert QuantFoldable.of(ew.Add) == QuantFoldable("quant.Add")  # redeclared by the member
    assert not relu.has_trait(MovesData) and HasMACs.of(relu) is None
    assert tensor.Reshape.has_trait(MovesData) and tensor.Reshape.has_trait(SameTypeIdentity)
    assert Identity.has_trait(SameTypeIdentity) and not tensor.Transpose.has_trait(SameTypeIdentity)
    assert NpuCapable.of(quant.FullyConnected) == NpuCapable("Gemm")
    assert NpuCapable.of(quant.Table) is not None and NpuCapable.of(quant.Table).own  # type: ignore[union-attr]
    assert HasMACs.of(nn.Conv) is not None and HasMACs.of(quant.Conv) is not None


def test_traits_are_inherited_and_may_be_withdrawn() -> None:
    # Relu: Elementwise from UnaryElementwise, QuantFoldable from ArithmeticUnary.
    assert {type(t) for t in ew.Relu.traits()} == {Elementwise, QuantFoldable}
    # A comparison is element-wise but its boolean result is no table.
    assert ew.Equal.has_trait(Elementwise) and not ew.Equal.has_trait(QuantFoldable)
    # quant.Add: Elementwise from the binary family, NpuCapable of its own.
    assert quant.Add.has_trait(Elementwise) and NpuCapable.of(quant.Add).operator == "Add"  # type: ignore[union-attr]
    assert SramRelu.has_trait(Elementwise) and SramRelu.has_trait(QuantFoldable)
    assert not PlainMaxPool.has_trait(MovesData)
    assert NpuCapable.of(PlainMaxPool) == NpuCapable("AveragePool")
    assert QuantFoldable.of(PlainMaxPool) == QuantFoldable("quant.MaxPool")
    assert nn.MaxPool.has_trait(MovesData)  # the base is unchanged


def test_effects_decide_purity() -> None:
    x = Function("f").add_input("x", ttype((1, 4), "f32"))
    assert ew.Relu.build(x).is_pure
    store = SramRelu.build(x)
    assert store.effects() == (Effect(EffectKind.WRITE, "warboy.sram"),) and not store.is_pure
    call = func.Call.build(x, callee="g", result_types=[x.type])
    assert call.effects() is None and not call.is_pure  # what the callee does is unknown


def _canonicalize(m: Function) -> None:
    PassManager("canonicalize", registry=PASSES).run(m)


def test_an_op_that_writes_is_neither_erased_nor_merged_nor_folded() -> None:
    m = Function("f")
    x = m.add_input("x", ttype((1, 4), "f32"))
    c = m.add(Constant.of(np.array([[-1.0, 2.0, -3.0, 4.0]], np.float32))).result
    pure_a, pure_b = m.add(ew.Relu.build(x)), m.add(ew.Relu.build(x))
    m.add(ew.Relu.build(x))  # unused and pure: dead
    store_a, store_b = m.add(SramRelu.build(x)), m.add(SramRelu.build(x))  # equal, one unused
    folded = m.add(ew.Relu.build(c))
    kept = m.add(SramRelu.build(c))
    total = m.add(ew.Sum.build(pure_a.result, pure_b.result, store_a.result, folded.result,
                               kept.result))
    m.set_outputs([total.result], ["y"])
    assert constant_value(folded.result) is not None and constant_value(kept.result) is None
    _canonicalize(m)
    names = [op.OP_NAME for op in m.ops]
    assert names.count("onnx.Relu") == 1  # the two equal pure Relus merged, the dead one erased
    assert names.count("test.SramRelu") == 3  # both unused-or-equal writers and the one on a constant
    assert store_a in m and store_b in m and kept in m
    assert folded not in m  # the pure Relu of a constant was folded


def test_an_unused_call_is_kept() -> None:
    g = Function("g")
    gx = g.add_input("x", ttype((1, 4), "f32"))
    g.set_outputs([g.add(ew.Relu.build(gx)).result], ["y"])
    m = Function("f")
    x = m.add_input("x", ttype((1, 4), "f32"))
    call = m.add(func.Call.build(x, callee="g", result_types=[x.type]))
    m.set_outputs([x], ["y"])
    PassManager("canonicalize", registry=PASSES).run(Module([m, g]))
    assert call in m


def test_op_macs_asks_the_trait() -> None:
    from furiosa.backend.warboy.cost import op_macs

    m = Function("f")
    a = m.add_input("a", ttype((2, 5, 3), "f32"))
    b = m.add(Constant.of(np.ones((3, 7), np.float32))).result
    mm = m.add(nn.MatMul.build(a, b))
    assert op_macs(mm) == HasMACs.of(mm).count(mm) == 2 * 5 * 7 * 3  # type: ignore[union-attr]
    assert op_macs(m.add(ew.Relu.build(a))) == 0
