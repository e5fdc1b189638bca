"""`max_future`: an event far ahead of the watermark is a dead letter instead of moving it.

The issue's case: a single year-9999 timestamp pushed the watermark so far that most later
events were late. With `max_future = 1 HOUR` it is a dead letter (reason, position, counted)
and the later events are judged as if it had never come.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import frys
from frys.dsl.errors import FrysError
from frys.engine.time import START_OF_TIME, too_far_ahead

BASE = 1_700_000_000_000  # 2023-11-14, behind the wall clock
YEAR_9999 = 253_402_300_799_000


def job(max_future: str | None, source: str | None = None) -> str:
    options = ["event_time = ts", "watermark = 5 SECONDS"]
    if max_future is not None:
        options.append(f"max_future = {max_future}")
    if source is not None:
        options.insert(0, f"source = '{source}'")
    return (f"CREATE STREAM ev (k INT, ts TIMESTAMP) WITH ({', '.join(options)});\n"
            "SELECT window_start, COUNT(*) AS n FROM ev GROUP BY TUMBLE(1 MINUTE);\n")


def events_with_one_from_year_9999(count: int = 400) -> list[dict[str, int]]:
    events = [{"k": i, "ts": BASE + i * 1000} for i in range(count)]
    events.insert(count // 4, {"k": -1, "ts": YEAR_9999})
    return events


def test_without_max_future_one_event_from_year_9999_makes_the_rest_late() -> None:
    pipeline = frys.Pipeline.from_text(job(None))
    for event in events_with_one_from_year_9999():
        pipeline.publish("ev", [event])
    pipeline.finish()
    assert pipeline.stats.total_late_events == 300  # the problem max_future solves


def test_with_max_future_it_is_a_dead_letter_and_nothing_is_late() -> None:
    pipeline = frys.Pipeline.from_text(job("1 HOUR"))
    for event in events_with_one_from_year_9999():
        pipeline.publish("ev", [event])
    pipeline.finish()
    assert pipeline.stats.total_late_events == 0
    assert sum(pipeline.results("select_1")["n"].to_list()) == 400
    assert pipeline.stats.dead_letters["ev"] == 1
    (letter,) = pipeline.stats.first_dead_letters
    assert "max_future" in letter.reason and "ahead of the watermark" in letter.reason
    assert letter.position == "api, event 101"
    assert json.loads(letter.raw) == {"k": -1, "ts": "9999-12-31T23:59:59+00:00"}


def test_a_far_future_first_event_is_judged_against_the_wall_clock() -> None:
    pipeline = frys.Pipeline.from_text(job("1 DAY"))
    pipeline.publish("ev", [{"k": 0, "ts": YEAR_9999}, {"k": 1, "ts": BASE}])
    pipeline.finish()
    assert pipeline.stats.dead_letters["ev"] == 1
    assert pipeline.results("select_1")["n"].to_list() == [1]


def test_a_file_source_sends_them_to_the_dead_letter_sink(tmp_path: Path) -> None:
    lines = [json.dumps(e) for e in events_with_one_from_year_9999(50)]
    (tmp_path / "ev.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "job.frysql").write_text(
        job("1 HOUR", source="file:ev.jsonl")
        + "CREATE STREAM dead_letters WITH (sink = 'file:dead.jsonl');\n")
    stats = frys.Pipeline.from_file(tmp_path / "job.frysql").run()
    assert stats.total_late_events == 0
    (row,) = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert row["stream"] == "ev" and "max_future" in row["reason"]
    assert row["position"].endswith("event 13")  # the 13th event of the file


def test_refused_events_do_not_raise_the_reference_for_later_ones() -> None:
    # 10 h, then 20 h ahead: both refused, each against the watermark of the accepted events
    pipeline = frys.Pipeline.from_text(job("1 HOUR"))
    hour = 3_600_000
    pipeline.publish("ev", [{"k": 0, "ts": BASE}, {"k": 1, "ts": BASE + 10 * hour},
                            {"k": 2, "ts": BASE + 20 * hour}, {"k": 3, "ts": BASE + hour // 2}])
    pipeline.finish()
    assert pipeline.stats.dead_letters["ev"] == 2
    assert sum(pipeline.results("select_1")["n"].to_list()) == 2


@pytest.mark.parametrize("options, message", [
    ("max_future = 1 HOUR", "max_future needs event_time"),
    ("event_time = ts, max_future = 'soon'", "max_future must be an interval"),
])
def test_max_future_is_checked(options: str, message: str) -> None:
    with pytest.raises(FrysError, match=message):
        frys.Pipeline.from_text(f"CREATE STREAM ev (k INT, ts TIMESTAMP) WITH ({options});\n"
                                "SELECT k FROM ev;\n")


def sequential(times, watermark, latest, delay, max_future, now):
    """The definition, one event after the other."""
    refused = []
    for t in times:
        reference = max(latest - delay if latest != START_OF_TIME else START_OF_TIME,
                        watermark)
        if reference == START_OF_TIME:
            reference = now
        refused.append(t is not None and t > reference + max_future)
        if t is not None and not refused[-1]:
            latest = max(latest, t)
    return refused


@settings(max_examples=300, deadline=None)
@given(times=st.lists(st.one_of(st.none(), st.integers(-1000, 5000)), max_size=30),
       watermark=st.one_of(st.just(START_OF_TIME), st.integers(-1000, 3000)),
       latest=st.one_of(st.just(START_OF_TIME), st.integers(-1000, 3000)),
       delay=st.integers(0, 300), max_future=st.integers(0, 400),
       now=st.integers(-1000, 3000))
def test_too_far_ahead_is_the_sequential_rule(times, watermark, latest, delay, max_future,
                                              now) -> None:
    got = too_far_ahead(pl.Series(times, dtype=pl.Int64), watermark, latest, delay,
                        max_future, now).to_list()
    assert got == sequential(times, watermark, latest, delay, max_future, now)


def test_a_staircase_of_refusals_takes_the_row_by_row_path() -> None:
    # each refusal exposes the next: more rounds than the vectorized refinement makes
    times = [0] + [1000 - i for i in range(40)]
    got = too_far_ahead(pl.Series(times, dtype=pl.Int64), 0, START_OF_TIME, 0, 100,
                        0).to_list()
    assert got == sequential(times, 0, START_OF_TIME, 0, 100, 0)
