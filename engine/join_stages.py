"""An aggregate over a join, planned as two stages joined by an internal stream.

    SELECT s.carrier, COUNT(*) AS shipped FROM orders o JOIN shipments s
        ON o.id = s.order_id WITHIN 1 HOUR GROUP BY s.carrier, TUMBLE(1 DAY)

runs as the join (its WHERE included) writing the columns the aggregate reads to an
internal stream, and the aggregate reading that stream:

    query 1: topic orders + topic shipments -> topic select_1.join
      (the join; outputs `s.carrier` and `join_time`)
    query 1: topic select_1.join -> caller
      (the GROUP BY, its expressions reading the column `s.carrier` where the
       query wrote s.carrier)

Why a stream between them rather than one operator calling the other: the stream is where
the engine already keeps event time right (the join's output watermark, held back as the
join can promise, the arrival watermark of each row) and where a scale-out runtime cuts a
job into steps; each stage keeps the operator contract on its own. The internal stream is
named `<output>.join` (a dot: no stream of the language can have that name) and shows in
`explain`.

**The join's time** (`join_time`, what windows over a join go by): for an interval join,
the later of the pair's two event times (Flink SQL's rowtime of an interval join), and an
outer join's unmatched row's own time; for a stream-table join, the stream row's event
time. Its watermark: an interval join's pair is found when its later-arriving row comes,
not behind the watermark, so the later of the two times is not behind it either (lag 0);
an outer join's unmatched row comes out once the watermark passes its time + the interval
(lag: the interval); a stream-table join passes the stream's watermark on (lag 0).
So a window over a join never sees a row late.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from frys.dsl import ast
from frys.dsl.analyzed import WINDOW_COLUMNS, AnalyzedJob, AnalyzedQuery, StreamDef
from frys.dsl.logical import Aggregate, Filter, Join, LogicalNode, Output, Project, Scan
from frys.dsl.types import FrysType

JOIN_TIME = "join_time"


@dataclass(frozen=True)
class JoinStages:
    """The two stages of an aggregate over a join: `join` (an Output over Filters over the
    Join, writing `internal`) and `aggregate` (an Output over the Aggregate over a Scan of
    `internal`), each with the AnalyzedQuery it plans as."""

    internal: StreamDef
    join: Output
    join_query: AnalyzedQuery
    aggregate: Output
    aggregate_query: AnalyzedQuery


@dataclass(frozen=True)
class _Input:
    qualifier: str
    stream: StreamDef


def _input(job: AnalyzedJob, node: LogicalNode) -> _Input:
    while isinstance(node, Filter):
        node = node.input
    assert isinstance(node, Scan), "the analyzer refuses a join of more than two inputs"
    return _Input(node.alias or node.stream, job.streams[node.stream])


def split_join_aggregate(job: AnalyzedJob, query: AnalyzedQuery, plan: Output
                         ) -> JoinStages | None:
    """The two stages of `plan` when it aggregates over a join; None otherwise."""
    project = plan.input
    assert isinstance(project, Project)
    aggregate = project.input
    if not isinstance(aggregate, Aggregate):
        return None
    join = aggregate.input
    while isinstance(join, Filter):
        join = join.input
    if not isinstance(join, Join):
        return None
    left, right = _input(job, join.left), _input(job, join.right)
    windowed = aggregate.window is not None

    def input_of(ref: ast.ColumnRef) -> _Input | None:
        if ref.qualifier is None and windowed and ref.name in WINDOW_COLUMNS:
            return None  # the window's bounds, computed by the aggregate
        for side in (left, right):
            if ref.qualifier == side.qualifier or (
                    ref.qualifier is None and ref.name in (side.stream.columns or {})):
                return side
        return None

    # each column the aggregate reads becomes a column of the internal stream, named
    # `<qualifier>.<column>` (as the join operators name their buffered columns)
    columns: dict[str, ast.ColumnRef] = {}

    def internal_ref(ref: ast.ColumnRef) -> ast.Expr | None:
        side = input_of(ref)
        if side is None:
            return None
        name = f"{side.qualifier}.{ref.name}"
        columns.setdefault(name, ast.ColumnRef(ref.name, side.qualifier, span=ref.span,
                                               type=ref.type))
        return ast.ColumnRef(name, None, span=ref.span, type=ref.type)

    def rewrite(expr: ast.Expr) -> ast.Expr:
        return ast.replace_columns(expr, internal_ref)

    keys = tuple((_key_name(name, rewrite(expr)), rewrite(expr))
                 for name, expr in aggregate.keys)
    aggregates = tuple(a if a.argument is None else replace(a, argument=rewrite(a.argument))
                       for a in aggregate.aggregates)
    having = rewrite(aggregate.having) if aggregate.having is not None else None
    outputs = tuple((name, rewrite(expr)) for name, expr in project.outputs)
    group_by = tuple(rewrite(e) for e in aggregate.group_by)

    time = _join_time(job, join, left, right)
    join_outputs: list[tuple[str, ast.Expr]] = list(columns.items())
    if time is not None:
        join_outputs.append((JOIN_TIME, time))
    types = {name: expr.type for name, expr in join_outputs}
    assert all(t is not None for t in types.values()), "the analyzer typed every column"
    output_types: dict[str, FrysType] = {k: v for k, v in types.items() if v is not None}

    name = _internal_name(job, query)
    internal = StreamDef(name, dict(output_types),
                         event_time=JOIN_TIME if time is not None else None)
    join_query = replace(query, output_stream=name, outputs=join_outputs,
                         output_types=output_types, is_bare_select=False, group_keys=[],
                         window=None, aggregates=[], having=None)
    join_plan = Output(Project(aggregate.input, (), tuple(join_outputs)), name, False)
    aggregate_plan = replace(plan, input=replace(project, input=replace(
        aggregate, input=Scan(name, None, tuple(output_types)), group_by=group_by,
        keys=keys, aggregates=aggregates, having=having), outputs=outputs))
    aggregate_query = replace(query, input_stream=name, where=None,
                              outputs=list(outputs), group_keys=list(keys),
                              aggregates=list(aggregates), having=having)
    return JoinStages(internal, join_plan, join_query, aggregate_plan, aggregate_query)


def _key_name(name: str, key: ast.Expr) -> str:
    """A GROUP BY column's hidden name: the internal column it reads (`o.id` and `s.id`
    are two keys, both `id` as the analyzer names them)."""
    return key.name if isinstance(key, ast.ColumnRef) else name


def _internal_name(job: AnalyzedJob, query: AnalyzedQuery) -> str:
    """`<output>.join`; where several queries write one stream, `<output>.join<n>` (n the
    query's number)."""
    writers = sum(q.output_stream == query.output_stream for q in job.queries)
    suffix = "" if writers == 1 else str(query.index + 1)
    return f"{query.output_stream}.join{suffix}"


def _join_time(job: AnalyzedJob, join: Join, left: _Input, right: _Input
               ) -> ast.Expr | None:
    """The join's time as an expression over its inputs (see the module docstring); None
    for a stream-table join whose stream has no event time."""
    def event_time(side: _Input) -> ast.ColumnRef | None:
        column = side.stream.event_time
        return (ast.ColumnRef(column, side.qualifier, type=FrysType.TIMESTAMP)
                if column is not None else None)

    if right.stream.is_table:
        return event_time(left)
    later, other = event_time(left), event_time(right)
    assert later is not None and other is not None, "the analyzer requires event_time"
    # CASE WHEN r.ts IS NULL OR l.ts >= r.ts THEN l.ts ELSE r.ts END: the later of the
    # two, or the one present in an outer join's unmatched row (l.ts NULL: ELSE)
    condition = ast.BinaryOp("OR", ast.IsNull(other, type=FrysType.BOOL),
                             ast.BinaryOp(">=", later, other, type=FrysType.BOOL),
                             type=FrysType.BOOL)
    return ast.Case((ast.CaseWhen(condition, later),), other, type=FrysType.TIMESTAMP)


def join_time_lag(join_kind: str, within_ms: int, table: bool) -> int:
    """How far behind the join's input watermark its `join_time` may be (module docstring):
    0 for an inner interval join's pairs and a stream-table join, the interval for an
    outer interval join's unmatched rows."""
    return 0 if table or join_kind == "INNER" else within_ms
