"""Flink peer for W6 (run_joins.py): the Flink SQL interval join through pyflink; for W7, the
stream-table joins (`main_w7` below); and for W8, the window join (NEXMark q8's shape,
`main_w8` below).

    PYTHON_WITH_APACHE_FLINK benchmarks/peer_flink_joins.py KIND ORDERS.csv SHIPMENTS.csv
    PYTHON_WITH_APACHE_FLINK benchmarks/peer_flink_joins.py W7_FORM_KIND EVENTS.csv USERS.csv
    PYTHON_WITH_APACHE_FLINK benchmarks/peer_flink_joins.py W8_KIND PERSONS.csv AUCTIONS.csv

KIND is INNER or LEFT. Needs the `apache-flink` package (not a frys dependency:
`.venv/bin/python tests/flink_oracle/install.py` puts apache-flink 2.3.0 in its own venv,
~/.cache/frys/flink-2.3.0) and Java 11+ on PATH. run_joins.py writes the two CSVs (`id,
amount,ts` and `order_id,carrier,ts`, ts in epoch ms, no header) and runs this script with
that venv's python, one process per join kind.

Streaming mode, parallelism 1. Each stream is read with the filesystem connector; `rt` is
its event time with a watermark at its largest time (frys' default delay of 0; the input is
in time order, so nothing is late either way). The join is the one Flink SQL recognises as
an interval join (its plan shows IntervalJoin):

    INNER: FROM orders o, shipments s
           WHERE o.id = s.order_id
             AND o.rt BETWEEN s.rt - INTERVAL '5' MINUTE AND s.rt + INTERVAL '5' MINUTE
    LEFT:  FROM orders o LEFT JOIN shipments s ON <the same predicate>

It selects o.id, o.amount, s.carrier (what frys' job emits) and counts them with
`count(*)`: handing 10^6 rows one by one to Python through py4j would cost more than the
join, so the count stays in the JVM, with mini-batches (at most 1 s or 10,000 rows) so
that it sends a handful of updates rather than one per joined row; the last one is the
count. At the end of the input Flink's final watermark emits LEFT's unmatched orders.

Prints one JSON line: kind, events (orders + shipments), rows, job_seconds (from
submitting the query to the last count collected: planning, reading, joining), the same
for a warm-up run over the first WARMUP lines of each file (a job's fixed cost: planning,
the local cluster, a cold JVM), peak_rss_mb (this process and the JVM, summed VmHWM) and
Flink's version.
"""

from __future__ import annotations

import json
import sys
import time

from flink_peers import WARMUP, peak_rss_mb, warmup_copy  # benchmarks/, this script's folder

INNER = """
    SELECT count(*) FROM (
        SELECT o.id, o.amount, s.carrier FROM {orders} o, {shipments} s
        WHERE o.id = s.order_id
          AND o.rt BETWEEN s.rt - INTERVAL '5' MINUTE AND s.rt + INTERVAL '5' MINUTE)"""
LEFT = """
    SELECT count(*) FROM (
        SELECT o.id, o.amount, s.carrier FROM {orders} o LEFT JOIN {shipments} s
        ON o.id = s.order_id
          AND o.rt BETWEEN s.rt - INTERVAL '5' MINUTE AND s.rt + INTERVAL '5' MINUTE)"""
QUERIES = {"INNER": INNER, "LEFT": LEFT}
SCHEMAS = {"orders": "id INT, amount DOUBLE", "shipments": "order_id INT, carrier INT"}


def create(env, name: str, stream: str, path: str) -> None:
    env.execute_sql(f"""
        CREATE TABLE {name} (
            {SCHEMAS[stream]},
            ts BIGINT,
            rt AS TO_TIMESTAMP_LTZ(ts, 3),
            WATERMARK FOR rt AS rt
        ) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'csv')""")


def run(env, kind: str, orders: str, shipments: str) -> tuple[float, int]:
    """(seconds until the last count was collected, the count)."""
    seconds, (count, _) = run_query(env, QUERIES[kind].format(orders=orders,
                                                              shipments=shipments))
    return seconds, count


def streaming_environment():
    """Flink SQL in streaming mode, parallelism 1, 1-second mini-batches (every peer's)."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = env.get_config()
    config.set("parallelism.default", "1")
    config.set("table.exec.mini-batch.enabled", "true")
    config.set("table.exec.mini-batch.allow-latency", "1 s")
    config.set("table.exec.mini-batch.size", "10000")
    return env


def lines(paths: tuple[str, ...]) -> int:
    """The events of the CSV files: their lines."""
    total = 0
    for path in paths:
        with open(path, "rb") as data:
            total += sum(1 for _ in data)
    return total


def main() -> None:
    kind, orders_csv, shipments_csv = sys.argv[1], sys.argv[2], sys.argv[3]
    from pyflink.version import __version__

    events = lines((orders_csv, shipments_csv))
    env = streaming_environment()
    create(env, "orders", "orders", orders_csv)
    create(env, "shipments", "shipments", shipments_csv)
    create(env, "warm_orders", "orders", warmup_copy(orders_csv))
    create(env, "warm_shipments", "shipments", warmup_copy(shipments_csv))
    plan = env.explain_sql(QUERIES[kind].format(orders="orders", shipments="shipments"))
    if "IntervalJoin" not in plan:
        raise SystemExit(f"Flink did not plan an interval join:\n{plan}")
    warmup_seconds, _ = run(env, kind, "warm_orders", "warm_shipments")
    seconds, rows = run(env, kind, "orders", "shipments")
    print(json.dumps({"kind": kind, "events": events, "rows": rows, "job_seconds": seconds,
                      "warmup_events": 2 * WARMUP, "warmup_seconds": warmup_seconds,
                      "peak_rss_mb": peak_rss_mb(), "version": __version__}))


# ---------------------------------------------------------------------- W7: stream-table joins
# W7_FORM_KIND: FORM `current` or `versioned`, KIND INNER or LEFT. EVENTS.csv is `user_id,
# amount,ts`, USERS.csv `id,tier` (current) or `id,tier,ts` (versioned, in time order); ts in
# epoch ms, no header.
#
# versioned: Flink's event-time temporal join. The versions file is an append-only source
# with its watermark; the view keeping each id's latest row by event time (ROW_NUMBER()
# OVER (PARTITION BY id ORDER BY rt DESC) = 1) is what Flink recognises as a versioned table
# (primary key id, time rt), and `JOIN users FOR SYSTEM_TIME AS OF e.rt` joins each event
# with the version valid at its time (the plan must show TemporalJoin) once both inputs'
# watermarks pass it.
#
# current: Flink SQL has no stream join with a table's current rows over a file: `FOR
# SYSTEM_TIME AS OF` a processing-time attribute needs a lookup source (JDBC, HBase, Hive;
# the filesystem connector is not one) and is refused here. The closest is the regular join
# of the stream with the bounded table (the plan must show Join): the same rows when, as
# here, each key has one row that never changes, but both inputs are kept in state for ever
# (the events too), and LEFT may emit an event with NULLs first and retract it when its
# table row arrives (count(*) nets the retractions out).

W7_SCHEMAS = {"events": "user_id INT, amount DOUBLE", "users": "id INT, tier INT"}
W7_QUERIES = {
    "current": """
    SELECT count(*), sum(tier) FROM (
        SELECT e.user_id, e.amount, u.tier FROM {events} e {join} {users} u
        ON e.user_id = u.id)""",
    "versioned": """
    SELECT count(*), sum(tier) FROM (
        SELECT e.user_id, e.amount, u.tier FROM {events} e {join} {users}
            FOR SYSTEM_TIME AS OF e.rt AS u
        ON e.user_id = u.id)""",
}
W7_PLANS = {"current": "Join(", "versioned": "TemporalJoin"}


def w7_create(env, name: str, which: str, path: str, timed: bool) -> None:
    """A CSV file as a table; with its event time `rt` and watermark when `timed`."""
    time_columns = ("ts BIGINT, rt AS TO_TIMESTAMP_LTZ(ts, 3), WATERMARK FOR rt AS rt"
                    if timed else "")
    env.execute_sql(f"""
        CREATE TABLE {name} ({W7_SCHEMAS[which]}{", " + time_columns if timed else ""})
        WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'csv')""")


def w7_versioned(env, name: str, changelog: str) -> None:
    """The versioned view of a changelog table: each id's latest version by event time."""
    env.execute_sql(f"""
        CREATE TEMPORARY VIEW {name} AS SELECT id, tier, rt FROM (
            SELECT *, ROW_NUMBER() OVER (PARTITION BY id ORDER BY rt DESC) AS rownum
            FROM {changelog})
        WHERE rownum = 1""")


def main_w7() -> None:
    _, form, kind = sys.argv[1].split("_")
    events_csv, users_csv = sys.argv[2], sys.argv[3]
    from pyflink.version import __version__

    events = lines((events_csv, users_csv))
    env = streaming_environment()
    versioned = form == "versioned"
    for prefix, suffix in (("", ""), ("warm_", ".warmup")):
        events_path = events_csv if not suffix else warmup_copy(events_csv)
        users_path = users_csv if not suffix else warmup_copy(users_csv)
        w7_create(env, f"{prefix}events", "events", events_path, timed=True)
        if versioned:
            w7_create(env, f"{prefix}changelog", "users", users_path, timed=True)
            w7_versioned(env, f"{prefix}users", f"{prefix}changelog")
        else:
            w7_create(env, f"{prefix}users", "users", users_path, timed=False)

    def query(prefix: str) -> str:
        return W7_QUERIES[form].format(events=f"{prefix}events", users=f"{prefix}users",
                                       join="JOIN" if kind == "INNER" else "LEFT JOIN")

    plan = env.explain_sql(query(""))
    if W7_PLANS[form] not in plan or (not versioned and "TemporalJoin" in plan):
        raise SystemExit(f"Flink did not plan the {W7_PLANS[form]} expected:\n{plan}")
    warmup_seconds, _ = run_query(env, query("warm_"))
    seconds, (rows, tiers) = run_query(env, query(""))
    print(json.dumps({"kind": sys.argv[1], "events": events, "rows": rows, "tiers": tiers,
                      "job_seconds": seconds, "warmup_events": 2 * WARMUP,
                      "warmup_seconds": warmup_seconds, "peak_rss_mb": peak_rss_mb(),
                      "version": __version__}))


def run_query(env, query: str) -> tuple[float, tuple[int, int]]:
    """(seconds until the last row was collected, its first value and its second, 0
    without one: a count, and W7's sum of tiers)."""
    started = time.perf_counter()
    result = env.execute_sql(query)
    last = (0, 0)
    with result.collect() as rows:
        for row in rows:  # +I, then -U/+U per mini-batch: the last values are the totals
            last = (int(row[0]), int(row[1] or 0) if len(row) > 1 else 0)
    return time.perf_counter() - started, last


# ---------------------------------------------------------------------- W8: window join
# NEXMark q8's shape: persons and auctions in the same 10-second tumbling window, with
# Flink's window table-valued functions (its plan must show WindowJoin). KIND is W8_INNER or
# W8_LEFT; the CSVs are `id,name,ts` and `seller,reserve,ts` (ts in epoch ms, no header).

W8_WINDOWED = ("TABLE(TUMBLE(TABLE {table}, DESCRIPTOR(rt), INTERVAL '10' SECOND))")
W8_QUERY = """
    SELECT count(*) FROM (
        SELECT P.id, P.name, P.window_start FROM {persons} P {join} {auctions} A
        ON P.id = A.seller AND P.window_start = A.window_start
           AND P.window_end = A.window_end)"""
W8_JOINS = {"W8_INNER": "JOIN", "W8_LEFT": "LEFT JOIN"}
W8_SCHEMAS = {"persons": "id INT, name STRING", "auctions": "seller INT, reserve DOUBLE"}


def w8_query(kind: str, persons: str, auctions: str) -> str:
    return W8_QUERY.format(persons=W8_WINDOWED.format(table=persons),
                           auctions=W8_WINDOWED.format(table=auctions), join=W8_JOINS[kind])


def w8_create(env, name: str, stream: str, path: str) -> None:
    env.execute_sql(f"""
        CREATE TABLE {name} (
            {W8_SCHEMAS[stream]},
            ts BIGINT,
            rt AS TO_TIMESTAMP_LTZ(ts, 3),
            WATERMARK FOR rt AS rt
        ) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'csv')""")


def main_w8() -> None:
    kind, persons_csv, auctions_csv = sys.argv[1], sys.argv[2], sys.argv[3]
    from pyflink.version import __version__

    events = lines((persons_csv, auctions_csv))
    env = streaming_environment()
    w8_create(env, "persons", "persons", persons_csv)
    w8_create(env, "auctions", "auctions", auctions_csv)
    w8_create(env, "warm_persons", "persons", warmup_copy(persons_csv))
    w8_create(env, "warm_auctions", "auctions", warmup_copy(auctions_csv))
    plan = env.explain_sql(w8_query(kind, "persons", "auctions"))
    if "WindowJoin" not in plan:
        raise SystemExit(f"Flink did not plan a window join:\n{plan}")
    warmup_seconds, _ = run_query(env, w8_query(kind, "warm_persons", "warm_auctions"))
    seconds, (rows, _) = run_query(env, w8_query(kind, "persons", "auctions"))
    print(json.dumps({"kind": kind, "events": events, "rows": rows, "job_seconds": seconds,
                      "warmup_events": 2 * WARMUP, "warmup_seconds": warmup_seconds,
                      "peak_rss_mb": peak_rss_mb(), "version": __version__}))

if __name__ == "__main__":
    if sys.argv[1].startswith("W7"):
        main_w7()
    elif sys.argv[1].startswith("W8"):
        main_w8()
    else:
        main()
