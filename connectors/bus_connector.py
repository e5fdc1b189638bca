"""The `bus:` connector: a stream fed by, or feeding, a topic of the job's broker
(connectors/broker.py), so other threads of the process exchange events with a job.

`bus:<topic>` names one topic (no wildcards). Its source is unbounded: it pushes every batch
published to the topic into the stream until the job finishes; its sink publishes every
batch of the stream to the topic and ends it when the stream ends. Neither opens a file.

Neither survives the process: the broker's topics are in memory. A `bus:` source is not
replayable (position None: a resumed job gets what is published to the topic from then on,
and what was published while no job ran is gone), and a `bus:` sink has nothing to
recover (what it published before a crash was delivered to subscribers of a broker that
died with the process; rows written again after a resume are delivered once to the new
one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from frys.connectors.decode import DeadLetter, StreamDecoder
from frys.connectors.registry import (
    Connector,
    ConnectorError,
    Role,
    SinkContext,
    SourceContext,
    UriProblem,
)
from frys.connectors.subscriber import BatchSubscriber
from frys.connectors.uris import check_bus_uri

if TYPE_CHECKING:
    import polars as pl

    from frys.connectors.broker import Broker
    from frys.connectors.bus import Producer, Topic
    from frys.connectors.wal import WriteAheadLog


def topic_name(uri: str) -> str:
    """'bus:alerts.high' -> 'alerts.high'."""
    return uri[len("bus:"):]


class BusSource(BatchSubscriber):
    """A `bus:` source (registry.Source, unbounded): every batch published to a broker topic
    goes into the stream through `producer`; a batch that does not fit the stream's columns
    becomes a dead letter. It is not replayable: its position is None (`events_seen` counts
    the events the topic delivered to it), `seek(None)` does nothing, and the broker keeps
    no offsets for it, so there is nothing to commit."""

    def __init__(self, producer: Producer, decoder: StreamDecoder,
                 dead_letters: Callable[[Sequence[DeadLetter]], None]) -> None:
        self.producer = producer
        self.decoder = decoder
        self.dead_letters = dead_letters
        self.events_seen = 0

    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None:
        self.events_seen += batch.height
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

    # registry.Source: pushed, not pulled
    def batches(self) -> Iterator[tuple[pl.DataFrame, Sequence[DeadLetter]]]:
        """Nothing to pull: batches arrive through `on_batch` as the topic delivers them."""
        return iter(())

    def position(self) -> None:
        """None: an in-process topic cannot be read again from anywhere."""
        return None

    def seek(self, position: object) -> None:
        """Nothing to seek (position None); any other position is not a `bus:` source's."""
        if position is not None:
            raise ConnectorError(f"a bus: source cannot resume at {position!r}: its topics "
                                 "are in memory and are not replayable")

    def commit(self) -> None:
        """The broker's synchronous topics keep no offsets: nothing to record."""

    def close(self) -> None:
        """Nothing held: the broker drops its subscribers when the topic ends."""


class BusSink:
    """A `bus:` sink (registry.Sink): every batch of the stream is published to a broker
    topic as it is written (delivered synchronously, so there is nothing to stage or
    commit); `close` ends the topic for this sink, as the end of the stream does.

    Recovery: an in-memory topic does not survive the process, so nothing written before
    a crash is left to cut (recovery state None). A *persistent* topic (its WAL) does: its
    recovery state is the log's next offset at the checkpoint, and `recover` cuts the log
    back to it (WriteAheadLog.truncate_to, as a `wal:` sink does), so the batches the
    resumed job publishes again are logged once. A reader of that topic that must never
    see a batch twice reads only what a checkpoint covered (docs/guarantees.md)."""

    def __init__(self, broker: Broker, name: str) -> None:
        self.broker = broker
        self.name = name

    def write(self, batch: pl.DataFrame) -> None:
        self.broker.publish(self.name, batch)

    def _log(self) -> WriteAheadLog | None:
        """The topic's WAL when it is a persistent topic, else None."""
        topic = self.broker.topics.get(self.name)
        if topic is None or topic.kind != "persistent":
            return None
        from frys.connectors.wal_topic import WalJournal

        journal = topic.journal
        return journal.log if isinstance(journal, WalJournal) else None

    def pre_commit(self, checkpoint_id: int) -> dict[str, int] | None:
        """A persistent topic's log: synced, and its next offset as the recovery state;
        an in-memory topic: delivered already, None."""
        log = self._log()
        if log is None:
            return None
        if log.fsync.mode != "never":
            log.sync()
        return {"next_offset": log.next_offset}

    def recover(self, state: object) -> None:
        """Cut a persistent topic's log back to `state` (its `pre_commit` in the run that
        checkpointed); nothing to do for an in-memory topic (state None)."""
        if state is None:
            return
        log = self._log()
        if (log is None or not isinstance(state, dict) or set(state) != {"next_offset"}
                or type(state["next_offset"]) is not int or state["next_offset"] < 0):
            raise ConnectorError(f"cannot recover the bus: sink of topic {self.name}: "
                                 f"{state!r} is not the recovery state of a persistent "
                                 "topic's sink (is the topic persistent in this process?)")
        from frys.connectors.wal import WalError

        try:
            log.truncate_to(state["next_offset"])
        except WalError as error:
            raise ConnectorError(f"cannot recover the bus: sink of topic {self.name} to "
                                 f"offset {state['next_offset']}: {error}") from None

    def commit(self, checkpoint_id: int) -> None:
        """Delivered already."""

    def abort(self) -> None:
        """What was published was delivered; the topic stays open for its other
        publishers."""

    def close(self) -> None:
        self.broker.end(self.name)


def _check(uri: str, role: Role) -> UriProblem | None:
    problem = check_bus_uri(uri)
    return UriProblem.error(problem) if problem is not None else None


def _open_source(uri: str, context: SourceContext) -> BusSource:
    source = BusSource(context.producer, context.decoder, context.dead_letters)
    context.broker.add_subscriber(topic_name(uri), source)
    return source


def _open_sink(uri: str, context: SinkContext) -> BusSink:
    return BusSink(context.broker, topic_name(uri))


# its sink publishes into the job's own topics: a watcher of the job opens it too
BUS_CONNECTOR = Connector("bus", _check, _open_source, _open_sink, unbounded=True,
                          writes_outside=False)
