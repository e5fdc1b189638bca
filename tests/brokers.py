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


def kill_while_writing(job: Path, state: Path, writer: subprocess.Popen[bytes],
                       seed: int, lifetime: tuple[float, float] = (0.5, 1.2),
                       idle: str = "300ms", runs: int = 6) -> int:
    """The crash trial's loop: `frys run --state STATE JOB` (a checkpoint every 100 events,
    ending once idle for `idle`) started up to `runs` times while `writer` feeds its
    source, each run SIGKILLed after a random `lifetime` (seeded) unless it ended by
    itself; then, the writer done, one last run to the end, which must succeed. Returns
    how many runs were killed (a trial that killed none tested nothing: the caller
    asserts it)."""
    rng = random.Random(seed)
    kills = 0
    root = Path(__file__).resolve().parent.parent
    try:
        for _ in range(runs):
            process = subprocess.Popen(
                [sys.executable, "-m", "frys", "run", "--no-progress", "--state", str(state),
                 "--checkpoint-every-events", "100", "--exit-when-idle", idle, str(job)],
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
    final = subprocess.run([sys.executable, "-m", "frys", "run", "--no-progress", "--state",
                            str(state), "--exit-when-idle", idle, str(job)],
                           capture_output=True, text=True, cwd=root, timeout=120)
    assert final.returncode == 0, final.stderr
    return kills
