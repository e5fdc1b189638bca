"""Conformance cases from Flink CEP's tests: groups (the translation rules are in __init__.py)."""

from __future__ import annotations

from pattern_cases.case import PatternCase

# GroupITCase: c (a b)... d
_GROUP_DEFINE = ("DEFINE s AS s.name = 'c', m1 AS m1.name = 'a', m2 AS m2.name = 'b',"
                 " fin AS fin.name = 'd'")
_GROUP_ABAB = [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "b", 3.0, 3), (43, "a", 4.0, 4),
               (44, "b", 5.0, 5), (45, "d", 6.0, 6)]


GROUPS: list[PatternCase] = [
    PatternCase(
        "group {2}",
        "Flink GroupITCase.testGroupFollowedByTimes",
        "PATTERN (s -> (m1 -> m2){2} -> fin) " + _GROUP_DEFINE + " AFTER MATCH NO SKIP",
        _GROUP_ABAB,
        [[40, 41, 42, 43, 44, 45]],
    ),
    PatternCase(
        "optional group",
        "Flink GroupITCase.testGroupFollowedByOptional",
        "PATTERN (s -> (m1 -> m2)?? -> fin) " + _GROUP_DEFINE + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 2.0, 3), (43, "b", 3.0, 4),
         (44, "d", 4.0, 5)],
        [[40, 44], [40, 41, 43, 44]],
    ),
    PatternCase(
        "group one-or-more",
        "Flink GroupITCase.testGroupFollowedByOneOrMore",
        "PATTERN (s -> (m1 -> m2)+? -> fin) " + _GROUP_DEFINE + " AFTER MATCH NO SKIP",
        _GROUP_ABAB,
        [[40, 41, 42, 45], [40, 41, 42, 43, 44, 45]],
    ),
    PatternCase(
        "group zero-or-more",
        "Flink GroupITCase.testGroupFollowedByZeroOrMore",
        "PATTERN (s -> (m1 -> m2)*? -> fin) " + _GROUP_DEFINE + " AFTER MATCH NO SKIP",
        _GROUP_ABAB,
        [[40, 45], [40, 41, 42, 45], [40, 41, 42, 43, 44, 45]],
    ),
    PatternCase(
        "any-relaxed group {2} with combinations",
        "Flink GroupITCase.testGroupFollowedByAnyTimesCombinations",
        "PATTERN (s ->> (m1 -> m2){2} -> fin) " + _GROUP_DEFINE + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "b", 3.0, 3), (43, "a", 4.0, 4),
         (44, "b", 5.0, 5), (45, "a", 4.0, 6), (46, "b", 5.0, 7), (47, "d", 6.0, 8)],
        [[40, 41, 42, 43, 44, 47], [40, 41, 42, 45, 46, 47], [40, 43, 44, 45, 46, 47]],
    ),
]
