"""`file:` CSV sources and sinks (connectors/files_csv.py): quoting and types round-trip
sink -> source, exact resume at a checkpointed position, dead letters naming file:line,
exactly-once output through a checkpointed and resumed pipeline, URI options checked."""

from __future__ import annotations

import tempfile
from pathlib import Path

import msgspec
import polars as pl
import pytest
from file_format_helpers import crash_then_resume, read_all
from hypothesis import given, settings
from hypothesis import strategies as st

import frys
from frys.connectors import registry
from frys.connectors.decode import DeadLetter, StreamDecoder
from frys.connectors.files_csv import (
    CsvFileSource,
    CsvOptions,
    csv_options,
    open_csv_sink,
    whole_record_chunks,
)
from frys.connectors.registry import ConnectorError
from frys.dsl.types import FrysType

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TS = 1_700_000_000_000
COLUMNS = {"k": FrysType.STRING, "v": FrysType.INT, "f": FrysType.FLOAT,
           "b": FrysType.BOOL, "ts": FrysType.TIMESTAMP}


def decoder() -> StreamDecoder:
    return StreamDecoder("ev", dict(COLUMNS), "ts")



DEFAULT = CsvOptions()


def source(path: Path, options: CsvOptions = DEFAULT, chunk: int | None = None
           ) -> CsvFileSource:
    return CsvFileSource(path, decoder(), path.name, options, chunk)


TEXT = st.text(st.sampled_from(list('ab ,;"\'\n\r\té|x')), max_size=8)
ROW = st.fixed_dictionaries({
    "k": st.none() | TEXT,
    "v": st.none() | st.integers(-2**63, 2**63 - 1),
    "f": st.none() | st.floats(allow_nan=False, allow_infinity=False),
    "b": st.none() | st.booleans(),
    "ts": st.integers(-62135596800000, 253402300799999)})
OPTIONS = st.sampled_from([CsvOptions(), CsvOptions(delimiter=";", quote="'"),
                           CsvOptions(header=False, delimiter="\t"),
                           CsvOptions(delimiter="|")])


def typed(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"k": pl.String, "v": pl.Int64, "f": pl.Float64,
                                      "b": pl.Boolean, "ts": pl.Int64}
                        ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


@settings(max_examples=120, deadline=None)
@given(st.lists(st.lists(ROW, min_size=1, max_size=6), min_size=1, max_size=4), OPTIONS,
       st.integers(8, 300))
def test_what_the_sink_writes_the_source_reads_back(
        batches: list[list[dict[str, object]]], options: CsvOptions, chunk: int) -> None:
    """Fields holding the delimiter, quotes, line breaks (LF and CRLF) round-trip, cut into
    chunks of any size; the one loss CSV has is documented: an empty string reads as NULL."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ev.csv"
        sink = open_csv_sink(path, options, list(COLUMNS))
        for rows in batches:
            sink.write(typed(rows))
        sink.pre_commit(1)
        sink.commit(1)
        sink.close()
        rows, letters = read_all(source(path, options, chunk))
    assert letters == []
    expected = [dict(row, k=row["k"] or None) for batch in batches for row in batch]
    assert rows == typed(expected).to_dicts()


def test_the_source_decodes_by_the_json_rules_and_dead_letters_name_the_line(
        tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(
        b'ts,v,k,extra,b,f\n'                                  # header in another order
        b'2024-01-01T00:00:00Z,1,"a,b",x,TRUE,1.5\n'          # 2
        b'1704067200001,2,"two\nlines ""q""",y,false,\n'      # 3-4
        b'1704067200002,zz,c,,true,1\n'                        # 5: INT text
        b'notatime,3,d,,true,1\n'                              # 6: time
        b'1704067200003,4,"e"x,,true,1\n'                      # 7: bad quote
        b'1704067200004,5,f,\n'                                # 8: too few fields
        b'1704067200005,6,\xff\xfe,,true,1\n'                  # 9: not UTF-8
        b'\n'                                                  # 10: blank: skipped
        b',7,g,,true,1\n'                                      # 11: no event time
        b'1704067200006,8,h,,maybe,1\n'                        # 12: BOOL text
        b'1704067200007,9,"unclosed,,true,1\n1704067200008,10,i,,true,1\n')  # 13-14
    rows, letters = read_all(source(path, chunk=16))
    assert [(r["k"], r["v"], r["b"], r["f"]) for r in rows] == [
        ("a,b", 1, True, 1.5), ('two\nlines "q"', 2, False, None)]
    assert rows[0]["ts"].isoformat() == "2024-01-01T00:00:00+00:00"
    by_line = {d.position: d for d in letters}
    assert sorted(by_line, key=lambda p: int(p.split(":")[1])) == [
        f"in.csv:{n}" for n in (5, 6, 7, 8, 9, 11, 12, 13)]
    assert by_line["in.csv:5"].reason == "field v: expected INT, got 'zz'"
    assert by_line["in.csv:5"].raw == "1704067200002,zz,c,,true,1"
    assert "cannot parse 'notatime' as a TIMESTAMP" in by_line["in.csv:6"].reason
    assert by_line["in.csv:7"].reason.startswith("malformed CSV")
    assert by_line["in.csv:8"].reason == "expected 6 fields, got 4"
    assert by_line["in.csv:9"].reason == "not UTF-8 text"
    assert by_line["in.csv:11"].reason == "field ts: the event time is missing"
    assert by_line["in.csv:12"].reason == "field b: expected BOOL, got 'maybe'"
    # an unclosed quote runs to the end of the file: one dead letter, where it started
    assert "unexpected end of data" in by_line["in.csv:13"].reason
    assert by_line["in.csv:13"].raw.endswith("1704067200008,10,i,,true,1")


def test_without_a_header_the_fields_are_the_streams_columns_in_order(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("k1\t1\t2.5\tfalse\t1704067200000\n")
    rows, letters = read_all(source(path, CsvOptions(header=False, delimiter="\t")))
    assert letters == []
    assert [(r["k"], r["v"], r["f"], r["b"]) for r in rows] == [("k1", 1, 2.5, False)]


def test_a_record_too_long_to_be_one_is_refused_with_the_file_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import frys.connectors.files_csv as files_csv

    monkeypatch.setattr(files_csv, "MAX_RECORD_BYTES", 100)
    path = tmp_path / "in.csv"
    path.write_text("k,v,ts\n" + 'a,"' + "x\n" * 200)
    with pytest.raises(ConnectorError, match=r"in\.csv .*after line 2: a record runs past "
                                             r"100 bytes \(an unclosed quote\?\)"):
        read_all(source(path, chunk=16))


@given(st.lists(st.sampled_from([b'a,1\n', b'"x\ny",2\n', b'"""",3\r\n', b'"a\n\n",4\n',
                                 b'\n']), max_size=12), st.integers(1, 40))
def test_chunks_are_cut_only_at_record_ends(records: list[bytes], size: int) -> None:
    data = b"".join(records)
    reads = iter([data[i:i + size] for i in range(0, len(data), size)])
    chunks = list(whole_record_chunks(lambda _: next(reads, b""), size, b'"'))
    assert b"".join(chunks) == data
    for chunk in chunks:
        assert chunk.count(b'"') % 2 == 0 and chunk.endswith(b"\n")


LINES = st.sampled_from([
    b'k%d,%d,1.5,true,%d\n', b'"k\n%d",%d,,false,%d\n', b'bad%d,x%d,1,true,%d\n',
    b'"q""%d",%d,2,true,%d\r\n', b'%d,%d,"oops"x,true,%d\n'])


@settings(max_examples=100, deadline=None)
@given(st.lists(LINES, min_size=1, max_size=30), st.booleans(), st.integers(8, 200),
       st.integers(8, 200), st.integers(0, 20))
def test_a_source_seeked_to_its_position_reads_exactly_the_rest(
        lines: list[bytes], header: bool, chunk: int, resumed_chunk: int, stop_after: int
        ) -> None:
    body = b"".join(line % (i, i, TS + i) for i, line in enumerate(lines))
    options = CsvOptions(header=header)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ev.csv"
        path.write_bytes((b"k,v,f,b,ts\n" if header else b"") + body)
        whole = read_all(source(path, options, chunk))
        first = source(path, options, chunk)
        head = read_all(first, stop_after) if stop_after else ([], [])
        position = msgspec.msgpack.decode(msgspec.msgpack.encode(first.position()))
        again = source(path, options, resumed_chunk)
        again.seek(position)
        rest = read_all(again)
    assert head[0] + rest[0] == whole[0]
    assert head[1] + rest[1] == whole[1]


def test_a_resumed_source_refuses_a_replaced_file(tmp_path: Path) -> None:
    path = tmp_path / "ev.csv"
    path.write_text("k,v,f,b,ts\n" + "".join(f"a,{i},1,true,{TS + i}\n" for i in range(50)))
    first = source(path, chunk=64)
    read_all(first, 2)
    position = first.position()
    path.write_text("k,v,f,b,ts\n" + "".join(f"b,{i},1,true,{TS + i}\n" for i in range(50)))
    with pytest.raises(ConnectorError, match=r"cannot resume the source file ev\.csv"):
        source(path).seek(position)


def test_the_sink_is_cut_back_to_its_checkpoint_and_writes_its_header_once(
        tmp_path: Path) -> None:
    path = tmp_path / "out" / "ev.csv"
    rows = [{"k": "a", "v": 1, "f": 1.0, "b": True, "ts": TS}]
    sink = open_csv_sink(path, CsvOptions(), list(COLUMNS))
    empty_state = sink.pre_commit(1)  # nothing written yet: the header alone
    sink.write(typed(rows))
    state = msgspec.msgpack.decode(msgspec.msgpack.encode(sink.pre_commit(2)))
    sink.write(typed([dict(rows[0], v=2)]))  # after the checkpoint: cut on recovery
    sink.abort()
    assert path.read_text().count("\n") == 3
    resumed = open_csv_sink(path, CsvOptions(), list(COLUMNS), resume=True)
    resumed.recover(state)
    resumed.write(typed([dict(rows[0], v=3)]))
    resumed.pre_commit(3)
    resumed.close()
    assert path.read_text() == ("k,v,f,b,ts\na,1,1.0,true,2023-11-14T22:13:20.000Z\n"
                                "a,3,1.0,true,2023-11-14T22:13:20.000Z\n")
    assert empty_state["bytes"] == len("k,v,f,b,ts\n")
    path.write_text("something else entirely\n" * 3)
    with pytest.raises(ConnectorError, match="not the ones this job wrote"):
        open_csv_sink(path, CsvOptions(), list(COLUMNS), resume=True).recover(state)


JOB = """
CREATE STREAM ev (k STRING, v INT, f FLOAT, b BOOL, ts TIMESTAMP)
    WITH (event_time = ts, source = 'file:in.csv?delimiter=;');
CREATE STREAM out WITH (sink = 'file:out.csv?quote=%27');
INSERT INTO out SELECT k, v * 10 AS v, ts FROM ev;
"""


def test_a_checkpointed_pipeline_killed_midway_resumes_to_exactly_one_runs_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import frys.connectors.jsonl as jsonl
    monkeypatch.setattr(jsonl, "DEFAULT_CHUNK_BYTES", 256)  # many batches
    lines = "".join(f'"k;{i}, x";{i};1.5;true;{TS + i}\n' if i % 7 else f"bad;x;;;{TS}\n"
                    for i in range(400))
    for run in ("whole", "crashed"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "in.csv").write_text("k;v;f;b;ts\n" + lines)
    whole = frys.Pipeline(JOB, base_dir=tmp_path / "whole", keep_results=False)
    whole.run()
    expected = (tmp_path / "whole" / "out.csv").read_text()
    assert expected.count("\n") == 1 + 400 - 58 and "'k;1, x'" in expected

    crashed = tmp_path / "crashed"

    def partly_written() -> None:
        partial = (crashed / "out.csv").read_text()
        assert 1 < partial.count("\n") < expected.count("\n")

    crash_then_resume(monkeypatch, JOB, crashed, 60, partly_written)
    assert (crashed / "out.csv").read_text() == expected


@pytest.mark.parametrize(("uri", "role", "message"), [
    ("file:x.csv?delimeter=;", "source", "unknown option 'delimeter' of a .csv file"),
    ("file:x.csv?delimeter=;", "source", "did you mean 'delimiter'"),
    ("file:x.csv?header=yes", "sink", "header must be true or false"),
    ("file:x.csv?delimiter=ab", "source", "delimiter must be one character"),
    ("file:x.csv?quote=,", "source", "delimiter and quote must differ"),
    ("file:x.csv?follow=maybe", "source", "follow must be true or false"),
    ("file:x.csv?header", "source", "option header needs a value"),
])
def test_csv_options_are_checked(uri: str, role: str, message: str) -> None:
    problem = registry.check_uri(uri, role)
    assert problem is not None and message in problem.message


def test_csv_options_parse() -> None:
    assert registry.check_uri("file:x.csv?header=false&delimiter=tab&quote=%27", "source") \
        is None
    assert csv_options("u", "delimiter=%3B&quote='", "sink") == CsvOptions(True, ";", "'")
    assert registry.check_uri("file:x.jsonl?follow=true", "source") is None
    assert registry.check_uri("file:x.xml", "source") is not None


PLAIN_FIELD = st.text(st.sampled_from(list("ab1 .-é:T")), max_size=6)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(PLAIN_FIELD, min_size=5, max_size=5), min_size=1, max_size=10),
       st.sampled_from([",", "\t"]), st.integers(1, 9))
def test_the_vectorized_path_parses_as_the_csv_module_does(
        rows: list[list[str]], delimiter: str, first_line: int) -> None:
    """A chunk without quotes is split by polars; it must give what csv would."""
    from frys.connectors.files_csv import CsvDecoder

    chunk = "".join(delimiter.join(row) + "\n" for row in rows).encode()
    fast = CsvDecoder(decoder(), CsvOptions(header=False, delimiter=delimiter), "f")
    slow = CsvDecoder(decoder(), CsvOptions(header=False, delimiter=delimiter), "f")
    plain = fast._plain(chunk, first_line)
    letters: list[DeadLetter] = []
    parsed = slow._parse(chunk, first_line, letters)
    assert plain is not None  # no quote, no blank line, five fields on every line
    assert letters == []
    assert plain[0].to_dicts() == parsed[0].to_dicts()
    assert plain[1].to_dicts() == parsed[1].to_dicts()
    assert fast.decode(chunk, first_line)[0].equals(slow.decode(chunk, first_line)[0])


def test_a_header_that_is_not_csv_stops_the_source_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('\nk,"v"x,ts\na,1,1\n')
    with pytest.raises(ConnectorError, match=r"in\.csv .*its header record \(line 2\) is "
                                             r"not CSV: malformed CSV"):
        read_all(source(path))
