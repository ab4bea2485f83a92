"""Run one ONNX node in onnxruntime (falling back to onnx's reference evaluator) as an oracle."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import helper

OPSET = 13


def run_onnx_node(op_type: str, inputs: Sequence[np.ndarray | None], n_outputs: int = 1,
                  *, domain: str = "", opset: int = OPSET, use_reference: bool = False,
                  **attributes: object) -> list[np.ndarray]:
    """Outputs of a single ``op_type`` node on ``inputs`` (None = an absent optional input)."""
    names = []
    graph_inputs = []
    feeds = {}
    for i, a in enumerate(inputs):
        if a is None:
            names.append("")
            continue
        a = np.asarray(a)
        name = f"x{i}"
        names.append(name)
        graph_inputs.append(helper.make_tensor_value_info(
            name, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape)))
        feeds[name] = a
    while names and names[-1] == "":
        names.pop()
    outs = [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, names, outs, domain=domain, **attributes)
    graph = helper.make_graph([node], "g", graph_inputs,
                              [helper.make_empty_tensor_value_info(o) for o in outs])
    opsets = [helper.make_opsetid("", opset)]
    if domain:
        opsets.append(helper.make_opsetid(domain, 1))
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    if not use_reference:
        try:
            import onnxruntime as ort

            sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            return list(sess.run(outs, feeds))
        except Exception as e:  # not every op/type has an onnxruntime kernel
            if "NOT_IMPLEMENTED" not in str(e) and "not implemented" not in str(e).lower():
                raise
    from onnx.reference import ReferenceEvaluator

    return list(ReferenceEvaluator(model).run(outs, feeds))
