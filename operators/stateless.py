"""Filter and projection: the stateless operators, one polars expression each per batch."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from frys.dsl import ast
from frys.dsl.types import FrysType
from frys.operators.expressions import to_polars


def compile_filter(predicate: ast.Expr, types: Mapping[int, FrysType] | None = None
                   ) -> pl.Expr:
    """A row passes when the predicate is TRUE; FALSE and NULL drop it (SQL WHERE)."""
    return to_polars(predicate, types=types).fill_null(False)


def compile_projection(outputs: list[tuple[str, ast.Expr]],
                       output_types: dict[str, FrysType],
                       types: Mapping[int, FrysType] | None = None) -> list[pl.Expr]:
    """The SELECT list as named polars expressions, cast to their analyzed types."""
    compiled = []
    for name, expr in outputs:
        column = to_polars(expr, types=types)
        if output_types[name] != FrysType.NULL:
            column = column.cast(output_types[name].polars_dtype)
        compiled.append(column.alias(name))
    return compiled


class FilterProject:
    """SELECT outputs FROM stream WHERE predicate, batch by batch. Holds no state, so
    `advance` never emits; rows keep their arrival order."""

    def __init__(self, where: ast.Expr | None, outputs: list[tuple[str, ast.Expr]],
                 output_types: dict[str, FrysType],
                 types: Mapping[int, FrysType] | None = None) -> None:
        self._where = compile_filter(where, types) if where is not None else None
        self._outputs = compile_projection(outputs, output_types, types)
        # the counters every operator reports (engine/runtime.QueryRunner reads them); a
        # stateless operator has no windows, so nothing is ever late or left incomplete
        self.late_events = 0
        self.late_rows: list[pl.DataFrame] = []
        self.incomplete_windows = 0

    def process(self, batch: pl.DataFrame, arrivals: pl.Series | None = None
                ) -> list[pl.DataFrame]:
        """Filter and project; nothing is ever late here, so `arrivals` is not read."""
        frame = batch.lazy()
        if self._where is not None:
            frame = frame.filter(self._where)
        result = frame.select(self._outputs).collect()
        return [result] if result.height else []

    def advance(self, watermark: int) -> list[pl.DataFrame]:
        return []
