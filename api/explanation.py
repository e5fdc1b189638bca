"""`frys.explain`: a job at one stage of compilation, as a string (so golden tests are easy).

Stages: `ast` prints the parsed and checked job back as canonical .frysql (it parses to an
equal tree); `physical` prints the operator graph the runtime instantiates. The physical
stage needs a runnable job; `ast` works for every valid job.
"""

from __future__ import annotations

from frys.dsl import compile_text, parse
from frys.dsl.planner import plan
from frys.dsl.printer import program_to_sql

STAGES = ("ast", "physical")


def explain(text: str, source_name: str = "<query>", stage: str = "physical") -> str:
    """The job at `stage`; raises FrysError for an invalid job (or, at the physical stage,
    NotSupportedYet for one the runtime cannot run yet)."""
    if stage == "ast":
        compile_text(text, source_name, runnable=False)
        return program_to_sql(parse(text, source_name))
    if stage == "physical":
        return plan(compile_text(text, source_name)).explain()
    raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
