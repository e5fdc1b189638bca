"""Patterns: greedy quantifiers against their reluctant counterparts. Cases from Flink CEP's
test suite (tests/pattern_cases.py, each citing its source), events -> expected matches."""

from __future__ import annotations

import pytest
from pattern_cases import GREEDY
from pattern_runner import case_id, check


@pytest.mark.parametrize("case", GREEDY, ids=case_id)
def test_greedy_matches_like_flink(case) -> None:
    check(case)
