"""Conformance cases from Flink CEP's NFAITCase: loops whose repetitions are joined otherwise
than the loop is joined to the element before it, written with STRICT (Flink's
`consecutive()`), RELAXED (Flink's default inner contiguity) or ANY (`allowCombinations()`)
after the quantifier (the translation rules are in __init__.py).

Source: flink-libraries/flink-cep/src/test/java/org/apache/flink/cep/nfa/NFAITCase.java as
stored at apache/flink e9529d4d (the newest stored version; it still writes `Time.milliseconds`,
i.e. it predates Flink 2.0's `Duration`, and no test here uses a time bound).
"""

from __future__ import annotations

from pattern_cases.case import (
    CAB,
    CONSECUTIVE_LOOP,
    TIMES_FILLED,
    TIMES_FILLED_AFTER_FIRST,
    PatternCase,
)

# testMultipleTakesVersionCollision: the five "a" events all had id 41 (prices 2.0 .. 6.0)
_COLLISION_A = {1: 41, 2: 42, 3: 43, 4: 45, 5: 46}


def _collision(*middles: int) -> list[int]:
    return [40, *(_COLLISION_A[m] for m in middles), 44]


REPETITION: list[PatternCase] = [
    PatternCase(
        "an any-relaxed zero-or-more after another one",
        "Flink NFAITCase.testZeroOrMoreAfterZeroOrMore",
        "PATTERN (s ->> m1*? -> m2*? ANY -> fin) DEFINE s AS s.name = 'c',"
        " m1 AS m1.name = 'a', m2 AS m2.name = 'd', fin AS fin.name = 'e' AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "d", 3.0, 4), (43, "d", 4.0, 5),
         (44, "e", 4.0, 6)],
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 42, 43, 44], [40, 42, 44], [40, 41, 44],
         [40, 44]],
    ),
    PatternCase(
        "any-relaxed entry, relaxed repetitions",
        "Flink NFAITCase.testAtLeastOneEager",
        "PATTERN (s ->> m+? RELAXED ->> fin) " + CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 4), (43, "a", 4.0, 5),
         (44, "b", 5.0, 6)],
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 42, 43, 44], [40, 43, 44], [40, 42, 44],
         [40, 41, 44]],
    ),
    PatternCase(
        "strict entry, {2} with combinations",
        "Flink NFAITCase.testTimes",
        "PATTERN (s m{2} ANY -> fin) " + CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 3.0, 3), (43, "a", 4.0, 4),
         (44, "b", 5.0, 6)],
        [[40, 41, 42, 44], [40, 41, 43, 44]],
    ),
    PatternCase(
        "strict entry, {2} with combinations over fillers",
        "Flink NFAITCase.testTimesNonStrictWithNext",
        "PATTERN (s m{2} ANY -> fin) " + CAB + " AFTER MATCH NO SKIP",
        TIMES_FILLED_AFTER_FIRST,
        [[40, 41, 42, 44], [40, 41, 43, 44]],
    ),
    PatternCase(
        "any-relaxed entry, strict zero-or-more",
        "Flink NFAITCase.testOneOrMoreStrictOptional",
        "PATTERN (s ->> m*? STRICT -> fin) " + CAB + " AFTER MATCH NO SKIP",
        TIMES_FILLED,
        [[40, 42, 43, 44], [40, 41, 44], [40, 42, 44], [40, 43, 44], [40, 44]],
    ),
    PatternCase(
        "relaxed entry, strict one-or-more",
        "Flink NFAITCase.testStrictOneOrMore",
        "PATTERN (s -> m+? STRICT -> fin) " + CAB + " AFTER MATCH NO SKIP",
        CONSECUTIVE_LOOP,
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 41, 44]],
    ),
    PatternCase(
        "relaxed entry, one-or-more with combinations",
        "Flink NFAITCase.testSkipTillAnyOneOrMore",
        "PATTERN (s -> m+? ANY -> fin) " + CAB + " AFTER MATCH NO SKIP",
        CONSECUTIVE_LOOP,
        [[40, 41, 42, 43, 45, 44], [40, 41, 43, 45, 44], [40, 41, 42, 43, 44],
         [40, 41, 42, 45, 44], [40, 41, 42, 44], [40, 41, 43, 44], [40, 41, 45, 44], [40, 41, 44]],
    ),
    PatternCase(
        "relaxed entry, strict zero-or-more",
        "Flink NFAITCase.testStrictEagerZeroOrMore",
        "PATTERN (s -> m*? STRICT -> fin) " + CAB + " AFTER MATCH NO SKIP",
        CONSECUTIVE_LOOP,
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 41, 44], [40, 44]],
    ),
    PatternCase(
        "relaxed entry, zero-or-more with combinations",
        "Flink NFAITCase.testSkipTillAnyZeroOrMore",
        "PATTERN (s -> m*? ANY -> fin) " + CAB + " AFTER MATCH NO SKIP",
        CONSECUTIVE_LOOP,
        [[40, 41, 42, 43, 45, 44], [40, 41, 42, 45, 44], [40, 41, 43, 45, 44], [40, 41, 45, 44],
         [40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 41, 43, 44], [40, 41, 44], [40, 44]],
    ),
    PatternCase(
        "any-relaxed entry, strict {2}",
        "Flink NFAITCase.testTimesStrict",
        "PATTERN (s ->> m{2} STRICT -> fin) " + CAB + " AFTER MATCH NO SKIP",
        TIMES_FILLED,
        [[40, 42, 43, 44]],
    ),
    # The same "a" events can go to either loop; Flink's expected output lists some matches
    # several times (the same events, split differently between m1 and m2), and so does this
    # case: matches are compared as multisets of event-id lists.
    PatternCase(
        "two loops with combinations over the same events (ids made unique)",
        "Flink NFAITCase.testMultipleTakesVersionCollision",
        "PATTERN (s -> m1+? ANY -> m2+? ANY -> fin) DEFINE s AS s.name = 'c',"
        " m1 AS m1.name = 'a', m2 AS m2.name = 'a', fin AS fin.name = 'b' AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 4), (43, "a", 4.0, 5),
         (45, "a", 5.0, 6), (46, "a", 6.0, 7), (44, "b", 5.0, 10)],
        [
            _collision(1, 2, 3, 4, 5),
            _collision(1, 2, 3, 4, 5),
            _collision(1, 2, 3, 4, 5),
            _collision(1, 2, 3, 4, 5),
            _collision(1, 2, 3, 4),
            _collision(1, 2, 4, 5),
            _collision(1, 2, 3, 4),
            _collision(1, 2, 3, 5),
            _collision(1, 3, 4, 5),
            _collision(1, 3, 4, 5),
            _collision(1, 2, 3, 4),
            _collision(1, 2, 3, 5),
            _collision(1, 2, 4, 5),
            _collision(1, 2, 3),
            _collision(1, 3, 4),
            _collision(1, 4, 5),
            _collision(1, 2, 3),
            _collision(1, 2, 4),
            _collision(1, 2, 5),
            _collision(1, 2),
        ],
    ),
    # Flink checks that there is one match and the order of each variable's events.
    PatternCase(
        "{4} with combinations at the start, then a strict {3} (ids made unique)",
        "Flink NFAITCase.testNFAResultOrdering",
        "PATTERN (s{4} ANY ->> m{3} STRICT) DEFINE s AS s.name LIKE 'a-%',"
        " m AS m.name LIKE 'b-%' AFTER MATCH NO SKIP",
        [(41, "a-1", 2.0, 1), (42, "a-2", 3.0, 3), (43, "a-3", 4.0, 4), (44, "a-4", 5.0, 5),
         (45, "b-1", 6.0, 6), (46, "b-2", 7.0, 7), (47, "b-3", 8.0, 10)],
        [[41, 42, 43, 44, 45, 46, 47]],
    ),
]
