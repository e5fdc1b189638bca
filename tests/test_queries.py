"""End to end: every job in queries/ checks and runs; the demo's output equals a naive
reference computed straight from its sample data."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from frys.cli import main

QUERIES = Path(__file__).resolve().parent.parent / "queries"
JOBS = sorted(QUERIES.glob("*.frysql"))


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    """A copy of queries/ so that sinks write under tmp_path, not into the repository."""
    shutil.copytree(QUERIES, tmp_path / "queries", ignore=shutil.ignore_patterns("out"))
    return tmp_path / "queries"


def test_there_are_example_jobs() -> None:
    assert JOBS, "queries/ must hold at least one .frysql job"


@pytest.mark.parametrize("job", JOBS, ids=lambda p: p.name)
def test_every_example_job_checks_cleanly(job: Path) -> None:
    assert main(["check", str(job)]) == 0


@pytest.mark.parametrize("job", JOBS, ids=lambda p: p.name)
def test_every_example_job_runs_to_completion(job: Path, workdir: Path, capsys) -> None:
    assert main(["run", str(workdir / job.name)]) == 0
    assert "frys: done." in capsys.readouterr().err


def _millis(value: object) -> int:
    if isinstance(value, int):
        return value
    return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)


def _iso(millis: int) -> str:
    return datetime.fromtimestamp(millis / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _reference_minute_bars(data: Path) -> list[dict]:
    groups: dict[tuple[str, int], list[tuple[int, float, int]]] = defaultdict(list)
    for line in data.read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(event.get("price"), (int, float)):
            continue
        ts = _millis(event["ts"])
        groups[(event["symbol"], ts // 60_000 * 60_000)].append(
            (ts, float(event["price"]), event["volume"]))
    rows = []
    for (symbol, start), events in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        first = min(range(len(events)), key=lambda i: (events[i][0], i))
        last = max(range(len(events)), key=lambda i: (events[i][0], i))
        rows.append({
            "symbol": symbol, "window_start": _iso(start), "window_end": _iso(start + 60_000),
            "trades": len(events), "volume": sum(e[2] for e in events),
            "open": events[first][1], "high": max(e[1] for e in events),
            "low": min(e[1] for e in events), "close": events[last][1],
        })
    return rows


def test_demo_minute_bars_equal_a_naive_reference(workdir: Path, capsys) -> None:
    assert main(["run", str(workdir / "demo.frysql")]) == 0
    captured = capsys.readouterr()
    written = workdir.parent / "out" / "minute_bars.jsonl"
    rows = [json.loads(line) for line in written.read_text().splitlines()]
    assert rows == _reference_minute_bars(workdir / "data" / "trades.jsonl")
    # the two broken sample lines are counted and located
    assert "frys: dead letters: 2 (trades: 2)" in captured.err
    assert "trades.jsonl:1201: malformed JSON" in captured.err
    assert "trades.jsonl:2401: field price: expected FLOAT, got 'cheap'" in captured.err
    # bare SELECTs print JSON lines to stdout: the spread query and the big-trade query
    printed = [json.loads(line) for line in captured.out.splitlines()]
    spreads = [r for r in printed if "spread" in r]
    big = [r for r in printed if "big_trades" in r]
    assert len(spreads) + len(big) == len(printed)
    expected_spreads = [r for r in rows
                        if r["high"] - r["low"] > 0.75 * (r["high"] + r["low"]) / 100]
    assert [(r["symbol"], r["window_start"]) for r in spreads] == [
        (r["symbol"], r["window_start"]) for r in expected_spreads]
    assert all(r["big_trades"] >= 10 for r in big) and big
