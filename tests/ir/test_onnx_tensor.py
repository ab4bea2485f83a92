"""onnx tensor-manipulation ops against onnxruntime and ONNX shape inference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, numpy_helper

from furiosa.errors import IRError
from furiosa.ir.core import Dense, Operation
from furiosa.ir.dialects.onnx import tensor as t
from furiosa.ir.dialects.onnx.base import Constant
from furiosa.ir.module import Function
from furiosa.ir.types import DYNAMIC, I8, I64, Quantization, TensorType, tensor
from tests.ir.onnx_reference import run_onnx_node
from tests.ir.test_onnx_nn import assert_outputs, check_op, check_shapes, f32, run_ir

BIG = np.iinfo(np.int64).max


def i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def per_axis(shape: tuple[int, ...], axis: int) -> TensorType:
    n = shape[axis]
    return TensorType(shape, I8, Quantization.per_axis([0.01 * (i + 1) for i in range(n)],
                                                       [0] * n, axis))


def build_with(op_cls: type[Operation], data: TensorType, *consts: np.ndarray | None,
               **attributes: object) -> Operation:
    """``op_cls`` on a module input of type ``data`` followed by constant operands."""
    m = Function("t")
    operands = [m.add_input("x", data)]
    for c in consts:
        if c is None:
            operands.append(None)
            continue
        op = Constant.of(c)
        m.add(op)
        operands.append(op.result)
    return op_cls.build(*operands, **attributes)


# --------------------------------------------------------------------------- reshaping


@pytest.mark.parametrize("target", [(0, -1, 5), (4, 0, -1), (-1,), (2, 3, 4, 5, 1), (0, 0, 0, 0),
                                    (5, 4, 3, 2)])
def test_reshape(target: tuple[int, ...]) -> None:
    inputs = [f32(np.random.default_rng(0), 2, 3, 4, 5), i64(*target)]
    check_op(t.Reshape, "Reshape", inputs, constant=(1,))
    check_shapes(t.Reshape, "Reshape", inputs, constant=(1,))


@pytest.mark.parametrize("axis", [0, 1, 2, -1, 4])
def test_flatten(axis: int) -> None:
    inputs = [f32(np.random.default_rng(1), 2, 3, 4, 5)]
    check_op(t.Flatten, "Flatten", inputs, axis=axis)
    check_shapes(t.Flatten, "Flatten", inputs, axis=axis)


@pytest.mark.parametrize("axes", [None, (-2,), (0, 2)])
def test_squeeze(axes: tuple[int, ...] | None) -> None:
    inputs = [f32(np.random.default_rng(2), 1, 3, 1, 5)] + ([i64(*axes)] if axes else [])
    check_op(t.Squeeze, "Squeeze", inputs, constant=(1,))
    check_shapes(t.Squeeze, "Squeeze", inputs, constant=(1,))


@pytest.mark.parametrize("axes", [(0,), (0, -1), (2, 4), (-1, -3)])
def test_unsqueeze(axes: tuple[int, ...]) -> None:
    inputs = [f32(np.random.default_rng(3), 2, 3, 4), i64(*axes)]
    check_op(t.Unsqueeze, "Unsqueeze", inputs, constant=(1,))
    check_shapes(t.Unsqueeze, "Unsqueeze", inputs, constant=(1,))


@pytest.mark.parametrize("perm", [None, [0, 2, 3, 1], [3, 1, 0, 2]])
def test_transpose(perm: list[int] | None) -> None:
    attrs = {} if perm is None else {"perm": perm}
    check_op(t.Transpose, "Transpose", [f32(np.random.default_rng(4), 2, 3, 4, 5)], **attrs)


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
@pytest.mark.parametrize("blocksize", [2, 3])
def test_depth_to_space(mode: str, blocksize: int) -> None:
    x = f32(np.random.default_rng(5), 2, 2 * blocksize * blocksize, 2, 3)
    check_op(t.DepthToSpace, "DepthToSpace", [x], blocksize=blocksize, mode=mode)
    check_shapes(t.DepthToSpace, "DepthToSpace", [x], blocksize=blocksize, mode=mode)


def test_space_to_depth() -> None:
    x = f32(np.random.default_rng(6), 1, 3, 4, 6)
    check_op(t.SpaceToDepth, "SpaceToDepth", [x], blocksize=2)
    check_shapes(t.SpaceToDepth, "SpaceToDepth", [x], blocksize=2)


# --------------------------------------------------------------------------- joining and splitting


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(axis: int) -> None:
    rng = np.random.default_rng(7)
    shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
    for i, s in enumerate(shapes):
        s[axis] = i + 1
    inputs = [f32(rng, *s) for s in shapes]
    check_op(t.Concat, "Concat", inputs, axis=axis)
    check_shapes(t.Concat, "Concat", inputs, axis=axis)


@pytest.mark.parametrize(("split", "axis"), [((1, 2), 1), ((1, 1, 2), -1), ((4,), 2)])
def test_split_sizes(split: tuple[int, ...], axis: int) -> None:
    inputs = [f32(np.random.default_rng(8), 2, 3, 4), i64(*split)]
    check_op(t.Split, "Split", inputs, len(split), constant=(1,), axis=axis)
    check_shapes(t.Split, "Split", inputs, len(split), constant=(1,), axis=axis)


@pytest.mark.parametrize(("n", "axis"), [(2, 0), (3, 1), (4, -1)])
def test_split_num_outputs_equals_opset13_equal_split(n: int, axis: int) -> None:
    x = f32(np.random.default_rng(9), 4, 6, 8)
    got = run_ir(t.Split, [x], axis=axis, num_outputs=n)
    assert_outputs(got, run_onnx_node("Split", [x], n, axis=axis))


def test_tile() -> None:
    inputs = [f32(np.random.default_rng(10), 2, 3), i64(3, 2)]
    check_op(t.Tile, "Tile", inputs, constant=(1,))
    check_shapes(t.Tile, "Tile", inputs, constant=(1,))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=1, max_size=3),
       st.lists(st.sampled_from([0, 1, 2]), min_size=1, max_size=4))
def test_expand_bidirectional_broadcast(shape: list[int], choice: list[int]) -> None:
    """Expand's result is numpy broadcasting of the input with ``shape``, in both directions."""
    # Target dims chosen to broadcast: 1, the input's own dim, or a new size where the input has 1.
    aligned = [1] * (len(choice) - len(shape)) + shape
    target = []
    for c, d in zip(choice, aligned[-len(choice):], strict=True):
        target.append([1, d, 3 if d == 1 else d][c])
    x = f32(np.random.default_rng(11), *shape)
    (got,) = run_ir(t.Expand, [x, i64(*target)], constant=(1,))
    want = np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(target)))
    np.testing.assert_array_equal(got, want)
    check_op(t.Expand, "Expand", [x, i64(*target)], constant=(1,))


# --------------------------------------------------------------------------- slicing and indexing

SLICE_CASES = [
    ((0, 1), (2, 3), None, None),
    ((1,), (-1,), (3,), None),
    ((-1, 10), (-BIG, -100), (1, 3), (-1, -2)),
    ((3,), (0,), (2,), (-1,)),
    ((0, BIG), (BIG, -BIG), (0, 2), (1, -1)),
    ((5,), (10,), (3,), (1,)),
    ((-10,), (10,), (-1,), (3,)),
    ((2, 1), (0, 4), (-2, -1), (-1, 2)),
]


@pytest.mark.parametrize(("starts", "ends", "axes", "steps"), SLICE_CASES)
def test_slice(starts: tuple[int, ...], ends: tuple[int, ...], axes: tuple[int, ...] | None,
               steps: tuple[int, ...] | None) -> None:
    inputs: list[np.ndarray | None] = [f32(np.random.default_rng(12), 2, 3, 4, 5), i64(*starts),
                                       i64(*ends), None if axes is None else i64(*axes),
                                       None if steps is None else i64(*steps)]
    while inputs[-1] is None:
        inputs.pop()
    check_op(t.Slice, "Slice", inputs, constant=(1, 2, 3, 4))
    check_shapes(t.Slice, "Slice", inputs, constant=(1, 2, 3, 4))


@settings(max_examples=50, deadline=None)
@given(start=st.integers(-9, 9), end=st.integers(-9, 9), step=st.integers(-3, 3).filter(bool))
def test_slice_clamping_property(start: int, end: int, step: int) -> None:
    x = np.arange(7, dtype=np.float32)
    check_op(t.Slice, "Slice", [x, i64(start), i64(end), i64(0), i64(step)], constant=(1, 2, 3, 4))


@pytest.mark.parametrize(("indices", "axis"), [
    (np.array([-1, 0, 2], np.int64), 1), (np.array(2, np.int64), -1),
    (np.array([[0, 1], [1, 0]], np.int32), 0)])
def test_gather(indices: np.ndarray, axis: int) -> None:
    inputs = [f32(np.random.default_rng(13), 2, 3, 4), indices]
    check_op(t.Gather, "Gather", inputs, axis=axis)
    check_shapes(t.Gather, "Gather", inputs, axis=axis)


def test_gather_elements() -> None:
    rng = np.random.default_rng(14)
    check_op(t.GatherElements, "GatherElements",
             [f32(rng, 2, 3, 4), rng.integers(-4, 4, (2, 3, 2))], axis=2)
    check_op(t.GatherElements, "GatherElements",
             [f32(rng, 3, 3), rng.integers(-3, 3, (2, 3)).astype(np.int32)], axis=0)


@pytest.mark.parametrize("batch_dims", [0, 1])
def test_gather_nd(batch_dims: int) -> None:
    rng = np.random.default_rng(15)
    data = f32(rng, 2, 3, 4, 5)
    if batch_dims == 0:
        idx = np.stack([rng.integers(0, 2, (4, 3)), rng.integers(0, 3, (4, 3))], -1)
    else:
        idx = np.stack([rng.integers(0, 3, (2, 6)), rng.integers(-4, 4, (2, 6))], -1)
    check_op(t.GatherND, "GatherND", [data, idx], batch_dims=batch_dims)
    check_shapes(t.GatherND, "GatherND", [data, idx], batch_dims=batch_dims)


def test_scatter_elements() -> None:
    rng = np.random.default_rng(16)
    idx = np.array([[1, 0, 2], [0, 2, -2]], dtype=np.int64)
    check_op(t.ScatterElements, "ScatterElements", [f32(rng, 3, 3), idx, f32(rng, 2, 3)], axis=0)
    check_op(t.ScatterElements, "ScatterElements", [f32(rng, 3, 3), idx.T.copy(), f32(rng, 3, 2)],
             axis=-1)


def test_scatter_nd() -> None:
    rng = np.random.default_rng(17)
    data = f32(rng, 2, 3, 4)
    check_op(t.ScatterND, "ScatterND", [data, np.array([[0, 1], [1, -1]]), f32(rng, 2, 4)])
    check_op(t.ScatterND, "ScatterND", [data, np.array([[[1, 2, 3], [0, 0, 0]]]), f32(rng, 1, 2)])


@pytest.mark.parametrize("axis", [None, 0, -1])
def test_compress(axis: int | None) -> None:
    rng = np.random.default_rng(18)
    x = f32(rng, 3, 4)
    cond = rng.random(12 if axis is None else x.shape[axis]) > 0.4
    attrs = {} if axis is None else {"axis": axis}
    check_op(t.Compress, "Compress", [x, cond], **attrs)
    check_op(t.Compress, "Compress", [x, cond[:2]], **attrs)


# --------------------------------------------------------------------------- padding


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("pads", [(0, 1, 2, 0, 1, 0, 1, 2), (1, 0, 0, -1, 0, 2, 1, 1)])
def test_pad(mode: str, pads: tuple[int, ...]) -> None:
    inputs = [f32(np.random.default_rng(19), 3, 4, 5, 6), i64(*pads)]
    check_op(t.Pad, "Pad", inputs, constant=(1,), mode=mode)
    check_shapes(t.Pad, "Pad", inputs, constant=(1,), mode=mode)


def test_pad_constant_value_and_integers() -> None:
    rng = np.random.default_rng(20)
    check_op(t.Pad, "Pad", [f32(rng, 3, 4), i64(1, 2, 0, 1), np.array(2.5, np.float32)],
             constant=(1,))
    x = rng.integers(-9, 9, (2, 3)).astype(np.int32)
    check_op(t.Pad, "Pad", [x, i64(1, 1, 1, 1), np.array(-7, np.int32)], constant=(1,))


# --------------------------------------------------------------------------- resize

COORDINATE_MODES = ["half_pixel", "asymmetric", "pytorch_half_pixel", "align_corners",
                    "tf_crop_and_resize"]
ROI = np.array([0, 0, 0.1, -0.2, 1, 1, 0.9, 1.1], np.float32)


def _resize_inputs(x: np.ndarray, mode_ctm: str, scales: list[float] | None,
                   sizes: list[int] | None) -> list[np.ndarray | None]:
    inputs: list[np.ndarray | None] = [
        x, ROI if mode_ctm == "tf_crop_and_resize" else None,
        None if scales is None else np.array(scales, np.float32),
        None if sizes is None else np.array(sizes, np.int64)]
    while inputs[-1] is None:
        inputs.pop()
    return inputs


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("ctm", COORDINATE_MODES)
@pytest.mark.parametrize(("scales", "sizes"), [([1, 1, 2, 1.5], None), ([1, 1, 0.6, 0.5], None),
                                               (None, [1, 2, 8, 3])])
def test_resize_modes(mode: str, ctm: str, scales: list[float] | None,
                      sizes: list[int] | None) -> None:
    x = f32(np.random.default_rng(21), 1, 2, 5, 7)
    inputs = _resize_inputs(x, ctm, scales, sizes)
    attrs = dict(mode=mode, coordinate_transformation_mode=ctm, extrapolation_value=-1.0)
    check_op(t.Resize, "Resize", inputs, constant=(1, 2, 3), atol=1e-5, **attrs)
    check_shapes(t.Resize, "Resize", inputs, constant=(1, 2, 3), **attrs)


@pytest.mark.parametrize("nearest_mode", ["round_prefer_floor", "round_prefer_ceil", "floor",
                                          "ceil"])
@pytest.mark.parametrize("ctm", ["half_pixel", "asymmetric", "tf_half_pixel_for_nn",
                                 "align_corners"])
def test_resize_nearest_modes(nearest_mode: str, ctm: str) -> None:
    x = np.random.default_rng(22).integers(0, 256, (1, 2, 5, 6)).astype(np.uint8)
    for scales in ([1, 1, 2, 1.5], [1, 1, 0.6, 0.75]):
        inputs = _resize_inputs(x, ctm, scales, None)
        check_op(t.Resize, "Resize", inputs, constant=(1, 2, 3), mode="nearest",
                 nearest_mode=nearest_mode, coordinate_transformation_mode=ctm)


@pytest.mark.parametrize(("a", "exclude"), [(-0.5, 1), (-0.75, 1), (-0.6, 0)])
def test_resize_cubic_parameters(a: float, exclude: int) -> None:
    x = f32(np.random.default_rng(23), 1, 2, 4, 5)
    for scales in ([1, 1, 2, 1.4], [1, 1, 0.5, 3]):
        check_op(t.Resize, "Resize", _resize_inputs(x, "half_pixel", scales, None),
                 constant=(1, 2, 3), atol=1e-5, mode="cubic", cubic_coeff_a=a,
                 exclude_outside=exclude)


def test_resize_nd_and_outer_axes() -> None:
    rng = np.random.default_rng(24)
    x5 = f32(rng, 1, 2, 3, 4, 5)
    check_op(t.Resize, "Resize", _resize_inputs(x5, "half_pixel", [1, 1, 2, 1.5, 0.8], None),
             constant=(1, 2, 3), atol=1e-5, mode="linear")
    x3 = f32(rng, 2, 3, 5)
    check_op(t.Resize, "Resize", _resize_inputs(x3, "half_pixel", [2, 1, 1.5], None),
             constant=(1, 2, 3), mode="nearest")
    # onnxruntime resizes only the innermost axes linearly; ONNX's reference covers the rest.
    check_op(t.Resize, "Resize", _resize_inputs(x3, "half_pixel", [2, 1.5, 1.5], None),
             constant=(1, 2, 3), atol=1e-5, mode="linear", use_reference=True)


# --------------------------------------------------------------------------- shapes and generators


def test_shape_and_size() -> None:
    x = f32(np.random.default_rng(25), 2, 3, 4)
    check_op(t.Shape, "Shape", [x])
    check_op(t.Size, "Size", [x])
    check_shapes(t.Size, "Size", [x])


@pytest.mark.parametrize("value", [None, np.array([7], np.int32), np.array([2.5], np.float64)])
def test_constant_of_shape(value: np.ndarray | None) -> None:
    shape = i64(3, 1, 2)
    attrs = {} if value is None else {"value": Dense(value)}
    (got,) = run_ir(t.ConstantOfShape, [shape], constant=(0,), **attrs)
    onnx_attrs = {} if value is None else {"value": numpy_helper.from_array(value)}
    assert_outputs([got], run_onnx_node("ConstantOfShape", [shape], **onnx_attrs))


@pytest.mark.parametrize(("start", "limit", "delta"), [
    (np.float32(1.5), np.float32(7.2), np.float32(0.3)), (np.int32(10), np.int32(-3), np.int32(-4)),
    (np.int64(0), np.int64(5), np.int64(1)), (np.float64(2), np.float64(1), np.float64(1)),
    (np.int16(-5), np.int16(20), np.int16(7))])
def test_range(start: np.generic, limit: np.generic, delta: np.generic) -> None:
    inputs = [np.array(v) for v in (start, limit, delta)]
    (got,) = run_ir(t.Range, inputs, constant=(0, 1, 2))
    want = run_onnx_node("Range", inputs)
    assert_outputs([got], want, rtol=0, atol=0)


@pytest.mark.parametrize(("k", "dtype", "onnx_dtype"), [(0, None, None), (2, None, None),
                                                        (-1, "i32", TensorProto.INT32),
                                                        (1, "f64", TensorProto.DOUBLE)])
def test_eye_like(k: int, dtype: str | None, onnx_dtype: int | None) -> None:
    x = f32(np.random.default_rng(26), 3, 5)
    attrs: dict[str, object] = {"k": k}
    onnx_attrs: dict[str, object] = {"k": k}
    if dtype is not None:
        attrs["dtype"] = dtype
        onnx_attrs["dtype"] = onnx_dtype
    assert_outputs(run_ir(t.EyeLike, [x], **attrs), run_onnx_node("EyeLike", [x], **onnx_attrs))


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_one_hot(axis: int) -> None:
    indices = np.array([[0, 3], [-1, 7], [-5, 2]], np.int64)
    inputs = [indices, np.array([5], np.int64), np.array([2.0, 7.0], np.float32)]
    check_op(t.OneHot, "OneHot", inputs, constant=(1,), axis=axis)
    check_shapes(t.OneHot, "OneHot", inputs, constant=(1,), axis=axis)
    float_indices = [np.array([0.0, 2.7, -1.0], np.float32), np.array([4.0], np.float32),
                     np.array([0, 1], np.float32)]
    check_op(t.OneHot, "OneHot", float_indices, constant=(1,), axis=axis if axis != 1 else 0)


@pytest.mark.parametrize("upper", [0, 1])
@pytest.mark.parametrize("k", [None, -1, 2])
def test_trilu(upper: int, k: int | None) -> None:
    """Trilu is an opset-14 op: compared at opset 14."""
    inputs = [f32(np.random.default_rng(27), 2, 3, 4)] + ([] if k is None else [np.array(k)])
    check_op(t.Trilu, "Trilu", inputs, opset=14, upper=upper)


@pytest.mark.parametrize(("largest", "axis"), [(1, -1), (0, -1), (1, 0), (0, 1)])
def test_top_k_ties_go_to_lower_index(largest: int, axis: int) -> None:
    rng = np.random.default_rng(28)
    x = rng.integers(0, 4, (5, 7)).astype(np.int32)
    check_op(t.TopK, "TopK", [x, i64(3)], 2, constant=(1,), largest=largest, axis=axis)
    xf = f32(rng, 6, 6)
    check_op(t.TopK, "TopK", [xf, i64(6)], 2, constant=(1,), largest=largest, axis=axis)
    check_shapes(t.TopK, "TopK", [xf, i64(2)], 2, constant=(1,), largest=largest, axis=axis)


def test_non_zero() -> None:
    rng = np.random.default_rng(29)
    check_op(t.NonZero, "NonZero", [f32(rng, 3, 4, 2) > 0.3])
    check_op(t.NonZero, "NonZero", [rng.integers(0, 2, (6,)).astype(np.int32)])
    check_op(t.NonZero, "NonZero", [np.array(3.0, np.float32)])


@pytest.mark.parametrize("seed", range(8))
def test_non_max_suppression(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    b, c, s = 2, 3, 30
    center = seed % 2
    xy = rng.random((b, s, 2)).astype(np.float32) * 8
    wh = rng.random((b, s, 2)).astype(np.float32) * 3
    if center:
        boxes = np.concatenate([xy, wh], -1)
    else:
        boxes = np.concatenate([xy, xy + wh], -1)
        if seed % 4 == 0:  # flipped corners are the same boxes
            boxes = boxes[..., [2, 3, 0, 1]].copy()
    scores = rng.random((b, c, s)).astype(np.float32)
    inputs = [boxes, scores, i64(int(rng.integers(1, 10))),
              np.array([rng.random() * 0.6], np.float32),
              np.array([rng.random() * 0.5], np.float32)][:5 - seed % 3]
    check_op(t.NonMaxSuppression, "NonMaxSuppression", inputs, center_point_box=center)


def test_non_max_suppression_without_limit_selects_nothing() -> None:
    rng = np.random.default_rng(30)
    inputs = [rng.random((1, 4, 4)).astype(np.float32), rng.random((1, 1, 4)).astype(np.float32)]
    (got,) = check_op(t.NonMaxSuppression, "NonMaxSuppression", inputs)
    assert got.shape == (0, 3)


# --------------------------------------------------------------------------- type rules


def test_dynamic_dims_flow_through() -> None:
    m = Function("dyn")
    x = m.add_input("x", tensor((3, 4), "f32"))
    nz = t.NonZero.build(x)
    assert nz.result.type.shape == (2, DYNAMIC)
    tr = t.Transpose.build(nz.result)
    assert tr.result.type.shape == (DYNAMIC, 2)
    shape = Constant.of(i64(-1))
    m.append([nz, tr, shape])
    flat = t.Reshape.build(tr.result, shape.result)
    assert flat.result.type.shape == (DYNAMIC,)
    cat = t.Concat.build(tr.result, tr.result, axis=0)
    assert cat.result.type.shape == (DYNAMIC, 2)
    sh = t.Shape.build(tr.result)
    assert sh.result.type.shape == (2,)
    starts, ends = Constant.of(i64(0)), Constant.of(i64(1))
    m.append([starts, ends])
    sl = t.Slice.build(tr.result, starts.result, ends.result)
    assert sl.result.type.shape == (DYNAMIC, 2)
    comp = t.Compress.build(x, m.add_input("c", tensor((4,), "bool")), axis=1)
    assert comp.result.type.shape == (3, DYNAMIC)
    nms = build_with(t.NonMaxSuppression, tensor((1, 5, 4), "f32"),
                     np.zeros((1, 2, 5), np.float32))
    assert nms.result.type == tensor((DYNAMIC, 3), "i64")


def test_quantization_follows_shape_ops() -> None:
    x = per_axis((4, 3, 2, 2), 0)

    def axis_of(op: Operation) -> int | None:
        quant = op.result.type.quant
        assert quant is not None
        return quant.axis

    assert axis_of(build_with(t.Reshape, x, i64(4, 12))) == 0
    assert axis_of(build_with(t.Transpose, x, perm=[1, 2, 0, 3])) == 2
    assert axis_of(build_with(t.Unsqueeze, x, i64(0))) == 1
    assert axis_of(build_with(t.Flatten, x, axis=1)) == 0
    assert axis_of(build_with(t.Squeeze, per_axis((1, 3), 0))) is None  # one scale: per tensor
    sl = build_with(t.Slice, x, i64(3), i64(0), i64(0), i64(-2)).result.type.quant
    assert sl is not None and sl.scale == (0.04, 0.02)
    g = build_with(t.Gather, x, np.array(2, np.int64)).result.type.quant
    assert g is not None and g.axis is None and g.scale == (0.03,)
    tile = build_with(t.Tile, x, i64(2, 1, 1, 1)).result.type.quant
    assert tile is not None and len(tile.scale) == 8
    parts = build_with(t.Split, x, i64(1, 3)).results
    assert [p.type.quant.scale if p.type.quant else None for p in parts] == [
        (0.01,), (0.02, 0.03, 0.04)]
    per_tensor = TensorType((2, 3), I8, Quantization.per_tensor(0.5, 1))
    assert build_with(t.Expand, per_tensor, i64(4, 2, 3)).result.type.quant == per_tensor.quant
    assert build_with(t.TopK, per_tensor, i64(2)).results[0].type.quant == per_tensor.quant


@pytest.mark.parametrize(("op_cls", "axis", "consts", "attrs", "message"), [
    (t.Reshape, 0, [i64(3, -1)], {}, "cannot follow"),
    (t.Pad, 0, [i64(1, 0, 0, 0, 0, 0, 0, 0)], {}, "cannot follow"),
    (t.DepthToSpace, 1, [], {"blocksize": 1}, "cannot follow"),
    (t.Trilu, 0, [], {}, "quantized"),
    (t.Resize, 0, [None, np.array([1, 1, 2, 2], np.float32)], {"mode": "linear"}, "float"),
    (t.TopK, 0, [i64(1)], {"axis": 0}, "sorted axis"),
    (t.GatherElements, 1, [np.zeros((4, 1, 2, 2), np.int64)], {}, "cannot follow"),
])
def test_quantization_that_cannot_follow_is_an_error(op_cls: type[Operation], axis: int,
                                                     consts: list[np.ndarray | None],
                                                     attrs: dict[str, object],
                                                     message: str) -> None:
    with pytest.raises(IRError, match=rf"{op_cls.OP_NAME}.*{message}"):
        build_with(op_cls, per_axis((4, 3, 2, 2), axis), *consts, **attrs)


def test_concat_quantization_rules() -> None:
    a, b = per_axis((2, 3), 0), per_axis((1, 3), 0)
    m = Function("q")
    va, vb = m.add_input("a", a), m.add_input("b", b)
    joined = t.Concat.build(va, vb, axis=0).result.type.quant
    assert joined is not None and joined.scale == (0.01, 0.02, 0.01)
    plain = m.add_input("p", tensor((1, 3), "i8"))
    with pytest.raises(IRError, match=r"onnx\.Concat.*quantized and unquantized"):
        t.Concat.build(va, plain, axis=0)
    with pytest.raises(IRError, match=r"onnx\.Concat.*different quantizations"):
        t.Concat.build(va, m.add_input("c", per_axis((2, 3), 1)), axis=0)


@pytest.mark.parametrize(("op_cls", "shape", "consts", "attrs", "message"), [
    (t.Reshape, (2, 3), [i64(4, -1)], {}, "cannot reshape"),
    (t.Reshape, (2, 3), [i64(-1, -1)], {}, "more than one -1"),
    (t.Reshape, (2, 3), [i64(5)], {}, "elements"),
    (t.Squeeze, (2, 3), [i64(0)], {}, "not 1"),
    (t.Unsqueeze, (2, 3), [i64(0, 0)], {}, "repeats"),
    (t.Transpose, (2, 3), [], {"perm": [0, 0]}, "permutation"),
    (t.Slice, (2, 3), [i64(0), i64(1), i64(0), i64(0)], {}, "steps"),
    (t.Split, (2, 6), [i64(1, 2)], {"axis": 1}, "sums to"),
    (t.Split, (2, 6), [], {"axis": 1}, "num_outputs"),
    (t.Split, (2, 6), [], {"axis": 1, "num_outputs": 4}, "equal parts"),
    (t.Gather, (2, 3), [i64(0)], {"axis": 2}, "out of range"),
    (t.Tile, (2, 3), [i64(2)], {}, "repeats"),
    (t.Expand, (2, 3), [i64(4, 3)], {}, "broadcast"),
    (t.Pad, (2, 3), [i64(0, -4, 0, 0)], {}, "crop"),
    (t.Resize, (1, 1, 2, 2), [None, np.array([1, 1, 2, 2], np.float32),
                              i64(1, 1, 4, 4)], {}, "exactly one"),
    (t.DepthToSpace, (1, 6, 2, 2), [], {"blocksize": 2}, "divide"),
    (t.TopK, (2, 3), [i64(4)], {}, "outside"),
    (t.OneHot, (2,), [i64(3), np.array([0, 1, 2], np.float32)], {}, "values"),
    (t.EyeLike, (2, 3, 4), [], {}, "rank"),
    (t.GatherND, (2, 3), [i64(0, 1, 2).reshape(1, 3)], {}, "last indices dim"),
])
def test_bad_operands_name_the_op(op_cls: type[Operation], shape: tuple[int, ...],
                                  consts: list[np.ndarray | None], attrs: dict[str, object],
                                  message: str) -> None:
    with pytest.raises(IRError, match=rf"{op_cls.OP_NAME}.*{message}"):
        build_with(op_cls, tensor(shape, "f32"), *consts, **attrs)


def test_shape_operands_must_be_constant() -> None:
    m = Function("t")
    x = m.add_input("x", tensor((2, 3), "f32"))
    shape = m.add_input("shape", tensor((1,), "i64"))
    with pytest.raises(IRError, match=r"onnx\.Reshape.*'shape' must be a constant"):
        t.Reshape.build(x, shape)
    with pytest.raises(IRError, match=r"onnx\.Range.*'start' must be a constant"):
        t.Range.build(shape, shape, shape)


def test_range_rejects_zero_delta() -> None:
    m = Function("t")
    ops = [Constant.of(np.array([v], np.int64)) for v in (0, 5, 0)]
    m.append(ops)
    with pytest.raises(IRError, match=r"onnx\.Range.*delta"):
        t.Range.build(*[o.result for o in ops])


def test_constant_of_shape_value_must_have_one_element() -> None:
    from furiosa.ir.verifier import verify_operation

    shape = Constant.of(i64(2, 3))
    op = t.ConstantOfShape.build(shape.result, value=Dense(np.array([1, 2])))
    with pytest.raises(IRError, match=r"onnx\.ConstantOfShape.*value"):
        verify_operation(op)


def test_scatter_updates_must_match_data() -> None:
    m = Function("t")
    data = m.add_input("d", tensor((3, 3), "f32"))
    idx = m.add_input("i", tensor((1, 3), "i64"))
    upd = m.add_input("u", tensor((1, 3), "f64"))
    with pytest.raises(IRError, match=r"onnx\.ScatterElements.*updates"):
        t.ScatterElements.build(data, idx, upd)


def test_nms_result_type() -> None:
    op = build_with(t.NonMaxSuppression, tensor((2, 6, 4), "f32"),
                    np.zeros((2, 3, 6), np.float32), i64(3))
    assert op.result.type == TensorType((DYNAMIC, 3), I64)
