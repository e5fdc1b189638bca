"""The `frys` command line: run, check and explain .frysql jobs; publish, tail and replay
topics of the bus (bus_cli.py).

Exit codes (the same for every command):

* 0 success;
* 1 the job has errors (printed with file:line:col and a caret), or cannot start (a source
  missing, a sink that cannot be created);
* 2 bad command-line usage or a file that cannot be read;
* 3 `frys check` only: the job is valid but uses constructs `frys run` cannot run yet
  (`--allow-unsupported` makes that exit 0);
* 130 interrupted (Ctrl-C / SIGINT), as shells report a command killed by SIGINT.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import polars as pl

from frys.bus_cli import add_bus_commands, add_sandbox_argument, allowed_paths, positive
from frys.connectors.bus import Topic
from frys.connectors.decode import DataWarning
from frys.connectors.jsonl import JsonlWriter
from frys.connectors.sandbox import OutsideSandbox, Sandbox, job_refusals
from frys.connectors.wal import FsyncPolicy, WalError
from frys.dsl import FrysError, compile_text
from frys.dsl.errors import Diagnostic, NotSupportedYet
from frys.dsl.limits import DEFAULT_LIMITS, Limits
from frys.dsl.parser import read_job
from frys.dsl.plan_render import FORMATS
from frys.dsl.planner import plan
from frys.engine.graph import JobGraph, QueryNode
from frys.engine.operator import (
    DEFAULT_MAX_PARTIALS,
    DEFAULT_MAX_PARTITION_BYTES,
    DEFAULT_MAX_PATTERN_BYTES,
)
from frys.engine.query_runner import JobStats
from frys.engine.runtime import Runtime, RuntimeOptions
from frys.explanation import STAGES, explain
from frys.progress import RunStatusLine

EXIT_ERRORS = 1
EXIT_USAGE = 2
EXIT_NOT_SUPPORTED = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a job stopped by Ctrl-C

# the field `--format tagged` adds to each row: the bare SELECT it came from (select_N)
QUERY_FIELD = "_query"


def _read(path: str) -> str:
    try:
        return read_job(path)
    except OSError as error:
        print(f"frys: cannot read {path}: {error.strerror}", file=sys.stderr)
        raise SystemExit(2) from None
    except FrysError as error:  # not UTF-8: where
        print(error.render(), file=sys.stderr)
        raise SystemExit(1) from None


class _Version(argparse.Action):
    """`frys --version`: the version is looked up only when asked (see frys.__getattr__)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        import frys

        print(f"frys {frys.__version__}")
        parser.exit()


def _summary(stats: JobStats) -> str:
    parts = [f"{stream}: {count} events" for stream, count in stats.events.items()
             if count and stream != "dead_letters"]
    lines = ["frys: done. " + ("; ".join(parts) if parts else "no events")]
    if stats.total_late_events:
        detail = ", ".join(f"{q}: {n}" for q, n in stats.late_events.items())
        lines.append(f"frys: late events dropped: {stats.total_late_events} ({detail})")
    if stats.incomplete_windows:
        detail = ", ".join(f"{q}: {n}" for q, n in stats.incomplete_windows.items())
        lines.append(f"frys: count windows still short at the end (not fired): {detail}")
    if stats.discarded_partial_matches:
        detail = ", ".join(f"{q}: {n}" for q, n in stats.discarded_partial_matches.items())
        lines.append(f"frys: partial matches discarded over the limit: {detail} "
                     "(raise --max-partial-matches, or bound the pattern with WITHIN)")
    if stats.discarded_partial_matches_for_bytes:
        detail = ", ".join(f"{q}: {n}"
                           for q, n in stats.discarded_partial_matches_for_bytes.items())
        lines.append(f"frys: partial matches discarded over the byte budget: {detail} "
                     "(raise --max-pattern-bytes-per-partition / --max-pattern-bytes, or "
                     "bound the pattern with WITHIN)")
    if stats.total_dead_letters:
        detail = ", ".join(f"{s}: {n}" for s, n in stats.dead_letters.items())
        lines.append(f"frys: dead letters: {stats.total_dead_letters} ({detail})")
        for letter in stats.first_dead_letters[:3]:
            lines.append(f"  {letter.position}: {letter.reason}")
    else:
        lines.append("frys: dead letters: 0")
    return "\n".join(lines)


def _without_repeated_position(diagnostic: Diagnostic) -> Diagnostic:
    """The analyzer ends a "not supported yet" message with ` at LINE:COL` (so the bare
    message names the place); rendered, the header already starts with that position."""
    suffix = f" at {diagnostic.span.line}:{diagnostic.span.column}"
    if diagnostic.message.endswith(suffix):
        return Diagnostic(diagnostic.message.removesuffix(suffix), diagnostic.span,
                          diagnostic.severity)
    return diagnostic


def _render_error(error: FrysError, job: str, text: str) -> str:
    """An error of the job, rendered against its file, carets included."""
    if isinstance(error, NotSupportedYet):
        error = NotSupportedYet([_without_repeated_position(d) for d in error.diagnostics])
    return error.with_source(job, text).render()


class StdoutRows(JsonlWriter):
    """The rows of one bare SELECT as JSON lines on stdout; with `query`, each row starts
    with a field naming it ({"_query": "select_2", ...}). `before_rows` runs before each
    batch is written (the status line erases itself, so rows never land on it)."""

    def __init__(self, stream: BinaryIO, query: str | None,
                 before_rows: Callable[[], None]) -> None:
        super().__init__(stream, close_at_end=False)
        self.query = query
        self.before_rows = before_rows

    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None:
        self.before_rows()
        if self.query is not None:
            batch = batch.select(pl.lit(self.query).alias(QUERY_FIELD), pl.all())
        super().on_batch(topic, batch)


def _output_format(args: argparse.Namespace, graph: JobGraph) -> str:
    """`--format`, or its default: plain JSON lines for one bare SELECT, tagged for several
    (rows of different queries would otherwise be indistinguishable on stdout)."""
    if args.format is not None:
        return args.format
    bare_selects = sum(1 for node in graph.queries if node.to_caller)
    return "tagged" if bare_selects > 1 else "jsonl"


def command_run(args: argparse.Namespace) -> int:
    text = _read(args.job)
    stdout = sys.stdout.buffer
    output_format = "jsonl"

    status: RunStatusLine | None = None
    # rows and the status line on one terminal: the line is erased before rows are
    # written, and redrawn below them at its next refresh
    rows_on_the_status_terminal = _is_terminal(sys.stdout)

    def before_rows() -> None:
        if status is not None and rows_on_the_status_terminal:
            status.clear()

    def to_stdout(node: QueryNode) -> JsonlWriter:
        tag = node.output_topic if output_format == "tagged" else None
        return StdoutRows(stdout, tag, before_rows)

    options = RuntimeOptions(max_partial_matches=args.max_partial_matches,
                             max_pattern_bytes_per_partition=args.max_pattern_bytes_per_partition,
                             max_pattern_bytes=args.max_pattern_bytes,
                             limits=_limits(args),
                             trace_matches=args.trace_matches is not None,
                             wal_root=Path(args.wal_root) if args.wal_root else None,
                             wal_fsync=FsyncPolicy.parse(args.wal_fsync)
                             if args.wal_fsync else None,
                             allowed_paths=allowed_paths(args))
    if args.trace_matches and options.allowed_paths is not None:
        # a command-line argument, not the job's: refused like bad usage, before it is
        # created
        problem = Sandbox(options.allowed_paths).refusal(
            args.trace_matches, f"--trace-matches {args.trace_matches}")
        if problem is not None:
            print(f"frys: {problem}", file=sys.stderr)
            return 2
    trace_file = open(args.trace_matches, "w") if args.trace_matches else None  # noqa: SIM115

    def write_trace(record: dict[str, object]) -> None:
        assert trace_file is not None
        trace_file.write(json.dumps(record) + "\n")

    try:
        graph = plan(compile_text(text, args.job, limits=options.limits))
        output_format = _output_format(args, graph)
        if output_format == "tagged":
            clash = [node.output_topic for node in graph.queries if node.to_caller
                     and QUERY_FIELD in (graph.topics[node.output_topic].columns or {})]
            if clash:
                print(f"frys: --format tagged adds a {QUERY_FIELD} field to each row, and "
                      f"{', '.join(clash)} already has one: rename it, or use --format jsonl",
                      file=sys.stderr)
                return EXIT_USAGE
        runtime = Runtime(graph, Path(args.job).parent, caller_output=to_stdout,
                          options=options, on_trace=write_trace if trace_file else None)
        if _shows_progress(args):
            status = RunStatusLine(runtime, sys.stderr)
        with warnings.catch_warnings():
            # data warnings are printed once below, as frys lines, not as Python's
            warnings.simplefilter("ignore", DataWarning)
            stats = runtime.run(on_batch_read=status.on_batch_read if status else None)
    except FrysError as error:
        print(_render_error(error, args.job, text), file=sys.stderr)
        return EXIT_ERRORS
    finally:
        if status is not None:  # erased before the summary, or the interrupted message
            status.clear()
        if trace_file is not None:
            trace_file.close()
    if not args.quiet:
        for decoder in runtime.decoders.values():
            for message in decoder.warnings:
                print(f"frys: warning: {message}", file=sys.stderr)
        print(_summary(stats), file=sys.stderr)
    return 0


def _shows_progress(args: argparse.Namespace) -> bool:
    """The live status line: on a terminal only (a log file or CI output would fill with
    redrawn lines), unless --no-progress or --quiet."""
    return not (args.no_progress or args.quiet) and _is_terminal(sys.stderr)


def _is_terminal(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):  # replaced or closed
        return False


def command_check(args: argparse.Namespace) -> int:
    """Errors fail the check (exit 1). Constructs the runtime cannot run yet fail it too,
    with their own exit code 3 (a job that passes the check must not be refused by
    `frys run`), unless --allow-unsupported; warnings are reported and never fail it."""
    failed = False
    unsupported = False
    for job in args.jobs:
        text = _read(job)
        try:
            analyzed = compile_text(text, job, runnable=False, limits=_limits(args))
        except FrysError as error:
            print(error.render(), file=sys.stderr)
            failed = True
            continue
        if args.sandbox:  # the paths `frys run --sandbox` would refuse; none is opened
            wal_root = Path(args.wal_root) if args.wal_root else \
                Path(job).parent / ".frys" / "wal"
            refusals = job_refusals(Sandbox(args.sandbox), analyzed.streams.values(),
                                    Path(job).parent, wal_root)
            if refusals:
                print(OutsideSandbox(refusals, job, text).render(), file=sys.stderr)
                failed = True
                continue
        for diagnostic in analyzed.warnings:
            print(diagnostic.render(job, text), file=sys.stderr)
        severity = "note" if args.allow_unsupported else "error"
        for diagnostic in analyzed.not_supported:
            shown = _without_repeated_position(diagnostic)
            print(Diagnostic(shown.message + " (frys run refuses this job for now)",
                             shown.span, severity).render(job, text), file=sys.stderr)
        if analyzed.not_supported and not args.allow_unsupported:
            unsupported = True
            print(f"{job}: valid, but frys run cannot run it yet "
                  f"({len(analyzed.not_supported)} construct"
                  f"{'s' if len(analyzed.not_supported) > 1 else ''} not supported; "
                  "--allow-unsupported to pass the check anyway)", file=sys.stderr)
            continue
        print(f"{job}: ok", file=sys.stderr)
    if failed:
        return EXIT_ERRORS
    return EXIT_NOT_SUPPORTED if unsupported else 0


def command_explain(args: argparse.Namespace) -> int:
    try:
        text = explain(_read(args.job), args.job, stage=args.stage, fmt=args.format)
    except FrysError as error:
        print(error.render(), file=sys.stderr)
        return 1
    if args.stage == "ast":
        from frys.dsl.highlight import colorize, should_colorize  # pygments: only when asked

        if should_colorize(sys.stdout):
            text = colorize(text)
    print(text, end="" if text.endswith("\n") else "\n")
    return 0


def _add_limit_arguments(command: argparse.ArgumentParser) -> None:
    """What a job may ask for (dsl/limits.py); the same flags on run and check."""
    command.add_argument("--max-hop-windows", type=positive, metavar="N",
                         default=DEFAULT_LIMITS.max_hop_windows,
                         help="refuse a HOP that puts an event into more than N windows "
                              f"(default {DEFAULT_LIMITS.max_hop_windows:,})")
    command.add_argument("--max-repetitions", type=positive, metavar="N",
                         default=DEFAULT_LIMITS.max_repetitions,
                         help="refuse a quantifier bound above N, as in b{2,N} (default "
                              f"{DEFAULT_LIMITS.max_repetitions:,})")


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(max_hop_windows=args.max_hop_windows, max_repetitions=args.max_repetitions)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frys", description="frys: complex event "
                                     "processing with .frysql queries")
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a job; bounded sources run to their end")
    run.add_argument("job", help="the .frysql file")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="no summary and no status line on stderr")
    run.add_argument("--no-progress", action="store_true",
                     help="no live status line (events/s, watermark, progress bar) on stderr; "
                          "it is shown only when stderr is a terminal anyway")
    run.add_argument("--format", choices=("jsonl", "tagged"), default=None,
                     help="rows of bare SELECTs on stdout: jsonl (the rows as they are) or "
                          f'tagged (each row starts with "{QUERY_FIELD}": "select_N", the '
                          "bare SELECT it came from, counted in the job's order); default: "
                          "jsonl for one bare SELECT, tagged for several")
    run.add_argument("--max-partial-matches", type=positive, default=DEFAULT_MAX_PARTIALS,
                     metavar="N", help="pattern queries keep at most N partial matches per "
                     f"partition (default {DEFAULT_MAX_PARTIALS:,}); the excess is discarded "
                     "and counted")
    run.add_argument("--max-pattern-bytes-per-partition", type=positive,
                     default=DEFAULT_MAX_PARTITION_BYTES, metavar="BYTES",
                     help="bytes a pattern query's state (shared buffer and partial matches) "
                     f"may take per partition (default {DEFAULT_MAX_PARTITION_BYTES:,}); "
                     "beyond, the partial matches that started earliest are discarded and "
                     "counted")
    run.add_argument("--max-pattern-bytes", type=positive, default=DEFAULT_MAX_PATTERN_BYTES,
                     metavar="BYTES", help="the same over all partitions of a pattern query "
                     f"(default {DEFAULT_MAX_PATTERN_BYTES:,})")
    run.add_argument("--trace-matches", metavar="FILE",
                     help="debug mode: write one JSON line per ended partial match of every "
                          "pattern query (why it ended: completed, timed out, skipped, "
                          "negated, no transition, over the limit, late; and its events)")
    run.add_argument("--wal-root", metavar="DIR",
                     help="where streams with queue = 'persistent' keep their logs "
                          "(default: .frys/wal beside the job file)")
    run.add_argument("--wal-fsync", metavar="POLICY",
                     help="fsync policy of those logs: always, batch[:<ms>[:<bytes>]] "
                          "(default batch) or never (docs/bus.md)")
    _add_limit_arguments(run)
    add_sandbox_argument(run)
    run.set_defaults(handler=command_run)
    check = commands.add_parser("check", help="report every error in the jobs, run nothing")
    check.add_argument("jobs", nargs="+", help=".frysql files")
    check.add_argument("--allow-unsupported", action="store_true",
                       help="pass (exit 0) a valid job that uses constructs frys run cannot "
                            "run yet; without it such a job fails the check with exit code 3")
    _add_limit_arguments(check)
    add_sandbox_argument(check)
    check.add_argument("--wal-root", metavar="DIR",
                       help="with --sandbox: the --wal-root the jobs will run with (default: "
                            ".frys/wal beside each job file)")
    check.set_defaults(handler=command_check)
    explain_command = commands.add_parser(
        "explain", help="print a job as the parser read it (ast) or its operator graph")
    explain_command.add_argument("job", help="the .frysql file")
    explain_command.add_argument(
        "--stage", choices=STAGES, default="physical",
        help="ast: the job printed back as canonical .frysql (colored on a terminal); "
             "logical / optimized: each query's plan before / after the optimizer rules; "
             "physical: the operator graph (default)")
    explain_command.add_argument("--format", choices=FORMATS, default="text",
                                 help="text (default), or a mermaid or dot graph")
    explain_command.set_defaults(handler=command_explain)
    add_bus_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        # Ctrl-C is how a user stops a long run: say so on one line, no traceback. Sinks
        # keep what was written so far; WAL offsets are not committed (the run did not end)
        print("frys: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except WalError as error:
        print(f"frys: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        # stdout closed early (`frys run job | head`): not an error of the job. polars
        # reports it as a plain OSError ("Broken pipe (os error 32)").
        if error.errno != errno.EPIPE and "os error 32" not in str(error):
            raise
        return 0


def entry() -> None:
    """The `frys` console script: `main`, then a fast exit. Every sink is closed and stdout
    and stderr are flushed first; skipping the interpreter's teardown (freeing polars' and
    the job's memory piece by piece) saves about 60 ms per run, a sixth of a small job."""
    try:
        code = main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except KeyboardInterrupt:  # before main's handler was reached (importing, parsing)
        print("frys: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # closed early (`frys run job | head`)
        pass
    os._exit(code)


if __name__ == "__main__":
    entry()
