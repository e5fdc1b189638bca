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
    # Flink allows notNext as the last element without a time bound; frys needs WITHIN for a
    # trailing NOT. The forbidden event arrives right after the candidate match here, well
    # inside the bound, so the bound does not change the outcome.
    PatternCase(
        "not next at the end violated (ids made unique)",
        "Flink NotPatternITCase.testNotNextNoMatchesAtTheEnd",
        "PATTERN (s ->> m ->> fin NOT x) WITHIN 100ms " + _NOT_DEFINE + " AFTER MATCH NO SKIP",
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

]
