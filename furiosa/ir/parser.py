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
from furiosa.ir.attributes import Ident, Layout, build_struct, convert_field
from furiosa.ir.core import Dense, Operation, SymbolRef, Value
from furiosa.ir.dialects import core_registry
from furiosa.ir.dialects.func import Call
from furiosa.ir.module import Function, Module
from furiosa.ir.registry import DialectRegistry
from furiosa.ir.types import (
    DYNAMIC,
    BufferType,
    ElementType,
    MemorySpace,
    Quantization,
    ShapedType,
    TensorType,
)

_WS = re.compile(r"(?:\s+|//[^\n]*)+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.$-]*")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf|nan)")
# Unrolled (no per-character alternation): a long string is scanned in one pass.
_STRING = re.compile(r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"')
_OPNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_.]*")
_DIGITS = re.compile(r"\d+\Z")
_INT = re.compile(r"[-+]?\d+")
_INT_FULL = re.compile(r"[-+]?\d+\Z")
_NUMBER_FULL = re.compile(_NUMBER.pattern + r"\Z")
_BOOL = re.compile(r"(?:true|false)\b")
_TYPE_HEAD = re.compile(r"(tensor|buffer)<((?:(?:\d+|\?)x)*)([a-z][a-z0-9]*)")
_QUANT_FAST = re.compile(r"quant<(?:axis=(\d+): )?([-+0-9.eE:, ]*)>")
_QUANT_SPLIT = re.compile(r"[:,]")
_FLAT_LIST = re.compile(r"\[([-+0-9.eE, \t]*)\]")
_ATTR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Parser:
    def __init__(self, text: str, filename: str, registry: DialectRegistry | None) -> None:
        self.text = text
        self.filename = filename
        self.registry = registry if registry is not None else core_registry()
        self.pos = 0
        self.values: dict[str, Value] = {}
        # Calls by calling function, with their text position: checked once every function is read.
        self.calls: dict[str, list[tuple[Operation, int]]] = {}
        # Quantization text -> object: a wide layer's per-axis scales recur on several values.
        self._quants: dict[str, Quantization] = {}

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

    def shaped_type(self) -> ShapedType:
        """A ``tensor<...>`` or ``buffer<...>`` type."""
        self.ws()
        start = self.pos
        m = _TYPE_HEAD.match(self.text, self.pos)
        if not m:
            if self.text.startswith(("tensor<", "buffer<"), self.pos):
                self.pos += 7
                raise self.error("expected dimensions and an element type, like 1x3xf32")
            raise self.error(f"expected a tensor or buffer type, found {self._found()}")
        self.pos = m.end()
        is_buffer = m.group(1) == "buffer"
        dims = [DYNAMIC if d == "?" else int(d) for d in m.group(2).split("x") if d]
        try:
            element = ElementType.parse(m.group(3))
        except IRError as e:
            raise self.error(str(e), m.start(3)) from None
        quant: Quantization | None = None
        layout: Layout | None = None
        space: MemorySpace | None = None
        address: int | None = None
        slices: tuple[int, int] | None = None
        seen: set[str] = set()
        while self.accept(","):
            self.ws()
            part_pos = self.pos
            if self.text.startswith("quant<", self.pos):
                part = "quant"
                quant = self.quantization()
            elif self.text.startswith("#", self.pos):
                part = "layout"
                value = self.struct_attr()
                if not isinstance(value, Layout):
                    raise self.error(f"#{type(value).ATTR_NAME} is not a layout", part_pos)
                layout = value
            elif is_buffer and self.text.startswith("addr=", self.pos):
                part = "addr"
                self.pos += 5
                address = int(self.regex(_INT, "a byte address"))
            elif is_buffer and self.text.startswith("slices=", self.pos):
                part = "slices"
                self.pos += 7
                first = int(self.regex(_INT, "the first slice"))
                self.expect(":", "':' between the first and end slice")
                slices = (first, int(self.regex(_INT, "the end slice")))
            elif is_buffer and _IDENT.match(self.text, self.pos):
                part = "space"
                word = self.regex(_IDENT, "a memory space")
                try:
                    space = MemorySpace.parse(word)
                except IRError as e:
                    raise self.error(str(e), part_pos) from None
            else:
                more = ", a memory space, addr=... or slices=..." if is_buffer else ""
                raise self.error(f"expected quant<...>, a #layout attribute{more}, found {self._found()}")
            if part in seen:
                raise self.error(f"the type gives its {part} twice", part_pos)
            seen.add(part)
        self.expect(">", f"'>' closing the {m.group(1)} type")
        try:
            if is_buffer:
                if space is None:
                    raise IRError("a buffer type needs a memory space: host, dram or sram")
                return BufferType(tuple(dims), element, quant, layout, space=space, address=address,
                                  slices=slices)
            return TensorType(tuple(dims), element, quant, layout)
        except IRError as e:
            raise self.error(str(e), start) from None

    def quantization(self) -> Quantization:
        start = self.pos
        m = _QUANT_FAST.match(self.text, self.pos)
        if m:
            # Per-axis quantization of a wide layer has thousands of pairs: split them in one go.
            cached = self._quants.get(m.group(0))
            if cached is not None:
                self.pos = m.end()
                return cached
            parts = _QUANT_SPLIT.split(m.group(2))
            try:
                if len(parts) % 2:
                    raise ValueError("a scale without a zero point")
                scales = tuple(map(float, parts[0::2]))
                zps = tuple(map(int, parts[1::2]))
            except ValueError:
                pass  # the careful path below says where the text is wrong
            else:
                self.pos = m.end()
                try:
                    q = Quantization(scales, zps, int(m.group(1)) if m.group(1) is not None else None)
                except IRError as e:
                    raise self.error(str(e), start) from None
                self._quants[m.group(0)] = q
                return q
        self.expect("quant<")
        axis = None
        if self.accept("axis"):
            self.expect("=")
            axis = int(self.regex(re.compile(r"\d+"), "an axis"))
            self.expect(":")
        scales = []
        zps = []
        while True:
            scales.append(float(self.regex(_NUMBER, "a scale")))
            self.expect(":")
            zps.append(int(self.regex(_INT, "a zero point")))
            if not self.accept(","):
                break
        self.expect(">")
        try:
            return Quantization(tuple(scales), tuple(zps), axis)
        except IRError as e:
            raise self.error(str(e), start) from None

    # ---- attributes

    def attr_value(self, idents: bool = False) -> Any:
        """One attribute value; with ``idents``, a bare word that is no element type is an Ident."""
        self.ws()
        c = self.text[self.pos: self.pos + 1]
        if c == '"':
            return self.string()
        if c == "[":
            flat = self._flat_list()
            if flat is not None:
                return flat
            self.pos += 1
            items = []
            if not self.accept("]"):
                while True:
                    items.append(self.attr_value(idents))
                    if self.accept("]"):
                        break
                    self.expect(",", "',' or ']'")
            return tuple(items)
        if c == "#":
            return self.struct_attr()
        if self.text.startswith("dense<", self.pos):
            return self.dense()
        if self.text.startswith(("tensor<", "buffer<"), self.pos):
            return self.shaped_type()
        if c == "@":
            name, _ = self.name_after("@")
            return SymbolRef(name)
        m = _BOOL.match(self.text, self.pos)
        if m:
            self.pos = m.end()
            return m.group(0) == "true"
        m = _NUMBER.match(self.text, self.pos)
        if m:
            tok = m.group(0)
            self.pos = m.end()
            if _INT_FULL.match(tok):
                return int(tok)
            return float(tok)
        ident = self.regex(_IDENT, "an attribute value")
        try:
            return ElementType.parse(ident)
        except IRError:
            if idents:
                return Ident(ident)
            raise self.error(f"unknown attribute value '{ident}'", self.pos - len(ident)) from None

    def _flat_list(self) -> tuple | None:
        """A list of plain numbers read in one step (long per-channel lists), else None."""
        m = _FLAT_LIST.match(self.text, self.pos)
        if not m:
            return None
        body = m.group(1)
        if not body.strip():
            self.pos = m.end()
            return ()
        tokens = body.split(",")
        try:
            # The characters are only digits, signs, '.', 'e' and blanks, so int() and float()
            # accept exactly the numbers the token-by-token path would.
            items: tuple = tuple(map(int, tokens))
        except ValueError:
            mixed: list[int | float] = []
            for tok in tokens:
                tok = tok.strip()
                if _INT_FULL.match(tok):
                    mixed.append(int(tok))
                elif _NUMBER_FULL.match(tok):
                    mixed.append(float(tok))
                else:
                    return None  # let the item-by-item path name the bad token
            items = tuple(mixed)
        self.pos = m.end()
        return items

    def struct_attr(self) -> object:
        """``#name<...>``: a structured attribute declared with ``attr_def``."""
        self.ws()
        start = self.pos
        self.expect("#")
        m = _ATTR_NAME.match(self.text, self.pos)
        if not m:
            raise self.error("expected an attribute name after '#'")
        name = m.group(0)
        cls = self.registry.lookup_attribute(name)
        if cls is None:
            raise self.error(f"unknown attribute '#{name}'", start)
        self.pos = m.end()
        if not self.text.startswith("<", self.pos):
            raise self.error(f"expected '<' after #{name}, found {self._found()}")
        self.pos += 1
        parse_body = getattr(cls, "parse_body", None)
        if parse_body is not None:
            body_start = self.pos
            end = self._closing_angle(name)
            self.pos = end + 1
            try:
                return parse_body(self.text[body_start:end])
            except IRError as e:
                raise self.error(str(e), start) from None
        fields: dict[str, object] = {}
        if not self.accept(">"):
            while True:
                self.ws()
                field_pos = self.pos
                field = self.regex(_FIELD, f"a field name of #{name}")
                if field in fields:
                    raise self.error(f"field '{field}' of #{name} is given twice", field_pos)
                self.expect("=", f"'=' after field '{field}'")
                value = self.attr_value(idents=True)
                try:
                    fields[field] = convert_field(cls, field, value)
                except IRError as e:
                    raise self.error(str(e), field_pos) from None
                if self.accept(">"):
                    break
                self.expect(",", f"',' or '>' in #{name}")
        try:
            return build_struct(cls, fields)
        except IRError as e:
            raise self.error(str(e), start) from None

    def _closing_angle(self, name: str) -> int:
        """Index of the '>' closing a body that starts at ``self.pos`` (strings skipped)."""
        depth = 0
        i = self.pos
        text = self.text
        while i < len(text):
            c = text[i]
            if c == '"':
                m = _STRING.match(text, i)
                if not m:
                    raise self.error("unterminated string", i)
                i = m.end()
                continue
            if c == "<":
                depth += 1
            elif c == ">":
                if depth == 0:
                    return i
                depth -= 1
            elif c == "\n":
                break
            i += 1
        raise self.error(f"#{name}<...> is not closed on its line", self.pos)

    def dense(self) -> Dense:
        start = self.pos
        self.expect("dense<")
        self.ws()
        raw: bytes | None = None
        literal = None
        if self.text.startswith('"0x', self.pos):
            # The hex form of a large constant (megabytes): find its end and decode it at C speed.
            end = self.text.find('"', self.pos + 1)
            if end < 0:
                raise self.error("unterminated dense hex string")
            digits = self.text[self.pos + 3:end]
            try:
                raw = bytes.fromhex(digits)
            except ValueError:
                raw = None
            if raw is None or 2 * len(raw) != len(digits):  # fromhex also skips spaces: refuse them
                raise self.error("dense hex data must be an even number of hex digits", self.pos)
            self.pos = end + 1
        elif self.text.startswith('"', self.pos):
            raise self.error("dense hex data must start with 0x", self.pos)
        else:
            literal = self.attr_value()
        self.expect(">", "'>' closing dense<...>")
        self.expect(":", "':' and the constant's type")
        t = self.shaped_type()
        try:
            if raw is not None:
                if len(raw) != t.nbytes:
                    raise self.error(f"dense data has {len(raw)} bytes but {t} needs {t.nbytes}", start)
                if t.element is ElementType.BOOL and raw.translate(None, b"\x00\x01"):
                    raise self.error("dense bool data holds a byte other than 00 and 01", start)
                little = t.dtype.newbyteorder("<")
                arr = np.frombuffer(raw, dtype=little)
                if little != t.dtype:
                    arr = arr.astype(t.dtype)
                arr = arr.reshape(t.shape)
            else:
                arr = np.array(_unwrap(literal), dtype=t.dtype)
                if arr.shape != t.shape:
                    if arr.ndim == 0:
                        arr = np.full(t.shape, arr, dtype=t.dtype)  # splat
                    else:
                        raise self.error(f"dense literal has shape {list(arr.shape)} but the type is {t}", start)
            return Dense(arr, t)
        except (ValueError, OverflowError, TypeError) as e:
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
                v = function.add_input(arg, self.shaped_type())
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
        types = [self.shaped_type()]
        while self.accept(","):
            types.append(self.shaped_type())
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
