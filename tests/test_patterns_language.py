"""Pattern queries in the front end: valid ones analyze cleanly and are runnable, invalid
ones name the rule they break and where."""

from __future__ import annotations

import pytest

import frys
from frys.cli import main
from frys.dsl import FrysAnalysisError, compile_text

STREAMS = (
    "CREATE STREAM logins (user STRING, ok BOOL, country STRING, ts TIMESTAMP)"
    " WITH (event_time = ts);\n"
    "CREATE STREAM payments (user STRING, amount FLOAT, country STRING, ts TIMESTAMP)"
    " WITH (event_time = ts);\n"
    "CREATE STREAM ticks (symbol STRING, price FLOAT, ts TIMESTAMP) WITH (event_time = ts);\n"
    "CREATE STREAM timed_out (price FLOAT);\n"
)
LINE = 5  # the line of the query under test
ALERTS = "CREATE STREAM alerts WITH (sink = 'file:alerts.jsonl'); "

VALID = [
    # the LANGUAGE.md example
    ALERTS + "INSERT INTO alerts SELECT a.user, a.ts AS first_failure, COUNT(f) + 1 AS failures,"
    " p.amount FROM logins, payments PARTITION BY user"
    " PATTERN (a:logins f:logins{2,} -> p:payments) WITHIN 10 MINUTES"
    " DEFINE a AS a.ok = false, f AS f.ok = false,"
    " p AS p.amount > 1000 AND p.country <> a.country AFTER MATCH SKIP PAST LAST EVENT",
    "SELECT a.price, MATCH_START, match_end AS e FROM ticks PARTITION BY symbol"
    " PATTERN (a b) DEFINE a AS a.price > 90, b AS b.price > a.price",
    "SELECT a.symbol, AVG(b.price) AS avg_b, LAST(b.price, 1) AS before_last, COUNT(*) AS n"
    " FROM ticks PATTERN (a -> b+? c) WITHIN 5 SECONDS"
    " DEFINE b AS b.price > PREV(price) AND AVG(b.price) < 100 UNTIL b.price > 200,"
    " c AS c.price < FIRST(b.price)",
    "SELECT a.price FROM ticks PATTERN (a -> NOT x) WITHIN 1 MINUTE DEFINE x AS x.price > 10",
    "SELECT a.price FROM ticks PATTERN (a NOT x -> b) DEFINE x AS x.price < a.price",
    "SELECT a.price FROM ticks PATTERN (-> a ->> b | (c d)+ e) WITHIN 1s BETWEEN EVENTS"
    " AFTER MATCH SKIP TO LAST b",
    ALERTS + "INSERT INTO alerts SELECT a.price FROM ticks PATTERN (a b) WITHIN 1s"
    " EMIT TIMEOUTS TO timed_out",
    # a trailing NOT next needs no WITHIN: it completes on the next event that is not x
    "SELECT a.price FROM ticks PATTERN (a b NOT x) DEFINE x AS x.price > 10",
    # each loop's repetitions joined as written, apart from how it is entered
    "SELECT COUNT(b) AS n FROM ticks PATTERN (a b+? RELAXED -> c{2,}? STRICT ->> (d e)* ANY f)"
    " WITHIN 1s",
]


@pytest.mark.parametrize("query", VALID)
def test_valid_pattern_queries_analyze_and_run(query: str, tmp_path) -> None:
    job = compile_text(STREAMS + query, "p.frysql")
    assert job.not_supported == []
    pipeline = frys.Pipeline.from_text(STREAMS + query, base_dir=tmp_path)  # operators build
    pipeline.publish("ticks", [{"symbol": "A", "price": 95.0, "ts": 1}])
    pipeline.finish()


INVALID = [
    ("SELECT a.price FROM ticks PATTERN (a b) DEFINE a AS a.price > b.price",
     "DEFINE a may refer only to variables bound before it or to itself; b comes later", 63),
    ("SELECT a.price FROM ticks PATTERN (a b) DEFINE c AS c.price > 1",
     "DEFINE c: not a variable of the pattern", 48),
    ("SELECT a.price FROM ticks PATTERN (a b) DEFINE a AS a.price > 1, a AS a.price < 5",
     "a is defined twice", 66),
    ("SELECT a.price FROM ticks PATTERN (a b) DEFINE a AS a.prise > 1",
     "unknown column 'prise' in variable a (did you mean 'price'?)", 53),
    ("SELECT a.price FROM ticks PATTERN (a b) DEFINE a AS a.price", "DEFINE needs a BOOL", 53),
    ("SELECT a.user FROM logins, payments PATTERN (a b:payments)",
     "variable a needs its stream when FROM names several, e.g. a:logins", 46),
    ("SELECT a.user FROM logins, payments PATTERN (a:login b:payments)",
     "a:login: stream login is not in FROM (did you mean 'logins'?)", 46),
    ("SELECT a.user FROM logins, ticks PARTITION BY user PATTERN (a:logins b:ticks)",
     "PARTITION BY column user is not in stream ticks", 47),
    ("SELECT a.price FROM ticks PATTERN (a -> NOT b)",
     "an absence at the end of a pattern (-> NOT x last) needs WITHIN", 41),
    ("SELECT a.price FROM ticks PATTERN (a b? -> NOT x -> c)",
     "an optional element cannot come right before NOT", 44),
    ("SELECT a.price FROM ticks PATTERN (a (b c)* NOT x c)",
     "an optional element cannot come right before NOT", 45),
    ("SELECT a.price FROM ticks PATTERN (a b+ c?)",
     "an optional element cannot follow the greedy loop b+ (as in Flink CEP)", 41),
    ("SELECT a.price FROM ticks PATTERN (a -> (b{1,3} -> c*))",
     "an optional element cannot follow the greedy loop b{1,3}", 52),
    ("SELECT a.price FROM ticks PATTERN (a b+ -> c) DEFINE a AS a.price > 1 UNTIL a.price > 9",
     "UNTIL ends a loop without an upper bound; a is not one", 77),
    ("SELECT a.price FROM ticks PATTERN (a b? STRICT)",
     "STRICT says how a loop's repetitions are joined; ? does not repeat", 38),
    ("SELECT a.price FROM ticks PATTERN (NOT a -> b)", "a pattern cannot start with NOT", 36),
    ("SELECT a.price FROM ticks PATTERN (a -> NOT b+ -> c)",
     "NOT takes a single variable without a quantifier", 41),
    ("SELECT a.price FROM ticks PATTERN (a b) AFTER MATCH SKIP TO FIRST c",
     "AFTER MATCH SKIP TO FIRST names c, which is not a pattern variable", 41),
    ("SELECT a.price FROM ticks PATTERN (a b) EMIT TIMEOUTS TO nowhere",
     "EMIT TIMEOUTS TO needs a declared stream; nowhere is not one", 27),
    ("SELECT price FROM ticks PATTERN (a b)",
     "column 'price' is ambiguous: a and b both have it", 8),
    ("SELECT a.price FROM ticks WHERE price > 1 PATTERN (a b)",
     "WHERE does not apply to a pattern query", 33),
    ("SELECT a.price FROM ticks t PATTERN (a b)", "aliases do not apply in a pattern query", 21),
    ("SELECT SUM(price) AS s FROM ticks PATTERN (a b+)",
     "SUM over a match needs exactly one variable's columns", 12),
    ("SELECT a.price FROM ticks PATTERN (a b) DEFINE b AS b.price > PREV(a)",
     "unknown column 'a' in variable b", 68),
    ("SELECT PREV(a.price) AS p FROM ticks PATTERN (a b)", "PREV belongs in DEFINE", 8),
    ("SELECT * FROM ticks PATTERN (a b)", "SELECT * does not apply to a pattern query", 8),
]


@pytest.mark.parametrize(("query", "fragment", "column"), INVALID)
def test_invalid_pattern_queries(query: str, fragment: str, column: int) -> None:
    with pytest.raises(FrysAnalysisError) as caught:
        compile_text(STREAMS + query, "p.frysql", runnable=False)
    matching = [d for d in caught.value.diagnostics if fragment in d.message]
    assert matching, caught.value.render()
    assert (matching[0].span.line, matching[0].span.column) == (LINE, column)


def test_pattern_output_schema_feeds_the_target_stream() -> None:
    job = compile_text(STREAMS + VALID[0], "p.frysql", runnable=False)
    from frys.dsl.types import FrysType
    assert job.streams["alerts"].columns == {
        "user": FrysType.STRING, "first_failure": FrysType.TIMESTAMP,
        "failures": FrysType.INT, "amount": FrysType.FLOAT}


def test_unbounded_loop_without_within_is_a_warning(tmp_path, capsys) -> None:
    job = tmp_path / "loop.frysql"
    job.write_text(STREAMS + "SELECT a.price FROM ticks PATTERN (a b+ c)")
    assert main(["check", str(job)]) == 0
    err = capsys.readouterr().err
    assert f"{job}:5:27: warning: a loop without an upper bound and no WITHIN" in err
    assert main(["run", str(job)]) == 0  # a warning does not stop the job


GREEDY_WARNING = "can never match: the greedy loop"


@pytest.mark.parametrize(("pattern", "defines", "warned"), [
    # the same condition: the loop takes every event the next element could
    ("a{0,3} -> b", "DEFINE a AS a.price > 5, b AS b.price > 5", "b"),
    # the next condition includes all of the loop's (written with or without the variable)
    ("a -> b+ -> c", "DEFINE b AS b.price > 5, c AS price > 5 AND c.symbol = 'x'", "c"),
    ("a -> b+ (c d)", "DEFINE b AS b.price > 5, c AS c.price > 5", "c"),
    # a loop without DEFINE takes every event
    ("a b{1,4} c", "DEFINE a AS a.price > 1, c AS c.price < 1", "c"),
    # reluctant, different conditions, {n} and ANY repetitions: nothing to warn about
    ("a{0,3}? -> b", "DEFINE a AS a.price > 5, b AS b.price > 5", None),
    ("a -> b+ -> c", "DEFINE b AS b.price > 5, c AS c.price < 5", None),
    ("a -> b+ -> c", "DEFINE b AS b.price > 5 AND b.symbol = 'x', c AS c.price > 5", None),
    ("a b{3} c", "DEFINE a AS a.price > 1", None),
    ("a ->> b+ c", "DEFINE a AS a.price > 1", None),
])
def test_a_greedy_loop_that_starves_the_next_element_is_a_warning(
        pattern: str, defines: str, warned: str | None) -> None:
    job = compile_text(STREAMS + f"SELECT COUNT(*) AS n FROM ticks PATTERN ({pattern})"
                       f" WITHIN 1 MINUTE {defines}", "p.frysql", runnable=False)
    warnings = [w.message for w in job.warnings if GREEDY_WARNING in w.message]
    if warned is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warnings[0].startswith(f"{warned} can never match")


def test_timeouts_stream_takes_the_query_schema() -> None:
    text = (STREAMS + "CREATE STREAM late_ticks WITH (sink = 'file:late.jsonl');\n"
            "SELECT a.symbol, a.price FROM ticks PATTERN (a b) WITHIN 1s"
            " EMIT TIMEOUTS TO late_ticks")
    job = compile_text(text, "p.frysql", runnable=False)
    assert list(job.streams["late_ticks"].columns or {}) == ["symbol", "price"]
