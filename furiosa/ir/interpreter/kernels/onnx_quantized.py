"""Kernels of the quantized onnx ops, following onnxruntime's CPU numerics.

Integer products accumulate exactly (in float64, exact for any int8 product sum below 2^53,
so BLAS does the work) and requantize in float32: ``saturate(round_half_even(acc * M) + zp)``
with ``M`` formed in float32 in onnxruntime's order. Element-wise ops dequantize to float32,
compute, and quantize with ``round_half_even(v / scale) + zp``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from furiosa.ir.dialects.onnx.nn import Window, window_geometry
from furiosa.ir.dialects.onnx.quantized import (
    ConvInteger,
    DequantizeLinear,
    DynamicQuantizeLinear,
    MatMulInteger,
    QGemm,
    QLinearAdd,
    QLinearAveragePool,
    QLinearConcat,
    QLinearConv,
    QLinearGlobalAveragePool,
    QLinearLeakyRelu,
    QLinearMatMul,
    QLinearMul,
    QLinearSigmoid,
    QuantizeLinear,
)
from furiosa.ir.interpreter import kernel
from furiosa.ir.interpreter.kernels.onnx_nn import convolve, pad_spatial, window_slices

F32 = np.float32


def scalar(a: np.ndarray | None, default: float | int = 0) -> np.ndarray:
    return np.asarray(a).reshape(()) if a is not None else np.asarray(default)


def saturate(v: np.ndarray, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(v, info.min, info.max).astype(dtype)


def requantize(acc: np.ndarray, multiplier: np.ndarray, zero_point: np.ndarray,
               dtype: np.dtype) -> np.ndarray:
    """saturate(round_half_even(float32(acc) * multiplier) + zero_point)."""
    v = np.rint(acc.astype(F32) * multiplier.astype(F32))
    return saturate(v + zero_point.astype(F32), dtype)


def quantize(real: np.ndarray, scale: np.ndarray, zero_point: np.ndarray,
             dtype: np.dtype) -> np.ndarray:
    """saturate(round_half_even(real / scale) + zero_point), all in float32."""
    v = np.rint(real.astype(F32) / scale.astype(F32))
    return saturate(v + zero_point.astype(F32), dtype)


def dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray) -> np.ndarray:
    """float32(q - zero_point) * scale."""
    return (q.astype(np.int64) - zero_point.astype(np.int64)).astype(F32) * scale.astype(F32)


def along(a: np.ndarray | None, axis: int, rank: int) -> np.ndarray:
    """A per-tensor (one-element) or 1-D per-axis parameter shaped to broadcast along ``axis``."""
    if a is None:
        return np.zeros((), dtype=np.int64)
    a = np.asarray(a)
    if a.size == 1:
        return a.reshape(())
    return a.reshape([-1 if i == axis else 1 for i in range(rank)])


def shifted(q: np.ndarray, zero_point: np.ndarray) -> np.ndarray:
    """q - zero_point as float64 (exact), ready for a BLAS product."""
    return q.astype(np.float64) - zero_point.astype(np.float64)


def exact_int32(acc: np.ndarray) -> np.ndarray:
    return np.rint(acc).astype(np.int64).astype(np.int32)


# --------------------------------------------------------------------------- QDQ


@kernel(QuantizeLinear)
def _quantize_linear(op: QuantizeLinear, x: np.ndarray, scale: np.ndarray,
                     zero_point: np.ndarray | None = None) -> list[np.ndarray]:
    dtype = zero_point.dtype if zero_point is not None else np.dtype(np.uint8)
    axis = op.axis % x.ndim if x.ndim else 0
    return [quantize(x, along(scale, axis, x.ndim), along(zero_point, axis, x.ndim), dtype)]


@kernel(DequantizeLinear)
def _dequantize_linear(op: DequantizeLinear, x: np.ndarray, scale: np.ndarray,
                       zero_point: np.ndarray | None = None) -> list[np.ndarray]:
    axis = op.axis % x.ndim if x.ndim else 0
    return [dequantize(x, along(scale, axis, x.ndim), along(zero_point, axis, x.ndim))]


@kernel(DynamicQuantizeLinear)
def _dynamic_quantize_linear(op: DynamicQuantizeLinear, x: np.ndarray) -> list[np.ndarray]:
    lo = min(F32(0), F32(x.min())) if x.size else F32(0)
    hi = max(F32(0), F32(x.max())) if x.size else F32(0)
    scale = F32((hi - lo) / F32(255))
    if scale == 0:
        # An all-zero input: onnxruntime gives scale 1, zero point 0 and y all zeros.
        return [np.zeros(x.shape, np.uint8), np.array(1, F32), np.array(0, np.uint8)]
    zp = np.uint8(np.rint(np.clip(F32(0) - lo / scale, 0, 255)))
    return [quantize(x, np.asarray(scale), np.asarray(zp), np.dtype(np.uint8)),
            np.array(scale, F32), np.array(zp, np.uint8)]


# --------------------------------------------------------------------------- integer products


def integer_conv(op: ConvInteger | QLinearConv, x: np.ndarray, x_zp: np.ndarray | None,
                 w: np.ndarray, w_zp: np.ndarray | None) -> np.ndarray:
    """int32 convolution of the zero-point-shifted operands (padding is the zero point)."""
    window = window_geometry(op, x.shape[2:], w.shape[2:], op.strides, op.dilations, op.pads,
                             op.auto_pad)
    xs = shifted(x, scalar(x_zp))
    ws = shifted(w, along(w_zp, 0, w.ndim))
    return exact_int32(convolve(xs, ws, op.group, window))


@kernel(ConvInteger)
def _conv_integer(op: ConvInteger, x: np.ndarray, w: np.ndarray,
                  x_zp: np.ndarray | None = None,
                  w_zp: np.ndarray | None = None) -> list[np.ndarray]:
    return [integer_conv(op, x, x_zp, w, w_zp)]


@kernel(QLinearConv)
def _qlinear_conv(op: QLinearConv, x: np.ndarray, x_scale: np.ndarray, x_zp: np.ndarray,
                  w: np.ndarray, w_scale: np.ndarray, w_zp: np.ndarray, y_scale: np.ndarray,
                  y_zp: np.ndarray, b: np.ndarray | None = None) -> list[np.ndarray]:
    acc = integer_conv(op, x, x_zp, w, w_zp).astype(np.int64)
    channel = (-1, *([1] * (acc.ndim - 2)))
    if b is not None:
        acc = acc + b.astype(np.int64).reshape(channel)
    multiplier = (scalar(x_scale).astype(F32) * np.asarray(w_scale, F32).reshape(-1)
                  / scalar(y_scale).astype(F32))
    return [requantize(acc.astype(np.int32), multiplier.reshape(channel if multiplier.size > 1
                                                                else ()), scalar(y_zp),
                       y_zp.dtype)]


def matmul_param(a: np.ndarray | None, rows: bool) -> np.ndarray:
    """A zero point or scale per tensor, per row of the left operand (``rows``) or per column
    of the right one, shaped to broadcast against a (promoted, rank >= 2) matmul operand."""
    if a is None:
        return np.zeros((), np.int64)
    a = np.asarray(a)
    if a.size == 1:
        return a.reshape(())
    return a.reshape(-1, 1) if rows else a.reshape(-1)


def integer_matmul(a: np.ndarray, a_zp: np.ndarray | None, b: np.ndarray, b_zp: np.ndarray | None,
                   ) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """int32 (a - a_zp) @ (b - b_zp) on 1-D operands promoted to matrices, and the function
    that drops the promoted axes again."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    acc = exact_int32(np.matmul(shifted(a2, matmul_param(a_zp, True)),
                                shifted(b2, matmul_param(b_zp, False))))

    def squeeze(y: np.ndarray) -> np.ndarray:
        if b.ndim == 1:
            y = y[..., 0]
        if a.ndim == 1:
            y = y[..., 0, :] if b.ndim > 1 else y[..., 0]
        return y

    return acc, squeeze


@kernel(MatMulInteger)
def _matmul_integer(op: MatMulInteger, a: np.ndarray, b: np.ndarray,
                    a_zp: np.ndarray | None = None,
                    b_zp: np.ndarray | None = None) -> list[np.ndarray]:
    acc, squeeze = integer_matmul(a, a_zp, b, b_zp)
    return [squeeze(acc)]


@kernel(QLinearMatMul)
def _qlinear_matmul(op: QLinearMatMul, a: np.ndarray, a_scale: np.ndarray, a_zp: np.ndarray,
                    b: np.ndarray, b_scale: np.ndarray, b_zp: np.ndarray, y_scale: np.ndarray,
                    y_zp: np.ndarray) -> list[np.ndarray]:
    acc, squeeze = integer_matmul(a, a_zp, b, b_zp)
    multiplier = (matmul_param(a_scale, True).astype(F32) * matmul_param(b_scale, False).astype(F32)
                  / scalar(y_scale).astype(F32))
    return [squeeze(requantize(acc, multiplier, scalar(y_zp), y_zp.dtype))]


@kernel(QGemm)
def _qgemm(op: QGemm, a: np.ndarray, a_scale: np.ndarray, a_zp: np.ndarray, b: np.ndarray,
           b_scale: np.ndarray, b_zp: np.ndarray, c: np.ndarray | None = None,
           y_scale: np.ndarray | None = None, y_zp: np.ndarray | None = None) -> list[np.ndarray]:
    a2 = a.T if op.transA else a
    bzp = np.asarray(b_zp).reshape(-1) if np.asarray(b_zp).size > 1 else scalar(b_zp)
    b2 = shifted(b.T if op.transB else b, bzp)
    acc = np.matmul(shifted(a2, scalar(a_zp)), b2)
    if c is not None:
        acc = acc + c.astype(np.float64)
    acc = exact_int32(acc)
    scale = F32(op.alpha) * scalar(a_scale).astype(F32) * np.asarray(b_scale, F32).reshape(-1)
    if scale.size == 1:
        scale = scale.reshape(())
    if y_scale is not None:
        scale = scale / scalar(y_scale).astype(F32)
    if y_zp is None:
        return [acc.astype(F32) * scale]
    return [requantize(acc, scale, scalar(y_zp), y_zp.dtype)]


# --------------------------------------------------------------------------- element-wise


@kernel(QLinearAdd)
def _qlinear_add(op: QLinearAdd, a: np.ndarray, a_scale: np.ndarray, a_zp: np.ndarray | None,
                 b: np.ndarray, b_scale: np.ndarray, b_zp: np.ndarray | None,
                 c_scale: np.ndarray, c_zp: np.ndarray | None = None) -> list[np.ndarray]:
    real = (dequantize(a, scalar(a_scale), scalar(a_zp))
            + dequantize(b, scalar(b_scale), scalar(b_zp)))
    return [quantize(real, scalar(c_scale), scalar(c_zp), a.dtype)]


@kernel(QLinearMul)
def _qlinear_mul(op: QLinearMul, a: np.ndarray, a_scale: np.ndarray, a_zp: np.ndarray | None,
                 b: np.ndarray, b_scale: np.ndarray, b_zp: np.ndarray | None,
                 c_scale: np.ndarray, c_zp: np.ndarray | None = None) -> list[np.ndarray]:
    # onnxruntime multiplies the exact integer product by a_scale * b_scale / c_scale.
    product = ((a.astype(np.int64) - scalar(a_zp).astype(np.int64))
               * (b.astype(np.int64) - scalar(b_zp).astype(np.int64)))
    ratio = scalar(a_scale).astype(F32) * scalar(b_scale).astype(F32) / scalar(c_scale).astype(F32)
    return [requantize(product, ratio, scalar(c_zp), a.dtype)]


def _unary(f: Callable[[QLinearSigmoid | QLinearLeakyRelu, np.ndarray], np.ndarray],
           ) -> Callable[..., list[np.ndarray]]:
    def run(op: QLinearSigmoid | QLinearLeakyRelu, x: np.ndarray, x_scale: np.ndarray,
            x_zp: np.ndarray | None, y_scale: np.ndarray,
            y_zp: np.ndarray | None = None) -> list[np.ndarray]:
        # onnxruntime evaluates these as a 256-entry table; computing each entry directly
        # gives the same values.
        real = f(op, dequantize(x, scalar(x_scale), scalar(x_zp)))
        return [quantize(real, scalar(y_scale), scalar(y_zp), x.dtype)]

    return run


def _sigmoid(op: QLinearSigmoid | QLinearLeakyRelu, v: np.ndarray) -> np.ndarray:
    return (F32(1) / (F32(1) + np.exp(-v))).astype(F32)


def _leaky_relu(op: QLinearSigmoid | QLinearLeakyRelu, v: np.ndarray) -> np.ndarray:
    alpha = F32(getattr(op, "alpha", 0.0))
    return np.where(v >= 0, v, v * alpha).astype(F32)


kernel(QLinearSigmoid)(_unary(_sigmoid))
kernel(QLinearLeakyRelu)(_unary(_leaky_relu))


@kernel(QLinearConcat)
def _qlinear_concat(op: QLinearConcat, y_scale: np.ndarray, y_zp: np.ndarray,
                    *inputs: np.ndarray) -> list[np.ndarray]:
    parts = []
    for x, scale, zp in zip(inputs[0::3], inputs[1::3], inputs[2::3], strict=True):
        if scalar(scale) == scalar(y_scale) and scalar(zp) == scalar(y_zp):
            parts.append(x)
        else:
            parts.append(quantize(dequantize(x, scalar(scale), scalar(zp)), scalar(y_scale),
                                  scalar(y_zp), y_zp.dtype))
    axis = op.axis + parts[0].ndim if op.axis < 0 else op.axis
    return [np.concatenate(parts, axis=axis)]


# --------------------------------------------------------------------------- pooling


def _channels_first(x: np.ndarray, channels_last: int) -> np.ndarray:
    return np.moveaxis(x, -1, 1) if channels_last else x


def _channels_back(y: np.ndarray, channels_last: int) -> np.ndarray:
    return np.moveaxis(y, 1, -1) if channels_last else y


def global_average(x: np.ndarray, x_scale: np.ndarray, x_zp: np.ndarray, y_scale: np.ndarray,
                   y_zp: np.ndarray) -> np.ndarray:
    """[N, C, spatial...] -> [N, C, 1...]: int32 sum minus zp*count, times
    x_scale / (y_scale * count) in float32."""
    axes = tuple(range(2, x.ndim))
    count = int(np.prod(x.shape[2:]))
    acc = x.astype(np.int64).sum(axis=axes, keepdims=True) - int(scalar(x_zp)) * count
    multiplier = scalar(x_scale).astype(F32) / (scalar(y_scale).astype(F32) * F32(count))
    return requantize(acc.astype(np.int32), multiplier, scalar(y_zp), x.dtype)


@kernel(QLinearGlobalAveragePool)
def _qlinear_global_average_pool(op: QLinearGlobalAveragePool, x: np.ndarray,
                                 x_scale: np.ndarray, x_zp: np.ndarray, y_scale: np.ndarray,
                                 y_zp: np.ndarray) -> list[np.ndarray]:
    xc = _channels_first(x, op.channels_last)
    return [_channels_back(global_average(xc, x_scale, x_zp, y_scale, y_zp), op.channels_last)]


@kernel(QLinearAveragePool)
def _qlinear_average_pool(op: QLinearAveragePool, x: np.ndarray, x_scale: np.ndarray,
                          x_zp: np.ndarray | None, y_scale: np.ndarray,
                          y_zp: np.ndarray | None = None) -> list[np.ndarray]:
    xc = _channels_first(x, op.channels_last)
    zx, zy = scalar(x_zp), scalar(y_zp)
    w = window_geometry(op, xc.shape[2:], op.kernel_shape, op.strides, None, op.pads, op.auto_pad,
                        bool(op.ceil_mode))
    if tuple(xc.shape[2:]) == tuple(op.kernel_shape) and not any(w.pads_begin + w.pads_end):
        # onnxruntime runs a whole-image window as the global pool (integer sum).
        y = global_average(xc, x_scale, zx, y_scale, zy)
        return [_channels_back(y, op.channels_last)]
    real = dequantize(xc, scalar(x_scale), zx)
    total, count = _window_mean_parts(real, w, bool(op.count_include_pad), op.kernel_shape)
    # onnxruntime: round(mean / y_scale + zp), the zero point added before rounding.
    v = np.rint(total / count / scalar(y_scale).astype(F32) + zy.astype(F32))
    return [_channels_back(saturate(v, x.dtype), op.channels_last)]


def _window_mean_parts(real: np.ndarray, w: Window, include_pad: bool,
                       kernel_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Window sums accumulated in float32 in row-major window order (onnxruntime's order) and
    the divisor: the kernel size with count_include_pad, else the real positions covered."""
    spatial = real.shape[2:]
    extra = w.extra_end(spatial)
    end = [e + x for e, x in zip(w.pads_end, extra, strict=True)]
    padded = pad_spatial(real, w.pads_begin, end)
    mask = pad_spatial(np.ones(spatial, F32), w.pads_begin, end)
    total = None
    covered = None
    for _, sl in window_slices(w):
        v = padded[(slice(None), slice(None), *sl)]
        m = mask[sl]
        total = v.copy() if total is None else total + v
        covered = m.copy() if covered is None else covered + m
    assert total is not None and covered is not None
    if include_pad:
        return total, np.asarray(F32(np.prod(kernel_shape)))
    return total, covered
