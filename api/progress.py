"""The live status line `frys run` draws on a terminal while a job runs.

    frys: 1,204,311 events  402,118 ev/s  [#########-----------]  47%
          watermark 2024-05-01T12:31:07Z  dead letters 2  late 0

(one line on the terminal; wrapped here to fit this page).

It is fed by `Runtime.run(on_batch_read=...)`, once per chunk a source read (a chunk is
megabytes of input), so it costs nothing per event. It redraws at most every
`REFRESH_SECONDS`, on one line (carriage return, erase to the end of the line), cut to the
terminal's width so it never wraps; `clear()` erases it before the summary is printed.

The bar (percent of the input's bytes read) is shown only when every source is a file,
whose size is known up front; the watermark is the one of the job's first source stream.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from frys.connectors.bus import Producer
from frys.connectors.jsonl import JsonlFileSource
from frys.engine.runtime import Runtime
from frys.engine.time import END_OF_TIME, START_OF_TIME

REFRESH_SECONDS = 0.25
BAR_WIDTH = 20


@dataclass(frozen=True)
class RunCounters:
    """What the status line shows, at one moment of a run."""

    elapsed_s: float
    events: int  # read from the sources so far (dead letters not counted)
    watermark_ms: int | None  # of the main input; None before it has one
    dead_letters: int
    late_events: int
    bytes_read: int | None = None  # with bytes_total: the bar; None when unknown
    bytes_total: int | None = None


def format_watermark(watermark_ms: int | None) -> str:
    """ISO-8601 UTC to the second; '-' before the first event, 'end' once the input ended."""
    if watermark_ms is None or watermark_ms <= START_OF_TIME:
        return "-"
    if watermark_ms >= END_OF_TIME:
        return "end"
    try:
        moment = datetime.fromtimestamp(watermark_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):  # outside what datetime can show
        return str(watermark_ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def status_text(counters: RunCounters, width: int | None = None) -> str:
    """The status line for `counters`, without terminal control characters, at most `width`
    characters: when it is too long the bar goes first (the percent stays), then the end
    of the line is cut."""
    rate = counters.events / counters.elapsed_s if counters.elapsed_s > 0 else 0.0
    parts = [f"frys: {counters.events:,} events", f"{rate:,.0f} ev/s"]
    if counters.bytes_total is not None and counters.bytes_read is not None:
        fraction = (min(1.0, counters.bytes_read / counters.bytes_total)
                    if counters.bytes_total > 0 else 1.0)
        filled = round(fraction * BAR_WIDTH)
        parts.append(f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {fraction:4.0%}")
    parts.append(f"watermark {format_watermark(counters.watermark_ms)}")
    parts.append(f"dead letters {counters.dead_letters:,}")
    parts.append(f"late {counters.late_events:,}")
    text = "  ".join(parts)
    if width is not None and len(text) > width and len(parts) == 6:
        parts[2] = parts[2].split("] ")[1].strip()
        text = "  ".join(parts)
    return text if width is None else text[:width]


def _terminal_width(out: IO[str]) -> int:
    try:
        columns = os.get_terminal_size(out.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 80
    return columns if columns > 0 else 80  # a terminal that has not been given a size


class RunStatusLine:
    """Draws `status_text` for a running `runtime` on `out` (a terminal), at most once per
    `refresh_s` of `clock` time; the first drawing comes `refresh_s` after the start, so a
    job that ends sooner draws nothing. Lines are cut to `width` columns (None: the
    terminal's, read at every drawing as it may be resized). Pass `on_batch_read` to
    `Runtime.run`."""

    def __init__(self, runtime: Runtime, out: IO[str],
                 clock: Callable[[], float] = time.monotonic,
                 refresh_s: float = REFRESH_SECONDS, width: int | None = None) -> None:
        self.runtime = runtime
        self.out = out
        self.clock = clock
        self.refresh_s = refresh_s
        self.width = width
        self.started = clock()
        self.last_drawn = self.started
        self.drawn = False
        self.events = 0
        # the first source's stream: the main input, whose watermark the line shows
        self.main_stream = runtime.sources[0][0].topic.name if runtime.sources else None
        # bytes read per file source: JsonlFileSource reads `chunk_bytes` per chunk it
        # yields, so chunks seen x chunk_bytes (capped at the size) is what was read, without
        # the source having to report it
        self.files = {id(producer): source for producer, source in runtime.sources
                      if isinstance(source, JsonlFileSource)
                      and not getattr(source, "growing", False)}  # (a followed file grows)
        self.sizes = {name: _size(source) for name, source in self.files.items()}
        self.chunks_read = dict.fromkeys(self.files, 0)
        self.bytes_total: int | None = None
        if runtime.sources and len(self.files) == len(runtime.sources):
            self.bytes_total = sum(self.sizes.values())

    def on_batch_read(self, producer: Producer, events: int) -> None:
        self.events += events
        if id(producer) in self.chunks_read:
            self.chunks_read[id(producer)] += 1
        now = self.clock()
        if now - self.last_drawn >= self.refresh_s:
            self.last_drawn = now
            self.draw(now)

    def counters(self, now: float) -> RunCounters:
        watermark = None
        if self.main_stream is not None:
            watermark = self.runtime.topics[self.main_stream].watermark.current
        bytes_read = None
        if self.bytes_total is not None:
            bytes_read = sum(min(self.sizes[name], self.chunks_read[name] * source.chunk_bytes)
                             for name, source in self.files.items())
        stats = self.runtime.stats
        return RunCounters(now - self.started, self.events, watermark,
                           stats.total_dead_letters, stats.total_late_events,
                           bytes_read, self.bytes_total)

    def draw(self, now: float) -> None:
        # one column short of the width: a line that fills it wraps on some terminals
        width = max(1, (self.width or _terminal_width(self.out)) - 1)
        text = status_text(self.counters(now), width)
        self.out.write("\r" + text + "\x1b[K")
        self.out.flush()
        self.drawn = True

    def clear(self) -> None:
        """Erase the line (if drawn), so what is printed next starts on a clean line."""
        if self.drawn:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self.drawn = False


def _size(source: JsonlFileSource) -> int:
    try:
        return source.path.stat().st_size
    except OSError:
        return 0
