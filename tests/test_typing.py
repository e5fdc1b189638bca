"""The type checker agrees with the code: mypy over the installed layout of `frys` (see
tests/typecheck.py; by hand: `python -m tests.typecheck`) reports no error."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from typecheck import link_tree, package_dirs, run_mypy

import frys
import frys.dsl.optimizer


def test_the_link_tree_puts_every_module_where_python_imports_it_from() -> None:
    tree = link_tree()
    for package, folder in package_dirs().items():
        modules = sorted(p.name for p in folder.glob("*.py"))
        linked = sorted(p.name for p in tree.joinpath(*package.split(".")).glob("*.py"))
        assert linked == modules, package
    for module in (frys, frys.dsl.optimizer):
        linked = tree.joinpath(*module.__name__.split("."), "__init__.py")
        assert linked.resolve() == Path(module.__file__ or "").resolve()


def test_mypy_reports_no_error() -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.fail("mypy is not installed: it is part of the test extra "
                    "(pip install -e '.[test]')")
    code, report = run_mypy()
    assert code == 0, report
