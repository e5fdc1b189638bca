"""`frys run --runtime bytewax` as a command: its flags, what it refuses and how, its
summary, and the job run by bytewax's own runner through `frys.bytewax.flow`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from frys.cli import main

TRADES = """CREATE STREAM trades (symbol STRING, price FLOAT, ts TIMESTAMP)
    WITH (event_time = ts, source = 'file:trades.jsonl');
CREATE STREAM bars WITH (sink = 'file:out/bars.jsonl');
INSERT INTO bars
SELECT symbol, window_start, COUNT(*) AS n, MAX(price) AS high
FROM trades GROUP BY symbol, TUMBLE(1 MINUTE);
"""


def _job(tmp_path: Path, text: str = TRADES, events: int = 600) -> Path:
    lines = [json.dumps({"symbol": "ABC"[i % 3], "price": float(i % 17),
                         "ts": 1_700_000_000_000 + i * 1000}) for i in range(events)]
    lines.insert(5, '{"symbol": "A", "price": "cheap", "ts": 1700000000000}')
    (tmp_path / "trades.jsonl").write_text("\n".join(lines) + "\n")
    job = tmp_path / "job.frysql"
    job.write_text(text)
    return job


def _rows(path: Path) -> list[str]:
    return sorted(path.read_text().splitlines())


@pytest.mark.parametrize("flags", [["-w", "3"], ["-r", "rec"], ["--key-groups", "8"],
                                   ["-p", "2"], ["-i", "0", "-a", "127.0.0.1:1"],
                                   ["--source-partitions", "2"], ["--split-bytes", "1000"]])
def test_scale_out_flags_need_the_bytewax_runtime(tmp_path: Path, flags: list[str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    job = _job(tmp_path)
    assert main(["run", str(job), *flags]) == 2
    assert "need --runtime bytewax" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("flags", "said"), [
    (["--state", "st"], "--state (use -r DIR"),
    (["--trace-matches", "t.jsonl"], "--trace-matches"),
    (["-i", "0"], "-i and -a go together"),
    (["-p", "2", "-i", "0", "-a", "127.0.0.1:1"], "-p launches a local cluster itself"),
    (["-s", "1"], "give -r DIR too"),
])
def test_what_the_bytewax_runtime_refuses_as_usage(tmp_path: Path, flags: list[str], said: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    job = _job(tmp_path)
    assert main(["run", str(job), "--runtime", "bytewax", *flags]) == 2
    assert said in capsys.readouterr().err


@pytest.mark.parametrize(("declaration", "said"), [
    ("CREATE STREAM logged (symbol STRING) WITH (queue = 'persistent');\n"
     "INSERT INTO logged SELECT symbol FROM trades;", "stream logged is persistent"),
    ("CREATE STREAM fed (symbol STRING) WITH (source = 'bus:elsewhere');\n"
     "SELECT symbol FROM fed;", "a push source lives in one process"),
    ("CREATE STREAM ahead (symbol STRING, ts TIMESTAMP) WITH (event_time = ts, "
     "max_future = 1 HOUR, source = 'file:trades.jsonl');\nSELECT symbol FROM ahead;",
     "has max_future"),
])
def test_jobs_the_bytewax_runtime_does_not_run_are_refused_at_their_stream(
        tmp_path: Path, declaration: str, said: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    job = _job(tmp_path, TRADES + declaration)
    assert main(["run", str(job), "--runtime", "bytewax"]) == 1
    err = capsys.readouterr().err
    assert said in err and f"{job}:" in err  # positioned at the stream's declaration
    assert "Traceback" not in err


def test_the_summary_counts_the_whole_cluster(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    job = _job(tmp_path)
    assert main(["run", str(job)]) == 0
    embedded = capsys.readouterr().err
    expected = _rows(tmp_path / "out" / "bars.jsonl")
    (tmp_path / "out" / "bars.jsonl").unlink()
    assert main(["run", str(job), "--runtime", "bytewax", "-w", "2",
                 "--key-groups", "4"]) == 0
    summary = capsys.readouterr().err
    assert _rows(tmp_path / "out" / "bars.jsonl") == expected
    # the same counts as the embedded runtime's: events per stream, the dead letter
    first = embedded.splitlines()[:2]
    assert summary.splitlines()[:2] == first
    assert "trades: 600 events" in summary and "dead letters: 1 (trades: 1)" in summary


def test_bytewax_s_own_runner_runs_the_job(tmp_path: Path) -> None:
    job = _job(tmp_path)
    assert main(["run", str(job), "-q"]) == 0
    expected = _rows(tmp_path / "out" / "bars.jsonl")
    (tmp_path / "out" / "bars.jsonl").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "bytewax.run", f"frys.bytewax:flow({str(job)!r})", "-w", "2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _rows(tmp_path / "out" / "bars.jsonl") == expected


IDLE_JOB = """CREATE STREAM x (k INT, v INT, ts TIMESTAMP)
    WITH (event_time = ts, source = 'file:x.jsonl?follow=true');
CREATE STREAM y (k INT, v INT, ts TIMESTAMP)
    WITH (event_time = ts, source = 'file:y.jsonl?follow=true');
CREATE STREAM s (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts{idle});
CREATE STREAM w WITH (sink = 'file:w.jsonl');
INSERT INTO s SELECT k, v, ts FROM x;
INSERT INTO s SELECT k, v, ts FROM y;
INSERT INTO w SELECT k, window_start, COUNT(*) AS n FROM s GROUP BY k, TUMBLE(1 SECOND);
"""


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.parametrize("idle", [True, False], ids=["idle_timeout", "no idle_timeout"])
def test_a_silent_producer_stops_holding_the_watermark_after_idle_timeout(
        tmp_path: Path, idle: bool) -> None:
    """Stream s has two producers (the two INSERTs): x's data, then silence, and y, silent
    from the start. With idle_timeout both stop holding s's watermark once silent that
    long, and the windows x's data closed fire while the run goes on (the key groups wake
    up to see it); without, y holds them until the end. SIGTERM then ends the input
    (without -r): the last windows fire, exit 0."""
    import signal
    import time

    (tmp_path / "x.jsonl").write_text("".join(
        json.dumps({"k": i % 5, "v": i, "ts": 1_700_000_000_000 + i * 10}) + "\n"
        for i in range(2000)))  # 20 seconds: 100 windows, 95 closed by the last event
    (tmp_path / "y.jsonl").write_text("")
    job = tmp_path / "job.frysql"
    job.write_text(IDLE_JOB.format(idle=", idle_timeout = 300ms" if idle else ""))
    process = subprocess.Popen([sys.executable, "-m", "frys", "run", str(job), "--runtime",
                                "bytewax", "-w", "2"], cwd=tmp_path,
                               stderr=subprocess.PIPE, text=True)
    try:
        out = tmp_path / "w.jsonl"
        deadline = time.monotonic() + (30 if idle else 3)
        while time.monotonic() < deadline and _lines(out) < 95:
            time.sleep(0.05)
        assert _lines(out) == (95 if idle else 0)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert _lines(out) == 100
    assert "x: 2000 events" in err


@pytest.mark.parametrize(("text", "status", "said"), [
    (TRADES.replace("MAX(price)", "MAX(cost)"), 1, "unknown column 'cost'"),
    (TRADES + "CREATE STREAM logged (symbol STRING) WITH (queue = 'persistent');\n"
     "INSERT INTO logged SELECT symbol FROM trades;", 1, "stream logged is persistent"),
    (None, 2, "cannot read"),
])
def test_a_local_cluster_s_launcher_says_the_job_s_errors_once(
        tmp_path: Path, text: str | None, status: int, said: str) -> None:
    """The processes of `-p 2` start before their launcher has checked the job, and meet
    its errors too: only the launcher says them, once, and nothing about the processes."""
    job = _job(tmp_path, text or TRADES)
    if text is None:
        job.unlink()
    result = subprocess.run([sys.executable, "-m", "frys", "run", str(job), "--runtime",
                             "bytewax", "-p", "2"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == status
    assert result.stderr.count(said) == 1, result.stderr
    assert "process 0" not in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_job_error_met_while_a_local_cluster_runs_is_said_once(tmp_path: Path) -> None:
    """A source file missing is met only when a process opens it, while the cluster
    runs: the process that meets it says it, at the stream's line, once; its peer, which
    only loses it, and the launcher, which finds nothing wrong with the job's text, say
    nothing (cluster.JobErrorSaid)."""
    job = _job(tmp_path, TRADES.replace("file:trades.jsonl", "file:missing.jsonl"))
    result = subprocess.run([sys.executable, "-m", "frys", "run", str(job), "--runtime",
                             "bytewax", "-p", "2"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    said = (f"{job}:1:15: error: source file not found: {tmp_path / 'missing.jsonl'} "
            "(stream trades)")
    assert result.stderr.count(said) == 1, result.stderr
    assert "process" not in result.stderr and "Traceback" not in result.stderr, (
        result.stderr)


def test_the_first_process_to_note_a_job_error_claims_its_saying(tmp_path: Path) -> None:
    from frys.engine.scaleout import cluster

    marker = tmp_path / "job-error"
    try:
        cluster.say_job_errors_at(marker)
        assert not cluster.job_error_said_elsewhere(marker)  # no error anywhere yet
        cluster.note_failure(ValueError("here"))
        assert marker.exists()
        assert not cluster.job_error_said_elsewhere(marker)  # said here: this one says it
        cluster.say_job_errors_at(marker)  # another process of the same cluster
        cluster.note_failure(ValueError("there too"))
        assert cluster.job_error_said_elsewhere(marker)  # the first one says it
        cluster.say_job_errors_at(None)  # not a process of a -p cluster: says its own
        assert not cluster.job_error_said_elsewhere(None)
    finally:
        cluster.say_job_errors_at(None)
        cluster._failures.clear()


def test_a_local_cluster_tags_the_rows_of_several_bare_selects(tmp_path: Path) -> None:
    """Each process works out the default format from the job, as one process does."""
    job = _job(tmp_path, TRADES + "SELECT symbol, price FROM trades WHERE price > 15;\n"
               "SELECT symbol, ts FROM trades WHERE price < 1;\n", events=60)
    result = subprocess.run([sys.executable, "-m", "frys", "run", str(job), "-q",
                             "--runtime", "bytewax", "-p", "2"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    by_query = sorted(row.pop("_query") for row in rows)
    assert by_query == ["select_1"] * 3 + ["select_2"] * 4
    assert sorted(row["price"] for row in rows if "price" in row) == [16.0] * 3


def test_the_launcher_checks_the_job_only_when_a_process_fails() -> None:
    """Processes that end well are the run's end: the launcher's check (compiling the
    job, a quarter of a second of CPU) would only have taken cores from their start-up."""
    from frys.engine.scaleout.cluster import run_processes

    checked: list[bool] = []
    run_processes(lambda i, _addresses: [sys.executable, "-c", "pass"], 2,
                  check=lambda: checked.append(True))
    assert checked == []


def test_when_a_process_fails_the_others_stop_and_the_check_says_why(tmp_path: Path
                                                                      ) -> None:
    """A process that fails (a job error it leaves to the launcher to say) stops the
    others; the check then runs, with every process ended, and its error is raised
    rather than the exit status; a check that finds nothing leaves ProcessFailed."""
    from frys.engine.scaleout.cluster import ProcessFailed, run_processes

    alive: list[bool] = []

    def check() -> None:  # process 1 has written its pid: is it still running?
        try:
            os.kill(int((tmp_path / "pid").read_text()), 0)
            alive.append(True)
        except ProcessLookupError:
            alive.append(False)
        raise ValueError("the job is wrong")

    first_fails = ("import os, pathlib, sys, time\n"
                   "if sys.argv[2] == '0':\n"
                   "    while not pathlib.Path(sys.argv[1], 'pid').exists(): time.sleep(0.01)\n"
                   "    raise SystemExit(2)\n"
                   "pathlib.Path(sys.argv[1], 'pid.tmp').write_text(str(os.getpid()))\n"
                   "pathlib.Path(sys.argv[1], 'pid.tmp').rename(pathlib.Path(sys.argv[1], 'pid'))\n"
                   "time.sleep(60)")
    began = time.monotonic()
    with pytest.raises(ValueError, match="the job is wrong"):
        run_processes(lambda i, _addresses: [sys.executable, "-c", first_fails,
                                             str(tmp_path), str(i)], 2,
                      check=check, stop_grace_s=5)
    assert time.monotonic() - began < 30  # the other stopped, not waited for
    assert alive == [False]
    with pytest.raises(ProcessFailed, match="exited with status 2"):
        run_processes(lambda i, _addresses: [sys.executable, "-c", "raise SystemExit(2)"],
                      2, check=lambda: None)
