"""`file:` msgpack sources and sinks (connectors/files_msgpack.py): both framings round-trip
sink -> source, the record scanner agrees with msgspec, exact resume, dead letters naming
the record, hostile bytes, and a checkpointed pipeline resumed."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import polars as pl
import pytest
from file_format_helpers import crash_then_resume, read_all
from hypothesis import given, settings
from hypothesis import strategies as st

import frys
from frys.connectors import registry
from frys.connectors.decode import StreamDecoder
from frys.connectors.files_msgpack import (
    Corrupt,
    MsgpackFileSource,
    msgpack_options,
    open_msgpack_sink,
    record_end,
)
from frys.connectors.registry import ConnectorError
from frys.dsl.types import FrysType

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TS = 1_700_000_000_000
COLUMNS = {"k": FrysType.STRING, "v": FrysType.INT, "f": FrysType.FLOAT,
           "b": FrysType.BOOL, "ts": FrysType.TIMESTAMP}
ENCODE = msgspec.msgpack.encode


def decoder() -> StreamDecoder:
    return StreamDecoder("ev", dict(COLUMNS), "ts")



VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats()
    | st.text(max_size=40) | st.binary(max_size=300),
    lambda inner: st.lists(inner, max_size=20)
    | st.dictionaries(st.text(max_size=5), inner, max_size=20), max_leaves=60)


@settings(max_examples=200, deadline=None)
@given(st.lists(VALUES, min_size=1, max_size=5), st.integers(0, 3))
def test_the_scanner_finds_each_values_end(values: list[object], cut: int) -> None:
    data = b"".join(ENCODE(v) for v in values)
    ends, start = [], 0
    while start < len(data):
        end = record_end(data, start)
        assert end is not None
        ends.append(end)
        start = end
    assert [data[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)] == [
        ENCODE(v) for v in values]
    if cut and len(data) > cut:  # a value cut short: not complete yet
        assert record_end(data[: ends[0] - 1], 0) is None


ROW = st.fixed_dictionaries({
    "k": st.none() | st.text(max_size=10),
    "v": st.none() | st.integers(-2**63, 2**63 - 1),
    "f": st.none() | st.floats(allow_nan=False),
    "b": st.none() | st.booleans(),
    "ts": st.integers(-62135596800000, 253402300799999)})


def typed(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"k": pl.String, "v": pl.Int64, "f": pl.Float64,
                                      "b": pl.Boolean, "ts": pl.Int64}
                        ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(ROW, min_size=1, max_size=6), min_size=1, max_size=4),
       st.sampled_from(["stream", "length"]), st.integers(1, 300))
def test_what_the_sink_writes_the_source_reads_back(
        batches: list[list[dict[str, object]]], framing: str, chunk: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ev.msgpack"
        sink = open_msgpack_sink(path, framing)
        for rows in batches:
            sink.write(typed(rows))
        sink.pre_commit(1)
        sink.close()
        rows, letters = read_all(MsgpackFileSource(path, decoder(), "ev.msgpack", framing,
                                                   chunk))
    assert letters == []
    assert rows == typed([row for batch in batches for row in batch]).to_dicts()


def test_dead_letters_name_the_record(tmp_path: Path) -> None:
    path = tmp_path / "in.msgpack"
    path.write_bytes(
        ENCODE({"k": "a", "v": 1, "ts": "2024-01-01T00:00:00Z"})                 # 1
        + ENCODE([1, 2])                                                       # 2
        + ENCODE({"k": "b", "v": "one", "ts": TS})                             # 3
        + ENCODE({"k": "c", "v": 3, "ts": datetime(2024, 1, 1, tzinfo=UTC)})  # 4
        + ENCODE({"k": "d", "v": 4})                                           # 5
        + ENCODE({"k": "e", "v": 5, "ts": TS})[:-3])                           # 6: cut
    rows, letters = read_all(MsgpackFileSource(path, decoder(), "in.msgpack", chunk_bytes=7))
    assert [(r["k"], r["v"]) for r in rows] == [("a", 1), ("c", 3)]
    assert rows[1]["ts"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert [(d.position, d.reason) for d in letters] == [
        ("in.msgpack:record 2", "expected a JSON object, got list"),
        ("in.msgpack:record 3", "field v: expected INT, got 'one'"),
        ("in.msgpack:record 5", "field ts: the event time is missing"),
        ("in.msgpack:record 6", "truncated record: the file ends "
                                f"{len(ENCODE({'k': 'e', 'v': 5, 'ts': TS})) - 3} bytes into it")]


def test_bytes_that_are_not_msgpack_stop_the_source_naming_where(tmp_path: Path) -> None:
    path = tmp_path / "in.msgpack"
    first = ENCODE({"k": "a", "v": 1, "ts": TS})
    path.write_bytes(first + b"\xc1\xff\xfe")
    with pytest.raises(ConnectorError, match=rf"in\.msgpack \(stream ev\): record 2 at byte "
                                             rf"{len(first)}: byte 0xc1 cannot start"):
        read_all(MsgpackFileSource(path, decoder(), "in.msgpack"))
    with pytest.raises(Corrupt):
        record_end(b"\x91\xc1", 0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=30),
       st.sampled_from(["stream", "length"]), st.integers(1, 120), st.integers(1, 120),
       st.integers(0, 20))
def test_a_source_seeked_to_its_position_reads_exactly_the_rest(
        kinds: list[int], framing: str, chunk: int, resumed_chunk: int, stop_after: int
        ) -> None:
    records = [ENCODE({"k": f"k{i}", "v": i, "ts": TS + i}) if kind else ENCODE({"v": i})
               for i, kind in enumerate(kinds)]
    if framing == "length":
        records = [len(r).to_bytes(4, "big") + r for r in records]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ev.msgpack"
        path.write_bytes(b"".join(records))
        whole = read_all(MsgpackFileSource(path, decoder(), "ev", framing, chunk))
        first = MsgpackFileSource(path, decoder(), "ev", framing, chunk)
        head = read_all(first, stop_after) if stop_after else ([], [])
        position = msgspec.msgpack.decode(msgspec.msgpack.encode(first.position()))
        again = MsgpackFileSource(path, decoder(), "ev", framing, resumed_chunk)
        again.seek(position)
        rest = read_all(again)
        if position["offset"]:
            data = path.read_bytes()
            path.write_bytes(bytes([data[0] ^ 0xff]) + data[1:])
            with pytest.raises(ConnectorError, match="it is not the file read before"):
                MsgpackFileSource(path, decoder(), "ev", framing).seek(position)
    assert head[0] + rest[0] == whole[0]
    assert head[1] + rest[1] == whole[1]


JOB = """
CREATE STREAM ev (k STRING, v INT, f FLOAT, b BOOL, ts TIMESTAMP)
    WITH (event_time = ts, source = 'file:in.msgpack?framing=length');
CREATE STREAM out WITH (sink = 'file:out.msgpack');
INSERT INTO out SELECT k, v * 10 AS v, ts FROM ev;
"""


def test_a_checkpointed_pipeline_killed_midway_resumes_to_exactly_one_runs_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import frys.connectors.files_msgpack as files_msgpack
    monkeypatch.setattr(files_msgpack, "CHUNK_BYTES", 300)  # many batches
    records = [ENCODE({"k": f"k{i}", "v": i, "ts": TS + i} if i % 9 else {"v": i})
               for i in range(300)]
    data = b"".join(len(r).to_bytes(4, "big") + r for r in records)
    for run in ("whole", "crashed"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "in.msgpack").write_bytes(data)
    frys.Pipeline(JOB, base_dir=tmp_path / "whole", keep_results=False).run()
    expected = (tmp_path / "whole" / "out.msgpack").read_bytes()
    assert len(expected) > 1000

    crashed = tmp_path / "crashed"

    def partly_written() -> None:
        assert 0 < len((crashed / "out.msgpack").read_bytes()) < len(expected)

    crash_then_resume(monkeypatch, JOB, crashed, 40, partly_written)
    assert (crashed / "out.msgpack").read_bytes() == expected


def test_msgpack_options_are_checked() -> None:
    problem = registry.check_uri("file:x.msgpack?framin=length", "source")
    assert problem is not None and "did you mean 'framing'" in problem.message
    problem = registry.check_uri("file:x.msgpack?framing=lines", "sink")
    assert problem is not None and "framing must be stream or length" in problem.message
    assert msgpack_options("u", "framing=length", "sink") == "length"
    assert registry.check_uri("file:x.msgpack", "source") is None
