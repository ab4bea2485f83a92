"""Bad TFLite input: each case gets one clear FrontendError naming the file and what is wrong,
and damaged bytes never escape as anything else (a hypothesis test mutates a valid model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from furiosa.errors import (
    DynamicShapeError,
    FrontendError,
    ModelFileError,
    UnsupportedModelError,
)
from furiosa.frontends import load_model
from furiosa.frontends.tflite import import_tflite
from furiosa.ir.interpreter import interpret
from furiosa.ir.verifier import verify_module
from tests.frontends.tflite_builder import (
    Activation,
    BuiltinOperator,
    ModelBuilder,
    Padding,
)

OP = BuiltinOperator


def small_model() -> ModelBuilder:
    """A few quantized and float operators: enough structure for the mutation test."""
    rng = np.random.default_rng(0)
    m = ModelBuilder()
    x = m.input("x", (1, 4, 4, 2), np.float32)
    xq = m.tensor("xq", (1, 4, 4, 2), np.int8, scale=0.05, zero_point=-3)
    m.op(OP.QUANTIZE, [x], [xq])
    w = m.const("w", rng.integers(-127, 128, (3, 3, 3, 2)).astype(np.int8),
                scale=[0.01, 0.02, 0.03], zero_point=[0, 0, 0], axis=0)
    b = m.const("b", rng.integers(-100, 100, 3).astype(np.int32),
                scale=[0.0005, 0.001, 0.0015], axis=0)
    c = m.tensor("conv", (1, 4, 4, 3), np.int8, scale=0.1, zero_point=2)
    m.op(OP.CONV_2D, [xq, w, b], [c], "Conv2DOptions", Padding=Padding.SAME, StrideW=1,
         StrideH=1, FusedActivationFunction=Activation.RELU)
    r = m.tensor("flat", (1, 48), np.int8, scale=0.1, zero_point=2)
    m.op(OP.RESHAPE, [c, m.const("shape", np.array([1, 48], np.int32))], [r])
    y = m.tensor("y", (1, 48), np.float32)
    m.op(OP.DEQUANTIZE, [r], [y])
    m.output(y)
    return m


VALID = small_model().build()


def test_the_small_model_imports() -> None:
    module = import_tflite(VALID)
    verify_module(module)
    out = interpret(module, {"x": np.ones((1, 4, 4, 2), np.float32)})
    assert out["y"].shape == (1, 48)


# --------------------------------------------------------------------------- the file


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"missing\.tflite: no such file"):
        import_tflite(tmp_path / "missing.tflite")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="is a directory"):
        import_tflite(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.tflite"
    p.write_bytes(b"")
    with pytest.raises(ModelFileError, match=r"empty\.tflite is empty"):
        import_tflite(p)
    with pytest.raises(ModelFileError, match="is empty"):
        import_tflite(b"")


def test_random_bytes(tmp_path: Path) -> None:
    p = tmp_path / "noise.tflite"
    p.write_bytes(np.random.default_rng(1).integers(0, 256, 4096).astype(np.uint8).tobytes())
    with pytest.raises(ModelFileError, match=r"noise\.tflite is not a TFLite model"):
        import_tflite(p)


def test_random_bytes_with_the_identifier() -> None:
    noise = bytearray(np.random.default_rng(2).integers(0, 256, 4096).astype(np.uint8).tobytes())
    noise[4:8] = b"TFL3"
    with pytest.raises(ModelFileError, match="not a valid TFLite model"):
        import_tflite(bytes(noise), name="noise.tflite")


@pytest.mark.parametrize("keep", [8, 40, len(VALID) // 2, len(VALID) - 4])
def test_truncated_model(keep: int) -> None:
    with pytest.raises(ModelFileError, match=r"cut\.tflite .*(truncated|damaged)"):
        import_tflite(VALID[:keep], name="cut.tflite")


def test_wrong_extension(tmp_path: Path) -> None:
    p = tmp_path / "model.onnx"
    p.write_bytes(VALID)
    with pytest.raises(ModelFileError, match=r"model\.onnx is named \.onnx but holds a tflite"):
        load_model(p)
    q = tmp_path / "model.bin"
    q.write_bytes(VALID)
    with pytest.raises(ModelFileError, match=r"unknown model format '\.bin'"):
        load_model(q)


def test_wrong_content(tmp_path: Path) -> None:
    p = tmp_path / "model.tflite"
    p.write_bytes(b"\x08\x07\x12\x04onnx" + b"\x00" * 64)  # the start of an ONNX protobuf
    with pytest.raises(ModelFileError, match=r"model\.tflite is not a TFLite model"):
        load_model(p)


def test_load_model_reads_tflite(tmp_path: Path) -> None:
    p = tmp_path / "model.tflite"
    p.write_bytes(VALID)
    assert load_model(p).name == "model"


# --------------------------------------------------------------------------- the graph


def two_adds(first_inputs: tuple[int, int] | None = None) -> ModelBuilder:
    m = ModelBuilder()
    a = m.input("a", (2, 3), np.float32)
    t0 = m.tensor("t0", (2, 3), np.float32)
    t1 = m.tensor("t1", (2, 3), np.float32)
    m.op(OP.ADD, list(first_inputs or (a, a)), [t0], "AddOptions")
    m.op(OP.ADD, [t0, a], [t1], "AddOptions")
    m.output(t1)
    return m


def test_cycle() -> None:
    m = two_adds()
    m.operators[0].inputs = [0, 2]  # the first add reads the second's output
    with pytest.raises(FrontendError, match=r"cyc\.tflite: operator \d \(ADD\) is part of a "
                                            "cycle"):
        import_tflite(m.build(), name="cyc.tflite")


def test_self_loop() -> None:
    m = two_adds()
    m.operators[1].inputs = [2, 0]
    with pytest.raises(FrontendError, match="part of a cycle"):
        import_tflite(m.build())


def test_undefined_input() -> None:
    m = two_adds()
    ghost = m.tensor("ghost", (2, 3), np.float32)
    m.operators[1].inputs = [1, ghost]
    with pytest.raises(FrontendError, match="reads 'ghost', which no operator, input or "
                                            "constant defines"):
        import_tflite(m.build())


def test_tensor_index_out_of_range() -> None:
    m = two_adds()
    m.operators[1].inputs = [1, 99]
    with pytest.raises(ModelFileError, match=r"operator 1 \(ADD\) reads tensor 99, but the "
                                             "model has 3"):
        import_tflite(m.build())


def test_tensor_written_twice() -> None:
    m = two_adds()
    m.operators[1].outputs = [1]
    with pytest.raises(FrontendError, match="'t0' is written by operators 0 and 1"):
        import_tflite(m.build())


def test_undefined_output() -> None:
    m = two_adds()
    m.output(m.tensor("nowhere", (2, 3), np.float32))
    with pytest.raises(FrontendError, match="output 'nowhere' is not produced"):
        import_tflite(m.build())


def test_huge_tensor() -> None:
    m = ModelBuilder()
    x = m.input("x", (2, 3), np.float32)
    big = m.tensor("big", (1000000, 1000000), np.float32)
    m.op(OP.ADD, [x, x], [big], "AddOptions")
    m.output(big)
    with pytest.raises(FrontendError, match=r"tensor 'big' would hold 1e\+12 elements"):
        import_tflite(m.build())


def test_huge_input() -> None:
    m = ModelBuilder()
    x = m.input("x", (1000, 1000, 1000, 1000), np.float32)
    y = m.tensor("y", (1000, 1000, 1000, 1000), np.float32)
    m.op(OP.RELU, [x], [y])
    m.output(y)
    with pytest.raises(FrontendError, match=r"tensor 'x' would hold 1e\+12 elements"):
        import_tflite(m.build())


def test_constant_with_wrong_size() -> None:
    m = ModelBuilder()
    x = m.input("x", (4,), np.float32)
    c = m.tensor("c", (4,), np.float32, data=np.zeros(3, np.float32))
    y = m.tensor("y", (4,), np.float32)
    m.op(OP.ADD, [x, c], [y], "AddOptions")
    m.output(y)
    with pytest.raises(ModelFileError, match="constant 'c' holds 12 bytes, but its shape"):
        import_tflite(m.build())


def test_bad_quantization() -> None:
    m = ModelBuilder()
    x = m.input("x", (4,), np.int8, scale=0.0, zero_point=0)
    y = m.tensor("y", (4,), np.float32)
    m.op(OP.DEQUANTIZE, [x], [y])
    m.output(y)
    with pytest.raises(ModelFileError, match="tensor 'x' has invalid quantization"):
        import_tflite(m.build())


# --------------------------------------------------------------------------- unsupported models


def test_unsupported_builtin_is_named() -> None:
    m = ModelBuilder()
    x = m.input("x", (2, 3), np.float32)
    y = m.tensor("y", (2, 3), np.float32)
    m.op(OP.CEIL, [x], [y])
    m.output(y)
    with pytest.raises(UnsupportedModelError, match=r"operator 0 \(CEIL\) is not supported; the "
                                                    r"TFLite frontend converts ABS, ADD, "):
        import_tflite(m.build())


def test_custom_operator_is_named() -> None:
    m = ModelBuilder()
    x = m.input("x", (2, 3), np.float32)
    y = m.tensor("y", (2, 3), np.float32)
    m.op(OP.CUSTOM, [x], [y], custom="TFLite_Detection_PostProcess")
    m.output(y)
    with pytest.raises(UnsupportedModelError,
                       match="operator 0 is custom operator 'TFLite_Detection_PostProcess', "
                             "which the compiler does not support"):
        import_tflite(m.build())


def test_control_flow_is_named() -> None:
    m = ModelBuilder()
    x = m.input("x", (2, 3), np.float32)
    y = m.tensor("y", (2, 3), np.float32)
    m.op(OP.WHILE, [x], [y])
    m.output(y)
    with pytest.raises(UnsupportedModelError, match=r"operator 0 \(WHILE\) is control flow"):
        import_tflite(m.build())


def test_hybrid_quantization() -> None:
    m = ModelBuilder()
    x = m.input("x", (1, 8), np.float32)
    w = m.const("w", np.ones((4, 8), np.int8), scale=0.1, zero_point=0)
    b = m.const("b", np.zeros(4, np.float32))
    y = m.tensor("y", (1, 4), np.float32)
    m.op(OP.FULLY_CONNECTED, [x, w, b], [y], "FullyConnectedOptions")
    m.output(y)
    with pytest.raises(UnsupportedModelError, match="dynamic-range quantization"):
        import_tflite(m.build())


def test_uint8_resize_is_refused() -> None:
    m = ModelBuilder()
    x = m.input("x", (1, 2, 2, 1), np.uint8, scale=0.1, zero_point=128)
    y = m.tensor("y", (1, 4, 4, 1), np.uint8, scale=0.1, zero_point=128)
    m.op(OP.RESIZE_BILINEAR, [x, m.const("size", np.array([4, 4], np.int32))], [y],
         "ResizeBilinearOptions")
    m.output(y)
    with pytest.raises(UnsupportedModelError, match="RESIZE_BILINEAR on u8 is not supported"):
        import_tflite(m.build())


def one_op(code: int, inputs: list[tuple], outputs: list[tuple], options: str | None = None,
           **fields: object) -> bytes:
    """A one-operator model: inputs are (name, shape, dtype, quant) for graph inputs or
    (name, array, quant) for constants; outputs (name, shape, dtype, quant)."""
    m = ModelBuilder()
    ids = []
    for t in inputs:
        if len(t) == 3:
            ids.append(m.const(t[0], t[1], **t[2]))
        else:
            ids.append(m.input(t[0], t[1], t[2], **t[3]))
    outs = [m.tensor(name, shape, dtype, **q) for name, shape, dtype, q in outputs]
    m.op(code, ids, outs, options, **fields)
    m.output(*outs)
    return m.build()


Q8 = {"scale": 0.05, "zero_point": -3}


@pytest.mark.parametrize("code", [OP.DIV, OP.SQUARED_DIFFERENCE, OP.POW],
                         ids=["div", "squared_difference", "pow"])
def test_quantized_binary_without_exact_equivalent_is_refused(code: int) -> None:
    data = one_op(code, [("a", (2, 3), np.int8, Q8), ("b", (2, 3), np.int8, Q8)],
                  [("y", (2, 3), np.int8, Q8)])
    name = BuiltinOperator.__dict__
    label = next(k for k, v in name.items() if v == code)
    with pytest.raises(UnsupportedModelError,
                       match=rf"\({label}\) producing 'y': {label} on i8 is not supported "
                             r"\(LiteRT's integer kernel has no exact equivalent in the IR\)"):
        import_tflite(data)


@pytest.mark.parametrize("code", [OP.RSQRT, OP.SQRT, OP.NEG, OP.SQUARE, OP.LOG_SOFTMAX],
                         ids=["rsqrt", "sqrt", "neg", "square", "log_softmax"])
def test_quantized_unary_without_exact_equivalent_is_refused(code: int) -> None:
    data = one_op(code, [("x", (2, 3), np.int8, Q8)], [("y", (2, 3), np.int8, Q8)])
    with pytest.raises(UnsupportedModelError, match="on i8 is not supported"):
        import_tflite(data)


@pytest.mark.parametrize("code", [OP.EXP, OP.LOG, OP.ABS], ids=["exp", "log", "abs"])
def test_uint8_table_operators_are_refused(code: int) -> None:
    # LiteRT has int8 kernels for these, and no uint8 ones.
    data = one_op(code, [("x", (2, 3), np.uint8, {"scale": 0.05, "zero_point": 128})],
                  [("y", (2, 3), np.uint8, {"scale": 0.05, "zero_point": 0})])
    with pytest.raises(UnsupportedModelError, match=r"on u8 is not supported"):
        import_tflite(data)


@pytest.mark.parametrize("code", [OP.SUM, OP.REDUCE_PROD], ids=["sum", "prod"])
def test_quantized_sum_and_product_are_refused(code: int) -> None:
    data = one_op(code, [("x", (2, 3), np.int8, Q8), ("axes", np.array([1], np.int32), {})],
                  [("y", (2,), np.int8, Q8)], "ReducerOptions", KeepDims=False)
    with pytest.raises(UnsupportedModelError, match="on i8 is not supported"):
        import_tflite(data)


def test_quantized_transpose_conv_with_float_input_is_refused() -> None:
    data = one_op(OP.TRANSPOSE_CONV,
                  [("out_shape", np.array([1, 4, 4, 2], np.int32), {}),
                   ("w", np.ones((2, 3, 3, 2), np.int8), {"scale": 0.1, "zero_point": 0}),
                   ("x", (1, 2, 2, 2), np.float32, {})],
                  [("y", (1, 4, 4, 2), np.float32, {})], "TransposeConvOptions",
                  Padding=Padding.SAME, StrideW=2, StrideH=2)
    with pytest.raises(UnsupportedModelError, match="dynamic-range quantization"):
        import_tflite(data)


def test_transpose_conv_fused_activation_other_than_relu_is_refused() -> None:
    data = one_op(OP.TRANSPOSE_CONV,
                  [("out_shape", np.array([1, 4, 4, 2], np.int32), {}),
                   ("w", np.ones((2, 3, 3, 2), np.float32), {}),
                   ("x", (1, 2, 2, 2), np.float32, {})],
                  [("y", (1, 4, 4, 2), np.float32, {})], "TransposeConvOptions",
                  Padding=Padding.SAME, StrideW=2, StrideH=2,
                  FusedActivationFunction=Activation.TANH)
    with pytest.raises(UnsupportedModelError, match="fused activation TANH is not supported"):
        import_tflite(data)


@pytest.mark.parametrize(("mask", "label"), [("EllipsisMask", "ellipsis_mask"),
                                             ("NewAxisMask", "new_axis_mask")])
def test_strided_slice_masks_that_are_not_imported_are_named(mask: str, label: str) -> None:
    data = one_op(OP.STRIDED_SLICE, [("x", (4, 5), np.float32, {}),
                                     ("begin", np.array([0, 0], np.int32), {}),
                                     ("end", np.array([2, 2], np.int32), {}),
                                     ("strides", np.array([1, 1], np.int32), {})],
                  [("y", (2, 2), np.float32, {})], "StridedSliceOptions", **{mask: 1})
    with pytest.raises(UnsupportedModelError, match=rf"its {label} 1 is not supported"):
        import_tflite(data)


def test_gather_batch_dims_is_refused() -> None:
    data = one_op(OP.GATHER, [("x", (2, 5), np.float32, {}),
                              ("i", np.array([[0], [1]], np.int32), {})],
                  [("y", (2, 1), np.float32, {})], "GatherOptions", Axis=1, BatchDims=1)
    with pytest.raises(UnsupportedModelError, match="batch_dims 1 is not supported"):
        import_tflite(data)


def test_symmetric_mirror_pad_is_refused() -> None:
    data = one_op(OP.MIRROR_PAD, [("x", (3, 4), np.float32, {}),
                                  ("p", np.array([[1, 1], [1, 1]], np.int32), {})],
                  [("y", (5, 6), np.float32, {})], "MirrorPadOptions", Mode=1)
    with pytest.raises(UnsupportedModelError, match="SYMMETRIC mirror padding is not supported"):
        import_tflite(data)


def test_quantized_prelu_alpha_varying_along_two_axes_is_refused() -> None:
    alpha = np.arange(6, dtype=np.int8).reshape(2, 3)
    data = one_op(OP.PRELU, [("x", (2, 3), np.int8, Q8), ("alpha", alpha, Q8)],
                  [("y", (2, 3), np.int8, Q8)])
    with pytest.raises(UnsupportedModelError, match=r"alpha 'alpha' varies along axes \[0, 1\]"):
        import_tflite(data)


def test_quantized_prelu_alpha_must_be_constant() -> None:
    data = one_op(OP.PRELU, [("x", (2, 3), np.int8, Q8), ("alpha", (3,), np.int8, Q8)],
                  [("y", (2, 3), np.int8, Q8)])
    with pytest.raises(UnsupportedModelError, match=r"its alpha \('alpha'\) must be a constant"):
        import_tflite(data)


def test_quantized_maximum_needs_one_quantization() -> None:
    data = one_op(OP.MAXIMUM, [("a", (2, 3), np.int8, Q8),
                               ("b", (2, 3), np.int8, {"scale": 0.1, "zero_point": 0})],
                  [("y", (2, 3), np.int8, Q8)])
    with pytest.raises(UnsupportedModelError, match=r"but input 'b' quant<0\.1"):
        import_tflite(data)


def test_cast_of_a_quantized_tensor_is_refused() -> None:
    data = one_op(OP.CAST, [("x", (2, 3), np.int8, Q8)], [("y", (2, 3), np.int32, {})])
    with pytest.raises(UnsupportedModelError, match="input 'x' is quantized; CAST is imported "
                                                    "for unquantized tensors only"):
        import_tflite(data)


def test_hard_swish_output_scale_too_small_is_refused() -> None:
    data = one_op(OP.HARD_SWISH, [("x", (2, 3), np.int8, {"scale": 1.0, "zero_point": 0})],
                  [("y", (2, 3), np.int8, {"scale": 0.001, "zero_point": 0})])
    with pytest.raises(UnsupportedModelError, match=r"output scale 0\.001 is too small"):
        import_tflite(data)


def test_split_output_count_must_match() -> None:
    data = one_op(OP.SPLIT, [("axis", np.array(0, np.int32), {}), ("x", (4, 3), np.float32, {})],
                  [("y0", (2, 3), np.float32, {})], "SplitOptions", NumSplits=2)
    with pytest.raises(FrontendError, match="it computes 2 outputs but lists 1"):
        import_tflite(data)


def test_quantization_must_match_where_data_is_copied() -> None:
    m = ModelBuilder()
    x = m.input("x", (2, 3), np.int8, scale=0.1, zero_point=0)
    y = m.tensor("y", (3, 2), np.int8, scale=0.2, zero_point=0)
    m.op(OP.RESHAPE, [x], [y], "ReshapeOptions", NewShape=[3, 2])
    m.output(y)
    with pytest.raises(UnsupportedModelError, match="the operator copies stored values"):
        import_tflite(m.build())


def test_declared_output_must_match() -> None:
    m = ModelBuilder()
    a = m.input("a", (2, 3), np.float32)
    y = m.tensor("y", (2, 4), np.float32)
    m.op(OP.ADD, [a, a], [y], "AddOptions")
    m.output(y)
    with pytest.raises(FrontendError, match=r"output 'y' is declared with shape \[2, 4\] but "
                                            r"the operator computes \[2, 3\]"):
        import_tflite(m.build())


def test_unsupported_element_type() -> None:
    m = ModelBuilder()
    x = m.input("x", (2,), 5)  # STRING
    y = m.tensor("y", (2,), 5)
    m.op(OP.RESHAPE, [x], [y], "ReshapeOptions", NewShape=[2])
    m.output(y)
    with pytest.raises(UnsupportedModelError, match="tensor 'x' has element type STRING"):
        import_tflite(m.build())


# --------------------------------------------------------------------------- input shapes


def dynamic_model(signature: tuple[int, ...]) -> bytes:
    m = ModelBuilder()
    x = m.input("x", (1, 4, 3), np.float32, shape_signature=signature)
    y = m.tensor("y", (1, 4, 3), np.float32)
    m.op(OP.RELU, [x], [y])
    m.output(y)
    return m.build()


def test_dynamic_batch_becomes_one() -> None:
    module = import_tflite(dynamic_model((-1, 4, 3)))
    assert module.main.inputs[0].type.shape == (1, 4, 3)


def test_dynamic_dimension_needs_a_shape() -> None:
    with pytest.raises(DynamicShapeError, match=r"input 'x' dimension 1 is dynamic; give the "
                                                r"shape with --input-shape x=DIMS"):
        import_tflite(dynamic_model((1, -1, 3)))
    module = import_tflite(dynamic_model((1, -1, 3)), input_shapes={"x": (1, 6, 3)})
    assert module.main.inputs[0].type.shape == (1, 6, 3)
    assert module.main.outputs[0].type.shape == (1, 6, 3)


def test_given_shapes_are_checked() -> None:
    data = dynamic_model((-1, 4, 3))
    with pytest.raises(DynamicShapeError, match="dimension 1 is 4 in the model but 5"):
        import_tflite(data, input_shapes={"x": (2, 5, 3)})
    with pytest.raises(DynamicShapeError, match="has rank 3 but the given shape 2x4 has rank 2"):
        import_tflite(data, input_shapes={"x": (2, 4)})
    with pytest.raises(FrontendError, match="has no input named 'z'"):
        import_tflite(data, input_shapes={"z": (1, 4, 3)})


# --------------------------------------------------------------------------- mutation


MUTATIONS = st.one_of(
    st.tuples(st.just("flip"), st.lists(st.tuples(st.integers(0, len(VALID) - 1),
                                                   st.integers(1, 255)), min_size=1, max_size=8)),
    st.tuples(st.just("truncate"), st.integers(0, len(VALID) - 1)),
    st.tuples(st.just("insert"), st.tuples(st.integers(0, len(VALID)),
                                           st.binary(min_size=1, max_size=64))),
    st.tuples(st.just("overwrite"), st.tuples(st.integers(0, len(VALID) - 1),
                                              st.binary(min_size=1, max_size=16))),
)


def mutate(data: bytes, mutation: tuple) -> bytes:
    kind, arg = mutation
    buf = bytearray(data)
    if kind == "flip":
        for pos, mask in arg:
            buf[pos] ^= mask
    elif kind == "truncate":
        del buf[arg:]
    elif kind == "insert":
        pos, extra = arg
        buf[pos:pos] = extra
    else:
        pos, extra = arg
        buf[pos:pos + len(extra)] = extra
    return bytes(buf)


@settings(max_examples=200, deadline=2000, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(MUTATIONS)
def test_mutated_models_fail_cleanly(mutation: tuple) -> None:
    data = mutate(VALID, mutation)
    try:
        module = import_tflite(data, name="mutated.tflite")
    except FrontendError as e:
        assert str(e).startswith("mutated.tflite"), str(e)
        return
    verify_module(module)
