"""Scale-out on bytewax (issue 17): W2, W4 and W6 from JSONL and Arrow IPC files, the
bytewax runtime with 1 and 2 workers and 2 processes beside the embedded runtime and a
hand-written bytewax W2, in one run; then the cost of an extra host and a projection to 8
and 64 hosts (scaleout_model.py).

    .venv/bin/python benchmarks/run_scaleout.py [--events 2000000] [--workloads W2,W4,W6]
        [--formats jsonl,arrow] [--contenders embedded,bw-w1,...] [--repeat 1]
        [--peer-events 400000] [--json benchmarks/out/scaleout.json]

The inputs are written once (scaleout_data.py) to benchmarks/data/scaleout/. Every
contender is its own process, timed wall-clock from its start to its exit (start-up,
reading, the job and the sink's writing all included):

* `embedded`: `frys run JOB -q`;
* `bw-w1`, `bw-w2`: `frys run JOB -q --runtime bytewax -w 1|2` (one process; bytewax's
  workers are threads sharing the GIL);
* `bw-p2`: `... --runtime bytewax -p 2` (two processes on loopback; each file is read as
  two partitions, stripes of about 4 MiB (JSON Lines: at line starts; Arrow IPC: of
  record batches) dealt round robin: the default, as many partitions as the cluster has
  workers; each process gets POLARS_MAX_THREADS=1, its share of the 2 cores);
* `bw-p2-whole`: the same with `--source-partitions 1`: each file read whole by one
  worker, which routes half its rows to the other;
* `embedded-1c`, `bw-w1-1c`: the same with POLARS_MAX_THREADS=1, one core: polars'
  thread pool lets one process use 1.3-1.5 of this machine's 2 cores on W2 and W6, so
  two processes can be at most 2/1.4 = 1.4x one there whatever the runtime does; against
  one process held to one core (as each of `bw-p2`'s is) the ratio is the scaling
  itself;
* `peer-w1`, `peer-p2` (W2 only): hand-written bytewax W2 (scaleout_peer_bytewax.py), one
  process reading the whole file, or two processes reading the input split by key (one file
  per k % 2: bytewax's per-key event clock needs each key's events in time order). The peer
  runs at `--peer-events` (about 30-50k events/s: the full input would take a minute per
  run), beside `embedded@peer`, the embedded runtime on that same input (its row count is
  the peer's check).

A JSONL job writes its rows as JSONL too: a folder of part files (`file:...jsonl?parts=true`,
every process of a cluster writing its own parts, as an Arrow job's folder is), or with
`--jsonl-sink file` one file, which has one writer, on process 0 of a cluster: every row
crosses to it, and with W2's output (0.59 rows per event) that one writer bounds the
cluster.

Each repeat (`--repeat`, interleaved across contenders) runs every contender over
`--tiny-events` events, then over the full input. Reported: events/s (events over the
median wall time; the best in brackets), the start-up (the best tiny run's wall time: a
`-p 2` cluster's start-up varies by a second with when timely's connection retry fires),
the start-up-free rate (the marginal rate between the best tiny and the best full run:
(N - n) / (T - t); `-` when T - t is under half a second), the peak RSS summed over the process
and its children (VmHWM of each, sampled every 20 ms), that sum per event, the output rows
(each must equal the embedded runtime's on the same input: `OK`/`MISMATCH`, exit status 1
on a mismatch), the CPU seconds (user + system of the process and its children), the CPU
per event without start-up (median CPU of the full runs minus that of the tiny runs, over
N - n) and the 1-minute load average at the start of the run. Each ratio is given three
ways: events/s, start-up-free events/s, and the bound the CPU alone sets (the other's CPU
per event over this one's spread on its cores: 2 for `-p 2`, 1 for one process, bytewax's
workers in one process sharing the GIL): what a quiet machine would show at best.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl
import scaleout_data as data
import scaleout_model as model

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / "data" / "scaleout"
PYTHON = sys.executable
FRYS = str(Path(PYTHON).parent / "frys")
PEER = str(BENCH_DIR / "scaleout_peer_bytewax.py")
ALL_CONTENDERS = ("embedded", "bw-w1", "bw-w2", "bw-p2", "bw-p2-whole", "embedded-1c",
                  "bw-w1-1c",
                  "embedded@peer", "peer-w1", "peer-p2")
PEER_CONTENDERS = ("embedded@peer", "peer-w1", "peer-p2")
FRYS_FLAGS = {"embedded": [], "embedded@peer": [], "bw-w1": ["--runtime", "bytewax"],
              "bw-w2": ["--runtime", "bytewax", "-w", "2"],
              "bw-p2": ["--runtime", "bytewax", "-p", "2"],
              "bw-p2-whole": ["--runtime", "bytewax", "-p", "2", "--source-partitions", "1"]}
ONE_CORE = "-1c"  # a contender run with one polars thread per process
FRYS_FLAGS.update({f"{name}{ONE_CORE}": FRYS_FLAGS[name]
                   for name in ("embedded", "bw-w1")})


MIN_MARGINAL_S = 0.5


class Failed(RuntimeError):
    pass


@dataclass
class Run:
    contender: str
    workload: str
    fmt: str
    events: int
    walls: list[float] = field(default_factory=list)
    rss_bytes: list[int] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)
    tiny_walls: list[float] = field(default_factory=list)
    tiny_cpu_seconds: list[float] = field(default_factory=list)
    tiny_events: int = 0
    rows: int | None = None
    reference_rows: int | None = None
    processes: int = 1

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def rate(self) -> float:
        return self.events / self.wall

    @property
    def best_rate(self) -> float:
        return self.events / min(self.walls)

    @property
    def tiny_wall(self) -> float:
        return min(self.tiny_walls)

    @property
    def marginal(self) -> float | None:
        """(N - n) / (best wall - best tiny wall); None when the difference is under
        MIN_MARGINAL_S (the start-up's own spread would dominate)."""
        if not self.tiny_walls or min(self.walls) - self.tiny_wall < MIN_MARGINAL_S:
            return None
        return (self.events - self.tiny_events) / (min(self.walls) - self.tiny_wall)

    @property
    def marginal_cpu_us(self) -> float:
        """CPU microseconds per event without start-up: (median CPU - median tiny CPU) /
        (N - n), all processes together; less sensitive to other load than wall time."""
        return (statistics.median(self.cpu_seconds) - statistics.median(
            self.tiny_cpu_seconds)) / (self.events - self.tiny_events) * 1e6

    @property
    def check(self) -> str:
        if self.reference_rows is None or self.rows is None:
            return "-"
        return "OK" if self.rows == self.reference_rows else "MISMATCH"


# --- a process tree, timed, its memory sampled ------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(c) for c in handle.read().split()]
    except OSError:
        pass
    return found


def _hwm_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def timed(command: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None
          ) -> tuple[float, int, int, float]:
    """Run `command`; (wall seconds, summed peak RSS bytes of it and its descendants,
    processes seen, CPU seconds: user + system of it and the descendants it waited for).
    Failed when it exits non-zero."""
    peaks: dict[int, int] = {}
    done = threading.Event()
    with log.open("wb") as out:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                 env=env)

        def sample() -> None:
            while not done.is_set():
                stack = [child.pid]
                while stack:
                    pid = stack.pop()
                    hwm = _hwm_kb(pid)
                    if hwm is not None:
                        peaks[pid] = max(peaks.get(pid, 0), hwm)
                    stack += _children(pid)
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _pid, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = "\n  ".join(log.read_text(errors="replace").splitlines()[-15:])
        raise Failed(f"{' '.join(command)} exited with {code} (log {log}):\n  {tail}")
    if child.pid not in peaks:
        # gone before the first sample: its own maximum. Only then: Linux's ru_maxrss of
        # a child counts the pages it shared with this process between fork and exec,
        # so it is at least this process's RSS (700 MB once this process has built the
        # inputs: every contender then showed the same peak)
        peaks[child.pid] = usage.ru_maxrss
    cpu = usage.ru_utime + usage.ru_stime
    return wall, sum(peaks.values()) * 1024, len(peaks), cpu


def loopback(count: int) -> list[str]:
    from frys.engine.scaleout.cluster import loopback_addresses
    return list(loopback_addresses(count))


# --- contenders ------------------------------------------------------------------------


def command(contender: str, workload: str, fmt: str, events: int, jsonl_parts: bool = True
            ) -> tuple[list[str], Path]:
    """The contender's command over the `events` input and where its rows go (a JSONL
    output: a folder of part files unless not `jsonl_parts`)."""
    output = data.output_path(DATA_DIR, f"{contender}_{events}", workload, fmt)
    if contender.startswith("peer"):
        output = output.with_suffix(".jsonl")
        stream = next(iter(data.STREAMS[workload]))
        if contender == "peer-w1":
            return [PYTHON, PEER, str(output),
                    str(data.input_path(DATA_DIR, workload, stream, fmt, events))], output
        inputs = [str(data.input_path(DATA_DIR, workload, stream, fmt, events, (i, 2)))
                  for i in range(2)]
        # two processes: this script's --peer-cluster launches and waits for both
        return [PYTHON, __file__, "--peer-cluster", str(output), *inputs], output
    job = data.write_job(DATA_DIR, workload, fmt, events, output, jsonl_parts)
    return [FRYS, "run", str(job), "-q", *FRYS_FLAGS[contender]], output


def peer_cluster(output: str, inputs: list[str]) -> int:
    """Two processes of the hand-written peer on loopback; fails if either fails."""
    addresses = ";".join(loopback(2))
    children = [subprocess.Popen([PYTHON, PEER, output, *inputs, "-i", str(i), "-a",
                                  addresses], stdout=subprocess.DEVNULL)
                for i in range(2)]
    codes = [child.wait() for child in children]
    return max(abs(code) for code in codes)


def run_once(contender: str, workload: str, fmt: str, events: int, jsonl_parts: bool = True
             ) -> tuple[float, int, int, int, float]:
    argv, output = command(contender, workload, fmt, events, jsonl_parts)
    if output.is_dir():
        for part in output.iterdir():
            part.unlink()
        output.rmdir()
    output.unlink(missing_ok=True)
    log = DATA_DIR / "out" / f"{contender}_{workload.lower()}_{fmt}_{events}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, POLARS_MAX_THREADS="1") if contender.endswith(ONE_CORE) else None
    wall, rss, processes, cpu = timed(argv, REPO_ROOT, log, env)
    return wall, rss, processes, data.count_output(output), cpu


def contenders_for(workload: str, names: list[str]) -> list[str]:
    return [c for c in names if workload == "W2" or c not in PEER_CONTENDERS]


def measure(args: argparse.Namespace) -> list[Run]:
    runs: list[Run] = []
    parts = args.jsonl_sink == "parts"
    for workload in args.workloads:
        names = contenders_for(workload, args.contenders)
        sizes = {args.events, args.tiny_events}
        if any(c in PEER_CONTENDERS for c in names):
            sizes |= {args.peer_events, args.tiny_events}
        for size in sorted(sizes):
            data.ensure_inputs(DATA_DIR, workload, size, tuple(args.formats),
                               key_splits=2 if "peer-p2" in names else 0)
        for fmt in args.formats:
            table = []
            for contender in names:
                size = args.peer_events if contender in PEER_CONTENDERS else args.events
                table.append(Run(contender, workload, fmt, size, tiny_events=args.tiny_events))
            for _ in range(args.repeat):  # repeats interleaved across contenders
                for run in table:
                    tiny = run_once(run.contender, workload, fmt, args.tiny_events, parts)
                    run.tiny_walls.append(tiny[0])
                    run.tiny_cpu_seconds.append(tiny[4])
                    run.loads.append(os.getloadavg()[0])
                    wall, rss, processes, rows, cpu = run_once(run.contender, workload,
                                                               fmt, run.events, parts)
                    run.cpu_seconds.append(cpu)
                    run.walls.append(wall)
                    run.rss_bytes.append(rss)
                    run.processes = processes
                    if run.rows is not None and rows != run.rows:
                        raise Failed(f"{run.contender} {workload} {fmt}: {rows} rows, "
                                     f"{run.rows} in an earlier repeat")
                    run.rows = rows
            reference = {r.events: r.rows for r in table
                         if r.contender in ("embedded", "embedded@peer", "embedded-1c")}
            for run in table:
                run.reference_rows = reference.get(run.events)
            print(format_table(table), flush=True)
            print(format_ratios(table), flush=True)
            runs += table
    return runs


# --- the tables ------------------------------------------------------------------------


def format_table(table: list[Run]) -> str:
    first = table[0]
    lines = [f"\n{first.workload} from {first.fmt} ({os.cpu_count()} cores)",
             "| contender | events | wall s | events/s (best) | start-up s | "
             "events/s w/o start-up "
             "| CPU s | CPU us/event w/o start-up | peak RSS MB (procs) | RSS B/event | rows "
             "| check | load |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for run in table:
        marginal = f"{run.marginal:,.0f}" if run.marginal else "-"
        rss = max(run.rss_bytes)
        lines.append(
            f"| {run.contender} | {run.events:,} | {run.wall:.2f} | {run.rate:,.0f} "
            f"({run.best_rate:,.0f}) | "
            f"{run.tiny_wall:.2f} | {marginal} | {statistics.median(run.cpu_seconds):.2f} | "
            f"{run.marginal_cpu_us:.2f} | "
            f"{rss / 2**20:,.0f} ({run.processes}) | "
            f"{rss / run.events:,.0f} | {run.rows:,} | {run.check} | "
            f"{statistics.median(run.loads):.1f} |")
    return "\n".join(lines)


RATIOS = (("bw-w1", "embedded", "bytewax 1 worker / embedded (target >= 1/1.5 = 0.67)"),
          ("bw-w2", "bw-w1", "2 workers, 1 process / 1 worker"),
          ("bw-p2", "bw-w1", "2 processes / 1 process (target >= 1.7)"),
          ("bw-p2-whole", "bw-w1", "2 processes, sources whole / 1 process"),
          ("bw-w1-1c", "embedded-1c", "one core each: bytewax 1 worker / embedded"),
          ("bw-p2", "bw-w1-1c", "one core each: 2 processes / 1 process (target >= 1.7)"),
          ("bw-p2", "embedded", "2 processes / embedded"),
          ("peer-p2", "peer-w1", "hand-written bytewax: 2 processes / 1"),
          ("embedded@peer", "peer-w1", "embedded / hand-written bytewax (1 process)"))


def ratios(table: list[Run]) -> list[tuple[str, float, float | None, float]]:
    by = {run.contender: run for run in table}
    out = []
    for a, b, label in RATIOS:
        if a in by and b in by:
            ma, mb = by[a].marginal, by[b].marginal
            # what the CPU alone allows: b's CPU per event over a's spread on its
            # processes' cores (1 for one process, 2 for -p 2), as on a quiet machine
            cores = 2 if a in ("bw-p2", "bw-p2-whole", "peer-p2") else 1
            ceiling = by[b].marginal_cpu_us / (by[a].marginal_cpu_us / cores)
            out.append((label, by[a].rate / by[b].rate, ma / mb if ma and mb else None,
                        ceiling))
    return out


def format_ratios(table: list[Run]) -> str:
    lines = ["| ratio | events/s | w/o start-up | CPU bound w/o start-up |",
             "|---|---:|---:|---:|"]
    for label, whole, marginal, ceiling in ratios(table):
        lines.append(f"| {label} | {whole:.2f}x | "
                     f"{f'{marginal:.2f}x' if marginal else '-'} | {ceiling:.2f}x |")
    return "\n".join(lines)


# --- the cost model --------------------------------------------------------------------


def read_output(path: Path) -> pl.DataFrame:
    if path.suffix == ".jsonl":
        return pl.concat([pl.read_ndjson(p) for p in sorted(path.glob("part-*.jsonl"))]) \
            if path.is_dir() else pl.read_ndjson(path)
    return pl.concat([pl.read_ipc(p) for p in sorted(path.glob("part-*.arrow"))])


def cost_model(args: argparse.Namespace, runs: list[Run]) -> dict:
    report: dict = {}
    print("\nCost of an extra host (scaleout_model.py)")
    for workload in args.workloads:
        table = [r for r in runs if r.workload == workload]
        for fmt in args.formats:
            by = {r.contender: r for r in table if r.fmt == fmt}
            if "embedded" not in by:
                continue
            inputs = {stream: pl.read_ipc(data.input_path(DATA_DIR, workload, stream, "arrow",
                                                          args.events))
                      for stream in data.STREAMS[workload]} if "arrow" in args.formats else \
                data.frames(workload, args.events)
            output = read_output(data.output_path(DATA_DIR, f"embedded_{args.events}",
                                                  workload, fmt))
            rows_per_batch = data.ARROW_BATCH_ROWS if fmt == "arrow" else int(
                (8 << 20) / (data.input_path(DATA_DIR, workload, next(iter(
                    data.STREAMS[workload])), fmt, args.events).stat().st_size
                    / (args.events / len(data.STREAMS[workload]))))
            # (an Arrow job's sink is a folder of part files, written by every process; a
            # JSONL job's too, unless --jsonl-sink file)
            wire = model.measure(workload, inputs, output, args.events, rows_per_batch,
                                 shared_sink=fmt == "arrow" or args.jsonl_sink == "parts")
            print(f"  {fmt}: {model.describe(wire)}")
            r1 = by.get("bw-w1")
            r2 = by.get("bw-p2")
            entry: dict = {"wire": asdict(wire)}
            if r1 and r2:
                # from CPU per event (all processes, start-up taken off): what the processes
                # work, not how long they wait, and much less disturbed by other load
                c1, c2 = r1.marginal_cpu_us / 1e6, r2.marginal_cpu_us / 1e6
                rate1 = 1 / c1
                x = max(0.0, (c2 - c1) / 0.5)
                busy = statistics.median(r2.cpu_seconds) / (2 * r2.wall)
                print(f"    C1 = {c1 * 1e6:.2f} us/event ({r1.contender}), C2 = "
                      f"{c2 * 1e6:.2f} us/event over both processes ({r2.contender}; they "
                      f"used {busy:.0%} of the 2 cores' wall time): x = {x * 1e6:.2f} us per "
                      f"crossing row (pickling alone {wire.pickle_s_per_event * 1e6:.3f}); "
                      f"wall-clock 2-process/1-process {r2.rate / r1.rate:.2f}x")
                entry.update(c1=c1, c2=c2, r2_from=r2.contender, x=x, busy=busy,
                             wall_ratio=r2.rate / r1.rate, projections=[])
                for label, cost in (("measured x", x), ("pickling only", wire.pickle_s_per_event)):
                    for link in model.LINKS_GBIT:
                        cells = []
                        for hosts in model.HOSTS:
                            p = model.project(rate1, cost, wire, hosts, link)
                            entry["projections"].append(
                                asdict(p) | {"x": label, "total": p.total, "bound": p.bound})
                            cells.append(f"H={hosts}: {p.total / 1e6:,.2f}M ({p.bound})")
                        print(f"    {label}, {link} Gbit/s: " + "; ".join(cells))
            report[f"{workload}/{fmt}"] = entry
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--tiny-events", type=int, default=20_000,
                        help="the start-up run's events (default %(default)s)")
    parser.add_argument("--peer-events", type=int, default=400_000)
    parser.add_argument("--workloads", default="W2,W4,W6")
    parser.add_argument("--formats", default="jsonl,arrow")
    parser.add_argument("--contenders", default=",".join(ALL_CONTENDERS))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-model", action="store_true", help="skip the cost model")
    parser.add_argument("--jsonl-sink", choices=("parts", "file"), default="parts",
                        help="a JSONL job writes a folder of part files (parts=true: every "
                             "process writes its own) or one file (one writer, on process 0)")
    parser.add_argument("--json", type=Path, help="write every measure to this file")
    parser.add_argument("--peer-cluster", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer_cluster:
        return peer_cluster(args.peer_cluster[0], args.peer_cluster[1:])
    args.workloads = [w.strip().upper() for w in args.workloads.split(",")]
    args.formats = [f.strip() for f in args.formats.split(",")]
    args.contenders = [c.strip() for c in args.contenders.split(",")]
    for name, values, known in (("workload", args.workloads, data.WORKLOADS),
                                ("format", args.formats, data.FORMATS),
                                ("contender", args.contenders, ALL_CONTENDERS)):
        unknown = [v for v in values if v not in known]
        if unknown:
            parser.error(f"unknown {name} {', '.join(unknown)}; known: {', '.join(known)}")
    print(f"load average {os.getloadavg()}; {args.events:,} events; "
          f"peer {args.peer_events:,}; start-up runs {args.tiny_events:,}", flush=True)
    try:
        runs = measure(args)
    except Failed as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 2
    report = {} if args.no_model else cost_model(args, runs)
    print(f"\nload average at the end {os.getloadavg()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(
            {"runs": [asdict(r) | {"rate": r.rate, "marginal": r.marginal} for r in runs],
             "model": report}, indent=1))
    return 1 if any(r.check == "MISMATCH" for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
