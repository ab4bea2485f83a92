"""The ONNX node test cases that ship with the onnx package, as furiosa takes them.

Cases declaring opset 13 or below are used as they are; cases declaring a newer opset are
relabelled to 13 and kept when ``onnx.checker`` still accepts them (the node is then valid
opset-13 ONNX). Each case is judged against its expected outputs and against onnxruntime
on the same model, so the record says both how many pass and whether any case onnxruntime
passes is missed.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import attrs
import numpy as np
import onnx

SKIPS_FILE = Path(__file__).with_name("onnx_conformance_skips.txt")
OPSET = 13


@attrs.frozen
class Case:
    name: str
    model: onnx.ModelProto
    data_sets: list
    rtol: float
    atol: float
    relabelled: bool


def _default_opset(model: onnx.ModelProto) -> int | None:
    return next((i.version for i in model.opset_import if i.domain in ("", "ai.onnx")), None)


@functools.cache
def opset13_cases() -> dict[str, Case]:
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = load_model_tests(kind="node")
    cases: dict[str, Case] = {}
    for c in raw:
        version = _default_opset(c.model)
        if version is None:
            continue
        model = c.model
        relabelled = version > OPSET
        if relabelled:
            model = onnx.ModelProto()
            model.CopyFrom(c.model)
            for imp in model.opset_import:
                if imp.domain in ("", "ai.onnx"):
                    imp.version = OPSET
            try:
                onnx.checker.check_model(model)
            except onnx.checker.ValidationError:
                continue
        cases[c.name] = Case(c.name, model, list(c.data_sets), c.rtol, c.atol, relabelled)
    return cases


def load_skips() -> dict[str, str]:
    skips = {}
    for line in SKIPS_FILE.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, reason = line.partition(":")
            skips[name.strip()] = reason.strip()
    return skips


def input_names(model: onnx.ModelProto) -> list[str]:
    inits = {t.name for t in model.graph.initializer}
    return [vi.name for vi in model.graph.input if vi.name not in inits]


def outputs_match(actual: list, expected: list, rtol: float, atol: float) -> str | None:
    """None when they match, else what differs."""
    if len(actual) != len(expected):
        return f"{len(actual)} outputs, expected {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        if isinstance(e, np.generic):  # the loader hands 0-d expected outputs back as scalars
            e = np.asarray(e)
        if not isinstance(e, np.ndarray):
            return f"output {i} is not a tensor"
        a = np.asarray(a)
        if a.shape != e.shape:
            return f"output {i} has shape {a.shape}, expected {e.shape}"
        if e.dtype.kind in "fc":
            if a.dtype != e.dtype:
                return f"output {i} has dtype {a.dtype}, expected {e.dtype}"
            try:
                np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
            except AssertionError as err:
                return f"output {i} differs: {str(err).strip().splitlines()[-1][:200]}"
        elif e.dtype.kind in "OUS":
            return f"output {i} holds strings"
        elif a.dtype != e.dtype or not np.array_equal(a, e):
            return f"output {i} differs (dtype {a.dtype} vs {e.dtype})"
    return None


def shape_inputs(case: Case, inputs: list) -> dict:
    """The shape-like inputs of a case — integer tensors, and short vectors such as Resize's
    scales — bound as constants when a shape depends on them."""
    names = input_names(case.model)
    return {n: a for n, a in zip(names, inputs, strict=False)
            if isinstance(a, np.ndarray) and (a.dtype.kind in "iu" or (a.ndim == 1 and a.size <= 8))}


def run_furiosa(case: Case) -> str | None:
    """None when furiosa's import + interpreter give the expected outputs, else why not.

    A static-shape compiler needs every shape at compile time; when import says an operand
    must be a constant, the case's integer inputs are bound to their values (as a user
    does with ``input_values=``) and the case is imported once per data set.
    """
    from furiosa.errors import FuriosaError
    from furiosa.frontends.onnx import import_onnx
    from furiosa.ir.interpreter import interpret

    try:
        names = input_names(case.model)
        try:
            module = import_onnx(case.model, name=case.name)
            bind = False
        except FuriosaError as e:
            if "must be a constant" not in str(e):
                raise
            bind = True
        for inputs, expected in case.data_sets:
            feeds = dict(zip(names, inputs, strict=False))
            if bind:
                bound = shape_inputs(case, inputs)
                module = import_onnx(case.model, name=case.name, input_values=bound)
                feeds = {k: v for k, v in feeds.items() if k not in bound}
            out = interpret(module, feeds)
            got = [out[n] for n in module.main.output_names]
            why = outputs_match(got, list(expected), case.rtol, case.atol)
            if why is not None:
                return why
    except FuriosaError as e:
        return f"{type(e).__name__}: {e}"
    return None


@functools.cache
def onnxruntime_passes(name: str) -> bool:
    import onnxruntime as ort

    case = opset13_cases()[name]
    try:
        sess = ort.InferenceSession(case.model.SerializeToString(), providers=["CPUExecutionProvider"])
        names = input_names(case.model)
        outs = [o.name for o in case.model.graph.output]
        for inputs, expected in case.data_sets:
            got = sess.run(outs, dict(zip(names, inputs, strict=False)))
            if outputs_match(list(got), list(expected), case.rtol, case.atol) is not None:
                return False
    except Exception:  # any failure of the reference counts as "onnxruntime does not pass"
        return False
    return True
