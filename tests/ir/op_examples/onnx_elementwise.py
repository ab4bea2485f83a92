"""Examples of the element-wise onnx ops (furiosa.ir.dialects.onnx.elementwise)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from furiosa.ir.core import Operation
from furiosa.ir.dialects.onnx import elementwise as ew
from furiosa.ir.types import Quantization, tensor
from tests.ir.op_examples import Example, example, single_op_module


def uniform(seed: int, shape: tuple[int, ...], lo: float = -3.0, hi: float = 3.0,
            dtype: type = np.float32) -> np.ndarray:
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(dtype)


def integers(seed: int, shape: tuple[int, ...], lo: int, hi: int, dtype: type) -> np.ndarray:
    return np.random.default_rng(seed).integers(lo, hi, shape).astype(dtype)


def register(op_cls: type[Operation], name: str, build: Callable[[], Example]) -> None:
    build.__name__ = name
    example(op_cls.OP_NAME)(build)


# Unary float ops without attributes, each on a range inside its domain.
_UNARY_RANGES: list[tuple[type[Operation], float, float]] = [
    (ew.Abs, -3, 3), (ew.Neg, -3, 3), (ew.Reciprocal, 0.5, 3), (ew.Floor, -3, 3),
    (ew.Ceil, -3, 3), (ew.Sign, -3, 3), (ew.Sqrt, 0, 4), (ew.Exp, -3, 3), (ew.Log, 0.1, 5),
    (ew.Erf, -3, 3), (ew.Tanh, -4, 4), (ew.Sigmoid, -6, 6), (ew.Sin, -3, 3), (ew.Cos, -3, 3),
    (ew.Tan, -1.5, 1.5), (ew.Asin, -0.95, 0.95), (ew.Acos, -0.95, 0.95), (ew.Atan, -3, 3),
    (ew.Sinh, -3, 3), (ew.Cosh, -3, 3), (ew.Asinh, -3, 3), (ew.Acosh, 1, 5),
    (ew.Atanh, -0.95, 0.95), (ew.Softplus, -5, 5), (ew.Softsign, -3, 3), (ew.Relu, -3, 3),
    (ew.HardSwish, -5, 5),
]


def _unary(op_cls: type[Operation], lo: float, hi: float, seed: int) -> Callable[[], Example]:
    return lambda: single_op_module(op_cls, [uniform(seed, (2, 3, 4), lo, hi)])


for _seed, (_cls, _lo, _hi) in enumerate(_UNARY_RANGES):
    register(_cls, f"{_cls.__name__.lower()}_f32", _unary(_cls, _lo, _hi, _seed))


# Unary ops with attributes, and other element types.
_UNARY_CASES: list[tuple[type[Operation], str, Callable[[], np.ndarray], dict[str, object]]] = [
    (ew.Abs, "abs_i32", lambda: integers(1, (3, 4), -50, 50, np.int32), {}),
    (ew.Neg, "neg_i8", lambda: integers(2, (5,), -128, 128, np.int8), {}),
    (ew.Sign, "sign_i32_zeros", lambda: np.array([-4, 0, 7, 0, -1], np.int32), {}),
    (ew.Round, "round_halves_to_even",
     lambda: np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4, -0.6], np.float32), {}),
    (ew.Erf, "erf_f64_tails", lambda: uniform(3, (4, 5), -6, 6, np.float64), {}),
    (ew.Relu, "relu_f16", lambda: uniform(4, (2, 8), dtype=np.float16), {}),
    (ew.LeakyRelu, "leaky_relu_alpha", lambda: uniform(5, (2, 3, 4)), {"alpha": 0.2}),
    (ew.Elu, "elu_alpha", lambda: uniform(6, (2, 3, 4)), {"alpha": 0.5}),
    (ew.Selu, "selu_default", lambda: uniform(7, (2, 3, 4)), {}),
    (ew.Selu, "selu_alpha_gamma", lambda: uniform(8, (2, 3, 4)), {"alpha": 1.5, "gamma": 1.2}),
    (ew.Celu, "celu_alpha", lambda: uniform(9, (2, 3, 4)), {"alpha": 2.0}),
    (ew.ThresholdedRelu, "thresholded_relu_alpha", lambda: uniform(10, (2, 3, 4)),
     {"alpha": 0.5}),
    (ew.HardSigmoid, "hard_sigmoid_alpha_beta", lambda: uniform(11, (2, 3, 4), -6, 6),
     {"alpha": 0.3, "beta": 0.4}),
    (ew.Shrink, "shrink_default", lambda: uniform(12, (2, 3, 4), -2, 2), {}),
    (ew.Shrink, "shrink_bias_lambd", lambda: uniform(13, (2, 3, 4), -2, 2),
     {"bias": 0.5, "lambd": 1.0}),
    (ew.Shrink, "shrink_i32", lambda: integers(14, (10,), -5, 6, np.int32),
     {"bias": 1.5, "lambd": 0.5}),
    (ew.Gelu, "gelu_erf", lambda: uniform(15, (2, 3, 4), -4, 4), {}),
    (ew.Gelu, "gelu_tanh", lambda: uniform(16, (2, 3, 4), -4, 4), {"approximate": "tanh"}),
    (ew.Not, "not_bool", lambda: np.random.default_rng(17).random((3, 4)) > 0.5, {}),
    (ew.IsNaN, "is_nan", lambda: np.array([1.0, np.nan, -np.inf, 0.0, np.nan], np.float32), {}),
    (ew.IsInf, "is_inf_both", lambda: np.array([1.0, np.inf, -np.inf, np.nan], np.float32), {}),
    (ew.IsInf, "is_inf_positive_only", lambda: np.array([np.inf, -np.inf, 0.0], np.float64),
     {"detect_negative": 0}),
    (ew.IsInf, "is_inf_negative_only", lambda: np.array([np.inf, -np.inf, 0.0], np.float32),
     {"detect_positive": 0}),
    (ew.Cast, "cast_f32_to_i32", lambda: uniform(18, (3, 4), -100, 100), {"to": "i32"}),
    (ew.Cast, "cast_f64_to_u8", lambda: uniform(19, (3, 4), 0, 255, np.float64), {"to": "u8"}),
    (ew.Cast, "cast_i64_to_f16", lambda: integers(20, (6,), -1000, 1000, np.int64), {"to": "f16"}),
    (ew.Cast, "cast_i32_to_bool", lambda: integers(21, (6,), -2, 3, np.int32), {"to": "bool"}),
    (ew.Cast, "cast_bool_to_f32", lambda: np.array([True, False, True]), {"to": "f32"}),
]


def _unary_case(op_cls: type[Operation], make: Callable[[], np.ndarray],
                attrs: dict[str, object]) -> Callable[[], Example]:
    return lambda: single_op_module(op_cls, [make()], **attrs)


for _cls, _name, _make, _attrs in _UNARY_CASES:
    register(_cls, _name, _unary_case(_cls, _make, _attrs))


@example("onnx.Clip")
def clip_min_max() -> Example:
    return single_op_module(ew.Clip, [uniform(30, (2, 3, 4)), np.array(-1.0, np.float32),
                                      np.array(1.5, np.float32)])


@example("onnx.Clip")
def clip_min_only_input() -> Example:
    return single_op_module(ew.Clip, [uniform(31, (2, 3, 4)), np.array([0.25], np.float32)])


@example("onnx.Clip")
def clip_i32_max_only() -> Example:
    return single_op_module(ew.Clip, [integers(32, (3, 4), -20, 20, np.int32), None,
                                      np.array([5], np.int32)], constant=[2])


@example("onnx.Clip")
def clip_no_bounds() -> Example:
    return single_op_module(ew.Clip, [uniform(33, (4,))])


# --------------------------------------------------------------------------- binary

_BINARY_CASES: list[tuple[type[Operation], str, Callable[[], list[np.ndarray]],
                          dict[str, object]]] = [
    (ew.Add, "add_broadcast", lambda: [uniform(40, (2, 3, 4)), uniform(41, (3, 1))], {}),
    (ew.Add, "add_i64", lambda: [integers(42, (3, 4), -99, 99, np.int64),
                                 integers(43, (4,), -99, 99, np.int64)], {}),
    (ew.Sub, "sub_broadcast", lambda: [uniform(44, (4, 1)), uniform(45, (1, 5))], {}),
    (ew.Mul, "mul_i32_wraps", lambda: [integers(46, (6,), -2**30, 2**30, np.int32),
                                       integers(47, (6,), -8, 8, np.int32)], {}),
    (ew.Div, "div_f32", lambda: [uniform(48, (2, 3)), uniform(49, (3,), 0.5, 2)], {}),
    (ew.Div, "div_i32_truncates", lambda: [np.array([-7, 7, -7, 7, 6, -1], np.int32),
                                           np.array([2, 2, -2, -2, 3, 4], np.int32)], {}),
    (ew.Pow, "pow_f32", lambda: [uniform(50, (2, 3), 0.1, 3), uniform(51, (2, 3), -2, 2)], {}),
    (ew.Pow, "pow_f32_by_i8", lambda: [uniform(52, (2, 3)), np.array([0, 1, 3], np.int8)], {}),
    (ew.Pow, "pow_i64_by_i32", lambda: [integers(53, (2, 4), -5, 6, np.int64),
                                        integers(54, (4,), -1, 4, np.int32)], {}),
    (ew.Mod, "mod_i32_floored", lambda: [np.array([-7, 7, -7, 7, 5], np.int32),
                                         np.array([2, 3, -2, -3, 5], np.int32)], {}),
    (ew.Mod, "mod_f32_fmod", lambda: [uniform(55, (3, 4), -5, 5), uniform(56, (4,), 0.5, 2)],
     {"fmod": 1}),
    (ew.BitShift, "bit_shift_left_u8", lambda: [integers(57, (2, 4), 0, 256, np.uint8),
                                                np.array([0, 1, 3, 7], np.uint8)],
     {"direction": "LEFT"}),
    (ew.BitShift, "bit_shift_right_u32", lambda: [integers(58, (5,), 0, 2**32, np.uint32),
                                                  np.array(4, np.uint32)],
     {"direction": "RIGHT"}),
    (ew.And, "and_broadcast", lambda: [np.array([[True], [False]]),
                                       np.array([True, False, True])], {}),
    (ew.Or, "or_bool", lambda: [np.array([True, False, False]), np.array([True, True, False])], {}),
    (ew.Xor, "xor_bool", lambda: [np.array([True, False, False]),
                                  np.array([True, True, False])], {}),
    (ew.Equal, "equal_i32", lambda: [integers(59, (3, 4), 0, 3, np.int32),
                                     integers(60, (4,), 0, 3, np.int32)], {}),
    (ew.Equal, "equal_bool", lambda: [np.array([True, False]), np.array([[True], [False]])], {}),
    (ew.Less, "less_f32", lambda: [np.floor(uniform(61, (3, 4))), np.floor(uniform(62, (4,)))], {}),
    (ew.Greater, "greater_f32", lambda: [np.floor(uniform(63, (3, 4))),
                                         np.floor(uniform(64, (3, 1)))], {}),
    (ew.LessOrEqual, "less_or_equal_i64", lambda: [integers(65, (3, 4), 0, 4, np.int64),
                                                   integers(66, (4,), 0, 4, np.int64)], {}),
    (ew.GreaterOrEqual, "greater_or_equal_u8", lambda: [integers(67, (3, 4), 0, 4, np.uint8),
                                                        integers(68, (4,), 0, 4, np.uint8)], {}),
    (ew.PRelu, "prelu_per_channel", lambda: [uniform(69, (2, 3, 4, 4)),
                                             uniform(70, (3, 1, 1), 0, 0.5)], {}),
    (ew.PRelu, "prelu_scalar_slope", lambda: [uniform(71, (2, 5)), np.array([0.1], np.float32)],
     {}),
]


def _binary_case(op_cls: type[Operation], make: Callable[[], list[np.ndarray]],
                 attrs: dict[str, object]) -> Callable[[], Example]:
    return lambda: single_op_module(op_cls, make(), **attrs)


for _cls, _name, _make, _attrs in _BINARY_CASES:
    register(_cls, _name, _binary_case(_cls, _make, _attrs))


@example("onnx.Where")
def where_broadcast() -> Example:
    cond = np.random.default_rng(80).random((3, 1)) > 0.5
    return single_op_module(ew.Where, [cond, uniform(81, (3, 4)), uniform(82, (4,))])


@example("onnx.Where")
def where_quantized_per_tensor() -> Example:
    q = Quantization.per_tensor(0.05, 3)
    x = integers(83, (2, 3), -128, 128, np.int8)
    y = integers(84, (2, 3), -128, 128, np.int8)
    cond = np.random.default_rng(85).random((2, 3)) > 0.5
    return single_op_module(ew.Where, [cond, x, y],
                            quant_types={1: tensor((2, 3), "i8", q), 2: tensor((2, 3), "i8", q)})


# --------------------------------------------------------------------------- variadic


@example("onnx.Max")
def max_three_broadcast() -> Example:
    return single_op_module(ew.Max, [uniform(90, (2, 3)), uniform(91, (3,)), uniform(92, (2, 1))])


@example("onnx.Max")
def max_single_i32() -> Example:
    return single_op_module(ew.Max, [integers(93, (3, 2), -9, 9, np.int32)])


@example("onnx.Min")
def min_two_u8() -> Example:
    return single_op_module(ew.Min, [integers(94, (2, 3), 0, 255, np.uint8),
                                     integers(95, (3,), 0, 255, np.uint8)])


@example("onnx.Sum")
def sum_three() -> Example:
    return single_op_module(ew.Sum, [uniform(96, (2, 3)), uniform(97, (2, 3)), uniform(98, (3,))])


@example("onnx.Mean")
def mean_two_broadcast() -> Example:
    return single_op_module(ew.Mean, [uniform(99, (4, 1)), uniform(100, (3,))])


# --------------------------------------------------------------------------- Dropout


@example("onnx.Dropout")
def dropout_inference() -> Example:
    return single_op_module(ew.Dropout, [uniform(110, (2, 3, 4))])


@example("onnx.Dropout")
def dropout_with_mask_and_seed() -> Example:
    return single_op_module(ew.Dropout, [uniform(111, (2, 3)), np.array(0.2, np.float32),
                                         np.array(False)], seed=7, with_mask=1)
