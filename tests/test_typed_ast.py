"""Typed syntax trees: after analysis every expression node carries its type, every optimizer
rule keeps it so, and the operators read types from the nodes (no id(node) tables). Also:
`ast.children`/`walk` against a reflection-based traversal, constant folding of CAST
against what polars computes, and the analyzer's parts used on their own."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import frys
from frys.connectors.registry import check_uri as registry_check_uri
from frys.dsl import ast, compile_text
from frys.dsl.analyzed import StreamDef
from frys.dsl.analyzer import analyze, any_uri
from frys.dsl.catalog import StreamCatalog
from frys.dsl.errors import Diagnostics, FrysAnalysisError, FrysError, UriProblem
from frys.dsl.logical import Aggregate, Filter, Join, LogicalNode, Match, Project, build, children
from frys.dsl.optimizer import RULES
from frys.dsl.optimizer.constant_folding import UNFOLDED, cast_constant, fold
from frys.dsl.parser import parse
from frys.dsl.typer import ExpressionTyper, Scope
from frys.dsl.types import WINDOW_FUNCTIONS, FrysType, literal_type
from frys.engine.graph import (
    FilterProjectSpec,
    IntervalJoinSpec,
    PatternMatchSpec,
    TableJoinSpec,
    TableScanSpec,
    WindowJoinSpec,
)
from frys.engine.planner import plan
from frys.operators.expressions import to_polars

TESTS = Path(__file__).resolve().parent
IDENTITY = [line.rstrip(";") for line in (TESTS / "fixtures" / "identity.frysql").read_text()
            .splitlines() if line.strip() and not line.startswith("--")]
OPTIMIZER_FIXTURES = sorted((TESTS / "fixtures" / "optimizer").glob("*.frysql"))
JOBS = sorted((TESTS.parent / "queries").glob("*.frysql"))

# the streams the fixture statements read (identity.frysql and the optimizer fixtures)
PRELUDE = (
    "CREATE STREAM trades (symbol STRING, price FLOAT, volume INT, ok BOOL, ts TIMESTAMP)"
    " WITH (event_time = ts);\n"
    "CREATE STREAM orders (id INT, user_id STRING, amount FLOAT, ts TIMESTAMP)"
    " WITH (event_time = ts);\n"
    "CREATE STREAM shipments (order_id INT, at TIMESTAMP, ts TIMESTAMP)"
    " WITH (event_time = ts);\n"
    "CREATE TABLE users (id STRING PRIMARY KEY, tier STRING);\n"
    "CREATE STREAM logins (user STRING, ok BOOL, country STRING, ts TIMESTAMP)"
    " WITH (event_time = ts);\n"
    "CREATE STREAM payments (user STRING, amount FLOAT, country STRING, ts TIMESTAMP)"
    " WITH (event_time = ts);\n"
    "CREATE STREAM s (v FLOAT, ts TIMESTAMP) WITH (event_time = ts);\n"
    "CREATE STREAM alerts (symbol STRING, avg_price FLOAT);\n"
    "CREATE STREAM fraud_alerts (user STRING, first_failure TIMESTAMP, failures INT,"
    " amount FLOAT);\n"
    "CREATE STREAM timed_out (v FLOAT);\n"
)


def _fixture_queries() -> list[str]:
    queries = [s for s in IDENTITY if not s.startswith(("CREATE STREAM", "CREATE TABLE"))]
    for path in OPTIMIZER_FIXTURES:
        body = [line for line in path.read_text().splitlines() if not line.startswith("--")]
        for block in "\n".join(body).strip().split("\n\n"):
            queries.append(block.strip().split("\n", 1)[0].rstrip(";"))
    return queries


FIXTURE_QUERIES = _fixture_queries()


def _analyzes(query: str) -> bool:
    try:
        compile_text(PRELUDE + query, "q.frysql", runnable=False)
    except FrysAnalysisError:
        return False
    return True


# identity.frysql holds statements for printing; two of them break pattern rules (an
# optional element after a greedy loop, UNTIL on a bounded loop) and do not analyze
ANALYZABLE = [query for query in FIXTURE_QUERIES if _analyzes(query)]


def _is_window_call(expr: ast.Expr) -> bool:
    return isinstance(expr, ast.FunctionCall) and expr.name in WINDOW_FUNCTIONS


def plan_expressions(node: LogicalNode) -> Iterator[ast.Expr]:
    """Every expression of a logical plan that is computed on events (a window call in
    GROUP BY describes the window; it is not a value)."""
    if isinstance(node, Filter):
        yield node.predicate
    elif isinstance(node, Join):
        yield node.condition
    elif isinstance(node, Aggregate):
        yield from (e for e in node.group_by if not _is_window_call(e))
        yield from (e for _, e in node.keys)
        yield from (a.argument for a in node.aggregates if a.argument is not None)
        if node.having is not None:
            yield node.having
    elif isinstance(node, Project):
        yield from (e for _, e in node.outputs)
        yield from (i.expr for i in node.items if i.expr is not None)
    elif isinstance(node, Match):
        yield from node.clause.partition_by
        for define in node.clause.defines:
            yield define.condition
            if define.until is not None:
                yield define.until
    for child in children(node):
        yield from plan_expressions(child)


def spec_expressions(spec) -> Iterator[ast.Expr]:
    """Every expression a plan node hands to its operator."""
    if isinstance(spec, FilterProjectSpec):
        if spec.where is not None:
            yield spec.where
        yield from (e for _, e in spec.outputs)
    elif isinstance(spec, PatternMatchSpec):
        yield from (e for _, e in spec.outputs)
        for define in spec.match.defines:
            yield define.condition
            if define.until is not None:
                yield define.until
    elif isinstance(spec, IntervalJoinSpec | WindowJoinSpec):
        for part in (spec.left.where, spec.right.where, spec.residual, spec.where):
            if part is not None:
                yield part
        yield from (e for pair in spec.keys for e in pair)
        yield from (e for _, e in spec.outputs)
    elif isinstance(spec, TableJoinSpec | TableScanSpec):
        if spec.where is not None:
            yield spec.where
        if isinstance(spec, TableJoinSpec):
            yield spec.key
        yield from (e for _, e in spec.outputs)
    else:  # a window kind's spec: its clauses
        clauses = spec.clauses
        if clauses.where is not None:
            yield clauses.where
        yield from (e for _, e in clauses.outputs)
        yield from (e for _, e in clauses.group_keys)
        yield from (a.argument for a in clauses.aggregates if a.argument is not None)
        if clauses.having is not None:
            yield clauses.having


def _analyzed(query: str):
    return compile_text(PRELUDE + query, "q.frysql", runnable=False)


# ---------------------------------------------------------------------- the typed tree


def test_nearly_every_fixture_query_analyzes() -> None:
    assert len(FIXTURE_QUERIES) - len(ANALYZABLE) == 2


@pytest.mark.parametrize("query", ANALYZABLE)
def test_fixture_queries_are_typed_after_analysis_and_after_every_rule(query: str) -> None:
    job = _analyzed(query)
    query_plan = build(job.queries[-1])
    expressions = list(plan_expressions(query_plan))
    assert expressions, "every fixture query computes something"
    for expr in expressions:
        ast.assert_typed(expr)
    for _name, rule in RULES:
        query_plan = rule(query_plan, job.streams)
        for expr in plan_expressions(query_plan):
            ast.assert_typed(expr)


@pytest.mark.parametrize("job_path", JOBS, ids=lambda p: p.name)
def test_example_jobs_hand_typed_expressions_to_their_operators(job_path: Path) -> None:
    job = compile_text(job_path.read_text(), str(job_path))
    for query in job.queries:
        query_plan = build(query)
        for _name, rule in ((None, lambda p, _: p), *RULES):
            query_plan = rule(query_plan, job.streams)
            for expr in plan_expressions(query_plan):
                ast.assert_typed(expr)
    graph = plan(job)
    assert graph.queries
    for query in graph.queries:
        expressions = list(spec_expressions(query.operator))
        assert expressions
        for expr in expressions:
            ast.assert_typed(expr)


def test_types_are_those_the_analyzer_found() -> None:
    job = _analyzed("SELECT volume + 1 AS a, price / 2 AS b, CAST(volume AS STRING) AS c, "
                    "symbol LIKE 'A%' AS d, COUNT(*) AS n FROM trades "
                    "GROUP BY volume + 1, price / 2, CAST(volume AS STRING), symbol LIKE 'A%', "
                    "TUMBLE(1 MINUTE)")
    outputs = dict(job.queries[0].outputs)
    assert {name: expr.type for name, expr in outputs.items()} == job.queries[0].output_types
    plus = outputs["a"]
    assert isinstance(plus, ast.BinaryOp)
    assert (plus.left.type, plus.right.type) == (FrysType.INT, FrysType.INT)
    cast = outputs["c"]
    assert isinstance(cast, ast.Cast) and cast.operand.type == FrysType.INT
    assert cast.type == FrysType.STRING


def test_select_star_columns_and_pattern_parameters_are_typed() -> None:
    job = _analyzed("SELECT * FROM trades")
    assert {name: e.type for name, e in job.queries[0].outputs} == {
        "symbol": FrysType.STRING, "price": FrysType.FLOAT, "volume": FrysType.INT,
        "ok": FrysType.BOOL, "ts": FrysType.TIMESTAMP}
    job = _analyzed("SELECT COUNT(b) AS n, LAST(b.v, 1) AS before_last FROM s "
                    "PARTITION BY v PATTERN (a b+) WITHIN 1 MINUTE DEFINE b AS b.v > PREV(v, 2)")
    count, last = (e for _, e in job.queries[0].outputs)
    assert isinstance(count, ast.FunctionCall) and count.args[0].type == FrysType.INT
    assert isinstance(last, ast.FunctionCall) and last.args[1].type == FrysType.INT
    assert job.queries[0].statement.match.partition_by[0].type == FrysType.FLOAT


def test_type_takes_no_part_in_equality_or_printing() -> None:
    plain = ast.BinaryOp("+", ast.Literal(1), ast.Literal(2))
    typed = ast.BinaryOp("+", ast.Literal(1, type=FrysType.INT),
                         ast.Literal(2, type=FrysType.INT), type=FrysType.INT)
    assert plain == typed and hash(plain) == hash(typed)
    assert repr(plain) == repr(typed)
    assert dataclasses.replace(typed, op="-").type == FrysType.INT


def test_the_parser_never_puts_one_node_in_two_places() -> None:
    """What makes typing in place sound: each node object has exactly one context."""
    for path in JOBS:
        program = parse(path.read_text())
        nodes = [id(n) for statement in program.statements for n in reflected_nodes(statement)]
        assert len(nodes) == len(set(nodes)), path.name
    for query in FIXTURE_QUERIES:
        (statement,) = parse(query).statements
        nodes = [id(n) for n in reflected_nodes(statement)]
        assert len(nodes) == len(set(nodes)), query


def test_analysing_a_program_again_gives_the_same_types() -> None:
    program = parse(PRELUDE + FIXTURE_QUERIES[1])
    first = analyze(program, "q.frysql")
    types = [(e, e.type) for _, expr in first.queries[-1].outputs for e in ast.walk(expr)]
    analyze(program, "q.frysql")
    assert all(node.type == found for node, found in types)


def test_an_untyped_tree_fails_the_invariant_and_the_compiler_refuses_its_cast() -> None:
    (statement,) = parse("SELECT CAST(a AS INT) AS x FROM s").statements
    cast = statement.items[0].expr
    with pytest.raises(AssertionError, match="untyped expression nodes"):
        ast.assert_typed(cast)
    with pytest.raises(ValueError, match="untyped operand"):
        to_polars(cast)


# ---------------------------------------------------------------------- children and walk


def reflected_children(node: object) -> list[ast.Expr]:
    """The expressions directly inside a node, found by reflection over its dataclass
    fields (directly, in a tuple, or inside a non-expression node such as CaseWhen)."""
    found: list[ast.Expr] = []

    def visit(value: object) -> None:
        if isinstance(value, ast.Expr):
            found.append(value)
        elif isinstance(value, tuple):
            for item in value:
                visit(item)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for field in dataclasses.fields(value):
                visit(getattr(value, field.name))

    for field in dataclasses.fields(node):  # type: ignore[arg-type]
        if field.name not in ("type", "span", "type_span"):
            visit(getattr(node, field.name))
    return found


def reflected_nodes(node: object) -> list[ast.Expr]:
    """Every expression node under (and including, if it is one) `node`, by reflection."""
    found = [node] if isinstance(node, ast.Expr) else []
    if dataclasses.is_dataclass(node):
        for field in dataclasses.fields(node):
            if field.name in ("type", "span", "type_span"):
                continue
            value = getattr(node, field.name)
            for item in value if isinstance(value, tuple) else (value,):
                if dataclasses.is_dataclass(item) and not isinstance(item, type):
                    found += reflected_nodes(item)
    return found


def _expression_classes() -> set[type]:
    classes, todo = set(), [ast.Expr]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            classes.add(sub)
            todo.append(sub)
    return classes


CORPUS = [item.expr for query in FIXTURE_QUERIES for statement in parse(query).statements
          for select in [statement.query if isinstance(statement, ast.InsertInto)
                         else statement]
          for item in select.items if item.expr is not None] + [
    e for query in FIXTURE_QUERIES for statement in parse(query).statements
    for select in [statement.query if isinstance(statement, ast.InsertInto) else statement]
    for e in ([select.where] if select.where is not None else [])
    + [d.condition for d in (select.match.defines if select.match else ())]] + [
    parse("SELECT CASE v WHEN 1 THEN 2 WHEN 3 THEN 4 ELSE 5 END, v BETWEEN 1 AND 2, "
          "s LIKE 'a%', v IS NOT NULL, v IN (1, 2, v + 1), -v, NOT ok, "
          "SUBSTR(s, 1 + 1, CAST(v AS INT)), 10 SECONDS FROM t").statements[0].items[i].expr
    for i in range(9)]


def test_every_expression_class_has_its_children_and_the_corpus_has_every_class() -> None:
    classes = _expression_classes()
    assert classes == {type(n) for expr in CORPUS for n in ast.walk(expr)}
    for cls in classes:
        assert cls in ast._CHILDREN, f"ast.children does not know {cls.__name__}"


@pytest.mark.parametrize("expr", CORPUS, ids=lambda e: type(e).__name__)
def test_walk_visits_exactly_the_nodes_reflection_finds(expr: ast.Expr) -> None:
    assert Counter(map(id, ast.walk(expr))) == Counter(map(id, reflected_nodes(expr)))
    for node in ast.walk(expr):
        assert Counter(map(id, ast.children(node))) == \
            Counter(map(id, reflected_children(node)))


@pytest.mark.parametrize("expr", CORPUS, ids=lambda e: type(e).__name__)
def test_walk_goes_parents_first_in_written_order(expr: ast.Expr) -> None:
    visited = list(ast.walk(expr))
    position = {id(n): i for i, n in enumerate(visited)}
    for node in visited:
        kids = ast.children(node)
        starts = [(k.span.line, k.span.column) for k in kids]
        assert starts == sorted(starts), f"children of {node!r} out of written order"
        for kid in kids:
            assert position[id(kid)] > position[id(node)]
        # pre-order: a node's subtree is contiguous, right after it
        subtree = list(ast.walk(node))
        at = position[id(node)]
        assert [id(n) for n in visited[at:at + len(subtree)]] == [id(n) for n in subtree]


def test_walk_is_iterative() -> None:
    chain: ast.Expr = ast.ColumnRef("x")
    for _ in range(5000):
        chain = ast.UnaryOp("-", chain)
    assert sum(1 for _ in ast.walk(chain)) == 5001


def test_children_refuses_what_is_not_an_expression() -> None:
    with pytest.raises(TypeError, match="not an expression node"):
        ast.children(ast.FromStream("s"))  # type: ignore[arg-type]


# ---------------------------------------------------------------------- folding CAST


def _typed_literal(value: object) -> ast.Literal:
    return ast.Literal(value, type=literal_type(value))  # type: ignore[arg-type]


def _runtime_cast(value: object, target: FrysType) -> object:
    """What the runtime computes for CAST(value AS target), value a literal."""
    cast = ast.Cast(_typed_literal(value), target.value, type=target)
    return pl.select(to_polars(cast).alias("x"))["x"][0]


def _evaluated(literal: ast.Literal) -> object:
    return pl.select(to_polars(literal).alias("x"))["x"][0]


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (a == b and math.copysign(1, a) == math.copysign(1, b)) or (a != a and b != b)
    return type(a) is type(b) and a == b


TARGETS = st.sampled_from([FrysType.INT, FrysType.FLOAT, FrysType.BOOL, FrysType.STRING])
NUMERIC_TEXT = st.one_of(
    st.integers(-(10 ** 20), 10 ** 20).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    st.from_regex(r"[+-]?[0-9]{1,20}(\.[0-9]{0,16})?", fullmatch=True),
    st.sampled_from(["true", "FALSE", "True", " 1", "1 ", "1_000", "0x10", "1e3", "inf",
                     "nan", "", "-", "+", ".5", "5.", "٣", "ｔｒｕｅ"]),
)
CONSTANTS = st.one_of(
    st.booleans(),
    st.integers(-(2 ** 63), 2 ** 63 - 1),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.floats(min_value=-1e6, max_value=1e6).map(lambda x: round(x * 2) / 4),  # ties
    NUMERIC_TEXT,
    st.text(max_size=8),
)


@settings(max_examples=400, deadline=None)
@given(CONSTANTS, TARGETS)
def test_a_folded_cast_is_what_polars_computes(value: object, target: FrysType) -> None:
    folded = cast_constant(value, target)
    if folded is UNFOLDED:
        return
    assert literal_type(folded) == target
    runtime = _runtime_cast(value, target)
    assert _same(folded, runtime), (value, target, folded, runtime)
    # and the folded literal, compiled, gives that value too
    assert _same(_evaluated(ast.Literal(folded, type=target)), runtime)  # type: ignore


@pytest.mark.parametrize(("value", "target"), [
    (1e300, FrysType.INT), (-1e19, FrysType.INT), (2.0 ** 63, FrysType.INT),
    ("99999999999999999999", FrysType.INT), ("1e400", FrysType.INT),
    (None, FrysType.INT), (0.1, FrysType.STRING), ("2024-01-01", FrysType.TIMESTAMP),
    (5, FrysType.TIMESTAMP), ("maybe", FrysType.BOOL)])
def test_casts_the_runtime_makes_null_or_formats_its_own_way_stay_unfolded(
        value: object, target: FrysType) -> None:
    assert cast_constant(value, target) is UNFOLDED


def test_out_of_range_casts_are_null_at_run_time() -> None:
    assert _runtime_cast(1e300, FrysType.INT) is None
    assert _runtime_cast("99999999999999999999", FrysType.INT) is None


def test_fold_rewrites_a_typed_cast_into_a_typed_literal() -> None:
    job = _analyzed("SELECT CAST(1 AS DOUBLE) AS a, CAST('12' AS BIGINT) AS b, "
                    "CAST(price AS INT) AS c, CAST(1 + 1 AS STRING) AS d FROM trades")
    folded = {name: fold(expr) for name, expr in job.queries[0].outputs}
    assert folded["a"] == ast.Literal(1.0) and folded["a"].type == FrysType.FLOAT
    assert folded["b"] == ast.Literal(12) and folded["b"].type == FrysType.INT
    assert folded["d"] == ast.Literal("2") and folded["d"].type == FrysType.STRING
    assert isinstance(folded["c"], ast.Cast)
    for expr in folded.values():
        ast.assert_typed(expr)


# each literal, its column type, and the target: folded in a job, and cast from a column
# holding the same value in that job (which cannot fold) -- the two must agree
THROUGH_A_JOB = [
    ("1", 1, "INT", "DOUBLE"), ("'12'", "12", "STRING", "BIGINT"),
    ("-2.5", -2.5, "FLOAT", "INT"), ("2.5", 2.5, "FLOAT", "INTEGER"),
    ("'-0.5'", "-0.5", "STRING", "INT"), ("'3.25'", "3.25", "STRING", "FLOAT"),
    ("'TRUE'", "TRUE", "STRING", "BOOL"), ("0", 0, "INT", "BOOL"), ("TRUE", True, "BOOL", "INT"),
    ("FALSE", False, "BOOL", "STRING"), ("-17", -17, "INT", "STRING"),
    ("0.0", 0.0, "FLOAT", "BOOL"), ("9223372036854775807", 9223372036854775807, "INT", "FLOAT"),
    ("1e300", 1e300, "FLOAT", "INT"), ("'99999999999999999999'", "99999999999999999999",
                                        "STRING", "INT"),
]


def test_folded_casts_agree_with_casts_evaluated_by_a_real_job() -> None:
    columns = ", ".join(f"c{i} {kind}" for i, (_, _, kind, _) in enumerate(THROUGH_A_JOB))
    selected = ", ".join(f"CAST({literal} AS {target}) AS f{i}, CAST(c{i} AS {target}) AS e{i}"
                         for i, (literal, _, _, target) in enumerate(THROUGH_A_JOB))
    text = f"CREATE STREAM s ({columns});\nSELECT {selected} FROM s"
    folded_outputs = dict(plan(compile_text(text)).queries[0].operator.outputs)
    folded = [i for i in range(len(THROUGH_A_JOB))
              if isinstance(folded_outputs[f"f{i}"], ast.Literal)]
    assert len(folded) == len(THROUGH_A_JOB) - 2  # all but the out-of-range two
    pipeline = frys.Pipeline.from_text(text)
    pipeline.publish("s", [{f"c{i}": value for i, (_, value, _, _) in enumerate(THROUGH_A_JOB)}])
    pipeline.finish()
    (row,) = pipeline.results("select_1").to_dicts()
    for i, case in enumerate(THROUGH_A_JOB):
        assert _same(row[f"f{i}"], row[f"e{i}"]), (case, row[f"f{i}"], row[f"e{i}"])
    assert row[f"f{len(THROUGH_A_JOB) - 1}"] is None


# ---------------------------------------------------------------------- composition


def _select_item(text: str) -> ast.Expr:
    (statement,) = parse(f"SELECT {text} FROM s").statements
    expr = statement.items[0].expr
    assert expr is not None
    return expr


def test_a_typer_on_its_own_types_an_expression_against_a_small_catalog() -> None:
    diagnostics = Diagnostics()
    catalog = StreamCatalog(diagnostics)
    catalog.declare(StreamDef("s", {"n": FrysType.INT, "name": FrysType.STRING}))
    typer = ExpressionTyper(diagnostics)
    scope = Scope.of_stream(catalog.streams["s"], None, windowed=False)
    expr = _select_item("CASE WHEN n > 1 THEN n * 2.5 ELSE 0 END")
    assert typer.type_of(expr, scope) == FrysType.FLOAT
    ast.assert_typed(expr)
    assert diagnostics.errors == []
    wrong = _select_item("UPPER(n) || nme")
    assert typer.type_of(wrong, scope) is None
    assert [d.message for d in diagnostics.errors] == [
        "UPPER needs a STRING, got INT",
        "unknown column 'nme' in stream s (did you mean 'name'?)"]


def test_the_catalog_reads_and_binds_streams_reporting_into_its_diagnostics() -> None:
    diagnostics = Diagnostics()
    catalog = StreamCatalog(diagnostics)
    assert set(catalog.streams) == {"dead_letters", "overflow"}
    catalog.declare(StreamDef("late", None))
    assert catalog.readable(ast.FromStream("nope")) is None
    assert catalog.readable(ast.FromStream("late")) is None
    assert [d.message for d in diagnostics.errors] == [
        "unknown stream nope",
        "the schema of stream late is not known yet: put the query that writes to it "
        "before this one"]


def test_diagnostics_collects_errors_later_and_warnings() -> None:
    diagnostics = Diagnostics()
    span = ast.Literal(1).span
    diagnostics.error("bad", span)
    diagnostics.later("thing", span)
    diagnostics.warn("careful", span)
    assert [(d.message, d.severity) for d in diagnostics.errors] == [("bad", "error")]
    assert [d.message for d in diagnostics.not_supported] == ["not supported yet: thing at 0:0"]
    assert [(d.message, d.severity) for d in diagnostics.warnings] == [("careful", "warning")]


def test_the_uri_checker_is_injected_and_told_the_role() -> None:
    seen: list[tuple[str, str]] = []

    def checker(uri: str, role: str) -> UriProblem | None:
        seen.append((uri, role))
        if uri.startswith("nope:"):
            return UriProblem(f"no {role} like {uri}")
        if uri.startswith("soon:"):
            return UriProblem(f"connector soon: as a {role}", not_supported=True)
        return None

    text = ("CREATE STREAM a (x INT) WITH (source = 'soon:x', sink = 'anything:y');\n"
            "CREATE STREAM b (x INT) WITH (sink = 'nope:z');\n")
    with pytest.raises(FrysAnalysisError, match="no sink like nope:z"):
        analyze(parse(text), check_uri=checker)
    assert seen == [("soon:x", "source"), ("anything:y", "sink"), ("nope:z", "sink")]
    job = analyze(parse(text.splitlines()[0]), check_uri=checker)
    assert [d.message for d in job.not_supported] == [
        "not supported yet: connector soon: as a source at 1:31"]


@pytest.mark.parametrize("uri", ["file:data/x.xml", "kafka:topic", "ftp:x", "nothing"])
def test_the_language_alone_takes_every_uri_and_frys_compile_text_checks_them(uri: str
                                                                            ) -> None:
    """dsl/ knows no connectors: its default checker takes any URI; the compile the command
    line and the API use (frys.compile_text) asks the connector registry."""
    text = f"CREATE STREAM a (x INT) WITH (source = '{uri}');\n"
    assert any_uri(uri, "source") is None
    assert compile_text(text, runnable=False).not_supported == []
    with pytest.raises(FrysError) as caught:
        frys.compile_text(text)
    problem = registry_check_uri(uri, "source")
    assert problem is not None
    assert problem.message in str(caught.value)


def test_pattern_and_statement_analyzers_share_one_typer_and_collector() -> None:
    from frys.dsl.analyzer import Analyzer

    analyzer = Analyzer(parse(PRELUDE), "q.frysql", PRELUDE)
    assert analyzer.patterns.typer is analyzer.typer
    assert analyzer.patterns.diagnostics is analyzer.diagnostics is analyzer.typer.diagnostics
    assert analyzer.patterns.catalog is analyzer.catalog
    assert analyzer.streams is analyzer.catalog.streams


@pytest.mark.parametrize("expr", CORPUS, ids=lambda e: type(e).__name__)
def test_replace_columns_reaches_every_column_and_keeps_the_rest(expr: ast.Expr) -> None:
    # every class has its subexpression fields listed (a missing one would raise KeyError)
    assert set(ast._EXPRESSION_FIELDS) == _expression_classes()
    renamed = ast.replace_columns(
        expr, lambda ref: ast.ColumnRef(f"x.{ref.name}", None, span=ref.span, type=ref.type))
    before = [n for n in ast.walk(expr)]
    after = [n for n in ast.walk(renamed)]
    assert [type(n) for n in after] == [type(n) for n in before]
    for old, new in zip(before, after, strict=True):
        assert new.type == old.type
        if isinstance(old, ast.ColumnRef):
            assert (new.name, new.qualifier) == (f"x.{old.name}", None)
    # nothing to replace: the very same tree comes back
    assert ast.replace_columns(expr, lambda ref: None) is expr
