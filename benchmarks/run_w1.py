"""W1 benchmark harness: frys vs bytewax vs DuckDB on the same JSONL file.

For every contender the harness launches a fresh Python process, times it
wall-clock with ``time.perf_counter`` (start-up, parsing, processing and output
writing all included) and reads the child's peak RSS from ``os.wait4``. Repeats
are interleaved round-robin so that slow drift on the machine hits every
contender alike. After the runs it loads every result file and fails (exit 1)
unless all contenders produced the same (k, window) rows, total count and sum
of totals (relative tolerance 1e-6).

Usage::

    .venv/bin/python benchmarks/run_w1.py                        # all three, 3 repeats
    .venv/bin/python benchmarks/run_w1.py --only bytewax,duckdb  # peers only
    .venv/bin/python benchmarks/run_w1.py --events 100000 --repeat 5

Exit codes: 0 success, 1 results differ, 2 a contender failed to run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from gen_events import DEFAULT_EVENTS, ensure_events
from gen_events import DEFAULT_OUT as EVENTS_PATH
from w1_outputs import compare_outputs, load_output

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"
PYTHON = sys.executable
CONTENDER_NAMES = ("frys", "bytewax", "duckdb")
LOG_TAIL_LINES = 20


class ContenderFailed(RuntimeError):
    """A benchmarked process could not be started or exited non-zero."""


@dataclass(frozen=True)
class Contender:
    """One engine under test: the command to run and the file it writes."""

    name: str
    command: tuple[str, ...]
    output: Path


@dataclass
class Results:
    """Wall times (seconds) and peak RSS values (bytes) of every repeat."""

    wall_seconds: list[float] = field(default_factory=list)
    peak_rss_bytes: list[int] = field(default_factory=list)


def frys_executable() -> Path:
    """The ``frys`` console script installed next to the running interpreter."""
    return Path(PYTHON).parent / "frys"


def build_contenders(names: list[str]) -> list[Contender]:
    """Commands for the selected contenders, in a fixed order (frys first)."""
    available = {
        "frys": Contender("frys", (str(frys_executable()), "run",
                                   str(BENCH_DIR / "w1.frysql")),
                          OUT_DIR / "frys_w1.jsonl"),
        "bytewax": Contender("bytewax", (PYTHON, str(BENCH_DIR / "peer_bytewax.py"),
                                         str(EVENTS_PATH), str(OUT_DIR / "bytewax_w1.jsonl")),
                             OUT_DIR / "bytewax_w1.jsonl"),
        "duckdb": Contender("duckdb", (PYTHON, str(BENCH_DIR / "peer_duckdb.py"),
                                       str(EVENTS_PATH), str(OUT_DIR / "duckdb_w1.jsonl")),
                            OUT_DIR / "duckdb_w1.jsonl"),
    }
    return [available[name] for name in CONTENDER_NAMES if name in names]


def run_once(contender: Contender) -> tuple[float, int]:
    """Run ``contender`` once as a child process; return (wall seconds, peak RSS bytes)."""
    contender.output.unlink(missing_ok=True)  # never verify a stale file
    log_path = OUT_DIR / f"{contender.name}_w1.log"
    with log_path.open("wb") as log:
        start = time.perf_counter()
        try:
            child = subprocess.Popen(contender.command, cwd=REPO_ROOT,
                                     stdout=log, stderr=subprocess.STDOUT)
        except OSError as error:
            raise ContenderFailed(f"{contender.name}: cannot start "
                                  f"{contender.command[0]}: {error}") from error
        _pid, status, usage = os.wait4(child.pid, 0)
        wall_seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        raise ContenderFailed(f"{contender.name} exited with code {child.returncode} "
                              f"(full log: {log_path}):\n  " + "\n  ".join(tail))
    return wall_seconds, usage.ru_maxrss * 1024  # Linux reports ru_maxrss in KiB


def percentile(values: list[float], fraction: float) -> float:
    """Linearly interpolated percentile (``fraction`` in [0, 1]) of ``values``."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def summarize(results: Results, events: int) -> dict[str, float]:
    """Derive the reported metrics from the raw per-repeat measurements."""
    peak_rss = max(results.peak_rss_bytes)
    return {
        "events/s (best)": events / min(results.wall_seconds),
        "events/s (median)": events / statistics.median(results.wall_seconds),
        "run latency p50 (s)": percentile(results.wall_seconds, 0.50),
        "run latency p99 (s)": percentile(results.wall_seconds, 0.99),
        "peak RSS (MB)": peak_rss / 2**20,
        "bytes/event": peak_rss / events,
    }


def format_table(summaries: dict[str, dict[str, float]]) -> str:
    """Render the metrics side by side, one column per contender."""
    names = list(summaries)
    metrics = list(next(iter(summaries.values())))
    label_width = max(len(metric) for metric in metrics)
    column_width = max(12, *(len(name) for name in names))
    lines = [" " * label_width + "".join(f"  {name:>{column_width}}" for name in names)]
    for metric in metrics:
        cells = "".join(f"  {summaries[name][metric]:>{column_width},.2f}" for name in names)
        lines.append(f"{metric:<{label_width}}{cells}")
    return "\n".join(lines)


def format_ratios(summaries: dict[str, dict[str, float]]) -> list[str]:
    """frys/peer ratios: throughput (>1 means frys is faster) and peak RSS."""
    if "frys" not in summaries:
        return []
    frys = summaries["frys"]
    lines = []
    for peer in ("bytewax", "duckdb"):
        if peer in summaries:
            other = summaries[peer]
            throughput = frys["events/s (median)"] / other["events/s (median)"]
            memory = frys["peak RSS (MB)"] / other["peak RSS (MB)"]
            lines.append(f"frys/{peer}: throughput x{throughput:.2f} (median events/s), "
                         f"peak RSS x{memory:.2f}")
    return lines


def verify_outputs(contenders: list[Contender]) -> list[str]:
    """Cross-check every contender's result file against the first one."""
    outputs = {contender.name: load_output(contender.output) for contender in contenders}
    reference_name, reference = next(iter(outputs.items()))
    for name, output in outputs.items():
        print(f"  {name:<8} rows={output.row_count:,} events={output.event_count:,} "
              f"sum(total)={output.total_sum:,.6f}  ({output.path.name})")
    problems: list[str] = []
    for name, output in list(outputs.items())[1:]:
        problems.extend(compare_outputs(reference_name, reference, name, output))
    return problems


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS,
                        help=f"events in the input file (default {DEFAULT_EVENTS})")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per contender (default 3)")
    parser.add_argument("--only", default=",".join(CONTENDER_NAMES),
                        help="comma-separated subset of: " + ",".join(CONTENDER_NAMES))
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(args.only) - set(CONTENDER_NAMES))
    if unknown or not args.only:
        parser.error(f"--only expects names from {', '.join(CONTENDER_NAMES)}; got {unknown}")
    if args.events <= 0 or args.repeat <= 0:
        parser.error("--events and --repeat must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if ensure_events(EVENTS_PATH, args.events):
        print(f"generated {args.events:,} events in {EVENTS_PATH}")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    contenders = build_contenders(args.only)
    results = {contender.name: Results() for contender in contenders}
    print(f"W1: {args.events:,} events, {args.repeat} repeat(s), "
          f"{os.cpu_count()} CPU(s), contenders: {', '.join(results)}")
    try:
        for repeat in range(1, args.repeat + 1):
            for contender in contenders:
                wall_seconds, peak_rss = run_once(contender)
                results[contender.name].wall_seconds.append(wall_seconds)
                results[contender.name].peak_rss_bytes.append(peak_rss)
                print(f"  run {repeat}/{args.repeat} {contender.name:<8} "
                      f"{wall_seconds:7.3f} s  peak RSS {peak_rss / 2**20:7.1f} MB")
    except ContenderFailed as failure:
        print(f"ERROR: {failure}", file=sys.stderr)
        return 2

    summaries = {name: summarize(result, args.events) for name, result in results.items()}
    print()
    print(format_table(summaries))
    for line in format_ratios(summaries):
        print(line)

    print("\nverifying result files:")
    problems = verify_outputs(contenders)
    if problems:
        print("ERROR: W1 results differ between contenders:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print("OK: all result files agree" if len(contenders) > 1
          else "OK: only one contender, nothing to compare")
    return 0


if __name__ == "__main__":
    sys.exit(main())
