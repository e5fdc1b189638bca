"""What a run did (JobStats) and the summary `frys run` prints of it at the end.

Kept apart from the runtime (no polars, no operators): the launcher of a `-p` cluster
prints the summary its processes wrote without loading any of that, which took it 0.4 s
after the last process had ended.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only named: the runtime keeps the dead letters it decoded
    from frys.connectors.decode import DeadLetter


@dataclass
class JobStats:
    """What a run did: events per topic, late events per query, dead letters per stream."""

    events: Counter[str] = field(default_factory=Counter)
    late_events: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    # count windows still short of their size when the input ended (they do not fire)
    incomplete_windows: Counter[str] = field(default_factory=Counter)
    # partial matches a pattern query dropped over its per-partition limit
    discarded_partial_matches: Counter[str] = field(default_factory=Counter)
    # partial matches a pattern query dropped over its byte budgets (per partition, per job)
    discarded_partial_matches_for_bytes: Counter[str] = field(default_factory=Counter)
    first_dead_letters: list[DeadLetter] = field(default_factory=list)

    @property
    def total_dead_letters(self) -> int:
        return sum(self.dead_letters.values())

    @property
    def total_late_events(self) -> int:
        return sum(self.late_events.values())


def summary(stats: JobStats) -> str:
    """The lines `frys run` prints on stderr at the end: events per stream, then what was
    dropped or discarded and why, then the dead letters (the first three shown)."""
    parts = [f"{stream}: {count} events" for stream, count in stats.events.items()
             if count and stream != "dead_letters"]
    lines = ["frys: done. " + ("; ".join(parts) if parts else "no events")]
    if stats.total_late_events:
        detail = ", ".join(f"{q}: {n}" for q, n in stats.late_events.items())
        lines.append(f"frys: late events dropped: {stats.total_late_events} ({detail})")
    if stats.incomplete_windows:
        detail = ", ".join(f"{q}: {n}" for q, n in stats.incomplete_windows.items())
        lines.append(f"frys: count windows still short at the end (not fired): {detail}")
    if stats.discarded_partial_matches:
        detail = ", ".join(f"{q}: {n}" for q, n in stats.discarded_partial_matches.items())
        lines.append(f"frys: partial matches discarded over the limit: {detail} "
                     "(raise --max-partial-matches, or bound the pattern with WITHIN)")
    if stats.discarded_partial_matches_for_bytes:
        detail = ", ".join(f"{q}: {n}"
                           for q, n in stats.discarded_partial_matches_for_bytes.items())
        lines.append(f"frys: partial matches discarded over the byte budget: {detail} "
                     "(raise --max-pattern-bytes-per-partition / --max-pattern-bytes, or "
                     "bound the pattern with WITHIN)")
    if stats.total_dead_letters:
        detail = ", ".join(f"{s}: {n}" for s, n in stats.dead_letters.items())
        lines.append(f"frys: dead letters: {stats.total_dead_letters} ({detail})")
        for letter in stats.first_dead_letters[:3]:
            lines.append(f"  {letter.position}: {letter.reason}")
    else:
        lines.append("frys: dead letters: 0")
    return "\n".join(lines)
