"""Stateless queries chained into the steps that produce their input.

A filter/projection keeps no state of its own but its output's clock: the number of the
next row it writes (a pattern downstream numbers a stream's events by it: MATCH_IDS) and
its watermark. Run as a bytewax step of its own (a flat_map), it kept that clock per
worker, in no snapshot: a resumed run numbered its rows from 0 again, giving events
numbers already given, and took its watermark up again from its next rows.

So, as Flink chains operators into the task upstream of them, a stateless query runs
inside every step that produces its input: each source partition (engine/scaleout/io.py)
and each key group of a query (group_step.py) keeps a `Chain` that takes the step's
outgoing items, in their order, and adds after each one what the stateless queries
reading its stream make of it (and what queries reading theirs make of that: chains
nest). The query's clocks, one per output producer, are kept in that step's snapshot and
restored with it: a resume goes on numbering, and with the watermark, where the snapshot
left off, at the same cut as the input they follow. The work runs where the input is
made, as before, one bytewax step fewer.

A query's output producer for input producer p is `first + p` (lowering numbers them), so
output producers follow their input's placement, and the Router of a keyed query reading
the output sees the producers it was told of.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from frys.dsl.analyzed import StreamDef
from frys.engine.graph import QueryNode
from frys.engine.operator import BatchSource, OperatorSettings
from frys.engine.scaleout.inband import END, MARK, ROWS, STATS, Item, ProducerClock, stamped
from frys.operators.registry import build_operator


@dataclass(frozen=True)
class ChainedQuery:
    """A stateless query as every step producing its input runs it: its plan node, its
    name (what its clocks are kept under in a snapshot), its output stream, the index of
    its first output producer and the operator settings."""

    node: QueryNode
    name: str
    output: StreamDef
    first: int
    settings: OperatorSettings


@dataclass
class Chains:
    """The job's chained queries by the stream they read: filled while the job is
    lowered, read by each step when bytewax builds it (after lowering)."""

    by_stream: dict[str, list[ChainedQuery]] = field(default_factory=dict)

    def add(self, query: ChainedQuery) -> None:
        self.by_stream.setdefault(query.node.inputs[0], []).append(query)

    def chain(self) -> Chain:
        """A step's runner of the chained queries (each step its own: its own clocks)."""
        return Chain(self)


class Chain:
    """The chained queries as one step runs them, on the items it emits."""

    def __init__(self, chains: Chains) -> None:
        self.chains = chains
        self.steps: dict[str, StatelessStep] = {}  # by query name, built on first use
        self.restored: dict[str, dict[int, Any]] = {}

    def apply(self, items: list[Item]) -> list[Item]:
        """`items` in order, each followed by what the chained queries make of it."""
        if not self.chains.by_stream or not items:
            return items
        out: list[Item] = []
        for item in items:
            self._emit(item, out)
        return out

    def _emit(self, item: Item, out: list[Item]) -> None:
        out.append(item)
        for query in self.chains.by_stream.get(item[0], ()):
            for derived in self._step(query)(item):
                self._emit(derived, out)

    def _step(self, query: ChainedQuery) -> StatelessStep:
        step = self.steps.get(query.name)
        if step is None:
            step = self.steps[query.name] = StatelessStep(query)
            for producer, state in self.restored.pop(query.name, {}).items():
                step.clock(int(producer)).restore(tuple(state))  # type: ignore[arg-type]
        return step

    def snapshot(self) -> dict[str, dict[int, Any]]:
        state = {name: dict(clocks) for name, clocks in self.restored.items()}
        for name, step in self.steps.items():
            state[name] = {producer: clock.snapshot()
                           for producer, clock in step.clocks.items()}
        return state

    def restore(self, state: dict[str, dict[int, Any]] | None) -> None:
        """The clocks of a snapshot (None: one taken before queries were chained), given
        to each query when it first runs."""
        self.restored = {name: dict(clocks) for name, clocks in (state or {}).items()}
        self.steps.clear()


class StatelessStep:
    """A filter/projection over one stream, on each envelope of its input: output
    producer `first + p` for input producer p, its watermark forwarded (minus the query's
    lag) or, when the output's event time is not derived from the input's, followed from
    the rows it writes. The rows it writes are counted for the summary batch by batch
    (STATS, added up by the summary's sink)."""

    def __init__(self, query: ChainedQuery) -> None:
        self.node = query.node
        self.input = query.node.inputs[0]
        self.output = query.output
        self.first = query.first
        self.operator = build_operator(query.node.operator, query.settings)
        self.clocks: dict[int, ProducerClock] = {}

    def clock(self, producer: int) -> ProducerClock:
        clock = self.clocks.get(producer)
        if clock is None:
            clock = self.clocks[producer] = ProducerClock(
                self.output, forwarding=self.node.watermark_lag_ms is not None)
        return clock

    def __call__(self, item: Item) -> list[Item]:
        _, envelope = item
        producer = self.first + envelope[1]
        clock = self.clock(producer)
        kind = envelope[0]
        name = self.output.name
        if kind == ROWS:
            emitted = self.operator.process(envelope[2], BatchSource(self.input))
            out: list[Item] = [(name, e) for rows in emitted.rows
                               for e in stamped(producer, clock.rows(producer, rows))]
            written = sum(rows.height for rows in emitted.rows)
            if written:
                out.append((STATS, ("s", {"events": {name: written}})))
            return out
        if kind == MARK:
            lag = self.node.watermark_lag_ms
            if lag is not None and clock.advance(envelope[2] - lag) is not None:
                return [(name, (MARK, producer, envelope[2] - lag))]
            return []
        if kind == END:
            clock.done = True
            return [(name, (END, producer))]
        return [(name, (kind, producer))]
