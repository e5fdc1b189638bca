"""Events/s through NATS JetStream: frys's `nats:` source and sink beside a plain client loop,
in the same run (`nats bench`, NATS's own tool, is used when it is on PATH).

Rows (label, events/s):

* `nats bench js pub+sub` (if the `nats` CLI is on PATH): NATS's own tool publishing N
  messages to a JetStream stream and consuming them: the server's ceiling on this machine;
* `nats-py publish_async+fetch+ack loop`: a plain nats-py client, its documented calls,
  publishing N JSON events to a stream (`publish_async`, 1,000 PubAcks awaited at a time),
  then reading them through a durable pull consumer (`fetch(1000)`) and acking each: the
  work frys's source and sink do, without a job (frys's connector issues its own pull
  requests and publishes with its own reply inbox, past these calls' per-message waits);
* `frys nats -> job -> nats`: a frys job reading N JSON events through a durable pull
  consumer, passing them through and publishing them (with Nats-Msg-Id) to another
  stream, timed from the run's start until the output stream holds N messages.

Run from the repository root (NATS with JetStream on 127.0.0.1:4222):

    .venv/bin/python benchmarks/bench_nats.py [--events 200000]
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from connector_timing import bench_main, events, passthrough_job, time_job

HOST, PORT = "127.0.0.1", 4222
URL = f"nats://{HOST}:{PORT}"


def _payloads(count: int) -> list[bytes]:
    from frys.connectors.payloads import encode_batch

    return encode_batch(events(count), "json")


async def _fill(js, subject: str, payloads: list[bytes]) -> None:
    for start in range(0, len(payloads), 1000):
        acks = [await js.publish_async(subject, payload)
                for payload in payloads[start:start + 1000]]
        await asyncio.gather(*acks)


async def _stream(stream: str, *subjects: str):
    import nats

    client = await nats.connect(URL)
    js = client.jetstream()
    await js.add_stream(name=stream, subjects=list(subjects))
    return client, js


def nats_bench(count: int) -> float | None:
    if shutil.which("nats") is None:
        return None
    subject = f"bench.cli.{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    subprocess.run(["nats", "bench", subject, "--js", "--pub", "1", "--sub", "1",
                    "--msgs", str(count), "--size", "64", "--server", URL, "--purge"],
                   check=True, capture_output=True)
    return count / (time.perf_counter() - started)


def client_loop(count: int) -> float:
    payloads = _payloads(count)

    async def run() -> float:
        stream = f"BENCH_LOOP_{uuid.uuid4().hex[:8]}"
        client, js = await _stream(stream, f"{stream}.ev")
        started = time.perf_counter()
        await _fill(js, f"{stream}.ev", payloads)
        subscription = await js.pull_subscribe(f"{stream}.ev", durable="loop", stream=stream)
        read = 0
        while read < count:
            messages = await subscription.fetch(1000, timeout=5)
            for message in messages:
                await message.ack()
            read += len(messages)
        await client.flush()
        elapsed = time.perf_counter() - started
        await js.delete_stream(stream)
        await client.close()
        return count / elapsed

    return asyncio.run(run())


def frys_job(count: int) -> float:
    import nats

    payloads = _payloads(count)
    tag = uuid.uuid4().hex[:8]
    source, sink = f"BENCH_IN_{tag}", f"BENCH_OUT_{tag}"

    async def fill() -> None:
        client, js = await _stream(source, f"{source}.ev")
        await _fill(js, f"{source}.ev", payloads)
        await js.add_stream(name=sink, subjects=[f"{sink}.ev"])
        await client.close()

    asyncio.run(fill())
    loop = asyncio.new_event_loop()
    client = loop.run_until_complete(nats.connect(URL))
    js = client.jetstream()

    def output_messages() -> int:
        return int(loop.run_until_complete(js.stream_info(sink)).state.messages)

    text = passthrough_job(f"{URL}/{source}.ev?stream={source}",
                           f"{URL}/{sink}.ev?stream={sink}")
    try:
        with tempfile.TemporaryDirectory() as folder:
            elapsed = time_job(text, Path(folder), count, output_messages)
    finally:
        for stream in (source, sink):
            loop.run_until_complete(js.delete_stream(stream))
        loop.run_until_complete(client.close())
        loop.close()
    return count / elapsed


def measure(count: int) -> list[tuple[str, float]]:
    rows = []
    peer = nats_bench(count)
    if peer is not None:
        rows.append(("nats bench js pub+sub", peer))
    rows.append(("nats-py publish_async+fetch+ack loop", client_loop(count)))
    rows.append(("frys nats -> job -> nats", frys_job(count)))
    return rows


if __name__ == "__main__":
    bench_main(measure, __doc__.split("\n\n")[0])
