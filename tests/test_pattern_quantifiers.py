"""Patterns: quantifiers + * ? {n} {n,} {n,m} in their reluctant form, optional elements and
UNTIL. Cases from Flink CEP's test suite (tests/pattern_cases.py, each citing its source),
events -> expected matches."""

from __future__ import annotations

import pytest
from pattern_cases import OPTIONAL, RELUCTANT, TIMES, TIMES_RANGES, UNTIL
from pattern_runner import case_id, check


@pytest.mark.parametrize("case", RELUCTANT + OPTIONAL + TIMES + TIMES_RANGES + UNTIL, ids=case_id)
def test_quantifiers_matches_like_flink(case) -> None:
    check(case)
