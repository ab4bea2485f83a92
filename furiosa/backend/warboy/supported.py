"""The supported-operator table, as data.

One :class:`OperatorRule` per operator of ``docs/warboy.md``. Each constraint is a
predicate over an IR op with a sentence for the docs, the reason a user reads when the op
falls back to the host, and the fix to suggest. The same rules generate
``docs/supported-operators.md`` and answer ``furiosa ops``, so the two cannot drift.
Limits (group 128, dilation 12, batch 2, ...) come from the :class:`TargetSpec`.

Axes are named from the end of a tensor's shape, as in NCHW: the last axis is width, then
height, then channel, and the first of a 4-D tensor is the batch (a modelling choice for
tensors of other ranks; see docs/target.md).

Run ``python -m furiosa.backend.warboy.supported`` to print the docs page.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import attrs
import numpy as np

from furiosa.backend.warboy.target import WARBOY, TargetSpec
from furiosa.ir.core import Operation, Value
from furiosa.ir.traits import NpuCapable

Check = Callable[[Operation, TargetSpec], str | None]


@attrs.frozen
class Constraint:
    """``check`` returns None when the op satisfies the constraint, else the reason."""

    doc: str
    check: Check
    fix: str


@attrs.frozen
class OperatorRule:
    operator: str
    constraints: tuple[Constraint, ...] = ()
    note: str = ""

    def condition(self, target: TargetSpec) -> str:
        if not self.constraints:
            return self.note or "—"
        text = " and ".join(c.doc.format(t=target) for c in self.constraints)
        return f"{text}; {self.note}" if self.note else text


@attrs.frozen
class Verdict:
    """Whether one op can run on the NPU; when not, why and what to do."""

    operator: str
    supported: bool
    reason: str = ""
    fix: str = ""


# ---------------------------------------------------------------- what a check reads


def data_operand(op: Operation) -> Value | None:
    return next((v for v in op.operands if v is not None), None)


def batch_of(op: Operation) -> int | None:
    v = data_operand(op)
    return v.type.shape[0] if v is not None and v.type.rank >= 2 else None


def axis_role(axis: int, rank: int) -> str:
    """'batch', 'channel', 'height' or 'width' for an axis of an NCHW-like tensor."""
    from_end = rank - (axis % rank if rank else 0)
    if from_end == 1:
        return "width"
    if from_end == 2:
        return "height"
    if from_end == 3:
        return "channel"
    return "batch"


def _ints(value: object) -> list[int]:
    return [int(x) for x in np.asarray(value).reshape(-1)]


# ---------------------------------------------------------------- the constraints


def is_depthwise(op: Operation) -> bool:
    v = data_operand(op)
    group = int(getattr(op, "group", 1) or 1)
    return group > 1 and v is not None and v.type.rank >= 3 and v.type.shape[1] == group


def conv_group(op: Operation, t: TargetSpec) -> str | None:
    group = int(getattr(op, "group", 1) or 1)
    # A depthwise conv (one group per channel) is its own NPU kernel: MLPerf's SSD-MobileNet-v1
    # runs its 512- and 1024-channel depthwise layers on Warboy. The limit is for grouped convs.
    if group > t.max_conv_group and not is_depthwise(op):
        return f"Conv with group {group} > {t.max_conv_group} cannot be accelerated"
    return None


def conv_dilation(op: Operation, t: TargetSpec) -> str | None:
    dilation = max(getattr(op, "dilations", None) or (1,))
    if dilation > t.max_conv_dilation:
        return f"Conv with dilation {dilation} > {t.max_conv_dilation} cannot be accelerated"
    return None


def batch_limit(operator: str, field: str) -> Check:
    def check(op: Operation, t: TargetSpec) -> str | None:
        limit = getattr(t, field)
        batch = batch_of(op)
        if batch is not None and batch > limit:
            return f"{operator} with batch {batch} > {limit} cannot be accelerated"
        return None

    return check


def lp_norm_p(op: Operation, t: TargetSpec) -> str | None:
    p = int(getattr(op, "p", 2))
    return None if p == 2 else f"LpNormalization with p = {p} cannot be accelerated; only p = 2"


def axis_in(operator: str, roles: tuple[str, ...], axes_of: Callable[[Operation], list[int] | None]) -> Check:
    def check(op: Operation, t: TargetSpec) -> str | None:
        v = data_operand(op)
        axes = axes_of(op)
        if v is None or axes is None:
            return f"{operator} whose axes are not constant cannot be accelerated"
        rank = v.type.rank
        for a in axes:
            role = axis_role(a, rank)
            if role not in roles:
                return (f"{operator} on the {role} axis (axis {a % rank if rank else a}) "
                        f"cannot be accelerated; only the {' or '.join(roles)} axis")
        return None

    return check


def concat_axes(op: Operation) -> list[int] | None:
    return [int(op.axis)]  # type: ignore[attr-defined]


def slice_axes(op: Operation) -> list[int] | None:
    v = data_operand(op)
    if v is None:
        return None
    rank = v.type.rank
    starts, ends = op.const(1), op.const(2)
    axes_v = op.const(3) if len(op.operands) > 3 and op.operands[3] is not None else None
    if starts is None or ends is None:
        return None
    axes = _ints(axes_v) if axes_v is not None else list(range(len(_ints(starts))))
    # Only axes the slice actually cuts matter.
    out_shape = op.results[0].type.shape
    return [a for a in axes if out_shape[a % rank] != v.type.shape[a % rank]]


def pad_axes(op: Operation) -> list[int] | None:
    v = data_operand(op)
    pads = op.const(1) if len(op.operands) > 1 else None
    if v is None or pads is None:
        return None
    p = _ints(pads)
    rank = v.type.rank
    return [a for a in range(rank) if p[a] != 0 or p[a + rank] != 0]


def resize_mode(op: Operation, t: TargetSpec) -> str | None:
    mode = getattr(op, "mode", "nearest")
    if mode not in ("nearest", "linear"):
        return f"Resize in {mode} mode cannot be accelerated; only linear and nearest"
    return None


def space_depth_mode(operator: str) -> Check:
    def check(op: Operation, t: TargetSpec) -> str | None:
        mode = getattr(op, "mode", "DCR")
        if mode not in ("CRD", "DCR"):
            return f"{operator} in {mode} mode cannot be accelerated; only CRD and DCR"
        return None

    return check


def after_conv(op: Operation, t: TargetSpec) -> str | None:
    v = data_operand(op)
    producer = v.owner if v is not None else None
    if producer is None or producer.OP_NAME not in ("onnx.Conv", "quant.Conv") or len(v.uses) != 1:
        return "BatchNormalization not directly after a Conv cannot be accelerated"
    return None


C = Constraint
RULES: tuple[OperatorRule, ...] = (
    *(OperatorRule(n) for n in ("Add", "Sub", "Mul", "AveragePool", "MaxPool")),
    OperatorRule("BatchNormalization", (
        C("directly after a Conv (it is folded into it)", after_conv,
          "place it directly after a Conv so that it folds into the Conv"),)),
    *(OperatorRule(n, note="element-wise, as an INT8 table lookup") for n in (
        "Clip", "Relu", "LeakyRelu", "Sigmoid", "Softplus", "Tanh", "Exp", "Log", "Elu", "Erf",
        "Gelu", "Sqrt", "Pow")),
    OperatorRule("Concat", (
        C("on the height or channel axis", axis_in("Concat", ("height", "channel"), concat_axes),
          "concatenate along channels or height (transpose the inputs first)"),)),
    OperatorRule("Conv", (
        C("group <= {t.max_conv_group} (depthwise convolutions excepted)", conv_group,
          "split the convolution into convolutions of at most {t.max_conv_group} groups"),
        C("dilation <= {t.max_conv_dilation}", conv_dilation,
          "use a dilation of at most {t.max_conv_dilation}"))),
    OperatorRule("ConvTranspose"),
    OperatorRule("DepthToSpace", (
        C("mode CRD or DCR", space_depth_mode("DepthToSpace"), "use mode CRD or DCR"),)),
    OperatorRule("SpaceToDepth", (
        C("mode CRD or DCR", space_depth_mode("SpaceToDepth"), "use mode CRD or DCR"),)),
    *(OperatorRule(n) for n in ("Expand", "Flatten", "Reshape", "Unsqueeze", "Transpose", "Split",
                                 "Gemm", "MatMul")),
    OperatorRule("LpNormalization", (
        C("p = 2", lp_norm_p, "use the L2 norm (p = 2)"),
        C("batch <= {t.max_lpnorm_batch}", batch_limit("LpNormalization", "max_lpnorm_batch"),
          "reduce the batch to {t.max_lpnorm_batch}"))),
    *(OperatorRule(n) for n in ("Mean", "ReduceL2", "ReduceSum")),
    OperatorRule("Pad", (
        C("on the channel, height or width axes", axis_in("Pad", ("channel", "height", "width"), pad_axes),
          "do not pad the batch axis"),)),
    OperatorRule("Resize", (
        C("mode linear or nearest", resize_mode, "use linear or nearest interpolation"),)),
    OperatorRule("Slice", (
        C("on the height or channel axis", axis_in("Slice", ("height", "channel"), slice_axes),
          "slice along channels or height (transpose the input first)"),)),
    OperatorRule("Softmax", (
        C("batch <= {t.max_softmax_batch}", batch_limit("Softmax", "max_softmax_batch"),
          "reduce the batch to {t.max_softmax_batch}"),)),
    OperatorRule("PRelu", note="rewritten before compiling as (1 - slope)·Relu(x) + slope·x"),
)

RULES_BY_OPERATOR: dict[str, OperatorRule] = {r.operator: r for r in RULES}


def operator_name(op: Operation) -> str:
    """The table row an IR op is checked against: the row its NpuCapable trait names
    (quant.FullyConnected and warboy.FullyConnected stand for Gemm), else the operator its
    class is named after (a float onnx.Conv stands for Conv)."""
    capable = NpuCapable.of(op)
    if capable is not None:
        return capable.operator
    return op.OP_NAME.split(".", 1)[1]


def check_operator(op: Operation, target: TargetSpec) -> Verdict:
    """Apply the table to one op (its quantization is the legalizer's concern)."""
    name = operator_name(op)
    capable = NpuCapable.of(op)
    if capable is not None and capable.own:
        return Verdict(name, True)  # the NPU's own op (a lookup table, a requantization)
    rule = RULES_BY_OPERATOR.get(name)
    if rule is None:
        return Verdict(name, False, f"'{name}' cannot be accelerated yet",
                       "run it on the host, or build it from supported operators")
    for c in rule.constraints:
        reason = c.check(op, target)
        if reason is not None:
            return Verdict(name, False, reason, c.fix.format(t=target))
    return Verdict(name, True)


# ---------------------------------------------------------------- the docs page


def render_markdown(target: TargetSpec = WARBOY) -> str:
    lines = [
        "# Supported operators",
        "",
        "<!-- Generated by `python -m furiosa.backend.warboy.supported > docs/supported-operators.md`",
        "     from furiosa/backend/warboy/supported.py; a test fails when this page is stale. -->",
        "",
        "The Warboy NPU accelerates these operators (ONNX names) when their condition holds and",
        "they are quantized to INT8; everything else runs on the host, and `furiosa ops MODEL`",
        "says why for each op of a model. Even a supported operator may be split, or fall back,",
        "when its weights or working set do not fit the NPU's memory.",
        "",
        "| operator | condition | suggested fix when the condition fails |",
        "|---|---|---|",
    ]
    for rule in RULES:
        fixes = "<br>".join(c.fix.format(t=target) for c in rule.constraints) or "—"
        lines.append(f"| {rule.operator} | {rule.condition(target)} | {fixes} |")
    lines += [
        "",
        "Any operator not listed cannot be accelerated: its reason reads `'LogSoftmax' cannot be",
        "accelerated yet`. A float operator (a model or part of one that is not quantized) runs on",
        "the host too: the NPU computes INT8 only.",
        "",
        f"Limits are those of the `{target.name}` target description (`docs/target.md`).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    sys.stdout.write(render_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
