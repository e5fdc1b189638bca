"""The run of a join of two streams, W6 (interval join, joins_w6.py) and W8 (window join,
joins_w8.py): each is a `TwoStreams`, what differs between them (data, the frys job, the
DuckDB statement, the Flink peer's kind names, which emitted rows the latency counts), run
here the same way. run_joins.py's docstring describes the measures.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from joins_harness import (
    FrysRun,
    Latency,
    Line,
    Peers,
    Publish,
    Round,
    compare,
    each,
    paced_latency,
    payload_bytes,
    pipeline_of,
    print_flink,
    print_table,
    run_flink,
    timed_rounds,
    with_utc,
    write_csvs,
)
from joins_harness import run_duckdb as duckdb_query

import frys


@dataclass(frozen=True)
class TwoStreams:
    name: str  # "W6"
    kinds: tuple[str, ...]  # "INNER", "LEFT"
    streams: tuple[str, str]  # the left and the right stream, as the job and SQL name them
    output: str  # the job's output stream
    job: str  # the frys job; `{kind}` is "" (INNER) or the outer join's word
    peer: str  # DuckDB's statement counting the rows; `{kind}` as in `job`
    clause: str  # what joins them, for the header line ("WITHIN 5 MINUTES")
    flink_prefix: str  # peer_flink_joins.py's KIND argument: this + INNER/LEFT
    make: Callable[[int, int], tuple[pl.DataFrame, pl.DataFrame]]  # (events, keys)
    emitted: Callable[[pl.DataFrame], int]  # of an output frame, the rows latency counts
    measured: str  # what those rows are called ("pairs", "rows")

    def pipeline(self, kind: str) -> frys.Pipeline:
        return pipeline_of(self.job.format(kind="" if kind == "INNER" else kind))

    def inputs(self, left: pl.DataFrame, right: pl.DataFrame) -> list[Publish]:
        """The two streams as frys' job declares them (ts a UTC timestamp)."""
        return [(name, with_utc(frame)) for name, frame in zip(self.streams, (left, right),
                                                                strict=True)]

    def run_frys(self, kind: str, left: pl.DataFrame, right: pl.DataFrame, batch: int
                 ) -> FrysRun:
        """The two streams in `batch`-row publishes taking turns, as fast as frys takes
        them; the rows counted by a subscriber; the state sampled after each round (the
        sampling not counted), keeping the largest."""
        pipeline = self.pipeline(kind)
        out = [0]
        pipeline.subscribe(self.output, lambda frame: out.__setitem__(0, out[0] + frame.height))
        operator = pipeline.runtime.queries[0].operator  # type: ignore[attr-defined]
        inputs = self.inputs(left, right)
        largest = [0, 0, 0]  # state bytes, buffered rows, payload bytes

        def sample() -> None:
            size = operator.state_size()
            if size > largest[0]:
                largest[:] = size, sum(operator.buffered_rows()), payload_bytes(operator)

        rounds: Iterator[Round] = ([(name, frame.slice(offset, batch)) for name, frame in inputs]
                                   for offset in range(0, left.height, batch))
        seconds = timed_rounds(pipeline, rounds, sample)
        return FrysRun(out[0], seconds, *largest)

    def run_latency(self, kind: str, left: pl.DataFrame, right: pl.DataFrame, rate: float,
                    batch: int) -> Latency:
        """Emission latency at `rate` events/s (both streams) offered in `batch`-row
        publishes taking turns, each due at its time: a row counts from when the publish
        that emitted it was due (publish is synchronous)."""
        inputs = self.inputs(left, right)
        rounds = [[(name, frame.slice(offset, batch))]
                  for offset in range(0, left.height, batch) for name, frame in inputs]

        def samples(frame: pl.DataFrame, dues: list[float]) -> list[tuple[float, int]]:
            rows = self.emitted(frame)
            return [(dues[-1], rows)] if rows else []

        return paced_latency(self.pipeline(kind), self.output, rounds, batch / rate, samples,
                             rate, left.height + right.height)

    def run_duckdb(self, kind: str, left: pl.DataFrame, right: pl.DataFrame
                   ) -> tuple[int, float]:
        row, seconds = duckdb_query(dict(zip(self.streams, (left, right), strict=True)),
                                    self.peer.format(kind="" if kind == "INNER" else kind))
        return int(row[0]), seconds

    def run(self, args: argparse.Namespace, peers: Peers) -> list[str]:
        """The workload, frys beside the peers that run; prints its table and returns the
        row-count mismatches."""
        left, right = self.make(args.events, args.keys)
        total = 2 * args.events
        lines: list[Line] = []
        runs: list[FrysRun] = []
        mismatches: list[str] = []
        with tempfile.TemporaryDirectory(prefix=f"frys_{self.name.lower()}_") as tmp:
            csvs = (write_csvs(Path(tmp), dict(zip(self.streams, (left, right), strict=True)))
                    if peers.flink is None else None)
            print(f"{self.name}: {args.events:,} {self.streams[0]} + {args.events:,} "
                  f"{self.streams[1]} over {args.keys:,} keys, {self.clause}; frys batches "
                  f"of {args.batch:,} rows", flush=True)
            for kind in self.kinds:
                run = self.run_frys(kind, left, right, args.batch)
                print(f"  frys {kind}: {total / run.seconds:,.0f} events/s", flush=True)
                results: dict[str, object] = {}
                duck_seconds = None
                if peers.duckdb is None:
                    results["DuckDB"], duck_seconds = self.run_duckdb(kind, left, right)
                    print(f"  DuckDB {kind}: {total / duck_seconds:,.0f} events/s", flush=True)
                flink = None
                if csvs is not None:
                    flink = run_flink(args.flink_python, self.flink_prefix + kind, *csvs)
                    results["Flink"] = flink["rows"]
                    print(f"  Flink {kind}: {flink['events'] / flink['job_seconds']:,.0f} "
                          f"events/s (job)", flush=True)
                latency = self.run_latency(kind, left.head(args.rate_events),
                                           right.head(args.rate_events), args.rate,
                                           args.rate_batch)
                print(f"  frys {kind} at {args.rate:,.0f} events/s offered: p99 "
                      f"{latency.p99_ms:.1f} ms", flush=True)
                label = f"{self.name} {kind}"
                agree, wrong = compare(label, run.rows, results, lambda rows: f"{rows:,} rows")
                mismatches += wrong
                runs.append(run)
                lines.append(Line(label, total, run.seconds, run.rows, latency,
                                  run.overhead_per_row(), run.state_bytes, duck_seconds, flink,
                                  agree))
        print_table(lines, 9)
        print(f"latency: frys, {args.rate:,.0f} events/s offered in publishes of "
              f"{args.rate_batch:,} rows over the first {args.rate_events:,} events of each "
              f"stream (achieved: {each(lines, lambda x: f'{x.latency.achieved:,.0f}')}); "
              f"{self.measured} measured: {each(lines, lambda x: f'{x.latency.rows:,}')}; max "
              f"{each(lines, lambda x: f'{x.latency.max_ms:.1f} ms')}")
        named = list(zip(self.kinds, runs, strict=True))
        print("B/row: state bytes per buffered row beyond the payload columns, at the largest "
              "state (payload included: "
              + ", ".join(f"{kind} {run.per_row():.0f}" for kind, run in named)
              + "; buffered rows then: "
              + ", ".join(f"{kind} {run.buffered:,}" for kind, run in named) + ")")
        print_flink(lines, peers)
        return mismatches
