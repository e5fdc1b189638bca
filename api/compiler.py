"""Compiling a job to run it: the language with the connectors its streams may name.

The language (frys.dsl) knows no connectors: dsl/ depends on nothing else in frys. This is
where the two meet: `compile_text` is frys.dsl.compile_text with the connector registry
(connectors/registry.py) judging every `source` and `sink` URI: an unknown scheme is an
error with a did-you-mean, a planned one (kafka:) is "not supported yet", and a
built-in scheme checks its own URIs (a WAL's options, a bus topic's name, a file's format).
It also refuses a job whose streams feed themselves in a loop through the job's bus (a
`bus:` sink naming one of its own streams: dsl/stream_graph.py). The command line, the
Pipeline API and `frys.explain` compile through it.
"""

from __future__ import annotations

from frys.connectors.registry import check_uri
from frys.connectors.uris import bus_feeds
from frys.dsl import AnalyzedJob, FrysAnalysisError
from frys.dsl import compile_text as compile_language
from frys.dsl.limits import DEFAULT_LIMITS, Limits
from frys.dsl.stream_graph import language_feeds, loop_diagnostic, loop_of


def compile_text(text: str, source_name: str = "<query>", *, runnable: bool = True,
                 limits: Limits = DEFAULT_LIMITS) -> AnalyzedJob:
    """Parse and analyze .frysql text, its connector URIs checked by the registry; raises
    FrysSyntaxError or FrysAnalysisError with every problem found (a loop through the bus
    too), and with `runnable` (the default) NotSupportedYet for constructs or connectors
    the runtime cannot run yet."""
    job = compile_language(text, source_name, runnable=runnable, limits=limits,
                           check_uri=check_uri)
    loop = loop_of([*language_feeds(job.streams, job.queries), *bus_feeds(job.streams)])
    if loop is not None:
        raise FrysAnalysisError([loop_diagnostic(loop)], source_name, text)
    return job
