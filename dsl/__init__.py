"""The .frysql front end: grammar (frysql.lark), parser, typed AST, analyzer and planner.

`compile_text` is the one entry point: text in, an analyzed job out, or a FrysError that
names file, line and column of every problem. The language knows no connectors; the command
line and the API compile through `frys.compile_text` (api/compiler.py), which adds the
connector registry's checks of `source` and `sink` URIs.
"""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING

from frys.dsl.errors import (
    FrysAnalysisError,
    FrysError,
    FrysSyntaxError,
    NotSupportedYet,
    UriChecker,
)
from frys.dsl.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from frys.dsl.analyzed import AnalyzedJob, AnalyzedQuery, StreamDef
    from frys.dsl.analyzer import analyze
    from frys.dsl.parser import parse

# the names imported on first use (PEP 562), with the module that defines each: the
# errors and limits above are all that the command line needs before it runs a command,
# and the parser (lark, the grammar) and the analyzer are most of the front end's import
# time; a `-p` launcher starts its processes before it loads them
_HOMES = {
    "AnalyzedJob": "frys.dsl.analyzed",
    "AnalyzedQuery": "frys.dsl.analyzed",
    "StreamDef": "frys.dsl.analyzed",
    "analyze": "frys.dsl.analyzer",
    "parse": "frys.dsl.parser",
}


def __getattr__(name: str) -> object:
    """A lazy name (see _HOMES), imported from its module on first use, then kept here."""
    if name not in _HOMES:
        raise AttributeError(f"module 'frys.dsl' has no attribute {name!r}")
    value = getattr(_importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def compile_text(text: str, source_name: str = "<query>", *,
                 runnable: bool = True, limits: Limits = DEFAULT_LIMITS,
                 check_uri: UriChecker | None = None) -> AnalyzedJob:
    """Parse and analyze .frysql text; raises FrysSyntaxError or FrysAnalysisError with every
    problem found. With `runnable` (the default) a job that uses constructs the runtime
    cannot execute yet raises NotSupportedYet; without it, they are listed in
    `job.not_supported` (what `frys check` reports) and the job is returned. `limits` bound
    what a job may ask for (dsl/limits.py: windows per event, repetitions). `check_uri`
    judges the `source` and `sink` URIs; the language knows no connectors, so by default
    (None) every URI is taken: `frys.compile_text` passes the connector registry's checker."""
    from frys.dsl.analyzer import analyze, any_uri
    from frys.dsl.parser import garbage_collection_paused, parse

    with garbage_collection_paused():
        program = parse(text, source_name, limits)
        job = analyze(program, source_name, text, limits, check_uri=check_uri or any_uri)
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
