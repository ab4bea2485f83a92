"""Element-wise onnx ops: unary math and activations, binary arithmetic, logic and comparisons,
Where, the variadic Max/Min/Sum/Mean, Clip, Cast and Dropout.

Typing follows base.py: a unary op keeps its operand's shape, a binary or variadic op broadcasts
its operands (ONNX multidirectional broadcasting). Operand and result names, attributes and
element types are ONNX opset 13's (bfloat16 aside); HardSwish is opset 14's and Gelu opset 20's.
These ops compute on real values, so quantized operands are rejected: dequantize them first or
use the quant dialect. Only Where, which merely selects, passes one shared per-tensor
quantization through.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from furiosa.ir.core import AttrKind, Operation, attribute, op_def, operand, result
from furiosa.ir.dialects.common import (
    ANY,
    FLOATS,
    NUMERIC,
    SIGNED_NUMERIC,
    UNSIGNED_INTS,
    broadcast_shapes,
    same_element,
)
from furiosa.ir.dialects.onnx.base import (
    BinaryElementwise,
    UnaryElementwise,
    VariadicElementwise,
)
from furiosa.ir.traits import (
    Elementwise,
    QuantFoldable,
    SameTypeIdentity,
)
from furiosa.ir.types import DYNAMIC, ElementType, TensorType

E = ElementType
BOOL = frozenset({E.BOOL})
# Add/Sub/Mul/Div and PRelu in opset 13 take these integer types only.
WIDE_INTS = frozenset({E.I32, E.I64, E.U32, E.U64})


def require_unquantized(op: Operation) -> None:
    """Reject quantized operands: onnx arithmetic works on real values, not stored integers."""
    for d in op.OPERANDS:
        for v in op.operand_list(d.name):
            if v.type.is_quantized:
                raise op.error(f"operand '{d.name}' is quantized ({v.type}); onnx arithmetic takes "
                               "real values, so dequantize it first")


def require_single_element(op: Operation, name: str) -> None:
    """A 'scalar' operand (Clip min/max, Dropout ratio, CumSum axis): rank 0 or all dims 1."""
    v = op.operand(name)
    if v is not None and any(d != 1 for d in v.type.shape):
        raise op.error(f"operand '{name}' must be a scalar (one element), not {v.type}")


def unidirectional_shape(op: Operation, target: Sequence[int], source: Sequence[int],
                         source_name: str) -> None:
    """Check that ``source`` broadcasts to ``target`` without changing it (ONNX unidirectional)."""
    ok = len(source) <= len(target) and all(
        s in (1, t) or t == DYNAMIC for s, t in zip(reversed(source), reversed(target), strict=False))
    if not ok:
        raise op.error(f"operand '{source_name}' of shape {list(source)} does not broadcast "
                       f"to shape {list(target)}")


# --------------------------------------------------------------------------- unary


# fold-qdq computes a float element-wise function of one tensor as a 256-entry quant.Table.
class ArithmeticUnary(UnaryElementwise):
    """A unary op on real values. ``NAMES`` gives ONNX's names for the operand and the result."""
    TRAITS = (QuantFoldable("quant.Table"),)

    NAMES: ClassVar[tuple[str, str]] = ("X", "Y")

    def __init_subclass__(cls, **kwargs: object) -> None:
        declared = "OPERANDS" in cls.__dict__
        super().__init_subclass__(**kwargs)
        if not declared:
            cls.OPERANDS = (operand(cls.NAMES[0], cls.ELEMENTS),)
        if "RESULTS" not in cls.__dict__:
            cls.RESULTS = (result(cls.NAMES[1]),)

    def infer_types(self) -> list[TensorType]:
        require_unquantized(self)
        return super().infer_types()


@op_def("onnx.Abs")
class Abs(ArithmeticUnary):
    """y = |x| (integers wrap: |INT_MIN| = INT_MIN)."""

    ELEMENTS = NUMERIC


@op_def("onnx.Neg")
class Neg(ArithmeticUnary):
    """y = -x."""

    ELEMENTS = SIGNED_NUMERIC


@op_def("onnx.Reciprocal")
class Reciprocal(ArithmeticUnary):
    """y = 1 / x."""

    ELEMENTS = FLOATS


@op_def("onnx.Floor")
class Floor(ArithmeticUnary):
    """y = floor(x)."""

    ELEMENTS = FLOATS


@op_def("onnx.Ceil")
class Ceil(ArithmeticUnary):
    """y = ceil(x)."""

    ELEMENTS = FLOATS


@op_def("onnx.Round")
class Round(ArithmeticUnary):
    """y = x rounded to the nearest integer, halves to even."""

    ELEMENTS = FLOATS


@op_def("onnx.Sign")
class Sign(ArithmeticUnary):
    """y = -1, 0 or 1 by the sign of x (NaN stays NaN)."""

    ELEMENTS = NUMERIC
    NAMES = ("input", "output")


@op_def("onnx.Sqrt")
class Sqrt(ArithmeticUnary):
    """y = sqrt(x)."""

    ELEMENTS = FLOATS


@op_def("onnx.Exp")
class Exp(ArithmeticUnary):
    """y = e^x."""

    ELEMENTS = FLOATS
    NAMES = ("input", "output")


@op_def("onnx.Log")
class Log(ArithmeticUnary):
    """y = ln(x)."""

    ELEMENTS = FLOATS
    NAMES = ("input", "output")


@op_def("onnx.Erf")
class Erf(ArithmeticUnary):
    """y = erf(x), the Gauss error function."""

    ELEMENTS = FLOATS
    NAMES = ("input", "output")


@op_def("onnx.Tanh")
class Tanh(ArithmeticUnary):
    """y = tanh(x)."""

    ELEMENTS = FLOATS
    NAMES = ("input", "output")


@op_def("onnx.Sigmoid")
class Sigmoid(ArithmeticUnary):
    """y = 1 / (1 + e^-x)."""

    ELEMENTS = FLOATS


@op_def("onnx.Sin")
class Sin(ArithmeticUnary):
    """y = sin(x)."""

    ELEMENTS = FLOATS
    NAMES = ("input", "output")


@op_def("onnx.Cos")
class Cos(ArithmeticUnary):
    """y = cos(x)."""

    ELEMENTS = FLOATS
    NAMES = ("input", "output")


@op_def("onnx.Tan")
class Tan(ArithmeticUnary):
    """y = tan(x)."""

    ELEMENTS = FLOATS
    NAMES = ("input", "output")


@op_def("onnx.Asin")
class Asin(ArithmeticUnary):
    """y = arcsin(x)."""

    ELEMENTS = FLOATS
    NAMES = ("input", "output")


@op_def("onnx.Acos")
class Acos(ArithmeticUnary):
    """y = arccos(x)."""

    ELEMENTS = FLOATS
    NAMES = ("input", "output")


@op_def("onnx.Atan")
class Atan(ArithmeticUnary):
    """y = arctan(x)."""

    ELEMENTS = FLOATS
    NAMES = ("input", "output")


@op_def("onnx.Sinh")
class Sinh(ArithmeticUnary):
    """y = sinh(x)."""

    ELEMENTS = FLOATS
    NAMES = ("input", "output")


@op_def("onnx.Cosh")
class Cosh(ArithmeticUnary):
    """y = cosh(x)."""

    ELEMENTS = FLOATS
    NAMES = ("input", "output")


@op_def("onnx.Asinh")
class Asinh(ArithmeticUnary):
    """y = arsinh(x)."""

    ELEMENTS = FLOATS
    NAMES = ("input", "output")


@op_def("onnx.Acosh")
class Acosh(ArithmeticUnary):
    """y = arcosh(x)."""

    ELEMENTS = FLOATS
    NAMES = ("input", "output")


@op_def("onnx.Atanh")
class Atanh(ArithmeticUnary):
    """y = artanh(x)."""

    ELEMENTS = FLOATS
    NAMES = ("input", "output")


@op_def("onnx.Softplus")
class Softplus(ArithmeticUnary):
    """y = ln(1 + e^x)."""

    ELEMENTS = FLOATS


@op_def("onnx.Softsign")
class Softsign(ArithmeticUnary):
    """y = x / (1 + |x|)."""

    ELEMENTS = FLOATS
    NAMES = ("input", "output")


@op_def("onnx.Relu")
class Relu(ArithmeticUnary):
    """y = max(x, 0)."""

    ELEMENTS = FLOATS


@op_def("onnx.LeakyRelu")
class LeakyRelu(ArithmeticUnary):
    """y = x for x >= 0, alpha * x otherwise."""

    ELEMENTS = FLOATS
    alpha: float = attribute(AttrKind.FLOAT, 0.01)


@op_def("onnx.Elu")
class Elu(ArithmeticUnary):
    """y = x for x >= 0, alpha * (e^x - 1) otherwise."""

    ELEMENTS = FLOATS
    alpha: float = attribute(AttrKind.FLOAT, 1.0)


@op_def("onnx.Selu")
class Selu(ArithmeticUnary):
    """y = gamma * x for x > 0, gamma * alpha * (e^x - 1) otherwise."""

    ELEMENTS = FLOATS
    # ONNX's defaults are these float32 values, written out exactly.
    alpha: float = attribute(AttrKind.FLOAT, 1.67326319217681884765625)
    gamma: float = attribute(AttrKind.FLOAT, 1.05070102214813232421875)


@op_def("onnx.Celu")
class Celu(ArithmeticUnary):
    """y = max(0, x) + min(0, alpha * (e^(x / alpha) - 1))."""

    ELEMENTS = frozenset({E.F32})
    alpha: float = attribute(AttrKind.FLOAT, 1.0, check=lambda a: a != 0, check_text="non-zero")


@op_def("onnx.ThresholdedRelu")
class ThresholdedRelu(ArithmeticUnary):
    """y = x for x > alpha, 0 otherwise."""

    ELEMENTS = FLOATS
    alpha: float = attribute(AttrKind.FLOAT, 1.0)


@op_def("onnx.HardSigmoid")
class HardSigmoid(ArithmeticUnary):
    """y = max(0, min(1, alpha * x + beta))."""

    ELEMENTS = FLOATS
    alpha: float = attribute(AttrKind.FLOAT, 0.2)
    beta: float = attribute(AttrKind.FLOAT, 0.5)


@op_def("onnx.HardSwish")
class HardSwish(ArithmeticUnary):
    """y = x * max(0, min(1, x / 6 + 1/2)) (ONNX opset 14)."""

    ELEMENTS = FLOATS


@op_def("onnx.Shrink")
class Shrink(ArithmeticUnary):
    """y = x + bias for x < -lambd, x - bias for x > lambd, 0 otherwise."""

    ELEMENTS = NUMERIC
    NAMES = ("input", "output")
    bias: float = attribute(AttrKind.FLOAT, 0.0)
    lambd: float = attribute(AttrKind.FLOAT, 0.5)


@op_def("onnx.Gelu")
class Gelu(ArithmeticUnary):
    """y = x * Phi(x), exactly (erf) or by the tanh approximation (ONNX opset 20)."""

    ELEMENTS = FLOATS
    approximate: str = attribute(AttrKind.STRING, "none", choices=("none", "tanh"))


@op_def("onnx.Not")
class Not(ArithmeticUnary):
    """y = logical not x."""
    WITHOUT_TRAITS = (QuantFoldable,)  # boolean data

    ELEMENTS = BOOL


class Predicate(ArithmeticUnary):
    """A unary float test with a bool result."""
    WITHOUT_TRAITS = (QuantFoldable,)  # boolean results

    ELEMENTS = FLOATS

    def infer_types(self) -> list[TensorType]:
        return [t.with_element(E.BOOL) for t in super().infer_types()]


@op_def("onnx.IsNaN")
class IsNaN(Predicate):
    """y = x is NaN."""


@op_def("onnx.IsInf")
class IsInf(Predicate):
    """y = x is +inf (when detect_positive) or -inf (when detect_negative)."""

    ELEMENTS = frozenset({E.F32, E.F64})
    detect_negative: int = attribute(AttrKind.INT, 1, choices=(0, 1))
    detect_positive: int = attribute(AttrKind.INT, 1, choices=(0, 1))


@op_def("onnx.Clip")
class Clip(ArithmeticUnary):
    """output = min(max(input, min), max); an absent bound is the type's lowest/highest finite."""

    OPERANDS = (operand("input", NUMERIC), operand("min", NUMERIC, optional=True),
                operand("max", NUMERIC, optional=True))
    RESULTS = (result("output"),)

    def infer_types(self) -> list[TensorType]:
        same_element(self, "input", "min", "max")
        require_single_element(self, "min")
        require_single_element(self, "max")
        return super().infer_types()


@op_def("onnx.Cast")
class Cast(ArithmeticUnary):
    """output = input converted to element type 'to' (floats truncate toward zero to integers)."""
    TRAITS = (SameTypeIdentity(),)
    WITHOUT_TRAITS = (QuantFoldable,)  # changes the element type

    ELEMENTS = ANY
    NAMES = ("input", "output")
    to: ElementType = attribute(AttrKind.ELEMENT)

    def infer_types(self) -> list[TensorType]:
        return [t.with_element(self.to) for t in super().infer_types()]


# --------------------------------------------------------------------------- binary


def broadcast_result(op: Operation, element: ElementType) -> list[TensorType]:
    """The broadcast of every operand's shape, with element type ``element``."""
    shapes = [v.type.shape for v in op.operands if v is not None]
    return [TensorType(broadcast_shapes(op, *shapes), element)]


class ArithmeticBinary(BinaryElementwise):
    """A broadcasting binary op on real values; ``NAMES`` gives ONNX's operand and result names."""
    TRAITS = (QuantFoldable("quant.Table"),)

    NAMES: ClassVar[tuple[str, str, str]] = ("A", "B", "C")

    def __init_subclass__(cls, **kwargs: object) -> None:
        declared = "OPERANDS" in cls.__dict__
        super().__init_subclass__(**kwargs)
        if not declared:
            cls.OPERANDS = (operand(cls.NAMES[0], cls.ELEMENTS), operand(cls.NAMES[1], cls.ELEMENTS))
        if "RESULTS" not in cls.__dict__:
            cls.RESULTS = (result(cls.NAMES[2]),)

    def infer_types(self) -> list[TensorType]:
        require_unquantized(self)
        element = same_element(self, *self.NAMES[:2])
        return broadcast_result(self, self.RESULT_ELEMENT or element)


@op_def("onnx.Add")
class Add(ArithmeticBinary):
    """C = A + B (integers wrap)."""
    TRAITS = (QuantFoldable("quant.Add"),)

    ELEMENTS = FLOATS | WIDE_INTS


@op_def("onnx.Sub")
class Sub(ArithmeticBinary):
    """C = A - B (integers wrap)."""
    TRAITS = (QuantFoldable("quant.Sub"),)

    ELEMENTS = FLOATS | WIDE_INTS


@op_def("onnx.Mul")
class Mul(ArithmeticBinary):
    """C = A * B (integers wrap)."""
    TRAITS = (QuantFoldable("quant.Mul"),)

    ELEMENTS = FLOATS | WIDE_INTS


@op_def("onnx.Div")
class Div(ArithmeticBinary):
    """C = A / B; integer division truncates toward zero (C semantics)."""

    ELEMENTS = FLOATS | WIDE_INTS


@op_def("onnx.Pow")
class Pow(ArithmeticBinary):
    """Z = X ^ Y; Y may have another numeric element type, Z has X's."""

    OPERANDS = (operand("X", FLOATS | {E.I32, E.I64}), operand("Y", NUMERIC))
    RESULTS = (result("Z"),)
    NAMES = ("X", "Y", "Z")

    def infer_types(self) -> list[TensorType]:
        require_unquantized(self)
        return broadcast_result(self, self.type_of("X").element)


@op_def("onnx.Mod")
class Mod(ArithmeticBinary):
    """C = A mod B: with B's sign when fmod = 0 (integers only), with A's sign when fmod = 1."""

    ELEMENTS = NUMERIC
    fmod: int = attribute(AttrKind.INT, 0, choices=(0, 1))

    def infer_types(self) -> list[TensorType]:
        types = super().infer_types()
        if self.fmod == 0 and types[0].element.is_float:
            raise self.error(f"fmod must be 1 for {types[0].element} operands "
                             "(a floored float modulo is not defined in opset 13)")
        return types


@op_def("onnx.BitShift")
class BitShift(ArithmeticBinary):
    """Z = X << Y or X >> Y by 'direction'; shifts by the bit width or more give 0."""
    WITHOUT_TRAITS = (QuantFoldable,)  # integer data

    ELEMENTS = UNSIGNED_INTS
    NAMES = ("X", "Y", "Z")
    direction: str = attribute(AttrKind.STRING, choices=("LEFT", "RIGHT"))


class Logical(ArithmeticBinary):
    """A bool-valued binary op of bools."""
    WITHOUT_TRAITS = (QuantFoldable,)  # boolean data

    ELEMENTS = BOOL
    RESULT_ELEMENT = E.BOOL


@op_def("onnx.And")
class And(Logical):
    """C = A and B."""


@op_def("onnx.Or")
class Or(Logical):
    """C = A or B."""


@op_def("onnx.Xor")
class Xor(Logical):
    """C = A xor B."""


class Comparison(ArithmeticBinary):
    """A bool-valued comparison of two numeric operands."""
    WITHOUT_TRAITS = (QuantFoldable,)  # boolean results

    ELEMENTS = NUMERIC
    RESULT_ELEMENT = E.BOOL


@op_def("onnx.Equal")
class Equal(Comparison):
    """C = A == B (NaN equals nothing)."""

    ELEMENTS = ANY


@op_def("onnx.Less")
class Less(Comparison):
    """C = A < B."""


@op_def("onnx.Greater")
class Greater(Comparison):
    """C = A > B."""


@op_def("onnx.LessOrEqual")
class LessOrEqual(Comparison):
    """C = A <= B."""


@op_def("onnx.GreaterOrEqual")
class GreaterOrEqual(Comparison):
    """C = A >= B."""


@op_def("onnx.PRelu")
class PRelu(ArithmeticBinary):
    """Y = X for X >= 0, slope * X otherwise; slope broadcasts to X's shape."""

    ELEMENTS = FLOATS | WIDE_INTS
    NAMES = ("X", "slope", "Y")

    def infer_types(self) -> list[TensorType]:
        require_unquantized(self)
        same_element(self, "X", "slope")
        x = self.type_of("X")
        unidirectional_shape(self, x.shape, self.type_of("slope").shape, "slope")
        return [TensorType(x.shape, x.element)]


@op_def("onnx.Where")
class Where(Operation):
    """output = X where condition else Y, all three broadcast together."""
    TRAITS = (Elementwise(),)

    OPERANDS = (operand("condition", BOOL), operand("X", ANY), operand("Y", ANY))
    RESULTS = (result("output"),)

    def infer_types(self) -> list[TensorType]:
        element = same_element(self, "X", "Y")
        x, y = self.type_of("X"), self.type_of("Y")
        if x.quant != y.quant:
            raise self.error(f"operands 'X' ({x}) and 'Y' ({y}) must have the same quantization")
        qx = x.quant
        if qx is not None and not qx.is_per_tensor:
            raise self.error(f"per-axis quantized operands ({qx}) cannot be broadcast; "
                             "dequantize them first")
        return [t.with_quant(qx) for t in broadcast_result(self, element)]


# --------------------------------------------------------------------------- variadic


class ArithmeticVariadic(VariadicElementwise):
    """Max / Min / Sum / Mean of one or more broadcast operands (ONNX names them data_0...)."""
    TRAITS = (QuantFoldable("quant.Table"),)

    def infer_types(self) -> list[TensorType]:
        require_unquantized(self)
        return super().infer_types()


@op_def("onnx.Max")
class Max(ArithmeticVariadic):
    """max = element-wise maximum of the operands (NaN wins)."""

    ELEMENTS = NUMERIC
    RESULTS = (result("max"),)


@op_def("onnx.Min")
class Min(ArithmeticVariadic):
    """min = element-wise minimum of the operands (NaN wins)."""

    ELEMENTS = NUMERIC
    RESULTS = (result("min"),)


@op_def("onnx.Sum")
class Sum(ArithmeticVariadic):
    """sum = element-wise sum of the operands."""

    ELEMENTS = FLOATS
    RESULTS = (result("sum"),)


@op_def("onnx.Mean")
class Mean(ArithmeticVariadic):
    """mean = element-wise mean of the operands."""

    ELEMENTS = FLOATS
    RESULTS = (result("mean"),)


# --------------------------------------------------------------------------- Dropout


@op_def("onnx.Dropout")
class Dropout(Operation):
    """Inference-mode dropout: output = data, and the optional mask is all true."""
    TRAITS = (SameTypeIdentity(),)

    # ONNX's second output is optional; with_mask = 1 (set by importers when the node's 'mask'
    # output is used) declares it, so the result count follows from the attributes. Training
    # mode with a non-zero ratio drops at random and is rejected.
    OPERANDS = (operand("data", FLOATS), operand("ratio", FLOATS, optional=True),
                operand("training_mode", BOOL, optional=True))
    RESULTS = (result("output"), result("mask", variadic=True))
    DEFAULT_RATIO: ClassVar[float] = 0.5
    seed: int | None = attribute(AttrKind.INT, None)
    with_mask: int = attribute(AttrKind.INT, 0, choices=(0, 1),
                               doc="1 when the ONNX node's optional 'mask' output is used")

    def infer_types(self) -> list[TensorType]:
        require_unquantized(self)
        require_single_element(self, "ratio")
        require_single_element(self, "training_mode")
        data = self.type_of("data")
        out = TensorType(data.shape, data.element)
        return [out, out.with_element(E.BOOL)] if self.with_mask else [out]

    def verify_op(self) -> None:
        ratio = self.const("ratio")
        r = None if ratio is None else float(ratio.reshape(-1)[0])
        if r is not None and not 0 <= r < 1:
            raise self.error(f"ratio {r} is outside [0, 1)")
        if self.operand("ratio") is None:
            r = self.DEFAULT_RATIO
        training = self.const("training_mode")
        if training is not None and bool(training.reshape(-1)[0]) and r != 0:
            raise self.error("training-mode dropout with a non-zero ratio is random and is not "
                             "supported; export the model in inference mode")
