"""The .frysql front end: grammar (frysql.lark), parser, typed AST, analyzer and planner.

`compile_text` is the one entry point: text in, an analyzed job out, or a FrysError that
names file, line and column of every problem. The language knows no connectors; the command
line and the API compile through `frys.compile_text` (api/compiler.py), which adds the
connector registry's checks of `source` and `sink` URIs.
"""

from __future__ import annotations

from frys.dsl.analyzed import AnalyzedJob, AnalyzedQuery, StreamDef
from frys.dsl.analyzer import analyze, any_uri
from frys.dsl.errors import (
    FrysAnalysisError,
    FrysError,
    FrysSyntaxError,
    NotSupportedYet,
    UriChecker,
)
from frys.dsl.limits import DEFAULT_LIMITS, Limits
from frys.dsl.parser import garbage_collection_paused, parse


def compile_text(text: str, source_name: str = "<query>", *,
                 runnable: bool = True, limits: Limits = DEFAULT_LIMITS,
                 check_uri: UriChecker = any_uri) -> AnalyzedJob:
    """Parse and analyze .frysql text; raises FrysSyntaxError or FrysAnalysisError with every
    problem found. With `runnable` (the default) a job that uses constructs the runtime
    cannot execute yet raises NotSupportedYet; without it, they are listed in
    `job.not_supported` (what `frys check` reports) and the job is returned. `limits` bound
    what a job may ask for (dsl/limits.py: windows per event, repetitions). `check_uri`
    judges the `source` and `sink` URIs; the language knows no connectors, so by default
    every URI is taken: `frys.compile_text` passes the connector registry's checker."""
    with garbage_collection_paused():
        program = parse(text, source_name, limits)
        job = analyze(program, source_name, text, limits, check_uri=check_uri)
    if runnable and job.not_supported:
        raise NotSupportedYet(job.not_supported, source_name, text)
    return job


__all__ = [
    "AnalyzedJob",
    "AnalyzedQuery",
    "FrysAnalysisError",
    "FrysError",
    "FrysSyntaxError",
    "Limits",
    "NotSupportedYet",
    "StreamDef",
    "analyze",
    "compile_text",
    "parse",
]
