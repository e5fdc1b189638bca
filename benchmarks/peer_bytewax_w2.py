"""W2 peer: the frys W2, W2h and W2s jobs hand-written with bytewax 0.21 operators.

In memory, one bytewax worker, run in-process with ``bytewax.testing.run_main``::

    TestingSource(events) -> [W2: filter(v > 10)] -> key_on(str(k))
      -> fold_window(EventClock(ts), windower, accumulator)
      -> map(row) -> TestingSink(list)

* W2  = ``filter(v > 10)``, ``TumblingWindower(1 s, aligned to the epoch)``, fold
  ``(count, sum)``; rows ``(k, window_start, n, total)``.
* W2h = ``SlidingWindower(length 10 s, offset 1 s, aligned to the epoch)``, fold
  ``(count, sum)`` and map to the mean; rows ``(k, window_start, avg_v)``.
* W2s = ``SessionWindower(gap 5 s)``, fold ``(count, first ts, last ts)``; rows
  ``(k, window_start, window_end, n)`` with ``window_end = last + gap`` as in frys.

The events are the ones ``run_w2.events`` builds, turned into :class:`Event` tuples
(``ts`` an aware UTC ``datetime``) by :func:`to_events` before the clock starts, as frys'
input is already columns. The clock is the W1 peer's (``peer_bytewax.py``): an
``EventClock`` with a frozen ``now_getter``, so the watermark is purely
``max(ts) - 0 s``, frys' ``watermark = 0 SECONDS``; windows close as later events
arrive and at the end of the input.

Window rules, checked against bytewax's ``_SlidingWindowerLogic`` and
``_SessionWindowerLogic``: tumbling and sliding windows are half-open
``[align + i * offset, ... + length)`` and hold ``t`` when ``start <= t < end``, as
frys'. A session is kept as ``[first ts, last ts]`` and an event joins it (or bridges
two) when it is at most ``gap`` from it, so two events exactly ``gap`` apart share a
session, as in frys (``[first, last + gap)``, touching intervals merge).

Usage (prints the number of rows of each job)::

    .venv/bin/python benchmarks/peer_bytewax_w2.py [--events 100000] [--job W2 ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Dataflow
from bytewax.operators.windowing import (
    SessionWindower,
    SlidingWindower,
    TumblingWindower,
    Windower,
    fold_window,
)
from bytewax.testing import TestingSink, TestingSource, run_main

# the W1 peer's event type and frozen event clock (watermark from event time alone)
from peer_bytewax import EPOCH, Event, event_clock

VALUE_THRESHOLD = 10.0
TUMBLE = timedelta(seconds=1)
HOP_LENGTH = timedelta(seconds=10)
HOP_SLIDE = timedelta(seconds=1)
SESSION_GAP = timedelta(seconds=5)
SOURCE_BATCH = 1000  # items per TestingSource batch, as the W1 peer's FileSource
JOBS = ("W2", "W2h", "W2s")


def to_events(frame: pl.DataFrame) -> list[Event]:
    """The frame's rows (``k``, ``v``, ``ts`` as Datetime ms UTC) as :class:`Event` s."""
    millis = frame.get_column("ts").dt.epoch("ms").to_list()
    return [Event(k, v, EPOCH + timedelta(milliseconds=ms))
            for k, v, ms in zip(frame.get_column("k").to_list(),
                                frame.get_column("v").to_list(), millis, strict=True)]


# Accumulators: (count, sum of v) for W2 and W2h, (count, first ts, last ts) for W2s.
def count_sum_new() -> tuple[int, float]:
    return (0, 0.0)


def count_sum_add(acc: tuple[int, float], event: Event) -> tuple[int, float]:
    return (acc[0] + 1, acc[1] + event.v)


def count_sum_merge(a: tuple[int, float], b: tuple[int, float]) -> tuple[int, float]:
    return (a[0] + b[0], a[1] + b[1])


Span = tuple[int, datetime | None, datetime | None]


def span_new() -> Span:
    return (0, None, None)


def span_add(acc: Span, event: Event) -> Span:
    first, last = acc[1], acc[2]
    return (acc[0] + 1,
            event.ts if first is None or event.ts < first else first,
            event.ts if last is None or event.ts > last else last)


def span_merge(a: Span, b: Span) -> Span:
    firsts = [t for t in (a[1], b[1]) if t is not None]
    lasts = [t for t in (a[2], b[2]) if t is not None]
    return (a[0] + b[0], min(firsts, default=None), max(lasts, default=None))


def tumble_row(item: tuple[str, tuple[int, tuple[int, float]]]) -> tuple:
    key, (window_id, (count, total)) = item
    return (int(key), EPOCH + window_id * TUMBLE, count, total)


def hop_row(item: tuple[str, tuple[int, tuple[int, float]]]) -> tuple:
    key, (window_id, (count, total)) = item
    return (int(key), EPOCH + window_id * HOP_SLIDE, total / count)


def session_row(item: tuple[str, tuple[int, Span]]) -> tuple:
    key, (_window_id, (count, first, last)) = item
    return (int(key), first, last + SESSION_GAP if last is not None else None, count)


Shape = tuple[Callable[[], Windower[Any]], Callable[[], Any], Callable, Callable, Callable]
SHAPES: dict[str, Shape] = {
    "W2": (lambda: TumblingWindower(length=TUMBLE, align_to=EPOCH),
           count_sum_new, count_sum_add, count_sum_merge, tumble_row),
    "W2h": (lambda: SlidingWindower(length=HOP_LENGTH, offset=HOP_SLIDE, align_to=EPOCH),
            count_sum_new, count_sum_add, count_sum_merge, hop_row),
    "W2s": (lambda: SessionWindower(gap=SESSION_GAP),
            span_new, span_add, span_merge, session_row),
}


def build_flow(job: str, events: list[Event], rows: list[tuple],
               batch_size: int = SOURCE_BATCH) -> Dataflow:
    """The dataflow of ``job`` reading ``events`` and appending its rows to ``rows``."""
    windower, new, add, merge, row = SHAPES[job]
    flow = Dataflow(f"{job.lower()}_bytewax")
    stream = op.input("events", flow, TestingSource(events, batch_size=batch_size))
    if job == "W2":
        stream = op.filter("v_gt_10", stream, lambda event: event.v > VALUE_THRESHOLD)
    keyed = op.key_on("key_on_k", stream, lambda event: str(event.k))
    clock = event_clock()
    # ordered=False: the events come in timestamp order and none of the folds depends on
    # the fold order, so bytewax's reordering buffer is skipped (as in the W1 peer).
    windows = fold_window(job.lower(), keyed, clock, windower(), new, add, merge,
                          ordered=False)
    op.output("rows", op.map("row", windows.down, row), TestingSink(rows))
    return flow


def run(job: str, events: list[Event], batch_size: int = SOURCE_BATCH) -> list[tuple]:
    """Run ``job`` over ``events`` to the end and return its rows."""
    rows: list[tuple] = []
    run_main(build_flow(job, events, rows, batch_size))
    return rows


def main(argv: list[str] | None = None) -> int:
    from run_w2 import events as make_events  # the benchmark's events

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--job", choices=JOBS, action="append")
    args = parser.parse_args(argv)
    events = to_events(make_events(args.events))
    for job in args.job or JOBS:
        start = time.perf_counter()
        rows = run(job, events)
        elapsed = time.perf_counter() - start
        print(f"{job}: {len(rows):,} rows, {len(events) / elapsed:,.0f} events/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
