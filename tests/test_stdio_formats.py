"""`stdin:` and `stdout:` in JSON Lines, CSV and msgpack, and `file:<x>.csv?follow=true`
(connectors/stdin_source.py, connectors/stdout_sink.py, connectors/file_follow.py)."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_growing_sources import append, checkpointed, follow

from frys.connectors import stdin_source
from frys.connectors.decode import StreamDecoder
from frys.connectors.file_follow import FollowedCsvFile
from frys.connectors.files_csv import CsvFileSource, CsvOptions
from frys.connectors.registry import IDLE, ConnectorError, UriProblem, check_uri
from frys.connectors.stdin_source import StdinFormat, StdinSource
from frys.dsl.types import FrysType

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = {"k": FrysType.STRING, "v": FrysType.INT, "ts": FrysType.TIMESTAMP}

JOB = """
CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP)
    WITH (source = '{source}', event_time = ts);
CREATE STREAM out (k STRING, total INT) WITH (sink = '{sink}');
INSERT INTO out SELECT k, SUM(v) AS total FROM ev GROUP BY k, TUMBLE(1 SECOND);
"""


def decoder() -> StreamDecoder:
    return StreamDecoder("ev", dict(COLUMNS), "ts")


def job(folder: Path, source: str, sink: str) -> Path:
    path = folder / f"job{len(list(folder.iterdir()))}.frysql"
    path.write_text(JOB.format(source=source, sink=sink))
    return path


def frys_run(job_path: Path, stdin: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "frys", "run", *args, str(job_path)],
                          input=stdin, capture_output=True, timeout=60, cwd=ROOT)


EVENTS = [("a", 1, 1000), ("b", 2, 1500), ("a", 3, 2500), ("x,y \"q\"", 4, 2600)]
EXPECTED = [{"k": "a", "total": 1}, {"k": "b", "total": 2}, {"k": "a", "total": 3},
            {"k": "x,y \"q\"", "total": 4}]


def as_jsonl(events: list[tuple[str, int, int]]) -> bytes:
    return b"".join(json.dumps({"k": k, "v": v, "ts": ts}).encode() + b"\n"
                    for k, v, ts in events)


def as_csv(events: list[tuple[str, int, int]], header: bool = True) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(["k", "v", "ts"])
    writer.writerows(events)
    return out.getvalue().encode()


def as_msgpack(events: list[tuple[str, int, int]], framing: str = "stream") -> bytes:
    records = [msgspec.msgpack.encode({"k": k, "v": v, "ts": ts}) for k, v, ts in events]
    if framing == "length":
        return b"".join(len(r).to_bytes(4, "big") + r for r in records)
    return b"".join(records)


# ------------------------------------------------------------------ through `frys run`

@pytest.mark.parametrize(("source", "data"), [
    ("stdin:", as_jsonl(EVENTS)),
    ("stdin:?format=csv", as_csv(EVENTS)),
    ("stdin:?format=csv&header=false&delimiter=tab",
     as_csv(EVENTS, header=False).replace(b",", b"\t").replace(b'"x\ty', b'"x,y')),
    ("stdin:?format=msgpack", as_msgpack(EVENTS)),
    ("stdin:?format=msgpack&framing=length", as_msgpack(EVENTS, "length")),
])
def test_every_stdin_format_feeds_a_job(tmp_path: Path, source: str, data: bytes) -> None:
    run = frys_run(job(tmp_path, source, "stdout:"), data)
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert rows == EXPECTED


@pytest.mark.parametrize("sink", ["stdout:", "stdout:?format=csv",
                                  "stdout:?format=csv&delimiter=%3B&header=false",
                                  "stdout:?format=msgpack",
                                  "stdout:?format=msgpack&framing=length"])
def test_every_stdout_format_reads_back_as_its_stdin_format(tmp_path: Path, sink: str) -> None:
    """One job writes the stream to stdout in a format; a second job reads that output as
    its stdin in the same format and writes JSON lines: the rows come through unchanged."""
    first = frys_run(job(tmp_path, "stdin:", sink), as_jsonl(EVENTS))
    assert first.returncode == 0, first.stderr
    if "format=csv" in sink and "header=false" not in sink:
        assert first.stdout.splitlines()[0] == b"k,total"
    relay = sink.replace("stdout:", "stdin:")
    echo = tmp_path / "echo.frysql"
    echo.write_text(f"CREATE STREAM r (k STRING, total INT) WITH (source = '{relay}');\n"
                    "CREATE STREAM copy (k STRING, total INT) WITH (sink = 'stdout:');\n"
                    "INSERT INTO copy SELECT k, total FROM r;\n")
    second = frys_run(echo, first.stdout)
    assert second.returncode == 0, second.stderr
    assert [json.loads(line) for line in second.stdout.splitlines()] == EXPECTED


def test_bad_records_on_stdin_are_dead_letters_named_by_line_or_record(tmp_path: Path) -> None:
    data = as_csv(EVENTS[:2]) + b"c,notanumber,3000\n"
    run = frys_run(job(tmp_path, "stdin:?format=csv", "stdout:"), data)
    assert run.returncode == 0, run.stderr
    assert b"stdin:4: field v: expected INT, got 'notanumber'" in run.stderr

    truncated = as_msgpack(EVENTS[:2]) + as_msgpack(EVENTS[2:3])[:-3]
    run = frys_run(job(tmp_path, "stdin:?format=msgpack", "stdout:"), truncated)
    assert run.returncode == 0, run.stderr
    assert b"stdin:record 3: truncated record: the input ends" in run.stderr
    assert len(run.stdout.splitlines()) == 2


def test_bytes_that_are_not_msgpack_stop_the_run_naming_stdin(tmp_path: Path) -> None:
    run = frys_run(job(tmp_path, "stdin:?format=msgpack", "stdout:"),
                   as_msgpack(EVENTS[:1]) + b"\xc1junk")
    assert run.returncode != 0
    assert b"cannot read standard input (stream ev, msgpack)" in run.stderr
    assert b"0xc1 cannot start a msgpack value" in run.stderr


# ------------------------------------------------------------------ the source in-process

def read_fd(data: bytes, form: StdinFormat) -> tuple[list[int], list[str]]:
    """The v values and dead-letter positions of StdinSource over a pipe fed `data`."""
    assert len(data) < 60_000  # the pipe holds it all: written before the source reads
    read, write = os.pipe()
    os.write(write, data)
    os.close(write)
    source = StdinSource(decoder(), fd=read, form=form)
    values: list[int] = []
    letters: list[str] = []
    try:
        for item in source.batches():
            if item is IDLE:
                continue
            values += item[0]["v"].to_list()
            letters += [letter.position for letter in item[1]]
    finally:
        os.close(read)
    return values, letters


def read_open_pipe(data: bytes, more: bytes, form: StdinFormat) -> None:
    """StdinSource over a pipe that stays open: `data`, then `more` at its first IDLE,
    then nothing (for at most 2 s)."""
    read, write = os.pipe()
    os.write(write, data)
    source = StdinSource(decoder(), fd=read, form=form)
    idles = 0
    try:
        for item in source.batches():
            if item is IDLE:
                idles += 1
                if idles == 1:
                    os.write(write, more)
                if idles > 200:
                    return
                time.sleep(0.01)  # the reader thread's turn
    finally:
        os.close(write)
        os.close(read)


def test_an_unclosed_csv_quote_stops_the_source_instead_of_buffering_stdin(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A record that does not end within MAX_RECORD_BYTES on an input that goes on is an
    error (at the input's end it would be a dead letter: a malformed last record)."""
    monkeypatch.setattr(stdin_source, "MAX_RECORD_BYTES", 100)
    data = as_csv(EVENTS[:1]) + b'b,"' + b"x\n" * 40
    with pytest.raises(ConnectorError, match=r"cannot read standard input \(stream ev, csv\)"
                                             r".*runs past 100 bytes"):
        read_open_pipe(data, b"x\n" * 10, StdinFormat("csv", csv=CsvOptions()))


def test_a_msgpack_length_prefix_that_lies_stops_the_source(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stdin_source, "MAX_RECORD_BYTES", 100)
    data = as_msgpack(EVENTS[:1], "length") + (2**31).to_bytes(4, "big") + b"\x80" * 90
    with pytest.raises(ConnectorError, match="runs past 100 bytes without ending"):
        read_open_pipe(data, b"\x80" * 20, StdinFormat("msgpack", framing="length"))


def test_an_unclosed_quote_at_the_end_of_stdin_is_a_dead_letter() -> None:
    values, letters = read_fd(as_csv(EVENTS[:1]) + b'b,"2,3000\n',
                              StdinFormat("csv", csv=CsvOptions()))
    assert values == [1] and letters == ["stdin:3"]


def test_csv_records_cut_across_pipe_reads_are_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stdin_source, "READ_BYTES", 7)
    events = [(f"k\n{i},\"q\"", i, 1000 + i) for i in range(30)]
    values, letters = read_fd(as_csv(events), StdinFormat("csv", csv=CsvOptions()))
    assert values == list(range(30)) and letters == []


# ------------------------------------------------------------------ URI checks

@pytest.mark.parametrize(("uri", "role", "problem"), [
    ("stdout:", "sink", None),
    ("stdout:?format=csv&header=false&delimiter=tab", "sink", None),
    ("stdout:?format=msgpack&framing=length", "sink", None),
    ("stdout:?format=csv&framing=length", "sink",
     "unknown stdout: option 'framing' in 'stdout:?format=csv&framing=length'; known with "
     "format=csv: format, header, delimiter, quote"),
    ("stdout:?format=parquet", "sink",
     "format must be jsonl, csv, msgpack in 'stdout:?format=parquet', not 'parquet'"),
    ("stdout:out.jsonl", "sink", "'stdout:out.jsonl': stdout: takes no path, only options, "
                                 "e.g. 'stdout:?format=jsonl'"),
    ("stdout:", "source", "connector stdout: cannot be a source"),
    ("stdin:?format=csv&heder=false", "source",
     "unknown stdin: option 'heder' in 'stdin:?format=csv&heder=false' (did you mean "
     "'header'?); known with format=csv: format, header, delimiter, quote"),
    ("file:x.csv?follow=true&delimiter=%3B", "source", None),
    ("file:x.csv?follow=true", "sink",
     "follow is an option of a file: source, not of a sink ('file:x.csv?follow=true')"),
    ("file:x.parquet?follow=true", "source",
     "follow=true tails .jsonl and .csv files only, not columnar files "
     "('file:x.parquet?follow=true')"),
    ("file:x.msgpack?follow=true", "source",
     "follow=true tails .jsonl and .csv files only, not msgpack files "
     "('file:x.msgpack?follow=true')"),
])
def test_stdio_and_follow_uri_checks(uri: str, role: str, problem: str | None) -> None:
    assert check_uri(uri, role) == (None if problem is None else UriProblem.error(problem))


# ------------------------------------------------------------------ file:x.csv?follow=true

def followed_csv(path: Path, options: CsvOptions | None = None) -> FollowedCsvFile:
    return FollowedCsvFile(path, decoder(), str(path), options or CsvOptions())


def test_a_followed_csv_file_reads_its_header_and_then_appended_records(tmp_path: Path) -> None:
    path = tmp_path / "ev.csv"
    path.write_bytes(b"ts,v,k\n")  # the header alone, columns in another order
    quoted = b'3000,3,"multi\nline"\n'
    values, letters = follow(followed_csv(path), [
        append(path, b"1000,1,a\n2000,2,b\n"),
        append(path, quoted[:12]),  # a quoted line break: the record waits for its end
        append(path, quoted[12:] + b"4000,oops,c\n")])
    assert values == [1, 2, 3]
    assert [letter.position for letter in letters] == [f"{path}:6"]


def test_a_rotated_csv_file_starts_again_with_its_own_header(tmp_path: Path) -> None:
    path = tmp_path / "ev.csv"
    path.write_bytes(b"k,v,ts\na,1,1000\n")

    def rotate() -> None:
        os.rename(path, tmp_path / "ev.csv.1")
        path.write_bytes(b"v,k,ts\n2,b,2000\n")  # the new file's header differs

    values, _ = follow(followed_csv(path), [rotate, append(path, b"3,c,3000\n")])
    assert values == [1, 2, 3]


def test_a_followed_csv_file_resumes_after_its_header_at_every_position(
        tmp_path: Path) -> None:
    path = tmp_path / "ev.csv"
    path.write_bytes(b"k,v,ts\na,1,1000\n")
    positions: list[object] = []
    counts: list[tuple[int, int]] = []
    actions: list[Callable[[], None]] = [append(path, f"a,{i},{1000 * i}\n".encode())
                                         for i in range(2, 6)]
    values, _ = follow(followed_csv(path), actions, positions, counts)
    assert values == [1, 2, 3, 4, 5]
    for position, (read, _) in zip(positions, counts, strict=True):
        source = followed_csv(path)
        source.seek(checkpointed(position))
        rest, _ = follow(source, [])
        assert values[:read] + rest == values


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet="ab,\"\n x", max_size=6), st.integers(0, 99)),
                min_size=1, max_size=25),
       st.lists(st.integers(0, 5_000), max_size=10))
def test_csv_appended_in_any_pieces_gives_the_rows_of_the_whole_file(
        rows: list[tuple[str, int]], cuts: list[int]) -> None:
    content = as_csv([(k, v, 1000 + i) for i, (k, v) in enumerate(rows)])
    points = sorted({cut % (len(content) + 1) for cut in cuts} | {len(content)})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ev.csv"
        path.write_bytes(content)
        whole = [v for item in CsvFileSource(path, decoder(), str(path), CsvOptions()
                                             ).batches()
                 if item is not IDLE for v in item[0]["v"].to_list()]
        path.write_bytes(content[:points[0]])
        pieces = [append(path, content[a:b]) for a, b in itertools.pairwise(points)]
        values, letters = follow(followed_csv(path), pieces)
        assert values == whole == [v for _, v in rows]
        assert letters == []


def test_msgpack_records_made_of_whitespace_bytes_are_records() -> None:
    """0x20 and 0x0a are the msgpack integers 32 and 10, not blank text: each is a record
    (here a dead letter: not a map), never skipped."""
    values, letters = read_fd(b" \n", StdinFormat("msgpack"))
    assert values == []
    assert letters == ["stdin:record 1", "stdin:record 2"]
