"""Conformance cases from Flink CEP's tests of timed-out partial matches: WITHIN drops a partial
match that can no longer complete, and frys sends it to the stream EMIT TIMEOUTS TO names (the
translation rules are in __init__.py and cep.py).

Sources: NFAITCase as stored at apache/flink e9529d4d and CEPITCase (the newest stored
versions; both from just before Flink 2.0, `Time.milliseconds`).

The PREVIOUS_AND_CURRENT variants of these tests are not ported: Flink's `within(t,
PREVIOUS_AND_CURRENT)` written after the last element bounds only the gap into that element,
and frys's `WITHIN t BETWEEN EVENTS` bounds every gap (see __init__.py).
"""

from __future__ import annotations

from pattern_cases.case import TimeoutCase

# NFAITCase.testSimplePatternWithTimeoutHandling*
_TIME_WINDOW = [(1, "start", 1.0, 1), (2, "start", 1.0, 2), (3, "middle", 1.0, 3),
                (4, "foobar", 1.0, 4), (5, "end", 1.0, 11), (6, "end", 1.0, 13)]
_SME = "DEFINE s AS s.name = 'start', m AS m.name = 'middle', fin AS fin.name = 'end'"

# CEPITCase.testTimeoutHandling*: all four events had id 1 (start 1.0, middle 2.0, start 2.0,
# end 2.0), arriving as start 1.0@1, middle@5, start 2.0@4, end@6 with the watermark 5 behind;
# none is late. Flink's results are the prices of each match's events and of each timed-out
# partial match's start: start 1.0 is id 1, start 2.0 id 3.
_CEP_TIMEOUT = [(1, "start", 1.0, 1), (3, "start", 2.0, 4), (2, "middle", 2.0, 5),
                (4, "end", 2.0, 6)]


TIMEOUTS: list[TimeoutCase] = [
    # Flink asserts one match and these timed-out partial matches (at 11, 12, 11, 12).
    TimeoutCase(
        "timed-out partial matches, within between first and last",
        "Flink NFAITCase.testSimplePatternWithTimeoutHandlingWithinFirstAndLast",
        "PATTERN (s ->> m ->> fin) WITHIN 10ms " + _SME + " AFTER MATCH NO SKIP",
        _TIME_WINDOW,
        [[2, 3, 5]],
        [[1, 3], [2, 3], [1], [2]],
        count_only=True,
    ),
    TimeoutCase(
        "a job's timed-out partial matches, within between first and last (ids made unique)",
        "Flink CEPITCase.testTimeoutHandlingWithinFirstAndLast",
        "PATTERN (s ->> m ->> fin) WITHIN 3ms " + _SME + " AFTER MATCH NO SKIP",
        _CEP_TIMEOUT,
        [[3, 2, 4]],
        [[1], [3], [3]],
        timeout_variables=("s",),
        until_end_of_input=True,
    ),
]
