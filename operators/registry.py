"""Which operator runs which plan node: the one place that knows the operator kinds.

The runtime asks `build_operator(spec, settings)` and gets something that keeps the
operator contract (engine/operator.py); a new operator family registers its plan node type
here (and a window kind in WINDOW_OPERATORS).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from frys.engine.graph import (
    FilterProjectSpec,
    OperatorSpec,
    PatternMatchSpec,
    WindowAggregateSpec,
)
from frys.engine.operator import Operator, OperatorSettings
from frys.operators.count_window import CountWindowAggregate
from frys.operators.pattern.operator import PatternMatch
from frys.operators.session_window import SessionWindowAggregate
from frys.operators.stateless import FilterProject
from frys.operators.window_aggregate import WindowAggregate

# per window kind (WindowAggregateSpec.kind): the operator that runs it
WINDOW_OPERATORS: dict[str, Callable[[WindowAggregateSpec, OperatorSettings], Operator]] = {
    "running": WindowAggregate,
    "tumble": WindowAggregate,
    "hop": WindowAggregate,
    "session": SessionWindowAggregate,
    "rows": CountWindowAggregate,
}


def _window_operator(spec: WindowAggregateSpec, settings: OperatorSettings) -> Operator:
    return WINDOW_OPERATORS[spec.kind](spec, settings)


# per plan node type: the operator that runs it
OPERATORS: dict[type, Callable[[Any, OperatorSettings], Operator]] = {
    FilterProjectSpec: FilterProject,
    WindowAggregateSpec: _window_operator,
    PatternMatchSpec: PatternMatch,
}


def build_operator(spec: OperatorSpec, settings: OperatorSettings) -> Operator:
    """The operator for a plan node."""
    return OPERATORS[type(spec)](spec, settings)
