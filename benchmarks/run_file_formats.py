"""Read throughput of the `file:` CSV and Parquet sources (connectors/files_csv.py,
files_columnar.py) beside polars reading the same file whole.

For each format it writes N events (k INT, v FLOAT, s STRING, ts TIMESTAMP) once, then
times, best of --repeat: frys's source decoding every batch into the stream's schema
(dead letters checked) and `pl.read_csv` / `pl.read_parquet` of the same file. It prints
events per second. Run from the repository root:

    .venv/bin/python benchmarks/run_file_formats.py [--events 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import polars as pl
from connector_timing import events

from frys.connectors.decode import StreamDecoder
from frys.connectors.files_columnar import ColumnarFileSource
from frys.connectors.files_csv import CsvFileSource, CsvOptions
from frys.dsl.types import FrysType

COLUMNS = {"k": FrysType.INT, "v": FrysType.FLOAT, "s": FrysType.STRING,
           "ts": FrysType.TIMESTAMP}


def frys_read(source: CsvFileSource | ColumnarFileSource) -> int:
    rows = 0
    for item in source.batches():
        batch, letters = item  # type: ignore[misc]
        assert not letters
        rows += batch.height
    return rows


def best(run, repeat: int) -> tuple[float, int]:
    times, rows = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        rows = run()
        times.append(time.perf_counter() - start)
    return min(times), rows


def measure(count: int, repeat: int = 3) -> list[tuple[str, float]]:
    """(label, events/s) of each run, best of `repeat`, over `count` events."""
    data = events(count)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        csv_path, parquet_path = Path(folder) / "ev.csv", Path(folder) / "ev.parquet"
        data.with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
                          ).write_csv(csv_path)
        data.write_parquet(parquet_path, row_group_size=65_536)

        def decoder() -> StreamDecoder:
            return StreamDecoder("ev", dict(COLUMNS), "ts")

        runs = {
            "frys file:ev.csv": lambda: frys_read(
                CsvFileSource(csv_path, decoder(), "ev.csv", CsvOptions())),
            "polars read_csv": lambda: pl.read_csv(csv_path).height,
            "frys file:ev.parquet": lambda: frys_read(
                ColumnarFileSource(parquet_path, decoder(), "ev.parquet", "parquet")),
            "polars read_parquet": lambda: pl.read_parquet(parquet_path).height,
        }
        for name, run in runs.items():
            seconds, read = best(run, repeat)
            assert read == count, (name, read)
            rows.append((name, count / seconds))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.events:,} events, best of {args.repeat}")
    for name, rate in measure(args.events, args.repeat):
        print(f"{name:24} {rate:14,.0f} events/s")


if __name__ == "__main__":
    main()
