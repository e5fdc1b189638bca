"""Conformance cases from Flink CEP's end-to-end CEPITCase (flink-cep/src/test/java/org/apache/
flink/cep/CEPITCase.java): whole jobs, keyed streams, event time, processing time (the
translation rules are in __init__.py; the tests that check timed-out partial matches are in
timeouts.py).

Source: the newest stored version in apache/flink (the one with `WithinType` and
`OpenContext`, still `Time.milliseconds`, i.e. from just before Flink 2.0).

How the jobs are translated:

* `keyBy(Event::getId)` is `PARTITION BY id`.
* A processing-time job (`inProcessingTime()`) sees its events in arrival order; here they get
  increasing timestamps in that order.
* An event-time job buffers events until the watermark passes them and feeds them to the NFA in
  timestamp order (equal timestamps in arrival order, or in the order of the job's
  `EventComparator`); no event of these tests arrives behind the watermark (none is late). Here
  they are published in that order, which is the order frys matches them in.
* Flink's results name each variable's first event (`get(0)`); where a variable takes several
  events the case lists the whole match and says so.
* Tuple2 and Integer inputs become events: Tuple2(f0, f1) is Event(id = f1, name, price = f0)
  (with f1 a string: Event(id = f0, name = f1)), an Integer n is Event(n, "n", n).
"""

from __future__ import annotations

from pattern_cases.case import PatternCase

_SME = ("DEFINE s AS s.name = 'start', m AS m.name = 'middle', fin AS fin.name = 'end'"
        " AFTER MATCH NO SKIP")

# testSimpleKeyedPatternCEP / testRichPatternSelectFunction, in arrival order (processing time).
# Flink's "middle" condition is a SubEvent subtype condition; in each key the only "middle"
# events that follow a "start" are SubEvents (Event(5, "middle") is alone in key 5), so the name
# picks the same events.
_KEYED = [(1, "barfoo", 1.0), (2, "start", 2.0), (3, "start", 2.1), (3, "foobar", 3.0),
          (4, "foo", 4.0), (3, "middle", 3.2), (42, "start", 3.1), (42, "middle", 3.3),
          (5, "middle", 5.0), (2, "middle", 6.0), (7, "bar", 3.0), (42, "42", 42.0),
          (3, "end", 2.0), (2, "end", 1.0), (42, "end", 42.0)]
_KEYED_EVENTS = [(i, n, p, t) for t, (i, n, p) in enumerate(_KEYED, start=1)]


CEP: list[PatternCase] = [
    PatternCase(
        "keyed any-relaxed steps, processing time",
        "Flink CEPITCase.testSimpleKeyedPatternCEP",
        "PARTITION BY id PATTERN (s ->> m ->> fin) " + _SME,
        _KEYED_EVENTS,
        [[2, 2, 2], [3, 3, 3], [42, 42, 42]],
    ),
    PatternCase(
        "keyed any-relaxed steps, a rich select function",
        "Flink CEPITCase.testRichPatternSelectFunction",
        "PARTITION BY id PATTERN (s ->> m ->> fin) " + _SME,
        _KEYED_EVENTS,
        [[2, 2, 2], [3, 3, 3], [42, 42, 42]],
    ),
    # Flink's arrival order: start 1@5, middle 2@1, end 3@3, end 4@10, middle 5@7, middle 5@100,
    # with the watermark 5 behind each event.
    PatternCase(
        "any-relaxed steps in event time, out-of-order arrival",
        "Flink CEPITCase.testSimplePatternEventTime",
        "PATTERN (s ->> m ->> fin) " + _SME,
        [(2, "middle", 2.0, 1), (3, "end", 3.0, 3), (1, "start", 1.0, 5), (5, "middle", 5.0, 7),
         (4, "end", 4.0, 10), (5, "middle", 5.0, 100)],
        [[1, 5, 4]],
    ),
    # Flink's arrival order: (1 start)@5, (1 middle)@1, (2 middle)@4, (2 start)@3, (1 end)@3,
    # (3 start)@5, (1 end)@10, (2 end)@8, (1 middle)@7, (3 middle)@9, (3 end)@7.
    PatternCase(
        "keyed any-relaxed steps in event time, out-of-order arrival",
        "Flink CEPITCase.testSimpleKeyedPatternEventTime",
        "PARTITION BY id PATTERN (s ->> m ->> fin) " + _SME,
        [(1, "middle", 2.0, 1), (2, "start", 2.0, 3), (1, "end", 3.0, 3), (2, "middle", 2.0, 4),
         (1, "start", 1.0, 5), (3, "start", 4.1, 5), (1, "middle", 5.0, 7), (3, "end", 7.0, 7),
         (2, "end", 2.0, 8), (3, "middle", 6.0, 9), (1, "end", 4.0, 10)],
        [[1, 1, 1], [2, 2, 2]],
    ),
    # Tuple2(0, 1) and Tuple2(0, 2); the condition is f1 == 1.
    PatternCase(
        "a pattern of one variable",
        "Flink CEPITCase.testSimplePatternWithSingleState",
        "PATTERN (s) DEFINE s AS s.id = 1 AFTER MATCH NO SKIP",
        [(1, "t", 0.0, 1), (2, "t", 0.0, 2)],
        [[1]],
    ),
    # Integers 1 and 2, processing time; Flink's result is the sum of the match's two events.
    PatternCase(
        "within between first and last, processing time",
        "Flink CEPITCase.testProcessingTimeWithinBetweenFirstAndLast",
        "PATTERN (s ->> fin) WITHIN 1 DAY AFTER MATCH NO SKIP",
        [(1, "1", 1.0, 1), (2, "2", 2.0, 2)],
        [[1, 2]],
    ),
    PatternCase(
        "within between consecutive events, processing time",
        "Flink CEPITCase.testProcessingTimeWithinPreviousAndCurrent",
        "PATTERN (s ->> fin) WITHIN 1 DAY BETWEEN EVENTS AFTER MATCH NO SKIP",
        [(1, "1", 1.0, 1), (2, "2", 2.0, 2)],
        [[1, 2]],
    ),
    PatternCase(
        "an OR condition, processing time",
        "Flink CEPITCase.testSimpleOrFilterPatternCEP",
        "PATTERN (s ->> m ->> fin) DEFINE s AS s.name = 'start',"
        " m AS m.price = 2.0 OR m.price = 5.0, fin AS fin.name = 'end' AFTER MATCH NO SKIP",
        [(1, "start", 1.0, 1), (2, "middle", 2.0, 2), (3, "end", 3.0, 3), (4, "start", 4.0, 4),
         (5, "middle", 5.0, 5), (6, "end", 6.0, 6)],
        [[1, 5, 6], [1, 2, 3], [4, 5, 6], [1, 2, 6]],
    ),
    # Flink's EventComparator orders events with equal timestamps by price: middle 6 (5.0)
    # before middle 5 (6.0) at 7. frys has no comparator; the events are published in the
    # comparator's order, which frys keeps for equal timestamps.
    PatternCase(
        "event time with a comparator for equal timestamps",
        "Flink CEPITCase.testSimplePatternEventTimeWithComparator",
        "PATTERN (s ->> m ->> fin) " + _SME,
        [(2, "middle", 2.0, 1), (3, "end", 3.0, 3), (1, "start", 1.0, 5), (6, "middle", 5.0, 7),
         (5, "middle", 6.0, 7), (4, "end", 4.0, 10), (7, "middle", 5.0, 100)],
        [[1, 6, 4], [1, 5, 4]],
    ),
    # Tuple2(1, "a") .. Tuple2(4, "a"); Flink's result is each match's first event (1 and 3).
    PatternCase(
        "skip past last event with {2} at the start (whole matches listed)",
        "Flink CEPITCase.testSimpleAfterMatchSkip",
        "PATTERN (s{2} RELAXED) DEFINE s AS s.name = 'a' AFTER MATCH SKIP PAST LAST EVENT",
        [(1, "a", 0.0, 1), (2, "a", 0.0, 2), (3, "a", 0.0, 3), (4, "a", 0.0, 4)],
        [[1, 2], [3, 4]],
    ),
    # Flink's "middle" condition counts the events of "start" (the loop) taken so far: more than
    # two, a "middle" event; otherwise an "end" event. Its result is start's first event and
    # middle's (3, 5); the match is 3 4 5, emitted once the partial matches that started at 1
    # and 2 have timed out.
    PatternCase(
        "a greedy loop's completed match waits for earlier partial matches to time out",
        "Flink CEPITCase.testPartialMatchTimeoutOutputCompletedMatch",
        "PATTERN (s+ -> m) WITHIN 100ms DEFINE s AS s.name = 'start',"
        " m AS (COUNT(s) > 2 AND m.name = 'middle') OR (COUNT(s) <= 2 AND m.name = 'end')"
        " AFTER MATCH SKIP PAST LAST EVENT",
        [(1, "start", 1.0, 0), (2, "start", 2.0, 1), (3, "start", 3.0, 2), (4, "start", 4.0, 3),
         (5, "end", 5.0, 4)],
        [[3, 4, 5]],
    ),
]
