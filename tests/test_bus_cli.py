"""`frys publish`, `frys tail` and `frys replay`, run as real processes on real logs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from frys import Pipeline
from frys.connectors.wal import LogReader, PayloadFormat, WriteAheadLog
from frys.connectors.wal_topic import record_lines

FRYS = [sys.executable, "-m", "frys.cli"]


def frys(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FRYS, *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, timeout=120)


def events(n: int, start: int = 0, ts: int = 1_000) -> str:
    return "".join(json.dumps({"id": i, "ts": ts + i}) + "\n" for i in range(start, start + n))


def logged(directory: Path) -> list[dict[str, object]]:
    return [json.loads(line) for record, skip in LogReader(directory).read()
            for line in record_lines(record, skip)]


def test_publish_appends_json_lines_and_names_the_lines_it_refused(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(events(2) + "not json\n[1, 2]\n" + events(1, 2))
    run = frys("publish", "orders", "in.jsonl", cwd=tmp_path)
    assert run.returncode == 1
    assert "in.jsonl:3: not published: JSON is malformed" in run.stderr
    assert "in.jsonl:4: not published: an event must be a JSON object" in run.stderr
    assert "published 3 events to .frys/wal/orders (offsets 0..2); 2 lines were not" \
        in run.stderr
    assert [e["id"] for e in logged(tmp_path / ".frys/wal/orders")] == [0, 1, 2]


def test_publish_reads_stdin_and_tail_prints_the_last_events(tmp_path: Path) -> None:
    assert frys("publish", "logs/clicks", cwd=tmp_path, stdin=events(30)).returncode == 0
    tail = frys("tail", "logs/clicks", "-n", "3", "--no-follow", cwd=tmp_path)
    assert tail.returncode == 0
    assert [json.loads(line)["id"] for line in tail.stdout.splitlines()] == [27, 28, 29]
    middle = frys("tail", "wal:logs/clicks", "--from-offset", "10", "--max-events", "2",
                  cwd=tmp_path)
    assert [json.loads(line)["id"] for line in middle.stdout.splitlines()] == [10, 11]


def test_tail_follows_a_log_another_process_is_writing(tmp_path: Path) -> None:
    frys("publish", "feed", cwd=tmp_path, stdin=events(2))
    follower = subprocess.Popen([*FRYS, "tail", "feed", "--from-offset", "2",
                                 "--max-events", "5"],
                                cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    assert follower.stdout is not None
    try:
        assert frys("publish", "feed", cwd=tmp_path, stdin=events(1, 2)).returncode == 0
        first = follower.stdout.readline()  # it has reached the end of the log: it waits
        assert frys("publish", "feed", cwd=tmp_path, stdin=events(4, 3)).returncode == 0
        rest, _ = follower.communicate(timeout=60)
    finally:
        follower.kill()
    ids = [json.loads(line)["id"] for line in [first, *rest.splitlines()]]
    assert ids == [2, 3, 4, 5, 6]


def test_replay_copies_an_offset_range(tmp_path: Path) -> None:
    frys("publish", "src", "--batch", "4", cwd=tmp_path, stdin=events(20))
    run = frys("replay", "src", "--to", "by_offset", "--from-offset", "5", "--to-offset",
               "13", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "replayed 8 events" in run.stderr
    assert [e["id"] for e in logged(tmp_path / ".frys/wal/by_offset")] == list(range(5, 13))
    shown = frys("replay", "src", "--to", "with_bar", "--progress", cwd=tmp_path)
    assert "replay src: 100%" in shown.stderr and "20.0/20.0" in shown.stderr
    same = frys("replay", "src", "--to", "src", cwd=tmp_path)
    assert same.returncode == 2
    assert "would read and write the same log" in same.stderr
    missing = frys("replay", "nowhere", "--to", "x", cwd=tmp_path)
    assert missing.returncode == 2
    assert "no WAL at .frys/wal/nowhere" in missing.stderr


def test_replay_by_event_time_takes_the_records_in_the_range(tmp_path: Path) -> None:
    """Records carry their event-time range; --from-time starts at the first record with an
    event at or after it, --until-time stops at the first record wholly at or after it."""
    hour = 3_600_000
    start = 1_714_564_800_000  # 2024-05-01T12:00:00Z
    with WriteAheadLog(tmp_path / "src") as log:
        for h in range(5):  # one record per hour, two events each
            lines = [json.dumps({"h": h, "i": i}).encode() for i in range(2)]
            log.append(b"\n".join(lines), 2, start + h * hour, start + h * hour + 10,
                       PayloadFormat.JSONL)
    run = frys("replay", "./src", "--to", "./window", "--from-time", "2024-05-01T13:00:00Z",
               "--until-time", str(start + 3 * hour), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert [(e["h"], e["i"]) for e in logged(tmp_path / "window")] == \
        [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert "(offsets 2..5)" in run.stderr


def test_replayed_events_reach_a_job_reading_the_topic(tmp_path: Path) -> None:
    """Replay into a job's persistent stream: its next run picks the events up from its
    committed offset."""
    job = tmp_path / "count.frysql"
    job.write_text(textwrap.dedent("""
        CREATE STREAM orders (id INT, ts TIMESTAMP)
            WITH (event_time = ts, queue = 'persistent');
        SELECT COUNT(*) AS n FROM orders GROUP BY TUMBLE(1 DAY);
    """))
    frys("publish", "archive", cwd=tmp_path, stdin=events(10))
    assert frys("replay", "archive", "--to", "orders", "--from-offset", "4", "-q",
                cwd=tmp_path).returncode == 0
    pipeline = Pipeline.from_file(job)
    pipeline.run()
    assert pipeline.results("select_1")["n"].to_list() == [6]


def test_tail_of_a_live_topic_runs_the_job(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(events(3))
    (tmp_path / "job.frysql").write_text(textwrap.dedent("""
        CREATE STREAM raw (id INT, ts TIMESTAMP)
            WITH (event_time = ts, source = 'file:in.jsonl');
        CREATE STREAM odd;
        INSERT INTO odd SELECT id FROM raw WHERE id % 2 = 1;
    """))
    run = frys("tail", "odd", "--job", "job.frysql", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ['{"id":1}']
    wrong = frys("tail", "even", "--job", "job.frysql", cwd=tmp_path)
    assert wrong.returncode == 2
    assert "has no stream even; streams: dead_letters, overflow, raw, odd" in wrong.stderr


def test_frys_run_reads_a_persistent_stream_from_its_committed_offset(tmp_path: Path) -> None:
    (tmp_path / "count.frysql").write_text(
        "CREATE STREAM orders (id INT, ts TIMESTAMP)\n"
        "    WITH (event_time = ts, queue = 'persistent');\n"
        "SELECT COUNT(*) AS n FROM orders GROUP BY TUMBLE(1 DAY);\n")
    frys("publish", "orders", "--wal-root", "logs", cwd=tmp_path, stdin=events(4))
    first = frys("run", "count.frysql", "--wal-root", "logs", "--wal-fsync", "always",
                 cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == '{"n":4}\n'
    again = frys("run", "count.frysql", "--wal-root", "logs", cwd=tmp_path)
    assert again.stdout == ""  # committed: nothing new
    frys("publish", "orders", "--wal-root", "logs", cwd=tmp_path, stdin=events(2, 4))
    assert frys("run", "count.frysql", "--wal-root", "logs", cwd=tmp_path).stdout \
        == '{"n":2}\n'
    bad = frys("run", "count.frysql", "--wal-fsync", "sometimes", cwd=tmp_path)
    assert bad.returncode == 2
    assert "unknown fsync policy 'sometimes'" in bad.stderr
