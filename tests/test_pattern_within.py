"""Patterns: WITHIN: first and last event, or each two consecutive events, closer than the
bound. Cases from Flink CEP's test suite (tests/pattern_cases.py, each citing its source),
events -> expected matches."""

from __future__ import annotations

import pytest
from pattern_cases import WITHIN
from pattern_runner import case_id, check

import frys


@pytest.mark.parametrize("case", WITHIN, ids=case_id)
def test_within_matches_like_flink(case) -> None:
    check(case)


STREAM = "CREATE STREAM ev (id INT, name STRING, ts TIMESTAMP) WITH (event_time = ts);\n"


def test_emit_timeouts_to_sends_partial_matches_that_ran_out_of_time() -> None:
    #   a(0) . . b(30) . . . . . . (a at 100, no b): WITHIN 50ms
    #   match: a0 b30; a100 times out when the watermark passes 150 -> timeouts stream,
    #   with b NULL (never bound)
    pipeline = frys.Pipeline.from_text(STREAM + """
        CREATE STREAM expired (a INT, b INT);
        SELECT a.id AS a, b.id AS b FROM ev PATTERN (a -> b) WITHIN 50ms
            DEFINE a AS a.name = 'a', b AS b.name = 'b' EMIT TIMEOUTS TO expired;
    """)
    expired = []
    pipeline.subscribe("expired", lambda frame: expired.extend(frame.to_dicts()))
    pipeline.publish("ev", [{"id": 1, "name": "a", "ts": 0}, {"id": 2, "name": "b", "ts": 30},
                            {"id": 3, "name": "a", "ts": 100}])
    assert expired == []
    pipeline.publish("ev", [{"id": 4, "name": "c", "ts": 150}])
    assert expired == [{"a": 3, "b": None}]
    pipeline.finish()
    assert pipeline.results("select_1").to_dicts() == [{"a": 1, "b": 2}]


def test_within_prunes_partial_matches_as_the_watermark_advances() -> None:
    pipeline = frys.Pipeline.from_text(STREAM + """
        SELECT a.id AS a FROM ev PATTERN (a -> b) WITHIN 50ms
            DEFINE a AS a.name = 'a', b AS b.name = 'b';
    """)
    pipeline.publish("ev", [{"id": i, "name": "a", "ts": i} for i in range(100)])
    operator = pipeline.runtime.queries[0].operator
    # a's of the last 50 ms still wait: 50..98 as partial matches; 99, at the watermark, is
    # not released yet (it is on time, and an event at 99 could still come)
    assert operator.open_partials() == 49
    pipeline.publish("ev", [{"id": 1000, "name": "c", "ts": 1000}])
    assert operator.open_partials() == 0


def test_a_bare_select_s_timeouts_go_to_the_declared_stream_with_its_options(
        tmp_path) -> None:
    # EMIT TIMEOUTS TO a declared stream from a bare SELECT: the stream keeps its
    # declaration (here its sink), it is not replaced by the SELECT's own
    job = tmp_path / "job.frysql"
    (tmp_path / "ev.jsonl").write_text(
        '{"id": 1, "name": "a", "ts": 0}\n{"id": 2, "name": "b", "ts": 30}\n'
        '{"id": 3, "name": "a", "ts": 100}\n{"id": 4, "name": "c", "ts": 150}\n')
    job.write_text("""
        CREATE STREAM ev (id INT, name STRING, ts TIMESTAMP)
            WITH (event_time = ts, time_unit = 'ms', source = 'file:ev.jsonl');
        CREATE STREAM expired (a INT, b INT) WITH (sink = 'file:expired.jsonl');
        SELECT a.id AS a, b.id AS b FROM ev PATTERN (a -> b) WITHIN 50ms
            DEFINE a AS a.name = 'a', b AS b.name = 'b' EMIT TIMEOUTS TO expired;
    """)
    frys.Pipeline.from_file(str(job)).run()
    assert (tmp_path / "expired.jsonl").read_text() == '{"a":3,"b":null}\n'
