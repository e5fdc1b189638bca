"""The `amqp:` connector: a RabbitMQ queue as a job's source, an exchange or queue as its sink.

URI: ``amqp://[user:password@]host[:port][/vhost][?options]`` (port 5672, user and
password ``guest`` by default; the vhost is the path, percent-encoded: ``/`` is the path
``/%2F`` or no path at all, as pika reads it). Options:

``queue=Q`` (consumed; published to through the default exchange) and/or ``exchange=X``
(published to; a source's queue is bound to it, an exclusive server-named one without
``queue=``), ``routing_key=K``, ``exchange_type=``, ``declare=true|false``, ``durable=``,
``queue_type=classic|quorum``; a source's ``prefetch=N`` (1-65535, default 10000),
``max_bytes=N``, ``dedup=true|false``; a sink's ``persistent=``, ``mandatory=``; both:
``format=json|msgpack|arrow`` (connectors/payloads.py), ``connect_timeout=S``,
``heartbeat=S``. docs/connectors.md (RabbitMQ) describes each.

A message that does not fit is a dead letter positioned
``amqp://host:port/<vhost>/<queue>@<delivery tag>`` (tags count per channel, from 1 after
each reconnect), followed by `` message_id=<id>`` when the message has one.

Guarantees of the source (RabbitMQSource): deliveries are acknowledged (basic.ack, multiple)
only at `commit()`, after the checkpoint that covers them, so prefetch bounds what a job
holds unacknowledged *between two checkpoints*: once `prefetch` deliveries wait, RabbitMQ
sends no more and the source reports idle until the next checkpoint (taken by time even on a
quiet input) acknowledges them. Prefetch must cover a checkpoint interval: throughput is at
most prefetch / interval (10000 per 10 s by default; use --checkpoint-every 1s or
--checkpoint-every-events below prefetch for more); a stalled source warns once.
Without checkpoints (no --state) each batch is acknowledged once it has gone through the
job (at the next pull), so nothing stalls (and a crash loses what the job held, as any
run without state does). RabbitMQ has no offsets, so a resumed
job cannot skip by position; instead its position holds (hashed) the message_id of every
delivery not yet acknowledged, and a resumed source drops a redelivered message whose id is
among them: its effect is in the checkpointed state. So with `--state` the source is
exactly-once for messages with a message_id, at-least-once for messages without. A frys
sink's messages carry ids `<job>/<stream>@<epoch>/<row>`; the source also remembers the last
row taken per producer and drops a fresh message at or below it: a frys job upstream that
crashed and published its rows again is not counted twice. A lost connection is reopened
with backoff (idle meanwhile); deliveries not acknowledged come again and are recognised
the same way.

Guarantees of the sink (RabbitMQSink): each message is persistent, published with publisher
confirms, and confirmed before a checkpoint is written (`pre_commit`), so nothing
checkpointed is lost; a lost connection is reopened and the unconfirmed messages published
again. After a crash the rows written after the checkpoint are published again with the same
message ids: RabbitMQ holds them twice, and a frys source reading them drops the second
copy (at-least-once on the broker, exactly-once into a frys job).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import time
import warnings
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote, unquote

import polars as pl

from frys.connectors.decode import DeadLetter, StreamDecoder
from frys.connectors.payloads import (
    DEFAULT_MAX_BYTES,
    UriOptionError,
    UriOptions,
    connect_with_backoff,
    decode_messages,
    encode_messages,
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

if TYPE_CHECKING:
    import pika
    from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

    from frys.connectors.registry import Batch

DEFAULT_PORT = 5672
DEFAULT_PREFETCH = 10_000
_SOURCE_OPTIONS = {"prefetch", "max_bytes", "dedup"}
_SINK_OPTIONS = {"persistent", "mandatory"}
_COMMON_OPTIONS = {"queue", "exchange", "routing_key", "exchange_type", "declare", "durable",
                   "queue_type", "format", "connect_timeout", "heartbeat"}
_EXCHANGE_TYPES = ("direct", "fanout", "topic", "headers")
# a lost source connection is tried again after this long, doubling up to the cap
_RETRY_MIN_SECONDS, _RETRY_MAX_SECONDS = 0.05, 2.0
# the sink waits for confirms once this many messages are unconfirmed (memory: it keeps
# them to publish again after a reconnect)
_UNCONFIRMED_WINDOW = 20_000
# reconnects of a sink in one write or pre_commit before it gives up
_RECONNECTS_AT_MOST = 10
# a source whose prefetch window stays full this long without a commit warns (once)
_STALL_WARNING_SECONDS = 5.0
# producers whose last row a source remembers (frys sinks upstream; oldest forgotten)
_PRODUCERS_KEPT = 1024
_CONTENT_TYPES = {"json": "application/json", "msgpack": "application/msgpack",
                  "arrow": "application/vnd.apache.arrow.stream"}
# the message_id a frys sink gives: <producer>/<row> or, an Arrow message, <first>-<last>
_FRYS_ID = re.compile(r"(.+)/([0-9]{1,19})(?:-([0-9]{1,19}))?")
_APP_ID = "frys"


@dataclass(frozen=True)
class AmqpUri:
    host: str
    port: int
    vhost: str
    user: str
    password: str
    queue: str | None
    exchange: str | None
    routing_key: str
    exchange_type: str
    declare: bool
    durable: bool
    queue_type: str | None
    format: str
    connect_timeout: float
    heartbeat: int
    prefetch: int = DEFAULT_PREFETCH
    max_bytes: int = DEFAULT_MAX_BYTES
    dedup: bool = True
    persistent: bool = True
    mandatory: bool = True

    @property
    def server(self) -> str:
        return f"amqp://{self.host}:{self.port}/{quote(self.vhost, safe='')}"

    @property
    def display(self) -> str:
        """The server and what is read or written, without credentials."""
        if self.queue is not None:
            return f"{self.server}/{self.queue}"
        return f"{self.server}/exchange {self.exchange}"

    @staticmethod
    def parse(uri: str, role: Role) -> AmqpUri:
        """Raises UriOptionError naming the problem (unknown options with a did-you-mean)."""
        example = "'amqp://guest:guest@localhost:5672/%2F?queue=orders'"
        parts, host, port = split_server_uri(uri, "amqp", example, article="an")
        # the vhost as pika reads it: no path or '/' is the default vhost '/'
        vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        options = UriOptions(uri, parts.query, "amqp", role, source=_SOURCE_OPTIONS,
                             sink=_SINK_OPTIONS, common=_COMMON_OPTIONS)
        queue, exchange = options.text("queue"), options.text("exchange")
        if queue is None and exchange is None:
            raise UriOptionError(f"an amqp: {role} needs 'queue=NAME' or 'exchange=NAME' in "
                                 f"{uri!r}")
        routing_key = options.params.get("routing_key", queue if queue is not None else "")
        exchange_type = options.choice("exchange_type", _EXCHANGE_TYPES, "direct")
        queue_type = (options.choice("queue_type", ("classic", "quorum"), "classic")
                      if "queue_type" in options else None)
        for key, kind, needed in (("exchange_type", "an exchange", exchange),
                                  ("queue_type", "a queue", queue)):
            if key in options and needed is None:
                raise UriOptionError(f"{key} is the type of {kind}: add "
                                     f"'{key.split('_')[0]}=NAME' to {uri!r}")
        durable = options.boolean("durable", True)
        if queue_type == "quorum" and not durable:
            raise UriOptionError(f"a quorum queue is always durable: drop 'durable=false' "
                                 f"from {uri!r}")
        return AmqpUri(
            host, port or DEFAULT_PORT, vhost,
            unquote(parts.username) if parts.username else "guest",
            unquote(parts.password) if parts.password else "guest",
            queue, exchange, routing_key, exchange_type, options.boolean("declare", True),
            durable, queue_type, options.encoding(),
            options.seconds("connect_timeout", 10.0),
            options.positive_int("heartbeat", 60, 3600) or 60,
            options.positive_int("prefetch", DEFAULT_PREFETCH, 65_535) or DEFAULT_PREFETCH,
            options.positive_int("max_bytes", DEFAULT_MAX_BYTES) or DEFAULT_MAX_BYTES,
            options.boolean("dedup", True), options.boolean("persistent", True),
            options.boolean("mandatory", True))


def _check(uri: str, role: Role) -> UriProblem | None:
    try:
        AmqpUri.parse(uri, role)
    except UriOptionError as error:
        return UriProblem.error(str(error))
    return None


# ------------------------------------------------------------------ connecting

def connect(uri: AmqpUri, what: str, timeout: float | None = None) -> BlockingConnection:
    """An open connection to `uri`'s broker, tried with backoff for up to `timeout` seconds
    (default: `connect_timeout`); ConnectorError naming host:port otherwise, and at once for refused
    credentials or an unknown vhost (trying again would not help)."""
    import pika
    from pika import exceptions

    parameters = pika.ConnectionParameters(
        host=uri.host, port=uri.port, virtual_host=uri.vhost,
        credentials=pika.PlainCredentials(uri.user, uri.password),
        heartbeat=uri.heartbeat, connection_attempts=1,
        socket_timeout=min(5.0, uri.connect_timeout),
        stack_timeout=min(10.0, uri.connect_timeout + 1),
        client_properties={"connection_name": f"frys {what} ({uri.display})"})

    def attempt() -> BlockingConnection:
        try:
            return pika.BlockingConnection(parameters)
        except (exceptions.ProbableAuthenticationError, exceptions.AuthenticationError,
                exceptions.ProbableAccessDeniedError) as error:
            raise ConnectorError(
                f"RabbitMQ at {uri.host}:{uri.port} refused {what}: user {uri.user!r} or "
                f"its password is wrong, or it may not use vhost {uri.vhost!r} "
                f"({type(error).__name__})") from None

    return connect_with_backoff(attempt, timeout=timeout or uri.connect_timeout,
                                what=f"RabbitMQ at {uri.host}:{uri.port} for {what}",
                                errors=(exceptions.AMQPConnectionError, OSError))


def _close_quietly(connection: BlockingConnection | None) -> None:
    """Close a connection that is being dropped (the broker may have closed it already)."""
    if connection is not None and connection.is_open:
        with contextlib.suppress(Exception):
            connection.close()


def _broker_refused(uri: AmqpUri, what: str, error: Exception) -> ConnectorError:
    reason = getattr(error, "reply_text", None) or str(error)
    hint = ""
    if "PRECONDITION_FAILED" in reason:
        hint = (" (it exists with other settings: match its durable=, queue_type= or "
                "exchange_type=, or add declare=false to use it as it is)")
    elif "NOT_FOUND" in reason:
        hint = " (declare=false: it must exist; declare=true makes it)"
    return ConnectorError(f"{uri.display}: cannot {what}: {reason}{hint}")


def declare(channel: BlockingChannel, uri: AmqpUri, role: Role) -> str | None:
    """The exchange, queue and binding `uri` names, declared (passively with
    declare=false, or for a built-in amq.* exchange); returns the queue's name (the
    server's name for a source's exclusive queue), None for a sink without a queue."""
    from pika import exceptions

    what = "declare"
    try:
        if uri.exchange is not None:
            what = f"declare exchange {uri.exchange}"
            channel.exchange_declare(uri.exchange, exchange_type=uri.exchange_type,
                                     passive=not uri.declare or uri.exchange.startswith("amq."),
                                     durable=uri.durable)
        queue = uri.queue
        if queue is not None:
            what = f"declare queue {queue}"
            arguments = {"x-queue-type": uri.queue_type} if uri.queue_type else None
            channel.queue_declare(queue, passive=not uri.declare, durable=uri.durable,
                                  arguments=arguments)
        elif role == "source":  # a source of an exchange: an exclusive queue of its own
            what = "declare an exclusive queue"
            queue = channel.queue_declare("", exclusive=True).method.queue
        if uri.exchange is not None and queue is not None and \
                (uri.declare or uri.queue is None):
            what = f"bind queue {queue} to exchange {uri.exchange}"
            channel.queue_bind(queue, uri.exchange, routing_key=uri.routing_key)
    except exceptions.ChannelClosedByBroker as error:
        raise _broker_refused(uri, what, error) from None
    return queue


# ------------------------------------------------------------------ the source

class _Delivery(NamedTuple):
    tag: int
    redelivered: bool
    message_id: str | None
    app_id: str | None
    body: bytes


def _key(message_id: str) -> bytes:
    """What a position keeps of a message_id: 8 bytes of its hash (a checkpoint holds up
    to `prefetch` of them; a collision among them would take one message for another, at
    odds of about prefetch / 2**64)."""
    return hashlib.blake2b(message_id.encode(), digest_size=8).digest()


def _pack(keys: set[bytes]) -> str:
    return base64.b64encode(b"".join(sorted(keys))).decode()


def _unpack(text: str) -> set[bytes]:
    raw = base64.b64decode(text.encode(), validate=True)
    if len(raw) % 8:
        raise ValueError("not a whole number of keys")
    return {raw[i:i + 8] for i in range(0, len(raw), 8)}


class RabbitMQSource:
    """A job source (registry.Source) consuming a queue with manual acknowledgements and
    `prefetch` unacknowledged deliveries at most (basic.qos): the broker's backpressure.

    Deliveries arrive through basic.consume into a buffer that `batches()` drains after
    reading what the socket holds now (process_data_events(time_limit=0): it never
    waits); IDLE when there is nothing. Its position is what a resumed source needs to
    recognise redeliveries: `{"unacked": <the hashed message ids not yet acknowledged>,
    "rows": {<frys producer>: <last row taken>}}`. `commit()` acknowledges every delivery
    yielded so far (basic.ack multiple=True), then waits for a reply on the channel so the
    broker is known to have it; until then the ids stay in the position. See the module
    docstring for the guarantees."""

    growing = True

    def __init__(self, uri: AmqpUri, decoder: StreamDecoder) -> None:
        self.uri = uri
        self.decoder = decoder
        self.what = f"the source of stream {decoder.stream}"
        self.queue = uri.queue or ""
        self._connection: BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._cancelled: list[bool] = []  # the broker cancelled the consumer
        self._buffer: deque[_Delivery] = deque()
        # the protocol's commit points: checkpoints once position() or seek() was called
        # (Checkpointer.begin takes one before anything is read); else each batch
        self._checkpointed = False
        self._last_tag = 0  # the highest delivery tag yielded (or dropped) on this channel
        self._acked_tag = 0
        self._unacked: set[bytes] = set()  # keys of deliveries taken, not yet acked
        # keys that may come back redelivered: a checkpoint's (seek) or a lost channel's
        self._requeued: set[bytes] = set()
        self._rows: dict[str, int] = {}  # frys producer -> its last row taken
        self._retry_at = 0.0
        self._delay = _RETRY_MIN_SECONDS
        self._full_since: float | None = None
        self._warned_stall = False
        self._open()

    @property
    def display(self) -> str:
        return f"{self.uri.server}/{self.queue}"

    def _open(self, timeout: float | None = None) -> None:
        connection = connect(self.uri, self.what, timeout)
        try:
            channel = connection.channel()
            self.queue = declare(channel, self.uri, "source") or ""
            channel.basic_qos(prefetch_count=self.uri.prefetch)
            # the broker cancels a consumer whose queue is deleted: open again (declare)
            cancelled: list[bool] = []
            channel.add_on_cancel_callback(lambda _frame: cancelled.append(True))
            channel.basic_consume(self.queue, self._on_message, auto_ack=False)
        except BaseException:
            if connection.is_open:
                connection.close()
            raise
        self._connection, self._channel = connection, channel
        self._last_tag = self._acked_tag = 0
        self._cancelled = cancelled

    def _on_message(self, channel: object, method: Any, properties: Any, body: bytes
                    ) -> None:
        self._buffer.append(_Delivery(method.delivery_tag, method.redelivered,
                                      properties.message_id, properties.app_id, body))

    def _pump(self) -> None:
        """What the socket holds now into the buffer (a few reads while it keeps coming,
        up to a prefetch window's worth); never waits."""
        assert self._connection is not None and self._channel is not None
        for _ in range(16):
            before = len(self._buffer)
            self._connection.process_data_events(time_limit=0)
            if not self._channel.is_open:
                raise ConnectionError("the broker closed the channel")
            if self._cancelled:
                raise ConnectionError("the broker cancelled the consumer (queue deleted?)")
            if len(self._buffer) == before or len(self._buffer) >= self.uri.prefetch:
                return

    def batches(self) -> Iterator[Batch]:
        from pika import exceptions

        while True:
            if self._connection is None:
                if time.monotonic() < self._retry_at:
                    yield IDLE
                    continue
                try:
                    self._open(timeout=0.001)  # one attempt: the job must not wait
                except ConnectorError as error:  # cannot reach it yet: keep trying
                    self._lost(error)
                    yield IDLE
                    continue
                self._delay = _RETRY_MIN_SECONDS
            try:
                if not self._checkpointed and self._last_tag > self._acked_tag:
                    self._acknowledge(confirm=False)  # the batch went through the job
                self._pump()
            except (exceptions.AMQPError, OSError) as error:
                self._lost(error)
                yield IDLE
                continue
            if not self._buffer:
                self._watch_stall()
                yield IDLE
                continue
            self._full_since = None
            batch = self._take()
            if batch is not None:
                yield batch

    def _take(self) -> tuple[pl.DataFrame, list[DeadLetter]] | None:
        """The buffered deliveries as a batch, without those already taken (None if every
        one was)."""
        payloads: list[bytes] = []
        positions: list[str] = []
        while self._buffer:
            delivery = self._buffer.popleft()
            self._last_tag = delivery.tag
            body = delivery.body
            if delivery.message_id is not None and self.uri.dedup:
                key = _key(delivery.message_id)
                known = key in self._unacked or key in self._requeued
                self._unacked.add(key)
                if not delivery.redelivered:
                    # requeued deliveries come before any fresh one: none is still to come
                    self._requeued.clear()
                if known:
                    continue
                if delivery.app_id == _APP_ID:
                    taken = self._frys_rows(delivery)
                    if taken is None:
                        continue
                    body = taken
            where = f"{self.display}@{delivery.tag}"
            if delivery.message_id is not None:
                where += f" message_id={delivery.message_id}"
            payloads.append(body)
            positions.append(where)
        if not payloads:
            return None
        return decode_messages(self.decoder, payloads, positions, self.uri.format,
                               self.uri.max_bytes)

    def _frys_rows(self, delivery: _Delivery) -> bytes | None:
        """A frys sink's message: None if a fresh copy of rows already taken (its producer
        published them again after a crash), else its body (an Arrow message that starts
        before the last row taken: only its new rows)."""
        assert delivery.message_id is not None
        match = _FRYS_ID.fullmatch(delivery.message_id)
        if match is None:
            return delivery.body
        producer, first = match.group(1), int(match.group(2))
        last = int(match.group(3) or first)
        taken = self._rows.get(producer, 0)
        # a redelivered message is ours to take unless its id is known (checked before):
        # a crashed competing consumer's may be older than rows taken since
        if not delivery.redelivered and last <= taken:
            return None
        self._rows.pop(producer, None)  # (re)inserted last: the least recent go first
        self._rows[producer] = max(taken, last)
        while len(self._rows) > _PRODUCERS_KEPT:
            del self._rows[next(iter(self._rows))]
        if delivery.redelivered or first > taken or self.uri.format != "arrow":
            return delivery.body
        return _arrow_rows_after(delivery.body, taken - first + 1)

    def _watch_stall(self) -> None:
        """Warn once when the prefetch window is full of deliveries waiting for a commit:
        the job waits for its next checkpoint."""
        if not self._checkpointed or self._last_tag - self._acked_tag < self.uri.prefetch:
            self._full_since = None
            return
        now = time.monotonic()
        if self._full_since is None:
            self._full_since = now
        elif now - self._full_since > _STALL_WARNING_SECONDS and not self._warned_stall:
            self._warned_stall = True
            warnings.warn(
                f"{self.display} (stream {self.decoder.stream}): all prefetch="
                f"{self.uri.prefetch} deliveries wait to be acknowledged at the next "
                "checkpoint, so RabbitMQ sends no more until then: take checkpoints more "
                "often (--checkpoint-every, --checkpoint-every-events below the prefetch) "
                "or raise prefetch (at most 65535)", RuntimeWarning, stacklevel=3)

    def _lost(self, error: BaseException) -> None:
        """The connection failed: the broker requeues every unacknowledged delivery, so
        those taken may come again (recognised by id); try again after a backoff."""
        warnings.warn(f"{self.display} (stream {self.decoder.stream}): lost the connection "
                      f"({error or type(error).__name__}); trying again in "
                      f"{self._delay:g}s", RuntimeWarning, stacklevel=3)
        self._requeued |= self._unacked
        self._unacked = set()
        self._buffer.clear()
        _close_quietly(self._connection)
        self._connection = self._channel = None
        self._last_tag = self._acked_tag = 0
        self._retry_at = time.monotonic() + self._delay
        self._delay = min(self._delay * 2, _RETRY_MAX_SECONDS)

    def _acknowledge(self, confirm: bool) -> None:
        assert self._channel is not None
        self._channel.basic_ack(self._last_tag, multiple=True)
        if confirm:
            # a reply to a later request on the channel: the broker has handled the ack
            self._channel.basic_qos(prefetch_count=self.uri.prefetch)
        self._acked_tag = self._last_tag
        self._unacked.clear()

    def position(self) -> dict[str, object]:
        """The keys of the message ids taken and not known to be acknowledged, and the last
        row taken of each frys producer."""
        self._checkpointed = True
        return {"unacked": _pack(self._unacked | self._requeued), "rows": dict(self._rows)}

    def seek(self, position: object) -> None:
        """A resumed job: the deliveries its checkpoint did not see acknowledged come again
        redelivered (or were acknowledged just after it); those are dropped by id."""
        self._checkpointed = True
        if position is None:
            return
        try:
            if not (isinstance(position, dict) and set(position) == {"unacked", "rows"}):
                raise ValueError("not a dict of unacked and rows")
            requeued = _unpack(position["unacked"])
            rows = position["rows"]
            if not (isinstance(rows, dict) and all(
                    isinstance(k, str) and type(v) is int for k, v in rows.items())):
                raise ValueError("rows is not a dict of producer to row")
        except (ValueError, TypeError) as error:
            raise ConnectorError(f"cannot resume the source {self.display} (stream "
                                 f"{self.decoder.stream}): {position!r:.200} is not a "
                                 f"position of an amqp: source ({error})") from None
        self._requeued |= requeued
        self._rows = dict(rows)

    def commit(self) -> None:
        """Acknowledge every delivery yielded so far. A connection lost here keeps their
        ids for the next position (the broker redelivers them: they are dropped)."""
        from pika import exceptions

        if self._connection is None or self._last_tag <= self._acked_tag:
            return
        try:
            self._acknowledge(confirm=True)
        except (exceptions.AMQPError, OSError) as error:
            self._lost(error)

    def close(self) -> None:
        _close_quietly(self._connection)
        self._connection = self._channel = None


def _arrow_rows_after(body: bytes, skip: int) -> bytes:
    """An Arrow IPC stream without its first `skip` rows (a message partly taken already)."""
    import pyarrow as pa

    try:
        with pa.ipc.open_stream(pa.py_buffer(body)) as reader:
            table = reader.read_all()
        out = pa.BufferOutputStream()
        with pa.ipc.new_stream(out, table.schema) as writer:
            writer.write_table(table.slice(skip))
        return out.getvalue().to_pybytes()
    except (pa.ArrowException, OSError):
        return body


# ------------------------------------------------------------------ the sink

class RabbitMQSink:
    """A job sink (registry.Sink) publishing each row (format json or msgpack) or each
    slice of a batch (arrow) as a persistent message, with publisher confirms.

    Publishing is pipelined: messages go out without waiting for each confirm (pika's
    channel underneath the blocking one, whose basic_publish would wait for each), and
    the sink waits once `_UNCONFIRMED_WINDOW` are unconfirmed and at `pre_commit`, which
    returns only when the broker has confirmed every message (written to disk, for
    persistent messages to durable queues). A message the broker returns (mandatory, no
    queue bound) or nacks fails the job with ConnectorError. A lost connection is
    reopened (with backoff, up to connect_timeout) and the unconfirmed messages are
    published again: RabbitMQ may then hold some twice, with the same message_id.

    Message ids: `<job>/<stream>@<epoch>/<row>` (an Arrow message: `/<first>-<last>`),
    app_id "frys"; `epoch` is chosen when the sink first opens (ms since 1970), rows count
    from 1, and both are its recovery state `{"producer": ..., "rows": n}`. A resumed job
    publishes the rows after its checkpoint again under the same ids, which a frys source
    drops (RabbitMQSource)."""

    def __init__(self, uri: AmqpUri, job_name: str, stream: str) -> None:
        self.uri = uri
        self.stream = stream
        self.what = f"the sink of stream {stream}"
        self.producer = f"{job_name}/{stream}@{time.time_ns() // 1_000_000}"
        self.rows = 0
        self.exchange = uri.exchange or ""
        # the routing key: the queue's name through the default exchange
        self.routing_key = uri.routing_key if uri.exchange is not None else uri.queue or ""
        # published, not yet confirmed, in publish order: (sequence number, body, properties)
        self._unconfirmed: deque[tuple[int, bytes, pika.BasicProperties]] = deque()
        self._confirmed_through = 0  # every sequence number up to it is confirmed
        self._confirmed_singly: set[int] = set()  # and these (acks without multiple)
        self._published = 0  # this channel's publish sequence number (confirms count it)
        self._outbox: deque[tuple[bytes, str]] = deque()  # written, not yet published
        self._refused: list[str] = []
        self._channel_closed: str | None = None
        self._connection: BlockingConnection | None = None
        self._open()

    def _open(self) -> None:
        connection = connect(self.uri, self.what)
        try:
            channel = connection.channel()
            declare(channel, self.uri, "sink")
            # pika's asynchronous channel under the blocking one: its confirm mode calls
            # back per ack instead of blocking each publish until its confirm
            impl = channel._impl
            selected: list[bool] = []
            impl.confirm_delivery(ack_nack_callback=self._on_confirm,
                                  callback=lambda _frame: selected.append(True))
            impl.add_on_return_callback(self._on_return)
            impl.add_on_close_callback(self._on_channel_closed)
            deadline = time.monotonic() + self.uri.connect_timeout
            while not selected:
                if time.monotonic() > deadline:
                    raise ConnectorError(f"{self.uri.display}: the broker did not turn on "
                                         "publisher confirms")
                connection.process_data_events(time_limit=0.05)
        except BaseException:
            if connection.is_open:
                connection.close()
            raise
        self._connection, self._impl = connection, impl
        self._published = self._confirmed_through = 0
        self._confirmed_singly.clear()
        self._channel_closed = None

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        if type(method).__name__ == "Nack":
            self._refused.append(f"the broker refused message number {method.delivery_tag} "
                                 "(basic.nack: an internal error of the queue)")
        if method.multiple:
            self._confirmed_through = max(self._confirmed_through, method.delivery_tag)
        else:
            self._confirmed_singly.add(method.delivery_tag)
        pending = self._unconfirmed
        while pending and (pending[0][0] <= self._confirmed_through
                           or pending[0][0] in self._confirmed_singly):
            self._confirmed_singly.discard(pending.popleft()[0])

    def _on_return(self, channel: object, method: Any, properties: Any, body: bytes
                   ) -> None:
        self._refused.append(f"message {properties.message_id} was returned: "
                             f"{method.reply_code} {method.reply_text} (exchange "
                             f"{method.exchange!r}, routing key {method.routing_key!r})")

    def _on_channel_closed(self, channel: object, reason: Exception) -> None:
        self._channel_closed = str(reason)

    def _properties(self, message_id: str) -> pika.BasicProperties:
        import pika

        return pika.BasicProperties(message_id=message_id, app_id=_APP_ID,
                                    content_type=_CONTENT_TYPES[self.uri.format],
                                    delivery_mode=2 if self.uri.persistent else 1)

    def _publish(self, body: bytes, properties: pika.BasicProperties) -> None:
        self._published += 1
        self._unconfirmed.append((self._published, body, properties))
        self._impl.basic_publish(self.exchange, self.routing_key, body, properties,
                                 mandatory=self.uri.mandatory)

    def write(self, batch: pl.DataFrame) -> None:
        if batch.height == 0:
            return
        encoded = encode_messages(batch, self.uri.format)
        messages = [payload for payload, _ in encoded]
        if self.uri.format == "arrow":
            ids, start = [], self.rows
            for _, rows in encoded:
                ids.append(f"{self.producer}/{start + 1}-{start + rows}")
                start += rows
        else:
            ids = [f"{self.producer}/{self.rows + n}" for n in range(1, len(messages) + 1)]
        self.rows += batch.height
        self._outbox.extend(zip(messages, ids, strict=True))
        self._guarded(_UNCONFIRMED_WINDOW)

    def _send(self, most: int) -> None:
        """Publish the outbox, then wait until at most `most` messages are unconfirmed;
        raises what the broker refused. Idempotent: a message leaves the outbox once it is
        published (then `_unconfirmed` holds it)."""
        assert self._connection is not None
        while self._outbox:
            body, message_id = self._outbox[0]
            self._publish(body, self._properties(message_id))
            self._outbox.popleft()
            if self._published % 1000 == 0:
                self._connection.process_data_events(time_limit=0)  # out, and confirms in
                self._wait(_UNCONFIRMED_WINDOW)
        self._connection.process_data_events(time_limit=0)
        self._wait(most)

    def _wait(self, most: int) -> None:
        assert self._connection is not None
        while True:
            if self._refused:
                raise ConnectorError(f"{self.uri.display} (stream {self.stream}): "
                                     f"{self._refused[0]}"
                                     + (" (mandatory=false lets the broker drop messages "
                                        "no queue takes)" if "returned" in self._refused[0]
                                        else ""))
            if self._channel_closed is not None:
                raise ConnectorError(f"{self.uri.display} (stream {self.stream}): the "
                                     f"broker closed the channel: {self._channel_closed}")
            if len(self._unconfirmed) <= most:
                return
            self._connection.process_data_events(time_limit=0.05)

    def _guarded(self, most: int) -> None:
        """`_send(most)`; on a lost connection: reconnect, publish what is unconfirmed
        again (in order) and go on, until it goes through; ConnectorError when the broker
        cannot be reached for connect_timeout, or after _RECONNECTS_AT_MOST reconnects in
        one call (a broker that keeps dropping the connection)."""
        from pika import exceptions

        for _ in range(_RECONNECTS_AT_MOST):
            try:
                self._send(most)
                return
            except (exceptions.AMQPConnectionError, exceptions.ConnectionWrongStateError,
                    OSError) as error:
                lost = error
            warnings.warn(f"{self.uri.display} (stream {self.stream}): lost the connection "
                          f"({lost or type(lost).__name__}); reconnecting and publishing "
                          f"{len(self._unconfirmed)} unconfirmed messages again",
                          RuntimeWarning, stacklevel=3)
            self.abort()
            pending = [(body, properties) for seq, body, properties in self._unconfirmed
                       if seq not in self._confirmed_singly]
            self._unconfirmed.clear()
            self._open()  # ConnectorError once connect_timeout has passed
            for body, properties in pending:
                self._publish(body, properties)
        raise ConnectorError(f"{self.uri.display} (stream {self.stream}): the connection "
                             f"was lost {_RECONNECTS_AT_MOST} times in a row while "
                             f"publishing")

    def pre_commit(self, checkpoint_id: int) -> dict[str, object]:
        """Every message written so far is confirmed by the broker."""
        self._guarded(0)
        return {"producer": self.producer, "rows": self.rows}

    def commit(self, checkpoint_id: int) -> None:
        """Published already: the messages are in their queues since they were confirmed."""

    def recover(self, state: object) -> None:
        if state is None:
            return
        if not (isinstance(state, dict) and set(state) == {"producer", "rows"}
                and isinstance(state["producer"], str) and type(state["rows"]) is int
                and state["rows"] >= 0):
            raise ConnectorError(f"cannot recover the RabbitMQ sink {self.uri.display}: "
                                 f"{state!r:.200} is not the recovery state of an amqp: sink")
        self.producer, self.rows = state["producer"], state["rows"]

    def abort(self) -> None:
        _close_quietly(self._connection)
        self._connection = None

    def close(self) -> None:
        self.abort()


# ------------------------------------------------------------------ the amqp: connector

def _open_source(uri: str, context: SourceContext) -> RabbitMQSource:
    return RabbitMQSource(AmqpUri.parse(uri, "source"), context.decoder)


def _open_sink(uri: str, context: SinkContext) -> RabbitMQSink:
    return RabbitMQSink(AmqpUri.parse(uri, "sink"), context.job_name, context.stream_name)


AMQP_CONNECTOR = Connector("amqp", _check, _open_source, _open_sink)
