"""A query at run time: its operator between its input channels and its outputs.

QueryRunner is a receiver of a query's input channels (engine/channel.py Receiver): it hands
the operator each batch (with the watermark each row arrived under) and each watermark
advance, and writes what the operator emits through ChannelWriters. It knows the operator
only through its contract (engine/operator.py), so a new operator needs no change here, and
the channels only through engine/channel.py, so it runs over the bus or any other transport.
JobStats (engine/job_stats.py) are the counters of a run it keeps up to date.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping

import polars as pl

from frys.engine.channel import ChannelWriter, Delivery, NamedChannel
from frys.engine.graph import JobGraph, QueryNode
from frys.engine.job_stats import JobStats
from frys.engine.operator import BatchSource, Emitted, OperatorSettings, OperatorState
from frys.engine.time import END_OF_TIME, CombinedWatermark
from frys.operators.registry import build_operator


def query_names(graph: JobGraph) -> dict[tuple[int, str], str]:
    """How the run summary, JobStats, traces and `overflow` name each query, keyed by its
    number and stage: by its output (`select_2` for the second bare SELECT, the target of an
    INSERT INTO), and where several queries write one stream, by the output and the query's
    number (`alerts (query 3)`). A join stage is named by the internal stream it writes
    (`alerts.join`, `alerts.join2`: engine/join_stages.py). A query named by a `-- name:`
    line goes by that name (its join stages by `<name>.join`, ...): a name that stays when
    queries are added, removed or moved, which is what a checkpoint's state is matched by
    when a changed job continues from it (engine/upgrade.py)."""
    outputs = Counter(node.output_topic for node in graph.queries)

    def name_of(node: QueryNode) -> str:
        given = node.analyzed.statement.name
        if given is not None:
            return f"{given}.{node.stage}" if node.stage else given
        if outputs[node.output_topic] == 1:
            return node.output_topic
        return f"{node.output_topic} (query {node.index + 1})"

    return {(node.index, node.stage): name_of(node) for node in graph.queries}


class QueryRunner:
    """Receives a query's input channels (an engine/channel.py Receiver; subscribe it to
    each) and writes what its operator emits: rows to the output stream, late events to
    their input's `late` stream, timed-out partial matches to EMIT TIMEOUTS TO's (each a
    ChannelWriter), shed ones to `overflow` (through `on_overflow`), traces to `on_trace`;
    and keeps the job's counters of the query. It knows the operator only through its
    contract (engine/operator.py)."""

    def __init__(self, node: QueryNode, output: ChannelWriter, stats: JobStats,
                 late: Mapping[str, ChannelWriter] | None = None,
                 timeouts: ChannelWriter | None = None,
                 settings: OperatorSettings | None = None,
                 on_trace: Callable[[dict[str, object]], None] | None = None,
                 on_overflow: Callable[[str, pl.DataFrame], None] | None = None,
                 name: str | None = None) -> None:
        self.node = node
        self.on_overflow = on_overflow
        self.operator = build_operator(node.operator, settings or OperatorSettings())
        self.on_trace = on_trace
        self.output = output
        self.late = late or {}  # per input stream with a late stream: its producer there
        self.timeouts = timeouts
        # a query over several inputs: their watermarks combine (minimum), and its output
        # ends when all of them have; inputs are keyed by position in node.inputs, so one
        # stream may feed several (a self-join): each of its batches goes to each of them
        self.positions: dict[str, list[int]] = {}
        for position, stream in enumerate(node.inputs):
            self.positions.setdefault(stream, []).append(position)
        self.inputs: CombinedWatermark | None = None
        self.ended: set[str] = set()
        if len(node.inputs) > 1:
            self.inputs = CombinedWatermark()
            for _ in node.inputs:
                self.inputs.add_input()
            for position in node.untimed_inputs:  # never holds the others back
                self.inputs.input_done(position)
        self.stats = stats
        # how the counters, traces and the overflow stream name the query (query_names)
        self.name = name or node.output_topic
        # the last snapshot, while the operator has not been called since: every call
        # that may change its state (process, advance, restore) goes through _touch
        # first, which drops it (so it never holds frames the operator has let go of)
        self._snapshot: OperatorState | None = None

    def snapshot(self) -> tuple[OperatorState, dict[str, object]]:
        """The query's state between two calls: its operator's, and as plain data the
        combined watermark of its inputs and which have ended. A query whose operator was
        not called since the last snapshot (no batch, no watermark, no restore) returns
        the very same OperatorState object, not taken again (the runner is the only
        caller of a running query's operator; whoever drives `operator` directly must
        call `_touch` first): so an idle query costs no
        snapshot, and the checkpoint store sees its tables unchanged (the same frames) and
        links their files instead of writing them (engine/checkpoint.py)."""
        inputs = self.inputs.snapshot() if self.inputs is not None else None
        if self._snapshot is None:
            self._snapshot = self.operator.snapshot()
        return self._snapshot, {"inputs": inputs, "ended": sorted(self.ended)}

    def _touch(self) -> None:
        """The operator is about to be called and may change: its snapshot is stale
        (dropped before the call, so a call that raises half way still counts)."""
        self._snapshot = None

    def _process(self, batch: pl.DataFrame, source: BatchSource) -> Emitted:
        self._touch()
        return self.operator.process(batch, source)

    def _advance(self, watermark: int) -> Emitted:
        self._touch()
        return self.operator.advance(watermark)

    def restore(self, operator: OperatorState, state: dict[str, object]) -> None:
        """Take over a snapshot of the same query (a freshly built runner)."""
        self._touch()
        self.operator.restore(operator)
        inputs = state.get("inputs")
        if self.inputs is not None and inputs is not None:
            self.inputs.restore(inputs)  # type: ignore[arg-type]
        self.ended = set(state.get("ended") or ())  # type: ignore[call-overload]

    def wants_arrivals(self, rows: int) -> bool:
        """Whether the operator wants a batch's arrival watermarks (Delivery.arrivals) even
        when no row is behind its own."""
        return self.operator.wants_arrivals(rows)

    def on_delivery(self, channel: NamedChannel, delivery: Delivery) -> None:
        positions = self.positions[channel.name]
        for position in positions:
            source = BatchSource(channel.name, self._arrivals(position, delivery.arrivals),
                                 position if len(positions) > 1 else None, delivery.offsets)
            self._hand_out(self._process(delivery.batch, source), channel.name)

    def _arrivals(self, index: int, arrivals: pl.Series | None) -> pl.Series | None:
        """The watermark each row of a batch for input `index` arrived under, as this query
        sees it: the channel's, and with several inputs no higher than the others'."""
        if arrivals is None or self.inputs is None:
            return arrivals
        others = [w for i, w in enumerate(self.inputs.watermarks)
                  if i != index and self.inputs.holding[i]]
        if others:
            arrivals = arrivals.clip(upper_bound=min(others))
        return arrivals.clip(lower_bound=self.inputs.current)

    def on_watermark(self, channel: NamedChannel, watermark: int) -> None:
        if self.inputs is not None:  # several inputs: the minimum of theirs
            moved = [self.inputs.advance(position, watermark)
                     for position in self.positions[channel.name]]
            if not any(moved):
                return
            watermark = self.inputs.current
        self._hand_out(self._advance(watermark))
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

    def on_end(self, channel: NamedChannel) -> None:
        if self.inputs is not None:
            self.ended.add(channel.name)
            for position in self.positions[channel.name]:
                self.inputs.input_done(position)
            if len(self.ended) < len(self.positions):
                return
            self._hand_out(self._advance(END_OF_TIME))
        self.output.finish()
        for late in set(self.late.values()):
            late.finish()
        if self.timeouts is not None:
            self.timeouts.finish()
