"""The cost of an extra host (run_scaleout.py): what crosses the network per event, what it
costs to serialize, and a projection of throughput to H hosts.

Measured here, in this process, on the benchmark's own data:

* **routed bytes per event**: a source batch (`batch_rows` rows, as the file source reads
  it: an Arrow record batch of 65,536 rows; a JSONL chunk of 8 MiB, about 200k rows) cut
  by the router (lowering.Router) into its key groups, each part the item bytewax
  exchanges, `(group, (group, stream, (ROWS, producer, frame, None)))`, pickled as bytewax
  pickles an item between processes (`pickle.dumps`, default protocol); summed over the
  parts, over the rows. W6: both streams.
* **output bytes per output row**: the job's output rows (the embedded run's sink file)
  in the same cut, as they travel to the sink's one partition; times output rows per event.
  A sink of part files (the Arrow jobs' folder) is written by every process, each its own
  rows (registry.Connector.shared_sink): its rows do not cross, and it has no sink bound.
* **serialization time**: `pickle.dumps` + `pickle.loads` of those items, per MB and per
  event (one side each: the sender pickles, the receiver unpickles).
* **sink write rate**: the output rows through frys' JSONL writer into /dev/null (the sink
  is one partition: one writer for the whole cluster).

The projection (`project`) takes the CPU per event, start-up taken off, of one process
(`--runtime bytewax`, one worker) and of two (`-p 2`, both processes together) on this
2-core machine: CPU time counts what the processes work, not how long they wait on each
other or on other programs, so it is a bound that a quiet machine approaches:

    C1 = CPU seconds per event in one process (no exchange); R1 = 1 / C1
    C2 = CPU seconds per event over both processes of -p 2
    x  = (C2 - C1) / (1/2)      CPU seconds per row that crosses to another process (in
                                -p 2, half of the routed rows cross): pickling, loopback
                                TCP, timely's progress messages, the second interpreter
    P  = 2 H processes (2 per host, one per core, as here), one worker each; G = 4 P
         key groups (`frys run`'s default: key_groups.default_key_groups)
    C(P) = C1 + (P-1)/P * x + (G - 8) * g / B
                                g = 0.5 ms: the fixed cost of one operator call per
                                batch and key group (engine/scaleout/key_groups.py), B =
                                rows per source batch; the 8 groups of the measured -p 2
                                are already in C1 + x/2 = C2. Each batch is cut into G
                                parts, so at 64 hosts (512 groups) this term outweighs
                                C1: more rows per batch, or fewer groups per worker, are
                                what scale there
    CPU bound:      T_cpu  = P / C(P)
    network bound:  each host sends (H-1)/H of its routed rows and of its output rows:
                    T_net  = H * NIC / ((b_in + o * b_out) * (H-1)/H)
    sink bound:     one partition receives and writes every output row:
                    T_sink = min(NIC / (o * b_out), S / o)
                    (none for a shared sink, a folder of part files: its rows are
                    written where they are made, b_out = 0 on the wire)
    T(H) = min(T_cpu, T_net, T_sink)

Two values of x bracket the projection: the measured one and pickling alone (dumps +
loads of the routed items, measured here: a lower bound of what crossing a process costs).
Both assume the processes never wait on each other: the wall-clock ratios of the run say
how far this machine was from that.

with b_in the routed bytes per event, o the output rows per event, b_out the bytes per
output row, S the sink's write rate (rows/s) and NIC the bytes/s of one host's link
(10 and 25 Gbit/s, full duplex, 80% of the line rate usable).
"""

from __future__ import annotations

import io
import os
import pickle
import time
from dataclasses import dataclass

import polars as pl

from frys.connectors.jsonl import JsonlWriter
from frys.engine.scaleout.inband import ROWS
from frys.engine.scaleout.key_groups import default_key_groups, split_by_key_group

GROUP_CALL_S = 0.5e-3  # per operator call (key group) per batch: key_groups.py
USABLE = 0.8  # of a link's line rate
LINKS_GBIT = (10, 25)
HOSTS = (1, 8, 64)
KEYS = {"W2": {"events": ["k"]}, "W4": {"ev": ["k"]},
        "W6": {"orders": ["id"], "shipments": ["order_id"]}}


@dataclass
class Wire:
    """What one event costs on the wire and in serialization, for one workload."""

    workload: str
    batch_rows: int
    routed_bytes_per_event: float
    routed_items_per_batch: float
    output_rows_per_event: float
    output_bytes_per_row: float
    pickle_s_per_mb: float  # dumps + loads
    pickle_s_per_event: float  # of the routed rows (dumps + loads)
    sink_rows_per_s: float
    shared_sink: bool = False  # written by every process: its rows neither cross nor queue

    @property
    def wire_bytes_per_event(self) -> float:
        crossing = 0.0 if self.shared_sink else self.output_rows_per_event
        return self.routed_bytes_per_event + crossing * self.output_bytes_per_row


# the key groups of the measured `-p 2` run (two processes, one worker each)
MEASURED_GROUPS = default_key_groups(2)


def _items(stream: str, frame: pl.DataFrame, keys: list[str]) -> list[tuple]:
    parts = split_by_key_group(frame, [pl.col(k) for k in keys], MEASURED_GROUPS)
    return [(str(g), (g, stream, (ROWS, 0, part, None))) for g, part in parts]


def _timed_pickle(items: list[tuple], repeat: int = 3) -> tuple[int, float]:
    """(bytes, best seconds of dumps + loads of every item)."""
    best = float("inf")
    size = 0
    for _ in range(repeat):
        start = time.perf_counter()
        blobs = [pickle.dumps(item) for item in items]
        for blob in blobs:
            pickle.loads(blob)
        best = min(best, time.perf_counter() - start)
        size = sum(len(b) for b in blobs)
    return size, best


def measure(workload: str, inputs: dict[str, pl.DataFrame], output: pl.DataFrame,
            events: int, batch_rows: int, shared_sink: bool = False) -> Wire:
    """Wire cost of `workload` with source batches of `batch_rows` rows: `inputs` are the
    streams' frames (at least `batch_rows` rows each), `output` the job's output rows
    over all `events`; `shared_sink`: the sink is a folder of part files, written by
    every process."""
    routed_bytes = 0
    routed_rows = 0
    items_count = 0
    seconds = 0.0
    for stream, frame in inputs.items():
        batch = frame.head(batch_rows)
        items = _items(stream, batch, KEYS[workload][stream])
        size, took = _timed_pickle(items)
        routed_bytes += size
        routed_rows += batch.height
        items_count += len(items)
        seconds += took
    out_per_event = output.height / events
    out_rows = max(1, round(batch_rows * out_per_event))
    out_batch = output.head(out_rows)
    # output rows leave each key group as its own batch, like the input's parts
    out_items = [("0", (ROWS, 0, part, None)) for part in
                 (out_batch.slice(i, max(1, out_rows // MEASURED_GROUPS))
                  for i in range(0, out_rows, max(1, out_rows // MEASURED_GROUPS)))]
    out_size, _ = _timed_pickle(out_items)
    sink_rate = _sink_rate(output.head(min(output.height, 500_000)))
    return Wire(workload, batch_rows, routed_bytes / routed_rows,
                items_count / len(inputs), out_per_event, out_size / out_batch.height,
                seconds / (routed_bytes / 1e6), seconds / routed_rows, sink_rate, shared_sink)


def _sink_rate(frame: pl.DataFrame) -> float:
    """Rows/s of frys' JSONL writer (the file: sink's) into /dev/null, best of three."""
    best = float("inf")
    for _ in range(3):
        with open(os.devnull, "wb") as null:
            writer = JsonlWriter(null, close_at_end=False)
            start = time.perf_counter()
            for i in range(0, frame.height, 50_000):
                writer.write(frame.slice(i, 50_000))
            best = min(best, time.perf_counter() - start)
    return frame.height / best if best > 0 else float("inf")


@dataclass
class Projection:
    hosts: int
    link_gbit: int
    cpu: float
    net: float
    sink: float

    @property
    def total(self) -> float:
        return min(self.cpu, self.net, self.sink)

    @property
    def bound(self) -> str:
        total = self.total
        return "CPU" if total == self.cpu else "network" if total == self.net else "sink"


def project(r1: float, x: float, wire: Wire, hosts: int, link_gbit: int) -> Projection:
    """T(H) from R1 = 1 / C1 and the exchange cost x (CPU seconds per crossing row)."""
    c1 = 1 / r1
    processes = 2 * hosts
    groups = default_key_groups(processes)
    cost = c1 + (processes - 1) / processes * x + \
        (groups - MEASURED_GROUPS) * GROUP_CALL_S / wire.batch_rows
    cpu = processes / cost
    nic = link_gbit * 1e9 / 8 * USABLE
    crossing = (hosts - 1) / hosts
    net = float("inf") if hosts == 1 else hosts * nic / (wire.wire_bytes_per_event * crossing)
    out = wire.output_rows_per_event
    sink = min(nic / (out * wire.output_bytes_per_row) if hosts > 1 else float("inf"),
               wire.sink_rows_per_s / out) if out > 0 and not wire.shared_sink else float("inf")
    return Projection(hosts, link_gbit, cpu, net, sink)


def describe(wire: Wire) -> str:
    buffer = io.StringIO()
    buffer.write(
        f"{wire.workload}: source batch {wire.batch_rows:,} rows -> "
        f"{wire.routed_items_per_batch:.0f} routed items per stream; routed "
        f"{wire.routed_bytes_per_event:.1f} B/event pickled; output "
        f"{wire.output_rows_per_event:.3f} rows/event x {wire.output_bytes_per_row:.1f} B/row; "
        f"wire {wire.wire_bytes_per_event:.1f} B/event; pickle dumps+loads "
        f"{wire.pickle_s_per_mb * 1e3:.2f} ms/MB = {wire.pickle_s_per_event * 1e9:.0f} "
        f"ns/event; " + ("sink of part files, written by every process" if wire.shared_sink
                         else f"sink (JSONL writer) {wire.sink_rows_per_s:,.0f} rows/s"))
    return buffer.getvalue()
