"""The `postgresql:` connector: a PostgreSQL table or query as a job's source (above all the
rows of a TABLE that streams are enriched with, kept fresh) and a table as a sink (COPY, or
upserts on a key). connectors/postgresql_sink.py holds the sink.

URI: ``postgresql://[user[:password]@]host[:port]/<database>?<options>`` (``postgres://``
too, as libpq takes both; port 5432 by default; no user: libpq's default, the OS user).
Options:

* ``table=NAME`` (``schema.name`` for another schema; the name exactly as it is in the
  catalog, not folded to lower case) or, for a source, ``query=SELECT...`` (percent-encoded)
  instead: what is read; a sink needs ``table=``;
* a source's: ``refresh=SECONDS`` (read the rows again that often), ``notify=CHANNEL``
  (LISTEN on that channel: each notification makes the source read the rows again; its
  payload is not looked at), both for a TABLE only; ``batch_rows=N`` (rows per fetch of
  the server-side cursor and per batch, default 10000);
* a sink's: ``key=col1,col2`` (upsert on those columns: INSERT ... ON CONFLICT DO UPDATE;
  the table needs a unique index or primary key on exactly them), ``create=true`` (create
  the table from the stream's schema if it does not exist, with the key as its primary
  key), ``batch_rows=N`` (rows per transaction, default 50000);
* both: ``connect_timeout=S`` (how long opening keeps trying to reach the server, with
  backoff, before it gives up; default 10 seconds).

Types. The source reads each stream column from the column of the same name, converted in
the query where PostgreSQL does it safely: INT from smallint/integer/bigint/oid and numeric
(a value with a fraction or past 64 bits is a dead letter), FLOAT from real/double/the
integers and numeric (NaN and infinities are dead letters: FLOAT is finite, as in every
frys source), BOOL from boolean, STRING from any type (its text form: `::text`), TIMESTAMP
from timestamptz, timestamp (taken as UTC) and date (midnight UTC), from integers (epoch
time in the stream's time_unit) and from text (ISO-8601). A column of another type (text
for INT, say) is refused when the source opens, naming the column and both types, as is a
missing column or a query PostgreSQL refuses (with its message). A row that does not fit
(a value out of range, `infinity` as a time, no event time) is a dead letter positioned
``postgresql://host:port/db?table=t row <n>`` (n counts the rows of that read from 1) and
holding the row as JSON; a row still bad at the next read is not reported again.

Guarantees of the source (PostgresTableSource): a TABLE source reads every row (in one
REPEATABLE READ transaction, through a server-side cursor, `batch_rows` at a time) before
any stream is read (engine/runtime.py loads tables first). Without `refresh=` or `notify=`
that is all (its input ends, as a file table's does); with them it is growing and says IDLE
between reads, never blocking the job. Each later read (every `refresh` seconds, and at each
notification) emits only what changed since the last: new and changed rows (an upsert of
their key) and, for keys gone from the database, a tombstone (the key with every other
column NULL: what a frys table takes as a delete, operators/table_join.py). A connection
lost is retried with backoff (IDLE meanwhile); then the rows are read again whole and
compared with what the job was given, so nothing is lost (notifications sent while it was
down are covered by that read). The database is the truth, so a resumed job needs no replay
position: its first read gives every row again (upserts of what the checkpointed table
holds); keys deleted while the job was down are not known to a fresh source and are not
deleted from the resumed table (documented in docs/connectors.md). A STREAM source reads the
rows once and ends (bounded, like a file); resumed, it goes on after the rows its checkpoint
counted (exact when the query's order is stable: an ORDER BY makes it so); a connection lost
while it reads stops the job with an error naming the rows read (a resumed run goes on from
its checkpoint).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import polars as pl

from frys.connectors.decode import DeadLetter, StreamDecoder
from frys.connectors.payloads import (
    UriOptionError,
    UriOptions,
    connect_with_backoff,
    split_server_uri,
)
from frys.connectors.registry import (
    IDLE,
    Connector,
    ConnectorError,
    Role,
    SinkContext,
    SourceContext,
)
from frys.dsl.errors import UriProblem
from frys.dsl.types import TIMESTAMP_DTYPE, FrysType

if TYPE_CHECKING:
    import psycopg

    from frys.connectors.postgresql_sink import PostgresSink
    from frys.connectors.registry import Batch

DEFAULT_PORT = 5432
SCHEMES = ("postgresql", "postgres")
_SOURCE_OPTIONS = ("query", "refresh", "notify")
_SINK_OPTIONS = ("key", "create")
_COMMON_OPTIONS = ("table", "batch_rows", "connect_timeout")
# a lost connection is tried again after this long, doubling up to the cap
_RETRY_MIN_SECONDS, _RETRY_MAX_SECONDS = 0.05, 2.0
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# what an infinite PostgreSQL time reads as: out of TIMESTAMP's range, so a dead letter
_INFINITY_MS = 9_223_372_036_854_775_807
_INFINITE_TIME = (f"WHEN {{c}} > 'epoch' THEN {_INFINITY_MS} "
                  f"WHEN {{c}} < 'epoch' THEN -{_INFINITY_MS} END")


class PostgresUriError(ValueError):
    """A `postgresql:` URI that cannot be used, with what is wrong."""


@dataclass(frozen=True)
class PostgresUri:
    host: str
    port: int
    database: str
    user: str | None
    password: str | None
    table: str | None
    query: str | None
    refresh: float | None = None
    notify: str | None = None
    key: tuple[str, ...] = ()
    create: bool = False
    batch_rows: int = 10_000
    connect_timeout: float = 10.0

    @property
    def display(self) -> str:
        """Where the rows are, without the user and password (positions, messages)."""
        what = f"table={self.table}" if self.table is not None else \
            f"query={_abbreviated(self.query or '')}"
        return f"postgresql://{self.host}:{self.port}/{self.database}?{what}"

    @property
    def server(self) -> str:
        return f"PostgreSQL at {self.host}:{self.port}"

    def conninfo(self) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(host=self.host, port=self.port, dbname=self.database,
                             user=self.user, password=self.password,
                             connect_timeout=max(1, min(10, math.ceil(self.connect_timeout))),
                             application_name="frys")

    @staticmethod
    def parse(uri: str, role: Role) -> PostgresUri:
        """Raises PostgresUriError naming the problem (unknown options with a did-you-mean)."""
        scheme = uri.split(":", 1)[0]
        try:
            parts, host, port = split_server_uri(
                uri, scheme if scheme in SCHEMES else "postgresql",
                "'postgresql://user@localhost:5432/db?table=users'")
        except UriOptionError as error:
            raise PostgresUriError(str(error)) from None
        database = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
        if not database or "/" in database:
            raise PostgresUriError(f"{uri!r} names no database; the database is the path, "
                                   "e.g. 'postgresql://localhost:5432/db?table=users'")
        try:
            options = UriOptions(uri, parts.query, "postgresql", role, source=_SOURCE_OPTIONS,
                                 sink=_SINK_OPTIONS, common=_COMMON_OPTIONS)
            table, query = options.text("table"), options.text("query")
            if (table is None) == (query is None):
                need = ("'table=NAME' or 'query=SELECT...'" if role == "source"
                        else "'table=NAME'")
                raise PostgresUriError(f"a postgresql: {role} needs {need}"
                                       f"{' (not both)' if table and query else ''}: "
                                       f"{uri!r}")
            if table is not None and (not table.strip() or len(table.split(".")) > 2):
                raise PostgresUriError(f"table must be a name or schema.name in {uri!r}, not "
                                       f"{table!r}")
            key = tuple(part.strip() for part in (options.text("key") or "").split(",")
                        if part.strip())
            if "key" in options and not key:
                raise PostgresUriError(f"key names no column in {uri!r}")
            refresh = options.seconds("refresh", 0.0, most=86_400.0) or None
            default_rows = 10_000 if role == "source" else 50_000
            return PostgresUri(
                host, port or DEFAULT_PORT, database, unquote(parts.username or "") or None,
                unquote(parts.password or "") or None, table, query, refresh,
                options.text("notify"), key, options.boolean("create", False),
                options.positive_int("batch_rows", default_rows, 1_000_000) or default_rows,
                options.seconds("connect_timeout", 10.0))
        except UriOptionError as error:
            raise PostgresUriError(str(error)) from None


def _abbreviated(text: str, most: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= most else flat[:most - 3] + "..."


def _check(uri: str, role: Role) -> UriProblem | None:
    try:
        PostgresUri.parse(uri, role)
    except PostgresUriError as error:
        return UriProblem.error(str(error))
    return None


def connect(uri: PostgresUri, what: str, *, autocommit: bool = False) -> psycopg.Connection:
    """A connection to `uri`'s database, tried with backoff for up to `connect_timeout`
    seconds; ConnectorError naming host:port otherwise. A refusal that waiting will not
    mend (no such database, a bad password) fails at once, with the server's words."""
    import psycopg

    def attempt() -> psycopg.Connection:
        try:
            return psycopg.connect(uri.conninfo(), autocommit=autocommit)
        except psycopg.OperationalError as error:
            text = str(error)
            if any(reason in text for reason in _LASTING_REFUSALS):
                raise ConnectorError(f"{uri.server} refuses {what}: "
                                     f"{text.strip().splitlines()[-1]}") from None
            raise

    connection = connect_with_backoff(attempt, timeout=uri.connect_timeout,
                                      what=f"{uri.server} for {what}",
                                      errors=(psycopg.OperationalError,))
    connection.execute("SET TIME ZONE 'UTC'")
    if not autocommit:
        connection.commit()
    return connection


# what the server says when waiting will not help
_LASTING_REFUSALS = ("does not exist", "password authentication failed", "no password",
                     "no pg_hba.conf entry", "permission denied")


def relation_sql(table: str) -> Any:
    """`table` (a name or schema.name, as written) as a quoted SQL identifier."""
    from psycopg import sql

    return sql.Identifier(*table.split("."))


# ------------------------------------------------------------------ reading: types

# how each stream column is read: (SQL expression over the column, how the value arrives)
_INTEGERS = {"int2", "int4", "int8", "oid"}
_TEXTS = {"text", "varchar", "bpchar", "name"}
_TIMES = {"timestamptz", "timestamp", "date"}


@dataclass(frozen=True)
class ColumnReader:
    """One stream column read from one PostgreSQL column: the SQL expression selected, and
    `arrives` — int, float, bool, text, epoch_ms (a time converted in the query) or numeric
    (Decimal, judged here)."""

    name: str
    expression: Any
    arrives: str


def column_reader(name: str, frys_type: FrysType, pg_type: str) -> ColumnReader | str:
    """How to read column `name` of PostgreSQL type `pg_type` as `frys_type`, or why not."""
    from psycopg import sql

    column = sql.Identifier(name)
    if frys_type == FrysType.STRING:
        return ColumnReader(name, column if pg_type in _TEXTS
                            else sql.SQL("{}::text").format(column), "text")
    if frys_type == FrysType.INT:
        if pg_type in _INTEGERS:
            return ColumnReader(name, sql.SQL("{}::int8").format(column), "int")
        if pg_type == "numeric":
            return ColumnReader(name, column, "numeric")
        return "INT takes smallint, integer, bigint, oid or numeric"
    if frys_type == FrysType.FLOAT:
        if pg_type in _INTEGERS or pg_type in ("float4", "float8"):
            return ColumnReader(name, sql.SQL("{}::float8").format(column), "float")
        if pg_type == "numeric":
            return ColumnReader(name, column, "numeric")
        return "FLOAT takes real, double precision, numeric or an integer type"
    if frys_type == FrysType.BOOL:
        if pg_type == "bool":
            return ColumnReader(name, column, "bool")
        return "BOOL takes boolean"
    if frys_type == FrysType.TIMESTAMP:
        if pg_type in _TIMES:
            millis = sql.SQL("CASE WHEN isfinite({c}) THEN "
                             "floor(extract(epoch FROM {c}) * 1000)::int8 "
                             + _INFINITE_TIME).format(c=column)
            return ColumnReader(name, millis, "epoch_ms")
        if pg_type in _INTEGERS:
            return ColumnReader(name, sql.SQL("{}::int8").format(column), "int")
        if pg_type in _TEXTS:
            return ColumnReader(name, column, "text")
        return "TIMESTAMP takes timestamptz, timestamp, date, an integer (epoch) or text"
    return f"{frys_type.value} is not read from PostgreSQL"  # pragma: no cover


def _type_name(oid: int) -> str:
    from psycopg.postgres import types

    found = types.get(oid)
    return found.name if found is not None else f"type {oid}"


_ARRIVING_DTYPES: dict[str, pl.DataType] = {
    "int": pl.Int64(), "float": pl.Float64(), "bool": pl.Boolean(), "text": pl.String(),
    "epoch_ms": pl.Int64()}


def _numeric(value: Decimal, frys_type: FrysType) -> tuple[object, str | None]:
    """A numeric value as INT or FLOAT, or why it cannot be."""
    if not value.is_finite():
        return None, f"{frys_type.value} value {str(value).lower()} is not a finite number"
    if frys_type == FrysType.INT:
        if value != value.to_integral_value():
            return None, f"expected INT, got the numeric {value}"
        whole = int(value)
        if not _INT64_MIN <= whole <= _INT64_MAX:
            return None, f"INT value {_shown(value)} is out of the 64-bit range"
        return whole, None
    number = float(value)
    if not math.isfinite(number):
        return None, f"FLOAT value {_shown(value)} is out of the 64-bit range"
    return number, None


def _shown(value: Decimal) -> str:
    text = str(value)
    return text if len(text) <= 40 else f"{value:.6e}"


def _raw(names: Sequence[str], row: Sequence[object]) -> str:
    return json.dumps(dict(zip(names, row, strict=True)), default=str)


# ------------------------------------------------------------------ the source

class PostgresTableSource:
    """A job source (registry.Source) reading the rows of a PostgreSQL table or query; see
    the module docstring for types and guarantees.

    A TABLE's source with `refresh=` or `notify=` is growing: the first read gives every
    row; then, between reads, it yields IDLE; a read is due every `refresh` seconds and
    after each notification on the `notify` channel (polled without waiting, on a connection
    of its own). A later read yields only the changes: rows whose content differs from what
    the job was last given for their key (a hash per key is kept), and a tombstone per key
    that is gone. A STREAM's source reads the rows once and ends.

    Its position is the number of reads finished and the rows yielded of the one under way
    ({"reads": n, "rows": k}); see `seek`. `commit` has nothing to make durable."""

    def __init__(self, uri: PostgresUri, decoder: StreamDecoder, key: str | None,
                 is_table: bool, clock: Callable[[], float] = time.monotonic) -> None:
        if not is_table and (uri.refresh is not None or uri.notify is not None):
            raise ConnectorError(f"{uri.display}: refresh= and notify= read a TABLE's rows "
                                 f"again; stream {decoder.stream} is a STREAM, which reads "
                                 "the rows once (declare it with CREATE TABLE ... PRIMARY KEY)")
        self.uri = uri
        self.decoder = decoder
        self.display = uri.display
        self.clock = clock  # when reads are due and retries come (tests drive it)
        self.key = key
        # a table read again (refresh=, notify=) grows; otherwise the rows are read once
        self.growing = is_table and (uri.refresh is not None or uri.notify is not None)
        self.what = f"the source of {'table' if is_table else 'stream'} {decoder.stream}"
        self.connection = self._reading_connection(uri)
        self.listener: psycopg.Connection | None = None
        try:
            self.readers = self._describe()
            if uri.notify is not None:
                self.listener = self._listen(uri)
        except ConnectorError:
            self.close()
            raise
        self._reads = 0
        self._rows_in_read = 0  # rows yielded by the read under way (a STREAM's position)
        self._skip_rows = 0  # a resumed STREAM: rows of its read already in the checkpoint
        # per key, a hash of the row the job was last given (what the frys table holds)
        self._given: dict[object, int] = {}
        self._reported: set[str] = set()  # the raw rows dead-lettered at the last read
        self._due_at = 0.0  # when the next read is due (monotonic); the first: now
        self._retry_at = 0.0
        self._delay = _RETRY_MIN_SECONDS

    # -------------------------------------------------------------- opening

    def _inner_sql(self) -> Any:
        from psycopg import sql

        if self.uri.table is not None:
            return sql.SQL("SELECT * FROM {}").format(relation_sql(self.uri.table))
        return sql.SQL(self.uri.query or "")  # type: ignore[arg-type]

    def _describe(self) -> list[ColumnReader]:
        """The columns the table or query gives, matched with the stream's: how each is
        read; ConnectorError naming a missing column, a type that does not fit, a query
        PostgreSQL refuses."""
        import psycopg
        from psycopg import sql

        try:
            with self.connection.cursor() as cursor:
                cursor.execute(sql.SQL("SELECT * FROM ({}) AS frys_described LIMIT 0")
                               .format(self._inner_sql()))
                found = {column.name: _type_name(column.type_code)
                         for column in cursor.description or ()}
            self.connection.rollback()
        except psycopg.Error as error:
            self.connection.rollback()
            what = (f"table {self.uri.table}" if self.uri.table is not None
                    else f"the query {_abbreviated(self.uri.query or '', 200)!r}")
            message = str(error).strip().splitlines()[0] if str(error).strip() else \
                type(error).__name__
            raise ConnectorError(f"{self.display} ({self.what}): PostgreSQL refuses "
                                 f"{what}: {message}") from None
        readers, problems = [], []
        for name, frys_type in self.decoder.columns.items():
            if name not in found:
                problems.append(f"no column {name!r} (it has {', '.join(found) or 'none'})")
                continue
            reader = column_reader(name, frys_type, found[name])
            if isinstance(reader, str):
                problems.append(f"column {name} is {found[name]} in PostgreSQL, the stream's "
                                f"is {frys_type.value}: {reader}")
            else:
                readers.append(reader)
        if problems:
            raise ConnectorError(f"{self.display} does not fit {self.what}: "
                                 + "; ".join(problems))
        return readers

    def _reading_connection(self, uri: PostgresUri) -> psycopg.Connection:
        """A connection whose transactions are REPEATABLE READ READ ONLY: a read sees one
        snapshot of the rows, whatever commits meanwhile."""
        from psycopg import IsolationLevel

        connection = connect(uri, self.what)
        connection.isolation_level = IsolationLevel.REPEATABLE_READ
        connection.read_only = True
        return connection

    def _listen(self, uri: PostgresUri) -> psycopg.Connection:
        from psycopg import sql

        listener = connect(uri, f"{self.what} (LISTEN)", autocommit=True)
        listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.uri.notify or "")))
        return listener

    # -------------------------------------------------------------- reading

    def batches(self) -> Iterator[Batch]:
        import psycopg

        while True:
            if self.clock() < self._retry_at:
                yield IDLE
                continue
            try:
                self._ensure_connections()
                due = self._read_due(self.clock())
            except (psycopg.OperationalError, ConnectorError) as error:
                self._lost(error)
                yield IDLE
                continue
            if not due:
                if not self.growing:
                    return
                yield IDLE
                continue
            try:
                yield from self._read_all()
            except psycopg.OperationalError as error:
                self._lost(error)
                yield IDLE
                continue
            self._delay = _RETRY_MIN_SECONDS
            self._reads += 1
            self._rows_in_read = 0
            self._due_at = (self.clock() + self.uri.refresh if self.uri.refresh
                            else math.inf)
            if not self.growing:
                return

    def _read_due(self, now: float) -> bool:
        """Whether a read is due: its time has come, or a notification arrived (all
        waiting ones taken: any number of them make one read)."""
        if self.listener is not None:
            notified = False
            for _ in self.listener.notifies(timeout=0):
                notified = True
            if notified:
                return True
        return now >= self._due_at

    def _read_all(self) -> Iterator[tuple[pl.DataFrame, list[DeadLetter]]]:
        """One read: every row, in a REPEATABLE READ transaction through a server-side
        cursor; the batches of what changed, then the tombstones of keys gone."""
        import psycopg
        from psycopg import sql

        select = sql.SQL("SELECT {} FROM ({}) AS frys_rows").format(
            sql.SQL(", ").join(reader.expression for reader in self.readers),
            self._inner_sql())
        names = [reader.name for reader in self.readers]
        seen: dict[object, int] = {}
        reported: set[str] = set()
        first_row = 1
        connection = self.connection
        connection.rollback()  # the read's transaction starts at its first statement
        try:
            with connection.cursor(name=f"frys_{id(self):x}", binary=True) as cursor:
                cursor.itersize = self.uri.batch_rows
                cursor.execute(select)
                while True:
                    rows = cursor.fetchmany(self.uri.batch_rows)
                    if rows and self._skip_rows:  # a resumed STREAM: in the checkpoint
                        skipped = min(self._skip_rows, len(rows))
                        rows, self._skip_rows = rows[skipped:], self._skip_rows - skipped
                        first_row += skipped
                        self._rows_in_read += skipped
                        if not rows:
                            continue
                    if not rows:
                        break
                    batch, letters = self.decode(rows, names, first_row)
                    first_row += len(rows)
                    self._rows_in_read += len(rows)
                    # a row still bad since the last read was reported then
                    reported.update(letter.raw for letter in letters)
                    letters = [letter for letter in letters
                               if letter.raw not in self._reported]
                    changed = self._changes(batch, seen)
                    if changed.height or letters:
                        yield changed, letters
        finally:
            if not connection.closed:
                with contextlib.suppress(psycopg.Error):
                    connection.rollback()
        self._reported = reported
        if self.key is not None:
            gone = [key for key in self._given if key not in seen]
            self._given = seen
            if gone:
                yield self._tombstones(gone), []

    def _changes(self, batch: pl.DataFrame, seen: dict[object, int]) -> pl.DataFrame:
        """The rows of `batch` the job does not have yet as they are (all, for a STREAM),
        recorded as given; rows with a NULL key name no row of a table and are dropped."""
        if self.key is None or batch.height == 0:
            return batch
        batch = batch.filter(pl.col(self.key).is_not_null())
        keys = batch[self.key].to_list()
        hashes = batch.hash_rows().to_list()
        given = self._given
        changed = [given.get(key) != digest for key, digest in zip(keys, hashes, strict=True)]
        for key, digest in zip(keys, hashes, strict=True):
            seen[key] = digest
            given[key] = digest  # a read cut short by a lost connection: the job has it
        return batch.filter(pl.Series(changed, dtype=pl.Boolean)) if not all(changed) \
            else batch

    def _tombstones(self, keys: list[object]) -> pl.DataFrame:
        """The deletes of `keys`: every other column NULL (a versioned table's event time:
        now, when the delete was seen)."""
        empty = self.decoder.empty()
        columns: dict[str, pl.Series] = {}
        for name, dtype in empty.schema.items():
            if name == self.key:
                columns[name] = pl.Series(name, keys, dtype=dtype)
            elif name == self.decoder.event_time:
                columns[name] = pl.Series(name, [time.time_ns() // 1_000_000] * len(keys)
                                          ).cast(dtype)
            else:
                columns[name] = pl.Series(name, [None] * len(keys), dtype=dtype)
        return pl.DataFrame(columns)

    def decode(self, rows: Sequence[tuple[Any, ...]], names: Sequence[str], first_row: int
               ) -> tuple[pl.DataFrame, list[DeadLetter]]:
        """Rows as psycopg gives them (in `self.readers`' order) -> the stream's batch and
        dead letters positioned `<display> row <n>`, n = first_row + the row's index."""
        values = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        bad: dict[int, str] = {}
        series: dict[str, pl.Series] = {}
        for reader, column in zip(self.readers, values, strict=True):
            frys_type = self.decoder.columns[reader.name]
            if reader.arrives == "numeric":
                converted: list[object] = []
                for index, value in enumerate(column):
                    if value is None:
                        converted.append(None)
                        continue
                    number, reason = _numeric(value, frys_type)
                    if reason is not None and index not in bad:
                        bad[index] = f"field {reader.name}: {reason}"
                    converted.append(number)
                series[reader.name] = pl.Series(reader.name, converted,
                                                dtype=frys_type.polars_dtype)
                continue
            typed = pl.Series(reader.name, column, dtype=_ARRIVING_DTYPES[reader.arrives])
            if reader.arrives == "float":
                for index in (typed.is_not_null() & ~typed.is_finite()).arg_true().to_list():
                    bad.setdefault(index, f"field {reader.name}: FLOAT value "
                                          f"{typed[index]} is not a finite number")
            if reader.arrives == "epoch_ms":
                for index in typed.abs().eq(_INFINITY_MS).fill_null(False).arg_true().to_list():
                    bad.setdefault(index, f"field {reader.name}: "
                                          f"{'-' if typed[index] < 0 else ''}infinity is not a "
                                          "TIMESTAMP")
                typed = typed.cast(TIMESTAMP_DTYPE)
            series[reader.name] = typed
        frame = pl.DataFrame(list(series.values()))
        letters = [DeadLetter(self.decoder.stream, reason,
                              f"{self.display} row {first_row + index}",
                              _raw(names, rows[index]))
                   for index, reason in sorted(bad.items())]
        kept = list(range(len(rows)))
        if bad:
            kept = [index for index in kept if index not in bad]
            frame = frame[kept]
        batch, more = self.decoder.decode_frame(frame, self.display)
        for letter in more:  # "<display> row <k>": k is a row of `frame`
            index = kept[int(letter.position.rsplit(" row ", 1)[1])]
            letters.append(replace(letter, position=f"{self.display} row {first_row + index}",
                                   raw=_raw(names, rows[index])))
        return batch, letters

    def _lost(self, error: Exception) -> None:
        """The connection failed: a TABLE's source tries again after a backoff (the next
        read is whole and is compared with what the job has, so rows of a read cut short
        come again); a STREAM's, read once, stops the job (ConnectorError): its resumed run
        goes on after the rows its checkpoint counted."""
        import psycopg

        reason = str(error).strip() or type(error).__name__
        for connection in (self.connection, self.listener):
            if connection is not None:
                with contextlib.suppress(psycopg.Error):
                    connection.close()
        if not self.growing:
            raise ConnectorError(f"{self.display} ({self.what}): lost the connection after "
                                 f"{self._rows_in_read} rows: {reason}") from None
        warnings.warn(f"{self.display} ({self.what}): lost the connection ({reason}); "
                      f"trying again in {self._delay:g}s", RuntimeWarning, stacklevel=3)
        self._retry_at = self.clock() + self._delay
        self._delay = min(self._delay * 2, _RETRY_MAX_SECONDS)
        self._due_at = 0.0

    def _ensure_connections(self) -> None:
        """Open again what a lost connection closed: one quick try each (never blocking the
        job; ConnectorError if the server is still away)."""
        quick = replace(self.uri, connect_timeout=0.01)
        if self.connection.closed:
            self.connection = self._reading_connection(quick)
        if self.uri.notify is not None and (self.listener is None or self.listener.closed):
            self.listener = self._listen(quick)

    def position(self) -> dict[str, int]:
        """How many reads have finished, and how many rows of the one under way have been
        yielded."""
        return {"reads": self._reads, "rows": self._rows_in_read}

    def seek(self, position: object) -> None:
        """A resumed job. A TABLE's source skips nothing: its next read gives every row
        (upserts of what the checkpointed table holds; the database is the truth). A
        STREAM's goes on after the rows its checkpoint counted: nothing if its read had
        finished, else the rest of the read (the same rows if the query's order is stable:
        give it an ORDER BY to be sure)."""
        if position is None:
            return
        if not (isinstance(position, dict) and set(position) == {"reads", "rows"}
                and all(type(value) is int and value >= 0 for value in position.values())):
            raise ConnectorError(f"cannot resume the source {self.display} ({self.what}): "
                                 f"{position!r} is not a position of a postgresql: source")
        self._reads = position["reads"]
        if self.key is None:  # a STREAM
            if self._reads:
                self._due_at = math.inf  # read whole already
            else:
                self._skip_rows = position["rows"]

    def commit(self) -> None:
        """Nothing to make durable: the database is the truth."""

    def close(self) -> None:
        for connection in (self.connection, self.listener):
            if connection is not None:
                connection.close()


# ------------------------------------------------------------------ the connector

def _open_source(uri: str, context: SourceContext) -> PostgresTableSource:
    stream = context.stream
    return PostgresTableSource(PostgresUri.parse(uri, "source"), context.decoder,
                               stream.primary_key if stream.is_table else None,
                               stream.is_table)


def _open_sink(uri: str, context: SinkContext) -> PostgresSink:
    from frys.connectors.postgresql_sink import PostgresSink

    return PostgresSink(PostgresUri.parse(uri, "sink"), context)


POSTGRESQL_CONNECTOR = Connector("postgresql", _check, _open_source, _open_sink)
POSTGRES_CONNECTOR = Connector("postgres", _check, _open_source, _open_sink)

