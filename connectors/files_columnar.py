"""Parquet and Arrow IPC (Feather v2) files as `file:` sources and sinks.

A source reads one file, or a folder of part files (`*.parquet`, `*.arrow`/`*.feather`,
in name order, hidden files skipped: what the sink writes), never whole: group by group (a
Parquet row group, an Arrow record batch), in slices of at most BATCH_ROWS rows. Each slice
is decoded into the stream's schema by the DataFrame rules (connectors/decode.py
`decode_frame`): columns found by name, a missing one NULL, others cast; TIMESTAMP columns
take datetimes, integers in the stream's `time_unit` and ISO-8601 text. A row that does
not fit is a dead letter positioned `<file>:row group <g>, row <r>` (0-based, `record
batch` for Arrow). A column that cannot be cast at all (text where INT is declared) stops
the source with an error naming the file and column: it is the file's schema, not a row.

A source's position is `{"part": name, "group": g, "row": r, "size": n, "footer": digest}`
(the part file, the next row in it, and its size and a digest of its last FOOTER_BYTES:
the footer, which describes the whole file); `seek` refuses a part file whose size or
footer differs. Part files before the position are not read again (nor checked).

Files cannot be appended to, so a sink writes a folder (`file:out.parquet` is the folder
`out.parquet/`) of part files `part-00000.parquet`, ... Rows are buffered into groups of
`row_group_size` rows; a part file is written as a hidden `.part-N.<ext>.tmp` and ends at
every checkpoint (`pre_commit`: closed, fsynced) and, in between, every `roll_rows` rows
or `roll_interval` seconds. `commit` renames the ended parts to their final names: a
reader of `part-*` files sees only committed rows. `pre_commit`'s recovery state is the
number of parts ended; `recover` renames the parts below it still hidden (ended and
fsynced before the checkpoint, not yet renamed) and deletes every part from it on.

Several writers can share a folder (SinkContext.writer, the scale-out runtime's
processes): writer i of n writes `part-w<i>-00000.parquet`, ... (i in 4 digits) and
commits and recovers those alone. A fresh writer deletes its own earlier parts and those
no writer of the n owns (a single writer's, a larger cluster's), so a fresh run's folder
holds its own rows only (also where each host of a cluster has a folder of its own); a
fresh single writer deletes every part.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from frys.connectors.files_formats import ColumnarOptions
from frys.connectors.registry import ConnectorError, Stripes
from frys.connectors.writeback import WriteBehind, start_writeback

if TYPE_CHECKING:
    from frys.connectors.decode import StreamDecoder
    from frys.connectors.registry import Batch

BATCH_ROWS = 65_536
FOOTER_BYTES = 64 << 10
EXTENSIONS = {".parquet": "parquet", ".arrow": "arrow", ".feather": "arrow"}
def _footer(path: Path, size: int) -> str:
    with open(path, "rb") as file:
        tail = os.pread(file.fileno(), min(size, FOOTER_BYTES), max(0, size - FOOTER_BYTES))
    return hashlib.blake2b(tail, digest_size=16).hexdigest()


def _parts(path: Path, kind: str) -> list[Path]:
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                  and EXTENSIONS.get(p.suffix.lower()) == kind)


class _Reader:
    """One part file, group by group."""

    def __init__(self, path: Path, kind: str) -> None:
        self.kind = kind
        if kind == "parquet":
            self.parquet = pq.ParquetFile(path)
            self.groups = self.parquet.num_row_groups
            self.names = self.parquet.schema_arrow.names
        else:
            self.arrow = ipc.open_file(pa.memory_map(str(path)))
            self.groups = self.arrow.num_record_batches
            self.names = self.arrow.schema.names

    def group(self, index: int, columns: list[str]) -> Iterator[pa.RecordBatch]:
        if self.kind == "parquet":
            yield from self.parquet.iter_batches(BATCH_ROWS, row_groups=[index],
                                                 columns=columns)
        else:
            batch = self.arrow.get_batch(index).select(columns)
            for start in range(0, batch.num_rows, BATCH_ROWS):
                yield batch.slice(start, BATCH_ROWS)


class ColumnarFileSource:
    """A bounded source (registry.Source) of a Parquet or Arrow IPC file, or of a folder of
    part files (see the module docstring for positions and what `seek` checks)."""

    def __init__(self, path: Path, decoder: StreamDecoder, display_name: str,
                 kind: str, stripes: Stripes | None = None) -> None:
        self.path = path
        self.decoder = decoder
        self.display_name = display_name
        self.kind = kind
        # one partition (connectors/file_partitions.py): of a folder, the part files in its
        # stripes (by their index in name order); of a file, the groups in its stripes
        self.stripes = stripes
        self.group_word = "row group" if kind == "parquet" else "record batch"
        self._position: dict[str, int | str] | None = None  # None: from the start

    def _fail(self, part: Path, problem: object) -> ConnectorError:
        return ConnectorError(f"cannot read the source file {self._name(part)} (stream "
                              f"{self.decoder.stream}): {problem}")

    def _name(self, part: Path) -> str:
        return self.display_name if part == self.path else f"{self.display_name}/{part.name}"

    def batches(self) -> Iterator[Batch]:
        start = self._position
        parts = _parts(self.path, self.kind)
        if self.stripes is not None and self.path.is_dir():
            parts = [p for i, p in enumerate(parts) if self.stripes.owns(i // self.stripes.size)]
        if start is not None:
            parts = [p for p in parts if p.name >= str(start["part"])]
        for part in parts:
            resumed = start is not None and part.name == start["part"]
            first_group = int(start["group"]) if resumed and start else 0
            skip = int(start["row"]) if resumed and start else 0
            try:
                reader = _Reader(part, self.kind)
            except (pa.ArrowException, OSError) as error:
                raise self._fail(part, error) from None
            size = part.stat().st_size
            footer = _footer(part, size)
            columns = [c for c in self.decoder.columns if c in reader.names]
            end_group = reader.groups
            stripes = self.stripes if not self.path.is_dir() else None
            for group in range(first_group, end_group):
                if stripes is not None and not stripes.owns(group // stripes.size):
                    continue
                row = 0
                try:
                    for record_batch in reader.group(group, columns):
                        rows = record_batch.num_rows
                        if row + rows <= skip:
                            row += rows
                            continue
                        if row < skip:
                            record_batch = record_batch.slice(skip - row)
                            row = skip
                        frame = pl.from_arrow(record_batch)
                        assert isinstance(frame, pl.DataFrame)
                        where = f"{self._name(part)}:{self.group_word} {group}"
                        try:
                            batch, letters = self.decoder.decode_frame(frame, "\x00")
                        except TypeError as error:
                            raise self._fail(part, f"{self.group_word} {group}: {error}"
                                             ) from None
                        letters = [replace(d, position=f"{where}, row "
                                           f"{row + int(d.position.rsplit(' ', 1)[1])}")
                                   for d in letters]
                        row += record_batch.num_rows
                        self._position = {"part": part.name, "group": group, "row": row,
                                          "size": size, "footer": footer}
                        yield batch, letters
                except (pa.ArrowException, OSError) as error:
                    raise self._fail(part, f"{self.group_word} {group}: {error}") from None
                skip = 0
            # the part's end: the next one starts at its first row
            self._position = {"part": part.name, "group": end_group, "row": 0,
                              "size": size, "footer": footer}
            start = None

    def position(self) -> dict[str, int | str] | None:
        """Where the next batch starts: after the last row yielded (None: at the start)."""
        return None if self._position is None else dict(self._position)

    def seek(self, position: object) -> None:
        """Continue at `position`; ConnectorError if its part file changed since."""
        if position is None:
            return
        if not (isinstance(position, dict)
                and set(position) == {"part", "group", "row", "size", "footer"}
                and isinstance(position["part"], str) and isinstance(position["footer"], str)
                and all(type(position[k]) is int and position[k] >= 0
                        for k in ("group", "row", "size"))):
            raise ConnectorError(f"cannot resume the source file {self.display_name}: "
                                 f"{position!r} is not a position of a columnar file: source")
        part = self.path / position["part"] if self.path.is_dir() else self.path
        problem = None
        if not part.is_file():
            problem = "it no longer exists"
        else:
            size = part.stat().st_size
            if size != position["size"] or _footer(part, size) != position["footer"]:
                problem = "it is not the file read before (replaced or rewritten)"
        if problem is not None:
            raise ConnectorError(
                f"cannot resume the source file {self._name(part)} (stream "
                f"{self.decoder.stream}) at {self.group_word} {position['group']}, row "
                f"{position['row']}: {problem}; start the job afresh (without its state)")
        self._position = dict(position)

    def commit(self) -> None:
        """Nothing to record: a run that does not seek reads from the start."""

    def close(self) -> None:
        """The files are closed as they are read."""


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# a part file: its writer's number (None: the only writer's) and its index
_PART = re.compile(r"\.?part-(?:w([0-9]+)-)?([0-9]+)\.[a-z]+(\.tmp)?")


class PartFileSink:
    """A `file:` sink of Parquet or Arrow IPC part files (registry.Sink); see the module
    docstring. Exactly once across a crash: after `recover(state)` the folder holds the
    parts `0 .. state - 1`, exactly as they were ended before that checkpoint, and nothing
    else of this writer's; the rows that followed are written again into new parts."""

    def __init__(self, folder: Path, kind: str, options: ColumnarOptions,
                 resume: bool, writer: tuple[int, int] | None = None) -> None:
        self.folder = folder
        self.kind = kind
        self.ext = ".parquet" if kind == "parquet" else folder.suffix.lower()
        self.options = options
        self.writer = writer
        self._prefix = "" if writer is None else f"w{writer[0]:04d}-"
        folder.mkdir(parents=True, exist_ok=True)
        if not resume:  # a fresh job's output: its own earlier parts go
            for path, owner, _, _ in self._existing(everyone=True):
                if self._clears(owner):
                    path.unlink(missing_ok=True)  # (another fresh writer may clear it too)
        self._index = 0  # the part being written (parts below it are ended)
        self._pending: list[int] = []  # ended, not yet renamed
        self._writer: pq.ParquetWriter | ipc.RecordBatchFileWriter | None = None
        self._schema: pa.Schema | None = None
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._part_rows = 0
        self._opened_at = 0.0
        # the parts' bytes go to the disk as they are written (connectors/writeback.py)
        self._behind = WriteBehind()

    def _existing(self, everyone: bool = False) -> list[tuple[Path, int | None, int, bool]]:
        """This writer's part files in the folder (`everyone`: every writer's): (path,
        writer, index, hidden)."""
        own = None if self.writer is None else self.writer[0]
        found = []
        for path in self.folder.iterdir():
            match = _PART.fullmatch(path.name)
            if match and path.name.endswith((self.ext, self.ext + ".tmp")):
                owner = None if match[1] is None else int(match[1])
                if everyone or owner == own:
                    found.append((path, owner, int(match[2]), path.name.startswith(".")))
        return found

    def _clears(self, owner: int | None) -> bool:
        """Whether a fresh run of this writer deletes the parts of `owner`: its own and
        those none of the n writers owns; the only writer every part."""
        if self.writer is None:
            return True
        index, writers = self.writer
        return owner == index or owner is None or owner >= writers

    def _name(self, index: int, hidden: bool) -> Path:
        name = f"part-{self._prefix}{index:05d}{self.ext}"
        return self.folder / (f".{name}.tmp" if hidden else name)

    def write(self, batch: pl.DataFrame) -> None:
        if batch.height == 0:
            return
        table = batch.to_arrow()
        if any(pa.types.is_string_view(f.type) for f in table.schema):
            # (cast only then: the first cast loads pyarrow.compute, 50 ms of start-up)
            table = table.cast(pa.schema([f.with_type(pa.large_string())
                                          if pa.types.is_string_view(f.type) else f
                                          for f in table.schema]))
        if self._schema is None:
            self._schema = table.schema
        elif table.schema != self._schema:
            try:
                table = table.cast(self._schema)
            except pa.ArrowException:
                # a column all NULL so far (arrow's null type) now has values: the part
                # written so far ends, the next ones have the column's type
                merged = pa.schema([new if pa.types.is_null(old.type) else old
                                    for old, new in zip(self._schema, table.schema,
                                                        strict=True)])
                self._end_part()
                self._schema = merged
                table = table.cast(merged)
        self._buffer.append(table)
        self._buffered += batch.height
        if self._buffered >= self.options.row_group_size:
            self._flush(final=False)
        if self._writer is not None and self.options.roll_interval is not None and \
                time.monotonic() - self._opened_at >= self.options.roll_interval:
            self._end_part()

    def _flush(self, final: bool) -> None:
        """The buffered rows as groups of row_group_size (and, `final`, a last shorter
        one), into the part being written, ending it each time it reaches roll_rows."""
        if not self._buffered or self._schema is None:
            return
        table = pa.concat_tables(self._buffer)
        size, start = self.options.row_group_size, 0
        while table.num_rows - start >= size or (final and start < table.num_rows):
            rows = min(size, table.num_rows - start)
            if self._writer is None:
                path = self._name(self._index, True)
                self._writer = (pq.ParquetWriter(path, self._schema) if self.kind == "parquet"
                                else ipc.new_file(str(path), self._schema))
                self._opened_at = time.monotonic()
            group = table.slice(start, rows)
            if isinstance(self._writer, pq.ParquetWriter):
                self._writer.write_table(group, row_group_size=rows)
            else:
                self._writer.write_table(group, max_chunksize=rows)
            if self._behind.due(group.nbytes):  # (about the bytes written: a trigger)
                fd = os.open(self._name(self._index, True), os.O_RDONLY | os.O_CLOEXEC)
                try:
                    start_writeback(fd)
                finally:
                    os.close(fd)
            start += rows
            self._part_rows += rows
            if self.options.roll_rows is not None and self._part_rows >= self.options.roll_rows:
                self._close_part()
        rest = table.slice(start)
        self._buffer, self._buffered = ([rest], rest.num_rows) if rest.num_rows else ([], 0)

    def _end_part(self) -> None:
        """Write what is buffered (a last, shorter group), close and fsync the part."""
        self._flush(final=True)
        if self._writer is not None:
            self._close_part()

    def _close_part(self) -> None:
        assert self._writer is not None
        self._writer.close()
        self._writer = None
        with open(self._name(self._index, True), "rb") as file:
            os.fsync(file.fileno())
        self._pending.append(self._index)
        self._index += 1
        self._part_rows = 0

    def pre_commit(self, checkpoint_id: int) -> dict[str, int]:
        """End the part being written; the state: how many parts are ended."""
        self._end_part()
        _fsync_folder(self.folder)
        return {"parts": self._index}

    def commit(self, checkpoint_id: int) -> None:
        """The ended parts under their final names."""
        for index in self._pending:
            os.replace(self._name(index, True), self._name(index, False))
        if self._pending:
            _fsync_folder(self.folder)
        self._pending = []

    def recover(self, state: object) -> None:
        """Parts below `state["parts"]` final, every other part of this sink deleted;
        ConnectorError if one of those parts is missing."""
        if not (isinstance(state, dict) and set(state) == {"parts"}
                and type(state["parts"]) is int and state["parts"] >= 0):
            raise ConnectorError(f"cannot recover the sink folder {self.folder}: {state!r} "
                                 "is not the recovery state of a columnar file: sink")
        parts = state["parts"]
        existing = self._existing()
        for path, _, index, _ in existing:
            if index >= parts:
                path.unlink()
        have = {index: hidden for _, _, index, hidden in existing if index < parts}
        missing = [i for i in range(parts) if i not in have]
        if missing:
            raise ConnectorError(
                f"cannot recover the sink folder {self.folder}: its part "
                f"{self._name(missing[0], False).name} (of the {parts} the checkpoint "
                "recorded) is missing; move the folder away and start the job afresh")
        for index, hidden in have.items():
            if hidden:
                os.replace(self._name(index, True), self._name(index, False))
        _fsync_folder(self.folder)
        self._index = parts

    def abort(self) -> None:
        """Drop the part being written; ended parts stay for `recover` to settle."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._name(self._index, True).unlink(missing_ok=True)
        self._buffer, self._buffered = [], 0

    def close(self) -> None:
        """After the last commit; rows written or parts ended since are committed too."""
        if self._writer is not None or self._buffered or self._pending:
            self.pre_commit(0)
            self.commit(0)
