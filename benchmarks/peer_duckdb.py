"""W1 peer: the frys W1 job as one DuckDB SQL statement.

Reads the JSONL events with an explicit schema (k BIGINT, v DOUBLE, ts BIGINT),
keeps ``v > 10``, groups by key and 1-second tumbling window
(``ts // 1000``, i.e. windows aligned to the epoch) and writes one JSON
line per (k, window) group::

    {"k": 104, "window_start": "2023-11-14T22:13:20+00:00", "n": 1, "total": 32.0262}

DuckDB is a batch engine: it sees the whole file at once, so this is the
"no streaming overhead" reference point rather than a like-for-like streaming peer.
It uses DuckDB's default thread count (all cores).

Usage::

    .venv/bin/python benchmarks/peer_duckdb.py [INPUT.jsonl] [OUTPUT.jsonl]
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
from w1_outputs import peer_paths

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUTPUT = BENCH_DIR / "out" / "duckdb_w1.jsonl"

W1_QUERY = """
COPY (
    SELECT
        k,
        strftime(epoch_ms(window_index * 1000), '%Y-%m-%dT%H:%M:%S') || '+00:00'
            AS window_start,
        count(*) AS n,
        sum(v) AS total
    FROM (
        SELECT k, v, ts // 1000 AS window_index
        FROM read_json(
            $input,
            format = 'newline_delimited',
            columns = {k: 'BIGINT', v: 'DOUBLE', ts: 'BIGINT'}
        )
        WHERE v > 10
    )
    GROUP BY k, window_index
    ORDER BY window_index, k
) TO '{output}' (FORMAT JSON)
"""


def run_w1(input_path: Path, output_path: Path) -> None:
    """Execute the W1 aggregation from ``input_path`` into ``output_path``."""
    # COPY ... TO does not accept a bound parameter for its target path, so the
    # output path is inlined (with quotes escaped); the input path is bound.
    quoted_output = str(output_path).replace("'", "''")
    query = W1_QUERY.replace("{output}", quoted_output)
    with duckdb.connect(":memory:") as connection:
        connection.execute(query, {"input": str(input_path)})


def main(argv: list[str] | None = None) -> int:
    input_path, output_path = peer_paths(__doc__.splitlines()[0], DEFAULT_OUTPUT, argv)
    run_w1(input_path, output_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
