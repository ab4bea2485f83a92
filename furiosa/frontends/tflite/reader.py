"""Read a TFLite flatbuffer into plain Python objects, trusting nothing in it.

Flatbuffer accessors do no bounds checking: a damaged file makes them read past the end,
loop over absurd vector lengths or return garbage. So the buffer is first walked against the
part of the schema the importer uses (:class:`Verifier`): every table, vtable, offset, vector
and string is checked to lie inside the buffer before the ``tflite`` package's accessors read
it. The result is a :class:`Model` of :class:`Tensor` and :class:`Operator` records that the
importer uses without touching the flatbuffer again.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import flatbuffers
import numpy as np
import tflite

from furiosa.errors import ModelFileError

IDENTIFIER = b"TFL3"
BUILTIN_NAMES: dict[int, str] = {
    v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
OPTION_NAMES: dict[int, str] = {
    v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}
TYPE_NAMES: dict[int, str] = {
    v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
PLACEHOLDER_FOR_GREATER_OP_CODES = tflite.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES
# A buffer's offset field above this locates its data after the flatbuffer (models > 2 GB);
# 1 marks an offset the converter has not filled in yet.
EXTERNAL_OFFSET_MIN = 2


def operator_name(code: int) -> str:
    return BUILTIN_NAMES.get(code, f"builtin operator {code}")


def type_name(code: int) -> str:
    return TYPE_NAMES.get(code, f"type {code}")


# --------------------------------------------------------------------------- schema

# A field: its vtable offset and kind. Kinds: ("scalar", size), ("string",), ("vector", element
# size), ("tables", schema name), ("table", schema name), ("union", type field offset).
Field = tuple[str, Any]

SCHEMA: dict[str, dict[int, Field]] = {
    "Model": {4: ("scalar", 4), 6: ("tables", "OperatorCode"), 8: ("tables", "SubGraph"),
              10: ("string",), 12: ("tables", "Buffer")},
    "OperatorCode": {4: ("scalar", 1), 6: ("string",), 8: ("scalar", 4), 10: ("scalar", 4)},
    "SubGraph": {4: ("tables", "Tensor"), 6: ("vector", 4), 8: ("vector", 4),
                 10: ("tables", "Operator"), 12: ("string",)},
    "Tensor": {4: ("vector", 4), 6: ("scalar", 1), 8: ("scalar", 4), 10: ("string",),
               12: ("table", "QuantizationParameters"), 14: ("scalar", 1),
               16: ("table", "Opaque"), 18: ("vector", 4)},
    "QuantizationParameters": {8: ("vector", 4), 10: ("vector", 8), 12: ("scalar", 1),
                               14: ("table", "Opaque"), 16: ("scalar", 4)},
    "Operator": {4: ("scalar", 4), 6: ("vector", 4), 8: ("vector", 4), 10: ("scalar", 1),
                 12: ("union", 10), 14: ("vector", 1), 20: ("vector", 4), 26: ("scalar", 1),
                 28: ("table", "Opaque")},
    "Buffer": {4: ("vector", 1), 6: ("scalar", 8), 8: ("scalar", 8)},
    "Opaque": {},  # only its presence is read
}

# Builtin options tables the importer reads: accessor name -> (vtable offset, kind).
OPTIONS: dict[str, dict[str, tuple[int, Field]]] = {
    "Conv2DOptions": {"Padding": (4, ("scalar", 1)), "StrideW": (6, ("scalar", 4)),
                      "StrideH": (8, ("scalar", 4)),
                      "FusedActivationFunction": (10, ("scalar", 1)),
                      "DilationWFactor": (12, ("scalar", 4)),
                      "DilationHFactor": (14, ("scalar", 4))},
    "DepthwiseConv2DOptions": {"Padding": (4, ("scalar", 1)), "StrideW": (6, ("scalar", 4)),
                               "StrideH": (8, ("scalar", 4)),
                               "DepthMultiplier": (10, ("scalar", 4)),
                               "FusedActivationFunction": (12, ("scalar", 1)),
                               "DilationWFactor": (14, ("scalar", 4)),
                               "DilationHFactor": (16, ("scalar", 4))},
    "Pool2DOptions": {"Padding": (4, ("scalar", 1)), "StrideW": (6, ("scalar", 4)),
                      "StrideH": (8, ("scalar", 4)), "FilterWidth": (10, ("scalar", 4)),
                      "FilterHeight": (12, ("scalar", 4)),
                      "FusedActivationFunction": (14, ("scalar", 1))},
    "FullyConnectedOptions": {"FusedActivationFunction": (4, ("scalar", 1)),
                              "WeightsFormat": (6, ("scalar", 1)),
                              "KeepNumDims": (8, ("scalar", 1)),
                              "AsymmetricQuantizeInputs": (10, ("scalar", 1))},
    "AddOptions": {"FusedActivationFunction": (4, ("scalar", 1))},
    "SubOptions": {"FusedActivationFunction": (4, ("scalar", 1))},
    "MulOptions": {"FusedActivationFunction": (4, ("scalar", 1))},
    "ConcatenationOptions": {"Axis": (4, ("scalar", 4)),
                             "FusedActivationFunction": (6, ("scalar", 1))},
    "SoftmaxOptions": {"Beta": (4, ("scalar", 4))},
    "ReducerOptions": {"KeepDims": (4, ("scalar", 1))},
    "ReshapeOptions": {"NewShape": (4, ("vector", 4))},
    "SqueezeOptions": {"SqueezeDims": (4, ("vector", 4))},
    "ResizeBilinearOptions": {"AlignCorners": (8, ("scalar", 1)),
                              "HalfPixelCenters": (10, ("scalar", 1))},
    "GeluOptions": {"Approximate": (4, ("scalar", 1))},
    "LeakyReluOptions": {"Alpha": (4, ("scalar", 4))},
    "DivOptions": {"FusedActivationFunction": (4, ("scalar", 1))},
    "StridedSliceOptions": {"BeginMask": (4, ("scalar", 4)), "EndMask": (6, ("scalar", 4)),
                            "EllipsisMask": (8, ("scalar", 4)),
                            "NewAxisMask": (10, ("scalar", 4)),
                            "ShrinkAxisMask": (12, ("scalar", 4)), "Offset": (14, ("scalar", 1))},
    "SplitOptions": {"NumSplits": (4, ("scalar", 4))},
    "SplitVOptions": {"NumSplits": (4, ("scalar", 4))},
    "GatherOptions": {"Axis": (4, ("scalar", 4)), "BatchDims": (6, ("scalar", 4))},
    "ResizeNearestNeighborOptions": {"AlignCorners": (4, ("scalar", 1)),
                                     "HalfPixelCenters": (6, ("scalar", 1))},
    "TransposeConvOptions": {"Padding": (4, ("scalar", 1)), "StrideW": (6, ("scalar", 4)),
                             "StrideH": (8, ("scalar", 4)),
                             "FusedActivationFunction": (10, ("scalar", 1))},
    "BatchMatMulOptions": {"AdjX": (4, ("scalar", 1)), "AdjY": (6, ("scalar", 1))},
    "DepthToSpaceOptions": {"BlockSize": (4, ("scalar", 4))},
    "SpaceToDepthOptions": {"BlockSize": (4, ("scalar", 4))},
    "PackOptions": {"ValuesCount": (4, ("scalar", 4)), "Axis": (6, ("scalar", 4))},
    "UnpackOptions": {"Num": (4, ("scalar", 4)), "Axis": (6, ("scalar", 4))},
    "ArgMaxOptions": {"OutputType": (4, ("scalar", 1))},
    "ArgMinOptions": {"OutputType": (4, ("scalar", 1))},
    "MirrorPadOptions": {"Mode": (4, ("scalar", 1))},
    "ShapeOptions": {"OutType": (4, ("scalar", 1))},
}


class Verifier:
    """Checks that every part of the buffer the importer reads lies inside it."""

    def __init__(self, buf: bytes, label: str) -> None:
        self.buf = buf
        self.size = len(buf)
        self.label = label

    def fail(self, what: str) -> ModelFileError:
        return ModelFileError(f"{self.label} is not a valid TFLite model: {what} "
                              "(the file is damaged or truncated)")

    def need(self, pos: int, length: int, what: str) -> None:
        if pos < 0 or length < 0 or pos + length > self.size:
            raise self.fail(f"{what} at byte {pos} runs past the end of the file")

    def u16(self, pos: int) -> int:
        self.need(pos, 2, "a field")
        return struct.unpack_from("<H", self.buf, pos)[0]

    def u32(self, pos: int) -> int:
        self.need(pos, 4, "an offset")
        return struct.unpack_from("<I", self.buf, pos)[0]

    def i32(self, pos: int) -> int:
        self.need(pos, 4, "an offset")
        return struct.unpack_from("<i", self.buf, pos)[0]

    def root(self) -> int:
        if self.size < 8:
            raise self.fail(f"it is only {self.size} bytes long")
        pos = self.u32(0)
        self.table(pos, "Model")
        return pos

    def table(self, pos: int, schema: str) -> None:
        self._checked_table(pos, f"a {schema} table", SCHEMA[schema].items())

    def options(self, pos: int, name: str) -> None:
        """Check a builtin options table against the fields the importer reads."""
        self._checked_table(pos, f"a {name} table", OPTIONS[name].values())

    def _checked_table(self, pos: int, what: str, fields: Iterable[tuple[int, Any]]) -> None:
        """Bounds-check a table, its vtable, and each of ``fields`` (slot, field) it holds."""
        self.need(pos, 4, what)
        vtable = pos - self.i32(pos)
        self.need(vtable, 4, f"the vtable of {what}")
        vt_size, obj_size = self.u16(vtable), self.u16(vtable + 2)
        if vt_size < 4 or vt_size % 2:
            raise self.fail(f"the vtable of {what} has a bad size ({vt_size})")
        self.need(vtable, vt_size, f"the vtable of {what}")
        self.need(pos, obj_size, what)
        for slot, field in fields:
            self.field(pos, vtable, vt_size, obj_size, slot, field, what)

    def field(self, pos: int, vtable: int, vt_size: int, obj_size: int, slot: int,
              field: Field, what: str) -> None:
        if slot + 2 > vt_size:
            return  # absent: the accessor returns the default
        offset = self.u16(vtable + slot)
        if offset == 0:
            return
        kind = field[0]
        width = field[1] if kind == "scalar" else 4
        if offset + width > obj_size:
            raise self.fail(f"a field of {what} lies outside the table")
        at = pos + offset
        self.need(at, width, f"a field of {what}")
        if kind == "scalar" or kind == "union":
            if kind == "union":
                self.union(pos, vtable, vt_size, field[1], at)
            return
        target = at + self.u32(at)
        if kind == "table":
            self.table(target, field[1])
        elif kind == "string":
            self.vector(target, 1, "a string")
        elif kind == "vector":
            self.vector(target, field[1], "a vector")
        elif kind == "tables":
            count = self.vector(target, 4, "a vector of tables")
            for i in range(count):
                element = target + 4 + 4 * i
                self.table(element + self.u32(element), field[1])

    def vector(self, pos: int, element_size: int, what: str) -> int:
        count = self.u32(pos)
        self.need(pos + 4, count * element_size, what)
        return count

    def union(self, pos: int, vtable: int, vt_size: int, type_slot: int, at: int) -> None:
        type_code = 0
        if type_slot + 2 <= vt_size:
            type_offset = self.u16(vtable + type_slot)
            if type_offset:
                self.need(pos + type_offset, 1, "an options type")
                type_code = self.buf[pos + type_offset]
        target = at + self.u32(at)
        name = OPTION_NAMES.get(type_code)
        if name in OPTIONS:
            self.options(target, name)
        else:
            # Options the importer never reads: only the table header must be sound.
            self.need(target, 4, "an options table")


# --------------------------------------------------------------------------- records


@attrs.frozen
class QuantParams:
    """A tensor's affine quantization as the file states it (float32 scales)."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int


@attrs.frozen
class Tensor:
    index: int
    name: str
    type_code: int
    shape: tuple[int, ...]
    signature: tuple[int, ...] | None
    buffer: int
    quant: QuantParams | None
    is_variable: bool
    sparse: bool
    custom_quant: bool


@attrs.frozen
class Operator:
    index: int
    code: int
    custom_code: str | None
    version: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    intermediates: tuple[int, ...]
    options_type: int
    options: Mapping[str, Any]

    @property
    def name(self) -> str:
        if self.code == tflite.BuiltinOperator.CUSTOM:
            return f"custom operator '{self.custom_code or '?'}'"
        return operator_name(self.code)


@attrs.frozen
class Model:
    version: int
    description: str
    subgraph_count: int
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    buffers: tuple[bytes | None, ...]
    """Each buffer's bytes; None when the buffer lies outside the file."""


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", errors="replace") if raw else ""


def _ints(array: Any) -> tuple[int, ...]:
    """A vector accessor's numpy result as ints; the accessors return 0 for an absent vector."""
    if isinstance(array, int):
        return ()
    return tuple(int(v) for v in np.asarray(array).reshape(-1))


def builtin_code(code: tflite.OperatorCode) -> int:
    """The operator code as the runtime reads it: the larger of the two fields.

    Files from before schema 3a hold only ``deprecated_builtin_code``; newer ones hold the real
    code in ``builtin_code`` and ``min(code, 127)`` in the deprecated field. The package's
    ``BuiltinCode()`` returns the deprecated field whenever the new one is below 127, which is
    wrong when a writer sets only the new field.
    """
    deprecated = code.DeprecatedBuiltinCode()
    o = code._tab.Offset(10)
    new = code._tab.Get(flatbuffers.number_types.Int32Flags, o + code._tab.Pos) if o else 0
    return max(int(new), int(deprecated))


def _read_options(op: tflite.Operator, type_code: int) -> dict[str, Any]:
    name = OPTION_NAMES.get(type_code)
    if name not in OPTIONS:
        return {}
    table = op.BuiltinOptions()
    if table is None:
        return {}
    options = getattr(tflite, name)()
    options.Init(table.Bytes, table.Pos)
    values: dict[str, Any] = {}
    for accessor, (_, field) in OPTIONS[name].items():
        if field[0] == "vector":
            values[accessor] = _ints(getattr(options, f"{accessor}AsNumpy")())
        else:
            values[accessor] = getattr(options, accessor)()
    return values


def _read_quant(q: tflite.QuantizationParameters | None) -> tuple[QuantParams | None, bool]:
    if q is None:
        return None, False
    custom = q.DetailsType() != 0
    scales = q.ScaleAsNumpy()
    if isinstance(scales, int) or len(scales) == 0:
        return None, custom
    zps = q.ZeroPointAsNumpy()
    zero_points = (0,) * len(scales) if isinstance(zps, int) else _ints(zps)
    return QuantParams(tuple(float(s) for s in scales), zero_points,
                       int(q.QuantizedDimension())), custom


def _read_tensor(index: int, t: tflite.Tensor) -> Tensor:
    shape = t.ShapeAsNumpy()
    signature = t.ShapeSignatureAsNumpy()
    quant, custom = _read_quant(t.Quantization())
    return Tensor(
        index=index, name=_text(t.Name()), type_code=int(t.Type()),
        shape=_ints(shape), signature=None if isinstance(signature, int) else _ints(signature),
        buffer=int(t.Buffer()), quant=quant, is_variable=bool(t.IsVariable()),
        sparse=t.Sparsity() is not None, custom_quant=custom)


def _read_operator(index: int, op: tflite.Operator, codes: list[tuple[int, str | None, int]],
                   verifier: Verifier) -> Operator:
    opcode_index = int(op.OpcodeIndex())
    if opcode_index >= len(codes):
        raise verifier.fail(f"operator {index} uses operator code {opcode_index}, but the "
                            f"model lists {len(codes)}")
    code, custom, version = codes[opcode_index]
    options_type = int(op.BuiltinOptionsType())
    intermediates = op.IntermediatesAsNumpy()
    return Operator(
        index=index, code=code, custom_code=custom, version=version,
        inputs=_ints(op.InputsAsNumpy()), outputs=_ints(op.OutputsAsNumpy()),
        intermediates=_ints(intermediates), options_type=options_type,
        options=_read_options(op, options_type))


def _read_buffer(b: tflite.Buffer, data: bytes) -> bytes | None:
    offset, size = int(b.Offset()), int(b.Size())
    if offset >= EXTERNAL_OFFSET_MIN:
        if offset + size > len(data):
            return None
        return data[offset:offset + size]
    raw = b.DataAsNumpy()
    return b"" if isinstance(raw, int) else raw.tobytes()


def read_model(data: bytes, label: str) -> Model:
    """Verify ``data`` and read subgraph 0 of the model it holds."""
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        raise ModelFileError(f"{label} is not a TFLite model (it lacks the TFL3 identifier)")
    verifier = Verifier(data, label)
    verifier.root()
    try:
        model = tflite.Model.GetRootAs(data, 0)
        codes = []
        for i in range(model.OperatorCodesLength()):
            c = model.OperatorCodes(i)
            codes.append((builtin_code(c), _text(c.CustomCode()) or None, int(c.Version())))
        count = model.SubgraphsLength()
        if count == 0:
            raise ModelFileError(f"{label} is not a valid TFLite model: it has no subgraph")
        graph = model.Subgraphs(0)
        tensors = tuple(_read_tensor(i, graph.Tensors(i)) for i in range(graph.TensorsLength()))
        operators = tuple(_read_operator(i, graph.Operators(i), codes, verifier)
                          for i in range(graph.OperatorsLength()))
        buffers = tuple(_read_buffer(model.Buffers(i), data) for i in range(model.BuffersLength()))
        return Model(
            version=int(model.Version()), description=_text(model.Description()),
            subgraph_count=count, tensors=tensors, operators=operators,
            inputs=_ints(graph.InputsAsNumpy()), outputs=_ints(graph.OutputsAsNumpy()),
            buffers=buffers)
    except (struct.error, IndexError, ValueError, TypeError, OverflowError) as e:
        # The verifier should have caught any damage; this keeps a missed case a clean error.
        raise verifier.fail(f"it cannot be read ({type(e).__name__})") from None
