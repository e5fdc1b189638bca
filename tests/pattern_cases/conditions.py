"""Conformance cases from Flink CEP's tests: conditions on earlier events and running
aggregates (the translation rules are in __init__.py)."""

from __future__ import annotations

from pattern_cases.case import PatternCase

# IterativeConditionsITCase: start events 2..4 shared id 40 with the first: 47, 48, 49
_ITER_START_DEFINE = ("DEFINE s AS s.name = 'start' AND SUM(s.price) < 5.0,"
                      " fin AS fin.name = 'end'")
_ITER_STARTS = [(40, "start", 1.0, 1), (47, "start", 2.0, 2), (48, "start", 3.0, 3),
                (46, "end", 1.0, 4)]


# IterativeConditionsITCase.testIterativeWithBranchingPattern*: start events 1 and 2 shared id
# 40 (2: 47), foo3 and foo4 shared 43 (foo4: 45)
_ITER_BRANCHING = [(40, "start", 1.0, 1), (41, "foo1", 1.0, 2), (42, "foo2", 2.0, 3),
                   (47, "start", 2.0, 4), (43, "foo3", 3.0, 5), (45, "foo4", 1.0, 5),
                   (44, "next-one", 1.0, 6), (46, "end", 1.0, 8)]

ITERATIVE: list[PatternCase] = [
    # Flink's ctx.getEventsForPattern("m") holds the events taken before the current one; frys's
    # aggregates include the current event, so "sum of earlier m + this price < 5" is
    # SUM(m.price) < 5.0.
    PatternCase(
        "loop condition on the running sum (ids made unique)",
        "Flink IterativeConditionsITCase.testIterativeWithBranchingPatternEager",
        "PATTERN (s -> m+? -> fin) DEFINE s AS s.name = 'start',"
        " m AS m.name LIKE 'foo%' AND SUM(m.price) < 5.0, fin AS fin.name = 'end'"
        " AFTER MATCH NO SKIP",
        _ITER_BRANCHING,
        [[40, 41, 42, 45, 46], [40, 41, 42, 46], [40, 41, 46], [47, 43, 45, 46], [47, 43, 46]],
    ),
    PatternCase(
        "loop with combinations, condition on the running sum (ids made unique)",
        "Flink IterativeConditionsITCase.testIterativeWithBranchingPatternCombinations",
        "PATTERN (s -> m+? ANY -> fin) DEFINE s AS s.name = 'start',"
        " m AS m.name LIKE 'foo%' AND SUM(m.price) < 5.0, fin AS fin.name = 'end'"
        " AFTER MATCH NO SKIP",
        _ITER_BRANCHING,
        [[40, 41, 42, 45, 46], [40, 41, 42, 46], [40, 41, 43, 46], [47, 43, 45, 46],
         [40, 41, 45, 46], [40, 41, 46], [47, 43, 46]],
    ),
    PatternCase(
        "running sum on a relaxed loop at the start (ids made unique)",
        "Flink IterativeConditionsITCase.testIterativeWithLoopingStartingEager",
        "PATTERN (-> s*? -> fin) " + _ITER_START_DEFINE + " AFTER MATCH NO SKIP",
        _ITER_STARTS,
        [[40, 47, 46], [40, 46], [47, 46], [48, 46], [46]],
    ),
    PatternCase(
        "running sum on an any-relaxed loop at the start (ids made unique)",
        "Flink IterativeConditionsITCase.testIterativeWithLoopingStartingCombination",
        "PATTERN (->> s*? -> fin) " + _ITER_START_DEFINE + " AFTER MATCH NO SKIP",
        _ITER_STARTS,
        [[40, 47, 46], [40, 48, 46], [40, 46], [47, 46], [48, 46], [46]],
    ),
    PatternCase(
        "condition on the sum of an earlier loop (ids made unique)",
        "Flink IterativeConditionsITCase.testIterativeWithPrevPatternDependency",
        "PATTERN (-> s+? -> fin) DEFINE s AS s.name = 'start',"
        " fin AS fin.name = 'end' AND SUM(s.price) >= 2.0 AFTER MATCH NO SKIP",
        [(40, "start", 1.0, 1), (47, "start", 2.0, 2), (46, "end", 1.0, 4)],
        [[40, 47, 46], [47, 46]],
    ),
    PatternCase(
        "running sum in a loop after a branch (ids made unique)",
        "Flink IterativeConditionsITCase.testIterativeWithABACPattern",
        "PATTERN (s ->> m1 -> m2+? -> fin) DEFINE s AS s.name = 'start',"
        " m1 AS m1.name LIKE 'foo%', m2 AS m2.name = 'start' AND SUM(m2.price) <= 5.0,"
        " fin AS fin.name = 'end' AFTER MATCH NO SKIP",
        [(40, "start", 1.0, 1), (41, "foo1", 1.0, 2), (47, "start", 2.0, 2),
         (48, "start", 3.0, 2), (42, "foo2", 2.0, 2), (49, "start", 4.0, 2),
         (43, "foo3", 3.0, 2), (45, "foo4", 1.0, 2), (46, "end", 1.0, 4)],
        [[40, 41, 47, 48, 46], [40, 41, 47, 46], [40, 42, 49, 46], [47, 42, 49, 46],
         [48, 42, 49, 46]],
    ),
    PatternCase(
        "sum of an earlier loop after any-relaxed branching (ids made unique)",
        "Flink IterativeConditionsITCase.testIterativeWithPrevPatternDependencyAfterBranching",
        "PATTERN (-> s+? ->> m1 ->> fin) DEFINE s AS s.name = 'start',"
        " m1 AS m1.name LIKE 'foo%', fin AS fin.name = 'end' AND SUM(s.price) >= 2.0"
        " AFTER MATCH NO SKIP",
        [(40, "start", 1.0, 1), (47, "start", 2.0, 2), (41, "foo1", 1.0, 4),
         (48, "start", 3.0, 5), (42, "foo2", 2.0, 6), (46, "end", 1.0, 7)],
        [[40, 47, 41, 46], [47, 41, 46], [40, 47, 42, 46], [40, 47, 48, 42, 46],
         [47, 48, 42, 46], [47, 42, 46], [48, 42, 46]],
    ),
]
