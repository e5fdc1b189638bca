"""Recovery, rescaling and process failure of the scale-out runtime (`frys run --runtime
bytewax -r DIR -s SECONDS`), with real processes on loopback.

Each trial kills a run with SIGKILL once bytewax has committed a few snapshots to its
SQLite recovery partitions, runs the same command again (or with other -w/-p), and compares
what the sink holds with one uninterrupted run of the embedded runtime over the same
input: exactly once, no row missing, none twice.

Rows are compared as sorted lists of lines. The order of a sink's lines is not part of
the scale-out runtime's promise: key groups run on several workers, and one activation's
batches from every group are written together in the order bytewax delivers them, so two
uninterrupted bytewax runs already differ in order (never in content). Sorting keeps
every line, so a duplicate or a missing row still fails.

The inputs are read in 8 KiB chunks, one per batch (sitecustomize.py below, imported by every frys
process the tests start, `-p` children included), so a run is ~200 batches over a few
seconds: snapshots every 0.2 s fall mid-run.
"""

from __future__ import annotations

import glob
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest
from test_crash_trials import JOBS, output_rows, write_events

pytest.importorskip("bytewax")

EVENTS = 30_000  # per input file
CHUNK_BYTES = 8 << 10
SNAPSHOT_S = "0.2"
SNAPSHOTS_BEFORE_KILL = 3  # bytewax's commit epoch reached in every partition's view

SITECUSTOMIZE = """
import os
_chunk = os.environ.get("FRYS_TEST_CHUNK_BYTES")
if _chunk:
    import frys.connectors.jsonl as _jsonl
    _jsonl.DEFAULT_CHUNK_BYTES = int(_chunk)
    # one chunk per batch (a source partition gathers up to 256k rows otherwise)
    import frys.engine.scaleout.io as _io
    _io.SOURCE_BATCH_ROWS = 1
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The input files every trial copies, and the sitecustomize of its processes."""
    folder = tmp_path_factory.mktemp("inputs")
    write_events(folder / "ev.jsonl", EVENTS, 1)
    write_events(folder / "other.jsonl", EVENTS, 2)
    # ev.jsonl as Arrow IPC, in record batches of 100 rows: one per batch read (as the
    # JSON Lines inputs' 8 KiB chunks), so snapshots fall mid-run
    import polars as pl
    import pyarrow as pa
    table = pl.read_ndjson(folder / "ev.jsonl").with_columns(
        pl.col("ts").cast(pl.Datetime("ms", "UTC"))).to_arrow()
    with pa.OSFile(str(folder / "ev.arrow"), "wb") as sink, \
            pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=100)
    (folder / "site").mkdir()
    (folder / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return folder


@pytest.fixture(scope="module")
def expected(inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Per job, the sorted rows of one uninterrupted embedded run (each computed once)."""
    return _Reference(inputs, tmp_path_factory)


class _Reference(dict[str, list[str]]):
    def __init__(self, inputs: Path, factory: pytest.TempPathFactory) -> None:
        super().__init__()
        self.inputs, self.factory = inputs, factory

    def __missing__(self, job: str) -> list[str]:
        import frys
        import frys.connectors.jsonl as jsonl

        folder = self.factory.mktemp("embedded")
        job_file = copy_job(self.inputs, folder, job)
        chunk, jsonl.DEFAULT_CHUNK_BYTES = jsonl.DEFAULT_CHUNK_BYTES, CHUNK_BYTES
        try:
            frys.Pipeline(job_file.read_text(), str(job_file), base_dir=folder,
                          keep_results=False).run()
        finally:
            jsonl.DEFAULT_CHUNK_BYTES = chunk
        rows = self[job] = sorted(output_rows(folder))
        assert len(rows) > 1000
        return rows


# the crash trials' jobs, and two whose sink is a folder of part files (Parquet, JSON
# Lines): a sink every process of a cluster writes (registry.Connector.shared_sink)
RECOVERY_JOBS = dict(JOBS, **{
    "window into Parquet": JOBS["window"].replace("file:out.jsonl", "file:out.parquet"),
    "window into JSON Lines parts": JOBS["window"].replace(
        "file:out.jsonl", "file:out.jsonl?parts=true&roll_rows=500"),
    # an Arrow source: on two processes, read whole by each, each keeping its own key
    # groups' rows (engine/scaleout/key_shares.py)
    "window from Arrow": JOBS["window"].replace("file:ev.jsonl", "file:ev.arrow"),
    # a stateless query (a bytewax flat_map: no state of its own in the snapshots)
    "filter": """
CREATE STREAM ev (k INT, v INT, ts TIMESTAMP)
    WITH (event_time = ts, watermark = 50ms, source = 'file:ev.jsonl');
CREATE STREAM out (k INT, v INT, ts TIMESTAMP) WITH (sink = 'file:out.jsonl');
INSERT INTO out SELECT k, v, ts FROM ev WHERE v > 49;
"""})


def copy_job(inputs: Path, folder: Path, job: str, text: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("ev.jsonl", "other.jsonl", "ev.arrow"):
        target = folder / name
        if not target.exists():
            os.link(inputs / name, target)
    (folder / "job.frysql").write_text(text if text is not None else RECOVERY_JOBS[job])
    return folder / "job.frysql"


def sink_parts(folder: Path) -> list[Path]:
    """The committed part files of `folder`/out.parquet or of a `folder`/out.jsonl
    folder (hidden ones are being written)."""
    return sorted([*(folder / "out.parquet").glob("part-*.parquet"),
                   *(folder / "out.jsonl").glob("part-*.jsonl")])


def start(inputs: Path, job: Path, *arguments: str, stdout: IO[str] | int = subprocess.PIPE
          ) -> subprocess.Popen[str]:
    """`frys run JOB --runtime bytewax ARGUMENTS` in a child process (its stdout a pipe
    unless given: a pipe nobody reads while the run goes on would stop it when full)."""
    env = dict(os.environ, PYTHONPATH=str(inputs / "site"),
               FRYS_TEST_CHUNK_BYTES=str(CHUNK_BYTES), RUST_BACKTRACE="0")
    return subprocess.Popen([sys.executable, "-m", "frys", "run", str(job), "--runtime",
                             "bytewax", "--no-progress", *arguments],
                            stdout=stdout, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=job.parent)


def run(inputs: Path, job: Path, *arguments: str, timeout: float = 120
        ) -> subprocess.CompletedProcess[str]:
    process = start(inputs, job, *arguments)
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def committed_epoch(recovery: Path) -> int:
    """The newest epoch a recovery partition records as committed (0 if none yet)."""
    newest = 0
    for part in glob.glob(str(recovery / "part-*.sqlite3")):
        try:
            connection = sqlite3.connect(f"file:{part}?mode=ro", uri=True, timeout=0.2)
            try:
                row = connection.execute("SELECT MAX(commit_epoch) FROM commits").fetchone()
            finally:
                connection.close()
        except sqlite3.Error:  # being created, or locked by a writer: ask again
            continue
        newest = max(newest, row[0] or 0)
    return newest


def wait_for_snapshots(process: subprocess.Popen[str], recovery: Path,
                       epochs: int = SNAPSHOTS_BEFORE_KILL, timeout: float = 60) -> None:
    """Poll the recovery partitions until `epochs` more snapshots are committed than when
    called; the run must still be going (a trial whose run ended first tested nothing)."""
    deadline = time.monotonic() + timeout
    target = committed_epoch(recovery) + epochs
    while committed_epoch(recovery) < target:
        assert process.poll() is None, "the run ended before its snapshots were seen"
        assert time.monotonic() < deadline, "no snapshot committed in time"
        time.sleep(0.02)


def kill_after_snapshots(inputs: Path, job: Path, recovery: Path, *arguments: str,
                         epochs: int = SNAPSHOTS_BEFORE_KILL) -> str:
    """Start the job with `-r recovery -s 0.2 ARGUMENTS`, SIGKILL it after `epochs`
    snapshots, mid-run; what it printed on stdout."""
    with open(job.parent / "stdout.txt", "w+") as stdout:
        process = start(inputs, job, "-r", str(recovery), "-s", SNAPSHOT_S, *arguments,
                        stdout=stdout)
        try:
            wait_for_snapshots(process, recovery, epochs)
        finally:
            process.kill()
            process.communicate()
        assert process.returncode == -signal.SIGKILL
        stdout.seek(0)
        return stdout.read()


def resumes_exactly_once(inputs: Path, job: Path, folder: Path, rows: list[str],
                         *arguments: str) -> subprocess.CompletedProcess[str]:
    """The job run again with `arguments` (a resume) ends well, and the sink in `folder`
    then holds `rows` (the uninterrupted embedded run's), each once."""
    again = run(inputs, job, *arguments)
    assert again.returncode == 0, again.stderr
    assert sorted(output_rows(folder)) == rows
    return again


def partial_rows(folder: Path) -> int:
    out = folder / "out.jsonl"
    if sink_parts(folder) or out.is_dir():
        return len(output_rows(folder))
    return len(out.read_text().splitlines()) if out.exists() else -1


# ------------------------------------------------------------------ crash trials


@pytest.mark.parametrize("job,kills", [("window", 2), ("join", 1), ("pattern", 1),
                                       ("window into a WAL", 1)])
def test_a_killed_two_worker_run_resumes_exactly_once(inputs: Path, tmp_path: Path,
                                                      expected: dict[str, list[str]],
                                                      job: str, kills: int) -> None:
    """SIGKILL mid-run after snapshots (`kills` times: a resumed run killed again), the
    same command again: the sink holds what one uninterrupted embedded run writes
    (operator state through the snapshots, the source seeked, the file or WAL sink cut
    back to its committed state)."""
    job_file = copy_job(inputs, tmp_path, job)
    recovery = tmp_path / "recovery"
    for kill in range(kills):
        # a resumed run has less left to do: killed after its first snapshot
        kill_after_snapshots(inputs, job_file, recovery, "-w", "2",
                             epochs=SNAPSHOTS_BEFORE_KILL if kill == 0 else 1)
        if job != "window into a WAL":
            assert 0 < partial_rows(tmp_path) < len(expected[job])  # killed mid-way
    again = run(inputs, job_file, "-w", "2", "-r", str(recovery), "-s", SNAPSHOT_S)
    assert again.returncode == 0, again.stderr
    got = sorted(output_rows(tmp_path))
    assert len(got) == len(expected[job])
    assert got == expected[job]
    # the summary counts the whole input, not only what the second run read
    assert f"ev: {EVENTS} events" in again.stderr


def test_a_finished_run_run_again_writes_nothing_more(inputs: Path, tmp_path: Path,
                                                     expected: dict[str, list[str]]) -> None:
    """The same command after a run that finished: it resumes at the end (every source
    partition's snapshot says its input ended) and the sink keeps what it held."""
    job_file = copy_job(inputs, tmp_path, "window")
    command = ("-w", "2", "-r", str(tmp_path / "recovery"), "-s", SNAPSHOT_S)
    first = run(inputs, job_file, *command)
    assert first.returncode == 0, first.stderr
    written = (tmp_path / "out.jsonl").read_bytes()
    again = run(inputs, job_file, *command)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "out.jsonl").read_bytes() == written
    assert sorted(output_rows(tmp_path)) == expected["window"]
    # the summary is the job's, counted once: key groups report their counters only once
    assert again.stderr.splitlines()[0] == first.stderr.splitlines()[0]


def test_rows_on_stdout_are_at_least_once_across_a_resume(
        inputs: Path, tmp_path: Path, expected: dict[str, list[str]]) -> None:
    """A bare SELECT's rows go to stdout, which cannot be cut back: the rows printed after
    the last snapshot before a kill are printed again by the resumed run. Every row is
    printed at least once, none that the embedded run does not write."""
    import json
    from collections import Counter

    text = JOBS["window"].split("CREATE STREAM out")[0] + (
        "SELECT k, window_start, COUNT(*) AS n, SUM(v) AS s FROM ev\n"
        "    GROUP BY k, TUMBLE(100ms);\n")
    job_file = copy_job(inputs, tmp_path, "window", text)
    recovery = tmp_path / "recovery"
    printed = kill_after_snapshots(inputs, job_file, recovery, "-w", "2")
    assert printed
    again = run(inputs, job_file, "-w", "2", "-r", str(recovery), "-s", SNAPSHOT_S)
    assert again.returncode == 0, again.stderr

    def canonical(lines: list[str]) -> Counter[str]:
        return Counter(json.dumps(json.loads(line), sort_keys=True) for line in lines)

    got = canonical((printed + again.stdout).splitlines())
    want = canonical(expected["window"])
    assert set(got) == set(want)
    assert all(got[row] >= count for row, count in want.items())


@pytest.mark.parametrize("resume", [("-w", "4"), ("-p", "2")], ids=["-w 4", "-p 2"])
def test_a_run_killed_on_two_workers_resumes_on_another_number(
        inputs: Path, tmp_path: Path, expected: dict[str, list[str]],
        resume: tuple[str, str]) -> None:
    """Rescaling from a checkpoint: bytewax keeps state per key (here a key group) and
    hands each to whichever worker owns it in the resumed cluster, which keeps the
    folder's 8 key groups (4 per worker of the run that wrote it; its own default would
    be 16)."""
    job_file = copy_job(inputs, tmp_path, "window")
    recovery = tmp_path / "recovery"
    kill_after_snapshots(inputs, job_file, recovery, "-w", "2")
    assert 0 < partial_rows(tmp_path) < len(expected["window"])
    resumes_exactly_once(inputs, job_file, tmp_path, expected["window"], *resume,
                         "-r", str(recovery), "-s", SNAPSHOT_S)


@pytest.mark.parametrize("job", ["window into Parquet", "window into JSON Lines parts"],
                         ids=["Parquet", "JSON Lines"])
@pytest.mark.parametrize("resume", [("-p", "2"), ("-w", "1")], ids=["-p 2", "-w 1"])
def test_a_folder_of_parts_written_by_each_process_resumes_exactly_once(
        inputs: Path, tmp_path: Path, expected: dict[str, list[str]],
        resume: tuple[str, str], job: str) -> None:
    """A folder of part files is written by every process of a `-p 2` cluster, each its
    own parts (part-w0000-..., part-w0001-...) with the rows its key groups made, and
    each cuts back its own share after a kill: the same command resumes exactly once, and
    so does one process, which keeps the folder's two writers."""
    job_file = copy_job(inputs, tmp_path, job)
    recovery = tmp_path / "recovery"
    kill_after_snapshots(inputs, job_file, recovery, "-p", "2")
    writers = {part.name.split("-")[1] for part in sink_parts(tmp_path)}
    assert writers == {"w0000", "w0001"}
    assert 0 < partial_rows(tmp_path) < len(expected[job])
    resumes_exactly_once(inputs, job_file, tmp_path, expected[job],
                         *resume, "-r", str(recovery), "-s", SNAPSHOT_S)
    assert {part.name.split("-")[1] for part in sink_parts(tmp_path)} == writers


@pytest.mark.parametrize("resume", [("-p", "2"), ("-w", "1")], ids=["-p 2", "-w 1"])
def test_a_source_read_as_key_shares_resumes_exactly_once(
        inputs: Path, tmp_path: Path, expected: dict[str, list[str]],
        resume: tuple[str, str]) -> None:
    """An Arrow file on `-p 2` is read whole by both processes, each keeping its own key
    groups' rows: each share's position is kept, and the same command resumes exactly
    once; so does one process, reading both shares (and routing nothing: its one worker
    holds every key group)."""
    from frys.engine.scaleout.cluster import check_recovery

    job = "window from Arrow"
    job_file = copy_job(inputs, tmp_path, job)
    recovery = tmp_path / "recovery"
    kill_after_snapshots(inputs, job_file, recovery, "-p", "2")
    assert check_recovery(recovery).source_parts == {
        "file:ev.arrow": ("keys=0/2:1", "keys=1/2:1")}
    assert 0 < partial_rows(tmp_path) < len(expected[job])
    again = resumes_exactly_once(inputs, job_file, tmp_path, expected[job], *resume,
                                 "-r", str(recovery), "-s", SNAPSHOT_S)
    assert f"ev: {EVENTS} events" in again.stderr  # each row counted once, by its share


def test_a_stateless_query_resumes_exactly_once_and_counts_its_rows_once(
        inputs: Path, tmp_path: Path, expected: dict[str, list[str]]) -> None:
    """A filter killed mid-run resumes exactly once, and the summary counts the rows it
    wrote before the kill too: it counts them batch by batch into the summary's sink,
    which is snapshotted (a count kept until the end was lost on a resume)."""
    job = "filter"
    job_file = copy_job(inputs, tmp_path, job)
    recovery = tmp_path / "recovery"
    # (a filter has little to do per batch: killed after its first snapshot, mid-run)
    kill_after_snapshots(inputs, job_file, recovery, "-w", "2", epochs=1)
    assert 0 < partial_rows(tmp_path) < len(expected[job])
    again = resumes_exactly_once(inputs, job_file, tmp_path, expected[job],
                                 "-w", "2", "-r", str(recovery), "-s", SNAPSHOT_S)
    assert f"ev: {EVENTS} events; out: {len(expected[job])} events" in again.stderr, (
        again.stderr)


@pytest.mark.parametrize("cluster", [("-w", "2"), ("-p", "2")], ids=["-w 2", "-p 2"])
def test_a_resume_with_other_key_groups_is_refused_in_one_line(
        inputs: Path, tmp_path: Path, cluster: tuple[str, str]) -> None:
    """State kept per key group cannot move to another number of groups: a resume keeps
    the folder's unless told another, which is refused before
    bytewax starts (in a cluster of processes GroupLogic._restore's error would be lost in
    a panic), naming the folder and both assignments, the output left as it was."""
    job_file = copy_job(inputs, tmp_path, "window")
    recovery = tmp_path / "recovery"
    kill_after_snapshots(inputs, job_file, recovery, "-w", "2")
    before = (tmp_path / "out.jsonl").read_bytes()
    # (two workers: 8 groups, 4 per worker by default)
    refused = run(inputs, job_file, *cluster, "-r", str(recovery), "--key-groups", "16")
    assert refused.returncode == 1, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert lines[0].startswith(f"frys: cannot resume from the recovery folder {recovery}:")
    assert "key-group assignment 8/" in lines[0] and "this run uses 16/" in lines[0]
    assert (tmp_path / "out.jsonl").read_bytes() == before


@pytest.mark.parametrize("resume", [("-w", "4"), ("-p", "2", "--split-bytes", "50000")],
                         ids=["-w 4", "-p 2 other stripes"])
def test_a_resume_reads_sources_as_the_run_that_wrote_the_folder(
        inputs: Path, tmp_path: Path, expected: dict[str, list[str]],
        resume: tuple[str, ...]) -> None:
    """Source positions are kept per partition: a resume on another number of workers or
    with other stripes reads each source as the run that wrote the folder did (here two
    partitions of 300 kB stripes, where the resume alone would read the file whole or in
    four), and the output is exactly once."""
    job_file = copy_job(inputs, tmp_path, "window")
    recovery = tmp_path / "recovery"
    kill_after_snapshots(inputs, job_file, recovery, "-w", "2", "--split-bytes", "300000")
    assert 0 < partial_rows(tmp_path) < len(expected["window"])
    # (a partition the folder has no position for would read its stripes again: doubles)
    resumes_exactly_once(inputs, job_file, tmp_path, expected["window"], *resume,
                         "-r", str(recovery), "-s", SNAPSHOT_S)


def test_a_changed_job_is_refused_the_state_of_the_old_one(inputs: Path,
                                                            tmp_path: Path) -> None:
    """Snapshots are kept per step; a changed job's steps are other steps: refused before
    bytewax starts rather than hand a query another's state."""
    job_file = copy_job(inputs, tmp_path, "window")
    recovery = tmp_path / "recovery"
    kill_after_snapshots(inputs, job_file, recovery, "-w", "2")
    before = (tmp_path / "out.jsonl").read_bytes()
    text = job_file.read_text()
    assert "TUMBLE(100ms)" in text
    job_file.write_text(text.replace("TUMBLE(100ms)", "TUMBLE(200ms)"))
    refused = run(inputs, job_file, "-w", "2", "-r", str(recovery))
    assert refused.returncode == 1, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "it holds the state of another job" in lines[0], lines
    assert (tmp_path / "out.jsonl").read_bytes() == before


def test_sigterm_to_a_recovering_cluster_stops_it_and_the_same_command_resumes(
        inputs: Path, tmp_path: Path, expected: dict[str, list[str]]) -> None:
    """With -r, a stop asked for (SIGTERM to the launcher, passed to its processes) stops
    them where they are, exit 0, saying how to go on; the same command resumes, exactly
    once."""
    job_file = copy_job(inputs, tmp_path, "window")
    recovery = tmp_path / "recovery"
    command = ("-p", "2", "-r", str(recovery), "-s", SNAPSHOT_S)
    process = start(inputs, job_file, *command)
    try:
        wait_for_snapshots(process, recovery)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "stopped by SIGTERM before the end of the input; run the same command" in err
    resumes_exactly_once(inputs, job_file, tmp_path, expected["window"], *command)


# ------------------------------------------------------------------ failures


def children(pid: int) -> list[int]:
    found: list[int] = []
    for listing in glob.glob(f"/proc/{pid}/task/*/children"):
        with open(listing) as file:
            found += [int(child) for child in file.read().split()]
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def cluster_after_snapshots(inputs: Path, job: Path, recovery: Path, command: tuple[str, ...]
                            ) -> tuple[subprocess.Popen[str], list[int]]:
    """A `-p 2` cluster started with `command`, once its snapshots are coming: the
    launcher and its two processes (the launcher killed if that never happens)."""
    parent = start(inputs, job, *command)
    try:
        wait_for_snapshots(parent, recovery)
        processes = children(parent.pid)
        assert len(processes) == 2
    except BaseException:
        parent.kill()
        parent.communicate()
        raise
    return parent, processes


@pytest.mark.parametrize("victim", [0, 1])
def test_a_process_killed_fails_the_run_at_once_and_a_rerun_recovers(
        inputs: Path, tmp_path: Path, expected: dict[str, list[str]], victim: int) -> None:
    """kill -9 of one process of a `-p 2` cluster: the parent stops the other and fails
    within a second, naming the process and the signal; the same command again resumes
    from the last snapshot, exactly once."""
    job_file = copy_job(inputs, tmp_path, "window")
    recovery = tmp_path / "recovery"
    command = ("-p", "2", "-r", str(recovery), "-s", SNAPSHOT_S)
    parent, processes = cluster_after_snapshots(inputs, job_file, recovery, command)
    try:
        killed_at = time.monotonic()
        os.kill(processes[victim], signal.SIGKILL)
        _, err = parent.communicate(timeout=30)
        took = time.monotonic() - killed_at
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.communicate()
    assert parent.returncode == 1, err
    assert took < 3, took
    assert f"process {victim} of 2 was killed by signal 9 (SIGKILL)" in err
    assert "run the same command again" in err
    assert "Traceback" not in err
    assert not [pid for pid in processes if running(pid)]
    assert 0 < partial_rows(tmp_path) < len(expected["window"])
    resumes_exactly_once(inputs, job_file, tmp_path, expected["window"], *command)


def test_the_launcher_killed_its_processes_stop_and_a_rerun_recovers(
        inputs: Path, tmp_path: Path, expected: dict[str, list[str]]) -> None:
    """kill -9 of the `frys run -p 2` parent itself: its processes stop at once (they
    hold a pipe only the parent writes, and end when it closes) rather than run on beside
    the restart, which then resumes from the last snapshot, exactly once."""
    job_file = copy_job(inputs, tmp_path, "window")
    recovery = tmp_path / "recovery"
    command = ("-p", "2", "-r", str(recovery), "-s", SNAPSHOT_S)
    parent, processes = cluster_after_snapshots(inputs, job_file, recovery, command)
    parent.kill()
    parent.communicate()
    deadline = time.monotonic() + 3
    while [pid for pid in processes if running(pid)]:
        assert time.monotonic() < deadline, "the processes ran on without their launcher"
        time.sleep(0.02)
    assert 0 < partial_rows(tmp_path) < len(expected["window"])
    resumes_exactly_once(inputs, job_file, tmp_path, expected["window"], *command)


@pytest.mark.parametrize("cluster", [("-w", "1"), ("-w", "2"), ("-p", "2")],
                         ids=["-w 1", "-w 2", "-p 2"])
@pytest.mark.parametrize("failure", ["open", "write"])
def test_a_sink_that_fails_fails_the_run_with_its_error(
        inputs: Path, tmp_path: Path, cluster: tuple[str, str], failure: str) -> None:
    """A step raising ends the run with the job's error at the stream's line, no Python
    traceback, no hang: a sink partition that cannot open (its file is a folder), or
    whose writes fail (its file is /dev/full: ENOSPC). bytewax closes the failed
    partition while unwinding; a second error there used to abort the process silently
    ("thread caused non-unwinding panic")."""
    target = "out-dir.jsonl" if failure == "open" else "out-full.jsonl"
    job_file = copy_job(inputs, tmp_path, "window",
                        JOBS["window"].replace("file:out.jsonl", f"file:{target}"))
    if failure == "open":
        (tmp_path / target).mkdir()
        reason = "cannot open the sink of stream out (file:out-dir.jsonl): Is a directory"
    else:
        (tmp_path / target).symlink_to("/dev/full")
        reason = ("cannot write the sink of stream out (file:out-full.jsonl): No space left"
                  " on device")
    began = time.monotonic()
    failed = run(inputs, job_file, *cluster, timeout=60)
    assert failed.returncode == 1, failed.stderr
    assert time.monotonic() - began < 30
    line = job_file.read_text().splitlines().index(
        "CREATE STREAM out (k INT, window_start TIMESTAMP, n INT, s INT)") + 1
    assert failed.stderr.count(f"{job_file}:{line}:15: error: {reason}") == 1, failed.stderr
    assert "Traceback" not in failed.stderr, failed.stderr
    # nor bytewax's panic message in front of it (engine/scaleout/step_panics.py); on -p 2,
    # said once by the process that met it: not followed by its peer's account of losing
    # it, nor by the launcher's exit statuses
    assert "panicked" not in failed.stderr, failed.stderr
    assert "of 2 stopped" not in failed.stderr, failed.stderr
    assert "exited with status" not in failed.stderr, failed.stderr


# a stateless query feeding a pattern that lists the events of each match: the filter's
# rows are numbered as it writes them (MATCH_IDS), so a resume must go on numbering where
# the snapshot left off. It runs in the source's partitions, or (after a window) in the
# window's key groups
NUMBERED_THROUGH_A_FILTER = {
    "after a source": """
CREATE STREAM ev (k INT, v INT, ts TIMESTAMP)
    WITH (event_time = ts, watermark = 50ms, source = 'file:ev.jsonl');
CREATE STREAM mid (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, watermark = 50ms);
CREATE STREAM out WITH (sink = 'file:out.jsonl');
INSERT INTO mid SELECT k, v, ts FROM ev WHERE v > 9;
INSERT INTO out SELECT a.k, a.v AS first, b.v AS second, MATCH_IDS AS ids FROM mid
    PARTITION BY k PATTERN (a -> b) WITHIN 200ms DEFINE b AS b.v > a.v + 80;
""",
    "after a window": """
CREATE STREAM ev (k INT, v INT, ts TIMESTAMP)
    WITH (event_time = ts, watermark = 50ms, source = 'file:ev.jsonl');
CREATE STREAM w (k INT, window_start TIMESTAMP, s INT) WITH (event_time = window_start);
CREATE STREAM mid (k INT, s INT, ts TIMESTAMP) WITH (event_time = ts, watermark = 0ms);
CREATE STREAM out WITH (sink = 'file:out.jsonl');
INSERT INTO w SELECT k, window_start, SUM(v) AS s FROM ev GROUP BY k, TUMBLE(30ms);
INSERT INTO mid SELECT k, s, window_start AS ts FROM w WHERE s > 50;
INSERT INTO out SELECT a.k, a.s AS first, b.s AS second, MATCH_IDS AS ids FROM mid
    PARTITION BY k PATTERN (a -> b) WITHIN 300ms DEFINE b AS b.s > a.s + 20;
"""}


@pytest.mark.parametrize("where", sorted(NUMBERED_THROUGH_A_FILTER))
def test_a_stateless_querys_numbering_and_watermark_go_on_across_a_resume(
        inputs: Path, tmp_path: Path, where: str) -> None:
    """A filter's clocks (the number of its next row, its watermark) are kept in the
    snapshot of the step it runs in (engine/scaleout/chained.py): killed mid-run and
    resumed, the pattern downstream lists the same MATCH_IDS as an uninterrupted run on
    the same cluster (a filter that numbered its rows from 0 again gave events numbers
    already given)."""
    text = NUMBERED_THROUGH_A_FILTER[where]
    whole = copy_job(inputs, tmp_path / "whole", "filter", text)
    uninterrupted = run(inputs, whole, "-w", "2")
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    rows = sorted(output_rows(whole.parent))
    assert len(rows) > 100
    job_file = copy_job(inputs, tmp_path / "killed", "filter", text)
    recovery = tmp_path / "recovery"
    kill_after_snapshots(inputs, job_file, recovery, "-w", "2",
                         epochs=SNAPSHOTS_BEFORE_KILL)
    assert 0 < partial_rows(job_file.parent) < len(rows)
    resumes_exactly_once(inputs, job_file, job_file.parent, rows,
                         "-w", "2", "-r", str(recovery), "-s", SNAPSHOT_S)
