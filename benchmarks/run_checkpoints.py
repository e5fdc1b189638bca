"""Checkpoints' cost (issue 15), bytewax's recovery beside: W2, W2h and W4 throughput with
checkpoints every 1 s and every 10 s against none; the time to checkpoint and to restore a
million open windows and a million buffered pattern events; bytes per state row.

    .venv/bin/python benchmarks/run_checkpoints.py [--events 10000000]
        [--pattern-events 3000000] [--batch 100000] [--windows 1000000]
        [--buffered 1000000] [--bytewax-events 1000000] [--bytewax-windows 50000]
        [--skip-bytewax] [--only throughput,windows,buffered]

* Throughput: for W2 and W2h run_w2.py's events (1,000 keys, ~1,000 events per second of
  event time, `--events` of them), for W4 run_patterns.py's (1,000 partitions,
  `--pattern-events`), published to a `frys.Pipeline` in `--batch`-row DataFrames, as fast
  as it takes them: without state; with `state=` and a checkpoint taken between two
  publishes once a second has passed since the last (api/checkpointing.py's Checkpointer,
  as `frys run --checkpoint-every 1s` does); and every 10 s. Events/s and the overhead
  against no state; checkpoints taken, their median and largest time; bytes per state
  row: the newest checkpoint folder's bytes over the rows of its operator tables.
* bytewax (checkpoints_bytewax.py): the W2 job hand-written for bytewax 0.21
  (peer_bytewax_w2.py) over the first `--bytewax-events` of the same events, without
  recovery, and with SQLite recovery and epochs (a snapshot each) every 1 s and 10 s; and
  `--bytewax-windows` open hour-long windows snapshotted, then restored by a resumed run.
* Open windows: `--windows` distinct random keys with random values in one hour-long
  TUMBLE window, which the watermark has not passed, one checkpoint (`Pipeline.stop`):
  its time and bytes, and the time for `Pipeline.resume` to load and restore it.
* Buffered pattern events: `--buffered` events over `--buffered`/2 partitions, every one
  an `a` of `PATTERN (a -> b) WITHIN 1 HOUR` whose `b` never comes, spread over 100 s of
  event time (a watermark of 1 s: all but the last second's released into the matcher,
  those held in its arrival buffer): the same checkpoint, restore and bytes, per event.

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
import run_patterns
import run_w2

import frys
from frys.checkpointing import Checkpointer
from frys.engine.checkpoint import CheckpointStore

WORKLOADS = {
    "W2": (run_w2.STREAM + run_w2.JOBS["W2"], run_w2.events),
    "W2h": (run_w2.STREAM + run_w2.JOBS["W2h"], run_w2.events),
    "W4": (run_patterns.STREAM + run_patterns.JOBS["W4"], run_patterns.events),
}
INTERVALS = (("every 10s", 10_000), ("none", None), ("every 1s", 1_000))
BUFFERED_JOB = (
    "CREATE STREAM ev (k INT, price FLOAT, ts TIMESTAMP) "
    "WITH (event_time = ts, watermark = 1 SECOND);\n"
    "SELECT k, a.price AS a_price, b.price AS b_price FROM ev PARTITION BY k "
    "PATTERN (a -> b) WITHIN 1 HOUR DEFINE a AS a.price >= 0, b AS b.price < 0;")


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def newest_checkpoint(checkpoints: Path) -> dict:
    """The newest checkpoint's bytes on disk and the rows of its operator tables."""
    store = CheckpointStore(checkpoints, read_only=True)
    checkpoint = store.latest()
    if checkpoint is None:
        return {"bytes": 0, "rows": 0}
    rows = sum(table.height for state in checkpoint.operators.values()
               for table in state.tables.values())
    return {"bytes": folder_bytes(store.path_of(checkpoint.checkpoint_id)), "rows": rows}


def throughput(text: str, data: pl.DataFrame, batch: int, every_ms: int | None,
               state: Path | None) -> dict:
    pipeline = frys.Pipeline(text, keep_results=False, state=state)
    checkpointer = None
    times: list[float] = []
    if state is not None:
        checkpointer = Checkpointer(pipeline._store, pipeline.runtime, every_ms=every_ms)
    batches = [data.slice(offset, batch) for offset in range(0, data.height, batch)]
    started = time.perf_counter()
    for frame in batches:
        pipeline.publish("ev", frame)
        if checkpointer is not None:
            before = checkpointer.taken
            began = time.perf_counter()
            checkpointer.after_batch(frame.height)
            if checkpointer.taken != before:
                times.append(time.perf_counter() - began)
    pipeline.finish()
    seconds = time.perf_counter() - started
    result = {"events_per_s": data.height / seconds, "checkpoints": len(times)}
    if checkpointer is not None:
        checkpointer.close()
    if times and state is not None:
        newest = newest_checkpoint(state / "checkpoints")
        result |= {"median_ms": statistics.median(times) * 1000, "max_ms": max(times) * 1000,
                   "bytes": newest["bytes"], "state_rows": newest["rows"]}
    return result


def checkpoint_and_restore(text: str, data: pl.DataFrame, folder: Path) -> dict:
    """Publish `data` to a pipeline with state, stop it (one checkpoint), resume it: the
    checkpoint's time, bytes and table rows, and the time to load and restore it."""
    pipeline = frys.Pipeline(text, keep_results=False, state=folder)
    began = time.perf_counter()
    pipeline.publish("ev", data)
    ingest = time.perf_counter() - began
    began = time.perf_counter()
    pipeline.stop()
    write = time.perf_counter() - began
    newest = newest_checkpoint(folder / "checkpoints")
    began = time.perf_counter()
    resumed = frys.Pipeline.resume(folder, keep_results=False)
    restore = time.perf_counter() - began
    resumed.stop()
    return {"ingest_s": ingest, "write_s": write, "restore_s": restore,
            "bytes": newest["bytes"], "state_rows": newest["rows"]}


def open_windows(count: int) -> pl.DataFrame:
    # keys and values that do not compress away (random order, random values), all in one
    # hour, which no watermark passes before the checkpoint
    index = pl.int_range(count, eager=True)
    return pl.DataFrame({
        "k": (index.hash(11) % (1 << 62)).cast(pl.Int64),
        "v": (index.hash(12) % 1_000_000) / 100.0,
        "ts": 1_700_000_000_000 + index.hash(13) % 1_000,  # one second of one hour
    }).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def buffered_events(count: int) -> pl.DataFrame:
    """`count` events over count/2 partitions (random), rising over 100 s of event time."""
    index = pl.int_range(count, eager=True)
    return pl.DataFrame({
        "k": (index.hash(11) % max(count // 2, 1)).cast(pl.Int64),
        "price": (index.hash(12) % 10_000) / 100.0,
        "ts": 1_700_000_000_000 + index * 100_000 // count,
    }).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def row(workload: str, interval: str, rate: float, overhead: str, result: dict) -> str:
    taken = result.get("checkpoints")
    ms = (f"{result['median_ms']:.1f} / {result['max_ms']:.1f}" if "median_ms" in result
          else "-")
    per_row = (f"{result['bytes'] / result['state_rows']:.1f}"
               if result.get("state_rows") else "-")
    return (f"{workload:12} {interval:>10} {rate:>12,.0f} {overhead:>9} "
            f"{'-' if taken is None else taken:>6} {ms:>15} {per_row:>10}")


def throughput_table(args: argparse.Namespace) -> None:
    print(f"{'workload':12} {'interval':>10} {'events/s':>12} {'overhead':>9} {'taken':>6} "
          f"{'ckpt ms p50/max':>15} {'B/state row':>10}")
    run_w2_data = run_w2.events(args.events)
    warm = run_w2_data.head(1_000_000)
    throughput(WORKLOADS["W2"][0], warm, args.batch, None, None)  # warm-up, not shown
    for workload, (text, make) in WORKLOADS.items():
        data = run_w2_data if make is run_w2.events else make(args.pattern_events)
        runs = {}
        for label, every in INTERVALS:
            with tempfile.TemporaryDirectory() as folder:
                runs[label] = throughput(text, data, args.batch, every,
                                         None if every is None else Path(folder) / "state")
        base = runs["none"]["events_per_s"]
        for label, result in runs.items():
            rate = result["events_per_s"]
            overhead = f"{(base / rate - 1) * 100:+.1f}%" if label != "none" else "-"
            print(row(f"frys {workload}", label, rate, overhead, result), flush=True)
    if args.skip_bytewax:
        return
    import checkpoints_bytewax
    from peer_bytewax_w2 import to_events

    events = to_events(run_w2_data.head(args.bytewax_events))
    runs = {}
    for label, every in INTERVALS:
        with tempfile.TemporaryDirectory() as folder:
            runs[label] = checkpoints_bytewax.throughput(
                events, None if every is None else every / 1000, Path(folder) / "recovery")
    base = runs["none"]["events_per_s"]
    for label, result in runs.items():
        rate = result["events_per_s"]
        overhead = f"{(base / rate - 1) * 100:+.1f}%" if label != "none" else "-"
        print(row("bytewax W2", label, rate, overhead, result)
              + (f"  (SQLite {result['bytes'] / 1e6:.2f} MB)" if "bytes" in result else ""),
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="W2, W2h")
    parser.add_argument("--pattern-events", type=int, default=3_000_000, help="W4")
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--windows", type=int, default=1_000_000)
    parser.add_argument("--buffered", type=int, default=1_000_000)
    parser.add_argument("--bytewax-events", type=int, default=1_000_000)
    parser.add_argument("--bytewax-windows", type=int, default=50_000)
    parser.add_argument("--skip-bytewax", action="store_true")
    parser.add_argument("--only", default="throughput,windows,buffered",
                        help="comma-separated parts to run")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    print(f"W2/W2h {args.events:,} events, W4 {args.pattern_events:,}, bytewax W2 "
          f"{args.bytewax_events:,}; batches of {args.batch:,}; polars {pl.__version__}, "
          f"python {sys.version.split()[0]}", flush=True)
    if "throughput" in parts:
        throughput_table(args)
    if "windows" in parts:
        text = run_w2.STREAM + ("SELECT k, window_start, COUNT(*) AS n, SUM(v) AS total "
                                "FROM ev GROUP BY k, TUMBLE(1 HOUR);")
        with tempfile.TemporaryDirectory() as folder:
            r = checkpoint_and_restore(text, open_windows(args.windows), Path(folder) / "s")
        print(f"frys: {args.windows:,} open windows: checkpoint {r['write_s']:.2f} s, "
              f"restore {r['restore_s']:.2f} s, {r['bytes'] / 1e6:.1f} MB "
              f"({r['bytes'] / args.windows:.1f} B per window; {r['state_rows']:,} "
              f"state rows, {r['bytes'] / max(r['state_rows'], 1):.1f} B per row)",
              flush=True)
        if not args.skip_bytewax:
            import checkpoints_bytewax

            with tempfile.TemporaryDirectory() as folder:
                b = checkpoints_bytewax.open_windows_restore(args.bytewax_windows,
                                                             Path(folder))
            print(f"bytewax: {args.bytewax_windows:,} open windows: ingested with 1 s "
                  f"epochs in {b['ingest_s']:.2f} s, restore {b['restore_s']:.2f} s, "
                  f"SQLite {b['bytes'] / 1e6:.1f} MB ({b['bytes_per_window']:.0f} B per "
                  "window)", flush=True)
    if "buffered" in parts:
        with tempfile.TemporaryDirectory() as folder:
            r = checkpoint_and_restore(BUFFERED_JOB, buffered_events(args.buffered),
                                       Path(folder) / "s")
        print(f"frys: {args.buffered:,} buffered pattern events "
              f"({args.buffered // 2:,} partitions; ingested in {r['ingest_s']:.1f} s): "
              f"checkpoint {r['write_s']:.2f} s, restore {r['restore_s']:.2f} s, "
              f"{r['bytes'] / 1e6:.1f} MB ({r['bytes'] / args.buffered:.1f} B per event; "
              f"{r['state_rows']:,} state rows, {r['bytes'] / max(r['state_rows'], 1):.1f} "
              "B per row)", flush=True)


if __name__ == "__main__":
    main()
