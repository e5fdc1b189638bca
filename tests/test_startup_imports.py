"""Start-up (issue 13): each `frys` command imports only what it uses. Nothing here is
timed; benchmarks/startup.py measures the time. These tests name the modules a command must
not load, checked in a fresh process that runs `frys.cli.main` and then lists sys.modules.

What is left to make lazy lives in modules other work owns (the WAL, loaded today through
connectors/uris.py and the runtime; every operator family, through operators/registry.py):
benchmarks/README.md lists it, and these lists grow as it goes."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# runs the command line in a fresh process, then writes the names of the loaded modules
DRIVER = """
import json, sys
import frys.cli
code = frys.cli.main(sys.argv[2:]) if len(sys.argv) > 2 else 0
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""

JOB = """CREATE STREAM events (k INT, v FLOAT, ts TIMESTAMP)
    WITH (event_time = ts, watermark = 0 SECONDS, source = 'file:events.jsonl');
CREATE STREAM big WITH (sink = 'file:out/big.jsonl');
INSERT INTO big SELECT k, v, ts FROM events WHERE v > 10;
SELECT k, window_start, COUNT(*) AS n FROM events GROUP BY k, TUMBLE(1 SECOND);
"""
EVENTS = ('{"k": 1, "v": 2.5, "ts": 1700000000000}\n'
          '{"k": 2, "v": 20.5, "ts": 1700000001000}\n')

# never needed to run or check a good job: syntax colors (only `frys explain --stage ast` on
# a terminal), the bus commands and their progress bar, the Python API, the suggestions for
# a misspelt name (difflib), test tools
NEVER_FOR_A_JOB = ("pygments", "frys.dsl.highlight", "tqdm", "frys.bus_cli", "frys.pipeline",
                   "difflib", "hypothesis", "pytest", "pyarrow")
# what only `frys run` needs: its command, the runtime, the operators, the bus, the decoder
# (`frys check` asks the connector registry about the job's URIs, which loads the module of
# each scheme the job names, e.g. connectors/jsonl.py for file:, but not what opens them)
RUN_ONLY = ("frys.run_cli", "frys.engine.runtime", "frys.engine.query_runner",
            "frys.operators", "frys.operators.registry", "frys.connectors.broker",
            "frys.connectors.bus", "frys.connectors.decode",
            "frys.connectors.wal_topic", "msgspec", "frys.engine.planner")


def loaded_modules(tmp_path: Path, *argv: str) -> set[str]:
    """The modules loaded once `frys ARGV` has run (nothing but `import frys.cli` when no
    arguments are given), in a fresh process whose stderr is not a terminal."""
    listing = tmp_path / "modules.json"
    result = subprocess.run([sys.executable, "-c", DRIVER, str(listing), *argv],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(listing.read_text())
    assert report["code"] == 0, result.stderr
    return set(report["modules"])


def loaded_among(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Those of `names` that are loaded, as modules or packages (a package counts with
    any of its submodules)."""
    return sorted(name for name in names
                  if any(module == name or module.startswith(name + ".")
                         for module in modules))


@pytest.fixture
def job(tmp_path: Path) -> Path:
    path = tmp_path / "job.frysql"
    path.write_text(JOB)
    (tmp_path / "events.jsonl").write_text(EVENTS)
    return path


def test_importing_the_command_line_loads_no_command(tmp_path: Path) -> None:
    modules = loaded_modules(tmp_path)
    assert "frys.cli" in modules
    assert loaded_among(modules, NEVER_FOR_A_JOB) == []
    assert loaded_among(modules, RUN_ONLY) == []
    assert "frys.progress" not in modules


def test_frys_check_loads_the_language_only(tmp_path: Path, job: Path) -> None:
    modules = loaded_modules(tmp_path, "check", str(job))
    assert {"frys.dsl.analyzer", "frys.dsl.parser", "lark", "frys.connectors.registry",
            "frys.connectors.jsonl"} <= modules
    assert loaded_among(modules, NEVER_FOR_A_JOB) == []
    assert loaded_among(modules, RUN_ONLY) == []


def test_frys_run_of_a_file_job_loads_no_bus_command_api_or_colors(
        tmp_path: Path, job: Path) -> None:
    modules = loaded_modules(tmp_path, "run", str(job))
    assert (tmp_path / "out" / "big.jsonl").read_text().count("\n") == 1  # it did run
    assert {"frys.run_cli", "frys.engine.runtime", "frys.engine.planner"} <= modules
    assert loaded_among(modules, NEVER_FOR_A_JOB) == []
    # what a job without patterns or persistent streams and WAL URIs does not use: the
    # operator registry and the connector registry import those on first use
    assert loaded_among(modules, ("frys.operators.pattern", "frys.connectors.wal",
                                  "frys.connectors.wal_topic",
                                  "frys.connectors.bus_connector")) == []
    # the status line is drawn on a terminal only; the subprocess' stderr is a pipe
    assert "frys.progress" not in modules


def test_the_bus_commands_load_their_own_modules(tmp_path: Path) -> None:
    """The other side of the lists above: the driver sees what a command loads lazily."""
    (tmp_path / "in.jsonl").write_text(EVENTS)
    published = loaded_modules(tmp_path, "publish", "-q", str(tmp_path / "topic"),
                               str(tmp_path / "in.jsonl"))
    assert {"frys.bus_cli", "frys.connectors.wal.log", "msgspec"} <= published
    assert loaded_among(published, ("frys.run_cli", "frys.engine.runtime", "tqdm",
                                    "frys.pipeline")) == []
    replayed = loaded_modules(tmp_path, "replay", "-q", str(tmp_path / "topic"),
                              "--to", str(tmp_path / "copy"))
    assert {"frys.bus_cli", "tqdm"} <= replayed


def test_a_misspelt_name_loads_the_suggestions(tmp_path: Path, job: Path) -> None:
    job.write_text(JOB.replace("WHERE v > 10", "WHERE vv > 10"))
    listing = tmp_path / "modules.json"
    result = subprocess.run([sys.executable, "-c", DRIVER, str(listing), "check", str(job)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "did you mean 'v'?" in result.stderr
    assert "difflib" in json.loads(listing.read_text())["modules"]


def test_explain_loads_the_planner_only_when_explaining(tmp_path: Path, job: Path) -> None:
    modules = loaded_modules(tmp_path, "explain", "--stage", "logical", str(job))
    assert "frys.engine.planner" in modules
    assert loaded_among(modules, ("frys.run_cli", "frys.engine.runtime", "frys.operators",
                                  "pygments")) == []


PACKAGE_EXPORTS = """
import json, sys
import frys
before = sorted(m for m in sys.modules if m.startswith("frys."))
exported = {name: getattr(frys, name).__module__ for name in frys.__all__
            if name != "__version__"}
namespace = {}
exec("from frys import *", namespace)
try:
    frys.no_such_name
    missing = None
except AttributeError as error:
    missing = str(error)
print(json.dumps({"before": before, "exported": exported, "missing": missing,
                  "star": sorted(n for n in namespace if not n.startswith("__")),
                  "dir": sorted(set(frys.__all__) - set(dir(frys))),
                  # the language's compile; frys.compile_text adds the connector checks
                  "dsl": (callable(frys.dsl.compile_text)
                          and frys.dsl.compile_text is not frys.compile_text),
                  "version": frys.__version__}))
"""


def test_the_package_loads_its_exports_on_first_use() -> None:
    result = subprocess.run([sys.executable, "-c", PACKAGE_EXPORTS], capture_output=True,
                            text=True, timeout=120, check=True)
    report = json.loads(result.stdout)
    assert report["before"] == []  # `import frys` loads polars, no frys module
    assert report["exported"] == {
        "Broker": "frys.connectors.broker", "FrysError": "frys.dsl.errors",
        "FsyncPolicy": "frys.connectors.wal.log", "Pipeline": "frys.pipeline",
        "RuntimeOptions": "frys.engine.runtime", "compile_text": "frys.compiler",
        "explain": "frys.explanation"}
    assert report["star"] == sorted(report["exported"])  # `from frys import *`
    assert report["missing"] == "module 'frys' has no attribute 'no_such_name'"
    assert report["dir"] == []
    assert report["dsl"] is True  # subpackages are reachable after a bare `import frys`
    assert report["version"] == importlib.metadata.version("frys")


# runs `frys ARGV` in a fresh process and writes the modules loaded when the first child
# process was launched
LAUNCH_DRIVER = """
import json, subprocess, sys
import frys.cli
loaded_at_launch = []
popen = subprocess.Popen

class Spy(popen):
    def __init__(self, *args, **kwargs):
        if not loaded_at_launch:
            loaded_at_launch.extend(sorted(sys.modules))
        super().__init__(*args, **kwargs)

subprocess.Popen = Spy
code = frys.cli.main(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": loaded_at_launch}, out)
"""


def test_a_local_cluster_is_launched_before_the_launcher_loads_polars_or_bytewax(
        tmp_path: Path, job: Path) -> None:
    """`frys run --runtime bytewax -p 2` starts its processes first (each takes about half
    a second to start) and checks the job while they start, not before."""
    listing = tmp_path / "modules.json"
    result = subprocess.run([sys.executable, "-c", LAUNCH_DRIVER, str(listing), "run",
                             str(job), "-q", "--runtime", "bytewax", "-p", "2"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    report = json.loads(listing.read_text())
    assert report["code"] == 0, result.stderr
    assert (tmp_path / "out" / "big.jsonl").read_text().count("\n") == 1  # it did run
    modules = set(report["modules"])
    assert "frys.scaleout_cli" in modules
    assert loaded_among(modules, ("polars", "pyarrow", "bytewax", "lark", "frys.dsl.parser",
                                  "frys.run_cli", "frys.engine.runtime",
                                  "frys.engine.planner", "frys.engine.scaleout.lowering")
                        ) == []


@pytest.mark.parametrize(("program", "engine"), [
    ("import frys, sys; assert 'polars' not in sys.modules; import polars as pl", "in-memory"),
    ("import polars as pl; import frys", "in-memory"),  # polars first: set through Config
    ("import os; os.environ['POLARS_ENGINE_AFFINITY'] = 'streaming'; import frys; "
     "import polars as pl", "streaming"),  # the program's own choice is kept
])
def test_frys_runs_polars_on_its_in_memory_engine_without_importing_it(
        program: str, engine: str) -> None:
    check = f"{program}; print(pl.Config.state()['POLARS_ENGINE_AFFINITY'])"
    env = {k: v for k, v in os.environ.items() if k != "POLARS_ENGINE_AFFINITY"}
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == engine


def test_a_local_clusters_launcher_prints_the_summary_without_loading_the_runtime(
        tmp_path: Path, job: Path) -> None:
    """The launcher of `-p 2` prints the summary its processes wrote (engine/job_stats.py)
    without loading polars, bytewax or the runtime: it used to import them for the summary
    alone, 0.4 s after the last process had ended."""
    modules = loaded_modules(tmp_path, "run", str(job), "--runtime", "bytewax", "-p", "2")
    assert (tmp_path / "out" / "big.jsonl").read_text().count("\n") == 1  # it did run
    assert "frys.engine.job_stats" in modules
    assert loaded_among(modules, ("polars", "pyarrow", "bytewax", "frys.run_cli",
                                  "frys.engine.runtime", "frys.engine.query_runner",
                                  "frys.engine.scaleout.lowering")) == []
