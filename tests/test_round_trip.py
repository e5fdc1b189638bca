"""Every AST prints back as .frysql that parses to an equal AST; the fixture statements print
back character for character."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frys.dsl import FrysAnalysisError, FrysSyntaxError, NotSupportedYet, ast, compile_text
from frys.dsl.parser import parse
from frys.dsl.printer import pattern_to_sql, program_to_sql, statement_to_sql

FIXTURE = Path(__file__).parent / "fixtures" / "identity.frysql"
STATEMENTS = [line.rstrip(";") for line in FIXTURE.read_text().splitlines()
              if line.strip() and not line.startswith("--")]
QUERIES = sorted((Path(__file__).resolve().parent.parent / "queries").glob("*.frysql"))


@pytest.mark.parametrize("statement", STATEMENTS)
def test_fixture_statements_print_back_unchanged(statement: str) -> None:
    (parsed,) = parse(statement).statements
    assert statement_to_sql(parsed) == statement


@pytest.mark.parametrize("job", QUERIES, ids=lambda p: p.name)
def test_example_jobs_round_trip(job: Path) -> None:
    program = parse(job.read_text())
    printed = program_to_sql(program)
    assert parse(printed) == program
    assert program_to_sql(parse(printed)) == printed


def test_differently_written_statements_print_the_same() -> None:
    a = parse("select x from s p where p.v>1 group by x, tumble(10s) emit final")
    b = parse("SELECT x FROM s AS p WHERE p.v > 1 GROUP BY x, TUMBLE(10 SECONDS) EMIT FINAL")
    assert a == b
    assert program_to_sql(a) == program_to_sql(b)


# ---------------------------------------------------------------- property: patterns


_quantifiers = st.one_of(
    st.none(),
    st.builds(ast.Quantifier, st.integers(0, 3), st.none(), st.booleans()),
    st.integers(0, 3).flatmap(lambda low: st.builds(
        ast.Quantifier, st.just(low), st.integers(max(low, 1), 5), st.booleans())),
)
_variables = st.builds(ast.PatternVariable, st.sampled_from(["a", "b", "c", "x"]),
                       st.sampled_from([None, "logins", "payments"]), _quantifiers)


def _factor(top: st.SearchStrategy[ast.PatternNode]) -> st.SearchStrategy[ast.PatternNode]:
    return st.one_of(_variables, st.builds(ast.PatternGroup, top, _quantifiers))


def _term(top):
    return st.one_of(_factor(top), st.builds(ast.PatternNot, _factor(top)))


def _sequence(top):
    contiguity = st.sampled_from(["", "->", "->>"])
    return st.integers(1, 4).flatmap(lambda n: st.builds(
        ast.PatternSequence,
        st.lists(_term(top), min_size=n, max_size=n).map(tuple),
        st.lists(contiguity, min_size=n - 1, max_size=n - 1).map(tuple),
        st.sampled_from(["->", "->>"]) if n == 1 else contiguity))


_patterns = st.deferred(lambda: st.one_of(
    _term(_patterns),
    _sequence(_patterns),
    st.builds(ast.PatternAlternation,
              st.lists(st.one_of(_term(_patterns), _sequence(_patterns)), min_size=2,
                       max_size=3).map(tuple)),
))


@settings(max_examples=300, deadline=None)
@given(_patterns)
def test_printed_patterns_parse_back_to_the_same_tree(pattern: ast.PatternNode) -> None:
    text = pattern_to_sql(pattern)
    (select,) = parse(f"SELECT a.v FROM s PATTERN ({text})").statements
    assert select.match is not None
    assert select.match.pattern == pattern, text


# ---------------------------------------------------------------- property: corruptions


PRELUDE = ("CREATE STREAM trades (symbol STRING, price FLOAT, volume INT, ok BOOL, ts TIMESTAMP)"
           " WITH (event_time = ts);\n")
_TOKENS = ["SELECT", "FROM", "WHERE", "GROUP BY", "PATTERN", "(", ")", ",", ";", "'", '"',
           "->", "NOT", "AS", "*", "+", "{2,}", "DEFINE", "JOIN", "ON", "WITHIN", "1", "x",
           "trades", "price", "TUMBLE(1s)", "/*", "--", "\n", "\n-- name: q\n"]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(STATEMENTS), st.data())
def test_corrupted_statements_fail_only_with_frys_errors(statement: str, data) -> None:
    """Delete, duplicate or insert a piece anywhere in a valid statement: parsing and
    analysis either succeed or raise the project's own errors, with a position."""
    position = data.draw(st.integers(0, len(statement)))
    action = data.draw(st.sampled_from(["delete", "insert", "duplicate"]))
    if action == "delete":
        length = data.draw(st.integers(1, 8))
        corrupted = statement[:position] + statement[position + length:]
    elif action == "insert":
        corrupted = statement[:position] + " " + data.draw(st.sampled_from(_TOKENS)) + " " + \
            statement[position:]
    else:
        corrupted = statement[:position] + statement[max(0, position - 6):position] + \
            statement[position:]
    try:
        compile_text(PRELUDE + corrupted, "corrupt.frysql", runnable=False)
    except (FrysSyntaxError, FrysAnalysisError, NotSupportedYet) as error:
        assert error.diagnostics
        assert all(d.span.line >= 1 and d.span.column >= 1 for d in error.diagnostics)
        assert "corrupt.frysql:" in error.render()


_QUERY_STATEMENTS = [s for s in STATEMENTS if s.startswith(("SELECT", "INSERT"))]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_QUERY_STATEMENTS),
                          st.one_of(st.none(), st.from_regex(r"[a-z_][a-z0-9_]{0,8}",
                                                             fullmatch=True)),
                          st.sampled_from(["", "\n", "-- a comment\n", "/* block */\n",
                                           "\n\n  "])),
                min_size=1, max_size=5))
def test_name_lines_name_the_query_after_them_and_print_back(statements) -> None:
    """However queries are spaced and commented, a `-- name:` line names the query right
    after it and no other, and the printed program parses back equal, names and all."""
    text = "".join(f"{gap}-- name: {name}\n{statement};\n" if name is not None
                   else f"{gap}{statement};\n" for statement, name, gap in statements)
    program = parse(text)
    names = [getattr(s, "query", s).name for s in program.statements]
    assert names == [name for _, name, _ in statements]
    assert parse(program_to_sql(program)) == program
