"""`file:` Parquet and Arrow IPC/Feather sources and part-file sinks
(connectors/files_columnar.py): round-trip sink -> source, row-group sizes and rolls, exact
resume by group and row, dead letters naming group and row, sinks exactly once across a
crash between pre_commit and commit, hostile files, and a checkpointed pipeline resumed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import msgspec
import polars as pl
import pyarrow.parquet as pq
import pytest
from file_format_helpers import crash_then_resume, read_all, write_checkpointed
from hypothesis import given, settings
from hypothesis import strategies as st

import frys
import frys.connectors.files_columnar as columnar
from frys.connectors import registry
from frys.connectors.decode import StreamDecoder
from frys.connectors.files_columnar import ColumnarFileSource, PartFileSink
from frys.connectors.files_formats import ColumnarOptions, columnar_options
from frys.connectors.registry import ConnectorError
from frys.dsl.types import FrysType

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TS = 1_700_000_000_000
COLUMNS = {"k": FrysType.STRING, "v": FrysType.INT, "f": FrysType.FLOAT,
           "b": FrysType.BOOL, "ts": FrysType.TIMESTAMP}
KINDS = {"parquet": ".parquet", "arrow": ".arrow", "feather": ".feather"}


def decoder() -> StreamDecoder:
    return StreamDecoder("ev", dict(COLUMNS), "ts")


def checkpointed(value: object) -> object:
    return msgspec.msgpack.decode(msgspec.msgpack.encode(value))



def frame(values: list[int]) -> pl.DataFrame:
    return pl.DataFrame({"k": [f"k{v % 3}" if v % 4 else None for v in values],
                         "v": values, "f": [v / 2 for v in values],
                         "b": [v % 2 == 0 for v in values], "ts": [TS + v for v in values]}
                        ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def source(path: Path, ext: str) -> ColumnarFileSource:
    return ColumnarFileSource(path, decoder(), path.name, columnar.EXTENSIONS[ext])


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(KINDS)), st.lists(st.integers(0, 40), min_size=1, max_size=6),
       st.integers(1, 25), st.none() | st.integers(1, 60), st.integers(0, 6))
def test_what_the_sink_writes_the_source_reads_back(
        kind: str, sizes: list[int], group: int, roll: int | None, checkpoint_every: int
        ) -> None:
    """Batches written with checkpoints in between and rolls: the folder's committed parts
    read back as the rows written, in order; no group holds more than row_group_size rows
    and no part more than roll_rows (rounded up to a group)."""
    ext = KINDS[kind]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"out{ext}"
        sink = PartFileSink(path, columnar.EXTENSIONS[ext],
                            ColumnarOptions(row_group_size=group, roll_rows=roll), False)
        written = write_checkpointed(sink, sizes, checkpoint_every, frame)
        sink.pre_commit(99)
        sink.commit(99)
        sink.close()
        assert not [p for p in path.iterdir() if p.name.startswith(".")]
        rows, letters = read_all(source(path, ext))
        if kind == "parquet":
            for part in path.iterdir():
                meta = pq.ParquetFile(part).metadata
                groups = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
                assert max(groups) <= group
                if roll is not None:
                    assert sum(groups) - groups[-1] < roll
    assert letters == []
    assert rows == frame(written).to_dicts()


def test_dead_letters_name_the_group_and_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    monkeypatch.setattr(columnar, "BATCH_ROWS", 2)
    path = tmp_path / "in.parquet"
    pl.DataFrame({"k": ["a", "b", "c", "d", "e"], "v": [1, 2, 3, 4, 5],
                  "ts": ["2024-01-01T00:00:00Z", None, "1704067200000", "garbage",
                         "1704067200001"]}).write_parquet(path, row_group_size=3)
    rows, letters = read_all(source(path, ".parquet"))
    assert [r["k"] for r in rows] == ["a", "c", "e"]
    assert [(d.position, d.reason.split(":")[0]) for d in letters] == [
        ("in.parquet:row group 0, row 1", "field ts"),
        ("in.parquet:row group 1, row 0", "field ts")]
    assert "the event time is missing" in letters[0].reason
    assert "cannot parse 'garbage'" in letters[1].reason


LAYOUTS = st.tuples(st.integers(1, 60), st.integers(1, 9), st.integers(1, 5))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(KINDS)), LAYOUTS, st.integers(0, 30), st.booleans())
def test_a_source_seeked_to_its_position_reads_exactly_the_rest(
        kind: str, layout: tuple[int, int, int], stop_after: int, folder_of_parts: bool
        ) -> None:
    rows_total, group, batch_rows = layout
    ext = KINDS[kind]
    values = list(range(rows_total))
    data = frame(values).with_columns(  # every 7th row without its event time
        pl.when(pl.col("v") % 7 == 3).then(None).otherwise(pl.col("ts")).alias("ts"))
    original = columnar.BATCH_ROWS
    columnar.BATCH_ROWS = batch_rows
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"in{ext}"
            sink = PartFileSink(path, columnar.EXTENSIONS[ext],
                                ColumnarOptions(row_group_size=group, roll_rows=2 * group
                                                if folder_of_parts else None), False)
            sink.write(data)
            sink.close()
            if not folder_of_parts:  # one file, out of its folder
                (part,) = path.iterdir()
                single = Path(folder) / f"single{ext}"
                part.rename(single)
                path = single
            whole = read_all(source(path, ext))
            first = source(path, ext)
            head = read_all(first, stop_after) if stop_after else ([], [])
            again = source(path, ext)
            again.seek(checkpointed(first.position()))
            rest = read_all(again)
    finally:
        columnar.BATCH_ROWS = original
    assert len(whole[0]) + len(whole[1]) == rows_total
    assert head[0] + rest[0] == whole[0]
    assert head[1] + rest[1] == whole[1]


def test_a_truncated_parquet_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    frame(list(range(100))).write_parquet(path)
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(ConnectorError, match=r"cannot read the source file in\.parquet "
                                             r"\(stream ev\): .*"):
        read_all(source(path, ".parquet"))
    garbage = tmp_path / "bad.arrow"
    garbage.write_bytes(b"not an arrow file at all")
    with pytest.raises(ConnectorError, match=r"cannot read the source file bad\.arrow"):
        read_all(source(garbage, ".arrow"))


def test_a_column_of_the_wrong_type_is_refused_naming_file_and_group(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    pl.DataFrame({"v": ["one"], "ts": [TS]}).write_parquet(path)
    with pytest.raises(ConnectorError, match=r"in\.parquet \(stream ev\): row group 0: "
                                             r"DataFrame does not fit stream ev"):
        read_all(source(path, ".parquet"))


def test_a_resumed_source_refuses_a_rewritten_file(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    frame(list(range(50))).write_parquet(path, row_group_size=10)
    first = source(path, ".parquet")
    read_all(first, 1)
    position = checkpointed(first.position())
    frame(list(range(1, 51))).write_parquet(path, row_group_size=10)
    with pytest.raises(ConnectorError, match=r"in\.parquet \(stream ev\) at row group 0, "
                                             r"row 10: it is not the file read before"):
        source(path, ".parquet").seek(position)
    with pytest.raises(ConnectorError, match="not a position of a columnar file"):
        source(path, ".parquet").seek({"offset": 3})


def test_the_sink_recovers_exactly_its_checkpoint(tmp_path: Path) -> None:
    """Crash after a pre_commit (the checkpoint written) but before its commit: recover
    publishes the parts it counted and deletes those written after it."""
    path = tmp_path / "out.parquet"
    options = ColumnarOptions(row_group_size=4, roll_rows=4)
    sink = PartFileSink(path, "parquet", options, False)
    sink.write(frame(list(range(6))))
    sink.pre_commit(1)
    sink.commit(1)
    sink.write(frame(list(range(6, 10))))
    state = checkpointed(sink.pre_commit(2))  # not committed: the process dies here
    sink.write(frame(list(range(10, 20))))  # rows after the checkpoint: ended parts too
    sink.abort()
    assert state == {"parts": 3}
    assert sorted(p.name for p in path.iterdir()) == [
        ".part-00002.parquet.tmp", ".part-00003.parquet.tmp", ".part-00004.parquet.tmp",
        "part-00000.parquet", "part-00001.parquet"]
    resumed = PartFileSink(path, "parquet", options, True)
    resumed.recover(state)
    resumed.write(frame(list(range(10, 12))))
    resumed.close()
    assert sorted(p.name for p in path.iterdir()) == [
        f"part-{i:05d}.parquet" for i in range(4)]
    assert pl.read_parquet(path / "*.parquet")["v"].to_list() == list(range(12))
    (path / "part-00001.parquet").unlink()
    with pytest.raises(ConnectorError, match=r"part-00001\.parquet \(of the 3 the "
                                             r"checkpoint recorded\) is missing"):
        PartFileSink(path, "parquet", options, True).recover(state)
    with pytest.raises(ConnectorError, match="not the recovery state of a columnar file"):
        PartFileSink(path, "parquet", options, True).recover({"bytes": 3})


def test_a_fresh_sink_replaces_its_earlier_parts_only(tmp_path: Path) -> None:
    path = tmp_path / "out.arrow"
    sink = PartFileSink(path, "arrow", ColumnarOptions(roll_rows=2), False)
    sink.write(frame(list(range(6))))
    sink.close()
    (path / "notes.txt").write_text("mine")
    again = PartFileSink(path, "arrow", ColumnarOptions(), False)
    again.write(frame([7]))
    again.close()
    assert sorted(p.name for p in path.iterdir()) == ["notes.txt", "part-00000.arrow"]


def test_writers_sharing_a_folder_each_recover_their_own_parts(tmp_path: Path) -> None:
    """Writers 0 and 1 of 2 (the scale-out runtime's processes) in one folder: each names
    its parts with its number and commits them; one that crashes after a pre_commit
    recovers its own share alone, cutting back its parts past the checkpoint and leaving
    the other's parts as they are."""
    path = tmp_path / "out.parquet"
    options = ColumnarOptions(row_group_size=4, roll_rows=4)
    first = PartFileSink(path, "parquet", options, False, (0, 2))
    second = PartFileSink(path, "parquet", options, False, (1, 2))
    first.write(frame([0, 1, 2]))
    second.write(frame([10, 11, 12, 13, 14]))
    for sink in (first, second):
        sink.pre_commit(1)
        sink.commit(1)
    state = checkpointed(second.pre_commit(2))  # second ends nothing new; dies later
    second.write(frame([15, 16, 17, 18]))  # after its checkpoint: an ended part, not kept
    second.abort()
    first.write(frame([3]))
    first.close()
    assert state == {"parts": 2}
    assert sorted(p.name for p in path.iterdir()) == [
        ".part-w0001-00002.parquet.tmp", "part-w0000-00000.parquet",
        "part-w0000-00001.parquet", "part-w0001-00000.parquet", "part-w0001-00001.parquet"]
    resumed = PartFileSink(path, "parquet", options, True, (1, 2))
    resumed.recover(state)
    resumed.write(frame([15]))
    resumed.close()
    assert sorted(pl.read_parquet(path / "*.parquet")["v"].to_list()) == [
        0, 1, 2, 3, 10, 11, 12, 13, 14, 15]


def test_a_fresh_writer_clears_its_parts_and_what_no_writer_owns(tmp_path: Path) -> None:
    """A fresh run's folder holds its own rows only: writer 1 of 2 deletes its earlier
    parts, the single writer's and those of a writer past the 2 (a larger cluster's), and
    leaves writer 0's (being written meanwhile); a fresh single writer deletes every
    writer's."""
    path = tmp_path / "out.arrow"
    for writer in [(0, 3), (1, 3), (2, 3), None]:  # (None, alone, would clear the others)
        folder = path if writer is not None else tmp_path / "single.arrow"
        sink = PartFileSink(folder, "arrow", ColumnarOptions(), False, writer)
        sink.write(frame([1]))
        sink.close()
    (tmp_path / "single.arrow" / "part-00000.arrow").rename(path / "part-00000.arrow")
    assert len(list(path.iterdir())) == 4
    PartFileSink(path, "arrow", ColumnarOptions(), False, (1, 2)).close()
    assert [p.name for p in path.iterdir()] == ["part-w0000-00000.arrow"]
    PartFileSink(path, "arrow", ColumnarOptions(), False, (0, 2)).close()
    assert list(path.iterdir()) == []
    zero = PartFileSink(path, "arrow", ColumnarOptions(), False, (0, 2))
    zero.write(frame([2]))
    zero.close()
    (path / "notes.txt").write_text("mine")
    PartFileSink(path, "arrow", ColumnarOptions(), False).close()
    assert [p.name for p in path.iterdir()] == ["notes.txt"]


JOB = """
CREATE STREAM ev (k STRING, v INT, f FLOAT, b BOOL, ts TIMESTAMP)
    WITH (event_time = ts, source = 'file:in{ext}');
CREATE STREAM out WITH (sink = 'file:out{ext}?row_group_size=7&roll_rows=20');
INSERT INTO out SELECT k, v * 10 AS v, ts FROM ev;
"""


@pytest.mark.parametrize("ext", [".parquet", ".feather"])
def test_a_checkpointed_pipeline_killed_midway_resumes_to_exactly_one_runs_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ext: str) -> None:
    monkeypatch.setattr(columnar, "BATCH_ROWS", 13)  # many batches
    job = JOB.format(ext=ext)
    data = frame(list(range(300))).with_columns(
        pl.when(pl.col("v") % 11 == 5).then(None).otherwise(pl.col("ts")).alias("ts"))
    for run in ("whole", "crashed"):
        (tmp_path / run).mkdir()
        if ext == ".parquet":
            data.write_parquet(tmp_path / run / f"in{ext}", row_group_size=50)
        else:
            data.write_ipc(tmp_path / run / f"in{ext}")
    frys.Pipeline(job, base_dir=tmp_path / "whole", keep_results=False).run()
    read = pl.read_parquet if ext == ".parquet" else pl.read_ipc
    expected = read(tmp_path / "whole" / f"out{ext}" / f"*{ext}")
    assert expected.height == 300 - 27

    crashed = tmp_path / "crashed"
    crash_then_resume(monkeypatch, job, crashed, 40)
    got = read(crashed / f"out{ext}" / f"*{ext}")
    assert got.to_dicts() == expected.to_dicts()


@pytest.mark.parametrize(("uri", "role", "message"), [
    ("file:x.parquet?row_group=5", "sink", "unknown option 'row_group' of a columnar file"),
    ("file:x.parquet?row_group=5", "sink", "did you mean 'row_group_size'"),
    ("file:x.parquet?roll_rows=0", "sink", "roll_rows must be a positive number of rows"),
    ("file:x.arrow?roll_interval=soon", "sink", "roll_interval must be a positive number"),
    ("file:x.feather?roll_rows=5", "source", "roll_rows is an option of a file: sink"),
])
def test_columnar_options_are_checked(uri: str, role: str, message: str) -> None:
    problem = registry.check_uri(uri, role)
    assert problem is not None and message in problem.message


def test_columnar_options_parse() -> None:
    assert columnar_options(
        "u", "row_group_size=10&roll_rows=100&roll_interval=2m", "sink") == \
        ColumnarOptions(10, 100, 120.0)
    assert registry.check_uri("file:x.parquet", "source") is None
    assert registry.check_uri("file:x.feather?roll_interval=30", "sink") is None


@pytest.mark.parametrize("kind", ["parquet", "arrow"])
def test_part_sinks_start_the_writeback_as_they_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """Every WRITEBACK_BYTES of groups written, the part's dirty pages are handed to the
    disk (posix_fadvise DONTNEED on the part being written: connectors/writeback.py), so
    that the fsync ending the part waits for little; the rows read back unchanged."""
    import os

    from frys.connectors import writeback

    advised: list[int] = []
    monkeypatch.setattr(writeback, "WRITEBACK_BYTES", 100)
    monkeypatch.setattr(os, "posix_fadvise",
                        lambda fd, offset, length, advice: advised.append(advice))
    path = tmp_path / f"out.{kind}"
    sink = PartFileSink(path, kind, ColumnarOptions(row_group_size=4), False)
    written = write_checkpointed(sink, [5, 7, 9, 11], 2, frame)
    sink.close()
    assert len(advised) >= 4 and set(advised) == {os.POSIX_FADV_DONTNEED}
    rows, _ = read_all(source(path, f".{kind}"))
    assert [r["v"] for r in rows] == written
