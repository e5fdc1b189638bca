"""`frys.explain`: a job at one stage of compilation, as a string (so golden tests are easy).

Stages:

* `ast` — the parsed and checked job printed back as canonical .frysql (it parses to an
  equal tree);
* `logical` — each query's logical plan as the analyzer's clauses make it;
* `optimized` — the same after the optimizer rules (dsl/optimizer, in RULES order);
* `physical` — the operator graph the runtime instantiates (runnable jobs only).

Formats: `text` for every stage; `mermaid` and `dot` for the plan stages.
"""

from __future__ import annotations

from frys.dsl.plan_render import FORMATS

STAGES = ("ast", "logical", "optimized", "physical")


def explain(text: str, source_name: str = "<query>", stage: str = "physical",
            fmt: str = "text") -> str:
    """The job at `stage` in format `fmt`; raises FrysError for an invalid job, and at the
    physical stage NotSupportedYet for a job the runtime cannot run yet."""
    # the planner is imported here, not with the module: the command line lists STAGES in
    # its help, and `frys check` needs no planner
    from frys.compiler import compile_text
    from frys.dsl import parse
    from frys.dsl.logical import render
    from frys.dsl.printer import program_to_sql
    from frys.engine.planner import logical_plans, plan

    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    if stage == "ast":
        if fmt != "text":
            raise ValueError("the ast stage is .frysql text; use --format text")
        compile_text(text, source_name, runnable=False)
        return program_to_sql(parse(text, source_name))
    if stage == "physical":
        graph = plan(compile_text(text, source_name))
        return graph.explain() + "\n" if fmt == "text" else graph.render(fmt)
    job = compile_text(text, source_name, runnable=False)
    plans = [(f"query {query.index + 1} ({source_name}:{query.statement.span.line})", logical)
             for query, logical in logical_plans(job, optimized=stage == "optimized")]
    return render(plans, fmt)
