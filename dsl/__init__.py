"""The .frysql front end: grammar (frysql.lark), parser, typed AST, analyzer and planner.

`compile_text` is the one entry point the runtime and the CLI use: text in, an analyzed job
out, or a FrysError that names file, line and column of every problem.
"""

from __future__ import annotations

from frys.dsl.analyzed import AnalyzedJob, AnalyzedQuery, StreamDef
from frys.dsl.analyzer import analyze
from frys.dsl.errors import FrysAnalysisError, FrysError, FrysSyntaxError, NotSupportedYet
from frys.dsl.limits import DEFAULT_LIMITS, Limits
from frys.dsl.parser import garbage_collection_paused, parse


def compile_text(text: str, source_name: str = "<query>", *,
                 runnable: bool = True, limits: Limits = DEFAULT_LIMITS) -> AnalyzedJob:
    """Parse and analyze .frysql text; raises FrysSyntaxError or FrysAnalysisError with every
    problem found. With `runnable` (the default) a job that uses constructs the runtime
    cannot execute yet raises NotSupportedYet; without it, they are listed in
    `job.not_supported` (what `frys check` reports) and the job is returned. `limits` bound
    what a job may ask for (dsl/limits.py: windows per event, repetitions)."""
    with garbage_collection_paused():
        program = parse(text, source_name, limits)
        job = analyze(program, source_name, text, limits)
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
