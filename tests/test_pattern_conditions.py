"""Patterns: DEFINE conditions on earlier variables and running aggregates of quantified ones.
Cases from Flink CEP's test suite (tests/pattern_cases/, each citing its source), events
-> expected matches."""

from __future__ import annotations

import pytest
from pattern_cases import ITERATIVE
from pattern_runner import case_id, check

import frys


@pytest.mark.parametrize("case", ITERATIVE, ids=case_id)
def test_conditions_matches_like_flink(case) -> None:
    check(case)


STREAM = ("CREATE STREAM ev (id INT, name STRING, price FLOAT, ts TIMESTAMP) "
          "WITH (event_time = ts);\n")
# conditions that read an earlier variable run per event in Python: SQL semantics there too
RESIDUAL = [
    # DEFINE b AS ..., events (name, price), expected b ids of `a -> b` (a: name = 'a')
    ("b.price IN (a.price, a.price + 1)", [("a", 5.0), ("x", 7.0), ("y", 6.0)], [3]),
    ("b.price NOT IN (a.price)", [("a", 5.0), ("x", 5.0), ("y", 6.0)], [3]),
    ("b.name LIKE 'a%' OR b.price > a.price + 10", [("a", 5.0), ("xa", 5.0), ("ab", 6.0)],
     [3]),
    ("b.name NOT LIKE '_' OR b.price > a.price + 10", [("a", 5.0), ("x", 5.0), ("xy", 6.0)],
     [3]),
    ("b.price BETWEEN a.price - 1 AND a.price + 1", [("a", 5.0), ("x", 9.0), ("y", 4.5)], [3]),
    ("ABS(b.price - a.price) > 3", [("a", 5.0), ("x", 6.0), ("y", 1.0)], [3]),
    ("b.price / (a.price - 5) > 0 OR b.name = 'z'", [("a", 5.0), ("y", 1.0), ("z", 1.0)], [3]),
]


@pytest.mark.parametrize(("condition", "events", "expected"), RESIDUAL,
                         ids=[c for c, _, _ in RESIDUAL])
def test_conditions_on_earlier_variables(condition, events, expected) -> None:
    pipeline = frys.Pipeline.from_text(
        STREAM + f"SELECT b.id AS b FROM ev PATTERN (a -> b) "
                 f"DEFINE a AS a.name = 'a', b AS {condition}")
    pipeline.publish("ev", [{"id": i, "name": n, "price": p, "ts": i}
                            for i, (n, p) in enumerate(events, 1)])
    pipeline.finish()
    assert pipeline.results("select_1")["b"].to_list() == expected


# Conditions evaluated per event in Python must agree with the batch path (polars). Each is
# run both ways: alone it reads only `b` and is vectorized; OR-ed with `a.id IS NULL` (never
# true) it reads `a`, so the same expression runs in the residual closures.
SCALAR_CONDITIONS = [
    "CASE WHEN b.price > 10 THEN 'big' WHEN b.price > 2 THEN 'mid' END = 'mid'",
    "CASE b.name WHEN 'x' THEN 1 WHEN 'y' THEN 2 ELSE 3 END >= 2",
    "CASE WHEN b.price > 100 THEN 1 END IS NULL",
    "COALESCE(b.label, b.name) = 'x'",
    "UPPER(b.name) = 'XY' OR LOWER(b.name) = 'q'",
    "LENGTH(b.name) = 2",
    "ROUND(b.price) = 3",
    "ROUND(b.price, 1) = 2.5",
    "FLOOR(b.price) = 2 OR CEIL(b.price) = 5",
    "SQRT(b.price) > 1.5",
    "LN(b.price) < 1",
    "EXP(b.price) > 20",
    "POWER(b.price, 2) > 10",
    "SUBSTR(b.name, 1, 1) = 'x'",
    "SUBSTR(b.name, 0, 2) = 'x'",
    "SUBSTR(b.name, 2) = 'y'",
    "CAST(b.price AS INT) = 3 OR CAST(b.price AS INT) = -4",
    "CAST(b.price AS BOOL) = false",
    "CAST(b.id AS STRING) = '3'",
    "CAST(b.ts AS STRING) = '1970-01-01T00:00:00.004Z'",
    "CAST(b.ts AS INT) > 5",
    "CAST(b.id AS FLOAT) / 2 = 1.5",
    "CAST(b.price AS TIMESTAMP) > CAST(2 AS TIMESTAMP)",
    "CAST(CAST(b.id AS STRING) AS BOOL) IS NULL",
    "CAST(b.label AS BOOL) IS NULL AND CAST(b.id > 4 AS STRING) = 'true'",
]
EVENTS = [("a", 1.0, None), ("x", 2.5, "x"), ("xy", 2.45, None), ("y", -3.5, "lbl"),
          ("q", 0.0, None), ("xyz", 4.2, None), ("a", 2.49, None), ("xy", 7.0, "x"),
          ("z", -0.5, None), ("", 12.0, None)]


@pytest.mark.parametrize("condition", SCALAR_CONDITIONS)
def test_residual_conditions_compute_like_the_batch_path(condition: str) -> None:
    def b_ids(define_b: str) -> list[int]:
        pipeline = frys.Pipeline.from_text(
            "CREATE STREAM ev (id INT, name STRING, label STRING, price FLOAT, "
            "ts TIMESTAMP) WITH (event_time = ts);\n"
            f"SELECT b.id AS b FROM ev PATTERN (a ->> b) "
            f"DEFINE a AS a.name = 'a', b AS {define_b} AFTER MATCH NO SKIP")
        pipeline.publish("ev", [{"id": i, "name": n, "price": p, "label": label, "ts": i}
                                for i, (n, p, label) in enumerate(EVENTS, 1)])
        pipeline.finish()
        return sorted(pipeline.results("select_1")["b"].to_list())

    vectorized = b_ids(condition)
    assert vectorized, "the condition should hold for some event"
    assert b_ids(f"({condition}) OR a.id IS NULL") == vectorized


def test_a_residual_cast_from_text_to_a_number_is_refused_at_its_place() -> None:
    with pytest.raises(frys.FrysError) as caught:
        frys.Pipeline.from_text(
            STREAM + "SELECT b.id AS b FROM ev PATTERN (a -> b) "
                     "DEFINE a AS a.name = 'a', b AS CAST(b.name AS INT) > a.price")
    rendered = caught.value.render()
    assert rendered.startswith("<query>:2:74: error: not supported yet in a DEFINE that "
                               "reads other variables: CAST from STRING to INT")
    assert rendered.endswith("\n" + " " * 77 + "^" * len("CAST(b.name AS INT)"))  # the CAST
