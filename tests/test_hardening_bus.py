"""Hardening of the bus: delivery to a topic is all or nothing (a refused batch reached no
subscriber and no log, so a retry never duplicates it), and a publisher waiting for room
does not hold the job's lock (a consumer republishing into the same job goes on)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import polars as pl
import pytest

from frys import Pipeline
from frys.connectors.broker import Broker
from frys.connectors.queues import Backpressure, QueueFull
from frys.connectors.wal import LogReader


def run_together(*targets) -> None:
    """Run the functions in threads at once; fail if any is still running after 60 s."""
    threads = [threading.Thread(target=target, daemon=True) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "stalled"


def rows(frame: pl.DataFrame | None) -> list[int]:
    return [] if frame is None else frame["n"].to_list()


def drain(queue) -> list[int]:  # type: ignore[no-untyped-def]
    got: list[int] = []
    while (batch := queue.get(0)) is not None:
        got.extend(rows(batch))
    return got


def test_a_full_second_subscriber_means_the_first_gets_nothing_and_a_retry_is_exact() -> None:
    bus = Broker()
    bus.topic("t", backpressure=Backpressure("error"))
    first = bus.subscribe("t", max_events=100)
    second = bus.subscribe("t", max_events=2)
    bus.publish("t", {"n": 0})
    bus.publish("t", {"n": 1})  # the second is now full
    with pytest.raises(QueueFull, match="subscription 't' is full"):
        bus.publish("t", {"n": 2})
    assert first.pending_events == 2, "the refused batch reached nobody"
    assert drain(second) == [0, 1]
    bus.publish("t", {"n": 2})  # the retry
    assert drain(first) == [0, 1, 2]
    assert drain(second) == [2]


def test_a_block_timeout_delivers_to_nobody() -> None:
    bus = Broker()
    bus.topic("t", backpressure=Backpressure("block", timeout_s=0.05))
    first = bus.subscribe("t")
    second = bus.subscribe("t", max_events=1)
    bus.publish("t", {"n": 0})
    with pytest.raises(QueueFull, match=r"for 0\.05 s"):
        bus.publish("t", {"n": 1})
    assert drain(first) == [0]
    assert drain(second) == [0]


def test_a_refused_batch_is_not_logged_by_a_persistent_topic(tmp_path: Path) -> None:
    bus = Broker(wal_root=tmp_path)
    bus.topic("p", kind="persistent", backpressure=Backpressure("error"))
    queue = bus.subscribe("p", max_events=1)
    bus.publish("p", {"n": 0})
    with pytest.raises(QueueFull):
        bus.publish("p", {"n": 1})
    assert drain(queue) == [0]
    bus.publish("p", {"n": 1})
    bus.end("p")
    logged = [record.count for record, _ in LogReader(tmp_path / "p", 0).read()]
    assert sum(logged) == 2  # 0 and 1 once each, the refused attempt left no record


def test_a_group_has_room_if_some_member_has_and_a_full_group_refuses_for_everyone() -> None:
    bus = Broker()
    bus.topic("w", backpressure=Backpressure("error"))
    watcher = bus.subscribe("w")
    small = bus.subscribe("w", group="g", max_events=1)
    other = bus.subscribe("w", group="g", max_events=1)
    bus.publish("w", {"n": 0})
    bus.publish("w", {"n": 1})  # round robin: one each
    assert small.pending_events == other.pending_events == 1
    with pytest.raises(QueueFull):
        bus.publish("w", {"n": 2})  # every member full: the watcher gets nothing either
    assert watcher.pending_events == 2
    assert sorted(drain(small) + drain(other)) == [0, 1]
    bus.publish("w", {"n": 2})
    assert drain(watcher) == [0, 1, 2]
    assert drain(small) + drain(other) == [2]


def test_a_blocked_publisher_does_not_hold_the_jobs_lock() -> None:
    """A consumer drains stream a and republishes each batch into stream b of the same job
    while the main thread publishes 200 small batches into a, whose queue holds 2 events:
    every batch reaches b, in order, and the publisher never gets QueueFull."""
    pipeline = Pipeline.from_text("""
        CREATE STREAM a (n INT);
        CREATE STREAM b (n INT);
    """)
    bus = pipeline.bus
    bus.topics["a"].backpressure = Backpressure("block", timeout_s=10)
    source = bus.subscribe("a", max_events=2)
    sink = bus.subscribe("b", max_events=10_000)
    batches = 200
    errors: list[BaseException] = []

    def relay() -> None:
        try:
            moved = 0
            while moved < batches:
                batch = source.get(timeout_s=10)
                if batch is None:
                    raise AssertionError(f"nothing came after {moved} batches")
                bus.publish("b", batch)
                moved += 1
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    def publish() -> None:
        try:
            for n in range(batches):
                bus.publish("a", pl.DataFrame({"n": [n]}, schema={"n": pl.Int64}))
        except BaseException as error:
            errors.append(error)

    run_together(relay, publish)
    assert errors == []
    assert drain(sink) == list(range(batches))


def test_a_publisher_blocked_on_a_full_group_goes_on_when_any_member_makes_room() -> None:
    bus = Broker()
    bus.topic("w", backpressure=Backpressure("block", timeout_s=10))
    watcher = bus.subscribe("w")
    members = [bus.subscribe("w", group="g", max_events=1) for _ in range(2)]
    bus.publish("w", {"n": 0})
    bus.publish("w", {"n": 1})
    errors: list[BaseException] = []

    def publish() -> None:
        try:
            bus.publish("w", {"n": 2})
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    publisher.join(0.1)
    assert publisher.is_alive(), "every member is full: the publisher waits"
    assert watcher.pending_events == 2, "and nobody has the batch meanwhile"
    # whichever member is next in turn, draining the other one also lets it go on
    assert rows(members[1].get(0)) == [1]
    publisher.join(10)
    assert not publisher.is_alive() and errors == []
    assert drain(watcher) == [0, 1, 2]
    assert drain(members[0]) + drain(members[1]) == [0, 2]


# ---------------------------------------------------------------- nested publishes
#
# A query of a job writing downstream publishes while the job's lock is held (nested): it
# admits its batch even into a full queue, and the publish into the job (the entry) waits
# instead, without the lock, until the queues downstream are below their bounds.

RELAY_JOB = """
    CREATE STREAM a (n INT);
    CREATE STREAM b {b_options};
    CREATE STREAM c (n INT);
    INSERT INTO b SELECT n FROM a;
"""


def batch_of(*values: int) -> pl.DataFrame:
    return pl.DataFrame({"n": list(values)}, schema={"n": pl.Int64})


@pytest.mark.parametrize("downstream", ["job stream", "bus topic"])
def test_a_consumer_of_a_downstream_queue_republishing_into_the_job_never_stalls_it(
        downstream: str) -> None:
    """Query a -> b; b's queue (a job stream, or a bus topic fed by a `bus:` sink) holds 2
    events, and its consumer thread republishes each batch into stream c of the same job
    while the main thread publishes 200 batches into a. The nested publish into b used to
    wait for room holding the job's lock, while the consumer waited for that lock to
    republish: a stall until the timeout, then QueueFull half-way through a's batch."""
    b_options = "(n INT)" if downstream == "job stream" else \
        "(n INT) WITH (sink = 'bus:out.b')"
    pipeline = Pipeline.from_text(RELAY_JOB.format(b_options=b_options))
    bus = pipeline.bus
    for topic in bus.topics.values():
        topic.backpressure = Backpressure("block", timeout_s=5)
    queue_name = "b" if downstream == "job stream" else "out.b"
    bus.topic(queue_name, backpressure=Backpressure("block", timeout_s=5))
    relayed = bus.subscribe(queue_name, max_events=2)
    sink = bus.subscribe("c", max_events=100_000)
    batches = 200
    errors: list[BaseException] = []
    slowest_publish_s = 0.0

    def relay() -> None:
        try:
            moved = 0
            while moved < batches:
                batch = relayed.get(timeout_s=10)
                if batch is None:
                    raise AssertionError(f"nothing came after {moved} events")
                bus.publish("c", batch)
                moved += batch.height
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    def publish() -> None:
        nonlocal slowest_publish_s
        try:
            for n in range(batches):
                started = time.monotonic()
                bus.publish("a", batch_of(n))
                slowest_publish_s = max(slowest_publish_s, time.monotonic() - started)
        except BaseException as error:
            errors.append(error)

    run_together(relay, publish)
    assert errors == []
    assert drain(sink) == list(range(batches))
    # waits are on the scale of the room poll (50 ms), far from the 5 s timeout
    assert slowest_publish_s < 2.5


def test_a_full_downstream_queue_is_overshot_by_at_most_one_entry_batch_and_then_refuses(
        ) -> None:
    """b's queue holds 5 events and nobody drains it; a's policy is `error`. A batch of 3
    into a passes through the query into b: the first fits, the second finds b below its
    bound at the entry and goes over it inside the job (6 events: bound plus at most one
    entry batch), the third is refused at the entry, before anything received it."""
    pipeline = Pipeline.from_text(RELAY_JOB.format(b_options="(n INT)"))
    bus = pipeline.bus
    bus.topics["a"].backpressure = Backpressure("error")
    bus.topics["b"].backpressure = Backpressure("error")  # never applies to a nested publish
    watcher = bus.subscribe("a")
    downstream = bus.subscribe("b", max_events=5)
    bus.publish("a", batch_of(0, 1, 2))
    bus.publish("a", batch_of(3, 4, 5))
    assert downstream.pending_events == 6 <= downstream.max_events + 3
    with pytest.raises(QueueFull, match="downstream of topic 'a', is full"):
        bus.publish("a", batch_of(6, 7, 8))
    assert watcher.pending_events == 6, "the refused batch reached nobody"
    assert downstream.pending_events == 6
    assert drain(downstream) == [0, 1, 2, 3, 4, 5]
    bus.publish("a", batch_of(6, 7, 8))  # the retry, once the consumer made room
    assert drain(downstream) == [6, 7, 8]
    assert drain(watcher) == list(range(9))


def test_an_entry_blocked_by_a_full_downstream_queue_times_out_without_delivering() -> None:
    pipeline = Pipeline.from_text(RELAY_JOB.format(b_options="(n INT)"))
    bus = pipeline.bus
    bus.topics["a"].backpressure = Backpressure("block", timeout_s=0.2)
    watcher = bus.subscribe("a")
    downstream = bus.subscribe("b", max_events=1)
    bus.publish("a", batch_of(0))
    started = time.monotonic()
    with pytest.raises(QueueFull, match=r"downstream of topic 'a'.* for 0\.2 s"):
        bus.publish("a", batch_of(1))
    assert 0.2 <= time.monotonic() - started < 5
    assert drain(watcher) == [0] and drain(downstream) == [0]


def test_with_a_slow_consumer_a_downstream_queue_stays_within_its_bound_plus_one_entry(
        ) -> None:
    """A blocked entry publish holds a downstream queue to its bound plus one entry's
    output, however fast the publisher: b's queue is bounded at 100 bytes (four batches of
    3 events), its consumer sleeps per batch, 100 batches go into a."""
    pipeline = Pipeline.from_text(RELAY_JOB.format(b_options="(n INT)"))
    bus = pipeline.bus
    bus.topics["a"].backpressure = Backpressure("block", timeout_s=10)
    downstream = bus.subscribe("b", max_bytes=100)
    got: list[int] = []
    largest = 0

    def consume() -> None:
        nonlocal largest
        while len(got) < 300 and (batch := downstream.get(timeout_s=10)) is not None:
            largest = max(largest, int(batch.estimated_size()))
            got.extend(rows(batch))
            time.sleep(0.002)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    for n in range(100):
        bus.publish("a", batch_of(3 * n, 3 * n + 1, 3 * n + 2))
    consumer.join(30)
    assert got == list(range(300))
    assert downstream.max_bytes < downstream.peak_bytes <= downstream.max_bytes + largest


def test_a_nested_publish_into_a_full_group_goes_to_its_least_loaded_member() -> None:
    """Two members of 4 events on b, batches of 3 through the query: each member takes one;
    then neither has room, and the nested publish goes over the bound of the least loaded
    (round robin among equals), until every member is full and the entry refuses."""
    pipeline = Pipeline.from_text(RELAY_JOB.format(b_options="(n INT)"))
    bus = pipeline.bus
    bus.topics["a"].backpressure = Backpressure("error")
    members = [bus.subscribe("b", group="g", max_events=4) for _ in range(2)]
    for n in range(4):
        bus.publish("a", batch_of(3 * n, 3 * n + 1, 3 * n + 2))
    assert [member.pending_events for member in members] == [6, 6]
    with pytest.raises(QueueFull, match="downstream of topic 'a'"):
        bus.publish("a", batch_of(12, 13, 14))
    assert sorted(drain(members[0]) + drain(members[1])) == list(range(12))
