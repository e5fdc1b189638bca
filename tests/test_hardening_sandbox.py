"""What a job file may touch (the hardening issue's sandbox item): with `--sandbox DIR` /
`RuntimeOptions(allowed_paths=...)` every file a job reads or writes must resolve, symlinks
followed, inside the allowed folders; a job asking for anything else is refused before any
file is opened, created or truncated, with an error naming the stream, the URI, the resolved
path and the sandbox at the option's line and column."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frys import Pipeline
from frys.cli import main
from frys.connectors.sandbox import OutsideSandbox, Sandbox
from frys.connectors.wal import WriteAheadLog
from frys.engine.runtime import RuntimeOptions

FRYS = [sys.executable, "-m", "frys.cli"]
EVENTS = '{"k": "a", "ts": 1000}\n{"k": "b", "ts": 2000}\n'
PRECIOUS = b"a file outside the sandbox that no job may read or truncate\n"


@pytest.fixture
def box(tmp_path: Path) -> Path:
    """The sandbox: a job folder with its input; beside it, `outside/` with a secret input
    and a file a sink must not truncate."""
    folder = tmp_path / "box"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "in.jsonl").write_text(EVENTS)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jsonl").write_bytes(PRECIOUS)
    (outside / "victim.jsonl").write_bytes(PRECIOUS)
    return folder


def job(source: str = "file:data/in.jsonl", sink: str = "file:out/result.jsonl",
        queue: str = "") -> str:
    return (f"CREATE STREAM ev (k STRING, ts TIMESTAMP)\n"
            f"    WITH (event_time = ts, source = '{source}');\n"
            f"CREATE STREAM result WITH (sink = '{sink}'{queue});\n"
            f"INSERT INTO result SELECT k, ts FROM ev;\n")


def pipeline(box: Path, text: str, **options: object) -> Pipeline:
    return Pipeline.from_text(text, base_dir=box,
                              options=RuntimeOptions(allowed_paths=(box,), **options))


def refusal(box: Path, text: str, **options: object) -> str:
    with pytest.raises(OutsideSandbox) as raised:
        pipeline(box, text, **options)
    return str(raised.value)


def test_without_a_sandbox_a_job_reads_and_writes_anywhere(box: Path) -> None:
    # the default: the job file is trusted like a script
    outside = box.parent / "outside"
    text = job(source=f"file:{outside / 'secret.jsonl'}", sink="file:../outside/new.jsonl")
    (outside / "secret.jsonl").write_text(EVENTS)
    Pipeline.from_text(text, base_dir=box).run()
    assert (outside / "new.jsonl").read_text().count("\n") == 2


def test_a_source_outside_the_sandbox_is_refused(box: Path) -> None:
    secret = box.parent / "outside" / "secret.jsonl"
    message = refusal(box, job(source=f"file:{secret}"))
    assert message == (
        f"<query>:2:28: error: stream ev: source 'file:{secret}' resolves to {secret}, "
        f"outside the sandbox {box}\n"
        f"        WITH (event_time = ts, source = 'file:{secret}');\n"
        f"                               {'^' * len(f'source = {chr(39)}file:{secret}{chr(39)}')}")


def test_a_sink_outside_is_refused_and_nothing_is_created_or_truncated(box: Path) -> None:
    victim = box.parent / "outside" / "victim.jsonl"
    message = refusal(box, job(sink="file:../outside/victim.jsonl", queue=", queue = "
                               "'persistent'"))
    assert f"<query>:3:28: error: stream result: sink 'file:../outside/victim.jsonl' " \
           f"resolves to {victim}, outside the sandbox {box}" in message
    assert victim.read_bytes() == PRECIOUS
    # checked before anything was opened: not the persistent stream's log either
    assert not (box / ".frys").exists()


def test_a_sink_whose_file_does_not_exist_yet_is_created_inside(box: Path) -> None:
    pipeline(box, job(sink="file:out/new/result.jsonl")).run()
    assert (box / "out" / "new" / "result.jsonl").read_text().count("\n") == 2


def test_dotdot_escapes_are_refused_and_dotdot_inside_is_fine(box: Path) -> None:
    message = refusal(box, job(source="file:data/../../outside/secret.jsonl"))
    assert f"resolves to {box.parent / 'outside' / 'secret.jsonl'}, outside" in message
    # through a folder that does not exist yet: the sink would create it, then climb out
    message = refusal(box, job(sink="file:out/new/../../../outside/made.jsonl"))
    assert f"resolves to {box.parent / 'outside' / 'made.jsonl'}, outside" in message
    assert not (box / "out").exists()
    pipeline(box, job(source="file:data/../data/in.jsonl", sink="file:out/../r.jsonl")).run()
    assert (box / "r.jsonl").read_text().count("\n") == 2


def test_symlinks_inside_the_sandbox_pointing_outside_are_refused(box: Path) -> None:
    outside = box.parent / "outside"
    (box / "innocent.jsonl").symlink_to(outside / "secret.jsonl")
    (box / "elsewhere").symlink_to(outside, target_is_directory=True)
    (box / "ghost.jsonl").symlink_to(outside / "ghost.jsonl")  # dangling: a write creates it
    message = refusal(box, job(source="file:innocent.jsonl"))
    assert f"source 'file:innocent.jsonl' resolves to {outside / 'secret.jsonl'}" in message
    refusal(box, job(sink="file:elsewhere/victim.jsonl"))
    refusal(box, job(sink="file:ghost.jsonl"))
    assert (outside / "victim.jsonl").read_bytes() == PRECIOUS
    assert not (outside / "ghost.jsonl").exists()


def test_a_symlink_inside_pointing_inside_and_a_sandbox_behind_a_symlink_work(
        box: Path) -> None:
    (box / "alias").symlink_to(box / "data", target_is_directory=True)
    via_link = box.parent / "box_link"
    via_link.symlink_to(box, target_is_directory=True)
    Pipeline.from_text(job(source="file:alias/in.jsonl"), base_dir=via_link,
                       options=RuntimeOptions(allowed_paths=(via_link,))).run()
    assert (box / "out" / "result.jsonl").read_text().count("\n") == 2


def test_a_symlink_loop_is_refused(box: Path) -> None:
    (box / "loop.jsonl").symlink_to(box / "loop.jsonl")
    assert "cannot be resolved (a symlink loop)" in refusal(box, job(sink="file:loop.jsonl"))


def test_wal_sources_and_sinks_outside_are_refused(box: Path) -> None:
    outside = box.parent / "outside"
    WriteAheadLog(outside / "log").close()
    message = refusal(box, job(source="wal:../outside/log"))
    assert f"stream ev: source 'wal:../outside/log' resolves to {outside / 'log'}" in message
    message = refusal(box, job(sink="wal:../outside/written"))
    assert f"stream result: sink 'wal:../outside/written' resolves to " \
           f"{outside / 'written'}" in message
    assert not (outside / "written").exists()
    pipeline(box, job(sink="wal:logs/result")).run()
    assert (box / "logs" / "result").is_dir()


def test_a_symlink_planted_in_a_wal_folder_inside_is_refused(box: Path) -> None:
    WriteAheadLog(box / "logs" / "ev").close()
    (box / "logs" / "ev" / "planted").symlink_to(box.parent / "outside" / "victim.jsonl")
    message = refusal(box, job(source="wal:logs/ev"))
    assert f"source 'wal:logs/ev': planted resolves to " \
           f"{box.parent / 'outside' / 'victim.jsonl'}" in message


def test_a_part_planted_in_a_folder_of_parts_is_refused_as_source_and_sink(box: Path
                                                                          ) -> None:
    """A folder of JSON Lines parts (read part by part, written by `parts=true`): a part
    that is a symlink out of the sandbox is refused whether the folder is read or
    written (a fresh sink deletes its earlier parts: the link, not what it points at)."""
    (box / "parts.jsonl").mkdir()
    (box / "parts.jsonl" / "part-00000.jsonl").write_text(EVENTS)
    (box / "parts.jsonl" / "part-00001.jsonl").symlink_to(
        box.parent / "outside" / "secret.jsonl")
    message = refusal(box, job(source="file:parts.jsonl"))
    assert "source 'file:parts.jsonl': part-00001.jsonl resolves to " \
           f"{box.parent / 'outside' / 'secret.jsonl'}" in message
    message = refusal(box, job(sink="file:parts.jsonl?parts=true"))
    assert "sink 'file:parts.jsonl?parts=true': part-00001.jsonl resolves to" in message
    assert (box.parent / "outside" / "secret.jsonl").read_bytes() == PRECIOUS
    (box / "parts.jsonl" / "part-00001.jsonl").unlink()
    pipeline(box, job(source="file:parts.jsonl", sink="file:out.jsonl?parts=true")).run()
    assert (box / "out.jsonl" / "part-00000.jsonl").read_text().count("\n") == 2


def test_the_wal_root_of_persistent_streams_is_checked(box: Path) -> None:
    persistent = ", queue = 'persistent'"
    message = refusal(box, job(queue=persistent), wal_root=box.parent / "outside" / "wal")
    assert "<query>:3:60: error: stream result: the log of its persistent queue " \
           f"({box.parent / 'outside' / 'wal' / 'result'}) resolves to" in message
    assert not (box.parent / "outside" / "wal").exists()
    pipeline(box, job(queue=persistent)).run()  # the default root: <job folder>/.frys/wal
    assert (box / ".frys" / "wal" / "result").is_dir()


def test_several_folders_may_be_allowed_and_none_means_no_file(box: Path) -> None:
    outside = box.parent / "outside"
    outside.joinpath("secret.jsonl").write_text(EVENTS)
    Pipeline.from_text(job(source="file:../outside/secret.jsonl"), base_dir=box,
                       options=RuntimeOptions(allowed_paths=(box, outside))).run()
    with pytest.raises(OutsideSandbox, match=r"outside the sandbox \(no folder allowed\)"):
        Pipeline.from_text(job(), base_dir=box, options=RuntimeOptions(allowed_paths=()))


# ---------------------------------------------------------------------- command line


def write_job(box: Path, text: str) -> Path:
    path = box / "job.frysql"
    path.write_text(text)
    return path


def test_check_reports_refusals_statically_with_positions(box: Path, capsys) -> None:
    path = write_job(box, job(source="file:../outside/missing.jsonl",
                              sink="file:../outside/victim.jsonl"))
    assert main(["check", "--sandbox", str(box), str(path)]) == 1
    err = capsys.readouterr().err
    missing = box.parent / "outside" / "missing.jsonl"
    assert f"{path}:2:28: error: stream ev: source 'file:../outside/missing.jsonl' resolves " \
           f"to {missing}, outside the sandbox {box}" in err
    assert f"{path}:3:28: error: stream result: sink 'file:../outside/victim.jsonl'" in err
    assert "ok" not in err
    assert (box.parent / "outside" / "victim.jsonl").read_bytes() == PRECIOUS
    assert main(["check", str(path)]) == 0  # no sandbox: nothing to refuse
    assert main(["check", "--sandbox", str(box.parent), str(path)]) == 0


def test_check_takes_the_wal_root_the_job_will_run_with(box: Path, capsys) -> None:
    path = write_job(box, job(queue=", queue = 'persistent'"))
    assert main(["check", "--sandbox", str(box), str(path)]) == 0
    assert main(["check", "--sandbox", str(box), "--wal-root", str(box.parent / "outside"),
                 str(path)]) == 1
    assert "the log of its persistent queue" in capsys.readouterr().err


def test_run_refuses_with_a_clean_error_and_the_job_exit_code(box: Path) -> None:
    write_job(box, job(sink="file:../outside/victim.jsonl"))
    run = subprocess.run([*FRYS, "run", "--sandbox", ".", "job.frysql"], cwd=box,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert run.stdout == ""
    first, *caret = run.stderr.splitlines()
    victim = box.parent / "outside" / "victim.jsonl"
    assert first == (f"job.frysql:3:28: error: stream result: sink "
                     f"'file:../outside/victim.jsonl' resolves to {victim}, outside the "
                     f"sandbox {box}")
    assert len(caret) == 2 and "Traceback" not in run.stderr
    assert victim.read_bytes() == PRECIOUS
    # the same job without --sandbox: trusted, it runs (and writes where it says)
    assert subprocess.run([*FRYS, "run", "-q", "job.frysql"], cwd=box,
                          timeout=120).returncode == 0
    assert victim.read_text().count("\n") == 2


def test_run_refuses_a_trace_file_outside_the_sandbox(box: Path, capsys) -> None:
    path = write_job(box, job())
    trace = box.parent / "outside" / "trace.jsonl"
    code = main(["run", "--sandbox", str(box), "--trace-matches", str(trace), str(path)])
    assert code == 2
    assert capsys.readouterr().err == (f"frys: --trace-matches {trace} resolves to {trace}, "
                                       f"outside the sandbox {box}\n")
    assert not trace.exists()
    assert main(["run", "-q", "--sandbox", str(box), "--trace-matches",
                 str(box / "trace.jsonl"), str(path)]) == 0
    assert (box / "out" / "result.jsonl").read_text().count("\n") == 2


def test_run_and_check_refuse_a_sandbox_that_is_not_a_folder(box: Path, capsys) -> None:
    path = write_job(box, job())
    for command in ("run", "check"):
        with pytest.raises(SystemExit) as raised:
            main([command, "--sandbox", str(box / "missing"), str(path)])
        assert raised.value.code == 2
        assert "is not a folder" in capsys.readouterr().err


def test_tail_of_a_job_is_sandboxed_too(box: Path, capsys) -> None:
    write_job(box, job(source="file:../outside/secret.jsonl"))
    tail = subprocess.run([*FRYS, "tail", "ev", "--job", "job.frysql", "--sandbox", "."],
                          cwd=box, capture_output=True, text=True, timeout=120)
    assert tail.returncode == 1
    assert "job.frysql:2:28: error: stream ev: source 'file:../outside/secret.jsonl'" \
        in tail.stderr
    assert "Traceback" not in tail.stderr
    # tail of a WAL runs no job: a sandbox there would confine nothing, so it is refused
    assert main(["tail", "ev", "--no-follow", "--sandbox", str(box)]) == 2
    assert "--sandbox confines a job; give --job JOB" in capsys.readouterr().err


# ---------------------------------------------------------------------- property

# box/ is the sandbox, deep enough below the scratch root that five `..` stay in it
COMPONENTS = ["sub", "in.jsonl", "new", "..", ".", "link_in", "link_out", "file_link_out",
              "dangling_out", "loop", "d"]


def _scratch_tree(root: Path) -> Path:
    parent = root.joinpath("w1", "w2", "w3", "w4", "w5")
    box, outside = parent / "box", parent / "outside"
    (box / "sub").mkdir(parents=True)
    (outside / "d").mkdir(parents=True)
    (box / "in.jsonl").write_bytes(PRECIOUS)
    (outside / "secret.jsonl").write_bytes(PRECIOUS)
    (box / "link_in").symlink_to("sub", target_is_directory=True)
    (box / "link_out").symlink_to("../outside", target_is_directory=True)
    (box / "file_link_out").symlink_to("../outside/secret.jsonl")
    (box / "dangling_out").symlink_to("../outside/ghost.jsonl")
    (box / "loop").symlink_to("loop")
    return box


def _outside_state(root: Path, box: Path) -> dict[str, bytes | None]:
    """Every entry of the scratch tree except the sandbox's: folders as None, files and
    symlinks by content / target."""
    state: dict[str, bytes | None] = {}
    for folder, subfolders, files in os.walk(root):
        if Path(folder) == box.parent:
            subfolders.remove("box")
        for name in subfolders:
            path = Path(folder) / name
            state[str(path)] = os.readlink(path).encode() if path.is_symlink() else None
        for name in files:
            path = Path(folder) / name
            state[str(path)] = (os.readlink(path).encode() if path.is_symlink()
                                else path.read_bytes())
    return state


def _write_like_a_sink(path: Path) -> bool:
    """What a file sink does (folders made, file created or truncated); False if it fails."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as file:
            file.write(b"written by the sink\n")
    except OSError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=5))
def test_allowed_iff_writing_the_path_stays_inside(components: list[str]) -> None:
    """The sandbox against the kernel itself: write the path as a sink would and look at
    what changed outside. Allowed: nothing outside changed. Refused: the write changed
    something outside, or could not be done at all (a loop, a file used as a folder)."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        box = _scratch_tree(root)
        path = box.joinpath(*components)
        allowed = Sandbox([box]).contains(path)
        before = _outside_state(root, box)
        written = _write_like_a_sink(path)
        changed_outside = _outside_state(root, box) != before
        if allowed:
            assert not changed_outside, path
        else:
            assert changed_outside or not written, path
