"""The persistent queue: a segmented write-ahead log with checksummed records (records.py),
its writer with fsync policies, recovery and retention (log.py), readers that follow it from
any offset or time, in any process (reader.py), and durable consumer offsets (offsets.py)."""

from frys.connectors.wal.log import (
    Damage,
    FsyncPolicy,
    Retention,
    WalError,
    WriteAheadLog,
)
from frys.connectors.wal.offsets import OffsetStore
from frys.connectors.wal.reader import LogReader
from frys.connectors.wal.records import NO_TIME, PayloadFormat, Record

__all__ = ["NO_TIME", "Damage", "FsyncPolicy", "LogReader", "OffsetStore", "PayloadFormat",
           "Record", "Retention", "WalError", "WriteAheadLog"]
