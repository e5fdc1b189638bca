"""frys: a complex event processing engine. Write .frysql queries; run them from the
`frys` command line or embed them with `Pipeline`.

The package maps the repository's folders into one namespace: `frys.dsl` (language),
`frys.engine` (graph, runtime, time), `frys.operators`, `frys.connectors` (bus, WAL, files).
`Broker` is the event bus on its own: topics, wildcard subscriptions, consumer groups,
priority and persistent topics, request-reply.

The names below are imported on first use (PEP 562), not by `import frys`: every command of
the `frys` command line imports this package first, and a job run from a file needs neither
the Python API (`Pipeline`) nor the bus's `Broker`. `frys.dsl`, `frys.engine`, ... are
loaded on first use the same way.
"""

from __future__ import annotations

import importlib as _importlib
import os as _os
import sys as _sys
from typing import TYPE_CHECKING

# frys runs a few small polars queries per micro-batch; polars' default engine choice
# ("auto") sends lazy queries to the streaming engine, whose start-up costs more than such
# a query's work (measured: W2 p99 emission latency 9.5 -> 5.4 ms, throughput +30%). The
# in-memory engine is set unless the embedding program chose one itself: through the
# environment variable polars reads, so that `import frys` does not import polars (the
# launcher of a `-p` cluster starts its processes before it loads anything heavy), or
# through polars' Config when the program has imported polars already.
if "POLARS_ENGINE_AFFINITY" not in _os.environ:
    if "polars" in _sys.modules:
        _sys.modules["polars"].Config.set_engine_affinity("in-memory")
    else:
        _os.environ["POLARS_ENGINE_AFFINITY"] = "in-memory"

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from frys.compiler import compile_text
    from frys.connectors.broker import Broker
    from frys.connectors.wal import FsyncPolicy
    from frys.dsl import FrysError
    from frys.engine.runtime import RuntimeOptions
    from frys.explanation import explain
    from frys.pipeline import Pipeline

__all__ = ["Broker", "FrysError", "FsyncPolicy", "Pipeline", "RuntimeOptions", "__version__",
           "compile_text", "explain"]

# each public name and the module that defines it
_HOMES = {
    "Broker": "frys.connectors.broker",
    "FsyncPolicy": "frys.connectors.wal",
    "FrysError": "frys.dsl",
    "compile_text": "frys.compiler",
    "RuntimeOptions": "frys.engine.runtime",
    "explain": "frys.explanation",
    "Pipeline": "frys.pipeline",
}

# the subpackages and modules reachable as attributes after a bare `import frys`
# (`frys.dsl.compile_text`), as they were when this module imported them all
_SUBMODULES = frozenset({"dsl", "engine", "operators", "connectors", "pipeline", "compiler",
                         "explanation"})


def __getattr__(name: str) -> object:
    """A public name (or a subpackage) imported from its home on first use, then kept here;
    `frys.__version__`: the installed distribution's (pyproject.toml is the one place it is
    kept), looked up on each use: importlib.metadata costs ~35 ms of start-up."""
    if name == "__version__":
        return _installed_version()
    if name in _HOMES:
        value = getattr(_importlib.import_module(_HOMES[name]), name)
    elif name in _SUBMODULES:
        value = _importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module 'frys' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)


def _installed_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("frys")
    except importlib.metadata.PackageNotFoundError:  # a source tree that is not installed
        return "0+unknown"
