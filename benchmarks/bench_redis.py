"""Events/s through Redis Streams: frys's `redis:` source and sink beside Redis's own tool and
a plain client loop, in the same run.

Rows (label, events/s):

* `redis-benchmark XADD` (if on PATH): Redis's own tool adding N entries of four fields,
  pipelined 100 deep: the server's ceiling for adds on this machine;
* `redis-py XADD+XREADGROUP loop`: a plain client publishing N entries (pipelined, 1,000 a
  round) then reading them as a consumer group (COUNT 1000) and acking them: the work
  frys's source and sink do, without a job;
* `frys redis -> job -> redis`: a frys job reading N entries from a stream through a
  consumer group (`format=fields`), passing them through, and adding them to another
  stream, timed from the run's start until the output stream holds N entries.

Run from the repository root (Redis on 127.0.0.1:6379):

    .venv/bin/python benchmarks/bench_redis.py [--events 200000]
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from connector_timing import bench_main, events, passthrough_job, time_job

HOST, PORT = "127.0.0.1", 6379


def _client():
    import redis

    return redis.Redis(host=HOST, port=PORT, decode_responses=True, socket_timeout=60)


def _fill(client, stream: str, count: int) -> None:
    from frys.connectors.redis_streams import _field_frame

    frame = _field_frame(events(count))
    rows = [dict(zip(frame.columns, row, strict=True)) for row in frame.iter_rows()]
    for start in range(0, count, 1000):
        pipe = client.pipeline(transaction=False)
        for fields in rows[start:start + 1000]:
            pipe.xadd(stream, fields)
        pipe.execute()


def redis_benchmark(count: int) -> float | None:
    if shutil.which("redis-benchmark") is None:
        return None
    key = f"bench-rb-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    subprocess.run(["redis-benchmark", "-h", HOST, "-p", str(PORT), "-n", str(count), "-P",
                    "100", "-c", "4", "-q", "XADD", key, "*", "k", "1", "v", "2.5", "s",
                    "sym1", "ts", "2023-11-14T22:13:20.000Z"], check=True,
                   capture_output=True)
    elapsed = time.perf_counter() - started
    _client().delete(key)
    return count / elapsed


def client_loop(count: int) -> float:
    client = _client()
    stream = f"bench-loop-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    _fill(client, stream, count)
    client.xgroup_create(stream, "g", id="0")
    read = 0
    while read < count:
        reply = client.xreadgroup("g", "c", {stream: ">"}, count=1000)
        entries = reply[0][1] if reply else []
        if entries:
            client.xack(stream, "g", *[entry_id for entry_id, _ in entries])
        read += len(entries)
    elapsed = time.perf_counter() - started
    client.delete(stream)
    return count / elapsed


def frys_job(count: int) -> float:
    client = _client()
    tag = uuid.uuid4().hex[:8]
    source, sink = f"bench-in-{tag}", f"bench-out-{tag}"
    _fill(client, source, count)
    text = passthrough_job(f"redis://{HOST}:{PORT}/{source}?group=frys",
                           f"redis://{HOST}:{PORT}/{sink}")
    with tempfile.TemporaryDirectory() as folder:
        elapsed = time_job(text, Path(folder), count, lambda: client.xlen(sink))
    client.delete(source, sink)
    return count / elapsed


def measure(count: int) -> list[tuple[str, float]]:
    rows = []
    peer = redis_benchmark(count)
    if peer is not None:
        rows.append(("redis-benchmark XADD (-P 100 -c 4)", peer))
    rows.append(("redis-py XADD+XREADGROUP+XACK loop", client_loop(count)))
    rows.append(("frys redis -> job -> redis", frys_job(count)))
    return rows


if __name__ == "__main__":
    bench_main(measure, __doc__.split("\n\n")[0])
