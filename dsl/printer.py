"""AST -> .frysql text, for explain output and error messages.

Expressions print fully parenthesised where precedence needs it, so the printed text parses
back to an equal expression.
"""

from __future__ import annotations

from frys.dsl import ast

_PRECEDENCE = {"OR": 1, "AND": 2, "NOT": 3, "=": 4, "<>": 4, "<": 4, "<=": 4, ">": 4,
               ">=": 4, "IN": 4, "+": 5, "-": 5, "||": 5, "*": 6, "/": 6, "%": 6}
_ATOM = 9


# how each join kind is written back (ast.Join.kind)
JOIN_KEYWORDS = {"INNER": "JOIN", "LEFT": "LEFT JOIN", "RIGHT": "RIGHT JOIN",
                 "FULL": "FULL OUTER JOIN"}


def interval_text(millis: int) -> str:
    """The shortest exact spelling of an interval: 90000 -> '90 SECONDS', 60000 -> '1 MINUTE'."""
    if millis == 0:
        return "0 SECONDS"
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


# ---------------------------------------------------------------------- statements


def _option_value(option: ast.WithOption) -> str:
    if option.kind == ast.OptionKind.STRING:
        return "'" + str(option.value).replace("'", "''") + "'"
    if option.kind == ast.OptionKind.INTERVAL:
        return interval_text(int(option.value))
    if option.kind == ast.OptionKind.NAME:
        return _quote_name(str(option.value))
    return repr(option.value)


def _with(options: tuple[ast.WithOption, ...]) -> str:
    if not options:
        return ""
    return " WITH (" + ", ".join(f"{o.name} = {_option_value(o)}" for o in options) + ")"


def _columns(columns: tuple[ast.ColumnDef, ...]) -> str:
    parts = [f"{_quote_name(c.name)} {c.type_name}" + (" PRIMARY KEY" if c.primary_key else "")
             for c in columns]
    return " (" + ", ".join(parts) + ")"


def _from_item(source: ast.FromStream) -> str:
    name = _quote_name(source.name)
    return f"{name} AS {_quote_name(source.alias)}" if source.alias else name


def quantifier_text(quantifier: ast.Quantifier) -> str:
    """The canonical spelling: `+ * ?` where they fit, else `{n}`, `{n,}`, `{n,m}`."""
    low, high = quantifier.low, quantifier.high
    if (low, high) == (1, None):
        text = "+"
    elif (low, high) == (0, None):
        text = "*"
    elif (low, high) == (0, 1):
        text = "?"
    elif high is None:
        text = f"{{{low},}}"
    elif low == high:
        text = f"{{{low}}}"
    else:
        text = f"{{{low},{high}}}"
    text = text if quantifier.greedy else text + "?"
    if quantifier.repetition is not None:
        text += " " + REPETITION_KEYWORDS[quantifier.repetition]
    return text


# a loop's written inner contiguity (ast.Quantifier.repetition) -> its keyword
REPETITION_KEYWORDS = {"": "STRICT", "->": "RELAXED", "->>": "ANY"}
_REPETITION_WORDS = frozenset(REPETITION_KEYWORDS.values())


def pattern_to_sql(node: ast.PatternNode) -> str:
    """Render a pattern (the text between PATTERN's parentheses)."""
    if isinstance(node, ast.PatternVariable):
        # after a quantified element, STRICT / RELAXED / ANY would read as its repetition
        text = (f'"{node.name}"' if node.name.upper() in _REPETITION_WORDS
                else _quote_name(node.name))
        if node.stream:
            text += ":" + _quote_name(node.stream)
        return text + (quantifier_text(node.quantifier) if node.quantifier else "")
    if isinstance(node, ast.PatternGroup):
        quantifier = quantifier_text(node.quantifier) if node.quantifier else ""
        return f"({pattern_to_sql(node.body)}){quantifier}"
    if isinstance(node, ast.PatternNot):
        return f"NOT {pattern_to_sql(node.element)}"
    if isinstance(node, ast.PatternSequence):
        parts = [f"{node.leading} " if node.leading else "", pattern_to_sql(node.elements[0])]
        for contiguity, element in zip(node.contiguities, node.elements[1:], strict=True):
            parts.append(f" {contiguity} " if contiguity else " ")
            parts.append(pattern_to_sql(element))
        return "".join(parts)
    if isinstance(node, ast.PatternAlternation):
        return " | ".join(pattern_to_sql(b) for b in node.branches)
    raise TypeError(f"unexpected pattern node {node!r}")  # pragma: no cover


def _match(match: ast.MatchClause) -> str:
    parts = []
    if match.partition_by:
        parts.append("PARTITION BY " + ", ".join(expr_to_sql(c) for c in match.partition_by))
    parts.append(f"PATTERN ({pattern_to_sql(match.pattern)})")
    if match.within_ms is not None:
        parts.append(f"WITHIN {interval_text(match.within_ms)}"
                     + (" BETWEEN EVENTS" if match.within_between_events else ""))
    if match.defines:
        defines = []
        for define in match.defines:
            text = f"{_quote_name(define.variable)} AS {expr_to_sql(define.condition)}"
            if define.until is not None:
                text += f" UNTIL {expr_to_sql(define.until)}"
            defines.append(text)
        parts.append("DEFINE " + ", ".join(defines))
    if match.after_match is not None:
        strategy = match.after_match.strategy
        if match.after_match.variable:
            strategy += " " + _quote_name(match.after_match.variable)
        parts.append(f"AFTER MATCH {strategy}")
    if match.timeouts_to:
        parts.append(f"EMIT TIMEOUTS TO {_quote_name(match.timeouts_to)}")
    return " ".join(parts)


def select_to_sql(select: ast.Select) -> str:
    """Render a query on one line, clauses in grammar order."""
    items = ", ".join(
        "*" if item.expr is None else expr_to_sql(item.expr)
        + (f" AS {_quote_name(item.alias)}" if item.alias else "")
        for item in select.items)
    parts = [f"SELECT {items}",
             "FROM " + ", ".join(_from_item(s) for s in (select.source, *select.more_sources))]
    for join in select.joins:
        keyword = JOIN_KEYWORDS[join.kind]
        text = f"{keyword} {_from_item(join.source)} ON {expr_to_sql(join.condition)}"
        if join.within_ms is not None:
            text += f" WITHIN {interval_text(join.within_ms)}"
        if join.window is not None:
            text += f" WITHIN {expr_to_sql(join.window)}"
        parts.append(text)
    if select.where is not None:
        parts.append(f"WHERE {expr_to_sql(select.where)}")
    if select.group_by:
        parts.append("GROUP BY " + ", ".join(expr_to_sql(e) for e in select.group_by))
    if select.having is not None:
        parts.append(f"HAVING {expr_to_sql(select.having)}")
    if select.match is not None:
        parts.append(_match(select.match))
    if select.emit == "EVERY" and select.emit_every_ms is not None:
        parts.append(f"EMIT EVERY {interval_text(select.emit_every_ms)}")
    elif select.emit:
        parts.append(f"EMIT {select.emit}")
    return " ".join(parts)


def statement_to_sql(statement: ast.Statement) -> str:
    """Render one statement on one line, without the closing `;`."""
    if isinstance(statement, ast.CreateStream):
        columns = _columns(statement.columns) if statement.columns is not None else ""
        return f"CREATE STREAM {_quote_name(statement.name)}{columns}{_with(statement.options)}"
    if isinstance(statement, ast.CreateTable):
        return (f"CREATE TABLE {_quote_name(statement.name)}{_columns(statement.columns)}"
                f"{_with(statement.options)}")
    if isinstance(statement, ast.InsertInto):
        return f"INSERT INTO {_quote_name(statement.target)} {select_to_sql(statement.query)}"
    return select_to_sql(statement)


def program_to_sql(program: ast.Program) -> str:
    """Render a program, one statement per line, each ending with `;`; a named query after
    its `-- name:` line."""
    return "".join(_name_line(s) + statement_to_sql(s) + ";\n" for s in program.statements)


def _name_line(statement: ast.Statement) -> str:
    query = statement.query if isinstance(statement, ast.InsertInto) else statement
    name = query.name if isinstance(query, ast.Select) else None
    return f"-- name: {name}\n" if name is not None else ""
