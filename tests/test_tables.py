"""Tables and stream-table joins (operators/table_join.py): tables of cases driven through
the operator contract (current rows, versioned rows, upserts, deletes, LEFT with missing
keys, late rows), properties against naive references (the row current at each stream
row's processing position; the version valid at each stream row's event time, for random
disorder within the watermark and random batch cuts), bounded state, and whole jobs through
the runtime (a file table read before the streams, a changelog published to a table, a
materialized view written by INSERT INTO, explain, the analyzer's rules)."""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import frys
from frys.cli import main
from frys.connectors.broker import Broker
from frys.dsl import compile_text
from frys.dsl.errors import FrysAnalysisError
from frys.dsl.types import TIMESTAMP_DTYPE
from frys.engine.graph import TableJoinSpec, TableScanSpec
from frys.engine.operator import BatchSource, Emitted, OperatorSettings
from frys.engine.planner import plan
from frys.engine.time import END_OF_TIME
from frys.operators.registry import build_operator
from frys.operators.table_join import TableJoin, TableScan

T0 = 1_700_000_000_000
DECLARATIONS = """
CREATE STREAM s (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, late = late_s);
CREATE STREAM late_s;
CREATE TABLE cur (k INT PRIMARY KEY, w INT);
CREATE TABLE ver (k INT PRIMARY KEY, w INT, ts TIMESTAMP) WITH (event_time = ts);
"""
SELECT = "SELECT s.k AS k, s.v AS v, t.w AS w FROM s "
CURRENT = SELECT + "JOIN cur t ON s.k = t.k;"
CURRENT_LEFT = SELECT + "LEFT JOIN cur t ON s.k = t.k;"
VERSIONED = SELECT + "JOIN ver t ON s.k = t.k;"
VERSIONED_LEFT = SELECT + "LEFT JOIN ver t ON s.k = t.k;"
END = ("wm", END_OF_TIME)


def spec_of(query: str) -> TableJoinSpec:
    (node,) = plan(compile_text(DECLARATIONS + query)).queries
    assert isinstance(node.operator, TableJoinSpec)
    return node.operator


def stream_batch(events: list[tuple]) -> pl.DataFrame:
    """(k, v, time offset) rows of stream s."""
    return pl.DataFrame(
        {"k": [e[0] for e in events], "v": [e[1] for e in events],
         "ts": [None if e[2] is None else T0 + e[2] for e in events]},
        schema={"k": pl.Int64, "v": pl.Int64, "ts": pl.Int64},
    ).with_columns(pl.col("ts").cast(TIMESTAMP_DTYPE))


def table_batch(events: list[tuple], versioned: bool) -> pl.DataFrame:
    """(k, w[, time offset]) rows of a table's changelog; w None: a delete."""
    columns = {"k": [e[0] for e in events], "w": [e[1] for e in events]}
    schema: dict[str, pl.DataType] = {"k": pl.Int64(), "w": pl.Int64()}
    if versioned:
        columns["ts"] = [T0 + e[2] for e in events]
        schema["ts"] = pl.Int64()
    frame = pl.DataFrame(columns, schema=schema)
    return frame.with_columns(pl.col("ts").cast(TIMESTAMP_DTYPE)) if versioned else frame


def run_steps(operator: TableJoin, steps: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """Steps: ('s', events[, arrivals]), ('t', changelog rows) or ('wm', offset or
    END_OF_TIME). Returns (step, (k, v, w)) per output row, in order, and the late rows
    handed out."""
    versioned = operator.spec.versioned
    out: list[tuple] = []
    late: list[tuple] = []
    for index, step in enumerate(steps):
        emitted: Emitted
        if step[0] == "wm":
            emitted = operator.advance(step[1] if step[1] == END_OF_TIME else T0 + step[1])
        elif step[0] == "t":
            emitted = operator.process(table_batch(step[1], versioned),
                                       BatchSource(operator.spec.table.table))
        else:
            arrivals = None
            if len(step) > 2:
                arrivals = pl.Series([T0 + a for a in step[2]], dtype=pl.Int64)
            emitted = operator.process(stream_batch(step[1]), BatchSource("s", arrivals))
        out += [(index, row) for frame in emitted.rows for row in frame.iter_rows()]
        late += [row for frame in emitted.late for row in frame.select("k", "v").iter_rows()]
    return out, late


# (name, query, steps, expected (step, (k, v, w)) rows in order, late events counted)
CASES = [
    ("current: a stream row joins its key's row as it is processed", CURRENT,
     [("t", [(1, 10), (2, 20)]), ("s", [(1, 1, 0), (2, 2, 0), (3, 3, 0)])],
     [(1, (1, 1, 10)), (1, (2, 2, 20))], 0),
    ("current: an upsert replaces the row for later stream rows only", CURRENT,
     [("t", [(1, 10)]), ("s", [(1, 1, 5)]), ("t", [(1, 11)]), ("s", [(1, 2, 0)])],
     [(1, (1, 1, 10)), (3, (1, 2, 11))], 0),
    ("current: the last row of a key in one batch wins", CURRENT,
     [("t", [(1, 10), (1, 11), (2, 20), (1, 12)]), ("s", [(1, 1, 0)])],
     [(1, (1, 1, 12))], 0),
    ("current: a row with its values NULL deletes the key", CURRENT,
     [("t", [(1, 10), (2, 20)]), ("t", [(1, None)]), ("s", [(1, 1, 0), (2, 2, 0)])],
     [(2, (2, 2, 20))], 0),
    ("current: a deleted key can come back", CURRENT,
     [("t", [(1, 10), (1, None), (1, 13)]), ("s", [(1, 1, 0)])],
     [(1, (1, 1, 13))], 0),
    ("current: a changelog row with a NULL key is ignored", CURRENT,
     [("t", [(None, 10), (1, 11)]), ("s", [(1, 1, 0), (None, 2, 0)])],
     [(1, (1, 1, 11))], 0),
    ("current LEFT: missing keys and NULL keys come out with NULLs, in order", CURRENT_LEFT,
     [("t", [(1, 10)]), ("s", [(3, 3, 0), (1, 1, 0), (None, 2, 0)])],
     [(1, (3, 3, None)), (1, (1, 1, 10)), (1, (None, 2, None))], 0),
    ("current: stream rows behind the watermark still join (no event time needed)", CURRENT,
     [("t", [(1, 10)]), ("wm", 100), ("s", [(1, 1, 0)])],
     [(2, (1, 1, 10))], 0),
    ("versioned: each stream row joins the version valid at its time", VERSIONED,
     [("t", [(1, 10, 0), (1, 11, 10), (1, 12, 20)]),
      ("s", [(1, 1, 5), (1, 2, 10), (1, 3, 25), (1, 4, -1)]), END],
     [(2, (1, 1, 10)), (2, (1, 2, 11)), (2, (1, 3, 12))], 0),
    ("versioned: stream rows wait for the watermark, then come out in time order",
     VERSIONED,
     [("t", [(1, 10, 0)]), ("s", [(1, 1, 8), (1, 2, 3)]), ("wm", 5), ("wm", 9),
      ("t", [(1, 11, 9)]), ("s", [(1, 3, 12)]), ("wm", 30)],
     [(2, (1, 2, 10)), (3, (1, 1, 10)), (6, (1, 3, 11))], 0),
    ("versioned: a version arriving later, within the watermark, still applies", VERSIONED,
     [("s", [(1, 1, 15)]), ("wm", 2), ("t", [(1, 10, 3), (1, 11, 12)]), END],
     [(3, (1, 1, 11))], 0),
    ("versioned: a tombstone ends the key until its next version", VERSIONED_LEFT,
     [("t", [(1, 10, 0), (1, None, 5), (1, 12, 10)]),
      ("s", [(1, 1, 3), (1, 2, 7), (1, 3, 11)]), END],
     [(2, (1, 1, 10)), (2, (1, 2, None)), (2, (1, 3, 12))], 0),
    ("versioned LEFT: a row before its key's first version has NULLs", VERSIONED_LEFT,
     [("t", [(1, 10, 5)]), ("s", [(1, 1, 4), (2, 2, 9), (1, 3, 5)]), END],
     [(2, (1, 1, None)), (2, (1, 3, 10)), (2, (2, 2, None))], 0),
    ("versioned: late stream rows are dropped, counted and routed", VERSIONED,
     [("t", [(1, 10, 0)]), ("wm", 10), ("s", [(1, 1, 9), (1, 2, 10)]), END],
     [(3, (1, 2, 10))], 1),
    ("versioned: late by their own arrival watermark", VERSIONED,
     [("t", [(1, 10, 0)]), ("s", [(1, 1, 4), (1, 2, 4)], [3, 5]), END],
     [(2, (1, 1, 10))], 1),
    ("versioned: a late version is dropped and counted (it could rewrite answers given)",
     VERSIONED,
     [("t", [(1, 10, 0)]), ("s", [(1, 1, 6)]), ("wm", 8), ("t", [(1, 11, 5)]),
      ("s", [(1, 2, 9)]), END],
     [(2, (1, 1, 10)), (5, (1, 2, 10))], 1),
    ("versioned: the same key and time twice, the later arrival wins", VERSIONED,
     [("t", [(1, 10, 0)]), ("t", [(1, 11, 0)]), ("s", [(1, 1, 0)]), END],
     [(3, (1, 1, 11))], 0),
]


@pytest.mark.parametrize(("name", "query", "steps", "expected", "late"), CASES,
                         ids=[c[0] for c in CASES])
def test_table_join_cases(name: str, query: str, steps: list[tuple], expected: list[tuple],
                          late: int) -> None:
    operator = build_operator(spec_of(query), OperatorSettings())
    assert isinstance(operator, TableJoin)
    out, routed = run_steps(operator, steps)
    assert out == expected
    assert operator.counters().late_events == late
    if "late stream rows" in name or "arrival watermark" in name:
        assert len(routed) == late  # s has late = late_s: handed out with their fields


def test_versioned_state_keeps_one_version_per_key_behind_the_watermark() -> None:
    """State bound: with the watermark moving, each key keeps its latest version at or
    before it (and none once that is a tombstone), whatever the number of updates."""
    operator = build_operator(spec_of(VERSIONED), OperatorSettings())
    assert isinstance(operator, TableJoin)
    for step in range(200):
        operator.process(table_batch([(k, step, step) for k in range(10)], True),
                         BatchSource("ver"))
        operator.process(stream_batch([(step % 10, step, step)]), BatchSource("s"))
        operator.advance(T0 + step - 2)
        assert operator.table_rows() <= 10 * 4  # per key: one behind, three ahead
    operator.process(table_batch([(k, None, 300) for k in range(5)], True),
                     BatchSource("ver"))
    operator.advance(T0 + 400)
    assert operator.table_rows() == 5  # the deleted keys hold nothing


def test_current_state_is_one_row_per_live_key() -> None:
    operator = build_operator(spec_of(CURRENT), OperatorSettings())
    assert isinstance(operator, TableJoin)
    for round_ in range(50):
        operator.process(table_batch([(k, round_) for k in range(100)], False),
                         BatchSource("cur"))
        assert operator.table_rows() == 100
    operator.process(table_batch([(k, None) for k in range(0, 100, 2)], False),
                     BatchSource("cur"))
    assert operator.table_rows() == 50


# ---------------------------------------------------------------- properties

KEYS = st.integers(0, 4)
VALUES = st.one_of(st.none(), st.integers(0, 9))  # None: a tombstone


# how the operator's TableRows keep the rows (operators/table_join.py): as in production
# (these small tables stay in the recent changes), or rebuilt into the base after every
# change and looked up by hash join, or by binary search
LAYOUTS = {"production": None, "rebuilt, hashed": (0, 10**9), "rebuilt, searched": (0, 0)}


def with_layout(operator: TableJoin, layout: str) -> TableJoin:
    if LAYOUTS[layout] is not None:
        operator._rows.FOLD_AT, operator._rows.HASH_RATIO = LAYOUTS[layout]
    return operator


@settings(max_examples=150, deadline=None)
@given(data=st.data(), left=st.booleans(), layout=st.sampled_from(sorted(LAYOUTS)))
def test_current_rows_match_a_row_by_row_reference(data, left: bool, layout: str) -> None:
    """Each stream row joins the table as the changelog before it left it: replayed row by
    row into a dict, whatever the batch cuts."""
    batches = data.draw(st.lists(st.one_of(
        st.tuples(st.just("t"), st.lists(st.tuples(KEYS, VALUES), min_size=1, max_size=6)),
        st.tuples(st.just("s"), st.lists(st.tuples(st.one_of(st.none(), KEYS),
                                                   st.integers(0, 99), st.just(0)),
                                         min_size=1, max_size=6))), max_size=10))
    operator = build_operator(spec_of(CURRENT_LEFT if left else CURRENT), OperatorSettings())
    assert isinstance(operator, TableJoin)
    out, _ = run_steps(with_layout(operator, layout), batches)
    table: dict[int, int] = {}
    expected = []
    for index, (side, rows) in enumerate(batches):
        for row in rows:
            if side == "t":
                if row[1] is None:
                    table.pop(row[0], None)
                else:
                    table[row[0]] = row[1]
            elif row[0] in table or left:
                expected.append((index, (row[0], row[1], table.get(row[0]))))
    assert out == expected


@st.composite
def versioned_run(draw):
    """Changelog versions and stream rows with times nondecreasing up to a jitter of at most
    DELAY, cut into one-sided batches, with the watermark (max time so far - DELAY) after
    each batch: out of order, but never late."""
    delay = 6
    count = draw(st.integers(1, 40))
    base, events = 0, []
    for _ in range(count):
        base += draw(st.integers(0, 3))
        time = base + draw(st.integers(0, delay))
        if draw(st.booleans()):
            events.append(("t", (draw(KEYS), draw(VALUES), time)))
        else:
            events.append(("s", (draw(KEYS), len(events), time)))
    batches: list[tuple] = []
    newest = None
    for side, row in events:
        if batches and batches[-1][0] == side and draw(st.booleans()):
            batches[-1][1].append(row)
            continue
        if batches and newest is not None:
            batches.append(("wm", newest - delay))
        batches.append((side, [row]))
        newest = max(t for s, rows in batches if s != "wm" for *_, t in rows)
    return [*batches, END]


@settings(max_examples=150, deadline=None)
@given(steps=versioned_run(), left=st.booleans(), layout=st.sampled_from(sorted(LAYOUTS)))
def test_versioned_rows_match_the_version_valid_at_each_time(steps, left: bool,
                                                             layout: str) -> None:
    """Each stream row joins the version of its key with the largest time at or before its
    own (of equal times, the last to arrive); a tombstone or no version: no row (LEFT:
    NULLs). Compared as a multiset, and in event-time order per release."""
    operator = build_operator(spec_of(VERSIONED_LEFT if left else VERSIONED),
                              OperatorSettings())
    assert isinstance(operator, TableJoin)
    out, _ = run_steps(with_layout(operator, layout), steps)
    versions = [(row, (batch, position)) for batch, (side, rows) in enumerate(steps)
                if side == "t" for position, row in enumerate(rows)]
    expected = []
    for side, rows in steps:
        if side != "s":
            continue
        for key, value, time in rows:
            valid = [(t, arrival, w) for (k, w, t), arrival in versions
                     if k == key and t <= time]
            w = max(valid)[2] if valid else None
            if w is not None or left:
                expected.append((key, value, w))
    assert sorted(row for _, row in out) == sorted(expected)
    assert operator.counters().late_events == 0


# ---------------------------------------------------------------- whole jobs

USERS = [{"id": "u1", "tier": "gold"}, {"id": "u2", "tier": "silver"},
         {"id": "u2", "tier": "gold"}, {"id": "u3", "tier": "bronze"}, {"id": "u3"}]
ORDERS = [{"id": i, "user_id": u, "amount": a, "ts": T0 + i * 1000}
          for i, (u, a) in enumerate([("u1", 5.0), ("u2", 7.0), ("u3", 9.0), ("u9", 1.0)])]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_a_file_table_is_read_before_the_streams(tmp_path: Path) -> None:
    """The table's file is read to its end first, so each order sees the final table,
    even though the orders file comes first in the job."""
    write_jsonl(tmp_path / "users.jsonl", USERS)
    write_jsonl(tmp_path / "orders.jsonl", ORDERS)
    text = """
    CREATE STREAM orders (id INT, user_id STRING, amount FLOAT, ts TIMESTAMP)
        WITH (event_time = ts, source = 'file:orders.jsonl');
    CREATE TABLE users (id STRING PRIMARY KEY, tier STRING)
        WITH (source = 'file:users.jsonl');
    CREATE STREAM enriched (id INT, tier STRING, ts TIMESTAMP)
        WITH (event_time = ts, sink = 'file:enriched.jsonl');
    INSERT INTO enriched SELECT o.id, u.tier, o.ts FROM orders o LEFT JOIN users u
        ON o.user_id = u.id;
    """
    job = frys.Pipeline.from_text(text, base_dir=tmp_path)
    job.run()
    rows = [json.loads(line) for line in (tmp_path / "enriched.jsonl").read_text().splitlines()]
    assert [(r["id"], r["tier"]) for r in rows] == [
        (0, "gold"), (1, "gold"), (2, None), (3, None)]


def test_a_changelog_published_to_a_table_upserts_as_it_comes(tmp_path: Path) -> None:
    text = """
    CREATE STREAM orders (id INT, user_id STRING, ts TIMESTAMP) WITH (event_time = ts);
    CREATE TABLE users (id STRING PRIMARY KEY, tier STRING);
    SELECT o.id, u.tier FROM orders o JOIN users u ON o.user_id = u.id;
    """
    job = frys.Pipeline.from_text(text, base_dir=tmp_path)
    job.publish("users", [{"id": "u1", "tier": "silver"}])
    job.publish("orders", [{"id": 1, "user_id": "u1", "ts": T0}])
    job.publish("users", [{"id": "u1", "tier": "gold"}])
    job.publish("orders", [{"id": 2, "user_id": "u1", "ts": T0 + 1}])
    job.publish("users", [{"id": "u1", "tier": None}])
    job.publish("orders", [{"id": 3, "user_id": "u1", "ts": T0 + 2}])
    job.finish()
    assert job.results("select_1").rows() == [(1, "silver"), (2, "gold")]


def test_a_materialized_view_is_a_table_a_query_upserts(tmp_path: Path) -> None:
    """INSERT INTO a table: each row a running aggregate emits upserts its GROUP BY key;
    a stream joined with it sees the totals as of its rows."""
    text = """
    CREATE STREAM orders (user_id STRING, amount FLOAT, ts TIMESTAMP) WITH (event_time = ts);
    CREATE STREAM checks (user_id STRING, ts TIMESTAMP) WITH (event_time = ts);
    CREATE TABLE totals (user_id STRING PRIMARY KEY, spent FLOAT);
    INSERT INTO totals SELECT user_id, SUM(amount) AS spent FROM orders GROUP BY user_id
        EMIT CHANGES;
    SELECT c.user_id, t.spent FROM checks c LEFT JOIN totals t ON c.user_id = t.user_id;
    """
    job = frys.Pipeline.from_text(text, base_dir=tmp_path)
    job.publish("checks", [{"user_id": "a", "ts": T0}])
    job.publish("orders", [{"user_id": "a", "amount": 2.0, "ts": T0},
                           {"user_id": "b", "amount": 1.0, "ts": T0}])
    job.publish("orders", [{"user_id": "a", "amount": 3.0, "ts": T0 + 1}])
    job.publish("checks", [{"user_id": "a", "ts": T0 + 2}, {"user_id": "b", "ts": T0 + 2}])
    job.finish()
    assert job.results("select_1").rows() == [("a", None), ("a", 5.0), ("b", 1.0)]


def test_a_versioned_table_from_a_file_joins_by_event_time(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "tiers.jsonl", [
        {"id": "u1", "tier": "silver", "ts": T0},
        {"id": "u1", "tier": "gold", "ts": T0 + 1700},
        {"id": "u2", "tier": "bronze", "ts": T0}, {"id": "u2", "ts": T0 + 500}])
    # order 9 comes after order 2 in the file, behind it in event time (not late: within
    # the orders' watermark delay of 1 second)
    write_jsonl(tmp_path / "orders.jsonl", ORDERS[:3] + [
        {"id": 9, "user_id": "u1", "amount": 1.0, "ts": T0 + 1600}] + ORDERS[3:])
    text = """
    CREATE TABLE tiers (id STRING PRIMARY KEY, tier STRING, ts TIMESTAMP)
        WITH (event_time = ts, source = 'file:tiers.jsonl');
    CREATE STREAM orders (id INT, user_id STRING, amount FLOAT, ts TIMESTAMP)
        WITH (event_time = ts, watermark = 1 SECOND, source = 'file:orders.jsonl');
    SELECT o.id, t.tier FROM orders o LEFT JOIN tiers t ON o.user_id = t.id;
    """
    job = frys.Pipeline.from_text(text, base_dir=tmp_path)
    job.run()
    # in event-time order: order 9 (1.6 s) before u1's gold version, order 1 (1 s) after
    # u2's delete
    assert job.results("select_1").rows() == [(0, "silver"), (1, None), (9, "silver"), (2, None),
                                  (3, None)]


def test_explain_shows_the_table_join(tmp_path: Path) -> None:
    graph = plan(compile_text(DECLARATIONS + VERSIONED_LEFT + "\n" + CURRENT))
    text = graph.explain()
    assert "query 1: topic s + topic ver -> caller (stdout)" in text
    assert ("left table join s on s.k = t.k: the version valid at each stream row's event "
            "time; stream rows held until the watermark passes them") in text
    assert "table: ver t by k, versioned on ts, keeps k, w, ts" in text
    assert "table join s on s.k = t.k: the current row when each stream row is processed" in text
    assert "a changelog row with w all NULL deletes its key" in text


def test_a_filter_on_the_table_applies_after_the_join() -> None:
    """WHERE over the table's columns filters joined rows, never the changelog (a row
    failing it must still replace the row it updates)."""
    spec = spec_of(SELECT + "JOIN cur t ON s.k = t.k WHERE t.w > 5 AND s.v > 0;")
    operator = build_operator(spec, OperatorSettings())
    assert isinstance(operator, TableJoin)
    out, _ = run_steps(operator, [("t", [(1, 10)]), ("t", [(1, 3)]), ("s", [(1, 1, 0)]),
                                  ("t", [(1, 7)]), ("s", [(1, 2, 0), (1, 0, 0)])])
    assert out == [(4, (1, 2, 7))]


@pytest.mark.parametrize(("text", "message"), [
    ("SELECT s.k FROM s JOIN ver t ON s.k = t.k WITHIN 1s",
     "WITHIN does not apply to a join with table ver"),
    ("SELECT t.w FROM cur t JOIN s ON s.k = t.k", "a join reads a table on its right"),
    ("CREATE STREAM p (k INT);\nSELECT p.k FROM p JOIN ver t ON p.k = t.k",
     r"table ver is versioned \(event_time = ts\), so stream p needs an event_time"),
    ("CREATE TABLE bad (k INT PRIMARY KEY, ts TIMESTAMP) WITH (event_time = ts, late = x)",
     "option late does not apply to a table"),
])
def test_table_rules(text: str, message: str) -> None:
    with pytest.raises(FrysAnalysisError, match=message):
        compile_text(DECLARATIONS + text)


def test_a_current_join_needs_no_event_time_on_the_stream() -> None:
    spec = spec_of("CREATE STREAM p (k INT, v INT);\n"
                   "SELECT p.k, p.v, t.w FROM p JOIN cur t ON t.k = p.k + 1;")
    assert spec.stream_time is None and not spec.versioned
    assert spec.table.value_columns == ("w",)


QUERIES = Path(__file__).resolve().parent.parent / "queries"


def _millis(value: object) -> int:
    if isinstance(value, int):
        return value
    return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)


def test_the_example_jobs_tiers_equal_a_reference(tmp_path: Path, capsys) -> None:
    """queries/late_shipments_by_tier.frysql: each order without a shipment within two
    hours after it, with its customer's tier in the final table ('unknown' without a row),
    computed straight from the sample data."""
    shutil.copytree(QUERIES, tmp_path / "queries", ignore=shutil.ignore_patterns("out"))
    assert main(["run", str(tmp_path / "queries" / "late_shipments_by_tier.frysql")]) == 0
    assert "late" not in capsys.readouterr().err
    data = QUERIES / "data"

    def read(name: str) -> list[dict]:
        return [json.loads(line) for line in (data / name).read_text().splitlines()]

    tiers: dict[str, str] = {}
    for row in read("customers.jsonl"):
        if row.get("tier") is None and row.get("country") is None:
            tiers.pop(row["id"], None)
        else:
            tiers[row["id"]] = row["tier"]
    shipped = {}
    for row in read("shipments.jsonl"):
        shipped.setdefault(row["order_id"], []).append(_millis(row["ts"]))
    two_hours = 2 * 3_600_000
    expected = sorted(
        (order["id"], tiers.get(order["customer"], "unknown"))
        for order in read("orders.jsonl")
        if not any(0 <= t - _millis(order["ts"]) <= two_hours
                   for t in shipped.get(order["id"], [])))
    out = tmp_path / "out" / "unshipped_by_tier.jsonl"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((row["id"], row["tier"]) for row in rows) == expected
    assert {tier for _, tier in expected} >= {"gold", "silver", "bronze", "unknown"}
    # the aggregate over the enrichment join: per tier and hour of ordering
    hour = 3_600_000
    orders = {order["id"]: order for order in read("orders.jsonl")}
    waiting: dict[tuple[str, int], list[float]] = {}
    for order_id, tier in expected:
        start = _millis(orders[order_id]["ts"]) // hour * hour
        waiting.setdefault((tier, start), []).append(orders[order_id]["amount"])
    out = tmp_path / "out" / "waiting_by_tier.jsonl"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["tier"], _millis(r["window_start"]), r["orders"], r["amount"])
                  for r in rows) == sorted(
        (tier, start, len(amounts), round(sum(amounts), 2))
        for (tier, start), amounts in waiting.items())


DOC = Path(__file__).resolve().parent.parent / "docs" / "language.md"


def doc_table_examples() -> list[str]:
    section = DOC.read_text().split("## Interval joins, tables", 1)[1].split("\n## ", 1)[0]
    # (the chain of joins, which ends with a table, runs in tests/test_join_aggregate.py)
    return [e for e in re.findall(r"```frysql\n(.*?)```", section, flags=re.S)
            if "TABLE" in e and "JOIN returns" not in e]


def test_the_docs_table_examples_run(tmp_path: Path) -> None:
    current, versioned, view, scan = doc_table_examples()
    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "users.jsonl", [
        {"id": "u1", "tier": "gold", "country": "SE"}, {"id": "u2", "tier": "silver"},
        {"id": "u2"}])
    job = frys.Pipeline.from_text(current, base_dir=tmp_path)
    job.publish("orders", [{"id": 1, "user_id": "u1", "amount": 2.0, "ts": T0},
                           {"id": 2, "user_id": "u2", "amount": 3.0, "ts": T0}])
    job.finish()
    assert job.results("select_1").rows() == [(1, 2.0, "gold")]
    assert job.results("select_2").rows() == [(1, "gold"), (2, "none")]

    bus = Broker()  # the rates are a changelog on the bus topic fx_rates
    job = frys.Pipeline.from_text(versioned, base_dir=tmp_path, bus=bus)
    bus.publish("fx_rates", pl.DataFrame({"currency": ["SEK", "SEK"], "eur": [0.1, 0.2],
                                          "ts": [T0, T0 + 10_000]}))
    job.publish("payments", [{"id": 1, "currency": "SEK", "amount": 10.0, "ts": T0 + 9_000},
                             {"id": 2, "currency": "SEK", "amount": 10.0, "ts": T0 + 10_000},
                             {"id": 3, "currency": "NOK", "amount": 10.0, "ts": T0}])
    job.finish()
    assert job.results("select_1").rows() == [(1, 1.0), (2, 2.0)]

    job = frys.Pipeline.from_text(view, base_dir=tmp_path)
    job.publish("orders", [{"id": 1, "user_id": "a", "amount": 4.0, "ts": T0}])
    job.publish("visits", [{"user_id": "a", "page": "/x", "ts": T0},
                           {"user_id": "b", "page": "/y", "ts": T0}])
    job.publish("orders", [{"id": 2, "user_id": "a", "amount": 1.5, "ts": T0}])
    job.publish("visits", [{"user_id": "a", "page": "/z", "ts": T0}])
    job.finish()
    assert job.results("select_1").rows() == [("/x", 4.0), ("/y", 0.0), ("/z", 5.5)]

    job = frys.Pipeline.from_text(scan, base_dir=tmp_path)
    job.run()
    assert job.results("select_1").rows() == [("u1",)]


# ---------------------------------------------------------------- scans


def scan_of(query: str) -> TableScan:
    (node,) = plan(compile_text(DECLARATIONS + query)).queries
    assert isinstance(node.operator, TableScanSpec) and node.watermark_lag_ms is None
    operator = build_operator(node.operator, OperatorSettings())
    assert isinstance(operator, TableScan)
    return operator


def test_a_scan_gives_the_tables_rows_at_the_end_in_key_order() -> None:
    operator = scan_of("SELECT k, w * 2 AS w2 FROM cur WHERE w <> 3;")
    assert operator.process(table_batch([(3, 30), (1, 10), (2, 3), (4, 40)], False),
                            BatchSource("cur")).rows == []
    operator.process(table_batch([(3, None), (1, 11), (None, 7)], False), BatchSource("cur"))
    assert operator.advance(T0 + 10**6).rows == []  # nothing before the end
    snapshot = operator.snapshot()
    (rows,) = operator.advance(END_OF_TIME).rows
    assert rows.rows() == [(1, 22), (4, 80)]  # 2 filtered out, 3 deleted
    assert operator.advance(END_OF_TIME).rows == []  # once
    restored = scan_of("SELECT k, w * 2 AS w2 FROM cur WHERE w <> 3;")
    restored.restore(snapshot)
    assert [f.rows() for f in restored.advance(END_OF_TIME).rows] == [rows.rows()]


def test_a_scan_of_a_versioned_table_keeps_the_latest_version_in_event_time() -> None:
    operator = scan_of("SELECT k, w FROM ver;")
    operator.process(table_batch([(1, 10, 5), (2, 20, 5)], True), BatchSource("ver"))
    operator.process(table_batch([(1, 9, 1), (2, 21, 5), (2, None, 4)], True),
                     BatchSource("ver"))
    (rows,) = operator.advance(END_OF_TIME).rows
    assert rows.rows() == [(1, 10), (2, 21)]


def test_a_scan_runs_in_a_job(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "users.jsonl", USERS)
    job = frys.Pipeline.from_text("""
        CREATE TABLE users (id STRING PRIMARY KEY, tier STRING)
            WITH (source = 'file:users.jsonl');
        SELECT id, tier FROM users;""", base_dir=tmp_path)
    job.run()
    assert job.results("select_1").rows() == [("u1", "gold"), ("u2", "gold")]


def test_an_aggregate_over_a_table_is_not_supported_yet() -> None:
    job = compile_text(DECLARATIONS + "SELECT COUNT(*) AS n FROM cur EMIT CHANGES;",
                       runnable=False)
    assert [d.message for d in job.not_supported] == [
        "not supported yet: an aggregate over table cur (its rows are upserts) at 6:27"]


@pytest.mark.parametrize(("table", "untimed"), [
    ("CREATE TABLE u (id INT PRIMARY KEY, w INT) WITH (source = 'file:u.jsonl');", (1,)),
    # versioned: the table's watermark holds the stream rows until their versions are in
    ("CREATE TABLE u (id INT PRIMARY KEY, w INT, ts TIMESTAMP) WITH (event_time = ts, "
     "source = 'bus:u_changes');", ()),
    # current rows: looked up as they are, so the table's input (no event time, no end
    # before the streams) never holds the stream's watermark back
    ("CREATE TABLE u (id INT PRIMARY KEY, w INT) WITH (source = 'bus:u_changes');", (1,)),
    ("CREATE TABLE u (id INT PRIMARY KEY, w INT);", (1,)),
])
def test_the_output_watermark_follows_the_stream(table: str, untimed: tuple[int, ...]
                                                 ) -> None:
    text = (DECLARATIONS + table + "\nCREATE STREAM out (k INT, w INT, ts TIMESTAMP) WITH "
            "(event_time = ts);\nINSERT INTO out SELECT s.k, u.w, s.ts FROM s JOIN u "
            "ON s.k = u.id;")
    (node,) = plan(compile_text(text)).queries
    assert node.untimed_inputs == untimed
    assert node.watermark_lag_ms == 0


def test_a_deleted_keys_left_row_is_all_null_whatever_layer_holds_the_delete() -> None:
    """The table's rows live in layers (operators/table_join.py TableRows): a delete still
    in the recent changes, and one folded into the base, both leave no row."""
    # (rows, updates after the delete): the delete recent over an empty base, recent over
    # a base, and folded into a rebuilt base by the updates after it
    for rows, after in ((10, 0), (5_000, 0), (5_000, 3_000)):
        job = frys.Pipeline.from_text(DECLARATIONS + """
            SELECT s.k, cur.k AS tk, cur.w FROM s LEFT JOIN cur ON s.k = cur.k;""")
        job.publish("cur", [{"k": k, "w": k * 10} for k in range(rows)])
        job.publish("cur", [{"k": 3}])  # a tombstone
        job.publish("cur", [{"k": k, "w": k * 10} for k in range(10, 10 + after)])
        job.publish("s", [{"k": 3, "v": 0, "ts": T0}, {"k": 4, "v": 0, "ts": T0}])
        job.finish()
        assert job.results("select_1").rows() == [(3, None, None), (4, 4, 40)]


def test_a_delete_at_the_watermark_survives_a_snapshot() -> None:
    """A tombstone arriving at the watermark's very time (not late) deletes its key for the
    stream rows held from then on, in the operator and in one restored from its snapshot
    (restore once dropped such a pending tombstone and kept the key's old row)."""
    outputs = []
    for restored in (False, True):
        operator = build_operator(spec_of(VERSIONED_LEFT), OperatorSettings())
        operator.process(table_batch([(1, 10, 0)], True), BatchSource("ver"))
        operator.advance(T0 + 5)
        operator.process(table_batch([(1, None, 5)], True), BatchSource("ver"))
        if restored:
            state = operator.snapshot()
            operator = build_operator(spec_of(VERSIONED_LEFT), OperatorSettings())
            operator.restore(state)
        operator.process(stream_batch([(1, 7, 6)]), BatchSource("s"))
        emitted = operator.advance(END_OF_TIME)
        outputs.append([row for frame in emitted.rows for row in frame.rows()])
    assert outputs[0] == outputs[1] == [(1, 7, None)]
