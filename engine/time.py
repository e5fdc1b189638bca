"""Event time: watermarks as integer epoch milliseconds.

A producer's watermark is the largest event time it published minus the stream's `watermark`
delay (or one its query forwards): the claim that no event earlier than it is still to come.
A stream's watermark is the minimum over its producers (CombinedWatermark). The end of a
bounded input raises the watermark to END_OF_TIME, which flushes every window. Watermarks
never move backwards.

This module holds the rules, as values and functions over epoch-ms Series; a channel's
bookkeeping (its producers, the watermark each row arrived under, its end) is
engine/channel.py's ChannelClock, which every transport of batches (the bus topic of
connectors/bus.py, a bytewax stream) holds instead of computing watermarks itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

START_OF_TIME = -(2**63)
END_OF_TIME = 2**63 - 1


class CombinedWatermark:
    """The watermark of something fed by several inputs: the minimum of theirs.

    Each input (a source, a query writing to a topic, the API) reports its own watermark;
    the combined one is the minimum over the inputs that are neither done nor idle, and it
    never moves backwards. An input is idle when it has shown no activity (a batch or a
    watermark) for `idle_timeout_ms` of wall-clock time: it stops holding the others back
    until it is active again, and whatever it then sends behind the combined watermark is
    late. Without a timeout, a silent input holds the watermark until it is done. When every
    live input is idle, the watermark moves to the highest of theirs, as Flink's does: each
    has said all it will for now, so nothing left open waits for anyone. An input created
    `lazy` holds nothing back until its first activity (the API publishing into a stream a
    source feeds). When every input is done the watermark stays: the end of time is declared
    by whoever owns the end of input (see engine.channel.ChannelClock).
    """

    def __init__(self, idle_timeout_ms: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_timeout_ms = idle_timeout_ms
        self.clock = clock
        self.current = START_OF_TIME
        self.watermarks: list[int] = []
        self.last_active: list[float] = []
        self.holding: list[bool] = []  # live, not idle, not lazy-and-silent
        self.done: list[bool] = []

    def add_input(self, lazy: bool = False) -> int:
        """Register an input; its index identifies it from now on."""
        self.watermarks.append(START_OF_TIME)
        self.last_active.append(self._now())
        self.holding.append(not lazy)
        self.done.append(False)
        return len(self.watermarks) - 1

    def advance(self, index: int, watermark: int | None) -> bool:
        """Activity on an input, with its new watermark if it has one (None: a batch without
        event times). True when the combined watermark moved."""
        if self.done[index]:
            return False
        self.last_active[index] = self._now()
        self.holding[index] = True
        if watermark is not None and watermark > self.watermarks[index]:
            self.watermarks[index] = watermark
        return self._recompute()

    def input_done(self, index: int) -> bool:
        """The input will send nothing more; True when the combined watermark moved."""
        self.done[index] = True
        self.holding[index] = False
        return self._recompute()

    def check_idle(self) -> bool:
        """Mark inputs silent for longer than the idle timeout as idle; True when the
        combined watermark moved because of it."""
        return self.idle_timeout_ms is not None and self._recompute()

    def _recompute(self) -> bool:
        """Mark idle inputs (every recompute, so that any activity detects idleness), then
        the minimum over the inputs that hold the watermark."""
        if self.idle_timeout_ms is not None:
            cutoff = self._now() - self.idle_timeout_ms
            for index, holding in enumerate(self.holding):
                if holding and self.last_active[index] < cutoff:
                    self.holding[index] = False
        held = [w for w, h in zip(self.watermarks, self.holding, strict=True) if h]
        if held:
            candidate = min(held)
        else:  # every live input idle: they all caught up as far as they will (Flink's rule)
            live = [w for w, d in zip(self.watermarks, self.done, strict=True) if not d]
            if not live:
                return False
            candidate = max(live)
        if candidate > self.current:
            self.current = candidate
            return True
        return False

    def snapshot(self) -> dict[str, object]:
        """The combination's state as plain data (for a checkpoint): the combined watermark
        and per input its watermark, whether it holds the others back and whether it is
        done. Wall-clock activity is not kept: a restored input counts as active now."""
        return {"current": self.current, "watermarks": list(self.watermarks),
                "holding": list(self.holding), "done": list(self.done)}

    def restore(self, state: dict[str, object]) -> None:
        """Take over a snapshot, on a combination with the same inputs (the same job)."""
        watermarks = list(state["watermarks"])  # type: ignore[call-overload]
        if len(watermarks) != len(self.watermarks):
            raise ValueError(f"the checkpoint has {len(watermarks)} inputs here, the job "
                             f"{len(self.watermarks)}: it is another job's")
        self.current = int(state["current"])  # type: ignore[call-overload]
        self.watermarks = [int(w) for w in watermarks]
        self.holding = [bool(h) for h in state["holding"]]  # type: ignore[attr-defined]
        self.done = [bool(d) for d in state["done"]]  # type: ignore[attr-defined]
        self.last_active = [self._now()] * len(watermarks)

    def _now(self) -> float:
        return self.clock() * 1000.0


def event_time_millis(values: pl.Series) -> pl.Series:
    """An event-time (TIMESTAMP) column as Int64 epoch milliseconds. For millisecond
    datetimes (every stream's) that is the physical column itself: a cast costs
    microseconds where `dt.epoch` runs a polars query (0.05-0.3 ms, per batch on the hot
    path). Nulls stay null."""
    import polars as pl

    dtype = values.dtype
    if isinstance(dtype, pl.Datetime) and dtype.time_unit == "ms":
        return values.cast(pl.Int64)
    return values.dt.epoch("ms")


def behind_none(times: pl.Series, latest: int, watermark: int, delay_ms: int,
                forwarding: bool) -> bool:
    """Whether no row of a producer's batch (its epoch-ms `times`, in order) is behind the
    producer's watermark before it (`own_watermarks`), by one sortedness check: the rows are
    in order and the first is at or above the producer's `watermark` and its `latest`
    event time minus the delay. The common case, where the watermark each row arrived under
    need not be computed."""
    if times.null_count() or not times.is_sorted():
        return False
    first = times[0]
    return first >= watermark and (latest <= START_OF_TIME + delay_ms or forwarding
                                   or first >= latest - delay_ms)


def own_watermarks(times: pl.Series, latest: int, watermark: int, delay_ms: int,
                   forwarding: bool) -> pl.Expr:
    """The producer's watermark before each row of its batch (its epoch-ms `times`, in
    order): the largest event time before the row (its `latest` before the batch
    included) minus the delay, or its `watermark` (what it forwarded) if higher; only the
    forwarded one for a producer whose rows do not move its watermark (`forwarding`). An
    expression of the batch's length, for pl.select."""
    import polars as pl

    forwarded = pl.lit(watermark, dtype=pl.Int64)
    if forwarding:
        return pl.repeat(forwarded, times.len())
    floor = START_OF_TIME + delay_ms  # below it, `- delay` would wrap around
    prior = times.cum_max().shift(1, fill_value=latest) \
        .fill_null(strategy="forward").fill_null(latest)
    return pl.max_horizontal(
        pl.when(prior > floor).then(prior - delay_ms).otherwise(START_OF_TIME), forwarded)


def too_far_ahead(times: pl.Series, watermark: int, latest: int, delay_ms: int,
                  max_future_ms: int, now_ms: int) -> pl.Series:
    """Which events of a batch (epoch-ms Int64 `times`, in arrival order; null: no time)
    are more than `max_future_ms` ahead of the watermark they arrive under, when the events
    refused this way move nothing: each is compared with max(`watermark`, the largest time
    accepted before it, `latest` included, minus `delay_ms`); before the stream has any
    watermark or accepted time, with the wall clock `now_ms` (nothing else says what "now"
    is then).

    The answer is the sequential one (refusing an event lowers what later events are
    compared with), computed by refining: start with every event accepted and refuse those
    beyond; refusals only lower the references, so repeat until nothing changes. The rounds
    end at the sequential answer (a row's reference depends only on the rows before it);
    they are vectorized and few, unless each refusal exposes the next, so after a handful
    the rest is done row by row. A Boolean Series, True where refused."""
    import polars as pl

    floor = START_OF_TIME + delay_ms  # at or below it, `- delay` would wrap around
    frame = pl.DataFrame({"t": times.cast(pl.Int64)})
    refused = pl.Series("refused", [False] * len(times), dtype=pl.Boolean)
    for _ in range(8):
        accepted = pl.when(~refused & pl.col("t").is_not_null()).then(pl.col("t"))
        prior = accepted.cum_max().shift(1).fill_null(strategy="forward")
        prior = pl.max_horizontal(prior, pl.lit(latest, dtype=pl.Int64))
        reference = pl.max_horizontal(
            pl.when(prior > floor).then(prior - delay_ms).otherwise(START_OF_TIME),
            pl.lit(watermark, dtype=pl.Int64))
        reference = pl.when(reference == START_OF_TIME).then(now_ms).otherwise(reference)
        now_refused = frame.select(
            (pl.col("t") > reference + max_future_ms).fill_null(False)).to_series()
        if now_refused.equals(refused, check_names=False):
            return now_refused
        refused = now_refused.alias("refused")
    flags = []
    prior_max = latest
    for value in times.to_list():  # the slow tail of an adversarial batch
        bound: int = max(prior_max - delay_ms if prior_max > floor else START_OF_TIME,
                         watermark)
        if bound == START_OF_TIME:
            bound = now_ms
        flags.append(value is not None and value > bound + max_future_ms)
        if value is not None and not flags[-1]:
            prior_max = max(prior_max, value)
    return pl.Series("refused", flags, dtype=pl.Boolean)
