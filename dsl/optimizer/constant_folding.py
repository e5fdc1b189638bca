"""Constant folding: compute what does not depend on any event once, at plan time.

    >>> from frys.dsl.parser import parse
    >>> select = parse("SELECT a FROM s WHERE a > 2 * 60 AND TRUE").statements[0]
    >>> from frys.dsl.printer import expr_to_sql
    >>> expr_to_sql(fold(select.where))
    'a > 120'

Folds arithmetic, comparisons and `||` between literals (with the runtime's semantics:
`/` is true division, `x / 0` and `x % 0` are NULL, `%` takes the dividend's sign), NOT and
negation of literals, and the identities `x AND TRUE = x`, `x AND FALSE = FALSE`,
`x OR FALSE = x`, `x OR TRUE = TRUE` (three-valued logic keeps these exact). A WHERE that
folds to TRUE disappears.
"""

from __future__ import annotations

import math
import operator
from dataclasses import replace

from frys.dsl import ast
from frys.dsl.logical import Filter, LogicalNode, Output, map_expressions

_COMPARE = {"=": operator.eq, "<>": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}


def _number(expr: ast.Expr) -> int | float | None:
    if isinstance(expr, ast.Literal) and type(expr.value) in (int, float):
        return expr.value  # type: ignore[return-value]
    return None


def _truth(expr: ast.Expr) -> bool | None:
    return expr.value if isinstance(expr, ast.Literal) and type(expr.value) is bool else None


def _arithmetic(op: str, a: int | float, b: int | float) -> int | float | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return None if b == 0 else a / b
    if b == 0:
        return None
    result = math.fmod(a, b) if isinstance(a, float) or isinstance(b, float) else (
        abs(a) % abs(b) * (1 if a >= 0 else -1))
    return result


def fold(expr: ast.Expr) -> ast.Expr:
    """The expression with every constant part computed (a pure function of the tree)."""
    if isinstance(expr, ast.UnaryOp):
        operand = fold(expr.operand)
        if expr.op == "NOT" and _truth(operand) is not None:
            return ast.Literal(not _truth(operand), span=expr.span)
        if expr.op == "-" and _number(operand) is not None:
            return ast.Literal(-_number(operand), span=expr.span)  # type: ignore[operator]
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
        a, b = _number(left), _number(right)
        if a is not None and b is not None:
            if expr.op in _COMPARE:
                return ast.Literal(_COMPARE[expr.op](a, b), span=expr.span)
            if expr.op in ("+", "-", "*", "/", "%"):
                value = _arithmetic(expr.op, a, b)
                if value is not None and not isinstance(value, bool):
                    return ast.Literal(value, span=expr.span)
        if (expr.op == "||" and isinstance(left, ast.Literal) and isinstance(right, ast.Literal)
                and isinstance(left.value, str) and isinstance(right.value, str)):
            return ast.Literal(left.value + right.value, span=expr.span)
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
