"""SESSION windows: per-key sessions that merge when an event (possibly out of order)
bridges them, against a naive reference; plus the edge cases as timelines."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from window_scenarios import millis, out_of_order_events, publish_batches, split_into_batches

import frys


def job(gap: int, delay: int, lateness: int, changes: bool = False) -> str:
    return f"""
        CREATE STREAM ev (k INT, v INT, ts TIMESTAMP)
            WITH (event_time = ts, watermark = {delay}ms, lateness = {lateness}ms);
        SELECT k, window_start, window_end, COUNT(*) AS n, SUM(v) AS s, ARRAY_AGG(v) AS vs,
               FIRST(v) AS first_v, LAST(v) AS last_v
        FROM ev GROUP BY k, SESSION({gap}ms){' EMIT CHANGES' if changes else ''};
    """


def reference(batches, gap, delay, lateness):
    """Sessions as (start, end, [(ts, arrival, v)]) per key, merged batch by batch, each
    batch under the watermark of the batches before it. The engine's rule is that every
    event sees the watermark of the events before it whatever the batching, so it must
    agree with this reference fed one event per batch (`one_by_one`)."""
    open_sessions: dict[int, list[tuple[int, int, list, bool]]] = {}
    fired = []
    watermark = None
    late = 0
    arrival = 0
    for batch in batches:
        by_key: dict[int, list] = {}
        for k, v, ts in batch:
            by_key.setdefault(k, []).append((ts, ts + gap, [(ts, arrival, v)], False))
            arrival += 1
        for k, pieces in by_key.items():
            rows = sorted([(s, e, vs, True) for s, e, vs, _ in open_sessions.get(k, [])]
                          + pieces, key=lambda r: r[0])
            merged: list[list] = []
            for start, end, values, from_state in rows:
                if merged and start <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], end)
                    merged[-1][2] = merged[-1][2] + values
                    merged[-1][3] = merged[-1][3] or from_state
                else:
                    merged.append([start, end, values, from_state])
            kept = []
            for start, end, values, from_state in merged:
                if watermark is not None and not from_state and end + lateness < watermark:
                    late += len(values)
                else:
                    kept.append((start, end, values, True))
            open_sessions[k] = kept
        latest = max(ts for _, _, ts in batch) - delay
        watermark = latest if watermark is None else max(watermark, latest)
        for k in list(open_sessions):
            still = []
            for session in open_sessions[k]:
                (fired if session[1] + lateness < watermark else still).append(
                    (k, *session[:3]) if session[1] + lateness < watermark else session)
            open_sessions[k] = still
    for k, sessions in open_sessions.items():
        fired += [(k, s, e, vs) for s, e, vs, _ in sessions]
    rows = []
    for k, start, end, values in fired:
        ordered = sorted(values)  # by (ts, arrival): FIRST/LAST by event time, then arrival
        rows.append((k, start, end, len(values), sum(v for *_, v in values),
                     sorted(v for *_, v in values), ordered[0][2], ordered[-1][2]))
    return sorted(rows), late


def one_by_one(batches):
    return [[event] for batch in batches for event in batch]


@st.composite
def scenarios(draw):
    gap = draw(st.integers(1, 20))
    delay = draw(st.integers(0, 20))
    lateness = draw(st.sampled_from([0, 0, 15]))
    events = out_of_order_events(draw, count_max=30, step_max=12, behind_max=40,
                                 start=draw(st.integers(-100, 100)))
    return gap, delay, lateness, split_into_batches(draw, events)


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_sessions_equal_the_reference(scenario) -> None:
    gap, delay, lateness, batches = scenario
    pipeline = frys.Pipeline.from_text(job(gap, delay, lateness))
    publish_batches(pipeline, batches)
    pipeline.finish()
    expected, late = reference(one_by_one(batches), gap, delay, lateness)
    actual = sorted(
        (r["k"], millis(r["window_start"]),
         millis(r["window_end"]), r["n"], r["s"], sorted(r["vs"]),
         r["first_v"], r["last_v"]) for r in pipeline.results("select_1").to_dicts())
    assert actual == expected
    assert pipeline.stats.late_events["select_1"] == late


def test_an_out_of_order_event_bridges_two_sessions() -> None:
    #   SESSION(10 ms), watermark delay 100 ms (nothing fires early)
    #   a: 0 ----[0,10)          20 ----[20,30)      two sessions
    #   then 10: [10,20) touches both -> one session [0, 30)
    pipeline = frys.Pipeline.from_text(job(10, 100, 0))
    pipeline.publish("ev", [{"k": 1, "v": 1, "ts": 0}, {"k": 1, "v": 2, "ts": 20}])
    pipeline.publish("ev", [{"k": 1, "v": 3, "ts": 10}])
    pipeline.finish()
    rows = pipeline.results("select_1").to_dicts()
    assert [(r["n"], r["s"], millis(r["window_end"])) for r in rows] == [
        (3, 6, 30)]


def test_touching_intervals_merge_and_a_gap_splits() -> None:
    #   SESSION(10 ms): 0 -> [0,10); 10 -> [10,20) touches at 10: same session
    #   25 -> [25,35): 25 > 20, a new session
    pipeline = frys.Pipeline.from_text(job(10, 100, 0))
    pipeline.publish("ev", [{"k": 1, "v": 1, "ts": t} for t in (0, 10, 25)])
    pipeline.finish()
    rows = pipeline.results("select_1").to_dicts()
    assert [(millis(r["window_start"]), r["n"]) for r in rows] == [
        (0, 2), (25, 1)]


def test_a_watermark_at_the_session_end_does_not_close_it() -> None:
    #   SESSION(10 ms), no delay: 0 -> [0,10); an event at 10 would touch it and merge
    #   batch 1: 0, and another key at 10 -> watermark 10 = the session's end: still open
    #   batch 2: 10 for key 1 -> merges: one session [0, 20) with 2 events, whatever the cut
    pipeline = frys.Pipeline.from_text(job(10, 0, 0))
    pipeline.publish("ev", [{"k": 1, "v": 1, "ts": 0}, {"k": 2, "v": 0, "ts": 10}])
    assert pipeline.results("select_1").height == 0
    pipeline.publish("ev", [{"k": 1, "v": 2, "ts": 10}, {"k": 2, "v": 0, "ts": 11}])
    assert [(millis(r["window_start"]), millis(r["window_end"]), r["n"])
            for r in pipeline.results("select_1").to_dicts() if r["k"] == 1] == []
    pipeline.publish("ev", [{"k": 2, "v": 0, "ts": 21}])  # watermark 21 > 20: it fires
    assert [(millis(r["window_start"]), millis(r["window_end"]), r["n"])
            for r in pipeline.results("select_1").to_dicts() if r["k"] == 1] == [(0, 20, 2)]
    assert pipeline.stats.total_late_events == 0


def test_session_changes_are_emitted_as_the_session_grows() -> None:
    pipeline = frys.Pipeline.from_text(job(10, 100, 0, changes=True))
    pipeline.publish("ev", [{"k": 1, "v": 1, "ts": 0}])
    pipeline.publish("ev", [{"k": 1, "v": 2, "ts": 5}])
    pipeline.finish()
    rows = pipeline.results("select_1").to_dicts()
    assert [(r["n"], millis(r["window_end"])) for r in rows] == [
        (1, 10), (2, 15)]
