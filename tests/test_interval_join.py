"""Interval joins of two streams, the operator (operators/interval_join.py): a table of cases
driven through the operator contract, with the step at which each row comes out; a property
against a naive reference (nested loops over all events) for random inputs, disorder within
the watermark and batch cuts; bounded state. Whole jobs, planning and self-joins:
tests/test_interval_join_jobs.py. The helpers here serve the other join tests too."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frys.dsl import compile_text
from frys.dsl.types import TIMESTAMP_DTYPE
from frys.engine.graph import IntervalJoinSpec
from frys.engine.operator import BatchSource, Emitted, OperatorSettings
from frys.engine.planner import plan
from frys.engine.time import END_OF_TIME
from frys.operators.interval_join import IntervalJoin
from frys.operators.registry import build_operator

T0 = 1_700_000_000_000
STREAMS = """
CREATE STREAM l (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, late = late_l);
CREATE STREAM late_l;
CREATE STREAM r (k INT, w INT, ts TIMESTAMP) WITH (event_time = ts);
"""
SELECT = "SELECT l.k AS k, l.v AS v, r.w AS w, l.ts AS lts, r.ts AS rts FROM l "


def spec_of(query: str) -> IntervalJoinSpec:
    (node,) = plan(compile_text(STREAMS + query)).queries
    assert node.inputs == ("l", "r")
    assert isinstance(node.operator, IntervalJoinSpec)
    return node.operator


def batch(side: str, events: list[tuple]) -> pl.DataFrame:
    other = "v" if side == "l" else "w"
    return pl.DataFrame(
        {"k": [e[0] for e in events], other: [e[1] for e in events],
         "ts": [T0 + e[2] for e in events]},
        schema={"k": pl.Int64, other: pl.Int64, "ts": pl.Int64},
    ).with_columns(pl.col("ts").cast(TIMESTAMP_DTYPE))


def offset(value) -> int | None:
    return None if value is None else int(value.timestamp() * 1000) - T0


def output_rows(emitted: Emitted) -> list[tuple]:
    """(k, v, w, lts, rts) with times as offsets from T0."""
    return [(k, v, w, offset(lts), offset(rts))
            for frame in emitted.rows for k, v, w, lts, rts in frame.iter_rows()]


def run_steps(operator, steps: list[tuple], rows: Callable[[Emitted], list[tuple]] = output_rows
              ) -> tuple[list[tuple], list[tuple]]:
    """Steps: ('l' | 'r', events[, arrivals]) or ('wm', watermark offset or END_OF_TIME).
    Returns (step, row) for every output row (as `rows` reads them) and the late rows
    handed out."""
    out: list[tuple] = []
    late: list[tuple] = []
    for index, step in enumerate(steps):
        if step[0] == "wm":
            emitted = operator.advance(step[1] if step[1] == END_OF_TIME else T0 + step[1])
        else:
            arrivals = None
            if len(step) > 2:
                arrivals = pl.Series([T0 + a for a in step[2]], dtype=pl.Int64)
            emitted = operator.process(batch(step[0], step[1]),
                                       BatchSource(step[0], arrivals))
        out += [(index, row) for row in rows(emitted)]
        late += [(offset(ts), k, v) for frame in emitted.late
                 for k, v, ts in frame.select("k", "v", "ts").iter_rows()]
    return sorted(out, key=repr), late


JOIN = SELECT + "JOIN r ON l.k = r.k WITHIN 10ms;"
LEFT = SELECT + "LEFT JOIN r ON l.k = r.k WITHIN 10ms;"
RIGHT = SELECT + "RIGHT JOIN r ON l.k = r.k WITHIN 10ms;"
FULL = SELECT + "FULL OUTER JOIN r ON l.k = r.k WITHIN 10ms;"
# the right row at most 10ms before the left one, never after (Flink's spelling)
BEFORE = SELECT + "JOIN r ON l.k = r.k AND l.ts BETWEEN r.ts AND r.ts + 10ms;"
END = ("wm", END_OF_TIME)

# (name, query, steps, expected (step, row) pairs, late events counted)
CASES = [
    ("in order", JOIN,
     [("l", [(1, 1, 0)]), ("r", [(1, 100, 10), (1, 101, 11)]), END],
     [(1, (1, 1, 100, 0, 10))], 0),
    ("right before left, within the watermark", JOIN,
     [("r", [(1, 100, 20)]), ("wm", 5), ("l", [(1, 1, 12), (1, 2, 30)]), END],
     [(2, (1, 1, 100, 12, 20)), (2, (1, 2, 100, 30, 20))], 0),
    ("bounds are inclusive on both sides", JOIN,
     [("l", [(1, 1, 10)]), ("r", [(1, 1, -1), (1, 2, 0), (1, 3, 20), (1, 4, 21)]), END],
     [(1, (1, 1, 2, 10, 0)), (1, (1, 1, 3, 10, 20))], 0),
    ("rows of one batch and side never pair with each other", JOIN,
     [("l", [(1, 1, 0), (1, 2, 0)]), ("r", [(1, 7, 5)]), END],
     [(1, (1, 1, 7, 0, 5)), (1, (1, 2, 7, 0, 5))], 0),
    ("several pairs per key, keys apart", JOIN,
     [("l", [(1, 1, 0), (2, 2, 0), (3, 3, 0)]), ("r", [(1, 5, 1), (1, 6, 2), (2, 7, 3)]), END],
     [(1, (1, 1, 5, 0, 1)), (1, (1, 1, 6, 0, 2)), (1, (2, 2, 7, 0, 3))], 0),
    ("two equi-keys", SELECT + "JOIN r ON l.k = r.k AND r.w = l.v WITHIN 10ms;",
     [("l", [(1, 1, 0), (1, 2, 0)]), ("r", [(1, 2, 1), (2, 2, 1)]), END],
     [(1, (1, 2, 2, 0, 1))], 0),
    ("a residual condition", SELECT + "JOIN r ON l.k = r.k AND r.w > l.v * 10 WITHIN 10ms;",
     [("l", [(1, 1, 0), (1, 2, 0)]), ("r", [(1, 15, 3)]), END],
     [(1, (1, 1, 15, 0, 3))], 0),
    ("no equi-key: every pair within the interval", SELECT + "JOIN r ON r.w < l.v WITHIN 5ms;",
     [("l", [(1, 10, 0), (2, 1, 0)]), ("r", [(3, 5, 5), (4, 0, 6)]), END],
     [(1, (1, 10, 5, 0, 5))], 0),
    ("NULL keys never match", JOIN,
     [("l", [(None, 1, 0), (1, 2, 0)]), ("r", [(None, 5, 1), (1, 6, 1)]), END],
     [(1, (1, 2, 6, 0, 1))], 0),
    ("late rows are dropped and counted, not joined", JOIN,
     [("l", [(1, 1, 50)]), ("r", [(1, 2, 50)]), ("wm", 45),
      ("l", [(1, 3, 40), (1, 4, 46)]), ("r", [(1, 5, 44)]), END],
     [(1, (1, 1, 2, 50, 50)), (3, (1, 4, 2, 46, 50))], 2),
    ("each row judged under the watermark it arrived under", JOIN,
     [("r", [(1, 9, 30)]), ("l", [(1, 1, 25), (1, 2, 25)], [20, 26]), END],
     [(1, (1, 1, 9, 25, 30))], 1),
    ("WHERE above a join filters its rows", SELECT + "JOIN r ON l.k = r.k WITHIN 10ms "
     "WHERE l.v + r.w > 10;",
     [("l", [(1, 1, 0), (1, 20, 0)]), ("r", [(1, 5, 1)]), END],
     [(1, (1, 20, 5, 0, 1))], 0),
    ("LEFT: an unmatched row once the watermark passes time + t, not at it", LEFT,
     [("l", [(1, 1, 0), (2, 2, 0)]), ("r", [(1, 5, 4)]), ("wm", 10), ("wm", 11), ("wm", 30),
      END],
     [(1, (1, 1, 5, 0, 4)), (3, (2, 2, None, 0, None))], 0),
    ("LEFT: a row matched after arriving is never emitted unmatched", LEFT,
     [("l", [(1, 1, 0)]), ("wm", 5), ("r", [(1, 5, 10)]), END],
     [(2, (1, 1, 5, 0, 10))], 0),
    ("LEFT: a NULL key never matches, so comes out unmatched", LEFT,
     [("l", [(None, 1, 0)]), ("r", [(None, 5, 0)]), ("wm", 20)],
     [(2, (None, 1, None, 0, None))], 0),
    ("LEFT: the residual decides what matched", SELECT + "LEFT JOIN r ON l.k = r.k AND r.w > 1 "
     "WITHIN 10ms;",
     [("l", [(1, 1, 0)]), ("r", [(1, 1, 0)]), END],
     [(2, (1, 1, None, 0, None))], 0),
    ("LEFT: WHERE applies to the unmatched row, NULLs included",
     SELECT + "LEFT JOIN r ON l.k = r.k WITHIN 10ms WHERE r.w IS NULL OR r.w > 3;",
     [("l", [(1, 1, 0), (2, 2, 0)]), ("r", [(1, 2, 1)]), END],
     [(2, (2, 2, None, 0, None))], 0),
    ("LEFT: a late left row is dropped, not emitted unmatched", LEFT,
     [("r", [(9, 1, 100)]), ("l", [(9, 2, 100)]), ("wm", 50), ("l", [(1, 1, 10)]), END],
     [(1, (9, 2, 1, 100, 100))], 1),
    ("RIGHT: an unmatched right row once the watermark passes time + t, with NULL left",
     RIGHT,
     [("r", [(1, 5, 0), (2, 6, 0)]), ("l", [(1, 1, 4), (3, 3, 4)]), ("wm", 10), ("wm", 11),
      END],
     [(1, (1, 1, 5, 4, 0)), (3, (None, None, 6, None, 0))], 0),
    ("RIGHT: unmatched left rows never come out", RIGHT,
     [("l", [(1, 1, 0)]), ("r", [(2, 5, 0)]), ("wm", 30)],
     [(2, (None, None, 5, None, 0))], 0),
    ("RIGHT: a right row matched after arriving is never emitted unmatched", RIGHT,
     [("r", [(1, 5, 0)]), ("wm", 5), ("l", [(1, 1, 9)]), END],
     [(2, (1, 1, 5, 9, 0))], 0),
    ("RIGHT: WHERE over the left side filters joined rows, not the left input",
     SELECT + "RIGHT JOIN r ON l.k = r.k WITHIN 10ms WHERE l.v > 1;",
     [("l", [(1, 1, 0)]), ("r", [(1, 5, 0), (2, 6, 0)]), END],
     [], 0),
    ("FULL: each side's unmatched rows once", FULL,
     [("l", [(1, 1, 0), (2, 2, 0)]), ("r", [(1, 5, 3), (3, 7, 0)]), ("wm", 11), END],
     [(1, (1, 1, 5, 0, 3)), (2, (2, 2, None, 0, None)), (2, (None, None, 7, None, 0))], 0),
    ("FULL: a late row of either side is dropped, not emitted unmatched", FULL,
     [("l", [(1, 1, 50)]), ("r", [(1, 2, 50)]), ("wm", 45), ("l", [(2, 3, 40)]),
      ("r", [(3, 4, 44)]), END],
     [(1, (1, 1, 2, 50, 50))], 2),
    ("one-sided: a right row after the left one never pairs", BEFORE,
     [("l", [(1, 1, 10)]), ("r", [(1, 2, 0), (1, 3, 10), (1, 4, 11), (1, 5, -1)]), END],
     [(1, (1, 1, 2, 10, 0)), (1, (1, 1, 3, 10, 10))], 0),
    ("one-sided LEFT: unmatched once no right row can come (the watermark past time + 0)",
     SELECT + "LEFT JOIN r ON l.k = r.k AND r.ts BETWEEN l.ts - 10ms AND l.ts;",
     [("l", [(1, 1, 0)]), ("r", [(2, 2, 0)]), ("wm", 0), ("wm", 1)],
     [(3, (1, 1, None, 0, None))], 0),
    ("an interval away from zero: the right row 5 to 10ms after the left one",
     SELECT + "JOIN r ON l.k = r.k AND r.ts >= l.ts + 5ms AND r.ts <= l.ts + 10ms;",
     [("l", [(1, 1, 0)]), ("r", [(1, 2, 4), (1, 3, 5), (1, 4, 10), (1, 5, 11)]), END],
     [(1, (1, 1, 3, 0, 5)), (1, (1, 1, 4, 0, 10))], 0),
    ("WITHIN narrowed by a one-ended comparison of the event times",
     SELECT + "JOIN r ON l.k = r.k AND r.ts >= l.ts WITHIN 10ms;",
     [("l", [(1, 1, 5)]), ("r", [(1, 2, 0), (1, 3, 5), (1, 4, 15), (1, 5, 16)]), END],
     [(1, (1, 1, 3, 5, 5)), (1, (1, 1, 4, 5, 15))], 0),
]


@pytest.mark.parametrize(("query", "steps", "expected", "late"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_interval_join_cases(query: str, steps: list[tuple], expected: list[tuple],
                             late: int) -> None:
    operator = build_operator(spec_of(query), OperatorSettings())
    rows, _ = run_steps(operator, steps)
    assert rows == sorted(expected, key=repr)
    assert operator.counters().late_events == late
    assert operator.buffered_rows() == (0, 0) or steps[-1] != END


def test_late_rows_go_to_their_inputs_late_stream_with_all_their_fields() -> None:
    operator = build_operator(spec_of(JOIN), OperatorSettings())
    _, late = run_steps(operator, [("l", [(1, 1, 50)]), ("r", [(1, 2, 50)]), ("wm", 45),
                                   ("l", [(1, 3, 40), (1, 4, 46)])])
    assert late == [(40, 1, 3)]
    emitted = operator.process(batch("r", [(1, 5, 10)]), BatchSource("r"))
    assert emitted.late == [] and operator.counters().late_events == 2  # r: counted only


# ---------------------------------------------------------------------- the reference


def reference(events: list[tuple], within: int, outer: bool, residual: bool,
              kind: str | None = None, before: int | None = None, after: int | None = None,
              lefts: list[tuple] | None = None, rights: list[tuple] | None = None) -> Counter:
    """Nested loops over every event: (side, k, value, ts) -> the join's rows. `kind`
    (default LEFT when `outer`, else INNER), the right row's time within [left - before,
    left + after] (default both `within`); `lefts`/`rights` override the split by side."""
    kind = kind or ("LEFT" if outer else "INNER")
    before = within if before is None else before
    after = within if after is None else after
    lefts = [e for e in events if e[0] == "l"] if lefts is None else lefts
    rights = [e for e in events if e[0] == "r"] if rights is None else rights
    rows: Counter = Counter()
    right_matched = [False] * len(rights)
    for _, lk, lv, lts in lefts:
        matched = False
        for index, (_, rk, rw, rts) in enumerate(rights):
            if lk is not None and lk == rk and lts - before <= rts <= lts + after and (
                    not residual or rw >= lv):
                rows[(lk, lv, rw, lts, rts)] += 1
                matched = right_matched[index] = True
        if kind in ("LEFT", "FULL") and not matched:
            rows[(lk, lv, None, lts, None)] += 1
    if kind in ("RIGHT", "FULL"):
        for (_, _, rw, rts), matched in zip(rights, right_matched, strict=True):
            if not matched:
                rows[(None, None, rw, None, rts)] += 1
    return rows


@st.composite
def streams_of(draw, delay: int, sides: str = "lr", count: int = 40, values: int = 5):
    """Events (side, key, value, ts) of `sides` in publication order, each at most `delay`
    behind the newest before it (so none is late under a watermark of max time - delay)."""
    events, newest = [], 0
    for _ in range(draw(st.integers(0, count))):
        ts = max(0, newest + draw(st.integers(0, 6)) - draw(st.integers(0, delay)))
        newest = max(newest, ts)
        events.append((draw(st.sampled_from(sides)), draw(st.sampled_from([0, 1, 2, None])),
                       draw(st.integers(0, values)), ts))
    return events


def cut(draw, events: list[tuple]) -> list[tuple[str, list[tuple]]]:
    """Batches of one side each, in publication order, cut at random."""
    batches: list[tuple[str, list[tuple]]] = []
    for event in events:
        if batches and batches[-1][0] == event[0] and draw(st.booleans()):
            batches[-1][1].append(event)
        else:
            batches.append((event[0], [event]))
    return batches


def drive(operator, batches: list[tuple[str, list[tuple]]], delay: int,
          newest: dict[str, int] | None = None) -> Counter:
    """Each batch, then the combined watermark (the minimum of each side's max time -
    delay, once both sides have one)."""
    newest = {} if newest is None else newest
    rows: Counter = Counter()
    for side, events in batches:
        emitted = operator.process(batch(side, [e[1:] for e in events]), BatchSource(side))
        rows.update(output_rows(emitted))
        newest[side] = max(newest.get(side, 0), *(e[3] for e in events))
        if len(newest) == 2:
            rows.update(output_rows(operator.advance(T0 + min(newest.values()) - delay)))
    return rows


QUERY_OF = {
    (False, False): JOIN,
    (True, False): LEFT,
    (False, True): SELECT + "JOIN r ON r.k = l.k AND r.w >= l.v WITHIN {t}ms;",
    (True, True): SELECT + "LEFT JOIN r ON l.k = r.k AND r.w >= l.v WITHIN {t}ms;",
}


def shifted(column: str, ms: int) -> str:
    """`column`, `column + ms` or `column - ms` as written in ON."""
    return column if ms == 0 else f"{column} {'+' if ms > 0 else '-'} {abs(ms)}ms"


def join_query(kind: str, before: int, after: int, residual: bool, spelling: str) -> str:
    """The query of a kind and interval (the right row within [l.ts - before, l.ts +
    after]), its interval spelled `within` (before == after), `between` or `compare`."""
    keyword = {"INNER": "JOIN", "LEFT": "LEFT JOIN", "RIGHT": "RIGHT OUTER JOIN",
               "FULL": "FULL OUTER JOIN"}[kind]
    condition = "l.k = r.k" + (" AND r.w >= l.v" if residual else "")
    if spelling == "within":
        assert before == after
        return f"{SELECT}{keyword} r ON {condition} WITHIN {before}ms;"
    if spelling == "between":
        interval = f"l.ts BETWEEN {shifted('r.ts', -after)} AND {shifted('r.ts', before)}"
    else:  # the right row's time on the left of the comparisons
        interval = f"r.ts >= {shifted('l.ts', -before)} AND r.ts <= {shifted('l.ts', after)}"
    return f"{SELECT}{keyword} r ON {interval} AND {condition};"


@settings(max_examples=200, deadline=None)
@given(data=st.data(), delay=st.integers(0, 8), before=st.integers(0, 12),
       after=st.integers(-4, 12), kind=st.sampled_from(["INNER", "LEFT", "RIGHT", "FULL"]),
       residual=st.booleans(), spelling=st.sampled_from(["within", "between", "compare"]))
def test_every_kind_and_interval_gives_the_references_rows_whatever_the_cuts(
        data, delay: int, before: int, after: int, kind: str, residual: bool,
        spelling: str) -> None:
    after = max(after, -before)  # a non-empty interval
    if spelling == "within":
        after = before
    events = data.draw(streams_of(delay))
    spec = spec_of(join_query(kind, before, after, residual, spelling))
    assert (spec.kind, spec.before_ms, spec.after_ms) == (kind, before, after)
    expected = reference(events, 0, False, residual, kind, before, after)
    for _ in range(2):  # two different cuts of the same publication
        operator = build_operator(spec, OperatorSettings())
        rows = drive(operator, cut(data.draw, events), delay)
        rows.update(output_rows(operator.advance(END_OF_TIME)))
        assert rows == expected
        assert operator.counters().late_events == 0
        assert operator.buffered_rows() == (0, 0)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), delay=st.integers(0, 8), within=st.integers(0, 12),
       outer=st.booleans(), residual=st.booleans())
def test_random_streams_give_the_references_rows_whatever_the_cuts(
        data, delay: int, within: int, outer: bool, residual: bool) -> None:
    events = data.draw(streams_of(delay))
    query = QUERY_OF[(outer, residual)].replace("10ms", f"{within}ms").format(t=within)
    spec = spec_of(query)
    expected = reference(events, within, outer, residual)
    for _ in range(2):  # two different cuts of the same publication
        operator = build_operator(spec, OperatorSettings())
        rows = drive(operator, cut(data.draw, events), delay)
        rows.update(output_rows(operator.advance(END_OF_TIME)))
        assert rows == expected
        assert operator.counters().late_events == 0
        assert operator.buffered_rows() == (0, 0)


def test_state_stays_bounded_over_a_long_in_order_run() -> None:
    operator = build_operator(spec_of(LEFT.replace("10ms", "50ms")), OperatorSettings())
    assert isinstance(operator, IntervalJoin)
    sizes, buffered, emitted = [], [], 0
    for step in range(400):
        base = step * 10
        for side in ("l", "r"):
            events = [(key, key, base + key) for key in range(10)]
            emitted += len(output_rows(operator.process(batch(side, events),
                                                        BatchSource(side))))
        emitted += len(output_rows(operator.advance(T0 + base)))
        sizes.append(operator.state_size())
        buffered.append(operator.buffered_rows())
    # each side holds its last 50ms + 10ms: six batches of ten rows at most
    assert max(max(b) for b in buffered) <= 70
    assert max(sizes[100:]) <= max(sizes[:100]) * 1.1
    assert emitted > 0
