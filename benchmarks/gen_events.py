"""Generate the deterministic JSONL event file used by the W1 benchmark.

Each line is one event::

    {"k": 417, "v": 63.0412, "ts": 1700000000007}

* ``k``  -- integer key in ``0..999``
* ``v``  -- float in ``[0, 100)``, rounded to 4 decimals so it prints compactly
* ``ts`` -- epoch milliseconds, starting at 1_700_000_000_000 and increasing by
  1..10 ms per event (about 180 events per 1-second window)

The output is fully determined by ``--seed`` and ``--events``. If the target
file already holds exactly the requested number of lines it is left alone, so
repeated benchmark runs do not pay for regeneration.

Usage::

    .venv/bin/python benchmarks/gen_events.py [--events 300000] [--out PATH]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUT = BENCH_DIR / "data" / "events.jsonl"
DEFAULT_EVENTS = 300_000
DEFAULT_SEED = 20240601
START_TS_MS = 1_700_000_000_000
KEY_COUNT = 1000
MAX_TS_STEP_MS = 10
LINES_PER_WRITE = 50_000


def count_lines(path: Path) -> int:
    """Count newline-terminated lines in ``path`` by scanning raw bytes."""
    lines = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines


def generate_events(path: Path, events: int, seed: int = DEFAULT_SEED) -> None:
    """Write ``events`` seeded-random JSONL events to ``path`` (overwriting it).

    The file is written to a temporary sibling first and renamed into place, so
    an interrupted run never leaves a half-written file with a plausible name.
    """
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_suffix(path.suffix + ".tmp")
    ts = START_TS_MS
    with tmp_path.open("w", encoding="ascii") as handle:
        buffer: list[str] = []
        for _ in range(events):
            key = rng.randrange(KEY_COUNT)
            value = round(rng.random() * 100.0, 4)
            buffer.append(f'{{"k": {key}, "v": {value!r}, "ts": {ts}}}\n')
            ts += rng.randint(1, MAX_TS_STEP_MS)
            if len(buffer) >= LINES_PER_WRITE:
                handle.writelines(buffer)
                buffer.clear()
        handle.writelines(buffer)
    tmp_path.replace(path)


def ensure_events(path: Path = DEFAULT_OUT, events: int = DEFAULT_EVENTS,
                  seed: int = DEFAULT_SEED) -> bool:
    """Make sure ``path`` holds exactly ``events`` lines; return True if (re)generated."""
    if path.exists() and count_lines(path) == events:
        return False
    generate_events(path, events, seed)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS,
                        help=f"number of events to write (default {DEFAULT_EVENTS})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output JSONL path (default {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help="random seed (default %(default)s)")
    args = parser.parse_args(argv)
    if args.events <= 0:
        parser.error("--events must be positive")
    generated = ensure_events(args.out, args.events, args.seed)
    state = "wrote" if generated else "kept existing"
    print(f"{state} {args.events} events in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
