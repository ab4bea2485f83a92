"""Small example modules, at least one per declared op.

Generic tests (round trip, verifier, interpreter) run every example; op-family
tests compare the interpreter against a reference. Register with::

    @example("onnx.Add")
    def add_broadcast() -> Example:
        ...
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping, Sequence

import attrs
import numpy as np

from furiosa.ir.core import Operation
from furiosa.ir.dialects.onnx.base import Constant
from furiosa.ir.interpreter import interpret
from furiosa.ir.module import Function
from furiosa.ir.types import ElementType, TensorType


@attrs.frozen
class Example:
    module: Function
    inputs: dict[str, np.ndarray]


EXAMPLES: dict[str, list[tuple[str, Callable[[], Example]]]] = {}


def example(op_name: str) -> Callable[[Callable[[], Example]], Callable[[], Example]]:
    def wrap(fn: Callable[[], Example]) -> Callable[[], Example]:
        EXAMPLES.setdefault(op_name, []).append((fn.__name__, fn))
        return fn

    return wrap


def load_all() -> dict[str, list[tuple[str, Callable[[], Example]]]]:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return EXAMPLES


def single_op_module(op_cls: type[Operation], inputs: Sequence[np.ndarray | None],
                     *, constant: Sequence[int] = (), n_results: int | None = None,
                     quant_types: Mapping[int, TensorType] | None = None,
                     **attributes: object) -> Example:
    """A module with one ``op_cls`` op. Operand ``i`` is a module input, or a constant when
    ``i in constant`` (shape-like operands must be constants); None is an absent operand.
    ``quant_types[i]`` gives operand ``i`` a quantized type (its array holds the stored integers).
    """
    m = Function(op_cls.OP_NAME.replace(".", "_"))
    operands = []
    feeds: dict[str, np.ndarray] = {}
    quant_types = dict(quant_types or {})
    for i, a in enumerate(inputs):
        if a is None:
            operands.append(None)
            continue
        a = np.asarray(a)
        t = quant_types.get(i) or TensorType(a.shape, ElementType.from_dtype(a.dtype))
        if i in constant:
            c = Constant.of(a, t)
            m.add(c)
            operands.append(c.result)
        else:
            name = f"in{i}"
            operands.append(m.add_input(name, t))
            feeds[name] = a
    op = op_cls.build(*operands, **attributes)
    m.add(op)
    m.set_outputs(op.results, [f"out{i}" for i in range(len(op.results))])
    return Example(m, feeds)


def run_example(ex: Example) -> list[np.ndarray]:
    out = interpret(ex.module, ex.inputs)
    return [out[n] for n in ex.module.output_names]
