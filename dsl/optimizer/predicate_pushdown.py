"""Predicate pushdown: filter as early as possible, so fewer rows reach the costly steps.

    >>> from frys.dsl import compile_text
    >>> from frys.dsl.logical import build, plan_to_select
    >>> from frys.dsl.printer import statement_to_sql
    >>> job = compile_text("CREATE STREAM s (k STRING, v FLOAT, ts TIMESTAMP) "
    ...     "WITH (event_time = ts); SELECT k, COUNT(*) AS n FROM s "
    ...     "GROUP BY k, TUMBLE(1s) HAVING k <> 'x' AND COUNT(*) > 2")
    >>> statement_to_sql(plan_to_select(predicate_pushdown(build(job.queries[0]))))
    "SELECT k, COUNT(*) AS n FROM s WHERE k <> 'x' GROUP BY k, TUMBLE(1 SECOND) HAVING COUNT(*) > 2"

* A HAVING conjunct that reads only plain-column group keys filters whole groups, so it
  can filter rows before aggregation instead (it moves into WHERE).
* Above an inner join, a WHERE conjunct whose columns are all qualified with one side
  moves onto that side; above a LEFT JOIN only conjuncts on the left side move (filtering
  the right side first would turn non-matches into NULL rows).
"""

from __future__ import annotations

from dataclasses import replace

from frys.dsl import ast
from frys.dsl.ast import walk
from frys.dsl.logical import (
    Aggregate,
    Filter,
    Join,
    LogicalNode,
    Output,
    Project,
    Scan,
    conjunction,
    conjuncts,
)
from frys.dsl.typer import is_aggregate
from frys.dsl.types import FrysType


def _columns(expr: ast.Expr) -> list[ast.ColumnRef]:
    return [node for node in walk(expr) if isinstance(node, ast.ColumnRef)]


def _with_filter(node: LogicalNode, parts: list[ast.Expr]) -> LogicalNode:
    predicate = conjunction(parts)
    if predicate is None:
        return node
    if isinstance(node, Filter):
        return Filter(node.input, ast.BinaryOp("AND", node.predicate, predicate,
                                               type=FrysType.BOOL))
    return Filter(node, predicate)


def _qualifiers(node: LogicalNode) -> set[str]:
    while isinstance(node, Filter):
        node = node.input
    if isinstance(node, Scan):
        return {node.alias or node.stream}
    if isinstance(node, Join):
        return _qualifiers(node.left) | _qualifiers(node.right)
    return set()


def _push_having(node: Aggregate) -> Aggregate:
    if node.having is None:
        return node
    keys = {expr for _, expr in node.keys if isinstance(expr, ast.ColumnRef)}
    stay: list[ast.Expr] = []
    move: list[ast.Expr] = []
    for part in conjuncts(node.having):
        refs = _columns(part)
        movable = (refs and all(ref in keys for ref in refs)
                   and not any(is_aggregate(n) for n in walk(part)))
        (move if movable else stay).append(part)
    if not move:
        return node
    return replace(node, input=_with_filter(node.input, move), having=conjunction(stay))


def _push_into_join(node: Filter) -> LogicalNode:
    join = node.input
    assert isinstance(join, Join)
    left_names, right_names = _qualifiers(join.left), _qualifiers(join.right)
    stay: list[ast.Expr] = []
    left: list[ast.Expr] = []
    right: list[ast.Expr] = []
    for part in conjuncts(node.predicate):
        qualifiers = {ref.qualifier for ref in _columns(part)}
        # a WHERE conjunct over one input may filter that input first only when the input
        # is not NULL-supplying: the left of an INNER or LEFT join, the right of an INNER
        # or RIGHT one (over the other, it must drop the NULL-padded rows after the join)
        if qualifiers and qualifiers <= left_names and join.kind in ("INNER", "LEFT"):
            left.append(part)
        elif qualifiers and qualifiers <= right_names and join.kind in ("INNER", "RIGHT"):
            right.append(part)
        else:
            stay.append(part)
    if not left and not right:
        return node
    pushed = replace(join, left=_with_filter(join.left, left),
                     right=_with_filter(join.right, right))
    remaining = conjunction(stay)
    return pushed if remaining is None else Filter(pushed, remaining)


def _push(node: LogicalNode) -> LogicalNode:
    if isinstance(node, Output | Project):
        return replace(node, input=_push(node.input))
    if isinstance(node, Aggregate):
        pushed = _push_having(node)
        return replace(pushed, input=_push(pushed.input))
    if isinstance(node, Filter) and isinstance(node.input, Join):
        moved = _push_into_join(node)
        if moved is not node:
            return _push(moved)
    if isinstance(node, Filter):
        return Filter(_push(node.input), node.predicate)
    if isinstance(node, Join):
        return replace(node, left=_push(node.left), right=_push(node.right))
    return node


def predicate_pushdown(plan: Output) -> Output:
    """Move filters towards the scans (see the module docstring for what moves where)."""
    return _push(plan)  # type: ignore[return-value]
