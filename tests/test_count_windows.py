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


def arrivals(batches, delay):
    """The stream as a count window sees it (docs/language.md, "Event time"): each event
    arrives under the watermark of the events before it (max event time - delay), whatever
    the batching. Yields ("event", (k, v, ts), watermark) per event, ("release", watermark)
    where the operator hears the new watermark (after each batch), then ("batch end",)."""
    watermark = float("-inf")
    latest = float("-inf")
    for batch in batches:
        for k, v, ts in batch:
            yield ("event", (k, v, ts), max(watermark, latest - delay))
            latest = max(latest, ts)
        watermark = max(watermark, latest - delay)
        yield ("release", watermark)
        yield ("batch end",)


def reference(batches, rows, slide, delay):
    buffer: list[tuple[int, int, int, int]] = []  # (k, ts, arrival, v)
    numbered: dict[int, list[tuple[int, int]]] = {}  # k -> [(ts, v)] in event-time order
    late = arrival = 0

    def release(limit):
        nonlocal buffer
        ready = sorted((e for e in buffer if e[1] < limit), key=lambda e: (e[0], e[1], e[2]))
        buffer = [e for e in buffer if e[1] >= limit]
        for k, ts, _, v in ready:
            numbered.setdefault(k, []).append((ts, v))

    for step in arrivals(batches, delay):
        if step[0] == "event":
            (k, v, ts), watermark = step[1], step[2]
            if ts < watermark:  # behind the watermark: late (at it: on time)
                late += 1
            else:
                buffer.append((k, ts, arrival, v))
            arrival += 1
        elif step[0] == "release":
            release(step[1])
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
    assert pipeline.stats.late_events["select_1"] == late


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
    assert "count windows still short at the end (not fired): select_1: 1" in captured.err


def changes_reference(batches, rows, slide, delay):
    """EMIT CHANGES: per publish (one watermark release), the updated row of every (key,
    window) the released events joined, short windows included."""
    buffer: list[tuple[int, int, int, int]] = []  # (k, ts, arrival, v)
    count: dict[int, int] = {}  # k -> events numbered so far
    windows: dict[tuple[int, int], list[tuple[int, int]]] = {}  # (k, w) -> [(ts, v)]
    arrival = 0

    def release(limit):
        nonlocal buffer
        ready = sorted((e for e in buffer if e[1] < limit), key=lambda e: (e[0], e[1], e[2]))
        buffer = [e for e in buffer if e[1] >= limit]
        touched = set()
        for k, ts, _, v in ready:
            seq = count.get(k, 0)
            count[k] = seq + 1
            first = max(0, -(-(seq - rows + 1) // slide))
            for w in range(first, seq // slide + 1):
                windows.setdefault((k, w), []).append((ts, v))
                touched.add((k, w))
        return sorted((k, windows[k, w][0][0], max(ts for ts, _ in windows[k, w]) + 1,
                       len(windows[k, w]), [v for _, v in windows[k, w]])
                      for k, w in touched)

    releases: list[list] = [[]]
    for step in arrivals(batches, delay):
        if step[0] == "event":
            (k, v, ts), watermark = step[1], step[2]
            if ts >= watermark:
                buffer.append((k, ts, arrival, v))
            arrival += 1
        elif step[0] == "release":
            releases[-1].extend(release(step[1]))
        else:
            releases[-1].sort()
            releases.append([])
    releases[-1].extend(release(float("inf")))
    return releases


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_count_windows_emit_changes_equal_the_reference(scenario) -> None:
    rows, slide, delay, batches = scenario
    pipeline = frys.Pipeline.from_text(job(rows, slide, delay).rstrip().rstrip(";")
                                       + " EMIT CHANGES;")
    emitted: list[list[dict]] = []
    pipeline.subscribe("select_1", lambda frame: emitted[-1].extend(frame.to_dicts()))
    for batch in [*batches, None]:
        emitted.append([])
        if batch is None:
            pipeline.finish()
        else:
            publish_batches(pipeline, [batch])
    actual = [sorted((r["k"], millis(r["window_start"]), millis(r["window_end"]), r["n"],
                      r["vs"]) for r in rows_) for rows_ in emitted]
    assert actual == changes_reference(batches, rows, slide, delay)


def test_emit_every_gives_short_windows_early_rows_in_event_time() -> None:
    #   ROWS(3) EMIT EVERY 10ms, one key; the watermark is the newest event time, and it
    #   releases the events behind it (one at the watermark waits, as in Flink)
    #   ts        0 4 | 12 | 15 | 21        (| : one publish)
    #   wm          4   12   15   21        crossings of multiples of 10: 0, 10, -, 20
    #   released  0     4    12   15
    #   rows      [0] early; [0,1] early; [0,1,2] final (full); [3] early
    pipeline = frys.Pipeline.from_text(job(3, 3, 0).rstrip().rstrip(";")
                                       + " EMIT EVERY 10ms;")
    pipeline.publish("ev", [{"k": 1, "v": 0, "ts": 0}, {"k": 1, "v": 1, "ts": 4}])
    assert pipeline.results("select_1")["vs"].to_list() == [[0]]
    pipeline.publish("ev", [{"k": 1, "v": 2, "ts": 12}])
    assert pipeline.results("select_1")["vs"].to_list() == [[0], [0, 1]]
    pipeline.publish("ev", [{"k": 1, "v": 3, "ts": 15}])
    assert pipeline.results("select_1")["vs"].to_list() == [[0], [0, 1], [0, 1, 2]]
    pipeline.publish("ev", [{"k": 1, "v": 4, "ts": 21}])
    assert pipeline.results("select_1")["vs"].to_list() == [[0], [0, 1], [0, 1, 2], [3]]
    pipeline.finish()  # the short window [3, 4] does not fire at the end
    assert pipeline.results("select_1")["n"].to_list() == [1, 2, 3, 1]
