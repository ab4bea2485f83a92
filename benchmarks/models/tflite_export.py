"""INT8 TFLite flatbuffers written from a QDQ ONNX model, without TensorFlow.

The QDQ graph already holds everything a fully-quantised TFLite model needs: int8 per-channel
weights with zero point 0, int32 biases with scale = input scale x weight scale, and int8
activation scales / zero points.  This module re-expresses that graph in TFLite's NHWC
operators (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, MEAN, RESHAPE, CONCATENATION,
PAD) with float input and output behind QUANTIZE / DEQUANTIZE, the layout the TFLite
converter produces for post-training full-integer quantisation with float I/O.  Fused
activations (RELU / RELU6) are taken from the float model the QDQ graph came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import flatbuffers
import numpy as np
import onnx
import tflite
from onnx import numpy_helper

from .graph import same_pads


class UnconvertibleGraph(ValueError):
    """A QDQ graph shape this exporter does not translate to TFLite (it covers the zoo's)."""

SCHEMA_VERSION = 3
DESCRIPTION = "furiosa-model-zoo (QDQ ONNX -> TFLite int8)"

BuiltinOp = tflite.BuiltinOperator
Options = tflite.BuiltinOptions
Act = tflite.ActivationFunctionType

# Operator versions as the TFLite converter writes them for int8 kernels.
OP_VERSIONS = {
    BuiltinOp.CONV_2D: 3,
    BuiltinOp.DEPTHWISE_CONV_2D: 3,
    BuiltinOp.FULLY_CONNECTED: 4,
    BuiltinOp.ADD: 2,
    BuiltinOp.MEAN: 2,
    BuiltinOp.RESHAPE: 1,
    BuiltinOp.CONCATENATION: 2,
    BuiltinOp.PAD: 2,
    BuiltinOp.QUANTIZE: 2,
    BuiltinOp.DEQUANTIZE: 2,
}

_NUMPY_TO_TFLITE = {
    np.dtype(np.float32): tflite.TensorType.FLOAT32,
    np.dtype(np.int8): tflite.TensorType.INT8,
    np.dtype(np.int32): tflite.TensorType.INT32,
}


@dataclass
class _Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    buffer: int
    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    axis: int = 0


@dataclass
class _Operator:
    code: int
    inputs: list[int]
    outputs: list[int]
    options_type: int = Options.NONE
    options: dict[str, object] = field(default_factory=dict)


class TFLiteWriter:
    """Collects tensors, buffers and operators, then serialises one-subgraph models."""

    def __init__(self) -> None:
        self.tensors: list[_Tensor] = []
        self.buffers: list[bytes] = [b""]  # buffer 0 is the empty sentinel
        self.operators: list[_Operator] = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []

    def tensor(
        self,
        name: str,
        shape: tuple[int, ...],
        dtype: type | np.dtype,
        *,
        data: np.ndarray | None = None,
        scale: np.ndarray | float | None = None,
        zero_point: np.ndarray | int | None = None,
        axis: int = 0,
    ) -> int:
        buffer = 0
        if data is not None:
            self.buffers.append(np.ascontiguousarray(data, dtype=dtype).tobytes())
            buffer = len(self.buffers) - 1
        else:
            self.buffers.append(b"")
            buffer = len(self.buffers) - 1
        q_scale = None if scale is None else np.atleast_1d(np.asarray(scale, np.float32))
        q_zp = None if zero_point is None else np.atleast_1d(np.asarray(zero_point, np.int64))
        self.tensors.append(
            _Tensor(name, tuple(shape), np.dtype(dtype), buffer, q_scale, q_zp, axis)
        )
        return len(self.tensors) - 1

    def const_i32(self, name: str, values: list[int]) -> int:
        arr = np.asarray(values, np.int32)
        return self.tensor(name, arr.shape, np.int32, data=arr)

    def op(
        self,
        code: int,
        inputs: list[int],
        outputs: list[int],
        options_type: int = Options.NONE,
        **options: object,
    ) -> None:
        self.operators.append(_Operator(code, inputs, outputs, options_type, options))

    # -------------------------------------------------------------- serialisation
    def serialize(self) -> bytes:
        b = flatbuffers.Builder(1 << 20)
        codes = sorted({op.code for op in self.operators})
        code_index = {c: i for i, c in enumerate(codes)}

        buffer_offsets = []
        for data in self.buffers:
            vec = _aligned_bytes(b, data) if data else None
            tflite.BufferStart(b)
            if vec is not None:
                tflite.BufferAddData(b, vec)
            buffer_offsets.append(tflite.BufferEnd(b))

        tensor_offsets = [self._tensor(b, t) for t in self.tensors]
        op_offsets = [self._operator(b, op, code_index[op.code]) for op in self.operators]

        subgraph_name = b.CreateString("main")
        tensors_vec = _offset_vector(b, tflite.SubGraphStartTensorsVector, tensor_offsets)
        inputs_vec = _int_vector(b, self.inputs)
        outputs_vec = _int_vector(b, self.outputs)
        ops_vec = _offset_vector(b, tflite.SubGraphStartOperatorsVector, op_offsets)
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, tensors_vec)
        tflite.SubGraphAddInputs(b, inputs_vec)
        tflite.SubGraphAddOutputs(b, outputs_vec)
        tflite.SubGraphAddOperators(b, ops_vec)
        tflite.SubGraphAddName(b, subgraph_name)
        subgraph = tflite.SubGraphEnd(b)

        code_offsets = []
        for c in codes:
            tflite.OperatorCodeStart(b)
            # Codes above 127 only fit the newer field; readers take the larger of the two.
            tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(c, 127))
            tflite.OperatorCodeAddBuiltinCode(b, c)
            tflite.OperatorCodeAddVersion(b, OP_VERSIONS.get(c, 1))
            code_offsets.append(tflite.OperatorCodeEnd(b))

        description = b.CreateString(DESCRIPTION)
        codes_vec = _offset_vector(b, tflite.ModelStartOperatorCodesVector, code_offsets)
        subgraphs_vec = _offset_vector(b, tflite.ModelStartSubgraphsVector, [subgraph])
        buffers_vec = _offset_vector(b, tflite.ModelStartBuffersVector, buffer_offsets)
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, SCHEMA_VERSION)
        tflite.ModelAddOperatorCodes(b, codes_vec)
        tflite.ModelAddSubgraphs(b, subgraphs_vec)
        tflite.ModelAddDescription(b, description)
        tflite.ModelAddBuffers(b, buffers_vec)
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    @staticmethod
    def _tensor(b: flatbuffers.Builder, t: _Tensor) -> int:
        quant = None
        if t.scale is not None:
            scale = _numpy_vector(b, t.scale.astype(np.float32))
            zp = _numpy_vector(b, t.zero_point.astype(np.int64))  # type: ignore[union-attr]
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, scale)
            tflite.QuantizationParametersAddZeroPoint(b, zp)
            tflite.QuantizationParametersAddQuantizedDimension(b, t.axis)
            quant = tflite.QuantizationParametersEnd(b)
        name = b.CreateString(t.name)
        shape = _int_vector(b, list(t.shape))
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, _NUMPY_TO_TFLITE[t.dtype])
        tflite.TensorAddBuffer(b, t.buffer)
        tflite.TensorAddName(b, name)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        return tflite.TensorEnd(b)

    @staticmethod
    def _operator(b: flatbuffers.Builder, op: _Operator, opcode_index: int) -> int:
        options = _OPTION_WRITERS[op.options_type](b, op.options) if op.options_type else None
        inputs = _int_vector(b, op.inputs)
        outputs = _int_vector(b, op.outputs)
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, opcode_index)
        tflite.OperatorAddInputs(b, inputs)
        tflite.OperatorAddOutputs(b, outputs)
        if options is not None:
            tflite.OperatorAddBuiltinOptionsType(b, op.options_type)
            tflite.OperatorAddBuiltinOptions(b, options)
        return tflite.OperatorEnd(b)


def _aligned_bytes(b: flatbuffers.Builder, data: bytes, alignment: int = 16) -> int:
    """A byte vector whose payload is ``alignment``-aligned (TFLite maps buffers in place)."""
    b.StartVector(1, len(data), alignment)
    b.head = b.head - len(data)
    b.Bytes[b.head : b.head + len(data)] = data
    return b.EndVector()


def _numpy_vector(b: flatbuffers.Builder, arr: np.ndarray) -> int:
    return b.CreateNumpyVector(np.ascontiguousarray(arr))


def _int_vector(b: flatbuffers.Builder, values: list[int]) -> int:
    return b.CreateNumpyVector(np.asarray(values, np.int32))


def _offset_vector(
    b: flatbuffers.Builder, start: Callable[[flatbuffers.Builder, int], None], offsets: list[int]
) -> int:
    start(b, len(offsets))
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _conv_options(b: flatbuffers.Builder, o: dict[str, object]) -> int:
    tflite.Conv2DOptionsStart(b)
    tflite.Conv2DOptionsAddPadding(b, o["padding"])
    tflite.Conv2DOptionsAddStrideH(b, o["stride"])
    tflite.Conv2DOptionsAddStrideW(b, o["stride"])
    tflite.Conv2DOptionsAddDilationHFactor(b, o["dilation"])
    tflite.Conv2DOptionsAddDilationWFactor(b, o["dilation"])
    tflite.Conv2DOptionsAddFusedActivationFunction(b, o["act"])
    return tflite.Conv2DOptionsEnd(b)


def _depthwise_options(b: flatbuffers.Builder, o: dict[str, object]) -> int:
    tflite.DepthwiseConv2DOptionsStart(b)
    tflite.DepthwiseConv2DOptionsAddPadding(b, o["padding"])
    tflite.DepthwiseConv2DOptionsAddStrideH(b, o["stride"])
    tflite.DepthwiseConv2DOptionsAddStrideW(b, o["stride"])
    tflite.DepthwiseConv2DOptionsAddDepthMultiplier(b, 1)
    tflite.DepthwiseConv2DOptionsAddDilationHFactor(b, o["dilation"])
    tflite.DepthwiseConv2DOptionsAddDilationWFactor(b, o["dilation"])
    tflite.DepthwiseConv2DOptionsAddFusedActivationFunction(b, o["act"])
    return tflite.DepthwiseConv2DOptionsEnd(b)


def _fc_options(b: flatbuffers.Builder, o: dict[str, object]) -> int:
    tflite.FullyConnectedOptionsStart(b)
    tflite.FullyConnectedOptionsAddFusedActivationFunction(b, o["act"])
    return tflite.FullyConnectedOptionsEnd(b)


def _add_options(b: flatbuffers.Builder, o: dict[str, object]) -> int:
    tflite.AddOptionsStart(b)
    tflite.AddOptionsAddFusedActivationFunction(b, o["act"])
    return tflite.AddOptionsEnd(b)


def _reducer_options(b: flatbuffers.Builder, o: dict[str, object]) -> int:
    tflite.ReducerOptionsStart(b)
    tflite.ReducerOptionsAddKeepDims(b, bool(o["keep_dims"]))
    return tflite.ReducerOptionsEnd(b)


def _reshape_options(b: flatbuffers.Builder, o: dict[str, object]) -> int:
    shape = _int_vector(b, list(o["shape"]))  # type: ignore[call-overload]
    tflite.ReshapeOptionsStart(b)
    tflite.ReshapeOptionsAddNewShape(b, shape)
    return tflite.ReshapeOptionsEnd(b)


def _concat_options(b: flatbuffers.Builder, o: dict[str, object]) -> int:
    tflite.ConcatenationOptionsStart(b)
    tflite.ConcatenationOptionsAddAxis(b, o["axis"])
    tflite.ConcatenationOptionsAddFusedActivationFunction(b, Act.NONE)
    return tflite.ConcatenationOptionsEnd(b)


def _empty_options(
    start: Callable[[flatbuffers.Builder], None], end: Callable[[flatbuffers.Builder], int]
) -> Callable[[flatbuffers.Builder, dict[str, object]], int]:
    def write(b: flatbuffers.Builder, o: dict[str, object]) -> int:
        start(b)
        return end(b)

    return write


_OPTION_WRITERS = {
    Options.Conv2DOptions: _conv_options,
    Options.DepthwiseConv2DOptions: _depthwise_options,
    Options.FullyConnectedOptions: _fc_options,
    Options.AddOptions: _add_options,
    Options.ReducerOptions: _reducer_options,
    Options.ReshapeOptions: _reshape_options,
    Options.ConcatenationOptions: _concat_options,
    Options.PadOptions: _empty_options(tflite.PadOptionsStart, tflite.PadOptionsEnd),
    Options.QuantizeOptions: _empty_options(tflite.QuantizeOptionsStart, tflite.QuantizeOptionsEnd),
    Options.DequantizeOptions: _empty_options(
        tflite.DequantizeOptionsStart, tflite.DequantizeOptionsEnd
    ),
}


# ------------------------------------------------------------------------ conversion
@dataclass
class _Value:
    """An int8 activation in the TFLite graph and how its ONNX tensor maps onto it."""

    index: int
    nhwc: bool  # ONNX NCHW tensor stored as NHWC
    scale: float
    zero_point: int


class QDQConverter:
    """Re-express a QDQ ONNX graph (ORT QDQ form) as an int8 TFLite graph."""

    def __init__(self, qmodel: onnx.ModelProto, float_model: onnx.ModelProto) -> None:
        self.model = onnx.shape_inference.infer_shapes(qmodel)
        graph = self.model.graph
        self.inits = {t.name: t for t in graph.initializer}
        self.producer = {o: n for n in graph.node for o in n.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.shapes: dict[str, tuple[int, ...]] = {}
        for vi in [*graph.value_info, *graph.input, *graph.output]:
            dims = vi.type.tensor_type.shape.dim
            self.shapes[vi.name] = tuple(d.dim_value for d in dims)
        # Activations the quantiser folded into their producer, by output name.
        self.activation = {
            n.output[0]: (Act.RELU6 if n.op_type == "Clip" else Act.RELU)
            for n in float_model.graph.node
            if n.op_type in ("Relu", "Clip")
        }
        self.w = TFLiteWriter()
        self.values: dict[str, _Value] = {}

    # ----------------------------------------------------------------- helpers
    def array(self, name: str) -> np.ndarray:
        return numpy_helper.to_array(self.inits[name])

    def _quant_params(self, node: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray, int]:
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        return self.array(node.input[1]), self.array(node.input[2]), axis

    def weight(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(int data, scales, zero points) behind a DequantizeLinear of an initializer."""
        dq = self.producer[name]
        if dq.op_type != "DequantizeLinear" or dq.input[0] not in self.inits:
            raise UnconvertibleGraph(f"{name}: expected a dequantized initializer")
        scale, zp, _ = self._quant_params(dq)
        return self.array(dq.input[0]), np.atleast_1d(scale), np.atleast_1d(zp)

    def value(self, name: str) -> _Value:
        """The int8 activation behind a DequantizeLinear output."""
        if name in self.values:
            return self.values[name]
        dq = self.producer.get(name)
        if dq is None or dq.op_type != "DequantizeLinear":
            raise UnconvertibleGraph(f"{name}: activation is not dequantized int8")
        return self.values[dq.input[0]]

    def _output_q(self, name: str) -> onnx.NodeProto:
        qs = [c for c in self.consumers.get(name, []) if c.op_type == "QuantizeLinear"]
        if len(qs) != 1:
            raise UnconvertibleGraph(f"{name}: output is not quantized exactly once")
        return qs[0]

    def new_value(self, float_name: str, nhwc: bool) -> _Value:
        """The int8 output of a compute node (the tensor its QuantizeLinear writes)."""
        q = self._output_q(float_name)
        scale, zp, _ = self._quant_params(q)
        shape = self.shapes[float_name]
        if nhwc:
            shape = (shape[0], shape[2], shape[3], shape[1])
        index = self.w.tensor(q.output[0], shape, np.int8, scale=scale, zero_point=zp)
        v = _Value(index, nhwc, float(scale), int(zp))
        self.values[q.output[0]] = v
        return v

    def requantize(self, v: _Value, like: _Value, name: str) -> _Value:
        """``v`` re-expressed with ``like``'s scale / zero point (QUANTIZE int8 -> int8)."""
        if (v.scale, v.zero_point) == (like.scale, like.zero_point):
            return v
        t = self.w.tensors[v.index]
        index = self.w.tensor(name, t.shape, np.int8, scale=like.scale, zero_point=like.zero_point)
        self.w.op(BuiltinOp.QUANTIZE, [v.index], [index], Options.QuantizeOptions)
        return _Value(index, v.nhwc, like.scale, like.zero_point)

    # --------------------------------------------------------------- operators
    def convert(self) -> bytes:
        graph = self.model.graph
        for inp in graph.input:
            shape = self.shapes[inp.name]
            nhwc = len(shape) == 4
            tshape = (shape[0], shape[2], shape[3], shape[1]) if nhwc else shape
            index = self.w.tensor(inp.name, tshape, np.float32)
            self.w.inputs.append(index)
            q = self._output_q(inp.name)
            scale, zp, _ = self._quant_params(q)
            out = self.w.tensor(q.output[0], tshape, np.int8, scale=scale, zero_point=zp)
            self.w.op(BuiltinOp.QUANTIZE, [index], [out], Options.QuantizeOptions)
            self.values[q.output[0]] = _Value(out, nhwc, float(scale), int(zp))
        for node in graph.node:
            if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
                continue
            handler = getattr(self, f"_op_{node.op_type}", None)
            if handler is None:
                raise UnconvertibleGraph(f"{node.name}: {node.op_type} has no TFLite mapping here")
            handler(node)
        for out in graph.output:
            v = self.value(out.name)
            t = self.w.tensors[v.index]
            index = self.w.tensor(out.name, t.shape, np.float32)
            self.w.op(BuiltinOp.DEQUANTIZE, [v.index], [index], Options.DequantizeOptions)
            self.w.outputs.append(index)
        return self.w.serialize()

    def _bias(self, node: onnx.NodeProto, x: _Value, w_scale: np.ndarray, out_ch: int) -> int:
        if len(node.input) > 2:
            data, scale, _ = self.weight(node.input[2])
        else:
            data, scale = np.zeros(out_ch, np.int32), np.float32(x.scale) * w_scale
        zp = np.zeros(out_ch, np.int64)
        return self.w.tensor(
            f"{node.name}.bias", (out_ch,), np.int32, data=data, scale=scale, zero_point=zp
        )

    def _op_Conv(self, node: onnx.NodeProto) -> None:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        x = self.value(node.input[0])
        data, scale, zp = self.weight(node.input[1])
        out_ch, cin_g, kh, kw = data.shape
        group = attrs.get("group", 1)
        stride = attrs.get("strides", [1, 1])
        dilation = attrs.get("dilations", [1, 1])
        if stride[0] != stride[1] or dilation[0] != dilation[1]:
            raise UnconvertibleGraph(f"{node.name}: anisotropic stride/dilation")
        _, _, h, wd = self.shapes[node.input[0]]
        x_index = self._pad(
            node, x, attrs.get("pads", [0, 0, 0, 0]), (h, wd), (kh, kw), stride[0], dilation[0]
        )
        padding = tflite.Padding.VALID if x_index != -1 else tflite.Padding.SAME
        x_index = x.index if x_index == -1 else x_index
        depthwise = group > 1
        if depthwise and not (group == out_ch and cin_g == 1):
            raise UnconvertibleGraph(f"{node.name}: grouped convolution")
        if depthwise:
            w_data, w_shape, axis = data.transpose(1, 2, 3, 0), (1, kh, kw, out_ch), 3
        else:
            w_data, w_shape, axis = data.transpose(0, 2, 3, 1), (out_ch, kh, kw, cin_g), 0
        w_index = self.w.tensor(
            node.input[1], w_shape, np.int8, data=w_data, scale=scale, zero_point=zp, axis=axis
        )
        bias = self._bias(node, x, scale, out_ch)
        out = self.new_value(node.output[0], nhwc=True)
        options = {
            "padding": padding,
            "stride": stride[0],
            "dilation": dilation[0],
            "act": self.activation.get(node.output[0], Act.NONE),
        }
        if depthwise:
            code, opts = BuiltinOp.DEPTHWISE_CONV_2D, Options.DepthwiseConv2DOptions
        else:
            code, opts = BuiltinOp.CONV_2D, Options.Conv2DOptions
        self.w.op(code, [x_index, w_index, bias], [out.index], opts, **options)

    def _pad(
        self,
        node: onnx.NodeProto,
        x: _Value,
        pads: list[int],
        hw: tuple[int, int],
        k: tuple[int, int],
        stride: int,
        dilation: int,
    ) -> int:
        """-1 when TFLite SAME padding matches ``pads``; else the index of a padded input."""
        t, le, b, r = pads
        same = [same_pads(hw[i], k[i], stride, dilation) for i in range(2)]
        if (t, b) == same[0] and (le, r) == same[1]:
            return -1
        if not any(pads):
            return x.index
        src = self.w.tensors[x.index]
        n, h, w, c = src.shape
        pad_data = np.array([[0, 0], [t, b], [le, r], [0, 0]], np.int32)
        paddings = self.w.tensor(f"{node.name}.paddings", (4, 2), np.int32, data=pad_data)
        shape = (n, h + t + b, w + le + r, c)
        out = self.w.tensor(
            f"{node.name}.padded", shape, np.int8, scale=x.scale, zero_point=x.zero_point
        )
        self.w.op(BuiltinOp.PAD, [x.index, paddings], [out], Options.PadOptions)
        return out

    def _op_Gemm(self, node: onnx.NodeProto) -> None:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("transB", 0) != 1 or attrs.get("transA", 0) != 0:
            raise UnconvertibleGraph(f"{node.name}: Gemm layout")
        x = self.value(node.input[0])
        data, scale, zp = self.weight(node.input[1])
        w_index = self.w.tensor(
            node.input[1], data.shape, np.int8, data=data, scale=scale, zero_point=zp
        )
        bias = self._bias(node, x, scale, data.shape[0])
        out = self.new_value(node.output[0], nhwc=False)
        act = self.activation.get(node.output[0], Act.NONE)
        inputs = [x.index, w_index, bias]
        self.w.op(
            BuiltinOp.FULLY_CONNECTED, inputs, [out.index], Options.FullyConnectedOptions, act=act
        )

    def _op_Add(self, node: onnx.NodeProto) -> None:
        a, b = (self.value(n) for n in node.input)
        if a.nhwc != b.nhwc:
            raise UnconvertibleGraph(f"{node.name}: mixed layouts")
        out = self.new_value(node.output[0], nhwc=a.nhwc)
        act = self.activation.get(node.output[0], Act.NONE)
        self.w.op(BuiltinOp.ADD, [a.index, b.index], [out.index], Options.AddOptions, act=act)

    def _op_GlobalAveragePool(self, node: onnx.NodeProto) -> None:
        x = self.value(node.input[0])
        axes = self.w.const_i32(f"{node.name}.axes", [1, 2])
        out = self.new_value(node.output[0], nhwc=True)
        self.w.op(
            BuiltinOp.MEAN, [x.index, axes], [out.index], Options.ReducerOptions, keep_dims=True
        )

    def _reshape(self, node: onnx.NodeProto, x: _Value, shape: tuple[int, ...]) -> None:
        out = self.new_value(node.output[0], nhwc=False)
        x = self.requantize(x, out, f"{node.name}.requantized")
        new_shape = self.w.const_i32(f"{node.name}.shape", list(shape))
        self.w.op(
            BuiltinOp.RESHAPE,
            [x.index, new_shape],
            [out.index],
            Options.ReshapeOptions,
            shape=shape,
        )

    def _op_Flatten(self, node: onnx.NodeProto) -> None:
        x = self.value(node.input[0])
        src = self.w.tensors[x.index].shape
        if x.nhwc and src[1:3] != (1, 1):
            raise UnconvertibleGraph(f"{node.name}: flattening a spatial NHWC tensor")
        self._reshape(node, x, self.shapes[node.output[0]])

    def _op_Reshape(self, node: onnx.NodeProto) -> None:
        x = self.value(node.input[0])
        if x.nhwc:
            raise UnconvertibleGraph(f"{node.name}: reshape of an NCHW tensor")
        self._reshape(node, x, self.shapes[node.output[0]])

    def _op_Transpose(self, node: onnx.NodeProto) -> None:
        perm = tuple(onnx.helper.get_attribute_value(node.attribute[0]))
        x = self.value(node.input[0])
        if not (x.nhwc and perm == (0, 2, 3, 1)):
            raise UnconvertibleGraph(f"{node.name}: transpose {perm}")
        # NCHW -> NHWC of a tensor TFLite already stores as NHWC: no data movement.
        q = self._output_q(node.output[0])
        scale, zp, _ = self._quant_params(q)
        like = _Value(-1, False, float(scale), int(zp))
        v = self.requantize(_Value(x.index, False, x.scale, x.zero_point), like, q.output[0])
        self.values[q.output[0]] = v

    def _op_Concat(self, node: onnx.NodeProto) -> None:
        xs = [self.value(n) for n in node.input]
        axis = onnx.helper.get_attribute_value(node.attribute[0])
        rank = len(self.shapes[node.output[0]])
        axis %= rank
        nhwc = xs[0].nhwc
        if nhwc:
            axis = {0: 0, 1: 3, 2: 1, 3: 2}[axis]
        out = self.new_value(node.output[0], nhwc=nhwc)
        # TFLite's int8 concatenation wants one scale for all inputs and the output.
        xs = [self.requantize(x, out, f"{node.name}.input{i}") for i, x in enumerate(xs)]
        inputs = [x.index for x in xs]
        self.w.op(
            BuiltinOp.CONCATENATION, inputs, [out.index], Options.ConcatenationOptions, axis=axis
        )


def qdq_to_tflite(qmodel: onnx.ModelProto, float_model: onnx.ModelProto) -> bytes:
    """Serialise an int8 TFLite model equivalent to ``qmodel`` (see module docstring)."""
    return QDQConverter(qmodel, float_model).convert()
