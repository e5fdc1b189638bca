"""W6: the interval join of two streams (issue 14), with Flink SQL and DuckDB beside; W7: the
stream-table joins, and W8: the window join (NEXMark q8's shape), the same three.

    .venv/bin/python benchmarks/run_joins.py [--events 1000000] [--keys 100000]
        [--batch 100000] [--rate 100000] [--rate-batch 1000] [--rate-events 300000]
        [--flink-python ~/.cache/frys/flink-2.3.0/bin/python | --no-flink] [--no-duckdb]
        [--workload W6 | W7 | W8 | all] [--table-rows 100000]

`--workload all` (the default) runs W6, W7 and W8, in that order. The code: this entry point,
joins_harness.py (the command line, feeding frys, the paced latency harness, the peers'
runners, the result table), joins_streams.py (a join of two streams, run: W6 and W8),
joins_w6.py, joins_w7.py and joins_w8.py (each workload's data, frys job, DuckDB statement
and Flink peer kinds); peer_flink_joins.py is the Flink peer's child process. Without
duckdb installed (CI installs only `.[test]`), or with `--no-duckdb`, the DuckDB peer is
skipped and the output says so; the counts column is then `-` unless Flink ran.

W7 (`--workload W7`, or after W6 by default): `--events` stream events enriched from a
table of `--table-rows` rows, current rows (the table published whole first) and versioned
(a changelog of versions interleaved with the stream, each event joined as of its time),
INNER and LEFT; DuckDB (hash join / ASOF join) and Flink SQL (peer_flink_joins.py main_w7:
a regular join with the bounded table / the event-time temporal join) beside; rows and the
sum of the joined `tier` compared; latency as for W6, each row from when the publish that
carried its event was due. W7's functions below say more; benchmarks/README.md says what
each peer computes.

W8 (`--workload W8`, or after W6 and W7 by default): `--events` persons (id, name) and as many
auctions (seller, reserve) over `--keys` keys, `ts` rising 10 ms per event on each stream
(auctions 5 ms later); `FROM persons p [LEFT] JOIN auctions a ON p.id = a.seller WITHIN
TUMBLE(10 SECONDS)` selecting p.id, p.name, window_start (NEXMark q8's columns); Flink SQL
with its window table-valued functions (peer_flink_joins.py main_w8: a WindowJoin plan),
DuckDB as one statement joining on the key and `ts // 10000`. Throughput, latency and state
are measured as for W6 below, except that a window's rows are emitted by the publish whose
watermark fires the window (its latency is counted from when that publish was due).

`--events` orders and as many shipments over `--keys` keys (`id` = `order_id`, uniform),
`ts` rising by 10 ms per event on each stream, shipments one minute after the orders'
clock; the join is `ON o.id = s.order_id WITHIN 5 MINUTES`, INNER and LEFT:

* frys: a `frys.Pipeline` (the whole runtime: topics, the two inputs' combined watermark,
  the operator), fed the two streams as polars DataFrames of `--batch` rows, taking turns,
  as fast as it takes them; the rows go to a subscriber that counts them (results are not
  kept);
* Flink SQL (peer_flink_joins.py, in a child process with the Python that has apache-flink,
  by default the venv tests/flink_oracle/install.py makes): the same rows from CSV files,
  streaming mode, parallelism 1, `o.rt BETWEEN s.rt - INTERVAL '5' MINUTE AND s.rt +
  INTERVAL '5' MINUTE` planned as Flink's IntervalJoin, the rows counted in the JVM;
* DuckDB: the same join as one SQL statement over Arrow scans of the two frames (a batch
  engine seeing everything at once, all cores: the no-streaming-overhead reference).

All run in this process run, one after the other, after the data is made. Events/s is
orders + shipments over the wall time. Row counts must agree (OK/MISMATCH, and the exit
status is 1 on a mismatch; `-` when no peer ran).

Latency (frys): a fresh pipeline is fed the first `--rate-events` of each stream at a fixed
offered rate of `--rate` events/s (both streams together) in publishes of `--rate-batch`
rows, orders and shipments taking turns, each publish due at a fixed time on a schedule
(a paced loop that sleeps until then). A pair is emitted while the publish holding its
later row is processed (publish is synchronous), so a row's emission latency is the wall
time from when that publish was due to when the subscriber got the row: the delay of a
publish that starts late (frys behind the offered rate) is counted, not hidden. LEFT's
unmatched rows are emitted by the watermark, not by an event, and are left out.

State (frys): sampled after each throughput batch; at the sample with the largest state,
bytes per buffered row excluding the payload columns = (state bytes - the bytes of the
buffered input columns) / buffered rows, the buffers read through the operator's
`snapshot()` (its own columns: keys, time, and for LEFT row number and matched flag).
"""

from __future__ import annotations

import joins_harness
import joins_w6
import joins_w7
import joins_w8

# the workloads by name, in the order `--workload all` runs them
WORKLOADS = {"W6": joins_w6.W6.run, "W7": joins_w7.run, "W8": joins_w8.W8.run}


def main() -> None:
    args = joins_harness.parse_args(__doc__.split("\n")[0], tuple(WORKLOADS))
    peers = joins_harness.Peers.of(args)
    chosen = tuple(WORKLOADS) if args.workload == "all" else (args.workload,)
    mismatches: list[str] = []
    for number, workload in enumerate(chosen):
        if number:
            print()
        mismatches += WORKLOADS[workload](args, peers)
    if mismatches:
        raise SystemExit("row counts differ: " + "; ".join(mismatches))


if __name__ == "__main__":
    main()
