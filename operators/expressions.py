"""Typed .frysql expressions -> polars expressions, evaluated over whole batches.

SQL semantics kept where polars differs: NULL propagates through arithmetic and comparisons
(a NULL condition filters the row out), AND/OR are three-valued; arithmetic, comparisons and
`||` follow dsl/arithmetic.py, the rules constant folding and the DEFINE closures share
(`/` true division, NULL by zero; `%` the dividend's sign; INT overflow NULL).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Final

import polars as pl

from frys.dsl import ast
from frys.dsl.arithmetic import (
    ARITHMETIC_OPERATORS,
    COMPARISON_OPERATORS,
    operand_type,
    polars_arithmetic,
    polars_compare,
    polars_concat,
    polars_negate,
    scalar_negate,
)
from frys.dsl.limits import TIMESTAMP_MAX_MS, TIMESTAMP_MIN_MS
from frys.dsl.types import TIMESTAMP_DTYPE, TYPE_NAMES, FrysType

# Substitutes a polars expression for an AST node (an aggregate, a group key), or None.
Substitution = Callable[[ast.Expr], pl.Expr | None]


def _no_substitution(_: ast.Expr) -> pl.Expr | None:
    return None


def to_polars(expr: ast.Expr, substitute: Substitution = _no_substitution) -> pl.Expr:
    """The polars expression computing `expr`, a typed tree (CAST converts from its
    operand's `type`); `substitute` replaces nodes already computed (aggregates and group
    keys after a group-by) with column references."""

    def compile_(e: ast.Expr) -> pl.Expr:
        replaced = substitute(e)
        if replaced is not None:
            return replaced
        if isinstance(e, ast.Cast):
            return _cast(compile_(e.operand), cast_source_type(e), TYPE_NAMES[e.type_name])
        if isinstance(e, ast.BinaryOp) and (e.op in ARITHMETIC_OPERATORS or e.op == "||"):
            return _typed_binary(e, compile_, operand_type)
        if isinstance(e, ast.UnaryOp) and e.op == "-":
            if isinstance(e.operand, ast.Literal) and e.operand.value is not None:
                # a negative constant (DEFINE conditions are not folded) is a constant:
                # the checked polars negation of a literal alone is a literal-only
                # when/then that polars failed to broadcast against a column
                value = scalar_negate(operand_type(e.operand))(e.operand.value)
                return _literal(value)
            return polars_negate(compile_(e.operand), operand_type(e.operand))
        return _compile_node(e, compile_)

    return compile_(expr)


def cast_source_type(cast: ast.Cast) -> FrysType:
    """The type a CAST converts from: its operand's, which analysis has set."""
    source = cast.operand.type
    if source is None:
        raise ValueError(f"CAST of an untyped operand (analyze it first): {cast!r}")
    return source


_ISO_OUTPUT = "%Y-%m-%dT%H:%M:%S%.3fZ"
# SQL rounds halves away from zero (ROUND(2.5) = 3, CAST(-2.5 AS INT) = -3); polars defaults
# to half-to-even.
_HALF_AWAY: Final = "half_away_from_zero"
_ISO_INPUT = "%Y-%m-%dT%H:%M:%S%.f%#z"


def _epoch_millis_to_timestamp(millis: pl.Expr) -> pl.Expr:
    """Epoch milliseconds as a TIMESTAMP, NULL outside TIMESTAMP's range (years 0001-9999):
    such a value does not convert, and downstream (a JSONL sink formatting it) it would
    make polars panic."""
    in_range = millis.is_between(TIMESTAMP_MIN_MS, TIMESTAMP_MAX_MS)
    return pl.when(in_range).then(millis).otherwise(None).cast(TIMESTAMP_DTYPE)


def _cast(value: pl.Expr, source: FrysType, target: FrysType) -> pl.Expr:
    """CAST: a value that does not convert becomes NULL (a stream must not stop on it)."""
    if source == target:
        return value
    if source == FrysType.NULL:
        return value.cast(target.polars_dtype)
    if target == FrysType.STRING:
        if source == FrysType.TIMESTAMP:
            return value.dt.strftime(_ISO_OUTPUT)
        if source == FrysType.BOOL:
            return pl.when(value).then(pl.lit("true")).otherwise(pl.lit("false"))
        return value.cast(pl.String)
    if target == FrysType.TIMESTAMP:
        if source == FrysType.STRING:
            return pl.coalesce([
                _epoch_millis_to_timestamp(
                    value.str.strip_chars().cast(pl.Int64, strict=False)),
                value.str.to_datetime(_ISO_INPUT, time_unit="ms", time_zone="UTC",
                                      strict=False)])
        return _epoch_millis_to_timestamp(value.cast(pl.Int64, strict=False))
    if source == FrysType.TIMESTAMP:
        return value.dt.epoch("ms").cast(target.polars_dtype)
    if target == FrysType.BOOL:
        if source == FrysType.STRING:
            lowered = value.str.strip_chars().str.to_lowercase()
            return (pl.when(lowered == "true").then(True).when(lowered == "false").then(False)
                    .otherwise(None))
        return value != 0
    if target == FrysType.INT and source == FrysType.FLOAT:
        return value.round(0, mode=_HALF_AWAY).cast(pl.Int64, strict=False)
    if target == FrysType.INT and source == FrysType.STRING:
        text = value.str.strip_chars()
        as_float = text.cast(pl.Float64, strict=False)
        return pl.coalesce([text.cast(pl.Int64, strict=False),
                            as_float.round(0, mode=_HALF_AWAY).cast(pl.Int64, strict=False)])
    return value.cast(target.polars_dtype, strict=False)


def _literal(value: object) -> pl.Expr:
    if value is None:
        return pl.lit(None)
    if isinstance(value, bool):
        return pl.lit(value, dtype=pl.Boolean)
    if isinstance(value, int):
        return pl.lit(value, dtype=pl.Int64)
    if isinstance(value, float):
        return pl.lit(value, dtype=pl.Float64)
    return pl.lit(value, dtype=pl.String)


def _typed_binary(e: ast.BinaryOp, compile_: Callable[[ast.Expr], pl.Expr],
                  type_of: Callable[[ast.Expr], FrysType]) -> pl.Expr:
    """Arithmetic and `||`, whose rules (dsl/arithmetic.py) depend on the operands' types."""
    left_type, right_type = type_of(e.left), type_of(e.right)
    left, right = compile_(e.left), compile_(e.right)
    if e.op == "||":
        return polars_concat(_cast(left, left_type, FrysType.STRING),
                             _cast(right, right_type, FrysType.STRING))
    return polars_arithmetic(e.op, left, right, left_type, right_type)


def _binary(op: str, left: pl.Expr, right: pl.Expr) -> pl.Expr:
    if op in COMPARISON_OPERATORS:
        return polars_compare(op, left, right)
    if op == "AND":
        return left & right
    if op == "OR":
        return left | right
    raise ValueError(f"unknown operator {op}")  # pragma: no cover - the grammar has no other


_SCALAR_FUNCTIONS: dict[str, Callable[..., pl.Expr]] = {
    "UPPER": lambda x: x.str.to_uppercase(),
    "LOWER": lambda x: x.str.to_lowercase(),
    "LENGTH": lambda x: x.str.len_chars().cast(pl.Int64),
    "ABS": lambda x: x.abs(),
    "ROUND": lambda x: x.round(0, mode=_HALF_AWAY),
    "FLOOR": lambda x: x.floor(),
    "CEIL": lambda x: x.ceil(),
    "SQRT": lambda x: x.cast(pl.Float64).sqrt(),
    "LN": lambda x: x.cast(pl.Float64).log(math.e),
    "EXP": lambda x: x.cast(pl.Float64).exp(),
    "POWER": lambda x, y: x.cast(pl.Float64).pow(y),
    "COALESCE": lambda *xs: pl.coalesce(list(xs)),
    # SQL positions are 1-based; a start below 1 counts the missing positions off the length
    "SUBSTR": lambda x, start, length=None: x.str.slice(
        pl.max_horizontal(start - 1, 0),
        None if length is None else pl.max_horizontal(length + pl.min_horizontal(start - 1, 0), 0)),
}


def like_to_regex(pattern: str) -> str:
    """SQL LIKE pattern -> anchored regex: `%` any run, `_` one character, rest literal."""
    parts = []
    for char in pattern:
        if char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return "(?s)^" + "".join(parts) + "$"


def _compile_node(e: ast.Expr, compile_: Callable[[ast.Expr], pl.Expr]) -> pl.Expr:
    if isinstance(e, ast.Literal):
        return _literal(e.value)
    if isinstance(e, ast.IntervalLiteral):
        return pl.lit(e.millis, dtype=pl.Int64)
    if isinstance(e, ast.ColumnRef):
        return pl.col(e.name)
    if isinstance(e, ast.UnaryOp) and e.op == "NOT":  # `-` needs its type: to_polars
        return ~compile_(e.operand)
    if isinstance(e, ast.BinaryOp):
        return _binary(e.op, compile_(e.left), compile_(e.right))
    if isinstance(e, ast.InList):
        operand = compile_(e.operand)
        if all(isinstance(item, ast.Literal) and item.value is not None for item in e.items):
            values = [item.value for item in e.items if isinstance(item, ast.Literal)]
            membership = operand.is_in(pl.Series(values).implode())
        else:
            membership = pl.lit(False)
            for item in e.items:
                membership = membership | (operand == compile_(item))
        # SQL: NULL IN (...) is NULL, so the row is filtered out either way
        membership = pl.when(operand.is_null()).then(None).otherwise(membership)
        return ~membership if e.negated else membership
    if isinstance(e, ast.Between):
        operand = compile_(e.operand)
        inside = (operand >= compile_(e.low)) & (operand <= compile_(e.high))
        return ~inside if e.negated else inside
    if isinstance(e, ast.Like):
        assert isinstance(e.pattern, ast.Literal) and isinstance(e.pattern.value, str)
        matches = compile_(e.operand).str.contains(like_to_regex(e.pattern.value))
        return ~matches if e.negated else matches
    if isinstance(e, ast.IsNull):
        operand = compile_(e.operand)
        return operand.is_not_null() if e.negated else operand.is_null()
    if isinstance(e, ast.Case):
        conditions = [compile_(when.condition) for when in e.whens]
        if e.operand is not None:
            operand = compile_(e.operand)
            conditions = [operand == condition for condition in conditions]
        results = [compile_(when.result) for when in e.whens]
        chain: Any = pl.when(conditions[0]).then(results[0])
        for condition, result in zip(conditions[1:], results[1:], strict=True):
            chain = chain.when(condition).then(result)
        return chain.otherwise(compile_(e.else_) if e.else_ is not None else pl.lit(None))
    if isinstance(e, ast.FunctionCall) and e.name in _SCALAR_FUNCTIONS:
        if e.name == "ROUND" and len(e.args) == 2:
            digits = e.args[1]
            if not isinstance(digits, ast.Literal) or not isinstance(digits.value, int):
                raise ValueError("ROUND's second argument must be an integer literal")
            return compile_(e.args[0]).round(digits.value, mode=_HALF_AWAY)
        return _SCALAR_FUNCTIONS[e.name](*(compile_(arg) for arg in e.args))
    raise ValueError(f"cannot compile {e!r} to a batch expression")
