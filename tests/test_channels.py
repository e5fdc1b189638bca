"""The engine's channels (engine/channel.py) on their own, with no bus topic: the event-time
bookkeeping a channel keeps (ChannelClock) and a query (QueryRunner) reading channels through
the engine's protocols alone, as a bytewax stream will drive them.

The rules: a channel's watermark is the minimum over its producers' (a lazy producer holds it
only once active; an idle one not at all); a forwarded watermark never moves it past another
producer; every row is judged under the watermark as it stood after the rows before it,
whatever the batching; the end of time comes when every producer is done.
"""

from __future__ import annotations

import copy

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from window_scenarios import out_of_order_events, split_into_batches

import frys
from frys.connectors.bus import Producer as TopicProducer
from frys.connectors.bus import Topic
from frys.dsl import compile_text
from frys.dsl.types import TIMESTAMP_DTYPE
from frys.engine.channel import (
    ChannelClock,
    ChannelWriter,
    Delivery,
    NamedChannel,
    Producer,
    Receiver,
)
from frys.engine.job_stats import JobStats
from frys.engine.planner import plan
from frys.engine.query_runner import QueryRunner
from frys.engine.time import END_OF_TIME, START_OF_TIME, event_time_millis


def ms(*times: int | None) -> pl.Series:
    return pl.Series("t", list(times), dtype=pl.Int64)


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --- the clock alone ---------------------------------------------------------------------

def test_the_watermark_is_the_minimum_over_producers() -> None:
    clock = ChannelClock("ts", delay_ms=10)
    a, b = clock.add_producer(), clock.add_producer()
    assert clock.watermark == START_OF_TIME
    assert not clock.observe(a, ms(1000, 1500))  # b holds it at the start of time
    assert clock.watermark == START_OF_TIME
    assert clock.observe(b, ms(700))
    assert clock.watermark == 690  # min(1500 - 10, 700 - 10)
    assert clock.observe(b, ms(2000, 1800))
    assert clock.watermark == 1490  # a's turn to hold it
    assert clock.combined.watermarks == [1490, 1990]
    assert clock.latest_event_ms == [1500, 2000]


def test_an_older_batch_never_moves_the_watermark_back() -> None:
    clock = ChannelClock("ts", delay_ms=0)
    p = clock.add_producer()
    clock.observe(p, ms(500))
    assert not clock.observe(p, ms(100, None, 200))
    assert clock.watermark == 500
    assert clock.latest_event_ms == [500]


def test_a_lazy_producer_holds_the_watermark_only_once_it_published() -> None:
    clock = ChannelClock("ts")
    source = clock.add_producer()
    api = clock.add_producer(lazy=True)
    assert clock.observe(source, ms(1000))
    assert clock.watermark == 1000  # the silent lazy producer holds nothing back
    assert not clock.observe(api, ms(400))  # now it holds: the minimum is its 400, and
    assert clock.watermark == 1000  # the watermark never goes back
    assert not clock.observe(source, ms(3000))
    assert clock.watermark == 1000
    assert clock.observe(api, ms(2000))
    assert clock.watermark == 2000


def test_forwarding_never_moves_the_watermark_past_another_producer() -> None:
    clock = ChannelClock("ts", delay_ms=5)
    query, source = clock.add_producer(), clock.add_producer()
    clock.observe(source, ms(300))
    assert clock.forward(query, 10_000)
    assert clock.watermark == 295  # the source's, not the forwarded 10 s
    assert clock.combined.watermarks[query] == 10_000
    assert clock.observe(source, ms(20_000))
    assert clock.watermark == 10_000  # now the forwarded one is the minimum
    # a forwarded watermark below the producer's own changes nothing
    assert not clock.forward(query, 50)
    assert clock.combined.watermarks[query] == 10_000


def test_forwarding_is_ignored_without_event_time_after_done_and_after_the_end() -> None:
    untimed = ChannelClock(None)
    p = untimed.add_producer()
    assert not untimed.forward(p, 100)
    assert untimed.combined.watermarks == [START_OF_TIME]
    clock = ChannelClock("ts")
    a, b = clock.add_producer(), clock.add_producer()
    clock.producer_done(a)
    assert not clock.forward(a, 100)
    assert clock.combined.watermarks[a] == START_OF_TIME
    clock.producer_done(b)
    assert not clock.forward(b, 100)
    assert clock.watermark == END_OF_TIME


@st.composite
def producer_histories(draw):
    """Producers (some lazy) and a history of batches and forwarded watermarks."""
    lazy = draw(st.lists(st.booleans(), min_size=1, max_size=4))
    steps = draw(st.lists(st.tuples(
        st.integers(0, len(lazy) - 1), st.booleans(),
        st.lists(st.integers(0, 1000), min_size=1, max_size=4)), max_size=12))
    return lazy, steps, draw(st.integers(0, 50))


@settings(max_examples=150, deadline=None)
@given(producer_histories())
def test_the_watermark_against_a_model(history) -> None:
    # the model: each producer's watermark is the highest of (max time - delay) and what it
    # forwarded; the channel's is the running maximum of the minimum over the producers
    # holding it (not lazy, or active since)
    lazy, steps, delay = history
    clock = ChannelClock("ts", delay_ms=delay)
    indexes = [clock.add_producer(flag) for flag in lazy]
    own = [START_OF_TIME] * len(lazy)
    holding = [not flag for flag in lazy]
    expected = START_OF_TIME
    for producer, forwarded, times in steps:
        before = clock.watermark
        if forwarded:
            moved = clock.forward(indexes[producer], times[0])
            own[producer] = max(own[producer], times[0])
        else:
            moved = clock.observe(indexes[producer], ms(*times))
            own[producer] = max(own[producer], max(times) - delay)
        holding[producer] = True
        expected = max(expected, min(w for w, h in zip(own, holding, strict=True) if h))
        assert clock.watermark == expected
        assert moved == (expected != before)


def naive_arrivals(clock: ChannelClock, producer: int, times: list[int | None]) -> list[int]:
    """The watermark each row arrives under, by publishing the rows one at a time to a copy
    of the channel: what the channel's is just before the row."""
    alone = copy.deepcopy(clock)
    seen = []
    for value in times:
        seen.append(alone.watermark)
        alone.observe(producer, ms(value))
    return seen


@st.composite
def batches_after_a_history(draw):
    lazy, steps, delay = draw(producer_histories())
    producer = draw(st.integers(0, len(lazy) - 1))
    times = draw(st.lists(st.one_of(st.integers(0, 1200), st.none()), min_size=1,
                          max_size=12))
    return lazy, steps, delay, producer, times


@settings(max_examples=300, deadline=None)
@given(batches_after_a_history())
def test_arrival_watermarks_are_those_of_rows_published_one_at_a_time(case) -> None:
    lazy, steps, delay, producer, times = case
    clock = ChannelClock("ts", delay_ms=delay)
    for flag in lazy:
        clock.add_producer(flag)
    for index, forwarded, history in steps:
        if forwarded:
            clock.forward(index, history[0])
        else:
            clock.observe(index, ms(*history))
    expected = naive_arrivals(clock, producer, times)
    got = clock.arrivals(producer, ms(*times), wanted=True)
    assert got is not None and got.to_list() == expected
    # unwanted: None exactly when no row is behind the watermark it arrived under
    behind = any(t is not None and t < w for t, w in zip(times, expected, strict=True))
    unwanted = clock.arrivals(producer, ms(*times))
    assert (unwanted is None) == (not behind)
    if unwanted is not None:
        assert unwanted.to_list() == expected
    # and the batch moves the watermark as the rows one at a time would have
    alone = copy.deepcopy(clock)
    for value in times:
        alone.observe(producer, ms(value))
    clock.observe(producer, ms(*times))
    assert clock.watermark == alone.watermark
    assert clock.combined.watermarks == alone.combined.watermarks


def test_an_out_of_order_batch_judges_each_row_under_its_own_watermark() -> None:
    clock = ChannelClock("ts", delay_ms=100)
    p = clock.add_producer()
    clock.observe(p, ms(1000))  # watermark 900
    arrivals = clock.arrivals(p, ms(1500, 950, 1700, 1300))
    # 950 arrives after 1500 (watermark 1400): behind; 1300 after 1700 (1600): behind
    assert arrivals is not None
    assert arrivals.to_list() == [900, 1400, 1400, 1600]
    assert clock.arrivals(p, ms(1000, 1200, 1250)) is None  # in order: nothing to say


def test_an_idle_producer_stops_holding_the_watermark_and_its_return_is_late() -> None:
    wall = FakeClock()
    clock = ChannelClock("ts", idle_timeout_ms=10_000, clock=wall)
    busy, silent = clock.add_producer(), clock.add_producer()
    wall.now = 5.0
    clock.observe(busy, ms(5000))
    assert clock.watermark == START_OF_TIME  # the silent one holds it
    wall.now = 9.9
    assert not clock.check_idle()
    wall.now = 10.1
    assert clock.check_idle()
    assert clock.watermark == 5000
    assert clock.combined.holding == [True, False]
    # it resumes behind the watermark: its events arrive under 5000, so they are late
    arrivals = clock.arrivals(silent, ms(3000, 3100))
    assert arrivals is not None and arrivals.to_list() == [5000, 5000]
    clock.observe(silent, ms(3000, 3100))
    assert clock.watermark == 5000
    assert clock.combined.holding == [True, True]


def test_every_producer_idle_moves_the_watermark_to_the_highest() -> None:
    wall = FakeClock()
    clock = ChannelClock("ts", idle_timeout_ms=1000, clock=wall)
    a, b = clock.add_producer(), clock.add_producer()
    clock.observe(a, ms(100))
    clock.observe(b, ms(700))
    assert clock.watermark == 100
    wall.now = 5.0
    assert clock.check_idle()
    assert clock.watermark == 700  # Flink's rule: all said what they will for now


def test_no_idleness_without_event_time_or_after_the_end() -> None:
    wall = FakeClock()
    untimed = ChannelClock(None, idle_timeout_ms=1, clock=wall)
    untimed.add_producer()
    wall.now = 100.0
    assert not untimed.check_idle()
    clock = ChannelClock("ts", idle_timeout_ms=1, clock=wall)
    clock.producer_done(clock.add_producer())
    wall.now = 200.0
    assert not clock.check_idle()


def test_the_end_of_time_comes_when_every_producer_is_done() -> None:
    clock = ChannelClock("ts")
    a, b, c = clock.add_producer(), clock.add_producer(), clock.add_producer(lazy=True)
    clock.observe(a, ms(1000))
    clock.observe(b, ms(400))
    assert clock.producer_done(b)  # a's 1000 alone now
    assert clock.watermark == 1000 and not clock.ended
    assert not clock.producer_done(c)  # lazy and silent: it held nothing back
    assert not clock.ended
    assert clock.producer_done(a)
    assert clock.ended and clock.watermark == END_OF_TIME
    assert not clock.producer_done(a)  # once
    with pytest.raises(RuntimeError, match="ended"):
        clock.add_producer()


def test_a_channel_without_event_time_ends_too() -> None:
    clock = ChannelClock(None)
    a, b = clock.add_producer(), clock.add_producer()
    assert not clock.producer_done(a)  # no watermark to announce before the end
    assert clock.producer_done(b)
    assert clock.ended and clock.watermark == END_OF_TIME


def stamped(batch: dict[str, list[int]]) -> pl.DataFrame:
    return pl.DataFrame(batch, schema={"v": pl.Int64, "ts": pl.Int64}).with_columns(
        pl.col("ts").cast(TIMESTAMP_DTYPE))


def test_max_future_refuses_events_far_ahead_and_counts_positions_across_batches() -> None:
    clock = ChannelClock("ts", delay_ms=0, max_future_ms=1000)
    p = clock.add_producer()
    first = stamped({"v": [1, 2], "ts": [5000, 5500]})
    # before any watermark, "now" is the wall clock's: 6000 here
    split = clock.split_far_future(p, first, now_ms=6000)
    assert split.refused is None and split.kept.equals(first) and split.positions == []
    clock.observe(p, clock.event_times(split.kept))
    second = stamped({"v": [3, 4, 5, 6], "ts": [6000, 9000, 6400, 7500]})
    split = clock.split_far_future(p, second, now_ms=0)
    # 9000 is 3 s past 6000's watermark; 7500 is 1.1 s past 6400's: the refused ones
    # moved nothing, so each later event is compared with the accepted ones only
    assert split.kept["v"].to_list() == [3, 5]
    assert split.refused is not None and split.refused["v"].to_list() == [4, 6]
    assert split.positions == [3, 5]  # among every event the producer offered
    assert clock.offered == [6]


def test_max_future_on_a_channel_without_event_time_counts_only() -> None:
    clock = ChannelClock(None, max_future_ms=10)
    p = clock.add_producer()
    batch = pl.DataFrame({"v": [1, 2, 3]})
    split = clock.split_far_future(p, batch, now_ms=0)
    assert split.kept is batch and split.refused is None
    assert clock.offered == [3]


def test_event_times_are_epoch_milliseconds_whatever_the_unit() -> None:
    millis = pl.Series([0, 1500, None], dtype=pl.Int64)
    for unit in ("ms", "us", "ns"):
        column = millis.cast(pl.Datetime("ms")).cast(pl.Datetime(unit))
        assert event_time_millis(column).to_list() == [0, 1500, None]
        assert event_time_millis(column).dtype == pl.Int64


# --- the topic as one implementation -------------------------------------------------------

class Recorder:
    """A receiver: what it heard, in order."""

    def __init__(self, want: bool = False) -> None:
        self.want = want
        self.heard: list[tuple[str, object]] = []

    def wants_arrivals(self, rows: int) -> bool:
        return self.want

    def on_delivery(self, channel: NamedChannel, delivery: Delivery) -> None:
        arrivals = None if delivery.arrivals is None else delivery.arrivals.to_list()
        self.heard.append(("batch", (channel.name, delivery.batch["v"].to_list(), arrivals)))

    def on_watermark(self, channel: NamedChannel, watermark: int) -> None:
        self.heard.append(("watermark", watermark))

    def on_end(self, channel: NamedChannel) -> None:
        self.heard.append(("end", channel.name))


class Plain:
    """A subscriber that is not a receiver: it keeps getting on_batch(topic, batch)."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None:
        self.batches.append(batch["v"].to_list())

    def on_watermark(self, topic: Topic, watermark: int) -> None:
        pass

    def on_end(self, topic: Topic) -> None:
        pass


def test_a_topic_hands_receivers_the_arrivals_and_others_the_batch() -> None:
    topic = Topic("ev", None, "ts", watermark_delay_ms=100)
    receiver, wanting, plain = Recorder(), Recorder(want=True), Plain()
    assert isinstance(receiver, Receiver) and not isinstance(plain, Receiver)
    topic.subscribe(receiver)
    topic.subscribe(plain)
    producer = topic.add_producer("api")
    assert isinstance(producer, Producer) and isinstance(producer, TopicProducer)
    writer: ChannelWriter = producer  # what a query's output types against
    writer.publish(stamped({"v": [1], "ts": [1000]}))  # in order: no arrivals to hand
    writer.publish(stamped({"v": [2, 3, 4], "ts": [1500, 950, 1200]}))
    topic.subscribe(wanting)  # it asks for the arrivals of every batch: all get them
    writer.publish(stamped({"v": [5], "ts": [1600]}))
    assert receiver.heard == [
        ("batch", ("ev", [1], None)), ("watermark", 900),
        ("batch", ("ev", [2, 3, 4], [900, 1400, 1400])), ("watermark", 1400),
        ("batch", ("ev", [5], [1400])), ("watermark", 1500)]
    assert wanting.heard == receiver.heard[-2:]
    assert plain.batches == [[1], [2, 3, 4], [5]]
    writer.finish()
    assert receiver.heard[-2:] == [("watermark", END_OF_TIME), ("end", "ev")]
    assert topic.ended and topic.watermark.current == END_OF_TIME


def test_an_unsubscribed_receiver_hears_nothing_more() -> None:
    topic = Topic("ev", None, "ts")
    receiver = Recorder()
    topic.subscribe(receiver)
    producer = topic.add_producer("api")
    producer.publish(stamped({"v": [1], "ts": [10]}))
    topic.unsubscribe(receiver)
    producer.publish(stamped({"v": [2], "ts": [20]}))
    assert [kind for kind, _ in receiver.heard] == ["batch", "watermark"]


# --- a query between channels of another transport ---------------------------------------

class MemoryChannel:
    """A transport of the test's own, not the bus: a ChannelClock, and receivers told each
    batch with its arrivals, then the watermark if it moved; as a bytewax step will."""

    def __init__(self, name: str, event_time: str | None, delay_ms: int = 0) -> None:
        self.name = name
        self.clock = ChannelClock(event_time, delay_ms)
        self.receivers: list[Receiver] = []
        self.batches: list[pl.DataFrame] = []

    def writer(self, name: str, lazy: bool = False) -> Producer:
        return Producer(self, name, self.clock.add_producer(lazy))

    def publish(self, batch: pl.DataFrame, producer: Producer) -> None:
        self.batches.append(batch)
        if self.clock.event_time is None:
            for receiver in self.receivers:
                receiver.on_delivery(self, Delivery(batch))
            return
        times = self.clock.event_times(batch)
        wanted = any(r.wants_arrivals(batch.height) for r in self.receivers)
        delivery = Delivery(batch, self.clock.arrivals(producer.index, times, wanted))
        for receiver in self.receivers:
            receiver.on_delivery(self, delivery)
        if self.clock.observe(producer.index, times):
            self._announce()

    def forward_watermark(self, producer: Producer, watermark: int) -> None:
        if self.clock.forward(producer.index, watermark):
            self._announce()

    def producer_done(self, producer: Producer) -> None:
        if self.clock.producer_done(producer.index):
            self._announce()
            if self.clock.ended:
                for receiver in self.receivers:
                    receiver.on_end(self)

    def _announce(self) -> None:
        for receiver in self.receivers:
            receiver.on_watermark(self, self.clock.watermark)


JOB = ("CREATE STREAM ev (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, "
       "watermark = 5ms, lateness = 3ms, late = late_ev);\nCREATE STREAM late_ev;\n"
       "SELECT k, window_start, COUNT(*) AS n, SUM(v) AS s FROM ev GROUP BY k, TUMBLE(10ms);")


def frame(events) -> pl.DataFrame:
    return pl.DataFrame({"k": [e[0] for e in events], "v": [int(e[1]) for e in events],
                         "ts": [e[2] for e in events]},
                        schema={"k": pl.Int64, "v": pl.Int64, "ts": pl.Int64}
                        ).with_columns(pl.col("ts").cast(TIMESTAMP_DTYPE))


def sorted_rows(batches: list[pl.DataFrame]) -> list[tuple]:
    if not batches:
        return []
    return sorted(pl.concat(batches).rows())


@st.composite
def batched_events(draw):
    return split_into_batches(draw, out_of_order_events(draw, count_max=40, step_max=4,
                                                        behind_max=15))


@settings(max_examples=40, deadline=None)
@given(batched_events())
def test_a_query_over_engine_channels_does_what_it_does_over_the_bus(batches) -> None:
    (node,) = plan(compile_text(JOB)).queries
    ev = MemoryChannel("ev", "ts", delay_ms=5)
    out = MemoryChannel(node.output_topic, "window_start")
    late_ev = MemoryChannel("late_ev", None)
    stats = JobStats()
    runner = QueryRunner(node, out.writer("query"), stats,
                         late={"ev": late_ev.writer("late", lazy=True)})
    ev.receivers.append(runner)
    api = ev.writer("api", lazy=True)
    pipeline = frys.Pipeline.from_text(JOB)
    late_over_bus: list[pl.DataFrame] = []
    pipeline.subscribe("late_ev", late_over_bus.append)
    for batch in batches:
        api.publish(frame(batch))
        pipeline.publish("ev", frame(batch))
    api.finish()
    pipeline.finish()
    assert out.clock.ended and late_ev.clock.ended
    assert sorted_rows(out.batches) == sorted(pipeline.results(node.output_topic).rows())
    assert sorted_rows(late_ev.batches) == sorted_rows(late_over_bus)
    assert stats.late_events == pipeline.stats.late_events
