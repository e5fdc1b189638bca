"""Optimizer rules as data (tests/fixtures/optimizer/<rule>.frysql: a query, then what it
becomes under that rule alone), their docstring examples, and plan round trips: every plan
prints back as .frysql that plans to the same plan."""

from __future__ import annotations

import doctest
import importlib
import textwrap
from pathlib import Path

import pytest

from frys.dsl import compile_text
from frys.dsl.logical import build, plan_to_select, render
from frys.dsl.optimizer import RULES, optimize
from frys.dsl.printer import statement_to_sql

FIXTURES = Path(__file__).parent / "fixtures" / "optimizer"
PRELUDE = (
    "CREATE STREAM trades (symbol STRING, price FLOAT, volume INT, ok BOOL, ts TIMESTAMP)"
    " WITH (event_time = ts);\n"
    "CREATE STREAM orders (id INT, user_id STRING, amount FLOAT, ts TIMESTAMP)"
    " WITH (event_time = ts);\n"
    "CREATE TABLE users (id STRING PRIMARY KEY, tier STRING);\n"
)
RULE_FUNCTIONS = dict(RULES)


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for path in sorted(FIXTURES.glob("*.frysql")):
        body = [line for line in path.read_text().splitlines() if not line.startswith("--")]
        blocks = "\n".join(body).strip().split("\n\n")
        for block in blocks:
            query, expected = block.strip().split("\n", 1)
            cases.append((path.stem, query.rstrip(";"), expected.strip().rstrip(";")))
    return cases


def _plan(query: str):
    job = compile_text(PRELUDE + query, "q.frysql", runnable=False)
    return job, build(job.queries[-1])


@pytest.mark.parametrize(("rule", "query", "expected"), _cases())
def test_rule_fixture(rule: str, query: str, expected: str) -> None:
    job, plan = _plan(query)
    result = RULE_FUNCTIONS[rule](plan, job.streams)
    if expected.startswith(("SELECT", "INSERT")):
        assert statement_to_sql(plan_to_select(result)) == expected
    else:
        tree = render([("", result)]).split("\n", 1)[1]
        assert textwrap.dedent(tree).strip() == expected


def test_every_rule_has_a_fixture_or_a_table() -> None:
    fixtures = {path.stem for path in FIXTURES.glob("*.frysql")}
    assert set(RULE_FUNCTIONS) == fixtures | {"projection_pruning"}


@pytest.mark.parametrize("rule", [name for name, _ in RULES])
def test_rule_docstring_examples_run(rule: str) -> None:
    module = importlib.import_module(f"frys.dsl.optimizer.{rule}")
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


PRUNING = [
    ("SELECT symbol FROM trades WHERE price > 1", {"trades": ("symbol", "price")}),
    ("SELECT * FROM trades", {"trades": ("symbol", "price", "volume", "ok", "ts")}),
    ("SELECT symbol, window_start, COUNT(*) AS n FROM trades GROUP BY symbol, TUMBLE(1s)",
     {"trades": ("symbol", "ts")}),
    ("SELECT COUNT(*) AS n FROM trades GROUP BY TUMBLE(1s) HAVING MAX(volume) > 3",
     {"trades": ("volume", "ts")}),
    ("SELECT o.id, u.tier FROM orders o JOIN users u ON o.user_id = u.id",
     {"orders": ("id", "user_id"), "users": ("id", "tier")}),
    ("SELECT a.price FROM trades PARTITION BY symbol PATTERN (a b) DEFINE b AS b.ok",
     {"trades": ("symbol", "price", "ok", "ts")}),
]


@pytest.mark.parametrize(("query", "reads"), PRUNING)
def test_projection_pruning_reads_only_what_the_query_uses(query: str, reads: dict) -> None:
    job, plan = _plan(query)
    pruned = RULE_FUNCTIONS["projection_pruning"](plan, job.streams)
    text = render([("", pruned)])
    for stream, columns in reads.items():
        assert f"Scan {stream}" in text
        line = next(line for line in text.splitlines() if f"Scan {stream}" in line)
        assert line.endswith(f"(reads {', '.join(columns)})"), line


ROUND_TRIP = [
    "SELECT symbol, price * volume AS notional FROM trades WHERE volume > 100 AND ok",
    "SELECT symbol, window_start, COUNT(*) AS n, AVG(price) AS a FROM trades"
    " WHERE price > 2 * 5 GROUP BY symbol, TUMBLE(1 MINUTE) HAVING symbol <> 'X'"
    " AND COUNT(*) > 1 + 1",
    "SELECT o.id, u.tier FROM orders o JOIN users u ON o.user_id = u.id"
    " WHERE o.amount > 10 AND u.tier = 'gold'",
    "SELECT a.price, COUNT(b) AS n FROM trades PARTITION BY symbol PATTERN (a b+ -> c)"
    " WITHIN 1 MINUTE DEFINE b AS b.price > a.price",
    "SELECT symbol, COUNT(*) AS n FROM trades GROUP BY symbol EMIT CHANGES",
]


@pytest.mark.parametrize("query", ROUND_TRIP)
def test_plans_print_back_as_frysql_that_plans_the_same(query: str) -> None:
    job, plan = _plan(query)
    printed = statement_to_sql(plan_to_select(plan))
    _, replanned = _plan(printed)
    assert replanned == plan
    optimized = optimize(plan, job.streams)
    printed_optimized = statement_to_sql(plan_to_select(optimized))
    _, again = _plan(printed_optimized)
    assert optimize(again, job.streams) == optimized
