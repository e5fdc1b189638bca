"""The arithmetic rules of .frysql, one per operator, in the two forms the engine runs them:
the scalar form over Python values (constant folding, dsl/optimizer/constant_folding.py, and
the per-event DEFINE closures, operators/pattern/conditions.py) and the polars form over
whole batches (operators/expressions.py). Each rule's two forms sit side by side; the
differential test tests/test_arithmetic_rules.py holds them (and the three callers) equal.

The semantics (docs/language.md, "Operators"):

* NULL propagates: an operator with a NULL operand is NULL. The scalar forms take non-NULL
  operands; their callers return NULL before calling them.
* INT is a signed 64-bit integer. `+`, `-`, `*` and unary `-` on two INTs give the exact
  result, or NULL when it does not fit 64 bits (`9223372036854775807 + 1`,
  `-(-9223372036854775807 - 1)`): polars would wrap around, Python would grow, and one bad
  event must not stop a stream, as with division by zero.
* An INT meeting a FLOAT (DOUBLE) is converted to FLOAT first (rounded to the nearest double
  above 2^53), in arithmetic and in comparisons alike.
* FLOAT arithmetic is IEEE double: overflow gives +-infinity, `inf - inf` NaN.
* `/` is true division and always gives FLOAT (both operands are converted to double
  first); `x / 0` (and `x / -0.0`) is NULL.
* `%` takes the sign of the dividend (`-7 % 3 = -1`, `7 % -3 = 1`); `x % 0` is NULL. On two
  INTs it is exact. With a FLOAT it is computed in double arithmetic as polars does: the
  floor remainder of the magnitudes, `|a| - |b| * FLOOR(|a| / |b|)`, with the dividend's
  sign; exact while |a| < |b|, it loses precision as the quotient grows (`1e17 % 0.7` is
  0), and `x % inf` is NaN. (Where the analyzer could not type an operand, a node the
  optimizer built, the batch path cannot take the magnitude of an INT without wrapping at
  INT's smallest value, so both forms take polars' floor remainder of the operands as they
  are and move it to the dividend's sign: the same on INTs, and on FLOATs less exact when
  the signs differ and |a| is far below |b|.)
* Comparisons order NaN as polars does: NaN equals NaN and is greater than every number.
* `||` concatenates the text of its operands, each as `CAST(x AS STRING)` gives it: INT
  in decimal, BOOL `true`/`false`, TIMESTAMP ISO-8601 (`2024-05-01T12:00:00.000Z`), FLOAT
  as polars formats it (shortest round-trip digits: `0.1`, `1e+20`, `1e-7`, `NaN`, `inf`).

Types select a rule's variant once, when an expression is compiled, so the per-event
closures call e.g. `operator.add` directly for FLOAT. A type may be unknown (FrysType.NULL:
a NULL literal, or a node the optimizer built after typing); the variants for it decide by
the values themselves and are right for every operand.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import polars as pl

from frys.dsl import ast
from frys.dsl.types import FrysType, literal_type

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

ARITHMETIC_OPERATORS: Final = frozenset({"+", "-", "*", "/", "%"})
COMPARISON_OPERATORS: Final = frozenset({"=", "<>", "!=", "<", "<=", ">", ">="})

Scalar = Callable[[Any, Any], Any]
Polars = Callable[[pl.Expr, pl.Expr], pl.Expr]


# --- which variant: INT (both operands INT), FLOAT (one is FLOAT), or decided by the values

_INT, _FLOAT, _ANY = "INT", "FLOAT", "ANY"


def _variant(left: FrysType, right: FrysType) -> str:
    if FrysType.FLOAT in (left, right):
        return _FLOAT
    return _INT if left == right == FrysType.INT else _ANY


def operand_type(expr: ast.Expr) -> FrysType:
    """The type of an operand: the one analysis set on the node (`expr.type`), else, for a
    node built without one, what it must be: a literal's by its value, arithmetic over
    such nodes by these rules; FrysType.NULL when that does not tell."""
    if expr.type is not None:
        return expr.type
    if isinstance(expr, ast.Literal):
        return literal_type(expr.value)
    if isinstance(expr, ast.UnaryOp) and expr.op == "-":
        return operand_type(expr.operand)
    if isinstance(expr, ast.BinaryOp) and expr.op in ARITHMETIC_OPERATORS:
        variant = _variant(operand_type(expr.left), operand_type(expr.right))
        if expr.op == "/" or variant == _FLOAT:
            return FrysType.FLOAT
        return FrysType.INT if variant == _INT else FrysType.NULL
    return FrysType.NULL


# --- + - * on INT: exact within 64 bits, NULL beyond -------------------------------------

# Written out, constants inline: the DEFINE closures call these per event.

def _add_int(a: int, b: int) -> int | None:
    result = a + b
    return result if -0x8000000000000000 <= result <= 0x7FFFFFFFFFFFFFFF else None


def _subtract_int(a: int, b: int) -> int | None:
    result = a - b
    return result if -0x8000000000000000 <= result <= 0x7FFFFFFFFFFFFFFF else None


def _multiply_int(a: int, b: int) -> int | None:
    result = a * b
    return result if -0x8000000000000000 <= result <= 0x7FFFFFFFFFFFFFFF else None


def _checked_any(function: Scalar) -> Scalar:
    """The form for operands of unknown type: FLOATs as IEEE, INTs checked."""
    def any_number(a: Any, b: Any) -> Any:
        result = function(a, b)
        if result.__class__ is int and not INT64_MIN <= result <= INT64_MAX:
            return None
        return result
    return any_number


# Near 2^63 a double is off the true integer by at most a few thousand; a wrapped result is
# off by a multiple of 2^64. Half of 2^63 tells the two apart with room to spare.
_WRAPPED: Final = float(2**62)


def _polars_checked(exact: pl.Expr, approximate: pl.Expr) -> pl.Expr:
    """polars wraps INT overflow around; the same operation in doubles (`approximate`) is
    far from the wrapped value exactly when it wrapped: then NULL. For FLOAT operands the
    two are the same computation, so nothing changes (NaN - NaN, or inf - inf, is no
    overflow: polars orders NaN above every number, hence the fill)."""
    kept = (approximate - exact.cast(pl.Float64)).abs().fill_nan(0.0) < _WRAPPED
    return pl.when(kept).then(exact)  # otherwise NULL; the name stays `exact`'s


def _polars_arithmetic(function: Polars) -> Callable[[pl.Expr, pl.Expr, str], pl.Expr]:
    def compile_(left: pl.Expr, right: pl.Expr, variant: str) -> pl.Expr:
        exact = function(left, right)
        if variant == _FLOAT:
            return exact
        return _polars_checked(exact, function(left.cast(pl.Float64), right.cast(pl.Float64)))
    return compile_


# --- / : true division, NULL by zero -------------------------------------------------------

def _divide(a: Any, b: Any) -> float | None:
    return None if b == 0 else float(a) / float(b)


def _polars_divide(left: pl.Expr, right: pl.Expr, variant: str) -> pl.Expr:
    return pl.when(right != 0).then(left.cast(pl.Float64) / right.cast(pl.Float64))


# --- % : the dividend's sign, NULL by zero --------------------------------------------------

def _int_remainder(a: int, b: int) -> int | None:
    if b == 0:
        return None
    remainder = abs(a) % abs(b)
    return -remainder if a < 0 else remainder


def _polars_floor(quotient: float) -> float:
    """floor() as polars computes it on a double: a zero or a non-finite value is its own
    floor (signed zero kept)."""
    if quotient == 0 or not math.isfinite(quotient):
        return quotient
    return float(math.floor(quotient))


def _polars_sign(value: float) -> float:
    """sign() as polars computes it on a double: -1.0, 1.0, the zero itself, or NaN."""
    if value != value or value == 0:
        return value
    return 1.0 if value > 0 else -1.0


def _float_remainder(a: Any, b: Any) -> float | None:
    """What the polars form computes for FLOATs, step for step in doubles: polars' floor
    remainder of the magnitudes, |a| - |b| * floor(|a| / |b|) (exact while |a| < |b|),
    times the dividend's sign."""
    if b == 0:
        return None
    magnitude, divisor = abs(float(a)), abs(float(b))
    remainder = magnitude - divisor * _polars_floor(magnitude / divisor)
    return remainder * _polars_sign(float(a))


def _moved_remainder(a: Any, b: Any) -> Any:
    """What the polars form computes when the operand types are unknown (see
    `_polars_moved_remainder`), step for step: exact on INTs; on FLOATs polars' floor
    remainder a - b * floor(a / b), moved to the dividend's sign."""
    if b == 0:
        return None
    if a.__class__ is int and b.__class__ is int:
        return _int_remainder(a, b)
    a, b = float(a), float(b)
    remainder = a - b * _polars_floor(a / b)
    if remainder == 0:
        return 0.0 * _polars_sign(a)
    if (remainder < 0) != (a < 0):
        remainder -= b
    return remainder


def _polars_float_remainder(left: pl.Expr, right: pl.Expr) -> pl.Expr:
    # as doubles first: an INT operand's magnitude would wrap at INT's smallest value
    dividend = left.cast(pl.Float64)
    return (dividend.abs() % right.cast(pl.Float64).abs()) * dividend.sign()


def _polars_moved_remainder(left: pl.Expr, right: pl.Expr) -> pl.Expr:
    # polars' % is the floor remainder (the divisor's sign), exact on INTs (where |MIN|
    # would wrap around); a non-zero remainder of the other sign than the dividend moves by
    # one divisor, a zero one takes the dividend's sign
    floored = left % right
    moved = (floored != 0) & ((floored < 0) != (left < 0))
    return pl.when(moved).then(floored - right) \
        .when(floored == 0).then(floored.abs() * left.sign()).otherwise(floored)


def _polars_remainder(left: pl.Expr, right: pl.Expr, variant: str) -> pl.Expr:
    remainder = (_polars_float_remainder if variant == _FLOAT else _polars_moved_remainder)(
        left, right)
    return pl.when(right != 0).then(remainder)


_SCALAR: Final[dict[str, dict[str, Scalar]]] = {
    "+": {_INT: _add_int, _FLOAT: operator.add, _ANY: _checked_any(operator.add)},
    "-": {_INT: _subtract_int, _FLOAT: operator.sub, _ANY: _checked_any(operator.sub)},
    "*": {_INT: _multiply_int, _FLOAT: operator.mul, _ANY: _checked_any(operator.mul)},
    "/": {_INT: _divide, _FLOAT: _divide, _ANY: _divide},
    "%": {_INT: _int_remainder, _FLOAT: _float_remainder, _ANY: _moved_remainder},
}
_POLARS: Final[dict[str, Callable[[pl.Expr, pl.Expr, str], pl.Expr]]] = {
    "+": _polars_arithmetic(operator.add),
    "-": _polars_arithmetic(operator.sub),
    "*": _polars_arithmetic(operator.mul),
    "/": _polars_divide,
    "%": _polars_remainder,
}


def scalar_arithmetic(op: str, left: FrysType, right: FrysType) -> Scalar:
    """The function computing `a op b` (op in + - * / %) for non-NULL operands of these
    types; chosen once, called per value."""
    return _SCALAR[op][_variant(left, right)]


def polars_arithmetic(op: str, left: pl.Expr, right: pl.Expr, left_type: FrysType,
                      right_type: FrysType) -> pl.Expr:
    """The polars expression computing `left op right` (op in + - * / %) by the same rule."""
    return _POLARS[op](left, right, _variant(left_type, right_type))


# --- unary - : NULL for -(INT's smallest value), which has no positive counterpart -----------

def _negate_int(a: int) -> int | None:
    return None if a == INT64_MIN else -a


def _negate_any(a: Any) -> Any:
    return None if a.__class__ is int and a == INT64_MIN else -a


def scalar_negate(operand: FrysType) -> Callable[[Any], Any]:
    """The function computing `-a` for a non-NULL operand of this type."""
    variant = _variant(operand, operand)
    return operator.neg if variant == _FLOAT else _negate_int if variant == _INT \
        else _negate_any


def polars_negate(operand: pl.Expr, operand_type: FrysType) -> pl.Expr:
    if _variant(operand_type, operand_type) == _FLOAT:
        return -operand
    return _polars_checked(-operand, -operand.cast(pl.Float64))


# --- comparisons: NaN equal to itself and above every number; INT vs FLOAT as doubles -------

def _nan_ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """A comparison ordering NaN as polars does (NaN comes from SQRT, LN or POWER outside
    their domain, or inf - inf)."""
    def nan_ordered(a: Any, b: Any) -> bool:
        a_nan, b_nan = a != a, b != b  # only NaN differs from itself
        if a_nan or b_nan:
            return compare(int(a_nan), int(b_nan))
        return compare(a, b)
    return nan_ordered


def _as_doubles(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """polars compares an INT with a FLOAT as two doubles; Python would compare exactly."""
    def doubles(a: Any, b: Any) -> bool:
        return compare(float(a), float(b))
    return doubles


_COMPARE: Final = {symbol: _nan_ordered(compare) for symbol, compare in (
    ("=", operator.eq), ("<>", operator.ne), ("!=", operator.ne), ("<", operator.lt),
    ("<=", operator.le), (">", operator.gt), (">=", operator.ge))}
_POLARS_COMPARE: Final[dict[str, Polars]] = {
    "=": operator.eq, "<>": operator.ne, "!=": operator.ne, "<": operator.lt,
    "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def scalar_compare(op: str, left: FrysType, right: FrysType) -> Callable[[Any, Any], bool]:
    """The comparison `a op b` of non-NULL operands of these types."""
    compare = _COMPARE[op]
    mixed = (left == FrysType.FLOAT) != (right == FrysType.FLOAT) and FrysType.INT in (
        left, right)
    return _as_doubles(compare) if mixed else compare


def polars_compare(op: str, left: pl.Expr, right: pl.Expr) -> pl.Expr:
    return _POLARS_COMPARE[op](left, right)


# --- || : the text of each operand, as CAST(x AS STRING) -----------------------------------

def float_text(value: float) -> str:
    """A double as polars writes it (CAST(x AS STRING) on the batch path): Python's
    shortest round-trip digits, but `NaN`, exponents without a leading zero (`1e-7`), and
    the exponent -5 written out (`0.000015`)."""
    text = repr(value)
    if text == "nan":
        return "NaN"
    mantissa, marker, exponent = text.partition("e")
    if not marker or exponent[0] == "+":
        return text
    power = -int(exponent)
    if power == 5:
        sign, digits = ("-", mantissa[1:]) if mantissa[0] == "-" else ("", mantissa)
        return f"{sign}0.0000{digits.replace('.', '')}"
    return f"{mantissa}e-{power}"


def timestamp_text(millis: int) -> str:
    """Epoch milliseconds as ISO-8601 in UTC (CAST(ts AS STRING))."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _bool_text(value: bool) -> str:
    return "true" if value else "false"


def _any_text(value: Any) -> str:
    if isinstance(value, bool):
        return _bool_text(value)
    if isinstance(value, float):
        return float_text(value)
    return str(value)


_TEXT: Final[dict[FrysType, Callable[[Any], str]]] = {
    FrysType.INT: str, FrysType.BOOL: _bool_text, FrysType.FLOAT: float_text,
    FrysType.TIMESTAMP: timestamp_text}


def scalar_text(operand: FrysType) -> Callable[[Any], str] | None:
    """The text of a non-NULL value of this type (TIMESTAMP as epoch milliseconds, as the
    DEFINE closures hold it); None for STRING, which is its own text."""
    if operand == FrysType.STRING:
        return None
    return _TEXT.get(operand, _any_text)


def scalar_concat(left: FrysType, right: FrysType) -> Scalar:
    """`a || b` for non-NULL operands of these types."""
    left_text, right_text = scalar_text(left), scalar_text(right)
    if left_text is None and right_text is None:
        return operator.add
    if left_text is None:
        return lambda a, b: a + right_text(b)  # type: ignore[misc]
    if right_text is None:
        return lambda a, b: left_text(a) + b
    return lambda a, b: left_text(a) + right_text(b)  # type: ignore[misc]


def polars_concat(left_text: pl.Expr, right_text: pl.Expr) -> pl.Expr:
    """`||` of two operands already converted to text (operators/expressions.py casts them
    as CAST(x AS STRING) does); NULL when either is."""
    return pl.concat_str([left_text, right_text])
