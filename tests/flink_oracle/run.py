"""The differential fuzzer: generated cases through Flink 2.3's NFA and through frys, compared.

    .venv/bin/python -m tests.flink_oracle --cases 500 --seed 1 [--out DIR] [--minimize]

prints a summary and, for each case on which the two disagree, writes DIR/<seed>-<index>/:
job.frysql (runnable: `frys run job.frysql` reads events.jsonl beside it), events.jsonl,
flink.json, frys.json, Pattern.java.txt (the Flink pattern as Java), flink-input.json (the
driver's input line). Exit status 1 if any case differs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .frys_side import run_frys
from .generate import DEFAULT_FEATURES, Features, generate
from .oracle import FlinkOracle
from .spec import Case, Event, Skip

Match = tuple[tuple[str, tuple[int, ...]], ...]


def normalize(matches: list[dict[str, list[int]]]) -> Counter[Match]:
    """Matches as a multiset of {variable: ids} (emission order aside; empty variables dropped)."""
    return Counter(tuple(sorted((v, tuple(ids)) for v, ids in m.items() if ids))
                   for m in matches)


@dataclass
class Outcome:
    case: Case
    flink: dict[str, Any]
    frys: dict[str, Any]
    # agree | both-refuse | flink-run-error | flink-crash | driver-error | departure | differ
    # (departure: a difference a documented departure accounts for, its name in `kind`)
    status: str
    # for differ: matches | flink-refuses | frys-refuses | frys-crash
    kind: str = ""
    only_flink: list[Match] = field(default_factory=list)
    only_frys: list[Match] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return self.status == "differ"


# Flink's answers to a pattern it does not accept; any other exception is a crash of
# Flink's (a NullPointerException in its compiler or NFA), which says nothing about the
# pattern's meaning, so such a case is not compared
FLINK_REFUSALS = ("MalformedPatternException", "UnsupportedOperationException")


def _flink_crashed(flink: dict[str, Any]) -> bool:
    if flink.get("phase") not in ("compile", "run"):
        return False
    error = flink.get("error", "").split(":")[0]
    return not error.endswith(FLINK_REFUSALS)


def compare(case: Case, flink: dict[str, Any], frys: dict[str, Any]) -> Outcome:
    if flink.get("phase") == "driver":
        return Outcome(case, flink, frys, "driver-error")
    if _flink_crashed(flink):
        return Outcome(case, flink, frys, "flink-crash")
    if frys.get("phase") in ("run", "compile-crash"):
        return Outcome(case, flink, frys, "differ", "frys-crash")
    flink_refuses = flink.get("phase") == "compile"
    frys_refuses = frys.get("phase") == "compile"
    if flink_refuses and frys_refuses:
        return Outcome(case, flink, frys, "both-refuse")
    if flink_refuses:
        return Outcome(case, flink, frys, "differ", "flink-refuses")
    if frys_refuses:
        return Outcome(case, flink, frys, "differ", "frys-refuses")
    if flink.get("phase") == "run":
        return Outcome(case, flink, frys, "flink-run-error")
    a, b = normalize(flink["matches"]), normalize(frys["matches"])
    if a == b:
        return Outcome(case, flink, frys, "agree")
    return Outcome(case, flink, frys, "differ", "matches",
                   sorted((a - b).elements()), sorted((b - a).elements()))


class CaseTimeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raises CaseTimeout in the main thread after `seconds` (frys runs in-process)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: object) -> None:
        raise CaseTimeout(f"frys took more than {seconds:.0f} s")
    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_frys_limited(case: Case, seconds: float = 10.0) -> dict[str, Any]:
    try:
        with _time_limit(seconds):
            return run_frys(case)
    except CaseTimeout as error:
        return {"error": f"CaseTimeout: {error}", "phase": "run"}


def run_case(oracle: FlinkOracle, case: Case) -> Outcome:
    outcome = compare(case, oracle.run(case), run_frys_limited(case))
    if outcome.kind == "matches":
        departure = documented_departure(oracle, outcome)
        if departure:
            outcome.status, outcome.kind = "departure", departure
    return outcome


# ---------------------------------------------------------------------------- departures
#
# docs/language.md lists where frys departs from Flink on purpose. A difference is put down
# to one only when a check specific to it shows that the departure accounts for all of it;
# anything else stays a difference.


def documented_departure(oracle: FlinkOracle, o: Outcome) -> str:
    """The documented departure that accounts for the difference `o`, or ''."""
    case = o.case
    found = []
    if _has_looping_group(case.pattern.items):
        # frys compiled as Flink does (a looping group's exit left open after a skipped
        # event) must then agree with Flink exactly, or differ only by the tie order below
        with flink_group_exits():
            compat = compare(case, o.flink, run_frys_limited(case))
        if compat.status == "agree":
            return "looping-group-exit"
        if compat.kind == "matches" and compat.only_frys != o.only_frys:
            found.append("looping-group-exit")
            o = compat
    if case.pattern.skip.kind != "no_skip" and _skip_tie(oracle, o):
        return "+".join([*found, "skip-tie-order"])
    return ""


@contextlib.contextmanager
def flink_group_exits() -> Iterator[None]:
    from frys.operators.pattern import automaton
    previous = automaton.FLINK_GROUP_EXITS
    automaton.FLINK_GROUP_EXITS = True
    try:
        yield
    finally:
        automaton.FLINK_GROUP_EXITS = previous


def _has_looping_group(items: tuple[Any, ...]) -> bool:
    from .spec import Group
    return any(isinstance(it.element, Group) and (
        (it.element.quant is not None and it.element.quant.repeats)
        or _has_looping_group(it.element.items)) for it in items)


def _first_event(match: Match) -> int:
    return min(i for _, ids in match for i in ids)


def _skip_tie(oracle: FlinkOracle, o: Outcome) -> bool:
    """Several matches complete with the same first event and the skip strategy keeps
    different ones (Flink: whichever its java.util.PriorityQueue, which ties them, polls
    first), and what each kept pruned the rest differently. Checked: without the skip
    strategy both sides agree; both sides' matches are among those; and the earliest first
    event at which the two sides' matches differ is one several matches share (the skip
    strategy goes from the earliest match on, so the sides part at a tie)."""
    case = o.case
    no_skip = replace(case, pattern=replace(case.pattern, skip=Skip("no_skip")))
    flink_all = oracle.run(no_skip)
    frys_all = run_frys_limited(no_skip)
    if compare(no_skip, flink_all, frys_all).status != "agree":
        with flink_group_exits():
            frys_all = run_frys_limited(no_skip)
        if compare(no_skip, flink_all, frys_all).status != "agree":
            return False
    everything = normalize(flink_all["matches"])
    if normalize(o.flink["matches"]) - everything or normalize(o.frys["matches"]) - everything:
        return False
    starts = Counter(_first_event(m) for m in everything)
    parted = min(_first_event(m) for m in (*o.only_flink, *o.only_frys))
    return starts[parted] > 1


# ---------------------------------------------------------------------------- minimizing


def renumber(events: list[Event]) -> tuple[Event, ...]:
    """Ids back to arrival indexes after events were dropped."""
    return tuple(Event(i, e.k, e.name, e.price, e.ts) for i, e in enumerate(events))


def minimize(case: Case, still_differs: Callable[[Case], bool]) -> Case:
    """Delta debugging (ddmin) over the events: the smallest event list found on which the
    case still differs."""
    events = list(case.events)
    chunks = 2
    while len(events) >= 2:
        size = max(1, len(events) // chunks)
        reduced = False
        for start in range(0, len(events), size):
            candidate = events[:start] + events[start + size:]
            if candidate and still_differs(case.with_events(renumber(candidate))):
                events = candidate
                chunks = max(chunks - 1, 2)
                reduced = True
                break
        if not reduced:
            if size == 1:
                break
            chunks = min(len(events), chunks * 2)
    return case.with_events(renumber(events))


def minimize_outcome(oracle: FlinkOracle, outcome: Outcome) -> Outcome:
    if outcome.kind != "matches":
        return outcome  # a refusal or a crash does not depend on the events' count

    def still(c: Case) -> bool:
        return run_case(oracle, c).kind == "matches"
    small = minimize(outcome.case, still)
    return run_case(oracle, small)


# ---------------------------------------------------------------------------- reporting


def _dump(result: dict[str, Any]) -> str:
    """A result as JSON, one match (or detail line) per line."""
    lines = []
    for key, value in result.items():
        if isinstance(value, list) and value:
            items = ",\n".join("    " + json.dumps(v) for v in value)
            lines.append(f"  {json.dumps(key)}: [\n{items}\n  ]")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def write_repro(out: Path, o: Outcome) -> Path:
    d = out / o.case.key
    d.mkdir(parents=True, exist_ok=True)
    (d / "job.frysql").write_text(o.case.pattern.frysql(source="file:events.jsonl"))
    (d / "events.jsonl").write_text(o.case.events_jsonl())
    (d / "flink.json").write_text(_dump(o.flink))
    frys = {k: v for k, v in o.frys.items() if k != "detail"}
    if "detail" in o.frys:
        frys["detail"] = o.frys["detail"].splitlines()
    (d / "frys.json").write_text(_dump(frys))
    (d / "Pattern.java.txt").write_text(o.case.pattern.java())
    (d / "flink-input.json").write_text(json.dumps(o.case.flink_json()) + "\n")
    return d


def _matches_text(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"{result.get('phase')} error: {result['error']}"
    ms = result["matches"]
    return f"{len(ms)} match(es): " + " ".join(
        "{" + ", ".join(f"{v}:{ids}" for v, ids in m.items()) + "}" for m in ms)


def _clip(text: str, limit: int | None) -> str:
    return text if limit is None or len(text) <= limit else text[:limit] + " ..."


def describe(o: Outcome, full: bool = True, clip: int | None = None) -> str:
    """A difference, compactly: the pattern, the events, both results (each line cut at
    `clip` characters if given)."""
    c = o.case
    lines = [f"--- case {c.key} ({o.kind})" + (f" [{'; '.join(c.notes)}]" if c.notes else "")]
    if full:
        lines.append(c.pattern.frysql().rstrip())
    else:
        lines.append(c.pattern.frysql_pattern().replace("\n", " "))
    lines.append("events (id name price ts k): " + ", ".join(
        f"{e.id} {e.name} {e.price:g} {e.ts} {e.k}" for e in c.events))
    lines.append("flink: " + _matches_text(o.flink))
    lines.append("frys:  " + _matches_text(o.frys))
    if o.kind == "matches":
        def show(ms: list[Match]) -> str:
            return " ".join("{" + ", ".join(f"{v}:{list(ids)}" for v, ids in m) + "}"
                            for m in ms) or "-"
        lines.append(f"only in flink: {show(o.only_flink)}")
        lines.append(f"only in frys:  {show(o.only_frys)}")
    return "\n".join(_clip(line, clip) for line in lines)


@dataclass
class Summary:
    outcomes: list[Outcome]
    seconds: float

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def differences(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.differs]

    def text(self) -> str:
        n = len(self.outcomes)
        flink_ok = [o for o in self.outcomes if "matches" in o.flink]
        with_matches = sum(bool(o.flink["matches"]) for o in flink_ok)
        kinds = Counter(o.kind for o in self.differences)
        share = 100.0 * with_matches / len(flink_ok) if flink_ok else 0.0
        flink_compile = sum(o.flink.get("phase") == "compile" for o in self.outcomes)
        frys_refusals = sum(o.frys.get("phase") == "compile" for o in self.outcomes)
        parts = [f"cases {n}", f"agreeing {self.count('agree')}",
                 f"differing {len(self.differences)}"
                 + (f" ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})"
                    if kinds else ""),
                 f"both refuse {self.count('both-refuse')}",
                 f"Flink compile errors {flink_compile}", f"frys refusals {frys_refusals}",
                 f"Flink run errors {self.count('flink-run-error')}",
                 f"Flink crashes {self.count('flink-crash')}",
                 "documented departures " + (", ".join(
                     f"{k} {v}" for k, v in sorted(Counter(
                         o.kind for o in self.outcomes if o.status == "departure").items()))
                     or "0"),
                 f"driver errors {self.count('driver-error')}",
                 f"Flink cases with >=1 match {with_matches}/{len(flink_ok)} ({share:.0f}%)",
                 f"{self.seconds:.1f} s"]
        return "; ".join(parts)

    def failure_report(self, full: int = 10, clip: int | None = 600) -> str:
        diffs = self.differences
        head = [describe(o, full=True, clip=clip) for o in diffs[:full]]
        tail = [describe(o, full=False).splitlines()[0] + " " +
                o.case.pattern.frysql_pattern().replace("\n", " ") for o in diffs[full:]]
        return "\n\n".join([self.text(), *head, *tail])


def run_fuzzer(seed: int, cases: int, features: Features = DEFAULT_FEATURES,
               oracle: FlinkOracle | None = None, minimize_diffs: bool = False,
               progress: Callable[[int], None] | None = None) -> Summary:
    started = time.monotonic()
    owned = oracle is None
    oracle = oracle or FlinkOracle()
    try:
        outcomes = []
        for i, case in enumerate(generate(seed, cases, features)):
            outcome = run_case(oracle, case)
            if outcome.differs and minimize_diffs:
                outcome = minimize_outcome(oracle, outcome)
            outcomes.append(outcome)
            if progress is not None:
                progress(i + 1)
    finally:
        if owned:
            oracle.close()
    return Summary(outcomes, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.flink_oracle", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("out/flink-oracle"),
                    help="where reproductions go (default out/flink-oracle)")
    ap.add_argument("--minimize", action="store_true",
                    help="shrink each differing case's events first (delta debugging)")
    ap.add_argument("--only", type=int, action="append", default=[],
                    help="run only the case with this index (repeatable)")
    ap.add_argument("--no-explicit-inner", action="store_true",
                    help="no STRICT/RELAXED/ANY keywords after quantifiers")
    ap.add_argument("--no-iterative", action="store_true",
                    help="no conditions reading an earlier variable's event")
    ap.add_argument("--probes", type=float, default=DEFAULT_FEATURES.probes,
                    help="share of cases keeping one construct Flink refuses")
    ap.add_argument("--triage", action="store_true",
                    help="group the differences by likely cause (re-runs variants; triage.py)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every difference")
    args = ap.parse_args(argv)
    features = Features(explicit_inner=not args.no_explicit_inner,
                        iterative=not args.no_iterative, probes=args.probes)

    started = time.monotonic()
    with FlinkOracle() as oracle:
        if args.only:
            from .generate import generate_case
            outcomes = []
            for index in args.only:
                o = run_case(oracle, generate_case(args.seed, index, features))
                if o.differs and args.minimize:
                    o = minimize_outcome(oracle, o)
                outcomes.append(o)
            summary = Summary(outcomes, time.monotonic() - started)
        else:
            def progress(done: int) -> None:
                if sys.stderr.isatty() and done % 50 == 0:
                    print(f"\r{done}/{args.cases}", end="", file=sys.stderr, flush=True)
            summary = run_fuzzer(args.seed, args.cases, features, oracle, args.minimize,
                                 progress)
            if sys.stderr.isatty():
                print("\r", end="", file=sys.stderr)
        triaged = ""
        if args.triage and summary.differences:
            from .triage import report, triage_all
            triaged = report(triage_all(oracle, summary.differences), describe)
    for o in summary.differences:
        path = write_repro(args.out, o)
        if args.verbose:
            print(describe(o) + f"\n(in {path})\n")
        else:
            print(f"{o.kind:14} {path}  {o.case.pattern.frysql_pattern().splitlines()[0]}")
    if summary.differences:
        (args.out / "summary.txt").write_text(
            summary.failure_report(full=len(summary.outcomes), clip=None) + "\n")
    if triaged:
        print("\n" + triaged + "\n")
        (args.out / "triage.txt").write_text(triaged + "\n")
    print(summary.text())
    return 1 if summary.differences else 0


if __name__ == "__main__":
    sys.exit(main())
