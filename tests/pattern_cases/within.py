"""Conformance cases from Flink CEP's tests: WITHIN (the translation rules are in __init__.py)."""

from __future__ import annotations

from pattern_cases.case import PatternCase

# NFAITCase.testSimplePatternWithTimeWindowNFA*
_TIME_WINDOW = [(1, "start", 1.0, 1), (2, "start", 1.0, 2), (3, "middle", 1.0, 3),
                (4, "foobar", 1.0, 4), (5, "end", 1.0, 11), (6, "end", 1.0, 13)]


WITHIN: list[PatternCase] = [
    PatternCase(
        "within between first and last event",
        "Flink NFAITCase.testSimplePatternWithTimeWindowNFAWithinFirstAndLast",
        "PATTERN (s -> m -> fin) WITHIN 10ms DEFINE s AS s.name = 'start',"
        " m AS m.name = 'middle', fin AS fin.name = 'end' AFTER MATCH NO SKIP",
        _TIME_WINDOW,
        [[2, 3, 5]],
    ),
    PatternCase(
        "within between consecutive events",
        "Flink NFAITCase.testSimplePatternWithTimeWindowNFAWithinPreviousAndCurrent",
        "PATTERN (s -> m -> fin) WITHIN 9ms BETWEEN EVENTS DEFINE s AS s.name = 'start',"
        " m AS m.name = 'middle', fin AS fin.name = 'end' AFTER MATCH NO SKIP",
        _TIME_WINDOW,
        [[1, 3, 5], [2, 3, 5]],
    ),

]
