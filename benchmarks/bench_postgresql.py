"""The `postgresql:` connector (issue 16) beside plain clients, in one run.

    .venv/bin/python benchmarks/bench_postgresql.py [--events 200000]
        [--server postgresql://postgres@127.0.0.1:5432/test]

Every event has four fields: `user_id` (text, "user-00042"), `amount` (int8), `price`
(float8) and `ts` (timestamptz, ms). The events file and the source table are made before
any clock starts; each writing row starts from an empty table (dropped after). Rows, each
events/s over the same N events:

* writing, peers: `psql \\copy` of the events as CSV (the server's own tool, C); a plain
  psycopg loop, `COPY ... FROM STDIN` with `copy.write_row` per event (a Python client);
* writing, frys: `frys run` of a job reading the events from a JSON-lines file and writing
  them through a `postgresql:` sink (COPY of CSV made by polars, a transaction with the
  sink's count per 50,000 rows), the whole process timed (start-up included, ~0.5 s);
  `... upsert key=` the same with `key=amount` (staging table + INSERT ON CONFLICT);
* reading, peer: a plain psycopg server-side cursor, binary, `fetchmany(10000)` over the
  table, rows as Python tuples;
* reading, frys: `frys run` of a job whose STREAM reads the table through a
  `postgresql:` source (the same cursor, typed into the stream's schema) into a JSON-lines
  file, the whole process timed.

Without a reachable server `measure` raises; `main` says so.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
_COLUMNS = "user_id text, amount int8, price float8, ts timestamptz"


def _conninfo(server: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(server)
    return (f"host={parts.hostname} port={parts.port or 5432} dbname={parts.path[1:]}"
            + (f" user={parts.username}" if parts.username else ""))


def _events(count: int) -> list[tuple[str, int, float, int]]:
    return [(f"user-{n % 1000:05d}", n, n * 0.25, 1_700_000_000_000 + n)
            for n in range(count)]


def _frys(job: Path) -> float:
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "frys", "run", "--no-progress", str(job)],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    elapsed = time.perf_counter() - started
    if run.returncode != 0:
        raise RuntimeError(f"frys run failed: {run.stderr}")
    return elapsed


def measure(events: int, server: str = DEFAULT_SERVER) -> list[tuple[str, float]]:
    """(label, events/s) rows: the peers and frys, writing then reading N events."""
    import psycopg

    rows: list[tuple[str, float]] = []
    data = _events(events)
    prefix = f"frys_bench_{uuid.uuid4().hex[:8]}"
    tables = [f"{prefix}_{name}" for name in ("psql", "loop", "sink", "upsert", "read")]
    folder = Path(tempfile.mkdtemp(prefix="frys_bench_pg_"))
    connection = psycopg.connect(_conninfo(server), autocommit=True)
    try:
        csv_path = folder / "events.csv"
        from datetime import UTC, datetime

        csv_path.write_text("".join(
            f"{u},{a},{p},{datetime.fromtimestamp(ts / 1000, UTC).isoformat()}\n"
            for u, a, p, ts in data))
        (folder / "events.jsonl").write_text("".join(
            json.dumps({"user_id": u, "amount": a, "price": p, "ts": ts}) + "\n"
            for u, a, p, ts in data))
        for table in tables:
            connection.execute(f"CREATE TABLE {table} ({_COLUMNS})")
        connection.execute(f"CREATE UNIQUE INDEX ON {tables[3]} (amount)")

        psql = shutil.which("psql")
        if psql is not None:
            started = time.perf_counter()
            subprocess.run([psql, _conninfo(server), "-q", "-c",
                            f"\\copy {tables[0]} FROM '{csv_path}' (FORMAT csv)"],
                           check=True, capture_output=True)
            rows.append(("psql \\copy (peer, C)", events / (time.perf_counter() - started)))

        started = time.perf_counter()
        with connection.cursor() as cursor, cursor.copy(
                f"COPY {tables[1]} FROM STDIN") as copy:
            for user, amount, price, ts in data:
                copy.write_row((user, amount, price,
                                datetime.fromtimestamp(ts / 1000, UTC)))
        rows.append(("psycopg COPY write_row loop (peer)",
                     events / (time.perf_counter() - started)))

        declare = ("CREATE STREAM ev (user_id STRING, amount INT, price FLOAT, ts TIMESTAMP) "
                   "WITH (event_time = ts, source = 'file:events.jsonl');\n")
        for table, label, options in ((tables[2], "frys file -> postgresql sink (COPY)", ""),
                                      (tables[3], "frys file -> postgresql sink (upsert key=)",
                                       "&key=amount")):
            job = folder / f"{table}.frysql"
            job.write_text(declare + f"CREATE STREAM out WITH (sink = '{server}?table={table}"
                           f"{options}');\nINSERT INTO out SELECT user_id, amount, price, ts "
                           "FROM ev;\n")
            rows.append((label, events / _frys(job)))
            written = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert written == (events,), written

        connection.execute(f"INSERT INTO {tables[4]} SELECT * FROM {tables[2]}")
        connection.execute(f"VACUUM ANALYZE {tables[4]}")
        started = time.perf_counter()
        read = 0
        with psycopg.connect(_conninfo(server)) as reader, \
                reader.cursor(name="bench", binary=True) as cursor:
            cursor.execute(f"SELECT user_id, amount, price, ts FROM {tables[4]}")
            while batch := cursor.fetchmany(10_000):
                read += len(batch)
        assert read == events
        rows.append(("psycopg server-side cursor read (peer)",
                     events / (time.perf_counter() - started)))

        job = folder / "read.frysql"
        job.write_text("CREATE STREAM ev (user_id STRING, amount INT, price FLOAT, "
                       f"ts TIMESTAMP) WITH (source = '{server}?table={tables[4]}');\n"
                       "CREATE STREAM out WITH (sink = 'file:read.jsonl');\n"
                       "INSERT INTO out SELECT user_id, amount, price, ts FROM ev;\n")
        rows.append(("frys postgresql source -> file", events / _frys(job)))
        with open(folder / "read.jsonl", "rb") as out:
            assert sum(1 for _ in out) == events
    finally:
        for table in tables:
            connection.execute(f"DROP TABLE IF EXISTS {table}")
        if connection.execute("SELECT to_regclass('frys_sink_offsets')").fetchone() \
                != (None,):
            connection.execute("DELETE FROM frys_sink_offsets WHERE target LIKE %s",
                               [f"{prefix}%"])
        connection.close()
        shutil.rmtree(folder, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--server", default=DEFAULT_SERVER)
    args = parser.parse_args()
    try:
        results = measure(args.events, args.server)
    except Exception as error:  # the server missing, most often: say so, not a traceback
        raise SystemExit(f"bench_postgresql: {type(error).__name__}: {error}") from None
    print(f"{args.events} events, server {args.server}")
    for label, rate in results:
        print(f"  {label:<46} {rate:>12,.0f} events/s")


if __name__ == "__main__":
    main()
