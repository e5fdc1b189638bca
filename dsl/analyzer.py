"""Names, types and semantic rules: a parsed Program -> an AnalyzedJob, or every error found.

The analyzer walks the statements in order (a stream must be declared before a query uses
it; a stream whose schema comes from a query is known once that query has been seen). It
collects all errors of a file it can find, each with its span, and raises them together as
one FrysAnalysisError. Constructs that are valid .frysql but not executable yet raise
NotSupportedYet naming the construct and its position.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from frys.dsl import ast
from frys.dsl.errors import (
    Diagnostic,
    FrysAnalysisError,
    NotSupportedYet,
    Span,
    did_you_mean,
)
from frys.dsl.types import (
    AGGREGATE_FUNCTIONS,
    LATER_AGGREGATES,
    LATER_WINDOWS,
    SCALAR_FUNCTIONS,
    TYPE_NAMES,
    WINDOW_FUNCTIONS,
    FrysType,
    assignable,
    unify,
)

DEAD_LETTERS = "dead_letters"
DEAD_LETTER_COLUMNS: dict[str, FrysType] = {
    "stream": FrysType.STRING,
    "reason": FrysType.STRING,
    "position": FrysType.STRING,
    "raw": FrysType.STRING,
}
WINDOW_COLUMNS = ("window_start", "window_end")
STREAM_OPTIONS = ("event_time", "watermark", "source", "sink")
LATER_STREAM_OPTIONS = ("lateness", "late", "queue", "priority")


@dataclass
class StreamDef:
    """A stream of the job: its schema (None while a query has yet to define it) and options."""

    name: str
    columns: dict[str, FrysType] | None
    event_time: str | None = None
    watermark_ms: int = 0
    source: str | None = None
    sink: str | None = None
    span: Span = field(default_factory=lambda: Span(0, 0, 0, 0))
    built_in: bool = False


@dataclass(frozen=True)
class AggregateCall:
    """One distinct aggregate of a query, computed into the hidden column `column`."""

    column: str
    function: str  # COUNT, SUM, ...
    argument: ast.Expr | None  # None for COUNT(*)
    distinct: bool
    result_type: FrysType
    argument_type: FrysType | None


@dataclass(frozen=True)
class TumblingWindow:
    size_ms: int
    span: Span


@dataclass
class AnalyzedQuery:
    """A continuous query with every name resolved and every expression typed.

    `outputs` are (column name, expression) in SELECT order. In an aggregating query the
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
    window: TumblingWindow | None = None
    aggregates: list[AggregateCall] = field(default_factory=list)
    having: ast.Expr | None = None
    is_bare_select: bool = False
    # the type of every typed expression node of the query, by id(node); the AST nodes are
    # kept alive by `statement`, so identities stay valid
    types: dict[int, FrysType] = field(default_factory=dict)

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


class _Scope:
    """The columns a query's expressions may name: one input stream, maybe under an alias."""

    def __init__(self, stream: StreamDef, alias: str | None, windowed: bool) -> None:
        self.stream = stream
        self.qualifiers = {stream.name} | ({alias} if alias else set())
        self.windowed = windowed


class Analyzer:
    """Analyzes one Program. Use `analyze()`; it raises or returns an AnalyzedJob."""

    def __init__(self, program: ast.Program, source_name: str, source_text: str) -> None:
        self.program = program
        self.source_name = source_name
        self.source_text = source_text
        self.errors: list[Diagnostic] = []
        self.not_supported: list[Diagnostic] = []
        self.streams: dict[str, StreamDef] = {
            DEAD_LETTERS: StreamDef(DEAD_LETTERS, dict(DEAD_LETTER_COLUMNS), built_in=True)
        }
        self.queries: list[AnalyzedQuery] = []
        self.types: dict[int, FrysType] = {}

    # ------------------------------------------------------------------ driver

    def analyze(self) -> AnalyzedJob:
        bare_selects = 0
        for statement in self.program.statements:
            if isinstance(statement, ast.CreateStream):
                self._create_stream(statement)
            elif isinstance(statement, ast.CreateTable):
                self._later("CREATE TABLE", statement.span)
            elif isinstance(statement, ast.InsertInto):
                self._query(statement.query, statement.target, statement.target_span, False)
            else:
                bare_selects += 1
                self._query(statement, f"select_{bare_selects}", statement.span, True)
        for stream in self.streams.values():
            if stream.columns is None:
                self._error(f"stream {stream.name} has no columns and no query writes to it; "
                            "declare its columns or INSERT INTO it", stream.span)
        def in_text_order(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
            return sorted(diagnostics, key=lambda d: (d.span.line, d.span.column))

        if self.errors:
            raise FrysAnalysisError(in_text_order(self.errors), self.source_name,
                                    self.source_text)
        if self.not_supported:
            raise NotSupportedYet(in_text_order(self.not_supported), self.source_name,
                                  self.source_text)
        return AnalyzedJob(self.streams, self.queries, self.source_name, self.source_text)

    def _error(self, message: str, span: Span) -> None:
        self.errors.append(Diagnostic(message, span))

    def _later(self, construct: str, span: Span) -> None:
        self.not_supported.append(Diagnostic(
            f"not supported yet: {construct} at {span.line}:{span.column}", span))

    # ------------------------------------------------------------------ CREATE STREAM

    def _create_stream(self, statement: ast.CreateStream) -> None:
        name = statement.name
        if name == DEAD_LETTERS:
            self._declare_dead_letters(statement)
            return
        if name in self.streams:
            self._error(f"stream {name} is already declared", statement.span)
            return
        if name.startswith("select_") and name[7:].isdigit():
            self._error(f"stream name {name} is reserved for the output of bare SELECT "
                        "statements", statement.span)
        columns: dict[str, FrysType] | None = None
        if statement.columns is not None:
            columns = {}
            for column in statement.columns:
                column_type = TYPE_NAMES.get(column.type_name)
                if column_type is None:
                    self._error(f"unknown type {column.type_name} for column {column.name}"
                                f"{did_you_mean(column.type_name, TYPE_NAMES)}", column.span)
                    continue
                if column.name in columns:
                    self._error(f"column {column.name} is declared twice", column.span)
                columns[column.name] = column_type
        stream = StreamDef(name, columns, span=statement.span)
        self._apply_options(stream, statement.options)
        if stream.source is not None and columns is None:
            self._error(f"stream {name} has a source, so it needs a column list",
                        statement.span)
        self.streams[name] = stream

    def _declare_dead_letters(self, statement: ast.CreateStream) -> None:
        stream = self.streams[DEAD_LETTERS]
        if statement.columns is not None:
            self._error("dead_letters is built in; declare it without columns, only to give "
                        "it a sink", statement.span)
        for option in statement.options:
            if option.name != "sink":
                self._error("dead_letters is built in; only its sink can be set", option.span)
        self._apply_options(stream, tuple(o for o in statement.options if o.name == "sink"))
        stream.span = statement.span

    def _apply_options(self, stream: StreamDef, options: tuple[ast.WithOption, ...]) -> None:
        seen: set[str] = set()
        for option in options:
            if option.name in seen:
                self._error(f"option {option.name} is given twice", option.span)
            seen.add(option.name)
            if option.name in LATER_STREAM_OPTIONS:
                self._later(f"stream option {option.name}", option.span)
            elif option.name == "event_time":
                if option.kind != ast.OptionKind.NAME:
                    self._error("event_time must name a column, e.g. event_time = ts",
                                option.span)
                else:
                    stream.event_time = str(option.value)
                    self._check_event_time(stream, option.span)
            elif option.name == "watermark":
                if option.kind != ast.OptionKind.INTERVAL:
                    self._error("watermark must be an interval, e.g. watermark = 2 SECONDS",
                                option.span)
                else:
                    stream.watermark_ms = int(option.value)
            elif option.name in ("source", "sink"):
                if option.kind != ast.OptionKind.STRING:
                    self._error(f"{option.name} must be a quoted connector URI, e.g. "
                                f"{option.name} = 'file:data/events.jsonl'", option.span)
                else:
                    self._check_uri(option)
                    setattr(stream, option.name, str(option.value))
            else:
                known = STREAM_OPTIONS + LATER_STREAM_OPTIONS
                self._error(f"unknown stream option {option.name}"
                            f"{did_you_mean(option.name, known)}", option.span)

    def _check_uri(self, option: ast.WithOption) -> None:
        uri = str(option.value)
        scheme = uri.split(":", 1)[0] if ":" in uri else ""
        if scheme == "file":
            path = uri[len("file:"):]
            if not path.endswith(".jsonl"):
                self._later(f"file format of {path!r} (only .jsonl files so far)", option.span)
        elif scheme in ("wal", "bus", "redis", "nats", "amqp", "mqtt", "kafka"):
            self._later(f"connector {scheme}:", option.span)
        else:
            self._error(f"unknown connector URI {uri!r}; expected e.g. 'file:data/x.jsonl'",
                        option.span)

    def _check_event_time(self, stream: StreamDef, span: Span) -> None:
        if stream.columns is None or stream.event_time is None:
            return
        column_type = stream.columns.get(stream.event_time)
        if column_type is None:
            self._error(f"event_time column {stream.event_time} is not a column of stream "
                        f"{stream.name}{did_you_mean(stream.event_time, stream.columns)}", span)
        elif column_type != FrysType.TIMESTAMP:
            self._error(f"event_time column {stream.event_time} has type {column_type}; "
                        "it must be TIMESTAMP", span)

    # ------------------------------------------------------------------ queries

    def _query(self, select: ast.Select, target: str, target_span: Span, bare: bool) -> None:
        if select.match is not None:
            self._later("PATTERN", select.match.span)
            return
        if select.more_sources:
            self._error("FROM with several streams needs a PATTERN; to correlate two streams "
                        "use JOIN ... ON ... WITHIN", select.more_sources[0].span)
            return
        if select.joins:
            self._later("JOIN", select.joins[0].span)
            return
        if select.emit == "EVERY":
            self._later("EMIT EVERY", select.span)
        source = self.streams.get(select.source.name)
        if source is None:
            self._error(f"unknown stream {select.source.name}"
                        f"{did_you_mean(select.source.name, self.streams)}", select.source.span)
            return
        if source.columns is None:
            self._error(f"the schema of stream {source.name} is not known yet: put the query "
                        "that writes to it before this one", select.source.span)
            return
        query = AnalyzedQuery(len(self.queries), select, source.name, target, [], {},
                              is_bare_select=bare, types=self.types)
        errors_before = len(self.errors) + len(self.not_supported)
        self._group_by(query, source)
        scope = _Scope(source, select.source.alias, query.window is not None)
        if select.where is not None:
            where_type = self._type(select.where, scope, allow_aggregates=False)
            self._expect_bool(where_type, select.where, "WHERE")
            query.where = select.where
        if select.emit == "CHANGES":
            self._later("EMIT CHANGES", select.span)
        elif select.emit == "FINAL" and query.window is None:
            self._error("EMIT FINAL needs a window in GROUP BY", select.span)
        if select.having is not None:
            if not select.group_by:
                self._error("HAVING needs GROUP BY", select.having.span)
            else:
                having_type = self._type(select.having, scope, allow_aggregates=True, query=query)
                self._expect_bool(having_type, select.having, "HAVING")
                self._check_grouped(select.having, query, scope)
                query.having = select.having
        self._outputs(query, scope)
        if len(self.errors) + len(self.not_supported) > errors_before:
            return
        self._bind_target(query, target, target_span)
        self.queries.append(query)

    def _group_by(self, query: AnalyzedQuery, source: StreamDef) -> None:
        select = query.statement
        scope = _Scope(source, select.source.alias, windowed=False)
        for index, expr in enumerate(select.group_by):
            if isinstance(expr, ast.FunctionCall) and expr.name in LATER_WINDOWS:
                self._later(f"{expr.name} window", expr.span)
                query.window = TumblingWindow(1, expr.span)  # keeps analysis of the rest going
            elif isinstance(expr, ast.FunctionCall) and expr.name in WINDOW_FUNCTIONS:
                if query.window is not None:
                    self._error("only one window per GROUP BY", expr.span)
                size = expr.args[0] if len(expr.args) == 1 else None
                if not isinstance(size, ast.IntervalLiteral) or size.millis <= 0:
                    self._error("TUMBLE takes one positive interval, e.g. TUMBLE(1 MINUTE)",
                                expr.span)
                    query.window = TumblingWindow(1, expr.span)
                    continue
                if source.event_time is None:
                    self._error(f"stream {source.name} has no event_time, so it cannot be "
                                "windowed; declare WITH (event_time = <TIMESTAMP column>)",
                                expr.span)
                query.window = TumblingWindow(size.millis, expr.span)
            else:
                self._type(expr, scope, allow_aggregates=False)
                name = expr.name if isinstance(expr, ast.ColumnRef) else f"__key{index}"
                query.group_keys.append((name, expr))
        if select.group_by and query.window is None:
            self._later("GROUP BY without a window (a running aggregate, EMIT CHANGES)",
                        select.group_by[0].span)
        elif not select.group_by:
            aggregates = [e for item in select.items if item.expr is not None
                          for e in _walk(item.expr) if _is_aggregate(e)]
            if aggregates:
                self._later("an aggregate without GROUP BY (a running aggregate)",
                            aggregates[0].span)

    def _outputs(self, query: AnalyzedQuery, scope: _Scope) -> None:
        names: dict[str, Span] = {}
        for position, item in enumerate(query.statement.items, start=1):
            if item.expr is None:
                if query.statement.group_by:
                    self._error("SELECT * cannot be used with GROUP BY", item.span)
                    continue
                for column, column_type in (scope.stream.columns or {}).items():
                    query.outputs.append((column, ast.ColumnRef(column, span=item.span)))
                    query.output_types[column] = column_type
                    names[column] = item.span
                continue
            grouped = bool(query.statement.group_by)
            expr_type = self._type(item.expr, scope, allow_aggregates=grouped, query=query)
            if grouped:
                self._check_grouped(item.expr, query, scope)
            name = item.alias or _default_name(item.expr, position)
            if name in names:
                self._error(f"output column {name} appears twice; name one with AS", item.span)
            names[name] = item.span
            query.outputs.append((name, item.expr))
            if expr_type == FrysType.INTERVAL:
                self._error("an interval cannot be an output column", item.expr.span)
            query.output_types[name] = expr_type

    def _bind_target(self, query: AnalyzedQuery, target: str, span: Span) -> None:
        if query.is_bare_select:
            self.streams[target] = StreamDef(target, dict(query.output_types), span=span)
            return
        stream = self.streams.get(target)
        if stream is None:
            self._error(f"unknown stream {target}{did_you_mean(target, self.streams)}; "
                        f"declare it with CREATE STREAM {target} ...", span)
            return
        if stream.built_in:
            self._error(f"{target} is built in and cannot be written by a query", span)
            return
        if stream.columns is None:
            stream.columns = dict(query.output_types)
            self._check_event_time(stream, stream.span)
            return
        missing = [c for c in stream.columns if c not in query.output_types]
        extra = [c for c in query.output_types if c not in stream.columns]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if extra:
                parts.append(f"not in the stream: {', '.join(extra)}")
            self._error(f"the query's columns do not match stream {target} "
                        f"({'; '.join(parts)})", span)
            return
        for column, column_type in stream.columns.items():
            if not assignable(query.output_types[column], column_type):
                self._error(f"column {column} of stream {target} is {column_type}, but the "
                            f"query gives {query.output_types[column]}", span)

    # ------------------------------------------------------------------ typing

    def _expect_bool(self, found: FrysType | None, expr: ast.Expr, clause: str) -> None:
        if found is not None and found not in (FrysType.BOOL, FrysType.NULL):
            self._error(f"{clause} needs a BOOL condition, got {found}", expr.span)

    def _check_grouped(self, expr: ast.Expr, query: AnalyzedQuery, scope: _Scope) -> None:
        """Column references outside aggregates must be group keys or window bounds."""
        key_exprs = [key for _, key in query.group_keys]
        if expr in key_exprs or _is_aggregate(expr):
            return
        if isinstance(expr, ast.ColumnRef):
            if expr.name in WINDOW_COLUMNS and expr.qualifier is None and scope.windowed:
                return
            if expr.name not in (scope.stream.columns or {}):
                return  # unknown; typing has already reported it
            self._error(f"column {expr.name} must appear in GROUP BY or be used in an "
                        "aggregate", expr.span)
            return
        for child in _children(expr):
            self._check_grouped(child, query, scope)

    def _type(self, expr: ast.Expr, scope: _Scope, allow_aggregates: bool,
              query: AnalyzedQuery | None = None, in_aggregate: bool = False) -> FrysType | None:
        """The type of `expr`, recording errors; None when an error made it unknowable.
        Known types are also kept in `self.types` (by node identity) for the compiler."""
        result = self._infer(expr, scope, allow_aggregates, query, in_aggregate)
        if result is not None:
            self.types[id(expr)] = result
        return result

    def _infer(self, expr: ast.Expr, scope: _Scope, allow_aggregates: bool,
               query: AnalyzedQuery | None, in_aggregate: bool) -> FrysType | None:

        def sub(e: ast.Expr, nested: bool = in_aggregate) -> FrysType | None:
            return self._type(e, scope, allow_aggregates, query, nested)

        if isinstance(expr, ast.Literal):
            return _literal_type(expr.value)
        if isinstance(expr, ast.IntervalLiteral):
            return FrysType.INTERVAL
        if isinstance(expr, ast.ColumnRef):
            return self._column_type(expr, scope, in_aggregate)
        if isinstance(expr, ast.UnaryOp):
            operand = sub(expr.operand)
            if operand is None:
                return None
            if expr.op == "NOT":
                self._expect_bool(operand, expr.operand, "NOT")
                return FrysType.BOOL
            if not operand.is_numeric:
                self._error(f"cannot negate a {operand} value", expr.span)
                return None
            return operand
        if isinstance(expr, ast.BinaryOp):
            return self._binary_type(expr, sub(expr.left), sub(expr.right))
        if isinstance(expr, ast.InList):
            operand = sub(expr.operand)
            for item in expr.items:
                item_type = sub(item)
                if operand and item_type and unify(operand, item_type) is None:
                    self._error(f"IN list item of type {item_type} cannot be compared with "
                                f"{operand}", item.span)
            return FrysType.BOOL
        if isinstance(expr, ast.Case):
            return self._case_type(expr, sub)
        if isinstance(expr, ast.Between):
            operand, low, high = sub(expr.operand), sub(expr.low), sub(expr.high)
            for bound, bound_type in ((expr.low, low), (expr.high, high)):
                if operand and bound_type and unify(operand, bound_type) is None:
                    self._error(f"BETWEEN bound of type {bound_type} cannot be compared with "
                                f"{operand}", bound.span)
            return FrysType.BOOL
        if isinstance(expr, ast.Like):
            for part in (expr.operand, expr.pattern):
                part_type = sub(part)
                if part_type not in (None, FrysType.STRING, FrysType.NULL):
                    self._error(f"LIKE needs STRING operands, got {part_type}", part.span)
            if not (isinstance(expr.pattern, ast.Literal) and isinstance(expr.pattern.value,
                                                                         str)):
                self._error("LIKE needs a string literal pattern, e.g. LIKE 'abc%'",
                            expr.pattern.span)
            return FrysType.BOOL
        if isinstance(expr, ast.IsNull):
            sub(expr.operand)
            return FrysType.BOOL
        if isinstance(expr, ast.Cast):
            operand = sub(expr.operand)
            target = TYPE_NAMES.get(expr.type_name)
            if target is None:
                self._error(f"unknown type {expr.type_name}"
                            f"{did_you_mean(expr.type_name, TYPE_NAMES)}", expr.type_span)
                return None
            if operand == FrysType.INTERVAL:
                self._error("an interval cannot be cast", expr.operand.span)
                return None
            return target
        if isinstance(expr, ast.FunctionCall):
            return self._call_type(expr, scope, allow_aggregates, query, in_aggregate, sub)
        raise TypeError(f"unexpected expression node {expr!r}")  # pragma: no cover

    def _column_type(self, ref: ast.ColumnRef, scope: _Scope, in_aggregate: bool
                     ) -> FrysType | None:
        columns = scope.stream.columns or {}
        if ref.qualifier is not None and ref.qualifier not in scope.qualifiers:
            self._error(f"unknown stream or alias {ref.qualifier}"
                        f"{did_you_mean(ref.qualifier, scope.qualifiers)}", ref.span)
            return None
        # In a windowed query the window bounds shadow stream columns of the same name (a
        # stream of window results has them); qualify the name to reach the column.
        if ref.name in WINDOW_COLUMNS and ref.qualifier is None and scope.windowed:
            if in_aggregate:
                self._error(f"{ref.name} cannot be used inside an aggregate; write "
                            f"{scope.stream.name}.{ref.name} for the stream's column", ref.span)
            return FrysType.TIMESTAMP
        if ref.name in columns:
            return columns[ref.name]
        candidates = list(columns) + (list(WINDOW_COLUMNS) if scope.windowed else [])
        hint = ""
        if ref.name in WINDOW_COLUMNS:
            hint = " (window_start and window_end need a window in GROUP BY)"
        self._error(f"unknown column '{ref.name}' in stream {scope.stream.name}"
                    f"{did_you_mean(ref.name, candidates) or hint}", ref.span)
        return None

    def _binary_type(self, expr: ast.BinaryOp, left: FrysType | None,
                     right: FrysType | None) -> FrysType | None:
        if left is None or right is None:
            return None
        op = expr.op
        if op in ("AND", "OR"):
            self._expect_bool(left, expr.left, op)
            self._expect_bool(right, expr.right, op)
            return FrysType.BOOL
        if op == "||":
            if FrysType.INTERVAL in (left, right):
                self._error("cannot concatenate an interval", expr.span)
            return FrysType.STRING
        if op in ("=", "<>", "<", "<=", ">", ">="):
            if unify(left, right) is None:
                self._error(f"cannot compare {left} with {right}", expr.span)
            return FrysType.BOOL
        if not (left.is_numeric and right.is_numeric):
            self._error(f"operator {op} needs numbers, got {left} and {right}", expr.span)
            return None
        if op == "/" or FrysType.FLOAT in (left, right):
            return FrysType.FLOAT
        return FrysType.INT if FrysType.INT in (left, right) else FrysType.NULL

    def _case_type(self, expr: ast.Case, sub) -> FrysType | None:
        operand = sub(expr.operand) if expr.operand is not None else None
        result: FrysType | None = FrysType.NULL
        branches = [w.result for w in expr.whens] + ([expr.else_] if expr.else_ else [])
        for when in expr.whens:
            condition = sub(when.condition)
            if expr.operand is None:
                self._expect_bool(condition, when.condition, "WHEN")
            elif operand and condition and unify(operand, condition) is None:
                self._error(f"cannot compare {condition} with {operand}", when.condition.span)
        for branch in branches:
            branch_type = sub(branch)
            if branch_type is None or result is None:
                result = None
                continue
            unified = unify(result, branch_type)
            if unified is None:
                self._error(f"CASE branches have different types: {result} and {branch_type}",
                            branch.span)
            result = unified
        return result

    def _call_type(self, call: ast.FunctionCall, scope: _Scope, allow_aggregates: bool,
                   query: AnalyzedQuery | None, in_aggregate: bool, sub) -> FrysType | None:
        name = call.name
        if name in WINDOW_FUNCTIONS or name in LATER_WINDOWS:
            self._error(f"{name} is a window and belongs in GROUP BY", call.span)
            return None
        if name in LATER_AGGREGATES:
            self._later(f"aggregate {name}", call.span)
            return None
        if name in AGGREGATE_FUNCTIONS:
            return self._aggregate_type(call, allow_aggregates, query, in_aggregate, sub)
        function = SCALAR_FUNCTIONS.get(name)
        if function is None:
            known = list(SCALAR_FUNCTIONS) + list(AGGREGATE_FUNCTIONS)
            self._error(f"unknown function {name}{did_you_mean(name, known)}", call.span)
            return None
        if call.star or call.distinct:
            self._error(f"{name} is not an aggregate; * and DISTINCT do not apply", call.span)
            return None
        if not function.min_args <= len(call.args) <= function.max_args:
            count = (str(function.min_args) if function.min_args == function.max_args
                     else f"{function.min_args} to {function.max_args}")
            self._error(f"{name} takes {count} argument(s), got {len(call.args)}", call.span)
            return None
        arg_types = [sub(arg) for arg in call.args]
        if any(t is None for t in arg_types):
            return None
        for position, (arg, arg_type) in enumerate(zip(call.args, arg_types, strict=True)):
            kind = function.arg_kind(position)
            if kind == "numeric" and not arg_type.is_numeric:
                self._error(f"{name} needs a number, got {arg_type}", arg.span)
                return None
            if kind == "string" and arg_type not in (FrysType.STRING, FrysType.NULL):
                self._error(f"{name} needs a STRING, got {arg_type}", arg.span)
                return None
        if name == "ROUND" and len(call.args) == 2 and not (
                isinstance(call.args[1], ast.Literal) and type(call.args[1].value) is int):
            self._error("ROUND's second argument must be a whole number, e.g. ROUND(x, 2)",
                        call.args[1].span)
            return None
        if name == "COALESCE":
            result = arg_types[0]
            for arg, arg_type in zip(call.args[1:], arg_types[1:], strict=True):
                unified = unify(result, arg_type)  # type: ignore[arg-type]
                if unified is None:
                    self._error(f"COALESCE arguments have different types: {result} and "
                                f"{arg_type}", arg.span)
                    return None
                result = unified
        return function.result_type(arg_types)  # type: ignore[arg-type]

    def _aggregate_type(self, call: ast.FunctionCall, allow_aggregates: bool,
                        query: AnalyzedQuery | None, in_aggregate: bool, sub
                        ) -> FrysType | None:
        name = call.name
        if in_aggregate:
            self._error(f"aggregate {name} cannot be nested in another aggregate", call.span)
            return None
        if not allow_aggregates:
            where = "here" if query is None else "without a window in GROUP BY"
            self._error(f"aggregate {name} is not allowed {where}", call.span)
            return None
        if call.star and name != "COUNT":
            self._error(f"{name}(*) is not valid; only COUNT(*) is", call.span)
            return None
        if call.distinct and name != "COUNT":
            self._error("DISTINCT is supported in COUNT only", call.span)
            return None
        if not call.star and len(call.args) != 1:
            self._error(f"{name} takes one argument, got {len(call.args)}", call.span)
            return None
        arg_type = None if call.star else sub(call.args[0], True)
        if not call.star and arg_type is None:
            return None
        result: FrysType
        if name == "COUNT":
            result = FrysType.INT
        elif name in ("SUM", "AVG", "STDDEV"):
            if not arg_type.is_numeric or arg_type == FrysType.NULL:  # type: ignore[union-attr]
                self._error(f"{name} needs a numeric argument, got {arg_type}", call.span)
                return None
            result = arg_type if name == "SUM" else FrysType.FLOAT  # type: ignore[assignment]
        else:  # MIN MAX FIRST LAST
            if arg_type == FrysType.INTERVAL:
                self._error(f"{name} cannot aggregate an interval", call.span)
                return None
            result = arg_type  # type: ignore[assignment]
        if query is not None:
            argument = None if call.star else call.args[0]
            if not any((a.function, a.argument, a.distinct) == (name, argument, call.distinct)
                       for a in query.aggregates):
                query.aggregates.append(AggregateCall(
                    f"__agg{len(query.aggregates)}", name, argument, call.distinct, result,
                    arg_type))
        return result


# ---------------------------------------------------------------------- helpers


def _literal_type(value: object) -> FrysType:
    if value is None:
        return FrysType.NULL
    if isinstance(value, bool):
        return FrysType.BOOL
    if isinstance(value, int):
        return FrysType.INT
    if isinstance(value, float):
        return FrysType.FLOAT
    return FrysType.STRING


def _default_name(expr: ast.Expr, position: int) -> str:
    if isinstance(expr, ast.ColumnRef):
        return expr.name
    if isinstance(expr, ast.FunctionCall):
        return expr.name.lower()
    return f"column{position}"


def _is_aggregate(expr: ast.Expr) -> bool:
    return isinstance(expr, ast.FunctionCall) and (
        expr.name in AGGREGATE_FUNCTIONS or expr.name in LATER_AGGREGATES)


def _children(expr: ast.Expr) -> list[ast.Expr]:
    if isinstance(expr, ast.UnaryOp):
        return [expr.operand]
    if isinstance(expr, ast.BinaryOp):
        return [expr.left, expr.right]
    if isinstance(expr, ast.InList):
        return [expr.operand, *expr.items]
    if isinstance(expr, ast.Case):
        parts = [expr.operand] if expr.operand is not None else []
        for when in expr.whens:
            parts += [when.condition, when.result]
        return parts + ([expr.else_] if expr.else_ is not None else [])
    if isinstance(expr, ast.FunctionCall):
        return list(expr.args)
    if isinstance(expr, ast.Between):
        return [expr.operand, expr.low, expr.high]
    if isinstance(expr, ast.Like):
        return [expr.operand, expr.pattern]
    if isinstance(expr, (ast.IsNull, ast.Cast)):
        return [expr.operand]
    return []


def _walk(expr: ast.Expr):
    yield expr
    for child in _children(expr):
        yield from _walk(child)


def analyze(program: ast.Program, source_name: str = "<query>",
            source_text: str = "") -> AnalyzedJob:
    """Resolve and type-check a parsed program; raises FrysError with every problem found."""
    return Analyzer(program, source_name, source_text).analyze()
