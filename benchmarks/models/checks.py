"""Sanity checks on zoo models, shared by the tests and the CLI's ``--check``.

They check that a model is well formed and sane, not that it is accurate: the weights are
random, so float-vs-int8 agreement is a smoke test of the quantised graph, not an accuracy
claim.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

Feed = dict[str, np.ndarray]


def session(
    model: onnx.ModelProto | str | os.PathLike[str], *, optimize: bool = True
) -> InferenceSession:
    """An onnxruntime CPU session (imported lazily: onnxruntime is a test/bench extra)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if not optimize:
        # Keep every node so intermediate tensors stay observable.
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    src = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])


def run(
    model: onnx.ModelProto | str | os.PathLike[str], feeds: Sequence[Feed]
) -> list[list[np.ndarray]]:
    sess = session(model)
    return [sess.run(None, feed) for feed in feeds]


def with_all_outputs(model: onnx.ModelProto, *, float_only: bool = True) -> onnx.ModelProto:
    """A copy whose graph outputs include every intermediate tensor with an inferred type."""
    inferred = onnx.shape_inference.infer_shapes(model)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    existing = {o.name for o in out.graph.output}
    produced = {o for n in out.graph.node for o in n.output}
    for vi in inferred.graph.value_info:
        if vi.name in existing or vi.name not in produced:
            continue
        if float_only and vi.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
            continue
        out.graph.output.append(vi)
    return out


@dataclass(frozen=True)
class TensorStat:
    name: str
    shape: tuple[int, ...]
    min: float
    max: float
    std: float
    finite: bool

    @property
    def constant(self) -> bool:
        return self.max == self.min


def activation_stats(model: onnx.ModelProto, feed: Feed) -> list[TensorStat]:
    """Statistics of every float tensor of ``model`` on one input."""
    probe = with_all_outputs(model)
    sess = session(probe, optimize=False)
    names = [o.name for o in sess.get_outputs()]
    stats = []
    for name, value in zip(names, sess.run(None, feed), strict=True):
        v = np.asarray(value)
        if v.size == 0 or v.dtype.kind != "f":
            continue
        finite = bool(np.isfinite(v).all())
        stats.append(
            TensorStat(name, v.shape, float(v.min()), float(v.max()), float(v.std()), finite)
        )
    return stats


def is_constant_by_design(model: onnx.ModelProto, name: str) -> bool:
    """Tensors computed only from initializers (shape arithmetic, anchors) may be constant."""
    producers = {o: n for n in model.graph.node for o in n.output}
    inputs = {i.name for i in model.graph.input}
    stack, seen = [name], set()
    while stack:
        t = stack.pop()
        if t in inputs:
            return False
        if t in seen or t not in producers:
            continue
        seen.add(t)
        stack.extend(i for i in producers[t].input if i)
    return True


def insane_activations(model: onnx.ModelProto, feed: Feed, *, limit: float = 1e5) -> list[str]:
    """Names of tensors that are non-finite, constant (while depending on the input) or huge.

    The default limit leaves room for BERT's -1e4 attention-mask bias.
    """
    bad = []
    for s in activation_stats(model, feed):
        if not s.finite:
            bad.append(f"{s.name}: non-finite")
        elif (
            s.constant
            and s.shape
            and np.prod(s.shape) > 1
            and not is_constant_by_design(model, s.name)
        ):
            bad.append(f"{s.name}: constant {s.min}")
        elif max(abs(s.min), abs(s.max)) > limit:
            bad.append(f"{s.name}: |x| up to {max(abs(s.min), abs(s.max)):.3g}")
    return bad


@dataclass(frozen=True)
class Agreement:
    """How a quantised model's outputs track the float model's on the same inputs."""

    samples: int
    top1: float  # fraction of inputs whose arg-max (over the last axis, per position) agrees
    cosine: float  # mean cosine similarity of the first output
    distinct_top1: int  # distinct float top-1 classes over the inputs (for classifiers)

    def __str__(self) -> str:
        return (
            f"top-1 agreement {self.top1:.1%} over {self.samples} inputs, "
            f"mean cosine {self.cosine:.4f}, {self.distinct_top1} distinct float top-1"
        )


def compare_outputs(reference: Sequence[np.ndarray], other: Sequence[np.ndarray]) -> Agreement:
    """Compare per-input first outputs (same shapes) of two models."""
    top1, cos, classes = [], [], set()
    for a, b in zip(reference, other, strict=True):
        a64, b64 = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
        denom = np.linalg.norm(a64) * np.linalg.norm(b64)
        cos.append(float(a64 @ b64 / denom) if denom > 0 else float(np.array_equal(a64, b64)))
        ra = np.asarray(a).reshape(-1, np.asarray(a).shape[-1]).argmax(axis=-1)
        rb = np.asarray(b).reshape(-1, np.asarray(b).shape[-1]).argmax(axis=-1)
        top1.append(float((ra == rb).mean()))
        if ra.size == 1:
            classes.add(int(ra[0]))
    return Agreement(len(top1), float(np.mean(top1)), float(np.mean(cos)), len(classes))


def onnx_agreement(
    float_model: str | Path | onnx.ModelProto,
    quant_model: str | Path | onnx.ModelProto,
    feeds: Sequence[Feed],
    output: int = 0,
) -> Agreement:
    ref = [o[output] for o in run(float_model, feeds)]
    q = [o[output] for o in run(quant_model, feeds)]
    return compare_outputs(ref, q)
