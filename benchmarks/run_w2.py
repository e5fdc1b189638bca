"""W2, W2h, W2s: windowed aggregation from in-memory batches (issue 4), bytewax and DuckDB beside.

    .venv/bin/python benchmarks/run_w2.py [--events 1000000] [--batch 100000] [--skip-bytewax]

For each job, 1M events over 1,000 keys (`k`), `v` uniform in [0, 100), `ts` rising by
0-2 ms per event (about 1,000 events per second of event time):

* W2  = WHERE v > 10, TUMBLE(1 SECOND), COUNT(*) and SUM(v)
* W2h = HOP(10 SECONDS, 1 SECOND), AVG(v)
* W2s = SESSION(5 SECONDS), COUNT(*)   (keys take turns going quiet, so sessions close)

The events are made once, written to an Arrow IPC file in a temporary directory, and every
(job, contender) is measured in a fresh child process (this script with `--child`) that
reads them into memory, gets them ready, and only then starts the clock:

* frys: the events stay polars columns, published to a `frys.Pipeline` as DataFrames of
  `--batch` rows (no decoding);
* bytewax: the hand-written pipeline of `peer_bytewax_w2.py`, fed the same rows as Python
  tuples (the conversion is not timed, like frys' decoding) through a `TestingSource`
  into a `TestingSink` list, one worker;
* DuckDB: the query below over an Arrow scan of the frame (both cores).

Prints events/s and the ratios frys/bytewax and frys/duckdb; the peak RSS of each child
while it ran (`ru_maxrss`, its high-water mark reset through /proc/self/clear_refs once the
input was ready, so it is the input held plus what the run added) and, in brackets, its RSS
just before the run; frys' bytes of operator state per open (key, window) at its largest;
and for W2 the emission latency at a fixed offered rate of 100k events/s: batches of 1,000
events every 10 ms, and for every window the time from the start of the publish call whose
watermark closed it to the moment its row reached the subscriber. Fails unless all
contenders produce the same number of windows for each job.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from process_memory import reset_peak_rss, rss_now_mb

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
CONTENDERS = ("frys", "bytewax", "duckdb")


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


# --- in the child process: one (job, contender) measurement ---------------------------


def frys_child(name: str, data: pl.DataFrame, batch: int):
    """Prepare the frys job; return (run, result) where run() runs it, timed by the caller."""
    import frys

    pipeline = frys.Pipeline.from_text(STREAM + JOBS[name])
    operator = pipeline.runtime.queries[0].operator
    batches = [data.slice(offset, batch) for offset in range(0, data.height, batch)]
    result: dict = {}

    def run() -> None:
        largest_state = largest_windows = 0
        for frame in batches:
            pipeline.publish("ev", frame)
            state = operator._state  # measurement only: the operator's open windows
            if state is not None and state.height > largest_windows:
                largest_windows, largest_state = state.height, int(state.estimated_size())
        pipeline.finish()
        result["rows"] = pipeline.results("select_1").height
        result["bytes_per_window"] = (largest_state / largest_windows
                                      if largest_windows else 0.0)

    return run, result


def bytewax_child(name: str, data: pl.DataFrame, _batch: int):
    import peer_bytewax_w2

    rows: list[tuple] = []
    flow = peer_bytewax_w2.build_flow(name, peer_bytewax_w2.to_events(data), rows)
    result: dict = {}

    def run() -> None:
        peer_bytewax_w2.run_main(flow)
        result["rows"] = len(rows)

    return run, result


def duckdb_child(name: str, data: pl.DataFrame, _batch: int):
    import duckdb

    connection = duckdb.connect()
    connection.register("data", data.with_row_index("i").to_arrow())  # i: arrival order
    result: dict = {}

    def run() -> None:
        rows = connection.execute(f"SELECT COUNT(*) FROM ({DUCKDB[name]})").fetchone()
        result["rows"] = int(rows[0]) if rows else 0

    return run, result


def latency(data: pl.DataFrame, rate: int = 100_000, batch: int = 1_000) -> list[float]:
    import frys

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


def child(name: str, contender: str, data_path: str, batch: int) -> dict:
    data = pl.read_ipc(data_path)  # compressed: decoded into memory, not mapped
    if contender == "latency":
        ms = sorted(x * 1000 for x in latency(data.head(min(data.height, 300_000))))
        p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
        return {"windows": len(ms), "p50": statistics.median(ms), "p99": p99}
    prepare = {"frys": frys_child, "bytewax": bytewax_child, "duckdb": duckdb_child}
    run, result = prepare[contender](name, data, batch)
    gc.collect()
    before = rss_now_mb()
    reset = reset_peak_rss()
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {**result, "events_per_s": data.height / elapsed, "seconds": elapsed,
            "rss_before_mb": before, "peak_rss_mb": peak, "peak_reset": reset}


# --- in the parent process -------------------------------------------------------------

def measure(name: str, contender: str, data_path: Path, batch: int) -> dict:
    """Run one measurement in a fresh interpreter and return what it reports."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", name, contender,
               "--data", str(data_path), "--batch", str(batch)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name}/{contender} failed (exit {done.returncode}):\n"
                         f"{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ratio(a: dict | None, b: dict | None, field: str) -> str:
    return f"{a[field] / b[field]:.1f}x" if a and b else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--skip-bytewax", action="store_true",
                        help="leave the bytewax peer out (it takes most of the time)")
    parser.add_argument("--child", nargs=2, metavar=("JOB", "CONTENDER"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.data, args.batch)))
        return
    contenders = [c for c in CONTENDERS if not (args.skip_bytewax and c == "bytewax")]
    results: dict[str, dict[str, dict | None]] = {}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="frys_w2_") as tmp:
        data_path = Path(tmp) / "events.arrow"
        events(args.events).write_ipc(data_path, compression="lz4")
        print(f"{args.events:,} events over 1,000 keys, frys batches of {args.batch:,} rows; "
              f"each (job, contender) in a fresh process", flush=True)
        for name in JOBS:
            results[name] = {}
            for contender in CONTENDERS:
                results[name][contender] = (measure(name, contender, data_path, args.batch)
                                            if contender in contenders else None)
        lat = measure("W2", "latency", data_path, args.batch)

    def cell(result: dict | None, field: str, fmt: str) -> str:
        return format(result[field], fmt) if result else "-"

    print(f"\n{'job':<5}{'frys ev/s':>13}{'bytewax ev/s':>14}{'duckdb ev/s':>13}"
          f"{'frys/bytewax':>14}{'frys/duckdb':>13}{'windows':>11}")
    mismatches = []
    for name, by in results.items():
        frys, bytewax, duck = by["frys"], by["bytewax"], by["duckdb"]
        counts = {c: r["rows"] for c, r in by.items() if r}
        if len(set(counts.values())) > 1:
            mismatches.append(f"{name}: " + ", ".join(f"{c} {n:,}" for c, n in counts.items()))
        print(f"{name:<5}{cell(frys, 'events_per_s', ',.0f'):>13}"
              f"{cell(bytewax, 'events_per_s', ',.0f'):>14}{cell(duck, 'events_per_s', ',.0f'):>13}"
              f"{ratio(frys, bytewax, 'events_per_s'):>14}{ratio(frys, duck, 'events_per_s'):>13}"
              f"{counts['frys']:>11,}")

    def rss(result: dict | None) -> str:
        return f"{result['peak_rss_mb']:.0f} ({result['rss_before_mb']:.0f})" if result else "-"

    print(f"\n{'job':<5}{'frys MB':>12}{'bytewax MB':>12}{'duckdb MB':>12}"
          f"{'frys/bytewax':>14}{'frys/duckdb':>13}{'frys bytes/open window':>24}")
    for name, by in results.items():
        frys, bytewax, duck = by["frys"], by["bytewax"], by["duckdb"]
        print(f"{name:<5}{rss(frys):>12}{rss(bytewax):>12}{rss(duck):>12}"
              f"{ratio(frys, bytewax, 'peak_rss_mb'):>14}{ratio(frys, duck, 'peak_rss_mb'):>13}"
              f"{frys['bytes_per_window'] if frys else 0:>24,.0f}")
    print("peak RSS MB of each measuring process during its run (in brackets: just before "
          "it, holding the input)")
    if not all(r["peak_reset"] for by in results.values() for r in by.values() if r):
        print("note: /proc/self/clear_refs not writable, so peaks include getting ready")
    print(f"\nW2 emission latency at 100k events/s over {lat['windows']:,} window rows: "
          f"p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms")
    print(f"1-minute load average before / after: {load_before:.2f} / "
          f"{os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    if mismatches:
        raise SystemExit("window counts differ: " + "; ".join(mismatches))
    print(f"OK: {', '.join(contenders)} produce the same number of windows for each job")


if __name__ == "__main__":
    main()
