"""The connector registry (connectors/registry.py): each built-in scheme checked and opened
through it, the Source and Sink protocols of the built-in connectors, did-you-mean for a
misspelt scheme, a third-party connector found through an entry point running in a real
job, and the lazy loading that keeps the WAL out of a job that does not use it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frys.compiler import compile_text
from frys.connectors import registry
from frys.connectors.broker import Broker
from frys.connectors.bus_connector import BusSink, BusSource
from frys.connectors.jsonl import JsonlFileSource, JsonlWriter
from frys.connectors.registry import (
    END_OF_INPUT_CHECKPOINT,
    Connector,
    ConnectorError,
    Sink,
    SinkContext,
    SinkSubscriber,
    Source,
    SourceContext,
    UnknownConnector,
    UriProblem,
    check_uri,
)
from frys.connectors.sandbox import Sandbox, job_paths, job_refusals
from frys.connectors.uris import check_bus_uri, check_wal_uri
from frys.connectors.wal import LogReader, WriteAheadLog
from frys.connectors.wal_topic import WalJournal, WalSource, record_frame
from frys.dsl.errors import FrysError, NotSupportedYet
from frys.engine.planner import plan
from frys.engine.runtime import DEFAULT_OPTIONS, Runtime, RuntimeOptions

TS = 1_700_000_000_000
STREAM = "CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP) WITH (event_time = ts{options});\n"


def runtime_for(tmp_path: Path, text: str, options: RuntimeOptions = DEFAULT_OPTIONS,
                broker: Broker | None = None) -> Runtime:
    """The job `text` at tmp_path/job.frysql, its URIs checked by the registry."""
    graph = plan(compile_text(textwrap.dedent(text), str(tmp_path / "job.frysql")))
    return Runtime(graph, tmp_path, options=options, broker=broker)


def source_context(tmp_path: Path, runtime: Runtime, stream: str = "ev") -> SourceContext:
    return SourceContext(tmp_path, runtime.job_name, runtime.graph.topics[stream],
                         runtime.broker, runtime.decoders[stream],
                         runtime.topics[stream].add_producer("test", lazy=True),
                         runtime.publish_dead_letters)


def sink_context(tmp_path: Path, runtime: Runtime, stream: str = "ev") -> SinkContext:
    return SinkContext(tmp_path, runtime.job_name, runtime.graph.topics[stream], runtime.broker)


def events(values: range) -> list[dict[str, object]]:
    return [{"k": f"k{v % 3}", "v": v, "ts": TS + v} for v in values]


def frame(values: range) -> pl.DataFrame:
    return pl.DataFrame(events(values)).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


# ------------------------------------------------------------------ checking URIs

@pytest.mark.parametrize(("uri", "role", "expected"), [
    ("file:data/x.jsonl", "source", None),
    ("file:/abs/out.jsonl", "sink", None),
    ("file:data/x.xml", "source",
     UriProblem.later("file format of 'data/x.xml' (only .jsonl, .csv, .parquet, .arrow, "
                      ".feather and .msgpack files so far)")),
    ("wal:data/orders?fsync=always&consumer=c1", "source", None),
    ("wal:data/orders?fsync=sometimes", "sink",
     UriProblem.error(str(check_wal_uri("wal:data/orders?fsync=sometimes")))),
    ("wal:", "sink", UriProblem.error("'wal:' names no directory; expected e.g. "
                                      "'wal:data/orders'")),
    ("wal:x?colour=red", "source", UriProblem.error(str(check_wal_uri("wal:x?colour=red")))),
    ("bus:alerts.high", "sink", None),
    ("bus:alerts.*", "source", UriProblem.error(str(check_bus_uri("bus:alerts.*")))),
    ("redis://localhost/orders", "source", UriProblem.error(
        "a redis: source needs a consumer group: add 'group=NAME' to "
        "'redis://localhost/orders'")),
    ("kafka://h/q", "source", UriProblem.later("connector kafka:"
                                              + registry.WHY_NOT_YET["kafka"])),
    ("kafka://h/t", "sink", UriProblem.later("connector kafka:"
                                             + registry.WHY_NOT_YET["kafka"])),
    ("kafka:orders", "source", UriProblem.later(
        "connector kafka: (frys ships no connector it has not tested against the real "
        "server, and no Apache Kafka broker can be installed where frys is built and "
        "tested: its releases come only from Apache's download site and Maven Central, "
        "neither reachable there; a package can add kafka: through the frys.connectors "
        "entry points, see docs/connectors.md)")),
    ("data/x.jsonl", "source",
     UriProblem.error("unknown connector URI 'data/x.jsonl'; expected e.g. "
                      "'file:data/x.jsonl'")),
    ("wall:data/orders", "source",
     UriProblem.error("unknown connector URI 'wall:data/orders'; expected e.g. "
                      "'file:data/x.jsonl' (did you mean 'wal:'?)")),
    ("fiel:x.jsonl", "sink",
     UriProblem.error("unknown connector URI 'fiel:x.jsonl'; expected e.g. "
                      "'file:data/x.jsonl' (did you mean 'file:'?)")),
    ("redi:x", "sink",
     UriProblem.error("unknown connector URI 'redi:x'; expected e.g. "
                      "'file:data/x.jsonl' (did you mean 'redis:'?)")),
    ("s3:bucket/key", "source",
     UriProblem.error("unknown connector URI 's3:bucket/key'; expected e.g. "
                      "'file:data/x.jsonl'")),
])
def test_check_uri_states_each_problem(uri: str, role: registry.Role,
                                       expected: UriProblem | None) -> None:
    assert check_uri(uri, role) == expected


@pytest.mark.parametrize("uri", ["file:data/x.jsonl", "file:data/x.xml", "wal:data/o",
                                 "wal:data/o?fsync=sometimes", "wal:", "bus:a.b", "bus:a.#",
                                 "redis://h/k?colour=red", "kafka:t", "data/x.jsonl", "s3:b/k"])
@pytest.mark.parametrize("role", ["source", "sink"])
def test_check_uri_says_what_the_analyzer_says(uri: str, role: str) -> None:
    """The analyzer, given the registry's checker (frys.compile_text), reports each problem
    check_uri finds, word for word, as an error or as not supported yet."""
    text = STREAM.format(options=f", {role} = '{uri}'")
    try:
        job = compile_text(text, runnable=False)
        analyzer = [(d.message, True) for d in job.not_supported]
    except FrysError as error:
        analyzer = [(d.message, isinstance(error, NotSupportedYet)) for d in error.diagnostics]
    problem = check_uri(uri, role)  # type: ignore[arg-type]
    if problem is None:
        assert analyzer == []
    elif problem.not_supported:  # the analyzer says where: "not supported yet: X at 1:2"
        (message, later), = analyzer
        assert later and re.fullmatch(rf"not supported yet: {re.escape(problem.message)} "
                                      r"at 1:\d+", message), message
    else:
        assert analyzer == [(problem.message, False)]


def test_an_unknown_scheme_cannot_be_opened_and_says_what_it_may_have_meant(
        tmp_path: Path) -> None:
    with pytest.raises(UnknownConnector, match=r"'bsu:x'.* \(did you mean 'bus:'\?\)"):
        registry.connector_for("bsu:x")
    with pytest.raises(UnknownConnector, match="unknown connector URI 'wall:x'"):
        registry.uri_paths("wall:x", tmp_path)


def test_built_in_schemes_cannot_be_replaced() -> None:
    with pytest.raises(ValueError, match="built-in"):
        registry.register(Connector("wal", lambda uri, role: None))


# ------------------------------------------------------------------ file:

def test_a_file_source_opens_through_the_registry_and_its_position_is_bytes_read(
        tmp_path: Path) -> None:
    lines = [json.dumps(event).encode() + b"\n" for event in events(range(10))]
    (tmp_path / "ev.jsonl").write_bytes(b"".join(lines))
    runtime = runtime_for(tmp_path, STREAM.format(options=""))
    source = registry.open_source("file:ev.jsonl", source_context(tmp_path, runtime))
    assert isinstance(source, JsonlFileSource) and isinstance(source, Source)
    source.chunk_bytes = len(lines[0]) * 3 + 1  # three lines a chunk
    assert source.position()["offset"] == 0
    positions, values = [], []
    for batch, dead in source.batches():
        assert dead == []
        values += batch["v"].to_list()
        positions.append(source.position()["offset"])
    assert values == list(range(10))
    # each chunk ends at a line end: the position is the bytes of the lines read so far
    ends = [sum(len(line) for line in lines[:n]) for n in range(1, 11)]
    assert positions == [end for end in ends if end in positions]
    assert len(positions) > 1 and positions[-1] == (tmp_path / "ev.jsonl").stat().st_size


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=30), st.booleans(), st.booleans(),
       st.integers(8, 200))
def test_a_file_source_position_never_passes_the_file_and_ends_at_its_size(
        values: list[int], bom: bool, trailing_newline: bool, chunk_bytes: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ev.jsonl"
        body = "\n".join(json.dumps({"k": "a", "v": v, "ts": TS + v}) for v in values)
        data = (b"\xef\xbb\xbf" if bom else b"") + body.encode() + (
            b"\n" if trailing_newline else b"")
        path.write_bytes(data)
        from frys.connectors.decode import StreamDecoder
        from frys.dsl.types import FrysType

        decoder = StreamDecoder("ev", {"k": FrysType.STRING, "v": FrysType.INT,
                                       "ts": FrysType.TIMESTAMP}, "ts")
        source = JsonlFileSource(path, decoder, "ev.jsonl", chunk_bytes=chunk_bytes)
        positions, read = [], []
        for batch, _ in source.batches():
            read += batch["v"].to_list()
            positions.append(source.position()["offset"])
        assert read == values
        assert positions == sorted(positions) and positions[-1] == len(data)


def test_a_missing_source_file_is_a_connector_error_and_a_job_error_at_its_stream(
        tmp_path: Path) -> None:
    runtime = runtime_for(tmp_path, STREAM.format(options=""))
    with pytest.raises(ConnectorError, match=r"source file not found: .*nope.jsonl \(stream ev"):
        registry.open_source("file:nope.jsonl", source_context(tmp_path, runtime))
    with pytest.raises(FrysError, match=r"source file not found: .*nope.jsonl \(stream ev\)"
                       ) as raised:
        runtime_for(tmp_path, STREAM.format(options=", source = 'file:nope.jsonl'"))
    assert [d.span.line for d in raised.value.diagnostics] == [1]  # at the stream


def test_a_file_sink_writes_pre_commits_commits_and_closes(tmp_path: Path) -> None:
    runtime = runtime_for(tmp_path, STREAM.format(options=""))
    sink = registry.open_sink("file:out/deep/ev.jsonl", sink_context(tmp_path, runtime))
    assert isinstance(sink, JsonlWriter) and isinstance(sink, Sink)
    sink.write(frame(range(2)))
    sink.write(frame(range(2, 3)))
    path = tmp_path / "out" / "deep" / "ev.jsonl"
    # written through: the rows are in the file before the commit
    assert len(path.read_text().splitlines()) == 3
    sink.pre_commit(END_OF_INPUT_CHECKPOINT)
    sink.commit(END_OF_INPUT_CHECKPOINT)
    sink.close()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [{"k": "k0", "v": 0, "ts": "2023-11-14T22:13:20.000Z"},
                    {"k": "k1", "v": 1, "ts": "2023-11-14T22:13:20.001Z"},
                    {"k": "k2", "v": 2, "ts": "2023-11-14T22:13:20.002Z"}]
    assert sink.rows_written == 3


def test_an_aborted_file_sink_is_closed_and_keeps_what_it_wrote(tmp_path: Path) -> None:
    runtime = runtime_for(tmp_path, STREAM.format(options=""))
    sink = registry.open_sink("file:ev.jsonl", sink_context(tmp_path, runtime))
    sink.write(frame(range(4)))
    sink.abort()
    assert len((tmp_path / "ev.jsonl").read_text().splitlines()) == 4
    with pytest.raises((ValueError, OSError), match="closed file"):
        sink.write(frame(range(1)))


def test_a_sink_that_cannot_be_opened_is_a_job_error_naming_the_stream(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(FrysError, match=r"cannot open the sink of stream ev "
                                        r"\(file:taken/ev.jsonl\): Not a directory"):
        runtime_for(tmp_path, STREAM.format(options=", sink = 'file:taken/ev.jsonl'"))


class RecordingSink:
    """A Sink that records the calls the runtime makes, and fails a write when told to."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[str] = []
        self.fail_at = fail_at

    def write(self, batch: pl.DataFrame) -> None:
        self.calls.append(f"write {batch.height}")
        if len(self.calls) == self.fail_at:
            raise OSError("disk full")

    def pre_commit(self, checkpoint_id: int) -> None:
        self.calls.append(f"pre_commit {checkpoint_id}")

    def commit(self, checkpoint_id: int) -> None:
        self.calls.append(f"commit {checkpoint_id}")

    def abort(self) -> None:
        self.calls.append("abort")

    def close(self) -> None:
        self.calls.append("close")


def test_the_runtime_drives_a_sink_write_then_pre_commit_commit_close_at_the_end(
        tmp_path: Path) -> None:
    sink = RecordingSink()
    registry.register(Connector("recording", lambda uri, role: None,
                                open_sink=lambda uri, context: sink))
    try:
        runtime = runtime_for(tmp_path, STREAM.format(options=", sink = 'recording:x'"))
        runtime.publish("ev", frame(range(3)))
        runtime.publish("ev", frame(range(3, 5)))
        assert sink.calls == ["write 3", "write 2"]
        runtime.finish()
    finally:
        registry.unregister("recording")
    assert sink.calls == ["write 3", "write 2", f"pre_commit {END_OF_INPUT_CHECKPOINT}",
                          f"commit {END_OF_INPUT_CHECKPOINT}", "close"]


def test_a_failed_write_aborts_the_sink_and_nothing_is_committed(tmp_path: Path) -> None:
    sink = RecordingSink(fail_at=2)
    subscriber = SinkSubscriber(sink)
    subscriber.on_batch(None, frame(range(1)))  # type: ignore[arg-type]
    with pytest.raises(OSError, match="disk full"):
        subscriber.on_batch(None, frame(range(2)))  # type: ignore[arg-type]
    subscriber.on_batch(None, frame(range(3)))  # type: ignore[arg-type]
    subscriber.on_end(None)  # type: ignore[arg-type]
    assert sink.calls == ["write 1", "write 2", "abort"]


def test_without_open_sinks_file_and_wal_sinks_are_skipped_but_bus_sinks_are_not(
        tmp_path: Path) -> None:
    broker = Broker(tmp_path / "bus-wal")
    queue = broker.subscribe("out.alerts")
    runtime = runtime_for(tmp_path, STREAM.format(options=", sink = 'file:out/ev.jsonl'") + """
        CREATE STREAM logged WITH (sink = 'wal:out/logged');
        CREATE STREAM alerts WITH (sink = 'bus:out.alerts');
        INSERT INTO logged SELECT k, v, ts FROM ev;
        INSERT INTO alerts SELECT k, v, ts FROM ev WHERE v > 1;
    """, RuntimeOptions(open_sinks=False), broker)
    runtime.publish("ev", frame(range(4)))
    runtime.finish()
    assert not (tmp_path / "out").exists()
    batch = queue.get(0, max_events=10)
    assert batch is not None and batch["v"].to_list() == [2, 3]


# ------------------------------------------------------------------ wal:

def test_a_wal_source_position_advances_and_its_commit_persists(tmp_path: Path) -> None:
    journal = WalJournal(tmp_path / "log", "ts")
    journal.append_batch(frame(range(3)))
    journal.append_lines([json.dumps(e).encode() for e in events(range(3, 5))])
    runtime = runtime_for(tmp_path, STREAM.format(options=""))
    context = source_context(tmp_path, runtime)

    source = registry.open_source("wal:log?consumer=reader&follow=false", context)
    assert isinstance(source, WalSource) and isinstance(source, Source)
    assert source.position() == 0
    seen = []
    for batch, dead in source.batches():
        assert dead == []
        seen.append((batch["v"].to_list(), source.position()))
    assert seen == [([0, 1, 2], 3), ([3, 4], 5)]
    source.commit()
    source.close()

    journal.append_batch(frame(range(5, 7)))
    again = registry.open_source("wal:log?consumer=reader&follow=false", context)
    assert again.position() == 5  # resumes at the committed offset
    assert [b["v"].to_list() for b, _ in again.batches()] == [[5, 6]]
    assert again.position() == 7
    again.close()  # not committed: the next reader starts at 5 again
    third = registry.open_source("wal:log?consumer=reader", context)
    assert third.position() == 5
    third.close()
    journal.close()


def test_a_missing_source_wal_is_a_connector_error(tmp_path: Path) -> None:
    runtime = runtime_for(tmp_path, STREAM.format(options=""))
    with pytest.raises(ConnectorError, match=r"source WAL not found: .*nowhere \(stream ev\)"):
        registry.open_source("wal:nowhere", source_context(tmp_path, runtime))


def test_a_wal_sink_appends_and_pre_commit_makes_it_durable(tmp_path: Path) -> None:
    runtime = runtime_for(tmp_path, STREAM.format(options=""))
    sink = registry.open_sink("wal:out/log?fsync=never", sink_context(tmp_path, runtime))
    assert isinstance(sink, WalJournal) and isinstance(sink, Sink)
    sink.write(frame(range(3)))
    sink.pre_commit(7)  # fsync=never: the job asked not to pay for flushes
    assert sink.log.synced_offset == 0
    sink.close()

    durable = registry.open_sink("wal:out/log2", sink_context(tmp_path, runtime))
    assert isinstance(durable, WalJournal)
    durable.write(frame(range(2)))
    durable.write(frame(range(2, 4)))
    durable.pre_commit(1)
    assert durable.log.synced_offset == durable.log.next_offset == 4
    durable.commit(1)
    durable.close()
    reader = LogReader(tmp_path / "out" / "log2", 0)
    frames = [record_frame(record, skip) for record, skip in reader.read()]
    reader.close()
    assert [f["v"].to_list() for f in frames] == [[0, 1], [2, 3]]


def test_the_runtime_commits_wal_sources_only_at_the_end(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path / "log") as log:
        log.append(b"\n".join(json.dumps(e).encode() for e in events(range(4))), 4, TS, TS)
    text = STREAM.format(options=", source = 'wal:log?follow=false'")
    runtime = runtime_for(tmp_path, text)
    out = runtime.collect("ev")
    runtime.start()
    (producer, source), = runtime.sources
    assert producer.topic.name == "ev" and isinstance(source, WalSource)
    runtime.run()
    assert pl.concat(out.batches)["v"].to_list() == [0, 1, 2, 3]
    assert source.position() == 4
    rerun = runtime_for(tmp_path, text)
    assert rerun.sources[0][1].position() == 4  # committed at finish


# ------------------------------------------------------------------ bus:

def test_bus_sources_and_sinks_open_through_the_registry(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "wal")
    queue = broker.subscribe("out.big")
    runtime = runtime_for(tmp_path, STREAM.format(options=", source = 'bus:in.ev'") + """
        CREATE STREAM big WITH (sink = 'bus:out.big');
        INSERT INTO big SELECT k, v, ts FROM ev WHERE v >= 2;
    """, broker=broker)
    assert runtime.sources == []  # pushed, not pulled
    (producer, source), = runtime._unbounded
    assert isinstance(source, BusSource) and isinstance(source, Source)
    assert producer.topic.name == "ev"
    broker.publish("in.ev", frame(range(3)))
    broker.publish("in.ev", pl.DataFrame({"k": ["x"], "v": ["not a number"], "ts": [TS]}))
    assert source.position() is None  # not replayable
    assert source.events_seen == 4  # events the topic delivered, dead letters included
    assert runtime.stats.dead_letters["ev"] == 1
    runtime.finish()
    batch = queue.get(0, max_events=10)
    assert batch is not None and batch["v"].to_list() == [2]
    assert queue.get(0) is None  # the sink ended the topic at the end of the stream

    sink = registry.open_sink("bus:direct", SinkContext(tmp_path, "job", runtime.graph.topics[
        "ev"], broker))
    assert isinstance(sink, BusSink) and isinstance(sink, Sink)


# ------------------------------------------------------------------ paths, sandbox

def test_each_connector_lists_the_paths_it_opens(tmp_path: Path) -> None:
    assert registry.uri_paths("file:data/x.jsonl", tmp_path) == (tmp_path / "data/x.jsonl",)
    assert registry.uri_paths("file:/abs/x.jsonl", tmp_path) == (Path("/abs/x.jsonl"),)
    assert registry.uri_paths("wal:logs/a?fsync=never", tmp_path) == (tmp_path / "logs/a",)
    assert registry.uri_paths("bus:a.b", tmp_path) == ()
    assert registry.connector_for("file:x.jsonl").writes_outside
    assert registry.connector_for("wal:x").writes_outside
    assert registry.connector_for("redis://h/s").writes_outside
    assert registry.connector_for("stdout:").writes_outside
    assert not registry.connector_for("bus:x").writes_outside
    assert registry.connector_for("bus:x").unbounded
    assert not registry.connector_for("wal:x").unbounded


def test_the_sandbox_checks_the_paths_a_third_party_connector_declares(tmp_path: Path) -> None:
    inside, outside = tmp_path / "jail", tmp_path / "elsewhere"
    inside.mkdir()
    registry.register(Connector(
        "twofiles", lambda uri, role: None, open_sink=lambda uri, context: RecordingSink(),
        paths=lambda uri, base_dir: (base_dir / "a.out", outside / "b.out")))
    try:
        job = compile_text(STREAM.format(options=", sink = 'file:x.jsonl'"))
        stream = job.streams["ev"]
        stream.sink = "twofiles:x"
        paths = [path for _, path, _ in job_paths([stream], inside, inside / "wal")]
        assert paths == [inside / "a.out", outside / "b.out"]
        refusals = job_refusals(Sandbox([inside]), [stream], inside, inside / "wal")
        assert [d.message for d in refusals] == [
            f"stream ev: sink 'twofiles:x': {outside / 'b.out'} resolves to "
            f"{outside / 'b.out'}, outside the sandbox {inside}"]
    finally:
        registry.unregister("twofiles")


# ------------------------------------------------------------------ third parties

COUNTER_MODULE = '''
"""A third-party connector: `counter:N` yields events v = 0..N-1, two per batch."""
from frys.connectors.registry import Connector, UriProblem


class CountingSource:
    def __init__(self, count, decoder):
        self.count, self.decoder, self.done = count, decoder, 0
        self.committed = None

    def batches(self):
        while self.done < self.count:
            values = range(self.done, min(self.done + 2, self.count))
            records = [({"k": "c", "v": v, "ts": 1_700_000_000_000 + v}, f"counter:{v}", "")
                       for v in values]
            self.done = values.stop
            yield self.decoder.decode_records(records)

    def position(self):
        return self.done

    def commit(self):
        self.committed = self.done
        COMMITTED.append(self.done)

    def close(self):
        pass


COMMITTED = []


def check(uri, role):
    count = uri[len("counter:"):]
    if not count.isdigit():
        return UriProblem.error(f"counter: wants a number of events, not {count!r}")
    return None


CONNECTOR = Connector("counter", check,
                      open_source=lambda uri, context: CountingSource(
                          int(uri[len("counter:"):]), context.decoder))
'''


@pytest.fixture
def counter_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed distribution (a *.dist-info on sys.path) whose entry point in the group
    frys.connectors names the `counter` connector."""
    site = tmp_path / "site"
    (site / "frys_counter-1.0.dist-info").mkdir(parents=True)
    (site / "frys_counter-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: frys-counter\nVersion: 1.0\n")
    (site / "frys_counter-1.0.dist-info" / "entry_points.txt").write_text(
        "[frys.connectors]\ncounter = frys_counter_connector:CONNECTOR\n")
    (site / "frys_counter_connector.py").write_text(COUNTER_MODULE)
    monkeypatch.syspath_prepend(str(site))
    yield site
    registry.unregister("counter")
    sys.modules.pop("frys_counter_connector", None)


def test_a_connector_from_an_entry_point_runs_in_a_job(counter_distribution: Path,
                                                       tmp_path: Path) -> None:
    assert "counter" not in registry.loaded_schemes()
    assert "frys_counter_connector" not in sys.modules
    assert check_uri("counter:5", "source") is None  # found and loaded on first use
    assert "counter" in registry.loaded_schemes()
    assert check_uri("counter:five", "source") == UriProblem.error(
        "counter: wants a number of events, not 'five'")
    assert check_uri("counter:5", "sink") == UriProblem.error(
        "connector counter: cannot be a sink")
    assert check_uri("countr:5", "source") == UriProblem.error(
        "unknown connector URI 'countr:5'; expected e.g. 'file:data/x.jsonl' "
        "(did you mean 'counter:'?)")

    runtime = runtime_for(tmp_path, STREAM.format(options=", source = 'counter:7'") + """
        CREATE STREAM big (k STRING, v INT, ts TIMESTAMP) WITH (event_time = ts);
        INSERT INTO big SELECT k, v, ts FROM ev WHERE v >= 3;
        CREATE STREAM totals (k STRING, n INT, total INT);
        INSERT INTO totals SELECT k, COUNT(*) AS n, SUM(v) AS total FROM ev GROUP BY k
            EMIT CHANGES;
    """)
    big, totals = runtime.collect("big"), runtime.collect("totals")
    stats = runtime.run()
    assert pl.concat(big.batches)["v"].to_list() == [3, 4, 5, 6]
    assert pl.concat(totals.batches).rows()[-1] == ("c", 7, 21)
    assert stats.events["ev"] == 7
    import frys_counter_connector  # type: ignore[import-not-found]

    assert frys_counter_connector.COMMITTED == [7]  # committed once, at the end of input


def test_an_entry_point_that_is_not_a_connector_of_its_scheme_is_refused(
        counter_distribution: Path) -> None:
    (counter_distribution / "frys_counter-1.0.dist-info" / "entry_points.txt").write_text(
        "[frys.connectors]\ncounter = frys_counter_connector:COMMITTED\n")
    with pytest.raises(TypeError, match="not a Connector for scheme 'counter'"):
        check_uri("counter:1", "source")


def test_a_registered_connector_serves_its_scheme_until_unregistered() -> None:
    registry.register(Connector("memory", lambda uri, role: UriProblem.later("memory:")))
    try:
        assert check_uri("memory:x", "source") == UriProblem.error(
            "connector memory: cannot be a source")
        assert registry.connector_for("memory:x").scheme == "memory"
    finally:
        registry.unregister("memory")
    assert check_uri("memory:x", "sink") == UriProblem.error(
        "unknown connector URI 'memory:x'; expected e.g. 'file:data/x.jsonl'")


# ------------------------------------------------------------------ lazy loading

LAZY_PROBE = '''
import builtins, json, sys
from pathlib import Path

importers = set()
real_import = builtins.__import__

def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
    if name.startswith("frys.connectors.wal"):
        importers.add((globals or {}).get("__name__", "?"))
    return real_import(name, globals, locals, fromlist, level)

builtins.__import__ = recording_import

from frys.connectors import registry
from frys.compiler import compile_text
from frys.engine.planner import plan
from frys.engine.runtime import DEFAULT_OPTIONS, Runtime, RuntimeOptions

folder = Path(sys.argv[1])
job = compile_text(JOB, str(folder / "job.frysql"))
runtime = Runtime(plan(job), folder, options=RuntimeOptions(allowed_paths=(folder,)))
out = runtime.collect("big")
runtime.run()
print(json.dumps({"importers": sorted(importers), "schemes": sorted(registry.loaded_schemes()),
                  "rows": sum(batch.height for batch in out.batches),
                  "modules": sorted(m for m in sys.modules if m.startswith("frys.connectors"))}))
'''


def test_a_job_without_a_wal_neither_loads_nor_imports_the_wal_connector(
        tmp_path: Path) -> None:
    (tmp_path / "ev.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events(range(5))))
    job = STREAM.format(options=", source = 'file:ev.jsonl'") + (
        "CREATE STREAM big WITH (sink = 'file:out/big.jsonl');\n"
        "INSERT INTO big SELECT k, v, ts FROM ev WHERE v > 2;\n")
    probe = f"JOB = {job!r}\n" + LAZY_PROBE
    result = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True,
                            text=True, check=True)
    report = json.loads(result.stdout)
    assert report["rows"] == 2
    assert (tmp_path / "out" / "big.jsonl").read_text().count("\n") == 2
    assert report["schemes"] == ["file"]
    assert "frys.connectors.bus_connector" not in report["modules"]
    # whatever still imports the WAL package does so at import time of the package or the
    # broker (their own modules, not the runtime's or a connector's): nothing that opens,
    # checks or sandboxes a file: job reaches for it
    assert not [name for name in report["importers"]
                if name.startswith(("frys.engine", "frys.dsl")) or name in (
                    "frys.connectors.registry", "frys.connectors.jsonl",
                    "frys.connectors.uris", "frys.connectors.sandbox")], report["importers"]


@pytest.mark.parametrize(("stream", "misspelt", "meant"), [
    ("CREATE STREAM ev (v INT)\n    WITH (source = 'redis://localhost/ev?group=g&cosumer=c');",
     "redis: option 'cosumer'", "consumer"),
    ("CREATE STREAM ev (v INT)\n    WITH (source = 'nats://localhost/ev?stream=EV&delivr=new');",
     "nats: option 'delivr'", "deliver"),
    ("CREATE STREAM ev (v INT)\n    WITH (source = 'amqp://localhost/?queue=q&prefetsh=5');",
     "amqp: option 'prefetsh'", "prefetch"),
    ("CREATE STREAM ev (v INT)\n    WITH (source = 'mqtt://localhost/ev/#?clean_sesion=false');",
     "mqtt: option 'clean_sesion'", "clean_session"),
    ("CREATE TABLE ev (v INT PRIMARY KEY)\n"
     "    WITH (source = 'postgresql://localhost/db?table=u&refersh=5');",
     "postgresql: option 'refersh'", "refresh"),
])
def test_frys_check_reports_a_misspelt_broker_option_at_its_line(
        tmp_path: Path, stream: str, misspelt: str, meant: str) -> None:
    """Every broker's URI check runs in `frys check` (no server needed): the option is
    named at the line of the stream's declaration, with a did-you-mean."""
    job = tmp_path / "job.frysql"
    job.write_text(f"{stream}\nSELECT v FROM ev;\n")
    run = subprocess.run([sys.executable, "-m", "frys", "check", str(job)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stderr
    assert "job.frysql:2:" in run.stderr
    assert f"unknown {misspelt}" in run.stderr
    assert f"(did you mean '{meant}'?)" in run.stderr

