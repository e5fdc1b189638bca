"""Aggregates over joins (engine/join_stages.py): the join and the aggregate as two stages
joined by an internal stream. Windows go by the join's time (the later of a pair's two
times; an outer row's own; a stream-table join's stream time); checked against a naive
reference (nested loops, then the groups) over random streams, disorder within the
watermark and batch cuts, and through explain, the run summary and table joins."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_interval_join import streams_of

import frys
from frys.dsl import compile_text
from frys.engine.graph import IntervalJoinSpec, TableJoinSpec, TumbleSpec
from frys.engine.join_stages import JOIN_TIME
from frys.engine.planner import plan

T0 = 1_699_999_200_000  # a whole hour
STREAMS = """
CREATE STREAM l (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, watermark = {delay}ms);
CREATE STREAM r (k INT, w INT, ts TIMESTAMP) WITH (event_time = ts, watermark = {delay}ms);
"""


def at(ms: int) -> int:
    return T0 + ms


def offset(value) -> int:
    return int(value.timestamp() * 1000) - T0


def pairs(lefts: list[tuple], rights: list[tuple], within: int, kind: str
          ) -> list[tuple]:
    """Nested loops: (k_left, v, w, join time) per output row of the join; v or w None on
    an outer join's unmatched rows (their own time)."""
    rows = []
    right_matched = [False] * len(rights)
    for lk, lv, lts in lefts:
        matched = False
        for index, (rk, rw, rts) in enumerate(rights):
            if lk is not None and lk == rk and abs(lts - rts) <= within:
                rows.append((lk, lv, rw, max(lts, rts)))
                matched = right_matched[index] = True
        if kind in ("LEFT", "FULL") and not matched:
            rows.append((lk, lv, None, lts))
    if kind in ("RIGHT", "FULL"):
        for (_, rw, rts), matched in zip(rights, right_matched, strict=True):
            if not matched:
                rows.append((None, None, rw, rts))
    return rows


def windowed_reference(rows: list[tuple], size: int) -> Counter:
    """GROUP BY k (the left's), TUMBLE(size) by the join time: (window start, k) ->
    (COUNT(*), SUM(v), COUNT(w))."""
    groups: dict[tuple, list] = defaultdict(lambda: [0, None, 0])
    for k, v, w, time in rows:
        group = groups[((T0 + time) // size * size - T0, k)]  # windows align to the epoch
        group[0] += 1
        if v is not None:
            group[1] = v if group[1] is None else group[1] + v
        group[2] += w is not None
    return Counter({key: 1 for key in ((start, k, *values)
                                        for (start, k), values in groups.items())})


def publish_in_runs(pipeline: frys.Pipeline, events: list[tuple], data,
                    columns: dict[str, str]) -> None:
    """Random cuts: consecutive events of one side go out in one batch, or not; each side's
    value into its column (`columns`)."""
    position = 0
    while position < len(events):
        side = events[position][0]
        run = events[position:position + data.draw(st.integers(1, 5))]
        run = run[:next((i for i, e in enumerate(run) if e[0] != side), len(run))]
        position += len(run)
        pipeline.publish(side, [{"k": k, columns[side]: value, "ts": at(ts)}
                                for _, k, value, ts in run])


@settings(max_examples=120, deadline=None)
@given(data=st.data(), delay=st.integers(0, 8), within=st.integers(0, 12),
       size=st.integers(1, 15), kind=st.sampled_from(["INNER", "LEFT", "RIGHT", "FULL"]))
def test_a_window_over_a_join_gives_the_references_groups_whatever_the_cuts(
        data, delay: int, within: int, size: int, kind: str) -> None:
    events = data.draw(streams_of(delay))
    keyword = {"INNER": "JOIN", "LEFT": "LEFT JOIN", "RIGHT": "RIGHT JOIN",
               "FULL": "FULL OUTER JOIN"}[kind]
    pipeline = frys.Pipeline.from_text(STREAMS.format(delay=delay) + f"""
        SELECT window_start, l.k AS k, COUNT(*) AS n, SUM(l.v) AS sv, COUNT(r.w) AS nw
        FROM l {keyword} r ON l.k = r.k WITHIN {within}ms
        GROUP BY l.k, TUMBLE({size}ms);""")
    publish_in_runs(pipeline, events, data, {"l": "v", "r": "w"})
    pipeline.finish()
    lefts = [(k, v, ts) for side, k, v, ts in events if side == "l"]
    rights = [(k, w, ts) for side, k, w, ts in events if side == "r"]
    expected = windowed_reference(pairs(lefts, rights, within, kind), size)
    got = Counter((offset(start), k, n, sv, nw)
                  for start, k, n, sv, nw in pipeline.results("select_1").iter_rows())
    assert got == expected
    assert pipeline.stats.total_late_events == 0  # the join's time is never late downstream


ORDERS = """
CREATE STREAM orders (id INT, user_id STRING, amount FLOAT, ts TIMESTAMP)
    WITH (event_time = ts);
CREATE STREAM shipments (order_id INT, carrier STRING, ts TIMESTAMP) WITH (event_time = ts);
"""
CARRIERS = ORDERS + """
SELECT s.carrier, window_start, COUNT(*) AS n, SUM(o.amount) AS total
FROM orders o JOIN shipments s ON o.id = s.order_id WITHIN 1 MINUTE
WHERE o.amount > 1.0
GROUP BY s.carrier, TUMBLE(1 MINUTE) HAVING COUNT(*) >= 1;
"""


def test_the_plan_is_the_join_then_the_aggregate_over_an_internal_stream() -> None:
    graph = plan(compile_text(CARRIERS))
    join, aggregate = graph.queries
    assert (join.index, join.stage, aggregate.index, aggregate.stage) == (0, "join", 0, "")
    assert join.inputs == ("orders", "shipments")
    assert join.output_topic == aggregate.inputs[0] == "select_1.join"
    assert isinstance(join.operator, IntervalJoinSpec)
    assert join.operator.left.where is not None  # WHERE is the join stage's (pushed down)
    # only the columns the aggregate reads, named by side, and the join's time
    assert dict(join.operator.outputs).keys() == {"s.carrier", "o.amount", JOIN_TIME}
    assert join.watermark_lag_ms == 0  # an inner join's later time is never behind
    internal = graph.topics["select_1.join"]
    assert internal.event_time == JOIN_TIME
    assert isinstance(aggregate.operator, TumbleSpec)
    assert aggregate.operator.clauses.event_time == JOIN_TIME
    text = graph.explain()
    assert "query 1: topic orders + topic shipments -> topic select_1.join" in text
    assert "query 1: topic select_1.join -> caller (stdout)" in text
    assert re.search(r"tumbling window 1 MINUTE on join_time, group by \"s.carrier\"", text)
    graph.render("mermaid")  # two stages of one query are two nodes


def test_an_outer_joins_time_lags_by_the_interval_and_a_tables_by_nothing() -> None:
    graph = plan(compile_text(ORDERS + """
        CREATE TABLE users (id STRING PRIMARY KEY, tier STRING);
        SELECT COUNT(*) AS n FROM orders o LEFT JOIN shipments s ON o.id = s.order_id
            WITHIN 1 MINUTE GROUP BY TUMBLE(1 HOUR);
        SELECT u.tier, COUNT(*) AS n FROM orders o JOIN users u ON o.user_id = u.id
            GROUP BY u.tier, TUMBLE(1 HOUR);"""))
    left_join, _, table_join, _ = graph.queries
    assert left_join.watermark_lag_ms == 60_000
    assert isinstance(table_join.operator, TableJoinSpec)
    assert table_join.watermark_lag_ms == 0
    assert table_join.untimed_inputs == (1,)  # the table never holds the stream back


def test_a_run_names_the_join_stage_by_its_internal_stream() -> None:
    pipeline = frys.Pipeline.from_text(CARRIERS)
    pipeline.publish("orders", [{"id": 1, "user_id": "u", "amount": 5.0, "ts": at(0)},
                                {"id": 2, "user_id": "u", "amount": 0.5, "ts": at(1_000)},
                                {"id": 3, "user_id": "v", "amount": 2.0, "ts": at(61_000)}])
    pipeline.publish("shipments", [{"order_id": 1, "carrier": "dhl", "ts": at(30_000)},
                                   {"order_id": 2, "carrier": "dhl", "ts": at(30_000)},
                                   {"order_id": 3, "carrier": "ups", "ts": at(50_000)}])
    pipeline.finish()
    rows = sorted((c, offset(start), n, total)
                  for c, start, n, total in pipeline.results("select_1").iter_rows())
    # order 2 fails WHERE; order 3's pair is at 61 s, the later of its two times
    assert rows == [("dhl", 0, 1, 5.0), ("ups", 60_000, 1, 2.0)]
    assert pipeline.stats.events["select_1.join"] == 2  # the join stage's rows, counted


def test_two_keys_of_one_name_from_two_sides_stay_two_keys() -> None:
    pipeline = frys.Pipeline.from_text(STREAMS.format(delay=0) + """
        SELECT l.k AS lk, r.k AS rk, COUNT(*) AS n FROM l JOIN r ON l.v = r.w WITHIN 5ms
        GROUP BY l.k, r.k EMIT CHANGES;""")
    pipeline.publish("l", [{"k": 1, "v": 7, "ts": at(0)}, {"k": 2, "v": 7, "ts": at(0)}])
    pipeline.publish("r", [{"k": 9, "w": 7, "ts": at(1)}])
    pipeline.finish()
    assert sorted(pipeline.results("select_1").rows()) == [(1, 9, 1), (2, 9, 1)]


def test_a_window_over_an_enrichment_join_goes_by_the_streams_time() -> None:
    pipeline = frys.Pipeline.from_text(ORDERS + """
        CREATE TABLE users (id STRING PRIMARY KEY, tier STRING);
        SELECT COALESCE(u.tier, 'none') AS tier, window_start, SUM(o.amount) AS spent
        FROM orders o LEFT JOIN users u ON o.user_id = u.id
        GROUP BY COALESCE(u.tier, 'none'), TUMBLE(1 MINUTE);""")
    pipeline.publish("users", [{"id": "a", "tier": "gold"}, {"id": "b", "tier": "silver"}])
    pipeline.publish("orders", [{"id": 1, "user_id": "a", "amount": 1.0, "ts": at(0)},
                                {"id": 2, "user_id": "b", "amount": 2.0, "ts": at(10_000)},
                                {"id": 3, "user_id": "c", "amount": 4.0, "ts": at(20_000)}])
    # the table's changelog goes on, and never holds the orders' watermark back: the
    # first minute closes as soon as an order passes it
    pipeline.publish("users", [{"id": "a", "tier": "silver"}])
    pipeline.publish("orders", [{"id": 4, "user_id": "a", "amount": 8.0, "ts": at(61_000)}])
    early = sorted((t, offset(s), x) for t, s, x in pipeline.results("select_1").iter_rows())
    assert early == [("gold", 0, 1.0), ("none", 0, 4.0), ("silver", 0, 2.0)]
    pipeline.finish()
    rows = sorted((t, offset(s), x) for t, s, x in pipeline.results("select_1").iter_rows())
    assert rows == [("gold", 0, 1.0), ("none", 0, 4.0), ("silver", 0, 2.0),
                    ("silver", 60_000, 8.0)]


def test_an_aggregate_without_group_by_over_a_join_runs() -> None:
    pipeline = frys.Pipeline.from_text(ORDERS + """
        SELECT COUNT(*) AS pairs, MAX(s.ts) AS last FROM orders o
            FULL OUTER JOIN shipments s ON o.id = s.order_id WITHIN 1 SECOND EMIT CHANGES;""")
    pipeline.publish("orders", [{"id": 1, "user_id": "u", "amount": 1.0, "ts": at(0)},
                                {"id": 2, "user_id": "u", "amount": 1.0, "ts": at(0)}])
    pipeline.publish("shipments", [{"order_id": 1, "carrier": "c", "ts": at(500)},
                                   {"order_id": 5, "carrier": "c", "ts": at(5_000)}])
    pipeline.finish()
    counts = pipeline.results("select_1")["pairs"].to_list()
    assert counts[-1] == 3  # the pair, order 2 unmatched, shipment 5 unmatched
    assert counts == sorted(counts)


def test_an_aggregate_over_a_join_feeds_a_stream_and_a_sink(tmp_path) -> None:
    (tmp_path / "o.jsonl").write_text(
        '{"id": 1, "user_id": "u", "amount": 2.0, "ts": "2026-01-01T00:00:00Z"}\n'
        '{"id": 2, "user_id": "u", "amount": 3.0, "ts": "2026-01-01T00:00:10Z"}\n')
    (tmp_path / "s.jsonl").write_text(
        '{"order_id": 1, "carrier": "dhl", "ts": "2026-01-01T00:00:05Z"}\n'
        '{"order_id": 2, "carrier": "dhl", "ts": "2026-01-01T00:00:15Z"}\n')
    (tmp_path / "job.frysql").write_text("""
        CREATE STREAM orders (id INT, user_id STRING, amount FLOAT, ts TIMESTAMP)
            WITH (event_time = ts, source = 'file:o.jsonl');
        CREATE STREAM shipments (order_id INT, carrier STRING, ts TIMESTAMP)
            WITH (event_time = ts, source = 'file:s.jsonl');
        CREATE STREAM per_carrier (carrier STRING, total FLOAT)
            WITH (sink = 'file:out.jsonl');
        INSERT INTO per_carrier SELECT s.carrier, SUM(o.amount) AS total
            FROM orders o JOIN shipments s ON o.id = s.order_id WITHIN 1 MINUTE
            GROUP BY s.carrier, TUMBLE(1 HOUR);""")
    stats = frys.Pipeline.from_file(tmp_path / "job.frysql").run()
    assert pl.read_ndjson(tmp_path / "out.jsonl").rows() == [("dhl", 5.0)]
    assert stats.events["per_carrier.join"] == 2


def test_the_docs_aggregate_over_a_join_example_runs() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "language.md").read_text()
    section = doc.split("## Interval joins, tables", 1)[1].split("\n## ", 1)[0]
    (example,) = [e for e in re.findall(r"```frysql\n(.*?)```", section, flags=re.S)
                  if "GROUP BY s.carrier" in e]
    pipeline = frys.Pipeline.from_text(example)
    hour = 3_600_000
    pipeline.publish("orders", [{"id": 1, "user_id": "u", "amount": 10.0, "ts": at(0)},
                                {"id": 2, "user_id": "u", "amount": 5.0, "ts": at(60_000)},
                                {"id": 3, "user_id": "v", "amount": 1.0, "ts": at(2 * hour)}])
    pipeline.publish("shipments", [
        {"order_id": 1, "carrier": "dhl", "ts": at(90 * 60_000)},  # 1.5 h later: hour 1
        {"order_id": 3, "carrier": "dhl", "ts": at(3 * hour)},
        {"order_id": 2, "carrier": "ups", "ts": at(30 * hour)}])  # over a day: unshipped
    pipeline.finish()
    shipped = sorted((c, offset(start) // hour, n, value)
                     for c, start, n, value in pipeline.results("select_1").iter_rows())
    assert shipped == [("dhl", 1, 1, 10.0), ("dhl", 3, 1, 1.0)]
    unshipped = [(offset(start) // hour, n)
                 for start, n in pipeline.results("select_2").iter_rows()]
    assert unshipped == [(0, 1)]  # order 2, at its own time


def test_a_joins_output_feeds_another_join_and_a_pattern() -> None:
    """Composition: a stream a join writes (its event time one input's, passed through) is
    a stream like any other: joined again, and matched by a pattern."""
    pipeline = frys.Pipeline.from_text(ORDERS + """
        CREATE STREAM returns (order_id INT, ts TIMESTAMP) WITH (event_time = ts);
        CREATE STREAM shipped (id INT, carrier STRING, ts TIMESTAMP) WITH (event_time = ts);
        INSERT INTO shipped SELECT o.id, s.carrier, s.ts AS ts FROM orders o
            JOIN shipments s ON o.id = s.order_id AND s.ts BETWEEN o.ts AND o.ts + 1 MINUTE;
        -- returned within a minute of shipping
        SELECT h.id, h.carrier FROM shipped h JOIN returns r ON h.id = r.order_id
            AND r.ts BETWEEN h.ts AND h.ts + 1 MINUTE;
        -- two shipments by one carrier in a row
        SELECT a.id AS first_id, b.id AS second_id FROM shipped PARTITION BY carrier
            PATTERN (a b) DEFINE b AS TRUE;""")
    pipeline.publish("orders", [{"id": i, "user_id": "u", "amount": 1.0, "ts": at(i * 1_000)}
                                for i in range(1, 5)])
    pipeline.publish("shipments", [
        {"order_id": 1, "carrier": "dhl", "ts": at(10_000)},
        {"order_id": 2, "carrier": "dhl", "ts": at(20_000)},
        {"order_id": 3, "carrier": "ups", "ts": at(30_000)},
        {"order_id": 4, "carrier": "dhl", "ts": at(200_000)}])  # too late: not shipped
    pipeline.publish("returns", [{"order_id": 2, "ts": at(50_000)},
                                 {"order_id": 3, "ts": at(95_000)}])  # 65 s: too late
    pipeline.finish()
    assert pipeline.results("select_1").rows() == [(2, "dhl")]
    assert pipeline.results("select_2").rows() == [(1, 2)]


# ---------------------------------------------------------------- joins of three inputs

THREE = """
CREATE STREAM a (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, watermark = {delay}ms);
CREATE STREAM b (k INT, w INT, ts TIMESTAMP) WITH (event_time = ts, watermark = {delay}ms);
CREATE STREAM c (k INT, x INT, ts TIMESTAMP) WITH (event_time = ts, watermark = {delay}ms);
"""


def three_way_reference(rows: dict[str, list[tuple]], first: int, second: int,
                        kind: str) -> Counter:
    """Nested loops: a JOIN b ON a.k = b.k WITHIN first, then [LEFT] JOIN c ON b.w = c.k
    WITHIN second of the pair's join time (the later of its two times) -> (v, w, x)."""
    out: Counter = Counter()
    for ak, v, ats in rows["a"]:
        for bk, w, bts in rows["b"]:
            if ak is None or ak != bk or abs(ats - bts) > first:
                continue
            time = max(ats, bts)
            matched = [x for ck, x, cts in rows["c"]
                       if w is not None and w == ck and abs(time - cts) <= second]
            for x in matched:
                out[(v, w, x)] += 1
            if kind == "LEFT" and not matched:
                out[(v, w, None)] += 1
    return out




@settings(max_examples=100, deadline=None)
@given(data=st.data(), delay=st.integers(0, 6), first=st.integers(0, 10),
       second=st.integers(0, 10), kind=st.sampled_from(["INNER", "LEFT"]))
def test_a_join_of_three_streams_gives_the_references_rows_whatever_the_cuts(
        data, delay: int, first: int, second: int, kind: str) -> None:
    events = data.draw(streams_of(delay, "abc", count=45, values=3))
    keyword = "JOIN" if kind == "INNER" else "LEFT JOIN"
    pipeline = frys.Pipeline.from_text(THREE.format(delay=delay) + f"""
        SELECT a.v, b.w, c.x FROM a JOIN b ON a.k = b.k WITHIN {first}ms
            {keyword} c ON b.w = c.k WITHIN {second}ms;""")
    publish_in_runs(pipeline, events, data, {"a": "v", "b": "w", "c": "x"})
    pipeline.finish()
    rows = {s: [(k, value, ts) for side, k, value, ts in events if side == s] for s in "abc"}
    assert Counter(pipeline.results("select_1").rows()) == three_way_reference(
        rows, first, second, kind)
    assert pipeline.stats.total_late_events == 0


def test_a_chain_of_joins_is_planned_as_stages_innermost_first() -> None:
    graph = plan(compile_text(THREE.format(delay=0) + """
        CREATE TABLE names (id INT PRIMARY KEY, name STRING);
        SELECT n.name, COUNT(*) AS n FROM a JOIN b ON a.k = b.k WITHIN 1s
            JOIN c ON c.k = b.w WITHIN 2s LEFT JOIN names n ON a.v = n.id
            GROUP BY n.name, TUMBLE(1 MINUTE);"""))
    assert [(q.index, q.stage, q.inputs, q.output_topic) for q in graph.queries] == [
        (0, "join1", ("a", "b"), "select_1.join1"),
        (0, "join2", ("select_1.join1", "c"), "select_1.join2"),
        (0, "join3", ("select_1.join2", "names"), "select_1.join3"),
        (0, "", ("select_1.join3",), "select_1")]
    # each stage carries only what the stages after it read, and its join time
    assert list(graph.topics["select_1.join1"].columns or {}) == [
        "b.w", "a.v", JOIN_TIME]
    assert list(graph.topics["select_1.join2"].columns or {}) == ["a.v", JOIN_TIME]
    second = graph.queries[1].operator
    assert isinstance(second, IntervalJoinSpec) and second.left.event_time == JOIN_TIME
    assert isinstance(graph.queries[2].operator, TableJoinSpec)


@pytest.mark.parametrize(("query", "message"), [
    # ON reads the inputs before it and the one it joins, as in SQL
    ("SELECT a.v FROM a JOIN b ON a.k = c.k WITHIN 1s JOIN c ON c.k = b.k WITHIN 1s",
     "unknown"),
    ("SELECT a.v FROM a JOIN b ON a.k = b.k WITHIN 1s JOIN c ON c.k = b.k",
     "a join after the first needs WITHIN"),
])
def test_a_chain_of_joins_is_checked(query: str, message: str) -> None:
    with pytest.raises(frys.FrysError, match=message):
        compile_text(THREE.format(delay=0) + query)


def test_the_join_stage_names_of_a_stream_two_queries_write() -> None:
    graph = plan(compile_text(THREE.format(delay=0) + """
        CREATE STREAM out (n INT);
        INSERT INTO out SELECT COUNT(*) AS n FROM a JOIN b ON a.k = b.k WITHIN 1s
            EMIT CHANGES;
        INSERT INTO out SELECT COUNT(*) AS n FROM a JOIN c ON a.k = c.k WITHIN 1s
            EMIT CHANGES;"""))
    assert [q.output_topic for q in graph.queries] == [
        "out.q1.join", "out", "out.q2.join", "out"]


def test_the_docs_chain_of_joins_example_runs() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "language.md").read_text()
    section = doc.split("## Interval joins, tables", 1)[1].split("\n## ", 1)[0]
    (example,) = [e for e in re.findall(r"```frysql\n(.*?)```", section, flags=re.S)
                  if "JOIN returns" in e]
    pipeline = frys.Pipeline.from_text(example)
    day = 86_400_000
    pipeline.publish("users", [{"id": "a", "tier": "gold"}])
    pipeline.publish("orders", [{"id": 1, "user_id": "a", "amount": 1.0, "ts": at(0)},
                                {"id": 2, "user_id": "b", "amount": 1.0, "ts": at(0)},
                                {"id": 3, "user_id": "a", "amount": 1.0, "ts": at(0)}])
    pipeline.publish("shipments", [{"order_id": 1, "carrier": "dhl", "ts": at(day // 2)},
                                   {"order_id": 2, "carrier": "ups", "ts": at(day)},
                                   {"order_id": 3, "carrier": "dhl", "ts": at(2 * day)}])
    pipeline.publish("returns", [
        {"order_id": 1, "reason": "size", "ts": at(3 * day)},
        {"order_id": 2, "reason": "broken", "ts": at(day + 6 * day)},  # 6 days after
        {"order_id": 3, "reason": "late", "ts": at(4 * day)}])  # never shipped in a day
    pipeline.finish()
    assert sorted(pipeline.results("select_1").rows(), key=repr) == [
        (1, "dhl", "size", "gold"), (2, "ups", "broken", None)]


# ---------------------------------------------------------------- window joins in stages

PEOPLE = """
CREATE STREAM persons (id INT, name STRING, ts TIMESTAMP) WITH (event_time = ts);
CREATE STREAM auctions (seller INT, item STRING, price FLOAT, ts TIMESTAMP)
    WITH (event_time = ts);
CREATE TABLE names (id INT PRIMARY KEY, country STRING);
"""


def test_an_aggregate_over_a_window_join_keeps_its_windows_and_sees_no_row_late() -> None:
    text = PEOPLE + """
        SELECT window_start, COUNT(*) AS pairs, SUM(a.price) AS value
        FROM persons p JOIN auctions a ON p.id = a.seller WITHIN TUMBLE(10 SECONDS)
        GROUP BY window_start EMIT CHANGES;"""
    graph = plan(compile_text(text))
    join, _ = graph.queries
    assert join.watermark_lag_ms == 10_000  # rows come out when their window fires
    # the window join's bounds travel through the internal stream
    assert "window_start" in (graph.topics["select_1.join"].columns or {})
    pipeline = frys.Pipeline.from_text(text)
    pipeline.publish("persons", [{"id": 1, "name": "a", "ts": at(1_000)},
                                 {"id": 2, "name": "b", "ts": at(12_000)}])
    pipeline.publish("auctions", [
        {"seller": 1, "item": "x", "price": 2.0, "ts": at(9_000)},
        {"seller": 1, "item": "y", "price": 3.0, "ts": at(11_000)},  # the next window
        {"seller": 2, "item": "z", "price": 5.0, "ts": at(19_999)}])
    pipeline.finish()
    last = {}
    for start, pairs, value in pipeline.results("select_1").iter_rows():
        last[offset(start)] = (pairs, value)
    assert last == {0: (1, 2.0), 10_000: (1, 5.0)}
    assert pipeline.stats.total_late_events == 0


def test_a_window_join_then_a_table_is_a_chain() -> None:
    pipeline = frys.Pipeline.from_text(PEOPLE + """
        SELECT p.name, n.country, window_end FROM persons p
            JOIN auctions a ON p.id = a.seller WITHIN TUMBLE(10 SECONDS)
            LEFT JOIN names n ON p.id = n.id;""")
    pipeline.publish("names", [{"id": 1, "country": "SE"}])
    pipeline.publish("persons", [{"id": 1, "name": "a", "ts": at(1_000)},
                                 {"id": 2, "name": "b", "ts": at(2_000)}])
    pipeline.publish("auctions", [{"seller": 1, "item": "x", "price": 1.0, "ts": at(3_000)},
                                  {"seller": 2, "item": "y", "price": 1.0, "ts": at(4_000)}])
    pipeline.finish()
    assert sorted(((n, c, offset(e)) for n, c, e in
                   pipeline.results("select_1").iter_rows()), key=repr) == [
        ("a", "SE", 10_000), ("b", None, 10_000)]


def test_two_window_joins_in_one_query_are_not_supported_yet() -> None:
    with pytest.raises(frys.FrysError, match="more than one window join in a query"):
        compile_text(PEOPLE + """
            CREATE STREAM bids (auction INT, ts TIMESTAMP) WITH (event_time = ts);
            SELECT p.id FROM persons p JOIN auctions a ON p.id = a.seller
                WITHIN TUMBLE(10 SECONDS) JOIN bids b ON b.auction = a.seller
                WITHIN TUMBLE(10 SECONDS);""")
