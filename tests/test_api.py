"""The Python API: publish dicts or DataFrames, subscribe, read results, compose queries."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

import frys
from frys.dsl import FrysError

JOB = """
CREATE STREAM trades (symbol STRING, price FLOAT, volume INT, ts TIMESTAMP)
    WITH (event_time = ts, watermark = 1 SECOND);
CREATE STREAM bars WITH (sink = 'file:bars.jsonl');
INSERT INTO bars
SELECT symbol, window_start, window_end, COUNT(*) AS n, AVG(price) AS avg_price
FROM trades GROUP BY symbol, TUMBLE(10 SECONDS);
SELECT symbol, n FROM bars WHERE n >= 2;
"""


def _at(seconds: float) -> int:
    return int(seconds * 1000)


@pytest.fixture()
def pipeline(tmp_path) -> frys.Pipeline:
    return frys.Pipeline.from_text(JOB, base_dir=tmp_path)


def test_publish_dicts_and_read_results(pipeline: frys.Pipeline) -> None:
    pipeline.publish("trades", [
        {"symbol": "A", "price": 10.0, "volume": 1, "ts": _at(1)},
        {"symbol": "A", "price": 20.0, "volume": 1, "ts": _at(2)},
        {"symbol": "B", "price": 5.0, "volume": 1, "ts": "1970-01-01T00:00:03Z"},
    ])
    assert pipeline.results("bars").height == 0, "no window may fire before the watermark"
    pipeline.finish()
    bars = pipeline.results("bars")
    assert bars.to_dicts() == [
        {"symbol": "A", "window_start": datetime(1970, 1, 1, tzinfo=UTC),
         "window_end": datetime(1970, 1, 1, 0, 0, 10, tzinfo=UTC), "n": 2, "avg_price": 15.0},
        {"symbol": "B", "window_start": datetime(1970, 1, 1, tzinfo=UTC),
         "window_end": datetime(1970, 1, 1, 0, 0, 10, tzinfo=UTC), "n": 1, "avg_price": 5.0},
    ]
    # a query reading another query's output stream (composition)
    assert pipeline.results("select_1").to_dicts() == [{"symbol": "A", "n": 2}]


def test_windows_fire_as_the_watermark_passes(pipeline: frys.Pipeline) -> None:
    pipeline.publish("trades", [{"symbol": "A", "price": 1.0, "volume": 1, "ts": _at(1)}])
    # watermark = 10.5 s - 1 s = 9.5 s: window [0, 10) still open
    pipeline.publish("trades", [{"symbol": "A", "price": 1.0, "volume": 1, "ts": _at(10.5)}])
    assert pipeline.results("bars").height == 0
    # watermark = 11 s - 1 s = 10 s: window [0, 10) fires, [10, 20) stays open
    pipeline.publish("trades", [{"symbol": "A", "price": 3.0, "volume": 1, "ts": _at(11)}])
    assert pipeline.results("bars")["n"].to_list() == [1]
    pipeline.finish()
    assert pipeline.results("bars")["n"].to_list() == [1, 2]


def test_publish_a_dataframe(pipeline: frys.Pipeline) -> None:
    frame = pl.DataFrame({
        "symbol": ["A", "A"], "price": [1, 3], "volume": [1, 2],
        "ts": [datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC),
               datetime(2024, 1, 1, 0, 0, 2, tzinfo=UTC)],
    })
    pipeline.publish("trades", frame)
    pipeline.finish()
    row = pipeline.results("bars").row(0, named=True)
    assert row["n"] == 2 and row["avg_price"] == 2.0
    assert row["window_start"] == datetime(2024, 1, 1, tzinfo=UTC)


def test_a_dataframe_that_does_not_fit_is_refused_with_the_stream_name(pipeline) -> None:
    frame = pl.DataFrame({"symbol": ["A"], "price": ["not a number"], "volume": [1], "ts": [1]})
    with pytest.raises(TypeError, match="does not fit stream trades"):
        pipeline.publish("trades", frame)


def test_bad_records_become_dead_letters_and_the_rest_go_on(pipeline) -> None:
    letters: list[pl.DataFrame] = []
    pipeline.subscribe("dead_letters", letters.append)
    pipeline.publish("trades", [
        {"symbol": "A", "price": "ten", "volume": 1, "ts": _at(1)},
        {"symbol": "A", "price": 10.0, "volume": 1},
        {"symbol": "A", "price": 10.0, "volume": 1, "ts": _at(2)},
    ])
    pipeline.finish()
    assert pipeline.stats.dead_letters["trades"] == 2
    dead = pl.concat(letters)
    assert dead["reason"].to_list() == ["field price: expected FLOAT, got 'ten'",
                                        "field ts: the event time is missing"]
    assert dead["position"].to_list() == ["trades:api:1", "trades:api:2"]
    assert pipeline.results("bars")["n"].to_list() == [1]


def test_late_events_are_counted_not_silent(pipeline) -> None:
    pipeline.publish("trades", [{"symbol": "A", "price": 1.0, "volume": 1, "ts": _at(30)}])
    pipeline.publish("trades", [{"symbol": "A", "price": 1.0, "volume": 1, "ts": _at(2)}])
    pipeline.finish()
    assert pipeline.stats.late_events["bars"] == 1
    assert pipeline.results("bars")["n"].to_list() == [1]


def test_subscribe_sees_every_batch(pipeline) -> None:
    seen: list[int] = []
    pipeline.subscribe("bars", lambda batch: seen.append(batch.height))
    pipeline.publish("trades", [{"symbol": s, "price": 1.0, "volume": 1, "ts": _at(1)}
                                for s in "ABC"])
    pipeline.finish()
    assert seen == [3]


def test_sink_file_is_written(pipeline, tmp_path) -> None:
    pipeline.publish("trades", [{"symbol": "A", "price": 1.0, "volume": 1, "ts": _at(1)}])
    pipeline.finish()
    assert (tmp_path / "bars.jsonl").read_text() == (
        '{"symbol":"A","window_start":"1970-01-01T00:00:00.000Z",'
        '"window_end":"1970-01-01T00:00:10.000Z","n":1,"avg_price":1.0}\n')


def test_unknown_streams_are_named(pipeline) -> None:
    with pytest.raises(KeyError, match="unknown stream 'trade'"):
        pipeline.publish("trade", [])
    with pytest.raises(KeyError, match="no query writes to 'trades'"):
        pipeline.results("trades")


def test_compile_errors_surface_as_frys_errors() -> None:
    with pytest.raises(FrysError, match="unknown column 'prise'"):
        frys.Pipeline.from_text("CREATE STREAM s (price FLOAT); SELECT prise FROM s")


def test_explain_is_a_string(pipeline) -> None:
    text = pipeline.explain()
    assert "query 1: topic trades -> topic bars" in text
    assert "query 2: topic bars -> caller (stdout)" in text


def test_windows_over_window_results_compose() -> None:
    # per-second sums feed five-second sums; the first level's window_start is the event
    # time of the second, and in the second query `window_start` means its own window
    pipeline = frys.Pipeline.from_text("""
        CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP) WITH (event_time = ts);
        CREATE STREAM per_sec WITH (event_time = window_start);
        INSERT INTO per_sec SELECT k, window_start, SUM(v) AS s FROM ev GROUP BY k, TUMBLE(1s);
        SELECT k, window_start, SUM(s) AS s5, COUNT(*) AS seconds,
               MIN(per_sec.window_start) AS first_second
        FROM per_sec GROUP BY k, TUMBLE(5s);
    """)
    pipeline.publish("ev", [{"k": "a", "v": i, "ts": i * 500} for i in range(30)])
    # the per-second watermark has reached 14 s, so [0, 5) and [5, 10) have fired
    assert pipeline.results("select_1")["s5"].to_list() == [45, 145]
    pipeline.finish()
    result = pipeline.results("select_1")
    assert result["s5"].to_list() == [45, 145, 245]
    assert result["seconds"].to_list() == [5, 5, 5]
    assert result["first_second"].to_list() == result["window_start"].to_list()


def test_queries_are_counted_under_their_output_and_numbered_when_they_share_one() -> None:
    pipeline = frys.Pipeline.from_text("""
        CREATE STREAM ev (k INT, ts TIMESTAMP) WITH (event_time = ts);
        CREATE STREAM out;
        INSERT INTO out SELECT k, window_start FROM ev GROUP BY k, TUMBLE(10ms);
        INSERT INTO out SELECT k, window_start FROM ev GROUP BY k, TUMBLE(20ms);
        SELECT k, COUNT(*) AS n FROM ev GROUP BY k, TUMBLE(5ms);
    """)
    pipeline.publish("ev", [{"k": 1, "ts": 100}])
    pipeline.publish("ev", [{"k": 1, "ts": 1}])  # late for every query
    pipeline.finish()
    assert pipeline.stats.late_events == {"out (query 1)": 1, "out (query 2)": 1,
                                          "select_1": 1}
