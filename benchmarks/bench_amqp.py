"""Events per second through RabbitMQ (127.0.0.1:5672, guest/guest): a plain pika loop
beside a frys job that reads a queue and writes another (the `amqp:` connector,
connectors/rabbitmq.py).

* the peer: pika's BlockingConnection publishing N persistent JSON messages to a durable
  queue (no confirms: the cheapest a client loop can publish), then consuming them with
  manual acks (multiple, every 1000) and prefetch 10000;
* frys: N events published beforehand (not timed), then a job `queue A -> SELECT -> queue
  B` run to the end of its input (`exit_when_idle` 200 ms, taken off the time): the
  source decodes, the sink publishes with publisher confirms; without checkpoints (acks
  per batch), and with a state folder and a checkpoint every 5000 events (acks at each
  checkpoint's commit, prefetch 10000).

Run from the repository root (benchmarks/run_connectors.py calls `measure`):

    .venv/bin/python benchmarks/bench_amqp.py [--events 200000]
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid

import pika
from connector_timing import bench_main

PARAMETERS = pika.ConnectionParameters("127.0.0.1", 5672)
IDLE_SECONDS = 2.0  # RabbitMQ may pause deliveries while it pages a long queue


def _bodies(events: int) -> list[bytes]:
    return [json.dumps({"k": f"k{n % 100}", "v": n, "ts": 1_700_000_000_000 + n}).encode()
            for n in range(events)]


def _publish(channel: pika.adapters.blocking_connection.BlockingChannel, queue: str,
             bodies: list[bytes]) -> None:
    properties = pika.BasicProperties(delivery_mode=2)
    for n, body in enumerate(bodies):
        channel.basic_publish("", queue, body, properties)
        if n % 1000 == 0:
            channel.connection.process_data_events(time_limit=0)


def _consume(channel: pika.adapters.blocking_connection.BlockingChannel, queue: str,
             events: int) -> None:
    channel.basic_qos(prefetch_count=10_000)
    messages = channel.consume(queue, inactivity_timeout=5)
    for received, (method, _properties, _body) in enumerate(messages, 1):
        if method is None:
            raise RuntimeError(f"the peer consumed {received - 1} of {events} messages")
        if received % 1000 == 0 or received == events:
            channel.basic_ack(method.delivery_tag, multiple=True)
        if received == events:
            break
    channel.cancel()


def _peer(events: int) -> list[tuple[str, float]]:
    queue = f"frys_bench_{uuid.uuid4().hex[:8]}"
    bodies = _bodies(events)
    connection = pika.BlockingConnection(PARAMETERS)
    channel = connection.channel()
    channel.queue_declare(queue, durable=True)
    try:
        start = time.perf_counter()
        _publish(channel, queue, bodies)
        published = time.perf_counter()
        _consume(channel, queue, events)
        done = time.perf_counter()
    finally:
        channel.queue_delete(queue)
        connection.close()
    return [("pika loop: publish (persistent, no confirms)", events / (published - start)),
            ("pika loop: consume (manual acks)", events / (done - published)),
            ("pika loop: publish + consume", events / (done - start))]


JOB = """
CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP)
    WITH (event_time = ts, source = 'amqp://127.0.0.1:5672/%2F?queue={source}');
CREATE STREAM out (k STRING, v INT, ts TIMESTAMP)
    WITH (sink = 'amqp://127.0.0.1:5672/%2F?queue={sink}');
INSERT INTO out SELECT k, v, ts FROM ev;
"""


def _frys(events: int, checkpoints: bool) -> float:
    from frys import Pipeline

    source, sink = (f"frys_bench_{uuid.uuid4().hex[:8]}" for _ in range(2))
    connection = pika.BlockingConnection(PARAMETERS)
    channel = connection.channel()
    channel.queue_declare(source, durable=True)
    _publish(channel, source, _bodies(events))
    try:
        with tempfile.TemporaryDirectory() as state:
            pipeline = Pipeline(JOB.format(source=source, sink=sink), keep_results=False,
                                state=state if checkpoints else None)
            start = time.perf_counter()
            pipeline.run(checkpoint_every_events=5000 if checkpoints else None,
                         exit_when_idle=IDLE_SECONDS)
            if not checkpoints:
                pipeline.finish()
            seconds = time.perf_counter() - start - IDLE_SECONDS
        written = channel.queue_declare(sink, passive=True).method.message_count
        if written != events:
            raise RuntimeError(f"the frys job wrote {written} of {events} events")
    finally:
        channel.queue_delete(source)
        channel.queue_delete(sink)
        connection.close()
    return events / seconds


def measure(events: int) -> list[tuple[str, float]]:
    """(label, events/s) rows: the pika loop, then frys jobs queue -> frys -> queue."""
    return [*_peer(events),
            ("frys job amqp -> frys -> amqp (json, confirms; no checkpoints)",
             _frys(events, checkpoints=False)),
            ("frys job amqp -> frys -> amqp (json, confirms; checkpoint per 5000 events)",
             _frys(events, checkpoints=True))]


if __name__ == "__main__":
    bench_main(measure, __doc__.split("\n\n")[0])
