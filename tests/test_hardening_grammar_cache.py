"""Hardening (issue 12, security): the parser never loads grammar tables another user could
have written. Lark's default cache (`cache=True`) unpickles `$TMPDIR/.lark_cache_<user>_<sha>
_<py>.tmp`, a name anyone can compute, so a planted file ran code on `frys check`; frys keeps
its tables in a folder only the user can write (dsl.parser.private_grammar_cache) or builds
them in memory.

Each check runs `frys check` in a fresh process (the parser is built once per process) with
its own TMPDIR and XDG_CACHE_HOME, after planting a pickle whose loading creates a marker
file."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

from frys.dsl.parser import GRAMMAR_PATH

JOB = ("CREATE STREAM ev (id INT, ts TIMESTAMP) WITH (event_time = ts);\n"
       "SELECT COUNT(*) AS n FROM ev GROUP BY TUMBLE(1 MINUTE);\n")

# what frys passed to Lark before the fix, with cache=True: Lark's default temp-folder cache
LARK_DEFAULT_CACHE = f"""
import lark
lark.Lark(open({str(GRAMMAR_PATH)!r}).read(), parser="lalr", lexer="contextual",
          propagate_positions=True, maybe_placeholders=False, cache=True)
"""


class _Planted:
    """Unpickling this creates the marker file: the proof that a file was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _environment(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["TMPDIR"] = str(tmp_path / "tmp")
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return env


def _plant(path: Path, marker: Path) -> None:
    """Keep the file's first line (Lark's hash of the grammar, which it checks first) and
    replace the rest with the payload, as an attacker who computed the name would."""
    first = path.read_bytes().split(b"\n", 1)[0] if path.exists() else b"0"
    path.write_bytes(first + b"\n" + pickle.dumps(_Planted(marker)))


def _frys_check(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    job = tmp_path / "job.frysql"
    job.write_text(JOB)
    return subprocess.run([sys.executable, "-m", "frys.cli", "check", str(job)], env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_file_planted_where_lark_caches_by_default_is_never_loaded(tmp_path: Path) -> None:
    env = _environment(tmp_path)
    marker = tmp_path / "planted-code-ran"
    subprocess.run([sys.executable, "-c", LARK_DEFAULT_CACHE], env=env, check=True,
                   timeout=120)
    planted = list((tmp_path / "tmp").glob(".lark_cache_*"))
    assert len(planted) == 1, "Lark's default cache file was not where expected"
    _plant(planted[0], marker)
    # the attack works against Lark's default: the planted file runs (and Lark then
    # writes a good cache over it, so it is planted again)
    subprocess.run([sys.executable, "-c", LARK_DEFAULT_CACHE], env=env, timeout=120)
    assert marker.exists()
    marker.unlink()
    _plant(planted[0], marker)

    result = _frys_check(tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert not marker.exists()


def test_the_private_cache_is_used_only_when_only_this_user_can_write_it(
        tmp_path: Path) -> None:
    env = _environment(tmp_path)
    assert _frys_check(tmp_path, env).returncode == 0
    folder = tmp_path / "xdg" / "frys" / "grammar"
    (cache,) = folder.iterdir()
    assert folder.stat().st_mode & 0o777 == 0o700

    marker = tmp_path / "planted-code-ran"
    _plant(cache, marker)
    folder.chmod(0o777)  # now anyone could have planted it: it must not be read
    result = _frys_check(tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert not marker.exists()


def test_a_symlink_in_place_of_the_cache_folder_is_not_followed(tmp_path: Path) -> None:
    env = _environment(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / "xdg" / "frys").mkdir(parents=True)
    (tmp_path / "xdg" / "frys" / "grammar").symlink_to(elsewhere)
    result = _frys_check(tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert list(elsewhere.iterdir()) == []


def test_without_a_usable_cache_folder_the_parser_is_built_in_memory(tmp_path: Path) -> None:
    env = _environment(tmp_path)
    (tmp_path / "xdg").write_text("a file where the cache folder's parent should be")
    result = _frys_check(tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "tmp").iterdir()) == []
