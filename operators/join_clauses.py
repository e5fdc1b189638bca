"""What the two joins of streams (interval_join.py, window_join.py) compile alike: how a
side's columns are named in the operator's frames, the key columns, and the clauses of an
IntervalJoinSpec or WindowJoinSpec as polars expressions."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from frys.dsl import ast
from frys.engine.graph import IntervalJoinSpec, JoinSide, WindowJoinSpec
from frys.operators.expressions import to_polars
from frys.operators.stateless import compile_projection

LEFT, RIGHT = 0, 1


def qualified(side: JoinSide, column: str) -> str:
    """The name of a side's column in the operator's frames: `<qualifier>.<column>`."""
    return f"{side.qualifier}.{column}"


def key_column(index: int) -> str:
    """The name of the join's `index`th key in both sides' frames."""
    return f"__key{index}"


def key_dtype(expr: ast.Expr) -> pl.DataType:
    assert expr.type is not None, "join keys are typed by analysis"
    return expr.type.polars_dtype


class JoinClauses:
    """A join's clauses compiled once, reading columns through `substitute` (a column
    reference -> the operator's column, or None for the default): per side its key columns
    (`key_exprs[side]`, named `keys`) and the WHERE conjuncts pushed onto it (`side_where`),
    the residual over candidate pairs, the WHERE over joined rows and the SELECT list. A
    filter passes a row when its predicate is TRUE (FALSE and NULL drop it)."""

    def __init__(self, spec: IntervalJoinSpec | WindowJoinSpec,
                 substitute: Callable[[ast.Expr], pl.Expr | None]) -> None:
        self._substitute = substitute
        self.keys = [key_column(i) for i in range(len(spec.keys))]
        self.key_exprs = [
            [self.compile(pair[index]).cast(key_dtype(pair[index])).alias(name)
             for name, pair in zip(self.keys, spec.keys, strict=True)]
            for index in (LEFT, RIGHT)]
        self.key_dtypes = [[key_dtype(pair[index]) for pair in spec.keys]
                           for index in (LEFT, RIGHT)]
        self.side_where = [self.filter(side.where) for side in (spec.left, spec.right)]
        self.residual = self.filter(spec.residual)
        self.where = self.filter(spec.where)
        self.outputs = compile_projection(spec.outputs, spec.output_types, self.compile)

    def compile(self, expr: ast.Expr) -> pl.Expr:
        return to_polars(expr, self._substitute)

    def filter(self, predicate: ast.Expr | None) -> pl.Expr | None:
        return None if predicate is None else self.compile(predicate).fill_null(False)
