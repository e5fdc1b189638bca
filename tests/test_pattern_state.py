"""Bounded state and explainability of pattern queries: the partial-match limit (discards
counted and reported), WITHIN keeping state bounded, PREV across batches, MATCH_IDS, and the
trace of why each partial match ended (Python API and `frys run --trace-matches`)."""

from __future__ import annotations

import json
from pathlib import Path

import frys
from frys.cli import main

STREAM = "CREATE STREAM ev (id INT, k INT, name STRING, price FLOAT, ts TIMESTAMP) " \
         "WITH (event_time = ts);\n"


def events(rows):
    return [{"id": i, "k": k, "name": n, "price": p, "ts": t} for i, k, n, p, t in rows]


def test_the_partial_match_limit_discards_the_oldest_and_counts_them() -> None:
    # every a waits for a b that never comes: 10 partial matches, limit 4
    options = frys.RuntimeOptions(max_partial_matches=4)
    pipeline = frys.Pipeline.from_text(
        STREAM + "SELECT a.id AS a, b.id AS b FROM ev PATTERN (a -> b) "
                 "DEFINE a AS a.name = 'a', b AS b.name = 'b' AFTER MATCH NO SKIP",
        options=options)
    pipeline.publish("ev", events([(i, 0, "a", 0.0, i) for i in range(10)]))
    pipeline.publish("ev", events([(10, 0, "b", 0.0, 10)]))
    pipeline.finish()
    # the four youngest a's survive and match the b
    assert sorted(pipeline.results("select_1")["a"].to_list()) == [6, 7, 8, 9]
    assert pipeline.stats.discarded_partial_matches == {"select_1": 6}


def test_the_limit_is_per_partition() -> None:
    options = frys.RuntimeOptions(max_partial_matches=3)
    pipeline = frys.Pipeline.from_text(
        STREAM + "SELECT a.id AS a FROM ev PARTITION BY k PATTERN (a -> b) "
                 "DEFINE a AS a.name = 'a', b AS b.name = 'b' AFTER MATCH NO SKIP",
        options=options)
    pipeline.publish("ev", events([(i, i % 2, "a", 0.0, i) for i in range(6)]))
    pipeline.finish()
    assert pipeline.stats.discarded_partial_matches == {}  # three per key: within the limit


def test_within_bounds_the_state_whatever_the_number_of_events() -> None:
    pipeline = frys.Pipeline.from_text(
        STREAM + "SELECT a.id AS a FROM ev PARTITION BY k PATTERN (a -> b) WITHIN 100ms "
                 "DEFINE a AS a.name = 'a', b AS b.name = 'b'")
    operator = pipeline.runtime.queries[0].operator
    largest = 0
    for start in range(0, 20_000, 1_000):
        pipeline.publish("ev", events([(i, i % 10, "a", 0.0, i)
                                       for i in range(start, start + 1_000)]))
        largest = max(largest, operator.open_partials())
    # at most the a's of the last 100 ms (one per ms) are open, not the 20,000 seen
    assert largest <= 100


def test_prev_reads_the_previous_event_of_the_partition_across_batches() -> None:
    # b: a price above the previous event's, which for the first event of a batch is in the
    # batch before
    pipeline = frys.Pipeline.from_text(
        STREAM + "SELECT b.id AS b FROM ev PARTITION BY k PATTERN (b) "
                 "DEFINE b AS b.price > PREV(price) AFTER MATCH NO SKIP")
    pipeline.publish("ev", events([(1, 0, "x", 5.0, 1), (2, 1, "x", 9.0, 2)]))
    pipeline.publish("ev", events([(3, 0, "x", 6.0, 3), (4, 1, "x", 8.0, 4),
                                   (5, 0, "x", 7.0, 5)]))
    pipeline.finish()
    assert sorted(pipeline.results("select_1")["b"].to_list()) == [3, 5]


TRACED = STREAM + """
SELECT a.id AS a FROM ev PATTERN (a b) WITHIN 10ms
DEFINE a AS a.name = 'a', b AS b.price > a.price;
"""


def test_the_trace_says_why_each_partial_match_ended() -> None:
    pipeline = frys.Pipeline.from_text(TRACED, options=frys.RuntimeOptions(trace_matches=True))
    pipeline.publish("ev", events([
        (1, 0, "a", 5.0, 0), (2, 0, "x", 9.0, 1),    # a b: completed
        (3, 0, "a", 5.0, 2), (4, 0, "x", 1.0, 3),    # b too cheap: no transition
        (5, 0, "a", 5.0, 4)]))                       # waits, times out at 14 ms
    pipeline.publish("ev", events([(6, 0, "x", 0.0, 30)]))
    reasons = [(t["reason"], t["events"]) for t in pipeline.match_traces]
    assert reasons == [("completed", ["ev:0", "ev:1"]), ("no transition", ["ev:2"]),
                       ("timed out", ["ev:4"])]


def test_frys_run_writes_the_trace_as_json_lines(tmp_path: Path, capsys) -> None:
    (tmp_path / "ev.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events([
        (1, 0, "a", 5.0, 0), (2, 0, "x", 9.0, 1), (3, 0, "a", 5.0, 2)])))
    job = tmp_path / "job.frysql"
    job.write_text(TRACED.replace("WITH (event_time = ts)",
                                  "WITH (event_time = ts, source = 'file:ev.jsonl')"))
    trace = tmp_path / "trace.jsonl"
    assert main(["run", str(job), "--trace-matches", str(trace)]) == 0
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [(r["query"], r["reason"], r["events"]) for r in records] == [
        ("select_1", "completed", ["ev:0", "ev:1"]), ("select_1", "timed out", ["ev:2"])]
    assert json.loads(capsys.readouterr().out) == {"a": 1}


def test_frys_run_reports_discarded_partial_matches(tmp_path: Path, capsys) -> None:
    (tmp_path / "ev.jsonl").write_text("".join(
        json.dumps(e) + "\n" for e in events([(i, 0, "a", 0.0, i) for i in range(5)])))
    job = tmp_path / "job.frysql"
    job.write_text(STREAM.replace("WITH (event_time = ts)",
                                  "WITH (event_time = ts, source = 'file:ev.jsonl')")
                   + "SELECT a.id AS a FROM ev PATTERN (a -> b) "
                     "DEFINE a AS a.name = 'a', b AS b.name = 'b';")
    assert main(["run", str(job), "--max-partial-matches", "2"]) == 0
    assert "partial matches discarded over the limit: select_1: 3" in capsys.readouterr().err


def test_the_shared_buffer_stores_an_event_once_and_frees_what_no_match_reaches() -> None:
    from frys.operators.pattern.nfa import NO_NODE, Event, SharedBuffer

    shared = SharedBuffer()
    shared.configure(["f", "i", "b", "o"])
    a = Event(0, 100, (1.5, None, True, "x"), (), ())
    b = Event(1, 200, (None, 7, False, None), (), ())
    first = shared.node(a, 0, NO_NODE)
    left = shared.node(b, 1, first)     # two branches take b after a:
    right = shared.node(b, 2, first)    # b is stored once
    assert shared.live_events() == 2
    assert [shared.value(shared.node_event[left], c) for c in range(4)] == [
        None, 7, False, None]
    assert [shared.value(shared.node_event[first], c) for c in range(4)] == [
        1.5, None, True, "x"]
    shared.sweep([right])               # the left branch ended: its node goes, b stays
    assert (shared.live_nodes(), shared.live_events()) == (2, 2)
    shared.sweep([])                    # nothing reaches anything any more
    assert (shared.live_nodes(), shared.live_events()) == (0, 0)
    c = Event(2, 300, (2.5, 1, None, "y"), (), ())
    reused = shared.node(c, 0, NO_NODE)  # freed slots are reused, values overwritten
    assert len(shared.node_event) == 3 and reused < 3
    assert [shared.value(shared.node_event[reused], c) for c in range(4)] == [
        2.5, 1, None, "y"]
    assert shared.chain(reused) == [reused]
