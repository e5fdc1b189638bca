"""W6: the interval join of two streams (issue 14), with DuckDB beside.

    .venv/bin/python benchmarks/run_joins.py [--events 1000000] [--keys 100000] [--batch 100000]

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100_000)
    args = parser.parse_args()
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
