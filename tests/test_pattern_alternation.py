"""Alternation `x | y` (not in Flink CEP): a match continues with whichever branch takes
the event; under relaxed contiguity only the first event some branch can take is taken
(skip till next), under `->>` every one (skip till any). Events -> matches (ids)."""

from __future__ import annotations

import pytest

import frys

DEFINE = ("DEFINE a AS a.name = 'a', b AS b.name = 'b', c AS c.name = 'c', "
          "d AS d.name = 'd'")
CASES = [
    # pattern, event names (ids from 1), expected matches
    ("a -> (b | c d)", "axbcd", [[1, 3]]),
    ("a -> (b | c d)", "axcdb", [[1, 3, 4]]),
    ("a ->> (b | c d)", "axcdb", [[1, 3, 4], [1, 5]]),
    ("a (b | c) d", "abdacdaxd", [[1, 2, 3], [4, 5, 6]]),
    ("(b | c) -> d", "bxcd", [[1, 4], [3, 4]]),
    ("a -> (b c | b d)", "abd", [[1, 2, 3]]),
]


@pytest.mark.parametrize(("pattern", "names", "expected"), CASES,
                         ids=[f"{p} over {n}" for p, n, _ in CASES])
def test_alternation(pattern: str, names: str, expected: list[list[int]]) -> None:
    variables = [v for v in "abcd" if v in pattern]
    outputs = ", ".join(f"ARRAY_AGG({v}.id) AS {v}" for v in variables)
    define = ", ".join(f"{v} AS {v}.name = '{v}'" for v in variables)
    pipeline = frys.Pipeline.from_text(
        "CREATE STREAM ev (id INT, name STRING, ts TIMESTAMP) WITH (event_time = ts);\n"
        f"SELECT {outputs} FROM ev PATTERN ({pattern}) DEFINE {define} AFTER MATCH NO SKIP")
    pipeline.publish("ev", [{"id": i, "name": n, "ts": i} for i, n in enumerate(names, 1)])
    pipeline.finish()
    matches = [sorted(i for v in variables for i in (row[v] or []))
               for row in pipeline.results("select_1").to_dicts()]
    assert sorted(matches) == sorted(expected)


def test_a_quantified_alternation_is_refused_by_name() -> None:
    with pytest.raises(frys.FrysError, match="not supported yet: a quantified alternation"):
        frys.Pipeline.from_text(
            "CREATE STREAM ev (id INT, name STRING, ts TIMESTAMP) WITH (event_time = ts);\n"
            f"SELECT a.id FROM ev PATTERN ((a | b)+) {DEFINE.split(', c AS')[0]}")
