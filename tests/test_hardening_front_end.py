"""Hardening (issue 12, crashes on input: the front end). Every job text ends in an analyzed
job or a FrysError naming the position, never another exception: long flat AND/OR chains
(generated queries write thousands of terms) are accepted and run; nesting deeper than the
limits of dsl/shape.py, literals beyond 64 bits, text that is not UTF-8 and jobs over the size
limit are refused where they are; strings and comments lex in linear time and memory. A seeded
mutator over docs/language.md's examples checks the rule on thousands of damaged jobs."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from frys import Pipeline
from frys.cli import main
from frys.dsl import FrysError, compile_text
from frys.dsl.parser import read_job
from frys.dsl.shape import MAX_EXPRESSION_DEPTH, MAX_PATTERN_DEPTH

STREAM = "CREATE STREAM ev (k STRING, v FLOAT, ts TIMESTAMP) WITH (event_time = ts);\n"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "language.md"


def refused(text: str) -> tuple[str, int, int]:
    with pytest.raises(FrysError) as caught:
        compile_text(text, "job.frysql", runnable=False)
    diagnostic = caught.value.diagnostics[0]
    return diagnostic.message, diagnostic.span.line, diagnostic.span.column


def run(text: str, events: list[dict[str, object]]) -> list[dict[str, object]]:
    pipeline = Pipeline.from_text(text)
    pipeline.publish("ev", events)
    pipeline.finish()
    return pipeline.results("select_1").to_dicts()


# ---------------------------------------------------------------- flat chains are accepted


@pytest.mark.parametrize("joiner", [" OR ", " AND "])
def test_a_chain_of_thousands_of_terms_compiles_and_runs(joiner: str) -> None:
    terms = [f"v <> {i}" if joiner == " AND " else f"v = {i}" for i in range(5_000)]
    text = STREAM + f"SELECT k, v FROM ev WHERE {joiner.join(terms)};\n"
    events = [{"k": "a", "v": 7.0, "ts": 1}, {"k": "b", "v": 7_000.0, "ts": 2},
              {"k": "c", "v": 4_999.0, "ts": 3}]
    kept = [row["k"] for row in run(text, events)]
    # OR of v = 0..4999 keeps 7 and 4999; AND of v <> 0..4999 keeps only 7000
    assert kept == (["a", "c"] if joiner == " OR " else ["b"])


def test_a_long_concatenation_chain_is_accepted() -> None:
    text = STREAM + "SELECT " + " || ".join(["k"] * 2_000) + " AS s FROM ev;\n"
    assert run(text, [{"k": "x", "v": 1.0, "ts": 1}]) == [{"s": "x" * 2_000}]


def test_a_short_chain_keeps_its_written_shape() -> None:
    job = compile_text(STREAM + "SELECT k FROM ev WHERE v > 1 AND v > 2 AND v > 3;\n")
    where = job.queries[0].statement.where
    assert where.op == "AND" and where.left.op == "AND"  # ((v > 1 AND v > 2) AND v > 3)


# ---------------------------------------------------------------- deep nesting is refused


@pytest.mark.parametrize(("expression", "what"), [
    (" + ".join(["v"] * 330) + " > 1", "an expression"),
    ("ABS(" * 198 + "v" + ")" * 198 + " > 1", "an expression"),
    ("CASE WHEN v > 0 THEN " * 245 + "TRUE" + " ELSE FALSE END" * 245, "an expression"),
])
def test_nesting_beyond_the_limit_is_refused_with_its_position(expression: str,
                                                               what: str) -> None:
    message, line, column = refused(STREAM + f"SELECT k FROM ev WHERE {expression};\n")
    assert message.startswith(f"{what} nested more than {MAX_EXPRESSION_DEPTH} levels deep")
    assert line == 2 and column >= 24


def test_parentheses_alone_add_no_depth() -> None:
    text = STREAM + "SELECT k FROM ev WHERE " + "(" * 3_000 + "v + 1" + ")" * 3_000 + " > 1;\n"
    assert run(text, [{"k": "x", "v": 1.0, "ts": 1}]) == [{"k": "x"}]


def test_nesting_within_the_limit_compiles_and_runs() -> None:
    depth = MAX_EXPRESSION_DEPTH - 2
    text = STREAM + "SELECT " + "ABS(" * depth + "v" + ")" * depth + " AS a FROM ev;\n"
    assert run(text, [{"k": "x", "v": -2.0, "ts": 1}]) == [{"a": 2.0}]


def test_a_pattern_nested_beyond_the_limit_is_refused() -> None:
    deep = "(" * 244 + "a b" + ")" * 244
    message, line, _ = refused(STREAM + f"SELECT COUNT(a) AS n FROM ev PATTERN ({deep});\n")
    assert message.startswith(f"a pattern nested more than {MAX_PATTERN_DEPTH} levels deep")
    assert line == 2
    shallow = "(" * 20 + "a b" + ")" * 20
    rows = run(STREAM + f"SELECT COUNT(a) AS n FROM ev PATTERN ({shallow});\n",
               [{"k": "x", "v": 1.0, "ts": t} for t in range(4)])
    assert len(rows) == 2


@pytest.mark.parametrize(("literal", "fragment"), [
    ("1" * 4_400, "is beyond the 64-bit INT range"),
    ("9223372036854775808", "is beyond the 64-bit INT range"),
    ("1" * 400 + ".5", "is beyond the FLOAT range"),
    ("1e999", "is beyond the FLOAT range"),
])
def test_a_number_beyond_its_type_is_refused(literal: str, fragment: str) -> None:
    message, line, column = refused(STREAM + f"SELECT k FROM ev WHERE v > {literal};\n")
    assert fragment in message and (line, column) == (2, 28)
    assert compile_text(STREAM + "SELECT k FROM ev WHERE v > 9223372036854775807;\n")


# ---------------------------------------------------------------- text, size, lexing


def test_a_job_file_that_is_not_utf8_is_refused_where_the_bad_byte_is(tmp_path,
                                                                     capsys) -> None:
    job = tmp_path / "latin1.frysql"
    job.write_bytes((STREAM + "SELECT k FROM ev WHERE k = 'caf\xe9';\n").encode("latin-1"))
    with pytest.raises(FrysError) as caught:
        read_job(job)
    (diagnostic,) = caught.value.diagnostics
    assert "not UTF-8" in diagnostic.message and "0xe9" in diagnostic.message
    assert (diagnostic.span.line, diagnostic.span.column) == (2, 32)
    with pytest.raises(SystemExit) as exit_:
        main(["check", str(job)])
    assert exit_.value.code == 1
    assert f"{job}:2:32: error: the file is not UTF-8 text" in capsys.readouterr().err


def test_a_byte_order_mark_is_dropped(tmp_path) -> None:
    job = tmp_path / "bom.frysql"
    job.write_bytes(b"\xef\xbb\xbf" + (STREAM + "SELECT k FROM ev;\n").encode())
    assert main(["check", str(job)]) == 0
    assert Pipeline.from_file(job).graph.queries


def test_a_job_over_the_size_limit_is_refused() -> None:
    text = STREAM + "SELECT k FROM ev WHERE k = '" + "x" * (1 << 20) + "';\n"
    message, line, column = refused(text)
    assert "characters long; at most 1,048,576" in message and (line, column) == (1, 1)


def test_strings_and_comments_of_a_megabyte_lex_in_linear_memory() -> None:
    # ([^']|'')* kept one backtracking frame per character: 1.9 GB for 4 MB
    body = "ab''" * 200_000
    text = (STREAM + f"SELECT k FROM ev WHERE k = '{body}';\n"
            + "/* " + "c*" * 100_000 + " */\n")
    job = compile_text(text)
    assert job.queries[0].statement.where.right.value == "ab'" * 200_000


# ---------------------------------------------------------------- the mutator


def _examples() -> list[str]:
    return re.findall(r"```frysql\n(.*?)```", DOCS.read_text(), re.S)


_TOKEN = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|\w+|->>|->|<>|<=|>=|\|\||\S")
_INSERTS = ["(", ")", ",", ";", "NOT", "AND", "OR", "*", "+", "?", "{", "}", "'", '"', "->",
            "PATTERN (", "WITHIN", "1e999", "9" * 30, "-", "CASE WHEN", "END", "\\", "\x00",
            "é", "\U0001f600", "\ud800", "--", "/*", "*/", "SELECT", "FROM", "GROUP BY",
            "HOP(1 DAY, 1 MILLISECOND)", "{99999,}", "TUMBLE(", "NULL", "[", "]", ":"]


def _stressed(rng: random.Random, token: str) -> str:
    """A token made deep or huge while keeping the job's syntax: what crashed the front end
    before (recursion in the transformer, the typer, the printer; int() of 4,300 digits)."""
    kind = rng.randrange(5)
    if kind == 0:
        n = rng.choice((200, 1_000))
        return "(" * n + token + ")" * n
    if kind == 1:
        n = rng.choice((150, 400))
        return "ABS(" * n + token + ")" * n
    if kind == 2:
        return rng.choice((" AND ", " OR ", " + ", " || ")).join(
            [token] * rng.choice((400, 2_000)))
    if kind == 3:
        return "9" * rng.choice((19, 20, 5_000))
    n = rng.choice((120, 300))
    return "CASE WHEN TRUE THEN " * n + token + " END" * n


def _mutant(rng: random.Random, text: str) -> str:
    tokens = _TOKEN.findall(text)
    if rng.random() < 0.5:  # one stressor on a name or number: the job still parses
        words = [i for i, t in enumerate(tokens) if re.fullmatch(r"\w+", t)]
        if words:
            i = rng.choice(words)
            tokens[i] = _stressed(rng, tokens[i])
        return " ".join(tokens)
    for _ in range(rng.randint(1, 3)):  # random damage
        if not tokens:
            break
        i = rng.randrange(len(tokens))
        kind = rng.randrange(5)
        if kind == 0:
            del tokens[i]
        elif kind == 1:
            tokens.insert(i, tokens[rng.randrange(len(tokens))])
        elif kind == 2:
            j = rng.randrange(len(tokens))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif kind == 3:
            tokens.insert(i, rng.choice(_INSERTS))
        else:
            tokens[i] = tokens[i] * rng.randint(2, 50)
    return " ".join(tokens)


def test_damaged_jobs_end_in_a_frys_error_or_a_job() -> None:
    rng = random.Random(20261204)
    examples = _examples()
    assert len(examples) > 10
    crashes = []
    for n in range(2_000):
        text = _mutant(rng, rng.choice(examples))
        try:
            compile_text(text, "mutant.frysql", runnable=False)
        except FrysError:
            pass
        except Exception as error:  # anything else is a crash of the front end
            crashes.append(f"#{n} {type(error).__name__}: {error}\n{text[:400]}")
    assert not crashes, f"{len(crashes)} crashes; first:\n" + "\n\n".join(crashes[:3])
