"""Running one job on the embedded runtime and on `--runtime bytewax`, and comparing what
each wrote (tests/test_scaleout.py).

A job runs in a fresh copy of a template folder (the job file and its input files) per
runtime, so each writes its sinks into a folder of its own. What a run produced:

* every file a sink wrote (anything in the folder that the template did not have): JSON
  lines as rows, CSV as lines after the header, a `wal:` sink's log as the rows
  `frys tail --no-follow` prints;
* the rows of the bare SELECTs on stdout, always run with `--format tagged` so that each
  row names its query;
* the summary on stderr: events per stream, late events, count windows short at the end,
  discarded partial matches and dead letters, each counted per name (the embedded
  runtime's lines locating the first dead letters are left out: the bytewax summary
  counts them only).

Order: the scale-out runtime runs each key group of a keyed query as an operator instance
of its own, and bytewax interleaves the key groups' outputs (and a sink's batches) as its
workers go, so the order of rows ACROSS key groups is not kept; within a key nothing
changes (a key's rows stay in arrival order, its windows fire in the same order). Each
output is therefore compared as a sorted multiset of rows (canonical JSON, keys sorted):
every row, with its multiplicity, must come out of both, and nothing else.

`-w N` runs in this process (`frys.cli.main`, bytewax's `cli_main` in the calling thread:
several runs in one pytest process work, each builds its own workers); `-p P` runs
`python -m frys run ... -p P` as a subprocess, which launches and watches its P children.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from frys.cli import main

QUERY_FIELD = "_query"


@dataclass(frozen=True)
class Runtime:
    """The embedded runtime (workers None) or bytewax with `workers` per process,
    `processes` processes (a subprocess when > 1) and `key_groups` (None: the default)."""

    workers: int | None = None
    processes: int = 1
    key_groups: int | None = None

    @property
    def label(self) -> str:
        if self.workers is None:
            return "embedded"
        label = f"bytewax-w{self.workers}"
        if self.processes > 1:
            label += f"-p{self.processes}"
        if self.key_groups is not None:
            label += f"-kg{self.key_groups}"
        return label

    def flags(self) -> list[str]:
        if self.workers is None:
            return []
        flags = ["--runtime", "bytewax", "-w", str(self.workers)]
        if self.processes > 1:
            flags += ["-p", str(self.processes)]
        if self.key_groups is not None:
            flags += ["--key-groups", str(self.key_groups)]
        return flags


EMBEDDED = Runtime()


def bytewax(workers: int, processes: int = 1, key_groups: int | None = None) -> Runtime:
    return Runtime(workers, processes, key_groups)


@dataclass
class Outcome:
    """What one run produced: rows per output (file path relative to the run's folder, or
    "stdout"), each a sorted list of canonical JSON rows, and the summary's counters."""

    outputs: dict[str, list[str]]
    summary: dict[str, dict[str, int]]
    stderr: str


def write_template(folder: Path, job: str, files: dict[str, str | list[dict]]) -> Path:
    """A template folder holding `job.frysql` and `files` (text, or rows written as JSON
    lines); returns the folder."""
    folder.mkdir(parents=True)
    (folder / "job.frysql").write_text(job)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_text("".join(json.dumps(row) + "\n" for row in content))
    return folder


def run_job(template: Path, job: str, runtime: Runtime, scratch: Path,
            flags: tuple[str, ...] = ()) -> Outcome:
    """Run `template/job` (a path relative to the template) on `runtime`, with `frys run`'s
    `flags`, in a copy of the template under `scratch`; what it produced. A run that fails
    fails the test, with its stderr."""
    folder = scratch / runtime.label
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(template, folder)
    before = {p.relative_to(folder) for p in folder.rglob("*")}
    argv = ["run", str(folder / job), "--format", "tagged", "--no-progress", *flags,
            *runtime.flags()]
    if runtime.processes > 1:
        done = subprocess.run([sys.executable, "-m", "frys", *argv], capture_output=True,
                              timeout=120, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        code, out, err = done.returncode, done.stdout, done.stderr.decode()
    else:
        out_buffer, err_text = io.BytesIO(), io.StringIO()
        stdout = io.TextIOWrapper(out_buffer, encoding="utf-8", write_through=True)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(err_text):
            code = main(argv)
            stdout.flush()
        out, err = out_buffer.getvalue(), err_text.getvalue()
    assert code == 0, f"{runtime.label} failed ({code}):\n{err}"
    outputs = {"stdout": [_canonical(line) for line in out.decode().splitlines()
                          if line.strip()]}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if relative in before:
            continue
        rows = _read_output(path)
        if rows is not None:
            outputs[str(relative)] = rows
    # where a row names a file of the run (a dead letter's position), the run's folder
    # differs between runtimes
    outputs = {name: sorted(row.replace(str(folder), "<run>") for row in rows)
               for name, rows in outputs.items()}
    return Outcome(outputs, parse_summary(err.replace(str(folder), "<run>")), err)


def _canonical(line: str) -> str:
    return json.dumps(json.loads(line), sort_keys=True)


def _read_output(path: Path) -> list[str] | None:
    """The rows a sink left at `path`, or None when `path` holds none itself (a
    folder, a WAL's lock or segment: a WAL is read as a whole, from its folder)."""
    from frys.connectors.wal.log import list_segments

    if path.is_dir():
        if not list_segments(path):
            return None
        out = io.BytesIO()
        stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
        with contextlib.redirect_stdout(stdout):
            assert main(["tail", str(path), "--no-follow", "--lines", str(1 << 40)]) == 0
            stdout.flush()
        return [_canonical(line) for line in out.getvalue().decode().splitlines()]
    if (path.parent.is_dir() and list_segments(path.parent)) or path.name == ".lock":
        return None
    if path.suffix in (".jsonl", ".json", ".ndjson"):
        return [_canonical(line) for line in path.read_text().splitlines() if line.strip()]
    if path.suffix == ".csv":
        header, *lines = path.read_text().splitlines()
        return [f"header {header}", *(f"row {line}" for line in lines)]
    raise AssertionError(f"an output this comparison cannot read: {path}")


def parse_summary(stderr: str) -> dict[str, dict[str, int]]:
    """The counters of `frys run`'s summary (job_stats.summary), per line and name: `done.`
    as "events", each other line (late events, short count windows, discarded partial
    matches, dead letters) by its words, with its total as "(total)" where it has one."""
    summary: dict[str, dict[str, int]] = {}
    for line in stderr.splitlines():
        if not line.startswith("frys: "):
            continue  # the lines locating the first dead letters, embedded only
        body = line.removeprefix("frys: ")
        if body.startswith("done. "):
            events = body.removeprefix("done. ")
            summary["events"] = {} if events == "no events" else _counts(events, "; ",
                                                                          " events")
            continue
        what, _, rest = body.partition(": ")
        rest = re.sub(r" \(raise [^)]*\)$", "", rest)  # the advice after a count
        total = re.fullmatch(r"(\d+)(?: \((.*)\))?", rest)
        if total is None:
            summary[what] = _counts(rest, ", ")
        else:
            summary[what] = {**_counts(total[2] or "", ", "), "(total)": int(total[1])}
    return summary


def _counts(text: str, separator: str, suffix: str = "") -> dict[str, int]:
    """`name: n` items (names may hold spaces, parentheses and colons)."""
    counts = {}
    for item in filter(None, text.split(separator)):
        name, _, number = item.rpartition(": ")
        counts[name] = int(number.removesuffix(suffix))
    return counts


def assert_same_outputs(template: Path, job: str, runtimes: list[Runtime], scratch: Path,
                        flags: tuple[str, ...] = ()) -> Outcome:
    """Run the job on the embedded runtime and on each of `runtimes`; every output (and the
    summary's counters) must be the same multiset of rows, and the same sink files exist
    (a sink nothing writes leaves an empty file on both). Returns the embedded outcome."""
    expected = run_job(template, job, EMBEDDED, scratch, flags)
    for runtime in runtimes:
        got = run_job(template, job, runtime, scratch, flags)
        assert set(got.outputs) == set(expected.outputs), (
            f"{runtime.label} wrote {sorted(got.outputs)}, the embedded runtime "
            f"{sorted(expected.outputs)}")
        for name, rows in expected.outputs.items():
            if got.outputs[name] != rows:
                raise AssertionError(f"{runtime.label}: {name} differs from the embedded "
                                     f"runtime's\n{_diff(rows, got.outputs[name])}")
        assert got.summary == expected.summary, (
            f"{runtime.label}: summary {got.summary}\nembedded: {expected.summary}")
    return expected


def _diff(expected: list[str], got: list[str], limit: int = 12) -> str:
    missing = Counter(expected) - Counter(got)
    extra = Counter(got) - Counter(expected)
    lines = [f"{len(expected)} rows expected, {len(got)} written; "
             f"{sum(missing.values())} missing, {sum(extra.values())} extra"]
    lines += [f"  - {row}" for row in list(missing.elements())[:limit]]
    lines += [f"  + {row}" for row in list(extra.elements())[:limit]]
    return "\n".join(lines)
