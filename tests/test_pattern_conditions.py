"""Patterns: DEFINE conditions on earlier variables and running aggregates of quantified ones.
Cases from Flink CEP's test suite (tests/pattern_cases.py, each citing its source), events
-> expected matches."""

from __future__ import annotations

import pytest

from tests.pattern_cases import ITERATIVE
from tests.pattern_runner import case_id, check


@pytest.mark.parametrize("case", ITERATIVE, ids=case_id)
def test_conditions_matches_like_flink(case) -> None:
    check(case)
