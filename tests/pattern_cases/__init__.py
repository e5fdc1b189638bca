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

from pattern_cases.case import PatternCase
from pattern_cases.conditions import ITERATIVE
from pattern_cases.contiguity import CONTIGUITY
from pattern_cases.greedy import GREEDY
from pattern_cases.groups import GROUPS
from pattern_cases.negation import NEGATION
from pattern_cases.quantifiers import OPTIONAL, RELUCTANT, TIMES, TIMES_RANGES, UNTIL
from pattern_cases.skip import SKIP
from pattern_cases.within import WITHIN

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

__all__ = ["CASES", "CONTIGUITY", "GREEDY", "GROUPS", "ITERATIVE", "NEGATION", "OPTIONAL",
           "RELUCTANT", "SKIP", "TIMES", "TIMES_RANGES", "UNTIL", "WITHIN", "PatternCase"]

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
