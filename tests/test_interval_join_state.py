"""The interval join's bookkeeping of outer joins and pruning (operators/interval_join.py):
matched rows kept as row numbers folded lazily, in-order buffers pruned by a slice,
buffers rechunked past MAX_CHUNKS. Long runs of small batches drive those paths (with the
thresholds lowered so a short run crosses them) against the nested-loop reference of
tests/test_interval_join.py; the snapshot must show each buffered row's matched flag as the
reference has it."""

from __future__ import annotations

from collections import Counter
from unittest import mock

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from test_interval_join import T0, batch, join_query, output_rows, reference, spec_of

from frys.engine.operator import BatchSource, OperatorSettings
from frys.engine.time import END_OF_TIME
from frys.operators import interval_join
from frys.operators.registry import build_operator


@st.composite
def long_run(draw, delay: int):
    """Up to 150 events, one side each, each at most `delay` behind the newest before it
    (none late), left values numbered in order (a left row's identity); batches of 1-4
    events of one side."""
    events, newest, number = [], 0, 0
    for _ in range(draw(st.integers(0, 150))):
        ts = max(0, newest + draw(st.integers(0, 3)) - draw(st.integers(0, delay)))
        newest = max(newest, ts)
        side = draw(st.sampled_from("lr"))
        value = number if side == "l" else draw(st.integers(0, 5))
        number += side == "l"
        events.append((side, draw(st.sampled_from([0, 1, 2, None])), value, ts))
    batches: list[tuple[str, list[tuple]]] = []
    for event in events:
        if batches and batches[-1][0] == event[0] and len(batches[-1][1]) < 4 \
                and draw(st.booleans()):
            batches[-1][1].append(event)
        else:
            batches.append((event[0], [event]))
    return events, batches


def matched_lefts(seen: list[tuple], within: int, residual: bool) -> set[int]:
    """The left rows (by value) that met a right row among the events seen so far."""
    lefts = [e for e in seen if e[0] == "l"]
    rights = [e for e in seen if e[0] == "r"]
    return {lv for _, lk, lv, lts in lefts
            if any(lk is not None and lk == rk and abs(lts - rts) <= within
                   and (not residual or rw >= lv) for _, rk, rw, rts in rights)}


@settings(max_examples=150, deadline=None)
@given(data=st.data(), delay=st.integers(0, 6), within=st.integers(0, 8),
       kind=st.sampled_from(["INNER", "LEFT", "RIGHT", "FULL"]), residual=st.booleans())
def test_long_runs_of_small_batches_give_the_references_rows_and_matched_flags(
        data, delay: int, within: int, kind: str, residual: bool) -> None:
    events, batches = data.draw(long_run(delay))
    spec = spec_of(join_query(kind, within, within, residual, "within"))
    expected = reference(events, 0, False, residual, kind, within, within)
    with mock.patch.object(interval_join, "MAX_CHUNKS", 3), \
            mock.patch.object(interval_join, "FOLD_AT", 2):
        operator = build_operator(spec, OperatorSettings())
        rows: Counter = Counter()
        newest: dict[str, int] = {}
        seen: list[tuple] = []
        for side, chunk in batches:
            emitted = operator.process(batch(side, [e[1:] for e in chunk]), BatchSource(side))
            rows.update(output_rows(emitted))
            seen += chunk
            newest[side] = max(newest.get(side, 0), *(e[3] for e in chunk))
            if len(newest) == 2:
                rows.update(output_rows(operator.advance(T0 + min(newest.values()) - delay)))
            if kind in ("LEFT", "FULL"):
                # the matched numbers held (before the snapshot folds them) name buffered
                # rows only and stay within twice the buffer (FOLD_AT = 2)
                held = pl.concat(operator._matched[0]) if operator._matched[0] else []
                assert len(held) <= 2 * max(operator.buffered_rows()[0], 2)
                left = operator.snapshot().tables["left"]
                assert set(held) <= set(left["__left_row"])
                flags = dict(left.select("l.v", "__left_matched").iter_rows())
                met = matched_lefts(seen, within, residual)
                assert flags == {v: v in met for v in flags}
        rows.update(output_rows(operator.advance(END_OF_TIME)))
    assert rows == expected
    assert operator.buffered_rows() == (0, 0)


def test_in_order_input_is_pruned_from_the_front_and_unmatched_rows_come_out_in_time_order(
        ) -> None:
    """One left row per ms on keys 0-9, right rows only for even keys: every odd-key left
    row comes out unmatched once its 5 ms have passed, in time order, the watermark
    advancing after every batch."""
    spec = spec_of(join_query("LEFT", 5, 5, False, "within"))
    operator = build_operator(spec, OperatorSettings())
    out: list[tuple] = []
    for ts in range(0, 400, 4):
        lefts = [(t % 10, t, t) for t in range(ts, ts + 4)]
        rights = [(t % 10, 0, t) for t in range(ts, ts + 4) if t % 2 == 0]
        out += output_rows(operator.process(batch("l", lefts), BatchSource("l")))
        out += output_rows(operator.process(batch("r", rights), BatchSource("r")))
        out += output_rows(operator.advance(T0 + ts + 3))
        assert operator.buffered_rows()[0] <= 4 + 6  # 5 ms of rows and the batch
    out += output_rows(operator.advance(END_OF_TIME))
    unmatched = [row[3] for row in out if row[2] is None]
    assert unmatched == [t for t in range(400) if t % 2 == 1]
    # a key's rows are 10 ms apart: each even-key left row meets its own right row only
    assert sorted(row[3] for row in out if row[2] is not None) == list(range(0, 400, 2))


def test_a_snapshot_with_unfolded_matches_restores_to_the_same_rows() -> None:
    """Matches noted but not yet folded (no watermark advance) are in the snapshot's flags;
    a restored operator emits what the original does."""
    spec = spec_of(join_query("FULL", 10, 10, False, "within"))
    original = build_operator(spec, OperatorSettings())
    original.process(batch("l", [(1, 1, 0), (2, 2, 1), (3, 3, 2)]), BatchSource("l"))
    original.process(batch("r", [(1, 10, 3)]), BatchSource("r"))
    original.process(batch("r", [(4, 11, 4)]), BatchSource("r"))
    original.process(batch("l", [(4, 4, 5)]), BatchSource("l"))
    state = original.snapshot()
    assert state.tables["left"].select("l.v", "__left_matched").rows() == [
        (1, True), (2, False), (3, False), (4, True)]
    assert state.tables["right"]["__right_matched"].to_list() == [True, True]
    restored = build_operator(spec, OperatorSettings())
    restored.restore(state)
    assert restored.state_size() == original.state_size()
    for operator in (original, restored):
        operator.process(batch("r", [(2, 12, 6)]), BatchSource("r"))
    expected = output_rows(original.advance(END_OF_TIME))
    assert sorted(expected, key=repr) == sorted(
        [(3, 3, None, 2, None)], key=repr)  # the one row that never met
    assert output_rows(restored.advance(END_OF_TIME)) == expected


def test_an_out_of_order_buffer_is_pruned_by_filter_and_its_unmatched_rows_sorted() -> None:
    """A buffer whose times are out of order (restored or not) is not cut as a prefix: the
    rows past the horizon leave wherever they are, and come out in time order, though the
    rows left are in order again."""
    spec = spec_of(join_query("LEFT", 2, 2, False, "within"))
    original = build_operator(spec, OperatorSettings())
    original.process(batch("l", [(1, 1, 10), (2, 2, 0), (3, 3, 11), (4, 4, 12)]),
                     BatchSource("l"))
    restored = build_operator(spec, OperatorSettings())
    restored.restore(original.snapshot())
    for operator in (original, restored):
        rows = output_rows(operator.advance(T0 + 13))  # the horizon: 11
        assert rows == [(2, 2, None, 0, None), (1, 1, None, 10, None)]
        assert operator.buffered_rows() == (2, 0)
        assert output_rows(operator.advance(END_OF_TIME)) == [
            (3, 3, None, 11, None), (4, 4, None, 12, None)]
