"""Helper processes of the WAL robustness tests (test_wal_crash.py, test_wal_log.py).

    python tests/wal_writer.py write DIR START_SEQ SEGMENT_BYTES
        opens DIR with FsyncPolicy.always() and appends record after record (seq START_SEQ,
        START_SEQ + 1, ...), printing "ready" once the log is open and "<offset> <seq>" after
        each append returns; runs until killed.
    python tests/wal_writer.py follow DIR OFFSET EVENTS
        follows DIR with a LogReader from OFFSET, printing "<offset> <count> <skip> <digest>" for
        every record it sees (its payload as the first 16 hex digits of its SHA-256), until
        it has seen EVENTS events.
    python tests/wal_writer.py read DIR OFFSET ADDRESS_SPACE_BYTES
        with its address space limited to ADDRESS_SPACE_BYTES, reads DIR once from OFFSET and
        prints "<records> <events> <damage reports>".

The record of sequence number `seq` is fully determined by `seq` (payload_for, count_for,
times_for), so a test can check every byte of what it reads back.
"""

from __future__ import annotations

import hashlib
import sys
import types
from importlib.util import find_spec


def count_for(seq: int) -> int:
    """Events in the record of `seq`: mostly 1, every third record a small batch."""
    return 1 if seq % 3 else seq % 7 + 2


def payload_for(seq: int) -> bytes:
    """A payload of 1 to ~3 KB whose bytes all depend on `seq`."""
    size = (seq * 389) % 1500 + 1 + (2000 if seq % 11 == 5 else 0)
    block = hashlib.sha256(seq.to_bytes(8, "little")).digest()
    return (block * (size // len(block) + 1))[:size]


def digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()[:16]


def times_for(seq: int) -> tuple[int, int]:
    return seq * 10, seq * 10 + count_for(seq) - 1


def _import_wal() -> types.ModuleType:
    """frys.connectors.wal without running frys/__init__.py, which imports polars (~1 s per
    process; the crash test starts dozens of writers). The package `frys` is stood in for by
    an empty module with the same path, so every `frys.connectors.wal...` import resolves to
    the very same files the tests import."""
    if "frys" not in sys.modules:
        spec = find_spec("frys")  # locates the package without executing it
        assert spec is not None and spec.submodule_search_locations is not None
        package = types.ModuleType("frys")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["frys"] = package
    import frys.connectors.wal as wal

    return wal


def write(directory: str, start_seq: int, segment_bytes: int) -> None:
    wal = _import_wal()
    log = wal.WriteAheadLog(directory, wal.FsyncPolicy.always(), segment_bytes=segment_bytes)
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    seq = start_seq
    while True:
        low, high = times_for(seq)
        offset = log.append(payload_for(seq), count_for(seq), low, high)
        out.write(f"{offset} {seq}\n")
        out.flush()
        seq += 1


def follow(directory: str, offset: int, events: int) -> None:
    wal = _import_wal()
    reader = wal.LogReader(directory, offset)
    seen = 0
    out = sys.stdout
    for record, skip in reader.follow(poll_interval_s=0.005):
        out.write(f"{record.offset} {record.count} {skip} {digest(record.payload)}\n")
        out.flush()
        seen += record.count - skip
        if seen >= events:
            break
    reader.close()


def read_once(directory: str, offset: int, address_space: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    wal = _import_wal()
    reader = wal.LogReader(directory, offset)
    found = reader.read()
    events = sum(record.count - skip for record, skip in found)
    print(len(found), events, len(reader.damage))


if __name__ == "__main__":
    command, directory, *numbers = sys.argv[1:]
    if command == "write":
        write(directory, int(numbers[0]), int(numbers[1]))
    elif command == "follow":
        follow(directory, int(numbers[0]), int(numbers[1]))
    elif command == "read":
        read_once(directory, int(numbers[0]), int(numbers[1]))
    else:
        raise SystemExit(f"unknown command {command!r}")
