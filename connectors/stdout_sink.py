"""`stdout:`: a stream's rows on the process's standard output, a registry.Sink.

`stdout:?format=jsonl|csv|msgpack` (JSON Lines by default), with the file formats' options
(``header``, ``delimiter``, ``quote`` for CSV; ``framing=stream|length`` for msgpack): the
bytes a `file:` sink of that format would write, so `frys run job.frysql | other-tool`
pipes a stream without a file between. TIMESTAMP is ISO-8601 UTC text with milliseconds;
a CSV header (``header=true``, the default) is written once, before the first row.

Guarantee: at-least-once. Every batch is written and flushed as it comes (a reader sees rows
at once). Standard output cannot be cut back, so a job resumed from a checkpoint after a
crash writes again the rows it had written after that checkpoint; without `--state`
nothing is resumed and nothing repeats. For exactly-once output use a `file:` or `wal:`
sink. A closed pipe (the reader went away) ends the run as `frys run`'s own output does.
"""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING

import msgspec

from frys.connectors.registry import Connector, Role, SinkContext, UriProblem
from frys.connectors.stdin_source import StdinFormat, stdio_format

if TYPE_CHECKING:
    import polars as pl


class StdoutSink:
    """Writes a stream's batches to a binary output (standard output's by default) in a
    format; see the module docstring for the guarantee."""

    def __init__(self, form: StdinFormat, out: IO[bytes] | None = None) -> None:
        self.form = form
        self.out = sys.stdout.buffer if out is None else out
        self._header_due = form.name == "csv" and (form.csv is None or form.csv.header)
        self._encoder = msgspec.msgpack.Encoder()

    def write(self, batch: pl.DataFrame) -> None:
        from frys.connectors.jsonl import to_json_frame

        frame = to_json_frame(batch)
        if self.form.name == "jsonl":
            frame.write_ndjson(self.out)
        elif self.form.name == "csv":
            from frys.connectors.files_csv import CsvOptions

            options = self.form.csv or CsvOptions()
            frame.write_csv(self.out, include_header=self._header_due,
                            separator=options.delimiter, quote_char=options.quote,
                            line_terminator="\n")
            self._header_due = False
        else:
            records = map(self._encoder.encode, frame.iter_rows(named=True))
            if self.form.framing == "length":
                self.out.write(b"".join(len(r).to_bytes(4, "big") + r for r in records))
            else:
                self.out.write(b"".join(records))
        self.out.flush()

    def pre_commit(self, checkpoint_id: int) -> None:
        """Flushed already; nothing to recover (standard output cannot be cut back)."""
        self.out.flush()

    def commit(self, checkpoint_id: int) -> None:
        """Written through already."""

    def recover(self, state: object) -> None:
        """Nothing to cut back: rows after the checkpoint are written again (at-least-once,
        see the module docstring)."""

    def abort(self) -> None:
        self.out.flush()

    def close(self) -> None:
        self.out.flush()


def _check(uri: str, role: Role) -> UriProblem | None:
    try:
        stdio_format(uri, "stdout", role)
    except ValueError as error:
        return UriProblem.error(str(error))
    return None


def _open_sink(uri: str, context: SinkContext) -> StdoutSink:
    return StdoutSink(stdio_format(uri, "stdout", "sink"))


STDOUT_CONNECTOR = Connector("stdout", _check, open_sink=_open_sink)
