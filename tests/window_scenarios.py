"""Shared by the window property tests: random out-of-order events cut into batches, and
the small conversions every window test needs."""

from __future__ import annotations

from datetime import datetime

from hypothesis import strategies as st

import frys

Event = tuple[int, float | int, int]  # (k, v, ts in epoch ms)
SMALL_INTEGERS = st.integers(-9, 9)


def out_of_order_events(draw, *, count_max: int, step_max: int, behind_max: int,
                        start: int = 0, values: st.SearchStrategy = SMALL_INTEGERS
                        ) -> list[Event]:
    """Up to `count_max` events over keys 0-2: a clock rising by 0..`step_max` ms per event,
    each event up to `behind_max` ms behind it (so some arrive late)."""
    count = draw(st.integers(1, count_max))
    clock = start
    events = []
    for _ in range(count):
        clock += draw(st.integers(0, step_max))
        events.append((draw(st.integers(0, 2)), draw(values),
                       clock - draw(st.integers(0, behind_max))))
    return events


def split_into_batches(draw, events: list[Event]) -> list[list[Event]]:
    """The events in arrival order, cut at up to five random places."""
    cuts = sorted(draw(st.lists(st.integers(1, len(events)), max_size=5, unique=True)))
    batches, start = [], 0
    for cut in [*cuts, len(events)]:
        if cut > start:
            batches.append(events[start:cut])
            start = cut
    return batches


def publish_batches(pipeline: frys.Pipeline, batches: list[list[Event]],
                    stream: str = "ev") -> None:
    """One publish call per batch (the watermark advances between them)."""
    for batch in batches:
        pipeline.publish(stream, [{"k": k, "v": v, "ts": ts} for k, v, ts in batch])


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
