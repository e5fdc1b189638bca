"""Load and cross-check the W1 result files written by frys and its peers.

Every contender writes JSON lines ``{"k", "window_start", "n", "total"}``.
``window_start`` may be an ISO-8601 string (naive strings are taken as UTC) or
a number of epoch milliseconds; it is normalised to epoch milliseconds so files
from different engines can be compared row by row.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_INPUT = BENCH_DIR / "data" / "events.jsonl"
RELATIVE_TOLERANCE = 1e-6
MAX_REPORTED_DIFFERENCES = 5

WindowRow = tuple[int, int]  # (k, window_start in epoch ms)


def window_start_ms(value: object) -> int:
    """Normalise a ``window_start`` field to epoch milliseconds."""
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return round(moment.timestamp() * 1000)
    raise ValueError(f"unsupported window_start value: {value!r}")


@dataclass
class W1Output:
    """Aggregated rows of one result file, keyed by (k, window_start_ms)."""

    path: Path
    rows: dict[WindowRow, tuple[int, float]] = field(default_factory=dict)

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def event_count(self) -> int:
        return sum(count for count, _ in self.rows.values())

    @property
    def total_sum(self) -> float:
        return math.fsum(total for _, total in self.rows.values())


def load_output(path: Path) -> W1Output:
    """Read a W1 JSONL result file; duplicate (k, window) rows are an error."""
    if not path.exists():
        raise FileNotFoundError(f"result file not found: {path}")
    output = W1Output(path)
    with path.open("r", encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            record = json.loads(line)
            row = (int(record["k"]), window_start_ms(record["window_start"]))
            if row in output.rows:
                raise ValueError(f"{path}:{line_number}: duplicate row for (k, window) {row}")
            output.rows[row] = (int(record["n"]), float(record["total"]))
    return output


def relatively_equal(a: float, b: float, tolerance: float = RELATIVE_TOLERANCE) -> bool:
    return abs(a - b) <= tolerance * max(abs(a), abs(b), 1e-300)


def compare_outputs(reference_name: str, reference: W1Output,
                    other_name: str, other: W1Output) -> list[str]:
    """Return human-readable differences between two outputs (empty if equal)."""
    problems: list[str] = []
    pair = f"{other_name} vs {reference_name}"
    if other.row_count != reference.row_count:
        problems.append(f"{pair}: (k, window) rows {other.row_count} != {reference.row_count}")
    if other.event_count != reference.event_count:
        problems.append(f"{pair}: total count {other.event_count} != {reference.event_count}")
    if not relatively_equal(other.total_sum, reference.total_sum):
        problems.append(f"{pair}: sum of totals {other.total_sum!r} != {reference.total_sum!r}"
                        f" (relative tolerance {RELATIVE_TOLERANCE})")
    problems.extend(_row_differences(pair, reference, other))
    return problems


def _row_differences(pair: str, reference: W1Output, other: W1Output) -> list[str]:
    """Describe the first few rows that are missing, extra or different."""
    differences: list[str] = []
    missing = sorted(reference.rows.keys() - other.rows.keys())
    extra = sorted(other.rows.keys() - reference.rows.keys())
    if missing:
        differences.append(f"{pair}: {len(missing)} rows missing, e.g. {missing[:3]}")
    if extra:
        differences.append(f"{pair}: {len(extra)} unexpected rows, e.g. {extra[:3]}")
    changed = [
        (row, other.rows[row], expected)
        for row, expected in reference.rows.items()
        if row in other.rows and (other.rows[row][0] != expected[0]
                                  or not relatively_equal(other.rows[row][1], expected[1]))
    ]
    for row, got, expected in changed[:MAX_REPORTED_DIFFERENCES]:
        differences.append(f"{pair}: row (k={row[0]}, window_start_ms={row[1]}): "
                           f"(n, total) {got} != {expected}")
    if len(changed) > MAX_REPORTED_DIFFERENCES:
        differences.append(f"{pair}: ... {len(changed)} differing rows in total")
    return differences


def peer_paths(description: str, default_output: Path,
               argv: list[str] | None = None) -> tuple[Path, Path]:
    """A peer script's `[INPUT] [OUTPUT]` arguments: the input must exist; the output's
    folder is made and a stale output removed, so a failed run never passes for a good one."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("input", nargs="?", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("output", nargs="?", type=Path, default=default_output)
    args = parser.parse_args(argv)
    if not args.input.exists():
        parser.error(f"input file not found: {args.input}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.unlink(missing_ok=True)
    return args.input.resolve(), args.output.resolve()
