"""Window joins of two streams (operators/window_join.py, `WITHIN TUMBLE(..)` / `HOP(..)`):
a table of cases per join kind and window driven through the operator contract, with the
step at which each row comes out; a property against a naive reference (nested loops over
all rows, each in the windows of its own time) for random streams, disorder, late rows and
batch cuts; bounded state; whole jobs through frys.Pipeline and `frys run` (a window join
feeding a window downstream); explain, watermark lags, printing and refusals."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_interval_join import batch, cut, offset
from test_interval_join import run_steps as interval_run_steps
from test_interval_join_jobs import Collect, Named

import frys
from frys.dsl import compile_text
from frys.dsl.errors import NotSupportedYet
from frys.dsl.logical import build, plan_to_select
from frys.dsl.parser import parse
from frys.dsl.printer import statement_to_sql
from frys.engine.channel import Delivery
from frys.engine.graph import WindowJoinSpec
from frys.engine.job_stats import JobStats
from frys.engine.operator import BatchSource, Emitted, OperatorSettings
from frys.engine.planner import plan
from frys.engine.query_runner import QueryRunner
from frys.engine.time import END_OF_TIME
from frys.operators.registry import build_operator
from frys.operators.window_join import WINDOW_START, WindowJoin

T0 = 1_700_000_000_000  # a multiple of every window size below: window starts are offsets
STREAMS = """
CREATE STREAM l (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, late = late_l);
CREATE STREAM late_l;
CREATE STREAM r (k INT, w INT, ts TIMESTAMP) WITH (event_time = ts);
"""
SELECT = ("SELECT l.k AS k, l.v AS v, r.w AS w, l.ts AS lts, r.ts AS rts, "
          "window_start AS ws FROM l ")
END = ("wm", END_OF_TIME)


def spec_of(query: str, streams: str = STREAMS) -> WindowJoinSpec:
    (node,) = plan(compile_text(streams + query)).queries
    assert node.inputs == ("l", "r")
    assert isinstance(node.operator, WindowJoinSpec)
    return node.operator


def output_rows(emitted: Emitted) -> list[tuple]:
    """(k, v, w, lts, rts, window start) with times as offsets from T0."""
    return [(k, v, w, offset(lts), offset(rts), offset(ws))
            for frame in emitted.rows for k, v, w, lts, rts, ws in frame.iter_rows()]


def run_steps(operator, steps: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """test_interval_join's driver, reading the window start of each row too."""
    return interval_run_steps(operator, steps, output_rows)


def query(kind: str = "JOIN", window: str = "TUMBLE(10ms)", on: str = "l.k = r.k",
          where: str = "") -> str:
    return f"{SELECT}{kind} r ON {on} WITHIN {window}{where};"


HOP = "HOP(10ms, 5ms)"

# (name, query, steps, expected (step, row) pairs, late events counted)
CASES = [
    ("a pair comes out when its window fires, not before", query(),
     [("l", [(1, 1, 2)]), ("r", [(1, 5, 8), (1, 6, 12)]), ("wm", 9), ("wm", 10), END],
     [(3, (1, 1, 5, 2, 8, 0))], 0),
    ("rows of adjacent windows never pair, however close", query(),
     [("l", [(1, 1, 9)]), ("r", [(1, 2, 10)]), END], [], 0),
    ("a window's end is exclusive, its start inclusive", query(),
     [("l", [(1, 1, 10)]), ("r", [(1, 2, 19), (1, 3, 20)]), END],
     [(2, (1, 1, 2, 10, 19, 10))], 0),
    ("several pairs per key and window, keys apart", query(),
     [("l", [(1, 1, 0), (1, 2, 3), (2, 3, 4)]), ("r", [(1, 7, 5), (2, 8, 9), (3, 9, 1)]),
      END],
     [(2, (1, 1, 7, 0, 5, 0)), (2, (1, 2, 7, 3, 5, 0)), (2, (2, 3, 8, 4, 9, 0))], 0),
    ("rows of one side never pair with each other", query(),
     [("l", [(1, 1, 0), (1, 2, 1)]), END], [], 0),
    ("two equi-keys", query(on="l.k = r.k AND r.w = l.v"),
     [("l", [(1, 1, 0), (1, 2, 0)]), ("r", [(1, 2, 1), (2, 2, 1)]), END],
     [(2, (1, 2, 2, 0, 1, 0))], 0),
    ("NULL keys never match", query(),
     [("l", [(None, 1, 0), (1, 2, 0)]), ("r", [(None, 5, 1), (1, 6, 1)]), END],
     [(2, (1, 2, 6, 0, 1, 0))], 0),
    ("a residual condition", query(on="l.k = r.k AND r.w > l.v * 10"),
     [("l", [(1, 1, 0), (1, 2, 0)]), ("r", [(1, 15, 3)]), END],
     [(2, (1, 1, 15, 0, 3, 0))], 0),
    ("no equi-key: every pair of a window the residual keeps", query(on="r.w < l.v"),
     [("l", [(1, 10, 0), (2, 1, 0)]), ("r", [(3, 5, 5), (4, 0, 16)]), END],
     [(2, (1, 10, 5, 0, 5, 0))], 0),
    ("event-time comparisons in ON are residual, not an interval",
     query(on="l.k = r.k AND l.ts < r.ts"),
     [("l", [(1, 1, 5)]), ("r", [(1, 2, 4), (1, 3, 6)]), END],
     [(2, (1, 1, 3, 5, 6, 0))], 0),
    ("WHERE above the join filters its rows", query(where=" WHERE l.v + r.w > 10"),
     [("l", [(1, 1, 0), (1, 20, 0)]), ("r", [(1, 5, 1)]), END],
     [(2, (1, 20, 5, 0, 1, 0))], 0),
    ("WHERE and ON may read the window bounds",
     query(on="l.k = r.k AND window_end > r.ts", where=" WHERE window_start > l.ts"),
     [("l", [(1, 1, 0), (1, 2, 12)]), ("r", [(1, 3, 5), (1, 4, 16)]), END], [], 0),
    ("late rows are dropped and counted, not joined", query(),
     [("l", [(1, 1, 25)]), ("r", [(1, 2, 25)]), ("wm", 21),
      ("l", [(1, 3, 15), (1, 4, 21)]), ("r", [(1, 5, 19)]), END],
     [(5, (1, 1, 2, 25, 25, 20)), (5, (1, 4, 2, 21, 25, 20))], 2),
    ("a row of an open window is on time, behind the watermark or not", query(),
     [("l", [(1, 1, 25)]), ("wm", 28), ("r", [(1, 2, 21)]), END],
     [(3, (1, 1, 2, 25, 21, 20))], 0),
    ("each row judged under the watermark it arrived under", query(),
     [("r", [(1, 9, 7)]), ("l", [(1, 1, 5), (1, 2, 5)], [9, 10]), END],
     [(2, (1, 1, 9, 5, 7, 0))], 1),
    ("LEFT: an unmatched left row once, when its window fires", query("LEFT JOIN"),
     [("l", [(1, 1, 0), (2, 2, 0)]), ("r", [(1, 5, 4), (2, 6, 12)]), ("wm", 9), ("wm", 10),
      END],
     [(3, (1, 1, 5, 0, 4, 0)), (3, (2, 2, None, 0, None, 0))], 0),
    ("LEFT: a match in another window does not count", query("LEFT JOIN"),
     [("l", [(1, 1, 9)]), ("r", [(1, 2, 10)]), END],
     [(2, (1, 1, None, 9, None, 0))], 0),
    ("LEFT: a NULL key never matches, so comes out unmatched", query("LEFT JOIN"),
     [("l", [(None, 1, 0)]), ("r", [(None, 5, 0)]), ("wm", 20)],
     [(2, (None, 1, None, 0, None, 0))], 0),
    ("LEFT: the residual decides what matched", query("LEFT JOIN", on="l.k = r.k AND r.w > 1"),
     [("l", [(1, 1, 0)]), ("r", [(1, 1, 0)]), END],
     [(2, (1, 1, None, 0, None, 0))], 0),
    ("LEFT: WHERE applies to the unmatched row, NULLs included",
     query("LEFT JOIN", where=" WHERE r.w IS NULL OR r.w > 3"),
     [("l", [(1, 1, 0), (2, 2, 0)]), ("r", [(1, 2, 1)]), END],
     [(2, (2, 2, None, 0, None, 0))], 0),
    ("LEFT: a late left row is dropped, not emitted unmatched", query("LEFT JOIN"),
     [("r", [(9, 1, 20)]), ("l", [(9, 2, 20)]), ("wm", 15), ("l", [(1, 1, 3)]), END],
     [(4, (9, 2, 1, 20, 20, 20))], 1),
    ("RIGHT: an unmatched right row with NULLs for the left side", query("RIGHT JOIN"),
     [("l", [(1, 1, 4), (3, 3, 4)]), ("r", [(1, 5, 0), (2, 6, 0)]), END],
     [(2, (1, 1, 5, 4, 0, 0)), (2, (None, None, 6, None, 0, 0))], 0),
    ("RIGHT: WHERE over the left side filters joined rows, not the left input",
     query("RIGHT JOIN", where=" WHERE l.v > 1"),
     [("l", [(1, 1, 0)]), ("r", [(1, 5, 0), (2, 6, 0)]), END], [], 0),
    ("FULL: each side's unmatched rows once", query("FULL OUTER JOIN"),
     [("l", [(1, 1, 0), (2, 2, 0)]), ("r", [(1, 5, 3), (3, 7, 0)]), ("wm", 10), END],
     [(2, (1, 1, 5, 0, 3, 0)), (2, (2, 2, None, 0, None, 0)),
      (2, (None, None, 7, None, 0, 0))], 0),
    ("FULL with a residual: a row the residual rejects everywhere is unmatched",
     query("FULL OUTER JOIN", on="l.k = r.k AND r.w >= l.v"),
     [("l", [(1, 5, 0)]), ("r", [(1, 3, 1), (1, 7, 2)]), END],
     [(2, (1, 5, 7, 0, 2, 0)), (2, (None, None, 3, None, 1, 0))], 0),
    ("FULL: a late row of either side is dropped, not emitted unmatched",
     query("FULL OUTER JOIN"),
     [("l", [(1, 1, 50)]), ("r", [(1, 2, 50)]), ("wm", 45), ("l", [(2, 3, 39)]),
      ("r", [(3, 4, 38)]), END],
     [(5, (1, 1, 2, 50, 50, 50))], 2),
    ("HOP: a pair in the one window both rows are in", query(window=HOP),
     [("l", [(1, 1, 7)]), ("r", [(1, 2, 12)]), ("wm", 14), ("wm", 15), END],
     [(3, (1, 1, 2, 7, 12, 5))], 0),
    ("HOP: a pair sharing two windows comes out once per window, as each fires",
     query(window=HOP),
     [("l", [(1, 1, 6)]), ("r", [(1, 2, 8)]), ("wm", 10), ("wm", 15)],
     [(2, (1, 1, 2, 6, 8, 0)), (3, (1, 1, 2, 6, 8, 5))], 0),
    ("HOP LEFT: unmatched in one window, matched in the other", query("LEFT JOIN", HOP),
     [("l", [(1, 1, 6)]), ("r", [(1, 2, 11)]), END],
     [(2, (1, 1, 2, 6, 11, 5)), (2, (1, 1, None, 6, None, 0))], 0),
    ("HOP RIGHT with a residual: unmatched once per window",
     query("RIGHT JOIN", HOP, on="l.k = r.k AND l.v < r.w"),
     [("l", [(1, 5, 6)]), ("r", [(1, 2, 8)]), END],
     [(2, (None, None, 2, None, 8, 0)), (2, (None, None, 2, None, 8, 5))], 0),
    ("HOP: a row some of whose windows fired still joins in the others, not late",
     query(window=HOP),
     [("l", [(1, 1, 20)]), ("r", [(1, 2, 14)]), ("wm", 15), ("l", [(1, 3, 12), (1, 4, 4)]),
      END],
     [(4, (1, 3, 2, 12, 14, 10))], 1),
]


@pytest.mark.parametrize(("text", "steps", "expected", "late"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_window_join_cases(text: str, steps: list[tuple], expected: list[tuple],
                           late: int) -> None:
    operator = build_operator(spec_of(text), OperatorSettings())
    rows, _ = run_steps(operator, steps)
    assert rows == sorted(expected, key=repr)
    assert operator.counters().late_events == late
    if steps[-1] == END:
        assert operator.buffered_rows() == (0, 0)


def test_late_rows_go_to_their_inputs_late_stream_with_all_their_fields() -> None:
    operator = build_operator(spec_of(query()), OperatorSettings())
    _, late = run_steps(operator, [("l", [(1, 1, 25)]), ("r", [(1, 2, 25)]), ("wm", 21),
                                   ("l", [(1, 3, 15), (1, 4, 21), (1, 5, 19)])])
    assert late == [(15, 1, 3), (19, 1, 5)]
    emitted = operator.process(batch("r", [(1, 5, 10)]), BatchSource("r"))
    assert emitted.late == [] and operator.counters().late_events == 3  # r: counted only


LATENESS = """
CREATE STREAM l (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, lateness = 5ms);
CREATE STREAM r (k INT, w INT, ts TIMESTAMP) WITH (event_time = ts, lateness = 2ms);
"""


def test_windows_wait_for_the_larger_of_the_two_streams_lateness() -> None:
    spec = spec_of(query(), LATENESS)
    assert spec.lateness_ms == 5
    operator = build_operator(spec, OperatorSettings())
    # [0, 10) fires at 15, not 14; a row of r 4ms behind the watermark is still taken
    rows, _ = run_steps(operator, [("l", [(1, 1, 3)]), ("wm", 14), ("r", [(1, 2, 9)]),
                                   ("wm", 15), ("r", [(1, 3, 9)])])
    assert rows == [(3, (1, 1, 2, 3, 9, 0))]
    assert operator.counters().late_events == 1
    assert ("until the watermark passes the window end + 5 MILLISECONDS of lateness"
            in "\n".join(spec.describe()))


# ---------------------------------------------------------------------- the reference


def windows_of(time: int, size: int, slide: int) -> list[int]:
    """The starts of the windows holding `time`: multiples of `slide` in (time - size, time]."""
    first = (time - size) // slide * slide + slide
    return list(range(first, time + 1, slide))


def reference(lefts: list[tuple], rights: list[tuple], size: int, slide: int, kind: str,
              residual: bool) -> Counter:
    """Nested loops over every row: (k, value, time, judged watermark) per side -> the
    join's rows (times absolute). A row is in the windows of its time that were still open
    under the watermark it was judged under (end + 0 lateness > it)."""

    def open_windows(row: tuple) -> list[int]:
        return [s for s in windows_of(row[2], size, slide) if s + size > row[3]]

    rows: Counter = Counter()
    right_matched: set[tuple[int, int]] = set()
    for lk, lv, lts, judged in lefts:
        for start in open_windows((lk, lv, lts, judged)):
            matched = False
            for index, (rk, rw, rts, rjudged) in enumerate(rights):
                if (start in open_windows((rk, rw, rts, rjudged)) and lk is not None
                        and lk == rk and (not residual or rw >= lv)):
                    rows[(lk, lv, rw, lts, rts, start)] += 1
                    matched = True
                    right_matched.add((index, start))
            if kind in ("LEFT", "FULL") and not matched:
                rows[(lk, lv, None, lts, None, start)] += 1
    if kind in ("RIGHT", "FULL"):
        for index, (_, rw, rts, judged) in enumerate(rights):
            for start in open_windows((None, rw, rts, judged)):
                if (index, start) not in right_matched:
                    rows[(None, None, rw, None, rts, start)] += 1
    return rows


@st.composite
def disordered_streams(draw, delay: int, behind: int):
    """Rows of both streams in publication order: (side, k, value, time), each time up to
    `behind` before the newest so far (beyond the watermark delay: some rows are late)."""
    events, newest = [], 0
    for _ in range(draw(st.integers(0, 40))):
        ts = max(0, newest + draw(st.integers(0, 6)) - draw(st.integers(0, behind)))
        newest = max(newest, ts)
        events.append((draw(st.sampled_from("lr")), draw(st.sampled_from([0, 1, 2, None])),
                       draw(st.integers(0, 5)), ts))
    return events


def drive(operator, batches: list[tuple[str, list[tuple]]], delay: int
          ) -> tuple[Counter, dict[str, list[tuple]]]:
    """Each batch, then the combined watermark (the minimum of each side's max time -
    delay, once both sides have one). Returns the rows (times absolute) and, per side, its
    rows with the watermark each was judged under (the operator's before its batch)."""
    newest: dict[str, int] = {}
    watermark: int | None = None
    rows: Counter = Counter()
    judged: dict[str, list[tuple]] = {"l": [], "r": []}
    for side, events in batches:
        under = watermark if watermark is not None else -(2**62)
        judged[side] += [(k, v, T0 + ts, under) for _, k, v, ts in events]
        rows.update(absolute(operator.process(batch(side, [e[1:] for e in events]),
                                              BatchSource(side))))
        newest[side] = max(newest.get(side, 0), *(e[3] for e in events))
        if len(newest) == 2:
            candidate = T0 + min(newest.values()) - delay
            if watermark is None or candidate > watermark:
                watermark = candidate
                rows.update(absolute(operator.advance(watermark)))
    return rows, judged


def absolute(emitted: Emitted) -> list[tuple]:
    return [(k, v, w, None if lts is None else T0 + lts, None if rts is None else T0 + rts,
             T0 + ws) for k, v, w, lts, rts, ws in output_rows(emitted)]


@settings(max_examples=200, deadline=None)
@given(data=st.data(), delay=st.integers(0, 8), behind=st.integers(0, 14),
       size=st.integers(1, 12), slides=st.integers(1, 4),
       kind=st.sampled_from(["INNER", "LEFT", "RIGHT", "FULL"]), residual=st.booleans())
def test_random_streams_give_the_references_rows_whatever_the_cuts(
        data, delay: int, behind: int, size: int, slides: int, kind: str,
        residual: bool) -> None:
    slide = max(1, size // slides)  # HOP with 1 to 4 (or more, rounded) windows per row
    window = f"TUMBLE({size}ms)" if slide == size else f"HOP({size}ms, {slide}ms)"
    keyword = {"INNER": "JOIN", "LEFT": "LEFT JOIN", "RIGHT": "RIGHT JOIN",
               "FULL": "FULL OUTER JOIN"}[kind]
    spec = spec_of(query(keyword, window, "l.k = r.k" + (" AND r.w >= l.v" if residual
                                                          else "")))
    assert (spec.kind, spec.size_ms, spec.slide_ms) == (kind, size, slide)
    events = data.draw(disordered_streams(delay, behind))
    for _ in range(2):  # two different cuts of the same publication
        operator = build_operator(spec, OperatorSettings())
        rows, judged = drive(operator, cut(data.draw, events), delay)
        rows.update(absolute(operator.advance(END_OF_TIME)))
        assert rows == reference(judged["l"], judged["r"], size, slide, kind, residual)
        late = sum(1 for side in "lr" for _, _, ts, under in judged[side]
                   if not any(s + size > under for s in windows_of(ts, size, slide)))
        assert operator.counters().late_events == late
        assert operator.buffered_rows() == (0, 0)


def test_rows_within_the_watermark_are_never_late() -> None:
    """The disorder within the watermark delay costs nothing: every window still open."""
    spec = spec_of(query(window=HOP))
    operator = build_operator(spec, OperatorSettings())
    events = [("l" if i % 2 else "r", i % 3, i, 100 + (i * 7) % 5) for i in range(40)]
    rows, judged = drive(operator, [(e[0], [e]) for e in events], delay=5)
    rows.update(absolute(operator.advance(END_OF_TIME)))
    assert operator.counters().late_events == 0
    assert rows == reference(judged["l"], judged["r"], 10, 5, "INNER", False) and rows


def test_state_holds_the_open_windows_and_is_freed_as_they_fire() -> None:
    operator = build_operator(spec_of(query("FULL OUTER JOIN", "HOP(40ms, 20ms)")),
                              OperatorSettings())
    assert isinstance(operator, WindowJoin)
    sizes, buffered, emitted = [], [], 0
    for step in range(400):
        base = step * 10
        for side in ("l", "r"):
            events = [(key, key, base + key) for key in range(10)]
            emitted += len(output_rows(operator.process(batch(side, events),
                                                        BatchSource(side))))
        watermark = T0 + base
        emitted += len(output_rows(operator.advance(watermark)))
        for table in operator.snapshot().tables.values():
            # no window the watermark has reached the end of is still held
            assert table.height == 0 or table[WINDOW_START].min() + 40 > watermark
        sizes.append(operator.state_size())
        buffered.append(operator.buffered_rows())
    # each side holds the rows of its open windows: 40ms + the 10 of the newest batch, in
    # two windows each
    assert max(max(b) for b in buffered) <= 2 * 50
    assert max(sizes[100:]) <= max(sizes[:100]) * 1.1
    operator.advance(END_OF_TIME)
    assert operator.buffered_rows() == (0, 0) and emitted > 0


# ---------------------------------------------------------------------- whole jobs

T1 = 1_700_000_000_000  # as T0: window starts at multiples of 10ms
PERSONS = """
CREATE STREAM persons (id INT, name STRING, ts TIMESTAMP)
    WITH (event_time = ts, late = late_persons);
CREATE STREAM late_persons;
CREATE STREAM auctions (seller INT, price FLOAT, ts TIMESTAMP) WITH (event_time = ts);
"""


def at(ms: int) -> int:
    return T1 + ms


def test_a_job_joins_in_windows_under_the_combined_watermark() -> None:
    pipeline = frys.Pipeline.from_text(PERSONS + """
        SELECT p.id, p.name, a.price, window_start, window_end FROM persons p
        JOIN auctions a ON p.id = a.seller WITHIN TUMBLE(10ms);
        SELECT id, name FROM late_persons;""")
    pipeline.publish("persons", [{"id": 1, "name": "ann", "ts": at(1)},
                                 {"id": 2, "name": "bob", "ts": at(12)}])
    pipeline.publish("auctions", [{"seller": 1, "price": 5.0, "ts": at(9)}])
    # the watermark (the smaller of the two, 9) has not reached the window's end (10)
    assert pipeline.results("select_1").height == 0
    pipeline.publish("auctions", [{"seller": 2, "price": 7.0, "ts": at(15)}])
    assert [(i, n, p, offset(s), offset(e)) for i, n, p, s, e
            in pipeline.results("select_1").rows()] == [(1, "ann", 5.0, 0, 10)]
    pipeline.publish("persons", [{"id": 1, "name": "late", "ts": at(3)},  # [0, 10) fired
                                 {"id": 9, "name": "x", "ts": at(30)}])
    pipeline.finish()
    rows = [(i, n, p, offset(s)) for i, n, p, s, _ in pipeline.results("select_1").rows()]
    assert rows == [(1, "ann", 5.0, 0), (2, "bob", 7.0, 10)]
    assert pipeline.results("select_2").rows() == [(1, "late")]
    assert pipeline.stats.total_late_events == 1


@pytest.mark.parametrize(("time", "lag", "delay"), [
    ("window_end", 0, "0ms"), ("window_start", 10, "0ms"), ("p.ts", 10, "10ms"),
    ("a.ts", 10, "10ms")])
def test_a_window_downstream_of_a_window_join_misses_no_pair(time: str, lag: int,
                                                             delay: str) -> None:
    """The join's output watermark lags its inputs' by what it promises (window_end: the
    lateness; window_start or either side's time: size + lateness): a downstream window
    takes every pair, none late, whatever the disorder within the watermark. (A firing's
    rows come out ordered by window start; a side's time is unordered within a window, so
    the stream it stamps takes a watermark delay of the window size.)"""
    text = PERSONS.replace("event_time = ts", "event_time = ts, watermark = 5ms") + f"""
        CREATE STREAM sold (id INT, price FLOAT, ts TIMESTAMP)
            WITH (event_time = ts, watermark = {delay});
        INSERT INTO sold SELECT p.id, a.price, {time} AS ts FROM persons p
            JOIN auctions a ON p.id = a.seller WITHIN TUMBLE(10ms);
        SELECT window_start, COUNT(*) AS n, SUM(price) AS total FROM sold
            GROUP BY TUMBLE(20ms);"""
    join, _ = plan(compile_text(text)).queries
    assert join.watermark_lag_ms == lag
    pipeline = frys.Pipeline.from_text(text)
    persons, auctions = [], []
    for i in range(200):  # a person and an auction per ms, each up to 4ms out of order
        ts = i - (i * 7) % 5
        persons.append({"id": i % 13, "name": "n", "ts": at(ts)})
        auctions.append({"seller": (i * 5) % 13, "price": float(i), "ts": at(ts)})
    for start in range(0, 200, 7):
        pipeline.publish("persons", persons[start:start + 7])
        pipeline.publish("auctions", auctions[start:start + 7])
    pipeline.finish()
    assert pipeline.stats.total_late_events == 0
    # the reference: pairs of one 10ms window, then counted per 20ms window of `time`
    expected: Counter = Counter()
    totals: Counter = Counter()
    for p in persons:
        for a in auctions:
            pt, st_ = p["ts"] - T1, a["ts"] - T1
            if p["id"] == a["seller"] and pt // 10 == st_ // 10:
                start = pt // 10 * 10
                stamp = {"window_end": start + 10, "window_start": start, "p.ts": pt,
                         "a.ts": st_}[time]
                expected[stamp // 20 * 20] += 1
                totals[stamp // 20 * 20] += a["price"]
    got = {offset(s): (n, t) for s, n, t in pipeline.results("select_1").rows()}
    assert got == {w: (expected[w], totals[w]) for w in expected}


def test_frys_run_joins_two_files_in_windows(tmp_path: Path, capsys) -> None:
    from frys.cli import main

    (tmp_path / "persons.jsonl").write_text("".join(
        json.dumps({"id": i % 4, "name": f"p{i}", "ts": 1000 * i}) + "\n" for i in range(30)))
    (tmp_path / "auctions.jsonl").write_text("".join(
        json.dumps({"seller": i % 3, "price": float(i), "ts": 1000 * i + 500}) + "\n"
        for i in range(30)))
    job = tmp_path / "q8.frysql"
    job.write_text("""
CREATE STREAM persons (id INT, name STRING, ts TIMESTAMP)
    WITH (event_time = ts, source = 'file:persons.jsonl');
CREATE STREAM auctions (seller INT, price FLOAT, ts TIMESTAMP)
    WITH (event_time = ts, source = 'file:auctions.jsonl');
CREATE STREAM sellers (id INT, name STRING, ts TIMESTAMP) WITH (event_time = ts);
INSERT INTO sellers SELECT p.id, p.name, window_end AS ts FROM persons p
    JOIN auctions a ON p.id = a.seller WITHIN TUMBLE(10 SECONDS);
SELECT window_start, COUNT(*) AS n FROM sellers GROUP BY TUMBLE(10 SECONDS);
""")
    assert main(["run", str(job)]) == 0
    out, err = capsys.readouterr()
    assert "late" not in err
    rows = [json.loads(line) for line in out.splitlines()]
    expected: Counter = Counter()
    for i in range(30):
        for j in range(30):
            if i % 4 == j % 3 and i // 10 == (1000 * j + 500) // 10_000:
                expected[(i // 10 + 1) * 10] += 1  # window_end, in seconds
    assert {int(row["window_start"][17:19]) + 60 * int(row["window_start"][14:16]): row["n"]
            for row in rows} == dict(expected)


def test_a_self_window_join_through_the_query_runner() -> None:
    """One stream feeds both sides: each row meets itself and the rows of its windows;
    late rows are counted once."""
    text = STREAMS + ("SELECT a.k AS k, a.v AS v, b.v AS w, a.ts AS lts, b.ts AS rts, "
                      "window_start AS ws FROM l a JOIN l b ON a.k = b.k AND a.v < b.v "
                      "WITHIN HOP(10ms, 5ms);")
    (node,) = plan(compile_text(text)).queries
    assert node.inputs == ("l", "l")
    out = Collect(node.output_topic)
    runner = QueryRunner(node, out, JobStats())
    channel = Named("l")
    events = [(1, 1, 6), (1, 2, 8), (1, 3, 11), (2, 4, 11)]
    runner.on_delivery(channel, Delivery(batch("l", events)))
    runner.on_watermark(channel, T0 + 30)
    runner.on_delivery(channel, Delivery(batch("l", [(1, 9, 12)])))  # every window fired
    runner.on_end(channel)
    rows = sorted(output_rows(Emitted(rows=out.batches)))
    assert rows == [(1, 1, 2, 6, 8, 0), (1, 1, 2, 6, 8, 5), (1, 1, 3, 6, 11, 5),
                    (1, 2, 3, 8, 11, 5)]
    assert runner.operator.counters().late_events == 1


# ---------------------------------------------------------------------- plans and errors


@pytest.mark.parametrize(("select", "lag"), [
    ("SELECT p.id, window_end AS ts", 0),
    ("SELECT p.id, window_start AS ts", 10_000),
    ("SELECT p.id, p.ts", 10_000),
    ("SELECT p.id, a.ts", 10_000),
    ("SELECT p.id, p.ts {LEFT}", 10_000),
    ("SELECT p.id, a.ts {LEFT}", None),  # NULL in a LEFT join's unmatched rows
    ("SELECT p.id, a.ts {RIGHT}", 10_000),
    ("SELECT p.id, p.ts {FULL}", None),
    ("SELECT p.id, window_end AS ts {FULL}", 0),  # every row has its window
    ("SELECT p.id, window_end AS ts {HOP}", 0),
    ("SELECT p.id, p.ts {HOP}", 30_000),
    ("SELECT p.id, window_end AS ts {LATE}", 4_000),
    ("SELECT p.id, window_start AS ts {LATE}", 14_000),
])
def test_a_window_joins_output_watermark_lag(select: str, lag: int | None) -> None:
    streams = PERSONS.replace("WITH (event_time = ts)",
                              "WITH (event_time = ts, lateness = 4 SECONDS)" if "{LATE}"
                              in select else "WITH (event_time = ts)")
    kind = ("LEFT JOIN" if "{LEFT}" in select else "RIGHT JOIN" if "{RIGHT}" in select
            else "FULL JOIN" if "{FULL}" in select else "JOIN")
    window = "HOP(30 SECONDS, 10 SECONDS)" if "{HOP}" in select else "TUMBLE(10 SECONDS)"
    columns = re.sub(r" \{\w+\}", "", select)
    text = (streams + "CREATE STREAM out (id INT, ts TIMESTAMP) WITH (event_time = ts);\n"
            f"INSERT INTO out {columns} FROM persons p {kind} auctions a "
            f"ON p.id = a.seller WITHIN {window};")
    (node,) = plan(compile_text(text)).queries
    assert node.watermark_lag_ms == lag


def test_explain_shows_the_join_its_keys_window_and_state() -> None:
    text = frys.explain(PERSONS + """
        SELECT p.id, a.price, window_start FROM persons p LEFT JOIN auctions a
        ON p.id = a.seller AND a.price > 1 WITHIN HOP(10 SECONDS, 5 SECONDS)
        WHERE p.name <> 'x';""")
    assert "query 1: topic persons + topic auctions -> caller (stdout)" in text
    assert ("-> left window join on p.id = a.seller in the same hopping window 10 SECONDS "
            "every 5 SECONDS (each row by its stream's event time)") in text
    assert "-> left: persons p on ts where p.name <> 'x', buffers id, name, ts" in text
    assert "-> right: auctions a on ts, buffers seller, price, ts" in text
    assert "-> residual a.price > 1" in text
    assert ("-> state: each side's rows in each of its 2 windows until the watermark passes "
            "the window end, then joined and freed; unmatched left rows with NULLs once per "
            "window, when it fires") in text
    assert "-> late events of persons -> topic late_persons" in text
    assert "-> project p.id AS id, a.price AS price, window_start" in text
    logical = frys.explain(PERSONS + "SELECT p.id FROM persons p JOIN auctions a "
                           "ON p.id = a.seller WITHIN TUMBLE(10s);", stage="optimized")
    assert "JOIN ON p.id = a.seller WITHIN TUMBLE(10 SECONDS)" in logical


def test_only_the_columns_the_query_reads_are_buffered() -> None:
    spec = spec_of("SELECT l.v, window_end FROM l JOIN r ON l.k = r.k WITHIN TUMBLE(1s);")
    assert list(spec.left.columns) == ["k", "v", "ts"]
    assert list(spec.right.columns) == ["k", "ts"]


@pytest.mark.parametrize("text", [
    "SELECT p.id FROM persons p JOIN auctions a ON p.id = a.seller WITHIN TUMBLE(10 SECONDS)",
    "SELECT p.id, window_start FROM persons AS p LEFT JOIN auctions AS a ON p.id = a.seller "
    "AND a.price > 2 WITHIN HOP(1 MINUTE, 10 SECONDS) WHERE window_end > p.ts",
    "SELECT * FROM persons AS p FULL OUTER JOIN auctions AS a ON p.id = a.seller "
    "WITHIN TUMBLE(1 HOUR)",
])
def test_printing_and_plan_to_select_round_trip(text: str) -> None:
    (statement,) = parse(text).statements
    printed = statement_to_sql(statement)
    assert statement_to_sql(parse(printed).statements[0]) == printed
    if not text.startswith("SELECT *"):  # (two columns ts: refused, printing is not)
        job = compile_text(PERSONS + text)
        assert statement_to_sql(plan_to_select(build(job.queries[0]))) == printed


@pytest.mark.parametrize(("text", "message"), [
    ("SELECT p.id FROM persons p JOIN auctions a ON p.id = a.seller WITHIN TUMBLE(10s) "
     "EMIT CHANGES", "EMIT CHANGES does not apply to a join: a join's rows are final"),
    ("SELECT p.id FROM persons p JOIN auctions a ON p.id = a.seller WITHIN SESSION(10s)",
     "a window join is WITHIN TUMBLE(size) or WITHIN HOP(size, slide), not SESSION"),
    ("SELECT p.id FROM persons p JOIN auctions a ON p.id = a.seller WITHIN COUNT(p.id)",
     "a window join is WITHIN TUMBLE(size) or WITHIN HOP(size, slide), not COUNT"),
    ("SELECT p.id FROM persons p JOIN auctions a ON p.id = a.seller WITHIN HOP(1s, 2s)",
     "HOP(size, slide) needs 0 < slide <= size"),
    ("SELECT p.id FROM persons p JOIN auctions a ON p.id = a.seller WITHIN TUMBLE(p.id)",
     "TUMBLE takes one positive interval"),
    ("CREATE STREAM n (k INT, ts TIMESTAMP);\n"
     "SELECT p.id FROM persons p JOIN n ON p.id = n.k WITHIN TUMBLE(1s)",
     "stream n has no event_time, so it cannot be joined in event-time windows"),
    ("CREATE TABLE users (id INT PRIMARY KEY, tier STRING);\n"
     "SELECT p.id FROM persons p JOIN users u ON p.id = u.id WITHIN TUMBLE(1s)",
     "WITHIN does not apply to a join with table users"),
    ("SELECT window_start FROM persons p JOIN auctions a ON p.id = a.seller WITHIN 1s",
     "window_start"),
])
def test_window_joins_the_runtime_cannot_run_are_refused(text: str, message: str) -> None:
    with pytest.raises((NotSupportedYet, frys.FrysError), match=re.escape(message)):
        compile_text(PERSONS + text)


def test_restore_refuses_another_operators_state() -> None:
    from frys.engine.operator import OperatorState

    operator = build_operator(spec_of(query()), OperatorSettings())
    with pytest.raises(ValueError, match="cannot restore a interval_join state"):
        operator.restore(OperatorState("interval_join", 2))


def test_the_docs_window_join_example_runs() -> None:
    section = (Path(__file__).resolve().parent.parent / "docs" / "language.md").read_text()
    example = next(e for e in re.findall(r"```frysql\n(.*?)```", section, flags=re.S)
                   if "WITHIN TUMBLE" in e)
    pipeline = frys.Pipeline.from_text(example)
    second = 1000
    pipeline.publish("persons", [{"id": 1, "name": "ann", "ts": at(2 * second)},
                                 {"id": 2, "name": "bob", "ts": at(8 * second)}])
    pipeline.publish("auctions", [{"seller": 1, "item": "lamp", "ts": at(7 * second)},
                                  {"seller": 2, "item": "desk", "ts": at(12 * second)}])
    pipeline.finish()
    assert pipeline.stats.total_late_events == 0
    # ann and her lamp share [0, 10s); bob's desk is in the next window
    assert [row[:3] for row in pipeline.results("select_1").rows()] == [(1, "ann", "lamp")]
    # HOP(10s, 5s): ann's windows start at -5s and 0; the lamp's at 0 and 5s; bob (8s) and
    # the desk (12s) share [5s, 15s)
    rows = sorted(((i, item, offset(start) // second)
                   for i, item, start in pipeline.results("select_2").rows()), key=repr)
    assert rows == sorted([(1, None, -5), (1, "lamp", 0), (2, None, 0), (2, "desk", 5)], key=repr)
