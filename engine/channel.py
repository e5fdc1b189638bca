"""Channels: the edges of a job graph, carrying batches and event time between its nodes.

A channel has producers (sources, queries writing to it, the API) that write through a
`ChannelWriter`, and receivers (queries) that hear each batch, each advance of its
watermark and its end. The event time of a channel is a `ChannelClock`: each producer's
watermark (the largest event time it published minus the stream's delay, or one its query
forwarded), the channel's (the minimum over its producers, engine/time.py
CombinedWatermark), the watermark each row of a batch arrived under, idleness, and the end
of time once every producer is done. The clock is a value of its own, not part of any
transport: the in-process bus topic (connectors/bus.py Topic) holds one and delegates to
it; a bytewax stream, where watermarks travel in-band as marker items, will keep one per
downstream step over its upstream partitions.

What a receiver gets is explicit: `on_delivery(channel, Delivery(batch, arrivals))`, where
`arrivals` is the watermark each row arrived under (None when every row arrived under the
channel's current one, the common case), so that lateness never depends on how a source
cuts its input (docs/language.md, "Event time").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

import polars as pl

from frys.engine.time import (
    END_OF_TIME,
    START_OF_TIME,
    CombinedWatermark,
    behind_none,
    event_time_millis,
    own_watermarks,
    too_far_ahead,
)


class NamedChannel(Protocol):
    """What a receiver learns of the channel it hears from: its name (the stream's)."""

    @property
    def name(self) -> str: ...


class ChannelWriter(Protocol):
    """What a source or an operator's output writes through: batches (already in the
    channel's schema), watermarks it can promise without publishing, and its end. A
    forwarded watermark never moves the channel past its other producers; after `finish`,
    nothing more may be written, and the last producer to finish ends the channel."""

    @property
    def name(self) -> str: ...

    def publish(self, batch: pl.DataFrame) -> None: ...

    def advance_watermark(self, watermark: int) -> None: ...

    def finish(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Delivery:
    """One batch as a channel hands it to a receiver: the rows, and the watermark each row
    arrived under (None: all under the channel's current watermark, announced before)."""

    batch: pl.DataFrame
    arrivals: pl.Series | None = None
    # each row's number among its stream's events (from 0, in the order its producer sent
    # them), when the transport numbers them (the scale-out runtime, where a key group sees
    # only some of a stream's rows); None: the receiver counts the rows it is handed
    offsets: pl.Series | None = None


@runtime_checkable
class Receiver(Protocol):
    """What reads a channel with its event time (a query): per batch `on_delivery`, then
    `on_watermark` if the channel's moved; `on_end` exactly once, after the watermark
    reached END_OF_TIME. `wants_arrivals(rows)`: whether it wants a batch's arrival
    watermarks even when no row is behind its own (an operator folding a big batch in
    slices, moving event time between them); a channel asks before each delivery."""

    def wants_arrivals(self, rows: int) -> bool: ...

    def on_delivery(self, channel: NamedChannel, delivery: Delivery) -> None: ...

    def on_watermark(self, channel: NamedChannel, watermark: int) -> None: ...

    def on_end(self, channel: NamedChannel) -> None: ...


class ChannelInput(Protocol):
    """The channel side of a `Producer` handle: what carries its writes (a bus topic)."""

    @property
    def name(self) -> str: ...

    def publish(self, batch: pl.DataFrame, producer: Producer) -> None: ...

    def forward_watermark(self, producer: Producer, watermark: int) -> None: ...

    def producer_done(self, producer: Producer) -> None: ...


class Producer:
    """One input of a channel, as a `ChannelWriter`: a source, a query writing to it, or
    the API. `index` names it in the channel's `ChannelClock`. Its watermark is the largest
    event time it published minus the stream's delay, or a watermark forwarded by the query
    behind it, whichever is higher; the channel's is the minimum over producers."""

    def __init__(self, channel: ChannelInput, name: str, index: int) -> None:
        self.channel = channel
        self.name = name
        self.index = index
        self.done = False

    def publish(self, batch: pl.DataFrame) -> None:
        self.channel.publish(batch, self)

    def advance_watermark(self, watermark: int) -> None:
        """A watermark this producer can promise without publishing (a query forwarding its
        input's); never moves the channel past its other producers."""
        self.channel.forward_watermark(self, watermark)

    def finish(self) -> None:
        """This producer will publish no more; the last one ends the channel."""
        if not self.done:
            self.done = True
            self.channel.producer_done(self)

    def __repr__(self) -> str:
        return f"Producer({self.channel.name}/{self.name})"


class FutureSplit(NamedTuple):
    """A batch split by max_future: the events kept, the refused ones (None: none), and
    the refused ones' positions among every event their producer offered (0-based)."""

    kept: pl.DataFrame
    refused: pl.DataFrame | None
    positions: list[int]


class ChannelClock:
    """The event time of one channel, whatever carries its batches.

    Producers register with `add_producer` (an index); per producer it keeps the largest
    event time published and the watermark, and the channel's watermark is their minimum
    (`combined`, a CombinedWatermark: idle producers excepted after `idle_timeout_ms` of
    `clock`). A channel without an event-time column (`event_time` None) has no watermark
    until its end. Guarantees: the watermark never moves backwards; a forwarded watermark
    never moves it past another producer's; it is END_OF_TIME exactly when every producer
    registered is done (`ended`). The caller serializes calls (a topic's lock).

    The order for a batch: `split_far_future` (with max_future), `arrivals` (before anyone
    sees the batch's events), deliver, then `observe` (True: announce `watermark`).
    """

    def __init__(self, event_time: str | None, delay_ms: int = 0,
                 idle_timeout_ms: int | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 max_future_ms: int | None = None) -> None:
        self.event_time = event_time
        self.delay_ms = delay_ms
        self.max_future_ms = max_future_ms
        self.combined = CombinedWatermark(idle_timeout_ms, clock)
        self.latest_event_ms: list[int] = []  # per producer, START_OF_TIME before any
        self.offered: list[int] = []  # per producer: events offered, refused ones too
        self.forwarding: list[bool] = []  # per producer: its watermark is what it forwards
        self.ended = False

    @property
    def watermark(self) -> int:
        return self.combined.current

    def add_producer(self, lazy: bool = False, forwards_watermark: bool = False) -> int:
        """A new producer, by index. A `lazy` one holds the watermark back only once it has
        published (the API, a late-event router); the others from the start, as Flink's
        sources do. One that `forwards_watermark` (a query promising its output's watermark
        from its input's: QueryNode.watermark_lag_ms) moves the watermark only by what it
        forwards, never by the event times it publishes: its rows may come out of order by
        more than the channel's delay (a join's pairs, an outer join's unmatched rows), and
        the promise already says how far behind they can be, as Flink's operators pass
        watermarks on rather than make new ones."""
        if self.ended:
            raise RuntimeError("the channel has ended; it takes no new producer")
        self.latest_event_ms.append(START_OF_TIME)
        self.offered.append(0)
        self.forwarding.append(forwards_watermark)
        return self.combined.add_input(lazy)

    def event_times(self, batch: pl.DataFrame) -> pl.Series:
        """The batch's event times as Int64 epoch milliseconds (the channel has some)."""
        assert self.event_time is not None
        return event_time_millis(batch[self.event_time])

    def split_far_future(self, producer: int, batch: pl.DataFrame,
                         now_ms: int) -> FutureSplit:
        """The batch without its events more than max_future ahead of the watermark they
        arrive under (engine.time.too_far_ahead; the wall clock `now_ms` before there is
        any), and those, with their positions among the producer's events. Refused events
        never move the watermark; every event counts towards the positions."""
        assert self.max_future_ms is not None
        first = self.offered[producer]
        self.offered[producer] += batch.height
        if self.event_time is None or batch.height == 0:
            return FutureSplit(batch, None, [])
        refused = too_far_ahead(self.event_times(batch), self.combined.current,
                                self.latest_event_ms[producer], self.delay_ms,
                                self.max_future_ms, now_ms)
        if not refused.any():
            return FutureSplit(batch, None, [])
        positions = [first + i for i in refused.arg_true().to_list()]
        return FutureSplit(batch.filter(~refused), batch.filter(refused), positions)

    def arrivals(self, producer: int, times: pl.Series, wanted: bool = False
                 ) -> pl.Series | None:
        """The watermark each row of a batch (its event `times`, in order) from `producer`
        arrives under, or None when every row arrives under the channel's current one and
        not `wanted` (then `watermark` says it all).

        The rule (docs/language.md, "Event time"): every event sees the watermark as it
        stood after the events published before it, whatever the batching, so lateness
        never depends on how a source cuts its input. A row's watermark is what the
        channel's would be had the batch stopped just before it: this producer's part is
        the largest event time before the row (earlier batches included) minus the delay,
        or what it forwarded; the others' stay as they are; the minimum over those that
        hold the watermark, never below the channel's before the batch. Where no row is
        behind its own (in-order input, the common case: one sortedness check) and not
        `wanted`, this is None."""
        combined = self.combined
        latest = self.latest_event_ms[producer]
        before = combined.current
        own_before = combined.watermarks[producer]  # what it forwarded, or its latest - delay
        forwarding = self.forwarding[producer]
        # in order (the common case): no row is behind its own watermark, nor behind the
        # channel's before the batch when the first is not
        if not wanted and behind_none(times, latest, own_before, self.delay_ms, forwarding) \
                and times[0] >= before:
            return None
        own = own_watermarks(times, latest, own_before, self.delay_ms, forwarding)
        others = [w for i, (w, holding) in enumerate(zip(combined.watermarks, combined.holding,
                                                         strict=True))
                  if holding and i != producer]
        if others:
            own = pl.min_horizontal(own, pl.lit(min(others), dtype=pl.Int64))
        arrivals = pl.select(pl.max_horizontal(own, pl.lit(before, dtype=pl.Int64))
                             ).to_series()
        if not wanted and not (times < arrivals).any():
            return None
        return arrivals

    def observe(self, producer: int, times: pl.Series) -> bool:
        """A batch from `producer` was delivered (its event `times`): the producer is
        active, and its watermark follows its largest event time. True when the channel's
        watermark moved (announce it)."""
        latest = times.max()
        if latest is not None and int(latest) > self.latest_event_ms[producer]:  # type: ignore[arg-type]
            self.latest_event_ms[producer] = int(latest)  # type: ignore[arg-type]
        watermark = None
        if self.latest_event_ms[producer] != START_OF_TIME and not self.forwarding[producer]:
            watermark = self.latest_event_ms[producer] - self.delay_ms
        return self.combined.advance(producer, watermark)

    def forward(self, producer: int, watermark: int) -> bool:
        """A watermark `producer` promises without publishing (a query forwarding its
        input's); True when the channel's moved. Ignored on a channel without event time,
        after the end, and from a producer that is done."""
        if self.event_time is None or self.ended or self.combined.done[producer]:
            return False
        return self.combined.advance(producer, watermark)

    def snapshot(self) -> dict[str, object]:
        """The channel's event time as plain data (for a checkpoint): its producers'
        watermarks and combination, each producer's latest event time and events offered,
        whether the channel has ended."""
        return {"combined": self.combined.snapshot(),
                "latest_event_ms": list(self.latest_event_ms), "offered": list(self.offered),
                "ended": self.ended}

    def restore(self, state: dict[str, object]) -> None:
        """Take over a snapshot, on a channel with the same producers (the same job)."""
        self.combined.restore(state["combined"])  # type: ignore[arg-type]
        self.latest_event_ms = [int(t) for t in state["latest_event_ms"]]  # type: ignore[attr-defined]
        self.offered = [int(n) for n in state["offered"]]  # type: ignore[attr-defined]
        self.ended = bool(state["ended"])

    def check_idle(self) -> bool:
        """Let producers silent for longer than the idle timeout stop holding the watermark
        back; True when it moved because of it."""
        if self.event_time is None or self.ended:
            return False
        return self.combined.check_idle()

    def producer_done(self, producer: int) -> bool:
        """`producer` will publish no more. True when the watermark moved: to END_OF_TIME
        when it was the last (then the channel has `ended`), or because the others no
        longer wait for it (only on a channel with event time)."""
        if self.ended:
            return False
        moved = self.combined.input_done(producer)
        if all(self.combined.done):
            self.ended = True
            self.combined.current = END_OF_TIME
            return True
        return moved and self.event_time is not None
