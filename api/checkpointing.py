"""When a run takes its checkpoints: `Checkpointer` holds a job's state folder (a store of
engine/checkpoint.py) and, between two batches of a run, takes a checkpoint once enough
events or enough time have gone by, or when a stop was asked for (SIGTERM, Ctrl-C).

A state folder holds the job's text (`job.frysql`, what `Pipeline.resume` compiles) and
its checkpoints (`checkpoints/`). The Python API (`Pipeline(state=...)`) and `frys run
--state` share it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from frys.engine.checkpoint import Checkpoint, CheckpointStore
    from frys.engine.runtime import Runtime

JOB_FILE = "job.frysql"
CHECKPOINTS = "checkpoints"


class StopRequested(Exception):
    """Raised between two batches once a stop was asked for and the last checkpoint is
    written: the run ends there, its input not ended (no window fires). `idle_ms` is set
    when the stop came from `exit_when_idle_ms` (every source idle that long), None for a
    requested stop (a signal)."""

    def __init__(self, idle_ms: int | None = None) -> None:
        super().__init__("stopped at a checkpoint" if idle_ms is None else
                         f"stopped at a checkpoint: every source idle for {idle_ms} ms")
        self.idle_ms = idle_ms


def open_state(directory: Path, text: str) -> tuple[CheckpointStore, Checkpoint | None]:
    """The store of a state folder (made if missing, the job's text kept beside it) and
    its newest whole checkpoint, if any, to continue from."""
    from frys.engine.checkpoint import CheckpointStore

    directory.mkdir(parents=True, exist_ok=True)
    store = CheckpointStore(directory / CHECKPOINTS)
    job = directory / JOB_FILE
    if not job.exists():
        job.write_text(text)
    return store, store.latest()


class Checkpointer:
    """Takes a runtime's checkpoints into `store`: `checkpoint()` now; `after_batch(events)`
    between two batches, when `every_events` events (None: no count) or `every_ms`
    milliseconds of wall-clock time (None: no interval) have passed since the last one, or
    a stop was requested (`request_stop`, then StopRequested is raised after it). With
    `exit_when_idle_ms`, a run whose sources have all been idle that long
    (`Runtime.idle_ms`) stops the same way: a last checkpoint, then StopRequested (its
    `idle_ms` set), so the next run over the grown input continues the open windows."""

    def __init__(self, store: CheckpointStore, runtime: Runtime,
                 every_events: int | None = None, every_ms: int | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 exit_when_idle_ms: int | None = None) -> None:
        self.store = store
        self.runtime = runtime
        self.every_events = every_events
        self.every_ms = every_ms
        self.exit_when_idle_ms = exit_when_idle_ms
        self.clock = clock
        self._events = 0
        self._last = clock()
        self.stop_requested = False
        self.taken = 0

    def checkpoint(self) -> int:
        """Write the runtime's state now (it must be between two batches); its sinks
        commit and its sources record their positions once it is in the store."""
        checkpoint = self.runtime.checkpoint(self.store.next_id())
        self.store.write(checkpoint)
        self.runtime.checkpoint_written(checkpoint.checkpoint_id)
        self._events = 0
        self._last = self.clock()
        self.taken += 1
        return checkpoint.checkpoint_id

    def request_stop(self) -> None:
        """Ask the run to stop at the next batch boundary (a signal handler may call it)."""
        self.stop_requested = True

    def after_batch(self, events: int) -> None:
        self._events += events
        if self.stop_requested:
            self.checkpoint()
            raise StopRequested
        if (events == 0 and self.exit_when_idle_ms is not None
                and self.runtime.idle_ms() >= self.exit_when_idle_ms):
            self.checkpoint()
            raise StopRequested(self.exit_when_idle_ms)
        due_events = self.every_events is not None and self._events >= self.every_events
        due_time = (self.every_ms is not None
                    and (self.clock() - self._last) * 1000 >= self.every_ms)
        if due_events or due_time:
            self.checkpoint()

    def close(self) -> None:
        self.store.close()
