"""Start-up of the `frys` command: what it imports, and the wall time of a tiny job.

    .venv/bin/python benchmarks/startup.py [--repeat 10] [--top 15]

(a) `python -X importtime`, the median over `--repeat` fresh processes of:
    * `import polars` alone (the floor: every frys command needs polars) and
      `import frys.cli`, cumulative, and the latter less polars' share in it;
    * everything `frys run` and `frys check` of a tiny job import (`frys.cli.main` called
      under -X importtime), beyond what `import polars` imports: frys' own share of the
      start-up, its modules and the libraries only frys loads (lark, msgspec, crc32c, ...);
    * the modules of that share with the most self time (`--top`).
(b) wall and CPU time, median and min over `--repeat` runs interleaved round-robin (so a
    drift in the machine's load affects each alike): `python -c pass` (the interpreter),
    `python -c "import polars"` (the floor), then `frys check` and `frys run` of the tiny
    job through the installed `frys` script. Also the parser's load (from its cache on disk)
    and the job's compilation, timed inside one process after the imports.

The tiny job: one stream read from a two-line JSONL file, one filtered tumbling-window
count printed to stdout, written to a temporary folder.

frys' modules are byte-compiled first (`compileall`, as `pip install` does): with
PYTHONDONTWRITEBYTECODE set and no __pycache__, each start would compile them from source,
about twice their import time.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

JOB = """CREATE STREAM events (k INT, v FLOAT, ts TIMESTAMP)
    WITH (event_time = ts, watermark = 0 SECONDS, source = 'file:events.jsonl');
SELECT k, window_start, COUNT(*) AS n FROM events WHERE v > 10 GROUP BY k, TUMBLE(1 SECOND);
"""
EVENTS = ('{"k": 1, "v": 2.5, "ts": 1700000000000}\n'
          '{"k": 2, "v": 20.5, "ts": 1700000001000}\n')

# grammar load and compilation after the imports, in one process
PHASES = """
import sys, time
t0 = time.perf_counter()
import frys.cli
from frys.dsl import compile_text
from frys.dsl.parser import _lark
t1 = time.perf_counter()
_lark()
t2 = time.perf_counter()
compile_text(open(sys.argv[1]).read(), sys.argv[1])
t3 = time.perf_counter()
print(t2 - t1, t3 - t2)
"""

_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


@dataclass(frozen=True)
class Imported:
    """One line of `-X importtime`: a module, its own and its cumulative time (µs), and
    its depth in the tree of imports."""

    module: str
    self_us: int
    cumulative_us: int
    depth: int


def import_times(code: str) -> list[Imported]:
    """The modules `python -X importtime -c code` imports, in its order."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            check=True)
    lines = []
    for line in result.stderr.splitlines():
        match = _LINE.match(line)
        if match:
            lines.append(Imported(match[4], int(match[1]), int(match[2]),
                                  len(match[3]) // 2))
    return lines


def cumulative_ms(lines: list[Imported], module: str) -> float:
    return next(line.cumulative_us for line in lines if line.module == module) / 1000


def beyond(lines: list[Imported], floor: set[str]) -> list[Imported]:
    """The imports in `lines` of modules the floor does not import."""
    return [line for line in lines if line.module not in floor]


@dataclass
class ImportReport:
    polars_ms: list[float]
    cli_ms: list[float]
    cli_beyond_ms: list[float]  # frys.cli's cumulative less polars', in one process
    share_ms: dict[str, list[float]]  # per command: frys' share beyond the floor
    self_ms: dict[str, list[float]]  # per module of `frys run`'s share: self time


def measure_imports(job: Path, repeat: int) -> ImportReport:
    report = ImportReport([], [], [], {"run": [], "check": []}, {})
    for _ in range(repeat):
        floor = import_times("import polars")
        floor_modules = {line.module for line in floor}
        report.polars_ms.append(cumulative_ms(floor, "polars"))
        cli = import_times("import frys.cli")
        report.cli_ms.append(cumulative_ms(cli, "frys.cli"))
        report.cli_beyond_ms.append(cumulative_ms(cli, "frys.cli") - cumulative_ms(cli, "polars"))
        for command in ("run", "check"):
            lines = import_times(f"import frys.cli; frys.cli.main([{command!r}, {str(job)!r}])")
            extra = beyond(lines, floor_modules)
            report.share_ms[command].append(sum(line.self_us for line in extra) / 1000)
            if command == "run":
                for line in extra:
                    report.self_ms.setdefault(line.module, []).append(line.self_us / 1000)
    return report


def process_times(commands: dict[str, list[str]], repeat: int,
                  cwd: Path) -> dict[str, tuple[list[float], list[float]]]:
    """Per command, the wall time and the CPU time (user + system, every thread) of each
    run, in seconds, the runs interleaved round-robin. On a busy machine the wall time
    includes waiting for a CPU; the CPU time does not."""
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():
            start = time.perf_counter()
            child = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            _pid, status, usage = os.wait4(child.pid, 0)
            times[name][0].append(time.perf_counter() - start)
            times[name][1].append(usage.ru_utime + usage.ru_stime)
            assert os.waitstatus_to_exitcode(status) == 0, f"{name} failed"
    return times


def byte_compile_frys() -> None:
    """Write the bytecode caches of frys' modules, as an installation would have them."""
    for package in ("frys", "frys.dsl", "frys.engine", "frys.operators", "frys.connectors"):
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations is not None
        for folder in spec.submodule_search_locations:
            compileall.compile_dir(folder, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="fresh processes per figure")
    parser.add_argument("--top", type=int, default=15, help="modules listed by self time")
    args = parser.parse_args()
    frys_script = Path(sys.executable).with_name("frys")
    byte_compile_frys()
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        job = cwd / "tiny.frysql"
        job.write_text(JOB)
        (cwd / "events.jsonl").write_text(EVENTS)
        imports = measure_imports(job, args.repeat)
        walls = process_times({
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import polars'": [sys.executable, "-c", "import polars"],
            "frys check tiny.frysql": [str(frys_script), "check", str(job)],
            "frys run tiny.frysql": [str(frys_script), "run", str(job)],
        }, args.repeat, cwd)
        phases = [tuple(map(float, subprocess.run(
            [sys.executable, "-c", PHASES, str(job)], capture_output=True, text=True,
            check=True).stdout.split())) for _ in range(args.repeat)]

    median = statistics.median

    def row(label: str, values: list[float]) -> None:
        print(f"  {label:<44}{median(values):>9.1f}{min(values):>9.1f}")

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}; {args.repeat} fresh processes per figure\n")
    print(f"(a) python -X importtime, ms{'median':>27}{'min':>9}")
    row("import polars (the floor)", imports.polars_ms)
    row("import frys.cli", imports.cli_ms)
    row("  beyond polars", imports.cli_beyond_ms)
    for command in ("check", "run"):
        row(f"frys {command}: all its imports beyond polars", imports.share_ms[command])
    print(f"  frys run: the top {args.top} of those by self time")
    top = sorted(imports.self_ms.items(), key=lambda item: -median(item[1]))[:args.top]
    for module, values in top:
        row(f"  {module}", values)

    print(f"\n(b) wall time, ms{'median':>39}{'min':>9}")
    for name, (wall, _cpu) in walls.items():
        row(name, [value * 1000 for value in wall])
    print(f"    CPU time (user + system), ms{'median':>26}{'min':>9}")
    for name, (_wall, cpu) in walls.items():
        row(name, [value * 1000 for value in cpu])
    print("  in one process, after the imports:")
    row("  grammar load (parser from the cache)", [p[0] * 1000 for p in phases])
    row("  compile the tiny job", [p[1] * 1000 for p in phases])

if __name__ == "__main__":
    main()
