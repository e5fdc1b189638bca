"""Events of a partition are matched in event-time order up to the watermark, so arrival out of
order within the watermark delay gives the same matches as arrival in order.

Equal event times keep their arrival order (docs/language.md), so the shuffled arrival keeps
the relative order of events with equal times; everything else may move, as long as no event
arrives 100 ms or more behind the newest one published before it (the stream's watermark
delay: an event at or behind the watermark is late)."""

from __future__ import annotations

import itertools
from collections import Counter

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

import frys

STREAM = ("CREATE STREAM ev (k INT, id INT, name STRING, price FLOAT, ts TIMESTAMP)"
          " WITH (event_time = ts, watermark = 100ms);\n")
DELAY = 100

# (pattern, its non-negated variables); each is one query of the job, select_1 ...
PATTERNS: list[tuple[str, list[str]]] = [
    ("PATTERN (a b) DEFINE a AS a.name = 'a', b AS b.price > a.price", ["a", "b"]),
    ("PATTERN (a -> b+? c) WITHIN 50ms DEFINE a AS a.name = 'a', b AS b.name = 'b',"
     " c AS c.name = 'c' AFTER MATCH NO SKIP", ["a", "b", "c"]),
    ("PATTERN (a -> NOT x -> b) DEFINE a AS a.name = 'a', x AS x.name = 'c',"
     " b AS b.name = 'b' AFTER MATCH NO SKIP", ["a", "b"]),
    ("PATTERN (a ->> b ->> c) WITHIN 40ms DEFINE a AS a.name = 'a', b AS b.price > a.price,"
     " c AS c.name = 'c' AND c.price < b.price AFTER MATCH NO SKIP", ["a", "b", "c"]),
    ("PATTERN (a b* c) DEFINE a AS a.name = 'b', b AS b.name <> 'c',"
     " c AS c.name = 'c' AFTER MATCH SKIP TO NEXT EVENT", ["a", "b", "c"]),
    ("PATTERN (a -> NOT x) WITHIN 30ms DEFINE a AS a.name = 'a', x AS x.name = 'b'", ["a"]),
]


def job() -> str:
    queries = []
    for pattern, variables in PATTERNS:
        outputs = ", ".join(f"ARRAY_AGG({v}.id) AS {v}_ids" for v in variables)
        queries.append(f"SELECT k, {outputs} FROM ev PARTITION BY k {pattern};")
    return STREAM + "\n".join(queries) + "\n"


JOB = job()


def _ids(value: object) -> tuple[int, ...]:
    if value is None:
        return ()
    if hasattr(value, "to_list"):
        value = value.to_list()
    return tuple(int(v) for v in value if v is not None)  # type: ignore[union-attr]


def run(batches: list[list[dict[str, object]]]) -> tuple[list[Counter[tuple]], int]:
    """The matches of every query (multisets of (k, ids of each variable)) and the number
    of late events."""
    pipeline = frys.Pipeline.from_text(JOB)
    # each output batch on its own, so that matches are read even if `results()` cannot
    # concatenate the batches (it could not when one batch's ARRAY_AGG column held only empty
    # lists: test_empty_array_agg_in_one_batch_only)
    results: list[Counter[tuple]] = []
    for n, (_, variables) in enumerate(PATTERNS, start=1):
        matches: Counter[tuple] = Counter()
        results.append(matches)

        def collect(frame: pl.DataFrame, matches: Counter[tuple] = matches,
                    variables: list[str] = variables) -> None:
            matches.update((row["k"], *(_ids(row[f"{v}_ids"]) for v in variables))
                           for row in frame.iter_rows(named=True))

        pipeline.subscribe(f"select_{n}", collect)
    for batch in batches:
        pipeline.publish("ev", batch)
    pipeline.finish()
    return results, pipeline.stats.total_late_events


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, object]]:
    """Events in event-time order (ids in that order), over 2 or 3 keys."""
    keys = draw(st.integers(2, 3))
    count = draw(st.integers(0, 40))
    events, ts = [], 0
    for i in range(count):
        ts += draw(st.sampled_from([0, 0, 1, 5, 10, 20, 35]))
        events.append({"k": draw(st.integers(0, keys - 1)), "id": i,
                       "name": draw(st.sampled_from("abc")),
                       "price": float(draw(st.integers(1, 3))), "ts": ts})
    return events


def shuffled(data: st.DataObject, events: list[dict[str, object]]) -> list[dict[str, object]]:
    """A random arrival order: each event less than DELAY behind every event before it, and
    events with equal times in their given order. Choosing only events less than DELAY after
    the earliest one left keeps every later choice possible."""
    remaining = list(events)  # in event-time order
    order = []
    while remaining:
        earliest = remaining[0]["ts"]
        seen: set[object] = set()
        choices = []
        for index, event in enumerate(remaining):
            if event["ts"] - earliest >= DELAY:  # type: ignore[operator]
                break
            if event["ts"] not in seen:  # the first left of its time
                seen.add(event["ts"])
                choices.append(index)
        order.append(remaining.pop(data.draw(st.sampled_from(choices))))
    return order


def batches(data: st.DataObject, events: list[dict[str, object]]
            ) -> list[list[dict[str, object]]]:
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(events) - 1)), max_size=6)))
    bounds = [0, *(c for c in cuts if c < len(events)), len(events)]
    return [events[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _max_lag(order: list[dict[str, object]]) -> int:
    newest, lag = None, 0
    for event in order:
        ts = event["ts"]
        if newest is not None:
            lag = max(lag, newest - ts)  # type: ignore[operator]
        newest = ts if newest is None else max(newest, ts)  # type: ignore[call-overload]
    return lag


@settings(max_examples=60, deadline=None)
@given(streams(), st.data())
def test_out_of_order_within_the_delay_gives_the_same_matches(
        events: list[dict[str, object]], data: st.DataObject) -> None:
    in_order, late_in_order = run(batches(data, events))
    order = shuffled(data, events)
    assert _max_lag(order) < DELAY
    out_of_order, late_out_of_order = run(batches(data, order))
    assert late_in_order == 0 and late_out_of_order == 0
    assert out_of_order == in_order


def test_an_event_more_than_the_delay_behind_the_newest_is_late() -> None:
    # the watermark is the newest time minus the delay (100 ms); an event behind it is
    # late, one at it is on time (Flink's watermark is 1 ms lower and keeps those above it)
    pipeline = frys.Pipeline.from_text(
        STREAM + "SELECT a.id AS a_id FROM ev PARTITION BY k PATTERN (a -> b)"
        " DEFINE a AS a.name = 'a', b AS b.name = 'b' AFTER MATCH NO SKIP;\n")

    def event(i: int, name: str, ts: int) -> dict[str, object]:
        return {"k": 0, "id": i, "name": name, "price": 1.0, "ts": ts}

    pipeline.publish("ev", [event(1, "a", 1000)])
    pipeline.publish("ev", [event(2, "a", 901)])   # 99 ms behind: in time
    assert pipeline.stats.total_late_events == 0
    pipeline.publish("ev", [event(3, "a", 899)])   # 101 ms behind: late
    assert pipeline.stats.total_late_events == 1
    pipeline.publish("ev", [event(4, "a", 900)])   # at the watermark (1000 - 100): on time
    assert pipeline.stats.total_late_events == 1
    pipeline.publish("ev", [event(5, "b", 1001)])
    pipeline.finish()
    assert sorted(pipeline.results("select_1")["a_id"].to_list()) == [1, 2, 4]


def test_empty_array_agg_in_one_batch_only() -> None:
    """Matches of `a b* c` with no b in one publish and with a b in a later one: the first
    output batch's b_ids column is all empty lists (dtype List(Null)), the second's
    List(Int64), and `results()` must still concatenate them."""
    pipeline = frys.Pipeline.from_text(
        "CREATE STREAM ev (k INT, id INT, name STRING, price FLOAT, ts TIMESTAMP)"
        " WITH (event_time = ts);\n"  # no delay: each publish's matches come out with it
        "SELECT ARRAY_AGG(b.id) AS b_ids FROM ev PATTERN (a b* c)"
        " DEFINE a AS a.name = 'a', b AS b.name = 'b', c AS c.name = 'c';\n")

    def event(i: int, name: str) -> dict[str, object]:
        return {"k": 0, "id": i, "name": name, "price": 1.0, "ts": i}

    pipeline.publish("ev", [event(1, "a"), event(2, "c")])
    pipeline.publish("ev", [event(3, "a"), event(4, "b"), event(5, "c")])
    pipeline.finish()
    assert [_ids(v) for v in pipeline.results("select_1")["b_ids"]] == [(), (4,)]
