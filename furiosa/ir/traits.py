"""Op traits and memory effects: what an op *is*, declared on its class, asked by passes.

An op class declares ``TRAITS``, a tuple of trait objects. A class's traits are those it
declares plus those of its bases (an op family such as ``UnaryElementwise`` declares
``Elementwise`` once for all its members); a trait declared again by a subclass replaces the
inherited one of the same class. Passes ask ``op.has_trait(MovesData)`` or
``HasMACs.of(op)`` (the trait object, or None), never a list of op classes. A member of a
family that lacks one of the family's traits says so in ``WITHOUT_TRAITS`` (trait classes).

An op class also declares ``EFFECTS``, the memory effects it has: ``()`` means pure (no
effect beyond computing its results), ``None`` means unknown (treated as not pure). An op with
a write, alloc or free effect is never erased when unused, merged with an equal op, or folded
to a constant; ``op.is_pure`` is the one question those passes ask.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import attrs

from furiosa.ir.types import DYNAMIC

if TYPE_CHECKING:
    from furiosa.ir.core import Operation

TraitT = TypeVar("TraitT", bound="Trait")


class Trait:
    """Base of every trait. Traits are immutable values; a marker trait has no fields."""

    @classmethod
    def of(cls: type[TraitT], op: Operation | type[Operation]) -> TraitT | None:
        """The trait of this class that ``op`` (an op or an op class) declares, or None."""
        return find_trait(op if isinstance(op, type) else type(op), cls)


def class_traits(cls: type) -> tuple[Trait, ...]:
    """The traits of op class ``cls``: its own ``TRAITS`` then those it inherits."""
    cached = cls.__dict__.get("_traits_cache")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    found: dict[type[Trait], Trait] = {}
    withdrawn: set[type[Trait]] = set()
    for klass in cls.__mro__:  # most derived first: a redeclared trait replaces its base's
        for t in klass.__dict__.get("TRAITS", ()):
            if type(t) not in withdrawn:
                found.setdefault(type(t), t)
        withdrawn.update(klass.__dict__.get("WITHOUT_TRAITS", ()))
    traits = tuple(found.values())
    cls._traits_cache = traits  # type: ignore[attr-defined]
    return traits


def find_trait(cls: type, trait: type[TraitT]) -> TraitT | None:
    for t in class_traits(cls):
        if isinstance(t, trait):
            return t
    return None


# ---------------------------------------------------------------- the traits


@attrs.frozen
class Elementwise(Trait):
    """Each result element is a function of the operand elements at the same (broadcast)
    position."""


@attrs.frozen
class MovesData(Trait):
    """The result only moves, selects or repeats elements of operand 0 (the data); any other
    operands are index or shape parameters. Such an op commutes with (de)quantization."""


@attrs.frozen
class SameTypeIdentity(Trait):
    """The op is the identity on operand 0 whenever its result type equals operand 0's type."""


@attrs.frozen
class QuantFoldable(Trait):
    """fold-qdq turns this float op, between Dequantize and Quantize, into ``into`` (a quant op
    name)."""

    into: str


MacsFn = Callable[["Operation"], int]


@attrs.frozen
class HasMACs(Trait):
    """The op does multiply-accumulates; ``macs(op)`` counts them exactly from its shapes (a
    dynamic dimension counts as 1, so the count is a lower bound)."""

    macs: MacsFn

    def count(self, op: Operation) -> int:
        return self.macs(op) if op.results else 0


@attrs.frozen
class NpuCapable(Trait):
    """The NPU runs this op (on INT8 data). ``operator`` is the row of the supported-operator
    table whose conditions it is checked against; ``implements`` lists further rows it carries
    out (quant.Table computes every element-wise row). ``own`` marks an op of the NPU's own
    (Table, Requantize): it stands for no ONNX operator, so ``operator`` is its own name and
    not a row, and it runs on the NPU unconditionally."""

    operator: str
    implements: tuple[str, ...] = ()
    own: bool = False

    @property
    def rows(self) -> tuple[str, ...]:
        """The table rows this op carries out."""
        return self.implements if self.own else (self.operator, *self.implements)


# ---------------------------------------------------------------- MAC formulas


def _dim(d: int) -> int:
    return 1 if d == DYNAMIC else d


def _prod(dims: Sequence[int]) -> int:
    return math.prod(_dim(d) for d in dims)


def _operand_shape(op: Operation, index: int) -> tuple[int, ...]:
    v = op.operands[index]
    assert v is not None  # the formulas read required operands only
    return tuple(v.type.shape)


def conv_macs(weight_index: int = 1) -> MacsFn:
    """Output elements x (input channels per group · kernel): W is [M, C/group, k...]."""
    def macs(op: Operation) -> int:
        return _prod(op.results[0].type.shape) * _prod(_operand_shape(op, weight_index)[1:])
    return macs


def conv_transpose_macs(op: Operation) -> int:
    """Each input element meets M/group · k... weights: W is [C, M/group, k...]."""
    return _prod(_operand_shape(op, 0)) * _prod(_operand_shape(op, 1)[1:])


def matmul_macs(op: Operation) -> int:
    """Output elements x K, K the last axis of A."""
    return _prod(op.results[0].type.shape) * _dim(_operand_shape(op, 0)[-1])


def gemm_macs(op: Operation) -> int:
    """Output elements x K, K the inner dimension of A' (A transposed when transA)."""
    a = _operand_shape(op, 0)
    return _prod(op.results[0].type.shape) * _dim(a[0] if getattr(op, "transA", 0) else a[1])


# ---------------------------------------------------------------- memory effects


class EffectKind(enum.Enum):
    READ = "read"
    WRITE = "write"
    ALLOC = "alloc"
    FREE = "free"


@attrs.frozen
class Effect:
    """One memory effect of an op on a resource (a memory space such as ``warboy.sram``)."""

    kind: EffectKind
    resource: str


def read(resource: str) -> Effect:
    return Effect(EffectKind.READ, resource)


def write(resource: str) -> Effect:
    return Effect(EffectKind.WRITE, resource)


def alloc(resource: str) -> Effect:
    return Effect(EffectKind.ALLOC, resource)


def free(resource: str) -> Effect:
    return Effect(EffectKind.FREE, resource)


def only_reads(effects: tuple[Effect, ...] | None) -> bool:
    """True when the effects are known and none changes memory (an unused such op may go)."""
    return effects is not None and all(e.kind is EffectKind.READ for e in effects)
