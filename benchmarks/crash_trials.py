"""Crash trials at full size (issue 15): tests/test_crash_trials.py's jobs, each killed at
100 random moments across its restarts, then restarted until its input is done; its output
must equal, row for row, one uninterrupted run's. A long-running check, not a benchmark
(it lives beside them because it is run by hand, takes minutes, and its record is in
benchmarks/README.md); CI runs the same trials, smaller, as tests.

    .venv/bin/python benchmarks/crash_trials.py [--kills 100] [--events 40000]
        [--jobs pattern,window] [--signals kill,term] [--seed 1] [--keep DIR]

For each job of tests/test_crash_trials.py (a window job, a pattern job and a join job over
`file:` sources into a `file:` sink, and the window job into a `wal:` sink) and each
signal:

* the job's input: `--events` events per input file (the join reads two), read in 1 KiB
  chunks (about 20 events a batch), a checkpoint every 150 events;
* one uninterrupted run without state, timed (T), and one over empty inputs (S, the
  start-up: interpreter, imports, compile);
* the trial: the job started on a state folder again and again, each start sent the signal
  at a random moment: one in five drawn uniformly from [0, S) after it was started (dying
  while starting up or restoring), the others from [0, 2 (T - S) / kills) after it says
  it is running (the child prints "running" as `Runtime.run` begins: its state restored,
  `frys run`'s handlers installed), so mid-run, each about 1/kills of the input in on
  average (the input lasts about the kills); after `--kills` signals, started until a
  start ends its input (a trial whose input ends first has fewer kills: reported);
* `kill`: SIGKILL (no handler, no flush, no last checkpoint), through the Python API
  (`Pipeline(state=...).run(checkpoint_every_events=150)`);
  `term`: SIGTERM to `frys run --state DIR --checkpoint-every-events 150`, a clean stop at
  the next batch boundary with a last checkpoint (exit 0), or, before the handler is
  installed, a kill;
* reported per job and signal: signals that killed, clean stops, starts, checkpoints
  taken across them, output rows, identical to the uninterrupted run's (as a multiset of
  rows, as the test compares: rows one operator call emits together may come out in
  another order after a resume), wall time of the trial.

Exits 1 if any trial's output differs; with `--keep DIR`, that trial's folder (inputs,
uninterrupted output, the trial's output and state) is copied to DIR/<job>-<signal>.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' helpers

from tests.test_crash_trials import (
    JOBS,
    crash_trial,
    output_rows,
    prepare,
    start,
    start_cli,
    timed_run,
)

SIGNALS = {"kill": (signal.SIGKILL, start), "term": (signal.SIGTERM, start_cli)}


def one_trial(folder: Path, job: str, how: str, kills: int, events: int,
              rng: random.Random) -> dict:
    stop, launch = SIGNALS[how]
    startup = timed_run(prepare(folder / "empty", job, 0), launch)
    whole = prepare(folder / "whole", job, events)
    took = timed_run(whole, launch)
    expected = output_rows(whole.parent)
    step = 2 * max(took - startup, 0.0) / kills

    def moment() -> tuple[bool, float]:
        if rng.random() < 0.2:
            return False, rng.uniform(0, startup)
        return True, rng.uniform(0, step)

    trial_job = prepare(folder / "trial", job, events)
    began = time.monotonic()
    trial = crash_trial(trial_job, folder / "state", kills, moment,
                        stop, launch)
    wall = time.monotonic() - began
    written = output_rows(trial_job.parent)
    return {"job": job, "signal": how, "kills": trial.kills, "stops": trial.stops,
            "starts": trial.starts, "checkpoints": trial.checkpoints, "rows": len(written),
            "expected": len(expected), "identical": Counter(written) == Counter(expected),
            "startup_s": startup, "whole_s": took, "wall_s": wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100, help="signals per trial")
    parser.add_argument("--events", type=int, default=40_000, help="events per input file")
    parser.add_argument("--jobs", default=",".join(sorted(JOBS)),
                        help="comma-separated, of: " + ", ".join(sorted(JOBS)))
    parser.add_argument("--signals", default="kill,term", help="kill, term or both")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="where to copy a failed trial's folder")
    args = parser.parse_args()
    jobs = args.jobs.split(",")
    hows = args.signals.split(",")
    unknown = [j for j in jobs if j not in JOBS] + [h for h in hows if h not in SIGNALS]
    if unknown:
        parser.error(f"unknown job or signal: {', '.join(unknown)}")
    print(f"{args.kills} signals per trial, {args.events:,} events per input file, "
          f"seed {args.seed}")
    print(f"{'job':18} {'signal':7} {'kills':>5} {'stops':>5} {'starts':>6} "
          f"{'checkpoints':>11} {'rows':>7} {'identical':>9} {'start-up s':>10} "
          f"{'whole s':>7} {'wall s':>7}", flush=True)
    failed = False
    for job in jobs:
        for how in hows:
            rng = random.Random(f"{args.seed}-{job}-{how}")
            with tempfile.TemporaryDirectory(prefix="frys-crash-") as folder:
                r = one_trial(Path(folder), job, how, args.kills, args.events, rng)
                if not r["identical"] and args.keep is not None:
                    shutil.copytree(folder, args.keep / f"{job.replace(' ', '-')}-{how}")
            failed |= not r["identical"]
            print(f"{job:18} {how:7} {r['kills']:>5} {r['stops']:>5} {r['starts']:>6} "
                  f"{r['checkpoints']:>11} {r['rows']:>7} "
                  f"{'yes' if r['identical'] else 'NO':>9} {r['startup_s']:>10.2f} "
                  f"{r['whole_s']:>7.2f} {r['wall_s']:>7.1f}", flush=True)
            if not r["identical"]:
                print(f"  {r['rows']} rows written, {r['expected']} expected", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
