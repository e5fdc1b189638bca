"""Bus (issue 6): the in-process bus, the WAL and persistent topics, Redis Streams beside.

    .venv/bin/python benchmarks/run_bus.py [--events 2000000] [--batches 1000,100,10]
        [--only inproc,wal,persistent,redis] [--dir /tmp] [--redis-url redis://127.0.0.1:6379/0]
        [--profile BATCH]

Every event has the same five fields, 100 bytes of payload: `key` ("user-00042", 10
bytes), `seq` (int64), `value` (float64), `ts` (timestamp, ms) and `pad` (66 bytes, distinct
per event). All events are made before any clock starts. Sections, all in one run:

1. **In-process bus**: a `Broker` topic with one subscription (default bounds: 100,000
   events, 64 MiB). One thread publishes `--events` events as DataFrames of B rows
   (zero-copy slices of one frame) with `Broker.publish`; another drains the subscription
   with `get()`. events/s is end to end (the first publish call starts the clock, the
   consumer taking the last batch stops it); per batch: the publish call's time, and the
   time from the start of its publish call to the consumer holding all its events. Also
   the most bytes the queue held (`peak_bytes`, polars' estimate) and the growth of the
   process' peak RSS over the run. `--repeat` runs per batch size, median by events/s.
2. **WAL append**: a `WriteAheadLog` per fsync policy (always; batch, `--fsync-batch`;
   never), appending either one record per batch of `--wal-record` events (an Arrow IPC
   stream, as a persistent topic logs a batch; encoded before the clock) or one 100-byte
   event (a JSON line) per append. `perf_counter_ns` around each `append`. Runs stop after
   their count of appends or `--always-seconds` (fsync always) / `--wal-seconds` (the
   others), whichever comes first. The log is then read back with `LogReader` (CRC checked;
   from the page cache: it was just written) and, for batch records, decoded to DataFrames.
3. **Persistent topic**: `Broker.topic(kind="persistent")` per fsync policy, batch sizes
   1,000 and 100 (the first two of `--batches`); one thread publishes batches (each is
   encoded and appended to the WAL inside `publish`), a durable consumer
   (`Broker.consumer`) on another thread polls `frames()` and commits (`commit()` writes
   and fsyncs its offset file) after every poll that found events. Afterwards a second
   durable consumer reads the whole log alone: "consume (backlog)".
4. **Redis Streams** (peer), same events, same two batch sizes: this process XADDs each
   event (its five fields as strings, no MAXLEN) in a pipeline of B commands per batch; a
   consumer *process* (Redis clients are other processes; as a thread it fights the
   publisher for the GIL) reads with XREADGROUP COUNT B (BLOCK 100 ms) and XACKs what it
   read. Afterwards a second consumer group reads the whole stream alone. Redis'
   persistence settings are printed; with `redis-benchmark` on PATH, its XADD rate with the
   same fields (C client, one connection, pipeline B) is shown too: what the server takes
   without a Python client. The stream key is deleted before and after; without a
   reachable Redis the section is skipped with a message.

`--profile B` runs section 1 once at batch size B under cProfile instead.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from process_memory import reset_peak_rss, rss_now_mb

from frys.connectors.broker import Broker
from frys.connectors.wal import FsyncPolicy, LogReader, PayloadFormat, WriteAheadLog
from frys.connectors.wal_topic import encode_batch, record_frame

SECTIONS = ("inproc", "wal", "persistent", "redis")
PAD = 66  # 10 (key) + 8 (seq) + 8 (value) + 8 (ts) + 66 = 100 bytes of payload per event
T0_MS = 1_700_000_000_000


def events(count: int, seed: int = 6) -> pl.DataFrame:
    """Deterministic events: key one of 10,000, seq 0.., value in [0, 100), ts rising by
    1 ms, pad 66 characters that differ per event."""
    frame = pl.DataFrame({"i": pl.int_range(count, eager=True)})
    return frame.select(
        pl.format("user-{}", (pl.col("i").hash(seed) % 10_000).cast(pl.String)
                  .str.zfill(5)).alias("key"),
        pl.col("i").cast(pl.Int64).alias("seq"),
        ((pl.col("i").hash(seed + 1) % 10_000) / 100.0).alias("value"),
        (T0_MS + pl.col("i")).cast(pl.Datetime("ms", "UTC")).alias("ts"),
        pl.format("pad-{}-", pl.col("i")).str.pad_end(PAD, "x").alias("pad"),
    )


def slices(frame: pl.DataFrame, batch: int) -> list[pl.DataFrame]:
    return [frame.slice(offset, batch) for offset in range(0, frame.height, batch)]


def json_lines(frame: pl.DataFrame) -> list[bytes]:
    """Each event as one JSON line of exactly 100 bytes (the pad shortened to fit)."""
    lines = []
    for key, seq, value, ts in frame.select(
            "key", "seq", "value", pl.col("ts").dt.epoch("ms")).iter_rows():
        head = f'{{"key":"{key}","seq":{seq},"value":{value},"ts":{ts},"pad":"'
        lines.append((head + "x" * max(0, 100 - len(head) - 2) + '"}').encode())
    return lines


def percentile(values: list[float], fraction: float) -> float:
    """Linearly interpolated percentile (``fraction`` in [0, 1]) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


# --- one publisher thread, one consumer thread ------------------------------------------


@dataclass
class PairResult:
    events: int
    publish_s: float        # the publisher's own time, first call to last return
    sent: array             # per batch: start of its publish call (perf_counter_ns)
    returned: array         # per batch: end of its publish call
    done: array             # per batch: when the consumer held all its events
    consume_rate: float | None = None  # a backlog read alone (persistent topic, Redis)
    extra: dict = field(default_factory=dict)

    @property
    def publish_rate(self) -> float:
        return self.events / self.publish_s

    @property
    def end_to_end_s(self) -> float:
        """First publish call to the consumer holding the last event."""
        return (self.done[-1] - self.sent[0]) / 1e9

    @property
    def rate(self) -> float:
        return self.events / self.end_to_end_s

    @property
    def call_us(self) -> list[float]:
        return [(r - s) / 1000 for s, r in zip(self.sent, self.returned, strict=True)]

    @property
    def latency_us(self) -> list[float]:
        return [(d - s) / 1000 for s, d in zip(self.sent, self.done, strict=True)]


def cumulative(sizes: list[int]) -> list[int]:
    ends = []
    total = 0
    for size in sizes:
        total += size
        ends.append(total)
    return ends


def mark_done(ends: list[int], done: array, index: int, consumed: int, now: int) -> int:
    """Stamp every batch whose events are all consumed now; returns the next index."""
    while index < len(ends) and consumed >= ends[index]:
        done[index] = now
        index += 1
    return index


def publish_all(batches: list, publish: Callable[[object], None],
                time_limit_s: float | None) -> tuple[int, float, array, array]:
    """Publish in order on this thread; (batches published, seconds, sent, returned)."""
    sent = array("q", bytes(8 * len(batches)))
    returned = array("q", bytes(8 * len(batches)))
    clock = time.perf_counter_ns
    count = 0
    started = time.perf_counter()
    for index, batch in enumerate(batches):
        sent[index] = clock()
        publish(batch)
        returned[index] = clock()
        count = index + 1
        if time_limit_s is not None and time.perf_counter() - started >= time_limit_s:
            break
    return count, time.perf_counter() - started, sent[:count], returned[:count]


def publish_consume(batches: list, sizes: list[int], publish: Callable[[object], None],
                    poll: Callable[[], int], time_limit_s: float | None = None,
                    idle_limit_s: float = 30.0) -> PairResult:
    """Publish `batches` in order on this thread while a consumer thread calls `poll()`
    (the events it took, 0 if none came in its wait) until it has every published event.
    With `time_limit_s`, publishing stops after that long."""
    ends = cumulative(sizes)
    done = array("q", bytes(8 * len(batches)))
    published = {"events": -1}  # set when the publisher is finished
    failure: list[BaseException] = []

    def consume() -> None:
        consumed = 0
        index = 0
        last_progress = time.monotonic()
        try:
            while True:
                target = published["events"]
                if target >= 0 and consumed >= target:
                    return
                got = poll()
                if got:
                    consumed += got
                    index = mark_done(ends, done, index, consumed, time.perf_counter_ns())
                    last_progress = time.monotonic()
                elif time.monotonic() - last_progress > idle_limit_s:
                    raise TimeoutError(f"consumer got nothing for {idle_limit_s:g} s "
                                       f"({consumed:,} events taken)")
        except BaseException as error:  # reported by the publishing thread
            failure.append(error)

    consumer = threading.Thread(target=consume, name="bench consumer", daemon=True)
    consumer.start()
    count, seconds, sent, returned = publish_all(batches, publish, time_limit_s)
    published["events"] = ends[count - 1]
    consumer.join()
    if failure:
        raise failure[0]
    return PairResult(ends[count - 1], seconds, sent, returned, done[:count])


# --- 1. in-process bus ------------------------------------------------------------------


def inproc_once(batches: list[pl.DataFrame]) -> PairResult:
    bus = Broker()
    subscription = bus.subscribe("bench")

    def poll() -> int:
        batch = subscription.get(timeout_s=0.1)
        return 0 if batch is None else batch.height

    gc.collect()
    before = rss_now_mb()
    reset = reset_peak_rss()
    result = publish_consume(batches, [b.height for b in batches],
                             lambda b: bus.publish("bench", b), poll)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result.extra = {"peak_bytes": subscription.peak_bytes,
                    "bound": (subscription.max_events, subscription.max_bytes),
                    "rss_growth_mb": peak - before, "peak_reset": reset}
    subscription.close()
    return result


def inproc(data: pl.DataFrame, batch: int, repeat: int) -> PairResult:
    batches = slices(data, batch)
    runs = [inproc_once(batches) for _ in range(repeat)]
    best_first = sorted(runs, key=lambda r: r.rate)
    median = best_first[len(runs) // 2]
    median.extra["rates"] = [r.rate for r in runs]
    median.extra["rss_growth_mb"] = max(r.extra["rss_growth_mb"] for r in runs)
    median.extra["pooled"] = ([v for r in runs for v in r.call_us],  # over the repeats
                              [v for r in runs for v in r.latency_us])
    return median


def profile_inproc(data: pl.DataFrame, batch: int) -> None:
    import cProfile
    import pstats

    batches = slices(data, batch)
    profiler = cProfile.Profile()
    profiler.enable()
    result = inproc_once(batches)
    profiler.disable()
    print(f"in-process bus, batch {batch:,}: {result.rate:,.0f} events/s under cProfile "
          "(publisher thread only: cProfile sees the thread that enabled it)")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


# --- 2. WAL append ----------------------------------------------------------------------


@dataclass
class WalResult:
    policy: str
    kind: str
    appends: int
    events: int
    bytes: int
    seconds: float
    syncs: int
    append_us: list[float]
    read_s: float
    decode_s: float | None
    read_events: int


def wal_run(directory: Path, policy: FsyncPolicy, kind: str, payloads: list[bytes],
            per_record: int, appends: int, limit_s: float) -> WalResult:
    shutil.rmtree(directory, ignore_errors=True)
    log = WriteAheadLog(directory, fsync=policy)
    payload_format = PayloadFormat.ARROW if per_record > 1 else PayloadFormat.JSONL
    append = log.append
    clock = time.perf_counter_ns
    times = []
    pool = len(payloads)
    limit_ns = int(limit_s * 1e9)
    started = clock()
    count = 0
    while count < appends:
        before = clock()
        append(payloads[count % pool], per_record, T0_MS, T0_MS, payload_format)
        after = clock()
        times.append((after - before) / 1000)
        count += 1
        if after - started >= limit_ns:
            break
    seconds = (clock() - started) / 1e9
    log.close()
    syncs, written = log.stats.syncs, log.stats.bytes
    reader = LogReader(directory, 0)
    began = time.perf_counter()
    records = reader.read()
    read_s = time.perf_counter() - began
    reader.close()
    read_events = sum(record.count - skip for record, skip in records)
    decode_s = None
    if per_record > 1:
        began = time.perf_counter()
        decoded = sum(record_frame(record, skip).height for record, skip in records)
        decode_s = time.perf_counter() - began + read_s
        assert decoded == read_events, (decoded, read_events)
    shutil.rmtree(directory, ignore_errors=True)
    return WalResult(policy.mode, kind, count, count * per_record, written, seconds, syncs,
                     times, read_s, decode_s, read_events)


# --- 3. persistent topic ----------------------------------------------------------------


def persistent(directory: Path, policy: FsyncPolicy, batches: list[pl.DataFrame],
               limit_s: float | None) -> PairResult:
    shutil.rmtree(directory, ignore_errors=True)
    bus = Broker()
    name = f"bench_{policy.mode}"
    bus.topic(name, kind="persistent", wal_dir=directory, fsync=policy)
    consumer = bus.consumer(name, "bench")
    commits = {"n": 0}

    def poll() -> int:
        frames = consumer.frames()
        if not frames:
            time.sleep(0.0002)
            return 0
        consumer.commit()
        commits["n"] += 1
        return sum(frame.height for frame in frames)

    result = publish_consume(batches, [b.height for b in batches],
                             lambda b: bus.publish(name, b), poll, limit_s)
    bus.end(name)  # closes the log
    consumer.close()
    # the backlog alone: a new durable consumer reads the whole log again
    backlog = bus.consumer(name, "backlog")
    consumed = 0
    started = time.perf_counter()
    while consumed < result.events:
        consumed += sum(frame.height for frame in backlog.frames())
        backlog.commit()
    result.consume_rate = consumed / (time.perf_counter() - started)
    backlog.close()
    on_disk = sum(p.stat().st_size for p in directory.glob("*.wal"))
    result.extra = {"commits": commits["n"], "stored_bytes": on_disk}
    shutil.rmtree(directory, ignore_errors=True)
    return result


# --- 4. Redis Streams -------------------------------------------------------------------


def redis_connect(url: str):
    """(client, None) or (None, why Redis cannot be used)."""
    try:
        import redis
    except ImportError:
        return None, "the redis package is not installed (pip install 'frys[bench]')"
    try:
        client = redis.Redis.from_url(url, socket_timeout=30)
        client.ping()
    except Exception as error:  # ConnectionError, auth, ...
        return None, f"cannot reach Redis at {url}: {error}"
    return client, None


def redis_settings(client) -> dict[str, str]:
    info = client.info("server")
    settings = {"version": str(info.get("redis_version", "?"))}
    for key in ("appendonly", "appendfsync", "save"):
        try:
            settings.update({k: str(v) for k, v in client.config_get(key).items()})
        except Exception:  # CONFIG may be renamed or disabled
            settings[key] = "?"
    return settings


def redis_rows(frame: pl.DataFrame, batch: int) -> list[list[dict[str, str]]]:
    rows = [{"key": key, "seq": str(seq), "value": repr(value), "ts": str(ts), "pad": pad}
            for key, seq, value, ts, pad in frame.select(
                "key", "seq", "value", pl.col("ts").dt.epoch("ms"), "pad").iter_rows()]
    return [rows[offset: offset + batch] for offset in range(0, len(rows), batch)]


def redis_consumer(url: str, key: str, group: str, batch: int, target, ready, out) -> None:
    """The consumer process of the Redis run: XREADGROUP COUNT batch + XACK until `target`
    (set by the publisher when it is done) events were read; sends back (time, events
    read so far) after every read."""
    import redis

    reader = redis.Redis.from_url(url, socket_timeout=30)
    stream = {key: ">"}
    consumed = 0
    marks = []
    last_progress = time.monotonic()
    ready.set()
    while target.value < 0 or consumed < target.value:
        reply = reader.xreadgroup(group, "c1", stream, count=batch, block=100)
        if not reply or not reply[0][1]:
            if time.monotonic() - last_progress > 120:  # the publisher is gone
                break
            continue
        last_progress = time.monotonic()
        ids = [entry_id for entry_id, _ in reply[0][1]]
        reader.xack(key, group, *ids)
        consumed += len(ids)
        marks.append((time.perf_counter_ns(), consumed))  # CLOCK_MONOTONIC: system-wide
    reader.close()
    out.put(marks)


def redis_streams(client, url: str, batches: list[list[dict[str, str]]], batch: int
                  ) -> PairResult:
    """Publish on this thread while a consumer process (consumer group `live`) reads; then
    read the whole stream again alone (group `backlog`) for the consume rate."""
    import multiprocessing

    key = f"frys:bench:{os.getpid()}"
    client.delete(key)
    client.xgroup_create(key, "live", id="0", mkstream=True)
    context = multiprocessing.get_context("spawn")  # no fork: polars' threads are running
    target = context.Value("q", -1)
    ready = context.Event()
    out = context.Queue()
    consumer = context.Process(target=redis_consumer, name="redis consumer",
                               args=(url, key, "live", batch, target, ready, out))
    consumer.start()

    def publish(rows: list[dict[str, str]]) -> None:
        pipe = client.pipeline(transaction=False)
        for row in rows:
            pipe.xadd(key, row)
        pipe.execute()

    try:
        if not ready.wait(60):
            raise TimeoutError("the Redis consumer process did not start")
        count, seconds, sent, returned = publish_all(batches, publish, None)
        ends = cumulative([len(rows) for rows in batches[:count]])
        target.value = ends[-1]
        marks = out.get(timeout=120)
        consumer.join(30)
        done = array("q", bytes(8 * count))
        index = 0
        for now, consumed in marks:
            index = mark_done(ends, done, index, consumed, now)
        result = PairResult(ends[-1], seconds, sent, returned, done)
        result.extra = {"stored_bytes": client.memory_usage(key, samples=0) or 0,
                        "pending": client.xpending(key, "live")["pending"]}
        # the backlog alone: the same entries again, through a second group
        client.xgroup_create(key, "backlog", id="0")
        consumed = 0
        started = time.perf_counter()
        while consumed < result.events:
            reply = client.xreadgroup("backlog", "c1", {key: ">"}, count=batch)
            ids = [entry_id for entry_id, _ in reply[0][1]] if reply else []
            if not ids:
                raise RuntimeError(f"the stream holds {consumed:,} entries, not "
                                   f"{result.events:,}")
            client.xack(key, "backlog", *ids)
            consumed += len(ids)
        result.consume_rate = consumed / (time.perf_counter() - started)
    finally:
        if consumer.is_alive():
            consumer.terminate()
        client.delete(key)
    return result


def redis_benchmark(client, url: str, batch: int, count: int) -> dict | None:
    """redis-benchmark's XADD rate with the same five fields (C client, one connection,
    pipeline `batch`), or None without the tool."""
    tool = shutil.which("redis-benchmark")
    if tool is None:
        return None
    from urllib.parse import urlparse

    parsed = urlparse(url)
    key = f"frys:bench:rb:{os.getpid()}"
    command = [tool, "-h", parsed.hostname or "127.0.0.1", "-p", str(parsed.port or 6379),
               "-c", "1", "-P", str(batch), "-n", str(count), "--csv",
               "XADD", key, "*", "key", "user-00042", "seq", "1234567", "value", "12.34",
               "ts", str(T0_MS), "pad", "x" * PAD]
    if parsed.password:
        command[1:1] = ["-a", parsed.password]
    if parsed.path.strip("/").isdigit():
        command[1:1] = ["--dbnum", parsed.path.strip("/")]
    client.delete(key)
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False,
                              timeout=120)
    finally:
        client.delete(key)
    lines = [line for line in done.stdout.splitlines() if line.startswith('"XADD')]
    if done.returncode != 0 or not lines:
        return None
    cells = json.loads("[" + lines[-1] + "]")
    return {"rps": float(cells[1]), "p50_ms": float(cells[4]), "p99_ms": float(cells[6])}


# --- output -----------------------------------------------------------------------------


def pair_row(name: str, batch: int, result: PairResult, held: str, durability: str
             ) -> str:
    calls, latency = result.extra.get("pooled") or (result.call_us, result.latency_us)
    consume = "-" if result.consume_rate is None else f"{result.consume_rate:,.0f}"
    return (f"| {name} | {batch:,} | {result.events:,} | {result.publish_rate:,.0f} | "
            f"{consume} | {result.rate:,.0f} | {percentile(calls, 0.5):,.0f} / "
            f"{percentile(calls, 0.99):,.0f} | {percentile(latency, 0.5):,.0f} / "
            f"{percentile(latency, 0.99):,.0f} | {held} | {durability} |")


def policy_label(policy: FsyncPolicy) -> str:
    if policy.mode == "batch":
        return f"batch ({policy.interval_ms} ms / {policy.max_bytes >> 20} MiB)"
    return policy.mode


DURABILITY = {"always": "survives a machine crash",
              "batch": "machine crash: loses the last interval",
              "never": "survives a process crash"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000,
                        help="events per in-process run")
    parser.add_argument("--batches", default="1000,100,10",
                        help="batch sizes of the in-process bus (the first is also used for "
                             "the persistent topic and Redis, with the second)")
    parser.add_argument("--repeat", type=int, default=3, help="in-process runs per batch size")
    parser.add_argument("--persistent-events", type=int, default=500_000)
    parser.add_argument("--redis-events", type=int, default=100_000)
    parser.add_argument("--wal-record", type=int, default=100,
                        help="events per WAL record in the batch-record runs")
    parser.add_argument("--wal-appends", type=int, default=200_000,
                        help="appends per WAL run (at most; see --wal-seconds)")
    parser.add_argument("--wal-seconds", type=float, default=5.0)
    parser.add_argument("--always-seconds", type=float, default=3.0,
                        help="time bound of the fsync=always runs (WAL and persistent topic)")
    parser.add_argument("--fsync-batch", default="batch:100:4194304",
                        help="the batch policy, as in wal: URIs (batch:<ms>:<bytes>)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--dir", default=None,
                        help="where the WAL runs write (a fresh temporary directory in it; "
                             "default: the system's temporary directory)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--profile", type=int, metavar="BATCH",
                        help="profile the in-process bus at this batch size and stop")
    args = parser.parse_args()
    sizes = [int(b) for b in args.batches.split(",") if b.strip()]
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}")
    policies = [FsyncPolicy.always(), FsyncPolicy.parse(args.fsync_batch), FsyncPolicy.never()]

    most = max(args.events, args.persistent_events, args.redis_events)
    data = events(most)
    if args.profile:
        profile_inproc(data.head(args.events), args.profile)
        return
    print(f"events: 5 fields, 100 bytes of payload each (polars holds "
          f"{data.estimated_size() / data.height:.0f} bytes/event); cores: {os.cpu_count()}, "
          f"polars {pl.__version__}; load average {os.getloadavg()[0]:.1f}", flush=True)

    rows: list[str] = []
    notes: list[str] = []

    if "inproc" in only:
        print("1. in-process bus ...", flush=True)
        memory = []
        for batch in sizes:
            result = inproc(data.head(args.events), batch, args.repeat)
            rates = ", ".join(f"{r:,.0f}" for r in result.extra["rates"])
            print(f"   batch {batch:,}: {result.rate:,.0f} events/s (runs: {rates})",
                  flush=True)
            queued = result.extra["peak_bytes"]
            rows.append(pair_row("frys in-process bus", batch, result,
                                 f"{queued / 2**20:,.0f} MB queued at most", "none (memory)"))
            memory.append((batch, result))
        notes.append("in-process: events/s is the median of "
                     f"{args.repeat} runs; latencies pooled over them. Subscription bound "
                     f"{memory[0][1].extra['bound'][0]:,} events / "
                     f"{memory[0][1].extra['bound'][1] >> 20} MiB.")
        for batch, result in memory:
            growth = max(0.0, result.extra["rss_growth_mb"])
            notes.append(f"in-process batch {batch:,}: peak RSS grew {growth:,.0f} MB over a "
                         f"run of {result.events:,} events "
                         f"({growth * 2**20 / result.events:,.0f} bytes/event of the run; "
                         "the queue is bounded, so this does not grow with the run)")

    temp_root = Path(tempfile.mkdtemp(prefix="frys_bus_", dir=args.dir))
    try:
        if "wal" in only:
            print("2. WAL append ...", flush=True)
            record_frames = slices(data.head(200 * args.wal_record), args.wal_record)
            records = [encode_batch(frame) for frame in record_frames]
            singles = json_lines(data.head(10_000))
            wal_results = []
            for policy in policies:
                limit = args.always_seconds if policy.mode == "always" else args.wal_seconds
                for kind, payloads, per in (
                        (f"{args.wal_record} events/record", records, args.wal_record),
                        ("1 event/record", singles, 1)):
                    appends = args.wal_appends if per == 1 else \
                        max(1, args.wal_appends // 10)
                    result = wal_run(temp_root / "wal", policy, kind, payloads, per,
                                     appends, limit)
                    result.policy = policy_label(policy)
                    wal_results.append(result)
                    print(f"   {result.policy}, {kind}: {result.events / result.seconds:,.0f}"
                          " events/s", flush=True)
            record_bytes = statistics.mean(len(r) for r in records)
            notes.append(f"WAL records of {args.wal_record} events: Arrow IPC streams of "
                         f"{record_bytes:,.0f} bytes ({record_bytes / args.wal_record:,.0f} "
                         "bytes/event with the schema); single events: 100-byte JSON lines; "
                         "each record adds a 40-byte frame (length, CRC32C, offset, count, "
                         "times, format).")

        if "persistent" in only:
            print("3. persistent topic ...", flush=True)
            for batch in sizes[:2]:
                batches = slices(data.head(args.persistent_events), batch)
                for policy in policies:
                    limit = args.always_seconds if policy.mode == "always" else None
                    result = persistent(temp_root / "topic", policy, batches, limit)
                    stored = result.extra["stored_bytes"] / result.events
                    rows.append(pair_row(f"frys persistent topic, fsync {policy_label(policy)}",
                                         batch, result,
                                         f"{stored:,.0f} B/event on disk",
                                         DURABILITY[policy.mode]))
                    print(f"   batch {batch:,}, {policy.mode}: {result.rate:,.0f} events/s, "
                          f"{result.extra['commits']:,} commits", flush=True)
            notes.append("persistent: the consumer is a thread of the publishing process; "
                         "it commits its offset (file write + fsync + directory fsync) after "
                         "every poll that found events, and polls again after 0.2 ms when "
                         "it found none; frames() returns all that is there, so the backlog "
                         "read is one poll; fsync always runs stop publishing after "
                         f"{args.always_seconds:g} s.")
    finally:
        shutil.rmtree(temp_root, ignore_errors=True)

    redis_note = None
    if "redis" in only:
        client, why_not = redis_connect(args.redis_url)
        if client is None:
            redis_note = f"Redis Streams peer skipped: {why_not}"
            print(redis_note, flush=True)
        else:
            import redis

            settings = redis_settings(client)
            parser_name = "hiredis" if redis.utils.HIREDIS_AVAILABLE else "pure-Python parser"
            persistence = (f"appendonly={settings.get('appendonly')}, "
                           f"appendfsync={settings.get('appendfsync')}, "
                           f"save={settings.get('save')!r}")
            on_disk = settings.get("appendonly") == "yes" or settings.get("save")
            durability = f"Redis: {persistence}" + ("" if on_disk else " (nothing on disk)")
            print(f"4. Redis Streams {settings['version']} at {args.redis_url} ({persistence}); "
                  f"redis-py {redis.__version__}, {parser_name} ...", flush=True)
            for batch in sizes[:2]:
                batches = redis_rows(data.head(args.redis_events), batch)
                result = redis_streams(client, args.redis_url, batches, batch)
                stored = result.extra["stored_bytes"] / result.events
                rows.append(pair_row(f"Redis Streams {settings['version']} (redis-py "
                                     f"{redis.__version__}, {parser_name})", batch, result,
                                     f"{stored:,.0f} B/event in memory", durability))
                print(f"   batch {batch:,}: {result.rate:,.0f} events/s end to end, "
                      f"{result.publish_rate:,.0f} XADD/s", flush=True)
                if result.extra["pending"]:
                    notes.append(f"Redis batch {batch}: {result.extra['pending']} entries "
                                 "left unacknowledged")
            for batch in sizes[:2]:
                measured = redis_benchmark(client, args.redis_url, batch, args.redis_events)
                if measured is not None:
                    rows.append(f"| redis-benchmark XADD (C client, publish only) | {batch:,} | "
                                f"{args.redis_events:,} | {measured['rps']:,.0f} | - | - | "
                                f"{measured['p50_ms'] * 1000:,.0f} / "
                                f"{measured['p99_ms'] * 1000:,.0f} (per command) | - | - | "
                                f"{durability} |")
            client.close()
            notes.append("Redis: one XADD per event (no MAXLEN), B per pipeline, from this "
                         "process; the consumer is a separate process (XREADGROUP COUNT B "
                         "BLOCK 100 + XACK per read), as Redis clients are; the entries stay "
                         "in the stream (B/event: MEMORY USAGE of the stream at the end); "
                         "consume (backlog): a second group reading them all again, alone.")

    print("\nPublish + consume: one publisher, one consumer, at the same time, as fast as "
          "they go")
    print("| contender | batch | events | publish events/s | consume events/s (backlog) | "
          "end-to-end events/s | publish call p50 / p99 (us) | batch latency p50 / p99 (us) "
          "| held | durability |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for row in rows:
        print(row)
    print("publish call: one publish / one XADD pipeline of a batch; batch latency: from the "
          "start of its publish call to the consumer holding all its events (at saturation "
          "mostly the wait in what is queued ahead of it); consume (backlog): a second "
          "consumer reading everything published, alone, afterwards")

    if "wal" in only:
        print("\nWAL append (one thread; read back with LogReader afterwards)")
        print("| fsync | record | appends | appends/s | events/s | MB/s | append p50 / p99 "
              "(us) | fsyncs | read events/s | read + decode events/s |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in wal_results:
            decode = "-" if r.decode_s is None else f"{r.read_events / r.decode_s:,.0f}"
            print(f"| {r.policy} | {r.kind} | {r.appends:,} | {r.appends / r.seconds:,.0f} | "
                  f"{r.events / r.seconds:,.0f} | {r.bytes / r.seconds / 1e6:,.0f} | "
                  f"{percentile(r.append_us, 0.5):,.0f} / {percentile(r.append_us, 0.99):,.0f}"
                  f" | {r.syncs:,} | {r.read_events / r.read_s:,.0f} | {decode} |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (1 minute)")
    for note in notes:
        print("note:", note)
    if redis_note:
        print("note:", redis_note)


if __name__ == "__main__":
    main()
