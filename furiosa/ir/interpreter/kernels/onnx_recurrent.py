"""Kernels of onnx.RNN, onnx.GRU and onnx.LSTM.

All directions advance together: each step is one batched matrix product over
``[directions, batch, hidden]``. The input projection of every step is computed up front;
only the recurrence loops over time. A reverse direction runs forward over each batch
entry's sequence reversed within its length (as ReverseSequence does) and its outputs are
reversed back. Past a batch entry's ``sequence_lens`` its state stops changing and its Y is 0;
an entry of length 0 has final states 0.
Clipping (``clip``) bounds the input of every gate activation (not the cell state LSTM's h
takes), as onnxruntime applies it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from furiosa.ir.dialects.onnx.recurrent import GRU, LSTM, RNN, Activation, RecurrentBase
from furiosa.ir.interpreter import kernel
from furiosa.ir.interpreter.kernels.onnx_nn import compute_dtype
from furiosa.ir.interpreter.kernels.onnx_sequence import reverse_sequences

Array = np.ndarray
Fn = Callable[[Array], Array]


def _sigmoid(x: Array) -> Array:
    # exp of a negative argument only, so large |x| cannot overflow.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def activation_fn(a: Activation, clip: float | None) -> Fn:
    """The numpy function of one activation, clipping its input when ``clip`` is set."""
    alpha, beta = a.alpha, a.beta
    fns: dict[str, Fn] = {
        "Relu": lambda x: np.maximum(x, 0),
        "Tanh": np.tanh,
        "Sigmoid": _sigmoid,
        "Softsign": lambda x: x / (1 + np.abs(x)),
        "Softplus": lambda x: np.logaddexp(x, 0),
        "LeakyRelu": lambda x: np.where(x >= 0, x, alpha * x),
        "ThresholdedRelu": lambda x: np.where(x > alpha, x, 0),
        "Elu": lambda x: np.where(x >= 0, x, alpha * np.expm1(np.minimum(x, 0))),
        "HardSigmoid": lambda x: np.clip(alpha * x + beta, 0, 1),
        "Affine": lambda x: alpha * x + beta,
        "ScaledTanh": lambda x: alpha * np.tanh(beta * x),
    }
    fn = fns[a.name]
    if clip is None:
        return fn
    return lambda x: fn(np.clip(x, -clip, clip))


def _stacked(op: RecurrentBase, slot: int, clip: bool = True) -> Callable[[Array], Array]:
    """Activation number ``slot`` of every direction applied to its own [dirs, ...] slice."""
    acts = [per_dir[slot] for per_dir in op.activation_functions()]
    bound = op.clip if clip else None
    if all(a == acts[0] for a in acts):
        return activation_fn(acts[0], bound)
    fns = [activation_fn(a, bound) for a in acts]
    return lambda x: np.stack([f(x[d]) for d, f in enumerate(fns)])


class Recurrence:
    """The inputs of a recurrent op in compute dtype, with defaults for absent operands."""

    def __init__(self, op: RecurrentBase, x: Array, w: Array, r: Array, b: Array | None,
                 seq_lens: Array | None) -> None:
        self.dtype = compute_dtype(x.dtype)
        steps, batch, _ = x.shape
        dirs, gh, _ = w.shape
        self.hidden = r.shape[2]
        self.steps, self.batch, self.dirs = steps, batch, dirs
        self.lens = (np.full(batch, steps, dtype=np.int64) if seq_lens is None
                     else seq_lens.astype(np.int64))
        if np.any((self.lens < 0) | (self.lens > steps)):
            raise ValueError(f"sequence_lens {self.lens.tolist()} is outside [0, {steps}]")
        bias = (np.zeros((dirs, 2 * gh), dtype=self.dtype) if b is None
                else b.astype(self.dtype, copy=False))
        self.wb, self.rb = bias[:, :gh], bias[:, gh:]
        self.reverse = [op.direction == "reverse" or d == 1 for d in range(dirs)]
        xs = np.stack([self.reversed(x) if rev else x for rev in self.reverse])
        # Input projections of every step: [dirs, steps, batch, gates*hidden].
        self.xw = np.matmul(xs.astype(self.dtype, copy=False),
                            np.swapaxes(w.astype(self.dtype, copy=False), 1, 2)[:, None])
        self.rt = np.swapaxes(r.astype(self.dtype, copy=False), 1, 2)  # [dirs, hidden, g*h]

    def reversed(self, x: Array) -> Array:
        return reverse_sequences(x, self.lens, time_axis=0, batch_axis=1)

    def state(self, initial: Array | None) -> Array:
        if initial is None:
            return np.zeros((self.dirs, self.batch, self.hidden), dtype=self.dtype)
        return initial.astype(self.dtype)

    def run(self, states: Sequence[Array],
            step: Callable[[Array, list[Array]], list[Array]]) -> tuple[Array, list[Array]]:
        """Loop ``step(input projection [dirs, batch, g*h], states) -> new states`` over time;
        the first state is the output. Gives Y [steps, dirs, batch, hidden] and final states."""
        current = list(states)
        y = np.zeros((self.steps, self.dirs, self.batch, self.hidden), dtype=self.dtype)
        for t in range(self.steps):
            live = (t < self.lens)[None, :, None]
            new = step(self.xw[:, t], current)
            current = [np.where(live, n, c) for n, c in zip(new, current, strict=True)]
            y[t] = np.where(live, new[0], 0)
        for d, rev in enumerate(self.reverse):
            if rev:
                y[:, d] = self.reversed(y[:, d])
        # An empty sequence ends in zero states, not its initial ones (as onnxruntime gives).
        started = (self.lens > 0)[None, :, None]
        return y, [np.where(started, c, 0) for c in current]


def _gates(a: Array, n: int) -> list[Array]:
    return np.split(a, n, axis=-1)


@kernel(RNN)
def _rnn(op: RNN, x: Array, w: Array, r: Array, b: Array | None = None,
         seq_lens: Array | None = None, initial_h: Array | None = None) -> list[Array]:
    rec = Recurrence(op, x, w, r, b, seq_lens)
    f = _stacked(op, 0)
    bias = (rec.wb + rec.rb)[:, None]

    def step(xw: Array, states: list[Array]) -> list[Array]:
        return [f(xw + np.matmul(states[0], rec.rt) + bias)]

    y, (h,) = rec.run([rec.state(initial_h)], step)
    return [y, h]


@kernel(GRU)
def _gru(op: GRU, x: Array, w: Array, r: Array, b: Array | None = None,
         seq_lens: Array | None = None, initial_h: Array | None = None) -> list[Array]:
    rec = Recurrence(op, x, w, r, b, seq_lens)
    f, g = _stacked(op, 0), _stacked(op, 1)
    hs = rec.hidden
    wb_z, wb_r, wb_h = _gates(rec.wb[:, None], 3)
    rb_z, rb_r, rb_h = _gates(rec.rb[:, None], 3)
    r_zr, r_h = rec.rt[:, :, :2 * hs], rec.rt[:, :, 2 * hs:]

    def step(xw: Array, states: list[Array]) -> list[Array]:
        h = states[0]
        x_z, x_r, x_h = _gates(xw, 3)
        h_z, h_r = _gates(np.matmul(h, r_zr), 2)
        z = f(x_z + h_z + wb_z + rb_z)
        reset = f(x_r + h_r + wb_r + rb_r)
        if op.linear_before_reset:
            cand = g(x_h + wb_h + reset * (np.matmul(h, r_h) + rb_h))
        else:
            cand = g(x_h + wb_h + np.matmul(reset * h, r_h) + rb_h)
        return [(1 - z) * cand + z * h]

    y, (h,) = rec.run([rec.state(initial_h)], step)
    return [y, h]


@kernel(LSTM)
def _lstm(op: LSTM, x: Array, w: Array, r: Array, b: Array | None = None,
          seq_lens: Array | None = None, initial_h: Array | None = None,
          initial_c: Array | None = None, p: Array | None = None) -> list[Array]:
    rec = Recurrence(op, x, w, r, b, seq_lens)
    # The cell state h is applied to is not clipped: clip bounds the gates' inputs only.
    f, g, h_act = _stacked(op, 0), _stacked(op, 1), _stacked(op, 2, clip=False)
    bias = (rec.wb + rec.rb)[:, None]
    peep = (np.zeros((rec.dirs, 3 * rec.hidden), dtype=rec.dtype) if p is None
            else p.astype(rec.dtype))
    p_i, p_o, p_f = _gates(peep[:, None], 3)

    def step(xw: Array, states: list[Array]) -> list[Array]:
        h, c = states
        a_i, a_o, a_f, a_c = _gates(xw + np.matmul(h, rec.rt) + bias, 4)
        i = f(a_i + p_i * c)
        forget = 1 - i if op.input_forget else f(a_f + p_f * c)
        c_new = forget * c + i * g(a_c)
        o = f(a_o + p_o * c_new)
        return [o * h_act(c_new), c_new]

    y, (h, c) = rec.run([rec.state(initial_h), rec.state(initial_c)], step)
    return [y, h, c]
