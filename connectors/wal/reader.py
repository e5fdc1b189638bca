"""Reading a WAL directory, in this process or another one, while it is being written.

A reader never writes and never truncates. It trusts only complete records with a valid
checksum; bytes after the last one in the newest segment are a write in flight (or a torn
tail the writer will truncate when it next opens), so the reader waits there, unless a
valid record follows them (then they are damage, not a write in flight). Damage followed by
valid records, or inside an older segment (which cannot be in flight), is noted in
``damage`` (segment, byte, event offsets around it) and skipped: the reader finds the next
valid record (records.find_next) and goes on, as the writer's recovery does. Offsets
missing between two segments are noted there too. A segment that is a symbolic link (or a
directory, a FIFO) is a WalError naming it: a reader never follows a symlink planted in the
folder (log.open_regular).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from frys.connectors.wal.log import (
    Damage,
    list_segments,
    open_regular,
    read_all,
    segment_name,
)
from frys.connectors.wal.records import (
    HEADER,
    MAX_BODY,
    RESYNC_SPAN,
    Record,
    decode_at,
    find_next,
    survey,
)

_READ_BYTES = 4 << 20


def log_bounds(directory: str | Path) -> tuple[int, int]:
    """(the oldest offset retention has kept, the offset after the last complete record)
    of the WAL at `directory`, as a reader sees it now; (0, 0) for a log without segments.
    Reads only the newest segment (past any damage in it)."""
    segments = list_segments(Path(directory))
    if not segments:
        return 0, 0
    base, path = segments[-1]
    fd = open_regular(path, os.O_RDONLY, "segment")
    try:
        data = read_all(fd)
    finally:
        os.close(fd)
    return segments[0][0], survey(data, base).next_offset


class LogReader:
    """Records of a WAL from an event offset on. ``read()`` returns what is there now, each
    record with how many of its leading events precede the requested offset (to skip)."""

    def __init__(self, directory: str | Path, offset: int | None = None) -> None:
        self.directory = Path(directory)
        self.damage: list[Damage] = []
        self._reported: set[tuple[str, int]] = set()
        self._resync_tried: tuple[int, int, int] | None = None
        self._fd: int | None = None
        self._base = 0
        self._position = 0
        self._expected = 0
        self.offset = 0
        self.seek(offset)

    def seek(self, offset: int | None) -> None:
        """Continue from event `offset` (None: the oldest retained; an offset retention
        has already deleted: the oldest retained)."""
        self._close_segment()
        segments = list_segments(self.directory)
        start = segments[0][0] if segments else 0
        self.offset = start if offset is None else max(offset, start)
        chosen = None
        for base, path in segments:
            if base <= self.offset:
                chosen = (base, path)
        if chosen is None and segments:
            chosen = segments[0]
        if chosen is not None:
            self._open(*chosen)

    def seek_time(self, time_ms: int) -> int:
        """Continue from the first record holding an event at or after `time_ms` (record
        times: see records.Record); returns that offset. Scans the log from the start."""
        self.seek(None)
        while True:
            records = self._read_records()
            if not records:
                break
            for record, _ in records:
                if record.max_time_ms >= time_ms:
                    self.seek(record.offset)
                    return record.offset
        return self.offset

    def read(self, max_records: int | None = None) -> list[tuple[Record, int]]:
        """The complete records from the current offset to the present end of the log, or
        about `max_records` of them (whole chunks: it may return a few more)."""
        found: list[tuple[Record, int]] = []
        while max_records is None or len(found) < max_records:
            batch = self._read_records()
            if not batch:
                break
            found.extend(batch)
        return found

    def follow(self, poll_interval_s: float = 0.05,
               stop: Callable[[], bool] = lambda: False) -> Iterator[tuple[Record, int]]:
        """Every record from the current offset on, waiting for new ones until `stop()`."""
        while not stop():
            records = self._read_records()
            if not records:
                time.sleep(poll_interval_s)
                continue
            yield from records

    def close(self) -> None:
        self._close_segment()

    # ------------------------------------------------------------------ internals

    def _open(self, base: int, path: Path) -> None:
        try:
            self._fd = open_regular(path, os.O_RDONLY, "segment")
        except FileNotFoundError:  # retention deleted it meanwhile
            self._fd = None
            return
        self._base = base
        self._position = 0
        self._expected = base

    def _close_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _read_records(self) -> list[tuple[Record, int]]:
        """One chunk of records, crossing into the next segment when this one is done."""
        # A loop, not two tries: a chunk can hold only records before the requested offset
        # (a seek deep into a segment larger than a chunk), and a segment can be empty (cut
        # by recovery); neither is the end of the log, so go on while there is progress.
        while True:
            if self._fd is None:
                self.seek(self.offset)
                if self._fd is None:
                    return []
            start = self._position
            records, problem = self._parse_chunk()
            if records:
                return records
            if self._position > start:
                continue  # only records before the requested offset in this chunk
            following = [(b, p) for b, p in list_segments(self.directory) if b > self._base]
            if problem is not None and self._resync(problem, following):
                continue
            if not following:
                return []  # the newest segment: wait for the writer
            # The writer created a newer segment only after finishing this one, so what is
            # here now is all there will be: one more look, then move on.
            records, problem = self._parse_chunk()
            if records:
                return records
            if self._position > start:
                continue
            name = segment_name(self._base)
            size = os.fstat(self._fd).st_size
            if problem not in (None, "incomplete") or self._position < size:
                self._note(Damage(name, self._position, size - self._position,
                                  problem or "incomplete record", "skipped", self._expected))
            elif following[0][0] > self._expected and os.path.lexists(self.directory / name):
                # This segment ends before the next one begins: its tail is gone (the file
                # was cut at a record boundary). Retention cannot do that, it deletes whole
                # segments oldest first, and this one is still here; so say so rather than
                # skip the missing events silently.
                self._note(Damage(
                    name, self._position, 0, f"offsets {self._expected} to "
                    f"{following[0][0] - 1} are missing before {segment_name(following[0][0])}",
                    "missing"))
            self._close_segment()
            self._open(*following[0])

    def _note(self, damage: Damage) -> None:
        if (damage.segment, damage.at) not in self._reported:
            self._reported.add((damage.segment, damage.at))
            self.damage.append(damage)

    def _resync(self, problem: str, following: list[tuple[int, Path]]) -> bool:
        """At bytes that are not a valid record: if a valid record follows in this segment,
        note the damage, continue at that record and return True. Looks again only when the
        file has grown (a write in flight in the newest segment is scanned once per growth)."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        attempt = (self._base, self._position, size)
        if self._resync_tried == attempt:
            return False
        self._resync_tried = attempt
        data = os.pread(self._fd, size - self._position, self._position)
        high = following[0][0] if following and following[0][0] > self._expected \
            else self._expected + RESYNC_SPAN
        found = find_next(data, 0, self._expected, high)
        if found is None:
            return False
        skipped, record = found
        self._note(Damage(segment_name(self._base), self._position, skipped, problem,
                          "skipped", self._expected, record.offset))
        self._position += skipped
        self._expected = record.offset
        return True

    def _parse_chunk(self) -> tuple[list[tuple[Record, int]], str | None]:
        assert self._fd is not None
        data = os.pread(self._fd, _READ_BYTES, self._position)
        if len(data) >= HEADER.size:
            (length, _) = HEADER.unpack_from(data, 0)
            wanted = HEADER.size + length
            # A record longer than a chunk is read whole, but only once the file holds all
            # of it: a torn or damaged length can claim up to MAX_BODY (1 GiB), which must
            # not be allocated for bytes that are not there (again on every poll of follow).
            if len(data) < wanted and length <= MAX_BODY and \
                    wanted <= os.fstat(self._fd).st_size - self._position:
                data = os.pread(self._fd, wanted, self._position)
        records = []
        position = 0
        problem = None
        while position < len(data):
            record, problem = decode_at(data, position, self._expected)
            if record is None:
                break
            position += record.frame_size
            self._expected = record.next_offset
            if record.next_offset > self.offset:
                records.append((record, max(0, self.offset - record.offset)))
                self.offset = record.next_offset
        self._position += position
        return records, problem
