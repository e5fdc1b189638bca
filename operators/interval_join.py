"""The interval join of two streams: `left [LEFT|RIGHT|FULL] JOIN right ON <keys>
[AND <residual>] WITHIN t` (engine/graph.py IntervalJoinSpec), or with its interval written
as a predicate on the event times (`l.ts BETWEEN r.ts - x AND r.ts + y`).

Semantics, what every run gives whatever the batch cuts and the arrival order within the
watermark:

* a pair (l, r) with equal keys (a NULL key equals nothing), the residual TRUE and
  l.time - before <= r.time <= l.time + after (inclusive on both sides; WITHIN t is
  before = after = t) is emitted exactly once: when the later of its two rows to arrive is
  processed, against the other, buffered;
* a left row stays buffered until the watermark (the minimum of the two inputs') is past
  its time + after, a right row until it is past its time + before: no row of the other
  side that is not late can reach them after that (a row is late when its time is behind
  the watermark it arrived under), so pruning on every watermark advance keeps the state to
  the rows of the last interval (plus the delay); each side is pruned by its own bound;
* a late row (behind the watermark it arrived under, per row: BatchSource.arrivals) joins
  nothing: it is counted (`counters().late_events`) and, when its input stream has a
  `late` stream, handed out with all its fields (Emitted.late);
* LEFT (RIGHT): a left (right) row that matched nothing (ON false for every row of the
  other side it met) is emitted once, with NULLs for the other side, when it is pruned —
  never before (a row of the other side could still match it), never twice, and never if it
  matched; FULL does both, left rows first at each watermark advance;
* a self-join (both sides one stream) gets each batch twice, once per side (BatchSource
  .input): a row meets itself (the same event on both sides); its lateness is counted and
  routed once, on the left side;
* the filter pushed onto a side applies before lateness and buffering; what stays of
  WHERE applies to each output row (for LEFT, to the unmatched row with its NULLs too,
  as SQL's WHERE over an outer join does).

Columnar: the rows of a batch are joined against the other side's buffer with one polars
hash join on the key columns (a cross join without keys), then the interval and the
residual filter the candidate pairs; nothing is done per row in Python.
"""

from __future__ import annotations

import polars as pl

from frys.dsl import ast
from frys.dsl.types import FrysType
from frys.engine.graph import IntervalJoinSpec, JoinSide
from frys.engine.operator import (
    BatchSource,
    Emitted,
    OperatorCounters,
    OperatorSettings,
    OperatorState,
    SideOutputs,
)
from frys.engine.time import START_OF_TIME
from frys.operators.expressions import to_polars

# the operator's own columns in a side's buffer (input columns are "<qualifier>.<name>")
TIMES = ("__left_time", "__right_time")  # each side's event time, epoch milliseconds
# outer joins, per preserved side: a row's number (to find the rows that matched) and
# whether it has matched a row of the other side
ROWS = ("__left_row", "__right_row")
MATCHED = ("__left_matched", "__right_matched")
ORIGIN = "__origin"  # a row's position in its batch, to hand out late rows as they came
ARRIVAL = "__arrival_watermark"  # the watermark a row arrived under
LEFT, RIGHT = 0, 1


def key_column(index: int) -> str:
    return f"__key{index}"


class IntervalJoin(SideOutputs):
    """Two buffers, one per input, each a DataFrame of the side's buffered columns
    (qualified), its key columns and its event time; see the module docstring."""

    STATE_KIND = "interval_join"
    STATE_VERSION = 2  # 2: RIGHT and FULL, a row number and matched flag per side

    def __init__(self, spec: IntervalJoinSpec, settings: OperatorSettings) -> None:
        self.spec = spec
        self.pending = Emitted()
        self._sides = (spec.left, spec.right)
        self._side_of = {spec.right.stream: RIGHT, spec.left.stream: LEFT}
        self._self_join = spec.left.stream == spec.right.stream
        self._preserved = (spec.preserves(LEFT), spec.preserves(RIGHT))
        # how long past its own time each side's rows can still meet a row of the other side
        self._reach = (spec.after_ms, spec.before_ms)
        self._keys = [key_column(i) for i in range(len(spec.keys))]
        self._side_where = [self._filter(side.where) for side in self._sides]
        self._key_exprs = [
            [self._compile(pair[index]).cast(_dtype(pair[index])).alias(name)
             for name, pair in zip(self._keys, spec.keys, strict=True)]
            for index in (LEFT, RIGHT)]
        self._residual = self._filter(spec.residual)
        self._where = self._filter(spec.where)
        self._outputs: list[pl.Expr] = []
        for name, expr in spec.outputs:
            column = self._compile(expr)
            if spec.output_types[name] != FrysType.NULL:
                column = column.cast(spec.output_types[name].polars_dtype)
            self._outputs.append(column.alias(name))
        self._buffers = [self._empty(LEFT), self._empty(RIGHT)]
        self._watermark: int | None = None
        self._late_events = 0
        self._next_row = [0, 0]

    # ------------------------------------------------------------------ compiling

    def _column(self, ref: ast.ColumnRef) -> str:
        """The buffered column a reference reads: by its qualifier, else the one side that
        has the column (the analyzer refused ambiguous references)."""
        for side in self._sides:
            if ref.qualifier == side.qualifier or (
                    ref.qualifier is None and ref.name in side.columns):
                return qualified(side, ref.name)
        raise ValueError(f"column {ref.name} is read by the join but not buffered")

    def _compile(self, expr: ast.Expr) -> pl.Expr:
        return to_polars(expr, lambda e: pl.col(self._column(e))
                         if isinstance(e, ast.ColumnRef) else None)

    def _filter(self, predicate: ast.Expr | None) -> pl.Expr | None:
        """A row passes when the predicate is TRUE (FALSE and NULL drop it)."""
        return None if predicate is None else self._compile(predicate).fill_null(False)

    def _empty(self, index: int) -> pl.DataFrame:
        side = self._sides[index]
        schema: dict[str, pl.DataType] = {
            qualified(side, c): t.polars_dtype for c, t in side.columns.items()}
        schema[TIMES[index]] = pl.Int64()
        for name, pair in zip(self._keys, self.spec.keys, strict=True):
            schema[name] = _dtype(pair[index])
        if self._preserved[index]:
            schema[ROWS[index]] = pl.Int64()
            schema[MATCHED[index]] = pl.Boolean()
        return pl.DataFrame(schema=schema)

    # ------------------------------------------------------------------ the contract

    def wants_arrivals(self, rows: int) -> bool:
        return False  # rows are judged one by one; nothing moves inside a batch

    def process(self, batch: pl.DataFrame, source: BatchSource) -> Emitted:
        index = self._side_of[source.stream] if source.input is None else source.input
        fresh = self._admit(index, batch, source.arrivals)
        if fresh.height == 0:
            return self.emit([])
        if self._preserved[index]:
            start = self._next_row[index]
            fresh = fresh.with_columns(
                pl.int_range(start, start + fresh.height, dtype=pl.Int64).alias(ROWS[index]),
                pl.lit(False).alias(MATCHED[index]))
            self._next_row[index] += fresh.height
        rows: list[pl.DataFrame] = []
        other = self._buffers[1 - index]
        if other.height:
            left, right = (fresh, other) if index == LEFT else (other, fresh)
            pairs = self._pairs(left, right)
            if pairs.height:
                for side in (LEFT, RIGHT):
                    if not self._preserved[side]:
                        continue
                    matched = pairs[ROWS[side]].unique().implode()
                    mark = pl.col(MATCHED[side]) | pl.col(ROWS[side]).is_in(matched)
                    if side == index:
                        fresh = fresh.with_columns(mark)
                    else:
                        self._buffers[side] = self._buffers[side].with_columns(mark)
                rows.append(pairs)
        self._buffers[index] = pl.concat([self._buffers[index], fresh], how="vertical_relaxed",
                                         rechunk=False)
        return self.emit(self._project(rows))

    def advance(self, watermark: int) -> Emitted:
        """Prune each buffer of the rows the watermark is past time + their reach of (left:
        after, right: before); of a preserved side, emit the pruned ones that never
        matched."""
        if self._watermark is not None and watermark <= self._watermark:
            return self.emit([])
        self._watermark = watermark
        rows: list[pl.DataFrame] = []
        for index in (LEFT, RIGHT):
            horizon = max(watermark - self._reach[index], START_OF_TIME)
            buffer = self._buffers[index]
            oldest = buffer[TIMES[index]].min()
            if oldest is None or int(oldest) >= horizon:  # type: ignore[arg-type]
                continue
            expired = pl.col(TIMES[index]) < horizon
            if self._preserved[index]:
                unmatched = buffer.filter(expired & ~pl.col(MATCHED[index]))
                if unmatched.height:
                    rows.append(self._with_nulls(
                        1 - index, unmatched.sort(TIMES[index], maintain_order=True)))
            self._buffers[index] = buffer.filter(~expired)
        return self.emit(self._project(rows))

    def counters(self) -> OperatorCounters:
        return OperatorCounters(late_events=self._late_events)

    def snapshot(self) -> OperatorState:
        """Each side's buffer (table `left`, `right`: the qualified input columns, keys,
        time, and of a preserved side the row numbers and whether each matched) and the
        scalars: the watermark, the late events counted, each side's next row number."""
        return OperatorState(self.STATE_KIND, self.STATE_VERSION,
                             {"left": self._buffers[LEFT], "right": self._buffers[RIGHT]},
                             {"watermark": self._watermark, "late_events": self._late_events,
                              "next_left_row": self._next_row[LEFT],
                              "next_right_row": self._next_row[RIGHT]})

    def restore(self, state: OperatorState) -> None:
        state.check(self.STATE_KIND, self.STATE_VERSION)
        self._buffers = [state.tables["left"], state.tables["right"]]
        self._watermark = state.scalars["watermark"]
        self._late_events = state.scalars["late_events"] or 0
        self._next_row = [state.scalars["next_left_row"] or 0,
                          state.scalars["next_right_row"] or 0]

    def state_size(self) -> int:
        return sum(int(buffer.estimated_size()) for buffer in self._buffers)

    def buffered_rows(self) -> tuple[int, int]:
        """How many rows each side holds (left, right)."""
        return self._buffers[LEFT].height, self._buffers[RIGHT].height

    # ------------------------------------------------------------------ steps

    def _admit(self, index: int, batch: pl.DataFrame, arrivals: pl.Series | None
               ) -> pl.DataFrame:
        """A batch of one side as that side's buffered columns, keys and time, after the
        side's filter, without its late rows (counted, and routed when wanted)."""
        side = self._sides[index]
        time = TIMES[index]
        columns = [pl.col(c).alias(qualified(side, c)) for c in side.columns]
        columns.append(pl.col(side.event_time).dt.epoch("ms").cast(pl.Int64).alias(time))
        track = arrivals is not None or self._watermark is not None
        if arrivals is not None:
            batch = batch.with_columns(arrivals.alias(ARRIVAL))
            columns.append(pl.col(ARRIVAL))
        if track:
            batch = batch.with_row_index(ORIGIN)
            columns.append(pl.col(ORIGIN))
        frame = batch.lazy().select(columns)
        if self._side_where[index] is not None:
            frame = frame.filter(self._side_where[index])
        fresh = frame.collect()
        if track:
            # a NULL time cannot be placed in event time: such a row is as late as can be
            late = (pl.col(time) < (pl.col(ARRIVAL) if arrivals is not None
                                    else self._watermark)).fill_null(True)
            late_origins = fresh.filter(late)[ORIGIN]
            if len(late_origins):
                # a self-join sees each batch on both sides: its late rows count once
                if not (self._self_join and index == RIGHT):
                    self._late_events += len(late_origins)
                    if side.stream in self.spec.late_streams:
                        self.pending.late.append(
                            batch.filter(pl.col(ORIGIN).is_in(late_origins.implode()))
                            .drop(ORIGIN, ARRIVAL, strict=False))
                fresh = fresh.filter(~late)
            fresh = fresh.drop(ORIGIN, ARRIVAL, strict=False)
        return fresh.with_columns(self._key_exprs[index])

    def _pairs(self, left: pl.DataFrame, right: pl.DataFrame) -> pl.DataFrame:
        """The pairs of `left` x `right` rows with equal keys, within the interval and with
        the residual true: one hash join, then filters."""
        if self._keys:
            # (polars never matches NULL keys by default: SQL's NULL = NULL is not TRUE)
            candidates = left.lazy().join(right.lazy(), on=self._keys, how="inner")
        else:
            candidates = left.lazy().join(right.lazy(), how="cross")
        gap = pl.col(TIMES[RIGHT]) - pl.col(TIMES[LEFT])
        pairs = candidates.filter(gap.is_between(-self.spec.before_ms, self.spec.after_ms))
        if self._residual is not None:
            pairs = pairs.filter(self._residual)
        return pairs.collect()

    def _with_nulls(self, missing: int, unmatched: pl.DataFrame) -> pl.DataFrame:
        """Unmatched rows of one side with the other (`missing`) side's columns all NULL."""
        other = self._sides[missing]
        return unmatched.with_columns(
            pl.lit(None, dtype=t.polars_dtype).alias(qualified(other, c))
            for c, t in other.columns.items())

    def _project(self, frames: list[pl.DataFrame]) -> list[pl.DataFrame]:
        """Joined rows -> the remaining WHERE, then the SELECT list."""
        out = []
        for frame in frames:
            lazy = frame.lazy()
            if self._where is not None:
                lazy = lazy.filter(self._where)
            rows = lazy.select(self._outputs).collect()
            if rows.height:
                out.append(rows)
        return out


def qualified(side: JoinSide, column: str) -> str:
    """The name of a side's column in the operator's frames: `<qualifier>.<column>`."""
    return f"{side.qualifier}.{column}"


def _dtype(expr: ast.Expr) -> pl.DataType:
    assert expr.type is not None, "join keys are typed by analysis"
    return expr.type.polars_dtype
