"""The `frys` command line: its arguments, and the dispatch to the command given.

Each command's work is in the module that `main` imports when that command runs, so that a
command loads only what it uses (`python -X importtime`; benchmarks/startup.py): `frys run`
in run_cli.py (the runtime, operators and connectors), `frys run --runtime bytewax` in
scaleout_cli.py (whose `-p` launcher starts its processes before it loads polars or
bytewax: nothing imported here at the top does); `frys publish`, `tail`, `replay` and
`wal check` in bus_cli.py (the WAL's writer and reader, tqdm); `frys check` and
`frys explain` here (the language; explain also the planner).

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
import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

from frys.connectors.file_partitions import DEFAULT_SPLIT_BYTES
from frys.dsl import FrysError
from frys.dsl.errors import Diagnostic, NotSupportedYet
from frys.dsl.limits import DEFAULT_LIMITS, Limits
from frys.dsl.plan_render import FORMATS
from frys.engine.operator import (
    DEFAULT_MAX_PARTIALS,
    DEFAULT_MAX_PARTITION_BYTES,
    DEFAULT_MAX_PATTERN_BYTES,
)
from frys.explanation import STAGES

EXIT_ERRORS = 1
EXIT_USAGE = 2
EXIT_NOT_SUPPORTED = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a job stopped by Ctrl-C

# the field `--format tagged` adds to each row: the bare SELECT it came from (select_N)
QUERY_FIELD = "_query"


def read_job_file(path: str) -> str:
    """The text of the job file `path`; when it cannot be read, says so on stderr and exits
    with 2 (1 when it is not UTF-8, an error of the job shown at its place)."""
    from frys.dsl.parser import read_job

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


def _without_repeated_position(diagnostic: Diagnostic) -> Diagnostic:
    """The analyzer ends a "not supported yet" message with ` at LINE:COL` (so the bare
    message names the place); rendered, the header already starts with that position."""
    suffix = f" at {diagnostic.span.line}:{diagnostic.span.column}"
    if diagnostic.message.endswith(suffix):
        return Diagnostic(diagnostic.message.removesuffix(suffix), diagnostic.span,
                          diagnostic.severity)
    return diagnostic


def render_job_error(error: FrysError, job: str, text: str) -> str:
    """An error of the job, rendered against its file, carets included."""
    if isinstance(error, NotSupportedYet):
        error = NotSupportedYet([_without_repeated_position(d) for d in error.diagnostics])
    return error.with_source(job, text).render()


def command_check(args: argparse.Namespace) -> int:
    """Errors fail the check (exit 1). Constructs the runtime cannot run yet fail it too,
    with their own exit code 3 (a job that passes the check must not be refused by
    `frys run`), unless --allow-unsupported; warnings are reported and never fail it."""
    from frys.compiler import compile_text

    failed = False
    unsupported = False
    for job in args.jobs:
        text = read_job_file(job)
        try:
            analyzed = compile_text(text, job, runnable=False, limits=job_limits(args))
        except FrysError as error:
            print(error.render(), file=sys.stderr)
            failed = True
            continue
        if args.sandbox:  # the paths `frys run --sandbox` would refuse; none is opened
            from frys.connectors.sandbox import OutsideSandbox, Sandbox, job_refusals

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
    from frys.explanation import explain

    try:
        text = explain(read_job_file(args.job), args.job, stage=args.stage, fmt=args.format)
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


def job_limits(args: argparse.Namespace) -> Limits:
    """The limits given by --max-hop-windows and --max-repetitions."""
    return Limits(max_hop_windows=args.max_hop_windows, max_repetitions=args.max_repetitions)


def _add_scale_out_arguments(run: argparse.ArgumentParser) -> None:
    """`frys run --runtime bytewax`: the flags of `python -m bytewax.run` (docs/scale-out.md)."""
    group = run.add_argument_group(
        "scale-out", "--runtime bytewax runs the job on a bytewax cluster: -w workers per "
        "process, -p local processes, or -i/-a for one process of a cluster on several "
        "hosts (docs/scale-out.md)")
    group.add_argument("--runtime", choices=("embedded", "bytewax"), default="embedded",
                       help="embedded (one process, the default) or bytewax")
    group.add_argument("-w", "--workers-per-process", dest="workers", type=positive,
                       default=1, metavar="N", help="bytewax workers in each process")
    group.add_argument("-p", "--processes", type=positive, default=1, metavar="P",
                       help="run P local processes on loopback addresses, watched: if one "
                            "dies the run stops and fails")
    group.add_argument("-i", "--process-id", type=int, metavar="I",
                       help="this process's index in -a (a cluster on several hosts)")
    group.add_argument("-a", "--addresses", metavar="HOST:PORT;...",
                       help="every process's address, in process order, separated by ';'")
    group.add_argument("-r", "--recovery-directory", metavar="DIR",
                       help="bytewax recovery: snapshots of every source position, key "
                            "group state and sink in DIR; the same command resumes from "
                            "the last one (created on first use)")
    group.add_argument("-s", "--snapshot-interval", type=float, metavar="SECONDS",
                       help="with -r: seconds between snapshots (default 10)")
    group.add_argument("-b", "--backup-interval", type=float, default=0.0, metavar="SECONDS",
                       help="with -r: seconds of older snapshots to keep (default 0)")
    group.add_argument("--key-groups", type=positive, metavar="N",
                       help="keyed state is split into N key groups, the most workers a "
                            "keyed query can use; each costs a little per batch (default: "
                            "4 per worker of the cluster; a resumed run keeps its -r "
                            "folder's, docs/scale-out.md)")
    group.add_argument("--source-partitions", type=positive, metavar="N",
                       help="read the job's file sources of more than one stripe by up "
                            "to N partitions in all, in parallel, each source's stripes "
                            "dealt round robin to its share (default: the cluster's "
                            "workers; 1: every source whole); a resumed run reads as the "
                            "run that wrote its -r folder did")
    group.add_argument("--split-bytes", type=positive, default=DEFAULT_SPLIT_BYTES, metavar="BYTES",
                       help="the stripes' size (default 4 MiB; JSON Lines: bytes, cut at "
                            "line starts; Parquet: whole row groups of about this many "
                            "bytes; a folder of part files: one part each; an Arrow IPC "
                            "file is read whole)")
    group.add_argument("--stats-file", metavar="FILE", help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frys", description="frys: complex event "
                                     "processing with .frysql queries")
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a job; bounded sources run to their end, "
                              "growing ones until stopped")
    run.add_argument("job", help="the .frysql file")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="no summary and no status line on stderr")
    run.add_argument("--no-progress", action="store_true",
                     help="no live status line (events/s, watermark, progress bar) on stderr; "
                          "it is shown only when stderr is a terminal anyway")
    run.add_argument("--progress-every", type=duration_ms, default=250, metavar="DURATION",
                     help="redraw the status line at most this often, e.g. 1s over a slow "
                          "link (default 250ms)")
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
    run.add_argument("--state", metavar="DIR",
                     help="keep the job's state in DIR: checkpoints are taken as the run "
                          "goes, and a run on the same DIR continues from the newest one "
                          "(sources from their positions, sinks cut back to it: exactly-once "
                          "through a crash); SIGTERM or Ctrl-C stop at the next batch with a "
                          "last checkpoint, without ending the input (docs/guarantees.md)")
    run.add_argument("--checkpoint-every", type=duration_ms, default=10_000,
                     metavar="DURATION",
                     help="with --state: a checkpoint at most this long apart, e.g. 200ms, "
                          "10s, 5m (default 10s)")
    run.add_argument("--checkpoint-every-events", type=positive, metavar="N",
                     help="with --state: also a checkpoint every N events read")
    run.add_argument("--from-savepoint", metavar="NAME",
                     help="with --state: start from savepoint NAME (frys savepoint) instead "
                          "of the newest checkpoint; a changed job takes over each query's "
                          "state by query name where it still means the same "
                          "(docs/guarantees.md, Upgrades)")
    run.add_argument("--allow-state-drop", action="store_true",
                     help="with --state: a changed query whose state cannot be carried over "
                          "starts empty (with a warning) instead of the run being refused")
    run.add_argument("--exit-when-idle", type=duration_ms, metavar="DURATION",
                     help="stop once every source has had nothing new for this long, e.g. "
                          "2s (growing sources: file:...?follow=true, wal:, stdin:). With "
                          "--state like SIGTERM (a last checkpoint, open windows wait for "
                          "the next run); without, the input ends there (windows fire)")
    _add_scale_out_arguments(run)
    _add_limit_arguments(run)
    add_sandbox_argument(run)
    run.set_defaults(handler=_command_run)
    savepoint = commands.add_parser(
        "savepoint", help="write a named savepoint of the job whose state is in DIR")
    savepoint.add_argument("state", metavar="DIR", help="the job's --state folder")
    savepoint.add_argument("--name", help="the savepoint's name (default: "
                                          "savepoint-<UTC date>-<time>)")
    savepoint.add_argument("--timeout", type=duration_ms, default=60_000, metavar="DURATION",
                           help="how long to wait for a running job to write it (it does "
                                "so between two batches; default 60s)")
    savepoint.set_defaults(handler=command_savepoint)
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
    _add_bus_commands(commands)
    return parser


def _command_run(args: argparse.Namespace) -> int:
    """`frys run` on the embedded runtime (run_cli.py) or on bytewax (scaleout_cli.py, which
    does not load the embedded runtime: a `-p` launcher starts its processes first)."""
    if args.runtime == "bytewax":
        return _command("frys.scaleout_cli", "command_run_bytewax")(args)
    return _command("frys.run_cli", "command_run")(args)


def _command(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """The command `name` of `module`, imported when the command runs (not when the command
    line is built): `frys run` does not load the bus commands, nor `frys check` the
    runtime."""

    def run_command(args: argparse.Namespace) -> int:
        handler: Callable[[argparse.Namespace], int] = getattr(
            importlib.import_module(module), name)
        return handler(args)

    run_command.__qualname__ = run_command.__name__ = name
    return run_command


# ------------------------------------------- the bus commands' arguments (their work: bus_cli.py)

DEFAULT_WAL_ROOT = ".frys/wal"


def _add_bus_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    def wal_root(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--wal-root", metavar="DIR",
                            help="where topics given by name live (default $FRYS_WAL_ROOT "
                                 f"or {DEFAULT_WAL_ROOT})")

    publish = commands.add_parser(
        "publish", help="append JSON lines (a file, or stdin) to a persistent topic")
    # options may come before, between or after TOPIC and FILE
    publish.__class__ = _IntermixedParser
    publish.add_argument("topic", help="topic name, or a WAL directory")
    publish.add_argument("file", nargs="?", help="a .jsonl file (default: stdin)")
    publish.add_argument("--fsync", default="batch", metavar="POLICY",
                         help="always, batch[:<ms>[:<bytes>]] (default) or never; "
                              "decides when an ack may say durable")
    publish.add_argument("--batch", type=positive, default=1000, metavar="N",
                         help="events per log record at most (default 1000)")
    publish.add_argument("-q", "--quiet", action="store_true",
                         help="no acknowledgements on stdout and no summary on stderr "
                              "(refused lines and damage are still reported)")
    wal_root(publish)
    publish.set_defaults(handler=_command("frys.bus_cli", "command_publish"))

    tail = commands.add_parser("tail", help="print a topic's events as JSON lines and "
                                            "follow it")
    tail.add_argument("topic", help="topic name, or a WAL directory; with --job, a stream")
    tail.add_argument("-n", "--lines", type=int, default=10, metavar="N",
                      help="start N events before the end (default 10)")
    tail.add_argument("--from-offset", type=int, metavar="N", help="start at offset N")
    tail.add_argument("--from-time", type=_time, metavar="TIME",
                      help="start at the first record with an event at or after TIME "
                           "(ISO-8601 or epoch ms)")
    tail.add_argument("--no-follow", dest="follow", action="store_false",
                      help="stop at the end of the log instead of waiting for more")
    tail.add_argument("--max-events", type=positive, metavar="N", help="stop after N events")
    tail.add_argument("--poll", type=float, default=0.05, metavar="SECONDS",
                      help="how often to look for new records when following")
    tail.add_argument("--job", metavar="JOB",
                      help="a live topic: run this .frysql job and print stream TOPIC")
    add_sandbox_argument(tail)
    wal_root(tail)
    tail.set_defaults(handler=_command("frys.bus_cli", "command_tail"))

    replay = commands.add_parser("replay", help="copy a range of a WAL into a topic")
    replay.add_argument("source", help="the WAL to read: topic name or directory")
    replay.add_argument("--to", required=True, metavar="TOPIC",
                        help="the persistent topic to append to (name or directory)")
    replay.add_argument("--from-offset", type=int, metavar="N", help="first offset "
                        "(default: the oldest retained)")
    replay.add_argument("--to-offset", type=int, metavar="N",
                        help="stop before offset N (default: the end)")
    replay.add_argument("--from-time", type=_time, metavar="TIME", help="start at the first "
                        "record with an event at or after TIME (ISO-8601 or epoch ms)")
    replay.add_argument("--until-time", type=_time, metavar="TIME", help="stop at the first "
                        "record whose events are all at or after TIME")
    replay.add_argument("--fsync", default="batch", metavar="POLICY")
    replay.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    replay.add_argument("--progress", action="store_true",
                        help="draw the progress bar even when stderr is not a terminal")
    wal_root(replay)
    replay.set_defaults(handler=_command("frys.bus_cli", "command_replay"))

    wal = commands.add_parser("wal", help="inspect a WAL directory")
    wal_commands = wal.add_subparsers(dest="wal_command", required=True)
    check = wal_commands.add_parser(
        "check", help="list every damaged record of a WAL (exit 1 if any), changing nothing")
    check.add_argument("directory", help="the WAL directory")
    check.set_defaults(handler=_command("frys.bus_cli", "command_wal_check"))


class _IntermixedParser(argparse.ArgumentParser):
    """A subcommand parser whose options may follow its optional positional: plain argparse
    takes TOPIC and an empty FILE at once, so `publish T --fsync always F` left F
    unrecognized. The subcommand action calls parse_known_args; this answers with
    parse_known_intermixed_args, which itself calls parse_known_args (the plain one)."""

    _inner = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def]
        if self._inner:
            return super().parse_known_args(args, namespace)
        self._inner = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inner = False


# ------------------------------------------------------------ arguments of several commands


def add_sandbox_argument(command: argparse.ArgumentParser) -> None:
    """`--sandbox DIR` (repeatable), on every command that opens a job: run, check,
    tail --job."""
    command.add_argument("--sandbox", action="append", type=_folder, metavar="DIR",
                         help="refuse the job unless every file it reads or writes (file: "
                              "and wal: sources and sinks, persistent streams' logs, the "
                              "trace file) resolves, symlinks followed, inside DIR; may be "
                              "given more than once (default: no sandbox)")


def allowed_paths(args: argparse.Namespace) -> tuple[Path, ...] | None:
    """The folders given with --sandbox (RuntimeOptions.allowed_paths), or None."""
    return tuple(args.sandbox) if args.sandbox else None


def _folder(text: str) -> Path:
    # a sandbox that does not exist is a typo, not a folder the job may create
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a folder")
    return Path(text)


def positive_duration_ms(text: str) -> int | None:
    """A duration as the language writes intervals (`200ms`, `10s`, `5 MINUTES`, `1h`), in
    milliseconds; None unless it is one and positive (read by the parser's own
    interval_millis, imported only when given). The command line's flags and the Python
    API's durations both read them here."""
    from frys.dsl.parser import interval_millis

    try:
        millis = interval_millis(text.strip())
    except (KeyError, ValueError):
        return None
    return millis if millis > 0 else None


def duration_ms(text: str) -> int:
    """positive_duration_ms for argparse: a bad duration is a usage error."""
    millis = positive_duration_ms(text)
    if millis is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a positive duration: write e.g. 200ms, 10s, 5m or 1h")
    return millis


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _time(text: str) -> int:
    """A --from-time / --until-time: ISO-8601 or epoch milliseconds, read as events' times
    are (the decoder is imported only when such an option is given)."""
    from frys.connectors.decode import parse_timestamp_millis

    try:
        return parse_timestamp_millis(text)
    except Exception as error:  # the decoder's own error type names the problem
        raise argparse.ArgumentTypeError(str(error)) from None


def command_savepoint(args: argparse.Namespace) -> int:
    """`frys savepoint DIR`: asks the `frys run --state DIR` running now for a savepoint
    (it writes one at its next batch boundary and goes on), or, when none runs, copies the
    newest checkpoint as one. Prints the savepoint's folder."""
    from frys.checkpointing import SavepointFailed, default_savepoint_name, take_savepoint

    name = args.name or default_savepoint_name()
    try:
        path = take_savepoint(Path(args.state), name, args.timeout / 1000)
    except SavepointFailed as error:
        print(f"frys: no savepoint: {error}", file=sys.stderr)
        return EXIT_ERRORS
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        # Ctrl-C is how a user stops a long run: say so on one line, no traceback. Sinks
        # keep what was written so far; WAL offsets are not committed (the run did not end)
        print("frys: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as error:
        # stdout closed early (`frys run job | head`): not an error of the job. polars
        # reports it as a plain OSError ("Broken pipe (os error 32)").
        if error.errno != errno.EPIPE and "os error 32" not in str(error):
            raise
        return 0
    except Exception as error:
        if not _is_wal_error(error):
            raise
        # a log that cannot be used (locked, not a WAL, a bad --fsync): bad usage
        print(f"frys: {error}", file=sys.stderr)
        return EXIT_USAGE


def _is_wal_error(error: Exception) -> bool:
    """Whether `error` is the WAL's WalError, without importing the WAL for it: a command
    that never loaded the WAL cannot have raised one."""
    wal = sys.modules.get("frys.connectors.wal.log")
    return wal is not None and isinstance(error, wal.WalError)


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
