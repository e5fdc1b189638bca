"""Typed .frysql expressions -> polars expressions, evaluated over whole batches.

SQL semantics kept where polars differs: NULL propagates through arithmetic and comparisons
(a NULL condition filters the row out), AND/OR are three-valued, `/` is true division and
yields NULL on division by zero, `%` takes the sign of the dividend (PostgreSQL's rule).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import polars as pl

from frys.dsl import ast

# Substitutes a polars expression for an AST node (an aggregate, a group key), or None.
Substitution = Callable[[ast.Expr], pl.Expr | None]


def _no_substitution(_: ast.Expr) -> pl.Expr | None:
    return None


def to_polars(expr: ast.Expr, substitute: Substitution = _no_substitution) -> pl.Expr:
    """The polars expression computing `expr`; `substitute` replaces nodes already computed
    (aggregates and group keys after a group-by) with column references."""

    def compile_(e: ast.Expr) -> pl.Expr:
        replaced = substitute(e)
        if replaced is not None:
            return replaced
        return _compile_node(e, compile_)

    return compile_(expr)


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


_COMPARISONS: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _binary(op: str, left: pl.Expr, right: pl.Expr) -> pl.Expr:
    if op in _COMPARISONS:
        return _COMPARISONS[op](left, right)
    if op == "AND":
        return left & right
    if op == "OR":
        return left | right
    if op == "||":
        return pl.concat_str([left.cast(pl.String), right.cast(pl.String)])
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        return pl.when(right != 0).then(left.cast(pl.Float64) / right).otherwise(None)
    if op == "%":
        return pl.when(right != 0).then((left.abs() % right.abs()) * left.sign()).otherwise(None)
    raise ValueError(f"unknown operator {op}")  # pragma: no cover - the grammar has no other


_SCALAR_FUNCTIONS: dict[str, Callable[..., pl.Expr]] = {
    "UPPER": lambda x: x.str.to_uppercase(),
    "LOWER": lambda x: x.str.to_lowercase(),
    "LENGTH": lambda x: x.str.len_chars().cast(pl.Int64),
    "ABS": lambda x: x.abs(),
    "ROUND": lambda x: x.round(0),
    "FLOOR": lambda x: x.floor(),
    "CEIL": lambda x: x.ceil(),
    "SQRT": lambda x: x.cast(pl.Float64).sqrt(),
    "LN": lambda x: x.cast(pl.Float64).log(math.e),
    "EXP": lambda x: x.cast(pl.Float64).exp(),
    "POWER": lambda x, y: x.cast(pl.Float64).pow(y),
    "COALESCE": lambda *xs: pl.coalesce(list(xs)),
}


def _compile_node(e: ast.Expr, compile_: Callable[[ast.Expr], pl.Expr]) -> pl.Expr:
    if isinstance(e, ast.Literal):
        return _literal(e.value)
    if isinstance(e, ast.IntervalLiteral):
        return pl.lit(e.millis, dtype=pl.Int64)
    if isinstance(e, ast.ColumnRef):
        return pl.col(e.name)
    if isinstance(e, ast.UnaryOp):
        operand = compile_(e.operand)
        return ~operand if e.op == "NOT" else -operand
    if isinstance(e, ast.BinaryOp):
        return _binary(e.op, compile_(e.left), compile_(e.right))
    if isinstance(e, ast.InList):
        operand = compile_(e.operand)
        if all(isinstance(item, ast.Literal) and item.value is not None for item in e.items):
            values = [item.value for item in e.items]  # type: ignore[union-attr]
            membership = operand.is_in(pl.Series(values))
        else:
            membership = pl.lit(False)
            for item in e.items:
                membership = membership | (operand == compile_(item))
        # SQL: NULL IN (...) is NULL, so the row is filtered out either way
        membership = pl.when(operand.is_null()).then(None).otherwise(membership)
        return ~membership if e.negated else membership
    if isinstance(e, ast.Case):
        chain = None
        for when in e.whens:
            condition = compile_(when.condition)
            if e.operand is not None:
                condition = compile_(e.operand) == condition
            chain = (pl.when(condition) if chain is None else chain.when(condition)).then(
                compile_(when.result))
        otherwise = compile_(e.else_) if e.else_ is not None else pl.lit(None)
        return chain.otherwise(otherwise)  # type: ignore[union-attr]
    if isinstance(e, ast.FunctionCall) and e.name in _SCALAR_FUNCTIONS:
        if e.name == "ROUND" and len(e.args) == 2:
            digits = e.args[1]
            if not isinstance(digits, ast.Literal) or not isinstance(digits.value, int):
                raise ValueError("ROUND's second argument must be an integer literal")
            return compile_(e.args[0]).round(digits.value)
        return _SCALAR_FUNCTIONS[e.name](*(compile_(arg) for arg in e.args))
    raise ValueError(f"cannot compile {e!r} to a batch expression")
