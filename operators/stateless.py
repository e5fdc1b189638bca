"""Filter and projection: the stateless operators, one polars expression each per batch."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from frys.dsl import ast
from frys.dsl.types import FrysType
from frys.engine.graph import FilterProjectSpec
from frys.engine.operator import (
    BatchSource,
    Emitted,
    OperatorCounters,
    OperatorSettings,
    OperatorState,
)
from frys.operators.expressions import to_polars


def compile_filter(predicate: ast.Expr) -> pl.Expr:
    """A row passes when the predicate is TRUE; FALSE and NULL drop it (SQL WHERE)."""
    return to_polars(predicate).fill_null(False)


def compile_projection(outputs: list[tuple[str, ast.Expr]],
                       output_types: dict[str, FrysType],
                       compile_expr: Callable[[ast.Expr], pl.Expr] = to_polars
                       ) -> list[pl.Expr]:
    """The SELECT list as named polars expressions, cast to their analyzed types (a NULL
    column keeps the dtype polars gives it); `compile_expr` reads column references as the
    operator's frames hold them (a join's `<qualifier>.<column>`)."""
    compiled = []
    for name, expr in outputs:
        column = compile_expr(expr)
        if output_types[name] != FrysType.NULL:
            column = column.cast(output_types[name].polars_dtype)
        compiled.append(column.alias(name))
    return compiled


class FilterProject:
    """SELECT outputs FROM stream WHERE predicate, batch by batch. Holds no state, so
    `advance` never emits; rows keep their arrival order; nothing is ever late here."""

    def wants_arrivals(self, rows: int) -> bool:
        return False

    def __init__(self, spec: FilterProjectSpec, settings: OperatorSettings) -> None:
        self._where = compile_filter(spec.where) if spec.where is not None else None
        self._outputs = compile_projection(spec.outputs, spec.output_types)

    def process(self, batch: pl.DataFrame, source: BatchSource) -> Emitted:
        frame = batch.lazy()
        if self._where is not None:
            frame = frame.filter(self._where)
        result = frame.select(self._outputs).collect()
        return Emitted(rows=[result] if result.height else [])

    def advance(self, watermark: int) -> Emitted:
        return Emitted()

    def counters(self) -> OperatorCounters:
        return OperatorCounters()

    def snapshot(self) -> OperatorState:
        return OperatorState("filter", 1)

    def restore(self, state: OperatorState) -> None:
        state.check("filter", 1)

    def state_size(self) -> int:
        return 0
