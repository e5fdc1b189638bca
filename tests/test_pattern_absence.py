"""Absence at the end of a pattern: `a -> NOT x` with WITHIN t completes when t passes after
the match's first event (in event time, by the watermark) with no x in between; an x within
the time cancels it. Timelines: one column per 10 ms."""

from __future__ import annotations

import pytest

import frys

STREAM = ("CREATE STREAM ev (id INT, name STRING, ts TIMESTAMP) "
          "WITH (event_time = ts);\n")
JOB = STREAM + ("SELECT a.id AS a, MATCH_START, MATCH_END FROM ev "
                "PATTERN (a -> NOT x) WITHIN 50ms "
                "DEFINE a AS a.name = 'a', x AS x.name = 'x'")

CASES = [
    #   a . . . . | (50 ms later, no x): the match is emitted once the watermark reaches 50
    ("no x within the time", [(1, "a", 0), (2, "b", 20), (3, "b", 60)], [1]),
    #   a . x . . |: cancelled
    ("x within the time cancels", [(1, "a", 0), (2, "x", 20), (3, "b", 60)], []),
    #   a . . . . x: x comes exactly at the bound, too late to cancel (first and last less
    #   than WITHIN apart: 50 is not within 50 ms)
    ("x at the bound is too late", [(1, "a", 0), (2, "x", 50)], [1]),
    #   a a . x: both cancelled by the same x
    ("one x cancels every waiting a", [(1, "a", 0), (2, "a", 10), (3, "x", 30)], []),
    #   a . x a . . . . . | : the second a waits out its 50 ms
    ("a later a starts over", [(1, "a", 0), (2, "x", 10), (3, "a", 20), (4, "b", 90)], [3]),
]


@pytest.mark.parametrize(("name", "events", "expected"), CASES, ids=[c[0] for c in CASES])
def test_absence(name: str, events, expected: list[int]) -> None:
    pipeline = frys.Pipeline.from_text(JOB)
    pipeline.publish("ev", [{"id": i, "name": n, "ts": t} for i, n, t in events])
    pipeline.finish()
    assert pipeline.results("select_1")["a"].to_list() == expected


def test_an_absence_is_emitted_when_the_watermark_passes_not_at_the_end_of_input() -> None:
    pipeline = frys.Pipeline.from_text(JOB)
    pipeline.publish("ev", [{"id": 1, "name": "a", "ts": 0}])
    pipeline.publish("ev", [{"id": 2, "name": "b", "ts": 49}])
    assert pipeline.results("select_1").height == 0  # watermark 49: x could still come
    pipeline.publish("ev", [{"id": 3, "name": "b", "ts": 50}])
    result = pipeline.results("select_1")
    assert result["a"].to_list() == [1]
    # the match holds the events it consumed: a alone
    assert result["match_start"].to_list() == result["match_end"].to_list()


def test_absence_after_a_loop() -> None:
    # a b+ then no x for 50 ms after a: the longest run of b's that is not cut by x
    job = STREAM + ("SELECT a.id AS a, COUNT(b) AS bs FROM ev "
                    "PATTERN (a b+ -> NOT x) WITHIN 50ms "
                    "DEFINE a AS a.name = 'a', b AS b.name = 'b', x AS x.name = 'x'")
    pipeline = frys.Pipeline.from_text(job)
    pipeline.publish("ev", [{"id": i, "name": n, "ts": t} for i, n, t in
                            [(1, "a", 0), (2, "b", 1), (3, "b", 2), (4, "c", 3), (5, "c", 70)]])
    pipeline.finish()
    # greedy b+ takes both b's; at c the loop proceeds to wait for the absence, which the
    # watermark completes at 50 ms: one match, a with two b's
    result = pipeline.results("select_1")
    assert result["a"].to_list() == [1]
    assert result["bs"].to_list() == [2]
