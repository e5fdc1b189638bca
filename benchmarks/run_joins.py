"""W6: the interval join of two streams (issue 14), with Flink SQL and DuckDB beside; W7: the
stream-table joins, and W8: the window join (NEXMark q8's shape), the same three.

    .venv/bin/python benchmarks/run_joins.py [--events 1000000] [--keys 100000]
        [--batch 100000] [--rate 100000] [--rate-batch 1000] [--rate-events 300000]
        [--flink-python ~/.cache/frys/flink-2.3.0/bin/python | --no-flink]
        [--workload W6 | W7 | W8 | all] [--table-rows 100000]

W7 (`--workload W7`, or after W6 by default): `--events` stream events enriched from a
table of `--table-rows` rows, current rows (the table published whole first) and versioned
(a changelog of versions interleaved with the stream, each event joined as of its time),
INNER and LEFT; DuckDB (hash join / ASOF join) and Flink SQL (peer_flink_joins.py main_w7:
a regular join with the bounded table / the event-time temporal join) beside; rows and the
sum of the joined `tier` compared; latency as for W6, each row from when the publish that
carried its event was due. W7's functions below say more; benchmarks/README.md says what
each peer computes.

W8 (`--workload W8`, or after W6 and W7 by default): `--events` persons (id, name) and as many
auctions (seller, reserve) over `--keys` keys, `ts` rising 10 ms per event on each stream
(auctions 5 ms later); `FROM persons p [LEFT] JOIN auctions a ON p.id = a.seller WITHIN
TUMBLE(10 SECONDS)` selecting p.id, p.name, window_start (NEXMark q8's columns); Flink SQL
with its window table-valued functions (peer_flink_joins.py main_w8: a WindowJoin plan),
DuckDB as one statement joining on the key and `ts // 10000`. Throughput, latency and state
are measured as for W6 below, except that a window's rows are emitted by the publish whose
watermark fires the window (its latency is counted from when that publish was due).

`--events` orders and as many shipments over `--keys` keys (`id` = `order_id`, uniform),
`ts` rising by 10 ms per event on each stream, shipments one minute after the orders'
clock; the join is `ON o.id = s.order_id WITHIN 5 MINUTES`, INNER and LEFT:

* frys: a `frys.Pipeline` (the whole runtime: topics, the two inputs' combined watermark,
  the operator), fed the two streams as polars DataFrames of `--batch` rows, taking turns,
  as fast as it takes them; the rows go to a subscriber that counts them (results are not
  kept);
* Flink SQL (peer_flink_joins.py, in a child process with the Python that has apache-flink,
  by default the venv tests/flink_oracle/install.py makes): the same rows from CSV files,
  streaming mode, parallelism 1, `o.rt BETWEEN s.rt - INTERVAL '5' MINUTE AND s.rt +
  INTERVAL '5' MINUTE` planned as Flink's IntervalJoin, the rows counted in the JVM;
* DuckDB: the same join as one SQL statement over Arrow scans of the two frames (a batch
  engine seeing everything at once, all cores: the no-streaming-overhead reference).

All run in this process run, one after the other, after the data is made. Events/s is
orders + shipments over the wall time. Row counts must agree (OK/MISMATCH, and the exit
status is 1 on a mismatch).

Latency (frys): a fresh pipeline is fed the first `--rate-events` of each stream at a fixed
offered rate of `--rate` events/s (both streams together) in publishes of `--rate-batch`
rows, orders and shipments taking turns, each publish due at a fixed time on a schedule
(a paced loop that sleeps until then). A pair is emitted while the publish holding its
later row is processed (publish is synchronous), so a row's emission latency is the wall
time from when that publish was due to when the subscriber got the row: the delay of a
publish that starts late (frys behind the offered rate) is counted, not hidden. LEFT's
unmatched rows are emitted by the watermark, not by an event, and are left out.

State (frys): sampled after each throughput batch; at the sample with the largest state,
bytes per buffered row excluding the payload columns = (state bytes - the bytes of the
buffered input columns) / buffered rows, the buffers read through the operator's
`snapshot()` (its own columns: keys, time, and for LEFT row number and matched flag).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

import frys

MINUTE = 60_000
T0 = 1_700_000_000_000
KINDS = ("INNER", "LEFT")
TARGET_VS_FLINK = 3.0  # issue 14: at least 3x Flink's events/s on W6

JOB = """
CREATE STREAM orders (id INT, amount FLOAT, ts TIMESTAMP) WITH (event_time = ts);
CREATE STREAM shipments (order_id INT, carrier INT, ts TIMESTAMP) WITH (event_time = ts);
CREATE STREAM joined (id INT, amount FLOAT, carrier INT);
INSERT INTO joined SELECT o.id, o.amount, s.carrier
FROM orders o {kind} JOIN shipments s ON o.id = s.order_id WITHIN 5 MINUTES;
"""

PEER = """
SELECT count(*) FROM orders o {kind} JOIN shipments s
    ON o.id = s.order_id AND s.ts BETWEEN o.ts - 300000 AND o.ts + 300000
"""


@dataclass
class FrysRun:
    rows: int
    seconds: float
    state_bytes: int  # the largest state sampled
    buffered: int  # rows buffered (both sides) at that sample
    payload_bytes: int  # of which the buffered input columns

    def per_row(self) -> float:
        return self.state_bytes / max(self.buffered, 1)

    def overhead_per_row(self) -> float:
        return (self.state_bytes - self.payload_bytes) / max(self.buffered, 1)


@dataclass
class Latency:
    rows: int  # rows measured (pairs)
    p50_ms: float
    p99_ms: float
    max_ms: float
    offered: float  # events/s asked
    achieved: float  # events/s over the whole paced run


@dataclass
class KindResult:
    kind: str
    frys: FrysRun
    duck_seconds: float
    flink: dict | None  # peer_flink_joins.py's JSON line, with wall_seconds
    latency: Latency
    agree: bool  # every peer gave frys' row count


def make(events: int, keys: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = random.Random(14)
    times = pl.int_range(0, events, eager=True, dtype=pl.Int64) * 10 + T0
    orders = pl.DataFrame({"id": [rng.randrange(keys) for _ in range(events)],
                           "amount": [rng.random() for _ in range(events)], "ts": times})
    shipments = pl.DataFrame({"order_id": [rng.randrange(keys) for _ in range(events)],
                              "carrier": [rng.randrange(5) for _ in range(events)],
                              "ts": times + MINUTE})
    return orders, shipments


def pipeline_for(kind: str) -> frys.Pipeline:
    return frys.Pipeline.from_text(JOB.format(kind="" if kind == "INNER" else kind),
                                   keep_results=False)


def as_streams(orders: pl.DataFrame, shipments: pl.DataFrame
               ) -> list[tuple[str, pl.DataFrame]]:
    return [(name, frame.with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC"))))
            for name, frame in (("orders", orders), ("shipments", shipments))]


def payload_bytes(operator: object) -> int:
    """The bytes of the input columns the join buffers (named `<qualifier>.<column>`; the
    operator's own columns start with `__`), read through its snapshot."""
    tables = operator.snapshot().tables  # type: ignore[attr-defined]
    return sum(int(column.estimated_size()) for table in tables.values()
               for column in table.get_columns() if not column.name.startswith("__"))


def run_frys(kind: str, orders: pl.DataFrame, shipments: pl.DataFrame, batch: int
             ) -> FrysRun:
    pipeline = pipeline_for(kind)
    out = [0]
    pipeline.subscribe("joined", lambda frame: out.__setitem__(0, out[0] + frame.height))
    operator = pipeline.runtime.queries[0].operator  # type: ignore[attr-defined]
    inputs = as_streams(orders, shipments)
    largest, rows_then, payload_then = 0, 0, 0
    sampling = 0.0  # the time spent sampling the state, not counted as frys' work
    start = time.perf_counter()
    for offset in range(0, orders.height, batch):
        for name, frame in inputs:
            pipeline.publish(name, frame.slice(offset, batch))
        sampled = time.perf_counter()
        size = operator.state_size()
        if size > largest:
            largest, rows_then = size, sum(operator.buffered_rows())
            payload_then = payload_bytes(operator)
        sampling += time.perf_counter() - sampled
    pipeline.finish()
    seconds = time.perf_counter() - start - sampling
    return FrysRun(out[0], seconds, largest, rows_then, payload_then)


def run_latency(kind: str, orders: pl.DataFrame, shipments: pl.DataFrame, rate: float,
                batch: int) -> Latency:
    """Emission latency at a fixed offered rate; see the module docstring."""
    pipeline = pipeline_for(kind)
    due = [0.0]  # when the publish being processed was due
    measuring = [True]
    latencies: list[float] = []
    counts: list[int] = []

    def emitted(frame: pl.DataFrame) -> None:
        now = time.perf_counter()
        pairs = frame["carrier"].count()  # LEFT's unmatched rows have no carrier
        if pairs and measuring[0]:
            latencies.append(now - due[0])
            counts.append(pairs)

    pipeline.subscribe("joined", emitted)
    inputs = as_streams(orders, shipments)
    step = batch / rate  # seconds between two publishes
    publishes = 0
    start = time.perf_counter()
    for offset in range(0, orders.height, batch):
        for name, frame in inputs:
            due[0] = start + publishes * step
            publishes += 1
            wait = due[0] - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            pipeline.publish(name, frame.slice(offset, batch))
    seconds = time.perf_counter() - start
    measuring[0] = False  # what finishing emits is no publish's doing
    pipeline.finish()
    quantiles = [weighted_quantile(latencies, counts, q) * 1000 for q in (0.5, 0.99)]
    return Latency(sum(counts), *quantiles, max(latencies, default=float("nan")) * 1000, rate,
                   (orders.height + shipments.height) / seconds)


def weighted_quantile(values: list[float], weights: list[int], q: float) -> float:
    """The q-quantile of `values`, each repeated `weights` times: the smallest value whose
    cumulative weight reaches q of the total (NaN when there is none)."""
    total = sum(weights)
    if total == 0:
        return float("nan")
    ranked = pl.DataFrame({"value": values, "weight": weights},
                          schema={"value": pl.Float64, "weight": pl.Int64}).sort("value")
    return float(ranked.filter(pl.col("weight").cum_sum() >= q * total)["value"][0])


def run_duckdb(kind: str, orders: pl.DataFrame, shipments: pl.DataFrame) -> tuple[int, float]:
    import duckdb  # the bench extra: not needed to import this module (tests do)

    start = time.perf_counter()
    with duckdb.connect(":memory:") as connection:
        connection.register("orders", orders.to_arrow())
        connection.register("shipments", shipments.to_arrow())
        row = connection.execute(PEER.format(kind="" if kind == "INNER" else kind)).fetchone()
    assert row is not None
    return int(row[0]), time.perf_counter() - start


def default_flink_python() -> Path:
    """The venv tests/flink_oracle/install.py makes (same FRYS_FLINK_HOME rule)."""
    home = os.environ.get("FRYS_FLINK_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".cache/frys/flink-2.3.0"
    return base / "bin" / "python"


def flink_usable(python: str) -> str | None:
    """Why the Flink peer cannot run, or None when it can."""
    if shutil.which("java") is None:
        return "java not on PATH"
    if not Path(python).exists():
        return (f"{python} does not exist (run .venv/bin/python tests/flink_oracle/install.py "
                "or pass --flink-python)")
    probe = subprocess.run([python, "-c", "import pyflink"], capture_output=True, check=False)
    if probe.returncode != 0:
        return f"apache-flink not installed for {python}"
    return None


def run_flink(python: str, kind: str, orders_csv: Path, shipments_csv: Path) -> dict:
    script = Path(__file__).resolve().with_name("peer_flink_joins.py")
    started = time.perf_counter()
    done = subprocess.run([python, str(script), kind, str(orders_csv), str(shipments_csv)],
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"flink {kind} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "wall_seconds": wall}


def flink_marginal(flink: dict) -> float | None:
    """Flink's events/s without a job's fixed cost: (events - warm-up events) / (job - warm-up
    seconds); None when the difference of the times is within their noise (under 10%)."""
    extra = flink["job_seconds"] - flink["warmup_seconds"]
    if extra < 0.1 * flink["job_seconds"]:
        return None
    return (flink["events"] - flink["warmup_events"]) / extra


def write_csvs(directory: Path, orders: pl.DataFrame, shipments: pl.DataFrame
               ) -> tuple[Path, Path]:
    """The two streams as Flink's filesystem source reads them: no header, ts in epoch ms."""
    paths = directory / "orders.csv", directory / "shipments.csv"
    orders.write_csv(paths[0], include_header=False)
    shipments.write_csv(paths[1], include_header=False)
    return paths


def each(lines: list[KindResult], show: Callable[[KindResult], str]) -> str:
    """`INNER <show(inner)>, LEFT <show(left)>`."""
    return ", ".join(f"{line.kind} {show(line)}" for line in lines)


def run_w6(args: argparse.Namespace, why_not: str | None) -> list[str]:
    """W6, frys beside DuckDB and Flink SQL's interval join, INNER and LEFT; prints its
    table and returns the row-count mismatches."""
    orders, shipments = make(args.events, args.keys)
    total = 2 * args.events
    lines: list[KindResult] = []
    mismatches: list[str] = []
    with tempfile.TemporaryDirectory(prefix="frys_joins_") as tmp:
        csvs = write_csvs(Path(tmp), orders, shipments) if why_not is None else None
        print(f"W6: {args.events:,} orders + {args.events:,} shipments over {args.keys:,} "
              f"keys, WITHIN 5 MINUTES; frys batches of {args.batch:,} rows", flush=True)
        for kind in KINDS:
            frys_run = run_frys(kind, orders, shipments, args.batch)
            print(f"  frys {kind}: {total / frys_run.seconds:,.0f} events/s", flush=True)
            duck_rows, duck_seconds = run_duckdb(kind, orders, shipments)
            print(f"  DuckDB {kind}: {total / duck_seconds:,.0f} events/s", flush=True)
            flink = None
            if csvs is not None:
                flink = run_flink(args.flink_python, kind, *csvs)
                print(f"  Flink {kind}: {flink['events'] / flink['job_seconds']:,.0f} "
                      f"events/s (job)", flush=True)
            latency = run_latency(kind, orders.head(args.rate_events),
                                  shipments.head(args.rate_events), args.rate, args.rate_batch)
            print(f"  frys {kind} at {args.rate:,.0f} events/s offered: p99 "
                  f"{latency.p99_ms:.1f} ms", flush=True)
            counts = {"DuckDB": duck_rows} | ({"Flink": flink["rows"]} if flink else {})
            for peer, rows in counts.items():
                if rows != frys_run.rows:
                    mismatches.append(f"{kind}: frys {frys_run.rows:,} rows, {peer} {rows:,}")
            lines.append(KindResult(kind, frys_run, duck_seconds, flink, latency,
                                    all(rows == frys_run.rows for rows in counts.values())))

    print(f"\n{'job':<9}{'frys ev/s':>12}{'Flink ev/s':>12}{'Flink marg.':>13}"
          f"{'frys/Flink':>12}{'(marg.)':>9}{'DuckDB ev/s':>13}{'frys/DuckDB':>13}{'rows':>11}"
          f"  {'counts':<9}{'p50 ms':>8}{'p99 ms':>8}{'B/row':>7}{'state MB':>10}")
    verdicts = []
    for line in lines:
        kind, r, duck_seconds, flink, latency = (line.kind, line.frys, line.duck_seconds,
                                                 line.flink, line.latency)
        rate = total / r.seconds
        if flink:
            flink_rate = flink["events"] / flink["job_seconds"]
            marginal = flink_marginal(flink)
            flink_cols = (f"{flink_rate:>12,.0f}{marginal:>13,.0f}{rate / flink_rate:>11.1f}x"
                          f"{rate / marginal:>8.1f}x" if marginal else
                          f"{flink_rate:>12,.0f}{'-':>13}{rate / flink_rate:>11.1f}x{'-':>9}")
            ratios = f"{rate / flink_rate:.1f}x (job)" + (
                f", {rate / marginal:.1f}x (marginal)" if marginal else "")
            met = "met" if rate >= TARGET_VS_FLINK * flink_rate else "NOT met"
            verdicts.append(f"W6 {kind}: frys/Flink {ratios}; target {TARGET_VS_FLINK:.0f}x "
                            f"(job) {met}")
        else:
            flink_cols = f"{'-':>12}{'-':>13}{'-':>12}{'-':>9}"
        print(f"{'W6 ' + kind:<9}{rate:>12,.0f}{flink_cols}{total / duck_seconds:>13,.0f}"
              f"{duck_seconds / r.seconds:>12.2f}x{r.rows:>11,}  "
              f"{'OK' if line.agree else 'MISMATCH':<9}{latency.p50_ms:>8.1f}{latency.p99_ms:>8.1f}"
              f"{r.overhead_per_row():>7.0f}{r.state_bytes / 1e6:>10.1f}")
    print(f"latency: frys, {args.rate:,.0f} events/s offered in publishes of "
          f"{args.rate_batch:,} rows over the first {args.rate_events:,} events of each stream "
          f"(achieved: {each(lines, lambda x: f'{x.latency.achieved:,.0f}')}); pairs "
          f"measured: {each(lines, lambda x: f'{x.latency.rows:,}')}; max "
          f"{each(lines, lambda x: f'{x.latency.max_ms:.1f} ms')}")
    print("B/row: state bytes per buffered row beyond the payload columns, at the largest "
          f"state (payload included: {each(lines, lambda x: f'{x.frys.per_row():.0f}')}; "
          f"buffered rows then: {each(lines, lambda x: f'{x.frys.buffered:,}')})")
    if why_not is None:
        version = lines[0].flink["version"]  # type: ignore[index]
        warmup = lines[0].flink["warmup_events"]  # type: ignore[index]
        rss = each(lines, lambda x: f"{x.flink['peak_rss_mb']:,.0f} MB")  # type: ignore[index]
        print(f"Flink {version}, parallelism 1, no latency measure (see benchmarks/README.md)."
              " ev/s: from submitting the query to the last count, after a warm-up of the same"
              f" job over the first {warmup:,} events; marg.: without the warm-up's fixed "
              "cost; peak RSS (Python + JVM) "
              f"{rss}")
        for verdict in verdicts:
            print(verdict)
    else:
        print(f"(Flink peer skipped: {why_not})")
    return mismatches


# ---------------------------------------------------------------------- W7: stream-table joins

W7_FORMS = ("current", "versioned")
W7_KINDS = ("INNER", "LEFT")
W7_JOB = """
CREATE STREAM events (user_id INT, amount FLOAT, ts TIMESTAMP) WITH (event_time = ts);
CREATE TABLE users (id INT PRIMARY KEY, tier INT{time_column}){options};
CREATE STREAM enriched (user_id INT, amount FLOAT, tier INT, ts TIMESTAMP);
INSERT INTO enriched SELECT e.user_id, e.amount, u.tier, e.ts FROM events e {kind} JOIN users u
    ON e.user_id = u.id;
"""
W7_PEERS = {  # DuckDB: a hash join; the version valid at each event's time, an ASOF join
    "current": "SELECT count(*), sum(u.tier) FROM events e {kind} JOIN users u "
               "ON e.user_id = u.id",
    "versioned": "SELECT count(*), sum(u.tier) FROM events e ASOF {kind} JOIN users u "
                 "ON e.user_id = u.id AND e.ts >= u.ts",
}
W7_STEP_MS = 10  # the stream's event time per event


@dataclass
class TableRun:
    rows: int
    tiers: int  # the sum of the joined `tier` column: which row or version each event got
    seconds: float
    state_bytes: int  # the largest state sampled
    table_rows: int  # rows of table state (current rows, or versions) at that sample
    table_own_bytes: int  # of which the operator's own columns of the table (key, version)
    held_rows: int  # versioned: stream rows waiting for the watermark at that sample
    held_own_bytes: int  # their own columns (key, time, arrival number)

    def overhead_per_row(self) -> float:
        return self.table_own_bytes / max(self.table_rows, 1)


@dataclass
class TableResult:
    form: str
    kind: str
    frys: TableRun
    duck_seconds: float
    flink: dict | None
    latency: Latency
    agree: bool


def w7_keys(form: str, table_rows: int) -> int:
    """The table's keys: a row each (current), or half as many, each with an initial
    version and on average one update (versioned)."""
    return table_rows if form == "current" else table_rows // 2


def w7_make(form: str, events: int, table_rows: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(stream, table). The stream: `events` rows, `user_id` uniform over 1.1x the table's
    keys (a tenth of the events find no key), `ts` rising W7_STEP_MS per event from T0.
    Current: `table_rows` users (id, tier). Versioned: `table_rows` versions (id, tier, ts) of
    table_rows/2 keys in time order: an initial version at T0 - 1 (the state before the
    stream) for nine keys in ten, then the rest as updates of random keys at distinct random
    times over the stream's span (so some events come before their key's first version, and
    most keys change while the stream runs)."""
    rng = random.Random(7)
    keys = w7_keys(form, table_rows)
    initial = keys * 9 // 10
    times = pl.int_range(0, events, eager=True, dtype=pl.Int64) * W7_STEP_MS + T0
    users = int(keys * 1.1)
    stream = pl.DataFrame({"user_id": [rng.randrange(users) for _ in range(events)],
                           "amount": [rng.random() for _ in range(events)], "ts": times})
    if form == "current":
        table = pl.DataFrame({"id": pl.int_range(0, keys, eager=True, dtype=pl.Int64),
                              "tier": [rng.randrange(4) for _ in range(keys)]})
        return stream, table
    updates = table_rows - initial
    table = pl.DataFrame({
        "id": list(range(initial)) + [rng.randrange(keys) for _ in range(updates)],
        "tier": [rng.randrange(4) for _ in range(table_rows)],
        # distinct times: two versions of a key never tie (DuckDB's ASOF would pick either)
        "ts": [T0 - 1] * initial + [T0 + t for t in rng.sample(range(events * W7_STEP_MS),
                                                                updates)],
    }).sort("ts", maintain_order=True)
    return stream, table


def w7_pipeline(form: str, kind: str) -> frys.Pipeline:
    versioned = form == "versioned"
    job = W7_JOB.format(time_column=", ts TIMESTAMP" if versioned else "",
                        options=" WITH (event_time = ts)" if versioned else "",
                        kind="" if kind == "INNER" else kind)
    return frys.Pipeline.from_text(job, keep_results=False)


def w7_publishes(form: str, stream: pl.DataFrame, table: pl.DataFrame, batch: int
                 ) -> tuple[pl.DataFrame | None, list[list[tuple[str, pl.DataFrame]]]]:
    """(what is published before the stream, the publishes of each stream batch). Current:
    the whole table first (as a `file:` table is read before the streams), then the stream
    in batches. Versioned: the changelog interleaved with the stream, in event time: before
    each stream batch, the versions older than the batch's last event not yet published."""
    utc = pl.Datetime("ms", "UTC")
    stream = stream.with_columns(pl.col("ts").cast(utc))
    if form == "current":
        return table, [[("events", stream.slice(offset, batch))]
                       for offset in range(0, stream.height, batch)]
    versions = table["ts"]
    table = table.with_columns(pl.col("ts").cast(utc))
    rounds, done = [], 0
    for offset in range(0, stream.height, batch):
        chunk = stream.slice(offset, batch)
        last = T0 + (offset + chunk.height - 1) * W7_STEP_MS
        upto = int(versions.search_sorted(last, side="left"))
        publishes = [("users", table.slice(done, upto - done))] if upto > done else []
        done = upto
        rounds.append(publishes + [("events", chunk)])
    if done < table.height:
        rounds[-1].append(("users", table.slice(done)))
    return None, rounds


def own_bytes(frame: pl.DataFrame) -> int:
    """The bytes of an operator's own columns in a state table (named `__...`)."""
    return sum(int(column.estimated_size()) for column in frame.get_columns()
               if column.name.startswith("__"))


def w7_run_frys(form: str, kind: str, stream: pl.DataFrame, table: pl.DataFrame, batch: int
                ) -> TableRun:
    """The stream in `batch`-row publishes (versioned: with the changelog between them),
    as fast as frys takes them; the state sampled after each batch (not counted)."""
    pipeline = w7_pipeline(form, kind)
    out = [0, 0]

    def count(frame: pl.DataFrame) -> None:
        out[0] += frame.height
        out[1] += int(frame["tier"].sum())

    pipeline.subscribe("enriched", count)
    operator = pipeline.runtime.queries[0].operator  # type: ignore[attr-defined]
    first, rounds = w7_publishes(form, stream, table, batch)
    largest, sample = 0, (0, 0, 0, 0)
    sampling = 0.0
    start = time.perf_counter()
    if first is not None:
        pipeline.publish("users", first)
    for publishes in rounds:
        for name, frame in publishes:
            pipeline.publish(name, frame)
        sampled = time.perf_counter()
        size = operator.state_size()
        if size > largest:
            state = operator.snapshot().tables
            largest = size
            sample = (state["table"].height, own_bytes(state["table"]), state["held"].height,
                      own_bytes(state["held"]))
        sampling += time.perf_counter() - sampled
    pipeline.finish()
    seconds = time.perf_counter() - start - sampling
    return TableRun(out[0], out[1], seconds, largest, *sample)


def w7_run_latency(form: str, kind: str, stream: pl.DataFrame, table: pl.DataFrame,
                   rate: float, batch: int) -> Latency:
    """Emission latency at a fixed offered rate of stream events, W6's paced loop: stream
    publishes of `batch` rows, each due at a fixed time (versioned: the changelog rows due
    before it published just before it, unpaced); the table of a current-row join is
    published before the clock starts. A row's latency runs from when the publish that
    carried its stream event was due (known from its `ts`) to when the subscriber got it:
    a versioned join's wait for the watermark is counted, as is a publish's late start."""
    pipeline = w7_pipeline(form, kind)
    dues: list[float] = []
    measuring = [True]
    latencies: list[float] = []
    counts: list[int] = []

    def emitted(frame: pl.DataFrame) -> None:
        now = time.perf_counter()
        if not measuring[0]:
            return
        carried = ((frame["ts"].dt.epoch("ms") - T0) // (W7_STEP_MS * batch)).value_counts()
        for publish, rows in carried.iter_rows():
            latencies.append(now - dues[publish])
            counts.append(rows)

    pipeline.subscribe("enriched", emitted)
    first, rounds = w7_publishes(form, stream, table, batch)
    if first is not None:
        pipeline.publish("users", first)
    step = batch / rate
    start = time.perf_counter()
    for number, publishes in enumerate(rounds):
        dues.append(start + number * step)
        wait = dues[-1] - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        for name, frame in publishes:
            pipeline.publish(name, frame)
    seconds = time.perf_counter() - start
    measuring[0] = False  # what finishing releases is no publish's doing
    pipeline.finish()
    quantiles = [weighted_quantile(latencies, counts, q) * 1000 for q in (0.5, 0.99)]
    return Latency(sum(counts), *quantiles, max(latencies, default=float("nan")) * 1000, rate,
                   stream.height / seconds)


def w7_run_duckdb(form: str, kind: str, stream: pl.DataFrame, table: pl.DataFrame
                  ) -> tuple[tuple[int, int], float]:
    """((rows, the sum of their tiers), seconds)."""
    import duckdb

    start = time.perf_counter()
    with duckdb.connect(":memory:") as connection:
        connection.register("events", stream.to_arrow())
        connection.register("users", table.to_arrow())
        query = W7_PEERS[form].format(kind="" if kind == "INNER" else kind)
        row = connection.execute(query).fetchone()
    assert row is not None
    return (int(row[0]), int(row[1] or 0)), time.perf_counter() - start


def w7_write_csvs(directory: Path, form: str, stream: pl.DataFrame, table: pl.DataFrame
                  ) -> tuple[Path, Path]:
    """`user_id,amount,ts` and `id,tier` (versioned: `id,tier,ts`), no header, epoch ms."""
    paths = directory / f"events_{form}.csv", directory / f"users_{form}.csv"
    stream.write_csv(paths[0], include_header=False)
    table.write_csv(paths[1], include_header=False)
    return paths


def run_w7(args: argparse.Namespace, why_not: str | None) -> list[str]:
    """W7, frys beside DuckDB and Flink SQL, current rows and versioned, INNER and LEFT;
    prints its table and returns the row-count mismatches."""
    lines: list[TableResult] = []
    mismatches: list[str] = []
    print(f"W7: {args.events:,} stream events enriched from a {args.table_rows:,}-row table; "
          f"frys batches of {args.batch:,} rows", flush=True)
    with tempfile.TemporaryDirectory(prefix="frys_w7_") as tmp:
        for form in W7_FORMS:
            stream, table = w7_make(form, args.events, args.table_rows)
            total = stream.height + table.height
            csvs = w7_write_csvs(Path(tmp), form, stream, table) if why_not is None else None
            for kind in W7_KINDS:
                name = f"{form} {kind}"
                run = w7_run_frys(form, kind, stream, table, args.batch)
                print(f"  frys {name}: {total / run.seconds:,.0f} events/s", flush=True)
                duck_rows, duck_seconds = w7_run_duckdb(form, kind, stream, table)
                print(f"  DuckDB {name}: {total / duck_seconds:,.0f} events/s", flush=True)
                flink = None
                if csvs is not None:
                    flink = run_flink(args.flink_python, f"W7_{form}_{kind}", *csvs)
                    print(f"  Flink {name}: {flink['events'] / flink['job_seconds']:,.0f} "
                          f"events/s (job)", flush=True)
                head = stream.head(args.rate_events)
                latency = w7_run_latency(form, kind, head, table.filter(
                    pl.col("ts") <= head["ts"].max()) if form == "versioned" else table,
                    args.rate, args.rate_batch)
                print(f"  frys {name} at {args.rate:,.0f} events/s offered: p99 "
                      f"{latency.p99_ms:.1f} ms", flush=True)
                # rows and the sum of their tiers: which row (version) each event got
                ours = (run.rows, run.tiers)
                counts = {"DuckDB": duck_rows} | (
                    {"Flink": (flink["rows"], flink["tiers"])} if flink else {})
                for peer, theirs in counts.items():
                    if theirs != ours:
                        mismatches.append(f"W7 {name}: frys {ours[0]:,} rows (tiers "
                                          f"{ours[1]:,}), {peer} {theirs[0]:,} ({theirs[1]:,})")
                lines.append(TableResult(form, kind, run, duck_seconds, flink, latency,
                                         all(theirs == ours for theirs in counts.values())))
    print(f"\n{'job':<18}{'frys ev/s':>12}{'Flink ev/s':>12}{'Flink marg.':>13}"
          f"{'frys/Flink':>12}{'(marg.)':>9}{'DuckDB ev/s':>13}{'frys/DuckDB':>13}{'rows':>11}"
          f"  {'counts':<9}{'p50 ms':>8}{'p99 ms':>8}{'B/row':>7}{'state MB':>10}")
    verdicts = []
    total = args.events + args.table_rows
    for line in lines:
        r, flink, latency = line.frys, line.flink, line.latency
        rate = total / r.seconds
        if flink:
            flink_rate = flink["events"] / flink["job_seconds"]
            marginal = flink_marginal(flink)
            flink_cols = (f"{flink_rate:>12,.0f}{marginal:>13,.0f}{rate / flink_rate:>11.1f}x"
                          f"{rate / marginal:>8.1f}x" if marginal else
                          f"{flink_rate:>12,.0f}{'-':>13}{rate / flink_rate:>11.1f}x{'-':>9}")
            met = "met" if rate >= TARGET_VS_FLINK * flink_rate else "NOT met"
            verdicts.append(f"W7 {line.form} {line.kind}: frys/Flink {rate / flink_rate:.1f}x "
                            f"(job); target {TARGET_VS_FLINK:.0f}x {met}")
        else:
            flink_cols = f"{'-':>12}{'-':>13}{'-':>12}{'-':>9}"
        print(f"{'W7 ' + line.form + ' ' + line.kind:<18}{rate:>12,.0f}{flink_cols}"
              f"{total / line.duck_seconds:>13,.0f}{line.duck_seconds / r.seconds:>12.2f}x"
              f"{r.rows:>11,}  {'OK' if line.agree else 'MISMATCH':<9}{latency.p50_ms:>8.1f}"
              f"{latency.p99_ms:>8.1f}{r.overhead_per_row():>7.0f}{r.state_bytes / 1e6:>10.1f}")
    show = ", ".join
    print("counts: rows and the sum of their `tier` agree with every peer's; "
          f"events: stream + table rows ({args.events:,} + {args.table_rows:,}); latency: frys, "
          f"{args.rate:,.0f} stream events/s offered in publishes of {args.rate_batch:,} rows "
          f"over the first {args.rate_events:,} events (achieved: "
          + show(f"{x.form} {x.kind} {x.latency.achieved:,.0f}" for x in lines)
          + "); rows measured: " + show(f"{x.latency.rows:,}" for x in lines) + "; max "
          + show(f"{x.latency.max_ms:.1f} ms" for x in lines))
    print("B/row: bytes of the operator's own columns per table row held (key; versioned: "
          "version time, tombstone flag), at the largest state (table rows then: "
          + show(f"{x.frys.table_rows:,}" for x in lines) + "; versioned, stream rows held "
          "for the watermark then: "
          + show(f"{x.frys.held_rows:,} ({x.frys.held_own_bytes / max(x.frys.held_rows, 1):.0f}"
                 " B/row own)" for x in lines if x.form == "versioned") + ")")
    if why_not is None:
        rss = show(f"{x.flink['peak_rss_mb']:,.0f} MB" for x in lines)  # type: ignore[index]
        print(f"Flink peak RSS (Python + JVM): {rss}")
        for verdict in verdicts:
            print(verdict)
    else:
        print(f"(Flink peer skipped: {why_not})")
    return mismatches


# ---------------------------------------------------------------------- W8: window join

W8_KINDS = ("INNER", "LEFT")
W8_WINDOW_MS = 10_000
W8_JOB = """
CREATE STREAM persons (id INT, name STRING, ts TIMESTAMP) WITH (event_time = ts);
CREATE STREAM auctions (seller INT, reserve FLOAT, ts TIMESTAMP) WITH (event_time = ts);
CREATE STREAM q8 (id INT, name STRING, starttime TIMESTAMP);
INSERT INTO q8 SELECT p.id, p.name, window_start AS starttime
FROM persons p {kind} JOIN auctions a ON p.id = a.seller WITHIN TUMBLE(10 SECONDS);
"""
W8_PEER = """
SELECT count(*) FROM persons p {kind} JOIN auctions a
    ON p.id = a.seller AND p.ts // 10000 = a.ts // 10000
"""


def w8_make(events: int, keys: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """NEXMark q8's two streams: persons (id, name) and auctions (seller, reserve), ids
    uniform over `keys`, `ts` rising 10 ms per event on each (auctions 5 ms after)."""
    rng = random.Random(8)
    times = pl.int_range(0, events, eager=True, dtype=pl.Int64) * 10 + T0
    persons = pl.DataFrame({"id": [rng.randrange(keys) for _ in range(events)], "ts": times}
                           ).select("id", pl.format("p{}", "id").alias("name"), "ts")
    auctions = pl.DataFrame({"seller": [rng.randrange(keys) for _ in range(events)],
                             "reserve": [rng.random() for _ in range(events)],
                             "ts": times + 5})
    return persons, auctions


def w8_pipeline(kind: str) -> frys.Pipeline:
    return frys.Pipeline.from_text(W8_JOB.format(kind="" if kind == "INNER" else kind),
                                   keep_results=False)


def w8_streams(persons: pl.DataFrame, auctions: pl.DataFrame
               ) -> list[tuple[str, pl.DataFrame]]:
    return [(name, frame.with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC"))))
            for name, frame in (("persons", persons), ("auctions", auctions))]


def w8_run_frys(kind: str, persons: pl.DataFrame, auctions: pl.DataFrame, batch: int
                ) -> FrysRun:
    """As run_frys for W6: batches taking turns, the state sampled after each round (its
    sampling not counted)."""
    pipeline = w8_pipeline(kind)
    out = [0]
    pipeline.subscribe("q8", lambda frame: out.__setitem__(0, out[0] + frame.height))
    operator = pipeline.runtime.queries[0].operator  # type: ignore[attr-defined]
    inputs = w8_streams(persons, auctions)
    largest, rows_then, payload_then = 0, 0, 0
    sampling = 0.0
    start = time.perf_counter()
    for offset in range(0, persons.height, batch):
        for name, frame in inputs:
            pipeline.publish(name, frame.slice(offset, batch))
        sampled = time.perf_counter()
        size = operator.state_size()
        if size > largest:
            largest, rows_then = size, sum(operator.buffered_rows())
            payload_then = payload_bytes(operator)
        sampling += time.perf_counter() - sampled
    pipeline.finish()
    seconds = time.perf_counter() - start - sampling
    return FrysRun(out[0], seconds, largest, rows_then, payload_then)


def w8_run_latency(kind: str, persons: pl.DataFrame, auctions: pl.DataFrame, rate: float,
                   batch: int) -> Latency:
    """Emission latency at a fixed offered rate, as run_latency for W6, except what emits
    rows: a window's rows come out during the publish whose watermark fires the window, so
    a row's latency is from when that publish was due to when the subscriber got it (the
    window's own wait, 10 s of event time, is the query's meaning, not a delay)."""
    pipeline = w8_pipeline(kind)
    due = [0.0]
    measuring = [True]
    latencies: list[float] = []
    counts: list[int] = []

    def emitted(frame: pl.DataFrame) -> None:
        now = time.perf_counter()
        if frame.height and measuring[0]:
            latencies.append(now - due[0])
            counts.append(frame.height)

    pipeline.subscribe("q8", emitted)
    inputs = w8_streams(persons, auctions)
    step = batch / rate
    publishes = 0
    start = time.perf_counter()
    for offset in range(0, persons.height, batch):
        for name, frame in inputs:
            due[0] = start + publishes * step
            publishes += 1
            wait = due[0] - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            pipeline.publish(name, frame.slice(offset, batch))
    seconds = time.perf_counter() - start
    measuring[0] = False  # the end of input fires the last windows: no publish's doing
    pipeline.finish()
    quantiles = [weighted_quantile(latencies, counts, q) * 1000 for q in (0.5, 0.99)]
    return Latency(sum(counts), *quantiles, max(latencies, default=float("nan")) * 1000, rate,
                   (persons.height + auctions.height) / seconds)


def w8_run_duckdb(kind: str, persons: pl.DataFrame, auctions: pl.DataFrame
                  ) -> tuple[int, float]:
    import duckdb

    start = time.perf_counter()
    with duckdb.connect(":memory:") as connection:
        connection.register("persons", persons.to_arrow())
        connection.register("auctions", auctions.to_arrow())
        row = connection.execute(W8_PEER.format(kind="" if kind == "INNER" else kind)
                                 ).fetchone()
    assert row is not None
    return int(row[0]), time.perf_counter() - start


def w8_write_csvs(directory: Path, persons: pl.DataFrame, auctions: pl.DataFrame
                  ) -> tuple[Path, Path]:
    paths = directory / "persons.csv", directory / "auctions.csv"
    persons.write_csv(paths[0], include_header=False)
    auctions.write_csv(paths[1], include_header=False)
    return paths


def run_w8(args: argparse.Namespace, why_not: str | None) -> list[str]:
    """W8 (NEXMark q8's shape), frys beside DuckDB and Flink SQL's window join; prints its
    table and returns the row-count mismatches."""
    persons, auctions = w8_make(args.events, args.keys)
    total = 2 * args.events
    lines: list[KindResult] = []
    mismatches: list[str] = []
    with tempfile.TemporaryDirectory(prefix="frys_w8_") as tmp:
        csvs = w8_write_csvs(Path(tmp), persons, auctions) if why_not is None else None
        print(f"W8: {args.events:,} persons + {args.events:,} auctions over {args.keys:,} "
              f"keys, WITHIN TUMBLE(10 SECONDS); frys batches of {args.batch:,} rows",
              flush=True)
        for kind in W8_KINDS:
            frys_run = w8_run_frys(kind, persons, auctions, args.batch)
            print(f"  frys {kind}: {total / frys_run.seconds:,.0f} events/s", flush=True)
            duck_rows, duck_seconds = w8_run_duckdb(kind, persons, auctions)
            print(f"  DuckDB {kind}: {total / duck_seconds:,.0f} events/s", flush=True)
            flink = None
            if csvs is not None:
                flink = run_flink(args.flink_python, f"W8_{kind}", *csvs)
                print(f"  Flink {kind}: {flink['events'] / flink['job_seconds']:,.0f} "
                      f"events/s (job)", flush=True)
            latency = w8_run_latency(kind, persons.head(args.rate_events),
                                     auctions.head(args.rate_events), args.rate,
                                     args.rate_batch)
            print(f"  frys {kind} at {args.rate:,.0f} events/s offered: p99 "
                  f"{latency.p99_ms:.1f} ms", flush=True)
            counts = {"DuckDB": duck_rows} | ({"Flink": flink["rows"]} if flink else {})
            for peer, rows in counts.items():
                if rows != frys_run.rows:
                    mismatches.append(f"W8 {kind}: frys {frys_run.rows:,} rows, {peer} "
                                      f"{rows:,}")
            lines.append(KindResult(kind, frys_run, duck_seconds, flink, latency,
                                    all(rows == frys_run.rows for rows in counts.values())))
    print(f"\n{'job':<9}{'frys ev/s':>12}{'Flink ev/s':>12}{'Flink marg.':>13}"
          f"{'frys/Flink':>12}{'(marg.)':>9}{'DuckDB ev/s':>13}{'frys/DuckDB':>13}{'rows':>11}"
          f"  {'counts':<9}{'p50 ms':>8}{'p99 ms':>8}{'B/row':>7}{'state MB':>10}")
    verdicts = []
    for line in lines:
        r, flink, latency = line.frys, line.flink, line.latency
        rate = total / r.seconds
        if flink:
            flink_rate = flink["events"] / flink["job_seconds"]
            marginal = flink_marginal(flink)
            flink_cols = (f"{flink_rate:>12,.0f}{marginal:>13,.0f}{rate / flink_rate:>11.1f}x"
                          f"{rate / marginal:>8.1f}x" if marginal else
                          f"{flink_rate:>12,.0f}{'-':>13}{rate / flink_rate:>11.1f}x{'-':>9}")
            met = "met" if rate >= TARGET_VS_FLINK * flink_rate else "NOT met"
            verdicts.append(f"W8 {line.kind}: frys/Flink {rate / flink_rate:.1f}x (job); "
                            f"target {TARGET_VS_FLINK:.0f}x {met}")
        else:
            flink_cols = f"{'-':>12}{'-':>13}{'-':>12}{'-':>9}"
        print(f"{'W8 ' + line.kind:<9}{rate:>12,.0f}{flink_cols}"
              f"{total / line.duck_seconds:>13,.0f}{line.duck_seconds / r.seconds:>12.2f}x"
              f"{r.rows:>11,}  {'OK' if line.agree else 'MISMATCH':<9}{latency.p50_ms:>8.1f}"
              f"{latency.p99_ms:>8.1f}{r.overhead_per_row():>7.0f}{r.state_bytes / 1e6:>10.1f}")
    print(f"latency: frys, {args.rate:,.0f} events/s offered in publishes of "
          f"{args.rate_batch:,} rows over the first {args.rate_events:,} events of each stream "
          f"(achieved: {each(lines, lambda x: f'{x.latency.achieved:,.0f}')}); rows "
          f"measured: {each(lines, lambda x: f'{x.latency.rows:,}')}; max "
          f"{each(lines, lambda x: f'{x.latency.max_ms:.1f} ms')}")
    print("B/row: state bytes per buffered row beyond the payload columns, at the largest "
          f"state (payload included: {each(lines, lambda x: f'{x.frys.per_row():.0f}')}; "
          f"buffered rows then: {each(lines, lambda x: f'{x.frys.buffered:,}')})")
    if why_not is None:
        rss = each(lines, lambda x: f"{x.flink['peak_rss_mb']:,.0f} MB")  # type: ignore[index]
        print(f"Flink peak RSS (Python + JVM): {rss}")
        for verdict in verdicts:
            print(verdict)
    else:
        print(f"(Flink peer skipped: {why_not})")
    return mismatches


# the workloads by name, in the order `--workload all` runs them
WORKLOADS: dict[str, Callable[[argparse.Namespace, str | None], list[str]]] = {
    "W6": run_w6, "W7": run_w7, "W8": run_w8}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=100_000,
                        help="offered events/s (both streams) for the latency run")
    parser.add_argument("--rate-batch", type=int, default=1_000,
                        help="rows per publish in the latency run")
    parser.add_argument("--rate-events", type=int, default=300_000,
                        help="events of each stream in the latency run")
    parser.add_argument("--flink-python", default=str(default_flink_python()),
                        help="a Python with apache-flink installed, for the Flink peer")
    parser.add_argument("--no-flink", action="store_true", help="skip the Flink peer")
    parser.add_argument("--table-rows", type=int, default=100_000,
                        help="W7: rows of the table (current rows, or versions)")
    parser.add_argument("--workload", choices=(*WORKLOADS, "all"), default="all",
                        help="W6 (interval join), W7 (stream-table joins), W8 (window join, "
                        "NEXMark q8) or all three, in that order")
    args = parser.parse_args()
    why_not = "--no-flink" if args.no_flink else flink_usable(args.flink_python)
    chosen = WORKLOADS if args.workload == "all" else (args.workload,)
    mismatches: list[str] = []
    for number, workload in enumerate(chosen):
        if number:
            print()
        mismatches += WORKLOADS[workload](args, why_not)
    if mismatches:
        raise SystemExit("row counts differ: " + "; ".join(mismatches))


if __name__ == "__main__":
    main()
