"""Joins of more than two inputs, and aggregates over a join, planned as stages joined by
internal streams.

    SELECT s.carrier, COUNT(*) AS shipped FROM orders o JOIN shipments s
        ON o.id = s.order_id WITHIN 1 HOUR GROUP BY s.carrier, TUMBLE(1 DAY)

runs as the join (its WHERE included) writing the columns the aggregate reads to an
internal stream, and the aggregate reading that stream:

    query 1: topic orders + topic shipments -> topic select_1.join
      (the join; outputs `s.carrier` and `join_time`)
    query 1: topic select_1.join -> caller
      (the GROUP BY, its expressions reading the column `s.carrier` where the
       query wrote s.carrier)

and `FROM a JOIN b ... JOIN c ...` as `a JOIN b` writing what the rest of the query reads of
`a` and `b` to an internal stream, joined with `c` in the next stage (left-deep, in the
order written: each join's left input is everything joined before it).

Why a stream between stages rather than one operator calling the other: the stream is where
the engine already keeps event time right (the join's output watermark, held back as the
join can promise, the arrival watermark of each row) and where a scale-out runtime cuts a
job into steps; each stage keeps the operator contract on its own. An internal stream is
named `<output>.join` (`<output>.join1`, `.join2`, ... where a query has several join
stages; `<output>.q<n>.join...` where several queries write one stream): a dot, so no
stream of the language can have that name. They show in `explain` and the run summary.
Their columns are named `<qualifier>.<column>` (as the join operators name their buffered
columns), the query's expressions above the stage rewritten to read them.

**The join's time** (`join_time`, what windows over a join and a later join's `WITHIN` go
by): for an interval join, the later of the pair's two event times (Flink SQL's rowtime of
an interval join), and an outer join's unmatched row's own time; for a stream-table join,
the stream row's event time. Its watermark: an interval join's pair is found when its
later-arriving row comes, not behind the watermark, so the later of the two times is not
behind it either (lag 0); an outer join's unmatched row comes out once the watermark passes
its time + the interval (lag: the interval); a window join's rows come out when their window
fires, so they are no more than its size plus lateness behind (lag: that); a stream-table
join passes the stream's watermark on (lag 0). So a window over a join never sees a row
late (engine/planner.py `join_time_lag`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from frys.dsl import ast
from frys.dsl.analyzed import WINDOW_COLUMNS, AnalyzedJob, AnalyzedQuery, StreamDef
from frys.dsl.logical import Aggregate, Filter, Join, LogicalNode, Output, Project, Scan
from frys.dsl.types import FrysType

JOIN_TIME = "join_time"


@dataclass(frozen=True)
class Stage:
    """A join stage: its plan (an Output over Filters over a Join, writing `internal`) and
    the AnalyzedQuery it plans as."""

    internal: StreamDef
    plan: Output
    query: AnalyzedQuery


@dataclass(frozen=True)
class Staged:
    """A query as stages: `stages` (run first, in order) and the query's last step, which
    reads the last stage's stream in `job` (the job with the internal streams added)."""

    stages: list[Stage]
    job: AnalyzedJob
    query: AnalyzedQuery
    plan: Output


@dataclass(frozen=True)
class _Input:
    qualifier: str
    stream: StreamDef


def _unfiltered(node: LogicalNode) -> LogicalNode:
    while isinstance(node, Filter):
        node = node.input
    return node


def _inputs(job: AnalyzedJob, node: LogicalNode) -> list[_Input]:
    """The scans under a join tree, left to right, with how ON and SELECT name them."""
    node = _unfiltered(node)
    if isinstance(node, Join):
        return _inputs(job, node.left) + _inputs(job, node.right)
    assert isinstance(node, Scan)
    return [_Input(node.alias or node.stream, job.streams[node.stream])]


def stage(job: AnalyzedJob, query: AnalyzedQuery, plan: Output) -> Staged | None:
    """`plan` as join stages and its last step, when it joins more than two inputs or
    aggregates over a join; None for every other query."""
    project = plan.input
    assert isinstance(project, Project)
    aggregated = isinstance(project.input, Aggregate)
    joins = _joins(_below(plan))
    count = joins - (0 if aggregated else 1)
    if joins == 0 or count == 0:
        return None
    base = query.output_stream
    if sum(q.output_stream == base for q in job.queries) > 1:
        base = f"{base}.q{query.index + 1}"
    names = iter([f"{base}.join"] if count == 1 else
                 [f"{base}.join{n}" for n in range(1, count + 1)])
    stages: list[Stage] = []
    plan, job, query = _stage_chain(job, query, plan, names, stages)
    if aggregated:
        plan, job, query = _stage_aggregate(job, query, plan, next(names), stages)
    return Staged(stages, job, query, plan)


def _below(plan: Output) -> LogicalNode:
    """What the query's Project (and Aggregate) read: Filters over a Join, or a Scan."""
    project = plan.input
    assert isinstance(project, Project)
    return project.input.input if isinstance(project.input, Aggregate) else project.input


def _has_window_join(node: LogicalNode) -> bool:
    node = _unfiltered(node)
    return isinstance(node, Join) and (node.window is not None or _has_window_join(node.left))


def _joins(node: LogicalNode) -> int:
    node = _unfiltered(node)
    return 1 + _joins(node.left) if isinstance(node, Join) else 0


def _internal_columns(inputs: list[_Input], windowed: bool, window_join: bool
                      ) -> tuple[dict[str, ast.ColumnRef], Callable[[ast.Expr], ast.Expr]]:
    """The columns an internal stream carries (filled as `rewrite` meets references to
    `inputs`: internal name -> the reference the stage computes it from) and `rewrite`,
    which makes an expression over `inputs` read them. `windowed`: `window_start` and
    `window_end` above are an aggregate's window's; else, with `window_join` (the staged
    join is a window join), they are its window's, carried through the stream."""
    columns: dict[str, ast.ColumnRef] = {}

    def input_of(ref: ast.ColumnRef) -> _Input | None:
        if ref.qualifier is None and windowed and ref.name in WINDOW_COLUMNS:
            return None  # the window's bounds, computed by the aggregate
        for side in inputs:
            if ref.qualifier == side.qualifier or (
                    ref.qualifier is None and ref.name in (side.stream.columns or {})):
                return side
        return None

    def internal_ref(ref: ast.ColumnRef) -> ast.Expr | None:
        if (window_join and not windowed and ref.qualifier is None
                and ref.name in WINDOW_COLUMNS and not any(
                    ref.name in (side.stream.columns or {}) for side in inputs)):
            columns.setdefault(ref.name, ref)  # the staged window join's bounds
            return ref
        side = input_of(ref)
        if side is None:
            return None
        # a column of an earlier internal stream is already `<qualifier>.<column>`
        # (user columns cannot hold a dot)
        name = ref.name if "." in ref.name else f"{side.qualifier}.{ref.name}"
        columns.setdefault(name, ast.ColumnRef(ref.name, side.qualifier, span=ref.span,
                                               type=ref.type))
        return ast.ColumnRef(name, None, span=ref.span, type=ref.type)

    return columns, lambda expr: ast.replace_columns(expr, internal_ref)


def _stage(job: AnalyzedJob, query: AnalyzedQuery, plan: Output) -> Stage:
    """The stage of `plan` (an Output of the internal columns over Filters over a Join of
    two inputs), with the join's time added as `join_time`."""
    project = plan.input
    assert isinstance(project, Project)
    join = _unfiltered(project.input)
    assert isinstance(join, Join)
    time = _join_time(join, _inputs(job, join.left), _inputs(job, join.right))
    outputs = list(project.outputs)
    if time is not None:
        outputs.append((JOIN_TIME, time))
    types = {column: expr.type for column, expr in outputs}
    assert all(t is not None for t in types.values()), "the analyzer typed every column"
    output_types: dict[str, FrysType] = {k: v for k, v in types.items() if v is not None}
    internal = StreamDef(plan.target, dict(output_types),
                         event_time=JOIN_TIME if time is not None else None)
    stage_query = replace(query, output_stream=plan.target, outputs=outputs,
                          output_types=output_types, is_bare_select=False, group_keys=[],
                          window=None, aggregates=[], having=None, where=None)
    return Stage(internal, replace(plan, input=replace(project, outputs=tuple(outputs))),
                 stage_query)


def _stage_chain(job: AnalyzedJob, query: AnalyzedQuery, plan: Output,
                 names: Iterator[str], stages: list[Stage]
                 ) -> tuple[Output, AnalyzedJob, AnalyzedQuery]:
    """While the outermost join's left input is itself a join, split that input off as a
    stage (its own left first, recursively: stages run innermost first) and make the rest
    of the plan read the stage's stream."""
    project = plan.input
    assert isinstance(project, Project)
    aggregate = project.input if isinstance(project.input, Aggregate) else None
    above: list[ast.Expr] = []  # the filters over the outermost join
    node = _below(plan)
    while isinstance(node, Filter):
        above.append(node.predicate)
        node = node.input
    join = node
    if not isinstance(join, Join) or not isinstance(_unfiltered(join.left), Join):
        return plan, job, query
    columns, rewrite = _internal_columns(
        _inputs(job, join.left), aggregate is not None and aggregate.window is not None,
        _has_window_join(join.left))
    # every expression above the staged input reads its columns through the stream
    condition = rewrite(join.condition)
    predicates = [rewrite(p) for p in above]
    new_aggregate = (_rewritten_aggregate(aggregate, rewrite)
                     if aggregate is not None else None)
    outputs = tuple((column, rewrite(expr)) for column, expr in project.outputs)
    # the stage: the left input computing those columns, itself staged first
    stage_plan = Output(Project(join.left, (), tuple(columns.items())), "", False)
    stage_plan, job, stage_query = _stage_chain(job, query, stage_plan, names, stages)
    name = next(names)
    done = _stage(job, stage_query, replace(stage_plan, target=name))
    stages.append(done)
    job = replace(job, streams={**job.streams, name: done.internal})
    new_join: LogicalNode = replace(join, condition=condition, left=Scan(
        name, None, tuple(done.internal.columns or {})))
    for predicate in reversed(predicates):
        new_join = Filter(new_join, predicate)
    top = new_join if new_aggregate is None else replace(new_aggregate, input=new_join)
    rest = replace(query, input_stream=name, outputs=list(outputs))
    if new_aggregate is not None:
        rest = replace(rest, group_keys=list(new_aggregate.keys),
                       aggregates=list(new_aggregate.aggregates), having=new_aggregate.having)
    return replace(plan, input=replace(project, input=top, outputs=outputs)), job, rest


def _rewritten_aggregate(aggregate: Aggregate, rewrite: Callable[[ast.Expr], ast.Expr]
                         ) -> Aggregate:
    keys = tuple((_key_name(name, rewrite(expr)), rewrite(expr))
                 for name, expr in aggregate.keys)
    aggregates = tuple(a if a.argument is None else replace(a, argument=rewrite(a.argument))
                       for a in aggregate.aggregates)
    having = rewrite(aggregate.having) if aggregate.having is not None else None
    return replace(aggregate, group_by=tuple(rewrite(e) for e in aggregate.group_by),
                   keys=keys, aggregates=aggregates, having=having)


def _stage_aggregate(job: AnalyzedJob, query: AnalyzedQuery, plan: Output, name: str,
                     stages: list[Stage]) -> tuple[Output, AnalyzedJob, AnalyzedQuery]:
    """Split the join under the aggregate off as a stage; the aggregate reads its
    stream."""
    project = plan.input
    assert isinstance(project, Project)
    aggregate = project.input
    assert isinstance(aggregate, Aggregate)
    join = _unfiltered(aggregate.input)
    assert isinstance(join, Join)
    columns, rewrite = _internal_columns(_inputs(job, join), aggregate.window is not None,
                                         _has_window_join(join))
    outputs = tuple((column, rewrite(expr)) for column, expr in project.outputs)
    new_aggregate = _rewritten_aggregate(aggregate, rewrite)
    done = _stage(job, query, Output(Project(aggregate.input, (), tuple(columns.items())),
                                     name, False))
    stages.append(done)
    new_aggregate = replace(new_aggregate, input=Scan(name, None,
                                                      tuple(done.internal.columns or {})))
    job = replace(job, streams={**job.streams, name: done.internal})
    rest = replace(query, input_stream=name, where=None, outputs=list(outputs),
                   group_keys=list(new_aggregate.keys),
                   aggregates=list(new_aggregate.aggregates), having=new_aggregate.having)
    return (replace(plan, input=replace(project, input=new_aggregate, outputs=outputs)),
            job, rest)


def _key_name(name: str, key: ast.Expr) -> str:
    """A GROUP BY column's hidden name: the internal column it reads (`o.id` and `s.id`
    are two keys, both `id` as the analyzer names them)."""
    return key.name if isinstance(key, ast.ColumnRef) else name


def _join_time(join: Join, left: list[_Input], right: list[_Input]) -> ast.Expr | None:
    """The join's time as an expression over its inputs (see the module docstring); None
    for a stream-table join whose stream side has no event time. The left input may be an
    earlier stage's stream: its event time is that stage's join time."""
    def event_time(side: _Input) -> ast.ColumnRef | None:
        column = side.stream.event_time
        return (ast.ColumnRef(column, side.qualifier, type=FrysType.TIMESTAMP)
                if column is not None else None)

    (first,), (second,) = left, right
    if second.stream.is_table:
        return event_time(first)
    later, other = event_time(first), event_time(second)
    assert later is not None and other is not None, "the analyzer requires event_time"
    # CASE WHEN r.ts IS NULL OR l.ts >= r.ts THEN l.ts ELSE r.ts END: the later of the
    # two, or the one present in an outer join's unmatched row (l.ts NULL: ELSE)
    condition = ast.BinaryOp("OR", ast.IsNull(other, type=FrysType.BOOL),
                             ast.BinaryOp(">=", later, other, type=FrysType.BOOL),
                             type=FrysType.BOOL)
    return ast.Case((ast.CaseWhen(condition, later),), other, type=FrysType.TIMESTAMP)
