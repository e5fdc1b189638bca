"""Conformance cases from Flink CEP's tests: greedy quantifiers (the translation rules are in
__init__.py)."""

from __future__ import annotations

from pattern_cases.case import CAD, PatternCase

# GreedyITCase: c a a a d
_GREEDY_CAAAD = [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 2.0, 3), (43, "a", 2.0, 4),
                 (44, "d", 3.0, 5)]
_GREEDY_IN_BETWEEN = [(40, "c", 1.0, 1), (1, "dummy", 1111.0, 2), (41, "a", 2.0, 3),
                      (1, "dummy", 1111.0, 4), (42, "a", 2.0, 5), (1, "dummy", 1111.0, 6),
                      (43, "a", 2.0, 7), (44, "d", 3.0, 8)]
_GREEDY_DUMMY_AFTER = [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 2.0, 3),
                       (43, "dummy", 2.0, 4), (44, "d", 3.0, 5)]
_GREEDY_DUMMY_BEFORE = [(40, "c", 1.0, 1), (43, "dummy", 2.0, 2), (44, "d", 3.0, 5)]
_GREEDY_UNTIL_AFTER = [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 3.0, 3), (43, "a", 3.0, 4),
                       (44, "a", 4.0, 5), (45, "d", 3.0, 6)]
_GREEDY_UNTIL_BEFORE = [(40, "c", 1.0, 1), (44, "a", 4.0, 2), (41, "a", 2.0, 3),
                        (42, "a", 3.0, 4), (43, "a", 3.0, 5), (45, "d", 3.0, 6)]
_GREEDY_UNTIL_DEFINE = ("DEFINE s AS s.name = 'c', m AS m.name = 'a' UNTIL m.price > 3.0,"
                        " fin AS fin.name = 'd'")


GREEDY: list[PatternCase] = [
    PatternCase(
        "greedy zero-or-more",
        "Flink GreedyITCase.testGreedyZeroOrMore",
        "PATTERN (s -> m* -> fin) " + CAD + " AFTER MATCH NO SKIP",
        _GREEDY_CAAAD,
        [[40, 41, 42, 43, 44]],
    ),
    PatternCase(
        "greedy zero-or-more over fillers",
        "Flink GreedyITCase.testGreedyZeroOrMoreInBetween",
        "PATTERN (s -> m* -> fin) " + CAD + " AFTER MATCH NO SKIP",
        _GREEDY_IN_BETWEEN,
        [[40, 41, 42, 43, 44]],
    ),
    PatternCase(
        "greedy zero-or-more, filler after the loop",
        "Flink GreedyITCase.testGreedyZeroOrMoreWithDummyEventsAfterQuantifier",
        "PATTERN (s -> m* -> fin) " + CAD + " AFTER MATCH NO SKIP",
        _GREEDY_DUMMY_AFTER,
        [[40, 41, 42, 44]],
    ),
    PatternCase(
        "greedy zero-or-more taking nothing",
        "Flink GreedyITCase.testGreedyZeroOrMoreWithDummyEventsBeforeQuantifier",
        "PATTERN (s -> m* -> fin) " + CAD + " AFTER MATCH NO SKIP",
        _GREEDY_DUMMY_BEFORE,
        [[40, 44]],
    ),
    PatternCase(
        "greedy zero-or-more with until",
        "Flink GreedyITCase.testGreedyUntilZeroOrMoreWithDummyEventsAfterQuantifier",
        "PATTERN (s -> m* -> fin) " + _GREEDY_UNTIL_DEFINE + " AFTER MATCH NO SKIP",
        _GREEDY_UNTIL_AFTER,
        [[40, 41, 42, 43, 45]],
    ),
    PatternCase(
        "greedy zero-or-more stopped at once by until",
        "Flink GreedyITCase.testGreedyUntilWithDummyEventsBeforeQuantifier",
        "PATTERN (s -> m* -> fin) " + _GREEDY_UNTIL_DEFINE + " AFTER MATCH NO SKIP",
        _GREEDY_UNTIL_BEFORE,
        [[40, 45]],
    ),
    PatternCase(
        "greedy one-or-more",
        "Flink GreedyITCase.testGreedyOneOrMore",
        "PATTERN (s -> m+ -> fin) " + CAD + " AFTER MATCH NO SKIP",
        _GREEDY_CAAAD,
        [[40, 41, 42, 43, 44]],
    ),
    PatternCase(
        "greedy one-or-more over fillers",
        "Flink GreedyITCase.testGreedyOneOrMoreInBetween",
        "PATTERN (s -> m+ -> fin) " + CAD + " AFTER MATCH NO SKIP",
        _GREEDY_IN_BETWEEN,
        [[40, 41, 42, 43, 44]],
    ),
    PatternCase(
        "greedy one-or-more, filler after the loop",
        "Flink GreedyITCase.testGreedyOneOrMoreWithDummyEventsAfterQuantifier",
        "PATTERN (s -> m+ -> fin) " + CAD + " AFTER MATCH NO SKIP",
        _GREEDY_DUMMY_AFTER,
        [[40, 41, 42, 44]],
    ),
    PatternCase(
        "greedy one-or-more with nothing to take",
        "Flink GreedyITCase.testGreedyOneOrMoreWithDummyEventsBeforeQuantifier",
        "PATTERN (s -> m+ -> fin) " + CAD + " AFTER MATCH NO SKIP",
        _GREEDY_DUMMY_BEFORE,
        [],
    ),
    PatternCase(
        "greedy one-or-more with until",
        "Flink GreedyITCase.testGreedyUntilOneOrMoreWithDummyEventsAfterQuantifier",
        "PATTERN (s -> m+ -> fin) " + _GREEDY_UNTIL_DEFINE + " AFTER MATCH NO SKIP",
        _GREEDY_UNTIL_AFTER,
        [[40, 41, 42, 43, 45]],
    ),
    PatternCase(
        "greedy one-or-more stopped at once by until",
        "Flink GreedyITCase.testGreedyUntilOneOrMoreWithDummyEventsBeforeQuantifier",
        "PATTERN (s -> m+ -> fin) " + _GREEDY_UNTIL_DEFINE + " AFTER MATCH NO SKIP",
        _GREEDY_UNTIL_BEFORE,
        [],
    ),
    PatternCase(
        "greedy zero-or-more before a {2} group (ids made unique)",
        "Flink GreedyITCase.testGreedyZeroOrMoreBeforeGroupPattern",
        "PATTERN (s -> m* -> (m1 -> m2){2} -> fin) DEFINE s AS s.name = 'c',"
        " m AS m.name = 'a', m1 AS m1.name = 'd', m2 AS m2.name = 'e', fin AS fin.name = 'f'"
        " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 1.0, 2), (42, "a", 1.0, 3), (43, "dummy", 2.0, 4),
         (45, "a", 1.0, 5), (46, "d", 1.0, 6), (47, "e", 1.0, 7), (48, "d", 1.0, 8),
         (49, "e", 1.0, 9), (44, "f", 3.0, 10)],
        [[40, 41, 42, 45, 46, 47, 48, 49, 44]],
    ),
    PatternCase(
        "pattern ends with a greedy zero-or-more",
        "Flink GreedyITCase.testEndWithZeroOrMoreGreedy",
        "PATTERN (s -> fin*) DEFINE s AS s.name = 'c', fin AS fin.name = 'a'"
        " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 2.0, 3), (44, "dummy", 2.0, 4),
         (43, "a", 2.0, 5)],
        [[40], [40, 41], [40, 41, 42], [40, 41, 42, 43]],
    ),
    PatternCase(
        "pattern ends with a greedy {2,5}",
        "Flink GreedyITCase.testEndWithGreedyTimesRange",
        "PATTERN (s -> fin{2,5}) DEFINE s AS s.name = 'c', fin AS fin.name = 'a'"
        " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 2.0, 3), (43, "a", 2.0, 4),
         (44, "a", 2.0, 5), (44, "dummy", 2.0, 6)],
        [[40, 41, 42], [40, 41, 42, 43], [40, 41, 42, 43, 44]],
    ),
    PatternCase(
        "greedy {2,5} in the middle",
        "Flink GreedyITCase.testGreedyTimesRange",
        "PATTERN (s -> m{2,5} -> fin) " + CAD + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 2.0, 3), (43, "a", 2.0, 4),
         (44, "a", 2.0, 5), (45, "d", 2.0, 6)],
        [[40, 41, 42, 43, 44, 45]],
    ),
    PatternCase(
        "pattern ends with a relaxed entry, greedy strict zero-or-more",
        "Flink GreedyITCase.testEndWithZeroOrMoreConsecutiveGreedy",
        "PATTERN (s -> fin* STRICT) DEFINE s AS s.name = 'c', fin AS fin.name = 'a'"
        " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 2.0, 3), (44, "dummy", 2.0, 4),
         (43, "a", 2.0, 5)],
        [[40], [40, 41], [40, 41, 42]],
    ),
]
