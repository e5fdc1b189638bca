"""Names, types and semantic rules: a parsed Program -> an AnalyzedJob, or every error found.

The analyzer walks the statements in order (a stream must be declared before a query uses
it; a stream whose schema comes from a query is known once that query has been seen). It
collects all errors of a file it can find, each with its span, and raises them together as
one FrysAnalysisError. Constructs that are valid .frysql but not executable yet are listed
in `AnalyzedJob.not_supported`, each naming the construct and its position.

The work is shared by parts that are handed what they use, not inherited: a Diagnostics
collector (dsl/errors.py), the StreamCatalog of declared streams (dsl/catalog.py), one
ExpressionTyper (dsl/typer.py), the PatternAnalyzer (dsl/pattern_analysis.py), and a
connector URI checker (`check_uri`: the language knows no connectors, so by default it
takes every URI; `frys.compile_text` passes the connector registry's).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from frys.dsl import ast
from frys.dsl.analyzed import (
    BUILT_IN_STREAMS,
    LATER_STREAM_OPTIONS,
    QUEUE_KINDS,
    STREAM_OPTIONS,
    TABLE_OPTIONS,
    TIME_UNITS,
    WINDOW_COLUMNS,
    AnalyzedJob,
    AnalyzedQuery,
    StreamDef,
    Window,
)
from frys.dsl.ast import children, walk
from frys.dsl.catalog import StreamCatalog
from frys.dsl.errors import (
    Diagnostic,
    Diagnostics,
    FrysAnalysisError,
    Span,
    UriChecker,
    UriProblem,
    did_you_mean,
)
from frys.dsl.join_interval import (
    Bounds,
    EventTime,
    and_parts,
    and_spine,
    split_interval,
    type_interval,
)
from frys.dsl.limits import DEFAULT_LIMITS, Limits
from frys.dsl.pattern_analysis import PatternAnalyzer
from frys.dsl.printer import JOIN_KEYWORDS, expr_to_sql
from frys.dsl.stream_graph import language_feeds, loop_diagnostic, loop_of
from frys.dsl.typer import (
    ExpressionTyper,
    Relation,
    Scope,
    annotate_type,  # the typer's one way to set a type
    default_output_name,
    is_aggregate,
)
from frys.dsl.types import (
    LATER_WINDOWS,
    TYPE_NAMES,
    WINDOW_FUNCTIONS,
    FrysType,
)

# spellings of time units a user may try, for time_unit's did-you-mean
_TIME_UNIT_SPELLINGS = {
    **dict.fromkeys(("sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("milli", "millis", "msec", "millisecond", "milliseconds"), "ms"),
    **dict.fromkeys(("µs", "micro", "micros", "usec", "microsecond", "microseconds"), "us"),
    **dict.fromkeys(("nano", "nanos", "nsec", "nanosecond", "nanoseconds"), "ns"),
}


def any_uri(uri: str, role: str) -> UriProblem | None:
    """The analyzer's default URI checker: the language knows no connectors, so it takes
    every `source` and `sink` URI. Whoever compiles a job to run it passes the connector
    registry's checker (`frys.compile_text` does: connectors/registry.py check_uri)."""
    return None


class Analyzer:
    """Analyzes one Program. Use `analyze()`; it raises or returns an AnalyzedJob.

    Its parts, each passed the ones it uses: `diagnostics` (what is found), `catalog` (the
    streams declared so far), `typer` (expression types), `patterns` (pattern queries),
    and `check_uri` for the connector URIs of `source` and `sink`."""

    def __init__(self, program: ast.Program, source_name: str, source_text: str,
                 limits: Limits = DEFAULT_LIMITS,
                 check_uri: UriChecker = any_uri) -> None:
        self.program = program
        self.limits = limits
        self.source_name = source_name
        self.source_text = source_text
        self.check_uri = check_uri
        self.diagnostics = Diagnostics()
        self.catalog = StreamCatalog(self.diagnostics)
        self.streams = self.catalog.streams
        self.typer = ExpressionTyper(self.diagnostics)
        self.patterns = PatternAnalyzer(self.diagnostics, self.catalog, self.typer)
        self.queries: list[AnalyzedQuery] = []
        self._error = self.diagnostics.error
        self._later = self.diagnostics.later

    # ------------------------------------------------------------------ driver

    def analyze(self) -> AnalyzedJob:
        bare_selects = 0
        for statement in self.program.statements:
            if isinstance(statement, ast.CreateStream):
                self._create_stream(statement)
            elif isinstance(statement, ast.CreateTable):
                self._create_table(statement)
            elif isinstance(statement, ast.InsertInto):
                self._query(statement.query, statement.target, statement.target_span, False)
            else:
                bare_selects += 1
                if statement.name is not None and statement.name in self.streams:
                    self._error(f"query name {statement.name} is the name of a stream; a "
                                "named SELECT's rows are a stream of its name: name it "
                                "otherwise, or INSERT INTO that stream", statement.span)
                    continue
                # a named bare SELECT's rows are the stream of its name ("_query": name)
                self._query(statement, statement.name or f"select_{bare_selects}",
                            statement.span, True)
        self._check_query_names()
        self._check_stream_links()
        loop = loop_of(language_feeds(self.streams, self.queries))
        if loop is not None:
            self.diagnostics.errors.append(loop_diagnostic(loop))
        for stream in self.streams.values():
            if stream.columns is None:
                self._error(f"stream {stream.name} has no columns and no query writes to it; "
                            "declare its columns or INSERT INTO it", stream.span)
        def in_text_order(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
            return sorted(diagnostics, key=lambda d: (d.span.line, d.span.column))

        found = self.diagnostics
        if found.errors:
            raise FrysAnalysisError(in_text_order(found.errors), self.source_name,
                                    self.source_text)
        return AnalyzedJob(self.streams, self.queries, self.source_name, self.source_text,
                           in_text_order(found.warnings), in_text_order(found.not_supported))

    def _check_query_names(self) -> None:
        """`-- name:` names are unique, and name no stream but the query's own output (an
        unnamed query goes by its output stream's name: the two must not be confused)."""
        seen: dict[str, AnalyzedQuery] = {}
        for query in self.queries:
            name = query.statement.name
            if name is None:
                continue
            if name in seen:
                self._error(f"two queries are named {name}", query.statement.span)
            elif name in self.streams and name != query.output_stream:
                self._error(f"query name {name} is the name of a stream; name the query "
                            "otherwise (an unnamed query goes by its output stream's name)",
                            query.statement.span)
            seen[name] = query

    # ------------------------------------------------------------------ CREATE STREAM

    def _create_stream(self, statement: ast.CreateStream) -> None:
        name = statement.name
        if name in BUILT_IN_STREAMS:
            self._declare_built_in(statement)
            return
        if name in self.streams:
            self._error(f"stream {name} is already declared", statement.span)
            return
        if name.startswith("select_") and name[7:].isdigit():
            self._error(f"stream name {name} is reserved for the output of bare SELECT "
                        "statements", statement.span)
        columns = self._columns(statement.columns) if statement.columns is not None else None
        for column in statement.columns or ():
            if column.primary_key:
                self._error("PRIMARY KEY belongs to tables; a stream keeps every event "
                            "(CREATE TABLE for the latest row per key)", column.span)
        stream = StreamDef(name, columns, span=statement.span)
        self._apply_options(stream, statement.options)
        self._share_late_columns(stream)
        if stream.source is not None and columns is None:
            self._error(f"stream {name} has a source, so it needs a column list",
                        statement.span)
        self.streams[name] = stream

    def _columns(self, definitions: tuple[ast.ColumnDef, ...]) -> dict[str, FrysType]:
        columns: dict[str, FrysType] = {}
        for column in definitions:
            column_type = TYPE_NAMES.get(column.type_name)
            if column_type is None:
                self._error(f"unknown type {column.type_name} for column {column.name}"
                            f"{did_you_mean(column.type_name, TYPE_NAMES)}", column.span)
                continue
            if column.name in columns:
                self._error(f"column {column.name} is declared twice", column.span)
            columns[column.name] = column_type
        return columns

    def _create_table(self, statement: ast.CreateTable) -> None:
        name = statement.name
        if name in self.streams:
            self._error(f"{name} is already declared", statement.span)
            return
        keys = [c for c in statement.columns if c.primary_key]
        if len(keys) != 1:
            self._error(f"table {name} needs exactly one PRIMARY KEY column, found "
                        f"{len(keys)}", statement.span)
        table = StreamDef(name, self._columns(statement.columns), span=statement.span,
                          is_table=True, primary_key=keys[0].name if keys else None)
        for option in statement.options:
            if option.name not in TABLE_OPTIONS:
                self._error(f"option {option.name} does not apply to a table; tables take "
                            f"{', '.join(TABLE_OPTIONS)}", option.span)
        self._apply_options(table, tuple(o for o in statement.options
                                         if o.name in TABLE_OPTIONS))
        if table.event_time is not None and table.event_time == table.primary_key:
            self._error(f"the event_time of table {name} cannot be its PRIMARY KEY (a key "
                        "has versions in time)", table.option_spans["event_time"])
        self.streams[name] = table

    def _declare_built_in(self, statement: ast.CreateStream) -> None:
        """dead_letters and overflow exist in every job; a job declares them only to give
        them a sink."""
        name = statement.name
        stream = self.streams[name]
        if statement.columns is not None:
            self._error(f"{name} is built in; declare it without columns, only to give "
                        "it a sink", statement.span)
        for option in statement.options:
            if option.name != "sink":
                self._error(f"{name} is built in; only its sink can be set", option.span)
        self._apply_options(stream, tuple(o for o in statement.options if o.name == "sink"))
        stream.span = statement.span

    def _apply_options(self, stream: StreamDef, options: tuple[ast.WithOption, ...]) -> None:
        seen: set[str] = set()
        for option in options:
            if option.name in seen:
                self._error(f"option {option.name} is given twice", option.span)
            seen.add(option.name)
            stream.option_spans[option.name] = option.span
            if option.name in LATER_STREAM_OPTIONS:
                self._stream_option(stream, option)
            elif option.name == "event_time":
                if option.kind != ast.OptionKind.NAME:
                    self._error("event_time must name a column, e.g. event_time = ts",
                                option.span)
                else:
                    stream.event_time = str(option.value)
                    self.catalog.check_event_time(stream, option.span)
            elif option.name == "watermark":
                if option.kind != ast.OptionKind.INTERVAL:
                    self._error("watermark must be an interval, e.g. watermark = 2 SECONDS",
                                option.span)
                else:
                    stream.watermark_ms = int(option.value)
            elif option.name == "idle_timeout":
                if option.kind != ast.OptionKind.INTERVAL or int(option.value) <= 0:
                    self._error("idle_timeout must be a positive interval, e.g. "
                                "idle_timeout = 30 SECONDS", option.span)
                else:
                    stream.idle_timeout_ms = int(option.value)
            elif option.name == "max_future":
                if option.kind != ast.OptionKind.INTERVAL or int(option.value) < 0:
                    self._error("max_future must be an interval, e.g. max_future = 1 HOUR",
                                option.span)
                else:
                    stream.max_future_ms = int(option.value)
            elif option.name == "time_unit":
                self._time_unit(stream, option)
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
        if stream.event_time is None:
            for option in options:
                if option.name in ("watermark", "idle_timeout", "max_future"):
                    # they act on the stream's watermark, which only event time gives it
                    self._error(f"{option.name} needs event_time: a stream without an "
                                "event-time column has no watermark", option.span)

    def _time_unit(self, stream: StreamDef, option: ast.WithOption) -> None:
        """time_unit = 's' | 'ms' | 'us' | 'ns': what the integer epoch times of the stream's
        input count. It only means something for declared TIMESTAMP columns, so a stream
        without one is told so rather than left with an option that does nothing."""
        units = ", ".join(repr(u) for u in TIME_UNITS)
        if option.kind not in (ast.OptionKind.STRING, ast.OptionKind.NAME):
            self._error(f"time_unit must be one of {units}, e.g. time_unit = 's'", option.span)
            return
        value = str(option.value)
        if value not in TIME_UNITS:
            unit = _TIME_UNIT_SPELLINGS.get(value.lower())
            hint = (f" (did you mean '{unit}'?)" if unit is not None
                    else did_you_mean(value, TIME_UNITS))
            self._error(f"time_unit must be one of {units}, got {value!r}{hint}", option.span)
            return
        if option.kind == ast.OptionKind.NAME:
            self._error(f"time_unit must be quoted: time_unit = '{value}'", option.span)
            return
        if not any(t == FrysType.TIMESTAMP for t in (stream.columns or {}).values()):
            self._error(f"time_unit applies to integer times of TIMESTAMP columns; stream "
                        f"{stream.name} declares none", option.span)
            return
        stream.time_unit = value

    def _stream_option(self, stream: StreamDef, option: ast.WithOption) -> None:
        """lateness, late, queue, priority: checked here and in `_check_stream_links` once
        every stream is known."""
        name, kind, value = option.name, option.kind, option.value
        if name == "lateness":
            if kind != ast.OptionKind.INTERVAL:
                self._error("lateness must be an interval, e.g. lateness = 30 SECONDS",
                            option.span)
                return
            stream.lateness_ms = int(value)
        elif name == "late":
            if kind != ast.OptionKind.NAME:
                self._error("late must name a stream, e.g. late = late_trades", option.span)
                return
            stream.late = (str(value), option.span)
        elif name == "queue":
            if kind != ast.OptionKind.STRING or value not in QUEUE_KINDS:
                self._error(f"queue must be one of {', '.join(repr(q) for q in QUEUE_KINDS)}",
                            option.span)
                return
            stream.queue = str(value)
        elif name == "priority":
            if kind != ast.OptionKind.NAME:
                self._error("priority must name a column, e.g. priority = severity",
                            option.span)
                return
            stream.priority = (str(value), option.span)

    def _share_late_columns(self, stream: StreamDef) -> None:
        """A late stream takes the columns of the stream whose late events it receives, as
        soon as both are declared (so queries further down can read it)."""
        if stream.late is not None and stream.columns is not None:
            target = self.streams.get(stream.late[0])
            if target is not None and target.columns is None and not target.is_table:
                target.columns = dict(stream.columns)
        if stream.columns is None:
            for other in self.streams.values():
                if other.late is not None and other.late[0] == stream.name and other.columns:
                    stream.columns = dict(other.columns)

    def _check_stream_links(self) -> None:
        """Options that name other things: the late stream, the priority column."""
        for stream in list(self.streams.values()):
            columns = stream.columns or {}
            if stream.queue == "priority" and stream.priority is None:
                self._error(f"stream {stream.name} has queue = 'priority' but no "
                            "priority = <column> to order by", stream.span)
            if stream.priority is not None:
                column, span = stream.priority
                if stream.queue != "priority":
                    self._error("priority applies to queue = 'priority'", span)
                elif column not in columns:
                    self._error(f"priority column {column} is not a column of stream "
                                f"{stream.name}{did_you_mean(column, columns)}", span)
                elif columns[column] not in (FrysType.INT, FrysType.FLOAT,
                                             FrysType.TIMESTAMP):
                    self._error(f"priority column {column} has type {columns[column]}; it "
                                "must be INT, FLOAT or TIMESTAMP", span)
            if stream.late is not None:
                target_name, span = stream.late
                target = self.streams.get(target_name)
                if stream.event_time is None:
                    self._error("late needs event_time: lateness is measured in event time",
                                span)
                elif target is None or target.is_table or target.built_in:
                    self._error(f"late must name a declared stream; {target_name} is not one"
                                f"{did_you_mean(target_name, self.streams)}", span)
                elif target.columns is None:
                    target.columns = dict(columns)  # late events keep their fields
                elif target.columns != columns:
                    self._error(f"late stream {target_name} must have the columns of "
                                f"{stream.name} (late events keep their fields)", span)

    def _check_uri(self, option: ast.WithOption) -> None:
        problem = self.check_uri(str(option.value), option.name)
        if problem is None:
            return
        if problem.not_supported:
            self._later(problem.message, option.span)
        else:
            self._error(problem.message, option.span)

    # ------------------------------------------------------------------ queries

    def _query(self, select: ast.Select, target: str, target_span: Span, bare: bool) -> None:
        if select.match is not None:
            query = AnalyzedQuery(len(self.queries), select, select.source.name, target, [],
                                  {}, is_bare_select=bare)
            errors_before = len(self.diagnostics.errors)
            self.patterns.analyze(query)
            if len(self.diagnostics.errors) == errors_before:
                self.catalog.bind_target(query, target, target_span)
                self.queries.append(query)
            return
        if len(select.more_sources) == 1 and not select.joins:
            # Flink SQL's interval join: `FROM a, b WHERE <keys> AND <event-time bounds>`,
            # an inner join whose condition is all in WHERE (the planner takes its keys
            # and interval from there)
            second = select.more_sources[0]
            select = replace(select, more_sources=(), joins=(ast.Join(
                "INNER", second, ast.Literal(True, span=second.span, type=FrysType.BOOL),
                None, span=second.span),))
        if select.more_sources:
            self._error("FROM with more than two streams needs a PATTERN; to correlate them "
                        "use JOIN ... ON ... WITHIN", select.more_sources[0].span)
            return
        source = self.catalog.readable(select.source)
        if source is None:
            return
        if source.is_table and select.joins:
            self._error(f"a join reads a table on its right: FROM <stream> JOIN "
                        f"{source.name} ON ...", select.source.span)
            return
        if source.is_table and _aggregating(select):
            self._later(f"an aggregate over table {source.name} (its rows are upserts)",
                        select.source.span)
        relations = [Relation.of(source, select.source.alias)]
        for join in select.joins:
            joined = self.catalog.readable(join.source)
            if joined is None:
                return
            relation = Relation.of(joined, join.source.alias)
            clash = next((r for r in relations if r.qualifiers & relation.qualifiers), None)
            if clash is not None:
                self._error(f"{join.source.name} is already in FROM as {clash.label}; give "
                            "each an alias", join.source.span)
                return
            relations.append(relation)
        query = AnalyzedQuery(len(self.queries), select, source.name, target, [], {},
                              is_bare_select=bare)
        errors_before = len(self.diagnostics.errors)
        # a window join's rows have their window's bounds too (window_start, window_end)
        window_join = any(join.window is not None for join in select.joins)
        self._group_by(query, source, Scope(relations, windowed=window_join))
        scope = Scope(relations, windowed=query.window is not None or window_join)
        where_interval = self._joins(select, scope)
        if select.where is not None:
            # an inner join's interval may be written in WHERE: those comparisons are typed
            # as the join's (_joins), the other conjuncts one by one, the ANDs BOOL
            parts = ([select.where] if not where_interval else
                     [p for p in and_parts(select.where)
                      if not any(p is i for i in where_interval)])
            for part in parts:
                where_type = self.typer.type_of(part, scope, allow_aggregates=False)
                self.typer.expect_bool(where_type, part, "WHERE")
            if where_interval:
                for node in and_spine(select.where):
                    annotate_type(node, FrysType.BOOL)
            query.where = select.where
        if select.emit == "CHANGES" and select.joins and not _aggregating(select):
            self._error("EMIT CHANGES does not apply to a join: a join's rows are final "
                        "when emitted (an outer join's unmatched row comes out only once no "
                        "match can come, never retracted), so there are no changes to emit",
                        select.span)
        elif select.emit == "CHANGES" and not _aggregating(select):
            self._error("EMIT CHANGES applies to aggregations (GROUP BY or aggregates); a "
                        "plain query emits every row anyway", select.span)
        elif select.emit in ("FINAL", "EVERY") and query.window is None:
            self._error(f"EMIT {select.emit} needs a window in GROUP BY", select.span)
        elif select.emit == "EVERY" and not select.emit_every_ms:
            self._error("EMIT EVERY needs a positive interval, e.g. EMIT EVERY 10 SECONDS",
                        select.span)
        if select.having is not None:
            if not select.group_by:
                self._error("HAVING needs GROUP BY", select.having.span)
            else:
                having_type = self.typer.type_of(select.having, scope, allow_aggregates=True,
                                                 query=query)
                self.typer.expect_bool(having_type, select.having, "HAVING")
                self._check_grouped(select.having, query, scope)
                query.having = select.having
        self._outputs(query, scope)
        if len(self.diagnostics.errors) > errors_before:
            return
        # a query the runtime cannot run yet still defines its target's schema, so that
        # the rest of the file can be checked
        self.catalog.bind_target(query, target, target_span)
        self.queries.append(query)

    def _joins(self, select: ast.Select, scope: Scope) -> list[ast.Expr]:
        """Check each join; returns the conjuncts of WHERE that are an inner join's
        interval (Flink's event-time comparisons, written in WHERE rather than ON)."""
        where_interval: list[ast.Expr] = []
        for position, join in enumerate(select.joins):
            joined = self.streams[join.source.name]
            first = self.streams[select.source.name]
            # ON reads the inputs before it and the one it joins, as in SQL (a later one's
            # columns are unknown there)
            on_scope = Scope(scope.relations[:position + 2], windowed=scope.windowed)
            bounds, rest = None, [join.condition]
            if (position == 0 and not joined.is_table and first.event_time
                    and joined.event_time and join.window is None):
                # Flink's spelling of the interval: event-time comparisons in ON (typed
                # here: TIMESTAMP +/- INTERVAL has no other meaning in the language yet)
                bounds, interval, rest = split_interval(
                    join.condition, _event_time(select.source, first),
                    _event_time(join.source, joined))
                for part in interval:
                    type_interval(part, partial(self._type_leaf, scope=on_scope),
                                  annotate_type)
                if interval:  # the conjuncts are typed one by one: so is the AND
                    for node in and_spine(join.condition):
                        annotate_type(node, FrysType.BOOL)
                else:
                    rest = [join.condition]
                if join.kind == "INNER" and select.where is not None and len(select.joins) == 1:
                    # in WHERE, the same comparisons bound an inner join alike (an outer
                    # join's WHERE filters its NULL-padded rows after it: not an interval)
                    found, where_interval, _ = split_interval(
                        select.where, _event_time(select.source, first),
                        _event_time(join.source, joined))
                    for part in where_interval:
                        type_interval(part, partial(self._type_leaf, scope=scope),
                                      annotate_type)
                    if found is not None:
                        bounds = found if bounds is None else bounds.meet(found)
            for part in rest:
                condition = self.typer.type_of(part, on_scope, allow_aggregates=False)
                self.typer.expect_bool(condition, part, "ON")
            if joined.is_table and (join.within_ms is not None or join.window is not None):
                self._error(f"WITHIN does not apply to a join with table {joined.name}: it "
                            "looks up the current row by key", join.span)
            elif join.window is not None:
                self._check_window(join.window)
                if sum(j.window is not None for j in select.joins) > 1 and position > 0:
                    # window_start above the chain would name two windows
                    self._later("more than one window join in a query", join.span)
            elif not joined.is_table and position > 0 and join.within_ms is None:
                self._error("a join after the first needs WITHIN: how far apart in event "
                            "time its row and the join time of the inputs before it (the "
                            "later of a pair's times) may be", join.span)
            elif not joined.is_table:
                self._check_interval(join, bounds)
            kind = JOIN_KEYWORDS[join.kind]
            if joined.is_table:
                if join.kind in ("RIGHT", "FULL"):
                    self._error(f"{kind} with table {joined.name}: a table is looked up "
                                "by the stream's rows, so only JOIN and LEFT JOIN apply",
                                join.span)
                else:
                    self._table_join(select, join, joined, kind, on_scope)
                continue
            how = "in event-time windows" if join.window is not None else "within an interval"
            for side in (first, joined):
                if side.event_time is None:
                    self._error(f"stream {side.name} has no event_time, so it cannot be "
                                f"joined {how}; declare WITH (event_time = "
                                "<TIMESTAMP column>)", join.span)
        return where_interval

    def _type_leaf(self, leaf: ast.Expr, scope: Scope) -> FrysType | None:
        return self.typer.type_of(leaf, scope)

    def _check_window(self, call: ast.FunctionCall) -> None:
        """`WITHIN TUMBLE(size)` or `WITHIN HOP(size, slide)`: a window join, its window
        checked as GROUP BY's is. (Sessions and count windows are per key of one stream:
        two streams have no common one to share.)"""
        if call.name not in ("TUMBLE", "HOP"):
            self._error(f"a window join is WITHIN TUMBLE(size) or WITHIN HOP(size, slide), "
                        f"not {call.name}: both rows in one window of event time",
                        call.span)
            return
        self._window(call)

    def _check_interval(self, join: ast.Join, bounds: Bounds | None) -> None:
        """A join of two streams needs a bounded, non-empty interval: WITHIN, narrowed by
        any comparisons of the event times in ON, or those comparisons bounding both ends."""
        if join.within_ms is not None:
            within = Bounds(-join.within_ms, join.within_ms)
            bounds = within if bounds is None else bounds.meet(within)
        if bounds is None:
            self._error("a join of two streams needs WITHIN (how far apart in event "
                        "time two events may be), e.g. ... ON ... WITHIN 1 HOUR, or "
                        "a.ts BETWEEN b.ts - 1 HOUR AND b.ts + 1 HOUR in ON (or in "
                        "WHERE, for an inner join)", join.span)
        elif bounds.low is None or bounds.high is None:
            self._error("the event times in ON bound the interval on one end only; "
                        "bound both, e.g. a.ts BETWEEN b.ts - 10 MINUTES AND b.ts",
                        join.span)
        elif bounds.low > bounds.high:
            self._error("the event times in ON leave an empty interval (its lower "
                        "bound above its upper)", join.span)

    def _table_join(self, select: ast.Select, join: ast.Join, table: StreamDef,
                    kind: str, scope: Scope) -> None:
        """A stream enriched by a table: ON is `<expression over the stream> =
        <table>.<PRIMARY KEY>` of one type; a versioned table (with event_time) needs the
        stream's event time to pick the version valid then."""
        # the stream side: the FROM stream, or everything joined before the table
        first = self.streams[select.source.name]
        stream = StreamDef(first.name, {c: t for r in scope.relations[:-1]
                                        for c, t in r.columns.items()}, first.event_time)
        qualifier = join.source.alias or table.name
        condition = join.condition
        key: tuple[ast.Expr, ast.Expr] | None = None  # (over the stream, the table's key)
        if isinstance(condition, ast.BinaryOp) and condition.op == "=":
            for mine, other in ((condition.right, condition.left),
                                (condition.left, condition.right)):
                if self._is_table_key(mine, table, qualifier, stream) and not any(
                        self._reads_table(ref, table, qualifier, stream)
                        for ref in walk(other) if isinstance(ref, ast.ColumnRef)):
                    key = (other, mine)
                    break
        if key is None:
            self._later(f"{kind} with table {table.name} ON anything but <stream "
                        f"expression> = {qualifier}.{table.primary_key} (other conditions "
                        "go in WHERE)", condition.span)
            return
        if key[0].type is not None and key[0].type != key[1].type:
            self._error(f"{expr_to_sql(key[0])} is {key[0].type} but the key "
                        f"{table.primary_key} of table {table.name} is {key[1].type}; "
                        "CAST it", condition.span)
        if table.event_time is not None and stream.event_time is None:
            self._error(f"table {table.name} is versioned (event_time = {table.event_time}), "
                        f"so stream {stream.name} needs an event_time to pick the version "
                        "valid at each row's time", join.span)

    @staticmethod
    def _reads_table(ref: ast.ColumnRef, table: StreamDef, qualifier: str,
                     stream: StreamDef) -> bool:
        return ref.qualifier == qualifier or (
            ref.qualifier is None and ref.name in (table.columns or {})
            and ref.name not in (stream.columns or {}))

    def _is_table_key(self, expr: ast.Expr, table: StreamDef, qualifier: str,
                      stream: StreamDef) -> bool:
        return (isinstance(expr, ast.ColumnRef) and expr.name == table.primary_key
                and self._reads_table(expr, table, qualifier, stream))

    def _group_by(self, query: AnalyzedQuery, source: StreamDef, scope: Scope) -> None:
        select = query.statement
        for index, expr in enumerate(select.group_by):
            if isinstance(expr, ast.FunctionCall) and (
                    expr.name in WINDOW_FUNCTIONS or expr.name in LATER_WINDOWS):
                if query.window is not None:
                    self._error("only one window per GROUP BY", expr.span)
                query.window = self._window(expr) or Window(expr.name, expr.span, size_ms=1)
                if source.event_time is None:
                    self._error(f"stream {source.name} has no event_time, so it cannot be "
                                "windowed; declare WITH (event_time = <TIMESTAMP column>)",
                                expr.span)
                if expr.name in LATER_WINDOWS:
                    self._later(f"{expr.name} window", expr.span)
            else:
                self.typer.type_of(expr, scope, allow_aggregates=False)
                name = expr.name if isinstance(expr, ast.ColumnRef) else f"__key{index}"
                query.group_keys.append((name, expr))
        if select.group_by and query.window is None and select.emit != "CHANGES":
            self._error("GROUP BY without a window is a running aggregate: it has no end "
                        "to emit at, so it needs EMIT CHANGES", select.group_by[0].span)
        elif not select.group_by and _aggregating(select) and select.emit != "CHANGES":
            first = next(e for item in select.items if item.expr is not None
                         for e in walk(item.expr) if is_aggregate(e))
            self._error("an aggregate without GROUP BY runs over the whole stream: it has no "
                        "end to emit at, so it needs EMIT CHANGES", first.span)

    def _window(self, call: ast.FunctionCall) -> Window | None:
        """The window a GROUP BY call describes, or None after reporting bad arguments."""
        args = call.args
        intervals = [a.millis for a in args if isinstance(a, ast.IntervalLiteral)]
        counts = [a.value for a in args
                  if isinstance(a, ast.Literal) and type(a.value) is int]
        if call.name == "TUMBLE" and len(args) == 1 and len(intervals) == 1 and intervals[0] > 0:
            return Window("TUMBLE", call.span, size_ms=intervals[0])
        if call.name == "HOP" and len(args) == 2 and len(intervals) == 2:
            size, slide = intervals
            if 0 < slide <= size and -(-size // slide) > self.limits.max_hop_windows:
                self._error(f"HOP puts each event into {-(-size // slide):,} windows (size / "
                            f"slide); at most {self.limits.max_hop_windows:,}: each is state "
                            "per key (a longer slide, or Limits(max_hop_windows=...))",
                            call.span)
                return None
            if 0 < slide <= size:
                return Window("HOP", call.span, size_ms=size, slide_ms=slide)
            self._error("HOP(size, slide) needs 0 < slide <= size, e.g. HOP(10 SECONDS, "
                        "1 SECOND)", call.span)
            return None
        if call.name == "SESSION" and len(args) == 1 and len(intervals) == 1 and intervals[0] > 0:
            return Window("SESSION", call.span, size_ms=intervals[0])
        if call.name == "ROWS" and 1 <= len(args) <= 2 and len(counts) == len(args):
            rows, slide = counts[0], counts[-1]
            if 0 < slide <= rows:
                return Window("ROWS", call.span, rows=rows, rows_slide=slide)
            self._error("ROWS(n[, slide]) needs 0 < slide <= n, e.g. ROWS(100, 10)", call.span)
            return None
        usage = {"TUMBLE": "TUMBLE takes one positive interval, e.g. TUMBLE(1 MINUTE)",
                 "HOP": "HOP takes two intervals, e.g. HOP(10 SECONDS, 1 SECOND)",
                 "SESSION": "SESSION takes one positive interval (the gap), e.g. "
                            "SESSION(5 MINUTES)",
                 "ROWS": "ROWS takes a count and an optional slide, e.g. ROWS(100) or "
                         "ROWS(100, 10)"}
        self._error(usage[call.name], call.span)
        return None

    def _outputs(self, query: AnalyzedQuery, scope: Scope) -> None:
        names: dict[str, Span] = {}
        for position, item in enumerate(query.statement.items, start=1):
            if item.expr is None:
                if _aggregating(query.statement):
                    self._error("SELECT * cannot be used with GROUP BY", item.span)
                    continue
                joined = len(scope.relations) > 1
                for relation in scope.relations:
                    # over a join each column is its relation's (qualified): two relations'
                    # columns of one name would be two outputs of one name
                    qualifier = min(relation.qualifiers) if joined else None
                    for column, column_type in relation.columns.items():
                        if joined and column in names:
                            self._error(f"SELECT * over a join gives two columns {column}; "
                                        "list the columns, naming one with AS", item.span)
                            continue
                        query.outputs.append((column, ast.ColumnRef(
                            column, qualifier, span=item.span, type=column_type)))
                        query.output_types[column] = column_type
                        names[column] = item.span
                continue
            grouped = _aggregating(query.statement)
            expr_type = self.typer.type_of(item.expr, scope, allow_aggregates=grouped, query=query)
            if grouped:
                self._check_grouped(item.expr, query, scope)
            name = item.alias or default_output_name(item.expr, position)
            if name in names:
                self._error(f"output column {name} appears twice; name one with AS", item.span)
            names[name] = item.span
            query.outputs.append((name, item.expr))
            if expr_type == FrysType.INTERVAL:
                self._error("an interval cannot be an output column", item.expr.span)
            # None only after an error was recorded, which refuses the job
            query.output_types[name] = expr_type  # type: ignore[assignment]

    def _check_grouped(self, expr: ast.Expr, query: AnalyzedQuery, scope: Scope) -> None:
        """Column references outside aggregates must be group keys or window bounds."""
        key_exprs = [key for _, key in query.group_keys]
        if expr in key_exprs or is_aggregate(expr):
            return
        if isinstance(expr, ast.ColumnRef):
            if expr.name in WINDOW_COLUMNS and expr.qualifier is None and scope.windowed:
                return
            if not scope.has_column(expr.name):
                return  # unknown; typing has already reported it
            self._error(f"column {expr.name} must appear in GROUP BY or be used in an "
                        "aggregate", expr.span)
            return
        for child in children(expr):
            self._check_grouped(child, query, scope)


def _aggregating(select: ast.Select) -> bool:
    """GROUP BY, or aggregates in SELECT or HAVING: the query reduces groups of events."""
    if select.group_by:
        return True
    parts = [item.expr for item in select.items if item.expr is not None]
    return any(is_aggregate(node) for part in parts for node in walk(part))


def analyze(program: ast.Program, source_name: str = "<query>",
            source_text: str = "", limits: Limits = DEFAULT_LIMITS, *,
            check_uri: UriChecker = any_uri) -> AnalyzedJob:
    """Resolve and type-check a parsed program; raises FrysError with every problem found.
    Every expression of the job comes back typed (`ast.Expr.type`). `check_uri` judges the
    connector URIs of `source` and `sink` options."""
    return Analyzer(program, source_name, source_text, limits, check_uri).analyze()


def _event_time(source: ast.FromStream, stream: StreamDef) -> EventTime:
    """How ON may name a joined stream's event-time column (its alias, else its name)."""
    assert stream.event_time is not None
    names = {source.alias} if source.alias else {source.name}
    return EventTime(frozenset(names), stream.event_time)
