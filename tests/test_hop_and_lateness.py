"""HOP windows, allowed lateness and the value-keeping aggregates (VARIANCE, PERCENTILE,
ARRAY_AGG) against a naive reference over random out-of-order batches."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from window_scenarios import millis, out_of_order_events, publish_batches, split_into_batches

import frys


def job(size: int, slide: int, delay: int, lateness: int) -> str:
    window = f"HOP({size}ms, {slide}ms)" if slide != size else f"TUMBLE({size}ms)"
    return f"""
        CREATE STREAM ev (k INT, v FLOAT, ts TIMESTAMP)
            WITH (event_time = ts, watermark = {delay}ms, lateness = {lateness}ms);
        SELECT k, window_start, window_end, COUNT(*) AS n, SUM(v) AS s, VARIANCE(v) AS var,
               PERCENTILE(v, 0.25) AS p25, ARRAY_AGG(v) AS vs
        FROM ev GROUP BY k, {window};
    """


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def reference(batches, size, slide, delay, lateness):
    """Event by event: an event joins each of its windows that is still open (end +
    lateness > the watermark of the events before it, whatever the batching); late if none
    is."""
    watermark = None
    windows: dict[tuple[int, int], list[float]] = defaultdict(list)
    late = 0
    for batch in batches:
        for k, v, ts in batch:
            starts = [s for s in range((ts - size) // slide * slide + slide, ts + 1, slide)]
            open_ = [s for s in starts
                     if watermark is None or s + size + lateness > watermark]
            if not open_:
                late += 1
            for s in open_:
                windows[(k, s)].append(v)
            watermark = ts - delay if watermark is None else max(watermark, ts - delay)
    rows = []
    for (k, s), values in windows.items():
        n = len(values)
        mean = sum(values) / n
        var = sum((x - mean) ** 2 for x in values) / (n - 1) if n > 1 else None
        rows.append((k, s, s + size, n, sum(values), var, percentile(values, 0.25), values))
    return sorted(rows, key=lambda r: (r[1], r[0])), late


@st.composite
def scenarios(draw):
    slide = draw(st.integers(1, 40))
    size = slide * draw(st.integers(1, 4))
    delay = draw(st.integers(0, 30))
    lateness = draw(st.sampled_from([0, 0, 10, 50]))
    # events up to 80 ms behind the newest: some within delay/lateness, some late
    events = out_of_order_events(
        draw, count_max=40, step_max=15, behind_max=80, start=draw(st.integers(-200, 200)),
        values=st.integers(-50, 50).map(float))
    return size, slide, delay, lateness, split_into_batches(draw, events)


@settings(max_examples=120, deadline=None)
@given(scenarios())
def test_hop_windows_with_lateness_equal_the_reference(scenario) -> None:
    size, slide, delay, lateness, batches = scenario
    pipeline = frys.Pipeline.from_text(job(size, slide, delay, lateness))
    publish_batches(pipeline, batches)
    pipeline.finish()
    expected, late = reference(batches, size, slide, delay, lateness)
    frame = pipeline.results("select_1")
    actual = sorted(
        ((r["k"], millis(r["window_start"]), millis(r["window_end"]), r["n"], r["s"], r["var"],
          r["p25"], r["vs"]) for r in frame.to_dicts()),
        key=lambda r: (r[1], r[0]))
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got[:5] == want[:5]
        for value, reference_value in ((got[5], want[5]), (got[6], want[6])):
            assert (value is None) == (reference_value is None)
            if value is not None:
                assert value == pytest.approx(reference_value, rel=1e-9, abs=1e-9)
        assert got[7] == want[7]  # ARRAY_AGG: every value in arrival order
    assert pipeline.stats.late_events["select_1"] == late


def test_an_event_counts_in_its_younger_hop_windows_after_the_older_ones_fired() -> None:
    #   HOP(10 ms, 5 ms), no delay
    #   windows:  [0,10) [5,15) [10,20)
    #   batch 1:  ts=12            -> watermark 12: [0,10) fires (empty of this event)
    #   batch 2:  ts=7 (old)       -> [0,10) has fired; [5,15) still open: 7 goes there only
    pipeline = frys.Pipeline.from_text(job(10, 5, 0, 0))
    pipeline.publish("ev", [{"k": 1, "v": 1.0, "ts": 12}])
    pipeline.publish("ev", [{"k": 1, "v": 2.0, "ts": 7}])
    pipeline.finish()
    rows = {millis(r["window_start"]): r["vs"]
            for r in pipeline.results("select_1").to_dicts()}
    assert rows == {5: [1.0, 2.0], 10: [1.0]}
    assert pipeline.stats.late_events["select_1"] == 0


def test_lateness_keeps_a_window_open_past_its_end() -> None:
    #   TUMBLE(10 ms), lateness 5 ms
    #   batch 1: ts=12 -> watermark 12: [0,10) ended but accepts until watermark 15
    #   batch 2: ts=3  -> joins [0,10)
    #   batch 3: ts=16 -> watermark 16 >= 10 + 5: [0,10) fires, holding the event at 3
    #   batch 4: ts=4  -> late: dropped and counted
    pipeline = frys.Pipeline.from_text(job(10, 10, 0, 5))
    for ts in (12, 3, 16, 4):
        pipeline.publish("ev", [{"k": 1, "v": float(ts), "ts": ts}])
    first = pipeline.results("select_1").to_dicts()
    assert [(r["n"], r["vs"]) for r in first] == [(1, [3.0])]
    pipeline.finish()
    assert pipeline.stats.late_events["select_1"] == 1


@pytest.mark.parametrize("window", ["TUMBLE(10ms)", "HOP(10ms, 5ms)", "SESSION(10ms)"])
def test_late_events_go_to_the_late_stream_with_their_fields(window: str) -> None:
    pipeline = frys.Pipeline.from_text(f"""
        CREATE STREAM ev (k INT, v FLOAT, note STRING, ts TIMESTAMP)
            WITH (event_time = ts, late = ev_late);
        CREATE STREAM ev_late;
        SELECT k, COUNT(*) AS n FROM ev WHERE v > 0 GROUP BY k, {window};
        SELECT note, ts FROM ev_late;
    """.replace("CREATE STREAM ev_late;",
                "CREATE STREAM ev_late WITH (sink = 'file:late.jsonl');"), base_dir="/tmp")
    pipeline.publish("ev", [{"k": 1, "v": 1.0, "note": "on time", "ts": 100}])
    pipeline.publish("ev", [{"k": 1, "v": 1.0, "note": "late", "ts": 50},
                            {"k": 1, "v": -1.0, "note": "filtered", "ts": 40},
                            {"k": 2, "v": 2.0, "note": "on time too", "ts": 100}])
    pipeline.finish()
    late = pipeline.results("select_2")
    assert late["note"].to_list() == ["late"]
    assert pipeline.stats.late_events["select_1"] == 1
    assert sorted(set(pipeline.results("select_1")["k"].to_list())) == [1, 2]
