"""ROWS(n) and ROWS(n, slide) count windows, in event-time order, against a naive reference
over random out-of-order batches."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from window_scenarios import millis, out_of_order_events, publish_batches, split_into_batches

import frys


def job(rows: int, slide: int, delay: int) -> str:
    window = f"ROWS({rows})" if rows == slide else f"ROWS({rows}, {slide})"
    return f"""
        CREATE STREAM ev (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, watermark = {delay}ms);
        SELECT k, window_start, window_end, COUNT(*) AS n, ARRAY_AGG(v) AS vs
        FROM ev GROUP BY k, {window};
    """


def reference(batches, rows, slide, delay):
    watermark = None
    buffer: list[tuple[int, int, int, int]] = []  # (k, ts, arrival, v)
    numbered: dict[int, list[tuple[int, int]]] = {}  # k -> [(ts, v)] in event-time order
    late = arrival = 0

    def release(limit):
        nonlocal buffer
        ready = sorted((e for e in buffer if e[1] <= limit), key=lambda e: (e[0], e[1], e[2]))
        buffer = [e for e in buffer if e[1] > limit]
        for k, ts, _, v in ready:
            numbered.setdefault(k, []).append((ts, v))

    for batch in batches:
        for k, v, ts in batch:
            if watermark is not None and ts <= watermark:
                late += 1
            else:
                buffer.append((k, ts, arrival, v))
            arrival += 1
        latest = max(ts for _, _, ts in batch) - delay
        watermark = latest if watermark is None else max(watermark, latest)
        release(watermark)
    release(float("inf"))
    windows = []
    for k, events in numbered.items():
        start = 0
        while start + rows <= len(events):
            chunk = events[start:start + rows]
            windows.append((k, chunk[0][0], max(ts for ts, _ in chunk) + 1, rows,
                            [v for _, v in chunk]))
            start += slide
    return sorted(windows), late


@st.composite
def scenarios(draw):
    slide = draw(st.integers(1, 3))
    rows = slide * draw(st.integers(1, 3)) if draw(st.booleans()) else slide
    delay = draw(st.integers(0, 20))
    events = out_of_order_events(draw, count_max=40, step_max=6, behind_max=30)
    return rows, slide, delay, split_into_batches(draw, events)


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_count_windows_equal_the_reference(scenario) -> None:
    rows, slide, delay, batches = scenario
    pipeline = frys.Pipeline.from_text(job(rows, slide, delay))
    publish_batches(pipeline, batches)
    pipeline.finish()
    expected, late = reference(batches, rows, slide, delay)
    actual = sorted(
        (r["k"], millis(r["window_start"]),
         millis(r["window_end"]), r["n"], r["vs"])
        for r in pipeline.results("select_1").to_dicts())
    assert actual == expected
    assert pipeline.stats.late_events["query 1"] == late


def test_short_windows_at_the_end_do_not_fire_and_are_counted() -> None:
    #   ROWS(3): key 1 gets 4 events -> one window of 3; the 4th waits for two more and the
    #   input ends: it does not fire, and is counted as an incomplete window
    pipeline = frys.Pipeline.from_text(job(3, 3, 0))
    pipeline.publish("ev", [{"k": 1, "v": i, "ts": i} for i in range(4)])
    pipeline.finish()
    assert pipeline.results("select_1")["vs"].to_list() == [[0, 1, 2]]
    assert pipeline.runtime.queries[0].operator.incomplete_windows == 1


def test_the_cli_reports_short_count_windows(tmp_path, capsys) -> None:
    from frys.cli import main

    (tmp_path / "ev.jsonl").write_text("".join(
        f'{{"k": 1, "v": {i}, "ts": {i}}}\n' for i in range(5)))
    job_file = tmp_path / "rows.frysql"
    job_file.write_text(job(2, 2, 0).replace("WITH (event_time = ts,",
                                             "WITH (source = 'file:ev.jsonl', event_time = ts,"))
    assert main(["run", str(job_file)]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert "count windows still short at the end (not fired): query 1: 1" in captured.err
