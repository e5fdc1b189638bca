"""benchmarks/run_joins.py's measures (W6, W7, W8): the rows frys gives, against plain-Python
references; the emission latency quantiles and what they count; the state bytes beyond the
payload; W7's data and its interleaving of a versioned table's changelog with the stream;
and the whole script run tiny, every workload, as CI can run it: without Flink (a JVM per
join kind: too slow for the suite; its counts are checked in the benchmark against frys'
and DuckDB's) and without DuckDB (CI installs only `.[test]`; the script skips the peer and
says so). Nothing here needs the bench extra, so nothing skips."""

from __future__ import annotations

import importlib
import math
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
BENCH = BENCHMARKS / "run_joins.py"


def _load(*names: str) -> list:
    """The benchmark modules, imported as run_joins.py imports them (by name from
    benchmarks/, which is on sys.path only while they load)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return [importlib.import_module(name) for name in names]
    finally:
        sys.path.remove(str(BENCHMARKS))


harness, w6, w7, w8, run_joins = _load("joins_harness", "joins_w6", "joins_w7", "joins_w8",
                                       "run_joins")
WITHIN = 5 * harness.MINUTE


# ---------------------------------------------------------------------- W6: interval join


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
    return w6.make(6_000, 300)


@pytest.mark.parametrize("kind", w6.KINDS)
def test_frys_rows_and_state_beyond_the_payload(kind, data):
    orders, shipments = data
    run = w6.W6.run_frys(kind, orders, shipments, batch=700)
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


@pytest.mark.parametrize("kind", w6.KINDS)
def test_latency_counts_each_pair_once_and_leaves_out_unmatched_rows(kind, data):
    orders, shipments = data
    orders, shipments = orders.head(2_000), shipments.head(2_000)
    latency = w6.W6.run_latency(kind, orders, shipments, rate=2_000_000, batch=250)
    _, pairs = reference(kind, orders, shipments)
    assert latency.rows == pairs
    assert 0 < latency.p50_ms <= latency.p99_ms <= latency.max_ms
    assert latency.offered == 2_000_000
    assert latency.achieved > 0


def test_latency_counts_the_wait_of_a_publish_due_earlier():
    """Offered far faster than frys can go, later publishes start behind their due time:
    that delay is part of their rows' latency (no coordinated omission), so the latency
    grows with the backlog to well beyond one publish's processing."""
    orders, shipments = w6.make(4_000, 50)
    latency = w6.W6.run_latency("INNER", orders, shipments, rate=1e9, batch=100)
    fast = w6.W6.run_latency("INNER", orders.head(100), shipments.head(100), rate=1e9, batch=100)
    assert latency.max_ms > 5 * fast.max_ms


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e3, allow_nan=False), st.integers(0, 20)),
                max_size=30),
       st.sampled_from([0.01, 0.5, 0.9, 0.99, 1.0]))
def test_weighted_quantile_is_the_quantile_of_the_values_repeated(entries, q):
    values = [value for value, _ in entries]
    weights = [weight for _, weight in entries]
    expanded = sorted(value for value, weight in entries for _ in range(weight))
    got = harness.weighted_quantile(values, weights, q)
    if not expanded:
        assert math.isnan(got)
        return
    # the smallest value with at least q of the rows at or below it
    want = next(v for i, v in enumerate(expanded, start=1) if i >= q * len(expanded))
    assert got == want


def test_weighted_quantile_p99_of_a_known_distribution():
    values = [float(v) for v in range(1, 101)]
    assert harness.weighted_quantile(values, [1] * 100, 0.99) == 99.0
    assert harness.weighted_quantile([1.0, 50.0], [99, 1], 0.99) == 1.0
    assert harness.weighted_quantile([1.0, 50.0], [98, 2], 0.99) == 50.0
    assert harness.weighted_quantile([3.0, 7.0], [5, 0], 1.0) == 3.0  # weight 0: no row


def test_flink_marginal_ignores_a_difference_within_the_noise():
    job = {"events": 2_000_000, "warmup_events": 20_000, "job_seconds": 30.0}
    assert harness.flink_marginal({**job, "warmup_seconds": 10.0}) == 1_980_000 / 20.0
    assert harness.flink_marginal({**job, "warmup_seconds": 29.0}) is None


def test_compare_names_each_peer_that_differs_and_says_when_none_ran():
    show = "{:,} rows".format
    assert harness.compare("W6 LEFT", 5, {"DuckDB": 5, "Flink": 5}, show) == (True, [])
    assert harness.compare("W6 LEFT", 5, {"DuckDB": 5, "Flink": 4}, show) == (
        False, ["W6 LEFT: frys 5 rows, Flink 4 rows"])
    assert harness.compare("W6 LEFT", 5, {}, show) == (None, [])  # no peer: nothing agreed


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


@pytest.fixture(scope="module", params=w7.FORMS)
def table_data(request) -> tuple[str, pl.DataFrame, pl.DataFrame]:
    stream, table = w7.make(request.param, 5_000, 400)
    return request.param, stream, table


def test_w7_data_has_events_without_a_row_and_versions_changing_under_the_stream(table_data):
    form, stream, table = table_data
    assert stream["ts"].is_sorted() and table.height == 400
    keys = w7.keys(form, 400)
    assert table["id"].n_unique() <= keys
    missing = stream.filter(~pl.col("user_id").is_in(table["id"].implode())).height
    assert 0.05 < missing / stream.height < 0.2  # about a tenth find no key
    if form == "versioned":
        assert table["ts"].is_sorted() and table["ts"].n_unique() > table.height - keys
        during = table.filter(pl.col("ts") >= harness.T0).height
        assert during > table.height / 3  # updates while the stream runs


@pytest.mark.parametrize("kind", w7.KINDS)
def test_w7_frys_rows_and_tiers_are_the_references(kind, table_data):
    form, stream, table = table_data
    run = w7.run_frys(form, kind, stream, table, batch=300)
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
    stream, table = w7.make("versioned", 3_000, 300)
    first, rounds = w7.publishes("versioned", stream, table, 250)
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


@pytest.mark.parametrize("form", w7.FORMS)
def test_w7_latency_measures_each_row_from_the_publish_that_carried_its_event(form):
    stream, table = w7.make(form, 2_000, 200)
    latency = w7.run_latency(form, "LEFT", stream, table, rate=1e6, batch=200)
    if form == "current":
        assert latency.rows == stream.height  # every row comes out with its publish
    else:  # the last batch's rows wait for the end of input, not measured
        assert stream.height - 200 <= latency.rows < stream.height
    assert 0 < latency.p50_ms <= latency.p99_ms <= latency.max_ms
    assert latency.achieved > 0


# ---------------------------------------------------------------------- W8: window join


def window_reference(kind: str, persons: pl.DataFrame, auctions: pl.DataFrame
                     ) -> dict[int, int]:
    """Rows per 10-second window (by its number, ts // 10000) by plain Python: each person
    with each auction of the same seller in the same window; LEFT, a person without one
    gives a row of its own."""
    sellers: dict[tuple[int, int], int] = {}
    for seller, ts in auctions.select("seller", "ts").iter_rows():
        at = (seller, ts // w8.WINDOW_MS)
        sellers[at] = sellers.get(at, 0) + 1
    rows: dict[int, int] = {}
    for person, ts in persons.select("id", "ts").iter_rows():
        window = ts // w8.WINDOW_MS
        met = sellers.get((person, window), 0)
        rows[window] = rows.get(window, 0) + (max(met, 1) if kind == "LEFT" else met)
    return rows


@pytest.fixture(scope="module")
def q8_data() -> tuple[pl.DataFrame, pl.DataFrame]:
    return w8.make(6_000, 300)


def test_w8_data_is_q8s_shape(q8_data):
    persons, auctions = q8_data
    assert persons.columns == ["id", "name", "ts"] and auctions.columns == ["seller",
                                                                            "reserve", "ts"]
    assert persons["name"].to_list()[:3] == [f"p{i}" for i in persons["id"].to_list()[:3]]
    assert (auctions["ts"] - persons["ts"]).unique().to_list() == [5]
    assert harness.T0 % w8.WINDOW_MS == 0  # windows start with the data: 1,000 rows each


@pytest.mark.parametrize("kind", w8.KINDS)
def test_w8_frys_rows_and_state_are_the_open_windows(kind, q8_data):
    persons, auctions = q8_data
    run = w8.W8.run_frys(kind, persons, auctions, batch=700)
    assert run.rows == sum(window_reference(kind, persons, auctions).values())
    # sampled after both streams' publish of a round, the watermark has fired every window
    # but the one the round ends in: at most its 1,000 rows of each side are buffered
    assert 0 < run.buffered <= 2 * 1_000
    # beyond the payload, the key (an Int64 copy of id/seller) and the window start (Int64)
    assert run.overhead_per_row() == 16
    assert 0 < run.payload_bytes < run.state_bytes


@pytest.mark.parametrize("kind", w8.KINDS)
def test_w8_latency_counts_the_rows_of_the_windows_publishes_fire(kind, q8_data):
    """2,000 events of each stream span two windows: the first fires during a publish (both
    streams pass its end) and is measured, every row of it, LEFT's unmatched ones too; the
    second fires only at the end of input, which no publish is due for."""
    persons, auctions = (frame.head(2_000) for frame in q8_data)
    latency = w8.W8.run_latency(kind, persons, auctions, rate=2_000_000, batch=250)
    windows = window_reference(kind, persons, auctions)
    assert len(windows) == 2
    assert latency.rows == windows[harness.T0 // w8.WINDOW_MS] > 0
    assert 0 < latency.p50_ms <= latency.p99_ms <= latency.max_ms
    assert latency.achieved > 0


# ---------------------------------------------------------------------- the script, tiny

TINY = {"events": 3_000, "keys": 300, "table_rows": 300}
TINY_ARGS = ["--events", "3000", "--keys", "300", "--table-rows", "300", "--batch", "500",
             "--rate", "1000000", "--rate-batch", "250", "--rate-events", "1000",
             "--no-flink"]


def table_lines(stdout: str) -> dict[str, list[str]]:
    """The result tables' rows by job label ("W7 current INNER") -> the columns after it."""
    lines = {}
    for line in stdout.splitlines():
        match = re.match(r"(W[678](?: current| versioned)? (?:INNER|LEFT))\s+(\d.*)", line)
        if match:
            lines[match.group(1)] = match.group(2).split()
    return lines


def expected_rows() -> dict[str, int]:
    """Every job's rows at TINY's sizes, by the references above."""
    want = {}
    orders, shipments = w6.make(TINY["events"], TINY["keys"])
    for kind in w6.KINDS:
        want[f"W6 {kind}"] = reference(kind, orders, shipments)[0]
    for form in w7.FORMS:
        stream, table = w7.make(form, TINY["events"], TINY["table_rows"])
        for kind in w7.KINDS:
            want[f"W7 {form} {kind}"] = table_reference(form, kind, stream, table)[0]
    persons, auctions = w8.make(TINY["events"], TINY["keys"])
    for kind in w8.KINDS:
        want[f"W8 {kind}"] = sum(window_reference(kind, persons, auctions).values())
    return want


@pytest.fixture(scope="module")
def tiny_run() -> subprocess.CompletedProcess:
    """The script with its default workload (all), without either peer."""
    return subprocess.run([sys.executable, str(BENCH), *TINY_ARGS, "--no-duckdb"],
                          capture_output=True, text=True, check=False, timeout=600)


def test_the_benchmark_runs_every_workload_tiny_in_order(tiny_run):
    assert tiny_run.returncode == 0, tiny_run.stderr[-2000:]
    headers = [line.split(":")[0] for line in tiny_run.stdout.splitlines()
               if re.match(r"W[678]: ", line)]
    assert headers == ["W6", "W7", "W8"] == list(run_joins.WORKLOADS)
    assert list(table_lines(tiny_run.stdout)) == list(expected_rows())


def test_the_tiny_run_gives_the_references_rows(tiny_run):
    """frys' rows (the table's rows column) are the plain-Python references'; with no peer
    run, the counts column says nothing was compared, and each table says why."""
    got = table_lines(tiny_run.stdout)
    assert {job: int(columns[-6].replace(",", "")) for job, columns in got.items()} == (
        expected_rows())
    assert all(columns[-5] == "-" for columns in got.values())
    # frys' events/s is there; every peer column is `-`
    assert all(float(columns[0].replace(",", "")) > 0 and columns[1:7] == ["-"] * 6
               for columns in got.values())
    assert tiny_run.stdout.count("(DuckDB peer skipped: --no-duckdb)") == 3
    assert tiny_run.stdout.count("(Flink peer skipped: --no-flink)") == 3


def test_without_duckdb_installed_the_run_skips_its_peer_and_says_so():
    """As CI runs it (no bench extra): duckdb made unimportable in the child, the script
    goes through frys alone, exit status 0, and names what it skipped."""
    hide = ("import runpy, sys; sys.modules['duckdb'] = None; "
            f"sys.path.insert(0, {str(BENCHMARKS)!r}); "
            f"sys.argv = ['run_joins.py', *{[*TINY_ARGS, '--workload', 'W8']!r}]; "
            f"runpy.run_path({str(BENCH)!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(DuckDB peer skipped: duckdb is not installed" in done.stdout
    assert "DuckDB INNER" not in done.stdout and "W6" not in done.stdout
    got = table_lines(done.stdout)
    want = expected_rows()
    assert {job: int(columns[-6].replace(",", "")) for job, columns in got.items()} == {
        job: rows for job, rows in want.items() if job.startswith("W8")}
