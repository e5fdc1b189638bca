"""What analysis produces: the job's streams and its queries with every name resolved and
every expression typed. The planner and the runtime read these; nothing here parses or checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from frys.dsl import ast
from frys.dsl.errors import Diagnostic, Span
from frys.dsl.types import FrysType

DEAD_LETTERS = "dead_letters"
DEAD_LETTER_COLUMNS: dict[str, FrysType] = {
    "stream": FrysType.STRING,
    "reason": FrysType.STRING,
    "position": FrysType.STRING,
    "raw": FrysType.STRING,
}
# the built-in stream of partial matches shed over a pattern limit (--max-partial-matches,
# --max-pattern-bytes-per-partition, --max-pattern-bytes): one row per partial match
OVERFLOW = "overflow"
OVERFLOW_COLUMNS: dict[str, FrysType] = {
    "query": FrysType.STRING,  # 'query N', as in the run summary
    "reason": FrysType.STRING,  # which limit shed it
    "partition_key": FrysType.STRING,  # its PARTITION BY key, as JSON
    "started_at": FrysType.TIMESTAMP,  # the event time of its first event
    "events": FrysType.STRING,  # JSON array of its events as 'stream:offset'
}
BUILT_IN_STREAMS = {DEAD_LETTERS: DEAD_LETTER_COLUMNS, OVERFLOW: OVERFLOW_COLUMNS}
WINDOW_COLUMNS = ("window_start", "window_end")
STREAM_OPTIONS = ("event_time", "watermark", "idle_timeout", "max_future", "time_unit", "source",
                  "sink")
# a table's options: with event_time it is versioned (joins pick the version valid at a
# stream row's time); without, joins read its current rows
TABLE_OPTIONS = ("source", "sink", "event_time", "watermark", "idle_timeout", "time_unit")
LATER_STREAM_OPTIONS = ("lateness", "late", "queue", "priority")
QUEUE_KINDS = ("fifo", "priority", "persistent")
# what an integer epoch time of a stream's input counts (the stream option time_unit)
TIME_UNITS = ("s", "ms", "us", "ns")
DEFAULT_TIME_UNIT = "ms"


@dataclass
class StreamDef:
    """A stream of the job: its schema (None while a query has yet to define it) and options."""

    name: str
    columns: dict[str, FrysType] | None
    event_time: str | None = None
    watermark_ms: int = 0
    # a producer silent this long stops holding the watermark back; None: it holds it forever
    idle_timeout_ms: int | None = None
    # an event more than this ahead of the watermark it arrives under is a dead letter
    # instead of moving the watermark; None: no limit
    max_future_ms: int | None = None
    # the unit of integer epoch times in the stream's input (TIME_UNITS); None: not given,
    # so milliseconds, and the decoder warns when the times look like seconds
    time_unit: str | None = None
    source: str | None = None
    sink: str | None = None
    span: Span = field(default_factory=lambda: Span(0, 0, 0, 0))
    built_in: bool = False
    # a table (CREATE TABLE): one row per `primary_key`, its input a changelog of upserts
    # (a row with every column but the key and the event time NULL deletes its key)
    is_table: bool = False
    primary_key: str | None = None
    lateness_ms: int = 0
    late: tuple[str, Span] | None = None  # the late stream, where it was named
    queue: str = "fifo"
    priority: tuple[str, Span] | None = None  # the ordering column, where it was named
    # where each WITH option was given (e.g. 'sink'), for errors found after analysis
    option_spans: dict[str, Span] = field(default_factory=dict)


@dataclass(frozen=True)
class AggregateCall:
    """One distinct aggregate of a query, computed into the hidden column `column`."""

    column: str
    function: str  # COUNT, SUM, ...
    argument: ast.Expr | None  # None for COUNT(*)
    distinct: bool
    result_type: FrysType
    argument_type: FrysType | None
    parameter: float | None = None  # PERCENTILE's fraction

    @property
    def key(self) -> tuple[object, ...]:
        """What makes two aggregate calls the same computation."""
        return (self.function, self.argument, self.distinct, self.parameter)

    @staticmethod
    def parameter_of(call: ast.FunctionCall) -> float | None:
        second = call.args[1] if len(call.args) > 1 else None
        if isinstance(second, ast.Literal) and isinstance(second.value, int | float):
            return float(second.value)
        return None

    @staticmethod
    def key_of(call: ast.FunctionCall) -> tuple[object, ...]:
        """The key of the aggregate a call in the query text stands for."""
        argument = None if call.star else call.args[0]
        return (call.name, argument, call.distinct, AggregateCall.parameter_of(call))


@dataclass(frozen=True)
class Window:
    """A window of GROUP BY: TUMBLE(size), HOP(size, slide), SESSION(gap) (gap in
    `size_ms`), ROWS(n) or ROWS(n, slide) (counts in `rows`, `rows_slide`)."""

    kind: str  # 'TUMBLE' | 'HOP' | 'SESSION' | 'ROWS'
    span: Span = field(compare=False)
    size_ms: int = 0
    slide_ms: int = 0
    rows: int = 0
    rows_slide: int = 0


@dataclass
class AnalyzedQuery:
    """A continuous query with every name resolved and every expression typed.

    Every expression node carries its type (`ast.Expr.type`). `outputs` are (column name,
    expression) in SELECT order. In an aggregating query the
    expressions may use group keys, the calls listed in `aggregates` (each computed once,
    however often it is written) and `window_start`/`window_end`.
    """

    index: int
    statement: ast.Select
    input_stream: str
    output_stream: str
    outputs: list[tuple[str, ast.Expr]]
    output_types: dict[str, FrysType]
    where: ast.Expr | None = None
    group_keys: list[tuple[str, ast.Expr]] = field(default_factory=list)
    window: Window | None = None
    aggregates: list[AggregateCall] = field(default_factory=list)
    having: ast.Expr | None = None
    is_bare_select: bool = False

    @property
    def is_aggregate(self) -> bool:
        return self.window is not None


@dataclass
class AnalyzedJob:
    """The result of analysis: every stream and every query of a .frysql text."""

    streams: dict[str, StreamDef]
    queries: list[AnalyzedQuery]
    source_name: str = "<query>"
    source_text: str = ""
    warnings: list[Diagnostic] = field(default_factory=list)
    # valid constructs the runtime cannot execute yet; a job with any is checked, not run
    not_supported: list[Diagnostic] = field(default_factory=list)
