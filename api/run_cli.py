"""`frys run`: a job run to the end of its bounded sources (growing ones until a signal or
`--exit-when-idle` stops it), the rows of its bare SELECTs on stdout, a live status line
on a terminal and a summary on stderr.

The command line (cli.py) imports this module only when `frys run` is given: the runtime,
the operators and the connectors are loaded for a job that runs, not for `frys check`,
`frys --help` or the bus commands.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import polars as pl

from frys.checkpointing import (
    Checkpointer,
    StopRequested,
    open_state,
    record_job,
    serving_savepoints,
)
from frys.cli import (
    EXIT_ERRORS,
    EXIT_USAGE,
    QUERY_FIELD,
    allowed_paths,
    job_limits,
    read_job_file,
    render_job_error,
)
from frys.compiler import compile_text
from frys.connectors.bus import Topic
from frys.connectors.decode import DataWarning
from frys.connectors.jsonl import JsonlWriter
from frys.connectors.sandbox import Sandbox
from frys.dsl import FrysError
from frys.engine.graph import JobGraph, QueryNode
from frys.engine.job_stats import summary
from frys.engine.planner import plan
from frys.engine.runtime import Runtime, RuntimeOptions, StateDropped

if TYPE_CHECKING:
    from frys.progress import RunStatusLine


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


def _runtime_options(args: argparse.Namespace) -> RuntimeOptions:
    fsync = None
    if args.wal_fsync:  # the WAL is loaded here only when its policy is given
        from frys.connectors.wal import FsyncPolicy

        fsync = FsyncPolicy.parse(args.wal_fsync)
    return RuntimeOptions(max_partial_matches=args.max_partial_matches,
                          max_pattern_bytes_per_partition=args.max_pattern_bytes_per_partition,
                          max_pattern_bytes=args.max_pattern_bytes,
                          limits=job_limits(args),
                          trace_matches=args.trace_matches is not None,
                          wal_root=Path(args.wal_root) if args.wal_root else None,
                          wal_fsync=fsync,
                          allowed_paths=allowed_paths(args),
                          allow_state_drop=args.allow_state_drop)


def command_run(args: argparse.Namespace) -> int:
    """`frys run` on the embedded runtime (`--runtime bytewax`: scaleout_cli.py)."""
    from frys.scaleout_cli import embedded_refusal

    refusal = embedded_refusal(args)
    if refusal is not None:
        print(f"frys: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    text = read_job_file(args.job)
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

    options = _runtime_options(args)
    if args.trace_matches and options.allowed_paths is not None:
        # a command-line argument, not the job's: refused like bad usage, before it is
        # created
        problem = Sandbox(options.allowed_paths).refusal(
            args.trace_matches, f"--trace-matches {args.trace_matches}")
        if problem is not None:
            print(f"frys: {problem}", file=sys.stderr)
            return EXIT_USAGE
    trace_file = open(args.trace_matches, "w") if args.trace_matches else None  # noqa: SIM115
    checkpointer: Checkpointer | None = None
    stopped = False
    idle_ms: int | None = None  # a stop at a checkpoint because every source was idle

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
        resume = None
        if args.from_savepoint is not None and args.state is None:
            print("frys: --from-savepoint names a savepoint of a --state folder: give "
                  "--state DIR too", file=sys.stderr)
            return EXIT_USAGE
        store = None
        try:
            if args.state is not None:
                # the store logs what it skipped; printed below as frys lines instead
                logging.getLogger("frys.checkpoint").addHandler(logging.NullHandler())
                store, resume = open_state(Path(args.state), text, args.from_savepoint)
                for message in store.warnings:  # damaged checkpoints skipped, ...
                    print(f"frys: warning: {message}", file=sys.stderr)
            with warnings.catch_warnings():  # dropped state: said below, as frys lines
                warnings.simplefilter("ignore", StateDropped)
                runtime = Runtime(graph, Path(args.job).parent, caller_output=to_stdout,
                                  options=options,
                                  on_trace=write_trace if trace_file else None, resume=resume)
            if store is not None:
                checkpointer = Checkpointer(store, runtime, args.checkpoint_every_events,
                                            args.checkpoint_every,
                                            exit_when_idle_ms=args.exit_when_idle)
                record_job(Path(args.state), text)
                checkpointer.begin(resumed=resume is not None)
        except FrysError:
            if store is not None:
                store.close()
            raise
        except Exception as error:  # the state cannot be used: said, not a traceback
            if store is not None:
                store.close()
            if args.state is None:
                raise
            # (a store in use by another run, another job's state, a changed job whose
            # state cannot be carried over, a source or sink that no longer holds what the
            # checkpoint says: CheckpointError, ValueError, ConnectorError)
            print(f"frys: cannot continue from --state {args.state}: {error}",
                  file=sys.stderr)
            return EXIT_ERRORS
        if not args.quiet:
            for note in runtime.upgrade_notes:
                level = "warning: " if note in runtime.upgrade_warnings else ""
                print(f"frys: {level}state: {note}", file=sys.stderr)
        if _shows_progress(args):
            from frys.progress import RunStatusLine  # only a terminal shows it

            status = RunStatusLine(runtime, sys.stderr,
                                   refresh_s=args.progress_every / 1000)
        with warnings.catch_warnings():
            # data warnings are printed once below, as frys lines, not as Python's
            warnings.simplefilter("ignore", DataWarning)
            with _stop_signals(checkpointer, runtime), \
                    _savepoint_requests(args, checkpointer):
                # with a state folder the checkpointer stops an idle run (a checkpoint, no
                # window fires); without one there is nothing to continue from, so the
                # runtime ends the input there (windows fire, sources commit)
                stats = runtime.run(on_batch_read=status.on_batch_read if status else None,
                                    after_batch=checkpointer.after_batch
                                    if checkpointer is not None else None,
                                    exit_when_idle_ms=args.exit_when_idle
                                    if checkpointer is None else None)
    except StopRequested as stop:
        stopped = True
        idle_ms = stop.idle_ms
        stats = runtime.stats
    except FrysError as error:
        print(render_job_error(error, args.job, text), file=sys.stderr)
        return EXIT_ERRORS
    finally:
        if status is not None:  # erased before the summary, or the interrupted message
            status.clear()
        if trace_file is not None:
            trace_file.close()
        if checkpointer is not None:
            checkpointer.close()
    if not args.quiet:
        for decoder in runtime.decoders.values():
            for message in decoder.warnings:
                print(f"frys: warning: {message}", file=sys.stderr)
        print(summary(stats), file=sys.stderr)
        if stopped and checkpointer is not None:
            why = (f"every source idle for {_duration(idle_ms)}: " if idle_ms is not None
                   else "")
            print(f"frys: {why}stopped at a checkpoint (the input not ended: open windows "
                  f"wait); run again with --state {args.state} to continue", file=sys.stderr)
        elif runtime.ended_by == "idle":
            print(f"frys: every source idle for {_duration(args.exit_when_idle)}: the input "
                  "ended there (without --state nothing could continue it)", file=sys.stderr)
        elif runtime.ended_by == "request":
            print("frys: stopped: the input ended there (without --state nothing could "
                  "continue it)", file=sys.stderr)
    return 0


def _duration(millis: int) -> str:
    """2000 -> '2s', 1500 -> '1500ms'."""
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def _stop_signals(checkpointer: Checkpointer | None, runtime: Runtime
                  ) -> contextlib.AbstractContextManager[None]:
    """SIGTERM and the first Ctrl-C stop the run at the next batch boundary, exit 0: with a
    state folder with a last checkpoint, the input not ended (the next run continues the
    open windows); without one by ending the input there (windows fire, sinks commit), as
    nothing could continue it. A second Ctrl-C interrupts at once (130)."""
    from frys.engine.stopping import stop_signals

    return stop_signals(checkpointer.request_stop if checkpointer is not None
                        else runtime.request_end)


def _savepoint_requests(args: argparse.Namespace, checkpointer: Checkpointer | None
                        ) -> contextlib.AbstractContextManager[None]:
    """With a state folder: `frys savepoint` may ask this run for a savepoint (SIGUSR1)."""
    if checkpointer is None:
        return contextlib.nullcontext()
    return serving_savepoints(Path(args.state), checkpointer)


def _shows_progress(args: argparse.Namespace) -> bool:
    """The live status line: on a terminal only (a log file or CI output would fill with
    redrawn lines), unless --no-progress or --quiet."""
    return not (args.no_progress or args.quiet) and _is_terminal(sys.stderr)


def _is_terminal(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):  # replaced or closed
        return False
