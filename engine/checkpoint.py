"""The checkpoint store: consistent cuts of a job, written to disk atomically and read back
only whole and verified.

A `Checkpoint` is one cut: every operator's `OperatorState` (engine/operator.py) by query
name, and plain data (channels' watermark bookkeeping, source positions, what each sink
needs to recover, counters). The runtime decides what goes in; the store only keeps it.

Layout of a store folder ``DIR``::

    DIR/.lock                                the one writer's lock (flock, released on death)
    DIR/checkpoint-<id, 20 digits>/          one folder per periodic checkpoint
        manifest.msgpack                     what the folder holds, checksummed
        t00000.arrow, t00001.arrow, ...      one Arrow IPC file per operator table
    DIR/savepoints/<name>/                   named checkpoints, same folder layout
    DIR/.tmp-...                             a write in flight (or a crash's leftover)

``manifest.msgpack`` is a msgpack map ``{format, crc32c, manifest}``: the format version
(FORMAT_VERSION; another one is refused, never guessed at), the CRC32C of ``manifest``, and
``manifest`` itself, the msgpack of a `Manifest` struct: the checkpoint's id, job, plain data,
per operator its kind, version, scalars and table files, and per file its byte length and
CRC32C. So a flipped bit anywhere, in a table or in the manifest, is caught.

Guarantees:

* atomic: `write` puts every file in a temporary folder inside DIR, fsyncs each file and
  the folder, renames the folder to its final name and fsyncs DIR. A folder under a final
  name was complete when it got that name; a crash (even SIGKILL) at any moment leaves
  either the new checkpoint whole, or no trace of it but a temporary folder, which the next
  open removes and which nothing ever reads;
* once `write` returns, the checkpoint survives a kill of the process and, on a file system
  that honours fsync, the loss of the machine (power, kernel panic);
* on a file system or disk that does not honour fsync (a volatile write cache, some network
  file systems, ``fsync=False``), a machine loss can leave the newest checkpoints with
  missing, short or garbled files, or undo their rename, or keep a retention's deletion of
  an older one while losing the newer's data; a process kill still loses nothing. Damage is
  always caught (CRC32C over every byte; a 2^-32 chance per damaged file to miss it), and
  `latest` falls back to the newest checkpoint that verifies, which can then be older than
  the one last written, or none at all;
* `latest` never returns half a checkpoint: every file is present with its recorded length
  and checksum and every table reads with its recorded row count, or the checkpoint is
  skipped and `warnings` says which folder and why;
* entries in DIR are never followed: a checkpoint folder, a savepoint folder or a file in
  one that is a symbolic link, or a name that is not the store's, is ignored (and warned
  about), a file is opened with O_NOFOLLOW relative to its folder's descriptor and must be a
  regular file; a manifest is read only up to MAX_MANIFEST_BYTES;
* retention: after each `write` the newest `keep` checkpoints are kept (a checkpoint this
  store found damaged does not count) and older ones deleted, first renamed to a temporary
  name so a crash never leaves a half-deleted one under its final name. Savepoints are
  never deleted but by `delete_savepoint`;
* incremental: a table that is the very same DataFrame object (identity, checked through
  a live weak reference, so its id cannot have been reused) as one the store's last
  periodic `write` wrote is not encoded again: the new folder gets a hard link to the
  file already on disk (a copy, checked against its CRC32C, where a link is refused), and
  its manifest the same length and CRC32C. Every folder stays complete and
  self-verifying (loading is as before); deleting a folder only unlinks its names, so
  retention never breaks a newer checkpoint that shares a file, and a savepoint sharing
  files with periodic checkpoints outlives them. The store never changes a file once
  written, so sharing is safe; the price is that damage to a shared file (bit rot, a
  torn write on a disk that does not honour fsync) damages every folder that shares it,
  and `latest` then falls back past all of them (`incremental=False` writes every table
  anew). The contract this rests on: a DataFrame in an `OperatorState` is never changed
  in place afterwards (operators build new frames; engine/operator.py); as a guard, a
  frame whose height or schema differs from what was written is written anew.

One process writes a store at a time: opening one for writing takes an exclusive flock on
``DIR/.lock`` (CheckpointError if another holds it), then removes leftover temporary
folders. ``read_only=True`` takes no lock and changes nothing on disk.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import io
import logging
import os
import re
import secrets
import shutil
import stat
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import msgspec
import polars as pl
from crc32c import crc32c

from frys.engine.checkpoint_files import FILE_MODE, Folders, link_or_copy
from frys.engine.checkpoint_files import Damaged as _Damaged
from frys.engine.checkpoint_files import fsync_directory as _fsync_directory
from frys.engine.checkpoint_files import open_directory as _open_directory
from frys.engine.checkpoint_files import read_file as _read_file
from frys.engine.checkpoint_files import write_file as _write_file
from frys.engine.operator import OperatorState

log = logging.getLogger("frys.checkpoint")

FORMAT_VERSION = 1
MANIFEST = "manifest.msgpack"
# a manifest holds names, scalars and plain data, never tables: 64 MiB is far past any
# honest one, and bounds what a planted file can make us read
MAX_MANIFEST_BYTES = 64 << 20
SAVEPOINTS = "savepoints"
LOCK = ".lock"
TEMPORARY_PREFIX = ".tmp-"
ID_DIGITS = 20  # every unsigned 64-bit id
MAX_ID = 10**ID_DIGITS - 1
CHECKPOINT_NAME = re.compile(rf"checkpoint-([0-9]{{{ID_DIGITS}}})")
SAVEPOINT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
TABLE_FILE = re.compile(r"t[0-9]{5,9}\.arrow")
DIR_MODE = 0o700  # the store's folders are its owner's alone, as its files
IpcCompression = Literal["uncompressed", "lz4", "zstd"]
COMPRESSIONS: tuple[IpcCompression, ...] = ("uncompressed", "lz4", "zstd")


class CheckpointError(Exception):
    """A store or checkpoint that cannot be used: DIR is a file, another writer holds the
    lock, a checkpoint asked for is damaged or missing, a name is not a valid one."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One consistent cut of a job.

    checkpoint_id: increasing per store (`CheckpointStore.next_id`). job: a fingerprint of
    the job, opaque to the store. operators: each operator's state, by a stable query name.
    The rest is plain data, kept as msgpack: dicts, lists, str, int, float, bool, None and
    bytes come back as they went in (tuples come back as lists). channels: per topic, its
    watermark bookkeeping; sources: per source, its position; sinks: per sink, what it needs
    to recover; counters: per query, named counts. savepoint: the savepoint's name, None
    for a periodic checkpoint."""

    checkpoint_id: int
    job: str
    operators: dict[str, OperatorState] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: dict[str, Any] = field(default_factory=dict)
    sinks: dict[str, Any] = field(default_factory=dict)
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    created_ms: int = field(default_factory=_now_ms)
    savepoint: str | None = None


# ---- the manifest -------------------------------------------------------------------------

class FileEntry(msgspec.Struct, frozen=True):
    """A file of the checkpoint folder, as written."""

    name: str
    length: int
    crc32c: int


class TableEntry(msgspec.Struct, frozen=True):
    """One table of an operator's state: its key in OperatorState.tables, its file, rows."""

    name: str
    file: str
    rows: int


class OperatorEntry(msgspec.Struct, frozen=True):
    kind: str
    version: int
    scalars: dict[str, int | None]
    tables: list[TableEntry]


class Manifest(msgspec.Struct, frozen=True):
    """Everything of a checkpoint but its tables, and how to check the table files."""

    checkpoint_id: int
    job: str
    created_ms: int
    savepoint: str | None
    operators: dict[str, OperatorEntry]
    files: list[FileEntry]
    channels: dict[str, dict[str, Any]]
    sources: dict[str, Any]
    sinks: dict[str, Any]
    counters: dict[str, dict[str, int]]


class Envelope(msgspec.Struct, frozen=True):
    """The manifest file: a format version first read on its own, then the checksummed
    manifest bytes (so a reader of another version fails on the version, not on a field)."""

    format: int
    crc32c: int
    manifest: bytes


class _Version(msgspec.Struct):
    format: int


_ENVELOPE_VERSION = msgspec.msgpack.Decoder(_Version)
_ENVELOPE = msgspec.msgpack.Decoder(Envelope)
_MANIFEST = msgspec.msgpack.Decoder(Manifest)


# ---- incremental writes -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class WriteStats:
    """What one write did with the table files: encoded and written, hard-linked to the
    previous checkpoint's file, or copied from it (a link refused); bytes are file sizes."""

    files_written: int = 0
    bytes_written: int = 0
    files_linked: int = 0
    bytes_linked: int = 0
    files_copied: int = 0
    bytes_copied: int = 0


@dataclass(frozen=True, slots=True)
class _Written:
    """A table file the last periodic write left on disk, and the frame it holds: reused
    while `frame` is alive and the file is still the inode written (same device, inode,
    length)."""

    frame: weakref.ref[pl.DataFrame]
    height: int
    schema: pl.Schema
    folder: Path
    entry: FileEntry
    device: int
    inode: int

    def holds(self, frame: pl.DataFrame) -> bool:
        # a live weak reference to this very object: its id was not reused; height and
        # schema guard against a frame changed in place against the contract
        return (self.frame() is frame and frame.height == self.height
                and frame.schema == self.schema)


def _encode_table(frame: pl.DataFrame, compression: IpcCompression) -> bytes:
    buffer = io.BytesIO()
    # Arrow IPC keeps the schema (time zones, Null columns, nested types) and the height of
    # a frame without columns, so empty and zero-column frames come back equal
    frame.write_ipc(buffer, compression=compression)
    return buffer.getvalue()


def _plain(value: object, what: str) -> None:
    """Refuse before anything touches the disk what msgpack cannot keep."""
    try:
        msgspec.msgpack.encode(value)
    except (TypeError, OverflowError) as error:
        raise CheckpointError(f"checkpoint {what} is not plain data: {error}") from None


# ---- the store ------------------------------------------------------------------------------

# called with the name of each step of a write (tests simulate a crash by raising in it)
StepHook = Callable[[str], None]


class CheckpointStore:
    """The checkpoints and savepoints of one job, in folder `directory` (created if missing;
    a file there is refused). Keeps the newest `keep` (>= 1) periodic checkpoints.
    compression: of the Arrow IPC table files (uncompressed, lz4, zstd; lz4 by default:
    half the bytes of uncompressed for about half zstd's CPU, benchmarks/README.md
    "Checkpoint store"). fsync=False skips every fsync: a process kill still loses
    nothing, a machine loss can (module docstring). read_only: no lock, no cleaning, no
    writes, a missing folder is an empty store (to inspect a store another process writes;
    a checkpoint that writer retires while it is being read is reported missing).
    incremental (the default): a table that is the same frame object as one the last
    periodic write wrote is hard-linked from it, not written again (module docstring);
    False: every write encodes and writes every table. `last_write` says what the last
    successful write or write_savepoint did (WriteStats).

    `warnings` gathers, once each, what reading found: damaged checkpoints skipped, entries
    ignored (symlinks, foreign names), temporary folders removed."""

    def __init__(self, directory: str | Path, keep: int = 3, *, compression: str = "lz4",
                 fsync: bool = True, read_only: bool = False, incremental: bool = True,
                 step_hook: StepHook | None = None) -> None:
        if keep < 1:
            raise CheckpointError(f"keep must be at least 1, not {keep}")
        if compression not in COMPRESSIONS:
            raise CheckpointError(f"unknown compression {compression!r}; expected one of "
                                  + ", ".join(COMPRESSIONS))
        self.directory = Path(directory)
        self.keep = keep
        self.compression = cast(IpcCompression, compression)  # checked above
        self.fsync = fsync
        self.read_only = read_only
        self.step_hook = step_hook
        self.incremental = incremental
        # the table files of the last periodic write, by id of the frame they hold
        self._reusable: dict[int, _Written] = {}
        self.last_write = WriteStats()
        self.warnings: list[str] = []
        self._warned: set[str] = set()
        self._damaged: set[str] = set()  # folder names found damaged
        self._lock_fd: int | None = None
        if self.directory.exists() and not self.directory.is_dir():
            raise CheckpointError(f"checkpoint store {self.directory} is not a folder")
        if read_only:
            return
        try:
            self.directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        except FileExistsError:
            raise CheckpointError(
                f"checkpoint store {self.directory} is not a folder") from None
        self._lock()
        self._remove_temporaries(self.directory)
        savepoints = self.directory / SAVEPOINTS
        if savepoints.is_dir() and not savepoints.is_symlink():
            self._remove_temporaries(savepoints)

    # -- life cycle

    def _lock(self) -> None:
        path = self.directory / LOCK
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
                         | os.O_CLOEXEC, FILE_MODE)
        except OSError as error:
            raise CheckpointError(f"cannot open the lock file {path}: {error.strerror} "
                                  "(a symbolic link is refused)") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise CheckpointError(f"the lock file {path} is not a regular file")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise CheckpointError(f"checkpoint store {self.directory} is in use by another "
                                  "writer") from None
        self._lock_fd = fd

    def close(self) -> None:
        """Release the writer's lock; the store cannot write afterwards."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> CheckpointStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.warnings.append(message)
            log.warning("%s", message)

    def _step(self, name: str) -> None:
        if self.step_hook is not None:
            self.step_hook(name)

    def _remove_temporaries(self, folder: Path) -> None:
        """A temporary folder is a write that never finished (or a retired checkpoint half
        deleted): nothing in it is wanted. Only under the lock, so none is in flight."""
        with os.scandir(folder) as entries:
            found = list(entries)
        for entry in found:
            if not entry.name.startswith(TEMPORARY_PREFIX):
                continue
            if entry.is_symlink() or not entry.is_dir(follow_symlinks=False):
                self._warn(f"{entry.path}: not a folder the store made; ignored")
                continue
            shutil.rmtree(entry.path)  # never follows symlinks inside
            self._warn(f"{entry.path}: removed the leftover of an unfinished write")

    # -- listing

    def _entries(self) -> Iterator[tuple[int, str]]:
        """(id, folder name) of each checkpoint folder, warning about foreign entries."""
        if self.read_only and not self.directory.is_dir():
            return
        with os.scandir(self.directory) as entries:
            found = list(entries)
        for entry in found:
            name = entry.name
            if name in (LOCK, SAVEPOINTS) or name.startswith(TEMPORARY_PREFIX):
                continue
            match = CHECKPOINT_NAME.fullmatch(name)
            if match is None:
                self._warn(f"{entry.path}: not a checkpoint name; ignored")
            elif entry.is_symlink():
                self._warn(f"{entry.path}: a symbolic link; ignored, not followed")
            elif not entry.is_dir(follow_symlinks=False):
                self._warn(f"{entry.path}: not a folder; ignored")
            else:
                yield int(match.group(1)), name

    def ids(self) -> list[int]:
        """The ids of the checkpoint folders present, oldest first (not verified: `load`
        and `latest` verify)."""
        return sorted(identifier for identifier, _ in self._entries())

    def next_id(self) -> int:
        """An id above every checkpoint folder present, damaged ones included, and above
        every entry named like one (a planted symlink or file), so a write never meets a
        name that is taken."""
        if self.read_only and not self.directory.is_dir():
            return 1
        taken = [int(match.group(1)) for match in map(CHECKPOINT_NAME.fullmatch,
                                                      os.listdir(self.directory)) if match]
        return max(taken, default=0) + 1

    def savepoints(self) -> list[str]:
        """The names of the savepoint folders present, sorted (not verified)."""
        folder = self.directory / SAVEPOINTS
        if folder.is_symlink():
            self._warn(f"{folder}: a symbolic link; ignored, not followed")
            return []
        if not folder.is_dir():
            return []
        names = []
        with os.scandir(folder) as entries:
            found = list(entries)
        for entry in found:
            if entry.name.startswith(TEMPORARY_PREFIX):
                continue
            if SAVEPOINT_NAME.fullmatch(entry.name) is None:
                self._warn(f"{entry.path}: not a savepoint name; ignored")
            elif entry.is_symlink():
                self._warn(f"{entry.path}: a symbolic link; ignored, not followed")
            elif not entry.is_dir(follow_symlinks=False):
                self._warn(f"{entry.path}: not a folder; ignored")
            else:
                names.append(entry.name)
        return sorted(names)

    def path_of(self, checkpoint_id: int) -> Path:
        return self.directory / f"checkpoint-{checkpoint_id:0{ID_DIGITS}d}"

    # -- reading

    def latest(self) -> Checkpoint | None:
        """The newest checkpoint that verifies whole, None if there is none. A newer one
        that does not verify is skipped, never half-loaded, and named in `warnings` with
        what is wrong with it."""
        for identifier, name in sorted(self._entries(), reverse=True):
            try:
                return self._read(self.directory / name, checkpoint_id=identifier)
            except _Damaged as damage:
                self._found_damaged(name)
                self._warn(f"{self.directory / name}: {damage}; skipped, falling back to "
                           "an older checkpoint")
        return None

    def load(self, checkpoint: int | str | Path) -> Checkpoint:
        """The checkpoint of this id in the store, or in the folder at this path (which
        must not be a symbolic link); CheckpointError naming the problem if it does not
        verify."""
        if isinstance(checkpoint, int):
            path, expected = self.path_of(checkpoint), checkpoint
        else:
            path, expected = Path(checkpoint), None
        try:
            return self._read(path, checkpoint_id=expected)
        except _Damaged as damage:
            if path.parent == self.directory:
                self._found_damaged(path.name)
            raise CheckpointError(f"checkpoint {path}: {damage}") from None

    def _found_damaged(self, name: str) -> None:
        """Checkpoint folder `name` does not verify: not counted by retention, and nothing
        written before is linked again (a damaged file may be shared with the folders the
        next write would link from: the next write encodes every table anew)."""
        self._damaged.add(name)
        self._reusable.clear()

    def savepoint(self, name: str) -> Checkpoint:
        """The savepoint `name`, verified whole; CheckpointError if missing or damaged."""
        path = self._savepoint_path(name)
        try:
            return self._read(path, savepoint=name)
        except _Damaged as damage:
            raise CheckpointError(f"savepoint {path}: {damage}") from None

    def _savepoint_path(self, name: str) -> Path:
        if SAVEPOINT_NAME.fullmatch(name) is None:
            raise CheckpointError(
                f"invalid savepoint name {name!r}: letters, digits, '_', '.', '-', "
                "at most 100, starting with a letter or digit")
        return self.directory / SAVEPOINTS / name

    def _read(self, path: Path, checkpoint_id: int | None = None,
              savepoint: str | None = None) -> Checkpoint:
        try:
            folder_fd = _open_directory(path)
        except FileNotFoundError:
            raise _Damaged("no such folder") from None
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.EMLINK, errno.ENOTDIR):
                raise _Damaged("not a folder (a symbolic link is not followed)") from None
            raise _Damaged(f"cannot open the folder: {error.strerror}") from None
        try:
            manifest = self._read_manifest(folder_fd)
            if checkpoint_id is not None and manifest.checkpoint_id != checkpoint_id:
                raise _Damaged(f"the manifest is of checkpoint {manifest.checkpoint_id}, "
                               f"the folder of checkpoint {checkpoint_id}")
            if savepoint is not None and manifest.savepoint != savepoint:
                raise _Damaged(f"the manifest is of savepoint {manifest.savepoint!r}, not "
                               f"{savepoint!r}")
            files = self._read_files(folder_fd, manifest)
            operators = {}
            for query, entry in manifest.operators.items():
                tables = {}
                for table in entry.tables:
                    data = files.get(table.file)
                    if data is None:
                        raise _Damaged(f"operator {query!r} names {table.file}, which the "
                                       "manifest does not list")
                    tables[table.name] = _decode_table(data, table, query)
                operators[query] = OperatorState(entry.kind, entry.version, tables,
                                                 dict(entry.scalars))
        finally:
            os.close(folder_fd)
        return Checkpoint(manifest.checkpoint_id, manifest.job, operators,
                          manifest.channels, manifest.sources, manifest.sinks,
                          manifest.counters, manifest.created_ms, manifest.savepoint)

    @staticmethod
    def _read_manifest(folder_fd: int) -> Manifest:
        raw = _read_file(folder_fd, MANIFEST, MAX_MANIFEST_BYTES, "the manifest")
        if len(raw) > MAX_MANIFEST_BYTES:
            raise _Damaged(f"manifest larger than {MAX_MANIFEST_BYTES} bytes; not read")
        try:
            version = _ENVELOPE_VERSION.decode(raw).format
        except msgspec.DecodeError as error:
            raise _Damaged(f"unreadable manifest ({error})") from None
        if version != FORMAT_VERSION:
            raise _Damaged(f"unknown format version {version} (this frys reads "
                           f"{FORMAT_VERSION})")
        try:
            envelope = _ENVELOPE.decode(raw)
        except msgspec.DecodeError as error:
            raise _Damaged(f"unreadable manifest ({error})") from None
        if crc32c(envelope.manifest) != envelope.crc32c:
            raise _Damaged("manifest checksum mismatch")
        try:
            return _MANIFEST.decode(envelope.manifest)
        except (msgspec.DecodeError, RecursionError) as error:
            raise _Damaged(f"unreadable manifest ({error})") from None

    @staticmethod
    def _read_files(folder_fd: int, manifest: Manifest) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        for entry in manifest.files:
            if TABLE_FILE.fullmatch(entry.name) is None or entry.name in files:
                raise _Damaged(f"the manifest lists a file named {entry.name!r}, not one "
                               "the store writes")
            data = _read_file(folder_fd, entry.name, entry.length, "a table")
            if len(data) < entry.length:
                raise _Damaged(f"{entry.name} truncated: {len(data)} bytes of "
                               f"{entry.length}")
            if len(data) > entry.length:
                raise _Damaged(f"{entry.name} longer than the {entry.length} bytes written")
            if crc32c(data) != entry.crc32c:
                raise _Damaged(f"{entry.name} checksum mismatch")
            files[entry.name] = data
        return files

    # -- writing

    def write(self, checkpoint: Checkpoint) -> Path:
        """Write a periodic checkpoint atomically (module docstring), then delete the
        oldest beyond `keep`; returns its folder. Its id must be above every checkpoint
        folder present (`next_id`); a checkpoint with `savepoint` set is refused (use
        `write_savepoint`)."""
        if checkpoint.savepoint is not None:
            raise CheckpointError("a savepoint is written with write_savepoint")
        if not 0 <= checkpoint.checkpoint_id <= MAX_ID:
            raise CheckpointError(f"checkpoint id {checkpoint.checkpoint_id} out of range")
        newest = max(self.ids(), default=-1)
        if checkpoint.checkpoint_id <= newest:
            raise CheckpointError(
                f"checkpoint {checkpoint.checkpoint_id} is not above the newest present "
                f"({newest}); use next_id()")
        final = self.path_of(checkpoint.checkpoint_id)
        if os.path.lexists(final):
            raise CheckpointError(f"{final} exists and is not a checkpoint folder; use "
                                  "next_id()")
        self._write_folder(checkpoint, self.directory, final.name, remember=True)
        self._retire()
        return final

    def write_savepoint(self, name: str, checkpoint: Checkpoint) -> Path:
        """Write `checkpoint` as savepoint `name` (its `savepoint` field becomes `name`),
        atomically as `write`; a savepoint of that name already present is refused. Its
        tables unchanged since the last periodic write are hard-linked as `write` links
        them: the savepoint folder is complete on its own and outlives the checkpoints it
        shares files with (it does not become what the next write links from)."""
        self._writable()
        path = self._savepoint_path(name)
        folder = path.parent
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise CheckpointError(f"{folder} is not a folder (a symbolic link is refused)")
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        if self.fsync:
            self._sync_path(self.directory)
        if os.path.lexists(path):
            raise CheckpointError(f"savepoint {name!r} exists; delete it first")
        self._write_folder(dataclasses.replace(checkpoint, savepoint=name), folder, name,
                           remember=False)
        return path

    def delete_savepoint(self, name: str) -> None:
        """Delete savepoint `name` (retired first, so a crash leaves it whole or gone)."""
        self._writable()
        path = self._savepoint_path(name)
        if not path.is_dir() or path.is_symlink():
            raise CheckpointError(f"no savepoint {name!r}")
        self._delete(path)

    def _writable(self) -> None:
        if self._lock_fd is None:
            raise CheckpointError(f"checkpoint store {self.directory} is not open for "
                                  "writing (read-only or closed)")

    def _sync_path(self, folder: Path) -> None:
        fd = _open_directory(folder)
        try:
            _fsync_directory(fd)
        finally:
            os.close(fd)

    def _write_folder(self, checkpoint: Checkpoint, parent: Path, final: str,
                      remember: bool) -> None:
        """Write the folder `parent/final` atomically; `remember`: its table files are
        what the next write may link to."""
        self._writable()
        for what in ("channels", "sources", "sinks", "counters"):
            _plain(getattr(checkpoint, what), what)
        _plain({query: state.scalars for query, state in checkpoint.operators.items()},
               "scalars")
        temporary = parent / f"{TEMPORARY_PREFIX}{final}-{os.getpid()}-{secrets.token_hex(4)}"
        temporary.mkdir(mode=DIR_MODE)
        try:
            folder_fd = _open_directory(temporary)
            try:
                manifest, placed, stats = self._write_tables(checkpoint, folder_fd)
                body = msgspec.msgpack.encode(manifest)
                envelope = msgspec.msgpack.encode(Envelope(FORMAT_VERSION, crc32c(body),
                                                           body))
                if len(envelope) > MAX_MANIFEST_BYTES:
                    raise CheckpointError(f"manifest of {len(envelope)} bytes, over the "
                                          f"{MAX_MANIFEST_BYTES} a store reads back")
                _write_file(folder_fd, MANIFEST, envelope, self.fsync)
                self._step("manifest")
                if self.fsync:
                    _fsync_directory(folder_fd)
                self._step("folder synced")
            finally:
                os.close(folder_fd)
            # the one moment the checkpoint appears, whole
            os.rename(temporary, parent / final)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        self._step("renamed")
        self.last_write = stats
        if remember:  # only once the folder is there under its name
            folder = parent / final
            self._reusable = {
                id(frame): _Written(weakref.ref(frame), frame.height, frame.schema, folder,
                                    entry, status.st_dev, status.st_ino)
                for frame, entry, status in placed}
        if self.fsync:
            self._sync_path(parent)
        self._step("directory synced")

    def _write_tables(self, checkpoint: Checkpoint, folder_fd: int) -> tuple[
            Manifest, list[tuple[pl.DataFrame, FileEntry, os.stat_result]], WriteStats]:
        """Each table's file in the folder (written, or linked or copied from the last
        periodic write's); the manifest, each frame with its file, and what was done."""
        files: list[FileEntry] = []
        operators: dict[str, OperatorEntry] = {}
        placed: list[tuple[pl.DataFrame, FileEntry, os.stat_result]] = []
        done: dict[str, list[int]] = {"written": [], "linked": [], "copied": []}
        sources = Folders()
        try:
            for query, state in checkpoint.operators.items():
                tables = []
                for table_name, frame in state.tables.items():
                    file = f"t{len(files):05d}.arrow"
                    previous = self._reusable.get(id(frame)) if self.incremental else None
                    reused = None
                    if previous is not None and previous.holds(frame):
                        reused = self._reuse(previous, sources, folder_fd, file)
                    if reused is not None:
                        how, entry, status = reused
                    else:
                        data = _encode_table(frame, self.compression)
                        how, status = "written", _write_file(folder_fd, file, data,
                                                             self.fsync)
                        entry = FileEntry(file, len(data), crc32c(data))
                    files.append(entry)
                    tables.append(TableEntry(table_name, file, frame.height))
                    placed.append((frame, entry, status))
                    done[how].append(entry.length)
                    self._step(f"{_STEP_OF[how]} {file}")
                operators[query] = OperatorEntry(state.kind, state.version,
                                                 dict(state.scalars), tables)
        finally:
            sources.close()
        stats = WriteStats(len(done["written"]), sum(done["written"]), len(done["linked"]),
                           sum(done["linked"]), len(done["copied"]), sum(done["copied"]))
        manifest = Manifest(checkpoint.checkpoint_id, checkpoint.job, checkpoint.created_ms,
                            checkpoint.savepoint, operators, files, checkpoint.channels,
                            checkpoint.sources, checkpoint.sinks, checkpoint.counters)
        return manifest, placed, stats

    def _reuse(self, previous: _Written, sources: Folders, folder_fd: int,
               file: str) -> tuple[str, FileEntry, os.stat_result] | None:
        """The last write's file for the same frame, put in the new folder as `file`
        (checkpoint_files.link_or_copy: a hard link, or a checked copy); its entry, the
        same length and CRC32C under the new name. None when the file is no longer the
        one written (gone, replaced), and the caller writes the table anew."""
        try:
            source_fd = sources.open(previous.folder)
        except OSError:
            return None
        placed = link_or_copy(source_fd, previous.entry.name, folder_fd, file,
                              (previous.device, previous.inode), previous.entry.length,
                              previous.entry.crc32c, self.fsync)
        if placed is None:
            return None
        how, status = placed
        return how, FileEntry(file, previous.entry.length, previous.entry.crc32c), status

    def _retire(self) -> None:
        """Delete every checkpoint older than the `keep` newest not known damaged."""
        kept = 0
        for _, name in sorted(self._entries(), reverse=True):
            if kept >= self.keep:
                self._delete(self.directory / name)
                self._step(f"retired {name}")
            elif name not in self._damaged:
                kept += 1

    def _delete(self, path: Path) -> None:
        # renamed first: a crash in the middle of rmtree leaves a temporary folder, which
        # the next open removes, never a half checkpoint under its name
        retired = path.parent / f"{TEMPORARY_PREFIX}retired-{path.name}-{secrets.token_hex(4)}"
        os.rename(path, retired)
        self._damaged.discard(path.name)
        shutil.rmtree(retired)


# the step_hook's name of each way a table file is placed
_STEP_OF = {"written": "file", "linked": "link", "copied": "copy"}


def _decode_table(data: bytes, table: TableEntry, query: str) -> pl.DataFrame:
    """A verified table file as a frame; _Damaged if it does not read back whole. The
    checksum has passed, so this catches only a file the store did not write."""
    try:
        frame = pl.read_ipc(data)
    except (Exception, pl.exceptions.PanicException) as error:  # a panic is BaseException
        raise _Damaged(f"{table.file} (operator {query!r}) unreadable: "
                       f"{type(error).__name__}") from None
    if frame.height != table.rows:
        raise _Damaged(f"{table.file} holds {frame.height} rows, the manifest says "
                       f"{table.rows}")
    return frame
