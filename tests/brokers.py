"""Tests against real brokers (Redis, NATS, RabbitMQ, MQTT, PostgreSQL): `require_server`,
and the crash trial's kill loop (`kill_while_writing`).

A broker test needs its server listening on this machine. Under CI (`CI=true`) a missing
server fails the test, naming it, so a CI that forgot to start it cannot pass by skipping;
elsewhere the test is skipped with the same message, so a developer without the server
still runs the rest of the suite.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def server_listening(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_server(name: str, port: int, host: str = "127.0.0.1") -> None:
    """Go on only if `name`'s server listens at host:port: otherwise fail under CI=true,
    skip elsewhere, with a message naming the server and the address."""
    if server_listening(port, host):
        return
    message = f"{name} server not running at {host}:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: the CI script must start it)", pytrace=False)
    pytest.skip(f"{message}: start it to run this test")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_server(name: str, command: Callable[[int], list[str]]
                   ) -> Iterator[tuple[int, Callable[[], None], Callable[[], None]]]:
    """A server of the test's own (`command(port)` starts it) on a free loopback port, that
    the test can stop and start again: (port, stop, start). Started once listening (at
    most 5 s); stopped by SIGTERM (a broker writes its persistence on the way out) at the
    end if it still runs."""
    port = closed_port()
    server: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        server.append(subprocess.Popen(command(port), stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 5
        while not server_listening(port):
            if time.monotonic() > deadline:
                raise AssertionError(f"the test's {name} did not start")
            time.sleep(0.02)  # a real process starting: polled, not timed

    def stop() -> None:
        server[-1].terminate()
        server[-1].wait(10)

    start()
    try:
        yield port, stop, start
    finally:
        if server[-1].poll() is None:
            stop()


def frys(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m frys ARGS` from the repository root, its output captured as text."""
    return subprocess.run([sys.executable, "-m", "frys", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=Path(__file__).resolve().parent.parent)


def kill_while_writing(job: Path, state: Path, writer: subprocess.Popen[bytes],
                       seed: int, lifetime: tuple[float, float] = (0.5, 1.2),
                       idle: str = "300ms", runs: int = 6, checkpoint_every_events: int = 100,
                       final_idle: str | None = None) -> int:
    """The crash trial's loop: `frys run --state STATE JOB` (a checkpoint every
    `checkpoint_every_events`, ending once idle for `idle`) started up to `runs` times while
    `writer` feeds its source, each run SIGKILLed after a random `lifetime` (seeded) unless
    it ended by itself; then, the writer done, one last run to the end (idle for
    `final_idle`, default `idle`), which must succeed. Returns
    how many runs were killed (a trial that killed none tested nothing: the caller
    asserts it)."""
    rng = random.Random(seed)
    kills = 0
    root = Path(__file__).resolve().parent.parent
    try:
        for _ in range(runs):
            process = subprocess.Popen(
                [sys.executable, "-m", "frys", "run", "--no-progress", "--state", str(state),
                 "--checkpoint-every-events", str(checkpoint_every_events),
                 "--exit-when-idle", idle, str(job)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root)
            try:
                process.communicate(timeout=rng.uniform(*lifetime))
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                kills += 1
                continue
            if writer.poll() is not None:
                break  # idle after the writer finished: done
    finally:
        writer.wait(60)
    final = frys("run", "--no-progress", "--state", str(state), "--exit-when-idle",
                 final_idle or idle, str(job), timeout=120)
    assert final.returncode == 0, final.stderr
    return kills


def crash_trial(whole: Path, trial: Path, writer: Callable[[str], list[str]],
                whole_target: str, trial_target: str, seed: int,
                lifetime: tuple[float, float] = (0.5, 1.2)) -> tuple[list[str], list[str]]:
    """The crash trial of a broker source: `writer(target)` (the command of a process
    feeding the broker at `target`) run to its end, then one uninterrupted `frys run --state` of
    `whole/job.frysql`; then the same writer feeding `trial_target` while
    `trial/job.frysql` is killed again and again (`kill_while_writing`, at least one kill
    asserted). Returns the sorted lines of `out.jsonl` in each folder: (expected, got)."""
    root = Path(__file__).resolve().parent.parent
    subprocess.run(writer(whole_target), check=True, cwd=root, timeout=120)
    done = frys("run", "--state", str(whole / "state"), "--exit-when-idle", "300ms",
                str(whole / "job.frysql"), timeout=120)
    assert done.returncode == 0, done.stderr
    expected = sorted((whole / "out.jsonl").read_text().splitlines())
    assert len(expected) > 10
    feeding = subprocess.Popen(writer(trial_target), cwd=root)
    kills = kill_while_writing(trial / "job.frysql", trial / "state", feeding, seed=seed,
                               lifetime=lifetime)
    assert kills >= 1
    return expected, sorted((trial / "out.jsonl").read_text().splitlines())
