"""Scalar expressions as a table: expression, input row -> expected value, run through a
real pipeline (parse, analyze, compile to polars, evaluate)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import frys

SCHEMA = "CREATE STREAM s (a STRING, n INT, f FLOAT, b BOOL, t TIMESTAMP);\n"
ROW = {"a": "Abc", "n": 7, "f": 2.5, "b": True, "t": "2024-05-01T12:00:00.250Z"}

CASES = [
    # arithmetic, NULL propagation, division rules
    ("n + 1", ROW, 8), ("n - 10", ROW, -3), ("n * f", ROW, 17.5), ("n / 2", ROW, 3.5),
    ("n / 0", ROW, None), ("n % 3", ROW, 1), ("-n % 3", ROW, -1), ("n % -3", ROW, 1),
    ("-f", ROW, -2.5), ("n + NULL", ROW, None), ("f * 2 + n", {"n": None, "f": 1.0}, None),
    # comparisons and three-valued logic
    ("n > 5", ROW, True), ("n <> 7", ROW, False), ("n != 7", ROW, False), ("f <= 2.5", ROW, True),
    ("a = 'Abc'", ROW, True), ("b AND n > 100", ROW, False), ("NOT b OR n = 7", ROW, True),
    ("b AND n > 1", {"b": None, "n": 5}, None), ("b OR n > 1", {"b": None, "n": 5}, True),
    # IN, BETWEEN, LIKE, IS NULL
    ("n IN (1, 7)", ROW, True), ("n NOT IN (1, 7)", ROW, False), ("a IN ('x')", ROW, False),
    ("n IN (1, 2)", {"n": None}, None),
    ("n BETWEEN 7 AND 8", ROW, True), ("f BETWEEN 3 AND 4", ROW, False),
    ("n NOT BETWEEN 1 AND 3", ROW, True),
    ("a LIKE 'A%'", ROW, True), ("a LIKE '_b_'", ROW, True), ("a LIKE 'a%'", ROW, False),
    ("a NOT LIKE '%c'", ROW, False), ("a LIKE 'x.*'", {"a": "x.*"}, True),
    ("a LIKE 'x.*'", {"a": "xyz"}, False),
    ("f IS NULL", ROW, False), ("f IS NULL", {"f": None}, True), ("a IS NOT NULL", ROW, True),
    # CASE
    ("CASE WHEN n > 5 THEN 'big' ELSE 'small' END", ROW, "big"),
    ("CASE WHEN n > 50 THEN 'big' END", ROW, None),
    ("CASE a WHEN 'x' THEN 1 WHEN 'Abc' THEN 2 ELSE 3 END", ROW, 2),
    ("CASE WHEN b THEN n ELSE f END", ROW, 7.0),
    # string functions
    ("UPPER(a)", ROW, "ABC"), ("LOWER(a)", ROW, "abc"), ("LENGTH(a)", ROW, 3),
    ("a || '-' || n", ROW, "Abc-7"), ("SUBSTR(a, 2)", ROW, "bc"), ("SUBSTR(a, 2, 1)", ROW, "b"),
    ("SUBSTR(a, 0, 2)", ROW, "A"), ("COALESCE(a, 'none')", {"a": None}, "none"),
    ("COALESCE(n, f)", {"n": None, "f": 1.5}, 1.5),
    # math
    ("ABS(-n)", ROW, 7), ("ROUND(f)", ROW, 3.0), ("ROUND(-2.5)", ROW, -3.0),
    ("ROUND(f * 1.234, 2)", ROW, 3.09), ("FLOOR(f)", ROW, 2.0), ("CEIL(f)", ROW, 3.0),
    ("SQRT(16)", ROW, 4.0), ("LN(1)", ROW, 0.0), ("EXP(0)", ROW, 1.0),
    ("POWER(2, 10)", ROW, 1024.0),
    # CAST: values that do not convert become NULL
    ("CAST(f AS INT)", ROW, 3), ("CAST(-2.5 AS INT)", ROW, -3), ("CAST(n AS FLOAT)", ROW, 7.0),
    ("CAST(n AS STRING)", ROW, "7"), ("CAST(b AS STRING)", ROW, "true"),
    ("CAST(a AS INT)", ROW, None), ("CAST(a AS INT)", {"a": " 42 "}, 42),
    ("CAST(a AS BOOL)", {"a": "TRUE"}, True), ("CAST(a AS BOOL)", {"a": "nope"}, None),
    ("CAST(t AS STRING)", ROW, "2024-05-01T12:00:00.250Z"),
    ("CAST(t AS INT)", ROW, 1_714_564_800_250),
    ("CAST(a AS TIMESTAMP)", {"a": "2024-05-01T14:00:00+02:00"},
     datetime(2024, 5, 1, 12, tzinfo=UTC)),
    ("CAST(n AS TIMESTAMP)", {"n": 1000}, datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)),
]


@pytest.mark.parametrize(("expression", "row", "expected"), CASES,
                         ids=[f"{c[0]}|{sorted(c[1].items()) if c[1] is not ROW else ''}"
                              for c in CASES])
def test_expression(expression: str, row: dict, expected: object) -> None:
    pipeline = frys.Pipeline.from_text(SCHEMA + f"SELECT {expression} AS value FROM s")
    pipeline.publish("s", [row])
    pipeline.finish()
    values = pipeline.results("select_1")["value"].to_list()
    assert len(values) == 1
    if isinstance(expected, float):
        assert values[0] == pytest.approx(expected)
    else:
        assert values[0] == expected


def test_where_drops_rows_whose_condition_is_null() -> None:
    pipeline = frys.Pipeline.from_text(SCHEMA + "SELECT n FROM s WHERE f > 1")
    pipeline.publish("s", [{"n": 1, "f": 2.0}, {"n": 2, "f": None}, {"n": 3, "f": 0.5}])
    pipeline.finish()
    assert pipeline.results("select_1")["n"].to_list() == [1]
