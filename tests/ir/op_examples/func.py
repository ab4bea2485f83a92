"""Examples of the func dialect: a call between two functions of one module."""

from __future__ import annotations

import numpy as np

from furiosa.ir.dialects.func import Call
from furiosa.ir.dialects.onnx import elementwise
from furiosa.ir.module import Function, Module
from furiosa.ir.types import F32, TensorType
from tests.ir.op_examples import Example, example


@example("func.Call")
def call_twice() -> Example:
    t = TensorType((2, 3), F32)
    callee = Function("relu_then_add")
    a = callee.add_input("a", t)
    b = callee.add_input("b", t)
    r = callee.add(elementwise.Relu.build(a)).result
    s = callee.add(elementwise.Add.build(r, b)).result
    callee.set_outputs([s, r], ["sum", "relu"])

    main = Function("main")
    x = main.add_input("x", t)
    first = main.add(Call.build(x, x, callee="relu_then_add", result_types=[t, t]))
    second = main.add(Call.build(first.results[0], first.results[1], callee="relu_then_add",
                                 result_types=[t, t]))
    main.set_outputs([second.results[0]], ["y"])
    Module([main, callee])
    data = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    return Example(main, {"x": data})
