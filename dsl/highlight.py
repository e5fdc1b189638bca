"""Syntax highlighting for .frysql: a Pygments lexer and a terminal colorizer.

`FrysqlLexer` is registered with Pygments under the alias ``frysql`` (and the file pattern
``*.frysql``) through the ``pygments.lexers`` entry point in pyproject.toml, so anything
built on Pygments -- ``pygmentize``, Sphinx, MkDocs, ``rich`` -- can highlight .frysql
once frys is installed. `colorize` renders .frysql text with ANSI colors for a terminal,
and `should_colorize` decides whether a stream wants colors at all.

The lexer is a highlighter, not the parser: it follows the terminals of dsl/frysql.lark
(comments, strings, quoted names, intervals, numbers, operators) but recognises words
without context. Function names are not keywords in the language (`first` and `count` work
as column names), so a word is shown as a built-in function only when a `(` follows it;
`FIRST`/`LAST` are keywords only inside ``SKIP TO FIRST|LAST`` and ``SKIP PAST LAST``.
"""

from __future__ import annotations

import os
import re
from typing import Any, ClassVar

from pygments import format as _format
from pygments.formatters import TerminalFormatter
from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

__all__ = ["FrysqlLexer", "colorize", "should_colorize"]

#: Words shown as keywords wherever they appear. FIRST and LAST are left out on purpose:
#: outside ``SKIP TO FIRST|LAST`` / ``SKIP PAST LAST`` they are functions or column names.
KEYWORDS = (
    "CREATE", "STREAM", "TABLE", "WITH", "INSERT", "INTO", "SELECT", "FROM", "WHERE", "GROUP",
    "BY", "HAVING", "EMIT", "FINAL", "CHANGES", "EVERY", "AS", "AND", "OR", "NOT", "IN",
    "BETWEEN", "LIKE", "IS", "CAST", "CASE", "WHEN", "THEN", "ELSE", "END", "DISTINCT",
    "PRIMARY", "KEY", "JOIN", "INNER", "LEFT", "OUTER", "ON", "WITHIN", "PARTITION", "PATTERN",
    "DEFINE", "UNTIL", "AFTER", "MATCH", "SKIP", "PAST", "EVENT", "TO", "NEXT", "NO",
    "TIMEOUTS", "EVENTS",
)  # fmt: skip
CONSTANTS = ("TRUE", "FALSE", "NULL")
TYPES = (
    "BOOL", "BOOLEAN", "INT", "INTEGER", "BIGINT", "FLOAT", "DOUBLE", "REAL", "STRING",
    "VARCHAR", "TEXT", "TIMESTAMP",
)  # fmt: skip
#: Built-in functions, shown as such only when followed by `(`.
FUNCTIONS = (
    "COUNT", "SUM", "AVG", "MIN", "MAX", "FIRST", "LAST", "STDDEV", "VARIANCE", "PERCENTILE",
    "ARRAY_AGG", "TUMBLE", "HOP", "SESSION", "ROWS", "PREV", "MATCH_START", "MATCH_END",
    "UPPER", "LOWER", "LENGTH", "SUBSTR", "ABS", "ROUND", "FLOOR", "CEIL", "SQRT", "LN", "EXP",
    "POWER", "COALESCE",
)  # fmt: skip
PSEUDO_COLUMNS = ("window_start", "window_end")

_WORD_END = r"(?![A-Za-z0-9_])"
# The two INTERVAL alternatives of dsl/frysql.lark: `10 SECONDS`, `1 day`, and `500ms`, `5m`.
_INTERVAL = (
    r"\d+\s*(?:milliseconds?|seconds?|minutes?|hours?|days?)" + _WORD_END
    + r"|\d+(?:ms|s|m|h|d)" + _WORD_END
)  # fmt: skip
_FLOAT = r"\d+\.\d*(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?|\d+e[+-]?\d+"


class FrysqlLexer(RegexLexer):
    """Pygments lexer for the .frysql query language (keywords are case-insensitive).

    Token kinds: ``Comment.Single``/``Comment.Multiline``, ``String.Single`` (with ``''``
    escapes), ``Name.Quoted`` for ``"quoted identifiers"``, ``Number.Interval`` for interval
    literals such as ``10 SECONDS`` or ``500ms`` (one token each), ``Number.Float`` and
    ``Number.Integer``, ``Keyword`` / ``Keyword.Constant`` (TRUE FALSE NULL) /
    ``Keyword.Type``, ``Name.Builtin`` for a function name before ``(``,
    ``Name.Builtin.Pseudo`` for ``window_start``/``window_end``, ``Operator``,
    ``Punctuation``, ``Name`` and ``Whitespace``.
    """

    name = "frysql"
    aliases: ClassVar[list[str]] = ["frysql"]
    filenames: ClassVar[list[str]] = ["*.frysql"]
    mimetypes: ClassVar[list[str]] = ["text/x-frysql"]
    flags = re.IGNORECASE | re.MULTILINE

    tokens: ClassVar[dict[str, Any]] = {
        "root": [
            (r"\s+", Whitespace),
            (r"--[^\n]*", Comment.Single),
            (r"/\*[\s\S]*?\*/", Comment.Multiline),
            (r"'(?:[^']|'')*'", String.Single),
            (r'"(?:[^"]|"")+"', Name.Quoted),
            (_INTERVAL, Number.Interval),
            (_FLOAT, Number.Float),
            (r"\d+", Number.Integer),
            # The only places FIRST/LAST are keywords: AFTER MATCH SKIP TO FIRST|LAST x and
            # AFTER MATCH SKIP PAST LAST EVENT.
            (
                r"(SKIP)(\s+)(TO|PAST)(\s+)(FIRST|LAST)" + _WORD_END,
                bygroups(Keyword, Whitespace, Keyword, Whitespace, Keyword),
            ),
            (words(FUNCTIONS, suffix=r"(?=\s*\()"), Name.Builtin),
            (words(PSEUDO_COLUMNS, suffix=_WORD_END), Name.Builtin.Pseudo),
            (words(CONSTANTS, suffix=_WORD_END), Keyword.Constant),
            (words(TYPES, suffix=_WORD_END), Keyword.Type),
            (words(KEYWORDS, suffix=_WORD_END), Keyword),
            (r"[a-z_][a-z0-9_]*", Name),
            (r"->>|->|<>|!=|<=|>=|\|\||[=<>+\-*/%?]", Operator),
            (r"[(),;.:{}|]", Punctuation),
        ],
    }


def colorize(text: str) -> str:
    """Return `text` with ANSI color codes for a terminal; the characters are unchanged.

    Tokens come straight from the lexer (no newline normalisation or stripping, unlike
    `pygments.highlight`), so removing the escape sequences gives back `text` exactly.
    """
    tokens = (
        (Text if ttype is Whitespace else ttype, value)  # no empty color codes around blanks
        for _, ttype, value in FrysqlLexer().get_tokens_unprocessed(text)
    )
    return _format(tokens, TerminalFormatter())


def should_colorize(stream: Any) -> bool:
    """Whether output to `stream` should be colored.

    A non-empty ``FORCE_COLOR`` forces colors; otherwise a non-empty ``NO_COLOR`` turns them
    off (https://no-color.org); otherwise colors are used only when `stream` is a terminal.
    """
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    if isatty is None:
        return False
    try:
        return bool(isatty())
    except (ValueError, OSError):  # a closed or detached stream
        return False
