"""The numerics debugger behind ``furiosa compare MODEL``.

A model runs twice on the same inputs: through the compiler's path (import, the analysis
pipeline up to partitioning, then the interpreter, which computes exactly what the NPU
computes) and through a reference runtime (onnxruntime for ONNX, LiteRT for TFLite). Every
tensor both sides hold is compared, in the compiler's program order (a region's tensors where
the host calls it), so the first tensor that differs points at the op that introduced the
difference.

Tensors line up by name: the ONNX importer gives every value its tensor name and the TFLite
importer its tensor's name; after ``fold-qdq`` an INT8 value carries the name of the
``QuantizeLinear`` output it stands for. A tensor present on one side only is counted and
skipped.

The reference runtimes are extras (``pip install furiosa[test]``), not dependencies of the
compiler, so they are imported only when a comparison needs them.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from furiosa.backend.warboy.report import analysis_pipeline
from furiosa.backend.warboy.supported import operator_name
from furiosa.errors import FuriosaError, InterpreterError
from furiosa.frontends import load_model
from furiosa.ir.core import Operation, Value, constant_value
from furiosa.ir.dialects.func import Call
from furiosa.ir.dialects.onnx.base import Constant
from furiosa.ir.interpreter import interpret, run_op
from furiosa.ir.module import Function, Module
from furiosa.ir.printer import value_names
from furiosa.ir.traits import MovesData
from furiosa.ir.types import Quantization
from furiosa.passes import PassManager

REFERENCES = ("onnxruntime", "litert")
LITERT_KERNELS = ("reference", "default")

# Float tensors are computed by different kernels on the two sides (numpy here, MLAS or
# XNNPACK there), so an element differs only beyond this tolerance, relative to the reference
# tensor's largest magnitude. Integer tensors must be equal.
FLOAT_RTOL = 1e-5
# Random integer inputs that are not 8-bit (token ids, indices) are drawn from [0, this), small
# enough to index any embedding table or axis.
INDEX_INPUT_LIMIT = 8


class CompareError(FuriosaError):
    """A comparison that cannot run: a missing reference runtime, a bad input file or name."""


@attrs.frozen
class TensorComparison:
    """One tensor compared: the compiler's value against the reference's tensor of its name."""

    tensor: str
    op: str  # the user's node name (ONNX) or operator output name (TFLite)
    operator: str
    region: int | None  # the NPU region computing it, None on the host
    shape: tuple[int, ...]
    dtype: str  # the compiler's element type
    reference_dtype: str
    quantized: bool
    max_lsb: float | None  # the largest difference in quantization steps (quantized tensors)
    max_abs: float  # the largest difference in real values
    max_rel: float  # max_abs over the reference's largest magnitude
    differing_fraction: float  # the share of elements that differ
    # The op run alone on the reference's own operands: what it adds by itself, as opposed to
    # what it carries from upstream. None when an operand has no reference counterpart.
    alone_max_lsb: float | None = None
    alone_max_abs: float | None = None
    alone_differing_fraction: float | None = None

    @property
    def identical(self) -> bool:
        return self.differing_fraction == 0.0

    @property
    def introduces_difference(self) -> bool:
        return bool(self.alone_differing_fraction)

    def alone_text(self) -> str:
        if self.alone_differing_fraction is None:
            return "-"
        if self.alone_differing_fraction == 0.0:
            return "identical"
        diff = _steps_text(self.alone_max_lsb) if self.alone_max_lsb is not None \
            else f"abs {self.alone_max_abs:.3g}"
        return f"{diff}, {100 * self.alone_differing_fraction:.2f}%"

    def difference_text(self) -> str:
        if self.max_lsb is not None:
            return _steps_text(self.max_lsb)
        return f"abs {self.max_abs:.3g}, rel {self.max_rel:.3g}"


def _steps_text(steps: float) -> str:
    return f"{int(steps)} LSB" if float(steps).is_integer() else f"{steps:.3g} LSB"


@attrs.frozen
class CompareReport:
    model: str
    reference: str  # "onnxruntime 1.x" or "litert 1.x (reference kernels)"
    target: str
    seed: int
    inputs: tuple[tuple[str, tuple[int, ...], str, str], ...]  # name, shape, dtype, source
    tensors: tuple[TensorComparison, ...]  # every compared tensor, in program order
    outputs: tuple[TensorComparison, ...]  # the model's outputs, in the model's order
    compiler_only: int  # values the compiler computes that the reference does not expose
    reference_only: int  # tensors the reference computes that the compiler does not keep

    @property
    def differing(self) -> list[TensorComparison]:
        return [t for t in self.tensors if not t.identical]

    def summary(self) -> dict[str, Any]:
        differing = len(self.differing)
        return {
            "compared": len(self.tensors), "identical": len(self.tensors) - differing,
            "differing": differing, "compiler_only": self.compiler_only,
            "reference_only": self.reference_only,
            "first_difference": self.differing[0].tensor if differing else None,
            "first_introduced": next((t.tensor for t in self.tensors
                                      if t.introduces_difference), None),
            "introducing": sum(1 for t in self.tensors if t.introduces_difference),
            "outputs_identical": all(o.identical for o in self.outputs),
            "outputs": [attrs.asdict(o) for o in self.outputs],
        }

    def as_json(self, top: int = 10) -> dict[str, Any]:
        shown = self.differing if top <= 0 else self.differing[:top]
        return {
            "model": self.model, "reference": self.reference, "target": self.target,
            "seed": self.seed,
            "inputs": [{"name": n, "shape": list(s), "dtype": d, "source": src}
                       for n, s, d, src in self.inputs],
            "differing": [attrs.asdict(t) for t in shown],
            "summary": self.summary(),
        }

    def as_text(self, top: int = 10) -> str:
        lines = [f"{self.model}: the compiler ({self.target}, interpreted after partitioning) "
                 f"against {self.reference}",
                 "inputs: " + ", ".join(f"{n} {'x'.join(map(str, s)) or 'scalar'} {d} ({src})"
                                        for n, s, d, src in self.inputs)]
        differing = self.differing
        shown = differing if top <= 0 else differing[:top]
        if shown:
            lines += ["", f"first {len(shown)} differing tensor(s) of {len(differing)}, "
                          "in program order:"]
            rows = [("tensor", "op", "operator", "runs on", "max diff", "differing",
                     "op alone")]
            for t in shown:
                where = "host" if t.region is None else f"NPU (region {t.region})"
                rows.append((t.tensor, t.op, t.operator, where, t.difference_text(),
                             f"{100 * t.differing_fraction:.2f}%", t.alone_text()))
            widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
            lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                      for r in rows]
        s = self.summary()
        lines += ["", f"{s['compared']} tensors compared: {s['identical']} identical, "
                      f"{s['differing']} differing; skipped {s['compiler_only']} on the compiler's "
                      f"side only and {s['reference_only']} on the reference's side only"]
        if differing:
            first = differing[0]
            lines.append(f"first difference: {first.tensor} (op {first.op}, {first.operator}), "
                         f"{first.difference_text()}")
            introduced = next((t for t in self.tensors if t.introduces_difference), None)
            if introduced is not None:
                lines.append(f"first op that differs on the reference's own inputs: "
                             f"{introduced.op} ({introduced.operator}, tensor {introduced.tensor}), "
                             f"{introduced.alone_text()}; {s['introducing']} op(s) in all")
        for o in self.outputs:
            verdict = "identical" if o.identical else \
                f"{o.difference_text()}, {100 * o.differing_fraction:.2f}% of elements differ"
            lines.append(f"output {o.tensor}: {verdict}")
        return "\n".join(lines) + "\n"


# ================================================================ the compiler's side


@attrs.frozen
class _Computed:
    value: Value
    op: Operation
    region: int | None
    array: np.ndarray


def _op_values(function: Function) -> list[Value]:
    """The results of the function's ops that compute something (constants are data)."""
    return [r for op in function.ops if not isinstance(op, Constant | Call) for r in op.results]


def run_compiler(module: Module, inputs: Mapping[str, np.ndarray]) -> tuple[
        dict[str, np.ndarray], list[_Computed]]:
    """Interpret ``module`` (already through the pipeline); return its outputs by name and
    every value an op computes, in program order with each region's values where it is
    called."""
    regions: dict[str, int] = {}
    for op in module.main.ops:
        if isinstance(op, Call) and op.callee not in regions:
            regions[op.callee] = len(regions)

    def run(function: Function, args: Sequence[np.ndarray] | Mapping[str, np.ndarray],
            region: int | None) -> tuple[dict[str, np.ndarray], list[_Computed]]:
        keep = _op_values(function)
        names = value_names(function)
        calls = [op for op in function.ops if isinstance(op, Call)]
        pending: list[list[_Computed]] = []

        def call(callee: Function, operands: list[np.ndarray]) -> list[np.ndarray]:
            outs, values = run(callee, operands, regions.get(callee.name, region))
            pending.append(values)
            return [outs[n] for n in callee.output_names]

        result = interpret(function, args, keep=keep, call=call)
        by_call = dict(zip((id(c) for c in calls), pending, strict=True))
        values: list[_Computed] = []
        for op in function.ops:
            if isinstance(op, Call):
                values += by_call[id(op)]
            elif not isinstance(op, Constant):
                values += [_Computed(r, op, region, result[names[r]]) for r in op.results]
        outputs = {n: result[n] for n in function.output_names}
        return outputs, values

    return run(module.main, inputs, None)


# ================================================================ the reference's side


@attrs.frozen
class _Reference:
    label: str
    outputs: dict[str, np.ndarray]  # the model's outputs by name, in the model's order
    tensors: dict[str, np.ndarray]  # the intermediate tensors asked for (and found)
    names: frozenset[str]  # every tensor an operator computes


def _import_extra(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise CompareError(f"the reference runtime needs the '{package}' package, which is not "
                           f"installed: pip install '{package}' (or furiosa's 'test' extra, "
                           "pip install 'furiosa[test]')") from None


def run_onnxruntime(path: Path, inputs: Mapping[str, np.ndarray],
                    wanted: set[str]) -> _Reference:
    """Run the ONNX model on onnxruntime with ``wanted`` node outputs added as graph outputs.

    Only tensors the compiler also holds are exposed: a graph output cannot be fused away, so
    exposing every tensor would stop onnxruntime from fusing QDQ groups into its INT8 kernels
    and change the very numbers being compared.
    """
    ort = _import_extra("onnxruntime", "onnxruntime")
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    produced = [o for node in graph.node if node.op_type != "Constant"
                for o in node.output if o]
    declared = {o.name for o in graph.output}
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {vi.name: vi for vi in [*inferred.graph.value_info, *inferred.graph.output]}
    extra = [n for n in produced if n in wanted and n not in declared]
    for name in extra:
        graph.output.append(types[name] if name in types
                            else onnx.helper.make_empty_tensor_value_info(name))
    options = ort.SessionOptions()
    # onnxruntime's CPU provider runs QDQ groups with int8 data through its integer kernels
    # only with this entry; otherwise it may keep them in float.
    options.add_session_config_entry("session.qdqisint8allowed", "1")
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(model.SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        arrays = session.run(names, dict(inputs))
    except Exception as e:  # onnxruntime raises its own exception classes
        raise CompareError(f"onnxruntime cannot run {path}: {e}") from None
    by_name = dict(zip(names, arrays, strict=True))
    outputs = {o.name: by_name[o.name] for o in graph.output if o.name in declared}
    return _Reference(f"onnxruntime {ort.__version__}", outputs,
                      {n: by_name[n] for n in [*extra, *declared] if n in by_name},
                      frozenset(produced))


def run_litert(path: Path, inputs: Mapping[str, np.ndarray], kernels: str) -> _Reference:
    """Run the TFLite model on LiteRT, keeping every tensor (``preserve_all_tensors``)."""
    lite = _import_extra("ai_edge_litert.interpreter", "ai-edge-litert")
    resolver = lite.OpResolverType.BUILTIN_REF if kernels == "reference" \
        else lite.OpResolverType.AUTO
    try:
        with warnings.catch_warnings():
            # LiteRT warns that keeping every tensor costs memory: keeping them is the point.
            warnings.simplefilter("ignore", UserWarning)
            interpreter = lite.Interpreter(
                model_path=str(path), experimental_preserve_all_tensors=True,
                experimental_op_resolver_type=resolver, num_threads=1)
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], inputs[detail["name"]])
        interpreter.invoke()
    except KeyError as e:
        raise CompareError(f"{path}: no input array for the model input {e}") from None
    except (ValueError, RuntimeError) as e:
        raise CompareError(f"LiteRT cannot run {path}: {e}") from None
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    produced = [details[i]["name"] for op in interpreter._get_ops_details()
                for i in op["outputs"] if i >= 0 and i in details]
    by_index = {details[i]["name"]: i for op in interpreter._get_ops_details()
                for i in op["outputs"] if i >= 0 and i in details}
    tensors = {n: np.array(interpreter.get_tensor(i)) for n, i in by_index.items()}
    outputs = {d["name"]: np.array(interpreter.get_tensor(d["index"]))
               for d in interpreter.get_output_details()}
    version = getattr(importlib.import_module("ai_edge_litert"), "__version__", "")
    label = f"LiteRT {version} ({kernels} kernels)".replace("  ", " ")
    return _Reference(label, outputs, {**tensors, **outputs}, frozenset(produced))


# ================================================================ comparing two arrays


def _reference_steps(ref: np.ndarray, quant: Quantization, element_dtype: np.dtype) -> np.ndarray:
    """The reference tensor on the compiler's quantization grid (stored-integer units)."""
    if ref.dtype.kind in "iu":
        steps = ref.astype(np.float64)
        if ref.dtype == np.uint8 and element_dtype == np.int8:
            steps -= 128  # uint8 models are compiled as int8 with the zero point moved by -128
        return steps
    shape = quant.broadcast_shape(ref.ndim)
    scale = np.asarray(quant.scale, np.float64).reshape(shape)
    zero = np.asarray(quant.zero_point, np.float64).reshape(shape)
    return ref.astype(np.float64) / scale + zero


def compare_arrays(name: str, computed: np.ndarray, reference: np.ndarray, *, op: str,
                   operator: str, region: int | None, quant: Quantization | None
                   ) -> TensorComparison:
    """Compare the compiler's array of a tensor against the reference's (same shape)."""
    got = np.asarray(computed)
    ref = np.asarray(reference)
    size = max(got.size, 1)
    max_lsb: float | None = None
    if quant is not None:
        ref_steps = _reference_steps(ref, quant, got.dtype)
        step_diff = np.abs(got.astype(np.float64) - ref_steps)
        # An integer reference must match exactly; a float one within half a step of rounding.
        differs = step_diff > (0 if ref.dtype.kind in "iu" else 0.5 + 1e-6)
        max_lsb = float(step_diff.max()) if step_diff.size else 0.0
        shape = quant.broadcast_shape(got.ndim)
        scale = np.asarray(quant.scale, np.float64).reshape(shape)
        zero = np.asarray(quant.zero_point, np.float64).reshape(shape)
        got_real = (got.astype(np.float64) - zero) * scale
        ref_real = (ref_steps - zero) * scale
    else:
        got_real = got.astype(np.float64)
        ref_real = ref.astype(np.float64)
        if got.dtype.kind == "f" or ref.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                magnitude = float(np.nanmax(np.abs(ref_real))) if ref_real.size else 0.0
                delta = np.abs(got_real - ref_real)
                nan_mismatch = np.isnan(got_real) != np.isnan(ref_real)
                differs = nan_mismatch | (np.nan_to_num(delta, nan=0.0) > FLOAT_RTOL * magnitude)
        else:
            differs = got_real != ref_real
    with np.errstate(invalid="ignore"):
        delta = np.nan_to_num(np.abs(got_real - ref_real), nan=0.0)
        max_abs = float(delta.max()) if delta.size else 0.0
        magnitude = float(np.nan_to_num(np.abs(ref_real), nan=0.0).max()) if ref_real.size else 0.0
    return TensorComparison(
        tensor=name, op=op, operator=operator, region=region, shape=tuple(got.shape),
        dtype=str(got.dtype), reference_dtype=str(ref.dtype), quantized=quant is not None,
        max_lsb=max_lsb, max_abs=max_abs, max_rel=max_abs / magnitude if magnitude else 0.0,
        differing_fraction=float(np.count_nonzero(differs)) / size)


# ================================================================ inputs


def make_inputs(function: Function, given: Mapping[str, np.ndarray], seed: int
                ) -> tuple[dict[str, np.ndarray], list[tuple[str, tuple[int, ...], str, str]]]:
    """The function's inputs: the given arrays, the others drawn at random from ``seed``.

    Floats are standard normal; 8-bit integers cover their whole range; other integers are
    drawn from [0, INDEX_INPUT_LIMIT); booleans are fair coin flips.
    """
    known = {v.name for v in function.inputs}
    for name in given:
        if name not in known:
            raise CompareError(f"--input {name}: the model has no input named '{name}' "
                               f"(its inputs: {', '.join(sorted(n or '' for n in known))})")
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    described = []
    for v in function.inputs:
        t = v.type
        name = v.name or ""
        if name in given:
            a = np.asarray(given[name])
            if tuple(a.shape) != tuple(t.shape) or a.dtype != t.dtype:
                raise CompareError(f"--input {name}: the array is {a.dtype} of shape "
                                   f"{list(a.shape)}, but the input is {t.dtype} of shape "
                                   f"{list(t.shape)}")
            source = "file"
        elif t.dtype.kind == "f":
            a = rng.standard_normal(t.shape).astype(t.dtype)
            source = f"random, seed {seed}"
        elif t.dtype.kind == "b":
            a = rng.integers(0, 2, t.shape).astype(bool)
            source = f"random, seed {seed}"
        elif t.dtype.itemsize == 1:
            info = np.iinfo(t.dtype)
            a = rng.integers(int(info.min), int(info.max) + 1, t.shape).astype(t.dtype)
            source = f"random, seed {seed}"
        else:
            a = rng.integers(0, INDEX_INPUT_LIMIT, t.shape).astype(t.dtype)
            source = f"random, seed {seed}"
        arrays[name] = a
        described.append((name, tuple(int(d) for d in t.shape), str(t.dtype), source))
    return arrays, described


# ================================================================ the comparison


# TFLite tensors are NHWC; an op the importer runs in NCHW between transposes computes the
# tensor in this order, its result unnamed once canonicalize has cancelled the transposes.
NCHW_TO_NHWC = (0, 2, 3, 1)
NHWC_TO_NCHW = (0, 3, 1, 2)


def _choose(candidates: list[_Computed], ref: np.ndarray) -> tuple[_Computed, bool] | None:
    """The value standing for the reference tensor, and whether it holds it in NCHW order: of
    the values of its name, the last of its shape; failing that, the last one holding the
    tensor in NCHW order (per-tensor quantized or float, so no axis moves)."""
    fitting = [c for c in candidates if tuple(c.array.shape) == tuple(ref.shape)]
    if fitting:
        return fitting[-1], False
    for c in reversed(candidates):
        quant = c.value.type.quant
        if c.array.ndim == 4 and ref.ndim == 4 and (quant is None or quant.is_per_tensor):
            if tuple(c.array.transpose(NCHW_TO_NHWC).shape) == tuple(ref.shape):
                return c, True
    return None


def _as_operand(array: np.ndarray | None, v: Value) -> np.ndarray | None:
    """A reference tensor as an operand of the compiler's op, when it can stand for ``v``: as
    it is, or moved to NCHW order for an op the TFLite importer runs in NCHW."""
    if array is None:
        return None
    if tuple(array.shape) != tuple(v.type.shape):
        if array.ndim != 4 or (v.type.quant is not None and not v.type.quant.is_per_tensor):
            return None
        array = array.transpose(NHWC_TO_NCHW)
        if tuple(array.shape) != tuple(v.type.shape):
            return None
    if array.dtype == v.type.dtype:
        return array
    if array.dtype == np.uint8 and v.type.dtype == np.int8:
        return (array.astype(np.int16) - 128).astype(np.int8)
    return None


# How many data-movement ops _run_alone looks through for an operand the reference lacks.
MOVE_DEPTH = 4


def _run_alone(c: _Computed, available: Mapping[str, np.ndarray],
               name_of: Callable[[Value], str | None]) -> np.ndarray | None:
    """The op of ``c`` run on the reference's tensors for its operands (constants as they are),
    or None when one of them has no reference counterpart.

    An operand the reference lacks but that only rearranges one it has (the NCHW transpose
    the TFLite importer puts before an op) is recomputed from it: moving data is exact.
    """

    def operand(v: Value, depth: int) -> np.ndarray | None:
        if isinstance(v.owner, Constant):
            return constant_value(v)
        name = name_of(v)
        a = _as_operand(available.get(name) if name else None, v)
        owner = v.owner
        if a is not None or depth == 0 or owner is None or not owner.has_trait(MovesData):
            return a
        args = [operand(x, depth - 1) if x is not None else None for x in owner.operands]
        if any(x is None and y is not None for x, y in zip(args, owner.operands, strict=True)):
            return None
        return run_op(owner, args)[owner.results.index(v)]

    args: list[np.ndarray | None] = []
    for v in c.op.operands:
        a = operand(v, MOVE_DEPTH) if v is not None else None
        if v is not None and a is None:
            return None
        args.append(a)
    try:
        outs = run_op(c.op, args)
    except InterpreterError:
        return None  # the reference's operands are outside what the compiled op takes
    return outs[c.op.results.index(c.value)]


def compare_model(path: str | Path, *, reference: str | None = None, target: str = "warboy",
                  inputs: Mapping[str, np.ndarray] | None = None, seed: int = 0,
                  litert_kernels: str = "reference",
                  transform: Callable[[Module], None] | None = None) -> CompareReport:
    """Compare the compiler's numbers for the model at ``path`` against a reference runtime's.

    ``transform`` is applied to the module after the pipeline, before it runs: a hook to study
    how a change to the compiled IR shows up in the comparison.
    """
    from furiosa.compiler.registry import default_registry

    path = Path(path)
    suffix = path.suffix.lower()
    if reference is None:
        reference = "litert" if suffix == ".tflite" else "onnxruntime"
    if reference not in REFERENCES:
        raise CompareError(f"unknown reference '{reference}'; choose one of {', '.join(REFERENCES)}")
    expected = {"onnxruntime": ".onnx", "litert": ".tflite"}[reference]
    if suffix != expected:
        raise CompareError(f"{path}: the {reference} reference runs {expected} models")
    if litert_kernels not in LITERT_KERNELS:
        raise CompareError(f"unknown LiteRT kernels '{litert_kernels}'; choose one of "
                           f"{', '.join(LITERT_KERNELS)}")
    module = load_model(path)
    PassManager(analysis_pipeline(target, 1), registry=default_registry().passes).run(module)
    if transform is not None:
        transform(module)
    arrays, described = make_inputs(module.main, inputs or {}, seed)
    outputs, computed = run_compiler(module, arrays)

    by_name: dict[str, list[_Computed]] = {}
    unnamed = 0

    def name_of(v: Value) -> str | None:
        # The TFLite importer names each op after its operator's output tensor: an unnamed
        # single result still stands for that tensor. An ONNX op's location is the node's
        # name, not a tensor's.
        if v.name:
            return v.name
        owner = v.owner
        if reference == "litert" and owner is not None and len(owner.results) == 1:
            return owner.loc
        return None

    for c in computed:
        name = name_of(c.value)
        if name:
            by_name.setdefault(name, []).append(c)
        else:
            unnamed += 1
    if reference == "onnxruntime":
        ref = run_onnxruntime(path, arrays, set(by_name))
    else:
        ref = run_litert(path, arrays, litert_kernels)

    order = {id(c): i for i, c in enumerate(computed)}
    available = {**arrays, **ref.tensors}
    matched: list[tuple[int, TensorComparison]] = []
    compiler_only = unnamed
    for name, candidates in by_name.items():
        ref_array = ref.tensors.get(name)
        chosen = _choose(candidates, ref_array) if ref_array is not None else None
        if chosen is None:
            compiler_only += 1
            continue
        c, moved = chosen
        quant = c.value.type.quant
        row = compare_arrays(
            name, c.array.transpose(NCHW_TO_NHWC) if moved else c.array, ref_array,
            op=c.op.loc or c.op.OP_NAME, operator=operator_name(c.op), region=c.region,
            quant=quant)
        alone = _run_alone(c, available, name_of)
        if alone is not None:
            own = compare_arrays(name, alone.transpose(NCHW_TO_NHWC) if moved else alone,
                                 ref_array, op=row.op, operator=row.operator, region=c.region,
                                 quant=quant)
            row = attrs.evolve(row, alone_max_lsb=own.max_lsb, alone_max_abs=own.max_abs,
                               alone_differing_fraction=own.differing_fraction)
        matched.append((order[id(c)], row))
    matched.sort(key=lambda m: m[0])
    reference_only = len(ref.names - set(by_name))

    output_rows = []
    for name, ref_array in ref.outputs.items():
        if name not in outputs:
            raise CompareError(f"{path}: the compiled model has no output named '{name}'")
        got = outputs[name]
        v = module.main.outputs[module.main.output_names.index(name)]
        if tuple(got.shape) != tuple(ref_array.shape):
            raise CompareError(f"output '{name}' has shape {list(got.shape)} in the compiler "
                               f"but {list(ref_array.shape)} in {ref.label}")
        owner = v.owner
        output_rows.append(compare_arrays(
            name, got, ref_array, op=(owner.loc or owner.OP_NAME) if owner else name,
            operator=operator_name(owner) if owner else "input", region=None, quant=v.type.quant))
    return CompareReport(path.name, ref.label, target, seed, tuple(described),
                         tuple(t for _, t in matched), tuple(output_rows), compiler_only,
                         reference_only)
