"""Sources that resume and sinks that recover (issue 15, the connectors' part of exactly-once):
`Source.position()` / `seek()`, `Sink.pre_commit()`'s recovery state and `recover()`, with
real files, real logs and writer processes killed with SIGKILL; and the WAL's own cut
(`WriteAheadLog.truncate_to`). Every position and state goes through msgpack, as a
checkpoint keeps it."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frys.compiler import compile_text
from frys.connectors import registry
from frys.connectors.broker import Broker
from frys.connectors.bus_connector import BusSink, BusSource
from frys.connectors.decode import DeadLetter, StreamDecoder
from frys.connectors.jsonl import HEAD_BYTES, JsonlFileSource, JsonlWriter, open_file_sink
from frys.connectors.registry import ConnectorError, SinkContext
from frys.connectors.uris import WalUri
from frys.connectors.wal import FsyncPolicy, LogReader, Retention, WalError, WriteAheadLog
from frys.connectors.wal.log import list_segments
from frys.connectors.wal.reader import log_bounds
from frys.connectors.wal_topic import WalJournal, WalSource, record_frame
from frys.dsl.types import FrysType
from frys.engine.planner import plan
from frys.engine.runtime import Runtime

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TS = 1_700_000_000_000
COLUMNS = {"k": FrysType.STRING, "v": FrysType.INT, "ts": FrysType.TIMESTAMP}
ROOT = Path(__file__).resolve().parent.parent


def checkpointed(value: object) -> object:
    """`value` as a checkpoint gives it back (msgpack, as engine/checkpoint.py stores it)."""
    return msgspec.msgpack.decode(msgspec.msgpack.encode(value))


def decoder() -> StreamDecoder:
    return StreamDecoder("ev", dict(COLUMNS), "ts")


Read = tuple[list[dict[str, object]], list[DeadLetter]]


def drain(batches: Iterator[tuple[pl.DataFrame, list[DeadLetter]]], limit: int | None = None
          ) -> Read:
    """The rows and dead letters of the first `limit` batches (all: None)."""
    rows: list[dict[str, object]] = []
    letters: list[DeadLetter] = []
    for taken, (batch, dead) in enumerate(batches):
        rows += batch.to_dicts()
        letters += dead
        if limit is not None and taken + 1 >= limit:
            break
    return rows, letters


def frame(values: range) -> pl.DataFrame:
    return pl.DataFrame({"k": [f"k{v % 3}" for v in values], "v": list(values),
                         "ts": [TS + v for v in values]}
                        ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def sink_context(folder: Path, resume: bool) -> SinkContext:
    """The context the runtime gives a sink of stream `ev` (a job compiled in `folder`)."""
    job = "CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP) WITH (event_time = ts);\n"
    graph = plan(compile_text(textwrap.dedent(job), str(folder / "job.frysql")))
    runtime = Runtime(graph, folder)
    return SinkContext(folder, runtime.job_name, runtime.graph.topics["ev"], runtime.broker,
                       resume=resume)


# ------------------------------------------------------------------ file: source

LINE = st.one_of(
    st.integers(-10**6, 10**6).map(
        lambda v: json.dumps({"k": f"k{v % 5}", "v": v, "ts": TS + v}).encode()),
    st.sampled_from([b"not json", b'{"k": "a", "v": "x", "ts": 1}', b"[1, 2]", b"",
                     b"   ", b'{"k": "z", "v": 1}', b'{"k": "\\u00e9", "v": 2, "ts": 3}']))


def by_line(letters: list[DeadLetter]) -> list[DeadLetter]:
    return sorted(letters, key=lambda d: (int(d.position.rsplit(":", 1)[1]), d.reason, d.raw))


def file_bytes(lines: list[bytes], crlf: list[bool], bom: bool, final_newline: bool) -> bytes:
    ends = [b"\r\n" if crlf[i % len(crlf)] else b"\n" for i in range(len(lines))]
    body = b"".join(line + end for line, end in zip(lines, ends, strict=True))
    if not final_newline:
        body = body[: -len(ends[-1])]
    return (b"\xef\xbb\xbf" if bom else b"") + body


@settings(max_examples=150, deadline=None)
@given(st.lists(LINE, min_size=1, max_size=40), st.lists(st.booleans(), min_size=1),
       st.booleans(), st.booleans(), st.integers(4, 400), st.integers(4, 400),
       st.integers(0, 50))
def test_a_file_source_seeked_to_its_position_reads_exactly_the_rest(
        lines: list[bytes], crlf: list[bool], bom: bool, final_newline: bool,
        chunk_bytes: int, resumed_chunk_bytes: int, stop_after: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ev.jsonl"
        path.write_bytes(file_bytes(lines, crlf, bom, final_newline))
        reference = JsonlFileSource(path, decoder(), "ev.jsonl", chunk_bytes)
        whole = drain(reference.batches())

        first = JsonlFileSource(path, decoder(), "ev.jsonl", chunk_bytes)
        head = drain(first.batches(), stop_after) if stop_after else ([], [])
        position = checkpointed(first.position())

        again = JsonlFileSource(path, decoder(), "ev.jsonl", resumed_chunk_bytes)
        again.seek(position)
        assert again.position() == position  # before any batch: where the seek put it
        rest = drain(again.batches())
        assert head[0] + rest[0] == whole[0]
        # dead letters name the file's own lines, before and after the seek (the decoder
        # lists a chunk's letters by kind, not by line, and chunks differ after a seek)
        assert by_line(head[1] + rest[1]) == by_line(whole[1])
        # both at the end, alike (once the lines either left uncounted are counted)
        assert resolved(again.position(), path) == resolved(reference.position(), path)


def resolved(position: dict[str, int | str], path: Path) -> dict[str, int | str]:
    """`position` with its line counted up to its offset (FilePosition.counted: a source
    leaves the lines it has not needed numbers for uncounted). A last line without its
    newline counts as a line, as a source counting as it reads counts it."""
    position = dict(position)
    counted = position.pop("counted", None)
    if counted is not None:
        data = path.read_bytes()
        offset = int(position["offset"])
        skipped = data[int(counted):offset]
        unended = offset == len(data) and skipped and not data.endswith(b"\n")
        position["line"] = int(position["line"]) + skipped.count(b"\n") + bool(unended)
    return position


def test_a_file_source_numbers_its_lines_only_for_dead_letters(tmp_path: Path) -> None:
    """Reading counts no lines until a line is bad; a position keeps the range it has
    not counted, and a source resumed there numbers its dead letters as the file does."""
    path = tmp_path / "ev.jsonl"
    good = [json.dumps({"k": "a", "v": v, "ts": TS + v}).encode() for v in range(30)]
    path.write_bytes(b"\n".join([*good[:20], b"oops", *good[20:]]) + b"\n")
    first = JsonlFileSource(path, decoder(), "ev.jsonl", 100)
    drain(first.batches(), 4)
    position = checkpointed(first.position())
    assert position["counted"] == 0 and position["line"] == 1  # type: ignore[index]
    again = JsonlFileSource(path, decoder(), "ev.jsonl", 100)
    again.seek(position)
    rows, dead = drain(again.batches())
    assert [letter.position for letter in dead] == ["ev.jsonl:21"]
    whole_rows, whole_dead = drain(JsonlFileSource(path, decoder(), "ev.jsonl", 100).batches())
    assert whole_dead == dead and whole_rows[-len(rows):] == rows
    # counted from the dead letter on: the end's position numbers its own line
    assert "counted" not in again.position() and again.position()["line"] == 32


def test_a_position_from_a_source_that_counted_resumes_one_that_does_not(
        tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    good = [json.dumps({"k": "a", "v": v, "ts": TS + v}).encode() for v in range(20)]
    path.write_bytes(b"\n".join([b"oops", *good]) + b"\n")
    reference = JsonlFileSource(path, decoder(), "ev.jsonl", 40)
    drain(reference.batches())
    first = JsonlFileSource(path, decoder(), "ev.jsonl", 40)
    drain(first.batches(), 1)  # the dead letter: counted from here on
    position = checkpointed(first.position())
    assert "counted" not in position  # type: ignore[operator]
    again = JsonlFileSource(path, decoder(), "ev.jsonl", 40)
    again.seek(position)
    drain(again.batches())
    assert again.position() != reference.position()  # one counted, the other did not
    assert resolved(again.position(), path) == resolved(reference.position(), path)


def test_a_file_source_resumes_a_file_that_grew_and_ends_its_last_line(tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    lines = [json.dumps({"k": "a", "v": v, "ts": TS + v}) for v in range(6)]
    path.write_text("\n".join(lines[:3]))  # the last line without its newline
    first = JsonlFileSource(path, decoder(), "ev.jsonl", 16)
    assert [row["v"] for row in drain(first.batches())[0]] == [0, 1, 2]
    position = checkpointed(first.position())
    assert position["offset"] == path.stat().st_size  # type: ignore[index]
    with open(path, "a") as file:  # a writer ends that line and goes on, bad line included
        file.write("\n" + "\n".join([lines[3], "oops", lines[4], lines[5]]) + "\n")
    again = JsonlFileSource(path, decoder(), "ev.jsonl", 16)
    again.seek(position)
    rows, dead = drain(again.batches())
    assert [row["v"] for row in rows] == [3, 4, 5]
    assert [letter.position for letter in dead] == ["ev.jsonl:5"]  # the file's own line 5
    whole_rows, whole_dead = drain(JsonlFileSource(path, decoder(), "ev.jsonl").batches())
    assert whole_rows[3:] == rows and whole_dead == dead


def resumable_file(tmp_path: Path, lines: int = 4000) -> tuple[Path, object]:
    """A file of `lines` events (over HEAD_BYTES) and the position after most of it."""
    path = tmp_path / "ev.jsonl"
    path.write_text("".join(json.dumps({"k": "a", "v": v, "ts": TS + v}) + "\n"
                            for v in range(lines)))
    assert path.stat().st_size > 2 * HEAD_BYTES
    source = JsonlFileSource(path, decoder(), "ev.jsonl", path.stat().st_size * 3 // 4)
    drain(source.batches(), 1)
    position = checkpointed(source.position())
    assert position["offset"] > HEAD_BYTES + 100  # type: ignore[index]
    return path, position


def refused_at(path: Path, position: object, reason: str) -> None:
    source = JsonlFileSource(path, decoder(), str(path))
    with pytest.raises(ConnectorError, match=f"cannot resume the source file {path} "
                                             r"\(stream ev\) at byte \d+, line \d+"
                                             rf"( or later)?: {reason}"):
        source.seek(position)


def test_a_file_source_refuses_a_file_cut_shorter_than_its_position(tmp_path: Path) -> None:
    path, position = resumable_file(tmp_path)
    with open(path, "r+b") as file:
        file.truncate(position["offset"] - 1)  # type: ignore[index]
    refused_at(path, position, "it is .* bytes long, shorter than the .* bytes already read")


def test_a_file_source_refuses_a_file_whose_first_bytes_changed(tmp_path: Path) -> None:
    path, position = resumable_file(tmp_path)
    data = bytearray(path.read_bytes())
    data[8:9] = b"X" if data[8:9] != b"X" else b"Y"  # same length, another file
    path.write_bytes(bytes(data))
    refused_at(path, position, "its first bytes are not the ones read before")


def test_a_file_source_refuses_a_file_rewritten_behind_the_same_first_bytes(
        tmp_path: Path) -> None:
    path, position = resumable_file(tmp_path)
    offset = position["offset"]  # type: ignore[index]
    data = path.read_bytes()
    # rewritten past the head: the line before the resume point is another line now
    path.write_bytes(data[: offset - 30] + b'{"k":"b","v":1,"ts":2}' + b" " * 7 + b"\n"
                     + data[offset:])
    assert len(path.read_bytes()) == len(data)
    refused_at(path, position, f"its bytes before byte {offset} are not the ones read before")


def test_a_file_source_refuses_a_last_line_extended_since(tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    path.write_text('{"k": "a", "v": 1, "ts": 1}')
    source = JsonlFileSource(path, decoder(), str(path))
    drain(source.batches())
    position = checkpointed(source.position())
    with open(path, "a") as file:
        file.write('{"k": "a", "v": 2, "ts": 2}\n')  # the same line, continued
    refused_at(path, position, "byte 27 is no longer at the start of a line")


@pytest.mark.parametrize("position", [5, "12", {"offset": 3}, {"offset": -1, "line": 1,
                                      "head_bytes": 0, "head": "", "tail_bytes": 0, "tail": ""}])
def test_a_file_source_refuses_what_is_not_its_position(tmp_path: Path,
                                                        position: object) -> None:
    path = tmp_path / "ev.jsonl"
    path.write_text("{}\n")
    with pytest.raises(ConnectorError, match="is not a position of a file: source"):
        JsonlFileSource(path, decoder(), str(path)).seek(position)


def test_a_file_source_seeked_to_none_reads_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    path.write_text('{"k": "a", "v": 1, "ts": 1}\n')
    source = JsonlFileSource(path, decoder(), str(path))
    source.seek(None)
    assert [row["v"] for row in drain(source.batches())[0]] == [1]


# ------------------------------------------------------------------ wal: source

def write_log(directory: Path, items: list[tuple[str, int]], segment_bytes: int) -> None:
    """Batches (`arrow`, n rows) and JSON-line records with a bad line (`lines`) appended
    by a WalJournal with small segments."""
    journal = WalJournal(directory, "ts", FsyncPolicy.never(), segment_bytes=segment_bytes)
    value = 0
    for kind, size in items:
        if kind == "arrow":
            journal.append_batch(frame(range(value, value + size)))
        else:
            lines = [json.dumps({"k": "j", "v": value + i, "ts": TS + i}).encode()
                     for i in range(size)]
            journal.append_lines([*lines[:1], b"{broken", *lines[1:]])
        value += size
    journal.close()


ITEMS = st.lists(st.tuples(st.sampled_from(["arrow", "lines"]), st.integers(1, 30)),
                 min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(ITEMS, st.integers(200, 3000), st.integers(0, 30), st.integers(0, 10**6))
def test_a_wal_source_seeked_to_its_position_reads_exactly_the_rest(
        items: list[tuple[str, int]], segment_bytes: int, stop_after: int, other: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder) / "log"
        write_log(directory, items, segment_bytes)
        uri = WalUri.parse("wal:log?follow=false", Path(folder))
        whole = drain(WalSource(uri, decoder(), "job.whole").batches())

        first = WalSource(uri, decoder(), "job.ev")
        head = drain(first.batches(), stop_after) if stop_after else ([], [])
        position = checkpointed(first.position())
        # whatever the consumer committed (before or past it), a seek reads from the
        # checkpoint's offset
        first.consumer.commit(other % (log_bounds(directory)[1] + 1))
        first.close()

        again = WalSource(uri, decoder(), "job.ev")
        again.seek(position)
        assert again.position() == position
        rest = drain(again.batches())
        again.close()
        assert head[0] + rest[0] == whole[0]
        assert head[1] + rest[1] == whole[1]  # dead letters named by the same offsets


def test_a_wal_source_written_in_several_segments_resumes_in_each(tmp_path: Path) -> None:
    directory = tmp_path / "log"
    write_log(directory, [("arrow", 7), ("lines", 3)] * 10, 600)
    assert len(list_segments(directory)) > 3
    uri = WalUri.parse("wal:log?follow=false", tmp_path)
    whole = drain(WalSource(uri, decoder(), "j.all").batches())
    for stop in range(1, 21):
        first = WalSource(uri, decoder(), "j.ev")
        head = drain(first.batches(), stop)
        again = WalSource(uri, decoder(), "j.ev")
        again.seek(checkpointed(first.position()))
        rest = drain(again.batches())
        assert (head[0] + rest[0], head[1] + rest[1]) == whole, stop
        first.close()
        again.close()


def test_a_wal_source_refuses_an_offset_past_the_end_of_its_log(tmp_path: Path) -> None:
    write_log(tmp_path / "log", [("arrow", 5)], 4096)
    source = WalSource(WalUri.parse("wal:log?follow=false", tmp_path), decoder(), "j.ev")
    with pytest.raises(ConnectorError, match=r"cannot resume the source wal:.*log \(stream ev\) "
                                             r"at offset 9: the log ends at offset 5"):
        source.seek(9)
    source.seek(5)  # its end: nothing more to read, but the same log
    assert drain(source.batches()) == ([], [])


def test_a_wal_source_refuses_an_offset_retention_deleted(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path / "log", FsyncPolicy.never(), 300,
                       Retention(max_bytes=700)) as log:
        for value in range(40):
            log.append(json.dumps({"k": "a", "v": value, "ts": TS}).encode(), 1, TS, TS)
        start = log.start_offset
    assert start > 3
    source = WalSource(WalUri.parse("wal:log?follow=false", tmp_path), decoder(), "j.ev")
    with pytest.raises(ConnectorError, match=f"retention has deleted the events before offset "
                                             f"{start}: events 3 to {start - 1}, which the job "
                                             "has not read, are gone"):
        source.seek(3)
    for bad in (-1, "3", 2.0, True):
        with pytest.raises(ConnectorError, match="is not a position of a wal: source"):
            source.seek(bad)


# ------------------------------------------------------------------ bus:

def test_bus_sources_are_not_replayable_and_bus_sinks_have_nothing_to_recover() -> None:
    broker = Broker()
    source = BusSource(broker.topic("in").add_producer("t"), decoder(), lambda letters: None)
    assert source.position() is None
    source.seek(None)
    with pytest.raises(ConnectorError, match="a bus: source cannot resume at 4"):
        source.seek(4)
    queue = broker.subscribe("out")
    sink = BusSink(broker, "out")
    sink.write(frame(range(2)))
    assert sink.pre_commit(1) is None
    sink.recover(None)
    batch = queue.get(0)
    assert batch is not None and batch["v"].to_list() == [0, 1]


def test_a_bus_sink_into_a_persistent_topic_is_cut_back_to_the_checkpoint(
        tmp_path: Path) -> None:
    """A job writing `bus:archive`, a persistent topic of the process's broker, killed
    after a checkpoint and resumed in a new process (a new broker on the same log): the
    batches logged after the checkpoint are cut, so the log holds each row once."""
    import frys

    text = ("CREATE STREAM a (v INT);\n"
            "CREATE STREAM out WITH (sink = 'bus:archive');\n"
            "INSERT INTO out SELECT v * 10 AS v FROM a;\n")
    log = tmp_path / "archive"
    state = tmp_path / "state"

    def process() -> Broker:  # what a process opens: the persistent topic on its log
        broker = Broker(tmp_path / "wal")
        broker.topic("archive", kind="persistent", wal_dir=log)
        return broker

    first = frys.Pipeline(text, state=state, bus=process())
    first.publish("a", [{"v": 1}, {"v": 2}])
    first.checkpoint()
    first.publish("a", [{"v": 3}])  # logged after the checkpoint: lost with the process
    first.runtime.broker.topics["archive"].journal.close()
    first.close()

    broker = process()
    resumed = frys.Pipeline(text, state=state, bus=broker)
    resumed.publish("a", [{"v": 3}, {"v": 4}])
    resumed.finish()
    broker.topics["archive"].journal.close()
    assert [row["v"] for _, rows in log_frames(log) for row in rows] == [10, 20, 30, 40]


def test_a_bus_sink_refuses_a_recovery_state_its_topic_cannot_take() -> None:
    sink = BusSink(Broker(), "plain")  # an in-memory topic: no log to cut
    with pytest.raises(ConnectorError, match="not the recovery state of a persistent "
                                             "topic's sink"):
        sink.recover({"next_offset": 3})


# ------------------------------------------------------------------ file: sink

def json_rows(count: int, start: int = 0) -> pl.DataFrame:
    return frame(range(start, start + count))


BATCH_ROWS = 3000

# the writer processes: batch i holds rows i * ROWS .. (i + 1) * ROWS - 1, as batch_of(i, ROWS)
BATCHES = """
import json, sys
from pathlib import Path
import polars as pl
TS = 1_700_000_000_000
ROWS = int(sys.argv[3])
def batch(i):
    values = range(i * ROWS, (i + 1) * ROWS)
    return pl.DataFrame({"k": [f"k{v % 3}" for v in values], "v": list(values),
                         "ts": [TS + v for v in values]}).with_columns(
                         pl.col("ts").cast(pl.Datetime("ms", "UTC")))
checkpoint = int(sys.argv[2])
"""

FILE_WRITER = BATCHES + """
from frys.connectors.jsonl import open_file_sink
sink = open_file_sink(Path(sys.argv[1]))
for i in range(checkpoint):
    sink.write(batch(i))
print(json.dumps(sink.pre_commit(1)), flush=True)
i = checkpoint
while True:  # rows after the checkpoint, until killed
    sink.write(batch(i))
    i += 1
"""

WAL_WRITER = BATCHES + """
from frys.connectors.wal import FsyncPolicy
from frys.connectors.wal_topic import WalJournal
journal = WalJournal(Path(sys.argv[1]), "ts", FsyncPolicy.parse("batch"),
                     segment_bytes=int(sys.argv[4]))
for i in range(checkpoint):
    journal.write(batch(i))
print(json.dumps(journal.pre_commit(1)), flush=True)
i = checkpoint
while True:  # records after the checkpoint, until killed
    journal.write(batch(i))
    i += 1
"""


def killed_after_checkpoint(script: str, *args: str, delay_s: float) -> object:
    """Run `script` until it prints its pre_commit state, let it write on for `delay_s`,
    SIGKILL it; the state it printed (through msgpack, as a checkpoint keeps it)."""
    process = subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    line = process.stdout.readline()
    time.sleep(delay_s)
    os.kill(process.pid, signal.SIGKILL)
    _, err = process.communicate()
    assert process.returncode == -signal.SIGKILL, err.decode()
    return checkpointed(json.loads(line))


def batch_of(i: int, rows: int) -> pl.DataFrame:
    return json_rows(rows, i * rows)


def test_a_file_sink_killed_after_a_checkpoint_recovers_to_it_byte_for_byte(
        tmp_path: Path) -> None:
    rng = random.Random(15)
    cut_something = 0
    for trial in range(6):
        checkpoint = rng.randint(0, 4)
        total = checkpoint + rng.randint(1, 3)
        reference = tmp_path / f"reference{trial}.jsonl"
        expected = open_file_sink(reference)
        for i in range(checkpoint):
            expected.write(batch_of(i, BATCH_ROWS))
        expected_state = expected.pre_commit(1)
        at_checkpoint = reference.read_bytes()
        for i in range(checkpoint, total):
            expected.write(batch_of(i, BATCH_ROWS))
        expected.close()

        out = tmp_path / f"out{trial}" / "ev.jsonl"
        out.parent.mkdir()
        state = killed_after_checkpoint(FILE_WRITER, str(out), str(checkpoint),
                                        str(BATCH_ROWS), delay_s=rng.uniform(0.05, 0.4))
        assert state == expected_state
        cut_something += out.stat().st_size > len(at_checkpoint)

        sink = registry.open_sink(f"file:out{trial}/ev.jsonl", sink_context(tmp_path, True))
        assert isinstance(sink, JsonlWriter)
        sink.recover(state)
        assert out.read_bytes() == at_checkpoint
        for i in range(checkpoint, total):  # the job goes on from its checkpoint
            sink.write(batch_of(i, BATCH_ROWS))
        sink.pre_commit(2)
        sink.close()
        assert out.read_bytes() == reference.read_bytes()
    assert cut_something >= 3  # the kills came after rows beyond the checkpoint


def test_a_file_sink_opened_to_resume_keeps_the_file_and_otherwise_recreates_it(
        tmp_path: Path) -> None:
    (tmp_path / "ev.jsonl").write_bytes(b"kept\n")
    sink = registry.open_sink("file:ev.jsonl", sink_context(tmp_path, resume=True))
    assert sink.pre_commit(1) is not None
    sink.close()
    assert (tmp_path / "ev.jsonl").read_bytes() == b"kept\n"
    fresh = registry.open_sink("file:ev.jsonl", sink_context(tmp_path, resume=False))
    fresh.close()
    assert (tmp_path / "ev.jsonl").read_bytes() == b""


def file_sink_with_checkpoint(tmp_path: Path) -> tuple[Path, object]:
    path = tmp_path / "ev.jsonl"
    sink = open_file_sink(path)
    sink.write(json_rows(50))
    state = checkpointed(sink.pre_commit(1))
    sink.write(json_rows(5, 50))
    sink.close()
    return path, state


def test_a_file_sink_refuses_to_recover_a_file_cut_shorter_than_its_checkpoint(
        tmp_path: Path) -> None:
    path, state = file_sink_with_checkpoint(tmp_path)
    with open(path, "r+b") as file:
        file.truncate(state["bytes"] - 1)  # type: ignore[index]
    before = path.read_bytes()
    sink = open_file_sink(path, resume=True)
    with pytest.raises(ConnectorError, match=f"cannot recover the sink file {path}: it is "
                                             r"\d+ bytes long, shorter than the \d+ bytes the "
                                             "checkpoint recorded"):
        sink.recover(state)
    sink.close()
    assert path.read_bytes() == before  # left as it is


def test_a_file_sink_refuses_to_recover_another_file(tmp_path: Path) -> None:
    path, state = file_sink_with_checkpoint(tmp_path)
    other = b'{"someone": "else"}\n' * 1000  # longer than the checkpoint: would be cut
    path.write_bytes(other)
    sink = open_file_sink(path, resume=True)
    with pytest.raises(ConnectorError, match=f"cannot recover the sink file {path}: its bytes "
                                             r"before byte \d+ are not the ones this job "
                                             "wrote"):
        sink.recover(state)
    sink.close()
    assert path.read_bytes() == other
    with pytest.raises(ConnectorError, match="is not the recovery state of a file: sink"):
        open_file_sink(path, resume=True).recover({"bytes": 3})


# ------------------------------------------------------------------ wal: sink

def log_frames(directory: Path) -> list[tuple[int, list[dict[str, object]]]]:
    """(offset, rows) of every record of the log, read from offset 0."""
    reader = LogReader(directory, 0)
    try:
        return [(record.offset, record_frame(record, skip).to_dicts())
                for record, skip in reader.read()]
    finally:
        reader.close()


def test_a_wal_sink_killed_after_a_checkpoint_recovers_to_it_and_appends_once(
        tmp_path: Path) -> None:
    rng = random.Random(1515)
    rows = BATCH_ROWS // 10
    segment_bytes = 20_000  # a batch is ~6 KB: several segments before and after
    cut_something = 0
    for trial in range(5):
        checkpoint = rng.randint(0, 12)
        total = checkpoint + rng.randint(1, 6)
        reference = WalJournal(tmp_path / f"reference{trial}", "ts",
                               segment_bytes=segment_bytes)
        for i in range(total):
            reference.write(batch_of(i, rows))
        reference.close()
        expected = log_frames(tmp_path / f"reference{trial}")

        directory = tmp_path / f"log{trial}"
        state = killed_after_checkpoint(WAL_WRITER, str(directory), str(checkpoint),
                                        str(rows), str(segment_bytes),
                                        delay_s=rng.uniform(0.05, 0.4))
        assert state == {"next_offset": checkpoint * rows}
        cut_something += len(log_frames(directory)) > checkpoint

        sink = registry.open_sink(f"wal:log{trial}?segment_bytes={segment_bytes}",
                                  sink_context(tmp_path, resume=True))
        assert isinstance(sink, WalJournal)
        sink.recover(state)
        assert log_frames(directory) == expected[:checkpoint]
        assert sink.log.next_offset == checkpoint * rows
        for i in range(checkpoint, total):
            sink.write(batch_of(i, rows))
        assert sink.pre_commit(2) == {"next_offset": total * rows}
        sink.close()
        # every record once, with the offsets of an uninterrupted run
        assert log_frames(directory) == expected
        reopened = WriteAheadLog(directory)
        assert reopened.recovery == [] and reopened.next_offset == total * rows
        reopened.close()
    assert cut_something >= 3


def test_a_wal_sink_refuses_to_recover_a_log_cut_below_its_checkpoint(tmp_path: Path) -> None:
    sink = WalJournal(tmp_path / "log", "ts", segment_bytes=2000)
    for i in range(6):
        sink.write(batch_of(i, 10))
    state = checkpointed(sink.pre_commit(1))
    sink.close()
    newest = list_segments(tmp_path / "log")[-1][1]
    newest.unlink()  # cut by hand
    resumed = WalJournal(tmp_path / "log", "ts", segment_bytes=2000)
    end = resumed.log.next_offset
    with pytest.raises(ConnectorError, match=rf"cannot recover the WAL sink .*log to offset 60: "
                                             rf"WAL .*log ends at offset {end}, before offset 60"):
        resumed.recover(state)
    assert resumed.log.next_offset == end  # nothing changed
    resumed.close()


def test_a_wal_sink_refuses_to_recover_when_retention_deleted_past_its_checkpoint(
        tmp_path: Path) -> None:
    sink = WalJournal(tmp_path / "log", "ts", segment_bytes=1500,
                      retention=Retention(max_bytes=3000))
    sink.write(batch_of(0, 10))
    state = checkpointed(sink.pre_commit(1))
    for i in range(1, 20):  # rolls, and retention deletes the checkpoint's segment
        sink.write(batch_of(i, 10))
    start = sink.log.start_offset
    assert start > 10
    with pytest.raises(ConnectorError, match=f"starts at offset {start}: retention deleted the "
                                             "events below it, past offset 10"):
        sink.recover(state)
    with pytest.raises(ConnectorError, match="is not the recovery state of a wal: sink"):
        sink.recover({"next_offset": -1})
    sink.close()


# ------------------------------------------------------------------ the log's cut

@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 400)), min_size=1, max_size=40),
       st.integers(60, 2000), st.data())
def test_a_log_cut_back_keeps_exactly_the_records_before_the_cut(
        records: list[tuple[int, int]], segment_bytes: int, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder) / "log"
        offsets = []
        with WriteAheadLog(directory, FsyncPolicy.never(), segment_bytes) as log:
            for seq, (count, size) in enumerate(records):
                offsets.append(log.append(bytes([seq % 256]) * size, count))
            end = log.next_offset
        boundaries = [*offsets, end]
        cut = data.draw(st.sampled_from(boundaries))
        before = [(r.offset, r.payload) for r, _ in LogReader(directory, 0).read()]
        with WriteAheadLog(directory, FsyncPolicy.never(), segment_bytes) as log:
            assert log.truncate_to(cut) == end - cut
            assert log.next_offset == cut
            assert log.append(b"after", 2) == cut  # appending continues at the cut
        kept = [(offset, payload) for offset, payload in before if offset < cut]
        reader = LogReader(directory, 0)
        assert [(r.offset, r.payload) for r, _ in reader.read()] == [*kept, (cut, b"after")]
        assert reader.damage == []
        reader.close()
        assert all(base <= cut for base, _ in list_segments(directory))
        with WriteAheadLog(directory, FsyncPolicy.never(), segment_bytes) as log:
            assert log.recovery == [] and log.next_offset == cut + 2


def test_a_log_cut_at_a_segment_start_empties_that_segment(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, FsyncPolicy.always(), 100) as log:
        for _ in range(6):
            log.append(b"x" * 80)
        bases = [base for base, _ in list_segments(tmp_path)]
        assert bases == [0, 1, 2, 3, 4, 5]
        log.truncate_to(3)
        assert [(b, p.stat().st_size) for b, p in list_segments(tmp_path)] == \
            [(0, 117), (1, 117), (2, 117), (3, 0)]  # 37 bytes of framing each
        assert log.append(b"y") == 3
    assert [r.payload for r, _ in LogReader(tmp_path, 2).read()] == [b"x" * 80, b"y"]


def test_a_half_done_cut_is_finished_by_cutting_again(tmp_path: Path) -> None:
    """A crash in the middle of a cut leaves a prefix of the log (the newest segments go
    first): reopening it and cutting again gives what one whole cut gives."""
    with WriteAheadLog(tmp_path, FsyncPolicy.always(), 100) as log:
        for value in range(8):
            log.append(bytes([value]) * 80)
    list_segments(tmp_path)[-1][1].unlink()  # what a kill after the first unlink leaves
    with WriteAheadLog(tmp_path, FsyncPolicy.always(), 100) as log:
        assert log.truncate_to(2) == 5
    assert [r.offset for r, _ in LogReader(tmp_path, 0).read()] == [0, 1]


def test_a_log_is_not_cut_inside_a_record_past_its_end_or_below_its_start(
        tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, FsyncPolicy.never(), 200, Retention(max_bytes=400)) as log:
        for _ in range(12):
            log.append(b"z" * 60, 3)
        start, end = log.start_offset, log.next_offset
        assert start > 0
        with pytest.raises(WalError, match=f"offset {end - 2} is inside the record of offsets "
                                           f"{end - 3} to {end - 1}"):
            log.truncate_to(end - 2)
        with pytest.raises(WalError, match=f"ends at offset {end}, before offset {end + 3}"):
            log.truncate_to(end + 3)
        with pytest.raises(WalError, match=f"starts at offset {start}: retention deleted"):
            log.truncate_to(start - 3)
        assert log.next_offset == end and log.truncate_to(end) == 0
        assert log.append(b"more") == end
