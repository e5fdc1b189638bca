"""The on-disk form of one WAL record, and the scan that finds where valid records end.

A record holds `count` consecutive events (a batch) as one opaque payload::

    u32 body_length | u32 crc32c(body_length bytes + body) | body
    body = u64 first_offset | u32 count | i64 min_time_ms | i64 max_time_ms | u8 format | payload

All integers little-endian. The checksum covers the length too, so a flipped bit anywhere in a
record, its length included, is caught; `first_offset` inside the checksummed body makes every
record self-describing, so a record that is intact but in the wrong place (a stale tail after
a crash) is caught as well. A segment file is nothing but records back to back; its name is
the offset of its first event.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from crc32c import crc32c

_LENGTH = struct.Struct("<I")
HEADER = struct.Struct("<II")  # body length, checksum
BODY_HEAD = struct.Struct("<QIqqB")  # first offset, count, min time, max time, format
RECORD_OVERHEAD = HEADER.size + BODY_HEAD.size
# A length above this is damage, not a record (a batch of 64 MiB is already unusual).
MAX_BODY = 1 << 30
NO_TIME = -(2**63)


class PayloadFormat(IntEnum):
    """How to read a payload; the log itself never looks inside."""

    RAW = 0  # opaque bytes, one event
    ARROW = 1  # an Arrow IPC stream of one batch (a polars DataFrame)
    JSONL = 2  # JSON lines, `count` of them


@dataclass(frozen=True, slots=True)
class Record:
    """`count` events starting at event offset `offset`; times are event times in epoch
    milliseconds (or append times where the events carry none), NO_TIME if unknown."""

    offset: int
    count: int
    min_time_ms: int
    max_time_ms: int
    format: PayloadFormat
    payload: bytes

    @property
    def next_offset(self) -> int:
        return self.offset + self.count

    @property
    def frame_size(self) -> int:
        """Bytes this record takes in its segment."""
        return RECORD_OVERHEAD + len(self.payload)


def encode(offset: int, count: int, min_time_ms: int, max_time_ms: int,
           payload_format: int, payload: bytes) -> bytes:
    body = BODY_HEAD.pack(offset, count, min_time_ms, max_time_ms, payload_format) + payload
    length = len(body)
    checksum = crc32c(body, crc32c(_LENGTH.pack(length)))
    return HEADER.pack(length, checksum) + body


def decode_at(data: bytes | memoryview, position: int, expected_offset: int | None
              ) -> tuple[Record | None, str | None]:
    """The record starting at `position`, or (None, why not). 'incomplete' means the bytes
    end inside the record (a torn tail, or a write still in flight); any other reason is
    damage."""
    end = len(data)
    if position + HEADER.size > end:
        return None, "incomplete"
    length, checksum = HEADER.unpack_from(data, position)
    if length < BODY_HEAD.size or length > MAX_BODY:
        return None, f"impossible record length {length}"
    body_start = position + HEADER.size
    if body_start + length > end:
        return None, "incomplete"
    body = data[body_start: body_start + length]
    if crc32c(body, crc32c(_LENGTH.pack(length))) != checksum:
        return None, "checksum mismatch"
    offset, count, min_time, max_time, payload_format = BODY_HEAD.unpack_from(body, 0)
    if expected_offset is not None and offset != expected_offset:
        return None, f"record holds offset {offset} where {expected_offset} was expected"
    if count == 0 or payload_format not in _FORMATS:
        return None, f"impossible record header (count {count}, format {payload_format})"
    return Record(offset, count, min_time, max_time, PayloadFormat(payload_format),
                  bytes(body[BODY_HEAD.size:])), None


_FORMATS = frozenset(int(f) for f in PayloadFormat)


@dataclass(frozen=True, slots=True)
class ScanResult:
    """How far a segment's bytes hold valid records: `records` end at byte `valid_bytes`;
    `problem` says why the scan stopped early (None at a clean end)."""

    records: list[Record]
    valid_bytes: int
    next_offset: int
    problem: str | None


def scan(data: bytes | memoryview, first_offset: int, keep_records: bool = True
         ) -> ScanResult:
    """Walk the records of a segment's bytes from the start, checking each one."""
    position = 0
    expected = first_offset
    records: list[Record] = []
    problem = None
    while position < len(data):
        record, problem = decode_at(data, position, expected)
        if record is None:
            break
        if keep_records:
            records.append(record)
        position += record.frame_size
        expected = record.next_offset
    return ScanResult(records, position, expected, problem)
