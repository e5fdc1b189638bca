"""What `Pipeline.publish` takes besides dicts and DataFrames (LazyFrames, Arrow tables,
string times), how rows that cannot be in the stream become dead letters, and what
`keep_results` keeps for `results()`."""

from __future__ import annotations

import subprocess
import sys
import warnings
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa
import pytest

import frys
from frys.pipeline import ResultsNotKept

JOB = """
CREATE STREAM trades (symbol STRING, price FLOAT, ts TIMESTAMP) WITH (event_time = ts);
SELECT symbol, price, ts FROM trades;
"""
T0 = 1_714_564_800_000  # 2024-05-01T12:00:00Z in epoch milliseconds


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture()
def pipeline() -> frys.Pipeline:
    return frys.Pipeline.from_text(JOB)


@pytest.fixture(autouse=True)
def _quiet_data_warnings():
    """These tests publish partial frames on purpose; test_data_warnings.py checks the
    warnings themselves."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", frys.pipeline.DataWarning)
        yield


def _dead_letters(pipeline: frys.Pipeline) -> list[dict[str, object]]:
    letters: list[dict[str, object]] = []
    pipeline.subscribe("dead_letters", lambda batch: letters.extend(batch.to_dicts()))
    return letters


def _times(pipeline: frys.Pipeline) -> list[int]:
    return pipeline.results("select_1")["ts"].dt.epoch("ms").to_list()


# ---------------------------------------------------------------------- table inputs

def test_a_lazyframe_is_collected(pipeline) -> None:
    pipeline.publish("trades", pl.LazyFrame(
        {"symbol": ["A", "B"], "price": [1.0, 2.0], "ts": [T0, T0 + 1]}
    ).filter(pl.col("price") > 1))
    assert pipeline.results("select_1")["symbol"].to_list() == ["B"]


@pytest.mark.parametrize("make", [pa.table, pa.record_batch], ids=["Table", "RecordBatch"])
def test_arrow_tables_and_record_batches(pipeline, make) -> None:
    pipeline.publish("trades", make({
        "symbol": ["A", "B"], "price": pa.array([1, 2], pa.int32()),
        "ts": pa.array([datetime(2024, 5, 1, 12, tzinfo=UTC)] * 2, pa.timestamp("us", "UTC")),
    }))
    result = pipeline.results("select_1")
    assert result["symbol"].to_list() == ["A", "B"]
    assert result["price"].to_list() == [1.0, 2.0]  # INT32 cast to FLOAT
    assert _times(pipeline) == [T0, T0]


def test_other_arrow_objects_are_refused_with_what_to_give(pipeline) -> None:
    with pytest.raises(TypeError, match="pyarrow Table or RecordBatch"):
        pipeline.publish("trades", pa.chunked_array([[1, 2]]))


def test_pyarrow_is_imported_only_for_arrow_input() -> None:
    program = f"""
import sys, polars as pl, frys
pipeline = frys.Pipeline.from_text('''{JOB}''')
pipeline.publish("trades", [{{"symbol": "A", "price": 1.0, "ts": {T0}}}])
pipeline.publish("trades", pl.DataFrame({{"symbol": ["A"], "ts": ["2024-05-01T12:00:00Z"]}}))
print("pyarrow" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", program],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# ---------------------------------------------------------------------- string times

def test_string_times_are_read_as_json_input_reads_them(pipeline) -> None:
    pipeline.publish("trades", pl.DataFrame({
        "symbol": list("abcdef"),
        "ts": ["2024-05-01T12:00:00Z",        # ISO with Z
               "2024-05-01T14:00:01+02:00",   # with an offset
               "2024-05-01T12:00:02",         # no offset: UTC
               "2024-05-01 12:00:03.250",     # only Python's parser reads it: per row
               f" {T0 + 4000} ",               # integer text: epoch milliseconds
               "2024-05-01T12:00:05.5Z"],
    }))
    assert _times(pipeline) == [T0, T0 + 1000, T0 + 2000, T0 + 3250, T0 + 4000, T0 + 5500]
    assert pipeline.results("select_1")["symbol"].to_list() == list("abcdef")  # in order
    assert pipeline.stats.total_dead_letters == 0


def test_unreadable_times_are_dead_letters_with_their_row(pipeline) -> None:
    letters = _dead_letters(pipeline)
    pipeline.publish("trades", pl.DataFrame({
        "symbol": ["ok", "bad", "ok2", "far"],
        "price": [1.0, 2.0, 3.0, 4.0],
        "ts": ["2024-05-01T12:00:00Z", "yesterday", "2024-05-01 12:00:01",
               "99999-01-01T00:00:00Z"],
    }))
    assert pipeline.results("select_1")["symbol"].to_list() == ["ok", "ok2"]
    assert [(d["position"], d["reason"].split(" (")[0]) for d in letters] == [
        ("trades:api:frame row 1", "field ts: cannot parse 'yesterday' as a TIMESTAMP"),
        ("trades:api:frame row 3",
         "field ts: cannot parse '99999-01-01T00:00:00Z' as a TIMESTAMP"),
    ]
    assert '"yesterday"' in letters[0]["raw"] and '"symbol": "bad"' in letters[0]["raw"]
    assert pipeline.stats.dead_letters["trades"] == 2
    assert pipeline.stats.events["trades"] == 2


def test_a_null_event_time_is_a_dead_letter_not_a_lost_count(pipeline) -> None:
    letters = _dead_letters(pipeline)
    pipeline.publish("trades", pl.DataFrame(
        {"symbol": ["a", "b", "c"], "ts": [T0, None, T0 + 1]},
        schema={"symbol": pl.String, "ts": pl.Int64}))
    assert pipeline.results("select_1")["symbol"].to_list() == ["a", "c"]
    assert [(d["position"], d["reason"]) for d in letters] == [
        ("trades:api:frame row 1", "field ts: the event time is missing")]
    assert pipeline.stats.events["trades"] == 2  # counted only what went through


def test_a_frame_without_the_event_time_column_is_all_dead_letters(pipeline) -> None:
    letters = _dead_letters(pipeline)
    pipeline.publish("trades", pl.DataFrame({"symbol": ["a", "b"]}))
    assert pipeline.results("select_1").height == 0
    assert [d["position"] for d in letters] == ["trades:api:frame row 0",
                                               "trades:api:frame row 1"]


def test_a_null_time_in_another_timestamp_column_stays_null() -> None:
    pipeline = frys.Pipeline.from_text("""
        CREATE STREAM s (ts TIMESTAMP, seen TIMESTAMP) WITH (event_time = ts);
        SELECT ts, seen FROM s;""")
    pipeline.publish("s", pl.DataFrame({"ts": [T0, T0], "seen": [None, "2024-05-01T12:00Z"]}))
    result = pipeline.results("select_1")
    assert result["seen"].dt.epoch("ms").to_list() == [None, T0]


def test_out_of_range_datetimes_are_still_dead_letters(pipeline) -> None:
    letters = _dead_letters(pipeline)
    far = pl.Series("ts", [T0 * 1000, 200_000 * 365 * 86_400_000_000]).cast(pl.Datetime("us"))
    pipeline.publish("trades", pl.DataFrame({"symbol": ["a", "b"], "ts": far}))
    assert pipeline.results("select_1")["symbol"].to_list() == ["a"]
    assert letters[0]["position"] == "trades:api:frame row 1"
    assert "outside TIMESTAMP's range" in letters[0]["reason"]


def test_a_column_that_cannot_be_cast_refuses_the_frame(pipeline) -> None:
    with pytest.raises(TypeError, match="does not fit stream trades"):
        pipeline.publish("trades", pl.DataFrame({"price": ["cheap"], "ts": [T0]}))


def test_a_frame_already_in_the_stream_schema_passes_unchanged(pipeline) -> None:
    frame = pl.DataFrame({"symbol": ["a"], "price": [1.0], "ts": [T0]}).with_columns(
        pl.col("ts").cast(pl.Datetime("ms", "UTC")))
    pipeline.publish("trades", frame)
    assert pipeline.results("select_1").equals(frame)


@pytest.mark.parametrize(("unit", "value", "expected"), [
    ("s", 1_714_564_800, T0),
    ("ms", T0, T0),
    ("us", T0 * 1000 + 999, T0),            # floored to the millisecond
    ("ns", T0 * 1_000_000 + 1, T0),
    ("us", -1, -1),                          # floored, not truncated toward zero
])
def test_integer_frame_times_follow_the_stream_time_unit(unit, value, expected) -> None:
    pipeline = frys.Pipeline.from_text(JOB.replace(
        "event_time = ts", f"event_time = ts, time_unit = '{unit}'"))
    pipeline.publish("trades", pl.DataFrame({"ts": [value]}))
    pipeline.publish("trades", pl.DataFrame({"ts": [str(value)]}))  # integer text too
    pipeline.publish("trades", [{"ts": value}])
    pipeline.publish("trades", pl.DataFrame({"ts": ["2024-05-01T12:00:00Z"]}))  # ISO: as is
    assert _times(pipeline) == [expected] * 3 + [T0]


def test_seconds_past_the_range_are_dead_letters_not_overflow() -> None:
    pipeline = frys.Pipeline.from_text(JOB.replace(
        "event_time = ts", "event_time = ts, time_unit = 's'"))
    letters = _dead_letters(pipeline)
    pipeline.publish("trades", pl.DataFrame({"ts": [2**62, 1_714_564_800]}))
    assert _times(pipeline) == [T0]
    assert "out of range (epoch seconds" in letters[0]["reason"]


# ---------------------------------------------------------------------- keep_results

def _publish_rows(pipeline: frys.Pipeline, batches: int, rows: int) -> None:
    for n in range(batches):
        pipeline.publish("trades", pl.DataFrame(
            {"symbol": [f"{n}.{i}" for i in range(rows)], "ts": [T0 + n] * rows}))


def test_by_default_every_result_is_kept(pipeline) -> None:
    _publish_rows(pipeline, 3, 4)
    assert pipeline.results("select_1").height == 12
    assert pipeline.results_dropped("select_1") == 0


def test_keep_results_false_keeps_nothing_and_says_so() -> None:
    pipeline = frys.Pipeline.from_text(JOB, keep_results=False)
    seen: list[int] = []
    pipeline.subscribe("select_1", lambda batch: seen.append(batch.height))
    _publish_rows(pipeline, 2, 3)
    assert seen == [3, 3]  # subscribers still see every batch
    with pytest.raises(ResultsNotKept, match="keep_results=False"):
        pipeline.results("select_1")
    with pytest.raises(KeyError, match="no query writes to 'trades'"):
        pipeline.results("trades")


@pytest.mark.parametrize("limit", [1, 4, 5, 7, 30])
def test_keep_results_n_keeps_the_most_recent_rows(limit) -> None:
    pipeline = frys.Pipeline.from_text(JOB, keep_results=limit)
    _publish_rows(pipeline, 5, 3)  # 15 rows in batches of 3
    every = [f"{n}.{i}" for n in range(5) for i in range(3)]
    assert pipeline.results("select_1")["symbol"].to_list() == every[-limit:]
    assert pipeline.results_dropped("select_1") == max(0, 15 - limit)


def test_keep_results_n_holds_whole_batches_up_to_n_rows_only() -> None:
    pipeline = frys.Pipeline.from_text(JOB, keep_results=4)
    _publish_rows(pipeline, 100, 3)
    store = pipeline._results["select_1"]
    assert store.rows <= 4 + 3 - 1  # the batches holding the last 4 rows, no more


@pytest.mark.parametrize("bad", [0, -1, 2.5, "all"])
def test_keep_results_must_be_a_bool_or_a_positive_count(bad) -> None:
    with pytest.raises(ValueError, match="keep_results"):
        frys.Pipeline.from_text(JOB, keep_results=bad)
