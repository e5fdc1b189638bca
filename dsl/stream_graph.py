"""Which streams feed which: a job whose streams feed themselves in a loop is refused.

Every event published to a stream is delivered, synchronously, to everything it feeds
(engine/runtime.py): a query's output, the stream its late events go to, the stream a
pattern's timed-out partial matches go to, and through the job's bus, a `bus:` sink naming
another stream of the job or a `bus:` source reading one. A loop among these would send
each event round it forever (it used to end in a RecursionError), so analysis refuses it,
naming every link of the loop at the place the job wrote it.

The language's own links (`language_feeds`) are checked by the analyzer; links through
connectors are given by whoever knows them (api/compiler.py adds the `bus:` ones).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from frys.dsl.analyzed import AnalyzedQuery, StreamDef
from frys.dsl.errors import Diagnostic, Span


@dataclass(frozen=True)
class Feed:
    """`source` delivers its events to `target`; `how` says through what, as the job
    wrote it, and `span` where."""

    source: str
    target: str
    how: str
    span: Span


def language_feeds(streams: dict[str, StreamDef], queries: Iterable[AnalyzedQuery]
                   ) -> list[Feed]:
    """The links the language makes: queries, late streams, pattern timeouts."""
    feeds = []
    for query in queries:
        statement = query.statement
        sources = [statement.source, *statement.more_sources,
                   *(join.source for join in statement.joins)]
        for source in sources:
            feeds.append(Feed(source.name, query.output_stream,
                              f"the query writing {query.output_stream}", statement.span))
        match = statement.match
        if match is not None and match.timeouts_to is not None:
            for source in sources:
                feeds.append(Feed(source.name, match.timeouts_to,
                                  f"EMIT TIMEOUTS TO {match.timeouts_to}", match.span))
    for stream in streams.values():
        if stream.late is not None:
            target, span = stream.late
            feeds.append(Feed(stream.name, target, f"late = {target}", span))
    return feeds


def loop_of(feeds: Iterable[Feed]) -> list[Feed] | None:
    """A loop among `feeds` (its links in order, starting at the first stream of the job
    found on one), or None."""
    out: dict[str, list[Feed]] = {}
    for feed in feeds:
        out.setdefault(feed.source, []).append(feed)
    state: dict[str, int] = {}  # 1: on the current path, 2: done (no loop through it)
    path: list[Feed] = []

    def visit(stream: str) -> list[Feed] | None:
        state[stream] = 1
        for feed in out.get(stream, []):
            if state.get(feed.target) == 1:  # back to a stream on the path: the loop
                start = next((i for i, f in enumerate(path) if f.source == feed.target),
                             len(path))
                return [*path[start:], feed]
            if feed.target not in state:
                path.append(feed)
                found = visit(feed.target)
                if found is not None:
                    return found
                path.pop()
        state[stream] = 2
        return None

    for stream in list(out):
        if stream not in state:
            found = visit(stream)
            if found is not None:
                return found
    return None


def loop_diagnostic(loop: list[Feed]) -> Diagnostic:
    """The error for a loop: every link, at the place the first one was written."""
    links = "; ".join(f"{feed.source} feeds {feed.target} ({feed.how} at "
                      f"{feed.span.line}:{feed.span.column})" for feed in loop)
    return Diagnostic(f"streams feed themselves in a loop, so every event would go round it "
                      f"forever: {links}", loop[0].span)
