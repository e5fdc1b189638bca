"""JSON Lines files as sources and sinks.

The source reads the file in large chunks cut at line boundaries and decodes each chunk into
one columnar batch (connectors/decode.py), so a file of any size streams through in bounded
memory. The sink writes one JSON object per row; TIMESTAMP values are written as ISO-8601
UTC strings with milliseconds (`2024-05-01T12:00:00.000Z`).

Registered as the `file:` connector (FILE_CONNECTOR, connectors/registry.py): `file:<path>`
relative to the job file's folder, chosen by extension: `.jsonl` here, `.csv` in
connectors/files_csv.py, `.parquet`/`.arrow`/`.feather` in connectors/files_columnar.py,
`.msgpack` in connectors/files_msgpack.py; `file:<path>.jsonl?follow=true` (a source)
tails the file as it grows, across rotations (connectors/file_follow.py).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import polars as pl

from frys.connectors.files_formats import ColumnarOptions, columnar_options
from frys.connectors.registry import (
    Connector,
    ConnectorError,
    Role,
    Sink,
    SinkContext,
    Source,
    SourceContext,
    Stripes,
    UriProblem,
)
from frys.connectors.subscriber import BatchSubscriber
from frys.connectors.uris import resolve_file_uri
from frys.connectors.writeback import WriteBehind, start_writeback
from frys.dsl.errors import did_you_mean

if TYPE_CHECKING:  # `frys check` asks this module about file: URIs: no decoder for that
    from frys.connectors.bus import Topic
    from frys.connectors.decode import StreamDecoder
    from frys.connectors.registry import Batch

DEFAULT_CHUNK_BYTES = 8 << 20
UTF8_BOM = b"\xef\xbb\xbf"


class JsonlFileSource:
    """A bounded source (registry.Source): the lines of one .jsonl file, decoded chunk by
    chunk.

    Its position (`FilePosition` as a dict) is the byte offset after the last chunk
    yielded, the 1-based number of the line that starts there, and fingerprints of the
    bytes read: a hash of the file's first bytes (up to HEAD_BYTES) and of the bytes just
    before the offset (up to TAIL_BYTES). `seek(position)` resumes exactly there: the rest
    of the file is read as one uninterrupted read would have read it (same rows, dead
    letters naming the file's own line numbers). It refuses (ConnectorError naming the
    file) a file that is not the one the position was taken in, so that a job never
    resumes in the middle of a line of another file: one shorter than the offset, whose
    first bytes or bytes before the offset differ, or where the offset is not at a line
    start. A file that only grew (appended lines) resumes. A file is read from its start in
    every run that does not seek, so there is nothing to commit."""

    def __init__(self, path: Path, decoder: StreamDecoder, display_name: str,
                 chunk_bytes: int | None = None, stripes: Stripes | None = None) -> None:
        self.path = path
        self.decoder = decoder
        self.display_name = display_name
        self.chunk_bytes = chunk_bytes or DEFAULT_CHUNK_BYTES
        self._offset = 0
        self._line = 1  # the number of the line starting at _offset
        # the file's bytes read so far: its first HEAD_BYTES and its last TAIL_BYTES (what
        # position() fingerprints)
        self._head = b""
        self._tail = b""
        self._seeked = False
        self._fingerprint: tuple[int, dict[str, int | str]] | None = None
        # one partition of the file (connectors/file_partitions.py): the lines that start
        # in its stripes; None: every line
        self.stripes = stripes
        # where the lines stopped being counted, or None: counted up to _offset. When set,
        # _line is the number of the line starting there, and the lines between it and
        # _offset are counted only when a number is needed: a dead letter's. Counting is
        # a pass over the bytes (bytes.count, about 2 GB/s: 2-3% of reading W2's JSON
        # Lines), and a partition skipping other partitions' stripes would have to read
        # them (with tens of partitions, each would read the whole file to count its
        # lines); position() keeps the uncounted range as it is (FilePosition.counted)
        self._uncounted_from: int | None = None
        # set once a chunk has had dead letters: from then on lines are counted as they
        # are read, so that each chunk is decoded once with its own numbers
        self._count_lines = False

    def _skip_to(self, file: IO[bytes], start: int) -> None:
        """Move from _offset to the first line starting at or after byte `start` (the next
        stripe of this partition), leaving the lines passed to be counted when a number
        is needed (_counted), and fingerprinting the bytes before it as a read would
        have."""
        first = start
        if start > 0 and _pread(file, start - 1, 1) != b"\n":  # inside a line: not ours
            file.seek(start)
            _rest_of_line(file)
            first = file.tell()
        if len(self._head) < min(first, HEAD_BYTES):
            self._head = _pread(file, 0, min(first, HEAD_BYTES))
        self._tail = _pread(file, max(0, first - TAIL_BYTES), min(first, TAIL_BYTES))
        if self._uncounted_from is None:
            self._uncounted_from = self._offset
        self._offset = first

    def _counted(self, file: IO[bytes] | None = None) -> int:
        """The number of the line starting at _offset: the lines skipped since they were
        last counted are counted now (read from `file`, or from the file opened anew)."""
        if self._uncounted_from is None:
            return self._line
        if file is None:
            with open(self.path, "rb") as opened:
                return self._counted(opened)
        lines, at = 0, self._uncounted_from
        while at < self._offset:
            data = _pread(file, at, min(self._offset - at, 8 << 20))
            if not data:
                break
            lines += data.count(b"\n")
            at += len(data)
        self._line += lines
        self._uncounted_from = None
        return self._line

    def _read_until(self, file: IO[bytes], end: int | None) -> Callable[[int], bytes]:
        """`file.read`, stopping at the end of a stripe: after the line that holds byte
        `end - 1` (None: at the end of the file)."""
        if end is None:
            return file.read
        past = False

        def read(size: int) -> bytes:
            nonlocal past
            if past:
                return b""
            at = file.tell()
            if at < end:
                data = file.read(min(size, end - at))
                if at + len(data) < end or not data or data.endswith(b"\n"):
                    past = at + len(data) >= end
                    return data
                past = True  # the stripe's last line goes on past its end: read it whole
                return data + _rest_of_line(file)
            return b""

        return read

    def batches(self) -> Iterator[Batch]:
        """Yield (batch, dead letters) per chunk, in file order, from the start or from
        where `seek` put the source."""
        with open(self.path, "rb") as file:
            if self._seeked:
                file.seek(self._offset)
            else:
                # a UTF-8 byte-order mark (as editors on Windows write) is not part of the
                # first line: skipped, as it is for job files
                if file.read(len(UTF8_BOM)) != UTF8_BOM:
                    file.seek(0)
                self._offset = file.tell()
                self._consumed(UTF8_BOM, self._offset)
            size = os.fstat(file.fileno()).st_size
            while True:
                end = None
                if self.stripes is not None:
                    start, end = self.stripes.bounds(self._offset)
                    if start >= size:
                        break
                    if start > self._offset:
                        self._skip_to(file, start)
                    file.seek(self._offset)
                for chunk, _ in whole_line_chunks(self._read_until(file, end),
                                                  self.chunk_bytes):
                    # capped by what was read: the last line may have had its newline added
                    chunk_end = min(self._offset + len(chunk), file.tell())
                    self._consumed(chunk, chunk_end - self._offset)
                    if self._count_lines:
                        decoded = self.decoder.decode_jsonl(chunk, self._counted(file),
                                                            self.display_name)
                    else:
                        decoded = self.decoder.decode_jsonl(chunk, self._line,
                                                            self.display_name)
                        if decoded[1]:
                            # dead letters name their lines: counted from here on, and
                            # this chunk decoded again with its own (rows and reasons the
                            # same) unless they were counted already
                            self._count_lines = True
                            if self._uncounted_from is not None:
                                decoded = self.decoder.decode_jsonl(
                                    chunk, self._counted(file), self.display_name)
                    if self._uncounted_from is None:
                        if self._count_lines:
                            self._line += chunk.count(b"\n")
                        else:
                            self._uncounted_from = self._offset
                    self._offset = chunk_end
                    yield decoded
                if end is None or self._offset < end:  # the end of the file
                    break

    def _consumed(self, data: bytes, length: int) -> None:
        """The file's next `length` bytes, the start of `data`, have been read: keep what
        the fingerprints need (slices of at most HEAD_BYTES, never a copy of a chunk)."""
        self._head, self._tail = fingerprinted(self._head, self._tail, data, length)

    def position(self) -> dict[str, int | str]:
        """Where the next batch starts (a FilePosition as a dict: offset, line and the
        fingerprints `seek` checks; lines not counted yet stay so: FilePosition.counted)."""
        if self._fingerprint is None or self._fingerprint[0] != self._offset:
            self._fingerprint = (self._offset, FilePosition(
                self._offset, self._line, len(self._head), _digest(self._head),
                len(self._tail), _digest(self._tail),
                counted=self._uncounted_from).as_dict())
        return dict(self._fingerprint[1])

    def seek(self, position: object) -> None:
        """Continue at `position` (from `position()` of an earlier source on this file);
        ConnectorError if the file is not the one it was taken in. None: from the start."""
        if position is None:
            return
        self._seek_in(self.path, FilePosition.parse(position, self.display_name))

    def _seek_in(self, path: Path, where: FilePosition) -> None:
        """seek(), in the file `path` (the file at the source's path, or the one a
        followed file was rotated to)."""
        head, tail, following, problem = read_fingerprints(path, where)
        if problem is None and not (where.offset == 0 or tail.endswith(b"\n")
                                    or (where.offset == len(UTF8_BOM) and head == UTF8_BOM)):
            # only the end of a file whose last line had no newline is a position that is
            # not a line start: a line break since is that line's end (the line was counted
            # already); anything else continued the line
            if following == b"\n":
                where.offset += 1
                tail = (tail + following)[-TAIL_BYTES:]
                if len(head) < HEAD_BYTES:
                    head += following
            elif following:
                problem = (f"byte {where.offset} is no longer at the start of a line "
                           "(the last line read has been extended since)")
        if problem is not None:
            raise ConnectorError(
                f"cannot resume the source file {self.display_name} (stream "
                f"{self.decoder.stream}) at byte {where.offset}, line {where.line}"
                f"{' or later' if where.counted is not None else ''}: {problem}; "
                "start the job afresh (without its state) to read the file from its start")
        self._offset, self._line = where.offset, where.line
        self._uncounted_from = where.counted
        self._head, self._tail = head, tail
        # offset 0 is the start: read as from the start (a byte-order mark skipped)
        self._seeked = where.offset > 0
        self._fingerprint = None

    def commit(self) -> None:
        """Nothing to record: the next run reads the file from its start again (or from the
        position its checkpoint recorded)."""

    def close(self) -> None:
        """The file is closed when `batches()` ends (or is dropped)."""


# what a file source's position fingerprints: its first bytes (a different file is caught
# at once, whatever it holds further on) and the bytes just before the offset (a file
# rewritten behind the same first bytes, or cut and grown again, is caught where it matters)
HEAD_BYTES = 64 << 10
TAIL_BYTES = 4 << 10


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _rest_of_line(file: IO[bytes]) -> bytes:
    """The bytes from the file's position to the end of its line (its newline included, or
    the end of the file); the file is left after them."""
    rest = bytearray()
    while True:
        more = file.read(1 << 16)
        cut = more.find(b"\n")
        if cut >= 0:
            rest += more[: cut + 1]
            file.seek(file.tell() - len(more) + cut + 1)
            return bytes(rest)
        if not more:
            return bytes(rest)
        rest += more


def _pread(file: IO[bytes], at: int, size: int) -> bytes:
    return os.pread(file.fileno(), size, at) if size > 0 else b""


def fingerprinted(head: bytes, tail: bytes, data: bytes, length: int
                  ) -> tuple[bytes, bytes]:
    """A file source's fingerprinted bytes (its file's first HEAD_BYTES, the last
    TAIL_BYTES read) once the next `length` bytes, the start of `data`, are read (slices of
    at most HEAD_BYTES, never a copy of a chunk)."""
    if len(head) < HEAD_BYTES:
        head += data[: min(length, HEAD_BYTES - len(head))]
    return head, (tail + data[max(0, length - TAIL_BYTES): length])[-TAIL_BYTES:]


def read_fingerprints(path: Path, where: FilePosition
                      ) -> tuple[bytes, bytes, bytes, str | None]:
    """What `seek(where)` finds in the file at `path`: the bytes `where` fingerprints (its
    head, the tail before its offset), the byte at the offset, and what shows it is not
    the file the position was taken in (None: the same file, as far as they tell)."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size < where.offset:
            return b"", b"", b"", (f"it is {size} bytes long, shorter than the {where.offset} "
                                   "bytes already read (it was cut or replaced)")
        head = _pread(file, 0, where.head_bytes)
        tail = _pread(file, where.offset - where.tail_bytes, where.tail_bytes)
        following = _pread(file, where.offset, 1)
    problem = None
    if _digest(head) != where.head:
        problem = "its first bytes are not the ones read before (it was replaced)"
    elif _digest(tail) != where.tail:
        problem = (f"its bytes before byte {where.offset} are not the ones read before (it "
                   "was replaced or rewritten)")
    return head, tail, following, problem


@dataclass
class FilePosition:
    """A file source's position, as its checkpoint keeps it (a dict of ints and strs):
    `offset` the next byte to read, `line` the number of the line starting there, and the
    blake2b-128 digests of the first `head_bytes` bytes of the file and of the
    `tail_bytes` bytes before `offset`. With `counted` (a byte offset at most `offset`),
    `line` is the number of the line starting at `counted` instead: the lines between
    were not counted (JsonlFileSource counts them only when a dead letter needs a
    number), and a resumed source counts them when it needs to."""

    offset: int
    line: int
    head_bytes: int
    head: str
    tail_bytes: int
    tail: str
    # a followed file's (file_follow.py): the inode of the file read, so that a resumed
    # run finds it again after a rotation renamed it within its folder
    inode: int | None = None
    counted: int | None = None

    def as_dict(self) -> dict[str, int | str]:
        fields: dict[str, int | str] = {
            "offset": self.offset, "line": self.line, "head_bytes": self.head_bytes,
            "head": self.head, "tail_bytes": self.tail_bytes, "tail": self.tail}
        if self.inode is not None:
            fields["inode"] = self.inode
        if self.counted is not None:
            fields["counted"] = self.counted
        return fields

    @staticmethod
    def parse(value: object, display_name: str) -> FilePosition:
        """`value` (from a checkpoint) checked field by field; ConnectorError if it is not
        a file source's position."""
        ints = ["offset", "line", "head_bytes", "tail_bytes"]
        ints += [key for key in ("inode", "counted") if isinstance(value, dict) and key in value]
        if isinstance(value, dict) and set(value) == {*ints, "head", "tail"} and all(
                type(value[key]) is int and value[key] >= 0 for key in ints) and all(
                isinstance(value[key], str) for key in ("head", "tail")):
            position = FilePosition(**value)
            if position.line >= 1 and position.head_bytes <= position.offset and \
                    position.tail_bytes <= position.offset and (
                        position.counted is None or position.counted <= position.offset):
                return position
        raise ConnectorError(f"cannot resume the source file {display_name}: {value!r} is "
                             "not a position of a file: source")


def whole_line_chunks(read: Callable[[int], bytes], size: int
                      ) -> Iterator[tuple[bytes, bool]]:
    """Chunks of whole lines from `read(size)` (a file's read, or os.read of a pipe), each
    with whether its read filled the buffer (more input was already waiting: a short read of
    a pipe means the writer paused). A last line without a newline gets one."""
    carry = b""
    while True:
        data = read(size)
        if not data:
            break
        full = len(data) >= size
        data = carry + data
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        chunk, carry = data[: cut + 1], data[cut + 1:]
        yield chunk, full
    if carry.strip():
        yield carry + b"\n", False


ISO_MILLIS = "%Y-%m-%dT%H:%M:%S%.3fZ"


def _iso_text(values: pl.Series) -> pl.Series:
    utc = values.dt.convert_time_zone("UTC")
    distinct = utc.unique().drop_nulls()
    if len(distinct) * 4 > len(utc):
        return utc.dt.strftime(ISO_MILLIS)
    # window bounds repeat for every group: format each distinct value once (4x faster on
    # the W1 benchmark's 250k rows) and map the column onto the texts
    return utc.replace_strict(distinct, distinct.dt.strftime(ISO_MILLIS), return_dtype=pl.String)


def to_json_frame(batch: pl.DataFrame) -> pl.DataFrame:
    """TIMESTAMP columns as ISO-8601 UTC strings with milliseconds; the rest unchanged."""
    timestamps = [name for name, dtype in batch.schema.items() if isinstance(dtype, pl.Datetime)]
    lists = [name for name, dtype in batch.schema.items()
             if isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Datetime)]
    if not timestamps and not lists:
        return batch
    return batch.with_columns(
        *(_iso_text(batch[name]).alias(name) for name in timestamps),
        *(pl.col(name).list.eval(pl.element().dt.convert_time_zone("UTC")
                                 .dt.strftime(ISO_MILLIS)) for name in lists))


def encode_json_lines(batch: pl.DataFrame) -> bytes:
    """The bytes JsonlWriter.write writes for `batch` (registry.Connector.row_encoder)."""
    buffer = io.BytesIO()
    to_json_frame(batch).write_ndjson(buffer)
    return buffer.getvalue()


class JsonlWriter(BatchSubscriber):
    """Writes each batch as JSON lines to a binary stream: a topic subscriber (the rows a
    job returns to its caller) and a registry.Sink (a `file:` sink, `path` set).

    As a Sink it writes through: every batch is flushed as it is written, so readers see
    rows before the commit; `pre_commit` also fsyncs a file it owns (`durable`), so what
    was committed survives a crash, and returns the file's recovery state
    `{"bytes": n, "tail_bytes": k, "tail": digest}`: its length and a digest of its last k
    (up to TAIL_BYTES) bytes. `commit` has nothing left to do; `abort` and `close` close
    the stream (it owns) and keep what was written.

    Across a crash: a kill -9 (or a machine loss, the file being fsynced by `pre_commit`)
    between a pre_commit and the next leaves the file with every byte the pre_commit
    counted, followed by whatever was written since (rows the next checkpoint would have
    covered, possibly a torn last line). A resumed job opens the file for appending
    (`SinkContext.resume`) and `recover(state)` truncates it back to the recorded length
    and fsyncs it: the file is then byte for byte what it was at that pre_commit, and the
    rows that follow are written again, once. `recover` refuses (ConnectorError naming the
    file) a file shorter than recorded (something else cut it) or whose bytes before that
    length are not the ones written (replaced): it never truncates a file it did not
    write."""

    def __init__(self, stream: IO[bytes], close_at_end: bool, durable: bool = False,
                 path: Path | None = None) -> None:
        self._stream = stream
        self._close_at_end = close_at_end
        self._durable = durable
        self.path = path
        self._folder_synced = False
        # a file it owns starts the writeback of what it writes (connectors/writeback.py)
        self._behind = WriteBehind() if durable else None
        self.rows_written = 0

    def write(self, batch: pl.DataFrame) -> None:
        start = self._offset()
        to_json_frame(batch).write_ndjson(self._stream)
        self._stream.flush()
        self.rows_written += batch.height
        if start is not None and self._behind is not None \
                and self._behind.due(self._stream.tell() - start):
            start_writeback(self._stream.fileno())

    def _offset(self) -> int | None:
        """Where the next write goes, for the write-behind; None when the stream has no
        offset (a FIFO: then nothing is written behind)."""
        if self._behind is None:
            return None
        try:
            return self._stream.tell()
        except OSError:
            self._behind = None
            return None

    def write_encoded(self, data: bytes, rows: int) -> None:
        """Write `rows` rows encoded by encode_json_lines (where they were made)."""
        self._stream.write(data)
        self._stream.flush()
        self.rows_written += rows
        if self._behind is not None and self._behind.due(len(data)):
            start_writeback(self._stream.fileno())

    def pre_commit(self, checkpoint_id: int) -> dict[str, int | str] | None:
        """Flush (and fsync a file it owns); the file's recovery state, None for a stream
        that is not a `file:` sink's."""
        self._stream.flush()
        if self._durable:
            os.fsync(self._stream.fileno())
            if self.path is not None and not self._folder_synced:
                # the file's name too: a file created (or recreated) by this run is not
                # in its folder after a machine loss until the folder is fsynced
                _fsync_folder(self.path.parent)
                self._folder_synced = True
        if self.path is None:
            return None
        fd = self._stream.fileno()
        size = os.fstat(fd).st_size
        tail = os.pread(fd, min(size, TAIL_BYTES), size - min(size, TAIL_BYTES))
        return {"bytes": size, "tail_bytes": len(tail), "tail": _digest(tail)}

    def recover(self, state: object) -> None:
        """Cut the file back to `state` (from `pre_commit` in an earlier run) and fsync it;
        ConnectorError if the file no longer holds what was written up to there."""
        name = str(self.path) if self.path is not None else "the output stream"
        if self.path is None or not (
                isinstance(state, dict) and set(state) == {"bytes", "tail_bytes", "tail"}
                and type(state["bytes"]) is int and type(state["tail_bytes"]) is int
                and 0 <= state["tail_bytes"] <= state["bytes"]
                and isinstance(state["tail"], str)):
            raise ConnectorError(f"cannot recover the sink file {name}: {state!r} is not "
                                 "the recovery state of a file: sink")
        self._stream.flush()
        fd = self._stream.fileno()
        size = os.fstat(fd).st_size
        length, tail_bytes = state["bytes"], state["tail_bytes"]
        problem = None
        if size < length:
            problem = (f"it is {size} bytes long, shorter than the {length} bytes the "
                       "checkpoint recorded (something else cut it)")
        elif _digest(os.pread(fd, tail_bytes, length - tail_bytes)) != state["tail"]:
            problem = (f"its bytes before byte {length} are not the ones this job wrote "
                       "(it was replaced or rewritten)")
        if problem is not None:
            raise ConnectorError(
                f"cannot recover the sink file {name}: {problem}; it is left as it is. Move "
                "it away and start the job afresh (without its state), or restore the file")
        os.ftruncate(fd, length)
        os.fsync(fd)

    def commit(self, checkpoint_id: int) -> None:
        """Written through already: the rows are visible since `write`."""

    def abort(self) -> None:
        self.close()

    def close(self) -> None:
        if self._close_at_end:
            self._stream.close()
        else:
            self._stream.flush()

    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None:
        self.write(batch)

    def on_end(self, topic: Topic) -> None:
        self.close()


def open_file_sink(path: Path, resume: bool = False) -> JsonlWriter:
    """A sink that (re)creates `path` or, to `resume` a job, appends to it (creating it if
    missing; `recover` then cuts it back), making parent folders as needed. Raises OSError
    (its strerror the reason, filename the path concerned) if it cannot."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        # mkdir(exist_ok=True) says "File exists" when the parent is a regular file; the
        # reason a user can act on is that it is not a folder
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR),
                                 str(path.parent)) from None
    # opened for reading too: pre_commit reads the file's last bytes back for its digest
    return JsonlWriter(open(path, "ab+" if resume else "wb+"), close_at_end=True, durable=True,
                       path=path)


# ------------------------------------------------------------------ the file: connector

FILE_OPTIONS = ("follow", "parts", "roll_rows", "roll_interval")
# a sink's options that make it a folder of part files (connectors/files_jsonl_parts.py)
PART_OPTIONS = ("parts", "roll_rows", "roll_interval")


def part_options(uri: str, query: str, role: Role) -> ColumnarOptions | None:
    """The options of a `.jsonl` file: URI that concern parts: None without `parts=true`
    (a single file), else the parts' roll options; ValueError naming what is wrong."""
    parts, rolls = False, []
    for option in query.split("&") if query else ():
        key, equals, value = option.partition("=")
        if key == "parts":
            if not equals or value not in ("true", "false"):
                raise ValueError(f"parts must be true or false in {uri!r}, not {value!r}")
            if role == "source":
                raise ValueError(f"parts is an option of a file: sink, not of a source "
                                 f"({uri!r}): a source reads a folder's parts by itself")
            parts = value == "true"
        elif key in PART_OPTIONS:
            if role == "source":
                raise ValueError(f"{key} is an option of a file: sink, not of a source "
                                 f"({uri!r})")
            rolls.append(option)
    if rolls and not parts:
        raise ValueError(f"{rolls[0].partition('=')[0]} rolls the part files of a folder "
                         f"sink: give parts=true too ({uri!r})")
    return columnar_options(uri, "&".join(rolls), role) if parts else None


def file_uri(uri: str, role: Role) -> tuple[str, bool]:
    """`file:<path>[?follow=true|false]` -> (path text, follow); ValueError naming what is
    wrong. `follow` (a source's only: tail the file as it grows) is false by default.
    `parts=true` (a sink's only, with `roll_rows` and `roll_interval`: a folder of part
    files) is checked by part_options. A path cannot hold a '?': what follows one is the
    options."""
    path, _, query = uri[len("file:"):].partition("?")
    follow = False
    for option in query.split("&") if query else ():
        key, equals, value = option.partition("=")
        if key not in FILE_OPTIONS:
            known = ("follow",) if role == "source" else PART_OPTIONS
            raise ValueError(f"unknown file: option {key!r} in {uri!r}"
                             f"{did_you_mean(key, FILE_OPTIONS)}; known: {', '.join(known)}")
        if key != "follow":
            continue
        if value not in ("true", "false") or not equals:
            raise ValueError(f"follow must be true or false in {uri!r}, not {value!r}")
        if role == "sink":
            raise ValueError(f"follow is an option of a file: source, not of a sink "
                             f"({uri!r})")
        follow = value == "true"
    part_options(uri, query, role)
    return path, follow


def _resolve(uri: str, base_dir: Path) -> Path:
    """The file a `file:` URI names (its options left out), relative to the job's folder."""
    return resolve_file_uri("file:" + uri[len("file:"):].partition("?")[0], base_dir)


def _check(uri: str, role: Role) -> UriProblem | None:
    from frys.connectors import files_formats

    path, _, query = uri[len("file:"):].partition("?")
    fmt = files_formats.format_of(path)
    try:
        if fmt is not None:
            files_formats.check_options(fmt, uri, query, role)
            return None
        path, _ = file_uri(uri, role)
    except ValueError as error:
        return UriProblem.error(str(error))
    if not path.endswith(".jsonl"):
        return UriProblem.later(f"file format of {path!r} (only {files_formats.KNOWN} "
                                "files so far)")
    return None


def _open_source(uri: str, context: SourceContext) -> Source:
    from frys.connectors import files_formats

    path = _resolve(uri, context.base_dir)
    fmt = files_formats.format_of(path.name)
    if fmt is not None:
        return files_formats.open_source(fmt, path, uri, context)
    _, follow = file_uri(uri, "source")
    if path.is_dir():  # a folder of parts (what `parts=true` writes)
        if follow:
            raise ConnectorError(f"{path} is a folder of JSON Lines parts (stream "
                                 f"{context.stream_name}): follow=true tails one file")
        from frys.connectors.files_jsonl_parts import JsonlFolderSource

        return JsonlFolderSource(path, context.decoder, str(path))
    if not path.is_file():
        raise ConnectorError(f"source file not found: {path} (stream {context.stream_name})")
    if follow:
        from frys.connectors.file_follow import FollowedJsonlFile

        return FollowedJsonlFile(path, context.decoder, str(path))
    return JsonlFileSource(path, context.decoder, str(path))


def _open_sink(uri: str, context: SinkContext) -> Sink:
    from frys.connectors import files_formats

    path = _resolve(uri, context.base_dir)
    fmt = files_formats.format_of(path.name)
    if fmt is not None:
        return files_formats.open_sink(fmt, path, uri, context)
    parts = _part_options(uri)
    if parts is not None:
        from frys.connectors.files_jsonl_parts import JsonlPartSink

        return JsonlPartSink(path, parts, context.resume, context.writer)
    return open_file_sink(path, context.resume)


def _part_options(uri: str) -> ColumnarOptions | None:
    """A `.jsonl` sink URI's part options (None: a single file)."""
    return part_options(uri, uri.partition("?")[2], "sink")


def _partitions(uri: str, base_dir: Path, count: int, stripe_bytes: int) -> list[str]:
    from frys.connectors.file_partitions import partitions

    return partitions(_resolve(uri, base_dir), uri, count, stripe_bytes)


def _open_partition(uri: str, context: SourceContext, part: str) -> Source:
    from frys.connectors.file_partitions import open_partition

    if part == "all":
        return _open_source(uri, context)
    return open_partition(_resolve(uri, context.base_dir), context, part)


def _rereadable(uri: str, base_dir: Path) -> bool:
    from frys.connectors.file_partitions import rereadable

    return rereadable(_resolve(uri, base_dir), uri)


def _shared_sink(uri: str) -> bool:
    """A Parquet or Arrow sink, and a JSON Lines sink with `parts=true`, is a folder of
    part files: several writers can share it."""
    from frys.connectors import files_formats

    fmt = files_formats.format_of(uri.partition("?")[0])
    return fmt == "columnar" or (fmt is None and _part_options(uri) is not None)


def _row_encoder(uri: str) -> Callable[[pl.DataFrame], bytes] | None:
    """A JSON Lines file's rows are encoded batch by batch: anywhere, by anyone (a folder
    of parts is written where its rows are made: no encoder)."""
    from frys.connectors import files_formats

    single = files_formats.format_of(uri.partition("?")[0]) is None \
        and _part_options(uri) is None
    return encode_json_lines if single else None


FILE_CONNECTOR = Connector(
    "file", _check, _open_source, _open_sink,
    paths=lambda uri, base_dir: (_resolve(uri, base_dir),),
    partitions=_partitions, open_partition=_open_partition, rereadable=_rereadable,
    shared_sink=_shared_sink,
    row_encoder=_row_encoder)
