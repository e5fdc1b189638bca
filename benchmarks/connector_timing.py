"""What the broker benchmarks (benchmarks/bench_*.py) share: the events they send, and timing a
frys job that reads a broker until its output holds every event.

`time_job(text, base_dir, done)` builds a `frys.Pipeline` of `text`, runs it in a thread
(with `exit_when_idle`, so it ends once the broker has nothing more) and polls `done()` (the
number of events the job's output holds, asked of the broker or a file) from the calling
thread; the time is from the run's start to the first poll that sees every event, so the
idle wait that ends the run is not counted, nor the job's compilation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

JOB_COLUMNS = "k INT, v FLOAT, s STRING, ts TIMESTAMP"


def events(count: int) -> pl.DataFrame:
    """`count` events of the benchmark schema (k INT, v FLOAT, s STRING, ts TIMESTAMP)."""
    return pl.DataFrame({
        "k": pl.int_range(0, count, eager=True) % 1000,
        "v": (pl.int_range(0, count, eager=True) * 7 % 10_000) / 100,
        "s": pl.Series([f"sym{i % 50}" for i in range(count)]),
        "ts": (pl.int_range(0, count, eager=True) * 3 + 1_700_000_000_000)
        .cast(pl.Datetime("ms", "UTC"))})


def passthrough_job(source: str, sink: str) -> str:
    """The job every broker benchmark times: the benchmark schema read from `source`, each
    event written unchanged to `sink`."""
    return (f"CREATE STREAM inp ({JOB_COLUMNS}) WITH (source = '{source}', event_time = ts);\n"
            f"CREATE STREAM outp ({JOB_COLUMNS}) WITH (sink = '{sink}');\n"
            "INSERT INTO outp SELECT k, v, s, ts FROM inp;\n")


def bench_main(measure: Callable[[int], list[tuple[str, float]]], description: str) -> None:
    """A bench_<scheme>.py run on its own: `--events N` (default 200,000), then one line
    per row of `measure(N)`."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    rows = measure(args.events)
    width = max(len(label) for label, _ in rows)
    for label, rate in rows:
        print(f"{label:{width}s} {rate:>12,.0f} events/s")


def time_job(text: str, base_dir: Path, expected: int, done: Callable[[], int],
             timeout: float = 600.0) -> float:
    """Seconds from the start of the run of `text` until `done()` reaches `expected`."""
    from frys import Pipeline

    pipeline = Pipeline(text, base_dir=base_dir)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            pipeline.run(exit_when_idle="1s")
        except BaseException as error:  # reported by the caller
            failure.append(error)

    thread = threading.Thread(target=run, name="frys benchmark job")
    start = time.perf_counter()
    thread.start()
    deadline = start + timeout
    while True:
        if failure:
            raise failure[0]
        if done() >= expected:
            elapsed = time.perf_counter() - start
            break
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the job's output holds {done()} of {expected} events after "
                               f"{timeout:g}s")
        time.sleep(0.005)
    thread.join()
    if failure:
        raise failure[0]
    return elapsed
