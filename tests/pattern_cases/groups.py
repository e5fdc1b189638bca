"""Conformance cases from Flink CEP's tests: groups (the translation rules are in __init__.py)."""

from __future__ import annotations

from pattern_cases.case import PatternCase

# GroupITCase: c (a b)... d
_GROUP_DEFINE = ("DEFINE s AS s.name = 'c', m1 AS m1.name = 'a', m2 AS m2.name = 'b',"
                 " fin AS fin.name = 'd'")
_GROUP_ABAB = [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "b", 3.0, 3), (43, "a", 4.0, 4),
               (44, "b", 5.0, 5), (45, "d", 6.0, 6)]
_GROUP_ABABAB = [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "b", 3.0, 3), (43, "a", 4.0, 4),
                 (44, "b", 5.0, 5), (45, "a", 4.0, 6), (46, "b", 5.0, 7), (47, "d", 6.0, 8)]
# GroupITCase.testGroupNotFollowedBy / testGroupNotNext: c, (a b), not d, e
_GROUP_NOT_DEFINE = ("DEFINE s AS s.name = 'c', m1 AS m1.name = 'a', m2 AS m2.name = 'b',"
                     " x AS x.name = 'd', fin AS fin.name = 'e' AFTER MATCH NO SKIP")
_GROUP_NOT = [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "b", 3.0, 3), (43, "d", 3.0, 4),
              (44, "a", 4.0, 5), (45, "b", 5.0, 6), (46, "e", 6.0, 7)]
# GroupITCase.testGroupNest*: d, then a (b c)... groups, then e
_NEST_DEFINE = ("DEFINE s AS s.name = 'd', m1 AS m1.name = 'a', m2 AS m2.name = 'b',"
                " m3 AS m3.name = 'c', fin AS fin.name = 'e' AFTER MATCH NO SKIP")
_NEST_A = [(41, "a", 2.0), (42, "b", 3.0), (43, "c", 4.0), (44, "b", 5.0), (45, "c", 4.0),
           (46, "b", 5.0), (47, "c", 4.0)]
_NEST_B = [(48, "a", 2.0), (49, "b", 3.0), (50, "c", 4.0)]
_NEST_C = [(51, "b", 5.0), (52, "c", 4.0), (53, "b", 5.0), (54, "c", 4.0)]


def _stamped(rows: list[tuple[int, str, float]], first: int) -> list[tuple[int, str, float, int]]:
    return [(i, n, p, t) for t, (i, n, p) in enumerate(rows, start=first)]


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
    PatternCase(
        "any-relaxed entry, group one-or-more with relaxed repetitions",
        "Flink GroupITCase.testGroupFollowedByAnyOneOrMore",
        "PATTERN (s ->> (m1 -> m2)+? RELAXED -> fin) " + _GROUP_DEFINE + " AFTER MATCH NO SKIP",
        _GROUP_ABABAB,
        [[40, 41, 42, 47], [40, 43, 44, 47], [40, 45, 46, 47], [40, 41, 42, 43, 44, 47],
         [40, 43, 44, 45, 46, 47], [40, 41, 42, 43, 44, 45, 46, 47]],
    ),
    PatternCase(
        "strict entry, group zero-or-more with strict repetitions",
        "Flink GroupITCase.testGroupNextZeroOrMore",
        "PATTERN (s (m1 -> m2)*? STRICT -> fin) " + _GROUP_DEFINE + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "b", 3.0, 4), (43, "a", 3.0, 5),
         (44, "b", 3.0, 6), (45, "a", 4.0, 7), (46, "b", 3.0, 8), (47, "d", 1.0, 9)],
        [[40, 47], [40, 41, 42, 47], [40, 41, 42, 43, 44, 47], [40, 41, 42, 43, 44, 45, 46, 47]],
    ),
    PatternCase(
        "not followed by after a group",
        "Flink GroupITCase.testGroupNotFollowedBy",
        "PATTERN (s ->> (m1 -> m2) -> NOT x -> fin) " + _GROUP_NOT_DEFINE,
        _GROUP_NOT,
        [[40, 44, 45, 46]],
    ),
    PatternCase(
        "not next after a group",
        "Flink GroupITCase.testGroupNotNext",
        "PATTERN (s ->> (m1 -> m2) NOT x -> fin) " + _GROUP_NOT_DEFINE,
        _GROUP_NOT,
        [[40, 44, 45, 46]],
    ),
    PatternCase(
        "optional group ending with a zero-or-more group",
        "Flink GroupITCase.testGroupNest",
        "PATTERN (s -> (m1 -> (m2 -> m3)*?)?? -> fin) " + _NEST_DEFINE,
        [(40, "d", 1.0, 1), (41, "a", 2.0, 2), (42, "b", 3.0, 3), (43, "c", 4.0, 4),
         (44, "b", 5.0, 5), (45, "c", 4.0, 6), (46, "e", 6.0, 7)],
        [[40, 46], [40, 41, 46], [40, 41, 42, 43, 46], [40, 41, 42, 43, 44, 45, 46]],
    ),
    # times(0, 2) after followedByAny: optional, repetitions relaxed (not with combinations)
    PatternCase(
        "any-relaxed entry, nested {3} groups repeated {0,2}",
        "Flink GroupITCase.testGroupNestTimes",
        "PATTERN (s ->> (m1 -> (m2 -> m3){3}){0,2}? RELAXED -> fin) " + _NEST_DEFINE,
        [(40, "d", 1.0, 1), *_stamped(_NEST_A + _NEST_B + _NEST_C, 2), (55, "e", 6.0, 16)],
        [[40, 55], [40, *range(41, 48), 55], [40, *range(48, 55), 55], [40, *range(41, 55), 55]],
    ),
    PatternCase(
        "any-relaxed entry, strict nested {3} groups repeated {0,2} strictly",
        "Flink GroupITCase.testGroupNestTimesConsecutive",
        "PATTERN (s ->> (m1 -> (m2 -> m3){3} STRICT){0,2}? STRICT -> fin) " + _NEST_DEFINE,
        [(40, "d", 1.0, 1), *_stamped(_NEST_A + _NEST_B, 2), (0, "breaking", 99.0, 12),
         *_stamped(_NEST_C, 13), (55, "e", 6.0, 17)],
        [[40, 55], [40, *range(41, 48), 55]],
    ),
    PatternCase(
        "pattern begins with a group {1,2} with relaxed repetitions",
        "Flink GroupITCase.testGroupBegin",
        "PATTERN ((m1 -> m2){1,2}? RELAXED -> fin) DEFINE m1 AS m1.name = 'a',"
        " m2 AS m2.name = 'b', fin AS fin.name = 'd' AFTER MATCH NO SKIP",
        [(41, "a", 2.0, 1), (42, "b", 3.0, 2), (43, "a", 4.0, 3), (44, "b", 5.0, 4),
         (45, "d", 6.0, 5)],
        [[41, 42, 45], [43, 44, 45], [41, 42, 43, 44, 45]],
    ),
    PatternCase(
        "a strict group that begins with an optional element",
        "Flink GroupITCase.testGroupStartsWithOptionalPattern",
        "PATTERN (s (m1?? m2) fin) DEFINE s AS s.name = 'a', m1 AS m1.name = 'b',"
        " m2 AS m2.name = 'c', fin AS fin.name = 'd' AFTER MATCH NO SKIP",
        [(40, "a", 1.0, 1), (41, "c", 2.0, 2), (42, "d", 3.0, 3)],
        [[40, 41, 42]],
    ),
    PatternCase(
        "a strict step after an optional relaxed group",
        "Flink GroupITCase.testFollowedByOptionalGroupPattern",
        "PATTERN (s -> (m1 m2)?? fin) DEFINE s AS s.name = 'a', m1 AS m1.name = 'b',"
        " m2 AS m2.name = 'c', fin AS fin.name = 'd' AFTER MATCH NO SKIP",
        [(40, "a", 1.0, 1), (41, "d", 2.0, 2), (42, "d", 3.0, 3)],
        [[40, 41]],
    ),
]
