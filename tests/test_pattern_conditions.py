"""Patterns: DEFINE conditions on earlier variables and running aggregates of quantified ones.
Cases from Flink CEP's test suite (tests/pattern_cases.py, each citing its source), events
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
