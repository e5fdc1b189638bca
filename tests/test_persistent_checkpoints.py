"""Persistent streams fed from outside a job (`queue = 'persistent'`, no query writing to
them) in checkpoints (issue 15): what the stream logged is replayed at start from where the
job's state says it got to, so a job resumed from a checkpoint takes every logged event
once: those logged after the checkpoint (published before a crash, or by `frys publish`
while the job was down) again, none before it. Real processes, killed with SIGKILL."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from frys import Pipeline
from frys.connectors.wal import OffsetStore

TS = 1_700_000_000_000
JOB = """
CREATE STREAM orders (id INT, amount FLOAT, ts TIMESTAMP)
    WITH (event_time = ts, queue = 'persistent');
SELECT COUNT(*) AS n, SUM(amount) AS total FROM orders GROUP BY TUMBLE(1 DAY);
"""


def orders(ids: range, amount: float = 1.0) -> list[dict[str, object]]:
    return [{"id": i, "amount": amount, "ts": TS + i} for i in ids]


def in_a_process(folder: Path, body: str) -> subprocess.CompletedProcess[str]:
    """Run `body` with `pipeline` built on folder's job and state, then die (SIGKILL)."""
    script = textwrap.dedent(f"""
        import os, signal
        from frys import Pipeline
        pipeline = Pipeline(open({str(folder / "job.frysql")!r}).read(),
                            {str(folder / "job.frysql")!r}, base_dir={str(folder)!r},
                            state={str(folder / "state")!r})
    """) + textwrap.dedent(body) + "\nos.kill(os.getpid(), signal.SIGKILL)\n"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)


def test_events_logged_after_the_checkpoint_are_replayed_once_on_resume(
        tmp_path: Path) -> None:
    (tmp_path / "job.frysql").write_text(JOB)
    died = in_a_process(tmp_path, f"""
        pipeline.publish("orders", {orders(range(4))!r})
        pipeline.checkpoint()
        pipeline.publish("orders", {orders(range(4, 6), 10.0)!r})  # logged, then the crash
    """)
    assert died.returncode == -9, died.stderr
    resumed = Pipeline.resume(tmp_path / "state", base_dir=tmp_path)
    resumed.publish("orders", orders(range(6, 7), 100.0))
    resumed.finish()
    # 4 from the checkpoint's state, 2 replayed from the log, 1 published now: each once
    assert resumed.results("select_1").rows() == [(7, 124.0)]
    assert OffsetStore(tmp_path / ".frys/wal/orders").load("job.orders") == 7


def test_events_published_while_the_job_was_down_are_replayed_and_then_checkpointed(
        tmp_path: Path) -> None:
    (tmp_path / "job.frysql").write_text(JOB)
    died = in_a_process(tmp_path, f"""
        pipeline.publish("orders", {orders(range(3))!r})
        pipeline.checkpoint()
    """)
    assert died.returncode == -9, died.stderr
    lines = "".join(json.dumps(order) + "\n" for order in orders(range(3, 5), 5.0))
    published = subprocess.run([sys.executable, "-m", "frys", "publish", ".frys/wal/orders"],
                               input=lines, capture_output=True, text=True, cwd=tmp_path,
                               timeout=60)
    assert published.returncode == 0, published.stderr
    # the next run replays the two at start, and its checkpoint holds them: killed after
    # it, the run after replays nothing twice
    died = in_a_process(tmp_path, """
        pipeline.runtime.start()
        pipeline.checkpoint()
    """)
    assert died.returncode == -9, died.stderr
    resumed = Pipeline.resume(tmp_path / "state", base_dir=tmp_path)
    resumed.finish()
    assert resumed.results("select_1").rows() == [(5, 13.0)]


def test_a_checkpointed_run_commits_the_log_offset_it_got_to(tmp_path: Path) -> None:
    (tmp_path / "job.frysql").write_text(JOB)
    pipeline = Pipeline(JOB, str(tmp_path / "job.frysql"), base_dir=tmp_path,
                        state=tmp_path / "state")
    pipeline.publish("orders", orders(range(3)))
    pipeline.checkpoint()
    assert OffsetStore(tmp_path / ".frys/wal/orders").load("job.orders") == 3
    pipeline.finish()
