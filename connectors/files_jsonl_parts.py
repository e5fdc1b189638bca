"""A folder of JSON Lines part files: the `file:` sink `file:out.jsonl?parts=true` writes
one, and the `file:` source `file:out.jsonl` reads one when that path is a folder.

Why: a `.jsonl` file has a single writer. On a cluster of processes (the scale-out
runtime) every output row then crosses to the process that holds it, and that process
writes them all; with an output as large as the input (a window per key and second) the
one writer bounds the whole cluster. A folder of parts is written by every process at
once, each its own parts, as Parquet and Arrow sinks already are (files_columnar.py).

The sink is files_columnar.PartFileSink's folder, with JSON lines in its parts: the same
names (`part-00000.jsonl`, or `part-w0001-00000.jsonl` for writer 1 of a cluster), the
same hidden `.part-N.jsonl.tmp` while written, ended at every checkpoint (closed,
fsynced) and renamed at its commit, the same recovery (exactly once: the parts a
checkpoint recorded, and nothing after them), and the same `roll_rows` and
`roll_interval` options. A row is a line as a `.jsonl` file sink writes it
(jsonl.encode_json_lines).

The source reads the folder's parts in name order (hidden files and other extensions
skipped), each as a `.jsonl` file source reads its file, so dead letters name the part
and its line (`out.jsonl/part-00000.jsonl:12`). Its position is the part being read and
the position in it (`{"part": name, "at": <a .jsonl file position>}`); resuming refuses a
part that is gone or no longer the file read before, as the file source does. As
partitions of a cluster's source, the parts are dealt round robin
(connectors/file_partitions.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import polars as pl

from frys.connectors.files_columnar import PartFileSink
from frys.connectors.jsonl import JsonlFileSource, encode_json_lines
from frys.connectors.registry import ConnectorError, Stripes
from frys.connectors.writeback import WriteBehind, start_writeback

if TYPE_CHECKING:
    from frys.connectors.decode import StreamDecoder
    from frys.connectors.files_formats import ColumnarOptions
    from frys.connectors.registry import Batch

EXTENSION = ".jsonl"


class JsonlPartSink(PartFileSink):
    """A `file:` sink of JSON Lines part files (registry.Sink); see the module docstring.
    Exactly once across a crash, as PartFileSink: after `recover(state)` the folder holds
    the parts `0 .. state - 1` as they were ended before that checkpoint, and nothing else
    of this writer's."""

    def __init__(self, folder: Path, options: ColumnarOptions, resume: bool,
                 writer: tuple[int, int] | None = None) -> None:
        super().__init__(folder, "jsonl", options, resume, writer)
        self._file: IO[bytes] | None = None
        self._behind = WriteBehind()  # (connectors/writeback.py: its fsyncs wait for little)

    def write(self, batch: pl.DataFrame) -> None:
        if batch.height:
            self.write_encoded(encode_json_lines(batch), batch.height)

    def write_encoded(self, data: bytes, rows: int) -> None:
        """Append `rows` rows already encoded as JSON lines (jsonl.encode_json_lines)."""
        if self._file is None:
            self._file = open(self._name(self._index, True), "wb")  # noqa: SIM115
            self._opened_at = time.monotonic()
        self._file.write(data)
        if self._behind.due(len(data)):
            self._file.flush()
            start_writeback(self._file.fileno())
        self._part_rows += rows
        rows_due = self.options.roll_rows is not None \
            and self._part_rows >= self.options.roll_rows
        time_due = self.options.roll_interval is not None \
            and time.monotonic() - self._opened_at >= self.options.roll_interval
        if rows_due or time_due:
            self._close_part()

    def _flush(self, final: bool) -> None:
        """Nothing is buffered: rows go to the part as they come."""

    def _end_part(self) -> None:
        if self._file is not None:
            self._close_part()

    def _close_part(self) -> None:
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        self._pending.append(self._index)
        self._index += 1
        self._part_rows = 0

    def abort(self) -> None:
        """Drop the part being written; ended parts stay for `recover` to settle."""
        if self._file is not None:
            self._file.close()
            self._file = None
            self._name(self._index, True).unlink(missing_ok=True)
            self._part_rows = 0

    def close(self) -> None:
        """After the last commit; rows written or parts ended since are committed too."""
        if self._file is not None or self._pending:
            self.pre_commit(0)
            self.commit(0)


def part_files(folder: Path) -> list[Path]:
    """The folder's committed JSON Lines parts, in name order."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() == EXTENSION)


class JsonlFolderSource:
    """A bounded source (registry.Source) of a folder of JSON Lines part files (see the
    module docstring); `stripes`: one partition's parts (by index in name order)."""

    def __init__(self, folder: Path, decoder: StreamDecoder, display_name: str,
                 stripes: Stripes | None = None) -> None:
        self.folder = folder
        self.decoder = decoder
        self.display_name = display_name
        self.stripes = stripes
        self._part: str | None = None  # the part being read (or last read, or seeked to)
        self._source: JsonlFileSource | None = None  # its source (seeked, after a seek)

    def _open(self, part: Path) -> JsonlFileSource:
        return JsonlFileSource(part, self.decoder, f"{self.display_name}/{part.name}")

    def batches(self) -> Iterator[Batch]:
        parts = part_files(self.folder)
        if self.stripes is not None:
            parts = [p for i, p in enumerate(parts) if self.stripes.owns(i // self.stripes.size)]
        resumed = self._part
        for part in parts:
            if resumed is not None and part.name < resumed:
                continue
            source = self._source if part.name == resumed and self._source is not None \
                else self._open(part)
            self._part, self._source = part.name, source
            yield from source.batches()
            resumed = None

    def position(self) -> dict[str, object] | None:
        """The part being read and the position in it (None: nothing read yet)."""
        if self._part is None or self._source is None:
            return None
        return {"part": self._part, "at": self._source.position()}

    def seek(self, position: object) -> None:
        """Continue at `position`; ConnectorError if its part is gone or rewritten."""
        if position is None:
            return
        if not (isinstance(position, dict) and set(position) == {"part", "at"}
                and isinstance(position["part"], str)):
            raise ConnectorError(f"cannot resume the source folder {self.display_name}: "
                                 f"{position!r} is not a position of a folder of JSON Lines "
                                 "parts")
        part = self.folder / position["part"]
        if not part.is_file():
            raise ConnectorError(
                f"cannot resume the source folder {self.display_name} (stream "
                f"{self.decoder.stream}) in its part {position['part']}: it no longer "
                "exists; start the job afresh (without its state)")
        source = self._open(part)
        source.seek(position["at"])  # refuses a rewritten part, naming it
        self._part, self._source = position["part"], source

    def commit(self) -> None:
        """Nothing to record: a run that does not seek reads from the start."""

    def close(self) -> None:
        """The parts are closed as they are read."""
