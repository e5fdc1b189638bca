"""W3, W4, W5: pattern matching from in-memory batches (issue 5), pyflink beside when installed.

    .venv/bin/python benchmarks/run_patterns.py [--events 1000000] [--batch 100000]
        [--flink-python ~/.cache/frys/flink-2.3.0/bin/python] [--profile W3]

1M events over 1,000 partitions (`k`), `price` uniform in [0, 100), `ts` rising by 0-2 ms
per event (about 1,000 events per second of event time, one per partition and second),
deterministic from a seed. Jobs (PARTITION BY k, default AFTER MATCH SKIP PAST LAST EVENT):

* W3 = PATTERN (a b): a price above 90 and, as the very next event of the partition, a
  higher one;
* W4 = PATTERN (a -> c) WITHIN 5 SECONDS: a price above 90, later one below 5;
* W5 = PATTERN (a -> b{2,} -> NOT r) WITHIN 5 SECONDS: card testing after a large charge:
  a charge above 90, then two or more small ones (below 20), and no further large one
  (above 90) after them before 5 seconds from the first are up (the absence is decided
  when the watermark passes).

The events are made once and written to an Arrow IPC file (and, for the Flink peer, a CSV
file) in a temporary directory. Each job runs in a fresh child process (this script with
`--child`) that reads the events into memory, slices them into DataFrames of `--batch`
rows, and only then starts the clock around publishing them to a `frys.Pipeline` and
`finish()` (no decoding). The child reports events/s, matches and matches/s, its peak RSS
during the run (`ru_maxrss`, reset through /proc/self/clear_refs once the input was ready;
in brackets its RSS just before the run), and the operator's state, sampled after every
batch (the sampling time is taken off the clock):

* shared buffer, bytes per buffered event: after a sweep (off the clock), the live bytes of
  the matcher's `SharedBuffer` (each taken event once in typed columns, the nodes of match
  chains as integer arrays) divided by its live events, at the sample with the most events;
* with the partial matches: the same plus the `Partial` objects (Python objects, one per
  partial match), the partitions' `PartitionState` objects, their lists and the partition
  dict, per buffered event;
* arrival buffer: `_buffer.estimated_size() / height` (events waiting for the watermark).

With `--flink-python` (an interpreter with apache-flink installed; Java on PATH), the same
jobs run as Flink SQL MATCH_RECOGNIZE (peer_flink_patterns.py, parallelism 1), each in its
own process, timed whole (JVM start-up included) and by the job alone; match counts are
compared for W3 and W4 (W5's absence has no MATCH_RECOGNIZE equivalent: see that file).
`--profile JOB` runs one job in-process under cProfile and prints the top 15 by tottime.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from process_memory import reset_peak_rss, rss_now_mb

STREAM = ("CREATE STREAM ev (k INT, price FLOAT, ts TIMESTAMP) "
          "WITH (event_time = ts, watermark = 1 SECOND);\n")
JOBS = {
    "W3": "SELECT k, a.price AS a_price, b.price AS b_price, MATCH_END FROM ev "
          "PARTITION BY k PATTERN (a b) "
          "DEFINE a AS a.price > 90, b AS b.price > a.price;",
    "W4": "SELECT k, a.price AS a_price, c.price AS c_price, MATCH_START, MATCH_END FROM ev "
          "PARTITION BY k PATTERN (a -> c) WITHIN 5 SECONDS "
          "DEFINE a AS a.price > 90, c AS c.price < 5;",
    # COUNT(b.price), not COUNT(b): the runtime does not take COUNT(variable) in SELECT yet
    "W5": "SELECT k, a.price AS a_price, COUNT(b.price) AS small_charges, MATCH_START, "
          "MATCH_END FROM ev PARTITION BY k PATTERN (a -> b{2,} -> NOT r) WITHIN 5 SECONDS "
          "DEFINE a AS a.price > 90, b AS b.price < 20, r AS r.price > 90;",
}
TARGETS = {"W3": 320_000, "W4": 172_000}  # 2x Flink 2.3 MATCH_RECOGNIZE (issue 5)


def events(count: int, seed: int = 11) -> pl.DataFrame:
    """Deterministic events: k in 0..999, price in [0, 100) (two decimals), ts epoch ms
    rising by 0, 1 or 2 ms per event."""
    frame = pl.DataFrame({"i": pl.int_range(count, eager=True)}).with_columns(
        (pl.col("i").hash(seed) % 1000).cast(pl.Int64).alias("k"),
        ((pl.col("i").hash(seed + 1) % 10_000) / 100.0).alias("price"),
        (1_700_000_000_000 + (pl.col("i").hash(seed + 2) % 3).cum_sum()).cast(pl.Int64)
        .alias("ts"),
    )
    return frame.select("k", "price", pl.col("ts").cast(pl.Datetime("ms", "UTC")))


# --- in the child process: one job ------------------------------------------------------


def state_size(operator) -> dict:
    """The matcher's state (measurement only: reads the operator's internals). The shared
    buffer is swept first (off the clock), so that it holds just the live partial matches'
    events and nodes; "buffer" is its live bytes (typed columns: events once, nodes as
    integer arrays), "all" adds the Python objects of partial matches and partitions."""
    shared = operator.shared
    shared.sweep(p.node for partition in operator._partitions.values()
                 for p in (*partition.partials, *partition.pending))
    seen: set[int] = set()

    def size(obj) -> int:
        if id(obj) in seen:
            return 0
        seen.add(id(obj))
        return sys.getsizeof(obj)

    other_bytes = 0
    partitions = operator._partitions
    other_bytes += size(partitions)
    for partition in partitions.values():
        other_bytes += size(partition) + size(getattr(partition, "__dict__", None))
        for matches in (partition.partials, partition.pending):
            other_bytes += size(matches)
            for partial in matches:
                other_bytes += size(partial) + size(partial.start_time) + \
                    size(partial.start_seq) + size(partial.last_time) + size(partial.node)
    buffer_bytes = shared.live_bytes()
    partials = sum(len(p.partials) + len(p.pending) for p in partitions.values())
    buffered = operator._buffer
    return {"events": shared.live_events(), "buffer_bytes": buffer_bytes,
            "all_bytes": buffer_bytes + other_bytes, "partials": partials,
            "partitions": len(partitions),
            "arrival_rows": buffered.height if buffered is not None else 0,
            "arrival_bytes": int(buffered.estimated_size()) if buffered is not None else 0}


def prepare(name: str, data: pl.DataFrame, batch: int, sample: bool = True):
    """Build the frys job; return (run, result): run() publishes and finishes, returning
    the seconds spent sampling state (to be taken off the clock)."""
    import frys

    pipeline = frys.Pipeline.from_text(STREAM + JOBS[name])
    operator = pipeline.runtime.queries[0].operator
    batches = [data.slice(offset, batch) for offset in range(0, data.height, batch)]
    result: dict = {}

    def run() -> float:
        sampling = 0.0
        largest = {"events": 0}
        arrival = (0, 0)
        for frame in batches:
            pipeline.publish("ev", frame)
            if sample:
                started = time.perf_counter()
                state = state_size(operator)
                if state["events"] > largest["events"]:
                    largest = state
                if state["arrival_rows"] > arrival[0]:
                    arrival = (state["arrival_rows"], state["arrival_bytes"])
                sampling += time.perf_counter() - started
        pipeline.finish()
        result["matches"] = pipeline.results("select_1").height
        result["late"] = operator.late_events
        result["discarded"] = operator.counters().discarded_partials
        n = largest["events"]
        result["state"] = {
            "events": n, "partials": largest.get("partials", 0),
            "partitions": largest.get("partitions", 0),
            "buffer_bytes_per_event": largest["buffer_bytes"] / n if n else 0.0,
            "all_bytes_per_event": largest["all_bytes"] / n if n else 0.0,
            "arrival_rows": arrival[0],
            "arrival_bytes_per_row": arrival[1] / arrival[0] if arrival[0] else 0.0}
        return sampling

    return run, result


def child(name: str, data_path: str, batch: int) -> dict:
    data = pl.read_ipc(data_path)  # compressed: decoded into memory, not mapped
    run, result = prepare(name, data, batch)
    gc.collect()
    before = rss_now_mb()
    reset = reset_peak_rss()
    start = time.perf_counter()
    sampling = run()
    elapsed = time.perf_counter() - start - sampling
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {**result, "events_per_s": data.height / elapsed,
            "matches_per_s": result["matches"] / elapsed, "seconds": elapsed,
            "sampling_seconds": sampling, "rss_before_mb": before, "peak_rss_mb": peak,
            "peak_reset": reset}


def profile(name: str, data: pl.DataFrame, batch: int) -> None:
    import cProfile
    import pstats

    run, result = prepare(name, data, batch, sample=False)
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    print(f"{name}: {result['matches']:,} matches; cProfile, top 15 by tottime:")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


# --- in the parent process --------------------------------------------------------------

def measure(name: str, data_path: Path, batch: int) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", name,
               "--data", str(data_path), "--batch", str(batch)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def flink_usable(python: str | None) -> str | None:
    """Why the Flink peer cannot run, or None when it can."""
    if python is None:
        try:
            import pyflink  # noqa: F401
        except ImportError:
            return "apache-flink not installed"
        python = sys.executable
    if shutil.which("java") is None:
        return "java not on PATH"
    probe = subprocess.run([python, "-c", "import pyflink"], capture_output=True, check=False)
    if probe.returncode != 0:
        return f"apache-flink not installed for {python}"
    return None


def measure_flink(python: str, name: str, csv_path: Path) -> dict:
    script = Path(__file__).resolve().with_name("peer_flink_patterns.py")
    started = time.perf_counter()
    process = subprocess.Popen([python, str(script), name, str(csv_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"flink {name} failed (exit {process.returncode}):\n{stderr[-3000:]}")
    return {**json.loads(stdout.strip().splitlines()[-1]), "wall_seconds": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--jobs", default=",".join(JOBS), help="comma-separated, e.g. W3,W4")
    parser.add_argument("--flink-python", metavar="PATH",
                        help="a Python with apache-flink installed, for the Flink peer")
    parser.add_argument("--profile", metavar="JOB", help="profile one job in-process")
    parser.add_argument("--child", metavar="JOB", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data, args.batch)))
        return
    if args.profile:
        profile(args.profile, events(args.events), args.batch)
        return
    names = [n.strip() for n in args.jobs.split(",") if n.strip()]
    why_not = flink_usable(args.flink_python)
    flink_python = args.flink_python or sys.executable
    results: dict[str, dict] = {}
    flink: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="frys_patterns_") as tmp:
        data = events(args.events)
        data_path = Path(tmp) / "events.arrow"
        data.write_ipc(data_path, compression="lz4")
        csv_path = Path(tmp) / "events.csv"
        if why_not is None:  # k, price, ts as epoch ms; no header
            data.select("k", "price", pl.col("ts").dt.epoch("ms")).write_csv(
                csv_path, include_header=False)
        del data
        print(f"{args.events:,} events over 1,000 partitions, frys batches of "
              f"{args.batch:,} rows; each job in a fresh process", flush=True)
        for name in names:
            results[name] = measure(name, data_path, args.batch)
            print(f"  frys {name}: {results[name]['events_per_s']:,.0f} events/s", flush=True)
            if why_not is None:
                flink[name] = measure_flink(flink_python, name, csv_path)
                print(f"  flink {name}: {flink[name]['events'] / flink[name]['job_seconds']:,.0f}"
                      f" events/s (job)", flush=True)

    print(f"\n{'job':<5}{'events/s':>12}{'matches':>10}{'matches/s':>12}{'peak RSS MB':>14}"
          f"{'buffered events':>17}{'B/event buffer':>16}{'B/event all':>13}"
          f"{'arrival B/row':>15}{'target':>10}")
    for name, r in results.items():
        state = r["state"]
        rss = f"{r['peak_rss_mb']:.0f} ({r['rss_before_mb']:.0f})"
        target = TARGETS.get(name)
        verdict = ("-" if target is None else
                   ("met" if r["events_per_s"] >= target else f"{target // 1000}k"))
        print(f"{name:<5}{r['events_per_s']:>12,.0f}{r['matches']:>10,}"
              f"{r['matches_per_s']:>12,.0f}"
              f"{rss:>14}"
              f"{state['events']:>17,}{state['buffer_bytes_per_event']:>16,.0f}"
              f"{state['all_bytes_per_event']:>13,.0f}{state['arrival_bytes_per_row']:>15,.0f}"
              f"{verdict:>10}")
    print("peak RSS: of each job's process during its run (in brackets: just before it, "
          "holding the input); bytes per buffered event at the sample with the most events")
    if not all(r["peak_reset"] for r in results.values()):
        print("note: /proc/self/clear_refs not writable, so peaks include getting ready")
    notes = [f"{n}: {r['late']:,} late events" for n, r in results.items() if r["late"]]
    notes += [f"{n}: {r['discarded']:,} partial matches over the limit"
              for n, r in results.items() if r["discarded"]]
    for note in notes:
        print("note:", note)
    if why_not is not None:
        print(f"\n(Flink peer skipped: {why_not})")
        return
    print(f"\n{'job':<5}{'flink ev/s job':>16}{'ev/s marginal':>15}{'ev/s process':>14}"
          f"{'matches':>10}{'frys/flink job':>16}{'frys/flink marg.':>18}{'peak RSS MB':>13}"
          "  counts")
    mismatches = []
    for name, f in flink.items():
        job_rate = f["events"] / f["job_seconds"]
        marginal = (f["events"] - f["warmup_events"]) / max(
            f["job_seconds"] - f["warmup_seconds"], 1e-9)
        comparable = name in ("W3", "W4")
        agree = f["matches"] == results[name]["matches"]
        if comparable and not agree:
            mismatches.append(f"{name}: frys {results[name]['matches']:,}, "
                              f"flink {f['matches']:,}")
        frys_rate = results[name]["events_per_s"]
        print(f"{name:<5}{job_rate:>16,.0f}{marginal:>15,.0f}"
              f"{f['events'] / f['wall_seconds']:>14,.0f}{f['matches']:>10,}"
              f"{frys_rate / job_rate:>15.1f}x{frys_rate / marginal:>17.1f}x"
              f"{f['peak_rss_mb']:>13,.0f}  "
              f"{('agree' if agree else 'DIFFER') if comparable else 'approximation'}")
    print(f"Flink {flink[next(iter(flink))]['version']}, parallelism 1. job: from submitting "
          "the query to the last match collected, after a warm-up run of the same job over "
          "the first 10,000 events in the same process; marginal: (events - 10,000) / (job "
          "- warm-up seconds), i.e. without a job's fixed cost; process: whole process wall "
          "time (JVM start-up and the warm-up included); RSS: summed peaks of the Python and "
          "Java processes")
    if mismatches:
        raise SystemExit("match counts differ: " + "; ".join(mismatches))


if __name__ == "__main__":
    main()
