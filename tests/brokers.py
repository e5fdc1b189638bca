"""Tests against real brokers (Redis, and the brokers to come): `require_server`.

A broker test needs its server listening on this machine. Under CI (`CI=true`) a missing
server fails the test, naming it, so a CI that forgot to start it cannot pass by skipping;
elsewhere the test is skipped with the same message, so a developer without the server
still runs the rest of the suite.
"""

from __future__ import annotations

import os
import socket

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
