"""Import subgraph 0 of a TFLite model into the IR.

Tensors keep TFLite's NHWC layout; an operator whose IR counterpart is NCHW (convolution,
pooling, resizing) is imported between explicit ``onnx.Transpose`` ops, and its weights are
transposed here, at import time. int8/uint8 operators become ``quant`` ops built from the
tensors' quantization parameters, float32 operators ``onnx`` ops. The converter of each
builtin operator lives in :mod:`furiosa.frontends.tflite.operators`.

Every problem is a :class:`~furiosa.errors.FrontendError` naming the file and the operator
or tensor at fault.
"""

from __future__ import annotations

import heapq
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tflite

from furiosa.errors import (
    DynamicShapeError,
    FrontendError,
    IRError,
    ModelFileError,
    UnsupportedModelError,
)
from furiosa.frontends.files import read_model_bytes
from furiosa.frontends.tflite import reader
from furiosa.ir import interpreter  # noqa: F401  (installs constant evaluation for shapes)
from furiosa.ir.core import Operation, Value, constant_value
from furiosa.ir.dialects.onnx.base import Constant
from furiosa.ir.module import Function, Module
from furiosa.ir.types import ElementType, Quantization, TensorType
from furiosa.ir.verifier import verify_operation

# Tensors above this many elements cannot be real models on this machine; refuse before allocating.
MAX_ELEMENTS = 1 << 36

T = tflite.TensorType
ELEMENTS: dict[int, ElementType] = {
    T.FLOAT32: ElementType.F32, T.FLOAT16: ElementType.F16, T.FLOAT64: ElementType.F64,
    T.INT8: ElementType.I8, T.UINT8: ElementType.U8, T.INT16: ElementType.I16,
    T.UINT16: ElementType.U16, T.INT32: ElementType.I32, T.UINT32: ElementType.U32,
    T.INT64: ElementType.I64, T.UINT64: ElementType.U64, T.BOOL: ElementType.BOOL,
}

Converter = Callable[["Node"], None]


def check_size(shape: Sequence[int], where: str) -> None:
    n = math.prod(int(d) for d in shape)
    if n > MAX_ELEMENTS:
        raise FrontendError(f"{where} would hold {n:.3g} elements, more than the "
                            f"{MAX_ELEMENTS:.3g} a model may use")


class Node:
    """One TFLite operator being imported: its tensors, options and the module to add to."""

    def __init__(self, graph: GraphImporter, op: reader.Operator) -> None:
        self.graph = graph
        self.op = op
        self.options: Mapping[str, Any] = op.options
        first = op.outputs[0] if op.outputs else -1
        self.loc = graph.tensor_name(first) if first >= 0 else f"operator{op.index}"
        self.where = f"{graph.label}: operator {op.index} ({op.name}) producing '{self.loc}'"

    # ---- errors

    def error(self, message: str) -> FrontendError:
        return FrontendError(f"{self.where}: {message}")

    def unsupported(self, message: str) -> UnsupportedModelError:
        return UnsupportedModelError(f"{self.where}: {message}")

    # ---- inputs

    @property
    def input_count(self) -> int:
        return len(self.op.inputs)

    def has_input(self, i: int) -> bool:
        return i < len(self.op.inputs) and self.op.inputs[i] >= 0

    def tensor(self, i: int) -> reader.Tensor:
        if not self.has_input(i):
            raise self.error(f"input {i} is missing (the operator has {len(self.op.inputs)} "
                             "inputs)")
        return self.graph.model.tensors[self.op.inputs[i]]

    def value(self, i: int) -> Value:
        return self.graph.value_of(self.tensor(i), self)

    def const(self, i: int) -> np.ndarray | None:
        """Input ``i``'s value when it is known at import time (a constant, or folded).

        A constant of the file that no op has used yet is read without adding it to the
        module: converters that rearrange weights add only the rearranged copy.
        """
        t = self.tensor(i)
        if t.index not in self.graph.values and self.graph.is_constant(t):
            return self.graph.constant_array(t)
        return constant_value(self.value(i))

    def require_const(self, i: int, what: str) -> np.ndarray:
        c = self.const(i)
        if c is None:
            raise self.unsupported(f"its {what} ('{self.tensor(i).name}') must be a constant")
        return c

    def type(self, i: int) -> TensorType:
        """Input ``i``'s IR type (a file constant not used yet stays out of the module)."""
        t = self.tensor(i)
        if t.index not in self.graph.values and self.graph.is_constant(t):
            return self.graph.declared_type(t)
        return self.value(i).type

    # ---- outputs

    def out(self, k: int = 0) -> reader.Tensor:
        if k >= len(self.op.outputs):
            raise self.error(f"output {k} is missing (the operator has {len(self.op.outputs)} "
                             "outputs)")
        return self.graph.model.tensors[self.op.outputs[k]]

    def out_element(self, k: int = 0) -> ElementType:
        return self.graph.element(self.out(k))

    def out_quant(self, k: int = 0) -> Quantization:
        t = self.out(k)
        q = self.graph.quantization(t)
        if q is None:
            raise self.error(f"output '{t.name}' has no quantization parameters")
        if not q.is_per_tensor:
            raise self.unsupported(f"output '{t.name}' is quantized per axis; activations must "
                                   "be quantized per tensor")
        return q

    # ---- building

    def emit(self, cls: type[Operation], *operands: Value | None, **attributes: Any) -> Value:
        """Build one op at this operator's location, add it, and return its result."""
        try:
            op = cls.build(*operands, loc=self.loc, **attributes)
        except IRError as e:
            raise self.error(str(e)) from None
        return self.add(op)

    def add(self, op: Operation) -> Value:
        """Verify ``op`` (parameters derived from damaged scales can be out of range), add it
        and return its result."""
        return self.add_op(op).result

    def add_op(self, op: Operation) -> Operation:
        """Verify and add ``op``, which may have several results."""
        try:
            verify_operation(op)
        except IRError as e:
            raise self.error(str(e)) from None
        for r in op.results:
            if r.type.is_static:
                check_size(r.type.shape, f"{self.where}: its result")
        self.graph.module.add(op)
        return op

    def build(self, make: Callable[[], Operation]) -> Value:
        """Add the op ``make()`` builds (a ``from_scales``-style constructor)."""
        try:
            op = make()
        except IRError as e:
            raise self.error(str(e)) from None
        return self.add(op)

    def constant(self, array: np.ndarray, type: TensorType | None = None,
                 name: str | None = None) -> Value:
        try:
            op = Constant.of(array, type, loc=self.loc, name=name)
        except IRError as e:
            raise self.error(str(e)) from None
        return self.add(op)

    def define(self, value: Value, k: int = 0) -> None:
        """``value`` is what output ``k`` holds: check it against the file's declaration."""
        t = self.out(k)
        declared = self.graph.declared_type(t)
        actual = value.type
        if actual.element != declared.element or actual.quant != declared.quant:
            raise self.error(f"output '{t.name}' is declared {declared} but the operator "
                             f"computes {actual}")
        # Converters leave the shape of some outputs empty when it is only known at run time.
        known = bool(declared.shape) or not actual.shape
        if self.graph.shapes_trusted and known and actual.shape != declared.shape:
            raise self.error(f"output '{t.name}' is declared with shape {list(declared.shape)} "
                             f"but the operator computes {list(actual.shape)}")
        if value.name is None:
            value.name = self.graph.tensor_name(t.index)
        self.graph.define(t.index, value, self)


class GraphImporter:
    """Import subgraph 0 of a read model into a module."""

    def __init__(self, model: reader.Model, label: str, name: str | None,
                 input_shapes: Mapping[str, Sequence[int]] | None,
                 converters: Mapping[int, Converter]) -> None:
        self.model = model
        self.label = label
        self.input_shapes = dict(input_shapes) if input_shapes else {}
        self.converters = converters
        self.module = Function(name or (Path(label).stem if not label.startswith("<") else "")
                             or "main")
        self.values: dict[int, Value] = {}
        self.graph_inputs = set(model.inputs)
        # False once a caller's input shape differs from the file's: declared shapes are stale.
        self.shapes_trusted = True

    # ---- tensors

    def tensor_name(self, index: int) -> str:
        t = self.model.tensors[index]
        return t.name or f"tensor{index}"

    def element(self, t: reader.Tensor) -> ElementType:
        e = ELEMENTS.get(t.type_code)
        if e is None:
            raise UnsupportedModelError(f"{self.label}: tensor '{t.name}' has element type "
                                        f"{reader.type_name(t.type_code)}, which the compiler "
                                        "does not support")
        return e

    def quantization(self, t: reader.Tensor) -> Quantization | None:
        """The IR quantization of an integer tensor (None for float tensors or none given)."""
        e = self.element(t)
        if t.custom_quant:
            raise UnsupportedModelError(f"{self.label}: tensor '{t.name}' uses custom "
                                        "quantization, which the compiler does not support")
        q = t.quant
        if q is None or not e.is_integer:
            return None
        zps = q.zero_point if len(q.zero_point) == len(q.scale) else \
            (q.zero_point[:1] or (0,)) * len(q.scale)
        try:
            if len(q.scale) == 1:
                return Quantization.per_tensor(q.scale[0], zps[0])
            return Quantization.per_axis(q.scale, zps, q.axis)
        except IRError as e:
            raise ModelFileError(f"{self.label}: tensor '{t.name}' has invalid quantization "
                                 f"parameters: {e}") from None

    def declared_type(self, t: reader.Tensor, shape: Sequence[int] | None = None) -> TensorType:
        dims = tuple(t.shape if shape is None else shape)
        if any(d < 0 for d in dims):
            raise ModelFileError(f"{self.label}: tensor '{t.name}' has a negative dimension "
                                 f"{list(dims)}")
        check_size(dims, f"{self.label}: tensor '{t.name}'")
        try:
            return TensorType(dims, self.element(t), self.quantization(t))
        except IRError as e:
            raise ModelFileError(f"{self.label}: tensor '{t.name}': {e}") from None

    def is_constant(self, t: reader.Tensor) -> bool:
        if t.index in self.graph_inputs or t.buffer == 0:
            return False
        data = self.buffer(t)
        return bool(data)

    def buffer(self, t: reader.Tensor) -> bytes:
        if t.buffer >= len(self.model.buffers):
            raise ModelFileError(f"{self.label}: tensor '{t.name}' uses buffer {t.buffer}, but "
                                 f"the model has {len(self.model.buffers)}")
        data = self.model.buffers[t.buffer]
        if data is None:
            raise ModelFileError(f"{self.label}: the data of tensor '{t.name}' lies outside "
                                 "the file (it is truncated)")
        return data

    def value_of(self, t: reader.Tensor, node: Node | None = None) -> Value:
        v = self.values.get(t.index)
        if v is not None:
            return v
        if t.is_variable:
            raise UnsupportedModelError(f"{self.label}: tensor '{t.name}' is a variable "
                                        "(stateful models are not supported)")
        if t.sparse:
            raise UnsupportedModelError(f"{self.label}: tensor '{t.name}' is sparse, which the "
                                        "compiler does not support")
        if not self.is_constant(t):
            where = node.where if node is not None else self.label
            raise FrontendError(f"{where} reads tensor '{t.name}', which no operator, input or "
                                "constant defines")
        v = self.import_constant(t)
        self.values[t.index] = v
        return v

    def constant_array(self, t: reader.Tensor) -> np.ndarray:
        """The data of a constant tensor, checked against its declared shape and type."""
        ty = self.declared_type(t)
        data = self.buffer(t)
        if len(data) != ty.nbytes:
            raise ModelFileError(f"{self.label}: constant '{t.name}' holds {len(data)} bytes, "
                                 f"but its shape {list(ty.shape)} and type {ty.element} need "
                                 f"{ty.nbytes}")
        array = np.frombuffer(data, dtype=ty.dtype.newbyteorder("<")).reshape(ty.shape)
        return array.astype(ty.dtype)

    def import_constant(self, t: reader.Tensor) -> Value:
        op = Constant.of(self.constant_array(t), self.declared_type(t),
                         name=self.tensor_name(t.index))
        self.module.add(op)
        return op.result

    def define(self, index: int, value: Value, node: Node) -> None:
        if index in self.values:
            raise FrontendError(f"{node.where}: tensor '{self.tensor_name(index)}' is "
                                "defined twice")
        self.values[index] = value

    # ---- the graph

    def run(self) -> Module:
        m = self.model
        n = len(m.tensors)
        for kind, indices in (("input", m.inputs), ("output", m.outputs)):
            for i in indices:
                if not 0 <= i < n:
                    raise ModelFileError(f"{self.label}: graph {kind} {i} is not a tensor "
                                         f"(the model has {n})")
        self.check_operators()
        self.import_inputs()
        for op in self.ordered_operators():
            node = Node(self, op)
            self.converters[op.code](node)
            for k, out in enumerate(op.outputs):
                if out not in self.values:
                    raise node.error(f"output {k} ('{self.tensor_name(out)}') was not computed")
        outputs = [self.value_of(m.tensors[i]) for i in m.outputs]
        # What nothing reads: constants that converters replaced (transposed filters, folded
        # float16) and shape arithmetic whose value was folded into a constant operand
        # (SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE). Walking backwards frees each chain from
        # its end; only pure ops go.
        for op in reversed(list(self.module.ops)):
            if op.is_pure and not any(r.uses for r in op.results) and \
                    not any(r is v for r in op.results for v in outputs):
                self.module.erase(op)
        names = [self.tensor_name(i) for i in m.outputs]
        if len(set(names)) != len(names):
            dup = next(x for x in names if names.count(x) > 1)
            raise FrontendError(f"{self.label} lists output '{dup}' twice")
        self.module.set_outputs(outputs, names)
        return Module([self.module])

    def check_operators(self) -> None:
        """Every operator is supported and refers to existing tensors."""
        n = len(self.model.tensors)
        for op in self.model.operators:
            where = f"{self.label}: operator {op.index} ({op.name})"
            if op.code == tflite.BuiltinOperator.CUSTOM:
                raise UnsupportedModelError(f"{self.label}: operator {op.index} is "
                                            f"{op.name}, which the compiler does not support")
            if op.code in CONTROL_FLOW:
                raise UnsupportedModelError(f"{where} is control flow, which the compiler "
                                            "does not support")
            if op.code not in self.converters:
                raise UnsupportedModelError(f"{where} is not supported; the TFLite frontend "
                                            "converts " + ", ".join(sorted(
                                                reader.operator_name(c) for c in self.converters)))
            for i in op.inputs:
                if not -1 <= i < n:
                    raise ModelFileError(f"{where} reads tensor {i}, but the model has {n}")
            if not op.outputs:
                raise ModelFileError(f"{where} has no output")
            for i in op.outputs:
                if not 0 <= i < n:
                    raise ModelFileError(f"{where} writes tensor {i}, but the model has {n}")

    def import_inputs(self) -> None:
        names = {self.tensor_name(i): i for i in self.model.inputs}
        for given in self.input_shapes:
            if given not in names:
                raise FrontendError(f"{self.label} has no input named '{given}' "
                                    f"(inputs: {', '.join(sorted(names))})")
        seen: set[str] = set()
        for i in self.model.inputs:
            t = self.model.tensors[i]
            name = self.tensor_name(i)
            if name in seen:
                raise FrontendError(f"{self.label}: input '{name}' is listed twice")
            seen.add(name)
            shape = self.input_shape(t, name)
            if shape != t.shape:
                self.shapes_trusted = False
            self.values[i] = self.module.add_input(name, self.declared_type(t, shape))

    def input_shape(self, t: reader.Tensor, name: str) -> tuple[int, ...]:
        signature = t.signature if t.signature is not None and len(t.signature) == len(t.shape) \
            else t.shape
        given = self.input_shapes.get(name)
        if given is not None:
            shape = tuple(int(d) for d in given)
            if len(shape) != len(t.shape):
                raise DynamicShapeError(
                    f"{self.label}: input '{name}' has rank {len(t.shape)} but the given shape "
                    f"{'x'.join(map(str, shape))} has rank {len(shape)}")
            for i, (d, s) in enumerate(zip(signature, shape, strict=True)):
                if s < 0:
                    raise DynamicShapeError(f"{self.label}: the given shape of input '{name}' "
                                            "has a negative size")
                if d >= 0 and d != s:
                    raise DynamicShapeError(
                        f"{self.label}: input '{name}' dimension {i} is {d} in the model but "
                        f"{s} in the given shape")
            return shape
        dims = []
        for i, (d, s) in enumerate(zip(signature, t.shape, strict=True)):
            if d >= 0:
                dims.append(s)
            elif i == 0:
                dims.append(1)  # the batch; the compile-time batch size is applied later
            else:
                raise DynamicShapeError(
                    f"{self.label}: input '{name}' dimension {i} is dynamic; give the shape "
                    f"with --input-shape {name}=DIMS (input_shapes= in the API)")
        return tuple(dims)

    def ordered_operators(self) -> list[reader.Operator]:
        """Operators in dependency order (file order where free), checking the dataflow."""
        ops = self.model.operators
        producer: dict[int, int] = {}
        for op in ops:
            for t in op.outputs:
                name = self.tensor_name(t)
                if t in producer:
                    raise FrontendError(f"{self.label}: tensor '{name}' is written by "
                                        f"operators {producer[t]} and {op.index}")
                if t in self.graph_inputs:
                    raise FrontendError(f"{self.label}: operator {op.index} ({op.name}) writes "
                                        f"'{name}', which is a graph input")
                producer[t] = op.index
        waiting = [0] * len(ops)
        users: dict[int, list[int]] = {}
        for op in ops:
            for t in set(op.inputs):
                if t < 0 or t in self.graph_inputs:
                    continue
                p = producer.get(t)
                if p is None:
                    tensor = self.model.tensors[t]
                    if tensor.is_variable or self.is_constant(tensor):
                        continue
                    raise FrontendError(
                        f"{self.label}: operator {op.index} ({op.name}) reads "
                        f"'{self.tensor_name(t)}', which no operator, input or constant "
                        "defines")
                waiting[op.index] += 1
                users.setdefault(p, []).append(op.index)
        ready = [i for i, w in enumerate(waiting) if w == 0]
        heapq.heapify(ready)
        order: list[reader.Operator] = []
        while ready:
            i = heapq.heappop(ready)
            order.append(ops[i])
            for u in users.get(i, ()):
                waiting[u] -= 1
                if waiting[u] == 0:
                    heapq.heappush(ready, u)
        if len(order) != len(ops):
            stuck = next(op for op in ops if waiting[op.index])
            raise FrontendError(f"{self.label}: operator {stuck.index} ({stuck.name}) is part "
                                "of a cycle: its inputs depend on its own output")
        for i in self.model.outputs:
            t = self.model.tensors[i]
            if i not in producer and i not in self.graph_inputs and not self.is_constant(t):
                raise FrontendError(f"{self.label}: output '{self.tensor_name(i)}' is not "
                                    "produced by any operator")
        return order


B = tflite.BuiltinOperator
CONTROL_FLOW = frozenset({B.WHILE, B.IF, B.CALL, B.CALL_ONCE, B.STABLEHLO_WHILE})


def load(model: str | os.PathLike[str] | bytes, name: str | None) -> tuple[bytes, str]:
    """The model's bytes and the label errors use, or a ModelFileError."""
    if isinstance(model, bytes | bytearray | memoryview):
        label = name or "<bytes>"
        data = bytes(model)
    else:
        label = str(Path(model))
        data = read_model_bytes(model)
    if not data:
        raise ModelFileError(f"{label} is empty")
    return data, label
