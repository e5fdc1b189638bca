"""W1 peer: the frys W1 job hand-written with bytewax 0.21 operators.

Pipeline (one bytewax worker, run in-process with ``bytewax.testing.run_main``)::

    FileSource(lines) -> map(parse) -> filter(v > 10) -> key_on(str(k))
      -> fold_window(EventClock(ts), TumblingWindower(1 s, aligned to epoch))
      -> map(format JSON line) -> FileSink

Each output line is ``{"k": int, "window_start": ISO-8601 UTC, "n": int,
"total": float}``, the same shape the frys job writes.

Clock note: bytewax's ``EventClock`` advances the watermark by the *system*
time elapsed since the newest event was seen. When replaying a file that makes
lateness depend on how fast batches are processed, so the clock here is given a
frozen ``now_getter``: the watermark is then purely ``max(ts) - 0 s``, which is
the event-time semantics of the frys job (``watermark = 0 SECONDS``). Windows
close as later events arrive and at end of file.

Usage::

    .venv/bin/python benchmarks/peer_bytewax.py [INPUT.jsonl] [OUTPUT.jsonl]
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import bytewax.operators as op
from bytewax.connectors.files import FileSink, FileSource
from bytewax.dataflow import Dataflow
from bytewax.operators.windowing import EventClock, TumblingWindower, fold_window
from bytewax.testing import run_main
from w1_outputs import peer_paths

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUTPUT = BENCH_DIR / "out" / "bytewax_w1.jsonl"

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WINDOW_LENGTH = timedelta(seconds=1)
VALUE_THRESHOLD = 10.0
SOURCE_BATCH_LINES = 1000


class Event(NamedTuple):
    """One parsed input event; ``ts`` is a timezone-aware UTC datetime."""

    k: int
    v: float
    ts: datetime


Accumulator = tuple[int, float]  # (count, sum of v)


def parse_event(line: str) -> Event:
    """Decode one JSONL line into an :class:`Event`."""
    record = json.loads(line)
    return Event(record["k"], record["v"], EPOCH + timedelta(milliseconds=record["ts"]))


def event_time(event: Event) -> datetime:
    """Timestamp getter for the event clock."""
    return event.ts


def frozen_system_time() -> datetime:
    """A constant "now", so the watermark is driven by event time alone."""
    return EPOCH


def never_wake_up(_close_time: datetime) -> datetime | None:
    """Do not schedule timer wake-ups; windows close on newer events or at EOF."""
    return None


def event_clock() -> EventClock:
    """Event time with a frozen system clock: the watermark is the newest event time, no
    matter how fast the file is replayed (see the module docstring)."""
    return EventClock(
        ts_getter=event_time,
        wait_for_system_duration=timedelta(seconds=0),
        now_getter=frozen_system_time,
        to_system_utc=never_wake_up,
    )


def empty_accumulator() -> Accumulator:
    return (0, 0.0)


def add_event(acc: Accumulator, event: Event) -> Accumulator:
    return (acc[0] + 1, acc[1] + event.v)


def merge_accumulators(a: Accumulator, b: Accumulator) -> Accumulator:
    return (a[0] + b[0], a[1] + b[1])


def format_window(key_and_window: tuple[str, tuple[int, Accumulator]]) -> tuple[str, str]:
    """Turn ``(key, (window_id, (n, total)))`` into ``(key, json_line)``.

    With a tumbling windower aligned to the epoch, window ``i`` opens at
    ``EPOCH + i * WINDOW_LENGTH`` (bytewax ``_SlidingWindowerLogic._metadata_for``).
    """
    key, (window_id, (count, total)) = key_and_window
    window_start = EPOCH + window_id * WINDOW_LENGTH
    line = json.dumps({
        "k": int(key),
        "window_start": window_start.isoformat(),
        "n": count,
        "total": total,
    })
    return key, line


def build_flow(input_path: Path, output_path: Path) -> Dataflow:
    """Build the W1 dataflow reading ``input_path`` and writing ``output_path``."""
    flow = Dataflow("w1_bytewax")
    lines = op.input("read", flow, FileSource(input_path, batch_size=SOURCE_BATCH_LINES))
    events = op.map("parse", lines, parse_event)
    kept = op.filter("v_gt_10", events, lambda event: event.v > VALUE_THRESHOLD)
    keyed = op.key_on("key_on_k", kept, lambda event: str(event.k))
    clock = event_clock()
    windower = TumblingWindower(length=WINDOW_LENGTH, align_to=EPOCH)
    # ordered=False: the input is already in timestamp order and (count, sum)
    # does not depend on fold order, so bytewax's reordering buffer is skipped.
    windows = fold_window("count_sum", keyed, clock, windower,
                          empty_accumulator, add_event, merge_accumulators,
                          ordered=False)
    formatted = op.map("format", windows.down, format_window)
    op.output("write", formatted, FileSink(output_path))
    return flow


def main(argv: list[str] | None = None) -> int:
    input_path, output_path = peer_paths(__doc__.splitlines()[0], DEFAULT_OUTPUT, argv)
    run_main(build_flow(input_path, output_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
