"""The checkpoint store's cost (engine/checkpoint.py): seconds to write (fsync included) and
to read back verified (`latest`) a checkpoint of N state rows, and its bytes per row, for
each compression of the Arrow IPC table files.

The state is shaped like window partials (operators/window_aggregate.py): a key, a
string key, a window start, a count, a sum and a first value per (key, window), split over
`--operators` operators. Not a test: numbers go to benchmarks/README.md with the command.

    python benchmarks/checkpoint_store.py --rows 1000000 --repeat 3 --dir /tmp/chk-bench
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

import polars as pl

from frys.engine.checkpoint import COMPRESSIONS, Checkpoint, CheckpointStore
from frys.engine.operator import OperatorState


def window_partials(rows: int, seed: int) -> pl.DataFrame:
    """Pseudo-random partials from hashes of the row number (no numpy in the env)."""
    def draw(salt: int, modulo: int) -> pl.Expr:
        return (pl.int_range(rows, dtype=pl.UInt64).hash(seed * 7919 + salt) % modulo
                ).cast(pl.Int64)

    key = draw(1, max(rows // 20, 1))
    return pl.select(
        k=key,
        sym=pl.lit("SYM") + (key % 5000).cast(pl.Utf8),
        window_start=(1_700_000_000_000 + draw(2, 3600) * 1000
                      ).cast(pl.Datetime("ms", "UTC")),
        n=draw(3, 1000) + 1,
        s=draw(4, 10**9).cast(pl.Float64) / 1e5,
        first=draw(5, 2 * 10**6) - 10**6,
    )


def checkpoint(checkpoint_id: int, rows: int, operators: int) -> Checkpoint:
    share = rows // operators
    return Checkpoint(checkpoint_id, "bench", {
        f"q{i}": OperatorState("tumble", 1, {"partials": window_partials(share, i)},
                               {"watermark": 1_700_000_000_000})
        for i in range(operators)},
        sources={"events": {"offset": 123456}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--operators", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/frys-checkpoint-bench"))
    args = parser.parse_args()
    state = checkpoint(1, args.rows, args.operators)
    memory = sum(s.size() for s in state.operators.values())
    print(f"{args.rows:,} state rows in {args.operators} operators, "
          f"{memory / args.rows:.1f} bytes/row in memory (polars estimate)")
    print(f"{'compression':>12} {'write s':>8} {'read s':>8} {'bytes/row':>9} "
          f"{'write MB/s':>10} {'no-fsync s':>10}")
    for compression in COMPRESSIONS:
        shutil.rmtree(args.dir, ignore_errors=True)
        writes, reads = [], []
        with CheckpointStore(args.dir, keep=1, compression=compression) as store:
            for attempt in range(args.repeat):
                current = checkpoint(attempt + 1, args.rows, args.operators)
                started = time.perf_counter()
                path = store.write(current)
                writes.append(time.perf_counter() - started)
                started = time.perf_counter()
                back = store.latest()
                reads.append(time.perf_counter() - started)
                assert back is not None and back.checkpoint_id == attempt + 1
            size = sum(f.stat().st_size for f in path.iterdir())
        # the same writes without fsync: what the flush to the disk costs of the above
        shutil.rmtree(args.dir, ignore_errors=True)
        unsynced = []
        with CheckpointStore(args.dir, keep=1, compression=compression,
                             fsync=False) as store:
            for attempt in range(args.repeat):
                current = checkpoint(attempt + 1, args.rows, args.operators)
                started = time.perf_counter()
                store.write(current)
                unsynced.append(time.perf_counter() - started)
        write_s, read_s = statistics.median(writes), statistics.median(reads)
        print(f"{compression:>12} {write_s:8.3f} {read_s:8.3f} {size / args.rows:9.1f} "
              f"{size / write_s / 1e6:10.1f} {statistics.median(unsynced):10.3f}")
    shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
