"""Lateness does not depend on how the input is cut into batches.

The rule (docs/language.md, "Event time"): every event is judged under the watermark as it
stood after the events published before it, whatever the batching; one at the watermark is
on time, one behind it is late. So a file read in one chunk, in chunks of any size, or the
same events published one by one or in random batches, give the same rows and the same
late counts, for every operator that judges lateness: TUMBLE, HOP with lateness, SESSION,
ROWS and PATTERN.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from window_scenarios import out_of_order_events, publish_batches, split_into_batches

import frys
from frys.connectors import jsonl

STREAM = ("CREATE STREAM ev (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, "
          "watermark = {delay}ms, lateness = {lateness}ms);\n")

QUERIES = {
    "tumble": "SELECT k, window_start, COUNT(*) AS n, SUM(v) AS s FROM ev "
              "GROUP BY k, TUMBLE(10ms);",
    "hop": "SELECT k, window_start, COUNT(*) AS n, SUM(v) AS s FROM ev "
           "GROUP BY k, HOP(20ms, 5ms);",
    "session": "SELECT k, window_start, window_end, COUNT(*) AS n, SUM(v) AS s FROM ev "
               "GROUP BY k, SESSION(7ms);",
    "rows": "SELECT k, window_start, COUNT(*) AS n, ARRAY_AGG(v) AS vs FROM ev "
            "GROUP BY k, ROWS(3);",
    "pattern": "SELECT a.v AS a_v, b.v AS b_v FROM ev PARTITION BY k "
               "PATTERN (a -> b) WITHIN 30ms DEFINE a AS a.v < 0, b AS b.v > a.v "
               "AFTER MATCH NO SKIP;",
}


def outcome(query: str, delay: int, lateness: int, batches) -> tuple[list, int]:
    pipeline = frys.Pipeline.from_text(STREAM.format(delay=delay, lateness=lateness)
                                       + QUERIES[query])
    publish_batches(pipeline, batches)
    pipeline.finish()
    rows = sorted(tuple(str(v) for v in row.values())
                  for row in pipeline.results("select_1").to_dicts())
    return rows, pipeline.stats.total_late_events


@st.composite
def scenarios(draw):
    query = draw(st.sampled_from(sorted(QUERIES)))
    delay = draw(st.integers(0, 15))
    lateness = draw(st.sampled_from([0, 0, 8]))
    events = out_of_order_events(draw, count_max=40, step_max=8, behind_max=40)
    return query, delay, lateness, events, split_into_batches(draw, events)


@settings(max_examples=250, deadline=None)
@given(scenarios())
def test_the_cut_into_batches_changes_nothing(scenario) -> None:
    query, delay, lateness, events, batches = scenario
    one_by_one = outcome(query, delay, lateness, [[e] for e in events])
    assert outcome(query, delay, lateness, [events]) == one_by_one
    assert outcome(query, delay, lateness, batches) == one_by_one


def test_the_issues_example_a_file_in_one_chunk_is_judged_as_one_by_one(tmp_path: Path
                                                                        ) -> None:
    # an event 40 s behind the newest, with a 5 s watermark delay: late, whether the file
    # is read in one chunk (it used to be kept there) or published event by event
    times = [0, 60_000, 20_000, 61_000]
    (tmp_path / "ev.jsonl").write_text("".join(
        f'{{"k": 1, "v": {i}, "ts": {t}}}\n' for i, t in enumerate(times)))
    job = ("CREATE STREAM ev (k INT, v INT, ts TIMESTAMP) WITH (source = 'file:ev.jsonl', "
           "event_time = ts, watermark = 5 SECONDS);\n"
           "SELECT window_start, COUNT(*) AS n FROM ev GROUP BY TUMBLE(10 SECONDS);\n")
    (tmp_path / "job.frysql").write_text(job)
    from_file = frys.Pipeline.from_file(tmp_path / "job.frysql")
    stats = from_file.run()
    assert stats.total_late_events == 1
    by_event = frys.Pipeline.from_text(job.replace("source = 'file:ev.jsonl', ", ""))
    for i, t in enumerate(times):
        by_event.publish("ev", [{"k": 1, "v": i, "ts": t}])
    by_event.finish()
    assert by_event.stats.total_late_events == 1
    assert from_file.results("select_1")["n"].to_list() == [1, 2]
    assert by_event.results("select_1").equals(from_file.results("select_1"))


def test_file_chunk_size_changes_nothing(tmp_path: Path, monkeypatch) -> None:
    # the same file read in 8 MiB chunks and in chunks of a few lines
    times = [i * 5 - (37 if i % 7 == 3 else 0) for i in range(400)]
    (tmp_path / "ev.jsonl").write_text("".join(
        f'{{"k": {i % 3}, "v": {i % 11 - 5}, "ts": {t}}}\n' for i, t in enumerate(times)))
    results = []
    for chunk_bytes in (None, 64, 1000):
        if chunk_bytes is not None:
            monkeypatch.setattr(jsonl, "DEFAULT_CHUNK_BYTES", chunk_bytes)
        for name, query in QUERIES.items():
            job = (STREAM.format(delay=10, lateness=0)
                   .replace("WITH (", "WITH (source = 'file:ev.jsonl', ") + query)
            (tmp_path / f"{name}.frysql").write_text(job)
            pipeline = frys.Pipeline.from_file(tmp_path / f"{name}.frysql")
            stats = pipeline.run()
            results.append((chunk_bytes, name, stats.total_late_events,
                            pipeline.results("select_1").sort(pl.all()).to_dicts()))
        monkeypatch.undo()
    by_query: dict[str, set] = {}
    for _, name, late, rows in results:
        by_query.setdefault(name, set()).add((late, repr(rows)))
    assert all(len(outcomes) == 1 for outcomes in by_query.values()), by_query
    assert any(late > 0 for _, _, late, _ in results)  # the file does have late events


def test_an_event_at_the_watermark_is_on_time_for_patterns() -> None:
    # delay 0: two events with the same time, published apart; the second stands exactly
    # at the watermark the first set, so it is on time (Flink keeps it too), not late
    pipeline = frys.Pipeline.from_text(STREAM.format(delay=0, lateness=0)
                                       + QUERIES["pattern"])
    pipeline.publish("ev", [{"k": 1, "v": -1, "ts": 100}])
    pipeline.publish("ev", [{"k": 1, "v": 5, "ts": 100}])
    pipeline.publish("ev", [{"k": 1, "v": 0, "ts": 99}])  # behind: late
    pipeline.finish()
    assert pipeline.stats.total_late_events == 1
    assert pipeline.results("select_1").to_dicts() == [{"a_v": -1, "b_v": 5}]
