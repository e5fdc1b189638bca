"""The on-disk form of one WAL record, and the scan that finds where valid records end.

A record holds `count` consecutive events (a batch) as one opaque payload::

    u32 body_length | u32 crc32c(body_length bytes + body) | body
    body = u64 first_offset | u32 count | i64 min_time_ms | i64 max_time_ms | u8 format | payload

All integers little-endian. The checksum covers the length too, so a flipped bit anywhere in a
record, its length included, is caught; `first_offset` inside the checksummed body makes every
record self-describing, so a record that is intact but in the wrong place (a stale tail after
a crash) is caught as well. A segment file is nothing but records back to back; its name is
the offset of its first event.

There is no sync marker between records, so after damage (a flipped byte in a length makes
the next boundary unknowable) `find_next` finds the next record by searching forward for the
first position where a whole record checks: a length that fits, a plausible first offset
(at least the one expected, below the next segment's first), a count, a format and the
CRC32C over all of it. A regular expression finds the candidate positions at C speed (a
non-zero length below 1 GiB, the offset's fixed high bytes, a known format byte), so only a
few positions per MiB get the full check; the cost is one pass over the damaged bytes, paid
only when there is damage, and nothing for a healthy log. The format is unchanged (logs
already written read as before). What this cannot tell apart: a payload that itself holds a
whole, checksummed WAL record with a plausible offset, found while resynchronising inside
the damaged record (a 2^-32 chance for anything else).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from enum import IntEnum

from crc32c import crc32c

_LENGTH = struct.Struct("<I")
HEADER = struct.Struct("<II")  # body length, checksum
BODY_HEAD = struct.Struct("<QIqqB")  # first offset, count, min time, max time, format
RECORD_OVERHEAD = HEADER.size + BODY_HEAD.size
_FRAME_HEAD = struct.Struct("<IIQIqqB")  # HEADER then BODY_HEAD: a resync candidate's fields
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


# How far past the expected offset a resynchronised record may start when no next segment
# bounds it (a record holds fewer than 2^32 events; 2^40 allows many damaged records).
RESYNC_SPAN = 1 << 40


def _candidates(low: int, high: int) -> re.Pattern[bytes]:
    """Positions that may start a record holding offsets in [low, high): the length is not
    zero and at most MAX_BODY (its high byte at most 0x40), the first offset's high bytes
    are those low and high - 1 share, and the format byte is a known one."""
    low_bytes = low.to_bytes(8, "little")
    high_bytes = (max(high, low + 1) - 1).to_bytes(8, "little")
    shared = 0
    while shared < 8 and low_bytes[7 - shared] == high_bytes[7 - shared]:
        shared += 1
    formats = b"".join(re.escape(bytes([f])) for f in sorted(_FORMATS))
    assert MAX_BODY == 1 << 30
    return re.compile(
        b"(?=(?!\\x00\\x00\\x00\\x00).{3}[\\x00-\\x40].{4}"  # length, checksum
        + b".{%d}" % (8 - shared) + re.escape(low_bytes[8 - shared:])  # first offset
        + b".{20}[" + formats + b"])", re.DOTALL)  # count, times, format


def find_next(data: bytes | memoryview, start: int, low: int, high: int
              ) -> tuple[int, Record] | None:
    """The first position at or after `start` where a whole valid record starts whose events
    lie in [low, high), with that record; None if there is none in `data`."""
    end = len(data)
    for match in _candidates(low, high).finditer(data, start):
        position = match.start()
        # the cheap checks first: a false candidate's length can claim megabytes to checksum
        length, _, offset, count, _, _, _ = _FRAME_HEAD.unpack_from(data, position)
        if not (BODY_HEAD.size <= length <= end - position - HEADER.size
                and count > 0 and low <= offset and offset + count <= high):
            continue
        record, _ = decode_at(data, position, None)
        if record is not None and low <= record.offset and record.next_offset <= high:
            return position, record
    return None


@dataclass(frozen=True, slots=True)
class Gap:
    """Damaged bytes ``at`` to ``end`` of a segment: the event expected there was
    ``offset``; the next valid record starts at ``end`` with offset ``resume`` (None: no
    valid record follows in the segment, ``end`` is its length)."""

    at: int
    end: int
    reason: str
    offset: int
    resume: int | None


@dataclass(frozen=True, slots=True)
class Survey:
    """A segment read past its damage: `records` (if kept) with the byte each starts at
    (`positions`), the `gaps` between them, the byte after the last valid record
    (`valid_bytes`) and the offset after it."""

    records: list[Record]
    gaps: list[Gap]
    valid_bytes: int
    next_offset: int
    positions: list[int]


def survey(data: bytes | memoryview, first_offset: int, offset_limit: int | None = None,
           keep_records: bool = False) -> Survey:
    """Walk a segment's records like `scan`, but past damage: at a record that does not
    check, resynchronise on the next one that does (find_next) and note the gap. Records
    found after a gap hold offsets from the expected one up to `offset_limit` (the next
    segment's first offset; None: RESYNC_SPAN past the expected offset)."""
    position = 0
    expected = first_offset
    valid_end = 0
    records: list[Record] = []
    positions: list[int] = []
    gaps: list[Gap] = []
    while position < len(data):
        record, problem = decode_at(data, position, expected)
        if record is None:
            high = offset_limit if offset_limit is not None and offset_limit > expected \
                else expected + RESYNC_SPAN
            found = find_next(data, position, expected, high)
            if found is None:
                gaps.append(Gap(position, len(data), problem or "damage", expected, None))
                break
            next_position, record = found
            gaps.append(Gap(position, next_position, problem or "damage", expected,
                            record.offset))
            position = next_position
        if keep_records:
            records.append(record)
            positions.append(position)
        position += record.frame_size
        expected = record.next_offset
        valid_end = position
    return Survey(records, gaps, valid_end, expected, positions)
