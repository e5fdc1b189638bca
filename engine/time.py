"""Event time: watermarks as integer epoch milliseconds.

A stream's watermark is the largest event time seen minus its `watermark` delay: the claim
that no event earlier than it is still to come. The end of a bounded input raises the
watermark to END_OF_TIME, which flushes every window. Watermarks never move backwards.
"""

from __future__ import annotations

import polars as pl

START_OF_TIME = -(2**63)
END_OF_TIME = 2**63 - 1


class WatermarkTracker:
    """Max event time seen minus a fixed delay, advanced batch by batch."""

    def __init__(self, delay_ms: int) -> None:
        self.delay_ms = delay_ms
        self.current = START_OF_TIME

    def observe(self, event_times: pl.Series) -> bool:
        """Take a batch's event times (a Datetime column); True when the watermark moved."""
        latest = event_times.dt.epoch("ms").max()
        if latest is None:
            return False
        candidate = int(latest) - self.delay_ms  # type: ignore[arg-type]
        if candidate > self.current:
            self.current = candidate
            return True
        return False

    def finish(self) -> bool:
        """End of input: the watermark jumps to END_OF_TIME; True when it moved."""
        moved = self.current != END_OF_TIME
        self.current = END_OF_TIME
        return moved
