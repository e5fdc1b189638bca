"""bytewax's recovery beside frys' checkpoints (run_checkpoints.py): the W2 job of
peer_bytewax_w2.py run with recovery on, and the restore of many open windows.

bytewax 0.21 recovery: `python -m bytewax.recovery DIR N` (here `init_db_dir(DIR, 1)`)
creates N SQLite partitions; `run_main(flow, epoch_interval=..., recovery_config=
RecoveryConfig(DIR))` closes an epoch every `epoch_interval` of system time and, at each,
writes to SQLite (table `snaps`) one row per key whose state changed in the epoch (the
pickled state of that key: here its open windows' accumulators), plus the source's
position; with the default `backup_interval` of zero, older snapshots of a key are deleted
once a newer one is committed. A resumed run (same flow, same DIR) loads every key's newest
snapshot and replays the input from the position of the last committed epoch.

* `throughput(events, every_s, folder)`: W2 over the events (Python `Event` tuples, made
  before the clock starts, as in run_w2.py) with epochs and snapshots every `every_s`
  seconds, or without recovery (`every_s` None, bytewax's default 10 s epochs, nothing
  written). Returns events/s, the epochs committed, the SQLite bytes, the snapshot rows
  left (one per key with state) and bytes per row.
* `open_windows_restore(count, folder)`: `count` keys each with one open hour-long
  tumbling window (the frys open-windows state), ingested with 1 s epochs, then a pause of
  two epochs (so the last epoch's keys are snapshotted too) and an abort
  (`TestingSource.ABORT`: a crash, no final snapshot); then a resumed run whose input
  aborts at once at the resume position: its time, minus the same aborting run on an empty
  recovery folder, is the restore (load the snapshots, unpickle every key's windows).
"""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Dataflow
from bytewax.operators.windowing import TumblingWindower, fold_window
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, run_main
from peer_bytewax import EPOCH, Event, event_clock
from peer_bytewax_w2 import build_flow, count_sum_add, count_sum_merge, count_sum_new

EPOCH_FOR_RESTORE = timedelta(seconds=1)


def recovery(folder: Path) -> RecoveryConfig:
    folder.mkdir(parents=True)
    init_db_dir(folder, 1)
    return RecoveryConfig(folder)


def sqlite_state(folder: Path) -> dict:
    """Bytes of the recovery partitions on disk, the window step's snapshot rows kept (one
    per key with open windows; the source's own rows not counted), epochs committed."""
    size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    rows = epoch = 0
    for part in folder.glob("*.sqlite3"):
        db = sqlite3.connect(part)
        rows += db.execute("SELECT COUNT(*) FROM snaps WHERE ser_change IS NOT NULL AND step_id "
                           "LIKE '%.stateful_batch'").fetchone()[0]
        epoch = max(epoch, db.execute("SELECT MAX(commit_epoch) FROM commits").fetchone()[0]
                    or 0)
        db.close()
    return {"bytes": size, "rows": rows, "epochs": epoch}


def throughput(events: list[Event], every_s: float | None, folder: Path) -> dict:
    rows: list[tuple] = []
    flow = build_flow("W2", events, rows)
    options: dict = {}
    if every_s is not None:
        options = {"epoch_interval": timedelta(seconds=every_s),
                   "recovery_config": recovery(folder)}
    began = time.perf_counter()
    run_main(flow, **options)
    seconds = time.perf_counter() - began
    result = {"events_per_s": len(events) / seconds, "rows": len(rows)}
    if every_s is not None:
        state = sqlite_state(folder)
        result |= {"checkpoints": state["epochs"], "bytes": state["bytes"],
                   "state_rows": state["rows"]}
    return result


def open_window_events(count: int) -> list[Event]:
    """`count` distinct keys, random values, all in one second of one hour (the frys
    open-windows benchmark's state)."""
    index = pl.int_range(count, eager=True)
    keys = (index.hash(11) % (1 << 62)).to_list()
    values = ((index.hash(12) % 1_000_000) / 100.0).to_list()
    millis = (1_700_000_000_000 + index.hash(13) % 1_000).to_list()
    return [Event(k, v, EPOCH + timedelta(milliseconds=ms))
            for k, v, ms in zip(keys, values, millis, strict=True)]


def open_windows_flow(items: list, rows: list) -> Dataflow:
    flow = Dataflow("open_windows_bytewax")
    stream = op.input("events", flow, TestingSource(items, batch_size=1000))
    keyed = op.key_on("key_on_k", stream, lambda event: str(event.k))
    windows = fold_window("hour", keyed, event_clock(),
                          TumblingWindower(length=timedelta(hours=1), align_to=EPOCH),
                          count_sum_new, count_sum_add, count_sum_merge, ordered=False)
    op.output("rows", windows.down, TestingSink(rows))
    return flow


def aborting_run(items: list, config: RecoveryConfig) -> float:
    """Seconds of a run that ends by its source's ABORT (bytewax ends the execution
    without an end of input: no window is flushed, which is checked)."""
    rows: list = []
    flow = open_windows_flow(items, rows)
    began = time.perf_counter()
    run_main(flow, epoch_interval=EPOCH_FOR_RESTORE, recovery_config=config)
    seconds = time.perf_counter() - began
    if rows:
        raise AssertionError(f"the run ended its input ({len(rows)} windows flushed) "
                             "instead of aborting")
    return seconds


def open_windows_restore(count: int, folder: Path) -> dict:
    events = open_window_events(count)
    config = recovery(folder / "state")
    pause = TestingSource.PAUSE(EPOCH_FOR_RESTORE * 2)
    ingest = aborting_run([*events, pause, TestingSource.ABORT()], config)
    state = sqlite_state(folder / "state")
    if state["rows"] != count:
        raise AssertionError(f"{state['rows']} keys snapshotted, {count} expected: the "
                             "pause did not close an epoch")
    # the resumed run: its source continues at len(events), where an abort waits
    resumed = aborting_run([*events, TestingSource.ABORT()], config)
    empty = aborting_run([TestingSource.ABORT()], recovery(folder / "empty"))
    return {"windows": count, "ingest_s": ingest, "restore_s": resumed - empty,
            "bytes": state["bytes"], "bytes_per_window": state["bytes"] / count}
