"""Which operator runs which plan node: the one place that knows the operator kinds.

The runtime asks `build_operator(spec, settings)` and gets something that keeps the
operator contract (engine/operator.py); a new operator family, or a new window kind,
registers its plan node type here (tests/test_window_specs.py fails on a plan node type of
`OperatorSpec` without an entry).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from frys.engine.graph import (
    CountWindowSpec,
    FilterProjectSpec,
    HopSpec,
    OperatorSpec,
    PatternMatchSpec,
    RunningAggregateSpec,
    SessionSpec,
    TumbleSpec,
)
from frys.engine.operator import Operator, OperatorSettings
from frys.operators.count_window import CountWindowAggregate
from frys.operators.pattern.operator import PatternMatch
from frys.operators.session_window import SessionWindowAggregate
from frys.operators.stateless import FilterProject
from frys.operators.window_aggregate import WindowAggregate

# per plan node type: the operator that runs it
OPERATORS: dict[type, Callable[[Any, OperatorSettings], Operator]] = {
    FilterProjectSpec: FilterProject,
    RunningAggregateSpec: WindowAggregate,
    TumbleSpec: WindowAggregate,
    HopSpec: WindowAggregate,
    SessionSpec: SessionWindowAggregate,
    CountWindowSpec: CountWindowAggregate,
    PatternMatchSpec: PatternMatch,
}


def build_operator(spec: OperatorSpec, settings: OperatorSettings) -> Operator:
    """The operator for a plan node."""
    return OPERATORS[type(spec)](spec, settings)
