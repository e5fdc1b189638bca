"""Incremental checkpoints (issue 15): the time and the bytes of a checkpoint that writes
only what changed, against one that writes every table anew, in the same run.

    .venv/bin/python benchmarks/checkpoint_incremental.py [--table-rows 1000000]
        [--queries 100] [--keys 10000] [--checkpoints 10]

Two jobs, each run through a `frys.Pipeline(state=...)` (fsync on, lz4, the defaults):

* table: a stream joined with a table of `--table-rows` rows (`CREATE TABLE users`, loaded
  once); between two checkpoints 10,000 stream rows and 1,000 table updates (random
  existing keys). The table join's state is its key-sorted base (rebuilt only when the
  changes reach a quarter of it) and the recent changes (operators/table_join.py).
* idle: `--queries` tumbling-window queries, each over its own stream, each holding
  `--keys` open windows; between two checkpoints one stream gets 1,000 rows: the other
  queries are idle.

Each job alternates its checkpoints: full (the store's `incremental` off: every table
encoded and written) and incremental (the default: a table that is the same frame as in
the checkpoint before is hard-linked), so both see the same state and the same load.
Per mode: the median and largest time of `Pipeline.checkpoint()` (operator snapshots,
clocks, the store's write with its fsyncs, retention), and the median bytes written
(table files encoded, plus the manifest) and linked. Also the time the table join's
layout 1 took to build its one merged table at each snapshot (`_table()`), which a full
checkpoint before this change paid on top.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

import frys
from frys.engine.checkpoint import MANIFEST

T0 = 1_700_000_000_000


def draw(rows: int, salt: int, modulo: int) -> pl.Series:
    """Pseudo-random integers from hashes of the row number (no numpy in the env)."""
    return (pl.int_range(rows, dtype=pl.UInt64, eager=True).hash(salt) % modulo
            ).cast(pl.Int64)


def measure(pipeline: frys.Pipeline, step, checkpoints: int) -> dict[str, dict[str, list]]:
    """`checkpoints` rounds of `step(i)` then a checkpoint, alternating full and
    incremental; per mode the seconds, bytes written and bytes linked of each."""
    store = pipeline._store
    assert store is not None
    results: dict[str, dict[str, list]] = {
        mode: {"s": [], "written": [], "linked": []} for mode in ("full", "incremental")}
    for index in range(2 * checkpoints + 1):
        step(index)
        mode = "incremental" if index % 2 else "full"
        store.incremental = mode == "incremental"
        began = time.perf_counter()
        identifier = pipeline.checkpoint()
        seconds = time.perf_counter() - began
        if index == 0:
            continue  # the first one is full in both modes: not counted
        stats = store.last_write
        manifest = os.path.getsize(store.path_of(identifier) / MANIFEST)
        result = results[mode]
        result["s"].append(seconds)
        result["written"].append(stats.bytes_written + stats.bytes_copied + manifest)
        result["linked"].append(stats.bytes_linked)
    return results


def table_job(rows: int, checkpoints: int, folder: Path) -> tuple[dict, float]:
    text = """
    CREATE STREAM clicks (user BIGINT, page INT, ts TIMESTAMP) WITH (event_time = ts);
    CREATE TABLE users (id BIGINT PRIMARY KEY, tier INT, name STRING);
    SELECT c.user, c.page, u.tier, u.name FROM clicks c JOIN users u ON c.user = u.id;
    """
    pipeline = frys.Pipeline(text, keep_results=False, state=folder)
    users = pl.DataFrame({"id": draw(rows, 1, 1 << 40) * rows + pl.int_range(
        rows, eager=True), "tier": draw(rows, 2, 5)}).with_columns(
        name=pl.lit("user-") + pl.col("id").cast(pl.Utf8))
    pipeline.publish("users", users)
    ids = users["id"]

    def step(index: int) -> None:
        picks = draw(11_000, 100 + index, rows)
        clicks = pl.DataFrame({"user": ids.gather(picks.head(10_000)),
                               "page": draw(10_000, 200 + index, 100),
                               "ts": T0 + index * 1000 + pl.int_range(10_000, eager=True)}
                              ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))
        pipeline.publish("clicks", clicks)
        updates = pl.DataFrame({"id": ids.gather(picks.tail(1_000)),
                                "tier": draw(1_000, 300 + index, 5)}).with_columns(
            name=pl.lit("renamed-") + pl.col("id").cast(pl.Utf8))
        pipeline.publish("users", updates)

    results = measure(pipeline, step, checkpoints)
    (runner,) = pipeline.runtime.queries
    began = time.perf_counter()
    runner.operator._table()  # what layout 1 built at every snapshot
    merge = time.perf_counter() - began
    pipeline.stop()
    return results, merge


def idle_job(queries: int, keys: int, checkpoints: int, folder: Path) -> dict:
    streams = "".join(f"CREATE STREAM s{i} (k BIGINT, v DOUBLE, ts TIMESTAMP) "
                      f"WITH (event_time = ts);\n" for i in range(queries))
    selects = "".join(f"SELECT k, window_start, COUNT(*) AS n, SUM(v) AS total FROM s{i} "
                      f"GROUP BY k, TUMBLE(1 HOUR);\n" for i in range(queries))
    pipeline = frys.Pipeline(streams + selects, keep_results=False, state=folder)
    for i in range(queries):  # `keys` open windows each, in one hour no watermark passes
        pipeline.publish(f"s{i}", pl.DataFrame({
            "k": draw(keys, 10 + i, 1 << 40), "v": draw(keys, 20 + i, 1000) / 10.0,
            "ts": T0 + pl.int_range(keys, eager=True) % 1000,
        }).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC"))))

    def step(index: int) -> None:
        i = index % queries
        pipeline.publish(f"s{i}", pl.DataFrame({
            "k": draw(1_000, 500 + index, 1 << 40), "v": draw(1_000, 600 + index, 9) * 1.0,
            "ts": T0 + 1000 + index + pl.int_range(1_000, eager=True) % 10,
        }).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC"))))

    results = measure(pipeline, step, checkpoints)
    pipeline.stop()
    return results


def show(job: str, results: dict[str, dict[str, list]]) -> None:
    for mode, result in results.items():
        print(f"{job:40} {mode:12} {len(result['s']):>5} "
              f"{statistics.median(result['s']) * 1000:>10.1f} "
              f"{max(result['s']) * 1000:>8.1f} "
              f"{statistics.median(result['written']) / 1e6:>11.2f} "
              f"{statistics.median(result['linked']) / 1e6:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table-rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--checkpoints", type=int, default=10,
                        help="checkpoints per mode (the job alternates the modes)")
    args = parser.parse_args()
    print(f"polars {pl.__version__}, python {sys.version.split()[0]}; "
          f"loadavg {Path('/proc/loadavg').read_text().split()[:3]}")
    print(f"{'job':40} {'mode':12} {'taken':>5} {'median ms':>10} {'max ms':>8} "
          f"{'MB written':>11} {'MB linked':>10}")
    with tempfile.TemporaryDirectory() as folder:
        table, merge = table_job(args.table_rows, args.checkpoints, Path(folder) / "state")
    show(f"table join, {args.table_rows:,}-row table", table)
    print(f"  (layout 1's merged table, built at each snapshot before: {merge * 1000:.1f} ms)")
    with tempfile.TemporaryDirectory() as folder:
        idle = idle_job(args.queries, args.keys, args.checkpoints, Path(folder) / "state")
    show(f"{args.queries} windows x {args.keys:,} keys, 1 busy", idle)


if __name__ == "__main__":
    main()
