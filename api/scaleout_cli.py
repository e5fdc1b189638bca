"""`frys run --runtime bytewax`: a job on a bytewax cluster (docs/scale-out.md).

In this process (`-w N` workers), as one process of a cluster (`-i I -a HOST:PORT;...`),
or as the parent of `-p P` local processes, each of which runs this same command with
`-i`/`-a` on loopback addresses; the parent watches them, fails loudly when one dies, and
prints the run's summary once every process has finished.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from frys.cli import EXIT_ERRORS, EXIT_USAGE, read_job_file, render_job_error
from frys.connectors.file_partitions import DEFAULT_SPLIT_BYTES
from frys.dsl import FrysError

# set in the environment of the processes a `-p` launcher starts: it checks the job (and
# says what is wrong with it) itself
LAUNCHER_SAYS_ERRORS_ENV = "FRYS_SCALEOUT_LAUNCHER_SAYS_ERRORS"

# options of the embedded runtime that have no meaning here (yet), with what to use
_EMBEDDED_ONLY = {
    "state": "--state (use -r DIR: bytewax's recovery)",
    "from_savepoint": "--from-savepoint",
    "trace_matches": "--trace-matches",
    "exit_when_idle": "--exit-when-idle",
    "checkpoint_every_events": "--checkpoint-every-events (use -s SECONDS)",
}


def embedded_refusal(args: argparse.Namespace) -> str | None:
    """Scale-out flags given to the embedded runtime: what to say, or None."""
    given = [flag for flag, on in (("-w", args.workers != 1), ("-p", args.processes != 1),
                                   ("-i", args.process_id is not None),
                                   ("-a", args.addresses is not None),
                                   ("-r", args.recovery_directory is not None),
                                   ("-s", args.snapshot_interval is not None),
                                   ("--key-groups", args.key_groups is not None),
                                   ("--source-partitions", args.source_partitions is not None),
                                   ("--split-bytes", args.split_bytes != DEFAULT_SPLIT_BYTES)
                                   ) if on]
    if not given:
        return None
    return f"{', '.join(given)} need --runtime bytewax (the embedded runtime is one process)"


def command_run_bytewax(args: argparse.Namespace) -> int:
    for option, flag in _EMBEDDED_ONLY.items():
        if getattr(args, option, None) is not None:
            print(f"frys: {flag} is not available with --runtime bytewax", file=sys.stderr)
            return EXIT_USAGE
    if (args.process_id is None) != (args.addresses is None):
        print("frys: -i and -a go together (one process of a cluster: its index and every "
              "process's address)", file=sys.stderr)
        return EXIT_USAGE
    if args.processes > 1 and args.addresses is not None:
        print("frys: -p launches a local cluster itself; -i/-a are for running one process "
              "of a cluster on several hosts", file=sys.stderr)
        return EXIT_USAGE
    if args.snapshot_interval is not None and args.recovery_directory is None:
        print("frys: -s is the interval between recovery snapshots: give -r DIR too",
              file=sys.stderr)
        return EXIT_USAGE
    # a process of a `-p` cluster leaves the job's errors found before it runs (reading
    # it, compiling it, lowering it) to its launcher, which meets them too and says them
    # once
    errors_said_by_launcher = os.environ.pop(LAUNCHER_SAYS_ERRORS_ENV, None) is not None
    from frys.engine.scaleout.cluster import (
        Cluster,
        JobErrorSaid,
        ProcessFailed,
        Recovered,
        RecoveryRefused,
        Stopped,
        job_error_said_elsewhere,
        run_flow,
        run_processes,
        say_job_errors_at,
    )
    from frys.engine.scaleout.step_panics import said_to

    text: str | None = None
    running = False
    with tempfile.TemporaryDirectory(prefix="frys-run-") as scratch:
        stats_path = Path(args.stats_file) if args.stats_file else Path(scratch) / "stats.json"
        # a job error met while a `-p` cluster runs (a source file missing, a sink that
        # cannot be written) is said once, by the first process that meets it; the
        # others, and the launcher, see this file in the launcher's folder and stay quiet
        said_marker = stats_path.parent / "job-error"
        say_job_errors_at(said_marker if errors_said_by_launcher else None)

        def prepared() -> tuple[Any, int]:
            """The job read, compiled, checked against a recovery folder it resumes from
            and lowered, as this process would run it; and its number of key groups.
            (Lowering refuses what this runtime cannot run.)"""
            nonlocal text
            text = _read_job(args.job, quiet=errors_said_by_launcher)
            from frys.compiler import compile_text
            from frys.engine.planner import plan
            from frys.run_cli import _runtime_options

            options = _runtime_options(args)
            graph = plan(compile_text(text, args.job, limits=options.limits))
            recovered = Recovered({}, None)
            if args.recovery_directory is not None:
                from frys.engine.scaleout.cluster import check_recovery, prepare_recovery

                recovery = Path(args.recovery_directory)
                if prepare_recovery(recovery):  # a resume: refused here, not by a panic
                    from frys.engine.runtime import job_fingerprint

                    recovered = check_recovery(recovery, args.key_groups,
                                               job_fingerprint(graph))
            key_groups = key_groups_of(args, recovered.key_groups)
            return _lowered(args, graph, options, key_groups, stats_path, recovered), key_groups

        def said_by_a_process() -> None:
            if job_error_said_elsewhere(said_marker):
                raise JobErrorSaid("a process of the cluster said the job's error")

        def checked() -> None:
            prepared()
            said_by_a_process()

        def launch(key_groups: int | None,
                   check: Callable[[], None] = said_by_a_process) -> None:
            run_processes(lambda i, addresses: _child_argv(
                args, i, addresses, stats_path, key_groups), args.processes,
                check=check, env={LAUNCHER_SAYS_ERRORS_ENV: "1"})

        try:
            if args.processes > 1 and args.recovery_directory is None:
                # a fresh local cluster: its processes are launched at once (each takes
                # about half a second to import polars and bytewax and compile the job;
                # nothing heavy is loaded here before), and check the job themselves,
                # leaving its errors to this process: it checks the job only when one of
                # them fails, to say why once. They work out the default number of key
                # groups themselves
                launch(args.key_groups, checked)
            elif args.processes > 1:
                # a resume: the folder is checked before anything starts, and the
                # processes get its key groups
                launch(prepared()[1])
            else:
                flow = prepared()[0]
                running = True
                run_flow(flow, Cluster(args.workers, args.process_id, _addresses(args),
                                       Path(args.recovery_directory)
                                       if args.recovery_directory else None,
                                       args.snapshot_interval, args.backup_interval))
        except FrysError as error:
            if not running and errors_said_by_launcher:
                return EXIT_ERRORS
            assert text is not None  # (an unreadable job exits where it is read)
            print(render_job_error(error, args.job, text), file=said_to())
            return EXIT_ERRORS
        except JobErrorSaid:  # said by the process that met it
            return EXIT_ERRORS
        except (ProcessFailed, RecoveryRefused) as error:
            print(f"frys: {error}", file=sys.stderr)
            return EXIT_ERRORS
        except Stopped as stop:
            resume = ("; run the same command again to resume from the last snapshot"
                      if args.recovery_directory is not None else "")
            print(f"frys: stopped by {stop} before the end of the input{resume}",
                  file=sys.stderr)
            return 0
        if not args.quiet and stats_path.exists():
            print(_summary(stats_path), file=sys.stderr)
    return 0


def _read_job(path: str, quiet: bool) -> str:
    """The job's text (cli.read_job_file), or, `quiet`, SystemExit without a word when it
    cannot be read."""
    if not quiet:
        return read_job_file(path)
    from frys.dsl.parser import read_job

    try:
        return read_job(path)
    except (OSError, FrysError):
        raise SystemExit(EXIT_ERRORS) from None


def _addresses(args: argparse.Namespace) -> tuple[str, ...] | None:
    return tuple(args.addresses.split(";")) if args.addresses else None


def _lowered(args: argparse.Namespace, graph: Any, options: Any, key_groups: int,
             stats_path: Path, recovered: Any) -> Any:
    """The job lowered onto a bytewax Dataflow as this process of the cluster runs it."""
    from frys.engine.scaleout.lowering import ScaleOutOptions, lower

    tagged = None if args.format is None else args.format == "tagged"
    addresses = _addresses(args)
    process = None if addresses is None or len(addresses) < 2 \
        else (int(args.process_id), len(addresses))
    return lower(graph, Path(args.job).parent,
                 ScaleOutOptions(key_groups, options, stats_path, tagged,
                                 source_partitions_of(args), args.split_bytes,
                                 recovered.source_parts, process, recovered.sink_writers,
                                 threads=int(args.workers),
                                 snapshotted=args.recovery_directory is not None))


def workers_of(args: argparse.Namespace) -> int:
    """The cluster's workers: -w times the processes of -p or -a."""
    processes = len(args.addresses.split(";")) if args.addresses else args.processes
    return int(args.workers) * processes


def source_partitions_of(args: argparse.Namespace) -> int:
    """How many partitions the job's file sources are read by in all, at most
    (lowering.source_partitions): --source-partitions, or one per worker of the cluster."""
    if args.source_partitions is not None:
        return int(args.source_partitions)
    return workers_of(args)


def key_groups_of(args: argparse.Namespace, recovered: int | None) -> int:
    """The number of key groups: --key-groups, else the recovery folder's, else
    key_groups.default_key_groups for the cluster's workers."""
    from frys.engine.scaleout.key_groups import default_key_groups

    if args.key_groups is not None:
        return int(args.key_groups)
    return recovered if recovered is not None else default_key_groups(workers_of(args))


def _child_argv(args: argparse.Namespace, index: int, addresses: Sequence[str],
                stats_path: Path, key_groups: int | None) -> list[str]:
    """The command one process of a `-p` cluster runs: this one, as process `index`."""
    argv = [sys.executable, "-m", "frys", "run", args.job, "--runtime", "bytewax",
            "-w", str(args.workers), "-i", str(index), "-a", ";".join(addresses),
            *(["--key-groups", str(key_groups)] if key_groups is not None else []),
            "--stats-file", str(stats_path), "-q",
            "--max-partial-matches", str(args.max_partial_matches),
            "--max-pattern-bytes-per-partition", str(args.max_pattern_bytes_per_partition),
            "--max-pattern-bytes", str(args.max_pattern_bytes)]
    # (each process computes the same partitions from these: the whole cluster's workers)
    argv += ["--source-partitions", str(source_partitions_of(args)),
             "--split-bytes", str(args.split_bytes)]
    if args.format is not None:
        argv += ["--format", args.format]
    if args.recovery_directory is not None:
        argv += ["-r", args.recovery_directory, "-b", str(args.backup_interval)]
        if args.snapshot_interval is not None:
            argv += ["-s", str(args.snapshot_interval)]
    for folder in getattr(args, "sandbox", None) or ():
        argv += ["--sandbox", str(folder)]
    if args.max_hop_windows is not None:
        argv += ["--max-hop-windows", str(args.max_hop_windows)]
    if args.max_repetitions is not None:
        argv += ["--max-repetitions", str(args.max_repetitions)]
    return argv


def _summary(stats_path: Path) -> str:
    import json
    from collections import Counter

    from frys.engine.job_stats import JobStats, summary

    totals = json.loads(stats_path.read_text())
    stats = JobStats()
    for name, values in totals.items():
        counter = getattr(stats, name, None)
        if isinstance(counter, Counter):
            counter.update(values)
    return summary(stats)
