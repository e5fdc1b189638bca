"""Which operator runs which plan node: the one place that knows the operator kinds.

The runtime asks `build_operator(spec, settings)` and gets something that keeps the
operator contract (engine/operator.py); a new operator family, or a new window kind,
registers its plan node type here (tests/test_window_specs.py fails on a plan node type of
`OperatorSpec` without an entry).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from frys.engine.graph import (
    CountWindowSpec,
    FilterProjectSpec,
    HopSpec,
    IntervalJoinSpec,
    OperatorSpec,
    PatternMatchSpec,
    RunningAggregateSpec,
    SessionSpec,
    TableJoinSpec,
    TableScanSpec,
    TumbleSpec,
    WindowJoinSpec,
)
from frys.engine.operator import Operator, OperatorSettings

# per plan node type: the operator that runs it, as "module:class", imported the first time
# a job has such a node (a job without MATCH_RECOGNIZE never loads the pattern operator:
# start-up time, benchmarks/README.md "Start-up")
OPERATORS: dict[type, str] = {
    FilterProjectSpec: "frys.operators.stateless:FilterProject",
    RunningAggregateSpec: "frys.operators.window_aggregate:WindowAggregate",
    TumbleSpec: "frys.operators.window_aggregate:WindowAggregate",
    HopSpec: "frys.operators.window_aggregate:WindowAggregate",
    SessionSpec: "frys.operators.session_window:SessionWindowAggregate",
    CountWindowSpec: "frys.operators.count_window:CountWindowAggregate",
    PatternMatchSpec: "frys.operators.pattern.operator:PatternMatch",
    IntervalJoinSpec: "frys.operators.interval_join:IntervalJoin",
    WindowJoinSpec: "frys.operators.window_join:WindowJoin",
    TableJoinSpec: "frys.operators.table_join:TableJoin",
    TableScanSpec: "frys.operators.table_join:TableScan",
}


def operator_class(spec_type: type) -> Callable[[Any, OperatorSettings], Operator]:
    """The operator class that runs plan nodes of `spec_type`, imported on first use."""
    module, _, name = OPERATORS[spec_type].partition(":")
    operator: Callable[[Any, OperatorSettings], Operator] = getattr(
        importlib.import_module(module), name)
    return operator


def build_operator(spec: OperatorSpec, settings: OperatorSettings) -> Operator:
    """The operator for a plan node."""
    return operator_class(type(spec))(spec, settings)


def partition_keys(spec: OperatorSpec, inputs: tuple[str, ...]) -> list[list[Any]] | None:
    """Per input of a query, the polars expressions its rows are routed by when the query
    runs as several instances (operators/partitioning.py; the scale-out runtime)."""
    from frys.operators.partitioning import partition_keys as keys_of

    return keys_of(spec, inputs)
