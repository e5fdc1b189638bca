"""mypy over frys as it is installed: `python -m tests.typecheck [mypy options]`.

pyproject maps each top-level folder into the `frys` package (`api/` is `frys`, `dsl/` is
`frys.dsl`, ...), and an editable install serves that mapping through an import hook that
mypy cannot follow. So this builds the package as mypy should see it, a tree of symlinks
under `.mypy_tree/` laid out by pyproject's `[tool.setuptools.package-dir]`, and runs mypy
on it with the project's `[tool.mypy]` settings. Errors are reported with the repository's
own paths (api/cli.py, not frys/cli.py), so an editor can jump to them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / ".mypy_tree"


def package_dirs() -> dict[str, Path]:
    """`frys.dsl` -> <repo>/dsl, for every package of pyproject's mapping."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping = config["tool"]["setuptools"]["package-dir"]
    return {package: ROOT / folder for package, folder in mapping.items()}


def link_tree(tree: Path = TREE) -> Path:
    """(Re)build the symlink tree of the `frys` package under `tree`; returns `tree`."""
    shutil.rmtree(tree, ignore_errors=True)
    for package, folder in package_dirs().items():
        target = tree.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted(folder.iterdir()):
            if source.suffix in (".py", ".pyi") or source.name == "py.typed":
                (target / source.name).symlink_to(source)
    return tree


def _repository_path(line: str, tree: Path) -> str:
    """mypy names files by their place in the tree; name them by the file they link to."""
    match = re.match(r"([^:]+\.pyi?)(:.*)", line)
    if match is None:
        return line
    path = tree / match.group(1)
    if not path.is_symlink():
        return line
    return f"{Path(os.readlink(path)).relative_to(ROOT)}{match.group(2)}"


def run_mypy(arguments: list[str] | None = None) -> tuple[int, str]:
    """mypy's exit code and its report (repository paths)."""
    tree = link_tree()
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(ROOT / ".mypy_cache"), "-p", "frys", *(arguments or [])],
        cwd=tree, capture_output=True, text=True, check=False)
    report = "\n".join(_repository_path(line, tree)
                       for line in (result.stdout + result.stderr).splitlines())
    return result.returncode, report


def main() -> int:
    code, report = run_mypy(sys.argv[1:])
    print(report)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
