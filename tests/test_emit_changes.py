"""EMIT CHANGES: running aggregates (GROUP BY without a window, or no GROUP BY) and windows
that emit an updated row for every group a batch changes, against a naive reference."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st
from window_scenarios import millis

import frys

STREAM = "CREATE STREAM ev (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts);\n"

batches_strategy = st.lists(
    st.lists(st.tuples(st.integers(0, 3), st.integers(-9, 9), st.integers(0, 50)),
             min_size=1, max_size=8),
    min_size=1, max_size=6)


@settings(max_examples=80, deadline=None)
@given(batches_strategy)
def test_running_aggregate_emits_each_changed_key_after_every_batch(batches) -> None:
    pipeline = frys.Pipeline.from_text(
        STREAM + "SELECT k, COUNT(*) AS n, SUM(v) AS s, MAX(v) AS top FROM ev"
                 " GROUP BY k EMIT CHANGES")
    totals: dict[int, list[int]] = defaultdict(list)
    expected = []
    for batch in batches:
        pipeline.publish("ev", [{"k": k, "v": v, "ts": ts} for k, v, ts in batch])
        for k, v, _ in batch:
            totals[k].append(v)
        for k in sorted({k for k, _, _ in batch}):
            values = totals[k]
            expected.append({"k": k, "n": len(values), "s": sum(values), "top": max(values)})
    pipeline.finish()
    assert pipeline.results("select_1").to_dicts() == expected


@settings(max_examples=80, deadline=None)
@given(batches_strategy)
def test_whole_stream_aggregate_emits_after_every_batch(batches) -> None:
    pipeline = frys.Pipeline.from_text(STREAM + "SELECT COUNT(*) AS n, SUM(v) AS s FROM ev"
                                                " EMIT CHANGES")
    seen: list[int] = []
    expected = []
    for batch in batches:
        pipeline.publish("ev", [{"k": k, "v": v, "ts": ts} for k, v, ts in batch])
        seen += [v for _, v, _ in batch]
        expected.append({"n": len(seen), "s": sum(seen)})
    pipeline.finish()
    assert pipeline.results("select_1").to_dicts() == expected


@settings(max_examples=80, deadline=None)
@given(batches_strategy)
def test_windowed_changes_until_the_window_closes(batches) -> None:
    # TUMBLE(10 ms), watermark delay 0: after each batch, every (key, window) the batch
    # added to and that is still open shows its running count; closed windows take nothing.
    # Each event is judged under the watermark of the events before it, batch or not
    pipeline = frys.Pipeline.from_text(
        STREAM + "SELECT k, window_start, COUNT(*) AS n FROM ev"
                 " GROUP BY k, TUMBLE(10ms) EMIT CHANGES")
    counts: dict[tuple[int, int], int] = defaultdict(int)
    watermark = latest = float("-inf")
    expected = []
    late = 0
    touched: set[tuple[int, int]] = set()

    def emit() -> None:
        for k, start in sorted(touched, key=lambda ks: (ks[1], ks[0])):
            expected.append((k, start, counts[(k, start)]))
        touched.clear()

    for batch in batches:
        pipeline.publish("ev", [{"k": k, "v": v, "ts": ts} for k, v, ts in batch])
        for k, _, ts in batch:
            start = ts // 10 * 10
            if start + 10 <= max(watermark, latest):
                late += 1
            else:
                counts[(k, start)] += 1
                touched.add((k, start))
            latest = max(latest, ts)
        emit()
        watermark = max(watermark, latest)
    pipeline.finish()
    actual = [(r["k"], millis(r["window_start"]), r["n"])
              for r in pipeline.results("select_1").to_dicts()]
    assert actual == expected
    assert pipeline.stats.late_events["select_1"] == late


def test_emit_every_sends_early_rows_in_event_time_then_the_final_row() -> None:
    #   TUMBLE(10 s) EMIT EVERY 2 s, no watermark delay
    #   events: 1 s (the first watermark, period 0: early row n=1),
    #           then 3 s (watermark 3 s crosses 2 s: early row n=2),
    #           then 3.5 s (watermark 3.5 s: same period, no row),
    #           then 4.5 s (watermark 4.5 s crosses 4 s: early row n=4),
    #   finish: the window fires with its final row n=4
    pipeline = frys.Pipeline.from_text(
        STREAM + "SELECT k, window_start, COUNT(*) AS n FROM ev"
                 " GROUP BY k, TUMBLE(10 SECONDS) EMIT EVERY 2 SECONDS")
    for ts in (1000, 3000, 3500, 4500):
        pipeline.publish("ev", [{"k": 1, "v": 0, "ts": ts}])
    early = pipeline.results("select_1")["n"].to_list()
    pipeline.finish()
    assert early == [1, 2, 4]
    assert pipeline.results("select_1")["n"].to_list() == [1, 2, 4, 4]


def test_emit_every_needs_a_window() -> None:
    import pytest

    from frys.dsl import FrysAnalysisError

    with pytest.raises(FrysAnalysisError, match="EMIT EVERY needs a window"):
        frys.Pipeline.from_text(STREAM + "SELECT k, COUNT(*) AS n FROM ev GROUP BY k"
                                         " EMIT EVERY 1 SECOND")


def test_emit_every_spends_a_crossing_even_when_no_window_is_open() -> None:
    #   TUMBLE(1 s) EMIT EVERY 10 s, delay 0, WHERE v = 0
    #   ts 500   -> watermark 0.5 s crosses 0: early row of [0, 1s)
    #   ts 10500 (filtered out) -> watermark 10.5 s: [0, 1s) fires; crosses 10 s with
    #            nothing open: the crossing is spent
    #   ts 10700 -> same period: no early row for [10s, 11s)
    #   finish   -> [10s, 11s) fires
    pipeline = frys.Pipeline.from_text(
        STREAM + "SELECT window_start, COUNT(*) AS n FROM ev WHERE v = 0"
                 " GROUP BY TUMBLE(1 SECOND) EMIT EVERY 10 SECONDS")
    for ts, v in ((500, 0), (10500, 1), (10700, 0)):
        pipeline.publish("ev", [{"k": 1, "v": v, "ts": ts}])
    pipeline.finish()
    starts = [millis(d) for d in pipeline.results("select_1")["window_start"].to_list()]
    assert starts == [0, 0, 10000]
