"""Checkpoints' cost (issue 15): W2 and W2h throughput with checkpoints every 1 s and every
10 s against none, and the time to checkpoint and to restore a million open windows.

    .venv/bin/python benchmarks/run_checkpoints.py [--events 10000000] [--batch 100000]
        [--windows 1000000]

* Throughput: run_w2.py's events (1,000 keys, ~1,000 events per second of event time),
  `--events` of them published to a `frys.Pipeline` in `--batch`-row DataFrames, as fast
  as it takes them, for each job: without state; with `state=` and a checkpoint taken
  between two publishes once a second has passed since the last (api/checkpointing.py's
  Checkpointer, as `frys run --checkpoint-every 1s` does); and every 10 s. Events/s and
  the overhead against no state; checkpoints taken, their median and largest time, their
  bytes on disk.
* Open windows: `--windows` distinct random keys with random values in one hour-long
  TUMBLE window, which the watermark has not passed (1M open windows of state),
  one checkpoint: its time and bytes, and the time for `Pipeline.resume` to load and
  restore it.

Everything runs in this process, one after the other; the state folders are temporary.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from run_w2 import JOBS, STREAM, events

import frys
from frys.checkpointing import Checkpointer


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def throughput(job: str, data: pl.DataFrame, batch: int, every_ms: int | None,
               state: Path | None) -> dict:
    pipeline = frys.Pipeline(STREAM + JOBS[job], keep_results=False,
                             state=state)
    checkpointer = None
    times: list[float] = []
    if state is not None:
        checkpointer = Checkpointer(pipeline._store, pipeline.runtime, every_ms=every_ms)
    started = time.perf_counter()
    for offset in range(0, data.height, batch):
        pipeline.publish("ev", data.slice(offset, batch))
        if checkpointer is not None:
            before = checkpointer.taken
            began = time.perf_counter()
            checkpointer.after_batch(batch)
            if checkpointer.taken != before:
                times.append(time.perf_counter() - began)
    pipeline.finish()
    seconds = time.perf_counter() - started
    result = {"events_per_s": data.height / seconds, "checkpoints": len(times)}
    if times:
        result |= {"median_ms": statistics.median(times) * 1000, "max_ms": max(times) * 1000,
                   "bytes": folder_bytes(state / "checkpoints") if state else 0}
    if checkpointer is not None:
        checkpointer.close()
    return result


def open_windows(count: int, folder: Path) -> dict:
    text = STREAM + ("SELECT k, window_start, COUNT(*) AS n, SUM(v) AS total FROM ev "
                     "GROUP BY k, TUMBLE(1 HOUR);")
    # keys and values that do not compress away (random order, random values), all in one
    # hour, which no watermark passes before the checkpoint
    index = pl.int_range(count, eager=True)
    data = pl.DataFrame({
        "k": (index.hash(11) % (1 << 62)).cast(pl.Int64),
        "v": (index.hash(12) % 1_000_000) / 100.0,
        "ts": 1_700_000_000_000 + index.hash(13) % 1_000,  # one second of one hour
    }).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))
    pipeline = frys.Pipeline(text, keep_results=False, state=folder)
    pipeline.publish("ev", data)
    began = time.perf_counter()
    pipeline.stop()
    write = time.perf_counter() - began
    began = time.perf_counter()
    resumed = frys.Pipeline.resume(folder, keep_results=False)
    restore = time.perf_counter() - began
    resumed.stop()
    size = folder_bytes(folder / "checkpoints") // 2  # two checkpoints kept now, alike
    return {"windows": count, "write_s": write, "restore_s": restore, "bytes": size,
            "bytes_per_window": size / count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--windows", type=int, default=1_000_000)
    args = parser.parse_args()
    data = events(args.events)
    print(f"{args.events:,} events, batches of {args.batch:,}; polars {pl.__version__}, "
          f"python {sys.version.split()[0]}")
    print(f"{'job':6} {'checkpoints':>14} {'events/s':>12} {'overhead':>9} {'taken':>6} "
          f"{'median ms':>10} {'max ms':>8} {'MB on disk':>11}")
    throughput("W2", data.head(1_000_000), args.batch, None, None)  # warm-up, not shown
    for job in ("W2", "W2h"):
        runs = {}
        for label, every in (("every 10s", 10_000), ("none", None), ("every 1s", 1_000)):
            with tempfile.TemporaryDirectory() as folder:
                result = throughput(job, data, args.batch, every,
                                    None if every is None else Path(folder) / "state")
            runs[label] = result
        base = runs["none"]["events_per_s"]
        for label, result in runs.items():
            rate = result["events_per_s"]
            overhead = f"{(base / rate - 1) * 100:+.1f}%" if label != "none" else "-"
            print(f"{job:6} {label:>14} {rate:>12,.0f} {overhead:>9} "
                  f"{result['checkpoints']:>6} {result.get('median_ms', 0):>10.1f} "
                  f"{result.get('max_ms', 0):>8.1f} {result.get('bytes', 0) / 1e6:>11.2f}")
    with tempfile.TemporaryDirectory() as folder:
        windows = open_windows(args.windows, Path(folder) / "state")
    print(f"{windows['windows']:,} open windows: checkpoint {windows['write_s']:.2f} s, "
          f"restore {windows['restore_s']:.2f} s, {windows['bytes'] / 1e6:.1f} MB "
          f"({windows['bytes_per_window']:.0f} B per window)")


if __name__ == "__main__":
    main()
