"""The `file:` connector's formats other than JSON Lines, by extension: which module reads
and writes each (connectors/files_csv.py, files_columnar.py, files_msgpack.py), and their
URI options. connectors/jsonl.py dispatches here; each format's module is imported on
first use only (`frys check` checks options without loading pyarrow)."""

from __future__ import annotations

from pathlib import Path

from frys.connectors.registry import ConnectorError, Role, Sink, SinkContext, Source, SourceContext

# extension -> format; `.jsonl` stays connectors/jsonl.py's own
EXTENSIONS = {".csv": "csv", ".parquet": "columnar", ".arrow": "columnar",
              ".feather": "columnar", ".msgpack": "msgpack"}
KNOWN = ".jsonl, .csv, .parquet, .arrow, .feather and .msgpack"


def format_of(path: str) -> str | None:
    """'csv', 'columnar' or 'msgpack' for a path of those formats; None otherwise."""
    return EXTENSIONS.get(Path(path).suffix.lower())


def check_options(fmt: str, uri: str, query: str, role: Role) -> None:
    """ValueError naming what is wrong with the options of a `fmt` file: URI."""
    if fmt == "csv":
        from frys.connectors.files_csv import csv_options

        csv_options(uri, query, role)
    elif fmt == "columnar":
        from frys.connectors.files_columnar import columnar_options

        columnar_options(uri, query, role)
    else:
        from frys.connectors.files_msgpack import msgpack_options

        msgpack_options(uri, query, role)


def open_source(fmt: str, path: Path, uri: str, context: SourceContext) -> Source:
    """The source of a `fmt` file (a Parquet/Arrow path may be a sink's folder of parts)."""
    query = uri.partition("?")[2]
    if fmt == "columnar":
        from frys.connectors.files_columnar import (
            EXTENSIONS as KINDS,
        )
        from frys.connectors.files_columnar import (
            ColumnarFileSource,
            columnar_options,
        )

        columnar_options(uri, query, "source")
        if not path.exists():
            raise ConnectorError(f"source file not found: {path} (stream "
                                 f"{context.stream_name})")
        return ColumnarFileSource(path, context.decoder, str(path), KINDS[path.suffix.lower()])
    if not path.is_file():
        raise ConnectorError(f"source file not found: {path} (stream {context.stream_name})")
    if fmt == "csv":
        from frys.connectors.files_csv import CsvFileSource, csv_options

        return CsvFileSource(path, context.decoder, str(path),
                             csv_options(uri, query, "source"))
    from frys.connectors.files_msgpack import MsgpackFileSource, msgpack_options

    return MsgpackFileSource(path, context.decoder, str(path),
                             msgpack_options(uri, query, "source"))


def open_sink(fmt: str, path: Path, uri: str, context: SinkContext) -> Sink:
    """The sink of a `fmt` file (a folder of part files for Parquet/Arrow)."""
    query = uri.partition("?")[2]
    if fmt == "csv":
        from frys.connectors.files_csv import csv_options, open_csv_sink

        return open_csv_sink(path, csv_options(uri, query, "sink"),
                             list(context.stream.columns or {}), context.resume)
    if fmt == "columnar":
        from frys.connectors.files_columnar import EXTENSIONS as KINDS
        from frys.connectors.files_columnar import PartFileSink, columnar_options

        return PartFileSink(path, KINDS[path.suffix.lower()],
                            columnar_options(uri, query, "sink"), context.resume)
    from frys.connectors.files_msgpack import msgpack_options, open_msgpack_sink

    return open_msgpack_sink(path, msgpack_options(uri, query, "sink"), context.resume)
