"""Running a lowered job on bytewax: workers in this process, a cluster of local
processes this process launches and watches, or one process of a cluster on several
hosts; with bytewax's recovery (`-r DIR -s SECONDS`).

bytewax's own `cli_main` runs the dataflow (timely dataflow underneath: workers exchange
items in process, processes over TCP). What frys adds: the recovery folder is created
with its partitions on first use, and a resume under another key-group assignment is
refused before bytewax starts (`check_recovery`); `run_processes` launches P processes on
loopback addresses (as `python -m bytewax.testing -p` does) but watches them: when one
dies (a crash, kill -9), the others are stopped and the run fails saying which and how,
instead of waiting for a peer that will never answer; and they end when it does (a
lifeline pipe), however it ends. A step's job error (a FrysError) comes out of
`run_flow` as itself, not as what bytewax makes of it (a wrapped error, a panic).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from frys.engine.scaleout.step_panics import HeldPanics

# recovery partitions a new folder gets: independent of the number of workers (state is
# kept per key, and bytewax reads every partition on resume), so a resume may rescale
DEFAULT_RECOVERY_PARTITIONS = 4


@dataclass(frozen=True)
class Cluster:
    """How to run: `workers` per process; `process_id` and `addresses` (every process's
    host:port, in process order) for one process of a cluster; recovery in
    `recovery_dir`, a snapshot every `snapshot_interval_s` of wall-clock time (bytewax's
    epochs), keeping `backup_interval_s` of older snapshots."""

    workers: int = 1
    process_id: int | None = None
    addresses: tuple[str, ...] | None = None
    recovery_dir: Path | None = None
    snapshot_interval_s: float | None = None
    backup_interval_s: float = 0.0

    @property
    def processes(self) -> int:
        return len(self.addresses) if self.addresses else 1


class RecoveryRefused(RuntimeError):
    """A recovery folder this run cannot resume from, said before bytewax starts."""


@dataclass(frozen=True)
class Recovered:
    """What a recovery folder fixes for the run that resumes from it: per source URI, the
    partitions its positions were kept under, the number of key groups its keyed state
    was split into (None: it holds no keyed state), and per sink URI the number of writers
    whose shares it holds (None: not a resume; a sink it does not name had one)."""

    source_parts: dict[str, tuple[str, ...]]
    key_groups: int | None
    sink_writers: dict[str, int] | None = None


def check_recovery(directory: Path, key_groups: int | None = None, job: str | None = None
                   ) -> Recovered:
    """What a resume from `directory` must keep (Recovered): the resumed run reads each
    source as the run that wrote the folder did, keeps its number of key groups and writes
    each sink with as many writers, whatever its own cluster (a position belongs to its
    partition, a group's state to its group, a writer's recovery state to its parts).
    Refused (RecoveryRefused) when `key_groups`, this run's if it says one, is not the
    folder's, or when the folder's key-group assignment is not what this run would make
    of that number (key_groups.assignment_fingerprint: a polars whose hash differs), or
    when it is the state of another `job` (engine.runtime.job_fingerprint).
    GroupLogic._restore refuses a changed assignment inside bytewax too, but there its
    error reaches the command line only in-process: in a cluster of processes the process
    that raises it brings its peers down with a panic, and the message is lost (bytewax
    0.21). One snapshot per step and partition is read (a pickled dict)."""
    import pickle
    import sqlite3

    from frys.engine.scaleout.key_groups import assignment_fingerprint

    parts: dict[str, tuple[str, ...]] = {}
    writers: dict[str, int] = {}
    groups: int | None = None
    snapshots = False  # (a folder without any is a fresh run's: a -p launcher made it)
    for part in sorted(directory.glob("part-*.sqlite3")):
        connection = sqlite3.connect(f"file:{part}?mode=ro", uri=True)
        try:
            rows = connection.execute(
                "SELECT step_id, ser_change FROM snaps WHERE ser_change IS NOT NULL "
                "GROUP BY step_id").fetchall()
        finally:
            connection.close()
        snapshots = snapshots or bool(rows)
        for step, blob in rows:
            try:
                state = pickle.loads(blob)
            except Exception:  # not a frys state: not ours to judge
                continue
            if not isinstance(state, dict):
                continue
            if job is not None and state.get("job") not in (None, job):
                raise RecoveryRefused(
                    f"cannot resume from the recovery folder {directory}: it holds the state "
                    "of another job (its operator graph differs from this one's); the "
                    "scale-out runtime resumes the same job only (a changed job continues "
                    "from a --state checkpoint of the embedded runtime): start with a new "
                    "folder")
            if isinstance(state.get("uri"), str) and isinstance(state.get("parts"), list):
                parts[state["uri"]] = tuple(str(p) for p in state["parts"])
            if isinstance(state.get("sink"), str) and type(state.get("writers")) is int:
                writers[state["sink"]] = state["writers"]
            recorded = state.get("assignment")
            if not isinstance(recorded, str):
                continue
            count = recorded.partition("/")[0]
            kept = int(count) if count.isdigit() else 0
            expected = assignment_fingerprint(key_groups if key_groups is not None else kept)
            if kept < 1 or recorded != expected:
                raise RecoveryRefused(
                    f"cannot resume from the recovery folder {directory}: its state of "
                    f"step {step} was kept under key-group assignment {recorded} and this "
                    f"run uses {expected} (another --key-groups, or a polars whose hash "
                    "differs); resume without --key-groups or with the one of the run that "
                    "wrote it, or start with a new folder")
            groups = kept
    return Recovered(parts, groups, writers if snapshots else None)


def prepare_recovery(directory: Path, partitions: int = DEFAULT_RECOVERY_PARTITIONS) -> bool:
    """Create bytewax's recovery partitions in `directory` unless it has them; True when
    it already had (a resume)."""
    from bytewax.recovery import init_db_dir

    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.glob("part-*.sqlite3")):
        return True
    init_db_dir(directory, partitions)
    return False


def run_flow(flow: Any, cluster: Cluster) -> None:
    """Run `flow` in this process as `cluster` says; returns when the input has ended (or
    raises what a step raised)."""
    from bytewax._bytewax import cli_main
    from bytewax.recovery import RecoveryConfig

    recovery = None
    if cluster.recovery_dir is not None:
        prepare_recovery(cluster.recovery_dir)
        recovery = RecoveryConfig(cluster.recovery_dir,
                                  timedelta(seconds=cluster.backup_interval_s))
    epoch = timedelta(seconds=cluster.snapshot_interval_s or 10)
    _watch_lifeline(cluster.process_id)
    if cluster.addresses and cluster.process_id:
        _wait_for_listeners(cluster.addresses[:cluster.process_id])
    _failures.clear()
    # bytewax's panic messages: noise before a job error
    panics = HeldPanics(quiet_after_drop=bool(cluster.addresses))
    said_elsewhere = False  # a job error met by a peer of this cluster, which says it
    try:
        with panics, _stop_signals(enabled=recovery is None):
            try:
                cli_main(flow, workers_per_process=cluster.workers,
                         process_id=cluster.process_id,
                         addresses=list(cluster.addresses) if cluster.addresses else None,
                         epoch_interval=epoch, recovery_config=recovery)
            except BaseException as error:
                # (a peer notes its error before it goes down, but this process may
                # notice the loss first: the claim is waited for a moment)
                said_elsewhere = bool(cluster.addresses) and job_error_said_elsewhere(
                    _said_marker, wait_s=0.5)
                # a job error, here or said by a peer: what bytewax printed is noise
                panics.drop = said_elsewhere or _job_error(error) is not None
                raise
    except BaseException as error:  # a panic too (pyo3's PanicException)
        if said_elsewhere:
            # losing the peer reaches this process as a panic, or as timely's
            # RuntimeError ("MergeQueue poisoned"), or as its own copy of the error
            raise JobErrorSaid("a peer said the job's error") from None
        cause = _job_error(error)
        if cause is not None:
            raise cause from None
        if cluster.addresses and type(error).__name__ == "PanicException":
            # what a process of a cluster gets when a peer died, or when a step raised
            # anywhere in the cluster: timely's communication thread panics, and the
            # step's own error does not come back (bytewax 0.21)
            raise ProcessFailed(
                f"process {cluster.process_id} of {cluster.processes} stopped: bytewax "
                f"panicked ({error}): it lost another process of the cluster, or a step "
                "raised") from None
        raise


def _listening_ports() -> set[int]:
    """The TCP ports something listens on at this host (Linux /proc; empty elsewhere)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as file:
                next(file, None)
                for line in file:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == "0A":  # LISTEN
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return ports


def _wait_for_listeners(addresses: Sequence[str], timeout_s: float = 30.0) -> None:
    """Wait until the processes before this one listen, where that can be seen (on this
    host): timely connects to them once, and after a refused connection waits a whole
    second before it tries again, which was most of a local cluster's start-up. Returns
    at the timeout regardless (timely's own retries take over)."""
    local = [int(a.rsplit(":", 1)[1]) for a in addresses
             if a.rsplit(":", 1)[0] in ("127.0.0.1", "localhost", "::1", "[::1]")]
    if not local or not os.path.exists("/proc/net/tcp"):
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if set(local) <= _listening_ports():
            return
        time.sleep(0.01)


@contextlib.contextmanager
def _stop_signals(enabled: bool) -> Iterator[None]:
    """Without recovery, SIGTERM and the first Ctrl-C end the input at the sources' next
    batch (windows fire, sinks commit: nothing could continue the run later), as the
    embedded runtime's `frys run` does; a second Ctrl-C interrupts at once. With recovery
    they are left as they are: the process stops, and the same command resumes from the
    last snapshot."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    from frys.engine.scaleout.io import END_REQUESTED, request_end
    from frys.engine.stopping import stop_signals

    END_REQUESTED.clear()
    with stop_signals(request_end):
        yield


# the job errors (FrysError) the steps of this process raised, in order: bytewax wraps
# them in its own errors in-process, and in a cluster of processes a step's error comes
# back as a panic of the communication thread without it
_failures: list[BaseException] = []

# in a process of a `-p` cluster: the file whose creation claims the saying of the job's
# error for the whole cluster (say_job_errors_at), and whether this process claimed it
_said_marker: Path | None = None
_claimed = False


class JobErrorSaid(RuntimeError):
    """Another process of this `-p` cluster met a job error and says it: this one (a peer
    that lost it, or the launcher) ends with the error status without a word, so that
    the error is said once, not followed by every process's account of losing a peer."""


def say_job_errors_at(marker: Path | None) -> None:
    """In a process of a `-p` cluster (None: not): a job error noted here is said by this
    process only if it is the first of the cluster to create `marker`; a process that then
    loses a peer, and the launcher, see the marker and stay quiet (JobErrorSaid)."""
    global _said_marker, _claimed
    _said_marker, _claimed = marker, False


def note_failure(error: BaseException) -> None:
    """A step's job error (a FrysError), kept for run_flow to raise instead of what bytewax
    makes of it; in a `-p` cluster, the first such error of the cluster claims the saying
    (say_job_errors_at)."""
    global _claimed
    _failures.append(error)
    if _said_marker is not None and not _claimed:
        try:
            os.close(os.open(_said_marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            _claimed = True
        except OSError:  # another process claimed it (or the folder is gone): it says it
            pass


def job_error_said_elsewhere(marker: Path | None, wait_s: float = 0.0) -> bool:
    """Whether a process of the cluster other than this one claimed the saying of a job
    error at `marker`, waiting up to `wait_s` for it to appear (a peer notes its error
    before it goes down, but this process may notice the loss first)."""
    if marker is None or _claimed:
        return False
    deadline = time.monotonic() + wait_s
    while not marker.exists():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _job_error(error: BaseException) -> BaseException | None:
    """The job error behind what cli_main raised: a FrysError in its chain of causes, or
    the first a step of this process noted; None for anything else (a bug: its traceback
    is wanted)."""
    from frys.dsl.errors import FrysError

    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        if isinstance(link, FrysError):
            return link
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    return _failures[0] if _failures else None


def loopback_addresses(count: int) -> tuple[str, ...]:
    """`count` free TCP addresses on 127.0.0.1 (bound and released: a later bind may race
    with another program, which then fails the run loudly rather than silently)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return tuple(f"127.0.0.1:{s.getsockname()[1]}" for s in sockets)
    finally:
        for s in sockets:
            s.close()


class ProcessFailed(RuntimeError):
    """A process of a local cluster died; the others were stopped."""


class Stopped(RuntimeError):
    """The processes of a local cluster stopped because this process was asked to stop
    (SIGTERM, Ctrl-C) and passed it on; with -r they stop where they are."""


def run_processes(argv_of: Callable[[int, Sequence[str]], list[str]], processes: int,
                  poll_s: float = 0.05, stop_grace_s: float = 5.0,
                  settle_s: float = 0.5, check: Callable[[], None] | None = None,
                  env: dict[str, str] | None = None) -> None:
    """Launch `processes` processes (`argv_of(i, addresses)`, with `env` added to this
    process's environment), wait for all of them, and raise ProcessFailed naming those
    that failed (killed by a signal, or a non-zero exit; those that fail within
    `settle_s` of the first counted too) after stopping the rest: a timely cluster cannot
    go on without one of its processes, and left alone the others would wait for it.
    SIGINT/SIGTERM to this process are passed on to them.

    `check` runs only when one of them has failed, once the others are stopped: what it
    raises (the launcher's check of the job: a job's error says why better than an exit
    status) is raised instead of ProcessFailed. It used to run while the processes
    started, on the same cores: 0.08 s of a small job's 0.48 s. Their ends are awaited on
    pidfds, so the launcher returns as soon as the last has ended."""
    addresses = loopback_addresses(processes)
    # the children's lifeline: a pipe whose writing end only this process holds, closed
    # when it ends, however it ends (kill -9 too): they stop when it does
    lifeline, held = os.pipe()
    env = dict(os.environ, **(env or {}), **{LIFELINE_ENV: str(lifeline)})
    env.setdefault(POLARS_THREADS_ENV, str(polars_threads(processes)))
    try:
        children = [subprocess.Popen(argv_of(i, addresses), stdout=subprocess.PIPE,
                                     pass_fds=(lifeline,), env=env)
                    for i in range(processes)]
    finally:
        os.close(lifeline)
    relays = [threading.Thread(target=_relay, args=(child.stdout,), daemon=True)
              for child in children]
    for relay in relays:
        relay.start()

    stop_signals: list[int] = []

    def forward(signum: int, frame: object) -> None:
        stop_signals.append(signum)
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            codes = [child.poll() for child in children]
            if any(code not in (None, 0) for code in codes):
                # its peers soon fail too (they lose their connections to it): let them,
                # briefly, so that the one that failed first, or was killed, is named
                # rather than one that only lost it
                settle = time.monotonic() + settle_s
                while time.monotonic() < settle and any(c.poll() is None for c in children):
                    time.sleep(poll_s)
                codes = [child.poll() for child in children]
                _stop(children, stop_grace_s)
                if stop_signals:  # what was asked for: with -r, processes stop at once
                    raise Stopped(signal.Signals(stop_signals[0]).name)
                if check is not None:
                    check()
                raise ProcessFailed(_failure_message(codes))
            if all(code == 0 for code in codes):
                for relay in relays:
                    relay.join()
                return
            _wait_for_an_end([c for c, code in zip(children, codes, strict=True)
                              if code is None], poll_s)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop(children, stop_grace_s)
        os.close(held)


def _wait_for_an_end(running: list[subprocess.Popen[bytes]], poll_s: float) -> None:
    """Until one of `running` has ended or `poll_s` has passed (a signal to forward is
    looked at then): on the processes' pidfds (Linux), else a sleep."""
    if not hasattr(os, "pidfd_open"):
        time.sleep(poll_s)
        return
    fds = []
    try:
        for child in running:
            try:
                fds.append(os.pidfd_open(child.pid))
            except OSError:  # ended and reaped meanwhile: look again at once
                return
        select.select(fds, [], [], poll_s)
    finally:
        for fd in fds:
            os.close(fd)


POLARS_THREADS_ENV = "POLARS_MAX_THREADS"


def polars_threads(processes: int) -> int:
    """The size of each local process's polars thread pool: the machine's cores shared
    out (at least one each). polars sizes its pool to every core by default, so P
    processes would each run that many threads on the same cores, and their parallel
    operations (decoding, group-bys) would wait on each other's; a POLARS_MAX_THREADS the
    user set is kept."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    return max(1, cores // processes)


# the environment variable that gives a process of a `-p` cluster its lifeline's fd
LIFELINE_ENV = "FRYS_SCALEOUT_LIFELINE_FD"


def _watch_lifeline(process_id: int | None) -> None:
    """In a process `run_processes` launched: end this process as soon as the launcher
    has ended. A launcher killed with kill -9 cannot stop its children, and left alone
    they would run on, writing the sinks and the recovery folder that the same command
    run again (to resume) writes too."""
    fd = os.environ.pop(LIFELINE_ENV, None)
    if fd is None:
        return

    def watch() -> None:
        try:
            while os.read(int(fd), 1):
                pass
        except OSError:
            pass
        sys.stderr.write(f"frys: process {process_id}: the process that launched the "
                         "cluster has ended; stopping\n")
        sys.stderr.flush()
        os._exit(1)  # as a crash: the recovery folder and the sinks take it

    threading.Thread(target=watch, name="frys-lifeline", daemon=True).start()


def _failure_message(codes: list[int | None]) -> str:
    """What ProcessFailed says: the processes killed by a signal first (a cause), then
    those that exited with an error (often a consequence: a lost peer), then that the
    rest were stopped."""
    failed = sorted((i for i, code in enumerate(codes) if code not in (None, 0)),
                    key=lambda i: (codes[i] or 0) >= 0)
    hows = []
    for i in failed:
        code = codes[i]
        assert code is not None
        hows.append(f"process {i} of {len(codes)} "
                    + (f"was killed by signal {-code} ({signal.Signals(-code).name})"
                       if code < 0 else f"exited with status {code}"))
    stopped = ("; the other processes were stopped"
               if any(code is None for code in codes) else "")
    return (f"{'; '.join(hows)}{stopped} (a cluster cannot go on without one of its "
            "processes). With -r, run the same command again to resume from the last "
            "snapshot")


# what timely prints on stdout while a process waits for a peer that has not started
# listening yet: noise among the rows of bare SELECTs, which share stdout
_TIMELY_RETRY = re.compile(rb"^worker \d+:\terror connecting to worker \d+: .*; retrying$")
_STDOUT_LOCK = threading.Lock()


def _relay(pipe: IO[bytes] | None) -> None:
    """A child's stdout onto ours, line by line (whole lines, never interleaved), without
    timely's connection retries."""
    assert pipe is not None
    out = sys.stdout.buffer
    for line in pipe:
        if _TIMELY_RETRY.match(line.rstrip(b"\n")):
            continue
        with _STDOUT_LOCK:
            out.write(line)
    with _STDOUT_LOCK:
        out.flush()


def _stop(children: list[subprocess.Popen[bytes]], grace_s: float) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + grace_s
    for child in children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def python_argv() -> list[str]:
    """How a child process runs this Python."""
    return [sys.executable]
