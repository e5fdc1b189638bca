"""Text -> typed AST: the Lark grammar in frysql.lark plus a transformer to dsl.ast nodes.

The LALR parser is built once per process (and pickled on disk, in a folder only this user
can write: `private_grammar_cache`, so that the next process loads it in a few ms), so
parsing a job costs a lexer pass and a tree walk. Lark's exceptions never escape: every
syntax problem becomes a :class:`FrysSyntaxError` naming the line and column, showing the
line with a caret, and saying what was expected there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import hashlib
import math
import os
import pickle
import re
import stat
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, cast

from lark import Lark, Token, Transformer_NonRecursive, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)
from lark.parsers.lalr_analysis import Reduce, Shift

from frys.dsl import ast
from frys.dsl.errors import Diagnostic, FrysSyntaxError, Span
from frys.dsl.limits import DEFAULT_LIMITS, MAX_INTERVAL_MS, Limits
from frys.dsl.query_names import with_query_names
from frys.dsl.shape import TooDeep, reshape

GRAMMAR_PATH = Path(__file__).with_name("frysql.lark")

_UNIT_MILLIS = {
    "millisecond": 1, "ms": 1,
    "second": 1_000, "s": 1_000,
    "minute": 60_000, "m": 60_000,
    "hour": 3_600_000, "h": 3_600_000,
    "day": 86_400_000, "d": 86_400_000,
}


# how frysql.lark is compiled; a cached parser is one built with these
_LARK_OPTIONS: dict[str, object] = {"parser": "lalr", "lexer": "contextual",
                                    "propagate_positions": True, "maybe_placeholders": False}
# in the cache file's name: a file another version of this code wrote is never read
_CACHE_FORMAT = "frys-parser-pickle-1"


@functools.cache
def _lark() -> Lark:
    """The parser of frysql.lark, built once per process. It is unpickled whole from the
    private cache (`private_grammar_cache`) when that holds one for this grammar, these
    options, Lark and Python: about 7 ms, where Lark's own cache (its tables serialized,
    rebuilt in Python) took 12 ms. Otherwise it is built from the grammar (about 0.3 s)
    and saved there for the next process. This pickles Lark's objects as they are, so a
    Lark release could change what it takes: tests/test_parser_cache.py fails then, rather
    than every start paying the build."""
    grammar = GRAMMAR_PATH.read_text()
    cache = private_grammar_cache(grammar)
    # the parser is tens of thousands of objects that live as long as the process: the
    # collections their creation would trigger, each a walk of the whole heap (polars,
    # frys' modules), took longer than the loading itself
    with garbage_collection_paused():
        if cache is not None:
            parser = _load_parser(cache)
            if parser is not None:
                return parser
        parser = Lark(grammar, **_LARK_OPTIONS)  # type: ignore[arg-type]
    if cache is not None:
        _save_parser(parser, cache)
    return parser


def _load_parser(path: str) -> Lark | None:
    """The parser pickled at `path` by `_save_parser`, or None when there is none or it
    cannot be read (damaged, or written by code that pickled other objects)."""
    try:
        with open(path, "rb") as file:
            loader = _ParserUnpickler(file)
            options, rules, terminals = loader.load()
            # the parse-tree callbacks are functions, rebuilt here as Lark's own loader does
            shell = Lark.__new__(Lark)
            shell.options, shell.rules, shell.terminals = options, rules, terminals
            shell._prepare_callbacks()
            loader.callbacks = [shell._callbacks[rule] for rule in rules]
            parser = loader.load()
    except Exception:  # none yet, or damaged: the parser is built and the file rewritten
        return None
    return parser if isinstance(parser, Lark) else None


def _save_parser(parser: Lark, path: str) -> None:
    """Pickle `parser` at `path` (written aside, then renamed into place, so a reader
    never sees half a file). A cache that cannot be written only costs the next process
    the build."""
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "wb") as file:
            saver = _ParserPickler(file, parser)
            saver.dump((parser.options, parser.rules, parser.terminals))
            saver.dump(parser)
        os.replace(temporary, path)
    except Exception:
        with contextlib.suppress(OSError):
            os.remove(temporary)


class _ParserPickler(pickle.Pickler):
    """Pickles a built Lark parser. What pickle cannot carry is written as a reference:
    the parse-tree callbacks (closures, by their rule's index), the LALR actions Shift and
    Reduce (singletons the parser compares by identity) and modules (the `re` module the
    lexer keeps). The options, rules and terminals come first, in a dump of their own, so
    that the loader can rebuild the callbacks before the rest refers to them; the memo is
    shared by both dumps."""

    def __init__(self, file: BinaryIO, parser: Lark) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._callback_index = {id(parser._callbacks[rule]): index
                                for index, rule in enumerate(parser.rules)}

    def persistent_id(self, obj: object) -> object:
        if obj is Shift or obj is Reduce:
            return ("action", obj.name)
        if isinstance(obj, types.ModuleType):
            return ("module", obj.__name__)
        index = self._callback_index.get(id(obj))
        return None if index is None else ("callback", index)


class _ParserUnpickler(pickle.Unpickler):
    """Loads what `_ParserPickler` wrote: only Lark's classes (and functools.partial, which
    Lark's tree builder keeps) may be created, so even a file that is not ours could build
    no other object."""

    callbacks: list[object]
    _ACTIONS: ClassVar[dict[str, object]] = {"Shift": Shift, "Reduce": Reduce}
    _MODULES: ClassVar[dict[str, types.ModuleType]] = {"re": re}

    def find_class(self, module: str, name: str) -> type:
        if module == "lark" or module.startswith("lark.") or (module, name) == (
                "functools", "partial"):
            return super().find_class(module, name)  # type: ignore[no-any-return]
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a parser")

    def persistent_load(self, pid: object) -> object:
        kind, key = cast(tuple[str, Any], pid)  # a name, or a callback's index
        if kind == "action":
            return self._ACTIONS[key]
        if kind == "module":
            return self._MODULES[key]
        return self.callbacks[key]


def private_grammar_cache(grammar: str) -> str | None:
    """Where the parser is kept between processes (see `_lark`): a file in a folder only this
    user can write, `$XDG_CACHE_HOME/frys/grammar/` (else `~/.cache/frys/grammar/`), created
    0700. The file is a pickle, and loading a pickle can run code: Lark's own default
    cache (`cache=True`) is a file in the shared temp folder whose name anyone can compute,
    so a file planted by another user would run code. None (build the parser in memory,
    about 0.3 s) when the folder is not a real directory owned by this user and closed to
    everyone else."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "frys", "grammar")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return None
    if (not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid()
            or info.st_mode & 0o077):
        return None
    import lark
    digest = hashlib.sha256(f"{grammar}\0{sorted(_LARK_OPTIONS.items())}\0{lark.__version__}"
                            f"\0{sys.version_info[:2]}\0{_CACHE_FORMAT}".encode()).hexdigest()[:16]
    return os.path.join(folder, f"frysql-{digest}.pickle")


def read_job(path: str | os.PathLike[str]) -> str:
    """A job file's text: UTF-8, a leading byte-order mark dropped. Raises OSError when the
    file cannot be read and FrysSyntaxError, at the line and column, when it is not UTF-8."""
    with open(path, "rb") as file:
        data = file.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[:error.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        text = data.decode("utf-8", errors="replace")
        raise FrysSyntaxError([Diagnostic(
            f"the file is not UTF-8 text: byte 0x{data[error.start]:02x} cannot start or "
            "continue a character here", Span.point(line, column))],
            os.fspath(path), text) from None


def interval_millis(text: str) -> int:
    """Milliseconds of an interval token: '10 SECONDS', '1 minute', '500ms', '2h'."""
    digits = "".join(ch for ch in text if ch.isdigit())
    unit = text[len(digits):].strip().lower()
    if unit not in _UNIT_MILLIS:
        unit = unit.rstrip("s") if unit.rstrip("s") in _UNIT_MILLIS else unit
    return int(digits) * _UNIT_MILLIS[unit]


@contextlib.contextmanager
def garbage_collection_paused() -> Iterator[None]:
    """Compiling a job allocates many small objects that all stay alive until it is done, so
    the cyclic garbage collector only costs time there (up to a third of a 200-line job,
    and most of its p99). Nested uses are fine."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _span_of(meta_or_token: object) -> Span:
    item = meta_or_token
    if getattr(item, "empty", False):
        return Span(0, 0, 0, 0)
    return Span(item.line, item.column, item.end_line, item.end_column - 1)  # type: ignore[attr-defined]


def _unquote(text: str, quote: str) -> str:
    return text[1:-1].replace(quote * 2, quote)


class _Name(str):
    """An identifier that remembers where it was written."""

    span: Span

    def __new__(cls, value: str, span: Span) -> _Name:
        obj = super().__new__(cls, value)
        obj.span = span
        return obj


@v_args(meta=True)
class _ToAst(Transformer_NonRecursive):
    """Lark parse tree -> dsl.ast nodes. Method names are the aliases in frysql.lark."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__()
        self.limits = limits

    @staticmethod
    def _interval(token: Token) -> int:
        digits = len(str(token)) - len(str(token).lstrip("0123456789"))
        millis = interval_millis(str(token)) if digits <= 20 else MAX_INTERVAL_MS + 1
        if millis > MAX_INTERVAL_MS:
            raise _Refused(f"interval {str(token).strip()} is longer than the TIMESTAMP range "
                           "(years 0001 to 9999) allows", token)
        return millis

    def _repetitions(self, token: Token) -> int:
        n = int(token)
        if n > self.limits.max_repetitions:
            raise _Refused(f"a quantifier bound of {n} repetitions; at most "
                           f"{self.limits.max_repetitions:,} (each is a state of the "
                           "automaton; a loop without an upper bound is {n,})", token)
        return n

    # ---- names and literals

    def identifier(self, meta, children):
        (token,) = children
        return _Name(str(token), _span_of(token))

    def quoted_identifier(self, meta, children):
        (token,) = children
        return _Name(_unquote(str(token), '"'), _span_of(token))

    @staticmethod
    def _number(token: Token) -> int | float:
        """An INT within 64 bits or a finite FLOAT; anything else is refused here (Python's
        int() of over 4,300 digits would raise, and the runtime's columns are 64-bit)."""
        text = str(token)
        if any(c in text for c in ".eE"):
            value = float(text)
            if math.isinf(value):
                raise _Refused(f"number {text[:20]}{'...' if len(text) > 20 else ''} is "
                               "beyond the FLOAT range", token)
            return value
        if len(text.lstrip("0")) > 19 or int(text) > 2**63 - 1:
            raise _Refused(f"integer {text[:20]}{'...' if len(text) > 20 else ''} is beyond "
                           "the 64-bit INT range", token)
        return int(text)

    def number(self, meta, children):
        return ast.Literal(self._number(children[0]), span=_span_of(meta))

    def string(self, meta, children):
        return ast.Literal(_unquote(str(children[0]), "'"), span=_span_of(meta))

    def interval(self, meta, children):
        return ast.IntervalLiteral(self._interval(children[0]), span=_span_of(meta))

    def true(self, meta, children):
        return ast.Literal(True, span=_span_of(meta))

    def false(self, meta, children):
        return ast.Literal(False, span=_span_of(meta))

    def null(self, meta, children):
        return ast.Literal(None, span=_span_of(meta))

    # ---- expressions

    def column(self, meta, children):
        (name,) = children
        return ast.ColumnRef(str(name), span=name.span)

    def qualified_column(self, meta, children):
        qualifier, name = children
        return ast.ColumnRef(str(name), str(qualifier), span=_span_of(meta))

    def or_op(self, meta, children):
        return ast.BinaryOp("OR", children[0], children[1], span=_span_of(meta))

    def and_op(self, meta, children):
        return ast.BinaryOp("AND", children[0], children[1], span=_span_of(meta))

    def not_op(self, meta, children):
        return ast.UnaryOp("NOT", children[0], span=_span_of(meta))

    def negate(self, meta, children):
        return ast.UnaryOp("-", children[1], span=_span_of(meta))

    def comparison(self, meta, children):
        left, op, right = children
        symbol = "<>" if str(op) == "!=" else str(op)
        return ast.BinaryOp(symbol, left, right, span=_span_of(meta))

    def binary_op(self, meta, children):
        left, op, right = children
        return ast.BinaryOp(str(op), left, right, span=_span_of(meta))

    def expr_list(self, meta, children):
        return tuple(children)

    def in_list(self, meta, children):
        return ast.InList(children[0], children[1], False, span=_span_of(meta))

    def not_in_list(self, meta, children):
        return ast.InList(children[0], children[1], True, span=_span_of(meta))

    def between(self, meta, children):
        return ast.Between(*children, negated=False, span=_span_of(meta))

    def not_between(self, meta, children):
        return ast.Between(*children, negated=True, span=_span_of(meta))

    def like(self, meta, children):
        return ast.Like(children[0], children[1], False, span=_span_of(meta))

    def not_like(self, meta, children):
        return ast.Like(children[0], children[1], True, span=_span_of(meta))

    def is_null(self, meta, children):
        return ast.IsNull(children[0], False, span=_span_of(meta))

    def is_not_null(self, meta, children):
        return ast.IsNull(children[0], True, span=_span_of(meta))

    def cast(self, meta, children):
        operand, type_name = children
        return ast.Cast(operand, str(type_name).upper(), span=_span_of(meta),
                        type_span=type_name.span)

    def call(self, meta, children):
        name = children[0]
        args = children[1] if len(children) > 1 else ()
        return ast.FunctionCall(str(name).upper(), args, span=_span_of(meta))

    def call_star(self, meta, children):
        return ast.FunctionCall(str(children[0]).upper(), (), star=True, span=_span_of(meta))

    def call_distinct(self, meta, children):
        name, arg = children
        return ast.FunctionCall(str(name).upper(), (arg,), distinct=True, span=_span_of(meta))

    def case_when(self, meta, children):
        return ast.CaseWhen(children[0], children[1])

    def searched_case(self, meta, children):
        whens = tuple(c for c in children if isinstance(c, ast.CaseWhen))
        rest = [c for c in children if not isinstance(c, ast.CaseWhen)]
        return ast.Case(whens, rest[0] if rest else None, None, span=_span_of(meta))

    def simple_case(self, meta, children):
        operand, *others = children
        whens = tuple(c for c in others if isinstance(c, ast.CaseWhen))
        rest = [c for c in others if not isinstance(c, ast.CaseWhen)]
        return ast.Case(whens, rest[0] if rest else None, operand, span=_span_of(meta))

    # ---- statements

    def column_def(self, meta, children):
        name, type_name, *primary_key = children
        return ast.ColumnDef(str(name), str(type_name).upper(), span=_span_of(meta),
                             primary_key=bool(primary_key))

    def primary_key(self, meta, children):
        return True

    def create_table(self, meta, children):
        name, columns, *options = children
        return ast.CreateTable(str(name), columns, options[0] if options else (),
                               span=name.span)

    def column_list(self, meta, children):
        return tuple(children)

    def option(self, meta, children):
        name, _eq, (kind, value) = children
        return ast.WithOption(str(name).lower(), kind, value, span=_span_of(meta))

    def string_value(self, meta, children):
        return ast.OptionKind.STRING, _unquote(str(children[0]), "'")

    def interval_value(self, meta, children):
        return ast.OptionKind.INTERVAL, self._interval(children[0])

    def number_value(self, meta, children):
        return ast.OptionKind.NUMBER, self._number(children[0])

    def name_value(self, meta, children):
        return ast.OptionKind.NAME, str(children[0])

    def with_options(self, meta, children):
        return tuple(children)

    def create_stream(self, meta, children):
        name = children[0]
        columns = next((c for c in children[1:] if isinstance(c, tuple) and c and
                        isinstance(c[0], ast.ColumnDef)), None)
        options = next((c for c in children[1:] if isinstance(c, tuple) and c and
                        isinstance(c[0], ast.WithOption)), ())
        return ast.CreateStream(str(name), columns, options, span=name.span)

    def select_star(self, meta, children):
        return ast.SelectItem(None, None, span=_span_of(meta))

    def select_expr(self, meta, children):
        alias = str(children[1]) if len(children) > 1 else None
        return ast.SelectItem(children[0], alias, span=_span_of(meta))

    def select_list(self, meta, children):
        return tuple(children)

    def from_item(self, meta, children):
        name = children[0]
        alias = str(children[1]) if len(children) > 1 else None
        return ast.FromStream(str(name), alias, span=name.span)

    def from_clause(self, meta, children):
        sources = tuple(c for c in children if isinstance(c, ast.FromStream))
        joins = tuple(c for c in children if isinstance(c, ast.Join))
        return ("from", (sources, joins))

    def within(self, meta, children):
        return self._interval(children[0])

    def within_window(self, meta, children):
        return children[0]  # the window's call, e.g. TUMBLE(10 SECONDS)

    def _join(self, kind, meta, children):
        source, condition, *within = children
        window = within[0] if within and isinstance(within[0], ast.FunctionCall) else None
        within_ms = within[0] if within and window is None else None
        return ast.Join(kind, source, condition, within_ms, window, span=_span_of(meta))

    def inner_join(self, meta, children):
        return self._join("INNER", meta, children)

    def left_join(self, meta, children):
        return self._join("LEFT", meta, children)

    def right_join(self, meta, children):
        return self._join("RIGHT", meta, children)

    def full_join(self, meta, children):
        return self._join("FULL", meta, children)

    # ---- patterns

    def pattern_sequence(self, meta, children):
        leading = ""
        if children and isinstance(children[0], Token):
            leading = str(children[0])
            children = children[1:]
        elements, contiguities = [children[0]], []
        pending = ""
        for child in children[1:]:
            if isinstance(child, Token):
                pending = str(child)
                continue
            contiguities.append(pending)
            elements.append(child)
            pending = ""
        if len(elements) == 1 and not leading:
            return elements[0]
        return ast.PatternSequence(tuple(elements), tuple(contiguities), leading,
                                   span=_span_of(meta))

    def pattern_alternation(self, meta, children):
        return ast.PatternAlternation(tuple(children), span=_span_of(meta))

    def pattern_not(self, meta, children):
        return ast.PatternNot(children[0], span=_span_of(meta))

    def pattern_variable(self, meta, children):
        name = children[0]
        stream = None
        quantifier = None
        rest = children[1:]
        if rest and isinstance(rest[0], Token) and rest[0].type == "COLON":
            stream = str(rest[1])
            rest = rest[2:]
        if rest:
            quantifier = self._with_repetition(*rest)
        return ast.PatternVariable(str(name), stream, quantifier, span=_span_of(meta))

    def pattern_group(self, meta, children):
        body, *rest = children
        return ast.PatternGroup(body, self._with_repetition(*rest) if rest else None,
                                span=_span_of(meta))

    @staticmethod
    def _with_repetition(quantifier: ast.Quantifier, repetition: str | None = None
                         ) -> ast.Quantifier:
        if repetition is None:
            return quantifier
        return dataclasses.replace(quantifier, repetition=repetition)

    def repeat_strict(self, meta, children):
        return ""

    def repeat_relaxed(self, meta, children):
        return "->"

    def repeat_any(self, meta, children):
        return "->>"

    @staticmethod
    def _quantifier(low, high, children, text):
        reluctant = any(isinstance(c, Token) and c.type == "QUESTION" for c in children[-1:])
        return ast.Quantifier(low, high, not reluctant, text + ("?" if reluctant else ""))

    def one_or_more(self, meta, children):
        return self._quantifier(1, None, children[1:], "+")

    def zero_or_more(self, meta, children):
        return self._quantifier(0, None, children[1:], "*")

    def optional(self, meta, children):
        return self._quantifier(0, 1, children[1:], "?")

    def exactly(self, meta, children):
        n = self._repetitions(children[0])
        return self._quantifier(n, n, children[1:], f"{{{n}}}")

    def at_least(self, meta, children):
        n = self._repetitions(children[0])
        return self._quantifier(n, None, children[1:], f"{{{n},}}")

    def between_times(self, meta, children):
        low, high = self._repetitions(children[0]), self._repetitions(children[1])
        return self._quantifier(low, high, children[2:], f"{{{low},{high}}}")

    def partition_by(self, meta, children):
        return ("partition_by", tuple(children))

    def within_match(self, meta, children):
        return ("within", (self._interval(children[0]), False))

    def within_between_events(self, meta, children):
        return ("within", (self._interval(children[0]), True))

    def define_item(self, meta, children):
        name, condition, *until = children
        return ast.Define(str(name), condition, until[0] if until else None,
                          span=_span_of(meta))

    def define_clause(self, meta, children):
        return ("defines", tuple(children))

    def skip_past_last_event(self, meta, children):
        return ("after_match", ast.AfterMatch("SKIP PAST LAST EVENT", span=_span_of(meta)))

    def skip_to_next_event(self, meta, children):
        return ("after_match", ast.AfterMatch("SKIP TO NEXT EVENT", span=_span_of(meta)))

    def skip_to_first(self, meta, children):
        return ("after_match", ast.AfterMatch("SKIP TO FIRST", str(children[0]),
                                              span=_span_of(meta)))

    def skip_to_last(self, meta, children):
        return ("after_match", ast.AfterMatch("SKIP TO LAST", str(children[0]),
                                              span=_span_of(meta)))

    def no_skip(self, meta, children):
        return ("after_match", ast.AfterMatch("NO SKIP", span=_span_of(meta)))

    def timeouts(self, meta, children):
        return ("timeouts_to", str(children[0]))

    def match_clause(self, meta, children):
        pattern = next(c for c in children if isinstance(c, ast.PatternNode))
        parts = dict(c for c in children if isinstance(c, tuple))
        within_ms, between_events = parts.get("within", (None, False))
        return ("match", ast.MatchClause(
            pattern, parts.get("partition_by", ()), within_ms, between_events,
            parts.get("defines", ()), parts.get("after_match"), parts.get("timeouts_to"),
            span=_span_of(meta)))

    def where_clause(self, meta, children):
        return ("where", children[0])

    def group_by_clause(self, meta, children):
        return ("group_by", tuple(children))

    def having_clause(self, meta, children):
        return ("having", children[0])

    def emit_mode(self, meta, children):
        return ("emit", (str(children[0]).upper(), None))

    def emit_every(self, meta, children):
        return ("emit", ("EVERY", self._interval(children[0])))

    def select(self, meta, children):
        items, *clauses = children
        parts = dict(clauses)
        sources, joins = parts["from"]
        emit, every = parts.get("emit", (None, None))
        return ast.Select(items, sources[0], parts.get("where"), parts.get("group_by", ()),
                          parts.get("having"), emit, span=_span_of(meta), emit_every_ms=every,
                          more_sources=sources[1:], joins=joins, match=parts.get("match"))

    def insert_into(self, meta, children):
        target, query = children
        return ast.InsertInto(str(target), query, span=_span_of(meta), target_span=target.span)

    def start(self, meta, children):
        return ast.Program(tuple(c for c in children if not isinstance(c, Token)))


_TOKEN_DESCRIPTIONS = {
    "NAME": "a name", "QUOTED_NAME": "a quoted name", "NUMBER": "a number",
    "STRING": "a string", "INTERVAL": "an interval such as 10 SECONDS", "EQ": "'='",
    "NE": "'<>'", "LE": "'<='", "GE": "'>='", "LT": "'<'", "GT": "'>'", "PLUS": "'+'",
    "MINUS": "'-'", "CONCAT": "'||'", "STAR": "'*'", "SLASH": "'/'", "PERCENT": "'%'",
    "LPAR": "'('", "RPAR": "')'", "COMMA": "','", "SEMICOLON": "';'", "DOT": "'.'",
    "EMIT_MODE": "FINAL or CHANGES", "$END": "end of input", "ARROW": "'->'",
    "COLON": "':'", "QUESTION": "'?'", "LBRACE": "'{'", "RBRACE": "'}'", "VBAR": "'|'",
}


def _describe_expected(expected: set[str]) -> str:
    """Expected tokens in words: value kinds first, then keywords, then punctuation."""
    described, keywords, punctuation = set(), set(), set()
    for name in expected:
        text = _TOKEN_DESCRIPTIONS.get(name)
        if text is None:
            if not name.startswith("_"):
                keywords.add(name.upper())  # keyword terminals are named after their text
        elif text.startswith("'"):
            punctuation.add(text)
        else:
            described.add(text)
    ordered = sorted(described) + sorted(keywords) + sorted(punctuation)
    if len(ordered) > 10:
        ordered = ordered[:10] + ["..."]
    return ", ".join(ordered)


def _syntax_error(error: UnexpectedInput, source_name: str, text: str) -> FrysSyntaxError:
    if isinstance(error, UnexpectedToken) and error.token.type == "$END":
        lines = text.splitlines() or [""]
        span = Span.point(len(lines), len(lines[-1]) + 1)
        message = f"unexpected end of input; expected {_describe_expected(error.expected)}"
    elif isinstance(error, UnexpectedToken):
        token = error.token
        span = Span(token.line, token.column, token.end_line or token.line,
                    (token.end_column or token.column + 1) - 1)
        message = f"unexpected {token.value!r}; expected {_describe_expected(error.expected)}"
    elif isinstance(error, UnexpectedCharacters):
        span = Span.point(error.line, error.column)
        message = f"unexpected character {error.char!r}"
        if error.allowed:
            message += f"; expected {_describe_expected(set(error.allowed))}"
    elif isinstance(error, UnexpectedEOF):
        lines = text.splitlines() or [""]
        span = Span.point(len(lines), len(lines[-1]) + 1)
        message = "unexpected end of input"
    else:  # pragma: no cover - Lark has no other UnexpectedInput kinds
        span = Span.point(getattr(error, "line", 0), getattr(error, "column", 0))
        message = str(error)
    return FrysSyntaxError([Diagnostic(message, span)], source_name, text)


class _Refused(Exception):
    """Raised by the transformer at a token it cannot accept (a bound beyond a limit);
    `parse` turns it into a positioned FrysSyntaxError."""

    def __init__(self, message: str, token: Token) -> None:
        super().__init__(message)
        self.message = message
        self.span = Span(token.line or 0, token.column or 0, token.end_line or token.line or 0,
                         (token.end_column or (token.column or 0) + 1) - 1)


def parse(text: str, source_name: str = "<query>",
          limits: Limits = DEFAULT_LIMITS) -> ast.Program:
    """Parse .frysql text into a Program; raises FrysSyntaxError on bad syntax, and on
    bounds beyond `limits` (dsl/limits.py)."""
    if len(text) > limits.max_job_chars:
        raise FrysSyntaxError([Diagnostic(
            f"the job is {len(text):,} characters long; at most {limits.max_job_chars:,}",
            Span.point(1, 1))], source_name, text[:10_000])
    with garbage_collection_paused():
        try:
            tree = _lark().parse(text)
            program = reshape(_ToAst(limits).transform(tree))
            return with_query_names(program, text, source_name)
        except UnexpectedInput as error:
            raise _syntax_error(error, source_name, text) from None
        except TooDeep as error:
            raise FrysSyntaxError([error.diagnostic], source_name, text) from None
        except VisitError as error:
            if isinstance(error.orig_exc, _Refused):
                refused = error.orig_exc
                raise FrysSyntaxError([Diagnostic(refused.message, refused.span)],
                                      source_name, text) from None
            raise
