"""`stdin:`: JSON lines from the process's standard input, a growing registry.Source.

`stdin:` or `stdin:?format=jsonl` (JSON Lines is the only format so far; others come with
the file formats' issue). A reader thread reads the file descriptor and hands what it read
to the run loop through a bounded queue (so a writer faster than the job is held back by
the pipe, not by memory); `batches()` never blocks: with nothing waiting it yields
registry.IDLE. Lines are decoded in chunks of whatever has arrived (whole lines only: a
last line without its newline waits for it, or for the end of the input, where it is
taken as it is). The end of standard input (the writer closed the pipe, the end of a
redirected file) is the true end of a bounded input: the stream ends and its windows fire.

Position: standard input cannot be read again, so `position()` is None ("not
replayable", registry.Source) and `seek(None)` is the no-op a resumed run gets: a run
continuing from a checkpoint reads the new standard input it is given. What a crash loses
is said in docs/guarantees.md: the lines read after the last checkpoint (their effects
are cut back with the sinks, and nothing can read them again).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from frys.connectors.registry import IDLE, Connector, Role, SourceContext, UriProblem
from frys.dsl.errors import did_you_mean

if TYPE_CHECKING:
    from frys.connectors.decode import StreamDecoder
    from frys.connectors.registry import Batch

READ_BYTES = 1 << 20  # one read of the pipe
QUEUED_READS = 16  # reads waiting for the run loop, at most
BATCH_BYTES = 8 << 20  # what one batch decodes, at most (a burst of reads coalesced)
_END = b""  # what the reader queues at the end of the input


class StdinSource:
    """JSON lines from a file descriptor (standard input's by default), decoded into the
    stream's schema; dead letters are positioned `stdin:<line>`."""

    growing = True

    def __init__(self, decoder: StreamDecoder, fd: int | None = None) -> None:
        self.decoder = decoder
        self.fd = sys.stdin.fileno() if fd is None else fd
        self._queue: queue.Queue[bytes] = queue.Queue(QUEUED_READS)
        self._reader: threading.Thread | None = None
        self._line = 1  # the number of the next line
        self._error: OSError | None = None

    def _read(self) -> None:
        """The reader thread: every read of the descriptor, then _END."""
        try:
            while True:
                data = os.read(self.fd, READ_BYTES)
                if not data:
                    break
                self._queue.put(data)
        except OSError as error:  # a closed or unreadable descriptor: the input ends
            self._error = error
        self._queue.put(_END)

    def batches(self) -> Iterator[Batch]:
        """Whole lines as they arrive, IDLE while nothing is waiting; ends with the
        input."""
        if self._reader is None:
            self._reader = threading.Thread(target=self._read, name="frys stdin:",
                                            daemon=True)
            self._reader.start()
        carry = b""
        while True:
            try:
                data = self._queue.get_nowait()
            except queue.Empty:
                yield IDLE
                continue
            ended = data == _END
            parts = [carry, data]
            size = len(data)
            while not ended and size < BATCH_BYTES:  # coalesce what is already waiting
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                ended = more == _END
                parts.append(more)
                size += len(more)
            data = b"".join(parts)
            cut = len(data) if ended else data.rfind(b"\n") + 1
            chunk, carry = data[:cut], data[cut:]
            if chunk and not chunk.endswith(b"\n"):
                chunk += b"\n"  # the input's last line, without its newline
            line = self._line
            self._line += chunk.count(b"\n")
            if chunk.strip():
                yield self.decoder.decode_jsonl(chunk, line, "stdin")
            if ended:
                return

    def position(self) -> None:
        """Standard input cannot be read again: not replayable."""
        return None

    def seek(self, position: object) -> None:
        """A resumed run reads the standard input it is given now (position() is always
        None: nothing to seek to)."""

    def commit(self) -> None:
        """Nothing to record: what was read cannot be read again anyway."""

    def close(self) -> None:
        """The reader thread is a daemon, blocked in a read until the input ends or the
        process exits; nothing more is taken from it."""


FORMATS = ("jsonl",)
OPTIONS = ("format",)


def stdin_format(uri: str) -> str:
    """`stdin:[?format=jsonl]` -> the format; ValueError naming what is wrong."""
    rest = uri[len("stdin:"):]
    where, _, query = rest.partition("?")
    if where:
        raise ValueError(f"{uri!r}: stdin: takes no path, only options, e.g. "
                         "'stdin:?format=jsonl'")
    found = "jsonl"
    for option in query.split("&") if query else ():
        key, _, value = option.partition("=")
        if key not in OPTIONS:
            raise ValueError(f"unknown stdin: option {key!r} in {uri!r}"
                             f"{did_you_mean(key, OPTIONS)}; known: {', '.join(OPTIONS)}")
        found = value
    return found


def _check(uri: str, role: Role) -> UriProblem | None:
    try:
        format_ = stdin_format(uri)
    except ValueError as error:
        return UriProblem.error(str(error))
    if format_ not in FORMATS:
        return UriProblem.later(f"stdin: format {format_!r} (only format=jsonl so far)")
    return None


def _open_source(uri: str, context: SourceContext) -> StdinSource:
    return StdinSource(context.decoder)


STDIN_CONNECTOR = Connector("stdin", _check, _open_source)
