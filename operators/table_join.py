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

Columnar: nothing is done per row in Python, and the cost of a batch follows the batch, not
the table. The table's rows are kept in layers (TableRows): a `base` sorted by key, looked up
with a binary search per stream row (polars' search_sorted), and the `recent` changes since
the base was last rebuilt (one row per key, tombstones included), hash-joined; the base is
rebuilt (a merge) once the recent changes reach a quarter of it, so each change is merged
O(1) times on average. Versioned, the versions after the watermark (`pending`, few: those the
watermark delay spans) are matched by `join_asof`, and settle into the layers as the
watermark passes them. (Before: every batch concatenated, deduplicated and sorted the whole
table: W7's versioned join cost grew with the table, not the batch.)
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from frys.dsl import ast
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
from frys.operators.stateless import compile_projection

KEY = "__key"  # the join key: the stream's key expression / the table's primary key
TIME = "__time"  # a held stream row's event time, epoch milliseconds (versioned)
SEQ = "__seq"  # a held stream row's arrival number, to release ties in arrival order
VERSION = "__version"  # a table version's event time, epoch milliseconds (versioned)
DELETED = "__deleted"  # the version is a tombstone (versioned)
ORIGIN = "__origin"  # a row's position in its batch, to hand out late rows as they came
ARRIVAL = "__arrival_watermark"  # the watermark a row arrived under
LATE = "__late"  # the row is behind the watermark it arrived under
FOUND = "__found"  # a looked-up key has a row


class TableRows:
    """One row per live key, in two layers (the module docstring): `base`, sorted by KEY,
    and `recent`, the latest change per key since the base was built (DELETED: a
    tombstone, which hides the base's row). `lookup` finds the rows of a batch's keys in
    O(batch x log table); `apply` takes changes in O(changes) (amortized)."""

    # the base is rebuilt when the recent changes pass max(FOLD_AT, base / 4) rows; a batch
    # of at least base / HASH_RATIO keys is looked up by one hash join, a smaller one by
    # searches (tests set both to force each path)
    FOLD_AT = 1024
    HASH_RATIO = 4

    def __init__(self, empty: pl.DataFrame) -> None:
        # `empty`: the schema of a row, KEY and the kept columns (and VERSION), no DELETED
        self.base = empty
        self.recent = empty.with_columns(pl.lit(False).alias(DELETED))

    def apply(self, changes: pl.DataFrame) -> None:
        """Changes in order (with DELETED), the last of a key winning."""
        if changes.height == 0:
            return
        self.recent = pl.concat([self.recent, changes.select(self.recent.columns)],
                                how="vertical_relaxed").unique(
            KEY, keep="last", maintain_order=True)
        if self.recent.height > max(self.FOLD_AT, self.base.height // 4):
            self.base = self.merged()
            self.recent = self.recent.clear()

    def merged(self) -> pl.DataFrame:
        """The live rows as one frame sorted by KEY (the base rebuilt with the changes)."""
        if self.recent.height == 0:
            return self.base
        kept = self.base.join(self.recent.select(KEY), on=KEY, how="anti")
        return pl.concat([kept, self.recent.filter(~pl.col(DELETED)).drop(DELETED)],
                         how="vertical_relaxed").sort(KEY)

    def lookup(self, keys: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
        """For each key (in order): the row it has (all NULL without one) and whether it
        has one. A NULL key has none."""
        wanted = pl.DataFrame({KEY: keys})
        if len(keys) * self.HASH_RATIO >= self.base.height:
            # a batch near the table's size (or an empty table): one hash join costs less
            # than a search per row
            rows = wanted.join(self.base.with_columns(pl.lit(True).alias(FOUND)), on=KEY,
                               how="left", maintain_order="left")
            found = rows[FOUND].fill_null(False)
            rows = rows.drop(FOUND)
        else:
            at = self.base[KEY].search_sorted(keys, side="left").clip(
                upper_bound=self.base.height - 1)
            rows = self.base.select(pl.all().gather(at))
            found = (rows[KEY] == keys).fill_null(False)
            rows = rows.select(pl.when(pl.lit(found)).then(pl.col(c)).alias(c)
                               for c in rows.columns)
        if self.recent.height:  # a recent change overrides the base's row
            recent = wanted.join(self.recent, on=KEY, how="left", maintain_order="left")
            changed = recent[DELETED].is_not_null()
            rows = rows.select(pl.when(pl.lit(changed)).then(recent[c]).otherwise(pl.col(c))
                               .alias(c) for c in rows.columns)
            found = pl.select(pl.when(pl.lit(changed)).then(~recent[DELETED])
                              .otherwise(pl.lit(found))).to_series()
            # a tombstone's row has its key column set: no row, all NULL
            rows = rows.select(pl.when(pl.lit(found)).then(pl.col(c)).alias(c)
                               for c in rows.columns)
        return rows.with_columns(keys.alias(KEY)), found

    def set(self, rows: pl.DataFrame) -> None:
        self.base = rows.sort(KEY)
        self.recent = self.recent.clear()

    def load(self, base: pl.DataFrame, recent: pl.DataFrame) -> None:
        """Take over both layers as a snapshot kept them (base sorted by KEY)."""
        self.base = base
        self.recent = recent


class TableJoin(SideOutputs):
    """The table's state (`_rows`: one row per live key, current or, versioned, the latest
    version at or before the watermark; versioned, `_pending`: the versions after it) and,
    when versioned, the stream rows held for the watermark (`_held`); see the module
    docstring."""

    STATE_KIND = "table_join"
    # 2: the layers apart (base, recent, pending), so an unchanged base is the same frame
    # at each snapshot and the checkpoint store links its file; 1: one merged `table`
    # (still restored)
    STATE_VERSION = 2

    def __init__(self, spec: TableJoinSpec, settings: OperatorSettings) -> None:
        self.spec = spec
        self.pending = Emitted()
        self._versioned = spec.versioned
        table = spec.table
        self._key_dtype = table.columns[table.primary_key].polars_dtype
        self._key = self._compile(spec.key).cast(self._key_dtype).alias(KEY)
        self._where = None if spec.where is None else self._compile(spec.where).fill_null(False)
        self._outputs = compile_projection(spec.outputs, spec.output_types, self._compile)
        empty = self._empty_table()
        self._rows = TableRows(empty.drop(DELETED, strict=False))
        self._pending = empty  # versioned: versions after the watermark, as they came
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

    def _table(self) -> pl.DataFrame:
        """The table's state as one frame: the live rows (sorted by key) and, versioned,
        the versions after the watermark (each version's time and whether it is a
        tombstone); the layout of the snapshots."""
        rows = self._rows.merged()
        if not self._versioned:
            return rows
        return pl.concat([rows.with_columns(pl.lit(False).alias(DELETED)), self._pending],
                         how="vertical_relaxed")

    def snapshot(self) -> OperatorState:
        """Tables (qualified kept columns and the key; versioned, each version's time):
        `base`, the table's rows as of the last rebuild, sorted by key; `recent`, the
        latest change per key since, with whether it is a tombstone; versioned,
        `pending`, the versions after the watermark as they came, with whether each is a
        tombstone (base and recent hold, per key, the latest version at or before the
        watermark); `held` (versioned: stream rows waiting for the watermark, with key,
        time and arrival number). Scalars: the watermark, the late events counted, the
        next arrival number. Each table is the operator's own frame, not a copy: one
        that has not changed since the last snapshot (the base between two rebuilds, so a
        large table's bulk) is the same object, which the checkpoint store does not
        write again."""
        tables = {"base": self._rows.base, "recent": self._rows.recent}
        if self._versioned:
            tables["pending"] = self._pending
        tables["held"] = self._held
        return OperatorState(self.STATE_KIND, self.STATE_VERSION, tables,
                             {"watermark": self._watermark, "late_events": self._late_events,
                              "next_seq": self._next_seq})

    def restore(self, state: OperatorState) -> None:
        if (state.kind, state.version) == (self.STATE_KIND, 1):
            self._restore_merged(state)
            return
        state.check(self.STATE_KIND, self.STATE_VERSION)
        self._rows.load(state.tables["base"], state.tables["recent"])
        if self._versioned:
            self._pending = state.tables["pending"]
        self._held = state.tables["held"]
        self._watermark = state.scalars["watermark"]
        self._late_events = state.scalars["late_events"] or 0
        self._next_seq = state.scalars["next_seq"] or 0

    def _restore_merged(self, state: OperatorState) -> None:
        """Layout version 1: tables `table` (the live rows, sorted by key; versioned, with
        each version's time and whether it is a tombstone: the latest at or before the
        watermark per key, then the versions after it) and `held`; the same scalars."""
        table = state.tables["table"]
        self._held = state.tables["held"]
        self._watermark = state.scalars["watermark"]
        self._late_events = state.scalars["late_events"] or 0
        self._next_seq = state.scalars["next_seq"] or 0
        if not self._versioned:
            self._rows.set(table)
            return
        settled = (pl.col(VERSION) <= self._watermark) if self._watermark is not None \
            else pl.lit(False)
        # what the watermark has passed settles as _prune settles it: per key the latest
        # (a version that arrived at the watermark itself, still pending when the snapshot
        # was taken, included: a tombstone among them deletes its key's row)
        self._rows.set(table.filter(settled).sort(VERSION, maintain_order=True)
                       .unique(KEY, keep="last", maintain_order=True)
                       .filter(~pl.col(DELETED)).drop(DELETED))
        self._pending = table.filter(~settled)

    def state_size(self) -> int:
        return sum(_column_bytes(column)
                   for frame in (self._table(), self._held) for column in frame.get_columns())

    def table_rows(self) -> int:
        """Rows of table state held now (current rows, or versions)."""
        return self._table().height

    # ------------------------------------------------------------------ the table

    def _upsert(self, batch: pl.DataFrame, arrivals: pl.Series | None) -> None:
        """Apply a batch of the changelog: per key its last row wins; tombstones delete."""
        if not self._versioned:
            self._rows.apply(changelog_rows(batch, self.spec.table).collect())
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
        # not late: at or after the watermark, so after every settled version (or at the
        # watermark itself, and then the later arrival wins, as it does here)
        self._pending = pl.concat([self._pending, frame], how="vertical_relaxed").unique(
            [KEY, VERSION], keep="last", maintain_order=True)
        if self._watermark is not None:  # a version at the watermark itself settles now:
            self._prune(self._watermark)  # pending holds only versions after it

    def _late(self, time: pl.Expr, arrivals: pl.Expr | None) -> pl.Expr:
        """Whether each row is behind the watermark it arrived under (a NULL time cannot be
        placed in event time: as late as can be)."""
        if arrivals is not None:
            return (time < arrivals).fill_null(True)
        if self._watermark is not None:
            return (time < self._watermark).fill_null(True)
        return time.is_null()

    def _prune(self, watermark: int) -> None:
        """Settle the versions the watermark has passed: per key the latest of them
        replaces the key's row (a tombstone removes it); the rest stay pending."""
        if watermark == END_OF_TIME:
            self._rows.set(self._rows.base.clear())
            self._pending = self._pending.clear()
            return
        settled = pl.col(VERSION) <= watermark
        passed = self._pending.filter(settled)
        if passed.height == 0:
            return
        self._pending = self._pending.filter(~settled)
        self._rows.apply(passed.sort(VERSION, maintain_order=True)
                         .unique(KEY, keep="last", maintain_order=True))

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
        # (a NULL key has no row: SQL's NULL = NULL is not TRUE)
        table, found = self._rows.lookup(rows[KEY])
        joined = rows.hstack(table.drop(KEY).get_columns())
        return joined if self.spec.kind == "LEFT" else joined.filter(found)

    def _join_versions(self, released: pl.DataFrame) -> pl.DataFrame:
        """Each released row with the latest version of its key at or before its time: a
        pending one (after the watermark the rows were held for) if there is one, else the
        key's settled row (every settled version is at or before a held row's time)."""
        pending = self._pending.sort(VERSION, maintain_order=True)
        joined = released.join_asof(pending, left_on=TIME, right_on=VERSION, by=KEY,
                                    strategy="backward", check_sortedness=False)
        in_pending = joined[VERSION].is_not_null()
        settled, in_settled = self._rows.lookup(released[KEY])
        found = (in_pending & ~joined[DELETED].fill_null(True)) | (~in_pending & in_settled)
        columns = [self._table_column(c) for c in self.spec.table.columns]
        joined = joined.with_columns(
            pl.when(pl.lit(in_pending)).then(pl.col(c)).otherwise(pl.lit(settled[c]))
            .alias(c) for c in columns)
        if self.spec.kind == "LEFT":
            return joined.with_columns(
                pl.when(pl.lit(found)).then(pl.col(c)).alias(c) for c in columns)
        return joined.filter(found)

    def _project(self, joined: pl.DataFrame) -> list[pl.DataFrame]:
        """Joined rows -> WHERE, then the SELECT list."""
        lazy = joined.lazy()
        if self._where is not None:
            lazy = lazy.filter(self._where)
        rows = lazy.select(self._outputs).collect()
        return [rows] if rows.height else []


def _column_bytes(column: pl.Series) -> int:
    """A column's bytes as its values decide them, not how it was built: polars' estimate,
    column by column (a frame's counts a buffer two columns share once), in one chunk (each
    chunk rounds its bitmaps), without a validity bitmap that marks no NULL (a filter keeps
    its input's, an operation on non-NULL values makes none)."""
    column = column.rechunk()
    size = int(column.estimated_size())
    if column.null_count() == 0 and column.to_arrow().buffers()[0] is not None:
        size -= (len(column) + 7) // 8
    return size


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
        self._outputs = compile_projection(spec.outputs, spec.output_types,
                                           lambda e: to_polars(e, column))
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
