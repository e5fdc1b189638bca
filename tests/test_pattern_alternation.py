"""Alternation `x | y` (not in Flink CEP): a match continues with whichever branch takes
the event; under relaxed contiguity only the first event some branch can take is taken
(skip till next), under `->>` every one (skip till any). Events -> matches (ids)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import frys

CASES = [
    # pattern, event names (ids from 1), expected matches
    ("a -> (b | c d)", "axbcd", [[1, 3]]),
    ("a -> (b | c d)", "axcdb", [[1, 3, 4]]),
    ("a ->> (b | c d)", "axcdb", [[1, 3, 4], [1, 5]]),
    ("a (b | c) d", "abdacdaxd", [[1, 2, 3], [4, 5, 6]]),
    ("(b | c) -> d", "bxcd", [[1, 4], [3, 4]]),
    ("a -> (b c | b d)", "abd", [[1, 2, 3]]),
]


CONDITIONS = {"a": "a.name = 'a'", "b": "b.name = 'b'", "c": "c.name = 'c'",
              "d": "d.name = 'd'", "x": "x.name IN ('a', 'b')"}


def matches(pattern: str, names: str) -> list[list[int]]:
    """The events (ids from 1) of every match of `pattern` over events named by `names`."""
    variables = sorted(set(re.findall(r"\b([abcdx])\b", pattern)))
    outputs = ", ".join(f"ARRAY_AGG({v}.id) AS {v}" for v in variables)
    define = ", ".join(f"{v} AS {CONDITIONS[v]}" for v in variables)
    pipeline = frys.Pipeline.from_text(
        "CREATE STREAM ev (id INT, name STRING, ts TIMESTAMP) WITH (event_time = ts);\n"
        f"SELECT {outputs} FROM ev PATTERN ({pattern}) DEFINE {define} AFTER MATCH NO SKIP")
    pipeline.publish("ev", [{"id": i, "name": n, "ts": i} for i, n in enumerate(names, 1)])
    pipeline.finish()
    return sorted(sorted(i for v in variables for i in (row[v] or []))
                  for row in pipeline.results("select_1").to_dicts())


@pytest.mark.parametrize(("pattern", "names", "expected"), CASES,
                         ids=[f"{p} over {n}" for p, n, _ in CASES])
def test_alternation(pattern: str, names: str, expected: list[list[int]]) -> None:
    assert matches(pattern, names) == sorted(expected)


QUANTIFIED = [
    # a quantified alternation repeats the choice: each repetition takes whichever branch
    # takes its event
    ("(a | b)+ c", "abbac", [[1, 2, 3, 4, 5], [2, 3, 4, 5], [3, 4, 5], [4, 5]]),
    ("c (a | b){2} d", "cabdcaad cbd", [[1, 2, 3, 4], [5, 6, 7, 8]]),
    ("c -> (a | b d)+ -> c", "cxbdxaxc", [[1, 3, 4, 6, 8], [1, 3, 4, 8]]),
]


@pytest.mark.parametrize(("pattern", "names", "expected"), QUANTIFIED,
                         ids=[f"{p} over {n}" for p, n, _ in QUANTIFIED])
def test_quantified_alternation(pattern: str, names: str, expected: list[list[int]]) -> None:
    assert matches(pattern, names.replace(" ", "x")) == sorted(expected)


SHAPES = ["{}+", "{}*", "c {}+", "c -> {}+ -> d", "c {}{{2,3}} d", "c -> {}+? d",
          "c ->> {}+ -> d", "{}+ d", "c {}? d", "-> {}+ d", "c -> {}{{2,}} d", "c {}+? d"]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SHAPES), st.text("abcdz", min_size=1, max_size=9))
def test_a_quantified_alternation_of_variables_matches_like_a_group_of_their_union(
        shape: str, names: str) -> None:
    """`(a | b)+` finds the matches `(x)+` finds when x is `a OR b`: a quantified
    alternation is a quantified group whose one element is the choice, in every contiguity.
    (Compared under NO SKIP, all matches: when several matches end on the same event with
    the same start, which one a skip strategy keeps follows the order of partial matches,
    which the two automata build differently.)"""
    assert matches(shape.format("(a | b)"), names) == matches(shape.format("(x)"), names)


@pytest.mark.parametrize(("pattern", "names", "expected"), [
    # the loop's relaxed repetitions: an ignored event does not reopen the way out, so the
    # match that left the loop before it is found once, and `d`, strictly after the group,
    # cannot be reached across it
    ("c -> (x)+ -> d", "cxaxbd", [[1, 3, 5, 6], [1, 3, 6]]),
    ("c -> (x)+? d", "zaczdzbzd", []),
    ("c -> (x)+? d", "cxazbd", [[1, 3, 5, 6]]),
])
def test_a_looping_group_finds_each_match_once(pattern: str, names: str,
                                               expected: list[list[int]]) -> None:
    assert matches(pattern, names) == expected
