"""Values, operations and the declarative op definition machinery.

An op is an attrs class registered with :func:`op_def`. Its attrs fields made
with :func:`attribute` are the op's attributes (typed, with defaults); the
class variables ``OPERANDS`` and ``RESULTS`` name its operands and results;
``infer_types`` computes result types from operand types (and constant operand
values, for ops whose shape depends on them); ``verify_op`` holds any check the
declarations cannot express. The generic verifier (:mod:`furiosa.ir.verifier`)
checks arity, operand element types and attribute constraints from the
declarations, then compares the result types against ``infer_types``.
"""

from __future__ import annotations

import enum
import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, TypeVar

import attrs
import numpy as np

from furiosa.errors import IRError
from furiosa.ir.attributes import is_struct
from furiosa.ir.traits import Effect, Trait, TraitT, class_traits, find_trait
from furiosa.ir.types import ElementType, ShapedType, TensorType

# --------------------------------------------------------------------------- values


class Value:
    """An SSA value: produced by exactly one op result, or a module input (``owner`` None)."""

    __slots__ = ("index", "name", "owner", "type", "uses")

    def __init__(self, type: ShapedType, name: str | None = None,
                 owner: Operation | None = None, index: int = 0) -> None:
        self.type = type
        self.name = name
        self.owner = owner
        self.index = index
        # (op, operand index) -> None: an insertion-ordered set with O(1) removal,
        # maintained by Function, never by hand.
        self.uses: dict[tuple[Operation, int], None] = {}

    @property
    def users(self) -> list[Operation]:
        """The ops using this value, each once, in the order their uses were made."""
        return list(dict.fromkeys(op for op, _ in self.uses))

    def describe(self) -> str:
        if self.name is not None:
            return f"value '{self.name}'"
        if self.owner is not None:
            return f"result {self.index} of {self.owner.describe()}"
        return "an unnamed value"

    def __repr__(self) -> str:
        return f"Value({self.name or '?'}: {self.type})"


# --------------------------------------------------------------------------- attributes


class AttrKind(enum.Enum):
    """The kinds of attribute value an op may declare."""

    INT = "int"
    FLOAT = "float"
    STRING = "string"
    INTS = "ints"
    FLOATS = "floats"
    STRINGS = "strings"
    ELEMENT = "element type"
    TYPE = "tensor type"
    DENSE = "dense tensor"
    SYMBOL = "symbol"
    STRUCT = "structured attribute"


class SymbolRef(str):
    """A reference to a function by name, printed ``@name``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"@{self!s}"


class Dense:
    """A constant tensor attribute: a read-only numpy array and its IR type (tensor or buffer).

    Quantized constants hold their stored integers; the type carries the scale.
    Equality and hashing are by type and bytes (used by CSE); the digest is cached.
    """

    __slots__ = ("_digest", "array", "type")

    def __init__(self, array: np.ndarray, type: ShapedType | None = None) -> None:
        arr = np.asarray(array)
        if type is None:
            type = TensorType(arr.shape, ElementType.from_dtype(arr.dtype))
        if arr.dtype != type.dtype:
            arr = arr.astype(type.dtype)
        if tuple(arr.shape) != type.shape:
            if arr.size == type.size:
                arr = arr.reshape(type.shape)
            else:
                raise IRError(f"dense value of shape {list(arr.shape)} does not match {type}")
        if arr.flags.writeable or not arr.flags.c_contiguous:
            # Own a private, frozen copy: the caller's array stays writable and cannot alias us.
            arr = np.array(arr, order="C", copy=True)
        arr.flags.writeable = False
        self.array = arr
        self.type = type
        self._digest: bytes | None = None

    @property
    def digest(self) -> bytes:
        if self._digest is None:
            h = hashlib.sha256(str(self.type).encode())
            h.update(self.array.tobytes())
            self._digest = h.digest()
        return self._digest

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dense) and self.type == other.type and self.digest == other.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        return f"Dense({self.type})"


# A structured attribute is an instance of a class registered with ``attr_def`` (typed ``object``).
AttrValue = int | float | str | SymbolRef | tuple | ElementType | ShapedType | Dense | object | None

REQUIRED = attrs.NOTHING


@attrs.frozen
class AttrSpec:
    kind: AttrKind
    choices: tuple[Any, ...] | None = None
    check: Callable[[Any], bool] | None = None
    check_text: str = ""
    doc: str = ""
    # For STRUCT: the structured attribute class (or base, such as Layout) the value must be.
    cls: type | None = None


def _convert(kind: AttrKind, value: Any, cls: type | None = None) -> AttrValue:
    """Bring a Python value to the canonical form of ``kind``; raise ValueError when it cannot."""
    if value is None:
        return None
    if kind is AttrKind.INT:
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            if isinstance(value, float | np.floating) and float(value).is_integer():
                return int(value)
            raise ValueError(f"expected an integer, got {value!r}")
        return int(value)
    if kind is AttrKind.FLOAT:
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if kind is AttrKind.STRING:
        if isinstance(value, bytes):
            value = value.decode()
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value
    if kind in (AttrKind.INTS, AttrKind.FLOATS, AttrKind.STRINGS):
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise ValueError(f"expected a list, got {value!r}")
        items = tuple(value)
        # Long per-channel lists already in canonical form skip the per-item conversion.
        if kind is AttrKind.INTS and all(type(v) is int for v in items):
            return items
        if kind is AttrKind.FLOATS and all(type(v) is float for v in items):
            return items
        inner = {AttrKind.INTS: AttrKind.INT, AttrKind.FLOATS: AttrKind.FLOAT,
                 AttrKind.STRINGS: AttrKind.STRING}[kind]
        return tuple(_convert(inner, v) for v in items)
    if kind is AttrKind.ELEMENT:
        if isinstance(value, ElementType):
            return value
        if isinstance(value, str):
            return ElementType.parse(value)
        return ElementType.from_dtype(value)
    if kind is AttrKind.TYPE:
        if not isinstance(value, ShapedType):
            raise ValueError(f"expected a tensor or buffer type, got {value!r}")
        return value
    if kind is AttrKind.STRUCT:
        if not is_struct(value):
            raise ValueError(f"expected a structured attribute, got {value!r}")
        if cls is not None and not isinstance(value, cls):
            raise ValueError(f"expected {_struct_kind(cls)}, got {value}")
        return value
    if kind is AttrKind.SYMBOL:
        if not isinstance(value, str) or not value:
            raise ValueError(f"expected a function name, got {value!r}")
        return SymbolRef(value)
    if kind is AttrKind.DENSE:
        return value if isinstance(value, Dense) else Dense(np.asarray(value))
    raise AssertionError(kind)


def _struct_kind(cls: type) -> str:
    name = getattr(cls, "ATTR_NAME", None)
    return f"#{name}<...>" if name else f"a {cls.__name__} attribute"


def attribute(kind: AttrKind, default: Any = REQUIRED, *, choices: Sequence[Any] | None = None,
              check: Callable[[Any], bool] | None = None, check_text: str = "",
              doc: str = "", cls: type | None = None) -> Any:
    """Declare a typed op attribute (an attrs field carrying an :class:`AttrSpec`).

    ``choices`` restricts the value to a set; ``check`` is a predicate with
    ``check_text`` saying what it requires (e.g. ``">= 1"``) for the error message.
    ``cls`` (for ``AttrKind.STRUCT`` only) is the class the structured value must be an
    instance of: a declared attribute class, or a base such as ``Layout``.
    """
    if cls is not None and kind is not AttrKind.STRUCT:
        raise ValueError("only a STRUCT attribute takes a class")
    spec = AttrSpec(kind, tuple(choices) if choices is not None else None, check, check_text, doc, cls)

    def convert(value: Any) -> Any:
        try:
            return _convert(kind, value, cls)
        except (ValueError, TypeError) as e:
            raise IRError(f"bad {kind.value} attribute: {e}") from None

    if default is not REQUIRED and default is not None:
        default = convert(default)
    return attrs.field(default=default, converter=convert, metadata={"furiosa": spec})


# --------------------------------------------------------------------------- operand / result declarations


@attrs.frozen
class OperandDef:
    name: str
    elements: frozenset[ElementType] | None = None
    optional: bool = False
    variadic: bool = False
    min_count: int = 0


@attrs.frozen
class ResultDef:
    name: str
    variadic: bool = False


def operand(name: str, elements: Iterable[ElementType] | None = None, *, optional: bool = False,
            variadic: bool = False, min_count: int = 1) -> OperandDef:
    """Declare an operand; a variadic one takes at least ``min_count`` values."""
    return OperandDef(name, frozenset(elements) if elements is not None else None, optional,
                      variadic, min_count if variadic else 0)


def result(name: str, *, variadic: bool = False) -> ResultDef:
    return ResultDef(name, variadic)


# --------------------------------------------------------------------------- operations

OpT = TypeVar("OpT", bound="Operation")


@attrs.define(kw_only=True, eq=False, repr=False)
class Operation:
    """Base of every op. Subclasses are declared with :func:`op_def`."""

    OP_NAME: ClassVar[str] = ""
    OPERANDS: ClassVar[tuple[OperandDef, ...]] = ()
    RESULTS: ClassVar[tuple[ResultDef, ...]] = (ResultDef("output"),)
    # What the op is (furiosa.ir.traits): inherited from base classes, extended by subclasses.
    TRAITS: ClassVar[tuple[Trait, ...]] = ()
    WITHOUT_TRAITS: ClassVar[tuple[type[Trait], ...]] = ()
    # Its memory effects: () is pure, None unknown (never treated as pure).
    EFFECTS: ClassVar[tuple[Effect, ...] | None] = ()

    operands: list[Value | None] = attrs.field(factory=list)
    loc: str | None = None
    # Discardable attributes set by passes (dotted names, e.g. ``warboy.reason``); printed with the rest.
    extra: dict[str, AttrValue] = attrs.field(factory=dict)
    results: list[Value] = attrs.field(factory=list, init=False)
    # Set by Function: the owning function and the neighbours in its block's program order.
    _parent: Any = attrs.field(default=None, init=False)
    _prev: Any = attrs.field(default=None, init=False)
    _next: Any = attrs.field(default=None, init=False)

    # ---- construction

    @classmethod
    def build(cls: type[OpT], *operands: Value | None, loc: str | None = None,
              result_types: Sequence[ShapedType] | None = None,
              result_names: Sequence[str | None] | None = None, **attributes: Any) -> OpT:
        """Create an op from operands and attributes; result types are inferred unless given."""
        try:
            op = cls(operands=list(operands), loc=loc, **attributes)
        except TypeError as e:
            raise IRError(f"{cls.OP_NAME}: {e}") from None
        op._check_arity()
        types = list(result_types) if result_types is not None else op.infer_types()
        op._make_results(types, result_names)
        return op

    @classmethod
    def from_parts(cls: type[OpT], operands: Sequence[Value | None], attributes: dict[str, Any],
                   result_types: Sequence[ShapedType], loc: str | None = None,
                   extra: dict[str, AttrValue] | None = None,
                   result_names: Sequence[str | None] | None = None) -> OpT:
        """Create an op exactly as described (the parser's entry point); nothing is inferred."""
        fields = cls.attribute_specs()
        for name in attributes:
            if name not in fields:
                raise IRError(f"{cls.OP_NAME} has no attribute '{name}'")
        try:
            op = cls(operands=list(operands), loc=loc, extra=dict(extra or {}), **attributes)
        except TypeError as e:
            raise IRError(f"{cls.OP_NAME}: {e}") from None
        op._make_results(list(result_types), result_names)
        return op

    def clone(self, operands: Sequence[Value | None], *, as_class: type[Operation] | None = None,
              extra: dict[str, AttrValue] | None = None) -> Operation:
        """This op rebuilt on ``operands``, detached (as ``as_class`` when given, e.g. its NPU
        twin): the same attributes, result types and names, loc, and ``extra`` (by default a
        copy of this op's)."""
        cls = as_class if as_class is not None else type(self)
        return cls.from_parts(list(operands), self.attributes, [r.type for r in self.results],
                              self.loc, self.extra if extra is None else extra,
                              [r.name for r in self.results])

    def _make_results(self, types: Sequence[ShapedType], names: Sequence[str | None] | None) -> None:
        names = list(names) if names is not None else [None] * len(types)
        if len(names) != len(types):
            raise IRError(f"{self.describe()} has {len(types)} results but {len(names)} names")
        self.results = [Value(t, n, self, i) for i, (t, n) in enumerate(zip(types, names, strict=True))]

    # ---- declarations

    @classmethod
    def attribute_specs(cls) -> dict[str, AttrSpec]:
        cached = cls.__dict__.get("_attr_specs_cache")
        if cached is None:
            cached = {f.name: f.metadata["furiosa"] for f in attrs.fields(cls) if "furiosa" in f.metadata}
            cls._attr_specs_cache = cached  # type: ignore[attr-defined]
        return cached

    @classmethod
    def traits(cls) -> tuple[Trait, ...]:
        """Every trait of this op class, its own and its bases'."""
        return class_traits(cls)

    @classmethod
    def has_trait(cls, trait: type[Trait]) -> bool:
        return find_trait(cls, trait) is not None

    @classmethod
    def trait(cls, trait: type[TraitT]) -> TraitT | None:
        """The declared trait of class ``trait``, or None."""
        return find_trait(cls, trait)

    def effects(self) -> tuple[Effect, ...] | None:
        """This op's memory effects (its class's ``EFFECTS``; None when unknown)."""
        return self.EFFECTS

    @property
    def is_pure(self) -> bool:
        """No memory effect: the op may be erased when unused, merged with an equal op and
        folded to a constant."""
        return self.effects() == ()

    @classmethod
    def dialect(cls) -> str:
        return cls.OP_NAME.split(".", 1)[0]

    @property
    def attributes(self) -> dict[str, AttrValue]:
        return {name: getattr(self, name) for name in self.attribute_specs()}

    def _operand_slots(self) -> dict[str, slice | int]:
        """Operand name -> index (or slice for the variadic one)."""
        slots: dict[str, slice | int] = {}
        n = len(self.operands)
        defs = self.OPERANDS
        for i, d in enumerate(defs):
            if d.variadic:
                tail = len(defs) - i - 1
                slots[d.name] = slice(i, n - tail)
                for j, d2 in enumerate(defs[i + 1:]):
                    slots[d2.name] = n - tail + j
                break
            slots[d.name] = i
        return slots

    def operand(self, name: str) -> Value | None:
        """The operand declared as ``name`` (None when an optional one is absent)."""
        slot = self._operand_slots()[name]
        if isinstance(slot, slice):
            raise IRError(f"{self.OP_NAME} operand '{name}' is variadic; use operand_list")
        return self.operands[slot] if slot < len(self.operands) else None

    def operand_list(self, name: str) -> list[Value]:
        slot = self._operand_slots()[name]
        if isinstance(slot, slice):
            return [v for v in self.operands[slot] if v is not None]
        v = self.operands[slot] if slot < len(self.operands) else None
        return [] if v is None else [v]

    def operand_index(self, name: str) -> int:
        slot = self._operand_slots()[name]
        if isinstance(slot, slice):
            raise IRError(f"{self.OP_NAME} operand '{name}' is variadic")
        return slot

    @property
    def result(self) -> Value:
        """The single result (an error for ops with several)."""
        if len(self.results) != 1:
            raise IRError(f"{self.describe()} has {len(self.results)} results, not one")
        return self.results[0]

    def _check_arity(self) -> None:
        defs = self.OPERANDS
        n = len(self.operands)
        variadic = [d for d in defs if d.variadic]
        fixed = len(defs) - len(variadic)
        if variadic:
            if n < fixed - sum(1 for d in defs if d.optional and not d.variadic) + variadic[0].min_count:
                raise IRError(f"{self.describe()} takes at least "
                              f"{fixed + variadic[0].min_count} operands, got {n}")
        else:
            required = len(defs)
            while required and defs[required - 1].optional:
                required -= 1
            if not required <= n <= len(defs):
                want = str(len(defs)) if required == len(defs) else f"{required} to {len(defs)}"
                raise IRError(f"{self.describe()} takes {want} operands, got {n}")
        for d, i in self._operand_slots().items():
            spec = next(x for x in defs if x.name == d)
            if isinstance(i, int) and i < n and self.operands[i] is None and not spec.optional:
                raise IRError(f"{self.describe()} operand '{d}' is required")

    # ---- type inference and verification hooks

    def infer_types(self) -> list[TensorType]:
        """Result types from operand types (override). The default: like the first operand."""
        first = next((v for v in self.operands if v is not None), None)
        if first is None:
            raise self.error("cannot infer result types without operands")
        return [first.type] * max(1, len(self.RESULTS))

    def verify_op(self) -> None:
        """Checks the declarations cannot express (override)."""

    # ---- helpers for infer_types / verify_op

    def error(self, message: str) -> IRError:
        return IRError(f"{self.describe()}: {message}")

    def describe(self) -> str:
        return f"{self.OP_NAME} '{self.loc}'" if self.loc else self.OP_NAME

    def type_of(self, name: str) -> ShapedType:
        v = self.operand(name)
        if v is None:
            raise self.error(f"operand '{name}' is absent")
        return v.type

    def const(self, name_or_index: str | int) -> np.ndarray | None:
        """The constant value of an operand (None when it is not produced by a constant)."""
        v = (self.operand(name_or_index) if isinstance(name_or_index, str)
             else (self.operands[name_or_index] if name_or_index < len(self.operands) else None))
        return constant_value(v)

    def require_const(self, name: str) -> np.ndarray:
        c = self.const(name)
        if c is None:
            if self.operand(name) is None:
                raise self.error(f"operand '{name}' is required here")
            raise self.error(f"operand '{name}' must be a constant to give static shapes")
        return c

    @property
    def parent(self) -> Any:
        """The function this op belongs to (None while it is detached)."""
        return self._parent

    @property
    def next_op(self) -> Operation | None:
        return self._next

    @property
    def prev_op(self) -> Operation | None:
        return self._prev

    def __repr__(self) -> str:
        return f"<{self.describe()}>"


# Constant-valued subgraphs larger than this are not evaluated during type inference: only
# shape-like values (a few dozen elements) ever need to be, and big ones would cost real time.
CONSTANT_EVAL_LIMIT = 1 << 16


def constant_value(v: Value | None) -> np.ndarray | None:
    """The value of ``v`` when it is known without running the model, else None.

    Known means: produced by a constant op, by an op that knows its value from types alone
    (``static_value``, e.g. Shape of a static tensor), or by a pure op whose operands are all
    known — evaluated with the interpreter's own kernel. That is how exporters' shape
    arithmetic (Shape -> Gather -> Concat -> Reshape) gives static shapes.
    """
    return _constant_value(v, {})


# How many ops one constant_value query may visit: shape arithmetic is a short chain, while
# walking a deep network's whole ancestry (a long Relu chain, say) would cost depth x width.
CONSTANT_EVAL_BUDGET = 256


def produced_constant(v: Value | None) -> np.ndarray | None:
    """The value of ``v`` when a constant op produces it (no evaluation), else None."""
    getter = getattr(v.owner, "constant_array", None) if v is not None and v.owner is not None \
        else None
    return getter() if getter is not None else None


def _constant_value(v: Value | None, memo: dict[int, np.ndarray | None]) -> np.ndarray | None:
    if v is None or v.owner is None:
        return None
    direct = produced_constant(v)
    if direct is not None:
        return direct
    # Iterative post-order walk (no recursion limit), visiting at most CONSTANT_EVAL_BUDGET ops.
    budget = CONSTANT_EVAL_BUDGET
    stack: list[tuple[Value, bool]] = [(v, False)]
    while stack:
        cur, expanded = stack.pop()
        key = id(cur)
        if key in memo and not expanded:
            continue
        op = cur.owner
        if op is None:
            memo[key] = None
            continue
        direct = produced_constant(cur)
        if direct is not None:
            memo[key] = direct
            continue
        static = getattr(op, "static_value", None)
        if static is not None:
            values = static()
            memo[key] = values[cur.index] if values is not None else None
            continue
        if not op.is_pure or not all(r.type.is_static and r.type.size <= CONSTANT_EVAL_LIMIT
                                  for r in op.results):
            memo[key] = None
            continue
        if not expanded:
            budget -= 1
            if budget < 0:
                return None
            memo[key] = None  # provisional: a cycle in unverified IR reads as "not constant"
            stack.append((cur, True))
            stack.extend((a, False) for a in op.operands if a is not None and id(a) not in memo)
            continue
        args = []
        for a in op.operands:
            c = None if a is None else _known(a, memo)
            if a is not None and c is None:
                break
            args.append(c)
        else:
            memo[key] = _evaluate(op, args, cur.index)
    return memo.get(id(v))


def _known(v: Value, memo: dict[int, np.ndarray | None]) -> np.ndarray | None:
    direct = produced_constant(v)
    return direct if direct is not None else memo.get(id(v))


# Installed by the interpreter when it is imported: ``evaluate(op, arrays)`` runs one op on
# constant operands and returns its results, or None when the op has no kernel. A kernel
# that fails on constant operands raises: the model is wrong, and saying "not constant"
# would only move the error somewhere less clear.
ConstantEvaluator = Callable[["Operation", list], "list[np.ndarray] | None"]
_constant_evaluator: ConstantEvaluator | None = None


def set_constant_evaluator(evaluate: ConstantEvaluator | None) -> None:
    """Install the function constant folding during type inference uses (the interpreter's)."""
    global _constant_evaluator
    _constant_evaluator = evaluate


def _evaluate(op: Operation, args: list[np.ndarray | None], index: int) -> np.ndarray | None:
    if _constant_evaluator is None:
        return None
    outs = _constant_evaluator(op, args)
    return None if outs is None else outs[index]


# Every op class ever declared, by name: declaring the same name twice is a bug. Which ops a
# tool accepts is decided by its DialectRegistry (furiosa.ir.registry), not by this table.
DECLARED_OPS: dict[str, type[Operation]] = {}


def op_def(name: str) -> Callable[[type[OpT]], type[OpT]]:
    """Class decorator: make ``cls`` an attrs op class declared as ``name`` (``dialect.Op``)."""
    if "." not in name:
        raise ValueError(f"op name '{name}' must be dialect-qualified")

    def wrap(cls: type[OpT]) -> type[OpT]:
        if name in DECLARED_OPS:
            raise ValueError(f"op '{name}' is declared twice")
        cls.OP_NAME = name
        new = attrs.define(kw_only=True, eq=False, repr=False)(cls)
        DECLARED_OPS[name] = new
        return new

    return wrap


def check_attribute(op: Operation, name: str, spec: AttrSpec, value: AttrValue) -> None:
    """Raise IRError when ``value`` breaks the declared choices or check of attribute ``name``."""
    if value is None:
        return
    if spec.choices is not None and value not in spec.choices:
        opts = ", ".join(repr(c) for c in spec.choices)
        raise op.error(f"attribute '{name}' is {value!r}; expected one of {opts}")
    if spec.check is not None and not spec.check(value):
        raise op.error(f"attribute '{name}' is {value!r}; it must be {spec.check_text}")


def is_finite_number(x: float) -> bool:
    return math.isfinite(x)
