"""Projection pruning: each scan lists the columns its query reads, so decoding and the
operators can leave the rest alone.

    >>> from frys.dsl import compile_text
    >>> from frys.dsl.logical import build, describe
    >>> job = compile_text("CREATE STREAM s (k STRING, v FLOAT, note STRING, ts TIMESTAMP) "
    ...     "WITH (event_time = ts); SELECT k, SUM(v) AS total FROM s GROUP BY k, TUMBLE(1s)")
    >>> plan = projection_pruning(build(job.queries[0]), job.streams)
    >>> describe(plan.input.input.input)
    'Scan s (reads k, v, ts)'

A column is read when any step names it (qualified names go to their scan, plain names to
the scans that have them), the event-time column when the query is windowed or matches a
pattern; `*` has already been expanded by the analyzer into the columns it stands for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import cast

from frys.dsl import ast
from frys.dsl.analyzed import WINDOW_COLUMNS, StreamDef
from frys.dsl.ast import walk
from frys.dsl.logical import (
    Aggregate,
    Filter,
    Join,
    LogicalNode,
    Match,
    Output,
    Project,
    Scan,
    children,
)


def _expressions(node: LogicalNode) -> list[ast.Expr]:
    if isinstance(node, Filter):
        return [node.predicate]
    if isinstance(node, Join):
        return [node.condition]
    if isinstance(node, Aggregate):
        used = [*node.group_by, *(e for _, e in node.keys)]
        used += [a.argument for a in node.aggregates if a.argument is not None]
        return used + ([node.having] if node.having is not None else [])
    if isinstance(node, Project):
        return [e for _, e in node.outputs]
    if isinstance(node, Match):
        clause = node.clause
        found: list[ast.Expr] = list(clause.partition_by)
        for define in clause.defines:
            found += [define.condition] + ([define.until] if define.until is not None else [])
        return found
    return []


def _scans(node: LogicalNode) -> list[Scan]:
    if isinstance(node, Scan):
        return [node]
    return [scan for child in children(node) for scan in _scans(child)]


def projection_pruning(plan: Output, streams: Mapping[str, StreamDef]) -> Output:
    """Set `Scan.columns` on every scan of the plan to what the plan reads from it."""
    scans = _scans(plan)
    needed: dict[int, set[str]] = {id(scan): set() for scan in scans}
    windowed = matched = False
    stack: list[LogicalNode] = [plan]
    references: list[ast.ColumnRef] = []
    while stack:
        node = stack.pop()
        windowed |= isinstance(node, Aggregate) and node.window is not None
        matched |= isinstance(node, Match)
        for expr in _expressions(node):
            references += [n for n in walk(expr) if isinstance(n, ast.ColumnRef)]
        stack.extend(children(node))
    for ref in references:
        if ref.qualifier is None and windowed and ref.name in WINDOW_COLUMNS:
            continue
        for scan in scans:
            columns = streams[scan.stream].columns or {}
            named_here = ref.qualifier is None or ref.qualifier == (scan.alias or scan.stream)
            # in a pattern, qualifiers are variables: a column counts for every stream
            if (named_here or matched) and ref.name in columns:
                needed[id(scan)].add(ref.name)
    for scan in scans:
        event_time = streams[scan.stream].event_time
        if (windowed or matched) and event_time is not None:
            needed[id(scan)].add(event_time)
    order = {id(scan): list(streams[scan.stream].columns or {}) for scan in scans}

    def prune(node: LogicalNode) -> LogicalNode:
        if isinstance(node, Scan):
            wanted = needed[id(node)]
            return replace(node, columns=tuple(c for c in order[id(node)] if c in wanted))
        if isinstance(node, Match):
            return replace(node, inputs=tuple(cast(Scan, prune(s)) for s in node.inputs))
        if isinstance(node, Join):
            return replace(node, left=prune(node.left), right=prune(node.right))
        return replace(node, input=prune(node.input))  # type: ignore[call-arg]

    return prune(plan)  # type: ignore[return-value]
