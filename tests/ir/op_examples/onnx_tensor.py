"""Examples of the onnx tensor-manipulation ops (including quantized types carried through)."""

from __future__ import annotations

import numpy as np

from furiosa.ir.core import Dense
from furiosa.ir.dialects.onnx import tensor as t
from furiosa.ir.types import U8, ElementType, Quantization, TensorType
from tests.ir.op_examples import Example, example, single_op_module


def _f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def _i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def _per_axis(x: np.ndarray, axis: int) -> TensorType:
    n = x.shape[axis]
    return TensorType(x.shape, ElementType.from_dtype(x.dtype),
                      Quantization.per_axis([0.01 * (i + 1) for i in range(n)], [0] * n, axis))


def _per_tensor(x: np.ndarray, scale: float = 0.05, zero_point: int = 3) -> TensorType:
    return TensorType(x.shape, ElementType.from_dtype(x.dtype),
                      Quantization.per_tensor(scale, zero_point))


def _q8(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.integers(-128, 128, shape).astype(np.int8)


@example("onnx.Reshape")
def reshape_copy_and_infer() -> Example:
    rng = np.random.default_rng(1)
    return single_op_module(t.Reshape, [_f32(rng, 2, 3, 4), _i64(0, -1, 2)], constant=(1,))


@example("onnx.Reshape")
def reshape_per_axis_quant_follows() -> Example:
    rng = np.random.default_rng(2)
    x = _q8(rng, 4, 3, 2, 2)
    return single_op_module(t.Reshape, [x, _i64(4, 12)], constant=(1,),
                            quant_types={0: _per_axis(x, 0)})


@example("onnx.Flatten")
def flatten_axis_2() -> Example:
    rng = np.random.default_rng(3)
    return single_op_module(t.Flatten, [_f32(rng, 2, 3, 4, 5)], axis=2)


@example("onnx.Flatten")
def flatten_negative_axis_bool() -> Example:
    rng = np.random.default_rng(4)
    return single_op_module(t.Flatten, [rng.random((2, 3, 4)) > 0.5], axis=-1)


@example("onnx.Squeeze")
def squeeze_all_ones() -> Example:
    rng = np.random.default_rng(5)
    x = _q8(rng, 1, 3, 1, 2)
    return single_op_module(t.Squeeze, [x], quant_types={0: _per_axis(x, 1)})


@example("onnx.Squeeze")
def squeeze_axes() -> Example:
    rng = np.random.default_rng(6)
    return single_op_module(t.Squeeze, [_f32(rng, 1, 3, 1, 2), _i64(-2)], constant=(1,))


@example("onnx.Unsqueeze")
def unsqueeze_axes() -> Example:
    rng = np.random.default_rng(7)
    x = _q8(rng, 3, 4)
    return single_op_module(t.Unsqueeze, [x, _i64(0, -1)], constant=(1,),
                            quant_types={0: _per_axis(x, 1)})


@example("onnx.Transpose")
def transpose_perm() -> Example:
    rng = np.random.default_rng(8)
    x = _q8(rng, 2, 3, 4)
    return single_op_module(t.Transpose, [x], perm=[1, 2, 0], quant_types={0: _per_axis(x, 0)})


@example("onnx.Transpose")
def transpose_default_reverses() -> Example:
    rng = np.random.default_rng(9)
    return single_op_module(t.Transpose, [_f32(rng, 2, 3, 4)])


@example("onnx.DepthToSpace")
def depth_to_space_dcr() -> Example:
    rng = np.random.default_rng(10)
    return single_op_module(t.DepthToSpace, [_f32(rng, 1, 8, 2, 3)], blocksize=2)


@example("onnx.DepthToSpace")
def depth_to_space_crd() -> Example:
    rng = np.random.default_rng(11)
    return single_op_module(t.DepthToSpace, [_f32(rng, 2, 9, 2, 2)], blocksize=3, mode="CRD")


@example("onnx.SpaceToDepth")
def space_to_depth() -> Example:
    rng = np.random.default_rng(12)
    x = _q8(rng, 1, 2, 4, 6)
    return single_op_module(t.SpaceToDepth, [x], blocksize=2, quant_types={0: _per_tensor(x)})


@example("onnx.Concat")
def concat_three() -> Example:
    rng = np.random.default_rng(13)
    return single_op_module(t.Concat, [_f32(rng, 2, 1, 3), _f32(rng, 2, 4, 3),
                                       _f32(rng, 2, 2, 3)], axis=-2)


@example("onnx.Concat")
def concat_per_axis_scales_join() -> Example:
    rng = np.random.default_rng(14)
    a, b = _q8(rng, 2, 3), _q8(rng, 1, 3)
    return single_op_module(t.Concat, [a, b], axis=0,
                            quant_types={0: _per_axis(a, 0), 1: _per_axis(b, 0)})


@example("onnx.Split")
def split_sizes() -> Example:
    rng = np.random.default_rng(15)
    x = _q8(rng, 2, 6)
    return single_op_module(t.Split, [x, _i64(1, 2, 3)], constant=(1,), axis=1,
                            quant_types={0: _per_axis(x, 1)})


@example("onnx.Split")
def split_num_outputs() -> Example:
    rng = np.random.default_rng(16)
    return single_op_module(t.Split, [_f32(rng, 4, 3)], num_outputs=2)


@example("onnx.Tile")
def tile_repeats() -> Example:
    rng = np.random.default_rng(17)
    x = _q8(rng, 2, 3)
    return single_op_module(t.Tile, [x, _i64(2, 1)], constant=(1,),
                            quant_types={0: _per_axis(x, 0)})


@example("onnx.Expand")
def expand_bidirectional() -> Example:
    rng = np.random.default_rng(18)
    return single_op_module(t.Expand, [_f32(rng, 3, 1), _i64(2, 1, 4)], constant=(1,))


@example("onnx.Slice")
def slice_negative_steps() -> Example:
    rng = np.random.default_rng(19)
    x = _q8(rng, 4, 5, 6)
    return single_op_module(t.Slice, [x, _i64(-1, 1), _i64(-100, 6), _i64(0, 2), _i64(-2, 2)],
                            constant=(1, 2, 3, 4), quant_types={0: _per_axis(x, 0)})


@example("onnx.Slice")
def slice_default_axes_clamped() -> Example:
    rng = np.random.default_rng(20)
    big = np.iinfo(np.int64).max
    return single_op_module(t.Slice, [_f32(rng, 3, 4), _i64(1, -3), _i64(big, big)],
                            constant=(1, 2))


@example("onnx.Gather")
def gather_axis1() -> Example:
    rng = np.random.default_rng(21)
    return single_op_module(t.Gather, [_f32(rng, 2, 5, 3), np.array([[0, -1], [2, 3]],
                                                                     dtype=np.int32)], axis=1)


@example("onnx.Gather")
def gather_quantized_axis_constant_indices() -> Example:
    rng = np.random.default_rng(22)
    x = _q8(rng, 4, 3)
    return single_op_module(t.Gather, [x, _i64(3, 0)], constant=(1,),
                            quant_types={0: _per_axis(x, 0)})


@example("onnx.GatherElements")
def gather_elements() -> Example:
    rng = np.random.default_rng(23)
    return single_op_module(t.GatherElements, [_f32(rng, 3, 4), rng.integers(-4, 4, (3, 2))],
                            axis=1)


@example("onnx.GatherND")
def gather_nd_batch_dims() -> Example:
    rng = np.random.default_rng(24)
    idx = np.stack([rng.integers(0, 3, (2, 4)), rng.integers(0, 4, (2, 4))], axis=-1)
    return single_op_module(t.GatherND, [_f32(rng, 2, 3, 4, 5), idx], batch_dims=1)


@example("onnx.ScatterElements")
def scatter_elements() -> Example:
    rng = np.random.default_rng(25)
    idx = np.array([[1, 0], [0, 2], [2, -1]], dtype=np.int64)
    return single_op_module(t.ScatterElements, [_f32(rng, 3, 3), idx, _f32(rng, 3, 2)], axis=1)


@example("onnx.ScatterND")
def scatter_nd() -> Example:
    rng = np.random.default_rng(26)
    return single_op_module(t.ScatterND, [_f32(rng, 4, 3), np.array([[3], [-4]], np.int64),
                                          _f32(rng, 2, 3)])


@example("onnx.Compress")
def compress_axis() -> Example:
    rng = np.random.default_rng(27)
    return single_op_module(t.Compress, [_f32(rng, 3, 4), np.array([True, False, True])],
                            axis=0)


@example("onnx.Compress")
def compress_flattened() -> Example:
    rng = np.random.default_rng(28)
    return single_op_module(t.Compress, [_f32(rng, 2, 3), rng.random(6) > 0.4])


@example("onnx.Pad")
def pad_constant_value_and_crop() -> Example:
    rng = np.random.default_rng(29)
    return single_op_module(t.Pad, [_f32(rng, 3, 4), _i64(1, -1, 2, 2),
                                    np.array(2.5, np.float32)], constant=(1,))


@example("onnx.Pad")
def pad_reflect() -> Example:
    rng = np.random.default_rng(30)
    x = _q8(rng, 1, 2, 4, 5)
    return single_op_module(t.Pad, [x, _i64(0, 0, 2, 1, 0, 0, 1, 3)], constant=(1,),
                            mode="reflect", quant_types={0: _per_axis(x, 1)})


@example("onnx.Pad")
def pad_edge() -> Example:
    rng = np.random.default_rng(31)
    return single_op_module(t.Pad, [_f32(rng, 3, 3), _i64(2, 0, 0, 1)], constant=(1,),
                            mode="edge")


def _resize(x: np.ndarray, scales: list[float] | None,
            sizes: list[int] | None = None, roi: list[float] | None = None,
            **attributes: object) -> Example:
    inputs: list[np.ndarray | None] = [
        x,
        np.array(roi, np.float32) if roi is not None else None,
        np.array(scales, np.float32) if scales is not None else None,
        np.array(sizes, np.int64) if sizes is not None else None,
    ]
    while inputs[-1] is None:
        inputs.pop()
    return single_op_module(t.Resize, inputs, constant=(1, 2, 3), **attributes)


@example("onnx.Resize")
def resize_nearest_half_pixel() -> Example:
    rng = np.random.default_rng(32)
    return _resize(_f32(rng, 1, 2, 3, 4), [1, 1, 2, 1.5])


@example("onnx.Resize")
def resize_nearest_ceil_asymmetric_sizes() -> Example:
    rng = np.random.default_rng(33)
    x = rng.integers(0, 256, (1, 1, 5, 6)).astype(np.uint8)
    return _resize(x, None, [1, 1, 3, 9], coordinate_transformation_mode="asymmetric",
                   nearest_mode="ceil")


@example("onnx.Resize")
def resize_nearest_tf_half_pixel_for_nn() -> Example:
    rng = np.random.default_rng(34)
    return _resize(_f32(rng, 1, 1, 4, 4), [1, 1, 0.75, 1.5],
                   coordinate_transformation_mode="tf_half_pixel_for_nn",
                   nearest_mode="round_prefer_ceil")


@example("onnx.Resize")
def resize_nearest_floor_quantized() -> Example:
    rng = np.random.default_rng(35)
    x = _q8(rng, 1, 2, 3, 3)
    inputs = [x, None, np.array([1, 1, 2, 2], np.float32)]
    return single_op_module(t.Resize, inputs, constant=(2,), nearest_mode="floor",
                            quant_types={0: _per_axis(x, 1)})


@example("onnx.Resize")
def resize_linear_align_corners() -> Example:
    rng = np.random.default_rng(36)
    return _resize(_f32(rng, 1, 2, 4, 5), [1, 1, 1.5, 0.6], mode="linear",
                   coordinate_transformation_mode="align_corners")


@example("onnx.Resize")
def resize_linear_pytorch_half_pixel_3d() -> Example:
    rng = np.random.default_rng(37)
    return _resize(_f32(rng, 1, 1, 2, 3, 4), None, [1, 1, 4, 1, 6], mode="linear",
                   coordinate_transformation_mode="pytorch_half_pixel")


@example("onnx.Resize")
def resize_linear_tf_crop_and_resize() -> Example:
    rng = np.random.default_rng(38)
    return _resize(_f32(rng, 1, 1, 4, 4), [1, 1, 2, 2],
                   roi=[0, 0, -0.2, 0.1, 1, 1, 0.8, 1.3], mode="linear",
                   coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=-7.0)


@example("onnx.Resize")
def resize_cubic_exclude_outside() -> Example:
    rng = np.random.default_rng(39)
    return _resize(_f32(rng, 1, 2, 4, 5), [1, 1, 2, 1.4], mode="cubic",
                   cubic_coeff_a=-0.5, exclude_outside=1)


@example("onnx.Shape")
def shape_of() -> Example:
    rng = np.random.default_rng(40)
    return single_op_module(t.Shape, [_f32(rng, 2, 3, 4)])


@example("onnx.Size")
def size_of() -> Example:
    rng = np.random.default_rng(41)
    return single_op_module(t.Size, [rng.integers(0, 9, (2, 5)).astype(np.int32)])


@example("onnx.ConstantOfShape")
def constant_of_shape_default() -> Example:
    return single_op_module(t.ConstantOfShape, [_i64(2, 3)], constant=(0,))


@example("onnx.ConstantOfShape")
def constant_of_shape_int_value() -> Example:
    return single_op_module(t.ConstantOfShape, [_i64(3, 1, 2)], constant=(0,),
                            value=Dense(np.array([7], dtype=np.int32)))


@example("onnx.Range")
def range_float() -> Example:
    inputs = [np.array(1.5, np.float32), np.array(7.2, np.float32), np.array(0.3, np.float32)]
    return single_op_module(t.Range, inputs, constant=(0, 1, 2))


@example("onnx.Range")
def range_int_descending() -> Example:
    inputs = [np.array(10, np.int64), np.array(-3, np.int64), np.array(-4, np.int64)]
    return single_op_module(t.Range, inputs, constant=(0, 1, 2))


@example("onnx.EyeLike")
def eye_like_k() -> Example:
    rng = np.random.default_rng(42)
    return single_op_module(t.EyeLike, [_f32(rng, 3, 5)], k=2)


@example("onnx.EyeLike")
def eye_like_dtype() -> Example:
    rng = np.random.default_rng(43)
    return single_op_module(t.EyeLike, [rng.integers(0, 3, (4, 3))], k=-1, dtype="u8")


@example("onnx.OneHot")
def one_hot_axis0() -> Example:
    inputs = [np.array([[0, 3], [-1, 7]], np.int64), np.array(5, np.int64),
              np.array([2.0, 7.0], np.float32)]
    return single_op_module(t.OneHot, inputs, constant=(1,), axis=0)


@example("onnx.Trilu")
def trilu_lower_k() -> Example:
    rng = np.random.default_rng(44)
    return single_op_module(t.Trilu, [_f32(rng, 2, 3, 4), np.array(-1, np.int64)], upper=0)


@example("onnx.Trilu")
def trilu_upper() -> Example:
    rng = np.random.default_rng(45)
    return single_op_module(t.Trilu, [rng.integers(-5, 5, (4, 4)).astype(np.int32)])


@example("onnx.TopK")
def top_k_largest_ties() -> Example:
    rng = np.random.default_rng(46)
    return single_op_module(t.TopK, [rng.integers(0, 4, (3, 7)).astype(np.int32), _i64(4)],
                            constant=(1,))


@example("onnx.TopK")
def top_k_smallest_axis0_quantized() -> Example:
    rng = np.random.default_rng(47)
    x = rng.integers(0, 256, (5, 3)).astype(np.uint8)
    q = TensorType(x.shape, U8, Quantization.per_tensor(0.1, 128))
    return single_op_module(t.TopK, [x, _i64(2)], constant=(1,), axis=0, largest=0, sorted=0,
                            quant_types={0: q})


@example("onnx.NonZero")
def non_zero() -> Example:
    rng = np.random.default_rng(48)
    return single_op_module(t.NonZero, [rng.integers(0, 2, (3, 4)).astype(np.int32)])


@example("onnx.NonMaxSuppression")
def non_max_suppression_corners() -> Example:
    rng = np.random.default_rng(49)
    xy = rng.random((2, 12, 2)).astype(np.float32) * 4
    boxes = np.concatenate([xy, xy + rng.random((2, 12, 2)).astype(np.float32) * 2], axis=-1)
    inputs = [boxes, rng.random((2, 3, 12)).astype(np.float32), _i64(4),
              np.array([0.3], np.float32), np.array([0.2], np.float32)]
    return single_op_module(t.NonMaxSuppression, inputs, constant=(2, 3, 4))


@example("onnx.NonMaxSuppression")
def non_max_suppression_center_boxes() -> Example:
    rng = np.random.default_rng(50)
    boxes = np.concatenate([rng.random((1, 10, 2)) * 5, rng.random((1, 10, 2)) * 2 + 0.5],
                           axis=-1).astype(np.float32)
    inputs = [boxes, rng.random((1, 2, 10)).astype(np.float32), _i64(3),
              np.array([0.4], np.float32)]
    return single_op_module(t.NonMaxSuppression, inputs, constant=(2, 3), center_point_box=1)

