"""The .frysql front end as tables: valid jobs that must compile, invalid ones with the
expected message fragment and position (line:column), and a parser property test."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# jobs as the command line compiles them: with the connector registry judging their URIs
from frys.compiler import compile_text
from frys.dsl import (
    FrysAnalysisError,
    FrysError,
    FrysSyntaxError,
    NotSupportedYet,
    ast,
)
from frys.dsl.parser import interval_millis, parse
from frys.dsl.printer import expr_to_sql
from frys.dsl.types import FrysType

PRELUDE = (
    "CREATE STREAM trades (symbol STRING, price FLOAT, volume INT, ok BOOL, ts TIMESTAMP)"
    " WITH (event_time = ts, watermark = 2 SECONDS);\n"
)

VALID = [
    "SELECT * FROM trades",
    "SELECT symbol, price * volume AS notional FROM trades WHERE volume > 100",
    "select symbol from trades where not ok or price > 1",
    "SELECT t.symbol FROM trades t WHERE t.price >= 10.5",
    "SELECT symbol FROM trades AS t WHERE symbol IN ('A', 'B') AND volume NOT IN (1, 2)",
    "SELECT CASE WHEN price > 100 THEN 'high' WHEN price > 10 THEN 'mid' ELSE 'low' END AS band"
    " FROM trades",
    "SELECT CASE symbol WHEN 'A' THEN 1 ELSE 2 END AS code FROM trades",
    "SELECT UPPER(symbol) || '-' || LOWER(symbol) AS s, -price AS neg, 7 % 3 AS m FROM trades",
    "SELECT symbol, window_start, window_end, COUNT(*) AS n, COUNT(price) AS np,"
    " COUNT(DISTINCT price) AS nd, SUM(volume) AS sv, AVG(price) AS ap, MIN(price) AS lo,"
    " MAX(price) AS hi, FIRST(price) AS f, LAST(price) AS l, STDDEV(price) AS sd"
    " FROM trades GROUP BY symbol, TUMBLE(1 MINUTE)",
    "SELECT symbol, COUNT(*) AS n FROM trades WHERE ok GROUP BY symbol, TUMBLE(10s)"
    " HAVING COUNT(*) >= 3 AND AVG(price) > 1 EMIT FINAL",
    "SELECT window_start, SUM(volume) AS v FROM trades GROUP BY TUMBLE(500ms)",
    "SELECT symbol, COUNT(*) AS n FROM trades GROUP BY symbol EMIT CHANGES",
    "SELECT COUNT(*) AS n, AVG(price) AS p FROM trades EMIT CHANGES",
    "SELECT symbol, window_start, COUNT(*) AS n FROM trades GROUP BY symbol, TUMBLE(1s)"
    " EMIT CHANGES",
    "SELECT symbol, window_end, AVG(price) AS p FROM trades GROUP BY symbol,"
    " HOP(10 SECONDS, 2 SECONDS)",
    "SELECT symbol, window_start, window_end, COUNT(*) AS n FROM trades GROUP BY symbol,"
    " SESSION(5 MINUTES)",
    "SELECT symbol, COUNT(*) AS n FROM trades GROUP BY symbol, TUMBLE(1m) EMIT EVERY 10s",
    "SELECT symbol, window_start, AVG(price) AS p FROM trades GROUP BY symbol, ROWS(100, 10)",
    "SELECT UPPER(symbol) AS s, COUNT(*) AS n FROM trades GROUP BY UPPER(symbol), TUMBLE(1 hour)",
    "-- comment\nSELECT /* inline */ symbol FROM trades; ;",
    'SELECT "symbol" AS "the symbol" FROM trades',
    "CREATE STREAM out WITH (sink = 'file:out.jsonl');"
    " INSERT INTO out SELECT symbol, price FROM trades; SELECT * FROM out",
    "CREATE STREAM out (symbol STRING, price FLOAT);"
    " INSERT INTO out SELECT symbol, volume AS price FROM trades",
    "CREATE STREAM dead_letters WITH (sink = 'file:dead.jsonl');"
    " SELECT stream, reason FROM dead_letters",
]


@pytest.mark.parametrize("query", VALID)
def test_valid_jobs_compile(query: str) -> None:
    job = compile_text(PRELUDE + query, "valid.frysql")
    assert job.queries, "every valid job here has at least one query"
    for q in job.queries:
        assert set(q.output_types) == {name for name, _ in q.outputs}


# (query, message fragment, line, column); line 2 is the line after the prelude.
INVALID = [
    ("SELECT prise FROM trades", "unknown column 'prise' in stream trades (did you mean 'price'?)",
     2, 8),
    ("SELECT symbol FROM trads", "unknown stream trads (did you mean 'trades'?)", 2, 20),
    ("SELECT SUM(symbol) AS s FROM trades GROUP BY TUMBLE(1s)",
     "SUM needs a numeric argument, got STRING", 2, 8),
    ("SELECT symbol FROM trades HAVING COUNT(*) > 1", "HAVING needs GROUP BY", 2, 34),
    ("SELECT symbol FROM trades EMIT FINAL", "EMIT FINAL needs a window", 2, 1),
    ("SELECT symbol FROM trades WHERE price", "WHERE needs a BOOL condition, got FLOAT", 2, 33),
    ("SELECT symbol FROM trades WHERE symbol > 3", "cannot compare STRING with INT", 2, 33),
    ("SELECT price, COUNT(*) AS n FROM trades GROUP BY symbol, TUMBLE(1s)",
     "column price must appear in GROUP BY", 2, 8),
    ("SELECT COUNT(SUM(price)) AS n FROM trades GROUP BY TUMBLE(1s)", "cannot be nested", 2, 14),
    ("SELECT symbol FROM trades WHERE COUNT(*) > 1", "aggregate COUNT is not allowed", 2, 33),
    ("SELECT PERCENTILE(price, 2) AS p FROM trades GROUP BY TUMBLE(1s)",
     "PERCENTILE takes a column and a fraction between 0 and 1", 2, 8),
    ("SELECT VARIANCE(symbol) AS v FROM trades GROUP BY TUMBLE(1s)",
     "VARIANCE needs a numeric argument, got STRING", 2, 8),
    ("SELECT FOO(price) FROM trades", "unknown function FOO", 2, 8),
    ("SELECT UPPR(symbol) FROM trades", "did you mean 'UPPER'?", 2, 8),
    ("SELECT window_start FROM trades", "window_start and window_end need a window", 2, 8),
    ("SELECT symbol, symbol FROM trades", "output column symbol appears twice", 2, 16),
    ("SELECT x.symbol FROM trades t", "unknown stream or alias x", 2, 8),
    ("SELECT COUNT(*) AS n FROM trades GROUP BY TUMBLE(1s), TUMBLE(2s)",
     "only one window per GROUP BY", 2, 55),
    ("SELECT COUNT(*) AS n FROM trades GROUP BY TUMBLE(price)", "TUMBLE takes one positive",
     2, 43),
    ("INSERT INTO nowhere SELECT symbol FROM trades", "unknown stream nowhere", 2, 13),
    ("SELECT symbol, COUNT(*) AS n FROM trades GROUP BY symbol",
     "GROUP BY without a window is a running aggregate", 2, 51),
    ("SELECT COUNT(*) AS n FROM trades",
     "an aggregate without GROUP BY runs over the whole stream", 2, 8),
    ("SELECT symbol FROM trades EMIT CHANGES", "EMIT CHANGES applies to aggregations", 2, 1),
    ("SELECT symbol, COUNT(*) AS n, price FROM trades EMIT CHANGES",
     "column symbol must appear in GROUP BY", 2, 8),
    ("SELECT COUNT(*) AS n FROM trades GROUP BY HOP(1 SECOND, 2 SECONDS)",
     "HOP(size, slide) needs 0 < slide <= size", 2, 43),
    ("SELECT COUNT(*) AS n FROM trades GROUP BY HOP(1 SECOND)", "HOP takes two intervals",
     2, 43),
    ("SELECT COUNT(*) AS n FROM trades GROUP BY SESSION(5)", "SESSION takes one positive",
     2, 43),
    ("SELECT COUNT(*) AS n FROM trades GROUP BY ROWS(10, 20)",
     "ROWS(n[, slide]) needs 0 < slide <= n", 2, 43),
    ("SELECT COUNT(*) AS n FROM trades GROUP BY ROWS(1 SECOND)", "ROWS takes a count", 2, 43),
    ("CREATE STREAM trades (a INT)", "stream trades is already declared", 2, 15),
    ("CREATE STREAM s (a INTEGR)", "unknown type INTEGR for column a (did you mean 'INTEGER'?)",
     2, 18),
    ("CREATE STREAM s (a INT, t TIMESTAMP) WITH (event_time = a)",
     "event_time column a has type INT", 2, 44),
    ("CREATE STREAM s (a INT) WITH (watermrk = 2s)", "unknown stream option watermrk", 2, 31),
    ("CREATE STREAM s (a INT) WITH (queue = 'lifo')", "queue must be one of 'fifo', 'priority'",
     2, 31),
    ("CREATE STREAM s (a INT) WITH (queue = 'priority')",
     "stream s has queue = 'priority' but no priority = <column>", 2, 15),
    ("CREATE STREAM s (a INT) WITH (priority = a)", "priority applies to queue = 'priority'",
     2, 31),
    ("CREATE STREAM s (a STRING) WITH (queue = 'priority', priority = a)",
     "priority column a has type STRING", 2, 54),
    ("CREATE STREAM s (a INT) WITH (queue = 'priority', priority = b)",
     "priority column b is not a column of stream s", 2, 51),
    ("CREATE STREAM s (a INT) WITH (late = t)", "late needs event_time", 2, 31),
    ("CREATE STREAM s (a INT) WITH (idle_timeout = 10s)", "idle_timeout needs event_time", 2,
     31),
    ("CREATE STREAM s (a INT) WITH (watermark = 2 SECONDS)", "watermark needs event_time", 2,
     31),
    ("CREATE STREAM s (a INT, ts TIMESTAMP) WITH (event_time = ts, late = nowhere)",
     "late must name a declared stream; nowhere is not one", 2, 62),
    ("CREATE STREAM s (a INT, ts TIMESTAMP) WITH (event_time = ts, late = l);"
     " CREATE STREAM l (b INT)", "late stream l must have the columns of s", 2, 62),
    ("CREATE STREAM s (a INT) WITH (lateness = 'x')", "lateness must be an interval", 2, 31),
    ("CREATE STREAM s (a INT) WITH (source = 'ftp:x')", "unknown connector URI", 2, 31),
    ("CREATE STREAM s WITH (source = 'file:x.jsonl')", "needs a column list", 2, 15),
    ("CREATE STREAM lonely WITH (sink = 'file:x.jsonl')", "no query writes to it", 2, 15),
    ("CREATE STREAM s (a INT); SELECT COUNT(*) AS n FROM s GROUP BY TUMBLE(1s)",
     "stream s has no event_time", 2, 63),
    ("CREATE STREAM o (symbol STRING); INSERT INTO o SELECT price FROM trades",
     "do not match stream o", 2, 46),
    ("CREATE STREAM o (n INT); INSERT INTO o SELECT price AS n FROM trades",
     "column n of stream o is INT, but the query gives FLOAT", 2, 38),
    ("SELECT FROM trades", "unexpected 'FROM'", 2, 8),
    ("SELECT symbol FROM trades WHERE", "unexpected end of input", 2, 32),
    ("SELECT symbol FROM trades WHERE price > 1 GROUP symbol", "expected BY", 2, 49),
    ("SELECT symbol FROM trades WHERE price # 1", "unexpected character '#'", 2, 39),
    ("SELECT 'unterminated FROM trades", "unexpected character", 2, 8),
]


@pytest.mark.parametrize(("query", "fragment", "line", "column"), INVALID)
def test_invalid_jobs_name_the_problem_and_its_place(query: str, fragment: str, line: int,
                                                    column: int) -> None:
    with pytest.raises(FrysError) as caught:
        compile_text(PRELUDE + query, "bad.frysql")
    error = caught.value
    matching = [d for d in error.diagnostics if fragment in d.message]
    assert matching, f"no diagnostic mentions {fragment!r}: {error.render()}"
    assert (matching[0].span.line, matching[0].span.column) == (line, column)
    rendered = error.render()
    assert f"bad.frysql:{line}:{column}: error:" in rendered
    source_line = (PRELUDE + query).splitlines()[line - 1]
    assert f"\n    {source_line}\n    " + " " * (column - 1) + "^" in rendered


def test_all_errors_of_a_file_are_reported_together() -> None:
    text = PRELUDE + "SELECT prise FROM trades;\nSELECT symbol FROM trades WHERE volum > 1;"
    with pytest.raises(FrysAnalysisError) as caught:
        compile_text(text, "two.frysql")
    positions = [(d.span.line, d.span.column) for d in caught.value.diagnostics]
    assert positions == [(2, 8), (3, 33)]


NOT_SUPPORTED = [
    ("CREATE STREAM s (a INT) WITH (source = 'kafka://localhost/q')", "connector kafka:"),
    ("CREATE STREAM s (a INT) WITH (source = 'file:x.xml')", "file format of 'x.xml'"),
]


@pytest.mark.parametrize(("query", "construct"), NOT_SUPPORTED)
def test_later_constructs_are_refused_by_name(query: str, construct: str) -> None:
    with pytest.raises(NotSupportedYet) as caught:
        compile_text(PRELUDE + query, "later.frysql")
    message = caught.value.render()
    assert f"not supported yet: {construct}" in message
    assert "later.frysql:2:" in message


@pytest.mark.parametrize(("text", "millis"), [
    ("10 SECONDS", 10_000), ("1 second", 1_000), ("10s", 10_000), ("500ms", 500),
    ("5 MINUTES", 300_000), ("5m", 300_000), ("2 hours", 7_200_000), ("2h", 7_200_000),
    ("1 DAY", 86_400_000), ("1d", 86_400_000), ("250 milliseconds", 250),
])
def test_intervals_in_both_spellings(text: str, millis: int) -> None:
    assert interval_millis(text) == millis
    program = parse(f"SELECT COUNT(*) AS n FROM s GROUP BY TUMBLE({text})")
    window = program.statements[0].group_by[0]
    assert window == ast.FunctionCall("TUMBLE", (ast.IntervalLiteral(millis),))


def test_keywords_are_case_insensitive_and_identifiers_keep_case() -> None:
    upper = parse("SELECT Symbol FROM Trades WHERE Price > 1")
    lower = parse("select Symbol from Trades where Price > 1")
    assert upper == lower
    select = upper.statements[0]
    assert select.source.name == "Trades"
    assert select.items[0].expr == ast.ColumnRef("Symbol")


def test_output_types_follow_the_typing_rules() -> None:
    job = compile_text(PRELUDE + "SELECT volume + 1 AS a, volume / 2 AS b, price * 2 AS c,"
                       " volume > 1 AS d, symbol || 1 AS e, CASE WHEN ok THEN 1 ELSE 2.5 END AS f,"
                       " NULL AS g FROM trades")
    assert job.queries[0].output_types == {
        "a": FrysType.INT, "b": FrysType.FLOAT, "c": FrysType.FLOAT, "d": FrysType.BOOL,
        "e": FrysType.STRING, "f": FrysType.FLOAT, "g": FrysType.NULL}


# ---------------------------------------------------------------- property: expressions

_names = st.sampled_from(["a", "b", "price", "Volume", "x_1"])
_leaves = st.one_of(
    st.builds(ast.ColumnRef, _names),
    st.builds(ast.Literal, st.integers(0, 10**6)),
    st.builds(ast.Literal, st.text(st.characters(codec="ascii", exclude_characters="\x00"),
                                   max_size=6)),
    st.builds(ast.Literal, st.booleans()),
)


def _compound(children: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    operators = st.sampled_from(["+", "-", "*", "/", "%", "=", "<>", "<", "<=", ">", ">=",
                                 "AND", "OR", "||"])
    return st.one_of(
        st.builds(ast.BinaryOp, operators, children, children),
        st.builds(ast.UnaryOp, st.just("NOT"), children),
        st.builds(ast.FunctionCall, st.sampled_from(["UPPER", "ABS", "COALESCE"]),
                  st.tuples(children)),
        st.builds(ast.InList, children, st.tuples(children, children), st.booleans()),
        st.builds(ast.Between, children, children, children, st.booleans()),
        st.builds(ast.Like, children, st.builds(ast.Literal, st.sampled_from(["a%", "_b", "%"])),
                  st.booleans()),
        st.builds(ast.IsNull, children, st.booleans()),
        st.builds(ast.Cast, children, st.sampled_from(["INT", "FLOAT", "STRING", "TIMESTAMP"])),
    )


_expressions = st.recursive(_leaves, _compound, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(_expressions)
def test_printed_expressions_parse_back_to_the_same_tree(expr: ast.Expr) -> None:
    text = expr_to_sql(expr)
    program = parse(f"SELECT {text} AS out FROM s")
    assert program.statements[0].items[0].expr == expr, text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("SELECT FROM WHERE GROUP BY (),*'=<>-+;a1.\n")),
               max_size=60))
def test_garbage_only_ever_raises_frys_errors(text: str) -> None:
    try:
        compile_text(PRELUDE + text, "fuzz.frysql")
    except (FrysSyntaxError, FrysAnalysisError, NotSupportedYet) as error:
        assert error.diagnostics
        for diagnostic in error.diagnostics:
            assert diagnostic.span.line >= 1


LATER_STATEMENTS = [
    ("CREATE TABLE users (id STRING PRIMARY KEY, tier STRING);"
     " SELECT COUNT(*) AS n FROM users EMIT CHANGES",
     "an aggregate over table users (its rows are upserts)", (2, 84)),
    ("CREATE TABLE users (id STRING PRIMARY KEY, tier STRING);"
     " SELECT t.symbol, u.tier FROM trades t JOIN users u ON t.symbol = u.id AND u.tier > 'a'",
     "JOIN with table users ON anything but <stream expression> = u.id (other conditions go "
     "in WHERE)", (2, 112)),
]


@pytest.mark.parametrize(("query", "construct", "position"), LATER_STATEMENTS)
def test_parsed_but_not_yet_runnable_statements_say_so(query: str, construct: str,
                                                       position: tuple[int, int]) -> None:
    with pytest.raises(NotSupportedYet) as caught:
        compile_text(PRELUDE + query, "later.frysql")
    diagnostic = caught.value.diagnostics[0]
    assert diagnostic.message.startswith(f"not supported yet: {construct} at ")
    assert (diagnostic.span.line, diagnostic.span.column) == position


def test_several_streams_without_a_pattern_is_an_error() -> None:
    with pytest.raises(FrysAnalysisError, match="FROM with more than two streams needs a "):
        compile_text(PRELUDE + "SELECT a.symbol FROM trades a, trades b, trades c", "x.frysql")
    # two are Flink SQL's inner join, its keys and interval in WHERE
    with pytest.raises(FrysAnalysisError, match="a join of two streams needs WITHIN"):
        compile_text(PRELUDE + "SELECT a.symbol FROM trades a, trades b", "x.frysql")


TABLES = ("CREATE TABLE users (id STRING PRIMARY KEY, tier STRING, ts TIMESTAMP);\n"
          "CREATE STREAM orders (id INT, user_id STRING, amount FLOAT, ts TIMESTAMP)"
          " WITH (event_time = ts);\n")

# Joins and tables are analyzed in full (names, types, rules) even though the runtime
# refuses them: errors come first, then "not supported yet".
JOIN_ERRORS = [
    ("SELECT id FROM orders o JOIN users u ON o.user_id = u.id",
     "column 'id' is ambiguous: o and u both have it; qualify it, e.g. o.id", 4, 8),
    ("SELECT o.id FROM orders o JOIN users u ON o.user_id = u.idd",
     "unknown column 'idd' in table users (did you mean 'id'?)", 4, 55),
    ("SELECT o.id FROM orders o JOIN users u ON o.user_id = x.id", "unknown stream or alias x",
     4, 55),
    ("SELECT o.id FROM orders o JOIN users u ON o.amount", "ON needs a BOOL condition", 4, 43),
    ("SELECT o.id FROM orders o JOIN users u ON o.user_id = u.id WITHIN 1 HOUR",
     "WITHIN does not apply to a join with table users", 4, 27),
    ("SELECT o.id FROM orders o JOIN trades t ON o.user_id = t.symbol",
     "a join of two streams needs WITHIN", 4, 27),
    ("SELECT o.id FROM orders o JOIN orders ON o.id = orders.id WITHIN 1s",
     "o.id = orders.id", 0, 0),
    ("SELECT o.id FROM orders o RIGHT JOIN users u ON o.user_id = u.id",
     "RIGHT JOIN with table users: a table is looked up by the stream's rows", 4, 27),
    ("SELECT o.id FROM orders o FULL JOIN trades t ON o.user_id = t.symbol",
     "a join of two streams needs WITHIN", 4, 27),
    ("SELECT o.id FROM orders o JOIN trades t ON o.user_id = t.symbol"
     " AND t.ts >= o.ts + 2s WITHIN 1s",
     "the event times in ON leave an empty interval", 4, 27),
    ("SELECT o.id FROM orders o JOIN trades t ON o.user_id = t.symbol AND t.ts >= o.ts",
     "the event times in ON bound the interval on one end only", 4, 27),
    ("SELECT o.id FROM orders o JOIN trades t ON o.user_id = t.symbol"
     " AND t.ts BETWEEN o.ts + 2s AND o.ts + 1s",
     "the event times in ON leave an empty interval", 4, 27),
    ("SELECT o.id FROM orders o LEFT JOIN trades t ON o.user_id = t.symbol WITHIN 1s"
     " EMIT CHANGES", "EMIT CHANGES does not apply to a join", 4, 1),
    ("SELECT o.id FROM orders o RIGHT OUTER JOIN trades t ON o.user_id = t.symbol"
     " AND t.ts BETWEEN o.ts - 1s AND o.ts", "", 0, 0),
    ("SELECT a.id FROM orders a FULL JOIN orders b ON a.id = b.id WITHIN 1s", "", 0, 0),
    ("SELECT u.tier FROM users u JOIN orders o ON o.user_id = u.id",
     "a join reads a table on its right: FROM <stream> JOIN users ON", 4, 20),
    ("SELECT o.id FROM orders o JOIN trades o ON o.id = o.id WITHIN 1s",
     "trades is already in FROM as stream orders; give each an alias", 4, 32),
    ("CREATE TABLE t2 (a INT, b INT)", "table t2 needs exactly one PRIMARY KEY column, found 0",
     4, 14),
    ("CREATE TABLE t2 (a TIMESTAMP PRIMARY KEY, b INT) WITH (event_time = a)",
     "the event_time of table t2 cannot be its PRIMARY KEY", 4, 56),
    ("CREATE TABLE t2 (a INT PRIMARY KEY) WITH (lateness = 1s)",
     "option lateness does not apply to a table", 4, 43),
    ("SELECT o.id FROM orders o JOIN users u ON o.id = u.id",
     "o.id is INT but the key id of table users is STRING; CAST it", 4, 43),
    ("CREATE TABLE v (id STRING PRIMARY KEY, tier STRING, ts TIMESTAMP)"
     " WITH (event_time = ts);\nCREATE STREAM plain (user_id STRING);\n"
     "SELECT p.user_id FROM plain p JOIN v ON p.user_id = v.id",
     "table v is versioned (event_time = ts), so stream plain needs an event_time", 6, 31),
    ("CREATE STREAM s2 (a INT PRIMARY KEY)", "PRIMARY KEY belongs to tables", 4, 19),
]


@pytest.mark.parametrize(("query", "fragment", "line", "column"), JOIN_ERRORS)
def test_join_and_table_errors(query: str, fragment: str, line: int, column: int) -> None:
    text = PRELUDE + TABLES + query
    if line == 0:  # a valid query: it compiles, ready to run
        assert compile_text(text, "join.frysql").not_supported == []
        return
    with pytest.raises(FrysAnalysisError) as caught:
        compile_text(text, "join.frysql")
    matching = [d for d in caught.value.diagnostics if fragment in d.message]
    assert matching, caught.value.render()
    assert (matching[0].span.line, matching[0].span.column) == (line, column)


def test_a_valid_table_join_compiles_to_run() -> None:
    text = PRELUDE + TABLES + ("SELECT o.id, u.tier, o.amount * 2 AS double FROM orders o"
                               " LEFT JOIN users u ON o.user_id = u.id")
    job = compile_text(text, "join.frysql")
    assert job.not_supported == []
    assert job.queries[0].output_types == {
        "id": FrysType.INT, "tier": FrysType.STRING, "double": FrysType.FLOAT}


def test_queries_without_a_runtime_still_define_their_targets() -> None:
    text = (PRELUDE + TABLES + "CREATE STREAM enriched WITH (sink = 'file:e.jsonl');\n"
            "INSERT INTO enriched SELECT o.id, u.tier FROM orders o JOIN users u"
            " ON o.user_id = u.id;\n"
            "CREATE STREAM hourly WITH (sink = 'file:h.jsonl');\n"
            "INSERT INTO hourly SELECT symbol, COUNT(*) AS n FROM trades"
            " GROUP BY symbol, HOP(1 HOUR, 10 MINUTES);\n"
            "SELECT tier FROM enriched WHERE id > 3;\n")
    job = compile_text(text, "x.frysql", runnable=False)
    assert job.streams["enriched"].columns == {"id": FrysType.INT, "tier": FrysType.STRING}
    assert job.streams["hourly"].columns == {"symbol": FrysType.STRING, "n": FrysType.INT}
    assert len(job.queries) == 3


def test_every_aggregate_is_typed_even_before_its_runtime() -> None:
    text = (PRELUDE + "CREATE STREAM stats WITH (sink = 'file:s.jsonl');\n"
            "INSERT INTO stats SELECT symbol, ARRAY_AGG(price) AS prices, VARIANCE(price) AS v,"
            " PERCENTILE(volume, 0.5) AS median FROM trades GROUP BY symbol, TUMBLE(1m);\n"
            "SELECT a.symbol, ARRAY_AGG(b.price) AS rises, PERCENTILE(b.price, 0.9) AS p90"
            " FROM trades PATTERN (a b+) WITHIN 1 MINUTE")
    job = compile_text(text, "x.frysql", runnable=False)
    assert job.streams["stats"].columns == {
        "symbol": FrysType.STRING, "prices": FrysType.ARRAY, "v": FrysType.FLOAT,
        "median": FrysType.FLOAT}
    assert job.streams["select_1"].columns == {
        "symbol": FrysType.STRING, "rises": FrysType.ARRAY, "p90": FrysType.FLOAT}
    assert job.not_supported == []
