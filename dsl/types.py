"""The value types of .frysql and the signatures of its built-in functions.

Types are checked by the analyzer before anything runs; the runtime maps each type onto one
polars dtype (`FrysType.polars_dtype`). TIMESTAMP is UTC with millisecond precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import polars as pl


class FrysType(Enum):
    BOOL = "BOOL"
    INT = "INT"
    FLOAT = "FLOAT"
    STRING = "STRING"
    TIMESTAMP = "TIMESTAMP"
    INTERVAL = "INTERVAL"  # only as a literal argument (window sizes)
    NULL = "NULL"  # the type of the NULL literal; fits every column type
    # ARRAY_AGG's result; the element type is not tracked yet (it arrives with the runtime
    # of ARRAY_AGG), so arrays can be selected and written, not compared or computed with
    ARRAY = "ARRAY"

    @property
    def is_numeric(self) -> bool:
        return self in (FrysType.INT, FrysType.FLOAT, FrysType.NULL)

    @property
    def polars_dtype(self) -> pl.DataType:
        return _POLARS_DTYPES[self]

    def __str__(self) -> str:
        return self.value


TIMESTAMP_DTYPE = pl.Datetime("ms", "UTC")


def epoch_millis(values: pl.Series) -> pl.Series:
    """A TIMESTAMP column as Int64 epoch milliseconds. For millisecond datetimes (every
    stream's) that is the physical column itself: a cast costs microseconds where
    `dt.epoch` runs a polars query (0.05-0.3 ms, per batch on the hot path)."""
    dtype = values.dtype
    if isinstance(dtype, pl.Datetime) and dtype.time_unit == "ms":
        return values.cast(pl.Int64)
    return values.dt.epoch("ms")

_POLARS_DTYPES: dict[FrysType, pl.DataType] = {
    FrysType.BOOL: pl.Boolean(),
    FrysType.INT: pl.Int64(),
    FrysType.FLOAT: pl.Float64(),
    FrysType.STRING: pl.String(),
    FrysType.TIMESTAMP: TIMESTAMP_DTYPE,
    FrysType.INTERVAL: pl.Int64(),
    FrysType.NULL: pl.Null(),
    FrysType.ARRAY: pl.List(pl.Null()),
}

# Column type names accepted in CREATE STREAM, with the SQL synonyms users type by habit.
TYPE_NAMES: dict[str, FrysType] = {
    "BOOL": FrysType.BOOL, "BOOLEAN": FrysType.BOOL,
    "INT": FrysType.INT, "INTEGER": FrysType.INT, "BIGINT": FrysType.INT,
    "FLOAT": FrysType.FLOAT, "DOUBLE": FrysType.FLOAT, "REAL": FrysType.FLOAT,
    "STRING": FrysType.STRING, "VARCHAR": FrysType.STRING, "TEXT": FrysType.STRING,
    "TIMESTAMP": FrysType.TIMESTAMP,
}


def from_polars(dtype: pl.DataType) -> FrysType | None:
    """The frys type of a polars dtype, or None when frys has no such type."""
    if dtype == pl.Boolean:
        return FrysType.BOOL
    if dtype.is_integer():
        return FrysType.INT
    if dtype.is_float():
        return FrysType.FLOAT
    if dtype == pl.String:
        return FrysType.STRING
    if isinstance(dtype, pl.Datetime):
        return FrysType.TIMESTAMP
    if dtype == pl.Null:
        return FrysType.NULL
    return None


def unify(a: FrysType, b: FrysType) -> FrysType | None:
    """The common type of two values (CASE branches, IN lists), or None if there is none."""
    if a == b:
        return a
    if a == FrysType.NULL:
        return b
    if b == FrysType.NULL:
        return a
    if {a, b} == {FrysType.INT, FrysType.FLOAT}:
        return FrysType.FLOAT
    return None


def assignable(value: FrysType, column: FrysType) -> bool:
    """Whether a value of type `value` may be written to a column of type `column`."""
    return unify(value, column) == column


@dataclass(frozen=True, slots=True)
class ScalarFunction:
    """A scalar function's signature: argument kinds and how the result type follows."""

    name: str
    min_args: int
    max_args: int
    arg_kinds: tuple[str, ...]  # per argument, 'numeric' | 'string' | 'any'; the last repeats

    def arg_kind(self, position: int) -> str:
        return self.arg_kinds[min(position, len(self.arg_kinds) - 1)]

    def result_type(self, args: list[FrysType]) -> FrysType:
        if self.name in ("UPPER", "LOWER", "SUBSTR"):
            return FrysType.STRING
        if self.name == "LENGTH":
            return FrysType.INT
        if self.name in ("SQRT", "LN", "EXP", "POWER"):
            return FrysType.FLOAT
        if self.name in ("FLOOR", "CEIL"):
            return FrysType.INT if args[0] == FrysType.INT else FrysType.FLOAT
        if self.name == "COALESCE":
            result = args[0]
            for arg in args[1:]:
                result = unify(result, arg) or result
            return result
        return args[0] if args[0] != FrysType.NULL else FrysType.FLOAT  # ABS, ROUND


SCALAR_FUNCTIONS: dict[str, ScalarFunction] = {
    f.name: f
    for f in (
        ScalarFunction("UPPER", 1, 1, ("string",)),
        ScalarFunction("LOWER", 1, 1, ("string",)),
        ScalarFunction("LENGTH", 1, 1, ("string",)),
        ScalarFunction("SUBSTR", 2, 3, ("string", "numeric")),
        ScalarFunction("ABS", 1, 1, ("numeric",)),
        ScalarFunction("ROUND", 1, 2, ("numeric",)),
        ScalarFunction("FLOOR", 1, 1, ("numeric",)),
        ScalarFunction("CEIL", 1, 1, ("numeric",)),
        ScalarFunction("SQRT", 1, 1, ("numeric",)),
        ScalarFunction("LN", 1, 1, ("numeric",)),
        ScalarFunction("EXP", 1, 1, ("numeric",)),
        ScalarFunction("POWER", 2, 2, ("numeric",)),
        ScalarFunction("COALESCE", 1, 64, ("any",)),
    )
}

AGGREGATE_FUNCTIONS = frozenset(
    {"COUNT", "SUM", "AVG", "MIN", "MAX", "FIRST", "LAST", "STDDEV", "VARIANCE", "PERCENTILE",
     "ARRAY_AGG"}
)

# Valid .frysql whose runtime arrives with a later issue; the analyzer refuses these with
# "not supported yet" instead of "unknown function".
LATER_AGGREGATES: frozenset[str] = frozenset()
WINDOW_FUNCTIONS = frozenset({"TUMBLE", "HOP", "SESSION", "ROWS"})
LATER_WINDOWS: frozenset[str] = frozenset()


def literal_type(value: object) -> FrysType:
    """The type of a value a literal holds (int, float, str, bool or None: NULL)."""
    if value is None:
        return FrysType.NULL
    if isinstance(value, bool):
        return FrysType.BOOL
    if isinstance(value, int):
        return FrysType.INT
    if isinstance(value, float):
        return FrysType.FLOAT
    return FrysType.STRING
