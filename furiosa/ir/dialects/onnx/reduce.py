"""Onnx ops that combine elements along axes: the Reduce* family, ArgMax/ArgMin, CumSum,
Softmax/LogSoftmax/Hardmax and the normalizations.

Names, attributes and element types are ONNX opset 13's (bfloat16 aside). ReduceSum takes its
axes as an operand (which must be a constant, since it fixes the result shape); the other
reductions take an ``axes`` attribute. ReduceMax, ReduceMin, ArgMax and ArgMin accept
per-tensor quantized data, because a positive scale preserves order; every other op here
computes on real values and rejects quantized operands.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

import attrs

from furiosa.ir.core import AttrKind, Operation, attribute, op_def, operand, result
from furiosa.ir.dialects.common import (
    FLOATS,
    INDEX,
    NUMERIC,
    as_index_list,
    normalize_axis,
    same_element,
)
from furiosa.ir.dialects.onnx.elementwise import require_single_element, require_unquantized
from furiosa.ir.traits import (
    QuantFoldable,
)
from furiosa.ir.types import DYNAMIC, ElementType, Quantization, TensorType

E = ElementType
# ReduceSum and most of its family take these element types in opset 13 ...
REDUCE_ELEMENTS = FLOATS | {E.I32, E.I64, E.U32, E.U64}
# ... ReduceMax and ReduceMin add the 8-bit ones.
REDUCE_MINMAX_ELEMENTS = REDUCE_ELEMENTS | {E.I8, E.U8}

# An op definition base with attributes must itself be an attrs class so subclasses inherit them.
op_base = attrs.define(kw_only=True, eq=False, repr=False)


def normalize_axes(op: Operation, axes: Sequence[int], rank: int) -> tuple[int, ...]:
    """Distinct axes in [-rank, rank), made non-negative and sorted."""
    norm = [normalize_axis(op, a, rank, "axis") for a in axes]
    if len(set(norm)) != len(norm):
        raise op.error(f"axes {list(axes)} name an axis twice")
    return tuple(sorted(norm))


def reduced_shape(shape: Sequence[int], axes: Sequence[int], keepdims: bool) -> tuple[int, ...]:
    """``shape`` with ``axes`` reduced to 1 (keepdims) or removed."""
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def order_preserving_quant(op: Operation, t: TensorType) -> Quantization | None:
    """The quantization a max/min/arg selection may keep: per-tensor only."""
    if t.quant is not None and not t.quant.is_per_tensor:
        raise op.error(f"per-axis quantized data ({t.quant}) cannot be reduced across "
                       "channels; dequantize it first")
    return t.quant


def require_channel_vector(op: Operation, name: str, x: TensorType) -> None:
    """Operand ``name`` must be 1-D with one entry per channel (dim 1) of ``x``."""
    t = op.type_of(name)
    channels = x.shape[1]
    if t.rank != 1 or (channels != DYNAMIC and t.shape[0] not in (channels, DYNAMIC)):
        raise op.error(f"operand '{name}' has type {t}; expected shape [{channels}] "
                       "(one value per channel)")


def require_rank(op: Operation, t: TensorType, least: int, what: str) -> None:
    if t.rank < least:
        raise op.error(f"input of rank {t.rank} is too small; expected {what}")


# --------------------------------------------------------------------------- Reduce*


@op_base
class Reduction(Operation, abc.ABC):
    """Reduce 'data' over some axes; keepdims = 1 keeps them as size-1 dims.

    Subclasses say where the axes come from (``requested_axes``); absent or empty axes
    reduce every axis, unless ``noop_with_empty_axes`` (ReduceSum) makes that the identity.
    """

    ELEMENTS: ClassVar[frozenset[ElementType]] = REDUCE_ELEMENTS
    # Max and min select an element, so per-tensor quantization passes through them.
    SELECTS: ClassVar[bool] = False
    RESULTS = (result("reduced"),)
    keepdims: int = attribute(AttrKind.INT, 1, choices=(0, 1))

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "OPERANDS" not in cls.__dict__:
            cls.OPERANDS = (operand("data", cls.ELEMENTS),)

    @abc.abstractmethod
    def requested_axes(self) -> Sequence[int] | None:
        """The axes as written, None when absent; each subclass says where they come from."""

    @property
    def noop_on_empty_axes(self) -> bool:
        return False

    def resolve_axes(self, axes: Sequence[int] | None, rank: int) -> tuple[int, ...] | None:
        """The sorted axes to reduce, or None when the op passes its data through unchanged."""
        if axes is None or len(axes) == 0:
            return None if self.noop_on_empty_axes else tuple(range(rank))
        return normalize_axes(self, axes, rank)

    def infer_types(self) -> list[TensorType]:
        data = self.type_of("data")
        if self.SELECTS:
            quant = order_preserving_quant(self, data)
        else:
            require_unquantized(self)
            quant = None
        axes = self.resolve_axes(self.requested_axes(), data.rank)
        shape = data.shape if axes is None else reduced_shape(data.shape, axes, bool(self.keepdims))
        return [TensorType(shape, data.element, quant)]


@op_base
class AxesReduction(Reduction):
    """A reduction whose axes are an attribute (opset 13: all but ReduceSum)."""

    axes: tuple[int, ...] | None = attribute(AttrKind.INTS, None)

    def requested_axes(self) -> Sequence[int] | None:
        return self.axes


@op_def("onnx.ReduceSum")
class ReduceSum(Reduction):
    """reduced = sum of data over the axes given by the optional constant 'axes' operand."""

    OPERANDS = (operand("data", REDUCE_ELEMENTS), operand("axes", {E.I64}, optional=True))
    noop_with_empty_axes: int = attribute(AttrKind.INT, 0, choices=(0, 1))

    @property
    def noop_on_empty_axes(self) -> bool:
        return bool(self.noop_with_empty_axes)

    def requested_axes(self) -> Sequence[int] | None:
        v = self.operand("axes")
        if v is None:
            return None
        if v.type.rank != 1:
            raise self.error(f"operand 'axes' must be 1-D, not {v.type}")
        return as_index_list(self, self.require_const("axes"), "axes")


@op_def("onnx.ReduceMean")
class ReduceMean(AxesReduction):
    """reduced = mean of data over axes (integer means truncate toward zero)."""
    TRAITS = (QuantFoldable("quant.Mean"),)


@op_def("onnx.ReduceMax")
class ReduceMax(AxesReduction):
    """reduced = maximum of data over axes (NaN wins)."""

    ELEMENTS = REDUCE_MINMAX_ELEMENTS
    SELECTS = True


@op_def("onnx.ReduceMin")
class ReduceMin(AxesReduction):
    """reduced = minimum of data over axes (NaN wins)."""

    ELEMENTS = REDUCE_MINMAX_ELEMENTS
    SELECTS = True


@op_def("onnx.ReduceProd")
class ReduceProd(AxesReduction):
    """reduced = product of data over axes."""


@op_def("onnx.ReduceL1")
class ReduceL1(AxesReduction):
    """reduced = sum of |data| over axes."""


@op_def("onnx.ReduceL2")
class ReduceL2(AxesReduction):
    """reduced = sqrt(sum of data^2 over axes)."""


@op_def("onnx.ReduceLogSum")
class ReduceLogSum(AxesReduction):
    """reduced = ln(sum of data over axes)."""


@op_def("onnx.ReduceLogSumExp")
class ReduceLogSumExp(AxesReduction):
    """reduced = ln(sum of e^data over axes)."""


@op_def("onnx.ReduceSumSquare")
class ReduceSumSquare(AxesReduction):
    """reduced = sum of data^2 over axes."""


# --------------------------------------------------------------------------- ArgMax / ArgMin


@op_base
class ArgReduction(Operation):
    """The int64 index of the extreme element along one axis (the first one, or the last)."""

    OPERANDS = (operand("data", NUMERIC),)
    RESULTS = (result("reduced"),)
    axis: int = attribute(AttrKind.INT, 0)
    keepdims: int = attribute(AttrKind.INT, 1, choices=(0, 1))
    select_last_index: int = attribute(AttrKind.INT, 0, choices=(0, 1))

    def infer_types(self) -> list[TensorType]:
        data = self.type_of("data")
        order_preserving_quant(self, data)
        axis = normalize_axis(self, self.axis, data.rank)
        return [TensorType(reduced_shape(data.shape, (axis,), bool(self.keepdims)), E.I64)]


@op_def("onnx.ArgMax")
class ArgMax(ArgReduction):
    """reduced = index of the maximum of data along axis."""


@op_def("onnx.ArgMin")
class ArgMin(ArgReduction):
    """reduced = index of the minimum of data along axis."""


# --------------------------------------------------------------------------- CumSum


@op_def("onnx.CumSum")
class CumSum(Operation):
    """y = running sum of x along the scalar 'axis' operand (exclusive / reverse variants)."""

    OPERANDS = (operand("x", FLOATS | {E.I32, E.I64, E.U32, E.U64}), operand("axis", INDEX))
    RESULTS = (result("y"),)
    exclusive: int = attribute(AttrKind.INT, 0, choices=(0, 1))
    reverse: int = attribute(AttrKind.INT, 0, choices=(0, 1))

    def infer_types(self) -> list[TensorType]:
        require_unquantized(self)
        require_single_element(self, "axis")
        x = self.type_of("x")
        axis = self.const("axis")
        if axis is not None:
            # The result type does not depend on the axis, but a constant one can be checked now.
            normalize_axis(self, int(axis.reshape(-1)[0]), x.rank)
        return [TensorType(x.shape, x.element)]


# --------------------------------------------------------------------------- Softmax family


@op_base
class AxisSoftmax(Operation):
    """An opset-13 softmax-like op: normalizes 'input' along one axis."""

    OPERANDS = (operand("input", FLOATS),)
    RESULTS = (result("output"),)
    axis: int = attribute(AttrKind.INT, -1)

    def infer_types(self) -> list[TensorType]:
        require_unquantized(self)
        x = self.type_of("input")
        normalize_axis(self, self.axis, x.rank)
        return [TensorType(x.shape, x.element)]


@op_def("onnx.Softmax")
class Softmax(AxisSoftmax):
    """output = e^input / sum of e^input along axis."""


@op_def("onnx.LogSoftmax")
class LogSoftmax(AxisSoftmax):
    """output = input - ln(sum of e^input along axis)."""


@op_def("onnx.Hardmax")
class Hardmax(AxisSoftmax):
    """output = 1 at the first maximum along axis, 0 elsewhere."""


# --------------------------------------------------------------------------- normalizations


@op_def("onnx.BatchNormalization")
class BatchNormalization(Operation):
    """Y = scale * (X - mean) / sqrt(var + epsilon) + B per channel (inference form)."""

    # Only Y is declared: ONNX's optional running-statistics outputs exist in training only.

    OPERANDS = (operand("X", FLOATS), operand("scale", FLOATS), operand("B", FLOATS),
                operand("mean", FLOATS), operand("var", FLOATS))
    RESULTS = (result("Y"),)
    epsilon: float = attribute(AttrKind.FLOAT, 1e-5)
    momentum: float = attribute(AttrKind.FLOAT, 0.9)

    def infer_types(self) -> list[TensorType]:
        require_unquantized(self)
        same_element(self, "X", "scale", "B", "mean", "var")
        x = self.type_of("X")
        require_rank(self, x, 2, "N x C x ...")
        for name in ("scale", "B", "mean", "var"):
            require_channel_vector(self, name, x)
        return [TensorType(x.shape, x.element)]


@op_def("onnx.InstanceNormalization")
class InstanceNormalization(Operation):
    """output = scale * (input - mean) / sqrt(var + epsilon) + B, statistics per (n, c)."""

    OPERANDS = (operand("input", FLOATS), operand("scale", FLOATS), operand("B", FLOATS))
    RESULTS = (result("output"),)
    epsilon: float = attribute(AttrKind.FLOAT, 1e-5)

    def infer_types(self) -> list[TensorType]:
        require_unquantized(self)
        same_element(self, "input", "scale", "B")
        x = self.type_of("input")
        require_rank(self, x, 3, "N x C x D1 x ...")
        for name in ("scale", "B"):
            require_channel_vector(self, name, x)
        return [TensorType(x.shape, x.element)]


@op_def("onnx.LpNormalization")
class LpNormalization(Operation):
    """output = input / ||input||_p along axis (a zero norm gives 0)."""

    OPERANDS = (operand("input", FLOATS),)
    RESULTS = (result("output"),)
    axis: int = attribute(AttrKind.INT, -1)
    p: int = attribute(AttrKind.INT, 2, choices=(1, 2))

    def infer_types(self) -> list[TensorType]:
        require_unquantized(self)
        x = self.type_of("input")
        normalize_axis(self, self.axis, x.rank)
        return [TensorType(x.shape, x.element)]


@op_def("onnx.LRN")
class LRN(Operation):
    """Y = X / (bias + alpha / size * sum of X^2 over 'size' neighbouring channels)^beta."""

    OPERANDS = (operand("X", FLOATS),)
    RESULTS = (result("Y"),)
    alpha: float = attribute(AttrKind.FLOAT, 0.0001)
    beta: float = attribute(AttrKind.FLOAT, 0.75)
    bias: float = attribute(AttrKind.FLOAT, 1.0)
    size: int = attribute(AttrKind.INT, check=lambda s: s >= 1, check_text=">= 1")

    def infer_types(self) -> list[TensorType]:
        require_unquantized(self)
        x = self.type_of("X")
        require_rank(self, x, 3, "N x C x D1 x ...")
        return [TensorType(x.shape, x.element)]


@op_def("onnx.MeanVarianceNormalization")
class MeanVarianceNormalization(Operation):
    """Y = (X - mean) / (std + 1e-9), mean and std over axes (ONNX's function body)."""

    OPERANDS = (operand("X", FLOATS),)
    RESULTS = (result("Y"),)
    EPSILON: ClassVar[float] = 1e-9
    axes: tuple[int, ...] = attribute(AttrKind.INTS, (0, 2, 3))

    def infer_types(self) -> list[TensorType]:
        require_unquantized(self)
        x = self.type_of("X")
        normalize_axes(self, self.axes, x.rank)
        return [TensorType(x.shape, x.element)]
