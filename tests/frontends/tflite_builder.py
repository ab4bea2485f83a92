"""Build TFLite flatbuffers in code, through the ``tflite`` package's generated builders.

No TensorFlow: a test states tensors, constants and operators, and :meth:`ModelBuilder.build`
serialises one model (one subgraph, the schema's version 3, identifier ``TFL3``)::

    m = ModelBuilder()
    x = m.input("x", (1, 8, 8, 3), np.int8, scale=0.05, zero_point=-3)
    w = m.const("w", weights, scale=[0.01, 0.02], zero_point=[0, 0], axis=0)
    y = m.tensor("y", (1, 8, 8, 2), np.int8, scale=0.1, zero_point=4)
    m.op(BuiltinOperator.CONV_2D, [x, w, -1], [y], "Conv2DOptions",
         Padding=Padding.SAME, StrideW=1, StrideH=1)
    m.output(y)
    data = m.build()

Operator codes are written as the converter writes them: ``builtin_code`` holds the real code
and ``deprecated_builtin_code`` ``min(code, 127)``. :meth:`ModelBuilder.op` can instead write
only one of the two fields, or a chosen deprecated value, to exercise how readers combine them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flatbuffers
import numpy as np
import tflite

BuiltinOperator = tflite.BuiltinOperator
Options = tflite.BuiltinOptions
Padding = tflite.Padding
Activation = tflite.ActivationFunctionType
PLACEHOLDER = BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES

TENSOR_TYPES: dict[np.dtype, int] = {
    np.dtype(np.float32): tflite.TensorType.FLOAT32,
    np.dtype(np.float16): tflite.TensorType.FLOAT16,
    np.dtype(np.int32): tflite.TensorType.INT32,
    np.dtype(np.uint8): tflite.TensorType.UINT8,
    np.dtype(np.int64): tflite.TensorType.INT64,
    np.dtype(np.bool_): tflite.TensorType.BOOL,
    np.dtype(np.int16): tflite.TensorType.INT16,
    np.dtype(np.int8): tflite.TensorType.INT8,
    np.dtype(np.float64): tflite.TensorType.FLOAT64,
}

# Absent operator-code fields: write the converter's pair, or leave one out on purpose.
BOTH = "both"
BUILTIN_ONLY = "builtin_only"
DEPRECATED_ONLY = "deprecated_only"


class _Tensor:
    def __init__(self, name: str, shape: Sequence[int], type_code: int, buffer: int,
                 scale: Sequence[float] | None, zero_point: Sequence[int] | None, axis: int,
                 shape_signature: Sequence[int] | None) -> None:
        self.name = name
        self.shape = [int(d) for d in shape]
        self.type_code = type_code
        self.buffer = buffer
        self.scale = None if scale is None else [float(s) for s in scale]
        self.zero_point = None if zero_point is None else [int(z) for z in zero_point]
        self.axis = axis
        self.shape_signature = (None if shape_signature is None
                                else [int(d) for d in shape_signature])


class _OperatorCode:
    def __init__(self, code: int, custom: str | None, version: int, fields: str,
                 deprecated: int | None) -> None:
        self.code = code
        self.custom = custom
        self.version = version
        self.fields = fields
        self.deprecated = deprecated

    def key(self) -> tuple:
        return (self.code, self.custom, self.version, self.fields, self.deprecated)


class _Operator:
    def __init__(self, opcode: int, inputs: Sequence[int], outputs: Sequence[int],
                 options: str | None, fields: dict[str, Any]) -> None:
        self.opcode = opcode
        self.inputs = [int(i) for i in inputs]
        self.outputs = [int(i) for i in outputs]
        self.options = options
        self.fields = fields


def _as_list(value: float | Sequence[float] | np.ndarray | None) -> list | None:
    if value is None:
        return None
    arr = np.asarray(value).reshape(-1)
    return arr.tolist()


class ModelBuilder:
    """One TFLite model under construction: tensors, buffers, operators, inputs and outputs.

    Tensor-making methods return the tensor's index, which operators take as inputs and
    outputs (-1 for an absent optional input).
    """

    def __init__(self, description: str = "furiosa test model") -> None:
        self.description = description
        self.tensors: list[_Tensor] = []
        self.buffers: list[bytes] = [b""]  # buffer 0 is the schema's empty sentinel
        self.codes: list[_OperatorCode] = []
        self.operators: list[_Operator] = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []

    # ---- tensors

    def tensor(self, name: str, shape: Sequence[int], dtype: np.dtype | type | int, *,
               scale: float | Sequence[float] | None = None,
               zero_point: int | Sequence[int] | None = None, axis: int = 0,
               data: np.ndarray | bytes | None = None,
               shape_signature: Sequence[int] | None = None) -> int:
        """Add a tensor (an activation unless ``data`` is given); ``dtype`` may be a raw
        TensorType code for types numpy has no name for."""
        type_code = dtype if isinstance(dtype, int) else TENSOR_TYPES[np.dtype(dtype)]
        buffer = 0
        if data is not None:
            raw = data if isinstance(data, bytes) else np.ascontiguousarray(data).tobytes()
            self.buffers.append(raw)
            buffer = len(self.buffers) - 1
        scales = _as_list(scale)
        zps = _as_list(zero_point)
        if scales is not None and zps is None:
            zps = [0] * len(scales)
        self.tensors.append(_Tensor(name, shape, type_code, buffer, scales, zps, axis,
                                    shape_signature))
        return len(self.tensors) - 1

    def input(self, name: str, shape: Sequence[int], dtype: np.dtype | type, **quant: Any) -> int:
        """Add a tensor and list it as a graph input."""
        i = self.tensor(name, shape, dtype, **quant)
        self.inputs.append(i)
        return i

    def const(self, name: str, array: np.ndarray, **quant: Any) -> int:
        """Add a constant tensor holding ``array`` (its dtype and shape)."""
        array = np.asarray(array)
        return self.tensor(name, array.shape, array.dtype, data=array, **quant)

    def output(self, *indices: int) -> None:
        self.outputs.extend(indices)

    # ---- operators

    def opcode(self, code: int, *, custom: str | None = None, version: int = 1,
               fields: str = BOTH, deprecated: int | None = None) -> int:
        """The index of an operator code, added when new. ``fields`` picks which of
        ``builtin_code`` / ``deprecated_builtin_code`` are written; ``deprecated`` overrides
        the deprecated field's value."""
        entry = _OperatorCode(code, custom, version, fields, deprecated)
        for i, c in enumerate(self.codes):
            if c.key() == entry.key():
                return i
        self.codes.append(entry)
        return len(self.codes) - 1

    def op(self, code: int, inputs: Sequence[int], outputs: Sequence[int],
           options: str | None = None, *, custom: str | None = None, version: int = 1,
           code_fields: str = BOTH, deprecated: int | None = None, **fields: Any) -> None:
        """Add an operator; ``options`` names its options table (e.g. ``"Conv2DOptions"``)
        and the keyword arguments are that table's fields (e.g. ``StrideW=2``; lists become
        vectors, e.g. ``NewShape=[1, -1]``)."""
        index = self.opcode(code, custom=custom, version=version, fields=code_fields,
                            deprecated=deprecated)
        self.operators.append(_Operator(index, inputs, outputs, options, fields))

    # ---- serialisation

    def build(self) -> bytes:
        b = flatbuffers.Builder(1024)
        buffers = [self._buffer(b, data) for data in self.buffers]
        tensors = [self._tensor(b, t) for t in self.tensors]
        operators = [self._operator(b, o) for o in self.operators]
        codes = [self._code(b, c) for c in self.codes]
        name = b.CreateString("main")
        t_vec = self._offsets(b, tflite.SubGraphStartTensorsVector, tensors)
        i_vec = self._ints(b, tflite.SubGraphStartInputsVector, self.inputs)
        o_vec = self._ints(b, tflite.SubGraphStartOutputsVector, self.outputs)
        op_vec = self._offsets(b, tflite.SubGraphStartOperatorsVector, operators)
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, t_vec)
        tflite.SubGraphAddInputs(b, i_vec)
        tflite.SubGraphAddOutputs(b, o_vec)
        tflite.SubGraphAddOperators(b, op_vec)
        tflite.SubGraphAddName(b, name)
        subgraph = tflite.SubGraphEnd(b)

        desc = b.CreateString(self.description)
        code_vec = self._offsets(b, tflite.ModelStartOperatorCodesVector, codes)
        sub_vec = self._offsets(b, tflite.ModelStartSubgraphsVector, [subgraph])
        buf_vec = self._offsets(b, tflite.ModelStartBuffersVector, buffers)
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, code_vec)
        tflite.ModelAddSubgraphs(b, sub_vec)
        tflite.ModelAddDescription(b, desc)
        tflite.ModelAddBuffers(b, buf_vec)
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    @staticmethod
    def _offsets(b: flatbuffers.Builder, start: Any, items: Sequence[int]) -> int:
        start(b, len(items))
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return b.EndVector()

    @staticmethod
    def _ints(b: flatbuffers.Builder, start: Any, items: Sequence[int]) -> int:
        start(b, len(items))
        for item in reversed(items):
            b.PrependInt32(int(item))
        return b.EndVector()

    @staticmethod
    def _buffer(b: flatbuffers.Builder, data: bytes) -> int:
        vec = b.CreateByteVector(data) if data else None
        tflite.BufferStart(b)
        if vec is not None:
            tflite.BufferAddData(b, vec)
        return tflite.BufferEnd(b)

    def _tensor(self, b: flatbuffers.Builder, t: _Tensor) -> int:
        name = b.CreateString(t.name)
        shape = self._ints(b, tflite.TensorStartShapeVector, t.shape)
        signature = (self._ints(b, tflite.TensorStartShapeSignatureVector, t.shape_signature)
                     if t.shape_signature is not None else None)
        quant = None
        if t.scale is not None:
            tflite.QuantizationParametersStartScaleVector(b, len(t.scale))
            for s in reversed(t.scale):
                b.PrependFloat32(s)
            scales = b.EndVector()
            tflite.QuantizationParametersStartZeroPointVector(b, len(t.zero_point or []))
            for z in reversed(t.zero_point or []):
                b.PrependInt64(z)
            zps = b.EndVector()
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, scales)
            tflite.QuantizationParametersAddZeroPoint(b, zps)
            tflite.QuantizationParametersAddQuantizedDimension(b, t.axis)
            quant = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, t.type_code)
        tflite.TensorAddBuffer(b, t.buffer)
        tflite.TensorAddName(b, name)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        if signature is not None:
            tflite.TensorAddShapeSignature(b, signature)
        return tflite.TensorEnd(b)

    @staticmethod
    def _code(b: flatbuffers.Builder, c: _OperatorCode) -> int:
        custom = b.CreateString(c.custom) if c.custom is not None else None
        tflite.OperatorCodeStart(b)
        if c.fields in (BOTH, DEPRECATED_ONLY):
            dep = min(c.code, PLACEHOLDER) if c.deprecated is None else c.deprecated
            # The slot's default is 0, which the generated builder would omit; force it.
            b.PrependInt8Slot(0, dep, 1 if dep == 0 else 0)
        elif c.deprecated is not None:
            b.PrependInt8Slot(0, c.deprecated, 1 if c.deprecated == 0 else 0)
        if custom is not None:
            tflite.OperatorCodeAddCustomCode(b, custom)
        tflite.OperatorCodeAddVersion(b, c.version)
        if c.fields in (BOTH, BUILTIN_ONLY):
            tflite.OperatorCodeAddBuiltinCode(b, c.code)
        return tflite.OperatorCodeEnd(b)

    def _operator(self, b: flatbuffers.Builder, o: _Operator) -> int:
        options = self._options(b, o.options, o.fields) if o.options else None
        inputs = self._ints(b, tflite.OperatorStartInputsVector, o.inputs)
        outputs = self._ints(b, tflite.OperatorStartOutputsVector, o.outputs)
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, o.opcode)
        tflite.OperatorAddInputs(b, inputs)
        tflite.OperatorAddOutputs(b, outputs)
        if options is not None:
            tflite.OperatorAddBuiltinOptionsType(b, getattr(Options, o.options))
            tflite.OperatorAddBuiltinOptions(b, options)
        return tflite.OperatorEnd(b)

    @staticmethod
    def _options(b: flatbuffers.Builder, table: str, fields: dict[str, Any]) -> int:
        # Vectors must be finished before the table starts.
        vectors = {}
        for key, value in fields.items():
            if isinstance(value, list | tuple):
                getattr(tflite, f"{table}Start{key}Vector")(b, len(value))
                for v in reversed(value):
                    b.PrependInt32(int(v))
                vectors[key] = b.EndVector()
        getattr(tflite, f"{table}Start")(b)
        for key, value in fields.items():
            getattr(tflite, f"{table}Add{key}")(b, vectors.get(key, value))
        return getattr(tflite, f"{table}End")(b)
