"""Bounded queues: a full subscription blocks its publisher (up to a timeout) or refuses the
batch, per topic policy, so memory stays bounded whatever the publisher's speed."""

from __future__ import annotations

import threading
import time

import polars as pl
import pytest

from frys.connectors.broker import Broker
from frys.connectors.queues import Backpressure, QueueFull


def batch(start: int, size: int) -> pl.DataFrame:
    return pl.DataFrame({"n": range(start, start + size), "pad": ["x" * 80] * size})


def test_the_error_policy_refuses_a_batch_that_does_not_fit() -> None:
    bus = Broker()
    bus.topic("t", backpressure=Backpressure("error"))
    queue = bus.subscribe("t", max_events=10)
    bus.publish("t", batch(0, 6))
    with pytest.raises(QueueFull, match=r"subscription 't' is full \(6 events.*bound 10 "
                                        r"events.*a batch of 5 events does not fit"):
        bus.publish("t", batch(6, 5))
    bus.publish("t", batch(6, 4))  # exactly fills it
    assert queue.pending_events == 10


def test_the_block_policy_gives_up_after_its_timeout() -> None:
    bus = Broker()
    bus.topic("t", backpressure=Backpressure("block", timeout_s=0.05))
    bus.subscribe("t", max_events=5)
    bus.publish("t", batch(0, 5))
    started = time.monotonic()
    with pytest.raises(QueueFull, match=r"does not fit for 0.05 s"):
        bus.publish("t", batch(5, 1))
    assert time.monotonic() - started >= 0.05


def test_a_blocked_publisher_goes_on_when_the_consumer_makes_room() -> None:
    bus = Broker()
    bus.topic("t", backpressure=Backpressure("block", timeout_s=5))
    queue = bus.subscribe("t", max_events=5)
    bus.publish("t", batch(0, 5))
    published = threading.Event()

    def publish_more() -> None:
        bus.publish("t", batch(5, 3))
        published.set()

    publisher = threading.Thread(target=publish_more)
    publisher.start()
    assert not published.wait(0.1), "the queue is full: the publisher must wait"
    first = queue.get(0)
    assert first is not None and first["n"].to_list() == [0, 1, 2, 3, 4]
    assert published.wait(5)
    publisher.join()
    second = queue.get(0)
    assert second is not None and second["n"].to_list() == [5, 6, 7]


def test_a_batch_bigger_than_the_bound_enters_an_empty_queue() -> None:
    bus = Broker()
    bus.topic("t", backpressure=Backpressure("error"))
    queue = bus.subscribe("t", max_events=3)
    bus.publish("t", batch(0, 10))
    assert queue.pending_events == 10
    with pytest.raises(QueueFull):
        bus.publish("t", batch(10, 1))


def test_a_fast_publisher_and_a_slow_consumer_stay_within_the_bound() -> None:
    """The publisher could go far faster than the consumer, which sleeps per batch; the
    queue never holds more than its bound plus one batch, and nothing is lost or
    reordered."""
    bus = Broker()
    bus.topic("fast", backpressure=Backpressure("block", timeout_s=30))
    max_bytes = 64 << 10
    queue = bus.subscribe("fast", max_events=1_000_000, max_bytes=max_bytes)
    batches, size = 300, 50
    one_batch = batch(0, size).estimated_size()
    publish_seconds = []

    def publish_all() -> None:
        for i in range(batches):
            started = time.perf_counter()
            bus.publish("fast", batch(i * size, size))
            publish_seconds.append(time.perf_counter() - started)
        bus.end("fast")

    publisher = threading.Thread(target=publish_all)
    publisher.start()
    received = []
    consume_started = time.perf_counter()
    for got in queue:
        received.extend(got["n"].to_list())
        time.sleep(0.0005)  # the slow consumer
    consume_seconds = time.perf_counter() - consume_started
    publisher.join(30)
    assert received == list(range(batches * size))
    assert queue.peak_bytes <= max_bytes + one_batch
    # the publisher was held back to the consumer's pace: it spent most of its time waiting
    assert sum(publish_seconds) > consume_seconds / 2


def test_a_closed_subscription_no_longer_holds_the_publisher() -> None:
    bus = Broker()
    bus.topic("t", backpressure=Backpressure("block", timeout_s=5))
    queue = bus.subscribe("t", max_events=1)
    bus.publish("t", batch(0, 1))
    queue.close()
    started = time.monotonic()
    bus.publish("t", batch(1, 1))  # dropped for the closed subscription, no wait
    assert time.monotonic() - started < 1
    assert queue.get(0) is None
