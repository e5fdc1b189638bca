"""The `nats:` connector: a NATS JetStream stream as a job's source (a durable pull consumer)
or sink (JetStream publish with message ids).

URI: ``nats://host[:port]/<subject>?stream=S[&options]`` (port 4222 by default; the subject
is the path, percent-encoded if need be; a source's may hold wildcards, ``orders.*`` or
``orders.>``). ``stream=S`` names the JetStream stream and is required: if it does not exist,
opening creates it, capturing the URI's subject (file storage, the server's defaults
otherwise), so a job can start before anything was published; a stream that exists must
capture the subject already (the server refuses a consumer or a publish otherwise, and
the error says so). Options (docs/connectors.md has the table): a source's ``durable=D``
(default ``<job>_<frys stream>``), ``deliver=all|new|by_start_time`` with ``start_time=``
ISO-8601 (where a consumer this source creates starts), ``batch=N`` (messages per pull
request and per batch of the job, default 5000), ``ack_wait=S`` (default 1800); both's
``format=json|msgpack|arrow`` (connectors/payloads.py), ``max_bytes=N`` (a source's larger
messages are dead letters), ``connect_timeout=S`` (how long opening keeps trying, 10 s).

nats-py is asyncio only: each source and sink runs one event loop in a thread of its own
(`_LoopThread`) and calls into it with `asyncio.run_coroutine_threadsafe`; closing closes
the connection, ends the thread and the loop, and leaves no task pending.

Guarantees of the source (JetStreamSource): exactly-once into the job's state with
checkpoints, at-least-once without. Messages are acked (AckExplicit) only at `commit()`,
after the checkpoint that covers them, and the commit waits until JetStream has answered
each ack (acks sent with a reply subject), so what it acked is durable when it returns.
The source is the durable consumer's only reader, and it keeps the consumer's delivery in
stream order: opening recreates the consumer at the message after its ack floor (the
pending messages of a crashed run come again now, not after ack_wait, and before newer
ones); `seek` recreates it after the checkpoint's stream sequence (what the checkpoint
holds is not read again, whatever was acked); a connection lost or messages dropped
recreate it after the last committed message. A message delivered again with a stream
sequence at or below the last one yielded (ack_wait passed while the job held it, or
after such a rewind) is acked at the next commit and not yielded again. So ack_wait bounds
nothing but traffic: it is long by default so that a message held between two checkpoints
is rarely sent twice. Streams with interest retention are refused (deleting the consumer
to recreate it would delete its unacked messages).

Guarantees of the sink (JetStreamSink): each message carries ``Nats-Msg-Id:
<job>/<frys stream>/<base>/<row>`` (``base`` fixed when the sink first opens, ``row`` the
last row the message holds), and `write` returns once JetStream has acknowledged every
message (PubAck), re-sending the unacknowledged ones (same ids: JetStream drops a second
copy within the stream's duplicate window) while NATS is away, for up to connect_timeout
without progress. After a crash, `recover` reads the last message on the subject: rows up
to the row of its id are skipped, so the stream holds each row once whatever the duplicate
window, provided the sink is the subject's only writer; a message of another writer there
leaves only the duplicate window (2 minutes by default) to drop the replayed rows.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import re
import sys
import threading
import time
import warnings
from collections.abc import Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote

import msgspec
import polars as pl

from frys.connectors.decode import DeadLetter, StreamDecoder
from frys.connectors.payloads import (
    DEFAULT_MAX_BYTES,
    UriOptionError,
    UriOptions,
    connect_with_backoff,
    decode_messages,
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
    from nats.aio.client import Client as NatsClient
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription
    from nats.js.client import JetStreamContext

    from frys.connectors.nats_jetstream_sink import JetStreamSink
    from frys.connectors.registry import Batch

T = TypeVar("T")

DEFAULT_PORT = 4222
DEFAULT_BATCH = 5000
DEFAULT_ACK_WAIT = 1800.0
_SOURCE_OPTIONS = ("durable", "deliver", "start_time", "batch", "ack_wait")
_COMMON_OPTIONS = ("stream", "format", "max_bytes", "connect_timeout")
_DELIVER = ("all", "new", "by_start_time")
# what NATS refuses in stream and consumer names
_NAME_INVALID = re.compile(r"[\s.*>/\\]")
# how long one lingering pull waits on the server for messages
_FETCH_SECONDS = 0.5
# a lost connection or a failed rewind is tried again after this long, doubling to the cap
_RETRY_MIN_SECONDS, _RETRY_MAX_SECONDS = 0.05, 2.0
# how long the sink waits for PubAcks before sending the unacknowledged messages again
_PUBACK_SECONDS = 2.0


class _Refused(Exception):
    """JetStream's refusal of a message (not a moment's unavailability): the job stops."""


class NatsUriError(ValueError):
    """A `nats:` URI that cannot be used, with what is wrong."""


@dataclass(frozen=True)
class NatsUri:
    host: str
    port: int
    subject: str
    stream: str
    durable: str | None = None
    deliver: str = "all"
    start_time: datetime | None = None
    batch: int = DEFAULT_BATCH
    ack_wait: float = DEFAULT_ACK_WAIT
    format: str = "json"
    max_bytes: int = DEFAULT_MAX_BYTES
    connect_timeout: float = 10.0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def display(self) -> str:
        return f"nats://{self.address}/{self.subject}"

    @staticmethod
    def parse(uri: str, role: Role) -> NatsUri:
        """Raises NatsUriError naming the problem (unknown options with a did-you-mean)."""
        try:
            parts, host, port = split_server_uri(
                uri, "nats", "'nats://localhost:4222/orders.>?stream=ORDERS'")
        except UriOptionError as error:
            raise NatsUriError(str(error)) from None
        subject = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
        if not subject:
            raise NatsUriError(f"{uri!r} names no subject; the subject is the path, e.g. "
                               "'nats://localhost:4222/orders.>?stream=ORDERS'")
        tokens = subject.split(".")
        if any(not token or re.search(r"\s", token) for token in tokens) or any(
                ("*" in t and t != "*") or (">" in t and t != ">") for t in tokens) \
                or ">" in tokens[:-1]:
            raise NatsUriError(f"{subject!r} is not a NATS subject in {uri!r}: dot-separated "
                               "tokens without spaces; '*' a whole token, '>' the last one")
        if role == "sink" and ("*" in tokens or ">" in tokens):
            raise NatsUriError(f"a nats: sink publishes to one subject: no wildcards in "
                               f"{subject!r} ({uri!r})")
        try:
            options = UriOptions(uri, parts.query, "nats", role, source=_SOURCE_OPTIONS,
                                 common=_COMMON_OPTIONS)
            stream = options.text("stream")
            if stream is None:
                raise NatsUriError(f"a nats: URI needs the JetStream stream: add "
                                   f"'stream=NAME' to {uri!r} (created if missing)")
            durable = options.text("durable")
            for what, name in (("stream", stream), ("durable", durable)):
                if name is not None and _NAME_INVALID.search(name):
                    raise NatsUriError(f"{what} {name!r} in {uri!r}: NATS names cannot "
                                       "hold spaces, '.', '*', '>', '/' or '\\'")
            deliver = options.choice("deliver", _DELIVER, "all")
            start_text = options.text("start_time")
            start_time = None
            if (start_text is None) != (deliver != "by_start_time"):
                raise NatsUriError(f"deliver=by_start_time and start_time=<ISO-8601> go "
                                   f"together in {uri!r}")
            if start_text is not None:
                try:
                    start_time = datetime.fromisoformat(start_text.replace("Z", "+00:00"))
                except ValueError:
                    raise NatsUriError(f"start_time must be an ISO-8601 time like "
                                       f"2024-01-01T00:00:00Z in {uri!r}, not "
                                       f"{start_text!r}") from None
                if start_time.tzinfo is None:  # no offset means UTC, as in the decoder
                    start_time = start_time.replace(tzinfo=UTC)
            return NatsUri(
                host, port or DEFAULT_PORT, subject, stream, durable, deliver, start_time,
                options.positive_int("batch", DEFAULT_BATCH, 100_000) or DEFAULT_BATCH,
                options.seconds("ack_wait", DEFAULT_ACK_WAIT, 7 * 86400),
                options.encoding(),
                options.positive_int("max_bytes", DEFAULT_MAX_BYTES) or DEFAULT_MAX_BYTES,
                options.seconds("connect_timeout", 10.0))
        except UriOptionError as error:
            raise NatsUriError(str(error)) from None


def _check(uri: str, role: Role) -> UriProblem | None:
    try:
        NatsUri.parse(uri, role)
    except NatsUriError as error:
        return UriProblem.error(str(error))
    return None


# ------------------------------------------------------------------ the event loop

class _LoopThread:
    """One asyncio event loop running in a thread of its own, for nats-py (asyncio only)
    behind a connector's synchronous methods."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """The coroutine's result; after `timeout` seconds it is cancelled and
        TimeoutError raised."""
        future = self.submit(coroutine)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout:g}s") from None

    def close(self, client: NatsClient | None) -> None:
        """Close `client`, cancel what still runs, stop the loop and end the thread."""
        if not self.thread.is_alive():
            return

        async def finish() -> None:
            if client is not None and not client.is_closed:
                # closing what is broken already: nothing to keep
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.close(), 5)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(finish(), 10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            if not self.thread.is_alive():
                self.loop.close()


@dataclass
class _Link:
    """What the connection's callbacks tell the connector's thread: `lost` counts the
    times messages may have been lost (a disconnection, messages dropped as a slow
    consumer); `notes` what to warn about."""

    lost: int = 0
    notes: list[str] | None = None

    def note(self, text: str) -> None:
        if self.notes is None:
            self.notes = []
        self.notes.append(text)


def connect(uri: NatsUri, what: str, loop: _LoopThread, link: _Link) -> NatsClient:
    """A client of `uri`'s server, tried with backoff for up to connect_timeout seconds;
    ConnectorError naming host:port otherwise. Once connected, nats-py reconnects by
    itself, without end; each disconnection is counted in `link.lost`."""
    import nats
    import nats.errors

    async def on_error(error: Exception) -> None:
        if isinstance(error, nats.errors.SlowConsumerError):
            link.lost += 1
            link.note(f"messages dropped as a slow consumer ({error})")

    async def on_disconnect() -> None:
        link.lost += 1

    async def on_reconnect() -> None:
        link.lost += 1

    async def attempt() -> NatsClient:
        # two tries per attempt (connect_with_backoff paces the attempts): with no bound
        # nats-py would keep trying the first connection for ever
        client = await nats.connect(
            servers=[f"nats://{uri.address}"], name=f"frys {what}",
            connect_timeout=max(1, min(2, int(uri.connect_timeout))),
            allow_reconnect=True, max_reconnect_attempts=1, reconnect_time_wait=0.05,
            error_cb=on_error, disconnected_cb=on_disconnect, reconnected_cb=on_reconnect)
        client.options["max_reconnect_attempts"] = -1  # from now on: without end
        client.options["reconnect_time_wait"] = 0.25
        return client

    def attempt_once() -> NatsClient:
        return loop.run(attempt(), uri.connect_timeout + 5)

    return connect_with_backoff(
        attempt_once, timeout=uri.connect_timeout, what=f"NATS at {uri.address} for {what}",
        errors=(OSError, TimeoutError, nats.errors.Error))


async def _ensure_stream(js: JetStreamContext, uri: NatsUri) -> Any:
    """The stream's info, the stream created first (capturing the URI's subject) if it is
    missing."""
    import nats.js.errors

    try:
        return await js.stream_info(uri.stream)
    except nats.js.errors.NotFoundError:
        pass
    try:
        return await js.add_stream(name=uri.stream, subjects=[uri.subject])
    except nats.js.errors.APIError as error:
        raise ConnectorError(f"cannot create the JetStream stream {uri.stream} for "
                             f"{uri.display}: {error.description or error}") from None


class _Answered:
    """Messages published with the reply subject ``<inbox>.<round>.<key>`` (one wildcard
    subscription for the connector's life), and the answers that come back: the sink's
    PubAcks, the answers to the source's acks."""

    def __init__(self) -> None:
        self.inbox = ""
        self.subscription: Subscription | None = None
        self.round = 0
        self.answers: dict[int, Msg] = {}
        self.expected = sys.maxsize
        self.all_in = asyncio.Event()

    async def exchange(self, client: NatsClient,
                       messages: Iterable[tuple[int, str, bytes, dict[str, str] | None]]
                       ) -> dict[int, Msg]:
        """Publish each (key, subject, payload, headers); wait until each is answered or
        none was for _PUBACK_SECONDS; the answers by key. A publish that fails (NATS away
        and the reconnect buffer full) ends the sending: the rest have no answer."""
        if self.subscription is None:
            self.inbox = client.new_inbox()
            self.subscription = await client.subscribe(f"{self.inbox}.*.*", cb=self._take)
        self.round += 1
        self.answers, self.expected, self.all_in = {}, sys.maxsize, asyncio.Event()
        sent = 0
        for key, subject, payload, headers in messages:
            try:
                await client.publish(subject, payload, headers=headers,
                                     reply=f"{self.inbox}.{self.round}.{key}")
            except Exception:
                break
            sent += 1
        self.expected = sent
        heard = -1
        while len(self.answers) < sent and heard != len(self.answers):
            heard = len(self.answers)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.all_in.wait(), _PUBACK_SECONDS)
        return dict(self.answers)

    async def _take(self, message: Msg) -> None:
        _, answer_round, key = message.subject.rsplit(".", 2)
        if int(answer_round) == self.round:  # not a late answer to an earlier round
            self.answers[int(key)] = message
            if len(self.answers) >= self.expected:
                self.all_in.set()


# ------------------------------------------------------------------ the source

class _Arrivals:
    """What the pull requests of one consumer generation bring, gathered by the inbox
    subscription's callback on the event loop: messages, and the end of the current
    request (its batch complete, or a status: 404 no messages, 408 expired, 409 ...)."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.messages: list[Msg] = []
        self.finished = asyncio.Event()
        self.wanted = 0
        self.problem = ""

    def open(self, batch: int) -> None:
        self.wanted = batch
        self.finished.clear()

    async def take(self, message: Msg) -> None:
        status = message.headers.get("Status") if message.headers else None
        if status is None:
            self.messages.append(message)
            self.wanted -= 1
            if self.wanted <= 0:
                self.finished.set()
        elif status != "100":  # 100: a heartbeat
            if status == "409" and "Deleted" in (message.headers or {}).get(
                    "Description", ""):
                self.problem = f"the consumer was deleted ({status} {message.headers})"
            self.finished.set()


def _stream_sequence(message: Msg) -> int:
    """The stream sequence in the message's ack subject (what `Msg.metadata` parses, at a
    tenth of its cost): ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer
    seq>.<time>.<pending>``, or with a domain and an account hash after ``$JS.ACK`` and a
    token at the end."""
    tokens = message.reply.split(".")
    return int(tokens[5] if len(tokens) == 9 else tokens[7])


class JetStreamSource:
    """A job source (registry.Source) reading the JetStream stream of a `nats:` URI through
    a durable pull consumer filtered by its subject.

    Its position is the stream sequence of the last message yielded (an int; before any,
    the sequence the consumer starts after). A task of the source's event loop pulls
    `batch` messages at a time (requests lingering half a second on the server) while
    fewer than two batches wait; `batches()` takes up to `batch` of what has arrived
    without waiting, decoded as one chunk, and yields IDLE when nothing has.
    `commit()` acks every message yielded so far. See the module docstring for the
    consumer's recreations and the guarantees."""

    growing = True

    def __init__(self, uri: NatsUri, decoder: StreamDecoder, durable: str) -> None:
        self.uri = uri
        self.decoder = decoder
        self.display = uri.display
        self.durable = uri.durable or _NAME_INVALID.sub("_", durable)
        self.link = _Link()
        self.loop = _LoopThread(f"frys-nats-source-{decoder.stream}")
        self.client: NatsClient | None = None
        try:
            self.client = connect(uri, f"the source of stream {decoder.stream}", self.loop,
                                  self.link)
            self.js = self.client.jetstream()
            self._last = self.loop.run(self._open_consumer(), uri.connect_timeout + 10)
        except BaseException:
            self.loop.close(self.client)
            raise
        self._committed = self._last  # the consumer is recreated after this when a rewind
        # stream sequence -> (consumer generation, the reply subject that acks it)
        self._unacked: dict[int, tuple[int, str]] = {}
        # acks go with a reply subject: JetStream answers once it has taken each (a double
        # ack), so a commit knows they are durable
        self._ack_answers = _Answered()
        # (consumer generation, messages) pulled, for the job's thread
        self._fetched: queue.Queue[tuple[int, list[Msg]]] = queue.Queue()
        # bumped by the job's thread to ask for a rewind; the puller tags what it fetches
        # with the value it recreated the consumer for, and only the wanted one is taken
        self._wanted = 0
        self._seen_lost = 0
        self._puller: concurrent.futures.Future[None] | None = None
        self._arrived = _Arrivals(0)
        # messages the puller handed over and the job took (each written by one thread)
        self._delivered = 0
        self._taken = 0
        self._leftover: list[Msg] = []  # pulled, beyond the last batch yielded
        self._closing = False

    # --- the consumer, on the event loop

    async def _open_consumer(self) -> int:
        """Make the stream if missing, then (re)create the durable consumer after its ack
        floor; return the stream sequence it starts after."""
        import nats.js.errors

        info = await _ensure_stream(self.js, self.uri)
        if str(getattr(info.config.retention, "value", info.config.retention)) == "interest":
            raise ConnectorError(
                f"{self.display}: the JetStream stream {self.uri.stream} has interest "
                "retention, which deletes a consumer's unacked messages when the consumer is "
                "deleted; the nats: source recreates its consumer to read in order after a "
                "crash, so it reads streams with limits or workqueue retention")
        try:
            consumer = await self.js.consumer_info(self.uri.stream, self.durable)
        except nats.js.errors.NotFoundError:
            return await self._create_new_consumer(info)
        filtered = consumer.config.filter_subject
        if filtered != self.uri.subject:
            raise ConnectorError(
                f"{self.display}: the durable consumer {self.durable} of JetStream stream "
                f"{self.uri.stream} reads {filtered or 'the whole stream'!s}, not "
                f"{self.uri.subject}; name another with 'durable=NAME'")
        if not consumer.num_ack_pending and not consumer.num_redelivered:
            after = int(consumer.delivered.stream_seq or 0)
        elif consumer.ack_floor.consumer_seq:
            after = int(consumer.ack_floor.stream_seq or 0)
        elif consumer.config.opt_start_seq:  # ours: created at an explicit sequence
            after = int(consumer.config.opt_start_seq) - 1
        elif str(getattr(consumer.config.deliver_policy, "value", "")) == "all":
            after = 0
        else:
            raise ConnectorError(
                f"{self.display}: the durable consumer {self.durable} holds "
                f"{consumer.num_ack_pending} unacked messages and acked none, and was not "
                "made by frys: where they start is unknown; delete it or name another with "
                "'durable=NAME'")
        await self._recreate(after + 1)
        return after

    async def _create_new_consumer(self, info: Any) -> int:
        """The consumer made for the first time, at the sequence `deliver` says."""
        if self.uri.deliver == "new":
            start = int(info.state.last_seq) + 1
        elif self.uri.deliver == "by_start_time":
            start = await self._first_sequence_at(self.uri.start_time)
        else:
            start = 1
        await self._recreate(start)
        return start - 1

    async def _first_sequence_at(self, when: datetime | None) -> int:
        """The stream sequence of the first message on the subject at or after `when`: what
        an ephemeral consumer delivering by start time says it starts after, plus one."""
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        assert when is not None
        probe = await self.js.add_consumer(self.uri.stream, ConsumerConfig(
            filter_subject=self.uri.subject, deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=when.astimezone(UTC),
            ack_policy=AckPolicy.NONE, inactive_threshold=5.0))
        try:
            return int(probe.delivered.stream_seq or 0) + 1 if probe.delivered else 1
        finally:
            await self.js.delete_consumer(self.uri.stream, probe.name)

    async def _recreate(self, start: int) -> None:
        """The durable consumer deleted and made again to deliver from stream sequence
        `start` on: its pending messages come again now, in order."""
        import nats.js.errors
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        with contextlib.suppress(nats.js.errors.NotFoundError):
            await self.js.delete_consumer(self.uri.stream, self.durable)
        try:
            await self.js.add_consumer(self.uri.stream, ConsumerConfig(
                durable_name=self.durable, filter_subject=self.uri.subject,
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(1, start),
                ack_policy=AckPolicy.EXPLICIT, ack_wait=self.uri.ack_wait,
                max_ack_pending=-1, max_deliver=-1))
        except nats.js.errors.APIError as error:
            raise ConnectorError(f"{self.display} (JetStream stream {self.uri.stream}): "
                                 f"{error.description or error}") from None

    async def _pull(self) -> None:
        """Pull into `_fetched` until closed: one pull request of `batch` messages at a
        time (lingering up to _FETCH_SECONDS on the server), issued while fewer than two
        batches wait for the job; what has arrived is handed over every few ms. Recreate
        the consumer after the last commit when the job's thread asks (`_wanted`), and on
        any failure, after a backoff."""
        assert self.client is not None
        client = self.client
        delay = _RETRY_MIN_SECONDS
        subscription: Subscription | None = None
        generation = -1
        next_request = f"$JS.API.CONSUMER.MSG.NEXT.{self.uri.stream}.{self.durable}"
        request = msgspec.json.encode({"batch": self.uri.batch,
                                       "expires": int(_FETCH_SECONDS * 1e9)})
        while not self._closing:
            try:
                if generation != self._wanted:
                    wanted = self._wanted
                    if subscription is not None:
                        stale, subscription = subscription, None
                        # on a connection that is gone: nothing held there
                        with contextlib.suppress(Exception):
                            await stale.unsubscribe()
                    if generation != -1:  # the first consumer is made by open or seek
                        await self._recreate(self._committed + 1)
                    inbox = client.new_inbox()
                    self._arrived = _Arrivals(wanted)
                    subscription = await client.subscribe(inbox, cb=self._arrived.take)
                    generation = wanted
                arrivals = self._arrived
                if self._delivered - self._taken >= 2 * self.uri.batch:
                    await asyncio.sleep(0.002)  # the job is behind: no new request yet
                    continue
                arrivals.open(self.uri.batch)
                await client.publish(next_request, request, reply=inbox)
                deadline = time.monotonic() + _FETCH_SECONDS + 1.0  # a request lost
                while not arrivals.finished.is_set() and time.monotonic() < deadline:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(arrivals.finished.wait(), 0.005)
                    self._hand_over(arrivals)
                self._hand_over(arrivals)
                if arrivals.problem:
                    raise ConnectorError(arrivals.problem)
                delay = _RETRY_MIN_SECONDS
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.link.note(f"fetching failed ({type(error).__name__}: "
                               f"{error}); trying again in {delay:g}s")
                self.link.lost += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_SECONDS)
        if subscription is not None:
            await subscription.unsubscribe()

    def _hand_over(self, arrivals: _Arrivals) -> None:
        if arrivals.messages:
            messages, arrivals.messages = arrivals.messages, []
            self._delivered += len(messages)
            self._fetched.put_nowait((arrivals.generation, messages))

    # --- the job's side

    def batches(self) -> Iterator[Batch]:
        if self._puller is None:
            self._puller = self.loop.submit(self._pull())
        while True:
            self._warn()
            if self.link.lost != self._seen_lost:
                # messages in flight may be lost: recreate the consumer after the last
                # commit and take only what it delivers
                self._seen_lost = self.link.lost
                self._wanted += 1
                self._taken += len(self._leftover)  # dropped: counted as taken
                self._leftover = []
            if self._puller.done():
                self._puller.result()  # the task's failure, raised in the job
                raise ConnectorError(f"{self.display}: the fetching task ended")
            # what has been pulled, up to `batch` messages: one decode of a larger chunk
            messages, self._leftover = self._leftover, []
            while len(messages) < self.uri.batch:
                try:
                    generation, pulled = self._fetched.get_nowait()
                except queue.Empty:
                    break
                if generation == self._wanted:
                    messages.extend(pulled)
                else:  # delivered by a consumer recreated since: dropped
                    self._taken += len(pulled)
            if len(messages) > self.uri.batch:
                messages, self._leftover = (messages[:self.uri.batch],
                                            messages[self.uri.batch:])
            if not messages:
                yield IDLE
                continue
            self._taken += len(messages)
            batch = self._take(messages)
            if batch is not None:
                yield batch

    def _take(self, messages: Sequence[Msg]) -> tuple[pl.DataFrame, list[DeadLetter]] | None:
        payloads: list[bytes] = []
        positions: list[str] = []
        for message in messages:
            sequence = _stream_sequence(message)
            self._unacked[sequence] = (self._wanted, message.reply)
            if sequence <= self._last:
                continue  # delivered again: yielded already (acked at the next commit)
            self._last = sequence
            payloads.append(message.data)
            positions.append(f"{self.display}@{sequence}")
        if not payloads:
            return None
        return decode_messages(self.decoder, payloads, positions, self.uri.format,
                               self.uri.max_bytes)

    def _warn(self) -> None:
        notes, self.link.notes = self.link.notes, None
        for note in notes or ():
            warnings.warn(f"{self.display} (stream {self.decoder.stream}): {note}",
                          RuntimeWarning, stacklevel=3)

    def position(self) -> int:
        """The stream sequence of the last message yielded."""
        return self._last

    def seek(self, position: object) -> None:
        """Continue after stream sequence `position` (a resumed job): the consumer is made
        again to deliver from the next one, whatever it had acked."""
        if position is None:
            return
        if type(position) is not int or position < 0:
            raise ConnectorError(f"cannot resume the source {self.display} (stream "
                                 f"{self.decoder.stream}): {position!r} is not a position "
                                 "of a nats: source")

        async def rewind() -> None:
            info = await self.js.stream_info(self.uri.stream)
            last, first = int(info.state.last_seq), int(info.state.first_seq)
            if last < position:
                raise ConnectorError(
                    f"cannot resume the source {self.display}: the JetStream stream "
                    f"{self.uri.stream} ends at sequence {last}, before the checkpoint's "
                    f"{position} (deleted or recreated since)")
            if first > position + 1 and info.state.messages:
                raise ConnectorError(
                    f"cannot resume the source {self.display}: the JetStream stream "
                    f"{self.uri.stream} starts at sequence {first}; messages after the "
                    f"checkpoint's {position} were removed (limits or a purge)")
            await self._recreate(position + 1)

        self.loop.run(rewind(), self.uri.connect_timeout + 10)
        self._last = self._committed = position
        self._unacked.clear()

    def commit(self) -> None:
        """Ack every message yielded so far (and those delivered again), and wait until
        JetStream has taken each ack. Those it did not answer (NATS away) are acked at the
        next commit; a rewind meanwhile starts after the committed position anyway, and the
        replies of a consumer recreated since are dropped (it delivers those again)."""
        self._committed = self._last
        self._unacked = {sequence: entry for sequence, entry in self._unacked.items()
                         if entry[0] == self._wanted}
        if not self._unacked:
            return
        assert self.client is not None
        acks = [(sequence, reply, b"+ACK", None)
                for sequence, (_, reply) in self._unacked.items()]
        try:
            answered = self.loop.run(self._ack_answers.exchange(self.client, acks), 120)
        except Exception as error:
            answered = {}
            problem = f"{type(error).__name__}: {error}"
        else:
            problem = "no answer from NATS"
        for sequence in answered:
            del self._unacked[sequence]
        if self._unacked:
            warnings.warn(f"{self.display}: could not acknowledge {len(self._unacked)} "
                          f"messages ({problem}); trying again at the next commit",
                          RuntimeWarning, stacklevel=2)

    def close(self) -> None:
        self._closing = True
        if self._puller is not None:
            self._puller.cancel()
        self.loop.close(self.client)


# ------------------------------------------------------------------ the nats: connector

def _open_source(uri: str, context: SourceContext) -> JetStreamSource:
    parsed = NatsUri.parse(uri, "source")
    return JetStreamSource(parsed, context.decoder, f"{context.job_name}_{context.stream_name}")


def _open_sink(uri: str, context: SinkContext) -> JetStreamSink:
    from frys.connectors.nats_jetstream_sink import JetStreamSink

    return JetStreamSink(NatsUri.parse(uri, "sink"), context.job_name, context.stream_name)


NATS_CONNECTOR = Connector("nats", _check, _open_source, _open_sink)
