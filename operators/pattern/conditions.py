"""DEFINE conditions and SELECT outputs of a pattern query, compiled for the two places they
run.

Each variable's DEFINE is split into its conjuncts. Those that read only the current event
(its columns, `PREV(col, n)`, constants) become one polars expression evaluated over the
whole batch (the `fits` flags of nfa.Event): they decide which events can advance anything,
so the automaton never sees the others. The remaining conjuncts (they read earlier
variables, `a.price`, or running aggregates of a quantified variable, `AVG(b.price)`) become
Python closures over (event, partial match), evaluated only for events that pass the first
part. SQL's three-valued logic holds in both: a NULL condition does not hold.

Outputs: for every match, the values of single variables' columns, aggregates over
quantified variables, MATCH_START and MATCH_END are gathered into columns of a frame, and the
SELECT list is then evaluated over that frame with polars (operators/expressions.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import polars as pl

from frys.dsl import ast
from frys.dsl.arithmetic import (
    ARITHMETIC_OPERATORS,
    COMPARISON_OPERATORS,
    operand_type,
    scalar_arithmetic,
    scalar_compare,
    scalar_concat,
    scalar_negate,
)
from frys.dsl.ast import walk
from frys.dsl.errors import NotSupportedYet
from frys.dsl.printer import expr_to_sql
from frys.dsl.typer import variable_named
from frys.dsl.types import TYPE_NAMES, FrysType
from frys.operators.expressions import cast_source_type, to_polars
from frys.operators.pattern.nfa import NO_NODE, Event, SharedBuffer

Value = Callable[[Event, int], object]
PATTERN_AGGREGATES = ("COUNT", "SUM", "AVG", "MIN", "MAX", "FIRST", "LAST", "ARRAY_AGG")


def prev_column(name: str, offset: int) -> str:
    return f"__prev{offset}_{name}"


def split_conjuncts(expr: ast.Expr) -> list[ast.Expr]:
    if isinstance(expr, ast.BinaryOp) and expr.op.upper() == "AND":
        return split_conjuncts(expr.left) + split_conjuncts(expr.right)
    return [expr]


def prev_calls(expr: ast.Expr) -> list[tuple[str, int]]:
    """The (column, offset) pairs of every PREV in an expression."""
    found = []
    for node in walk(expr):
        if isinstance(node, ast.FunctionCall) and node.name.upper() == "PREV":
            column = node.args[0]
            assert isinstance(column, ast.ColumnRef)
            argument = node.args[1] if len(node.args) > 1 else None
            # the analyzer admits only an INT literal offset
            offset = (int(cast(int, argument.value)) if isinstance(argument, ast.Literal)
                      else 1)
            found.append((column.name, offset))
    return found


def is_current_only(expr: ast.Expr, variable: str, variables: set[str]) -> bool:
    """True when the expression reads only the current event (as `variable`)."""
    for node in walk(expr):
        if isinstance(node, ast.FunctionCall):
            name = node.name.upper()
            if name in PATTERN_AGGREGATES and any(
                    variable_named(arg) in variables for arg in node.args):
                return False
        if isinstance(node, ast.ColumnRef):
            if node.qualifier is not None and node.qualifier != variable:
                return False
            if node.qualifier is None and node.name in variables:
                return False
    return True


def like_matcher(pattern: str) -> Callable[[str], bool]:
    """SQL LIKE without backtracking (the same semantics as the batch path's anchored regex,
    operators/expressions.py `like_to_regex`: `%` any run of characters, newlines included,
    `_` exactly one character, everything else literal; no escape character). The pattern
    is split on `%`: the first piece must start the text, the last must end it, and each
    piece in between is placed at its earliest position after the previous one (the
    earliest placement leaves the most room for the rest, so it never needs revisiting).
    Time: linear in the text for pieces without `_`; a piece with `_` is searched by its
    first literal run and checked in place, at most (piece length) steps per position."""
    pieces = [_LikePiece(p) for p in pattern.split("%")]
    if len(pieces) == 1:
        only = pieces[0]
        return lambda text: len(text) == only.length and only.at(text, 0)
    head, middle, tail = pieces[0], pieces[1:-1], pieces[-1]
    fixed = head.length + tail.length

    def matches(text: str) -> bool:
        if len(text) < fixed or not head.at(text, 0):
            return False
        end = len(text) - tail.length  # where the last piece must begin
        if not tail.at(text, end):
            return False
        position = head.length
        for piece in middle:
            found = piece.find(text, position, end)
            if found < 0:
                return False
            position = found + piece.length
        return True
    return matches


class _LikePiece:
    """A run of a LIKE pattern between `%`s: literal text with `_` wildcards, kept as its
    length and its literal runs with their offsets."""

    __slots__ = ("length", "runs")

    def __init__(self, piece: str) -> None:
        self.length = len(piece)
        self.runs: list[tuple[int, str]] = []
        offset = 0
        for run in piece.split("_"):
            if run:
                self.runs.append((offset, run))
            offset += len(run) + 1

    def at(self, text: str, position: int) -> bool:
        """Does the piece match text[position : position + length] (which must exist)?"""
        return all(text.startswith(run, position + offset) for offset, run in self.runs)

    def find(self, text: str, start: int, limit: int) -> int:
        """The earliest position >= start where the piece matches and ends by `limit`,
        or -1."""
        last = limit - self.length  # the last position the piece may begin at
        if last < start:
            return -1
        if not self.runs:
            return start
        first_offset, first_run = self.runs[0]
        rest = self.runs[1:]
        found = text.find(first_run, start + first_offset, limit)
        while found >= 0:
            position = found - first_offset
            if position > last:
                return -1
            if all(text.startswith(run, position + offset) for offset, run in rest):
                return position
            found = text.find(first_run, found + 1, limit)
        return -1


# (variable, column) -> the column's name in the operator's frame (several FROM streams
# are merged into one frame, their columns prefixed with the stream's name)
ColumnOf = Callable[[str, str], str]


def _same_name(variable: str, column: str) -> str:
    return column


def vectorized(conjuncts: list[ast.Expr], variable: str = "",
               column_of: ColumnOf = _same_name) -> pl.Expr:
    """The polars expression of current-only conjuncts over a batch (NULL -> false)."""
    if not conjuncts:
        return pl.lit(True)

    def substitute(node: ast.Expr) -> pl.Expr | None:
        if isinstance(node, ast.ColumnRef):
            return pl.col(column_of(variable, node.name))
        if isinstance(node, ast.FunctionCall) and node.name.upper() == "PREV":
            (column, offset), = prev_calls(node)
            return pl.col(prev_column(column_of(variable, column), offset))
        return None

    combined = to_polars(conjuncts[0], substitute)
    for conjunct in conjuncts[1:]:
        combined = combined & to_polars(conjunct, substitute)
    return combined.fill_null(False)


@dataclass
class ValueLayout:
    """Which columns an Event's `values` tuple holds, and where (the columns DEFINE
    residuals and outputs read; TIMESTAMPs as epoch milliseconds)."""

    columns: list[str] = field(default_factory=list)

    def index(self, column: str) -> int:
        if column not in self.columns:
            self.columns.append(column)
        return self.columns.index(column)


class ResidualCompiler:
    """DEFINE conjuncts that read the partial match -> Python closures (event, node)."""

    def __init__(self, variables: list[str], layout: ValueLayout, buffer: SharedBuffer,
                 column_of: ColumnOf = _same_name) -> None:
        self.variables = variables
        self.buffer = buffer
        self.index = {name: i for i, name in enumerate(variables)}
        self.layout = layout
        self.column_of = column_of

    def condition(self, conjuncts: list[ast.Expr], variable: str):
        if not conjuncts:
            return None
        parts = [self.value(c, variable) for c in conjuncts]
        if len(parts) == 1:
            only = parts[0]
            return lambda event, node: only(event, node) is True
        return lambda event, node: all(part(event, node) is True for part in parts)

    def value(self, expr: ast.Expr, variable: str) -> Value:
        """A closure computing `expr` for the current event taken as `variable`."""
        if isinstance(expr, ast.Literal):
            constant = expr.value
            return lambda event, node: constant
        if isinstance(expr, ast.IntervalLiteral):
            millis = expr.millis
            return lambda event, node: millis
        if isinstance(expr, ast.ColumnRef):
            return self._column(expr, variable)
        if isinstance(expr, ast.UnaryOp):
            operand = self.value(expr.operand, variable)
            if expr.op.upper() == "NOT":
                return lambda event, node: _not(operand(event, node))
            if expr.op == "-":
                negate = scalar_negate(self._type_of(expr.operand))
                return lambda event, node: (None if (value := operand(event, node)) is None
                                            else negate(value))
            return operand
        if isinstance(expr, ast.BinaryOp):
            return self._binary(expr, variable)
        if isinstance(expr, ast.IsNull):
            operand = self.value(expr.operand, variable)
            negated = expr.negated
            return lambda event, node: (operand(event, node) is None) != negated
        if isinstance(expr, ast.Between):
            operand = self.value(expr.operand, variable)
            low, high = self.value(expr.low, variable), self.value(expr.high, variable)
            negated = expr.negated

            def between(event, node):
                x, lo, hi = operand(event, node), low(event, node), high(event, node)
                if x is None or lo is None or hi is None:
                    return None
                return (lo <= x <= hi) != negated
            return between
        if isinstance(expr, ast.InList):
            operand = self.value(expr.operand, variable)
            items = [self.value(item, variable) for item in expr.items]
            negated = expr.negated

            def in_list(event, node):
                x = operand(event, node)
                if x is None:
                    return None
                values = [item(event, node) for item in items]
                if x in values:
                    return not negated
                return None if None in values else negated
            return in_list
        if isinstance(expr, ast.Like):
            operand = self.value(expr.operand, variable)
            assert isinstance(expr.pattern, ast.Literal)  # the analyzer's rule
            matches = like_matcher(str(expr.pattern.value))
            negated = expr.negated

            def like(event, node):
                x = operand(event, node)
                if x is None:
                    return None
                return matches(str(x)) != negated
            return like
        if isinstance(expr, ast.FunctionCall):
            return self._function(expr, variable)
        if isinstance(expr, ast.Case):
            return self._case(expr, variable)
        if isinstance(expr, ast.Cast):
            return self._cast(expr, variable)
        raise _refused(f"not supported yet in a DEFINE that reads other variables: "
                       f"{expr_to_sql(expr)}", expr)

    def _cast(self, expr: ast.Cast, variable: str) -> Value:
        """CAST between the types whose conversion Python computes exactly as the batch path
        (operators/expressions.py `_cast`): numbers, BOOL and TIMESTAMP (epoch ms) among
        themselves, and INT, BOOL or TIMESTAMP to STRING, STRING to BOOL. Parsing numbers
        or times from text, and formatting FLOAT as text, are refused here."""
        source = cast_source_type(expr)
        target = TYPE_NAMES[expr.type_name]
        operand = self.value(expr.operand, variable)
        convert = _CASTS.get((source, target))
        if source == target:
            return operand
        if source == FrysType.NULL:
            return lambda event, node: None
        if convert is None:
            raise _refused(f"not supported yet in a DEFINE that reads other variables: "
                           f"CAST from {source} to {target}", expr)
        return lambda event, node: _null_safe(convert, operand(event, node))

    def _case(self, expr: ast.Case, variable: str) -> Value:
        """CASE as SQL has it: the first WHEN that is true (a simple CASE: equal to the
        operand; NULL never is) gives the result; none: ELSE, or NULL."""
        operand = self.value(expr.operand, variable) if expr.operand is not None else None
        whens = [(self.value(w.condition, variable), self.value(w.result, variable))
                 for w in expr.whens]
        otherwise = self.value(expr.else_, variable) if expr.else_ is not None else None

        def case(event, node):
            subject = operand(event, node) if operand is not None else None
            for condition, result in whens:
                value = condition(event, node)
                if operand is not None:
                    value = None if subject is None or value is None else subject == value
                if value is True:
                    return result(event, node)
            return otherwise(event, node) if otherwise is not None else None
        return case

    def _column(self, ref: ast.ColumnRef, variable: str) -> Value:
        owner = ref.qualifier
        if owner is None or owner == variable:
            slot = self.layout.index(self.column_of(variable, ref.name))
            return lambda event, node: event.values[slot]
        target = self.index[owner]
        slot = self.layout.index(self.column_of(owner, ref.name))
        buffer = self.buffer
        variables, previous, events = (buffer.node_variable, buffer.node_previous,
                                       buffer.node_event)

        def earlier(event, node):
            while node != NO_NODE:  # the latest event bound to `owner`
                if variables[node] == target:
                    return buffer.value(events[node], slot)
                node = previous[node]
            return None
        return earlier

    def _binary(self, expr: ast.BinaryOp, variable: str) -> Value:
        left, right = self.value(expr.left, variable), self.value(expr.right, variable)
        op = expr.op.upper()
        if op == "AND":
            def and_(event, node):
                a = left(event, node)
                if a is False:
                    return False
                b = right(event, node)
                if b is False:
                    return False
                return None if a is None or b is None else True
            return and_
        if op == "OR":
            def or_(event, node):
                a = left(event, node)
                if a is True:
                    return True
                b = right(event, node)
                if b is True:
                    return True
                return None if a is None or b is None else False
            return or_
        # dsl/arithmetic.py's rules, the variant for the operands' types chosen here once
        left_type, right_type = self._type_of(expr.left), self._type_of(expr.right)
        function: Callable[[Any, Any], Any] | None = None
        if op in COMPARISON_OPERATORS:
            function = scalar_compare(op, left_type, right_type)
        elif op in ARITHMETIC_OPERATORS:
            function = scalar_arithmetic(op, left_type, right_type)
        elif op == "||":
            function = scalar_concat(left_type, right_type)
        if function is None:
            raise _refused(f"not supported yet in a DEFINE that reads other variables: "
                           f"the operator {expr.op}", expr)
        apply = function

        def binary(event, node):
            a = left(event, node)
            if a is None:
                return None
            b = right(event, node)
            if b is None:
                return None
            return apply(a, b)
        return binary

    def _type_of(self, expr: ast.Expr) -> FrysType:
        return operand_type(expr)

    def _function(self, call: ast.FunctionCall, variable: str) -> Value:
        name = call.name.upper()
        if name == "PREV":
            (column, offset), = prev_calls(call)
            slot = self.layout.index(prev_column(self.column_of(variable, column), offset))
            return lambda event, node: event.values[slot]
        if name == "ABS" and len(call.args) == 1:
            operand = self.value(call.args[0], variable)
            return lambda event, node: _abs(operand(event, node))
        if name == "COALESCE":
            parts = [self.value(arg, variable) for arg in call.args]
            return lambda event, node: next(
                (v for part in parts if (v := part(event, node)) is not None), None)
        if name == "ROUND" and len(call.args) == 2:
            digits = call.args[1]
            assert isinstance(digits, ast.Literal) and isinstance(digits.value, int)
            operand, places = self.value(call.args[0], variable), digits.value
            return lambda event, node: _null_safe(_round, operand(event, node), places)
        scalar = _SCALARS.get(name)
        if scalar is not None:
            arguments = [self.value(arg, variable) for arg in call.args]
            return lambda event, node: _null_safe(scalar, *(a(event, node) for a in arguments))
        if name in PATTERN_AGGREGATES:
            return self._aggregate(call, variable)
        raise _refused(f"not supported yet in a DEFINE that reads other variables: "
                       f"{name}()", call)

    def _aggregate(self, call: ast.FunctionCall, variable: str) -> Value:
        """A running aggregate of a variable over the partial match, including the current
        event when it is the variable being defined."""
        name = call.name.upper()
        argument = call.args[0] if call.args else None
        owner = variable_named(argument) if argument is not None else None
        if owner not in self.index:
            raise _refused(f"not supported yet: {expr_to_sql(call)} in DEFINE", call)
        target = self.index[owner]
        includes_current = owner == variable
        whole = isinstance(argument, ast.ColumnRef) and argument.qualifier is None
        slot = None if whole else self.layout.index(
            self.column_of(owner, argument.name))  # type: ignore[union-attr, arg-type]
        offset = 0
        if len(call.args) > 1 and isinstance(call.args[1], ast.Literal):
            offset = int(call.args[1].value)  # type: ignore[arg-type]

        buffer = self.buffer
        variables, previous, events = (buffer.node_variable, buffer.node_previous,
                                       buffer.node_event)

        def values(event, node):
            found = []
            while node != NO_NODE:
                if variables[node] == target:
                    found.append(node if slot is None else buffer.value(events[node], slot))
                node = previous[node]
            found.reverse()
            if includes_current:
                found.append(event if slot is None else event.values[slot])
            return found

        if name == "COUNT":
            if slot is None:
                return lambda event, node: len(values(event, node))
            return lambda event, node: sum(1 for x in values(event, node) if x is not None)
        reducers = {
            "SUM": lambda xs: sum(xs) if xs else None,
            "AVG": lambda xs: sum(xs) / len(xs) if xs else None,
            "MIN": lambda xs: min(xs) if xs else None,
            "MAX": lambda xs: max(xs) if xs else None,
            "ARRAY_AGG": list,
        }
        if name in reducers:
            reduce = reducers[name]
            if name == "ARRAY_AGG":
                return lambda event, node: reduce(values(event, node))
            return lambda event, node: reduce([x for x in values(event, node) if x is not None])
        if name == "FIRST":
            return lambda event, node: (xs[offset] if len(xs := values(event, node)) > offset
                                        else None)
        return lambda event, node: (xs[-1 - offset] if len(xs := values(event, node)) > offset
                                    else None)


def _refused(message: str, node: ast.Expr) -> NotSupportedYet:
    """The error for a construct the per-event closures cannot run, at its place in the
    job (the runtime's caller renders it against the job's text)."""
    return NotSupportedYet.at(message, node.span)


def _abs(value: Any) -> Any:
    return None if value is None else abs(value)


def _null_safe(function: Callable[..., Any], *values: Any) -> Any:
    """SQL: a function of a NULL is NULL."""
    return None if any(v is None for v in values) else function(*values)


def _round(x: float, places: int = 0) -> float:
    """Halves away from zero, as SQL (and the batch path: polars' half_away_from_zero)."""
    scale = 10.0 ** places
    rounded = math.floor(abs(x) * scale + 0.5) / scale
    return math.copysign(rounded, x) if isinstance(x, float) else int(math.copysign(rounded, x))


def _float_math(function: Callable[..., float]) -> Callable[..., float]:
    """math's functions raise where polars gives NaN or infinity; give what polars gives."""
    def safe(*args: float) -> float:
        try:
            return function(*(float(a) for a in args))
        except ValueError:  # outside the domain: ln(-1), sqrt(-1), (-8) ** 0.5
            return -math.inf if function is math.log and float(args[0]) == 0 else math.nan
        except OverflowError:
            return math.inf
    return safe


def _substr(text: str, start: int, length: int | None = None) -> str:
    """1-based; a start below 1 counts the missing positions off the length (as the batch
    path's SUBSTR)."""
    begin = max(start - 1, 0)
    if length is None:
        return text[begin:]
    return text[begin: begin + max(length + min(start - 1, 0), 0)]


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _to_int(x: float) -> int | None:
    """FLOAT -> INT: halves away from zero; NULL where no INT holds it (NaN, infinities)."""
    if not math.isfinite(x):
        return None
    rounded = int(math.copysign(math.floor(abs(x) + 0.5), x))
    return rounded if _INT64_MIN <= rounded <= _INT64_MAX else None


def _truncate_to_int(x: float) -> int | None:
    """FLOAT -> TIMESTAMP (epoch ms) truncates, as polars' cast to Int64 does."""
    if not math.isfinite(x):
        return None
    value = int(x)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def _iso_millis(millis: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _text_to_bool(text: str) -> bool | None:
    lowered = text.strip().lower()
    return True if lowered == "true" else False if lowered == "false" else None


_F, _I, _B, _S, _T = (FrysType.FLOAT, FrysType.INT, FrysType.BOOL, FrysType.STRING,
                      FrysType.TIMESTAMP)
_CASTS: dict[tuple[FrysType, FrysType], Callable[[Any], Any]] = {
    (_I, _F): float, (_B, _F): float, (_T, _F): float,
    (_F, _I): _to_int, (_B, _I): int, (_T, _I): int,
    (_I, _B): bool, (_F, _B): lambda x: x != 0, (_T, _B): bool, (_S, _B): _text_to_bool,
    (_I, _T): int, (_B, _T): int, (_F, _T): _truncate_to_int,
    (_I, _S): str, (_B, _S): lambda x: "true" if x else "false", (_T, _S): _iso_millis,
}


# DEFINE residuals compute these as the batch path (operators/expressions.py) does
_SCALARS: dict[str, Callable[..., Any]] = {
    "UPPER": str.upper,
    "LOWER": str.lower,
    "LENGTH": len,
    "ROUND": _round,
    "FLOOR": lambda x: math.floor(x) if isinstance(x, float) and math.isfinite(x) else x,
    "CEIL": lambda x: math.ceil(x) if isinstance(x, float) and math.isfinite(x) else x,
    "SQRT": _float_math(math.sqrt),
    "LN": _float_math(math.log),
    "EXP": _float_math(math.exp),
    "POWER": _float_math(math.pow),
    "SUBSTR": _substr,
}


def _not(value):
    return None if value is None else not value

