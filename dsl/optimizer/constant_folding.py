"""Constant folding: compute what does not depend on any event once, at plan time.

    >>> from frys.dsl.parser import parse
    >>> select = parse("SELECT a FROM s WHERE a > 2 * 60 AND TRUE").statements[0]
    >>> from frys.dsl.printer import expr_to_sql
    >>> expr_to_sql(fold(select.where))
    'a > 120'

Folds arithmetic, comparisons and `||` between literals by the runtime's rules
(dsl/arithmetic.py: `/` is true division, `%` takes the dividend's sign; a result that is
NULL, as `x / 0` or an INT overflow, or not a finite number is left to the runtime), NOT and
negation of literals, CAST of a literal where the result is exactly the runtime's (see
`cast_constant`), and the identities `x AND TRUE = x`, `x AND FALSE = FALSE`,
`x OR FALSE = x`, `x OR TRUE = TRUE` (three-valued logic keeps these exact). A WHERE that
folds to TRUE disappears. A rewritten tree stays typed: a new node takes the type of the
node it replaces.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

from frys.dsl import ast
from frys.dsl.arithmetic import (
    ARITHMETIC_OPERATORS,
    COMPARISON_OPERATORS,
    scalar_arithmetic,
    scalar_compare,
    scalar_concat,
    scalar_negate,
)
from frys.dsl.logical import Filter, LogicalNode, Output, map_expressions
from frys.dsl.types import TYPE_NAMES, FrysType, literal_type


def _number(expr: ast.Expr) -> int | float | None:
    if isinstance(expr, ast.Literal) and type(expr.value) in (int, float):
        return expr.value  # type: ignore[return-value]
    return None


def _truth(expr: ast.Expr) -> bool | None:
    return expr.value if isinstance(expr, ast.Literal) and type(expr.value) is bool else None


def _computed(value: object, like: ast.Expr) -> ast.Literal | None:
    """The literal, typed as the node `like` it replaces, of a value computed from literals;
    or None to leave the expression to the runtime: NULL (a NULL literal would lose the
    expression's type) and non-finite FLOATs (no FLOAT literal is; the runtime computes the
    same value by the same rule)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return ast.Literal(value, span=like.span, type=like.type)  # type: ignore[arg-type]


def _fold_binary(expr: ast.BinaryOp, left: ast.Expr, right: ast.Expr) -> ast.Literal | None:
    """`left op right` computed by dsl/arithmetic.py's rules when both are literals."""
    op = expr.op
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        a_type, b_type = literal_type(a), literal_type(b)
        if op in COMPARISON_OPERATORS:
            return _computed(scalar_compare(op, a_type, b_type)(a, b), expr)
        if op in ARITHMETIC_OPERATORS:
            return _computed(scalar_arithmetic(op, a_type, b_type)(a, b), expr)
    if (op == "||" and isinstance(left, ast.Literal) and isinstance(right, ast.Literal)
            and left.value is not None and right.value is not None):
        concat = scalar_concat(literal_type(left.value), literal_type(right.value))
        return _computed(concat(left.value, right.value), expr)
    return None


def fold(expr: ast.Expr) -> ast.Expr:
    """The expression with every constant part computed (a pure function of the tree)."""

    def constant(value: object) -> ast.Literal:
        return ast.Literal(value, span=expr.span, type=expr.type)  # type: ignore[arg-type]

    if isinstance(expr, ast.UnaryOp):
        operand = fold(expr.operand)
        if expr.op == "NOT" and _truth(operand) is not None:
            return constant(not _truth(operand))
        number = _number(operand)
        if expr.op == "-" and number is not None:
            folded = _computed(scalar_negate(literal_type(number))(number), expr)
            if folded is not None:
                return folded
        return expr if operand is expr.operand else replace(expr, operand=operand)
    if isinstance(expr, ast.BinaryOp):
        left, right = fold(expr.left), fold(expr.right)
        if expr.op in ("AND", "OR"):
            absorbing = expr.op == "OR"  # TRUE absorbs OR, FALSE absorbs AND
            for side, other in ((left, right), (right, left)):
                truth = _truth(side)
                if truth is None:
                    continue
                return constant(absorbing) if truth == absorbing else other
        folded = _fold_binary(expr, left, right)
        if folded is not None:
            return folded
        if left is expr.left and right is expr.right:
            return expr
        return replace(expr, left=left, right=right)
    if isinstance(expr, ast.Cast):
        operand = fold(expr.operand)
        target = TYPE_NAMES.get(expr.type_name)
        if isinstance(operand, ast.Literal) and target is not None:
            value = cast_constant(operand.value, target)
            if value is not UNFOLDED:
                return constant(value)
        return expr if operand is expr.operand else replace(expr, operand=operand)
    if isinstance(expr, ast.FunctionCall) and expr.args:
        # arguments fold (SUM(price * (1 + 1)) -> SUM(price * 2))
        args = tuple(fold(arg) for arg in expr.args)
        if all(new is old for new, old in zip(args, expr.args, strict=True)):
            return expr
        return replace(expr, args=args)
    return expr


# cast_constant's answer when the runtime's result is not (or not surely) what Python gives
UNFOLDED = object()
_INT_MIN, _INT_MAX = -(2 ** 63), 2 ** 63 - 1  # BIGINT, polars' Int64
# strings whose conversion polars and Python parse alike (plain ASCII decimal numbers)
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,18}")
_DECIMAL_TEXT = re.compile(r"[+-]?[0-9]{1,15}(\.[0-9]{1,15})?")


def _round_half_away(value: float) -> int:
    """SQL's rounding of a float to a whole number, exactly: ties away from zero (the
    runtime's `round(0, mode='half_away_from_zero')`)."""
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def cast_constant(value: object, target: FrysType) -> object:
    """CAST(value AS target) for a literal, exactly as operators/expressions.py `_cast`
    computes it at run time, or UNFOLDED. Folded: between INT, FLOAT and BOOL (a FLOAT
    rounds half away from zero to INT), INT and BOOL to STRING, and plain decimal numbers,
    'true' and 'false' from STRING. Left to the runtime: NULL (its cast gives the column a
    dtype a literal does not have), a result out of BIGINT's range (NULL there), FLOAT to
    STRING (polars' float formatting is not Python's), TIMESTAMP (no literal), and any
    other text. tests/test_typed_ast.py checks every fold against polars."""
    if value is None:
        return UNFOLDED
    source = literal_type(value)
    if source == FrysType.INT and not _INT_MIN <= value <= _INT_MAX:  # type: ignore[operator]
        return UNFOLDED
    if source == target:
        return value
    if target == FrysType.STRING:
        if source == FrysType.BOOL:
            return "true" if value else "false"
        return str(value) if source == FrysType.INT else UNFOLDED
    if source == FrysType.STRING:
        return _cast_text(str(value), target)
    number = (float(cast(float, value)) if source == FrysType.FLOAT
              else int(cast(int, value)))
    if target == FrysType.BOOL:
        return number != 0
    if target == FrysType.FLOAT:
        return float(number)
    if target == FrysType.INT:
        if not _INT_MIN <= number < 2 ** 63:  # NaN and the infinities fail this too
            return UNFOLDED
        return _round_half_away(number) if isinstance(number, float) else number
    return UNFOLDED


def _cast_text(text: str, target: FrysType) -> object:
    if target == FrysType.BOOL:
        lowered = text.lower()
        return lowered == "true" if text.isascii() and lowered in ("true", "false") \
            else UNFOLDED
    if target == FrysType.INT and _INTEGER_TEXT.fullmatch(text):
        return int(text)
    if target == FrysType.INT and _DECIMAL_TEXT.fullmatch(text):
        return _round_half_away(float(text))
    if target == FrysType.FLOAT and _DECIMAL_TEXT.fullmatch(text):
        return float(text)
    return UNFOLDED


def constant_folding(plan: Output) -> Output:
    """Fold every expression of the plan; drop filters that are always TRUE."""
    folded = map_expressions(plan, fold)
    return _drop_true_filters(folded)  # type: ignore[return-value]


def _drop_true_filters(node: LogicalNode) -> LogicalNode:
    from dataclasses import fields, replace

    if isinstance(node, Filter) and _truth(node.predicate) is True:
        return _drop_true_filters(node.input)
    changes: dict[str, LogicalNode] = {}
    for field in fields(node):
        value = getattr(node, field.name)
        if field.name in ("input", "left", "right"):
            changes[field.name] = _drop_true_filters(value)
    return cast(LogicalNode, replace(cast(Any, node), **changes)) if changes else node
