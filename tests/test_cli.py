"""The frys command line: exit codes and what each command prints."""

from __future__ import annotations

import json
from pathlib import Path

from frys.cli import main

JOB = """CREATE STREAM ev (k STRING, v FLOAT, ts TIMESTAMP)
    WITH (event_time = ts, source = 'file:ev.jsonl');
SELECT k, window_start, COUNT(*) AS n, SUM(v) AS total
FROM ev WHERE v > 1 GROUP BY k, TUMBLE(1 SECOND);
"""


def _write_job(tmp_path: Path, text: str = JOB, events: list[str] | None = None) -> Path:
    job = tmp_path / "job.frysql"
    job.write_text(text)
    lines = events if events is not None else [
        '{"k": "a", "v": 2.0, "ts": 1000}', '{"k": "a", "v": 3.0, "ts": 1500}',
        '{"k": "b", "v": 0.5, "ts": 1700}', '{"k": "b", "v": 5.0, "ts": "1970-01-01T00:00:02Z"}']
    (tmp_path / "ev.jsonl").write_text("\n".join(lines) + "\n")
    return job


def test_run_prints_rows_and_a_summary(tmp_path: Path, capsys) -> None:
    assert main(["run", str(_write_job(tmp_path))]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows == [
        {"k": "a", "window_start": "1970-01-01T00:00:01.000Z", "n": 2, "total": 5.0},
        {"k": "b", "window_start": "1970-01-01T00:00:02.000Z", "n": 1, "total": 5.0},
    ]
    assert "ev: 4 events" in err
    assert "dead letters: 0" in err


def test_run_reports_late_events(tmp_path: Path, capsys, monkeypatch) -> None:
    events = ['{"k": "a", "v": 2.0, "ts": 5000}'] * 2 + ['{"k": "a", "v": 2.0, "ts": 1000}']
    job = _write_job(tmp_path, events=events)
    # one chunk would hold all three lines; small chunks make the old event arrive after
    # the watermark (5000 - 0) has closed its window [1000, 2000)
    monkeypatch.setattr("frys.connectors.jsonl.DEFAULT_CHUNK_BYTES", 40)
    assert main(["run", str(job)]) == 0
    err = capsys.readouterr().err
    assert "late events dropped: 1 (select_1: 1)" in err


def test_check_passes_a_good_job(tmp_path: Path, capsys) -> None:
    assert main(["check", str(_write_job(tmp_path))]) == 0
    assert "ok" in capsys.readouterr().err


def test_check_fails_with_position_and_caret(tmp_path: Path, capsys) -> None:
    job = _write_job(tmp_path, JOB.replace("SUM(v)", "SUM(k)"))
    assert main(["check", str(job)]) == 1
    err = capsys.readouterr().err
    assert f"{job}:3:40: error: SUM needs a numeric argument, got STRING" in err
    assert "\n    " + " " * 39 + "^^^^^^\n" in err


def test_explain_prints_the_operator_graph(tmp_path: Path, capsys) -> None:
    assert main(["explain", str(_write_job(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "source file:ev.jsonl -> topic ev" in out
    assert "query 1: topic ev -> caller (stdout)" in out
    assert "-> filter v > 1" in out
    assert "tumbling window 1 SECOND on ts, group by k, aggregates COUNT(*), SUM(v)" in out


def test_run_with_a_missing_source_file_fails_clearly(tmp_path: Path, capsys) -> None:
    job = _write_job(tmp_path)
    (tmp_path / "ev.jsonl").unlink()
    assert main(["run", str(job)]) == 1
    assert "source file not found" in capsys.readouterr().err


def test_unreadable_job_file_is_a_usage_error(tmp_path: Path, capsys) -> None:
    try:
        main(["run", str(tmp_path / "missing.frysql")])
    except SystemExit as exit_:
        assert exit_.code == 2
    else:
        raise AssertionError("expected exit code 2")
    assert "cannot read" in capsys.readouterr().err


def test_explain_ast_prints_canonical_frysql(tmp_path: Path, capsys) -> None:
    job = _write_job(tmp_path, "create stream ev (k STRING, v FLOAT, ts TIMESTAMP)"
                               " with (event_time=ts);\nselect k, count(*) n from ev"
                               " group by k, tumble(10s)")
    assert main(["explain", "--stage", "ast", str(job)]) == 0
    out = capsys.readouterr().out
    assert out == ("CREATE STREAM ev (k STRING, v FLOAT, ts TIMESTAMP) WITH (event_time = ts);\n"
                   "SELECT k, COUNT(*) AS n FROM ev GROUP BY k, TUMBLE(10 SECONDS);\n")
    assert "\x1b[" not in out  # not a terminal: no colors


def test_explain_ast_works_for_jobs_the_runtime_cannot_run_yet(tmp_path: Path, capsys) -> None:
    job = _write_job(tmp_path, "CREATE TABLE t (p FLOAT PRIMARY KEY, q INT);"
                               "\nSELECT COUNT(*) AS n FROM t x EMIT CHANGES")
    assert main(["explain", "--stage", "ast", str(job)]) == 0
    assert "SELECT COUNT(*) AS n FROM t AS x EMIT CHANGES;" in capsys.readouterr().out
    assert main(["explain", str(job)]) == 1
    assert "not supported yet: an aggregate over table t" in capsys.readouterr().err


def test_explain_from_python_returns_a_string() -> None:
    import frys
    text = "CREATE STREAM s (a INT); SELECT a + 1 AS b FROM s WHERE a > 0"
    assert frys.explain(text, stage="ast") == (
        "CREATE STREAM s (a INT);\nSELECT a + 1 AS b FROM s WHERE a > 0;\n")
    assert "-> filter a > 0" in frys.explain(text)


def test_explain_plan_stages_and_graph_formats(tmp_path: Path, capsys) -> None:
    job = _write_job(tmp_path, JOB.replace("GROUP BY k,", "GROUP BY k, TUMBLE(1 SECOND) HAVING"
                                           " k <> 'z' AND COUNT(*) > 0 * 1 --"))
    assert main(["explain", "--stage", "logical", str(job)]) == 0
    logical = capsys.readouterr().out
    assert "HAVING k <> 'z' AND COUNT(*) > 0 * 1" in logical
    assert "Scan ev\n" in logical  # not pruned yet
    assert main(["explain", "--stage", "optimized", str(job)]) == 0
    optimized = capsys.readouterr().out
    assert "HAVING COUNT(*) > 0" in optimized  # folded
    assert "Filter v > 1 AND k <> 'z'" in optimized  # pushed below the aggregate
    assert "Scan ev (reads k, v, ts)" in optimized  # pruned
    assert main(["explain", "--stage", "optimized", "--format", "mermaid", str(job)]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("flowchart TD\n") and "q0n3 --> q0n2" in mermaid
    assert main(["explain", "--format", "dot", str(job)]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith('digraph "job ') and "src0 -> t2;" in dot and dot.endswith("}\n")


def test_timestamps_inside_arrays_are_iso_too(tmp_path: Path, capsys) -> None:
    job = _write_job(tmp_path, "CREATE STREAM ev (k STRING, v FLOAT, ts TIMESTAMP) WITH"
                     " (event_time = ts, source = 'file:ev.jsonl');\n"
                     "SELECT k, ARRAY_AGG(ts) AS times FROM ev GROUP BY k, TUMBLE(1 MINUTE)")
    assert main(["run", "-q", str(job)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [
        {"k": "a", "times": ["1970-01-01T00:00:01.000Z", "1970-01-01T00:00:01.500Z"]},
        {"k": "b", "times": ["1970-01-01T00:00:01.700Z", "1970-01-01T00:00:02.000Z"]}]


def test_the_console_entry_exits_with_the_job_status(tmp_path: Path) -> None:
    import subprocess
    import sys

    job = _write_job(tmp_path, JOB.replace("SUM(v)", "SUM(k)"))
    bad = subprocess.run([sys.executable, "-m", "frys.cli", "check", str(job)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "SUM needs a numeric argument" in bad.stderr
    good = _write_job(tmp_path)
    done = subprocess.run([sys.executable, "-m", "frys.cli", "run", str(good)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 2 and "frys: done." in done.stderr


def test_a_reader_that_stops_early_is_not_an_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    events = [f'{{"k": "k{i}", "v": 2.0, "ts": {i}}}' for i in range(20_000)]
    job = _write_job(tmp_path, events=events)
    script = (f"'{sys.executable}' -m frys.cli run '{job}' | head -1 >/dev/null; "
              "echo ${PIPESTATUS[0]}")
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "0"
    assert "Traceback" not in result.stderr


def test_queries_over_one_stream_share_one_decoding_pass(tmp_path: Path, capsys,
                                                         monkeypatch) -> None:
    from frys.connectors.decode import StreamDecoder

    calls: list[int] = []
    original = StreamDecoder.decode_jsonl

    def counting(self, chunk, first_line, source):
        calls.append(chunk.count(b"\n"))
        return original(self, chunk, first_line, source)

    monkeypatch.setattr(StreamDecoder, "decode_jsonl", counting)
    job = _write_job(tmp_path, JOB + "SELECT k FROM ev WHERE v > 2;\n"
                     "SELECT k, COUNT(*) AS n FROM ev GROUP BY k, TUMBLE(1 MINUTE);\n")
    assert main(["run", "-q", str(job)]) == 0
    assert calls == [4]  # one chunk, decoded once, for three queries
    assert len(capsys.readouterr().out.splitlines()) == 2 + 2 + 2
