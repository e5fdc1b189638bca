"""Hardening (the pattern operator): LIKE evaluated per event without backtracking, and
pattern state bounded in bytes as well as in partial matches."""

from __future__ import annotations

import re
import time

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import frys
from frys.operators.expressions import like_to_regex
from frys.operators.pattern.conditions import like_matcher

STREAM = ("CREATE STREAM ev (id INT, name STRING, price FLOAT, ts TIMESTAMP) "
          "WITH (event_time = ts);\n")

# ---------------------------------------------------------------- 1. LIKE without backtracking

# few distinct characters, so that patterns and texts meet often; `\n` and a non-ASCII one
# check that `%` and `_` take any character
PATTERNS = st.text(alphabet="ab%_\n", max_size=10)
TEXTS = st.text(alphabet="ab\né", max_size=14)


@settings(max_examples=400, deadline=None)
@given(pattern=PATTERNS, texts=st.lists(TEXTS, min_size=1, max_size=20))
def test_like_matcher_agrees_with_the_batch_path(pattern: str, texts: list[str]) -> None:
    batch = pl.Series(texts).str.contains(like_to_regex(pattern)).to_list()
    matches = like_matcher(pattern)
    assert [matches(t) for t in texts] == batch
    # (the Python path used `re.match`, whose `$` also matches before a final newline:
    # 'a' LIKE 'a' held for 'a\n' there and not in polars)
    reference = re.compile(like_to_regex(pattern))
    assert batch == [reference.fullmatch(t) is not None for t in texts]


@pytest.mark.parametrize(("pattern", "text", "expected"), [
    ("", "", True), ("", "a", False), ("%", "", True), ("%%", "x", True),
    ("_", "", False), ("_", "é", True), ("a%", "a", True), ("%a", "ba", True),
    ("a%a", "a", False), ("a%a", "aa", True), ("%ab%ab%", "abab", True),
    ("%ab%ab%", "aba", False), ("%a_b%", "axxab", False), ("%a_b%", "xaxbx", True),
    ("a_%_b", "axyb", True), ("a_%_b", "axb", False), ("%x%x%x%x%y", "x" * 1000, False),
    ("%x%x%x%x%y", "x" * 999 + "y", True), ("%_a_a%", "baaab", True),
    ("a", "a\n", False), ("", "\n", False), ("a%", "a\n", True),
])
def test_like_matcher_cases(pattern: str, text: str, expected: bool) -> None:
    assert like_matcher(pattern)(text) is expected
    if len(text) < 50:  # (the regex backtracks for ever on the long ones)
        assert (re.compile(like_to_regex(pattern)).fullmatch(text) is not None) is expected


def b_ids(define_b: str, names: list[str]) -> list[int]:
    """b's ids for `PATTERN (a ->> b)` with `DEFINE b AS <define_b>`, a the 'start' event
    and the b candidates named `names`."""
    pipeline = frys.Pipeline.from_text(
        STREAM + f"SELECT b.id AS b FROM ev PATTERN (a ->> b) "
                 f"DEFINE a AS a.name = 'start', b AS {define_b} AFTER MATCH NO SKIP")
    pipeline.publish("ev", [{"id": i, "name": n, "price": 1.0, "ts": i}
                            for i, n in enumerate(["start", *names], 1)])
    pipeline.finish()
    return sorted(pipeline.results("select_1")["b"].to_list())


def like_in_a_residual(pattern: str, names: list[str]) -> list[int]:
    """b's ids where `b.name LIKE pattern` holds, evaluated per event in Python (the OR with
    a condition on `a` that never holds keeps the LIKE out of the vectorized part)."""
    return b_ids(f"b.name LIKE '{pattern}' OR a.id IS NULL", names)


def test_a_residual_like_agrees_with_the_vectorized_one() -> None:
    names = ["", "a", "ab", "ba", "a\nb", "axb", "éab", "aab_", "x%y", "a\n", "ab\n"]
    for pattern in ["a%", "%b", "_", "a_b", "%a%b%", "a%%", "%\n%", "x%y", "_a%_", "a", "ab"]:
        vectorized = b_ids(f"b.name LIKE '{pattern}'", names)
        assert like_in_a_residual(pattern, names) == vectorized, pattern


def test_a_hostile_like_on_a_long_string_answers_at_once() -> None:
    # a backtracking regex takes O(n^4) steps here (12.6 s per evaluation before)
    long = "x" * 100_000
    started = time.perf_counter()
    assert like_in_a_residual("%x%x%x%x%y", [long, long + "y", long]) == [3]
    assert like_matcher("%x_x%x_x%x%y")(long) is False
    assert like_matcher("%x_x%x_x%x%y")(long + "y") is True
    assert time.perf_counter() - started < 10  # the regex would not finish in hours


# ---------------------------------------------------------------- 3. state bounded in bytes

GREEDY = ("CREATE STREAM ev (k INT, kind STRING, ts TIMESTAMP) WITH (event_time = ts);\n"
          "SELECT a.ts AS a, COUNT(b) AS n FROM ev PARTITION BY k PATTERN (a -> b+ -> c) "
          "DEFINE a AS a.kind = 'a', b AS b.kind = 'b', c AS c.kind = 'c'")


def hostile(pipeline: frys.Pipeline, n: int, keys: int = 1) -> int:
    """Every 100th event an `a`, the others `b`, no `c`: each a's partial match holds every
    b after it (state grows with a's x b's). Returns the largest state seen."""
    operator = pipeline.runtime.queries[0].operator
    largest = 0
    for start in range(0, n, 500):
        pipeline.publish("ev", [{"k": i % keys, "kind": "a" if i % 100 == 0 else "b", "ts": i}
                                for i in range(start, start + 500)])
        exact = exact_bytes(operator)
        assert operator.state_bytes() >= exact  # the estimate the budget checks
        largest = max(largest, exact)
    return largest


def exact_bytes(operator) -> int:
    """The state measured with the shared buffer's own accounting, after a sweep."""
    from frys.operators.pattern.nfa import PARTIAL_BYTES
    partitions = list(operator._partitions.values())
    operator.shared.sweep(p.node for part in partitions for p in (*part.partials, *part.pending))
    matches = sum(len(part.partials) + len(part.pending) for part in partitions)
    return operator.shared.live_bytes() + PARTIAL_BYTES * matches


def test_the_state_of_a_partition_stays_within_its_byte_budget() -> None:
    budget = 200_000
    unbounded = frys.Pipeline.from_text(GREEDY, options=frys.RuntimeOptions(
        max_pattern_bytes_per_partition=None, max_pattern_bytes=None))
    assert hostile(unbounded, 20_000) > 5 * budget  # ~1.4 MB
    pipeline = frys.Pipeline.from_text(GREEDY, options=frys.RuntimeOptions(
        max_pattern_bytes_per_partition=budget))
    assert hostile(pipeline, 20_000) <= budget
    pipeline.publish("ev", [{"k": 0, "kind": "c", "ts": 30_000}])
    pipeline.finish()
    discarded = pipeline.stats.discarded_partial_matches_for_bytes["select_1"]
    assert discarded > 0
    # the youngest partial matches survived: the match starts at one of the last a's
    assert pipeline.results("select_1")["a"].dt.epoch("ms").to_list()[0] >= 15_000


def test_the_state_of_a_query_stays_within_its_byte_budget() -> None:
    budget = 300_000
    pipeline = frys.Pipeline.from_text(GREEDY, options=frys.RuntimeOptions(
        max_pattern_bytes_per_partition=None, max_pattern_bytes=budget))
    assert hostile(pipeline, 20_000, keys=4) <= budget
    assert pipeline.stats.discarded_partial_matches_for_bytes["select_1"] > 0


def test_the_cli_reports_partial_matches_discarded_over_the_byte_budget(
        tmp_path, capsys) -> None:
    from frys.cli import main
    data = tmp_path / "ev.jsonl"
    data.write_text("".join(
        f'{{"k": 0, "kind": "{"a" if i % 100 == 0 else "b"}", "ts": {i}}}\n'
        for i in range(10_000)))
    job = tmp_path / "job.frysql"
    job.write_text(GREEDY.replace("WITH (event_time = ts)",
                                  f"WITH (event_time = ts, source = 'file:{data}')"))
    assert main(["run", str(job), "--max-pattern-bytes-per-partition", "100000"]) == 0
    err = capsys.readouterr().err
    assert "frys: partial matches discarded over the byte budget: select_1: " in err
