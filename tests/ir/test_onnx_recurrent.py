"""onnx.RNN, onnx.GRU and onnx.LSTM against onnxruntime and ONNX shape inference."""

from __future__ import annotations

import numpy as np
import pytest

from furiosa.errors import InterpreterError, IRError
from furiosa.ir.dialects.onnx import recurrent
from furiosa.ir.types import DYNAMIC, Quantization, TensorType, tensor
from furiosa.ir.verifier import verify_operation
from tests.ir.onnx_reference import run_onnx_node
from tests.ir.op_examples.onnx_recurrent import recurrent_inputs
from tests.ir.test_onnx_nn import assert_outputs, build_on, check_shapes, run_ir

OPS = {"RNN": (recurrent.RNN, 1), "GRU": (recurrent.GRU, 3), "LSTM": (recurrent.LSTM, 4)}
HIDDEN = 4
BATCH = 3


def _inputs(op_type: str, dirs: int, *, lens: bool = False, states: bool = False,
            peepholes: bool = False, bias: bool = True, seed: int = 0,
            dtype: type = np.float32) -> list[np.ndarray | None]:
    rng = np.random.default_rng(seed)
    x, w, r, b = recurrent_inputs(rng, OPS[op_type][1], batch=BATCH, hidden=HIDDEN, dirs=dirs,
                                  dtype=dtype)
    ins: list[np.ndarray | None] = [x, w, r, b if bias else None]
    ins.append(np.array([4, 0, 2], dtype=np.int32)[:BATCH] if lens else None)
    n_states = 2 if op_type == "LSTM" else 1
    for _ in range(n_states):
        ins.append(rng.standard_normal((dirs, BATCH, HIDDEN)).astype(dtype) if states else None)
    if op_type == "LSTM":
        ins.append((0.5 * rng.standard_normal((dirs, 3 * HIDDEN))).astype(dtype)
                   if peepholes else None)
    while ins and ins[-1] is None:
        ins.pop()
    return ins


def _compare(op_type: str, inputs: list[np.ndarray | None], rtol: float = 1e-5,
             atol: float = 1e-6, use_reference: bool = False,
             **attrs: object) -> list[np.ndarray]:
    """Interpreter vs onnxruntime, every output (onnxruntime needs hidden_size given)."""
    cls = OPS[op_type][0]
    got = run_ir(cls, inputs, **attrs)
    want = run_onnx_node(op_type, inputs, len(cls.RESULTS), use_reference=use_reference,
                         **{"hidden_size": HIDDEN, **attrs})  # type: ignore[arg-type]
    assert_outputs(got, want, rtol, atol)
    return got


DIRECTIONS = [("forward", 1), ("reverse", 1), ("bidirectional", 2)]
FEATURES = [dict(), dict(lens=True), dict(states=True), dict(lens=True, states=True, bias=False)]


@pytest.mark.parametrize("op_type", sorted(OPS))
@pytest.mark.parametrize(("direction", "dirs"), DIRECTIONS)
@pytest.mark.parametrize("features", FEATURES, ids=["plain", "lens", "states", "lens-states"])
def test_matches_onnxruntime(op_type: str, direction: str, dirs: int,
                             features: dict[str, bool]) -> None:
    _compare(op_type, _inputs(op_type, dirs, **features), direction=direction)


@pytest.mark.parametrize(("op_type", "attrs"), [
    ("RNN", dict(clip=0.3)),
    ("GRU", dict(clip=0.3, linear_before_reset=1)),
    ("GRU", dict(linear_before_reset=1, direction="bidirectional")),
    ("LSTM", dict(clip=0.3)),
    ("LSTM", dict(input_forget=1, direction="reverse")),
    ("LSTM", dict(input_forget=1, clip=0.5, direction="bidirectional")),
])
def test_gate_attributes_match_onnxruntime(op_type: str, attrs: dict[str, object]) -> None:
    dirs = 2 if attrs.get("direction") == "bidirectional" else 1
    _compare(op_type, _inputs(op_type, dirs, lens=True, states=True, seed=1), **attrs)


@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_lstm_peepholes_match_onnxruntime(direction: str) -> None:
    dirs = 2 if direction == "bidirectional" else 1
    inputs = _inputs("LSTM", dirs, lens=True, states=True, peepholes=True, seed=2)
    _compare("LSTM", inputs, direction=direction, clip=1.0)


@pytest.mark.parametrize(("activations", "alpha", "beta"), [
    (["Relu"], None, None),
    (["Sigmoid"], None, None),
    (["Softsign"], None, None),
    (["Softplus"], None, None),
    (["LeakyRelu"], None, None),
    (["LeakyRelu"], [0.3], None),
    (["Elu"], None, None),
    (["Elu"], [0.4], None),
    (["HardSigmoid"], None, None),
    (["HardSigmoid"], [0.3], [0.6]),
    (["ThresholdedRelu"], [0.1], None),
    (["Affine"], [0.6], [0.2]),
    (["ScaledTanh"], [0.6], [1.2]),
])
def test_rnn_activations_match_onnxruntime(activations: list[str], alpha: list[float] | None,
                                           beta: list[float] | None) -> None:
    attrs: dict[str, object] = {"activations": activations}
    if alpha is not None:
        attrs["activation_alpha"] = alpha
    if beta is not None:
        attrs["activation_beta"] = beta
    _compare("RNN", _inputs("RNN", 1, states=True, seed=3), **attrs)


def test_alpha_and_beta_are_consumed_by_the_activations_that_take_them() -> None:
    # Relu takes no alpha, so 0.3 goes to the LeakyRelu of the reverse direction.
    _compare("RNN", _inputs("RNN", 2, seed=4), direction="bidirectional",
             activations=["Relu", "LeakyRelu"], activation_alpha=[0.3])
    _compare("GRU", _inputs("GRU", 2, lens=True, seed=4), direction="bidirectional",
             activations=["HardSigmoid", "Softsign", "Sigmoid", "Elu"],
             activation_alpha=[0.3, 0.5], activation_beta=[0.6])
    _compare("LSTM", _inputs("LSTM", 2, seed=4), direction="bidirectional", clip=2.0,
             activations=["Sigmoid", "Elu", "Softplus", "HardSigmoid", "ScaledTanh", "Tanh"],
             activation_alpha=[0.9, 0.2, 1.1], activation_beta=[0.5, 0.8])


def test_missing_alpha_takes_the_onnx_operator_default() -> None:
    # ThresholdedRelu and Affine default to the ONNX operators' alpha 1.0 (beta 0.0);
    # onnxruntime uses 0 for both, so the reference is run with the values spelled out.
    inputs = _inputs("RNN", 1, states=True, seed=5)
    for act, explicit in (("ThresholdedRelu", dict(activation_alpha=[1.0])),
                          ("Affine", dict(activation_alpha=[1.0], activation_beta=[0.0]))):
        got = run_ir(recurrent.RNN, inputs, activations=[act])
        want = run_onnx_node("RNN", inputs, 2, hidden_size=HIDDEN, activations=[act],
                             **explicit)  # type: ignore[arg-type]
        assert_outputs(got, want)


def test_rnn_forward_takes_the_first_of_the_default_two_activations() -> None:
    inputs = _inputs("RNN", 1, seed=6)
    got = run_ir(recurrent.RNN, inputs, activations=["Tanh", "Tanh"])
    assert_outputs(got, run_ir(recurrent.RNN, inputs))


def test_float64_matches_the_reference() -> None:
    # onnxruntime's recurrent kernels are float only; ONNX's reference evaluator runs double
    # but ignores sequence_lens, so none is given.
    for op_type in OPS:
        _compare(op_type, _inputs(op_type, 2, states=True, dtype=np.float64), rtol=1e-10,
                 atol=1e-12, use_reference=True, direction="bidirectional")


def test_float16_runs_close_to_float32() -> None:
    inputs = _inputs("LSTM", 2, lens=True, states=True, peepholes=True, seed=7)
    half = [None if a is None or a.dtype.kind == "i" else a.astype(np.float16) for a in inputs]
    half = [h if h is not None else a for h, a in zip(half, inputs, strict=True)]
    got = run_ir(recurrent.LSTM, half, direction="bidirectional")
    want = run_ir(recurrent.LSTM, inputs, direction="bidirectional")
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.float16
        np.testing.assert_allclose(g.astype(np.float32), w, rtol=1e-2, atol=1e-2)


def test_sequence_past_its_length_keeps_its_state_and_outputs_zeros() -> None:
    inputs = _inputs("GRU", 1, lens=True, states=True, seed=8)
    y, y_h = run_ir(recurrent.GRU, inputs)
    assert not y[2:, 0, 2].any() and not y[:, 0, 1].any()
    np.testing.assert_array_equal(y_h[0, 2], y[1, 0, 2])
    np.testing.assert_array_equal(y_h[0, 1], 0)  # an empty sequence ends in zeros


@pytest.mark.parametrize("op_type", sorted(OPS))
@pytest.mark.parametrize(("direction", "dirs"), DIRECTIONS)
def test_types_agree_with_onnx_shape_inference(op_type: str, direction: str, dirs: int) -> None:
    cls = OPS[op_type][0]
    inputs = _inputs(op_type, dirs, lens=True, states=True)
    check_shapes(cls, op_type, inputs, len(cls.RESULTS), direction=direction,
                 hidden_size=HIDDEN)


def test_result_types_follow_a_dynamic_sequence_length() -> None:
    op = build_on(recurrent.LSTM, tensor((DYNAMIC, 2, 5), "f32"), tensor((2, 12, 5), "f32"),
                  tensor((2, 12, 3), "f32"), direction="bidirectional")
    assert [r.type.shape for r in op.results] == [(DYNAMIC, 2, 2, 3), (2, 2, 3), (2, 2, 3)]


def _types(op_type: str, dirs: int = 1) -> list[TensorType]:
    g = OPS[op_type][1]
    return [tensor((4, BATCH, 5), "f32"), tensor((dirs, g * HIDDEN, 5), "f32"),
            tensor((dirs, g * HIDDEN, HIDDEN), "f32")]


@pytest.mark.parametrize(("op_type", "attrs", "message"), [
    ("RNN", dict(hidden_size=5), "hidden_size"),
    ("RNN", dict(direction="bidirectional"), "'W' has shape"),
    ("GRU", dict(activations=["Sigmoid"]), "activations"),
    ("LSTM", dict(activations=["Sigmoid", "Tanh", "Gelu"]), "Gelu"),
    ("RNN", dict(activations=["LeakyRelu"], activation_alpha=[0.1, 0.2]), "activation_alpha"),
    ("RNN", dict(activations=["Tanh"], activation_beta=[0.1]), "activation_beta"),
    ("RNN", dict(activations=["ScaledTanh"], activation_alpha=[0.1]), "ScaledTanh"),
    ("RNN", dict(clip=0.0), "clip"),
    ("GRU", dict(linear_before_reset=2), "linear_before_reset"),
    ("LSTM", dict(direction="backward"), "direction"),
])
def test_bad_attributes_name_the_op(op_type: str, attrs: dict[str, object], message: str) -> None:
    cls = OPS[op_type][0]
    with pytest.raises(IRError, match=rf"{cls.OP_NAME}.*{message}"):
        verify_operation(build_on(cls, *_types(op_type), **attrs))


def test_bad_operands_name_the_op() -> None:
    x, w, r = _types("LSTM")
    with pytest.raises(IRError, match=r"onnx\.LSTM.*'B' has shape"):
        build_on(recurrent.LSTM, x, w, r, tensor((1, 16), "f32"))
    with pytest.raises(IRError, match=r"onnx\.LSTM.*'P' has shape"):
        build_on(recurrent.LSTM, x, w, r, None, None, None, None, tensor((1, 4), "f32"))
    with pytest.raises(IRError, match=r"onnx\.LSTM.*'initial_c' has shape"):
        build_on(recurrent.LSTM, x, w, r, None, None, None, tensor((1, 2, HIDDEN), "f32"))
    with pytest.raises(IRError, match=r"onnx\.GRU.*'sequence_lens' has shape"):
        build_on(recurrent.GRU, *_types("GRU")[:3], None, tensor((BATCH + 1,), "i32"))
    with pytest.raises(IRError, match=r"onnx\.RNN.*element type"):
        build_on(recurrent.RNN, x, tensor((1, HIDDEN, 5), "f64"), tensor((1, HIDDEN, HIDDEN), "f32"))
    with pytest.raises(IRError, match=r"onnx\.RNN.*sequence_lens.*element type"):
        verify_operation(build_on(recurrent.RNN, *_types("RNN"), None,
                                  tensor((BATCH,), "i64")))
    q = TensorType((4, BATCH, 5), tensor((), "i8").element, Quantization.per_tensor(0.1, 0))
    with pytest.raises(IRError, match=r"onnx\.GRU.*quantized"):
        build_on(recurrent.GRU, q, *_types("GRU")[1:])


def test_sequence_lens_beyond_the_sequence_is_an_interpreter_error() -> None:
    inputs = _inputs("RNN", 1, lens=True)
    inputs[4] = np.array([5, 1, 1], dtype=np.int32)
    with pytest.raises(InterpreterError, match=r"onnx\.RNN.*sequence_lens"):
        run_ir(recurrent.RNN, inputs)
