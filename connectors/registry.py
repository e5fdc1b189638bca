"""The connector registry: URI scheme -> how to check, open and sandbox a job's sources and
sinks.

A connector is one `Connector` value: `check(uri, role)` (the analyzer's question, touching
no disk), `open_source(uri, context)` / `open_sink(uri, context)` (the runtime's), and
`paths(uri, base_dir)` (the files and folders it will open or create, for the sandbox of
connectors/sandbox.py). Sources keep the `Source` protocol, sinks the `Sink` protocol.

Where connectors come from, first match wins:

* the built-in ones (`file:` JSON lines, `wal:` logs, `bus:` topics of the job's broker,
  `redis:` streams, `postgresql:`/`postgres:` tables, `amqp:` RabbitMQ queues,
  `nats:` JetStream streams, `mqtt:` topics),
  each named by `module:attribute` and imported only when a job first uses its scheme, so a
  job without a WAL never imports connectors/wal_topic.py;
* `register(connector)`, for an embedding application;
* the entry-point group `frys.connectors` of installed distributions (entry name = scheme,
  value = `module:attribute` of a Connector), looked up and loaded on first use of an
  unknown scheme;
* schemes planned but not built yet (`kafka:`, see WHY_NOT_YET): "not supported yet", which
  `frys check` reports (exit 3) and `frys run` refuses.

Anything else is an error naming the closest known scheme ("did you mean 'wal:'?").

Commit points: the runtime pre-commits then commits every sink, and commits every source,
at the end of input (`END_OF_INPUT_CHECKPOINT`), after everything read has gone through the
whole graph, and at each checkpoint it takes (engine/checkpoint.py). Exactly-once across a
crash rests on these protocols: a checkpoint records each source's `position()` and what
each sink's `pre_commit` returns; a resumed job opens its sources and `seek`s them there,
and opens its sinks with `SinkContext.resume` and `recover`s them to that state before any
write, so what was written after the checkpoint is cut and written again exactly once.
"""

from __future__ import annotations

import enum
import importlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, Protocol, runtime_checkable

from frys.connectors.subscriber import BatchSubscriber
from frys.dsl.errors import UriProblem, did_you_mean

if TYPE_CHECKING:
    import polars as pl

    from frys.connectors.broker import Broker
    from frys.connectors.bus import Producer, Topic
    from frys.connectors.decode import DeadLetter, StreamDecoder
    from frys.dsl.analyzed import StreamDef

Role = Literal["source", "sink"]

if TYPE_CHECKING:
    from typing import TypeAlias

    # what a Source's batches() yields: a batch and its dead letters, or IDLE
    Batch: TypeAlias = "tuple[pl.DataFrame, Sequence[DeadLetter]] | Literal[Idle.IDLE]"

ENTRY_POINT_GROUP = "frys.connectors"

# the checkpoint id of the one commit a run makes today: at the end of input
END_OF_INPUT_CHECKPOINT = 1

# scheme -> "module:attribute" of its Connector, imported on first use
BUILT_IN: dict[str, str] = {
    "file": "frys.connectors.jsonl:FILE_CONNECTOR",
    "wal": "frys.connectors.wal_topic:WAL_CONNECTOR",
    "bus": "frys.connectors.bus_connector:BUS_CONNECTOR",
    "stdin": "frys.connectors.stdin_source:STDIN_CONNECTOR",
    "stdout": "frys.connectors.stdout_sink:STDOUT_CONNECTOR",
    "redis": "frys.connectors.redis_streams:REDIS_CONNECTOR",
    "postgresql": "frys.connectors.postgresql:POSTGRESQL_CONNECTOR",
    "postgres": "frys.connectors.postgresql:POSTGRES_CONNECTOR",
    "amqp": "frys.connectors.rabbitmq:AMQP_CONNECTOR",
    "nats": "frys.connectors.nats_jetstream:NATS_CONNECTOR",
    "mqtt": "frys.connectors.mqtt:MQTT_CONNECTOR",
}


class Idle(enum.Enum):
    """The type of IDLE (an enum member, so that `item is IDLE` narrows a Batch)."""

    IDLE = "IDLE"

    def __repr__(self) -> str:
        return "IDLE"


# what a growing source's `batches()` yields when it has nothing new right now (Source)
IDLE: Final = Idle.IDLE

# how long the runtime waits, at most, between two rounds in which every source was idle
# (it starts at POLL_MIN_SECONDS and doubles while they stay idle)
POLL_MIN_SECONDS = 0.005
POLL_MAX_SECONDS = 0.15

# schemes a connector is planned for: "not supported yet", not "unknown"
PLANNED = ("kafka",)


# why a planned scheme is not built yet, where there is more to say than "not yet"
WHY_NOT_YET = {
    "kafka": " (frys ships no connector it has not tested against the real server, and no "
             "Apache Kafka broker can be installed where frys is built and tested: its "
             "releases come only from Apache's download site and Maven Central, neither "
             "reachable there; a package can add kafka: through the frys.connectors entry "
             "points, see docs/connectors.md)",
}


class ConnectorError(Exception):
    """A source or sink that cannot be opened, resumed (`Source.seek`) or recovered
    (`Sink.recover`) for a reason the job's author can act on (a missing input file or
    log, an input replaced since the checkpoint); the runtime reports it at the stream's
    declaration."""


@runtime_checkable
class Source(Protocol):
    """A job's input, decoded into its stream's schema.

    * `batches()` yields (batch, dead letters) in input order. The runtime pulls it, one
      batch per source in turn, and the source's stream ends when it is exhausted; a
      source of an `unbounded` connector pushes through `SourceContext.producer` itself
      instead, yields nothing, and its stream ends at `Runtime.finish()`.
    * A source that can grow (a followed file, a `wal:` log, stdin) sets the attribute
      `growing = True` (absent means False) and, when it has nothing new right now,
      yields the marker `IDLE` instead of blocking: the runtime then asks the other
      sources, and once every source it pulls is idle in a round it waits a short poll
      interval (backing off to POLL_MAX_SECONDS) before asking again; the stream does not
      end. Such a source must never block in `batches()` (read without waiting: a
      non-blocking read, or a reader thread and a queue). It ends (its iterator is
      exhausted) only at the true end of its input (stdin closed), or never (a followed
      file or log: the run ends by a stop, a signal or `--exit-when-idle`). `position()`
      after an IDLE is that after the last batch yielded. A bounded source never yields
      IDLE.
    * `position()` is how far the source has read: after the last batch yielded (or where
      `seek` put it, before any), in the connector's own terms, and only ever moves
      forward. It is a value msgspec can serialize (an int, a str, None, or a small dict
      of them) that a checkpoint records as it is. None means "not replayable": the
      source cannot resume (a `bus:` topic).
    * `seek(position)` is called at most once, before `batches()`, on a freshly opened
      source of a resumed job, with a value its `position()` returned in an earlier run:
      the next batches start exactly there, as if that run had gone on (same rows, same
      dead-letter positions), whatever the source's own committed progress says. If the
      input is no longer the one that position was taken in (a file replaced or cut, a
      log cut below it or past it by retention), it raises ConnectorError naming the
      input and why, rather than resume in the middle of something else. `seek(None)` is
      a no-op.
    * `commit()` makes the position durable in the source's own store, so a source that
      resumes without a checkpoint (a named WAL consumer) starts after it in the next run.
      The runtime calls it once the input has gone through the whole graph: at the end of
      input, after every window has fired and every sink has committed, and with
      checkpoints only once a checkpoint holding that position has been written.
    * `close()` releases what the source holds; nothing is read or committed after it.
    """

    def batches(self) -> Iterator[Batch]: ...

    def position(self) -> object: ...

    def seek(self, position: object) -> None: ...

    def commit(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class Sink(Protocol):
    """Where a stream's batches go, with a two-phase commit per checkpoint.

    * `write(batch)` takes every batch of the stream, in order;
    * `pre_commit(checkpoint_id)` makes everything written so far durable as far as the sink
      can, ready to be committed; after it returns, a crash loses none of it. It returns
      the sink's recovery state: a value msgspec can serialize (e.g. `{"bytes": n}`; None
      for a sink with nothing to recover) that the runtime stores in the checkpoint;
    * `commit(checkpoint_id)` makes what was pre-committed under that id final (visible);
    * `recover(state)` is called on a sink of a resumed job, opened with
      `SinkContext.resume` set (which must not discard what is already there), before any
      write, with the state the checkpoint it resumes from stored: it cuts the output
      back to exactly that state, so rows written after the checkpoint (before a crash)
      are gone and will be written again, once. An output that no longer holds that state
      (cut shorter, replaced) is refused with ConnectorError naming it: recovery never
      guesses;
    * `abort()` gives up what was not committed and releases the sink; no call follows;
    * `close()` releases the sink after its last commit; no call follows.

    The built-in sinks write through as they go (a consumer sees rows before the commit),
    so between a checkpoint and a crash a reader may see rows that `recover` later cuts
    and that are then written again: the output, once recovered, holds each row exactly
    once; a reader that must never see a row twice reads only up to the last commit.
    What each connector guarantees is stated on its sink class.
    """

    def write(self, batch: pl.DataFrame) -> None: ...

    def pre_commit(self, checkpoint_id: int) -> object: ...

    def commit(self, checkpoint_id: int) -> None: ...

    def recover(self, state: object) -> None: ...

    def abort(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SinkContext:
    """What the runtime knows when it opens a sink of `stream`."""

    base_dir: Path  # relative paths are relative to the job file's folder
    job_name: str  # names durable state (WAL consumers: <job_name>.<stream>)
    stream: StreamDef
    broker: Broker  # the job's broker (the `bus:` connector's topics)
    # a resumed job: open the sink without discarding what it holds (`recover` follows;
    # a source is `seek`ed instead). Keyword-only, so SourceContext's fields may follow.
    resume: bool = field(default=False, kw_only=True)
    # (i, n): this sink is writer i of the n that write the same URI at once (the
    # scale-out runtime writes a `shared_sink` from every process); each commits and
    # recovers its own share, and a fresh one also clears what no writer of the n owns.
    # None: the only writer
    writer: tuple[int, int] | None = field(default=None, kw_only=True)

    @property
    def stream_name(self) -> str:
        return self.stream.name

    @property
    def event_time(self) -> str | None:
        return self.stream.event_time


@dataclass(frozen=True)
class SourceContext(SinkContext):
    """What the runtime knows when it opens a source of `stream`."""

    decoder: StreamDecoder  # records -> batches in the stream's schema + dead letters
    producer: Producer  # the source's input of the stream's topic (unbounded: publish here)
    dead_letters: Callable[[Sequence[DeadLetter]], None]  # what a push source could not fit


def no_paths(uri: str, base_dir: Path) -> Sequence[Path]:
    """A connector that opens no file."""
    return ()


@dataclass(frozen=True)
class Stripes:
    """One partition of a file cut into stripes of `size` (bytes, or record batches of a
    columnar file): stripes `index`, `index + count`, `index + 2 * count`, ... Dealt round
    robin, every partition of a time-ordered file moves through time with the others, so
    the stream's watermark (their minimum) lags the newest row read by about `count`
    stripes, not by the whole file as contiguous ranges would."""

    index: int
    count: int
    size: int

    def __post_init__(self) -> None:
        if not (0 <= self.index < self.count and self.size > 0):
            raise ValueError(f"no stripes {self.index}/{self.count} of {self.size}")

    def owns(self, stripe: int) -> bool:
        return stripe % self.count == self.index

    def bounds(self, at: int) -> tuple[int, int]:
        """[start, end) of the stripe reading continues in from `at`: the stripe holding
        `at` if it is this partition's, else its next one (start > at)."""
        stripe = at // self.size
        if not self.owns(stripe):
            stripe += (self.index - stripe) % self.count
        return stripe * self.size, (stripe + 1) * self.size


@dataclass(frozen=True)
class Connector:
    """One scheme's connector. `check` must not touch the disk; `paths` lists every file or
    folder (checked with what is already in it) that opening the URI will open or create,
    resolved with the same functions the open uses, so the sandbox checks what is opened."""

    scheme: str
    check: Callable[[str, Role], UriProblem | None]
    open_source: Callable[[str, SourceContext], Source] | None = None
    open_sink: Callable[[str, SinkContext], Sink] | None = None
    paths: Callable[[str, Path], Sequence[Path]] = no_paths
    # its sinks write outside the process: files, logs, brokers, databases, stdout (the
    # default, so a third party's connector is taken to); `RuntimeOptions.open_sinks=False`
    # (a watcher of a running job, `frys tail --job`) skips them, so that watching a job
    # never writes its output again
    writes_outside: bool = True
    # its sources push until the job finishes (see Source); others are pulled to their end
    unbounded: bool = False
    # a source that can be read as independent partitions, by a runtime that reads them in
    # parallel (the scale-out runtime, engine/scaleout/): `partitions(uri, base_dir, count,
    # stripe_bytes)` names at most `count` of them (["all"]: one, the whole source), the
    # same list in every process and every run over the same input (a file: Stripes of
    # about `stripe_bytes`), and `open_partition(uri, context, name)` opens one as a Source
    # of its own (positions and seek as the connector's sources). Each partition is one
    # producer of the stream, with its own watermark
    partitions: Callable[[str, Path, int, int], list[str]] | None = None
    open_partition: Callable[[str, SourceContext, str], Source] | None = None
    # a source that costs little to read whole (`rereadable(uri, base_dir)`: an Arrow IPC
    # file or folder, whose record batches are mapped, not decoded): the scale-out runtime
    # may have every process of a cluster read it whole, each keeping its own key groups'
    # rows, rather than read it in partitions and route rows between the processes
    # (engine/scaleout/key_shares.py)
    rereadable: Callable[[str, Path], bool] | None = None
    # whether the sink of a URI can be written by several writers at once, each exactly
    # once on its own (a folder of part files: each writer's parts carry its number):
    # opened with SinkContext.writer. The scale-out runtime then writes it from every
    # process instead of sending every row to one
    shared_sink: Callable[[str], bool] | None = None
    # a sink whose output is the concatenation of bytes each batch encodes to on its own
    # (a JSON Lines file): `row_encoder(uri)` gives the encoding (None: this URI's sink has
    # none), and its sinks take `write_encoded(data, rows)`, the bytes of `rows` rows, as
    # `write` of those rows would have written them. The scale-out runtime encodes rows on
    # the process that made them, so that the one writer of such a sink only appends
    row_encoder: Callable[[str], Callable[[pl.DataFrame], bytes] | None] | None = None


class UnknownConnector(ValueError):
    """No connector for a URI's scheme."""


_lock = threading.Lock()
_loaded: dict[str, Connector] = {}  # scheme -> connector, as first used
_registered: dict[str, Connector] = {}


def scheme_of(uri: str) -> str:
    """'wal:data/x' -> 'wal'; a URI without a colon has the scheme ''."""
    return uri.split(":", 1)[0] if ":" in uri else ""


def register(connector: Connector) -> None:
    """Make `connector` serve its scheme in this process (an embedding's own connector).
    Built-in schemes cannot be replaced."""
    if connector.scheme in BUILT_IN:
        raise ValueError(f"{connector.scheme}: is a built-in connector")
    with _lock:
        _registered[connector.scheme] = connector
        _loaded.pop(connector.scheme, None)


def unregister(scheme: str) -> None:
    """Forget a connector given to `register` (or loaded from an entry point)."""
    with _lock:
        _registered.pop(scheme, None)
        _loaded.pop(scheme, None)


def loaded_schemes() -> frozenset[str]:
    """The schemes whose connectors this process has loaded so far."""
    return frozenset(_loaded)


def find_connector(scheme: str) -> Connector | None:
    """The connector of `scheme` (imported now if it is its first use), or None."""
    connector = _loaded.get(scheme)
    if connector is not None:
        return connector
    with _lock:
        connector = _loaded.get(scheme) or _registered.get(scheme)
        if connector is None:
            target = BUILT_IN.get(scheme) or _entry_point_target(scheme)
            connector = _load(target, scheme) if target is not None else None
        if connector is not None:
            _loaded[scheme] = connector
        return connector


def _entry_point_target(scheme: str) -> str | None:
    from importlib import metadata  # (~20 ms of start-up: only for a scheme not built in)

    found = metadata.entry_points(group=ENTRY_POINT_GROUP, name=scheme)
    return next((entry.value for entry in found), None)


def _load(target: str, scheme: str) -> Connector:
    module_name, _, attribute = target.partition(":")
    value = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else ():
        value = getattr(value, part)
    if not isinstance(value, Connector) or value.scheme != scheme:
        raise TypeError(f"{target} is not a Connector for scheme {scheme!r}")
    return value


def _known_schemes() -> list[str]:
    from importlib import metadata

    installed = [entry.name for entry in metadata.entry_points(group=ENTRY_POINT_GROUP)]
    return [*BUILT_IN, *_registered, *installed, *PLANNED]


def _unknown_message(uri: str) -> str:
    scheme = scheme_of(uri)
    hint = did_you_mean(f"{scheme}:", [f"{known}:" for known in _known_schemes()]) \
        if scheme else ""
    return f"unknown connector URI {uri!r}; expected e.g. 'file:data/x.jsonl'{hint}"


def connector_for(uri: str) -> Connector:
    """The connector of `uri`'s scheme; UnknownConnector (with a did-you-mean) if none."""
    connector = find_connector(scheme_of(uri))
    if connector is None:
        raise UnknownConnector(_unknown_message(uri))
    return connector


def check_uri(uri: str, role: str) -> UriProblem | None:
    """What is wrong with `uri` as a stream's `role` ('source' or 'sink'), or None. Touches
    no disk. It is the URI checker the analyzer is given (dsl.errors.UriChecker) by
    `frys.compile_text`."""
    if role not in ("source", "sink"):
        raise ValueError(f"a URI is a 'source' or a 'sink', not {role!r}")
    scheme = scheme_of(uri)
    connector = find_connector(scheme)
    if connector is None:
        if scheme in PLANNED:
            return UriProblem.later(f"connector {scheme}:{WHY_NOT_YET.get(scheme, '')}")
        return UriProblem.error(_unknown_message(uri))
    opener = connector.open_source if role == "source" else connector.open_sink
    if opener is None:
        return UriProblem.error(f"connector {scheme}: cannot be a {role}")
    return connector.check(uri, "source" if role == "source" else "sink")


def uri_paths(uri: str, base_dir: Path) -> Sequence[Path]:
    """The files and folders opening `uri` will open or create (the sandbox checks them)."""
    return connector_for(uri).paths(uri, base_dir)


def open_source(uri: str, context: SourceContext) -> Source:
    """`uri` opened as a source; ConnectorError when its input is missing."""
    connector = connector_for(uri)
    if connector.open_source is None:
        raise UnknownConnector(f"connector {connector.scheme}: cannot be a source")
    return connector.open_source(uri, context)


def open_sink(uri: str, context: SinkContext) -> Sink:
    """`uri` opened as a sink; OSError (its strerror the reason) if it cannot be."""
    connector = connector_for(uri)
    if connector.open_sink is None:
        raise UnknownConnector(f"connector {connector.scheme}: cannot be a sink")
    return connector.open_sink(uri, context)


class SinkSubscriber(BatchSubscriber):
    """Drives a Sink from its stream's topic: each batch -> `write`; the end of the stream
    -> `pre_commit` + `commit` (END_OF_INPUT_CHECKPOINT) + `close`. A write that raises
    aborts the sink, and the error goes on to the publisher; the sink takes nothing more."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.aborted = False

    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None:
        if self.aborted:
            return
        try:
            self.sink.write(batch)
        except Exception:  # an interrupt is not a failed write: the run decides what follows
            self.aborted = True
            self.sink.abort()
            raise

    def on_end(self, topic: Topic) -> None:
        if self.aborted:
            return
        self.sink.pre_commit(END_OF_INPUT_CHECKPOINT)
        self.sink.commit(END_OF_INPUT_CHECKPOINT)
        self.sink.close()
