"""Bounded subscription queues: how a consumer on another thread takes batches off the bus.

A `Subscription` is a topic subscriber (connectors.bus.Subscriber) that queues what the topic
delivers instead of handling it on the publisher's thread; the consumer takes batches with
`get()` or by iterating. Each queue is bounded in events and in bytes (polars' estimate); when
a batch does not fit, the topic's `Backpressure` policy decides: block the publisher until the
consumer makes room (raising `QueueFull` after `timeout_s`), or raise `QueueFull` at once. A
batch larger than the whole bound is admitted into an empty queue, so one big batch never
deadlocks. Memory held by a subscription therefore stays under its bound plus one batch,
however fast the publisher; a publish nested in another (inside a job) admits its batch over
the bound (`admit_all`), and the publish into the job waits instead (connectors/bus.py), so a
queue downstream in a job stays under its bound plus what one batch entering the job
delivers to it.

A queue of a `priority` topic hands out events highest priority first (by the topic's
priority column), FIFO among equals, across all batches pending; a FIFO queue hands out whole
batches in publish order. A `ConsumerGroup` gives each batch to one member.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from frys.connectors.subscriber import BatchSubscriber

if TYPE_CHECKING:
    from frys.connectors.bus import Topic


class QueueFull(Exception):
    """A publisher could not place a batch: the subscription's queue stayed full."""


@dataclass(frozen=True)
class Backpressure:
    """What a publisher does when a subscriber's queue is full: `block` waits up to
    `timeout_s` for room, then raises QueueFull; `error` raises QueueFull at once."""

    when_full: str = "block"
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.when_full not in ("block", "error"):
            raise ValueError(f"when_full must be 'block' or 'error', not {self.when_full!r}")


DEFAULT_MAX_EVENTS = 100_000
DEFAULT_MAX_BYTES = 64 << 20


class Subscription(BatchSubscriber):
    """A bounded queue of batches from one or more topics (a wildcard subscription collects
    every matching topic). Thread-safe: any thread may publish, one or more may consume."""

    def __init__(self, pattern: str, max_events: int = DEFAULT_MAX_EVENTS,
                 max_bytes: int = DEFAULT_MAX_BYTES, priority: str | None = None) -> None:
        if max_events <= 0 or max_bytes <= 0:
            raise ValueError("a subscription's queue needs a positive bound")
        self.pattern = pattern
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.priority = priority
        self._batches: deque[tuple[pl.DataFrame, int]] = deque()
        self._ordered: pl.DataFrame | None = None  # priority: pending rows, best first
        self._condition = threading.Condition()
        self.pending_events = 0
        self.pending_bytes = 0
        # room promised to a batch a topic is delivering (see reserve_all), not queued yet
        self.reserved_events = 0
        self.reserved_bytes = 0
        # the highest pending_bytes ever seen: what the bound actually held the queue to
        self.peak_bytes = 0
        self.delivered_events = 0
        self.closed = False
        self._topics: dict[str, bool] = {}  # attached topic -> ended
        self._open_ended = any(part in ("*", "#") for part in pattern.split("."))

    # ------------------------------------------------------------------ producer side

    def attach(self, topic: Topic) -> None:
        with self._condition:
            self._topics[topic.name] = False
            if self.priority is None and topic.priority is not None \
                    and not self._open_ended:
                self.priority = topic.priority

    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None:
        self.put(batch, topic.backpressure)


    def on_end(self, topic: Topic) -> None:
        with self._condition:
            self._topics[topic.name] = True
            self._condition.notify_all()

    def has_room(self, events: int, size: int) -> bool:
        """Would a batch of `events` events and `size` bytes fit (the caller holds the
        condition)? An empty queue takes any batch; a closed one drops it, so it has room."""
        if self.closed:
            return True
        held_events = self.pending_events + self.reserved_events
        if held_events == 0:
            return True
        return (held_events + events <= self.max_events
                and self.pending_bytes + self.reserved_bytes + size <= self.max_bytes)

    def put(self, batch: pl.DataFrame, policy: Backpressure, size: int | None = None) -> None:
        """Queue a batch (of `size` bytes, estimated here if not given), or wait/raise per
        `policy` while the queue is full. A topic does not call this: it reserves room in
        all its queues first (reserve_all), then commits."""
        if size is None:
            size = int(batch.estimated_size())
        with self._condition:
            if not self.has_room(batch.height, size):
                if policy.when_full == "error":
                    raise QueueFull(self.full_message(batch.height))
                deadline = time.monotonic() + policy.timeout_s
                while not self.has_room(batch.height, size):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise QueueFull(self.full_message(batch.height) +
                                        f" for {policy.timeout_s:g} s")
                    self._condition.wait(left)
            self._enqueue(batch, size)

    def _enqueue(self, batch: pl.DataFrame, size: int) -> None:
        if self.closed:
            return  # nobody will read it: drop, as a closed socket would
        self._batches.append((batch, size))
        self.pending_events += batch.height
        self.pending_bytes += size
        self.peak_bytes = max(self.peak_bytes, self.pending_bytes)
        self._condition.notify_all()

    def commit(self, batch: pl.DataFrame, events: int, size: int) -> None:
        """Queue a batch for which `reserve_all` reserved `events` and `size`: it fits."""
        with self._condition:
            if not self.closed:  # close() forgot the reservation along with the queue
                self.reserved_events -= events
                self.reserved_bytes -= size
            self._enqueue(batch, size)

    def cancel(self, events: int, size: int) -> None:
        """Give back room reserved for a batch that will not come (its log append failed)."""
        with self._condition:
            if not self.closed:
                self.reserved_events -= events
                self.reserved_bytes -= size
            self._condition.notify_all()

    def wait_for_room(self, events: int, size: int, deadline: float,
                      longest_s: float) -> bool:
        """Wait (up to `longest_s`) for the consumer to make room for a batch; False if there
        is none and `deadline` (time.monotonic()) has passed. True does not promise room:
        the caller re-checks every queue (reserve_all)."""
        with self._condition:
            if self.has_room(events, size):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._condition.wait(min(left, longest_s))
            return True

    def is_full(self) -> bool:
        """No room left for even one more event (the caller holds the condition): a queue
        at its bound, or over it after nested publishes (admit_all). The entry publish into
        a job waits until the job's queues are not full (connectors/bus.py)."""
        return not self.has_room(1, 0)

    def full_message(self, events: int) -> str:
        return self._full_message(events)

    def downstream_full_message(self, entry: str) -> str:
        return (f"subscription {self.pattern!r}, downstream of topic {entry!r}, is full "
                f"({self.pending_events} events, {self.pending_bytes} bytes queued; bound "
                f"{self.max_events} events, {self.max_bytes} bytes): {entry!r} takes no "
                "batch until its consumer makes room")

    def _full_message(self, events: int) -> str:
        return (f"subscription {self.pattern!r} is full ({self.pending_events} events, "
                f"{self.pending_bytes} bytes queued; bound {self.max_events} events, "
                f"{self.max_bytes} bytes): a batch of {events} events does not fit")

    # ------------------------------------------------------------------ consumer side

    @property
    def finished(self) -> bool:
        """Closed, or every topic it reads has ended and nothing is left to take."""
        if self.closed:
            return True
        return (not self._open_ended and bool(self._topics)
                and all(self._topics.values()) and self.pending_events == 0)

    def get(self, timeout_s: float | None = None, max_events: int | None = None
            ) -> pl.DataFrame | None:
        """The next batch (FIFO: a published batch, whole unless `max_events` cuts it;
        priority: up to `max_events` (default 1,024) best events), waiting up to `timeout_s`
        (None: until one comes or the subscription is finished). None if none came."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._condition:
            while self.pending_events == 0:
                if self.finished:
                    return None
                if deadline is None:
                    self._condition.wait()
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    self._condition.wait(left)
            batch = self._take(max_events)
            self.delivered_events += batch.height
            self._condition.notify_all()
            return batch

    def _take(self, max_events: int | None) -> pl.DataFrame:
        if self.priority is not None:
            return self._take_best(max_events or 1024)
        batch, size = self._batches.popleft()
        if max_events is not None and batch.height > max_events:
            rest = batch.slice(max_events)
            rest_size = int(rest.estimated_size())
            self._batches.appendleft((rest, rest_size))
            batch = batch.head(max_events)
            size -= rest_size
        self.pending_events -= batch.height
        self.pending_bytes -= size
        return batch

    def _take_best(self, count: int) -> pl.DataFrame:
        assert self.priority is not None
        if self._batches:
            # everything pending came after the rows already ordered, so a stable sort of
            # old-then-new keeps FIFO among equal priorities
            parts = ([self._ordered] if self._ordered is not None else []) + \
                [batch for batch, _ in self._batches]
            self._batches.clear()
            self._ordered = pl.concat(parts, how="vertical").sort(
                self.priority, descending=True, nulls_last=True, maintain_order=True)
        assert self._ordered is not None
        best = self._ordered.head(count)
        rest = self._ordered.slice(count)
        self._ordered = rest if rest.height else None
        self.pending_events -= best.height
        self.pending_bytes = int(self._ordered.estimated_size()) if self._ordered is not None else 0
        return best

    def __iter__(self) -> Iterator[pl.DataFrame]:
        """Batches until the subscription is finished (see `finished`)."""
        while True:
            batch = self.get()
            if batch is None:
                return
            yield batch

    def close(self) -> None:
        """Stop receiving; a publisher blocked on this queue goes on."""
        with self._condition:
            self.closed = True
            self._batches.clear()
            self._ordered = None
            self.pending_events = self.pending_bytes = 0
            self.reserved_events = self.reserved_bytes = 0
            self._condition.notify_all()


class ConsumerGroup(BatchSubscriber):
    """Members sharing one subscription: each batch goes to exactly one member, round robin
    among those with room; when all are full, the publisher waits on the next one in turn
    (the topic's Backpressure policy)."""

    def __init__(self, name: str, pattern: str) -> None:
        self.name = name
        self.pattern = pattern
        self.members: list[Subscription] = []
        self._next = 0
        self._lock = threading.Lock()

    def add(self, member: Subscription) -> None:
        with self._lock:
            self.members.append(member)

    def attach(self, topic: Topic) -> None:
        with self._lock:
            for member in self.members:
                member.attach(topic)

    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None:
        with self._lock:
            members = [m for m in self.members if not m.closed]
            if not members:
                return
            start = self._next % len(members)
            self._next += 1
        size = int(batch.estimated_size())
        order = members[start:] + members[:start]
        for member in order:
            with member._condition:
                roomy = member.has_room(batch.height, size)
            if roomy:
                member.put(batch, topic.backpressure, size)
                return
        order[0].put(batch, topic.backpressure, size)


    def on_end(self, topic: Topic) -> None:
        for member in list(self.members):
            member.on_end(topic)

    def candidates(self) -> list[Subscription]:
        """The open members, the next in turn first (round robin)."""
        with self._lock:
            members = [m for m in self.members if not m.closed]
            if not members:
                return []
            start = self._next % len(members)
            return members[start:] + members[:start]

    def advance(self) -> None:
        """A batch went to a member: the next batch starts from the next one."""
        with self._lock:
            self._next += 1


def reserve_all(targets: Sequence[Subscription | ConsumerGroup], events: int, size: int
                ) -> tuple[list[Subscription | None] | None, Subscription | None]:
    """All or nothing: with every queue concerned locked at once, check that a batch of
    `events` events and `size` bytes fits each target (a group: some member), and if so
    reserve that room in each; `(chosen, None)` then gives per target the queue to commit
    to (None: a group without open members, nobody to deliver to). Otherwise nothing is
    reserved and `(None, full)` names a full queue to wait on (a group's next in turn)."""
    per_target = [target.candidates() if isinstance(target, ConsumerGroup) else [target]
                  for target in targets]
    queues = {id(q): q for order in per_target for q in order}
    with ExitStack() as stack:
        for queue in sorted(queues.values(), key=id):  # one order: no lock-order deadlock
            stack.enter_context(queue._condition)
        chosen: list[Subscription | None] = []
        for order in per_target:
            if not order:
                chosen.append(None)
                continue
            member = next((q for q in order if q.has_room(events, size)), None)
            if member is None:
                return None, order[0]
            chosen.append(member)
        for member in chosen:
            if member is not None and not member.closed:
                member.reserved_events += events
                member.reserved_bytes += size
    for target in targets:
        if isinstance(target, ConsumerGroup):
            target.advance()
    return chosen, None


def admit_all(targets: Sequence[Subscription | ConsumerGroup], events: int, size: int
              ) -> list[Subscription | None]:
    """Reserve room for a batch of `events` events and `size` bytes in every target, over
    its bound if it is full: what a publish nested in another one does (a job's operator
    writing downstream, connectors/bus.py), which must neither wait while the job is locked
    nor fail half-way through a batch crossing the job. The publish into the job waited for
    these queues to be below their bounds before it entered, so each exceeds its bound by at
    most what one batch entering the job delivers to it. Per target, the queue to commit to
    (a group: a member with room, else its least loaded open member; None: a group without
    open members), as `reserve_all` gives it."""
    chosen: list[Subscription | None] = []
    for target in targets:
        if isinstance(target, ConsumerGroup):
            member = _least_loaded(target.candidates(), events, size)
            target.advance()
        else:
            member = target
        if member is not None:
            with member._condition:
                if not member.closed:
                    member.reserved_events += events
                    member.reserved_bytes += size
        chosen.append(member)
    return chosen


def _least_loaded(members: list[Subscription], events: int, size: int
                  ) -> Subscription | None:
    """The first member (in round-robin order) with room for the batch, else the one holding
    the fewest events; None if there are no members."""
    held: list[tuple[int, int, Subscription]] = []
    for turn, member in enumerate(members):
        with member._condition:
            if member.has_room(events, size):
                return member
            held.append((member.pending_events + member.reserved_events, turn, member))
    return min(held)[2] if held else None
