"""Re-measure the figures of the hardening issue on today's main: a reliability probe.

Four parts, each printing its numbers, then a summary table:

1. mutated jobs: every ```frysql example of docs/language.md and queries/*.frysql, damaged by
   a seeded mutator (tests/test_hardening_front_end.py's, plus byte-level damage: non-UTF-8,
   BOM, NUL, very long strings), compiled with `frys.dsl.compile_text` (and, for the
   byte-level cases, through `frys check` in-process: `read_job`). Every job must end in an
   analyzed job or a FrysError; any other exception is a crash of the front end;
2. damaged data lines: a JSONL file, most lines valid, the rest damaged in one of the kinds of
   DAMAGE, run by `frys run` (subprocess) and `Pipeline.from_file(...).run()` (in-process)
   with a `dead_letters` sink: no crash, every valid line's k exactly once in the output, every
   refused line a dead letter with a reason and its file:line;
3. kill -9 of `frys publish`: SIGKILL at a random moment after the first ack, then the WAL is
   read back: no acknowledged event lost, none duplicated, order and content as the input;
4. worst valid queries: peak RSS (the child's VmHWM, polled) and events/s of the worst cases
   `frys check` accepts, and the ones it must refuse (exit code 1).

    .venv/bin/python benchmarks/hardening_probe.py            # the full probe
    .venv/bin/python benchmarks/hardening_probe.py --quick    # under 2 minutes
    .venv/bin/python benchmarks/hardening_probe.py --parts 1,3 --jobs 5000

Exit code 0 when nothing crashed and no event was lost or duplicated, 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_hardening_front_end import _INSERTS, _examples, _mutant  # noqa: E402

from frys import Pipeline  # noqa: E402
from frys.cli import main as cli_main  # noqa: E402
from frys.connectors.wal import LogReader  # noqa: E402
from frys.connectors.wal_topic import record_lines  # noqa: E402
from frys.dsl import FrysError, compile_text  # noqa: E402

PYTHON = sys.executable
FRYS = [PYTHON, "-m", "frys.cli"]
SUMMARY: list[tuple[str, str, str]] = []  # (part, measure, value)


def note(part: str, measure: str, value: object) -> None:
    SUMMARY.append((part, measure, f"{value:,}" if isinstance(value, int) else str(value)))


# ============================================================== 1. mutated jobs


def job_corpus() -> list[str]:
    texts = list(_examples())
    texts += [p.read_text() for p in sorted((ROOT / "queries").glob("*.frysql"))]
    return texts


_KEYWORDS = ["SELECT", "FROM", "WHERE", "GROUP BY", "PARTITION BY", "PATTERN", "DEFINE",
             "WITHIN", "HAVING", "EMIT CHANGES", "CASE", "WHEN", "THEN", "ELSE", "END", "JOIN",
             "ON", "INSERT INTO", "CREATE STREAM", "WITH", "TUMBLE(", "HOP(", "SESSION(",
             "ROWS", "AFTER MATCH SKIP", "NOT", "NULL", "AS", "*"]


def extra_mutant(rng: random.Random, text: str) -> str:
    """Kinds the test's mutator has at lower rates: a random keyword, a very long string, a
    chain of 300-5000 terms, a literal of 4,300+ digits, deep CASE/calls/parentheses."""
    kind = rng.randrange(6)
    words = [m.start() for m in re.finditer(r"\b[a-z_]\w*\b", text)]
    at = rng.choice(words) if words else len(text) // 2
    if kind == 0:
        piece = rng.choice(_KEYWORDS + _INSERTS) + " "
    elif kind == 1:
        piece = "'" + "x" * rng.choice((10_000, 200_000, 1_100_000)) + "' "
    elif kind == 2:
        n = rng.randint(300, 5_000)
        op = rng.choice((" AND ", " OR ", " + ", " || "))
        piece = "(" + op.join(["1"] * n) + ") + "
    elif kind == 3:
        piece = "9" * rng.choice((4_300, 4_301, 10_000)) + " + "
    elif kind == 4:
        n = rng.choice((100, 250, 1_000, 5_000))
        opener = rng.choice(("(", "ABS(", "CASE WHEN TRUE THEN ", "COALESCE("))
        closer = {"(": ")", "ABS(": ")", "COALESCE(": ")",
                  "CASE WHEN TRUE THEN ": " END"}[opener]
        return text[:at] + opener * n + text[at:at + 1] + closer * n + text[at + 1:]
    else:
        piece = rng.choice(("/* " + "*" * 50_000 + " */ ", "-- " + "c" * 100_000 + "\n",
                            '"' + "q" * 5_000 + '" '))
    return text[:at] + piece + text[at:]


def byte_mutant(rng: random.Random, text: str) -> bytes:
    """Byte-level damage: invalid UTF-8, a BOM (at the start or inside), NUL, lone surrogate
    halves encoded as bytes, truncated multi-byte characters."""
    data = text.encode()
    at = rng.randrange(len(data) + 1)
    kind = rng.randrange(7)
    if kind == 0:
        return data[:at] + bytes([rng.choice((0x80, 0xC3, 0xE9, 0xFF, 0xFE))]) + data[at:]
    if kind == 1:
        return b"\xef\xbb\xbf" + data
    if kind == 2:
        return data[:at] + b"\xef\xbb\xbf" + data[at:]
    if kind == 3:
        return data[:at] + b"\x00" + data[at:]
    if kind == 4:
        return data[:at] + b"\xed\xa0\x80" + data[at:]  # a surrogate encoded as UTF-8
    if kind == 5:
        return data[:at] + "é".encode()[:1] + data[at:]
    return b"\xff\xfe" + text.encode("utf-16-le")


def part_jobs(n_jobs: int, seed: int, workdir: Path) -> bool:
    print(f"\n## 1. mutated jobs: {n_jobs:,} jobs (seed {seed})", flush=True)
    rng = random.Random(seed)
    corpus = job_corpus()
    print(f"corpus: {len(corpus)} jobs (docs/language.md examples + queries/*.frysql)")
    outcome = collections.Counter()
    crashes: collections.Counter[str] = collections.Counter()
    examples: list[str] = []
    slowest = (0.0, "")
    via = collections.Counter()
    sink = io.StringIO()
    started = time.perf_counter()
    for n in range(n_jobs):
        base = rng.choice(corpus)
        r = rng.random()
        t0 = time.perf_counter()
        try:
            if r < 0.06:  # byte level, through `frys check` (read_job)
                via["frys check (bytes)"] += 1
                path = workdir / f"mutant{n % 4}.frysql"
                path.write_bytes(byte_mutant(rng, base))
                with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
                    try:
                        code = cli_main(["check", str(path)])
                    except SystemExit as exit_:
                        code = exit_.code
                sink.seek(0)
                sink.truncate()
                outcome["accepted" if code == 0 else "refused"] += 1
                text = repr(path.read_bytes()[:300])
            else:
                text = _mutant(rng, base) if r < 0.8 else extra_mutant(rng, base)
                via["compile_text"] += 1
                try:
                    compile_text(text, "mutant.frysql", runnable=False)
                    outcome["accepted"] += 1
                except FrysError:
                    outcome["refused"] += 1
        except Exception as error:  # anything else crashed the front end
            outcome["crashed"] += 1
            kind = type(error).__name__
            crashes[kind] += 1
            if len(examples) < 5:
                frames = traceback.extract_tb(error.__traceback__)
                where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
                examples.append(f"#{n} {kind}: {str(error)[:200]} (at {where})\n"
                                f"    job: {text[:300]!r}")
        elapsed = time.perf_counter() - t0
        if elapsed > slowest[0]:
            slowest = (elapsed, f"#{n} {len(text):,} chars")
        if (n + 1) % 5000 == 0:
            print(f"  {n + 1:,} jobs, {time.perf_counter() - started:.0f} s", flush=True)
    total = time.perf_counter() - started
    print(f"via: {dict(via)}")
    print(f"accepted {outcome['accepted']:,}; refused with a FrysError "
          f"{outcome['refused']:,}; crashed {outcome['crashed']:,}")
    if crashes:
        print(f"crashes by type: {dict(crashes)}")
        for example in examples:
            print("  " + example)
    print(f"slowest job: {slowest[0] * 1000:.0f} ms ({slowest[1]}); total {total:.0f} s, "
          f"mean {total / max(n_jobs, 1) * 1000:.1f} ms/job")
    note("1 mutated jobs", "jobs (accepted / refused / crashed)",
         f"{n_jobs:,} ({outcome['accepted']:,} / {outcome['refused']:,} / "
         f"{outcome['crashed']:,})")
    note("1 mutated jobs", "crash types", dict(crashes) or "none")
    note("1 mutated jobs", "max time per job", f"{slowest[0] * 1000:.0f} ms")
    return outcome["crashed"] == 0


# ============================================================== 2. damaged data lines

# one valid line: k is the line number, so every line's k is unique
def _ok(k: int, ts: int, **over: object) -> dict[str, object]:
    event: dict[str, object] = {"k": k, "price": k / 8, "name": f"n{k}", "ok": k % 2 == 0,
                                "ts": ts}
    event.update(over)
    return event


def _j(event: dict[str, object]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def _raw(k: int, ts: int, field: str, text: str) -> bytes:
    """The valid line with `field`'s value replaced by the raw JSON text `text`."""
    event = _ok(k, ts)
    event[field] = "\x00MARK\x00"
    return _j(event).replace(b'"\\u0000MARK\\u0000"', text.encode())


def _without(k: int, ts: int, field: str) -> bytes:
    event = _ok(k, ts)
    del event[field]
    return _j(event)


# name: (expected, how many at most, line(k, ts) -> bytes). expected: "accept" (k in the
# output exactly once), "refuse" (a dead letter at file:line), "either" (the rules do not say;
# one of the two, exactly once), "blank" (not an event: neither).
DAMAGE: dict[str, tuple[str, int | None, Callable[[int, int], bytes]]] = {
    # ---- refused: malformed JSON
    "truncated line": ("refuse", None, lambda k, ts: _j(_ok(k, ts))[:-7]),
    "not JSON at all": ("refuse", None, lambda k, ts: b"oops %d" % k),
    "unterminated string": ("refuse", None, lambda k, ts: _raw(k, ts, "name", '"abc')[:-1]),
    "trailing comma": ("refuse", None, lambda k, ts: _j(_ok(k, ts))[:-1] + b",}"),
    "single quotes": ("refuse", None, lambda k, ts: _j(_ok(k, ts)).replace(b'"', b"'")),
    "trailing garbage": ("refuse", None, lambda k, ts: _j(_ok(k, ts)) + b" x"),
    "two objects on a line": ("refuse", None, lambda k, ts: _j(_ok(k, ts)) * 2),
    "NaN literal": ("refuse", None, lambda k, ts: _raw(k, ts, "price", "NaN")),
    "Infinity literal": ("refuse", None, lambda k, ts: _raw(k, ts, "price", "-Infinity")),
    "raw NUL byte in a string": ("refuse", None,
                                 lambda k, ts: _raw(k, ts, "name", '"a\x00b"')),
    "raw control byte outside strings": ("refuse", None,
                                         lambda k, ts: b"\x01" + _j(_ok(k, ts))),
    "lone surrogate escape": ("refuse", None, lambda k, ts: _raw(k, ts, "name", '"a\\ud800"')),
    "lone low surrogate escape": ("refuse", None,
                                  lambda k, ts: _raw(k, ts, "name", '"\\udc00x"')),
    "nested 1,500 objects": ("refuse", 300, lambda k, ts: _raw(
        k, ts, "name", '{"a":' * 1499 + "1" + "}" * 1499)),
    "nested 1,500 arrays": ("refuse", 300, lambda k, ts: _raw(
        k, ts, "name", "[" * 1500 + "]" * 1500)),
    # ---- refused: not an object
    "array instead of object": ("refuse", None, lambda k, ts: b"[%d,1.5,\"n\",true,%d]" % (k, ts)),
    "number instead of object": ("refuse", None, lambda k, ts: b"%d" % k),
    "null instead of object": ("refuse", None, lambda k, ts: b"null"),
    "string instead of object": ("refuse", None, lambda k, ts: b'"%d"' % k),
    # ---- refused: wrong types
    "INT as string": ("refuse", None, lambda k, ts: _raw(k, ts, "k", f'"{k}"')),
    "INT as float": ("refuse", None, lambda k, ts: _raw(k, ts, "k", f"{k}.5")),
    "INT as bool": ("refuse", None, lambda k, ts: _raw(k, ts, "k", "true")),
    "INT as array": ("refuse", None, lambda k, ts: _raw(k, ts, "k", f"[{k}]")),
    "INT as object": ("refuse", None, lambda k, ts: _raw(k, ts, "k", f'{{"v":{k}}}')),
    "INT 2**63": ("refuse", None, lambda k, ts: _raw(k, ts, "k", str(2**63))),
    "INT of 4,300 digits": ("refuse", 2000, lambda k, ts: _raw(k, ts, "k", "9" * 4300)),
    "FLOAT as string": ("refuse", None, lambda k, ts: _raw(k, ts, "price", '"cheap"')),
    "FLOAT 1e400": ("either", None, lambda k, ts: _raw(k, ts, "price", "1e400")),
    "FLOAT of 5,000 digits": ("either", 2000, lambda k, ts: _raw(k, ts, "price", "7" * 5000)),
    "BOOL as string": ("refuse", None, lambda k, ts: _raw(k, ts, "ok", '"true"')),
    "BOOL as 1": ("refuse", None, lambda k, ts: _raw(k, ts, "ok", "1")),
    # ---- refused: event time
    "event time missing": ("refuse", None, lambda k, ts: _without(k, ts, "ts")),
    "event time null": ("refuse", None, lambda k, ts: _raw(k, ts, "ts", "null")),
    "ts 8,210,266,876,800,000": ("refuse", None,
                                 lambda k, ts: _raw(k, ts, "ts", "8210266876800000")),
    "ts -8,210,266,876,800,000": ("refuse", None,
                                  lambda k, ts: _raw(k, ts, "ts", "-8210266876800000")),
    "ts 2**64": ("refuse", None, lambda k, ts: _raw(k, ts, "ts", str(2**64))),
    "ts year 10000": ("refuse", None,
                      lambda k, ts: _raw(k, ts, "ts", '"+10000-01-01T00:00:00Z"')),
    "ts year 0": ("refuse", None, lambda k, ts: _raw(k, ts, "ts", '"0000-12-31T23:59:59Z"')),
    "ts not a date": ("refuse", None, lambda k, ts: _raw(k, ts, "ts", '"yesterday"')),
    "ts as bool": ("refuse", None, lambda k, ts: _raw(k, ts, "ts", "true")),
    "ts as float": ("either", None, lambda k, ts: _raw(k, ts, "ts", f"{ts}.5")),
    "invalid UTF-8 in a string": ("either", None, lambda k, ts: _raw(
        k, ts, "name", '"cafX"').replace(b"cafX", b"caf\xe9")),
    # written once, as line 1 (cap 0: never drawn at random)
    "BOM at the start of the file": ("either", 0,
                                     lambda k, ts: b"\xef\xbb\xbf" + _j(_ok(k, ts))),
    "BOM in the middle of the file": ("either", None,
                                      lambda k, ts: b"\xef\xbb\xbf" + _j(_ok(k, ts))),
    "STRING as object": ("either", None, lambda k, ts: _raw(k, ts, "name", '{"a":1}')),
    # ---- accepted
    "duplicate key (first wins)": ("accept", None,
                                   lambda k, ts: _j(_ok(k, ts))[:-1] + b',"k":-%d}' % k),
    "CRLF line end": ("accept", None, lambda k, ts: _j(_ok(k, ts)) + b"\r"),
    "extra unknown fields": ("accept", None,
                             lambda k, ts: _j(_ok(k, ts, extra=[1, {"x": [2]}], z=None))),
    "optional fields missing": ("accept", None, lambda k, ts: _j({"k": k, "ts": ts})),
    "nulls in optional fields": ("accept", None, lambda k, ts: _j(_ok(
        k, ts, price=None, name=None, ok=None))),
    "STRING as number": ("accept", None, lambda k, ts: _raw(k, ts, "name", "12.5")),
    "FLOAT as integer": ("accept", None, lambda k, ts: _raw(k, ts, "price", "3")),
    "string of 1 MB": ("accept", 30, lambda k, ts: _j(_ok(k, ts, name="x" * (1 << 20)))),
    "unicode and escapes": ("accept", None, lambda k, ts: _raw(
        k, ts, "name", '"\\ud83d\\ude00 \\u0000 \\"q\\" \u00e9\u4e2d"')),
    "ts as ISO string": ("accept", None, lambda k, ts: _raw(
        k, ts, "ts", json.dumps(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts // 1000))
                                + f".{ts % 1000:03d}Z"))),
    "ts ISO with offset": ("accept", None, lambda k, ts: _raw(
        k, ts, "ts", '"2023-11-14T23:13:20.000+02:00"')),
    "ts at the range end": ("accept", None,
                            lambda k, ts: _raw(k, ts, "ts", '"9999-12-31T23:59:59.999Z"')),
    "whitespace and reordered keys": ("accept", None, lambda k, ts: (
        b' \t{ "ts" : %d ,\t"ok":false, "name":"w", "k" : %d }  ' % (ts, k))),
    "nested 200 levels (allowed)": ("accept", 300, lambda k, ts: _j(_ok(k, ts))[:-1]
                                    + b',"deep":' + b"[" * 200 + b"]" * 200 + b"}"),
    # ---- blank: not events
    "empty line": ("blank", None, lambda k, ts: b""),
    "whitespace-only line": ("blank", None, lambda k, ts: b"  \t "),
}


def build_data(path: Path, n_lines: int, seed: int, damaged_share: float = 0.08
               ) -> tuple[list[tuple[int, str]], int]:
    """Writes the file; returns, per line number, (k, kind) ('valid' for valid lines) and the
    number of lines."""
    rng = random.Random(seed)
    names = list(DAMAGE)
    used = collections.Counter()
    plan: list[tuple[int, str]] = []
    ts0 = 1_700_000_000_000
    with open(path, "wb") as out:
        for line in range(1, n_lines + 1):
            ts = ts0 + line * 3
            kind = "valid"
            if line == 1:
                kind = "BOM at the start of the file"
            elif rng.random() < damaged_share:
                kind = rng.choice(names)
                cap = DAMAGE[kind][1]
                if cap is not None and used[kind] >= cap:
                    kind = "valid"
            if kind == "valid":
                data = _j(_ok(line, ts))
            else:
                used[kind] += 1
                data = DAMAGE[kind][2](line, ts)
            out.write(data + b"\n")
            plan.append((line, kind))
        # the last line without a newline
        plan.append((n_lines + 1, "valid, no final newline"))
        out.write(_j(_ok(n_lines + 1, ts0 + (n_lines + 1) * 3)))
    return plan, n_lines + 1


JOB = """CREATE STREAM ev (k INT, price FLOAT, name STRING, ok BOOL, ts TIMESTAMP)
    WITH (event_time = ts, source = 'file:{data}');
CREATE STREAM out WITH (sink = 'file:{out}');
CREATE STREAM dead_letters WITH (sink = 'file:{dl}');
INSERT INTO out SELECT k FROM ev;
"""


def check_data(name: str, plan: list[tuple[int, str]], out: Path, dl: Path
               ) -> dict[str, object]:
    ks = collections.Counter()
    for line in out.read_bytes().splitlines():
        ks[json.loads(line)["k"]] += 1
    letters = collections.Counter()
    without_reason = 0
    bad_position = 0
    for line in dl.read_bytes().splitlines():
        letter = json.loads(line)
        position = str(letter.get("position") or "")
        head, _, number = position.rpartition(":")
        if not head.endswith(".jsonl") or not number.isdigit():
            bad_position += 1
            continue
        if not letter.get("reason"):
            without_reason += 1
        letters[int(number)] += 1
    per_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    wrong: list[str] = []
    for line, kind in plan:
        expected = DAMAGE[kind][0] if kind in DAMAGE else "accept"
        got_k, got_dl = ks.pop(line, 0), letters.pop(line, 0)
        counts = per_kind[kind]
        counts["lines"] += 1
        counts["accepted"] += got_k
        counts["dead letters"] += got_dl
        if got_k + got_dl > 1:
            counts["duplicated"] += 1
        if expected == "blank":
            if got_k + got_dl:
                counts["wrong"] += 1
            continue
        if got_k + got_dl == 0:
            counts["lost"] += 1
            if len(wrong) < 5:
                wrong.append(f"line {line} ({kind}) lost")
        elif (expected == "accept" and got_k != 1) or (expected == "refuse" and got_dl != 1):
            counts["wrong"] += 1
            if len(wrong) < 5:
                wrong.append(f"line {line} ({kind}): expected {expected}, got "
                             f"{got_k} rows, {got_dl} dead letters")
    unknown_ks = sum(ks.values())
    unknown_dl = sum(letters.values())
    return {"name": name, "per_kind": per_kind, "wrong": wrong, "unknown_k": unknown_ks,
            "unknown_dl": unknown_dl, "without_reason": without_reason,
            "bad_position": bad_position}


def part_data(n_lines: int, seed: int, workdir: Path) -> bool:
    print(f"\n## 2. damaged data lines: {n_lines:,} lines (seed {seed})", flush=True)
    data = workdir / "damaged.jsonl"
    plan, total = build_data(data, n_lines, seed)
    kinds = collections.Counter(kind for _, kind in plan)
    damaged = sum(n for kind, n in kinds.items() if kind in DAMAGE)
    print(f"{total:,} lines ({data.stat().st_size / 2**20:.0f} MiB), {damaged:,} damaged in "
          f"{sum(1 for k in kinds if k in DAMAGE)} kinds (of {len(DAMAGE)} in the table), "
          "no newline after the last")
    ok = True
    results = []
    for name in ("frys run (subprocess)", "Pipeline.from_file().run()"):
        tag = "cli" if name.startswith("frys run") else "api"
        out, dl = workdir / f"out_{tag}.jsonl", workdir / f"dl_{tag}.jsonl"
        for p in (out, dl):
            p.unlink(missing_ok=True)
        job = workdir / f"job_{tag}.frysql"
        job.write_text(JOB.format(data=data.name, out=out.name, dl=dl.name))
        t0 = time.perf_counter()
        if tag == "cli":
            run = subprocess.run([*FRYS, "run", str(job)], capture_output=True, text=True,
                                 cwd=workdir, timeout=3600)
            crashed = run.returncode != 0
            detail = run.stderr.strip().splitlines()[-3:] if run.stderr else []
        else:
            try:
                Pipeline.from_file(job).run()
                crashed, detail = False, []
            except Exception as error:
                crashed, detail = True, [f"{type(error).__name__}: {error}"[:500]]
        elapsed = time.perf_counter() - t0
        print(f"\n### {name}: {elapsed:.1f} s, " + ("CRASHED: " + " | ".join(detail)
                                                   if crashed else "exit ok"), flush=True)
        if crashed or not out.exists() or not dl.exists():
            ok = False
            note("2 data lines", f"{name}", "CRASHED " + " | ".join(detail))
            continue
        result = check_data(name, plan, out, dl)
        results.append(result)
        per_kind = result["per_kind"]
        print(f"{'kind':36} {'expect':>7} {'lines':>7} {'accepted':>8} {'dead l.':>8} "
              f"{'lost':>5} {'dup':>4} {'wrong':>5}")
        totals = collections.Counter()
        for kind in sorted(per_kind, key=lambda k: (k not in DAMAGE, DAMAGE.get(k, ("",))[0],
                                                    k)):
            c = per_kind[kind]
            totals.update(c)
            expected = DAMAGE[kind][0] if kind in DAMAGE else "accept"
            print(f"{kind[:36]:36} {expected:>7} {c['lines']:>7,} {c['accepted']:>8,} "
                  f"{c['dead letters']:>8,} {c['lost']:>5} {c['duplicated']:>4} "
                  f"{c['wrong']:>5}")
        print(f"{'TOTAL':36} {'':>7} {totals['lines']:>7,} {totals['accepted']:>8,} "
              f"{totals['dead letters']:>8,} {totals['lost']:>5} {totals['duplicated']:>4} "
              f"{totals['wrong']:>5}")
        print(f"rows with a k of no line: {result['unknown_k']}; dead letters of no line or "
              f"without a file:line position: {result['unknown_dl'] + result['bad_position']};"
              f" without a reason: {result['without_reason']}")
        for w in result["wrong"]:
            print("  " + w)
        valid_lines = sum(c["lines"] for k, c in per_kind.items() if k not in DAMAGE)
        valid_once = sum(c["accepted"] for k, c in per_kind.items() if k not in DAMAGE)
        bad = (totals["lost"] + totals["duplicated"] + totals["wrong"] + result["unknown_k"]
               + result["unknown_dl"] + result["bad_position"] + result["without_reason"])
        ok = ok and bad == 0
        note("2 data lines", f"{name}: valid lines out once",
             f"{valid_once:,} / {valid_lines:,}")
        note("2 data lines", f"{name}: damaged (accepted / dead letters / lost)",
             f"{damaged:,} ({totals['accepted'] - valid_once:,} / "
             f"{totals['dead letters']:,} / {totals['lost']:,})")
        note("2 data lines", f"{name}: duplicated / wrong outcome / bad position",
             f"{totals['duplicated']} / {totals['wrong']} / "
             f"{result['unknown_dl'] + result['bad_position'] + result['without_reason']}")
        note("2 data lines", f"{name}: time", f"{elapsed:.1f} s")
    if len(results) == 2:
        same = all(results[0]["per_kind"][k] == results[1]["per_kind"][k]
                   for k in results[0]["per_kind"])
        print(f"\nthe CLI and the API agree per kind: {same}")
    note("2 data lines", "lines / damage kinds used",
         f"{total:,} / {sum(1 for k in kinds if k in DAMAGE)}")
    return ok


# ============================================================== 3. kill -9 of frys publish

# (fsync policy, events per record); `always` fsyncs every record, so not with tiny records
PUBLISH_SETTINGS = [("always", 100), ("always", 1000), ("batch", 1), ("batch", 10),
                    ("batch", 100), ("batch", 1000), ("batch:5", 100), ("never", 1),
                    ("never", 100), ("never", 1000)]
ACK = re.compile(r"^acked (.*):(\d+)-(\d+) offsets (\d+)-(\d+) (written|durable)$")


def publish_input(path: Path, n: int, rng: random.Random) -> list[bytes]:
    lines = []
    for i in range(n):
        pad = "p" * rng.randrange(0, 200)
        lines.append(_j({"i": i, "ts": 1_700_000_000_000 + i, "pad": pad}))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines


def one_kill(workdir: Path, data: Path, lines: list[bytes], rng: random.Random,
             delay_max: float, trial: int) -> dict[str, object]:
    folder = workdir / f"kill{trial % 3}"
    if folder.exists():
        subprocess.run(["rm", "-rf", str(folder)], check=True)
    folder.mkdir()
    fsync, batch = rng.choice(PUBLISH_SETTINGS)
    # kill once the acks reach a random offset, then after a random 0-20 ms more
    target = rng.randrange(len(lines))
    proc = subprocess.Popen([*FRYS, "publish", "topic", str(data), "--fsync", fsync,
                             "--batch", str(batch)], cwd=folder, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    acks: list[tuple[int, int]] = []
    first = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            m = ACK.match(raw.decode(errors="replace").strip())
            if m:
                acks.append((int(m.group(4)), int(m.group(5))))
                if acks[-1][1] >= target:
                    first.set()
        first.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    first.wait(600)
    delay = rng.uniform(0, delay_max)
    time.sleep(delay)
    finished_before_kill = proc.poll() is not None
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    thread.join(10)
    acked = max((last for _, last in acks), default=-1) + 1
    logged: list[bytes] = []
    reader_ = LogReader(folder / ".frys" / "wal" / "topic")
    for record, skip in reader_.read():
        logged.extend(record_lines(record, skip))
    expected = lines[:len(logged)]
    mismatch = next((i for i, (a, b) in enumerate(zip(logged, expected, strict=False))
                     if a != b), None)
    seen = collections.Counter(json.loads(x)["i"] for x in logged) if logged else {}
    duplicated = sum(n - 1 for n in seen.values() if n > 1)
    lost = max(0, acked - len(logged))
    # recovery: another publish appends after what is there
    again = subprocess.run([*FRYS, "publish", "topic", "-q"], cwd=folder, input=lines[0] + b"\n",
                           capture_output=True, timeout=120)
    return {"acked": acked, "logged": len(logged), "lost": lost, "duplicated": duplicated,
            "mismatch": mismatch, "extra": len(logged) > len(lines), "fsync": fsync,
            "batch": batch, "delay": delay, "finished": finished_before_kill,
            "republish_ok": again.returncode == 0, "damage": len(reader_.damage),
            "republish_err": again.stderr.decode(errors="replace")[-300:]}


def part_kills(n_kills: int, seed: int, workdir: Path, n_events: int) -> bool:
    print(f"\n## 3. kill -9 of frys publish: {n_kills} trials over {n_events:,} events "
          f"(seed {seed})", flush=True)
    rng = random.Random(seed)
    data = workdir / "publish.jsonl"
    lines = publish_input(data, n_events, rng)
    delay_max = 0.02
    print("each trial: fsync policy and --batch drawn from "
          + ", ".join(f"{f}/{b}" for f, b in PUBLISH_SETTINGS)
          + "; SIGKILL once the acks reach a random offset, plus uniform(0, 20 ms)")
    totals = collections.Counter()
    problems: list[str] = []
    for trial in range(n_kills):
        r = one_kill(workdir, data, lines, rng, delay_max, trial)
        totals["trials"] += 1
        totals["acked"] += r["acked"]
        totals["logged"] += r["logged"]
        totals["lost"] += r["lost"]
        totals["duplicated"] += r["duplicated"]
        totals["finished before the kill"] += r["finished"]
        totals["mismatch"] += r["mismatch"] is not None
        totals["republish failed"] += not r["republish_ok"]
        totals["logged beyond the last ack"] += r["logged"] - min(r["logged"], r["acked"])
        if (r["lost"] or r["duplicated"] or r["mismatch"] is not None
                or not r["republish_ok"]) and len(problems) < 5:
            problems.append(f"trial {trial}: {r}")
    print(f"trials {totals['trials']}; acked events {totals['acked']:,}; in the log "
          f"{totals['logged']:,} ({totals['logged beyond the last ack']:,} beyond the last "
          f"ack); lost {totals['lost']}; duplicated {totals['duplicated']}; order/content "
          f"mismatches {totals['mismatch']}; runs that ended before the kill "
          f"{totals['finished before the kill']}; re-publish after the kill failed "
          f"{totals['republish failed']}")
    for p in problems:
        print("  " + p)
    note("3 kill -9 publish", "trials (ended before the kill)",
         f"{totals['trials']} ({totals['finished before the kill']})")
    note("3 kill -9 publish", "acked events / lost / duplicated / mismatched trials",
         f"{totals['acked']:,} / {totals['lost']} / {totals['duplicated']} / "
         f"{totals['mismatch']}")
    note("3 kill -9 publish", "re-publish after the kill failed", totals["republish failed"])
    return not (totals["lost"] or totals["duplicated"] or totals["mismatch"]
                or totals["republish failed"])


# ============================================================== 4. worst valid queries


def rss_run(argv: list[str], cwd: Path, limit_mib: int, timeout: float
            ) -> tuple[int, float, float, str]:
    """Runs argv; returns (exit code, peak RSS MiB, seconds, stderr tail). A watchdog kills
    the child over `limit_mib` of RSS or `timeout` seconds."""
    err = tempfile.TemporaryFile()  # noqa: SIM115
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
    killed = []
    done = threading.Event()
    hwm = [0]

    def watch() -> None:  # reads /proc, never reaps the child (os.wait4 below does)
        while not done.is_set():
            try:
                with open(f"/proc/{proc.pid}/status") as status:
                    fields = dict(x.split(":", 1) for x in status if x.startswith("Vm"))
            except OSError:
                return
            rss = int(fields.get("VmRSS", "0 kB").split()[0])
            hwm[0] = max(hwm[0], int(fields.get("VmHWM", "0 kB").split()[0]))
            if rss > limit_mib * 1024 or time.perf_counter() - t0 > timeout:
                killed.append("RSS limit" if rss > limit_mib * 1024 else "timeout")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - t0
    watcher.join(1)
    err.seek(0)
    tail = err.read().decode(errors="replace").strip().splitlines()[-4:]
    if killed:
        tail.insert(0, f"killed by the probe: {killed[0]}")
    # ru_maxrss of a child on Linux includes this process's RSS at the fork (kept across
    # exec), so the peak is the child's own high-water mark (VmHWM) polled every 20 ms
    peak = hwm[0] or usage.ru_maxrss
    return proc.returncode, peak / 1024, elapsed, " | ".join(tail)


def part_memory(seed: int, workdir: Path, n_pattern: int, n_hop: int, limit_mib: int
                ) -> bool:
    print(f"\n## 4. worst valid queries: peak RSS (child killed over {limit_mib:,} MiB)",
          flush=True)
    rng = random.Random(seed)
    pat = workdir / "pattern.jsonl"
    with open(pat, "w") as out:
        for i in range(n_pattern):
            r = rng.random()
            kind = "a" if r < 0.005 else ("c" if r < 0.006 else "b")
            out.write(f'{{"k":1,"kind":"{kind}","v":{rng.randrange(100)},"ts":{i}}}\n')
    hop = workdir / "hop.jsonl"
    with open(hop, "w") as out:
        for i in range(n_hop):
            out.write(f'{{"k":{rng.randrange(1000)},"kind":"b","v":{rng.randrange(100)},'
                      f'"ts":{1_700_000_000_000 + i * 5}}}\n')
    stream = ("CREATE STREAM ev (k INT, kind STRING, v INT, ts TIMESTAMP) WITH (event_time = "
              "ts, source = 'file:{src}');\nCREATE STREAM out WITH (sink = 'file:out4.jsonl');\n")
    define = " DEFINE a AS a.kind = 'a', b AS b.kind = 'b', c AS c.kind = 'c'"
    cases = [
        ("PARTITION BY k PATTERN (a -> b+ -> c), 1 key, 0.5% a", pat, n_pattern, [],
         "INSERT INTO out SELECT a.v AS av, COUNT(b) AS n FROM ev PARTITION BY k "
         "PATTERN (a -> b+ -> c)" + define + ";"),
        ("the same, --max-partial-matches 100", pat, n_pattern,
         ["--max-partial-matches", "100"],
         "INSERT INTO out SELECT a.v AS av, COUNT(b) AS n FROM ev PARTITION BY k "
         "PATTERN (a -> b+ -> c)" + define + ";"),
        ("PATTERN (a -> b{2,1000} -> c)", pat, n_pattern, [],
         "INSERT INTO out SELECT a.v AS av, COUNT(b) AS n FROM ev PARTITION BY k "
         "PATTERN (a -> b{2,1000} -> c)" + define + ";"),
        ("GROUP BY k, HOP(1 SECOND, 1 MILLISECOND): 1,000 windows/event", hop, n_hop, [],
         "INSERT INTO out SELECT k, COUNT(*) AS n, SUM(v) AS s FROM ev "
         "GROUP BY k, HOP(1 SECOND, 1 MILLISECOND);"),
    ]
    ok = True
    print(f"{'case':58} {'check':>5} {'exit':>4} {'peak RSS MiB':>12} {'s':>7} {'events/s':>10}")
    for title, src, n, flags, query in cases:
        job = workdir / "worst.frysql"
        job.write_text(stream.format(src=src.name) + query + "\n")
        check = subprocess.run([*FRYS, "check", str(job)], capture_output=True, text=True)
        code, rss, elapsed, tail = rss_run([*FRYS, "run", "-q", str(job), *flags], workdir,
                                           limit_mib, timeout=1200)
        rate = f"{n / elapsed:,.0f}" if code == 0 else "-"
        print(f"{title[:58]:58} {check.returncode:>5} {code:>4} {rss:>12,.0f} {elapsed:>7.1f} "
              f"{rate:>10}", flush=True)
        if check.returncode != 0:
            print("   check: " + check.stderr.strip()[:300])
        if code != 0:
            print("   " + tail[:500])
            ok = False
        note("4 worst valid queries", f"{title} ({n:,} events)",
             f"{rss:,.0f} MiB, {rate} ev/s" + ("" if code == 0 else
                                               f", exit {code} after {elapsed:.0f} s: "
                                               f"{tail[:120]}"))
    refused = [
        ("GROUP BY k, HOP(1 DAY, 1 MILLISECOND)",
         "SELECT k, COUNT(*) AS n FROM ev GROUP BY k, HOP(1 DAY, 1 MILLISECOND);"),
        ("a{9223372036854775807}",
         "SELECT COUNT(a) AS n FROM ev PATTERN (a{9223372036854775807});"),
        ("b{2,99999999}", "SELECT COUNT(b) AS n FROM ev PATTERN (a b{2,99999999} c);"),
        ("TUMBLE(99999999999999999999 DAYS)",
         "SELECT k, COUNT(*) AS n FROM ev GROUP BY k, TUMBLE(99999999999999999999 DAYS);"),
    ]
    print()
    for title, query in refused:
        job = workdir / "refused.frysql"
        job.write_text(stream.format(src=hop.name) + query + "\n")
        code, rss, elapsed, tail = rss_run([*FRYS, "check", str(job)], workdir, limit_mib, 300)
        message = next((x for x in tail.split(" | ") if "error" in x), tail)[:150]
        good = code == 1
        ok = ok and good
        print(f"frys check {title}: exit {code} ({'refused' if good else 'NOT REFUSED'}), "
              f"{elapsed:.1f} s, {rss:,.0f} MiB: {message}")
        note("4 refused by frys check", title, f"exit {code}, {elapsed:.1f} s")
    return ok


# ============================================================== main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=22_300, help="mutated jobs (part 1)")
    parser.add_argument("--lines", type=int, default=300_000, help="data lines (part 2)")
    parser.add_argument("--kills", type=int, default=100, help="kill -9 trials (part 3)")
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--quick", action="store_true",
                        help="a small run: 1,500 jobs, 30,000 lines, 10 kills, small memory "
                             "cases (under 2 minutes)")
    parser.add_argument("--parts", default="1,2,3,4", help="which parts, e.g. 1,3")
    parser.add_argument("--pattern-events", type=int, default=400_000)
    parser.add_argument("--hop-events", type=int, default=200_000)
    parser.add_argument("--publish-events", type=int, default=100_000)
    parser.add_argument("--rss-limit-mib", type=int, default=8_192,
                        help="part 4 kills a child whose RSS goes over this")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.lines, args.kills = min(args.jobs, 1_500), min(args.lines, 30_000), \
            min(args.kills, 10)
        args.pattern_events, args.hop_events = 40_000, 10_000
        args.publish_events = 20_000
    parts = {int(p) for p in args.parts.split(",")}
    print(f"frys hardening probe, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"commit {_commit()}, python {sys.version.split()[0]}, frys from "
          f"{Path(sys.modules['frys'].__file__).parent.parent}")
    started = time.perf_counter()
    verdicts = {}
    with tempfile.TemporaryDirectory(prefix="frys_probe_") as tmp:
        workdir = Path(tmp)
        for part, run in (
                (1, lambda: part_jobs(args.jobs, args.seed, workdir)),
                (2, lambda: part_data(args.lines, args.seed, workdir)),
                (3, lambda: part_kills(args.kills, args.seed, workdir, args.publish_events)),
                (4, lambda: part_memory(args.seed, workdir, args.pattern_events,
                                        args.hop_events, args.rss_limit_mib))):
            if part in parts:
                t0 = time.perf_counter()
                verdicts[part] = run()
                print(f"(part {part}: {time.perf_counter() - t0:.0f} s)", flush=True)
    print("\n## summary\n")
    print("| part | measure | value |\n|---|---|---|")
    for part, measure, value in SUMMARY:
        print(f"| {part} | {measure} | {value} |")
    print("\nverdicts: " + ", ".join(f"part {p}: {'ok' if v else 'PROBLEM'}"
                                      for p, v in verdicts.items())
          + f"; total {time.perf_counter() - started:.0f} s")
    return 0 if all(verdicts.values()) else 1


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
