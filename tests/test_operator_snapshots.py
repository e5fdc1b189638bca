"""The operator contract's snapshot()/restore(): an operator built from the same plan node
and restored from a snapshot taken between two calls continues exactly as the original
would: the same rows, late events and counters after the cut, for every window kind and
for stateless queries. Driven through the contract alone (engine/operator.py), as the
runtime and the checkpoints drive it."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from window_scenarios import out_of_order_events

from frys.dsl import compile_text
from frys.dsl.types import TIMESTAMP_DTYPE
from frys.engine.operator import BatchSource, Emitted, OperatorSettings, OperatorState
from frys.engine.planner import plan
from frys.engine.time import END_OF_TIME
from frys.operators.registry import build_operator

STREAM = ("CREATE STREAM ev (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, "
          "watermark = 5ms, lateness = 3ms, late = late_ev);\nCREATE STREAM late_ev;\n")
QUERIES = {
    "filter": "SELECT k, v * 2 AS w FROM ev WHERE v > 0;",
    "running": "SELECT k, COUNT(*) AS n, SUM(v) AS s FROM ev GROUP BY k EMIT CHANGES;",
    "tumble": "SELECT k, window_start, COUNT(*) AS n, SUM(v) AS s, FIRST(v) AS f FROM ev "
              "GROUP BY k, TUMBLE(10ms);",
    "hop_every": "SELECT k, window_start, COUNT(*) AS n FROM ev GROUP BY k, HOP(20ms, 5ms) "
                 "EMIT EVERY 7ms;",
    "session": "SELECT k, window_start, window_end, COUNT(*) AS n, SUM(v) AS s FROM ev "
               "GROUP BY k, SESSION(6ms);",
    "rows": "SELECT k, window_start, COUNT(*) AS n, ARRAY_AGG(v) AS vs FROM ev "
            "GROUP BY k, ROWS(3, 2);",
    "pattern": "SELECT a.v AS a_v, COUNT(b.v) AS n, LAST(b.v) AS lb, c.v AS c_v FROM ev "
               "PARTITION BY k PATTERN (a -> b+ -> c) WITHIN 30ms "
               "DEFINE a AS a.v < 0, b AS b.v > a.v, c AS c.v = 0 "
               "AFTER MATCH SKIP TO NEXT EVENT;",
    "pattern_not": "SELECT a.v AS a_v, MATCH_IDS FROM ev PATTERN (a b+? -> NOT c) "
                   "WITHIN 20ms DEFINE a AS a.v > 5, b AS b.v > 0, c AS c.v < -5;",
}


SMALL = OperatorSettings(max_partial_matches=6)  # so that shedding is part of the state


def spec_of(query: str):
    graph = plan(compile_text(STREAM + QUERIES[query]))
    (node,) = graph.queries
    return node.operator


def frame(events) -> pl.DataFrame:
    return pl.DataFrame({"k": [e[0] for e in events], "v": [int(e[1]) for e in events],
                         "ts": [e[2] for e in events]},
                        schema={"k": pl.Int64, "v": pl.Int64, "ts": pl.Int64}
                        ).with_columns(pl.col("ts").cast(TIMESTAMP_DTYPE))


def drive(operator, batches, delay: int = 5) -> list[Emitted]:
    """Each batch, then the watermark it gives (its max time - delay), then the end."""
    out, latest = [], None
    for events in batches:
        out.append(operator.process(frame(events), BatchSource("ev")))
        newest = max(ts for _, _, ts in events)
        latest = newest if latest is None else max(latest, newest)
        out.append(operator.advance(latest - delay))
    return out


def rows_of(emitted: list[Emitted]) -> tuple[list, list]:
    rows = [tuple(map(str, r)) for e in emitted for b in e.rows for r in b.iter_rows()]
    late = [tuple(map(str, r)) for e in emitted for b in e.late for r in b.iter_rows()]
    return rows, late


@settings(max_examples=150, deadline=None)
@given(query=st.sampled_from(sorted(QUERIES)), data=st.data())
def test_a_restored_operator_continues_as_the_original(query: str, data) -> None:
    events = out_of_order_events(data.draw, count_max=40, step_max=6, behind_max=25,
                                 values=st.integers(-9, 9))
    cuts = sorted(data.draw(st.lists(st.integers(1, len(events)), max_size=4, unique=True)))
    batches, start = [], 0
    for cut in [*cuts, len(events)]:
        if cut > start:
            batches.append(events[start:cut])
            start = cut
    at = data.draw(st.integers(0, len(batches)))
    spec = spec_of(query)
    original = build_operator(spec, SMALL)
    drive(original, batches[:at])
    state = original.snapshot()
    restored = build_operator(spec, SMALL)
    restored.restore(state)
    assert restored.state_size() == original.state_size()
    expected = drive(original, batches[at:]) + [original.advance(END_OF_TIME)]
    actual = drive(restored, batches[at:]) + [restored.advance(END_OF_TIME)]
    assert rows_of(actual) == rows_of(expected)
    assert restored.counters() == original.counters()
    assert [len(e.overflow) for e in actual] == [len(e.overflow) for e in expected]


def test_a_snapshot_is_columnar_and_does_not_change_the_operator() -> None:
    operator = build_operator(spec_of("rows"), OperatorSettings())
    drive(operator, [[(1, 1, 10), (1, 2, 11), (2, 3, 12), (1, 4, 30)]])
    state = operator.snapshot()
    assert state.kind == "count window" and state.version == 1
    assert set(state.tables) <= {"state", "buffer", "next"}
    assert all(isinstance(t, pl.DataFrame) for t in state.tables.values())
    assert state.scalars["watermark"] == 25
    again = operator.snapshot()  # taking one changed nothing
    assert again.scalars == state.scalars and set(again.tables) == set(state.tables)
    assert all(again.tables[name].equals(table) for name, table in state.tables.items())
    assert state.size() > 0 and operator.state_size() > 0


def test_restore_refuses_another_kind_or_version() -> None:
    tumble = build_operator(spec_of("tumble"), OperatorSettings())
    with pytest.raises(ValueError, match="cannot restore a count window state"):
        tumble.restore(OperatorState("count window", 1))
    with pytest.raises(ValueError, match="of layout version 99"):
        tumble.restore(OperatorState("window", 99))


JOIN_STREAMS = (STREAM + "CREATE STREAM ev2 (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, "
                "late = late_ev2);\nCREATE STREAM late_ev2;\n")
JOINS = {
    "inner": "SELECT a.k, a.v, b.v AS bv FROM ev a JOIN ev2 b ON a.k = b.k WITHIN 6ms;",
    "left": "SELECT a.k, a.v, b.v AS bv, a.ts FROM ev a LEFT JOIN ev2 b ON a.k = b.k "
            "AND b.v > a.v WITHIN 4ms;",
}


def drive_join(operator, batches, newest: dict[str, int], delay: int = 5,
               frame_of: Callable[[str, list], pl.DataFrame] = lambda _, events: frame(events)
               ) -> list[Emitted]:
    """Each (stream, events) batch (made by `frame_of`), then the inputs' combined
    watermark once both have one (the minimum of each stream's max time - delay)."""
    out = []
    for stream, events in batches:
        out.append(operator.process(frame_of(stream, events), BatchSource(stream)))
        newest[stream] = max(newest.get(stream, 0), *(ts for _, _, ts in events))
        if len(newest) == 2:
            out.append(operator.advance(min(newest.values()) - delay))
    return out


def two_input_batches(data, inputs: tuple[str, str], values: st.SearchStrategy[int]
                      ) -> tuple[list[tuple[str, list]], int]:
    """Out-of-order events cut into batches, each of a random one of the two `inputs`, and
    a random cut point among the batches."""
    events = out_of_order_events(data.draw, count_max=40, step_max=6, behind_max=12,
                                 values=values)
    batches, start = [], 0
    for cut in sorted(data.draw(st.lists(st.integers(1, len(events)), max_size=8,
                                         unique=True))) + [len(events)]:
        if cut > start:
            batches.append((data.draw(st.sampled_from(list(inputs))), events[start:cut]))
            start = cut
    return batches, data.draw(st.integers(0, len(batches)))


def assert_restored_join_continues(spec, batches, at: int, kind: str, tables: set[str],
                                   drive: Callable[..., list[Emitted]] = drive_join) -> None:
    """Driven to the cut, snapshot, restored into a fresh operator: the same state size,
    and from the cut on the same rows and counters as the original."""
    original = build_operator(spec, OperatorSettings())
    newest: dict[str, int] = {}
    drive(original, batches[:at], newest)
    state = original.snapshot()
    assert state.kind == kind and set(state.tables) == tables
    restored = build_operator(spec, OperatorSettings())
    restored.restore(state)
    assert restored.state_size() == original.state_size()
    expected = drive(original, batches[at:], dict(newest)) + [original.advance(END_OF_TIME)]
    actual = drive(restored, batches[at:], dict(newest)) + [restored.advance(END_OF_TIME)]
    assert rows_of(actual) == rows_of(expected)
    assert restored.counters() == original.counters()


@settings(max_examples=100, deadline=None)
@given(query=st.sampled_from(sorted(JOINS)), data=st.data())
def test_a_restored_interval_join_continues_as_the_original(query: str, data) -> None:
    batches, at = two_input_batches(data, ("ev", "ev2"), st.integers(-9, 9))
    (node,) = plan(compile_text(JOIN_STREAMS + JOINS[query])).queries
    assert_restored_join_continues(node.operator, batches, at, "interval_join",
                                   {"left", "right"})


WINDOW_JOINS = {
    "tumble": "SELECT a.k, a.v, b.v AS bv, window_start FROM ev a JOIN ev2 b ON a.k = b.k "
              "WITHIN TUMBLE(6ms);",
    "hop_full": "SELECT a.k, a.v, b.v AS bv, window_end FROM ev a FULL JOIN ev2 b ON a.k = b.k "
                "AND b.v > a.v WITHIN HOP(8ms, 3ms);",
}


@settings(max_examples=100, deadline=None)
@given(query=st.sampled_from(sorted(WINDOW_JOINS)), data=st.data())
def test_a_restored_window_join_continues_as_the_original(query: str, data) -> None:
    batches, at = two_input_batches(data, ("ev", "ev2"), st.integers(-9, 9))
    (node,) = plan(compile_text(JOIN_STREAMS + WINDOW_JOINS[query])).queries
    assert_restored_join_continues(node.operator, batches, at, "window_join",
                                   {"left", "right"})


TABLES = (STREAM + "CREATE TABLE cur (k INT PRIMARY KEY, v INT);\n"
          "CREATE TABLE ver (k INT PRIMARY KEY, v INT, ts TIMESTAMP) WITH (event_time = ts);\n")
TABLE_JOINS = {
    "current": ("cur", "SELECT e.k, e.v, t.v AS tv FROM ev e LEFT JOIN cur t ON e.k = t.k;"),
    "versioned": ("ver", "SELECT e.k, e.v, t.v AS tv, e.ts FROM ev e LEFT JOIN ver t "
                         "ON e.k = t.k;"),
    "versioned_inner": ("ver", "SELECT e.k, t.v AS tv FROM ev e JOIN ver t ON e.k = t.k;"),
}


def table_frame(events, versioned: bool) -> pl.DataFrame:
    """A changelog batch: value 0 is a tombstone (v NULL: a delete of its key)."""
    rows = frame(events).with_columns(
        pl.when(pl.col("v") != 0).then(pl.col("v")).alias("v"))
    return rows if versioned else rows.drop("ts")


def drive_table_join(operator, table: str, batches, newest: dict[str, int],
                     delay: int = 5) -> list[Emitted]:
    """drive_join, the table's batches as changelogs."""
    return drive_join(operator, batches, newest, delay, lambda stream, events: (
        table_frame(events, table == "ver") if stream == table else frame(events)))


@settings(max_examples=100, deadline=None)
@given(query=st.sampled_from(sorted(TABLE_JOINS)), data=st.data())
def test_a_restored_table_join_continues_as_the_original(query: str, data) -> None:
    table, text = TABLE_JOINS[query]
    batches, at = two_input_batches(data, ("ev", table), st.integers(-3, 3))
    (node,) = plan(compile_text(TABLES + text)).queries
    assert node.inputs == ("ev", table)
    assert_restored_join_continues(
        node.operator, batches, at, "table_join",
        {"base", "recent", "held"} | ({"pending"} if table == "ver" else set()),
        lambda operator, part, newest: drive_table_join(operator, table, part, newest))
