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

import hashlib
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from frys.connectors import registry
from frys.connectors.broker import Broker
from frys.connectors.bus import Collector, Producer, Subscriber, Topic
from frys.connectors.decode import (
    DeadLetter,
    StreamDecoder,
    dead_letter_frame,
)
from frys.connectors.registry import (
    ConnectorError,
    Sink,
    SinkContext,
    SinkSubscriber,
    Source,
    SourceContext,
)
from frys.connectors.sandbox import OutsideSandbox, Sandbox, job_refusals
from frys.connectors.subscriber import BatchSubscriber
from frys.dsl.analyzed import DEAD_LETTERS, OVERFLOW, StreamDef
from frys.dsl.errors import FrysError
from frys.dsl.limits import DEFAULT_LIMITS, Limits
from frys.engine.channel import Producer as ChannelProducer
from frys.engine.graph import JobGraph, QueryNode
from frys.engine.job_stats import JobStats
from frys.engine.operator import (
    DEFAULT_MAX_PARTIALS,
    DEFAULT_MAX_PARTITION_BYTES,
    DEFAULT_MAX_PATTERN_BYTES,
    OperatorSettings,
    OperatorState,
)
from frys.engine.query_runner import QueryRunner, query_names

if TYPE_CHECKING:
    # the WAL is imported only by a job with a persistent stream (_topic_for, start())
    from frys.connectors.registry import Batch
    from frys.connectors.wal import FsyncPolicy
    from frys.connectors.wal_topic import PersistentReplay
    from frys.engine.checkpoint import Checkpoint


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
    # False: sinks writing outside the process (`file:`, `wal:`, brokers, databases,
    # `stdout:`; Connector.writes_outside) are not opened, so the run writes none of the
    # job's output again (`frys tail --job` watches a job without redoing it)
    open_sinks: bool = True
    # resuming a changed job: a query whose state cannot be carried over starts empty,
    # with a warning, instead of the run being refused (engine/upgrade.py)
    allow_state_drop: bool = False


DEFAULT_OPTIONS = RuntimeOptions()


def operator_settings(options: RuntimeOptions) -> OperatorSettings:
    """The options that shape operators, as the operators take them."""
    return OperatorSettings(
        max_partial_matches=options.max_partial_matches,
        max_pattern_bytes_per_partition=options.max_pattern_bytes_per_partition,
        max_pattern_bytes=options.max_pattern_bytes,
        trace_matches=options.trace_matches)


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
    journal = None
    if stream.queue == "persistent":
        # the bus's persistent queue, not a connector: its log is the topic's journal
        from frys.connectors.wal_topic import WalJournal

        journal = WalJournal(wal_root / stream.name, stream.event_time, fsync)
    return Topic(stream.name, schema, stream.event_time, stream.watermark_ms,
                 stream.idle_timeout_ms, clock, kind=stream.queue,
                 priority=stream.priority[0] if stream.priority else None, journal=journal,
                 lock=lock, max_future_ms=stream.max_future_ms)


def job_fingerprint(graph: JobGraph) -> str:
    """What the state of a job is recognised by (checkpoints, the scale-out runtime's
    snapshots): a hash of its operator graph (explain's text), so a changed job is refused
    its state rather than fed another's."""
    # (not its first line, which names the job's file: a moved job is the same job)
    text = graph.explain().split("\n", 1)[-1]
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def job_name_of(source_name: str) -> str:
    """'jobs/fraud.frysql' -> 'fraud'; text without a file -> 'pipeline'."""
    stem = Path(source_name).stem if not source_name.startswith("<") else ""
    cleaned = "".join(c if c.isalnum() or c in "_-." else "_" for c in stem).strip(".")
    return cleaned or "pipeline"


class Runtime:
    """A running job. Build it, optionally subscribe, then `run()` (bounded sources to the
    end) or `publish()` batches yourself and `finish()`. `clock` (seconds, monotonic)
    measures idle timeouts. The job's streams are topics of `broker` (a new one unless
    given), so other threads can subscribe to them with wildcards and consumer groups.

    Sources and sinks: every one is opened through the connector registry
    (connectors/registry.py) by its URI's scheme; the runtime knows them only as the
    registry's Source and Sink. Sources are pulled by `run()` (bounded ones to their end,
    growing ones until the run is stopped), unbounded ones (`bus:`) push until
    `finish()`. Commit points: each checkpoint (`checkpoint`, then
    `checkpoint_written`: api/checkpointing.py takes them between two batches), and the
    end of input, where each sink pre-commits and commits as its stream ends
    (registry.SinkSubscriber) and `finish()` then commits every source. A runtime built
    with `resume=` a checkpoint continues from it (`restore`).

    WAL offsets: a `wal:` source, and a persistent stream no query writes to, read from the
    job's committed offset (or a resumed job's checkpointed one) when the run starts
    (`start()`, called by `run()` and the first `publish()`, replays the persistent
    streams' logs), and commit where they got to at each checkpoint and once `finish()`
    has flushed everything.

    Sandbox: with `options.allowed_paths`, a job whose files (the paths its connectors
    declare, persistent streams' logs) do not all resolve inside those folders raises
    OutsideSandbox (a FrysError naming each at its `source =`/`sink =` option) before any
    file is opened, created or truncated.
    """

    def __init__(self, graph: JobGraph, base_dir: Path,
                 caller_output: Callable[[QueryNode], Subscriber | None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 options: RuntimeOptions = DEFAULT_OPTIONS,
                 on_trace: Callable[[dict[str, object]], None] | None = None,
                 broker: Broker | None = None,
                 resume: Checkpoint | None = None) -> None:
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
            name = names[node.index, node.stage]
            # per input stream: the stream its late events go to (if it has one)
            late_of = node.operator.late_targets(node.inputs)
            late_producers = {target: self.topics[target].add_producer(
                f"{name} (late events)", lazy=True) for target in set(late_of.values())}
            late = {source: late_producers[target] for source, target in late_of.items()}
            output = self.topics[node.output_topic].add_producer(
                name, forwards_watermark=node.watermark_lag_ms is not None)
            timeouts = (self.topics[timeouts_stream].add_producer(f"{name} (timeouts)",
                                                                   lazy=True)
                        if timeouts_stream else None)
            runner = QueryRunner(node, output, self.stats, late, timeouts,
                                 operator_settings(options), on_trace,
                                 on_overflow=self._publish_overflow, name=name)
            # once per stream: a self-join has its stream twice, and the runner hands each
            # batch to every input position the stream holds
            for input_topic in dict.fromkeys(node.inputs):
                self.topics[input_topic].subscribe(runner)
            self.queries.append(runner)
            if node.to_caller and caller_output is not None:
                writer = caller_output(node)
                if writer is not None:
                    self.topics[node.output_topic].subscribe(writer)
        # bounded sources, pulled by run() until exhausted; unbounded ones push through
        # their producer until finish() ends it
        self.sources: list[tuple[Producer, Source]] = []
        self._unbounded: list[tuple[Producer, Source]] = []
        # each source and sink by the key a checkpoint names it by: "<stream> <uri>"
        self._source_keys: dict[int, str] = {}
        self._sinks: dict[str, Sink] = {}
        for source in graph.sources:
            self._add_source(source.topic, source.uri, base_dir)
        for sink in graph.sinks:
            self._add_sink(sink.topic, sink.uri, base_dir, resume is not None)
        # persistent streams fed only from outside the job: replayed from the job's offset
        # by start(); sources the run loop does not pull, like the push ones (so they are
        # in checkpoints, seeked on resume and committed like every source)
        written = {node.output_topic for node in graph.queries}
        self._replays: list[tuple[Producer, PersistentReplay]] = []
        for name, topic in self.topics.items():
            if graph.topics[name].queue == "persistent" and name not in written:
                self._add_replay(name, topic)
        # the bounded sources of tables: read to their end first (_load_tables)
        self._tables = [(producer, source) for producer, source in self.sources
                        if graph.topics[producer.topic.name].is_table]
        self._tables_loaded = False
        self._started = False
        self._next_source: str | None = None  # run(): the source whose turn is next
        # resumed from a checkpoint of a changed job: what happened to the state (restore)
        self.upgrade_notes: list[str] = []
        self.upgrade_warnings: list[str] = []
        self._clock = clock
        # run(): each pulled source's one iterator, and since when each idle one has had
        # nothing new (by id of the source)
        self._iterators: dict[int, Iterator[Batch]] = {}
        self._idle_since: dict[int, float] = {}
        self._end_requested = False  # request_end()
        # why run() ended the input before every source had ended: "idle"
        # (exit_when_idle_ms), "request" (request_end()); None: they all ended
        self.ended_by: str | None = None
        self._reading: set[int] = set()  # run(): the sources it still reads (by id)
        if resume is not None:
            self.restore(resume)

    def _add_source(self, stream_name: str, uri: str, base_dir: Path) -> None:
        stream = self.graph.topics[stream_name]
        unbounded = registry.connector_for(uri).unbounded
        producer = self.topics[stream_name].add_producer(f"source {uri}", lazy=unbounded)
        context = SourceContext(base_dir, self.job_name, stream, self.broker,
                                self.decoders[stream_name], producer,
                                self.publish_dead_letters)
        try:
            source = registry.open_source(uri, context)
        except ConnectorError as error:  # a missing input: a job error, at its stream
            raise FrysError.at(str(error), stream.span, self.graph.source_name) from None
        (self._unbounded if unbounded else self.sources).append((producer, source))
        self._source_keys[id(source)] = f"{stream_name} {uri}"

    def _add_replay(self, name: str, topic: Topic) -> None:
        from frys.connectors.wal_topic import PersistentReplay, WalJournal

        journal = topic.journal
        assert isinstance(journal, WalJournal)
        # read like a `wal:` source, so that a logged batch that no longer fits the stream
        # (the job changed since) becomes a dead letter, not a crash
        log = PersistentReplay(journal, self.decoders[name], f"{self.job_name}.{name}")
        producer = topic.add_producer("replay", lazy=True, journaled=False)
        self._replays.append((producer, log))
        self._unbounded.append((producer, log))
        # (not naming the folder: a job resumed with its logs moved, --wal-root, is the same)
        self._source_keys[id(log)] = f"{name} persistent log"

    def _add_sink(self, stream_name: str, uri: str, base_dir: Path, resume: bool) -> None:
        if not self.options.open_sinks and registry.connector_for(uri).writes_outside:
            return
        stream = self.graph.topics[stream_name]
        try:
            sink = registry.open_sink(uri, SinkContext(base_dir, self.job_name, stream,
                                                       self.broker, resume=resume))
        except OSError as error:  # a job error, like a missing source: no traceback
            reason = f"{error.strerror}: {error.filename}" if error.filename else error
            raise FrysError.at(f"cannot open the sink of stream {stream_name} ({uri}):"
                               f" {reason}", stream.span, self.graph.source_name) from None
        except ConnectorError as error:  # a server down, a table missing: no traceback
            raise FrysError.at(str(error), stream.span, self.graph.source_name) from None
        self.topics[stream_name].subscribe(SinkSubscriber(sink))
        self._sinks[f"{stream_name} {uri}"] = sink

    def start(self) -> None:
        """Read the tables' bounded sources, then replay what persistent streams logged
        since this job last committed (once)."""
        if self._started:
            return
        self._load_tables(None)
        self._started = True
        from frys.connectors.registry import IDLE

        for producer, log in self._replays:
            for item in log.batches():  # to the log's end (not followed: see PersistentReplay)
                if item is IDLE:
                    break
                batch, dead = item
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

    def _refuse_future(self, producer: ChannelProducer, rows: pl.DataFrame,
                       positions: list[int], reason: str) -> None:
        """Events of a stream with max_future too far ahead of its watermark: dead letters,
        positioned by their number among the events their producer published."""
        raws = rows.write_ndjson().splitlines()
        self.publish_dead_letters([
            DeadLetter(producer.channel.name, reason, f"{producer.name}, event {n + 1}", raw)
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

    def run(self, on_batch_read: Callable[[Producer, int], None] | None = None,
            after_batch: Callable[[int], None] | None = None,
            exit_when_idle_ms: int | None = None) -> JobStats:
        """Read every pulled source (round robin, one chunk each) until all have ended, then
        finish (end of input: every window fires). `on_batch_read(producer, events)` is
        called after each chunk a source read has gone through the graph (its producer's
        topic is the stream; dead letters not counted); `after_batch(events)` then, at that
        batch boundary, where a checkpoint may be taken (api/checkpointing.py; an exception
        it raises ends the run there, its input not ended).

        Growing sources (registry.Source: a followed file, a `wal:` log, stdin) yield IDLE
        when they have nothing new: a round in which every source was idle is followed by a
        short wait (doubling up to registry.POLL_MAX_SECONDS), `check_idle()` (streams'
        idle_timeout) and `after_batch(0)`, so time-triggered checkpoints and stop requests
        work while the input is quiet. A followed file or log never ends by itself: the run
        then goes on until `request_end()` (a signal, say), an exception from
        `after_batch`, or, with `exit_when_idle_ms`, until every source still read has been
        idle that long (`idle_ms()`); both end the input there, like the end of the bounded
        sources (windows fire, sources and sinks commit)."""
        from frys.connectors.registry import IDLE, POLL_MAX_SECONDS, POLL_MIN_SECONDS

        self._load_tables(on_batch_read)
        self.start()
        active = [(producer, source, self._batches(source))
                  for producer, source in self.sources
                  if (producer, source) not in self._tables
                  or getattr(source, "growing", False)]
        # round robin, one batch each; a resumed run goes on with the source that was next
        # (the interleaving of the sources decides what is late: it must not change)
        turn = next((i for i, (_, source, _) in enumerate(active)
                     if self._source_keys[id(source)] == self._next_source), 0)
        self._reading = {id(source) for _, source, _ in active}
        idle_in_round = 0  # sources in a row that had nothing new
        wait = POLL_MIN_SECONDS
        while active and not self._end_requested:
            producer, source, batches = active[turn]
            item = next(batches, None)
            if item is None:
                producer.finish()
                self._reading.discard(id(source))
                del active[turn]
                idle_in_round = 0
            elif item is IDLE:
                self._idle_since.setdefault(id(source), self._clock())
                idle_in_round += 1
                turn += 1
            else:
                batch, dead = item
                self._idle_since.pop(id(source), None)
                idle_in_round = 0
                wait = POLL_MIN_SECONDS
                if dead:
                    self.publish_dead_letters(dead)
                producer.publish(batch)
                turn += 1
            if turn >= len(active):
                turn = 0
            self._next_source = self._source_keys[id(active[turn][1])] if active else None
            if item is IDLE:
                if idle_in_round < len(active):
                    continue  # the others may have something
                # every source is idle: wait a little, let idle timeouts pass, and give
                # the caller a boundary (a checkpoint due by time, a stop)
                idle_in_round = 0
                time.sleep(wait)
                wait = min(wait * 2, POLL_MAX_SECONDS)
                self.check_idle()
                if after_batch is not None:
                    after_batch(0)
                if exit_when_idle_ms is not None and self.idle_ms() >= exit_when_idle_ms:
                    self.ended_by = "idle"
                    break
            elif item is not None:
                if on_batch_read is not None:
                    on_batch_read(producer, batch.height)
                if after_batch is not None:
                    after_batch(batch.height)
        if active and self._end_requested:
            self.ended_by = "request"
        self.finish()
        return self.stats

    def request_end(self) -> None:
        """Ask `run()` to end the input at its next batch boundary, as if every source had
        ended there (windows fire, sources and sinks commit): how a run without a state
        folder stops on a signal. Safe to call from a signal handler."""
        self._end_requested = True

    def idle_ms(self) -> float:
        """How long (by the runtime's clock, in ms) every source `run()` is still reading
        has had nothing new: 0 while any of them is reading or has not been asked yet."""
        reading = self._reading
        if not reading or any(key not in self._idle_since for key in reading):
            return 0.0
        return (self._clock() - max(self._idle_since[key] for key in reading)) * 1000

    def _batches(self, source: Source) -> Iterator[Batch]:
        """The one iterator of `source.batches()` this runtime reads (a growing table is
        read to its first IDLE before the streams, then on in the round robin)."""
        batches = self._iterators.get(id(source))
        if batches is None:
            batches = self._iterators[id(source)] = iter(source.batches())
        return batches

    def _load_tables(self, on_batch_read: Callable[[Producer, int], None] | None) -> None:
        """Read each table's source to its end (a growing one, to what it holds now),
        once, before anything else is read or published: a stream row joining a table's
        current rows then sees the whole table, whatever the sizes of the files."""
        if self._tables_loaded:
            return
        self._tables_loaded = True
        from frys.connectors.registry import IDLE

        for producer, source in self._tables:
            for item in self._batches(source):
                if item is IDLE:
                    break  # a growing table: the rest comes in the round robin
                batch, dead = item
                if dead:
                    self.publish_dead_letters(dead)
                producer.publish(batch)
                if on_batch_read is not None:
                    on_batch_read(producer, batch.height)
            else:
                producer.finish()

    @property
    def finished(self) -> bool:
        """The input has ended (`finish`): every window fired, every sink closed."""
        return self._finished

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
        # the pulled sources run() stopped reading (a stop, an idle exit) end here too
        for producer, _ in (*self.sources, *self._unbounded):
            producer.finish()
        # the built-in streams last: queries feed them until their inputs end
        last = (OVERFLOW, DEAD_LETTERS)
        order = [name for name in self.topics if name not in last] + list(last)
        for name in order:
            self.broker.release(name)  # events other threads published through the bus
            self.api_producers[name].finish()
        # everything read has gone through the whole graph and every sink has committed:
        # commit where the sources got to (today the only commit point: end of input)
        for batches in self._iterators.values():
            close = getattr(batches, "close", None)  # a growing source's, never exhausted
            if close is not None:
                close()
        for _, source in (*self.sources, *self._unbounded):
            source.commit()
            source.close()

    # ------------------------------------------------------------------ checkpoints

    def job_fingerprint(self) -> str:
        """What a checkpoint of this job is recognised by (job_fingerprint)."""
        return job_fingerprint(self.graph)

    def checkpoint(self, checkpoint_id: int) -> Checkpoint:
        """The job's state at this batch boundary (between two publishes, nothing in
        flight: the runtime is synchronous), as a Checkpoint for engine/checkpoint.py's
        store: every query's operator state and its inputs' combined watermark (by query
        name), every topic's event-time bookkeeping, the counters, each source's position
        and each sink's recovery state (the sinks pre-commit: what they took is durable
        from here). The job's state is not changed; `checkpoint_written` follows once the
        store has it."""
        from frys.engine.upgrade import state_signature

        operators: dict[str, OperatorState] = {}
        channels: dict[str, dict[str, object]] = {
            "runtime": {"tables_loaded": self._tables_loaded,
                        "next_source": self._next_source},
            # what each query's state means, for a changed job continuing from here
            "plans": {runner.name: state_signature(runner.node) for runner in self.queries}}
        for runner in self.queries:
            operators[runner.name], channels[f"query {runner.name}"] = runner.snapshot()
        for name, topic in self.topics.items():
            channels[f"topic {name}"] = {**topic.event_clock.snapshot(),
                                         "producers": [p.name for p in topic.producers]}
        stats = self.stats
        counters = {field: dict(getattr(stats, field)) for field in _COUNTERS}
        from frys.engine.checkpoint import Checkpoint  # msgspec, crc32c: not at start-up

        sources = {self._source_keys[id(source)]: source.position()
                   for _, source in (*self.sources, *self._unbounded)}
        # durable from here: a crash after this keeps what the checkpoint will say
        sinks = {key: sink.pre_commit(checkpoint_id) for key, sink in self._sinks.items()}
        return Checkpoint(checkpoint_id, self.job_fingerprint(), operators, channels,
                          sources, sinks, counters)

    def checkpoint_written(self, checkpoint_id: int) -> None:
        """The checkpoint is in the store: the sinks commit what they pre-committed under
        it, and the sources record their positions in their own stores (a WAL consumer's
        offset), as the checkpoint does."""
        for sink in self._sinks.values():
            sink.commit(checkpoint_id)
        for _, source in (*self.sources, *self._unbounded):
            source.commit()

    def restore(self, checkpoint: Checkpoint) -> None:
        """Continue from a checkpoint (Runtime.checkpoint), before anything is read or
        published: each query, topic and counter takes over its state. A checkpoint of a
        changed job (another graph) is matched query by query and stream by stream, by
        name (engine/upgrade.py): what cannot be carried over is refused with the reason
        (StateNotCompatible), or with `options.allow_state_drop` starts empty; what was
        carried, started empty or dropped is in `upgrade_notes` (and dropped state is also
        warned about, `upgrade_warnings`)."""
        if self._started:
            raise RuntimeError("restore a checkpoint before the run starts")
        if checkpoint.job == self.job_fingerprint():
            for runner in self.queries:
                runner.restore(checkpoint.operators[runner.name],
                               checkpoint.channels[f"query {runner.name}"])
            for name, topic in self.topics.items():
                topic.event_clock.restore(checkpoint.channels[f"topic {name}"])
        else:
            self._restore_upgraded(checkpoint)
        known = {runner.name for runner in self.queries} | set(self.topics)
        for field in _COUNTERS:
            counter = getattr(self.stats, field)
            counter.clear()
            counter.update({key: value for key, value in checkpoint.counters.get(field,
                                                                                 {}).items()
                            if key in known})
        runtime = checkpoint.channels["runtime"]
        self._tables_loaded = bool(runtime["tables_loaded"]) and all(
            self._source_keys[id(source)] in checkpoint.sources
            for _, source in self._tables)  # a new table is read (the others go on)
        self._next_source = runtime.get("next_source")
        # each source goes on from its position; each sink is cut back to the checkpoint
        # (what it took after it, before the crash, comes again, once)
        for _, source in (*self.sources, *self._unbounded):
            source.seek(checkpoint.sources.get(self._source_keys[id(source)]))
        for key, sink in self._sinks.items():
            sink.recover(checkpoint.sinks.get(key))

    def _restore_upgraded(self, checkpoint: Checkpoint) -> None:
        """restore() of a checkpoint of a changed job: queries by name and state signature,
        topics' event time by stream and producer name."""
        from frys.engine.upgrade import plan_upgrade, remap_clock, state_signature

        old_plans = checkpoint.channels.get("plans")
        if old_plans is None:
            raise ValueError(f"checkpoint {checkpoint.checkpoint_id} is another job's (its "
                             "operator graph differs) and predates state matching: this "
                             "job cannot continue from it")
        plan = plan_upgrade(old_plans,  # type: ignore[arg-type]
                            {runner.name: state_signature(runner.node)
                             for runner in self.queries}, self.options.allow_state_drop)
        for runner in self.queries:
            if runner.name not in plan.carried:
                continue
            state = checkpoint.operators[runner.name]
            old_of = plan.carried[runner.name]
            if old_of is not None:  # the same windows, other aggregates
                columns = self.graph.topics[runner.node.inputs[0]].columns or {}
                state = runner.operator.state_with_aggregates(  # type: ignore[attr-defined]
                    state, old_of, {name: kind.polars_dtype for name, kind in columns.items()})
            runner.restore(state, checkpoint.channels[f"query {runner.name}"])
        for name, topic in self.topics.items():
            old = checkpoint.channels.get(f"topic {name}")
            if old is None:  # a new stream: its event time starts as in a new job
                continue
            topic.event_clock.restore(remap_clock(
                old, old["producers"], topic.event_clock.snapshot(),  # type: ignore[arg-type]
                [producer.name for producer in topic.producers]))
        self.upgrade_notes = plan.notes + plan.warnings
        self.upgrade_warnings = plan.warnings
        for message in plan.warnings:
            warnings.warn(message, StateDropped, stacklevel=3)

    def _topic(self, stream: str) -> Topic:
        topic = self.topics.get(stream)
        if topic is None:
            raise KeyError(f"unknown stream {stream!r}; streams: {', '.join(self.topics)}")
        return topic


class StateDropped(UserWarning):
    """A changed job continued from a checkpoint without some query's state (the query is
    gone, or --allow-state-drop let an incompatible one start empty)."""


# the JobStats counters a checkpoint carries (first_dead_letters, examples for the summary,
# starts afresh)
_COUNTERS = ("events", "late_events", "dead_letters", "incomplete_windows",
             "discarded_partial_matches", "discarded_partial_matches_for_bytes")
