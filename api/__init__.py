"""frys: a complex event processing engine. Write .frysql queries; run them from the
`frys` command line or embed them with `Pipeline`.

The package maps the repository's folders into one namespace: `frys.dsl` (language),
`frys.engine` (graph, runtime, time), `frys.operators`, `frys.connectors` (bus, files).
"""

__version__ = "0.1.0"

from frys.dsl import FrysError, compile_text
from frys.engine.runtime import RuntimeOptions
from frys.explanation import explain
from frys.pipeline import Pipeline

__all__ = ["FrysError", "Pipeline", "RuntimeOptions", "__version__", "compile_text", "explain"]
