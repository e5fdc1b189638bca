"""Front-end speed: parse + analyze + plan a 200-line job, in-process, many times.

    .venv/bin/python benchmarks/parse_bench.py [--lines 200] [--repeat 50]

Prints the job size, the one-time cost of building the grammar in a fresh process (Lark's
cache on disk makes it small after the first run), and p50/p99/max of parse, analyze and
plan per job. The target (issue 3) is under 50 ms for a 200-line job. Peer in the same run:
sqlglot parsing the SQL-only part of the job, when sqlglot is installed.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time

from frys.dsl import compile_text, parse
from frys.engine.planner import plan

STREAM = ("CREATE STREAM trades_{i} (symbol STRING, price FLOAT, volume INT, ok BOOL,"
          " ts TIMESTAMP)\n    WITH (event_time = ts, watermark = 2 SECONDS);\n")
QUERY = ("INSERT INTO out_{i}\nSELECT symbol, window_start, COUNT(*) AS n, AVG(price) AS avg_price,"
         " MAX(price) - MIN(price) AS spread\nFROM trades_{i}\n"
         "WHERE volume > {i} AND symbol IN ('A', 'B', 'C') AND NOT ok\n"
         "GROUP BY symbol, TUMBLE({size} SECONDS)\nHAVING COUNT(*) >= 2;\n")
OUT = "CREATE STREAM out_{i} WITH (sink = 'file:out/{i}.jsonl');\n"


def make_job(lines: int) -> str:
    parts: list[str] = []
    i = 0
    while sum(p.count("\n") for p in parts) < lines:
        parts += [STREAM.format(i=i), OUT.format(i=i), QUERY.format(i=i, size=i % 60 + 1)]
        i += 1
    return "".join(parts)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    text = make_job(args.lines)
    cold = subprocess.run(
        [sys.executable, "-c", "from frys.dsl.parser import _lark; import time; "
         "t = time.perf_counter(); _lark(); print(time.perf_counter() - t)"],
        capture_output=True, text=True, check=True)
    timings: dict[str, list[float]] = {"parse": [], "parse+analyze": [], "parse+analyze+plan": []}
    compile_text(text)  # warm: grammar built once per process
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        parse(text)
        t1 = time.perf_counter()
        job = compile_text(text)
        t2 = time.perf_counter()
        plan(job)
        t3 = time.perf_counter()
        timings["parse"].append(t1 - t0)
        timings["parse+analyze"].append(t2 - t1)
        timings["parse+analyze+plan"].append(t2 - t1 + t3 - t2)
    print(f"job: {text.count(chr(10))} lines, {len(text):,} bytes, "
          f"{text.count('INSERT INTO')} queries; {args.repeat} repeats")
    print(f"grammar load in a fresh process (imports excluded, Lark's disk cache): "
          f"{float(cold.stdout) * 1000:.1f} ms")
    print(f"{'stage':<22}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for stage, values in timings.items():
        ms = [v * 1000 for v in values]
        print(f"{stage:<22}{statistics.median(ms):>10.2f}{percentile(ms, 0.99):>10.2f}"
              f"{max(ms):>10.2f}")
    try:
        import sqlglot
    except ImportError:
        print("peer: sqlglot not installed (pip install sqlglot to compare)")
        return
    # the same queries in plain SQL: the window call becomes a column, statements keep ';'
    sql = ";\n".join(re.sub(r"TUMBLE\(\d+ SECONDS\)", "window_start", q)
                     for q in text.split(";\n") if q.startswith("INSERT")) + ";"
    runs = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        sqlglot.parse(sql)
        runs.append((time.perf_counter() - t0) * 1000)
    print(f"peer sqlglot {sqlglot.__version__} parse of the queries: p50 "
          f"{statistics.median(runs):.2f} ms")


if __name__ == "__main__":
    main()
