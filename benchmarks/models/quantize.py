"""Static INT8 QDQ quantisation, as a user would produce it with onnxruntime.

The pipeline is the one onnxruntime documents (``quant_pre_process`` then ``quantize_static``):
BatchNorm is folded into the preceding Conv, activations are calibrated with MinMax on
seeded inputs, and onnxruntime's own ``QDQQuantizer`` writes the graph: per-output-channel
symmetric int8 weights (zero point 0), per-tensor asymmetric int8 activations whose range is
widened to include 0, int32 biases with scale = input scale x weight scale, and ReLU/Clip
folded into the producer's output range.

Only the calibration is done here rather than by ``quantize_static``: that one goes through
temporary files and a uuid-named node, and its ranges carry the last bits of the host's float
kernels.  The ranges computed here are rounded outwards to a few significant bits, so the
bytes written are reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import numpy_helper

from . import checks
from .reference import round_sig

RANGE_BITS = 8


def fold_batchnorm(model: onnx.ModelProto) -> onnx.ModelProto:
    """Fold every BatchNormalization that is the only consumer of a Conv into that Conv."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    inits = {t.name: t for t in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    producers = {o: n for n in graph.node for o in n.output}
    graph_outputs = {o.name for o in graph.output}
    removed: set[str] = set()
    renames: dict[str, str] = {}
    for bn in graph.node:
        if bn.op_type != "BatchNormalization":
            continue
        conv = producers.get(bn.input[0])
        if conv is None or conv.op_type != "Conv" or len(consumers[bn.input[0]]) != 1:
            continue
        if conv.output[0] in graph_outputs:
            continue
        eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
        gamma, beta, mean, var = (
            numpy_helper.to_array(inits[n]).astype(np.float64) for n in bn.input[1:5]
        )
        k = gamma / np.sqrt(var + eps)
        w_init = inits[conv.input[1]]
        w = numpy_helper.to_array(w_init).astype(np.float64)
        b = (
            numpy_helper.to_array(inits[conv.input[2]]).astype(np.float64)
            if len(conv.input) > 2
            else 0.0
        )
        w_init.CopyFrom(
            numpy_helper.from_array((w * k[:, None, None, None]).astype(np.float32), w_init.name)
        )
        bias = ((b - mean) * k + beta).astype(np.float32)
        bias_name = conv.input[2] if len(conv.input) > 2 else f"{conv.name}.bias"
        if len(conv.input) > 2:
            inits[bias_name].CopyFrom(numpy_helper.from_array(bias, bias_name))
        else:
            graph.initializer.append(numpy_helper.from_array(bias, bias_name))
            conv.input.append(bias_name)
        removed.add(bn.name)
        removed.update(bn.input[1:5])
        if bn.output[0] in graph_outputs:
            # The output name is part of the interface: the Conv takes it over.
            renames[conv.output[0]] = bn.output[0]
            conv.output[0] = bn.output[0]
        else:
            renames[bn.output[0]] = conv.output[0]
    keep = [n for n in graph.node if n.name not in removed]
    for node in keep:
        for i, name in enumerate(node.input):
            node.input[i] = renames.get(name, name)
    del graph.node[:]
    graph.node.extend(keep)
    used = {i for n in graph.node for i in n.input}
    kept_inits = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept_inits)
    return out


def calibrate(
    model: onnx.ModelProto, feeds: Sequence[checks.Feed]
) -> dict[str, tuple[float, float]]:
    """MinMax ranges of every float tensor over ``feeds``, rounded outwards."""
    probe = checks.with_all_outputs(model)
    sess = checks.session(probe, optimize=False)
    names = [o.name for o in sess.get_outputs()]
    lo: dict[str, float] = {}
    hi: dict[str, float] = {}
    for feed in feeds:
        for name, value in zip(names, sess.run(None, feed), strict=True):
            v = np.asarray(value)
            if v.dtype != np.float32 or v.size == 0:
                continue
            lo[name] = min(lo.get(name, np.inf), float(v.min()))
            hi[name] = max(hi.get(name, -np.inf), float(v.max()))
    for name, v in feeds[0].items():
        if v.dtype == np.float32:
            lo[name] = min(float(f[name].min()) for f in feeds)
            hi[name] = max(float(f[name].max()) for f in feeds)
    return {n: (_round_out(lo[n], down=True), _round_out(hi[n], down=False)) for n in sorted(lo)}


def _round_out(x: float, *, down: bool) -> float:
    """Round away from the range's interior to RANGE_BITS significant bits."""
    r = float(round_sig(np.float64(x), RANGE_BITS))
    step = abs(r) * 2.0**-RANGE_BITS
    if down and r > x:
        r -= step
    elif not down and r < x:
        r += step
    return r


def quantize_qdq(
    model: onnx.ModelProto,
    feeds: Sequence[checks.Feed],
    *,
    exclude_scopes: Sequence[str] = (),
    op_types: Sequence[str] | None = None,
) -> onnx.ModelProto:
    """INT8 QDQ model: BN folded, calibrated on ``feeds``, quantised by onnxruntime.

    Nodes whose name starts with one of ``exclude_scopes`` stay float (e.g. detection
    post-processing, left to the host as a user would); ``op_types`` restricts the
    quantised op types (default: every type onnxruntime can quantise, as quantize_static).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantType
    from onnxruntime.quantization.calibrate import TensorsData
    from onnxruntime.quantization.qdq_quantizer import QDQQuantizer
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    folded = onnx.shape_inference.infer_shapes(fold_batchnorm(model))
    ranges = calibrate(folded, feeds)
    tensors_range = TensorsData(
        CalibrationMethod.MinMax,
        {n: (np.float32(lo), np.float32(hi)) for n, (lo, hi) in ranges.items()},
    )
    excluded = [n.name for n in folded.graph.node if n.name.startswith(tuple(exclude_scopes))]
    if op_types is None:
        # quantize_static's default: every op type either registry knows.
        op_types = sorted(set(QLinearOpsRegistry) | set(QDQRegistry))
    quantizer = QDQQuantizer(
        folded,
        True,  # per_channel
        False,  # reduce_range
        QuantType.QInt8,
        QuantType.QInt8,
        tensors_range,
        [],
        excluded,
        list(op_types),
        {},
    )
    quantizer.quantize_model()
    # What save_model_to_file does before writing: the quantizer appends nodes out of order.
    quantizer.model.topological_sort()
    qmodel: onnx.ModelProto = quantizer.model.model
    # Drop shape annotations of tensors the quantizer renamed away.
    produced = {o for n in qmodel.graph.node for o in n.output}
    stale = [vi for vi in qmodel.graph.value_info if vi.name not in produced]
    for vi in stale:
        qmodel.graph.value_info.remove(vi)
    return qmodel
