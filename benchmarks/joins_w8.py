"""W8: the window join of two streams in NEXMark q8's shape, `FROM persons p [LEFT] JOIN
auctions a ON p.id = a.seller WITHIN TUMBLE(10 SECONDS)`, INNER and LEFT: its data, frys
job, DuckDB statement and Flink peer kinds (peer_flink_joins.py `main_w8`: the window
table-valued functions' WindowJoin); run by joins_streams.py as W6 is, except that a
window's rows are emitted by the publish whose watermark fires the window, so a row's
latency counts from when that publish was due (the window's own wait, 10 s of event time,
is the query's meaning, not a delay).
"""

from __future__ import annotations

import random

import polars as pl
from joins_harness import T0
from joins_streams import TwoStreams

KINDS = ("INNER", "LEFT")
WINDOW_MS = 10_000
JOB = """
CREATE STREAM persons (id INT, name STRING, ts TIMESTAMP) WITH (event_time = ts);
CREATE STREAM auctions (seller INT, reserve FLOAT, ts TIMESTAMP) WITH (event_time = ts);
CREATE STREAM q8 (id INT, name STRING, starttime TIMESTAMP);
INSERT INTO q8 SELECT p.id, p.name, window_start AS starttime
FROM persons p {kind} JOIN auctions a ON p.id = a.seller WITHIN TUMBLE(10 SECONDS);
"""
PEER = """
SELECT count(*) FROM persons p {kind} JOIN auctions a
    ON p.id = a.seller AND p.ts // 10000 = a.ts // 10000
"""


def make(events: int, keys: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """NEXMark q8's two streams: persons (id, name) and auctions (seller, reserve), ids
    uniform over `keys`, `ts` rising 10 ms per event on each (auctions 5 ms after)."""
    rng = random.Random(8)
    times = pl.int_range(0, events, eager=True, dtype=pl.Int64) * 10 + T0
    persons = pl.DataFrame({"id": [rng.randrange(keys) for _ in range(events)], "ts": times}
                           ).select("id", pl.format("p{}", "id").alias("name"), "ts")
    auctions = pl.DataFrame({"seller": [rng.randrange(keys) for _ in range(events)],
                             "reserve": [rng.random() for _ in range(events)],
                             "ts": times + 5})
    return persons, auctions


def rows(frame: pl.DataFrame) -> int:
    """Every output row, LEFT's unmatched persons too: all come out when a window fires."""
    return frame.height


W8 = TwoStreams(name="W8", kinds=KINDS, streams=("persons", "auctions"), output="q8",
                job=JOB, peer=PEER, clause="WITHIN TUMBLE(10 SECONDS)", flink_prefix="W8_",
                make=make, emitted=rows, measured="rows")
