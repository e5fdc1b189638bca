"""Hardening of `frys publish`: its acknowledgements (one stdout line per record appended)
are true statements even when the process is killed with SIGKILL right after printing one.

Every test runs the real command as a process and reads the log back with LogReader."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from frys.connectors.wal import FsyncPolicy, LogReader, WriteAheadLog
from frys.connectors.wal_topic import record_lines

FRYS = [sys.executable, "-m", "frys.cli"]
ACK = re.compile(r"acked (?P<file>.+):(?P<first_line>\d+)-(?P<last_line>\d+) "
                 r"offsets (?P<first>\d+)-(?P<last>\d+) (?P<state>written|durable)")
DURABLE = re.compile(r"durable offsets (?P<first>\d+)-(?P<last>\d+)")


@dataclass(frozen=True)
class Ack:
    file: str
    first_line: int
    last_line: int
    first: int
    last: int
    state: str


def parse_acks(stdout: str) -> tuple[list[Ack], list[tuple[int, int]]]:
    """The `acked` lines and the `durable offsets` ranges, refusing any other line."""
    acks: list[Ack] = []
    durable: list[tuple[int, int]] = []
    for line in stdout.splitlines():
        if match := ACK.fullmatch(line):
            acks.append(Ack(match["file"], int(match["first_line"]), int(match["last_line"]),
                            int(match["first"]), int(match["last"]), match["state"]))
        elif match := DURABLE.fullmatch(line):
            durable.append((int(match["first"]), int(match["last"])))
        else:
            raise AssertionError(f"not an acknowledgement: {line!r}")
    return acks, durable


def logged_lines(directory: Path) -> list[bytes]:
    """Every event of the log, in offset order (what any reader gets back)."""
    reader = LogReader(directory, 0)
    try:
        return [line for record, skip in reader.read() for line in record_lines(record, skip)]
    finally:
        reader.close()


def input_lines(count: int) -> list[bytes]:
    """`count` input lines: events, with a blank line and a refused line now and then, so
    that line numbers and offsets differ."""
    lines = []
    for n in range(count):
        if n % 997 == 5:
            lines.append(b"")
        elif n % 1009 == 7:
            lines.append(b"[not an object]")
        else:
            lines.append(json.dumps({"n": n, "pad": "x" * 40}).encode())
    return lines


def check_acks_against_log(acks: list[Ack], lines: list[bytes], logged: list[bytes],
                           name: str) -> None:
    """Each ack is true: its offsets hold, in order, exactly the events of its input lines,
    and the acks cover the input from line 1 without a gap."""
    expected_line = 1
    expected_offset = 0
    for ack in acks:
        assert ack.file == name
        assert (ack.first, ack.first_line) >= (expected_offset, expected_line)
        assert ack.first == expected_offset, "acks are contiguous in offsets"
        events = [line for line in lines[ack.first_line - 1: ack.last_line]
                  if line.strip() and line.startswith(b"{")]
        assert events[0] == lines[ack.first_line - 1], "an ack starts at an event's line"
        assert logged[ack.first: ack.last + 1] == events, f"ack {ack} is not what the log holds"
        expected_line, expected_offset = ack.last_line + 1, ack.last + 1


class _Lines:
    """The stdout of a process, line by line, with a timeout (a reader thread)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._queue: queue.Queue[bytes] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        stdout = process.stdout
        self._thread = threading.Thread(target=self._read, args=(stdout,), daemon=True)
        self._thread.start()

    def _read(self, stdout) -> None:  # type: ignore[no-untyped-def]
        for line in stdout:
            self._queue.put(line)
        self._queue.put(b"")

    def next(self, timeout_s: float = 60) -> str:
        line = self._queue.get(timeout=timeout_s).decode()
        assert line, f"stdout ended; it said {self.seen}"
        self.seen.append(line.rstrip("\n"))
        return self.seen[-1]

    def rest(self) -> str:
        """Everything the process printed, once it is dead."""
        self._thread.join(30)
        while (line := self._queue.get_nowait()) != b"":
            self.seen.append(line.decode().rstrip("\n"))
        return "\n".join(self.seen)


@pytest.mark.parametrize("policy", ["always", "batch", "never"])
def test_after_sigkill_every_acked_event_is_in_the_log_in_order(tmp_path: Path,
                                                                policy: str) -> None:
    lines = input_lines(400_000)
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    process = subprocess.Popen([*FRYS, "publish", "orders", "in.jsonl", "--batch", "500",
                                "--fsync", policy], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    output = _Lines(process)
    try:
        for _ in range(3):
            output.next()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    assert process.returncode == -signal.SIGKILL, "killed in the middle of the file"
    acks, durable = parse_acks(output.rest())
    assert len(acks) >= 3
    events = sum(1 for line in lines if line.startswith(b"{"))
    assert acks[-1].last < events - 1, "the kill came before the end"
    logged = logged_lines(tmp_path / ".frys/wal/orders")
    # the log may hold more than the last ack (a record appended, its ack not printed yet)
    assert len(logged) >= acks[-1].last + 1
    check_acks_against_log(acks, lines, logged, "in.jsonl")
    states = {ack.state for ack in acks}
    if policy == "always":
        assert states == {"durable"} and durable == []
    elif policy == "never":
        assert states == {"written"} and durable == []
    # `batch` (100 ms): flushes announced as they are seen, contiguous, never ahead of acks
    durable_from = 0
    for first, last in durable:
        assert first == durable_from and last <= acks[-1].last
        durable_from = last + 1


def test_acks_from_stdin_come_as_lines_arrive_and_a_kill_leaves_them_true(
        tmp_path: Path) -> None:
    """A producer feeding stdin a few lines at a time gets each record acked before it sends
    more (publish appends what is waiting when the pipe runs dry), and a SIGKILL while the
    pipe is still open leaves the log holding exactly the acked events."""
    lines = input_lines(60)
    process = subprocess.Popen([*FRYS, "publish", "feed", "--fsync", "always"], cwd=tmp_path,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    assert process.stdin is not None
    output = _Lines(process)
    try:
        for start in range(0, 40, 10):  # 4 chunks of 10 lines, each acked before the next
            process.stdin.write(b"".join(line + b"\n" for line in lines[start: start + 10]))
            process.stdin.flush()
            ack = parse_acks(output.next())[0][0]
            assert ack.last_line == start + 10 and ack.state == "durable"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    acks, _ = parse_acks(output.rest())
    logged = logged_lines(tmp_path / ".frys/wal/feed")
    check_acks_against_log(acks, lines, logged, "<stdin>")
    assert len(logged) == acks[-1].last + 1, "nothing was appended but what was acked"


def test_each_policy_claims_durability_only_once_it_flushed(tmp_path: Path) -> None:
    lines = input_lines(35)  # line 6 blank, line 8 refused: 33 events
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")

    def publish(topic: str, policy: str) -> tuple[list[Ack], list[tuple[int, int]]]:
        run = subprocess.run([*FRYS, "publish", topic, "in.jsonl", "--batch", "10",
                              "--fsync", policy], cwd=tmp_path, capture_output=True,
                             text=True, timeout=120)
        assert run.returncode == 1, run.stderr  # line 8 is refused (and named)
        assert "in.jsonl:8: not published" in run.stderr
        acks, durable = parse_acks(run.stdout)
        check_acks_against_log(acks, lines, logged_lines(tmp_path / ".frys/wal" / topic),
                               "in.jsonl")
        assert [(a.first, a.last) for a in acks] == [(0, 9), (10, 19), (20, 29), (30, 32)]
        return acks, durable

    acks, durable = publish("always", "always")
    assert {a.state for a in acks} == {"durable"} and durable == []
    acks, durable = publish("never", "never")
    assert {a.state for a in acks} == {"written"} and durable == []
    # a minute-long interval: nothing flushes before the end, where closing flushes it all
    acks, durable = publish("slow", "batch:60000:1000000000")
    assert {a.state for a in acks} == {"written"} and durable == [(0, 32)]
    # one byte unflushed is enough: every append flushes
    acks, durable = publish("eager", "batch:60000:1")
    assert {a.state for a in acks} == {"durable"} and durable == []


def test_quiet_prints_no_acks(tmp_path: Path) -> None:
    run = subprocess.run([*FRYS, "publish", "q", "-q"], cwd=tmp_path, input='{"a": 1}\n',
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout == "" and run.stderr == ""
    assert logged_lines(tmp_path / ".frys/wal/q") == [b'{"a": 1}']


def test_synced_offset_follows_the_flushes_and_stops_at_an_unflushed_segment(
        tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path / "a", FsyncPolicy.always()) as log:
        assert log.synced_offset == 0
        log.append(b"{}", 3)
        assert log.synced_offset == 3
    with WriteAheadLog(tmp_path / "a", FsyncPolicy.never()) as log:
        assert log.synced_offset == 3, "what the earlier writer appended is not claimed"
        log.append(b"{}", 2)
        assert log.synced_offset == 3
        log.sync()
        assert log.synced_offset == 5
    with WriteAheadLog(tmp_path / "b", FsyncPolicy.never(), segment_bytes=64) as log:
        log.append(b"x" * 100)
        log.append(b"x" * 100)  # rolls: the first segment is sealed without a flush
        log.sync()
        assert log.synced_offset == 0, "the flush of the new segment misses the old one"
