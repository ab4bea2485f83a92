"""Every operator of the supported-operator table reaches the NPU when a model gives it in
QDQ form: a single-op INT8 QDQ ONNX model per row (shapes inside the row's condition, width a
multiple of 32) is folded, legalized and partitioned, and the placement report puts the op on
the NPU. Rows that are no single QDQ op test their own form: BatchNormalization after a Conv,
PRelu through its rewrite."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from furiosa.backend.warboy.report import place
from furiosa.backend.warboy.supported import RULES
from furiosa.frontends.onnx.importer import import_onnx
from furiosa.ir.interpreter import interpret
from furiosa.passes import PassManager
from tests.registry import PASSES

X = (1, 8, 8, 32)  # N, C, H, W: width a multiple of 32


class Builder:
    """A QDQ graph under construction: activations and constants quantized to int8 as
    onnxruntime's QDQ quantizer writes them (QuantizeLinear -> DequantizeLinear)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.shapes: dict[str, Sequence[int]] = {}  # outputs ONNX cannot infer (com.microsoft)
        self.steps: list[float] = []  # the quantization step of each model output

    def const(self, name: str, array: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def qdq(self, name: str, scale: float, zero: int = 0) -> str:
        s = self.const(f"{name}_scale", np.array(scale, np.float32))
        z = self.const(f"{name}_zero", np.array(zero, np.int8))
        self.nodes += [helper.make_node("QuantizeLinear", [name, s, z], [f"{name}_q"]),
                       helper.make_node("DequantizeLinear", [f"{name}_q", s, z], [f"{name}_dq"])]
        return f"{name}_dq"

    def input(self, name: str, shape: Sequence[int], scale: float = 0.03, zero: int = 0) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
        return self.qdq(name, scale, zero)

    def weight(self, name: str, shape: Sequence[int], scale: float = 0.01) -> str:
        w = (self.rng.standard_normal(shape) * scale * 30).astype(np.float32)
        return self.qdq(self.const(name, w), scale)

    def op(self, op_type: str, inputs: Sequence[str], scale: float = 0.05, zero: int = 0,
           outputs: int = 1, domain: str = "", shape: Sequence[int] | None = None,
           **attributes: object) -> list[str]:
        names = [f"t{len(self.nodes)}_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=op_type.lower(),
                                           domain=domain, **attributes))
        dq = [self.qdq(n, scale, zero) for n in names]
        self.steps += [scale] * outputs
        if shape is not None:
            self.shapes.update((d, shape) for d in dq)
        return dq

    def model(self, outputs: Sequence[str]) -> onnx.ModelProto:
        outs = []
        for i, o in enumerate(outputs):
            self.nodes.append(helper.make_node("Identity", [o], [f"y{i}"]))
            outs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT,
                                                      self.shapes.get(o)))
        graph = helper.make_graph(self.nodes, "single_op", self.inputs, [], self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("com.microsoft", 1)])
        # The outputs' shapes as ONNX infers them.
        inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(m).graph.value_info}
        m.graph.output.extend(o if o.type.tensor_type.HasField("shape") else inferred[o.name]
                              for o in outs)
        return m


def unary(op_type: str, scale: float = 0.05, zero: int = 0, in_zero: int = 0,
          **attributes: object) -> Callable[[Builder], list[str]]:
    return lambda b: b.op(op_type, [b.input("x", X, zero=in_zero)], scale, zero,
                          **attributes)


def binary(op_type: str) -> Callable[[Builder], list[str]]:
    return lambda b: b.op(op_type, [b.input("a", X), b.input("b", X, 0.02)], 0.06)


def conv(b: Builder) -> list[str]:
    return b.op("Conv", [b.input("x", X), b.weight("w", (16, 8, 3, 3)),
                         b.const("bias", b.rng.standard_normal(16).astype(np.float32))],
                pads=[1, 1, 1, 1])


def conv_bn(b: Builder) -> list[str]:
    # Conv then BatchNormalization, quantized after the normalization: the pair is one
    # quantized convolution, as a model exported for inference gives it.
    b.nodes.append(helper.make_node("Conv", [b.input("x", X), b.weight("w", (16, 8, 3, 3))],
                                    ["c"], name="conv", pads=[1, 1, 1, 1]))
    c = "c"
    n = 16
    params = [b.const(name, v.astype(np.float32)) for name, v in (
        ("gamma", b.rng.uniform(0.5, 1.5, n)), ("beta", b.rng.standard_normal(n)),
        ("mean", b.rng.standard_normal(n) * 0.1), ("var", b.rng.uniform(0.5, 1.5, n)))]
    return b.op("BatchNormalization", [c, *params])


def prelu(b: Builder) -> list[str]:
    slope = b.const("slope", np.full((8, 1, 1), 0.25, np.float32))
    return b.op("PRelu", [b.input("x", X), b.qdq(slope, 0.25 / 127)])


def pow_(b: Builder) -> list[str]:
    return b.op("Pow", [b.input("x", X), b.const("e", np.array(2.0, np.float32))], 0.02,
                -128)


def axes(name: str, values: Sequence[int]) -> Callable[[Builder], str]:
    return lambda b: b.const(name, np.array(values, np.int64))


MODELS: dict[str, Callable[[Builder], list[str]]] = {
    "Add": binary("Add"), "Sub": binary("Sub"), "Mul": binary("Mul"),
    "AveragePool": unary("AveragePool", 0.03, kernel_shape=[2, 2], strides=[2, 2]),
    "MaxPool": unary("MaxPool", 0.03, kernel_shape=[2, 2], strides=[2, 2]),
    "BatchNormalization": conv_bn,
    "Clip": lambda b: b.op("Clip", [b.input("x", X), b.const("lo", np.array(0, np.float32)),
                                    b.const("hi", np.array(2, np.float32))], 2 / 255, -128),
    "Relu": unary("Relu", 0.03, -128), "LeakyRelu": unary("LeakyRelu", alpha=0.1),
    "Sigmoid": unary("Sigmoid", 1 / 256, -128), "Softplus": unary("Softplus", 0.03, -128),
    "Tanh": unary("Tanh", 1 / 128), "Exp": unary("Exp", 0.1, -128),
    "Log": unary("Log", 0.05, 0, -128), "Elu": unary("Elu", 0.03),
    "Erf": unary("Erf", 1 / 128), "Gelu": unary("Gelu", 0.03, domain="com.microsoft", shape=X),
    "Sqrt": unary("Sqrt", 0.02, -128, -128), "Pow": pow_,
    "Concat": lambda b: b.op("Concat", [b.input("a", X), b.input("b", X)], 0.03, axis=1),
    "Conv": conv,
    "ConvTranspose": lambda b: b.op("ConvTranspose", [b.input("x", X),
                                                      b.weight("w", (8, 4, 2, 2))],
                                    strides=[2, 2]),
    "DepthToSpace": unary("DepthToSpace", 0.03, blocksize=2, mode="CRD"),
    "SpaceToDepth": unary("SpaceToDepth", 0.03, blocksize=2),
    "Expand": lambda b: b.op("Expand", [b.input("x", (1, 8, 1, 32)),
                                        b.const("shape", np.array(X, np.int64))], 0.03),
    "Flatten": unary("Flatten", 0.03, axis=1),
    "Reshape": lambda b: b.op("Reshape", [b.input("x", X),
                                          b.const("shape", np.array([1, 8, 16, 16], np.int64))],
                              0.03),
    "Unsqueeze": lambda b: b.op("Unsqueeze", [b.input("x", X), axes("ax", [0])(b)], 0.03),
    "Transpose": unary("Transpose", 0.03, perm=[0, 1, 3, 2]),
    "Split": lambda b: b.op("Split", [b.input("x", X)], 0.03, outputs=2, axis=1),
    "Gemm": lambda b: b.op("Gemm", [b.input("x", (4, 64)), b.weight("w", (32, 64)),
                                    b.const("c", b.rng.standard_normal(32).astype(np.float32))],
                           transB=1),
    "MatMul": lambda b: b.op("MatMul", [b.input("x", (1, 4, 64)), b.weight("w", (64, 32))]),
    "LpNormalization": unary("LpNormalization", 1 / 128, axis=1, p=2),
    "Mean": lambda b: b.op("ReduceMean", [b.input("x", X)], 0.03, axes=[2, 3]),
    "ReduceL2": lambda b: b.op("ReduceL2", [b.input("x", X)], 0.1, axes=[1]),
    "ReduceSum": lambda b: b.op("ReduceSum", [b.input("x", X), axes("ax", [1])(b)], 0.1),
    "Pad": lambda b: b.op("Pad", [b.input("x", X), b.const(
        "pads", np.array([0, 0, 1, 0, 0, 0, 1, 0], np.int64))], 0.03),
    "Resize": lambda b: b.op("Resize", [b.input("x", X), "", b.const(
        "scales", np.array([1, 1, 2, 2], np.float32))], 0.03, mode="linear"),
    "Slice": lambda b: b.op("Slice", [b.input("x", X), axes("st", [2])(b), axes("en", [6])(b),
                                      axes("ax", [2])(b)], 0.03),
    "Softmax": unary("Softmax", 1 / 256, -128, axis=-1),
    "PRelu": prelu,
}
# Further forms a row has: Resize in nearest mode, a Transpose that requantizes.
EXTRA: dict[str, tuple[str, Callable[[Builder], list[str]]]] = {
    "Resize-nearest": ("Resize", lambda b: b.op("Resize", [b.input("x", X), "", b.const(
        "scales", np.array([1, 1, 2, 2], np.float32))], 0.03, mode="nearest")),
    "Resize-half": ("Resize", lambda b: b.op("Resize", [b.input("x", X), "", b.const(
        "scales", np.array([1, 1, 0.5, 0.5], np.float32))], 0.03, mode="linear")),
    "Resize-asymmetric": ("Resize", lambda b: b.op("Resize", [b.input("x", X), "", b.const(
        "scales", np.array([1, 1, 2, 2], np.float32))], 0.03, mode="linear",
        coordinate_transformation_mode="asymmetric")),
    "Transpose-requantized": ("Transpose", unary("Transpose", 0.05, perm=[0, 1, 3, 2])),
    "Split-requantized": ("Split", lambda b: b.op("Split", [b.input("x", X)], 0.05, outputs=2,
                                                  axis=1)),
    "Pad-requantized": ("Pad", lambda b: b.op("Pad", [b.input("x", X), b.const(
        "pads", np.array([0, 0, 1, 0, 0, 0, 1, 0], np.int64))], 0.05)),
    "DepthToSpace-requantized": ("DepthToSpace", unary("DepthToSpace", 0.05, blocksize=2)),
    "Concat-requantized": ("Concat", lambda b: b.op("Concat", [b.input("a", X),
                                                               b.input("b", X, 0.02)], 0.05,
                                                    axis=2)),
    "Softmax-requantized": ("Softmax", unary("Softmax", 1 / 128, 0, axis=1)),
}
def _build(make: Callable[[Builder], list[str]]) -> onnx.ModelProto:
    return _built(make)[0]


def _built(make: Callable[[Builder], list[str]]) -> tuple[onnx.ModelProto, Builder]:
    b = Builder()
    return b.model(make(b)), b


def _npu(row: str, make: Callable[[Builder], list[str]]) -> None:
    model = _build(make)
    # The row's nodes; the ops made of them keep their names (BatchNormalization folds into
    # the Conv before it, an element-wise function becomes a table).
    names = {n.name for n in model.graph.node
             if n.op_type not in ("QuantizeLinear", "DequantizeLinear", "Identity")}
    report = place(import_onnx(model), "warboy", 1, row, registry=PASSES)
    mine = [p for p in report.ops if p.name in names]
    assert mine, f"{row}: no op of {sorted(names)} in {[(p.name, p.operator) for p in report.ops]}"
    host = [(p.name, p.operator, p.reason) for p in report.ops
            if p.placement != "npu" and p.operator not in ("Quantize", "Dequantize")]
    assert not host, f"{row}: {host}"


def test_every_row_has_a_model() -> None:
    assert set(MODELS) == {r.operator for r in RULES}


@pytest.mark.parametrize("row", sorted(MODELS))
def test_single_qdq_op_runs_on_the_npu(row: str) -> None:
    _npu(row, MODELS[row])


@pytest.mark.parametrize("form", sorted(EXTRA))
def test_further_forms_run_on_the_npu(form: str) -> None:
    _npu(*EXTRA[form])


ALL_FORMS = {**{row: make for row, make in MODELS.items()},
             **{form: make for form, (_, make) in EXTRA.items()}}


@pytest.mark.parametrize("form", sorted(ALL_FORMS))
def test_folding_keeps_values_within_one_step(form: str) -> None:
    """fold-qdq computes what the unfolded QDQ module computes, within one quantization step
    of the output, on seeded random inputs."""
    model, b = _built(ALL_FORMS[form])
    unfolded = import_onnx(model)
    folded = unfolded.copy()
    PassManager("fold-qdq", registry=PASSES).run(folded)
    rng = np.random.default_rng(7)
    shapes = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim]
              for i in model.graph.input}
    for _ in range(4):
        feed = {n: (rng.standard_normal(s) * 1.5).astype(np.float32) for n, s in shapes.items()}
        before, after = interpret(unfolded, feed), interpret(folded, feed)
        for i, step in enumerate(b.steps):
            name = f"y{i}"
            diff = np.abs(before[name].astype(np.float64) - after[name].astype(np.float64))
            assert np.rint(diff / step).max(initial=0) <= 1, f"{form}: {name} off by more " \
                "than one step"
