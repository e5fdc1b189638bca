"""Errors of the .frysql front end, each pointing at the text that caused it.

Every error carries a :class:`Span` (1-based line and column, as an editor shows them) and,
when the source text is known, renders as::

    trades.frysql:3:12: error: unknown column 'prise' in stream trades (did you mean 'price'?)
        SELECT prise FROM trades
               ^^^^^

`FrysError` is the only exception type that parsing and analysis raise for bad input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Self


@dataclass(frozen=True, slots=True)
class Span:
    """A region of source text: 1-based line/column of its first and last character."""

    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def point(line: int, column: int) -> Span:
        return Span(line, column, line, column)


UNKNOWN_SPAN = Span(0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One message about one place in the source; `severity` is 'error' or 'warning'."""

    message: str
    span: Span
    severity: str = "error"

    def render(self, source_name: str, source_text: str | None) -> str:
        where = f"{source_name}:{self.span.line}:{self.span.column}"
        header = f"{where}: {self.severity}: {self.message}"
        if not source_text or self.span.line < 1:
            return header
        lines = source_text.splitlines()
        if self.span.line > len(lines):
            return header
        text = lines[self.span.line - 1]
        if self.span.end_line == self.span.line and self.span.end_column >= self.span.column:
            width = self.span.end_column - self.span.column + 1
        else:
            width = max(1, len(text) - self.span.column + 1)
        start = self.span.column - 1
        if len(text) > SHOWN_LINE:  # a long (generated) line: the part around the span
            first = max(0, start - SHOWN_LINE // 4)
            shown = text[first:first + SHOWN_LINE]
            prefix = "..." if first else ""
            suffix = "..." if first + SHOWN_LINE < len(text) else ""
            text = prefix + shown + suffix
            start = start - first + len(prefix)
            width = min(width, len(shown) + len(prefix) - start)
        caret = " " * start + "^" * max(1, width)
        return f"{header}\n    {text}\n    {caret}"


# the most characters of a source line an error shows (longer lines are cut around the span)
SHOWN_LINE = 160


class FrysError(Exception):
    """Bad input to frys: one or more diagnostics, rendered with file, line, column and caret."""

    def __init__(
        self,
        diagnostics: Iterable[Diagnostic],
        source_name: str = "<query>",
        source_text: str | None = None,
    ) -> None:
        self.diagnostics = tuple(diagnostics)
        self.source_name = source_name
        self.source_text = source_text
        super().__init__(self.render())

    @classmethod
    def at(cls, message: str, span: Span, source_name: str = "<query>",
           source_text: str | None = None) -> Self:
        return cls([Diagnostic(message, span)], source_name, source_text)

    def render(self) -> str:
        return "\n".join(d.render(self.source_name, self.source_text) for d in self.diagnostics)

    def with_source(self, source_name: str, source_text: str) -> FrysError:
        """The same diagnostics, rendered against the given file."""
        return type(self)(self.diagnostics, source_name, source_text)


class FrysSyntaxError(FrysError):
    """The text does not follow the grammar."""


class FrysAnalysisError(FrysError):
    """The text parses, but names, types or semantic rules are violated."""


class NotSupportedYet(FrysError):
    """The construct is valid .frysql but this runtime cannot execute it yet."""


@dataclass
class Diagnostics:
    """What one analysis found, collected rather than raised so that a file reports all its
    problems at once: `errors` (the job is refused), `not_supported` (valid .frysql the
    runtime cannot run yet: `frys check` lists them, `frys run` refuses them) and
    `warnings`. The analyzer's components share one collector."""

    errors: list[Diagnostic] = field(default_factory=list)
    not_supported: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)

    def error(self, message: str, span: Span) -> None:
        self.errors.append(Diagnostic(message, span))

    def later(self, construct: str, span: Span) -> None:
        """Valid .frysql the runtime cannot run yet: checked, then refused by `frys run`."""
        self.not_supported.append(Diagnostic(
            f"not supported yet: {construct} at {span.line}:{span.column}", span))

    def warn(self, message: str, span: Span) -> None:
        self.warnings.append(Diagnostic(message, span, "warning"))


@dataclass(frozen=True)
class UriProblem:
    """What a connector URI check found wrong with a `source` or `sink` URI: an error
    (`message` is the whole message) or, with `not_supported`, a connector the runtime
    cannot run yet (`message` names the construct, as `Diagnostics.later` takes it)."""

    message: str
    not_supported: bool = False

    @staticmethod
    def error(message: str) -> UriProblem:
        return UriProblem(message)

    @staticmethod
    def later(construct: str) -> UriProblem:
        return UriProblem(construct, not_supported=True)


# checks one connector URI in its role ('source' or 'sink'): None when it is fine
UriChecker = Callable[[str, str], "UriProblem | None"]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest candidate, or '' when none is close."""
    import difflib  # only for a job with a misspelt name: a good job never loads it

    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in candidates}
        if name.lower() in lowered:
            matches = [lowered[name.lower()]]
    return f" (did you mean '{matches[0]}'?)" if matches else ""
