"""Growing sources (issue 15): `file:...?follow=true`, `wal:` logs followed as they grow,
`stdin:`, the run loop that polls them without blocking (registry.IDLE), and how a run of
them ends: `--exit-when-idle`, signals, the true end of stdin. Real files, real logs, real
`frys run` processes; the followed file's own behaviour (appends, partial lines, rotations,
resume) is driven step by step at the source's IDLE points, so it needs no timing."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
from brokers import kill_while_writing
from hypothesis import given, settings
from hypothesis import strategies as st

from frys import Pipeline
from frys.connectors import registry
from frys.connectors.decode import DeadLetter, StreamDecoder
from frys.connectors.file_follow import FollowedJsonlFile
from frys.connectors.jsonl import JsonlFileSource
from frys.connectors.registry import IDLE, ConnectorError, UriProblem, check_uri
from frys.connectors.uris import WalUri
from frys.connectors.wal_topic import WalJournal, WalSource
from frys.dsl.types import FrysType

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

COLUMNS = {"k": FrysType.STRING, "v": FrysType.INT, "ts": FrysType.TIMESTAMP}


def decoder() -> StreamDecoder:
    return StreamDecoder("ev", dict(COLUMNS), "ts")


def line(v: int, ts: int | None = None, k: str = "a") -> bytes:
    return json.dumps({"k": k, "v": v, "ts": 1000 + v * 10 if ts is None else ts}).encode() \
        + b"\n"


def lines(values: range) -> bytes:
    return b"".join(line(v) for v in values)


def checkpointed(value: object) -> object:
    """`value` as a checkpoint keeps it (msgpack)."""
    return msgspec.msgpack.decode(msgspec.msgpack.encode(value))


def follow(source: registry.Source, actions: list[Callable[[], None]],
           positions: list[object] | None = None, counts: list[tuple[int, int]] | None = None
           ) -> tuple[list[int], list[DeadLetter]]:
    """Read `source`; at each IDLE do the next action (its position first kept in
    `positions`, and the numbers of values and dead letters read by then in `counts`), and
    stop at the IDLE after the last one. The values of `v`, and the dead letters."""
    values: list[int] = []
    letters: list[DeadLetter] = []
    pending = list(actions)
    batches = source.batches()
    assert isinstance(batches, Iterator)
    try:
        for item in batches:
            if item is IDLE:
                if not pending:
                    break
                if positions is not None:
                    positions.append(checkpointed(source.position()))
                if counts is not None:
                    counts.append((len(values), len(letters)))
                pending.pop(0)()
                continue
            batch, dead = item
            values += batch["v"].to_list()
            letters += dead
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    return values, letters


def append(path: Path, data: bytes) -> Callable[[], None]:
    def act() -> None:
        with open(path, "ab") as file:
            file.write(data)
    return act


def followed(path: Path) -> FollowedJsonlFile:
    return FollowedJsonlFile(path, decoder(), str(path))


# ------------------------------------------------------------------ file:?follow=true


def test_a_followed_file_yields_idle_at_its_end_and_then_what_is_appended(
        tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    path.write_bytes(lines(range(3)))
    source = followed(path)
    assert source.growing
    values, _ = follow(source, [append(path, lines(range(3, 5))),
                                append(path, lines(range(5, 6)))])
    assert values == [0, 1, 2, 3, 4, 5]


def test_a_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    whole = line(1)
    path.write_bytes(line(0) + whole[:7])
    seen: list[list[int]] = []
    positions: list[object] = []
    source = followed(path)

    def look_then(action: Callable[[], None]) -> Callable[[], None]:
        def act() -> None:
            seen.append(follow_values[:])
            action()
        return act

    follow_values: list[int] = []
    batches = source.batches()
    pending = [append(path, whole[7:-1]), append(path, b"\n")]
    for item in batches:
        if item is IDLE:
            if not pending:
                break
            positions.append(checkpointed(source.position()))
            seen.append(follow_values[:])
            pending.pop(0)()
            continue
        follow_values += item[0]["v"].to_list()
    batches.close()  # type: ignore[attr-defined]
    # at each IDLE before the newline came, only line 0 was read, and the position was
    # the start of the partial line (a resumed run reads it whole)
    assert seen == [[0], [0]] and follow_values == [0, 1]
    assert [at["offset"] for at in positions] == [len(line(0))] * 2  # type: ignore[index]
    rest, _ = follow(resume(path, positions[0]), [])
    assert rest == [1]


def test_rotation_by_rename_reads_the_old_files_rest_then_the_new_file(
        tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    path.write_bytes(lines(range(3)))

    def rotate() -> None:
        os.rename(path, tmp_path / "ev.jsonl.1")
        # the writer still had the old file open: its last lines go there
        append(tmp_path / "ev.jsonl.1", lines(range(3, 5)) + line(5)[:-1])()
        path.write_bytes(lines(range(6, 8)))

    values, _ = follow(followed(path), [rotate, append(path, lines(range(8, 9)))])
    # the old file's last line, without its newline, is taken as it is: that file is done
    assert values == list(range(9))


def test_a_followed_file_resumes_at_every_batch_boundary_across_a_rotation(
        tmp_path: Path) -> None:
    """A checkpoint may fall at any batch boundary, between the old file's last line
    (without its newline) and the new file too: resumed there, the rest is exactly what
    followed."""
    path = tmp_path / "ev.jsonl"
    path.write_bytes(lines(range(3)))
    rotated = tmp_path / "ev.jsonl.1"

    def rotate() -> None:
        append(path, line(3)[:-1])()  # the old file ends without a newline
        os.rename(path, rotated)
        path.write_bytes(lines(range(4, 6)))

    source = followed(path)
    batches = source.batches()
    boundaries: list[tuple[object, int]] = []  # (position, values read by then)
    values: list[int] = []
    pending = [rotate, append(path, lines(range(6, 8)))]
    for item in batches:
        if item is IDLE:
            if not pending:
                break
            pending.pop(0)()
            continue
        values += item[0]["v"].to_list()
        boundaries.append((checkpointed(source.position()), len(values)))
    batches.close()  # type: ignore[attr-defined]
    assert values == list(range(8))
    assert len(boundaries) == 4  # the first lines, line 3, the new file, its appended lines
    for position, read in boundaries:
        rest, _ = follow(resume(path, position), [])
        assert values[:read] + rest == values, position


def test_a_file_renamed_away_is_followed_until_a_new_one_appears(tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    path.write_bytes(lines(range(2)))
    old = tmp_path / "old.jsonl"
    values, _ = follow(followed(path), [
        lambda: os.rename(path, old), append(old, lines(range(2, 4))),
        lambda: path.write_bytes(lines(range(4, 5)))])
    assert values == list(range(5))


def test_rotation_by_truncation_reads_the_file_again_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    path.write_bytes(lines(range(4)))
    values, letters = follow(followed(path), [
        lambda: path.write_bytes(b""),  # copytruncate: the same file, emptied
        append(path, lines(range(10, 12))),
        # cut and written again past the old offset between two looks: caught by the bytes
        # before the offset
        lambda: path.write_bytes(lines(range(20, 27)))])
    assert values == [0, 1, 2, 3, 10, 11, *range(20, 27)]
    assert letters == []


def test_dead_letters_of_a_followed_file_name_its_lines(tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    path.write_bytes(line(0) + b"{broken\n")
    _, letters = follow(followed(path), [append(path, line(2) + b"not json\n")])
    assert [letter.position for letter in letters] == [f"{path}:2", f"{path}:4"]


def resume(path: Path, position: object) -> FollowedJsonlFile:
    source = followed(path)
    source.seek(position)
    return source


def test_a_followed_file_resumes_at_its_position_across_a_rotation(tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    path.write_bytes(lines(range(3)))
    positions: list[object] = []

    def rotate() -> None:
        os.rename(path, tmp_path / "ev.jsonl.1")
        path.write_bytes(lines(range(5, 7)))

    head, _ = follow(followed(path), [append(path, lines(range(3, 5))), rotate, lambda: None],
                     positions)
    assert head == list(range(7))
    # each IDLE's position, resumed, reads exactly what came after it
    for at, expected in zip(positions, ([3, 4, 5, 6], [5, 6], []), strict=True):
        if at == positions[0]:  # taken before the rotation: that file is ev.jsonl.1 now
            assert isinstance(at, dict) and "inode" in at
        rest, _ = follow(resume(path, at), [])
        assert rest == expected


def test_a_file_rotated_while_the_job_was_down_is_found_again_in_its_folder(
        tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    path.write_bytes(lines(range(3)))
    positions: list[object] = []
    follow(followed(path), [lambda: None], positions)
    # down: the writer appends, the file is rotated, the writer goes on in a new file
    append(path, lines(range(3, 5)))()
    os.rename(path, tmp_path / "ev.jsonl.1")
    path.write_bytes(lines(range(5, 7)))
    rest, _ = follow(resume(path, positions[0]), [])
    assert rest == [3, 4, 5, 6]  # none read twice, none skipped


def test_a_rotated_file_that_is_gone_is_refused_on_resume(tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    path.write_bytes(lines(range(3)))
    positions: list[object] = []
    follow(followed(path), [lambda: None], positions)
    (tmp_path / "new.jsonl").write_bytes(lines(range(5, 7)))
    os.replace(tmp_path / "new.jsonl", path)  # the file read is gone
    with pytest.raises(ConnectorError, match=r"cannot resume the followed file .*ev\.jsonl "
                                             r"\(stream ev\) at byte \d+, line 4: it was "
                                             "replaced since the checkpoint"):
        resume(path, positions[0])


def test_a_file_truncated_while_the_job_was_down_is_refused_on_resume(tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    path.write_bytes(lines(range(3)))
    positions: list[object] = []
    follow(followed(path), [lambda: None], positions)
    with open(path, "r+b") as file:
        file.truncate(10)
    with pytest.raises(ConnectorError, match=r"shorter than the \d+ bytes already read"):
        resume(path, positions[0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["good", "bad", "blank"]), min_size=1, max_size=40),
       st.lists(st.integers(0, 10_000), max_size=12), st.integers(0, 20))
def test_appended_bytes_cut_anywhere_give_the_rows_of_the_whole_file(
        kinds: list[str], cuts: list[int], resume_at: int) -> None:
    """Whatever pieces the writer appends the file in (lines cut anywhere), the followed
    file yields the rows and dead letters of the whole file read at once; and resumed at
    any of its IDLE positions it yields exactly the rest."""
    content = b"".join(line(n) if kind == "good" else b"{oops\n" if kind == "bad" else b"\n"
                       for n, kind in enumerate(kinds))
    points = sorted({cut % (len(content) + 1) for cut in cuts} | {len(content)})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ev.jsonl"
        path.write_bytes(content)
        whole_source = JsonlFileSource(path, decoder(), str(path))
        whole_values: list[int] = []
        whole_letters: list[str] = []
        for item in whole_source.batches():
            assert item is not IDLE
            whole_values += item[0]["v"].to_list()
            whole_letters += [letter.position for letter in item[1]]

        path.write_bytes(content[: points[0]])
        pieces = [append(path, content[a:b]) for a, b in itertools.pairwise(points)]
        positions: list[object] = []
        counts: list[tuple[int, int]] = []
        values, letters = follow(followed(path), pieces, positions, counts)
        assert values == whole_values
        assert [letter.position for letter in letters] == whole_letters
        if positions:
            at = resume_at % len(positions)
            rest, rest_letters = follow(resume(path, positions[at]), [])
            read, dead = counts[at]
            assert whole_values[:read] + rest == whole_values
            assert whole_letters[:dead] + [x.position for x in rest_letters] == whole_letters


@pytest.mark.parametrize(("uri", "role", "problem"), [
    ("file:x.jsonl?follow=true", "source", None),
    ("file:x.jsonl?follow=false", "source", None),
    ("file:x.jsonl?follow=yes", "source",
     "follow must be true or false in 'file:x.jsonl?follow=yes', not 'yes'"),
    ("file:x.jsonl?folow=true", "source",
     "unknown file: option 'folow' in 'file:x.jsonl?folow=true' (did you mean 'follow'?); "
     "known: follow"),
    ("file:x.jsonl?follow=true", "sink",
     "follow is an option of a file: source, not of a sink ('file:x.jsonl?follow=true')"),
    ("wal:q?follow=false", "source", None),
    ("wal:q?follow=maybe", "source", "follow must be true or false in 'wal:q?follow=maybe', "
                                     "not 'maybe'"),
    ("wal:q?folow=true", "source", "unknown wal: option 'folow' in 'wal:q?folow=true' (did "
                                   "you mean 'follow'?); known: consumer, follow, fsync, "
                                   "retention_bytes, retention_seconds, segment_bytes"),
    ("wal:q?follow=true", "sink", "follow is an option of a wal: source, not of a sink "
                                  "('wal:q?follow=true')"),
    ("stdin:", "source", None),
    ("stdin:?format=jsonl", "source", None),
    ("stdin:?fromat=jsonl", "source", "unknown stdin: option 'fromat' in "
                                      "'stdin:?fromat=jsonl' (did you mean 'format'?); known "
                                      "with format=jsonl: format"),
    ("stdin:data.jsonl", "source", "'stdin:data.jsonl': stdin: takes no path, only options, "
                                   "e.g. 'stdin:?format=jsonl'"),
    ("stdin:", "sink", "connector stdin: cannot be a sink"),
])
def test_the_uri_options_of_growing_sources(uri: str, role: str, problem: str | None) -> None:
    assert check_uri(uri, role) == (None if problem is None else UriProblem.error(problem))


def test_stdin_formats_other_than_the_three_are_refused() -> None:
    assert check_uri("stdin:?format=xml", "source") == UriProblem.error(
        "format must be jsonl, csv, msgpack in 'stdin:?format=xml', not 'xml'")


def test_a_followed_file_in_a_job_names_the_bad_option_at_its_line(tmp_path: Path) -> None:
    job = tmp_path / "job.frysql"
    job.write_text("CREATE STREAM ev (v INT)\n"
                   "    WITH (source = 'file:ev.jsonl?follow=1');\nSELECT v FROM ev;\n")
    run = frys("check", str(job))
    assert run.returncode == 1
    assert "job.frysql:2:11: error: follow must be true or false in " \
           "'file:ev.jsonl?follow=1', not '1'" in run.stdout + run.stderr


# ------------------------------------------------------------------ wal:


def test_a_wal_source_follows_its_log_and_follow_false_ends_at_its_end(tmp_path: Path) -> None:
    journal = WalJournal(tmp_path / "log", "ts")
    journal.append_lines([line(v).rstrip() for v in range(3)])
    following = WalSource(WalUri.parse("wal:log", tmp_path), decoder(), "j.ev")
    assert following.growing
    values, _ = follow(following, [
        lambda: journal.append_lines([line(v).rstrip() for v in range(3, 5)])])
    assert values == [0, 1, 2, 3, 4] and following.position() == 5
    following.close()
    bounded = WalSource(WalUri.parse("wal:log?follow=false", tmp_path), decoder(), "j.other")
    assert not bounded.growing
    items = list(bounded.batches())
    assert IDLE not in items
    assert [v for batch, _ in items for v in batch["v"].to_list()] == [0, 1, 2, 3, 4]
    bounded.close()
    journal.close()


WAL_JOB = """
CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP)
    WITH (event_time = ts, source = 'wal:log{options}');
SELECT k, window_start, COUNT(*) AS n FROM ev GROUP BY k, TUMBLE(1s);
"""


def test_a_job_follows_a_log_another_writer_appends_to(tmp_path: Path) -> None:
    journal = WalJournal(tmp_path / "log", "ts")
    journal.append_lines([line(v, 1000 + v).rstrip() for v in range(3)])
    pipeline = Pipeline.from_text(WAL_JOB.format(options=""), base_dir=tmp_path)
    done = threading.Event()

    def writer() -> None:
        for v in range(3, 6):
            time.sleep(0.05)
            journal.append_lines([line(v, 1000 + v).rstrip()])
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    # idle longer than the writer's pauses, so the run ends only after it has written
    pipeline.run(exit_when_idle=1.0)
    thread.join()
    assert done.is_set()
    assert pipeline.results("select_1").select("k", "n").rows() == [("a", 6)]
    journal.close()


# ------------------------------------------------------------------ frys run

ROOT = Path(__file__).resolve().parent.parent
FOLLOW_JOB = """
CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP)
    WITH (event_time = ts, source = '{source}');
CREATE STREAM out WITH (sink = 'file:out.jsonl');
INSERT INTO out SELECT k, window_start, COUNT(*) AS n, SUM(v) AS s FROM ev
    GROUP BY k, TUMBLE(1s);
"""


def frys(*args: str, stdin: bytes | None = None, timeout: float = 60
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "frys", *args], input=None if stdin is None
                          else stdin.decode(), capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def start(*args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "frys", *args],  # type: ignore[call-overload]
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, **kwargs)


def job_file(folder: Path, source: str = "file:ev.jsonl?follow=true") -> Path:
    job = folder / "job.frysql"
    job.write_text(FOLLOW_JOB.format(source=source))
    return job


def out_rows(folder: Path) -> list[tuple[int, int]]:
    """(window start in ms, count) of each row the job wrote."""
    rows = [json.loads(text) for text in (folder / "out.jsonl").read_text().splitlines()]
    return [(int(row["window_start"][17:19]) * 1000, row["n"]) for row in rows]


def test_exit_when_idle_without_state_ends_the_input_and_every_window_fires(
        tmp_path: Path) -> None:
    job = job_file(tmp_path)
    (tmp_path / "ev.jsonl").write_bytes(line(1, 1000) + line(2, 1500) + line(3, 2500))
    run = frys("run", "--exit-when-idle", "200ms", str(job))
    assert run.returncode == 0, run.stderr
    assert out_rows(tmp_path) == [(1000, 2), (2000, 1)]
    assert run.stderr.startswith("frys: done. ev: 3 events; out: 2 events\n")
    assert run.stderr.endswith("frys: every source idle for 200ms: the input ended there "
                               "(without --state nothing could continue it)\n")


def test_exit_when_idle_with_state_continues_open_windows_in_the_next_run(
        tmp_path: Path) -> None:
    job = job_file(tmp_path)
    data = tmp_path / "ev.jsonl"
    data.write_bytes(line(1, 1000) + line(2, 1500))
    state = str(tmp_path / "state")
    first = frys("run", "--state", state, "--exit-when-idle", "200ms", str(job))
    assert first.returncode == 0, first.stderr
    assert first.stderr.endswith(
        "frys: every source idle for 200ms: stopped at a checkpoint (the input not ended: "
        f"open windows wait); run again with --state {state} to continue\n")
    assert out_rows(tmp_path) == []  # the window is open: nothing fired
    # the window's events straddle the two runs: one row, with the full count
    append(data, line(3, 1700) + line(4, 2500))()
    second = frys("run", "--state", state, "--exit-when-idle", "200ms", str(job))
    assert second.returncode == 0, second.stderr
    assert out_rows(tmp_path) == [(1000, 3)]
    assert "ev: 4 events" in second.stderr  # the counters go on from the checkpoint



def following(folder: Path, *args: str) -> subprocess.Popen:
    """`frys *args` started on the job in `folder`, returned once its first window has
    fired into out.jsonl: it has read the file and is following it."""
    process = start(*args)
    out = folder / "out.jsonl"
    deadline = time.monotonic() + 30
    while not (out.exists() and out.read_text()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return process


def test_sigterm_ends_a_following_job_without_state_cleanly(tmp_path: Path) -> None:
    job = job_file(tmp_path)
    (tmp_path / "ev.jsonl").write_bytes(line(1, 1000) + line(2, 2500))
    process = following(tmp_path, "run", "--no-progress", str(job))
    process.terminate()
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert out_rows(tmp_path) == [(1000, 1), (2000, 1)]  # the input ended: the last fired
    assert err.startswith("frys: done. ev: 2 events")
    assert err.endswith("frys: stopped: the input ended there (without --state nothing "
                        "could continue it)\n")


def test_sigterm_of_a_following_job_with_state_stops_at_a_checkpoint_while_idle(
        tmp_path: Path) -> None:
    job = job_file(tmp_path)
    (tmp_path / "ev.jsonl").write_bytes(line(1, 1000) + line(2, 2500))
    state = str(tmp_path / "state")
    process = following(tmp_path, "run", "--no-progress", "--state", state, str(job))
    process.terminate()
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "frys: stopped at a checkpoint (the input not ended" in err
    assert out_rows(tmp_path) == [(1000, 1)]  # [2s, 3s) waits for the next run


def test_stdin_is_read_as_it_arrives_and_its_end_flushes(tmp_path: Path) -> None:
    job = tmp_path / "job.frysql"
    job.write_text("""
        CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP)
            WITH (event_time = ts, source = 'stdin:');
        SELECT k, window_start, COUNT(*) AS n FROM ev GROUP BY k, TUMBLE(1s);
    """)
    process = start("run", "--no-progress", str(job), stdin=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write((line(1, 1000) + line(2, 1200) + line(3, 2100)).decode())
    process.stdin.flush()
    # the first window fires while stdin is still open: read as it arrives
    first = json.loads(process.stdout.readline())
    assert (first["window_start"], first["n"]) == ("1970-01-01T00:00:01.000Z", 2)
    process.stdin.write(line(4, 2200).decode() + "not json\n" + line(5, 3000).decode()[:-1])
    process.stdin.close()  # the true end of the input: every window fires
    process.stdin = None  # (closed: communicate must not flush it)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert [(row["window_start"][17:19], row["n"]) for row in map(json.loads,
            out.splitlines())] == [("02", 2), ("03", 1)]
    assert "ev: 5 events" in err and "stdin:5: malformed JSON" in err


def test_a_resumed_stdin_job_reads_the_new_stdin(tmp_path: Path) -> None:
    job = tmp_path / "job.frysql"
    job.write_text(FOLLOW_JOB.format(source="stdin:"))
    state = str(tmp_path / "state")
    first = start("run", "--no-progress", "--state", state, "--exit-when-idle", "300ms",
                  str(job), stdin=subprocess.PIPE)
    assert first.stdin is not None
    first.stdin.write((line(1, 1000) + line(2, 1500)).decode())
    first.stdin.flush()
    first.wait(timeout=30)  # idle with stdin still open: a checkpoint
    assert first.stderr is not None
    err = first.stderr.read()
    first.stdin.close()
    assert first.returncode == 0, err
    assert "stopped at a checkpoint" in err and out_rows(tmp_path) == []
    second = frys("run", "--state", state, str(job), stdin=line(3, 1900) + line(4, 2500))
    assert second.returncode == 0, second.stderr
    assert out_rows(tmp_path) == [(1000, 3), (2000, 1)]


def test_exit_when_idle_is_a_positive_duration() -> None:
    run = frys("run", "--exit-when-idle", "soon", "job.frysql")
    assert run.returncode == 2
    assert "argument --exit-when-idle: 'soon' is not a positive duration" in run.stderr


def test_pipeline_run_exit_when_idle_with_and_without_state(tmp_path: Path) -> None:
    (tmp_path / "ev.jsonl").write_bytes(line(1, 1000) + line(2, 2500))
    text = FOLLOW_JOB.format(source="file:ev.jsonl?follow=true")
    plain = Pipeline.from_text(text, base_dir=tmp_path)
    plain.run(exit_when_idle="100ms")
    assert out_rows(tmp_path) == [(1000, 1), (2000, 1)]
    kept = Pipeline(text, base_dir=tmp_path, state=tmp_path / "state")
    kept.run(exit_when_idle=0.1)
    assert out_rows(tmp_path) == [(1000, 1)]  # stopped at a checkpoint: [2s, 3s) waits
    with pytest.raises(ValueError, match="keeps no state"):
        kept.stop()  # the idle stop released the state folder, as stop() does
    append(tmp_path / "ev.jsonl", line(3, 2600) + line(4, 3100))()
    again = Pipeline.resume(tmp_path / "state", base_dir=tmp_path)
    again.run(exit_when_idle=0.1)
    assert out_rows(tmp_path) == [(1000, 1), (2000, 2)]
    for bad in (0, -1, "soon", True):
        with pytest.raises(ValueError, match="exit_when_idle must be a positive"):
            plain.run(exit_when_idle=bad)  # type: ignore[arg-type]


def test_a_bounded_source_ends_and_a_followed_one_goes_on(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(line(1, 1000, "a") + line(2, 1100, "a"))
    (tmp_path / "b.jsonl").write_bytes(line(3, 1000, "b"))
    text = """
        CREATE STREAM a (k STRING, v INT, ts TIMESTAMP)
            WITH (event_time = ts, source = 'file:a.jsonl');
        CREATE STREAM b (k STRING, v INT, ts TIMESTAMP)
            WITH (event_time = ts, source = 'file:b.jsonl?follow=true');
        SELECT k, v FROM a;
        SELECT k, v FROM b;
    """
    pipeline = Pipeline.from_text(text, base_dir=tmp_path)
    started = threading.Event()

    def writer() -> None:
        started.wait(10)
        time.sleep(0.1)
        append(tmp_path / "b.jsonl", line(4, 1200, "b"))()

    thread = threading.Thread(target=writer)
    thread.start()
    pipeline.subscribe("a", lambda batch: started.set())
    pipeline.run(exit_when_idle=1.5)  # (far longer than the writer takes)
    thread.join()
    assert pipeline.results("select_1")["v"].to_list() == [1, 2]
    assert pipeline.results("select_2")["v"].to_list() == [3, 4]


# ------------------------------------------------------------------ a crash trial

WRITER = """
import json, sys, time
path, count = sys.argv[1], int(sys.argv[2])
with open(path, "ab", buffering=0) as file:
    for n in range(count):
        text = json.dumps({"k": "k%d" % (n % 3), "v": n, "ts": 1000 + n * 7}) + "\\n"
        cut = n % 5  # lines written in two pieces: a partial last line now and then
        file.write(text[:cut].encode())
        file.write(text[cut:].encode())
        if n % 40 == 39:
            time.sleep(0.02)
"""


def test_a_following_job_killed_again_and_again_writes_what_one_run_writes(
        tmp_path: Path) -> None:
    """SIGKILL `frys run --state` while it follows a file another process appends to;
    start it again each time; once the writer is done and the job has gone idle, its
    output equals one uninterrupted run's over the whole file."""

    count = 3000
    whole = tmp_path / "whole"
    whole.mkdir()
    subprocess.run([sys.executable, "-c", WRITER, str(whole / "ev.jsonl"), str(count)],
                   check=True)
    done = frys("run", "--state", str(whole / "state"), "--exit-when-idle", "300ms",
                str(job_file(whole)))
    assert done.returncode == 0, done.stderr
    expected = sorted((whole / "out.jsonl").read_text().splitlines())
    assert len(expected) > 10

    trial = tmp_path / "trial"
    trial.mkdir()
    job = job_file(trial)
    (trial / "ev.jsonl").write_bytes(b"")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(trial / "ev.jsonl"),
                               str(count)])
    kills = kill_while_writing(job, trial / "state", writer, seed=11, lifetime=(0.4, 1.2))
    assert kills >= 1
    assert sorted((trial / "out.jsonl").read_text().splitlines()) == expected


def test_checkpoints_due_by_time_are_taken_while_every_source_is_idle(tmp_path: Path) -> None:
    from frys.checkpointing import Checkpointer, StopRequested, open_state
    from frys.compiler import compile_text
    from frys.engine.planner import plan
    from frys.engine.runtime import Runtime

    (tmp_path / "ev.jsonl").write_bytes(line(1, 1000))
    text = FOLLOW_JOB.format(source="file:ev.jsonl?follow=true")
    store, _ = open_state(tmp_path / "state", text)
    runtime = Runtime(plan(compile_text(text, "job.frysql")), tmp_path)
    checkpointer = Checkpointer(store, runtime, every_ms=20, exit_when_idle_ms=300)
    with pytest.raises(StopRequested) as stop:
        runtime.run(after_batch=checkpointer.after_batch)
    store.close()
    assert stop.value.idle_ms == 300
    # one batch was read; the others came from the idle rounds' boundaries (by time), and
    # the last from the idle stop
    assert checkpointer.taken >= 3
    assert runtime.idle_ms() >= 300
