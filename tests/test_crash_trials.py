"""Crash trials: a job reading files into a file sink, run as a real process with
checkpoints every few batches, killed with SIGKILL at random moments and started again on
its state folder until it completes; its output then equals, row for row, one
uninterrupted run's (exactly-once: sources resume at their checkpointed positions, the sink
is cut back to its checkpointed length, operator state and watermarks restored). Small
inputs and many kills, sized for CI; bigger runs are a matter of the same loop."""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

# the child says "running" once the run proper begins (state restored, `frys run`'s signal
# handlers installed): a trial can then kill it mid-run rather than while starting up
MARK = """
import frys.engine.runtime as _runtime
_run = _runtime.Runtime.run
def _marked(self, *args, **kwargs):
    print("running", flush=True)
    return _run(self, *args, **kwargs)
_runtime.Runtime.run = _marked
"""

RUN = MARK + """
import sys
import frys
import frys.connectors.jsonl as jsonl
jsonl.DEFAULT_CHUNK_BYTES = 1024  # many small batches: many batch boundaries to die at
job, state = sys.argv[1], sys.argv[2]
with open(job) as file:
    text = file.read()
if state == "-":  # the uninterrupted run: no state, no checkpoints
    frys.Pipeline(text, job, base_dir=sys.argv[3], keep_results=False).run()
else:
    pipeline = frys.Pipeline(text, job, base_dir=sys.argv[3], state=state,
                             keep_results=False)
    pipeline.run(checkpoint_every_events=int(sys.argv[4]))
print("done", flush=True)
"""

JOBS = {
    "window": """
CREATE STREAM ev (k INT, v INT, ts TIMESTAMP)
    WITH (event_time = ts, watermark = 50ms, source = 'file:ev.jsonl');
CREATE STREAM out (k INT, window_start TIMESTAMP, n INT, s INT)
    WITH (sink = 'file:out.jsonl');
INSERT INTO out SELECT k, window_start, COUNT(*) AS n, SUM(v) AS s FROM ev
    GROUP BY k, TUMBLE(100ms);
""",
    "join": """
CREATE STREAM ev (k INT, v INT, ts TIMESTAMP)
    WITH (event_time = ts, watermark = 50ms, source = 'file:ev.jsonl');
CREATE STREAM other (k INT, v INT, ts TIMESTAMP)
    WITH (event_time = ts, watermark = 50ms, source = 'file:other.jsonl');
CREATE STREAM out (k INT, v INT, w INT) WITH (sink = 'file:out.jsonl');
INSERT INTO out SELECT e.k, e.v, o.v AS w FROM ev e LEFT JOIN other o ON e.k = o.k
    WITHIN 20ms;
""",
    "window into a WAL": """
CREATE STREAM ev (k INT, v INT, ts TIMESTAMP)
    WITH (event_time = ts, watermark = 50ms, source = 'file:ev.jsonl');
CREATE STREAM out (k INT, window_start TIMESTAMP, n INT, s INT)
    WITH (sink = 'wal:out-wal');
INSERT INTO out SELECT k, window_start, COUNT(*) AS n, SUM(v) AS s FROM ev
    GROUP BY k, TUMBLE(100ms);
""",
    # the input a WAL (written by `prepare` in ~20-event records, one per batch read)
    "window from a WAL": """
CREATE STREAM ev (k INT, v INT, ts TIMESTAMP)
    WITH (event_time = ts, watermark = 50ms, source = 'wal:ev-wal?follow=false');
CREATE STREAM out (k INT, window_start TIMESTAMP, n INT, s INT)
    WITH (sink = 'file:out.jsonl');
INSERT INTO out SELECT k, window_start, COUNT(*) AS n, SUM(v) AS s FROM ev
    GROUP BY k, TUMBLE(100ms);
""",
    "pattern": """
CREATE STREAM ev (k INT, v INT, ts TIMESTAMP)
    WITH (event_time = ts, watermark = 50ms, source = 'file:ev.jsonl');
CREATE STREAM out (k INT, first INT, second INT) WITH (sink = 'file:out.jsonl');
INSERT INTO out SELECT a.k, a.v AS first, b.v AS second FROM ev PARTITION BY k
    PATTERN (a -> b) WITHIN 200ms DEFINE b AS b.v > a.v;
""",
}


KILLS = 8  # SIGKILLs per trial at most (a start that finishes ends it)
EVENTS = 8_000  # per input file: a run lasts a few tenths of a second beyond start-up
CHECKPOINT_EVERY_EVENTS = 150


def output_rows(folder: Path) -> list[str]:
    """What the job wrote: the lines of out.jsonl (or of the committed part files of an
    out.jsonl folder), or the rows of the committed part files of an out.parquet folder or
    of the `wal:` sink's log (every record, read from the oldest), each as canonical
    JSON."""
    if (folder / "out.jsonl").is_dir():  # (hidden parts are not committed yet)
        return [line for part in sorted((folder / "out.jsonl").glob("part-*.jsonl"))
                for line in part.read_text().splitlines()]
    if (folder / "out.jsonl").exists():
        return (folder / "out.jsonl").read_text().splitlines()
    if (folder / "out.parquet").is_dir():  # (hidden parts are not committed yet)
        import polars as pl

        return [json.dumps(row, sort_keys=True, default=str)
                for part in sorted((folder / "out.parquet").glob("part-*.parquet"))
                for row in pl.read_parquet(part).iter_rows(named=True)]
    from frys.connectors.wal.reader import LogReader
    from frys.connectors.wal_topic import record_frame

    reader = LogReader(folder / "out-wal")
    rows: list[str] = []
    while records := reader.read():
        for record, skip in records:
            rows += [json.dumps(row, sort_keys=True, default=str)
                     for row in record_frame(record, skip).iter_rows(named=True)]
    reader.close()
    return rows


def write_events(path: Path, count: int, seed: int) -> None:
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        ts = 1_700_000_000_000 + i * 3 - rng.randrange(0, 40)
        lines.append(json.dumps({"k": rng.randrange(8), "v": rng.randrange(100), "ts": ts}))
    path.write_text("".join(line + "\n" for line in lines))


def prepare(folder: Path, job: str, events: int = EVENTS) -> Path:
    """A folder holding the job's text and its two input files of `events` events each;
    returns the job file."""
    folder.mkdir()
    write_events(folder / "ev.jsonl", events, 1)
    write_events(folder / "other.jsonl", events, 2)
    (folder / "job.frysql").write_text(JOBS[job])
    if "wal:ev-wal" in JOBS[job]:
        write_wal(folder)
    return folder / "job.frysql"


def write_wal(folder: Path) -> None:
    """ev.jsonl copied into the log ev-wal by a frys job, 1 KiB of lines per record."""
    import frys
    import frys.connectors.jsonl as jsonl

    copy = ("CREATE STREAM ev (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, "
            "watermark = 50ms, source = 'file:ev.jsonl');\n"
            "CREATE STREAM copy WITH (sink = 'wal:ev-wal');\n"
            "INSERT INTO copy SELECT * FROM ev;\n")
    chunk, jsonl.DEFAULT_CHUNK_BYTES = jsonl.DEFAULT_CHUNK_BYTES, 1024
    try:
        frys.Pipeline(copy, "copy.frysql", base_dir=folder, keep_results=False).run()
    finally:
        jsonl.DEFAULT_CHUNK_BYTES = chunk


def start(job: Path, state: Path | None) -> subprocess.Popen[str]:
    """The job run through the Python API (`Pipeline(state=...).run(checkpoint_every_
    events=...)`) in a child process; without a state, one uninterrupted run."""
    return subprocess.Popen([sys.executable, "-c", RUN, str(job), str(state or "-"),
                             str(job.parent), str(CHECKPOINT_EVERY_EVENTS)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


CLI = MARK + """
import sys
import frys.connectors.jsonl as jsonl
jsonl.DEFAULT_CHUNK_BYTES = 1024
from frys.cli import main
sys.exit(main(sys.argv[1:]))
"""


def frys_run(job: Path, *arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", CLI, "run", "--no-progress", *arguments,
                             str(job)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def start_cli(job: Path, state: Path | None) -> subprocess.Popen[str]:
    """The job run by `frys run --state` in a child process, checkpointing as `start`'s."""
    if state is None:
        return frys_run(job)
    return frys_run(job, "--state", str(state), "--checkpoint-every-events",
                    str(CHECKPOINT_EVERY_EVENTS))


STOPPED = "stopped at a checkpoint"
RUNNING = b"running\n"


def wait_until_running(process: subprocess.Popen[str], timeout: float) -> bool:
    """Read the child's stdout (raw, as `communicate` goes on reading it) until it says
    "running"; False if it ended first. TimeoutError if it says nothing in `timeout`."""
    fd = process.stdout.fileno() if process.stdout is not None else -1
    seen = b""
    deadline = time.monotonic() + timeout
    while RUNNING not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the child did not start running in {timeout} s")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                return False
            seen += chunk
    return True


@dataclass
class Trial:
    """What a crash trial did: signals sent that ended a start (`kills`: SIGKILLs, or
    SIGTERMs that killed a start still starting up), clean stops at a checkpoint after a
    SIGTERM (`stops`), starts in all, and the newest checkpoint's id at the end (how many
    checkpoints the starts took together)."""

    kills: int = 0
    stops: int = 0
    starts: int = 0
    checkpoints: int = 0


def newest_checkpoint(state: Path) -> int:
    from frys.engine.checkpoint import CHECKPOINT_NAME

    folder = state / "checkpoints"
    ids = [int(m.group(1)) for m in map(CHECKPOINT_NAME.fullmatch,
                                        os.listdir(folder) if folder.is_dir() else []) if m]
    return max(ids, default=0)


# when to signal a start: (True, s) s seconds after it says "running", (False, s) s
# seconds after it was started
Moment = tuple[bool, float]


def crash_trial(job: Path, state: Path, signals: int, moment: Callable[[], Moment],
                stop: signal.Signals = signal.SIGKILL,
                launch: Callable[[Path, Path | None], subprocess.Popen[str]] = start,
                timeout: float = 600) -> Trial:
    """Start the job on `state` again and again, sending each start `stop` at `moment()`
    unless it ended first, until `signals` signals were sent; then start it until a start
    runs to the end of its input. Every start but those signalled must exit 0 (an
    AssertionError with its stderr otherwise); a start that ends its input first ends the
    trial early.

    SIGKILL is a crash at an arbitrary moment. SIGTERM, once `frys run` has installed its
    handler, is a clean stop at the next batch boundary with a last checkpoint (exit 0,
    "stopped at a checkpoint"); before that, during start-up, it kills as any signal."""
    trial = Trial()
    while True:
        process = launch(job, state)
        trial.starts += 1
        if trial.kills + trial.stops < signals:
            after_running, seconds = moment()
            try:
                if after_running and not wait_until_running(process, timeout):
                    seconds = timeout  # it ended while starting up: see how below
                _, err = process.communicate(timeout=seconds)
            except subprocess.TimeoutExpired:
                process.send_signal(stop)
                _, err = process.communicate(timeout=timeout)
                if process.returncode == -stop:
                    trial.kills += 1
                    continue
                assert process.returncode == 0, err
                if STOPPED in err:
                    trial.stops += 1
                    continue
                # the signal came as the start ended its input: a finished run
        else:
            _, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, err
        if STOPPED in err:  # a stop asked for too late to be counted above: go on
            trial.stops += 1
            continue
        trial.checkpoints = newest_checkpoint(state)
        return trial


def timed_run(job: Path, launch: Callable[[Path, Path | None], subprocess.Popen[str]] = start,
              timeout: float = 600) -> float:
    """Run the job once, uninterrupted and without state; its wall time in seconds
    (start-up included, as every start of a trial pays it)."""
    began = time.monotonic()
    process = launch(job, None)
    _, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return time.monotonic() - began


@pytest.mark.parametrize("job", sorted(JOBS))
def test_killed_again_and_again_a_job_writes_what_one_run_writes(tmp_path: Path,
                                                                 job: str) -> None:
    whole = prepare(tmp_path / "whole", job)
    took = timed_run(whole)
    expected = output_rows(whole.parent)
    assert len(expected) > 20

    trial_job = prepare(tmp_path / "trial", job)
    rng = random.Random(job)
    # before the time a whole run takes: the first start always dies mid-run
    trial = crash_trial(trial_job, tmp_path / "trial-state", KILLS,
                        lambda: (False, rng.uniform(0.2, 0.9) * took))
    assert trial.kills >= 1
    written = output_rows(trial_job.parent)
    # row for row: the same rows, each exactly once (in the order the language gives:
    # rows one operator call emits together, a join's unmatched rows at one watermark,
    # may come out in another order after a resume)
    assert Counter(written) == Counter(expected)


def test_frys_run_stopped_by_sigterm_continues_where_it_stopped(tmp_path: Path) -> None:
    """`frys run --state`: SIGTERM at random moments stops at a batch boundary with a last
    checkpoint and exit 0, windows left open; each run continues the last; the output ends
    as one uninterrupted run's."""
    whole = prepare(tmp_path / "whole", "window")
    took = timed_run(whole, start_cli)
    expected = output_rows(whole.parent)

    trial_job = prepare(tmp_path / "trial", "window")
    rng = random.Random(7)
    trial = crash_trial(trial_job, tmp_path / "state", KILLS,
                        lambda: (False, rng.uniform(0.3, 0.9) * took), signal.SIGTERM,
                        start_cli)
    assert trial.stops >= 1
    assert Counter(output_rows(trial_job.parent)) == Counter(expected)


# the job of `start`, killed (SIGKILL) by itself at its `sys.argv[5]`th batch boundary
DIE_AT_BATCH = """
import os, signal, sys
from frys.checkpointing import Checkpointer
after_batch = Checkpointer.after_batch
batches = 0
def after_batch_then_die(self, events):
    global batches
    after_batch(self, events)
    batches += 1
    if batches == int(sys.argv[5]):
        os.kill(os.getpid(), signal.SIGKILL)
Checkpointer.after_batch = after_batch_then_die
""" + RUN


@pytest.mark.parametrize("job", ["window", "window into a WAL"])
def test_a_start_killed_before_its_first_checkpoint_leaves_no_rows_twice(
        tmp_path: Path, job: str) -> None:
    """Killed after writing rows but before any checkpoint, the job restarted on its state
    folder starts from the beginning, so what the killed start wrote must go: a `file:`
    sink is recreated; a `wal:` sink must be cut back to where it was before the job.

    Found by benchmarks/crash_trials.py: a restart that found no checkpoint opened its
    sinks as a fresh run does, and a `wal:` sink so opened appends to the log it finds,
    after the killed start's rows. Now a run on a state folder with no checkpoint takes
    one before reading anything (Checkpointer.begin), recording where the log stood, and
    the restart cuts it back there."""
    whole = prepare(tmp_path / "whole", job)
    timed_run(whole)
    expected = output_rows(whole.parent)

    trial_job = prepare(tmp_path / "trial", job)
    state = tmp_path / "state"
    # batches of about 20 events, a checkpoint every 150: five batches in, rows written
    # (100 ms windows, 60 ms of event time a batch) and no checkpoint yet
    died = subprocess.run([sys.executable, "-c", DIE_AT_BATCH, str(trial_job), str(state),
                           str(trial_job.parent), str(CHECKPOINT_EVERY_EVENTS), "5"],
                          capture_output=True, text=True, timeout=120)
    assert died.returncode == -signal.SIGKILL, died.stderr
    assert newest_checkpoint(state) == 1  # only the one taken before reading anything
    assert output_rows(trial_job.parent)  # rows the restart must not keep twice
    again = start(trial_job, state)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert Counter(output_rows(trial_job.parent)) == Counter(expected)


@pytest.mark.parametrize(("value", "ms"), [("200ms", 200), ("10s", 10_000), ("5m", 300_000),
                                           ("1h", 3_600_000)])
def test_checkpoint_every_takes_the_languages_durations(value: str, ms: int) -> None:
    from frys.cli import duration_ms

    assert duration_ms(value) == ms


@pytest.mark.parametrize("value", ["0s", "10", "ten seconds", "-5s", "1.5s"])
def test_checkpoint_every_refuses_anything_else(value: str) -> None:
    import argparse

    from frys.cli import duration_ms

    with pytest.raises(argparse.ArgumentTypeError, match="not a positive duration"):
        duration_ms(value)


def test_frys_run_says_why_it_cannot_continue_from_a_state(tmp_path: Path) -> None:
    job = prepare(tmp_path / "job", "window")
    state = str(tmp_path / "state")
    first = frys_run(job, "--state", state, "--checkpoint-every-events", "500")
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    job.write_text(JOBS["pattern"])  # another job on the same state
    again = frys_run(job, "--state", state)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 1
    assert "cannot continue from --state" in err
    assert "query out (its operator changed: tumbling window -> pattern)" in err
    assert "Traceback" not in err
