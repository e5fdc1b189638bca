"""What a job file may touch: the folders its files must lie in (`frys run --sandbox DIR`,
`RuntimeOptions.allowed_paths`).

Without a sandbox a job is trusted like a script: its `file:` and `wal:` URIs may name any
path. With one, every file the job touches — `file:` and `wal:` sources and sinks, the log
of each `queue = 'persistent'` stream (under the WAL root) and the `--trace-matches` file —
must resolve inside one of the allowed folders:

* the path is resolved the way the kernel will open it: every symlink followed (a dangling
  one too, since opening it for writing creates its target), `..` applied after the link
  before it, components that do not exist yet taken as written; the allowed folders are
  resolved the same way, so a sandbox reached through a symlink works;
* a symlink inside the sandbox that points outside is refused, so is a `..` that climbs out,
  so is a symlink loop (it cannot be resolved, hence cannot be shown to stay inside);
* a WAL folder is checked with everything already in it (segments, offsets, quarantine);
* `job_refusals` checks all the paths of a job before the runtime opens or creates any of
  them: a refused job has truncated no sink and created no folder or log.

What it does not guard against: another process that can write into the sandbox swapping a
checked folder for a symlink between the check and the open. The sandbox confines what the
job's text asks for; confining a hostile neighbour needs the operating system's help.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from frys.connectors.registry import uri_paths
from frys.dsl.errors import UNKNOWN_SPAN, Diagnostic, FrysError, Span

if TYPE_CHECKING:
    from frys.dsl.analyzed import StreamDef


class OutsideSandbox(FrysError):
    """A job asked for a file outside the folders it may touch."""


def resolved_path(path: str | Path) -> Path | None:
    """`path` as the kernel will open it (absolute, no symlink and no `..` left), or None
    when it cannot be resolved (a symlink loop)."""
    # realpath, not Path.resolve: on a loop it stops instead of raising, and it follows a
    # dangling symlink to the target that opening it for writing would create
    real = Path(os.path.realpath(path))
    # a fully resolved path has no symlink left in it; realpath leaves one only at a loop
    if ".." in real.parts or any(part.is_symlink() for part in (real, *real.parents)):
        return None
    return real


class Sandbox:
    """The folders a job may touch; see the module docstring for what is checked and how."""

    def __init__(self, allowed: Sequence[str | Path]) -> None:
        self.allowed = tuple(Path(os.path.realpath(folder)) for folder in allowed)

    def __repr__(self) -> str:
        return f"Sandbox({[str(folder) for folder in self.allowed]})"

    def describe(self) -> str:
        """The allowed folders, for messages."""
        if not self.allowed:
            return "the sandbox (no folder allowed)"
        return "the sandbox " + ", ".join(str(folder) for folder in self.allowed)

    def contains(self, path: str | Path) -> bool:
        """Whether `path`, resolved, lies in (or is) one of the allowed folders."""
        real = resolved_path(path)
        return real is not None and any(real.is_relative_to(folder) for folder in self.allowed)

    def refusal(self, path: str | Path, what: str) -> str | None:
        """Why `what` (e.g. "stream trades: source 'file:../x.jsonl'") may not touch `path`,
        or None when it may."""
        return self._refusal(path, resolved_path(path), what)

    def check(self, path: str | Path, what: str, span: Span = UNKNOWN_SPAN,
              source_name: str = "<query>") -> Path:
        """`path` resolved, or OutsideSandbox naming `what`, the resolved path and the
        allowed folders (at `span` of `source_name` when known). Touches nothing."""
        real = resolved_path(path)
        problem = self._refusal(path, real, what)
        if problem is not None or real is None:
            raise OutsideSandbox.at(problem or what, span, source_name)
        return real

    def _refusal(self, path: str | Path, real: Path | None, what: str) -> str | None:
        if real is None:
            return (f"{what}: {path} cannot be resolved (a symlink loop), so it is not "
                    f"known to stay inside {self.describe()}")
        if any(real.is_relative_to(folder) for folder in self.allowed):
            return None
        return f"{what} resolves to {real}, outside {self.describe()}"


def job_paths(streams: Iterable[StreamDef], base_dir: Path, wal_root: Path
              ) -> Iterable[tuple[str, Path, Span]]:
    """Every path a job's streams make the runtime open or create: (what, path, where the
    job asks for it). Each source's and sink's paths are its connector's
    (registry.uri_paths), resolved the way the connector opens them, so the paths checked
    are the paths opened; a folder comes with everything already in it."""
    for stream in streams:
        for option in ("source", "sink"):
            uri = getattr(stream, option)
            if uri is None:
                continue
            span = stream.option_spans.get(option, stream.span)
            what = f"stream {stream.name}: {option} {uri!r}"
            paths = uri_paths(uri, base_dir)
            if len(paths) == 1:
                yield from _path_and_contents(what, paths[0], span)
            else:
                for path in paths:
                    yield from _path_and_contents(f"{what}: {path}", path, span)
        if stream.queue == "persistent":
            log = wal_root / stream.name
            yield from _path_and_contents(f"stream {stream.name}: the log of its persistent queue "
                                  f"({log})", log, stream.option_spans.get("queue", stream.span))


def _path_and_contents(what: str, directory: Path, span: Span) -> Iterable[tuple[str, Path, Span]]:
    """A path and, when it is a folder (a WAL's), everything in it: the log opens its
    segments, offsets and quarantine by name, so a symlink planted among them is checked
    too."""
    yield what, directory, span
    if not directory.is_dir():
        return
    for folder, subfolders, files in os.walk(directory):  # symlinks listed, not followed
        for name in (*subfolders, *files):
            path = Path(folder) / name
            yield f"{what}: {path.relative_to(directory)}", path, span


def job_refusals(sandbox: Sandbox, streams: Iterable[StreamDef], base_dir: Path,
                 wal_root: Path) -> list[Diagnostic]:
    """One error per path of the job outside `sandbox`, in text order; opens nothing (what
    `frys check --sandbox` reports, and what the runtime refuses before it starts)."""
    refusals = []
    for what, path, span in job_paths(streams, base_dir, wal_root):
        problem = sandbox.refusal(path, what)
        if problem is not None:
            refusals.append(Diagnostic(problem, span))
    return sorted(refusals, key=lambda d: (d.span.line, d.span.column))
