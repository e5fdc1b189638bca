"""Incremental checkpoints (issue 15: a checkpoint writes only its changed state).

* The store (engine/checkpoint.py): a table that is the very frame the last periodic write
  wrote is hard-linked, not encoded again (same inode; the encoder never called for it); an
  equal but other frame, or one changed in place, is written; a refused link falls back to
  a copy checked against its CRC32C; retention deleting the folder a file was first written
  in leaves the newer ones loadable; a savepoint sharing files outlives the checkpoints it
  shares them with; damage to a shared file damages every folder sharing it and `latest`
  falls back past all of them; a write crashed at any step leaves the previous checkpoint.
* The runner (engine/query_runner.py): a query not called since its last snapshot returns
  the same OperatorState; any call invalidates it; for random sequences of publishes and
  checkpoints, resuming from each checkpoint and going on gives the rows of a run that
  never stopped.
* The stream-table join (operators/table_join.py): its base is the same frame at each
  snapshot until rebuilt (so linked), and a state of layout version 1 still restores.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_operator_snapshots import TABLE_JOINS as SNAPSHOT_TABLE_JOINS
from test_operator_snapshots import TABLES as SNAPSHOT_TABLES
from test_operator_snapshots import (
    drive_table_join,
    rows_of,
    two_input_batches,
)

import frys
from frys.checkpointing import CHECKPOINTS, JOB_FILE
from frys.dsl import compile_text
from frys.engine import checkpoint as checkpoint_module
from frys.engine.checkpoint import Checkpoint, CheckpointStore, WriteStats
from frys.engine.operator import BatchSource, OperatorSettings, OperatorState
from frys.engine.planner import plan
from frys.engine.time import END_OF_TIME
from frys.operators.registry import build_operator
from frys.operators.table_join import TableRows

T0 = 1_700_000_000_000


def big(seed: int = 0, rows: int = 5_000) -> pl.DataFrame:
    return pl.DataFrame({"k": pl.int_range(rows, eager=True) + seed,
                         "s": pl.int_range(rows, eager=True).cast(pl.Utf8)})


def checkpoint(identifier: int, tables: dict[str, pl.DataFrame]) -> Checkpoint:
    return Checkpoint(identifier, "job", {"q": OperatorState("window", 1, tables,
                                                             {"watermark": identifier})},
                      channels={"runtime": {"n": identifier}})


def inode(path: Path) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_ino, status.st_nlink


def assert_loads(store: CheckpointStore, identifier: int,
                 tables: dict[str, pl.DataFrame]) -> None:
    back = store.load(identifier)
    assert back.channels == {"runtime": {"n": identifier}}
    state = back.operators["q"]
    assert state.scalars == {"watermark": identifier}
    assert list(state.tables) == list(tables)
    for name, frame in tables.items():
        assert state.tables[name].equals(frame), name


@pytest.fixture
def encodes(monkeypatch) -> list[int]:
    """The heights of the frames the store encodes."""
    heights: list[int] = []
    encode = checkpoint_module._encode_table

    def counting(frame: pl.DataFrame, compression):
        heights.append(frame.height)
        return encode(frame, compression)

    monkeypatch.setattr(checkpoint_module, "_encode_table", counting)
    return heights


# ---- the store ---------------------------------------------------------------------------

def test_the_same_frame_is_linked_not_encoded_again(tmp_path, encodes) -> None:
    large, other = big(), big(7, rows=3)
    with CheckpointStore(tmp_path) as store:
        store.write(checkpoint(1, {"large": large, "small": other}))
        assert encodes == [5_000, 3]
        first = store.last_write
        assert (first.files_written, first.files_linked) == (2, 0)
        changed = big(9, rows=4)
        store.write(checkpoint(2, {"large": large, "small": changed}))
        assert encodes == [5_000, 3, 4]  # the large one was not encoded again
        assert store.last_write.files_linked == 1 and store.last_write.files_written == 1
        assert store.last_write.bytes_linked == os.path.getsize(
            store.path_of(1) / "t00000.arrow")
        old, new = store.path_of(1) / "t00000.arrow", store.path_of(2) / "t00000.arrow"
        assert inode(old) == inode(new) and inode(new)[1] == 2
        assert inode(store.path_of(2) / "t00001.arrow")[1] == 1
        assert_loads(store, 1, {"large": large, "small": other})
        assert_loads(store, 2, {"large": large, "small": changed})
        # every file of a folder is listed in its own manifest: a folder is complete
        assert store.latest() is not None and store.warnings == []


def test_an_equal_but_other_frame_or_one_changed_in_place_is_written(tmp_path,
                                                                     encodes) -> None:
    large = big()
    with CheckpointStore(tmp_path) as store:
        store.write(checkpoint(1, {"large": large}))
        store.write(checkpoint(2, {"large": big()}))  # equal values, another object
        assert store.last_write.files_linked == 0 and len(encodes) == 2
        grown = big()
        store.write(checkpoint(3, {"large": grown}))
        grown.extend(big(1, rows=1))  # against the contract: the guard catches it
        store.write(checkpoint(4, {"large": grown}))
        assert store.last_write.files_linked == 0 and encodes[-1] == 5_001
        assert_loads(store, 4, {"large": grown})
        renamed = big()
        store.write(checkpoint(5, {"large": renamed}))
        renamed.columns = ["a", "b"]
        store.write(checkpoint(6, {"large": renamed}))
        assert store.last_write.files_linked == 0
        assert_loads(store, 6, {"large": renamed})


def test_full_checkpoints_when_not_incremental(tmp_path, encodes) -> None:
    large = big()
    with CheckpointStore(tmp_path, incremental=False) as store:
        for identifier in (1, 2, 3):
            store.write(checkpoint(identifier, {"large": large}))
            assert store.last_write == WriteStats(
                1, os.path.getsize(store.path_of(identifier) / "t00000.arrow"))
        assert len(encodes) == 3
        assert inode(store.path_of(3) / "t00000.arrow")[1] == 1


def test_a_refused_link_falls_back_to_a_checked_copy(tmp_path, encodes,
                                                     monkeypatch) -> None:
    large = big()
    with CheckpointStore(tmp_path) as store:
        store.write(checkpoint(1, {"large": large}))

        def refused(*args, **kwargs):
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        link = os.link
        monkeypatch.setattr(os, "link", refused)
        store.write(checkpoint(2, {"large": large}))
        assert store.last_write.files_copied == 1 and store.last_write.files_linked == 0
        assert len(encodes) == 1
        assert inode(store.path_of(2) / "t00000.arrow")[1] == 1
        assert_loads(store, 2, {"large": large})
        # a file no longer the one written (replaced: another inode) is not trusted: the
        # table is encoded and written anew
        path = store.path_of(2) / "t00000.arrow"
        copy = path.with_name("copy")
        shutil.copyfile(path, copy)
        os.replace(copy, path)
        monkeypatch.setattr(os, "link", link)
        store.write(checkpoint(3, {"large": large}))
        assert store.last_write.files_written == 1 and len(encodes) == 2


def test_retention_of_the_first_folder_leaves_the_ones_linking_it(tmp_path) -> None:
    large = big()
    with CheckpointStore(tmp_path, keep=2) as store:
        for identifier in range(1, 6):
            store.write(checkpoint(identifier, {"large": large,
                                                "n": pl.DataFrame({"i": [identifier]})}))
        assert store.ids() == [4, 5]
        # written once, in checkpoint 1, now gone: the two kept names are its only ones
        assert inode(store.path_of(5) / "t00000.arrow")[1] == 2
        for identifier in (4, 5):
            assert_loads(store, identifier, {"large": large,
                                             "n": pl.DataFrame({"i": [identifier]})})
    with CheckpointStore(tmp_path, keep=2, read_only=True) as reader:
        assert reader.latest() is not None and reader.warnings == []


def test_a_savepoint_shares_files_and_outlives_the_checkpoints(tmp_path, encodes) -> None:
    large = big()
    with CheckpointStore(tmp_path, keep=1) as store:
        store.write(checkpoint(1, {"large": large}))
        path = store.write_savepoint("before", checkpoint(1, {"large": large}))
        assert store.last_write.files_linked == 1 and len(encodes) == 1
        assert inode(path / "t00000.arrow")[1] == 2
        # the next periodic write still links from the last periodic one
        store.write(checkpoint(2, {"large": large}))
        assert store.last_write.files_linked == 1
        for identifier in (3, 4):
            store.write(checkpoint(identifier, {"large": big(identifier)}))
        assert store.ids() == [4]
        assert inode(path / "t00000.arrow")[1] == 1  # its own now, and whole
        back = store.savepoint("before")
        assert back.savepoint == "before"
        assert back.operators["q"].tables["large"].equals(large)
        # deleting a savepoint does not touch the checkpoints sharing its files
        store.write(checkpoint(5, {"large": large}))
        store.write_savepoint("again", checkpoint(5, {"large": large}))
        store.delete_savepoint("again")
        assert_loads(store, 5, {"large": large})


def flip_a_byte(path: Path) -> None:
    """Damage a file in place (the inode every name of it shares)."""
    with open(path, "r+b") as file:
        file.seek(100)
        byte = file.read(1)
        file.seek(100)
        file.write(bytes([byte[0] ^ 0xFF]))


def test_damage_to_a_shared_file_damages_each_folder_and_falls_back(tmp_path) -> None:
    first, second = big(), big(1)
    with CheckpointStore(tmp_path, keep=3) as store:
        store.write(checkpoint(1, {"large": first}))
        store.write(checkpoint(2, {"large": second}))
        store.write(checkpoint(3, {"large": second}))  # shares checkpoint 2's file
        flip_a_byte(store.path_of(3) / "t00000.arrow")
        latest = store.latest()
        assert latest is not None and latest.checkpoint_id == 1
        assert [w.split(":")[0] for w in store.warnings] == [
            str(store.path_of(3)), str(store.path_of(2))]
        assert all("t00000.arrow checksum mismatch" in w for w in store.warnings)
        # the damaged file is never linked again: the next write encodes it anew
        store.write(checkpoint(4, {"large": second}))
        assert store.last_write.files_written == 1 and store.last_write.files_linked == 0
        assert store.latest().checkpoint_id == 4  # type: ignore[union-attr]
        # 4 is good and 3, 2 damaged (not counted): 1 is still kept to fall back to
        assert store.ids() == [1, 2, 3, 4]


class Crash(Exception):
    pass


def test_an_incremental_write_crashed_at_any_step_leaves_the_previous(tmp_path) -> None:
    large = big()
    steps: list[str] = []
    with CheckpointStore(tmp_path / "probe", keep=1, step_hook=steps.append) as store:
        store.write(checkpoint(1, {"large": large, "n": pl.DataFrame({"i": [1]})}))
        steps.clear()
        store.write(checkpoint(2, {"large": large, "n": pl.DataFrame({"i": [2]})}))
    assert steps[:2] == ["link t00000.arrow", "file t00001.arrow"]
    for index, step in enumerate(steps):
        folder = tmp_path / f"crash{index}"

        def hook(name: str, step: str = step) -> None:
            if name == step:
                raise Crash(step)

        store = CheckpointStore(folder, keep=1)
        store.write(checkpoint(1, {"large": large, "n": pl.DataFrame({"i": [1]})}))
        store.step_hook = hook
        with pytest.raises(Crash):
            store.write(checkpoint(2, {"large": large, "n": pl.DataFrame({"i": [2]})}))
        store.close()
        with CheckpointStore(folder, keep=1) as reopened:
            latest = reopened.latest()
            assert latest is not None
            assert latest.checkpoint_id == (2 if steps.index("renamed") <= index else 1)
            assert not [n for n in os.listdir(folder) if n.startswith(".tmp-")]
            # the leftover's link is gone with it: one name per file again
            if latest.checkpoint_id == 1:
                assert inode(reopened.path_of(1) / "t00000.arrow")[1] == 1


# ---- the runner --------------------------------------------------------------------------

STREAMS = """
CREATE STREAM a (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, watermark = 5ms);
CREATE STREAM b (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, watermark = 5ms);
CREATE TABLE t (k INT PRIMARY KEY, w INT);
CREATE STREAM on_a; CREATE STREAM on_b; CREATE STREAM pattern_b; CREATE STREAM enriched;
CREATE STREAM joined;
CREATE STREAM bars (k INT, ws TIMESTAMP, n BIGINT) WITH (event_time = ws);
CREATE STREAM on_bars;
"""
QUERIES = """
INSERT INTO on_a SELECT k, window_start, COUNT(*) AS n, SUM(v) AS s FROM a
    GROUP BY k, TUMBLE(10ms);
INSERT INTO on_b SELECT k, window_start, window_end, COUNT(*) AS n FROM b
    GROUP BY k, SESSION(4ms);
INSERT INTO pattern_b SELECT x.v AS first, y.v AS second FROM b PARTITION BY k
    PATTERN (x -> y) WITHIN 20ms DEFINE y AS y.v > x.v;
INSERT INTO enriched SELECT b.k, b.v, t.w FROM b LEFT JOIN t ON b.k = t.k;
INSERT INTO joined SELECT a.v, b.v AS bv FROM a JOIN b ON a.k = b.k WITHIN 6ms;
INSERT INTO bars SELECT k, window_start AS ws, COUNT(*) AS n FROM a GROUP BY k, TUMBLE(5ms);
INSERT INTO on_bars SELECT k, window_start, SUM(n) AS total FROM bars
    GROUP BY k, TUMBLE(15ms);
"""
# (on_bars reads a query's output: a watermark of `a` that fires no window of `bars`
# still moves bars' event time, an advance without a batch)
OUTPUTS = ["on_a", "on_b", "pattern_b", "enriched", "joined", "bars", "on_bars"]


def runners(pipeline: frys.Pipeline) -> dict:
    return {runner.name: runner for runner in pipeline.runtime.queries}


def test_an_idle_query_reuses_its_snapshot_and_any_call_invalidates_it() -> None:
    pipeline = frys.Pipeline.from_text(STREAMS + QUERIES)
    queries = runners(pipeline)
    before = {name: runner.snapshot()[0] for name, runner in queries.items()}
    assert all(queries[name].snapshot()[0] is state for name, state in before.items())
    pipeline.publish("a", [{"k": 1, "v": 2, "ts": T0}])
    after = {name: runner.snapshot()[0] for name, runner in queries.items()}
    # a's queries were called (a batch, a watermark), b's were not
    assert {name for name in OUTPUTS if after[name] is not before[name]} == {
        "on_a", "joined", "bars", "on_bars"}
    assert after["on_a"].tables["state"].height == 1
    pipeline.publish("t", [{"k": 1, "w": 5}])
    assert queries["enriched"].snapshot()[0] is not after["enriched"]
    assert queries["on_a"].snapshot()[0] is after["on_a"]
    # a restore and an advance are calls too
    runner = queries["on_b"]
    state, plain = runner.snapshot()
    runner.restore(state, plain)
    assert runner.snapshot()[0] is not state
    restored = runner.snapshot()[0]
    runner._advance(T0 + 100)
    assert runner.snapshot()[0] is not restored


def test_an_idle_query_s_tables_are_linked_by_the_store(tmp_path) -> None:
    pipeline = frys.Pipeline(STREAMS + QUERIES, state=tmp_path)
    pipeline.publish("b", [{"k": k, "v": k, "ts": T0 + k} for k in range(50)])
    pipeline.checkpoint()
    store = pipeline._store
    assert store is not None
    written = store.last_write
    pipeline.publish("a", [{"k": 1, "v": 2, "ts": T0}])
    pipeline.checkpoint()
    # b's four queries kept their tables, a's two wrote theirs (join: its left side)
    assert store.last_write.files_linked > 0
    assert store.last_write.files_written < written.files_written
    assert store.last_write.bytes_written < written.bytes_written
    pipeline.stop()
    resumed = frys.Pipeline.resume(tmp_path)
    resumed.finish()
    assert resumed.results("on_b").height > 0


@st.composite
def steps(draw) -> list[tuple[str, list[dict]] | None]:
    """Publishes to a, b or t (rows with rising, jittered times) and checkpoints (None)."""
    out: list[tuple[str, list[dict]] | None] = []
    newest = 0
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.integers(0, 3)) == 0:
            out.append(None)
            continue
        stream = draw(st.sampled_from(["a", "a", "b", "b", "t"]))
        rows = []
        for _ in range(draw(st.integers(1, 3))):
            newest += draw(st.integers(0, 4))
            row = {"k": draw(st.integers(0, 2)), "ts": T0 + newest - draw(
                st.sampled_from([0, 0, 2, 9]))}
            if stream == "t":
                rows.append({"k": row["k"], "w": draw(st.integers(0, 9))})
            else:
                rows.append(row | {"v": draw(st.integers(0, 9))})
        out.append((stream, rows))
    out.append(None)
    return out


def outputs(pipeline: frys.Pipeline) -> dict[str, Counter]:
    return {name: Counter(pipeline.results(name).rows()) for name in OUTPUTS}


def assert_same_state(got: OperatorState, fresh: OperatorState) -> None:
    assert (got.kind, got.version, got.scalars) == (fresh.kind, fresh.version, fresh.scalars)
    assert list(got.tables) == list(fresh.tables)
    for name, frame in fresh.tables.items():
        assert got.tables[name].equals(frame), name


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan_=steps())
def test_resuming_from_each_incremental_checkpoint_continues_as_if_never_stopped(
        tmp_path_factory: pytest.TempPathFactory, plan_) -> None:
    text = STREAMS + QUERIES
    whole = frys.Pipeline.from_text(text)
    for step in plan_:
        if step is not None:
            whole.publish(*step)
    whole.finish()
    expected = outputs(whole)

    state = tmp_path_factory.mktemp("state")
    running = frys.Pipeline(text, state=state)
    cuts = []  # (step index, a copy of the state folder holding that checkpoint alone)
    for index, step in enumerate(plan_):
        if step is not None:
            running.publish(*step)
            continue
        # what each query hands out (cached or not) is what its operator holds now
        for runner in running.runtime.queries:
            assert_same_state(runner.snapshot()[0], runner.operator.snapshot())
        identifier = running.checkpoint()
        assert running._store is not None
        copy = tmp_path_factory.mktemp("cut")
        (copy / JOB_FILE).write_text(text)
        folder = running._store.path_of(identifier)
        shutil.copytree(folder, copy / CHECKPOINTS / folder.name)
        cuts.append((index, copy, outputs(running)))
    running.stop()
    for index, copy, before in cuts:
        resumed = frys.Pipeline.resume(copy)
        for step in plan_[index + 1:]:
            if step is not None:
                resumed.publish(*step)
        resumed.finish()
        after = outputs(resumed)
        assert {name: before[name] + after[name] for name in OUTPUTS} == expected, index
        assert resumed._store is not None
        resumed._store.close()


# ---- the stream-table join ---------------------------------------------------------------

def table_join(versioned: bool):
    query = SNAPSHOT_TABLE_JOINS["versioned" if versioned else "current"][1]
    (node,) = plan(compile_text(SNAPSHOT_TABLES + query)).queries
    return node.operator


def test_the_table_join_base_is_the_same_frame_until_rebuilt(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(TableRows, "FOLD_AT", 8)
    operator = build_operator(table_join(False), OperatorSettings())
    source = BatchSource("cur")
    operator.process(pl.DataFrame({"k": list(range(100)), "v": list(range(100))}), source)
    first = operator.snapshot()
    assert first.tables["base"].height == 100 and first.tables["recent"].height == 0
    operator.process(pl.DataFrame({"k": [3, 200], "v": [0, 0]}), source)
    second = operator.snapshot()
    assert second.tables["base"] is first.tables["base"]
    assert second.tables["recent"]["__key"].to_list() == [3, 200]
    with CheckpointStore(tmp_path) as store:
        store.write(Checkpoint(1, "j", {"q": first}))
        store.write(Checkpoint(2, "j", {"q": second}))
        assert store.last_write.files_linked == 2  # base, and held (empty, unchanged)
    # a quarter of the base in changes: rebuilt, a new frame
    operator.process(pl.DataFrame({"k": list(range(300, 330)), "v": [1] * 30}), source)
    third = operator.snapshot()
    assert third.tables["base"] is not first.tables["base"]
    assert third.tables["base"].height == 131 and third.tables["recent"].height == 0


def layout_1(operator) -> OperatorState:
    """The snapshot as layout version 1 wrote it (one merged `table`, and `held`)."""
    state = operator.snapshot()
    return OperatorState("table_join", 1, {"table": operator._table(),
                                           "held": state.tables["held"]}, state.scalars)


@settings(max_examples=60, deadline=None)
@given(query=st.sampled_from(sorted(SNAPSHOT_TABLE_JOINS)), data=st.data())
def test_a_table_join_state_of_layout_1_still_restores(query: str, data) -> None:
    table, text = SNAPSHOT_TABLE_JOINS[query]
    batches, at = two_input_batches(data, ("ev", table), st.integers(-3, 3))
    (node,) = plan(compile_text(SNAPSHOT_TABLES + text)).queries
    original = build_operator(node.operator, OperatorSettings())
    newest: dict[str, int] = {}
    drive_table_join(original, table, batches[:at], newest)
    restored = build_operator(node.operator, OperatorSettings())
    restored.restore(layout_1(original))
    assert restored.state_size() == original.state_size()
    expected = drive_table_join(original, table, batches[at:], dict(newest)) + [
        original.advance(END_OF_TIME)]
    actual = drive_table_join(restored, table, batches[at:], dict(newest)) + [
        restored.advance(END_OF_TIME)]
    assert rows_of(actual) == rows_of(expected)
    assert restored.counters() == original.counters()
