"""docs/language.md cannot drift from the parser: every ```frysql example compiles, and every
construct the reference lists as reserved is refused as a name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from frys.dsl import FrysSyntaxError, compile_text, parse

DOC = Path(__file__).resolve().parent.parent / "docs" / "language.md"
TEXT = DOC.read_text()
EXAMPLES = re.findall(r"```frysql\n(.*?)```", TEXT, flags=re.S)


def test_the_reference_has_examples() -> None:
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"example{i + 1}" for i in range(len(EXAMPLES))])
def test_every_example_compiles(example: str) -> None:
    job = compile_text(example, "docs/language.md", runnable=False)
    assert job.streams


RESERVED = re.search(r"Reserved words \(.*?\): `([A-Z ]+)`", TEXT.replace("\n", " "), flags=re.S)


def test_documented_reserved_words_are_reserved() -> None:
    assert RESERVED is not None
    words = RESERVED.group(1).split()
    assert len(words) > 20
    for word in words:
        with pytest.raises(FrysSyntaxError):
            parse(f"CREATE STREAM {word.lower()} (a INT)")
