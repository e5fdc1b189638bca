"""Inputs and jobs of the scale-out benchmark (run_scaleout.py): W2, W4 and W6 written once
as JSONL and as Arrow IPC files, and their .frysql jobs reading them through `file:`.

* W2: `run_w2.events` (k over 1,000 keys, v in [0, 100), ts rising 0-2 ms per event);
  `WHERE v > 10`, `TUMBLE(1 SECOND)`, COUNT(*), SUM(v), watermark 0 s (the W1/W2 job).
* W4: `run_patterns.events` (k over 1,000 partitions, price, ts); `PATTERN (a -> c)
  WITHIN 5 SECONDS`, watermark 1 s (run_patterns.py's W4).
* W6: `joins_w6.make` (orders and shipments over 100k ids, 10 ms apart, the shipments a
  minute later); the INNER interval join `WITHIN 5 MINUTES`. `events` is the total over
  both streams (half each).

JSONL holds `ts` as epoch milliseconds (as gen_events.py writes it); Arrow IPC holds
`timestamp[ms, UTC]` in record batches of 65,536 rows (files_columnar.py reads a record
batch at a time). A job's sink writes the same format as its source: a folder of part
files (JSONL with `parts=true`, or a JSONL file: run_scaleout.py --jsonl-sink file; an
Arrow sink is always a folder).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc

ARROW_BATCH_ROWS = 65_536
WORKLOADS = ("W2", "W4", "W6")
FORMATS = ("jsonl", "arrow")

# stream name -> columns, per workload (in the order of the files' columns)
STREAMS: dict[str, dict[str, str]] = {
    "W2": {"events": "k INT, v FLOAT, ts TIMESTAMP"},
    "W4": {"ev": "k INT, price FLOAT, ts TIMESTAMP"},
    "W6": {"orders": "id INT, amount FLOAT, ts TIMESTAMP",
           "shipments": "order_id INT, carrier INT, ts TIMESTAMP"},
}
STREAM_OPTIONS = {"W2": "watermark = 0 SECONDS", "W4": "watermark = 1 SECOND", "W6": ""}
QUERIES = {
    "W2": "INSERT INTO out SELECT k, window_start, COUNT(*) AS n, SUM(v) AS total "
          "FROM events WHERE v > 10 GROUP BY k, TUMBLE(1 SECOND);",
    "W4": "INSERT INTO out SELECT k, a.price AS a_price, c.price AS c_price, MATCH_START, "
          "MATCH_END FROM ev PARTITION BY k PATTERN (a -> c) WITHIN 5 SECONDS "
          "DEFINE a AS a.price > 90, c AS c.price < 5;",
    "W6": "INSERT INTO out SELECT o.id, o.amount, s.carrier FROM orders o JOIN shipments s "
          "ON o.id = s.order_id WITHIN 5 MINUTES;",
}
# the key each workload's keyed step routes by (for the peer's key-split inputs)
KEYS = {"W2": "k", "W4": "k", "W6": None}


def frames(workload: str, events: int) -> dict[str, pl.DataFrame]:
    """The workload's input frames by stream name, `ts` as Datetime(ms, UTC)."""
    if workload == "W2":
        from run_w2 import events as w2_events
        return {"events": w2_events(events)}
    if workload == "W4":
        from run_patterns import events as w4_events
        return {"ev": w4_events(events)}
    from joins_w6 import make
    orders, shipments = make(events // 2, 100_000)
    utc = pl.Datetime("ms", "UTC")
    return {"orders": orders.with_columns(pl.col("ts").cast(utc)),
            "shipments": shipments.with_columns(pl.col("ts").cast(utc))}


def write_jsonl(frame: pl.DataFrame, path: Path) -> None:
    frame.with_columns(pl.col("ts").dt.epoch("ms")).write_ndjson(path)


def write_arrow(frame: pl.DataFrame, path: Path) -> None:
    table = frame.to_arrow()
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=ARROW_BATCH_ROWS)


WRITERS: dict[str, Callable[[pl.DataFrame, Path], None]] = {
    "jsonl": write_jsonl, "arrow": write_arrow}


def input_path(folder: Path, workload: str, stream: str, fmt: str, events: int,
               split: tuple[int, int] | None = None) -> Path:
    """Where a stream's input file is; `split` = (i, n): the rows with key % n == i."""
    part = f"_k{split[0]}of{split[1]}" if split else ""
    return folder / f"{workload.lower()}_{stream}_{events}{part}.{fmt}"


def ensure_inputs(folder: Path, workload: str, events: int, fmts: tuple[str, ...],
                  key_splits: int = 0) -> None:
    """Write the workload's inputs (and, with key_splits > 1, each split by key) unless
    they are there; files are written under a temporary name and renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, pl.DataFrame] | None = None
    key = KEYS[workload]
    for fmt in fmts:
        for stream in STREAMS[workload]:
            targets: list[tuple[Path, tuple[int, int] | None]] = [
                (input_path(folder, workload, stream, fmt, events), None)]
            if key_splits > 1 and key is not None:
                targets += [(input_path(folder, workload, stream, fmt, events,
                                        (i, key_splits)), (i, key_splits))
                            for i in range(key_splits)]
            for path, split in targets:
                if path.exists():
                    continue
                if made is None:
                    made = frames(workload, events)
                frame = made[stream]
                if split is not None:
                    frame = frame.filter(pl.col(key) % split[1] == split[0])
                tmp = path.with_name(path.name + ".tmp")
                WRITERS[fmt](frame, tmp)
                tmp.replace(path)


def output_path(folder: Path, label: str, workload: str, fmt: str) -> Path:
    return folder / "out" / f"{label}_{workload.lower()}.{fmt}"


def write_job(folder: Path, workload: str, fmt: str, events: int, output: Path,
              jsonl_parts: bool = True) -> Path:
    """The workload's .frysql over its `fmt` inputs of `events`, writing `output` (a JSONL
    output: a folder of part files, `?parts=true`, unless not `jsonl_parts`: one file)."""
    lines = []
    for stream, columns in STREAMS[workload].items():
        source = input_path(folder, workload, stream, fmt, events)
        options = ", ".join(o for o in ("event_time = ts", STREAM_OPTIONS[workload],
                                        f"source = 'file:{source.name}'") if o)
        lines.append(f"CREATE STREAM {stream} ({columns}) WITH ({options});")
    parts = "?parts=true" if fmt == "jsonl" and jsonl_parts else ""
    lines.append(f"CREATE STREAM out WITH (sink = 'file:{output.relative_to(folder)}{parts}');")
    lines.append(QUERIES[workload])
    job = folder / f"{workload.lower()}_{fmt}_{events}.frysql"
    job.write_text("\n".join(lines) + "\n")
    return job


def count_output(path: Path) -> int:
    """Rows a sink wrote: lines of a JSONL file or of a folder's JSONL part files, rows of
    an Arrow folder's part files."""
    if path.suffix == ".jsonl":
        total = 0
        for part in sorted(path.glob("part-*.jsonl")) if path.is_dir() else [path]:
            with part.open("rb") as handle:
                total += sum(chunk.count(b"\n")
                             for chunk in iter(lambda h=handle: h.read(1 << 20), b""))
        return total
    parts = sorted(path.glob("part-*.arrow"))
    return sum(ipc.open_file(str(p)).read_all().num_rows for p in parts)
