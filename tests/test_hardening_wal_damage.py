"""Damage inside a WAL that is not a torn tail: one corrupt byte in a sealed segment (or in
the active one, with valid records after it) loses that record only. Recovery copies its
bytes to quarantine/ and skips it, readers skip it too and report it, `frys wal check`
lists it without changing anything; only a torn tail of the active segment is truncated."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from frys.cli import main
from frys.connectors.wal import FsyncPolicy, LogReader, WriteAheadLog
from frys.connectors.wal.log import list_segments
from frys.connectors.wal.records import scan

SEGMENT_BYTES = 600


def build(directory: Path) -> list[tuple[Path, list[tuple[int, int, int]]]]:
    """A log of 30 one-event JSON records in three or more segments; returns, per segment,
    its path and (byte position, frame size, offset) of each record."""
    with WriteAheadLog(directory, FsyncPolicy.never(), segment_bytes=SEGMENT_BYTES) as wal:
        for i in range(30):
            wal.append(b'{"i": %d, "pad": "%s"}' % (i, b"x" * 40), 1, i, i,
                       payload_format=2)
    layout = []
    for base, path in list_segments(directory):
        position, records = 0, []
        for record in scan(path.read_bytes(), base).records:
            records.append((position, record.frame_size, record.offset))
            position += record.frame_size
        layout.append((path, records))
    assert len(layout) >= 3
    return layout


def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x40
    path.write_bytes(bytes(data))


def offsets(directory: Path) -> tuple[list[int], LogReader]:
    reader = LogReader(directory, 0)
    found = [record.offset for record, _ in reader.read()]
    reader.close()
    return found, reader


def test_a_flipped_byte_in_a_sealed_segment_loses_that_record_only(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layout = build(tmp_path)
    path, records = layout[0]
    position, size, lost = records[2]
    damaged = path.read_bytes()[position: position + size]
    flip(path, position + 30)  # inside the body of the third record
    damaged = damaged[:30] + bytes([damaged[30] ^ 0x40]) + damaged[31:]
    before = path.read_bytes()

    # `frys wal check` lists it, exits 1, and changes nothing
    assert main(["wal", "check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{path.name}: {size} bytes from byte {position}" in out
    assert f"events {lost} to {lost} lost, reading resumes at offset {lost + 1}" in out
    assert "to be quarantined on the next open" in out
    assert path.read_bytes() == before and not (tmp_path / "quarantine").exists()

    # a reader skips it and says so
    found, reader = offsets(tmp_path)
    assert found == [i for i in range(30) if i != lost]
    assert [(d.segment, d.at, d.lost_bytes, d.offset, d.resume) for d in reader.damage] == \
        [(path.name, position, size, lost, lost + 1)]

    with WriteAheadLog(tmp_path, FsyncPolicy.never(), segment_bytes=SEGMENT_BYTES) as wal:
        assert len(wal.recovery) == 1
        damage = wal.recovery[0]
        assert (damage.action, damage.at, damage.lost_bytes) == ("quarantined", position, size)
        assert damage.quarantine == f"quarantine/{path.name}.{position}.bad"
        assert wal.next_offset == 30
    assert path.read_bytes() == before  # the sealed segment is not cut
    quarantined = tmp_path / "quarantine" / f"{path.name}.{position}.bad"
    assert quarantined.read_bytes() == damaged
    assert stat.S_IMODE(quarantined.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "quarantine").stat().st_mode) == 0o700
    found, _ = offsets(tmp_path)
    assert len(found) == 29  # every other record kept

    # reopening again quarantines the same bytes once, and check now says where they are
    WriteAheadLog(tmp_path, FsyncPolicy.never(), segment_bytes=SEGMENT_BYTES).close()
    assert os.listdir(tmp_path / "quarantine") == [quarantined.name]
    assert main(["wal", "check", str(tmp_path)]) == 1
    assert f"quarantined to quarantine/{quarantined.name}" in capsys.readouterr().out


def test_a_damaged_length_in_a_sealed_segment_loses_that_record_only(tmp_path: Path) -> None:
    layout = build(tmp_path)
    path, records = layout[1]
    position, size, lost = records[1]
    data = bytearray(path.read_bytes())
    data[position + 2] = 0x30  # the length now claims ~3 MiB, past the end of the file
    path.write_bytes(bytes(data))
    found, reader = offsets(tmp_path)
    assert found == [i for i in range(30) if i != lost]
    assert [(d.at, d.lost_bytes) for d in reader.damage] == [(position, size)]
    with WriteAheadLog(tmp_path, FsyncPolicy.never(), segment_bytes=SEGMENT_BYTES) as wal:
        assert [(d.action, d.at, d.lost_bytes, d.offset, d.resume) for d in wal.recovery] == \
            [("quarantined", position, size, lost, lost + 1)]
    assert offsets(tmp_path)[0] == found


def test_damage_in_the_active_segment_followed_by_records_is_not_truncated(
        tmp_path: Path) -> None:
    layout = build(tmp_path)
    path, records = layout[-1]
    position, size, lost = records[0]
    flip(path, position + 3)  # a length byte of the active segment's first record
    length = path.stat().st_size
    with WriteAheadLog(tmp_path, FsyncPolicy.never(), segment_bytes=SEGMENT_BYTES) as wal:
        assert [(d.action, d.at, d.lost_bytes) for d in wal.recovery] == \
            [("quarantined", position, size)]
        assert wal.append(b'{"i": 30}', 1, payload_format=2) == 30
    assert path.stat().st_size > length
    assert offsets(tmp_path)[0] == [i for i in range(31) if i != lost]


def test_a_torn_tail_is_still_truncated(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    layout = build(tmp_path)
    path, records = layout[-1]
    position, size, lost = records[-1]
    path.write_bytes(path.read_bytes()[: position + size // 2])  # a write cut short
    assert main(["wal", "check", str(tmp_path)]) == 1
    assert "a torn tail, truncated on the next open" in capsys.readouterr().out
    with WriteAheadLog(tmp_path, FsyncPolicy.never(), segment_bytes=SEGMENT_BYTES) as wal:
        assert [(d.action, d.at, d.lost_bytes) for d in wal.recovery] == \
            [("truncated", position, size // 2)]
        assert wal.next_offset == lost
    assert path.stat().st_size == position
    assert not (tmp_path / "quarantine").exists()
    assert main(["wal", "check", str(tmp_path)]) == 0
    assert "no damage" in capsys.readouterr().out


def test_tail_and_replay_report_damage_on_stderr(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log"
    layout = build(log)
    path, records = layout[0]
    position, _, lost = records[1]
    flip(path, position + 20)
    assert main(["tail", str(log), "--from-offset", "0", "--no-follow"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 29
    assert f"damaged: {path.name}" in captured.err and f"from byte {position}" in captured.err
    assert f"events {lost} to {lost} lost" in captured.err
    assert main(["replay", str(log), "--to", str(tmp_path / "copy"), "-q"]) == 0
    assert f"from byte {position}" in capsys.readouterr().err
    assert len(offsets(tmp_path / "copy")[0]) == 29


def test_publish_reports_what_recovery_quarantined(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log"
    layout = build(log)
    path, records = layout[1]
    position, size, lost = records[0]
    flip(path, position + 5)  # the checksum itself
    events = tmp_path / "events.jsonl"
    events.write_text('{"i": 30}\n')
    assert main(["publish", str(log), str(events), "-q"]) == 0
    err = capsys.readouterr().err
    assert f"recovered: {path.name}: {size} bytes from byte {position} quarantined to " \
        f"quarantine/{path.name}.{position}.bad and skipped (checksum mismatch); " \
        f"events {lost} to {lost} lost, reading resumes at offset {lost + 1}" in err
    assert offsets(log)[0] == [i for i in range(31) if i != lost]
