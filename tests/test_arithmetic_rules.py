"""dsl/arithmetic.py: one rule per operator, and every place that computes it agrees.

For operands drawn from the corners (0, -0.0, NaN, infinities, INT's extremes, 2^53 + 1,
NULL) and at random, five computations of `a op b` must give the same value, bit for bit
(a zero's sign and NaN included) where the result is a value:

(a) the scalar rule, (b) the polars rule on a frame, (c) constant folding of `lit op lit`
through the real folder, (d) a real job's SELECT over events holding the operands, and
(e) a real PATTERN whose DEFINE computes the expression in the per-event Python closures
(it reads an earlier variable) and compares it with the value (a) gave.
"""

from __future__ import annotations

import math
import operator
import random
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import frys
from frys.dsl import ast
from frys.dsl.arithmetic import (
    INT64_MAX,
    INT64_MIN,
    float_text,
    operand_type,
    polars_arithmetic,
    polars_compare,
    polars_negate,
    scalar_arithmetic,
    scalar_compare,
    scalar_concat,
    scalar_negate,
    timestamp_text,
)
from frys.dsl.optimizer.constant_folding import fold
from frys.dsl.types import FrysType

INT, FLOAT = FrysType.INT, FrysType.FLOAT
ARITHMETIC = ["+", "-", "*", "/", "%"]
COMPARISONS = ["=", "<>", "<", "<=", ">", ">="]
TYPE_PAIRS = [(INT, INT), (INT, FLOAT), (FLOAT, INT), (FLOAT, FLOAT)]
DTYPES = {INT: pl.Int64, FLOAT: pl.Float64}

INT_CORNERS = [0, 1, -1, 2, -2, 3, -3, 7, -7, INT64_MIN, INT64_MAX, INT64_MIN + 1,
               INT64_MAX - 1, 2**53 + 1, -(2**53 + 1), 2**62, -(2**62), 3_037_000_500,
               -3_037_000_500, 4_294_967_296]
FLOAT_CORNERS = [0.0, -0.0, math.nan, math.inf, -math.inf, 1.5, -7.5, 0.1, 2.0, -3.0,
                 1e308, -1e308, 5e-324, 1e-5, -2.5e-5, 1e-7, 1e17, 2.0**63, -(2.0**63),
                 9.2e18, 1e20, 9007199254740992.0]

ints = st.one_of(st.sampled_from(INT_CORNERS), st.integers(INT64_MIN, INT64_MAX),
                 st.integers(-1000, 1000))
floats = st.one_of(st.sampled_from(FLOAT_CORNERS), st.floats(), st.floats(-1e6, 1e6))


def values(of: FrysType) -> st.SearchStrategy[Any]:
    """Operands of a type, NULL among them."""
    return st.one_of(st.none(), ints if of == INT else floats)


def same(a: Any, b: Any) -> bool:
    """Equal as values: the same type, NaN equal to NaN, -0.0 apart from 0.0."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return type(a) is type(b) and a == b


def scalar(op: str, a: Any, b: Any, left: FrysType, right: FrysType) -> Any:
    """(a): the scalar rule with SQL's NULL propagation, as both of its callers apply it."""
    if a is None or b is None:
        return None
    if op in COMPARISONS:
        return scalar_compare(op, left, right)(a, b)
    if op == "||":
        return scalar_concat(left, right)(a, b)
    return scalar_arithmetic(op, left, right)(a, b)


def polars_binary(op: str, left: pl.Expr, right: pl.Expr, left_type: FrysType,
                  right_type: FrysType) -> pl.Expr:
    if op in COMPARISONS:
        return polars_compare(op, left, right)
    return polars_arithmetic(op, left, right, left_type, right_type)


def frame(pairs: list[tuple[Any, Any]], left: FrysType, right: FrysType) -> pl.DataFrame:
    return pl.DataFrame({"x": [a for a, _ in pairs], "y": [b for _, b in pairs]},
                        schema={"x": DTYPES[left], "y": DTYPES[right]})


# --- (a) = (b): the scalar and the polars form of each rule ---------------------------------

@st.composite
def operands(draw: st.DrawFn) -> tuple[str, FrysType, FrysType, list[tuple[Any, Any]]]:
    op = draw(st.sampled_from(ARITHMETIC + COMPARISONS))
    left, right = draw(st.sampled_from(TYPE_PAIRS))
    pairs = draw(st.lists(st.tuples(values(left), values(right)), min_size=1, max_size=40))
    return op, left, right, pairs


@settings(max_examples=300, deadline=None)
@given(operands())
def test_scalar_and_polars_forms_agree(case) -> None:
    op, left, right, pairs = case
    data = frame(pairs, left, right)
    typed = data.select(polars_binary(op, pl.col("x"), pl.col("y"), left, right)
                        .alias("r"))["r"].to_list()
    # the types unknown (FrysType.NULL: a node the optimizer made): the same results
    untyped = data.select(polars_binary(op, pl.col("x"), pl.col("y"), FrysType.NULL,
                                        FrysType.NULL).alias("r"))["r"].to_list()
    for (a, b), batch, batch_untyped in zip(pairs, typed, untyped, strict=True):
        expected = scalar(op, a, b, left, right)
        assert same(batch, expected), (a, op, b, batch, expected)
        unknown = scalar(op, a, b, FrysType.NULL, FrysType.NULL)
        if op in COMPARISONS:
            # polars compares INT with FLOAT as doubles whatever it is told; Python needs
            # the types to know it must
            assert same(batch_untyped, expected), (a, op, b, batch_untyped, expected)
            if left == right:
                assert same(unknown, expected), (a, op, b, unknown, expected)
            continue
        assert same(batch_untyped, unknown), (a, op, b, batch_untyped, unknown)
        if op != "%" or left == right == INT:  # FLOAT % untyped: the floor remainder moved
            assert same(unknown, expected), (a, op, b, unknown, expected)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([INT, FLOAT]).flatmap(
    lambda of: st.tuples(st.just(of), st.lists(values(of), min_size=1, max_size=40))))
def test_negation_forms_agree(case) -> None:
    of, operands_ = case
    data = pl.DataFrame({"x": operands_}, schema={"x": DTYPES[of]})
    batch = data.select(polars_negate(pl.col("x"), of).alias("r"))["r"].to_list()
    for a, got in zip(operands_, batch, strict=True):
        expected = None if a is None else scalar_negate(of)(a)
        assert same(got, expected), (a, got, expected)
        assert same(None if a is None else scalar_negate(FrysType.NULL)(a), expected)


# --- the rules themselves, stated as examples -----------------------------------------------

@pytest.mark.parametrize(("op", "a", "b", "expected"), [
    ("+", INT64_MAX, 1, None), ("-", INT64_MIN, 1, None), ("*", 2**32, 2**31, None),
    ("*", -(2**32), 2**31, INT64_MIN), ("*", INT64_MIN, -1, None), ("+", INT64_MAX, -1,
                                                                    INT64_MAX - 1),
    ("/", 7, 2, 3.5), ("/", 1, 0, None), ("/", 1.0, -0.0, None), ("/", INT64_MAX, 1,
                                                                  9.223372036854776e18),
    ("%", -7, 3, -1), ("%", 7, -3, 1), ("%", INT64_MIN, -1, 0), ("%", 5, 0, None),
    ("%", -7.5, 2.0, -1.5), ("%", 7.5, -2.0, 1.5), ("%", -0.0, 1.0, -0.0),
    ("%", 5.0, math.inf, math.nan), ("%", math.inf, 2.0, math.nan), ("%", 1.0, 0.0, None),
    ("+", math.inf, -math.inf, math.nan), ("*", 1e308, 10.0, math.inf),
    ("+", 2**53 + 1, 0.0, 9007199254740992.0),
])
def test_arithmetic_rules(op, a, b, expected) -> None:
    left, right = (INT if isinstance(a, int) else FLOAT), (INT if isinstance(b, int) else FLOAT)
    assert same(scalar(op, a, b, left, right), expected)


@pytest.mark.parametrize(("op", "a", "b", "expected"), [
    ("=", math.nan, math.nan, True), (">", math.nan, math.inf, True),
    ("<", 1.0, math.nan, True), ("<>", math.nan, 0.0, True),
    ("=", 2**53 + 1, float(2**53), True), (">", 2**53 + 1, float(2**53), False),
])
def test_comparison_rules(op, a, b, expected) -> None:
    left, right = (INT if isinstance(a, int) else FLOAT), (INT if isinstance(b, int) else FLOAT)
    assert scalar_compare(op, left, right)(a, b) is expected


def test_negating_the_smallest_int_is_null() -> None:
    assert scalar_negate(INT)(INT64_MIN) is None
    assert scalar_negate(INT)(INT64_MIN + 1) == INT64_MAX
    assert same(scalar_negate(FLOAT)(0.0), -0.0)


@settings(max_examples=300, deadline=None)
@given(st.lists(floats, min_size=1, max_size=50))
def test_float_text_is_what_polars_writes(xs) -> None:
    written = pl.Series(xs, dtype=pl.Float64).cast(pl.String).to_list()
    assert [float_text(x) for x in xs] == written


def test_concatenation_writes_each_operand_as_cast_to_string() -> None:
    stamp = 1_714_564_800_250
    data = pl.DataFrame({"s": ["x"], "i": [-7], "f": [1e-7], "b": [True],
                         "t": [stamp]}).with_columns(pl.col("t").cast(pl.Datetime("ms", "UTC")))
    pipeline = frys.Pipeline.from_text(
        "CREATE STREAM s (s STRING, i INT, f FLOAT, b BOOL, t TIMESTAMP);\n"
        "SELECT s || i AS si, f || b AS fb, t || s AS ts_, i || NULL AS null_ FROM s")
    pipeline.publish("s", data)
    pipeline.finish()
    row = pipeline.results("select_1").row(0, named=True)
    assert row == {"si": "x-7", "fb": "1e-7true", "ts_": "2024-05-01T12:00:00.250Zx",
                   "null_": None}
    assert scalar_concat(FrysType.STRING, INT)("x", -7) == row["si"]
    assert scalar_concat(FLOAT, FrysType.BOOL)(1e-7, True) == row["fb"]
    assert scalar_concat(FrysType.TIMESTAMP, FrysType.STRING)(stamp, "x") == row["ts_"]
    assert timestamp_text(0) == "1970-01-01T00:00:00.000Z"


# --- (c): constant folding of `lit op lit` ----------------------------------------------------

finite_floats = st.one_of(st.sampled_from([f for f in FLOAT_CORNERS if math.isfinite(f)]),
                          st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(ARITHMETIC + COMPARISONS + ["||"]),
       st.one_of(ints, finite_floats), st.one_of(ints, finite_floats))
def test_constant_folding_follows_the_rules(op, a, b) -> None:
    left, right = (INT if isinstance(a, int) else FLOAT), (INT if isinstance(b, int) else FLOAT)
    expr = ast.BinaryOp(op, ast.Literal(a), ast.Literal(b))
    folded = fold(expr)
    expected = scalar(op, a, b, left, right)
    if expected is None or (isinstance(expected, float) and not math.isfinite(expected)):
        assert folded is expr  # left for the runtime, which computes the same by the rule
    else:
        assert isinstance(folded, ast.Literal) and same(folded.value, expected), (
            a, op, b, folded, expected)


@settings(max_examples=100, deadline=None)
@given(st.one_of(ints, finite_floats))
def test_constant_folding_negates_by_the_rule(a) -> None:
    expr = ast.UnaryOp("-", ast.Literal(a))
    expected = scalar_negate(INT if isinstance(a, int) else FLOAT)(a)
    folded = fold(expr)
    if expected is None:
        assert folded is expr
    else:
        assert isinstance(folded, ast.Literal) and same(folded.value, expected)


# --- (d) and (e): real jobs, many operands in one job ---------------------------------------

def corner_pairs(left: FrysType, right: FrysType) -> list[tuple[Any, Any]]:
    """Every corner against every corner, NULLs, and a seeded random sample."""
    lefts = INT_CORNERS if left == INT else FLOAT_CORNERS
    rights = INT_CORNERS if right == INT else FLOAT_CORNERS
    pairs: list[tuple[Any, Any]] = [(a, b) for a in lefts for b in rights]
    pairs += [(None, rights[1]), (lefts[1], None), (None, None)]
    rng = random.Random(13)

    def draw(of: FrysType) -> Any:
        if of == INT:
            return rng.choice([rng.randint(INT64_MIN, INT64_MAX), rng.randint(-100, 100)])
        return rng.choice([rng.uniform(-1e6, 1e6), rng.uniform(-10, 10) * 10.0 ** rng.randint(
            -300, 300)])
    pairs += [(draw(left), draw(right)) for _ in range(300)]
    return pairs


COLUMNS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%", "eq": "=", "ne": "<>",
           "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
TYPE_NAMES = {INT: "INT", FLOAT: "FLOAT"}


def result_type(op: str, left: FrysType, right: FrysType) -> str:
    if op in COMPARISONS:
        return "BOOL"
    return "FLOAT" if op == "/" or FLOAT in (left, right) else "INT"


@pytest.mark.parametrize(("left", "right"), TYPE_PAIRS, ids=lambda t: str(t))
def test_a_select_computes_the_rules(left, right) -> None:
    """(d): a real job (parse, analyze, optimize, plan, run) over events holding the
    operands."""
    pairs = corner_pairs(left, right)
    select = ", ".join(f"x {op} y AS {name}" for name, op in COLUMNS.items())
    pipeline = frys.Pipeline.from_text(
        f"CREATE STREAM s (k INT, x {TYPE_NAMES[left]}, y {TYPE_NAMES[right]});\n"
        f"SELECT k, {select}, -x AS neg, x || y AS cat FROM s")
    pipeline.publish("s", frame(pairs, left, right).with_row_index("k").with_columns(
        pl.col("k").cast(pl.Int64)))
    pipeline.finish()
    rows = pipeline.results("select_1").sort("k").to_dicts()
    assert len(rows) == len(pairs)
    for (a, b), row in zip(pairs, rows, strict=True):
        for name, op in COLUMNS.items():
            expected = scalar(op, a, b, left, right)
            assert same(row[name], expected), (a, op, b, row[name], expected)
        assert same(row["neg"], None if a is None else scalar_negate(left)(a)), (a, row["neg"])
        assert row["cat"] == scalar(op="||", a=a, b=b, left=left, right=right), (a, b)


@pytest.mark.parametrize(("left", "right"), TYPE_PAIRS, ids=lambda t: str(t))
def test_a_pattern_define_computes_the_rules(left, right) -> None:
    """(e): `b`'s DEFINE reads `a`, so it runs in the per-event Python closures; for each
    operator it must find the value the rule gives (carried by the `b` event), or NULL
    where the rule gives NULL. Every pair matching is every value agreeing."""
    pairs = corner_pairs(left, right)
    operators_ = [*ARITHMETIC, "||", "<", "="]
    for op in operators_:
        kind = "STRING" if op == "||" else result_type(op, left, right)
        pipeline = frys.Pipeline.from_text(
            f"CREATE STREAM s (k INT, x {TYPE_NAMES[left]}, y {TYPE_NAMES[right]}, r {kind}, "
            f"ts TIMESTAMP) WITH (event_time = ts);\n"
            f"SELECT a.k AS k FROM s PATTERN (a b) DEFINE b AS b.k = a.k AND "
            f"((a.x {op} a.y) = b.r OR ((a.x {op} a.y) IS NULL AND b.r IS NULL))")
        events = []
        for k, (a, b) in enumerate(pairs):
            expected = scalar(op, a, b, left, right)
            events.append({"k": k, "x": a, "y": b, "r": None, "ts": 2 * k})
            events.append({"k": k, "x": None, "y": None, "r": expected, "ts": 2 * k + 1})
        schema = {"k": pl.Int64, "x": DTYPES[left], "y": DTYPES[right],
                  "r": {"STRING": pl.String, "BOOL": pl.Boolean, "INT": pl.Int64,
                        "FLOAT": pl.Float64}[kind], "ts": pl.Int64}
        pipeline.publish("s", pl.DataFrame(events, schema=schema).with_columns(
            pl.col("ts").cast(pl.Datetime("ms", "UTC"))))
        pipeline.finish()
        matched = set(pipeline.results("select_1")["k"].to_list())
        missing = [pairs[k] for k in range(len(pairs)) if k not in matched]
        assert not missing, (op, missing[:5])


def test_the_closures_negate_by_the_rule() -> None:
    pipeline = frys.Pipeline.from_text(
        "CREATE STREAM s (k INT, x INT, ts TIMESTAMP) WITH (event_time = ts);\n"
        "SELECT a.k AS k FROM s PATTERN (a b) DEFINE b AS b.k = a.k AND -a.x IS NULL")
    pipeline.publish("s", [{"k": 1, "x": INT64_MIN, "ts": 1}, {"k": 1, "x": 0, "ts": 2},
                           {"k": 2, "x": INT64_MIN + 1, "ts": 3}, {"k": 2, "x": 0, "ts": 4}])
    pipeline.finish()
    assert pipeline.results("select_1")["k"].to_list() == [1]


def test_operator_add_is_called_directly_for_floats() -> None:
    """The DEFINE closures are hot: FLOAT arithmetic is the bare operator, chosen once."""
    assert scalar_arithmetic("+", FLOAT, INT) is operator.add
    assert scalar_arithmetic("*", FLOAT, FLOAT) is operator.mul
    assert scalar_concat(FrysType.STRING, FrysType.STRING) is operator.add


def test_frames_of_mixed_types_give_polars_the_same_supertype() -> None:
    # the polars forms convert INT to FLOAT as the scalar forms do (float(a) op float(b))
    data = frame([(2**53 + 1, 1.0)], INT, FLOAT)
    result = data.select(polars_arithmetic("*", pl.col("x"), pl.col("y"), INT, FLOAT))
    assert result.to_series().to_list() == [float(2**53)]


def test_nodes_the_optimizer_built_are_typed_by_the_rules() -> None:
    """Constant folding rebuilds `x + (1 + 1)`; the node's type is the analyzer's (set on the
    node), and a node built without one is typed from its operands by the rules, so `%`
    between two such nodes takes the FLOAT rule (here |a| < |b|: exact) on both paths, not
    the one for unknown types (which gives -0.0)."""
    x = ast.ColumnRef("x", type=FLOAT)
    built = ast.BinaryOp("+", x, ast.Literal(2))
    assert operand_type(built) == FLOAT
    assert operand_type(ast.BinaryOp("+", x, ast.Literal(2), type=INT)) == INT  # the node's
    assert operand_type(ast.UnaryOp("-", ast.BinaryOp("*", ast.Literal(2), ast.Literal(3)))
                        ) == INT
    assert operand_type(ast.BinaryOp("/", ast.Literal(2), ast.Literal(3))) == FLOAT
    assert operand_type(ast.BinaryOp("+", ast.Literal(2), ast.Literal(None))) == (
        FrysType.NULL)
    assert operand_type(ast.FunctionCall("ABS", (built,))) == FrysType.NULL
    assert scalar_arithmetic("%", FLOAT, FLOAT)(-0.5, 1e308) == -0.5

    pipeline = frys.Pipeline.from_text(
        "CREATE STREAM s (k INT, x FLOAT, y FLOAT, ts TIMESTAMP) WITH (event_time = ts);\n"
        "SELECT (x + (1 + 1)) % (y + (1 - 1)) AS r FROM s;\n"
        "SELECT a.k AS k FROM s PATTERN (a b) "
        "DEFINE b AS b.k = a.k AND (a.x + (1 + 1)) % (a.y + (1 - 1)) = -0.5")
    pipeline.publish("s", [{"k": 1, "x": -2.5, "y": 1e308, "ts": 1},
                           {"k": 1, "x": 0.0, "y": 1.0, "ts": 2}])
    pipeline.finish()
    assert pipeline.results("select_1")["r"].to_list()[0] == -0.5
    assert pipeline.results("select_2")["k"].to_list() == [1]
