"""Rough edges a new user hits on the command line: `frys check` agreeing with `frys run`,
--version and `python -m frys`, links in the docs, sinks that cannot be created, Ctrl-C,
the live status line, `frys tail --job` writing nothing, rows of several bare SELECTs."""

from __future__ import annotations

import fcntl
import importlib.metadata
import importlib.resources
import io
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from frys.cli import EXIT_NOT_SUPPORTED, main
from frys.dsl import compile_text
from frys.engine.planner import plan
from frys.engine.runtime import Runtime
from frys.progress import RunCounters, RunStatusLine, format_watermark, status_text

ROOT = Path(__file__).resolve().parent.parent

STREAM = """CREATE STREAM ev (k STRING, v FLOAT, ts TIMESTAMP)
    WITH (event_time = ts, source = 'file:ev.jsonl');
"""
EVENTS = ['{"k": "a", "v": 2.0, "ts": 1000}', '{"k": "b", "v": 3.0, "ts": 2000}']


def _job(tmp_path: Path, queries: str, events: list[str] = EVENTS) -> Path:
    job = tmp_path / "job.frysql"
    job.write_text(STREAM + queries)
    (tmp_path / "ev.jsonl").write_text("\n".join(events) + "\n")
    return job


# ---------------------------------------------------------------- 1. check agrees with run

UNSUPPORTED = """CREATE STREAM ev (k STRING, v FLOAT, ts TIMESTAMP) WITH (event_time = ts);
CREATE TABLE t (k STRING PRIMARY KEY, w INT);
SELECT ev.k FROM ev JOIN t ON ev.k = t.k AND t.w > 1;
"""
LATER = "not supported yet: JOIN with table t ON anything but"


def test_check_fails_a_job_that_run_refuses(tmp_path: Path, capsys) -> None:
    job = tmp_path / "join.frysql"
    job.write_text(UNSUPPORTED)
    assert main(["check", str(job)]) == EXIT_NOT_SUPPORTED == 3
    err = capsys.readouterr().err
    assert f"{job}:3:31: error: {LATER}" in err
    assert "(frys run refuses this job for now)" in err
    assert f"{job}: ok" not in err
    assert "--allow-unsupported" in err
    assert main(["run", str(job)]) == 1  # what the check now predicts


def test_allow_unsupported_keeps_the_old_behaviour(tmp_path: Path, capsys) -> None:
    job = tmp_path / "join.frysql"
    job.write_text(UNSUPPORTED)
    assert main(["check", "--allow-unsupported", str(job)]) == 0
    err = capsys.readouterr().err
    assert f"{job}:3:31: note: {LATER}" in err
    assert f"{job}: ok" in err


def test_errors_take_precedence_over_unsupported_constructs(tmp_path: Path, capsys) -> None:
    unsupported, broken = tmp_path / "join.frysql", tmp_path / "broken.frysql"
    unsupported.write_text(UNSUPPORTED)
    broken.write_text(UNSUPPORTED.replace("SELECT ev.k", "SELECT ev.nope"))
    assert main(["check", str(unsupported), str(broken)]) == 1


@pytest.mark.parametrize("command", ["check", "run"])
def test_the_position_of_an_unsupported_construct_is_printed_once(
        tmp_path: Path, capsys, command: str) -> None:
    job = tmp_path / "join.frysql"
    job.write_text(UNSUPPORTED)
    main([command, str(job)])
    err = capsys.readouterr().err
    header = next(line for line in err.splitlines() if LATER in line and "error" in line)
    assert header.startswith(f"{job}:3:31: error: {LATER}")
    assert "3:31" not in header.removeprefix(f"{job}:3:31:")


# ---------------------------------------------------------------- 2. version, -m, py.typed


def test_version_comes_from_the_package_metadata(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"frys {importlib.metadata.version('frys')}"


def test_python_dash_m_frys_works_like_frys(tmp_path: Path) -> None:
    version = subprocess.run([sys.executable, "-m", "frys", "--version"],
                             capture_output=True, text=True, timeout=60)
    assert version.returncode == 0
    assert version.stdout.strip() == f"frys {importlib.metadata.version('frys')}"
    run = subprocess.run([sys.executable, "-m", "frys", "run", "-q",
                          str(_job(tmp_path, "SELECT k FROM ev;\n"))],
                         capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout) == (0, '{"k":"a"}\n{"k":"b"}\n')


def test_the_package_is_marked_typed() -> None:
    assert importlib.resources.files("frys").joinpath("py.typed").is_file()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^"frys" = \["py.typed"\]$', pyproject, flags=re.M)


# ---------------------------------------------------------------- 3. links in the docs

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_relative_link_points_to_an_existing_file(document: Path) -> None:
    text = re.sub(r"```.*?```", "", document.read_text(), flags=re.S)  # code is not links
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    broken = []
    for target in targets:
        if re.match(r"[a-z]+:", target) or target.startswith("#"):  # URLs, anchors
            continue
        path = target.split("#", 1)[0]
        if not (document.parent / path).exists():
            broken.append(target)
    assert not broken, f"{document.name}: links to missing files: {broken}"


# ---------------------------------------------------------------- 4. sinks that cannot open


@pytest.mark.parametrize("where", ["ev.jsonl/out.jsonl", "ev.jsonl/deeper/out.jsonl"])
def test_a_sink_under_a_regular_file_is_a_clean_job_error(tmp_path: Path, capsys,
                                                          where: str) -> None:
    job = _job(tmp_path, f"CREATE STREAM out WITH (sink = 'file:{where}');\n"
                         "INSERT INTO out SELECT k FROM ev;\n")
    assert main(["run", str(job)]) == 1  # as every other error of the job
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith(f"{job}:3:15: error: cannot open the sink of stream out "
                            f"(file:{where}): Not a directory")


def test_a_wal_sink_that_cannot_be_created_is_a_clean_job_error(tmp_path: Path, capsys) -> None:
    job = _job(tmp_path, "CREATE STREAM out WITH (sink = 'wal:ev.jsonl/log');\n"
                         "INSERT INTO out SELECT k FROM ev;\n")
    assert main(["run", str(job)]) == 1
    first = capsys.readouterr().err.splitlines()[0]
    assert "error: cannot open the sink of stream out (wal:ev.jsonl/log): " in first


# ---------------------------------------------------------------- 5, 6: long runs

LONG_JOB = STREAM + """CREATE STREAM bars WITH (sink = 'file:out/bars.jsonl');
INSERT INTO bars SELECT k, window_start, COUNT(*) AS n FROM ev GROUP BY k, TUMBLE(1 SECOND);
"""


@pytest.fixture(scope="module")
def long_job(tmp_path_factory) -> Path:
    """A job over ~40 MB of events: a few seconds of work, several chunks of input."""
    folder = tmp_path_factory.mktemp("long")
    line = '{"k": "k%d", "v": 1.5, "ts": %d}\n'
    with open(folder / "ev.jsonl", "w") as file:
        for block in range(100):
            file.write("".join(line % (i % 50, (block * 10_000 + i) * 10)
                               for i in range(10_000)))
    (folder / "job.frysql").write_text(LONG_JOB)
    return folder / "job.frysql"


def _frys(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "frys", *args], **kwargs)


def _started(long_job: Path) -> subprocess.Popen:
    """`frys run` of the long job, once it is reading its input."""
    sink = long_job.parent / "out" / "bars.jsonl"
    if sink.exists():
        sink.unlink()
    process = _frys("run", str(long_job), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True)
    deadline = time.monotonic() + 30
    while not sink.exists():  # the runtime creates its sinks before it reads any input
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.2)
    assert process.poll() is None, "the job ended before it could be interrupted"
    return process


def test_ctrl_c_without_state_ends_the_input_at_the_next_batch_and_exits_0(
        long_job: Path) -> None:
    process = _started(long_job)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert err.startswith("frys: done. ev: ")
    assert err.endswith("frys: stopped: the input ended there (without --state nothing could "
                        "continue it)\n")
    # the input ended: the windows open at the stop fired (what was read is all counted)
    bars = [json.loads(line) for line in
            (long_job.parent / "out" / "bars.jsonl").read_text().splitlines()]
    read = int(err.split("ev: ", 1)[1].split(" events", 1)[0])
    assert 0 < read < 1_000_000 and sum(bar["n"] for bar in bars) == read


def test_a_second_ctrl_c_interrupts_at_once(tmp_path: Path) -> None:
    """The handlers `frys run` installs: the first SIGINT asks the run to end its input at
    the next boundary, a second raises KeyboardInterrupt at once (main() turns it into
    `frys: interrupted`, exit 130). In this process, so the second signal surely comes
    after the first was handled (two pending signals are one for Python)."""
    from frys.compiler import compile_text
    from frys.engine.planner import plan
    from frys.engine.runtime import Runtime
    from frys.run_cli import _stop_signals

    (tmp_path / "ev.jsonl").write_text('{"k": "a", "v": 1, "ts": 1000}\n')
    text = STREAM.replace("'file:ev.jsonl'", "'file:ev.jsonl?follow=true'") + \
        "SELECT k FROM ev;\n"
    runtime = Runtime(plan(compile_text(text, "job.frysql")), tmp_path)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), _stop_signals(None, runtime):
        os.kill(os.getpid(), signal.SIGINT)
        # handled: a followed file has no end, yet the run ends its input at once
        runtime.run()
        assert runtime.ended_by == "request"
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # (interrupted long before)
    assert signal.getsignal(signal.SIGINT) is before  # the handlers are put back


def test_the_status_text() -> None:
    counters = RunCounters(elapsed_s=2.0, events=1_000_000, watermark_ms=1_714_564_800_000,
                           dead_letters=2, late_events=7, bytes_read=25, bytes_total=100)
    assert status_text(counters) == (
        "frys: 1,000,000 events  500,000 ev/s  [#####---------------]  25%  "
        "watermark 2024-05-01T12:00:00Z  dead letters 2  late 7")
    unknown_size = RunCounters(elapsed_s=0.0, events=0, watermark_ms=None, dead_letters=0,
                               late_events=0)
    assert status_text(unknown_size) == (
        "frys: 0 events  0 ev/s  watermark -  dead letters 0  late 0")
    narrow = status_text(counters, width=80)
    assert len(narrow) == 80  # the bar dropped first, then the end cut
    assert narrow.startswith("frys: 1,000,000 events  500,000 ev/s  25%  "
                             "watermark 2024-05-01T12:00:00Z  dead")
    assert format_watermark(-(2**63)) == "-"
    assert format_watermark(2**63 - 1) == "end"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_status_line_redraws_at_most_four_times_a_second(tmp_path: Path) -> None:
    events = [f'{{"k": "a", "v": 1.0, "ts": {1000 * i}}}' for i in range(100)]
    job = _job(tmp_path, "SELECT k FROM ev;\n", events)
    size = (tmp_path / "ev.jsonl").stat().st_size
    runtime = Runtime(plan(compile_text(job.read_text(), str(job))), tmp_path,
                      caller_output=lambda node: None)
    producer, source = runtime.sources[0]
    source.chunk_bytes = size // 4 + 1  # four chunks
    clock, out = FakeClock(), io.StringIO()
    status = RunStatusLine(runtime, out, clock, width=200)

    def read(events: int, after_s: float) -> None:
        clock.now += after_s
        status.on_batch_read(producer, events)

    read(25, 0.1)
    assert out.getvalue() == ""  # a job shorter than a refresh draws nothing
    read(25, 0.2)
    first = out.getvalue()
    assert first.startswith("\rfrys: 50 events  167 ev/s  [##########----------]  50%")
    assert first.endswith("dead letters 0  late 0\x1b[K")
    read(25, 0.1)  # 0.1 s after the last drawing: not redrawn
    assert out.getvalue() == first
    read(25, 0.2)
    assert out.getvalue().endswith("\rfrys: 100 events  167 ev/s  [####################] "
                                   "100%  watermark -  dead letters 0  late 0\x1b[K")
    status.clear()
    assert out.getvalue().endswith("\r\x1b[K")


def test_no_status_line_off_a_terminal(tmp_path: Path, capsys) -> None:
    assert main(["run", str(_job(tmp_path, "SELECT k FROM ev;\n"))]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "ev/s" not in err


def _run_on_a_terminal(*args: str, rows_too: bool = False) -> tuple[int, str]:
    """Run `python -m frys ARGS` with stderr (and with `rows_too` stdout) on a
    pseudo-terminal; (exit code, what the terminal showed)."""
    master, slave = pty.openpty()
    # 160 columns: room for the whole line (a new pseudo-terminal may say 0)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    process = _frys(*args, stdout=slave if rows_too else subprocess.DEVNULL, stderr=slave,
                    stdin=subprocess.DEVNULL)
    os.close(slave)
    shown = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        assert ready, "no output for a minute"
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        shown += data
    os.close(master)
    return process.wait(timeout=60), shown.decode()


def test_a_status_line_appears_on_a_terminal(long_job: Path) -> None:
    # redrawn at every batch: a quiet machine reads the whole input within the default
    # 250ms, before a first line would be due
    code, shown = _run_on_a_terminal("run", "--progress-every", "1ms", str(long_job))
    assert code == 0
    assert re.search(r"\rfrys: [\d,]+ events  [\d,]+ ev/s  \[[#-]{20}\] +\d+%  "
                     r"watermark (-|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", shown), shown
    # erased before the summary, which starts on a clean line
    assert "\r\x1b[Kfrys: done." in shown


def test_rows_on_the_same_terminal_never_land_on_the_status_line(long_job: Path) -> None:
    job = long_job.parent / "rows.frysql"
    job.write_text(STREAM + "SELECT k, window_start, COUNT(*) AS n FROM ev "
                            "GROUP BY k, TUMBLE(1 MINUTE);\n")
    code, shown = _run_on_a_terminal("run", "--progress-every", "1ms", str(job), rows_too=True)
    assert code == 0
    assert '{"k":"k0"' in shown and " ev/s " in shown
    # a status line is erased (\r, erase to the end of the line) before rows are written
    assert not re.search(r"late \d+\x1b\[K\{", shown)
    assert re.search(r"\r\x1b\[K\{", shown)


def test_no_progress_turns_it_off_on_a_terminal(long_job: Path) -> None:
    code, shown = _run_on_a_terminal("run", "--no-progress", str(long_job))
    assert code == 0
    assert "ev/s" not in shown and "frys: done." in shown


# ---------------------------------------------------------------- 7. tail --job writes nothing


def test_tail_of_a_job_writes_none_of_its_sinks(tmp_path: Path, capsys) -> None:
    job = _job(tmp_path, "CREATE STREAM out WITH (sink = 'file:out/rows.jsonl');\n"
                         "CREATE STREAM logged WITH (sink = 'wal:logs/rows');\n"
                         "INSERT INTO out SELECT k FROM ev;\n"
                         "INSERT INTO logged SELECT k FROM ev;\n")
    assert main(["tail", "--job", str(job), "out"]) == 0
    assert capsys.readouterr().out == '{"k":"a"}\n{"k":"b"}\n'
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "logs").exists()
    # and a sink a real run wrote is left as it was
    assert main(["run", "-q", str(job)]) == 0
    written = (tmp_path / "out" / "rows.jsonl").read_bytes()
    before = (tmp_path / "out" / "rows.jsonl").stat().st_mtime_ns
    assert main(["tail", "--job", str(job), "out"]) == 0
    assert (tmp_path / "out" / "rows.jsonl").read_bytes() == written
    assert (tmp_path / "out" / "rows.jsonl").stat().st_mtime_ns == before


# ---------------------------------------------------------------- 8. several bare SELECTs

TWO_SELECTS = "SELECT k FROM ev;\nSELECT v FROM ev WHERE v > 2;\n"


def _rows(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def test_rows_of_several_bare_selects_are_tagged_by_default(tmp_path: Path, capsys) -> None:
    assert main(["run", "-q", str(_job(tmp_path, TWO_SELECTS))]) == 0
    rows = _rows(capsys.readouterr().out)
    assert sorted(rows, key=str) == sorted([
        {"_query": "select_1", "k": "a"}, {"_query": "select_1", "k": "b"},
        {"_query": "select_2", "v": 3.0}], key=str)


def test_format_jsonl_prints_rows_as_they_are(tmp_path: Path, capsys) -> None:
    assert main(["run", "-q", "--format", "jsonl", str(_job(tmp_path, TWO_SELECTS))]) == 0
    assert sorted(_rows(capsys.readouterr().out), key=str) == sorted(
        [{"k": "a"}, {"k": "b"}, {"v": 3.0}], key=str)


def test_one_bare_select_stays_plain_unless_tagged_is_asked(tmp_path: Path, capsys) -> None:
    job = _job(tmp_path, "SELECT k FROM ev;\n")
    assert main(["run", "-q", str(job)]) == 0
    assert _rows(capsys.readouterr().out) == [{"k": "a"}, {"k": "b"}]
    assert main(["run", "-q", "--format", "tagged", str(job)]) == 0
    assert _rows(capsys.readouterr().out) == [{"_query": "select_1", "k": "a"},
                                              {"_query": "select_1", "k": "b"}]


def test_tagging_refuses_a_query_with_its_own_query_field(tmp_path: Path, capsys) -> None:
    job = _job(tmp_path, "SELECT k AS _query FROM ev;\nSELECT v FROM ev;\n")
    assert main(["run", str(job)]) == 2
    assert "select_1 already has one" in capsys.readouterr().err
