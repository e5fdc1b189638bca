"""What broker connectors share: message payload encodings, URI options, connecting with
backoff.

**Encodings** (the ``format=`` option of a broker URI: `nats:`, `amqp:`, `mqtt:`):

* ``json`` (the default): one event per message, a JSON object. A batch of messages is
  decoded as one chunk of JSON lines by the stream's decoder (connectors/decode.py), in
  native code, with the same typing rules and dead letters as a `.jsonl` file;
* ``msgpack``: one event per message, a msgpack map (msgspec), typed by the same rules;
* ``arrow``: a whole batch per message, an Arrow IPC stream (schema and record batches):
  the fast path between frys processes, no per-event cost on either side. Its columns are
  cast to the stream's schema as a DataFrame given to the API is (`decode_frame`).

A message larger than the connector's ``max_bytes`` is a dead letter (its first bytes kept),
never decoded: a hostile producer cannot make the job parse a gigabyte. A message that is
not what its format says (not JSON, not msgpack, not Arrow IPC, not UTF-8 text) is a dead
letter naming what was wrong, positioned where the broker says it was (a stream sequence,
a delivery tag, a topic and packet id).

**URI options** (`UriOptions`): a query string read once, each option checked against the
connector's known ones with a did-you-mean, and against the role (a sink's option on a
source is an error naming it), with typed getters that name the URI and the bad value.

**Connecting** (`connect_with_backoff`): tried with a doubling delay until a deadline,
then an error naming the server's address and what wanted it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import SplitResult, parse_qs, urlsplit

import msgspec
import polars as pl

from frys.connectors.decode import DeadLetter, StreamDecoder
from frys.connectors.registry import ConnectorError
from frys.dsl.errors import did_you_mean

if TYPE_CHECKING:
    from frys.connectors.registry import Role

ENCODINGS = ("json", "msgpack", "arrow")
# the default largest message a broker source decodes; larger ones are dead letters
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
# how much of a message a dead letter keeps as its raw text
_RAW_KEPT = 1024
# an Arrow message of a sink aims at this size (split by rows), under every broker's limit
ARROW_MESSAGE_BYTES = 512 * 1024

T = TypeVar("T")


class UriOptionError(ValueError):
    """A broker URI option that cannot be used, with what is wrong and where."""


# ------------------------------------------------------------------ URI options

class UriOptions:
    """The query options of `uri`, checked: every key known to the connector (did-you-mean
    otherwise), none of the other role's. The getters raise UriOptionError naming the URI,
    the option and the value."""

    def __init__(self, uri: str, query: str, scheme: str, role: Role, *,
                 source: Iterable[str] = (), sink: Iterable[str] = (),
                 common: Iterable[str] = ()) -> None:
        self.uri = uri
        self.params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        source_keys, sink_keys, common_keys = set(source), set(sink), set(common)
        known = sorted(source_keys | sink_keys | common_keys)
        for key in self.params:
            if key not in known:
                raise UriOptionError(f"unknown {scheme}: option {key!r} in {uri!r}"
                                     f"{did_you_mean(key, known)}; known: {', '.join(known)}")
        other = sink_keys if role == "source" else source_keys
        for key in self.params:
            if key in other and key not in common_keys:
                raise UriOptionError(f"{key} is an option of a {scheme}: "
                                     f"{'sink' if role == 'source' else 'source'}, not of a "
                                     f"{role} ({uri!r})")

    def __contains__(self, key: str) -> bool:
        return key in self.params

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.params.get(key)
        if value is None:
            return default
        if value == "":
            raise UriOptionError(f"{key} is empty in {self.uri!r}")
        return value

    def positive_int(self, key: str, default: int | None, most: int | None = None
                     ) -> int | None:
        text = self.params.get(key)
        if text is None:
            return default
        # ASCII digits only: isdigit alone also takes "²", which int() refuses
        if not (text.isascii() and text.isdigit()) or int(text) == 0 \
                or (most is not None and int(text) > most):
            bound = f" up to {most}" if most is not None else ""
            raise UriOptionError(f"{key} must be a positive whole number{bound} in "
                                 f"{self.uri!r}, not {text!r}")
        return int(text)

    def boolean(self, key: str, default: bool) -> bool:
        text = self.params.get(key)
        if text is None:
            return default
        if text not in ("true", "false"):
            raise UriOptionError(f"{key} must be true or false in {self.uri!r}, not {text!r}")
        return text == "true"

    def seconds(self, key: str, default: float, most: float = 3600.0) -> float:
        text = self.params.get(key)
        if text is None:
            return default
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not (0 < value <= most):  # NaN fails too
            raise UriOptionError(f"{key} must be a number of seconds in (0, {most:g}] in "
                                 f"{self.uri!r}, not {text!r}")
        return value

    def choice(self, key: str, choices: Sequence[str], default: str) -> str:
        text = self.params.get(key, default)
        if text not in choices:
            raise UriOptionError(f"{key} must be {' or '.join(choices)} in {self.uri!r}, "
                                 f"not {text!r}")
        return text

    def encoding(self) -> str:
        """The `format=` option: json (default), msgpack or arrow."""
        return self.choice("format", ENCODINGS, "json")


def split_server_uri(uri: str, scheme: str, example: str, *, article: str = "a",
                     text: str | None = None) -> tuple[SplitResult, str, int | None]:
    """`scheme://[user[:password]@]host[:port]/path?query` split: (its parts, the host, the
    port or None). UriOptionError for another scheme, a port that is not one, or no host,
    each saying what was expected (`example`). `text` is what to split when it is not
    `uri` itself (an mqtt: topic's '#' read as text, not as a fragment); messages quote
    `uri`."""
    if not uri.startswith(f"{scheme}://"):
        raise UriOptionError(f"{uri!r} is not {article} {scheme}: URI; expected e.g. {example}")
    parts = urlsplit(uri if text is None else text)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise UriOptionError(f"bad port in {uri!r}: expected a number 1-65535") from None
    if not host:
        raise UriOptionError(f"{uri!r} names no host; expected e.g. {example}")
    return parts, host, port


# ------------------------------------------------------------------ connecting

def connect_with_backoff(attempt: Callable[[], T], *, timeout: float, what: str,
                         errors: tuple[type[BaseException], ...] = (OSError,)) -> T:
    """`attempt()` until it returns, retrying on `errors` with a doubling delay (50 ms up to
    2 s) for at most `timeout` seconds; then ConnectorError "cannot reach <what> (tried for
    Ns): <last error>". `what` names the server and its user, e.g. "NATS at
    127.0.0.1:4222 for the source of stream orders"."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            return attempt()
        except errors as error:
            if time.monotonic() + delay > deadline:
                raise ConnectorError(f"cannot reach {what} (tried for {timeout:g}s): "
                                     f"{error or type(error).__name__}") from None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def numbered_rows_state(state: object, what: str, scheme: str) -> tuple[int, int]:
    """(base, rows) of a sink that numbers its rows from a base chosen when it first opened
    (the redis: and nats: sinks: entry ids, message ids), from the recovery state its
    `pre_commit` returned, `{"base": b, "rows": n}`; ConnectorError naming `what` (e.g.
    "the Redis sink redis://h:6379/s") for anything else."""
    if not (isinstance(state, dict) and set(state) == {"base", "rows"}
            and all(type(v) is int and v >= 0 for v in state.values())):
        raise ConnectorError(f"cannot recover {what}: {state!r} is not the recovery state of "
                             f"a {scheme}: sink")
    return state["base"], state["rows"]


# ------------------------------------------------------------------ decoding

def _raw_text(payload: bytes) -> str:
    kept = payload[:_RAW_KEPT].decode("utf-8", errors="replace")
    return kept if len(payload) <= _RAW_KEPT else f"{kept}... ({len(payload)} bytes)"


def _plain(value: object) -> object:
    # a msgpack timestamp (extension -1, a datetime from msgspec) as the ISO text the
    # decoding rules take; other values as they are
    from datetime import datetime

    return value.isoformat() if isinstance(value, datetime) else value


def decode_messages(decoder: StreamDecoder, payloads: Sequence[bytes],
                    positions: Sequence[str], encoding: str,
                    max_bytes: int = DEFAULT_MAX_BYTES
                    ) -> tuple[pl.DataFrame, list[DeadLetter]]:
    """Message payloads -> the stream's batch (in message order) and dead letters, each
    positioned by its message's entry of `positions` (an Arrow message's rows as
    ``<position> row <n>``)."""
    letters: list[DeadLetter] = []
    kept: list[int] = []
    for index, payload in enumerate(payloads):
        if len(payload) > max_bytes:
            letters.append(DeadLetter(decoder.stream, f"message of {len(payload)} bytes is "
                                      f"larger than max_bytes={max_bytes}",
                                      positions[index], _raw_text(payload)))
        else:
            kept.append(index)
    if encoding == "json":
        batch, more = _decode_json(decoder, payloads, positions, kept)
    elif encoding == "msgpack":
        batch, more = _decode_msgpack(decoder, payloads, positions, kept)
    elif encoding == "arrow":
        batch, more = _decode_arrow(decoder, payloads, positions, kept)
    else:
        raise ValueError(f"unknown encoding {encoding!r}; known: {', '.join(ENCODINGS)}")
    return batch, letters + more


def _decode_json(decoder: StreamDecoder, payloads: Sequence[bytes],
                 positions: Sequence[str], kept: list[int]
                 ) -> tuple[pl.DataFrame, list[DeadLetter]]:
    if not kept:
        return decoder.empty(), []
    # a raw line break cannot be inside a JSON string, only between tokens: a space there
    # means the same, and keeps each message on one line of the chunk
    lines = [payloads[i].replace(b"\r", b" ").replace(b"\n", b" ") for i in kept]
    chunk = b"\n".join(lines) + b"\n"
    batch, more = decoder.decode_jsonl(chunk, 0, "message")
    letters = []
    for letter in more:  # "message:<n>": the n-th line of the chunk (0-based here)
        index = kept[int(letter.position.rsplit(":", 1)[1])]
        letters.append(replace(letter, position=positions[index]))
    return batch, letters


_MSGPACK = msgspec.msgpack.Decoder()


def _decode_msgpack(decoder: StreamDecoder, payloads: Sequence[bytes],
                    positions: Sequence[str], kept: list[int]
                    ) -> tuple[pl.DataFrame, list[DeadLetter]]:
    records: list[tuple[object, str, str]] = []
    letters: list[DeadLetter] = []
    for index in kept:
        payload = payloads[index]
        try:
            value = _MSGPACK.decode(payload)
        except (msgspec.DecodeError, RecursionError) as error:
            letters.append(DeadLetter(decoder.stream, f"malformed msgpack: {error}",
                                      positions[index], payload[:_RAW_KEPT].hex()))
            continue
        if isinstance(value, dict):
            value = {key: _plain(item) for key, item in value.items()}
        records.append((value, positions[index], _raw_text(repr(value).encode())))
    batch, bad = decoder.decode_records(records)
    return batch, letters + bad


def _decode_arrow(decoder: StreamDecoder, payloads: Sequence[bytes],
                  positions: Sequence[str], kept: list[int]
                  ) -> tuple[pl.DataFrame, list[DeadLetter]]:
    import pyarrow as pa

    frames: list[pl.DataFrame] = []
    letters: list[DeadLetter] = []
    for index in kept:
        payload = payloads[index]
        try:
            with pa.ipc.open_stream(pa.py_buffer(payload)) as reader:
                table = reader.read_all()
            # crafted offsets or lengths must not reach polars' unchecked readers
            table.validate(full=True)
            frame = pl.from_arrow(table)
            assert isinstance(frame, pl.DataFrame)
            batch, bad = decoder.decode_frame(frame, positions[index])
        except (pa.ArrowException, OSError, ValueError, TypeError,
                pl.exceptions.PolarsError) as error:
            letters.append(DeadLetter(decoder.stream, f"not an Arrow IPC stream of the "
                                      f"stream's columns: {error}", positions[index],
                                      payload[:_RAW_KEPT].hex()))
            continue
        frames.append(batch)
        letters.extend(bad)
    frames = [f for f in frames if f.height]
    if not frames:
        return decoder.empty(), letters
    return (frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical")), letters


# ------------------------------------------------------------------ encoding

_MSGPACK_ENCODER = msgspec.msgpack.Encoder()


def encode_batch(batch: pl.DataFrame, encoding: str,
                 message_bytes: int = ARROW_MESSAGE_BYTES) -> list[bytes]:
    """A sink's batch -> message payloads (`encode_messages` without the row counts)."""
    return [payload for payload, _ in encode_messages(batch, encoding, message_bytes)]


def encode_messages(batch: pl.DataFrame, encoding: str,
                    message_bytes: int = ARROW_MESSAGE_BYTES) -> list[tuple[bytes, int]]:
    """A sink's batch -> (message payload, rows in it), in row order: one row per message
    for json and msgpack (what the source reads back as the same values: TIMESTAMP as
    ISO-8601 UTC text), or Arrow IPC streams of about `message_bytes` each (at least one
    row) for arrow, types kept. The row counts let a sink number its messages by row (a
    deterministic message id per row, whatever the encoding)."""
    if batch.height == 0:
        return []
    if encoding == "arrow":
        rows_per_message = max(1, int(message_bytes * batch.height
                                      / max(1, batch.estimated_size())))
        return [(_arrow_stream(chunk), chunk.height)
                for chunk in (batch.slice(start, rows_per_message)
                              for start in range(0, batch.height, rows_per_message))]
    from frys.connectors.jsonl import to_json_frame

    frame = to_json_frame(batch)
    if encoding == "json":
        return [(line, 1) for line in frame.write_ndjson().encode().splitlines()]
    if encoding == "msgpack":
        return [(_MSGPACK_ENCODER.encode(row), 1) for row in frame.iter_rows(named=True)]
    raise ValueError(f"unknown encoding {encoding!r}; known: {', '.join(ENCODINGS)}")


def _arrow_stream(frame: pl.DataFrame) -> bytes:
    import pyarrow as pa

    table = frame.to_arrow()
    out = pa.BufferOutputStream()
    with pa.ipc.new_stream(out, table.schema) as writer:
        writer.write_table(table)
    return out.getvalue().to_pybytes()
