"""The checkpoint store's file primitives (engine/checkpoint.py): every file and folder
reached through a descriptor of its folder, never through a symbolic link; files created
exclusively and never changed afterwards; reads bounded; and the hard link (or checked
copy) by which an incremental write reuses a file an earlier write left on disk.

Nothing here knows the store's layout or manifest; a file that cannot be read as asked
raises `Damaged`, which the store turns into "this checkpoint does not verify".
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from crc32c import crc32c

# what the store creates is its owner's alone, as the WAL's files (connectors/wal/log.py)
FILE_MODE = 0o600


class Damaged(Exception):
    """Why a checkpoint folder does not verify (one sentence)."""


def fsync_directory(fd: int) -> None:
    os.fsync(fd)


def open_directory(path: Path | str, dir_fd: int | None = None) -> int:
    """A descriptor of the folder `path`, refusing a symlink in its last component."""
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                   dir_fd=dir_fd)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_file(folder_fd: int, name: str, data: bytes, sync: bool) -> os.stat_result:
    """Create `name` in the folder with `data` (never an existing name); its status
    (device and inode: what a later write links to)."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 FILE_MODE, dir_fd=folder_fd)
    try:
        _write_all(fd, data)
        if sync:
            os.fsync(fd)
        return os.fstat(fd)
    finally:
        os.close(fd)


def read_file(folder_fd: int, name: str, limit: int, what: str) -> bytes:
    """The bytes of regular file `name` in the folder, at most `limit` + 1 of them (so a
    caller sees a file longer than it should be). Damaged if missing or not a file."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=folder_fd)
    except FileNotFoundError:
        raise Damaged(f"missing file {name} ({what})") from None
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.EMLINK):
            raise Damaged(f"{name} is a symbolic link, not followed") from None
        raise Damaged(f"cannot open {name}: {error.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Damaged(f"{name} is not a regular file")
        chunks = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 16 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def link_or_copy(source_fd: int, source: str, folder_fd: int, name: str,
                 inode: tuple[int, int], length: int, checksum: int,
                 sync: bool) -> tuple[str, os.stat_result] | None:
    """Put file `source` of one folder into another as `name`, provided it is still the
    file written (a regular file, this (device, inode), `length` bytes): a hard link
    ("linked"; no fsync of the file, its bytes were synced when it was written: the
    caller fsyncs the folder), or where the file system refuses links (another file
    system, none there, too many links) a copy whose bytes have CRC32C `checksum`
    ("copied", fsynced if `sync`). With the new name's status; None when the file is
    gone, replaced or not as recorded: the caller writes it anew."""
    try:
        found = os.stat(source, dir_fd=source_fd, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISREG(found.st_mode) or (
            (found.st_dev, found.st_ino), found.st_size) != (inode, length):
        return None
    try:
        os.link(source, name, src_dir_fd=source_fd, dst_dir_fd=folder_fd,
                follow_symlinks=False)
    except OSError:
        pass  # copied below
    else:
        linked = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
        if (linked.st_dev, linked.st_ino) == inode:
            return "linked", linked
        os.unlink(name, dir_fd=folder_fd)  # replaced in between: written anew
        return None
    try:
        data = read_file(source_fd, source, length, "a table")
    except Damaged:
        return None
    if len(data) != length or crc32c(data) != checksum:
        return None
    return "copied", write_file(folder_fd, name, data, sync)


class Folders:
    """Descriptors of the folders a write links from, each opened once (no symlink)."""

    def __init__(self) -> None:
        self._open: dict[Path, int] = {}

    def open(self, folder: Path) -> int:
        fd = self._open.get(folder)
        if fd is None:
            fd = self._open[folder] = open_directory(folder)
        return fd

    def close(self) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()
