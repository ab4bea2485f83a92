"""Recurrent layers: RNN, GRU and LSTM (ONNX opset-13 semantics, i.e. their opset-7 forms).

The three share one declaration (:class:`RecurrentBase`): operand layout
``X [seq_length, batch, input_size]``, weights stacked per direction with the gates
concatenated (``W [dirs, gates*hidden, input]``, ``R [dirs, gates*hidden, hidden]``,
``B [dirs, 2*gates*hidden]`` = input biases then recurrent biases), optional int32
``sequence_lens [batch]`` and initial states ``[dirs, batch, hidden]``. Every output
(``Y [seq_length, dirs, batch, hidden]``, ``Y_h [dirs, batch, hidden]``, and LSTM's
``Y_c``) is always a result; a node that omits one simply leaves it unused.

Activation functions are named per direction (RNN: f; GRU: f, g; LSTM: f, g, h).
``activation_alpha`` / ``activation_beta`` are consumed in order by the activations
that take an alpha / a beta; a missing one takes the default of the ONNX operator of
the same name (LeakyRelu 0.01, ThresholdedRelu 1.0, HardSigmoid 0.2 / 0.5, Elu 1.0,
Affine 1.0 / 0.0). ScaledTanh has no such default, so it needs both values given.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from furiosa.ir.core import AttrKind, Operation, attribute, op_def, operand, result
from furiosa.ir.dialects.common import FLOATS, same_element
from furiosa.ir.dialects.onnx.nn import reject_quantized
from furiosa.ir.types import DYNAMIC, ElementType, TensorType

E = ElementType
DIRECTIONS = ("forward", "reverse", "bidirectional")


@attrs.frozen
class Param:
    """An alpha or beta an activation takes; ``default`` None when it has none."""

    default: float | None = None


# Activation name -> (its alpha, its beta); None for a parameter it does not take.
ACTIVATION_PARAMS: dict[str, tuple[Param | None, Param | None]] = {
    "Relu": (None, None),
    "Tanh": (None, None),
    "Sigmoid": (None, None),
    "Softsign": (None, None),
    "Softplus": (None, None),
    "LeakyRelu": (Param(0.01), None),
    "ThresholdedRelu": (Param(1.0), None),
    "Elu": (Param(1.0), None),
    "HardSigmoid": (Param(0.2), Param(0.5)),
    "Affine": (Param(1.0), Param(0.0)),
    "ScaledTanh": (Param(), Param()),
}


@attrs.frozen
class Activation:
    """One resolved activation function: its name and the alpha / beta it applies."""

    name: str
    alpha: float = 0.0
    beta: float = 0.0


def _same_dims(a: int, b: int) -> bool:
    return DYNAMIC in (a, b) or a == b


@attrs.define(kw_only=True, eq=False, repr=False)
class RecurrentBase(Operation):
    """Attributes, operand checks and result types shared by RNN, GRU and LSTM."""

    GATES: ClassVar[int] = 1
    DEFAULT_ACTIVATIONS: ClassVar[tuple[str, ...]] = ("Tanh",)
    STATE_OPERANDS: ClassVar[tuple[str, ...]] = ("initial_h",)
    FLOAT_OPERANDS: ClassVar[tuple[str, ...]] = ("X", "W", "R", "B", "initial_h")

    activation_alpha: tuple[float, ...] | None = attribute(AttrKind.FLOATS, None)
    activation_beta: tuple[float, ...] | None = attribute(AttrKind.FLOATS, None)
    activations: tuple[str, ...] | None = attribute(AttrKind.STRINGS, None)
    clip: float | None = attribute(AttrKind.FLOAT, None, check=lambda c: c > 0,
                                   check_text="> 0")
    direction: str = attribute(AttrKind.STRING, "forward", choices=DIRECTIONS)
    hidden_size: int | None = attribute(AttrKind.INT, None, check=lambda h: h >= 1,
                                        check_text=">= 1")

    @property
    def num_directions(self) -> int:
        return 2 if self.direction == "bidirectional" else 1

    def activation_functions(self) -> list[list[Activation]]:
        """The activations of each direction (forward first), with their alpha and beta."""
        per_dir = len(self.DEFAULT_ACTIVATIONS)
        dirs = self.num_directions
        names = list(self.activations) if self.activations is not None else \
            list(self.DEFAULT_ACTIVATIONS) * dirs
        if per_dir == 1 and dirs == 1 and len(names) == 2:
            # RNN's ONNX default names one Tanh per possible direction; one direction takes the
            # first (as onnxruntime does).
            names = names[:1]
        if len(names) != per_dir * dirs:
            raise self.error(f"attribute 'activations' has {len(names)} names; a {self.direction} "
                             f"{self.OP_NAME} takes {per_dir * dirs}")
        unknown = [n for n in names if n not in ACTIVATION_PARAMS]
        if unknown:
            raise self.error(f"activation '{unknown[0]}' is not one of "
                             + ", ".join(ACTIVATION_PARAMS))
        alphas = list(self.activation_alpha or ())
        betas = list(self.activation_beta or ())
        resolved: list[Activation] = []
        for name in names:
            values = []
            for param, given, attr_name in ((ACTIVATION_PARAMS[name][0], alphas,
                                             "activation_alpha"),
                                            (ACTIVATION_PARAMS[name][1], betas,
                                             "activation_beta")):
                if param is None:
                    values.append(0.0)
                elif given:
                    values.append(given.pop(0))
                elif param.default is not None:
                    values.append(param.default)
                else:
                    raise self.error(f"activation {name} has no default for its value in "
                                     f"'{attr_name}'; give one")
            resolved.append(Activation(name, *values))
        for attr_name, rest in (("activation_alpha", alphas), ("activation_beta", betas)):
            if rest:
                raise self.error(f"attribute '{attr_name}' has {len(rest)} more values than "
                                 "its activations take")
        return [resolved[d * per_dir:(d + 1) * per_dir] for d in range(dirs)]

    def verify_op(self) -> None:
        self.activation_functions()

    def _expect(self, name: str, shape: tuple[int, ...]) -> None:
        v = self.operand(name)
        if v is None:
            return
        got = v.type.shape
        if len(got) != len(shape) or not all(_same_dims(a, b) for a, b in zip(got, shape,
                                                                                 strict=True)):
            want = "x".join("?" if d == DYNAMIC else str(d) for d in shape)
            raise self.error(f"operand '{name}' has shape {list(got)}; expected [{want}]")

    def recurrent_types(self) -> tuple[TensorType, TensorType]:
        """Check the operands; give the types of Y and of one final state."""
        reject_quantized(self, *self.FLOAT_OPERANDS)
        element = same_element(self, *self.FLOAT_OPERANDS)
        x, w, r = self.type_of("X"), self.type_of("W"), self.type_of("R")
        for name, t in (("X", x), ("W", w), ("R", r)):
            if t.rank != 3:
                raise self.error(f"operand '{name}' has rank {t.rank}; expected 3")
        dirs, g = self.num_directions, self.GATES
        hidden = r.shape[2]
        if hidden == DYNAMIC:
            raise self.error("the hidden size (last dim of R) must be static")
        if self.hidden_size is not None and self.hidden_size != hidden:
            raise self.error(f"attribute 'hidden_size' is {self.hidden_size} but R has "
                             f"hidden size {hidden}")
        seq, batch, inputs = x.shape
        self._expect("W", (dirs, g * hidden, inputs))
        self._expect("R", (dirs, g * hidden, hidden))
        self._expect("B", (dirs, 2 * g * hidden))
        self._expect("sequence_lens", (batch,))
        for name in self.STATE_OPERANDS:
            self._expect(name, (dirs, batch, hidden))
        return (TensorType((seq, dirs, batch, hidden), element),
                TensorType((dirs, batch, hidden), element))


_RNN_OPERANDS = (operand("X", FLOATS), operand("W", FLOATS), operand("R", FLOATS),
                 operand("B", FLOATS, optional=True),
                 operand("sequence_lens", {E.I32}, optional=True),
                 operand("initial_h", FLOATS, optional=True))


@op_def("onnx.RNN")
class RNN(RecurrentBase):
    """Elman RNN: H_t = f(X_t W^T + H_{t-1} R^T + Wb + Rb), per direction."""

    OPERANDS = _RNN_OPERANDS
    RESULTS = (result("Y"), result("Y_h"))

    def infer_types(self) -> list[TensorType]:
        y, h = self.recurrent_types()
        return [y, h]


@op_def("onnx.GRU")
class GRU(RecurrentBase):
    """Gated recurrent unit (gates z, r, h) per direction; linear_before_reset applies the
    reset gate after the recurrent product."""

    GATES = 3
    DEFAULT_ACTIVATIONS = ("Sigmoid", "Tanh")
    OPERANDS = _RNN_OPERANDS
    RESULTS = (result("Y"), result("Y_h"))
    linear_before_reset: int = attribute(AttrKind.INT, 0, choices=(0, 1))

    def infer_types(self) -> list[TensorType]:
        y, h = self.recurrent_types()
        return [y, h]


@op_def("onnx.LSTM")
class LSTM(RecurrentBase):
    """Long short-term memory (gates i, o, f, c; optional peepholes P [dirs, 3*hidden] for
    i, o, f) per direction; input_forget couples the forget gate to 1 - input gate."""

    GATES = 4
    DEFAULT_ACTIVATIONS = ("Sigmoid", "Tanh", "Tanh")
    STATE_OPERANDS = ("initial_h", "initial_c")
    FLOAT_OPERANDS = ("X", "W", "R", "B", "initial_h", "initial_c", "P")
    OPERANDS = (*_RNN_OPERANDS, operand("initial_c", FLOATS, optional=True),
                operand("P", FLOATS, optional=True))
    RESULTS = (result("Y"), result("Y_h"), result("Y_c"))
    input_forget: int = attribute(AttrKind.INT, 0, choices=(0, 1))

    def infer_types(self) -> list[TensorType]:
        y, h = self.recurrent_types()
        r = self.type_of("R")
        self._expect("P", (self.num_directions, 3 * r.shape[2]))
        return [y, h, h]
