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


@dataclass(frozen=True)
class TimeoutCase:
    """A Flink test that checks the partial matches WITHIN dropped (frys: EMIT TIMEOUTS TO), as
    well as the matches."""
    name: str
    source: str
    pattern: str              # as PatternCase.pattern, without EMIT TIMEOUTS (the runner adds it)
    events: list[tuple[int, str, float, int]]
    matches: list[list[int]]  # expected matches (only their number when `count_only`)
    timeouts: list[list[int]]  # expected timed-out partial matches, as ids, compared as multisets
    # the variables whose events Flink's test looks at in a timed-out match (None: all of them)
    timeout_variables: tuple[str, ...] | None = None
    count_only: bool = False  # Flink asserts only how many matches there are
    # True: time runs on past the last event (end of input, as a Flink job's final watermark);
    # False: it stops at the last event's timestamp (Flink's NFA harness advances time only to
    # each event's timestamp before processing it)
    until_end_of_input: bool = False


# NFAITCase: five events a..e, no conditions
ABCDE = [(40, "a", 1.0, 1), (41, "b", 2.0, 2), (42, "c", 3.0, 3), (43, "d", 4.0, 4),
         (44, "e", 5.0, 5)]

# NFAITCase.ConsecutiveData with the "d" filler of testOneOrMore / testZeroOrMore (middleEvent4
# had id 43 too: 45)
CONSECUTIVE_LOOP = [(40, "c", 1.0, 1), (50, "d", 6.0, 2), (41, "a", 2.0, 3), (42, "a", 3.0, 4),
                    (43, "a", 4.0, 4), (50, "d", 6.0, 5), (45, "a", 5.0, 6), (44, "b", 5.0, 7)]

# ConsecutiveData with "f" fillers (NFAITCase.testTimes*, TimesRangeITCase, TimesOrMoreITCase)
TIMES_FILLED = [(40, "c", 1.0, 1), (23, "f", 1.0, 2), (41, "a", 2.0, 3), (23, "f", 1.0, 4),
                (42, "a", 3.0, 5), (43, "a", 4.0, 6), (44, "b", 5.0, 7)]

# ConsecutiveData with the fillers after the first "a" (the *NonStrictWithNext tests)
TIMES_FILLED_AFTER_FIRST = [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (23, "f", 1.0, 3),
                            (42, "a", 3.0, 4), (23, "f", 1.0, 5), (43, "a", 4.0, 6),
                            (44, "b", 5.0, 7)]

# ConsecutiveData without fillers, as the *NotStrictWithFollowedBy* tests time it
CAAAB = [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 3.0, 4), (43, "a", 4.0, 6),
         (44, "b", 5.0, 7)]

CAB = "DEFINE s AS s.name = 'c', m AS m.name = 'a', fin AS fin.name = 'b'"
CAD = "DEFINE s AS s.name = 'c', m AS m.name = 'a', fin AS fin.name = 'd'"
