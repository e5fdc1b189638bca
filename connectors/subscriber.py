"""The base of subscribers that handle batches only (sinks, collectors, queues): a topic's
watermark and its end are no-ops unless a subclass overrides them. The protocol itself is
connectors.bus.Subscriber; what reads a topic with its event time (each row's arrival
watermark: a query) is an engine Receiver instead (engine/channel.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from frys.connectors.bus import Topic


class BatchSubscriber:
    def on_watermark(self, topic: Topic, watermark: int) -> None:
        """Watermarks do not concern a batch-only subscriber."""

    def on_end(self, topic: Topic) -> None:
        """Nothing to release at the end, unless a subclass says so."""
