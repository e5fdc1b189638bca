"""What the file formats' tests (tests/test_file_formats_*.py) share: reading a source's
batches, and a file job checkpointed, crashed midway and resumed in one test process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import frys
from frys.checkpointing import Checkpointer
from frys.connectors import registry
from frys.connectors.decode import DeadLetter


def read_all(source: Any, limit: int | None = None
             ) -> tuple[list[dict[str, object]], list[DeadLetter]]:
    """The rows and dead letters of a bounded file source's batches (the first `limit`)."""
    rows: list[dict[str, object]] = []
    letters: list[DeadLetter] = []
    for taken, item in enumerate(source.batches()):
        assert item is not registry.IDLE
        batch, dead = item
        rows += batch.to_dicts()
        letters += dead
        if limit is not None and taken + 1 >= limit:
            break
    return rows, letters


def write_checkpointed(sink: Any, sizes: list[int], checkpoint_every: int,
                       frame: Callable[[list[int]], Any]) -> list[int]:
    """Write batches of `sizes` rows (the values 0, 1, ... in order, as `frame` makes
    them) to a part-file sink, a checkpoint (pre_commit and commit) after every
    `checkpoint_every`-th batch (0: none); the values written."""
    start, written = 0, []
    for i, size in enumerate(sizes):
        values = list(range(start, start + size))
        start += size
        written += values
        sink.write(frame(values))
        if checkpoint_every and i % checkpoint_every == 0:
            sink.pre_commit(i + 1)
            sink.commit(i + 1)
    return written


class Crash(Exception):
    """The crash: raised at a batch boundary, as a killed process stops there."""


def crash_then_resume(monkeypatch: pytest.MonkeyPatch, job: str, folder: Path,
                      every_events: int,
                      after_crash: Callable[[], None] | None = None) -> None:
    """Run `job` in `folder` with state (`folder/state`), a checkpoint every
    `every_events` events, crashing three batches after its second checkpoint (rows
    written after the newest checkpoint, then the crash); `after_crash()` may look at what
    it left; then a new pipeline on the state folder runs the job to its end."""
    after_batch = Checkpointer.after_batch
    seen = {"batches": 0}

    def after_batch_then_crash(self: Checkpointer, events: int) -> None:
        after_batch(self, events)
        if self.taken >= 2:
            seen["batches"] += 1
            if seen["batches"] > 3:
                raise Crash

    monkeypatch.setattr(Checkpointer, "after_batch", after_batch_then_crash)
    first = frys.Pipeline(job, base_dir=folder, state=folder / "state", keep_results=False)
    with pytest.raises(Crash):
        first.run(checkpoint_every_events=every_events)
    first.close()
    if after_crash is not None:
        after_crash()
    monkeypatch.setattr(Checkpointer, "after_batch", after_batch)
    frys.Pipeline(job, base_dir=folder, state=folder / "state", keep_results=False).run(
        checkpoint_every_events=every_events)
