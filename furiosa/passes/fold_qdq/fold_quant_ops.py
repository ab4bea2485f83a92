"""``fold-quant-ops``: Dequantize -> float op -> Quantize into one quant op.

Rooted at ``host.Quantize``: Conv (and Conv -> BatchNormalization), MatMul, Gemm, Add, Sub,
Mul, AveragePool, GlobalAveragePool, ReduceMean, ReduceSum, Softmax, linear Resize,
PRelu, Concat, any element-wise function of one tensor (a 256-entry table), Relu/Clip
(the producer's activation clamp) become the quant op; an op whose ``QuantFoldable`` names a
float reference (ConvTranspose, LpNormalization, ReduceL2) becomes it with its attributes; MaxPool and Concat on
tensors that are already quantized become quant.MaxPool / quant.Concat; Quantize(Dequantize(t))
becomes ``t``, or a requantization table when the quantizations differ (a table of
Quantize(Dequantize(x)) rounds exactly as the float ops; a fixed-point requantization of 8-bit
values rounds twice and is a step off on many elements). What matches nothing stays float
between explicit ``host.Dequantize`` and ``host.Quantize``; Dequantize(Quantize(x)) is never
removed, since it rounds.

The stage runs the ``propagate-qdq`` patterns with its own: moving a Quantize above a Reshape
exposes a fold below it, and a fold leaves a Dequantize to sink through the next data
movement, so neither reaches its fixed point alone.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np

from furiosa.errors import IRError
from furiosa.ir.core import DECLARED_OPS, Dense, Operation, Value, constant_value
from furiosa.ir.dialects import quant as qd
from furiosa.ir.dialects.host import Dequantize, Quantize
from furiosa.ir.dialects.onnx import elementwise as ew
from furiosa.ir.dialects.onnx import nn
from furiosa.ir.dialects.onnx import reduce as rd
from furiosa.ir.dialects.onnx import tensor as tn
from furiosa.ir.dialects.onnx.base import (
    BinaryElementwise,
    Constant,
    UnaryElementwise,
    VariadicElementwise,
)
from furiosa.ir.interpreter import has_kernel, run_op
from furiosa.ir.module import Function
from furiosa.ir.quantization import ARITHMETIC_MODES, INT32_MAX, INT32_MIN, activation_range
from furiosa.ir.traits import QuantFoldable
from furiosa.ir.types import DYNAMIC, Quantization, TensorType
from furiosa.passes.base import FunctionPass, PassContext, option
from furiosa.passes.fold_qdq.common import (
    EIGHT_BIT,
    E,
    build_checked,
    finish,
    owner,
    per_tensor_8bit,
    rebuild,
    replace,
    requantized,
    table_op,
    typed,
    typed_8bit,
    window,
)
from furiosa.passes.fold_qdq.propagate_qdq import PROPAGATE_PATTERNS
from furiosa.passes.rewrite import RewritePattern, Rewriter, apply_patterns_greedily, pattern
from furiosa.passes.set_arithmetic import set_arithmetic


def _split_activation(v: Value) -> tuple[Value, tuple[float | None, float | None] | None]:
    """(input, real clamp) when ``v`` is Relu(input) or Clip(input) with constant bounds."""
    op = v.owner
    if isinstance(op, ew.Relu):
        return op.operands[0], (0.0, None)
    if isinstance(op, ew.Clip):
        bounds: list[float | None] = []
        for name in ("min", "max"):
            b = op.operand(name)
            if b is None:
                bounds.append(None)
                continue
            c = constant_value(b)
            if c is None:
                return v, None
            bounds.append(float(c.reshape(())))
        return op.operands[0], (bounds[0], bounds[1])
    return v, None


def _weights(w: Value, axis: int, new: list[Operation]) -> Value | None:
    """``w`` as symmetric int8 weights quantized per tensor or along ``axis``: itself, or a
    constant with the zero points subtracted when that fits int8 (appended to ``new``)."""
    q = w.type.quant
    if q is None or w.type.element not in EIGHT_BIT or (q.axis is not None and q.axis != axis):
        return None
    if w.type.element == E.I8 and all(z == 0 for z in q.zero_point):
        return w
    stored = constant_value(w)
    if stored is None:
        return None
    centred = stored.astype(np.int64) - q.zero_point_array(w.type.rank)
    if centred.min(initial=0) < E.I8.min or centred.max(initial=0) > E.I8.max:
        return None
    sym = Quantization(q.scale, [0] * len(q.zero_point), q.axis)
    c = Constant.of(Dense(centred.astype(np.int8), TensorType(w.type.shape, E.I8, sym)),
                    name=w.name)
    new.append(c)
    return c.results[0]


def _bias(v: Value, x_scale: float, w_quant: Quantization, channels: int,
          new: list[Operation], scale_by: float = 1.0) -> Value | None:
    """The constant float bias ``scale_by · v`` as int32 in units of x_scale · w_scale: the
    dequantized int32 constant itself when its scale already is that, else quantized."""
    scales = np.asarray([x_scale * s for s in w_quant.scale], dtype=np.float64)
    given = typed(v) if scale_by == 1.0 else None
    if given is not None and given.type.element == E.I32 and given.type.shape == (channels,) \
            and given.type.quant is not None and constant_value(given) is not None:
        tq = given.type.quant
        got = np.asarray(tq.scale, dtype=np.float64)
        if all(z == 0 for z in tq.zero_point) and tq.axis in (None, 0) and np.all(
                np.abs(got - scales) <= qd.BIAS_SCALE_TOLERANCE * np.minimum(got, scales)):
            return given
    real = constant_value(v)
    if real is None or real.size not in (1, channels):
        return None
    real = np.broadcast_to(real.astype(np.float64).reshape(-1) * scale_by, (channels,))
    per = np.broadcast_to(scales, (channels,))
    stored = np.rint(real / per)
    if not np.all(np.isfinite(stored)) or stored.min() < INT32_MIN or stored.max() > INT32_MAX:
        return None
    q = (Quantization.per_tensor(float(scales[0])) if scales.size == 1
         else Quantization.per_axis(scales.tolist(), [0] * channels, 0))
    c = Constant.of(Dense(stored.astype(np.int32), TensorType((channels,), E.I32, q)))
    new.append(c)
    return c.results[0]


def _conv_batchnorm(v: Value) -> tuple[nn.Conv, np.ndarray, np.ndarray] | None:
    """(conv, g, c) when ``v`` is BatchNormalization(Conv(...)) in inference mode with
    constant parameters and the Conv read only there: the normalization is ``g·y + c`` per
    output channel."""
    bn = owner(v, rd.BatchNormalization)
    if bn is None or len(bn.results) != 1:
        return None
    conv = owner(bn.operands[0], nn.Conv)
    if conv is None or len(conv.results[0].uses) != 1:
        return None
    params = [constant_value(bn.operands[i]) for i in range(1, 5)]
    if any(p is None for p in params):
        return None
    scale, beta, mean, var = (np.asarray(p, np.float64).reshape(-1) for p in params)
    g = scale / np.sqrt(var + bn.epsilon)
    return conv, g, beta - mean * g


def _scaled_weights(w: Value, g: np.ndarray, new: list[Operation]) -> Value | None:
    """Symmetric int8 weights ``w`` times ``g`` per output channel, exactly: each channel's
    scale times |g|, its values negated where g is negative (None when -128 would be)."""
    stored = constant_value(w)
    q = w.type.quant
    channels = w.type.shape[0]
    if stored is None or q is None or g.size not in (1, channels) or not np.all(np.isfinite(g)):
        return None
    g = np.broadcast_to(g, (channels,))
    sign = np.where(g < 0, -1, 1).reshape(channels, *[1] * (w.type.rank - 1))
    if np.any((stored == E.I8.min) & (sign < 0)):
        return None
    scales = np.broadcast_to(np.asarray(q.scale, np.float64), (channels,)) * np.abs(g)
    # A zero g zeroes the channel; its scale only needs to be positive.
    values = np.where(g.reshape(sign.shape) == 0, 0, stored.astype(np.int64) * sign)
    scales = np.where(g == 0, 1.0, scales)
    c = Constant.of(Dense(values.astype(np.int8), TensorType(w.type.shape, E.I8, Quantization.per_axis(
        [float(s) for s in scales], [0] * channels, 0))), name=w.name)
    new.append(c)
    return c.results[0]


@pattern(Quantize, name="convs-folded")
def fold_conv(q: Quantize, rw: Rewriter) -> bool:
    """Conv, optionally followed by an inference BatchNormalization (folded exactly into the
    weight scales and the bias), optionally clamped."""
    if not q.quantization.is_per_tensor:
        return False
    inner, clamp = _split_activation(q.operands[0])
    conv = owner(inner, nn.Conv)
    affine = None
    if conv is None:
        found = _conv_batchnorm(inner)
        if found is None:
            return False
        conv, g, shift = found
        affine = (g, shift)
    x = typed_8bit(conv.operand("X"))
    w_typed = typed(conv.operand("W"))
    if x is None or w_typed is None:
        return False
    new: list[Operation] = []
    w = _weights(w_typed, 0, new)
    if w is None:
        return False
    bias_value = conv.operand("B")
    if affine is not None:
        w = _scaled_weights(w, affine[0], new)
        if w is None:
            return False
        given = constant_value(bias_value) if bias_value is not None else np.zeros(1)
        if given is None:
            return False
        channels = w.type.shape[0]
        real = np.broadcast_to(given.astype(np.float64).reshape(-1), (channels,)) * \
            affine[0] + affine[1]
        b = Constant.of(Dense(real.astype(np.float32)))
        new.append(b)
        bias_value = b.results[0]
    bias = None
    if bias_value is not None:
        assert w.type.quant is not None
        bias = _bias(bias_value, x.type.quant.scale[0], w.type.quant, w.type.shape[0], new)
        if bias is None:
            return False
    try:
        win = conv.conv_window(x.type, w.type)
    except IRError:
        return False
    made = build_checked(new, lambda: qd.Conv.from_scales(
        x, w, bias, q.quantization, clamp=clamp, loc=conv.loc, group=conv.group,
        **window(strides=win.strides, pads=win.pads_begin + win.pads_end,
                 dilations=win.dilations)))
    return made is not None and finish(rw, q, made.results[0], new)


def _column_bias(c: np.ndarray, columns: int) -> bool:
    """A constant added to a matrix product that is one value per column (or one value)."""
    return c.size == 1 or (c.shape[-1] == columns and c.size == columns)


def _matrix_operand(v: Value, transpose: bool, new: list[Operation]) -> Value | None:
    """An IR-quantized 2-D operand, transposed when asked (a constant is transposed as data)."""
    if not transpose:
        return v
    stored = constant_value(v)
    if stored is None:
        made = build_checked(new, lambda: tn.Transpose.build(v, perm=(1, 0)))
        return made.results[0] if made is not None else None
    q = v.type.quant
    assert q is not None
    tq = Quantization(q.scale, q.zero_point, None if q.axis is None else 1 - q.axis)
    c = Constant.of(Dense(np.ascontiguousarray(stored.T),
                          TensorType(v.type.shape[::-1], v.type.element, tq)), name=v.name)
    new.append(c)
    return c.results[0]


def _matmul(rw: Rewriter, q: Quantize, a: Value, b: Value, bias_real: Value | None,
            clamp: tuple[float | None, float | None] | None, loc: str | None,
            new: list[Operation], bias_scale: float = 1.0) -> bool:
    """Fold into quant.MatMul(a, b, bias): per-column B must be symmetric along its last axis."""
    bq = b.type.quant
    if bq is None or b.type.element not in EIGHT_BIT:
        return False
    if not bq.is_per_tensor:
        b = _weights(b, b.type.rank - 1, new)
        if b is None:
            return False
        bq = b.type.quant
    bias = None
    if bias_real is not None:
        if b.type.rank < 2:
            return False
        assert a.type.quant is not None and bq is not None
        bias = _bias(bias_real, a.type.quant.scale[0], bq, b.type.shape[-1], new, bias_scale)
        if bias is None:
            return False
    made = build_checked(new, lambda: qd.MatMul.from_scales(a, b, bias, q.quantization,
                                                             clamp=clamp, loc=loc))
    return made is not None and finish(rw, q, made.results[0], new)


@pattern(Quantize, name="matmuls-folded")
def fold_matmul(q: Quantize, rw: Rewriter) -> bool:
    """MatMul, optionally plus a constant per-column bias, optionally clamped."""
    if not q.quantization.is_per_tensor:
        return False
    inner, clamp = _split_activation(q.operands[0])
    mm = owner(inner, nn.MatMul)
    bias = None
    add = owner(inner, ew.Add)
    if mm is None and add is not None:
        for i in (0, 1):
            cand = owner(add.operands[i], nn.MatMul)
            c = constant_value(add.operands[1 - i])
            if cand is not None and c is not None and \
                    add.results[0].type.shape == cand.results[0].type.shape and \
                    cand.operands[1].type.rank >= 2 and \
                    _column_bias(c, cand.operands[1].type.shape[-1]):
                mm, bias = cand, add.operands[1 - i]
                break
    if mm is None:
        return False
    a, b = typed_8bit(mm.operands[0]), typed(mm.operands[1])
    if a is None or b is None:
        return False
    return _matmul(rw, q, a, b, bias, clamp, mm.loc, [])


@pattern(Quantize, name="gemms-folded")
def fold_gemm(q: Quantize, rw: Rewriter) -> bool:
    if not q.quantization.is_per_tensor:
        return False
    inner, clamp = _split_activation(q.operands[0])
    gemm = owner(inner, nn.Gemm)
    if gemm is None or gemm.alpha != 1.0:
        return False
    a, b = typed_8bit(gemm.operand("A")), typed(gemm.operand("B"))
    if a is None or b is None:
        return False
    new: list[Operation] = []
    a2 = _matrix_operand(a, bool(gemm.transA), new)
    b2 = _matrix_operand(b, bool(gemm.transB), new)
    if a2 is None or b2 is None:
        return False
    c = gemm.operand("C")
    if c is not None:
        cv = constant_value(c)
        if cv is None or not _column_bias(cv, b2.type.shape[-1]):
            return False
    return _matmul(rw, q, a2, b2, c, clamp, gemm.loc, new, gemm.beta)


_BINARY: dict[type[Operation], type[qd.Add | qd.Sub | qd.Mul]] = {
    ew.Add: qd.Add, ew.Sub: qd.Sub, ew.Mul: qd.Mul,
}


@pattern(Quantize, name="elementwise-arithmetic-folded")
def fold_binary(q: Quantize, rw: Rewriter) -> bool:
    if not q.quantization.is_per_tensor:
        return False
    inner, clamp = _split_activation(q.operands[0])
    op = inner.owner
    cls = _BINARY.get(type(op)) if op is not None else None
    if cls is None:
        return False
    a, b = typed_8bit(op.operands[0]), typed_8bit(op.operands[1])
    if a is None or b is None or a.type.element != b.type.element:
        return False
    new: list[Operation] = []
    made = build_checked(new, lambda: cls.from_scales(a, b, q.quantization, clamp=clamp,
                                                       loc=op.loc))
    return made is not None and finish(rw, q, made.results[0], new)


@pattern(Quantize, name="average-pools-folded")
def fold_average_pool(q: Quantize, rw: Rewriter) -> bool:
    pool = owner(q.operands[0], nn.AveragePool)
    if pool is None:
        return False
    x = typed_8bit(pool.operand("X"))
    if x is None:
        return False
    try:
        win = pool.pool_window(x.type, bool(pool.ceil_mode))
    except IRError:
        return False
    if any(win.extra_end(x.type.shape[2:])):
        return False  # a ceil_mode window past the padding has no quant.AveragePool form
    new: list[Operation] = []
    made = build_checked(new, lambda: qd.AveragePool.build(
        x, loc=pool.loc, kernel_shape=win.kernel, count_include_pad=pool.count_include_pad,
        **window(strides=win.strides, pads=win.pads_begin + win.pads_end)))
    return made is not None and finish(rw, q, made.results[0], new)


@pattern(Quantize, name="means-folded")
def fold_mean(q: Quantize, rw: Rewriter) -> bool:
    """GlobalAveragePool and ReduceMean: quant.Mean over the reduced axes."""
    op = owner(q.operands[0], (nn.GlobalAveragePool, rd.ReduceMean))
    if op is None or not q.quantization.is_per_tensor:
        return False
    x = typed_8bit(op.operands[0])
    if x is None:
        return False
    if isinstance(op, nn.GlobalAveragePool):
        axes, keepdims = tuple(range(2, x.type.rank)), 1
    else:
        try:
            resolved = op.resolve_axes(op.requested_axes(), x.type.rank)
        except IRError:
            return False
        if resolved is None:
            return False
        axes, keepdims = tuple(resolved), op.keepdims
    if not axes:
        return False
    new: list[Operation] = []
    made = build_checked(new, lambda: qd.Mean.from_scales(x, q.quantization, axes,
                                                           keepdims=keepdims, loc=op.loc))
    return made is not None and finish(rw, q, made.results[0], new)


@pattern(Quantize, name="concats-folded")
def fold_concat(q: Quantize, rw: Rewriter) -> bool:
    op = owner(q.operands[0], tn.Concat)
    if op is None or not q.quantization.is_per_tensor:
        return False
    parts = [typed_8bit(v) for v in op.operand_list("inputs")]
    if any(t is None for t in parts):
        return False
    # Inputs in another quantization go through exact requantization tables first, so the
    # concatenation itself only copies.
    new: list[Operation] = []
    inputs = [requantized(t, TensorType(t.type.shape, q.to, q.quantization, t.type.layout),
                           op.loc, new, q.rounding) for t in parts]
    if any(v is None for v in inputs):
        return False
    made = build_checked(new, lambda: qd.Concat.from_scales(inputs, q.quantization, op.axis,
                                                             loc=op.loc))
    return made is not None and finish(rw, q, made.results[0], new)


@pattern(Quantize, name="activations-fused")
def fuse_activation(q: Quantize, rw: Rewriter) -> bool:
    """Quantize(Relu|Clip(Dequantize(t))) where ``t`` comes from a quant op with an activation
    clamp and is read only here, in the same quantization: tighten that clamp."""
    inner, clamp = _split_activation(q.operands[0])
    if clamp is None:
        return False
    act = q.operands[0].owner
    dq = owner(inner, Dequantize)
    if dq is None or dq.to != E.F32 or len(dq.results[0].uses) != 1 or \
            len(act.results[0].uses) != 1:
        return False
    t = dq.operands[0]
    producer = t.owner
    if producer is None or not isinstance(producer, qd.Clamped) or t.type != q.results[0].type \
            or len(t.uses) != 1 or any(o is t for o in rw.function.outputs):
        return False
    assert t.type.quant is not None
    try:
        lo, hi = activation_range(t.type.quant, t.type.element, clamp[0], clamp[1])
    except IRError:
        return False
    old_lo, old_hi = qd.activation_bounds(producer, t.type.element)
    new_lo, new_hi = max(lo, old_lo), min(hi, old_hi)
    if new_lo > new_hi:
        return False
    new: list[Operation] = []
    made = build_checked(new, lambda: rebuild(
        producer, producer.operands,
        activation_min=new_lo if clamp[0] is not None or producer.activation_min is not None
        else None,
        activation_max=new_hi if clamp[1] is not None or producer.activation_max is not None
        else None))
    return made is not None and finish(rw, q, made.results[0], new)


def _elementwise_function(op: Operation) -> tuple[Value, Callable[[np.ndarray], np.ndarray]] | None:
    """(x, f) when ``op`` computes f(x) element by element from one float32 tensor ``x`` and
    constants (one-element constants in a binary op), with ``f`` its interpreter kernel."""
    if not isinstance(op, UnaryElementwise | BinaryElementwise | VariadicElementwise):
        return None
    if len(op.results) != 1 or op.results[0].type.element != E.F32 or not has_kernel(op):
        return None
    data: Value | None = None
    consts: list[np.ndarray | None] = []
    for v in op.operands:
        c = constant_value(v) if v is not None else None
        if v is None:
            consts.append(None)
        elif c is not None and c.size == 1:
            consts.append(c)
        elif c is None and (data is None or data is v):
            data = v
            consts.append(None)
        else:
            return None
    if data is None or data.type.element != E.F32 or data.type.shape != op.results[0].type.shape:
        return None
    data_slots = [i for i, v in enumerate(op.operands) if v is data]

    def f(real: np.ndarray) -> np.ndarray:
        probe_in = Value(TensorType(real.shape, E.F32))
        operands = [probe_in if i in data_slots else
                    (None if v is None else Value(v.type)) for i, v in enumerate(op.operands)]
        probe = type(op).build(*operands, **op.attributes)
        args = [real if i in data_slots else consts[i] for i in range(len(op.operands))]
        return np.asarray(run_op(probe, args)[0]).reshape(-1)

    return data, f


@pattern(Quantize, name="tables-folded")
def fold_table(q: Quantize, rw: Rewriter) -> bool:
    """An element-wise function of one 8-bit tensor is a 256-entry lookup table; each entry is
    computed as the unfolded ops compute it, so the table is exact."""
    if not q.quantization.is_per_tensor or q.to not in EIGHT_BIT:
        return False
    op = q.operands[0].owner
    if op is None:
        return False
    found = _elementwise_function(op)
    if found is None:
        return False
    data, f = found
    t = typed_8bit(data)
    if t is None:
        return False
    table = table_op(t, f, q.quantization, q.to, op.loc, q.rounding)
    return table is not None and finish(rw, q, table.results[0], [table])


def _foldable(v: Value | None, into: str) -> Operation | None:
    """The float op producing ``v`` when it declares that fold-qdq turns it into ``into``."""
    op = v.owner if v is not None else None
    trait = QuantFoldable.of(op) if op is not None else None
    return op if trait is not None and trait.into == into else None


def _carried_attributes(op: Operation, cls: type[Operation],
                        implied: tuple[str, ...] = ()) -> dict[str, object] | None:
    """``op``'s attributes for the quant op class ``cls``: those ``cls`` has, provided every
    other one is at its default or ``implied`` by the operands (None otherwise: the quant op
    cannot say it)."""
    own = attrs.fields_dict(cls)
    carried: dict[str, object] = {}
    for name, value in op.attributes.items():
        if name in implied:
            continue
        if name in own:
            carried[name] = value
        elif value != attrs.fields_dict(type(op))[name].default:
            return None
    return carried


@pattern(Quantize, name="float-references-folded")
def fold_float_reference(q: Quantize, rw: Rewriter) -> bool:
    """An op whose QuantFoldable names a quant op computed as onnxruntime runs the unfused
    QDQ form (quant.ConvTranspose, quant.LpNormalization, quant.ReduceL2): its operands'
    quantized tensors and its attributes carry over, and the op quantizes as the Quantize
    does (round half to even)."""
    op = q.operands[0].owner
    trait = QuantFoldable.of(op) if op is not None else None
    cls = DECLARED_OPS.get(trait.into) if trait is not None else None
    if cls is None or not issubclass(cls, qd.FloatReference) or q.rounding != "half_even" or \
            not q.quantization.is_per_tensor or len(op.results) != 1:
        return False
    implied: tuple[str, ...] = ()
    if isinstance(op, nn.ConvTranspose):
        # kernel_shape only repeats the weights' spatial shape.
        if op.kernel_shape is not None and \
                tuple(op.kernel_shape) != op.operand("W").type.shape[2:]:
            return False
        implied = ("kernel_shape",)
    carried = _carried_attributes(op, cls, implied)
    if carried is None or len(op.operands) > len(cls.OPERANDS):
        return False
    operands: list[Value | None] = [typed_8bit(op.operands[0])]
    operands += [None if v is None else typed(v) for v in op.operands[1:]]
    if any(t is None for t, v in zip(operands, op.operands, strict=True) if v is not None):
        return False
    new: list[Operation] = []
    made = build_checked(new, lambda: cls.build(
        *operands, loc=op.loc, output_scale=q.quantization.scale[0],
        output_zero_point=q.quantization.zero_point[0], **carried))
    return made is not None and finish(rw, q, made.results[0], new)



@pattern(Quantize, name="sums-folded")
def fold_reduce_sum(q: Quantize, rw: Rewriter) -> bool:
    """ReduceSum: quant.ReduceSum over the reduced axes, rescaled once."""
    op = _foldable(q.operands[0], "quant.ReduceSum")
    if op is None or not q.quantization.is_per_tensor:
        return False
    x = typed_8bit(op.operands[0])
    if x is None:
        return False
    try:
        axes = op.resolve_axes(op.requested_axes(), x.type.rank)
    except IRError:
        return False
    if not axes:
        return False  # an identity: Quantize(Dequantize(t)) folds it
    new: list[Operation] = []
    made = build_checked(new, lambda: qd.ReduceSum.from_scales(
        x, q.quantization, axes, keepdims=op.keepdims, loc=op.loc))
    return made is not None and finish(rw, q, made.results[0], new)


@pattern(Quantize, name="softmaxes-folded")
def fold_softmax(q: Quantize, rw: Rewriter) -> bool:
    """Softmax: quant.Softmax, which writes steps of 1/256 from the element type's minimum;
    another output quantization is reached through a requantization table."""
    op = _foldable(q.operands[0], "quant.Softmax")
    if op is None or not q.quantization.is_per_tensor:
        return False
    x = typed_8bit(op.operands[0])
    if x is None:
        return False
    steps = Quantization.per_tensor(qd.SOFTMAX_SCALE, x.type.element.min)
    new: list[Operation] = []
    made = build_checked(new, lambda: qd.Softmax.from_scales(x, steps, axis=op.axis,
                                                             loc=op.loc))
    return made is not None and finish(rw, q, made.results[0], new)


# How ONNX's coordinate modes map onto the integer bilinear resize's two flags.
_RESIZE_COORDINATES = {"half_pixel": {"half_pixel_centers": 1},
                       "pytorch_half_pixel": {"half_pixel_centers": 1},
                       "align_corners": {"align_corners": 1}, "asymmetric": {}}


@pattern(Quantize, name="resizes-folded")
def fold_resize(q: Quantize, rw: Rewriter) -> bool:
    """A linear Resize of H and W of an N x C x H x W tensor: quant.ResizeBilinear, which
    interpolates the stored values (nearest sampling moves data and needs no fold)."""
    op = _foldable(q.operands[0], "quant.ResizeBilinear")
    if op is None or op.mode != "linear" or op.exclude_outside or \
            op.coordinate_transformation_mode not in _RESIZE_COORDINATES:
        return False
    x = typed_8bit(op.operand("X"))
    if x is None or x.type.rank != 4:
        return False
    shape_in, shape_out = x.type.shape, op.results[0].type.shape
    if DYNAMIC in (*shape_in, *shape_out) or shape_in[:2] != shape_out[:2]:
        return False
    if op.coordinate_transformation_mode == "pytorch_half_pixel" and min(shape_out[2:]) < 2:
        return False  # pytorch_half_pixel samples 0 for a size-1 output
    try:
        scales, _ = op.scales_and_sizes()
    except IRError:
        return False
    # The integer resize steps by in/out; ONNX by 1/scale when scales are given.
    if scales is not None and any(float(sc) * i != o for sc, i, o in
                                  zip(scales[2:], shape_in[2:], shape_out[2:], strict=True)):
        return False
    # The integer resize steps in 2^-10 pixels: fold only when every source coordinate is
    # exact there, since an inexact step drifts by a step of the data across a wide image.
    flags = _RESIZE_COORDINATES[op.coordinate_transformation_mode]
    for size_in, size_out in zip(shape_in[2:], shape_out[2:], strict=True):
        num, den = ((size_in - 1, size_out - 1) if flags.get("align_corners") and size_out > 1
                    else (size_in, size_out))
        step, inexact = divmod(num << qd.RESIZE_FRACTION_BITS, den)
        if inexact or (flags.get("half_pixel_centers") and step % 2):
            return False
    new: list[Operation] = []
    made = build_checked(new, lambda: qd.ResizeBilinear.build(
        x, loc=op.loc, sizes=tuple(shape_out[2:]),
        **_RESIZE_COORDINATES[op.coordinate_transformation_mode]))
    return made is not None and finish(rw, q, made.results[0], new)


def _channel_slopes(slope: Value, x: TensorType) -> np.ndarray | None:
    """PRelu's constant slope as one value per channel of the N x C x ... input ``x``."""
    value = constant_value(slope)
    if value is None or x.rank < 3 or DYNAMIC in x.shape[1:]:
        return None
    channels = x.shape[1]
    try:
        full = np.broadcast_to(value.astype(np.float32), (1, *x.shape[1:]))
    except ValueError:
        return None
    per = np.moveaxis(full, 1, 0).reshape(channels, -1)
    return per[:, 0] if np.all(per == per[:, :1]) else None


@pattern(Quantize, name="prelus-folded")
def fold_prelu(q: Quantize, rw: Rewriter) -> bool:
    """PRelu with a constant slope per channel: Table(max(x, 0)) + depthwise 1x1 quant.Conv of
    Table(min(x, 0)) by the slopes, added by quant.Add. Each element has one non-zero term, so
    it is rounded once, as the float op followed by Quantize is."""
    op = owner(q.operands[0], ew.PRelu)
    if op is None or not q.quantization.is_per_tensor or q.to not in EIGHT_BIT:
        return False
    x = typed_8bit(op.operands[0])
    if x is None:
        return False
    slopes = _channel_slopes(op.operands[1], x.type)
    if slopes is None:
        return False
    in_q = x.type.quant
    assert in_q is not None
    negative = table_op(x, lambda r: np.minimum(r, np.float32(0)), in_q, x.type.element, op.loc)
    positive = table_op(x, lambda r: np.maximum(r, np.float32(0)), q.quantization,
                        x.type.element, op.loc, q.rounding)
    if negative is None or positive is None:
        return False
    channels = slopes.size
    # A weight of ±127 (0 for a zero slope) whose channel scale |slope|/127 gives the slope.
    stored = (np.sign(slopes) * 127).astype(np.int8).reshape(channels, 1, *[1] * (x.type.rank - 2))
    scales = [float(abs(s)) / 127 if s != 0 else 1.0 / 127 for s in slopes]
    w = Constant.of(Dense(stored, TensorType(stored.shape, E.I8, Quantization.per_axis(
        scales, [0] * channels, 0))))
    new: list[Operation] = [negative, positive, w]
    conv = build_checked(new, lambda: qd.Conv.from_scales(
        negative.results[0], w.results[0], None, q.quantization, group=channels, loc=op.loc))
    if conv is None:
        return False
    made = build_checked(new, lambda: qd.Add.from_scales(positive.results[0], conv.results[0],
                                                         q.quantization, loc=op.loc))
    return made is not None and finish(rw, q, made.results[0], new)


@pattern(nn.MaxPool, nn.GlobalMaxPool, name="max-pools-folded")
def fold_max_pool(op: nn.MaxPool | nn.GlobalMaxPool, rw: Rewriter) -> bool:
    """A max pool on an IR-quantized tensor is quant.MaxPool."""
    x = op.operands[0]
    if not per_tensor_8bit(x) or len(op.results) != 1:
        return False
    if isinstance(op, nn.GlobalMaxPool):
        attributes: dict[str, object] = {"kernel_shape": x.type.shape[2:]}
    else:
        try:
            win = op.pool_window(x.type, bool(op.ceil_mode), op.dilations)
        except IRError:
            return False
        if any(win.extra_end(x.type.shape[2:])):
            return False
        attributes = {"kernel_shape": win.kernel, **window(
            strides=win.strides, pads=win.pads_begin + win.pads_end, dilations=win.dilations)}
    new: list[Operation] = []
    made = build_checked(new, lambda: qd.MaxPool.build(x, loc=op.loc, **attributes))
    if made is None or made.results[0].type != op.results[0].type:
        return False
    rw.insert(made)
    replace(rw, op, made.results)
    return True


@pattern(tn.Concat, name="concats-folded")
def fold_typed_concat(op: tn.Concat, rw: Rewriter) -> bool:
    """A Concat of 8-bit tensors in one quantization (left by hoisting Quantize above it) is
    quant.Concat, which copies them."""
    inputs = op.operand_list("inputs")
    if not all(per_tensor_8bit(v) for v in inputs) or \
            len({(v.type.element, v.type.quant) for v in inputs}) != 1:
        return False
    quant = inputs[0].type.quant
    assert quant is not None
    new: list[Operation] = []
    made = build_checked(new, lambda: qd.Concat.from_scales(inputs, quant, op.axis, loc=op.loc))
    if made is None or made.results[0].type != op.results[0].type:
        return False
    rw.insert(made)
    replace(rw, op, made.results)
    return True


@pattern(Quantize, name="quantize-dequantize-folded")
def fold_quantize_dequantize(q: Quantize, rw: Rewriter) -> bool:
    """Quantize(Dequantize(t)): ``t`` itself when the quantization is the same, else a
    requantization of ``t``."""
    t = typed(q.operands[0])
    if t is None:
        return False
    return finish(rw, q, t)


FOLD_PATTERNS: list[RewritePattern] = [
    fold_quantize_dequantize, fold_conv, fold_gemm, fold_matmul, fuse_activation, fold_table,
    fold_binary, fold_average_pool, fold_mean, fold_concat, fold_max_pool, fold_typed_concat,
    fold_float_reference, fold_reduce_sum, fold_softmax, fold_resize,
    fold_prelu,
]
# Sweeps of the greedy driver: each runs the patterns to a fixed point from every op, so more
# than a few only happen when a fold enables another one the worklist did not revisit.
FOLD_SWEEPS = 8


@attrs.frozen
class FoldQuantOps(FunctionPass):
    """Dequantize -> float op -> Quantize into quant-dialect ops."""

    NAME = "fold-quant-ops"
    SUMMARY = "fold host.Dequantize -> float op -> host.Quantize into quant ops"

    # QDQ is how ONNX models carry quantization, and ONNX users validate with onnxruntime:
    # the quant ops folded here reproduce its integer kernels unless told otherwise.
    arithmetic: str = option("onnxruntime", "whose integer kernels the folded quant ops reproduce",
                             choices=ARITHMETIC_MODES)

    def run_on_function(self, function: Function, ctx: PassContext) -> None:
        before = set(function.block)
        apply_patterns_greedily(function, [*FOLD_PATTERNS, *PROPAGATE_PATTERNS], ctx,
                                sweeps=FOLD_SWEEPS)
        # Only the ops folded here: quant ops a TFLite model came with keep LiteRT's arithmetic.
        set_arithmetic([op for op in function.block if op not in before], self.arithmetic, ctx)
