"""Examples of onnx.RNN, onnx.GRU and onnx.LSTM."""

from __future__ import annotations

import numpy as np

from furiosa.ir.dialects.onnx import recurrent
from tests.ir.op_examples import Example, example, single_op_module


def recurrent_inputs(rng: np.random.Generator, gates: int, *, steps: int = 4, batch: int = 3,
                     inputs: int = 5, hidden: int = 4, dirs: int = 1,
                     dtype: type = np.float32) -> list[np.ndarray]:
    """X, W, R, B of a recurrent op (small weights keep the activations out of saturation)."""
    def normal(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (scale * rng.standard_normal(shape)).astype(dtype)

    return [normal(steps, batch, inputs), normal(dirs, gates * hidden, inputs, scale=0.5),
            normal(dirs, gates * hidden, hidden, scale=0.5),
            normal(dirs, 2 * gates * hidden, scale=0.3)]


@example("onnx.RNN")
def rnn_forward_defaults() -> Example:
    rng = np.random.default_rng(1)
    x, w, r, _ = recurrent_inputs(rng, 1)
    return single_op_module(recurrent.RNN, [x, w, r], hidden_size=4)


@example("onnx.RNN")
def rnn_bidirectional_lens_alpha_beta() -> Example:
    rng = np.random.default_rng(2)
    x, w, r, b = recurrent_inputs(rng, 1, dirs=2)
    lens = np.array([4, 1, 3], dtype=np.int32)
    h0 = rng.standard_normal((2, 3, 4)).astype(np.float32)
    return single_op_module(recurrent.RNN, [x, w, r, b, lens, h0], direction="bidirectional",
                            activations=["LeakyRelu", "HardSigmoid"], activation_alpha=[0.2, 0.3],
                            activation_beta=[0.4])


@example("onnx.RNN")
def rnn_reverse_clip_f64() -> Example:
    rng = np.random.default_rng(3)
    x, w, r, b = recurrent_inputs(rng, 1, dtype=np.float64)
    return single_op_module(recurrent.RNN, [x, w, r, b], direction="reverse", clip=0.5,
                            activations=["Affine"], activation_alpha=[0.5], activation_beta=[0.1])


@example("onnx.GRU")
def gru_forward_linear_before_reset() -> Example:
    rng = np.random.default_rng(4)
    x, w, r, b = recurrent_inputs(rng, 3)
    return single_op_module(recurrent.GRU, [x, w, r, b], linear_before_reset=1, hidden_size=4)


@example("onnx.GRU")
def gru_bidirectional_lens_clip() -> Example:
    rng = np.random.default_rng(5)
    x, w, r, b = recurrent_inputs(rng, 3, dirs=2)
    lens = np.array([2, 4, 0], dtype=np.int32)
    h0 = rng.standard_normal((2, 3, 4)).astype(np.float32)
    return single_op_module(recurrent.GRU, [x, w, r, b, lens, h0], direction="bidirectional",
                            clip=1.5, activations=["Sigmoid", "Tanh", "HardSigmoid", "Softsign"],
                            activation_alpha=[0.25], activation_beta=[0.45])


@example("onnx.LSTM")
def lstm_peepholes_input_forget() -> Example:
    rng = np.random.default_rng(6)
    x, w, r, b = recurrent_inputs(rng, 4)
    lens = np.array([4, 2, 3], dtype=np.int32)
    h0, c0 = rng.standard_normal((2, 1, 3, 4)).astype(np.float32)
    p = (0.5 * rng.standard_normal((1, 12))).astype(np.float32)
    return single_op_module(recurrent.LSTM, [x, w, r, b, lens, h0, c0, p], input_forget=1,
                            hidden_size=4)


@example("onnx.LSTM")
def lstm_bidirectional_activations() -> Example:
    rng = np.random.default_rng(7)
    x, w, r, _ = recurrent_inputs(rng, 4, dirs=2)
    acts = ["Sigmoid", "Elu", "Softplus", "HardSigmoid", "ScaledTanh", "Tanh"]
    return single_op_module(recurrent.LSTM, [x, w, r, None, None, None, None, None],
                            direction="bidirectional", activations=acts, clip=2.0,
                            activation_alpha=[0.9, 0.2, 1.1], activation_beta=[0.5, 0.8])
