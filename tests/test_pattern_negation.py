"""Patterns: NOT between elements: not-next and not-followed-by. Cases from Flink CEP's test
suite (tests/pattern_cases.py, each citing its source), events -> expected matches."""

from __future__ import annotations

import pytest
from pattern_cases import NEGATION
from pattern_runner import case_id, check


@pytest.mark.parametrize("case", NEGATION, ids=case_id)
def test_negation_matches_like_flink(case) -> None:
    check(case)
