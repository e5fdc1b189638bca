"""`-- name:` lines: a comment alone on the line before a query names it (its stable
name for state, the summary and stdout; engine/query_runner.py `query_names`). The grammar
ignores comments, so the parser attaches names after parsing, from the text and the
statements' spans (dsl/parser.py `parse`)."""

from __future__ import annotations

import dataclasses
import re

from frys.dsl import ast
from frys.dsl.errors import Diagnostic, FrysSyntaxError, Span

# `-- name: fraud_alerts` alone on a line: the name of the query that follows it
_NAME_LINE = re.compile(r"^[ \t]*--[ \t]*name[ \t]*:[ \t]*(\S*)[ \t]*\r?$", re.MULTILINE)
_QUERY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def with_query_names(program: ast.Program, text: str, source_name: str) -> ast.Program:
    """Give each query its `-- name:` line: one alone on a line between the previous
    statement and the query (a comment inside a statement, or in a string, is not one).
    A name line before a CREATE, or two before one query, or a name that is not an
    identifier, is a syntax error at the line."""
    if "name" not in text:
        return program
    statements = list(program.statements)
    starts = [s.span.line for s in statements]
    ends = [s.span.end_line for s in statements]
    problems: list[Diagnostic] = []
    named: dict[int, str] = {}
    for match in _NAME_LINE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        column = match.start(1) - match.start() + 1
        if any(start <= line <= end for start, end in zip(starts, ends, strict=True)):
            continue  # inside a statement: a comment there, or a string's line
        following = next((i for i, start in enumerate(starts) if start > line), None)
        name = match.group(1)
        where = Span(line, column, line, column + max(len(name), 1) - 1)
        if not _QUERY_NAME.fullmatch(name):
            problems.append(Diagnostic(
                f"a query name must be an identifier (letters, digits, _), not {name!r}",
                where))
        elif following is None or not isinstance(statements[following],
                                                 ast.InsertInto | ast.Select):
            problems.append(Diagnostic(
                "-- name: names the query (INSERT INTO or SELECT) that follows it; none "
                "follows here", where))
        elif following in named:
            problems.append(Diagnostic(
                f"this query is already named {named[following]}; one -- name: line each",
                where))
        else:
            named[following] = name
    if problems:
        raise FrysSyntaxError(problems, source_name, text)
    for index, name in named.items():
        statement = statements[index]
        if isinstance(statement, ast.InsertInto):
            statements[index] = dataclasses.replace(
                statement, query=dataclasses.replace(statement.query, name=name))
        else:
            assert isinstance(statement, ast.Select)
            statements[index] = dataclasses.replace(statement, name=name)
    return dataclasses.replace(program, statements=tuple(statements))
