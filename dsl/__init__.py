"""The .frysql front end: grammar (frysql.lark), parser, typed AST, analyzer and planner.

`compile_text` is the one entry point the runtime and the CLI use: text in, an analyzed job
out, or a FrysError that names file, line and column of every problem.
"""

from __future__ import annotations

from frys.dsl.analyzed import AnalyzedJob, AnalyzedQuery, StreamDef
from frys.dsl.analyzer import analyze
from frys.dsl.errors import FrysAnalysisError, FrysError, FrysSyntaxError, NotSupportedYet
from frys.dsl.parser import parse


def compile_text(text: str, source_name: str = "<query>") -> AnalyzedJob:
    """Parse and analyze .frysql text; raises FrysError (syntax, analysis, not supported)."""
    program = parse(text, source_name)
    return analyze(program, source_name, text)


__all__ = [
    "AnalyzedJob",
    "AnalyzedQuery",
    "FrysAnalysisError",
    "FrysError",
    "FrysSyntaxError",
    "NotSupportedYet",
    "StreamDef",
    "analyze",
    "compile_text",
    "parse",
]
