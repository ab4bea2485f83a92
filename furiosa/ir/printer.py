"""Print a module as text. Deterministic: same module, same bytes.

Syntax (see ``docs/ir.md``)::

    func @name(%x: tensor<1x3xf32>) {
      %0 = onnx.Relu(%x) : tensor<1x3xf32> loc("relu1")
      %a, %b = onnx.Split(%0, %split) {axis = 1} : tensor<1x1xf32>, tensor<1x2xf32>
      return %a, %b as "second"
    }

Values print under their own names where they have one (quoted when the name
is not a plain identifier), numbered otherwise. Attributes equal to their
declared default are omitted.
"""

from __future__ import annotations

import json
import re

import numpy as np

from furiosa.ir.attributes import format_struct, is_struct
from furiosa.ir.core import Dense, Operation, SymbolRef, Value
from furiosa.ir.module import Function, Module
from furiosa.ir.types import ElementType, ShapedType, format_float

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.$-]*\Z")
# Dense constants up to this many elements print as literal lists (readable); larger ones as the
# hex of their little-endian bytes, which prints and parses at memory speed and is bit-exact.
LITERAL_LIMIT = 16


def _quote(text: str) -> str:
    """A double-quoted string; non-ASCII text stays as it is (the IR text is UTF-8)."""
    return json.dumps(text, ensure_ascii=False)


def quote_name(name: str) -> str:
    """A value or module name as it appears after ``%`` or ``@``."""
    return name if _IDENT.match(name) else _quote(name)


def value_names(function: Function) -> dict[Value, str]:
    """The printed name (without ``%``) of every value of ``function``: unique and deterministic."""
    names: dict[Value, str] = {}
    taken: set[str] = set()
    counter = 0

    def claim(v: Value) -> None:
        nonlocal counter
        if v.name is not None and v.name != "":
            base = quote_name(v.name) if not v.name.isdigit() else _quote(v.name)
            text, k = base, 0
            while text in taken:
                k += 1
                text = quote_name(f"{v.name}_{k}")
        else:
            while str(counter) in taken:
                counter += 1
            text = str(counter)
            counter += 1
        taken.add(text)
        names[v] = text

    # Named values claim first so that numbering never steals a user's name.
    values = list(function.values())
    for v in values:
        if v.name:
            claim(v)
    for v in values:
        if not v.name:
            claim(v)
    return names


def format_attr(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return format_float(float(value))
    if isinstance(value, SymbolRef):
        return "@" + quote_name(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, tuple | list):
        # Per-channel lists run to thousands of numbers: format the plain ones in one go.
        if all(type(v) is int for v in value):
            return "[" + ", ".join(map(str, value)) + "]"
        if all(type(v) is float for v in value):
            return "[" + ", ".join(map(repr, value)) + "]"  # repr is format_float for a float
        return "[" + ", ".join(format_attr(v) for v in value) + "]"
    if isinstance(value, ElementType | ShapedType):
        return str(value)
    if isinstance(value, Dense):
        return format_dense(value)
    if is_struct(value):
        return format_struct(value)
    raise TypeError(f"cannot print attribute value {value!r}")


def format_dense(d: Dense) -> str:
    arr = d.array
    if arr.size <= LITERAL_LIMIT and _literal_exact(arr):
        if arr.dtype.kind == "f":
            # Shortest text that round-trips in the constant's own precision (0.1, not 0.100000001).
            items = np.array([_short_float(x) for x in arr.reshape(-1)], dtype=object)
            body = _format_literal(items.reshape(arr.shape).tolist())
        else:
            body = _format_literal(arr.tolist())
    else:
        little = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        # One f-string: megabytes of hex are copied once more, not once per concatenation.
        return f'dense<"0x{little.tobytes().hex().upper()}"> : {d.type}'
    return f"dense<{body}> : {d.type}"


def _literal_exact(arr: np.ndarray) -> bool:
    """False when the literal form would lose bits: a NaN other than the one ``nan`` parses to."""
    if arr.dtype.kind != "f":
        return True
    nans = np.isnan(arr)
    if not nans.any():
        return True
    canonical = np.array(float("nan"), dtype=arr.dtype).tobytes()
    size = arr.dtype.itemsize
    return all(x.tobytes() == canonical for x in arr[nans].reshape(-1, 1).view(f"V{size}"))


class _Literal(str):
    """Already formatted text inside a dense literal."""


def _short_float(x: np.floating) -> _Literal:
    if not np.isfinite(x):
        return _Literal(format_float(float(x)))
    magnitude = abs(float(x))
    text = (np.format_float_positional(x, unique=True, trim="0") if 1e-4 <= magnitude < 1e16
            or magnitude == 0 else np.format_float_scientific(x, unique=True, trim="0"))
    if "." not in text and "e" not in text:
        text += ".0"
    return _Literal(text.replace("e+", "e"))


def _format_literal(x: object) -> str:
    if isinstance(x, list):
        return "[" + ", ".join(_format_literal(v) for v in x) + "]"
    if isinstance(x, _Literal):
        return str(x)
    return format_attr(x)


def format_op(op: Operation, names: dict[Value, str]) -> str:
    results = ", ".join("%" + names[r] for r in op.results)
    operands = ", ".join("none" if v is None else "%" + names.get(v, "<dangling>") for v in op.operands)
    parts = []
    specs = op.attribute_specs()
    for name, spec in specs.items():
        value = getattr(op, name)
        default = _default_of(type(op), name)
        if value is None or (default is not _NO_DEFAULT and value == default and spec is not None):
            continue
        parts.append(f"{name} = {format_attr(value)}")
    for name in sorted(op.extra):
        parts.append(f"{quote_name(name)} = {format_attr(op.extra[name])}")
    attr_text = " {" + ", ".join(parts) + "}" if parts else ""
    types = ", ".join(str(r.type) for r in op.results)
    loc = f" loc({_quote(op.loc)})" if op.loc is not None else ""
    return f"{results} = {op.OP_NAME}({operands}){attr_text} : {types}{loc}"


_NO_DEFAULT = object()


def _default_of(cls: type[Operation], name: str) -> object:
    import attrs

    for f in attrs.fields(cls):
        if f.name == name:
            return _NO_DEFAULT if f.default is attrs.NOTHING else f.default
    return _NO_DEFAULT


def print_function(function: Function) -> str:
    names = value_names(function)
    args = ", ".join(f"%{names[v]}: {v.type}" for v in function.inputs)
    lines = [f"func @{quote_name(function.name)}({args}) {{"]
    for op in function.block:
        lines.append("  " + format_op(op, names))
    outs = []
    for v, out_name in zip(function.outputs, function.output_names, strict=True):
        ref = "%" + names.get(v, "<dangling>")
        printed = names.get(v)
        same = printed in (out_name, quote_name(out_name))
        outs.append(ref if same else f"{ref} as {_quote(out_name)}")
    lines.append("  return " + ", ".join(outs) if outs else "  return")
    lines.append("}")
    return "\n".join(lines) + "\n"


def print_module(unit: Module | Function) -> str:
    """The text of a module (its functions in order, a blank line between) or of one function."""
    if isinstance(unit, Function):
        return print_function(unit)
    return "\n".join(print_function(f) for f in unit.functions)
