"""Flink peer for W3, W4, W5 (run_patterns.py): Flink SQL MATCH_RECOGNIZE through pyflink.

    PYTHON_WITH_APACHE_FLINK benchmarks/peer_flink_patterns.py JOB EVENTS.csv

Needs the `apache-flink` package (not a frys dependency: install it into a separate venv,
e.g. `.venv/bin/python tests/flink_oracle/install.py`, which puts apache-flink 2.3.0 in
~/.cache/frys/flink-2.3.0)
and Java 11+ on PATH. run_patterns.py writes the CSV (`k,price,ts` with ts in epoch ms, no
header) and runs this script with `--flink-python`.

One job per process, streaming mode, parallelism 1. The events are read with the
filesystem connector; `rt` is the event time with a watermark 1 second behind (as frys'
`watermark = 1 SECOND`; the input is in time order, so nothing is late either way). At the
end of the input Flink's final watermark fires what WITHIN and the buffers hold. Matches
are collected into this process (a few thousand rows) and counted; the measures are
numbers only (epoch ms for times: pyflink 2.3 cannot hand TIMESTAMP_LTZ values back).

Prints one JSON line: events, matches, job_seconds (from submitting the INSERT/SELECT to
the last row collected: planning, JVM-side reading and matching), peak_rss_mb (this
process and its descendants, i.e. the JVM, summed VmHWM) and Flink's version.

MATCH_RECOGNIZE rows are strictly contiguous, so frys' relaxed `a -> c` is written
`A X*? C` with X undefined (any row), the usual translation; with AFTER MATCH SKIP PAST
LAST ROW (SQL's default, frys' SKIP PAST LAST EVENT) W3 and W4 have the same matches as in
frys. W5 (`a -> b{2,} -> NOT r` WITHIN 5 s) has no equivalent: Flink SQL has neither
groups under a quantifier (needed for relaxed `(B X*?){2,}`) nor an absence at the end of a
pattern (notFollowedBy + within), so the peer runs its presence part only, `A X*? B1 Y*? B2`
within 5 s (a large charge, then two small ones; Flink SQL wants distinct variable names):
a different pattern, for scale only; its match count is not compared.
"""

from __future__ import annotations

import json
import sys
import time

from flink_peers import WARMUP, peak_rss_mb, warmup_copy  # benchmarks/, this script's folder

QUERIES = {
    "W3": """
        PARTITION BY k ORDER BY rt
        MEASURES A.price AS a_price, B.price AS b_price, B.ts AS match_end
        ONE ROW PER MATCH
        AFTER MATCH SKIP PAST LAST ROW
        PATTERN (A B)
        DEFINE A AS A.price > 90, B AS B.price > A.price""",
    "W4": """
        PARTITION BY k ORDER BY rt
        MEASURES A.price AS a_price, C.price AS c_price, A.ts AS match_start,
                 C.ts AS match_end
        ONE ROW PER MATCH
        AFTER MATCH SKIP PAST LAST ROW
        PATTERN (A X*? C) WITHIN INTERVAL '5' SECOND
        DEFINE A AS A.price > 90, C AS C.price < 5""",
    # approximation, see the module docstring: the absence of W5 cannot be written
    "W5": """
        PARTITION BY k ORDER BY rt
        MEASURES A.price AS a_price, A.ts AS match_start, B2.ts AS match_end
        ONE ROW PER MATCH
        AFTER MATCH SKIP PAST LAST ROW
        PATTERN (A X*? B1 Y*? B2) WITHIN INTERVAL '5' SECOND
        DEFINE A AS A.price > 90, B1 AS B1.price < 20, B2 AS B2.price < 20""",
}




def run(env, table: str, job: str) -> tuple[float, int]:
    """Run the job over `table`; (seconds until the last match was collected, matches)."""
    started = time.perf_counter()
    result = env.execute_sql(f"SELECT * FROM {table} MATCH_RECOGNIZE ({QUERIES[job]})")
    matches = 0
    with result.collect() as rows:
        for _ in rows:
            matches += 1
    return time.perf_counter() - started, matches


def main() -> None:
    job, csv_path = sys.argv[1], sys.argv[2]
    from pyflink.table import EnvironmentSettings, TableEnvironment
    from pyflink.version import __version__

    with open(csv_path, "rb") as data:
        events = sum(1 for _ in data)
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.get_config().set("parallelism.default", "1")
    warmup = warmup_copy(csv_path)
    for table, path in (("warmup", warmup), ("ev", csv_path)):
        env.execute_sql(f"""
            CREATE TABLE {table} (
                k INT,
                price DOUBLE,
                ts BIGINT,
                rt AS TO_TIMESTAMP_LTZ(ts, 3),
                WATERMARK FOR rt AS rt - INTERVAL '1' SECOND
            ) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'csv')""")
    # the same job over the first WARMUP events: what a job costs whatever its input
    # (planning, starting the local cluster, the first rows through a cold JVM)
    warmup_seconds, _ = run(env, "warmup", job)
    seconds, matches = run(env, "ev", job)
    print(json.dumps({"job": job, "events": events, "matches": matches,
                      "job_seconds": seconds, "warmup_events": WARMUP,
                      "warmup_seconds": warmup_seconds, "peak_rss_mb": peak_rss_mb(),
                      "version": __version__}))


if __name__ == "__main__":
    main()
