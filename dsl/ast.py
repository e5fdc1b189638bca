"""The typed syntax tree of .frysql: frozen dataclasses, one per construct.

Every node has a `span` pointing into the source; spans do not take part in equality, so two
trees parsed from differently formatted text compare equal when they mean the same thing.
Names keep the case they were written in (identifiers are case-sensitive); keywords and
function names are normalised to upper case.

Every expression carries its `type`: None as parsed, the FrysType the analyzer found once
it has been typed (dsl/typer.py), so the planner, the optimizer rules and the operators
read a node's type from the node itself. The type does not take part in equality either.
`children` and `walk` are the one traversal of expression trees.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from frys.dsl.errors import UNKNOWN_SPAN, Span

if TYPE_CHECKING:
    from frys.dsl.types import FrysType


def _span() -> Span:
    return field(default=UNKNOWN_SPAN, compare=False, repr=False)  # type: ignore[return-value]


# ------------------------------------------------------------------ expressions


@dataclass(frozen=True)
class Expr:
    """Base of all scalar and aggregate expressions. `type` is None until the analyzer has
    typed the node (keyword-only, so it never shifts the positional fields of a node)."""

    type: FrysType | None = field(default=None, compare=False, repr=False, kw_only=True)
    if TYPE_CHECKING:  # every node declares its own `span` field, after its other fields
        @property
        def span(self) -> Span: ...


@dataclass(frozen=True)
class Literal(Expr):
    """A constant: int, float, str, bool or None (NULL)."""

    value: int | float | str | bool | None
    span: Span = _span()


@dataclass(frozen=True)
class IntervalLiteral(Expr):
    """A duration such as `10 SECONDS` or `500ms`, in milliseconds."""

    millis: int
    span: Span = _span()


@dataclass(frozen=True)
class ColumnRef(Expr):
    """`name` or `qualifier.name` (qualifier: a stream name or alias)."""

    name: str
    qualifier: str | None = None
    span: Span = _span()


@dataclass(frozen=True)
class UnaryOp(Expr):
    """`NOT x` or `-x`; op is 'NOT' or '-'."""

    op: str
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True)
class BinaryOp(Expr):
    """Arithmetic, comparison, `||`, AND and OR; op is the operator as written, upper case
    for keywords ('AND', 'OR') and '<>' for both spellings of not-equal."""

    op: str
    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(frozen=True)
class InList(Expr):
    """`operand [NOT] IN (items...)`."""

    operand: Expr
    items: tuple[Expr, ...]
    negated: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class Between(Expr):
    """`operand [NOT] BETWEEN low AND high` (both bounds inclusive)."""

    operand: Expr
    low: Expr
    high: Expr
    negated: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class Like(Expr):
    """`operand [NOT] LIKE pattern`: `%` any run of characters, `_` one character."""

    operand: Expr
    pattern: Expr
    negated: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class IsNull(Expr):
    """`operand IS [NOT] NULL`."""

    operand: Expr
    negated: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class Cast(Expr):
    """`CAST(operand AS type)`; type_name is upper case as written (e.g. 'INT')."""

    operand: Expr
    type_name: str
    span: Span = _span()
    type_span: Span = _span()


@dataclass(frozen=True)
class CaseWhen:
    condition: Expr
    result: Expr


@dataclass(frozen=True)
class Case(Expr):
    """`CASE [operand] WHEN .. THEN .. [ELSE ..] END`; with an operand, each WHEN is compared
    to it for equality (a simple CASE), otherwise each WHEN is a condition."""

    whens: tuple[CaseWhen, ...]
    else_: Expr | None = None
    operand: Expr | None = None
    span: Span = _span()


@dataclass(frozen=True)
class FunctionCall(Expr):
    """`NAME(args)`, `NAME(*)` (star) or `NAME(DISTINCT x)`; name is upper case. Aggregates
    and window functions (TUMBLE) are function calls too; the analyzer tells them apart."""

    name: str
    args: tuple[Expr, ...] = ()
    star: bool = False
    distinct: bool = False
    span: Span = _span()


# ------------------------------------------------------------------ traversal


def _case_children(case: Case) -> tuple[Expr, ...]:
    parts: list[Expr] = [case.operand] if case.operand is not None else []
    for when in case.whens:
        parts += (when.condition, when.result)
    if case.else_ is not None:
        parts.append(case.else_)
    return tuple(parts)


# per node class: its direct subexpressions in written order. A node class missing here
# makes `children` raise rather than silently hide a subtree (tests/test_typed_ast.py
# checks this table against every Expr class by reflection).
_CHILDREN: dict[type, Callable[..., tuple[Expr, ...]]] = {
    Literal: lambda node: (),
    IntervalLiteral: lambda node: (),
    ColumnRef: lambda node: (),
    UnaryOp: lambda node: (node.operand,),
    BinaryOp: lambda node: (node.left, node.right),
    InList: lambda node: (node.operand, *node.items),
    Between: lambda node: (node.operand, node.low, node.high),
    Like: lambda node: (node.operand, node.pattern),
    IsNull: lambda node: (node.operand,),
    Cast: lambda node: (node.operand,),
    Case: _case_children,
    FunctionCall: lambda node: node.args,
}


def children(expr: Expr) -> tuple[Expr, ...]:
    """The direct subexpressions of `expr`, in the order they are written (a CASE: its
    operand, then each WHEN's condition and result, then ELSE)."""
    try:
        return _CHILDREN[type(expr)](expr)
    except KeyError:
        raise TypeError(f"not an expression node: {expr!r}") from None


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of an expression tree, parents before children, in written order
    (iterative: a long chain does not reach the recursion limit)."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))


def untyped(expr: Expr) -> list[Expr]:
    """The nodes of `expr` that carry no type: none, once the analyzer has typed it."""
    return [node for node in walk(expr) if node.type is None]


def assert_typed(expr: Expr) -> None:
    """The typed-tree invariant: every node of an analyzed expression, and of one an
    optimizer rule rewrote, carries its type. Raises AssertionError naming the nodes."""
    missing = untyped(expr)
    if missing:
        raise AssertionError(f"untyped expression nodes: {missing!r}")


def replace_columns(expr: Expr, replacement: Callable[[ColumnRef], Expr | None]) -> Expr:
    """`expr` with each column reference that `replacement` maps (None: kept as it is)
    replaced, every other node kept, with its type (a tree with a changed leaf is rebuilt
    along the path to it, the rest shared)."""
    if isinstance(expr, ColumnRef):
        return replacement(expr) or expr

    def rebuilt(value: object) -> object:
        if isinstance(value, Expr):
            return replace_columns(value, replacement)
        if isinstance(value, CaseWhen):
            condition, result = rebuilt(value.condition), rebuilt(value.result)
            if condition is value.condition and result is value.result:
                return value
            return CaseWhen(condition, result)  # type: ignore[arg-type]
        if isinstance(value, tuple):
            items = tuple(rebuilt(item) for item in value)
            return value if all(a is b for a, b in zip(items, value, strict=True)) else items
        return value

    changes: dict[str, Any] = {}
    for name in _EXPRESSION_FIELDS[type(expr)]:
        old = getattr(expr, name)
        new = rebuilt(old)
        if new is not old:
            changes[name] = new
    if not changes:
        return expr
    return dataclasses.replace(expr, **changes)  # keeps `type`, an init field


# per node class: the fields that hold subexpressions (CASE's WHENs as CaseWhen tuples)
_EXPRESSION_FIELDS: dict[type, tuple[str, ...]] = {
    Literal: (), IntervalLiteral: (), ColumnRef: (), UnaryOp: ("operand",),
    BinaryOp: ("left", "right"), InList: ("operand", "items"),
    Between: ("operand", "low", "high"), Like: ("operand", "pattern"), IsNull: ("operand",),
    Cast: ("operand",), Case: ("operand", "whens", "else_"), FunctionCall: ("args",),
}


# ------------------------------------------------------------------ statements


@dataclass(frozen=True)
class ColumnDef:
    name: str
    type_name: str
    span: Span = _span()
    primary_key: bool = False


class OptionKind(Enum):
    STRING = "string"
    INTERVAL = "interval"
    NUMBER = "number"
    NAME = "name"


@dataclass(frozen=True)
class WithOption:
    """`name = value` in a WITH clause; `value` is the str, the interval in ms, the number,
    or the identifier, per `kind`."""

    name: str
    kind: OptionKind
    value: str | int | float
    span: Span = _span()


@dataclass(frozen=True)
class CreateStream:
    """`CREATE STREAM name [(columns)] [WITH (options)]`; columns None = schema from the
    query that writes to the stream."""

    name: str
    columns: tuple[ColumnDef, ...] | None
    options: tuple[WithOption, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class CreateTable:
    """`CREATE TABLE name (columns, one of them PRIMARY KEY) [WITH (options)]`: the latest
    row per key."""

    name: str
    columns: tuple[ColumnDef, ...]
    options: tuple[WithOption, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class SelectItem:
    """One output of SELECT; `expr` None means `*`."""

    expr: Expr | None
    alias: str | None = None
    span: Span = _span()


@dataclass(frozen=True)
class FromStream:
    name: str
    alias: str | None = None
    span: Span = _span()


@dataclass(frozen=True)
class Join:
    """`[LEFT|RIGHT|FULL [OUTER]] JOIN source ON condition [WITHIN interval | WITHIN
    window]`; kind is 'INNER', 'LEFT', 'RIGHT' or 'FULL'. `window`: the call of `WITHIN
    TUMBLE(size)` or `WITHIN HOP(size, slide)` as written (a window join; the analyzer
    checks it), None for an interval join or a join with a table."""

    kind: str
    source: FromStream
    condition: Expr
    within_ms: int | None = None
    window: FunctionCall | None = None
    span: Span = _span()


# ------------------------------------------------------------------ patterns


@dataclass(frozen=True)
class Quantifier:
    """`+ * ? {n} {n,} {n,m}`: at least `low`, at most `high` (None = unbounded) times;
    greedy unless written with a trailing `?` (reluctant). `repetition` is how the
    repetitions are joined when written (`b+ RELAXED`): '' strict (STRICT), '->' relaxed
    (RELAXED), '->>' non-deterministic relaxed (ANY); None: as the element is joined to the
    one before it."""

    low: int
    high: int | None
    greedy: bool = True
    text: str = field(default="", compare=False)  # as written, for printing
    repetition: str | None = None


class PatternNode:
    """Base of the pattern tree: variables, sequences, alternations, negations."""

    span: Span


@dataclass(frozen=True)
class PatternVariable(PatternNode):
    """`name` or `name:stream`, optionally quantified."""

    name: str
    stream: str | None = None
    quantifier: Quantifier | None = None
    span: Span = _span()


@dataclass(frozen=True)
class PatternGroup(PatternNode):
    """`( pattern )`, optionally quantified."""

    body: PatternNode
    quantifier: Quantifier | None = None
    span: Span = _span()


@dataclass(frozen=True)
class PatternNot(PatternNode):
    """`NOT x`: the next event is not x (after strict contiguity) or no x occurs before the
    next element (after `->`); at the end of a pattern, an absence within WITHIN."""

    element: PatternNode
    span: Span = _span()


@dataclass(frozen=True)
class PatternSequence(PatternNode):
    """Elements in order; `contiguities[i]` joins elements i and i+1: '' strict (`a b`),
    '->' relaxed, '->>' non-deterministic relaxed. `leading` is the arrow written before the
    first element ('' when none)."""

    elements: tuple[PatternNode, ...]
    contiguities: tuple[str, ...]
    leading: str = ""
    span: Span = _span()


@dataclass(frozen=True)
class PatternAlternation(PatternNode):
    """`a | b`: either branch."""

    branches: tuple[PatternNode, ...]
    span: Span = _span()


def repetition_of(quantifier: Quantifier | None, before: str, first: bool) -> str:
    """How a loop's repetitions are joined ('' strict, '->' relaxed, '->>' any): as written
    (STRICT/RELAXED/ANY), else as the element is joined to the one before it (`before`); a
    sequence's first element repeats strictly unless written with a leading arrow."""
    if quantifier is not None and quantifier.repetition is not None:
        return quantifier.repetition
    return before if (not first or before) else ""


def greedy_in_flink(node: PatternNode, before: str, first: bool) -> bool:
    """Is the element a greedy loop as Flink allows one: a single variable, greedy, that
    repeats a varying number of times (greedy on `{n}` changes nothing) and not with ANY
    (Flink: "Option not applicable to singleton quantifier", "... to group pattern", "... to
    FollowedByAny pattern"). The analyzer and the pattern compiler both go by this rule."""
    if not isinstance(node, PatternVariable) or node.quantifier is None:
        return False
    quantifier = node.quantifier
    if not quantifier.greedy or max(quantifier.low, 1) == quantifier.high:
        return False
    return repetition_of(quantifier, before, first) != "->>"


def pattern_nodes(node: PatternNode) -> Iterator[PatternNode]:
    """Every node of a pattern tree, parents before children, in written order."""
    yield node
    if isinstance(node, PatternGroup):
        yield from pattern_nodes(node.body)
    elif isinstance(node, PatternNot):
        yield from pattern_nodes(node.element)
    elif isinstance(node, PatternSequence):
        for element in node.elements:
            yield from pattern_nodes(element)
    elif isinstance(node, PatternAlternation):
        for branch in node.branches:
            yield from pattern_nodes(branch)


@dataclass(frozen=True)
class Define:
    """`DEFINE variable AS condition [UNTIL stop]`."""

    variable: str
    condition: Expr
    until: Expr | None = None
    span: Span = _span()


@dataclass(frozen=True)
class AfterMatch:
    """`AFTER MATCH` strategy: 'SKIP PAST LAST EVENT', 'SKIP TO NEXT EVENT',
    'SKIP TO FIRST', 'SKIP TO LAST' (with `variable`) or 'NO SKIP'."""

    strategy: str
    variable: str | None = None
    span: Span = _span()


@dataclass(frozen=True)
class MatchClause:
    """The pattern part of a query: PARTITION BY, PATTERN, WITHIN, DEFINE, AFTER MATCH and
    EMIT TIMEOUTS TO."""

    pattern: PatternNode
    partition_by: tuple[ColumnRef, ...] = ()
    within_ms: int | None = None
    within_between_events: bool = False
    defines: tuple[Define, ...] = ()
    after_match: AfterMatch | None = None
    timeouts_to: str | None = None
    span: Span = _span()


# ------------------------------------------------------------------ queries


@dataclass(frozen=True)
class Select:
    """A continuous query. `emit` is 'FINAL', 'CHANGES', 'EVERY' (with `emit_every_ms`) or
    None (the default for its kind). `more_sources` are the streams after the first in
    `FROM a, b` (pattern queries only); `match` is the pattern clause, if any."""

    items: tuple[SelectItem, ...]
    source: FromStream
    where: Expr | None = None
    group_by: tuple[Expr, ...] = ()
    having: Expr | None = None
    emit: str | None = None
    span: Span = _span()
    emit_every_ms: int | None = None
    more_sources: tuple[FromStream, ...] = ()
    joins: tuple[Join, ...] = ()
    match: MatchClause | None = None
    # `-- name: x` on the line before the query: its stable name (state, summary, stdout)
    name: str | None = None


@dataclass(frozen=True)
class InsertInto:
    """`INSERT INTO target SELECT ...`."""

    target: str
    query: Select
    span: Span = _span()
    target_span: Span = _span()


Statement = CreateStream | CreateTable | InsertInto | Select


@dataclass(frozen=True)
class Program:
    """All statements of one .frysql text, in order."""

    statements: tuple[Statement, ...]
