"""Streams that feed themselves in a loop are refused with every link named (they used to
crash the run with a RecursionError): queries, late streams, EMIT TIMEOUTS TO, and `bus:`
URIs naming the job's own streams (dsl/stream_graph.py, api/compiler.py)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import frys
from frys.dsl import FrysAnalysisError
from frys.dsl import compile_text as compile_language

STREAM = "CREATE STREAM {name} (k INT, ts TIMESTAMP) WITH (event_time = ts{options});\n"


def stream(name: str, options: str = "") -> str:
    return STREAM.format(name=name, options=options)


def refusal(text: str) -> str:
    with pytest.raises(FrysAnalysisError) as caught:
        frys.compile_text(text, "job.frysql")
    [diagnostic] = caught.value.diagnostics
    return diagnostic.message


def test_a_query_writing_the_stream_it_reads() -> None:
    text = stream("ev") + "INSERT INTO ev SELECT k, ts FROM ev;\n"
    assert refusal(text) == ("streams feed themselves in a loop, so every event would go "
                             "round it forever: ev feeds ev (the query writing ev at 2:16)")
    with pytest.raises(FrysAnalysisError):  # the language alone sees it too
        compile_language(text)


def test_a_loop_through_two_queries_names_both_links() -> None:
    text = (stream("a") + stream("b") + "INSERT INTO b SELECT k, ts FROM a;\n"
            "INSERT INTO a SELECT k, ts FROM b WHERE k > 0;\n")
    assert refusal(text).endswith("a feeds b (the query writing b at 3:15); b feeds a (the "
                                  "query writing a at 4:15)")


def test_a_stream_that_is_its_own_late_stream() -> None:
    assert "ev feeds ev (late = ev at 1:" in refusal(stream("ev", ", late = ev"))


def test_timeouts_into_the_pattern_input() -> None:
    # (its columns fit ev's, so what is refused is the loop)
    text = (stream("ev") + "SELECT a.k AS k, a.ts AS ts FROM ev PATTERN (a -> b) WITHIN 1 SECOND "
            "DEFINE a AS a.k = 1, b AS b.k = 2 EMIT TIMEOUTS TO ev;\n")
    assert "ev feeds ev (EMIT TIMEOUTS TO ev at 2:" in refusal(text)


def test_a_bus_sink_naming_its_own_stream() -> None:
    text = stream("ev") + stream("alerts", ", sink = 'bus:alerts'") + (
        "INSERT INTO alerts SELECT k, ts FROM ev;\n")
    assert refusal(text).endswith("alerts feeds alerts (sink = 'bus:alerts' at 2:67)")
    compile_language(text)  # the language knows no bus: only frys.compile_text sees it


def test_a_loop_through_the_bus_and_a_query() -> None:
    text = (stream("a", ", sink = 'bus:b'") + stream("b") +
            "INSERT INTO a SELECT k, ts FROM b;\n")
    message = refusal(text)
    assert "a feeds b (sink = 'bus:b' at 1:" in message
    assert "b feeds a (the query writing a at 3:15)" in message


def test_a_bus_source_reading_a_stream_that_it_feeds() -> None:
    text = (stream("a") + stream("b", ", source = 'bus:a'") +
            "INSERT INTO a SELECT k, ts FROM b;\n")
    assert "a feeds b (source = 'bus:a' at 2:" in refusal(text)


def test_bus_links_without_a_loop_run(tmp_path: Path) -> None:
    """a's sink publishes into b, and b's source also reads a: b gets each event twice,
    and nothing loops."""
    (tmp_path / "in.jsonl").write_text('{"k": 1, "ts": 1}\n')
    job = tmp_path / "job.frysql"
    job.write_text(stream("ev", ", source = 'file:in.jsonl'")
                   + stream("a", ", sink = 'bus:b'") + stream("b", ", source = 'bus:a'")
                   + "INSERT INTO a SELECT k, ts FROM ev;\n")
    pipeline = frys.Pipeline.from_file(job)
    stats = pipeline.run()
    assert (stats.events["a"], stats.events["b"]) == (1, 2)


@settings(max_examples=60, deadline=None)
@given(st.sets(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=6))
def test_a_job_is_refused_exactly_when_its_queries_loop(links: set[tuple[int, int]]) -> None:
    """INSERT INTO s<j> SELECT FROM s<i> for each (i, j): refused iff some stream reaches
    itself (reference: the transitive closure); an accepted job runs to its end."""
    names = [f"s{i}" for i in range(4)]
    text = "".join(stream(n) for n in names) + "".join(
        f"INSERT INTO s{j} SELECT k, ts FROM s{i};\n" for i, j in sorted(links))
    reach = set(links)
    for _ in range(4):
        reach |= {(a, d) for (a, b), (c, d) in itertools.product(reach, reach) if b == c}
    loops = any(a == b for a, b in reach)
    if loops:
        with pytest.raises(FrysAnalysisError, match="feed themselves in a loop"):
            frys.compile_text(text)
        return
    pipeline = frys.Pipeline.from_text(text)
    pipeline.publish("s0", [{"k": 1, "ts": 1}])
    pipeline.finish()
    assert pipeline.stats.events["s0"] >= 1
