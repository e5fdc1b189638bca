"""Consumer offsets of a WAL, committed durably.

Each consumer's offset (the next event it wants) lives in ``<wal>/consumers/<name>.offset``.
A commit writes a temporary file, fsyncs it, renames it over the old one and fsyncs the
directory, so after a crash at any point the file holds either the old offset or the new
one, never a mix or nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from frys.connectors.wal.log import WalError, fsync_directory

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
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            return None
        # isdigit alone also takes "²" and the like, which int() rejects with a ValueError
        if not (text.isascii() and text.isdigit()):
            raise WalError(f"{path} does not hold an offset: {text[:40]!r}")
        return int(text)

    def commit(self, consumer: str, offset: int) -> None:
        """Durably record that `consumer` continues from event `offset`."""
        if offset < 0:
            raise WalError(f"offset must not be negative, got {offset}")
        path = self._path(consumer)
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, f"{offset}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        fsync_directory(self.directory)

    def consumers(self) -> dict[str, int]:
        found = {}
        if self.directory.is_dir():
            for path in self.directory.glob("*.offset"):
                offset = self.load(path.stem)
                if offset is not None:
                    found[path.stem] = offset
        return found
