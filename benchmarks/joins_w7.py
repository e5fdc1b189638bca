"""W7: stream-table joins (enrichment), `FROM events e [LEFT] JOIN users u ON e.user_id =
u.id`, with the table's current rows and versioned (each event joined with the version
valid at its time), INNER and LEFT; DuckDB (hash join / ASOF join) and Flink SQL
(peer_flink_joins.py `main_w7`: a regular join with the bounded table / the event-time
temporal join) beside. Rows and the sum of the joined `tier` (which row or version each
event got) are compared; latency as for W6, each row from when the publish that carried
its event was due. benchmarks/README.md says what each peer computes.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from joins_harness import (
    T0,
    Latency,
    Line,
    Peers,
    Round,
    compare,
    paced_latency,
    pipeline_of,
    print_flink,
    print_table,
    run_flink,
    timed_rounds,
    write_csvs,
)
from joins_harness import run_duckdb as duckdb_query

import frys

FORMS = ("current", "versioned")
KINDS = ("INNER", "LEFT")
JOB = """
CREATE STREAM events (user_id INT, amount FLOAT, ts TIMESTAMP) WITH (event_time = ts);
CREATE TABLE users (id INT PRIMARY KEY, tier INT{time_column}){options};
CREATE STREAM enriched (user_id INT, amount FLOAT, tier INT, ts TIMESTAMP);
INSERT INTO enriched SELECT e.user_id, e.amount, u.tier, e.ts FROM events e {kind} JOIN users u
    ON e.user_id = u.id;
"""
PEERS = {  # DuckDB: a hash join; the version valid at each event's time, an ASOF join
    "current": "SELECT count(*), sum(u.tier) FROM events e {kind} JOIN users u "
               "ON e.user_id = u.id",
    "versioned": "SELECT count(*), sum(u.tier) FROM events e ASOF {kind} JOIN users u "
                 "ON e.user_id = u.id AND e.ts >= u.ts",
}
STEP_MS = 10  # the stream's event time per event


@dataclass
class TableRun:
    rows: int
    tiers: int  # the sum of the joined `tier` column: which row or version each event got
    seconds: float
    state_bytes: int  # the largest state sampled
    table_rows: int  # rows of table state (current rows, or versions) at that sample
    table_own_bytes: int  # of which the operator's own columns of the table (key, version)
    held_rows: int  # versioned: stream rows waiting for the watermark at that sample
    held_own_bytes: int  # their own columns (key, time, arrival number)

    def overhead_per_row(self) -> float:
        return self.table_own_bytes / max(self.table_rows, 1)


def keys(form: str, table_rows: int) -> int:
    """The table's keys: a row each (current), or half as many, each with an initial
    version and on average one update (versioned)."""
    return table_rows if form == "current" else table_rows // 2


def make(form: str, events: int, table_rows: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(stream, table). The stream: `events` rows, `user_id` uniform over 1.1x the table's
    keys (a tenth of the events find no key), `ts` rising STEP_MS per event from T0.
    Current: `table_rows` users (id, tier). Versioned: `table_rows` versions (id, tier, ts) of
    table_rows/2 keys in time order: an initial version at T0 - 1 (the state before the
    stream) for nine keys in ten, then the rest as updates of random keys at distinct random
    times over the stream's span (so some events come before their key's first version, and
    most keys change while the stream runs)."""
    rng = random.Random(7)
    count = keys(form, table_rows)
    initial = count * 9 // 10
    times = pl.int_range(0, events, eager=True, dtype=pl.Int64) * STEP_MS + T0
    users = int(count * 1.1)
    stream = pl.DataFrame({"user_id": [rng.randrange(users) for _ in range(events)],
                           "amount": [rng.random() for _ in range(events)], "ts": times})
    if form == "current":
        table = pl.DataFrame({"id": pl.int_range(0, count, eager=True, dtype=pl.Int64),
                              "tier": [rng.randrange(4) for _ in range(count)]})
        return stream, table
    updates = table_rows - initial
    table = pl.DataFrame({
        "id": list(range(initial)) + [rng.randrange(count) for _ in range(updates)],
        "tier": [rng.randrange(4) for _ in range(table_rows)],
        # distinct times: two versions of a key never tie (DuckDB's ASOF would pick either)
        "ts": [T0 - 1] * initial + [T0 + t for t in rng.sample(range(events * STEP_MS),
                                                                updates)],
    }).sort("ts", maintain_order=True)
    return stream, table


def pipeline_for(form: str, kind: str) -> frys.Pipeline:
    versioned = form == "versioned"
    return pipeline_of(JOB.format(time_column=", ts TIMESTAMP" if versioned else "",
                                  options=" WITH (event_time = ts)" if versioned else "",
                                  kind="" if kind == "INNER" else kind))


def publishes(form: str, stream: pl.DataFrame, table: pl.DataFrame, batch: int
              ) -> tuple[pl.DataFrame | None, list[Round]]:
    """(what is published before the stream, the publishes of each stream batch). Current:
    the whole table first (as a `file:` table is read before the streams), then the stream
    in batches. Versioned: the changelog interleaved with the stream, in event time: before
    each stream batch, the versions older than the batch's last event not yet published."""
    utc = pl.Datetime("ms", "UTC")
    stream = stream.with_columns(pl.col("ts").cast(utc))
    if form == "current":
        return table, [[("events", stream.slice(offset, batch))]
                       for offset in range(0, stream.height, batch)]
    versions = table["ts"]
    table = table.with_columns(pl.col("ts").cast(utc))
    rounds: list[Round] = []
    done = 0
    for offset in range(0, stream.height, batch):
        chunk = stream.slice(offset, batch)
        last = T0 + (offset + chunk.height - 1) * STEP_MS
        upto = int(versions.search_sorted(last, side="left"))
        changes: Round = [("users", table.slice(done, upto - done))] if upto > done else []
        done = upto
        rounds.append([*changes, ("events", chunk)])
    if done < table.height:
        rounds[-1].append(("users", table.slice(done)))
    return None, rounds


def own_bytes(frame: pl.DataFrame) -> int:
    """The bytes of an operator's own columns in a state table (named `__...`)."""
    return sum(int(column.estimated_size()) for column in frame.get_columns()
               if column.name.startswith("__"))


def run_frys(form: str, kind: str, stream: pl.DataFrame, table: pl.DataFrame, batch: int
             ) -> TableRun:
    """The stream in `batch`-row publishes (versioned: with the changelog between them;
    current: after the whole table, its publish timed too), as fast as frys takes them;
    the state sampled after each batch (not counted)."""
    pipeline = pipeline_for(form, kind)
    out = [0, 0]

    def count(frame: pl.DataFrame) -> None:
        out[0] += frame.height
        out[1] += int(frame["tier"].sum())

    pipeline.subscribe("enriched", count)
    operator = pipeline.runtime.queries[0].operator  # type: ignore[attr-defined]
    first, rounds = publishes(form, stream, table, batch)
    largest = [0]
    sample_then = [0, 0, 0, 0]

    def sample() -> None:
        size = operator.state_size()
        if size > largest[0]:
            held = operator.snapshot().tables["held"]
            # the live rows and pending versions as one frame (state layout 1's `table`;
            # layout 2 snapshots the base and the recent changes apart)
            table = operator._table()
            largest[0] = size
            sample_then[:] = (table.height, own_bytes(table), held.height, own_bytes(held))

    before = [("users", first)] if first is not None else []
    seconds = timed_rounds(pipeline, rounds, sample, before)
    return TableRun(out[0], out[1], seconds, largest[0], *sample_then)


def run_latency(form: str, kind: str, stream: pl.DataFrame, table: pl.DataFrame,
                rate: float, batch: int) -> Latency:
    """Emission latency at a fixed offered rate of stream events, W6's paced loop: stream
    publishes of `batch` rows, each due at a fixed time (versioned: the changelog rows due
    before it published just before it, unpaced); the table of a current-row join is
    published before the clock starts. A row's latency runs from when the publish that
    carried its stream event was due (known from its `ts`) to when the subscriber got it:
    a versioned join's wait for the watermark is counted, as is a publish's late start."""
    pipeline = pipeline_for(form, kind)
    first, rounds = publishes(form, stream, table, batch)
    if first is not None:
        pipeline.publish("users", first)

    def samples(frame: pl.DataFrame, dues: list[float]) -> list[tuple[float, int]]:
        carried = ((frame["ts"].dt.epoch("ms") - T0) // (STEP_MS * batch)).value_counts()
        return [(dues[publish], rows) for publish, rows in carried.iter_rows()]

    return paced_latency(pipeline, "enriched", rounds, batch / rate, samples, rate,
                         stream.height)


def run_duckdb(form: str, kind: str, stream: pl.DataFrame, table: pl.DataFrame
               ) -> tuple[tuple[int, int], float]:
    """((rows, the sum of their tiers), seconds)."""
    row, seconds = duckdb_query({"events": stream, "users": table},
                                PEERS[form].format(kind="" if kind == "INNER" else kind))
    return (int(row[0]), int(row[1] or 0)), seconds



def run(args: argparse.Namespace, peers: Peers) -> list[str]:
    """W7, frys beside the peers that run, current rows and versioned, INNER and LEFT;
    prints its table and returns the mismatches of rows and tier sums."""
    lines: list[Line] = []
    runs: list[TableRun] = []
    mismatches: list[str] = []
    print(f"W7: {args.events:,} stream events enriched from a {args.table_rows:,}-row table; "
          f"frys batches of {args.batch:,} rows", flush=True)
    with tempfile.TemporaryDirectory(prefix="frys_w7_") as tmp:
        for form in FORMS:
            stream, table = make(form, args.events, args.table_rows)
            total = stream.height + table.height
            csvs = (write_csvs(Path(tmp), {f"events_{form}": stream, f"users_{form}": table})
                    if peers.flink is None else None)
            for kind in KINDS:
                name = f"{form} {kind}"
                run = run_frys(form, kind, stream, table, args.batch)
                print(f"  frys {name}: {total / run.seconds:,.0f} events/s", flush=True)
                results: dict[str, object] = {}
                duck_seconds = None
                if peers.duckdb is None:
                    results["DuckDB"], duck_seconds = run_duckdb(form, kind, stream, table)
                    print(f"  DuckDB {name}: {total / duck_seconds:,.0f} events/s", flush=True)
                flink = None
                if csvs is not None:
                    flink = run_flink(args.flink_python, f"W7_{form}_{kind}", *csvs)
                    results["Flink"] = (flink["rows"], flink["tiers"])
                    print(f"  Flink {name}: {flink['events'] / flink['job_seconds']:,.0f} "
                          f"events/s (job)", flush=True)
                head = stream.head(args.rate_events)
                latency = run_latency(form, kind, head, table.filter(
                    pl.col("ts") <= head["ts"].max()) if form == "versioned" else table,
                    args.rate, args.rate_batch)
                print(f"  frys {name} at {args.rate:,.0f} events/s offered: p99 "
                      f"{latency.p99_ms:.1f} ms", flush=True)
                # rows and the sum of their tiers: which row (version) each event got
                agree, wrong = compare(f"W7 {name}", (run.rows, run.tiers), results,
                                       lambda got: f"{got[0]:,} rows (tiers {got[1]:,})")
                mismatches += wrong
                runs.append(run)
                lines.append(Line(f"W7 {name}", total, run.seconds, run.rows, latency,
                                  run.overhead_per_row(), run.state_bytes, duck_seconds,
                                  flink, agree))
    print_table(lines, 18)
    show = ", ".join
    named = list(zip(lines, runs, strict=True))
    print("counts: rows and the sum of their `tier` compared with each peer's; "
          f"events: stream + table rows ({args.events:,} + {args.table_rows:,}); latency: frys, "
          f"{args.rate:,.0f} stream events/s offered in publishes of {args.rate_batch:,} rows "
          f"over the first {args.rate_events:,} events (achieved: "
          + show(f"{x.label[3:]} {x.latency.achieved:,.0f}" for x in lines)
          + "); rows measured: " + show(f"{x.latency.rows:,}" for x in lines) + "; max "
          + show(f"{x.latency.max_ms:.1f} ms" for x in lines))
    print("B/row: bytes of the operator's own columns per table row held (key; versioned: "
          "version time, tombstone flag), at the largest state (table rows then: "
          + show(f"{r.table_rows:,}" for r in runs) + "; versioned, stream rows held "
          "for the watermark then: "
          + show(f"{r.held_rows:,} ({r.held_own_bytes / max(r.held_rows, 1):.0f} B/row own)"
                 for x, r in named if x.label.startswith("W7 versioned")) + ")")
    print_flink(lines, peers)
    return mismatches
