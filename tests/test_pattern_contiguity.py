"""Patterns: strict (a b), relaxed (a -> b) and non-deterministic relaxed (a ->> b) contiguity.
Cases from Flink CEP's test suite (tests/pattern_cases.py, each citing its source), events
-> expected matches."""

from __future__ import annotations

import pytest
from pattern_cases import CONTIGUITY
from pattern_runner import case_id, check


@pytest.mark.parametrize("case", CONTIGUITY, ids=case_id)
def test_contiguity_matches_like_flink(case) -> None:
    check(case)
