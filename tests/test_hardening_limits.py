"""Hardening (issue 12, bounded memory): what `frys check` accepts runs in bounded memory.
A HOP with more windows per event than a limit, a quantifier bound above a limit and an
interval longer than the TIMESTAMP range are refused with the reason and the position
(dsl/limits.py); before, they passed the check and then took gigabytes or overflowed."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frys import Pipeline
from frys.cli import main
from frys.dsl import FrysError, Limits, compile_text
from frys.dsl.limits import DEFAULT_LIMITS
from frys.engine.runtime import RuntimeOptions
from frys.operators import window_aggregate

STREAM = "CREATE STREAM ev (k STRING, v FLOAT, ts TIMESTAMP) WITH (event_time = ts);\n"


def refusal(query: str, limits: Limits = DEFAULT_LIMITS) -> tuple[str, int, int]:
    with pytest.raises(FrysError) as caught:
        compile_text(STREAM + query, "job.frysql", limits=limits)
    (diagnostic,) = caught.value.diagnostics
    return diagnostic.message, diagnostic.span.line, diagnostic.span.column


@pytest.mark.parametrize(("query", "fragment", "column"), [
    ("SELECT k, COUNT(*) AS n FROM ev GROUP BY k, HOP(1 DAY, 1 MILLISECOND)",
     "HOP puts each event into 86,400,000 windows (size / slide); at most 1,000", 45),
    ("SELECT COUNT(*) AS n FROM ev GROUP BY HOP(1001 SECONDS, 1 SECOND)",
     "HOP puts each event into 1,001 windows", 39),
    ("SELECT COUNT(a) AS n FROM ev PATTERN (a{9223372036854775807} b)",
     "a quantifier bound of 9223372036854775807 repetitions; at most 1,000", 41),
    ("SELECT COUNT(b) AS n FROM ev PATTERN (a b{2,99999999})",
     "a quantifier bound of 99999999 repetitions", 45),
    ("SELECT COUNT(b) AS n FROM ev PATTERN (a b{1001,})",
     "a quantifier bound of 1001 repetitions", 43),
    ("SELECT COUNT(*) AS n FROM ev GROUP BY TUMBLE(99999999999999999999 DAYS)",
     "interval 99999999999999999999 DAYS is longer than the TIMESTAMP range", 46),
    ("SELECT COUNT(b) AS n FROM ev PATTERN (a b) WITHIN 4000000 DAYS",
     "interval 4000000 DAYS is longer than the TIMESTAMP range", 51),
])
def test_a_query_beyond_a_limit_is_refused_where_it_asks(query: str, fragment: str,
                                                         column: int) -> None:
    message, line, at = refusal(query)
    assert fragment in message
    assert (line, at) == (2, column)


def test_an_option_interval_beyond_the_timestamp_range_is_refused() -> None:
    text = ("CREATE STREAM ev (k STRING, ts TIMESTAMP)"
            " WITH (event_time = ts, watermark = 99999999 DAYS);\n")
    with pytest.raises(FrysError) as caught:
        compile_text(text, "job.frysql")
    assert "longer than the TIMESTAMP range" in caught.value.render()


def test_the_limits_hold_at_their_bounds_and_can_be_raised() -> None:
    compile_text(STREAM + "SELECT COUNT(*) AS n FROM ev GROUP BY HOP(1000 SECONDS, 1 SECOND)")
    compile_text(STREAM + "SELECT COUNT(b) AS n FROM ev PATTERN (a b{2,1000}) WITHIN 1 SECOND")
    compile_text(STREAM + "SELECT COUNT(*) AS n FROM ev GROUP BY TUMBLE(3000000 DAYS)")
    wide = Limits(max_hop_windows=5_000, max_repetitions=2_000)
    compile_text(STREAM + "SELECT COUNT(*) AS n FROM ev GROUP BY HOP(1 HOUR, 1 SECOND)",
                 limits=wide)
    compile_text(STREAM + "SELECT COUNT(b) AS n FROM ev PATTERN (a b{2000}) WITHIN 1 SECOND",
                 limits=wide)
    message, _, _ = refusal("SELECT COUNT(*) AS n FROM ev GROUP BY HOP(10 SECONDS, 1 SECOND)",
                            Limits(max_hop_windows=5))
    assert "at most 5" in message


def test_a_pipeline_takes_its_limits_from_the_runtime_options() -> None:
    query = STREAM + "SELECT COUNT(*) AS n FROM ev GROUP BY HOP(2 HOURS, 1 SECOND)"
    with pytest.raises(FrysError, match="7,200 windows"):
        Pipeline.from_text(query)
    pipeline = Pipeline.from_text(
        query, options=RuntimeOptions(limits=Limits(max_hop_windows=10_000)))
    pipeline.publish("ev", [{"k": "x", "v": 1.0, "ts": 1_000}])
    pipeline.finish()
    assert pipeline.results("select_1")["n"].to_list() == [1] * 7_200


def test_frys_check_and_run_take_the_limits_as_flags(tmp_path, capsys) -> None:
    job = tmp_path / "hop.frysql"
    job.write_text(STREAM + "SELECT COUNT(*) AS n FROM ev GROUP BY HOP(1 HOUR, 1 SECOND);\n")
    assert main(["check", str(job)]) == 1
    assert "3,600 windows" in capsys.readouterr().err
    assert main(["check", str(job), "--max-hop-windows", "3600"]) == 0
    assert main(["run", str(job), "--max-hop-windows", "3600", "-q"]) == 0


# ------------------------------------------------- a HOP's memory is bounded by open windows

HOP_JOB = ("CREATE STREAM ev (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, "
           "watermark = 3ms, late = late_ev);\nCREATE STREAM late_ev;\n"
           "SELECT k, window_start, COUNT(*) AS n, SUM(v) AS s FROM ev "
           "GROUP BY k, HOP(40ms, 2ms);\n")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(st.tuples(st.integers(0, 3), st.integers(-9, 9), st.integers(0, 400)),
                       min_size=1, max_size=120),
       rows=st.integers(20, 400))
def test_a_hop_folded_in_slices_gives_the_same_rows(monkeypatch, events, rows) -> None:
    # MAX_WINDOW_ROWS at 20-400 (x 20 windows per event: 1-20 events per slice) against the
    # default (one fold): the same windows, late events and late rows
    def run() -> tuple[list, int, list]:
        pipeline = Pipeline.from_text(HOP_JOB)
        late: list[str] = []
        pipeline.subscribe("late_ev", lambda rows: late.extend(map(str, rows.rows())))
        pipeline.publish("ev", [{"k": k, "v": v, "ts": t} for k, v, t in events])
        pipeline.finish()
        out = sorted(map(str, pipeline.results("select_1").rows()))
        return out, pipeline.stats.total_late_events, sorted(late)

    whole = run()
    with monkeypatch.context() as patch:
        patch.setattr(window_aggregate, "MAX_WINDOW_ROWS", rows)
        assert run() == whole


def test_a_big_hop_batch_holds_the_open_windows_not_the_batch(monkeypatch) -> None:
    # 2,000 in-order events, 1,000 windows each; folded 100 events at a time with event
    # time moving between slices, the state never holds more than the windows still open
    monkeypatch.setattr(window_aggregate, "MAX_WINDOW_ROWS", 100_000)
    pipeline = Pipeline.from_text(
        "CREATE STREAM ev (k INT, ts TIMESTAMP) WITH (event_time = ts);\n"
        "SELECT k, COUNT(*) AS n FROM ev GROUP BY k, HOP(1 SECOND, 1 MILLISECOND);\n")
    operator = pipeline.runtime.queries[0].operator
    largest = 0
    original = operator._process

    def watched(batch, arrivals=None):
        nonlocal largest
        out = original(batch, arrivals)
        largest = max(largest, operator._state.height)
        return out

    monkeypatch.setattr(operator, "_process", watched)
    pipeline.publish("ev", [{"k": i % 3, "ts": 10 * i} for i in range(2_000)])
    pipeline.finish()
    # one fold of the whole batch would hold every (key, window) of the 20 s it spans:
    # 3 x ~21,000 rows; in slices, only the windows open around the slice: per key the
    # ~1,000 that end after the watermark plus the ~1,000 windows a slice of 1 s starts
    assert 0 < largest <= 3 * 2_100
    assert operator.state_size() == 0  # all fired at the end
    assert pipeline.results("select_1")["n"].sum() == 2_000 * 1_000
