"""The `redis:` connector: a Redis Stream as a job's source (a consumer group) or sink (XADD).

URI: ``redis://host[:port]/<stream>[?options]`` (port 6379 by default; the stream's name is
the path, percent-encoded if need be). Options:

* a source's: ``group=G`` (required: the consumer group the job reads as),
  ``consumer=C`` (default: the job's name), ``start=0|$|<id>`` (where the group starts if
  this source creates it: the whole stream, only new entries, or after an entry id;
  default 0), ``count=N`` (entries per read, default 1000), ``block=MS`` (wait up to MS
  milliseconds, at most 1000, for new entries before saying IDLE; default: never wait);
* a sink's: ``maxlen=N`` (trim the stream to about N entries at each add, XADD MAXLEN ~ N),
  ``approximate=true|false`` (``~`` trimming, the default, or exact);
* both: ``format=fields|json`` (each schema column a field of the entry, the default; or
  the whole event as JSON text in one field), ``field=NAME`` (that field with
  format=json; default ``data``), ``connect_timeout=S`` (how long opening keeps trying to
  reach Redis, with backoff, before it gives up; default 10 seconds).

Field values arrive as strings and are typed by the schema, as the JSON decoder types the
same text (connectors/decode.py): INT from integer text, FLOAT from numbers, BOOL from
true/false (any case) and 1/0, TIMESTAMP from epoch times in the stream's time_unit or
ISO-8601, STRING as it is; a missing field is NULL; an entry that does not fit (or whose
JSON does not) is a dead letter whose position is ``redis://host:port/stream@<entry id>``.

Guarantees of the source (RedisStreamSource): exactly-once into the job's state with
checkpoints (and with the `file:`/`wal:` sinks, exactly-once end to end); at-least-once
without. Entries are XACKed only once a checkpoint covering them is written (or at the end
of the run), so a crash leaves them pending in the group, and the next run reads this
consumer's pending entries first. A resumed run acks the pending entries at or before its
checkpoint's position (they are in the checkpointed state) and processes the ones after it
again, once. A lost connection is retried with backoff (the source says IDLE meanwhile,
never blocking the job) and the pending entries after the last one processed are read
again first, so an entry delivered in a reply the connection lost is not skipped. A group
that vanished (a Redis restarted without persistence) is made again, with a warning, and
what is added from then on is read.

Guarantees of the sink (RedisStreamSink): see its docstring: each row once across a crash
when the resumed job emits the same rows again (a checkpointed frys job does), because the
sink gives entries explicit ids and skips, after recovery, the ones Redis already has.
"""

from __future__ import annotations

import json
import re
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import polars as pl

from frys.connectors.decode import DeadLetter, StreamDecoder
from frys.connectors.payloads import (
    UriOptionError,
    UriOptions,
    decode_messages,
    numbered_rows_state,
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
from frys.dsl.types import FrysType

if TYPE_CHECKING:
    import redis

    from frys.connectors.registry import Batch

DEFAULT_PORT = 6379
_ENTRY_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
_SOURCE_OPTIONS = {"group", "consumer", "start", "count", "block"}
_SINK_OPTIONS = {"maxlen", "approximate"}
_COMMON_OPTIONS = {"format", "field", "connect_timeout"}
# a lost connection is tried again after this long, doubling up to the cap
_RETRY_MIN_SECONDS, _RETRY_MAX_SECONDS = 0.05, 2.0
_ACK_CHUNK = 1000
_INTEGER_TEXT = r"^\s*[+-]?[0-9]+\s*$"


class RedisUriError(ValueError):
    """A `redis:` URI that cannot be used, with what is wrong."""


@dataclass(frozen=True)
class RedisUri:
    host: str
    port: int
    stream: str
    group: str | None = None
    consumer: str | None = None
    start: str = "0"
    count: int = 1000
    block_ms: int | None = None
    format: str = "fields"
    field: str = "data"
    maxlen: int | None = None
    approximate: bool = True
    connect_timeout: float = 10.0

    @property
    def display(self) -> str:
        return f"redis://{self.host}:{self.port}/{self.stream}"

    @staticmethod
    def parse(uri: str, role: Role) -> RedisUri:
        """Raises RedisUriError naming the problem (unknown options with a did-you-mean)."""
        try:
            parts, host, port = split_server_uri(uri, "redis",
                                                 "'redis://localhost:6379/orders?group=frys'")
        except UriOptionError as error:
            raise RedisUriError(str(error)) from None
        stream = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
        if not stream:
            raise RedisUriError(f"{uri!r} names no stream; the stream is the path, e.g. "
                                "'redis://localhost:6379/orders'")
        try:
            options = UriOptions(uri, parts.query, "redis", role, source=_SOURCE_OPTIONS,
                                 sink=_SINK_OPTIONS, common=_COMMON_OPTIONS)
            if role == "source" and not options.params.get("group"):
                raise RedisUriError(f"a redis: source needs a consumer group: add "
                                    f"'group=NAME' to {uri!r}")
            start = options.params.get("start", "0")
            if start not in ("0", "$") and not _ENTRY_ID.fullmatch(start):
                raise RedisUriError(f"start must be 0, $ or an entry id like 1700000000000-0 "
                                    f"in {uri!r}, not {start!r}")
            form = options.choice("format", ("fields", "json"), "fields")
            if "field" in options and form != "json":
                raise RedisUriError(f"field names the JSON field of format=json; add "
                                    f"'format=json' to {uri!r}")
            return RedisUri(host, port or DEFAULT_PORT, stream, options.text("group"),
                            options.text("consumer"), start,
                            options.positive_int("count", 1000, 100_000) or 1000,
                            options.positive_int("block", None, 1000), form,
                            options.text("field", "data") or "data",
                            options.positive_int("maxlen", None),
                            options.boolean("approximate", True),
                            options.seconds("connect_timeout", 10.0))
        except UriOptionError as error:
            raise RedisUriError(str(error)) from None


def _check(uri: str, role: Role) -> UriProblem | None:
    try:
        RedisUri.parse(uri, role)
    except RedisUriError as error:
        return UriProblem.error(str(error))
    return None


def connect(uri: RedisUri, what: str) -> redis.Redis:
    """A client of `uri`'s server that has answered a PING, tried with backoff for up to
    `connect_timeout` seconds; ConnectorError naming host:port otherwise. The client does
    not retry by itself: the source decides (it must never block the job)."""
    import redis as redis_py
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis_py.Redis(host=uri.host, port=uri.port, decode_responses=True,
                            socket_connect_timeout=min(2.0, uri.connect_timeout),
                            socket_timeout=10.0 + (uri.block_ms or 0) / 1000,
                            retry=Retry(NoBackoff(), 0))
    deadline = time.monotonic() + uri.connect_timeout
    delay = _RETRY_MIN_SECONDS
    while True:
        try:
            client.ping()
            return client
        except (redis_py.ConnectionError, redis_py.TimeoutError) as error:
            if time.monotonic() + delay > deadline:
                client.close()
                raise ConnectorError(
                    f"cannot reach Redis at {uri.host}:{uri.port} for {what} (tried for "
                    f"{uri.connect_timeout:g}s): {error}") from None
            time.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_SECONDS)


# ------------------------------------------------------------------ decoding

def _bad_value(column: str, column_type: FrysType, value: str) -> str:
    wanted = {FrysType.INT: "INT (integer text)", FrysType.FLOAT: "FLOAT (a number)",
              FrysType.BOOL: "BOOL (true, false, 1 or 0)"}[column_type]
    return f"field {column}: expected {wanted}, got {value!r}"


def decode_field_entries(decoder: StreamDecoder, entries: Sequence[tuple[str, Any]],
                         display: str) -> tuple[pl.DataFrame, list[DeadLetter]]:
    """Entries whose fields are the schema's columns, as strings -> the stream's batch.

    Columnar: one String column per schema column (None where an entry lacks the field),
    cast as a whole; only rows that fail a cast are looked at one by one (dead letters).
    TIMESTAMP columns and the event-time check go through `StreamDecoder.decode_frame`,
    the path a user's DataFrame of strings takes."""
    ids = [entry_id for entry_id, _ in entries]
    letters: list[DeadLetter] = []
    fields = [values or {} for _, values in entries]
    deleted = [i for i, (_, values) in enumerate(entries) if not values]
    text = pl.DataFrame({c: [values.get(c) for values in fields] for c in decoder.columns},
                        schema={c: pl.String for c in decoder.columns})
    exprs, flags = [], []
    for column, column_type in decoder.columns.items():
        value = pl.col(column)
        typed: pl.Expr
        if column_type == FrysType.INT:
            typed = pl.when(value.str.contains(_INTEGER_TEXT)).then(
                value.str.strip_chars().cast(pl.Int64, strict=False))
        elif column_type == FrysType.FLOAT:
            number = value.str.strip_chars().cast(pl.Float64, strict=False)
            typed = pl.when(number.is_finite()).then(number)
        elif column_type == FrysType.BOOL:
            lowered = value.str.strip_chars().str.to_lowercase()
            typed = (pl.when(lowered.is_in(["true", "1"])).then(True)
                     .when(lowered.is_in(["false", "0"])).then(False)
                     .otherwise(None).cast(pl.Boolean))
        else:  # STRING as it is; TIMESTAMP: decode_frame reads the text
            exprs.append(value)
            continue
        exprs.append(typed.alias(column))
        flags.append((value.is_not_null() & typed.is_null()).alias(column))
    typed_frame = text.select(exprs)
    bad = text.select(flags) if flags else pl.DataFrame()
    bad_rows = set(deleted)
    if bad.width:
        any_bad = bad.select(pl.any_horizontal(pl.all()).alias("b")).to_series()
        for row in any_bad.arg_true().to_list():
            column = next(c for c in bad.columns if bad[c][row])
            letters.append(DeadLetter(decoder.stream,
                                      _bad_value(column, decoder.columns[column],
                                                 fields[row][column]),
                                      f"{display}@{ids[row]}", json.dumps(fields[row])))
            bad_rows.add(row)
    for row in deleted:
        letters.append(DeadLetter(decoder.stream, "the entry was deleted from the stream "
                                  "before it was acknowledged", f"{display}@{ids[row]}", ""))
    kept = list(range(len(ids)))
    if bad_rows:
        kept = [i for i in kept if i not in bad_rows]
        typed_frame = typed_frame[kept]
    batch, more = decoder.decode_frame(typed_frame, display)
    for letter in more:  # "<display> row <n>": n is a row of typed_frame
        row = kept[int(letter.position.rsplit(" row ", 1)[1])]
        letters.append(replace(letter, position=f"{display}@{ids[row]}",
                               raw=json.dumps(fields[row])))
    return batch, letters


def decode_json_entries(decoder: StreamDecoder, entries: Sequence[tuple[str, Any]],
                        field: str, display: str) -> tuple[pl.DataFrame, list[DeadLetter]]:
    """Entries holding each event as JSON text in `field` -> the stream's batch, through
    the broker payloads' JSON path (payloads.decode_messages: one chunk in native code, bad
    ones isolated)."""
    letters: list[DeadLetter] = []
    lines: list[bytes] = []
    line_ids: list[str] = []
    for entry_id, values in entries:
        value = (values or {}).get(field)
        if value is None:
            reason = (f"no field {field!r} (format=json)" if values else
                      "the entry was deleted from the stream before it was acknowledged")
            letters.append(DeadLetter(decoder.stream, reason, f"{display}@{entry_id}",
                                      json.dumps(values or {})))
            continue
        lines.append(value.encode())
        line_ids.append(entry_id)
    if not lines:
        return decoder.empty(), letters
    batch, more = decode_messages(decoder, lines, [f"{display}@{i}" for i in line_ids],
                                  "json", max_bytes=sys.maxsize)
    return batch, letters + more


# ------------------------------------------------------------------ the source

class RedisStreamSource:
    """A job source (registry.Source, `growing`) reading a Redis Stream as consumer
    `consumer` of group `group` (created, with MKSTREAM, at `start` if missing).

    Its position is the id of the last entry yielded (a str; '0-0' before any). It reads
    this consumer's pending entries first (those delivered before and never acked), then
    new ones ('>'), `count` at a time, and yields IDLE when there is nothing new. `commit()`
    XACKs every entry yielded so far (the runtime calls it only once a checkpoint holding
    the position is written, or at the end of the run). `seek(id)` (a resumed job) acks
    this consumer's pending entries up to that id (already in the checkpointed state) and
    reads the later pending ones again first. See the module docstring for guarantees."""

    growing = True

    def __init__(self, uri: RedisUri, decoder: StreamDecoder, consumer: str) -> None:
        assert uri.group is not None
        self.uri = uri
        self.decoder = decoder
        self.group = uri.group
        self.consumer = uri.consumer or consumer
        self.display = uri.display
        self.client = connect(uri, f"the source of stream {decoder.stream}")
        self.created_group = self._ensure_group()
        self._last = "0-0"  # the position
        self._pending_from: str | None = "0"  # reading pending entries after this id
        self._unacked: list[str] = []
        self._retry_at = 0.0
        self._delay = _RETRY_MIN_SECONDS

    def _ensure_group(self) -> bool:
        import redis as redis_py

        try:
            self.client.xgroup_create(self.uri.stream, self.group, id=self.uri.start,
                                      mkstream=True)
            return True
        except redis_py.ResponseError as error:
            if "BUSYGROUP" in str(error):
                return False
            raise ConnectorError(f"cannot create the consumer group {self.group} of "
                                 f"{self.display}: {error}") from None

    def _read(self, from_id: str) -> list[tuple[str, Any]]:
        block = self.uri.block_ms if from_id == ">" else None
        reply = self.client.xreadgroup(self.group, self.consumer, {self.uri.stream: from_id},
                                       count=self.uri.count, block=block)
        if not reply:
            return []
        # RESP2: [[stream, entries]]; RESP3: {stream: [entries]}
        entries = (next(iter(reply.values()))[0] if isinstance(reply, dict)
                   else reply[0][1])
        return list(entries)

    def batches(self) -> Iterator[Batch]:
        import redis as redis_py

        while True:
            if time.monotonic() < self._retry_at:
                yield IDLE
                continue
            try:
                if self._pending_from is not None:
                    entries = self._read(self._pending_from)
                    if not entries:
                        self._pending_from = None
                        continue
                    self._pending_from = entries[-1][0]
                else:
                    entries = self._read(">")
            except (redis_py.ConnectionError, redis_py.TimeoutError) as error:
                self._lost(error)
                yield IDLE
                continue
            except redis_py.ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise ConnectorError(f"{self.display} (stream {self.decoder.stream}): "
                                         f"{error}") from None
                self._group_gone()
                yield IDLE
                continue
            self._delay = _RETRY_MIN_SECONDS
            if not entries:
                yield IDLE
                continue
            self._unacked.extend(entry_id for entry_id, _ in entries)
            self._last = entries[-1][0]
            yield self.decode(entries)

    def _lost(self, error: Exception) -> None:
        """The connection failed: try again after a backoff, and then read this consumer's
        pending entries after the last one yielded first (a reply lost with the connection
        may have delivered entries that '>' will not deliver again)."""
        warnings.warn(f"{self.display} (stream {self.decoder.stream}): lost the connection "
                      f"({error}); trying again in {self._delay:g}s", RuntimeWarning,
                      stacklevel=2)
        self._retry_at = time.monotonic() + self._delay
        self._delay = min(self._delay * 2, _RETRY_MAX_SECONDS)
        self._pending_from = self._last

    def _group_gone(self) -> None:
        """The stream or its group vanished (a Redis restarted without persistence, a
        group deleted): what it held is gone with it. The group is made again, from the
        stream's start (every entry of a stream made since is new to the job)."""
        warnings.warn(f"{self.display} (stream {self.decoder.stream}): the consumer group "
                      f"{self.group} is gone (Redis restarted without persistence, or the "
                      "group or stream was deleted); created again from the stream's start",
                      RuntimeWarning, stacklevel=2)
        import redis as redis_py

        try:
            self.client.xgroup_create(self.uri.stream, self.group, id="0", mkstream=True)
        except redis_py.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise ConnectorError(f"cannot create the consumer group {self.group} of "
                                     f"{self.display}: {error}") from None
        self._pending_from = "0"
        self._unacked.clear()  # acknowledging them in the new group would mean nothing

    def decode(self, entries: Sequence[tuple[str, Any]]
               ) -> tuple[pl.DataFrame, list[DeadLetter]]:
        if self.uri.format == "json":
            return decode_json_entries(self.decoder, entries, self.uri.field, self.display)
        return decode_field_entries(self.decoder, entries, self.display)

    def position(self) -> str:
        """The id of the last entry yielded ('0-0' before any)."""
        return self._last

    def seek(self, position: object) -> None:
        """Continue after entry `position` (a resumed job): this consumer's pending entries
        up to it are acked (the checkpoint holds them), the later ones are read again
        first. If the group was created by this run (deleted since the checkpoint), it is
        set to start after `position`."""
        if position is None:
            return
        if not isinstance(position, str) or not (_ENTRY_ID.fullmatch(position)):
            raise ConnectorError(f"cannot resume the source {self.display} (stream "
                                 f"{self.decoder.stream}): {position!r} is not a position "
                                 "of a redis: source")
        if self.created_group and position != "0-0":
            self.client.xgroup_setid(self.uri.stream, self.group, position)
        low = "-"
        while True:
            pending = self.client.xpending_range(self.uri.stream, self.group, min=low,
                                                 max=position, count=_ACK_CHUNK,
                                                 consumername=self.consumer)
            if not pending:
                break
            ids = [str(item["message_id"]) for item in pending]
            self.client.xack(self.uri.stream, self.group, *ids)
            low = f"({ids[-1]}"
        self._last = position
        self._pending_from = position

    def commit(self) -> None:
        """XACK every entry yielded so far. A connection lost here keeps them for the next
        commit (until then they stay pending: a crash re-reads them, as without a commit)."""
        import redis as redis_py

        try:
            while self._unacked:
                chunk = self._unacked[:_ACK_CHUNK]
                self.client.xack(self.uri.stream, self.group, *chunk)
                del self._unacked[:len(chunk)]
        except (redis_py.ConnectionError, redis_py.TimeoutError) as error:
            warnings.warn(f"{self.display}: could not acknowledge {len(self._unacked)} "
                          f"entries ({error}); trying again at the next commit",
                          RuntimeWarning, stacklevel=2)

    def close(self) -> None:
        self.client.close()


# ------------------------------------------------------------------ the sink

def _field_frame(batch: pl.DataFrame) -> pl.DataFrame:
    """Every column as the text its field gets: what the source reads back as the same
    value (BOOL true/false, TIMESTAMP ISO-8601 UTC with milliseconds)."""
    from frys.connectors.jsonl import to_json_frame

    batch = to_json_frame(batch)
    return batch.with_columns(
        pl.when(pl.col(name).is_null()).then(pl.lit(None, pl.String))
        .when(pl.col(name)).then(pl.lit("true")).otherwise(pl.lit("false")).alias(name)
        if dtype == pl.Boolean else pl.col(name).cast(pl.String)
        for name, dtype in batch.schema.items())


class RedisStreamSink:
    """A job sink (registry.Sink) adding each row as an entry of a Redis Stream (XADD,
    pipelined per batch; MAXLEN trimming per the URI).

    Entry ids are explicit: `<base>-<n>` for the sink's n-th row (n from 1), where `base`
    is chosen when the sink first opens (the current time in ms, or past the stream's last
    id if that is later) and kept in its recovery state `{"base": base, "rows": n}`.
    Guarantee: `write` sends the batch before it returns (durable as Redis's own
    persistence makes it: AOF/RDB are the server's); after a crash, `recover` reads the
    stream's last id and the resumed job's first rows that Redis already holds (ids up to
    it, written after the checkpoint and before the crash) are skipped, not added again,
    so the stream holds each row once provided the resumed job emits the same rows in the
    same order, which a frys job resumed from a checkpoint does. Readers may have seen
    those entries before the crash: they are not withdrawn. Refused (ConnectorError): a
    stream whose last id is past this sink's ids (another writer adds to it: the sink must
    be the stream's only writer) or before the recovered state (the stream was deleted or
    recreated since the checkpoint)."""

    def __init__(self, uri: RedisUri, stream: str, resume: bool) -> None:
        self.uri = uri
        self.stream = stream
        self.display = uri.display
        self.client = connect(uri, f"the sink of stream {stream}")
        self.rows = 0
        self.skip_upto = 0  # rows up to this one are already in the stream (recovery)
        last = self._last_id()
        now = time.time_ns() // 1_000_000
        self.base = max(now, last[0] + 1) if last is not None else now

    def _last_id(self) -> tuple[int, int] | None:
        import redis as redis_py

        try:
            info = self.client.xinfo_stream(self.uri.stream)
        except redis_py.ResponseError:  # no such key
            return None
        ms, seq = str(info["last-generated-id"]).split("-")
        return int(ms), int(seq)

    def write(self, batch: pl.DataFrame) -> None:
        import redis as redis_py

        if batch.height == 0:
            return
        first = self.rows + 1  # the row number of the batch's first row
        self.rows += batch.height
        if self.uri.format == "json":
            from frys.connectors.jsonl import to_json_frame

            frame = pl.DataFrame({self.uri.field: to_json_frame(batch).write_ndjson()
                                  .splitlines()}, schema={self.uri.field: pl.String})
        else:
            frame = _field_frame(batch)
        commands, count = self._xadd_commands(frame, first)
        if not count:
            return
        connection = self.client.connection_pool.get_connection()
        errors: list[str] = []
        try:
            connection.send_packed_command([commands])
            for _ in range(count):
                try:
                    connection.read_response()
                except redis_py.ResponseError as error:
                    errors.append(str(error))
        except redis_py.RedisError as error:
            connection.disconnect()  # the replies left unread must not reach another use
            raise ConnectorError(f"cannot add to {self.display} (stream {self.stream}): "
                                 f"{error}") from None
        finally:
            self.client.connection_pool.release(connection)
        if errors:
            raise ConnectorError(f"cannot add to {self.display} (stream {self.stream}): "
                                 f"{errors[0]} (is another writer adding to it? this sink "
                                 "must be its only writer)")

    def _xadd_commands(self, frame: pl.DataFrame, first: int) -> tuple[bytes, int]:
        """One XADD per row of `frame` (String columns: the fields; a NULL is no field),
        packed in Redis's protocol (RESP) column-wise by polars rather than per argument
        by redis-py (which spent 4/5 of a redis -> job -> redis run packing), and how many.
        Row n of the sink gets id `<base>-<n>`; rows already in the stream (recovery)
        and rows without a field are left out."""
        def bulk(text: str) -> str:
            return f"${len(text.encode())}\r\n{text}\r\n"

        head = bulk("XADD") + bulk(self.uri.stream)
        extra = 0
        if self.uri.maxlen is not None:
            head += bulk("MAXLEN") + bulk("~" if self.uri.approximate else "=") \
                + bulk(str(self.uri.maxlen))
            extra = 3
        row = pl.int_range(first, first + frame.height, eager=True).alias("__row")
        entry_id = pl.lit(f"{self.base}-") + pl.col("__row").cast(pl.String)
        fields = [pl.when(pl.col(name).is_not_null()).then(pl.concat_str(
            pl.lit(bulk(name) + "$"), pl.col(name).str.len_bytes().cast(pl.String),
            pl.lit("\r\n"), pl.col(name), pl.lit("\r\n"))) for name in frame.columns]
        given = pl.sum_horizontal([pl.col(name).is_not_null().cast(pl.Int32)
                                   for name in frame.columns])
        packed = frame.with_columns(row).filter(
            (pl.col("__row") > self.skip_upto) & (given > 0)
        ).select(pl.concat_str(
            pl.lit("*"), (3 + extra + 2 * given).cast(pl.String), pl.lit("\r\n" + head + "$"),
            entry_id.str.len_bytes().cast(pl.String), pl.lit("\r\n"), entry_id,
            pl.lit("\r\n"), *fields, ignore_nulls=True).alias("command")).to_series()
        return "".join(packed.to_list()).encode(), packed.len()

    def pre_commit(self, checkpoint_id: int) -> dict[str, int]:
        return {"base": self.base, "rows": self.rows}

    def commit(self, checkpoint_id: int) -> None:
        """Added through already: the entries are readable since `write`."""

    def recover(self, state: object) -> None:
        if state is None:
            return
        base, rows = numbered_rows_state(state, f"the Redis sink {self.display}", "redis")
        last = self._last_id()
        if rows and (last is None or last < (base, rows)):
            raise ConnectorError(
                f"cannot recover the Redis sink {self.display} (stream {self.stream}): the "
                f"stream's last id is {'-'.join(map(str, last)) if last else 'none'}, before "
                f"{base}-{rows}, the checkpoint's (deleted or recreated since)")
        if last is not None and last[0] > base:
            raise ConnectorError(
                f"cannot recover the Redis sink {self.display} (stream {self.stream}): its "
                f"last id {last[0]}-{last[1]} is past this sink's ids ({base}-*): another "
                "writer adds to it")
        self.base, self.rows = base, rows
        self.skip_upto = last[1] if last is not None and last[0] == base else rows

    def abort(self) -> None:
        self.client.close()

    def close(self) -> None:
        self.client.close()


# ------------------------------------------------------------------ the redis: connector

def _open_source(uri: str, context: SourceContext) -> RedisStreamSource:
    parsed = RedisUri.parse(uri, "source")
    return RedisStreamSource(parsed, context.decoder, context.job_name)


def _open_sink(uri: str, context: SinkContext) -> RedisStreamSink:
    return RedisStreamSink(RedisUri.parse(uri, "sink"), context.stream_name, context.resume)


REDIS_CONNECTOR = Connector("redis", _check, _open_source, _open_sink)
