"""Stopping a run on a signal, the same way on every runtime: SIGTERM and the first Ctrl-C
ask the run to stop at its next batch (`on_stop`, safe from a signal handler); a second
Ctrl-C interrupts at once (KeyboardInterrupt). The embedded runtime's `frys run`
(api/run_cli.py) and the scale-out runtime (engine/scaleout/cluster.py) both use it."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def stop_signals(on_stop: Callable[[], None]) -> Iterator[None]:
    """SIGTERM/SIGINT call `on_stop` while the block runs (the main thread only: Python
    runs signal handlers there); the handlers before are put back after."""
    requested = False

    def stop(signum: int, frame: object) -> None:
        nonlocal requested
        if requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        requested = True
        on_stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
