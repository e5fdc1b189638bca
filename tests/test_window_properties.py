"""Property tests of tumbling-window aggregation against a naive pure-Python reference.

The reference is deliberately dumb: a dict keyed by (k, floor(ts / size) * size) holding the
events of each (key, window) in arrival order, with every aggregate computed from the list
at the end. The engine's incremental, columnar, batch-by-batch merging has to agree with it.

Lateness rule simulated by the reference (engine/time.py, operators/window_aggregate.py):
every event sees the watermark as it stood after the events before it, whatever the batching:
max(event time of every earlier event) - delay; an event is late when its window has already
ended by that watermark (window_end <= watermark); late events are dropped and counted per
query. How the events are cut into batches changes nothing.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import frys

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------- the job


@dataclass(frozen=True)
class Event:
    k: int
    v: int | None      # INT, nullable: SUM / AVG / MIN / MAX ignore NULLs
    x: int | None      # INT, nullable, few values: COUNT(x), COUNT(DISTINCT x)
    f: float           # FLOAT, never NULL, integer-valued so float sums are exact
    ts: int            # epoch ms, may be negative

    def record(self) -> dict[str, object]:
        return {"k": self.k, "v": self.v, "x": self.x, "f": self.f, "ts": self.ts}


AGGREGATES = ("COUNT(*) AS n, COUNT(x) AS cx, COUNT(DISTINCT x) AS dx, SUM(v) AS s, "
              "AVG(v) AS a, MIN(v) AS mn, MAX(v) AS mx, SUM(f) AS fs, FIRST(f) AS fst, "
              "LAST(f) AS lst")
COLUMNS = ("k", "ws", "we", "n", "cx", "dx", "s", "a", "mn", "mx", "fs", "fst", "lst")
# FIRST and LAST are checked by their own assertion (see assert_rows_equal), so a failure
# there does not hide one in the other aggregates, nor the other way round.
ORDER_COLUMNS = ("fst", "lst")
FLOAT_COLUMNS = {"a"}

# name -> (WHERE text or "", HAVING text or "", python WHERE, python HAVING on a group)
VARIANTS = {
    "plain": ("", "", lambda e: True, lambda g: True),
    "where_float": ("WHERE f > 0", "", lambda e: e.f > 0, lambda g: True),
    # x <> 2 is NULL for a NULL x: the row is dropped (three-valued logic)
    "where_nullable": ("WHERE x <> 2", "", lambda e: e.x is not None and e.x != 2,
                       lambda g: True),
    "having": ("WHERE k <> 3", "HAVING COUNT(*) >= 2 AND MAX(f) > -500",
               lambda e: e.k != 3, lambda g: len(g) >= 2 and max(e.f for e in g) > -500),
}


def job(size: int, delay: int, where: str = "", having: str = "",
        aggregates: str = AGGREGATES) -> str:
    return f"""
    CREATE STREAM ev (k INT, v INT, x INT, f FLOAT, ts TIMESTAMP)
        WITH (event_time = ts, watermark = {delay} MILLISECONDS);
    SELECT k, window_start AS ws, window_end AS we, {aggregates}
    FROM ev {where}
    GROUP BY k, TUMBLE({size} MILLISECONDS) {having};
    """


def run(text: str, batches: list[list[Event]]) -> frys.Pipeline:
    p = frys.Pipeline.from_text(text)
    for batch in batches:
        p.publish("ev", [e.record() for e in batch])
    p.finish()
    return p


def engine_rows(p: frys.Pipeline) -> list[dict[str, object]]:
    df = p.results("select_1").with_columns(pl.col("ws").dt.epoch("ms"),
                                            pl.col("we").dt.epoch("ms"))
    return sorted(df.to_dicts(), key=lambda r: (r["k"], r["ws"]))


# ---------------------------------------------------------------------------- reference


def window_start(ts: int, size: int) -> int:
    return (ts // size) * size  # Python floor division: aligned to the epoch, also < 1970


def group(events: list[Event], size: int) -> dict[tuple[int, int], list[Event]]:
    """(k, window start) -> the window's events in arrival order."""
    groups: dict[tuple[int, int], list[Event]] = {}
    for e in events:
        groups.setdefault((e.k, window_start(e.ts, size)), []).append(e)
    return groups


def reference_rows(events: list[Event], size: int, where=lambda e: True,
                   having=lambda g: True) -> list[dict[str, object]]:
    rows = []
    for (k, start), g in group([e for e in events if where(e)], size).items():
        if not having(g):
            continue
        vs = [e.v for e in g if e.v is not None]
        first_ts, last_ts = min(e.ts for e in g), max(e.ts for e in g)
        rows.append({
            "k": k, "ws": start, "we": start + size,
            "n": len(g),
            "cx": sum(e.x is not None for e in g),
            "dx": len({e.x for e in g if e.x is not None}),
            "s": sum(vs) if vs else None,
            "a": sum(vs) / len(vs) if vs else None,
            "mn": min(vs) if vs else None,
            "mx": max(vs) if vs else None,
            "fs": sum(e.f for e in g),
            # FIRST: earliest event time, ties -> earliest arrival;
            # LAST: latest event time, ties -> latest arrival
            "fst": next(e.f for e in g if e.ts == first_ts),
            "lst": next(e.f for e in reversed(g) if e.ts == last_ts),
        })
    return sorted(rows, key=lambda r: (r["k"], r["ws"]))


def _same(got: object, want: object, is_float: bool) -> bool:
    if is_float and got is not None and want is not None:
        return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)
    return got == want


def assert_rows_equal(actual: list[dict], expected: list[dict], columns=COLUMNS,
                      float_columns=FLOAT_COLUMNS) -> None:
    """Same (k, window) rows, and per row every column equal (floats within 1e-9).
    Mismatches are listed as (column, k, window_start, engine value, reference value)."""
    assert [(r["k"], r["ws"]) for r in actual] == [(r["k"], r["ws"]) for r in expected]

    def mismatches(names):
        return [(c, got["k"], got["ws"], got[c], want[c])
                for got, want in zip(actual, expected, strict=True) for c in names
                if not _same(got[c], want[c], c in float_columns)]

    assert mismatches([c for c in columns if c not in ORDER_COLUMNS]) == []
    assert mismatches([c for c in columns if c in ORDER_COLUMNS]) == []  # FIRST / LAST


def late_split(batches: list[list[Event]], size: int, delay: int, where=lambda e: True
               ) -> tuple[list[Event], int]:
    """The events the engine keeps and the number it drops as late (see module docstring).
    The watermark follows every event of the stream, including those WHERE drops; only
    events that pass WHERE reach the window operator, so only those can be counted late."""
    watermark = None
    kept, late = [], 0
    for e in (e for batch in batches for e in batch):
        if where(e):
            if watermark is not None and window_start(e.ts, size) + size <= watermark:
                late += 1
            else:
                kept.append(e)
        watermark = e.ts - delay if watermark is None else max(watermark, e.ts - delay)
    return kept, late


# ---------------------------------------------------------------------------- strategies

keys = st.integers(0, 3)
nullable_v = st.one_of(st.none(), st.integers(-1000, 1000))
nullable_x = st.one_of(st.none(), st.integers(0, 4))
values_f = st.integers(-1000, 1000).map(float)


@st.composite
def split(draw, events: list[Event]) -> list[list[Event]]:
    """Cut a list of events into consecutive non-empty batches at random points."""
    cuts = draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events)))
    batches, current = [], []
    for e, cut in zip(events, cuts, strict=True):
        current.append(e)
        if cut:
            batches.append(current)
            current = []
    if current:
        batches.append(current)
    return batches


@st.composite
def bounded_disorder(draw):
    """Events whose disorder never exceeds the watermark delay: a non-decreasing 'true'
    time t_i, observed as ts_i = t_i - jitter_i with 0 <= jitter_i <= delay. Then every
    ts_i >= max(earlier ts) - delay, so nothing can be late, whatever the batching."""
    size = draw(st.integers(1, 5000))
    delay = draw(st.sampled_from([0, 1, 7, 250, 1000, 3000]))
    count = draw(st.integers(0, 60))
    t = draw(st.integers(-10_000_000, 10_000_000))
    events = []
    for _ in range(count):
        # step 0 often: equal event times exercise FIRST/LAST tie-breaking
        t += draw(st.one_of(st.just(0), st.integers(0, size), st.integers(0, 3 * size)))
        ts = t - draw(st.integers(0, delay))
        events.append(Event(draw(keys), draw(nullable_v), draw(nullable_x),
                            draw(values_f), ts))
    return size, delay, events, draw(split(events))


@st.composite
def arbitrary_order(draw):
    """Events in any order over a span much wider than the delay: many are late. In half
    the examples times and delay are multiples of the window size, so the watermark often
    sits exactly on a window end; and a later batch may carry an event at watermark - 1,
    whose window ends exactly at the watermark when that is aligned (late), or after it
    (on time): both sides of the boundary of the lateness rule."""
    size = draw(st.integers(1, 2000))
    if draw(st.booleans()):
        delay = size * draw(st.integers(0, 4))
        times = st.builds(lambda n, at: n * size + at * (size - 1),
                          st.integers(-5, 5), st.sampled_from([0, 0, 0, 1]))
    else:
        delay = draw(st.integers(0, 1500))
        times = st.integers(-6000, 6000)
    event = st.builds(Event, keys, nullable_v, nullable_x, values_f, times)
    batches, watermark = [], None
    for _ in range(draw(st.integers(0, 8))):
        batch = draw(st.lists(event, min_size=1, max_size=6))
        if watermark is not None and draw(st.booleans()):
            position = draw(st.integers(0, len(batch)))
            boundary = Event(draw(keys), draw(nullable_v), draw(nullable_x), draw(values_f),
                             watermark - 1)
            batch.insert(position, boundary)
        batches.append(batch)
        latest = max(e.ts for e in batch) - delay
        watermark = latest if watermark is None else max(watermark, latest)
    return size, delay, [e for b in batches for e in b], batches


# ---------------------------------------------------------------------------- a. reference


@pytest.mark.parametrize("variant", list(VARIANTS))
@SETTINGS
@given(data=bounded_disorder())
def test_bounded_disorder_equals_reference(variant, data):
    size, delay, events, batches = data
    where_sql, having_sql, where, having = VARIANTS[variant]
    p = run(job(size, delay, where_sql, having_sql), batches)
    assert p.stats.total_late_events == 0
    assert_rows_equal(engine_rows(p), reference_rows(events, size, where, having))


@SETTINGS
@given(data=bounded_disorder())
def test_stddev_equals_reference(data):
    """STDDEV (sample) of a non-null and of a nullable column, over random batches."""
    size, delay, events, batches = data
    p = run(job(size, delay, aggregates="COUNT(*) AS n, STDDEV(f) AS sf, STDDEV(v) AS sv"),
            batches)
    expected = []
    for (k, start), g in group(events, size).items():
        fs = [e.f for e in g]
        vs = [e.v for e in g if e.v is not None]
        expected.append({"k": k, "ws": start, "we": start + size, "n": len(g),
                         "sf": statistics.stdev(fs) if len(fs) > 1 else None,
                         "sv": statistics.stdev(vs) if len(vs) > 1 else None})
    expected.sort(key=lambda r: (r["k"], r["ws"]))
    actual = engine_rows(p)
    assert p.stats.total_late_events == 0
    # a NaN (as from merging partials that saw only NULLs) is named as such, not as a mismatch
    nans = [row for row in actual for c in ("sf", "sv")
            if isinstance(row[c], float) and math.isnan(row[c])]
    assert nans == []
    assert_rows_equal(actual, expected, ("k", "ws", "we", "n", "sf", "sv"), {"sf", "sv"})


def test_stddev_merges_partials_across_batches():
    """The smallest case of the property above: one window fed by two batches.
    STDDEV of {1, 3} is sqrt(2)."""
    p = frys.Pipeline.from_text(job(1000, 10_000, aggregates="STDDEV(f) AS sf"))
    p.publish("ev", [{"k": 1, "f": 1.0, "ts": 1}])
    p.publish("ev", [{"k": 1, "f": 3.0, "ts": 2}])
    p.finish()
    assert p.results("select_1")["sf"].to_list() == [pytest.approx(math.sqrt(2))]


def test_stddev_after_batches_with_only_nulls():
    """Two batches in which the window saw only NULLs, then one with values: the empty
    partials must not poison the merged mean. STDDEV of {1, 3} is sqrt(2)."""
    p = frys.Pipeline.from_text(job(1000, 10_000,
                                    aggregates="COUNT(v) AS cv, STDDEV(v) AS sv"))
    p.publish("ev", [{"k": 1, "v": None, "ts": 1}])
    p.publish("ev", [{"k": 1, "v": None, "ts": 2}])
    p.publish("ev", [{"k": 1, "v": 1, "ts": 3}, {"k": 1, "v": 3, "ts": 4}])
    p.finish()
    out = p.results("select_1")
    assert out["cv"].to_list() == [2]
    assert out["sv"].to_list() == [pytest.approx(math.sqrt(2))]


def test_last_is_the_latest_event_time_within_one_batch():
    """The smallest case of the FIRST/LAST check above: one batch, one window [0, 2),
    events (ts=0, f=0.0) then (ts=1, f=1.0). FIRST is 0.0, LAST is 1.0."""
    p = frys.Pipeline.from_text(
        job(2, 0, aggregates="FIRST(f) AS fst, LAST(f) AS lst, COUNT(*) AS n"))
    p.publish("ev", [{"k": 0, "f": 0.0, "ts": 0}, {"k": 0, "f": 1.0, "ts": 1}])
    p.finish()
    assert p.results("select_1").select("fst", "lst").rows() == [(0.0, 1.0)]


def test_first_and_last_break_ties_by_arrival_order():
    #   one window [0, 1000); arrival order a b c d e, split over two batches
    #   ts:   a=5  b=5  | c=9  d=9  e=5
    #   FIRST = a (earliest-arrived among ts 5), LAST = d (latest-arrived among ts 9)
    p = frys.Pipeline.from_text(job(1000, 10_000,
                                    aggregates="FIRST(f) AS fst, LAST(f) AS lst"))
    p.publish("ev", [{"k": 0, "f": 1.0, "ts": 5}, {"k": 0, "f": 2.0, "ts": 5}])
    p.publish("ev", [{"k": 0, "f": 3.0, "ts": 9}, {"k": 0, "f": 4.0, "ts": 9},
                     {"k": 0, "f": 5.0, "ts": 5}])
    p.finish()
    assert p.results("select_1").select("fst", "lst").rows() == [(1.0, 4.0)]


# ---------------------------------------------------------------------------- b. late events


@pytest.mark.parametrize("variant", ["plain", "where_float"])
@SETTINGS
@given(data=arbitrary_order())
def test_late_events_are_dropped_and_counted(variant, data):
    size, delay, _, batches = data
    where_sql, _, where, _ = VARIANTS[variant]
    p = run(job(size, delay, where_sql), batches)
    kept, late = late_split(batches, size, delay, where)
    assert p.stats.total_late_events == late
    assert p.stats.late_events["select_1"] == late
    assert_rows_equal(engine_rows(p), reference_rows(kept, size))


def test_reference_lateness_rule():
    """The simulation the property relies on, on a hand-checked case (size 1000, delay 0):
    5000 moves the watermark to 5000; then ts 4999 (window ends 5000 <= 5000) is late, ts
    5000 and ts 6000 are not; 6000 moves it to 6000 for the next event, 5999, late although
    it came in the same batch; and the cut into batches changes nothing."""
    e = lambda ts: Event(0, 1, 1, 1.0, ts)  # noqa: E731
    batches = [[e(5000)], [e(4999), e(5000), e(6000), e(5999)]]
    kept, late = late_split(batches, 1000, 0)
    assert late == 2
    assert [x.ts for x in kept] == [5000, 5000, 6000]
    assert late_split([[x] for batch in batches for x in batch], 1000, 0) == (kept, late)


# ---------------------------------------------------------------------------- c. batching


@SETTINGS
@given(data=bounded_disorder())
def test_one_batch_equals_one_event_per_batch(data):
    size, delay, events, _ = data
    ordered = sorted(events, key=lambda e: e.ts)  # stable: ties keep their arrival order
    text = job(size, delay)
    together = run(text, [ordered]).results("select_1")
    one_by_one = run(text, [[e] for e in ordered]).results("select_1")
    # in-order input: both fire windows in (window_start, k) order, so even row order agrees
    assert_frame_equal(together.drop(ORDER_COLUMNS), one_by_one.drop(ORDER_COLUMNS))
    assert_frame_equal(together, one_by_one)  # FIRST / LAST too
    assert together.height == len(group(ordered, size))


# ---------------------------------------------------------------------------- d. timelines


def timeline_pipeline(delay: int) -> frys.Pipeline:
    return frys.Pipeline.from_text(f"""
    CREATE STREAM ev (k INT, f FLOAT, ts TIMESTAMP)
        WITH (event_time = ts, watermark = {delay} MILLISECONDS);
    SELECT window_start AS ws, COUNT(*) AS n, SUM(f) AS s
    FROM ev GROUP BY TUMBLE(1 SECOND);
    """)


def fired(p: frys.Pipeline) -> list[tuple[int, int, float]]:
    df = p.results("select_1").with_columns(pl.col("ws").dt.epoch("ms"))
    return [tuple(r) for r in df.rows()]


def test_event_at_window_end_belongs_to_next_window():
    #   ms:     0                999 1000                      2000
    #           [------ window 0 ----)[------- window 1000 -------)
    #   events:                  a    b
    #   a (ts=999) -> [0, 1000);  b (ts=1000) -> [1000, 2000): windows are half-open
    p = timeline_pipeline(delay=0)
    p.publish("ev", [{"f": 1.0, "ts": 999}, {"f": 10.0, "ts": 1000}])
    p.finish()
    assert fired(p) == [(0, 1, 1.0), (1000, 1, 10.0)]


def test_negative_timestamps_align_to_epoch():
    #   ms:  -2000          -1000           0
    #          [-- window ---)[-- window ---)
    #   events:  a          b c
    #   a = -1500 -> [-2000, -1000);  b = -1001 -> [-2000, -1000);  c = -1000 -> [-1000, 0)
    p = timeline_pipeline(delay=0)
    p.publish("ev", [{"f": 1.0, "ts": -1500}, {"f": 2.0, "ts": -1001},
                     {"f": 4.0, "ts": -1000}])
    p.finish()
    assert fired(p) == [(-2000, 2, 3.0), (-1000, 1, 4.0)]


def test_event_at_the_watermark_boundary():
    #   delay 0, windows of 1 s
    #   ms:      1000                 2000                 3000
    #            [---- window 1000 ----)[---- window 2000 ----)
    #   batch 1:                  a(1500)  b(2000)          -> watermark = 2000
    #                                  ^ window 1000 ends at 2000 <= watermark: fires
    #   batch 2:              c(1999)   d(2000)
    #     c: its window ended at 2000 <= watermark 2000 -> late, dropped and counted
    #     d: exactly at the watermark, but its window [2000, 3000) is open -> on time
    p = timeline_pipeline(delay=0)
    p.publish("ev", [{"f": 1.0, "ts": 1500}, {"f": 2.0, "ts": 2000}])
    assert fired(p) == [(1000, 1, 1.0)]
    p.publish("ev", [{"f": 100.0, "ts": 1999}, {"f": 4.0, "ts": 2000}])
    assert p.stats.late_events["select_1"] == 1
    p.finish()
    assert fired(p) == [(1000, 1, 1.0), (2000, 2, 6.0)]


def test_event_behind_the_watermark_in_an_open_window_is_on_time():
    #   delay 500
    #   ms:      2000     2050  2100        2600        3000
    #            [------------- window 2000 --------------)
    #   batch 1:                            a(2600)      -> watermark = 2100
    #   batch 2:          b(2050)                        b < watermark, window still open
    p = timeline_pipeline(delay=500)
    p.publish("ev", [{"f": 1.0, "ts": 2600}])
    p.publish("ev", [{"f": 2.0, "ts": 2050}])
    assert p.stats.total_late_events == 0
    p.finish()
    assert fired(p) == [(2000, 2, 3.0)]


def test_window_fires_only_when_watermark_reaches_its_end():
    #   delay 200, windows of 1 s
    #   ms:     0         500       999 1000 1199 1200        2000
    #           [------ window 0 -------)[------ window 1000 ---)
    #   batch 1:          a(500)                           watermark  300: nothing fires
    #   batch 2:                             b(1199)       watermark  999: nothing fires
    #   batch 3:                                  c(1200)  watermark 1000: window 0 fires
    #   finish():                                          window 1000 fires
    p = timeline_pipeline(delay=200)
    p.publish("ev", [{"f": 1.0, "ts": 500}])
    assert fired(p) == []
    p.publish("ev", [{"f": 2.0, "ts": 1199}])
    assert fired(p) == []
    p.publish("ev", [{"f": 4.0, "ts": 1200}])
    assert fired(p) == [(0, 1, 1.0)]
    p.finish()
    assert fired(p) == [(0, 1, 1.0), (1000, 2, 6.0)]
    assert p.stats.total_late_events == 0
