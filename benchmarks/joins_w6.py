"""W6: the interval join of two streams (issue 14), `ON o.id = s.order_id WITHIN 5 MINUTES`,
INNER and LEFT: its data, frys job, DuckDB statement and Flink peer kinds (peer_flink_joins.py
`main`); run by joins_streams.py as run_joins.py's docstring describes.
"""

from __future__ import annotations

import random

import polars as pl
from joins_harness import MINUTE, T0
from joins_streams import TwoStreams

KINDS = ("INNER", "LEFT")

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
    """`events` orders (id, amount) and as many shipments (order_id, carrier), ids uniform
    over `keys`, `ts` rising 10 ms per event on each, the shipments a minute later."""
    rng = random.Random(14)
    times = pl.int_range(0, events, eager=True, dtype=pl.Int64) * 10 + T0
    orders = pl.DataFrame({"id": [rng.randrange(keys) for _ in range(events)],
                           "amount": [rng.random() for _ in range(events)], "ts": times})
    shipments = pl.DataFrame({"order_id": [rng.randrange(keys) for _ in range(events)],
                              "carrier": [rng.randrange(5) for _ in range(events)],
                              "ts": times + MINUTE})
    return orders, shipments


def pairs(frame: pl.DataFrame) -> int:
    """The joined pairs of an output frame: LEFT's unmatched rows (no carrier) are emitted
    by the watermark, not by an event, and are left out of the latency."""
    return frame["carrier"].count()


W6 = TwoStreams(name="W6", kinds=KINDS, streams=("orders", "shipments"), output="joined",
                job=JOB, peer=PEER, clause="WITHIN 5 MINUTES", flink_prefix="", make=make,
                emitted=pairs, measured="pairs")
