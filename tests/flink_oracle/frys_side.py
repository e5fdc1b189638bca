"""Runs a case through frys, the way tests/pattern_runner.py does: Pipeline.from_text, publish
the events as one batch, finish, and read the query's ARRAY_AGG(v.id) AS v_ids columns.

A result has the driver's shape: {"matches": [{"a": [0], "b": [1, 2]}, ...]} or
{"error": "<class>: <message>", "phase": "compile"|"run"}. "compile" is a refusal (a FrysError
while compiling the job); anything else raised is a crash, phase "run" (or "compile-crash")."""

from __future__ import annotations

import traceback
from typing import Any

import frys
from frys.dsl import FrysError
from frys.engine.runtime import RuntimeOptions

from .spec import Case

QUERY_OUTPUT = "select_1"
# Flink keeps every partial match; so must frys here (its default limit is 10,000 per partition)
OPTIONS = RuntimeOptions(max_partial_matches=10_000_000)


def _ids(value: object) -> list[int]:
    if value is None:
        return []
    if hasattr(value, "to_list"):  # a polars Series inside a list column
        value = value.to_list()
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value if v is not None]
    return [int(value)]  # type: ignore[call-overload]


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def run_frys(case: Case) -> dict[str, Any]:
    text = case.pattern.frysql()
    try:
        pipeline = frys.Pipeline.from_text(text, options=OPTIONS)
    except FrysError as error:
        return {"error": _describe(error), "phase": "compile", "detail": str(error)}
    except Exception as error:  # a crash of the compiler, not a refusal
        return {"error": _describe(error), "phase": "compile-crash",
                "detail": traceback.format_exc(limit=6)}
    try:
        pipeline.publish("ev", [e.to_json() for e in case.events])
        pipeline.finish()
        rows = pipeline.results(QUERY_OUTPUT)
    except Exception as error:
        return {"error": _describe(error), "phase": "run",
                "detail": traceback.format_exc(limit=6)}
    variables = case.pattern.output_variables()
    matches = []
    for row in rows.iter_rows(named=True):
        match = {}
        for v in variables:
            ids = _ids(row.get(f"{v}_ids"))
            if ids:
                match[v] = ids
        matches.append(match)
    result: dict[str, Any] = {"matches": matches}
    discarded = sum(pipeline.stats.discarded_partial_matches.values())
    if discarded:
        result["discarded_partial_matches"] = discarded
    return result
