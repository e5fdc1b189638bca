"""The stream-table join (enrichment): `stream s [LEFT] JOIN table t ON <expr over s> =
t.<primary key>` (engine/graph.py TableJoinSpec).

The table's input is a changelog: each row upserts its key (the last row of a key wins,
within a batch too); a row whose value columns (every declared column but the key and the
event time) are all NULL deletes its key — a tombstone, as a Kafka/ksqlDB changelog spells
it, which needs no extra column in the table's schema and reads from every source as it is
(`{"id": "u1"}` is a delete of u1). A row with a NULL key names no row and is ignored.

Semantics, deterministic for a given order of arrival:

* current rows (a table without event time): a stream row joins the row its key has when
  the stream row is processed (processing time); a `file:` table is read to its end before
  any stream starts (engine/runtime.py), so against it every stream row sees the whole
  table. State: one row per live key.
* versioned (a table with `event_time`): a stream row joins the version of its key valid at
  the row's event time — the latest version at or before it (Flink's FOR SYSTEM_TIME AS OF);
  a tombstone valid then means no row. Stream rows are held until the watermark (the
  smaller of the stream's and the table's) passes them, so every version that can still
  apply has arrived: a replay gives the same answer whatever the batch cuts and whatever
  the arrival order within the watermark. Held rows come out in event-time order (ties in
  arrival order). State: per key, the versions after the watermark and the latest one at
  or before it (tombstones dropped once they are that one), plus the held stream rows.
* late rows (versioned only: behind the watermark they arrived under, per row): a late
  stream row joins nothing and is counted and routed to its `late` stream; a late table
  version (it could change answers already given) is counted and dropped.
* INNER drops a stream row without a row for its key (a NULL key has none); LEFT emits it
  once, with NULLs for the table's columns. WHERE applies to the joined row.

Columnar: one polars hash join (current rows) or `join_asof` by key (versioned) per batch or
watermark advance; nothing is done per row in Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from frys.dsl import ast
from frys.dsl.types import FrysType
from frys.engine.graph import TableJoinSpec, TableScanSpec, TableSide
from frys.engine.operator import (
    BatchSource,
    Emitted,
    OperatorCounters,
    OperatorSettings,
    OperatorState,
    SideOutputs,
)
from frys.engine.time import END_OF_TIME
from frys.operators.expressions import to_polars

KEY = "__key"  # the join key: the stream's key expression / the table's primary key
TIME = "__time"  # a held stream row's event time, epoch milliseconds (versioned)
SEQ = "__seq"  # a held stream row's arrival number, to release ties in arrival order
VERSION = "__version"  # a table version's event time, epoch milliseconds (versioned)
DELETED = "__deleted"  # the version is a tombstone (versioned)
ORIGIN = "__origin"  # a row's position in its batch, to hand out late rows as they came
ARRIVAL = "__arrival_watermark"  # the watermark a row arrived under
LATE = "__late"  # the row is behind the watermark it arrived under


class TableJoin(SideOutputs):
    """The table's state (`_table`: one row per key, or the versions) and, when versioned,
    the stream rows held for the watermark (`_held`); see the module docstring."""

    STATE_KIND = "table_join"
    STATE_VERSION = 1

    def __init__(self, spec: TableJoinSpec, settings: OperatorSettings) -> None:
        self.spec = spec
        self.pending = Emitted()
        self._versioned = spec.versioned
        table = spec.table
        self._key_dtype = table.columns[table.primary_key].polars_dtype
        self._key = self._compile(spec.key).cast(self._key_dtype).alias(KEY)
        self._where = None if spec.where is None else self._compile(spec.where).fill_null(False)
        self._outputs: list[pl.Expr] = []
        for name, expr in spec.outputs:
            column = self._compile(expr)
            if spec.output_types[name] != FrysType.NULL:
                column = column.cast(spec.output_types[name].polars_dtype)
            self._outputs.append(column.alias(name))
        self._table = self._empty_table()
        self._held = self._empty_held()
        self._watermark: int | None = None
        self._late_events = 0
        self._next_seq = 0

    # ------------------------------------------------------------------ compiling

    def _stream_column(self, name: str) -> str:
        return f"{self.spec.stream_qualifier}.{name}"

    def _table_column(self, name: str) -> str:
        return f"{self.spec.table.qualifier}.{name}"

    def _column(self, ref: ast.ColumnRef) -> str:
        """The column a reference reads: by its qualifier, else the one side that has it
        (the analyzer refused ambiguous references)."""
        spec = self.spec
        if ref.qualifier == spec.stream_qualifier or (
                ref.qualifier is None and ref.name in spec.stream_columns):
            return self._stream_column(ref.name)
        return self._table_column(ref.name)

    def _compile(self, expr: ast.Expr) -> pl.Expr:
        return to_polars(expr, lambda e: pl.col(self._column(e))
                         if isinstance(e, ast.ColumnRef) else None)

    def _empty_table(self) -> pl.DataFrame:
        schema: dict[str, pl.DataType] = {
            self._table_column(c): t.polars_dtype for c, t in self.spec.table.columns.items()}
        schema[KEY] = self._key_dtype
        if self._versioned:
            schema[VERSION] = pl.Int64()
            schema[DELETED] = pl.Boolean()
        return pl.DataFrame(schema=schema)

    def _empty_held(self) -> pl.DataFrame:
        schema: dict[str, pl.DataType] = {
            self._stream_column(c): t.polars_dtype for c, t in self.spec.stream_columns.items()}
        schema[KEY] = self._key_dtype
        schema[TIME] = pl.Int64()
        schema[SEQ] = pl.Int64()
        return pl.DataFrame(schema=schema)

    # ------------------------------------------------------------------ the contract

    def wants_arrivals(self, rows: int) -> bool:
        return False  # rows are judged one by one; nothing moves inside a batch

    def process(self, batch: pl.DataFrame, source: BatchSource) -> Emitted:
        if source.stream == self.spec.table.table:
            self._upsert(batch, source.arrivals)
            return self.emit([])
        rows = batch.lazy().select(
            pl.col(c).alias(self._stream_column(c)) for c in self.spec.stream_columns
        ).with_columns(self._key).collect()
        if not self._versioned:
            return self.emit(self._project(self._join_current(rows)))
        self._hold(batch, rows, source.arrivals)
        return self.emit([])

    def advance(self, watermark: int) -> Emitted:
        """Versioned: release the held stream rows the watermark has passed, joined with
        the versions valid at their times, then prune the versions no row can need."""
        if not self._versioned or (self._watermark is not None
                                   and watermark <= self._watermark):
            return self.emit([])
        self._watermark = watermark
        out: list[pl.DataFrame] = []
        if self._held.height:
            ready = (pl.col(TIME) < watermark) if watermark != END_OF_TIME else pl.lit(True)
            released = self._held.filter(ready)
            if released.height:
                self._held = self._held.filter(~ready)
                out = self._project(self._join_versions(released.sort(TIME, SEQ)))
        self._prune(watermark)
        return self.emit(out)

    def counters(self) -> OperatorCounters:
        return OperatorCounters(late_events=self._late_events)

    def snapshot(self) -> OperatorState:
        """Tables `table` (the table's rows: qualified kept columns and the key; versioned,
        each version's time and whether it is a tombstone) and `held` (versioned: stream
        rows waiting for the watermark, with key, time and arrival number); scalars: the
        watermark, the late events counted, the next arrival number."""
        return OperatorState(self.STATE_KIND, self.STATE_VERSION,
                             {"table": self._table, "held": self._held},
                             {"watermark": self._watermark, "late_events": self._late_events,
                              "next_seq": self._next_seq})

    def restore(self, state: OperatorState) -> None:
        state.check(self.STATE_KIND, self.STATE_VERSION)
        self._table = state.tables["table"]
        self._held = state.tables["held"]
        self._watermark = state.scalars["watermark"]
        self._late_events = state.scalars["late_events"] or 0
        self._next_seq = state.scalars["next_seq"] or 0

    def state_size(self) -> int:
        return int(self._table.estimated_size()) + int(self._held.estimated_size())

    def table_rows(self) -> int:
        """Rows of table state held now (current rows, or versions)."""
        return self._table.height

    # ------------------------------------------------------------------ the table

    def _upsert(self, batch: pl.DataFrame, arrivals: pl.Series | None) -> None:
        """Apply a batch of the changelog: per key its last row wins; tombstones delete."""
        if not self._versioned:
            self._table = upsert_current(self._table,
                                         changelog_rows(batch, self.spec.table).collect())
            return
        if arrivals is not None:  # per batch row: placed before the NULL keys are dropped
            batch = batch.with_columns(arrivals.alias(ARRIVAL))
        rows = changelog_rows(batch, self.spec.table,
                              extra=[ARRIVAL] if arrivals is not None else [])
        late = self._late(pl.col(VERSION), pl.col(ARRIVAL) if arrivals is not None else None)
        frame = rows.with_columns(late.alias(LATE)).collect()
        count = frame[LATE].sum()
        if count:
            self._late_events += int(count)
            frame = frame.filter(~pl.col(LATE))
        frame = frame.drop(LATE, ARRIVAL, strict=False)
        merged = pl.concat([self._table, frame], how="vertical_relaxed")
        self._table = merged.unique([KEY, VERSION], keep="last", maintain_order=True)

    def _late(self, time: pl.Expr, arrivals: pl.Expr | None) -> pl.Expr:
        """Whether each row is behind the watermark it arrived under (a NULL time cannot be
        placed in event time: as late as can be)."""
        if arrivals is not None:
            return (time < arrivals).fill_null(True)
        if self._watermark is not None:
            return (time < self._watermark).fill_null(True)
        return time.is_null()

    def _prune(self, watermark: int) -> None:
        """Keep per key the versions after the watermark and the latest at or before it,
        unless that one is a tombstone (no version then: the key has no row)."""
        if watermark == END_OF_TIME:
            self._table = self._table.clear()
            return
        settled = pl.col(VERSION) <= watermark
        old = self._table.filter(settled)
        if old.height == 0:
            return
        latest = (old.sort(VERSION, maintain_order=True)
                  .unique(KEY, keep="last", maintain_order=True)
                  .filter(~pl.col(DELETED)))
        if latest.height == old.height:
            return
        self._table = pl.concat([latest, self._table.filter(~settled)])

    # ------------------------------------------------------------------ the stream

    def _hold(self, batch: pl.DataFrame, rows: pl.DataFrame,
              arrivals: pl.Series | None) -> None:
        """Versioned: keep a batch's stream rows until the watermark passes them, without
        its late rows (counted, and routed when the stream has a late stream)."""
        assert self.spec.stream_time is not None
        time = batch[self.spec.stream_time].dt.epoch("ms").cast(pl.Int64)
        rows = rows.with_columns(
            time.alias(TIME),
            pl.int_range(self._next_seq, self._next_seq + rows.height,
                         dtype=pl.Int64).alias(SEQ))
        self._next_seq += rows.height
        late = rows.select(self._late(pl.col(TIME), None if arrivals is None
                                      else pl.lit(arrivals))).to_series()
        if late.any():
            self._late_events += int(late.sum())
            if self.spec.stream in self.spec.late_streams:
                self.pending.late.append(batch.filter(late))
            rows = rows.filter(~late)
        self._held = pl.concat([self._held, rows], how="vertical_relaxed")

    def _join_current(self, rows: pl.DataFrame) -> pl.DataFrame:
        # (polars never matches NULL keys by default: SQL's NULL = NULL is not TRUE)
        return rows.join(self._table, on=KEY, how="left" if self.spec.kind == "LEFT"
                         else "inner", maintain_order="left")

    def _join_versions(self, released: pl.DataFrame) -> pl.DataFrame:
        """Each released row with the latest version of its key at or before its time."""
        versions = self._table.sort(VERSION, maintain_order=True)
        joined = released.join_asof(versions, left_on=TIME, right_on=VERSION, by=KEY,
                                    strategy="backward", check_sortedness=False)
        found = pl.col(VERSION).is_not_null() & ~pl.col(DELETED).fill_null(True)
        if self.spec.kind == "LEFT":
            return joined.with_columns(
                pl.when(found).then(pl.col(self._table_column(c))).alias(
                    self._table_column(c)) for c in self.spec.table.columns)
        return joined.filter(found)

    def _project(self, joined: pl.DataFrame) -> list[pl.DataFrame]:
        """Joined rows -> WHERE, then the SELECT list."""
        lazy = joined.lazy()
        if self._where is not None:
            lazy = lazy.filter(self._where)
        rows = lazy.select(self._outputs).collect()
        return [rows] if rows.height else []


def changelog_rows(batch: pl.DataFrame, table: TableSide,
                   extra: Sequence[str] = ()) -> pl.LazyFrame:
    """A changelog batch as table rows: the kept columns qualified (`<qualifier>.<name>`),
    the key (KEY), whether the row is a tombstone (DELETED: every value column NULL) and,
    versioned, its time (VERSION); rows with a NULL key dropped."""
    values = [pl.col(c).is_null() for c in table.value_columns]
    tombstone = pl.all_horizontal(values) if values else pl.lit(False)
    key_dtype = table.columns[table.primary_key].polars_dtype
    columns = [pl.col(c).alias(f"{table.qualifier}.{c}") for c in table.columns]
    columns.append(pl.col(table.primary_key).cast(key_dtype).alias(KEY))
    if table.event_time is not None:
        columns.append(pl.col(table.event_time).dt.epoch("ms").cast(pl.Int64).alias(VERSION))
    columns.append(tombstone.alias(DELETED))
    columns.extend(pl.col(c) for c in extra)
    return batch.lazy().filter(pl.col(table.primary_key).is_not_null()).select(columns)


def upsert_current(state: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """One row per live key: `state` (no tombstones, no DELETED column) updated by the
    changelog `rows` in order, the last row of a key winning, tombstones removing it."""
    merged = pl.concat([state.with_columns(pl.lit(False).alias(DELETED)), rows],
                       how="vertical_relaxed")
    return (merged.unique(KEY, keep="last", maintain_order=True)
            .filter(~pl.col(DELETED)).drop(DELETED))


class TableScan(SideOutputs):
    """`SELECT ... FROM t [WHERE ...]` over a table (engine/graph.py TableScanSpec): the
    table's rows when its input ends — one per live key, the last to arrive (versioned:
    the latest in event time, of equal times the last to arrive) — through WHERE and the
    SELECT list, in key order. Nothing comes out before the end: a running job's scan
    answers when its table's input ends."""

    STATE_KIND = "table_scan"
    STATE_VERSION = 1

    def __init__(self, spec: TableScanSpec, settings: OperatorSettings) -> None:
        self.spec = spec
        self.pending = Emitted()
        table = spec.table
        self._versioned = table.event_time is not None

        def column(e: ast.Expr) -> pl.Expr | None:
            return pl.col(f"{table.qualifier}.{e.name}") if isinstance(e, ast.ColumnRef) \
                else None

        self._where = None if spec.where is None else \
            to_polars(spec.where, column).fill_null(False)
        self._outputs: list[pl.Expr] = []
        for name, expr in spec.outputs:
            compiled = to_polars(expr, column)
            if spec.output_types[name] != FrysType.NULL:
                compiled = compiled.cast(spec.output_types[name].polars_dtype)
            self._outputs.append(compiled.alias(name))
        schema: dict[str, pl.DataType] = {
            f"{table.qualifier}.{c}": t.polars_dtype for c, t in table.columns.items()}
        schema[KEY] = table.columns[table.primary_key].polars_dtype
        if self._versioned:
            schema[VERSION] = pl.Int64()
        self._table = pl.DataFrame(schema=schema)
        self._done = False

    def wants_arrivals(self, rows: int) -> bool:
        return False

    def process(self, batch: pl.DataFrame, source: BatchSource) -> Emitted:
        rows = changelog_rows(batch, self.spec.table).collect()
        if self._versioned:  # the latest in event time: a stable sort, then the last wins
            rows = pl.concat([self._table.with_columns(pl.lit(False).alias(DELETED)), rows],
                             how="vertical_relaxed").sort(VERSION, maintain_order=True)
            self._table = upsert_current(self._table.clear(), rows)
        else:
            self._table = upsert_current(self._table, rows)
        return self.emit([])

    def advance(self, watermark: int) -> Emitted:
        if watermark != END_OF_TIME or self._done:
            return self.emit([])
        self._done = True
        lazy = self._table.lazy().sort(KEY)
        if self._where is not None:
            lazy = lazy.filter(self._where)
        rows = lazy.select(self._outputs).collect()
        return self.emit([rows] if rows.height else [])

    def counters(self) -> OperatorCounters:
        return OperatorCounters()

    def snapshot(self) -> OperatorState:
        """Table `table` (one row per live key: the qualified columns, the key, versioned
        the time) and whether the rows have come out (`done`)."""
        return OperatorState(self.STATE_KIND, self.STATE_VERSION, {"table": self._table},
                             {"done": int(self._done)})

    def restore(self, state: OperatorState) -> None:
        state.check(self.STATE_KIND, self.STATE_VERSION)
        self._table = state.tables["table"]
        self._done = bool(state.scalars["done"])

    def state_size(self) -> int:
        return int(self._table.estimated_size())
