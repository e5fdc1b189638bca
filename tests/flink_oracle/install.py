"""Installs the Flink side of the fuzzer: apache-flink==2.3.0 (for its jars) in its own venv,
and FlinkCepOracle.java compiled against them.

    ensure_oracle() -> Installation(java, classpath)     # idempotent, safe across processes
    python tests/flink_oracle/install.py                  # the same, from a shell

Where: ${FRYS_FLINK_HOME:-~/.cache/frys/flink-2.3.0} is the venv itself (an existing venv with
apache-flink 2.3.0 installed, such as ~/.cache/frys/flink-venv, works as is: pip finds the
requirement satisfied). Inside it:

    .frys-install.lock           a file lock (fcntl), so two processes never install at once
    .frys-installed              written only after pip succeeded: the requirements' hash
    oracle-classes/<hash>/       FlinkCepOracle*.class, keyed by a hash of the Java source
                                 and the jars it compiled against

Prerequisites: java and javac (17+) on PATH; a Python 3.9-3.12 for the venv (FRYS_FLINK_PYTHON,
else python3.11, python3.12, python3.10, else this interpreter); pip able to reach its index the
first time. A missing one raises MissingPrerequisite (tests skip on it, except under CI=true).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
JAVA_SOURCE = HERE / "FlinkCepOracle.java"
REQUIREMENTS = HERE / "requirements.txt"
MAIN_CLASS = "FlinkCepOracle"
JARS = ("flink-cep-2.3.0.jar", "flink-dist-2.3.0.jar")
PYTHONS = ("python3.11", "python3.12", "python3.10")
MARKER = ".frys-installed"
LOCK = ".frys-install.lock"

# pip's words for "could not reach the index"
_NETWORK_SIGNS = ("NewConnectionError", "Failed to establish a new connection",
                  "Temporary failure in name resolution", "Name or service not known",
                  "Network is unreachable", "ConnectTimeoutError", "ReadTimeoutError",
                  "Could not fetch URL", "No matching distribution found")


class MissingPrerequisite(RuntimeError):
    """Java, a suitable Python, or the network (the first time) is missing."""


class InstallError(RuntimeError):
    """The installation failed for another reason (the message says which)."""


@dataclass(frozen=True)
class Installation:
    java: str
    classpath: tuple[str, ...]
    home: Path

    def command(self) -> list[str]:
        """The driver's command line: one JVM reads cases on stdin until its end."""
        return [self.java, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss8m",
                "-cp", os.pathsep.join(self.classpath), MAIN_CLASS]


def flink_home() -> Path:
    home = os.environ.get("FRYS_FLINK_HOME")
    return Path(home).expanduser() if home else Path.home() / ".cache/frys/flink-2.3.0"


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
        h.update(b"\0")
    return h.hexdigest()[:16]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MissingPrerequisite(f"{name} (a JDK 17+) is not on PATH")
    return path


def _python() -> str:
    chosen = os.environ.get("FRYS_FLINK_PYTHON")
    if chosen:
        return chosen
    for name in PYTHONS:
        path = shutil.which(name)
        if path:
            return path
    if (3, 9) <= sys.version_info[:2] <= (3, 12):
        return sys.executable
    raise MissingPrerequisite(f"a Python 3.9-3.12 for apache-flink (tried {', '.join(PYTHONS)};"
                              " or set FRYS_FLINK_PYTHON)")


def _run(cmd: list[str], log: Callable[[str], None]) -> subprocess.CompletedProcess[str]:
    log("$ " + " ".join(cmd))
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _install_venv(home: Path, log: Callable[[str], None]) -> None:
    want = _digest(REQUIREMENTS.read_bytes())
    marker = home / MARKER
    if marker.exists() and marker.read_text().strip() == want:
        return
    venv_python = home / "bin" / "python"
    if not venv_python.exists():
        done = _run([_python(), "-m", "venv", str(home)], log)
        if done.returncode != 0:
            raise InstallError(f"python -m venv {home} failed:\n{done.stderr[-3000:]}")
    done = _run([str(venv_python), "-m", "pip", "install", "--disable-pip-version-check",
                 "-r", str(REQUIREMENTS)], log)
    if done.returncode != 0:
        output = done.stdout[-3000:] + done.stderr[-3000:]
        if any(sign in output for sign in _NETWORK_SIGNS):
            raise MissingPrerequisite(f"network: pip could not download apache-flink==2.3.0 "
                                      f"into {home}:\n{output}")
        raise InstallError(f"pip install -r {REQUIREMENTS} failed:\n{output}")
    marker.write_text(want + "\n")


def _jars(home: Path) -> list[Path]:
    found = []
    for jar in JARS:
        hits = sorted(home.glob(f"lib/python3*/site-packages/pyflink/lib/{jar}"))
        if not hits:
            raise InstallError(f"{jar} not found under {home}/lib/python3*/site-packages/"
                               "pyflink/lib (is apache-flink 2.3.0 installed there?)")
        found.append(hits[-1])
    return found


def _compile(home: Path, jars: list[Path], log: Callable[[str], None]) -> Path:
    key = _digest(JAVA_SOURCE.read_bytes(), *(j.name.encode() for j in jars))
    classes = home / "oracle-classes" / key
    if (classes / f"{MAIN_CLASS}.class").exists():
        return classes
    classes.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=classes.parent))
    done = _run([_tool("javac"), "-nowarn", "-encoding", "UTF-8", "-d", str(staging),
                 "-cp", os.pathsep.join(map(str, jars)), str(JAVA_SOURCE)], log)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise InstallError(f"javac {JAVA_SOURCE.name} failed:\n{done.stdout}{done.stderr}")
    staging.rename(classes)  # atomic: a classes dir is complete or absent
    return classes


def ensure_oracle(log: Callable[[str], None] | None = None) -> Installation:
    """The installed, compiled oracle; installs and compiles what is missing (under a file lock)."""
    def say(line: str) -> None:
        if log is not None:
            log(line)

    java = _tool("java")
    _tool("javac")
    home = flink_home()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _install_venv(home, say)
            jars = _jars(home)
            classes = _compile(home, jars, say)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return Installation(java, (str(classes), *map(str, jars)), home)


def main() -> int:
    try:
        inst = ensure_oracle(log=lambda line: print(line, file=sys.stderr))
    except (MissingPrerequisite, InstallError) as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 2
    print(" ".join(inst.command()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
