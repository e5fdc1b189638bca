"""Hardening of the WAL against what others can plant in its folder (the hardening issue's
"Symlinks" and "permissions" items): a symlink named like a segment, the lock, an offset
file, the consumers folder or the old fixed temporary name is refused with a WalError naming
it and its target is never read, written or truncated; a folder or FIFO named like a segment
is a WalError too; everything the WAL creates is 0600 (files) / 0700 (folders)."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from frys.connectors.wal import LogReader, OffsetStore, WalError, WriteAheadLog
from frys.connectors.wal.log import segment_name
from frys.connectors.wal.records import RECORD_OVERHEAD

SECRET = b"precious bytes that are not WAL records\n" * 3


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the WAL folder that a planted symlink points to."""
    target = tmp_path / "outside" / "important"
    target.parent.mkdir()
    target.write_bytes(SECRET)
    return target


def assert_untouched(target: Path) -> None:
    assert target.read_bytes() == SECRET
    assert target.stat().st_size == len(SECRET)


def frame(size: int) -> bytes:
    return b"x" * (size - RECORD_OVERHEAD)


# ------------------------------------------------------------------ segments


def test_a_symlink_named_like_the_only_segment_is_refused(tmp_path: Path,
                                                          outside: Path) -> None:
    wal = tmp_path / "wal"
    wal.mkdir()
    planted = wal / segment_name(0)
    planted.symlink_to(outside)
    # before: recovery read the target as a torn segment and truncated it to 0 bytes
    with pytest.raises(WalError, match="symbolic link") as error:
        WriteAheadLog(wal)
    assert str(planted) in str(error.value)
    assert_untouched(outside)
    assert planted.is_symlink()
    # the refused writer released the directory: once the symlink is gone it opens
    planted.unlink()
    with WriteAheadLog(wal) as log:
        assert log.append(b"a") == 0


def test_a_symlink_after_real_segments_is_refused_before_anything_is_cut(
        tmp_path: Path, outside: Path) -> None:
    wal = tmp_path / "wal"
    with WriteAheadLog(wal, segment_bytes=100) as log:
        log.append(frame(100))
        log.append(frame(100))
    first = (wal / segment_name(0)).read_bytes()
    (wal / segment_name(0)).write_bytes(first + b"torn")  # a tail recovery would cut
    planted = wal / segment_name(5)
    planted.symlink_to(outside)
    with pytest.raises(WalError, match=segment_name(5)):
        WriteAheadLog(wal)
    assert_untouched(outside)
    # checked before recovery changed anything: the torn tail of the first one is still there
    assert (wal / segment_name(0)).read_bytes() == first + b"torn"


def test_a_symlink_at_the_next_segment_name_is_refused_at_the_roll(
        tmp_path: Path, outside: Path) -> None:
    wal = tmp_path / "wal"
    with WriteAheadLog(wal, segment_bytes=100) as log:
        log.append(frame(100))
        planted = wal / segment_name(1)
        planted.symlink_to(outside)
        with pytest.raises(WalError, match=segment_name(1)):
            log.append(frame(100))
        assert_untouched(outside)
        # the log is still usable once the planted entry is gone
        planted.unlink()
        assert log.append(frame(100)) == 1
    assert_untouched(outside)


def test_a_reader_refuses_a_symlinked_segment(tmp_path: Path, outside: Path) -> None:
    wal = tmp_path / "wal"
    wal.mkdir()
    (wal / segment_name(0)).symlink_to(outside)
    # before: the reader opened the target and reported its bytes as damage
    with pytest.raises(WalError, match="symbolic link"):
        LogReader(wal, 0).read()
    assert_untouched(outside)


def test_a_folder_named_like_a_segment_is_a_clear_error(tmp_path: Path) -> None:
    wal = tmp_path / "wal"
    (wal / segment_name(0)).mkdir(parents=True)
    # before: IsADirectoryError from read_bytes
    with pytest.raises(WalError, match="is a directory") as error:
        WriteAheadLog(wal)
    assert segment_name(0) in str(error.value)
    with pytest.raises(WalError, match="directory"):
        LogReader(wal, 0).read()


def test_a_fifo_named_like_a_segment_is_refused_without_blocking(tmp_path: Path) -> None:
    wal = tmp_path / "wal"
    wal.mkdir()
    os.mkfifo(wal / segment_name(0))
    outcome: list[BaseException | None] = []

    def open_it() -> None:
        try:
            WriteAheadLog(wal).close()
            outcome.append(None)
        except BaseException as error:  # handed to the test thread
            outcome.append(error)

    worker = threading.Thread(target=open_it, daemon=True)
    worker.start()
    worker.join(10)
    # before: reading the FIFO blocked the open for ever
    assert not worker.is_alive(), "opening the log blocked on a FIFO"
    assert isinstance(outcome[0], WalError)
    assert "FIFO" in str(outcome[0])


# ------------------------------------------------------------------ the lock


def test_a_symlinked_lock_is_refused(tmp_path: Path, outside: Path) -> None:
    wal = tmp_path / "wal"
    wal.mkdir()
    (wal / ".lock").symlink_to(outside)
    with pytest.raises(WalError, match=r"\.lock"):
        WriteAheadLog(wal)
    assert_untouched(outside)


def test_a_dangling_symlinked_lock_creates_nothing(tmp_path: Path) -> None:
    wal = tmp_path / "wal"
    wal.mkdir()
    target = tmp_path / "created-by-frys"
    (wal / ".lock").symlink_to(target)
    # before: O_CREAT through the symlink created the target file
    with pytest.raises(WalError, match="symbolic link"):
        WriteAheadLog(wal)
    assert not target.exists()


def test_a_folder_named_like_the_lock_is_a_clear_error(tmp_path: Path) -> None:
    wal = tmp_path / "wal"
    (wal / ".lock").mkdir(parents=True)
    with pytest.raises(WalError, match=r"\.lock"):
        WriteAheadLog(wal)


# ------------------------------------------------------------------ offsets


@pytest.fixture
def store(tmp_path: Path) -> Iterator[OffsetStore]:
    wal = tmp_path / "wal"
    with WriteAheadLog(wal) as log:
        log.append(b"a", count=10)
        yield OffsetStore(wal)


def test_a_symlinked_offset_file_is_refused(store: OffsetStore, outside: Path) -> None:
    store.directory.mkdir()
    planted = store.directory / "c.offset"
    outside.write_bytes(b"123\n")
    secret = outside.read_bytes()
    planted.symlink_to(outside)
    # before: load read the target (123), commit replaced the symlink without a word
    with pytest.raises(WalError, match="symbolic link") as error:
        store.load("c")
    assert str(planted) in str(error.value)
    with pytest.raises(WalError, match=r"c\.offset"):
        store.commit("c", 5)
    with pytest.raises(WalError):
        store.consumers()
    assert outside.read_bytes() == secret
    assert planted.is_symlink()


def test_a_symlinked_consumers_folder_is_refused(store: OffsetStore, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    store.directory.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(WalError, match="consumers"):
        store.commit("c", 5)
    with pytest.raises(WalError, match="consumers"):
        store.load("c")
    assert list(elsewhere.iterdir()) == []


def test_a_folder_named_like_an_offset_file_is_a_clear_error(store: OffsetStore) -> None:
    (store.directory / "c.offset").mkdir(parents=True)
    with pytest.raises(WalError, match=r"c\.offset"):
        store.commit("c", 5)
    with pytest.raises(WalError, match=r"c\.offset"):
        store.load("c")


def test_a_symlink_at_the_old_fixed_temporary_name_is_not_followed(
        store: OffsetStore, outside: Path) -> None:
    store.directory.mkdir()
    old_name = store.directory / f".c.offset.{os.getpid()}.tmp"
    old_name.symlink_to(outside)
    # before: O_TRUNC through the symlink wrote "5\n" over the target
    store.commit("c", 5)
    assert_untouched(outside)
    assert old_name.is_symlink()
    committed = store.directory / "c.offset"
    assert not committed.is_symlink() and committed.read_text() == "5\n"
    assert store.load("c") == 5
    # no temporary left behind, and none at a name anyone could compute in advance
    leftovers = [p.name for p in store.directory.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == [old_name.name]


def test_temporary_names_are_unpredictable(store: OffsetStore,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[str] = []
    real_open = os.open

    def spy(path, flags, mode=0o777, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path).endswith(".tmp"):
            created.append(os.path.basename(path))
            assert flags & os.O_EXCL and flags & os.O_NOFOLLOW and flags & os.O_CREAT
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    for offset in range(3):
        store.commit("c", offset)
    assert len(created) == 3 and len(set(created)) == 3
    assert all(str(os.getpid()) not in name.split(".") for name in created)


# ------------------------------------------------------------------ permissions


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o000])
def test_everything_the_wal_creates_is_private(tmp_path: Path, umask: int) -> None:
    root = tmp_path / "jobs" / ".frys"
    wal = root / "wal" / "orders"
    previous = os.umask(umask)
    try:
        with WriteAheadLog(wal, segment_bytes=100) as log:
            for _ in range(3):  # two rolls
                log.append(frame(100))
        OffsetStore(wal).commit("c", 2)
        OffsetStore(wal).commit("c", 3)  # a second commit replaces the file
        OffsetStore(wal).commit("d", 1)
    finally:
        os.umask(previous)
    modes = {}
    for path in [root, *sorted(root.rglob("*"))]:
        modes[str(path.relative_to(tmp_path))] = stat.S_IMODE(os.lstat(path).st_mode)
    folders = ["jobs/.frys", "jobs/.frys/wal", "jobs/.frys/wal/orders",
               "jobs/.frys/wal/orders/consumers"]
    files = [f"jobs/.frys/wal/orders/{name}" for name in
             (".lock", segment_name(0), segment_name(1), segment_name(2),
              "consumers/c.offset", "consumers/d.offset")]
    assert modes == {**dict.fromkeys(folders, 0o700), **dict.fromkeys(files, 0o600)}
    assert stat.S_IMODE((tmp_path / "jobs").stat().st_mode) == 0o700


def test_existing_folders_keep_their_mode(tmp_path: Path) -> None:
    wal = tmp_path / "wal"
    wal.mkdir(mode=0o755)
    wal.chmod(0o755)
    with WriteAheadLog(wal) as log:
        log.append(b"a")
    assert stat.S_IMODE(wal.stat().st_mode) == 0o755
    assert stat.S_IMODE((wal / segment_name(0)).stat().st_mode) == 0o600
