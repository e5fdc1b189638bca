"""Checkpoints of the embedded runtime (Runtime.checkpoint / restore, Pipeline(state=),
Pipeline.resume): for random jobs, random input (disorder within the watermark, some late
rows) and a random cut, a pipeline checkpointed at the cut, dropped (as a killed process
is) and resumed from its state folder gives, before the cut plus after it, exactly the rows
of one uninterrupted run."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import frys

T0 = 1_700_000_000_000
STREAMS = """
CREATE STREAM a (k INT, v INT, ts TIMESTAMP)
    WITH (event_time = ts, watermark = 5ms, late = late_a);
CREATE STREAM late_a;
CREATE STREAM b (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, watermark = 5ms);
CREATE TABLE t (k INT PRIMARY KEY, w INT, ts TIMESTAMP) WITH (event_time = ts);
"""
# one query per kind of state an operator keeps
QUERIES = {
    "tumble": "SELECT k, window_start, COUNT(*) AS n, SUM(v) AS s FROM a "
              "GROUP BY k, TUMBLE(10ms);",
    "hop": "SELECT k, window_end, MAX(v) AS m FROM a GROUP BY k, HOP(10ms, 5ms);",
    "session": "SELECT k, window_start, window_end, COUNT(*) AS n FROM a "
               "GROUP BY k, SESSION(4ms);",
    "rows": "SELECT k, SUM(v) AS s FROM a GROUP BY k, ROWS(3);",
    "running": "SELECT k, COUNT(*) AS n, SUM(v) AS s FROM a GROUP BY k EMIT CHANGES;",
    "pattern": "SELECT x.v AS first, y.v AS second FROM a PARTITION BY k "
               "PATTERN (x -> y) WITHIN 20ms DEFINE y AS y.v > x.v;",
    "left interval join": "SELECT a.v, b.v AS bv FROM a LEFT JOIN b ON a.k = b.k "
                          "WITHIN 6ms;",
    "window join": "SELECT a.v, b.v AS bv, window_start FROM a FULL JOIN b ON a.k = b.k "
                   "WITHIN TUMBLE(10ms);",
    "versioned table join": "SELECT a.v, t.w FROM a LEFT JOIN t ON a.k = t.k;",
    "aggregate over a join": "SELECT a.k, window_start, COUNT(*) AS n FROM a JOIN b "
                             "ON a.k = b.k WITHIN 6ms GROUP BY a.k, TUMBLE(10ms);",
}


@st.composite
def inputs(draw) -> list[tuple[str, list[dict]]]:
    """Batches for a, b and t in publication order; times rise with jitter, a few rows of
    `a` far behind (late)."""
    batches, newest = [], 0
    for _ in range(draw(st.integers(1, 14))):
        stream = draw(st.sampled_from(["a", "a", "b", "t"]))
        rows = []
        for _ in range(draw(st.integers(1, 4))):
            newest += draw(st.integers(0, 4))
            behind = draw(st.sampled_from([0, 0, 1, 3, 5, 30]))
            row = {"k": draw(st.integers(0, 2)), "ts": T0 + max(0, newest - behind)}
            row["w" if stream == "t" else "v"] = draw(st.integers(0, 9))
            rows.append(row)
        batches.append((stream, rows))
    return batches


def late_rows(pipeline: frys.Pipeline, seen: list[tuple]) -> None:
    pipeline.subscribe("late_a", lambda frame: seen.extend(frame.rows()))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.sampled_from(sorted(QUERIES)), batches=inputs(), data=st.data())
def test_a_resumed_pipeline_continues_as_if_it_had_not_stopped(
        tmp_path_factory: pytest.TempPathFactory, query: str, batches, data) -> None:
    text = STREAMS + QUERIES[query]
    whole = frys.Pipeline.from_text(text)
    whole_late: list[tuple] = []
    late_rows(whole, whole_late)
    for stream, rows in batches:
        whole.publish(stream, rows)
    whole.finish()
    expected = Counter(whole.results("select_1").rows())

    cut = data.draw(st.integers(0, len(batches)))
    state = tmp_path_factory.mktemp("state")
    first = frys.Pipeline(text, state=state)
    first_late: list[tuple] = []
    late_rows(first, first_late)
    for stream, rows in batches[:cut]:
        first.publish(stream, rows)
    first.checkpoint()
    before = Counter(first.results("select_1").rows())
    before_late = Counter(first_late)
    if data.draw(st.booleans()):  # more input after the checkpoint, lost with the process
        for stream, rows in batches[cut:cut + 2]:
            first.publish(stream, rows)
    first._store.close()  # the lock a killed process would drop (test_killed_... below)

    resumed = frys.Pipeline.resume(state)
    resumed_late: list[tuple] = []
    late_rows(resumed, resumed_late)
    for stream, rows in batches[cut:]:
        resumed.publish(stream, rows)
    resumed.finish()
    assert before + Counter(resumed.results("select_1").rows()) == expected
    assert before_late + Counter(resumed_late) == Counter(whole_late)
    assert resumed.stats.late_events == whole.stats.late_events


KILLED = f"""
import sys
import frys
text, state = sys.argv[1], sys.argv[2]
first = frys.Pipeline(text, state=state)
first.publish("a", [{{"k": 1, "v": 2, "ts": {T0}}}])
first.checkpoint()
first.publish("a", [{{"k": 1, "v": 3, "ts": {T0 + 1}}}])
first.checkpoint()
first.publish("a", [{{"k": 1, "v": 100, "ts": {T0 + 2}}}])  # after the last checkpoint: lost
print("checkpointed", flush=True)
sys.stdin.read()  # until killed
"""


def test_a_killed_process_resumes_from_its_newest_checkpoint(tmp_path: Path) -> None:
    """A real process, killed with SIGKILL after its second checkpoint and one more
    publish: the pipeline built on its folder (the same job) continues from the second."""
    text = STREAMS + QUERIES["running"]
    process = subprocess.Popen([sys.executable, "-c", KILLED, text, str(tmp_path)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "checkpointed"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    again = frys.Pipeline(text, state=tmp_path)  # the same job on the same folder
    again.publish("a", [{"k": 1, "v": 4, "ts": T0 + 2}])
    again.finish()
    assert again.results("select_1").rows() == [(1, 3, 9)]  # 2 + 3 + 4, never the 100
    assert again.stats.events["a"] == 3


def test_a_changed_job_whose_state_means_something_else_is_refused_it(
        tmp_path: Path) -> None:
    """(What a changed job may carry over: tests/test_upgrades.py.)"""
    first = frys.Pipeline(STREAMS + QUERIES["tumble"], state=tmp_path)
    first.publish("a", [{"k": 1, "v": 2, "ts": T0}])
    first.stop()
    with pytest.raises(ValueError, match=r"query select_1 \(its operator changed: tumbling "
                                         r"window -> hopping window"):
        frys.Pipeline(STREAMS + QUERIES["hop"], state=tmp_path)


def test_resume_needs_a_state_folder_and_checkpoints_need_one(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not the state folder of a pipeline"):
        frys.Pipeline.resume(tmp_path)
    with pytest.raises(ValueError, match="keeps no state"):
        frys.Pipeline.from_text(STREAMS + QUERIES["tumble"]).checkpoint()
    with pytest.raises(ValueError, match="keeps no state"):
        frys.Pipeline.from_text(STREAMS + QUERIES["tumble"]).run(checkpoint_every_events=5)


def test_stop_keeps_open_windows_for_the_next_run(tmp_path: Path) -> None:
    """stop() is not the end of input: the window open at the stop fires once, in the run
    that resumes, with the events of both runs."""
    text = STREAMS + QUERIES["tumble"]
    first = frys.Pipeline(text, state=tmp_path)
    first.publish("a", [{"k": 1, "v": 2, "ts": T0}, {"k": 1, "v": 3, "ts": T0 + 4}])
    first.stop()
    assert first.results("select_1").height == 0
    with pytest.raises(ValueError, match="keeps no state"):
        first.checkpoint()
    resumed = frys.Pipeline.resume(tmp_path)
    resumed.publish("a", [{"k": 1, "v": 5, "ts": T0 + 6}])
    resumed.finish()
    assert resumed.results("select_1")["s"].to_list() == [10]
