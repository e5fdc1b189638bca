"""Damage to a WAL's files at every byte: truncated there, or the byte flipped (xor 0xFF),
each in a fresh copy of a small three-segment log. Opening it never raises, keeps every record
before the damaged one (in order, exactly once), every record after a flipped one and every
segment after it, reports what it truncated or quarantined, and the log takes appends again;
a reader of the damaged files never raises either."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frys.connectors.wal import FsyncPolicy, LogReader, Record, WriteAheadLog
from frys.connectors.wal.log import list_segments
from frys.connectors.wal.records import HEADER, scan

SEGMENT_BYTES = 240  # the ten records below make three segments of 242, 274 and 149 bytes
HELPER = Path(__file__).with_name("wal_writer.py")


@dataclass(frozen=True)
class Segment:
    name: str
    data: bytes
    records: list[tuple[int, Record]]  # (byte position, record)


def build_log(directory: Path) -> list[Segment]:
    with WriteAheadLog(directory, FsyncPolicy.never(), segment_bytes=SEGMENT_BYTES) as wal:
        for i in range(10):
            wal.append(bytes([65 + i]) * ((i * 37) % 70 + 3), i % 3 + 1, i * 100, i * 100 + 5)
    segments = []
    for base, path in list_segments(directory):
        data = path.read_bytes()
        result = scan(data, base)
        assert result.problem is None and result.valid_bytes == len(data)
        positions, position = [], 0
        for record in result.records:
            positions.append((position, record))
            position += record.frame_size
        segments.append(Segment(path.name, data, positions))
    assert [len(s.records) for s in segments] == [4, 4, 2]
    return segments


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> list[Segment]:
    return build_log(tmp_path_factory.mktemp("original"))


def lay_out(directory: Path, segments: list[Segment], damaged: str, data: bytes) -> None:
    """A fresh copy of the log, with `data` as the content of segment `damaged`."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir()
    for segment in segments:
        (directory / segment.name).write_bytes(data if segment.name == damaged else
                                               segment.data)


def read_all(directory: Path) -> tuple[list[Record], LogReader]:
    reader = LogReader(directory, 0)
    found = reader.read()
    reader.close()
    assert all(skip == 0 for _, skip in found)
    return [record for record, _ in found], reader


def damaged_record(segment: Segment, at: int) -> tuple[int, Record] | None:
    """The record whose bytes include byte `at` (None past the last one)."""
    for position, record in segment.records:
        if position <= at < position + record.frame_size:
            return position, record
    return None


def kept_records(segments: list[Segment], index: int, at: int, mode: str) -> list[Record]:
    """A cut keeps every record but those of segment `index` that reach byte `at` or
    beyond; a flipped byte loses only the record that holds it (the reader and recovery
    find the next record again), unless it is the last record of the log (a torn tail)."""
    return [record for i, segment in enumerate(segments)
            for position, record in segment.records
            if i != index or position + record.frame_size <= at
            or (mode == "flip" and position > at)]


def check_damage(tmp_path: Path, segments: list[Segment], index: int, at: int,
                 mode: str) -> None:
    """The rule since damage is quarantined (it used to be: cut every segment at its
    first damage): only a torn tail, damage in the newest segment with no valid record
    after it, is truncated; other damage is copied to quarantine/ and skipped, and the
    segment is left as it is."""
    segment = segments[index]
    last = index == len(segments) - 1
    if mode == "truncate":
        data = segment.data[:at]
    else:
        data = segment.data[:at] + bytes([segment.data[at] ^ 0xFF]) + segment.data[at + 1:]
    hit = damaged_record(segment, at)
    assert hit is not None
    position, first_lost = hit
    last_record = position == segment.records[-1][0]
    torn_tail = last and (mode == "truncate" or last_record)
    kept = kept_records(segments, index, at, mode)
    lost = (at - position) if mode == "truncate" else first_lost.frame_size
    directory = tmp_path / "copy"
    lay_out(directory, segments, segment.name, data)

    # a reader of the damaged files (before any writer recovers them) never raises and
    # returns the same records; it notes damage it skips, while a torn tail looks like a
    # write in flight, so it waits there
    before, reader = read_all(directory)
    assert before == kept
    assert bool(reader.damage) == (not torn_tail), reader.damage

    wal = WriteAheadLog(directory, FsyncPolicy.never(), segment_bytes=SEGMENT_BYTES)
    try:
        if lost:
            assert len(wal.recovery) == 1, wal.recovery
            damage = wal.recovery[0]
            assert (damage.segment, damage.at, damage.lost_bytes) == \
                (segment.name, position, lost)
            assert damage.offset == first_lost.offset
            if torn_tail:
                assert damage.action == "truncated"
            else:
                assert damage.action == "quarantined"
                assert (directory / damage.quarantine).read_bytes() == \
                    data[position: position + lost]
        else:
            assert wal.recovery == []
        assert (directory / segment.name).stat().st_size == \
            (position if torn_tail else len(data))
        end = first_lost.offset if torn_tail else segments[-1].records[-1][1].next_offset
        assert wal.next_offset == end
        assert wal.append(b"after the damage", 2) == end
    finally:
        wal.close()

    after, reader = read_all(directory)
    assert after[:-1] == kept
    assert (after[-1].offset, after[-1].count, after[-1].payload) == \
        (end, 2, b"after the damage")
    assert bool(reader.damage) == (not torn_tail), reader.damage
    if not torn_tail:
        assert len(reader.damage) == 1
        gap = reader.damage[0]
        if lost:
            assert (gap.segment, gap.at, gap.lost_bytes) == (segment.name, position, lost)
            assert gap.offset == first_lost.offset
        else:  # a sealed segment cut at a record boundary: its tail is simply missing
            assert (gap.segment, gap.at, gap.lost_bytes) == (segment.name, position, 0)
            assert f"offsets {first_lost.offset} to " \
                f"{segments[index + 1].records[0][1].offset - 1} are missing" in gap.reason


@pytest.mark.parametrize("mode", ["truncate", "flip"])
def test_damage_at_every_byte(tmp_path: Path, original: list[Segment], mode: str) -> None:
    trials = 0
    for index, segment in enumerate(original):
        for at in range(len(segment.data)):
            try:
                check_damage(tmp_path, original, index, at, mode)
            except AssertionError as error:
                raise AssertionError(f"{mode} at byte {at} of {segment.name}: {error}") \
                    from error
            trials += 1
    assert trials == 242 + 274 + 149


def test_zeros_after_the_last_record_are_cut(tmp_path: Path, original: list[Segment]) -> None:
    """A file system may leave zeroed blocks after a crash: a record length of 0 is damage."""
    last = original[-1]
    directory = tmp_path / "copy"
    lay_out(directory, original, last.name, last.data + bytes(4096))
    with WriteAheadLog(directory) as wal:
        assert len(wal.recovery) == 1
        damage = wal.recovery[0]
        assert (damage.segment, damage.at, damage.lost_bytes) == \
            (last.name, len(last.data), 4096)
        assert "impossible record length 0" in damage.reason
        assert "4096 bytes from byte 149 truncated" in str(damage)
    records, _ = read_all(directory)
    assert records == [record for s in original for _, record in s.records]


def test_a_segment_overlapping_the_previous_one_is_dropped(
        tmp_path: Path, original: list[Segment]) -> None:
    """A segment file named after an offset that an older segment already holds was not
    written by this log; recovery keeps what came first and removes it."""
    directory = tmp_path / "copy"
    lay_out(directory, original, "", b"")
    stray = original[1].records[1][1].offset  # inside segment 1
    (directory / f"{stray:020d}.wal").write_bytes(original[1].data)
    (directory / "notes.wal").write_bytes(b"not a segment")  # not an offset: ignored
    with WriteAheadLog(directory) as wal:
        assert len(wal.recovery) == 1
        damage = wal.recovery[0]
        assert (damage.segment, damage.at, damage.lost_bytes) == \
            (f"{stray:020d}.wal", 0, len(original[1].data))
        assert "starts at offset 9, inside the previous segment" in damage.reason
        assert not (directory / f"{stray:020d}.wal").exists()
        assert (directory / "notes.wal").exists()
    records, reader = read_all(directory)
    assert records == [record for s in original for _, record in s.records]
    assert reader.damage == []


def test_a_garbage_length_does_not_make_a_reader_allocate_it(
        tmp_path: Path, original: list[Segment]) -> None:
    """A torn or damaged tail can claim a body of up to 1 GiB; the reader must not read (and
    allocate) that much for bytes the file does not hold, on every poll. The reader runs in
    a process whose address space is limited to 256 MiB."""
    last = original[-1]
    directory = tmp_path / "copy"
    garbage = HEADER.pack(0x3FF00000, 0) + b"\x01" * 64
    lay_out(directory, original, last.name, last.data + garbage)
    result = subprocess.run(
        [sys.executable, str(HELPER), "read", str(directory), "0", str(256 << 20)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["10", str(sum(r.count for s in original
                                                   for _, r in s.records)), "0"]


# ------------------------------------------------------------------ many kinds of damage at once

damage_strategy = st.lists(
    st.tuples(st.integers(0, 2),  # segment
              st.floats(0, 1, exclude_max=True),  # where, as a fraction of its length
              st.sampled_from(["flip", "zero", "truncate", "garbage"]),
              st.binary(min_size=1, max_size=40)),
    min_size=1, max_size=4)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage_strategy)
def test_any_damage_keeps_what_precedes_it(
        tmp_path: Path, original: list[Segment],
        damages: list[tuple[int, float, str, bytes]]) -> None:
    files = {s.name: bytearray(s.data) for s in original}
    for index, fraction, kind, noise in damages:
        data = files[original[index].name]
        at = int(fraction * len(data))
        if kind == "garbage":
            data[at:at] = noise  # inserted bytes
        elif at >= len(data):
            continue
        elif kind == "flip":
            data[at] ^= noise[0] | 1  # never xor with 0
        elif kind == "zero":
            data[at: at + len(noise)] = bytes(len(data[at: at + len(noise)]))
        else:
            del data[at:]
    first_damage = (len(original), 0)  # (segment index, byte) of the earliest damaged byte
    for index, segment in enumerate(original):
        now = bytes(files[segment.name])
        if now != segment.data:
            at = next((i for i, (a, b) in enumerate(zip(now, segment.data, strict=False))
                       if a != b), min(len(now), len(segment.data)))
            first_damage = min(first_damage, (index, at))
    directory = tmp_path / "copy"
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir()
    for name, data in files.items():
        (directory / name).write_bytes(bytes(data))

    everything = [record for s in original for _, record in s.records]
    before, _ = read_all(directory)  # never raises
    wal = WriteAheadLog(directory, FsyncPolicy.never(), segment_bytes=SEGMENT_BYTES)
    try:
        records, _ = read_all(directory)
        # whatever survives is original records, in order, each once
        assert all(record in everything for record in records)
        offsets = [record.offset for record in records]
        assert offsets == sorted(set(offsets))
        # and everything before the first damaged byte survives
        index, at = first_damage
        prefix = [record for i, segment in enumerate(original[: index + 1])
                  for position, record in segment.records
                  if i < index or position + record.frame_size <= at]
        assert records[: len(prefix)] == prefix
        # a reader of the damaged files, before recovery, saw just the same
        assert before == records
        end = wal.next_offset
        assert end >= (records[-1].next_offset if records else 0)
        assert wal.append(b"new") == end
    finally:
        wal.close()
    again, _ = read_all(directory)
    assert again[:-1] == records
    assert (again[-1].offset, again[-1].payload) == (end, b"new")
