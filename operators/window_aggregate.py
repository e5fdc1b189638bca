"""Time-window grouped aggregation (TUMBLE and HOP, and running aggregates) over columnar
batches, in event time; and what every window operator shares, by composition:
GroupedAggregation (the compiled clauses: partial aggregates, HAVING and SELECT, EMIT
CHANGES rows, firing) and WindowProgress (watermark, late events, EMIT EVERY, the snapshot's
scalars). Sessions (session_window.py) and count windows (count_window.py) hold the same two.

Semantics (the contract the tests hold it to):

* Windows are half-open `[start, start + size)` with starts on multiples of the slide,
  aligned to the Unix epoch. TUMBLE(size) is HOP(size, size): an event with event time `t`
  belongs to the one window starting at `floor(t / size) * size`; under HOP(size, slide) it
  belongs to every window with `t - size < start <= t` (size / slide of them).
* A window fires once, when the operator's watermark reaches its end plus the allowed
  lateness (`end + lateness <= watermark`), emitting one row per group key. Rows of one
  firing are ordered by window start, then keys.
* An event is late when every window it belongs to has fired; it is then dropped and counted
  in `late_events`, never silently. (Under HOP an event whose older windows have fired
  still counts in its younger ones.)
* State is one row of partial aggregates per open (key, window), merged incrementally batch
  by batch; events themselves are not kept, except by the aggregates that need the values:
  COUNT(DISTINCT x) keeps the distinct values, PERCENTILE and ARRAY_AGG every value, of each
  open window.

Call order: any interleaving of `process(batch)` and `advance(watermark)`, with watermarks
non-decreasing; `advance(END_OF_TIME)` flushes every open window.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import polars as pl

from frys.dsl import ast
from frys.dsl.analyzed import AggregateCall
from frys.dsl.types import TIMESTAMP_DTYPE, FrysType
from frys.engine.graph import AggregateClauses, HopSpec, RunningAggregateSpec, TumbleSpec
from frys.engine.operator import (
    BatchSource,
    Emitted,
    OperatorCounters,
    OperatorSettings,
    OperatorState,
    SideOutputs,
)
from frys.engine.time import event_time_millis
from frys.operators.expressions import to_polars
from frys.operators.stateless import compile_filter

WINDOW_START = "__window_start"
WINDOW_END = "__window_end"  # kept in state only by windows whose end varies (sessions)
ORIGIN = "__origin"  # an event's row in its (filtered) batch, to find it again
ARRIVAL_WATERMARK = "__arrival_watermark"  # the watermark an event arrived under
# rows (event x window) one fold holds at most: bounds a HOP's memory whatever the batch
MAX_WINDOW_ROWS = 1 << 20
# a fold regroups the whole state when it is this many times smaller than the partials
# folded in (WindowAggregate._fold): finding the windows touched costs more than it saves
FOLD_WHOLE_BELOW = 4
EVENT_TIME = "__event_time"


@dataclass(frozen=True)
class _AggregateParts:
    """How one aggregate is computed in three phases: per batch (partial), when partials
    meet (combine), and when its window fires (final). `row` is the partial of a single
    event as row-wise expressions (same columns and types as `partial`), for aggregates
    whose combine takes raw events as well: a batch then folds into the state with one
    group_by instead of two. None for the aggregates that keep lists of values."""

    partial: list[pl.Expr]
    combine: list[pl.Expr]
    final: pl.Expr
    row: list[pl.Expr] | None = None


def _parts(aggregate: AggregateCall, index: int) -> _AggregateParts:
    value = pl.col(f"__in{index}")
    p = f"__p{index}"
    n, s, m, t, d, mean, m2 = (f"{p}_n", f"{p}_sum", f"{p}_val", f"{p}_ts", f"{p}_distinct",
                              f"{p}_mean", f"{p}_m2")
    col = pl.col
    name = aggregate.column
    function = aggregate.function
    # Every combine expression is aliased to its partial's name: polars names an expression
    # after its leftmost column, which is not always the partial it recomputes.
    if function == "COUNT" and aggregate.argument is None:
        return _AggregateParts([pl.len().cast(pl.Int64).alias(n)], [col(n).sum().alias(n)],
                               col(n).alias(name), [pl.lit(1, dtype=pl.Int64).alias(n)])
    if function == "COUNT" and aggregate.distinct:
        return _AggregateParts(
            [value.drop_nulls().unique().alias(d)],
            [col(d).explode().drop_nulls().unique().alias(d)],
            col(d).list.len().cast(pl.Int64).alias(name))
    if function == "COUNT":
        return _AggregateParts([value.count().cast(pl.Int64).alias(n)], [col(n).sum().alias(n)],
                               col(n).alias(name),
                               [value.is_not_null().cast(pl.Int64).alias(n)])
    if function in ("SUM", "AVG"):
        partial = [value.count().cast(pl.Int64).alias(n), value.sum().alias(s)]
        # a NULL adds nothing to a sum (0, as a partial of only NULLs holds)
        row = [value.is_not_null().cast(pl.Int64).alias(n), value.fill_null(0).alias(s)]
        combine = [col(n).sum().alias(n), col(s).sum().alias(s)]
        if function == "SUM":
            final = pl.when(col(n) > 0).then(col(s)).otherwise(None)
        else:
            final = pl.when(col(n) > 0).then(col(s).cast(pl.Float64) / col(n)).otherwise(None)
        return _AggregateParts(partial, combine, final.alias(name), row)
    if function in ("MIN", "MAX"):
        reduce = (lambda e: e.min()) if function == "MIN" else (lambda e: e.max())
        return _AggregateParts([reduce(value).alias(m)], [reduce(col(m)).alias(m)],
                               col(m).alias(name), [value.alias(m)])
    if function in ("FIRST", "LAST"):
        # FIRST: earliest event time, among equal times the first to arrive; LAST: latest,
        # the last to arrive. Rows keep their arrival order within a group (state rows before
        # the new batch's), so filter + first/last picks by arrival. (The shorter
        # `reverse().get(reverse().arg_max())` is mis-optimized by polars' lazy engine.)
        def pick(values: pl.Expr, times: pl.Expr) -> list[pl.Expr]:
            if function == "FIRST":
                return [values.filter(times == times.min()).first().alias(m),
                        times.min().alias(t)]
            return [values.filter(times == times.max()).last().alias(m), times.max().alias(t)]

        return _AggregateParts(pick(value, col(EVENT_TIME)), pick(col(m), col(t)),
                               col(m).alias(name), [value.alias(m), col(EVENT_TIME).alias(t)])
    if function == "PERCENTILE":
        # continuous percentile (linear interpolation, PostgreSQL's percentile_cont)
        fraction = aggregate.parameter if aggregate.parameter is not None else 0.5
        return _AggregateParts(
            [value.drop_nulls().cast(pl.Float64).alias(d)],
            [col(d).explode().drop_nulls().alias(d)],
            col(d).list.eval(pl.element().quantile(fraction, "linear")).list.first()
            .alias(name))
    if function == "ARRAY_AGG":
        # every value, NULLs included, in arrival order (state first, then each batch)
        return _AggregateParts([value.alias(d)], [col(d).explode().alias(d)],
                               col(d).alias(name))
    if function in ("STDDEV", "VARIANCE"):
        # Chan et al.'s parallel update of (count, mean, sum of squared deviations): exact
        # merging of partials without the cancellation of a sum-of-squares formula.
        as_float = value.cast(pl.Float64)
        partial = [as_float.count().cast(pl.Int64).alias(n), as_float.mean().alias(mean),
                   ((as_float - as_float.mean()) ** 2).sum().alias(m2)]
        total = col(n).sum()
        # partials that saw only NULLs have n = 0 and mean NULL: they carry no weight
        weighted = pl.when(col(n) > 0).then(col(n) * col(mean)).otherwise(0.0)
        merged_mean = weighted.sum() / total
        spread = pl.when(col(n) > 0).then(col(m2) + col(n) * (col(mean) - merged_mean) ** 2
                                          ).otherwise(0.0)
        combine = [total.alias(n), merged_mean.alias(mean), spread.sum().alias(m2)]
        variance = col(m2) / (col(n) - 1)  # the sample variance, as in PostgreSQL
        final = pl.when(col(n) > 1).then(
            variance.sqrt() if function == "STDDEV" else variance).otherwise(None)
        # one event: its value as the mean, no spread (a NULL: no weight, as above)
        row = [as_float.is_not_null().cast(pl.Int64).alias(n), as_float.alias(mean),
               pl.lit(0.0, dtype=pl.Float64).alias(m2)]
        return _AggregateParts(partial, combine, final.alias(name), row)
    raise ValueError(f"aggregate {function} has no window implementation")  # pragma: no cover


class GroupedAggregation:
    """The clauses of a grouped aggregation (engine.graph.AggregateClauses) compiled once,
    the same whatever the windows: the columns an event contributes (EVENT_TIME, the keys,
    the aggregates' arguments), WHERE, each aggregate's partial, combine and final
    expressions, HAVING and the SELECT list. It holds no state: each window operator holds
    one of these beside its own windows and state.

    State rows are partial aggregates per group (`group_columns`: the keys, then the
    operator's window columns); `rows_query` turns done groups into output rows, by
    WINDOW_START then keys. `window_end` (epoch ms) is what `window_end` means in HAVING
    and SELECT: WINDOW_START + size for time windows, the WINDOW_END column where ends vary,
    None without windows."""

    def __init__(self, clauses: AggregateClauses, window_end: pl.Expr | None) -> None:
        event_time, group_keys, aggregates = (clauses.event_time, clauses.group_keys,
                                              clauses.aggregates)
        self.event_time = event_time
        self.emit_changes = clauses.emit_changes
        self.key_names = [name for name, _ in group_keys]
        parts = [_parts(a, i) for i, a in enumerate(aggregates)]
        self.inputs = [
            # without an event time (a running aggregate over such a stream) FIRST and LAST
            # go by arrival order
            (pl.col(event_time).dt.epoch("ms") if event_time is not None
             else pl.lit(0, dtype=pl.Int64)).alias(EVENT_TIME),
            *(to_polars(expr).alias(name) for name, expr in group_keys),
            *(to_polars(a.argument).alias(f"__in{i}")
              for i, a in enumerate(aggregates) if a.argument is not None),
        ]
        self.where = (compile_filter(clauses.where) if clauses.where is not None
                      else None)
        self.partial = [e for p in parts for e in p.partial]
        rows = [p.row for p in parts]
        # every aggregate's partial of one event, where each has one (see _AggregateParts)
        self.row_partial = (None if any(r is None for r in rows)
                            else [e for r in rows if r is not None for e in r])
        self.combine = [e for p in parts for e in p.combine]
        self.final = [p.final for p in parts]

        key_exprs = {expr: name for name, expr in group_keys}
        aggregate_columns = {a.key: a.column for a in aggregates}

        def substitute(node: ast.Expr) -> pl.Expr | None:
            if node in key_exprs:
                return pl.col(key_exprs[node])
            if isinstance(node, ast.FunctionCall):
                key = AggregateCall.key_of(node)
                if key in aggregate_columns:
                    return pl.col(aggregate_columns[key])
            if isinstance(node, ast.ColumnRef) and node.qualifier is None:
                if node.name == "window_start":
                    return pl.col(WINDOW_START).cast(TIMESTAMP_DTYPE)
                if node.name == "window_end" and window_end is not None:
                    return window_end.cast(TIMESTAMP_DTYPE)
            return None

        having, output_types = clauses.having, clauses.output_types
        self.having = to_polars(having, substitute) if having is not None else None
        # NULL and ARRAY columns keep the dtype polars gives them (no element type to cast to)
        self.outputs = [
            to_polars(expr, substitute).cast(output_types[name].polars_dtype).alias(name)
            if output_types[name] not in (FrysType.NULL, FrysType.ARRAY)
            else to_polars(expr, substitute).alias(name)
            for name, expr in clauses.outputs
        ]

    def filtered(self, batch: pl.DataFrame, number: bool = True) -> pl.DataFrame:
        """The batch after WHERE, each row numbered in ORIGIN if `number`."""
        if self.where is not None:
            batch = batch.filter(self.where)
        return batch.with_row_index(ORIGIN) if number else batch

    def changed(self, state: pl.DataFrame, partial: pl.DataFrame,
                group_columns: list[str]) -> pl.DataFrame:
        """EMIT CHANGES: the state rows of the groups a batch's `partial` touched."""
        return state.join(partial.select(group_columns), on=group_columns, how="semi",
                          nulls_equal=True)

    def with_aggregates(self, state: pl.DataFrame, old_of: Sequence[int | None],
                        input_schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
        """State kept by an operator of the same groups and windows with other aggregates,
        as this one keeps it (a job upgraded from a checkpoint, engine/upgrade.py):
        `old_of[i]` is the old index of this aggregation's aggregate i, whose partials are
        taken over; None: a new aggregate, whose partials start empty in every open window,
        as if no event had reached it yet (counts 0, the rest NULL, collections empty). The
        old aggregates not kept are dropped. `input_schema`: the input stream's columns."""
        # the partials' dtypes, from the plan alone (no rows needed)
        partials = (pl.LazyFrame(schema=dict(input_schema)).select(self.inputs)
                    .group_by(pl.lit(0).alias("__group")).agg(self.partial)
                    .drop("__group").collect_schema())
        columns = [pl.col(name) for name in state.columns if not name.startswith("__p")]
        for index, old in enumerate(old_of):
            prefix = f"__p{index}_"
            for name, dtype in partials.items():
                if not name.startswith(prefix):
                    continue
                if old is not None:
                    taken = f"__p{old}_{name[len(prefix):]}"
                    columns.append(pl.col(taken).cast(dtype).alias(name))
                elif name.endswith("_n"):
                    columns.append(pl.lit(0, dtype=dtype).alias(name))
                elif isinstance(dtype, pl.List):
                    columns.append(pl.lit([], dtype=dtype).alias(name))
                else:
                    columns.append(pl.lit(None, dtype=dtype).alias(name))
        return state.select(columns)

    def fire(self, state: pl.DataFrame, closes: pl.Expr
             ) -> tuple[list[pl.DataFrame], pl.DataFrame]:
        """Split the state into the output rows of the groups `closes` selects (none under
        EMIT CHANGES: their last change was their final row) and the state left open."""
        if self.emit_changes:
            return [], state.filter(~closes)
        # one polars call for both halves: the closing windows' rows and the state left
        lazy = state.lazy()
        rows, left = pl.collect_all([self.rows_query(lazy.filter(closes)),
                                     lazy.filter(~closes)])
        return ([rows] if rows.height else []), left

    def fire_all(self, closing: pl.DataFrame) -> list[pl.DataFrame]:
        """The output rows of `closing`, groups that all close (fire's first half)."""
        if self.emit_changes:
            return []
        rows = self.rows(closing)
        return [rows] if rows.height else []

    def rows(self, ready: pl.DataFrame) -> pl.DataFrame:
        return self.rows_query(ready.lazy()).collect()

    def rows_query(self, ready: pl.LazyFrame) -> pl.LazyFrame:
        """Done groups -> output rows: by window start then keys, final aggregates, HAVING,
        the SELECT list."""
        rows = ready.sort([WINDOW_START, *self.key_names]).with_columns(self.final)
        if self.having is not None:
            rows = rows.filter(self.having)
        return rows.select(self.outputs)


class WindowProgress:
    """What a window operator tracks besides its tables, and how it goes into a snapshot:
    the watermark, the period boundary of the last EMIT EVERY firing, the late events
    (always counted; handed out with all their fields when the input has a late stream)
    and the windows left short at the end (only count windows end short)."""

    def __init__(self, route_late: bool, emit_every_ms: int | None) -> None:
        self.route_late = route_late
        self.emit_every_ms = emit_every_ms
        self.watermark: int | None = None
        self.last_early: int | None = None
        self.late_events = 0
        self.incomplete_windows = 0

    def moves_to(self, watermark: int) -> bool:
        """Take `watermark` as event time when it is ahead; False (nothing to do) if not."""
        if self.watermark is not None and watermark <= self.watermark:
            return False
        self.watermark = watermark
        return True

    def early_due(self, watermark: int) -> bool:
        """EMIT EVERY: whether `watermark` crossed a multiple of the period (aligned to the
        epoch) since the last firing: true once per crossing, which is spent whether or
        not any window is open."""
        if self.emit_every_ms is None:
            return False
        boundary = (watermark // self.emit_every_ms) * self.emit_every_ms
        if self.last_early is not None and boundary <= self.last_early:
            return False
        self.last_early = boundary
        return True

    def early_rows(self, watermark: int, state: pl.DataFrame | None,
                   rows: Callable[[pl.DataFrame], pl.DataFrame]) -> list[pl.DataFrame]:
        """EMIT EVERY: `rows` of every window still open in `state`, when `watermark`
        crossed a period boundary (see early_due)."""
        if not self.early_due(watermark) or state is None or state.height == 0:
            return []
        return [rows(state)]

    def count_late(self, events: pl.DataFrame, late_origins: pl.Series,
                   pending: Emitted) -> None:
        """Count the events of `events` (numbered in ORIGIN) at `late_origins`; with a late
        stream, add them to `pending.late` without the operator's columns."""
        self.late_events += len(late_origins)
        if self.route_late and len(late_origins):
            rows = events.filter(pl.col(ORIGIN).is_in(late_origins.implode()))
            pending.late.append(rows.drop(ORIGIN, ARRIVAL_WATERMARK, strict=False))

    def counters(self) -> OperatorCounters:
        return OperatorCounters(late_events=self.late_events,
                                incomplete_windows=self.incomplete_windows)

    def snapshot(self, kind: str, version: int, tables: dict[str, pl.DataFrame | None],
                 scalars: dict[str, int | None] | None = None) -> OperatorState:
        """An OperatorState of the operator's tables (those it has) and these scalars,
        with the operator's own `scalars` after them."""
        return OperatorState(kind, version, {
            name: table for name, table in tables.items() if table is not None}, {
            "watermark": self.watermark, "last_early": self.last_early,
            "late_events": self.late_events, "incomplete_windows": self.incomplete_windows,
            **(scalars or {})})

    def restore(self, state: OperatorState, kind: str, version: int) -> None:
        """Take these scalars back from a snapshot (refused when not of `kind`, `version`)."""
        state.check(kind, version)
        self.watermark = state.scalars["watermark"]
        self.last_early = state.scalars["last_early"]
        self.late_events = state.scalars["late_events"] or 0
        self.incomplete_windows = state.scalars["incomplete_windows"] or 0


def state_bytes(tables: dict[str, pl.DataFrame | None]) -> int:
    """What an operator's tables hold, in bytes (polars' estimate)."""
    return sum(int(table.estimated_size()) for table in tables.values() if table is not None)


class WindowOperator(SideOutputs, ABC):
    """The operator contract's plumbing every window operator shares: `process` and
    `advance` hand out the rows `_process`/`_advance` compute with the side outputs
    gathered meanwhile; the counters and the snapshot's scalars are its WindowProgress's;
    its state is its tables (`_tables`: `state`, the partial aggregates, unless an operator
    keeps more) and, past WindowProgress's, its own scalars (`_scalars`)."""

    # the layout of snapshot(): each operator's kind; bump the version when the state's
    # tables or scalars change
    STATE_KIND: ClassVar[str]
    STATE_VERSION: ClassVar[int] = 1

    _progress: WindowProgress
    _state: pl.DataFrame | None  # per open (key, window): partial aggregates

    def __init__(self, clauses: AggregateClauses, window_end: pl.Expr | None,
                 late_stream: str | None) -> None:
        """What every window operator starts with: no side outputs yet, the compiled clauses
        (`window_end`: how a window's end is computed, None without windows), a
        WindowProgress (late events handed out when the input has a `late` stream), no
        state."""
        self.pending = Emitted()
        self._aggregation = GroupedAggregation(clauses, window_end)
        self._progress = WindowProgress(late_stream is not None, clauses.emit_every_ms)
        self.key_names = self._aggregation.key_names
        self._state = None

    @abstractmethod
    def _process(self, batch: pl.DataFrame, arrivals: pl.Series | None = None
                 ) -> list[pl.DataFrame]:
        """Take a batch; the rows it makes come out now (EMIT CHANGES), or none."""

    @abstractmethod
    def _advance(self, watermark: int) -> list[pl.DataFrame]:
        """Event time reached `watermark`: the rows of the windows it closes."""

    def process(self, batch: pl.DataFrame, source: BatchSource) -> Emitted:
        return self.emit(self._process(batch, source.arrivals))

    def advance(self, watermark: int) -> Emitted:
        return self.emit(self._advance(watermark))

    def counters(self) -> OperatorCounters:
        return self._progress.counters()

    def snapshot(self) -> OperatorState:
        return self._progress.snapshot(self.STATE_KIND, self.STATE_VERSION, self._tables(),
                                       self._scalars())

    def restore(self, state: OperatorState) -> None:
        self._progress.restore(state, self.STATE_KIND, self.STATE_VERSION)
        self._take(state)

    def state_size(self) -> int:
        return state_bytes(self._tables())

    def _tables(self) -> dict[str, pl.DataFrame | None]:
        return {"state": self._state}

    def _scalars(self) -> dict[str, int | None]:
        return {}

    def _take(self, state: OperatorState) -> None:
        """Take the tables and scalars of `_tables`/`_scalars` back from a snapshot."""
        self._state = state.tables.get("state")

    # an operator whose state is only its partial aggregates per group (`state`) can take
    # over the state of other aggregates (WindowOperator.state_with_aggregates)
    STATE_IS_PARTIALS: ClassVar[bool] = True

    def state_with_aggregates(self, state: OperatorState, old_of: Sequence[int | None],
                              input_schema: Mapping[str, pl.DataType]) -> OperatorState:
        """A snapshot of an operator of the same kind, keys and windows but other
        aggregates, as this operator would have taken it (GroupedAggregation.
        with_aggregates: `old_of[i]` the old index of aggregate i, None for a new one,
        which starts empty in the open windows), for `restore`."""
        if not self.STATE_IS_PARTIALS:
            raise ValueError(f"a {self.STATE_KIND} keeps more than partial aggregates: its "
                             "aggregates cannot change under a running state")
        table = state.tables.get("state")
        if table is None:
            return state
        return OperatorState(state.kind, state.version, {
            **state.tables, "state": self._aggregation.with_aggregates(table, old_of,
                                                                        input_schema)},
            state.scalars)


class WindowAggregate(WindowOperator):
    """GROUP BY keys with TUMBLE(size), HOP(size, slide) or no window (a running aggregate:
    one never-ending group per key), with aggregates, HAVING and the SELECT projection
    (the module docstring states the semantics). Its snapshot: the per-(key, window)
    partial aggregates (`state`, in the operator's own columns) and WindowProgress's
    scalars (the watermark, the last EMIT EVERY boundary, the counters)."""

    STATE_KIND = "window"

    def __init__(self, spec: RunningAggregateSpec | TumbleSpec | HopSpec,
                 settings: OperatorSettings) -> None:
        # the windows: size and slide (None, None: a running aggregate), allowed lateness
        if isinstance(spec, HopSpec):
            size_ms, slide_ms, lateness_ms = spec.size_ms, spec.slide_ms, spec.lateness_ms
        elif isinstance(spec, TumbleSpec):
            size_ms, slide_ms, lateness_ms = spec.size_ms, spec.size_ms, spec.lateness_ms
        else:
            size_ms, slide_ms, lateness_ms = None, None, 0
        self.size_ms = size_ms
        self.slide_ms = slide_ms
        # a window is done (fired, and closed to late events) once the watermark reaches this
        self._closing = None if size_ms is None else size_ms + lateness_ms
        late_stream = None if isinstance(spec, RunningAggregateSpec) else spec.late_stream
        super().__init__(spec.clauses,
                         None if size_ms is None else pl.col(WINDOW_START) + size_ms,
                         late_stream)
        self._group_columns = [*self.key_names, WINDOW_START]
        self._done_expression: pl.Expr | None = None
        self._window_start: pl.Expr | None = None
        # batches' partial aggregates not yet folded into the state (no EMIT CHANGES):
        # folding re-aggregates the whole state, so a batch only adds its partials, and
        # they are folded when they hold as many rows as the state (amortized: each row
        # is re-aggregated a bounded number of times, however big the state), when
        # windows they touch close, and before the state is read. While the watermark
        # holds (an input's producers far apart in event time: a file read by several
        # partitions, a slow producer) the state grows, and folding each batch into it
        # made every batch cost the whole state
        self._unfolded: list[pl.DataFrame] = []
        self._unfolded_rows = 0

    # ------------------------------------------------------------------ windows

    def _process(self, batch: pl.DataFrame, arrivals: pl.Series | None = None
                 ) -> list[pl.DataFrame]:
        """Fold a batch into the open windows. Under EMIT CHANGES, returns the updated row of
        every group the batch touched; otherwise nothing (windows fire on advance).
        `arrivals`: the watermark each row arrived under (engine.channel.Delivery.arrivals;
        None: all under the operator's), by which each row is judged late or not. Windows
        that an arrival watermark would have fired need not fire first: a row of a window
        its own watermark closed is late, and the others cannot belong to such a window."""
        if batch.height == 0:
            return []
        step = self._events_per_step()
        if batch.height > step:
            # HOP multiplies each event into size/slide rows: fold a big batch in slices so
            # that at most MAX_WINDOW_ROWS rows exist at once (the same result: folding is
            # associative, and each row is judged under its own arrival watermark); between
            # slices, event time moves to the next slice's first arrival watermark, firing
            # what it closes, so the state holds the open windows, not the batch's
            emitted: list[pl.DataFrame] = []
            for start in range(0, batch.height, step):
                if start and arrivals is not None:
                    emitted += self._advance(int(arrivals[start]))
                emitted += self._process(
                    batch.slice(start, step),
                    None if arrivals is None else arrivals.slice(start, step))
            return emitted
        aggregation, progress = self._aggregation, self._progress
        # events are numbered (ORIGIN) only when late ones must be found again: under HOP
        # (an event is late only when none of its windows is open) or to route them
        track = progress.route_late or self.slide_ms != self.size_ms
        watermark = progress.watermark
        if arrivals is not None:
            watermark = int(arrivals.max())  # type: ignore[arg-type]
            if progress.watermark is not None and progress.watermark > watermark:
                arrivals = arrivals.clip(lower_bound=progress.watermark)
                watermark = progress.watermark
        if not self._may_be_late(batch, watermark):
            # nothing in the batch can be late: filter, window and pre-aggregate in one
            # polars query (per-query overhead dominates small batches)
            lazy = batch.lazy()
            if aggregation.where is not None:
                lazy = lazy.filter(aggregation.where)
            windowed = self._assign_windows(lazy.select(aggregation.inputs))
            fresh = windowed.group_by(self._group_columns).agg(aggregation.partial)
            if (not aggregation.emit_changes and self._state is not None
                    and self._state.height):
                # each event as a partial of its own where every aggregate allows (a
                # projection: the fold's group_by is then the only one), else the batch
                # pre-aggregated
                partial = (fresh if aggregation.row_partial is None else windowed.select(
                    *self._group_columns, *aggregation.row_partial)).collect()
                if partial.height:
                    self._unfolded.append(partial)
                    self._unfolded_rows += partial.height
                    if self._unfolded_rows >= self._state.height:
                        self._fold()
                return []
            partial = fresh.collect()
            if partial.height == 0:
                return []
            return self._merge(partial)
        if arrivals is not None:
            batch = batch.with_columns(arrivals.alias(ARRIVAL_WATERMARK))
        events = aggregation.filtered(batch, number=track)
        inputs: list[pl.Expr | str] = ([*aggregation.inputs, ORIGIN] if track
                                       else list(aggregation.inputs))
        if arrivals is not None:
            inputs.append(ARRIVAL_WATERMARK)
        frame = self._assign_windows(events.lazy().select(inputs)).collect()
        if watermark is not None and self._closing is not None:
            oldest = frame[WINDOW_START].min() if frame.height else None
            # skip the filtering when not even the oldest window of the batch has closed
            if oldest is not None and int(oldest) + self._closing <= watermark:  # type: ignore[arg-type]
                open_ = pl.col(WINDOW_START) + self._closing > (
                    watermark if arrivals is None else pl.col(ARRIVAL_WATERMARK))
                if track:
                    origins = frame[ORIGIN].unique()
                    frame = frame.filter(open_)
                    late = origins.filter(~origins.is_in(frame[ORIGIN].unique().implode()))
                    progress.count_late(events, late, self.pending)
                else:
                    before = frame.height
                    frame = frame.filter(open_)
                    progress.late_events += before - frame.height
            if frame.height == 0:
                return []
        partial = frame.group_by(self._group_columns).agg(aggregation.partial)
        return self._merge(partial)

    def wants_arrivals(self, rows: int) -> bool:
        """A batch too big for one fold (a HOP's) is folded in slices, with event time
        moving between them to the arrival watermarks (see _process)."""
        return rows > self._events_per_step()

    def _events_per_step(self) -> int:
        """How many events one fold takes at most: all of a batch, except under HOP, where
        each event becomes one row per window it belongs to."""
        if self.size_ms is None or self.slide_ms is None or self.slide_ms == self.size_ms:
            return MAX_WINDOW_ROWS
        windows = -(-self.size_ms // self.slide_ms)
        return max(1, MAX_WINDOW_ROWS // windows)

    def _may_be_late(self, batch: pl.DataFrame, watermark: int | None) -> bool:
        """Whether some event of the batch may belong only to windows closed by `watermark`:
        decided on the batch's earliest event time (Series arithmetic, no query)."""
        event_time = self._aggregation.event_time
        if watermark is None or self._closing is None or event_time is None:
            return False
        earliest = event_time_millis(batch[event_time]).min()
        if earliest is None:
            return False
        size, slide = self.size_ms, self.slide_ms
        assert size is not None and slide is not None
        oldest_start = (int(earliest) - size) // slide * slide + slide  # type: ignore[arg-type]
        return oldest_start + self._closing <= watermark

    def _fold(self) -> None:
        """Fold the partials of `_unfolded` into the state. Of a state bigger than the
        partials, only the windows they touch are regrouped: while the watermark holds (an
        input's producers apart in event time), the state holds windows the new rows are
        not in, and regrouping them with every fold cost W2 on two source partitions a
        fifth more."""
        if not self._unfolded:
            return
        unfolded, rows = self._unfolded, self._unfolded_rows
        self._unfolded, self._unfolded_rows = [], 0
        state = self._state
        combine = self._aggregation.combine
        if state is None or state.height * FOLD_WHOLE_BELOW <= rows:
            parts = unfolded if state is None or state.height == 0 else [state, *unfolded]
            self._state = (pl.concat(parts, how="vertical_relaxed")
                           .group_by(self._group_columns).agg(combine))
            return
        windows = pl.concat([part.lazy().select(WINDOW_START) for part in unfolded]).unique()
        lazy = state.lazy()
        touched = pl.col(WINDOW_START).is_in(windows.collect().to_series().implode())
        merged, left = pl.collect_all([
            pl.concat([lazy.filter(touched), *(part.lazy() for part in unfolded)],
                      how="vertical_relaxed").group_by(self._group_columns).agg(combine),
            lazy.filter(~touched)])
        self._state = pl.concat([left, merged], how="vertical_relaxed") if left.height \
            else merged

    def _take_closing(self, done: pl.Expr) -> pl.DataFrame | None:
        """The groups of the windows `done` selects, their partials folded in, taken out
        of the state (the state left holds the others, unregrouped; the partials of other
        windows stay unfolded); None when no partial is in such a window (the state alone
        holds them: fire it)."""
        if not self._unfolded:
            return None
        lazies = [part.lazy() for part in self._unfolded]
        split = pl.collect_all([*(part.filter(done) for part in lazies),
                                *(part.filter(~done) for part in lazies)])
        closing, kept = split[:len(lazies)], split[len(lazies):]
        if not any(part.height for part in closing):
            return None
        state = self._state
        assert state is not None  # partials wait only beside a state (_process)
        self._unfolded = [part for part in kept if part.height]
        self._unfolded_rows = sum(part.height for part in self._unfolded)
        lazy = state.lazy()
        partials = [part.lazy() for part in closing if part.height]
        # only the state's closing windows that partials fall in are regrouped: the others
        # are whole already. While an input's producers are apart in event time, most
        # windows that close are the ones the producer ahead filled and the watermark held
        # (W2 from Arrow read as two partitions 32 MB apart: the windows' work 6.9 s ->
        # 6.35 s with this; read as one, 4.9 s)
        windows = pl.concat([part.select(WINDOW_START) for part in partials]).unique()
        closing_state = lazy.filter(done)
        merged = pl.concat([closing_state.join(windows, on=WINDOW_START, how="semi"),
                            *partials], how="vertical_relaxed") \
            .group_by(self._group_columns).agg(self._aggregation.combine)
        whole = closing_state.join(windows, on=WINDOW_START, how="anti")
        ready, self._state = pl.collect_all([
            pl.concat([whole, merged], how="vertical_relaxed"), lazy.filter(~done)])
        return ready

    def _merge(self, partial: pl.DataFrame) -> list[pl.DataFrame]:
        """Fold a batch's partial aggregates into the state (EMIT CHANGES: return the
        updated rows of the groups it touched)."""
        self._fold()
        if self._state is None or self._state.height == 0:
            self._state = partial
        else:
            self._state = (pl.concat([self._state, partial], how="vertical")
                           .group_by(self._group_columns).agg(self._aggregation.combine))
        if not self._aggregation.emit_changes:
            return []
        touched = self._aggregation.changed(self._state, partial, self._group_columns)
        return [self._aggregation.rows(touched)]

    def _assign_windows(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """Add WINDOW_START: one row per (event, window it belongs to)."""
        if self._window_start is None:  # built once: polars expressions cost to build
            self._window_start = self._window_start_expression()
        windowed = frame.with_columns(self._window_start)
        hopping = self.size_ms is not None and self.slide_ms != self.size_ms
        return windowed.explode(WINDOW_START) if hopping else windowed

    def _window_start_expression(self) -> pl.Expr:
        size, slide = self.size_ms, self.slide_ms
        t = pl.col(EVENT_TIME)
        if size is None or slide is None:  # running aggregate: one group per key, forever
            return pl.lit(0, dtype=pl.Int64).alias(WINDOW_START)
        if slide == size:
            return ((t // size) * size).alias(WINDOW_START)
        last = (t // slide) * slide  # the youngest window holding t
        first = ((t - size) // slide) * slide + slide  # the oldest: start > t - size
        # a list of every window start; _assign_windows explodes it into rows
        return pl.int_ranges(first, last + slide, slide, dtype=pl.Int64).alias(WINDOW_START)

    def _advance(self, watermark: int) -> list[pl.DataFrame]:
        """Move event time to `watermark`; fire and forget every window that ends by then
        (under EMIT CHANGES its last change was its final row: it is only forgotten)."""
        if not self._progress.moves_to(watermark):
            return []
        held = [part for part in (self._state, *self._unfolded)
                if part is not None and part.height]
        if self._closing is None or not held:
            return []
        if self._done_expression is None:  # built once: polars expressions cost to build
            self._done_expression = pl.col(WINDOW_START) + self._closing
        # skip the filters when not even the first window held is done
        oldest = min(int(part[WINDOW_START].min()) for part in held)  # type: ignore[arg-type]
        if oldest + self._closing > watermark:
            return self._early_rows(watermark)
        done = self._done_expression <= watermark
        closing = self._take_closing(done)
        if closing is not None:  # fired as they are: not put back into the state first
            emitted = self._aggregation.fire_all(closing)
        else:
            assert self._state is not None  # held a done window, and not in a partial
            emitted, self._state = self._aggregation.fire(self._state, done)
        return emitted + self._early_rows(watermark)

    def _early_rows(self, watermark: int) -> list[pl.DataFrame]:
        if self._progress.emit_every_ms is not None:
            self._fold()  # every open window's rows
        return self._progress.early_rows(watermark, self._state, self._aggregation.rows)

    def _tables(self) -> dict[str, pl.DataFrame | None]:
        self._fold()
        return {"state": self._state}

    def _take(self, state: OperatorState) -> None:
        self._unfolded, self._unfolded_rows = [], 0
        super()._take(state)

    def open_windows(self) -> int:
        """Open (key, window) pairs held in state."""
        self._fold()
        return 0 if self._state is None else self._state.height
