"""The sink of the `postgresql:` connector (connectors/postgresql.py: the URI, the source).

A stream's rows go into a table by COPY (CSV, built by polars, in native code), or with
``key=`` as upserts: COPY into a temporary staging table, then ``INSERT ... SELECT ... ON
CONFLICT (key) DO UPDATE``; a batch's rows are deduplicated by key first (the last row of a
key wins, as in a frys TABLE). For a TABLE stream with ``key=``, a tombstone row (every
column but the key and the event time NULL: a delete in frys) deletes its key's row.

Exactly once (PostgreSQL's max_prepared_transactions is 0 by default, so no PREPARE
TRANSACTION): every `batch_rows` rows are written in one transaction that also sets this
sink's row in the bookkeeping table ``frys_sink_offsets (job, stream, target, rows)`` to
the number of the stream's rows written so far. The table and the count cannot disagree:
either both commit or neither. A checkpoint records the sink's count (pre_commit); after a
crash, `recover` reads the committed count, and the resumed job's rows up to it (written
after the checkpoint, before the crash; a resumed frys job emits the same rows in the same
order) are skipped, not written again. So the table holds each row once. A connection lost
during a write is reopened (with backoff, up to connect_timeout) and the count tells
whether the lost transaction committed; if not it is written again.

Refused when the sink opens (ConnectorError naming the table): a table that does not exist
(unless ``create=true``: then it is created from the stream's schema, BIGINT, DOUBLE
PRECISION, BOOLEAN, TEXT, TIMESTAMPTZ, the key as its primary key), a stream column the
table lacks or whose type does not fit, a ``key=`` without a unique index on exactly those
columns. Refused when a row is written: a value PostgreSQL refuses (with its message: a
number too large for an INTEGER column, say) and a STRING holding the NUL character, which
PostgreSQL text cannot hold.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import polars as pl

from frys.connectors.postgresql import PostgresUri, connect, relation_sql
from frys.connectors.registry import ConnectorError, SinkContext
from frys.dsl.types import FrysType

OFFSETS_TABLE = "frys_sink_offsets"
_CREATE_OFFSETS = (f"CREATE TABLE IF NOT EXISTS {OFFSETS_TABLE} (job text NOT NULL, "
                   "stream text NOT NULL, target text NOT NULL, rows bigint NOT NULL, "
                   "updated timestamptz NOT NULL DEFAULT now(), "
                   "PRIMARY KEY (job, stream, target))")
# each frys type's PostgreSQL column (create=true) and the column types it may go into
_CREATED = {FrysType.INT: "bigint", FrysType.FLOAT: "double precision",
            FrysType.BOOL: "boolean", FrysType.STRING: "text",
            FrysType.TIMESTAMP: "timestamptz"}
_TAKEN_BY = {
    FrysType.INT: {"int8", "int4", "int2", "numeric", "float8", "float4"},
    FrysType.FLOAT: {"float8", "float4", "numeric"},
    FrysType.BOOL: {"bool"},
    FrysType.STRING: {"text", "varchar", "bpchar", "name", "json", "jsonb", "uuid"},
    FrysType.TIMESTAMP: {"timestamptz", "timestamp"},
}
_DELETE_FLAG = "frys_delete"
# a chunk whose connection is lost this many times in a row stops the sink
_WRITE_ATTEMPTS = 5


def _frys_type(dtype: pl.DataType) -> FrysType:
    for frys_type in FrysType:
        if frys_type.polars_dtype == dtype:
            return frys_type
    raise ConnectorError(f"a column of polars type {dtype} has no frys type")


class PostgresSink:
    """A job sink (registry.Sink) writing a stream's rows into a PostgreSQL table; see the
    module docstring for what is refused and the exactly-once guarantee.

    `write` commits as it goes (each `batch_rows` rows one transaction with the sink's
    count), so readers see rows before the checkpoint; `pre_commit` returns
    {"rows": n}, the count so far; `commit` has nothing left to do; `recover` skips the
    replayed rows the table already holds."""

    def __init__(self, uri: PostgresUri, context: SinkContext) -> None:
        import psycopg

        assert uri.table is not None
        self.uri = uri
        self.table = uri.table
        self.display = uri.display
        self.job = context.job_name
        self.stream = context.stream_name
        self.is_table = context.stream.is_table
        self.event_time = context.stream.event_time
        self.what = f"the sink of stream {self.stream}"
        self.connection = connect(uri, self.what)
        self.columns: dict[str, FrysType] | None = None
        self.rows = 0  # the stream's rows written so far (skipped ones included)
        self.committed = 0  # the count in frys_sink_offsets
        try:
            self._ensure_offsets_table()
            if context.stream.columns:
                self._prepare(dict(context.stream.columns))
            if not context.resume:  # a fresh run counts from 0
                self._set_count(0)
                self.connection.commit()
        except ConnectorError:
            self.connection.close()
            raise
        except psycopg.Error as error:  # no right to create a table, say
            self.connection.close()
            raise ConnectorError(f"{self.display} ({self.what}): PostgreSQL refuses to "
                                 f"prepare the sink: {' '.join(str(error).split())}") from None

    # -------------------------------------------------------------- opening

    def _ensure_offsets_table(self) -> None:
        import psycopg

        try:
            self.connection.execute(_CREATE_OFFSETS)
            self.connection.commit()
        except psycopg.errors.UniqueViolation:  # created at the same moment by another
            self.connection.rollback()

    def _prepare(self, columns: dict[str, FrysType]) -> None:
        """Find (or create) the table and check the stream's columns and key against it."""
        from psycopg import sql

        self.columns = columns
        relation = relation_sql(self.table)
        name = relation.as_string(self.connection)
        oid = self.connection.execute("SELECT to_regclass(%s)::oid", [name]).fetchone()
        if oid is None or oid[0] is None:
            if not self.uri.create:
                raise ConnectorError(f"{self.display} ({self.what}): table {self.table} does "
                                     f"not exist in database {self.uri.database}; create it, "
                                     "or add 'create=true' to create it from the stream's "
                                     "schema")
            definitions = [sql.SQL("{} {}").format(sql.Identifier(column),
                                                   sql.SQL(_CREATED[frys_type]))
                           for column, frys_type in columns.items()]
            if self.uri.key:
                definitions.append(sql.SQL("PRIMARY KEY ({})").format(
                    sql.SQL(", ").join(map(sql.Identifier, self.uri.key))))
            self._check_key_columns(columns)
            self.connection.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                relation, sql.SQL(", ").join(definitions)))
            self.connection.commit()
            oid = self.connection.execute("SELECT to_regclass(%s)::oid", [name]).fetchone()
        assert oid is not None
        table_oid = oid[0]
        found: dict[str, str] = dict(self.connection.execute(
            "SELECT a.attname::text, t.typname::text FROM pg_attribute a JOIN pg_type t ON "
            "t.oid = a.atttypid WHERE a.attrelid = %s AND a.attnum > 0 AND NOT "
            "a.attisdropped", [table_oid]).fetchall())
        problems = []
        for column, frys_type in columns.items():
            if column not in found:
                problems.append(f"it has no column {column!r}")
            elif found[column] not in _TAKEN_BY[frys_type]:
                problems.append(f"column {column} is {found[column]}, which cannot hold the "
                                f"stream's {frys_type.value} (it takes "
                                f"{', '.join(sorted(_TAKEN_BY[frys_type]))})")
        if problems:
            raise ConnectorError(f"{self.display} ({self.what}): table {self.table} does not "
                                 f"fit the stream: {'; '.join(problems)}")
        if self.uri.key:
            self._check_key_columns(columns)
            unique = self.connection.execute(
                "SELECT 1 FROM pg_index i WHERE i.indrelid = %s AND i.indisunique AND "
                "i.indpred IS NULL AND (SELECT array_agg(a.attname::text ORDER BY "
                "a.attname::text) FROM pg_attribute a WHERE a.attrelid = i.indrelid AND "
                "a.attnum = ANY(i.indkey)) = %s::text[]",
                [table_oid, sorted(self.uri.key)]).fetchone()
            if unique is None:
                raise ConnectorError(
                    f"{self.display} ({self.what}): key={','.join(self.uri.key)} needs a "
                    f"unique index or primary key on exactly ({', '.join(self.uri.key)}) in "
                    f"table {self.table} (ON CONFLICT needs one)")
        self.connection.commit()

    def _check_key_columns(self, columns: dict[str, FrysType]) -> None:
        missing = [column for column in self.uri.key if column not in columns]
        if missing:
            raise ConnectorError(f"{self.display} ({self.what}): key column "
                                 f"{', '.join(missing)} is not a column of stream "
                                 f"{self.stream} ({', '.join(columns)})")

    def _count_sql(self) -> tuple[str, list[object]]:
        return (f"INSERT INTO {OFFSETS_TABLE} (job, stream, target, rows) VALUES "
                "(%s, %s, %s, %s) ON CONFLICT (job, stream, target) DO UPDATE SET rows = "
                "EXCLUDED.rows, updated = now()", [self.job, self.stream, self.table])

    def _set_count(self, rows: int) -> None:
        statement, params = self._count_sql()
        self.connection.execute(statement, [*params, rows])  # type: ignore[arg-type]

    def _committed_count(self) -> int:
        found = self.connection.execute(
            f"SELECT rows FROM {OFFSETS_TABLE} WHERE job = %s AND stream = %s AND "
            "target = %s", [self.job, self.stream, self.table]).fetchone()
        self.connection.commit()
        return int(found[0]) if found is not None else 0

    # -------------------------------------------------------------- writing

    def write(self, batch: pl.DataFrame) -> None:
        if batch.height == 0:
            return
        if self.columns is None:
            self._prepare({name: _frys_type(dtype) for name, dtype in batch.schema.items()})
        first = self.rows
        skip = max(0, min(batch.height, self.committed - first))  # already in the table
        self._refuse_nul(batch, first)
        for start in range(skip, batch.height, self.uri.batch_rows):
            chunk = batch.slice(start, self.uri.batch_rows)
            self._write_chunk(chunk, first + start + chunk.height)
        self.rows = first + batch.height

    def _refuse_nul(self, batch: pl.DataFrame, first: int) -> None:
        for column, dtype in batch.schema.items():
            if dtype != pl.String:
                continue
            holding = batch[column].str.contains("\x00", literal=True).fill_null(False)
            if holding.any():
                row = first + int(holding.arg_true()[0]) + 1
                raise ConnectorError(f"{self.display} ({self.what}): the stream's row {row} "
                                     f"holds the NUL character in column {column}, which "
                                     "PostgreSQL text cannot hold")

    def _write_chunk(self, chunk: pl.DataFrame, rows_after: int) -> None:
        """One transaction: the rows and the count `rows_after`. A lost connection is
        reopened and the count read: the rows are written again only if it did not
        commit."""
        import psycopg

        for attempt in range(_WRITE_ATTEMPTS):
            try:
                self._copy(chunk)
                self._set_count(rows_after)
                self.connection.commit()
                self.committed = rows_after
                return
            except psycopg.OperationalError as error:
                reason = " ".join(str(error).split()) or type(error).__name__
                if attempt + 1 == _WRITE_ATTEMPTS:
                    raise ConnectorError(f"{self.display} ({self.what}): lost the connection "
                                         f"{_WRITE_ATTEMPTS} times writing the same rows: "
                                         f"{reason}") from None
                warnings.warn(f"{self.display} ({self.what}): lost the connection "
                              f"({reason}); reconnecting", RuntimeWarning, stacklevel=2)
                self._reconnect()
                if self._committed_count() >= rows_after:
                    self.committed = rows_after
                    return
            except psycopg.Error as error:
                self.connection.rollback()
                self._staged = False  # created in the transaction rolled back, if then
                message = " ".join(str(error).split())
                raise ConnectorError(f"{self.display} ({self.what}): PostgreSQL refuses the "
                                     f"rows: {message}") from None

    def _reconnect(self) -> None:
        import psycopg

        with contextlib.suppress(psycopg.Error):
            self.connection.close()
        self.connection = connect(self.uri, self.what)
        self._staged = False

    _staged = False  # the connection has its staging table (upserts)

    def _copy(self, chunk: pl.DataFrame) -> None:
        from psycopg import sql

        columns = list(chunk.columns)
        names = sql.SQL(", ").join(map(sql.Identifier, columns))
        if not self.uri.key:
            self._copy_into(relation_sql(self.table), names, chunk)
            return
        chunk = chunk.unique(subset=list(self.uri.key), keep="last", maintain_order=True)
        stage = sql.Identifier("frys_stage")
        if not self._staged:
            self.connection.execute(sql.SQL(
                "CREATE TEMPORARY TABLE IF NOT EXISTS {} AS SELECT {} FROM {} WITH NO DATA")
                .format(stage, names, relation_sql(self.table)))
            self.connection.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} boolean").format(
                stage, sql.Identifier(_DELETE_FLAG)))
            self._staged = True
        self.connection.execute(sql.SQL("TRUNCATE {}").format(stage))
        values = [c for c in columns if c not in self.uri.key and c != self.event_time]
        deleted = (pl.all_horizontal(pl.col(c).is_null() for c in values)
                   if self.is_table and values else pl.lit(False))
        staged = chunk.with_columns(deleted.alias(_DELETE_FLAG))
        self._copy_into(stage, sql.SQL(", ").join(
            map(sql.Identifier, [*columns, _DELETE_FLAG])), staged)
        keys = sql.SQL(", ").join(map(sql.Identifier, self.uri.key))
        updates = [c for c in columns if c not in self.uri.key]
        action = sql.SQL("DO UPDATE SET {}").format(sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in updates)) \
            if updates else sql.SQL("DO NOTHING")
        self.connection.execute(sql.SQL(
            "INSERT INTO {} ({}) SELECT {} FROM {} WHERE NOT {} ON CONFLICT ({}) {}").format(
            relation_sql(self.table), names, names, stage, sql.Identifier(_DELETE_FLAG), keys,
            action))
        if self.is_table:
            self.connection.execute(sql.SQL(
                "DELETE FROM {} AS t USING {} AS s WHERE s.{} AND {}").format(
                relation_sql(self.table), stage, sql.Identifier(_DELETE_FLAG),
                sql.SQL(" AND ").join(sql.SQL("t.{0} = s.{0}").format(sql.Identifier(k))
                                      for k in self.uri.key)))

    def _copy_into(self, target: Any, names: Any, frame: pl.DataFrame) -> None:
        from psycopg import sql

        text = frame.with_columns(
            pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%S%.3f+00:00")
            for c, dtype in frame.schema.items() if isinstance(dtype, pl.Datetime)
        ).write_csv(include_header=False)
        with self.connection.cursor() as cursor, cursor.copy(sql.SQL(
                "COPY {} ({}) FROM STDIN (FORMAT csv)").format(target, names)) as copy:
            copy.write(text.encode())

    # -------------------------------------------------------------- the checkpoint protocol

    def pre_commit(self, checkpoint_id: int) -> dict[str, int]:
        """Written and committed already, each chunk with the count: the count so far."""
        return {"rows": self.rows}

    def commit(self, checkpoint_id: int) -> None:
        """Committed at each write already."""

    def recover(self, state: object) -> None:
        """Continue from a checkpoint's count: the replayed rows up to the committed count
        are skipped. A count below the checkpoint's (the bookkeeping row deleted or reset
        since) is refused."""
        if state is None:
            self._set_count(0)
            self.connection.commit()
            return
        if not (isinstance(state, dict) and set(state) == {"rows"}
                and type(state["rows"]) is int and state["rows"] >= 0):
            raise ConnectorError(f"cannot recover the PostgreSQL sink {self.display}: "
                                 f"{state!r} is not the recovery state of a postgresql: sink")
        committed = self._committed_count()
        if committed < state["rows"]:
            raise ConnectorError(
                f"cannot recover the PostgreSQL sink {self.display} ({self.what}): "
                f"{OFFSETS_TABLE} counts {committed} rows written for job {self.job}, fewer "
                f"than the checkpoint's {state['rows']} (the row was deleted or reset since)")
        self.rows = state["rows"]
        self.committed = committed

    def abort(self) -> None:
        self.close()

    def close(self) -> None:
        if not self.connection.closed:
            self.connection.rollback()
            self.connection.close()
