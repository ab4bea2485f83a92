"""The ONNX frontend: what it accepts, how it reads shapes and names, and every bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from furiosa.errors import (
    DynamicShapeError,
    FrontendError,
    ModelFileError,
    UnsupportedModelError,
)
from furiosa.frontends import load_model
from furiosa.frontends.onnx import import_onnx
from furiosa.ir.interpreter import interpret
from furiosa.ir.parser import parse_module
from furiosa.ir.printer import print_module
from furiosa.ir.verifier import verify_module
from tests.registry import DIALECTS


def small_model(opset: int = 13, batch: int | str = 1, *, ir_version: int = 8) -> onnx.ModelProto:
    """x[N,3,4,4] -> Conv(3x3, pad 1) -> Relu -> GlobalAveragePool -> Flatten -> y."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((2, 3, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(2).astype(np.float32), "b")
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu1"),
        helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["y"], name="flat"),
    ]
    graph = helper.make_graph(
        nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 2])], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    return model


def ort_run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


X = np.random.default_rng(1).standard_normal((1, 3, 4, 4)).astype(np.float32)


def test_import_computes_what_onnxruntime_computes(tmp_path: Path) -> None:
    model = small_model()
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    m = load_model(path)
    verify_module(m)
    np.testing.assert_allclose(interpret(m, {"x": X})["y"], ort_run(model, {"x": X})[0], rtol=1e-5, atol=1e-6)
    text = print_module(m)
    assert print_module(parse_module(text, registry=DIALECTS)) == text


def test_names_are_kept() -> None:
    m = import_onnx(small_model())
    assert [op.loc for op in m.main.ops if op.loc] == ["conv1", "relu1", "gap", "flat"]
    assert m.main.output_names == ["y"] and m.main.inputs[0].name == "x"
    assert {v.name for v in m.main.values()} >= {"x", "w", "b", "c", "r", "g", "y"}


def test_symbolic_batch_becomes_one_and_shapes_can_be_given() -> None:
    assert import_onnx(small_model(batch="N")).main.inputs[0].type.shape == (1, 3, 4, 4)
    m = import_onnx(small_model(batch="N"), input_shapes={"x": (2, 3, 4, 4)})
    assert m.main.inputs[0].type.shape == (2, 3, 4, 4) and m.main.outputs[0].type.shape == (2, 2)


def test_other_symbolic_dims_are_errors_naming_tensor_and_dim() -> None:
    model = small_model()
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "height"
    with pytest.raises(DynamicShapeError, match=r"input 'x' dimension 2 is 'height'.*--input-shape x="):
        import_onnx(model)
    assert import_onnx(model, input_shapes={"x": [1, 3, 4, 4]}).main.outputs[0].type.shape == (1, 2)
    with pytest.raises(DynamicShapeError, match="dimension 1 is 3 in the model but 5"):
        import_onnx(model, input_shapes={"x": [1, 5, 4, 4]})
    with pytest.raises(FrontendError, match="has no input named 'z'"):
        import_onnx(model, input_shapes={"z": [1]})


def test_newer_opset_is_rejected_naming_it() -> None:
    with pytest.raises(UnsupportedModelError, match="uses ONNX opset 17; the compiler takes opset 13 and below"):
        import_onnx(small_model(opset=17))


def test_older_opset_is_converted() -> None:
    model = small_model(opset=9, ir_version=4)
    m = import_onnx(model)
    np.testing.assert_allclose(interpret(m, {"x": X})["y"], ort_run(model, {"x": X})[0], rtol=1e-5, atol=1e-6)


def test_unknown_domain_is_rejected_by_name() -> None:
    model = small_model()
    model.graph.node.append(helper.make_node("Frobnicate", ["y"], ["z"], name="frob", domain="ai.example"))
    model.opset_import.append(helper.make_opsetid("ai.example", 1))
    with pytest.raises(UnsupportedModelError, match=r"node 'frob' uses operator domain 'ai.example' \(Frobnicate\)"):
        import_onnx(model)


def test_unsupported_ms_op_is_rejected_by_name() -> None:
    model = small_model()
    model.graph.node.append(helper.make_node("FusedConv", ["y"], ["z"], name="fc", domain="com.microsoft"))
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    with pytest.raises(UnsupportedModelError, match=r"com.microsoft operator 'FusedConv'"):
        import_onnx(model)


def test_microsoft_gelu_imports() -> None:
    node = helper.make_node("Gelu", ["x"], ["y"], name="gelu", domain="com.microsoft")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    x = np.linspace(-3, 3, 6, dtype=np.float32).reshape(2, 3)
    m = import_onnx(model)
    np.testing.assert_allclose(interpret(m, {"x": x})["y"], ort_run(model, {"x": x})[0], rtol=1e-5, atol=1e-6)


def test_constant_nodes_of_every_form() -> None:
    nodes = [helper.make_node("Constant", [], ["a"], value_float=2.0),
             helper.make_node("Constant", [], ["b"], value_ints=[1, 2, 3]),
             helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.eye(2, dtype=np.float32))),
             helper.make_node("Mul", ["x", "a"], ["y"])]
    graph = helper.make_graph(nodes, "k", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info(n, t, s) for n, t, s in
                               [("y", TensorProto.FLOAT, [2]), ("b", TensorProto.INT64, [3]),
                                ("c", TensorProto.FLOAT, [2, 2])]])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    out = interpret(import_onnx(model), {"x": np.array([1.0, 2.0], np.float32)})
    assert out["y"].tolist() == [2.0, 4.0] and out["b"].tolist() == [1, 2, 3] and out["c"].shape == (2, 2)


def test_external_data_beside_the_model(tmp_path: Path) -> None:
    model = small_model()
    expected = ort_run(model, {"x": X})[0]
    path = tmp_path / "ext.onnx"
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.data", size_threshold=0)
    assert (tmp_path / "ext.data").exists()
    np.testing.assert_allclose(interpret(load_model(path), {"x": X})["y"], expected, rtol=1e-5, atol=1e-6)
    (tmp_path / "ext.data").unlink()
    with pytest.raises(ModelFileError, match="cannot load its external data"):
        load_model(path)


def test_bound_inputs_become_constants() -> None:
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")]
    graph = helper.make_graph(nodes, "r", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
                                           helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(FrontendError, match="node 'reshape' \\(Reshape\\): operand 'shape' must be a constant"):
        import_onnx(model)
    m = import_onnx(model, input_values={"shape": np.array([3, 2], np.int64)})
    assert [v.name for v in m.main.inputs] == ["x"] and m.main.outputs[0].type.shape == (3, 2)


# ---------------------------------------------------------------- bad input


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize(("name", "data", "cls", "message"), [
    ("empty.onnx", b"", ModelFileError, "is empty"),
    ("random.onnx", bytes(np.random.default_rng(3).integers(0, 256, 500, dtype=np.uint8)),
     ModelFileError, "is not an ONNX model"),
    ("truncated.onnx", small_model().SerializeToString()[:150], FrontendError, "truncated.onnx"),
    ("model.pb", small_model().SerializeToString(), ModelFileError, "unknown model format '.pb'"),
    ("tflite.onnx", b"\x1c\x00\x00\x00TFL3" + bytes(40), ModelFileError, "is named .onnx but holds a tflite model"),
])
def test_bad_files(tmp_path: Path, name: str, data: bytes, cls: type, message: str) -> None:
    with pytest.raises(cls, match=message):
        load_model(write(tmp_path, name, data))


def test_missing_file() -> None:
    with pytest.raises(ModelFileError, match=r"nope.onnx: no such file"):
        load_model("nope.onnx")


def test_cycle_and_undefined_input() -> None:
    model = small_model()
    del model.graph.node[:]
    model.graph.node.extend([helper.make_node("Relu", ["b2"], ["a2"], name="first"),
                             helper.make_node("Relu", ["a2"], ["b2"], name="second"),
                             helper.make_node("Identity", ["x"], ["y"], name="out")])
    with pytest.raises(FrontendError, match=r"cycle|not a valid ONNX model"):
        import_onnx(model)
    model2 = small_model()
    model2.graph.node[1].input[0] = "ghost"
    with pytest.raises(FrontendError, match="ghost"):
        import_onnx(model2)


def test_cycle_is_named_when_the_checker_is_skipped() -> None:
    from furiosa.frontends.onnx.importer import _GraphImporter

    model = small_model()
    del model.graph.node[:]
    model.graph.node.extend([helper.make_node("Relu", ["b2"], ["a2"], name="first"),
                             helper.make_node("Relu", ["a2"], ["b2"], name="second"),
                             helper.make_node("Identity", ["a2"], ["y"], name="out")])
    with pytest.raises(FrontendError, match=r"node '(first|second)' \(Relu\) is part of a cycle"):
        _GraphImporter(model, "cyclic.onnx", None).run()


def test_huge_declared_tensor_is_refused_before_allocation() -> None:
    model = small_model()
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for d, v in zip(dims, [1, 1000, 1000, 1000000], strict=True):
        d.dim_value = v
    with pytest.raises(FrontendError, match="input 'x' would hold 1e\\+12 elements"):
        import_onnx(model)


VALID = small_model().SerializeToString()


@settings(max_examples=150, deadline=3000, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_models_raise_only_frontend_errors(data: st.DataObject) -> None:
    raw = bytearray(VALID)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        pos = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if kind == "flip" and raw:
            raw[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "truncate":
            del raw[pos:]
        elif kind == "insert":
            raw[pos:pos] = bytes(data.draw(st.binary(min_size=1, max_size=8)))
        elif raw:
            del raw[pos:pos + data.draw(st.integers(1, 8))]
    try:
        m = import_onnx(bytes(raw), name="mutated.onnx")
    except FrontendError:
        return
    verify_module(m)
