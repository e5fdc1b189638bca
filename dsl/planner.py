"""Analyzed job -> physical plan (engine.graph.JobGraph).

Each query becomes one operator chain from its input topic to its output topic: a stateless
FilterProject, or a TumblingAggregate that filters, windows, aggregates, applies HAVING and
projects. Logical plans and optimizer rules slot in between analysis and this step (issue 3).
"""

from __future__ import annotations

from frys.dsl.analyzed import AnalyzedJob
from frys.engine.graph import (
    ConnectorNode,
    FilterProjectSpec,
    JobGraph,
    OperatorSpec,
    QueryNode,
    TumblingAggregateSpec,
)


def plan(job: AnalyzedJob) -> JobGraph:
    """The operator graph of an analyzed job."""
    graph = JobGraph(topics=dict(job.streams), source_name=job.source_name)
    for stream in job.streams.values():
        if stream.source:
            graph.sources.append(ConnectorNode(stream.source, stream.name))
        if stream.sink:
            graph.sinks.append(ConnectorNode(stream.sink, stream.name))
    for query in job.queries:
        operator: OperatorSpec
        if query.window is not None:
            # compile_text(runnable=True) has refused every other window kind
            assert query.window.kind == "TUMBLE", query.window
            event_time = job.streams[query.input_stream].event_time
            assert event_time is not None, "the analyzer requires event_time for windows"
            operator = TumblingAggregateSpec(
                query.where, query.window.size_ms, event_time, query.group_keys,
                query.aggregates, query.having, query.outputs, query.output_types, query.types)
        else:
            operator = FilterProjectSpec(query.where, query.outputs, query.output_types,
                                         query.types)
        graph.queries.append(QueryNode(query.index, query.input_stream, query.output_stream,
                                       operator, query.is_bare_select, query))
    return graph
