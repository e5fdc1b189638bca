"""The .frysql Pygments lexer (found through its entry point), the terminal colorizer, and
the NO_COLOR / FORCE_COLOR rules."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import (
    Comment,
    Error,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

from frys.dsl.highlight import FrysqlLexer, colorize, should_colorize

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")
LEXER = FrysqlLexer()


def significant(text: str) -> list[tuple[object, str]]:
    return [(t, v) for _, t, v in LEXER.get_tokens_unprocessed(text) if t is not Whitespace]


def errors(text: str) -> list[tuple[int, str]]:
    return [(i, v) for i, t, v in LEXER.get_tokens_unprocessed(text) if t in Error]


# ---------------------------------------------------------------- registration


def test_found_by_alias_through_the_entry_point() -> None:
    assert isinstance(get_lexer_by_name("frysql"), FrysqlLexer)


def test_found_by_filename() -> None:
    assert isinstance(get_lexer_for_filename("x.frysql"), FrysqlLexer)
    assert isinstance(get_lexer_for_filename("queries/demo.frysql"), FrysqlLexer)


# ---------------------------------------------------------------- token tables

K, KC, KT = Keyword, Keyword.Constant, Keyword.Type
P, OP, N, INT = Punctuation, Operator, Name, Number.Integer

TABLES: dict[str, list[tuple[object, str]]] = {
    "select a FROM t WhErE x": [(K, "select"), (N, "a"), (K, "FROM"), (N, "t"), (K, "WhErE"),
                                (N, "x")],
    "CREATE stream s (ts TIMESTAMP, ok bool) WITH (event_time = ts)": [
        (K, "CREATE"), (K, "stream"), (N, "s"), (P, "("), (N, "ts"), (KT, "TIMESTAMP"),
        (P, ","), (N, "ok"), (KT, "bool"), (P, ")"), (K, "WITH"), (P, "("), (N, "event_time"),
        (OP, "="), (N, "ts"), (P, ")")],
    "true False NULL": [(KC, "true"), (KC, "False"), (KC, "NULL")],
    "a -- to the end\nb": [(N, "a"), (Comment.Single, "-- to the end"), (N, "b")],
    "a /* one\n two -- */ b": [(N, "a"), (Comment.Multiline, "/* one\n two -- */"), (N, "b")],
    "'it''s' || ''": [(String.Single, "'it''s'"), (OP, "||"), (String.Single, "''")],
    "'a -- not a comment'": [(String.Single, "'a -- not a comment'")],
    '"select" "we""ird" x': [(Name.Quoted, '"select"'), (Name.Quoted, '"we""ird"'), (N, "x")],
    "10 1.5 .5 2e3 10 SECONDS 10s 500ms 5m 1 day 3\nhours": [
        (INT, "10"), (Number.Float, "1.5"), (Number.Float, ".5"), (Number.Float, "2e3"),
        (Number.Interval, "10 SECONDS"), (Number.Interval, "10s"), (Number.Interval, "500ms"),
        (Number.Interval, "5m"), (Number.Interval, "1 day"), (Number.Interval, "3\nhours")],
    "10 seconds_x 10sx": [(INT, "10"), (N, "seconds_x"), (INT, "10"), (N, "sx")],
    "first(price), first, count (*), count, last": [
        (Name.Builtin, "first"), (P, "("), (N, "price"), (P, ")"), (P, ","), (N, "first"),
        (P, ","), (Name.Builtin, "count"), (P, "("), (OP, "*"), (P, ")"), (P, ","),
        (N, "count"), (P, ","), (N, "last")],
    "MATCH_START() match window_start w.window_end": [
        (Name.Builtin, "MATCH_START"), (P, "("), (P, ")"), (K, "match"),
        (Name.Builtin.Pseudo, "window_start"), (N, "w"), (P, "."),
        (Name.Builtin.Pseudo, "window_end")],
    "a -> b ->> c - d": [(N, "a"), (OP, "->"), (N, "b"), (OP, "->>"), (N, "c"), (OP, "-"),
                         (N, "d")],
    "a<>b != c <= d >= e < f > g + h * i / j % k": [
        (N, "a"), (OP, "<>"), (N, "b"), (OP, "!="), (N, "c"), (OP, "<="), (N, "d"), (OP, ">="),
        (N, "e"), (OP, "<"), (N, "f"), (OP, ">"), (N, "g"), (OP, "+"), (N, "h"), (OP, "*"),
        (N, "i"), (OP, "/"), (N, "j"), (OP, "%"), (N, "k")],
    "PATTERN (a:logins f{2,}? -> p) WITHIN 10 MINUTES DEFINE a AS a.ok = false "
    "AFTER MATCH SKIP TO LAST f": [
        (K, "PATTERN"), (P, "("), (N, "a"), (P, ":"), (N, "logins"), (N, "f"), (P, "{"),
        (INT, "2"), (P, ","), (P, "}"), (OP, "?"), (OP, "->"), (N, "p"), (P, ")"),
        (K, "WITHIN"), (Number.Interval, "10 MINUTES"), (K, "DEFINE"), (N, "a"), (K, "AS"),
        (N, "a"), (P, "."), (N, "ok"), (OP, "="), (KC, "false"), (K, "AFTER"), (K, "MATCH"),
        (K, "SKIP"), (K, "TO"), (K, "LAST"), (N, "f")],
    "skip to first x | after match skip past last event": [
        (K, "skip"), (K, "to"), (K, "first"), (N, "x"), (P, "|"), (K, "after"), (K, "match"),
        (K, "skip"), (K, "past"), (K, "last"), (K, "event")],
    "EMIT TIMEOUTS TO t; EMIT EVERY 1 minute": [
        (K, "EMIT"), (K, "TIMEOUTS"), (K, "TO"), (N, "t"), (P, ";"), (K, "EMIT"), (K, "EVERY"),
        (Number.Interval, "1 minute")],
}  # fmt: skip


@pytest.mark.parametrize("text", list(TABLES), ids=range(len(TABLES)))
def test_token_table(text: str) -> None:
    assert significant(text) == TABLES[text]


def test_every_listed_word_is_highlighted_in_any_case() -> None:
    from frys.dsl import highlight

    for word in highlight.KEYWORDS:
        for spelled in (word, word.lower(), word.title()):
            assert significant(spelled) == [(Keyword, spelled)]
    for word in highlight.TYPES:
        assert significant(word.lower()) == [(Keyword.Type, word.lower())]
    for word in highlight.FUNCTIONS:
        assert significant(f"{word.lower()}(x)")[0] == (Name.Builtin, word.lower())


# ---------------------------------------------------------------- real files


def _corpus() -> list[tuple[str, str]]:
    queries = sorted(ROOT.glob("queries/*.frysql"))
    files = [(str(p.relative_to(ROOT)), p.read_text()) for p in queries]
    doc = (ROOT / "docs" / "language.md").read_text()
    blocks = re.findall(r"```frysql\n(.*?)```", doc, flags=re.S)
    return files + [(f"docs/language.md#{i + 1}", b) for i, b in enumerate(blocks)]


CORPUS = _corpus()


def test_corpus_is_not_empty() -> None:
    assert any(name.startswith("queries/") for name, _ in CORPUS)
    assert sum(name.startswith("docs/") for name, _ in CORPUS) >= 6


@pytest.mark.parametrize(("name", "text"), CORPUS, ids=[n for n, _ in CORPUS])
def test_real_queries_have_no_error_tokens(name: str, text: str) -> None:
    assert errors(text) == []
    assert "".join(v for _, _, v in LEXER.get_tokens_unprocessed(text)) == text


# ---------------------------------------------------------------- properties

# Pieces of .frysql text: any concatenation of them is free of unterminated quotes.
PIECES = st.sampled_from([
    *"abcdefxyzSELECTfromTUMBLE_0123456789", " ", "\n", "\t", *"()=<>+-*/%|,;.:{}?",
    "!=", "'it''s'", "''", '"q x"', '"a""b"', "--c\n", "/* c */", "10 SECONDS", "first(",
])  # fmt: skip
VALID_ISH = st.lists(PIECES, max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_tokens_reproduce_any_text(text: str) -> None:
    assert "".join(v for _, _, v in LEXER.get_tokens_unprocessed(text)) == text


def test_unterminated_quotes_and_stray_characters_are_errors() -> None:
    assert errors("SELECT 'open") == [(7, "'")]
    assert errors('a "b') == [(2, '"')]
    assert errors("a ! b") == [(2, "!")]


@settings(max_examples=300, deadline=None)
@given(VALID_ISH)
def test_valid_ish_text_has_no_error_tokens(text: str) -> None:
    assert errors(text) == []


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), VALID_ISH))
def test_colorize_only_adds_escape_codes(text: str) -> None:
    assert ANSI.sub("", colorize(text)) == text


def test_colorize_adds_colors() -> None:
    out = colorize("SELECT 'x' -- c\n")
    assert "\x1b[" in out
    assert ANSI.sub("", out) == "SELECT 'x' -- c\n"
    assert colorize("") == ""


# ---------------------------------------------------------------- should_colorize


class FakeStream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    return monkeypatch


def test_colors_only_on_a_terminal(clean_env: pytest.MonkeyPatch) -> None:
    assert should_colorize(FakeStream(tty=True)) is True
    assert should_colorize(FakeStream(tty=False)) is False
    assert should_colorize(object()) is False  # no isatty at all
    closed = io.StringIO()
    closed.close()  # isatty() on a closed stream raises ValueError
    assert should_colorize(closed) is False


def test_no_color_turns_colors_off(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("NO_COLOR", "1")
    assert should_colorize(FakeStream(tty=True)) is False
    clean_env.setenv("NO_COLOR", "")  # no-color.org: an empty value does not count
    assert should_colorize(FakeStream(tty=True)) is True


def test_force_color_forces_colors(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FORCE_COLOR", "1")
    assert should_colorize(FakeStream(tty=False)) is True
    clean_env.setenv("NO_COLOR", "1")
    assert should_colorize(FakeStream(tty=False)) is True
