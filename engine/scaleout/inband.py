"""Event time in-band: what travels between the steps of a bytewax dataflow, and both
halves of a channel's event time (engine/channel.py ChannelClock) when there is no topic
to hold it.

Every item of the dataflow is `(stream, envelope)`, the envelope one of

* `(ROWS, producer, batch, own, first)`: a columnar batch from one producer of the
  stream; `own` is the watermark that producer had before each row (an Int64 Series), or
  None when no row is behind it (in-order input: the common case, nothing extra on the
  wire); `first` is the number of its first row among the producer's rows (from 0), or,
  once a router has cut the batch by key group, the rows' numbers (an Int64 Series) where
  the query wants them (a pattern's MATCH_IDS: `routed_offsets`), else None;
* `(MARK, producer, watermark)`: the producer's watermark moved (its largest event time
  minus the stream's delay, or what its query forwarded);
* `(LOADED, producer)`: a table's producer has read what its table held at the start
  (stream rows joined with the table's current rows wait for it, as the embedded
  runtime reads tables first);
* `(END, producer)`: the producer will send nothing more.

Producers are numbered per stream when the job is lowered (engine/scaleout/lowering.py):
each source partition, each key group of a query writing the stream, each producer of a
stateless query's input. A producer's envelopes reach a given step in the order it sent
them (bytewax keeps the order between two workers), and a MARK is sent to every key group
of every step reading the stream, so each step combines, per input stream, the minimum over
the producers it has heard from (`InputClock`), as a topic does over its producers: a
window fires in a key group exactly when it would in the embedded runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from frys.dsl.analyzed import StreamDef
from frys.engine.scaleout.key_shares import KeyShare
from frys.engine.time import (
    START_OF_TIME,
    CombinedWatermark,
    behind_none,
    event_time_millis,
    own_watermarks,
)

ROWS, MARK, LOADED, END = "r", "w", "l", "e"
_KEEP = "__frys_keep"
# the stream the counters of every step travel on to the run's summary
STATS = "__frys_stats"

Envelope = tuple  # (ROWS, int, DataFrame, Series | None) | (MARK, int, int) | (END, int) ...
Item = tuple[str, Envelope]


@dataclass(frozen=True)
class ProducerSpec:
    """One producer of a stream, as every step reading it knows it: its name (for errors
    and explain), whether it holds the watermark only once it has sent something (late
    events, timeouts, dead letters: `lazy`) and whether it loads a table."""

    name: str
    lazy: bool = False
    loads_table: bool = False
    # a key share of a source (engine/scaleout/key_shares.py): it feeds only the key
    # groups it serves, and the others do not wait for it
    share: KeyShare | None = None


class ProducerClock:
    """The producer half of a channel's event time, kept by whoever sends a producer's
    envelopes (a source partition, a query's key group): its largest event time, its
    watermark (that minus the stream's delay, or what it forwarded when it `forwarding`),
    and the `own` watermark of each row it sends (engine/channel.py ChannelClock.arrivals,
    this producer's part)."""

    __slots__ = ("delay_ms", "done", "event_time", "forwarding", "latest", "priority",
                 "sent", "watermark")

    def __init__(self, stream: StreamDef, forwarding: bool = False) -> None:
        self.event_time = stream.event_time
        self.delay_ms = stream.watermark_ms
        self.forwarding = forwarding
        # a priority stream's batches are sent highest priority first, as the embedded
        # topic delivers each published batch (connectors/bus.py): its readers see rows,
        # and judge their lateness, in that order
        self.priority = stream.priority[0] if stream.priority else None
        self.latest = START_OF_TIME
        self.watermark = START_OF_TIME
        self.done = False
        self.sent = 0  # rows sent: the number of the next one (ROWS' `first`)

    def rows(self, producer: int, batch: pl.DataFrame, keep: pl.Series | None = None
             ) -> list[Envelope]:
        """The envelopes that send `batch`: its rows (with `own` when some row is behind
        the producer's watermark before it), then a MARK if the watermark moved. `keep`
        (a key share's, engine/scaleout/key_shares.py): only the rows it selects are sent,
        and the watermark is taken over every row, as a reader of them all takes it."""
        if self.priority is not None and batch.height > 1:
            if keep is not None:
                batch = batch.with_columns(keep.alias(_KEEP))
            batch = batch.sort(self.priority, descending=True, nulls_last=True,
                               maintain_order=True)
            if keep is not None:
                keep = batch[_KEEP]
                batch = batch.drop(_KEEP)
        sent_rows = batch if keep is None else batch.filter(keep)
        first = self.sent
        self.sent += sent_rows.height
        if self.event_time is None or batch.height == 0:
            return [(ROWS, producer, sent_rows, None, first)] if sent_rows.height else []
        times = event_time_millis(batch[self.event_time])
        own = self._own(times)
        if keep is not None and own is not None:
            own = own.filter(keep)
        sent: list[Envelope] = ([(ROWS, producer, sent_rows, own, first)]
                                if sent_rows.height else [])
        latest = times.max()
        if latest is not None and int(latest) > self.latest:  # type: ignore[arg-type]
            self.latest = int(latest)  # type: ignore[arg-type]
        if not self.forwarding and self.latest != START_OF_TIME:
            moved = self.advance(self.latest - self.delay_ms)
            if moved is not None:
                sent.append(moved)
        return sent

    def _own(self, times: pl.Series) -> pl.Series | None:
        """This producer's watermark before each row (engine/time.py own_watermarks), or
        None when no row is behind it (in-order input: nothing extra on the wire)."""
        if behind_none(times, self.latest, self.watermark, self.delay_ms, self.forwarding):
            return None
        return pl.select(own_watermarks(times, self.latest, self.watermark, self.delay_ms,
                                        self.forwarding)).to_series()

    def advance(self, watermark: int) -> Envelope | None:
        """The watermark moves to `watermark` if that is ahead: the MARK to send, or None."""
        if self.done or self.event_time is None or watermark <= self.watermark:
            return None
        self.watermark = watermark
        return (MARK, -1, watermark)  # the producer index is filled in by the sender

    def snapshot(self) -> tuple[int, int, bool, int]:
        return (self.latest, self.watermark, self.done, self.sent)

    def restore(self, state: tuple[int, int, bool, int]) -> None:
        self.latest, self.watermark, self.done, self.sent = state


def routed_offsets(batch: pl.DataFrame, producer: int, first: int, producers: int
                   ) -> pl.Series:
    """The numbers of a producer's batch's rows among its stream's events, as a query that
    numbers events sees them (MATCH_IDS: `stream:offset`): the producer's own count, which
    is the embedded runtime's arrival order when the stream has one producer; with several,
    interleaved (`n * producers + producer`) so the numbers stay distinct."""
    numbers = pl.int_range(first, first + batch.height, dtype=pl.Int64, eager=True)
    return numbers if producers == 1 else numbers * producers + producer


def stamped(producer: int, envelopes: list[Envelope]) -> list[Envelope]:
    """Envelopes with the producer's index in MARKs that ProducerClock left open."""
    return [(MARK, producer, e[2]) if e[0] == MARK and e[1] == -1 else e for e in envelopes]


class InputClock:
    """The consumer half: one input stream of one step (a key group of a query), the
    minimum over the stream's producers (engine/time.py CombinedWatermark: lazy producers,
    the stream's idle_timeout), the arrival watermark of each row from a producer's `own`,
    which producers have loaded their table, and the stream's end once every producer is
    done."""

    def __init__(self, stream: StreamDef, producers: list[ProducerSpec],
                 group: int | None = None) -> None:
        self.stream = stream
        self.combined = CombinedWatermark(stream.idle_timeout_ms)
        for producer in producers:
            index = self.combined.add_input(producer.lazy)
            if group is not None and producer.share is not None \
                    and not producer.share.serves(group):
                # a key share that feeds other key groups: done for this one from the start
                # (the Router sends it none of its marks)
                self.combined.input_done(index)
        self.loading = {i for i, p in enumerate(producers) if p.loads_table}
        self.ended = not producers  # a stream nothing writes has ended from the start

    @property
    def name(self) -> str:  # a NamedChannel (engine/channel.py) for the QueryRunner
        return self.stream.name

    @property
    def watermark(self) -> int:
        return self.combined.current

    @property
    def loaded(self) -> bool:
        return not self.loading

    def arrivals(self, producer: int, own: pl.Series | None) -> pl.Series | None:
        """The watermark each row of a batch from `producer` arrives under: its own, no
        higher than the other producers' holding the watermark, never below the stream's
        (ChannelClock.arrivals); None: every row under the stream's current one."""
        if own is None:
            return None
        combined = self.combined
        others = [w for i, (w, holding) in enumerate(zip(combined.watermarks,
                                                         combined.holding, strict=True))
                  if holding and i != producer]
        if others:
            own = own.clip(upper_bound=min(others))
        return own.clip(lower_bound=combined.current)

    def activity(self, producer: int) -> bool:
        """Rows from `producer` (a lazy one starts holding the watermark)."""
        return self.combined.advance(producer, None)

    def mark(self, producer: int, watermark: int) -> bool:
        return self.combined.advance(producer, watermark)

    def table_loaded(self, producer: int) -> None:
        self.loading.discard(producer)

    def producer_done(self, producer: int) -> bool:
        """True when that ended the stream (every producer done)."""
        self.loading.discard(producer)
        self.combined.input_done(producer)
        if not self.ended and all(self.combined.done):
            self.ended = True
            return True
        return False

    def snapshot(self) -> dict[str, object]:
        return {"combined": self.combined.snapshot(), "loading": sorted(self.loading),
                "ended": self.ended}

    def restore(self, state: dict[str, object]) -> None:
        self.combined.restore(state["combined"])  # type: ignore[arg-type]
        self.loading = set(state["loading"])  # type: ignore[call-overload]
        self.ended = bool(state["ended"])
