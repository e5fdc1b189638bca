"""Flink SQL's spelling of an interval join's interval, as a predicate of its ON clause:
`l.ts BETWEEN r.ts - x AND r.ts + y` or `l.ts >= r.ts - x AND l.ts <= r.ts + y` (either
side first, `+`/`-` any interval or none), over the two sides' event-time columns.

The analyzer takes such conjuncts out of the ON condition's typing (TIMESTAMP +/- INTERVAL
has no other meaning yet) and the planner turns them into the join's bounds instead of a
residual filter, so they run as the same interval join as `WITHIN`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from frys.dsl import ast
from frys.dsl.types import FrysType


@dataclass(frozen=True)
class EventTime:
    """One side's event-time column: the names a reference to it may be qualified with."""

    qualifiers: frozenset[str]
    column: str

    def is_read_by(self, expr: ast.Expr) -> bool:
        return isinstance(expr, ast.ColumnRef) and expr.name == self.column and (
            expr.qualifier in self.qualifiers)


@dataclass(frozen=True)
class Bounds:
    """The right row's time relative to the left row's: at least `low`, at most `high`
    (milliseconds; None: not bounded on that end by the conjuncts read)."""

    low: int | None = None
    high: int | None = None

    def meet(self, other: Bounds) -> Bounds:
        return Bounds(_tighter(self.low, other.low, max), _tighter(self.high, other.high, min))


def _tighter(a: int | None, b: int | None, pick) -> int | None:
    return b if a is None else a if b is None else pick(a, b)


def _offset(expr: ast.Expr, time: EventTime) -> int | None:
    """`time`, `time + interval` or `time - interval` -> the offset in ms, else None."""
    if time.is_read_by(expr):
        return 0
    if isinstance(expr, ast.BinaryOp) and expr.op in ("+", "-") and time.is_read_by(
            expr.left) and isinstance(expr.right, ast.IntervalLiteral):
        return expr.right.millis if expr.op == "+" else -expr.right.millis
    return None


def interval_bounds(part: ast.Expr, left: EventTime, right: EventTime) -> Bounds | None:
    """The bounds one ON conjunct puts on right time - left time, or None when it is not
    a comparison of the two event times (then it is a key or the residual)."""
    if isinstance(part, ast.Between) and not part.negated:
        low = _comparison(part.operand, ">=", part.low, left, right)
        high = _comparison(part.operand, "<=", part.high, left, right)
        return low.meet(high) if low is not None and high is not None else None
    if isinstance(part, ast.BinaryOp) and part.op in (">=", "<="):
        return _comparison(part.left, part.op, part.right, left, right)
    return None


def _comparison(first: ast.Expr, op: str, second: ast.Expr, left: EventTime,
                right: EventTime) -> Bounds | None:
    """`first op second` with one side's time (plus an interval) on each end."""
    for a_time, b_time, sign in ((left, right, 1), (right, left, -1)):
        a, b = _offset(first, a_time), _offset(second, b_time)
        if a is None or b is None:
            continue
        # a_time + a op b_time + b  <=>  b_time - a_time (op flipped) a - b
        gap = (a - b) * sign  # a bound on right - left
        at_least = (op == "<=") == (sign == 1)
        return Bounds(low=gap) if at_least else Bounds(high=gap)
    return None


def and_parts(expr: ast.Expr) -> list[ast.Expr]:
    """The conjuncts of an AND chain, in order."""
    if isinstance(expr, ast.BinaryOp) and expr.op == "AND":
        return and_parts(expr.left) + and_parts(expr.right)
    return [expr]


def and_spine(expr: ast.Expr) -> list[ast.Expr]:
    """The AND nodes joining the conjuncts of `and_parts(expr)`."""
    if isinstance(expr, ast.BinaryOp) and expr.op == "AND":
        return [expr, *and_spine(expr.left), *and_spine(expr.right)]
    return []


def split_interval(condition: ast.Expr, left: EventTime, right: EventTime
                   ) -> tuple[Bounds | None, list[ast.Expr], list[ast.Expr]]:
    """An ON condition -> the bounds its event-time comparisons put on right time - left
    time (None: there are none), those comparisons, and the other conjuncts."""
    bounds: Bounds | None = None
    interval: list[ast.Expr] = []
    rest: list[ast.Expr] = []
    for part in and_parts(condition):
        found = interval_bounds(part, left, right)
        if found is None:
            rest.append(part)
        else:
            interval.append(part)
            bounds = found if bounds is None else bounds.meet(found)
    return bounds, interval, rest


def type_interval(part: ast.Expr, type_leaf: Callable[[ast.Expr], object],
                  annotate: Callable[[ast.Expr, FrysType], None]) -> None:
    """Type an event-time comparison recognised by `interval_bounds`, so that every node
    of an analyzed tree has a type: its columns and intervals through `type_leaf` (the
    typer), `time +/- interval` TIMESTAMP, the comparison BOOL."""
    for node in ast.walk(part):
        if isinstance(node, ast.ColumnRef | ast.IntervalLiteral):
            type_leaf(node)
    for node in ast.walk(part):
        if isinstance(node, ast.BinaryOp) and node.op in ("+", "-"):
            annotate(node, FrysType.TIMESTAMP)
        elif isinstance(node, ast.BinaryOp | ast.Between):
            annotate(node, FrysType.BOOL)
