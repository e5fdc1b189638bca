"""`frys publish`, `frys tail` and `frys replay`: the bus from the shell.

Until the bus has a network server, another process reaches a topic through its log, so
these commands work on persistent topics: TOPIC is a WAL directory, given as a path (with a
'/' in it, or `wal:<dir>`) or as a topic name under ``--wal-root`` (default ``.frys/wal``,
or $FRYS_WAL_ROOT) — where a job in the current folder keeps the logs of its
`queue = 'persistent'` streams. `frys tail STREAM --job JOB` follows a live topic instead:
it runs the job and prints what the stream carries, with the job's `file:` and `wal:` sinks
left closed (the run that feeds the topic writes those; tail only watches).

Their arguments are declared in cli.py, which imports this module only when one of these
commands runs: `frys run` and `frys check` do not load it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import IO

import msgspec
import polars as pl

from frys.cli import DEFAULT_WAL_ROOT, allowed_paths
from frys.connectors.decode import line_problem
from frys.connectors.jsonl import to_json_frame, whole_line_chunks
from frys.connectors.wal import FsyncPolicy, LogReader, PayloadFormat, Record, WalError
from frys.connectors.wal.log import WriteAheadLog, inspect_log, list_segments
from frys.connectors.wal.records import survey
from frys.connectors.wal_topic import WalJournal, encode_batch, record_frame, record_lines


def topic_directory(topic: str, wal_root: str | None) -> Path:
    """Where TOPIC's log lives (see the module docstring)."""
    if topic.startswith("wal:"):
        return Path(topic[len("wal:"):])
    if "/" in topic or topic in (".", ".."):
        return Path(topic)
    return Path(wal_root or os.environ.get("FRYS_WAL_ROOT") or DEFAULT_WAL_ROOT) / topic


def end_offset(directory: Path) -> int:
    """The offset after the last complete record (reads only the newest segment, past any
    damage in it)."""
    segments = list_segments(directory)
    if not segments:
        return 0
    base, path = segments[-1]
    return survey(path.read_bytes(), base).next_offset


def _report_damage(reader: LogReader, directory: Path, seen: int) -> int:
    """Print the damage `reader` noted since the first `seen` on stderr; returns how many
    it has noted."""
    for damage in reader.damage[seen:]:
        print(f"frys: {directory}: damaged: {damage}", file=sys.stderr)
    return len(reader.damage)


def _existing_log(topic: str, wal_root: str | None) -> Path:
    directory = topic_directory(topic, wal_root)
    if not list_segments(directory):
        raise WalError(f"no WAL at {directory} (topic {topic}); publish to it first, or "
                       "give --wal-root / a path")
    return directory


# ---------------------------------------------------------------------- publish


def _publish_target(topic: str, wal_root: str | None) -> Path:
    """TOPIC's log directory; an existing folder that is not a log is refused, so a
    mistaken argument (`frys publish ..`, a file meant as TOPIC) does not scatter segments
    into it."""
    directory = topic_directory(topic, wal_root)
    if directory.exists() and not directory.is_dir():
        raise WalError(f"topic {topic}: {directory} is a file, not a WAL directory "
                       "(usage: frys publish TOPIC [FILE])")
    if directory.is_dir() and any(directory.iterdir()) and not list_segments(directory):
        raise WalError(f"topic {topic}: {directory} is a folder that holds no WAL; publish "
                       "creates a topic only in a new or empty folder "
                       "(usage: frys publish TOPIC [FILE])")
    return directory


class PublishAcks:
    """`frys publish`'s acknowledgements: one line on stdout per record it appended, so that
    whoever drives it (a shell loop, a supervisor) knows how far it got even if it is killed.

        acked <file>:<first line>-<last line> offsets <first>-<last> written
        acked <file>:<first line>-<last line> offsets <first>-<last> durable
        durable offsets <first>-<last>

    `acked` is printed once the record holding the events of input lines <first line> to
    <last line> (line numbers of the input; blank and refused lines in that range are not
    events) is in the log as offsets <first> to <last>, in line order. What it promises:

    * `written`: the record is in the log file. It survives the death of `frys publish`
      (SIGKILL included) and is read back by every reader; whether it survives the loss of
      the machine (power, kernel) is up to the fsync policy and has not happened yet;
    * `durable`: it has also been flushed to disk (`fdatasync`), as has everything this run
      acknowledged before it: it survives the loss of the machine.

    `durable offsets <first>-<last>` says that a later flush (the `batch` policy's timer,
    or closing the log at the end) made events this run had acknowledged as `written`
    durable, through <last>. Per policy: `always` acks every record `durable`; `batch`
    acks `written`, then `durable offsets` lines as flushes catch up (a record that itself
    triggers the flush is acked `durable`), the last when the log is closed; `never`
    never says `durable`. An ack is printed after the fact, so a kill may lose the ack of a
    record that is in the log (the log may hold more than the last ack says, never less).

    The file is `<stdin>` for standard input; a file name may hold spaces or colons, so
    parse a line from its end. If stdout goes away (a closed pipe), the acks stop and the
    publishing goes on.
    """

    def __init__(self, log: WriteAheadLog, name: str, enabled: bool) -> None:
        self.log = log
        self.name = name
        self.enabled = enabled
        # the first offset of this run not yet announced durable
        self.durable_from = log.next_offset

    def record(self, first_line: int, last_line: int, first: int, count: int) -> None:
        """The record of `count` events from offset `first` is in the log."""
        last = first + count - 1
        if self.log.synced_offset > last:
            self.durable_from = max(self.durable_from, last + 1)
            state = "durable"
        else:
            state = "written"
        self._print(f"acked {self.name}:{first_line}-{last_line} offsets {first}-{last} "
                    f"{state}")
        self.flushed()

    def flushed(self) -> None:
        """Announce what flushes made durable since the last announcement, if anything."""
        synced = self.log.synced_offset
        if synced > self.durable_from:
            self._print(f"durable offsets {self.durable_from}-{synced - 1}")
            self.durable_from = synced

    def _print(self, line: str) -> None:
        if not self.enabled:
            return
        try:
            sys.stdout.write(line + "\n")
            # now, not when a buffer fills: the point is what a kill leaves printed
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            # nobody reads the acks any more; the events still matter
            self.enabled = False
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def command_publish(args: argparse.Namespace) -> int:
    if args.file and Path(args.file).is_dir():
        raise WalError(f"{args.file} is a folder, not a file of JSON lines "
                       "(usage: frys publish TOPIC [FILE])")
    directory = _publish_target(args.topic, args.wal_root)
    name = args.file or "<stdin>"
    try:
        source = open(args.file, "rb") if args.file else sys.stdin.buffer  # noqa: SIM115
    except OSError as error:
        raise WalError(f"cannot read {args.file}: {error.strerror}") from None
    journal = WalJournal(directory, None, FsyncPolicy.parse(args.fsync))
    for damage in journal.log.recovery:
        print(f"frys: {directory}: recovered: {damage}", file=sys.stderr)
    acks = PublishAcks(journal.log, name, enabled=not args.quiet)
    published = bad = 0
    line_number = 0
    first = journal.log.next_offset
    pending: list[bytes] = []
    pending_from = 0  # the input line of pending[0]
    decoder = msgspec.json.Decoder()

    def append_pending() -> None:
        nonlocal published, pending
        offset = journal.append_lines(pending)
        published += len(pending)
        acks.record(pending_from, line_number, offset, len(pending))
        pending = []

    try:
        fd = source.fileno()
        for chunk, more_waiting in whole_line_chunks(lambda size: os.read(fd, size), 1 << 20):
            for line in chunk.splitlines():
                line_number += 1
                if not line.strip():
                    continue
                # the decoder's own line rules first (nesting depth, lone surrogates), so
                # what a job would refuse is refused here, and msgspec never recurses deeper
                problem = line_problem(line)
                try:
                    if problem is not None:
                        raise msgspec.DecodeError(problem)
                    if not isinstance(decoder.decode(line), dict):
                        raise msgspec.DecodeError("an event must be a JSON object")
                except (msgspec.DecodeError, RecursionError) as error:
                    bad += 1
                    print(f"frys: {name}:{line_number}: not published: {error}",
                          file=sys.stderr)
                    continue
                if not pending:
                    pending_from = line_number
                pending.append(line)
                if len(pending) >= args.batch:
                    append_pending()
            if pending and not more_waiting:
                append_pending()
            else:
                acks.flushed()  # the `batch` policy's timer may have flushed meanwhile
    finally:
        journal.close()
        if args.file:
            source.close()
    acks.flushed()  # closing flushed the log (unless `never`)
    if not args.quiet:
        span = f" (offsets {first}..{first + published - 1})" if published else ""
        rejected = (f"; {bad} line{' was' if bad == 1 else 's were'} not a JSON object "
                    "(or nested too deeply)" if bad else "")
        print(f"frys: published {published} events to {directory}{span}{rejected}",
              file=sys.stderr)
    return 1 if bad else 0


# ---------------------------------------------------------------------- tail


def _write_events(record: Record, skip: int, out: IO[bytes], limit: int | None) -> int:
    """Print the events of a record from the `skip`-th, at most `limit`; returns how many."""
    if record.format == PayloadFormat.ARROW:
        frame = record_frame(record, skip)
        if limit is not None:
            frame = frame.head(limit)
        to_json_frame(frame).write_ndjson(out)
        return frame.height
    lines = record_lines(record, skip)
    if limit is not None:
        lines = lines[:limit]
    out.write(b"".join(line + b"\n" for line in lines))
    return len(lines)


def command_tail(args: argparse.Namespace) -> int:
    if args.job:
        return _tail_job(args)
    if args.sandbox:
        print("frys: --sandbox confines a job; give --job JOB (tail of a WAL reads only "
              "TOPIC's log)", file=sys.stderr)
        return 2
    directory = _existing_log(args.topic, args.wal_root)
    reader = LogReader(directory)
    if args.from_time is not None:
        reader.seek_time(args.from_time)
    elif args.from_offset is not None:
        reader.seek(args.from_offset)
    else:
        reader.seek(max(0, end_offset(directory) - args.lines))
    out = sys.stdout.buffer
    printed = 0
    limit = args.max_events
    records = reader.follow(args.poll, lambda: limit is not None and printed >= limit) \
        if args.follow else iter(reader.read())
    seen = 0
    try:
        for record, skip in records:
            seen = _report_damage(reader, directory, seen)
            left = None if limit is None else limit - printed
            printed += _write_events(record, skip, out, left)
            out.flush()
            if limit is not None and printed >= limit:
                break
    except KeyboardInterrupt:
        pass
    finally:
        _report_damage(reader, directory, seen)
        reader.close()
    return 0


def _tail_job(args: argparse.Namespace) -> int:
    from frys.dsl import FrysError
    from frys.engine.runtime import RuntimeOptions
    from frys.pipeline import Pipeline

    out = sys.stdout.buffer
    try:
        # watching, not running: the job's file and WAL sinks were written by the run
        # that feeds the topic, and writing them again here would duplicate or clobber them
        pipeline = Pipeline.from_file(args.job, RuntimeOptions(
            allowed_paths=allowed_paths(args), open_sinks=False))
        if args.topic not in pipeline.runtime.topics:
            print(f"frys: job {args.job} has no stream {args.topic}; streams: "
                  f"{', '.join(pipeline.runtime.topics)}", file=sys.stderr)
            return 2

        def show(batch: pl.DataFrame) -> None:
            to_json_frame(batch).write_ndjson(out)
            out.flush()

        pipeline.subscribe(args.topic, show)
        pipeline.run()
    except FrysError as error:
        print(error.render(), file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------- replay


def command_replay(args: argparse.Namespace) -> int:
    source = _existing_log(args.source, args.wal_root)
    target = topic_directory(args.to, args.wal_root)
    if target.resolve() == source.resolve():
        raise WalError(f"replay would read and write the same log {source}")
    reader = LogReader(source)
    start = reader.seek_time(args.from_time) if args.from_time is not None else None
    if start is None:
        reader.seek(args.from_offset)
        start = reader.offset
    stop = args.to_offset if args.to_offset is not None else end_offset(source)
    journal = WalJournal(target, None, FsyncPolicy.parse(args.fsync))
    copied = 0
    from tqdm import tqdm  # only replay draws a progress bar

    # on a terminal, once the replay has taken a second; always with --progress
    progress = tqdm(total=max(0, stop - start), unit="ev", unit_scale=True,
                    delay=0 if args.progress else 1.0,
                    disable=False if args.progress else (args.quiet or None),
                    file=sys.stderr, desc=f"replay {source.name}")
    done = False
    try:
        while not done and reader.offset < stop and (records := reader.read(max_records=256)):
            for record, skip in records:
                take = min(record.count - skip, stop - record.offset - skip)
                done = take <= 0 or (args.until_time is not None
                                     and record.min_time_ms >= args.until_time)
                if done:
                    break
                copied += _copy(record, skip, take, journal)
                progress.update(take)
    finally:
        progress.close()
        journal.close()
        _report_damage(reader, source, 0)
        reader.close()
    if not args.quiet:
        print(f"frys: replayed {copied} events from {source} (offsets {start}.."
              f"{start + copied - 1}) into {target}", file=sys.stderr)
    return 0


def _copy(record: Record, skip: int, take: int, journal: WalJournal) -> int:
    """Append events skip..skip+take of `record` to `journal`, in the record's format and
    with its times."""
    if skip == 0 and take == record.count:
        payload = record.payload
    elif record.format == PayloadFormat.ARROW:
        payload = encode_batch(record_frame(record, skip).head(take))
    else:
        payload = b"\n".join(record_lines(record, skip)[:take])
    journal.log.append(payload, take, record.min_time_ms, record.max_time_ms, record.format)
    return take


# ---------------------------------------------------------------------- wal check


def command_wal_check(args: argparse.Namespace) -> int:
    """List every damage of a WAL without changing it: exit 1 if there is any."""
    directory = Path(args.directory)
    if not list_segments(directory):
        raise WalError(f"no WAL at {directory}")
    report = inspect_log(directory)
    for damage in report:
        print(f"{directory}: {damage}")
    if not report:
        print(f"{directory}: no damage ({len(list_segments(directory))} segments)")
    return 1 if report else 0

