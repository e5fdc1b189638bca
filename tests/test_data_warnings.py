"""Data that decodes but probably not as meant is not silent: a schema column no event has,
and epoch seconds read as milliseconds, each give a DataWarning once per stream (also kept
in `Pipeline.data_warnings` and the decoder's `warnings`); the stream option `time_unit`
says what integer times count, checked by the analyzer."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import polars as pl
import pytest

import frys
from frys.connectors.decode import SECONDS_LOOKALIKE, StreamDecoder
from frys.dsl.types import FrysType
from frys.pipeline import DataWarning, FrysWarning

JOB = """
CREATE STREAM trades (symbol STRING, price FLOAT, ts TIMESTAMP) WITH (event_time = ts{options});
SELECT symbol, price, ts FROM trades;
"""
T0 = 1_714_564_800_000  # 2024-05-01T12:00:00Z in epoch milliseconds
T0_SECONDS = T0 // 1000


def _pipeline(options: str = "", **kwargs) -> frys.Pipeline:
    return frys.Pipeline.from_text(JOB.format(options=options), **kwargs)


def _file_job(tmp_path: Path, lines: list[object], options: str = "") -> frys.Pipeline:
    (tmp_path / "trades.jsonl").write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                for line in lines))
    job = tmp_path / "job.frysql"
    job.write_text(JOB.format(options=options + ", source = 'file:trades.jsonl'"))
    return frys.Pipeline.from_file(job)


def _times(pipeline: frys.Pipeline) -> list[int]:
    return pipeline.results("select_1")["ts"].dt.epoch("ms").to_list()


# ---------------------------------------------------------------------- absent columns

def test_a_column_no_event_has_is_named_with_the_fields_they_have() -> None:
    pipeline = _pipeline()
    with pytest.warns(DataWarning) as caught:
        pipeline.publish("trades", [{"symbol": "A", "px": 1.5, "ts": T0},
                                    {"symbol": "B", "px": 2.5, "ts": T0, "venue": "X"}])
    assert [str(w.message) for w in caught] == pipeline.data_warnings == [
        "stream trades: column price of its schema is in none of the first 2 events, so "
        "NULL there; the fields they have: symbol, px, ts, venue"]
    assert issubclass(DataWarning, FrysWarning) and issubclass(FrysWarning, UserWarning)


def test_the_absent_column_warning_is_given_once_per_stream() -> None:
    pipeline = _pipeline()
    with pytest.warns(DataWarning):
        pipeline.publish("trades", [{"symbol": "A", "ts": T0}])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipeline.publish("trades", [{"symbol": "A", "ts": T0}])
        pipeline.publish("trades", pl.DataFrame({"ts": [T0]}))
    assert len(pipeline.data_warnings) == 1


def test_no_warning_when_every_column_appears_somewhere_or_is_given_as_null() -> None:
    pipeline = _pipeline()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipeline.publish("trades", [{"symbol": "A", "ts": T0}, {"price": None, "ts": T0}])
    assert pipeline.data_warnings == []


def test_a_dataframe_without_a_column_warns() -> None:
    pipeline = _pipeline()
    with pytest.warns(DataWarning, match=r"column price of its schema is in none of the first "
                                         r"DataFrame's 1 rows.*fields they have: symbol, ts"):
        pipeline.publish("trades", pl.DataFrame({"symbol": ["A"], "ts": [T0]}))


def test_jsonl_input_names_the_keys_of_the_first_chunk(tmp_path) -> None:
    pipeline = _file_job(tmp_path, [{"symbol": "A", "Price": 1.0, "ts": T0},
                                    {"symbol": "B", "Price": 2.0, "ts": T0 + 1}])
    with pytest.warns(DataWarning) as caught:
        pipeline.run()
    assert [str(w.message) for w in caught] == [
        "stream trades: column price of its schema is in none of the first 2 lines, so "
        "NULL there; the fields they have: symbol, Price, ts"]
    assert pipeline.runtime.decoders["trades"].warnings == pipeline.data_warnings


def test_jsonl_input_with_explicit_nulls_is_not_warned_about(tmp_path) -> None:
    pipeline = _file_job(tmp_path, [{"symbol": "A", "price": None, "ts": T0},
                                    '{"symbol": "B", "ts": "2024-05-01T12:00:00Z"}'])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipeline.run()
    assert pipeline.results("select_1").height == 2


def test_a_long_field_list_is_cut() -> None:
    pipeline = _pipeline()
    event = {f"field{n}": n for n in range(30)} | {"symbol": "A", "ts": T0}
    with pytest.warns(DataWarning, match=r"field19 and 12 more$"):
        pipeline.publish("trades", [event])


# ---------------------------------------------------------------------- seconds

def test_integer_times_that_look_like_seconds_warn_once() -> None:
    pipeline = _pipeline()
    with pytest.warns(DataWarning) as caught:
        pipeline.publish("trades", [{"symbol": "A", "price": 1.0, "ts": T0_SECONDS},
                                    {"symbol": "A", "price": 1.0, "ts": T0_SECONDS + 60}])
    assert [str(w.message) for w in caught] == [
        f"stream trades: column ts has integer times {T0_SECONDS}..{T0_SECONDS + 60}, read "
        "as epoch milliseconds (January 1970); as epoch seconds they would be "
        "2024-05-01..2024-05-01. If they are seconds, declare the stream WITH "
        "(time_unit = 's'); time_unit = 'ms' keeps milliseconds and this warning quiet"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipeline.publish("trades", [{"symbol": "A", "price": 1.0, "ts": T0_SECONDS + 120}])
    # the events still went through, as milliseconds: the warning changes nothing
    assert _times(pipeline) == [T0_SECONDS, T0_SECONDS + 60, T0_SECONDS + 120]


@pytest.mark.parametrize("make", [
    lambda t: pl.DataFrame({"symbol": ["A", "B"], "price": [1.0, 2.0], "ts": t}),
    lambda t: [{"symbol": "A", "price": 1.0, "ts": v} for v in t],
], ids=["frame", "dicts"])
def test_seconds_are_recognised_in_frames_and_dicts(make) -> None:
    pipeline = _pipeline()
    with pytest.warns(DataWarning, match="time_unit = 's'"):
        pipeline.publish("trades", make([T0_SECONDS, T0_SECONDS + 1]))


def test_seconds_are_recognised_in_jsonl(tmp_path) -> None:
    pipeline = _file_job(tmp_path, [{"symbol": "A", "price": 1.0, "ts": T0_SECONDS}])
    with pytest.warns(DataWarning, match="column ts has integer times"):
        pipeline.run()


@pytest.mark.parametrize("times", [
    [T0, T0 + 1],                                   # milliseconds
    [T0_SECONDS, T0],                               # not all of them look like seconds
    [SECONDS_LOOKALIKE[0] - 1],                     # 2001-09-09 as seconds: below the range
    [SECONDS_LOOKALIKE[1]],                         # the range's end is open
])
def test_no_seconds_warning_outside_the_lookalike_range(times) -> None:
    pipeline = _pipeline()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipeline.publish("trades", [{"symbol": "A", "price": 1.0, "ts": t} for t in times])


@pytest.mark.parametrize("unit", ["ms", "s"])
def test_a_stream_that_chose_its_unit_is_not_second_guessed(unit) -> None:
    pipeline = _pipeline(f", time_unit = '{unit}'")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipeline.publish("trades", [{"symbol": "A", "price": 1.0, "ts": T0_SECONDS}])


def test_iso_strings_never_look_like_seconds() -> None:
    pipeline = _pipeline()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipeline.publish("trades", [{"symbol": "A", "price": 1.0,
                                     "ts": "1970-01-12T13:46:40Z"}])


# ---------------------------------------------------------------------- time_unit

@pytest.mark.parametrize(("unit", "raw", "expected"), [
    ("s", T0_SECONDS, T0),
    ("s", str(T0_SECONDS), T0),
    ("ms", T0, T0),
    ("us", T0 * 1000 + 999, T0),
    ("ns", T0 * 1_000_000, T0),
    ("ns", "2024-05-01T12:00:00Z", T0),  # ISO strings do not depend on the unit
])
def test_jsonl_integer_times_follow_time_unit(tmp_path, unit, raw, expected) -> None:
    pipeline = _file_job(tmp_path, [{"symbol": "A", "price": 1.0, "ts": raw}],
                         options=f", time_unit = '{unit}'")
    pipeline.run()
    assert _times(pipeline) == [expected]


def test_time_unit_on_both_jsonl_paths(tmp_path) -> None:
    """A malformed line sends its chunk to the per-line path: same times there."""
    pipeline = _file_job(tmp_path, [{"symbol": "A", "ts": T0_SECONDS}, "{not json",
                                    {"symbol": "B", "ts": str(T0_SECONDS + 1)}],
                         options=", time_unit = 's'")
    pipeline.run()
    assert _times(pipeline) == [T0, T0 + 1000]
    assert pipeline.stats.dead_letters["trades"] == 1


def test_out_of_range_times_name_the_unit(tmp_path) -> None:
    pipeline = _file_job(tmp_path, [{"symbol": "A", "ts": 10**15}, {"symbol": "B", "ts": 0}],
                         options=", time_unit = 's'")
    letters: list[dict[str, object]] = []
    pipeline.subscribe("dead_letters", lambda batch: letters.extend(batch.to_dicts()))
    pipeline.run()
    assert _times(pipeline) == [0]
    assert letters[0]["reason"].startswith(
        "field ts: timestamp 1000000000000000 is out of range (epoch seconds of ")
    assert letters[0]["position"].endswith("trades.jsonl:1")


def test_a_decoder_built_without_the_option_reads_milliseconds() -> None:
    decoder = StreamDecoder("s", {"ts": FrysType.TIMESTAMP}, "ts")
    frame, _ = decoder.decode_jsonl(f'{{"ts": {T0}}}\n'.encode(), 1, "x")
    assert frame["ts"].dt.epoch("ms").to_list() == [T0]
    decoder.set_time_unit("s")
    frame, _ = decoder.decode_jsonl(f'{{"ts": {T0_SECONDS}}}\n'.encode(), 1, "x")
    assert frame["ts"].dt.epoch("ms").to_list() == [T0]


@pytest.mark.parametrize(("option", "message"), [
    ("time_unit = 'sec'", "time_unit must be one of 's', 'ms', 'us', 'ns', got 'sec' "
                          "(did you mean 's'?)"),
    ("time_unit = 'mss'", "got 'mss' (did you mean 'ms'?)"),
    ("time_unit = 'nanoseconds'", "got 'nanoseconds' (did you mean 'ns'?)"),
    ("time_unit = 'fortnights'", "got 'fortnights'"),
    ("time_unit = s", "time_unit must be quoted: time_unit = 's'"),
    ("time_unit = 5 SECONDS", "time_unit must be one of 's', 'ms', 'us', 'ns', e.g. "
                              "time_unit = 's'"),
    ("time_unti = 's'", "unknown stream option time_unti (did you mean 'time_unit'?)"),
])
def test_time_unit_errors_are_positioned(option, message) -> None:
    text = f"CREATE STREAM t (ts TIMESTAMP) WITH ({option});"
    with pytest.raises(frys.FrysError) as raised:
        frys.compile_text(text, "job.frysql")
    column = text.index(option) + 1  # the error points at the option
    assert f"job.frysql:1:{column}: error: " in str(raised.value)
    assert message in str(raised.value)


def test_time_unit_needs_a_timestamp_column() -> None:
    with pytest.raises(frys.FrysError, match="time_unit applies to integer times of "
                                             "TIMESTAMP columns; stream t declares none"):
        frys.compile_text("CREATE STREAM t (n INT) WITH (time_unit = 's');")


def test_time_unit_is_kept_on_the_stream() -> None:
    job = frys.compile_text(JOB.format(options=", time_unit = 'us'"))
    assert job.streams["trades"].time_unit == "us"
    assert frys.compile_text(JOB.format(options="")).streams["trades"].time_unit is None


# ---------------------------------------------------------------------- frys run

def test_frys_run_reads_integer_times_in_the_stream_time_unit(tmp_path, capsys) -> None:
    from frys.cli import main

    (tmp_path / "trades.jsonl").write_text(json.dumps({"symbol": "A", "ts": T0_SECONDS}) + "\n")
    job = tmp_path / "job.frysql"
    job.write_text(JOB.format(options=", time_unit = 's', source = 'file:trades.jsonl'"))
    assert main(["run", str(job)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["ts"] == "2024-05-01T12:00:00.000Z"


def test_a_decoder_for_a_stream_takes_its_time_unit() -> None:
    job = frys.compile_text(JOB.format(options=", time_unit = 's'"))
    decoder = StreamDecoder.for_stream(job.streams["trades"])
    frame, _ = decoder.decode_jsonl(f'{{"ts": {T0_SECONDS}}}\n'.encode(), 1, "x")
    assert frame["ts"].dt.epoch("ms").to_list() == [T0]


def test_watching_for_seconds_survives_integers_past_64_bits() -> None:
    pipeline = _pipeline()
    pipeline.publish("trades", [{"symbol": "A", "ts": 2**70}, {"symbol": "B", "ts": T0}])
    assert _times(pipeline) == [T0]
    assert pipeline.stats.dead_letters["trades"] == 1


def test_frys_run_prints_each_data_warning_once_as_a_frys_line(tmp_path, capsys) -> None:
    from frys.cli import main

    (tmp_path / "trades.jsonl").write_text(json.dumps({"symbol": "A", "ts": T0_SECONDS}) + "\n")
    job = tmp_path / "job.frysql"
    job.write_text(JOB.format(options=", source = 'file:trades.jsonl'"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a Python warning escaping the run fails the test
        assert main(["run", str(job)]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("frys: warning: ")]
    # the times look like seconds, and the schema's price is in no line: one line each
    assert len(lines) == 2
    assert "seconds" in lines[0] and "column price" in lines[1]
