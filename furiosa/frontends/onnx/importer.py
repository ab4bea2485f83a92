"""Import an ONNX model (default-domain opset <= 13) into the IR's ``onnx`` dialect.

The onnx package does the loading, checking and version conversion; this
module maps each node onto the declared op of the same name, attribute by
attribute, and lets the IR's type rules compute every shape. Errors are
:class:`~furiosa.errors.FrontendError` subclasses naming the file and the
node or tensor at fault.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from furiosa.errors import (
    DynamicShapeError,
    FrontendError,
    IRError,
    ModelFileError,
    UnsupportedModelError,
)
from furiosa.frontends.files import read_model_bytes
from furiosa.ir import interpreter  # noqa: F401  (installs constant evaluation for shapes)
from furiosa.ir.core import AttrKind, Dense, Value
from furiosa.ir.dialects import core_registry
from furiosa.ir.dialects.onnx.base import Constant
from furiosa.ir.module import Function, Module
from furiosa.ir.types import ElementType, TensorType
from furiosa.ir.verifier import verify_operation

MAX_OPSET = 13
# Tensors above this many elements cannot be real models on this machine; refuse before allocating.
MAX_ELEMENTS = 1 << 36
MS_DOMAIN = "com.microsoft"
# com.microsoft ops found in quantized and transformer models, imported as onnx-dialect ops.
MS_OPS = frozenset({
    "QLinearAdd", "QLinearMul", "QLinearConcat", "QLinearAveragePool", "QLinearGlobalAveragePool",
    "QLinearSigmoid", "QLinearLeakyRelu", "QGemm", "Gelu",
})

_ELEMENTS: dict[int, ElementType] = {
    onnx.TensorProto.FLOAT: ElementType.F32,
    onnx.TensorProto.DOUBLE: ElementType.F64,
    onnx.TensorProto.FLOAT16: ElementType.F16,
    onnx.TensorProto.INT8: ElementType.I8,
    onnx.TensorProto.UINT8: ElementType.U8,
    onnx.TensorProto.INT16: ElementType.I16,
    onnx.TensorProto.UINT16: ElementType.U16,
    onnx.TensorProto.INT32: ElementType.I32,
    onnx.TensorProto.UINT32: ElementType.U32,
    onnx.TensorProto.INT64: ElementType.I64,
    onnx.TensorProto.UINT64: ElementType.U64,
    onnx.TensorProto.BOOL: ElementType.BOOL,
}


def element_type(code: int, where: str) -> ElementType:
    et = _ELEMENTS.get(code)
    if et is None:
        name = onnx.TensorProto.DataType.Name(code) if code in onnx.TensorProto.DataType.values() else str(code)
        raise UnsupportedModelError(f"{where} has element type {name}, which the compiler does not support")
    return et


# ---------------------------------------------------------------- loading


def load_onnx(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """Read a model file (with external data beside it) or raise a ModelFileError."""
    p = Path(path)
    model = parse_onnx_bytes(read_model_bytes(p), str(p))
    if any(_uses_external_data(t) for t in _all_tensors(model.graph)):
        try:
            onnx.external_data_helper.load_external_data_for_model(model, str(p.parent))
        except Exception as e:  # onnx reports a missing data file as OSError or ValidationError
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelFileError(f"{p}: cannot load its external data: {reason}") from None
    return model


def parse_onnx_bytes(data: bytes, name: str = "<bytes>") -> onnx.ModelProto:
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError):
        raise ModelFileError(f"{name} is not an ONNX model (it does not parse as one)") from None
    if not model.HasField("graph") or not model.opset_import:
        raise ModelFileError(f"{name} is not an ONNX model (it has no graph or no opset)")
    return model


def _uses_external_data(t: onnx.TensorProto) -> bool:
    return t.data_location == onnx.TensorProto.EXTERNAL


def _all_tensors(graph: onnx.GraphProto) -> list[onnx.TensorProto]:
    tensors = list(graph.initializer)
    for node in graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                tensors.append(a.t)
    return tensors


# ---------------------------------------------------------------- checking


def default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return 1


def prepare(model: onnx.ModelProto, name: str) -> onnx.ModelProto:
    """Check domains and opset, convert older opsets to 13, run the onnx checker."""
    opset = default_opset(model)
    if opset > MAX_OPSET:
        raise UnsupportedModelError(
            f"{name} uses ONNX opset {opset}; the compiler takes opset {MAX_OPSET} and below "
            f"(convert it with onnx.version_converter.convert_version(model, {MAX_OPSET}))")
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx", MS_DOMAIN):
            raise UnsupportedModelError(
                f"{name}: node '{node.name or node.op_type}' uses operator domain '{node.domain}' "
                f"({node.op_type}), which the compiler does not know")
        if node.domain == MS_DOMAIN and node.op_type not in MS_OPS:
            raise UnsupportedModelError(
                f"{name}: node '{node.name or node.op_type}' uses {MS_DOMAIN} operator "
                f"'{node.op_type}', which the compiler does not support")
    if opset < MAX_OPSET:
        try:
            model = onnx.version_converter.convert_version(model, MAX_OPSET)
        except Exception as e:  # the converter raises bare RuntimeErrors and ValueErrors
            raise UnsupportedModelError(
                f"{name} uses opset {opset} and cannot be converted to opset {MAX_OPSET}: "
                f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    try:
        onnx.checker.check_model(model)
    except Exception as e:  # ValidationError, and UnicodeDecodeError for damaged strings
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FrontendError(f"{name} is not a valid ONNX model: {first}") from None
    return model


# ---------------------------------------------------------------- shapes


def input_type(vi: onnx.ValueInfoProto, name: str,
               given: Mapping[str, Sequence[int]] | None) -> TensorType:
    tt = vi.type.tensor_type
    if not vi.type.HasField("tensor_type"):
        raise UnsupportedModelError(f"{name}: input '{vi.name}' is not a tensor")
    et = element_type(tt.elem_type, f"{name}: input '{vi.name}'")
    if given is not None and vi.name in given:
        shape = tuple(int(d) for d in given[vi.name])
        if tt.HasField("shape"):
            declared = tt.shape.dim
            if len(declared) != len(shape):
                raise DynamicShapeError(
                    f"{name}: input '{vi.name}' has rank {len(declared)} but the given shape "
                    f"{'x'.join(map(str, shape))} has rank {len(shape)}")
            for i, (d, s) in enumerate(zip(declared, shape, strict=True)):
                if d.HasField("dim_value") and d.dim_value != s:
                    raise DynamicShapeError(
                        f"{name}: input '{vi.name}' dimension {i} is {d.dim_value} in the model "
                        f"but {s} in the given shape")
        if any(s < 0 for s in shape):
            raise DynamicShapeError(f"{name}: the given shape of input '{vi.name}' has a negative size")
    else:
        if not tt.HasField("shape"):
            raise DynamicShapeError(
                f"{name}: input '{vi.name}' has no declared shape; give it with "
                f"--input-shape {vi.name}=DIMS (e.g. 1x3x224x224)")
        dims = []
        for i, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value") and d.dim_value >= 0:
                dims.append(d.dim_value)
            elif i == 0:
                dims.append(1)  # the batch; the compile-time batch size is applied later
            else:
                label = f"'{d.dim_param}'" if d.dim_param else "unknown"
                raise DynamicShapeError(
                    f"{name}: input '{vi.name}' dimension {i} is {label}, not a number; give the "
                    f"shape with --input-shape {vi.name}=DIMS (input_shapes= in the API)")
        shape = tuple(dims)
    check_size(shape, f"{name}: input '{vi.name}'")
    return TensorType(shape, et)


def check_size(shape: Sequence[int], where: str) -> None:
    n = math.prod(int(d) for d in shape)
    if n > MAX_ELEMENTS:
        raise FrontendError(f"{where} would hold {n:.3g} elements, more than the "
                            f"{MAX_ELEMENTS:.3g} a model may use")


def tensor_array(t: onnx.TensorProto, where: str) -> np.ndarray:
    element_type(t.data_type, where)
    check_size(t.dims, where)
    try:
        return numpy_helper.to_array(t)
    except (ValueError, TypeError) as e:
        raise FrontendError(f"{where} holds data that does not match its shape: {e}") from None


# ---------------------------------------------------------------- attributes


def attribute_value(attr: onnx.AttributeProto, kind: AttrKind, where: str) -> Any:
    A = onnx.AttributeProto
    if attr.type in (A.GRAPH, A.GRAPHS):
        raise UnsupportedModelError(f"{where}: attribute '{attr.name}' is a subgraph; control flow "
                                    "is not supported")
    if attr.type in (A.SPARSE_TENSOR, A.SPARSE_TENSORS, A.TYPE_PROTO, A.TYPE_PROTOS):
        raise UnsupportedModelError(f"{where}: attribute '{attr.name}' has a kind the compiler does not support")
    value = onnx.helper.get_attribute_value(attr)
    if kind is AttrKind.ELEMENT:
        return element_type(int(value), f"{where}: attribute '{attr.name}'")
    if kind is AttrKind.DENSE:
        arr = tensor_array(value, f"{where}: attribute '{attr.name}'")
        return Dense(arr)
    if kind in (AttrKind.STRING,) and isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if kind is AttrKind.STRINGS:
        return [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v for v in value]
    if kind in (AttrKind.INTS, AttrKind.FLOATS):
        return list(value)
    return value


def constant_node_array(node: onnx.NodeProto, where: str) -> np.ndarray:
    if len(node.attribute) != 1:
        raise FrontendError(f"{where}: a Constant node needs exactly one value attribute")
    attr = node.attribute[0]
    if attr.name == "value":
        return tensor_array(attr.t, where)
    if attr.name == "value_float":
        return np.array(attr.f, np.float32)
    if attr.name == "value_floats":
        return np.array(list(attr.floats), np.float32)
    if attr.name == "value_int":
        return np.array(attr.i, np.int64)
    if attr.name == "value_ints":
        return np.array(list(attr.ints), np.int64)
    raise UnsupportedModelError(f"{where}: Constant attribute '{attr.name}' is not supported")


# ---------------------------------------------------------------- the graph


class _GraphImporter:
    def __init__(self, model: onnx.ModelProto, name: str,
                 input_shapes: Mapping[str, Sequence[int]] | None,
                 input_values: Mapping[str, np.ndarray] | None = None) -> None:
        self.model = model
        self.name = name
        self.input_shapes = dict(input_shapes) if input_shapes else None
        self.input_values = {k: np.asarray(v) for k, v in (input_values or {}).items()}
        graph = model.graph
        self.module = Function(graph.name or Path(name).stem or "main")
        self.values: dict[str, Value] = {}

    def node_label(self, node: onnx.NodeProto) -> str:
        return f"{self.name}: node '{node.name}' ({node.op_type})" if node.name else \
            f"{self.name}: {node.op_type} node producing '{node.output[0] if node.output else '?'}'"

    def run(self) -> Module:
        graph = self.model.graph
        init_names = {t.name for t in graph.initializer}
        real_inputs = {vi.name for vi in graph.input if vi.name not in init_names}
        for given in [*(self.input_shapes or {}), *self.input_values]:
            if given not in real_inputs:
                raise FrontendError(f"{self.name} has no input named '{given}' "
                                    f"(inputs: {', '.join(sorted(real_inputs))})")
        for vi in graph.input:
            if vi.name in init_names:
                continue  # an initializer listed as an input is a constant with a default
            if vi.name in self.values:
                raise FrontendError(f"{self.name}: input '{vi.name}' is declared twice")
            if vi.name in self.input_values:
                self.values[vi.name] = self.bound_input(vi)
                continue
            self.values[vi.name] = self.module.add_input(vi.name, input_type(vi, self.name, self.input_shapes))
        for t in graph.initializer:
            arr = tensor_array(t, f"{self.name}: initializer '{t.name}'")
            self.define(t.name, self.module.add(Constant.of(arr, name=t.name)).result)
        for node in self.ordered_nodes():
            self.import_node(node)
        outputs = []
        for vi in graph.output:
            v = self.values.get(vi.name)
            if v is None:
                raise FrontendError(f"{self.name}: output '{vi.name}' is not produced by any node")
            outputs.append(v)
        self.module.set_outputs(outputs, [vi.name for vi in graph.output])
        return Module([self.module])

    def bound_input(self, vi: onnx.ValueInfoProto) -> Value:
        """An input the caller fixed to a value: it becomes a constant of the declared type."""
        arr = self.input_values[vi.name]
        et = element_type(vi.type.tensor_type.elem_type, f"{self.name}: input '{vi.name}'")
        if arr.dtype != et.dtype:
            raise FrontendError(f"{self.name}: the value given for input '{vi.name}' is {arr.dtype}; "
                                f"the model declares {et}")
        return self.module.add(Constant.of(arr, name=vi.name, loc=vi.name)).result

    def define(self, name: str, v: Value) -> None:
        if name in self.values:
            raise FrontendError(f"{self.name}: tensor '{name}' is defined twice")
        self.values[name] = v

    def ordered_nodes(self) -> list[onnx.NodeProto]:
        """Nodes in a topological order (ONNX requires one, but not every exporter obeys)."""
        graph = self.model.graph
        available = set(self.values) | {t.name for t in graph.initializer}
        producers = {o: i for i, n in enumerate(graph.node) for o in n.output if o}
        order: list[onnx.NodeProto] = []
        state = [0] * len(graph.node)  # 0 new, 1 visiting, 2 done
        for start in range(len(graph.node)):
            stack = [(start, 0)]
            while stack:
                i, k = stack.pop()
                node = graph.node[i]
                if k == 0:
                    if state[i] == 2:
                        continue
                    if state[i] == 1:
                        raise FrontendError(f"{self.node_label(node)} is part of a cycle")
                    state[i] = 1
                inputs = [x for x in node.input if x]
                if k < len(inputs):
                    stack.append((i, k + 1))
                    x = inputs[k]
                    if x in available:
                        continue
                    j = producers.get(x)
                    if j is None:
                        raise FrontendError(f"{self.node_label(node)} reads '{x}', which no node, "
                                            "input or initializer defines")
                    if state[j] == 1:
                        raise FrontendError(f"{self.node_label(node)} is part of a cycle")
                    if state[j] == 0:
                        stack.append((j, 0))
                    continue
                state[i] = 2
                order.append(node)
        return order

    def import_node(self, node: onnx.NodeProto) -> None:
        where = self.node_label(node)
        loc = node.name or None
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            arr = constant_node_array(node, where)
            self.define(node.output[0], self.module.add(
                Constant.of(arr, loc=loc, name=node.output[0])).result)
            return
        cls = core_registry().lookup_op(f"onnx.{node.op_type}")
        if cls is None:
            raise UnsupportedModelError(f"{where}: operator '{node.op_type}' is not supported")
        specs = cls.attribute_specs()
        attributes: dict[str, Any] = {}
        for attr in node.attribute:
            spec = specs.get(attr.name)
            if spec is None:
                raise UnsupportedModelError(f"{where}: attribute '{attr.name}' is not supported")
            attributes[attr.name] = attribute_value(attr, spec.kind, where)
        operands: list[Value | None] = [self.values[x] if x else None for x in node.input]
        while operands and operands[-1] is None:
            operands.pop()
        outputs = list(node.output)
        wanted = len(outputs) - next((i for i, o in enumerate(reversed(outputs)) if o), len(outputs))
        _result_count_attributes(node.op_type, attributes, operands, wanted)
        try:
            if node.op_type == "MaxPool" and wanted > 1:
                op = cls.with_indices(*operands, loc=loc, **attributes)  # type: ignore[attr-defined]
            else:
                op = cls.build(*operands, loc=loc, **attributes)
            verify_operation(op)
        except IRError as e:
            raise FrontendError(f"{where}: {_strip_op(str(e), op_name=cls.OP_NAME)}") from None
        if len([o for o in outputs if o]) and len(outputs) > len(op.results):
            raise UnsupportedModelError(
                f"{where} asks for {len(outputs)} outputs; the compiler computes {len(op.results)}")
        self.module.add(op)
        for out_name, r in zip(outputs, op.results, strict=False):
            if out_name:
                r.name = out_name
                self.define(out_name, r)


def _result_count_attributes(op_type: str, attributes: dict[str, Any],
                             operands: list[Value | None], wanted: int) -> None:
    """Ops whose result count ONNX takes from the node's outputs get it as an attribute."""
    if op_type == "Split" and (len(operands) < 2 or operands[1] is None):
        attributes.setdefault("num_outputs", max(wanted, 1))
    elif op_type == "Dropout" and wanted > 1:
        attributes["with_mask"] = 1


def _strip_op(message: str, op_name: str) -> str:
    """The IR's message names the op; the frontend's prefix already does, so drop the repeat."""
    head, sep, rest = message.partition(": ")
    return rest if sep and head.startswith(op_name) else message


def import_onnx(model: str | os.PathLike[str] | bytes | onnx.ModelProto, *,
                input_shapes: Mapping[str, Sequence[int]] | None = None,
                input_values: Mapping[str, np.ndarray] | None = None,
                name: str | None = None) -> Module:
    """Import an ONNX model (a path, bytes or a ModelProto) into a module of the onnx dialect.

    ``input_shapes`` fixes the shape of inputs whose dimensions are symbolic; otherwise a
    symbolic first (batch) dimension becomes 1 and any other symbolic dimension is an error.
    ``input_values`` binds inputs to constant values: the way to compile a model whose
    shapes depend on an input (a Reshape's target shape fed as an input, say), since every
    shape must be known at compile time.
    """
    if isinstance(model, onnx.ModelProto):
        label = name or (model.graph.name or "<model>")
        proto = model
    elif isinstance(model, bytes | bytearray):
        label = name or "<bytes>"
        if not model:
            raise ModelFileError(f"{label} is empty")
        proto = parse_onnx_bytes(bytes(model), label)
    else:
        label = name or str(model)
        proto = load_onnx(model)
    try:
        proto = prepare(proto, label)
        return _GraphImporter(proto, label, input_shapes, input_values).run()
    except UnicodeDecodeError:
        # protobuf decodes string fields lazily, so damaged text surfaces wherever it is read
        raise ModelFileError(f"{label} holds a name or string that is not valid UTF-8") from None
