"""The write-ahead log: segmented, append-only, checksummed files in one directory.

Layout: ``<dir>/<first offset, 20 digits>.wal`` segments of records (see records.py), a
``.lock`` file held by the one writer, and ``consumers/`` with committed offsets (offsets.py).
Offsets count events, not records: a record of a 1,000-row batch takes 1,000 offsets, so a
consumer can commit or replay from the middle of a batch.

Guarantees, whatever the fsync policy:

* an append is one ``write`` of a whole record straight to the file (no buffering in this
  process), so once ``append`` returns, killing the process (even with SIGKILL) loses
  nothing; only the loss of the machine (power, kernel) depends on the policy;
* on open, every segment is checked record by record, and damage is reported in
  ``recovery`` (and logged), never raised. Only a torn tail is truncated: damage in the
  active (newest) segment with no valid record after it, what a crash in the middle of a
  write leaves. Any other damage (in a sealed segment, or followed by valid records) is
  kept out of the log without cutting anything: the damaged bytes are copied to
  ``quarantine/<segment>.<byte>.bad`` and skipped, the records after them are found again
  (records.find_next) and stay readable, so every valid record survives, in order, exactly
  once, and only the damaged records' events are lost;
* one writer per directory at a time (an exclusive ``flock`` on ``.lock``, released by the
  kernel if the writer dies); any number of readers, in this or other processes, may read
  while it writes (reader.py).

Hardening: a segment, ``.lock``, offset file or temporary is opened with ``O_NOFOLLOW`` (and
checked with ``fstat`` to be a regular file), so an entry planted in the folder as a symbolic
link, a directory or a FIFO is refused with a WalError naming it; the file a symlink points
to is never read, written or truncated. (The WAL folder itself may be a symlink: it is the
owner's choice of where the log lives.) Everything the WAL creates is private to its owner:
files 0600, folders 0700 (FILE_MODE, DIR_MODE; a umask can only take bits away).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from frys.connectors.wal.records import (
    BODY_HEAD,
    MAX_BODY,
    NO_TIME,
    PayloadFormat,
    encode,
    survey,
)

log = logging.getLogger("frys.wal")

SEGMENT_SUFFIX = ".wal"
QUARANTINE = "quarantine"  # the folder (in the WAL folder) of damaged records' bytes
DEFAULT_SEGMENT_BYTES = 64 << 20
# The one permission rule: what the WAL creates is its owner's alone (docs/bus.md).
FILE_MODE = 0o600
DIR_MODE = 0o700


class WalError(Exception):
    """A WAL that cannot be used: locked by another writer, not a directory, bad settings,
    an entry that is not a regular file (a planted symlink, a folder named like a segment)."""


def open_regular(path: Path, flags: int, what: str, mode: int = FILE_MODE) -> int:
    """os.open without following a symlink in the last component, of a regular file only:
    a symlink, a directory, a FIFO or a device at `path` is a WalError naming it (what:
    'segment', 'lock file', ...), never an OSError traceback, and a symlink's target is never
    opened. O_NONBLOCK keeps a planted FIFO from blocking the open (it changes nothing for
    regular files). FileNotFoundError and FileExistsError (O_EXCL) pass through."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.EMLINK):  # EMLINK: O_NOFOLLOW on the BSDs
            raise WalError(f"{path}: the WAL {what} is a symbolic link; refusing to follow "
                           "it (a WAL never opens a symlink; remove it)") from None
        if error.errno == errno.EISDIR:
            raise WalError(f"{path}: the WAL {what} is a directory, not a file; "
                           "remove or rename it") from None
        raise
    try:
        kind = os.fstat(fd).st_mode
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(kind):
        os.close(fd)
        raise WalError(f"{path}: the WAL {what} is not a regular file "
                       f"({_kind_name(kind)}); remove or rename it")
    return fd


def _kind_name(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def check_regular(path: Path, what: str) -> os.stat_result | None:
    """lstat `path`: None if it is missing, its stat if a regular file, else a WalError
    naming it (a symlink is not followed)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        raise WalError(f"{path}: the WAL {what} is {_kind_name(info.st_mode)}, not a regular "
                       "file; refusing to use it (remove or rename it)")
    return info


def make_directories(directory: Path) -> None:
    """Create `directory` and its missing parents with DIR_MODE (Path.mkdir gives missing
    parents the default 0777 less the umask). An existing one is left as it is."""
    missing = []
    current = directory
    while not os.path.lexists(current):
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # created meanwhile (another process)
            os.mkdir(path, DIR_MODE)
    if not directory.is_dir():
        raise WalError(f"{directory} exists and is not a directory")


@dataclass(frozen=True)
class FsyncPolicy:
    """When appended records are forced to stable storage (``fdatasync``).

    * ``always``: before ``append`` returns. An acknowledged append survives the loss of
      the machine itself (power cut, kernel panic). Costs one disk flush per append call;
      ``append_many`` shares one flush among many records (group commit).
    * ``batch``: when ``interval_ms`` has passed since the oldest unflushed append, or
      ``max_bytes`` are unflushed, whichever comes first; a background thread flushes a
      quiet log on time. A machine crash loses at most the appends of the last
      ``interval_ms`` (or ``max_bytes``); a process crash loses nothing.
    * ``never``: the operating system writes when it likes. A process crash loses nothing;
      a machine crash may lose anything not yet written back (typically up to 30 s).
    """

    mode: str
    interval_ms: int = 0
    max_bytes: int = 0

    @staticmethod
    def always() -> FsyncPolicy:
        return FsyncPolicy("always")

    @staticmethod
    def batch(interval_ms: int = 100, max_bytes: int = 4 << 20) -> FsyncPolicy:
        if interval_ms <= 0 or max_bytes <= 0:
            raise WalError("fsync batch needs a positive interval and size")
        return FsyncPolicy("batch", interval_ms, max_bytes)

    @staticmethod
    def never() -> FsyncPolicy:
        return FsyncPolicy("never")

    @staticmethod
    def parse(text: str) -> FsyncPolicy:
        """'always', 'never', 'batch' or 'batch:<ms>' / 'batch:<ms>:<bytes>'."""
        name, *args = text.split(":")
        if name == "always" and not args:
            return FsyncPolicy.always()
        if name == "never" and not args:
            return FsyncPolicy.never()
        # ASCII digits only: isdigit alone also takes "²", which int() rejects (ValueError)
        if name == "batch" and len(args) <= 2 and all(a.isascii() and a.isdigit()
                                                      for a in args):
            return FsyncPolicy.batch(*(int(a) for a in args))
        raise WalError(f"unknown fsync policy {text!r}; expected always, never, batch, "
                       "batch:<interval ms> or batch:<interval ms>:<bytes>")


@dataclass(frozen=True)
class Retention:
    """Whole segments older than ``max_age_s`` (by their last append) or beyond ``max_bytes``
    in total (oldest first) are deleted; the segment being written is always kept."""

    max_bytes: int | None = None
    max_age_s: float | None = None


@dataclass(frozen=True)
class Damage:
    """Damaged bytes of a WAL: ``lost_bytes`` bytes of ``segment`` from byte ``at``.

    ``action`` says what was done about them: ``truncated`` (a torn tail, cut by the writer's
    recovery), ``quarantined`` (copied to ``quarantine``, a path relative to the WAL folder,
    and skipped; the segment is left as it is), ``skipped`` (a reader went past them),
    ``removed`` (a whole segment that overlaps the previous one), ``missing`` (with
    ``lost_bytes`` 0: offsets missing after byte ``at``, see reader.py), or, from
    ``inspect_log``, what opening the log would do. ``offset`` is the first event the
    damage hides (the one expected at ``at``), ``resume`` the offset of the first valid
    record after it (None: none follows in this segment)."""

    segment: str
    at: int
    lost_bytes: int
    reason: str
    action: str = "truncated"
    offset: int | None = None
    resume: int | None = None
    quarantine: str | None = None

    def events(self) -> str:
        """The event offsets around the damage, in words ('' when unknown)."""
        if self.offset is None:
            return ""
        if self.resume is None:
            return f"events from offset {self.offset} on are lost in this segment"
        if self.resume <= self.offset:
            return f"no event lost, reading resumes at offset {self.resume}"
        return (f"events {self.offset} to {self.resume - 1} lost, reading resumes at "
                f"offset {self.resume}")

    def __str__(self) -> str:
        if self.lost_bytes == 0 and self.action == "missing":
            return f"{self.segment}: at byte {self.at}: {self.reason}"
        done = {"quarantined": f"quarantined to {self.quarantine} and skipped"}.get(
            self.action, self.action)
        events = self.events()
        return (f"{self.segment}: {self.lost_bytes} bytes from byte {self.at} {done} "
                f"({self.reason})" + (f"; {events}" if events else ""))


@dataclass
class _Segment:
    base: int
    path: Path
    size: int
    next_offset: int


def segment_name(base: int) -> str:
    return f"{base:020d}{SEGMENT_SUFFIX}"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """(first offset, path) of every segment file, in offset order."""
    found = []
    # names only: what each entry is gets checked where it is opened (open_regular)
    for path in directory.glob(f"*{SEGMENT_SUFFIX}"):
        stem = path.name[: -len(SEGMENT_SUFFIX)]
        if stem.isdigit():
            found.append((int(stem), path))
    return sorted(found)


def fsync_directory(directory: Path) -> None:
    """Make a create, rename or delete in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_all(fd: int) -> bytes:
    """The whole of the file open on `fd`, from byte 0."""
    size = os.fstat(fd).st_size
    chunks: list[bytes] = []
    position = 0
    while True:
        chunk = os.pread(fd, max(size - position, 1 << 16), position)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        position += len(chunk)


def quarantine_folder(directory: Path, create: bool) -> Path:
    """``<directory>/quarantine``, a real folder (not a symlink), made DIR_MODE if missing
    and `create`."""
    folder = directory / QUARANTINE
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        if not create:
            return folder
        make_directories(folder)
        info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode):
        raise WalError(f"{folder}: the WAL quarantine folder is {_kind_name(info.st_mode)}; "
                       "refusing to use it (remove or rename it)")
    return folder


def inspect_log(directory: Path) -> list[Damage]:
    """Every damage in the WAL at `directory`, changing nothing (``frys wal check``): what
    opening it for writing would truncate, quarantine or remove, what it has quarantined
    already, and offsets missing between segments. The action of each says which."""
    found = list_segments(directory)
    for _, path in found:
        check_regular(path, "segment")
    report: list[Damage] = []
    folder = quarantine_folder(directory, create=False)
    previous_end: int | None = None
    previous_name = ""
    previous_size = 0
    for index, (base, path) in enumerate(found):
        fd = open_regular(path, os.O_RDONLY, "segment")
        try:
            data = read_all(fd)
        finally:
            os.close(fd)
        if previous_end is not None and base < previous_end:
            report.append(Damage(path.name, 0, len(data), f"starts at offset {base}, inside "
                                 "the previous segment", "to be removed on the next open"))
            continue
        if previous_end is not None and base > previous_end:
            report.append(Damage(previous_name, previous_size, 0,
                                 f"offsets {previous_end} to {base - 1} are missing before "
                                 f"{path.name}", "missing"))
        last = index == len(found) - 1
        result = survey(data, base, None if last else found[index + 1][0])
        for gap in result.gaps:
            if gap.end == gap.at:
                report.append(Damage(path.name, gap.at, 0, gap.reason, "missing",
                                     gap.offset, gap.resume))
                continue
            if last and gap.resume is None:
                action = ("a torn tail, truncated on the next open (or a write in flight, "
                          "if a writer is running)")
            else:
                name = f"{path.name}.{gap.at}.bad"
                action = (f"quarantined to {QUARANTINE}/{name} and skipped"
                          if check_regular(folder / name, "quarantine file") is not None
                          else "to be quarantined on the next open; readers skip it")
            report.append(Damage(path.name, gap.at, gap.end - gap.at, gap.reason, action,
                                 gap.offset, gap.resume))
        previous_end, previous_name, previous_size = result.next_offset, path.name, len(data)
    return report


@dataclass
class WalStats:
    appends: int = 0
    records: int = 0
    bytes: int = 0
    syncs: int = 0
    segments_deleted: int = 0
    damage: list[Damage] = field(default_factory=list)


class WriteAheadLog:
    """The writer of one WAL directory (created if missing). Thread-safe."""

    def __init__(self, directory: str | Path, fsync: FsyncPolicy | None = None,
                 segment_bytes: int = DEFAULT_SEGMENT_BYTES,
                 retention: Retention | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.directory = Path(directory)
        self.fsync = fsync or FsyncPolicy.batch()
        if segment_bytes <= 0:
            raise WalError("segment_bytes must be positive")
        self.segment_bytes = segment_bytes
        self.retention = retention or Retention()
        self.clock = clock
        self.stats = WalStats()
        self._lock = threading.Lock()
        self._closed = False
        if os.path.lexists(self.directory) and not self.directory.is_dir():
            raise WalError(f"{self.directory} exists and is not a directory")
        make_directories(self.directory)
        self._lock_fd = open_regular(self.directory / ".lock", os.O_RDWR | os.O_CREAT,
                                     "lock file")
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise WalError(f"{self.directory} is open for writing by another writer (in this "
                           "process or another); a WAL has one writer at a time") from None
        try:
            self._segments = self._recover()
            active = self._segments[-1]
            self._fd = open_regular(active.path, os.O_WRONLY | os.O_APPEND, "segment")
        except BaseException:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            raise
        self._unsynced_bytes = 0
        self._unsynced_since: float | None = None
        # see synced_offset; a segment sealed without a flush (`never`) stops it for good
        self._synced_offset = self._segments[-1].next_offset
        self._sealed_unsynced = False
        self._flusher: threading.Thread | None = None
        self._stop_flusher = threading.Event()
        if self.fsync.mode == "batch":
            self._flusher = threading.Thread(target=self._flush_on_time, daemon=True,
                                             name=f"wal-fsync {self.directory.name}")
            self._flusher.start()

    # ------------------------------------------------------------------ recovery

    @property
    def recovery(self) -> list[Damage]:
        """What opening this log cut off (empty after a clean shutdown)."""
        return self.stats.damage

    def _recover(self) -> list[_Segment]:
        segments: list[_Segment] = []
        found = list_segments(self.directory)
        # Every entry is checked before any is changed: a planted symlink or a folder named
        # like a segment refuses the whole log, before recovery cuts or deletes anything.
        for _, path in found:
            check_regular(path, "segment")
        for index, (base, path) in enumerate(found):
            # no symlink followed (checked again on the open itself: no race with lstat)
            fd = open_regular(path, os.O_RDWR, "segment")
            try:
                data = read_all(fd)
                if segments and base < segments[-1].next_offset:
                    # an older segment's records overlap this one's name: the file cannot be
                    # trusted (it was not written by this log); keep what came first. Checked
                    # before the scan, so the report names all the bytes deleted (it used to
                    # truncate the file first, report that, then report 0 bytes deleted).
                    self._report(Damage(path.name, 0, len(data),
                                        f"starts at offset {base}, inside the previous "
                                        "segment", "removed"))
                    path.unlink()  # unlink removes a name, it never follows a symlink
                    continue
                last = index == len(found) - 1
                limit = None if last else found[index + 1][0]
                result = survey(data, base, limit)
                size = len(data)
                for gap in result.gaps:
                    if last and gap.resume is None:
                        # a torn tail: what a crash in the middle of a write leaves
                        self._report(Damage(path.name, gap.at, gap.end - gap.at, gap.reason,
                                            "truncated", gap.offset))
                        os.ftruncate(fd, gap.at)
                        os.fsync(fd)
                        size = gap.at
                    elif gap.end == gap.at:  # an intact record whose offset jumps ahead
                        self._report(Damage(path.name, gap.at, 0, gap.reason, "missing",
                                            gap.offset, gap.resume))
                    else:
                        where = self._quarantine(path.name, gap.at, data[gap.at: gap.end])
                        self._report(Damage(path.name, gap.at, gap.end - gap.at, gap.reason,
                                            "quarantined", gap.offset, gap.resume, where))
            finally:
                os.close(fd)
            segments.append(_Segment(base, path, size, result.next_offset))
        if not segments:
            path = self.directory / segment_name(0)
            try:
                os.close(open_regular(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, "segment"))
            except FileExistsError:  # a dangling symlink or the like (O_EXCL never follows)
                raise WalError(f"{path}: cannot create the first WAL segment, something "
                               "else has its name (a dangling symbolic link?)") from None
            fsync_directory(self.directory)
            segments.append(_Segment(0, path, 0, 0))
        if self.stats.damage:
            fsync_directory(self.directory)
        return segments

    def _report(self, damage: Damage) -> None:
        self.stats.damage.append(damage)
        log.warning("WAL %s: %s", self.directory, damage)

    def _quarantine(self, segment: str, at: int, data: bytes) -> str:
        """Copy damaged bytes to ``quarantine/<segment>.<at>.bad`` (0600, in a 0700 folder;
        neither may be a symlink); returns that path relative to the WAL folder. A copy
        already there from an earlier open is left as it is."""
        folder = quarantine_folder(self.directory, create=True)
        name = f"{segment}.{at}.bad"
        path = folder / name
        info = check_regular(path, "quarantine file")
        if info is not None and info.st_size == len(data):
            fd = open_regular(path, os.O_RDONLY, "quarantine file")
            try:
                if read_all(fd) == data:
                    return f"{QUARANTINE}/{name}"
            finally:
                os.close(fd)
        fd = open_regular(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "quarantine file")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_directory(folder)
        return f"{QUARANTINE}/{name}"

    # ------------------------------------------------------------------ writing

    @property
    def next_offset(self) -> int:
        """The offset the next appended event gets."""
        return self._segments[-1].next_offset

    @property
    def start_offset(self) -> int:
        """The oldest offset still in the log (retention moves it forward)."""
        return self._segments[0].base

    def append(self, payload: bytes, count: int = 1, min_time_ms: int = NO_TIME,
               max_time_ms: int | None = None,
               payload_format: PayloadFormat = PayloadFormat.RAW) -> int:
        """Append one record of `count` events; returns the offset of its first event. When
        this returns the record is in the file (see FsyncPolicy for what that survives)."""
        return self.append_many([(payload, count, min_time_ms,
                                  min_time_ms if max_time_ms is None else max_time_ms,
                                  payload_format)])[0]

    def append_many(self, items: Sequence[tuple[bytes, int, int, int, PayloadFormat]]
                    ) -> list[int]:
        """Append several records with one write and, under ``always``, one flush."""
        if not items:  # nothing to write (it used to fail with an IndexError)
            return []
        with self._lock:
            if self._closed:
                raise WalError(f"WAL {self.directory} is closed")
            active = self._segments[-1]
            if active.size >= self.segment_bytes:
                active = self._roll()
            offsets = []
            frames = []
            offset = active.next_offset
            for payload, count, min_time, max_time, payload_format in items:
                if count <= 0:
                    raise WalError("a record holds at least one event")
                if len(payload) + BODY_HEAD.size > MAX_BODY:
                    # refused here: recovery would treat a longer record as damage
                    raise WalError(f"a record of {len(payload)} bytes is over the "
                                   f"{MAX_BODY >> 20} MiB limit; append smaller batches")
                offsets.append(offset)
                frames.append(encode(offset, count, min_time, max_time, payload_format,
                                     payload))
                offset += count
            data = b"".join(frames) if len(frames) > 1 else frames[0]
            written = os.write(self._fd, data)
            while written < len(data):  # a short write (rare: a full disk, a signal)
                written += os.write(self._fd, data[written:])
            active.size += len(data)
            active.next_offset = offset
            self.stats.appends += 1
            self.stats.records += len(items)
            self.stats.bytes += len(data)
            self._after_write(len(data))
            return offsets

    def _after_write(self, size: int) -> None:
        mode = self.fsync.mode
        if mode == "always":
            self._sync_locked()
        elif mode == "batch":
            self._unsynced_bytes += size
            if self._unsynced_since is None:
                self._unsynced_since = self.clock()
            if self._unsynced_bytes >= self.fsync.max_bytes or \
                    (self.clock() - self._unsynced_since) * 1000 >= self.fsync.interval_ms:
                self._sync_locked()

    @property
    def synced_offset(self) -> int:
        """Every event this writer appended below this offset has been flushed to stable
        storage (`fdatasync`), so it survives the loss of the machine. It starts at
        `next_offset` when the log is opened (it says nothing about what an earlier writer
        left: recovery reads it back but cannot tell whether it was flushed) and moves with
        each flush the fsync policy makes (or `sync()`). Under `never`, segments are sealed
        without a flush, so it stops at the first roll."""
        return self._synced_offset

    def _sync_locked(self) -> None:
        os.fdatasync(self._fd)
        self.stats.syncs += 1
        self._unsynced_bytes = 0
        self._unsynced_since = None
        if not self._sealed_unsynced:
            # the flush covered the active segment; sealed ones were flushed when rolled
            self._synced_offset = self._segments[-1].next_offset

    def sync(self) -> None:
        """Force everything appended so far to stable storage, whatever the policy."""
        with self._lock:
            if not self._closed:
                self._sync_locked()

    def _flush_on_time(self) -> None:
        """The background flusher of the `batch` policy: looks twice per interval."""
        while not self._stop_flusher.wait(self.fsync.interval_ms / 2000):
            if not self.flush_if_due():
                return

    def flush_if_due(self) -> bool:
        """Sync if the oldest unsynced append is an interval old (by `clock`); what the
        background flusher does on each wake-up. False once the log is closed."""
        with self._lock:
            if self._closed:
                return False
            since = self._unsynced_since
            if since is not None and (self.clock() - since) * 1000 >= self.fsync.interval_ms:
                self._sync_locked()
            return True

    def _roll(self) -> _Segment:
        """Start a new segment; the old one is complete (and flushed unless `never`)."""
        old = self._segments[-1]
        if self.fsync.mode != "never":
            self._sync_locked()
        elif old.next_offset > self._synced_offset:
            self._sealed_unsynced = True  # a later flush of the new segment misses these
        os.close(self._fd)
        path = self.directory / segment_name(old.next_offset)
        try:
            self._fd = open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL,
                                    "segment")
        except FileExistsError:
            # planted after recovery (O_EXCL never follows a symlink, nor reuses a file)
            self._fd = open_regular(old.path, os.O_WRONLY | os.O_APPEND, "segment")
            raise WalError(f"{path}: cannot start a new WAL segment, something else already "
                           "has its name; remove it") from None
        if self.fsync.mode != "never":
            fsync_directory(self.directory)
        segment = _Segment(old.next_offset, path, 0, old.next_offset)
        self._segments.append(segment)
        self._apply_retention_locked()
        return segment

    # ------------------------------------------------------------------ cutting back

    def truncate_to(self, offset: int) -> int:
        """Remove every event at or after `offset` (a record boundary: where a pre_commit
        left `next_offset`), so the next append gets `offset`; returns how many events went.

        The records before `offset` keep their offsets and bytes. Segments after the one
        holding `offset` are deleted newest first, then that segment is truncated at the
        record starting there, fsynced, and the folder fsynced: a crash at any moment
        leaves the log a prefix of what it was (never a hole), and doing it again finishes
        the job. Refused (WalError), with nothing changed, when the log ends before
        `offset` (cut, or records lost with a machine under fsync `never`), when retention
        has deleted past `offset` (the log starts after it: records written before it are
        gone, so the log cannot be made to end there), and when `offset` falls inside a
        record or inside damaged bytes."""
        with self._lock:
            if self._closed:
                raise WalError(f"WAL {self.directory} is closed")
            end = self._segments[-1].next_offset
            if offset == end:
                return 0
            if offset > end:
                raise WalError(f"WAL {self.directory} ends at offset {end}, before offset "
                               f"{offset}: events below {offset} are gone (the log was cut, "
                               "or lost unflushed records with its machine)")
            if offset < self._segments[0].base:
                raise WalError(f"WAL {self.directory} starts at offset "
                               f"{self._segments[0].base}: retention deleted the events "
                               f"below it, past offset {offset}, so the log cannot be cut "
                               f"back to end at {offset} (its retention limits are too "
                               "small for the time between checkpoints)")
            index = max(i for i, s in enumerate(self._segments) if s.base <= offset)
            segment = self._segments[index]
            fd = open_regular(segment.path, os.O_RDWR, "segment")
            try:
                cut = self._boundary(segment, fd, offset,
                                     None if index + 1 == len(self._segments)
                                     else self._segments[index + 1].base)
                try:
                    os.close(self._fd)
                    for later in reversed(self._segments[index + 1:]):
                        later.path.unlink(missing_ok=True)
                    if len(self._segments) > index + 1:
                        fsync_directory(self.directory)
                    os.ftruncate(fd, cut)
                    os.fsync(fd)
                    fsync_directory(self.directory)
                    self._fd = open_regular(segment.path, os.O_WRONLY | os.O_APPEND,
                                            "segment")
                except BaseException:
                    # half cut (still a prefix of the log): this writer is done; opening
                    # the log again and cutting again finishes the job
                    self._closed = True
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                    os.close(self._lock_fd)
                    self._stop_flusher.set()
                    raise
            finally:
                os.close(fd)
            del self._segments[index + 1:]
            segment.size, segment.next_offset = cut, offset
            self._synced_offset = min(self._synced_offset, offset)
            self._sealed_unsynced = False
            self._unsynced_bytes = 0
            self._unsynced_since = None
            return end - offset

    def _boundary(self, segment: _Segment, fd: int, offset: int, limit: int | None) -> int:
        """The byte of `segment` where its content from event `offset` on starts: the first
        record or damaged bytes at or after it; WalError if `offset` is inside either."""
        result = survey(read_all(fd), segment.base, limit, keep_records=True)
        starts = []
        for position, record in zip(result.positions, result.records, strict=True):
            if record.offset >= offset:
                starts.append(position)
            elif record.next_offset > offset:
                raise WalError(f"{segment.path}: offset {offset} is inside the record of "
                               f"offsets {record.offset} to {record.next_offset - 1}; a log "
                               "is cut back only at a record boundary")
        for gap in result.gaps:
            if gap.offset >= offset:
                starts.append(gap.at)
            elif gap.resume is None or gap.resume > offset:
                raise WalError(f"{segment.path}: offset {offset} is among events lost to "
                               "damage (see `frys wal check`); the log cannot be cut back "
                               "there")
        if starts:
            return min(starts)
        if offset == result.next_offset:
            return result.valid_bytes
        raise WalError(f"{segment.path}: holds no event at offset {offset}")

    # ------------------------------------------------------------------ retention

    def apply_retention(self) -> int:
        """Delete segments beyond the retention limits now (also done at every roll);
        returns how many were deleted."""
        with self._lock:
            return self._apply_retention_locked()

    def _apply_retention_locked(self) -> int:
        deleted = 0
        limit_bytes = self.retention.max_bytes
        max_age = self.retention.max_age_s
        now = self.clock()
        while len(self._segments) > 1:
            oldest = self._segments[0]
            total = sum(s.size for s in self._segments)
            too_big = limit_bytes is not None and total > limit_bytes
            too_old = max_age is not None and \
                now - os.lstat(oldest.path).st_mtime > max_age
            if not (too_big or too_old):
                break
            oldest.path.unlink(missing_ok=True)
            self._segments.pop(0)
            deleted += 1
        if deleted:
            self.stats.segments_deleted += deleted
            fsync_directory(self.directory)
        return deleted

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Flush (unless `never`) and release the directory."""
        with self._lock:
            if self._closed:
                return
            if self.fsync.mode != "never":
                self._sync_locked()
            self._closed = True
            os.close(self._fd)
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
        self._stop_flusher.set()
        if self._flusher is not None and self._flusher is not threading.current_thread():
            self._flusher.join()

    def __enter__(self) -> WriteAheadLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
