"""frys sources and sinks as bytewax partitioned sources and sinks.

A source partition is one producer of its stream: it opens the frys Source through the
connector registry (the embedded runtime's connectors, unchanged), sends each decoded
batch as ROWS with its watermark MARK, the batch's dead letters to `dead_letters` (as a
producer of that stream), LOADED after a table's first read and END at the end; its
bytewax snapshot is the source's `position()` (seeked on resume) and its clock, so a
resumed run reads exactly what follows the last snapshot. A key share's partition
(engine/scaleout/key_shares.py) opens the whole source and sends only the rows of its own
key groups, with the watermark of every row it read. A sink partition is one writer
of the stream's sink: it writes each ROWS batch; its snapshot pre-commits and commits the
sink (the recovery state the sink returns is what bytewax keeps), and a resumed run opens
the sink to recover that state, cutting back what was written after it. A sink is one
partition (on process 0, every row sent there), or, when its connector can share it
(registry.Connector.shared_sink: a folder of part files), one partition per process of
the cluster, each writing the rows its process made. Rows bound for a single writer whose
connector encodes batch by batch (registry.Connector.row_encoder: a JSON Lines file, and
stdout) travel as their encoded bytes (ENCODED), made on the process that made the rows:
the writer's process only appends them, rather than encoding every row of the cluster.

A sink commits at each of its snapshots, as soon as it has pre-committed: bytewax resumes
from the last snapshot every worker finished, so a sink whose commit cannot be undone (a
broker's publish) may see the tail of one interval again after a crash; file and WAL
sinks cut back to the recovered state, exactly once (docs/scale-out.md).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from frys.connectors import registry
from frys.connectors.broker import Broker
from frys.connectors.decode import StreamDecoder, dead_letter_frame
from frys.connectors.registry import (
    END_OF_INPUT_CHECKPOINT,
    IDLE,
    POLL_MAX_SECONDS,
    ConnectorError,
    SinkContext,
    SourceContext,
)
from frys.dsl.analyzed import DEAD_LETTERS, StreamDef
from frys.dsl.errors import FrysError
from frys.engine.scaleout.chained import Chains
from frys.engine.scaleout.cluster import note_failure
from frys.engine.scaleout.inband import END, LOADED, ROWS, STATS, Item, ProducerClock, stamped
from frys.engine.scaleout.key_shares import KeyShare, listed_by

# a sink's envelope of rows encoded where they were made (SinkPlan.row_encoder):
# (ENCODED, the bytes, how many rows)
ENCODED = "b"


def noted(error: FrysError) -> FrysError:
    """A job error a partition raises, noted for run_flow (cluster.note_failure): in a
    cluster of processes bytewax loses it on the way."""
    note_failure(error)
    return error


# rows a source partition sends as one batch at most (what its source has ready)
SOURCE_BATCH_ROWS = 1 << 18

# set by request_end: every source partition of this process ends its input at its next
# batch (a followed file, a broker never end by themselves)
END_REQUESTED = threading.Event()


def request_end() -> None:
    """End the input of every source partition of this process at its next batch; safe
    from a signal handler."""
    END_REQUESTED.set()


@dataclass(frozen=True)
class SourcePlan:
    """One frys source of the job: its URI and stream, the producer indices of its
    partitions in the stream and in dead_letters, and what opening it needs."""

    uri: str
    stream: StreamDef
    dead_letters: StreamDef
    # the source's partitions (registry.Connector.partitions; ("all",): the whole source)
    # and, per partition, its producer index in `stream` and in dead_letters
    parts: tuple[str, ...]
    producers: tuple[int, ...]
    dead_producers: tuple[int, ...]
    base_dir: Path
    job_name: str
    source_name: str  # the job file, for errors at the stream's line
    is_table: bool
    job: str = ""  # the job's fingerprint, in each snapshot (cluster.check_recovery)
    # whether this process lists the partitions (lowering._Lowering.listed): bytewax
    # gives each to a worker of a process that lists it
    listed: bool = True
    # this process's index and the cluster's processes, when it is one of several: a
    # source read as key shares is listed by each process for its own share
    process: tuple[int, int] | None = None
    # a source read as key shares (engine/scaleout/key_shares.py): the keys and the
    # number of key groups its rows are kept by
    share_keys: tuple[pl.Expr, ...] = ()
    key_groups: int = 0
    # the stateless queries run in each partition, on what it sends (chained.py)
    chains: Chains = field(default_factory=Chains)
    # the run takes recovery snapshots (-r)
    snapshotted: bool = False


class FrysSource(FixedPartitionedSource):  # type: ignore[type-arg]
    """A frys source as a bytewax source, one partition per partition of the source (a
    byte range of a big file, a part file: connectors/file_partitions.py), each a producer
    of the stream."""

    def __init__(self, plan: SourcePlan) -> None:
        self.plan = plan

    def list_parts(self) -> list[str]:
        # every worker can open every partition (files on a disk every process sees, a
        # broker's address): bytewax gives each partition to one of the workers listing it
        plan = self.plan
        if plan.share_keys and plan.process is not None:
            return listed_by(plan.parts, *plan.process)
        return list(plan.parts) if plan.listed else []

    def build_part(self, step_id: str, for_part: str,
                   resume_state: dict[str, Any] | None) -> SourcePartition:
        return SourcePartition(self.plan, self.plan.parts.index(for_part), resume_state)


class SourcePartition(StatefulSourcePartition):  # type: ignore[type-arg]
    def __init__(self, plan: SourcePlan, index: int, resume: dict[str, Any] | None) -> None:
        self.plan = plan
        self.part = plan.parts[index]
        self.producer = plan.producers[index]
        self.dead_producer = plan.dead_producers[index]
        stream = plan.stream
        context = SourceContext(plan.base_dir, plan.job_name, stream, Broker(),
                                StreamDecoder.for_stream(stream),
                                None,  # type: ignore[arg-type]  # no push source here
                                self._refused_push)
        connector = registry.connector_for(plan.uri)
        # a key share reads the whole source and keeps its own key groups' rows
        self.share = KeyShare.parse(self.part) if plan.share_keys else None
        # (its rows: an expression built once, polars expressions cost to build)
        self.keeps = None if self.share is None else self.share.keeps(list(plan.share_keys),
                                                                      plan.key_groups)
        try:
            if connector.open_partition is not None and self.share is None:
                self.source = connector.open_partition(plan.uri, context, self.part)
            else:
                self.source = registry.open_source(plan.uri, context)
        except ConnectorError as error:
            raise noted(FrysError.at(str(error), stream.span, plan.source_name)) from None
        self.clock = ProducerClock(stream)
        self.dead_clock = ProducerClock(plan.dead_letters)
        self.events = 0
        self.dead = 0
        self.state = "reading"  # -> "ended" (END sent) -> StopIteration
        self.loaded = not plan.is_table
        if resume is not None:
            self.source.seek(resume["position"])
            self.clock.restore(resume["clock"])
            self.dead_clock.restore(resume["dead_clock"])
            self.events, self.dead = resume["events"], resume["dead"]
            self.state, self.loaded = resume["state"], resume["loaded"]
        elif plan.snapshotted:
            # a fresh run that takes snapshots: its position is taken now, as the
            # embedded runtime's first checkpoint takes it before a run on --state reads
            # anything, so that a source that acknowledges as it goes when no checkpoint
            # is taken (RabbitMQ) waits for a commit from its first delivery on; bytewax
            # snapshots only at the end of the first epoch, and what was acknowledged
            # before it was lost to a crash (the resume starts from nothing)
            self.source.position()
        self.chain = plan.chains.chain()
        if resume is not None:
            self.chain.restore(resume.get("chain"))
        self.batches = iter(self.source.batches())
        self.awake: datetime | None = None
        self.wait = 0.005

    def _refused_push(self, letters: object) -> None:
        raise RuntimeError("a pushing source cannot run on the bytewax runtime")

    def next_batch(self) -> list[Item]:
        if self.state == "ended":
            raise StopIteration
        return self.chain.apply(self._next_items())

    def _next_items(self) -> list[Item]:
        plan = self.plan
        name, producer = plan.stream.name, self.producer
        self.awake = None
        # what the source has ready, up to SOURCE_BATCH_ROWS rows, as one batch: every
        # keyed query cuts a batch into one per key group, and an operator call costs
        # about the same for few rows as for many (the source's own chunks are sized for
        # one process: 64k rows of Arrow, 8 MiB of JSON Lines)
        batches: list[pl.DataFrame] = []
        dead: list[Any] = []
        rows = 0
        item = None
        while rows < SOURCE_BATCH_ROWS:
            # a stop asked for (SIGTERM, Ctrl-C without -r: request_end): the input ends
            # here, as the embedded runtime's does (windows fire, sinks commit)
            item = None if END_REQUESTED.is_set() else next(self.batches, None)
            if item is None or item is IDLE:
                break
            batches.append(item[0])
            dead.extend(item[1])
            rows += item[0].height
        if batches or dead:
            self.wait = 0.005
            return self._rows(name, producer, batches, dead)
        if item is None:
            self.state = "ended"
            self.clock.done = self.dead_clock.done = True
            return [(name, (END, producer)), (DEAD_LETTERS, (END, self.dead_producer)),
                    (STATS, ("s", {"events": {name: self.events},
                                   "dead_letters": {name: self.dead} if self.dead else {}}))]
        self.awake = datetime.now(UTC) + timedelta(seconds=self.wait)
        self.wait = min(self.wait * 2, POLL_MAX_SECONDS)
        if not self.loaded:  # a growing table has read what it held
            self.loaded = True
            return [(name, (LOADED, producer))]
        return []

    def _rows(self, name: str, producer: int, batches: list[pl.DataFrame],
              dead: list[Any]) -> list[Item]:
        out: list[Item] = []
        if dead and self.share is not None and self.share.index:
            dead = []  # every share reads them: share 0 sends them
        if dead:
            self.dead += len(dead)
            out.extend((DEAD_LETTERS, e) for e in stamped(
                self.dead_producer,
                self.dead_clock.rows(self.dead_producer, dead_letter_frame(dead))))
        batch = batches[0] if len(batches) == 1 else pl.concat(batches, how="vertical",
                                                                 rechunk=False)
        if batch.height:
            keep = None
            if self.keeps is not None:
                keep = batch.select(self.keeps).to_series()
                self.events += int(keep.sum())
            else:
                self.events += batch.height
            out.extend((name, e) for e in stamped(producer,
                                                  self.clock.rows(producer, batch, keep)))
        return out

    def next_awake(self) -> datetime | None:
        return self.awake

    def snapshot(self) -> dict[str, Any]:
        return {"uri": self.plan.uri, "parts": list(self.plan.parts),  # (check_recovery)
                "job": self.plan.job,
                "position": self.source.position(), "clock": self.clock.snapshot(),
                "dead_clock": self.dead_clock.snapshot(), "events": self.events,
                "dead": self.dead, "state": self.state, "loaded": self.loaded,
                "chain": self.chain.snapshot()}

    def close(self) -> None:
        # the position reached is committed only at the end of the input: with recovery,
        # bytewax's snapshots, not the source's own store, say where a run resumes
        if self.state == "ended":
            self.source.commit()
        self.source.close()


@dataclass(frozen=True)
class SinkPlan:
    """One frys sink of the job, or the caller's rows of a bare SELECT (`to_stdout`)."""

    uri: str | None
    stream: StreamDef
    base_dir: Path
    job_name: str
    source_name: str
    stdout_tag: str | None = None  # a bare SELECT's rows, tagged with its name if given
    # the sink's writers, one partition each: 1, or (a shared sink) the cluster's
    # processes, or the number a resumed run's recovery folder kept
    writers: int = 1
    # this process's index and the cluster's number of processes (None: one process)
    process: tuple[int, int] | None = None

    def writer_name(self, writer: int) -> str:
        """The partition of writer `writer`: its number, in 4 digits when there are
        several (bytewax orders partitions by name: FrysSink.part_fn)."""
        return "0" if self.writers == 1 else f"{writer:04d}"

    def own_parts(self) -> list[str]:
        """The partitions of the writers this process lists: writer j on process j %
        processes; a single writer listed by every process (bytewax puts it on process
        0). The sink's partitions, and the openers' (lowering._Openers)."""
        index, processes = self.process or (0, 1)
        return [self.writer_name(j) for j in range(self.writers)
                if self.writers == 1 or j % processes == index]

    def row_encoder(self) -> Callable[[pl.DataFrame], bytes] | None:
        """How this sink's rows are encoded before they travel to its writer (ENCODED), or
        None: they travel as batches. Only a single writer's: a shared sink's rows stay
        on their process."""
        if self.writers > 1:
            return None
        if self.uri is None:
            return partial(encode_stdout_rows, self.stdout_tag)
        encoder = registry.connector_for(self.uri).row_encoder
        return encoder(self.uri) if encoder is not None else None

    @property
    def local_writer(self) -> str:
        """The partition this process's rows go to: its own writer (process i writes with
        writer i % writers: one on another process only after a rescale to more)."""
        index = self.process[0] if self.process else 0
        return self.writer_name(index % self.writers)


class FrysSink(FixedPartitionedSink):  # type: ignore[type-arg]
    """A frys sink (or stdout) as a bytewax sink of `plan.writers` partitions, each on
    the process SinkPlan.own_parts names; an item's key is its partition's name."""

    def __init__(self, plan: SinkPlan) -> None:
        self.plan = plan

    def list_parts(self) -> list[str]:
        return self.plan.own_parts()

    def part_fn(self, item_key: str) -> int:
        # the index into every process's partitions in name order: the writer's number
        return int(item_key)

    def build_part(self, step_id: str, for_part: str,
                   resume_state: dict[str, Any] | None) -> StatefulSinkPartition:  # type: ignore[type-arg]
        if self.plan.uri is None:
            return StdoutPartition()
        return SinkPartition(self.plan, resume_state, int(for_part))


class SinkPartition(StatefulSinkPartition):  # type: ignore[type-arg]
    def __init__(self, plan: SinkPlan, resume: dict[str, Any] | None,
                 writer: int = 0) -> None:
        stream = plan.stream
        assert plan.uri is not None
        context = SinkContext(plan.base_dir, plan.job_name, stream, Broker(),
                              resume=resume is not None,
                              writer=(writer, plan.writers) if plan.writers > 1 else None)
        try:
            self.sink = registry.open_sink(plan.uri, context)
        except OSError as error:
            reason = f"{error.strerror}: {error.filename}" if error.filename else error
            raise noted(FrysError.at(f"cannot open the sink of stream {stream.name} "
                                     f"({plan.uri}): {reason}", stream.span,
                                     plan.source_name)) from None
        except ConnectorError as error:
            raise noted(FrysError.at(str(error), stream.span, plan.source_name)) from None
        self.plan = plan
        self.checkpoint = END_OF_INPUT_CHECKPOINT
        self.failed = False
        if resume is not None:
            self.sink.recover(resume["state"])
            self.checkpoint = int(resume["checkpoint"])

    def write_batch(self, values: list[Any]) -> None:
        # the batches of one activation (every key group's rows) written as one: a sink's
        # cost is mostly per write (formatting, a flush), and key groups cut rows small
        batches = [envelope[2] for envelope in values if envelope[0] == ROWS]
        encoded = [envelope for envelope in values if envelope[0] == ENCODED]
        try:
            if batches:
                self.sink.write(batches[0] if len(batches) == 1
                                else pl.concat(batches, how="vertical", rechunk=False))
            if encoded:  # (a plan's rows come all as batches or all encoded)
                self.sink.write_encoded(  # type: ignore[attr-defined]
                    b"".join(envelope[1] for envelope in encoded),
                    sum(envelope[2] for envelope in encoded))
        except OSError as error:
            raise self._failure(error) from None

    def snapshot(self) -> dict[str, Any]:
        self.checkpoint += 1
        try:
            state = self.sink.pre_commit(self.checkpoint)
            self.sink.commit(self.checkpoint)
        except OSError as error:
            raise self._failure(error) from None
        # (the sink and its writers: check_recovery's, for a resume to keep them)
        return {"state": state, "checkpoint": self.checkpoint, "sink": self.plan.uri,
                "writers": self.plan.writers}

    def _failure(self, error: OSError) -> FrysError:
        """A write that failed (a full disk), as the job's error; the partition is not
        committed again: bytewax closes it while it unwinds, and a second error there
        aborts the process without a word."""
        self.failed = True
        plan = self.plan
        return noted(FrysError.at(f"cannot write the sink of stream {plan.stream.name} "
                                  f"({plan.uri}): {error.strerror or error}",
                                  plan.stream.span, plan.source_name))

    def close(self) -> None:
        if self.failed:
            with contextlib.suppress(OSError):  # said; a rerun resumes from a snapshot
                self.sink.close()
            return
        self.checkpoint += 1
        try:
            self.sink.pre_commit(self.checkpoint)
            self.sink.commit(self.checkpoint)
        except OSError as error:
            raise self._failure(error) from None
        self.sink.close()


_STDOUT_LOCK = threading.Lock()


def encode_stdout_rows(tag: str | None, batch: pl.DataFrame) -> bytes:
    """A bare SELECT's rows as StdoutPartition writes them: JSON lines, tagged with the
    query (`_query`) when `tag` is given."""
    from frys.connectors.jsonl import encode_json_lines

    if tag is not None:
        batch = batch.select(pl.lit(tag).alias("_query"), pl.all())
    return encode_json_lines(batch)


class StdoutPartition(StatefulSinkPartition):  # type: ignore[type-arg]
    """A bare SELECT's rows as JSON lines on stdout (tagged with the query when the job has
    several), like `frys run` on the embedded runtime. At least once across a resume. Its
    rows come encoded (SinkPlan.row_encoder: encode_stdout_rows, tag included): it only
    writes them."""

    def __init__(self, stream: BinaryIO | None = None) -> None:
        import sys

        from frys.connectors.jsonl import JsonlWriter

        self.writer = JsonlWriter(stream or sys.stdout.buffer, close_at_end=False)

    def write_batch(self, values: list[Any]) -> None:
        for envelope in values:
            if envelope[0] == ENCODED:
                with _STDOUT_LOCK:  # workers of one process share stdout
                    self.writer.write_encoded(envelope[1], envelope[2])

    def snapshot(self) -> None:
        return None

    def close(self) -> None:
        pass


class StatsSink(FixedPartitionedSink):  # type: ignore[type-arg]
    """The run's counters, gathered from every source partition, stateless query (batch by
    batch) and key group (at the end) and written as JSON to `path` (`frys run` prints
    them as its summary), each counter's streams in the job's order (`order`: its
    streams' names), whatever order they arrived in. Kept in the snapshot, so a resumed
    run's summary counts the whole job."""

    def __init__(self, path: Path, order: tuple[str, ...] = ()) -> None:
        self.path = path
        self.order = order

    def list_parts(self) -> list[str]:
        return ["0"]

    def build_part(self, step_id: str, for_part: str,
                   resume_state: dict[str, Any] | None) -> StatsPartition:
        return StatsPartition(self.path, resume_state, self.order)


class StatsPartition(StatefulSinkPartition):  # type: ignore[type-arg]
    def __init__(self, path: Path, resume: dict[str, dict[str, int]] | None,
                 order: tuple[str, ...] = ()) -> None:
        self.path = path
        self.totals: dict[str, dict[str, int]] = resume or {}
        self.rank = {name: index for index, name in enumerate(order)}

    def write_batch(self, values: list[Any]) -> None:
        for _, counters in values:
            for counter, by_name in counters.items():
                total = self.totals.setdefault(counter, {})
                for name, value in by_name.items():
                    # events and dead letters add up over partitions; an operator's counter
                    # is cumulative per key group, reported once at the end
                    total[name] = total.get(name, 0) + int(value)

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {k: dict(v) for k, v in self.totals.items()}

    def close(self) -> None:
        import json

        last = len(self.rank)
        ordered = {counter: dict(sorted(by_name.items(),
                                        key=lambda item: self.rank.get(item[0], last)))
                   for counter, by_name in self.totals.items()}
        self.path.write_text(json.dumps(ordered))
