"""Hand-written bytewax W2 from files, for the scale-out benchmark (run_scaleout.py).

peer_bytewax_w2.py's W2 dataflow (filter v > 10, key_on(str(k)), fold_window with the
frozen event clock, TumblingWindower 1 s, fold (count, sum)) with a file source of one
partition per input file, instead of its in-memory TestingSource, and bytewax's FileSink
(one partition, as frys' sink). JSONL lines are parsed with `json.loads`, 1,000 lines per
batch (the W1 peer's reading); an Arrow IPC file is read a record batch at a time and
turned into `Event` tuples (`peer_bytewax_w2.to_events`). Output lines are the W1 peer's.

Run with bytewax's own `cli_main`: `-w N` workers in this process, or one process of a
cluster with `-i I -a "h:p;h:p"` (run_scaleout.py launches both processes).

bytewax's event clock keeps a watermark per key (the newest event time it saw for that
key), so a key's events must reach it in time order: several partitions of one file cut
by byte ranges would interleave a key's early and late events and drop the early ones as
late. The 2-process peer reads the input split by key instead (one file per `k % 2`, as a
topic partitioned by key would deliver it), each file in time order.

    .venv/bin/python benchmarks/scaleout_peer_bytewax.py OUT.jsonl IN [IN ...] [-w N]
        [-i I -a "127.0.0.1:p0;127.0.0.1:p1"]
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import polars as pl
import pyarrow.ipc as ipc
from bytewax._bytewax import cli_main
from bytewax.connectors.files import FileSink
from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.operators.windowing import fold_window
from peer_bytewax import EPOCH, Event, event_clock, format_window
from peer_bytewax_w2 import SHAPES, VALUE_THRESHOLD, to_events

LINES_PER_BATCH = 1000


class _JsonlPart(StatefulSourcePartition):  # type: ignore[type-arg]
    def __init__(self, path: Path) -> None:
        self.handle = path.open("rb")

    def next_batch(self) -> list[Event]:
        out = []
        for line in self.handle:
            record = json.loads(line)
            out.append(Event(record["k"], record["v"],
                             EPOCH + timedelta(milliseconds=record["ts"])))
            if len(out) >= LINES_PER_BATCH:
                break
        if not out:
            raise StopIteration
        return out

    def snapshot(self) -> None:
        return None

    def close(self) -> None:
        self.handle.close()


class _ArrowPart(StatefulSourcePartition):  # type: ignore[type-arg]
    def __init__(self, path: Path) -> None:
        self.reader = ipc.open_file(str(path))
        self.next = 0

    def next_batch(self) -> list[Event]:
        if self.next >= self.reader.num_record_batches:
            raise StopIteration
        batch = self.reader.get_batch(self.next)
        self.next += 1
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        return to_events(frame)

    def snapshot(self) -> None:
        return None


class Files(FixedPartitionedSource):  # type: ignore[type-arg]
    """One partition per file (its path); bytewax places each on one worker."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def list_parts(self) -> list[str]:
        return [str(p) for p in self.paths]

    def build_part(self, step_id: str, for_part: str, resume_state: Any
                   ) -> StatefulSourcePartition:  # type: ignore[type-arg]
        path = Path(for_part)
        return _ArrowPart(path) if path.suffix == ".arrow" else _JsonlPart(path)


def build_flow(inputs: list[Path], output: Path) -> Dataflow:
    windower, new, add, merge, _row = SHAPES["W2"]
    flow = Dataflow("w2_files_bytewax")
    events = op.input("read", flow, Files(inputs))
    kept = op.filter("v_gt_10", events, lambda event: event.v > VALUE_THRESHOLD)
    keyed = op.key_on("key_on_k", kept, lambda event: str(event.k))
    windows = fold_window("w2", keyed, event_clock(), windower(), new, add, merge,
                          ordered=False)
    op.output("write", op.map("format", windows.down, format_window), FileSink(output))
    return flow


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("inputs", type=Path, nargs="+")
    parser.add_argument("-w", "--workers", type=int, default=1)
    parser.add_argument("-i", "--process-id", type=int)
    parser.add_argument("-a", "--addresses")
    args = parser.parse_args(argv)
    addresses = args.addresses.split(";") if args.addresses else None
    cli_main(build_flow(args.inputs, args.output), workers_per_process=args.workers,
             process_id=args.process_id, addresses=addresses,
             epoch_interval=timedelta(seconds=10), recovery_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
