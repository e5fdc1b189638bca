"""Count windows: GROUP BY keys, ROWS(n) or ROWS(n, slide), in event-time order.

Semantics:

* The events of each group are numbered 0, 1, 2, ... in event-time order (equal times keep
  their arrival order). ROWS(n) puts events n*w .. n*w + n - 1 in window w; ROWS(n, slide)
  makes a window every `slide` events, each covering `n`: window w holds events
  slide*w .. slide*w + n - 1.
* Numbering needs order, so events wait in a buffer until the watermark passes them (then
  no earlier event can still come); an event behind (earlier than) the watermark when it
  arrives is late: dropped and counted. One at the watermark is on time, as in Flink (whose
  watermark is one millisecond below frys's: max event time - delay - 1).
* A window fires when it holds n events. As with Flink's count windows, a window that is
  still short of n events when the input ends does not fire; those are counted in
  `incomplete_windows`.
* `window_start` is the event time of a window's first event, `window_end` that of its last
  plus one millisecond (half-open, like the time windows).
* EMIT CHANGES: each release of events (a watermark advance) emits the updated row of every
  (key, window) it added to, short windows included; a window's row at n events is its last.
  EMIT EVERY: when the watermark crosses a multiple of the period, every short window emits
  its current row; full windows emit their final row as under EMIT FINAL.
* State: the buffer of events not yet passed by the watermark, and one row of partial
  aggregates per open (key, window).
"""

from __future__ import annotations

import polars as pl

from frys.engine.graph import WindowAggregateSpec
from frys.engine.operator import OperatorSettings, OperatorState
from frys.engine.time import END_OF_TIME
from frys.operators.window_aggregate import (
    ARRIVAL_WATERMARK,
    EVENT_TIME,
    ORIGIN,
    WINDOW_END,
    WINDOW_START,
    WindowAggregate,
)

_SEQUENCE = "__sequence"
_WINDOW = "__window"
_COUNT = "__count"
_FIRST_TIME = "__first_time"
_LAST_TIME = "__last_time"


class CountWindowAggregate(WindowAggregate):
    """A WindowAggregate over ROWS(n[, slide]) windows; `size_ms` is unused (None)."""

    _keeps_window_end = True
    watermark: int | None
    _state: pl.DataFrame | None

    STATE_KIND = "count window"

    def __init__(self, spec: WindowAggregateSpec, settings: OperatorSettings) -> None:
        self._configure(spec, None)
        self.rows = spec.rows
        self.rows_slide = spec.rows_slide
        self._buffer: pl.DataFrame | None = None  # events waiting for the watermark
        self._next: pl.DataFrame | None = None  # per key: the number of the next event
        self._arrivals = 0
        self._group_columns = [*self.key_names, _WINDOW]

    def _state_tables(self) -> dict[str, pl.DataFrame | None]:
        """Besides the windows' partial aggregates: the events waiting for the watermark
        and, per key, the number the next event gets."""
        return {"state": self._state, "buffer": self._buffer, "next": self._next}

    def _state_scalars(self) -> dict[str, int | None]:
        return {"arrivals": self._arrivals}

    def _restore_tables(self, state: OperatorState) -> None:
        self._state = state.tables.get("state")
        self._buffer = state.tables.get("buffer")
        self._next = state.tables.get("next")
        self._arrivals = state.scalars["arrivals"] or 0

    def _process(self, batch: pl.DataFrame, arrivals: pl.Series | None = None
                 ) -> list[pl.DataFrame]:
        """Buffer the batch's events until the watermark passes them; an event behind the
        watermark it arrived under (`arrivals`, or the operator's) is late."""
        if batch.height == 0:
            return []
        if arrivals is not None:
            batch = batch.with_columns(arrivals.alias(ARRIVAL_WATERMARK))
        events = self._filtered(batch)
        limit = pl.col(ARRIVAL_WATERMARK) if arrivals is not None else self.watermark
        frame = events.lazy().select(
            *self._inputs, ORIGIN, *([ARRIVAL_WATERMARK] if arrivals is not None else [])
        ).with_columns(
            (pl.int_range(pl.len(), dtype=pl.Int64) + self._arrivals).alias(_SEQUENCE)
        ).collect()
        self._arrivals += frame.height
        if limit is not None:
            late = frame.filter(pl.col(EVENT_TIME) < limit)
            self._count_late(events, late[ORIGIN])
            frame = frame.filter(pl.col(EVENT_TIME) >= limit)
        frame = frame.drop(ORIGIN, ARRIVAL_WATERMARK, strict=False)
        self._buffer = frame if self._buffer is None else pl.concat([self._buffer, frame])
        return []

    def _advance(self, watermark: int) -> list[pl.DataFrame]:
        if self.watermark is not None and watermark <= self.watermark:
            return []
        self.watermark = watermark
        if self._buffer is None or self._buffer.height == 0:
            return self._finish() if watermark == END_OF_TIME else self._early_rows(watermark)
        ready = self._buffer.filter(pl.col(EVENT_TIME) < watermark)
        self._buffer = self._buffer.filter(pl.col(EVENT_TIME) >= watermark)
        emitted = self._add(ready) if ready.height else []
        if watermark == END_OF_TIME:
            return emitted + self._finish()
        return emitted + self._early_rows(watermark)

    def open_windows(self) -> int:
        return 0 if self._state is None else self._state.height

    def _numbered(self, ready: pl.DataFrame) -> pl.DataFrame:
        """Number the released events per key, continuing where the last release ended."""
        keys = self.key_names
        ordered = ready.sort([*keys, EVENT_TIME, _SEQUENCE])
        rank = pl.int_range(pl.len(), dtype=pl.Int64)
        numbered = ordered.with_columns((rank.over(keys) if keys else rank).alias("__rank"))
        if self._next is not None and keys:
            numbered = numbered.join(self._next, on=keys, how="left", nulls_equal=True)
        elif self._next is not None:
            numbered = numbered.with_columns(pl.lit(self._next["__next"][0]).alias("__next"))
        else:
            numbered = numbered.with_columns(pl.lit(0, dtype=pl.Int64).alias("__next"))
        numbered = numbered.with_columns(
            (pl.col("__next").fill_null(0) + pl.col("__rank")).alias(_SEQUENCE))
        counts = numbered.group_by(keys).agg((pl.col(_SEQUENCE).max() + 1).alias("__next")) \
            if keys else numbered.select((pl.col(_SEQUENCE).max() + 1).alias("__next"))
        if self._next is None or not keys:
            self._next = counts
        else:
            self._next = pl.concat([self._next.join(counts, on=keys, how="anti",
                                                    nulls_equal=True), counts])
        return numbered.drop("__rank", "__next")

    def _add(self, ready: pl.DataFrame) -> list[pl.DataFrame]:
        n, slide = self.rows, self.rows_slide
        s = pl.col(_SEQUENCE)
        first = pl.max_horizontal((s - n + slide) // slide, pl.lit(0, dtype=pl.Int64))
        assigned = self._numbered(ready).with_columns(
            pl.int_ranges(first, s // slide + 1, dtype=pl.Int64).alias(_WINDOW)
        ).explode(_WINDOW)
        partial = assigned.group_by(self._group_columns, maintain_order=True).agg(
            *self._partial, pl.len().alias(_COUNT),
            pl.col(EVENT_TIME).min().alias(_FIRST_TIME),
            pl.col(EVENT_TIME).max().alias(_LAST_TIME))
        if self._state is None or self._state.height == 0:
            state = partial
        else:
            state = (pl.concat([self._state, partial], how="vertical")
                     .group_by(self._group_columns, maintain_order=True)
                     .agg(*self._combine, pl.col(_COUNT).sum(), pl.col(_FIRST_TIME).min(),
                          pl.col(_LAST_TIME).max()))
        complete = pl.col(_COUNT) >= n
        if self.emit_changes:
            emitted = state.join(partial.select(self._group_columns), on=self._group_columns,
                                 how="semi", nulls_equal=True)
        else:
            emitted = state.filter(complete)
        self._state = state.filter(~complete)
        return [self._emit(emitted)] if emitted.height else []

    def _emit(self, ready: pl.DataFrame) -> pl.DataFrame:
        return super()._emit(ready.with_columns(
            pl.col(_FIRST_TIME).alias(WINDOW_START),
            (pl.col(_LAST_TIME) + 1).alias(WINDOW_END)))

    def _finish(self) -> list[pl.DataFrame]:
        """End of input: short windows do not fire (see the module docstring)."""
        if self._state is not None:
            self.incomplete_windows += self._state.height
            self._state = self._state.clear()
        return []
