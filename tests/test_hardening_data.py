"""Hardening, crashes on input (data): out-of-range times, deep nesting, decoding that does not
depend on the neighbouring lines, and `frys publish`'s arguments."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frys import Pipeline
from frys.cli import main
from frys.connectors.decode import (
    MAX_DEPTH,
    TIMESTAMP_MAX_MS,
    TIMESTAMP_MIN_MS,
    StreamDecoder,
)
from frys.connectors.wal import LogReader
from frys.connectors.wal_topic import record_lines
from frys.dsl.types import FrysType

COLUMNS = {"symbol": FrysType.STRING, "volume": FrysType.INT, "price": FrysType.FLOAT,
           "ts": FrysType.TIMESTAMP}
FRYS = [sys.executable, "-m", "frys.cli"]


def decoder() -> StreamDecoder:
    return StreamDecoder("trades", dict(COLUMNS), "ts")


def decode(*lines: str | bytes) -> tuple[list[tuple], list[tuple[str, str]]]:
    chunk = b"".join((line.encode() if isinstance(line, str) else line) + b"\n"
                     for line in lines)
    frame, letters = decoder().decode_jsonl(chunk, 1, "f")
    rows = frame.with_columns(frame["ts"].dt.epoch("ms")).rows()
    return rows, [(d.position, d.reason) for d in letters]


def good(n: int) -> str:
    return json.dumps({"symbol": "s", "volume": n, "ts": n})


def deep_object(levels: int) -> str:
    """A line nesting `levels` objects in all (its own included)."""
    return '{"ts":1,"a":' + '{"a":' * (levels - 2) + "{}" + "}" * (levels - 1)


def deep_array(levels: int) -> str:
    """A line whose field x nests `levels - 1` arrays (`levels` with the line's object)."""
    return '{"ts":1,"x":' + "[" * (levels - 1) + "]" * (levels - 1) + "}"


def frys(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FRYS, *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, timeout=120)


# ---------------------------------------------------------------------- 1. time range


@pytest.mark.parametrize("value", [
    8_210_266_876_800_000, 2**62, -8_210_266_876_800_000, TIMESTAMP_MAX_MS + 1,
    TIMESTAMP_MIN_MS - 1, "8210266876800000", "+10000-01-01T00:00:00Z",
    "0000-12-31T23:59:59Z", "-0001-01-01T00:00:00Z"])
def test_a_time_outside_the_range_is_a_dead_letter_naming_the_field(value):
    line = json.dumps({"symbol": "x", "volume": 1, "ts": value})
    # alone, and among good lines (the fast path reads the chunk; the line is sent back)
    for lines in ([line], [good(1), line, good(2)], [good(1), line, good(2), "not json"]):
        rows, letters = decode(*lines)
        assert [r[1] for r in rows] == [n for n in (1, 2) if good(n) in lines]
        assert len([p for p, _ in letters if p == f"f:{lines.index(line) + 1}"]) == 1
        reason = dict(letters)[f"f:{lines.index(line) + 1}"]
        assert reason.startswith("field ts: ")
        assert "out of range" in reason or "0001-01-01" in reason


def test_the_range_ends_are_times():
    lines = [json.dumps({"volume": 1, "ts": TIMESTAMP_MIN_MS}),
             json.dumps({"volume": 2, "ts": TIMESTAMP_MAX_MS}),
             json.dumps({"volume": 3, "ts": "0001-01-01T00:00:00Z"}),
             json.dumps({"volume": 4, "ts": "9999-12-31T23:59:59.999Z"})]
    rows, letters = decode(*lines)
    assert letters == []
    assert [r[3] for r in rows] == [TIMESTAMP_MIN_MS, TIMESTAMP_MAX_MS] * 2


def test_frys_run_survives_an_out_of_range_time_and_keeps_the_other_lines(tmp_path: Path,
                                                                           capsys):
    (tmp_path / "in.jsonl").write_text(
        good(1) + "\n" + json.dumps({"symbol": "b", "volume": 9, "ts": 8210266876800000})
        + "\n" + json.dumps({"symbol": "c", "volume": 9, "ts": "+20000-01-01T00:00:00Z"})
        + "\n" + good(2) + "\n")
    job = tmp_path / "job.frysql"
    job.write_text("""
        CREATE STREAM trades (symbol STRING, volume INT, ts TIMESTAMP)
            WITH (event_time = ts, source = 'file:in.jsonl');
        CREATE STREAM out WITH (sink = 'file:out.jsonl');
        INSERT INTO out SELECT symbol, volume, ts FROM trades;
    """)
    assert main(["run", str(job)]) == 0
    err = capsys.readouterr().err
    written = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(e["volume"], e["ts"]) for e in written] == [
        (1, "1970-01-01T00:00:00.001Z"), (2, "1970-01-01T00:00:00.002Z")]
    assert "frys: dead letters: 2 (trades: 2)" in err
    assert "in.jsonl:2: field ts: timestamp 8210266876800000 is out of range" in err
    assert "in.jsonl:3: field ts: " in err


def test_an_out_of_range_time_published_to_a_log_is_a_dead_letter_of_the_job(tmp_path: Path,
                                                                            capsys):
    lines = [good(1), json.dumps({"volume": 5, "ts": 9_000_000_000_000_000}), good(2)]
    run = frys("publish", "log/trades", cwd=tmp_path, stdin="\n".join(lines) + "\n")
    assert run.returncode == 0, run.stderr  # publish checks JSON, not a stream's schema
    job = tmp_path / "job.frysql"
    job.write_text("""
        CREATE STREAM trades (symbol STRING, volume INT, ts TIMESTAMP)
            WITH (event_time = ts, source = 'wal:log/trades?follow=false');
        CREATE STREAM out WITH (sink = 'file:out.jsonl');
        INSERT INTO out SELECT volume, ts FROM trades;
    """)
    assert main(["run", str(job)]) == 0
    err = capsys.readouterr().err
    written = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [e["volume"] for e in written] == [1, 2]
    assert "field ts: timestamp 9000000000000000 is out of range" in err


# ---------------------------------------------------------------------- 2. deep nesting


@pytest.mark.parametrize("line", [deep_object(1500), deep_array(1500), "[" * 1500 + "]" * 1500,
                                  deep_object(MAX_DEPTH + 1), deep_array(MAX_DEPTH + 1),
                                  deep_object(1025), deep_array(1024)])
def test_a_line_nested_too_deeply_is_a_dead_letter(line):
    for lines in ([line], [good(1), line, good(2)], [good(1), line, "oops", good(2)]):
        rows, letters = decode(*lines)
        assert [r[1] for r in rows] == [n for n in (1, 2) if good(n) in lines]
        position = f"f:{lines.index(line) + 1}"
        assert (position, f"nested too deeply: more than {MAX_DEPTH} levels of arrays and "
                          "objects") in letters


@pytest.mark.parametrize("line", [deep_object(MAX_DEPTH), deep_array(MAX_DEPTH),
                                  '{"ts":1,"x":"' + "[" * 2000 + '"}'])
def test_nesting_up_to_the_limit_is_read(line):
    for lines in ([line], [good(1), line, good(2)], [good(1), line, "oops", good(2)]):
        rows, letters = decode(*lines)
        assert len(rows) == len(lines) - ("oops" in lines)
        assert [p for p, _ in letters] == (["f:3"] if "oops" in lines else [])


def test_frys_run_and_publish_survive_deep_nesting(tmp_path: Path, capsys):
    deep = deep_object(1500)
    (tmp_path / "in.jsonl").write_text("\n".join([good(1), deep, good(2)]) + "\n")
    job = tmp_path / "job.frysql"
    job.write_text("""
        CREATE STREAM trades (symbol STRING, volume INT, ts TIMESTAMP)
            WITH (event_time = ts, source = 'file:in.jsonl');
        SELECT volume FROM trades;
    """)
    assert main(["run", str(job)]) == 0
    out, err = capsys.readouterr()
    assert [json.loads(line)["volume"] for line in out.splitlines()] == [1, 2]
    assert "in.jsonl:2: nested too deeply" in err

    run = frys("publish", "deep", "in.jsonl", cwd=tmp_path)
    assert run.returncode == 1
    assert f"in.jsonl:2: not published: nested too deeply: more than {MAX_DEPTH}" in run.stderr
    assert "RecursionError" not in run.stderr
    logged = [json.loads(line) for record, skip in LogReader(tmp_path / ".frys/wal/deep").read()
              for line in record_lines(record, skip)]
    assert [e["volume"] for e in logged] == [1, 2]


# ---------------------------------------------------------------------- 3. line independence


def test_a_key_given_twice_takes_its_first_value_on_both_paths():
    lines = ['{"volume":1,"volume":5,"ts":1}', '{"volume":null,"volume":3,"ts":2}',
             '{"volume":3,"volume":null,"ts":3}', '{"volume":1,"volume":"x","ts":4}',
             '{"x":{"volume":7},"volume":8,"ts":5}', '{"volume":"x","volume":1,"ts":6}']
    expected = [1, None, 3, 1, 8]
    fast, letters = decode(*lines)
    assert [r[1] for r in fast] == expected
    assert letters == [("f:6", "field volume: expected INT, got 'x'")]
    slow, letters = decode(*lines, "oops")
    assert [r[1] for r in slow] == expected and len(letters) == 2


@pytest.mark.parametrize("escape", ["\\ud800", "\\udbff", "\\udc00", "\\ud800x",
                                    "\\ud800\\u0041", "\\udc00\\ud800"])
def test_a_lone_surrogate_is_malformed_json_on_both_paths(escape):
    line = '{"symbol":"' + escape + '","ts":1}'
    for lines in ([line], [good(1), line, good(2)], [good(1), line, "oops", good(2)]):
        rows, letters = decode(*lines)
        assert [r[1] for r in rows] == [n for n in (1, 2) if good(n) in lines]
        reason = dict(letters)[f"f:{lines.index(line) + 1}"]
        assert reason.startswith("malformed JSON: lone UTF-16 surrogate escape \\ud")


def test_surrogate_pairs_and_escaped_backslashes_are_text():
    lines = ['{"symbol":"\\ud83d\\ude00","ts":1}', '{"symbol":"\\\\ud800","ts":2}']
    for chunk in (lines, [*lines, "oops"]):
        rows, _ = decode(*chunk)
        assert [r[0] for r in rows] == ["\U0001f600", "\\ud800"]


def _json_text(value: object) -> str:
    return json.dumps(value)


@st.composite
def any_line(draw) -> str:
    """Good lines and the kinds of bad ones the hardening issue names."""
    ts = draw(st.one_of(st.integers(-10**13, 10**13),
                        st.integers(TIMESTAMP_MIN_MS - 3, TIMESTAMP_MIN_MS + 3),
                        st.integers(TIMESTAMP_MAX_MS - 3, TIMESTAMP_MAX_MS + 3),
                        st.sampled_from([8_210_266_876_800_000, -2**63, 2**63, 2**64,
                                         "2024-05-01T12:00:00Z", "+10000-01-01T00:00:00Z",
                                         "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z",
                                         "123", " 456 ", "+7", "1.5", 1.5, None, True])))
    fields = [("symbol", draw(st.one_of(st.text(max_size=5), st.integers(), st.none()))),
              ("volume", draw(st.one_of(st.integers(-5, 5), st.sampled_from(
                  [2**63, 1.5, "3", True, [1], {"a": 1}, None])))),
              ("price", draw(st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                                       st.integers(-3, 3), st.sampled_from(["x", None])))),
              ("ts", ts)]
    if draw(st.booleans()):
        fields.append(("extra", draw(st.sampled_from([[1, [2]], {"k": "v"}, "t"]))))
    fields = draw(st.permutations(fields))
    if draw(st.booleans()):  # a key given twice
        fields.append((draw(st.sampled_from(["symbol", "volume", "price", "ts"])),
                       draw(st.sampled_from([None, 0, 7, "y", 1000]))))
    text = "{" + ",".join(f"{json.dumps(k)}:{_json_text(v)}" for k, v in fields) + "}"
    kind = draw(st.sampled_from(["plain"] * 4 + ["surrogate", "deep", "not_object",
                                                 "truncated"]))
    if kind == "surrogate":
        escape = draw(st.sampled_from(["\\ud800", "\\udfff", "\\ud83d\\ude00", "\\\\ud800",
                                       "\\ud800\\ud800"]))
        text = text[:-1] + ',"s2":"a' + escape + '"}'
    elif kind == "deep":
        levels = draw(st.sampled_from([MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 1100, 1500]))
        text = text[:-1] + ',"n":' + "[" * levels + "]" * levels + "}"
    elif kind == "not_object":
        text = draw(st.sampled_from(["[1]", "1", "null", '"s"']))
    elif kind == "truncated":
        text = text[: draw(st.integers(1, len(text) - 1))]
    return text


def _outcome(lines: list[str], index: int) -> tuple[object, ...]:
    """What decoding `lines` makes of the line at `index`: its row, or its dead letter."""
    rows, letters = decode(*lines)
    mine = dict(letters).get(f"f:{index + 1}")
    if mine is not None:
        return ("dead", mine)
    # the rows are in line order; count the rows of lines before this one
    before = sum(1 for i in range(index) if f"f:{i + 1}" not in dict(letters))
    return ("row", rows[before])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=any_line(), others=st.lists(any_line(), max_size=6), where=st.integers(0, 6),
       bad_neighbour=st.booleans())
def test_a_line_decodes_the_same_alone_and_among_any_lines(line, others, where,
                                                           bad_neighbour):
    alone = _outcome([line], 0)
    neighbours = [*others, "not json"] if bad_neighbour else others
    where = min(where, len(neighbours))
    chunk = [*neighbours[:where], line, *neighbours[where:]]
    assert _outcome(chunk, where) == alone


# ---------------------------------------------------------------------- 4. publish arguments


def test_publish_takes_options_after_the_file(tmp_path: Path):
    (tmp_path / "in.jsonl").write_text(good(1) + "\n" + good(2) + "\n")
    run = frys("publish", "t", "--fsync", "always", "in.jsonl", "--batch", "1", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "published 2 events to .frys/wal/t (offsets 0..1)" in run.stderr
    assert frys("publish", "t", "in.jsonl", "-q", cwd=tmp_path).stderr == ""


def test_publish_refuses_a_folder_as_file_or_as_a_topic_that_is_no_log(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "keep.txt").write_text("mine\n")
    run = frys("publish", "t", "..", cwd=tmp_path / "sub")
    assert run.returncode == 2
    assert ".. is a folder, not a file of JSON lines" in run.stderr
    assert "Traceback" not in run.stderr
    run = frys("publish", "..", cwd=tmp_path / "sub", stdin=good(1) + "\n")
    assert run.returncode == 2
    assert "is a folder that holds no WAL" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt", "sub"]
    assert not (tmp_path / "sub" / ".frys").exists()
    missing = frys("publish", "t", "nope.jsonl", cwd=tmp_path)
    assert missing.returncode == 2 and "cannot read nope.jsonl" in missing.stderr


# ------------------------------------------------- times a query or a frame puts out of range


def test_a_cast_to_timestamp_outside_the_range_is_null_not_a_crash(tmp_path) -> None:
    # CAST of a huge epoch-ms INT used to reach the JSONL sink and panic polars there
    (tmp_path / "ev.jsonl").write_text('{"k": 1, "big": 9000000000000000000}\n'
                                       '{"k": 2, "big": 1}\n{"k": 3, "big": -99999999999999999}\n')
    (tmp_path / "job.frysql").write_text(
        "CREATE STREAM ev (k INT, big INT) WITH (source = 'file:ev.jsonl');\n"
        "CREATE STREAM out WITH (sink = 'file:out.jsonl');\n"
        "INSERT INTO out SELECT k, CAST(big AS TIMESTAMP) AS t,"
        " CAST(CAST(big AS STRING) AS TIMESTAMP) AS u FROM ev;\n")
    assert main(["run", "-q", str(tmp_path / "job.frysql")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rows == [{"k": 1, "t": None, "u": None},
                    {"k": 2, "t": "1970-01-01T00:00:00.001Z", "u": "1970-01-01T00:00:00.001Z"},
                    {"k": 3, "t": None, "u": None}]


def test_a_frame_with_times_outside_the_range_gives_dead_letters(tmp_path) -> None:
    pipeline = Pipeline.from_text(
        "CREATE STREAM ev (k INT, ts TIMESTAMP) WITH (event_time = ts,"
        f" sink = 'file:{tmp_path / 'out.jsonl'}');\n")
    frame = pl.DataFrame({"k": [1, 2, 3], "ts": pl.Series(
        [9_000_000_000_000_000, 5, -9_000_000_000_000_000]).cast(pl.Datetime("ms", "UTC"))})
    pipeline.publish("ev", frame)
    pipeline.finish()
    assert pipeline.stats.dead_letters["ev"] == 2
    assert [d.position for d in pipeline.stats.first_dead_letters] == [
        "ev:api:frame row 0", "ev:api:frame row 2"]
    assert "outside TIMESTAMP's range" in pipeline.stats.first_dead_letters[0].reason
    assert (tmp_path / "out.jsonl").read_text() == '{"k":2,"ts":"1970-01-01T00:00:00.005Z"}\n'


def test_a_data_file_starting_with_a_byte_order_mark_loses_no_line(tmp_path) -> None:
    (tmp_path / "ev.jsonl").write_bytes(b'\xef\xbb\xbf{"k": 1, "ts": 5}\n{"k": 2, "ts": 6}\n')
    (tmp_path / "job.frysql").write_text(
        "CREATE STREAM ev (k INT, ts TIMESTAMP) WITH (source = 'file:ev.jsonl');\n"
        "SELECT k FROM ev;\n")
    pipeline = Pipeline.from_file(tmp_path / "job.frysql")
    stats = pipeline.run()
    assert stats.total_dead_letters == 0
    assert pipeline.results("select_1")["k"].to_list() == [1, 2]
