"""A damaged newest checkpoint, at the level of a whole job: a window job over a file into a
file sink, run with `Pipeline(state=DIR)` in a real process, checkpointing every few
hundred events, is SIGKILLed a few batches after its fifth checkpoint; then the newest
checkpoint folder is damaged (a table file truncated or deleted, a byte of the manifest
flipped, a folder under a checkpoint's name holding a table but no manifest) or a
half-written temporary folder is left beside it. The job started again on DIR:

* continues from the previous complete checkpoint, never from a part of the damaged one:
  its sink is cut back, as it starts, to exactly the length that checkpoint recorded;
* says so: a warning naming the damaged checkpoint's folder and what is wrong with it
  (the `frys.checkpoint` logger; `frys run --state` shows it on stderr);
* ends with the output, row for row, of one uninterrupted run (exactly-once).

With every checkpoint damaged it starts over from the beginning, also saying so, and its
output is still one run's (the sink is recreated, not appended to). The same job into a
`wal:` sink falls back alike, its log cut back to the previous checkpoint's offset (a
`wal:` sink starting over is not: tests/test_crash_trials.py, a start killed before its
first checkpoint)."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from test_crash_trials import frys_run, output_rows, prepare, timed_run

from frys.engine.checkpoint import MANIFEST, CheckpointStore

EVERY_EVENTS = 500  # 8,000 events: about 16 checkpoints in a whole run
CRASH_AFTER = 5  # checkpoints taken before the kill (the store keeps the newest 3)

CRASH = """
import os, signal, sys
import frys
import frys.connectors.jsonl as jsonl
from frys.checkpointing import Checkpointer
jsonl.DEFAULT_CHUNK_BYTES = 1024  # many small batches
job, state, every, crash_after = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
after_batch = Checkpointer.after_batch
batches = 0

def after_batch_then_die(self, events):
    global batches
    after_batch(self, events)
    if self.taken >= crash_after:
        batches += 1
        if batches > 3:  # rows written after the newest checkpoint, then a crash
            os.kill(os.getpid(), signal.SIGKILL)

Checkpointer.after_batch = after_batch_then_die
with open(job) as file:
    text = file.read()
pipeline = frys.Pipeline(text, job, base_dir=os.path.dirname(job), state=state,
                         keep_results=False)
pipeline.run(checkpoint_every_events=every)
"""


def crash(job: Path, state: Path) -> None:
    process = subprocess.run([sys.executable, "-c", CRASH, str(job), str(state),
                              str(EVERY_EVENTS), str(CRASH_AFTER)],
                             capture_output=True, text=True, timeout=120)
    assert process.returncode == -signal.SIGKILL, process.stderr


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The rows of one uninterrupted run of the window job."""
    whole = prepare(tmp_path_factory.mktemp("whole") / "job", "window")
    timed_run(whole)
    rows = output_rows(whole.parent)
    assert len(rows) > 100
    return rows


def test_a_wal_sink_is_cut_back_to_the_previous_checkpoint_too(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import frys
    import frys.connectors.jsonl as jsonl

    whole = prepare(tmp_path / "whole", "window into a WAL")
    timed_run(whole)
    expected = output_rows(whole.parent)
    job, state, previous, newest = crashed_job(tmp_path, "window into a WAL")
    why = flip_a_manifest_byte(newest)
    monkeypatch.setattr(jsonl, "DEFAULT_CHUNK_BYTES", 1024)
    with caplog.at_level(logging.WARNING, logger="frys.checkpoint"):
        pipeline = frys.Pipeline(job.read_text(), str(job), base_dir=job.parent, state=state,
                                 keep_results=False)
    assert sink_now(job) == sink_length(previous)  # the log's events, one row each
    (warning,) = [m for m in warnings_of(caplog) if str(newest) in m]
    assert why in warning
    pipeline.run(checkpoint_every_events=EVERY_EVENTS)
    assert Counter(output_rows(job.parent)) == Counter(expected)


def newest_two(checkpoints: Path) -> tuple[Path, Path]:
    folders = sorted(checkpoints.glob("checkpoint-*"))
    assert len(folders) == 3, folders  # the store keeps 3: the crash came after the 5th
    return folders[-2], folders[-1]


def sink_length(folder: Path) -> int:
    """What the checkpoint in `folder` recorded of its sink: out.jsonl's length in bytes,
    or the `wal:` sink's next offset (its events, one row each)."""
    store = CheckpointStore(folder.parent, read_only=True)
    (state,) = store.load(folder).sinks.values()
    return state["bytes"] if "bytes" in state else state["next_offset"]


def sink_now(job: Path) -> int:
    """The sink as it is, measured as `sink_length` measures it."""
    out = job.parent / "out.jsonl"
    return out.stat().st_size if out.exists() else len(output_rows(job.parent))


def truncate_a_table(folder: Path) -> str:
    table = sorted(folder.glob("t*.arrow"))[0]
    table.write_bytes(table.read_bytes()[: table.stat().st_size // 2])
    return "truncated"


def delete_a_table(folder: Path) -> str:
    sorted(folder.glob("t*.arrow"))[0].unlink()
    return "missing file"


def flip_a_manifest_byte(folder: Path) -> str:
    manifest = folder / MANIFEST
    data = bytearray(manifest.read_bytes())
    data[len(data) * 2 // 3] ^= 0x10  # inside the checksummed manifest bytes
    manifest.write_bytes(bytes(data))
    return "manifest"


def delete_the_manifest(folder: Path) -> str:
    (folder / MANIFEST).unlink()  # as a folder renamed before its files reached the disk
    return "missing file manifest.msgpack"


DAMAGES: dict[str, Callable[[Path], str]] = {
    "a table file truncated": truncate_a_table,
    "a table file deleted": delete_a_table,
    "a byte of the manifest flipped": flip_a_manifest_byte,
    "a checkpoint folder without its manifest": delete_the_manifest,
}


def crashed_job(tmp_path: Path, kind: str = "window") -> tuple[Path, Path, Path, Path]:
    """The window job (into a file, or `kind` "window into a WAL") killed after its fifth
    checkpoint: (job file, state folder, the previous checkpoint's folder, the newest's)."""
    job = prepare(tmp_path / "job", kind)
    state = tmp_path / "state"
    crash(job, state)
    previous, newest = newest_two(state / "checkpoints")
    # rows were written after the newest checkpoint: there is something to cut back
    assert sink_now(job) > sink_length(newest) > sink_length(previous)
    assert list(newest.glob("t*.arrow"))  # the window operator's state has tables
    return job, state, previous, newest


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "frys.checkpoint" and r.levelno == logging.WARNING]


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(
        tmp_path: Path, damage: str, expected: list[str], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import frys
    import frys.connectors.jsonl as jsonl

    job, state, previous, newest = crashed_job(tmp_path)
    previous_length = sink_length(previous)
    why = DAMAGES[damage](newest)

    monkeypatch.setattr(jsonl, "DEFAULT_CHUNK_BYTES", 1024)
    with caplog.at_level(logging.WARNING, logger="frys.checkpoint"):
        pipeline = frys.Pipeline(job.read_text(), str(job), base_dir=job.parent, state=state,
                                 keep_results=False)
    # resumed from the previous checkpoint: the sink cut back to exactly its length, not
    # the newest's, and nothing of the newest taken
    assert sink_now(job) == previous_length
    (warning,) = [m for m in warnings_of(caplog) if str(newest) in m]
    assert why in warning and "falling back to an older checkpoint" in warning
    pipeline.run(checkpoint_every_events=EVERY_EVENTS)
    assert Counter(output_rows(job.parent)) == Counter(expected)


def test_a_half_written_temporary_folder_is_removed_and_never_read(
        tmp_path: Path, expected: list[str], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A write cut short leaves `.tmp-checkpoint-...` beside the whole checkpoints: it is
    removed, said so, and the job goes on from the newest whole checkpoint."""
    import frys
    import frys.connectors.jsonl as jsonl

    job, state, _, newest = crashed_job(tmp_path)
    number = int(newest.name.split("-")[1]) + 1
    leftover = newest.parent / f".tmp-checkpoint-{number:020d}-4242-0badf00d"
    leftover.mkdir()
    for table in sorted(newest.glob("t*.arrow")):  # some tables written, no manifest yet
        (leftover / table.name).write_bytes(table.read_bytes()[:100])

    monkeypatch.setattr(jsonl, "DEFAULT_CHUNK_BYTES", 1024)
    with caplog.at_level(logging.WARNING, logger="frys.checkpoint"):
        pipeline = frys.Pipeline(job.read_text(), str(job), base_dir=job.parent, state=state,
                                 keep_results=False)
    assert not leftover.exists()
    assert sink_now(job) == sink_length(newest)
    assert any(str(leftover) in m and "unfinished write" in m for m in warnings_of(caplog))
    pipeline.run(checkpoint_every_events=EVERY_EVENTS)
    assert Counter(output_rows(job.parent)) == Counter(expected)


def test_with_every_checkpoint_damaged_the_job_is_refused_until_they_are_deleted(
        tmp_path: Path, expected: list[str], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing whole to fall back to: starting over would write again what a sink that
    keeps its contents (a `wal:` log) holds, so the run is refused, naming the folder,
    and goes from the beginning once the user deletes the checkpoints."""
    import shutil

    import frys
    import frys.connectors.jsonl as jsonl
    from frys.engine.checkpoint import CheckpointError

    job, state, _, _ = crashed_job(tmp_path)
    folders = sorted((state / "checkpoints").glob("checkpoint-*"))
    for folder in folders:
        flip_a_manifest_byte(folder)

    monkeypatch.setattr(jsonl, "DEFAULT_CHUNK_BYTES", 1024)
    with caplog.at_level(logging.WARNING, logger="frys.checkpoint"), \
            pytest.raises(CheckpointError, match=r"every checkpoint in .* is damaged"):
        frys.Pipeline(job.read_text(), str(job), base_dir=job.parent, state=state,
                      keep_results=False)
    said = warnings_of(caplog)
    for folder in folders:
        assert any(str(folder) in m and "falling back" in m for m in said), said
    refused = frys_run(job, "--state", str(state))
    _, err = refused.communicate(timeout=120)
    assert refused.returncode == 1
    assert f"delete {state / 'checkpoints'}" in err
    shutil.rmtree(state / "checkpoints")
    pipeline = frys.Pipeline(job.read_text(), str(job), base_dir=job.parent, state=state,
                             keep_results=False)
    pipeline.run(checkpoint_every_events=EVERY_EVENTS)
    # from the beginning: the sink recreated, not the rows before the crash kept twice
    assert Counter(output_rows(job.parent)) == Counter(expected)


@pytest.mark.parametrize("damage", ["a table file truncated", "a byte of the manifest flipped"])
def test_frys_run_state_says_on_stderr_which_checkpoint_it_skipped(
        tmp_path: Path, damage: str, expected: list[str]) -> None:
    job, state, _, newest = crashed_job(tmp_path)
    why = DAMAGES[damage](newest)
    process = frys_run(job, "--state", str(state), "--checkpoint-every-events",
                       str(EVERY_EVENTS))
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    (line,) = [line for line in err.splitlines() if str(newest) in line]  # said once
    assert line.startswith("frys: warning: ")
    assert why in line and "falling back to an older checkpoint" in line
    assert "Traceback" not in err
    assert Counter(output_rows(job.parent)) == Counter(expected)
