"""Window state is bounded by keys x open windows, not by the number of events."""

from __future__ import annotations

import frys
from frys.operators.window_aggregate import WindowAggregate


def test_state_stays_bounded_over_a_long_stream() -> None:
    # 3 keys, 1-second windows, a 2-second watermark delay: at most the windows within
    # [watermark, newest event] are open, i.e. 4 per key (3 behind the newest + its own)
    pipeline = frys.Pipeline.from_text("""
        CREATE STREAM ev (k INT, v FLOAT, ts TIMESTAMP)
            WITH (event_time = ts, watermark = 2 SECONDS);
        SELECT k, window_start, COUNT(DISTINCT v) AS d, SUM(v) AS s
        FROM ev GROUP BY k, TUMBLE(1 SECOND);
    """)
    operator = pipeline.runtime.queries[0].operator
    assert isinstance(operator, WindowAggregate)
    largest = 0
    ts = 0
    for _ in range(200):  # 200 batches x 300 events = 60,000 events over 200 s
        batch = []
        for i in range(300):
            ts += 3
            batch.append({"k": i % 3, "v": float(i), "ts": ts})
        pipeline.publish("ev", batch)
        largest = max(largest, operator.open_windows())
    assert largest <= 3 * 4
    pipeline.finish()
    assert operator.open_windows() == 0
    result = pipeline.results("select_1")
    assert result["s"].sum() == sum(float(i) for i in range(300)) * 200
    # windows [0, 1 s) ... [179 s, 180 s) for each key, and the last event (ts = 180,000 ms,
    # key 2) alone in [180 s, 181 s)
    assert result.height == 3 * 180 + 1
