"""How each operator's input is partitioned: the key expressions its rows are routed by.

The scale-out runtime (engine/scaleout/) runs a query as many independent operator
instances, one per key group, and routes every row of an input to the instance of its
key's group. That is only correct when rows with equal keys always meet in one instance,
so the keys here are exactly the ones each operator keeps its state by:

* grouped aggregates (every window kind): the GROUP BY expressions;
* patterns: the PARTITION BY columns (matches never span partitions);
* joins of two streams: each side's ON key expressions (equal keys meet);
* stream-table joins: the stream's key expression and the table's primary key.

A query without such keys (a global aggregate, a pattern without PARTITION BY, a join
without equality keys, a table scan, whose rows come out in key order) runs as one
instance; a stateless filter/projection is not routed at all (`None`).

Key expressions are cast to the type the operator compares them in, so that equal keys of
two inputs (an INT column joined with a BIGINT one) hash alike.
"""

from __future__ import annotations

import polars as pl

from frys.dsl import ast
from frys.engine.graph import (
    CountWindowSpec,
    FilterProjectSpec,
    HopSpec,
    IntervalJoinSpec,
    OperatorSpec,
    PatternMatchSpec,
    RunningAggregateSpec,
    SessionSpec,
    TableJoinSpec,
    TableScanSpec,
    TumbleSpec,
    WindowJoinSpec,
)
from frys.operators.expressions import to_polars


def _unqualified(expr: ast.Expr) -> pl.Expr:
    """`expr` over an input batch as it arrives: a column reference reads the stream's own
    column, whatever the query's alias for it (`o.id` -> `id`)."""
    return to_polars(expr, lambda e: pl.col(e.name) if isinstance(e, ast.ColumnRef) else None)


def _typed(expr: ast.Expr) -> pl.Expr:
    assert expr.type is not None, "keys are typed by analysis"
    return _unqualified(expr).cast(expr.type.polars_dtype)


def partition_keys(spec: OperatorSpec, inputs: tuple[str, ...]) -> list[list[pl.Expr]] | None:
    """Per input position (QueryNode.inputs), the expressions its rows are routed by; an
    empty list for every input: the query runs as one instance; None: stateless, rows stay
    where they are."""
    if isinstance(spec, FilterProjectSpec):
        return None
    if isinstance(spec, (RunningAggregateSpec, TumbleSpec, HopSpec, SessionSpec,
                         CountWindowSpec)):
        keys = [_unqualified(expr) for _, expr in spec.clauses.group_keys]
        return [keys for _ in inputs]
    if isinstance(spec, PatternMatchSpec):
        keys = [_typed(column) for column in spec.match.partition_by]
        return [keys for _ in inputs]
    if isinstance(spec, (IntervalJoinSpec, WindowJoinSpec)):
        left = [_typed(pair[0]) for pair in spec.keys]
        right = [_typed(pair[1]) for pair in spec.keys]
        # a self-join reads one stream at both positions: lowering checks that both route
        # it alike (engine/scaleout/lowering.py)
        return [left, right]
    if isinstance(spec, TableJoinSpec):
        table = spec.table
        dtype = table.columns[table.primary_key].polars_dtype
        return [[pl.col(table.primary_key).cast(dtype)] if stream == table.table
                else [_unqualified(spec.key).cast(dtype)] for stream in inputs]
    if isinstance(spec, TableScanSpec):
        return [[] for _ in inputs]  # its rows come out in key order: one instance
    raise TypeError(f"no partitioning known for {type(spec).__name__}")
