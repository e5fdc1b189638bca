"""Conformance cases from Flink CEP's tests: NOT, not-next and not-followed-by (the translation
rules are in __init__.py)."""

from __future__ import annotations

from pattern_cases.case import PatternCase

# NotPatternITCase: a, then not b, then c and d (the "d" event shared id 43 with c2: 44)
_NOT_DEFINE = ("DEFINE s AS s.name = 'a', x AS x.name = 'b', m AS m.name = 'c',"
               " fin AS fin.name = 'd'")
# NotPatternITCase.NotFollowByData, ids made unique: A_1 40, B_1 41, B_2 42, B_3 44, C_1 43,
# B_4 45, B_5 46, B_6 47, D_1 48; timestamps count from 0 as in Flink
_NOT_C_DEFINE = ("DEFINE a AS a.name = 'a', b AS b.name = 'b', nc AS nc.name = 'c',"
                 " d AS d.name = 'd'")
_NOT_AFTER_LOOP = [(40, "a", 1.0, 0), (41, "b", 2.0, 1), (42, "b", 3.0, 2), (44, "b", 4.0, 3),
                   (43, "c", 5.0, 4), (45, "b", 6.0, 5), (46, "b", 7.0, 6), (47, "b", 8.0, 7),
                   (48, "d", 9.0, 8)]
_NOT_BEFORE_LOOP = [(40, "a", 1.0, 0), (41, "b", 2.0, 1), (43, "c", 5.0, 2), (45, "b", 6.0, 3),
                    (46, "b", 7.0, 4), (47, "b", 8.0, 5), (48, "d", 9.0, 6)]
_NOT_NEXT_AFTER_LOOP = [(40, "a", 1.0, 0), (41, "b", 2.0, 1), (43, "c", 5.0, 2),
                        (42, "b", 3.0, 3), (48, "d", 9.0, 4)]
# NotPatternITCase.testTimesWithNotFollowedBy*: a, b{2}, not c, d
_TIMES_NOT_C = ("PATTERN (s ->> m{2} RELAXED -> NOT x -> fin) DEFINE s AS s.name = 'a',"
                " m AS m.name = 'b', x AS x.name = 'c', fin AS fin.name = 'd' AFTER MATCH NO SKIP")
# NotPatternITCase.testNotFollowedByWithin*AtEnd
_ABSENCE_AT_END = [(40, "a", 1.0, 1), (41, "b", 2.0, 2), (42, "a", 3.0, 4), (43, "c", 4.0, 5),
                   (44, "b", 5.0, 10), (45, "a", 7.0, 11), (46, "b", 8.0, 13)]
# NFAITCase.testPendingStateMatches*
_PENDING = [(1, "start", 1.0, 1), (2, "middle", 1.0, 4), (3, "start", 1.0, 5),
            (4, "start", 1.0, 11), (5, "middle", 1.0, 18)]


NEGATION: list[PatternCase] = [
    PatternCase(
        "not next, then any-relaxed (ids made unique)",
        "Flink NotPatternITCase.testNotNext",
        "PATTERN (s NOT x ->> m -> fin) " + _NOT_DEFINE + " AFTER MATCH NO SKIP",
        [(40, "a", 1.0, 1), (41, "c", 2.0, 2), (42, "b", 3.0, 3), (43, "c", 4.0, 4),
         (44, "d", 4.0, 5)],
        [[40, 41, 44], [40, 43, 44]],
    ),
    PatternCase(
        "not next violated (ids made unique)",
        "Flink NotPatternITCase.testNotNextNoMatches",
        "PATTERN (s NOT x -> m -> fin) " + _NOT_DEFINE + " AFTER MATCH NO SKIP",
        [(40, "a", 1.0, 1), (42, "b", 3.0, 2), (41, "c", 2.0, 3), (43, "c", 4.0, 4),
         (44, "d", 4.0, 5)],
        [],
    ),
    PatternCase(
        "not next at the end violated (ids made unique)",
        "Flink NotPatternITCase.testNotNextNoMatchesAtTheEnd",
        "PATTERN (s ->> m ->> fin NOT x) " + _NOT_DEFINE + " AFTER MATCH NO SKIP",
        [(40, "a", 1.0, 1), (41, "c", 2.0, 2), (43, "c", 4.0, 3), (44, "d", 4.0, 4),
         (42, "b", 3.0, 5)],
        [],
    ),
    PatternCase(
        "not followed by (ids made unique)",
        "Flink NotPatternITCase.testNotFollowedBy",
        "PATTERN (s -> NOT x ->> m -> fin) " + _NOT_DEFINE + " AFTER MATCH NO SKIP",
        [(40, "a", 1.0, 1), (41, "c", 2.0, 2), (42, "b", 3.0, 3), (43, "c", 4.0, 4),
         (44, "d", 4.0, 5)],
        [[40, 41, 44]],
    ),
    PatternCase(
        "not followed by before an optional (ids made unique)",
        "Flink NotPatternITCase.testNotFollowedByBeforeOptional",
        "PATTERN (s -> NOT x ->> m?? -> fin) " + _NOT_DEFINE + " AFTER MATCH NO SKIP",
        [(40, "a", 1.0, 1), (41, "c", 2.0, 2), (42, "b", 3.0, 3), (43, "c", 4.0, 4),
         (44, "d", 4.0, 5)],
        [[40, 41, 44]],
    ),
    PatternCase(
        "not followed by before an optional last element",
        "Flink NotPatternITCase.testNotFollowedByBeforeOptionalAtTheEnd",
        "PATTERN (s -> NOT x ->> fin??) DEFINE s AS s.name = 'a', x AS x.name = 'b',"
        " fin AS fin.name = 'c' AFTER MATCH NO SKIP",
        [(40, "a", 1.0, 1), (41, "c", 2.0, 2), (42, "b", 3.0, 3), (43, "c", 4.0, 4)],
        [[40, 41], [40]],
    ),
    PatternCase(
        "not followed by with a second start (ids made unique)",
        "Flink NotPatternITCase.testNotFollowedByWithBranchingAtStart",
        "PATTERN (s -> NOT x -> m -> fin) " + _NOT_DEFINE + " AFTER MATCH NO SKIP",
        [(40, "a", 1.0, 1), (42, "b", 3.0, 2), (41, "c", 2.0, 3), (44, "a", 4.0, 4),
         (43, "c", 5.0, 5), (45, "d", 6.0, 6)],
        [[44, 43, 45]],
    ),
    PatternCase(
        "not next after a relaxed one-or-more (ids made unique)",
        "Flink NotPatternITCase.testNotNextAfterOneOrMoreSkipTillNext",
        "PATTERN (a -> b+? NOT nc -> d) " + _NOT_C_DEFINE + " AFTER MATCH NO SKIP",
        [(40, "a", 1.0, 0), (41, "b", 2.0, 1), (43, "c", 5.0, 2), (42, "b", 3.0, 3),
         (48, "d", 9.0, 4)],
        [],
    ),
    PatternCase(
        "not followed by after a relaxed one-or-more (ids made unique)",
        "Flink NotPatternITCase.testNotFollowedByNextAfterOneOrMoreEager",
        "PATTERN (a -> b+? -> NOT nc -> d) " + _NOT_C_DEFINE + " AFTER MATCH NO SKIP",
        _NOT_AFTER_LOOP,
        [],
    ),
    PatternCase(
        "not followed by after an any-relaxed one-or-more (ids made unique)",
        "Flink NotPatternITCase.testNotFollowedByAnyAfterOneOrMoreCombinations",
        "PATTERN (a ->> b+? -> NOT nc -> d) " + _NOT_C_DEFINE + " AFTER MATCH NO SKIP",
        _NOT_AFTER_LOOP,
        [[40] + bs + [48] for bs in ([45, 46, 47], [45, 46], [45, 47], [45], [46, 47], [46],
                                     [47])],
    ),
    PatternCase(
        "not followed by before a relaxed one-or-more (ids made unique)",
        "Flink NotPatternITCase.testNotFollowedByBeforeOneOrMoreEager",
        "PATTERN (a -> NOT nc -> b+? -> d) " + _NOT_C_DEFINE + " AFTER MATCH NO SKIP",
        _NOT_BEFORE_LOOP,
        [[40, 41, 45, 46, 47, 48], [40, 41, 45, 46, 48], [40, 41, 45, 48], [40, 41, 48]],
    ),
    PatternCase(
        "not followed by before an any-relaxed one-or-more (ids made unique)",
        "Flink NotPatternITCase.testNotFollowedByAnyBeforeOneOrMoreCombinations",
        "PATTERN (a -> NOT nc ->> b+? -> d) " + _NOT_C_DEFINE + " AFTER MATCH NO SKIP",
        _NOT_BEFORE_LOOP,
        [[40, 41] + bs + [48] for bs in ([45, 46, 47], [45, 47], [45, 46], [45], [46, 47],
                                         [46], [47], [])],
    ),
    PatternCase(
        "not followed by before a relaxed zero-or-more (ids made unique)",
        "Flink NotPatternITCase.testNotFollowedByBeforeZeroOrMoreEagerSkipTillNext",
        "PATTERN (a -> NOT nc -> b*? -> d) " + _NOT_C_DEFINE + " AFTER MATCH NO SKIP",
        _NOT_BEFORE_LOOP,
        [[40, 41, 45, 46, 47, 48], [40, 41, 45, 46, 48], [40, 41, 45, 48], [40, 41, 48]],
    ),
    PatternCase(
        "not followed by before an any-relaxed zero-or-more (ids made unique)",
        "Flink NotPatternITCase.testNotFollowedByBeforeZeroOrMoreCombinationsSkipTillAny",
        "PATTERN (a -> NOT nc ->> b*? -> d) " + _NOT_C_DEFINE + " AFTER MATCH NO SKIP",
        _NOT_BEFORE_LOOP,
        [[40, 41] + bs + [48] for bs in ([45, 46, 47], [45, 46], [45, 47], [45], [],
                                         [46, 47], [46], [47])],
    ),
    PatternCase(
        "not followed by after an any-relaxed {2} (ids made unique)",
        "Flink NotPatternITCase.testTimesWithNotFollowedBy",
        _TIMES_NOT_C,
        [(40, "a", 1.0, 1), (41, "b", 2.0, 2), (42, "c", 3.0, 3), (43, "b", 4.0, 4),
         (44, "d", 4.0, 5)],
        [],
    ),
    # Flink's NFA test feeds the events in list order whatever their timestamps (a 1, d1 2,
    # e 1, b1 3, b2 3, c 2, d2 5); without WITHIN timestamps play no part, so they are
    # re-stamped in arrival order.
    PatternCase(
        "not followed by after an any-relaxed {2}, events re-stamped in arrival order",
        "Flink NotPatternITCase.testTimesWithNotFollowedByAfter",
        _TIMES_NOT_C,
        [(40, "a", 1.0, 1), (46, "d", 7.0, 2), (41, "e", 2.0, 3), (43, "b", 4.0, 4),
         (44, "b", 5.0, 5), (42, "c", 3.0, 6), (47, "d", 8.0, 7)],
        [],
    ),
    PatternCase(
        "not next after an any-relaxed entry, relaxed one-or-more (ids made unique)",
        "Flink NotPatternITCase.testNotNextAfterOneOrMoreSkipTillAny",
        "PATTERN (a ->> b+? RELAXED NOT nc -> d) " + _NOT_C_DEFINE + " AFTER MATCH NO SKIP",
        _NOT_NEXT_AFTER_LOOP,
        [[40, 42, 48]],
    ),
    PatternCase(
        "not followed by after an any-relaxed entry, relaxed one-or-more (ids made unique)",
        "Flink NotPatternITCase.testNotFollowedByAnyAfterOneOrMoreEager",
        "PATTERN (a ->> b+? RELAXED -> NOT nc -> d) " + _NOT_C_DEFINE + " AFTER MATCH NO SKIP",
        _NOT_AFTER_LOOP,
        [[40, 45, 46, 47, 48], [40, 45, 46, 48], [40, 45, 48], [40, 46, 47, 48], [40, 46, 48],
         [40, 47, 48]],
    ),
    PatternCase(
        "not followed by after a relaxed one-or-more with combinations (ids made unique)",
        "Flink NotPatternITCase.testNotFollowedByNextAfterOneOrMoreCombinations",
        "PATTERN (a -> b+? ANY -> NOT nc -> d) " + _NOT_C_DEFINE + " AFTER MATCH NO SKIP",
        _NOT_AFTER_LOOP,
        [],
    ),
    PatternCase(
        "not followed by before an any-relaxed entry, relaxed one-or-more (ids made unique)",
        "Flink NotPatternITCase.testNotFollowedByAnyBeforeOneOrMoreEager",
        "PATTERN (a -> NOT nc ->> b+? RELAXED -> d) " + _NOT_C_DEFINE + " AFTER MATCH NO SKIP",
        _NOT_BEFORE_LOOP,
        [[40, 41, 45, 46, 47, 48], [40, 41, 45, 46, 48], [40, 41, 45, 48], [40, 41, 48]],
    ),
    PatternCase(
        "not followed by before a relaxed one-or-more with combinations (ids made unique)",
        "Flink NotPatternITCase.testNotFollowedByBeforeOneOrMoreCombinations",
        "PATTERN (a -> NOT nc -> b+? ANY -> d) " + _NOT_C_DEFINE + " AFTER MATCH NO SKIP",
        _NOT_BEFORE_LOOP,
        [[40, 41] + bs + [48] for bs in ([45, 46, 47], [45, 47], [45, 46], [45], [46, 47],
                                         [46], [47], [])],
    ),
    PatternCase(
        "not followed by before a relaxed zero-or-more with combinations (ids made unique)",
        "Flink NotPatternITCase.testNotFollowedByBeforeZeroOrMoreCombinationsSkipTillNext",
        "PATTERN (a -> NOT nc -> b*? ANY -> d) " + _NOT_C_DEFINE + " AFTER MATCH NO SKIP",
        _NOT_BEFORE_LOOP,
        [[40, 41] + bs + [48] for bs in ([45, 46, 47], [45, 46], [45, 47], [45], [],
                                         [46, 47], [46], [47])],
    ),
    PatternCase(
        "not followed by before an any-relaxed entry, relaxed zero-or-more (ids made unique)",
        "Flink NotPatternITCase.testNotFollowedByBeforeZeroOrMoreEagerSkipTillAny",
        "PATTERN (a -> NOT nc ->> b*? RELAXED -> d) " + _NOT_C_DEFINE + " AFTER MATCH NO SKIP",
        _NOT_BEFORE_LOOP,
        [[40, 41, 45, 46, 47, 48], [40, 41, 45, 46, 48], [40, 41, 45, 48], [40, 41, 48]],
    ),
    PatternCase(
        "absence at the end, within between first and last",
        "Flink NotPatternITCase.testNotFollowedByWithinFirstAndLastAtEnd",
        "PATTERN (a -> NOT b) WITHIN 3ms DEFINE a AS a.name = 'a', b AS b.name = 'b'"
        " AFTER MATCH NO SKIP",
        _ABSENCE_AT_END,
        [[42]],
    ),
    PatternCase(
        "absence at the end, within between consecutive events",
        "Flink NotPatternITCase.testNotFollowedByWithinPreviousAndCurrentAtEnd",
        "PATTERN (a -> NOT b) WITHIN 3ms BETWEEN EVENTS DEFINE a AS a.name = 'a',"
        " b AS b.name = 'b' AFTER MATCH NO SKIP",
        _ABSENCE_AT_END,
        [[42]],
    ),
    # times(0, 2) after followedBy: optional, repetitions relaxed
    PatternCase(
        "not followed by before an optional {0,2} at the end, within",
        "Flink NotPatternITCase.testNotFollowByBeforeTimesWithin",
        "PATTERN (a -> NOT b -> c{0,2}?) WITHIN 3ms DEFINE a AS a.name = 'a',"
        " b AS b.name = 'b', c AS c.name = 'c' AFTER MATCH NO SKIP",
        [(40, "a", 1.0, 1), (41, "b", 2.0, 2), (42, "a", 3.0, 10), (43, "c", 4.0, 11),
         (44, "c", 5.0, 12), (45, "a", 7.0, 20), (46, "c", 8.0, 21), (47, "c", 8.0, 24)],
        [[40], [42], [42, 43], [42, 43, 44], [45], [45, 46]],
    ),
    PatternCase(
        "absence at the end after a loop with combinations, skip past last event",
        "Flink NotPatternITCase.testNotFollowedByWithinAtEndAfterMatch",
        "PATTERN (a+? ANY -> c -> NOT b) WITHIN 5ms DEFINE a AS a.name = 'a',"
        " c AS c.name = 'c', b AS b.name = 'b' AFTER MATCH SKIP PAST LAST EVENT",
        [(40, "a", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 3.0, 3), (43, "c", 4.0, 4),
         (44, "c", 5.0, 10)],
        [[40, 41, 42, 43]],
    ),
    # Flink's test reads the absences that advancing time completes ("pending" matches).
    PatternCase(
        "absences completed by time, within between first and last",
        "Flink NFAITCase.testPendingStateMatchesWithinFirstAndLast",
        "PATTERN (s -> NOT m) WITHIN 5ms DEFINE s AS s.name = 'start', m AS m.name = 'middle'"
        " AFTER MATCH NO SKIP",
        _PENDING,
        [[3], [4]],
    ),
    PatternCase(
        "absences completed by time, within between consecutive events",
        "Flink NFAITCase.testPendingStateMatchesWithinPreviousAndCurrent",
        "PATTERN (s -> NOT m) WITHIN 5ms BETWEEN EVENTS DEFINE s AS s.name = 'start',"
        " m AS m.name = 'middle' AFTER MATCH NO SKIP",
        _PENDING,
        [[3], [4]],
    ),
]
