"""bytewax's panic messages held back while a dataflow runs, and dropped when the run ends
with a job error that frys says itself.

When a step raises (a sink that cannot write: ENOSPC, a source file gone), bytewax's
worker thread panics on the way out, and a panic hook writes a message to file descriptor
2 before frys can say anything: Rust's own (`thread '<unnamed>' panicked at
src/outputs.rs:332:45:`, `Box<dyn Any>`, a note or, with RUST_BACKTRACE=1, a 40-frame
backtrace), or in a cluster the one bytewax installs, which writes the panic as a Python
error (`RuntimeError: (src/run.rs:292:17) panicked at ...: MergeQueue poisoned.`, a peer's
communication thread losing the process that failed). frys then says the job's error at
its stream's line, so these messages are only noise in front of it. A panic that is not a
job error's (a bug) keeps its messages: they are passed on when the run ends.

While `HeldPanics` is open, descriptor 2 is a pipe read by a thread: what is written
there passes on to the real stderr line by line (a progress line ending in a carriage
return too) until a panic message starts; from there on everything
is held until the close (a panic ends the run: nothing is held for long, and no message
needs its end found). Panic hooks write to the descriptor itself, which is why Python's
sys.stderr cannot catch them.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from types import TracebackType
from typing import TextIO

# a panic message's first line: Rust's own hook (`thread 'name' panicked at src/...`), or
# the hook bytewax installs in a cluster, which writes the panic as a Python error
# (`RuntimeError: (src/run.rs:292:17) panicked at ...`)
_PANIC = re.compile(rb"(?:^|(?<=[\n\r]))(?:thread '[^'\n]*' panicked at |[A-Za-z]+: \(src/)",
                    re.MULTILINE)
# how long closing waits for the relay to pass on what is left (a writer that kept a copy
# of the pipe, a child process, would keep it open: closing does not wait for it)
_JOIN_S = 1.0


# where frys says what ended the run once a HeldPanics has shut stderr (quiet_after_drop)
_said_to: TextIO | None = None


def said_to() -> TextIO:
    """The stream to say the run's end on: the real stderr, even once a cluster process's
    HeldPanics has shut descriptor 2 and sys.stderr."""
    return _said_to if _said_to is not None else sys.stderr


class HeldPanics:
    """A context manager: descriptor 2 through a filter that holds Rust's panic messages
    (see the module docstring). Set `drop = True` before it closes to drop them.

    `quiet_after_drop` (a process of a cluster): when they are dropped, descriptor 2 and
    sys.stderr stay shut after the close (/dev/null), and only `said_to()` writes to the
    real stderr, for frys to say the job's error: bytewax's panic hook stays installed
    after the run (it writes through sys.stderr), and the communication threads that lose
    their peers print their panics after it."""

    def __init__(self, quiet_after_drop: bool = False) -> None:
        self.quiet_after_drop = quiet_after_drop
        self.drop = False
        self.held: list[bytes] = []
        self._saved = -1
        self._thread: threading.Thread | None = None

    def __enter__(self) -> HeldPanics:
        sys.stderr.flush()
        try:
            self._saved = os.dup(2)
        except OSError:  # no stderr at all (closed): nothing to hold panics from
            self._saved = -1
            return self
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self._thread = threading.Thread(target=self._relay, args=(read,),
                                        name="frys-stderr", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._saved < 0:
            return
        sys.stderr.flush()
        quiet = self.drop and self.quiet_after_drop
        # the pipe's last writer gone: the relay reaches its end
        if quiet:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
        else:
            os.dup2(self._saved, 2)
        if self._thread is not None:
            self._thread.join(_JOIN_S)
        if not self.drop:
            for message in self.held:
                _write_all(self._saved, message)
        if quiet:  # the saved descriptor is the real stderr's, now said_to()'s alone
            global _said_to
            _said_to = open(self._saved, "w", buffering=1,  # noqa: SIM115
                            encoding=sys.stderr.encoding, errors="backslashreplace")
            sys.stderr = open(os.devnull, "w")  # noqa: SIM115
        else:
            os.close(self._saved)

    def _relay(self, read: int) -> None:
        pending = b""
        holding = False  # from the first panic message on, everything is held
        with os.fdopen(read, "rb", buffering=0) as pipe:
            while chunk := pipe.read(1 << 16):
                if holding:
                    self.held.append(chunk)
                    continue
                pending += chunk
                start = _PANIC.search(pending)
                if start is not None:
                    _write_all(self._saved, pending[:start.start()])
                    self.held.append(pending[start.start():])
                    pending, holding = b"", True
                    continue
                # whole lines pass on now (a progress line ending in a carriage return
                # too); a line still being written waits for its end
                cut = _passable(pending)
                _write_all(self._saved, pending[:cut])
                pending = pending[cut:]
        if pending:
            _write_all(self._saved, pending)


def _passable(data: bytes) -> int:
    """How much of `data` can pass on: its whole lines, ended by a newline or a carriage
    return (a progress line's), but not a last one still being written, which may yet
    become a panic message's first line."""
    return max(data.rfind(b"\n"), data.rfind(b"\r")) + 1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except OSError:  # the real stderr is gone: nothing to say it to
            return
        view = view[written:]
