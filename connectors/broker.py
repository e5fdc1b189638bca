"""The bus as a pub/sub system of its own: named topics, wildcard subscriptions, consumer
groups, durable consumers of persistent topics, and request-reply.

    bus = Broker()
    alerts = bus.subscribe("alerts.*")                 # a bounded queue (queues.py)
    bus.publish("alerts.disk", [{"host": "a", "severity": 3}])
    batch = alerts.get(timeout_s=1)                    # a polars DataFrame

Topic names are dot-separated words. In a subscription pattern `*` matches exactly one word
and `#` any number of words, none included (`orders.#` matches `orders`, `orders.eu` and
`orders.eu.paris`), as in AMQP topic exchanges. A subscription made before a matching topic
exists receives from it once it does. Publishing to a name nobody declared makes a `fifo`
topic that accepts any batch.

A job's streams are topics of the job's broker (engine/runtime.py), so everything here works
on them too: subscribe to `trades` or to `alerts.#` from another thread while the job runs.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from frys.connectors.bus import Producer, Subscriber, Topic
from frys.connectors.queues import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_EVENTS,
    Backpressure,
    ConsumerGroup,
    Subscription,
)
from frys.connectors.subscriber import BatchSubscriber

if TYPE_CHECKING:  # the WAL is imported when a persistent topic is made: start-up time
    from frys.connectors.wal import FsyncPolicy, Retention
    from frys.connectors.wal_topic import WalConsumer

REPLY_TO = "reply_to"
CORRELATION_ID = "correlation_id"


class RequestTimeout(TimeoutError):
    """No reply to a request came in time."""


class NoResponders(RuntimeError):
    """A request went to a topic nobody subscribes to."""


def pattern_matches(pattern: str, name: str) -> bool:
    """Does topic `name` match subscription `pattern` (`*` one word, `#` zero or more)?"""
    return _match(pattern.split("."), name.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head in ("*", words[0])) and _match(rest, words[1:])


def frame_of(events: pl.DataFrame | Mapping[str, object] | Iterable[Mapping[str, object]]
             ) -> pl.DataFrame:
    """A batch from a DataFrame, one event (a mapping) or several."""
    if isinstance(events, pl.DataFrame):
        return events
    if isinstance(events, Mapping):
        return pl.DataFrame([dict(events)])
    return pl.DataFrame([dict(e) for e in events])


class Broker:
    """A registry of topics with their subscriptions. Thread-safe."""

    def __init__(self, wal_root: str | Path | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # where persistent topics made here keep their logs (<wal_root>/<topic>)
        self.wal_root = Path(wal_root) if wal_root is not None else Path(".frys") / "wal"
        self.clock = clock
        self.topics: dict[str, Topic] = {}
        self._patterns: list[tuple[str, Subscriber]] = []
        self._groups: dict[tuple[str, str], ConsumerGroup] = {}
        self._producers: dict[str, Producer] = {}
        self._lock = threading.RLock()
        self._inbox: str | None = None
        self._waiting: dict[str, _Waiter] = {}

    # ------------------------------------------------------------------ topics

    def add_topic(self, topic: Topic) -> Topic:
        """Register a topic made elsewhere (a job's stream); matching subscriptions join."""
        with self._lock:
            if topic.name in self.topics:
                raise ValueError(f"topic {topic.name} already exists")
            self.topics[topic.name] = topic
            for pattern, subscriber in self._patterns:
                if pattern_matches(pattern, topic.name):
                    self._attach(topic, subscriber)
            return topic

    def topic(self, name: str, kind: str = "fifo", priority: str | None = None,
              backpressure: Backpressure | None = None, wal_dir: str | Path | None = None,
              fsync: FsyncPolicy | None = None, retention: Retention | None = None,
              event_time: str | None = None) -> Topic:
        """The topic `name`, made with these settings if it does not exist yet. A
        `persistent` one logs to `wal_dir` (default <wal_root>/<name>) with `fsync`."""
        with self._lock:
            existing = self.topics.get(name)
            if existing is not None:
                if existing.kind != kind:
                    raise ValueError(f"topic {name} exists as a {existing.kind} topic, "
                                     f"not {kind}")
                return existing
            journal = None
            if kind == "persistent":
                from frys.connectors.wal_topic import WalJournal

                journal = WalJournal(Path(wal_dir) if wal_dir else self.wal_root / name,
                                     event_time, fsync, retention)
            return self.add_topic(Topic(name, None, event_time, clock=self.clock, kind=kind,
                                        priority=priority, backpressure=backpressure,
                                        journal=journal))

    def publish(self, name: str,
                events: pl.DataFrame | Mapping[str, object] | Iterable[Mapping[str, object]]
                ) -> None:
        """Publish a batch (or events) to topic `name`, making a fifo topic if needed. Blocks
        or raises queues.QueueFull per the topic's backpressure when a queue is full."""
        batch = frame_of(events)
        producer = self._producers.get(name)  # no lock on the hot path: dict reads are atomic
        if producer is None:
            with self._lock:
                topic = self.topics.get(name) or self.topic(name)
                producer = self._producers.get(name)
                if producer is None:
                    producer = self._producers[name] = topic.add_producer("bus", lazy=True)
        producer.publish(batch)

    def end(self, name: str) -> None:
        """This broker publishes no more to `name`: subscribers see the end once every other
        producer of the topic (a job's sources and queries) is done too."""
        with self._lock:
            topic = self.topics.get(name) or self.topic(name)
            producer = self._producers.get(name) or topic.add_producer("bus", lazy=True)
        producer.finish()

    def release(self, name: str) -> None:
        """Finish this broker's producer of `name`, if it has published there (a job's
        `finish()` does this for its streams)."""
        producer = self._producers.get(name)
        if producer is not None:
            producer.finish()

    # ------------------------------------------------------------------ subscribing

    def subscribe(self, pattern: str, group: str | None = None,
                  max_events: int = DEFAULT_MAX_EVENTS, max_bytes: int = DEFAULT_MAX_BYTES
                  ) -> Subscription:
        """A bounded queue of every batch published to topics matching `pattern`, from
        now on. With `group`, subscriptions with the same pattern and group share the
        batches: each goes to one of them."""
        _check_pattern(pattern)
        with self._lock:
            exact = self.topics.get(pattern)
            priority = exact.priority if exact is not None else None
            subscription = Subscription(pattern, max_events, max_bytes, priority)
            if group is None:
                self._register(pattern, subscription)
                return subscription
            shared = self._groups.get((pattern, group))
            if shared is None:
                shared = self._groups[(pattern, group)] = ConsumerGroup(group, pattern)
                self._register(pattern, shared)
            shared.add(subscription)
            for topic in self.topics.values():
                if pattern_matches(pattern, topic.name):
                    subscription.attach(topic)
            return subscription

    def add_subscriber(self, pattern: str, subscriber: Subscriber) -> None:
        """A synchronous subscriber (called on the publisher's thread) for matching topics."""
        _check_pattern(pattern)
        with self._lock:
            self._register(pattern, subscriber)

    def _register(self, pattern: str, subscriber: Subscriber) -> None:
        self._patterns.append((pattern, subscriber))
        for topic in self.topics.values():
            if pattern_matches(pattern, topic.name):
                self._attach(topic, subscriber)

    @staticmethod
    def _attach(topic: Topic, subscriber: Subscriber) -> None:
        attach = getattr(subscriber, "attach", None)
        if attach is not None:
            attach(topic)
        topic.subscribe(subscriber)

    def consumer(self, name: str, consumer: str) -> WalConsumer:
        """A durable consumer of persistent topic `name`: it resumes from the offset it last
        committed (or the oldest retained event), in this process or a later one."""
        from frys.connectors.wal_topic import WalConsumer, WalJournal

        with self._lock:
            topic = self.topics.get(name)
        if topic is None or not isinstance(topic.journal, WalJournal):
            raise ValueError(f"topic {name} is not a persistent topic of this bus")
        return WalConsumer(topic.journal.directory, consumer)

    # ------------------------------------------------------------------ request-reply

    def request(self, name: str, event: Mapping[str, object], timeout_s: float = 5.0
                ) -> dict[str, object]:
        """Publish `event` to topic `name` with a reply topic and a correlation id (columns
        `reply_to`, `correlation_id`), and wait for the reply (see `reply`)."""
        with self._lock:
            topic = self.topics.get(name)
            listening = topic.subscribers if topic is not None else \
                [s for pattern, s in self._patterns if pattern_matches(pattern, name)]
            if not listening:
                raise NoResponders(f"no subscriber on topic {name}: nobody can reply")
            if self._inbox is None:
                self._inbox = f"_inbox.{uuid.uuid4().hex}"
                self.topic(self._inbox).subscribe(_ReplyRouter(self._waiting))
            inbox = self._inbox
        correlation = uuid.uuid4().hex
        waiter = _Waiter()
        self._waiting[correlation] = waiter
        try:
            self.publish(name, {**event, REPLY_TO: inbox, CORRELATION_ID: correlation})
            if not waiter.done.wait(timeout_s):
                raise RequestTimeout(f"no reply from topic {name} within {timeout_s:g} s "
                                     f"(correlation id {correlation})")
        finally:
            self._waiting.pop(correlation, None)
        assert waiter.reply is not None
        return waiter.reply

    def reply(self, request: Mapping[str, object], response: Mapping[str, object]) -> None:
        """Answer a request event (a row with `reply_to` and `correlation_id`)."""
        reply_to, correlation = request.get(REPLY_TO), request.get(CORRELATION_ID)
        if not isinstance(reply_to, str) or not isinstance(correlation, str):
            raise ValueError(f"not a request: an event needs string {REPLY_TO} and "
                             f"{CORRELATION_ID} fields to be answered")
        self.publish(reply_to, {**response, CORRELATION_ID: correlation})

    def serve(self, name: str, handler: Callable[[dict[str, object]], Mapping[str, object]],
              group: str = "responders") -> Responder:
        """Answer every request to `name` with `handler(request)` on a background thread;
        several responders of one group share the requests."""
        return Responder(self, self.subscribe(name, group=group), handler)


class Responder:
    """A thread answering requests from one subscription; `stop()` ends it."""

    def __init__(self, broker: Broker, subscription: Subscription,
                 handler: Callable[[dict[str, object]], Mapping[str, object]]) -> None:
        self.broker = broker
        self.subscription = subscription
        self.handler = handler
        self.errors = 0
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name=f"responder {subscription.pattern}")
        self._thread.start()

    def _serve(self) -> None:
        for batch in self.subscription:
            for request in batch.iter_rows(named=True):
                try:
                    response = self.handler(request)
                except Exception as error:  # the requester gets the error, not a timeout
                    self.errors += 1
                    response = {"error": f"{type(error).__name__}: {error}"}
                self.broker.reply(request, response)

    def stop(self) -> None:
        self.subscription.close()
        self._thread.join()


class _Waiter:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: dict[str, object] | None = None


class _ReplyRouter(BatchSubscriber):
    """The broker's inbox subscriber: hands each reply to the request waiting for it."""

    def __init__(self, waiting: dict[str, _Waiter]) -> None:
        self.waiting = waiting

    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None:
        for row in batch.iter_rows(named=True):
            waiter = self.waiting.get(str(row.get(CORRELATION_ID)))
            if waiter is not None and not waiter.done.is_set():
                row.pop(CORRELATION_ID, None)
                waiter.reply = row
                waiter.done.set()




def _check_pattern(pattern: str) -> None:
    words = pattern.split(".")
    if not pattern or any(not w for w in words) or any(
            ("*" in w or "#" in w) and w not in ("*", "#") for w in words):
        raise ValueError(f"bad subscription pattern {pattern!r}: dot-separated words, where "
                         "a whole word may be * (one word) or # (any number of words)")
