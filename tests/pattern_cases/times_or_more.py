"""Conformance cases from Flink CEP's TimesOrMoreITCase: `timesOrMore(n)` is `{n,}?` (the
translation rules are in __init__.py).

Source: flink-libraries/flink-cep/src/test/java/org/apache/flink/cep/nfa/TimesOrMoreITCase.java
as stored at apache/flink 5bb9e6f3 (the newest stored version, from before Flink 2.0; nothing in
it depends on the version). Its `timesOrMore(2).optional()` tests ("zero, or two or more") have no
frys spelling; they are listed in __init__.py.
"""

from __future__ import annotations

from pattern_cases.case import (
    CAAAB,
    CAB,
    TIMES_FILLED,
    TIMES_FILLED_AFTER_FIRST,
    PatternCase,
)

TIMES_OR_MORE: list[PatternCase] = [
    PatternCase(
        "relaxed entry, {2,} with combinations",
        "Flink TimesOrMoreITCase.testTimesOrMore",
        "PATTERN (s -> m{2,}? ANY -> fin) " + CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 3.0, 3), (43, "a", 4.0, 4),
         (44, "b", 5.0, 6)],
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 41, 43, 44]],
    ),
    PatternCase(
        "any-relaxed {2,} with combinations over fillers",
        "Flink TimesOrMoreITCase.testTimesOrMoreNonStrict",
        "PATTERN (s ->> m{2,}? -> fin) " + CAB + " AFTER MATCH NO SKIP",
        TIMES_FILLED,
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 41, 43, 44], [40, 42, 43, 44]],
    ),
    # Despite its name, Flink's test runs times(2).consecutive(), not timesOrMore(2).
    PatternCase(
        "any-relaxed entry, strict {2} (the times-or-more suite's copy)",
        "Flink TimesOrMoreITCase.testTimesOrMoreStrict",
        "PATTERN (s ->> m{2} STRICT -> fin) " + CAB + " AFTER MATCH NO SKIP",
        TIMES_FILLED,
        [[40, 42, 43, 44]],
    ),
    PatternCase(
        "strict entry, {2,} with combinations over fillers",
        "Flink TimesOrMoreITCase.testTimesOrMoreNonStrictWithNext",
        "PATTERN (s m{2,}? ANY -> fin) " + CAB + " AFTER MATCH NO SKIP",
        TIMES_FILLED_AFTER_FIRST,
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 41, 43, 44]],
    ),
    PatternCase(
        "relaxed {2,}",
        "Flink TimesOrMoreITCase.testTimesOrMoreNotStrictWithFollowedBy",
        "PATTERN (s -> m{2,}? -> fin) " + CAB + " AFTER MATCH NO SKIP",
        CAAAB,
        [[40, 41, 42, 43, 44], [40, 41, 42, 44]],
    ),
    PatternCase(
        "any-relaxed {2,} with combinations",
        "Flink TimesOrMoreITCase.testTimesOrMoreNotStrictWithFollowedByAny",
        "PATTERN (s ->> m{2,}? -> fin) " + CAB + " AFTER MATCH NO SKIP",
        CAAAB,
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 42, 43, 44], [40, 41, 43, 44]],
    ),
]
