"""The in-process event bus: one topic per stream, batches in and batches out.

A topic is the bus's implementation of an engine channel (engine/channel.py): it delivers
every published batch to each subscriber, synchronously and in publish order, then tells
them the stream's new watermark if it moved. Its producers are the engine's handles
(sources, queries, the API); the event time, every watermark included, is the channel's
`ChannelClock` that the topic holds and consults: a producer's watermark, the topic's (the
minimum of theirs, with an idle timeout so that a silent producer does not stall it
forever), the watermark each row arrived under (handed to receivers, the queries, with the
batch), max_future, and the end of time once the last producer is done, when subscribers
see `on_end`. Topics of streams without an event time carry no watermark until their end.
What the bus itself owns: subscribers and their queues, backpressure, the log, locks.

Topic kinds (a stream's `queue` option): `fifo` delivers in publish order; `priority` hands
each batch to its subscribers highest priority first (FIFO among equals), and its queued
subscriptions (connectors/queues.py) order everything pending, across batches; `persistent`
appends every batch to a write-ahead log (connectors/wal/) before anyone sees it. The
registry of topics, wildcard subscriptions and request-reply live in connectors/broker.py.
Publishing is thread-safe: one lock per topic, or one for all the topics of a job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import polars as pl

from frys.connectors.queues import (
    Backpressure,
    ConsumerGroup,
    QueueFull,
    Subscription,
    admit_all,
    reserve_all,
)
from frys.connectors.subscriber import BatchSubscriber
from frys.engine.channel import ChannelClock, Delivery, Receiver
from frys.engine.channel import Producer as ChannelProducer
from frys.engine.time import END_OF_TIME, CombinedWatermark

TOPIC_KINDS = ("fifo", "priority", "persistent")

# how long a publisher waiting for room sleeps before checking every queue again (a
# consumer of another queue, or of another member of a group, does not wake it)
ROOM_POLL_S = 0.05

# per thread: `entry`, the topic whose entry publish this thread is delivering (None when it
# delivers none); a publish made meanwhile, to any topic, is nested in it (Topic.publish)
_delivering = threading.local()


def _is_full(queue: Subscription) -> bool:
    with queue._condition:
        return queue.is_full()


class Journal(Protocol):
    """Where a persistent topic writes each batch before delivering it (a WAL)."""

    def append_batch(self, batch: pl.DataFrame) -> None: ...

    def close(self) -> None: ...


class Subscriber(Protocol):
    """What a topic calls, in this order per batch: on_batch, then on_watermark if it moved;
    on_end exactly once, after the watermark reached END_OF_TIME. A subscriber that judges
    events late needs the watermark each row arrived under: it is an engine Receiver
    instead (engine/channel.py), which the topic calls `on_delivery` with them."""

    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None: ...

    def on_watermark(self, topic: Topic, watermark: int) -> None: ...

    def on_end(self, topic: Topic) -> None: ...


class Producer(ChannelProducer):
    """A producer of a topic: the engine's handle (engine/channel.py Producer, a
    ChannelWriter), with its `topic` and whether the topic's log takes its batches."""

    def __init__(self, topic: Topic, name: str, index: int, journaled: bool = True) -> None:
        super().__init__(topic, name, index)
        self.topic = topic
        # False for a producer replaying the topic's own log: its batches are logged already
        self.journaled = journaled


class Topic:
    """A named stream of batches with a fixed schema and an event-time watermark.

    Producers register with `add_producer` and publish through their handle. The watermark is
    the minimum of the producers' (idle ones excepted, after `idle_timeout_ms` without
    activity); it reaches END_OF_TIME when every producer is done, and then the topic ends.
    The event time is `event_clock`'s (engine/channel.py ChannelClock); the topic holds its
    lock around every call to it and announces what it reports.
    """

    def __init__(self, name: str, schema: dict[str, pl.DataType] | None,
                 event_time: str | None, watermark_delay_ms: int = 0,
                 idle_timeout_ms: int | None = None,
                 clock: Callable[[], float] = time.monotonic, kind: str = "fifo",
                 priority: str | None = None, backpressure: Backpressure | None = None,
                 journal: Journal | None = None,
                 lock: threading.RLock | None = None,
                 max_future_ms: int | None = None) -> None:
        if kind not in TOPIC_KINDS:
            raise ValueError(f"topic kind must be one of {', '.join(TOPIC_KINDS)}, not {kind!r}")
        if (kind == "priority") != (priority is not None):
            raise ValueError("a priority topic needs a priority column, and only it takes one")
        if (kind == "persistent") != (journal is not None):
            raise ValueError("a persistent topic needs a journal (its WAL), and only it has one")
        self.name = name
        # None: any batch goes (a topic made on the bus, not declared by a job)
        self.schema = schema
        self.kind = kind
        self.priority = priority
        self.backpressure = backpressure or Backpressure()
        self.journal = journal
        # the stream's max_future (event_clock's): events further ahead of the watermark
        # they arrive under are handed to `refuse_future` (the runtime makes dead letters of
        # them) instead of being published; without a handler, they are published as any other
        self.refuse_future: Callable[[ChannelProducer, pl.DataFrame, list[int], str], None] | None \
            = None
        # the topics of one job share a lock (engine/runtime.py): a batch runs through the
        # job's operators, which are not thread-safe, from one publisher at a time
        self._lock = lock or threading.RLock()
        self.event_clock = ChannelClock(event_time, watermark_delay_ms, idle_timeout_ms, clock,
                                        max_future_ms)
        self.subscribers: list[Subscriber | Receiver] = []
        # the subscribers delivered to synchronously (not the queues), in order, each with
        # whether it is an engine Receiver (it gets the arrival watermarks); and those
        self._synchronous: list[tuple[Subscriber | Receiver, bool]] = []
        self._receivers: list[Receiver] = []
        self.producers: list[Producer] = []
        self.events_published = 0
        # the topics its entry publishes have reached by nested publishes, learnt as they
        # happen (any depth, any lock): what an entry waits for (see publish)
        self._downstream: set[Topic] = set()

    @property
    def event_time(self) -> str | None:
        return self.event_clock.event_time

    @property
    def delay_ms(self) -> int:
        return self.event_clock.delay_ms

    @property
    def max_future_ms(self) -> int | None:
        return self.event_clock.max_future_ms

    @property
    def watermark(self) -> CombinedWatermark:
        """The producers' watermarks and the topic's (`.current`), read-only: the clock's."""
        return self.event_clock.combined

    @property
    def ended(self) -> bool:
        return self.event_clock.ended

    def subscribe(self, subscriber: Subscriber | Receiver) -> None:
        """Deliver to `subscriber` from the next batch on: an engine Receiver hears each
        batch with its arrival watermarks (`on_delivery`), any other `on_batch`."""
        with self._lock:
            self.subscribers.append(subscriber)
            self._sort_subscribers()

    def unsubscribe(self, subscriber: Subscriber | Receiver) -> None:
        with self._lock:
            self.subscribers.remove(subscriber)
            self._sort_subscribers()

    def _sort_subscribers(self) -> None:
        """Which subscribers get each batch synchronously, and how (new lists: a delivery
        under way keeps going through the ones it started with)."""
        synchronous = [s for s in self.subscribers
                       if not isinstance(s, (Subscription, ConsumerGroup))]
        self._synchronous = [(s, isinstance(s, Receiver)) for s in synchronous]
        self._receivers = [s for s, receives in self._synchronous if receives]  # type: ignore[misc]

    def add_producer(self, name: str, lazy: bool = False, journaled: bool = True,
                     forwards_watermark: bool = False) -> Producer:
        """A new input. A `lazy` one holds the watermark back only once it has published
        (the API, a late-event router); the others from the start, as Flink's sources do.
        A producer that is not `journaled` replays what the topic's log already holds. One
        that `forwards_watermark` (a query promising its output's) moves the watermark only
        by what it forwards (ChannelClock.add_producer)."""
        if self.ended:
            raise RuntimeError(f"topic {self.name} has ended; nothing more can be published")
        producer = Producer(self, name, self.event_clock.add_producer(
            lazy, forwards_watermark), journaled)
        self.producers.append(producer)
        return producer

    def publish(self, batch: pl.DataFrame, producer: ChannelProducer) -> None:
        """Deliver a batch (already in this topic's schema) to every subscriber; a
        persistent topic has logged it first.

        A publish from outside (no publish is being delivered on this thread, and it does
        not hold this topic's lock) is an *entry*: all or nothing. The batch goes to its
        subscription queues (and the log) only once every queue has room for it (a consumer
        group: one of its members) and no queue of a topic downstream of this one (see
        `_downstream`) is full; otherwise the `error` policy raises QueueFull at once, and
        `block` waits up to its timeout, without holding the topic's lock (a job's lock: a
        consumer republishing into the same job goes on meanwhile), then raises QueueFull.
        Either way nobody got the batch, so the publisher may retry it without duplicates.

        A *nested* publish (made while this thread delivers another batch: an operator of a
        job writing downstream, a subscriber republishing) never waits and never raises
        QueueFull: it admits its batch into every queue, over the bound if need be, because
        it runs in the middle of a batch crossing the job, with the job's lock held. The
        entry publish waited for those queues before it entered, so a queue downstream in a
        job exceeds its bound by about what one entry delivers to it (docs/bus.md states the
        bound: the first batch reaching a topic is not waited for, nor what a watermark or
        the end of input emits)."""
        if self.max_future_ms is not None and self.refuse_future is not None:
            batch = self._without_far_future(batch, producer)
        entry = getattr(_delivering, "entry", None)
        # held already by this thread: a watermark or the end of input crossing the job
        if entry is not None or self._lock._is_owned():  # type: ignore[attr-defined]
            self._publish_nested(batch, producer, entry)
            return
        deadline: float | None = None
        size: int | None = None
        while True:
            with self._lock:
                self._check_open(producer)
                if batch.height == 0:
                    return
                targets = [s for s in self.subscribers
                           if isinstance(s, (Subscription, ConsumerGroup))]
                if size is None:
                    size = int(batch.estimated_size()) if targets else 0
                # the downstream queues first: a reservation here would hold room meanwhile
                full_downstream = self._full_downstream_queue()
                full: Subscription | None = None
                if full_downstream is None:
                    chosen, full = reserve_all(targets, batch.height, size)
                    if full is None:
                        assert chosen is not None
                        self._deliver_as_entry(batch, producer, targets, chosen, size)
                        return
                if self.backpressure.when_full == "error":
                    raise QueueFull(self._full_message(full_downstream, full, batch.height))
                if deadline is None:
                    deadline = time.monotonic() + self.backpressure.timeout_s
            if full_downstream is not None:
                # room for one event: the queue is below its bound again
                self._wait_for_room(full_downstream, 1, 0, deadline, downstream=True)
            else:
                assert full is not None
                self._wait_for_room(full, batch.height, size, deadline)

    def _without_far_future(self, batch: pl.DataFrame, producer: ChannelProducer
                            ) -> pl.DataFrame:
        """The batch without its events more than max_future ahead of the watermark they
        arrive under (ChannelClock.split_far_future), which go to `refuse_future` with their
        positions among the producer's events; they never move the watermark."""
        assert self.max_future_ms is not None and self.refuse_future is not None
        with self._lock:
            split = self.event_clock.split_far_future(producer.index, batch,
                                                      int(time.time() * 1000))
        if split.refused is not None:
            self.refuse_future(producer, split.refused, split.positions,
                               f"event time more than max_future = {self.max_future_ms} ms "
                               "ahead of the watermark it arrived under (of the wall clock "
                               "while the stream has none)")
        return split.kept

    def _wait_for_room(self, full: Subscription, events: int, size: int,
                       deadline: float, downstream: bool = False) -> None:
        """Wait, without the lock, until `full` may have room for `events` and `size` (the
        caller checks again), or raise QueueFull once `deadline` has passed."""
        if not full.wait_for_room(events, size, deadline, ROOM_POLL_S):
            raise QueueFull(self._full_message(full if downstream else None,
                                               None if downstream else full, events) +
                            f" for {self.backpressure.timeout_s:g} s")

    def _full_message(self, full_downstream: Subscription | None, full: Subscription | None,
                      events: int) -> str:
        if full_downstream is not None:
            return full_downstream.downstream_full_message(self.name)
        assert full is not None
        return full.full_message(events)

    def _full_downstream_queue(self) -> Subscription | None:
        """A full queue of a topic downstream of this one (for a group: its next member in
        turn, when every member is full), or None. The caller holds the lock."""
        for topic in self._downstream:
            for subscriber in list(topic.subscribers):  # a snapshot: another lock's topic
                if isinstance(subscriber, ConsumerGroup):
                    members = subscriber.candidates()
                elif isinstance(subscriber, Subscription):
                    members = [subscriber]
                else:
                    continue
                if members and all(_is_full(member) for member in members):
                    return members[0]
        return None

    def _deliver_as_entry(self, batch: pl.DataFrame, producer: ChannelProducer,
                          queued: list[Subscription | ConsumerGroup],
                          chosen: list[Subscription | None], size: int) -> None:
        """`_publish` as the entry of this thread: every publish it causes is nested and
        names the topic it reaches in this topic's `_downstream`."""
        _delivering.entry = self
        try:
            self._publish(batch, producer, queued, chosen, size)
        finally:
            _delivering.entry = None

    def _publish_nested(self, batch: pl.DataFrame, producer: ChannelProducer,
                        entry: Topic | None) -> None:
        """A publish made while this thread delivers another batch (`entry`, None for a
        watermark or an end crossing the job): admitted into every queue at once, over the
        bound if need be (queues.admit_all), never waiting, never QueueFull."""
        with self._lock:
            self._check_open(producer)
            if batch.height == 0:
                return
            if entry is not None and entry is not self:
                # held by this thread (it is delivering entry's batch), as its entries read it
                entry._downstream.add(self)
            targets = [s for s in self.subscribers
                       if isinstance(s, (Subscription, ConsumerGroup))]
            size = int(batch.estimated_size()) if targets else 0
            chosen = admit_all(targets, batch.height, size)
            self._publish(batch, producer, targets, chosen, size)

    def _check_open(self, producer: ChannelProducer) -> None:
        if self.ended or producer.done:
            raise RuntimeError(f"topic {self.name} has ended; nothing more can be published"
                               if self.ended else f"{producer!r} is done; it cannot publish")

    def _publish(self, batch: pl.DataFrame, producer: ChannelProducer,
                 queued: list[Subscription | ConsumerGroup],
                 chosen: list[Subscription | None], size: int) -> None:
        """Log the batch, then hand it to the queues that reserved room for it (before the
        synchronous subscribers: a query's downstream publish never meets this batch's
        reservations), then to the others, in order."""
        # a producer replaying the topic's own log (not `journaled`): logged already
        if self.journal is not None and (not isinstance(producer, Producer)
                                         or producer.journaled):
            try:
                self.journal.append_batch(batch)
            except BaseException:
                for member in chosen:
                    if member is not None:
                        member.cancel(batch.height, size)
                raise
        elif self.priority is not None:
            batch = batch.sort(self.priority, descending=True, nulls_last=True,
                               maintain_order=True)
        self.events_published += batch.height
        for member in chosen:
            if member is not None:
                member.commit(batch, batch.height, size)
        if self.event_time is None:
            self._deliver(batch, None)
            return  # a topic without event time has no watermark to keep until its end
        clock = self.event_clock
        times = clock.event_times(batch)
        wanted = any(receiver.wants_arrivals(batch.height) for receiver in self._receivers)
        self._deliver(batch, clock.arrivals(producer.index, times, wanted))
        if clock.observe(producer.index, times):
            self._announce_watermark()

    def _deliver(self, batch: pl.DataFrame, arrivals: pl.Series | None) -> None:
        """Hand the batch to each synchronous subscriber in order; receivers get it with
        the watermark each row arrived under (`arrivals`, None: the current one)."""
        delivery: Delivery | None = None
        for subscriber, receives in self._synchronous:
            if receives:
                if delivery is None:
                    delivery = Delivery(batch, arrivals)
                subscriber.on_delivery(self, delivery)  # type: ignore[union-attr]
            else:
                subscriber.on_batch(self, batch)  # type: ignore[union-attr]

    def forward_watermark(self, producer: ChannelProducer, watermark: int) -> None:
        with self._lock:
            if self.event_clock.forward(producer.index, watermark):
                self._announce_watermark()

    def check_idle(self) -> None:
        """Let producers silent for longer than the idle timeout stop holding the watermark
        back (also checked on every publish)."""
        with self._lock:
            if self.event_clock.check_idle():
                self._announce_watermark()

    def producer_done(self, producer: ChannelProducer) -> None:
        with self._lock:
            if self.ended:
                return
            moved = self.event_clock.producer_done(producer.index)
            if self.ended:  # it was the last: the watermark is at the end of time
                for subscriber in self.subscribers:
                    subscriber.on_watermark(self, END_OF_TIME)
                for subscriber in self.subscribers:
                    subscriber.on_end(self)
                if self.journal is not None:
                    self.journal.close()
            elif moved:
                self._announce_watermark()

    def _announce_watermark(self) -> None:
        if self.event_time is None:
            return
        for subscriber in self.subscribers:
            subscriber.on_watermark(self, self.event_clock.watermark)


class Collector(BatchSubscriber):
    """A subscriber that keeps every batch of a topic, for the Python API and tests."""

    def __init__(self) -> None:
        self.batches: list[pl.DataFrame] = []

    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None:
        self.batches.append(batch)



    def frame(self, schema: dict[str, pl.DataType]) -> pl.DataFrame:
        if not self.batches:
            return pl.DataFrame(schema=schema)
        return pl.concat(self.batches, how="vertical")
