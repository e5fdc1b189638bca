"""msgpack files as `file:` sources and sinks (`file:<path>.msgpack[?framing=stream|length]`).

A file is a sequence of msgpack records, each a map of field -> value: either one after
the other (`framing=stream`, the default) or each preceded by its length as a 4-byte
big-endian unsigned integer (`framing=length`). The source reads chunks of CHUNK_BYTES,
finds the records' ends (a header scan, no decoding; `record_end`), decodes each record
with msgspec and the batch by the JSON rules (connectors/decode.py `decode_records`; a
msgpack timestamp is taken as that instant). A record that is not a map or does not fit
the schema is a dead letter positioned `<file>:record <n>` (1-based); so is a truncated
last record (or a length prefix running past the file's end). A byte that cannot start a
msgpack value (0xc1) means the records' ends are lost: the source stops with an error
naming the file, the record and the byte offset.

Positions are FilePosition's (connectors/jsonl.py) with `line` holding the number of the
next record; `seek` checks the file's fingerprints as the JSONL source does. The sink
appends one map per row (TIMESTAMP as ISO-8601 UTC text with milliseconds, as JSON) and
recovers as the JSONL sink does: cut back to the checkpointed length.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import msgspec
import polars as pl

from frys.connectors.decode import DeadLetter
from frys.connectors.files_formats import file_options
from frys.connectors.jsonl import (
    FilePosition,
    JsonlWriter,
    _digest,
    fingerprinted,
    open_file_sink,
    read_fingerprints,
    to_json_frame,
)
from frys.connectors.payloads import decode_messages
from frys.connectors.registry import ConnectorError, Role

if TYPE_CHECKING:
    from frys.connectors.decode import StreamDecoder
    from frys.connectors.registry import Batch

CHUNK_BYTES = 8 << 20
MSGPACK_OPTIONS = ("framing",)
FRAMINGS = ("stream", "length")

# msgpack header byte -> the whole value's size, for fixed-size values
_FIXED: dict[int, int] = {0xc0: 1, 0xc2: 1, 0xc3: 1, 0xca: 5, 0xcb: 9, 0xcc: 2, 0xcd: 3,
                          0xce: 5, 0xcf: 9, 0xd0: 2, 0xd1: 3, 0xd2: 5, 0xd3: 9, 0xd4: 3,
                          0xd5: 4, 0xd6: 6, 0xd7: 10, 0xd8: 18}
# byte -> (size of its length field, bytes after the length field before the payload)
_SIZED: dict[int, tuple[int, int]] = {0xc4: (1, 0), 0xc5: (2, 0), 0xc6: (4, 0),
                                      0xc7: (1, 1), 0xc8: (2, 1), 0xc9: (4, 1),
                                      0xd9: (1, 0), 0xda: (2, 0), 0xdb: (4, 0)}
# byte -> (size of its count field, values per counted item)
_CONTAINERS: dict[int, tuple[int, int]] = {0xdc: (2, 1), 0xdd: (4, 1), 0xde: (2, 2),
                                           0xdf: (4, 2)}


class Corrupt(ValueError):
    """Bytes that are not msgpack: the records' ends cannot be found past them."""


def record_end(data: bytes | memoryview, start: int) -> int | None:
    """The end of the msgpack value starting at `start`, None if `data` ends before it
    does; Corrupt if a byte cannot start a value."""
    pending, at, size = 1, start, len(data)
    while pending:
        if at >= size:
            return None
        byte = data[at]
        pending -= 1
        if byte <= 0x7f or byte >= 0xe0:
            at += 1
        elif byte <= 0x8f:
            pending += 2 * (byte & 0x0f)
            at += 1
        elif byte <= 0x9f:
            pending += byte & 0x0f
            at += 1
        elif byte <= 0xbf:
            at += 1 + (byte & 0x1f)
        elif byte in _FIXED:
            at += _FIXED[byte]
        elif byte in _SIZED:
            width, extra = _SIZED[byte]
            if at + 1 + width > size:
                return None
            at += 1 + width + extra + int.from_bytes(data[at + 1: at + 1 + width], "big")
        elif byte in _CONTAINERS:
            width, per = _CONTAINERS[byte]
            if at + 1 + width > size:
                return None
            pending += per * int.from_bytes(data[at + 1: at + 1 + width], "big")
            at += 1 + width
        else:
            raise Corrupt(f"byte 0x{byte:02x} cannot start a msgpack value")
    return at if at <= size else None


def msgpack_options(uri: str, query: str, role: Role) -> str:
    """The framing of a `.msgpack` file: URI; ValueError naming what is wrong."""
    framing = "stream"
    for _, equals, value in file_options(uri, query, MSGPACK_OPTIONS, "a .msgpack file:"):
        if not equals or value not in FRAMINGS:
            raise ValueError(f"framing must be stream or length in {uri!r}, not {value!r}")
        framing = value
    return framing


class MsgpackFileSource:
    """A bounded source (registry.Source) of one msgpack file (see the module docstring)."""

    def __init__(self, path: Path, decoder: StreamDecoder, display_name: str,
                 framing: str = "stream", chunk_bytes: int | None = None) -> None:
        self.path = path
        self.decoder = decoder
        self.display_name = display_name
        self.framing = framing
        self.chunk_bytes = chunk_bytes or CHUNK_BYTES
        self._offset = 0
        self._record = 1  # the number of the record starting at _offset
        self._head = b""
        self._tail = b""

    def _end(self, data: bytes, start: int) -> int | None:
        if self.framing == "stream":
            return record_end(data, start)
        if start + 4 > len(data):
            return None
        end = start + 4 + int.from_bytes(data[start:start + 4], "big")
        return end if end <= len(data) else None

    def batches(self) -> Iterator[Batch]:
        with open(self.path, "rb") as file:
            file.seek(self._offset)
            carry = b""
            while True:
                data = file.read(self.chunk_bytes)
                last = not data
                data = carry + data
                if not data:
                    break
                start, records = 0, []
                try:
                    while start < len(data):
                        end = self._end(data, start)
                        if end is None:
                            break
                        records.append((start, end))
                        start = end
                except Corrupt as error:
                    raise ConnectorError(
                        f"cannot read the source file {self.display_name} (stream "
                        f"{self.decoder.stream}): record {self._record + len(records)} at "
                        f"byte {self._offset + start}: {error}") from None
                letters: list[DeadLetter] = []
                count = len(records)
                if last and start < len(data):  # the file ends inside its last record
                    letters.append(DeadLetter(
                        self.decoder.stream, f"truncated record: the file ends "
                        f"{len(data) - start} bytes into it",
                        f"{self.display_name}:record {self._record + len(records)}",
                        data[start:].hex()))
                    start = len(data)
                    count += 1
                if count:
                    batch, bad = self._decode(data, records)
                    self._advance(data[:start], count)
                    yield batch, bad + letters
                carry = data[start:]
                if last:
                    break

    def _decode(self, data: bytes, records: list[tuple[int, int]]
                ) -> tuple[pl.DataFrame, list[DeadLetter]]:
        """The records (start, end offsets in `data`) decoded by the broker payloads' msgpack
        path (connectors/payloads.py), every record whatever its size (a file's records
        are its own); dead letters in record order."""
        skip = 4 if self.framing == "length" else 0
        positions = [f"{self.display_name}:record {number}"
                     for number in range(self._record, self._record + len(records))]
        batch, letters = decode_messages(self.decoder,
                                         [data[start + skip:end] for start, end in records],
                                         positions, "msgpack", max_bytes=len(data))
        return batch, sorted(letters, key=lambda d: int(d.position.rsplit(" ", 1)[1]))

    def _advance(self, consumed: bytes, records: int) -> None:
        """`consumed`, `records` whole records, was read: the offset, the record number and
        the fingerprinted bytes move on."""
        self._head, self._tail = fingerprinted(self._head, self._tail, consumed,
                                               len(consumed))
        self._offset += len(consumed)
        self._record += records

    def position(self) -> dict[str, int | str]:
        """Where the next batch starts (FilePosition as a dict; `line` is the record)."""
        return FilePosition(self._offset, self._record, len(self._head), _digest(self._head),
                            len(self._tail), _digest(self._tail)).as_dict()

    def seek(self, position: object) -> None:
        """Continue at `position`; ConnectorError if the file is not the one it was taken
        in (shorter, or its first bytes or those before the offset differ)."""
        if position is None:
            return
        where = FilePosition.parse(position, self.display_name)
        head, tail, _, problem = read_fingerprints(self.path, where)
        if problem is not None:
            raise ConnectorError(
                f"cannot resume the source file {self.display_name} (stream "
                f"{self.decoder.stream}) at record {where.line}: it is not the file read "
                "before (cut, replaced or rewritten); start the job afresh")
        self._offset, self._record, self._head, self._tail = \
            where.offset, where.line, head, tail

    def commit(self) -> None:
        """Nothing to record: a run that does not seek reads from the start."""

    def close(self) -> None:
        """The file is closed when `batches()` ends."""


class MsgpackWriter(JsonlWriter):
    """A `file:` sink of msgpack maps, one per row (registry.Sink), with the JSONL sink's
    guarantees (written through, fsynced at pre_commit, cut back by `recover`)."""

    def __init__(self, stream: IO[bytes], path: Path, framing: str) -> None:
        super().__init__(stream, close_at_end=True, durable=True, path=path)
        self.framing = framing
        self._encoder = msgspec.msgpack.Encoder()

    def write(self, batch: pl.DataFrame) -> None:
        rows = to_json_frame(batch).iter_rows(named=True)
        if self.framing == "stream":
            data = b"".join(self._encoder.encode(row) for row in rows)
        else:
            data = b"".join(len(item).to_bytes(4, "big") + item
                            for item in map(self._encoder.encode, rows))
        self._stream.write(data)
        self._stream.flush()
        self.rows_written += batch.height


def open_msgpack_sink(path: Path, framing: str, resume: bool = False) -> MsgpackWriter:
    """open_file_sink (connectors/jsonl.py) writing msgpack maps."""
    plain = open_file_sink(path, resume)
    return MsgpackWriter(plain._stream, path, framing)
