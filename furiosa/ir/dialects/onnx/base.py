"""Constants, Identity, and the base classes the other onnx op families share.

``UnaryElementwise`` and ``BinaryElementwise`` state their typing rule once:
a unary op keeps its operand's type; a binary op broadcasts its operands
(ONNX multidirectional broadcasting) and requires one element type. Each
concrete op only names itself, its element types and its attributes.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from furiosa.ir.core import AttrKind, Dense, Operation, attribute, op_def, operand, result
from furiosa.ir.dialects.common import ANY, NUMERIC, broadcast_shapes, same_element
from furiosa.ir.traits import (
    Elementwise,
    MovesData,
    SameTypeIdentity,
)
from furiosa.ir.types import ElementType, TensorType


@op_def("onnx.Constant")
class Constant(Operation):
    """A constant tensor; also the constant op of every other dialect."""

    OPERANDS = ()
    RESULTS = (result("output"),)
    value: Dense = attribute(AttrKind.DENSE)

    def infer_types(self) -> list[TensorType]:
        return [self.value.type]

    def constant_array(self) -> np.ndarray:
        return self.value.array

    @classmethod
    def of(cls, array: np.ndarray | Dense, type: TensorType | None = None, *,
           loc: str | None = None, name: str | None = None) -> Constant:
        """Build a constant from an array (its dtype picks the element type) or a Dense."""
        dense = array if isinstance(array, Dense) else Dense(np.asarray(array), type)
        return cls.build(value=dense, loc=loc, result_names=[name])


@op_def("onnx.Identity")
class Identity(Operation):
    TRAITS = (MovesData(), SameTypeIdentity())
    OPERANDS = (operand("input", ANY),)
    RESULTS = (result("output"),)


class UnaryElementwise(Operation):
    """y = f(x), same shape and type as x. Subclasses set ``ELEMENTS``."""
    TRAITS = (Elementwise(),)

    ELEMENTS: ClassVar[frozenset[ElementType]] = NUMERIC
    RESULTS = (result("Y"),)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "OPERANDS" not in cls.__dict__:
            cls.OPERANDS = (operand("X", cls.ELEMENTS),)

    def infer_types(self) -> list[TensorType]:
        x = self.operands[0]
        assert x is not None
        return [TensorType(x.type.shape, x.type.element)]


class BinaryElementwise(Operation):
    """C = f(A, B) with broadcasting; one element type for A and B.

    ``RESULT_ELEMENT`` fixes the result element type (bool for comparisons);
    None means the operands' element type.
    """
    TRAITS = (Elementwise(),)

    ELEMENTS: ClassVar[frozenset[ElementType]] = NUMERIC
    RESULT_ELEMENT: ClassVar[ElementType | None] = None
    RESULTS = (result("C"),)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "OPERANDS" not in cls.__dict__:
            cls.OPERANDS = (operand("A", cls.ELEMENTS), operand("B", cls.ELEMENTS))

    def infer_types(self) -> list[TensorType]:
        element = same_element(self, "A", "B")
        shape = broadcast_shapes(self, self.type_of("A").shape, self.type_of("B").shape)
        return [TensorType(shape, self.RESULT_ELEMENT or element)]


class VariadicElementwise(Operation):
    """Sum / Max / Min / Mean: one or more broadcast operands of one element type."""
    TRAITS = (Elementwise(),)

    ELEMENTS: ClassVar[frozenset[ElementType]] = NUMERIC
    RESULTS = (result("output"),)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "OPERANDS" not in cls.__dict__:
            cls.OPERANDS = (operand("data_0", cls.ELEMENTS, variadic=True, min_count=1),)

    def infer_types(self) -> list[TensorType]:
        vals = self.operand_list("data_0")
        elements = {v.type.element for v in vals}
        if len(elements) != 1:
            raise self.error("operands must share one element type, got "
                             + ", ".join(sorted(str(e) for e in elements)))
        shape = broadcast_shapes(self, *[v.type.shape for v in vals])
        return [TensorType(shape, vals[0].type.element)]
