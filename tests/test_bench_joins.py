"""benchmarks/run_joins.py's measures (W6, W7): the row counts it compares with its peers, the
emission latency quantiles and the state bytes beyond the payload; W7's data, its
interleaving of a versioned table's changelog with the stream, and the run itself at tiny
sizes without Flink. The Flink peer itself runs in the benchmark (a JVM per join kind: too
slow for the suite); its counts are checked there against frys' and DuckDB's."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "run_joins.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_run_joins", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


run_joins = _load()
WITHIN = 5 * run_joins.MINUTE


def reference(kind: str, orders: pl.DataFrame, shipments: pl.DataFrame) -> tuple[int, int]:
    """(rows, pairs) by nested loops: every order against every shipment, then the interval;
    LEFT adds one row per order that met none."""
    by_key: dict[int, list[int]] = {}
    for key, ts in shipments.select("order_id", "ts").iter_rows():
        by_key.setdefault(key, []).append(ts)
    pairs = unmatched = 0
    for key, ts in orders.select("id", "ts").iter_rows():
        met = sum(1 for other in by_key.get(key, []) if abs(ts - other) <= WITHIN)
        pairs += met
        unmatched += met == 0
    return pairs + (unmatched if kind == "LEFT" else 0), pairs


@pytest.fixture(scope="module")
def data() -> tuple[pl.DataFrame, pl.DataFrame]:
    return run_joins.make(6_000, 300)


@pytest.mark.parametrize("kind", run_joins.KINDS)
def test_frys_rows_and_state_beyond_the_payload(kind, data):
    orders, shipments = data
    run = run_joins.run_frys(kind, orders, shipments, batch=700)
    rows, _ = reference(kind, orders, shipments)
    assert run.rows == rows
    # 6,000 events per stream at 10 ms span 60 s, all within 5 minutes: nothing is pruned
    # before the end, so the largest state holds every row of both sides
    assert run.buffered == 2 * orders.height
    assert 0 < run.payload_bytes < run.state_bytes
    # the payload: at least id + amount (orders) and order_id + carrier (shipments), 8 bytes
    # each, when no more than what the query reads is buffered (issue 14's projection pruning)
    assert run.payload_bytes >= 16 * 2 * orders.height
    overhead = run.overhead_per_row()
    assert overhead == (run.state_bytes - run.payload_bytes) / run.buffered
    assert 0 < overhead < 100  # issue 14's target: under 100 bytes per buffered row


@pytest.mark.parametrize("kind", run_joins.KINDS)
def test_latency_counts_each_pair_once_and_leaves_out_unmatched_rows(kind, data):
    orders, shipments = data
    orders, shipments = orders.head(2_000), shipments.head(2_000)
    latency = run_joins.run_latency(kind, orders, shipments, rate=2_000_000, batch=250)
    _, pairs = reference(kind, orders, shipments)
    assert latency.rows == pairs
    assert 0 < latency.p50_ms <= latency.p99_ms <= latency.max_ms
    assert latency.offered == 2_000_000
    assert latency.achieved > 0


def test_latency_counts_the_wait_of_a_publish_due_earlier():
    """Offered far faster than frys can go, later publishes start behind their due time:
    that delay is part of their rows' latency (no coordinated omission), so the latency
    grows with the backlog to well beyond one publish's processing."""
    orders, shipments = run_joins.make(4_000, 50)
    latency = run_joins.run_latency("INNER", orders, shipments, rate=1e9, batch=100)
    fast = run_joins.run_latency("INNER", orders.head(100), shipments.head(100), rate=1e9,
                                 batch=100)
    assert latency.max_ms > 5 * fast.max_ms


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e3, allow_nan=False), st.integers(0, 20)),
                max_size=30),
       st.sampled_from([0.01, 0.5, 0.9, 0.99, 1.0]))
def test_weighted_quantile_is_the_quantile_of_the_values_repeated(entries, q):
    values = [value for value, _ in entries]
    weights = [weight for _, weight in entries]
    expanded = sorted(value for value, weight in entries for _ in range(weight))
    got = run_joins.weighted_quantile(values, weights, q)
    if not expanded:
        assert math.isnan(got)
        return
    # the smallest value with at least q of the rows at or below it
    want = next(v for i, v in enumerate(expanded, start=1) if i >= q * len(expanded))
    assert got == want


def test_weighted_quantile_p99_of_a_known_distribution():
    values = [float(v) for v in range(1, 101)]
    assert run_joins.weighted_quantile(values, [1] * 100, 0.99) == 99.0
    assert run_joins.weighted_quantile([1.0, 50.0], [99, 1], 0.99) == 1.0
    assert run_joins.weighted_quantile([1.0, 50.0], [98, 2], 0.99) == 50.0
    assert run_joins.weighted_quantile([3.0, 7.0], [5, 0], 1.0) == 3.0  # weight 0: no row


def test_flink_marginal_ignores_a_difference_within_the_noise():
    job = {"events": 2_000_000, "warmup_events": 20_000, "job_seconds": 30.0}
    assert run_joins.flink_marginal({**job, "warmup_seconds": 10.0}) == 1_980_000 / 20.0
    assert run_joins.flink_marginal({**job, "warmup_seconds": 29.0}) is None


# ---------------------------------------------------------------------- W7: stream-table joins


def table_reference(form: str, kind: str, stream: pl.DataFrame, table: pl.DataFrame
                    ) -> tuple[int, int]:
    """(rows, sum of their tiers) by plain Python: current, each event with its key's row;
    versioned, with its key's latest version at or before its time."""
    versions: dict[int, list[tuple[int, int]]] = {}
    for row in table.iter_rows(named=True):
        versions.setdefault(row["id"], []).append((row.get("ts", 0), row["tier"]))
    rows = tiers = 0
    for key, ts in stream.select("user_id", "ts").iter_rows():
        valid = [tier for at, tier in versions.get(key, []) if form == "current" or at <= ts]
        if valid:
            rows, tiers = rows + 1, tiers + valid[-1]  # the table is in time order
        elif kind == "LEFT":
            rows += 1
    return rows, tiers


@pytest.fixture(scope="module", params=run_joins.W7_FORMS)
def table_data(request) -> tuple[str, pl.DataFrame, pl.DataFrame]:
    stream, table = run_joins.w7_make(request.param, 5_000, 400)
    return request.param, stream, table


def test_w7_data_has_events_without_a_row_and_versions_changing_under_the_stream(table_data):
    form, stream, table = table_data
    assert stream["ts"].is_sorted() and table.height == 400
    keys = run_joins.w7_keys(form, 400)
    assert table["id"].n_unique() <= keys
    missing = stream.filter(~pl.col("user_id").is_in(table["id"].implode())).height
    assert 0.05 < missing / stream.height < 0.2  # about a tenth find no key
    if form == "versioned":
        assert table["ts"].is_sorted() and table["ts"].n_unique() > table.height - keys
        during = table.filter(pl.col("ts") >= run_joins.T0).height
        assert during > table.height / 3  # updates while the stream runs


@pytest.mark.parametrize("kind", run_joins.W7_KINDS)
def test_w7_frys_rows_and_tiers_are_the_references(kind, table_data):
    form, stream, table = table_data
    run = run_joins.w7_run_frys(form, kind, stream, table, batch=300)
    assert (run.rows, run.tiers) == table_reference(form, kind, stream, table)
    # the state: the key (Int64) per current row; versioned, also the version's time
    # (Int64) and the tombstone flag (a bit)
    if form == "current":
        assert run.table_rows == table.height and run.overhead_per_row() == 8
        assert run.held_rows == 0
    else:
        assert 0 < run.table_rows <= table.height
        assert 16 <= run.overhead_per_row() < 17.5
        assert run.held_own_bytes == 24 * run.held_rows  # key, time, arrival number


def test_w7_versions_are_published_once_in_time_order_before_the_events_they_precede():
    stream, table = run_joins.w7_make("versioned", 3_000, 300)
    first, rounds = run_joins.w7_publishes("versioned", stream, table, 250)
    assert first is None
    published: list[pl.DataFrame] = []
    events = 0
    for publishes in rounds:
        for name, frame in publishes:
            times = frame["ts"].dt.epoch("ms")
            if name == "users":
                published.append(frame)
            else:
                assert name == "events"
                events += frame.height
                sent = pl.concat(published)["ts"].dt.epoch("ms") if published else times[:0]
                # every version older than the batch's last event is out before it, and
                # no later one
                assert sent.max() is None or sent.max() < times.max()
                assert table.filter(pl.col("ts") < times.max()).height == len(sent)
    assert events == stream.height
    assert pl.concat(published).with_columns(pl.col("ts").dt.epoch("ms")).equals(table)


@pytest.mark.parametrize("form", run_joins.W7_FORMS)
def test_w7_latency_measures_each_row_from_the_publish_that_carried_its_event(form):
    stream, table = run_joins.w7_make(form, 2_000, 200)
    latency = run_joins.w7_run_latency(form, "LEFT", stream, table, rate=1e6, batch=200)
    if form == "current":
        assert latency.rows == stream.height  # every row comes out with its publish
    else:  # the last batch's rows wait for the end of input, not measured
        assert stream.height - 200 <= latency.rows < stream.height
    assert 0 < latency.p50_ms <= latency.p99_ms <= latency.max_ms
    assert latency.achieved > 0


def test_w7_benchmark_runs_tiny_without_flink():
    """The whole W7 run (frys, DuckDB, the table) at tiny sizes: counts agree, four lines."""
    pytest.importorskip("duckdb", reason="DuckDB is the bench extra's (pip install .[bench])")
    done = subprocess.run(
        [sys.executable, str(BENCH), "--workload", "W7", "--no-flink", "--events", "3000",
         "--table-rows", "300", "--batch", "500", "--rate", "1000000", "--rate-batch", "250",
         "--rate-events", "1000"], capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("W7 ")]
    assert [line.split()[1:3] for line in table] == [
        [form, kind] for form in run_joins.W7_FORMS for kind in run_joins.W7_KINDS]
    assert all(" OK " in line for line in table)
    assert "W6" not in done.stdout
