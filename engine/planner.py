"""Analyzed job -> logical plans -> optimizer rules -> physical plan (engine.graph.JobGraph).

Each query's optimized logical plan becomes one operator chain from its input topic to its
output topic: a stateless FilterProject (Scan -> Filter -> Project), an aggregate (Scan ->
Filter -> Aggregate -> Project: one plan node type per window kind, the clauses they share
in an AggregateClauses), or a pattern match. The planner is only asked for runnable jobs
(compile_text refuses the rest).
"""

from __future__ import annotations

from frys.dsl import ast
from frys.dsl.analyzed import AnalyzedJob, AnalyzedQuery, StreamDef
from frys.dsl.logical import (
    Aggregate,
    Filter,
    Match,
    Output,
    Project,
    Scan,
    build,
    conjunction,
)
from frys.dsl.optimizer import optimize
from frys.dsl.parser import garbage_collection_paused
from frys.engine.graph import (
    AggregateClauses,
    AggregateSpec,
    ConnectorNode,
    CountWindowSpec,
    FilterProjectSpec,
    HopSpec,
    JobGraph,
    OperatorSpec,
    PatternMatchSpec,
    QueryNode,
    RunningAggregateSpec,
    SessionSpec,
    TumbleSpec,
)


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
    assert isinstance(node, Scan), "joins and patterns are refused before planning"
    where = conjunction(predicates)
    outputs = list(project.outputs)
    if aggregate is None:
        return FilterProjectSpec(where, outputs, query.output_types)
    stream = job.streams[node.stream]
    return _aggregate(aggregate, stream, AggregateClauses(
        where, stream.event_time, list(aggregate.keys), list(aggregate.aggregates),
        aggregate.having, outputs, query.output_types,
        emit_changes=aggregate.emit == "CHANGES",
        emit_every_ms=aggregate.emit_every_ms if aggregate.emit == "EVERY" else None))


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
    than `lateness` behind it. Anything else (sessions, count windows, computed times)
    promises nothing; its rows alone move the output's watermark."""
    output = job.streams.get(query.output_stream)
    if output is None or output.event_time is None:
        return None
    outputs = spec.clauses.outputs if isinstance(spec, AggregateSpec) else spec.outputs
    expr = dict(outputs).get(output.event_time)
    if not isinstance(expr, ast.ColumnRef):
        return None
    input_time = job.streams[query.input_stream].event_time
    if isinstance(spec, FilterProjectSpec):
        return 0 if expr.name == input_time else None
    if not isinstance(spec, TumbleSpec | HopSpec):
        return None
    if expr.name == "window_end":
        return spec.lateness_ms
    if expr.name == "window_start":
        return spec.size_ms + spec.lateness_ms
    return None


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
        spec = _operator(job, query, logical)
        more = tuple(s.name for s in query.statement.more_sources) \
            if query.statement.match is not None else ()
        graph.queries.append(QueryNode(query.index, (query.input_stream, *more),
                                       query.output_stream, spec, query.is_bare_select, query,
                                       watermark_lag(job, query, spec)))
    return graph
