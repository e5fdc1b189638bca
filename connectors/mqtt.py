"""The `mqtt:` connector: an MQTT topic filter as a job's source (a QoS 1 subscription in a
persistent session) or an MQTT topic as its sink (publish at QoS 0 or 1).

URI: ``mqtt://[user[:password]@]host[:port]/<topic>[?options]`` (port 1883 by default). The
path is the topic, percent-decoded: a source's may hold the wildcards ``+`` (one level) and
``#`` (the rest, last), a sink's none. ``#`` is taken as written: in
``mqtt://host/sensors/#`` it is the wildcard, not the start of a URI fragment (``%23`` means
the same). Options:

* a source's: ``clean_session=true|false`` (default false: a persistent session, kept by
  the broker while the job is down), ``session_expiry=S`` (how long the broker keeps it
  while nobody is connected; default 7 days), ``inflight=N`` (the MQTT 5 Receive Maximum:
  messages delivered and not yet acknowledged, at most; default and most 65535),
  ``count=N`` (messages per batch, default 5000), ``max_bytes=N`` (a larger message is a
  dead letter; default 8 MiB);
* a sink's: ``retain=true|false`` (default false);
* both: ``qos=0|1`` (default 1), ``client_id=ID`` (a source's default: ``frys.<job>.<stream>``,
  stable, so a restarted job finds its session; a sink's: a new one each run),
  ``format=json|msgpack|arrow`` (connectors/payloads.py; default json),
  ``connect_timeout=S`` (how long opening keeps trying, with backoff; default 10 s),
  ``keepalive=S`` (default 60 s).

A message that does not fit the stream's schema (or is not JSON, msgpack or Arrow, or is
larger than max_bytes) is a dead letter positioned ``mqtt://host:port/<topic>@<n>``: the
message's own topic and its arrival number in the job (1, 2, ... across restarts).

Guarantees of the source (MqttSource): messages published at QoS 1 are processed exactly
once with checkpoints (and with the `file:`/`wal:` sinks, exactly once end to end), at
least once without. The broker keeps the session (the subscription, and the messages
published while the job is down) under a stable client id; the source sends each PUBACK
only when a checkpoint holding the message is written (or at the end of the run), so a
crash leaves them unacknowledged and the broker delivers them again (DUP) on reconnect.
Those the checkpoint already holds are recognised, acknowledged and dropped: MQTT
redelivers a message with its original packet id, so the position records, for each
message in the checkpoint whose PUBACK the broker has not yet confirmed (see `commit`), its
packet id and a 64-bit digest of its topic and payload. The one case it cannot tell apart:
a redelivery whose packet id the broker re-used, after processing our PUBACK, for a new
message with the very same topic and payload, in the instant between that PUBACK and its
confirmation; that message would be dropped. Messages published at QoS 0 are at most once.
A lost connection is retried by paho's network thread (1 s, doubling up to 8 s) while the
source says IDLE; what was unacknowledged is redelivered and de-duplicated the same way.

The broker bounds what it holds for the job: ``inflight`` messages delivered and not yet
acknowledged (backpressure: it sends no more until a checkpoint commits them), and beyond
those Mosquitto queues ``max_queued_messages`` (default 1000) per session and DROPS QoS 1
messages past it. A job must checkpoint before ``inflight`` messages arrive (the source
warns when the window is full), and a broker that must keep a long outage's messages needs
a larger ``max_queued_messages`` (0: no limit) in mosquitto.conf.

Guarantees of the sink (MqttSink): at least once. Each row (json, msgpack) or Arrow chunk is
one PUBLISH; `pre_commit` waits for every PUBACK (QoS 1) before the checkpoint is
written, so what a checkpoint covers has reached the broker. MQTT has no way to read back
or de-duplicate what was published: after a crash the resumed job publishes the rows after
its checkpoint again, and subscribers may receive those twice.
"""

from __future__ import annotations

import base64
import hashlib
import queue
import struct
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import polars as pl

from frys.connectors.decode import DeadLetter, StreamDecoder
from frys.connectors.payloads import (
    DEFAULT_MAX_BYTES,
    UriOptionError,
    UriOptions,
    connect_with_backoff,
    decode_messages,
    encode_batch,
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
    import paho.mqtt.client as paho

    from frys.connectors.registry import Batch

DEFAULT_PORT = 1883
_SOURCE_OPTIONS = {"clean_session", "session_expiry", "inflight", "count", "max_bytes"}
_SINK_OPTIONS = {"retain"}
_COMMON_OPTIONS = {"qos", "client_id", "format", "connect_timeout", "keepalive"}
_MAX_SESSION_EXPIRY = 0xFFFFFFFF  # MQTT 5: the session never expires
# messages of a QoS 0 flood queued between paho's thread and the job, at most; QoS 1
# deliveries are bounded by `inflight` already
_QUEUE_LIMIT = 100_000
# how long a commit waits for the broker to confirm its PUBACKs (see MqttSource.commit)
_CONFIRM_WAIT_SECONDS = 2.0
# a sink's unconfirmed publishes, at most: `write` waits for the broker beyond this
_SINK_OUTSTANDING = 20_000
_ENTRY = struct.Struct(">H8s")  # a position's entry: packet id, digest


class MqttUriError(ValueError):
    """An `mqtt:` URI that cannot be used, with what is wrong."""


def _topic_problem(topic: str, wildcards: bool) -> str | None:
    """Why `topic` is not a valid MQTT topic (filter, if `wildcards`), or None."""
    if not topic:
        return "names no topic; the topic is the path, e.g. 'mqtt://localhost:1883/sensors/#'"
    if "\0" in topic or len(topic.encode()) > 65535:
        return f"topic {topic!r} is not a valid MQTT topic (a NUL, or over 65535 bytes)"
    levels = topic.split("/")
    for index, level in enumerate(levels):
        if ("+" in level or "#" in level) and not wildcards:
            return (f"topic {topic!r} has a wildcard (+ or #); a sink publishes to one "
                    "topic")
        if "+" in level and level != "+":
            return f"'+' must be a whole level of the topic filter {topic!r}"
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return f"'#' must be the whole last level of the topic filter {topic!r}"
    return None


@dataclass(frozen=True)
class MqttUri:
    host: str
    port: int
    topic: str
    username: str | None = None
    password: str | None = None
    qos: int = 1
    client_id: str | None = None
    clean_session: bool = False
    session_expiry: int = 7 * 86400
    inflight: int = 65535
    count: int = 5000
    max_bytes: int = DEFAULT_MAX_BYTES
    retain: bool = False
    format: str = "json"
    connect_timeout: float = 10.0
    keepalive: int = 60

    @property
    def display(self) -> str:
        return f"mqtt://{self.host}:{self.port}/{self.topic}"

    @staticmethod
    def parse(uri: str, role: Role) -> MqttUri:
        """Raises MqttUriError naming the problem (unknown options with a did-you-mean)."""
        try:
            # '#' is a topic wildcard here, never a fragment: read it as the literal it is
            parts, host, port = split_server_uri(uri, "mqtt", "'mqtt://localhost:1883/sensors/#'",
                                                 article="an", text=uri.replace("#", "%23"))
        except UriOptionError as error:
            raise MqttUriError(str(error)) from None
        topic = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
        problem = _topic_problem(topic, wildcards=role == "source")
        if problem is not None:
            raise MqttUriError(f"{uri!r}: {problem}")
        try:
            options = UriOptions(uri, parts.query, "mqtt", role, source=_SOURCE_OPTIONS,
                                 sink=_SINK_OPTIONS, common=_COMMON_OPTIONS)
            qos = int(options.choice("qos", ("0", "1"), "1"))
            return MqttUri(
                host, port or DEFAULT_PORT, topic,
                unquote(parts.username) if parts.username is not None else None,
                unquote(parts.password) if parts.password is not None else None,
                qos, options.text("client_id"), options.boolean("clean_session", False),
                int(options.seconds("session_expiry", 7 * 86400, _MAX_SESSION_EXPIRY)),
                options.positive_int("inflight", 65535, 65535) or 65535,
                options.positive_int("count", 5000, 100_000) or 5000,
                options.positive_int("max_bytes", DEFAULT_MAX_BYTES) or DEFAULT_MAX_BYTES,
                options.boolean("retain", False), options.encoding(),
                options.seconds("connect_timeout", 10.0),
                int(options.seconds("keepalive", 60, 65535)))
        except UriOptionError as error:
            if "qos must be" in str(error):
                raise MqttUriError(f"{error} (QoS 2 adds nothing here: a job's exactly-once "
                                   "comes from its checkpoints)") from None
            raise MqttUriError(str(error)) from None


def _check(uri: str, role: Role) -> UriProblem | None:
    try:
        MqttUri.parse(uri, role)
    except MqttUriError as error:
        return UriProblem.error(str(error))
    return None


def connect(uri: MqttUri, client_id: str, what: str, *, persistent: bool,
            manual_ack: bool, **callbacks: Any) -> paho.Client:
    """A paho client of `uri`'s broker (MQTT 5) whose CONNECT was accepted, its network
    thread running (loop_start: it reconnects by itself); tried with backoff for up to
    `connect_timeout` seconds, then ConnectorError naming host:port. `persistent`: resume
    the client's session (clean start off, kept `session_expiry` seconds); otherwise a
    clean session, resumed only across this client's own reconnects."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=paho.MQTTv5, manual_ack=manual_ack)
    if uri.username is not None:
        client.username_pw_set(uri.username, uri.password)
    client.reconnect_delay_set(1, 8)
    # a sink's publishes awaiting their PUBACK at once (paho's default, 20, throttles it to
    # a round trip per 20 messages); the broker may lower it (its Receive Maximum)
    client.max_inflight_messages_set(1000)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = uri.session_expiry if persistent else 300
    properties.ReceiveMaximum = uri.inflight
    accepted = threading.Event()
    refused: list[str] = []
    user_on_connect = callbacks.pop("on_connect", None)

    def on_connect(client: paho.Client, userdata: object, flags: Any, reason: Any,
                   props: Any) -> None:
        if reason.is_failure:
            refused.append(str(reason))
        elif user_on_connect is not None:
            user_on_connect(client, userdata, flags, reason, props)
        accepted.set()

    client.on_connect = on_connect
    for name, callback in callbacks.items():
        setattr(client, name, callback)
    where = f"the MQTT broker at {uri.host}:{uri.port} for {what}"
    deadline = time.monotonic() + uri.connect_timeout
    connect_with_backoff(
        lambda: client.connect(uri.host, uri.port, uri.keepalive,
                               clean_start=False if persistent else
                               paho.MQTT_CLEAN_START_FIRST_ONLY, properties=properties),
        timeout=uri.connect_timeout, what=where)
    client.loop_start()
    if not accepted.wait(max(0.5, deadline - time.monotonic())) or refused:
        client.loop_stop()
        client.disconnect()
        reason = f"it refused the connection: {refused[0]}" if refused else \
            "no CONNACK in time"
        raise ConnectorError(f"cannot use {where}: {reason}")
    return client


# ------------------------------------------------------------------ the source

def _digest(topic: str, payload: bytes) -> bytes:
    return hashlib.blake2b(topic.encode() + b"\0" + payload, digest_size=8).digest()


@dataclass
class _Delivered:
    """A QoS 1 message the source knows by its packet id, until the broker has confirmed
    its PUBACK: queued (not yet yielded), in the job (yielded: acknowledged at the next
    commit) or acknowledged (PUBACK sent in round `round`, not yet confirmed)."""

    digest: bytes
    state: str  # "queued" | "in_job" | "acked"
    round: int = 0


class MqttSource:
    """A job source (registry.Source, `growing`) subscribed to `uri.topic` at `uri.qos` in
    the persistent session of `client_id`.

    paho's network thread puts what arrives (messages, and markers for connects, lost
    connections and confirmations) on a queue; `batches()` drains it without waiting,
    `count` messages at a time, and yields IDLE when it is empty. Its position is
    ``{"arrivals": n, "in_state": text}``: the messages yielded so far, and (packed, base64)
    the packet id and digest of each yielded message whose PUBACK is not confirmed yet.
    `commit()` sends the PUBACKs; `seek` takes those of the checkpoint as acknowledged, so
    their redelivery is acknowledged again and dropped. See the module docstring."""

    growing = True

    def __init__(self, uri: MqttUri, decoder: StreamDecoder, client_id: str) -> None:
        self.uri = uri
        self.decoder = decoder
        self.display = uri.display
        self.client_id = uri.client_id or client_id
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._queued = 0  # messages on the queue (markers not counted)
        self._closing = False
        self._known: dict[int, _Delivered] = {}  # packet id -> what it is (QoS 1 only)
        self._in_job: list[int] = []  # packet ids yielded, to acknowledge at commit
        self._arrivals = 0
        self._round = 0  # PUBACK rounds sent; a confirmation covers its round and before
        self._barriers: dict[int, int] = {}  # UNSUBSCRIBE packet id -> its round
        self._confirmed = threading.Event()
        # set once the broker has granted the subscription: messages published from then
        # on reach this source (before it, a new session's would not)
        self.subscribed = threading.Event()
        self._window_warned = False
        # a filter nobody subscribes to: unsubscribing it is a round trip through the
        # broker, whose UNSUBACK says every PUBACK sent before it has been processed
        self._barrier_topic = f"$frys/barrier/{uuid.uuid4().hex}"
        self.client = connect(uri, self.client_id, f"the source of stream {decoder.stream}",
                              persistent=not uri.clean_session, manual_ack=True,
                              on_connect=self._on_connect, on_message=self._on_message,
                              on_disconnect=self._on_disconnect,
                              on_subscribe=self._on_subscribe,
                              on_unsubscribe=self._on_unsubscribe)

    # --- paho's network thread: put what happens on the queue, in the order it happens

    def _on_connect(self, client: paho.Client, userdata: object, flags: Any, reason: Any,
                    properties: Any) -> None:
        from paho.mqtt.subscribeoptions import SubscribeOptions

        self._queue.put(("connected", flags.session_present))
        # retainHandling=1: a session that has the subscription gets no retained messages
        # again, a new one gets them once
        client.subscribe(self.uri.topic, options=SubscribeOptions(qos=self.uri.qos,
                                                                  retainHandling=1))

    def _on_message(self, client: paho.Client, userdata: object, message: Any) -> None:
        while self._queued >= _QUEUE_LIMIT and not self._closing:
            time.sleep(0.005)  # a QoS 0 flood the job cannot keep up with: TCP backpressure
        self._queued += 1
        self._queue.put(("message", message.topic, message.payload, message.mid,
                         message.dup, message.qos))

    def _on_disconnect(self, client: paho.Client, userdata: object, flags: Any, reason: Any,
                       properties: Any) -> None:
        if not self._closing:
            self._queue.put(("lost", str(reason)))

    def _on_subscribe(self, client: paho.Client, userdata: object, mid: int,
                      reasons: Any, properties: Any) -> None:
        failed = [str(reason) for reason in reasons if reason.is_failure]
        if failed:
            self._queue.put(("refused", failed[0]))
        else:
            self.subscribed.set()

    def _on_unsubscribe(self, client: paho.Client, userdata: object, mid: int,
                        reasons: Any, properties: Any) -> None:
        self._queue.put(("confirmed", mid))
        self._confirmed.set()

    # --- the job's thread

    def batches(self) -> Iterator[Batch]:
        while True:
            messages: list[tuple[str, bytes]] = []
            mids: list[int] = []  # of the QoS 1 messages among them
            while len(messages) < self.uri.count:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item[0] == "message":
                    self._queued -= 1
                    if self._is_new(*item[1:]):
                        messages.append((item[1], item[2]))
                        if item[5]:
                            mids.append(item[3])
                else:
                    self._event(item)
            if not messages:
                yield IDLE
                continue
            for mid in mids:
                known = self._known.get(mid)  # (gone if the session was lost meanwhile)
                if known is not None and known.state == "queued":
                    known.state = "in_job"
                    self._in_job.append(mid)
            yield self._decode(messages)

    def _is_new(self, topic: str, payload: bytes, mid: int, dup: bool, qos: int) -> bool:
        """False for a redelivery of a message the job has (or had: a checkpoint holds
        it), acknowledged again if its PUBACK was already sent."""
        if qos == 0:
            return True
        digest = _digest(topic, payload)
        known = self._known.get(mid)
        if dup and known is not None and known.digest == digest:
            if known.state == "acked":  # our PUBACK was lost with a connection (or a crash)
                self.client.ack(mid, 1)
                known.round = self._round + 1  # confirmed by the next commit's barrier
            return False
        # new: the broker re-uses a packet id only once it has processed our PUBACK
        self._known[mid] = _Delivered(digest, "queued")
        return True

    def _event(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "connected" and not item[1]:
            # no session on the broker (first run, expired, or a broker that lost it): it
            # will redeliver nothing, and packet ids start over
            self._known.clear()
            self._in_job.clear()  # their PUBACKs would mean other messages now
            self._barriers.clear()
        elif kind == "lost":
            warnings.warn(f"{self.display} (stream {self.decoder.stream}): lost the "
                          f"connection ({item[1]}); reconnecting", RuntimeWarning,
                          stacklevel=3)
            self._barriers.clear()  # their UNSUBACKs will not come
        elif kind == "confirmed":
            confirmed_round = self._barriers.pop(item[1], None)
            if confirmed_round is not None:
                for mid in [mid for mid, known in self._known.items()
                            if known.state == "acked" and known.round <= confirmed_round]:
                    del self._known[mid]
        elif kind == "refused":
            raise ConnectorError(f"{self.display} (stream {self.decoder.stream}): the "
                                 f"broker refused the subscription: {item[1]}")

    def _decode(self, messages: list[tuple[str, bytes]]
                ) -> tuple[pl.DataFrame, list[DeadLetter]]:
        base = f"mqtt://{self.uri.host}:{self.uri.port}/"
        positions = [f"{base}{topic}@{self._arrivals + n}"
                     for n, (topic, _) in enumerate(messages, 1)]
        self._arrivals += len(messages)
        in_job = len(self._in_job)
        if in_job >= self.uri.inflight and not self._window_warned:
            self._window_warned = True
            warnings.warn(f"{self.display} (stream {self.decoder.stream}): {in_job} "
                          "messages delivered and not acknowledged (inflight="
                          f"{self.uri.inflight}): the broker sends no more until a "
                          "checkpoint commits them (a run without --state commits at its "
                          "end only), and Mosquitto drops QoS 1 messages past "
                          "max_queued_messages meanwhile; checkpoint more often "
                          "(--checkpoint-every, --checkpoint-every-events)", RuntimeWarning,
                          stacklevel=3)
        return decode_messages(self.decoder, [payload for _, payload in messages],
                               positions, self.uri.format, self.uri.max_bytes)

    def position(self) -> dict[str, int | str]:
        """The messages yielded so far, and those in the job not yet confirmed acked."""
        entries = b"".join(_ENTRY.pack(mid, known.digest)
                           for mid, known in sorted(self._known.items())
                           if known.state != "queued")
        return {"arrivals": self._arrivals, "in_state": base64.b64encode(entries).decode()}

    def seek(self, position: object) -> None:
        """Continue from a checkpoint: its messages whose PUBACK was not confirmed are
        taken as acknowledged; the broker's redelivery of them (DUP, same packet id and
        content) is acknowledged again and dropped, the rest is processed."""
        if position is None:
            return
        try:
            assert isinstance(position, dict) and set(position) == {"arrivals", "in_state"}
            arrivals, packed = position["arrivals"], base64.b64decode(position["in_state"],
                                                                      validate=True)
            assert type(arrivals) is int and arrivals >= 0
            entries = list(_ENTRY.iter_unpack(packed))
        except (AssertionError, ValueError, TypeError, struct.error):
            raise ConnectorError(f"cannot resume the source {self.display} (stream "
                                 f"{self.decoder.stream}): {position!r} is not a position "
                                 "of an mqtt: source") from None
        self._arrivals = arrivals
        for mid, digest in entries:
            if mid not in self._known:  # (a message already queued is new to the job)
                self._known[mid] = _Delivered(digest, "acked", 0)

    def commit(self) -> None:
        """PUBACK every message yielded so far, then unsubscribe a filter nobody has (a
        barrier): its UNSUBACK confirms the broker processed the PUBACKs (it handles a
        client's packets in order), and from then on they leave the position. Waits for
        it up to 2 s, so the PUBACKs are on the wire before a run that stops exits. A
        connection lost meanwhile leaves them unconfirmed: the broker redelivers them
        (DUP) and the source acknowledges them again."""
        self._round += 1
        for mid in self._in_job:
            known = self._known.get(mid)
            if known is not None and known.state == "in_job":
                self.client.ack(mid, 1)
                known.state, known.round = "acked", self._round
        self._in_job.clear()
        if not any(known.state == "acked" for known in self._known.values()):
            return
        self._window_warned = False
        self._confirmed.clear()
        result, barrier = self.client.unsubscribe(self._barrier_topic)
        if barrier is not None and result == 0:
            self._barriers[barrier] = self._round
            self._confirmed.wait(_CONFIRM_WAIT_SECONDS)

    def close(self) -> None:
        """Disconnect, keeping the session (and what was not acknowledged) on the broker."""
        self._closing = True
        self.client.disconnect()  # after the PUBACKs already queued
        self.client.loop_stop()


# ------------------------------------------------------------------ the sink

class MqttSink:
    """A job sink (registry.Sink) publishing each row (json, msgpack) or Arrow chunk to
    `uri.topic` at `uri.qos`, `retain` as asked. `pre_commit` waits until the broker has
    acknowledged every publish (QoS 1; QoS 0 is not acknowledged: fire and forget), up to
    `connect_timeout` plus 30 s, else ConnectorError. paho resends what the broker had not
    acknowledged when a lost connection comes back (its session is kept for 5 minutes).
    At least once: see the module docstring."""

    def __init__(self, uri: MqttUri, stream: str) -> None:
        self.uri = uri
        self.stream = stream
        self.display = uri.display
        # counts, not packet ids: paho holds its own lock while it calls on_publish, so
        # `write` must not hold ours while it calls publish (and a PUBACK may come first)
        self._sent = 0  # QoS 1 publishes handed to paho
        self._acked = 0  # PUBACKs received
        self._failed: list[str] = []
        self._done = threading.Condition()
        client_id = uri.client_id or f"frys-sink-{uuid.uuid4().hex[:16]}"
        self.client = connect(uri, client_id, f"the sink of stream {stream}",
                              persistent=False, manual_ack=False,
                              on_publish=self._on_publish)

    def _on_publish(self, client: paho.Client, userdata: object, mid: int, reason: Any,
                    properties: Any) -> None:
        if self.uri.qos == 0:
            return
        with self._done:
            self._acked += 1
            if reason.is_failure:
                self._failed.append(str(reason))
            self._done.notify_all()

    def _wait(self, most: int) -> None:
        """Until at most `most` publishes are unacknowledged; ConnectorError on a failed
        one or after the timeout."""
        timeout = self.uri.connect_timeout + 30
        with self._done:
            if not self._done.wait_for(lambda: self._sent - self._acked <= most
                                       or bool(self._failed), timeout):
                raise ConnectorError(f"{self.display} (stream {self.stream}): "
                                     f"{self._sent - self._acked} messages not acknowledged "
                                     f"by the broker within {timeout:g}s")
            if self._failed:
                raise ConnectorError(f"{self.display} (stream {self.stream}): the broker "
                                     f"refused a message: {self._failed[0]}")

    def write(self, batch: pl.DataFrame) -> None:
        for payload in encode_batch(batch, self.uri.format):
            # QoS 1 is kept while the connection is down (paho sends it when it is back);
            # QoS 0 is then lost, as QoS 0 may be
            self.client.publish(self.uri.topic, payload, self.uri.qos, self.uri.retain)
            if self.uri.qos == 1:
                with self._done:
                    self._sent += 1
                if self._sent - self._acked >= _SINK_OUTSTANDING:
                    self._wait(_SINK_OUTSTANDING // 2)

    def pre_commit(self, checkpoint_id: int) -> None:
        self._wait(0)

    def commit(self, checkpoint_id: int) -> None:
        """Published already: subscribers have the messages since `write`."""

    def recover(self, state: object) -> None:
        """Nothing to cut back: MQTT cannot withdraw a message (at least once)."""

    def abort(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# ------------------------------------------------------------------ the mqtt: connector

def _open_source(uri: str, context: SourceContext) -> MqttSource:
    return MqttSource(MqttUri.parse(uri, "source"), context.decoder,
                      f"frys.{context.job_name}.{context.stream_name}")


def _open_sink(uri: str, context: SinkContext) -> MqttSink:
    return MqttSink(MqttUri.parse(uri, "sink"), context.stream_name)


MQTT_CONNECTOR = Connector("mqtt", _check, _open_source, _open_sink)

