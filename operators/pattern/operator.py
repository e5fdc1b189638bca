"""The pattern operator: columnar batches in, one row per match out.

Flow per watermark advance: the events the watermark has passed are released from the
arrival buffer (events wait there so that each partition is matched in event-time order,
equal times in arrival order; out-of-order arrival within the watermark gives the same
matches as in-order arrival), sorted by partition and time; polars computes `PREV` columns
(carrying each partition's last events across batches) and, per variable, whether the
current-event part of its DEFINE holds. Only then does Python run the automaton (nfa.py),
and only over events that can change something: an event no variable's condition accepts is
skipped outright when every partial match of its partition would just ignore it.

An event behind (earlier than) the watermark when it arrives is late: dropped and counted
(or routed to the stream's `late` stream); one at the watermark is on time and waits for the
watermark to pass it, as in Flink, whose watermark is one millisecond below frys's (max event
time - delay - 1) and which keeps events above its own. Matches are emitted in event-time
order of their completion.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from frys.dsl import ast
from frys.dsl.analyzed import OVERFLOW_COLUMNS as _OVERFLOW_STREAM
from frys.dsl.ast import walk
from frys.dsl.typer import variable_named
from frys.dsl.types import TIMESTAMP_DTYPE, FrysType
from frys.engine.graph import PatternMatchSpec
from frys.engine.operator import (
    BatchSource,
    Emitted,
    OperatorCounters,
    OperatorSettings,
    OperatorState,
    SideOutputs,
)
from frys.engine.time import END_OF_TIME
from frys.operators.expressions import to_polars
from frys.operators.pattern.automaton import (
    Action,
    And,
    Automaton,
    Not,
    Or,
    TrueCondition,
    Until,
    Var,
    compile_pattern,
    decision_edges,
)
from frys.operators.pattern.conditions import (
    PATTERN_AGGREGATES,
    ResidualCompiler,
    ValueLayout,
    is_current_only,
    prev_calls,
    prev_column,
    split_conjuncts,
    vectorized,
)
from frys.operators.pattern.nfa import (
    Event,
    Matcher,
    Partial,
    PartitionState,
    Residual,
    SharedBuffer,
)
from frys.operators.pattern.skip import strategy_for

# the columns of an overflow row the operator fills (the runtime adds `query`)
OVERFLOW_COLUMNS = [name for name in _OVERFLOW_STREAM if name != "query"]
OVERFLOW_EVENTS = 100  # events listed per shed partial match (a long loop holds thousands)

_TIME = "__time"
_ARRIVAL = "__arrival"
_CARRY = "__carry"
_STREAM = "__stream"
_OFFSET = "__offset"
# an event's id in the shared buffer: stream index << 40 | the event's offset in its stream
_STREAM_SHIFT = 40
_OFFSET_MASK = (1 << _STREAM_SHIFT) - 1


class PatternMatch(SideOutputs):
    """A pattern query over one stream or several (FROM a, b: their events merge into one
    event-time order per partition; a typed variable `p:payments` takes only events of its
    stream), under the operator contract (engine/operator.py): the runtime advances it to
    the minimum of its input streams' watermarks. Its settings: the partial matches kept per
    partition, the byte budgets, and whether to trace why each partial match ends."""

    def wants_arrivals(self, rows: int) -> bool:
        return False

    def __init__(self, spec: PatternMatchSpec, settings: OperatorSettings) -> None:
        self.pending = Emitted()
        max_partials = settings.max_partial_matches
        max_partition_bytes = settings.max_pattern_bytes_per_partition
        max_bytes = settings.max_pattern_bytes
        self.tracing = settings.trace_matches
        match = spec.match
        self.spec = spec
        self.streams = list(spec.event_times)
        self.multi = len(self.streams) > 1
        self.partition_keys = [c.name for c in match.partition_by]
        # the operator's frame: one column per stream column, prefixed with the stream's
        # name when several streams merge (partition keys are shared)
        self._types: dict[str, FrysType] = {}
        for stream, columns in spec.stream_columns.items():
            for column, column_type in columns.items():
                self._types[self._frame_column(stream, column)] = column_type
        self.variables = spec.variables
        # with late streams, late events are handed out (all their fields) in Emitted.late
        self.route_late = bool(spec.late_streams)
        self.late_events = 0
        self.watermark: int | None = None
        self._buffer: pl.DataFrame | None = None
        self._arrivals = 0
        self._offsets = dict.fromkeys(self.streams, 0)  # per stream: events seen
        self._seq = 0
        self._partitions: dict[object, PartitionState] = {}
        self._carry: pl.DataFrame | None = None

        defines = {d.variable: d for d in match.defines}
        names = set(self.variables)
        self.layout = ValueLayout()
        self.shared = SharedBuffer()  # the events partial matches took (nfa.py)
        compiler = ResidualCompiler(self.variables, self.layout, self.shared, self._column_of)
        fits: list[pl.Expr] = []
        stops: list[pl.Expr] = []
        residuals: list[Residual | None] = []
        until_residuals: list[Residual | None] = []
        self._prev: set[tuple[str, int]] = set()
        for variable in self.variables:
            define = defines.get(variable)
            for clause, vector_out, residual_out in (
                    (define.condition if define else None, fits, residuals),
                    (define.until if define else None, stops, until_residuals)):
                if clause is None:
                    vector_out.append(pl.lit(clause is None and vector_out is fits))
                    residual_out.append(None)
                    continue
                self._prev.update((self._column_of(variable, c), n)
                                  for c, n in prev_calls(clause))
                conjuncts = split_conjuncts(clause)
                current = [c for c in conjuncts if is_current_only(c, variable, names)]
                rest = [c for c in conjuncts if not is_current_only(c, variable, names)]
                vector_out.append(vectorized(current, variable, self._column_of))
                residual_out.append(compiler.condition(rest, variable))
        if self.multi:  # a variable takes only events of its own stream
            fits = [expr & (pl.col(_STREAM) == self.streams.index(spec.stream_of[v]))
                    for expr, v in zip(fits, self.variables, strict=True)]
        self._fits = [e.alias(f"__fits{i}") for i, e in enumerate(fits)]
        self._stops = [e.alias(f"__stops{i}") for i, e in enumerate(stops)]
        has_until = {i for i, v in enumerate(self.variables)
                     if defines.get(v) is not None and defines[v].until is not None}
        self.automaton: Automaton = compile_pattern(match.pattern, self.variables, has_until,
                                                       match.within_ms is not None)
        self.matcher = Matcher(self.automaton, residuals, until_residuals, match.within_ms,
                               match.within_between_events, strategy_for(match.after_match),
                               max_partials, keep_timeouts=match.timeouts_to is not None,
                               buffer=self.shared, max_partition_bytes=max_partition_bytes,
                               max_job_bytes=max_bytes)
        self.matcher.partitions = self._partitions.values
        if self.tracing:  # debug mode: why each partial match ended, as Emitted.traces
            self.matcher.trace = []
        self._quiet = self._states_that_ignore_quiet_events()
        self._start_variables = self._variables_the_start_can_take()
        self._outputs = _OutputBuilder(spec, compiler, self.layout, self.streams, self.shared)
        for column in self.partition_keys:
            self.layout.index(column)
        self._value_columns = list(self.layout.columns)
        self.shared.configure([_storage(self._types.get(_unprefixed_prev(c)))
                               for c in self._value_columns])

    # ------------------------------------------------------------------ entry points

    def _frame_column(self, stream: str, column: str) -> str:
        if not self.multi or column in self.partition_keys:
            return column
        return f"{stream}.{column}"

    def _column_of(self, variable: str, column: str) -> str:
        return self._frame_column(self.spec.stream_of[variable], column)

    def process(self, batch: pl.DataFrame, source: BatchSource) -> Emitted:
        """Buffer the batch's events (of `source.stream`) until the watermark passes them;
        an event behind the watermark it arrived under (`source.arrivals`, or the
        operator's) is late."""
        if batch.height:
            self._buffer_events(batch, source.stream, source.arrivals, source.offsets)
        return self.emit([])

    def _buffer_events(self, batch: pl.DataFrame, stream: str,
                       arrivals: pl.Series | None, offsets: pl.Series | None = None) -> None:
        # each event's number in its stream (MATCH_IDS): counted here, or given by the
        # transport (BatchSource.offsets: the scale-out runtime's key groups see only some)
        offset = (pl.int_range(pl.len(), dtype=pl.Int64) + self._offsets[stream]
                  if offsets is None else pl.lit(offsets.cast(pl.Int64)))
        frame = batch.with_columns(
            pl.col(self.spec.event_times[stream]).dt.epoch("ms").alias(_TIME),
            (pl.int_range(pl.len(), dtype=pl.Int64) + self._arrivals).alias(_ARRIVAL),
            offset.alias(_OFFSET))
        self._offsets[stream] += batch.height
        if self.multi:
            frame = frame.rename({c: self._frame_column(stream, c) for c in batch.columns
                                  if c not in self.partition_keys}).with_columns(
                pl.lit(self.streams.index(stream), dtype=pl.Int32).alias(_STREAM))
        self._arrivals += batch.height
        limit = arrivals if arrivals is not None else self.watermark
        if limit is not None:
            late = frame[_TIME] < limit
            count = int(late.sum())
            if count:
                self.late_events += count
                if self.route_late:
                    self.pending.late.append(batch.filter(late))
                if self.tracing:
                    numbers = frame.filter(late)[_OFFSET].to_list()
                    self.pending.traces.extend(
                        {"reason": "late", "events": [f"{stream}:{o}"]} for o in numbers)
                frame = frame.filter(~late)
        self._buffer = frame if self._buffer is None else pl.concat(
            [self._buffer, frame], how="diagonal_relaxed" if self.multi else "vertical")

    def counters(self) -> OperatorCounters:
        return OperatorCounters(late_events=self.late_events,
                                discarded_partials=self.matcher.discarded,
                                discarded_for_bytes=self.matcher.discarded_for_bytes)

    # the layout of snapshot(): bump it when the state's tables or scalars change
    STATE_KIND = "pattern"
    STATE_VERSION = 1

    def snapshot(self) -> OperatorState:
        """Tables: the events waiting for the watermark (`buffer`), each partition's last
        events for PREV (`carry`), the shared buffer (`events`, `nodes`, `free_slots`,
        `free_nodes`: slot and node numbers as they are), the partitions in their order
        with their key columns and byte accounting (`partitions`), and every partial and
        held match (`matches`: its partition's row, automaton state index, last node,
        start and last times). Scalars: watermark, arrival and per-stream offsets, event
        order, counters and byte totals."""
        tables, scalars = self.shared.to_tables()
        if self._buffer is not None:
            tables["buffer"] = self._buffer
        if self._carry is not None:
            tables["carry"] = self._carry
        keys = list(self._partitions)
        states = list(self._partitions.values())
        key_rows = [k if isinstance(k, tuple) else (k,) for k in keys]
        tables["partitions"] = pl.DataFrame(
            {**{f"key{i}": [row[i] for row in key_rows]
                for i in range(len(self.partition_keys))},
             "buffer_bytes": pl.Series([p.buffer_bytes for p in states], dtype=pl.Int64)},
            strict=False)
        rows = [(index, held, m.state.index, m.node, m.start_time, m.start_seq, m.last_time)
                for index, partition in enumerate(states)
                for held, matches in ((False, partition.partials), (True, partition.pending))
                for m in matches]
        tables["matches"] = pl.DataFrame(
            rows, schema={"partition": pl.Int64, "held": pl.Boolean, "state": pl.Int64,
                          "node": pl.Int64, "start_time": pl.Int64, "start_seq": pl.Int64,
                          "last_time": pl.Int64}, orient="row")
        scalars.update({
            "watermark": self.watermark, "arrivals": self._arrivals, "seq": self._seq,
            "late_events": self.late_events, "discarded": self.matcher.discarded,
            "discarded_for_bytes": self.matcher.discarded_for_bytes,
            "total_bytes": self.matcher.total_bytes,
            **{f"offset:{stream}": n for stream, n in self._offsets.items()}})
        return OperatorState(self.STATE_KIND, self.STATE_VERSION, tables, scalars)

    def restore(self, state: OperatorState) -> None:
        state.check(self.STATE_KIND, self.STATE_VERSION)
        tables, scalars = state.tables, state.scalars
        self.shared.from_tables(tables, scalars)
        self._buffer = tables.get("buffer")
        self._carry = tables.get("carry")
        states = self.automaton.states
        partitions = []
        self._partitions = {}
        width = len(self.partition_keys)
        for row in tables["partitions"].iter_rows():
            key = row[0] if width == 1 else (tuple(row[:width]) if width else ())
            partition = PartitionState(buffer_bytes=row[width])
            self._partitions[key] = partition
            partitions.append(partition)
        for index, held, state_index, node, start_time, start_seq, last_time in \
                tables["matches"].iter_rows():
            match = Partial(states[state_index], node, start_time, start_seq, last_time)
            target = partitions[index]
            (target.pending if held else target.partials).append(match)
        self.matcher.partitions = self._partitions.values
        self.watermark = scalars["watermark"]
        self._arrivals = scalars["arrivals"] or 0
        self._seq = scalars["seq"] or 0
        self.late_events = scalars["late_events"] or 0
        self.matcher.discarded = scalars["discarded"] or 0
        self.matcher.discarded_for_bytes = scalars["discarded_for_bytes"] or 0
        self.matcher.total_bytes = scalars["total_bytes"] or 0
        self._offsets = {stream: scalars[f"offset:{stream}"] or 0 for stream in self.streams}

    def state_size(self) -> int:
        buffered = sum(int(t.estimated_size()) for t in (self._buffer, self._carry)
                       if t is not None)
        return self.matcher.total_bytes + buffered

    def advance(self, watermark: int) -> Emitted:
        if self.watermark is not None and watermark <= self.watermark:
            return self.emit([])
        self.watermark = watermark
        matches: list[Partial] = []
        if self._buffer is not None and self._buffer.height:
            ready = self._buffer.filter(pl.col(_TIME) < watermark)
            self._buffer = self._buffer.filter(pl.col(_TIME) >= watermark)
            if ready.height:
                matches.extend(self._run(ready))
        for partition in self._partitions.values():
            if partition.partials or partition.pending:
                matches.extend(self.matcher.advance(partition, watermark))
        if watermark == END_OF_TIME:
            self._flush_pending(matches)
        # one row per match, in event-time order of completion (stable: a partition's
        # matches keep the order the skip strategy gave them)
        matches.sort(key=lambda m: self.shared.event_time(m.node))
        out = [self._outputs.rows(matches)] if matches else []
        if self.matcher.shed:  # before the sweep below frees their nodes
            self.pending.overflow.append(self._overflow_frame(self.matcher.shed))
            self.matcher.shed.clear()
        if self.matcher.timed_out:
            self.pending.timeouts.append(self._outputs.rows(self.matcher.timed_out))
            self.matcher.timed_out.clear()
        if self.matcher.trace:
            for reason, partial in self.matcher.trace:
                self.pending.traces.append({
                    "reason": reason, "state": partial.state.name.split(":")[0],
                    "events": self._outputs.event_ids(partial.node)})
            self.matcher.trace.clear()
        if self.shared.sweep_due() or watermark == END_OF_TIME:
            self.shared.sweep(p.node for partition in self._partitions.values()
                              for p in (*partition.partials, *partition.pending))
        return self.emit(out)

    def _overflow_frame(self, shed: list[tuple[str, PartitionState, Partial]]
                        ) -> pl.DataFrame:
        """One row per shed partial match: which limit, its partition key, when it started
        and its events ('stream:offset', at most OVERFLOW_EVENTS of them shown)."""
        keys = {id(state): key for key, state in self._partitions.items()}
        rows: dict[str, list[object]] = {name: [] for name in OVERFLOW_COLUMNS}
        for limit, state, partial in shed:
            ids = self._outputs.event_ids(partial.node)
            shown = ids[:OVERFLOW_EVENTS]
            if len(ids) > OVERFLOW_EVENTS:
                shown.append(f"... {len(ids) - OVERFLOW_EVENTS} more")
            rows["reason"].append(f"shed over {limit}: the partial matches that started "
                                  "earliest go first")
            rows["partition_key"].append(json.dumps(keys.get(id(state)), default=str))
            rows["started_at"].append(partial.start_time)
            rows["events"].append(json.dumps(shown))
        return pl.DataFrame(rows, schema={**{n: pl.String for n in OVERFLOW_COLUMNS},
                                          "started_at": pl.Int64}).with_columns(
            pl.col("started_at").cast(TIMESTAMP_DTYPE)).select(OVERFLOW_COLUMNS)

    def state_bytes(self) -> int:
        """What the partitions' state takes: the estimate the byte budgets check (never
        below the exact count)."""
        return self.matcher.total_bytes

    def open_partials(self) -> int:
        return sum(len(p.partials) for p in self._partitions.values())

    # ------------------------------------------------------------------ internals

    def _flush_pending(self, matches: list[Partial]) -> None:
        """End of input: nothing can start earlier any more; held matches go out."""
        for partition in self._partitions.values():
            matches.extend(self.matcher.flush(partition))

    def _variables_the_start_can_take(self) -> list[int]:
        """The variables a match can begin with (through optional elements): an event no
        condition of theirs accepts cannot start a match."""
        edges = decision_edges(self.automaton.start, lambda edge: True)
        return sorted({e.source.variable for e in edges
                       if e.action is Action.TAKE and e.source.variable >= 0})

    def _states_that_ignore_quiet_events(self) -> list[bool]:
        """Per state: does an event that no condition accepts leave a partial match there
        exactly as it is (a self-IGNORE and nothing else)? Then such events can be skipped
        for a partition whose partial matches all sit in such states."""
        quiet = []
        for state in self.automaton.states:
            met = decision_edges(state, lambda edge: _holds_for_quiet_event(edge.condition))
            quiet.append(len(met) == 1 and met[0].action is Action.IGNORE
                         and met[0].target is state)
        return quiet

    def _run(self, ready: pl.DataFrame) -> list[Partial]:
        """Run the automaton over released events, partition by partition. Per partition,
        Python visits only: events that can start a match while it has no partial match;
        events some condition accepts while all its partial matches would just ignore the
        rest; every event while some partial match must see each one (strict contiguity,
        a pending NOT)."""
        keys = self.partition_keys
        ordered = ready.sort([*keys, _TIME, _ARRIVAL]) if keys else ready.sort(
            [_TIME, _ARRIVAL])
        ordered = self._with_prev(ordered)
        n_vars = len(self.variables)
        fit_names = [f"__fits{i}" for i in range(n_vars)]
        stop_names = [f"__stops{i}" for i in range(n_vars)]
        starters = [fit_names[i] for i in self._start_variables] + \
            [stop_names[i] for i in self._start_variables]
        ordered = ordered.with_columns(*self._fits, *self._stops).with_columns(
            pl.any_horizontal([*fit_names, *stop_names]).alias("__relevant"),
            (pl.any_horizontal(starters) if starters else pl.lit(False)).alias("__starts"))
        times = ordered[_TIME].to_list()
        relevant = ordered["__relevant"].to_list()
        relevant_rows = ordered["__relevant"].arg_true().to_list()
        start_rows = ordered["__starts"].arg_true().to_list()
        # per column, values of the whole release; an event's tuples are built only if it
        # is visited
        fit_columns = [ordered[c].to_list() for c in fit_names]
        stop_columns = [ordered[c].to_list() for c in stop_names]
        value_columns = [series.to_list() for series in ordered.select(
            [_as_value(c, self._types) for c in self._value_columns])]
        offsets = ordered[_OFFSET].to_list()
        streams = ordered[_STREAM].to_list() if self.multi else None
        if keys:
            boundaries = ordered.select(
                pl.struct(keys).rle_id().alias("__group"))["__group"]
            starts = [0, *((boundaries.diff().fill_null(0) != 0).arg_true().to_list())]
            key_rows = ordered.select(keys)[starts].rows()
            group_keys = [row[0] if len(keys) == 1 else row for row in key_rows]
        else:
            starts = [0]
            group_keys = [()]
        ends = [*starts[1:], ordered.height]
        quiet = self._quiet
        empty = (False,) * n_vars
        matcher = self.matcher
        matches: list[Partial] = []
        seq = self._seq
        for key, start, end in zip(group_keys, starts, ends, strict=True):
            partition = self._partitions.get(key)
            offset = seq - start  # event order = seq of the partition's first row + row
            seq += end - start
            if partition is None:
                first = bisect_left(start_rows, start)
                if first == len(start_rows) or start_rows[first] >= end:
                    continue  # nothing here can start a match
                partition = self._partitions[key] = PartitionState()
            loud = bool(partition.partials) and not all(
                quiet[p.state.index] for p in partition.partials)
            # byte budgets: settled every SETTLE_EVERY events of the partition and at its
            # end, not per event (see Matcher.settle)
            allocated, held, steps = self.shared.allocated_bytes, partition.bytes(), 0
            row = start
            while row < end:
                if not partition.partials:
                    i = bisect_left(start_rows, row)
                    if i == len(start_rows) or start_rows[i] >= end:
                        break
                    row = start_rows[i]
                elif not loud and not relevant[row]:
                    i = bisect_left(relevant_rows, row)
                    if i == len(relevant_rows) or relevant_rows[i] >= end:
                        break
                    row = relevant_rows[i]
                if relevant[row]:
                    event_id = offsets[row] if streams is None else (
                        streams[row] << _STREAM_SHIFT | offsets[row])
                    event = Event(offset + row, times[row],
                                  tuple([c[row] for c in value_columns]),
                                  tuple([c[row] for c in fit_columns]),
                                  tuple([c[row] for c in stop_columns]), event_id)
                else:
                    event = Event(offset + row, times[row], (), empty, empty)
                found = matcher.process(partition, event)
                if found:
                    matches.extend(found)
                # the flags served this event's own step; partial matches that keep the
                # event read only its time, order and values
                event.fits = event.stops = empty
                partials = partition.partials
                loud = bool(partials) and not all(quiet[p.state.index] for p in partials)
                row += 1
                steps += 1
                if steps == SETTLE_EVERY:
                    matcher.settle(partition, allocated, held)
                    allocated, held, steps = self.shared.allocated_bytes, partition.bytes(), 0
            matcher.settle(partition, allocated, held)
            if not partition.partials and not partition.pending:
                matcher.forget(partition)
                del self._partitions[key]
        self._seq = seq
        return matches

    def _with_prev(self, ordered: pl.DataFrame) -> pl.DataFrame:
        """Add PREV(col, n) columns: the n-th earlier event of the partition, across
        releases (the last events of each partition are carried over)."""
        if not self._prev:
            return ordered
        keys = self.partition_keys
        depth = max(n for _, n in self._prev)
        columns = sorted({c for c, _ in self._prev})
        frame = ordered.with_columns(pl.lit(False).alias(_CARRY))
        if self._carry is not None:
            frame = pl.concat([self._carry, frame], how="diagonal_relaxed")
        shifted = [(pl.col(c).shift(n).over(keys) if keys else pl.col(c).shift(n))
                   .alias(prev_column(c, n)) for c, n in sorted(self._prev)]
        frame = frame.with_columns(shifted)
        tail = frame.select([*keys, *columns, _TIME, _ARRIVAL])
        tail = (tail.group_by(keys, maintain_order=True).tail(depth) if keys
                else tail.tail(depth))
        self._carry = tail.with_columns(pl.lit(True).alias(_CARRY))
        return frame.filter(~pl.col(_CARRY)).drop(_CARRY)


# how many events of a partition the matcher processes between two checks of the byte
# budgets: a partition can pass its budget by at most this many events' allocations
SETTLE_EVERY = 256


def _holds_for_quiet_event(condition) -> bool:
    """A condition's value for an event that no DEFINE or UNTIL accepts."""
    if isinstance(condition, TrueCondition):
        return True
    if isinstance(condition, (Var, Until)):
        return False
    if isinstance(condition, Not):
        return not _holds_for_quiet_event(condition.operand)
    if isinstance(condition, And):
        return _holds_for_quiet_event(condition.left) and _holds_for_quiet_event(
            condition.right)
    if isinstance(condition, Or):
        return _holds_for_quiet_event(condition.left) or _holds_for_quiet_event(
            condition.right)
    return False


def _as_value(column: str, types: Mapping[str, FrysType]) -> pl.Expr:
    """A column as the automaton's values hold it (TIMESTAMPs as epoch ms)."""
    if types.get(column) == FrysType.TIMESTAMP:
        return pl.col(column).dt.epoch("ms")
    return pl.col(column)


@dataclass(frozen=True)
class _Leaf:
    """A value computed per match in Python, as a column of the frame the SELECT list is
    evaluated over: `how` says what it is, `raw` its dtype as computed (TIMESTAMPs as epoch
    ms), `column` the expression that reads it back with its SQL type."""

    name: str
    how: object
    raw: pl.DataType
    column: pl.Expr


class _OutputBuilder:
    """Matches -> rows of the SELECT list (see conditions.py's module docstring). Every
    column has its declared type, whatever the values of one batch (an ARRAY_AGG that is
    empty everywhere still is a list of its element type)."""

    def __init__(self, spec: PatternMatchSpec, compiler: ResidualCompiler,
                 layout: ValueLayout, streams: list[str], shared: SharedBuffer) -> None:
        self.spec = spec
        self.streams = streams
        self.shared = shared
        self.leaves: dict[ast.Expr, _Leaf] = {}
        variables = set(spec.variables)
        for _, expr in spec.outputs:
            for node in walk(expr):
                if node in self.leaves:
                    continue
                leaf_type = node.type
                how: object
                if isinstance(node, ast.FunctionCall) and node.star:
                    how, leaf_type = "COUNT_ALL", FrysType.INT  # events matched
                elif _per_match(node, variables):
                    how = compiler.value(node, "")
                elif isinstance(node, ast.ColumnRef) and node.qualifier is None and \
                        node.name.upper() in ("MATCH_START", "MATCH_END", "MATCH_IDS"):
                    how = node.name.upper()
                elif isinstance(node, ast.ColumnRef) and node.qualifier is None and \
                        node.name not in variables:  # (COUNT(f) names variable f)
                    how = ("first", layout.index(node.name))  # a PARTITION BY column
                else:
                    continue
                self.leaves[node] = self._leaf(f"__leaf{len(self.leaves)}", how, node,
                                               leaf_type)

        def substitute(node: ast.Expr) -> pl.Expr | None:
            leaf = self.leaves.get(node)
            return None if leaf is None else leaf.column

        self._select = [
            to_polars(expr, substitute).cast(spec.output_types[name].polars_dtype)
            .alias(name)
            if spec.output_types[name] not in (FrysType.NULL, FrysType.ARRAY)
            else to_polars(expr, substitute).alias(name)
            for name, expr in spec.outputs]

    def _leaf(self, name: str, how: object, node: ast.Expr,
              leaf_type: FrysType | None) -> _Leaf:
        if how == "MATCH_IDS":
            return _Leaf(name, how, pl.List(pl.String), pl.col(name))
        if leaf_type == FrysType.ARRAY:  # ARRAY_AGG(v.col): a list of col's type
            assert isinstance(node, ast.FunctionCall)
            element = node.args[0].type or FrysType.NULL
            if element == FrysType.TIMESTAMP:
                return _Leaf(name, how, pl.List(pl.Int64),
                             pl.col(name).cast(pl.List(TIMESTAMP_DTYPE)))
            return _Leaf(name, how, pl.List(element.polars_dtype), pl.col(name))
        if leaf_type == FrysType.TIMESTAMP or how in ("MATCH_START", "MATCH_END"):
            return _Leaf(name, how, pl.Int64(), pl.col(name).cast(TIMESTAMP_DTYPE))
        dtype = leaf_type.polars_dtype if leaf_type is not None else pl.Null()
        return _Leaf(name, how, dtype, pl.col(name))

    def rows(self, matches: list[Partial]) -> pl.DataFrame:
        columns: dict[str, pl.Series] = {}
        shared = self.shared
        for leaf in self.leaves.values():
            how = leaf.how
            values: list[Any]
            if how == "MATCH_START":
                values = [shared.event_time(shared.first(m.node)) for m in matches]
            elif how == "MATCH_IDS":
                values = [self.event_ids(m.node) for m in matches]
            elif how == "COUNT_ALL":
                values = [len(shared.chain(m.node)) for m in matches]
            elif how == "MATCH_END":
                values = [shared.event_time(m.node) for m in matches]
            elif isinstance(how, tuple):
                slot = how[1]
                values = [shared.value(shared.node_event[shared.first(m.node)], slot)
                          for m in matches]
            else:
                values = [how(None, m.node) for m in matches]  # type: ignore[operator]
            columns[leaf.name] = pl.Series(leaf.name, values, dtype=leaf.raw, strict=False)
        frame = pl.DataFrame(columns) if columns else pl.DataFrame(
            {"__n": [0] * len(matches)})
        return frame.select(self._select)

    def event_ids(self, node: int) -> list[str]:
        """'stream:offset' of each event of a (partial) match, first to last."""
        shared = self.shared
        ids = []
        for member in shared.chain(node):
            event_id = shared.ident[shared.node_event[member]]
            stream, offset = event_id >> _STREAM_SHIFT, event_id & _OFFSET_MASK
            ids.append(f"{self.streams[stream]}:{offset}")
        return ids


def _per_match(node: ast.Expr, variables: set[str]) -> bool:
    """A variable's column (its latest event's) or an aggregate over a variable."""
    if isinstance(node, ast.ColumnRef):
        return node.qualifier in variables
    return (isinstance(node, ast.FunctionCall) and node.name.upper() in PATTERN_AGGREGATES
            and bool(node.args) and variable_named(node.args[0]) in variables)


def _storage(column_type: FrysType | None) -> str:
    """How the shared buffer stores a value column (see nfa.SharedBuffer)."""
    if column_type == FrysType.FLOAT:
        return "f"
    if column_type in (FrysType.INT, FrysType.TIMESTAMP):
        return "i"
    if column_type == FrysType.BOOL:
        return "b"
    return "o"


def _unprefixed_prev(column: str) -> str:
    """The source column of a PREV column (`__prev{n}_{col}`), else the column itself."""
    if column.startswith("__prev"):
        return column.split("_", 3)[3]
    return column
