"""Parse the text form printed by :mod:`furiosa.ir.printer`.

Errors are :class:`~furiosa.errors.ParseError` with ``file:line:col: message``.
Each op is verified as soon as it is read, so a type mismatch also points at
its line. ``//`` starts a comment that runs to the end of the line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from furiosa.errors import IRError, ParseError
from furiosa.ir.core import Dense, Operation, SymbolRef, Value
from furiosa.ir.dialects import core_registry
from furiosa.ir.dialects.func import Call
from furiosa.ir.module import Function, Module
from furiosa.ir.registry import DialectRegistry
from furiosa.ir.types import DYNAMIC, ElementType, Quantization, TensorType

_WS = re.compile(r"(?:\s+|//[^\n]*)+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.$-]*")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf|nan)")
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_OPNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_.]*")
_DIGITS = re.compile(r"\d+\Z")


class _Parser:
    def __init__(self, text: str, filename: str, registry: DialectRegistry | None) -> None:
        self.text = text
        self.filename = filename
        self.registry = registry if registry is not None else core_registry()
        self.pos = 0
        self.values: dict[str, Value] = {}
        # Calls by calling function, with their text position: checked once every function is read.
        self.calls: dict[str, list[tuple[Operation, int]]] = {}

    # ---- lexing helpers

    def error(self, message: str, pos: int | None = None) -> ParseError:
        p = self.pos if pos is None else pos
        line = self.text.count("\n", 0, p) + 1
        col = p - (self.text.rfind("\n", 0, p) + 1) + 1
        return ParseError(self.filename, line, col, message)

    def ws(self) -> None:
        m = _WS.match(self.text, self.pos)
        if m:
            self.pos = m.end()

    def at(self, s: str) -> bool:
        self.ws()
        return self.text.startswith(s, self.pos)

    def accept(self, s: str) -> bool:
        if self.at(s):
            self.pos += len(s)
            return True
        return False

    def expect(self, s: str, what: str | None = None) -> None:
        if not self.accept(s):
            raise self.error(f"expected {what or repr(s)}, found {self._found()}")

    def _found(self) -> str:
        self.ws()
        if self.pos >= len(self.text):
            return "end of file"
        m = re.compile(r"\S+").match(self.text, self.pos)
        tok = m.group(0) if m else self.text[self.pos]
        return repr(tok[:20])

    def regex(self, pattern: re.Pattern[str], what: str) -> str:
        self.ws()
        m = pattern.match(self.text, self.pos)
        if not m:
            raise self.error(f"expected {what}, found {self._found()}")
        self.pos = m.end()
        return m.group(0)

    def string(self) -> str:
        tok = self.regex(_STRING, "a string")
        try:
            return json.loads(tok)
        except json.JSONDecodeError:
            raise self.error("bad escape in string", self.pos - len(tok)) from None

    def name_after(self, sigil: str) -> tuple[str, bool]:
        """A ``%name`` / ``@name``; returns (name, quoted)."""
        self.expect(sigil, f"'{sigil}' name")
        if self.text.startswith('"', self.pos):
            return self.string(), True
        m = re.compile(r"[A-Za-z0-9_.$-]+").match(self.text, self.pos)
        if not m:
            raise self.error(f"expected a name after '{sigil}'")
        self.pos = m.end()
        return m.group(0), False

    # ---- types

    def tensor_type(self) -> TensorType:
        start = self.pos
        self.ws()
        start = self.pos
        self.expect("tensor<", "a tensor type")
        m = re.compile(r"((?:(?:\d+|\?)x)*)([a-z][a-z0-9]*)").match(self.text, self.pos)
        if not m:
            raise self.error("expected dimensions and an element type, like 1x3xf32")
        self.pos = m.end()
        dims = [DYNAMIC if d == "?" else int(d) for d in m.group(1).split("x") if d]
        try:
            element = ElementType.parse(m.group(2))
        except IRError as e:
            raise self.error(str(e), m.start(2)) from None
        quant = None
        layout = None
        while self.accept(","):
            if self.at("quant<"):
                quant = self.quantization()
            elif self.accept("layout<"):
                layout = self.regex(re.compile(r"[A-Za-z][A-Za-z0-9_.]*"), "a layout name")
                self.expect(">")
            else:
                raise self.error(f"expected quant<...> or layout<...>, found {self._found()}")
        self.expect(">", "'>' closing the tensor type")
        try:
            return TensorType(tuple(dims), element, quant, layout)
        except IRError as e:
            raise self.error(str(e), start) from None

    def quantization(self) -> Quantization:
        start = self.pos
        self.expect("quant<")
        axis = None
        if self.accept("axis"):
            self.expect("=")
            axis = int(self.regex(re.compile(r"\d+"), "an axis"))
            self.expect(":")
        scales: list[float] = []
        zps: list[int] = []
        while True:
            scales.append(float(self.regex(_NUMBER, "a scale")))
            self.expect(":")
            zps.append(int(self.regex(re.compile(r"[-+]?\d+"), "a zero point")))
            if not self.accept(","):
                break
        self.expect(">")
        try:
            return Quantization(tuple(scales), tuple(zps), axis)
        except IRError as e:
            raise self.error(str(e), start) from None

    # ---- attributes

    def attr_value(self) -> Any:
        self.ws()
        c = self.text[self.pos: self.pos + 1]
        if c == '"':
            return self.string()
        if c == "[":
            self.pos += 1
            items = []
            if not self.accept("]"):
                while True:
                    items.append(self.attr_value())
                    if self.accept("]"):
                        break
                    self.expect(",", "',' or ']'")
            return tuple(items)
        if self.at("dense<"):
            return self.dense()
        if self.at("tensor<"):
            return self.tensor_type()
        if c == "@":
            name, _ = self.name_after("@")
            return SymbolRef(name)
        if self.at("true") or self.at("false"):
            return self.regex(re.compile(r"true|false"), "a boolean") == "true"
        m = _NUMBER.match(self.text, self.pos)
        if m:
            tok = m.group(0)
            self.pos = m.end()
            if re.fullmatch(r"[-+]?\d+", tok):
                return int(tok)
            return float(tok)
        ident = self.regex(_IDENT, "an attribute value")
        try:
            return ElementType.parse(ident)
        except IRError:
            raise self.error(f"unknown attribute value '{ident}'", self.pos - len(ident)) from None

    def dense(self) -> Dense:
        start = self.pos
        self.expect("dense<")
        self.ws()
        hex_text = None
        literal = None
        if self.text.startswith('"', self.pos):
            hex_text = self.string()
        else:
            literal = self.attr_value()
        self.expect(">", "'>' closing dense<...>")
        self.expect(":", "':' and the constant's type")
        t = self.tensor_type()
        try:
            if hex_text is not None:
                if not hex_text.startswith("0x"):
                    raise self.error("dense hex data must start with 0x", start)
                raw = bytes.fromhex(hex_text[2:])
                if len(raw) != t.nbytes:
                    raise self.error(f"dense data has {len(raw)} bytes but {t} needs {t.nbytes}", start)
                arr = np.frombuffer(raw, dtype=t.dtype.newbyteorder("<")).astype(t.dtype).reshape(t.shape)
            else:
                arr = np.array(_unwrap(literal), dtype=t.dtype)
                if arr.shape != t.shape:
                    if arr.ndim == 0:
                        arr = np.full(t.shape, arr, dtype=t.dtype)  # splat
                    else:
                        raise self.error(f"dense literal has shape {list(arr.shape)} but the type is {t}", start)
            return Dense(arr, t)
        except (ValueError, OverflowError) as e:
            raise self.error(f"bad dense constant: {e}", start) from None

    def attr_dict(self) -> tuple[dict[str, Any], dict[str, Any]]:
        attrs_: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        if not self.accept("{"):
            return attrs_, extra
        if self.accept("}"):
            return attrs_, extra
        while True:
            self.ws()
            key_pos = self.pos
            key = self.string() if self.text.startswith('"', self.pos) else self.regex(_IDENT, "an attribute name")
            self.expect("=")
            value = self.attr_value()
            target = extra if "." in key else attrs_
            if key in target:
                raise self.error(f"attribute '{key}' is given twice", key_pos)
            target[key] = value
            if self.accept("}"):
                return attrs_, extra
            self.expect(",", "',' or '}'")

    # ---- structure

    def define(self, name: str, quoted: bool, value: Value, pos: int, *, keep_name: bool = False) -> None:
        key = ('"' if quoted else "") + name
        if key in self.values:
            raise self.error(f"value %{name} is defined twice", pos)
        self.values[key] = value
        # Plain numbers are the printer's names for unnamed values, not the user's.
        value.name = None if (not quoted and not keep_name and _DIGITS.match(name)) else name

    def use(self) -> Value | None:
        self.ws()
        if self.accept("none"):
            return None
        pos = self.pos
        name, quoted = self.name_after("%")
        key = ('"' if quoted else "") + name
        v = self.values.get(key)
        if v is None:
            raise self.error(f"value %{name} is used before it is defined", pos)
        return v

    def module(self) -> Module:
        module = Module()
        self.ws()
        while True:
            pos = self.pos
            function = self.function()
            if module.has_function(function.name):
                raise self.error(f"function @{function.name} is defined twice", pos)
            module.add_function(function)
            self.ws()
            if self.pos == len(self.text):
                break
            if not self.at("func"):
                raise self.error(f"unexpected text after the function: {self._found()}")
        for function in module.functions:
            for op, pos in self.calls.get(function.name, ()):
                if not module.has_function(op.callee):
                    raise self.error(f"call to an undefined function @{op.callee}", pos)
        return module

    def function(self) -> Function:
        self.values = {}
        self.expect("func", "'func'")
        self.ws()
        name, _ = self.name_after("@")
        function = Function(name)
        self.expect("(")
        if not self.accept(")"):
            while True:
                self.ws()
                pos = self.pos
                arg, quoted = self.name_after("%")
                self.expect(":")
                v = function.add_input(arg, self.tensor_type())
                self.define(arg, quoted, v, pos, keep_name=True)
                if self.accept(")"):
                    break
                self.expect(",", "',' or ')'")
        self.expect("{")
        while not self.at("return"):
            if self.at("}") or self.pos >= len(self.text):
                raise self.error("expected 'return' before the end of the function")
            self.statement(function)
        self.expect("return")
        outputs: list[Value] = []
        names: list[str] = []
        if not self.at("}"):
            while True:
                self.ws()
                pos = self.pos
                v = self.use()
                if v is None:
                    raise self.error("an output cannot be 'none'", pos)
                out_name = self.string() if self.accept("as") else None
                outputs.append(v)
                if out_name is None:
                    ref = self.text[pos:self.pos].strip()[1:]
                    out_name = json.loads(ref) if ref.startswith('"') else ref
                names.append(out_name)
                if not self.accept(","):
                    break
        self.expect("}", "'}' closing the function")
        function.set_outputs(outputs, names)
        return function

    def statement(self, function: Function) -> None:
        self.ws()
        stmt_pos = self.pos
        defs: list[tuple[str, bool, int]] = []
        while True:
            self.ws()
            pos = self.pos
            name, quoted = self.name_after("%")
            defs.append((name, quoted, pos))
            if not self.accept(","):
                break
        self.expect("=")
        self.ws()
        op_pos = self.pos
        op_name = self.regex(_OPNAME, "an op name like onnx.Conv")
        cls = self.registry.lookup_op(op_name)
        if cls is None:
            raise self.error(f"unknown op '{op_name}'", op_pos)
        self.expect("(")
        operands: list[Value | None] = []
        if not self.accept(")"):
            while True:
                operands.append(self.use())
                if self.accept(")"):
                    break
                self.expect(",", "',' or ')'")
        attributes, extra = self.attr_dict()
        self.expect(":", "':' and result types")
        types = [self.tensor_type()]
        while self.accept(","):
            types.append(self.tensor_type())
        loc = None
        if self.accept("loc("):
            loc = self.string()
            self.expect(")")
        if len(types) != len(defs):
            raise self.error(f"{op_name} defines {len(defs)} values but lists {len(types)} types", stmt_pos)
        from furiosa.ir.verifier import verify_operation

        try:
            op = cls.from_parts(operands, attributes, types, loc, extra)
            verify_operation(op)
        except IRError as e:
            raise self.error(str(e), op_pos) from None
        for (name, quoted, pos), r in zip(defs, op.results, strict=True):
            self.define(name, quoted, r, pos)
        function.add(op)
        if isinstance(op, Call):
            self.calls.setdefault(function.name, []).append((op, op_pos))


def _unwrap(x: Any) -> Any:
    return [_unwrap(v) for v in x] if isinstance(x, tuple) else x


def parse_module(text: str, filename: str = "<string>",
                 registry: DialectRegistry | None = None) -> Module:
    """Parse a module (one or more ``func``) from text; ``registry`` says which ops exist
    (default: the IR's own dialects)."""
    return _Parser(text, filename, registry).module()


def parse_file(path: str | Path, registry: DialectRegistry | None = None) -> Module:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ParseError(str(p), 1, 1, f"cannot read the file: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ParseError(str(p), 1, 1, "the file is not UTF-8 text") from None
    return parse_module(text, str(p), registry)
