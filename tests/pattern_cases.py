"""Conformance cases for frys patterns, translated from Apache Flink CEP's own test suite.

Each case is one Flink test (flink-libraries/flink-cep/src/test/java/org/apache/flink/cep/nfa/)
re-expressed in frys: the same events (Flink's Event(id, name, price) plus the StreamRecord
timestamp as `ts`), the pattern written in frys syntax, and Flink's expected matches as lists
of event ids. Only the case is translated (events, pattern, expected output), never the code.

Translation rules (see docs/language.md, "Patterns"):

* `next` -> `a b`, `followedBy` -> `a -> b`, `followedByAny` -> `a ->> b`.
* Flink loops are non-greedy by default: `oneOrMore()` -> `b+?`, `.optional()` -> `b??`,
  `oneOrMore().optional()` -> `b*?`, `times(n, m)` -> `b{n,m}?`; `.greedy()` drops the `?`.
* A frys loop repeats with the contiguity of the operator written before it, so only Flink
  loops whose inner contiguity equals that are ported: `followedBy(..).oneOrMore()` (relaxed
  inner), `next(..).oneOrMore().consecutive()` (strict), `followedByAny(..).oneOrMore()
  .allowCombinations()` (any). A pattern that begins with a loop loops strictly unless written
  with a leading arrow: Flink `begin(..).oneOrMore()` (relaxed inner) is `-> b+? ...`.
* Flink's tests run the NFA without a skip strategy (NO_SKIP) unless they set one; frys's
  default is SKIP PAST LAST EVENT, so every case says its strategy explicitly.
* `end` is a reserved word in frys, so Flink's variable "end" is `fin` here; other variable
  names are shortened (`start` -> `s`, `middle` -> `m`).
* Flink's tests sometimes give distinct events the same id. Where such an event can appear in
  a match, it gets a fresh id here (said in the case's name with "ids made unique"), so the
  expected matches stay distinguishable.
* Flink's `SubEvent.class` subtype conditions (`getVolume() > 5.0`) have no frys counterpart;
  the two branching cases that use them test by name instead (the subtype test picks exactly
  the same events in that data).

Expected matches list the ids of a match's events in event-time order; the runner compares them
as multisets unless `ordered` is set.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PatternCase:
    name: str                 # short description (the pytest id)
    source: str               # "Flink NFAITCase.testSimplePatternWithTimeWindowNFA" etc.
    pattern: str              # everything after `FROM ev `: "PATTERN (...) [WITHIN ..] DEFINE ..."
    events: list[tuple[int, str, float, int]]   # (id, name, price, ts) in arrival order
    matches: list[list[int]]  # expected matches: each the ids of its events in event-time order
    ordered: bool = False     # True when the emission order of matches must match exactly


# Frequently used event sets ---------------------------------------------------------------

# NFAITCase: five events a..e, no conditions
_ABCDE = [(40, "a", 1.0, 1), (41, "b", 2.0, 2), (42, "c", 3.0, 3), (43, "d", 4.0, 4),
          (44, "e", 5.0, 5)]

# NFAITCase.testSimplePatternWithTimeWindowNFA*
_TIME_WINDOW = [(1, "start", 1.0, 1), (2, "start", 1.0, 2), (3, "middle", 1.0, 3),
                (4, "foobar", 1.0, 4), (5, "end", 1.0, 11), (6, "end", 1.0, 13)]

# NFAITCase.testBranchingPattern*: SubEvents foo1..foo3 (volume 10) and next-one (volume 2)
_BRANCHING = [(40, "start", 1.0, 1), (41, "foo1", 1.0, 3), (42, "foo2", 1.0, 4),
              (43, "foo3", 1.0, 5), (44, "next-one", 1.0, 6), (45, "next-one", 1.0, 7),
              (46, "end", 1.0, 8)]
_BRANCHING_DEFINE = ("DEFINE s AS s.name = 'start', m1 AS m1.name IN ('foo1', 'foo2', 'foo3'),"
                     " m2 AS m2.name = 'next-one', fin AS fin.name = 'end'")

# NFAITCase.testOneOrMore / testZeroOrMore (ConsecutiveData; middleEvent4 had id 43 too: 45)
_CONSECUTIVE_LOOP = [(40, "c", 1.0, 1), (50, "d", 6.0, 2), (41, "a", 2.0, 3), (42, "a", 3.0, 4),
                     (43, "a", 4.0, 4), (50, "d", 6.0, 5), (45, "a", 5.0, 6), (44, "b", 5.0, 7)]

# NFAITCase.testTimes* (ConsecutiveData with "f" fillers)
_TIMES_FILLED = [(40, "c", 1.0, 1), (23, "f", 1.0, 2), (41, "a", 2.0, 3), (23, "f", 1.0, 4),
                 (42, "a", 3.0, 5), (43, "a", 4.0, 6), (44, "b", 5.0, 7)]

_CAB = "DEFINE s AS s.name = 'c', m AS m.name = 'a', fin AS fin.name = 'b'"
_CAD = "DEFINE s AS s.name = 'c', m AS m.name = 'a', fin AS fin.name = 'd'"

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

# UntilConditionITCase: until price = 5.0
_UNTIL_EVENTS = [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 4), (44, "a", 5.0, 6),
                 (45, "a", 6.0, 7)]
_UNTIL_DEFINE = ("DEFINE s AS s.name = 'c', m AS m.name = 'a' UNTIL m.price = 5.0,"
                 " fin AS fin.price = 5.0")
# UntilConditionITCase with an any-event loop (middleEvent3 "d" shares id 40 with the start)
_UNTIL_ANY_EVENTS = [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 4), (40, "d", 1.0, 5),
                     (44, "a", 5.0, 6), (45, "a", 6.0, 7)]

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

# AfterMatchSkipITCase (its records carry no timestamp; here they get increasing ones)
_SIX_A = [(i, "a", 0.0, i) for i in range(1, 7)]
_TWO_VARIABLES_ANY = [(1, "a", 0.0, 1), (2, "b", 0.0, 2), (4, "a", 0.0, 3), (5, "b", 0.0, 4)]
_AB_C_AB_C = [(1, "ab1", 0.0, 1), (2, "c1", 0.0, 2), (3, "ab2", 0.0, 3), (4, "c2", 0.0, 4)]
# a3 and b4 shared ids 3 and 4 with a2 and b2: 6 and 7
_A_BPLUS = [(1, "a1", 0.0, 1), (2, "b1", 0.0, 2), (3, "a2", 0.0, 3), (4, "b2", 0.0, 4),
            (5, "b3", 0.0, 5), (6, "a3", 0.0, 6), (7, "b4", 0.0, 7)]
_AAAB = [(1, "a1", 0.0, 1), (2, "a2", 0.0, 2), (3, "a3", 0.0, 3), (4, "b1", 0.0, 4)]
_A_B_LIKE = "DEFINE a AS a.name LIKE '%a%', b AS b.name LIKE '%b%'"

# IterativeConditionsITCase: start events 2..4 shared id 40 with the first: 47, 48, 49
_ITER_START_DEFINE = ("DEFINE s AS s.name = 'start' AND SUM(s.price) < 5.0,"
                      " fin AS fin.name = 'end'")
_ITER_STARTS = [(40, "start", 1.0, 1), (47, "start", 2.0, 2), (48, "start", 3.0, 3),
                (46, "end", 1.0, 4)]


# GroupITCase: c (a b)... d
_GROUP_DEFINE = ("DEFINE s AS s.name = 'c', m1 AS m1.name = 'a', m2 AS m2.name = 'b',"
                 " fin AS fin.name = 'd'")
_GROUP_ABAB = [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "b", 3.0, 3), (43, "a", 4.0, 4),
               (44, "b", 5.0, 5), (45, "d", 6.0, 6)]


CONTIGUITY: list[PatternCase] = [
    PatternCase(
        "relaxed pair without conditions",
        "Flink NFAITCase.testNoConditionNFA",
        "PATTERN (s -> fin) AFTER MATCH NO SKIP",
        _ABCDE,
        [[40, 41], [41, 42], [42, 43], [43, 44]],
    ),
    PatternCase(
        "any-relaxed pair without conditions",
        "Flink NFAITCase.testAnyWithNoConditionNFA",
        "PATTERN (s ->> fin) AFTER MATCH NO SKIP",
        _ABCDE,
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

]

RELUCTANT: list[PatternCase] = [
    PatternCase(
        "relaxed one-or-more loop without conditions",
        "Flink NFAITCase.testNoConditionLoopingNFA",
        "PATTERN (s -> fin+?) AFTER MATCH NO SKIP",
        _ABCDE,
        [[40, 41, 42, 43, 44], [40, 41, 42, 43], [40, 41, 42], [40, 41], [41, 42, 43, 44],
         [41, 42, 43], [41, 42], [42, 43, 44], [42, 43], [43, 44]],
    ),
    PatternCase(
        "any-relaxed zero-or-more with combinations",
        "Flink NFAITCase.testZeroOrMore",
        "PATTERN (s ->> m*? -> fin) " + _CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 4), (44, "b", 5.0, 6)],
        [[40, 41, 42, 44], [40, 41, 44], [40, 42, 44], [40, 44]],
    ),
    PatternCase(
        "relaxed zero-or-more skips an unrelated event",
        "Flink NFAITCase.testEagerZeroOrMore",
        "PATTERN (s -> m*? -> fin) " + _CAB + " AFTER MATCH NO SKIP",
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
        "PATTERN (s ->> m+? ->> fin) " + _CAB + " AFTER MATCH NO SKIP",
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
        "PATTERN (s -> m+? -> fin) " + _CAB + " AFTER MATCH NO SKIP",
        _CONSECUTIVE_LOOP,
        [[40, 41, 42, 43, 45, 44], [40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 41, 44]],
    ),
    PatternCase(
        "relaxed zero-or-more loop (skip till next)",
        "Flink NFAITCase.testSkipTillNextZeroOrMore",
        "PATTERN (s -> m*? -> fin) " + _CAB + " AFTER MATCH NO SKIP",
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
        "PATTERN (s -> m?? -> fin) " + _CAB + " AFTER MATCH NO SKIP",
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
        "PATTERN (s -> m{2} -> fin) " + _CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 3.0, 4), (43, "a", 4.0, 6),
         (44, "b", 5.0, 7)],
        [[40, 41, 42, 44]],
    ),
    PatternCase(
        "any-relaxed {2} with combinations",
        "Flink NFAITCase.testTimesNotStrictWithFollowedByNotEager",
        "PATTERN (s ->> m{2} -> fin) " + _CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 3.0, 4), (43, "a", 4.0, 6),
         (44, "b", 5.0, 7)],
        [[40, 41, 42, 44], [40, 42, 43, 44], [40, 41, 43, 44]],
    ),
    PatternCase(
        "strict {2} broken by a filler: no result",
        "Flink NFAITCase.testTimesStrictWithNextAndConsecutive",
        "PATTERN (s m{2} -> fin) " + _CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (23, "f", 1.0, 3), (42, "a", 3.0, 4),
         (43, "a", 4.0, 6), (44, "b", 5.0, 7)],
        [],
    ),
    PatternCase(
        "any-relaxed {2} with combinations over fillers",
        "Flink NFAITCase.testTimesNonStrict",
        "PATTERN (s ->> m{2} -> fin) " + _CAB + " AFTER MATCH NO SKIP",
        _TIMES_FILLED,
        [[40, 41, 42, 44], [40, 41, 43, 44], [40, 42, 43, 44]],
    ),

]

WITHIN: list[PatternCase] = [
    PatternCase(
        "within between first and last event",
        "Flink NFAITCase.testSimplePatternWithTimeWindowNFAWithinFirstAndLast",
        "PATTERN (s -> m -> fin) WITHIN 10ms DEFINE s AS s.name = 'start',"
        " m AS m.name = 'middle', fin AS fin.name = 'end' AFTER MATCH NO SKIP",
        _TIME_WINDOW,
        [[2, 3, 5]],
    ),
    PatternCase(
        "within between consecutive events",
        "Flink NFAITCase.testSimplePatternWithTimeWindowNFAWithinPreviousAndCurrent",
        "PATTERN (s -> m -> fin) WITHIN 9ms BETWEEN EVENTS DEFINE s AS s.name = 'start',"
        " m AS m.name = 'middle', fin AS fin.name = 'end' AFTER MATCH NO SKIP",
        _TIME_WINDOW,
        [[1, 3, 5], [2, 3, 5]],
    ),

]

GREEDY: list[PatternCase] = [
    PatternCase(
        "greedy zero-or-more",
        "Flink GreedyITCase.testGreedyZeroOrMore",
        "PATTERN (s -> m* -> fin) " + _CAD + " AFTER MATCH NO SKIP",
        _GREEDY_CAAAD,
        [[40, 41, 42, 43, 44]],
    ),
    PatternCase(
        "greedy zero-or-more over fillers",
        "Flink GreedyITCase.testGreedyZeroOrMoreInBetween",
        "PATTERN (s -> m* -> fin) " + _CAD + " AFTER MATCH NO SKIP",
        _GREEDY_IN_BETWEEN,
        [[40, 41, 42, 43, 44]],
    ),
    PatternCase(
        "greedy zero-or-more, filler after the loop",
        "Flink GreedyITCase.testGreedyZeroOrMoreWithDummyEventsAfterQuantifier",
        "PATTERN (s -> m* -> fin) " + _CAD + " AFTER MATCH NO SKIP",
        _GREEDY_DUMMY_AFTER,
        [[40, 41, 42, 44]],
    ),
    PatternCase(
        "greedy zero-or-more taking nothing",
        "Flink GreedyITCase.testGreedyZeroOrMoreWithDummyEventsBeforeQuantifier",
        "PATTERN (s -> m* -> fin) " + _CAD + " AFTER MATCH NO SKIP",
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
        "PATTERN (s -> m+ -> fin) " + _CAD + " AFTER MATCH NO SKIP",
        _GREEDY_CAAAD,
        [[40, 41, 42, 43, 44]],
    ),
    PatternCase(
        "greedy one-or-more over fillers",
        "Flink GreedyITCase.testGreedyOneOrMoreInBetween",
        "PATTERN (s -> m+ -> fin) " + _CAD + " AFTER MATCH NO SKIP",
        _GREEDY_IN_BETWEEN,
        [[40, 41, 42, 43, 44]],
    ),
    PatternCase(
        "greedy one-or-more, filler after the loop",
        "Flink GreedyITCase.testGreedyOneOrMoreWithDummyEventsAfterQuantifier",
        "PATTERN (s -> m+ -> fin) " + _CAD + " AFTER MATCH NO SKIP",
        _GREEDY_DUMMY_AFTER,
        [[40, 41, 42, 44]],
    ),
    PatternCase(
        "greedy one-or-more with nothing to take",
        "Flink GreedyITCase.testGreedyOneOrMoreWithDummyEventsBeforeQuantifier",
        "PATTERN (s -> m+ -> fin) " + _CAD + " AFTER MATCH NO SKIP",
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
        "PATTERN (s -> m{2,5} -> fin) " + _CAD + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 2.0, 3), (43, "a", 2.0, 4),
         (44, "a", 2.0, 5), (45, "d", 2.0, 6)],
        [[40, 41, 42, 43, 44, 45]],
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
        "until on a loop without a condition",
        "Flink UntilConditionITCase.testUntilConditionWithEmptyWhere",
        "PATTERN (s -> m+?) DEFINE s AS s.name = 'c', m AS TRUE UNTIL m.price = 5.0"
        " AFTER MATCH NO SKIP",
        _UNTIL_ANY_EVENTS,
        [[40, 41, 42, 40], [40, 41, 42], [40, 41]],
    ),
    # Flink's until condition sees the loop's events taken so far, without the current one;
    # frys's aggregates include the current event, so "sum of the earlier ones" is
    # SUM(m.price) - m.price.
    PatternCase(
        "iterative until on a one-or-more",
        "Flink UntilConditionITCase.testIterativeUntilConditionOneOrMore",
        "PATTERN (s -> m+?) DEFINE s AS s.name = 'c',"
        " m AS TRUE UNTIL SUM(m.price) - m.price = 6.0 AFTER MATCH NO SKIP",
        _UNTIL_ANY_EVENTS,
        [[40, 41, 42, 40], [40, 41, 42], [40, 41]],
    ),
    PatternCase(
        "iterative until on a zero-or-more",
        "Flink UntilConditionITCase.testIterativeUntilConditionZeroOrMore",
        "PATTERN (s -> m*?) DEFINE s AS s.name = 'c',"
        " m AS TRUE UNTIL SUM(m.price) - m.price = 6.0 AFTER MATCH NO SKIP",
        _UNTIL_ANY_EVENTS,
        [[40, 41, 42, 40], [40, 41, 42], [40, 41], [40]],
    ),
]

TIMES_RANGES: list[PatternCase] = [
    PatternCase(
        "any-relaxed {1,3} with combinations",
        "Flink TimesRangeITCase.testTimesRangeNonStrict",
        "PATTERN (s ->> m{1,3}? -> fin) " + _CAB + " AFTER MATCH NO SKIP",
        _TIMES_FILLED,
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 41, 43, 44], [40, 42, 43, 44],
         [40, 41, 44], [40, 42, 44], [40, 43, 44]],
    ),
    PatternCase(
        "strict optional {1,3} is {0,3}",
        "Flink TimesRangeITCase.testTimesRangeStrictOptional1",
        "PATTERN (s m{0,3}? -> fin) " + _CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 3), (42, "a", 3.0, 5), (43, "a", 4.0, 6),
         (44, "b", 5.0, 7)],
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 41, 44], [40, 44]],
    ),
    PatternCase(
        "relaxed optional {1,3} with nothing to take",
        "Flink TimesRangeITCase.testTimesRangeNonStrictOptional1",
        "PATTERN (s -> m{0,3}? -> fin) " + _CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (23, "f", 1.0, 2), (44, "b", 5.0, 7)],
        [[40, 44]],
    ),
    PatternCase(
        "relaxed {2,3}",
        "Flink TimesRangeITCase.testTimesRangeNotStrictWithFollowedBy",
        "PATTERN (s -> m{2,3}? -> fin) " + _CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 3.0, 4), (43, "a", 4.0, 6),
         (44, "b", 5.0, 7)],
        [[40, 41, 42, 43, 44], [40, 41, 42, 44]],
    ),
    PatternCase(
        "any-relaxed {2,3} with combinations",
        "Flink TimesRangeITCase.testTimesRangeNotStrictWithFollowedByAny",
        "PATTERN (s ->> m{2,3}? -> fin) " + _CAB + " AFTER MATCH NO SKIP",
        [(40, "c", 1.0, 1), (41, "a", 2.0, 2), (42, "a", 3.0, 4), (43, "a", 4.0, 6),
         (44, "b", 5.0, 7)],
        [[40, 41, 42, 43, 44], [40, 41, 42, 44], [40, 42, 43, 44], [40, 41, 43, 44]],
    ),

]

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

SKIP: list[PatternCase] = [
    PatternCase(
        "no skip: overlapping {3}",
        "Flink AfterMatchSkipITCase.testNoSkip",
        "PATTERN (-> s{3}) DEFINE s AS s.name = 'a' AFTER MATCH NO SKIP",
        _SIX_A,
        [[1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 6]],
    ),
    PatternCase(
        "skip past last event: disjoint {3}",
        "Flink AfterMatchSkipITCase.testSkipPastLast",
        "PATTERN (-> s{3}) DEFINE s AS s.name = 'a' AFTER MATCH SKIP PAST LAST EVENT",
        _SIX_A,
        [[1, 2, 3], [4, 5, 6]],
    ),
    PatternCase(
        "no skip with any-relaxed",
        "Flink AfterMatchSkipITCase.testNoSkipWithFollowedByAny",
        "PATTERN (s ->> fin) DEFINE s AS s.name = 'a', fin AS fin.name = 'b'"
        " AFTER MATCH NO SKIP",
        _TWO_VARIABLES_ANY,
        [[1, 2], [1, 5], [4, 5]],
    ),
    PatternCase(
        "skip to next event with any-relaxed",
        "Flink AfterMatchSkipITCase.testSkipToNextWithFollowedByAny",
        "PATTERN (s ->> fin) DEFINE s AS s.name = 'a', fin AS fin.name = 'b'"
        " AFTER MATCH SKIP TO NEXT EVENT",
        _TWO_VARIABLES_ANY,
        [[1, 2], [4, 5]],
    ),
    PatternCase(
        "skip past last event over any-relaxed branches (ids made unique)",
        "Flink AfterMatchSkipITCase.testSkipPastLast2",
        "PATTERN (a ->> b ->> c -> d) DEFINE a AS a.name LIKE '%a%', b AS b.name LIKE '%b%',"
        " c AS c.name LIKE '%c%', d AS d.name LIKE '%d%' AFTER MATCH SKIP PAST LAST EVENT",
        [(1, "a1", 0.0, 1), (2, "a2", 0.0, 2), (3, "b1", 0.0, 3), (4, "b2", 0.0, 4),
         (5, "c1", 0.0, 5), (6, "c2", 0.0, 6), (7, "d1", 0.0, 7), (8, "d2", 0.0, 8)],
        [[1, 3, 5, 7]],
    ),
    PatternCase(
        "skip past last event with strict contiguity",
        "Flink AfterMatchSkipITCase.testSkipPastLast3",
        "PATTERN (a b) DEFINE a AS a.name LIKE '%a%', b AS b.name LIKE '%b%'"
        " AFTER MATCH SKIP PAST LAST EVENT",
        [(1, "a1", 0.0, 1), (2, "c", 0.0, 2), (3, "a2", 0.0, 3), (4, "b2", 0.0, 4)],
        [[3, 4]],
    ),
    PatternCase(
        "skip to first with an optional loop that took nothing",
        "Flink AfterMatchSkipITCase.testSkipToFirstWithOptionalMatch",
        "PATTERN (-> x*? b c) DEFINE x AS x.name LIKE '%x%', b AS b.name LIKE '%b%',"
        " c AS c.name LIKE '%c%' AFTER MATCH SKIP TO FIRST b",
        _AB_C_AB_C,
        [[1, 2], [3, 4]],
    ),
    PatternCase(
        "skip to first at the start position",
        "Flink AfterMatchSkipITCase.testSkipToFirstAtStartPosition",
        "PATTERN (b c) DEFINE b AS b.name LIKE '%b%', c AS c.name LIKE '%c%'"
        " AFTER MATCH SKIP TO FIRST b",
        _AB_C_AB_C,
        [[1, 2], [3, 4]],
    ),
    PatternCase(
        "skip to first of a strict one-or-more (ids made unique)",
        "Flink AfterMatchSkipITCase.testSkipToFirstWithOneOrMore",
        "PATTERN (a b+?) DEFINE a AS a.name LIKE '%a%', b AS b.name LIKE '%b%'"
        " AFTER MATCH SKIP TO FIRST b",
        _A_BPLUS,
        [[1, 2], [3, 4], [6, 7]],
    ),
    PatternCase(
        "skip to last of a strict one-or-more (ids made unique)",
        "Flink AfterMatchSkipITCase.testSkipToLastWithOneOrMore",
        "PATTERN (a b+?) DEFINE a AS a.name LIKE '%a%', b AS b.name LIKE '%b%'"
        " AFTER MATCH SKIP TO LAST b",
        _A_BPLUS,
        [[1, 2], [3, 4], [6, 7]],
    ),
    PatternCase(
        "skip to first of a variable that bound nothing",
        "Flink AfterMatchSkipITCase.testSkipToFirstNonExistentPositionWithoutException",
        "PATTERN (a b*? c) DEFINE a AS a.name LIKE '%a%', b AS b.name LIKE '%b%',"
        " c AS c.name LIKE '%c%' AFTER MATCH SKIP TO FIRST b",
        [(1, "a", 0.0, 1), (4, "c", 0.0, 2)],
        [[1, 4]],
    ),
    # Flink's test of this name runs skipToFirst("b") (a slip in the test); the case uses the
    # strategy the name says. Either way b binds nothing and the expected output is the same.
    PatternCase(
        "skip to last of a variable that bound nothing",
        "Flink AfterMatchSkipITCase.testSkipToLastNonExistentPositionWithoutException",
        "PATTERN (a b*? c) DEFINE a AS a.name LIKE '%a%', b AS b.name LIKE '%b%',"
        " c AS c.name LIKE '%c%' AFTER MATCH SKIP TO LAST b",
        [(1, "a", 0.0, 1), (4, "c", 0.0, 2)],
        [[1, 4]],
    ),
    PatternCase(
        "skip past last event with a greedy loop at the start",
        "Flink AfterMatchSkipITCase.testSkipPastLastWithOneOrMoreAtBeginning",
        "PATTERN (a+ b) " + _A_B_LIKE + " AFTER MATCH SKIP PAST LAST EVENT",
        _AAAB,
        [[1, 2, 3, 4]],
    ),
    PatternCase(
        "skip to last with a greedy loop at the start",
        "Flink AfterMatchSkipITCase.testSkipToLastWithOneOrMoreAtBeginning",
        "PATTERN (a+ b) " + _A_B_LIKE + " AFTER MATCH SKIP TO LAST a",
        _AAAB,
        [[1, 2, 3, 4], [3, 4]],
    ),
    PatternCase(
        "skip to first with a greedy loop at the start",
        "Flink AfterMatchSkipITCase.testSkipToFirstWithOneOrMoreAtBeginning",
        "PATTERN (a+ b) " + _A_B_LIKE + " AFTER MATCH SKIP TO FIRST a",
        _AAAB,
        [[1, 2, 3, 4], [2, 3, 4], [3, 4]],
    ),
    PatternCase(
        "no skip with a greedy loop at the start",
        "Flink AfterMatchSkipITCase.testNoSkipWithOneOrMoreAtBeginning",
        "PATTERN (a+ b) " + _A_B_LIKE + " AFTER MATCH NO SKIP",
        _AAAB,
        [[1, 2, 3, 4], [2, 3, 4], [3, 4]],
    ),
    PatternCase(
        "skip to first discards overlapping partial matches",
        "Flink AfterMatchSkipITCase.testSkipToFirstDiscarding",
        "PATTERN (ac -> bc -> c+ -> d) DEFINE ac AS ac.name LIKE '%a%' OR ac.name LIKE '%c%',"
        " bc AS bc.name LIKE '%b%' OR bc.name LIKE '%c%', c AS c.name LIKE '%c%',"
        " d AS d.name LIKE '%d%' AFTER MATCH SKIP TO FIRST c",
        [(1, "a", 0.0, 1), (2, "b", 0.0, 2), (3, "c1", 0.0, 3), (4, "c2", 0.0, 4),
         (5, "c3", 0.0, 5), (6, "d", 0.0, 6)],
        [[1, 2, 3, 4, 5, 6], [3, 4, 5, 6]],
    ),
    PatternCase(
        "skip to first before another match already completed",
        "Flink AfterMatchSkipITCase.testSkipBeforeOtherAlreadyCompleted",
        "PATTERN (a -> c -> b) DEFINE a AS a.name LIKE '%a%', c AS c.name LIKE '%c%',"
        " b AS b.name LIKE '%b%' AND b.price = a.price AFTER MATCH SKIP TO FIRST c",
        [(1, "a1", 0.0, 1), (2, "c1", 0.0, 2), (3, "a2", 1.0, 3), (4, "c2", 0.0, 4),
         (5, "b1", 1.0, 5), (6, "b2", 0.0, 6)],
        [[1, 2, 6], [3, 4, 5]],
    ),

]

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
        [(40, "start", 1.0, 1), (41, "foo1", 1.0, 2), (42, "foo2", 2.0, 3),
         (47, "start", 2.0, 4), (43, "foo3", 3.0, 5), (45, "foo4", 1.0, 5),
         (44, "next-one", 1.0, 6), (46, "end", 1.0, 8)],
        [[40, 41, 42, 45, 46], [40, 41, 42, 46], [40, 41, 46], [47, 43, 45, 46], [47, 43, 46]],
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

CASES: list[PatternCase] = [
    *CONTIGUITY,
    *RELUCTANT,
    *OPTIONAL,
    *TIMES,
    *WITHIN,
    *GREEDY,
    *UNTIL,
    *TIMES_RANGES,
    *NEGATION,
    *SKIP,
    *ITERATIVE,
    *GROUPS,
]

# ------------------------------------------------------------------ Flink tests not ported
#
# Not expressible because Flink's inner loop contiguity differs from the one frys derives from
# the operator before the loop (followedBy + consecutive()/allowCombinations(), next +
# default relaxed or allowCombinations(), followedByAny + default relaxed or consecutive()):
#   GreedyITCase: testGreedyZeroOrMoreConsecutiveEndWithOptional,
#     testEndWithZeroOrMoreConsecutiveGreedy
#   UntilConditionITCase: testUntilConditionFollowedByOneOrMoreCombinations,
#     testUntilConditionFollowedByOneOrMoreConsecutive,
#     testUntilConditionFollowedByOneOrMoreConsecutive2,
#     testUntilConditionFollowedByZeroOrMoreCombinations,
#     testUntilConditionFollowedByZeroOrMoreConsecutive,
#     testUntilConditionFollowedByAnyOneOrMore, testUntilConditionFollowedByAnyZeroOrMore
#   NFAITCase: testZeroOrMoreAfterZeroOrMore, testAtLeastOneEager, testTimes,
#     testTimesNonStrictWithNext, testOneOrMoreStrictOptional, testStrictOneOrMore,
#     testSkipTillAnyOneOrMore, testStrictEagerZeroOrMore, testSkipTillAnyZeroOrMore,
#     testTimesStrict, testMultipleTakesVersionCollision, testNFAResultOrdering
#   NotPatternITCase: testTimesWithNotFollowedBy, testTimesWithNotFollowedByAfter,
#     testNotNextAfterOneOrMoreSkipTillAny, testNotFollowedByAnyAfterOneOrMoreEager,
#     testNotFollowedByNextAfterOneOrMoreCombinations,
#     testNotFollowedByAnyBeforeOneOrMoreEager, testNotFollowedByBeforeOneOrMoreCombinations,
#     testNotFollowedByBeforeZeroOrMoreCombinationsSkipTillNext,
#     testNotFollowedByBeforeZeroOrMoreEagerSkipTillAny
#   AfterMatchSkipITCase: testNoSkipWithQuantifierAtTheEnd,
#     testSkipToNextWithQuantifierAtTheEnd, testSkipToFirst, testSkipToLast
#     (next(..).oneOrMore()/times(2) loop relaxed inside)
#   TimesRangeITCase: testTimesRange, testTimesRangeFromZero, testTimesRangeStrict,
#     testTimesRangeStrictOptional, testTimesRangeNonStrictWithNext
#   IterativeConditionsITCase: testIterativeWithBranchingPatternCombinations
#
# Not expressible because `times(n).optional()` / `times(n, m).optional()` with n > 1 means
# "zero or n..m" and frys has no such quantifier (times(1, m).optional() is `{0,m}`, ported):
#   NFAITCase: testTimesNonStrictOptional1/2/3, testTimesStrictOptional,
#     testTimesStrictOptional1, testOptionalTimesNonStrictWithNext
#   NotPatternITCase: testIgnoreStateOfTimesWithNotFollowedBy (also events out of timestamp
#     order), testNotFollowedByBeforeOptionalTimes
#   TimesRangeITCase: testTimesRangeNonStrictOptional2, testTimesRangeNonStrictOptional3
#   GroupITCase: testFollowedByGroupTimesOptional, testGroupFollowedByAnyTimesOptional
#
# Not conformance cases of match output (timed-out or pending partial matches, NFA state or
# shared-buffer internals, exceptions, key ordering of Java maps):
#   NFAITCase: testSimplePatternWithTimeoutHandlingWithinFirstAndLast,
#     testSimplePatternWithTimeoutHandlingWithinPreviousAndCurrent,
#     testPendingStateMatchesWithinFirstAndLast, testPendingStateMatchesWithinPreviousAndCurrent,
#     test*ClearingBuffer*, testSharedBufferClearing, testLoopClearing*
#   AfterMatchSkipITCase: testSkipToFirstElementOfMatch, testSkipToFirstNonExistentPosition,
#     testSkipToLastNonExistentPosition (exceptions), testSharedBufferIsProperlyCleared
#
# Not expressible for other reasons:
#   NFAITCase.testSimplePatternNFA: a SubEvent subtype condition on `volume`, which the ev
#     stream has no column for (the branching tests use it only to pick events a name
#     condition picks too, so they are ported).
#
# Not read yet (left for a follow-up): TimesOrMoreITCase, SameElementITCase and the rest of
# GroupITCase after testGroupFollowedByAnyTimesOptional.
