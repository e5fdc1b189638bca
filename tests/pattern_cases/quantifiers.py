"""Conformance cases from Flink CEP's tests: reluctant loops, optional elements, {n}, {n,m} and
UNTIL (the translation rules are in __init__.py)."""

from __future__ import annotations

from pattern_cases.case import (
    ABCDE,
    CAB,
    CONSECUTIVE_LOOP,
    TIMES_FILLED,
    TIMES_FILLED_AFTER_FIRST,
    PatternCase,
)

_CONSECUTIVE_LOOP = CONSECUTIVE_LOOP
_TIMES_FILLED = TIMES_FILLED
# TimesRangeITCase.testTimesRange / testTimesRangeFromZero
_CAAA_B = [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 3.0, 3), (43, "a", 4.0, 4),
           (44, "b", 5.0, 6)]

# UntilConditionITCase: until price = 5.0
_UNTIL_EVENTS = [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 4), (44, "a", 5.0, 6),
                 (45, "a", 6.0, 7)]
_UNTIL_DEFINE = ("DEFINE s AS s.name = 'c', m AS m.name = 'a' UNTIL m.price = 5.0,"
                 " fin AS fin.price = 5.0")
# UntilConditionITCase.*Combinations: four "a" before the breaking one
_UNTIL_COMBINATIONS = [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 4), (43, "a", 4.0, 5),
                       (44, "a", 5.0, 6), (45, "a", 6.0, 7)]
# UntilConditionITCase.*Consecutive
_UNTIL_CONSECUTIVE = [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 4), (45, "a", 5.0, 7),
                      (46, "a", 6.0, 8)]
_UNTIL_LOOP_ONLY = "DEFINE s AS s.name = 'c', m AS m.name = 'a' UNTIL m.price = 5.0"
# UntilConditionITCase with an any-event loop (middleEvent3 "d" shared id 40 with the start: 43)
_UNTIL_ANY_EVENTS = [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 4), (43, "d", 1.0, 5),
                     (44, "a", 5.0, 6), (45, "a", 6.0, 7)]


RELUCTANT: list[PatternCase] = [
    PatternCase(
        "relaxed one-or-more loop without conditions",
        "Flink NFAITCase.testNoConditionLoopingNFA",
        "PATTERN (s -> fin+?) AFTER MATCH NO SKIP",
        ABCDE,
        [[40, 41, 42, 43, 44], [40, 41, 42, 43], [40, 41, 42], [40, 41], [41, 42, 43, 44],
         [41, 42, 43], [41, 42], [42, 43, 44], [42, 43], [43, 44]],
    ),
    PatternCase(
        "any-relaxed zero-or-more with combinations",
        "Flink NFAITCase.testZeroOrMore",
        "PATTERN (s ->> m*? -> fin) " + CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 4), (44, "b", 5.0, 6)],
        [[40, 41, 42, 44], [40, 41, 44], [40, 42, 44], [40, 44]],
    ),
    PatternCase(
        "relaxed zero-or-more skips an unrelated event",
        "Flink NFAITCase.testEagerZeroOrMore",
        "PATTERN (s -> m*? -> fin) " + CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 4), (50, "d", 6.0, 5),
         (43, "a", 4.0, 6), (44, "b", 5.0, 7)],
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 41, 44], [40, 44]],
    ),
    PatternCase(
        "pattern begins with a relaxed zero-or-more (ids made unique)",
        "Flink NFAITCase.testBeginWithZeroOrMore",
        "PATTERN (-> m*? -> fin) DEFINE m AS m.name = 'a', fin AS fin.name = 'b'"
        " AFTER MATCH NO SKIP",
        [(40, "a", 2.0, 3), (41, "a", 3.0, 4), (43, "a", 3.0, 5), (42, "b", 4.0, 6)],
        [[40, 41, 43, 42], [40, 41, 42], [41, 43, 42], [40, 42], [41, 42], [43, 42], [42]],
    ),
    PatternCase(
        "any-relaxed zero-or-more loop after branching (ids made unique)",
        "Flink NFAITCase.testZeroOrMoreAfterBranching",
        "PATTERN (s ->> br ->> mg ->> k*? -> fin) DEFINE s AS s.name = 'c',"
        " br AS br.name = 'a', mg AS mg.name = 'f', k AS k.name = 'd', fin AS fin.name = 'e'"
        " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 4), (46, "f", 3.0, 5),
         (43, "d", 4.0, 6), (44, "d", 4.0, 7), (45, "e", 4.0, 8)],
        [[40, 41, 46, 45], [40, 41, 46, 43, 45], [40, 41, 46, 44, 45], [40, 41, 46, 43, 44, 45],
         [40, 42, 46, 45], [40, 42, 46, 43, 45], [40, 42, 46, 44, 45], [40, 42, 46, 43, 44, 45]],
    ),
    PatternCase(
        "any-relaxed zero-or-more then three any-relaxed steps",
        "Flink NFAITCase.testComplexBranchingAfterZeroOrMore",
        "PATTERN (s ->> m*? ->> e1 ->> e2 ->> e3) DEFINE s AS s.name = 'c', m AS m.name = 'a',"
        " e1 AS e1.name = 'b', e2 AS e2.name = 'd', e3 AS e3.name = 'e' AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 4), (43, "a", 4.0, 5),
         (44, "b", 5.0, 6), (45, "d", 6.0, 7), (46, "d", 7.0, 8), (47, "e", 8.0, 9)],
        [[40] + ms + [44, e2, 47]
         for e2 in (45, 46)
         for ms in ([41, 42, 43], [41, 42], [41, 43], [42, 43], [41], [42], [43], [])],
    ),
    PatternCase(
        "strict step after a relaxed zero-or-more: no result",
        "Flink NFAITCase.testStrictContinuityNoResultsAfterZeroOrMore",
        "PATTERN (s -> m*? fin) DEFINE s AS s.name = 'd', m AS m.name = 'a',"
        " fin AS fin.name = 'b' AFTER MATCH NO SKIP",
        [(40, "d", 2.0, 1), (41, "a", 2.0, 2), (42, "a", 2.0, 3), (43, "c", 3.0, 4),
         (44, "b", 4.0, 5)],
        [],
    ),
    PatternCase(
        "strict step after an any-relaxed zero-or-more",
        "Flink NFAITCase.testStrictContinuityResultsAfterZeroOrMore",
        "PATTERN (s ->> m*? fin) DEFINE s AS s.name = 'd', m AS m.name = 'a',"
        " fin AS fin.name = 'b' AFTER MATCH NO SKIP",
        [(40, "d", 2.0, 1), (41, "a", 2.0, 2), (42, "a", 2.0, 3), (43, "b", 4.0, 5)],
        [[40, 41, 42, 43], [40, 42, 43]],
    ),
    PatternCase(
        "any-relaxed one-or-more with combinations",
        "Flink NFAITCase.testAtLeastOne",
        "PATTERN (s ->> m+? ->> fin) " + CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 4), (44, "b", 5.0, 6)],
        [[40, 41, 42, 44], [40, 41, 44], [40, 42, 44]],
    ),
    PatternCase(
        "pattern begins with an any-relaxed one-or-more (ids made unique)",
        "Flink NFAITCase.testBeginWithAtLeastOne",
        "PATTERN (->> s+? -> fin) DEFINE s AS s.name = 'a', fin AS fin.name = 'b'"
        " AFTER MATCH NO SKIP",
        [(41, "a", 2.0, 3), (42, "a", 3.0, 4), (43, "a", 4.0, 5), (44, "b", 5.0, 6)],
        [[41, 42, 43, 44], [41, 42, 44], [41, 43, 44], [42, 43, 44], [41, 44], [42, 44],
         [43, 44]],
    ),
    PatternCase(
        "strict zero-or-more right after the start, interrupted",
        "Flink NFAITCase.testNextZeroOrMore",
        "PATTERN (s m*? -> fin) DEFINE s AS s.name = 'start', m AS m.name = 'middle',"
        " fin AS fin.name = 'end' AFTER MATCH NO SKIP",
        [(40, "start", 1.0, 1), (1, "event", 1.0, 2), (40, "middle", 2.0, 3),
         (40, "middle", 3.0, 4), (40, "middle", 4.0, 5), (46, "end", 1.0, 6)],
        [[40, 46]],
    ),
    PatternCase(
        "relaxed one-or-more loop (skip till next)",
        "Flink NFAITCase.testSkipTillNextOneOrMore",
        "PATTERN (s -> m+? -> fin) " + CAB + " AFTER MATCH NO SKIP",
        _CONSECUTIVE_LOOP,
        [[40, 41, 42, 43, 45, 44], [40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 41, 44]],
    ),
    PatternCase(
        "relaxed zero-or-more loop (skip till next)",
        "Flink NFAITCase.testSkipTillNextZeroOrMore",
        "PATTERN (s -> m*? -> fin) " + CAB + " AFTER MATCH NO SKIP",
        _CONSECUTIVE_LOOP,
        [[40, 41, 42, 43, 45, 44], [40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 41, 44],
         [40, 44]],
    ),
    PatternCase(
        "pattern ends with a relaxed zero-or-more",
        "Flink NFAITCase.testEndWithZeroOrMore",
        "PATTERN (s -> m*?) DEFINE s AS s.name = 'c', m AS m.name = 'a' AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 4), (43, "a", 4.0, 5)],
        [[40, 41, 42, 43], [40, 41, 42], [40, 41], [40]],
    ),
    PatternCase(
        "pattern is only a relaxed zero-or-more",
        "Flink NFAITCase.testStartAndEndWithZeroOrMore",
        "PATTERN (-> s*?) DEFINE s AS s.name = 'a' AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 4), (43, "a", 4.0, 5),
         (44, "d", 5.0, 6), (45, "d", 5.0, 6), (46, "d", 5.0, 6)],
        [[41, 42, 43], [41, 42], [41], [42, 43], [42], [43]],
    ),
    PatternCase(
        "pattern ends with a relaxed one-or-more",
        "Flink NFAITCase.testEndWithOneOrMore",
        "PATTERN (s -> m+?) DEFINE s AS s.name = 'c', m AS m.name = 'a' AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 4), (43, "a", 4.0, 5)],
        [[40, 41, 42, 43], [40, 41, 42], [40, 41]],
    ),
    PatternCase(
        "pattern is only a strict one-or-more",
        "Flink NFAITCase.testStartWithOneOrMoreStrict",
        "PATTERN (s+?) DEFINE s AS s.name = 'a' AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (40, "c", 1.0, 4), (42, "a", 3.0, 5),
         (43, "a", 4.0, 6)],
        [[41], [42, 43], [42], [43]],
    ),
    PatternCase(
        "pattern is only a strict zero-or-more",
        "Flink NFAITCase.testStartWithZeroOrMoreStrict",
        "PATTERN (s*?) DEFINE s AS s.name = 'a' AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (40, "c", 1.0, 4), (42, "a", 3.0, 5),
         (43, "a", 4.0, 6)],
        [[41], [42, 43], [42], [43]],
    ),

]


OPTIONAL: list[PatternCase] = [
    PatternCase(
        "optional middle",
        "Flink NFAITCase.testOptional",
        "PATTERN (s -> m?? -> fin) " + CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (43, "a", 4.0, 5), (44, "b", 5.0, 6)],
        [[40, 43, 44], [40, 44]],
    ),
    PatternCase(
        "optional first element",
        "Flink NFAITCase.testStartWithOptional",
        "PATTERN (s?? -> fin) DEFINE s AS s.name = 'c', fin AS fin.name = 'b' AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (44, "b", 5.0, 6)],
        [[40, 44], [44]],
    ),
    PatternCase(
        "optional last element",
        "Flink NFAITCase.testEndWithOptional",
        "PATTERN (s -> m??) DEFINE s AS s.name = 'c', m AS m.name = 'a' AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3)],
        [[40, 41], [40]],
    ),

]


TIMES: list[PatternCase] = [
    PatternCase(
        "pattern begins with a strict {2}",
        "Flink NFAITCase.testStartWithTimes",
        "PATTERN (m{2} -> fin) DEFINE m AS m.name = 'a', fin AS fin.name = 'b'"
        " AFTER MATCH NO SKIP",
        [(41, "a", 2.0, 2), (42, "a", 3.0, 3), (43, "a", 4.0, 4), (44, "b", 5.0, 6)],
        [[41, 42, 44], [42, 43, 44]],
    ),
    PatternCase(
        "relaxed {2} takes the first two",
        "Flink NFAITCase.testTimesNotStrictWithFollowedByEager",
        "PATTERN (s -> m{2} -> fin) " + CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 3.0, 4), (43, "a", 4.0, 6),
         (44, "b", 5.0, 7)],
        [[40, 41, 42, 44]],
    ),
    PatternCase(
        "any-relaxed {2} with combinations",
        "Flink NFAITCase.testTimesNotStrictWithFollowedByNotEager",
        "PATTERN (s ->> m{2} -> fin) " + CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 3.0, 4), (43, "a", 4.0, 6),
         (44, "b", 5.0, 7)],
        [[40, 41, 42, 44], [40, 42, 43, 44], [40, 41, 43, 44]],
    ),
    PatternCase(
        "strict {2} broken by a filler: no result",
        "Flink NFAITCase.testTimesStrictWithNextAndConsecutive",
        "PATTERN (s m{2} -> fin) " + CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (23, "f", 1.0, 3), (42, "a", 3.0, 4),
         (43, "a", 4.0, 6), (44, "b", 5.0, 7)],
        [],
    ),
    PatternCase(
        "any-relaxed {2} with combinations over fillers",
        "Flink NFAITCase.testTimesNonStrict",
        "PATTERN (s ->> m{2} -> fin) " + CAB + " AFTER MATCH NO SKIP",
        _TIMES_FILLED,
        [[40, 41, 42, 44], [40, 41, 43, 44], [40, 42, 43, 44]],
    ),

]


TIMES_RANGES: list[PatternCase] = [
    PatternCase(
        "any-relaxed {1,3} with combinations",
        "Flink TimesRangeITCase.testTimesRangeNonStrict",
        "PATTERN (s ->> m{1,3}? -> fin) " + CAB + " AFTER MATCH NO SKIP",
        _TIMES_FILLED,
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 41, 43, 44], [40, 42, 43, 44],
         [40, 41, 44], [40, 42, 44], [40, 43, 44]],
    ),
    PatternCase(
        "strict optional {1,3} is {0,3}",
        "Flink TimesRangeITCase.testTimesRangeStrictOptional1",
        "PATTERN (s m{0,3}? -> fin) " + CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 5), (43, "a", 4.0, 6),
         (44, "b", 5.0, 7)],
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 41, 44], [40, 44]],
    ),
    PatternCase(
        "relaxed optional {1,3} with nothing to take",
        "Flink TimesRangeITCase.testTimesRangeNonStrictOptional1",
        "PATTERN (s -> m{0,3}? -> fin) " + CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (23, "f", 1.0, 2), (44, "b", 5.0, 7)],
        [[40, 44]],
    ),
    PatternCase(
        "relaxed {2,3}",
        "Flink TimesRangeITCase.testTimesRangeNotStrictWithFollowedBy",
        "PATTERN (s -> m{2,3}? -> fin) " + CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 3.0, 4), (43, "a", 4.0, 6),
         (44, "b", 5.0, 7)],
        [[40, 41, 42, 43, 44], [40, 41, 42, 44]],
    ),
    PatternCase(
        "any-relaxed {2,3} with combinations",
        "Flink TimesRangeITCase.testTimesRangeNotStrictWithFollowedByAny",
        "PATTERN (s ->> m{2,3}? -> fin) " + CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 3.0, 4), (43, "a", 4.0, 6),
         (44, "b", 5.0, 7)],
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 42, 43, 44], [40, 41, 43, 44]],
    ),
    PatternCase(
        "strict entry, {1,3} with combinations",
        "Flink TimesRangeITCase.testTimesRange",
        "PATTERN (s m{1,3}? ANY -> fin) " + CAB + " AFTER MATCH NO SKIP",
        _CAAA_B,
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 41, 43, 44], [40, 41, 44]],
    ),
    PatternCase(
        "strict entry, {0,2} with combinations",
        "Flink TimesRangeITCase.testTimesRangeFromZero",
        "PATTERN (s m{0,2}? ANY -> fin) " + CAB + " AFTER MATCH NO SKIP",
        _CAAA_B,
        [[40, 41, 42, 44], [40, 41, 43, 44], [40, 41, 44], [40, 44]],
    ),
    # times(0, 3) is times(1, 3).optional()
    PatternCase(
        "any-relaxed entry, strict {0,3}",
        "Flink TimesRangeITCase.testTimesRangeStrict",
        "PATTERN (s ->> m{0,3}? STRICT -> fin) " + CAB + " AFTER MATCH NO SKIP",
        _TIMES_FILLED,
        [[40, 42, 43, 44], [40, 41, 44], [40, 42, 44], [40, 43, 44], [40, 44]],
    ),
    PatternCase(
        "any-relaxed entry, strict optional {1,3} is {0,3}",
        "Flink TimesRangeITCase.testTimesRangeStrictOptional",
        "PATTERN (s ->> m{0,3}? STRICT -> fin) " + CAB + " AFTER MATCH NO SKIP",
        _TIMES_FILLED,
        [[40, 42, 43, 44], [40, 41, 44], [40, 42, 44], [40, 43, 44], [40, 44]],
    ),
    PatternCase(
        "strict entry, {2,3} with combinations over fillers",
        "Flink TimesRangeITCase.testTimesRangeNonStrictWithNext",
        "PATTERN (s m{2,3}? ANY -> fin) " + CAB + " AFTER MATCH NO SKIP",
        TIMES_FILLED_AFTER_FIRST,
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 41, 43, 44]],
    ),
]


UNTIL: list[PatternCase] = [
    PatternCase(
        "relaxed one-or-more until",
        "Flink UntilConditionITCase.testUntilConditionFollowedByOneOrMore",
        "PATTERN (s -> m+? -> fin) " + _UNTIL_DEFINE + " AFTER MATCH NO SKIP",
        _UNTIL_EVENTS,
        [[40, 41, 42, 44], [40, 41, 44]],
    ),
    PatternCase(
        "relaxed zero-or-more until",
        "Flink UntilConditionITCase.testUntilConditionFollowedByZeroOrMore",
        "PATTERN (s -> m*? -> fin) " + _UNTIL_DEFINE + " AFTER MATCH NO SKIP",
        _UNTIL_EVENTS,
        [[40, 41, 42, 44], [40, 41, 44], [40, 44]],
    ),
    PatternCase(
        "until on a loop without a condition (ids made unique)",
        "Flink UntilConditionITCase.testUntilConditionWithEmptyWhere",
        "PATTERN (s -> m+?) DEFINE s AS s.name = 'c', m AS TRUE UNTIL m.price = 5.0"
        " AFTER MATCH NO SKIP",
        _UNTIL_ANY_EVENTS,
        [[40, 41, 42, 43], [40, 41, 42], [40, 41]],
    ),
    # Flink's until condition sees the loop's events taken so far, without the current one;
    # frys's aggregates include the current event, so "sum of the earlier ones" is
    # SUM(m.price) - m.price.
    PatternCase(
        "iterative until on a one-or-more (ids made unique)",
        "Flink UntilConditionITCase.testIterativeUntilConditionOneOrMore",
        "PATTERN (s -> m+?) DEFINE s AS s.name = 'c',"
        " m AS TRUE UNTIL SUM(m.price) - m.price = 6.0 AFTER MATCH NO SKIP",
        _UNTIL_ANY_EVENTS,
        [[40, 41, 42, 43], [40, 41, 42], [40, 41]],
    ),
    PatternCase(
        "iterative until on a zero-or-more (ids made unique)",
        "Flink UntilConditionITCase.testIterativeUntilConditionZeroOrMore",
        "PATTERN (s -> m*?) DEFINE s AS s.name = 'c',"
        " m AS TRUE UNTIL SUM(m.price) - m.price = 6.0 AFTER MATCH NO SKIP",
        _UNTIL_ANY_EVENTS,
        [[40, 41, 42, 43], [40, 41, 42], [40, 41], [40]],
    ),
    PatternCase(
        "relaxed entry, one-or-more until with combinations",
        "Flink UntilConditionITCase.testUntilConditionFollowedByOneOrMoreCombinations",
        "PATTERN (s -> m+? ANY -> fin) " + _UNTIL_DEFINE + " AFTER MATCH NO SKIP",
        _UNTIL_COMBINATIONS,
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 41, 43, 44], [40, 41, 44]],
    ),
    PatternCase(
        "relaxed entry, strict one-or-more until",
        "Flink UntilConditionITCase.testUntilConditionFollowedByOneOrMoreConsecutive",
        "PATTERN (s -> m+? STRICT -> fin) " + _UNTIL_DEFINE + " AFTER MATCH NO SKIP",
        _UNTIL_CONSECUTIVE,
        [[40, 41, 42, 45], [40, 41, 45]],
    ),
    PatternCase(
        "relaxed entry, strict one-or-more until, broken by another event",
        "Flink UntilConditionITCase.testUntilConditionFollowedByOneOrMoreConsecutive2",
        "PATTERN (s -> m+? STRICT -> fin) " + _UNTIL_DEFINE + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "b", 3.0, 4), (43, "a", 4.0, 5),
         (45, "a", 5.0, 7), (46, "a", 6.0, 8)],
        [[40, 41, 45]],
    ),
    PatternCase(
        "relaxed entry, zero-or-more until with combinations",
        "Flink UntilConditionITCase.testUntilConditionFollowedByZeroOrMoreCombinations",
        "PATTERN (s -> m*? ANY -> fin) " + _UNTIL_DEFINE + " AFTER MATCH NO SKIP",
        _UNTIL_COMBINATIONS,
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 41, 43, 44], [40, 41, 44], [40, 44]],
    ),
    PatternCase(
        "relaxed entry, strict zero-or-more until",
        "Flink UntilConditionITCase.testUntilConditionFollowedByZeroOrMoreConsecutive",
        "PATTERN (s -> m*? STRICT -> fin) " + _UNTIL_DEFINE + " AFTER MATCH NO SKIP",
        _UNTIL_CONSECUTIVE,
        [[40, 41, 42, 45], [40, 41, 45], [40, 45]],
    ),
    PatternCase(
        "pattern ends with an any-relaxed entry, relaxed one-or-more until",
        "Flink UntilConditionITCase.testUntilConditionFollowedByAnyOneOrMore",
        "PATTERN (s ->> m+? RELAXED) " + _UNTIL_LOOP_ONLY + " AFTER MATCH NO SKIP",
        _UNTIL_EVENTS,
        [[40, 41, 42], [40, 41], [40, 42], [40, 45]],
    ),
    PatternCase(
        "pattern ends with an any-relaxed entry, relaxed zero-or-more until",
        "Flink UntilConditionITCase.testUntilConditionFollowedByAnyZeroOrMore",
        "PATTERN (s ->> m*? RELAXED) " + _UNTIL_LOOP_ONLY + " AFTER MATCH NO SKIP",
        _UNTIL_EVENTS,
        [[40, 41, 42], [40, 41], [40, 42], [40, 45], [40]],
    ),
]
