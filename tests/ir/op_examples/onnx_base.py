"""Examples for onnx.Constant and onnx.Identity."""

from __future__ import annotations

import numpy as np

from furiosa.ir.dialects.onnx.base import Constant, Identity
from furiosa.ir.module import Function
from furiosa.ir.types import Quantization, tensor
from tests.ir.op_examples import Example, example, single_op_module


@example("onnx.Constant")
def constants_of_every_kind() -> Example:
    m = Function("constants")
    values = [
        Constant.of(np.float32(2.5)),
        Constant.of(np.arange(20, dtype=np.float32).reshape(4, 5)),
        Constant.of(np.array([True, False])),
        Constant.of(np.array([-127, 0, 127], np.int8),
                    tensor((3,), "i8", Quantization.per_axis([0.1, 0.2, 0.3], [0, 0, 0], 0))),
    ]
    for c in values:
        m.add(c)
    m.set_outputs([c.result for c in values], [f"c{i}" for i in range(len(values))])
    return Example(m, {})


@example("onnx.Identity")
def identity_quantized() -> Example:
    q = tensor((2, 3), "u8", Quantization.per_tensor(0.5, 128))
    data = np.random.default_rng(0).integers(0, 255, (2, 3), dtype=np.uint8)
    return single_op_module(Identity, [data], quant_types={0: q})
