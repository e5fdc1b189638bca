"""Analyzed job -> logical plans -> optimizer rules -> physical plan (engine.graph.JobGraph).

Each query's optimized logical plan becomes one operator chain from its input topic to its
output topic: a stateless FilterProject (Scan -> Filter -> Project), an aggregate (Scan ->
Filter -> Aggregate -> Project: one plan node type per window kind, the clauses they share
in an AggregateClauses), a pattern match, or an interval or window join of two streams
(Scan -> [Filter] on each side -> Join -> Filter -> Project). A query joining more than two
inputs, or aggregating over a join, is first cut into join stages writing internal streams
(engine/join_stages.py), each planned as such a query. The planner is only asked for
runnable jobs (compile_text refuses the rest).
"""

from __future__ import annotations

from dataclasses import replace

from frys.dsl import ast
from frys.dsl.analyzed import AnalyzedJob, AnalyzedQuery, StreamDef
from frys.dsl.join_interval import Bounds, EventTime, split_interval
from frys.dsl.logical import (
    Aggregate,
    Filter,
    Join,
    LogicalNode,
    Match,
    Output,
    Project,
    Scan,
    build,
    conjunction,
    conjuncts,
)
from frys.dsl.optimizer import optimize
from frys.dsl.parser import garbage_collection_paused
from frys.dsl.types import FrysType
from frys.engine.graph import (
    AggregateClauses,
    AggregateSpec,
    ConnectorNode,
    CountWindowSpec,
    FilterProjectSpec,
    HopSpec,
    IntervalJoinSpec,
    JobGraph,
    JoinSide,
    OperatorSpec,
    PatternMatchSpec,
    QueryNode,
    RunningAggregateSpec,
    SessionSpec,
    TableJoinSpec,
    TableScanSpec,
    TableSide,
    TumbleSpec,
    WindowJoinSpec,
)
from frys.engine.join_stages import stage


def logical_plans(job: AnalyzedJob, optimized: bool = True,
                  disabled: frozenset[str] = frozenset()) -> list[tuple[AnalyzedQuery, Output]]:
    """Every query with its logical plan, optimized (all rules but `disabled`) or as built."""
    plans = []
    for query in job.queries:
        plan_ = build(query)
        plans.append((query, optimize(plan_, job.streams, disabled) if optimized else plan_))
    return plans


def pattern_variables(pattern: ast.PatternNode) -> list[str]:
    """The variables of a pattern in order of first appearance."""
    names = (n.name for n in ast.pattern_nodes(pattern) if isinstance(n, ast.PatternVariable))
    return list(dict.fromkeys(names))


def _typed_variables(pattern: ast.PatternNode) -> dict[str, str]:
    """Variable -> the stream its type names (`p:payments`), where written."""
    typed: dict[str, str] = {}
    for node in ast.pattern_nodes(pattern):
        if isinstance(node, ast.PatternVariable) and node.stream is not None:
            typed.setdefault(node.name, node.stream)
    return typed


def _pattern(job: AnalyzedJob, query: AnalyzedQuery, match: Match,
             outputs: list[tuple[str, ast.Expr]]) -> PatternMatchSpec:
    streams = [job.streams[scan.stream] for scan in match.inputs]
    event_times = {}
    for stream in streams:
        assert stream.event_time is not None, "the analyzer requires event_time for patterns"
        event_times[stream.name] = stream.event_time
    variables = pattern_variables(match.clause.pattern)
    typed = _typed_variables(match.clause.pattern)
    stream_of = {v: typed.get(v, streams[0].name) for v in variables}
    return PatternMatchSpec(match.clause, variables, event_times, stream_of, outputs,
                            query.output_types,
                            {s.name: dict(s.columns or {}) for s in streams},
                            {s.name: s.late[0] for s in streams if s.late},
                            match.clause.timeouts_to)


def _operator(job: AnalyzedJob, query: AnalyzedQuery, logical: Output) -> OperatorSpec:
    project = logical.input
    assert isinstance(project, Project)
    node = project.input
    if isinstance(node, Match):
        return _pattern(job, query, node, list(project.outputs))
    aggregate = node if isinstance(node, Aggregate) else None
    if aggregate is not None:
        node = aggregate.input
    predicates: list[ast.Expr] = []
    while isinstance(node, Filter):
        predicates.insert(0, node.predicate)
        node = node.input
    if isinstance(node, Join) and _is_table_join(job, node):
        assert aggregate is None, "the analyzer refuses GROUP BY over a join"
        return _table_join(job, query, node, predicates, list(project.outputs))
    if isinstance(node, Join) and node.window is not None:
        assert aggregate is None, "the analyzer refuses GROUP BY over a join"
        return _window_join(job, query, node, conjunction(predicates), list(project.outputs))
    if isinstance(node, Join):
        assert aggregate is None, "the analyzer refuses GROUP BY over a join"
        return _interval_join(job, query, node, conjunction(predicates), list(project.outputs))
    assert isinstance(node, Scan), "patterns are planned above"
    where = conjunction(predicates)
    outputs = list(project.outputs)
    if job.streams[node.stream].is_table:
        assert aggregate is None, "the analyzer refuses GROUP BY over a table"
        return TableScanSpec(_table_side(job.streams[node.stream], node), where, outputs,
                             query.output_types)
    if aggregate is None:
        return FilterProjectSpec(where, outputs, query.output_types)
    stream = job.streams[node.stream]
    return _aggregate(aggregate, stream, AggregateClauses(
        where, stream.event_time, list(aggregate.keys), list(aggregate.aggregates),
        aggregate.having, outputs, query.output_types,
        emit_changes=aggregate.emit == "CHANGES",
        emit_every_ms=aggregate.emit_every_ms if aggregate.emit == "EVERY" else None))


def _join_side(job: AnalyzedJob, node: LogicalNode) -> JoinSide:
    """One input of a join: a Scan, under the filters pushed down onto it."""
    predicates: list[ast.Expr] = []
    while isinstance(node, Filter):
        predicates.insert(0, node.predicate)
        node = node.input
    assert isinstance(node, Scan), "the analyzer refuses a join of more than two streams"
    stream = job.streams[node.stream]
    assert stream.event_time is not None, "the analyzer requires event_time on both sides"
    columns = dict(stream.columns or {})
    read = set(columns if node.columns is None else node.columns) | {stream.event_time}
    return JoinSide(stream.name, node.alias or stream.name, stream.event_time,
                    {c: t for c, t in columns.items() if c in read}, conjunction(predicates))


def side_of(ref: ast.ColumnRef, job: AnalyzedJob, left: JoinSide, right: JoinSide
            ) -> JoinSide | None:
    """The join input a column reference reads: by its qualifier, else the one stream
    having the column (the analyzer refused an ambiguous one)."""
    for side in (left, right):
        if ref.qualifier == side.qualifier or (
                ref.qualifier is None and ref.name in (job.streams[side.stream].columns or {})):
            return side
    return None


def _sides(expr: ast.Expr, job: AnalyzedJob, left: JoinSide, right: JoinSide
           ) -> set[str]:
    refs = (n for n in ast.walk(expr) if isinstance(n, ast.ColumnRef))
    return {side.qualifier for ref in refs if (side := side_of(ref, job, left, right))}


def _interval_join(job: AnalyzedJob, query: AnalyzedQuery, join: Join,
                   where: ast.Expr | None, outputs: list[tuple[str, ast.Expr]]
                   ) -> IntervalJoinSpec:
    """Split ON into the interval (WITHIN, or Flink's event-time comparisons in ON), the
    equi-keys (`l = r` of the same type, one side of the equality over each input: hashed)
    and the residual (the rest, a filter over the candidate pairs)."""
    left, right = _join_side(job, join.left), _join_side(job, join.right)
    times = (EventTime(frozenset({left.qualifier}), left.event_time),
             EventTime(frozenset({right.qualifier}), right.event_time))
    bounds, _, parts = split_interval(join.condition, *times)
    if join.kind == "INNER" and where is not None:
        # for an inner join, WHERE over the joined rows and ON over the candidate pairs
        # are one condition: an interval written in WHERE (the analyzer typed it as the
        # join's) is the join's bounds, and an equality across the sides one of its keys
        # (`FROM a, b WHERE a.k = b.k AND a.ts BETWEEN ...`: Flink SQL's spelling)
        found, _, rest = split_interval(where, *times)
        if found is not None:
            bounds = found if bounds is None else bounds.meet(found)
        crossing = [part for part in rest if _equi_key(part, job, left, right) is not None]
        parts = [*parts, *crossing]
        where = conjunction([part for part in rest if not any(part is c for c in crossing)])
    if join.within_ms is not None:  # comparisons of the event times in ON narrow it
        within = Bounds(-join.within_ms, join.within_ms)
        bounds = within if bounds is None else bounds.meet(within)
    assert bounds is not None and bounds.low is not None and bounds.high is not None, \
        "the analyzer requires WITHIN or both bounds in ON for a stream join"
    before, after = -bounds.low, bounds.high
    keys, residual = _equi_keys(job, parts, left, right)
    late = {s.name: s.late[0] for s in (job.streams[left.stream], job.streams[right.stream])
            if s.late}
    return IntervalJoinSpec(left, right, keys, residual, before, after,
                            join.kind, where, outputs, query.output_types, late)


def _equi_keys(job: AnalyzedJob, parts: list[ast.Expr], left: JoinSide, right: JoinSide
               ) -> tuple[list[tuple[ast.Expr, ast.Expr]], ast.Expr | None]:
    """ON's conjuncts -> the equi-keys (`l = r` of the same type, one side of the equality
    over each input: hashed) and the residual (the rest, a filter over the candidates)."""
    keys: list[tuple[ast.Expr, ast.Expr]] = []
    residual: list[ast.Expr] = []
    for part in parts:
        key = _equi_key(part, job, left, right)
        if key is not None:
            keys.append(key)
        elif not (isinstance(part, ast.Literal) and part.value is True):  # `FROM a, b`'s ON
            residual.append(part)
    return keys, conjunction(residual)


def _window_join(job: AnalyzedJob, query: AnalyzedQuery, join: Join,
                 where: ast.Expr | None, outputs: list[tuple[str, ast.Expr]]
                 ) -> WindowJoinSpec:
    """`WITHIN TUMBLE(size)` / `HOP(size, slide)`: ON split into equi-keys and residual as
    for interval joins (event-time comparisons in ON are plain residual here); windows fire
    after the larger of the two streams' `lateness` (one firing serves both sides)."""
    left, right = _join_side(job, join.left), _join_side(job, join.right)
    window = join.window
    assert window is not None and window.name in ("TUMBLE", "HOP"), "the analyzer checked"
    sizes = [arg.millis for arg in window.args if isinstance(arg, ast.IntervalLiteral)]
    keys, residual = _equi_keys(job, conjuncts(join.condition), left, right)
    streams = (job.streams[left.stream], job.streams[right.stream])
    late = {s.name: s.late[0] for s in streams if s.late}
    return WindowJoinSpec(left, right, keys, residual, sizes[0], sizes[-1],
                          max(s.lateness_ms for s in streams), join.kind, where, outputs,
                          query.output_types, late)


def _equi_key(part: ast.Expr, job: AnalyzedJob, left: JoinSide, right: JoinSide
              ) -> tuple[ast.Expr, ast.Expr] | None:
    """`l = r` of one type, `l` over the left input only and `r` over the right only (or
    the other way round): a hash key of the join, as (left expression, right expression)."""
    if isinstance(part, ast.BinaryOp) and part.op == "=" and (
            part.left.type == part.right.type != FrysType.NULL):
        sides = (_sides(part.left, job, left, right), _sides(part.right, job, left, right))
        if sides == ({left.qualifier}, {right.qualifier}):
            return part.left, part.right
        if sides == ({right.qualifier}, {left.qualifier}):
            return part.right, part.left
    return None


def _unfiltered(node: LogicalNode) -> tuple[Scan, list[ast.Expr]]:
    """The Scan under a join input and the filters pushed down onto it."""
    predicates: list[ast.Expr] = []
    while isinstance(node, Filter):
        predicates.insert(0, node.predicate)
        node = node.input
    assert isinstance(node, Scan), "the analyzer refuses a join of more than two inputs"
    return node, predicates


def _is_table_join(job: AnalyzedJob, join: Join) -> bool:
    return job.streams[_unfiltered(join.right)[0].stream].is_table


def _table_join(job: AnalyzedJob, query: AnalyzedQuery, join: Join,
                where: list[ast.Expr], outputs: list[tuple[str, ast.Expr]]) -> TableJoinSpec:
    """A stream enriched by a table: ON is `<expr over the stream> = <table>.<key>` (the
    analyzer checked). Filters pushed onto the stream stay below the join; those pushed
    onto the table go above it (filtering the changelog would keep a row an update
    failing the filter should have replaced)."""
    scan, stream_where = _unfiltered(join.left)
    table_scan, table_where = _unfiltered(join.right)
    stream, table = job.streams[scan.stream], job.streams[table_scan.stream]
    assert table.primary_key is not None, "the analyzer requires a table's PRIMARY KEY"
    qualifier = table_scan.alias or table.name
    side = _table_side(table, table_scan)
    condition = join.condition
    assert isinstance(condition, ast.BinaryOp) and condition.op == "=", \
        "the analyzer requires ON <expr> = <table key>"
    key = (condition.left if table_key_ref(condition.right, table, qualifier)
           else condition.right)
    stream_columns = dict(stream.columns or {})
    read = set(stream_columns if scan.columns is None else scan.columns)
    if stream.event_time is not None:
        read.add(stream.event_time)
    late = ({stream.name: stream.late[0]} if stream.late and table.event_time is not None
            else {})
    return TableJoinSpec(stream.name, scan.alias or stream.name, stream.event_time,
                         {c: t for c, t in stream_columns.items() if c in read}, side, key,
                         join.kind, conjunction([*stream_where, *table_where, *where]),
                         outputs, query.output_types, late)


def _table_side(table: StreamDef, scan: Scan) -> TableSide:
    """What an operator keeps of a table: the columns the query reads (after projection
    pruning), its key and event time; and the value columns that make a tombstone."""
    assert table.primary_key is not None, "the analyzer requires a table's PRIMARY KEY"
    columns = dict(table.columns or {})
    keep = set(columns if scan.columns is None else scan.columns)
    keep |= {table.primary_key} | ({table.event_time} if table.event_time else set())
    value_columns = tuple(c for c in columns if c not in (table.primary_key, table.event_time))
    return TableSide(table.name, scan.alias or table.name, table.primary_key,
                     table.event_time, {c: t for c, t in columns.items() if c in keep},
                     value_columns)


def table_key_ref(expr: ast.Expr, table: StreamDef, qualifier: str) -> bool:
    """Whether `expr` is the table's PRIMARY KEY column (qualified, or unqualified)."""
    return (isinstance(expr, ast.ColumnRef) and expr.name == table.primary_key
            and expr.qualifier in (None, qualifier))


def _aggregate(aggregate: Aggregate, stream: StreamDef, clauses: AggregateClauses
               ) -> AggregateSpec:
    """The plan node of a GROUP BY: one type per window kind."""
    window = aggregate.window
    if window is None:  # a running aggregate: the analyzer required EMIT CHANGES
        return RunningAggregateSpec(clauses)
    assert stream.event_time is not None, "the analyzer requires event_time for windows"
    late_stream = stream.late[0] if stream.late else None
    if window.kind == "ROWS":
        return CountWindowSpec(clauses, window.rows, window.rows_slide, late_stream)
    if window.kind == "SESSION":
        return SessionSpec(clauses, window.size_ms, stream.lateness_ms, late_stream)
    if window.kind == "HOP" and window.slide_ms != window.size_ms:
        return HopSpec(clauses, window.size_ms, window.slide_ms, stream.lateness_ms,
                       late_stream)
    # TUMBLE(size), or HOP(size, size): each event in exactly one window
    return TumbleSpec(clauses, window.size_ms, stream.lateness_ms, late_stream)


def watermark_lag(job: AnalyzedJob, query: AnalyzedQuery, spec: OperatorSpec) -> int | None:
    """How far behind its input's watermark a query can promise its output's: the output's
    event-time column must be the input's event time passed through (lag 0), or the
    window_end (lag: lateness) or window_start (size + lateness) of a TUMBLE or HOP window,
    which fires only windows ending at or before the watermark and never reopens one more
    than `lateness` behind it, or either input's event time passed through an interval join
    (lag: WITHIN; a LEFT join's left input only), or of a window join (`_window_join_lag`).
    Anything else (sessions, count windows, computed times) promises nothing; its rows
    alone move the output's watermark."""
    output = job.streams.get(query.output_stream)
    if output is None or output.event_time is None:
        return None
    outputs = spec.clauses.outputs if isinstance(spec, AggregateSpec) else spec.outputs
    expr = dict(outputs).get(output.event_time)
    if not isinstance(expr, ast.ColumnRef):
        return None
    if isinstance(spec, IntervalJoinSpec):
        # either input's event time passed through: a pair is found when its later row
        # arrives, not behind the watermark, so neither row is more than WITHIN behind it;
        # a LEFT row left unmatched comes out when the watermark passes its time + WITHIN,
        # the watermark before that advance being at most its time + WITHIN
        # (a LEFT join's right side is NULL in unmatched rows: no event time to promise)
        # (with bounds before/after, a pair's row is at most max(before, after, 0) behind;
        # an outer join's NULL-supplying side has no event time to promise)
        side = side_of(expr, job, spec.left, spec.right)
        if side is None or expr.name != side.event_time or spec.preserves(
                1 if side is spec.left else 0):
            return None
        return spec.within_ms
    if isinstance(spec, WindowJoinSpec):
        return _window_join_lag(job, spec, expr)
    input_time = job.streams[query.input_stream].event_time
    if isinstance(spec, TableJoinSpec):
        # the stream's event time passed through: versioned, a row comes out once the
        # watermark passes it; current rows pass each row on as it comes, as a filter
        # does (the table's input does not hold the query's watermark: untimed_inputs)
        passed = expr.name == input_time and expr.qualifier in (None, spec.stream_qualifier)
        return 0 if passed else None
    if isinstance(spec, FilterProjectSpec):
        return 0 if expr.name == input_time else None
    if not isinstance(spec, TumbleSpec | HopSpec):
        return None
    if expr.name == "window_end":
        return spec.lateness_ms
    if expr.name == "window_start":
        return spec.size_ms + spec.lateness_ms
    return None


def _window_join_lag(job: AnalyzedJob, spec: WindowJoinSpec, expr: ast.ColumnRef
                     ) -> int | None:
    """A window join emits a window's rows when the watermark reaches its end + lateness
    (L), and no row of a window that has fired is ever taken (late): what an advance to w
    emits is of windows whose end + L > the watermark w' before it. So window_end passed
    through is > w' - L (lag L); window_start, end - size, > w' - size - L; either side's
    event time is at or after its window's start, so > w' - size - L too (lag size + L;
    HOP alike: every window of a row starts at or before it). An outer join's
    NULL-supplying side has no time to promise."""
    if expr.qualifier is None and expr.name == "window_end":
        return spec.lateness_ms
    if expr.qualifier is None and expr.name == "window_start":
        return spec.size_ms + spec.lateness_ms
    side = side_of(expr, job, spec.left, spec.right)
    if side is None or expr.name != side.event_time or spec.preserves(
            1 if side is spec.left else 0):
        return None
    return spec.size_ms + spec.lateness_ms


def plan(job: AnalyzedJob, disabled: frozenset[str] = frozenset()) -> JobGraph:
    """The operator graph of an analyzed, runnable job."""
    with garbage_collection_paused():
        return _plan(job, disabled)


def _plan(job: AnalyzedJob, disabled: frozenset[str]) -> JobGraph:
    graph = JobGraph(topics=dict(job.streams), source_name=job.source_name)
    for stream in job.streams.values():
        if stream.source:
            graph.sources.append(ConnectorNode(stream.source, stream.name))
        if stream.sink:
            graph.sinks.append(ConnectorNode(stream.sink, stream.name))
    for query, logical in logical_plans(job, disabled=disabled):
        staged = stage(job, query, logical)
        if staged is not None:  # join stages first, each writing the next one's input
            for part in staged.stages:
                graph.topics[part.internal.name] = part.internal
                node = _query_node(staged.job, part.query, part.plan,
                                   stage=part.internal.name.rsplit(".", 1)[1])
                graph.queries.append(replace(node, watermark_lag_ms=(
                    join_time_lag(node.operator) if part.internal.event_time is not None
                    else None)))
            job, query, logical = staged.job, staged.query, staged.plan
        graph.queries.append(_query_node(job, query, logical))
    return graph


def join_time_lag(spec: OperatorSpec) -> int:
    """How far behind a join stage's input watermark its `join_time` may be
    (engine/join_stages.py): 0 for an inner interval join's pairs and a stream-table join;
    the interval for an outer interval join's unmatched rows; a window's size plus
    lateness for a window join's rows, out when their window fires."""
    if isinstance(spec, TableJoinSpec):
        return 0
    if isinstance(spec, WindowJoinSpec):
        return spec.size_ms + spec.lateness_ms
    assert isinstance(spec, IntervalJoinSpec), "a join stage is a join"
    return 0 if spec.kind == "INNER" else spec.within_ms


def _query_node(job: AnalyzedJob, query: AnalyzedQuery, logical: Output, stage: str = ""
                ) -> QueryNode:
    spec = _operator(job, query, logical)
    more = tuple(s.name for s in query.statement.more_sources) \
        if query.statement.match is not None else ()
    untimed: tuple[int, ...] = ()
    if isinstance(spec, IntervalJoinSpec | WindowJoinSpec):
        more = (spec.right.stream,)
    if isinstance(spec, TableJoinSpec):
        more = (spec.table.table,)
        # a table joined by its current row is looked up as it is, never waited for
        untimed = () if spec.versioned else (1,)
    return QueryNode(query.index, (query.input_stream, *more), query.output_stream, spec,
                     query.is_bare_select, query, watermark_lag(job, query, spec), untimed,
                     stage)
