"""Patterns where frys once disagreed with Flink 2.3 CEP (issue 11): greedy and optional
compiled as Flink 2.3's NFACompiler does, a trailing NOT next, a loop's own contiguity.
Every expected result here was computed by the real Flink 2.3 library (flink-cep-2.3.0.jar)
on the same events; the matches list variable -> event ids."""

from __future__ import annotations

import pytest
from pattern_cases import PatternCase
from pattern_runner import run_case


def events(*rows: tuple[str, float] | str, times: list[int] | None = None
           ) -> list[tuple[int, str, float, int]]:
    """Events with ids 0, 1, ... from names (price 1) or (name, price) pairs."""
    out = []
    for i, row in enumerate(rows):
        name, price = (row, 1.0) if isinstance(row, str) else row
        out.append((i, name, float(price), times[i] if times else i + 1))
    return out


def names(*variables: str) -> str:
    return ", ".join(f"{v} AS {v}.name = '{v}'" for v in variables)


CASES = [
    PatternCase(
        "an optional single variable is not greedy: the skip branch lives too",
        "issue 11, item 1",
        "PATTERN (st big? -> fin) DEFINE st AS st.name = 'start', big AS big.price > 100,"
        " fin AS fin.name = 'end' AFTER MATCH NO SKIP",
        events("start", ("pay", 150), "end"),
        [[0, 1, 2], [0, 2]],
    ),
    PatternCase(
        "a strict successor is not reached across an event an optional element skipped",
        "issue 11, item 1",
        "PATTERN (login ->> retry? ok) DEFINE " + names("login", "retry", "ok")
        + " AFTER MATCH NO SKIP",
        events("login", "noise", "ok"),
        [],
    ),
    PatternCase(
        "greedy {1,2}: what follows cannot take or pass an event the loop accepts",
        "issue 11, item 2",
        "PATTERN (r{1,2} -> s) DEFINE " + names("r", "s") + " AFTER MATCH NO SKIP",
        events("r", "zz", "r", "s"),
        [[2, 3]],
    ),
    PatternCase(
        "greedy {1,2}: the next element's condition inside the loop's never matches",
        "issue 11, item 2",
        "PATTERN (hi{1,2} -> top) DEFINE hi AS hi.price > 5, top AS top.price > 8"
        " AFTER MATCH NO SKIP",
        events(("a", 6), ("a", 7), ("a", 9)),
        [],
    ),
    PatternCase(
        "the ignore state of a greedy loop has no exit: strict c is not reached across x",
        "issue 11, item 3",
        "PATTERN (a -> b{1,2} c) DEFINE " + names("a", "b", "c") + " AFTER MATCH NO SKIP",
        events("a", "b", "x", "c"),
        [],
    ),
    PatternCase(
        "each match of a relaxed greedy loop before ->> once",
        "issue 11, item 3",
        "PATTERN (-> b+ ->> c) DEFINE " + names("b", "c") + " AFTER MATCH NO SKIP",
        events("b", "c", "c"),
        [[0, 1], [0, 2]],
    ),
    PatternCase(
        "greedy {1,3} before a trailing -> NOT completes with one repetition",
        "issue 11, item 4",
        "PATTERN (o -> k{1,3} -> NOT x) WITHIN 10 MILLISECONDS DEFINE " + names("o", "k", "x")
        + " AFTER MATCH NO SKIP",
        events("o", "k", "z", "z", times=[1, 2, 4, 20]),
        [[0, 1]],
    ),
    PatternCase(
        "a greedy loop ending a trailing group completes at every repetition",
        "issue 11, item 5",
        "PATTERN (s (k m+)) DEFINE " + names("s", "k", "m") + " AFTER MATCH NO SKIP",
        events("s", "k", "m", "m"),
        [[0, 1, 2], [0, 1, 2, 3]],
    ),
    PatternCase(
        "a trailing NOT next completes on the next event that is not c",
        "issue 11, item 6; Flink NotPatternITCase.testNotNextNoMatchesAtTheEnd",
        "PATTERN (a b NOT c) DEFINE " + names("a", "b", "c") + " AFTER MATCH NO SKIP",
        events("a", "b", "d"),
        [[0, 1]],
    ),
    PatternCase(
        "a trailing NOT next: a c next cancels, and the end of input decides nothing",
        "issue 11, item 6",
        "PATTERN (a b NOT c) DEFINE " + names("a", "b", "c") + " AFTER MATCH NO SKIP",
        events("a", "b", "c", "a", "b"),
        [],
    ),
    PatternCase(
        "a loop's NOT is checked between all its repetitions (times(2), relaxed inside)",
        "issue 11, item 8",
        "PATTERN (op ->> it{2} RELAXED -> NOT cx -> cl) DEFINE op AS op.name = 'open',"
        " it AS it.name = 'item', cx AS cx.name = 'cancel', cl AS cl.name = 'close'"
        " AFTER MATCH NO SKIP",
        events("open", "item", "cancel", "item", "item", "close"),
        [[0, 3, 4, 5]],
    ),
    PatternCase(
        "entered strictly, repeated relaxed: next(b).oneOrMore()",
        "issue 11, item 8",
        "PATTERN (a b+? RELAXED c) DEFINE " + names("a", "b", "c") + " AFTER MATCH NO SKIP",
        events("a", "b", "x", "b", "c"),
        [[0, 1, 3, 4]],
    ),
    PatternCase(
        "entered strictly, repeated relaxed: a gap before the first b still breaks it",
        "issue 11, item 8",
        "PATTERN (a b+? RELAXED c) DEFINE " + names("a", "b", "c") + " AFTER MATCH NO SKIP",
        events("a", "x", "b", "c"),
        [],
    ),
    PatternCase(
        "entered relaxed, repeated strictly: followedBy(b).oneOrMore().consecutive()",
        "issue 11, item 8",
        "PATTERN (a -> b+? STRICT -> c) DEFINE " + names("a", "b", "c")
        + " AFTER MATCH NO SKIP",
        events("a", "x", "b", "b", "x", "b", "c"),
        [[0, 2, 6], [0, 2, 3, 6]],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_matches_like_flink_2_3(case: PatternCase) -> None:
    assert sorted(run_case(case)) == sorted(sorted(m) for m in case.matches)
