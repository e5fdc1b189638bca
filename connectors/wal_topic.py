"""Batches in and out of a WAL: the journal of a persistent topic, durable consumers, and the
`wal:` source and sink of a job.

Payloads: a batch from the bus or a job is one record holding an Arrow IPC stream (its
schema travels with it; the record's times are the batch's event-time range, or the append
time for batches without one); `frys publish` writes JSON lines (several lines per record).
Both read back as DataFrames; a job's `wal:` source decodes JSON lines with the stream's
decoder, so a misfit line becomes a dead letter whose position is `wal:<dir>:<offset>`.

Delivery guarantees of a job's `wal:` source: it reads from its consumer's committed offset
(or, in a job resumed from a checkpoint, from the offset the checkpoint recorded: `seek`)
and follows the log as writers append to it, until the run is stopped (a growing
registry.Source: IDLE when it has caught up); with `follow=false` it reads to the end of
the log as it is when the source reaches it and ends there. It commits where it got to
when the runtime says so (the end of the run; with checkpoints, once one holding the
position is written). Without a checkpoint, a run killed before its commit is read again
from the old offset by the next one: at-least-once. A `wal:` sink cut back to its
checkpoint by `recover` makes the pair exactly-once (see WalJournal).

Registered as the `wal:` connector (WAL_CONNECTOR, connectors/registry.py); a job that uses
no `wal:` URI and no persistent stream does not need this module.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from frys.connectors.decode import DeadLetter, StreamDecoder
from frys.connectors.registry import (
    IDLE,
    Connector,
    ConnectorError,
    Role,
    SinkContext,
    SourceContext,
    UriProblem,
)
from frys.connectors.subscriber import BatchSubscriber
from frys.connectors.uris import WalUri, check_wal_uri
from frys.connectors.wal import (
    FsyncPolicy,
    LogReader,
    OffsetStore,
    PayloadFormat,
    Record,
    Retention,
    WalError,
    WriteAheadLog,
)
from frys.connectors.wal.reader import log_bounds
from frys.engine.time import event_time_millis

if TYPE_CHECKING:
    from frys.connectors.bus import Topic
    from frys.connectors.registry import Batch


def encode_batch(batch: pl.DataFrame) -> bytes:
    sink = io.BytesIO()
    batch.write_ipc_stream(sink, compression="uncompressed")
    return sink.getvalue()


def time_range(batch: pl.DataFrame, event_time: str | None,
               now_ms: int) -> tuple[int, int]:
    """The batch's event-time range in epoch ms, or (now, now) without an event time."""
    if event_time is None or event_time not in batch.columns:
        return now_ms, now_ms
    millis = event_time_millis(batch[event_time])
    low, high = millis.min(), millis.max()
    if not isinstance(low, int) or not isinstance(high, int):
        return now_ms, now_ms  # no event time in the batch (all NULL)
    return low, high


def record_lines(record: Record, skip: int) -> list[bytes]:
    """The JSON lines of a JSONL or RAW record, after the first `skip` events."""
    if record.format == PayloadFormat.RAW:
        return [record.payload] if skip == 0 else []
    lines = record.payload.splitlines()
    return lines[skip:]


def record_frame(record: Record, skip: int = 0) -> pl.DataFrame:
    """The events of a record from the `skip`-th on, as a DataFrame (JSON payloads: types
    inferred by polars)."""
    if record.format == PayloadFormat.ARROW:
        frame = pl.read_ipc_stream(io.BytesIO(record.payload))
        return frame.slice(skip) if skip else frame
    lines = record_lines(record, skip)
    if not lines:
        return pl.DataFrame()
    return pl.read_ndjson(io.BytesIO(b"\n".join(lines) + b"\n"))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class WalJournal(BatchSubscriber):
    """The log of a persistent topic (or a `wal:` sink): one record per batch.

    As a registry.Sink it appends through (`write`: a record is readable once appended);
    `pre_commit` forces the log to stable storage unless its fsync policy is `never` (the
    job asked not to pay for it) and returns the recovery state `{"next_offset": n}`, the
    offset the next record gets; `commit` has nothing left to do; `abort` and `close` close
    the log (flushing per the policy), keeping what was appended.

    Across a crash: every append is one whole write, so a kill -9 between a pre_commit and
    the next leaves the log with every record up to the recorded offset, then the records
    appended since (and at most one torn record, which opening the log truncates). A
    resumed job opens the log (opening never discards records) and `recover(state)` cuts
    it back to the recorded offset (WriteAheadLog.truncate_to: later segments deleted, the
    last truncated at a record boundary, fsynced): appending continues at that offset, and
    the records before it keep their offsets, so a reader reading from any offset sees each
    event once, in order, after recovery. A reader that read past the recorded offset
    before the crash has seen records that are cut and written again (with the same
    offsets); readers that must never see that read only what a commit covered. Refused
    (ConnectorError naming the log): a log that ends before the recorded offset (cut, or
    its unflushed tail lost with the machine under fsync `never`), and a log whose
    retention has deleted past the recorded offset (the records written before the
    checkpoint are gone with the segments: retention limits too small for the checkpoint
    interval)."""

    def __init__(self, directory: Path, event_time: str | None,
                 fsync: FsyncPolicy | None = None, retention: Retention | None = None,
                 segment_bytes: int | None = None) -> None:
        self.directory = directory
        self.event_time = event_time
        self.log = (WriteAheadLog(directory, fsync, retention=retention)
                    if segment_bytes is None else
                    WriteAheadLog(directory, fsync, segment_bytes, retention=retention))

    def append_batch(self, batch: pl.DataFrame) -> None:
        low, high = time_range(batch, self.event_time, _now_ms())
        self.log.append(encode_batch(batch), batch.height, low, high, PayloadFormat.ARROW)

    def append_lines(self, lines: list[bytes]) -> int:
        """JSON lines as one record (append time as its time); returns its first offset."""
        now = _now_ms()
        payload = b"\n".join(line.rstrip(b"\r\n") for line in lines)
        return self.log.append(payload, len(lines), now, now, PayloadFormat.JSONL)

    def close(self) -> None:
        self.log.close()

    # registry.Sink, for a `wal:` sink
    def write(self, batch: pl.DataFrame) -> None:
        self.append_batch(batch)

    def pre_commit(self, checkpoint_id: int) -> dict[str, int]:
        if self.log.fsync.mode != "never":
            self.log.sync()
        return {"next_offset": self.log.next_offset}

    def recover(self, state: object) -> None:
        """Cut the log back to `state` (from `pre_commit` in an earlier run)."""
        if not (isinstance(state, dict) and set(state) == {"next_offset"}
                and type(state["next_offset"]) is int and state["next_offset"] >= 0):
            raise ConnectorError(f"cannot recover the WAL sink {self.directory}: {state!r} "
                                 "is not the recovery state of a wal: sink")
        try:
            self.log.truncate_to(state["next_offset"])
        except WalError as error:
            raise ConnectorError(f"cannot recover the WAL sink {self.directory} to offset "
                                 f"{state['next_offset']}: {error}") from None

    def commit(self, checkpoint_id: int) -> None:
        """Appended through already: the records are readable since `write`."""

    def abort(self) -> None:
        self.close()

    # the bus's Subscriber protocol
    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None:
        self.append_batch(batch)


    def on_end(self, topic: Topic) -> None:
        self.close()


class WalConsumer:
    """Reads a WAL from a named consumer's committed offset; `commit()` records progress
    durably, so the next consumer of that name (in any process) resumes there."""

    def __init__(self, directory: str | Path, name: str, start: int | None = None) -> None:
        self.directory = Path(directory)
        self.name = name
        self.offsets = OffsetStore(self.directory)
        committed = self.offsets.load(name)
        self.reader = LogReader(self.directory, start if start is not None else committed)

    @property
    def position(self) -> int:
        """The offset after the last event handed out."""
        return self.reader.offset

    def poll(self, max_records: int | None = None) -> list[tuple[Record, int]]:
        """The records available now from the position on (with events to skip), all of
        them or about `max_records`."""
        return self.reader.read(max_records)

    def frames(self) -> list[pl.DataFrame]:
        """poll() as DataFrames."""
        return [record_frame(record, skip) for record, skip in self.poll()]

    def commit(self, offset: int | None = None) -> None:
        """Durably record `offset` (default: the position) as where to resume."""
        self.offsets.commit(self.name, self.position if offset is None else offset)

    def close(self) -> None:
        self.reader.close()


class WalSource:
    """A job source (registry.Source) reading a WAL from its consumer's committed offset
    and following it as it grows (`growing`: IDLE whenever it has caught up with the
    writers), or, with `follow=false` in its URI, to the end the log has when the source
    gets there, where it ends; its position is the log offset after
    the last event yielded (an int), and `commit()` makes the next run start there.
    `seek(offset)` (a resumed job) reads from that offset instead, whatever the consumer
    committed: the batches that follow hold exactly the events an uninterrupted read would
    have yielded after it, dead letters named by the same offsets. It refuses
    (ConnectorError naming the log) an offset retention has deleted (events the job never
    read are gone) or one past the end of the log (not the log it was read from, or cut)."""

    def __init__(self, uri: WalUri, decoder: StreamDecoder, consumer: str) -> None:
        self.uri = uri
        self.decoder = decoder
        if not uri.directory.is_dir():
            raise WalError(f"WAL directory not found: {uri.directory}")
        self.consumer = WalConsumer(uri.directory, uri.consumer or consumer)
        self.display = f"wal:{uri.directory}"
        self.growing = uri.follow is not False
        # after the last record yielded (the consumer reads records ahead, a chunk at a time)
        self._position = self.consumer.position

    def batches(self) -> Iterator[Batch]:
        """The log's records from the committed offset, a chunk of records at a time; once
        it has caught up with the writers, IDLE until they append more (following) or the
        end (follow=false)."""
        while True:
            records = self.consumer.poll(max_records=64)
            if not records:
                if not self.growing:
                    return
                yield IDLE
                continue
            for record, skip in records:
                self._position = record.next_offset
                yield self.decode(record, skip)

    def decode(self, record: Record, skip: int) -> tuple[pl.DataFrame, list[DeadLetter]]:
        if record.format == PayloadFormat.ARROW:
            frame = record_frame(record, skip)
            try:
                return self.decoder.decode_frame(frame, f"{self.display}:{record.offset + skip}")
            except TypeError as error:
                letter = DeadLetter(self.decoder.stream, str(error),
                                    f"{self.display}:{record.offset + skip}",
                                    f"<Arrow batch of {frame.height} events>")
                return self.decoder.decode_records([])[0], [letter]
        lines = record_lines(record, skip)
        return self.decoder.decode_jsonl(b"".join(line + b"\n" for line in lines),
                                         record.offset + skip, self.display)

    def position(self) -> int:
        """The log offset after the last event yielded (where a commit resumes)."""
        return self._position

    def seek(self, position: object) -> None:
        """Continue at log offset `position` (None: from the committed offset)."""
        if position is None:
            return
        if type(position) is not int or position < 0:
            raise ConnectorError(f"cannot resume the source {self.display} (stream "
                                 f"{self.decoder.stream}): {position!r} is not a position "
                                 "of a wal: source")
        start, end = log_bounds(self.uri.directory)
        problem = None
        if position > end:
            problem = (f"the log ends at offset {end}, before it (not the log the job read, "
                       "or it was cut)")
        elif position < start:
            problem = (f"retention has deleted the events before offset {start}: events "
                       f"{position} to {start - 1}, which the job has not read, are gone")
        if problem is not None:
            raise ConnectorError(f"cannot resume the source {self.display} (stream "
                                 f"{self.decoder.stream}) at offset {position}: {problem}")
        self.consumer.reader.seek(position)
        self._position = position

    def commit(self) -> None:
        """Durably record the position: the next run with this consumer starts there."""
        self.consumer.commit(self._position)

    def close(self) -> None:
        self.consumer.close()


class PersistentReplay(WalSource):
    """What a persistent stream fed from outside the job logged since the job last read it
    (registry.Source; Runtime.start() reads it to its end before anything else): its log
    from the consumer's committed offset, or from where `seek` puts it in a resumed job.

    Once replayed, everything the topic logs goes through the job as it is logged (the
    topic appends a batch to its log, then delivers it, synchronously, and the job's log
    writer holds the log's lock, so nobody else appends while the job runs): its position
    is then the log's next offset, so a checkpoint records that every event logged so far
    is in the job's state, and a job resumed from it replays exactly the events logged
    after the checkpoint (published before a crash, or by `frys publish` since)."""

    def __init__(self, journal: WalJournal, decoder: StreamDecoder, consumer: str) -> None:
        super().__init__(WalUri(journal.directory, None, None, Retention(), None,
                                follow=False), decoder, consumer)
        self.journal = journal
        self.replayed = False

    def batches(self) -> Iterator[Batch]:
        yield from super().batches()
        self.replayed = True

    def position(self) -> int:
        """The offset after the last event replayed; once replayed, the log's next offset
        (every event logged since went through the job as it was logged)."""
        return self.journal.log.next_offset if self.replayed else super().position()

    def commit(self) -> None:
        self.consumer.commit(self.position())


def open_wal_sink(uri: WalUri, event_time: str | None) -> WalJournal:
    return WalJournal(uri.directory, event_time, uri.fsync, uri.retention, uri.segment_bytes)


# ------------------------------------------------------------------ the wal: connector

def _check(uri: str, role: Role) -> UriProblem | None:
    problem = check_wal_uri(uri)
    if problem is None and role == "sink" and WalUri.parse(uri, Path(".")).follow is not None:
        problem = f"follow is an option of a wal: source, not of a sink ({uri!r})"
    return UriProblem.error(problem) if problem is not None else None


def _open_source(uri: str, context: SourceContext) -> WalSource:
    wal = WalUri.parse(uri, context.base_dir)
    if not wal.directory.is_dir():
        raise ConnectorError(f"source WAL not found: {wal.directory} (stream "
                             f"{context.stream_name})")
    return WalSource(wal, context.decoder, f"{context.job_name}.{context.stream_name}")


def _open_sink(uri: str, context: SinkContext) -> WalJournal:
    return open_wal_sink(WalUri.parse(uri, context.base_dir), context.event_time)


WAL_CONNECTOR = Connector(
    "wal", _check, _open_source, _open_sink,
    # the folder, checked by the sandbox with everything already in it
    paths=lambda uri, base_dir: (WalUri.parse(uri, base_dir).directory,))

