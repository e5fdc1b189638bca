"""Job upgrades: a changed job continuing from a checkpoint or savepoint of the job it was
(engine/upgrade.py). State is matched by query name (`-- name:`, else the output stream):
an added query starts empty, a changed filter keeps the windows, an added aggregate starts
empty in the windows already open, a changed window is refused naming the query (or
dropped with allow_state_drop), a removed query's state is dropped with a warning. Each
case is checked against what the rules say the rows must be, computed independently."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import frys
from frys.dsl import FrysError
from frys.engine.runtime import DEFAULT_OPTIONS, RuntimeOptions, StateDropped
from frys.engine.upgrade import StateNotCompatible

T0 = 1_700_000_000_000
STREAM = """
CREATE STREAM a (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, watermark = 0ms);
"""
WINDOW = ("-- name: totals\n"
          "SELECT k, window_start, COUNT(*) AS n FROM a WHERE v >= 0 "
          "GROUP BY k, TUMBLE(100ms);\n")
PATTERN = ("-- name: rises\n"
           "SELECT x.v AS first, y.v AS second FROM a PARTITION BY k "
           "PATTERN (x -> y) WITHIN 1 SECOND DEFINE y AS y.v > x.v + 5;\n")

# events 0..59 over three keys, 10 ms apart: windows of 100 ms hold 10 events each
EVENTS = [{"k": i % 3, "v": (i * 7) % 20, "ts": T0 + i * 10} for i in range(60)]
CUT = 25  # the first job sees events[:CUT]: the window [200, 300) ms is open at the cut


def stopped_after(text: str, state: Path, events: list[dict], stream: str = "totals"
                  ) -> Counter:
    """Run `text` over `events` with state in `state`, then stop: a last checkpoint,
    nothing flushed. The rows it wrote to `stream` before stopping (none when the job has
    no such stream)."""
    pipeline = frys.Pipeline(text, state=state)
    pipeline.publish("a", events)
    before = (rows_of(pipeline, stream) if stream in pipeline.graph.topics
              else Counter())
    pipeline.stop()
    return before


def continued(text: str, state: Path, events: list[dict],
              options: RuntimeOptions = DEFAULT_OPTIONS, **kwargs) -> frys.Pipeline:
    """The changed job `text`, continuing from `state`, fed `events` and finished."""
    pipeline = frys.Pipeline(text, state=state, options=options, **kwargs)
    pipeline.publish("a", events)
    pipeline.finish()
    pipeline.close()
    return pipeline


def uninterrupted(text: str, events: list[dict], stream: str) -> Counter:
    pipeline = frys.Pipeline(text)
    pipeline.publish("a", events)
    pipeline.finish()
    return rows_of(pipeline, stream)


def _frozen(row: dict) -> tuple:
    return tuple(sorted(row.items()))


def rows_of(pipeline: frys.Pipeline, stream: str) -> Counter:
    return Counter(map(_frozen, pipeline.results(stream).rows(named=True)))


def reference_windows(events: list[dict], aggregate, where=lambda e: True) -> Counter:
    """TUMBLE(100ms) per key over `events`, `aggregate(list of events)` -> dict of columns."""
    groups: dict[tuple, list[dict]] = {}
    for event in events:
        if where(event):
            start = (event["ts"] - T0) // 100 * 100 + T0
            groups.setdefault((event["k"], start), []).append(event)
    from datetime import UTC, datetime

    return Counter(_frozen({"k": k, "window_start": datetime.fromtimestamp(start / 1000, UTC),
                            **aggregate(members)})
                   for (k, start), members in groups.items())


def test_an_added_aggregate_starts_empty_in_the_windows_already_open(tmp_path: Path) -> None:
    stopped_after(STREAM + WINDOW, tmp_path, EVENTS[:CUT])
    changed = WINDOW.replace("COUNT(*) AS n", "COUNT(*) AS n, SUM(v) AS s, MAX(v) AS m")
    resumed = continued(STREAM + changed, tmp_path, EVENTS[CUT:])
    assert resumed.runtime.upgrade_notes == [
        "query totals: SUM(v), MAX(v) start empty in the windows already open"]
    after = {id(e) for e in EVENTS[CUT:]}

    def aggregate(members: list[dict]) -> dict:
        late = [e["v"] for e in members if id(e) in after]  # what the new ones saw
        return {"n": len(members), "s": sum(late) if late else None,
                "m": max(late) if late else None}

    # windows that closed before the cut came out of the first job (its results are gone
    # with it); the resumed job writes every window the cut left open or later
    expected = reference_windows(EVENTS, aggregate)
    closed_before_cut = {(e["k"], (e["ts"] - T0) // 100) for e in EVENTS[:CUT]
                         if (e["ts"] - T0) // 100 < (EVENTS[CUT - 1]["ts"] - T0) // 100}
    got = rows_of(resumed, "totals")
    assert sum(got.values()) == sum(expected.values()) - len(closed_before_cut)
    assert got - expected == Counter()


def test_a_changed_filter_keeps_the_windows_and_applies_from_now_on(tmp_path: Path) -> None:
    text = STREAM + WINDOW
    before = stopped_after(text, tmp_path, EVENTS[:CUT])
    changed = WINDOW.replace("v >= 0", "v >= 10")
    resumed = continued(STREAM + changed, tmp_path, EVENTS[CUT:])
    assert resumed.runtime.upgrade_notes == []  # the filter holds no state: carried as is
    head = {id(e) for e in EVENTS[:CUT]}
    expected = reference_windows(EVENTS, lambda members: {"n": len(members)},
                                 where=lambda e: id(e) in head or e["v"] >= 10)
    assert before + rows_of(resumed, "totals") == expected


def test_an_added_query_starts_empty_and_the_others_keep_their_state(tmp_path: Path) -> None:
    text = STREAM + WINDOW
    before = stopped_after(text, tmp_path, EVENTS[:CUT])
    # the new query comes first: the old one keeps its state by its name, not its place
    resumed = continued(STREAM + PATTERN + WINDOW, tmp_path, EVENTS[CUT:])
    assert resumed.runtime.upgrade_notes == ["query rises is new: it starts empty"]
    assert before + rows_of(resumed, "totals") == uninterrupted(text, EVENTS, "totals")
    assert rows_of(resumed, "rises") == uninterrupted(STREAM + PATTERN, EVENTS[CUT:], "rises")


def test_a_removed_query_is_dropped_with_a_warning(tmp_path: Path) -> None:
    before = stopped_after(STREAM + PATTERN + WINDOW, tmp_path, EVENTS[:CUT])
    with pytest.warns(StateDropped, match="query rises is gone from the job"):
        resumed = continued(STREAM + WINDOW, tmp_path, EVENTS[CUT:])
    assert before + rows_of(resumed, "totals") == uninterrupted(STREAM + WINDOW, EVENTS,
                                                                "totals")


def test_a_changed_window_is_refused_naming_the_query_or_dropped_when_allowed(
        tmp_path: Path) -> None:
    stopped_after(STREAM + WINDOW, tmp_path, EVENTS[:CUT])
    changed = STREAM + WINDOW.replace("TUMBLE(100ms)", "TUMBLE(200ms)")
    with pytest.raises(StateNotCompatible) as refused:
        frys.Pipeline(changed, state=tmp_path)
    assert str(refused.value).startswith(
        "the job changed, and its state cannot be carried over for query totals (its "
        "window changed: TUMBLE(100 MILLISECONDS) on ts -> TUMBLE(200 MILLISECONDS) on ts)")
    # refused before anything changed: the old job still continues from its state
    resumed = continued(STREAM + WINDOW, tmp_path, EVENTS[CUT:])
    assert resumed.runtime.upgrade_notes == []
    # allowed: the query starts empty, with a warning; it sees only what comes after
    stopped_after(STREAM + WINDOW, tmp_path / "again", EVENTS[:CUT])
    with pytest.warns(StateDropped, match="query totals: its window changed"):
        dropped = continued(changed, tmp_path / "again", EVENTS[CUT:],
                            RuntimeOptions(allow_state_drop=True))
    assert rows_of(dropped, "totals") == uninterrupted(changed, EVENTS[CUT:], "totals")


def test_a_changed_pattern_is_refused_with_its_new_plan_line(tmp_path: Path) -> None:
    stopped_after(STREAM + PATTERN, tmp_path, EVENTS[:CUT])
    with pytest.raises(StateNotCompatible, match=r"query rises \(its pattern plan "
                                                 r"changed: now .*x\.v \+ 6"):
        frys.Pipeline(STREAM + PATTERN.replace("+ 5", "+ 6"), state=tmp_path)


def test_unnamed_queries_go_by_their_output_so_a_select_added_before_them_takes_their_state(
        tmp_path: Path) -> None:
    """Why `-- name:` exists: bare SELECTs are named by their place (select_1, ...), so a
    SELECT added in front takes the old first one's name, and with it whatever state is
    compatible with its plan."""
    text = STREAM + "SELECT k, COUNT(*) AS n FROM a GROUP BY k, TUMBLE(100ms);\n"
    stopped_after(text, tmp_path, EVENTS[:CUT])
    moved = STREAM + "SELECT k, MAX(v) AS m FROM a GROUP BY k, TUMBLE(100ms);\n" + text[
        len(STREAM):]
    resumed = continued(moved, tmp_path, EVENTS[CUT:])
    assert resumed.runtime.upgrade_notes == [
        "query select_1: MAX(v) start empty in the windows already open",
        "query select_1: COUNT(*) dropped",
        "query select_2 is new: it starts empty"]


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=st.lists(st.sampled_from(["COUNT(*)", "SUM(v)", "MIN(v)", "MAX(v)", "AVG(v)",
                                     "FIRST(v)", "LAST(v)", "COUNT(DISTINCT v)",
                                     "STDDEV(v)", "ARRAY_AGG(v)", "PERCENTILE(v, 0.5)"]),
                    min_size=1, max_size=4, unique=True),
       new=st.lists(st.sampled_from(["COUNT(*)", "SUM(v)", "MIN(v)", "MAX(v)", "AVG(v)",
                                     "FIRST(v)", "LAST(v)", "COUNT(DISTINCT v)",
                                     "STDDEV(v)", "ARRAY_AGG(v)", "PERCENTILE(v, 0.5)"]),
                    min_size=1, max_size=4, unique=True),
       cut=st.integers(0, 60), kind=st.sampled_from(["TUMBLE(100ms)", "HOP(100ms, 50ms)",
                                                      "SESSION(15ms)"]))
def test_kept_aggregates_continue_and_added_ones_count_from_the_upgrade(
        tmp_path_factory: pytest.TempPathFactory, old, new, cut, kind) -> None:
    """For any two lists of aggregates: after the upgrade, each kept aggregate's column
    equals the uninterrupted run of the new job's, and each added one's equals the new
    job run over the events after the cut only, in every window open at the cut or later
    (the rows' keys and windows are the uninterrupted run's)."""
    def job(aggregates: list[str]) -> str:
        columns = ", ".join(f"{a} AS c{i}" for i, a in enumerate(aggregates))
        return (STREAM + f"-- name: q\nSELECT k, window_start, {columns} FROM a "
                f"GROUP BY k, {kind};\n")

    state = tmp_path_factory.mktemp("state")
    first = frys.Pipeline(job(old), state=state)
    first.publish("a", EVENTS[:cut])
    emitted_before = first.results("q").height
    first.stop()
    resumed = continued(job(new), state, EVENTS[cut:])
    got = resumed.results("q")
    whole = uninterrupted_frame(job(new), EVENTS)
    tail = uninterrupted_frame(job(new), EVENTS[cut:])
    assert emitted_before + got.height == whole.height
    keys = ["k", "window_start"]
    got = got.sort(keys)
    for i, aggregate in enumerate(new):
        column = f"c{i}"
        if aggregate in old:
            reference = whole.join(got.select(keys), on=keys, how="semi").sort(keys)
        else:
            reference = got.select(keys).join(tail.select(*keys, column), on=keys,
                                              how="left").sort(keys)
        assert_same_column(got, reference, column, aggregate)


def uninterrupted_frame(text: str, events: list[dict]) -> pl.DataFrame:
    pipeline = frys.Pipeline(text)
    pipeline.publish("a", events)
    pipeline.finish()
    return pipeline.results("q")


def assert_same_column(got: pl.DataFrame, reference: pl.DataFrame, column: str,
                       aggregate: str) -> None:
    left, right = got[column].to_list(), reference[column].to_list()
    if aggregate == "COUNT(*)" or aggregate.startswith("COUNT(DISTINCT"):
        # a window no event reached after the cut: no row in `tail`, a count of 0 here
        right = [0 if value is None else value for value in right]
    if aggregate == "ARRAY_AGG(v)":
        right = [[] if value is None else value for value in right]
    if got[column].dtype == pl.Float64:
        assert all(a == b or (a is not None and b is not None and abs(a - b) < 1e-9)
                   for a, b in zip(left, right, strict=True)), (aggregate, left, right)
    else:
        assert left == right, (aggregate, left, right)


# ----------------------------------------------------------------- `-- name:` lines


def test_a_name_line_names_the_query_after_it_and_prints_back() -> None:
    from frys.dsl.parser import parse
    from frys.dsl.printer import program_to_sql

    program = parse(STREAM + "-- an ordinary comment\n  --   name:  big \n"
                             "INSERT INTO out SELECT k FROM a;\nSELECT k FROM a;\n")
    assert [getattr(s, "query", s).name for s in program.statements[1:]] == ["big", None]
    assert parse(program_to_sql(program)) == program


@pytest.mark.parametrize(("text", "message", "line"), [
    ("-- name: x\nCREATE STREAM b (k INT);\nSELECT k FROM a;",
     "-- name: names the query (INSERT INTO or SELECT) that follows it", 3),
    ("SELECT k FROM a;\n-- name: last\n", "none follows here", 4),
    ("-- name: one\n-- name: two\nSELECT k FROM a;", "this query is already named one", 4),
    ("-- name: 9lives\nSELECT k FROM a;", "not '9lives'", 3),
    ("-- name:\nSELECT k FROM a;", "not ''", 3),
])
def test_a_misplaced_or_bad_name_line_is_a_syntax_error_at_its_line(
        text: str, message: str, line: int) -> None:
    from frys.dsl import FrysSyntaxError
    from frys.dsl.parser import parse

    with pytest.raises(FrysSyntaxError) as error:
        parse(STREAM + text)
    assert message in str(error.value)
    assert error.value.diagnostics[0].span.line == line


def test_a_name_line_inside_a_statement_or_a_string_is_not_one() -> None:
    from frys.dsl.parser import parse

    program = parse(STREAM + "SELECT k\n-- name: inside\nFROM a WHERE 'x\n-- name: s' <> '';")
    assert program.statements[1].name is None


@pytest.mark.parametrize(("job", "message"), [
    ("-- name: q\nINSERT INTO o1 SELECT k FROM a;\n-- name: q\nINSERT INTO o2 SELECT k "
     "FROM a;", "two queries are named q"),
    ("-- name: a\nSELECT k FROM a;", "query name a is the name of a stream"),
    ("CREATE STREAM out (k INT);\n-- name: out\nSELECT k FROM a;",
     "query name out is the name of a stream"),
])
def test_query_names_are_unique_and_name_no_other_stream(job: str, message: str) -> None:
    with pytest.raises(FrysError, match=message):
        frys.Pipeline(STREAM + job)


def test_a_named_select_writes_the_stream_of_its_name() -> None:
    pipeline = frys.Pipeline(STREAM + "-- name: big\nSELECT k FROM a WHERE v > 15;")
    pipeline.publish("a", EVENTS)
    pipeline.finish()
    assert pipeline.results("big")["k"].to_list() == [e["k"] for e in EVENTS if e["v"] > 15]
    assert set(pipeline.stats.events) >= {"a", "big"}


# ----------------------------------------------------------------- savepoints, frys run

SLOW_RUN = """
import sys
import frys.connectors.jsonl as jsonl
jsonl.DEFAULT_CHUNK_BYTES = 256  # many small batches: a long run with many boundaries
from frys.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _job(folder: Path, query: str, events: int) -> Path:
    data = "".join(json.dumps({"k": i % 3, "v": i % 20, "ts": T0 + i * 10}) + "\n"
                   for i in range(events))
    (folder / "a.jsonl").write_text(data)
    job = folder / "job.frysql"
    job.write_text("CREATE STREAM a (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, "
                   "watermark = 0ms, source = 'file:a.jsonl');\n"
                   "CREATE STREAM out WITH (sink = 'file:out.jsonl');\n" + query)
    return job


def _frys(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "frys", *map(str, args)],
                          capture_output=True, text=True, timeout=120, **kwargs)


COUNTS = ("-- name: counts\nINSERT INTO out SELECT k, window_start, COUNT(*) AS n FROM a "
          "GROUP BY k, TUMBLE(1 SECOND);\n")


def test_frys_savepoint_asks_the_running_job_which_goes_on(tmp_path: Path) -> None:
    job = _job(tmp_path, COUNTS, 60_000)
    state = tmp_path / "state"
    run = subprocess.Popen([sys.executable, "-c", SLOW_RUN, "run", "--state", str(state),
                            "--checkpoint-every", "1h", str(job)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (state / "run.pid").exists():  # the run is serving savepoints
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        taken = _frys("savepoint", state, "--name", "live")
        assert taken.returncode == 0, taken.stderr
        assert taken.stdout.strip() == str(state / "checkpoints" / "savepoints" / "live")
        again = _frys("savepoint", state, "--name", "live")  # a name is used once
        assert again.returncode == 1
        assert "frys: no savepoint: " in again.stderr and "exists" in again.stderr
        assert run.poll() is None  # the job went on
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, stderr
    assert "stopped at a checkpoint" in stderr
    assert not (state / "run.pid").exists()
    # the savepoint holds the job as it was when asked: the same job continues from it to
    # the whole output of one uninterrupted run
    from_savepoint = _frys("run", "--state", state, "--from-savepoint", "live", job)
    assert from_savepoint.returncode == 0, from_savepoint.stderr
    whole = tmp_path / "whole"
    whole.mkdir()
    _frys("run", _job(whole, COUNTS, 60_000))
    assert sorted((tmp_path / "out.jsonl").read_text().splitlines()) == sorted(
        (whole / "out.jsonl").read_text().splitlines())


def test_frys_savepoint_of_a_stopped_job_copies_its_newest_checkpoint(tmp_path: Path) -> None:
    job = _job(tmp_path, COUNTS, 300)
    state = tmp_path / "state"
    nothing = _frys("savepoint", state)
    assert nothing.returncode == 1
    assert "is not a job's state folder" in nothing.stderr
    done = _frys("run", "--state", state, "--checkpoint-every-events", "100", job)
    assert done.returncode == 0, done.stderr
    taken = _frys("savepoint", state, "--name", "before-v2")
    assert taken.returncode == 0, taken.stderr
    assert Path(taken.stdout.strip()).is_dir()
    # a changed job from it: an added aggregate, said on stderr; the job file follows
    job.write_text(job.read_text().replace("COUNT(*) AS n", "COUNT(*) AS n, MAX(v) AS m"))
    upgraded = _frys("run", "--state", state, "--from-savepoint", "before-v2", job)
    assert upgraded.returncode == 0, upgraded.stderr
    assert ("frys: state: query counts: MAX(v) start empty in the windows already open"
            in upgraded.stderr)
    assert (state / "job.frysql").read_text() == job.read_text()
    missing = _frys("run", "--state", state, "--from-savepoint", "nope", job)
    assert missing.returncode == 1
    assert "cannot continue from --state" in missing.stderr and "nope" in missing.stderr


def test_frys_run_refuses_an_incompatible_change_and_allows_dropping_it(
        tmp_path: Path) -> None:
    job = _job(tmp_path, COUNTS, 300)
    state = tmp_path / "state"
    assert _frys("run", "--state", state, "--checkpoint-every-events", "100",
                 job).returncode == 0
    original = job.read_text()
    job.write_text(original.replace("TUMBLE(1 SECOND)", "TUMBLE(2 SECONDS)"))
    refused = _frys("run", "--state", state, job)
    assert refused.returncode == 1
    assert ("for query counts (its window changed: TUMBLE(1 SECOND) on ts -> "
            "TUMBLE(2 SECONDS) on ts)") in refused.stderr
    assert (state / "job.frysql").read_text() == original  # the state still the old job's
    allowed = _frys("run", "--state", state, "--allow-state-drop", job)
    assert allowed.returncode == 0, allowed.stderr
    assert "frys: warning: state: query counts: its window changed" in allowed.stderr
    without_state = _frys("run", "--from-savepoint", "x", job)
    assert without_state.returncode == 2 and "give --state DIR too" in without_state.stderr
    assert os.path.exists(state / "checkpoints")


def test_the_python_api_takes_and_starts_from_savepoints(tmp_path: Path) -> None:
    text = STREAM + WINDOW
    first = frys.Pipeline(text, state=tmp_path)
    first.publish("a", EVENTS[:CUT])
    before = rows_of(first, "totals")
    path = first.savepoint("v1")
    assert path == tmp_path / "checkpoints" / "savepoints" / "v1"
    first.publish("a", EVENTS[CUT:CUT + 10])  # after the savepoint: not in it
    first.stop()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing dropped: no warning
        resumed = continued(text, tmp_path, EVENTS[CUT:], from_savepoint="v1")
    assert before + rows_of(resumed, "totals") == uninterrupted(text, EVENTS, "totals")
    with pytest.raises(ValueError, match="give state=<folder> too"):
        frys.Pipeline(text, from_savepoint="v1")
