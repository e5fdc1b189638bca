"""A query on the scale-out runtime: one operator instance per key group.

`GroupLogic` is a bytewax stateful step's logic for one key group of one query: a
QueryRunner (engine/query_runner.py, the very class the embedded runtime drives) between
in-band input clocks (one per input stream, over the stream's producers) and outbox
writers (ChannelWriters whose batches and watermarks become envelopes). So the operator,
its lateness rules, its late/timeout/overflow side outputs and its counters are the
embedded runtime's; only the transport differs. Its bytewax snapshot is the runner's
snapshot (the operator's columnar `OperatorState`) plus the clocks: what bytewax recovery
stores per key group and hands back on resume, on whichever worker then owns the group.

A stateless query reading one of the streams a key group writes runs inside the group's
step (chained.py): the group's outgoing items pass through its `Chain`, whose clocks are
in the group's snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from bytewax.operators import StatefulBatchLogic

from frys.dsl.analyzed import OVERFLOW, StreamDef
from frys.engine.channel import Delivery
from frys.engine.graph import QueryNode
from frys.engine.job_stats import JobStats
from frys.engine.operator import OperatorSettings
from frys.engine.query_runner import QueryRunner
from frys.engine.scaleout.chained import Chains
from frys.engine.scaleout.inband import (
    END,
    LOADED,
    MARK,
    ROWS,
    STATS,
    Envelope,
    InputClock,
    Item,
    ProducerClock,
    ProducerSpec,
    stamped,
)
from frys.engine.time import END_OF_TIME

# the JobStats counters a key group reports at the end
COUNTERS = ("late_events", "incomplete_windows", "discarded_partial_matches",
            "discarded_partial_matches_for_bytes")


class OutboxWriter:
    """A ChannelWriter (engine/channel.py) whose writes become envelopes of one producer
    of `stream`, appended to `outbox` for the step to emit."""

    def __init__(self, outbox: list[Item], stream: StreamDef, producer: int,
                 forwarding: bool) -> None:
        self.outbox = outbox
        self.stream = stream.name
        self.producer = producer
        self.clock = ProducerClock(stream, forwarding)
        self.rows = 0  # written, for the run's summary

    @property
    def name(self) -> str:
        return self.stream

    def publish(self, batch: pl.DataFrame) -> None:
        self.rows += batch.height
        for envelope in stamped(self.producer, self.clock.rows(self.producer, batch)):
            self.outbox.append((self.stream, envelope))

    def advance_watermark(self, watermark: int) -> None:
        if self.clock.advance(watermark) is not None:
            self.outbox.append((self.stream, (MARK, self.producer, watermark)))

    def finish(self) -> None:
        if not self.clock.done:
            self.clock.done = True
            self.outbox.append((self.stream, (END, self.producer)))


@dataclass
class GroupPlan:
    """What every key group of one query shares: the plan node, its name, per input stream
    its definition and producers, per stream it writes (output, late, timeouts, overflow)
    its definition and its first producer index (key group g writes as `first + g`, or
    `first` when the query is one instance), the operator settings and the key-group
    assignment its state is kept under."""

    node: QueryNode
    name: str
    inputs: dict[str, tuple[StreamDef, list[ProducerSpec]]]
    writes: dict[str, tuple[StreamDef, int]]
    keyed: bool
    settings: OperatorSettings
    assignment: str
    job: str  # the job's fingerprint (engine.runtime.job_fingerprint)
    # a join with a table's current rows: the table stream, whose loading holds the
    # stream rows back (the embedded runtime reads tables before anything else)
    table_first: str | None = None
    late_targets: dict[str, str] = field(default_factory=dict)
    # the stateless queries run in this step, on what it writes (chained.py)
    chains: Chains = field(default_factory=Chains)

    def producer(self, stream: str, group: int) -> int:
        return self.writes[stream][1] + (group if self.keyed else 0)


class GroupLogic(StatefulBatchLogic):  # type: ignore[type-arg]
    """One key group of one query (see the module docstring). bytewax builds the logic
    without telling it its key, so every routed value carries its group: `(group, stream,
    envelope)`; the logic starts at its first value (or from its snapshot, which names
    the group)."""

    def __init__(self, plan: GroupPlan, resume: dict[str, Any] | None) -> None:
        self.plan = plan
        self.outbox: list[Item] = []
        self.chain = plan.chains.chain()
        self.group: int | None = None
        if resume is not None:
            self._start(int(resume["group"]))
            self._restore(resume)

    def _start(self, group: int) -> None:
        plan, node = self.plan, self.plan.node
        self.group = group

        def writer(stream: str, forwarding: bool = False) -> OutboxWriter:
            return OutboxWriter(self.outbox, plan.writes[stream][0],
                                plan.producer(stream, group), forwarding)

        # one per stream the query writes (plan.writes: output, late, timeouts, overflow);
        # only the output's watermark is forwarded from the input's
        self.writers: dict[str, OutboxWriter] = {
            stream: writer(stream, stream == node.output_topic
                           and node.watermark_lag_ms is not None)
            for stream in plan.writes}
        timeouts_stream = node.operator.timeouts_stream
        self.stats = JobStats()
        self.runner = QueryRunner(
            node, self.writers[node.output_topic], self.stats,
            {source: self.writers[target] for source, target in plan.late_targets.items()},
            self.writers[timeouts_stream] if timeouts_stream is not None else None,
            plan.settings, on_overflow=self._overflow, name=plan.name)
        self.inputs = {name: InputClock(stream, producers, group if plan.keyed else None)
                       for name, (stream, producers) in plan.inputs.items()}
        self.held: list[tuple[str, Envelope]] = []  # stream rows waiting for the table
        self.reported = False  # its counters sent to the summary (on_eof)

    # ------------------------------------------------------------ bytewax's calls

    def on_batch(self, values: list[tuple[int, str, Envelope]]
                 ) -> tuple[list[Item], bool]:
        if self.group is None:
            self._start(values[0][0])
        for _, stream, envelope in values:
            self._handle(stream, envelope)
        return self._drain(), StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[list[Item], bool]:
        if self.group is not None:
            for clock in self.inputs.values():
                if not clock.ended and clock.combined.check_idle():
                    self.runner.on_watermark(clock, clock.watermark)
        return self._drain(), StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime | None:
        """While an input with an idle_timeout is open: wake up to let its silent
        producers stop holding the watermark (nothing else would call us)."""
        if self.group is None:
            return None
        timeouts = [clock.stream.idle_timeout_ms for clock in self.inputs.values()
                    if clock.stream.idle_timeout_ms is not None and not clock.ended]
        if not timeouts:
            return None
        return datetime.now(UTC) + timedelta(milliseconds=max(10, min(timeouts) // 2))

    def on_eof(self) -> tuple[list[Item], bool]:
        """The input of this run has ended: every stream still open ends here (producers
        that never sent anything, a key group of an upstream query that never existed),
        then the group's counters go to the summary."""
        if self.group is None:
            return [], StatefulBatchLogic.RETAIN
        self._release_held(force=True)
        for name, clock in self.inputs.items():
            if not clock.ended:
                for producer, done in enumerate(clock.combined.done):
                    if not done:
                        clock.producer_done(producer)
                clock.ended = True
                self._end(name)
        if not self.reported:  # once: a resumed run of a finished job reports nothing
            self.reported = True
            counters = {name: dict(getattr(self.stats, name)) for name in COUNTERS}
            counters["events"] = {w.stream: w.rows for w in self.writers.values() if w.rows}
            self.outbox.append((STATS, ("s", counters)))
        return self._drain(), StatefulBatchLogic.RETAIN

    def snapshot(self) -> dict[str, Any] | None:
        if self.group is None:
            return None
        operator, runner = self.runner.snapshot()
        return {"group": self.group, "assignment": self.plan.assignment, "job": self.plan.job,
                "operator": operator, "runner": runner,
                "inputs": {name: clock.snapshot() for name, clock in self.inputs.items()},
                "writers": {name: w.clock.snapshot() for name, w in self.writers.items()},
                "rows": {name: w.rows for name, w in self.writers.items()},
                "held": list(self.held), "reported": self.reported,
                "chain": self.chain.snapshot()}

    # ------------------------------------------------------------ the work

    def _restore(self, state: dict[str, Any]) -> None:
        if state.get("assignment") != self.plan.assignment:
            raise ValueError(
                f"query {self.plan.name}: its recovered state was kept under key-group "
                f"assignment {state.get('assignment')} and this run uses "
                f"{self.plan.assignment} (another --key-groups, or a polars whose hash "
                "differs): the state cannot be moved; resume with the same settings")
        self.runner.restore(state["operator"], state["runner"])
        for name, clock_state in state["inputs"].items():
            self.inputs[name].restore(clock_state)
        for name, writer_state in state["writers"].items():
            self.writers[name].clock.restore(writer_state)
        for name, rows in state["rows"].items():
            self.writers[name].rows = rows
        self.held = list(state["held"])
        self.reported = bool(state.get("reported", False))
        self.chain.restore(state.get("chain"))

    def _drain(self) -> list[Item]:
        out = self.chain.apply(list(self.outbox))
        self.outbox.clear()
        return out

    def _overflow(self, query: str, rows: pl.DataFrame) -> None:
        self.writers[OVERFLOW].publish(rows.select(pl.lit(query).alias("query"), pl.all()))

    def _holding(self) -> bool:
        table = self.plan.table_first
        return table is not None and not self.inputs[table].loaded

    def _handle(self, stream: str, envelope: Envelope, may_hold: bool = True) -> None:
        if may_hold and stream != self.plan.table_first and (self.held or self._holding()):
            self.held.append((stream, envelope))  # in order, with the marks that follow
            return
        clock = self.inputs[stream]
        kind = envelope[0]
        if kind == ROWS:
            _, producer, batch, own, offsets = envelope
            self.runner.on_delivery(clock, Delivery(
                batch, clock.arrivals(producer, own),
                offsets if isinstance(offsets, pl.Series) else None))
            if clock.activity(producer):
                self.runner.on_watermark(clock, clock.watermark)
        elif kind == MARK:
            if clock.mark(envelope[1], envelope[2]):
                self.runner.on_watermark(clock, clock.watermark)
        elif kind == LOADED:
            clock.table_loaded(envelope[1])
        elif kind == END:
            before = clock.watermark
            if clock.producer_done(envelope[1]):
                self._end(stream)
            elif clock.watermark != before:
                self.runner.on_watermark(clock, clock.watermark)
        if stream == self.plan.table_first:
            self._release_held()

    def _release_held(self, force: bool = False) -> None:
        """The table has loaded (or the input ended): the stream rows held for it go in."""
        if not self.held or (self._holding() and not force):
            return
        held, self.held = self.held, []
        for stream, envelope in held:
            self._handle(stream, envelope, may_hold=False)

    def _end(self, stream: str) -> None:
        clock = self.inputs[stream]
        self.runner.on_watermark(clock, END_OF_TIME)
        self.runner.on_end(clock)
        if OVERFLOW in self.writers and all(c.ended for c in self.inputs.values()):
            # the runner finishes its output, late and timeouts writers; overflow rows
            # reach it through a callback, so their producer is finished here, once no
            # input is left to shed partial matches (without its END, readers of overflow
            # waited for the end of the run, and a query over it was never counted)
            self.writers[OVERFLOW].finish()


def builder(plan: GroupPlan) -> Callable[[dict[str, Any] | None], GroupLogic]:
    """bytewax's builder of a key group's logic, fresh or from its snapshot."""
    return lambda resume: GroupLogic(plan, resume)
