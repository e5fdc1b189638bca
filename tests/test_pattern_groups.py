"""Patterns: groups, quantified groups. Cases from Flink CEP's test suite
(tests/pattern_cases.py, each citing its source), events -> expected matches."""

from __future__ import annotations

import pytest
from pattern_cases import GROUPS
from pattern_runner import case_id, check


@pytest.mark.parametrize("case", GROUPS, ids=case_id)
def test_groups_matches_like_flink(case) -> None:
    check(case)
