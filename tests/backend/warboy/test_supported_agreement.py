"""The supported-operator table and the ops the NPU runs agree, both ways.

Every NpuCapable op class names rows of the table, and every row is carried out by at least
one NpuCapable op class. A row with no INT8 op yet is an expected failure, so the gap stays
visible and the test flips to passing when the op is added.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from furiosa.backend.warboy.dialect import NPU_CLASSES, TWINS
from furiosa.backend.warboy.legalize import FIX, REASON
from furiosa.backend.warboy.supported import RULES, RULES_BY_OPERATOR
from furiosa.frontends.onnx.importer import import_onnx
from furiosa.ir.core import DECLARED_OPS
from furiosa.ir.traits import NpuCapable
from furiosa.passes import PassManager
from tests.registry import PASSES

# Rows of the table with no INT8 op that carries them out yet.
NO_INT8_OP = ("ConvTranspose", "LpNormalization", "ReduceL2")


def _capable() -> dict[str, NpuCapable]:
    return {name: t for name, cls in sorted(DECLARED_OPS.items())
            if (t := NpuCapable.of(cls)) is not None}


def test_npu_classes_are_the_npu_capable_ops() -> None:
    assert {c.OP_NAME for c in NPU_CLASSES} == {
        name for name in _capable() if not name.startswith("warboy.")}
    assert set(TWINS) == set(NPU_CLASSES)
    for base, twin in TWINS.items():
        assert NpuCapable.of(twin) == NpuCapable.of(base)  # a twin stands for the same rows


@pytest.mark.parametrize("name", sorted(_capable()))
def test_every_npu_op_names_existing_rows(name: str) -> None:
    trait = _capable()[name]
    missing = [row for row in trait.rows if row not in RULES_BY_OPERATOR]
    assert not missing, f"{name} names rows {missing} that the supported table does not have"
    if trait.own:
        # An op of the NPU's own stands for no ONNX operator, so its name is not a row.
        assert trait.operator not in RULES_BY_OPERATOR
    else:
        assert trait.operator in RULES_BY_OPERATOR


def _row_params() -> list[object]:
    return [pytest.param(r.operator, marks=pytest.mark.xfail(strict=True, reason="no INT8 op yet"))
            if r.operator in NO_INT8_OP else r.operator for r in RULES]


@pytest.mark.parametrize("row", _row_params())
def test_every_row_is_carried_out_by_an_npu_op(row: str) -> None:
    carriers = [name for name, t in _capable().items() if row in t.rows]
    assert carriers, f"no NpuCapable op carries out the supported-table row {row}"


def test_the_gaps_are_rows_of_the_table() -> None:
    assert all(r in RULES_BY_OPERATOR for r in NO_INT8_OP)


def _qdq(name: str, scale: float, zero: int, nodes: list[onnx.NodeProto],
         inits: list[onnx.TensorProto]) -> str:
    """Append QuantizeLinear -> DequantizeLinear of ``name``; returns the dequantized name."""
    inits += [numpy_helper.from_array(np.array(scale, np.float32), f"{name}_scale"),
              numpy_helper.from_array(np.array(zero, np.int8), f"{name}_zero")]
    nodes += [helper.make_node("QuantizeLinear", [name, f"{name}_scale", f"{name}_zero"], [f"{name}_q"]),
              helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_scale", f"{name}_zero"],
                               [f"{name}_dq"])]
    return f"{name}_dq"


def qdq_conv_transpose() -> onnx.ModelProto:
    """x -> Q -> DQ -> ConvTranspose(W: Q -> DQ) -> Q -> DQ -> y: an INT8 ConvTranspose."""
    rng = np.random.default_rng(0)
    nodes: list[onnx.NodeProto] = []
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")]
    x = _qdq("x", 0.05, 0, nodes, inits)
    w = _qdq("w", 0.02, 0, nodes, inits)
    nodes.append(helper.make_node("ConvTranspose", [x, w], ["t"], strides=[2, 2], name="deconv"))
    y = _qdq("t", 0.1, 0, nodes, inits)
    nodes.append(helper.make_node("Identity", [y], ["y"]))
    graph = helper.make_graph(
        nodes, "qdq_deconv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 11, 11])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model


def test_an_int8_conv_transpose_is_not_told_to_quantize_the_model() -> None:
    module = import_onnx(qdq_conv_transpose())
    PassManager("fold-qdq,legalize", registry=PASSES).run(module)
    deconvs = [op for f in module.functions for op in f.ops if op.OP_NAME.endswith("ConvTranspose")]
    assert len(deconvs) == 1
    op = deconvs[0]
    assert op.OP_NAME == "onnx.ConvTranspose"  # no INT8 form: it stays on the host
    reason, fix = str(op.extra[REASON]), str(op.extra.get(FIX, ""))
    assert "ConvTranspose" in reason and "quantized in the model" in reason
    assert "quantize the model" not in reason and "quantize the model" not in fix


def test_an_unfolded_qdq_op_is_told_to_fold_not_to_quantize() -> None:
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    x = _qdq("x", 0.05, 0, nodes, inits)
    nodes.append(helper.make_node("Sigmoid", [x], ["s"], name="sigmoid"))
    y = _qdq("s", 1 / 256, -128, nodes, inits)
    nodes.append(helper.make_node("Identity", [y], ["y"]))
    info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 8]) for n in ("x", "y")]
    model = helper.make_model(helper.make_graph(nodes, "qdq_sigmoid", info[:1], info[1:], inits),
                              opset_imports=[helper.make_opsetid("", 13)])
    module = import_onnx(model)
    PassManager("legalize", registry=PASSES).run(module)  # no fold-qdq: Sigmoid stays float
    op = next(op for f in module.functions for op in f.ops if op.OP_NAME == "onnx.Sigmoid")
    fix = str(op.extra[FIX])
    assert "fold-qdq" in fix and "quant.Table" in fix and "quantize the model" not in fix
    module = import_onnx(model)
    PassManager("fold-qdq,legalize", registry=PASSES).run(module)
    assert not any(op.OP_NAME == "onnx.Sigmoid" for f in module.functions for op in f.ops)
