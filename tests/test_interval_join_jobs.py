"""Interval joins of two streams in whole jobs (the operator itself:
tests/test_interval_join.py): through the runtime (watermarks of two inputs, late streams, a
window downstream of a join, the docs' examples, the example job), planning (the interval in
ON or WHERE, Flink's spellings, pushdown, explain, refusals) and self-joins."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_interval_join import (
    BEFORE,
    FULL,
    JOIN,
    RIGHT,
    SELECT,
    STREAMS,
    T0,
    batch,
    cut,
    offset,
    output_rows,
    reference,
    spec_of,
    streams_of,
)

import frys
from frys.dsl import compile_text
from frys.dsl.errors import NotSupportedYet
from frys.dsl.printer import expr_to_sql
from frys.dsl.types import TIMESTAMP_DTYPE
from frys.engine.channel import Delivery
from frys.engine.job_stats import JobStats
from frys.engine.operator import BatchSource, Emitted, OperatorSettings
from frys.engine.planner import plan
from frys.engine.query_runner import QueryRunner
from frys.operators.registry import build_operator

# ---------------------------------------------------------------------- whole jobs

ORDERS = """
CREATE STREAM orders (id INT, amount FLOAT, ts TIMESTAMP)
    WITH (event_time = ts, late = late_orders);
CREATE STREAM late_orders;
CREATE STREAM shipments (order_id INT, carrier STRING, ts TIMESTAMP) WITH (event_time = ts);
"""


def at(ms: int) -> int:
    return T0 + ms


def test_a_job_joins_two_streams_under_their_combined_watermark() -> None:
    pipeline = frys.Pipeline.from_text(ORDERS + """
        SELECT o.id, s.carrier FROM orders o LEFT JOIN shipments s ON o.id = s.order_id
        WITHIN 10ms;
        SELECT id, amount FROM late_orders;""")
    pipeline.publish("orders", [{"id": 1, "amount": 1.0, "ts": at(0)},
                                {"id": 2, "amount": 2.0, "ts": at(100)}])
    # shipments' watermark holds the join back: order 1 is not yet known to be unmatched
    assert pipeline.results("select_1").height == 0
    pipeline.publish("shipments", [{"order_id": 7, "carrier": "dhl", "ts": at(8)}])
    assert pipeline.results("select_1").height == 0  # the watermark (8) is not past 0 + 10
    pipeline.publish("shipments", [{"order_id": 2, "carrier": "ups", "ts": at(95)}])
    assert pipeline.results("select_1").rows() == [(2, "ups"), (1, None)]
    pipeline.publish("orders", [{"id": 3, "amount": 1.0, "ts": at(50)}])  # late
    pipeline.finish()
    assert sorted(pipeline.results("select_1").rows(), key=repr) == [(1, None), (2, "ups")]
    assert pipeline.results("select_2").rows() == [(3, 1.0)]
    assert pipeline.stats.total_late_events == 1


def test_a_window_downstream_of_a_join_misses_no_pair() -> None:
    """The join's output watermark is its inputs' minus WITHIN: a pair found when the
    watermark is already past the earlier row's time still lands in that row's window."""
    text = ORDERS + """
        CREATE STREAM shipped (id INT, carrier STRING, ts TIMESTAMP) WITH (event_time = ts);
        INSERT INTO shipped SELECT o.id, s.carrier, o.ts AS ts FROM orders o
            JOIN shipments s ON o.id = s.order_id WITHIN 10ms;
        SELECT window_start, COUNT(*) AS n FROM shipped GROUP BY TUMBLE(10ms);"""
    join, _ = plan(compile_text(text)).queries
    assert join.watermark_lag_ms == 10
    pipeline = frys.Pipeline.from_text(text)
    pipeline.publish("orders", [{"id": 1, "amount": 1.0, "ts": at(5)},
                                {"id": 2, "amount": 1.0, "ts": at(30)}])
    # the join's inputs are at 12: a watermark of 12 on `shipped` would close [0, 10)
    pipeline.publish("shipments", [{"order_id": 9, "carrier": "c", "ts": at(12)}])
    # on time (15 >= 12), and it pairs with the order at 5: a row of window [0, 10)
    pipeline.publish("shipments", [{"order_id": 1, "carrier": "c", "ts": at(15)}])
    pipeline.publish("shipments", [{"order_id": 2, "carrier": "c", "ts": at(33)}])
    pipeline.finish()
    counts = {offset(start): n for start, n in pipeline.results("select_1").iter_rows()}
    assert counts == {0: 1, 30: 1}
    assert pipeline.stats.total_late_events == 0


def test_explain_shows_the_join_its_keys_interval_and_state() -> None:
    text = frys.explain(ORDERS + """
        SELECT o.id, s.carrier FROM orders o LEFT JOIN shipments s
        ON o.id = s.order_id AND s.carrier <> 'x' WITHIN 1 HOUR WHERE o.amount > 5;""")
    assert "query 1: topic orders + topic shipments -> caller (stdout)" in text
    assert ("-> left interval join on o.id = s.order_id within 1 HOUR (inclusive) in event "
            "time") in text
    assert "-> left: orders o on ts where o.amount > 5, buffers id, amount, ts" in text
    assert "-> right: shipments s on ts, buffers order_id, carrier, ts" in text
    assert "-> residual s.carrier <> 'x'" in text
    assert ("-> state: each side's rows until the watermark passes their time + 1 HOUR; "
            "unmatched left rows with NULLs once the watermark passes time + 1 HOUR") in text
    assert "-> late events of orders -> topic late_orders" in text
    assert "-> project o.id AS id, s.carrier AS carrier" in text


def test_only_the_columns_the_query_reads_are_buffered() -> None:
    spec = spec_of("SELECT l.v FROM l JOIN r ON l.k = r.k WITHIN 1s;")
    assert list(spec.left.columns) == ["k", "v", "ts"]
    assert list(spec.right.columns) == ["k", "ts"]


@pytest.mark.parametrize(("query", "message"), [
    ("SELECT l.k FROM l JOIN r ON l.k = r.k WITHIN 1s EMIT CHANGES",
     "EMIT CHANGES does not apply to a join: a join's rows are final when emitted"),
    ("SELECT l.k FROM l JOIN r ON l.k = r.k AND l.ts <= r.ts",
     "the event times in ON bound the interval on one end only"),
    ("SELECT l.k FROM l JOIN r ON l.k = r.k AND l.ts BETWEEN r.ts + 1ms AND r.ts - 1ms",
     "the event times in ON leave an empty interval"),
    ("SELECT l.k FROM l JOIN r ON l.k = r.k",
     "a join of two streams needs WITHIN"),
    ("CREATE STREAM m (k INT, ts TIMESTAMP) WITH (event_time = ts);\n"
     "SELECT l.k FROM l JOIN r ON l.k = r.k WITHIN 1s JOIN m ON m.k = l.k",
     "a join after the first needs WITHIN"),
    ("CREATE STREAM m (k INT, ts TIMESTAMP) WITH (event_time = ts);\n"
     "SELECT l.k FROM l JOIN r ON l.k = m.k WITHIN 1s JOIN m ON m.k = l.k WITHIN 1s",
     "unknown"),
    ("CREATE STREAM n (k INT, ts TIMESTAMP);\nSELECT l.k FROM l JOIN n ON l.k = n.k WITHIN 1s",
     "stream n has no event_time, so it cannot be joined"),
    ("SELECT * FROM l JOIN r ON l.k = r.k WITHIN 1s",
     "SELECT * over a join gives two columns k"),
])
def test_joins_the_runtime_cannot_run_are_refused(query: str, message: str) -> None:
    with pytest.raises((NotSupportedYet, frys.FrysError), match=re.escape(message)):
        compile_text(STREAMS + query)


def test_select_star_over_a_join_qualifies_each_column() -> None:
    text = ("CREATE STREAM a (k INT, x INT, ta TIMESTAMP) WITH (event_time = ta);\n"
            "CREATE STREAM b (j INT, y INT, tb TIMESTAMP) WITH (event_time = tb);\n"
            "SELECT * FROM a JOIN b ON a.k = b.j WITHIN 5ms;")
    pipeline = frys.Pipeline.from_text(text)
    pipeline.publish("a", [{"k": 1, "x": 2, "ta": at(0)}])
    pipeline.publish("b", [{"j": 1, "y": 3, "tb": at(5)}])
    pipeline.finish()
    result = pipeline.results("select_1")
    assert result.columns == ["k", "x", "ta", "j", "y", "tb"]
    assert result.select("k", "x", "j", "y").rows() == [(1, 2, 1, 3)]


DOC = Path(__file__).resolve().parent.parent / "docs" / "language.md"


def docs_join_examples() -> list[str]:
    section = DOC.read_text().split("## Interval joins, tables", 1)[1].split("\n## ", 1)[0]
    return [e for e in re.findall(r"```frysql\n(.*?)```", section, flags=re.S)
            if "CREATE TABLE" not in e]


def test_the_docs_interval_join_example_runs() -> None:
    example = docs_join_examples()[0]
    pipeline = frys.Pipeline.from_text(example)
    minute = 60_000
    pipeline.publish("orders", [{"id": 1, "user_id": "u", "amount": 9.5, "ts": at(0)},
                                {"id": 2, "user_id": "v", "amount": 3.0, "ts": at(minute)},
                                {"id": 3, "user_id": "u", "amount": 1.0, "ts": at(2 * minute)}])
    pipeline.publish("shipments", [{"order_id": 3, "carrier": "fedex", "ts": at(0)},
                                   {"order_id": 1, "carrier": "ups", "ts": at(30 * minute)},
                                   {"order_id": 2, "carrier": "dhl", "ts": at(62 * minute)}])
    pipeline.finish()
    assert pipeline.stats.total_late_events == 0
    results = {name: sorted(pipeline.results(name).rows(), key=repr)
               for name in ("select_1", "select_2", "select_3", "select_4")}
    assert results["select_1"] == [(1, "ups"), (3, "fedex")]
    assert results["select_2"] == [(1, "ups"), (2, None), (3, "fedex")]
    # order 2 and shipment 2 are 61 minutes apart: each comes out unmatched
    assert results["select_3"] == sorted([(1, 1, "ups"), (2, None, None), (3, 3, "fedex"),
                                          (None, 2, "dhl")], key=repr)
    # shipment 3 came two minutes before its order: outside the one-sided interval
    assert results["select_4"] == [(1, "ups")]


def test_the_docs_self_join_example_runs() -> None:
    """Through QueryRunner (one subscription to the stream, two inputs by position)."""
    example = docs_join_examples()[1]
    (node,) = plan(compile_text(example)).queries
    out = Collect(node.output_topic)
    runner = QueryRunner(node, out, JobStats())
    minute, channel = 60_000, Named("orders")
    orders = pl.DataFrame(
        {"id": [1, 2, 3, 4], "user_id": ["u", "v", "u", "u"], "amount": [1.0] * 4,
         "ts": [T0, T0, T0 + 4 * minute, T0 + 10 * minute]},
        schema={"id": pl.Int64, "user_id": pl.String, "amount": pl.Float64, "ts": pl.Int64},
    ).with_columns(pl.col("ts").cast(TIMESTAMP_DTYPE))
    runner.on_delivery(channel, Delivery(orders))
    runner.on_end(channel)
    rows = sorted(row for frame in out.batches for row in frame.rows())
    assert rows == [(1, 3)]  # 3 is 4 minutes after 1; 4 is 6 after 3; 2 is another user


def test_a_self_join_through_the_runtime_gives_each_pair_once() -> None:
    """The runtime subscribes the query to its stream once, though it is both inputs (it
    gave each pair four times when it subscribed once per input)."""
    pipeline = frys.Pipeline.from_text(docs_join_examples()[1])
    minute = 60_000
    pipeline.publish("orders", [
        {"id": i, "user_id": user, "amount": 1.0, "ts": T0 + offset * minute}
        for i, user, offset in ((1, "u", 0), (2, "v", 0), (3, "u", 4), (4, "u", 10))])
    pipeline.finish()
    assert sorted(pipeline.results("select_1").rows()) == [(1, 3)]


QUERIES = Path(__file__).resolve().parent.parent / "queries"


def test_the_example_jobs_unshipped_orders_equal_a_reference(tmp_path: Path, capsys) -> None:
    """queries/shipments.frysql: the orders with no shipment from their time to two hours
    later, computed straight from the sample data."""
    from frys.cli import main

    shutil.copytree(QUERIES, tmp_path / "queries", ignore=shutil.ignore_patterns("out"))
    assert main(["run", str(tmp_path / "queries" / "shipments.frysql")]) == 0
    assert "late" not in capsys.readouterr().err
    unshipped = {json.loads(line)["id"]
                 for line in (tmp_path / "out" / "unshipped.jsonl").read_text().splitlines()}

    def millis(value) -> int:
        if isinstance(value, int):
            return value
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)

    data = tmp_path / "queries" / "data"
    orders = [json.loads(line) for line in (data / "orders.jsonl").read_text().splitlines()]
    shipments = [json.loads(line)
                 for line in (data / "shipments.jsonl").read_text().splitlines()]
    expected = {o["id"] for o in orders
                if not any(s["order_id"] == o["id"]
                           and 0 <= millis(s["ts"]) - millis(o["ts"]) <= 2 * 3_600_000
                           for s in shipments)}
    assert unshipped == expected and 0 < len(expected) < len(orders)


def test_the_later_of_the_two_times_is_a_computed_time_without_a_promised_watermark() -> None:
    text = ORDERS + """
        CREATE STREAM paired (id INT, ts TIMESTAMP) WITH (event_time = ts);
        INSERT INTO paired SELECT o.id, CASE WHEN o.ts >= s.ts THEN o.ts ELSE s.ts END AS ts
        FROM orders o JOIN shipments s ON o.id = s.order_id WITHIN 10ms;
        SELECT id, ts FROM paired;"""
    join, _ = plan(compile_text(text)).queries
    assert join.watermark_lag_ms is None  # its rows alone move `paired`'s watermark
    pipeline = frys.Pipeline.from_text(text)
    pipeline.publish("orders", [{"id": 1, "amount": 1.0, "ts": at(7)}])
    pipeline.publish("shipments", [{"order_id": 1, "carrier": "c", "ts": at(2)}])
    pipeline.finish()
    assert [(i, offset(ts)) for i, ts in pipeline.results("select_1").rows()] == [(1, 7)]


@pytest.mark.parametrize(("query", "lag"), [
    ("SELECT o.id, o.ts FROM orders o JOIN shipments s ON o.id = s.order_id WITHIN 1s", 1000),
    ("SELECT o.id, s.ts FROM orders o JOIN shipments s ON o.id = s.order_id WITHIN 1s", 1000),
    ("SELECT o.id, o.ts FROM orders o LEFT JOIN shipments s ON o.id = s.order_id WITHIN 1s",
     1000),
    # NULL in a LEFT join's unmatched rows: no watermark can be promised for it
    ("SELECT o.id, s.ts FROM orders o LEFT JOIN shipments s ON o.id = s.order_id WITHIN 1s",
     None),
    ("SELECT o.id, s.ts FROM orders o RIGHT JOIN shipments s ON o.id = s.order_id WITHIN 1s",
     1000),
    ("SELECT o.id, o.ts FROM orders o RIGHT JOIN shipments s ON o.id = s.order_id WITHIN 1s",
     None),
    ("SELECT o.id, o.ts FROM orders o FULL JOIN shipments s ON o.id = s.order_id WITHIN 1s",
     None),
    ("SELECT o.id, s.ts FROM orders o FULL JOIN shipments s ON o.id = s.order_id WITHIN 1s",
     None),
    # the farther of the two bounds
    ("SELECT o.id, o.ts FROM orders o JOIN shipments s ON o.id = s.order_id"
     " AND s.ts BETWEEN o.ts - 1s AND o.ts + 3s", 3000),
    ("SELECT o.id, o.ts FROM orders o JOIN shipments s ON o.id = s.order_id"
     " AND s.ts BETWEEN o.ts + 1s AND o.ts + 3s", 3000),
])
def test_a_joins_output_watermark_lags_its_inputs_by_the_interval(query: str,
                                                                   lag: int | None) -> None:
    text = (ORDERS + "CREATE STREAM out (id INT, ts TIMESTAMP) WITH (event_time = ts);\n"
            f"INSERT INTO out {query};")
    (node,) = plan(compile_text(text)).queries
    assert node.watermark_lag_ms == lag


def test_restore_refuses_another_operators_state() -> None:
    from frys.engine.operator import OperatorState

    operator = build_operator(spec_of(JOIN), OperatorSettings())
    with pytest.raises(ValueError, match="cannot restore a window state"):
        operator.restore(OperatorState("window", 1))


# ---------------------------------------------------------------------- self-joins


class Collect:
    """A ChannelWriter that keeps what a QueryRunner writes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.batches: list[pl.DataFrame] = []
        self.watermarks: list[int] = []
        self.finished = False

    def publish(self, batch: pl.DataFrame) -> None:
        self.batches.append(batch)

    def advance_watermark(self, watermark: int) -> None:
        self.watermarks.append(watermark)

    def finish(self) -> None:
        self.finished = True


class Named:
    def __init__(self, name: str) -> None:
        self.name = name


SELF = ("SELECT a.k AS k, a.v AS v, b.v AS w, a.ts AS lts, b.ts AS rts FROM l a "
        "{kind} l b ON a.k = b.k AND b.v >= a.v WITHIN {t}ms;")


@settings(max_examples=100, deadline=None)
@given(data=st.data(), delay=st.integers(0, 8), within=st.integers(0, 12),
       kind=st.sampled_from(["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"]))
def test_a_self_join_through_the_query_runner_gives_the_references_rows(
        data, delay: int, within: int, kind: str) -> None:
    """One stream feeds both sides (QueryRunner keys inputs by position): each batch goes
    to both, so a row meets itself and every other row of the stream within the interval."""
    events = [e for e in data.draw(streams_of(delay)) if e[0] == "l"]
    (node,) = plan(compile_text(STREAMS + SELF.format(kind=kind, t=within))).queries
    assert node.inputs == ("l", "l")
    out = Collect(node.output_topic)
    runner = QueryRunner(node, out, JobStats())
    channel, newest = Named("l"), 0
    for _, events_of_batch in cut(data.draw, events):
        runner.on_delivery(channel, Delivery(batch("l", [e[1:] for e in events_of_batch])))
        newest = max(newest, *(e[3] for e in events_of_batch))
        runner.on_watermark(channel, T0 + newest - delay)
    runner.on_end(channel)
    assert out.finished
    rows = Counter(output_rows(Emitted(rows=out.batches)))
    full_kind = {"JOIN": "INNER", "LEFT JOIN": "LEFT", "RIGHT JOIN": "RIGHT",
                 "FULL JOIN": "FULL"}[kind]
    assert rows == reference([], within, False, True, full_kind, lefts=events, rights=events)
    # every row pairs with itself (equal key, b.v >= a.v, 0 apart) unless its key is NULL
    assert all(rows[(k, v, v, ts, ts)] >= 1 for _, k, v, ts in events if k is not None)


def test_a_self_joins_late_rows_are_counted_and_routed_once() -> None:
    (node,) = plan(compile_text(STREAMS + SELF.format(kind="JOIN", t=5))).queries
    operator = build_operator(node.operator, OperatorSettings())
    for position in (0, 1):
        operator.process(batch("l", [(1, 1, 50)]), BatchSource("l", input=position))
    operator.advance(T0 + 40)
    late: list[pl.DataFrame] = []
    for position in (0, 1):
        emitted = operator.process(batch("l", [(1, 2, 30), (1, 3, 48)]),
                                   BatchSource("l", input=position))
        late += emitted.late
    assert operator.counters().late_events == 1
    assert [row["v"] for frame in late for row in frame.iter_rows(named=True)] == [2]


def test_flinks_between_spelling_plans_the_same_join_as_within() -> None:
    within = spec_of(SELECT + "JOIN r ON l.k = r.k AND r.w > 1 WITHIN 7ms;")
    for spelling in ("l.ts BETWEEN r.ts - 7ms AND r.ts + 7ms",
                     "r.ts BETWEEN l.ts - 7ms AND l.ts + 7ms",
                     "l.ts >= r.ts - 7ms AND l.ts <= r.ts + 7ms",
                     "r.ts + 7ms >= l.ts AND r.ts <= l.ts + 7ms"):
        between = spec_of(SELECT + f"JOIN r ON l.k = r.k AND {spelling} AND r.w > 1;")
        assert (between.before_ms, between.after_ms) == (7, 7)
        assert between.keys == within.keys and between.residual == within.residual
        assert between.describe() == within.describe()


@pytest.mark.parametrize("query", [
    # the interval in WHERE: for an inner join, the same condition as in ON
    SELECT + "JOIN r ON l.k = r.k WHERE l.ts BETWEEN r.ts - 7ms AND r.ts + 7ms AND r.w > 1;",
    SELECT + "JOIN r ON l.k = r.k AND r.w > 1 WHERE r.ts >= l.ts - 7ms AND r.ts <= l.ts + 7ms;",
    # Flink SQL's comma join: keys and interval all in WHERE
    "SELECT l.k AS k, l.v AS v, r.w AS w, l.ts AS lts, r.ts AS rts FROM l, r "
    "WHERE l.k = r.k AND l.ts BETWEEN r.ts - 7ms AND r.ts + 7ms AND r.w > 1;",
    "SELECT l.k AS k, l.v AS v, r.w AS w, l.ts AS lts, r.ts AS rts FROM l, r "
    "WHERE r.w > 1 AND r.k = l.k AND l.ts - 7ms <= r.ts AND r.ts - 7ms <= l.ts;",
])
def test_an_inner_joins_interval_and_keys_may_be_written_in_where(query: str) -> None:
    within = spec_of(SELECT + "JOIN r ON l.k = r.k AND r.w > 1 WITHIN 7ms;")
    spec = spec_of(query)
    assert (spec.before_ms, spec.after_ms) == (7, 7)
    assert [tuple(map(expr_to_sql, k)) for k in spec.keys] == [("l.k", "r.k")]
    # r.w > 1 filters the right side before it is buffered, as it does from ON's WHERE
    conditions = {expr_to_sql(e) for e in (spec.residual, spec.where, spec.right.where)
                  if e is not None}
    assert conditions == {"r.w > 1"}
    assert spec.describe()[0] == within.describe()[0]


def test_the_same_join_in_where_gives_the_same_rows_through_a_job() -> None:
    rows = {}
    for query in ("SELECT o.id, s.carrier FROM orders o JOIN shipments s "
                  "ON o.id = s.order_id WITHIN 10ms;",
                  "SELECT o.id, s.carrier FROM orders o, shipments s WHERE o.id = s.order_id "
                  "AND s.ts BETWEEN o.ts - 10ms AND o.ts + 10ms;"):
        pipeline = frys.Pipeline.from_text(ORDERS + query)
        pipeline.publish("orders", [{"id": i, "amount": 1.0, "ts": at(i * 7)}
                                    for i in range(20)])
        pipeline.publish("shipments", [{"order_id": i % 20, "carrier": f"c{i}",
                                        "ts": at(i * 5)} for i in range(40)])
        pipeline.finish()
        rows[query] = sorted(pipeline.results("select_1").rows())
    first, second = rows.values()
    assert first == second and len(first) > 5


@pytest.mark.parametrize("kind", ["LEFT", "RIGHT", "FULL OUTER"])
def test_an_outer_joins_where_is_a_filter_not_its_interval(kind: str) -> None:
    """An outer join's WHERE filters its rows after the join, NULL-padded ones included:
    an event-time comparison there is not the join's interval, which must be in ON."""
    with pytest.raises(frys.FrysError, match="a join of two streams needs WITHIN"):
        compile_text(STREAMS + SELECT + f"{kind} JOIN r ON l.k = r.k "
                     "WHERE l.ts BETWEEN r.ts - 7ms AND r.ts + 7ms;")


def test_explain_shows_outer_kinds_and_one_sided_intervals() -> None:
    right = "\n".join(spec_of(RIGHT).describe())
    assert "right interval join on l.k = r.k within 10 MILLISECONDS (inclusive)" in right
    assert "unmatched right rows with NULLs once the watermark passes time + 10 MILLISECONDS" \
        in right
    full = "\n".join(spec_of(FULL).describe())
    assert full.startswith("full outer interval join on l.k = r.k")
    assert "unmatched left and right rows with NULLs" in full
    one_sided = "\n".join(spec_of(BEFORE).describe())
    assert ("interval join on l.k = r.k right time from left time - 10 MILLISECONDS to left "
            "time + 0 SECONDS (inclusive) in event time") in one_sided
    assert ("state: left rows until the watermark passes their time + 0 SECONDS, right rows "
            "their time + 10 MILLISECONDS") in one_sided


def test_right_and_full_joins_run_as_jobs() -> None:
    text = ORDERS + """
        SELECT o.id, s.order_id, s.carrier FROM orders o FULL JOIN shipments s
        ON o.id = s.order_id WITHIN 10ms;
        SELECT o.id, s.order_id FROM orders o RIGHT JOIN shipments s
        ON o.id = s.order_id AND s.ts BETWEEN o.ts AND o.ts + 10ms;"""
    pipeline = frys.Pipeline.from_text(text)
    pipeline.publish("orders", [{"id": 1, "amount": 1.0, "ts": at(0)},
                                {"id": 2, "amount": 2.0, "ts": at(0)}])
    pipeline.publish("shipments", [{"order_id": 2, "carrier": "e", "ts": at(-1)},
                                   {"order_id": 1, "carrier": "c", "ts": at(5)},
                                   {"order_id": 3, "carrier": "d", "ts": at(5)}])
    pipeline.finish()
    assert pipeline.stats.total_late_events == 0
    assert sorted(pipeline.results("select_1").rows(), key=repr) == sorted(
        [(1, 1, "c"), (2, 2, "e"), (None, 3, "d")], key=repr)
    # shipment 2 came before its order: outside [o.ts, o.ts + 10ms], so unmatched
    assert sorted(pipeline.results("select_2").rows(), key=repr) == sorted(
        [(1, 1), (None, 3), (None, 2)], key=repr)


@pytest.mark.parametrize(("kind", "above", "below"), [
    ("JOIN", [], ["a.x > 0", "b.y > 0"]),
    ("LEFT JOIN", ["b.y > 0"], ["a.x > 0"]),
    ("RIGHT JOIN", ["a.x > 0"], ["b.y > 0"]),
    ("FULL OUTER JOIN", ["a.x > 0 AND b.y > 0"], []),
])
def test_where_is_pushed_only_onto_an_input_that_supplies_no_nulls(
        kind: str, above: list[str], below: list[str]) -> None:
    """A WHERE conjunct over a NULL-supplying input must drop the NULL-padded rows after
    the join, so the optimizer keeps it above; over the other input it filters first."""
    plan_text = frys.explain(
        "CREATE STREAM a (k INT, x INT, ts TIMESTAMP) WITH (event_time = ts);\n"
        "CREATE STREAM b (k INT, y INT, ts TIMESTAMP) WITH (event_time = ts);\n"
        f"SELECT a.x, b.y FROM a {kind} b ON a.k = b.k WITHIN 1 SECOND "
        "WHERE a.x > 0 AND b.y > 0;\n", stage="optimized")
    lines = [line.strip() for line in plan_text.splitlines()]
    join_line = next(i for i, line in enumerate(lines) if "JOIN ON" in line)
    filters_above = [line[len("Filter "):] for line in lines[:join_line]
                     if line.startswith("Filter ")]
    filters_below = [line[len("Filter "):] for line in lines[join_line:]
                     if line.startswith("Filter ")]
    assert filters_above == above
    assert sorted(filters_below) == sorted(below)
    assert lines[join_line].startswith(kind if kind != "JOIN" else "JOIN ON")
