"""The bus under .frysql jobs: priority and persistent streams, `wal:` and `bus:` sources and
sinks, resuming from committed offsets after a restart (a real killed process included)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from frys import Broker, FrysError, Pipeline, RuntimeOptions
from frys.connectors.wal import LogReader, OffsetStore, WriteAheadLog
from frys.connectors.wal_topic import WalJournal, record_frame
from frys.dsl.errors import FrysAnalysisError

TS = 1_700_000_000_000


def write_job(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.frysql"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_priority_stream_as_a_query_sink_hands_out_alerts_by_severity() -> None:
    pipeline = Pipeline.from_text("""
        CREATE STREAM readings (host STRING, load FLOAT, ts TIMESTAMP)
            WITH (event_time = ts);
        CREATE STREAM alerts WITH (queue = 'priority', priority = severity);
        INSERT INTO alerts
        SELECT host, CAST(FLOOR(load) AS INT) AS severity, ts FROM readings WHERE load > 1;
    """)
    queue = pipeline.bus.subscribe("alerts")
    pipeline.publish("readings", [{"host": "a", "load": 2.5, "ts": TS},
                                  {"host": "b", "load": 0.5, "ts": TS + 1},
                                  {"host": "c", "load": 7.0, "ts": TS + 2}])
    pipeline.publish("readings", [{"host": "d", "load": 4.2, "ts": TS + 3},
                                  {"host": "e", "load": 7.9, "ts": TS + 4}])
    pipeline.finish()
    best = queue.get(0, max_events=10)
    assert best is not None
    assert best.select("host", "severity").rows() == [("c", 7), ("e", 7), ("d", 4),
                                                      ("a", 2)]


def test_a_priority_stream_as_a_source_delivers_each_batch_highest_first() -> None:
    pipeline = Pipeline.from_text("""
        CREATE STREAM tasks (name STRING, urgency INT)
            WITH (queue = 'priority', priority = urgency);
        SELECT name FROM tasks;
    """)
    pipeline.publish("tasks", [{"name": "low", "urgency": 1}, {"name": "high", "urgency": 9},
                               {"name": "mid", "urgency": 5}, {"name": "mid2", "urgency": 5}])
    pipeline.finish()
    assert pipeline.results("select_1")["name"].to_list() == ["high", "mid", "mid2", "low"]


def test_a_wal_sink_feeds_a_wal_source_that_resumes_from_its_committed_offset(
        tmp_path: Path) -> None:
    data = tmp_path / "trades.jsonl"
    writer_job = write_job(tmp_path, "writer", """
        CREATE STREAM trades (symbol STRING, price FLOAT, ts TIMESTAMP)
            WITH (event_time = ts, source = 'file:trades.jsonl',
                  sink = 'wal:log/trades?fsync=always');
    """)
    reader_job = write_job(tmp_path, "reader", """
        CREATE STREAM trades (symbol STRING, price FLOAT, ts TIMESTAMP)
            WITH (event_time = ts, source = 'wal:log/trades?follow=false');
        SELECT symbol, COUNT(*) AS n, SUM(price) AS total FROM trades
        GROUP BY symbol, TUMBLE(1 HOUR);
    """)

    def write(prices: list[float]) -> None:
        data.write_text("".join(json.dumps({"symbol": "X", "price": p, "ts": TS + i}) + "\n"
                                for i, p in enumerate(prices)))
        Pipeline.from_file(writer_job).run()

    def read() -> list[tuple[object, ...]]:
        pipeline = Pipeline.from_file(reader_job)
        pipeline.run()
        return pipeline.results("select_1").select("symbol", "n", "total").rows()

    write([1.0, 2.0, 3.0])
    assert read() == [("X", 3, 6.0)]
    assert read() == []  # a restart: everything up to the committed offset is done
    write([10.0, 20.0])
    assert read() == [("X", 2, 30.0)]
    assert OffsetStore(tmp_path / "log" / "trades").consumers() == {"reader.trades": 5}


def test_json_lines_in_a_wal_are_decoded_with_dead_letters_at_their_offsets(
        tmp_path: Path) -> None:
    journal = WalJournal(tmp_path / "q", None)
    journal.append_lines([b'{"id": 1, "ts": 1000}', b'{"id": "oops", "ts": 1001}'])
    journal.append_lines([b'{"id": 3, "ts": 1002}', b"not json"])
    journal.close()
    pipeline = Pipeline.from_text(f"""
        CREATE STREAM ids (id INT, ts TIMESTAMP)
            WITH (event_time = ts, source = 'wal:{tmp_path / "q"}?follow=false');
        SELECT id FROM ids;
    """)
    pipeline.run()
    assert pipeline.results("select_1")["id"].to_list() == [1, 3]
    assert pipeline.stats.dead_letters["ids"] == 2
    positions = [d.position for d in pipeline.stats.first_dead_letters]
    assert positions == [f"wal:{tmp_path / 'q'}:1", f"wal:{tmp_path / 'q'}:3"]


PERSISTENT_JOB = """
    CREATE STREAM orders (id INT, amount FLOAT, ts TIMESTAMP)
        WITH (event_time = ts, queue = 'persistent');
    SELECT COUNT(*) AS n, SUM(amount) AS total FROM orders GROUP BY TUMBLE(1 DAY);
"""


def test_a_persistent_stream_logs_what_it_is_given_before_delivering_it(
        tmp_path: Path) -> None:
    job = write_job(tmp_path, "orders_job", PERSISTENT_JOB)
    pipeline = Pipeline.from_file(job)
    pipeline.publish("orders", [{"id": i, "amount": 1.5, "ts": TS + i} for i in range(4)])
    pipeline.finish()
    assert pipeline.results("select_1").rows() == [(4, 6.0)]
    logged = [record_frame(r, s) for r, s in LogReader(tmp_path / ".frys/wal/orders").read()]
    assert pl.concat(logged)["id"].to_list() == [0, 1, 2, 3]
    again = Pipeline.from_file(job)
    again.finish()
    assert again.results("select_1").height == 0  # committed: nothing replays


def test_a_job_killed_before_finishing_replays_its_persistent_stream_on_restart(
        tmp_path: Path) -> None:
    job = write_job(tmp_path, "orders_job", PERSISTENT_JOB)
    crashing = textwrap.dedent(f"""
        import os, signal
        from frys import Pipeline
        pipeline = Pipeline.from_file({str(job)!r})
        pipeline.publish("orders", [{{"id": i, "amount": 2.0, "ts": {TS} + i}}
                                    for i in range(5)])
        print("published", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # dies with the window still open
    """)
    run = subprocess.run([sys.executable, "-c", crashing], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == -signal.SIGKILL
    assert run.stdout == "published\n"
    restarted = Pipeline.from_file(job)
    restarted.publish("orders", [{"id": 5, "amount": 10.0, "ts": TS + 5}])
    restarted.finish()
    assert restarted.results("select_1").rows() == [(6, 20.0)]
    assert OffsetStore(tmp_path / ".frys/wal/orders").load("orders_job.orders") == 6


def test_persistent_streams_log_where_the_options_say(tmp_path: Path) -> None:
    options = RuntimeOptions(wal_root=tmp_path / "logs", job_name="nightly")
    pipeline = Pipeline.from_text(PERSISTENT_JOB, options=options)
    pipeline.publish("orders", [{"id": 1, "amount": 1.0, "ts": TS}])
    pipeline.finish()
    assert (tmp_path / "logs" / "orders").is_dir()
    assert OffsetStore(tmp_path / "logs" / "orders").consumers() == {"nightly.orders": 1}


def test_bus_sources_and_sinks_connect_a_job_to_broker_topics() -> None:
    bus = Broker()
    out = bus.subscribe("out.#")
    pipeline = Pipeline.from_text("""
        CREATE STREAM clicks (user STRING, ts TIMESTAMP)
            WITH (event_time = ts, source = 'bus:in.clicks');
        CREATE STREAM heavy WITH (sink = 'bus:out.heavy');
        INSERT INTO heavy SELECT user, COUNT(*) AS n FROM clicks
        GROUP BY user, TUMBLE(1 MINUTE) HAVING COUNT(*) >= 2;
    """, bus=bus)
    bus.publish("in.clicks", pl.DataFrame({"user": ["a", "b", "a"],
                                           "ts": [TS, TS + 1, TS + 2]}))
    pipeline.finish()
    heavy = out.get(timeout_s=0)
    assert heavy is not None and heavy.select("user", "n").rows() == [("a", 2)]
    assert out.get(timeout_s=0) is None
    assert bus.topics["out.heavy"].ended  # the job's end reached the bus topic


def test_a_bus_batch_that_does_not_fit_the_stream_becomes_a_dead_letter() -> None:
    bus = Broker()
    pipeline = Pipeline.from_text("""
        CREATE STREAM clicks (user STRING, n INT) WITH (source = 'bus:in.clicks');
        SELECT user, n FROM clicks;
    """, bus=bus)
    bus.publish("in.clicks", pl.DataFrame({"user": ["a"], "n": ["many"]}))
    bus.publish("in.clicks", pl.DataFrame({"user": ["b"], "n": [2]}))
    pipeline.finish()
    assert pipeline.results("select_1").rows() == [("b", 2)]
    assert pipeline.stats.dead_letters["clicks"] == 1
    letter = pipeline.stats.first_dead_letters[0]
    assert letter.position == "bus:in.clicks"
    assert "does not fit stream clicks" in letter.reason


def test_a_missing_wal_source_names_the_stream_and_the_line(tmp_path: Path) -> None:
    with pytest.raises(FrysError, match=r"source WAL not found: .*nowhere \(stream s\)"):
        Pipeline.from_text("""
            CREATE STREAM s (a INT) WITH (source = 'wal:nowhere');
            SELECT a FROM s;
        """, base_dir=tmp_path)


@pytest.mark.parametrize(("uri", "message"), [
    ("wal:", "names no directory"),
    ("wal:q?fsync=sometimes", "unknown fsync policy 'sometimes'"),
    ("wal:q?segment_bytes=big", "segment_bytes must be a positive whole number"),
    ("wal:q?colour=red", "unknown wal: option 'colour'"),
    ("wal:q?retention_bytes=²", "retention_bytes must be a positive whole number"),
    ("wal:q?consumer=../x", "consumer name '../x' may hold only letters"),
    ("bus:alerts.*", "must name one topic"),
    ("bus:", "must name one topic"),
])
def test_bad_bus_uris_are_errors_at_their_option(uri: str, message: str) -> None:
    with pytest.raises(FrysAnalysisError) as caught:
        Pipeline.from_text(f"CREATE STREAM s (a INT) WITH (sink = '{uri}');\n")
    rendered = caught.value.render()
    assert message in rendered
    assert "<query>:1:31" in rendered


def test_the_wal_sink_honours_its_uri_options(tmp_path: Path) -> None:
    pipeline = Pipeline.from_text("""
        CREATE STREAM s (a INT, pad STRING)
            WITH (sink = 'wal:out?fsync=always&segment_bytes=600');
    """, base_dir=tmp_path)
    for i in range(6):
        pipeline.publish("s", [{"a": i, "pad": "x" * 100}])
    pipeline.finish()
    segments = sorted(p.name for p in (tmp_path / "out").glob("*.wal"))
    assert len(segments) > 1
    with WriteAheadLog(tmp_path / "out") as log:
        assert log.next_offset == 6
    assert os.path.exists(tmp_path / "out" / ".lock")


def test_a_logged_batch_that_no_longer_fits_the_stream_becomes_a_dead_letter(
        tmp_path: Path) -> None:
    before = write_job(tmp_path, "codes", """
        CREATE STREAM codes (code STRING) WITH (queue = 'persistent');
        SELECT code FROM codes;
    """)
    pipeline = Pipeline.from_file(before)
    pipeline.publish("codes", [{"code": "abc"}])
    topic = pipeline.runtime.topics["codes"]
    assert topic.journal is not None
    topic.journal.close()  # as if the process died here: logged, never committed
    write_job(tmp_path, "codes", """
        CREATE STREAM codes (code INT) WITH (queue = 'persistent');
        SELECT code FROM codes;
    """)
    changed = Pipeline.from_file(before)
    changed.publish("codes", [{"code": 7}])
    changed.finish()
    assert changed.results("select_1")["code"].to_list() == [7]
    assert changed.stats.dead_letters["codes"] == 1
    letter = changed.stats.first_dead_letters[0]
    assert letter.position == f"wal:{tmp_path / '.frys/wal/codes'}:0"
    assert "does not fit stream codes" in letter.reason


def test_threads_publishing_to_a_jobs_streams_at_once_lose_nothing() -> None:
    """Two threads feed two streams that merge into one windowed query; the job's topics
    share one lock, so each batch crosses the whole graph alone (no operator is entered by
    two threads at once) and every event is counted."""
    pipeline = Pipeline.from_text("""
        CREATE STREAM a (n INT, ts TIMESTAMP) WITH (event_time = ts);
        CREATE STREAM b (n INT, ts TIMESTAMP) WITH (event_time = ts);
        CREATE STREAM merged (n INT, ts TIMESTAMP) WITH (event_time = ts);
        INSERT INTO merged SELECT n, ts FROM a;
        INSERT INTO merged SELECT n, ts FROM b;
        SELECT COUNT(*) AS events, SUM(n) AS total FROM merged GROUP BY TUMBLE(1 DAY);
    """)
    inside = []
    overlaps = []

    def slow_subscriber(batch: pl.DataFrame) -> None:  # stands in for a slow operator
        inside.append(1)
        overlaps.append(len(inside))
        time.sleep(0.001)  # lets the other thread run, if it can get in
        inside.pop()

    pipeline.subscribe("a", slow_subscriber)
    pipeline.subscribe("b", slow_subscriber)
    batches, size = 100, 3

    def feed(stream: str) -> None:
        for i in range(batches):
            pipeline.bus.publish(stream, pl.DataFrame(
                {"n": [1] * size, "ts": [TS + i] * size},
                schema={"n": pl.Int64, "ts": pl.Datetime("ms", "UTC")}))

    threads = [threading.Thread(target=feed, args=(s,)) for s in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    pipeline.finish()
    assert max(overlaps) == 1
    assert pipeline.results("select_1").rows() == [(2 * batches * size, 2 * batches * size)]


def test_the_bus_example_job_logs_big_trades_largest_first(tmp_path: Path) -> None:
    """queries/big_trades_bus.frysql: every trade of volume >= 500 reaches the WAL once, and
    each logged batch went through the priority topic largest volume first."""
    queries = Path(__file__).resolve().parent.parent / "queries"
    shutil.copytree(queries, tmp_path / "queries", ignore=shutil.ignore_patterns("out"))
    Pipeline.from_file(tmp_path / "queries" / "big_trades_bus.frysql").run()
    expected = 0
    for line in (queries / "data" / "trades.jsonl").read_text().splitlines():
        try:
            trade = json.loads(line)
        except json.JSONDecodeError:
            continue  # the sample's malformed line (a dead letter)
        if isinstance(trade.get("price"), float | int) and trade["volume"] >= 500:
            expected += 1
    batches = [record_frame(r, s) for r, s in
               LogReader(tmp_path / "queries" / "out" / "big_trades").read()]
    assert sum(b.height for b in batches) == expected > 0
    for batch in batches:
        assert batch["volume"].to_list() == sorted(batch["volume"].to_list(), reverse=True)
