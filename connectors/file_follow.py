"""`file:<path>?follow=true`: a JSON Lines or CSV file read as it grows (`tail -F`), a
growing registry.Source (FollowedJsonlFile, FollowedCsvFile).

What it reads: every whole line of the file, in order, as the file grows; a last line
without its newline waits for it. When it reaches the end of what the file holds it yields
registry.IDLE (never blocking the run loop) and, each time, looks whether the file was
rotated:

* replaced (the path now names another file, inode changed: `mv x x.1; touch x`): the
  rest of the old file is read first (lines its writer appended before it let go; a last
  line without a newline is taken as it is), then the new file from its start;
* truncated or rewritten in place (shorter than what was read, or its bytes before the
  offset are not the ones read: `copytruncate`, `> x`): read again from its start. Lines
  appended to the old contents after the last read and before the truncation are lost
  with them: nothing can read them any more.

Position and resume: its position is the file source's (jsonl.FilePosition: offset, line,
fingerprints of the bytes read) plus the inode of the file being read. A resumed run
(`seek`) finds that file again: at its path, or, when it was rotated while the job was
down, renamed within the same folder (looked up by inode, then checked by the
fingerprints); it reads that file's rest, then the file at the path from its start: no
row read twice, none skipped. A file that cannot be found again (deleted, moved to another
folder) or no longer holds the bytes read (truncated while the job was down) is refused
with ConnectorError naming it, like a bounded file source: the rows after the checkpoint
may be gone, and frys does not guess.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from frys.connectors.jsonl import UTF8_BOM, FilePosition, JsonlFileSource, _pread
from frys.connectors.registry import IDLE, ConnectorError

if TYPE_CHECKING:
    import polars as pl

    from frys.connectors.decode import DeadLetter, StreamDecoder
    from frys.connectors.files_csv import CsvOptions
    from frys.connectors.registry import Batch


class FollowedJsonlFile(JsonlFileSource):
    """A growing source (registry.Source, `growing`): the lines of a .jsonl file as they
    are appended, across rotations; see the module's docstring for what it guarantees."""

    growing = True

    def __init__(self, path: Path, decoder: StreamDecoder, display_name: str,
                 chunk_bytes: int | None = None) -> None:
        super().__init__(path, decoder, display_name, chunk_bytes)
        self._inode: int | None = None  # of the file being read
        self._first: Path | None = None  # seek(): a rotated file to read before the path

    # ------------------------------------------------------------------ reading

    def batches(self) -> Iterator[Batch]:
        """Whole lines as they come, IDLE at the current end; never ends by itself."""
        file = open(self._first or self.path, "rb")  # noqa: SIM115 (swapped on rotation)
        try:
            self._start(file, resumed=self._seeked)
            carry = b""  # a last line still waiting for its newline
            while True:
                data = file.read(self.chunk_bytes)
                if data:
                    data = carry + data
                    cut = self._records_end(data)
                    if cut == 0:
                        carry = data
                        continue
                    carry = data[cut:]
                    yield self._chunk(data[:cut])
                    continue
                rotation = self._rotation(file, len(carry))
                if rotation is None:
                    yield IDLE
                    # asked again: look before reading (a file cut and written again past
                    # the offset meanwhile would otherwise read as appended)
                    rotation = self._rotation(file, len(carry))
                if rotation is None:
                    continue
                if rotation == "truncated":
                    file.seek(0)
                    self._reset()
                    self._start(file, resumed=False)
                    carry = b""
                else:  # replaced: the old file's rest, then the new one from its start
                    try:
                        new = open(self.path, "rb")  # noqa: SIM115
                    except FileNotFoundError:  # gone again meanwhile: look later
                        continue
                    rest = carry + _read_rest(file)
                    carry = b""
                    if rest.strip():
                        # the old file is done: its last line too, newline or not (the
                        # offset counts the file's bytes only, as its position must)
                        yield self._chunk(rest if rest.endswith(b"\n") else rest + b"\n",
                                          len(rest))
                    file.close()
                    file = new
                    self._reset()
                    self._start(file, resumed=False)
        finally:
            file.close()

    def _start(self, file: IO[bytes], resumed: bool) -> None:
        """Begin reading `file`: at the offset seek() set, or at its start (a byte-order
        mark skipped, as the bounded source does)."""
        self._inode = os.fstat(file.fileno()).st_ino
        self._fingerprint = None
        if resumed:
            file.seek(self._offset)
            return
        if file.read(len(UTF8_BOM)) != UTF8_BOM:
            file.seek(0)
        self._offset = file.tell()
        self._consumed(UTF8_BOM, self._offset)

    def _reset(self) -> None:
        self._offset, self._line = 0, 1
        self._head = self._tail = b""
        self._seeked = False
        self._fingerprint = None

    def _chunk(self, chunk: bytes, length: int | None = None
               ) -> tuple[pl.DataFrame, list[DeadLetter]]:
        """Decode whole lines read at the offset (`length` bytes of the file, when a
        newline was added to the last), and move past them."""
        length = len(chunk) if length is None else length
        self._consumed(chunk, length)
        line = self._line
        self._offset += length
        self._line += chunk.count(b"\n")
        return self._decode(chunk, line)

    # ------------------------------------------------------------------ the format

    def _records_end(self, data: bytes) -> int:
        """The length of `data`'s whole records (0: none yet); data starts at a record
        start. JSON lines end at a newline."""
        return data.rfind(b"\n") + 1

    def _decode(self, chunk: bytes, line: int) -> tuple[pl.DataFrame, list[DeadLetter]]:
        """A chunk of whole records whose first line is `line`."""
        return self.decoder.decode_jsonl(chunk, line, self.display_name)

    def _rotation(self, file: IO[bytes], carried: int) -> str | None:
        """At the end of `file`: 'replaced' if the path names another file now,
        'truncated' if the file no longer holds what was read, else None (a path renamed
        away and not created again yet: the old file is followed until it is)."""
        at_path: int | None
        try:
            at_path = os.stat(self.path).st_ino
        except FileNotFoundError:
            at_path = self._inode
        if at_path != self._inode:
            return "replaced"
        size = os.fstat(file.fileno()).st_size
        if size < self._offset + carried:
            return "truncated"
        # cut and written again past the offset since the last look: the bytes before the
        # offset tell (a read of at most TAIL_BYTES, once per idle poll)
        if _pread(file, self._offset - len(self._tail), len(self._tail)) != self._tail:
            return "truncated"
        return None

    # ------------------------------------------------------------------ position

    def position(self) -> dict[str, int | str]:
        position = super().position()
        if self._inode is not None:
            position["inode"] = self._inode
        return position

    def seek(self, position: object) -> None:
        """Continue at `position`, in the file it was taken in: the one at the path, or
        the same file renamed within its folder by a rotation (found by inode); refused
        (ConnectorError) if that file is gone or does not hold the bytes read."""
        if position is None:
            return
        where = FilePosition.parse(position, self.display_name)
        path = self.path
        if where.inode is not None and _inode(path) != where.inode:
            found = next((candidate for candidate in sorted(path.parent.iterdir())
                          if _inode(candidate) == where.inode), None)
            if found is None:
                raise ConnectorError(
                    f"cannot resume the followed file {self.display_name} (stream "
                    f"{self.decoder.stream}) at byte {where.offset}, line {where.line}: it "
                    "was replaced since the checkpoint and the file read then is no longer "
                    "in its folder (deleted or moved away), so the lines after the "
                    "checkpoint may be lost; start the job afresh (without its state)")
            path = self._first = found
        self._seek_in(path, where)


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino if path.is_file() else None
    except OSError:
        return None


def _read_rest(file: IO[bytes]) -> bytes:
    parts: list[bytes] = []
    while True:
        data = file.read(1 << 20)
        if not data:
            return b"".join(parts)
        parts.append(data)



class FollowedCsvFile(FollowedJsonlFile):
    """`file:<path>.csv?follow=true`: the records of a CSV file as they are appended, across
    rotations, with FollowedJsonlFile's guarantees; records are cut at line breaks outside
    quotes and decoded by the bounded CSV source's rules (connectors/files_csv.py). With
    `header=true` each file read (the first, and each one a rotation brings) starts with
    its header record; a resumed source reads the header again from the file's start."""

    def __init__(self, path: Path, decoder: StreamDecoder, display_name: str,
                 options: CsvOptions, chunk_bytes: int | None = None) -> None:
        from frys.connectors.files_csv import CsvDecoder

        super().__init__(path, decoder, display_name, chunk_bytes)
        self.csv = CsvDecoder(decoder, options, display_name)
        self._quote = options.quote.encode()

    def _start(self, file: IO[bytes], resumed: bool) -> None:
        from frys.connectors.files_csv import read_header

        if not resumed:  # a file read from its start: its header comes with its records
            self.csv.names = None if self.csv.options.header else list(self.decoder.columns)
        elif self.csv.names is None:
            read_header(file, self.csv)
        super()._start(file, resumed)

    def _records_end(self, data: bytes) -> int:
        from frys.connectors.files_csv import last_record_end

        try:
            return last_record_end(data, self._quote)
        except ValueError as error:
            raise self._unreadable(error) from None

    def _decode(self, chunk: bytes, line: int) -> tuple[pl.DataFrame, list[DeadLetter]]:
        try:
            return self.csv.decode(chunk, line)
        except ValueError as error:  # a header that is not CSV
            raise self._unreadable(error) from None

    def _unreadable(self, error: ValueError) -> ConnectorError:
        return ConnectorError(f"cannot read the followed file {self.display_name} (stream "
                              f"{self.decoder.stream}) after line {self._line}: {error}")
