"""Logical plans: what each query computes, as a tree of relational steps.

    Output(target)            INSERT INTO target / rows to the caller
      Project(items)          the SELECT list
        Aggregate(...)        GROUP BY keys + window, aggregates, HAVING, EMIT
          Filter(predicate)   WHERE
            Scan(stream)      the input; `columns` = what the query reads (after pruning)

Joins put a `Join` of two inputs under the Filter; pattern queries a `Match` over the FROM
streams. Plans are values (frozen dataclasses, spans ignored in equality); optimizer rules
(dsl/optimizer/) map plans to plans; `plan_to_select` prints a plan back as a query that
analyzes to the same plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from frys.dsl import ast
from frys.dsl.analyzed import AggregateCall, AnalyzedQuery, Window
from frys.dsl.plan_render import render_graph
from frys.dsl.printer import JOIN_KEYWORDS, expr_to_sql, interval_text, pattern_to_sql
from frys.dsl.types import FrysType


@dataclass(frozen=True)
class Scan:
    stream: str
    alias: str | None = None
    columns: tuple[str, ...] | None = None  # None: every column (before pruning)


@dataclass(frozen=True)
class Filter:
    input: LogicalNode
    predicate: ast.Expr


@dataclass(frozen=True)
class Join:
    """Two inputs joined ON `condition`: within an interval (`within_ms`, or event-time
    comparisons in ON), in the same window (`window`: the `TUMBLE(size)` or `HOP(size,
    slide)` call of `WITHIN TUMBLE(..)`, as written), or by a table's key (neither)."""

    left: LogicalNode
    right: LogicalNode
    kind: str  # 'INNER' | 'LEFT' | 'RIGHT' | 'FULL'
    condition: ast.Expr
    within_ms: int | None
    window: ast.FunctionCall | None = None


@dataclass(frozen=True)
class Match:
    inputs: tuple[Scan, ...]
    clause: ast.MatchClause


@dataclass(frozen=True)
class Aggregate:
    """`group_by` keeps the GROUP BY list as written (keys and the window, in order);
    `keys`, `window` and `aggregates` are what the analyzer made of it."""

    input: LogicalNode
    group_by: tuple[ast.Expr, ...]
    keys: tuple[tuple[str, ast.Expr], ...]
    window: Window | None
    aggregates: tuple[AggregateCall, ...]
    having: ast.Expr | None
    emit: str | None
    emit_every_ms: int | None


@dataclass(frozen=True)
class Project:
    """`items` as written (for printing back); `outputs` the named columns they make, `*`
    expanded (for execution). Rules rewrite both alike."""

    input: LogicalNode
    items: tuple[ast.SelectItem, ...]
    outputs: tuple[tuple[str, ast.Expr], ...]


@dataclass(frozen=True)
class Output:
    input: LogicalNode
    target: str
    to_caller: bool


LogicalNode = Scan | Filter | Join | Match | Aggregate | Project | Output


def build(query: AnalyzedQuery) -> Output:
    """The logical plan of an analyzed query, straight from its clauses (no rewriting)."""
    select = query.statement
    node: LogicalNode
    if select.match is not None:
        scans = tuple(Scan(s.name, s.alias) for s in (select.source, *select.more_sources))
        node = Match(scans, select.match)
    else:
        node = Scan(select.source.name, select.source.alias)
        for join in select.joins:
            node = Join(node, Scan(join.source.name, join.source.alias), join.kind,
                        join.condition, join.within_ms, join.window)
        if select.where is not None:
            node = Filter(node, select.where)
        if select.group_by or query.aggregates:
            node = Aggregate(node, select.group_by, tuple(query.group_keys), query.window,
                             tuple(query.aggregates), select.having, select.emit,
                             select.emit_every_ms)
    node = Project(node, select.items, tuple(query.outputs))
    return Output(node, query.output_stream, query.is_bare_select)


def children(node: LogicalNode) -> tuple[LogicalNode, ...]:
    if isinstance(node, (Filter, Aggregate, Project, Output)):
        return (node.input,)
    if isinstance(node, Join):
        return (node.left, node.right)
    if isinstance(node, Match):
        return node.inputs
    return ()


# ---------------------------------------------------------------------- back to .frysql


def plan_to_select(plan: Output) -> ast.Statement:
    """The query a plan computes, as an AST (print it with dsl.printer.statement_to_sql).
    Pruned scan columns are not part of the text: they follow from the query."""
    project = plan.input
    assert isinstance(project, Project)
    node = project.input
    emit = every = having = None
    group_by: tuple[ast.Expr, ...] = ()
    wheres: list[ast.Expr] = []
    match = None
    if isinstance(node, Aggregate):
        group_by, having, emit, every = node.group_by, node.having, node.emit, node.emit_every_ms
        node = node.input

    def strip_filters(node: LogicalNode) -> LogicalNode:
        # filters anywhere below the aggregate (pushed down or not) are all WHERE
        while isinstance(node, Filter):
            wheres.insert(0, node.predicate)
            node = node.input
        return node

    node = strip_filters(node)
    joins: list[ast.Join] = []
    while isinstance(node, Join):
        right = strip_filters(node.right)
        assert isinstance(right, Scan)
        joins.insert(0, ast.Join(node.kind, ast.FromStream(right.stream, right.alias),
                                 node.condition, node.within_ms, node.window))
        node = strip_filters(node.left)
    more: tuple[ast.FromStream, ...] = ()
    if isinstance(node, Match):
        match = node.clause
        first, *rest = node.inputs
        more = tuple(ast.FromStream(s.stream, s.alias) for s in rest)
        node = first
    assert isinstance(node, Scan)
    where = conjunction(wheres)
    select = ast.Select(project.items, ast.FromStream(node.stream, node.alias), where,
                        group_by, having, emit, emit_every_ms=every, more_sources=more,
                        joins=tuple(joins), match=match)
    return select if plan.to_caller else ast.InsertInto(plan.target, select)


# ---------------------------------------------------------------------- explain


def describe(node: LogicalNode) -> str:
    """One line for a plan step, in .frysql words."""
    if isinstance(node, Scan):
        name = f"{node.stream} AS {node.alias}" if node.alias else node.stream
        reads = "" if node.columns is None else f" (reads {', '.join(node.columns) or 'none'})"
        return f"Scan {name}{reads}"
    if isinstance(node, Filter):
        return f"Filter {expr_to_sql(node.predicate)}"
    if isinstance(node, Join):
        within = f" WITHIN {interval_text(node.within_ms)}" if node.within_ms is not None else ""
        if node.window is not None:
            within = f" WITHIN {expr_to_sql(node.window)}"
        keyword = JOIN_KEYWORDS[node.kind]
        return f"{keyword} ON {expr_to_sql(node.condition)}{within}"
    if isinstance(node, Match):
        clause = node.clause
        parts = [f"Match PATTERN ({pattern_to_sql(clause.pattern)})"]
        if clause.partition_by:
            parts.append("PARTITION BY " + ", ".join(c.name for c in clause.partition_by))
        if clause.within_ms is not None:
            parts.append(f"WITHIN {interval_text(clause.within_ms)}")
        return " ".join(parts)
    if isinstance(node, Aggregate):
        group = ", ".join(expr_to_sql(e) for e in node.group_by) or "(all rows)"
        aggregates = ", ".join(_aggregate_text(a) for a in node.aggregates)
        text = f"Aggregate GROUP BY {group} computing {aggregates or 'nothing'}"
        if node.having is not None:
            text += f" HAVING {expr_to_sql(node.having)}"
        if node.emit == "EVERY" and node.emit_every_ms is not None:
            text += f" EMIT EVERY {interval_text(node.emit_every_ms)}"
        elif node.emit:
            text += f" EMIT {node.emit}"
        return text
    if isinstance(node, Project):
        return "Project " + ", ".join(
            "*" if item.expr is None else expr_to_sql(item.expr)
            + (f" AS {item.alias}" if item.alias else "") for item in node.items)
    return f"Output -> {'caller' if node.to_caller else 'stream ' + node.target}"


def _aggregate_text(aggregate: AggregateCall) -> str:
    if aggregate.argument is None:
        return f"{aggregate.function}(*)"
    distinct = "DISTINCT " if aggregate.distinct else ""
    return f"{aggregate.function}({distinct}{expr_to_sql(aggregate.argument)})"


def render(plans: list[tuple[str, Output]], fmt: str = "text") -> str:
    """Plans of a job (title, plan) as an indented text tree per query, or one mermaid or
    dot graph with data flowing from the scans up to the outputs."""
    if fmt == "text":
        lines: list[str] = []
        for title, plan in plans:
            lines.append(title)

            def walk_tree(node: LogicalNode, depth: int) -> None:
                lines.append("  " * depth + describe(node))
                for child in children(node):
                    walk_tree(child, depth + 1)

            walk_tree(plan, 1)
        return "\n".join(lines) + "\n"
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    for index, (_title, plan) in enumerate(plans):
        counter = iter(range(10**9))

        def add(node: LogicalNode, query: int = index, ids=counter) -> str:
            node_id = f"q{query}n{next(ids)}"
            nodes[node_id] = describe(node)
            for child in children(node):
                edges.append((add(child), node_id))
            return node_id

        add(plan)
    return render_graph(nodes, edges, fmt, "logical plan")


# ---------------------------------------------------------------------- rewriting


def map_expressions(node: LogicalNode, rewrite: Callable[[ast.Expr], ast.Expr]) -> LogicalNode:
    """The plan with `rewrite` applied to every expression in it, bottom-up. The same input
    expression always becomes the same output, so an aggregate in HAVING or SELECT still
    matches its entry in `Aggregate.aggregates`. Pattern clauses are left as they are."""
    if isinstance(node, Scan | Match):
        return node
    if isinstance(node, Filter):
        return Filter(map_expressions(node.input, rewrite), rewrite(node.predicate))
    if isinstance(node, Join):
        return Join(map_expressions(node.left, rewrite), map_expressions(node.right, rewrite),
                    node.kind, rewrite(node.condition), node.within_ms, node.window)
    if isinstance(node, Aggregate):
        return replace(
            node, input=map_expressions(node.input, rewrite),
            group_by=tuple(rewrite(e) for e in node.group_by),
            keys=tuple((name, rewrite(e)) for name, e in node.keys),
            aggregates=tuple(replace(a, argument=None if a.argument is None
                                     else rewrite(a.argument)) for a in node.aggregates),
            having=None if node.having is None else rewrite(node.having))
    if isinstance(node, Project):
        return Project(map_expressions(node.input, rewrite),
                       tuple(replace(i, expr=None if i.expr is None else rewrite(i.expr))
                             for i in node.items),
                       tuple((name, rewrite(e)) for name, e in node.outputs))
    return Output(map_expressions(node.input, rewrite), node.target, node.to_caller)


def conjuncts(predicate: ast.Expr) -> list[ast.Expr]:
    """`a AND b AND c` -> [a, b, c]."""
    if isinstance(predicate, ast.BinaryOp) and predicate.op == "AND":
        return conjuncts(predicate.left) + conjuncts(predicate.right)
    return [predicate]


def conjunction(parts: list[ast.Expr]) -> ast.Expr | None:
    """[a, b, c] -> `a AND b AND c` (typed BOOL, as the analyzer types AND); [] -> None."""
    result: ast.Expr | None = None
    for part in parts:
        result = part if result is None else ast.BinaryOp("AND", result, part,
                                                          type=FrysType.BOOL)
    return result
