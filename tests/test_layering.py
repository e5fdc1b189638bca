"""The layers of ARCHITECTURE.md ("Layers"), enforced: a new import against them fails here.

Each top-level folder may import only what LAYERS allows (by module prefix). KNOWN lists
the few imports that break the rule today, each with what removes it; it may only shrink:
an entry that no longer matches an import fails the test too, so that it is deleted.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("api", "dsl", "engine", "operators", "connectors")

# per folder: the frys modules (prefixes) it may import from the other folders
LAYERS: dict[str, tuple[str, ...]] = {
    # the public face: everything below it
    "api": ("frys.dsl", "frys.engine", "frys.operators", "frys.connectors"),
    # the runtime drives operators (through their registry) and connectors, planned by dsl
    "engine": ("frys.dsl", "frys.operators.registry", "frys.connectors"),
    # operators keep the engine's contract over its plan nodes, in the language's types
    "operators": ("frys.dsl", "frys.engine.graph", "frys.engine.operator", "frys.engine.time"),
    # connectors decode into the language's types; a topic is one implementation of the
    # engine's channels, whose event time (watermarks) is the engine's
    "connectors": ("frys.dsl.types", "frys.dsl.limits", "frys.dsl.errors", "frys.dsl.analyzed",
                   "frys.dsl.stream_graph", "frys.engine.time", "frys.engine.channel"),
    # the language depends on nothing else
    "dsl": (),
}

# (importing module, imported prefix): why it is still there, and what removes it
# (none left: the planner moved to engine/, URI checks behind the connector registry)
KNOWN: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["frys", *parts])


def frys_imports(path: Path) -> set[str]:
    return imports_in(ast.parse(path.read_text(), str(path)))


def imports_in(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("frys."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("frys."))
    return found


def edges() -> list[tuple[str, str, str]]:
    """(folder, importing module, imported module) across folders."""
    found = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            importer = module_name(path)
            for imported in frys_imports(path):
                target = imported.split(".")[1]
                if target != folder and target in FOLDERS:
                    found.append((folder, importer, imported))
    return found


def _matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_every_import_across_folders_follows_the_layers() -> None:
    against = []
    for folder, importer, imported in edges():
        if any(_matches(imported, allowed) for allowed in LAYERS[folder]):
            continue
        if any(importer == known and _matches(imported, prefix)
               for known, prefix in KNOWN):
            continue
        against.append(f"{importer} imports {imported}")
    assert against == [], "imports against ARCHITECTURE.md's layers:\n" + "\n".join(against)


def test_every_known_exception_still_exists() -> None:
    present = {(importer, imported) for _, importer, imported in edges()}
    stale = [known for known in KNOWN
             if not any(importer == known[0] and _matches(imported, known[1])
                        for importer, imported in present)]
    assert stale == [], f"no longer imported, delete from KNOWN: {stale}"


# engine modules that know channels only through engine/channel.py, so that a job runs over
# the bus or any other transport (a bytewax stream): nothing of frys.connectors
TRANSPORT_FREE = ("engine/channel.py", "engine/query_runner.py")


def run_time_imports(path: Path) -> set[str]:
    """The frys modules `path` imports when it runs: those of `if TYPE_CHECKING:` blocks
    (names for annotations only) left out."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING",
                                                                   "typing.TYPE_CHECKING"):
            node.body = []
    return imports_in(tree)


def test_channels_and_queries_import_no_connector() -> None:
    for relative in TRANSPORT_FREE:
        imported = run_time_imports(ROOT / relative)
        assert [m for m in imported if _matches(m, "frys.connectors")] == [], relative
    # what engine/channel.py builds on is the engine's time, and nothing else of frys
    assert frys_imports(ROOT / "engine/channel.py") == {"frys.engine.time"}


def test_run_time_imports_leave_out_type_checking_blocks(tmp_path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text("from typing import TYPE_CHECKING\nimport frys.engine.time\n"
                       "if TYPE_CHECKING:\n    from frys.connectors.decode import DeadLetter\n")
    assert frys_imports(planted) == {"frys.engine.time", "frys.connectors.decode"}
    assert run_time_imports(planted) == {"frys.engine.time"}


def test_the_check_sees_a_forbidden_import(tmp_path) -> None:
    # the parser finds both import forms; a dsl module importing the runtime would fail
    planted = tmp_path / "planted.py"
    planted.write_text("import frys.engine.runtime\nfrom frys.connectors import bus\n")
    assert frys_imports(planted) == {"frys.engine.runtime", "frys.connectors"}
    assert not any(_matches("frys.engine.runtime", allowed) for allowed in LAYERS["dsl"])
