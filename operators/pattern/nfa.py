"""The automaton runtime: partial matches of one partition advanced event by event, exactly as
Flink's NFA.computeNextStates does (see automaton.py for the states and edges).

Shared buffer (`SharedBuffer`): an event taken by any partial match is stored once, in
typed columns (its time, order, id and the values conditions and outputs read), and a
partial match is a chain of nodes (event slot, variable, previous node) kept as parallel
integer arrays. Branches of a partial match share the nodes of their common prefix, so an
event is stored once however many partial matches took it. `sweep(roots)` frees every node
and event slot no partial or pending match can reach (the operator calls it after each
release, when enough was allocated since the last sweep to make it worth a pass), so memory
follows the live partial matches, not the events seen.

Entry points, per partition state (`PartitionState`): `process(partition, event)` for each
event in event-time order, and `advance(partition, watermark)` when event time moves on
(WITHIN timeouts, absences that complete). Both return completed matches; timed-out partial
matches are collected in `timed_out` when the query asks for them.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import polars as pl

from frys.operators.pattern.automaton import (
    Action,
    And,
    Automaton,
    Condition,
    Not,
    Or,
    State,
    TrueCondition,
    Until,
    Var,
)
from frys.operators.pattern.skip import SkipStrategy


class Event:
    """The event being processed: its order in the partition, event time, id, the values of
    the columns conditions and outputs read, and, per variable, whether the parts of its
    DEFINE that depend on this event alone hold (`fits`) and whether its UNTIL holds
    (`stops`). Transient: what outlives the step is copied into the shared buffer."""

    __slots__ = ("fits", "id", "seq", "slot", "stops", "time", "values")

    def __init__(self, seq: int, time: int, values: tuple, fits: tuple[bool, ...],
                 stops: tuple[bool, ...], id: int = 0) -> None:
        self.seq = seq
        self.time = time
        self.values = values
        self.fits = fits
        self.stops = stops
        self.id = id
        self.slot = -1  # its slot in the shared buffer once some partial match took it


NO_NODE = -1
NODE_BYTES = 8 + 1 + 8  # a node: its event slot, variable and previous node
_KIND_ARRAYS = {"f": "d", "i": "q", "b": "b"}


class SharedBuffer:
    """Taken events, stored once in typed columns, and the nodes of match chains (see the
    module docstring). `configure(kinds)`: `kinds[c]` is the storage of value column c: 'f'
    FLOAT, 'i' INT or TIMESTAMP (epoch ms), 'b' BOOL, 'o' anything else (a list)."""

    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.time = array("q")
        self.seq = array("q")
        self.ident = array("q")
        self.columns: list = []
        self.nulls: list[bytearray] = []
        self.free_slots: list[int] = []
        self.node_event = array("q")
        self.node_variable = array("b")
        self.node_previous = array("q")
        self.free_nodes: list[int] = []
        self.allocated_since_sweep = 0
        self.live_after_sweep = 0
        # bytes of every node and event stored so far (never decreases; the matcher takes
        # differences to charge each step's allocations to its partition)
        self.allocated_bytes = 0
        self._fixed_event_bytes = 3 * 8
        self._object_columns: list[int] = []

    def configure(self, kinds: list[str]) -> None:
        """Set the value columns (before anything is stored)."""
        self.kinds = kinds
        self.columns = [array(_KIND_ARRAYS[k]) if k in _KIND_ARRAYS else [] for k in kinds]
        self.nulls = [bytearray() for _ in kinds]
        self._fixed_event_bytes = self.bytes_per_event()
        self._object_columns = [c for c, kind in enumerate(kinds) if kind not in _KIND_ARRAYS]

    # ---- events

    def store(self, event: Event) -> int:
        """The event's slot, storing it on first use."""
        if event.slot >= 0:
            return event.slot
        values = event.values
        self.allocated_bytes += self._fixed_event_bytes
        if self._object_columns:
            self.allocated_bytes += sum([sys.getsizeof(values[c]) for c in self._object_columns])
        if self.free_slots:
            slot = self.free_slots.pop()
            self.time[slot] = event.time
            self.seq[slot] = event.seq
            self.ident[slot] = event.id
            for c, column in enumerate(self.columns):
                value = values[c]
                self.nulls[c][slot] = value is None
                column[slot] = value if value is not None else _ZERO[self.kinds[c]]
        else:
            slot = len(self.time)
            self.time.append(event.time)
            self.seq.append(event.seq)
            self.ident.append(event.id)
            for c, column in enumerate(self.columns):
                value = values[c]
                self.nulls[c].append(value is None)
                column.append(value if value is not None else _ZERO[self.kinds[c]])
        event.slot = slot
        return slot

    def value(self, slot: int, column: int) -> object:
        if self.nulls[column][slot]:
            return None
        value = self.columns[column][slot]
        return bool(value) if self.kinds[column] == "b" else value

    # ---- nodes

    def node(self, event: Event, variable: int, previous: int) -> int:
        """A node: `event` taken under `variable` after node `previous`."""
        slot = self.store(event)
        self.allocated_since_sweep += 1
        self.allocated_bytes += NODE_BYTES
        if self.free_nodes:
            node = self.free_nodes.pop()
            self.node_event[node] = slot
            self.node_variable[node] = variable
            self.node_previous[node] = previous
            return node
        self.node_event.append(slot)
        self.node_variable.append(variable)
        self.node_previous.append(previous)
        return len(self.node_event) - 1

    def first(self, node: int) -> int:
        """The first node of the chain ending at `node`."""
        previous = self.node_previous
        while previous[node] != NO_NODE:
            node = previous[node]
        return node

    def chain(self, node: int) -> list[int]:
        """The nodes of a (partial) match, first to last."""
        nodes = []
        while node != NO_NODE:
            nodes.append(node)
            node = self.node_previous[node]
        nodes.reverse()
        return nodes

    def event_time(self, node: int) -> int:
        return self.time[self.node_event[node]]

    def event_seq(self, node: int) -> int:
        return self.seq[self.node_event[node]]

    # ---- freeing

    def sweep_due(self) -> bool:
        return self.allocated_since_sweep > max(4096, self.live_after_sweep)

    def sweep(self, roots: Iterable[int]) -> None:
        """Free every node and event slot that no chain from `roots` reaches."""
        nodes = len(self.node_event)
        marked = bytearray(nodes)
        previous = self.node_previous
        for node in roots:
            while node != NO_NODE and not marked[node]:
                marked[node] = 1
                node = previous[node]
        used = bytearray(len(self.time))
        node_event = self.node_event
        live = 0
        free_nodes = []
        for node in range(nodes):
            if marked[node]:
                used[node_event[node]] = 1
                live += 1
            else:
                free_nodes.append(node)
        self.free_nodes = free_nodes
        self.free_slots = [slot for slot in range(len(used)) if not used[slot]]
        self.live_after_sweep = live
        self.allocated_since_sweep = 0

    def live_events(self) -> int:
        return len(self.time) - len(self.free_slots)

    # ---- snapshots (the operator contract's snapshot/restore)

    def to_tables(self) -> tuple[dict[str, pl.DataFrame], dict[str, int | None]]:
        """Everything, as columnar tables (slot and node numbers kept as they are, free
        ones included, so the chains need no renumbering) and counters."""
        events: dict[str, pl.Series] = {
            "time": pl.Series(self.time, dtype=pl.Int64),
            "seq": pl.Series(self.seq, dtype=pl.Int64),
            "ident": pl.Series(self.ident, dtype=pl.Int64)}
        for c, (kind, column) in enumerate(zip(self.kinds, self.columns, strict=True)):
            nulls = self.nulls[c]
            values = [None if nulls[i] else v for i, v in enumerate(column)]
            dtype = {"f": pl.Float64, "i": pl.Int64, "b": pl.Boolean}.get(kind)
            events[f"c{c}"] = (pl.Series(values, dtype=dtype) if dtype is not None
                               else pl.Series(values, strict=False))
        tables = {
            "events": pl.DataFrame(events),
            "nodes": pl.DataFrame({"event": pl.Series(self.node_event, dtype=pl.Int64),
                                   "variable": pl.Series(self.node_variable, dtype=pl.Int8),
                                   "previous": pl.Series(self.node_previous, dtype=pl.Int64)}),
            "free_slots": pl.DataFrame({"slot": pl.Series(self.free_slots, dtype=pl.Int64)}),
            "free_nodes": pl.DataFrame({"node": pl.Series(self.free_nodes, dtype=pl.Int64)}),
        }
        return tables, {"allocated_since_sweep": self.allocated_since_sweep,
                        "live_after_sweep": self.live_after_sweep,
                        "allocated_bytes": self.allocated_bytes}

    def from_tables(self, tables: Mapping[str, pl.DataFrame],
                    counters: Mapping[str, int | None]) -> None:
        """Take over `to_tables`' output (on a configured, empty buffer). In place: the
        condition closures (conditions.py) hold on to these very arrays."""
        events = tables["events"]
        self.time[:] = array("q", events["time"].to_list())
        self.seq[:] = array("q", events["seq"].to_list())
        self.ident[:] = array("q", events["ident"].to_list())
        for c, kind in enumerate(self.kinds):
            values = events[f"c{c}"].to_list()
            self.nulls[c][:] = bytearray(v is None for v in values)
            zero = _ZERO[kind]
            filled = [zero if v is None else v for v in values]
            column = self.columns[c]
            # a column with an array type holds numbers only (NULLs are `zero` in it)
            column[:] = (array(_KIND_ARRAYS[kind], filled)  # type: ignore[type-var]
                         if kind in _KIND_ARRAYS else filled)
        nodes = tables["nodes"]
        self.node_event[:] = array("q", nodes["event"].to_list())
        self.node_variable[:] = array("b", nodes["variable"].to_list())
        self.node_previous[:] = array("q", nodes["previous"].to_list())
        self.free_slots[:] = tables["free_slots"]["slot"].to_list()
        self.free_nodes[:] = tables["free_nodes"]["node"].to_list()
        self.allocated_since_sweep = counters["allocated_since_sweep"] or 0
        self.live_after_sweep = counters["live_after_sweep"] or 0
        self.allocated_bytes = counters["allocated_bytes"] or 0

    def live_nodes(self) -> int:
        return len(self.node_event) - len(self.free_nodes)

    def event_bytes(self, slot: int) -> int:
        """Bytes one stored event takes, the objects of its non-numeric values included."""
        columns = self.columns
        return self._fixed_event_bytes + sum(
            [sys.getsizeof(columns[c][slot]) for c in self._object_columns])

    def bytes_per_event(self) -> int:
        """Bytes one stored event takes: time, order, id, value columns, null flags."""
        per_value = sum(column.itemsize if kind in _KIND_ARRAYS else 8
                        for kind, column in zip(self.kinds, self.columns, strict=True))
        return 3 * 8 + per_value + len(self.kinds)

    def live_bytes(self) -> int:
        """Bytes held for live events and nodes as of the last sweep (between sweeps, at
        most max(4096, live) freed entries wait in the arrays as well)."""
        objects = sum(sys.getsizeof(v) for kind, column in zip(self.kinds, self.columns,
                                                               strict=True)
                      if kind not in _KIND_ARRAYS for v in column)
        return (self.live_events() * self.bytes_per_event()
                + self.live_nodes() * NODE_BYTES + objects)

    def nbytes(self) -> int:
        """Bytes the buffer holds (allocated columns, live or free)."""
        total = sum(a.itemsize * len(a) for a in (
            self.time, self.seq, self.ident, self.node_event, self.node_variable,
            self.node_previous))
        total += sum(len(n) for n in self.nulls)
        for kind, column in zip(self.kinds, self.columns, strict=True):
            total += column.itemsize * len(column) if kind in _KIND_ARRAYS else \
                8 * len(column) + sum(sys.getsizeof(v) for v in column)
        return total


_ZERO = {"f": 0.0, "i": 0, "b": 0, "o": None}


class Partial:
    """A partial match (Flink's ComputationState): where it is in the automaton, its last
    node, and its first event's time and order."""

    __slots__ = ("last_time", "node", "start_seq", "start_time", "state")

    def __init__(self, state: State, node: int, start_time: int, start_seq: int,
                 last_time: int) -> None:
        self.state = state
        self.node = node
        self.start_time = start_time
        self.start_seq = start_seq
        self.last_time = last_time


PARTIAL_BYTES = sys.getsizeof(Partial.__new__(Partial))  # a partial match's own object


@dataclass
class PartitionState:
    """Everything the matcher keeps for one partition."""

    partials: list[Partial] = field(default_factory=list)
    # completed matches held back until no partial match that started earlier is left
    # (skip strategies need the earliest match first; Flink's rule)
    pending: list[Partial] = field(default_factory=list)
    # bytes of the nodes and events its partial and pending matches hold: exact as of the
    # last count, plus everything allocated for it since (so never less than the truth)
    buffer_bytes: int = 0

    def bytes(self) -> int:
        """What the partition holds at most: buffer_bytes and its matches' own objects."""
        return self.buffer_bytes + PARTIAL_BYTES * (len(self.partials) + len(self.pending))


# A residual condition: the parts of a DEFINE that read other variables or aggregates:
# (event, the partial match's last node in the shared buffer) -> holds
Residual = Callable[[Event, int], bool]


class Matcher:
    """Runs one automaton over the partitions' events. `residuals[v]` is the rest of
    variable v's DEFINE (None when the vectorized part is all of it), `until_residuals`
    likewise for UNTIL."""

    def __init__(self, automaton: Automaton, residuals: list[Residual | None],
                 until_residuals: list[Residual | None], within_ms: int | None,
                 within_between_events: bool, skip: SkipStrategy,
                 max_partials: int, keep_timeouts: bool, buffer: SharedBuffer,
                 max_partition_bytes: int | None = None,
                 max_job_bytes: int | None = None) -> None:
        self.automaton = automaton
        self.buffer = buffer
        self.start = automaton.start
        self.within = within_ms
        self.between_events = within_between_events
        self.skip = skip
        self.max_partials = max_partials
        self.keep_timeouts = keep_timeouts
        self.timed_out: list[Partial] = []
        self.discarded = 0  # partial matches dropped over the per-partition limit
        # byte budgets of the state (shared buffer and partial matches): per partition and
        # for all partitions; partial matches dropped over them are counted apart
        self.max_partition_bytes = max_partition_bytes
        self.max_job_bytes = max_job_bytes
        self.discarded_for_bytes = 0
        self.total_bytes = 0  # the partitions' buffer_bytes summed (upper bound, as each)
        # all partitions, for the job budget (set by the operator)
        self.partitions: Callable[[], Iterable[PartitionState]] = lambda: ()
        # debug mode: (why, partial match) for every partial match that ended: 'completed',
        # 'timed out', 'skipped' (pruned by AFTER MATCH), 'negated' (a NOT matched),
        # 'no transition' (the event broke strict contiguity), 'over the limit'
        self.trace: list[tuple[str, Partial]] | None = None
        # partial matches shed over a limit since the operator last took them: (the limit's
        # option name, the partition, the partial match), for the overflow stream
        self.shed: list[tuple[str, PartitionState, Partial]] = []
        self._residuals = residuals
        self._until_residuals = until_residuals
        # every condition compiled once into a closure over (event, partial)
        self._conditions: dict[int, Callable[[Event, int], bool]] = {}
        for state in automaton.states:
            for edge in state.edges:
                self._conditions[id(edge)] = self._compile(edge.condition)

    # ------------------------------------------------------------------ conditions

    def _compile(self, condition: Condition) -> Callable[[Event, int], bool]:
        if isinstance(condition, TrueCondition):
            return lambda event, node: True
        if isinstance(condition, Var):
            v = condition.variable
            residual = self._residuals[v]
            if residual is None:
                return lambda event, node: event.fits[v]
            return lambda event, node: event.fits[v] and residual(event, node)
        if isinstance(condition, Until):
            v = condition.variable
            until = self._until_residuals[v]
            if until is None:
                return lambda event, node: event.stops[v]
            return lambda event, node: event.stops[v] and until(event, node)
        if isinstance(condition, Not):
            operand = self._compile(condition.operand)
            return lambda event, node: not operand(event, node)
        if isinstance(condition, And):
            left, right = self._compile(condition.left), self._compile(condition.right)
            return lambda event, node: left(event, node) and right(event, node)
        if isinstance(condition, Or):
            left, right = self._compile(condition.left), self._compile(condition.right)
            return lambda event, node: left(event, node) or right(event, node)
        raise TypeError(f"unknown condition {condition!r}")

    # ------------------------------------------------------------------ entry points

    def process(self, partition: PartitionState, event: Event) -> list[Partial]:
        """Advance every partial match of the partition with `event` (the next one in event
        time), start new ones from it, and return the matches it completes, in emission
        order (after the skip strategy). As Flink's CepOperator, event time first moves to
        the event's (`advance`: timeouts, absences that complete, and what their matches
        prune), then the event is processed."""
        emitted = self._expire(partition, event.time) if self.within is not None else []
        completed: list[Partial] = []
        survivors: list[Partial] = []
        for partial in partition.partials:
            self._advance(partial, event, survivors, completed)
        self._advance(None, event, survivors, completed)
        partition.partials = survivors
        if len(survivors) > self.max_partials:
            self._enforce_limit(partition)
        found = self._emit(partition, completed)  # (those held back join pending)
        return emitted + found if emitted else found

    def settle(self, partition: PartitionState, allocated_before: int,
               held_before: int) -> None:
        """After a run of `process` calls on one partition (the operator calls it once per
        partition and release, not per event: the accounting would cost a quarter of the
        matcher's time): charge what the buffer allocated since `allocated_before` to the
        partition, and enforce the byte budgets. `held_before` is partition.bytes() then."""
        partition.buffer_bytes += self.buffer.allocated_bytes - allocated_before
        self.total_bytes += partition.bytes() - held_before
        if self.max_partition_bytes is not None and \
                partition.bytes() > self.max_partition_bytes:
            self.enforce_bytes([partition], self.max_partition_bytes)
        if self.max_job_bytes is not None and self.total_bytes > self.max_job_bytes:
            self.enforce_bytes(list(self.partitions()), self.max_job_bytes, job=True)

    def advance(self, partition: PartitionState, watermark: int) -> list[Partial]:
        """Event time reached `watermark`: partial matches that can no longer finish within
        WITHIN time out (absences at the end of the pattern complete instead)."""
        held_before = partition.bytes()
        emitted = self._expire(partition, watermark)
        self.total_bytes += partition.bytes() - held_before
        return emitted

    def _expire(self, partition: PartitionState, watermark: int) -> list[Partial]:
        if self.within is None or not partition.partials:
            return self._emit(partition, []) if partition.pending else []
        completed: list[Partial] = []
        survivors = []
        for partial in partition.partials:
            since = partial.last_time if self.between_events else partial.start_time
            if watermark - since >= self.within:
                self._time_out(partial, completed)
            else:
                survivors.append(partial)
        partition.partials = survivors
        return self._emit(partition, completed)

    def flush(self, partition: PartitionState) -> list[Partial]:
        """End of input: no partial match can complete any more, so held matches go out."""
        partition.partials = []
        return self._emit(partition, []) if partition.pending else []

    # ------------------------------------------------------------------ internals

    def _time_out(self, partial: Partial, completed: list[Partial]) -> None:
        if partial.state.is_pending:
            completed.append(partial)  # nothing negated came within the time: a match
            return
        if self.keep_timeouts:
            self.timed_out.append(partial)
        if self.trace is not None:
            self.trace.append(("timed out", partial))

    def _advance(self, partial: Partial | None, event: Event, survivors: list[Partial],
                 completed: list[Partial]) -> None:
        """Flink's computeNextStates for one partial match (None: the start state)."""
        state = self.start if partial is None else partial.state
        node = NO_NODE if partial is None else partial.node
        conditions = self._conditions
        edges = []
        stack = [state]
        while stack:
            current = stack.pop()
            for edge in current.edges:
                if not conditions[id(edge)](event, node):
                    continue
                if edge.action is Action.PROCEED:
                    stack.append(edge.target)
                else:
                    edges.append(edge)
        results: list[Partial] = []
        for edge in edges:
            if edge.action is Action.IGNORE:
                if partial is not None:
                    results.append(Partial(edge.target, node, partial.start_time,
                                           partial.start_seq, partial.last_time))
            elif edge.action is Action.TAKE:
                taken = self.buffer.node(event, edge.source.variable, node)
                if partial is None:
                    start_time, start_seq = event.time, event.seq
                else:
                    start_time, start_seq = partial.start_time, partial.start_seq
                results.append(Partial(edge.target, taken, start_time, start_seq,
                                       event.time))
                final = self._final_after_proceed(edge.target, event, node)
                if final is not None:
                    results.append(Partial(final, taken, start_time, start_seq, event.time))
        retained = []
        stopped = False
        for result in results:
            if result.state.is_final:
                completed.append(result)
            elif result.state.is_stop:
                stopped = True
            else:
                retained.append(result)
        if not stopped:
            survivors.extend(retained)
        if self.trace is not None and partial is not None:
            if stopped:
                self.trace.append(("negated", partial))
            elif not results:
                self.trace.append(("no transition", partial))

    def _final_after_proceed(self, state: State, event: Event, node: int) -> State | None:
        """Flink's findFinalStateAfterProceed: a final state the state reaches through
        PROCEED edges whose conditions the event satisfies (evaluated, as in Flink, against
        the partial match before the event was taken)."""
        conditions = self._conditions
        stack = [state]
        while stack:
            current = stack.pop()
            for edge in current.edges:
                if edge.action is Action.PROCEED and conditions[id(edge)](event, node):
                    if edge.target.is_final:
                        return edge.target
                    stack.append(edge.target)
        return None

    def _enforce_limit(self, partition: PartitionState) -> None:
        """Over the limit: the partial matches that started earliest go (counted)."""
        partials = sorted(partition.partials, key=lambda p: p.start_seq)
        excess = len(partials) - self.max_partials
        self.discarded += excess
        self.shed.extend(("max_partial_matches", partition, p) for p in partials[:excess])
        if self.trace is not None:
            self.trace.extend(("over the limit", p) for p in partials[:excess])
        keep = set(map(id, partials[excess:]))
        partition.partials = [p for p in partition.partials if id(p) in keep]

    def forget(self, partition: PartitionState) -> None:
        """The partition is gone (no partial or pending match left)."""
        self.total_bytes -= partition.bytes()
        partition.buffer_bytes = 0

    def enforce_bytes(self, partitions: list[PartitionState], budget: int,
                      job: bool = False) -> None:
        """The estimate of what `partitions` hold passed `budget`: count it exactly (the
        distinct nodes and events their matches reach, and the match objects). Over the
        budget, the partial matches that started earliest go (counted in
        discarded_for_bytes) until what is left takes at most three quarters of it, so
        that the next count is a while away; matches held back by a skip strategy always
        stay. Within the budget, the estimate restarts at seven eighths of it at least,
        for the same reason. The estimate never falls below the truth, so the budget holds
        after every settle (Matcher.settle)."""
        buffer = self.buffer
        previous = buffer.node_previous
        node_event = buffer.node_event
        seen_nodes: set[int] = set()
        seen_slots: set[int] = set()

        def cost(node: int) -> int:
            total = PARTIAL_BYTES
            while node != NO_NODE and node not in seen_nodes:
                seen_nodes.add(node)
                total += NODE_BYTES
                slot = node_event[node]
                if slot not in seen_slots:
                    seen_slots.add(slot)
                    total += buffer.event_bytes(slot)
                node = previous[node]
            return total

        before = sum(partition.bytes() for partition in partitions)
        held = {id(partition): sum(cost(m.node) for m in partition.pending)
                for partition in partitions}
        fixed = sum(held.values())
        # youngest first: those kept are the ones that started last
        candidates = sorted(((p, partition) for partition in partitions
                             for p in partition.partials),
                            key=lambda c: (c[0].start_time, c[0].start_seq), reverse=True)
        costs = [cost(p.node) for p, _ in candidates]
        kept = len(candidates)
        if fixed + sum(costs) > budget:
            target, total, kept = budget * 3 // 4, fixed, 0
            for c in costs:
                if total + c > target:
                    break
                total += c
                kept += 1
            dropped = candidates[kept:]
            self.discarded_for_bytes += len(dropped)
            limit = "max_pattern_bytes" if job else "max_pattern_bytes_per_partition"
            self.shed.extend((limit, partition, p) for p, partition in dropped)
            if self.trace is not None:
                self.trace.extend(("over the limit", p) for p, _ in dropped)
            gone = {id(p) for p, _ in dropped}
            for partition in partitions:
                if any(id(p) in gone for p in partition.partials):
                    partition.partials = [p for p in partition.partials if id(p) not in gone]
        for (_, partition), c in zip(candidates[:kept], costs, strict=False):
            held[id(partition)] += c
        for partition in partitions:
            partition.buffer_bytes = held[id(partition)] - PARTIAL_BYTES * (
                len(partition.partials) + len(partition.pending))
        floor = budget - budget // 8
        exact = sum(held.values())
        if job:
            self.total_bytes = max(exact, floor)
        else:
            (partition,) = partitions
            if exact < floor:
                partition.buffer_bytes += floor - exact
            self.total_bytes += partition.bytes() - before

    def _emit(self, partition: PartitionState, completed: list[Partial]) -> list[Partial]:
        """Matches in emission order. Without a skip strategy they go out at once; with one,
        the earliest-starting match goes first and prunes what it overlaps, and a match waits
        while a partial match that started before it might still complete (Flink's
        processMatchesAccordingToSkipStrategy)."""
        if not self.skip.skips:
            completed.sort(key=lambda p: p.start_seq)
            if self.trace is not None:
                self.trace.extend(("completed", p) for p in completed)
            return completed
        pending = partition.pending
        pending.extend(completed)
        if not pending:
            return []
        pending.sort(key=lambda p: p.start_seq)
        emitted = []
        first_partial = min((p.start_seq for p in partition.partials), default=None)
        while pending:
            earliest = pending[0]
            if first_partial is not None and first_partial < earliest.start_seq:
                break
            pending.pop(0)
            emitted.append(earliest)
            if self.trace is not None:
                self.trace.append(("completed", earliest))
            pruning = self.skip.pruning_seq(earliest.node, self.buffer, self.automaton)
            if pruning is not None:
                prune = self.skip.prunes
                if self.trace is not None:
                    self.trace.extend(("skipped", p) for p in (*partition.partials, *pending)
                                      if prune(p.start_seq, pruning))
                partition.partials = [p for p in partition.partials
                                      if not prune(p.start_seq, pruning)]
                pending[:] = [p for p in pending if not prune(p.start_seq, pruning)]
                first_partial = min((p.start_seq for p in partition.partials),
                                    default=None)
        return emitted
