"""Random valid queries (hypothesis): each one checks cleanly, prints back to the same tree,
survives the optimizer with the same printed meaning, and runs on a few events."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import frys
from frys.dsl import ast, compile_text
from frys.dsl.parser import parse
from frys.dsl.printer import statement_to_sql

SCHEMA = ("CREATE STREAM trades (symbol STRING, price FLOAT, volume INT, ok BOOL, ts TIMESTAMP)"
          " WITH (event_time = ts);\n")
EVENTS = [{"symbol": s, "price": p, "volume": v, "ok": o, "ts": t}
          for s, p, v, o, t in [("A", 10.5, 3, True, 1000), ("B", -2.0, 0, False, 1500),
                                ("A", 0.0, 7, None, 2500), (None, 99.0, None, True, 4000)]]

column = ast.ColumnRef
_numbers = st.recursive(
    st.one_of(st.sampled_from([column("price"), column("volume")]),
              st.builds(ast.Literal, st.integers(0, 100)),
              st.builds(ast.Literal,
                        st.floats(0, 100, allow_nan=False).map(lambda f: round(f, 2)))),
    lambda inner: st.one_of(
        st.builds(ast.BinaryOp, st.sampled_from(["+", "-", "*", "/", "%"]), inner, inner),
        st.builds(ast.FunctionCall, st.sampled_from(["ABS", "FLOOR", "CEIL"]),
                  st.tuples(inner)),
        st.builds(ast.FunctionCall, st.just("COALESCE"), st.tuples(inner, inner))),
    max_leaves=5)
_strings = st.recursive(
    st.one_of(st.just(column("symbol")),
              st.builds(ast.Literal, st.text("abcXYZ '%_", max_size=4))),
    lambda inner: st.one_of(
        st.builds(ast.FunctionCall, st.sampled_from(["UPPER", "LOWER"]), st.tuples(inner)),
        st.builds(ast.BinaryOp, st.just("||"), inner, inner)),
    max_leaves=3)
_booleans = st.recursive(
    st.one_of(
        st.just(column("ok")),
        st.builds(ast.BinaryOp, st.sampled_from(["=", "<>", "<", "<=", ">", ">="]),
                  _numbers, _numbers),
        st.builds(ast.InList, _strings, st.tuples(_strings, _strings), st.booleans()),
        st.builds(ast.Between, _numbers, _numbers, _numbers, st.booleans()),
        st.builds(ast.Like, _strings, st.builds(ast.Literal, st.sampled_from(["A%", "_", "%x"])),
                  st.booleans()),
        st.builds(ast.IsNull, st.sampled_from([column("price"), column("symbol")]),
                  st.booleans())),
    lambda inner: st.one_of(
        st.builds(ast.BinaryOp, st.sampled_from(["AND", "OR"]), inner, inner),
        st.builds(ast.UnaryOp, st.just("NOT"), inner)),
    max_leaves=4)


@st.composite
def stateless_queries(draw) -> ast.Select:
    expressions = draw(st.lists(st.one_of(_numbers, _strings, _booleans), min_size=1,
                                max_size=4))
    items = tuple(ast.SelectItem(e, f"c{i}") for i, e in enumerate(expressions))
    where = draw(st.none() | _booleans)
    return ast.Select(items, ast.FromStream("trades"), where)


@st.composite
def windowed_queries(draw) -> ast.Select:
    functions = draw(st.lists(st.sampled_from(["SUM", "AVG", "MIN", "MAX", "FIRST", "LAST",
                                               "STDDEV", "COUNT"]), min_size=1, max_size=4))
    aggregates = [ast.FunctionCall(f, (draw(_numbers),)) for f in functions]
    items = (ast.SelectItem(column("symbol")), ast.SelectItem(column("window_start")),
             *(ast.SelectItem(a, f"a{i}") for i, a in enumerate(aggregates)))
    size = draw(st.sampled_from([500, 1000, 2000]))
    having = draw(st.none() | st.builds(
        ast.BinaryOp, st.just(">"), st.just(ast.FunctionCall("COUNT", star=True)),
        st.builds(ast.Literal, st.integers(0, 2))))
    return ast.Select(items, ast.FromStream("trades"), draw(st.none() | _booleans),
                      (column("symbol"), ast.FunctionCall("TUMBLE", (ast.IntervalLiteral(size),))),
                      having)


@settings(max_examples=80, deadline=None)
@given(st.one_of(stateless_queries(), windowed_queries()))
def test_generated_queries_check_round_trip_and_run(query: ast.Select) -> None:
    text = statement_to_sql(query)
    (parsed,) = parse(text).statements
    assert parsed == query, text
    job = compile_text(SCHEMA + text, "generated.frysql")
    assert job.queries and not job.not_supported
    pipeline = frys.Pipeline.from_text(SCHEMA + text)
    for event in EVENTS:
        pipeline.publish("trades", [event])
    pipeline.finish()
    result = pipeline.results("select_1")
    assert list(result.columns) == [name for name, _ in job.queries[0].outputs]
    if query.where is None and not query.group_by:
        assert result.height == len(EVENTS)
