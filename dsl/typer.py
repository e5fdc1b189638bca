"""Typing of expressions: every column, literal, operator and function call gets a FrysType,
written onto the node (`ast.Expr.type`), or an error naming the place. `ExpressionTyper` is
a component: the statement analyzer and the pattern analyzer each hold the same one.
"""

from __future__ import annotations

from dataclasses import dataclass

from frys.dsl import ast
from frys.dsl.analyzed import WINDOW_COLUMNS, AggregateCall, AnalyzedQuery, StreamDef
from frys.dsl.ast import walk
from frys.dsl.errors import Diagnostics, did_you_mean
from frys.dsl.types import (
    AGGREGATE_FUNCTIONS,
    LATER_AGGREGATES,
    LATER_WINDOWS,
    SCALAR_FUNCTIONS,
    TYPE_NAMES,
    WINDOW_FUNCTIONS,
    FrysType,
    literal_type,
    unify,
)


@dataclass(frozen=True)
class Relation:
    """One thing a query reads: a stream or table (named by its alias if it has one, as in
    SQL, else by its name) or a pattern variable. `label` is how messages name it
    ('stream trades', 'variable a')."""

    label: str
    qualifiers: frozenset[str]
    columns: dict[str, FrysType]

    @staticmethod
    def of(stream: StreamDef, alias: str | None = None) -> Relation:
        kind = "table" if stream.is_table else "stream"
        names = frozenset({alias or stream.name})
        return Relation(f"{kind} {stream.name}", names, stream.columns or {})


class Scope:
    """The columns a query's expressions may name.

    Unqualified names resolve, in order: to the window bounds in a windowed query (they
    shadow same-named columns), to `extra` pseudo-columns, to the `current` relation (the
    event a DEFINE condition is about), and then to the one relation that has the column;
    a column that two relations have must be qualified.
    """

    def __init__(self, relations: list[Relation], windowed: bool = False,
                 extra: dict[str, FrysType] | None = None,
                 current: Relation | None = None,
                 pattern_variables: set[str] | None = None) -> None:
        self.relations = relations
        self.windowed = windowed
        self.extra = extra or {}
        self.current = current
        # in a pattern query: every variable of the pattern (aggregates range over them)
        self.pattern_variables = pattern_variables

    @staticmethod
    def of_stream(stream: StreamDef, alias: str | None, windowed: bool) -> Scope:
        return Scope([Relation.of(stream, alias)], windowed)

    @property
    def qualifiers(self) -> list[str]:
        return sorted(q for r in self.relations for q in r.qualifiers)

    def has_column(self, name: str) -> bool:
        return any(name in r.columns for r in self.relations) or name in self.extra



class ExpressionTyper:
    """Types expressions against a Scope, reporting into `diagnostics`. `type_of` writes each
    known type onto its node, so an analyzed tree carries its types (see `annotate_type`)."""

    def __init__(self, diagnostics: Diagnostics) -> None:
        self.diagnostics = diagnostics
        self._error = diagnostics.error
        self._later = diagnostics.later

    def expect_bool(self, found: FrysType | None, expr: ast.Expr, clause: str) -> None:
        if found is not None and found not in (FrysType.BOOL, FrysType.NULL):
            self._error(f"{clause} needs a BOOL condition, got {found}", expr.span)

    def type_of(self, expr: ast.Expr, scope: Scope, allow_aggregates: bool = False,
                query: AnalyzedQuery | None = None, in_aggregate: bool = False
                ) -> FrysType | None:
        """The type of `expr`, recording errors; None when an error made it unknowable.
        Known types are written onto the nodes; with `query`, aggregates are listed in
        `query.aggregates`."""
        result = self._infer(expr, scope, allow_aggregates, query, in_aggregate)
        if result is not None:
            annotate_type(expr, result)
        return result

    def _infer(self, expr: ast.Expr, scope: Scope, allow_aggregates: bool,
               query: AnalyzedQuery | None, in_aggregate: bool) -> FrysType | None:

        def sub(e: ast.Expr, nested: bool = in_aggregate) -> FrysType | None:
            return self.type_of(e, scope, allow_aggregates, query, nested)

        if isinstance(expr, ast.Literal):
            return literal_type(expr.value)
        if isinstance(expr, ast.IntervalLiteral):
            return FrysType.INTERVAL
        if isinstance(expr, ast.ColumnRef):
            return self._column_type(expr, scope, in_aggregate)
        if isinstance(expr, ast.UnaryOp):
            operand = sub(expr.operand)
            if operand is None:
                return None
            if expr.op == "NOT":
                self.expect_bool(operand, expr.operand, "NOT")
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

    def _column_type(self, ref: ast.ColumnRef, scope: Scope, in_aggregate: bool
                     ) -> FrysType | None:
        if ref.qualifier is not None:
            relation = next((r for r in scope.relations if ref.qualifier in r.qualifiers), None)
            if relation is None:
                self._error(f"unknown stream or alias {ref.qualifier}"
                            f"{did_you_mean(ref.qualifier, scope.qualifiers)}", ref.span)
                return None
            if ref.name in relation.columns:
                return relation.columns[ref.name]
            self._error(f"unknown column '{ref.name}' in {relation.label}"
                        f"{did_you_mean(ref.name, relation.columns)}", ref.span)
            return None
        # In a windowed query the window bounds shadow stream columns of the same name (a
        # stream of window results has them); qualify the name to reach the column.
        if ref.name in WINDOW_COLUMNS and scope.windowed:
            if in_aggregate:
                self._error(f"{ref.name} cannot be used inside an aggregate; qualify it "
                            "with the stream to use the stream's column", ref.span)
            return FrysType.TIMESTAMP
        if ref.name in scope.extra:
            return scope.extra[ref.name]
        if scope.pattern_variables is not None and ref.name.upper() in scope.extra:
            return scope.extra[ref.name.upper()]  # MATCH_START, MATCH_END in any case
        if scope.current is not None and ref.name in scope.current.columns:
            return scope.current.columns[ref.name]
        owners = [r for r in scope.relations if ref.name in r.columns]
        if len(owners) == 1:
            return owners[0].columns[ref.name]
        if len(owners) > 1:
            names = " and ".join(sorted(min(r.qualifiers, key=len) for r in owners))
            self._error(f"column '{ref.name}' is ambiguous: {names} both have it; qualify it, "
                        f"e.g. {min(owners[0].qualifiers, key=len)}.{ref.name}", ref.span)
            return None
        candidates = [c for r in scope.relations for c in r.columns] + list(scope.extra)
        if scope.windowed:
            candidates += list(WINDOW_COLUMNS)
        hint = ""
        if ref.name in WINDOW_COLUMNS:
            hint = " (window_start and window_end need a window in GROUP BY)"
        where = " and ".join(r.label for r in scope.relations) or "this query"
        self._error(f"unknown column '{ref.name}' in {where}"
                    f"{did_you_mean(ref.name, candidates) or hint}", ref.span)
        return None

    def _binary_type(self, expr: ast.BinaryOp, left: FrysType | None,
                     right: FrysType | None) -> FrysType | None:
        if left is None or right is None:
            return None
        op = expr.op
        if op in ("AND", "OR"):
            self.expect_bool(left, expr.left, op)
            self.expect_bool(right, expr.right, op)
            return FrysType.BOOL
        if op == "||":
            if FrysType.INTERVAL in (left, right) or FrysType.ARRAY in (left, right):
                self._error(f"cannot concatenate {left} and {right}", expr.span)
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
                self.expect_bool(condition, when.condition, "WHEN")
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

    def _call_type(self, call: ast.FunctionCall, scope: Scope, allow_aggregates: bool,
                   query: AnalyzedQuery | None, in_aggregate: bool, sub) -> FrysType | None:
        name = call.name
        if name in WINDOW_FUNCTIONS or name in LATER_WINDOWS:
            self._error(f"{name} is a window and belongs in GROUP BY", call.span)
            return None
        if scope.pattern_variables is not None and (
                name in AGGREGATE_FUNCTIONS or name in LATER_AGGREGATES or name == "PREV"):
            return self._pattern_call_type(call, scope, in_aggregate, sub)
        if name == "PREV":
            self._error("PREV belongs in the DEFINE clause of a pattern", call.span)
            return None
        if name in LATER_AGGREGATES:
            self._later(f"aggregate {name}", call.span)
            return self._aggregate_type(call, allow_aggregates, query, in_aggregate, sub)
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

    def _pattern_call_type(self, call: ast.FunctionCall, scope: Scope, in_aggregate: bool,
                           sub) -> FrysType | None:
        """PREV and aggregates over pattern variables: `COUNT(b)`, `AVG(b.price)`,
        `LAST(b.price, 1)` (the one before the last), `PREV(price)` (the previous event of
        the partition, in DEFINE)."""
        name = call.name
        variables = scope.pattern_variables or set()
        if name == "PREV":
            if scope.current is None:
                self._error("PREV belongs in DEFINE: it is the event before the current one",
                            call.span)
                return None
            column = call.args[0] if call.args else None
            if (not isinstance(column, ast.ColumnRef) or len(call.args) > 2
                    or (len(call.args) == 2 and not _is_count_literal(call.args[1], 1))):
                self._error("PREV takes a column and an optional offset of at least 1, e.g. "
                            "PREV(price) or PREV(price, 2)", call.span)
                return None
            # the column of the previous event: resolved against the current variable only
            own = Scope([scope.current], current=scope.current,
                        pattern_variables=scope.pattern_variables)
            _annotate_parameters(call)
            return self.type_of(column, own, allow_aggregates=False, in_aggregate=True)
        if in_aggregate:
            self._error(f"aggregate {name} cannot be nested in another aggregate", call.span)
            return None
        if name in LATER_AGGREGATES:
            self._later(f"aggregate {name} in a pattern", call.span)
        if call.distinct:
            self._error("DISTINCT does not apply to aggregates over a match", call.span)
            return None
        if call.star:
            if name != "COUNT":
                self._error(f"{name}(*) is not valid; only COUNT(*) is", call.span)
                return None
            return FrysType.INT
        second = call.args[1] if len(call.args) == 2 else None
        fraction = (second.value if isinstance(second, ast.Literal)
                    and type(second.value) in (int, float) else None)
        offset_ok = (name in ("FIRST", "LAST") and second is not None
                     and _is_count_literal(second, 0)) or (
            name == "PERCENTILE" and isinstance(fraction, int | float) and 0 <= fraction <= 1)
        if len(call.args) != 1 and not offset_ok:
            extra = " and an optional offset" if name in ("FIRST", "LAST") else ""
            self._error(f"{name} takes one argument{extra}, e.g. {name}(b.price)", call.span)
            return None
        argument = call.args[0]
        _annotate_parameters(call)
        if (name == "COUNT" and isinstance(argument, ast.ColumnRef)
                and argument.qualifier is None and argument.name in variables):
            # COUNT(b): events bound to b so far; `b` stands for that count
            annotate_type(argument, FrysType.INT)
            return FrysType.INT
        referenced = {node.qualifier for node in walk(argument)
                      if isinstance(node, ast.ColumnRef) and node.qualifier in variables}
        if len(referenced) != 1:
            self._error(f"{name} over a match needs exactly one variable's columns, e.g. "
                        f"{name}(b.price)", argument.span)
            return None
        arg_type = sub(argument, True)
        if arg_type is None:
            return None
        if name == "COUNT":
            return FrysType.INT
        if name == "ARRAY_AGG":
            return FrysType.ARRAY
        if name in ("SUM", "AVG", "STDDEV", "VARIANCE", "PERCENTILE"):
            if not arg_type.is_numeric or arg_type == FrysType.NULL:
                self._error(f"{name} needs a numeric argument, got {arg_type}", call.span)
                return None
            return arg_type if name == "SUM" else FrysType.FLOAT
        return arg_type

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
        if name == "PERCENTILE":
            fraction = call.args[1] if len(call.args) == 2 else None
            if not (isinstance(fraction, ast.Literal) and isinstance(fraction.value, (int, float))
                    and not isinstance(fraction.value, bool) and 0 <= fraction.value <= 1):
                self._error("PERCENTILE takes a column and a fraction between 0 and 1, e.g. "
                            "PERCENTILE(latency, 0.99)", call.span)
                return None
        elif not call.star and len(call.args) != 1:
            self._error(f"{name} takes one argument, got {len(call.args)}", call.span)
            return None
        _annotate_parameters(call)
        arg_type = None if call.star else sub(call.args[0], True)
        if not call.star and arg_type is None:
            return None
        result: FrysType
        if name == "COUNT":
            result = FrysType.INT
        elif name in ("SUM", "AVG", "STDDEV", "VARIANCE", "PERCENTILE"):
            if not arg_type.is_numeric or arg_type == FrysType.NULL:  # type: ignore[union-attr]
                self._error(f"{name} needs a numeric argument, got {arg_type}", call.span)
                return None
            result = arg_type if name == "SUM" else FrysType.FLOAT  # type: ignore[assignment]
        elif name == "ARRAY_AGG":
            result = FrysType.ARRAY
        else:  # MIN MAX FIRST LAST
            if arg_type == FrysType.INTERVAL:
                self._error(f"{name} cannot aggregate an interval", call.span)
                return None
            result = arg_type  # type: ignore[assignment]
        if query is not None and not any(a.key == AggregateCall.key_of(call)
                                         for a in query.aggregates):
            query.aggregates.append(AggregateCall(
                f"__agg{len(query.aggregates)}", name, None if call.star else call.args[0],
                call.distinct, result, arg_type, AggregateCall.parameter_of(call)))
        return result


# ---------------------------------------------------------------------- helpers


def annotate_type(expr: ast.Expr, frys_type: FrysType) -> None:
    """Write the type onto the node: the one place a node's `type` changes, used only by
    the typer while it types (and by the analyzer for the parts it types itself: a
    join's interval). In place, although nodes are frozen: the analyzed job points
    into the parsed tree itself (AnalyzedQuery.statement, outputs, group keys, aggregate
    arguments, the pattern clause), so a rebuilt typed copy would have to be threaded
    through every one of those, and copying every tree would slow `frys check` down. A
    node's type is its type in the one context it has: the parser never puts one node
    object in two places (tests/test_typed_ast.py checks), and typing it again in the same
    analysis gives the same type. A Program analysed a second time is annotated again."""
    object.__setattr__(expr, "type", frys_type)


def _annotate_parameters(call: ast.FunctionCall) -> None:
    """Constant parameters after an aggregate's or PREV's first argument (an offset, a
    PERCENTILE fraction) are checked as literals, not typed as values; they get their
    literal's type, so that every node of a typed tree has one."""
    for parameter in call.args[1:]:
        if isinstance(parameter, ast.Literal):
            annotate_type(parameter, literal_type(parameter.value))


def _is_count_literal(expr: ast.Expr, minimum: int) -> bool:
    return (isinstance(expr, ast.Literal) and type(expr.value) is int
            and expr.value >= minimum)


def is_aggregate(expr: ast.Expr) -> bool:
    return isinstance(expr, ast.FunctionCall) and (
        expr.name in AGGREGATE_FUNCTIONS or expr.name in LATER_AGGREGATES)


def default_output_name(expr: ast.Expr, position: int) -> str:
    """The name of a SELECT item without AS: a column's name, a function's in lower case,
    else `column<position>`."""
    if isinstance(expr, ast.ColumnRef):
        return expr.name
    if isinstance(expr, ast.FunctionCall):
        return expr.name.lower()
    return f"column{position}"


def variable_named(node: ast.Expr) -> str | None:
    """The pattern variable an expression node refers to: `v.col`, or a bare `v`."""
    if isinstance(node, ast.ColumnRef):
        return node.qualifier if node.qualifier is not None else node.name
    return None
