"""Convolution, matrix products and pooling (ONNX opset-13 semantics).

Every sliding-window op (Conv, ConvTranspose, the pools, and the quantized
convolution and pooling ops) resolves its geometry through one function,
:func:`window_geometry`, so the output-size rule (explicit pads, ``ceil_mode``,
``SAME_UPPER`` / ``SAME_LOWER`` / ``VALID``) lives in one place and the kernels
use exactly the pads the type rule assumed.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from furiosa.ir.core import AttrKind, Operation, Value, attribute, op_def, operand, result
from furiosa.ir.dialects.common import (
    FLOATS,
    Window,
    broadcast_shapes,
    same_element,
    window_geometry,
)
from furiosa.ir.traits import (
    HasMACs,
    MovesData,
    NpuCapable,
    QuantFoldable,
    conv_macs,
    conv_transpose_macs,
    gemm_macs,
    matmul_macs,
)
from furiosa.ir.types import DYNAMIC, ElementType, TensorType

E = ElementType
AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")
MATMUL_ELEMENTS = FLOATS | {E.I32, E.I64, E.U32, E.U64}
MAXPOOL_ELEMENTS = FLOATS | {E.I8, E.U8}


def _positive(values: Sequence[int]) -> bool:
    return all(v >= 1 for v in values)


def _non_negative(values: Sequence[int]) -> bool:
    return all(v >= 0 for v in values)


# --------------------------------------------------------------------------- window geometry


def reject_quantized(op: Operation, *names: str) -> None:
    """Arithmetic ops compute on real values: IR-quantized operands must be dequantized first."""
    for name in names:
        v = op.operand(name)
        if v is not None and v.type.is_quantized:
            raise op.error(f"operand '{name}' is quantized ({v.type}); this op computes on "
                           "unquantized values")


def _spatial_input(op: Operation, name: str = "X") -> TensorType:
    t = op.type_of(name)
    if t.rank < 3:
        raise op.error(f"operand '{name}' has rank {t.rank}; expected N x C x spatial... "
                       "(rank >= 3)")
    return t


def matmul_shape(op: Operation, a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    """numpy.matmul's result shape (1-D operands promoted then squeezed, batch dims broadcast)."""
    if not a or not b:
        raise op.error("matrix product operands must have rank >= 1")
    a2 = (1, *a) if len(a) == 1 else tuple(a)
    b2 = (*b, 1) if len(b) == 1 else tuple(b)
    ka, kb = a2[-1], b2[-2]
    if DYNAMIC not in (ka, kb) and ka != kb:
        raise op.error(f"inner dimensions differ: {list(a)} x {list(b)}")
    batch = broadcast_shapes(op, a2[:-2], b2[:-2])
    out = list(batch)
    if len(a) > 1:
        out.append(a2[-2])
    if len(b) > 1:
        out.append(b2[-1])
    return tuple(out)


def gemm_dims(op: Operation, a: TensorType, b: TensorType, trans_a: int,
              trans_b: int) -> tuple[int, int]:
    """(M, N) of A' @ B' for 2-D A and B, each optionally transposed."""
    if a.rank != 2 or b.rank != 2:
        raise op.error(f"A and B must be matrices, got ranks {a.rank} and {b.rank}")
    m, ka = (a.shape[1], a.shape[0]) if trans_a else a.shape
    kb, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if DYNAMIC not in (ka, kb) and ka != kb:
        raise op.error(f"inner dimensions differ: A' has {ka} columns, B' has {kb} rows")
    return m, n


# --------------------------------------------------------------------------- convolution


@attrs.define(kw_only=True, eq=False, repr=False)
class ConvBase(Operation):
    """Attributes and the output-shape rule shared by Conv and the integer convolutions."""

    auto_pad: str = attribute(AttrKind.STRING, "NOTSET", choices=AUTO_PADS)
    dilations: tuple[int, ...] | None = attribute(AttrKind.INTS, None, check=_positive,
                                                  check_text="all >= 1")
    group: int = attribute(AttrKind.INT, 1, check=lambda g: g >= 1, check_text=">= 1")
    kernel_shape: tuple[int, ...] | None = attribute(AttrKind.INTS, None, check=_positive,
                                                     check_text="all >= 1")
    pads: tuple[int, ...] | None = attribute(AttrKind.INTS, None, check=_non_negative,
                                             check_text="all >= 0")
    strides: tuple[int, ...] | None = attribute(AttrKind.INTS, None, check=_positive,
                                                check_text="all >= 1")

    def conv_window(self, x: TensorType, w: TensorType) -> Window:
        if w.rank != x.rank:
            raise self.error(f"weight rank {w.rank} differs from input rank {x.rank}")
        kernel = w.shape[2:]
        if DYNAMIC in kernel:
            raise self.error("the weight's kernel dims must be static")
        if self.kernel_shape is not None and tuple(self.kernel_shape) != kernel:
            raise self.error(f"attribute 'kernel_shape' {list(self.kernel_shape)} differs from "
                             f"the weight's kernel {list(kernel)}")
        return window_geometry(self, x.shape[2:], kernel, self.strides, self.dilations,
                               self.pads, self.auto_pad)

    def conv_shape(self, x: TensorType, w: TensorType, bias: TensorType | None) -> tuple[int, ...]:
        """[N, M, out...] for X [N, C, ...] and W [M, C/group, k...]."""
        c, m, cg = x.shape[1], w.shape[0], w.shape[1]
        if m == DYNAMIC or cg == DYNAMIC:
            raise self.error("the weight's shape must be static")
        if m % self.group:
            raise self.error(f"{m} output channels do not divide into {self.group} groups")
        if c != DYNAMIC and c != cg * self.group:
            raise self.error(f"input has {c} channels but the weight expects "
                             f"{cg} x {self.group} groups = {cg * self.group}")
        if bias is not None and bias.shape != (m,):
            raise self.error(f"bias shape {list(bias.shape)} is not [{m}]")
        window = self.conv_window(x, w)
        return (x.shape[0], m, *window.out)


@op_def("onnx.Conv")
class Conv(ConvBase):
    """Y = convolution of X [N, C, spatial...] with W [M, C/group, k...] plus optional B [M]."""
    TRAITS = (HasMACs(conv_macs()), QuantFoldable("quant.Conv"))

    OPERANDS = (operand("X", FLOATS), operand("W", FLOATS), operand("B", FLOATS, optional=True))
    RESULTS = (result("Y"),)

    def infer_types(self) -> list[TensorType]:
        reject_quantized(self, "X", "W", "B")
        element = same_element(self, "X", "W", "B")
        x = _spatial_input(self)
        b = self.operand("B")
        shape = self.conv_shape(x, self.type_of("W"), b.type if b is not None else None)
        return [TensorType(shape, element)]


@op_def("onnx.ConvTranspose")
class ConvTranspose(Operation):
    """Y = transposed convolution (gradient of Conv) of X [N, C, ...] with W [C, M/group, k...]."""
    TRAITS = (HasMACs(conv_transpose_macs),)

    OPERANDS = (operand("X", FLOATS), operand("W", FLOATS), operand("B", FLOATS, optional=True))
    RESULTS = (result("Y"),)
    auto_pad: str = attribute(AttrKind.STRING, "NOTSET", choices=AUTO_PADS)
    dilations: tuple[int, ...] | None = attribute(AttrKind.INTS, None, check=_positive,
                                                  check_text="all >= 1")
    group: int = attribute(AttrKind.INT, 1, check=lambda g: g >= 1, check_text=">= 1")
    kernel_shape: tuple[int, ...] | None = attribute(AttrKind.INTS, None, check=_positive,
                                                     check_text="all >= 1")
    output_padding: tuple[int, ...] | None = attribute(AttrKind.INTS, None, check=_non_negative,
                                                       check_text="all >= 0")
    output_shape: tuple[int, ...] | None = attribute(AttrKind.INTS, None, check=_positive,
                                                     check_text="all >= 1")
    pads: tuple[int, ...] | None = attribute(AttrKind.INTS, None, check=_non_negative,
                                             check_text="all >= 0")
    strides: tuple[int, ...] | None = attribute(AttrKind.INTS, None, check=_positive,
                                                check_text="all >= 1")

    def geometry(self, spatial: Sequence[int], kernel: Sequence[int]) -> tuple[
            tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(output spatial size, pads at the beginning, pads at the end), as onnxruntime does.

        The full output is ``s*(n-1) + output_padding + (k-1)*d + 1`` long; pads crop it.
        With ``output_shape`` (or ``SAME_*``, aiming at ``n*s``) the total pad is what makes
        the wanted size (never negative), the odd one at the end for ``SAME_UPPER`` and at
        the beginning otherwise; ``output_shape`` overrides ``pads``.
        """
        n = len(spatial)
        strides = self.strides or (1,) * n
        dilations = self.dilations or (1,) * n
        out_pad = self.output_padding or (0,) * n
        pads = self.pads or (0,) * (2 * n)
        for name, values, count in (("strides", strides, n), ("dilations", dilations, n),
                                    ("output_padding", out_pad, n), ("pads", pads, 2 * n)):
            if len(values) != count:
                raise self.error(f"attribute '{name}' has {len(values)} values; expected {count}")
        for i in range(n):
            if out_pad[i] >= max(strides[i], dilations[i]):
                raise self.error(f"output_padding {out_pad[i]} on spatial axis {i} must be "
                                 "smaller than its stride or dilation")
        wanted: tuple[int, ...] | None = None
        if self.output_shape is not None:
            if len(self.output_shape) != n:
                raise self.error(f"attribute 'output_shape' has {len(self.output_shape)} values; "
                                 f"expected {n} spatial sizes")
            wanted = tuple(self.output_shape)
        if self.auto_pad != "NOTSET" and self.pads is not None and any(self.pads):
            raise self.error(f"attribute 'pads' cannot be given with auto_pad {self.auto_pad}")
        begin: list[int] = []
        end: list[int] = []
        out: list[int] = []
        for i in range(n):
            if spatial[i] == DYNAMIC:
                begin.append(0)
                end.append(0)
                out.append(wanted[i] if wanted is not None else DYNAMIC)
                continue
            full = strides[i] * (spatial[i] - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1
            target = wanted[i] if wanted is not None else (
                spatial[i] * strides[i] if self.auto_pad in ("SAME_UPPER", "SAME_LOWER") else None)
            if target is None:
                pb, pe = (pads[i], pads[i + n]) if self.auto_pad == "NOTSET" else (0, 0)
            else:
                total = max(0, full - target)
                pb = total // 2 if self.auto_pad == "SAME_UPPER" else total - total // 2
                pe = total - pb
            size = target if wanted is not None else full - pb - pe
            if size < 1:
                raise self.error(f"spatial axis {i} would have size {size}")
            begin.append(pb)
            end.append(pe)
            out.append(size)
        return tuple(out), tuple(begin), tuple(end)

    def infer_types(self) -> list[TensorType]:
        reject_quantized(self, "X", "W", "B")
        element = same_element(self, "X", "W", "B")
        x = _spatial_input(self)
        w = self.type_of("W")
        if w.rank != x.rank:
            raise self.error(f"weight rank {w.rank} differs from input rank {x.rank}")
        if DYNAMIC in w.shape:
            raise self.error("the weight's shape must be static")
        c, mg = w.shape[0], w.shape[1]
        kernel = w.shape[2:]
        if self.kernel_shape is not None and tuple(self.kernel_shape) != kernel:
            raise self.error(f"attribute 'kernel_shape' {list(self.kernel_shape)} differs from "
                             f"the weight's kernel {list(kernel)}")
        if x.shape[1] != DYNAMIC and x.shape[1] != c:
            raise self.error(f"input has {x.shape[1]} channels but the weight expects {c}")
        if c % self.group:
            raise self.error(f"{c} input channels do not divide into {self.group} groups")
        m = mg * self.group
        b = self.operand("B")
        if b is not None and b.type.shape != (m,):
            raise self.error(f"bias shape {list(b.type.shape)} is not [{m}]")
        out, _, _ = self.geometry(x.shape[2:], kernel)
        return [TensorType((x.shape[0], m, *out), element)]


# --------------------------------------------------------------------------- matrix products


@op_def("onnx.Gemm")
class Gemm(Operation):
    """Y = alpha * A' @ B' + beta * C, A' and B' optionally transposed, C broadcast to [M, N]."""
    TRAITS = (HasMACs(gemm_macs), QuantFoldable("quant.MatMul"))

    OPERANDS = (operand("A", MATMUL_ELEMENTS), operand("B", MATMUL_ELEMENTS),
                operand("C", MATMUL_ELEMENTS, optional=True))
    RESULTS = (result("Y"),)
    alpha: float = attribute(AttrKind.FLOAT, 1.0)
    beta: float = attribute(AttrKind.FLOAT, 1.0)
    transA: int = attribute(AttrKind.INT, 0, choices=(0, 1))
    transB: int = attribute(AttrKind.INT, 0, choices=(0, 1))

    def infer_types(self) -> list[TensorType]:
        reject_quantized(self, "A", "B", "C")
        element = same_element(self, "A", "B", "C")
        m, n = gemm_dims(self, self.type_of("A"), self.type_of("B"), self.transA, self.transB)
        c = self.operand("C")
        if c is not None:
            out = broadcast_shapes(self, (m, n), c.type.shape)
            if out != (m, n) and DYNAMIC not in (m, n):
                raise self.error(f"C of shape {list(c.type.shape)} does not broadcast to "
                                 f"[{m}, {n}]")
        return [TensorType((m, n), element)]


@op_def("onnx.MatMul")
class MatMul(Operation):
    """Y = A @ B with numpy.matmul semantics (1-D promotion, broadcast batch dims)."""
    TRAITS = (HasMACs(matmul_macs), QuantFoldable("quant.MatMul"))

    OPERANDS = (operand("A", MATMUL_ELEMENTS), operand("B", MATMUL_ELEMENTS))
    RESULTS = (result("Y"),)

    def infer_types(self) -> list[TensorType]:
        reject_quantized(self, "A", "B")
        element = same_element(self, "A", "B")
        return [TensorType(matmul_shape(self, self.type_of("A").shape,
                                        self.type_of("B").shape), element)]


# --------------------------------------------------------------------------- pooling


@attrs.define(kw_only=True, eq=False, repr=False)
class PoolBase(Operation):
    """kernel_shape / strides / pads / auto_pad of the windowed pools."""

    RESULTS = (result("Y"),)
    auto_pad: str = attribute(AttrKind.STRING, "NOTSET", choices=AUTO_PADS)
    kernel_shape: tuple[int, ...] = attribute(AttrKind.INTS, check=_positive,
                                              check_text="all >= 1")
    pads: tuple[int, ...] | None = attribute(AttrKind.INTS, None, check=_non_negative,
                                             check_text="all >= 0")
    strides: tuple[int, ...] | None = attribute(AttrKind.INTS, None, check=_positive,
                                                check_text="all >= 1")

    def pool_window(self, x: TensorType, ceil_mode: bool = False,
                    dilations: Sequence[int] | None = None) -> Window:
        return window_geometry(self, x.shape[2:], self.kernel_shape, self.strides, dilations,
                               self.pads, self.auto_pad, ceil_mode)


@op_def("onnx.AveragePool")
class AveragePool(PoolBase):
    """Mean over each window; padding counted in the divisor only with count_include_pad."""
    TRAITS = (QuantFoldable("quant.AveragePool"),)

    OPERANDS = (operand("X", FLOATS),)
    ceil_mode: int = attribute(AttrKind.INT, 0, choices=(0, 1))
    count_include_pad: int = attribute(AttrKind.INT, 0, choices=(0, 1))

    def infer_types(self) -> list[TensorType]:
        reject_quantized(self, "X")
        x = _spatial_input(self)
        w = self.pool_window(x, bool(self.ceil_mode))
        return [TensorType((*x.shape[:2], *w.out), x.element)]


@op_def("onnx.MaxPool")
class MaxPool(PoolBase):
    """Max over each window; optional int64 Indices of each maximum in the flattened input."""
    TRAITS = (MovesData(), QuantFoldable("quant.MaxPool"), NpuCapable("MaxPool"))

    OPERANDS = (operand("X", MAXPOOL_ELEMENTS),)
    # Indices exists only when the op has two results: built by with_indices, or parsed.
    RESULTS = (result("Y"), result("Indices", variadic=True))
    ceil_mode: int = attribute(AttrKind.INT, 0, choices=(0, 1))
    dilations: tuple[int, ...] | None = attribute(AttrKind.INTS, None, check=_positive,
                                                  check_text="all >= 1")
    storage_order: int = attribute(AttrKind.INT, 0, choices=(0, 1))

    @classmethod
    def with_indices(cls, x: Value, **attributes: object) -> MaxPool:
        """A MaxPool that also returns Indices."""
        loc = attributes.pop("loc", None)
        probe = cls.build(x, **attributes)
        y = probe.results[0].type
        return cls.build(x, loc=loc, result_types=[y, TensorType(y.shape, E.I64)], **attributes)

    def infer_types(self) -> list[TensorType]:
        x = _spatial_input(self)
        q = x.quant
        if q is not None and q.axis is not None and q.axis >= 2:
            raise self.error(f"per-axis quantization on spatial axis {q.axis} cannot follow "
                             "a pooling op")
        w = self.pool_window(x, bool(self.ceil_mode), self.dilations)
        y = TensorType((*x.shape[:2], *w.out), x.element, q)
        if len(self.results) > 1:
            return [y, TensorType(y.shape, E.I64)]
        return [y]


@op_def("onnx.LpPool")
class LpPool(PoolBase):
    """(sum over each window of |x|^p)^(1/p); padding contributes zeros."""

    OPERANDS = (operand("X", FLOATS),)
    p: int = attribute(AttrKind.INT, 2, check=lambda p: p >= 1, check_text=">= 1")

    def infer_types(self) -> list[TensorType]:
        reject_quantized(self, "X")
        x = _spatial_input(self)
        w = self.pool_window(x)
        return [TensorType((*x.shape[:2], *w.out), x.element)]


class GlobalPool(Operation):
    """[N, C, spatial...] -> [N, C, 1, ...]."""

    RESULTS = (result("Y"),)

    def global_type(self, keep_quant: bool) -> TensorType:
        x = _spatial_input(self)
        q = x.quant
        if q is not None and not keep_quant:
            reject_quantized(self, "X")
        if q is not None and q.axis is not None and q.axis >= 2:
            raise self.error(f"per-axis quantization on spatial axis {q.axis} cannot follow "
                             "a pooling op")
        return TensorType((*x.shape[:2], *([1] * (x.rank - 2))), x.element, q)


@op_def("onnx.GlobalAveragePool")
class GlobalAveragePool(GlobalPool):
    """Mean over all spatial positions of each channel."""
    TRAITS = (QuantFoldable("quant.Mean"),)

    OPERANDS = (operand("X", FLOATS),)

    def infer_types(self) -> list[TensorType]:
        return [self.global_type(keep_quant=False)]


@op_def("onnx.GlobalMaxPool")
class GlobalMaxPool(GlobalPool):
    """Max over all spatial positions of each channel."""
    TRAITS = (MovesData(), QuantFoldable("quant.MaxPool"))

    OPERANDS = (operand("X", MAXPOOL_ELEMENTS),)

    def infer_types(self) -> list[TensorType]:
        return [self.global_type(keep_quant=True)]
