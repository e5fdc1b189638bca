"""Runs pattern cases (tests/pattern_cases.py) through a frys Pipeline: the shared part of
the per-feature pattern test modules.

Every case selects `ARRAY_AGG(v.id) AS v_ids` for each variable of its pattern that is not
negated, and a match's events are the ids of all those columns together. Variables are found
by parsing the job (dsl.parser), not by scanning the pattern text.
"""

from __future__ import annotations

from collections.abc import Iterator

from pattern_cases import PatternCase

import frys
from frys.dsl import ast
from frys.dsl.parser import parse

STREAM = ("CREATE STREAM ev (id INT, name STRING, price FLOAT, ts TIMESTAMP)"
          " WITH (event_time = ts);\n")
QUERY_OUTPUT = "select_1"


def _variables(pattern: ast.PatternNode) -> Iterator[str]:
    """The variables of a pattern tree in written order, skipping negated ones."""
    negated = {n.element.name for n in ast.pattern_nodes(pattern)
               if isinstance(n, ast.PatternNot) and isinstance(n.element, ast.PatternVariable)}
    for node in ast.pattern_nodes(pattern):
        if isinstance(node, ast.PatternVariable) and node.name not in negated:
            yield node.name


def pattern_variables(case: PatternCase) -> list[str]:
    """The non-negated variables of the case's pattern, each once, in written order."""
    program = parse(STREAM + f"SELECT COUNT(*) AS n FROM ev {case.pattern};")
    select = program.statements[-1]
    assert isinstance(select, ast.Select) and select.match is not None
    return list(dict.fromkeys(_variables(select.match.pattern)))


def job_text(case: PatternCase) -> str:
    outputs = ", ".join(f"ARRAY_AGG({v}.id) AS {v}_ids" for v in pattern_variables(case))
    return STREAM + f"SELECT {outputs} FROM ev {case.pattern};\n"


def _ids(value: object) -> list[int]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value if v is not None]
    if hasattr(value, "to_list"):  # a polars Series inside a list column
        return [int(v) for v in value.to_list() if v is not None]
    return [int(value)]  # type: ignore[call-overload]


def run_case(case: PatternCase) -> list[list[int]]:
    pipeline = frys.Pipeline.from_text(job_text(case))
    pipeline.publish("ev", [{"id": i, "name": n, "price": p, "ts": t}
                            for i, n, p, t in case.events])
    pipeline.finish()
    rows = pipeline.results(QUERY_OUTPUT)
    columns = [c for c in rows.columns if c.endswith("_ids")]
    return [sorted(i for c in columns for i in _ids(row[c]))
            for row in rows.iter_rows(named=True)]


def case_id(case: PatternCase) -> str:
    return case.name


def check(case: PatternCase) -> None:
    """The case's matches are exactly Flink's (in order when the case says so)."""
    actual = run_case(case)
    expected = [sorted(m) for m in case.matches]
    if case.ordered:
        assert actual == expected
    else:
        assert sorted(actual) == sorted(expected)
