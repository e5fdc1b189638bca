"""Pattern conformance: cases translated from Flink CEP's test suite (tests/pattern_cases.py).
The cases run per feature in tests/test_pattern_<feature>.py; this module checks the tables
themselves and that every case's job passes the front end."""

from __future__ import annotations

import pytest
from pattern_cases import CASES, PatternCase
from pattern_runner import case_id, job_text

import frys


def test_case_names_are_unique() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]


def test_events_are_in_event_time_order() -> None:
    """Events are published in arrival order; one older than an earlier one would be late."""
    for case in CASES:
        stamps = [t for _, _, _, t in case.events]
        assert stamps == sorted(stamps), case.name


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_case_analyzes(case: PatternCase) -> None:
    """Every case's job passes the front end and is runnable."""
    job = frys.dsl.compile_text(job_text(case), f"{case.name}.frysql", runnable=False)
    assert job.not_supported == []
