"""The optimizer: an ordered list of rules, each a pure function from a logical plan (and
the job's streams) to an equivalent logical plan, in a module of its own with a runnable
example in its docstring.

Order matters: folding first (so pushdown sees simplified predicates), pruning last (so it
counts the columns of the final plan).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from frys.dsl.analyzed import StreamDef
from frys.dsl.logical import Output
from frys.dsl.optimizer.constant_folding import constant_folding
from frys.dsl.optimizer.predicate_pushdown import predicate_pushdown
from frys.dsl.optimizer.projection_pruning import projection_pruning

Rule = Callable[[Output, Mapping[str, StreamDef]], Output]

RULES: tuple[tuple[str, Rule], ...] = (
    ("constant_folding", lambda plan, streams: constant_folding(plan)),
    ("predicate_pushdown", lambda plan, streams: predicate_pushdown(plan)),
    ("projection_pruning", projection_pruning),
)


def optimize(plan: Output, streams: Mapping[str, StreamDef],
             disabled: frozenset[str] = frozenset()) -> Output:
    """Apply every rule in RULES order, except those named in `disabled`."""
    for name, rule in RULES:
        if name not in disabled:
            plan = rule(plan, streams)
    return plan
