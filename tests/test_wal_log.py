"""Unit tests of the WAL writer (fsync policies, segments, retention, the writer lock), its
readers (in this process and another one, across segments, seeking by offset and time) and
the consumer offset store."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wal_writer import digest

from frys.connectors.wal import (
    NO_TIME,
    FsyncPolicy,
    LogReader,
    OffsetStore,
    PayloadFormat,
    Record,
    Retention,
    WalError,
    WriteAheadLog,
)
from frys.connectors.wal.log import list_segments
from frys.connectors.wal.records import RECORD_OVERHEAD

HELPER = Path(__file__).with_name("wal_writer.py")


class Clock:
    """An injected clock: seconds, moved by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def frame(size: int, fill: int = 0) -> bytes:
    """A payload whose record takes exactly `size` bytes in its segment."""
    return bytes([fill]) * (size - RECORD_OVERHEAD)


def read_all(directory: Path, offset: int | None = 0) -> list[tuple[Record, int]]:
    reader = LogReader(directory, offset)
    try:
        found = reader.read()
        assert reader.damage == []
        return found
    finally:
        reader.close()


def segment_bases(directory: Path) -> list[int]:
    return [base for base, _ in list_segments(directory)]


def wait_until(condition, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


# ------------------------------------------------------------------ fsync policies


def test_always_syncs_every_append_before_it_returns(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, FsyncPolicy.always()) as wal:
        for i in range(20):
            wal.append(b"x" * i, count=i % 3 + 1)
            assert wal.stats.syncs == wal.stats.appends == i + 1
        # a group of records: one write, one flush
        wal.append_many([(b"a", 1, NO_TIME, NO_TIME, PayloadFormat.RAW)] * 5)
        assert (wal.stats.appends, wal.stats.records, wal.stats.syncs) == (21, 25, 21)


def test_always_syncs_the_full_segment_again_when_it_rolls(tmp_path: Path) -> None:
    """Not required (each append was synced already), but what the code does: one more
    flush per roll, besides the directory's."""
    with WriteAheadLog(tmp_path, FsyncPolicy.always(), segment_bytes=200) as wal:
        for _ in range(10):
            wal.append(frame(100))
        assert len(segment_bases(tmp_path)) == 5
        assert wal.stats.syncs == wal.stats.appends + 4


def test_batch_syncs_once_max_bytes_are_unsynced(tmp_path: Path) -> None:
    clock = Clock()  # frozen: the interval never passes
    policy = FsyncPolicy.batch(interval_ms=60_000, max_bytes=1000)
    with WriteAheadLog(tmp_path, policy, clock=clock) as wal:
        syncs = []
        for _ in range(10):
            wal.append(frame(400))
            syncs.append(wal.stats.syncs)
        # 400, 800, 1200 -> sync; 400, 800, 1200 -> sync; ...
        assert syncs == [0, 0, 1, 1, 1, 2, 2, 2, 3, 3]
        wal.append_many([(frame(600), 1, NO_TIME, NO_TIME, PayloadFormat.RAW)] * 2)
        assert wal.stats.syncs == 4  # 400 unsynced + 1200 in one write
    assert wal.stats.syncs == 5  # close flushes


def test_batch_syncs_on_append_once_the_interval_has_passed(tmp_path: Path) -> None:
    clock = Clock()
    policy = FsyncPolicy.batch(interval_ms=100, max_bytes=1 << 30)
    with WriteAheadLog(tmp_path, policy, clock=clock) as wal:
        wal.append(b"first")  # the oldest unsynced append, at t=0
        clock.now += 0.05
        wal.append(b"second")
        assert wal.stats.syncs == 0
        clock.now += 0.06  # 110 ms after the first
        wal.append(b"third")
        assert wal.stats.syncs == 1
        clock.now += 0.09  # only 90 ms after the oldest unsynced one (none until now)
        wal.append(b"fourth")
        clock.now += 0.09
        wal.append(b"fifth")
        assert wal.stats.syncs == 1
        clock.now += 0.02
        wal.append(b"sixth")
        assert wal.stats.syncs == 2


def test_batch_background_flusher_syncs_a_quiet_log_on_time(tmp_path: Path) -> None:
    """Each wake-up of the flusher is `flush_if_due`, driven here by the injected clock;
    then the real thread is seen doing it on its own."""
    clock = Clock()
    policy = FsyncPolicy.batch(interval_ms=20, max_bytes=1 << 30)
    wal = WriteAheadLog(tmp_path, policy, clock=clock)
    try:
        assert wal.flush_if_due() and wal.stats.syncs == 0  # nothing to flush
        wal.append(b"quiet")
        assert wal.flush_if_due() and wal.stats.syncs == 0  # by the clock, 0 ms passed
        clock.now += 0.019
        assert wal.flush_if_due() and wal.stats.syncs == 0
        clock.now += 0.002
        assert wal.flush_if_due() and wal.stats.syncs == 1
        assert wal.flush_if_due() and wal.stats.syncs == 1  # nothing unsynced since
        wal.append(b"quiet again")
        clock.now += 0.021
        wait_until(lambda: wal.stats.syncs == 2)  # the thread's own wake-up
    finally:
        wal.close()
    assert not wal.flush_if_due()  # closed
    assert wal._flusher is not None and not wal._flusher.is_alive()


def test_never_leaves_syncing_to_the_system_even_on_close(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, FsyncPolicy.never(), segment_bytes=200) as wal:
        for _ in range(10):
            wal.append(frame(100))
        assert len(segment_bases(tmp_path)) == 5
        assert wal.stats.syncs == 0
    assert wal.stats.syncs == 0
    assert len(read_all(tmp_path)) == 10
    with WriteAheadLog(tmp_path, FsyncPolicy.never()) as wal:
        wal.sync()  # but an explicit sync does
        assert wal.stats.syncs == 1


@pytest.mark.parametrize("policy", [FsyncPolicy.always(), FsyncPolicy.batch(),
                                    FsyncPolicy.never()])
def test_appends_are_in_the_file_when_append_returns(tmp_path: Path,
                                                     policy: FsyncPolicy) -> None:
    """Whatever the policy, an append is written through (another reader sees it at once)."""
    with WriteAheadLog(tmp_path, policy) as wal:
        reader = LogReader(tmp_path)
        for i in range(5):
            offset = wal.append(b"event %d" % i, count=2)
            assert [(r.offset, r.payload) for r, _ in reader.read()] == \
                [(offset, b"event %d" % i)]
        reader.close()
    with pytest.raises(WalError, match="is closed"):
        wal.append(b"late")
    wal.close()  # a second close is harmless
    wal.sync()  # and so is a sync after closing


def test_default_policy_is_batch() -> None:
    assert FsyncPolicy.batch() == FsyncPolicy("batch", 100, 4 << 20)


@pytest.mark.parametrize(("text", "expected"), [
    ("always", FsyncPolicy("always")),
    ("never", FsyncPolicy("never")),
    ("batch", FsyncPolicy("batch", 100, 4 << 20)),
    ("batch:250", FsyncPolicy("batch", 250, 4 << 20)),
    ("batch:250:1024", FsyncPolicy("batch", 250, 1024)),
])
def test_fsync_policy_parse(text: str, expected: FsyncPolicy) -> None:
    assert FsyncPolicy.parse(text) == expected


@pytest.mark.parametrize("text", ["", "sometimes", "Always", "always:1", "never:", "batch:",
                                  "batch:x", "batch:1:2:3", "batch:-5", "batch:1.5",
                                  " batch", "batch:²"])
def test_fsync_policy_parse_rejects(text: str) -> None:
    with pytest.raises(WalError, match="unknown fsync policy"):
        FsyncPolicy.parse(text)


@pytest.mark.parametrize("text", ["batch:0", "batch:10:0"])
def test_fsync_policy_parse_rejects_zero(text: str) -> None:
    with pytest.raises(WalError, match="positive interval and size"):
        FsyncPolicy.parse(text)


@given(st.text(max_size=20))
def test_fsync_policy_parse_returns_a_policy_or_raises_wal_error(text: str) -> None:
    try:
        policy = FsyncPolicy.parse(text)
    except WalError:
        return
    assert policy.mode in ("always", "batch", "never")


def test_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(WalError, match="segment_bytes must be positive"):
        WriteAheadLog(tmp_path, segment_bytes=0)
    (tmp_path / "file").write_text("")
    with pytest.raises(WalError, match="exists and is not a directory"):
        WriteAheadLog(tmp_path / "file")
    with WriteAheadLog(tmp_path / "wal") as wal:  # the one that failed left no lock behind
        assert wal.append_many([]) == []
        with pytest.raises(WalError, match="at least one event"):
            wal.append(b"nothing", count=0)
        assert wal.next_offset == 0 and wal.stats.appends == 0


# ------------------------------------------------------------------ segments


def test_segments_roll_at_segment_bytes_and_are_named_by_first_offset(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, FsyncPolicy.never(), segment_bytes=1000) as wal:
        offsets = [wal.append(frame(300, i), count=i + 1) for i in range(10)]
    # the active segment rolls before the append that finds it at or over 1000 bytes
    assert offsets == [0, 1, 3, 6, 10, 15, 21, 28, 36, 45]
    assert segment_bases(tmp_path) == [0, 10, 36]
    assert [path.stat().st_size for _, path in list_segments(tmp_path)] == [1200, 1200, 600]
    assert [(r.offset, r.count, r.payload[0]) for r, _ in read_all(tmp_path)] == \
        [(offset, i + 1, i) for i, offset in enumerate(offsets)]
    # reopened with the active segment full: the next append starts a new one
    with WriteAheadLog(tmp_path, FsyncPolicy.never(), segment_bytes=600) as wal:
        assert (wal.start_offset, wal.next_offset) == (0, 55)
        assert wal.append(b"big" * 1000) == 55
    assert segment_bases(tmp_path) == [0, 10, 36, 55]


def test_a_record_larger_than_a_segment_gets_one_to_itself(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, FsyncPolicy.never(), segment_bytes=100) as wal:
        wal.append(b"a" * 500)
        wal.append(b"b" * 500)
        wal.append(b"c")
    assert segment_bases(tmp_path) == [0, 1, 2]
    assert [r.payload[:1] for r, _ in read_all(tmp_path)] == [b"a", b"b", b"c"]


# ------------------------------------------------------------------ retention


def test_retention_by_size_deletes_the_oldest_segments(tmp_path: Path) -> None:
    retention = Retention(max_bytes=2500)
    with WriteAheadLog(tmp_path, FsyncPolicy.never(), segment_bytes=1000,
                       retention=retention) as wal:
        for i in range(16):
            wal.append(frame(250, i))
            # at most 2500 bytes besides the active segment
            sizes = [p.stat().st_size for _, p in list_segments(tmp_path)]
            assert sum(sizes) <= 2500 + sizes[-1]
        # segments of 4 records: 0, 4, 8, 12; rolls at 4, 8 (3 segments, 2250 bytes),
        # and 12: 4 segments, 3000 bytes -> the first goes
        assert segment_bases(tmp_path) == [4, 8, 12]
        assert (wal.stats.segments_deleted, wal.start_offset, wal.next_offset) == (1, 4, 16)
        found = read_all(tmp_path)  # from offset 0: it is gone, so from the oldest kept
        assert [r.offset for r, _ in found] == list(range(4, 16))
        reader = LogReader(tmp_path, 2)
        assert reader.offset == 4
        reader.close()


def test_retention_by_age_with_an_injected_clock(tmp_path: Path) -> None:
    clock = Clock(now=time.time())  # the files are new by it, until os.utime says otherwise
    retention = Retention(max_age_s=3600)
    with WriteAheadLog(tmp_path, FsyncPolicy.never(), segment_bytes=100,
                       retention=retention, clock=clock) as wal:
        for i in range(4):
            wal.append(frame(100, i))  # one record per segment: 0, 1, 2, 3
        paths = [path for _, path in list_segments(tmp_path)]
        assert len(paths) == 4
        # last appends: 3 h, 2 h, 30 min ago; the active one 5 h ago (it is kept anyway)
        for path, age in zip(paths, [3 * 3600, 2 * 3600, 1800, 5 * 3600], strict=True):
            os.utime(path, (clock.now - age, clock.now - age))
        assert wal.apply_retention() == 2
        assert segment_bases(tmp_path) == [2, 3]
        assert wal.start_offset == 2
        clock.now += 1799
        assert wal.apply_retention() == 0
        clock.now += 2
        assert wal.apply_retention() == 1
        assert segment_bases(tmp_path) == [3]  # the active segment stays, however old
        assert wal.apply_retention() == 0
        assert wal.stats.segments_deleted == 3
        assert [r.offset for r, _ in read_all(tmp_path)] == [3]


def test_a_reader_outlives_retention_of_its_segment(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, FsyncPolicy.never(), segment_bytes=300,
                       retention=Retention(max_bytes=1)) as wal:
        reader = LogReader(tmp_path, 0)
        wal.append(frame(200, 0))
        wal.append(frame(200, 1))
        assert [r.offset for r, _ in reader.read()] == [0, 1]
        for i in range(2, 6):
            wal.append(frame(200, i))
        assert segment_bases(tmp_path) == [4]  # offsets 4 and 5
        # its open segment was deleted under it (and the next one as well): it moves on
        # to the oldest retained, without calling that damage
        assert [r.offset for r, _ in reader.read()] == [4, 5]
        assert reader.damage == []
        reader.close()


# ------------------------------------------------------------------ one writer


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path) as wal:
        wal.append(b"one")
        with pytest.raises(WalError, match=r"open for writing by another writer \(in this "
                                           r"process or another\)"):
            WriteAheadLog(tmp_path)
        # from another process too
        script = ("import sys; from frys.connectors.wal import WriteAheadLog, WalError\n"
                  "try:\n    WriteAheadLog(sys.argv[1])\n"
                  "except WalError as e:\n    print(e)\n")
        result = subprocess.run([sys.executable, "-c", script, str(tmp_path)],
                                capture_output=True, text=True, timeout=60)
        assert result.stdout.strip() == (f"{tmp_path} is open for writing by another writer "
                                         "(in this process or another); a WAL has one "
                                         "writer at a time")
        assert wal.append(b"two") == 1
    with WriteAheadLog(tmp_path) as wal:  # released on close
        assert wal.next_offset == 2


# ------------------------------------------------------------------ readers


def test_a_reader_in_another_process_follows_the_writer(tmp_path: Path) -> None:
    """The follower (wal_writer.py follow) runs while this process appends across segments;
    it sees every event once, in order, from its start offset in the middle of a record."""
    payloads = [f"event {i}".encode() * (i % 7 + 1) for i in range(120)]
    wal = WriteAheadLog(tmp_path, FsyncPolicy.never(), segment_bytes=512)
    follower = None
    try:
        offsets = [wal.append(payloads[i], count=i % 3 + 1) for i in range(40)]
        start = offsets[38] + 1  # inside a record of 3 events
        total = sum(i % 3 + 1 for i in range(120))
        follower = subprocess.Popen(
            [sys.executable, str(HELPER), "follow", str(tmp_path), str(start),
             str(total - start)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert follower.stdout is not None
        # one line per record: reading a record's line means it caught up to there, so
        # the appends below find it waiting at the end of the log, segment after segment
        lines = [follower.stdout.readline() for _ in range(38, 40)]  # what was there
        for i in range(40, 120):
            wal.append(payloads[i], count=i % 3 + 1)
            if i % 10 == 0:
                lines += [follower.stdout.readline() for _ in range(len(lines) + 38, i + 1)]
        # (not communicate(): it reads the pipe itself, past what readline buffered)
        watchdog = threading.Timer(60, follower.kill)  # should it never see them all
        watchdog.start()
        try:
            lines += follower.stdout.readlines()
            assert follower.wait() == 0, follower.stderr.read() if follower.stderr else ""
        finally:
            watchdog.cancel()
    finally:
        wal.close()
        if follower is not None and follower.poll() is None:
            follower.kill()
            follower.wait()
    assert len(segment_bases(tmp_path)) > 5
    expected, offset = [], 0
    for i, payload in enumerate(payloads):
        count = i % 3 + 1
        if offset + count > start:
            expected.append(f"{offset} {count} {max(0, start - offset)} {digest(payload)}\n")
        offset += count
    assert lines == expected
    assert lines[0].split()[2] == "1"  # started one event into a record


def test_a_reader_crosses_segments_and_empty_segments(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, FsyncPolicy.never(), segment_bytes=100) as wal:
        for i in range(6):
            wal.append(frame(100, i), count=2)
    assert segment_bases(tmp_path) == [0, 2, 4, 6, 8, 10]
    assert [(r.offset, skip) for r, skip in read_all(tmp_path, 3)] == \
        [(2, 1), (4, 0), (6, 0), (8, 0), (10, 0)]
    # an empty segment in the middle (what recovery leaves of a segment whose first record
    # was damaged): it is not the end of the log; one read() returns all that follows it
    (tmp_path / "00000000000000000004.wal").write_bytes(b"")
    reader = LogReader(tmp_path, 0)
    assert [(r.offset, skip) for r, skip in reader.read()] == \
        [(0, 0), (2, 0), (6, 0), (8, 0), (10, 0)]
    assert [(d.segment, d.at, d.lost_bytes) for d in reader.damage] == \
        [("00000000000000000004.wal", 0, 0)]
    assert reader.damage[0].reason == \
        "offsets 4 to 5 are missing before 00000000000000000006.wal"
    reader.close()


def test_follow_in_this_process_until_stopped(tmp_path: Path) -> None:
    seen: list[int] = []
    done = threading.Event()
    with WriteAheadLog(tmp_path, FsyncPolicy.never(), segment_bytes=150) as wal:
        reader = LogReader(tmp_path)

        def consume() -> None:
            for record, _ in reader.follow(0.001, stop=done.is_set):
                seen.append(record.offset)

        thread = threading.Thread(target=consume)
        thread.start()
        for i in range(30):
            wal.append(frame(60, i))
            if i % 5 == 0:  # caught up: it waits at the end of the log for the next one
                wait_until(lambda i=i: len(seen) == i + 1)
        wait_until(lambda: len(seen) == 30)
        done.set()
        thread.join(5)
        assert not thread.is_alive()
        reader.close()
    assert seen == list(range(30))


def test_seek_into_the_middle_of_a_record(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, FsyncPolicy.never(), segment_bytes=200) as wal:
        for i in range(6):
            wal.append(frame(120, i), count=5)  # offsets 0, 5, ..., 25
    reader = LogReader(tmp_path, 12)
    assert [(r.offset, skip) for r, skip in reader.read()] == [(10, 2), (15, 0), (20, 0),
                                                               (25, 0)]
    assert reader.offset == 30
    reader.seek(4)
    assert [(r.offset, skip) for r, skip in reader.read()][:2] == [(0, 4), (5, 0)]
    reader.seek(30)  # the end: nothing yet
    assert reader.read() == []
    reader.seek(None)  # the start
    assert len(reader.read()) == 6
    reader.close()


def test_seek_deep_into_a_segment_larger_than_a_read_chunk(tmp_path: Path) -> None:
    """The reader reads 4 MiB chunks; a seek past the first chunks of a segment must not end
    the read there (it used to return nothing at all, or, with a later segment, skip to it
    and report the rest of this one as damage)."""
    with WriteAheadLog(tmp_path, FsyncPolicy.never(), segment_bytes=11 << 20) as wal:
        for i in range(14):
            wal.append(bytes([i]) * (1 << 20), count=3)
    assert segment_bases(tmp_path) == [0, 33]
    for start, expected in [(28, [27, 30, 33, 36, 39]), (31, [30, 33, 36, 39])]:
        reader = LogReader(tmp_path, start)
        found = reader.read()
        assert [r.offset for r, _ in found] == expected
        assert found[0][1] == start - expected[0]
        assert reader.damage == []
        reader.close()
        reader = LogReader(tmp_path, start)
        assert next(reader.follow(0.001))[0].offset == expected[0]
        reader.close()


def test_seek_time(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, FsyncPolicy.never(), segment_bytes=200) as wal:
        wal.append(b"untimed")  # NO_TIME: never found by time
        wal.append(b"a", count=2, min_time_ms=1000, max_time_ms=1999)  # offsets 1-2
        wal.append(b"b", count=3, min_time_ms=2000, max_time_ms=2999)  # 3-5
        wal.append(b"late", min_time_ms=1500)  # 6, out of order
        wal.append(b"c", count=2, min_time_ms=3000, max_time_ms=3500)  # 7-8
        reader = LogReader(tmp_path)
        assert reader.seek_time(0) == 1
        assert reader.seek_time(1999) == 1
        assert reader.seek_time(2000) == 3
        assert [r.payload for r, _ in reader.read()] == [b"b", b"late", b"c"]
        assert reader.seek_time(3000) == 7
        assert reader.seek_time(3500) == 7
        assert [r.payload for r, _ in reader.read()] == [b"c"]
        assert reader.seek_time(3501) == 9  # after every event: the end of the log
        assert reader.read() == []
        wal.append(b"d", min_time_ms=4000)
        assert [r.payload for r, _ in reader.read()] == [b"d"]
        reader.close()


def test_a_reader_may_start_before_the_log_exists(tmp_path: Path) -> None:
    directory = tmp_path / "later"
    reader = LogReader(directory, None)
    assert reader.read() == []
    with WriteAheadLog(directory) as wal:
        wal.append(b"first")
    assert [r.payload for r, _ in reader.read()] == [b"first"]
    reader.close()


# ------------------------------------------------------------------ consumer offsets


def test_offset_store_commit_and_load(tmp_path: Path) -> None:
    store = OffsetStore(tmp_path)
    assert store.load("etl") is None
    assert store.consumers() == {}
    store.commit("etl", 0)
    store.commit("alerts-1.v2", 17)
    store.commit("etl", 42)
    assert store.load("etl") == 42
    assert OffsetStore(tmp_path).consumers() == {"etl": 42, "alerts-1.v2": 17}
    # nothing left over from the temporary files of the commits
    assert sorted(p.name for p in (tmp_path / "consumers").iterdir()) == \
        ["alerts-1.v2.offset", "etl.offset"]
    with pytest.raises(WalError, match="must not be negative"):
        store.commit("etl", -1)
    assert store.load("etl") == 42


@pytest.mark.parametrize("name", ["", ".hidden", "..", "a/b", "../up", "a b", "ü", "a\n",
                                  "a\nb", "x*"])
def test_offset_store_rejects_bad_names(tmp_path: Path, name: str) -> None:
    store = OffsetStore(tmp_path)
    with pytest.raises(WalError, match="consumer name"):
        store.commit(name, 1)
    with pytest.raises(WalError, match="consumer name"):
        store.load(name)
    assert not (tmp_path / "consumers").exists() or \
        list((tmp_path / "consumers").iterdir()) == []


@pytest.mark.parametrize("content", ["", "abc", "-3", "1.5", "²", "12 13"])
def test_offset_store_reports_a_damaged_offset_file(tmp_path: Path, content: str) -> None:
    store = OffsetStore(tmp_path)
    store.commit("c", 5)
    (tmp_path / "consumers" / "c.offset").write_text(content)
    with pytest.raises(WalError, match="does not hold an offset"):
        store.load("c")
