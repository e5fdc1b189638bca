"""Patterns: the cases of Flink CEP's ITCases that frys can spell, by Flink test class where no
feature module held them before (tests/pattern_cases/: repetition.py from NFAITCase,
times_or_more.py, same_element.py, cep.py from the end-to-end CEPITCase) and the tests of
timed-out partial matches (timeouts.py). The other ITCases' cases run in the feature modules
(tests/test_pattern_<feature>.py); tests/pattern_cases/__init__.py lists what is not ported."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pattern_cases
import pytest
from pattern_cases import (
    CASES,
    CEP,
    REPETITION,
    SAME_ELEMENT,
    TIMEOUTS,
    TIMES_OR_MORE,
    TimeoutCase,
)
from pattern_cases.flink_suite import FLINK_ITCASES
from pattern_runner import QUERY_OUTPUT, STREAM, case_id, check, job_text

import frys


@pytest.mark.parametrize("case", REPETITION, ids=case_id)
def test_loop_contiguity_matches_like_flink(case) -> None:
    check(case)


@pytest.mark.parametrize("case", TIMES_OR_MORE, ids=case_id)
def test_times_or_more_matches_like_flink(case) -> None:
    check(case)


@pytest.mark.parametrize("case", SAME_ELEMENT, ids=case_id)
def test_equal_events_match_like_flink(case) -> None:
    check(case)


@pytest.mark.parametrize("case", CEP, ids=case_id)
def test_end_to_end_jobs_match_like_flink(case) -> None:
    check(case)


# ---------------------------------------------------------------- timed-out partial matches

def _ids(value: object) -> Iterator[int]:
    for v in value or []:  # type: ignore[attr-defined]
        if v is not None:
            yield int(v)


def _row_ids(row: dict, variables: list[str]) -> list[int]:
    return sorted(i for v in variables for i in _ids(row[f"{v}_ids"]))


def run_timeouts(case: TimeoutCase) -> tuple[list[list[int]], list[list[int]]]:
    """The case's matches and timed-out partial matches (ids of `timeout_variables`)."""
    text = job_text(case).rstrip().removesuffix(";")  # type: ignore[arg-type]  # reads .pattern
    text = text.replace(STREAM, STREAM + "CREATE STREAM expired;\n", 1)
    pipeline = frys.Pipeline.from_text(text + " EMIT TIMEOUTS TO expired;\n")
    expired: list[dict] = []
    pipeline.subscribe("expired", lambda frame: expired.extend(frame.to_dicts()))
    pipeline.publish("ev", [{"id": i, "name": n, "price": p, "ts": t}
                            for i, n, p, t in case.events])
    if not case.until_end_of_input:
        # Flink's NFA harness moves time only to each event's timestamp: what times out at the
        # end of the input is not part of its result
        timed_out = list(expired)
    pipeline.finish()
    if case.until_end_of_input:
        timed_out = expired
    columns = [c.removesuffix("_ids") for c in pipeline.results(QUERY_OUTPUT).columns
               if c.endswith("_ids")]
    matches = [_row_ids(row, columns)
               for row in pipeline.results(QUERY_OUTPUT).iter_rows(named=True)]
    variables = list(case.timeout_variables or columns)
    return matches, [_row_ids(row, variables) for row in timed_out]


def test_timeout_case_names_are_unique() -> None:
    names = [c.name for c in TIMEOUTS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", TIMEOUTS, ids=lambda c: c.name)
def test_timed_out_partial_matches_like_flink(case: TimeoutCase) -> None:
    matches, timed_out = run_timeouts(case)
    if case.count_only:
        assert len(matches) == len(case.matches)
    else:
        assert sorted(matches) == sorted(sorted(m) for m in case.matches)
    assert sorted(timed_out) == sorted(sorted(t) for t in case.timeouts)


# ---------------------------------------------------------------- the whole suite is accounted for

def _not_ported() -> set[str]:
    """The test methods named in __init__.py's "Flink tests not ported" list."""
    text = Path(pattern_cases.__file__).read_text()
    section = text[text.index("Flink tests not ported"):text.index("# Older versions")]
    return set(re.findall(r"\btest[A-Z][A-Za-z0-9]*", section))


def _ported() -> dict[str, set[str]]:
    """Flink class -> the test methods some case names as its source."""
    ported: dict[str, set[str]] = {}
    for case in [*CASES, *TIMEOUTS]:
        match = re.fullmatch(r"Flink (\w+)\.(\w+)", case.source)
        if match:
            ported.setdefault(match[1], set()).add(match[2])
    return ported


def test_every_flink_itcase_method_is_ported_or_listed_as_not_ported() -> None:
    ported, not_ported = _ported(), _not_ported()
    for flink_class, methods in FLINK_ITCASES.items():
        for method in methods:
            done = method in ported.get(flink_class, set())
            assert done != (method in not_ported), (flink_class, method, done)
    known = {m for ms in FLINK_ITCASES.values() for m in ms}
    assert not_ported <= known, not_ported - known
    for flink_class, methods in ported.items():
        assert methods <= set(FLINK_ITCASES[flink_class]), (flink_class, methods)
