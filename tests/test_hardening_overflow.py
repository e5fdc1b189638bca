"""What a pattern query sheds over its limits goes to the built-in `overflow` stream, one
row per partial match with the limit, its partition, its start and its events, as well as
being counted. A job gives `overflow` a sink as it does `dead_letters`, or reads it in a
query."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_hardening_patterns import GREEDY, hostile

import frys
from frys.dsl.errors import FrysError

SHED = GREEDY + ";\nSELECT query, reason, partition_key, started_at, events FROM overflow;\n"


def test_partial_matches_over_the_count_limit_are_rows_of_overflow() -> None:
    pipeline = frys.Pipeline.from_text(SHED, options=frys.RuntimeOptions(
        max_partial_matches=3))
    pipeline.publish("ev", [{"k": 7, "kind": "a", "ts": i} for i in range(10)])
    pipeline.publish("ev", [{"k": 7, "kind": "b", "ts": 20}])
    pipeline.finish()
    rows = pipeline.results("select_2")
    assert pipeline.stats.discarded_partial_matches["select_1"] == rows.height == 7
    assert set(rows["query"]) == {"select_1"}
    assert all("max_partial_matches" in reason for reason in rows["reason"])
    assert set(rows["partition_key"]) == {"7"}
    # the partial matches that started earliest went first: the a's at 0..6
    assert rows["started_at"].dt.epoch("ms").to_list() == list(range(7))
    assert [json.loads(e) for e in rows["events"]] == [[f"ev:{i}"] for i in range(7)]


def test_partial_matches_over_the_byte_budget_are_rows_of_overflow() -> None:
    pipeline = frys.Pipeline.from_text(SHED, options=frys.RuntimeOptions(
        max_pattern_bytes_per_partition=200_000))
    hostile(pipeline, 20_000)
    pipeline.finish()
    rows = pipeline.results("select_2")
    shed = pipeline.stats.discarded_partial_matches_for_bytes["select_1"]
    assert shed > 0 and rows.height == shed
    assert all("max_pattern_bytes_per_partition" in reason for reason in rows["reason"])
    # a long partial match lists its first 100 events and how many more it held
    longest = max((json.loads(e) for e in rows["events"]), key=len)
    assert len(longest) == 101 and longest[-1].startswith("... ")


def test_the_overflow_sink(tmp_path: Path) -> None:
    (tmp_path / "job.frysql").write_text(
        GREEDY + ";\nCREATE STREAM overflow WITH (sink = 'file:overflow.jsonl');\n")
    pipeline = frys.Pipeline.from_file(tmp_path / "job.frysql",
                                       options=frys.RuntimeOptions(max_partial_matches=2))
    pipeline.publish("ev", [{"k": 0, "kind": "a", "ts": i} for i in range(5)])
    pipeline.finish()
    rows = [json.loads(line) for line in
            (tmp_path / "overflow.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    assert set(rows[0]) == {"query", "reason", "partition_key", "started_at", "events"}


@pytest.mark.parametrize("statement, message", [
    ("CREATE STREAM overflow (x INT);", "overflow is built in; declare it without columns"),
    ("CREATE STREAM overflow WITH (event_time = ts);", "overflow is built in; only its sink"),
])
def test_overflow_is_built_in(statement: str, message: str) -> None:
    with pytest.raises(FrysError, match=message):
        frys.Pipeline.from_text(statement)
