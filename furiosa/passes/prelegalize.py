"""Pre-legalization rewrites: the graph clean-ups the vendor toolchain applies before compiling.

* ``fold-batchnorm``: Conv (or ConvTranspose) -> BatchNormalization becomes one convolution.
* ``fold-conv-mul-add``: Conv -> Mul / Add / Sub by per-channel constants folds into the Conv.
* ``rewrite-prelu``: PRelu(x, slope) becomes (1 - slope) * Relu(x) + slope * x.
* ``negative-pad-to-slice``: the cropping part of a Pad with negative pads becomes a Slice.
* ``fix-batch``: the inputs' first dimension is set to the batch and every type re-inferred.
* ``name-ops``: ops without a loc get one, and values sharing a name are made unique.

The pattern passes run on the greedy driver without its dead-code sweep: they erase only the
ops their own rewrites leave unused, so a pass changes nothing it did not match.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import attrs
import numpy as np

from furiosa.errors import IRError, PassError
from furiosa.ir.core import Operation, Value, constant_value
from furiosa.ir.dialects.onnx import elementwise as ew
from furiosa.ir.dialects.onnx import nn
from furiosa.ir.dialects.onnx import reduce as rd
from furiosa.ir.dialects.onnx import tensor as tn
from furiosa.ir.dialects.onnx.base import BinaryElementwise, Constant, VariadicElementwise
from furiosa.ir.module import Function
from furiosa.ir.types import DYNAMIC, TensorType
from furiosa.passes.base import FunctionPass, PassContext, option
from furiosa.passes.rewrite import Rewriter, apply_patterns_greedily, is_dead, pattern

INT64_MAX = int(np.iinfo(np.int64).max)
ConvLike = nn.Conv | nn.ConvTranspose

# ================================================================ shared helpers


def _single_use(function: Function, v: Value | None, user: Operation) -> bool:
    """True when ``user`` is the only reader of ``v`` (one use, and not a function output)."""
    return (v is not None and len(v.uses) == 1 and next(iter(v.uses))[0] is user
            and not any(o is v for o in function.outputs))


def erase_unused_producers(function: Function, values: Iterable[Value | None],
                           erase: Callable[[Operation], None] | None = None) -> None:
    """Erase the producers of ``values`` that a rewrite left unused, and theirs in turn.

    Only ops reached from ``values`` are looked at: dead code the rewrite did not make stays.
    ``erase`` (default ``function.erase``) lets a pattern erase through its Rewriter.
    """
    erase = erase or function.erase
    stack = [v.owner for v in values if v is not None and v.owner is not None]
    while stack:
        op = stack.pop()
        if op in function and is_dead(function, op):
            operands = list(op.operands)
            erase(op)
            stack.extend(v.owner for v in operands if v is not None and v.owner is not None)


def _drop_dead(rw: Rewriter, values: Iterable[Value | None]) -> None:
    erase_unused_producers(rw.function, values, rw.erase)


def _i64(values: Sequence[int]) -> Constant:
    return Constant.of(np.array(values, np.int64))


def _conv_producer(function: Function, v: Value | None, user: Operation) -> ConvLike | None:
    """The Conv / ConvTranspose behind ``v`` when ``user`` is its result's only reader and its
    weight (and bias, if any) are constants."""
    if v is None or not isinstance(v.owner, nn.Conv | nn.ConvTranspose):
        return None
    conv = v.owner
    if not _single_use(function, v, user):
        return None
    if constant_value(conv.operand("W")) is None:
        return None
    if conv.operand("B") is not None and constant_value(conv.operand("B")) is None:
        return None
    return conv


def _out_channels(conv: ConvLike) -> int:
    return conv.result.type.shape[1]


def _scale_weight(conv: ConvLike, w: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``w`` with output channel m multiplied by ``s[m]``.

    Conv's W is [M, C/g, k...]: output channels lead. ConvTranspose's W is [C, M/g, k...]:
    output channel ``gi * M/g + j`` is column j of the rows of group gi.
    """
    tail = [1] * (w.ndim - 2)
    if isinstance(conv, nn.Conv):
        return w * s.reshape(-1, 1, *tail)
    g = conv.group
    c, mg = w.shape[0], w.shape[1]
    grouped = w.reshape(g, c // g, mg, *w.shape[2:])
    return (grouped * s.reshape(g, 1, mg, *tail)).reshape(w.shape)


def _rebuild_conv(rw: Rewriter, conv: ConvLike, replaced: Operation, w: np.ndarray | None,
                  b: np.ndarray) -> bool:
    """Replace ``replaced`` (the op reading ``conv``) with ``conv`` on a new weight and bias.

    ``w`` (None: the weight stays) and ``b`` are float64, rounded once to the convolution's
    element type. Refuses (returns False) when a value is not finite or the result type would
    change.
    """
    if not np.all(np.isfinite(b)) or (w is not None and not np.all(np.isfinite(w))):
        return False
    w_val, b_val = conv.operand("W"), conv.operand("B")
    assert w_val is not None
    new_ops: list[Operation] = []
    if w is not None:
        w_op = Constant.of(w.astype(w_val.type.dtype), w_val.type)
        new_ops.append(w_op)
        w_val = w_op.result
    b_type = b_val.type if b_val is not None else TensorType((b.shape[0],), w_val.type.element)
    b_op = Constant.of(b.astype(b_type.dtype), b_type)
    new_ops.append(b_op)
    old = replaced.result
    new = type(conv).build(conv.operands[0], w_val, b_op.result, loc=conv.loc,
                           result_names=[old.name if old.name is not None else conv.result.name],
                           **conv.attributes)
    if new.result.type != old.type:
        return False
    for op in [*new_ops, new]:
        rw.insert(op)
    dropped = list(replaced.operands)
    rw.replace_op(replaced, [new.result])
    _drop_dead(rw, dropped)
    return True


def _conv_params(conv: ConvLike) -> tuple[np.ndarray, np.ndarray]:
    """The convolution's weight and bias (zeros when absent) as float64."""
    w = constant_value(conv.operand("W"))
    assert w is not None
    b_val = conv.operand("B")
    b = constant_value(b_val) if b_val is not None else None
    bias = (np.zeros(_out_channels(conv), np.float64) if b is None
            else b.astype(np.float64).reshape(-1))
    return w.astype(np.float64), bias


# ================================================================ fold-batchnorm


@pattern(rd.BatchNormalization, name="batchnorms-folded")
def fold_batchnorm_into_conv(op: rd.BatchNormalization, rw: Rewriter) -> bool:
    conv = _conv_producer(rw.function, op.operand("X"), op)
    if conv is None:
        return False
    stats = [constant_value(op.operand(n)) for n in ("scale", "B", "mean", "var")]
    if any(s is None for s in stats):
        return False
    scale, beta, mean, var = (s.astype(np.float64).reshape(-1) for s in stats)  # type: ignore[union-attr]
    s = scale / np.sqrt(var + op.epsilon)
    w, b = _conv_params(conv)
    return _rebuild_conv(rw, conv, op, _scale_weight(conv, w, s), (b - mean) * s + beta)


@attrs.frozen
class FoldBatchNorm(FunctionPass):
    """Fold BatchNormalization into the Conv or ConvTranspose it directly follows."""

    NAME = "fold-batchnorm"
    SUMMARY = "fold Conv -> BatchNormalization (constant statistics) into the Conv"

    def run_on_function(self, function: Function, ctx: PassContext) -> None:
        apply_patterns_greedily(function, [fold_batchnorm_into_conv], ctx, erase_dead=False)


# ================================================================ fold-conv-mul-add


def _channel_vector(c: np.ndarray, out: TensorType) -> np.ndarray | None:
    """``c`` as one value per output channel, or None when it broadcasts over anything else.

    Accepted: a scalar, or a shape that right-aligns with [N, M, spatial...] with every dim 1
    except, optionally, the channel dim (M): [M, 1, 1], [1, M, 1, 1], [1], [1, 1, 1]...
    """
    rank, m = out.rank, out.shape[1]
    if c.ndim > rank:
        return None
    padded = c.reshape((1,) * (rank - c.ndim) + c.shape)
    if any(d != 1 for i, d in enumerate(padded.shape) if i != 1) or padded.shape[1] not in (1, m):
        return None
    return np.broadcast_to(padded.reshape(-1).astype(np.float64), (m,))


def _conv_and_constant(op: Operation, rw: Rewriter, commutative: bool) -> tuple[
        ConvLike, np.ndarray] | None:
    """The convolution and per-channel constant of ``conv(x) (op) c`` (or ``c (op) conv(x)``)."""
    sides = [(0, 1), (1, 0)] if commutative else [(0, 1)]
    for conv_side, const_side in sides:
        conv = _conv_producer(rw.function, op.operands[conv_side], op)
        if conv is None:
            continue
        c = constant_value(op.operands[const_side])
        if c is None or op.result.type != conv.result.type:
            return None
        vec = _channel_vector(c, conv.result.type)
        return None if vec is None else (conv, vec)
    return None


@pattern(ew.Mul, name="muls-folded")
def fold_mul_into_conv(op: ew.Mul, rw: Rewriter) -> bool:
    found = _conv_and_constant(op, rw, commutative=True)
    if found is None:
        return False
    conv, s = found
    w, b = _conv_params(conv)
    return _rebuild_conv(rw, conv, op, _scale_weight(conv, w, s), b * s)


@pattern(ew.Add, name="adds-folded")
def fold_add_into_conv(op: ew.Add, rw: Rewriter) -> bool:
    found = _conv_and_constant(op, rw, commutative=True)
    if found is None:
        return False
    conv, a = found
    _, b = _conv_params(conv)
    return _rebuild_conv(rw, conv, op, None, b + a)


@pattern(ew.Sub, name="subs-folded")
def fold_sub_into_conv(op: ew.Sub, rw: Rewriter) -> bool:
    found = _conv_and_constant(op, rw, commutative=False)
    if found is None:
        return False
    conv, a = found
    _, b = _conv_params(conv)
    return _rebuild_conv(rw, conv, op, None, b - a)


@attrs.frozen
class FoldConvMulAdd(FunctionPass):
    """Fold per-channel constant Mul, Add and Sub after a convolution into its weight and bias."""

    NAME = "fold-conv-mul-add"
    SUMMARY = "fold Conv -> Mul -> Add by per-channel constants into the Conv"

    sub: bool = option(True, "also fold conv(x) - constant")

    def run_on_function(self, function: Function, ctx: PassContext) -> None:
        patterns = [fold_mul_into_conv, fold_add_into_conv]
        if self.sub:
            patterns.append(fold_sub_into_conv)
        apply_patterns_greedily(function, patterns, ctx, erase_dead=False)


# ================================================================ rewrite-prelu


@pattern(ew.PRelu, name="prelus-rewritten")
def rewrite_prelu(op: ew.PRelu, rw: Rewriter) -> bool:
    x, slope = op.operand("X"), op.operand("slope")
    assert x is not None and slope is not None
    if x.type.element not in ew.Relu.ELEMENTS:
        return False
    # Relu keeps x for x >= 0, where the terms sum to x; for x < 0 only slope * x remains.
    s = constant_value(slope)
    new_ops: list[Operation] = []
    if s is not None:
        one_minus = Constant.of(np.asarray(1, s.dtype) - s, slope.type)
        new_ops.append(one_minus)
    else:
        one = Constant.of(np.ones((), slope.type.dtype))
        one_minus = ew.Sub.build(one.result, slope, loc=op.loc)
        new_ops += [one, one_minus]
    relu = ew.Relu.build(x, loc=op.loc)
    kept = ew.Mul.build(relu.result, one_minus.result, loc=op.loc)
    leaked = ew.Mul.build(x, slope, loc=op.loc)
    total = ew.Add.build(kept.result, leaked.result, loc=op.loc, result_names=[op.result.name])
    if total.result.type != op.result.type:
        return False
    for new in [*new_ops, relu, kept, leaked, total]:
        rw.insert(new)
    rw.replace_op(op, [total.result])
    return True


@attrs.frozen
class RewritePRelu(FunctionPass):
    """Rewrite PRelu as (1 - slope) * Relu(x) + slope * x."""

    NAME = "rewrite-prelu"
    SUMMARY = "PRelu(x, slope) -> (1 - slope) * Relu(x) + slope * x"

    def run_on_function(self, function: Function, ctx: PassContext) -> None:
        apply_patterns_greedily(function, [rewrite_prelu], ctx, erase_dead=False)


# ================================================================ negative-pad-to-slice


@pattern(tn.Pad, name="negative-pads-sliced")
def negative_pad_to_slice(op: tn.Pad, rw: Rewriter) -> bool:
    data = op.operand("data")
    pads = constant_value(op.operand("pads"))
    assert data is not None
    rank = data.type.rank
    if pads is None or pads.size != 2 * rank or not np.any(pads < 0):
        return False
    begin = [int(p) for p in pads[:rank]]
    end = [int(p) for p in pads[rank:]]
    axes, starts, ends = [], [], []
    for i in range(rank):
        cut_b, cut_e = max(0, -begin[i]), max(0, -end[i])
        if not cut_b and not cut_e:
            continue
        d = data.type.shape[i]
        if d != DYNAMIC and cut_b + cut_e > d:
            # The Pad cannot crop more than the axis holds; leave such a Pad as it is.
            return False
        axes.append(i)
        starts.append(cut_b)
        if d != DYNAMIC:
            ends.append(d - cut_e)
        else:
            ends.append(-cut_e if cut_e else INT64_MAX)
    new_ops: list[Operation] = [_i64(starts), _i64(ends), _i64(axes)]
    keep = [max(0, p) for p in begin + end]
    name = op.result.name
    sliced = tn.Slice.build(data, *(c.result for c in new_ops), loc=op.loc,
                            result_names=[None if any(keep) else name])
    new_ops.append(sliced)
    last = sliced
    if any(keep):
        widths = _i64(keep)
        fill = [v for v in [op.operand("constant_value")] if v is not None]
        last = tn.Pad.build(sliced.result, widths.result, *fill, mode=op.mode, loc=op.loc,
                            result_names=[name])
        new_ops += [widths, last]
    if last.result.type != op.result.type:
        return False
    for new in new_ops:
        rw.insert(new)
    dropped = list(op.operands)
    rw.replace_op(op, [last.result])
    _drop_dead(rw, dropped)
    return True


@attrs.frozen
class NegativePadToSlice(FunctionPass):
    """Turn the negative (cropping) part of a Pad into a Slice; positive pads stay a Pad."""

    NAME = "negative-pad-to-slice"
    SUMMARY = "Pad with negative pads -> Slice (then Pad with the positive ones)"

    def run_on_function(self, function: Function, ctx: PassContext) -> None:
        apply_patterns_greedily(function, [negative_pad_to_slice], ctx, erase_dead=False)


# ================================================================ fix-batch

# Ops whose constant operand spells out a whole result shape, batch included:
# op class -> (data operand, shape operand).
SHAPE_OPERANDS: dict[type[Operation], tuple[str, str]] = {
    tn.Reshape: ("data", "shape"),
    tn.Expand: ("input", "shape"),
    tn.Resize: ("X", "sizes"),
}


def reinfer_types(op: Operation) -> int:
    """Set ``op``'s result types to what its operands now give; the number that changed.

    Values are shared by reference, so the users see the new types at once; callers go in
    topological order so that every op sees its operands' final types.
    """
    types = op.infer_types()
    if len(types) != len(op.results):
        raise op.error(f"has {len(op.results)} results; its operands now give {len(types)}")
    changed = 0
    for r, t in zip(op.results, types, strict=True):
        if r.type != t:
            r.type = t
            changed += 1
    return changed


def _update_batch_constant(function: Function, op: Operation, old_d0: int, new_d0: int) -> bool:
    """Give ``op`` a shape constant whose leading entry is ``new_d0`` when it spelled ``old_d0``.

    A 0 (copy the dim) or -1 (infer it) needs nothing; a shape computed from the input (Shape
    -> Gather -> Concat) already gives the new batch, since its producers were re-inferred.
    """
    _, shape_name = SHAPE_OPERANDS[type(op)]
    shape_val = op.operand(shape_name)
    shape = constant_value(shape_val)
    if shape_val is None or shape is None or shape.ndim != 1 or shape.size == 0:
        return False
    if int(shape[0]) != old_d0:
        return False
    fixed = np.array(shape, np.int64)
    fixed[0] = new_d0
    c = function.add(Constant.of(fixed, shape_val.type), at=op)
    function.set_operand(op, op.operand_index(shape_name), c.result)
    erase_unused_producers(function, [shape_val])
    return True


# Ops that broadcast their operands together: a constant operand that spells the old batch
# out keeps the result at the old batch however the inputs change.
BROADCASTING = (BinaryElementwise, VariadicElementwise, ew.Where)


def _check_batch_followed(op: Operation, prior: dict[int, int], batch: int) -> None:
    """Raise when an operand's leading dim changed with the result's but the result's did not."""
    r = op.results[0]
    old = prior.get(id(r), DYNAMIC)
    if old == DYNAMIC or r.type.shape[0] != old:
        return
    for v in op.operands:
        if v is not None and v.type.rank == r.type.rank and prior.get(id(v)) == old \
                and v.type.shape[0] != old:
            raise PassError(f"cannot fix the batch to {batch}: {op.describe()} cannot follow: "
                            f"another operand keeps its result's leading dim at {old}")


def _without_prefix(message: str, op: Operation) -> str:
    prefix = op.describe() + ": "
    return message[len(prefix):] if message.startswith(prefix) else message


@attrs.frozen
class FixBatch(FunctionPass):
    """Set the inputs' batch (first) dimension and re-infer every type after it."""

    NAME = "fix-batch"
    SUMMARY = "fix the inputs' first dimension to the batch and re-infer result types"

    batch: int = option(1, "the batch size the inputs get")

    def run_on_function(self, function: Function, ctx: PassContext) -> None:
        if self.batch < 1:
            raise PassError(f"option 'batch' of pass '{self.NAME}' must be >= 1, got {self.batch}")
        values = list(function.values())
        # Every value's leading dim before the change (the list keeps the ids valid).
        prior = {id(v): v.type.shape[0] for v in values if v.type.rank}
        changed = False
        for v in function.inputs:
            if v.type.rank == 0 or v.type.shape[0] == self.batch:
                continue
            try:
                v.type = attrs.evolve(v.type, shape=(self.batch, *v.type.shape[1:]))
            except IRError as e:
                raise PassError(f"cannot fix the batch of input '{v.name}' to {self.batch}: "
                                f"{e}") from None
            ctx.count("inputs-fixed")
            changed = True
        if not changed:
            return
        for op in function.ops:
            if op not in function:  # a shape constant replaced below, already visited
                continue
            if type(op) in SHAPE_OPERANDS:
                data = op.operand(SHAPE_OPERANDS[type(op)][0])
                old_d0 = prior.get(id(data), DYNAMIC) if data is not None else DYNAMIC
                if data is not None and old_d0 != DYNAMIC and data.type.rank \
                        and data.type.shape[0] != old_d0 \
                        and _update_batch_constant(function, op, old_d0, data.type.shape[0]):
                    ctx.count("shape-constants-updated")
            try:
                n = reinfer_types(op)
            except IRError as e:
                raise PassError(f"cannot fix the batch to {self.batch}: {op.describe()} cannot "
                                f"follow: {_without_prefix(str(e), op)}") from None
            if n:
                ctx.count("types-updated", n)
            if isinstance(op, BROADCASTING):
                _check_batch_followed(op, prior, self.batch)


# ================================================================ name-ops


def op_type_name(op: Operation) -> str:
    """The op's name without its dialect (``Conv`` for ``onnx.Conv``)."""
    return op.OP_NAME.split(".", 1)[1]


@attrs.frozen
class NameOps(FunctionPass):
    """Give every op without a loc a deterministic one and make value names unique."""

    NAME = "name-ops"
    SUMMARY = "name unnamed ops {OpType}_{n} in print order; make value names unique"

    constants: bool = option(True, "name constant ops too")

    def run_on_function(self, function: Function, ctx: PassContext) -> None:
        ops = function.ops
        taken = {op.loc for op in ops if op.loc is not None}
        counters: Counter[str] = Counter()
        for op in ops:
            if op.loc is not None or (not self.constants and isinstance(op, Constant)):
                continue
            kind = op_type_name(op)
            while f"{kind}_{counters[kind]}" in taken:
                counters[kind] += 1
            op.loc = f"{kind}_{counters[kind]}"
            counters[kind] += 1
            taken.add(op.loc)
            ctx.count("ops-named")
        renamed = unique_value_names(function)
        if renamed:
            ctx.count("values-renamed", renamed)


def unique_value_names(function: Function) -> int:
    """Rename values whose name an earlier value holds to ``{name}_{k}``; the number renamed.

    Inputs claim their names first, then output values (so an output's value keeps the
    output's name), then every other value in print order.
    """
    values = list(function.values())
    used = {v.name for v in values if v.name}
    outputs = {id(v) for v, name in zip(function.outputs, function.output_names, strict=True)
               if v.name == name}
    order = [*function.inputs, *(v for v in values if id(v) in outputs),
             *(v for v in values[len(function.inputs):] if id(v) not in outputs)]
    seen: set[int] = set()
    claimed: set[str] = set()
    renamed = 0
    for v in order:
        if id(v) in seen or not v.name:
            continue
        seen.add(id(v))
        if v.name not in claimed:
            claimed.add(v.name)
            continue
        k = 1
        while f"{v.name}_{k}" in used:
            k += 1
        v.name = f"{v.name}_{k}"
        used.add(v.name)
        claimed.add(v.name)
        renamed += 1
    return renamed


PASSES = (FoldBatchNorm, FoldConvMulAdd, RewritePRelu, NegativePadToSlice, FixBatch, NameOps)
"""The pre-legalization passes, in the order the compile pipeline runs them."""
