"""The parser kept between processes (dsl/parser.py `_lark`): pickled whole in the private
grammar cache, loaded by the next process instead of being built, and equal in every way
that shows to a parser built from the grammar. Who may write the cache folder is
tests/test_hardening_grammar_cache.py's subject; these tests are about the file in it."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from frys.dsl import parser as frys_parser
from frys.dsl.parser import GRAMMAR_PATH, private_grammar_cache

FIXTURE = Path(__file__).parent / "fixtures" / "identity.frysql"
QUERIES = sorted((Path(__file__).parent.parent / "queries").glob("*.frysql"))


@pytest.fixture(scope="module")
def built() -> Lark:
    return Lark(GRAMMAR_PATH.read_text(), **frys_parser._LARK_OPTIONS)


@pytest.fixture(scope="module")
def loaded(built: Lark, tmp_path_factory: pytest.TempPathFactory) -> Lark:
    path = str(tmp_path_factory.mktemp("cache") / "frysql.pickle")
    frys_parser._save_parser(built, path)
    parser = frys_parser._load_parser(path)
    assert parser is not None
    return parser


def outline(tree: Tree | Token) -> object:
    """Everything of a parse tree the transformer reads: rule names, tokens with their types,
    and the positions of both."""
    if isinstance(tree, Token):
        return ("token", tree.type, str(tree), tree.line, tree.column, tree.end_line,
                tree.end_column)
    meta = tree.meta
    position = (meta.line, meta.column, meta.end_line, meta.end_column) \
        if not meta.empty else None
    return (tree.data, position, [outline(child) for child in tree.children])


def outcome(parser: Lark, text: str) -> object:
    """The tree, or what the syntax error says: its kind, place and expected tokens."""
    try:
        return outline(parser.parse(text))
    except UnexpectedInput as error:
        return (type(error).__name__, error.line, error.column,
                sorted(getattr(error, "expected", None) or
                       getattr(error, "allowed", None) or ()))


def test_a_loaded_parser_reads_the_example_jobs_as_the_built_one(built: Lark,
                                                                 loaded: Lark) -> None:
    texts = [FIXTURE.read_text(), *(path.read_text() for path in QUERIES)]
    assert len(texts) >= 3
    for text in texts:
        assert outcome(loaded, text) == outcome(built, text)
    assert isinstance(outcome(loaded, texts[0]), tuple)
    assert outcome(loaded, texts[0])[0] == "start"


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_loaded_parser_fails_where_and_as_the_built_one_does(built: Lark, loaded: Lark,
                                                               data: st.DataObject) -> None:
    """The parse table and the lexer states came through: any text, a job with a piece cut
    out or a character put in, gives the same tree or the same error."""
    text = FIXTURE.read_text()
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 12)))
    inserted = data.draw(st.sampled_from(["", "(", ")", ",", ";", "'", "SELECT", "1", "->"]))
    mutated = text[:start] + inserted + text[end:]
    assert outcome(loaded, mutated) == outcome(built, mutated)


def test_only_lark_classes_are_unpickled(tmp_path: Path) -> None:
    """A file in the cache's place that would build anything else (here: open a file) is
    refused, not run; the parser is then built as if there were no file."""
    marker = tmp_path / "planted-code-ran"
    path = tmp_path / "frysql.pickle"

    class Planted:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path.write_bytes(pickle.dumps(Planted()))
    assert frys_parser._load_parser(str(path)) is None
    assert not marker.exists()


def test_a_damaged_file_is_not_used(built: Lark, tmp_path: Path) -> None:
    path = tmp_path / "frysql.pickle"
    frys_parser._save_parser(built, str(path))
    whole = path.read_bytes()
    path.write_bytes(whole[:len(whole) // 2])
    assert frys_parser._load_parser(str(path)) is None
    path.write_bytes(b"")
    assert frys_parser._load_parser(str(path)) is None
    assert frys_parser._load_parser(str(tmp_path / "missing.pickle")) is None


def test_the_file_name_changes_with_the_options(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    grammar = GRAMMAR_PATH.read_text()
    name = private_grammar_cache(grammar)
    assert name is not None and name.endswith(".pickle")
    assert private_grammar_cache(grammar + "\n") != name
    monkeypatch.setattr(frys_parser, "_LARK_OPTIONS",
                        {**frys_parser._LARK_OPTIONS, "propagate_positions": False})
    assert private_grammar_cache(grammar) != name


# builds the parser in a fresh process; says whether Lark's constructor (the build from the
# grammar) ran, and checks the parser with a small job
BUILD = """
import lark
constructor = lark.Lark.__init__
built = []
def counting(self, *args, **kwargs):
    built.append(1)
    constructor(self, *args, **kwargs)
lark.Lark.__init__ = counting
from frys.dsl import compile_text
job = compile_text("CREATE STREAM ev (id INT, ts TIMESTAMP) WITH (event_time = ts);\\n"
                   "SELECT id FROM ev WHERE id > 2;\\n")
assert [query.index for query in job.queries] == [0]
print("built" if built else "loaded")
"""


def _fresh_process(cache_home: Path) -> str:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    result = subprocess.run([sys.executable, "-c", BUILD], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_next_process_loads_the_parser_instead_of_building_it(tmp_path: Path) -> None:
    assert _fresh_process(tmp_path) == "built"
    (cache,) = (tmp_path / "frys" / "grammar").iterdir()  # no temporary file left
    assert _fresh_process(tmp_path) == "loaded"
    assert _fresh_process(tmp_path) == "loaded"

    cache.write_bytes(cache.read_bytes()[:1000])  # damaged: built again, and rewritten
    assert _fresh_process(tmp_path) == "built"
    assert _fresh_process(tmp_path) == "loaded"
