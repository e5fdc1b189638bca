"""The shape of a conformance case, and the event sets and conditions several feature
modules share."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PatternCase:
    name: str                 # short description (the pytest id)
    source: str               # "Flink NFAITCase.testSimplePatternWithTimeWindowNFA" etc.
    pattern: str              # everything after `FROM ev `: "PATTERN (...) [WITHIN ..] DEFINE ..."
    events: list[tuple[int, str, float, int]]   # (id, name, price, ts) in arrival order
    matches: list[list[int]]  # expected matches: each the ids of its events in event-time order
    ordered: bool = False     # True when the emission order of matches must match exactly


# NFAITCase: five events a..e, no conditions
ABCDE = [(40, "a", 1.0, 1), (41, "b", 2.0, 2), (42, "c", 3.0, 3), (43, "d", 4.0, 4),
         (44, "e", 5.0, 5)]

CAB = "DEFINE s AS s.name = 'c', m AS m.name = 'a', fin AS fin.name = 'b'"
CAD = "DEFINE s AS s.name = 'c', m AS m.name = 'a', fin AS fin.name = 'd'"
