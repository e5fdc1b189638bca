"""What `frys check` accepts only within bounds, so that every job it accepts runs in bounded
memory (issue 12). Each limit is refused with its reason and the position of what exceeds it.

* `max_hop_windows`: a HOP(size, slide) puts each event into size / slide windows, and each
  is a group of state per key; `HOP(1 DAY, 1 MILLISECOND)` would be 86.4 million per event.
* `max_repetitions`: a bounded quantifier `{n}`, `{n,m}`, `{n,}` compiles to about one
  automaton state per repetition (as Flink's NFACompiler builds it).
* `max_job_chars`: a job's text (1 MiB by default: a generated query with ten thousand
  terms is a few hundred kB).
* intervals (`TUMBLE(...)`, `WITHIN`, `watermark = ...`) longer than the TIMESTAMP range
  (years 0001 to 9999) mean nothing and overflow 64-bit milliseconds; not configurable.

`compile_text(text, limits=Limits(max_hop_windows=10_000))` (and `Pipeline.from_text`) take
other bounds; the defaults keep a laptop alive.
"""

from __future__ import annotations

from dataclasses import dataclass

# TIMESTAMP holds 0001-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z in epoch milliseconds
TIMESTAMP_MIN_MS = -62_135_596_800_000
TIMESTAMP_MAX_MS = 253_402_300_799_999
MAX_INTERVAL_MS = TIMESTAMP_MAX_MS - TIMESTAMP_MIN_MS


@dataclass(frozen=True)
class Limits:
    max_hop_windows: int = 1_000
    max_repetitions: int = 1_000
    max_job_chars: int = 1 << 20


DEFAULT_LIMITS = Limits()
