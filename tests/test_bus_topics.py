"""The bus as pub/sub: wildcard routing, broadcast, consumer groups, priority delivery,
request-reply (connectors/broker.py, connectors/queues.py)."""

from __future__ import annotations

import threading

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frys.connectors.broker import (
    Broker,
    NoResponders,
    RequestTimeout,
    pattern_matches,
)

# (pattern, topic, matches?) — `*` is one word, `#` any number of words (none included)
ROUTING = [
    ("orders", "orders", True),
    ("orders", "orders.eu", False),
    ("orders.*", "orders.eu", True),
    ("orders.*", "orders", False),
    ("orders.*", "orders.eu.paris", False),
    ("orders.#", "orders", True),
    ("orders.#", "orders.eu", True),
    ("orders.#", "orders.eu.paris", True),
    ("orders.#", "ordersx.eu", False),
    ("*.eu", "orders.eu", True),
    ("*.eu", "orders.us", False),
    ("#.paris", "orders.eu.paris", True),
    ("#.paris", "paris", True),
    ("orders.*.paris", "orders.eu.paris", True),
    ("orders.*.paris", "orders.paris", False),
    ("#", "anything.at.all", True),
    ("a.#.z", "a.z", True),
    ("a.#.z", "a.b.c.z", True),
    ("a.#.z", "a.b.c", False),
]


@pytest.mark.parametrize(("pattern", "topic", "expected"), ROUTING)
def test_wildcard_routing(pattern: str, topic: str, expected: bool) -> None:
    assert pattern_matches(pattern, topic) is expected


words = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4)


@given(words)
def test_a_topic_matches_itself_hash_and_its_own_prefix_hash(name: list[str]) -> None:
    topic = ".".join(name)
    assert pattern_matches(topic, topic)
    assert pattern_matches("#", topic)
    assert pattern_matches(".".join([*name[:1], "#"]), topic)
    assert pattern_matches(".".join("*" for _ in name), topic)
    assert not pattern_matches(".".join("*" for _ in [*name, "x"]), topic)


@pytest.mark.parametrize("pattern", ["", "a..b", "a.*x", "or#ders", "."])
def test_bad_patterns_are_refused_clearly(pattern: str) -> None:
    with pytest.raises(ValueError, match="bad subscription pattern"):
        Broker().subscribe(pattern)


def rows(frame: pl.DataFrame | None, column: str = "n") -> list[object]:
    assert frame is not None
    return frame[column].to_list()


def test_a_wildcard_subscription_receives_from_topics_made_after_it() -> None:
    bus = Broker()
    eu = bus.subscribe("orders.*")
    everything = bus.subscribe("orders.#")
    bus.publish("orders.eu", [{"n": 1}, {"n": 2}])
    bus.publish("orders", {"n": 3})
    bus.publish("orders.eu.paris", {"n": 4})
    bus.publish("shipments.eu", {"n": 5})
    assert rows(eu.get(0)) == [1, 2]
    assert eu.get(0) is None
    assert [rows(everything.get(0)) for _ in range(3)] == [[1, 2], [3], [4]]
    assert everything.get(0) is None


def test_every_subscriber_gets_every_batch_in_publish_order() -> None:
    bus = Broker()
    subscribers = [bus.subscribe("ticks") for _ in range(3)]
    for n in range(5):
        bus.publish("ticks", {"n": n})
    for subscriber in subscribers:
        assert [rows(subscriber.get(0))[0] for _ in range(5)] == [0, 1, 2, 3, 4]


def test_a_consumer_group_gives_each_batch_to_exactly_one_member() -> None:
    bus = Broker()
    members = [bus.subscribe("jobs.*", group="workers") for _ in range(3)]
    other_group = bus.subscribe("jobs.*", group="auditors")
    for n in range(30):
        bus.publish(f"jobs.{'ab'[n % 2]}", {"n": n})
    seen = []
    for member in members:
        mine = []
        while (batch := member.get(0)) is not None:
            mine.extend(rows(batch))
        assert mine, "round robin spreads the work over every member"
        seen.extend(mine)
    assert sorted(seen) == list(range(30))  # each exactly once
    audited = []
    while (batch := other_group.get(0)) is not None:
        audited.extend(rows(batch))
    assert audited == list(range(30))  # another group gets its own copy


def test_a_group_skips_a_full_member() -> None:
    bus = Broker()
    small = bus.subscribe("work", group="g", max_events=1)
    roomy = bus.subscribe("work", group="g")
    for n in range(6):
        bus.publish("work", {"n": n})
    assert small.pending_events == 1
    assert roomy.pending_events == 5


def test_a_priority_topic_delivers_highest_first_fifo_among_equals_across_batches() -> None:
    bus = Broker()
    bus.topic("alerts", kind="priority", priority="severity")
    queue = bus.subscribe("alerts")
    bus.publish("alerts", [{"severity": 1, "n": 1}, {"severity": 3, "n": 2}])
    bus.publish("alerts", [{"severity": 3, "n": 3}, {"severity": 2, "n": 4},
                           {"severity": 5, "n": 5}])
    first = queue.get(0, max_events=2)
    assert rows(first) == [5, 2]
    bus.publish("alerts", [{"severity": 4, "n": 6}, {"severity": 3, "n": 7}])
    assert rows(queue.get(0)) == [6, 3, 7, 4, 1]


events = st.lists(st.tuples(st.integers(0, 3), st.integers(1, 4)), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(events, st.integers(1, 7))
def test_priority_order_matches_a_stable_sort(batches: list[tuple[int, int]],
                                              take: int) -> None:
    """Whatever the batching and the take size: everything published before a take comes
    out highest priority first, FIFO among equal priorities."""
    bus = Broker()
    bus.topic("p", kind="priority", priority="level")
    queue = bus.subscribe("p")
    sequence = 0
    pending: list[tuple[int, int]] = []
    for level, size in batches:
        batch = [{"level": level, "seq": sequence + i} for i in range(size)]
        sequence += size
        bus.publish("p", batch)
        pending.extend((level, row["seq"]) for row in batch)
        frame = queue.get(0, max_events=take)
        expected = sorted(pending, key=lambda item: -item[0])[:take]
        assert list(zip(rows(frame, "level"), rows(frame, "seq"), strict=True)) == expected
        taken = set(expected)
        pending = [item for item in pending if item not in taken]


def test_request_reply_returns_the_reply_of_the_right_request() -> None:
    bus = Broker()
    responder = bus.serve("rpc.add", lambda r: {"sum": r["a"] + r["b"]})
    try:
        results = {}

        def ask(a: int) -> None:
            results[a] = bus.request("rpc.add", {"a": a, "b": 100}, timeout_s=5)

        askers = [threading.Thread(target=ask, args=(a,)) for a in range(8)]
        for asker in askers:
            asker.start()
        for asker in askers:
            asker.join(10)
        assert results == {a: {"sum": a + 100} for a in range(8)}
    finally:
        responder.stop()


def test_a_request_nobody_answers_times_out_with_a_clear_error() -> None:
    bus = Broker()
    silent = bus.subscribe("rpc.slow")  # subscribed, never replies
    with pytest.raises(RequestTimeout, match=r"no reply from topic rpc.slow within 0.05 s"):
        bus.request("rpc.slow", {"q": 1}, timeout_s=0.05)
    request = silent.get(0)
    assert request is not None
    assert set(request.columns) == {"q", "reply_to", "correlation_id"}


def test_a_request_to_a_topic_without_subscribers_fails_at_once() -> None:
    with pytest.raises(NoResponders, match=r"no subscriber on topic rpc\.none"):
        Broker().request("rpc.none", {"q": 1}, timeout_s=5)


def test_a_failing_handler_replies_with_the_error_instead_of_a_timeout() -> None:
    bus = Broker()
    responder = bus.serve("rpc.div", lambda r: {"q": r["a"] // r["b"]})
    try:
        assert bus.request("rpc.div", {"a": 7, "b": 2}) == {"q": 3}
        reply = bus.request("rpc.div", {"a": 1, "b": 0})
        assert reply == {"error": "ZeroDivisionError: integer division or modulo by zero"}
        assert responder.errors == 1
    finally:
        responder.stop()


def test_reply_refuses_an_event_that_is_not_a_request() -> None:
    with pytest.raises(ValueError, match="reply_to and correlation_id"):
        Broker().reply({"q": 1}, {"a": 2})


def test_a_subscription_ends_when_its_topic_ends() -> None:
    bus = Broker()
    subscription = bus.subscribe("feed")
    bus.publish("feed", [{"n": 1}, {"n": 2}])
    bus.end("feed")
    assert [rows(batch) for batch in subscription] == [[1, 2]]
    assert subscription.finished


def test_a_persistent_topic_keeps_its_events_and_its_consumers_offsets_across_restarts(
        tmp_path) -> None:
    bus = Broker(wal_root=tmp_path)
    bus.topic("orders", kind="persistent")
    live = bus.subscribe("orders")
    bus.publish("orders", [{"n": 1}, {"n": 2}, {"n": 3}])
    assert rows(live.get(0)) == [1, 2, 3]  # live subscribers get it too, after the log
    consumer = bus.consumer("orders", "billing")
    assert [rows(f) for f in consumer.frames()] == [[1, 2, 3]]
    consumer.commit(2)  # billing handled n=1 and n=2 only
    bus.end("orders")  # the topic ends; its log closes

    restarted = Broker(wal_root=tmp_path)
    restarted.topic("orders", kind="persistent")
    restarted.publish("orders", {"n": 4})
    again = restarted.consumer("orders", "billing")
    assert [rows(f) for f in again.frames()] == [[3], [4]]  # from inside the first batch
    fresh = restarted.consumer("orders", "audit")  # never committed: from the start
    assert [rows(f) for f in fresh.frames()] == [[1, 2, 3], [4]]
