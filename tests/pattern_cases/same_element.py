"""Conformance cases from Flink CEP's SameElementITCase: events equal as values (same id, name
and price), often with the same timestamp, are still distinct events (the translation rules are
in __init__.py).

Source: flink-libraries/flink-cep/src/test/java/org/apache/flink/cep/nfa/SameElementITCase.java
as stored at apache/flink db41c1da (the newest stored version, from before Flink 2.0; nothing in
it depends on the version).

Flink's tests compare matches with `Event.equals`, so equal events are interchangeable there (one
test even writes `middleEvent1, middleEvent1` for the match of two equal events). The cases keep
the ids of equal events equal: the runner, which compares matches as sorted id lists, then
distinguishes exactly what Flink's comparison distinguishes. Distinct events that shared an id
get fresh ids, as everywhere. testClearingBuffer and testClearingBufferWithUntilAtTheEnd also
check the NFA's remaining partial matches; only their matches are ported.
"""

from __future__ import annotations

from pattern_cases.case import CAB, PatternCase

# testZeroOrMoreSameElement: middleEvent1/1a are equal (id 41), so are middleEvent3/3a (id 43)
_SAME = {"1": 41, "1a": 41, "2": 42, "3": 43, "3a": 43}


def _same(*middles: str) -> list[int]:
    return [40, *(_SAME[m] for m in middles), 44]


SAME_ELEMENT: list[PatternCase] = [
    PatternCase(
        "relaxed zero-or-more over equal events",
        "Flink SameElementITCase.testEagerZeroOrMoreSameElement",
        "PATTERN (s -> m*? -> fin) " + CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (41, "a", 2.0, 3), (41, "a", 2.0, 3),
         (42, "a", 3.0, 4), (50, "d", 6.0, 5), (43, "a", 4.0, 6), (43, "a", 4.0, 6),
         (44, "b", 5.0, 7)],
        [[40, 41, 41, 41, 42, 43, 43, 44], [40, 41, 41, 41, 42, 43, 44], [40, 41, 41, 41, 42, 44],
         [40, 41, 41, 41, 44], [40, 41, 41, 44], [40, 41, 44], [40, 44]],
    ),
    PatternCase(
        "relaxed steps over events with one timestamp (ids made unique)",
        "Flink SameElementITCase.testClearingBuffer",
        "PATTERN (a -> b -> c -> d) DEFINE a AS a.name = 'a', b AS b.name = 'b',"
        " c AS c.name = 'c', d AS d.name = 'd' AFTER MATCH NO SKIP",
        [(40, "a", 1.0, 1), (41, "b", 2.0, 2), (42, "c", 2.0, 2), (43, "d", 2.0, 2)],
        [[40, 41, 42, 43]],
    ),
    # Flink's until condition counts the loop's events taken so far, without the current one;
    # frys's COUNT(d) includes the current event.
    PatternCase(
        "until on the count of equal events at the end",
        "Flink SameElementITCase.testClearingBufferWithUntilAtTheEnd",
        "PATTERN (a -> d+?) DEFINE a AS a.name = 'a', d AS d.name = 'd' UNTIL COUNT(d) - 1 = 3"
        " AFTER MATCH NO SKIP",
        [(40, "a", 1.0, 1), (41, "d", 2.0, 2), (41, "d", 2.0, 2), (41, "d", 2.0, 2),
         (41, "d", 2.0, 4)],
        [[40, 41, 41, 41], [40, 41, 41], [40, 41]],
    ),
    # Flink lists the match of middleEvent1 and middleEvent1a as (middleEvent1, middleEvent1):
    # the two are equal, so it is written ("1", "1a") here.
    PatternCase(
        "any-relaxed zero-or-more with combinations over equal events",
        "Flink SameElementITCase.testZeroOrMoreSameElement",
        "PATTERN (s ->> m*? ->> fin) " + CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (41, "a", 2.0, 3), (42, "a", 3.0, 4),
         (50, "d", 6.0, 5), (43, "a", 4.0, 6), (43, "a", 4.0, 6), (44, "b", 5.0, 7)],
        [
            _same("1", "1a", "2", "3", "3a"),
            _same("1", "1a", "2", "3"),
            _same("1", "1a", "2", "3a"),
            _same("1", "1a", "3", "3a"),
            _same("1", "2", "3", "3a"),
            _same("1a", "2", "3", "3a"),
            _same("1", "1a", "2"),
            _same("1", "1a", "3"),
            _same("1", "1a", "3a"),
            _same("1", "2", "3"),
            _same("1", "2", "3a"),
            _same("1", "3", "3a"),
            _same("2", "3", "3a"),
            _same("1a", "2", "3"),
            _same("1a", "2", "3a"),
            _same("1a", "3", "3a"),
            _same("1", "1a"),
            _same("1", "2"),
            _same("1", "3"),
            _same("1", "3a"),
            _same("1a", "2"),
            _same("1a", "3"),
            _same("1a", "3a"),
            _same("2", "3"),
            _same("2", "3a"),
            _same("3", "3a"),
            _same("1"),
            _same("1a"),
            _same("2"),
            _same("3"),
            _same("3a"),
            _same(),
        ],
    ),
    PatternCase(
        "the same event twice gives two matches",
        "Flink SameElementITCase.testSimplePatternWSameElement",
        "PATTERN (s ->> m -> fin) " + CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (41, "a", 2.0, 3), (44, "b", 5.0, 7)],
        [[40, 41, 44], [40, 41, 44]],
    ),
    # Flink's condition on "end" is only the sum of the loop's prices, so any event can end.
    PatternCase(
        "condition on the sum of equal events",
        "Flink SameElementITCase.testIterativeConditionWSameElement",
        "PATTERN (s ->> m*? -> fin) DEFINE s AS s.name = 'c', m AS m.name = 'a',"
        " fin AS SUM(m.price) = 4.0 AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (41, "a", 2.0, 3), (41, "a", 2.0, 3),
         (44, "b", 5.0, 7)],
        [[40, 41, 41, 44], [40, 41, 41, 41], [40, 41, 41, 44]],
    ),
    PatternCase(
        "pattern ends with an any-relaxed entry, relaxed zero-or-more over equal events",
        "Flink SameElementITCase.testEndWLoopingWSameElement",
        "PATTERN (s ->> m*? RELAXED) DEFINE s AS s.name = 'c', m AS m.name = 'a'"
        " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (41, "a", 2.0, 3), (41, "a", 2.0, 3),
         (44, "b", 5.0, 7)],
        [[40], [40, 41], [40, 41], [40, 41], [40, 41, 41], [40, 41, 41], [40, 41, 41, 41]],
    ),
    # All of Flink's events had id 40; the two equal middle1Event1 keep one id.
    PatternCase(
        "zero-or-more, optional, then the loop's condition again (ids made unique)",
        "Flink SameElementITCase.testRepeatingPatternWSameElement",
        "PATTERN (s -> m1*? -> m2?? -> fin) DEFINE s AS s.name = 'c', m1 AS m1.name = 'a',"
        " m2 AS m2.name = 'b', fin AS fin.name = 'a' AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (41, "a", 2.0, 3), (42, "a", 3.0, 3),
         (43, "d", 6.0, 5), (44, "b", 5.0, 6), (45, "a", 4.0, 7)],
        [[40, 41], [40, 41, 41], [40, 44, 45], [40, 41, 41, 42], [40, 41, 44, 45],
         [40, 41, 41, 42, 45], [40, 41, 41, 44, 45], [40, 41, 41, 42, 44, 45]],
    ),
]
