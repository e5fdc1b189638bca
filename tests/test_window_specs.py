"""One plan node type per window kind (engine/graph.py), each run by its own operator
(operators/registry.py): the planner picks the type from the GROUP BY window, each type has
only the fields of its kind (the clauses they share in an AggregateClauses), every plan node
type of OperatorSpec has an operator, and `explain` describes each kind as before."""

from __future__ import annotations

import dataclasses
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frys.dsl import compile_text
from frys.engine.graph import (
    AggregateClauses,
    AggregateSpec,
    CountWindowSpec,
    FilterProjectSpec,
    HopSpec,
    IntervalJoinSpec,
    OperatorSpec,
    PatternMatchSpec,
    RunningAggregateSpec,
    SessionSpec,
    TableJoinSpec,
    TableScanSpec,
    TumbleSpec,
    WindowJoinSpec,
)
from frys.engine.operator import OperatorSettings
from frys.engine.planner import plan
from frys.operators.count_window import CountWindowAggregate
from frys.operators.registry import OPERATORS, build_operator
from frys.operators.session_window import SessionWindowAggregate
from frys.operators.window_aggregate import WindowAggregate

STREAM = ("CREATE STREAM ev (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, "
          "watermark = 5ms, lateness = 3ms, late = late_ev);\nCREATE STREAM late_ev;\n")
LATE = {"late_stream": "late_ev"}


def spec_of(query: str, stream: str = STREAM):
    (node,) = plan(compile_text(stream + query)).queries
    return node.operator


# GROUP BY tail -> the plan node type, its fields besides `clauses`, the operator that runs
# it and the kind its snapshots carry (stable: checkpoints will depend on it)
WINDOWS = [
    ("GROUP BY k EMIT CHANGES", RunningAggregateSpec, {}, WindowAggregate, "window"),
    ("GROUP BY k, TUMBLE(10ms)", TumbleSpec, {"size_ms": 10, "lateness_ms": 3, **LATE},
     WindowAggregate, "window"),
    ("GROUP BY k, HOP(20ms, 5ms)", HopSpec,
     {"size_ms": 20, "slide_ms": 5, "lateness_ms": 3, **LATE}, WindowAggregate, "window"),
    # a HOP whose slide is its size is a TUMBLE
    ("GROUP BY k, HOP(20ms, 20ms)", TumbleSpec, {"size_ms": 20, "lateness_ms": 3, **LATE},
     WindowAggregate, "window"),
    ("GROUP BY k, SESSION(6ms)", SessionSpec, {"gap_ms": 6, "lateness_ms": 3, **LATE},
     SessionWindowAggregate, "session window"),
    ("GROUP BY k, ROWS(3)", CountWindowSpec, {"rows": 3, "rows_slide": 3, **LATE},
     CountWindowAggregate, "count window"),
    ("GROUP BY k, ROWS(3, 2)", CountWindowSpec, {"rows": 3, "rows_slide": 2, **LATE},
     CountWindowAggregate, "count window"),
]


@pytest.mark.parametrize(("group_by", "spec_type", "fields", "operator_type", "state_kind"),
                         WINDOWS, ids=[w[0] for w in WINDOWS])
def test_each_window_plans_to_its_own_spec_type_with_only_its_fields(
        group_by, spec_type, fields, operator_type, state_kind) -> None:
    spec = spec_of(f"SELECT k, COUNT(*) AS n, SUM(v) AS s FROM ev WHERE v > 0 {group_by};")
    assert type(spec) is spec_type
    # no sentinel fields: exactly the clauses and this kind's own fields
    assert {f.name for f in dataclasses.fields(spec)} == {"clauses", *fields}
    assert {name: getattr(spec, name) for name in fields} == fields
    clauses = spec.clauses
    assert isinstance(clauses, AggregateClauses)
    assert clauses.event_time == "ts"
    assert [name for name, _ in clauses.group_keys] == ["k"]
    assert [a.function for a in clauses.aggregates] == ["COUNT", "SUM"]
    assert clauses.where is not None and clauses.having is None
    assert [name for name, _ in clauses.outputs] == ["k", "n", "s"]
    assert spec.timeouts_stream is None
    assert spec.late_targets(("ev",)) == ({} if spec_type is RunningAggregateSpec
                                          else {"ev": "late_ev"})
    operator = build_operator(spec, OperatorSettings())
    assert type(operator) is operator_type
    assert operator.snapshot().kind == state_kind


@pytest.mark.parametrize(("emit", "changes", "every"), [
    ("", False, None), ("EMIT CHANGES", True, None), ("EMIT EVERY 7ms", False, 7),
])
@pytest.mark.parametrize("window", ["TUMBLE(10ms)", "HOP(20ms, 5ms)", "SESSION(6ms)",
                                    "ROWS(3, 2)"])
def test_the_emit_mode_is_in_the_shared_clauses(window, emit, changes, every) -> None:
    clauses = spec_of(f"SELECT k, COUNT(*) AS n FROM ev GROUP BY k, {window} {emit};").clauses
    assert (clauses.emit_changes, clauses.emit_every_ms) == (changes, every)


def test_without_a_late_stream_no_late_targets_and_count_windows_have_no_lateness() -> None:
    stream = "CREATE STREAM ev (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts);\n"
    for window in ("TUMBLE(10ms)", "HOP(20ms, 5ms)", "SESSION(6ms)", "ROWS(3)"):
        spec = spec_of(f"SELECT k, COUNT(*) AS n FROM ev GROUP BY k, {window};", stream)
        assert spec.late_stream is None and spec.late_targets(("ev",)) == {}
        assert getattr(spec, "lateness_ms", 0) == 0
    assert not hasattr(spec_of("SELECT k, COUNT(*) AS n FROM ev GROUP BY k, ROWS(3);"),
                       "lateness_ms")


def test_a_running_aggregate_over_a_stream_without_event_time() -> None:
    spec = spec_of("SELECT k, COUNT(*) AS n FROM ev GROUP BY k EMIT CHANGES;",
                   "CREATE STREAM ev (k INT, ts TIMESTAMP);\n")
    assert type(spec) is RunningAggregateSpec and spec.clauses.event_time is None


def test_a_running_aggregate_spec_refuses_to_emit_other_than_changes() -> None:
    clauses = spec_of("SELECT k, COUNT(*) AS n FROM ev GROUP BY k EMIT CHANGES;").clauses
    for emit in ({"emit_changes": False}, {"emit_every_ms": 5}):
        with pytest.raises(ValueError, match="running aggregate"):
            RunningAggregateSpec(dataclasses.replace(clauses, **emit))


# one query per plan node type: a new type of OperatorSpec needs a row here (and an
# operator in the registry) or the next test fails
QUERY_OF_TYPE = {
    FilterProjectSpec: "SELECT k, v FROM ev WHERE v > 0;",
    PatternMatchSpec: "SELECT a.v AS av FROM ev PATTERN (a b) DEFINE a AS a.v > 0;",
    IntervalJoinSpec: "CREATE STREAM other (k INT, w INT, ts TIMESTAMP) WITH (event_time = ts);"
                      " SELECT e.v, o.w FROM ev e JOIN other o ON e.k = o.k WITHIN 5ms;",
    WindowJoinSpec: "CREATE STREAM other (k INT, w INT, ts TIMESTAMP) WITH (event_time = ts);"
                    " SELECT e.v, o.w FROM ev e JOIN other o ON e.k = o.k WITHIN TUMBLE(5ms);",
    TableJoinSpec: "CREATE TABLE t (k INT PRIMARY KEY, w INT);"
                   " SELECT e.v, t.w FROM ev e LEFT JOIN t ON e.k = t.k;",
    TableScanSpec: "CREATE TABLE t (k INT PRIMARY KEY, w INT); SELECT k, w FROM t WHERE w > 0;",
    **{spec_type: f"SELECT k, COUNT(*) AS n FROM ev {group_by};"
       for group_by, spec_type, *_ in reversed(WINDOWS)},
}


def test_the_registry_builds_an_operator_for_every_plan_node_type() -> None:
    spec_types = set(get_args(OperatorSpec))
    assert set(get_args(AggregateSpec)) <= spec_types
    assert set(OPERATORS) == spec_types
    assert set(QUERY_OF_TYPE) == spec_types
    for spec_type, query in QUERY_OF_TYPE.items():
        spec = spec_of(query)
        assert type(spec) is spec_type
        operator = build_operator(spec, OperatorSettings())
        for method in ("process", "advance", "counters", "snapshot", "restore",
                       "state_size", "wants_arrivals"):
            assert callable(getattr(operator, method)), (spec_type, method)
        restored = build_operator(spec, OperatorSettings())
        restored.restore(operator.snapshot())
        assert restored.counters() == operator.counters()


# `frys explain`'s line of each window kind, byte for byte as before the plan nodes split
EXPLAINED = [
    ("SELECT k, COUNT(*) AS n FROM ev WHERE v > 1 GROUP BY k HAVING COUNT(*) > 2 EMIT CHANGES;",
     ["filter v > 1",
      "running aggregate (no window), group by k, aggregates COUNT(*), emits each group's new "
      "row whenever a batch changes it",
      "having COUNT(*) > 2", "project k, COUNT(*) AS n"]),
    ("SELECT COUNT(*) AS n FROM ev EMIT CHANGES;",
     ["running aggregate (no window), group by (no keys), aggregates COUNT(*), emits each "
      "group's new row whenever a batch changes it", "project COUNT(*) AS n"]),
    ("SELECT k, window_end, COUNT(*) AS n FROM ev WHERE v > 0 GROUP BY k, TUMBLE(10ms) "
     "HAVING SUM(v) > 3;",
     ["filter v > 0",
      "tumbling window 10 MILLISECONDS on ts, group by k, aggregates SUM(v), COUNT(*), fires "
      "when the watermark passes the window end + 3 MILLISECONDS of lateness; late events "
      "-> topic late_ev",
      "having SUM(v) > 3", "project k, window_end, COUNT(*) AS n"]),
    ("SELECT k, COUNT(*) AS n FROM ev GROUP BY k, TUMBLE(10ms) EMIT CHANGES;",
     ["tumbling window 10 MILLISECONDS on ts, group by k, aggregates COUNT(*), emits each "
      "group's new row whenever a batch changes it; late events -> topic late_ev",
      "project k, COUNT(*) AS n"]),
    ("SELECT k, COUNT(*) AS n FROM ev GROUP BY k, HOP(20ms, 20ms);",
     ["tumbling window 20 MILLISECONDS on ts, group by k, aggregates COUNT(*), fires when "
      "the watermark passes the window end + 3 MILLISECONDS of lateness; late events -> "
      "topic late_ev", "project k, COUNT(*) AS n"]),
    ("SELECT k, COUNT(*) AS n FROM ev GROUP BY k, HOP(20ms, 5ms) EMIT EVERY 7ms;",
     ["hopping window 20 MILLISECONDS every 5 MILLISECONDS on ts, group by k, aggregates "
      "COUNT(*), emits open windows every 7 MILLISECONDS of event time, then fires when the "
      "watermark passes the window end; late events -> topic late_ev",
      "project k, COUNT(*) AS n"]),
    ("SELECT k, window_end, COUNT(*) AS n FROM ev GROUP BY k, SESSION(6ms);",
     ["session window, gap 6 MILLISECONDS on ts, group by k, aggregates COUNT(*), fires when "
      "the watermark passes the window end + 3 MILLISECONDS of lateness; late events -> "
      "topic late_ev", "project k, window_end, COUNT(*) AS n"]),
    ("SELECT k, COUNT(*) AS n, ARRAY_AGG(v) AS vs FROM ev GROUP BY k, ROWS(3, 2);",
     ["count window of 3 events every 2, group by k, aggregates COUNT(*), ARRAY_AGG(v), "
      "fires at 3 events; late events -> topic late_ev",
      "project k, COUNT(*) AS n, ARRAY_AGG(v) AS vs"]),
    ("SELECT k, COUNT(*) AS n FROM ev GROUP BY k, ROWS(3) EMIT CHANGES;",
     ["count window of 3 events, group by k, aggregates COUNT(*), emits each window's new row "
      "as events are released to it; late events -> topic late_ev",
      "project k, COUNT(*) AS n"]),
    ("SELECT k, COUNT(*) AS n FROM ev GROUP BY k, ROWS(3, 1) EMIT EVERY 5ms;",
     ["count window of 3 events every 1, group by k, aggregates COUNT(*), fires at 3 events, "
      "short windows emit early every 5 MILLISECONDS of event time; late events -> topic "
      "late_ev", "project k, COUNT(*) AS n"]),
]


@pytest.mark.parametrize(("query", "lines"), EXPLAINED, ids=[q for q, _ in EXPLAINED])
def test_explain_describes_each_window_kind(query, lines) -> None:
    assert spec_of(query).describe() == lines
    explained = plan(compile_text(STREAM + query)).explain()
    assert explained.endswith("\n".join(f"    -> {line}" for line in lines))


@pytest.mark.parametrize(("window", "time_column", "lag"), [
    ("TUMBLE(10ms)", "window_end", 3), ("TUMBLE(10ms)", "window_start", 13),
    ("HOP(20ms, 5ms)", "window_end", 3), ("HOP(20ms, 5ms)", "window_start", 23),
    ("SESSION(6ms)", "window_end", None), ("ROWS(3)", "window_end", None),
])
def test_only_time_windows_promise_their_output_a_watermark(window, time_column, lag) -> None:
    job = (f"CREATE STREAM out (k INT, n INT, {time_column} TIMESTAMP) "
           f"WITH (event_time = {time_column});\n"
           f"INSERT INTO out SELECT k, COUNT(*) AS n, {time_column} FROM ev "
           f"GROUP BY k, {window};")
    (node,) = plan(compile_text(STREAM + job)).queries
    assert node.watermark_lag_ms == lag


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 10_000), slide_part=st.integers(1, 10_000),
       gap=st.integers(1, 10_000), rows=st.integers(1, 50), rows_part=st.integers(1, 50))
def test_window_arguments_land_in_their_kinds_fields(size, slide_part, gap, rows,
                                                     rows_part) -> None:
    # 0 < slide <= size, at most 1,000 windows per event (the analyzer's limit)
    slide = max(-(-size // 1_000), size * slide_part // 10_000)
    rows_slide = max(1, rows * rows_part // 50)
    query = "SELECT k, COUNT(*) AS n FROM ev GROUP BY k, {};"
    hop = spec_of(query.format(f"HOP({size}ms, {slide}ms)"))
    if slide == size:
        assert type(hop) is TumbleSpec and hop.size_ms == size
    else:
        assert type(hop) is HopSpec and (hop.size_ms, hop.slide_ms) == (size, slide)
    tumble = spec_of(query.format(f"TUMBLE({size}ms)"))
    assert type(tumble) is TumbleSpec and tumble.size_ms == size
    session = spec_of(query.format(f"SESSION({gap}ms)"))
    assert type(session) is SessionSpec and session.gap_ms == gap
    count = spec_of(query.format(f"ROWS({rows}, {rows_slide})"))
    assert type(count) is CountWindowSpec and (count.rows, count.rows_slide) == (rows,
                                                                                  rows_slide)
