"""Session windows: GROUP BY keys, SESSION(gap), in event time.

Semantics (Flink's merging windows):

* Each event opens the interval `[t, t + gap)`; intervals of one key that overlap or touch
  merge into one session `[first event, last event + gap)`. An event arriving out of order
  can bridge two sessions, which then merge (their partial aggregates combine).
* A session fires once, when the watermark reaches its end plus the allowed lateness.
* An event is late when, merged with everything it touches, its session has already ended
  (`end + lateness <= watermark` before its batch) and takes in no open session: it is then
  dropped and counted in `late_events`. An old event that reaches into an open session is
  not late: it joins it.
* State is one row of partial aggregates per open (key, session). ARRAY_AGG lists a
  session's values in the order its merged pieces began.
"""

from __future__ import annotations

import polars as pl

from frys.operators.window_aggregate import EVENT_TIME, WINDOW_END, WINDOW_START, WindowAggregate

_EVENTS = "__events"  # events of the current batch in a row (0 for rows from state)
_FROM_STATE = "__from_state"
_SESSION = "__session"


class SessionWindowAggregate(WindowAggregate):
    """A WindowAggregate whose windows are per-key sessions separated by `gap_ms`."""

    _keeps_window_end = True
    watermark: int | None
    _state: pl.DataFrame | None

    def __init__(self, gap_ms: int, *args, lateness_ms: int = 0, **kwargs) -> None:
        super().__init__(gap_ms, *args, lateness_ms=lateness_ms, **kwargs)
        self.gap_ms = gap_ms
        self._lateness = lateness_ms
        self._bounds = [pl.col(WINDOW_START).min().alias(WINDOW_START),
                        pl.col(WINDOW_END).max().alias(WINDOW_END)]

    def _session_ids(self, start: pl.Expr, end: pl.Expr) -> pl.Expr:
        """Rows sorted by key then start: a new session wherever a start lies beyond every
        end before it (touching intervals merge, as in Flink)."""
        previous_end = end.cum_max().shift(1)
        breaks = previous_end.is_null() | (start > previous_end)
        return breaks.cum_sum().over(self.key_names) if self.key_names else breaks.cum_sum()

    def process(self, batch: pl.DataFrame) -> list[pl.DataFrame]:
        if batch.height == 0:
            return []
        lazy = batch.lazy()
        if self._where is not None:
            lazy = lazy.filter(self._where)
        t = pl.col(EVENT_TIME)
        events = (lazy.select(self._inputs)
                  .sort([*self.key_names, EVENT_TIME], maintain_order=True)
                  .with_columns(self._session_ids(t, t + self.gap_ms).alias(_SESSION)))
        pieces = (events.group_by([*self.key_names, _SESSION], maintain_order=True)
                  .agg(*self._partial, t.min().alias(WINDOW_START),
                       (t.max() + self.gap_ms).alias(WINDOW_END), pl.len().alias(_EVENTS))
                  .drop(_SESSION).with_columns(pl.lit(False).alias(_FROM_STATE))).collect()
        if pieces.height == 0:
            return []
        rows = pieces
        if self._state is not None and self._state.height:
            state = self._state.with_columns(pl.lit(0, dtype=pl.UInt32).alias(_EVENTS),
                                             pl.lit(True).alias(_FROM_STATE))
            rows = pl.concat([state, pieces.select(state.columns)], how="vertical")
        merged = (rows.lazy()
                  .sort([*self.key_names, WINDOW_START], maintain_order=True)
                  .with_columns(self._session_ids(pl.col(WINDOW_START), pl.col(WINDOW_END))
                                .alias(_SESSION))
                  .group_by([*self.key_names, _SESSION], maintain_order=True)
                  .agg(*self._combine, *self._bounds, pl.col(_EVENTS).sum(),
                       pl.col(_FROM_STATE).any())
                  .drop(_SESSION)).collect()
        if self.watermark is not None:
            late = ~pl.col(_FROM_STATE) & (
                pl.col(WINDOW_END) + self._lateness <= self.watermark)
            self.late_events += int(merged.filter(late)[_EVENTS].sum())
            merged = merged.filter(~late)
        touched = merged.filter(pl.col(_EVENTS) > 0)
        self._state = merged.drop(_EVENTS, _FROM_STATE)
        if not self.emit_changes or touched.height == 0:
            return []
        return [self._emit(touched.drop(_EVENTS, _FROM_STATE))]

    def advance(self, watermark: int) -> list[pl.DataFrame]:
        if self.watermark is not None and watermark <= self.watermark:
            return []
        self.watermark = watermark
        state = self._state
        if state is None or state.height == 0:
            return []
        closes = pl.col(WINDOW_END) + self._lateness <= watermark
        ready = state.filter(closes)
        self._state = state.filter(~closes)
        emitted = [] if self.emit_changes or ready.height == 0 else [self._emit(ready)]
        return emitted + self._early_rows(watermark)
