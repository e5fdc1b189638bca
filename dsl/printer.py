"""AST -> .frysql text, for explain output and error messages.

Expressions print fully parenthesised where precedence needs it, so the printed text parses
back to an equal expression.
"""

from __future__ import annotations

from frys.dsl import ast

_PRECEDENCE = {"OR": 1, "AND": 2, "NOT": 3, "=": 4, "<>": 4, "<": 4, "<=": 4, ">": 4,
               ">=": 4, "IN": 4, "+": 5, "-": 5, "||": 5, "*": 6, "/": 6, "%": 6}
_ATOM = 9


def interval_text(millis: int) -> str:
    """The shortest exact spelling of an interval: 90000 -> '90 SECONDS', 60000 -> '1 MINUTE'."""
    for unit, size in (("DAY", 86_400_000), ("HOUR", 3_600_000), ("MINUTE", 60_000),
                       ("SECOND", 1_000), ("MILLISECOND", 1)):
        if millis % size == 0:
            count = millis // size
            return f"{count} {unit}{'' if count == 1 else 'S'}"
    raise AssertionError("unreachable: every interval is a whole number of milliseconds")


def _quote_name(name: str) -> str:
    if name.isidentifier() and name.isascii():
        return name
    return '"' + name.replace('"', '""') + '"'


def _level(expr: ast.Expr) -> int:
    if isinstance(expr, ast.BinaryOp):
        return _PRECEDENCE[expr.op]
    if isinstance(expr, ast.UnaryOp):
        return _PRECEDENCE["NOT"] if expr.op == "NOT" else 7
    if isinstance(expr, (ast.InList, ast.Between, ast.Like, ast.IsNull)):
        return _PRECEDENCE["IN"]
    return _ATOM


def expr_to_sql(expr: ast.Expr) -> str:
    """Render an expression as .frysql."""

    def wrap(child: ast.Expr, minimum: int) -> str:
        text = expr_to_sql(child)
        return f"({text})" if _level(child) < minimum else text

    if isinstance(expr, ast.Literal):
        value = expr.value
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        return repr(value)
    if isinstance(expr, ast.IntervalLiteral):
        return interval_text(expr.millis)
    if isinstance(expr, ast.ColumnRef):
        name = _quote_name(expr.name)
        return f"{_quote_name(expr.qualifier)}.{name}" if expr.qualifier else name
    if isinstance(expr, ast.UnaryOp):
        if expr.op == "NOT":
            return f"NOT {wrap(expr.operand, _PRECEDENCE['NOT'])}"
        return f"-{wrap(expr.operand, 7)}"
    if isinstance(expr, ast.BinaryOp):
        level = _PRECEDENCE[expr.op]
        if level == _PRECEDENCE["="]:
            # comparisons do not chain: both operands must bind tighter
            return f"{wrap(expr.left, level + 1)} {expr.op} {wrap(expr.right, level + 1)}"
        # left-associative: the right operand needs parentheses at equal precedence
        return f"{wrap(expr.left, level)} {expr.op} {wrap(expr.right, level + 1)}"
    if isinstance(expr, ast.InList):
        items = ", ".join(expr_to_sql(i) for i in expr.items)
        keyword = "NOT IN" if expr.negated else "IN"
        return f"{wrap(expr.operand, 5)} {keyword} ({items})"
    if isinstance(expr, ast.Between):
        keyword = "NOT BETWEEN" if expr.negated else "BETWEEN"
        return (f"{wrap(expr.operand, 5)} {keyword} {wrap(expr.low, 5)} AND "
                f"{wrap(expr.high, 5)}")
    if isinstance(expr, ast.Like):
        keyword = "NOT LIKE" if expr.negated else "LIKE"
        return f"{wrap(expr.operand, 5)} {keyword} {wrap(expr.pattern, 5)}"
    if isinstance(expr, ast.IsNull):
        return f"{wrap(expr.operand, 5)} IS {'NOT ' if expr.negated else ''}NULL"
    if isinstance(expr, ast.Cast):
        return f"CAST({expr_to_sql(expr.operand)} AS {expr.type_name})"
    if isinstance(expr, ast.Case):
        parts = ["CASE"]
        if expr.operand is not None:
            parts.append(expr_to_sql(expr.operand))
        for when in expr.whens:
            parts.append(f"WHEN {expr_to_sql(when.condition)} THEN {expr_to_sql(when.result)}")
        if expr.else_ is not None:
            parts.append(f"ELSE {expr_to_sql(expr.else_)}")
        parts.append("END")
        return " ".join(parts)
    if isinstance(expr, ast.FunctionCall):
        if expr.star:
            return f"{expr.name}(*)"
        args = ", ".join(expr_to_sql(a) for a in expr.args)
        return f"{expr.name}({'DISTINCT ' if expr.distinct else ''}{args})"
    raise TypeError(f"unexpected expression node {expr!r}")  # pragma: no cover
