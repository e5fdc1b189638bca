"""The in-process event bus: one topic per stream, batches in and batches out.

A topic delivers every published batch to each subscriber, synchronously and in publish
order, then tells them the stream's new watermark if it moved. A topic knows how many
producers feed it (sources, queries, the API); when the last one is done, the watermark
jumps to the end of time and subscribers see `on_end`. Topics of streams without an event
time carry no watermark until their end.
"""

from __future__ import annotations

from typing import Protocol

import polars as pl

from frys.engine.time import END_OF_TIME, WatermarkTracker


class Subscriber(Protocol):
    """What a topic calls, in this order per batch: on_batch, then on_watermark if it moved;
    on_end exactly once, after the watermark reached END_OF_TIME."""

    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None: ...

    def on_watermark(self, topic: Topic, watermark: int) -> None: ...

    def on_end(self, topic: Topic) -> None: ...


class Topic:
    """A named stream of batches with a fixed schema and an event-time watermark."""

    def __init__(self, name: str, schema: dict[str, pl.DataType], event_time: str | None,
                 watermark_delay_ms: int = 0) -> None:
        self.name = name
        self.schema = schema
        self.event_time = event_time
        self.watermark = WatermarkTracker(watermark_delay_ms)
        self.subscribers: list[Subscriber] = []
        self.producers = 0
        self.ended = False
        self.events_published = 0

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.append(subscriber)

    def add_producer(self) -> None:
        if self.ended:
            raise RuntimeError(f"topic {self.name} has ended; nothing more can be published")
        self.producers += 1

    def publish(self, batch: pl.DataFrame) -> None:
        """Deliver a batch (already in this topic's schema) to every subscriber."""
        if self.ended:
            raise RuntimeError(f"topic {self.name} has ended; nothing more can be published")
        if batch.height == 0:
            return
        self.events_published += batch.height
        for subscriber in self.subscribers:
            subscriber.on_batch(self, batch)
        if self.event_time is not None and self.watermark.observe(batch[self.event_time]):
            for subscriber in self.subscribers:
                subscriber.on_watermark(self, self.watermark.current)

    def producer_done(self) -> None:
        """One producer will publish no more; the last one ends the topic."""
        self.producers -= 1
        if self.producers <= 0 and not self.ended:
            self.ended = True
            self.watermark.finish()
            for subscriber in self.subscribers:
                subscriber.on_watermark(self, END_OF_TIME)
            for subscriber in self.subscribers:
                subscriber.on_end(self)


class Collector:
    """A subscriber that keeps every batch of a topic, for the Python API and tests."""

    def __init__(self) -> None:
        self.batches: list[pl.DataFrame] = []

    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None:
        self.batches.append(batch)

    def on_watermark(self, topic: Topic, watermark: int) -> None:
        pass

    def on_end(self, topic: Topic) -> None:
        pass

    def frame(self, schema: dict[str, pl.DataType]) -> pl.DataFrame:
        if not self.batches:
            return pl.DataFrame(schema=schema)
        return pl.concat(self.batches, how="vertical")
