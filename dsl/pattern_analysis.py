"""Analysis of pattern queries (LANGUAGE.md section 3): variables, DEFINE scoping, the rules
of PARTITION BY, NOT and WITHIN, and the typing of the SELECT list over a match.

Rules enforced here, each with its position:

* every FROM item is a stream; a variable names its stream (`p:payments`) unless FROM has
  only one, and always the same one;
* PARTITION BY columns exist, with one type, in every FROM stream;
* `DEFINE v` names a variable of the pattern, once, and its conditions may refer only to
  variables bound before v or to v itself; unqualified columns mean the current event;
* NOT takes a single, unquantified variable, cannot start a pattern, and at the end of one
  (an absence) needs WITHIN;
* AFTER MATCH SKIP TO FIRST/LAST and EMIT TIMEOUTS TO name a variable and a stream;
* an unbounded loop without WITHIN is a warning: state can grow without bound.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, cast

from frys.dsl import ast
from frys.dsl.analyzed import AnalyzedQuery, StreamDef
from frys.dsl.ast import walk
from frys.dsl.catalog import StreamCatalog
from frys.dsl.errors import Diagnostics, Span, did_you_mean
from frys.dsl.printer import REPETITION_KEYWORDS
from frys.dsl.typer import (
    ExpressionTyper,
    Relation,
    Scope,
    default_output_name,
    variable_named,
)
from frys.dsl.types import FrysType, unify

# pseudo-columns of a match: its first and last event times, and the ids ('stream:offset',
# offset = the event's position in its stream, from 0) of the events it consumed, in order
MATCH_COLUMNS = {"MATCH_START": FrysType.TIMESTAMP, "MATCH_END": FrysType.TIMESTAMP,
                 "MATCH_IDS": FrysType.ARRAY}


class _Variable:
    """A pattern variable: its stream, where it first appears, and whether it can bind more
    than one event (then `v.col` in SELECT needs an aggregate to be meaningful)."""

    def __init__(self, name: str, stream: StreamDef, order: int, span: Span) -> None:
        self.name = name
        self.stream = stream
        self.order = order
        self.span = span
        self.repeated = False
        self.negated = False

    def relation(self) -> Relation:
        return Relation(f"variable {self.name}", frozenset({self.name}),
                        self.stream.columns or {})


def _repeats(quantifier: ast.Quantifier | None) -> bool:
    return quantifier is not None and quantifier.high != 1


class PatternAnalyzer:
    """Checks the queries that have a MATCH clause: reads streams from `catalog`, types
    expressions with `typer` (the statement analyzer's own), reports into `diagnostics`."""

    def __init__(self, diagnostics: Diagnostics, catalog: StreamCatalog,
                 typer: ExpressionTyper) -> None:
        self.diagnostics = diagnostics
        self.catalog = catalog
        self.typer = typer
        self._error = diagnostics.error
        self._later = diagnostics.later

    def analyze(self, query: AnalyzedQuery) -> None:
        """Check the pattern query and fill in its outputs (errors go to diagnostics)."""
        select = query.statement
        match = select.match
        assert match is not None
        streams = self._pattern_sources(select)
        if streams is None:
            return
        for clause, span in (("WHERE", select.where), ("GROUP BY", (select.group_by or [None])[0]),
                             ("HAVING", select.having)):
            if span is not None:
                self._error(f"{clause} does not apply to a pattern query; put conditions in "
                            "DEFINE", span.span)
        if select.joins:
            self._error("JOIN does not apply to a pattern query; FROM may name several "
                        "streams, merged in event-time order", select.joins[0].span)
        if select.emit is not None:
            self._error("a pattern query emits one row per match; EMIT FINAL, CHANGES and "
                        "EVERY do not apply", select.span)
        variables: dict[str, _Variable] = {}
        self._collect_variables(match.pattern, streams, variables, repeated=False)
        self._check_partition(match, streams)
        self._check_repetitions(match)
        self._check_negations(match)
        self._check_greedy(match)
        self._check_untils(match)
        self._check_defines(match, variables)
        if match.after_match is not None and match.after_match.variable is not None:
            name = match.after_match.variable
            if name not in variables:
                self._error(f"AFTER MATCH {match.after_match.strategy} names {name}, which is "
                            f"not a pattern variable{did_you_mean(name, variables)}",
                            match.after_match.span)
        if match.within_ms is None and any(
                isinstance(n, (ast.PatternVariable, ast.PatternGroup)) and n.quantifier
                and n.quantifier.high is None for n in ast.pattern_nodes(match.pattern)):
            self.diagnostics.warn(
                "a loop without an upper bound and no WITHIN: partial matches can grow "
                "without bound (add WITHIN, or a bound such as {1,10})", match.span)
        self._match_outputs(query, match, variables)
        if match.timeouts_to is not None:
            # a timed-out partial match is emitted with the query's columns (NULL where its
            # variables were never bound), so the stream takes the query's schema
            declared = self.catalog.streams
            target = declared.get(match.timeouts_to)
            if target is None or target.is_table or target.built_in:
                self._error(f"EMIT TIMEOUTS TO needs a declared stream; "
                            f"{match.timeouts_to} is not one"
                            f"{did_you_mean(match.timeouts_to, declared)}", match.span)
            elif len(query.output_types) == len(query.outputs):
                self.catalog.bind_target(query, match.timeouts_to, match.span,
                                         declared=True)
        for stream in streams.values():
            if stream.event_time is None:
                self._error(f"stream {stream.name} has no event_time; patterns match in "
                            "event-time order, declare WITH (event_time = <TIMESTAMP "
                            "column>)", select.source.span)

    # ------------------------------------------------------------------ sources, variables

    def _pattern_sources(self, select: ast.Select) -> dict[str, StreamDef] | None:
        streams: dict[str, StreamDef] = {}
        for item in (select.source, *select.more_sources):
            stream = self.catalog.readable(item)
            if stream is None:
                return None
            if stream.is_table:
                self._error(f"table {stream.name} cannot be matched; patterns run over "
                            "streams", item.span)
                return None
            if item.alias is not None:
                self._error("aliases do not apply in a pattern query: pattern variables "
                            "name the events", item.span)
            streams[stream.name] = stream
        return streams

    def _collect_variables(self, node: ast.PatternNode, streams: dict[str, StreamDef],
                           variables: dict[str, _Variable], repeated: bool) -> None:
        if isinstance(node, ast.PatternVariable):
            if node.stream is not None and node.stream not in streams:
                self._error(f"{node.name}:{node.stream}: stream {node.stream} is not in FROM"
                            f"{did_you_mean(node.stream, streams)}", node.span)
                return
            if node.stream is None and len(streams) > 1:
                example = next(iter(streams))
                self._error(f"variable {node.name} needs its stream when FROM names several, "
                            f"e.g. {node.name}:{example}", node.span)
                return
            stream = streams[node.stream] if node.stream else next(iter(streams.values()))
            known = variables.get(node.name)
            if known is None:
                known = variables[node.name] = _Variable(node.name, stream, len(variables),
                                                         node.span)
            elif node.stream is not None and known.stream.name != node.stream:
                self._error(f"variable {node.name} is bound to stream {known.stream.name} "
                            f"elsewhere; one variable, one stream", node.span)
            if repeated or _repeats(node.quantifier):
                known.repeated = True
        elif isinstance(node, ast.PatternGroup):
            self._collect_variables(node.body, streams, variables,
                                    repeated or _repeats(node.quantifier))
        elif isinstance(node, ast.PatternNot):
            self._collect_variables(node.element, streams, variables, repeated)
            if isinstance(node.element, ast.PatternVariable) and node.element.name in variables:
                variables[node.element.name].negated = True
        elif isinstance(node, ast.PatternSequence):
            for element in node.elements:
                self._collect_variables(element, streams, variables, repeated)
        elif isinstance(node, ast.PatternAlternation):
            for branch in node.branches:
                self._collect_variables(branch, streams, variables, repeated)

    def _check_partition(self, match: ast.MatchClause, streams: dict[str, StreamDef]) -> None:
        for column in match.partition_by:
            if column.qualifier is not None:
                self._error("PARTITION BY takes plain column names, present in every FROM "
                            "stream", column.span)
                continue
            found: FrysType | None = None
            for stream in streams.values():
                columns = stream.columns or {}
                if column.name not in columns:
                    self._error(f"PARTITION BY column {column.name} is not in stream "
                                f"{stream.name}{did_you_mean(column.name, columns)}",
                                column.span)
                    break
                if found is not None and unify(found, columns[column.name]) is None:
                    self._error(f"PARTITION BY column {column.name} has different types in "
                                "the FROM streams", column.span)
                found = columns[column.name]
            else:  # in every stream: the key has the type it has there
                if found is not None:
                    self.typer.type_of(column, Scope([], extra={column.name: found}))

    def _check_repetitions(self, match: ast.MatchClause) -> None:
        for node in ast.pattern_nodes(match.pattern):
            if isinstance(node, (ast.PatternVariable, ast.PatternGroup)) and node.quantifier \
                    and node.quantifier.repetition is not None and node.quantifier.high == 1:
                keyword = REPETITION_KEYWORDS[node.quantifier.repetition]
                self._error(f"{keyword} says how a loop's repetitions are joined; "
                            f"{node.quantifier.text or '?'} does not repeat", node.span)

    def _check_negations(self, match: ast.MatchClause) -> None:
        for node in ast.pattern_nodes(match.pattern):
            if isinstance(node, ast.PatternNot) and not (
                    isinstance(node.element, ast.PatternVariable)
                    and node.element.quantifier is None):
                self._error("NOT takes a single variable without a quantifier", node.span)
        top = match.pattern
        elements = top.elements if isinstance(top, ast.PatternSequence) else (top,)
        if isinstance(elements[0], ast.PatternNot):
            self._error("a pattern cannot start with NOT: there is nothing to measure the "
                        "absence from", elements[0].span)
        elif isinstance(elements[-1], ast.PatternNot) and match.within_ms is None:
            assert isinstance(top, ast.PatternSequence)
            if top.contiguities[-1]:  # `a NOT x` at the end completes on the next event
                self._error("an absence at the end of a pattern (-> NOT x last) needs "
                            "WITHIN: how long to wait before the match is emitted",
                            elements[-1].span)
        for sequence in _sequences(match.pattern):
            for before, node in itertools.pairwise(sequence.elements):
                if isinstance(node, ast.PatternNot) and _optional(before):
                    # Flink: "Specifying a pattern with an optional path to NOT condition
                    # is not supported yet"
                    self._error("an optional element cannot come right before NOT (as in "
                                "Flink CEP, the NOT would apply on one path and not the "
                                "other); write two queries, one with and one without the "
                                "optional element", node.span)

    def _check_greedy(self, match: ast.MatchClause) -> None:
        """Flink's rules for greedy loops: an optional element cannot follow one; and a
        greedy loop takes every event its condition accepts, so an element after it whose
        condition implies the loop's can never match (a warning)."""
        defines = {d.variable: d.condition for d in match.defines}
        for sequence in _sequences(match.pattern):
            for position, (before, node) in enumerate(itertools.pairwise(sequence.elements)):
                before_it = (sequence.leading if position == 0
                             else sequence.contiguities[position - 1])
                if not ast.greedy_in_flink(before, before_it, position == 0):
                    continue
                assert isinstance(before, ast.PatternVariable)
                loop = f"{before.name}{before.quantifier.text if before.quantifier else ''}"
                if _optional(node):
                    # Flink: "Optional pattern cannot be preceded by greedy pattern"
                    self._error(f"an optional element cannot follow the greedy loop {loop} "
                                f"(as in Flink CEP); make the loop reluctant "
                                f"({loop}?) or the element mandatory", node.span)
                    continue
                following = _first_variable(node)
                if following is None:
                    continue
                loop_condition = defines.get(before.name)
                condition = defines.get(following.name)
                if loop_condition is None or (condition is not None and _conjuncts(
                        loop_condition, before.name) <= _conjuncts(condition, following.name)):
                    takes = ("every event" if loop_condition is None else
                             f"every event {before.name} accepts, and {following.name} "
                             "accepts only such events")
                    self.diagnostics.warn(
                        f"{following.name} can never match: the greedy loop {loop} takes "
                        f"{takes}; make the loop reluctant ({loop}?) or tell the two apart "
                        "in DEFINE", following.span)

    def _check_untils(self, match: ast.MatchClause) -> None:
        quantifiers = {n.name: n.quantifier for n in ast.pattern_nodes(match.pattern)
                       if isinstance(n, ast.PatternVariable)}
        for define in match.defines:
            if define.until is None or define.variable not in quantifiers:
                continue
            quantifier = quantifiers[define.variable]
            if quantifier is None or quantifier.high is not None:
                # Flink: "The until condition is only applicable to looping states."
                self._error(f"UNTIL ends a loop without an upper bound; {define.variable} "
                            f"is not one (write {define.variable}+, {define.variable}* or "
                            f"{define.variable}{{n,}})", define.until.span)

    # ------------------------------------------------------------------ DEFINE, SELECT

    def _check_defines(self, match: ast.MatchClause, variables: dict[str, _Variable]) -> None:
        seen: set[str] = set()
        for define in match.defines:
            variable = variables.get(define.variable)
            if variable is None:
                self._error(f"DEFINE {define.variable}: not a variable of the pattern"
                            f"{did_you_mean(define.variable, variables)}", define.span)
                continue
            if define.variable in seen:
                self._error(f"{define.variable} is defined twice", define.span)
            seen.add(define.variable)
            bound = {n: v for n, v in variables.items() if v.order <= variable.order}
            for condition, clause in ((define.condition, "DEFINE"), (define.until, "UNTIL")):
                if condition is None:
                    continue
                for node in walk(condition):
                    name = variable_named(node)
                    if name in variables and name not in bound:
                        self._error(f"DEFINE {define.variable} may refer only to variables "
                                    f"bound before it or to itself; {name} comes later",
                                    node.span)
                scope = Scope([v.relation() for v in bound.values()],
                              current=variable.relation(), pattern_variables=set(variables))
                self.typer.expect_bool(
                    self.typer.type_of(condition, scope, allow_aggregates=True), condition,
                    clause)

    def _match_outputs(self, query: AnalyzedQuery, match: ast.MatchClause,
                       variables: dict[str, _Variable]) -> None:
        extra = dict(MATCH_COLUMNS)
        for column in match.partition_by:
            first = next(iter(variables.values()), None)
            if first is not None and column.name in (first.stream.columns or {}):
                extra[column.name] = (first.stream.columns or {})[column.name]
        scope = Scope([v.relation() for v in variables.values() if not v.negated],
                      extra=extra, pattern_variables=set(variables))
        names: set[str] = set()
        for position, item in enumerate(query.statement.items, start=1):
            if item.expr is None:
                self._error("SELECT * does not apply to a pattern query; select variables' "
                            "columns, e.g. a.price", item.span)
                continue
            expr_type = self.typer.type_of(item.expr, scope, allow_aggregates=True)
            if isinstance(item.expr, ast.ColumnRef) and item.expr.name.upper() in MATCH_COLUMNS:
                default = item.expr.name.lower()
            else:
                default = default_output_name(item.expr, position)
            name = item.alias or default
            if name in names:
                self._error(f"output column {name} appears twice; name one with AS", item.span)
            names.add(name)
            query.outputs.append((name, item.expr))
            if expr_type is not None:
                query.output_types[name] = expr_type


# ---------------------------------------------------------------------- pattern shapes


def _sequences(node: ast.PatternNode):
    """Every sequence of the pattern (the top one and those inside groups), as sequences
    (a lone element is a sequence of one)."""
    for child in ast.pattern_nodes(node):
        if isinstance(child, ast.PatternSequence):
            yield child
    if not isinstance(node, ast.PatternSequence):
        yield ast.PatternSequence((node,), ())


def _optional(node: ast.PatternNode) -> bool:
    quantifier = node.quantifier if isinstance(node, (ast.PatternVariable,
                                                       ast.PatternGroup)) else None
    return quantifier is not None and quantifier.low == 0


def _first_variable(node: ast.PatternNode) -> ast.PatternVariable | None:
    if isinstance(node, ast.PatternVariable):
        return node
    if isinstance(node, ast.PatternGroup):
        return _first_variable(node.body)
    if isinstance(node, ast.PatternSequence):
        return _first_variable(node.elements[0])
    return None


def _conjuncts(condition: ast.Expr, variable: str) -> frozenset[ast.Expr]:
    """The AND-ed parts of a DEFINE condition, with the variable's own columns written
    unqualified (`b.price > 5` and `price > 5` are the same part)."""
    if isinstance(condition, ast.BinaryOp) and condition.op == "AND":
        return _conjuncts(condition.left, variable) | _conjuncts(condition.right, variable)
    return frozenset({_unqualified(condition, variable)})


def _unqualified(expr: Any, variable: str) -> Any:
    if isinstance(expr, ast.ColumnRef):
        return ast.ColumnRef(expr.name) if expr.qualifier == variable else expr
    if not dataclasses.is_dataclass(expr):
        return expr
    changes = {}
    for f in dataclasses.fields(expr):
        value = getattr(expr, f.name)
        if isinstance(value, ast.Expr):
            changes[f.name] = _unqualified(value, variable)
        elif isinstance(value, tuple) and any(isinstance(v, ast.Expr) for v in value):
            changes[f.name] = tuple(_unqualified(v, variable) for v in value)
    return dataclasses.replace(cast(Any, expr), **changes) if changes else expr
