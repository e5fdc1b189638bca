"""The watermark of a stream with several producers is the minimum of theirs; an idle
producer stops holding it back after the stream's idle_timeout; queries forward their input's
watermark to outputs whose event time derives from it.

Timelines below: one column per 100 ms, `x` an event published by that producer, `|` where a
window [0, 1s) of the merged stream ends."""

from __future__ import annotations

from datetime import UTC

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import frys
from frys.engine.time import START_OF_TIME, CombinedWatermark

T0 = 1_700_000_000_000 - 1_700_000_000_000 % 1000  # a whole second


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def merged_job(idle: str = "") -> str:
    """Two source streams feed `merged` through one query each; a window counts `merged`."""
    return f"""
        CREATE STREAM left_in (k INT, ts TIMESTAMP) WITH (event_time = ts);
        CREATE STREAM right_in (k INT, ts TIMESTAMP) WITH (event_time = ts);
        CREATE STREAM merged (k INT, ts TIMESTAMP) WITH (event_time = ts{idle});
        INSERT INTO merged SELECT k, ts FROM left_in;
        INSERT INTO merged SELECT k, ts FROM right_in;
        SELECT window_start, COUNT(*) AS n FROM merged GROUP BY TUMBLE(1 SECOND);
    """


def at(ms: int) -> dict[str, object]:
    return {"k": 1, "ts": T0 + ms}


def starts(frame) -> list[int]:
    return [int(d.replace(tzinfo=UTC).timestamp() * 1000) - T0
            for d in frame["window_start"].to_list()]


def test_the_slower_producer_holds_the_merged_window_open() -> None:
    #   left_in   x . . . . . . . . . | . . x        left's watermark: 1.3 s
    #   right_in  . . . x . . . . . . | . . .        right's watermark: 0.3 s
    #   merged watermark = min = 0.3 s: window [0, 1s) stays open
    pipeline = frys.Pipeline.from_text(merged_job())
    pipeline.publish("left_in", [at(0), at(1300)])
    pipeline.publish("right_in", [at(300)])
    assert pipeline.results("select_1").height == 0
    #   right_in  . . . x . . . . . . | x            right moves to 1.1 s: the window fires
    pipeline.publish("right_in", [at(1100)])
    assert starts(pipeline.results("select_1")) == [0]
    assert pipeline.results("select_1")["n"].to_list() == [2]


def test_a_producer_that_never_published_holds_the_watermark_until_it_is_idle() -> None:
    clock = FakeClock()
    pipeline = frys.Pipeline.from_text(merged_job(", idle_timeout = 10 SECONDS"),
                                       clock=clock)
    pipeline.publish("left_in", [at(0), at(1500)])
    assert pipeline.results("select_1").height == 0  # right's query holds it at the start
    clock.now = 9.0
    pipeline.check_idle()
    assert pipeline.results("select_1").height == 0  # 9 s of silence: not idle yet
    clock.now = 10.5
    pipeline.check_idle()  # both silent 10.5 s: idle, so the highest (left's 1.5 s) counts
    assert starts(pipeline.results("select_1")) == [0]


def test_activity_on_the_other_input_also_detects_idleness() -> None:
    clock = FakeClock()
    pipeline = frys.Pipeline.from_text(merged_job(", idle_timeout = 2 SECONDS"),
                                       clock=clock)
    pipeline.publish("left_in", [at(0)])
    clock.now = 3.0
    pipeline.publish("left_in", [at(1200)])  # right silent for 3 s > 2 s
    assert starts(pipeline.results("select_1")) == [0]


def test_an_idle_producer_that_resumes_behind_the_watermark_sends_late_events() -> None:
    clock = FakeClock()
    pipeline = frys.Pipeline.from_text(merged_job(", idle_timeout = 1 SECOND"), clock=clock)
    pipeline.publish("left_in", [at(0)])
    clock.now = 5.0
    pipeline.publish("left_in", [at(2500)])  # right idle: watermark 2.5 s, [0,1s) fired
    pipeline.publish("right_in", [at(500), at(2600)])  # 500 ms is behind it: late
    pipeline.finish()
    result = pipeline.results("select_1")
    assert starts(result) == [0, 2000]
    assert result["n"].to_list() == [1, 2]
    assert pipeline.stats.total_late_events == 1


def test_without_idle_timeout_a_silent_producer_holds_until_the_end() -> None:
    clock = FakeClock()
    pipeline = frys.Pipeline.from_text(merged_job(), clock=clock)
    pipeline.publish("left_in", [at(0), at(5000)])
    clock.now = 3600.0
    pipeline.check_idle()
    assert pipeline.results("select_1").height == 0
    pipeline.finish()
    assert starts(pipeline.results("select_1")) == [0, 5000]


def test_a_filter_forwards_its_input_watermark() -> None:
    #   trades  x(big) . . . . . . . . . | x x x (small, up to 2 s)
    #   big     x      (nothing more)      watermark forwarded from trades: 2 s
    pipeline = frys.Pipeline.from_text("""
        CREATE STREAM trades (price FLOAT, ts TIMESTAMP) WITH (event_time = ts);
        CREATE STREAM big (price FLOAT, ts TIMESTAMP) WITH (event_time = ts);
        INSERT INTO big SELECT price, ts FROM trades WHERE price > 1000;
        SELECT window_start, COUNT(*) AS n FROM big GROUP BY TUMBLE(1 SECOND);
    """)
    pipeline.publish("trades", [{"price": 5000.0, "ts": T0}])
    pipeline.publish("trades", [{"price": 1.0, "ts": T0 + ms} for ms in (1000, 1500, 2000)])
    assert starts(pipeline.results("select_1")) == [0]


def test_a_window_forwards_its_watermark_to_an_output_timed_by_window_end() -> None:
    # per-second counts whose event time is window_end, re-windowed per 2 s: the second
    # query fires from the first query's forwarded watermark, though no row of the first
    # query carries a time past 2 s.
    pipeline = frys.Pipeline.from_text("""
        CREATE STREAM ev (k INT, ts TIMESTAMP) WITH (event_time = ts);
        CREATE STREAM per_second (n INT, window_end TIMESTAMP)
            WITH (event_time = window_end);
        INSERT INTO per_second SELECT COUNT(*) AS n, window_end FROM ev
            GROUP BY TUMBLE(1 SECOND);
        SELECT window_start, SUM(n) AS total FROM per_second GROUP BY TUMBLE(2 SECONDS);
    """)
    pipeline.publish("ev", [at(100), at(900), at(1500)])
    pipeline.publish("ev", [at(3999)])
    # ev's watermark is 3.999 s: per_second has rows timed 1 s (n=2) and 2 s (n=1, so in
    # [2s, 4s)); the forwarded 3.999 s closes [0, 2s), which holds only the first
    result = pipeline.results("select_1")
    assert starts(result) == [0]
    assert result["total"].to_list() == [2]


def test_idle_timeout_must_be_a_positive_interval() -> None:
    with pytest.raises(frys.FrysError, match="idle_timeout must be a positive interval"):
        frys.Pipeline.from_text(
            "CREATE STREAM s (ts TIMESTAMP) WITH (event_time = ts, idle_timeout = 'x');")


# ----------------------------------------------------------------- CombinedWatermark


def test_combined_watermark_is_the_minimum_and_never_moves_back() -> None:
    clock = FakeClock()
    combined = CombinedWatermark(None, clock)
    a, b = combined.add_input(), combined.add_input()
    assert not combined.advance(a, 100)
    assert combined.current == START_OF_TIME
    assert combined.advance(b, 50)
    assert combined.current == 50
    assert combined.advance(b, 300)
    assert combined.current == 100
    assert not combined.advance(a, 90)  # an input's own watermark never goes back either
    assert combined.current == 100
    assert combined.input_done(a)
    assert combined.current == 300


def test_a_lazy_input_holds_nothing_until_it_is_active() -> None:
    combined = CombinedWatermark(None, FakeClock())
    a, lazy = combined.add_input(), combined.add_input(lazy=True)
    assert combined.advance(a, 100)
    assert combined.current == 100
    assert not combined.advance(lazy, 20)  # now it holds, at 20: behind, no regress
    assert not combined.advance(a, 200)
    assert combined.current == 100
    assert combined.advance(lazy, 150)
    assert combined.current == 150


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["advance", "done", "tick"]),
                          st.integers(0, 1000), st.sampled_from([0.0, 0.4, 0.8, 1.5])),
                max_size=40))
def test_combined_watermark_against_a_model(steps) -> None:
    """The model: inputs active within the last second (timeout 1 s) and not done hold the
    watermark at the minimum of their own; with none holding it is the highest among the live
    (idle) ones; it never goes back."""
    clock = FakeClock()
    combined = CombinedWatermark(1000, clock)
    inputs = [combined.add_input() for _ in range(3)]
    own = [START_OF_TIME] * 3
    active_at = [0.0] * 3
    done = [False] * 3
    expected = START_OF_TIME
    for index, action, value, pause in steps:
        clock.now += pause
        if action == "advance" and not done[index]:
            combined.advance(inputs[index], value)
            own[index] = max(own[index], value)
            active_at[index] = clock.now
        elif action == "done":
            combined.input_done(inputs[index])
            done[index] = True
        else:
            combined.check_idle()
        holding = [own[i] for i in range(3)
                   if not done[i] and clock.now - active_at[i] <= 1.0]
        live = [own[i] for i in range(3) if not done[i]]
        if holding:
            expected = max(expected, min(holding))
        elif live:
            expected = max(expected, max(live))
        assert combined.current == expected
