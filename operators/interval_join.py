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

Beyond that hash join, a batch and a watermark advance touch no more of a buffer than they
must (they did: a 1,000-row publish cost LEFT about 1.5x what INNER did, enough for a loaded
machine to fall behind a paced rate, benchmarks/README.md W6). An outer join does not
rewrite its buffer's matched flags when rows match (a pass over the whole buffer per batch
of the other side); it appends the matched row numbers the pairs name to a list, and only
the rows pruned are checked against it. A buffer whose times are in order (input in
event-time order, the usual case) is pruned by slicing off its expired prefix instead of two
filters copying all of it.
"""

from __future__ import annotations

import polars as pl

from frys.dsl import ast
from frys.engine.graph import IntervalJoinSpec
from frys.engine.operator import (
    BatchSource,
    Emitted,
    OperatorCounters,
    OperatorSettings,
    OperatorState,
    SideOutputs,
)
from frys.engine.time import END_OF_TIME, START_OF_TIME
from frys.operators.join_clauses import LEFT, RIGHT, JoinClauses, qualified

# the operator's own columns in a side's buffer (input columns are "<qualifier>.<name>")
TIMES = ("__left_time", "__right_time")  # each side's event time, epoch milliseconds
# outer joins, per preserved side: a row's number (to find the rows that matched); rising
# along the buffer, which only appends and prunes
ROWS = ("__left_row", "__right_row")
# in a snapshot only: whether a buffered row has matched a row of the other side (the
# operator keeps the matched row numbers instead, IntervalJoin._matched)
MATCHED = ("__left_matched", "__right_matched")
# a buffer made of more chunks than this is rechunked (amortized: appends add a chunk each,
# and prunes by slicing do not merge them)
MAX_CHUNKS = 64
# the least number of matched row numbers held before they are folded, duplicates dropped
# (IntervalJoin._note_matched)
FOLD_AT = 1024
ORIGIN = "__origin"  # a row's position in its batch, to hand out late rows as they came
ARRIVAL = "__arrival_watermark"  # the watermark a row arrived under


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
        clauses = JoinClauses(spec, self._column_expr)
        self._keys, self._key_exprs = clauses.keys, clauses.key_exprs
        self._key_dtypes = clauses.key_dtypes
        self._side_where, self._residual = clauses.side_where, clauses.residual
        self._where, self._outputs = clauses.where, clauses.outputs
        self._buffers = [self._empty(LEFT), self._empty(RIGHT)]
        # per side, its columns as NULLs: what an unmatched row of the other side gets
        self._nulls = [[pl.lit(None, dtype=t.polars_dtype).alias(qualified(side, c))
                        for c, t in side.columns.items()] for side in self._sides]
        # per preserved side, the row numbers of buffered rows that have matched, as the
        # batches' pairs named them (with duplicates until folded into one Series, _fold)
        self._matched: list[list[pl.Series]] = [[], []]
        # per side, whether the buffer's times are non-decreasing (then pruning is a slice)
        self._ordered = [True, True]
        self._watermark: int | None = None
        self._late_events = 0
        self._next_row = [0, 0]

    # ------------------------------------------------------------------ compiling

    def _column_expr(self, expr: ast.Expr) -> pl.Expr | None:
        return pl.col(self._column(expr)) if isinstance(expr, ast.ColumnRef) else None

    def _column(self, ref: ast.ColumnRef) -> str:
        """The buffered column a reference reads: by its qualifier, else the one side that
        has the column (the analyzer refused ambiguous references)."""
        for side in self._sides:
            if ref.qualifier == side.qualifier or (
                    ref.qualifier is None and ref.name in side.columns):
                return qualified(side, ref.name)
        raise ValueError(f"column {ref.name} is read by the join but not buffered")

    def _empty(self, index: int) -> pl.DataFrame:
        side = self._sides[index]
        schema: dict[str, pl.DataType] = {
            qualified(side, c): t.polars_dtype for c, t in side.columns.items()}
        schema[TIMES[index]] = pl.Int64()
        for name, dtype in zip(self._keys, self._key_dtypes[index], strict=True):
            schema[name] = dtype
        if self._preserved[index]:
            schema[ROWS[index]] = pl.Int64()
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
                pl.int_range(start, start + fresh.height, dtype=pl.Int64).alias(ROWS[index]))
            self._next_row[index] += fresh.height
        rows: list[pl.DataFrame] = []
        other = self._in_reach(index, fresh, self._buffers[1 - index])
        if other.height:
            left, right = (fresh, other) if index == LEFT else (other, fresh)
            pairs = self._pairs(left, right)
            if pairs.height:
                for side in (LEFT, RIGHT):
                    if self._preserved[side]:
                        self._note_matched(side, pairs[ROWS[side]])
                rows.append(pairs)
        self._append(index, fresh)
        return self.emit(self._project(rows))

    def advance(self, watermark: int) -> Emitted:
        """Prune each buffer of the rows the watermark is past time + their reach of (left:
        after, right: before); of a preserved side, emit the pruned ones that never
        matched."""
        if self._watermark is not None and watermark <= self._watermark:
            return self.emit([])
        self._watermark = watermark
        rows: list[pl.LazyFrame] = []
        for index in (LEFT, RIGHT):
            # (within Int64: a negative reach, a shifted interval, can pass the end of time)
            horizon = min(max(watermark - self._reach[index], START_OF_TIME), END_OF_TIME)
            prefix = self._ordered[index]  # (pruning may find the rest in order)
            expired = self._prune(index, horizon)
            if expired is None or not self._preserved[index]:
                continue
            unmatched = expired.lazy()
            if self._matched[index]:
                matched = pl.concat(self._matched[index])
                kept = self._buffers[index]
                if prefix:
                    # numbers rise along the buffer: the pruned rows' are those below the
                    # first kept row's (two comparisons, no hashing of the kept ones)
                    first = kept[ROWS[index]][0] if kept.height else self._next_row[index]
                    gone, rest = matched.filter(matched < first), matched.filter(
                        matched >= first)
                else:
                    pruned = matched.is_in(expired[ROWS[index]].implode())
                    gone, rest = matched.filter(pruned), matched.filter(~pruned)
                unmatched = unmatched.filter(~pl.col(ROWS[index]).is_in(gone.implode()))
                # the numbers of rows still buffered (the pruned never come back)
                self._matched[index] = [rest] if len(rest) else []
                if len(rest) > 2 * max(kept.height, FOLD_AT):
                    self._fold(index)  # duplicates of the few rows left
            if not prefix:
                unmatched = unmatched.sort(TIMES[index], maintain_order=True)
            rows.append(self._with_nulls(1 - index, unmatched))
        return self.emit(self._project(rows))

    def counters(self) -> OperatorCounters:
        return OperatorCounters(late_events=self._late_events)

    def snapshot(self) -> OperatorState:
        """Each side's buffer (table `left`, `right`: the qualified input columns, keys,
        time, and of a preserved side the row numbers and whether each matched, folded in
        from the matched row numbers) and the scalars: the watermark, the late events
        counted, each side's next row number."""
        tables = {}
        for name, index in (("left", LEFT), ("right", RIGHT)):
            # compacted, and kept so: the snapshot and the operator it restores then hold
            # the same layout, hence the same bytes (state_size) as this one
            buffer = self._buffers[index] = self._buffers[index].rechunk()
            if self._preserved[index]:
                matched = self._fold(index).implode()
                buffer = buffer.with_columns(
                    pl.col(ROWS[index]).is_in(matched).alias(MATCHED[index]))
            tables[name] = buffer
        return OperatorState(self.STATE_KIND, self.STATE_VERSION, tables,
                             {"watermark": self._watermark, "late_events": self._late_events,
                              "next_left_row": self._next_row[LEFT],
                              "next_right_row": self._next_row[RIGHT]})

    def restore(self, state: OperatorState) -> None:
        state.check(self.STATE_KIND, self.STATE_VERSION)
        self._buffers = [state.tables["left"], state.tables["right"]]
        self._matched = [[], []]
        for index in (LEFT, RIGHT):
            buffer = self._buffers[index]
            if self._preserved[index]:
                self._matched[index] = [buffer.filter(pl.col(MATCHED[index]))[ROWS[index]]]
                self._buffers[index] = buffer.drop(MATCHED[index])
            times = self._buffers[index][TIMES[index]]
            self._ordered[index] = times.null_count() == 0 and times.is_sorted()
        self._watermark = state.scalars["watermark"]
        self._late_events = state.scalars["late_events"] or 0
        self._next_row = [state.scalars["next_left_row"] or 0,
                          state.scalars["next_right_row"] or 0]

    def state_size(self) -> int:
        return sum(int(buffer.estimated_size()) for buffer in self._buffers) + sum(
            int(numbers.estimated_size()) for side in self._matched for numbers in side)

    def buffered_rows(self) -> tuple[int, int]:
        """How many rows each side holds (left, right)."""
        return self._buffers[LEFT].height, self._buffers[RIGHT].height

    # ------------------------------------------------------------------ steps

    def _append(self, index: int, fresh: pl.DataFrame) -> None:
        """Buffer a side's admitted rows, keeping track of whether its times stay in order
        (a NULL time is out of order: it sorts nowhere)."""
        buffer = self._buffers[index]
        if self._ordered[index] and fresh.height:
            times = fresh[TIMES[index]]
            last = buffer[TIMES[index]][-1] if buffer.height else None
            self._ordered[index] = (times.null_count() == 0 and times.is_sorted()
                                    and (last is None or times[0] >= last))
        buffer = pl.concat([buffer, fresh], how="vertical_relaxed", rechunk=False)
        if buffer.n_chunks() > MAX_CHUNKS:
            buffer = buffer.rechunk()
        self._buffers[index] = buffer

    def _prune(self, index: int, horizon: int) -> pl.DataFrame | None:
        """Drop a side's rows with time < horizon from its buffer; the dropped rows (None
        when there are none). In order, they are a prefix, cut by a slice."""
        buffer = self._buffers[index]
        times = buffer[TIMES[index]]
        if self._ordered[index]:
            if not buffer.height or times[0] >= horizon:
                return None
            # one comparison over the time column: cheaper than polars' search_sorted's
            # call overhead at these sizes, and no frame is copied
            cut = int((times < horizon).sum())
            self._buffers[index] = buffer.slice(cut)
            return buffer.slice(0, cut)
        oldest = times.min()
        if oldest is None or int(oldest) >= horizon:  # type: ignore[arg-type]
            return None
        # (a NULL time compares NULL: such a row leaves the buffer unreported, as before)
        expired = pl.col(TIMES[index]) < horizon
        self._buffers[index] = kept = buffer.filter(~expired)
        kept_times = kept[TIMES[index]]
        self._ordered[index] = kept_times.null_count() == 0 and kept_times.is_sorted()
        return buffer.filter(expired)

    def _note_matched(self, side: int, numbers: pl.Series) -> None:
        """Remember that the rows of these numbers matched. A row matched again is noted
        again: the numbers are folded (duplicates dropped) once they outnumber twice the
        buffer's rows (or FOLD_AT), which leaves at most the buffer's rows, so folds cost
        O(1) per number noted and the list stays within about twice the buffer."""
        pending = self._matched[side]
        pending.append(numbers)
        if sum(len(n) for n in pending) > 2 * max(self._buffers[side].height, FOLD_AT):
            self._fold(side)

    def _fold(self, side: int) -> pl.Series:
        """A side's matched row numbers as one Series without duplicates."""
        pending = self._matched[side]
        folded = pl.concat(pending).unique() if pending else pl.Series([], dtype=pl.Int64)
        self._matched[side] = [folded]
        return folded

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

    def _in_reach(self, index: int, fresh: pl.DataFrame, other: pl.DataFrame
                  ) -> pl.DataFrame:
        """The rows of the other side's buffer `other` whose time is in the interval of
        some row of `fresh` (side `index`): a slice between two binary searches when that
        buffer is in time order, else all of it. The hash join then costs the rows that
        can match, not the whole buffer: while the watermark holds back (one input ahead
        of the other, a file read by several partitions), buffers grow well past the
        interval, and every batch joined against all of it cost the whole buffer."""
        if not other.height or not self._ordered[1 - index]:
            return other
        times = fresh[TIMES[index]]
        low, high = times.min(), times.max()
        if low is None or high is None:
            return other.clear()  # NULL times meet nothing
        before, after = self.spec.before_ms, self.spec.after_ms
        # a left row l meets right rows r with l - before <= r <= l + after
        lo, hi = ((int(low) - before, int(high) + after) if index == LEFT  # type: ignore[arg-type]
                  else (int(low) - after, int(high) + before))  # type: ignore[arg-type]
        column = other[TIMES[1 - index]]
        start = int(column.search_sorted(max(lo, START_OF_TIME), side="left"))
        end = int(column.search_sorted(min(hi, END_OF_TIME), side="right"))
        return other.slice(start, max(0, end - start))  # (a view: no rows copied)

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

    def _with_nulls(self, missing: int, unmatched: pl.LazyFrame) -> pl.LazyFrame:
        """Unmatched rows of one side with the other (`missing`) side's columns all NULL."""
        return unmatched.with_columns(self._nulls[missing])

    def _project(self, frames: list[pl.DataFrame] | list[pl.LazyFrame]
                 ) -> list[pl.DataFrame]:
        """Joined rows -> the remaining WHERE, then the SELECT list (one query each: the
        unmatched rows' filter and NULLs come in as a LazyFrame)."""
        out = []
        for frame in frames:
            lazy = frame.lazy()
            if self._where is not None:
                lazy = lazy.filter(self._where)
            rows = lazy.select(self._outputs).collect()
            if rows.height:
                out.append(rows)
        return out


