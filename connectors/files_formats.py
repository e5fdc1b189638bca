"""The `file:` connector's formats other than JSON Lines, by extension: which module reads
and writes each (connectors/files_csv.py, files_columnar.py, files_msgpack.py), and their
URI options. connectors/jsonl.py dispatches here; each format's module is imported on
first use only (`frys check` checks options without loading pyarrow)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from frys.connectors.registry import ConnectorError, Role, Sink, SinkContext, Source, SourceContext
from frys.dsl.errors import did_you_mean

# extension -> format; `.jsonl` stays connectors/jsonl.py's own
EXTENSIONS = {".csv": "csv", ".parquet": "columnar", ".arrow": "columnar",
              ".feather": "columnar", ".msgpack": "msgpack"}
KNOWN = ".jsonl, .csv, .parquet, .arrow, .feather and .msgpack"

# the options of a sink writing a folder of part files (Parquet, Arrow IPC, and JSON Lines
# with `parts=true`): here, so that checking them loads no pyarrow
SINK_OPTIONS = ("row_group_size", "roll_rows", "roll_interval")
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(s|m|h)?")


@dataclass(frozen=True)
class ColumnarOptions:
    row_group_size: int = 65_536
    roll_rows: int | None = None
    roll_interval: float | None = None  # seconds


def file_options(uri: str, query: str, known: Sequence[str], what: str
                 ) -> Iterator[tuple[str, str, str]]:
    """A `file:` URI's options in order, as (key, "=" or "", value), each checked to be one
    of `known` (else ValueError: "unknown option 'k' of `what` in 'uri'", with a
    did-you-mean and the known ones): what every format's option parser starts from."""
    for option in query.split("&") if query else ():
        key, equals, value = option.partition("=")
        if key not in known:
            raise ValueError(f"unknown option {key!r} of {what} in {uri!r}"
                             f"{did_you_mean(key, known)}; known: {', '.join(known)}")
        yield key, equals, value


def columnar_options(uri: str, query: str, role: Role) -> ColumnarOptions:
    """The options of a `.parquet`/`.arrow`/`.feather` file: URI (a sink's only); ValueError
    naming what is wrong."""
    options = ColumnarOptions()
    for key, equals, value in file_options(uri, query, SINK_OPTIONS, "a columnar file:"):
        if role == "source":
            raise ValueError(f"{key} is an option of a file: sink, not of a source ({uri!r})")
        if key == "roll_interval":
            match = _DURATION.fullmatch(value)
            if not match or float(match[1]) <= 0:
                raise ValueError(f"roll_interval must be a positive number of seconds "
                                 f"(or with s, m, h) in {uri!r}, not {value!r}")
            seconds = float(match[1]) * {"s": 1, "m": 60, "h": 3600}[match[2] or "s"]
            options = replace(options, roll_interval=seconds)
            continue
        if not equals or not value.isdigit() or int(value) <= 0:
            raise ValueError(f"{key} must be a positive number of rows in {uri!r}, "
                             f"not {value!r}")
        if key == "row_group_size":
            options = replace(options, row_group_size=int(value))
        else:
            options = replace(options, roll_rows=int(value))
    return options


def format_of(path: str) -> str | None:
    """'csv', 'columnar' or 'msgpack' for a path of those formats; None otherwise."""
    return EXTENSIONS.get(Path(path).suffix.lower())


def split_follow(fmt: str, uri: str, query: str, role: Role) -> tuple[str, bool]:
    """The `follow=true|false` option taken out of a `fmt` file's query: (the other options,
    follow); ValueError naming what is wrong. Followed: `.jsonl` (connectors/jsonl.py) and
    `.csv` sources; the other formats' files are written whole (Parquet/Arrow) or framed
    (msgpack), not tailed."""
    kept, follow = [], False
    for option in query.split("&") if query else ():
        key, equals, value = option.partition("=")
        if key != "follow":
            kept.append(option)
            continue
        if not equals or value not in ("true", "false"):
            raise ValueError(f"follow must be true or false in {uri!r}, not {value!r}")
        if role == "sink":
            raise ValueError(f"follow is an option of a file: source, not of a sink ({uri!r})")
        if fmt != "csv" and value == "true":
            raise ValueError(f"follow=true tails .jsonl and .csv files only, not "
                             f"{fmt} files ({uri!r})")
        follow = value == "true"
    return "&".join(kept), follow


def check_options(fmt: str, uri: str, query: str, role: Role) -> None:
    """ValueError naming what is wrong with the options of a `fmt` file: URI."""
    query, _ = split_follow(fmt, uri, query, role)
    if fmt == "csv":
        from frys.connectors.files_csv import csv_options

        csv_options(uri, query, role)
    elif fmt == "columnar":
        columnar_options(uri, query, role)
    else:
        from frys.connectors.files_msgpack import msgpack_options

        msgpack_options(uri, query, role)


def open_source(fmt: str, path: Path, uri: str, context: SourceContext) -> Source:
    """The source of a `fmt` file (a Parquet/Arrow path may be a sink's folder of parts)."""
    query, follow = split_follow(fmt, uri, uri.partition("?")[2], "source")
    if fmt == "columnar":
        from frys.connectors.files_columnar import EXTENSIONS as KINDS
        from frys.connectors.files_columnar import ColumnarFileSource

        columnar_options(uri, query, "source")
        if not path.exists():
            raise ConnectorError(f"source file not found: {path} (stream "
                                 f"{context.stream_name})")
        return ColumnarFileSource(path, context.decoder, str(path), KINDS[path.suffix.lower()])
    if not path.is_file():
        raise ConnectorError(f"source file not found: {path} (stream {context.stream_name})")
    if fmt == "csv":
        from frys.connectors.files_csv import CsvFileSource, csv_options

        options = csv_options(uri, query, "source")
        if follow:
            from frys.connectors.file_follow import FollowedCsvFile

            return FollowedCsvFile(path, context.decoder, str(path), options)
        return CsvFileSource(path, context.decoder, str(path), options)
    from frys.connectors.files_msgpack import MsgpackFileSource, msgpack_options

    return MsgpackFileSource(path, context.decoder, str(path),
                             msgpack_options(uri, query, "source"))


def open_sink(fmt: str, path: Path, uri: str, context: SinkContext) -> Sink:
    """The sink of a `fmt` file (a folder of part files for Parquet/Arrow)."""
    query, _ = split_follow(fmt, uri, uri.partition("?")[2], "sink")
    if fmt == "csv":
        from frys.connectors.files_csv import csv_options, open_csv_sink

        return open_csv_sink(path, csv_options(uri, query, "sink"),
                             list(context.stream.columns or {}), context.resume)
    if fmt == "columnar":
        from frys.connectors.files_columnar import EXTENSIONS as KINDS
        from frys.connectors.files_columnar import PartFileSink

        return PartFileSink(path, KINDS[path.suffix.lower()],
                            columnar_options(uri, query, "sink"), context.resume,
                            context.writer)
    from frys.connectors.files_msgpack import msgpack_options, open_msgpack_sink

    return open_msgpack_sink(path, msgpack_options(uri, query, "sink"), context.resume)
