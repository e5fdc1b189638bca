"""The checkpoint store (engine/checkpoint.py) on real files: checkpoints come back exactly
as written (tables of every dtype, scalars, plain data); a write killed at any step, in
process or with SIGKILL, leaves the previous checkpoint as the newest one that loads; every
kind of damage to any file of the newest checkpoint makes `latest` fall back to the previous
one and say which folder and what is wrong; retention, savepoints, leftover temporary
folders, planted symlinks and foreign names.

Run as a script (`python test_checkpoint_store.py write DIR`) it is the writer process the
SIGKILL trials kill."""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing.parametric import dataframes

from frys.engine.checkpoint import (
    MANIFEST,
    MAX_MANIFEST_BYTES,
    Checkpoint,
    CheckpointError,
    CheckpointStore,
    Envelope,
)
from frys.engine.operator import OperatorState

UTC = dt.UTC


def many_dtypes() -> pl.DataFrame:
    return pl.DataFrame({
        "i8": pl.Series([1, -2, None], dtype=pl.Int8),
        "u64": pl.Series([0, 2**64 - 1, 7], dtype=pl.UInt64),
        "i64": [2**62, None, -(2**63)],
        "f": [1.5, float("inf"), None],
        "s": ["a", "", None],
        "b": [True, None, False],
        "ts": pl.Series([dt.datetime(2024, 3, 31, 1, 30, tzinfo=UTC), None,
                         dt.datetime(1970, 1, 1, tzinfo=UTC)]
                        ).dt.convert_time_zone("Europe/Paris"),
        "ms": pl.Series([dt.datetime(2020, 1, 1), None, dt.datetime(2021, 1, 1)]
                        ).cast(pl.Datetime("ms")),
        "day": [dt.date(2020, 2, 29), None, dt.date(1, 1, 1)],
        "gap": [dt.timedelta(seconds=3), None, dt.timedelta(days=-1)],
        "l": [[1, 2], [], None],
        "ls": [["x", None], None, []],
        "st": [{"a": 1, "b": "x"}, None, {"a": None, "b": "y"}],
        "bin": [b"\x00\xff", None, b""],
        "cat": pl.Series(["p", "q", None], dtype=pl.Categorical),
        "nul": [None, None, None],
    })


def sample(checkpoint_id: int, rows: int = 3) -> Checkpoint:
    """A checkpoint whose every part depends on its id."""
    keys = pl.int_range(0, rows, eager=True) + checkpoint_id
    return Checkpoint(
        checkpoint_id, f"job-{checkpoint_id % 2}",
        operators={
            "hourly": OperatorState("tumble", 3, {
                "windows": pl.DataFrame({"k": keys, "n": keys * 2, "s": keys.cast(pl.Utf8)}),
                "empty": pl.DataFrame(schema={"k": pl.Int64, "t": pl.Datetime("ms", "UTC")}),
            }, {"watermark": checkpoint_id * 1000, "fired": None}),
            "hourly.join1": OperatorState("interval_join", 1, {
                "none": pl.DataFrame(),
                "null": pl.DataFrame({"x": pl.Series([None] * checkpoint_id, dtype=pl.Null)}),
            }, {}),
            "stateless": OperatorState("filter", 1),
        },
        channels={"trades": {"producers": {"src": checkpoint_id}, "idle": False}},
        sources={"trades": {"offset": checkpoint_id * 10, "file": "data/a.jsonl"}},
        sinks={"out": checkpoint_id * 100, "wal": None},
        counters={"hourly": {"late_events": checkpoint_id}},
        created_ms=1_700_000_000_000 + checkpoint_id,
    )


def assert_same(got: Checkpoint | None, want: Checkpoint) -> None:
    assert got is not None
    assert (got.checkpoint_id, got.job, got.channels, got.sources, got.sinks, got.counters,
            got.created_ms, got.savepoint) == (
        want.checkpoint_id, want.job, want.channels, want.sources, want.sinks,
        want.counters, want.created_ms, want.savepoint)
    assert list(got.operators) == list(want.operators)
    for name, state in want.operators.items():
        back = got.operators[name]
        assert (back.kind, back.version, back.scalars) == (state.kind, state.version,
                                                           state.scalars)
        assert list(back.tables) == list(state.tables)
        for table, frame in state.tables.items():
            assert back.tables[table].schema == frame.schema, (name, table)
            assert back.tables[table].shape == frame.shape, (name, table)
            assert back.tables[table].equals(frame), (name, table)


# ---- round trips -------------------------------------------------------------------------

@pytest.mark.parametrize("compression", ["uncompressed", "lz4", "zstd"])
def test_round_trip_of_many_dtypes_and_plain_data(tmp_path: Path, compression: str) -> None:
    frame = many_dtypes()
    checkpoint = Checkpoint(
        7, "fingerprint",
        operators={
            "q": OperatorState("pattern", 2, {"events": frame, "head": frame.head(0),
                                              "cols0": frame.drop(frame.columns)},
                               {"a": -(2**63), "b": 2**63 - 1, "c": None}),
            "../odd name é": OperatorState("session", 1, {"zero": pl.DataFrame()}, {}),
        },
        channels={"t": {"wm": [1, 2, None], "nested": {"x": {"y": [True, 1.5, "s"]}}}},
        sources={"f": {"offset": 12, "raw": b"\x00\x01"}},
        sinks={"s": [3, "x"]},
        counters={"q": {"late": 3, "short": 0}},
        created_ms=123,
    )
    with CheckpointStore(tmp_path, compression=compression) as store:
        path = store.write(checkpoint)
        assert path == tmp_path / "checkpoint-00000000000000000007"
        assert_same(store.latest(), checkpoint)
        assert_same(store.load(7), checkpoint)
        assert_same(store.load(path), checkpoint)
        assert store.warnings == []
    assert checkpoint.operators["q"].tables["cols0"].shape == (3, 0)
    # read by another store, read-only, as a restarted process would
    assert_same(CheckpointStore(tmp_path, read_only=True).latest(), checkpoint)


# random column types of polars' own strategy; Object has no Arrow form
FRAMES = dataframes(min_cols=0, max_cols=6, max_size=12, excluded_dtypes=[pl.Object])
SCALARS = st.dictionaries(st.text(max_size=8),
                          st.none() | st.integers(-(2**63), 2**63 - 1), max_size=4)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tables=st.lists(st.tuples(st.text(max_size=6), FRAMES), max_size=4),
       scalars=SCALARS, plain=st.recursive(
           st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text()
           | st.floats(allow_nan=False) | st.binary(max_size=8),
           lambda inner: st.lists(inner, max_size=3)
           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=12))
def test_random_states_round_trip_exactly(tables, scalars, plain) -> None:
    state = OperatorState("k", 1, dict(tables), scalars)
    checkpoint = Checkpoint(1, "j", {"q": state, "r": state},
                            sources={"s": plain}, sinks={"x": [plain]})
    with tempfile.TemporaryDirectory() as folder:
        with CheckpointStore(folder, fsync=False) as store:
            store.write(checkpoint)
        assert_same(CheckpointStore(folder, read_only=True).latest(), checkpoint)


def test_plain_data_that_msgpack_cannot_keep_is_refused_before_writing(tmp_path) -> None:
    with CheckpointStore(tmp_path) as store:
        with pytest.raises(CheckpointError, match="sources is not plain data"):
            store.write(Checkpoint(1, "j", sources={"s": object()}))
        with pytest.raises(CheckpointError, match="scalars"):
            store.write(Checkpoint(1, "j", {"q": OperatorState("k", 1, {}, {"x": 2**70})}))
        assert sorted(os.listdir(tmp_path)) == [".lock"]
        assert store.latest() is None


# ---- atomicity ---------------------------------------------------------------------------

class Crash(Exception):
    pass


def steps_of_a_write(tmp_path: Path) -> list[str]:
    steps: list[str] = []
    with CheckpointStore(tmp_path / "probe", keep=1, step_hook=steps.append) as store:
        store.write(sample(1))
        steps.clear()
        store.write(sample(2))
    return steps


def test_a_write_that_stops_at_any_step_leaves_the_previous_checkpoint(tmp_path) -> None:
    steps = steps_of_a_write(tmp_path)
    # a file step per table, the manifest, the folder's fsync, the rename, DIR's fsync and
    # retention deleting checkpoint 1
    assert steps[:5] == [f"file t0000{i}.arrow" for i in range(4)] + ["manifest"]
    assert steps[5:] == ["folder synced", "renamed", "directory synced",
                         "retired checkpoint-00000000000000000001"]
    for index, step in enumerate(steps):
        folder = tmp_path / f"crash{index}"

        def hook(name: str, step: str = step) -> None:
            if name == step:
                raise Crash(step)

        store = CheckpointStore(folder, keep=1)
        store.write(sample(1))
        store.step_hook = hook
        with pytest.raises(Crash):
            store.write(sample(2))
        store.close()
        reopened = CheckpointStore(folder, keep=1)
        done = steps.index("renamed") <= index
        assert_same(reopened.latest(), sample(2) if done else sample(1))
        assert [w for w in reopened.warnings if "removed" not in w] == []
        assert not [name for name in os.listdir(folder) if name.startswith(".tmp-")]
        reopened.write(sample(3))  # and the store goes on
        assert reopened.ids() == [3]
        reopened.close()


def writer_main(directory: str) -> None:
    """Write checkpoints next_id(), next_id() + 1, ... forever, acknowledging each id on
    stdout once `write` has returned."""
    with CheckpointStore(directory, keep=2) as store:
        print("ready", flush=True)
        while True:
            identifier = store.next_id()
            store.write(sample(identifier, rows=2000 + 37 * identifier))
            print(identifier, flush=True)


KILL_TRIALS = 14


def test_sigkill_at_random_moments_never_leaves_a_partial_checkpoint(tmp_path) -> None:
    rng = random.Random(15)
    acknowledged = 0
    folder = tmp_path / "store"
    leftovers = 0
    for _ in range(KILL_TRIALS):
        process = subprocess.Popen([sys.executable, __file__, "write", str(folder)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stdout is not None
        # the writer's first line says it is writing (a blocking read: no polling)
        assert process.stdout.readline() == b"ready\n", process.communicate()[1].decode()
        time.sleep(rng.uniform(0.0, 0.25))  # a random moment of a real process: wall time
        os.kill(process.pid, signal.SIGKILL)
        out, err = process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL, err.decode()
        lines = [line for line in out.decode().splitlines(keepends=True)
                 if line.endswith("\n")]
        acknowledged = max([acknowledged, *(int(line) for line in lines)])
        with CheckpointStore(folder, keep=2) as store:
            latest = store.latest()
            damage = [w for w in store.warnings if "removed the leftover" not in w]
            leftovers += len(store.warnings) - len(damage)
            assert damage == []
            if acknowledged:
                assert latest is not None and latest.checkpoint_id >= acknowledged
            if latest is not None:
                assert_same(latest, sample(latest.checkpoint_id,
                                           rows=2000 + 37 * latest.checkpoint_id))
            assert not [n for n in os.listdir(folder) if n.startswith(".tmp-")]
    # the kills landed both between writes and in the middle of one
    assert acknowledged > KILL_TRIALS and leftovers > 0


# ---- damage ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("two")
    with CheckpointStore(folder, fsync=False) as store:
        store.write(sample(1))
        store.write(sample(2, rows=50))
    return folder


SECOND = "checkpoint-00000000000000000002"
FILES = [MANIFEST] + [f"t0000{i}.arrow" for i in range(4)]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file=st.sampled_from(FILES), damage=st.sampled_from(
    ["truncate", "flip", "delete", "append", "garbage"]), data=st.data())
def test_any_damage_to_the_newest_falls_back_to_the_previous(two_checkpoints, file, damage,
                                                             data) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "store"
        shutil.copytree(two_checkpoints, folder)
        path = folder / SECOND / file
        content = path.read_bytes()
        if damage == "truncate":
            path.write_bytes(content[:data.draw(st.integers(0, len(content) - 1))])
        elif damage == "flip":
            at = data.draw(st.integers(0, len(content) - 1))
            xor = data.draw(st.integers(1, 255))
            path.write_bytes(content[:at] + bytes([content[at] ^ xor]) + content[at + 1:])
        elif damage == "delete":
            path.unlink()
        elif damage == "append":
            path.write_bytes(content + data.draw(st.binary(min_size=1, max_size=9)))
        else:
            path.write_bytes(data.draw(st.binary(max_size=64)))
        store = CheckpointStore(folder, read_only=True)
        assert_same(store.latest(), sample(1))
        (warning,) = store.warnings
        assert warning.startswith(str(folder / SECOND) + ": ")
        if file == MANIFEST:
            expected = {"delete": ["missing file manifest.msgpack"]}.get(damage, [
                "unreadable manifest", "manifest checksum mismatch",
                "unknown format version"])
        else:
            expected = [{"truncate": f"{file} truncated", "flip": f"{file} checksum mismatch",
                         "delete": f"missing file {file}",
                         "append": f"{file} longer than",
                         "garbage": f"{file} "}[damage]]
        assert any(phrase in warning for phrase in expected), warning
        with pytest.raises(CheckpointError, match="checkpoint .*" + SECOND):
            store.load(2)


def write_manifest(path: Path, format_version: int, body: bytes, crc: int) -> None:
    path.write_bytes(msgspec.msgpack.encode(Envelope(format_version, crc, body)))


def test_manifest_problems_are_named(tmp_path) -> None:
    from crc32c import crc32c
    with CheckpointStore(tmp_path) as store:
        store.write(sample(1))
        store.write(sample(2))
    manifest = tmp_path / SECOND / MANIFEST
    envelope = msgspec.msgpack.decode(manifest.read_bytes(), type=Envelope)
    cases = {
        "unknown format version 2": (2, envelope.manifest, envelope.crc32c),
        "manifest checksum mismatch": (1, envelope.manifest, envelope.crc32c ^ 1),
        "unreadable manifest": (1, b"\x91\x01", crc32c(b"\x91\x01")),
    }
    for problem, (version, body, crc) in cases.items():
        write_manifest(manifest, version, body, crc)
        store = CheckpointStore(tmp_path, read_only=True)
        assert_same(store.latest(), sample(1))
        assert [problem in w for w in store.warnings] == [True], store.warnings
    # a manifest over the bound is not read (a sparse file: cheap to make)
    with open(manifest, "wb") as out:
        out.truncate(MAX_MANIFEST_BYTES + 1)
    store = CheckpointStore(tmp_path, read_only=True)
    assert_same(store.latest(), sample(1))
    assert "manifest larger than" in store.warnings[0]


def test_a_folder_renamed_to_another_id_is_not_taken_for_it(tmp_path) -> None:
    with CheckpointStore(tmp_path) as store:
        store.write(sample(1))
        store.write(sample(2))
    (tmp_path / SECOND).rename(tmp_path / "checkpoint-00000000000000000009")
    store = CheckpointStore(tmp_path, read_only=True)
    assert_same(store.latest(), sample(1))
    assert "the manifest is of checkpoint 2, the folder of checkpoint 9" in store.warnings[0]


# ---- retention, savepoints, the folder's hygiene ------------------------------------------

def test_retention_keeps_the_newest_and_damaged_ones_do_not_count(tmp_path) -> None:
    with CheckpointStore(tmp_path, keep=3) as store:
        for identifier in range(1, 7):
            store.write(sample(identifier))
        assert store.ids() == [4, 5, 6]
        (store.path_of(6) / "t00000.arrow").unlink()
        assert_same(store.latest(), sample(5))
        store.write(sample(store.next_id()))
        # 7, 5, 4 are the three good ones; the damaged 6 stays until it is the oldest
        assert store.ids() == [4, 5, 6, 7]
        store.write(sample(8))
        store.write(sample(9))
        assert store.ids() == [7, 8, 9]
        with pytest.raises(CheckpointError, match="not above the newest present"):
            store.write(sample(9))
        with pytest.raises(CheckpointError, match="keep must be at least 1"):
            CheckpointStore(tmp_path / "other", keep=0)


def test_savepoints_are_kept_apart_and_until_deleted(tmp_path) -> None:
    with CheckpointStore(tmp_path, keep=1) as store:
        store.write(sample(1))
        path = store.write_savepoint("before-upgrade.v2", sample(1))
        assert path == tmp_path / "savepoints" / "before-upgrade.v2"
        for identifier in range(2, 5):
            store.write(sample(identifier))
        assert store.ids() == [4]
        assert store.savepoints() == ["before-upgrade.v2"]
        back = store.savepoint("before-upgrade.v2")
        assert back.savepoint == "before-upgrade.v2"
        assert_same(back, Checkpoint(**{**{f: getattr(sample(1), f) for f in (
            "checkpoint_id", "job", "operators", "channels", "sources", "sinks", "counters",
            "created_ms")}, "savepoint": "before-upgrade.v2"}))
        with pytest.raises(CheckpointError, match="exists"):
            store.write_savepoint("before-upgrade.v2", sample(4))
        for bad in ("", "../x", ".hidden", "a/b", "x" * 101):
            with pytest.raises(CheckpointError, match="invalid savepoint name"):
                store.write_savepoint(bad, sample(4))
        with pytest.raises(CheckpointError, match="write_savepoint"):
            store.write(back)
        (path / "t00001.arrow").write_bytes(b"x")
        with pytest.raises(CheckpointError, match=r"savepoint .* t00001\.arrow truncated"):
            store.savepoint("before-upgrade.v2")
        store.delete_savepoint("before-upgrade.v2")
        assert store.savepoints() == []
        with pytest.raises(CheckpointError, match="no such folder"):
            store.savepoint("before-upgrade.v2")


def test_leftover_temporary_folders_are_removed_on_open_and_never_read(tmp_path) -> None:
    with CheckpointStore(tmp_path) as store:
        store.write(sample(1))
    # a complete-looking newer checkpoint left under a temporary name (a crash just before
    # the rename), one in savepoints/ and a retired one half deleted
    shutil.copytree(tmp_path / "checkpoint-00000000000000000001",
                    tmp_path / ".tmp-checkpoint-00000000000000000002-1-ab")
    (tmp_path / "savepoints" / ".tmp-sp-1-ab").mkdir(parents=True)
    (tmp_path / ".tmp-retired-checkpoint-00000000000000000000-ff").mkdir()
    reader = CheckpointStore(tmp_path, read_only=True)
    assert reader.ids() == [1]
    assert_same(reader.latest(), sample(1))
    assert reader.warnings == []
    with CheckpointStore(tmp_path) as store:
        assert sorted(os.listdir(tmp_path)) == [".lock", "checkpoint-00000000000000000001",
                                                "savepoints"]
        assert os.listdir(tmp_path / "savepoints") == []
        assert len([w for w in store.warnings if "removed the leftover" in w]) == 3


def test_symlinks_and_planted_names_are_ignored_never_followed(tmp_path) -> None:
    elsewhere = tmp_path / "elsewhere"
    with CheckpointStore(elsewhere) as other:
        other.write(sample(5))
        other.write_savepoint("sp", sample(5))
    store_dir = tmp_path / "store"
    with CheckpointStore(store_dir) as store:
        store.write(sample(1))
        store.write(sample(2))
    # a symlinked newer checkpoint, foreign names, a file under a checkpoint's name
    (store_dir / "checkpoint-00000000000000000009").symlink_to(
        elsewhere / "checkpoint-00000000000000000005")
    (store_dir / "checkpoint-5").mkdir()
    (store_dir / "notes.txt").write_text("hello")
    (store_dir / "checkpoint-00000000000000000008").write_text("not a folder")
    (store_dir / "savepoints").mkdir()
    (store_dir / "savepoints" / "sp").symlink_to(elsewhere / "savepoints" / "sp")
    # a table file replaced by a symlink to an identical copy: refused all the same
    table = store_dir / SECOND / "t00000.arrow"
    copy = tmp_path / "copy.arrow"
    shutil.copy(table, copy)
    table.unlink()
    table.symlink_to(copy)
    store = CheckpointStore(store_dir, read_only=True)
    assert store.ids() == [1, 2]
    assert_same(store.latest(), sample(1))
    assert store.savepoints() == []
    text = "\n".join(store.warnings)
    for phrase in ("checkpoint-00000000000000000009: a symbolic link; ignored",
                   "checkpoint-5: not a checkpoint name", "notes.txt: not a checkpoint name",
                   "checkpoint-00000000000000000008: not a folder",
                   "sp: a symbolic link; ignored",
                   "t00000.arrow is a symbolic link, not followed"):
        assert phrase in text, (phrase, text)
    with pytest.raises(CheckpointError, match="symbolic link"):
        store.load(store_dir / "checkpoint-00000000000000000009")
    with CheckpointStore(store_dir) as writer:
        # a planted name is never written through, and next_id steps over it
        with pytest.raises(CheckpointError, match="not a checkpoint folder"):
            writer.write(sample(9))
        assert writer.next_id() == 10
        writer.write(sample(10))
        assert_same(writer.latest(), sample(10))
    # the targets are untouched
    assert_same(CheckpointStore(elsewhere, read_only=True).latest(), sample(5))


def test_a_file_is_not_a_store_and_one_writer_at_a_time(tmp_path) -> None:
    missing = CheckpointStore(tmp_path / "missing", read_only=True)
    assert (missing.latest(), missing.ids(), missing.savepoints()) == (None, [], [])
    assert not (tmp_path / "missing").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="is not a folder"):
        CheckpointStore(tmp_path / "file")
    with CheckpointStore(tmp_path / "s") as store:
        store.write(sample(1))
        with pytest.raises(CheckpointError, match="in use by another writer"):
            CheckpointStore(tmp_path / "s")
        reader = CheckpointStore(tmp_path / "s", read_only=True)
        assert_same(reader.latest(), sample(1))
        with pytest.raises(CheckpointError, match="not open for writing"):
            reader.write(sample(2))
    with CheckpointStore(tmp_path / "s") as again:  # released on close
        again.write(sample(2))


if __name__ == "__main__" and sys.argv[1:2] == ["write"]:
    writer_main(sys.argv[2])
