"""Conformance cases from Flink CEP's tests: strict, relaxed and non-deterministic relaxed
contiguity (the translation rules are in __init__.py)."""

from __future__ import annotations

from pattern_cases.case import ABCDE, PatternCase

# NFAITCase.testBranchingPattern*: SubEvents foo1..foo3 (volume 10) and next-one (volume 2)
_BRANCHING = [(40, "start", 1.0, 1), (41, "foo1", 1.0, 3), (42, "foo2", 1.0, 4),
              (43, "foo3", 1.0, 5), (44, "next-one", 1.0, 6), (45, "next-one", 1.0, 7),
              (46, "end", 1.0, 8)]
_BRANCHING_DEFINE = ("DEFINE s AS s.name = 'start', m1 AS m1.name IN ('foo1', 'foo2', 'foo3'),"
                     " m2 AS m2.name = 'next-one', fin AS fin.name = 'end'")


CONTIGUITY: list[PatternCase] = [
    PatternCase(
        "relaxed pair without conditions",
        "Flink NFAITCase.testNoConditionNFA",
        "PATTERN (s -> fin) AFTER MATCH NO SKIP",
        ABCDE,
        [[40, 41], [41, 42], [42, 43], [43, 44]],
    ),
    PatternCase(
        "any-relaxed pair without conditions",
        "Flink NFAITCase.testAnyWithNoConditionNFA",
        "PATTERN (s ->> fin) AFTER MATCH NO SKIP",
        ABCDE,
        [[40, 41], [40, 42], [40, 43], [40, 44], [41, 42], [41, 43], [41, 44], [42, 43],
         [42, 44], [43, 44]],
    ),
    PatternCase(
        "strict contiguity with a result",
        "Flink NFAITCase.testStrictContinuityWithResults",
        "PATTERN (m fin) DEFINE m AS m.name = 'a', fin AS fin.name = 'b' AFTER MATCH NO SKIP",
        [(41, "a", 2.0, 3), (42, "b", 4.0, 5)],
        [[41, 42]],
    ),
    PatternCase(
        "strict contiguity broken by another event",
        "Flink NFAITCase.testStrictContinuityNoResults",
        "PATTERN (m fin) DEFINE m AS m.name = 'a', fin AS fin.name = 'b' AFTER MATCH NO SKIP",
        [(41, "a", 2.0, 3), (42, "c", 3.0, 4), (43, "b", 4.0, 5)],
        [],
    ),
    PatternCase(
        "any-relaxed branching (subtype conditions by name)",
        "Flink NFAITCase.testBranchingPattern",
        "PATTERN (s ->> m1 ->> m2 ->> fin) " + _BRANCHING_DEFINE + " AFTER MATCH NO SKIP",
        _BRANCHING,
        [[40, 41, 44, 46], [40, 42, 44, 46], [40, 43, 44, 46], [40, 41, 45, 46],
         [40, 42, 45, 46], [40, 43, 45, 46]],
    ),
    PatternCase(
        "relaxed branching takes only the next match (subtype conditions by name)",
        "Flink NFAITCase.testBranchingPatternSkipTillNext",
        "PATTERN (s -> m1 -> m2 ->> fin) " + _BRANCHING_DEFINE + " AFTER MATCH NO SKIP",
        _BRANCHING,
        [[40, 41, 44, 46]],
    ),
    PatternCase(
        "mixed any-relaxed and relaxed branching (subtype conditions by name)",
        "Flink NFAITCase.testBranchingPatternMixedFollowedBy",
        "PATTERN (s ->> m1 -> m2 ->> fin) " + _BRANCHING_DEFINE + " AFTER MATCH NO SKIP",
        _BRANCHING,
        [[40, 41, 44, 46], [40, 42, 44, 46], [40, 43, 44, 46]],
    ),
    PatternCase(
        "five strict steps (ids made unique)",
        "Flink NFAITCase.testNFAResultKeyOrdering",
        "PATTERN (a b aa bb ab) DEFINE a AS a.name = 'a', b AS b.name = 'b',"
        " aa AS aa.name = 'aa', bb AS bb.name = 'bb', ab AS ab.name = 'ab' AFTER MATCH NO SKIP",
        [(41, "a", 2.0, 1), (42, "b", 3.0, 3), (43, "aa", 4.0, 4), (44, "bb", 5.0, 5),
         (45, "ab", 6.0, 6)],
        [[41, 42, 43, 44, 45]],
    ),
    # Flink's middle condition is SubEvent with volume > 5.0: of the two SubEvents, barfoo
    # (volume 5.0) and foo (10.0), only foo, which the name picks too.
    PatternCase(
        "relaxed steps (subtype condition by name, ids made unique)",
        "Flink NFAITCase.testSimplePatternNFA",
        "PATTERN (s -> m -> fin) DEFINE s AS s.name = 'start', m AS m.name = 'foo',"
        " fin AS fin.name = 'end' AFTER MATCH NO SKIP",
        [(41, "start", 1.0, 1), (43, "foobar", 1.0, 2), (44, "barfoo", 1.0, 3),
         (42, "foo", 1.0, 3), (45, "start", 1.0, 4), (46, "end", 1.0, 5)],
        [[41, 42, 46]],
    ),
]
