"""The physical plan: the operator graph of a job, as a value.

A JobGraph names every topic (one per stream), the sources feeding topics, the queries (each
a chain of operator specs from one input topic to one output topic) and the sinks. The
runtime instantiates it (engine/runtime.py); `explain()` prints it. Specs hold analyzed AST
expressions; operators/ compiles them to polars expressions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from frys.dsl import ast
from frys.dsl.analyzed import AggregateCall, AnalyzedQuery, StreamDef
from frys.dsl.plan_render import render_graph
from frys.dsl.printer import expr_to_sql, interval_text, pattern_to_sql
from frys.dsl.types import FrysType


@dataclass(frozen=True)
class FilterProjectSpec:
    """Stateless: WHERE then the SELECT list."""

    where: ast.Expr | None
    outputs: list[tuple[str, ast.Expr]]
    output_types: dict[str, FrysType]

    # what every plan node tells the runtime (see PatternMatchSpec): a filter has no late
    # events and no timeouts
    timeouts_stream = None

    def late_targets(self, inputs: tuple[str, ...]) -> dict[str, str]:
        return {}

    def describe(self) -> list[str]:
        lines = [f"filter {expr_to_sql(self.where)}"] if self.where is not None else []
        return lines + ["project " + _outputs_text(self.outputs)]


@dataclass(frozen=True)
class AggregateClauses:
    """What a grouped aggregation has whatever its window: WHERE, the input's event-time
    column (None: the stream has none, only for running aggregates; FIRST and LAST then go
    by arrival order), GROUP BY keys, the aggregates, HAVING, the SELECT list and its types,
    and how rows are emitted (EMIT CHANGES, or EMIT EVERY `emit_every_ms` of event time;
    neither: EMIT FINAL). Each aggregate plan node holds one, beside its window's fields."""

    where: ast.Expr | None
    event_time: str | None
    group_keys: list[tuple[str, ast.Expr]]
    aggregates: list[AggregateCall]
    having: ast.Expr | None
    outputs: list[tuple[str, ast.Expr]]
    output_types: dict[str, FrysType]
    emit_changes: bool = False
    emit_every_ms: int | None = None


class _WindowOverOneInput:
    """What a window kind tells the runtime: its late events go to the input stream's
    `late` stream (`late_stream`, None without one); windows time out no partial match."""

    late_stream: str | None
    timeouts_stream = None

    def late_targets(self, inputs: tuple[str, ...]) -> dict[str, str]:
        """Per input stream: the stream its late events go to (the input's `late`)."""
        return {inputs[0]: self.late_stream} if self.late_stream is not None else {}


@dataclass(frozen=True)
class RunningAggregateSpec:
    """GROUP BY without a window: one never-ending group per key, its new row emitted
    whenever a batch changes it (the analyzer requires EMIT CHANGES). Nothing is ever late."""

    clauses: AggregateClauses

    timeouts_stream = None  # aggregates have no partial matches to time out

    def __post_init__(self) -> None:
        if not self.clauses.emit_changes or self.clauses.emit_every_ms is not None:
            raise ValueError("a running aggregate has no window to close: it emits changes")

    def late_targets(self, inputs: tuple[str, ...]) -> dict[str, str]:
        return {}

    def describe(self) -> list[str]:
        return _aggregate_lines(self.clauses, "running aggregate (no window)",
                                _time_window_fires(self.clauses, 0), None)


@dataclass(frozen=True)
class TumbleSpec(_WindowOverOneInput):
    """TUMBLE(size): windows `[start, start + size)`, starts on multiples of the size; each
    fires when the watermark reaches its end + lateness; later events for it are late."""

    clauses: AggregateClauses
    size_ms: int
    lateness_ms: int = 0
    late_stream: str | None = None  # where late events go (the input stream's `late`)

    def describe(self) -> list[str]:
        window = f"tumbling window {interval_text(self.size_ms)} on {self.clauses.event_time}"
        return _aggregate_lines(self.clauses, window,
                                _time_window_fires(self.clauses, self.lateness_ms),
                                self.late_stream)


@dataclass(frozen=True)
class HopSpec(_WindowOverOneInput):
    """HOP(size, slide), slide < size: windows `[start, start + size)` starting every
    `slide`, so each event is in several; each fires as a TUMBLE window does. (HOP(s, s) is
    planned as TUMBLE(s).)"""

    clauses: AggregateClauses
    size_ms: int
    slide_ms: int
    lateness_ms: int = 0
    late_stream: str | None = None

    def describe(self) -> list[str]:
        window = (f"hopping window {interval_text(self.size_ms)} every "
                  f"{interval_text(self.slide_ms)} on {self.clauses.event_time}")
        return _aggregate_lines(self.clauses, window,
                                _time_window_fires(self.clauses, self.lateness_ms),
                                self.late_stream)


@dataclass(frozen=True)
class SessionSpec(_WindowOverOneInput):
    """SESSION(gap): per key, events closer than `gap_ms` to one another form a session
    `[first, last + gap)`; it fires when the watermark passes its end + lateness."""

    clauses: AggregateClauses
    gap_ms: int
    lateness_ms: int = 0
    late_stream: str | None = None

    def describe(self) -> list[str]:
        window = (f"session window, gap {interval_text(self.gap_ms)} on "
                  f"{self.clauses.event_time}")
        return _aggregate_lines(self.clauses, window,
                                _time_window_fires(self.clauses, self.lateness_ms),
                                self.late_stream)


@dataclass(frozen=True)
class CountWindowSpec(_WindowOverOneInput):
    """ROWS(rows, rows_slide): per key in event-time order, a window every `rows_slide`
    events, each of `rows` events (ROWS(n) is ROWS(n, n)); a window fires when full. An event
    behind the watermark is late: windows count events, so there is no lateness to allow."""

    clauses: AggregateClauses
    rows: int
    rows_slide: int
    late_stream: str | None = None

    def describe(self) -> list[str]:
        window = (f"count window of {self.rows} events"
                  + (f" every {self.rows_slide}" if self.rows_slide != self.rows else ""))
        fires = f"fires at {self.rows} events"
        if self.clauses.emit_changes:
            fires = "emits each window's new row as events are released to it"
        elif self.clauses.emit_every_ms is not None:
            fires += (f", short windows emit early every "
                      f"{interval_text(self.clauses.emit_every_ms)} of event time")
        return _aggregate_lines(self.clauses, window, fires, self.late_stream)


# the plan nodes of grouped aggregation, one per window kind
AggregateSpec = RunningAggregateSpec | TumbleSpec | HopSpec | SessionSpec | CountWindowSpec


def _time_window_fires(clauses: AggregateClauses, lateness_ms: int) -> str:
    """When windows in event time (and running aggregates, under EMIT CHANGES) emit."""
    if clauses.emit_changes:
        return "emits each group's new row whenever a batch changes it"
    if clauses.emit_every_ms is not None:
        return (f"emits open windows every {interval_text(clauses.emit_every_ms)} of event "
                "time, then fires when the watermark passes the window end")
    fires = "fires when the watermark passes the window end"
    if lateness_ms:
        fires += f" + {interval_text(lateness_ms)} of lateness"
    return fires


def _aggregate_lines(clauses: AggregateClauses, window: str, fires: str,
                     late_stream: str | None) -> list[str]:
    """`explain`'s lines of an aggregate plan node: filter, the window line, having, project."""
    lines = [f"filter {expr_to_sql(clauses.where)}"] if clauses.where is not None else []
    keys = ", ".join(expr_to_sql(e) for _, e in clauses.group_keys) or "(no keys)"
    aggregates = ", ".join(aggregate_text(a) for a in clauses.aggregates) or "(none)"
    late = f"; late events -> topic {late_stream}" if late_stream else ""
    lines.append(f"{window}, group by {keys}, aggregates {aggregates}, {fires}{late}")
    if clauses.having is not None:
        lines.append(f"having {expr_to_sql(clauses.having)}")
    lines.append("project " + _outputs_text(clauses.outputs))
    return lines


@dataclass(frozen=True)
class PatternMatchSpec:
    """PARTITION BY, PATTERN, WITHIN, DEFINE, AFTER MATCH over one stream; one row per
    match (operators/pattern/)."""

    match: ast.MatchClause
    variables: list[str]  # in order of first appearance in the pattern
    event_times: dict[str, str]  # per FROM stream (in FROM order): its event-time column
    stream_of: dict[str, str]  # per variable: the stream its events come from
    outputs: list[tuple[str, ast.Expr]]
    output_types: dict[str, FrysType]
    # per FROM stream: its columns
    stream_columns: dict[str, dict[str, FrysType]] = field(default_factory=dict, repr=False)
    # per FROM stream with a `late` option: where its late events go
    late_streams: dict[str, str] = field(default_factory=dict)
    timeouts_stream: str | None = None

    def late_targets(self, inputs: tuple[str, ...]) -> dict[str, str]:
        """Per input stream with a `late` option: the stream its late events go to."""
        return dict(self.late_streams)

    @property
    def event_time(self) -> str:
        return ", ".join(f"{s}.{c}" if len(self.event_times) > 1 else c
                         for s, c in self.event_times.items())

    def describe(self) -> list[str]:
        match = self.match
        lines = []
        if match.partition_by:
            lines.append("partition by " + ", ".join(c.name for c in match.partition_by))
        within = ""
        if match.within_ms is not None:
            within = f" within {interval_text(match.within_ms)}"
            if match.within_between_events:
                within += " between events"
        lines.append(f"match pattern ({pattern_to_sql(match.pattern)}){within} in event "
                     f"time on {self.event_time}")
        for define in match.defines:
            until = f" until {expr_to_sql(define.until)}" if define.until is not None else ""
            lines.append(f"define {define.variable} as {expr_to_sql(define.condition)}{until}")
        strategy = match.after_match.strategy if match.after_match else "SKIP PAST LAST EVENT"
        if match.after_match is not None and match.after_match.variable:
            strategy += f" {match.after_match.variable}"
        lines.append(f"after match {strategy.lower()}")
        if self.timeouts_stream:
            lines.append(f"timed-out partial matches -> topic {self.timeouts_stream}")
        lines.append("project " + _outputs_text(self.outputs))
        return lines


@dataclass(frozen=True)
class JoinSide:
    """One input of an interval join: its stream, the name its columns are qualified with in
    the query (its alias, else the stream's name), its event-time column, the columns the
    operator buffers (after projection pruning; the event time among them) and the filter
    pushed down onto it (a WHERE conjunct on this side alone)."""

    stream: str
    qualifier: str
    event_time: str
    columns: dict[str, FrysType]
    where: ast.Expr | None = None

    def describe(self) -> str:
        name = self.stream if self.qualifier == self.stream else f"{self.stream} {self.qualifier}"
        where = f" where {expr_to_sql(self.where)}" if self.where is not None else ""
        return (f"{name} on {self.event_time}{where}, buffers "
                + (", ".join(self.columns) or "(no columns)"))


JOIN_KINDS = ("INNER", "LEFT", "RIGHT", "FULL")


class _JoinOfTwoStreams:
    """What the joins of two streams (IntervalJoinSpec, WindowJoinSpec) tell the runtime and
    explain alike: which sides keep their unmatched rows, where late events go, the keys."""

    kind: str
    keys: list[tuple[ast.Expr, ast.Expr]]
    left: JoinSide
    right: JoinSide
    residual: ast.Expr | None
    where: ast.Expr | None
    outputs: list[tuple[str, ast.Expr]]
    late_streams: dict[str, str]
    NAME = "join"  # explain's word for the kind: "interval join", "window join"

    timeouts_stream = None  # a join keeps no partial matches

    def _check_kind(self) -> None:
        if self.kind not in JOIN_KINDS:
            raise ValueError(f"{self.NAME}s are {', '.join(JOIN_KINDS)}, not {self.kind}")

    def unmatched_sides(self) -> str:
        """The sides whose unmatched rows come out, for explain ("left and right", "")."""
        return " and ".join(name for index, name in enumerate(("left", "right"))
                            if self.preserves(index))

    def _lines(self, how: str, state: str) -> list[str]:
        """Explain's lines: the kind, keys and `how` rows pair, each side, the residual,
        the `state`, late events, WHERE and the SELECT list."""
        prefix = {"INNER": "", "LEFT": "left ", "RIGHT": "right ", "FULL": "full outer "}
        lines = [f"{prefix[self.kind]}{self.NAME} on {self.keys_text()} {how}",
                 "left: " + self.left.describe(), "right: " + self.right.describe()]
        if self.residual is not None:
            lines.append(f"residual {expr_to_sql(self.residual)}")
        lines.append("state: " + state)
        for stream, late in self.late_streams.items():
            lines.append(f"late events of {stream} -> topic {late}")
        if self.where is not None:
            lines.append(f"filter {expr_to_sql(self.where)}")
        return lines + ["project " + _outputs_text(self.outputs)]

    def preserves(self, side: int) -> bool:
        """Whether the side (0 left, 1 right) keeps its unmatched rows (outer joins)."""
        return self.kind == "FULL" or self.kind == ("LEFT", "RIGHT")[side]

    def late_targets(self, inputs: tuple[str, ...]) -> dict[str, str]:
        """Per input stream with a `late` option: the stream its late events go to."""
        return dict(self.late_streams)

    def keys_text(self) -> str:
        return ", ".join(f"{expr_to_sql(left)} = {expr_to_sql(right)}"
                         for left, right in self.keys) or "(no keys: every pair)"


@dataclass(frozen=True)
class IntervalJoinSpec(_JoinOfTwoStreams):
    """`left [LEFT|RIGHT|FULL] JOIN right ON <keys> [AND <residual>] WITHIN t` over two
    streams: each pair of rows with equal keys (`keys`: the ON conjuncts `l = r` with one side
    of the equality on each input), the residual true and the right row's event time within
    [left time - `before_ms`, left time + `after_ms`] (inclusive; WITHIN t: both t; Flink's
    `l.ts BETWEEN r.ts - x AND r.ts + y`: before y, after x) is one output row
    (operators/interval_join.py). `where`: what stays of WHERE above the join, over the joined
    row (for outer joins, NULLs of an unmatched row included). `kind` LEFT (RIGHT) also emits
    each left (right) row that matched nothing, once, with NULLs for the other side, when the
    watermark passes the last time a row of the other side could match it; FULL both. The two
    sides may read the same stream (a self-join): the query's inputs are then that stream
    twice, and each batch of it goes to both sides."""

    left: JoinSide
    right: JoinSide
    keys: list[tuple[ast.Expr, ast.Expr]]  # (over the left input, over the right input)
    residual: ast.Expr | None
    before_ms: int  # how far before a left row's time a right row may be
    after_ms: int  # how far after it
    kind: str  # one of JOIN_KINDS
    where: ast.Expr | None
    outputs: list[tuple[str, ast.Expr]]
    output_types: dict[str, FrysType]
    # per input stream with a `late` option: where its late events go
    late_streams: dict[str, str] = field(default_factory=dict)

    NAME = "interval join"

    def __post_init__(self) -> None:
        self._check_kind()
        if self.before_ms + self.after_ms < 0:
            raise ValueError("a join interval cannot be empty (its lower bound above its upper)")

    @property
    def within_ms(self) -> int:
        """The farthest apart two joined rows can be, either way (at least 0)."""
        return max(self.before_ms, self.after_ms, 0)

    def interval_text(self) -> str:
        """The interval in explain's words: `within t` when symmetric, else the range of the
        right row's time around the left row's."""
        if self.before_ms == self.after_ms:
            return f"within {interval_text(self.before_ms)}"
        return (f"right time from left time {_signed_interval(-self.before_ms)} to "
                f"left time {_signed_interval(self.after_ms)}")

    def describe(self) -> list[str]:
        if self.before_ms == self.after_ms:
            reach = f"+ {interval_text(self.within_ms)}"
            state = f"each side's rows until the watermark passes their time {reach}"
        else:
            reach = "+ their side's reach"
            state = (f"left rows until the watermark passes their time "
                     f"{_signed_interval(self.after_ms)}, right rows their time "
                     f"{_signed_interval(self.before_ms)}")
        unmatched = self.unmatched_sides()
        if unmatched:
            state += (f"; unmatched {unmatched} rows with NULLs once the watermark passes "
                      f"time {reach}")
        return self._lines(f"{self.interval_text()} (inclusive) in event time", state)


@dataclass(frozen=True)
class WindowJoinSpec(_JoinOfTwoStreams):
    """`left [LEFT|RIGHT|FULL] JOIN right ON <keys> [AND <residual>] WITHIN TUMBLE(size)`
    (or `HOP(size, slide)`): a window join, Flink SQL's. Each row is put in the windows of
    its own stream's event time (`[start, start + size)`, starts on multiples of `slide`;
    TUMBLE: slide = size), and each pair of rows in one window with equal keys and the
    residual true is one output row, once per window they share, when that window fires:
    the watermark (the smaller of the two inputs') reaches its end + `lateness_ms` (the
    larger of the two streams' `lateness`: a window fires once, for both sides). `kind`
    LEFT (RIGHT) also emits a left (right) row that matched nothing in a window, once per
    such window, with NULLs for the other side, when it fires; FULL both. A row whose
    every window has fired when it arrives is late. `window_start`/`window_end` are
    readable above the join (`where`, `outputs`, the residual). As for interval joins,
    the two sides may read one stream (a self-join). (operators/window_join.py)"""

    left: JoinSide
    right: JoinSide
    keys: list[tuple[ast.Expr, ast.Expr]]  # (over the left input, over the right input)
    residual: ast.Expr | None
    size_ms: int
    slide_ms: int  # = size_ms for TUMBLE
    lateness_ms: int
    kind: str  # one of JOIN_KINDS
    where: ast.Expr | None
    outputs: list[tuple[str, ast.Expr]]
    output_types: dict[str, FrysType]
    # per input stream with a `late` option: where its late events go
    late_streams: dict[str, str] = field(default_factory=dict)

    NAME = "window join"

    def __post_init__(self) -> None:
        self._check_kind()
        if not 0 < self.slide_ms <= self.size_ms:
            raise ValueError("a join window needs 0 < slide <= size")

    @property
    def hopping(self) -> bool:
        return self.slide_ms != self.size_ms

    @property
    def windows_per_row(self) -> int:
        """How many windows each row is in (HOP: size / slide rounded up; TUMBLE: 1)."""
        return -(-self.size_ms // self.slide_ms)

    def window_text(self) -> str:
        if self.hopping:
            return (f"hopping window {interval_text(self.size_ms)} every "
                    f"{interval_text(self.slide_ms)}")
        return f"tumbling window {interval_text(self.size_ms)}"

    def describe(self) -> list[str]:
        fires = "the watermark passes the window end"
        if self.lateness_ms:
            fires += f" + {interval_text(self.lateness_ms)} of lateness"
        per_row = (f"in each of its {self.windows_per_row} windows" if self.hopping
                   else "with its window")
        state = f"each side's rows {per_row} until {fires}, then joined and freed"
        unmatched = self.unmatched_sides()
        if unmatched:
            state += f"; unmatched {unmatched} rows with NULLs once per window, when it fires"
        return self._lines(f"in the same {self.window_text()} (each row by its stream's "
                           "event time)", state)


def _signed_interval(ms: int) -> str:
    return ("- " if ms < 0 else "+ ") + interval_text(abs(ms))


@dataclass(frozen=True)
class TableSide:
    """The table of a stream-table join: its name, the name its columns are qualified with
    in the query, its PRIMARY KEY, its event-time column (None: a table of current rows;
    given: a versioned table), the columns the operator keeps (after projection pruning;
    key and event time among them) and `value_columns`, every declared column but the key
    and the event time: a changelog row with all of them NULL is a delete."""

    table: str
    qualifier: str
    primary_key: str
    event_time: str | None
    columns: dict[str, FrysType]
    value_columns: tuple[str, ...]

    def describe(self) -> str:
        name = self.table if self.qualifier == self.table else f"{self.table} {self.qualifier}"
        time = (f"versioned on {self.event_time}" if self.event_time is not None
                else "current rows")
        return (f"{name} by {self.primary_key}, {time}, keeps "
                + ", ".join(self.columns))


@dataclass(frozen=True)
class TableJoinSpec:
    """`stream [LEFT] JOIN table ON <expr over the stream> = <table>.<primary key>`: each
    stream row enriched with the table's row of its key (operators/table_join.py). Without
    a table event time, the row current when the stream row is processed; with one
    (versioned), the version valid at the stream row's event time, stream rows held back
    until the watermark (both inputs') passes them. INNER drops a stream row without a row
    of its key; LEFT emits it with NULLs. `stream_time`: the stream's event-time column
    (required when versioned). `where`: WHERE above the join, over the joined row (the
    conjuncts over the table alone included: filtering the changelog would keep rows an
    update should have replaced)."""

    stream: str
    stream_qualifier: str
    stream_time: str | None
    stream_columns: dict[str, FrysType]  # what the operator reads of (and holds) a stream row
    table: TableSide
    key: ast.Expr  # over the stream's columns; equals the table's primary key
    kind: str  # 'INNER' | 'LEFT'
    where: ast.Expr | None
    outputs: list[tuple[str, ast.Expr]]
    output_types: dict[str, FrysType]
    # per input with a `late` option (a versioned join: its stream and table): where to
    late_streams: dict[str, str] = field(default_factory=dict)

    timeouts_stream = None  # a join keeps no partial matches

    def __post_init__(self) -> None:
        if self.kind not in ("INNER", "LEFT"):
            raise ValueError(f"stream-table joins are INNER or LEFT, not {self.kind}")
        if self.versioned and self.stream_time is None:
            raise ValueError("a versioned table join needs the stream's event time")

    @property
    def versioned(self) -> bool:
        return self.table.event_time is not None

    def late_targets(self, inputs: tuple[str, ...]) -> dict[str, str]:
        """Per input stream with a `late` option: the stream its late events go to."""
        return dict(self.late_streams)

    def describe(self) -> list[str]:
        keyword = "left table join" if self.kind == "LEFT" else "table join"
        table = self.table
        how = ("the version valid at each stream row's event time; stream rows held until "
               "the watermark passes them" if self.versioned
               else "the current row when each stream row is processed")
        lines = [f"{keyword} {self.stream} on {expr_to_sql(self.key)} = "
                 f"{table.qualifier}.{table.primary_key}: {how}",
                 "table: " + table.describe()]
        state = ("state: per key the versions after the watermark and the latest one at "
                 "or before it" if self.versioned else "state: one row per key")
        lines.append(state + "; a changelog row with "
                     + (", ".join(table.value_columns) or "its value columns")
                     + " all NULL deletes its key")
        for stream, late in self.late_streams.items():
            lines.append(f"late events of {stream} -> topic {late}")
        if self.where is not None:
            lines.append(f"filter {expr_to_sql(self.where)}")
        return lines + ["project " + _outputs_text(self.outputs)]


@dataclass(frozen=True)
class TableScanSpec:
    """`SELECT ... FROM t [WHERE ...]` over a table: its rows when its input ends (one per
    live key; versioned, the latest in event time), through WHERE and the SELECT list, in
    key order (operators/table_join.py TableScan)."""

    table: TableSide
    where: ast.Expr | None
    outputs: list[tuple[str, ast.Expr]]
    output_types: dict[str, FrysType]

    timeouts_stream = None  # a scan keeps no partial matches

    def late_targets(self, inputs: tuple[str, ...]) -> dict[str, str]:
        return {}  # a table's rows are upserts: none is late for a scan

    def describe(self) -> list[str]:
        lines = [f"table scan {self.table.describe()}: its rows when its input ends, in "
                 "key order"]
        if self.where is not None:
            lines.append(f"filter {expr_to_sql(self.where)}")
        return lines + ["project " + _outputs_text(self.outputs)]


OperatorSpec = (FilterProjectSpec | AggregateSpec | PatternMatchSpec | IntervalJoinSpec
                | WindowJoinSpec | TableJoinSpec | TableScanSpec)


def aggregate_text(aggregate: AggregateCall) -> str:
    """An aggregate as written (`SUM(volume)`), without PERCENTILE's fraction."""
    if aggregate.argument is None:
        return f"{aggregate.function}(*)"
    distinct = "DISTINCT " if aggregate.distinct else ""
    return f"{aggregate.function}({distinct}{expr_to_sql(aggregate.argument)})"


def _outputs_text(outputs: list[tuple[str, ast.Expr]]) -> str:
    parts = []
    for name, expr in outputs:
        text = expr_to_sql(expr)
        parts.append(text if text == name else f"{text} AS {name}")
    return ", ".join(parts)


@dataclass(frozen=True)
class QueryNode:
    """One query of the plan: its input topics (several for a pattern over several FROM
    streams, merged in event time; a join's two sides), its operator's plan node and its
    output topic."""

    index: int
    inputs: tuple[str, ...]
    output_topic: str
    operator: OperatorSpec
    to_caller: bool  # a bare SELECT: rows go to stdout / the API caller
    analyzed: AnalyzedQuery
    # the output's watermark is the input's minus this (None: the output's event time is not
    # derived from the input's, so only the rows it publishes move its watermark)
    watermark_lag_ms: int | None = None
    # positions in `inputs` whose watermark does not hold the query's back: a table joined
    # by its current row (no event time; its rows are looked up as they are, never waited for)
    untimed_inputs: tuple[int, ...] = ()
    # a join stage of a query (engine/join_stages.py: "join", or "join1", "join2", ... for
    # several), sharing the query's number with its last step, whose stage is ""
    stage: str = ""


@dataclass(frozen=True)
class ConnectorNode:
    """A source feeding a topic, or a sink fed by one."""

    uri: str
    topic: str


@dataclass
class JobGraph:
    topics: dict[str, StreamDef]
    sources: list[ConnectorNode] = field(default_factory=list)
    queries: list[QueryNode] = field(default_factory=list)
    sinks: list[ConnectorNode] = field(default_factory=list)
    source_name: str = "<query>"

    def render(self, fmt: str) -> str:
        """The operator graph as mermaid or dot: sources -> topics -> queries -> topics or
        the caller -> sinks."""
        nodes: dict[str, str] = {}
        edges: list[tuple[str, str]] = []
        topic_ids = {name: f"t{i}" for i, name in enumerate(self.topics)}
        used = {s.topic for s in self.sources} | {s.topic for s in self.sinks}
        used |= {name for q in self.queries for name in q.inputs}
        used |= {q.output_topic for q in self.queries if not q.to_caller}
        for name in self.topics:
            if name in used:
                nodes[topic_ids[name]] = f"topic {name}"
        for i, source in enumerate(self.sources):
            nodes[f"src{i}"] = f"source {source.uri}"
            edges.append((f"src{i}", topic_ids[source.topic]))
        for position, query in enumerate(self.queries):
            node = f"q{position}"  # a query's stages (engine/join_stages.py) share its number
            nodes[node] = (f"query {query.index + 1}: "
                           + " -> ".join(query.operator.describe()))
            edges.extend((topic_ids[name], node) for name in query.inputs)
            if query.to_caller:
                nodes[f"out{query.index}"] = "caller (stdout)"
                edges.append((node, f"out{query.index}"))
            else:
                edges.append((node, topic_ids[query.output_topic]))
        for i, sink in enumerate(self.sinks):
            nodes[f"sink{i}"] = f"sink {sink.uri}"
            edges.append((topic_ids[sink.topic], f"sink{i}"))
        return render_graph(nodes, edges, fmt, f"job {self.source_name}")

    def explain(self) -> str:
        """The operator graph as indented text, sources first, in statement order."""
        lines = [f"job {self.source_name}"]
        for name, stream in self.topics.items():
            if stream.built_in and not any(s.topic == name for s in self.sinks):
                continue
            columns = ", ".join(f"{c} {t}" for c, t in (stream.columns or {}).items())
            time = (f"; event time {stream.event_time}, watermark "
                    f"{interval_text(stream.watermark_ms)}" if stream.event_time else "")
            if stream.event_time and stream.idle_timeout_ms is not None:
                time += f", idle after {interval_text(stream.idle_timeout_ms)}"
            lines.append(f"  topic {name} ({columns}){time}")
        for source in self.sources:
            lines.append(f"  source {source.uri} -> topic {source.topic}")
        for query in self.queries:
            target = "caller (stdout)" if query.to_caller else f"topic {query.output_topic}"
            inputs = " + ".join(f"topic {name}" for name in query.inputs)
            named = query.analyzed.statement.name
            label = f"{query.index + 1} ({named})" if named is not None else query.index + 1
            lines.append(f"  query {label}: {inputs} -> {target}")
            for step in query.operator.describe():
                lines.append(f"    -> {step}")
        for sink in self.sinks:
            lines.append(f"  sink topic {sink.topic} -> {sink.uri}")
        return "\n".join(lines)
