"""Kill -9 trials of the WAL: a writer process (wal_writer.py, FsyncPolicy.always(), small
segments so they roll) acknowledges each append on its stdout; the test SIGKILLs it at a
random, seeded moment and checks that the log opens cleanly and holds every acknowledged
record, in order, exactly once, with its bytes, and at most the one append in flight."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from wal_writer import count_for, payload_for, times_for

from frys.connectors.wal import FsyncPolicy, LogReader, Record, WriteAheadLog
from frys.connectors.wal.log import list_segments
from frys.connectors.wal.records import scan

WRITER = Path(__file__).with_name("wal_writer.py")
SEGMENT_BYTES = 16 << 10  # ~10 records of the writer's ~1.7 KB: a roll every few ms
TRIALS = 36


class Writer:
    """A wal_writer.py process whose acknowledgements go to a file (a pipe could fill up and
    stall the writer on its stdout instead of in an append)."""

    def __init__(self, directory: Path, acks_file: Path, start_seq: int = 0) -> None:
        self.acks_file = acks_file
        with open(acks_file, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(WRITER), "write", str(directory), str(start_seq),
                 str(SEGMENT_BYTES)],
                stdout=out, stderr=subprocess.PIPE)

    def lines(self) -> list[str]:
        # only whole lines: each is one write() of a few bytes, so a kill never splits one,
        # but be strict anyway
        return self.acks_file.read_text().splitlines(keepends=True)

    def wait_for_acks(self, count: int, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.lines()) < count + 1:  # + the "ready" line
            assert self.process.poll() is None, self.process.communicate()[1].decode()
            assert time.monotonic() < deadline, "the writer is not making progress"
            time.sleep(0.001)

    def kill(self) -> list[tuple[int, int]]:
        """SIGKILL it; the (offset, seq) of every acknowledged append."""
        os.kill(self.process.pid, signal.SIGKILL)
        _, err = self.process.communicate(timeout=20)
        assert self.process.returncode == -signal.SIGKILL, err.decode()
        lines = [line for line in self.lines() if line.endswith("\n")]
        if lines:
            assert lines[0] == "ready\n"
        acks = []
        for line in lines[1:]:
            offset, seq = line.split()
            acks.append((int(offset), int(seq)))
        return acks


def read_all(directory: Path) -> list[Record]:
    reader = LogReader(directory, 0)
    try:
        found = reader.read()
    finally:
        reader.close()
    assert all(skip == 0 for _, skip in found)
    return [record for record, _ in found]


def check_records(records: list[Record]) -> None:
    """Record i is the writer's record of seq i, and offsets run on without a gap."""
    offset = 0
    for seq, record in enumerate(records):
        assert record.offset == offset, f"record of seq {seq} at offset {record.offset}"
        assert record.count == count_for(seq)
        assert record.payload == payload_for(seq), f"payload of seq {seq} differs"
        assert (record.min_time_ms, record.max_time_ms) == times_for(seq)
        offset = record.next_offset


def check_acknowledged(records: list[Record], acks: list[tuple[int, int]]) -> None:
    """Every acknowledged append is there at its acknowledged offset; beyond the last one at
    most the single append that was in flight when the writer died."""
    for offset, seq in acks:
        assert seq < len(records), f"acknowledged seq {seq} (offset {offset}) is lost"
        assert records[seq].offset == offset
    last_acked = acks[-1][1] if acks else -1
    assert len(records) <= last_acked + 2, \
        f"{len(records) - last_acked - 1} unacknowledged records after seq {last_acked}"


def check_segments(directory: Path) -> None:
    """After recovery every segment is whole: valid records from its first byte to its last,
    the first of them at the offset the file is named after."""
    for base, path in list_segments(directory):
        data = path.read_bytes()
        result = scan(data, base)
        assert result.problem is None and result.valid_bytes == len(data), \
            f"{path.name}: {result.problem} at byte {result.valid_bytes}"


def recover(directory: Path) -> tuple[WriteAheadLog, list[Record]]:
    """Reopen after the kill (must not raise), check what recovery did, read it all."""
    segments_before = [path.name for _, path in list_segments(directory)]
    wal = WriteAheadLog(directory, FsyncPolicy.always(), segment_bytes=SEGMENT_BYTES)
    # a torn write can only be in the segment being written when the process died
    for damage in wal.recovery:
        assert damage.segment == segments_before[-1], damage
        assert damage.lost_bytes > 0
    check_segments(directory)
    records = read_all(directory)
    check_records(records)
    assert wal.next_offset == (records[-1].next_offset if records else 0)
    return wal, records


@pytest.mark.parametrize("seed", range(TRIALS))
def test_kill_minus_9_loses_no_acknowledged_append(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    directory = tmp_path / "wal"
    writer = Writer(directory, tmp_path / "acks")
    if seed % 9 == 0:
        # anywhere from interpreter start-up through opening the log into the appends
        time.sleep(rng.uniform(0.0, 0.3))
        wanted = 0
    else:
        # after a random number of acknowledgements, plus a jitter of a fraction of an
        # append or two so the kill lands anywhere in the write / fsync / print cycle
        wanted = rng.randrange(0, 400)
        writer.wait_for_acks(wanted)
        time.sleep(rng.uniform(0.0, 0.002))
    acks = writer.kill()
    assert len(acks) >= wanted
    assert [seq for _, seq in acks] == list(range(len(acks)))

    # a reader that looks before the writer's recovery already sees every acknowledged
    # record (a torn tail is only a write in flight to it)
    before = read_all(directory) if directory.exists() else []
    check_records(before)
    check_acknowledged(before, acks)

    wal, records = recover(directory)
    try:
        check_acknowledged(records, acks)
        assert records == before
        if wanted >= 50:
            assert len(list_segments(directory)) > 1, "segments did not roll in the trial"
    finally:
        wal.close()


def test_appends_after_a_crash_continue_the_offsets(tmp_path: Path) -> None:
    """kill -9, reopen and append in this process, a second writer process, kill -9 again:
    one log of consecutive offsets holding every acknowledged record exactly once."""
    directory = tmp_path / "wal"
    first = Writer(directory, tmp_path / "acks1")
    first.wait_for_acks(120)
    acks = first.kill()

    wal, records = recover(directory)
    check_acknowledged(records, acks)
    resumed = len(records)
    offset = wal.next_offset
    for seq in range(resumed, resumed + 5):
        low, high = times_for(seq)
        assert wal.append(payload_for(seq), count_for(seq), low, high) == offset
        acks.append((offset, seq))
        offset += count_for(seq)
    assert wal.next_offset == offset
    wal.close()

    second = Writer(directory, tmp_path / "acks2", start_seq=resumed + 5)
    second.wait_for_acks(80)
    second_acks = second.kill()
    assert second_acks[0] == (offset, resumed + 5)
    acks.extend(second_acks)

    wal, records = recover(directory)
    try:
        check_acknowledged(records, acks)
        assert len(list_segments(directory)) > 10
        # and the log goes on from where the second writer stopped
        seq = len(records)
        assert wal.append(payload_for(seq), count_for(seq), *times_for(seq)) \
            == records[-1].next_offset
    finally:
        wal.close()
    records = read_all(directory)
    check_records(records)
    assert len(records) == seq + 1
