"""The `nats:` connector's sink (connectors/nats_jetstream.py has the URI, the connection and
the source): each row, or each Arrow message of rows, published to the URI's subject through
JetStream with a deterministic ``Nats-Msg-Id``, so that JetStream's duplicate window, and
the recovery below, store a replay once. Its guarantees are in JetStreamSink's docstring
and the connector module's."""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING

import msgspec
import polars as pl

from frys.connectors.nats_jetstream import (
    _PUBACK_SECONDS,
    NatsUri,
    _Answered,
    _ensure_stream,
    _Link,
    _LoopThread,
    _Refused,
    connect,
)
from frys.connectors.payloads import encode_messages, numbered_rows_state
from frys.connectors.registry import ConnectorError

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient

_EXPECTED_STREAM = "Nats-Expected-Stream"
# messages a sink's write publishes before it waits for their PubAcks
_IN_FLIGHT = 20_000
_MSG_ID = "Nats-Msg-Id"


class JetStreamSink:
    """A job sink (registry.Sink) publishing each row (json, msgpack) or each Arrow message
    of rows (arrow) to the URI's subject through JetStream, with a deterministic
    ``Nats-Msg-Id`` (module docstring). `write` returns once every message is acknowledged
    by JetStream; its recovery state is ``{"base": base, "rows": n}``. Refused at recovery
    (ConnectorError): a subject whose last message of this sink holds fewer rows than the
    checkpoint (the stream was purged or recreated since)."""

    def __init__(self, uri: NatsUri, job: str, stream: str) -> None:
        self.uri = uri
        self.stream = stream
        self.display = uri.display
        self.link = _Link()
        self.loop = _LoopThread(f"frys-nats-sink-{stream}")
        self.client: NatsClient | None = None
        try:
            self.client = connect(uri, f"the sink of stream {stream}", self.loop, self.link)
            self.js = self.client.jetstream()
            self.loop.run(_ensure_stream(self.js, uri), uri.connect_timeout + 10)
        except BaseException:
            self.loop.close(self.client)
            raise
        self.prefix = f"{job}/{stream}/"
        self._pubacks = _Answered()
        self.base = time.time_ns() // 1000
        self.rows = 0
        self.skip_upto = 0  # rows up to this one are in the stream already (recovery)

    def write(self, batch: pl.DataFrame) -> None:
        skip = min(batch.height, max(0, self.skip_upto - self.rows))
        first_row = self.rows + skip + 1
        self.rows += batch.height
        batch = batch.slice(skip)
        if batch.height == 0:
            return
        messages: list[tuple[bytes, int]] = []  # payload, the last row it holds
        for payload, rows in encode_messages(batch, self.uri.format):
            messages.append((payload, first_row + rows - 1))
            first_row += rows
        self._publish(messages)

    def _publish(self, messages: list[tuple[bytes, int]]) -> None:
        """Publish until JetStream has acknowledged each message, sending the
        unacknowledged ones again (same ids) while it makes progress within
        connect_timeout; _IN_FLIGHT messages at a time at most."""
        waiting = {row: payload for payload, row in messages}
        last_progress = time.monotonic()
        while waiting:
            chunk = dict(itertools.islice(waiting.items(), _IN_FLIGHT))
            outcomes = self.loop.run(self._send(chunk), _PUBACK_SECONDS + 60)
            for row, outcome in outcomes.items():
                if isinstance(outcome, _Refused):
                    raise ConnectorError(f"cannot publish to {self.display} (JetStream "
                                         f"stream {self.uri.stream}, sink of "
                                         f"{self.stream}): {outcome}")
                if outcome is None:
                    del waiting[row]
                    last_progress = time.monotonic()
            if waiting and time.monotonic() - last_progress > self.uri.connect_timeout:
                raise ConnectorError(
                    f"cannot publish to {self.display} (sink of {self.stream}): NATS at "
                    f"{self.uri.address} acknowledged none of {len(waiting)} messages for "
                    f"{self.uri.connect_timeout:g}s")
            if len(waiting) and len(outcomes) == len(chunk) and any(
                    outcome is not None for outcome in outcomes.values()):
                time.sleep(0.05)  # NATS away or not ready: not a busy loop

    async def _send(self, chunk: dict[int, bytes]) -> dict[int, object]:
        """Publish each message of `chunk` (by row) and wait for the PubAcks; the outcome
        of each: None (stored, or a duplicate JetStream dropped), _Refused, or another
        error (no PubAck, JetStream unavailable: sent again)."""
        assert self.client is not None
        messages = ((row, self.uri.subject, payload, {
            _EXPECTED_STREAM: self.uri.stream, _MSG_ID: f"{self.prefix}{self.base}/{row}"})
            for row, payload in chunk.items())
        answers = await self._pubacks.exchange(self.client, messages)
        outcomes: dict[int, object] = {}
        for row in chunk:
            answer = answers.get(row)
            status = answer.headers.get("Status") if answer and answer.headers else None
            if answer is None or status:  # 503: no stream listens (yet: JetStream starting)
                outcomes[row] = OSError(f"no PubAck (status {status})")
                continue
            error = msgspec.json.decode(answer.data).get("error")
            outcomes[row] = error and (
                OSError(error.get("description")) if error.get("code") == 503
                else _Refused(error.get("description", str(error))))
        return outcomes

    def pre_commit(self, checkpoint_id: int) -> dict[str, int]:
        return {"base": self.base, "rows": self.rows}

    def commit(self, checkpoint_id: int) -> None:
        """Published already: each message was acknowledged by JetStream in `write`."""

    def recover(self, state: object) -> None:
        if state is None:
            return
        base, rows = numbered_rows_state(state, f"the NATS sink {self.display}", "nats")
        last_row = self.loop.run(self._last_row_of(base), self.uri.connect_timeout + 10)
        if last_row is not None and last_row < rows:
            raise ConnectorError(
                f"cannot recover the NATS sink {self.display} (stream {self.stream}): its "
                f"last message holds row {last_row}, before the checkpoint's {rows} (the "
                f"JetStream stream {self.uri.stream} was purged or recreated since)")
        self.base, self.rows = base, rows
        self.skip_upto = max(rows, last_row or 0)

    async def _last_row_of(self, base: int) -> int | None:
        """The row of the last message on the subject if this sink (with `base`) published
        it; None if the subject is empty or another writer published last."""
        import nats.js.errors

        try:
            last = await self.js.get_last_msg(self.uri.stream, self.uri.subject)
        except nats.js.errors.NotFoundError:
            return None
        message_id = (last.headers or {}).get(_MSG_ID, "")
        ours = f"{self.prefix}{base}/"
        if not message_id.startswith(ours) or not message_id[len(ours):].isdigit():
            return None
        return int(message_id[len(ours):])

    def abort(self) -> None:
        self.loop.close(self.client)

    def close(self) -> None:
        self.loop.close(self.client)


