"""When a run takes its checkpoints: `Checkpointer` holds a job's state folder (a store of
engine/checkpoint.py) and, between two batches of a run, takes a checkpoint once enough
events or enough time have gone by, or when a stop was asked for (SIGTERM, Ctrl-C).

A state folder holds the job's text (`job.frysql`, what `Pipeline.resume` compiles) and
its checkpoints (`checkpoints/`, savepoints in `checkpoints/savepoints/<name>/`). The
Python API (`Pipeline(state=...)`) and `frys run --state` share it. Savepoints: `frys
savepoint DIR` asks the run holding DIR for one (SIGUSR1, `serving_savepoints`) or copies
the newest checkpoint when none runs (`take_savepoint`); a changed job starts from one with
`--from-savepoint` (engine/upgrade.py matches its state query by query).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from frys.engine.checkpoint import Checkpoint, CheckpointStore
    from frys.engine.runtime import Runtime

JOB_FILE = "job.frysql"
CHECKPOINTS = "checkpoints"
# beside them while `frys run --state` runs: its process id, and the name of the savepoint
# `frys savepoint` asked it for (with SIGUSR1)
PID_FILE = "run.pid"
SAVEPOINT_REQUEST = "savepoint.request"
SAVEPOINT_RESULT = "savepoint.result"


class StopRequested(Exception):
    """Raised between two batches once a stop was asked for and the last checkpoint is
    written: the run ends there, its input not ended (no window fires). `idle_ms` is set
    when the stop came from `exit_when_idle_ms` (every source idle that long), None for a
    requested stop (a signal)."""

    def __init__(self, idle_ms: int | None = None) -> None:
        super().__init__("stopped at a checkpoint" if idle_ms is None else
                         f"stopped at a checkpoint: every source idle for {idle_ms} ms")
        self.idle_ms = idle_ms


def open_state(directory: Path, text: str, savepoint: str | None = None
               ) -> tuple[CheckpointStore, Checkpoint | None]:
    """The store of a state folder (made if missing, the job's text kept beside it) and
    what to continue from: savepoint `savepoint` if named (CheckpointError if it is
    missing or damaged), else the newest whole checkpoint, if any (CheckpointError when
    there are checkpoints but every one is damaged: never a silent start over)."""
    from frys.engine.checkpoint import CheckpointError, CheckpointStore

    directory.mkdir(parents=True, exist_ok=True)
    store = CheckpointStore(directory / CHECKPOINTS)
    job = directory / JOB_FILE
    if not job.exists():
        job.write_text(text)
    try:
        if savepoint:
            return store, store.savepoint(savepoint)
        latest = store.latest()
        if latest is None and store.ids():
            # starting over would write again what the sinks hold (a log keeps it): the
            # user decides, by deleting the checkpoints
            raise CheckpointError(
                f"every checkpoint in {store.directory} is damaged (see the warnings), so "
                "there is nothing whole to continue from; to run the job again from the "
                f"beginning of its inputs, delete {store.directory}")
        return store, latest
    except BaseException:
        store.close()
        raise


def record_job(directory: Path, text: str) -> None:
    """Keep the job's text in its state folder (what `Pipeline.resume` compiles), replaced
    atomically when the job changed and its state was taken over (engine/upgrade.py)."""
    job = directory / JOB_FILE
    if job.is_file() and not job.is_symlink() and job.read_text() == text:
        return
    _write_atomically(job, text)


def default_savepoint_name() -> str:
    """`savepoint-20261204-231500`: a savepoint's name when none is given (UTC)."""
    return time.strftime("savepoint-%Y%m%d-%H%M%S", time.gmtime())


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
        self.savepoint_requested: str | None = None
        # told of each requested savepoint: its name, its folder or why it failed
        self.on_savepoint: Callable[[str, Path | None, str | None], None] | None = None
        self.taken = 0

    def checkpoint(self) -> int:
        """Write the runtime's state now (it must be between two batches); its sinks
        commit and its sources record their positions once it is in the store."""
        return self._take().checkpoint_id

    def begin(self, resumed: bool) -> None:
        """Before a run on a state folder reads anything: a job with no checkpoint yet
        takes one now, its starting point. Without it a start killed before its first
        periodic checkpoint would restart as a new run, and a sink that keeps what it
        finds (a `wal:` log, a persistent topic) would keep the killed start's rows and
        get them again; with it the restart cuts them back."""
        if not resumed:
            self.checkpoint()

    def savepoint(self, name: str) -> Path:
        """Write the runtime's state now as savepoint `name` (a named, self-contained
        checkpoint that retention never removes: what a changed job starts from), and as
        the newest checkpoint; returns the savepoint's folder."""
        # committed as any checkpoint is, whether or not the savepoint can be written (a
        # name already taken: CheckpointError, after the commit)
        return self.store.write_savepoint(name, self._take())

    def _take(self) -> Checkpoint:
        checkpoint = self.runtime.checkpoint(self.store.next_id())
        self.store.write(checkpoint)
        self.runtime.checkpoint_written(checkpoint.checkpoint_id)
        self._events = 0
        self._last = self.clock()
        self.taken += 1
        return checkpoint

    def request_savepoint(self, name: str) -> None:
        """Ask for savepoint `name` at the next batch boundary (a signal handler may call
        it)."""
        self.savepoint_requested = name

    def request_stop(self) -> None:
        """Ask the run to stop at the next batch boundary (a signal handler may call it)."""
        self.stop_requested = True

    def after_batch(self, events: int) -> None:
        self._events += events
        if self.savepoint_requested is not None:
            name, self.savepoint_requested = self.savepoint_requested, None
            from frys.engine.checkpoint import CheckpointError

            try:  # a savepoint that cannot be written is reported, the run goes on
                path: Path | None = self.savepoint(name)
                error = None
            except CheckpointError as problem:
                path, error = None, str(problem)
            if self.on_savepoint is not None:
                self.on_savepoint(name, path, error)
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


@contextlib.contextmanager
def serving_savepoints(directory: Path, checkpointer: Checkpointer) -> Iterator[None]:
    """While a run keeps its state in `directory`: its process id in PID_FILE, and SIGUSR1
    asks it for a savepoint at the next batch boundary, named by SAVEPOINT_REQUEST (or
    `default_savepoint_name()`); the outcome goes to SAVEPOINT_RESULT (`frys savepoint`
    waits for it)."""
    pid_file = directory / PID_FILE

    def requested(signum: int, frame: object) -> None:
        try:
            name = (directory / SAVEPOINT_REQUEST).read_text().strip()
        except OSError:
            name = ""
        checkpointer.request_savepoint(name or default_savepoint_name())

    def report(name: str, path: Path | None, error: str | None) -> None:
        _write_atomically(directory / SAVEPOINT_RESULT, json.dumps(
            {"name": name, "path": str(path) if path else None, "error": error}))

    checkpointer.on_savepoint = report
    _write_atomically(pid_file, f"{os.getpid()}\n")
    previous = signal.signal(signal.SIGUSR1, requested)
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR1, previous)
        with contextlib.suppress(OSError):
            pid_file.unlink()


def take_savepoint(directory: Path, name: str, timeout_s: float = 60.0) -> Path:
    """Savepoint `name` of the job whose state is in `directory`: asked of the run that
    holds it (`frys run --state`, by SIGUSR1; waits up to `timeout_s` for it to reach a
    batch boundary), or, when no run holds it, the newest checkpoint copied as the
    savepoint. Returns the savepoint's folder; SavepointFailed says why not."""
    from frys.engine.checkpoint import CheckpointError, CheckpointStore

    if not (directory / JOB_FILE).is_file():
        raise SavepointFailed(f"{directory} is not a job's state folder (no {JOB_FILE})")
    try:
        store = CheckpointStore(directory / CHECKPOINTS)
    except CheckpointError as error:
        if "in use" not in str(error):
            raise SavepointFailed(str(error)) from None
        return _ask_running_job(directory, name, timeout_s)
    try:  # no run holds the state: its newest checkpoint is the job as it stopped
        latest = store.latest()
        if latest is None:
            raise SavepointFailed(f"{directory} has no checkpoint yet: run the job with "
                                  f"--state {directory} first")
        return store.write_savepoint(name, latest)
    except CheckpointError as error:
        raise SavepointFailed(str(error)) from None
    finally:
        store.close()


class SavepointFailed(Exception):
    """A savepoint could not be taken; the message says why."""


def _ask_running_job(directory: Path, name: str, timeout_s: float) -> Path:
    try:
        pid = int((directory / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        raise SavepointFailed(f"{directory} is in use, but names no running job "
                              f"({PID_FILE} missing or unreadable)") from None
    result = directory / SAVEPOINT_RESULT
    with contextlib.suppress(FileNotFoundError):
        result.unlink()
    _write_atomically(directory / SAVEPOINT_REQUEST, name + "\n")
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        raise SavepointFailed(f"the job that holds {directory} (process {pid}) is gone"
                              ) from None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            outcome = json.loads(result.read_text())
        except (FileNotFoundError, ValueError):
            time.sleep(0.05)
            continue
        if outcome.get("name") != name:
            time.sleep(0.05)
            continue
        if outcome.get("error"):
            raise SavepointFailed(outcome["error"])
        return Path(outcome["path"])
    raise SavepointFailed(f"the job (process {pid}) did not write savepoint {name} within "
                          f"{timeout_s:g} s (it writes one between two batches)")


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_text(text)
    temporary.replace(path)
