"""Decoding JSON lines into a stream's schema: rows for valid records, dead letters for the
rest, with the same result on the fast (columnar polars) and slow (per-line msgspec) paths.

The property tests build each input line together with what it must decode to, so the
expectation never comes from the code under test: a valid record carries its expected row,
a broken line the field its dead letter must name.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import frys
from frys.cli import main
from frys.connectors.decode import TIMESTAMP_MAX_MS, TIMESTAMP_MIN_MS, StreamDecoder
from frys.connectors.jsonl import JsonlFileSource
from frys.dsl.types import FrysType

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

COLUMNS = {"i": FrysType.INT, "f": FrysType.FLOAT, "s": FrysType.STRING, "b": FrysType.BOOL,
           "ts": FrysType.TIMESTAMP}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# 1900-01-01 .. 2199-12-31: inside what both polars and Python parse as ISO-8601
MIN_ISO_MS, MAX_ISO_MS = -2_208_988_800_000, 7_258_118_399_999


def decoder() -> StreamDecoder:
    return StreamDecoder("ev", COLUMNS, "ts")


def rows_of(frame: pl.DataFrame) -> list[tuple]:
    """(i, f, s, b, ts as epoch ms) per row, in frame order."""
    assert frame.schema == {"i": pl.Int64, "f": pl.Float64, "s": pl.String, "b": pl.Boolean,
                            "ts": pl.Datetime("ms", "UTC")}
    return frame.with_columns(pl.col("ts").dt.epoch("ms")).rows()


def epoch_ms(text: str) -> int:
    """An independent oracle for ISO strings in the tests' own examples."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(milliseconds=1)


# ---------------------------------------------------------------------------- lines


@dataclass(frozen=True)
class Line:
    text: str
    row: tuple | None = None        # the expected row of a valid record
    field: str | None = None        # the field a dead letter must name
    reason_start: str | None = None  # or how the reason starts, when no field is at fault

    @property
    def broken(self) -> bool:
        return self.row is None and self.text.strip() != ""


def iso_text(millis: int, offset_minutes: int | None, fraction: bool) -> str:
    """`millis` rendered as ISO-8601: in the given UTC offset (None: no offset, UTC)."""
    moment = EPOCH + timedelta(milliseconds=millis)
    if offset_minutes is not None:
        moment = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction or moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    if offset_minutes is None:
        return text
    if offset_minutes == 0:
        return text + "Z"
    sign = "+" if offset_minutes > 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


@st.composite
def timestamps(draw) -> tuple[object, int]:
    """(JSON value, expected epoch ms): epoch ms as a number or a string of digits, or
    ISO-8601 with Z, an offset, or no offset (UTC; polars cannot parse these, the per-row
    parser recovers them)."""
    kind = draw(st.sampled_from(["int", "int", "digits", "iso", "iso", "naive"]))
    if kind == "int":
        millis = draw(st.one_of(st.integers(-2**45, 2**45),
                                st.integers(TIMESTAMP_MIN_MS, TIMESTAMP_MAX_MS)))
        return millis, millis
    if kind == "digits":  # epoch milliseconds written as a JSON string
        millis = draw(st.integers(-10**13, 10**13))
        return str(millis), millis
    millis = draw(st.integers(MIN_ISO_MS, MAX_ISO_MS))
    fraction = draw(st.booleans())
    if kind == "naive":
        return iso_text(millis, None, fraction), millis
    offset = draw(st.one_of(st.just(0), st.integers(-14 * 60, 14 * 60),
                            st.sampled_from([60, 120, -300, 330, 345, -570])))
    return iso_text(millis, offset, fraction), millis


text_values = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
int_values = st.one_of(st.integers(-1000, 1000), st.integers(INT64_MIN, INT64_MAX))
float_values = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def valid_records(draw) -> tuple[dict, tuple]:
    """A record of the schema and its expected row (i, f, s, b, ts ms). A field may be
    absent or null (NULL); STRING also takes ints and bools as their JSON text; FLOAT also
    takes integers; unknown fields are ignored."""
    record: dict[str, object] = {}
    expected: dict[str, object] = {}
    for name, values, convert in (
            ("i", int_values, lambda v: v),
            ("f", st.one_of(float_values, st.integers(-2**53, 2**53)), float),
            ("s", st.one_of(text_values, st.integers(-10**20, 10**20), st.booleans()),
             lambda v: v if isinstance(v, str) else json.dumps(v)),
            ("b", st.booleans(), lambda v: v)):
        presence = draw(st.sampled_from(["value", "value", "value", "null", "absent"]))
        if presence == "value":
            value = draw(values)
            record[name] = value
            expected[name] = convert(value)
        else:
            if presence == "null":
                record[name] = None
            expected[name] = None
    value, millis = draw(timestamps())
    record["ts"] = value
    if draw(st.booleans()):
        record["extra"] = draw(st.one_of(text_values, st.integers(), st.lists(st.integers())))
    # shuffle the key order: JSON objects are unordered
    keys = draw(st.permutations(list(record)))
    record = {k: record[k] for k in keys}
    row = (expected["i"], expected["f"], expected["s"], expected["b"], millis)
    return record, row


@st.composite
def valid_lines(draw) -> Line:
    record, row = draw(valid_records())
    return Line(json.dumps(record, ensure_ascii=draw(st.booleans())), row=row)


@st.composite
def broken_lines(draw) -> Line:
    record, _ = draw(valid_records())
    kind = draw(st.sampled_from(["truncated", "string_in_int", "float_in_int", "bool_in_int",
                                 "int_too_big", "bad_bool", "bad_float", "no_event_time",
                                 "null_event_time", "bad_timestamp", "not_an_object"]))
    if kind == "truncated":
        text = json.dumps(record)
        return Line(text[:draw(st.integers(1, len(text) - 1))], reason_start="malformed JSON")
    if kind == "not_an_object":
        text = draw(st.sampled_from(["[1,2]", "[]", "42", '"text"', "true", "null", "1.5"]))
        return Line(text, reason_start="expected a JSON object")
    field, value = {
        "string_in_int": ("i", draw(st.one_of(st.just("7"), text_values))),
        "float_in_int": ("i", draw(st.sampled_from([1.5, 2.0, -0.25, 1e300]))),
        "bool_in_int": ("i", draw(st.booleans())),
        "int_too_big": ("i", draw(st.one_of(st.integers(INT64_MAX + 1, 2**80),
                                            st.integers(-(2**80), INT64_MIN - 1)))),
        "bad_bool": ("b", draw(st.sampled_from([0, 1, "true", "false", 1.0]))),
        "bad_float": ("f", draw(st.sampled_from(["1.5", "x", True, False]))),
        "no_event_time": ("ts", None),
        "null_event_time": ("ts", None),
        "bad_timestamp": ("ts", draw(st.sampled_from(
            ["garbage", "", "2024-13-01T00:00:00Z", "yesterday", 1.5, True, 2**63]))),
    }[kind]
    if kind == "no_event_time":
        del record["ts"]
    else:
        record[field] = value
    return Line(json.dumps(record), field=field)


blank_lines = st.sampled_from(["", "   ", "\t"]).map(Line)


def chunk_of(lines: list[Line]) -> bytes:
    return ("\n".join(line.text for line in lines) + "\n").encode()


def check_dead_letters(letters, lines: list[Line], source: str, first_line: int = 1) -> None:
    """One dead letter per broken line, at its position, naming the field at fault."""
    expected = {f"{source}:{n}": line
                for n, line in enumerate(lines, start=first_line) if line.broken}
    positions = [d.position for d in letters]
    assert sorted(positions) == sorted(expected)  # also: no line reported twice
    for letter in letters:
        line = expected[letter.position]
        assert letter.stream == "ev"
        assert letter.raw == line.text
        if line.field is not None:
            assert letter.reason.startswith(f"field {line.field}: "), (letter, line)
        else:
            assert letter.reason.startswith(line.reason_start), (letter, line)


# ---------------------------------------------------------------------------- a. property

@st.composite
def line_lists(draw, broken: bool = True, min_size: int = 0) -> list[Line]:
    """Up to 300 lines: often more than the 64-line threshold below which a rejected chunk
    is decoded line by line, with a varying share of broken lines, so that chunks are
    halved to different depths (and some big chunks are read by polars in one go)."""
    size = draw(st.one_of(st.integers(min_size, max(min_size, 20)),
                          st.integers(max(min_size, 65), 300)))
    broken_percent = draw(st.sampled_from([0, 1, 3, 10, 30])) if broken else 0
    blank_percent = draw(st.sampled_from([0, 5]))
    lines = []
    for _ in range(size):
        roll = draw(st.integers(0, 99))
        if roll < broken_percent:
            lines.append(draw(broken_lines()))
        elif roll < broken_percent + blank_percent:
            lines.append(draw(blank_lines))
        else:
            lines.append(draw(valid_lines()))
    return lines


mixed_lines = line_lists()


@SETTINGS
@given(lines=mixed_lines)
def test_decode_jsonl_rows_and_dead_letters(lines):
    frame, letters = decoder().decode_jsonl(chunk_of(lines), first_line=1, source="f.jsonl")
    # exactly the valid records, in file order (also those whose timestamp polars cannot
    # parse and the per-row parser recovers, e.g. ISO strings without an offset)
    assert rows_of(frame) == [line.row for line in lines if line.row is not None]
    check_dead_letters(letters, lines, "f.jsonl")


@SETTINGS
@given(lines=mixed_lines, first_line=st.integers(1, 10**6))
def test_dead_letter_positions_count_from_first_line(lines, first_line):
    frame, letters = decoder().decode_jsonl(chunk_of(lines), first_line=first_line,
                                            source="data/x.jsonl")
    assert frame.height == sum(line.row is not None for line in lines)
    check_dead_letters(letters, lines, "data/x.jsonl", first_line)


# ---------------------------------------------------------------------------- b. fast == slow


@SETTINGS
@given(lines=line_lists(broken=False))
def test_fast_path_equals_slow_path_on_valid_input(lines):
    d = decoder()
    fast, fast_letters = d.decode_jsonl(chunk_of(lines), first_line=1, source="f.jsonl")
    slow, slow_letters = d.decode_lines(
        [(line.text.encode(), f"f.jsonl:{n}") for n, line in enumerate(lines, start=1)
         if line.text.strip()])
    assert fast_letters == slow_letters == []
    assert rows_of(slow) == [line.row for line in lines if line.row is not None]
    assert rows_of(fast) == rows_of(slow)


@SETTINGS
@given(lines=mixed_lines)
def test_fast_path_equals_slow_path_on_broken_input(lines):
    d = decoder()
    fast, fast_letters = d.decode_jsonl(chunk_of(lines), first_line=1, source="f.jsonl")
    slow, slow_letters = d.decode_lines(
        [(line.text.encode(), f"f.jsonl:{n}") for n, line in enumerate(lines, start=1)
         if line.text.strip()])
    assert rows_of(fast) == rows_of(slow)
    # the same dead letters (the order of the list is not specified)
    assert sorted(fast_letters, key=lambda d: d.position) == sorted(
        slow_letters, key=lambda d: d.position)


def test_float_in_string_column_is_the_same_text_on_both_paths():
    """STRING takes other scalars "as their JSON text"; a float must not read differently
    depending on whether its chunk took the fast or the slow path."""
    d = decoder()
    lines = [b'{"s": 1.0, "ts": 1}', b'{"s": 1e16, "ts": 2}', b'{"s": -0.0, "ts": 3}']
    fast, _ = d.decode_jsonl(b"\n".join(lines) + b"\n", 1, "f")
    slow, _ = d.decode_lines([(line, f"f:{n}") for n, line in enumerate(lines, 1)])
    assert fast["s"].to_list() == slow["s"].to_list()


# ---------------------------------------------------------------------------- c. examples


@pytest.mark.parametrize("text, expected", [
    ("2024-01-01T02:00:00+02:00", "2024-01-01T00:00:00Z"),
    ("2023-12-31T19:00:00-05:00", "2024-01-01T00:00:00Z"),
    ("2024-01-01T05:30:00.250+05:30", "2024-01-01T00:00:00.250Z"),
    ("2024-01-01T00:00:00", "2024-01-01T00:00:00Z"),           # no offset: UTC
    ("2024-01-01T00:00:00.007", "2024-01-01T00:00:00.007Z"),
    ("1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z"),  # before 1970: -1 ms
])
@pytest.mark.parametrize("fast", [True, False])
def test_iso_timestamps_convert_to_utc(text, expected, fast):
    d = decoder()
    line = json.dumps({"ts": text}).encode()
    if fast:  # enough lines that the chunk is read by polars, not line by line
        frame, letters = d.decode_jsonl((line + b"\n") * 3, 1, "f")
    else:
        frame, letters = d.decode_lines([(line, "f:1")])
    assert letters == []
    assert {r[4] for r in rows_of(frame)} == {epoch_ms(expected)}


def test_iso_offset_example_in_epoch_ms():
    frame, _ = decoder().decode_jsonl(b'{"ts": "2024-01-01T02:00:00+02:00"}\n', 1, "f")
    assert rows_of(frame)[0][4] == 1_704_067_200_000


def test_string_column_takes_scalars_as_json_text():
    lines = b'{"s": 5, "ts": 1}\n{"s": true, "ts": 2}\n{"s": "x", "ts": 3}\n{"s": null, "ts": 4}\n'
    frame, letters = decoder().decode_jsonl(lines, 1, "f")
    assert letters == []
    assert frame["s"].to_list() == ["5", "true", "x", None]


@pytest.mark.parametrize("value, ok", [(INT64_MAX, True), (INT64_MIN, True),
                                       (INT64_MAX + 1, False), (INT64_MIN - 1, False),
                                       (2**100, False)])
def test_int_beyond_64_bits_is_a_dead_letter(value, ok):
    good = b'{"i": 1, "ts": 1}\n'
    chunk = good + f'{{"i": {value}, "ts": 2}}\n'.encode() + good
    frame, letters = decoder().decode_jsonl(chunk, 1, "f.jsonl")
    if ok:
        assert letters == [] and frame["i"].to_list() == [1, value, 1]
    else:
        assert frame["i"].to_list() == [1, 1]
        assert [(d.position, d.reason) for d in letters] == [
            ("f.jsonl:2", f"field i: INT value {value} is out of the 64-bit range")]


def test_missing_event_time_is_a_dead_letter_but_other_fields_may_be_missing():
    frame, letters = decoder().decode_jsonl(b'{"i": 1}\n{"ts": 5}\n{"ts": null}\n', 1, "f")
    assert rows_of(frame) == [(None, None, None, None, 5)]
    assert [(d.position, d.reason) for d in letters] == [
        ("f:1", "field ts: the event time is missing"),
        ("f:3", "field ts: the event time is missing")]


def test_rows_keep_file_order_with_naive_iso_timestamps():
    """Rows come out in file order, whatever the spelling of their timestamps: arrival
    order is what FIRST/LAST use to break ties between equal event times."""
    chunk = (b'{"i": 1, "ts": "2024-01-01T00:00:00"}\n'
             b'{"i": 2, "ts": 1704067200000}\n'
             b'{"i": 3, "ts": "2024-01-01T00:00:00Z"}\n')
    frame, _ = decoder().decode_jsonl(chunk, 1, "f")
    assert frame["i"].to_list() == [1, 2, 3]


def test_first_and_last_follow_file_order_whatever_the_timestamp_spelling(tmp_path: Path):
    """Two events at the same instant, the first spelled as a naive ISO string, the second
    as epoch ms: FIRST is the first line, LAST the second."""
    (tmp_path / "e.jsonl").write_text('{"v": 1.0, "ts": "2024-01-01T00:00:00"}\n'
                                      '{"v": 2.0, "ts": 1704067200000}\n')
    (tmp_path / "j.frysql").write_text(
        "CREATE STREAM ev (v FLOAT, ts TIMESTAMP) "
        "WITH (event_time = ts, source = 'file:e.jsonl');\n"
        "SELECT FIRST(v) AS f, LAST(v) AS l, COUNT(*) AS n FROM ev GROUP BY TUMBLE(1 MINUTE);")
    p = frys.Pipeline.from_file(tmp_path / "j.frysql")
    p.run()
    assert p.results("select_1").rows() == [(1.0, 2.0, 2)]


# ---------------------------------------------------------------------------- the file source


def read_source(path: Path, chunk_bytes: int):
    source = JsonlFileSource(path, decoder(), "f.jsonl", chunk_bytes=chunk_bytes)
    frames, letters = [], []
    for frame, dead in source.batches():
        frames.append(frame)
        letters.extend(dead)
    return pl.concat(frames) if frames else decoder().empty(), letters


def test_crlf_line_endings(tmp_path: Path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"i": 1, "s": "a", "ts": 1}\r\n'
                     b'\r\n'                              # a blank CRLF line
                     b'{"i": 2}\r\n'                      # line 3: no event time
                     b'{"i": 3, "s": "c", "ts": 3}\r\n'
                     b'{"i": "x", "ts": 4}\r\n'           # line 5: wrong type
                     b'{"i": 6, "s": "f", "ts": 6}\r\n')
    for chunk_bytes in (1 << 20, 40):
        frame, letters = read_source(path, chunk_bytes)
        assert rows_of(frame) == [(1, None, "a", None, 1), (3, None, "c", None, 3),
                                  (6, None, "f", None, 6)]
        assert [(d.position, d.reason.split(":")[0]) for d in letters] == [
            ("f.jsonl:3", "field ts"), ("f.jsonl:5", "field i")]
        assert letters[0].raw.rstrip("\r") == '{"i": 2}'


def test_crlf_lines_with_naive_iso_timestamps(tmp_path: Path):
    """The per-row retry of timestamps polars cannot parse must find the right raw line
    also when lines end in \\r\\n and a blank line precedes the record."""
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"i": 1, "ts": 1}\r\n\r\n{"i": 2, "ts": "1970-01-01T00:00:02"}\r\n'
                     b'{"i": 3, "ts": 3}\r\n')
    frame, letters = read_source(path, 1 << 20)
    assert letters == []
    assert rows_of(frame) == [(1, None, None, None, 1), (2, None, None, None, 2000),
                              (3, None, None, None, 3)]


@pytest.mark.parametrize("chunk_bytes", [1 << 20, 7, 30])
def test_last_line_without_trailing_newline(tmp_path: Path, chunk_bytes):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"i": 1, "ts": 1}\n{"i": 2}\n{"i": 3, "ts": 3}')
    frame, letters = read_source(path, chunk_bytes)
    assert frame["i"].to_list() == [1, 3]
    assert [d.position for d in letters] == ["f.jsonl:2"]
    # a broken last line without newline is reported at its own line number
    path.write_bytes(b'{"i": 1, "ts": 1}\n\n{"i": 2, "ts": 2}\n{"i": 4, "ts": tru')
    frame, letters = read_source(path, chunk_bytes)
    assert frame["i"].to_list() == [1, 2]
    assert [(d.position, d.raw) for d in letters] == [("f.jsonl:4", '{"i": 4, "ts": tru')]


def test_empty_and_blank_files(tmp_path: Path):
    path = tmp_path / "f.jsonl"
    for content in (b"", b"\n\n", b"  \n\t"):
        path.write_bytes(content)
        frame, letters = read_source(path, 4)
        assert frame.height == 0 and letters == []


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.large_base_example])
@given(lines=line_lists(min_size=100),
       chunk_bytes=st.sampled_from([1000, 333, 64]), final_newline=st.booleans())
def test_file_larger_than_a_chunk(tmp_path_factory, lines, chunk_bytes, final_newline):
    """Chunks cut at line boundaries: the same rows and dead letters, at the right line
    numbers, as decoding the whole file at once."""
    path = tmp_path_factory.mktemp("src") / "f.jsonl"
    # a line longer than a chunk must be carried over whole
    long_line = Line(json.dumps({"s": "x" * 2 * chunk_bytes, "ts": 1}),
                     row=(None, None, "x" * 2 * chunk_bytes, None, 1))
    # and the file ends with a copy of its first line, with or without a newline
    lines = [*lines, long_line, lines[0]]
    path.write_bytes(chunk_of(lines) if final_newline else chunk_of(lines)[:-1])
    frame, letters = read_source(path, chunk_bytes)
    whole, whole_letters = read_source(path, 1 << 24)
    assert rows_of(frame) == [line.row for line in lines if line.row is not None]
    assert rows_of(frame) == rows_of(whole)
    check_dead_letters(letters, lines, "f.jsonl")
    assert sorted((d.position, d.reason) for d in letters) == sorted(
        (d.position, d.reason) for d in whole_letters)


# ---------------------------------------------------------------------------- d. the CLI


def test_cli_run_reports_dead_letters(tmp_path: Path, capsys):
    (tmp_path / "events.jsonl").write_text(
        '{"k": "a", "v": 1.0, "ts": 1000}\n'
        '{"k": "a", "v": 2.0, "ts": "1970-01-01T00:00:01.500Z"}\n'
        '{"k": "a", "v": "two", "ts": 1600}\n'      # line 3: wrong type
        '{"k": "b", "v": 4.0, "ts": 2100}\n'
        '{"k": "b", "v": 5.0, "ts": 2200\n'         # line 5: truncated
        '{"k": "b", "v": 6.0, "ts": 2300}\n')
    job = tmp_path / "job.frysql"
    job.write_text("""
        CREATE STREAM ev (k STRING, v FLOAT, ts TIMESTAMP)
            WITH (event_time = ts, source = 'file:events.jsonl');
        SELECT k, COUNT(*) AS n, SUM(v) AS total FROM ev GROUP BY k, TUMBLE(1 SECOND);
    """)
    assert main(["run", str(job)]) == 0
    out, err = capsys.readouterr()
    assert [json.loads(line) for line in out.splitlines()] == [
        {"k": "a", "n": 2, "total": 3.0}, {"k": "b", "n": 2, "total": 10.0}]
    assert "ev: 4 events" in err
    assert "frys: dead letters: 2 (ev: 2)" in err
    events = tmp_path / "events.jsonl"
    assert f"  {events}:3: field v: expected FLOAT, got 'two'" in err
    assert f"  {events}:5: malformed JSON" in err


def test_pipeline_dead_letters_stream_and_stats():
    """The same dead letters through the Python API: counted and queryable."""
    p = frys.Pipeline.from_text("""
        CREATE STREAM ev (k STRING, v FLOAT, ts TIMESTAMP) WITH (event_time = ts);
        SELECT reason, position FROM dead_letters;
    """)
    p.publish("ev", [{"k": "a", "v": 1.0, "ts": 1}, {"k": "a", "v": "x", "ts": 2},
                     {"k": "a", "v": 1.0}])
    p.finish()
    assert p.stats.dead_letters == Counter({"ev": 2})
    assert p.results("select_1").rows() == [
        ("field v: expected FLOAT, got 'x'", "ev:api:2"),
        ("field ts: the event time is missing", "ev:api:3")]


# ------------------------------------------------------------------ Arrow's ISO parser

_ISO_TEXTS = st.builds(
    lambda ms, form, offset: (
        datetime.fromtimestamp(ms / 1000, UTC).astimezone(timezone(timedelta(minutes=offset)))
        .isoformat(timespec=form).replace("+00:00", "Z" if offset == 0 else "+00:00")),
    st.integers(-2_000_000_000_000, 4_000_000_000_000),
    st.sampled_from(["seconds", "milliseconds", "microseconds"]),
    st.sampled_from([0, 60, -330, 840]))


@settings(max_examples=15, deadline=None)
@given(texts=st.lists(st.one_of(_ISO_TEXTS, st.none(),
                                _ISO_TEXTS.map(lambda t: t[:19]),  # no offset: UTC
                                st.integers(0, 10**13).map(str)),
                      min_size=1, max_size=6))
def test_large_columns_of_iso_times_decode_as_small_ones(texts: list[str | None]) -> None:
    """A String column of times as long as ARROW_PARSE_MIN_ROWS takes Arrow's parser when
    every value is ISO text it reads (decode.iso_column_millis), else polars' per-form
    path: either way each value decodes as it does in a small batch, by the same rules,
    in DataFrames and JSON lines alike."""
    from frys.connectors import decode

    column = (texts * (decode.ARROW_PARSE_MIN_ROWS // len(texts) + 1))[
        :decode.ARROW_PARSE_MIN_ROWS]
    frame = pl.DataFrame({"k": list(range(len(column))), "ts": column},
                         schema={"k": pl.Int64, "ts": pl.String})

    def decoder() -> StreamDecoder:
        return StreamDecoder("s", {"k": FrysType.INT, "ts": FrysType.TIMESTAMP}, None, "ms")

    whole, whole_letters = decoder().decode_frame(frame, "f")
    pieces = [decoder().decode_frame(frame.slice(at, 700), "f")[0]
              for at in range(0, frame.height, 700)]
    assert whole.equals(pl.concat(pieces)) and whole_letters == []
    lines = "".join(json.dumps({"k": k, "ts": t}) + "\n" for k, t in zip(
        frame["k"], column, strict=True)).encode()
    from_json, _ = decoder().decode_jsonl(lines, 1, "f")
    assert from_json.equals(whole)
