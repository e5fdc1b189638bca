"""The typed syntax tree of .frysql: frozen dataclasses, one per construct.

Every node has a `span` pointing into the source; spans do not take part in equality, so two
trees parsed from differently formatted text compare equal when they mean the same thing.
Names keep the case they were written in (identifiers are case-sensitive); keywords and
function names are normalised to upper case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from frys.dsl.errors import UNKNOWN_SPAN, Span


def _span() -> Span:
    return field(default=UNKNOWN_SPAN, compare=False, repr=False)  # type: ignore[return-value]


# ------------------------------------------------------------------ expressions


class Expr:
    """Base of all scalar and aggregate expressions."""

    span: Span


@dataclass(frozen=True, slots=True)
class Literal(Expr):
    """A constant: int, float, str, bool or None (NULL)."""

    value: int | float | str | bool | None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class IntervalLiteral(Expr):
    """A duration such as `10 SECONDS` or `500ms`, in milliseconds."""

    millis: int
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ColumnRef(Expr):
    """`name` or `qualifier.name` (qualifier: a stream name or alias)."""

    name: str
    qualifier: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class UnaryOp(Expr):
    """`NOT x` or `-x`; op is 'NOT' or '-'."""

    op: str
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class BinaryOp(Expr):
    """Arithmetic, comparison, `||`, AND and OR; op is the operator as written, upper case
    for keywords ('AND', 'OR') and '<>' for both spellings of not-equal."""

    op: str
    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class InList(Expr):
    """`operand [NOT] IN (items...)`."""

    operand: Expr
    items: tuple[Expr, ...]
    negated: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Between(Expr):
    """`operand [NOT] BETWEEN low AND high` (both bounds inclusive)."""

    operand: Expr
    low: Expr
    high: Expr
    negated: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Like(Expr):
    """`operand [NOT] LIKE pattern`: `%` any run of characters, `_` one character."""

    operand: Expr
    pattern: Expr
    negated: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class IsNull(Expr):
    """`operand IS [NOT] NULL`."""

    operand: Expr
    negated: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Cast(Expr):
    """`CAST(operand AS type)`; type_name is upper case as written (e.g. 'INT')."""

    operand: Expr
    type_name: str
    span: Span = _span()
    type_span: Span = _span()


@dataclass(frozen=True, slots=True)
class CaseWhen:
    condition: Expr
    result: Expr


@dataclass(frozen=True, slots=True)
class Case(Expr):
    """`CASE [operand] WHEN .. THEN .. [ELSE ..] END`; with an operand, each WHEN is compared
    to it for equality (a simple CASE), otherwise each WHEN is a condition."""

    whens: tuple[CaseWhen, ...]
    else_: Expr | None = None
    operand: Expr | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class FunctionCall(Expr):
    """`NAME(args)`, `NAME(*)` (star) or `NAME(DISTINCT x)`; name is upper case. Aggregates
    and window functions (TUMBLE) are function calls too; the analyzer tells them apart."""

    name: str
    args: tuple[Expr, ...] = ()
    star: bool = False
    distinct: bool = False
    span: Span = _span()


# ------------------------------------------------------------------ statements


@dataclass(frozen=True, slots=True)
class ColumnDef:
    name: str
    type_name: str
    span: Span = _span()


class OptionKind(Enum):
    STRING = "string"
    INTERVAL = "interval"
    NUMBER = "number"
    NAME = "name"


@dataclass(frozen=True, slots=True)
class WithOption:
    """`name = value` in a WITH clause; `value` is the str, the interval in ms, the number,
    or the identifier, per `kind`."""

    name: str
    kind: OptionKind
    value: str | int | float
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class CreateStream:
    """`CREATE STREAM name [(columns)] [WITH (options)]`; columns None = schema from the
    query that writes to the stream."""

    name: str
    columns: tuple[ColumnDef, ...] | None
    options: tuple[WithOption, ...] = ()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class SelectItem:
    """One output of SELECT; `expr` None means `*`."""

    expr: Expr | None
    alias: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class FromStream:
    name: str
    alias: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Select:
    """A continuous query. `emit` is 'FINAL', 'CHANGES' or None (the default for its kind)."""

    items: tuple[SelectItem, ...]
    source: FromStream
    where: Expr | None = None
    group_by: tuple[Expr, ...] = ()
    having: Expr | None = None
    emit: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class InsertInto:
    """`INSERT INTO target SELECT ...`."""

    target: str
    query: Select
    span: Span = _span()
    target_span: Span = _span()


Statement = CreateStream | InsertInto | Select


@dataclass(frozen=True, slots=True)
class Program:
    """All statements of one .frysql text, in order."""

    statements: tuple[Statement, ...]
