"""W6: the interval join of two streams, W7: stream-table enrichment (issue 14), with DuckDB
beside.

    .venv/bin/python benchmarks/run_joins.py [--events 1000000] [--keys 100000] [--batch 100000]
        [--table-rows 100000]

`--events` orders and as many shipments over `--keys` keys (`id` = `order_id`, uniform),
`ts` rising by 10 ms per event on each stream, shipments one minute after the orders'
clock; the join is `ON o.id = s.order_id WITHIN 5 MINUTES`, INNER and LEFT:

* frys: a `frys.Pipeline` (the whole runtime: topics, the two inputs' combined watermark,
  the operator), fed the two streams as polars DataFrames of `--batch` rows, taking turns;
  the rows go to a subscriber that counts them (results are not kept);
* DuckDB: the same join as one SQL statement over Arrow scans of the two frames (a batch
  engine seeing everything at once, all cores: the no-streaming-overhead reference).

Both run in this process, one after the other, after the data is made. Prints events/s
(orders + shipments over the wall time), the ratio frys/DuckDB, frys' largest operator
state and its bytes per buffered row (payload columns included). Fails unless both give
the same number of rows. Flink SQL (pyflink) is not part of this run: not installed here.

W7: `--events` events over `--table-rows` * 1.1 user ids (`ts` rising by 10 ms) joined with
a table of `--table-rows` users (so a tenth of the events find no row), in two forms:

* current rows: `JOIN users u ON e.user_id = u.id` against a table published whole first
  (as a `file:` table is read before the streams); DuckDB: the same hash join;
* versioned: the table `WITH (event_time = ts)`, `--table-rows` versions over
  `--table-rows` / 2 users at random times over the events' span, published first in time
  order; each event joins the version valid at its time, held back by the watermark;
  DuckDB: `ASOF JOIN ... ON e.user_id = v.id AND e.ts >= v.ts`.

Prints events/s (events over the wall time, the table's publishing included), the ratio,
the operator's state at the end of the events (before the end of input) and its bytes per
table row held.
"""

from __future__ import annotations

import argparse
import random
import time

import duckdb
import polars as pl

import frys

MINUTE = 60_000
T0 = 1_700_000_000_000

JOB = """
CREATE STREAM orders (id INT, amount FLOAT, ts TIMESTAMP) WITH (event_time = ts);
CREATE STREAM shipments (order_id INT, carrier INT, ts TIMESTAMP) WITH (event_time = ts);
CREATE STREAM joined (id INT, amount FLOAT, carrier INT);
INSERT INTO joined SELECT o.id, o.amount, s.carrier
FROM orders o {kind} JOIN shipments s ON o.id = s.order_id WITHIN 5 MINUTES;
"""

PEER = """
SELECT count(*) FROM orders o {kind} JOIN shipments s
    ON o.id = s.order_id AND s.ts BETWEEN o.ts - 300000 AND o.ts + 300000
"""


def make(events: int, keys: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = random.Random(14)
    times = pl.int_range(0, events, eager=True, dtype=pl.Int64) * 10 + T0
    orders = pl.DataFrame({"id": [rng.randrange(keys) for _ in range(events)],
                           "amount": [rng.random() for _ in range(events)], "ts": times})
    shipments = pl.DataFrame({"order_id": [rng.randrange(keys) for _ in range(events)],
                              "carrier": [rng.randrange(5) for _ in range(events)],
                              "ts": times + MINUTE})
    return orders, shipments


def run_frys(kind: str, orders: pl.DataFrame, shipments: pl.DataFrame, batch: int
             ) -> tuple[int, float, int, int]:
    """(rows out, seconds, largest state in bytes, buffered rows at that moment)."""
    pipeline = frys.Pipeline.from_text(JOB.format(kind=kind), keep_results=False)
    out = [0]
    pipeline.subscribe("joined", lambda frame: out.__setitem__(0, out[0] + frame.height))
    operator = pipeline.runtime.queries[0].operator  # type: ignore[attr-defined]
    inputs = [(name, frame.with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC"))))
              for name, frame in (("orders", orders), ("shipments", shipments))]
    largest, rows_then = 0, 0
    start = time.perf_counter()
    for offset in range(0, orders.height, batch):
        for name, frame in inputs:
            pipeline.publish(name, frame.slice(offset, batch))
        size = operator.state_size()
        if size > largest:
            largest, rows_then = size, sum(operator.buffered_rows())
    pipeline.finish()
    return out[0], time.perf_counter() - start, largest, rows_then


def run_duckdb(kind: str, orders: pl.DataFrame, shipments: pl.DataFrame) -> tuple[int, float]:
    start = time.perf_counter()
    with duckdb.connect(":memory:") as connection:
        connection.register("orders", orders.to_arrow())
        connection.register("shipments", shipments.to_arrow())
        row = connection.execute(PEER.format(kind=kind)).fetchone()
    assert row is not None
    return int(row[0]), time.perf_counter() - start


TABLE_JOB = """
CREATE STREAM events (user_id INT, amount FLOAT, ts TIMESTAMP) WITH (event_time = ts);
CREATE TABLE users (id INT PRIMARY KEY, tier INT{time_column}){options};
CREATE STREAM enriched (user_id INT, amount FLOAT, tier INT);
INSERT INTO enriched SELECT e.user_id, e.amount, u.tier FROM events e JOIN users u
    ON e.user_id = u.id;
"""

TABLE_PEERS = {
    "current": "SELECT count(*) FROM events e JOIN users u ON e.user_id = u.id",
    "versioned": "SELECT count(*) FROM events e ASOF JOIN users u ON e.user_id = u.id "
                 "AND e.ts >= u.ts",
}


def make_table(kind: str, events: int, table_rows: int
               ) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = random.Random(7)
    times = pl.int_range(0, events, eager=True, dtype=pl.Int64) * 10 + T0
    users = int(table_rows * 1.1)
    stream = pl.DataFrame({"user_id": [rng.randrange(users) for _ in range(events)],
                           "amount": [rng.random() for _ in range(events)], "ts": times})
    if kind == "current":
        table = pl.DataFrame({"id": pl.int_range(0, table_rows, eager=True, dtype=pl.Int64),
                              "tier": [rng.randrange(4) for _ in range(table_rows)]})
    else:
        table = pl.DataFrame({
            "id": [rng.randrange(table_rows // 2) for _ in range(table_rows)],
            "tier": [rng.randrange(4) for _ in range(table_rows)],
            "ts": [T0 + rng.randrange(events * 10) for _ in range(table_rows)]}).sort("ts")
    return stream, table


def run_frys_table(kind: str, stream: pl.DataFrame, table: pl.DataFrame, batch: int
                   ) -> tuple[int, float, int, int]:
    """(rows out, seconds, state in bytes and table rows held after the last batch)."""
    versioned = kind == "versioned"
    job = TABLE_JOB.format(time_column=", ts TIMESTAMP" if versioned else "",
                           options=" WITH (event_time = ts)" if versioned else "")
    pipeline = frys.Pipeline.from_text(job, keep_results=False)
    out = [0]
    pipeline.subscribe("enriched", lambda frame: out.__setitem__(0, out[0] + frame.height))
    operator = pipeline.runtime.queries[0].operator  # type: ignore[attr-defined]
    utc = pl.Datetime("ms", "UTC")
    stream = stream.with_columns(pl.col("ts").cast(utc))
    if versioned:
        table = table.with_columns(pl.col("ts").cast(utc))
    start = time.perf_counter()
    pipeline.publish("users", table)
    for offset in range(0, stream.height, batch):
        pipeline.publish("events", stream.slice(offset, batch))
    state, held = operator.state_size(), operator.table_rows()
    pipeline.finish()
    return out[0], time.perf_counter() - start, state, held


def run_duckdb_table(kind: str, stream: pl.DataFrame, table: pl.DataFrame
                     ) -> tuple[int, float]:
    start = time.perf_counter()
    with duckdb.connect(":memory:") as connection:
        connection.register("events", stream.to_arrow())
        connection.register("users", table.to_arrow())
        row = connection.execute(TABLE_PEERS[kind]).fetchone()
    assert row is not None
    return int(row[0]), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--table-rows", type=int, default=100_000)
    parser.add_argument("--only", choices=("W6", "W7"), default=None)
    args = parser.parse_args()
    if args.only != "W6":
        for kind in ("current", "versioned"):
            stream, table = make_table(kind, args.events, args.table_rows)
            rows, seconds, state, held = run_frys_table(kind, stream, table, args.batch)
            peer_rows, peer_seconds = run_duckdb_table(kind, stream, table)
            name = f"W7 {kind}"
            print(f"{name}: frys {args.events / seconds:,.0f} events/s, DuckDB "
                  f"{args.events / peer_seconds:,.0f} events/s (frys/DuckDB "
                  f"{peer_seconds / seconds:.2f}); {rows:,} rows; state {state / 1e6:.1f} MB "
                  f"after the events, {held:,} table rows, "
                  f"{state / max(held, 1):.0f} bytes per table row")
            if rows != peer_rows:
                raise SystemExit(f"{name}: frys gave {rows:,} rows, DuckDB {peer_rows:,}")
        if args.only == "W7":
            return
    orders, shipments = make(args.events, args.keys)
    total = 2 * args.events
    for kind in ("", "LEFT"):
        rows, seconds, state, buffered = run_frys(kind, orders, shipments, args.batch)
        peer_rows, peer_seconds = run_duckdb(kind, orders, shipments)
        name = f"W6 {kind or 'INNER'}"
        print(f"{name}: frys {total / seconds:,.0f} events/s, DuckDB "
              f"{total / peer_seconds:,.0f} events/s (frys/DuckDB "
              f"{peer_seconds / seconds:.2f}); {rows:,} rows; state at most "
              f"{state / 1e6:.1f} MB, {state / max(buffered, 1):.0f} bytes per buffered row")
        if rows != peer_rows:
            raise SystemExit(f"{name}: frys gave {rows:,} rows, DuckDB {peer_rows:,}")


if __name__ == "__main__":
    main()
