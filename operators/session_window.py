"""Session windows: GROUP BY keys, SESSION(gap), in event time.

Semantics (Flink's merging windows):

* Each event opens the interval `[t, t + gap)`; intervals of one key that overlap or touch
  merge into one session `[first event, last event + gap)`. An event arriving out of order
  can bridge two sessions, which then merge (their partial aggregates combine).
* A session fires once, when the watermark passes its end plus the allowed lateness
  (`end + lateness < watermark`): an event exactly at the end still touches the session and
  would merge into it, so a watermark equal to the end cannot close it yet (unlike
  time windows, whose end belongs to the next window).
* An event is late when, merged with everything it touches, its session has already ended
  (`end + lateness < watermark` before its batch) and takes in no open session: it is then
  dropped and counted in `late_events`. An old event that reaches into an open session is
  not late: it joins it.
* State is one row of partial aggregates per open (key, session). Aggregates see events in
  arrival order (FIRST and LAST break event-time ties by it); ARRAY_AGG lists the values of
  a session's merged pieces piece by piece, in the order the pieces arrived.
"""

from __future__ import annotations

import polars as pl

from frys.engine.graph import SessionSpec
from frys.engine.operator import (
    OperatorSettings,
)
from frys.engine.time import event_time_millis
from frys.operators.window_aggregate import (
    EVENT_TIME,
    ORIGIN,
    WINDOW_END,
    WINDOW_START,
    WindowOperator,
)

_EVENTS = "__events"  # events of the current batch in a row (0 for rows from state)
_FROM_STATE = "__from_state"
_SESSION = "__session"
_ARRIVAL = "__arrival"
_ORIGINS = "__origins"  # the batch rows (ORIGIN) in a piece, to route late events


class SessionWindowAggregate(WindowOperator):
    """GROUP BY keys, SESSION(gap): per-key sessions separated by `gap_ms`, with
    aggregates, HAVING and the SELECT projection (GroupedAggregation's, with the session's
    WINDOW_END kept in state). Its snapshot: the per-(key, session) partial aggregates with
    their bounds (`state`) and WindowProgress's scalars."""

    STATE_KIND = "session window"

    def __init__(self, spec: SessionSpec, settings: OperatorSettings) -> None:
        super().__init__(spec.clauses, pl.col(WINDOW_END), spec.late_stream)
        self.gap_ms = spec.gap_ms
        self._lateness = spec.lateness_ms
        self._bounds = [pl.col(WINDOW_START).min().alias(WINDOW_START),
                        pl.col(WINDOW_END).max().alias(WINDOW_END)]
        # done once the watermark is past end + lateness (see the module docstring)
        self._done_at = pl.col(WINDOW_END) + self._lateness + 1

    # ------------------------------------------------------------------ entry points

    def wants_arrivals(self, rows: int) -> bool:
        return False  # event time moves inside a batch only for rows behind their own

    def open_windows(self) -> int:
        """Open (key, session) pairs held in state."""
        return 0 if self._state is None else self._state.height

    # ------------------------------------------------------------------ sessions

    def _with_session_ids(self, rows: pl.LazyFrame, start: pl.Expr, end: pl.Expr
                          ) -> pl.LazyFrame:
        """`rows` with _SESSION: sorted by key then start, a new session wherever a start lies
        beyond every end before it (touching intervals merge, as in Flink); then back in
        their original order, so aggregates see arrival order (FIRST/LAST ties, ARRAY_AGG)."""
        previous_end = end.cum_max().shift(1)
        breaks = previous_end.is_null() | (start > previous_end)
        ids = breaks.cum_sum().over(self.key_names) if self.key_names else breaks.cum_sum()
        return (rows.with_row_index(_ARRIVAL)
                .sort([*self.key_names, start], maintain_order=True)
                .with_columns(ids.alias(_SESSION))
                .sort(_ARRIVAL).drop(_ARRIVAL))

    def _process(self, batch: pl.DataFrame, arrivals: pl.Series | None = None
                 ) -> list[pl.DataFrame]:
        """Merge the batch into the open sessions. With `arrivals` (the watermark each row
        arrived under, engine.channel.Delivery.arrivals) a row is judged under its own: a
        session merges everything it touches in one batch, so a row that its watermark
        could make late (t + lateness < it: every session touching the row ends at t or
        later), or whose session that watermark would have closed, is merged on its own,
        after the sessions its watermark fires, as if the rows had come one by one. Only
        rows out of order by more than the delay cost that; the others go in one piece."""
        if arrivals is None or batch.height == 0:
            return self._merge_batch(batch)
        event_time = self._aggregation.event_time
        times = event_time_millis(batch[event_time]) if event_time else None
        if times is None:
            return self._merge_batch(batch)
        alone = ((times + self._lateness) < arrivals).arg_true().to_list()
        emitted: list[pl.DataFrame] = []
        start = 0
        for row in alone:
            emitted += self._merge_batch(batch.slice(start, row - start))
            emitted += self._advance(int(arrivals[row]))
            emitted += self._merge_batch(batch.slice(row, 1))
            start = row + 1
        emitted += self._merge_batch(batch.slice(start))
        return emitted

    def _merge_batch(self, batch: pl.DataFrame) -> list[pl.DataFrame]:
        if batch.height == 0:
            return []
        aggregation = self._aggregation
        filtered = aggregation.filtered(batch)
        t = pl.col(EVENT_TIME)
        events = self._with_session_ids(filtered.lazy().select(*aggregation.inputs, ORIGIN),
                                        t, t + self.gap_ms)
        pieces = (events.group_by([*self.key_names, _SESSION], maintain_order=True)
                  .agg(*aggregation.partial, t.min().alias(WINDOW_START),
                       (t.max() + self.gap_ms).alias(WINDOW_END), pl.len().alias(_EVENTS),
                       pl.col(ORIGIN).alias(_ORIGINS))
                  .drop(_SESSION).with_columns(pl.lit(False).alias(_FROM_STATE))).collect()
        if pieces.height == 0:
            return []
        rows = pieces
        if self._state is not None and self._state.height:
            state = self._state.with_columns(
                pl.lit(0, dtype=pl.UInt32).alias(_EVENTS), pl.lit(True).alias(_FROM_STATE),
                pl.lit(None, dtype=pieces.schema[_ORIGINS]).alias(_ORIGINS))
            rows = pl.concat([state, pieces.select(state.columns)], how="vertical")
        merged = (self._with_session_ids(rows.lazy(), pl.col(WINDOW_START), pl.col(WINDOW_END))
                  .group_by([*self.key_names, _SESSION], maintain_order=True)
                  .agg(*aggregation.combine, *self._bounds, pl.col(_EVENTS).sum(),
                       pl.col(_FROM_STATE).any(), pl.col(_ORIGINS).explode().drop_nulls())
                  .drop(_SESSION)).collect()
        watermark = self._progress.watermark
        if watermark is not None:
            late = ~pl.col(_FROM_STATE) & (pl.col(WINDOW_END) + self._lateness < watermark)
            self._progress.count_late(
                filtered, merged.filter(late)[_ORIGINS].explode().drop_nulls(), self.pending)
            merged = merged.filter(~late)
        touched = merged.filter(pl.col(_EVENTS) > 0)
        self._state = merged.drop(_EVENTS, _FROM_STATE, _ORIGINS)
        if not aggregation.emit_changes or touched.height == 0:
            return []
        return [aggregation.rows(touched.drop(_EVENTS, _FROM_STATE, _ORIGINS))]

    def _advance(self, watermark: int) -> list[pl.DataFrame]:
        """Move event time to `watermark`; fire and forget every session done by then
        (under EMIT CHANGES its last change was its final row: it is only forgotten)."""
        if not self._progress.moves_to(watermark):
            return []
        state = self._state
        if state is None or state.height == 0:
            return []
        # skip the two filters when not even the earliest ending session is done
        if int(state[WINDOW_END].min()) + self._lateness + 1 > watermark:  # type: ignore[arg-type]
            return self._early_rows(watermark)
        emitted, self._state = self._aggregation.fire(state, self._done_at <= watermark)
        return emitted + self._early_rows(watermark)

    def _early_rows(self, watermark: int) -> list[pl.DataFrame]:
        return self._progress.early_rows(watermark, self._state, self._aggregation.rows)
