"""``legalize``: a partial conversion against the supported-operator table.

Each op either becomes its ``warboy`` twin (it runs on the NPU) or stays where it
is and runs on the host, with the reason and the suggested fix recorded on the op
as ``warboy.reason`` / ``warboy.fix``. With ``analyze=true`` nothing is converted:
every op only gets ``warboy.placement`` (``npu`` or ``host``) and, when on the
host, its reason — what ``furiosa ops`` reports.

An op can run on the NPU when its operator's condition holds (``supported.py``)
and it computes on INT8: a ``quant`` op, or a shape op whose data is quantized.
Constants are data, not work, and stay as they are. Quantize and dequantize ops
sit at the edges of NPU regions; ``partition`` places them.
"""

from __future__ import annotations

import attrs

from furiosa.backend.warboy.dialect import twin_of
from furiosa.backend.warboy.supported import Verdict, check_operator
from furiosa.backend.warboy.target import TARGETS, get_target
from furiosa.ir.core import Operation, Value
from furiosa.ir.dialects.func import Call
from furiosa.ir.dialects.onnx.base import Constant
from furiosa.ir.module import Function
from furiosa.ir.traits import QuantFoldable
from furiosa.passes.base import FunctionPass, PassContext, option

PLACEMENT = "warboy.placement"
REASON = "warboy.reason"
FIX = "warboy.fix"
EDGE_OPS = ("host.Quantize", "host.Dequantize", "host.Lower", "host.Unlower")
DEQUANTIZE_OPS = ("host.Dequantize", "onnx.DequantizeLinear")
QUANTIZE_OPS = ("host.Quantize", "onnx.QuantizeLinear")


def is_int8(v: Value) -> bool:
    return v.type.is_quantized and v.type.element.bits == 8


def data_values(op: Operation) -> list[Value]:
    """The activations an op reads and writes. Constants (weights, int32 biases, shapes) are
    uploaded as they are, so only computed values must be INT8."""
    values = [v for v in op.operands if v is not None and not isinstance(v.owner, Constant)]
    return values + list(op.results)


def decide(op: Operation, target_name: str) -> Verdict:
    """Where ``op`` runs, and why not on the NPU when it does not."""
    verdict = check_operator(op, get_target(target_name))
    if op.OP_NAME.startswith("warboy.") or not verdict.supported:
        return verdict
    if twin_of(op) is None or not all(is_int8(v) for v in data_values(op)):
        others = [v.type.element for v in data_values(op) if not is_int8(v)]
        kinds = ", ".join(sorted({str(e) for e in others})) or "non-INT8 data"
        foldable = QuantFoldable.of(op)
        if quantized_in_model(op):
            # The model already quantizes this op; quantizing it again changes nothing.
            if foldable is None:
                return Verdict(verdict.operator, False,
                               f"'{verdict.operator}' is quantized in the model but has no INT8 "
                               f"form the NPU runs yet, so it computes on {kinds} on the host", "")
            fix = (f"run fold-qdq before legalize (it makes this op a {foldable.into} when its "
                   f"quantization allows)")
        elif any(e.is_float for e in others):
            fix = "quantize the model (QDQ ONNX or an INT8 TFLite model)"
        else:
            fix = ""  # integer data (indices, shapes) belongs on the host
        return Verdict(verdict.operator, False,
                       f"'{verdict.operator}' computes on {kinds}; the NPU computes INT8 only", fix)
    return verdict


def quantized_in_model(op: Operation) -> bool:
    """True when ``op`` computes on float only because no INT8 form of it exists: every float
    value it reads is dequantized 8-bit data and every float result is quantized again."""
    floats_in = [v for v in op.operands if v is not None and not isinstance(v.owner, Constant)
                 and v.type.element.is_float]
    floats_out = [r for r in op.results if r.type.element.is_float]
    if not floats_in:
        return False
    return all(v.owner is not None and v.owner.OP_NAME in DEQUANTIZE_OPS for v in floats_in) \
        and all(r.users and all(u.OP_NAME in QUANTIZE_OPS for u in r.users) for r in floats_out)


def target_option() -> str:
    """The ``target`` option every warboy pass takes."""
    return option("warboy", "the NPU: " + " or ".join(TARGETS), choices=tuple(TARGETS))


@attrs.frozen
class Legalize(FunctionPass):
    """Place each op on the NPU (its warboy twin) or the host (with the reason)."""

    NAME = "legalize"
    SUMMARY = "partial conversion to the warboy dialect against the supported-operator table"

    target: str = target_option()
    analyze: bool = option(False, "only record each op's placement and reason; convert nothing")

    def run_on_function(self, function: Function, ctx: PassContext) -> None:
        for op in function.ops:
            if isinstance(op, Constant | Call):
                continue  # data, or a call of a region that partition already placed
            if op.OP_NAME in EDGE_OPS:
                # partition places the ones beside an NPU region; the rest serve host ops.
                if PLACEMENT not in op.extra:
                    op.extra.setdefault(REASON, "converts data between host ops; no NPU region "
                                                "borders it")
                continue
            verdict = decide(op, self.target)
            if verdict.supported:
                ctx.count("ops-on-npu")
                if self.analyze:
                    op.extra[PLACEMENT] = "npu"
                    op.extra.pop(REASON, None)
                    op.extra.pop(FIX, None)
                elif not op.OP_NAME.startswith("warboy."):
                    _convert(function, op)
                continue
            ctx.count("ops-on-host")
            if self.analyze:
                op.extra[PLACEMENT] = "host"
            op.extra[REASON] = verdict.reason
            if verdict.fix:
                op.extra[FIX] = verdict.fix


def _convert(function: Function, op: Operation) -> Operation:
    """Replace ``op`` with its warboy twin: same operands, attributes, types and names."""
    twin = twin_of(op)
    assert twin is not None
    extra = {k: v for k, v in op.extra.items() if k not in (PLACEMENT, REASON, FIX)}
    new = op.clone(op.operands, as_class=twin, extra=extra)
    function.add(new, at=op)
    for old_r in op.results:
        old_r.name = None  # the twin's results carry the names now
    function.replace_op(op, new.results)
    return new
