"""W2, W2h, W2s: windowed aggregation from in-memory batches (issue 4), DuckDB beside.

    .venv/bin/python benchmarks/run_w2.py [--events 1000000] [--batch 100000]

For each job, 1M events over 1,000 keys (`k`), `v` uniform in [0, 100), `ts` rising by
0-2 ms per event (about 1,000 events per second of event time), published to a
`frys.Pipeline` as polars DataFrames of `--batch` rows:

* W2  = WHERE v > 10, TUMBLE(1 SECOND), COUNT(*) and SUM(v)
* W2h = HOP(10 SECONDS, 1 SECOND), AVG(v)
* W2s = SESSION(5 SECONDS), COUNT(*)   (keys take turns going quiet, so sessions close)

Prints events/s (decoding excluded: the events are already columns) for frys and for
DuckDB over the same frame (checking both produce the same number of windows), peak RSS of
this process, bytes of operator state per open (key, window) at its largest, and for W2 the
emission latency at a fixed offered rate of 100k events/s: batches of 1,000 events every
10 ms, and for every window the time from the start of the publish call whose watermark
closed it to the moment its row reached the subscriber.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import polars as pl

import frys

STREAM = ("CREATE STREAM ev (k INT, v FLOAT, ts TIMESTAMP) "
          "WITH (event_time = ts, watermark = 0 SECONDS);\n")
JOBS = {
    "W2": "SELECT k, window_start, COUNT(*) AS n, SUM(v) AS total FROM ev WHERE v > 10 "
          "GROUP BY k, TUMBLE(1 SECOND);",
    "W2h": "SELECT k, window_start, AVG(v) AS avg_v FROM ev GROUP BY k, "
           "HOP(10 SECONDS, 1 SECOND);",
    "W2s": "SELECT k, window_start, window_end, COUNT(*) AS n FROM ev "
           "GROUP BY k, SESSION(5 SECONDS);",
}


def events(count: int, seed: int = 7) -> pl.DataFrame:
    """Deterministic events; for sessions, key k is silent during seconds where
    (second + k) % 20 >= 14, so each key's sessions end every 20 s."""
    frame = pl.DataFrame({"i": pl.int_range(count, eager=True)}).with_columns(
        (pl.col("i").hash(seed) % 1000).cast(pl.Int64).alias("k"),
        ((pl.col("i").hash(seed + 1) % 10_000) / 100.0).alias("v"),
        (1_700_000_000_000 + (pl.col("i").hash(seed + 2) % 3).cum_sum()).alias("ts"),
    )
    quiet = ((pl.col("ts") // 1000 + pl.col("k")) % 20) >= 14
    frame = frame.with_columns(
        pl.when(quiet).then((pl.col("k") + 500) % 1000).otherwise(pl.col("k")).alias("k"))
    return frame.select("k", "v", pl.col("ts").cast(pl.Datetime("ms", "UTC")))


# DuckDB over the same in-memory events (an Arrow scan of the polars frame): the peer for
# throughput and the check on results. Window rules as frys': epoch-aligned, half-open;
# sessions split where an event is more than the gap after the previous one of its key.
DUCKDB = {
    "W2": """SELECT k, (epoch_ms(ts) // 1000) * 1000 AS ws, COUNT(*) AS n, SUM(v) AS total
             FROM data WHERE v > 10 GROUP BY ALL""",
    "W2h": """SELECT k, ws, AVG(v) AS avg_v FROM (
                SELECT k, v, unnest(range((epoch_ms(ts) - 10000) // 1000 * 1000 + 1000,
                                          epoch_ms(ts) // 1000 * 1000 + 1000, 1000)) AS ws
                FROM data) GROUP BY ALL""",
    "W2s": """SELECT k, session, COUNT(*) AS n FROM (
                SELECT k, SUM(CASE WHEN gap IS NULL OR gap > 5000 THEN 1 ELSE 0 END)
                       OVER (PARTITION BY k ORDER BY t, i) AS session FROM (
                  SELECT k, i, epoch_ms(ts) AS t,
                         epoch_ms(ts) - lag(epoch_ms(ts)) OVER (PARTITION BY k ORDER BY
                                                               epoch_ms(ts), i) AS gap
                  FROM data)) GROUP BY ALL""",
}


def duckdb_peer(name: str, data: pl.DataFrame) -> tuple[float, int] | None:
    """(events/s, rows out) for DuckDB, or None when duckdb is not installed."""
    try:
        import duckdb
    except ImportError:
        return None
    connection = duckdb.connect()
    connection.register("data", data.with_row_index("i").to_arrow())  # i: arrival order
    start = time.perf_counter()
    rows = connection.execute(f"SELECT COUNT(*) FROM ({DUCKDB[name]})").fetchone()
    elapsed = time.perf_counter() - start
    return data.height / elapsed, int(rows[0]) if rows else 0


def throughput(name: str, data: pl.DataFrame, batch: int) -> tuple[float, float, int]:
    pipeline = frys.Pipeline.from_text(STREAM + JOBS[name])
    operator = pipeline.runtime.queries[0].operator
    largest_state = largest_windows = 0
    start = time.perf_counter()
    for offset in range(0, data.height, batch):
        pipeline.publish("ev", data.slice(offset, batch))
        state = operator._state  # measurement only: the operator's open windows
        if state is not None and state.height > largest_windows:
            largest_windows, largest_state = state.height, int(state.estimated_size())
    pipeline.finish()
    elapsed = time.perf_counter() - start
    rows = pipeline.results("select_1").height
    per_window = largest_state / largest_windows if largest_windows else 0.0
    return data.height / elapsed, per_window, rows


def latency(data: pl.DataFrame, rate: int = 100_000, batch: int = 1_000) -> list[float]:
    pipeline = frys.Pipeline.from_text(STREAM + JOBS["W2"])
    latencies: list[float] = []
    call_started = 0.0

    def on_rows(rows: pl.DataFrame) -> None:
        arrived = time.perf_counter()
        latencies.extend([arrived - call_started] * rows.height)

    pipeline.subscribe("select_1", on_rows)
    interval = batch / rate
    next_due = time.perf_counter()
    for offset in range(0, data.height, batch):
        now = time.perf_counter()
        if now < next_due:
            time.sleep(next_due - now)  # offered load: one batch every `interval` s
        next_due += interval
        call_started = time.perf_counter()
        pipeline.publish("ev", data.slice(offset, batch))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    args = parser.parse_args()
    data = events(args.events)
    print(f"{args.events:,} events over 1,000 keys, batches of {args.batch:,} rows")
    print(f"{'job':<5}{'frys events/s':>16}{'bytes/open window':>20}{'rows out':>12}"
          f"{'duckdb events/s':>18}{'duckdb rows':>13}")
    mismatches = []
    for name in JOBS:
        rate, per_window, rows = throughput(name, data, args.batch)
        peer = duckdb_peer(name, data)
        peer_text = (f"{peer[0]:>18,.0f}{peer[1]:>13,}" if peer
                     else f"{'(not installed)':>18}")
        print(f"{name:<5}{rate:>16,.0f}{per_window:>20,.0f}{rows:>12,}{peer_text}")
        if peer and peer[1] != rows:
            mismatches.append(f"{name}: frys {rows:,} rows, duckdb {peer[1]:,}")
    measured = latency(data.head(min(args.events, 300_000)))
    ms = sorted(x * 1000 for x in measured)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    print(f"W2 emission latency at 100k events/s over {len(ms):,} window rows: "
          f"p50 {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MB")
    if mismatches:
        raise SystemExit("results differ: " + "; ".join(mismatches))
    print("OK: frys and duckdb produce the same number of windows")


if __name__ == "__main__":
    main()
