"""The embedded runtime: one process, no services; instantiates a JobGraph and drives it.

Data flow: sources decode chunks into batches and publish them to their stream's topic; each
query subscribes to its input topic, runs its operator on every batch and on every watermark
advance, and publishes what the operator emits to its output topic; sinks and collectors
subscribe to topics. Everything is synchronous and push-based, so a batch has travelled the
whole graph when `publish` returns.

Event time: each topic's watermark is the minimum over its producers (each source, each
query writing to it, the API), and a query forwards its input's watermark to its output when
the output's event time is derived from it (QueryNode.watermark_lag_ms), so a filter that
drops everything does not stall the queries downstream. A stream's `idle_timeout` lets a
silent producer stop holding the others back.

End of input: every topic ends when all its producers are done; the runtime's own producer
(the API's, released by `finish()`) keeps each topic open until then. So `finish()` after the
bounded sources are exhausted flushes every window downstream in dependency order, and the
built-in `dead_letters` topic ends last.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from frys.connectors.broker import Broker
from frys.connectors.bus import Collector, Producer, Topic
from frys.connectors.decode import (
    DeadLetter,
    StreamDecoder,
    dead_letter_frame,
)
from frys.connectors.jsonl import JsonlFileSource, JsonlWriter, open_file_sink
from frys.connectors.sandbox import OutsideSandbox, Sandbox, job_refusals
from frys.connectors.subscriber import BatchSubscriber
from frys.connectors.uris import WalUri, resolve_file_uri
from frys.connectors.wal import FsyncPolicy, Retention
from frys.connectors.wal_topic import WalJournal, WalSource, open_wal_sink
from frys.dsl.analyzed import DEAD_LETTERS, OVERFLOW, StreamDef
from frys.dsl.errors import FrysError
from frys.dsl.limits import DEFAULT_LIMITS, Limits
from frys.engine.graph import (
    JobGraph,
    QueryNode,
)
from frys.engine.operator import (
    DEFAULT_MAX_PARTIALS,
    DEFAULT_MAX_PARTITION_BYTES,
    DEFAULT_MAX_PATTERN_BYTES,
    BatchSource,
    Emitted,
    OperatorSettings,
)
from frys.engine.time import END_OF_TIME, CombinedWatermark
from frys.operators.registry import build_operator


@dataclass
class JobStats:
    """What a run did: events per topic, late events per query, dead letters per stream."""

    events: Counter[str] = field(default_factory=Counter)
    late_events: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    # count windows still short of their size when the input ended (they do not fire)
    incomplete_windows: Counter[str] = field(default_factory=Counter)
    # partial matches a pattern query dropped over its per-partition limit
    discarded_partial_matches: Counter[str] = field(default_factory=Counter)
    # partial matches a pattern query dropped over its byte budgets (per partition, per job)
    discarded_partial_matches_for_bytes: Counter[str] = field(default_factory=Counter)
    first_dead_letters: list[DeadLetter] = field(default_factory=list)

    @property
    def total_dead_letters(self) -> int:
        return sum(self.dead_letters.values())

    @property
    def total_late_events(self) -> int:
        return sum(self.late_events.values())


@dataclass(frozen=True)
class RuntimeOptions:
    """Settings of a run that are not part of the job's text."""

    # per pattern query and partition: partial matches kept at most; beyond it the ones
    # that started earliest are discarded and counted (JobStats.discarded_partial_matches)
    max_partial_matches: int = DEFAULT_MAX_PARTIALS
    # per pattern query: bytes its shared buffer and partial matches may take, per partition
    # and over all partitions (None: no bound); beyond them the partial matches that
    # started earliest are discarded (JobStats.discarded_partial_matches_for_bytes)
    max_pattern_bytes_per_partition: int | None = DEFAULT_MAX_PARTITION_BYTES
    max_pattern_bytes: int | None = DEFAULT_MAX_PATTERN_BYTES
    # record why every partial match of every pattern query ended (debug mode; costs time)
    trace_matches: bool = False
    # where streams with queue = 'persistent' keep their logs (<wal_root>/<stream>);
    # None: <the job file's folder>/.frys/wal
    wal_root: Path | None = None
    # how those logs reach the disk (connectors.wal.FsyncPolicy; None: its default, batch)
    wal_fsync: FsyncPolicy | None = None
    # names this job's WAL consumers (<job_name>.<stream>); None: the job file's stem
    job_name: str | None = None
    # what a job may ask for (HOP windows per event, quantifier repetitions; dsl/limits.py)
    limits: Limits = DEFAULT_LIMITS
    # the folders the job's files must resolve inside (connectors/sandbox.py): `file:` and
    # `wal:` sources and sinks and the logs of persistent streams; a job asking for a path
    # outside is refused before anything is opened. None: no sandbox (the job is trusted
    # like a script); (): the job may touch no file at all
    allowed_paths: tuple[Path, ...] | None = None
    # False: `file:` and `wal:` sinks are not opened, so the run creates and writes none of
    # the job's output files or logs (`frys tail --job` watches a job without redoing them)
    open_sinks: bool = True


DEFAULT_OPTIONS = RuntimeOptions()


def query_names(graph: JobGraph) -> dict[int, str]:
    """How the run summary, JobStats, traces and `overflow` name each query: by its output
    (`select_2` for the second bare SELECT, the target of an INSERT INTO), and where several
    queries write one stream, by the output and the query's number (`alerts (query 3)`)."""
    outputs = Counter(node.output_topic for node in graph.queries)
    return {node.index: node.output_topic if outputs[node.output_topic] == 1
            else f"{node.output_topic} (query {node.index + 1})" for node in graph.queries}


def operator_settings(options: RuntimeOptions) -> OperatorSettings:
    """The options that shape operators, as the operators take them."""
    return OperatorSettings(
        max_partial_matches=options.max_partial_matches,
        max_pattern_bytes_per_partition=options.max_pattern_bytes_per_partition,
        max_pattern_bytes=options.max_pattern_bytes,
        trace_matches=options.trace_matches)


class QueryRunner:
    """Subscribes a query's operator to its input topics and publishes what it emits: rows
    to the output stream, late events to their input's `late` stream, timed-out partial
    matches to EMIT TIMEOUTS TO's, shed ones to `overflow` (through `on_overflow`), traces
    to `on_trace`; and keeps the job's counters of the query. It knows the operator only
    through its contract (engine/operator.py)."""

    def __init__(self, node: QueryNode, output: Producer, stats: JobStats,
                 late: dict[str, Producer] | None = None, timeouts: Producer | None = None,
                 options: RuntimeOptions = DEFAULT_OPTIONS,
                 on_trace: Callable[[dict[str, object]], None] | None = None,
                 on_overflow: Callable[[str, pl.DataFrame], None] | None = None,
                 name: str | None = None) -> None:
        self.node = node
        self.on_overflow = on_overflow
        self.operator = build_operator(node.operator, operator_settings(options))
        self.on_trace = on_trace
        self.output = output
        self.late = late or {}  # per input stream with a late stream: its producer there
        self.timeouts = timeouts
        # a query over several streams: their watermarks combine (minimum), and its output
        # ends when all of them have
        names = node.inputs
        self.input_index = {name: i for i, name in enumerate(names)}
        self.inputs: CombinedWatermark | None = None
        self.ended: set[str] = set()
        if len(names) > 1:
            self.inputs = CombinedWatermark()
            for _ in names:
                self.inputs.add_input()
        self.stats = stats
        # how the counters, traces and the overflow stream name the query (query_names)
        self.name = name or node.output_topic

    def wants_arrivals(self, rows: int) -> bool:
        """Whether the operator wants a batch's arrival watermarks (Topic.arrivals) even
        when no row is behind its own."""
        return self.operator.wants_arrivals(rows)

    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None:
        source = BatchSource(topic.name, self._arrivals(topic))
        self._hand_out(self.operator.process(batch, source), topic.name)

    def _arrivals(self, topic: Topic) -> pl.Series | None:
        """The watermark each row of the batch arrived under, as this query sees it: the
        topic's (Topic.arrivals), and with several inputs no higher than the others'."""
        arrivals = topic.arrivals
        if arrivals is None or self.inputs is None:
            return arrivals
        index = self.input_index[topic.name]
        others = [w for i, w in enumerate(self.inputs.watermarks)
                  if i != index and self.inputs.holding[i]]
        if others:
            arrivals = arrivals.clip(upper_bound=min(others))
        return arrivals.clip(lower_bound=self.inputs.current)

    def on_watermark(self, topic: Topic, watermark: int) -> None:
        if self.inputs is not None:  # several input streams: the minimum of theirs
            if not self.inputs.advance(self.input_index[topic.name], watermark):
                return
            watermark = self.inputs.current
        self._hand_out(self.operator.advance(watermark))
        lag = self.node.watermark_lag_ms
        if lag is not None and watermark != END_OF_TIME:
            self.output.advance_watermark(watermark - lag)

    def _hand_out(self, emitted: Emitted, input_stream: str | None = None) -> None:
        """Publish what one operator call emitted, then update the query's counters."""
        for rows in emitted.rows:
            self.output.publish(rows)
        if emitted.late:
            # the late rows of a batch are its input's (a query over several streams
            # routes each input's to that input's late stream; without one, only counted)
            assert input_stream is not None, "only a processed batch has late events"
            late = self.late.get(input_stream)
            if late is not None:
                for rows in emitted.late:
                    late.publish(rows)
        if emitted.timeouts:
            assert self.timeouts is not None, "timeouts are kept only with EMIT TIMEOUTS TO"
            for rows in emitted.timeouts:
                self.timeouts.publish(rows)
        if emitted.overflow and self.on_overflow is not None:
            for rows in emitted.overflow:
                self.on_overflow(self.name, rows)
        if emitted.traces and self.on_trace is not None:
            for record in emitted.traces:
                self.on_trace({"query": self.name, **record})
        counters = self.operator.counters()
        for total, value in ((self.stats.late_events, counters.late_events),
                             (self.stats.incomplete_windows, counters.incomplete_windows),
                             (self.stats.discarded_partial_matches,
                              counters.discarded_partials),
                             (self.stats.discarded_partial_matches_for_bytes,
                              counters.discarded_for_bytes)):
            if value:
                total[self.name] = value

    def on_end(self, topic: Topic) -> None:
        if self.inputs is not None:
            self.ended.add(topic.name)
            self.inputs.input_done(self.input_index[topic.name])
            if len(self.ended) < len(self.input_index):
                return
            self._hand_out(self.operator.advance(END_OF_TIME))
        self.output.finish()
        for late in set(self.late.values()):
            late.finish()
        if self.timeouts is not None:
            self.timeouts.finish()


class _EventCounter(BatchSubscriber):
    def __init__(self, stats: JobStats) -> None:
        self.stats = stats

    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None:
        self.stats.events[topic.name] += batch.height




class _CallbackSubscriber(BatchSubscriber):
    def __init__(self, callback: Callable[[pl.DataFrame], None]) -> None:
        self.callback = callback

    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None:
        self.callback(batch)




def _topic_for(stream: StreamDef, clock: Callable[[], float], wal_root: Path,
               fsync: FsyncPolicy | None, lock: threading.RLock) -> Topic:
    schema = {name: t.polars_dtype for name, t in (stream.columns or {}).items()}
    journal = (WalJournal(wal_root / stream.name, stream.event_time, fsync)
               if stream.queue == "persistent" else None)
    return Topic(stream.name, schema, stream.event_time, stream.watermark_ms,
                 stream.idle_timeout_ms, clock, kind=stream.queue,
                 priority=stream.priority[0] if stream.priority else None, journal=journal,
                 lock=lock, max_future_ms=stream.max_future_ms)


def job_name_of(source_name: str) -> str:
    """'jobs/fraud.frysql' -> 'fraud'; text without a file -> 'pipeline'."""
    stem = Path(source_name).stem if not source_name.startswith("<") else ""
    cleaned = "".join(c if c.isalnum() or c in "_-." else "_" for c in stem).strip(".")
    return cleaned or "pipeline"


class _BusSource(BatchSubscriber):
    """A `bus:` source: every batch published to a broker topic goes into the stream; a
    batch that does not fit the stream's columns becomes a dead letter."""

    def __init__(self, producer: Producer, decoder: StreamDecoder,
                 dead_letters: Callable[[Sequence[DeadLetter]], None]) -> None:
        self.producer = producer
        self.decoder = decoder
        self.dead_letters = dead_letters

    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None:
        stream = self.decoder.stream
        try:
            fitted, dead = self.decoder.decode_frame(batch, f"bus:{topic.name}")
        except TypeError as error:
            self.dead_letters([DeadLetter(stream, str(error), f"bus:{topic.name}",
                                          f"<batch of {batch.height} events: "
                                          f"{dict(batch.schema)}>")])
            return
        if dead:
            self.dead_letters(dead)
        self.producer.publish(fitted)


    def on_end(self, topic: Topic) -> None:
        self.producer.finish()


class _BusSink(BatchSubscriber):
    """A `bus:` sink: every batch of the stream is published to a broker topic."""

    def __init__(self, broker: Broker, name: str) -> None:
        self.broker = broker
        self.name = name

    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None:
        self.broker.publish(self.name, batch)


    def on_end(self, topic: Topic) -> None:
        self.broker.end(self.name)


class Runtime:
    """A running job. Build it, optionally subscribe, then `run()` (bounded sources to the
    end) or `publish()` batches yourself and `finish()`. `clock` (seconds, monotonic)
    measures idle timeouts. The job's streams are topics of `broker` (a new one unless
    given), so other threads can subscribe to them with wildcards and consumer groups.

    WAL offsets: a `wal:` source, and a persistent stream no query writes to, read from the
    job's committed offset when the run starts (`start()`, called by `run()` and the first
    `publish()`), and commit where they got to once `finish()` has flushed everything.

    Sandbox: with `options.allowed_paths`, a job whose files (`file:`/`wal:` sources and
    sinks, persistent streams' logs) do not all resolve inside those folders raises
    OutsideSandbox (a FrysError naming each at its `source =`/`sink =` option) before any
    file is opened, created or truncated.
    """

    def __init__(self, graph: JobGraph, base_dir: Path,
                 caller_output: Callable[[QueryNode], JsonlWriter | None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 options: RuntimeOptions = DEFAULT_OPTIONS,
                 on_trace: Callable[[dict[str, object]], None] | None = None,
                 broker: Broker | None = None) -> None:
        self.graph = graph
        self.options = options
        self.stats = JobStats()
        self.job_name = options.job_name or job_name_of(graph.source_name)
        wal_root = options.wal_root or base_dir / ".frys" / "wal"
        if options.allowed_paths is not None:  # every path checked before any is opened
            refusals = job_refusals(Sandbox(options.allowed_paths), graph.topics.values(),
                                    base_dir, wal_root)
            if refusals:
                raise OutsideSandbox(refusals, graph.source_name)
        self.broker = broker or Broker(wal_root, clock)
        # one lock for the whole job: any thread may publish to its streams (through the
        # broker too), and a batch crosses the graph before the next one enters
        lock = threading.RLock()
        self.topics = {name: self.broker.add_topic(_topic_for(stream, clock, wal_root,
                                                              options.wal_fsync, lock))
                       for name, stream in graph.topics.items()}
        self.decoders = {name: StreamDecoder.for_stream(stream)
                         for name, stream in graph.topics.items()}
        self._finished = False
        counter = _EventCounter(self.stats)
        # the API's producers, also the runtime's claim on each topic, released by finish()
        self.api_producers: dict[str, Producer] = {}
        for name, topic in self.topics.items():
            self.api_producers[name] = topic.add_producer("api", lazy=True)
            topic.subscribe(counter)
            topic.refuse_future = self._refuse_future
        self.queries = []
        names = query_names(graph)
        for node in graph.queries:
            timeouts_stream = node.operator.timeouts_stream
            name = names[node.index]
            # per input stream: the stream its late events go to (if it has one)
            late_of = node.operator.late_targets(node.inputs)
            late_producers = {target: self.topics[target].add_producer(
                f"{name} (late events)", lazy=True) for target in set(late_of.values())}
            late = {source: late_producers[target] for source, target in late_of.items()}
            output = self.topics[node.output_topic].add_producer(name)
            timeouts = (self.topics[timeouts_stream].add_producer(f"{name} (timeouts)",
                                                                   lazy=True)
                        if timeouts_stream else None)
            runner = QueryRunner(node, output, self.stats, late, timeouts, options, on_trace,
                                 on_overflow=self._publish_overflow, name=name)
            for input_topic in node.inputs:
                self.topics[input_topic].subscribe(runner)
            self.queries.append(runner)
            if node.to_caller and caller_output is not None:
                writer = caller_output(node)
                if writer is not None:
                    self.topics[node.output_topic].subscribe(writer)
        self.sources: list[tuple[Producer, JsonlFileSource | WalSource]] = []
        # producers that only finish() ends: `bus:` sources
        self._unbounded: list[Producer] = []
        for source in graph.sources:
            self._add_source(source.topic, source.uri, base_dir)
        for sink in graph.sinks:
            topic = self.topics[sink.topic]
            if not options.open_sinks and not sink.uri.startswith("bus:"):
                continue
            try:
                if sink.uri.startswith("wal:"):
                    topic.subscribe(open_wal_sink(WalUri.parse(sink.uri, base_dir),
                                                  topic.event_time))
                elif sink.uri.startswith("bus:"):
                    topic.subscribe(_BusSink(self.broker, sink.uri[len("bus:"):]))
                else:
                    topic.subscribe(open_file_sink(resolve_file_uri(sink.uri, base_dir)))
            except OSError as error:  # a job error, like a missing source: no traceback
                reason = f"{error.strerror}: {error.filename}" if error.filename else error
                raise FrysError.at(f"cannot open the sink of stream {sink.topic} ({sink.uri}):"
                                   f" {reason}", graph.topics[sink.topic].span,
                                   graph.source_name) from None
        # persistent streams fed only from outside the job: replayed from the job's offset
        written = {node.output_topic for node in graph.queries}
        self._replays = [(name, topic) for name, topic in self.topics.items()
                         if isinstance(topic.journal, WalJournal) and name not in written]
        self._replayed: list[tuple[WalSource, WalJournal]] = []
        self._started = False

    def _add_source(self, stream_name: str, uri: str, base_dir: Path) -> None:
        stream = self.graph.topics[stream_name]
        topic = self.topics[stream_name]
        if uri.startswith("bus:"):
            producer = topic.add_producer(f"source {uri}", lazy=True)
            self._unbounded.append(producer)
            self.broker.add_subscriber(uri[len("bus:"):], _BusSource(
                producer, self.decoders[stream_name], self.publish_dead_letters))
            return
        if uri.startswith("wal:"):
            wal = WalUri.parse(uri, base_dir)
            if not wal.directory.is_dir():
                raise FrysError.at(f"source WAL not found: {wal.directory} (stream "
                                   f"{stream_name})", stream.span, self.graph.source_name)
            self.sources.append((topic.add_producer(f"source {uri}"), WalSource(
                wal, self.decoders[stream_name], f"{self.job_name}.{stream_name}")))
            return
        path = resolve_file_uri(uri, base_dir)
        if not path.is_file():
            raise FrysError.at(f"source file not found: {path} (stream {stream_name})",
                               stream.span, self.graph.source_name)
        self.sources.append((topic.add_producer(f"source {uri}"), JsonlFileSource(
            path, self.decoders[stream_name], str(path))))

    def start(self) -> None:
        """Replay what persistent streams logged since this job last committed (once)."""
        if self._started:
            return
        self._started = True
        for name, topic in self._replays:
            assert isinstance(topic.journal, WalJournal)
            # read like a `wal:` source, so that a logged batch that no longer fits the
            # stream (the job changed since) becomes a dead letter, not a crash
            log = WalSource(WalUri(topic.journal.directory, None, None, Retention(), None),
                            self.decoders[name], f"{self.job_name}.{name}")
            self._replayed.append((log, topic.journal))
            producer = topic.add_producer("replay", lazy=True, journaled=False)
            for batch, dead in log.batches():
                if dead:
                    self.publish_dead_letters(dead)
                producer.publish(batch)
            producer.finish()

    # ------------------------------------------------------------------ API

    def subscribe(self, stream: str, callback: Callable[[pl.DataFrame], None]) -> None:
        self._topic(stream).subscribe(_CallbackSubscriber(callback))

    def collect(self, stream: str) -> Collector:
        collector = Collector()
        self._topic(stream).subscribe(collector)
        return collector

    def publish(self, stream: str, batch: pl.DataFrame,
                dead: Sequence[DeadLetter] = ()) -> None:
        """Publish a batch already in the stream's schema, and its dead letters."""
        self.start()
        if dead:
            self.publish_dead_letters(dead)
        self._topic(stream)
        self.api_producers[stream].publish(batch)

    def _refuse_future(self, producer: Producer, rows: pl.DataFrame, positions: list[int],
                       reason: str) -> None:
        """Events of a stream with max_future too far ahead of its watermark: dead letters,
        positioned by their number among the events their producer published."""
        raws = rows.write_ndjson().splitlines()
        self.publish_dead_letters([
            DeadLetter(producer.topic.name, reason, f"{producer.name}, event {n + 1}", raw)
            for n, raw in zip(positions, raws, strict=True)])

    def _publish_overflow(self, query: str, rows: pl.DataFrame) -> None:
        """Partial matches a pattern query shed over a limit: rows of `overflow`."""
        self.api_producers[OVERFLOW].publish(
            rows.select(pl.lit(query).alias("query"), pl.all()))

    def publish_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        for letter in letters:
            self.stats.dead_letters[letter.stream] += 1
            if len(self.stats.first_dead_letters) < 10:
                self.stats.first_dead_letters.append(letter)
        self.api_producers[DEAD_LETTERS].publish(dead_letter_frame(letters))

    def run(self, on_batch_read: Callable[[Producer, int], None] | None = None) -> JobStats:
        """Read every bounded source to its end (round robin, one chunk each), then finish.
        `on_batch_read(producer, events)` is called after each chunk a source read has gone
        through the graph (its producer's topic is the stream; dead letters not counted)."""
        self.start()
        active = [(producer, iter(source.batches())) for producer, source in self.sources]
        while active:
            still_active = []
            for producer, batches in active:
                item = next(batches, None)
                if item is None:
                    producer.finish()
                    continue
                batch, dead = item
                if dead:
                    self.publish_dead_letters(dead)
                producer.publish(batch)
                if on_batch_read is not None:
                    on_batch_read(producer, batch.height)
                still_active.append((producer, batches))
            active = still_active
        self.finish()
        return self.stats

    def check_idle(self) -> None:
        """Let producers silent for longer than their stream's idle_timeout stop holding its
        watermark back. Publishing checks this too; call it when nothing is being published
        but time passes (a long-lived embedding with a quiet input)."""
        for topic in self.topics.values():
            topic.check_idle()

    def finish(self) -> None:
        """End of input for everything not yet ended: flush all windows, close all sinks."""
        if self._finished:
            return
        self._finished = True
        self.start()
        for producer in self._unbounded:
            producer.finish()
        # the built-in streams last: queries feed them until their inputs end
        last = (OVERFLOW, DEAD_LETTERS)
        order = [name for name in self.topics if name not in last] + list(last)
        for name in order:
            self.broker.release(name)  # events other threads published through the bus
            self.api_producers[name].finish()
        # everything read has gone through the whole graph: commit where the logs got to
        for _, source in self.sources:
            if isinstance(source, WalSource):
                source.commit()
                source.close()
        for log, journal in self._replayed:  # replayed, then appended to while running
            log.consumer.commit(journal.log.next_offset)
            log.close()

    def _topic(self, stream: str) -> Topic:
        topic = self.topics.get(stream)
        if topic is None:
            raise KeyError(f"unknown stream {stream!r}; streams: {', '.join(self.topics)}")
        return topic
