"""Consumer offsets of a WAL, committed durably.

Each consumer's offset (the next event it wants) lives in ``<wal>/consumers/<name>.offset``.
A commit writes a temporary file, fsyncs it, renames it over the old one and fsyncs the
directory, so after a crash at any point the file holds either the old offset or the new
one, never a mix or nothing.

The temporary file has an unpredictable name (``.<name>.offset.<random>.tmp``) created with
O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600, so nobody can plant a symlink at it beforehand. An
offset file or a ``consumers`` folder that is a symbolic link (or not a regular file, not a
directory) is refused with a WalError naming it, and its target is never read or written.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path

from frys.connectors.wal.log import (
    WalError,
    check_regular,
    fsync_directory,
    make_directories,
    open_regular,
)

# an offset file holds a number and a newline; more is damage (and is not read whole)
_MAX_OFFSET_FILE = 4096

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


def check_consumer_name(consumer: str) -> None:
    """Raise WalError unless `consumer` can name an offset file."""
    # fullmatch: with match, `$` also matches before a trailing newline, so "a\n" passed
    if not _NAME.fullmatch(consumer) or consumer.startswith("."):
        raise WalError(f"consumer name {consumer!r} may hold only letters, digits, "
                       "'_', '-' and '.', and may not start with '.'")


class OffsetStore:
    def __init__(self, wal_directory: str | Path) -> None:
        self.directory = Path(wal_directory) / "consumers"

    def _path(self, consumer: str) -> Path:
        check_consumer_name(consumer)
        return self.directory / f"{consumer}.offset"

    def load(self, consumer: str) -> int | None:
        """The committed offset, or None if this consumer never committed."""
        path = self._path(consumer)
        self._check_directory(create=False)
        try:
            fd = open_regular(path, os.O_RDONLY, "offset file")
        except FileNotFoundError:
            return None
        try:
            raw = os.read(fd, _MAX_OFFSET_FILE)
        finally:
            os.close(fd)
        text = raw.decode("utf-8", errors="replace").strip()
        # isdigit alone also takes "²" and the like, which int() rejects with a ValueError
        if not (text.isascii() and text.isdigit()):
            raise WalError(f"{path} does not hold an offset: {text[:40]!r}")
        return int(text)

    def commit(self, consumer: str, offset: int) -> None:
        """Durably record that `consumer` continues from event `offset`."""
        if offset < 0:
            raise WalError(f"offset must not be negative, got {offset}")
        path = self._path(consumer)
        self._check_directory(create=True)
        # refused rather than replaced: a symlink or folder here was not put by a commit
        check_regular(path, "offset file")
        temporary, fd = self._create_temporary(path)
        try:
            try:
                os.write(fd, f"{offset}\n".encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            # rename replaces the name `path`; it never follows a symlink there
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        fsync_directory(self.directory)

    def _create_temporary(self, path: Path) -> tuple[Path, int]:
        """A new private file with an unpredictable name beside `path` (as mkstemp, with
        O_NOFOLLOW and FILE_MODE)."""
        for _ in range(100):
            temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
            try:
                return temporary, open_regular(
                    temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, "temporary offset file")
            except FileExistsError:
                continue
        raise WalError(f"could not create a temporary file in {self.directory}")

    def _check_directory(self, create: bool) -> None:
        """`consumers/` must be a real directory, not a symlink to one elsewhere; created
        with DIR_MODE when `create` and missing."""
        try:
            info = os.lstat(self.directory)
        except FileNotFoundError:
            if not create:
                return
            # DIR_MODE also for a missing WAL folder above it (as the writer makes it)
            make_directories(self.directory)
            info = os.lstat(self.directory)
        if not stat.S_ISDIR(info.st_mode):
            kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a directory"
            raise WalError(f"{self.directory}: the WAL consumers folder is {kind}; "
                           "refusing to use it (remove or rename it)")

    def consumers(self) -> dict[str, int]:
        found: dict[str, int] = {}
        self._check_directory(create=False)
        if os.path.isdir(self.directory):
            for path in self.directory.glob("*.offset"):
                offset = self.load(path.stem)
                if offset is not None:
                    found[path.stem] = offset
        return found
