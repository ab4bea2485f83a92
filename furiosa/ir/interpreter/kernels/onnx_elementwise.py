"""Kernels of the element-wise onnx ops (furiosa.ir.dialects.onnx.elementwise).

Integer arithmetic wraps like onnxruntime's C++ (numpy keeps the operand dtype). Where
onnxruntime computes an integer result in floating point (Pow in double, Shrink in float), so
do these kernels, truncating back toward zero. Casts are numpy's C casts, which on x86-64 give onnxruntime's
results even out of range (NaN and overflowing floats become INT_MIN, narrower integer types
take the low bits of that).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from furiosa.ir.core import Operation
from furiosa.ir.dialects.onnx import elementwise as ew
from furiosa.ir.interpreter import kernel

Array = np.ndarray


def trunc_divide(a: Array, b: Array) -> Array:
    """Integer a / b rounded toward zero (C semantics); division by zero is an error."""
    if np.any(b == 0):
        # run_op reports this as an InterpreterError naming the op.
        raise ValueError("integer division by zero")
    q = np.floor_divide(a, b)
    # Floor and truncation differ when the exact quotient is negative and not an integer.
    inexact_negative = (np.remainder(a, b) != 0) & ((a < 0) != (b < 0))
    return q + inexact_negative.astype(q.dtype)


def erf(x: Array) -> Array:
    """The error function in float64, to within a few ulp.

    numpy has no erf, so: for |x| < 3 the series erf(x) = 2/sqrt(pi) e^(-x^2)
    sum 2^n x^(2n+1) / (2n+1)!! (all terms positive, so no cancellation); beyond, erfc by its
    continued fraction, which converges fast there.
    """
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    out = np.ones_like(a)
    near = a < 3.0
    s = a[near]
    term = s.copy()
    total = s.copy()
    two_s2 = 2 * s * s
    for n in range(1, 50):
        term = term * two_s2 / (2 * n + 1)
        total += term
    out[near] = 2 / math.sqrt(math.pi) * np.exp(-s * s) * total
    far = ~near & ~np.isnan(a)
    # erfc(30) is far below the smallest double; clipping keeps b * b finite.
    b = np.minimum(a[far], 30.0)
    t = b.copy()
    for k in range(40, 0, -1):
        t = b + (k / 2) / t
    out[far] = 1 - np.exp(-b * b) / (math.sqrt(math.pi) * t)
    out[np.isnan(a)] = np.nan
    return np.copysign(out, x)


def _sigmoid(x: Array) -> Array:
    # e^-|x| never overflows; both branches are the same function written stably.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _in_float64(fn: Callable[[Array], Array]) -> Callable[[Array], Array]:
    """Compute ``fn`` in float64 and cast back to the operand dtype."""
    return lambda x: fn(x.astype(np.float64)).astype(x.dtype)


def _softplus(x: Array) -> Array:
    return np.logaddexp(np.zeros((), x.dtype), x)


def _hardswish(x: Array) -> Array:
    return x * np.clip(x / 6 + 0.5, 0, 1)


# Unary ops without attributes: op class -> numpy function of the operand.
_UNARY: dict[type[Operation], Callable[[Array], Array]] = {
    ew.Abs: np.abs, ew.Neg: np.negative, ew.Reciprocal: np.reciprocal, ew.Floor: np.floor,
    ew.Ceil: np.ceil, ew.Round: np.rint, ew.Sign: np.sign, ew.Sqrt: np.sqrt, ew.Exp: np.exp,
    ew.Log: np.log, ew.Erf: _in_float64(erf), ew.Tanh: np.tanh, ew.Sigmoid: _sigmoid,
    ew.Sin: np.sin, ew.Cos: np.cos, ew.Tan: np.tan, ew.Asin: np.arcsin, ew.Acos: np.arccos,
    ew.Atan: np.arctan, ew.Sinh: np.sinh, ew.Cosh: np.cosh, ew.Asinh: np.arcsinh,
    ew.Acosh: np.arccosh, ew.Atanh: np.arctanh, ew.Softplus: _softplus,
    ew.Softsign: lambda x: x / (1 + np.abs(x)), ew.Relu: lambda x: np.maximum(x, x.dtype.type(0)),
    ew.HardSwish: _hardswish, ew.Not: np.logical_not, ew.IsNaN: np.isnan,
}


def _unary_kernel(fn: Callable[[Array], Array]) -> Callable[[Operation, Array], list[Array]]:
    def run(op: Operation, x: Array) -> list[Array]:
        return [fn(x)]

    return run


for _cls, _fn in _UNARY.items():
    kernel(_cls)(_unary_kernel(_fn))


@kernel(ew.LeakyRelu)
def _leaky_relu(op: ew.LeakyRelu, x: Array) -> list[Array]:
    return [np.where(x >= 0, x, op.alpha * x)]


@kernel(ew.Elu)
def _elu(op: ew.Elu, x: Array) -> list[Array]:
    return [np.where(x >= 0, x, op.alpha * np.expm1(x))]


@kernel(ew.Selu)
def _selu(op: ew.Selu, x: Array) -> list[Array]:
    return [op.gamma * np.where(x > 0, x, op.alpha * np.expm1(x))]


@kernel(ew.Celu)
def _celu(op: ew.Celu, x: Array) -> list[Array]:
    return [np.maximum(x, 0) + np.minimum(0, op.alpha * np.expm1(x / op.alpha))]


@kernel(ew.ThresholdedRelu)
def _thresholded_relu(op: ew.ThresholdedRelu, x: Array) -> list[Array]:
    return [np.where(x > op.alpha, x, x.dtype.type(0))]


@kernel(ew.HardSigmoid)
def _hard_sigmoid(op: ew.HardSigmoid, x: Array) -> list[Array]:
    return [np.clip(op.alpha * x + op.beta, 0, 1)]


@kernel(ew.Shrink)
def _shrink(op: ew.Shrink, x: Array) -> list[Array]:
    # onnxruntime adds the float bias to x in float (double for double x), then converts back,
    # truncating integers; computing the same way gives its results even where float rounds.
    xf = x.astype(np.float64 if x.dtype == np.float64 else np.float32)
    lambd, bias = xf.dtype.type(op.lambd), xf.dtype.type(op.bias)
    y = np.where(xf < -lambd, xf + bias, np.where(xf > lambd, xf - bias, xf.dtype.type(0)))
    return [y.astype(x.dtype)]


@kernel(ew.Gelu)
def _gelu(op: ew.Gelu, x: Array) -> list[Array]:
    xf = x.astype(np.float64)
    if op.approximate == "tanh":
        cdf = 0.5 * (1 + np.tanh(math.sqrt(2 / math.pi) * (xf + 0.044715 * xf**3)))
    else:
        cdf = 0.5 * (1 + erf(xf / math.sqrt(2)))
    return [(xf * cdf).astype(x.dtype)]


@kernel(ew.IsInf)
def _is_inf(op: ew.IsInf, x: Array) -> list[Array]:
    pos = (x == np.inf) & bool(op.detect_positive)
    neg = (x == -np.inf) & bool(op.detect_negative)
    return [pos | neg]


@kernel(ew.Clip)
def _clip(op: ew.Clip, x: Array, lo: Array | None = None, hi: Array | None = None) -> list[Array]:
    # An absent bound is the type's lowest / highest finite value (so a float inf is clipped);
    # max then min, as onnxruntime: with min > max every element becomes max; NaN stays NaN.
    info = np.finfo(x.dtype) if x.dtype.kind == "f" else np.iinfo(x.dtype)
    low = info.min if lo is None else lo.reshape(())
    high = info.max if hi is None else hi.reshape(())
    return [np.minimum(np.maximum(x, low), high)]


@kernel(ew.Cast)
def _cast(op: ew.Cast, x: Array) -> list[Array]:
    return [x.astype(op.to.dtype)]


# --------------------------------------------------------------------------- binary


def _binary_kernel(fn: Callable[[Array, Array], Array]) -> Callable[..., list[Array]]:
    def run(op: Operation, a: Array, b: Array) -> list[Array]:
        return [fn(a, b)]

    return run


_BINARY: dict[type[Operation], Callable[[Array, Array], Array]] = {
    ew.Add: np.add, ew.Sub: np.subtract, ew.Mul: np.multiply,
    ew.And: np.logical_and, ew.Or: np.logical_or, ew.Xor: np.logical_xor,
    ew.Equal: np.equal, ew.Less: np.less, ew.Greater: np.greater,
    ew.LessOrEqual: np.less_equal, ew.GreaterOrEqual: np.greater_equal,
}

for _cls, _fn in _BINARY.items():
    kernel(_cls)(_binary_kernel(_fn))


@kernel(ew.Div)
def _div(op: ew.Div, a: Array, b: Array) -> list[Array]:
    if a.dtype.kind == "f":
        return [np.true_divide(a, b)]
    return [trunc_divide(a, b)]


@kernel(ew.Pow)
def _pow(op: ew.Pow, x: Array, y: Array) -> list[Array]:
    # onnxruntime computes integer powers with std::pow in double and converts the result
    # (truncating; 2^-1 is 0); floats are computed in double too and rounded once.
    return [np.power(x.astype(np.float64), y.astype(np.float64)).astype(x.dtype)]


@kernel(ew.Mod)
def _mod(op: ew.Mod, a: Array, b: Array) -> list[Array]:
    if a.dtype.kind != "f" and np.any(b == 0):
        raise ValueError("integer modulo by zero")
    return [np.fmod(a, b) if op.fmod else np.remainder(a, b)]


@kernel(ew.BitShift)
def _bit_shift(op: ew.BitShift, x: Array, y: Array) -> list[Array]:
    # numpy defines shifts by the bit width or more as 0, as onnxruntime's results are.
    return [np.left_shift(x, y) if op.direction == "LEFT" else np.right_shift(x, y)]


@kernel(ew.PRelu)
def _prelu(op: ew.PRelu, x: Array, slope: Array) -> list[Array]:
    return [np.where(x < 0, slope * x, x).astype(x.dtype)]


@kernel(ew.Where)
def _where(op: ew.Where, condition: Array, x: Array, y: Array) -> list[Array]:
    return [np.where(condition, x, y)]


# --------------------------------------------------------------------------- variadic


@kernel(ew.Max)
def _max(op: ew.Max, *xs: Array) -> list[Array]:
    return [functools.reduce(np.maximum, xs)]


@kernel(ew.Min)
def _min(op: ew.Min, *xs: Array) -> list[Array]:
    return [functools.reduce(np.minimum, xs)]


@kernel(ew.Sum)
def _sum(op: ew.Sum, *xs: Array) -> list[Array]:
    return [functools.reduce(np.add, xs)]


@kernel(ew.Mean)
def _mean(op: ew.Mean, *xs: Array) -> list[Array]:
    total = functools.reduce(np.add, xs)
    return [(total / len(xs)).astype(xs[0].dtype)]


# --------------------------------------------------------------------------- Dropout


@kernel(ew.Dropout)
def _dropout(op: ew.Dropout, data: Array, ratio: Array | None = None,
             training_mode: Array | None = None) -> list[Array]:
    r = op.DEFAULT_RATIO if ratio is None else float(ratio.reshape(-1)[0])
    if training_mode is not None and bool(training_mode.reshape(-1)[0]) and r != 0:
        raise ValueError(f"training-mode dropout with ratio {r} is random; "
                         "the interpreter runs inference semantics only")
    if op.with_mask:
        return [data, np.ones(data.shape, dtype=np.bool_)]
    return [data]
