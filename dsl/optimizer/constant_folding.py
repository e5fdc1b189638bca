"""Constant folding: compute what does not depend on any event once, at plan time.

    >>> from frys.dsl.parser import parse
    >>> select = parse("SELECT a FROM s WHERE a > 2 * 60 AND TRUE").statements[0]
    >>> from frys.dsl.printer import expr_to_sql
    >>> expr_to_sql(fold(select.where))
    'a > 120'

Folds arithmetic, comparisons and `||` between literals by the runtime's rules
(dsl/arithmetic.py: `/` is true division, `%` takes the dividend's sign; a result that is
NULL, as `x / 0` or an INT overflow, or not a finite number is left to the runtime), NOT and
negation of literals, and the identities `x AND TRUE = x`, `x AND FALSE = FALSE`,
`x OR FALSE = x`, `x OR TRUE = TRUE` (three-valued logic keeps these exact). A WHERE that
folds to TRUE disappears.
"""

from __future__ import annotations

import math
from dataclasses import replace

from frys.dsl import ast
from frys.dsl.arithmetic import (
    ARITHMETIC_OPERATORS,
    COMPARISON_OPERATORS,
    scalar_arithmetic,
    scalar_compare,
    scalar_concat,
    scalar_negate,
    value_type,
)
from frys.dsl.errors import Span
from frys.dsl.logical import Filter, LogicalNode, Output, map_expressions


def _number(expr: ast.Expr) -> int | float | None:
    if isinstance(expr, ast.Literal) and type(expr.value) in (int, float):
        return expr.value  # type: ignore[return-value]
    return None


def _truth(expr: ast.Expr) -> bool | None:
    return expr.value if isinstance(expr, ast.Literal) and type(expr.value) is bool else None


def _computed(value: object, span: Span) -> ast.Literal | None:
    """The literal of a value computed from literals, or None to leave the expression to the
    runtime: NULL (a NULL literal would lose the expression's type) and non-finite FLOATs
    (no FLOAT literal is; the runtime computes the same value by the same rule)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return ast.Literal(value, span=span)  # type: ignore[arg-type]


def _fold_binary(op: str, left: ast.Expr, right: ast.Expr, span: Span) -> ast.Literal | None:
    """`left op right` computed by dsl/arithmetic.py's rules when both are literals."""
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        a_type, b_type = value_type(a), value_type(b)
        if op in COMPARISON_OPERATORS:
            return ast.Literal(scalar_compare(op, a_type, b_type)(a, b), span=span)
        if op in ARITHMETIC_OPERATORS:
            return _computed(scalar_arithmetic(op, a_type, b_type)(a, b), span)
    if (op == "||" and isinstance(left, ast.Literal) and isinstance(right, ast.Literal)
            and left.value is not None and right.value is not None):
        concat = scalar_concat(value_type(left.value), value_type(right.value))
        return ast.Literal(concat(left.value, right.value), span=span)
    return None


def fold(expr: ast.Expr) -> ast.Expr:
    """The expression with every constant part computed (a pure function of the tree)."""
    if isinstance(expr, ast.UnaryOp):
        operand = fold(expr.operand)
        if expr.op == "NOT" and _truth(operand) is not None:
            return ast.Literal(not _truth(operand), span=expr.span)
        number = _number(operand)
        if expr.op == "-" and number is not None:
            folded = _computed(scalar_negate(value_type(number))(number), expr.span)
            if folded is not None:
                return folded
        return expr if operand is expr.operand else ast.UnaryOp(expr.op, operand, expr.span)
    if isinstance(expr, ast.BinaryOp):
        left, right = fold(expr.left), fold(expr.right)
        if expr.op in ("AND", "OR"):
            absorbing = expr.op == "OR"  # TRUE absorbs OR, FALSE absorbs AND
            for side, other in ((left, right), (right, left)):
                truth = _truth(side)
                if truth is None:
                    continue
                return ast.Literal(absorbing, span=expr.span) if truth == absorbing else other
        folded = _fold_binary(expr.op, left, right, expr.span)
        if folded is not None:
            return folded
        if left is expr.left and right is expr.right:
            return expr
        return ast.BinaryOp(expr.op, left, right, expr.span)
    if isinstance(expr, ast.FunctionCall) and expr.args:
        # arguments fold (SUM(price * (1 + 1)) -> SUM(price * 2)); CAST is left whole, as
        # the expression compiler keys a cast's source type by its operand
        args = tuple(fold(arg) for arg in expr.args)
        if all(new is old for new, old in zip(args, expr.args, strict=True)):
            return expr
        return replace(expr, args=args)
    return expr


def constant_folding(plan: Output) -> Output:
    """Fold every expression of the plan; drop filters that are always TRUE."""
    folded = map_expressions(plan, fold)
    return _drop_true_filters(folded)  # type: ignore[return-value]


def _drop_true_filters(node: LogicalNode) -> LogicalNode:
    from dataclasses import fields, replace

    if isinstance(node, Filter) and _truth(node.predicate) is True:
        return _drop_true_filters(node.input)
    changes = {}
    for field in fields(node):  # type: ignore[arg-type]
        value = getattr(node, field.name)
        if field.name in ("input", "left", "right"):
            changes[field.name] = _drop_true_filters(value)
    return replace(node, **changes) if changes else node  # type: ignore[type-var]
