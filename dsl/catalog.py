"""The streams an analysis knows: the built-in ones and those declared so far, with the rules
for reading from one (FROM) and writing to one (INSERT INTO, EMIT TIMEOUTS TO).

A stream is known once its CREATE STREAM has been seen; a stream without a column list gets
its schema from the first query that writes to it, so a FROM further down can read it.
"""

from __future__ import annotations

from frys.dsl import ast
from frys.dsl.analyzed import BUILT_IN_STREAMS, AnalyzedQuery, StreamDef
from frys.dsl.errors import Diagnostics, Span, did_you_mean
from frys.dsl.types import FrysType, assignable


class StreamCatalog:
    """The declared streams by name (`streams`, built-in ones included); problems go to
    `diagnostics`."""

    def __init__(self, diagnostics: Diagnostics) -> None:
        self.diagnostics = diagnostics
        self.streams: dict[str, StreamDef] = {
            name: StreamDef(name, dict(columns), built_in=True)
            for name, columns in BUILT_IN_STREAMS.items()
        }

    def declare(self, stream: StreamDef) -> None:
        self.streams[stream.name] = stream

    def readable(self, item: ast.FromStream) -> StreamDef | None:
        """The stream or table a FROM item names, with a known schema, or None (reported)."""
        source = self.streams.get(item.name)
        if source is None:
            self.diagnostics.error(
                f"unknown stream {item.name}{did_you_mean(item.name, self.streams)}",
                item.span)
            return None
        if source.columns is None:
            self.diagnostics.error(
                f"the schema of stream {source.name} is not known yet: put the query that "
                "writes to it before this one", item.span)
            return None
        return source

    def bind_target(self, query: AnalyzedQuery, target: str, span: Span,
                    declared: bool = False) -> None:
        """Give `target` the query's columns (a bare SELECT's own stream, or a stream
        declared without columns), or check that they fit the declared ones. `declared`:
        `target` is a declared stream the query also writes (EMIT TIMEOUTS TO), never the
        bare SELECT's own, even when the query is one."""
        error = self.diagnostics.error
        if query.is_bare_select and not declared:
            self.streams[target] = StreamDef(target, dict(query.output_types), span=span)
            return
        stream = self.streams.get(target)
        if stream is None:
            error(f"unknown stream {target}{did_you_mean(target, self.streams)}; "
                  f"declare it with CREATE STREAM {target} ...", span)
            return
        if stream.built_in:
            error(f"{target} is built in and cannot be written by a query", span)
            return
        if stream.columns is None:
            stream.columns = dict(query.output_types)
            self.check_event_time(stream, stream.span)
            return
        missing = [c for c in stream.columns if c not in query.output_types]
        extra = [c for c in query.output_types if c not in stream.columns]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if extra:
                parts.append(f"not in the stream: {', '.join(extra)}")
            error(f"the query's columns do not match stream {target} "
                  f"({'; '.join(parts)})", span)
            return
        for column, column_type in stream.columns.items():
            if not assignable(query.output_types[column], column_type):
                error(f"column {column} of stream {target} is {column_type}, but the "
                      f"query gives {query.output_types[column]}", span)

    def check_event_time(self, stream: StreamDef, span: Span) -> None:
        """The event-time column, once the stream's columns are known, is a TIMESTAMP
        column of the stream."""
        if stream.columns is None or stream.event_time is None:
            return
        column_type = stream.columns.get(stream.event_time)
        if column_type is None:
            self.diagnostics.error(
                f"event_time column {stream.event_time} is not a column of stream "
                f"{stream.name}{did_you_mean(stream.event_time, stream.columns)}", span)
        elif column_type != FrysType.TIMESTAMP:
            self.diagnostics.error(
                f"event_time column {stream.event_time} has type {column_type}; it must be "
                "TIMESTAMP", span)
