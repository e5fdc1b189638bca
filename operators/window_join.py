"""The window join of two streams: `left [LEFT|RIGHT|FULL] JOIN right ON <keys> [AND
<residual>] WITHIN TUMBLE(size)` or `WITHIN HOP(size, slide)` (engine/graph.py
WindowJoinSpec), Flink SQL's window join.

Semantics, what every run gives whatever the batch cuts and the arrival order within the
watermark:

* each row is in the windows of its own stream's event time `t`: TUMBLE, the one starting
  at `floor(t / size) * size`; HOP, every `[s, s + size)` with `s` a multiple of the slide
  and `t - size < s <= t`;
* a pair (l, r) in one window with equal keys (a NULL key equals nothing) and the residual
  TRUE is one output row per window the two share (HOP: a pair can share several), with
  that window's `window_start`/`window_end`;
* a window fires once, when the watermark (the minimum of the two inputs') reaches its end
  + lateness (the larger of the two streams' `lateness`); its pairs come out then, never
  before (a row of either side could still come), and its rows are freed: the state is the
  rows of the open windows, one copy per window under HOP;
* LEFT (RIGHT): a left (right) row that matched nothing in a window comes out once for that
  window, with NULLs for the other side, when it fires; FULL both;
* a row whose every window has fired under the watermark it arrived under (per row:
  BatchSource.arrivals) is late: it joins nothing and is never emitted unmatched; it is
  counted (`counters().late_events`) and, when its stream has a `late` stream, handed out
  with all its fields (Emitted.late). Under HOP a row some of whose windows have fired
  still joins in the others (as window aggregates take it);
* a self-join (both sides one stream) gets each batch twice, once per side; its late rows
  are counted and routed once, on the left side;
* the filter pushed onto a side applies before lateness and buffering; what stays of WHERE
  applies to each output row (the unmatched rows of an outer join, NULLs included). The
  rows of one firing come out as one batch ordered by window start (pairs and unmatched
  rows of a window in no particular order).

Columnar: a batch is projected to the columns the query reads, given its window starts
(HOP: exploded, a row per window) and appended to its side's buffer; on each watermark
advance the fired windows' rows of both sides are taken out and joined with one polars
hash join on [keys..., window start], the residual a filter over the candidate pairs, outer
joins a polars left/right/full join (or, with a residual, the anti-join of the matched row
numbers); nothing is done per row in Python.
"""

from __future__ import annotations

import polars as pl

from frys.dsl import ast
from frys.dsl.types import TIMESTAMP_DTYPE
from frys.engine.graph import WindowJoinSpec
from frys.engine.operator import (
    BatchSource,
    Emitted,
    OperatorCounters,
    OperatorSettings,
    OperatorState,
    SideOutputs,
)
from frys.engine.time import START_OF_TIME
from frys.operators.join_clauses import LEFT, RIGHT, JoinClauses, qualified

WINDOW_START = "__window_start"  # epoch milliseconds, Int64, in both sides' buffers
TIME = "__time"  # a side's event time while its rows are being admitted
ROWS = ("__left_row", "__right_row")  # row numbers of a firing's rows, for outer joins
ORIGIN = "__origin"  # a row's position in its batch, to hand out late rows as they came
ARRIVAL = "__arrival_watermark"  # the watermark a row arrived under
ORDER = "__window_order"  # the window start of an output row while a firing is sorted
WINDOW_COLUMNS = ("window_start", "window_end")


class WindowJoin(SideOutputs):
    """Two buffers, one per input: the side's buffered columns (qualified), its key
    columns and the window start of each (row, window); see the module docstring."""

    STATE_KIND = "window_join"
    STATE_VERSION = 1

    def __init__(self, spec: WindowJoinSpec, settings: OperatorSettings) -> None:
        self.spec = spec
        self.pending = Emitted()
        self._sides = (spec.left, spec.right)
        self._side_of = {spec.right.stream: RIGHT, spec.left.stream: LEFT}
        self._self_join = spec.left.stream == spec.right.stream
        self._preserved = (spec.preserves(LEFT), spec.preserves(RIGHT))
        self._size, self._slide = spec.size_ms, spec.slide_ms
        # a window is done (fired, closed to late rows) once the watermark reaches this
        # past its start
        self._closing = spec.size_ms + spec.lateness_ms
        clauses = JoinClauses(spec, self._substitute)
        self._keys, self._key_exprs = clauses.keys, clauses.key_exprs
        self._key_dtypes = clauses.key_dtypes
        self._side_where, self._residual = clauses.side_where, clauses.residual
        self._where, self._outputs = clauses.where, clauses.outputs
        self._on = [*self._keys, WINDOW_START]
        self._buffers = [self._empty(LEFT), self._empty(RIGHT)]
        self._watermark: int | None = None
        self._late_events = 0

    # ------------------------------------------------------------------ compiling

    def _substitute(self, expr: ast.Expr) -> pl.Expr | None:
        """Column references: the window bounds (unqualified `window_start`/`window_end`
        shadow stream columns, as in the analyzer's scope), else the buffered column."""
        if not isinstance(expr, ast.ColumnRef):
            return None
        if expr.qualifier is None and expr.name in WINDOW_COLUMNS:
            start = pl.col(WINDOW_START)
            bound = start if expr.name == "window_start" else start + self._size
            return bound.cast(TIMESTAMP_DTYPE)
        for side in self._sides:
            if expr.qualifier == side.qualifier or (
                    expr.qualifier is None and expr.name in side.columns):
                return pl.col(qualified(side, expr.name))
        raise ValueError(f"column {expr.name} is read by the join but not buffered")

    def _empty(self, index: int) -> pl.DataFrame:
        side = self._sides[index]
        schema: dict[str, pl.DataType] = {
            qualified(side, c): t.polars_dtype for c, t in side.columns.items()}
        for name, dtype in zip(self._keys, self._key_dtypes[index], strict=True):
            schema[name] = dtype
        schema[WINDOW_START] = pl.Int64()
        return pl.DataFrame(schema=schema)

    # ------------------------------------------------------------------ the contract

    def wants_arrivals(self, rows: int) -> bool:
        return False  # rows are judged one by one; nothing fires inside a batch

    def process(self, batch: pl.DataFrame, source: BatchSource) -> Emitted:
        """Buffer a batch's rows in their open windows; nothing comes out before a window
        fires (only late rows, handed out as side output)."""
        index = self._side_of[source.stream] if source.input is None else source.input
        fresh = self._admit(index, batch, source.arrivals)
        if fresh.height:
            self._buffers[index] = pl.concat([self._buffers[index], fresh],
                                             how="vertical_relaxed", rechunk=False)
        return self.emit([])

    def advance(self, watermark: int) -> Emitted:
        """Fire every window whose end + lateness the watermark has reached: join its rows
        of both sides, emit the pairs (and an outer join's unmatched rows), free them."""
        if self._watermark is not None and watermark <= self._watermark:
            return self.emit([])
        self._watermark = watermark
        # windows starting at or before the horizon fire
        horizon = max(watermark - self._closing, START_OF_TIME)
        fired: list[pl.DataFrame] = []
        for index in (LEFT, RIGHT):
            buffer = self._buffers[index]
            oldest = buffer[WINDOW_START].min()
            if oldest is None or int(oldest) > horizon:  # type: ignore[arg-type]
                fired.append(buffer.clear())
                continue
            done = pl.col(WINDOW_START) <= horizon
            fired.append(buffer.filter(done))
            self._buffers[index] = buffer.filter(~done)
        if not fired[LEFT].height and not fired[RIGHT].height:
            return self.emit([])
        return self.emit(self._project(self._join(fired[LEFT], fired[RIGHT])))

    def counters(self) -> OperatorCounters:
        return OperatorCounters(late_events=self._late_events)

    def snapshot(self) -> OperatorState:
        """Each side's buffer (table `left`, `right`: the qualified input columns, keys and
        window start, a row per (row, window)) and the scalars: the watermark, the late
        events counted."""
        return OperatorState(self.STATE_KIND, self.STATE_VERSION,
                             {"left": self._buffers[LEFT], "right": self._buffers[RIGHT]},
                             {"watermark": self._watermark, "late_events": self._late_events})

    def restore(self, state: OperatorState) -> None:
        state.check(self.STATE_KIND, self.STATE_VERSION)
        self._buffers = [state.tables["left"], state.tables["right"]]
        self._watermark = state.scalars["watermark"]
        self._late_events = state.scalars["late_events"] or 0

    def state_size(self) -> int:
        return sum(int(buffer.estimated_size()) for buffer in self._buffers)

    def buffered_rows(self) -> tuple[int, int]:
        """How many (row, window) entries each side holds (left, right); under TUMBLE, rows."""
        return self._buffers[LEFT].height, self._buffers[RIGHT].height

    # ------------------------------------------------------------------ steps

    def _window_starts(self) -> pl.Expr:
        """The window starts of a row (HOP: a list, every window holding it)."""
        t = pl.col(TIME)
        if not self.spec.hopping:
            return ((t // self._size) * self._size).alias(WINDOW_START)
        last = (t // self._slide) * self._slide  # the youngest window holding t
        first = ((t - self._size) // self._slide) * self._slide + self._slide  # start > t - size
        return pl.int_ranges(first, last + self._slide, self._slide,
                             dtype=pl.Int64).alias(WINDOW_START)

    def _admit(self, index: int, batch: pl.DataFrame, arrivals: pl.Series | None
               ) -> pl.DataFrame:
        """A batch of one side as that side's buffered columns, keys and window start, a
        row per open window it is in, after the side's filter, without its late rows
        (counted, and routed when wanted)."""
        side = self._sides[index]
        columns = [pl.col(c).alias(qualified(side, c)) for c in side.columns]
        columns.append(pl.col(side.event_time).dt.epoch("ms").cast(pl.Int64).alias(TIME))
        # rows are judged late only when something can make them so: a watermark, or a
        # row without a time (null_count is metadata: free)
        track = (arrivals is not None or self._watermark is not None
                 or batch[side.event_time].null_count() > 0)
        if arrivals is not None:
            batch = batch.with_columns(arrivals.alias(ARRIVAL))
        if track:
            batch = batch.with_row_index(ORIGIN)
            columns.append(pl.col(ORIGIN))
            # the watermark a row is judged under: its own, never behind the operator's
            # (windows it had fired are gone)
            current = START_OF_TIME if self._watermark is None else self._watermark
            judged = (pl.lit(current, dtype=pl.Int64) if arrivals is None
                      else pl.max_horizontal(pl.col(ARRIVAL), pl.lit(current, dtype=pl.Int64)))
            columns.append(judged.alias(ARRIVAL))
        frame = batch.lazy().select(columns)
        if self._side_where[index] is not None:
            frame = frame.filter(self._side_where[index])
        frame = frame.with_columns(self._key_exprs[index]).with_columns(self._window_starts())
        if self.spec.hopping:
            frame = frame.explode(WINDOW_START)
        fresh = frame.collect()
        if track:
            # a (row, window) whose window fired by the row's watermark is dropped; a row
            # all of whose windows are dropped is late (a NULL time: as late as can be)
            open_ = (pl.col(WINDOW_START) + self._closing > pl.col(ARRIVAL)).fill_null(False)
            origins = fresh[ORIGIN].unique()
            fresh = fresh.filter(open_)
            late = origins.filter(~origins.is_in(fresh[ORIGIN].unique().implode()))
            if len(late) and not (self._self_join and index == RIGHT):
                # a self-join sees each batch on both sides: its late rows count once
                self._late_events += len(late)
                if side.stream in self.spec.late_streams:
                    self.pending.late.append(batch.filter(pl.col(ORIGIN).is_in(late.implode()))
                                             .drop(ORIGIN, ARRIVAL, strict=False))
            fresh = fresh.drop(ORIGIN, ARRIVAL)
        return fresh.drop(TIME)

    def _join(self, left: pl.DataFrame, right: pl.DataFrame) -> list[pl.DataFrame]:
        """The fired rows of both sides -> the pairs sharing keys and window (with the
        residual true), and the unmatched rows of a preserved side with NULLs."""
        kind = self.spec.kind
        if self._residual is None:
            # one polars join does it all; coalescing keeps one key and window start column
            how = {"INNER": "inner", "LEFT": "left", "RIGHT": "right", "FULL": "full"}[kind]
            return [left.join(right, on=self._on, how=how, coalesce=True)]  # type: ignore[arg-type]
        if any(self._preserved):
            left = left.with_row_index(ROWS[LEFT])
            right = right.with_row_index(ROWS[RIGHT])
        pairs = left.lazy().join(right.lazy(), on=self._on, how="inner").filter(
            self._residual).collect()
        out = [pairs]
        for index, frame in ((LEFT, left), (RIGHT, right)):
            if self._preserved[index]:
                matched = pairs[ROWS[index]].implode()
                unmatched = frame.filter(~pl.col(ROWS[index]).is_in(matched))
                if unmatched.height:
                    out.append(self._with_nulls(1 - index, unmatched))
        return out

    def _with_nulls(self, missing: int, unmatched: pl.DataFrame) -> pl.DataFrame:
        """Unmatched rows of one side with the other (`missing`) side's columns all NULL."""
        other = self._sides[missing]
        return unmatched.with_columns(
            pl.lit(None, dtype=t.polars_dtype).alias(qualified(other, c))
            for c, t in other.columns.items())

    def _project(self, frames: list[pl.DataFrame]) -> list[pl.DataFrame]:
        """Joined rows -> the remaining WHERE, then the SELECT list; one batch, ordered by
        window start (so window_start/window_end passed through never go back in time,
        and a window downstream sees its rows in order)."""
        parts = []
        for frame in frames:
            lazy = frame.lazy()
            if self._where is not None:
                lazy = lazy.filter(self._where)
            parts.append(lazy.select(*self._outputs, pl.col(WINDOW_START).alias(ORDER)))
        rows = pl.concat(parts).sort(ORDER, maintain_order=True).drop(ORDER).collect()
        return [rows] if rows.height else []

