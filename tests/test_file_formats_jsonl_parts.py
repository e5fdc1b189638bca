"""A folder of JSON Lines part files (connectors/files_jsonl_parts.py): the `file:` sink
`file:out.jsonl?parts=true` and the `file:` source of such a folder: what is written
reads back, exactly once across a crash, writers sharing a folder, positions and
partitions of the folder, the options checked."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import msgspec
import polars as pl
import pytest
from file_format_helpers import crash_then_resume, read_all, write_checkpointed
from hypothesis import given, settings
from hypothesis import strategies as st

import frys
from frys.connectors import registry
from frys.connectors.decode import StreamDecoder
from frys.connectors.file_partitions import open_partition, partitions
from frys.connectors.files_formats import ColumnarOptions
from frys.connectors.files_jsonl_parts import JsonlFolderSource, JsonlPartSink
from frys.connectors.registry import ConnectorError, SourceContext
from frys.dsl.errors import FrysError
from frys.dsl.types import FrysType

TS = 1_700_000_000_000
COLUMNS = {"k": FrysType.STRING, "v": FrysType.INT, "ts": FrysType.TIMESTAMP}
REPO = Path(__file__).resolve().parent.parent


def decoder() -> StreamDecoder:
    return StreamDecoder("ev", dict(COLUMNS), "ts")


def frame(values: list[int]) -> pl.DataFrame:
    return pl.DataFrame({"k": [f"k{v % 3}" if v % 4 else None for v in values],
                         "v": values, "ts": [TS + v for v in values]}
                        ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def checkpointed(value: object) -> object:
    return msgspec.msgpack.decode(msgspec.msgpack.encode(value))


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=6), st.none() | st.integers(1, 60),
       st.integers(0, 6))
def test_what_the_sink_writes_the_source_reads_back(
        sizes: list[int], roll: int | None, checkpoint_every: int) -> None:
    """Batches written with checkpoints in between and rolls: the committed parts read
    back as the rows written, in order; no part holds more than roll_rows rows but for
    its last batch; nothing hidden is left."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "out.jsonl"
        sink = JsonlPartSink(path, ColumnarOptions(roll_rows=roll), False)
        written = write_checkpointed(sink, sizes, checkpoint_every, frame)
        sink.close()
        assert not [p for p in path.iterdir() if p.name.startswith(".")]
        if roll is not None:
            for part in path.iterdir():
                assert len(part.read_bytes().splitlines()) < roll + max(sizes)
        rows, letters = read_all(JsonlFolderSource(path, decoder(), "out.jsonl"))
    assert letters == []
    assert rows == frame(written).to_dicts()


def test_the_sink_recovers_exactly_its_checkpoint(tmp_path: Path) -> None:
    """Crash after a pre_commit (the checkpoint written) but before its commit: recover
    publishes the parts it counted and deletes those written after it."""
    path = tmp_path / "out.jsonl"
    options = ColumnarOptions(roll_rows=4)
    sink = JsonlPartSink(path, options, False)
    sink.write(frame(list(range(6))))  # a part of 6 rows (rolled after the batch)
    sink.pre_commit(1)
    sink.commit(1)
    sink.write(frame(list(range(6, 10))))
    state = checkpointed(sink.pre_commit(2))  # not committed: the process dies here
    sink.write(frame(list(range(10, 20))))  # rows after the checkpoint: an ended part too
    sink.write(frame([20]))  # and one being written
    sink.abort()
    assert state == {"parts": 2}
    assert names(path) == [".part-00001.jsonl.tmp", ".part-00002.jsonl.tmp",
                           "part-00000.jsonl"]
    resumed = JsonlPartSink(path, options, True)
    resumed.recover(state)
    resumed.write(frame(list(range(10, 12))))
    resumed.close()
    assert names(path) == ["part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]
    rows, _ = read_all(JsonlFolderSource(path, decoder(), "out.jsonl"))
    assert [r["v"] for r in rows] == list(range(12))
    (path / "part-00001.jsonl").unlink()
    with pytest.raises(ConnectorError, match=r"part-00001\.jsonl \(of the 2 the "
                                             r"checkpoint recorded\) is missing"):
        JsonlPartSink(path, options, True).recover(state)


def test_writers_sharing_a_folder_each_write_and_clear_their_own_parts(tmp_path: Path
                                                                        ) -> None:
    """Writers 0 and 1 of 2 (a cluster's processes) in one folder name their parts with
    their number; a fresh writer clears the single writer's parts and its own earlier ones,
    and leaves the other writer's as they are."""
    path = tmp_path / "out.jsonl"
    single = JsonlPartSink(path, ColumnarOptions(), False)
    single.write(frame([99]))
    single.close()
    assert names(path) == ["part-00000.jsonl"]
    for writer, values in (((0, 2), [0, 1]), ((1, 2), [10])):
        sink = JsonlPartSink(path, ColumnarOptions(), False, writer)
        sink.write(frame(values))
        sink.close()
    assert names(path) == ["part-w0000-00000.jsonl", "part-w0001-00000.jsonl"]
    again = JsonlPartSink(path, ColumnarOptions(), False, (1, 2))
    again.write(frame([11, 12]))
    again.close()
    assert names(path) == ["part-w0000-00000.jsonl", "part-w0001-00000.jsonl"]
    rows, _ = read_all(JsonlFolderSource(path, decoder(), "out.jsonl"))
    assert [r["v"] for r in rows] == [0, 1, 11, 12]


def folder_of_parts(path: Path, sizes: list[int]) -> list[int]:
    """A folder of one part per batch of `sizes` rows; the values written."""
    sink = JsonlPartSink(path, ColumnarOptions(), False)
    values = write_checkpointed(sink, sizes, 1, frame)
    sink.close()
    return values


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 30), min_size=1, max_size=5), st.integers(0, 8))
def test_a_source_seeked_to_its_position_reads_exactly_the_rest(
        sizes: list[int], stop_after: int) -> None:
    """Read some batches (chunks of 64 bytes: several per part), take the position
    through a checkpoint's encoding, and a new source seeked there reads exactly the rows
    not yet read, at part boundaries too."""
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr("frys.connectors.jsonl.DEFAULT_CHUNK_BYTES", 64)
        path = Path(folder) / "in.jsonl"
        values = folder_of_parts(path, sizes)
        first = JsonlFolderSource(path, decoder(), "in.jsonl")
        seen: list[int] = []
        batches = first.batches()
        for _ in range(stop_after):
            item = next(batches, None)
            if item is None:
                break
            seen += item[0]["v"].to_list()
        position = checkpointed(first.position())
        second = JsonlFolderSource(path, decoder(), "in.jsonl")
        second.seek(position)
        rest, _ = read_all(second)
    assert seen + [r["v"] for r in rest] == values


def test_small_chunks_split_parts_and_dead_letters_name_part_and_line(
        tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.mkdir()
    (path / "part-00000.jsonl").write_text('{"k": "a", "v": 1, "ts": 1}\n'
                                           '{"k": "b", "v": 2, "ts": "soon"}\n')
    (path / "part-00001.jsonl").write_text('{"k": "c", "v": 3, "ts": 3}\nnot json\n')
    (path / ".part-00002.jsonl.tmp").write_text('{"k": "hidden", "v": 9, "ts": 9}\n')
    (path / "notes.txt").write_text("not a part\n")
    rows, letters = read_all(JsonlFolderSource(path, decoder(), "in.jsonl"))
    assert [r["k"] for r in rows] == ["a", "c"]
    assert [d.position for d in letters] == ["in.jsonl/part-00000.jsonl:2",
                                             "in.jsonl/part-00001.jsonl:2"]


def test_a_folder_is_not_followed(tmp_path: Path) -> None:
    folder_of_parts(tmp_path / "in.jsonl", [2])
    job = ("CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP) WITH (event_time = ts, "
           "source = 'file:in.jsonl?follow=true');\nSELECT k FROM ev;\n")
    with pytest.raises(FrysError, match=r"in\.jsonl is a folder of JSON Lines parts "
                                        r"\(stream ev\): follow=true tails one file"):
        frys.Pipeline(job, base_dir=tmp_path, keep_results=False).run()


def test_resuming_refuses_a_part_gone_or_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    folder_of_parts(path, [3, 3])
    source = JsonlFolderSource(path, decoder(), "in.jsonl")
    next(source.batches())
    position = checkpointed(source.position())
    assert isinstance(position, dict) and position["part"] == "part-00000.jsonl"
    (path / "part-00000.jsonl").write_text('{"k": "x", "v": 7, "ts": 7}\n' * 3)
    with pytest.raises(ConnectorError, match=r"in\.jsonl/part-00000\.jsonl .*start the job "
                                             "afresh"):
        JsonlFolderSource(path, decoder(), "in.jsonl").seek(position)
    (path / "part-00000.jsonl").unlink()
    with pytest.raises(ConnectorError, match=r"in its part part-00000\.jsonl: it no longer "
                                             "exists"):
        JsonlFolderSource(path, decoder(), "in.jsonl").seek(position)
    with pytest.raises(ConnectorError, match="not a position of a folder of JSON Lines"):
        JsonlFolderSource(path, decoder(), "in.jsonl").seek({"offset": 3})


def test_a_folders_partitions_deal_its_parts_round_robin(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    values = folder_of_parts(path, [2, 3, 4, 5, 6])
    names_ = partitions(path, "file:in.jsonl", 2, 1 << 20)
    assert names_ == ["stripes=0/2:1", "stripes=1/2:1"]
    context = cast(SourceContext, SimpleNamespace(decoder=decoder(), stream_name="ev"))
    read = [[r["v"] for r in read_all(open_partition(path, context, name))[0]]
            for name in names_]
    assert read[0] == [0, 1, 5, 6, 7, 8, 14, 15, 16, 17, 18, 19]
    assert sorted(read[0] + read[1]) == values
    assert partitions(path, "file:in.jsonl", 8, 1 << 20) == [
        f"stripes={i}/5:1" for i in range(5)]


@pytest.mark.parametrize(("uri", "role", "message"), [
    ("file:x.jsonl?parts=yes", "sink", "parts must be true or false"),
    ("file:x.jsonl?parts=true", "source", "parts is an option of a file: sink"),
    ("file:x.jsonl?roll_rows=5", "sink", "roll_rows rolls the part files of a folder sink: "
                                         "give parts=true too"),
    ("file:x.jsonl?parts=true&roll_rows=0", "sink", "roll_rows must be a positive number"),
    ("file:x.jsonl?parts=true&roll_interval=soon", "sink",
     "roll_interval must be a positive number"),
    ("file:x.jsonl?parts=true&row_group_size=5", "sink", "unknown file: option "
     "'row_group_size' in 'file:x.jsonl?parts=true&row_group_size=5'; known: parts, "
     "roll_rows, roll_interval"),
    ("file:x.jsonl?part=true", "sink", "did you mean 'parts'"),
    ("file:x.jsonl?roll_rows=5", "source", "roll_rows is an option of a file: sink, not of "
                                           "a source"),
])
def test_part_options_are_checked(uri: str, role: str, message: str) -> None:
    problem = registry.check_uri(uri, role)
    assert problem is not None and message in problem.message


def test_checking_part_options_loads_no_pyarrow() -> None:
    """`frys check` asks about file: URIs without loading pyarrow (50 ms of start-up)."""
    code = ("import sys; from frys.connectors import registry; "
            "assert registry.check_uri('file:o.jsonl?parts=true&roll_rows=9', 'sink') is None;"
            " print('pyarrow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


JOB = """
CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP) WITH (event_time = ts, source = 'file:in.jsonl');
CREATE STREAM out WITH (sink = 'file:out.jsonl?parts=true&roll_rows=20');
INSERT INTO out SELECT k, v * 10 AS v, ts FROM ev;
"""


def test_a_checkpointed_pipeline_killed_midway_resumes_to_exactly_one_runs_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [json.dumps({"k": f"k{i % 3}", "v": i, "ts": TS + i}) for i in range(300)]
    for run in ("whole", "crashed"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "in.jsonl").write_text("\n".join(lines) + "\n")
    frys.Pipeline(JOB, base_dir=tmp_path / "whole", keep_results=False).run()
    expected = pl.read_ndjson(sorted((tmp_path / "whole" / "out.jsonl").glob("*.jsonl")))
    assert expected.height == 300
    monkeypatch.setattr("frys.connectors.jsonl.DEFAULT_CHUNK_BYTES", 512)  # many batches
    crashed = tmp_path / "crashed"
    crash_then_resume(monkeypatch, JOB, crashed, 40)
    parts = sorted((crashed / "out.jsonl").glob("*.jsonl"))
    assert len(parts) > 2
    got = pl.read_ndjson(parts)
    assert got.to_dicts() == expected.to_dicts()


def test_durable_json_lines_sinks_start_the_writeback_as_they_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A part sink and a file sink hand their bytes to the disk every WRITEBACK_BYTES
    written (posix_fadvise DONTNEED: writeback started, not waited for), so that a
    checkpoint's fsync waits for little; what they wrote is unchanged. (Parquet and Arrow
    part sinks: tests/test_file_formats_columnar.py.)"""
    import os

    from frys.connectors import jsonl, writeback

    advised: list[tuple[int, int]] = []
    monkeypatch.setattr(writeback, "WRITEBACK_BYTES", 200)
    monkeypatch.setattr(os, "posix_fadvise",
                        lambda fd, offset, length, advice: advised.append((fd, advice)))
    sink = JsonlPartSink(tmp_path / "out.jsonl", ColumnarOptions(), False)
    for start in range(0, 30, 3):
        sink.write(frame([start, start + 1, start + 2]))
    assert sink._file is not None
    fd = sink._file.fileno()
    sink.close()
    assert len(advised) >= 5 and set(advised) == {(fd, os.POSIX_FADV_DONTNEED)}
    rows, _ = read_all(JsonlFolderSource(tmp_path / "out.jsonl", decoder(), "out.jsonl"))
    assert [r["v"] for r in rows] == list(range(30))
    advised.clear()
    writer = jsonl.open_file_sink(tmp_path / "one.jsonl")
    for start in range(0, 30, 3):
        writer.write(frame([start, start + 1, start + 2]))
    writer.close()
    assert len(advised) >= 5
    assert (tmp_path / "one.jsonl").read_text() == "".join(
        p.read_text() for p in sorted((tmp_path / "out.jsonl").glob("*.jsonl")))


def test_a_durable_writer_on_a_stream_without_offsets_writes_without_write_behind() -> None:
    """A pipe has no offset to count written bytes by: the rows are written all the same,
    with no write-behind (it was a crash on the first batch)."""
    import os

    from frys.connectors import jsonl

    read, write = os.pipe()
    with open(write, "wb") as stream:
        writer = jsonl.JsonlWriter(stream, close_at_end=False, durable=True)
        writer.write(frame([1, 2]))
        writer.write(frame([3]))
    with open(read, "rb") as pipe:
        assert [json.loads(line)["v"] for line in pipe.read().splitlines()] == [1, 2, 3]
