"""MAC and parameter counts computed from an ONNX graph (after shape inference)."""

from __future__ import annotations

import math

import onnx

# Initializer inputs that hold trained parameters, by consumer op type and input position.
_PARAM_INPUTS: dict[str, tuple[int, ...]] = {
    "Conv": (1, 2),
    "ConvTranspose": (1, 2),
    "Gemm": (1, 2),
    "MatMul": (0, 1),
    "BatchNormalization": (1, 2),  # scale, shift (running statistics are buffers)
    "Gather": (0,),  # embedding tables
}


def _shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    shapes = {t.name: tuple(t.dims) for t in g.initializer}
    for vi in [*g.input, *g.value_info, *g.output]:
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims)
    return shapes


def count_macs(model: onnx.ModelProto) -> int:
    """Multiply-accumulates of Conv, Gemm and MatMul nodes (elementwise work is not counted)."""
    shapes = _shapes(model)
    total = 0
    for node in model.graph.node:
        out = shapes.get(node.output[0])
        if out is None or any(d < 0 for d in out):
            continue
        if node.op_type == "Conv":
            w = shapes[node.input[1]]
            total += math.prod(out) * math.prod(w[1:])
        elif node.op_type in ("Gemm", "MatMul"):
            a = shapes[node.input[0]]
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            k = a[-2] if trans_a else a[-1]
            total += math.prod(out) * k
    return total


def count_params(model: onnx.ModelProto) -> int:
    """Trained parameters: weights and biases of Conv / Gemm / MatMul, BatchNorm scale and
    shift, embedding tables, and 1-D tensors added or multiplied in (biases, LayerNorm).

    Shape constants, anchors, grids and BatchNorm running statistics are not parameters.
    """
    inits = {t.name: t for t in model.graph.initializer}
    params: set[str] = set()
    for node in model.graph.node:
        positions = _PARAM_INPUTS.get(node.op_type)
        for i, name in enumerate(node.input):
            if name not in inits:
                continue
            if positions is not None and i in positions:
                params.add(name)
            elif (
                node.op_type in ("Add", "Mul")
                and len(inits[name].dims) == 1
                and inits[name].dims[0] > 1
            ):
                params.add(name)
    float_types = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
    return sum(math.prod(inits[n].dims) for n in params if inits[n].data_type in float_types)
