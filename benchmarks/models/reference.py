"""Float64 numpy kernels used while a model is built.

The builder runs a small batch of seeded images through the network as it is assembled, so
each BatchNormalization can take the statistics its input really has (what a trained
network's running statistics are).  Float64 keeps those statistics identical to many digits
on any machine, and they are then rounded (``round_sig``) before they are stored, so the
bytes written do not depend on the host's BLAS.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

STAT_BITS = 12


def round_sig(x: np.ndarray, bits: int = STAT_BITS) -> np.ndarray:
    """Round to ``bits`` significant bits (far coarser than any cross-machine float noise)."""
    mant, exp = np.frexp(np.asarray(x, dtype=np.float64))
    return np.ldexp(np.round(mant * (1 << bits)) / (1 << bits), exp)


def _windows(
    x: np.ndarray,
    k: tuple[int, int],
    stride: int,
    pads: tuple[int, int, int, int],
    dilation: int,
    fill: float,
) -> np.ndarray:
    """(N, C, OH, OW, KH, KW) view of the padded input."""
    t, le, b, r = pads
    if any(pads):
        x = np.pad(x, ((0, 0), (0, 0), (t, b), (le, r)), constant_values=fill)
    span = (dilation * (k[0] - 1) + 1, dilation * (k[1] - 1) + 1)
    win = sliding_window_view(x, span, axis=(2, 3))
    return win[:, :, ::stride, ::stride, ::dilation, ::dilation]


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    stride: int,
    pads: tuple[int, int, int, int],
    group: int = 1,
    dilation: int = 1,
) -> np.ndarray:
    """NCHW convolution (cross-correlation, as ONNX Conv) without bias."""
    w = w.astype(np.float64)
    cout, cin_g, kh, kw = w.shape
    if group == x.shape[1] and cin_g == 1 and cout == group:
        # Depthwise: accumulate the kh*kw shifted products instead of building columns.
        win = _windows(x, (kh, kw), stride, pads, dilation, 0.0)
        out = np.zeros(win.shape[:4])
        for i in range(kh):
            for j in range(kw):
                out += win[..., i, j] * w[None, :, 0, i, j, None, None]
        return out
    outs = []
    cout_g = cout // group
    for gi in range(group):
        xg = x[:, gi * cin_g : (gi + 1) * cin_g]
        wg = w[gi * cout_g : (gi + 1) * cout_g].reshape(cout_g, -1)
        win = _windows(xg, (kh, kw), stride, pads, dilation, 0.0)
        n, _, oh, ow = win.shape[:4]
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, -1)
        outs.append((cols @ wg.T).reshape(n, oh, ow, cout_g).transpose(0, 3, 1, 2))
    return np.concatenate(outs, axis=1) if group > 1 else outs[0]


def maxpool2d(x: np.ndarray, k: int, stride: int, pad: int) -> np.ndarray:
    return _windows(x, (k, k), stride, (pad,) * 4, 1, -np.inf).max(axis=(4, 5))


def upsample_nearest(x: np.ndarray, scale: int) -> np.ndarray:
    return x.repeat(scale, axis=2).repeat(scale, axis=3)


def batch_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and variance over batch and space, rounded for reproducibility."""
    mean = x.mean(axis=(0, 2, 3))
    var = np.maximum(x.var(axis=(0, 2, 3)), 1e-6)
    return round_sig(mean), round_sig(var)
