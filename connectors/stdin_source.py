"""`stdin:`: events from the process's standard input, a growing registry.Source.

`stdin:?format=jsonl|csv|msgpack` (JSON Lines by default), with the file formats' own
options: ``header``, ``delimiter``, ``quote`` for CSV (connectors/files_csv.py) and
``framing=stream|length`` for msgpack (connectors/files_msgpack.py); the records are
decoded by the same rules as those files', and dead letters are positioned ``stdin:<line>``
(JSON Lines, CSV: the physical line a record starts on) or ``stdin:record <n>`` (msgpack).

A reader thread reads the file descriptor and hands what it read to the run loop through a
bounded queue (so a writer faster than the job is held back by the pipe, not by memory);
`batches()` never blocks: with nothing waiting it yields registry.IDLE. Records are decoded
in chunks of whatever has arrived (whole records only: a last record still incomplete waits
for the rest, or for the end of the input, where a last line without its newline is taken
as it is and a truncated msgpack record is a dead letter). A record that grows past
MAX_RECORD_BYTES without ending (an unclosed CSV quote, a msgpack length that lies) stops
the source with an error rather than buffer the input. The end of standard input (the
writer closed the pipe, the end of a redirected file) is the true end of a bounded input:
the stream ends and its windows fire.

Position: standard input cannot be read again, so `position()` is None ("not
replayable", registry.Source) and `seek(None)` is the no-op a resumed run gets: a run
continuing from a checkpoint reads the new standard input it is given. What a crash loses
is said in docs/guarantees.md: the records read after the last checkpoint (their effects
are cut back with the sinks, and nothing can read them again).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from frys.connectors.registry import (
    IDLE,
    Connector,
    ConnectorError,
    Role,
    SourceContext,
    UriProblem,
)
from frys.dsl.errors import did_you_mean

if TYPE_CHECKING:
    import polars as pl

    from frys.connectors.decode import DeadLetter, StreamDecoder
    from frys.connectors.files_csv import CsvOptions
    from frys.connectors.registry import Batch

READ_BYTES = 1 << 20  # one read of the pipe
QUEUED_READS = 16  # reads waiting for the run loop, at most
BATCH_BYTES = 8 << 20  # what one batch decodes, at most (a burst of reads coalesced)
MAX_RECORD_BYTES = 64 << 20  # an incomplete record longer than this stops the source
_END = b""  # what the reader queues at the end of the input

FORMATS = ("jsonl", "csv", "msgpack")


@dataclass(frozen=True)
class StdinFormat:
    """What `stdin:` reads: the format and its options (CsvOptions, or the msgpack
    framing)."""

    name: str = "jsonl"
    csv: CsvOptions | None = None
    framing: str = "stream"


class _Records:
    """How one format cuts whole records out of what has arrived and decodes them."""

    def __init__(self, decoder: StreamDecoder, form: StdinFormat) -> None:
        self.decoder = decoder
        self.form = form
        self.number = 1  # the line (jsonl, csv) or record (msgpack) the next chunk starts at
        self._found: list[bytes] = []  # msgpack: the records end() found, for decode()
        self._csv = None
        if form.name == "csv":
            from frys.connectors.files_csv import CsvDecoder, CsvOptions

            self._csv = CsvDecoder(decoder, form.csv or CsvOptions(), "stdin")

    def end(self, data: bytes) -> int:
        """The length of `data`'s whole records (0: none yet); ValueError past
        MAX_RECORD_BYTES without one."""
        if self.form.name == "jsonl":
            cut = data.rfind(b"\n") + 1
        elif self._csv is not None:
            from frys.connectors.files_csv import last_record_end

            cut = last_record_end(data, self._csv.options.quote.encode())
        else:
            self._found = self._msgpack_records(data)  # decode() takes them as they are
            cut = sum(map(len, self._found))
        if len(data) - cut > MAX_RECORD_BYTES:  # what is left waits for its record's end
            raise ValueError(f"a record runs past {MAX_RECORD_BYTES} bytes without ending")
        return cut

    def _msgpack_records(self, data: bytes) -> list[bytes]:
        from frys.connectors.files_msgpack import record_end

        records, start = [], 0
        while start < len(data):
            if self.form.framing == "length":
                if start + 4 > len(data):
                    break
                end: int | None = start + 4 + int.from_bytes(data[start:start + 4], "big")
                if end is not None and end > len(data):
                    end = None
            else:
                end = record_end(data, start)  # Corrupt (a ValueError) past a bad byte
            if end is None:
                break
            records.append(data[start:end])
            start = end
        return records

    def decode(self, chunk: bytes, last: bool) -> tuple[pl.DataFrame, list[DeadLetter]]:
        """The records of `chunk` (whole ones; with `last`, whatever ended the input)."""
        first = self.number
        if self.form.name != "msgpack":
            if chunk and not chunk.endswith(b"\n"):
                chunk += b"\n"  # the input's last line, without its newline
            self.number += chunk.count(b"\n")
            if self._csv is not None:
                return self._csv.decode(chunk, first)
            return self.decoder.decode_jsonl(chunk, first, "stdin")
        from frys.connectors.decode import DeadLetter
        from frys.connectors.payloads import decode_messages

        records = self._found if sum(map(len, self._found)) == len(chunk) \
            else self._msgpack_records(chunk)  # the input's end: what is left, not cut
        self._found = []
        skip = 4 if self.form.framing == "length" else 0
        self.number += len(records)
        positions = [f"stdin:record {n}" for n in range(first, self.number)]
        batch, letters = decode_messages(self.decoder, [r[skip:] for r in records],
                                         positions, "msgpack", max_bytes=MAX_RECORD_BYTES)
        rest = len(chunk) - sum(map(len, records))
        if last and rest:
            letters.append(DeadLetter(self.decoder.stream, f"truncated record: the input "
                                      f"ends {rest} bytes into it",
                                      f"stdin:record {self.number}", chunk[-rest:].hex()))
            self.number += 1
        return batch, letters


class StdinSource:
    """Records from a file descriptor (standard input's by default), decoded into the
    stream's schema (see the module docstring for formats and positions)."""

    growing = True

    def __init__(self, decoder: StreamDecoder, fd: int | None = None,
                 form: StdinFormat | None = None) -> None:
        self.decoder = decoder
        self.fd = sys.stdin.fileno() if fd is None else fd
        self._queue: queue.Queue[bytes] = queue.Queue(QUEUED_READS)
        self._reader: threading.Thread | None = None
        self._records = _Records(decoder, form or StdinFormat())
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
        """Whole records as they arrive, IDLE while nothing is waiting; ends with the
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
            try:
                cut = len(data) if ended else self._records.end(data)
                chunk, carry = data[:cut], data[cut:]
                # blank text is no record; msgpack bytes are records whatever their value
                if chunk.strip() or (chunk and self._records.form.name == "msgpack"):
                    yield self._records.decode(chunk, last=ended)
            except ValueError as error:  # a header that is not CSV, bytes not msgpack
                raise ConnectorError(f"cannot read standard input (stream "
                                     f"{self.decoder.stream}, {self._records.form.name}) at "
                                     f"record or line {self._records.number}: {error}"
                                     ) from None
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


def stdio_format(uri: str, scheme: str, role: Role) -> StdinFormat:
    """`stdin:[?format=jsonl|csv|msgpack&<that format's options>]` (or `stdout:`) -> the
    format; ValueError naming what is wrong."""
    rest = uri[len(scheme) + 1:]
    where, _, query = rest.partition("?")
    if where:
        raise ValueError(f"{uri!r}: {scheme}: takes no path, only options, e.g. "
                         f"'{scheme}:?format=jsonl'")
    name, others = "jsonl", []
    for option in query.split("&") if query else ():
        key, _, value = option.partition("=")
        if key == "format":
            if value not in FORMATS:
                raise ValueError(f"format must be {', '.join(FORMATS)} in {uri!r}, not "
                                 f"{value!r}")
            name = value
        else:
            others.append(option)
    known = {"jsonl": ("format",), "csv": ("format", "header", "delimiter", "quote"),
             "msgpack": ("format", "framing")}[name]
    for option in others:
        key = option.partition("=")[0]
        if key not in known:
            raise ValueError(f"unknown {scheme}: option {key!r} in {uri!r}"
                             f"{did_you_mean(key, known)}; known with format={name}: "
                             f"{', '.join(known)}")
    if name == "csv":
        from frys.connectors.files_csv import csv_options

        return StdinFormat(name, csv=csv_options(uri, "&".join(others), role))
    if name == "msgpack":
        from frys.connectors.files_msgpack import msgpack_options

        return StdinFormat(name, framing=msgpack_options(uri, "&".join(others), role))
    return StdinFormat(name)


def _check(uri: str, role: Role) -> UriProblem | None:
    try:
        stdio_format(uri, "stdin", role)
    except ValueError as error:
        return UriProblem.error(str(error))
    return None


def _open_source(uri: str, context: SourceContext) -> StdinSource:
    return StdinSource(context.decoder, form=stdio_format(uri, "stdin", "source"))


STDIN_CONNECTOR = Connector("stdin", _check, _open_source)
