"""Patterns: all five AFTER MATCH strategies. Cases from Flink CEP's test suite
(tests/pattern_cases.py, each citing its source), events -> expected matches."""

from __future__ import annotations

import pytest
from pattern_cases import SKIP
from pattern_runner import case_id, check


@pytest.mark.parametrize("case", SKIP, ids=case_id)
def test_skip_matches_like_flink(case) -> None:
    check(case)
