"""What run_joins.py's workloads (joins_w6.py, joins_w7.py, joins_w8.py) share: the command
line, feeding a frys Pipeline (timed, its state sampled outside the timing), the paced
latency harness and its weighted quantiles, the DuckDB and Flink peers' runners, and the
result table every workload prints. Not a script: run_joins.py is the entry point.

Imported by name from benchmarks/ (run_joins.py's folder, first on sys.path when it runs;
the tests put it there).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

import frys

MINUTE = 60_000
T0 = 1_700_000_000_000
TARGET_VS_FLINK = 3.0  # issue 14: at least 3x Flink's events/s

# one publish: (stream, rows); a round: the publishes made together (one due time, one
# state sample)
Publish = tuple[str, pl.DataFrame]
Round = list[Publish]


def parse_args(description: str, workloads: Sequence[str]) -> argparse.Namespace:
    """run_joins.py's command line (its docstring says what each option does)."""
    parser = argparse.ArgumentParser(description=description)
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
    parser.add_argument("--no-duckdb", action="store_true",
                        help="skip the DuckDB peer (skipped anyway when duckdb is not "
                        "installed: it comes with the bench extra)")
    parser.add_argument("--table-rows", type=int, default=100_000,
                        help="W7: rows of the table (current rows, or versions)")
    parser.add_argument("--workload", choices=(*workloads, "all"), default="all",
                        help="W6 (interval join), W7 (stream-table joins), W8 (window join, "
                        "NEXMark q8) or all three, in that order")
    return parser.parse_args()


@dataclass(frozen=True)
class Peers:
    """Why each peer does not run (None: it runs)."""

    flink: str | None
    duckdb: str | None

    @classmethod
    def of(cls, args: argparse.Namespace) -> Peers:
        return cls("--no-flink" if args.no_flink else flink_usable(args.flink_python),
                   "--no-duckdb" if args.no_duckdb else duckdb_usable())

    def skipped(self) -> list[str]:
        """The lines a table ends with, one per peer that did not run."""
        return [f"({peer} peer skipped: {why})" for peer, why in
                (("DuckDB", self.duckdb), ("Flink", self.flink)) if why is not None]


# ---------------------------------------------------------------------- frys


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
    rows: int  # rows measured
    p50_ms: float
    p99_ms: float
    max_ms: float
    offered: float  # events/s asked
    achieved: float  # events/s over the whole paced run


def pipeline_of(job: str) -> frys.Pipeline:
    return frys.Pipeline.from_text(job, keep_results=False)


def with_utc(frame: pl.DataFrame) -> pl.DataFrame:
    """`ts` (epoch ms, as the peers read it) as the timestamp frys' streams declare."""
    return frame.with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def payload_bytes(operator: object) -> int:
    """The bytes of the input columns a join buffers (named `<qualifier>.<column>`; the
    operator's own columns start with `__`), read through its snapshot."""
    tables = operator.snapshot().tables  # type: ignore[attr-defined]
    return sum(int(column.estimated_size()) for table in tables.values()
               for column in table.get_columns() if not column.name.startswith("__"))


def timed_rounds(pipeline: frys.Pipeline, rounds: Iterable[Round],
                 sample: Callable[[], None], before: Sequence[Publish] = ()) -> float:
    """Publishes `before`, then each round, as fast as frys takes them, and finishes; calls
    `sample` after each round. Returns the seconds taken without the sampling's (the rounds
    may be made lazily: making them is counted, as publishing a slice is frys' work)."""
    sampling = 0.0
    start = time.perf_counter()
    for name, frame in before:
        pipeline.publish(name, frame)
    for publishes in rounds:
        for name, frame in publishes:
            pipeline.publish(name, frame)
        sampled = time.perf_counter()
        sample()
        sampling += time.perf_counter() - sampled
    pipeline.finish()
    return time.perf_counter() - start - sampling


def paced_latency(pipeline: frys.Pipeline, output: str, rounds: Sequence[Round],
                  step: float, samples: Callable[[pl.DataFrame, list[float]],
                                                 Iterable[tuple[float, int]]],
                  offered: float, events: int) -> Latency:
    """Emission latency at a fixed offered rate. Round i is due at start + i * `step`
    seconds (a paced loop sleeps until then; a round that starts late is not rescheduled,
    so frys falling behind the offered rate shows as latency, not as a gap). Publishing is
    synchronous, so `output`'s rows arrive while the round that causes them is published:
    `samples(frame, dues)` says, for the rows the subscriber got, (when the publish they
    are counted from was due, rows); each row's latency is the wall time from then to the
    frame's arrival. What finishing emits is no publish's doing and is not measured.
    `events` over the paced loop's wall time is the achieved rate."""
    dues: list[float] = []
    measuring = [True]
    latencies: list[float] = []
    counts: list[int] = []

    def emitted(frame: pl.DataFrame) -> None:
        now = time.perf_counter()
        if not measuring[0]:
            return
        for due, rows in samples(frame, dues):
            latencies.append(now - due)
            counts.append(rows)

    pipeline.subscribe(output, emitted)
    start = time.perf_counter()
    for number, publishes in enumerate(rounds):
        dues.append(start + number * step)
        wait = dues[-1] - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        for name, frame in publishes:
            pipeline.publish(name, frame)
    seconds = time.perf_counter() - start
    measuring[0] = False
    pipeline.finish()
    quantiles = [weighted_quantile(latencies, counts, q) * 1000 for q in (0.5, 0.99)]
    return Latency(sum(counts), *quantiles, max(latencies, default=float("nan")) * 1000,
                   offered, events / seconds)


def weighted_quantile(values: list[float], weights: list[int], q: float) -> float:
    """The q-quantile of `values`, each repeated `weights` times: the smallest value whose
    cumulative weight reaches q of the total (NaN when there is none)."""
    total = sum(weights)
    if total == 0:
        return float("nan")
    ranked = pl.DataFrame({"value": values, "weight": weights},
                          schema={"value": pl.Float64, "weight": pl.Int64}).sort("value")
    return float(ranked.filter(pl.col("weight").cum_sum() >= q * total)["value"][0])


# ---------------------------------------------------------------------- DuckDB


def duckdb_usable() -> str | None:
    """Why the DuckDB peer cannot run, or None when it can. Looked up, not imported: the
    peer imports it when it first runs, after frys' first run, as it always did."""
    if importlib.util.find_spec("duckdb") is None:
        return "duckdb is not installed (pip install -e '.[bench]')"
    return None


def run_duckdb(tables: dict[str, pl.DataFrame], query: str) -> tuple[tuple, float]:
    """(the query's one row, seconds): one SQL statement over Arrow scans of the frames,
    registered under their names (a batch engine seeing everything at once, all cores)."""
    import duckdb  # the bench extra: not needed to import this module (CI's tests do)

    start = time.perf_counter()
    with duckdb.connect(":memory:") as connection:
        for name, frame in tables.items():
            connection.register(name, frame.to_arrow())
        row = connection.execute(query).fetchone()
    assert row is not None
    return row, time.perf_counter() - start


# ---------------------------------------------------------------------- Flink


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


def run_flink(python: str, kind: str, *csvs: Path) -> dict:
    """peer_flink_joins.py's JSON line for `kind` over the CSV files, with wall_seconds."""
    script = Path(__file__).resolve().with_name("peer_flink_joins.py")
    started = time.perf_counter()
    done = subprocess.run([python, str(script), kind, *map(str, csvs)],
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


def write_csvs(directory: Path, frames: dict[str, pl.DataFrame]) -> tuple[Path, ...]:
    """Each frame as `<name>.csv`, as Flink's filesystem source reads them: no header, ts in
    epoch ms."""
    paths = []
    for name, frame in frames.items():
        paths.append(directory / f"{name}.csv")
        frame.write_csv(paths[-1], include_header=False)
    return tuple(paths)


# ---------------------------------------------------------------------- the result table


@dataclass
class Line:
    """One row of a workload's table."""

    label: str  # "W6 INNER", "W7 versioned LEFT", ...
    events: int  # what events/s counts, for every engine
    frys_seconds: float
    rows: int
    latency: Latency
    b_row: float
    state_bytes: int
    duck_seconds: float | None  # None: DuckDB did not run
    flink: dict | None  # peer_flink_joins.py's JSON line; None: Flink did not run
    agree: bool | None  # every peer that ran gave frys' result; None: no peer ran


def compare(label: str, ours: object, theirs: dict[str, object], show: Callable[[object], str]
            ) -> tuple[bool | None, list[str]]:
    """(whether every peer's result is frys', None without peers; a mismatch line each)."""
    mismatches = [f"{label}: frys {show(ours)}, {peer} {show(result)}"
                  for peer, result in theirs.items() if result != ours]
    return (not mismatches if theirs else None), mismatches


def each(lines: Sequence[Line], show: Callable[[Line], str]) -> str:
    """`INNER <show(inner)>, LEFT <show(left)>`: each line named by its label's last word."""
    return ", ".join(f"{line.label.split()[-1]} {show(line)}" for line in lines)


def print_table(lines: Sequence[Line], width: int) -> None:
    """The table, its first column `width` wide; the lines a workload adds (latency, B/row)
    come after, then print_flink's."""
    print(f"\n{'job':<{width}}{'frys ev/s':>12}{'Flink ev/s':>12}{'Flink marg.':>13}"
          f"{'frys/Flink':>12}{'(marg.)':>9}{'DuckDB ev/s':>13}{'frys/DuckDB':>13}{'rows':>11}"
          f"  {'counts':<9}{'p50 ms':>8}{'p99 ms':>8}{'B/row':>7}{'state MB':>10}")
    for line in lines:
        rate = line.events / line.frys_seconds
        flink = line.flink
        if flink:
            flink_rate = flink["events"] / flink["job_seconds"]
            marginal = flink_marginal(flink)
            flink_cols = (f"{flink_rate:>12,.0f}{marginal:>13,.0f}{rate / flink_rate:>11.1f}x"
                          f"{rate / marginal:>8.1f}x" if marginal else
                          f"{flink_rate:>12,.0f}{'-':>13}{rate / flink_rate:>11.1f}x{'-':>9}")
        else:
            flink_cols = f"{'-':>12}{'-':>13}{'-':>12}{'-':>9}"
        duck = line.duck_seconds
        duck_cols = (f"{line.events / duck:>13,.0f}{duck / line.frys_seconds:>12.2f}x"
                     if duck is not None else f"{'-':>13}{'-':>13}")
        counts = {True: "OK", False: "MISMATCH", None: "-"}[line.agree]
        print(f"{line.label:<{width}}{rate:>12,.0f}{flink_cols}{duck_cols}{line.rows:>11,}  "
              f"{counts:<9}{line.latency.p50_ms:>8.1f}{line.latency.p99_ms:>8.1f}"
              f"{line.b_row:>7.0f}{line.state_bytes / 1e6:>10.1f}")


def print_flink(lines: Sequence[Line], peers: Peers) -> None:
    """Flink's version, what its rates mean, its peak RSS and the verdicts (when it ran);
    the peers that did not run."""
    ran = [line for line in lines if line.flink]
    if ran:
        first = ran[0].flink
        assert first is not None
        rss = ", ".join(f"{line.label.split(' ', 1)[1]} {line.flink['peak_rss_mb']:,.0f} MB"
                        for line in ran if line.flink)
        print(f"Flink {first['version']}, parallelism 1, no latency measure (see "
              "benchmarks/README.md). ev/s: from submitting the query to the last count, "
              f"after a warm-up of the same job over the first {first['warmup_events']:,} "
              f"events; marg.: without the warm-up's fixed cost; peak RSS (Python + JVM) {rss}")
        for line in ran:
            assert line.flink is not None
            rate = line.events / line.frys_seconds
            flink_rate = line.flink["events"] / line.flink["job_seconds"]
            marginal = flink_marginal(line.flink)
            ratios = f"{rate / flink_rate:.1f}x (job)" + (
                f", {rate / marginal:.1f}x (marginal)" if marginal else "")
            met = "met" if rate >= TARGET_VS_FLINK * flink_rate else "NOT met"
            print(f"{line.label}: frys/Flink {ratios}; target {TARGET_VS_FLINK:.0f}x (job) "
                  f"{met}")
    for skipped in peers.skipped():
        print(skipped)
