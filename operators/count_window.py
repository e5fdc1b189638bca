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

from frys.engine.graph import CountWindowSpec
from frys.engine.operator import (
    OperatorSettings,
    OperatorState,
)
from frys.engine.time import END_OF_TIME
from frys.operators.window_aggregate import (
    ARRIVAL_WATERMARK,
    EVENT_TIME,
    ORIGIN,
    WINDOW_END,
    WINDOW_START,
    WindowOperator,
)

_SEQUENCE = "__sequence"
_WINDOW = "__window"
_COUNT = "__count"
_FIRST_TIME = "__first_time"
_LAST_TIME = "__last_time"


class CountWindowAggregate(WindowOperator):
    """GROUP BY keys, ROWS(n[, slide]): windows of events counted per key, with
    aggregates, HAVING and the SELECT projection (GroupedAggregation's; window_start and
    window_end come from the times of each window's first and last events). Its
    snapshot: the windows' partial aggregates (`state`), the events waiting for the
    watermark (`buffer`) and, per key, the number the next event gets (`next`); past
    WindowProgress's scalars, the count of events numbered so far (`arrivals`)."""

    STATE_KIND = "count window"
    # its buffer holds events as the aggregates' inputs: other aggregates need other inputs
    STATE_IS_PARTIALS = False

    def __init__(self, spec: CountWindowSpec, settings: OperatorSettings) -> None:
        super().__init__(spec.clauses, pl.col(WINDOW_END), spec.late_stream)
        self.rows = spec.rows
        self.rows_slide = spec.rows_slide
        self._buffer: pl.DataFrame | None = None  # events waiting for the watermark
        self._next: pl.DataFrame | None = None  # per key: the number of the next event
        self._arrivals = 0
        self._group_columns = [*self.key_names, _WINDOW]

    # ------------------------------------------------------------------ entry points

    def wants_arrivals(self, rows: int) -> bool:
        return False  # event time never moves inside a batch: events wait in the buffer

    @property
    def incomplete_windows(self) -> int:
        """Windows still short of n events when the input ended (they never fire)."""
        return self._progress.incomplete_windows

    def _tables(self) -> dict[str, pl.DataFrame | None]:
        return {"state": self._state, "buffer": self._buffer, "next": self._next}

    def _scalars(self) -> dict[str, int | None]:
        return {"arrivals": self._arrivals}

    def _take(self, state: OperatorState) -> None:
        self._state = state.tables.get("state")
        self._buffer = state.tables.get("buffer")
        self._next = state.tables.get("next")
        self._arrivals = state.scalars["arrivals"] or 0

    # ------------------------------------------------------------------ windows

    def _process(self, batch: pl.DataFrame, arrivals: pl.Series | None = None
                 ) -> list[pl.DataFrame]:
        """Buffer the batch's events until the watermark passes them; an event behind the
        watermark it arrived under (`arrivals`, or the operator's) is late."""
        if batch.height == 0:
            return []
        if arrivals is not None:
            batch = batch.with_columns(arrivals.alias(ARRIVAL_WATERMARK))
        events = self._aggregation.filtered(batch)
        limit = (pl.col(ARRIVAL_WATERMARK) if arrivals is not None
                 else self._progress.watermark)
        arrival = [ARRIVAL_WATERMARK] if arrivals is not None else []
        frame = events.lazy().select(*self._aggregation.inputs, ORIGIN, *arrival).with_columns(
            (pl.int_range(pl.len(), dtype=pl.Int64) + self._arrivals).alias(_SEQUENCE)
        ).collect()
        self._arrivals += frame.height
        if limit is not None:
            late = frame.filter(pl.col(EVENT_TIME) < limit)
            self._progress.count_late(events, late[ORIGIN], self.pending)
            frame = frame.filter(pl.col(EVENT_TIME) >= limit)
        frame = frame.drop(ORIGIN, ARRIVAL_WATERMARK, strict=False)
        self._buffer = frame if self._buffer is None else pl.concat([self._buffer, frame])
        return []

    def _advance(self, watermark: int) -> list[pl.DataFrame]:
        if not self._progress.moves_to(watermark):
            return []
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
            *self._aggregation.partial, pl.len().alias(_COUNT),
            pl.col(EVENT_TIME).min().alias(_FIRST_TIME),
            pl.col(EVENT_TIME).max().alias(_LAST_TIME))
        if self._state is None or self._state.height == 0:
            state = partial
        else:
            state = (pl.concat([self._state, partial], how="vertical")
                     .group_by(self._group_columns, maintain_order=True)
                     .agg(*self._aggregation.combine, pl.col(_COUNT).sum(),
                          pl.col(_FIRST_TIME).min(), pl.col(_LAST_TIME).max()))
        complete = pl.col(_COUNT) >= n
        if self._aggregation.emit_changes:
            emitted = self._aggregation.changed(state, partial, self._group_columns)
        else:
            emitted = state.filter(complete)
        self._state = state.filter(~complete)
        return [self._emit(emitted)] if emitted.height else []

    def _emit(self, ready: pl.DataFrame) -> pl.DataFrame:
        """Output rows of windows, their bounds from their first and last events' times."""
        return self._aggregation.rows(ready.with_columns(
            pl.col(_FIRST_TIME).alias(WINDOW_START),
            (pl.col(_LAST_TIME) + 1).alias(WINDOW_END)))

    def _early_rows(self, watermark: int) -> list[pl.DataFrame]:
        # EMIT EVERY: the current row of every short window
        return self._progress.early_rows(watermark, self._state, self._emit)

    def _finish(self) -> list[pl.DataFrame]:
        """End of input: short windows do not fire (see the module docstring)."""
        if self._state is not None:
            self._progress.incomplete_windows += self._state.height
            self._state = self._state.clear()
        return []
