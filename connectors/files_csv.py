"""CSV files as `file:` sources and sinks (`file:<path>.csv?header=true&delimiter=,&quote="`).

Reading: the file is read in large chunks cut at record ends (a line break outside quotes,
RFC 4180 quoting: a quote inside a quoted field is doubled), each chunk parsed with Python's
`csv` module (strict) and decoded into one columnar batch of the stream's schema by the same
rules as JSON input (connectors/decode.py): the fields are text, so INT takes integer text,
FLOAT any number, BOOL `true`/`false` (any case), STRING the text as it is, TIMESTAMP epoch
time in the stream's `time_unit` or ISO-8601 text. An empty field is NULL (CSV cannot tell an
empty string from a missing value). With `header=true` (the default) the first record names
the columns (the stream's columns are found by name, others ignored); with `header=false`
the fields are the stream's columns in declaration order. A record that does not fit (a bad
quote, a wrong number of fields, a value of the wrong type, bytes that are not UTF-8) is a
dead letter positioned `file:line` (the physical line it starts on) with its raw text.

Positions are the JSONL source's (connectors/jsonl.py FilePosition: offset at a record start,
line, fingerprints), so a checkpointed job resumes exactly. The sink appends CSV records
(TIMESTAMP as ISO-8601 UTC with milliseconds) and recovers exactly as the JSONL sink does:
cut back to the length its checkpoint recorded.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import unquote

import polars as pl

from frys.connectors.decode import DeadLetter
from frys.connectors.files_formats import file_options
from frys.connectors.jsonl import UTF8_BOM, JsonlFileSource, JsonlWriter, to_json_frame
from frys.connectors.registry import ConnectorError, Role
from frys.dsl.types import FrysType

if TYPE_CHECKING:
    from frys.connectors.decode import StreamDecoder
    from frys.connectors.registry import Batch

CSV_OPTIONS = ("header", "delimiter", "quote")
# a record longer than this (an unclosed quote swallowing the file) is refused, not buffered
MAX_RECORD_BYTES = 64 << 20
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class CsvOptions:
    header: bool = True
    delimiter: str = ","
    quote: str = '"'


def _one_char(key: str, value: str, uri: str) -> str:
    text = {"tab": "\t", "\\t": "\t"}.get(value, unquote(value))
    if len(text) != 1 or text in "\r\n":
        raise ValueError(f"{key} must be one character (or tab) in {uri!r}, not {value!r}")
    return text


def csv_options(uri: str, query: str, role: Role) -> CsvOptions:
    """The options of a `.csv` file: URI; ValueError naming what is wrong."""
    options = CsvOptions()
    for key, equals, value in file_options(uri, query, CSV_OPTIONS, "a .csv file:"):
        if not equals:
            raise ValueError(f"option {key} needs a value in {uri!r}")
        if key == "header":
            if value not in ("true", "false"):
                raise ValueError(f"header must be true or false in {uri!r}, not {value!r}")
            options = replace(options, header=value == "true")
        elif key == "delimiter":
            options = replace(options, delimiter=_one_char(key, value, uri))
        else:
            options = replace(options, quote=_one_char(key, value, uri))
    if options.delimiter == options.quote:
        raise ValueError(f"delimiter and quote must differ in {uri!r}")
    return options


def whole_record_chunks(read: Callable[[int], bytes], size: int, quote: bytes
                        ) -> Iterator[bytes]:
    """Chunks of whole CSV records from `read(size)`: each cut after a line break that is
    outside quotes (an even number of quote characters since the chunk's start, which is
    a record start). A last record without a line break gets one. ConnectorError (by the
    caller's wording) is left to the caller: a record longer than MAX_RECORD_BYTES raises
    ValueError."""
    carry = b""
    while True:
        data = read(size)
        if not data:
            break
        data = carry + data
        cut = last_record_end(data, quote)
        if cut == 0:
            carry = data
            continue
        yield data[:cut]
        carry = data[cut:]
    if carry.strip():  # (an unclosed quote's carry may end with its line break already)
        yield carry if carry.endswith(b"\n") else carry + b"\n"


def last_record_end(data: bytes, quote: bytes) -> int:
    """The length of `data`'s whole records (it starts at a record start): just after its
    last line break outside quotes (an even number of quote characters before it); 0 if
    none. ValueError if there is none in more than MAX_RECORD_BYTES (an unclosed quote
    would otherwise buffer the whole input)."""
    cut = data.rfind(b"\n")
    odd = data.count(quote, 0, cut) % 2 if cut >= 0 else 0
    while cut >= 0 and odd:
        before = data.rfind(b"\n", 0, cut)
        odd ^= data.count(quote, max(before, 0), cut) % 2
        cut = before
    if cut < 0 and len(data) > MAX_RECORD_BYTES:
        raise ValueError(f"a record runs past {MAX_RECORD_BYTES} bytes (an unclosed quote?)")
    return cut + 1


def _first_record_end(chunk: bytes, quote: bytes) -> int:
    """The end of the chunk's first record: after its first line break outside quotes."""
    cut = chunk.find(b"\n")
    while cut >= 0 and chunk.count(quote, 0, cut) % 2:
        cut = chunk.find(b"\n", cut + 1)
    return len(chunk) if cut < 0 else cut + 1


class CsvDecoder:
    """Parses chunks of whole records and decodes them into a stream's batches."""

    def __init__(self, decoder: StreamDecoder, options: CsvOptions, display_name: str) -> None:
        self.decoder = decoder
        self.options = options
        self.display_name = display_name
        # the file's column names (header=true: from its first record, found by the source)
        self.names: list[str] | None = None if options.header else list(decoder.columns)

    def records(self, chunk: bytes, first_line: int
                ) -> Iterator[tuple[int, str, list[str] | str]]:
        """(line, raw text, fields or the reason it is not a record) per non-blank record."""
        text = chunk.decode("utf-8", errors="surrogateescape")
        lines = text.split("\n")[:-1]  # the chunk ends with a line break
        taken: list[str] = []

        def feed() -> Iterator[str]:
            for line in lines:
                taken.append(line)
                yield line + "\n"

        reader = csv.reader(feed(), delimiter=self.options.delimiter,
                            quotechar=self.options.quote, strict=True)
        line = first_line
        while True:
            taken.clear()
            try:
                fields: list[str] | str = next(reader)
            except StopIteration:
                break
            except csv.Error as error:
                fields = f"malformed CSV: {error}"
            raw = "\n".join(taken)
            if (fields and fields != [""]) or isinstance(fields, str):
                if _NOT_UTF8.search(raw):
                    fields = "not UTF-8 text"
                    raw = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                yield line, raw, fields
            line += len(taken)

    def decode(self, chunk: bytes, first_line: int) -> tuple[pl.DataFrame, list[DeadLetter]]:
        """One batch of the stream's schema, and dead letters, of a chunk of whole records."""
        stream, name = self.decoder.stream, self.display_name
        letters: list[DeadLetter] = []
        while self.names is None and chunk:  # the header first, so the rest may be plain
            end = _first_record_end(chunk, self.options.quote.encode())
            for _, _, fields in self.records(chunk[:end], first_line):
                if isinstance(fields, str):
                    raise ValueError(f"its header record (line {first_line}) is not CSV: "
                                     f"{fields}")
                self.names = fields
            first_line += chunk.count(b"\n", 0, end)
            chunk = chunk[end:]
        parsed = self._plain(chunk, first_line)
        if parsed is None:
            parsed = self._parse(chunk, first_line, letters)
        frame, where = parsed
        typed, bad = self._typed(frame)
        if bad is not None and bad.any():
            for row in bad.arg_true().to_list():
                line, raw = where.row(row)
                letters.append(DeadLetter(stream, self._reason(frame.row(row, named=True)),
                                          f"{name}:{line}", raw))
            typed = typed.filter(~bad)
            where = where.filter(~bad)
        batch, decoded = self.decoder.decode_frame(typed, "\x00")
        for letter in decoded:
            line, raw = where.row(int(letter.position.rsplit(" ", 1)[1]))
            letters.append(replace(letter, position=f"{name}:{line}", raw=raw))
        letters.sort(key=lambda d: int(d.position.rsplit(":", 1)[1]))
        return batch, letters

    def _plain(self, chunk: bytes, first_line: int
               ) -> tuple[pl.DataFrame, pl.DataFrame] | None:
        """The fast path, vectorized, for a chunk with no quote, no carriage return and no
        blank line, in UTF-8, every line holding exactly the header's number of fields:
        then a record is a line and its fields are split at the delimiter. None otherwise
        (the chunk goes to `_parse`, which gives the same result for such chunks)."""
        if self.names is None or self.options.quote.encode() in chunk or b"\r" in chunk:
            return None
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            return None
        lines = pl.Series("raw", text.split("\n")[:-1], dtype=pl.String)
        fields = len(self.names)
        delimiter = self.options.delimiter
        if (lines == "").any() or \
                (lines.str.count_matches(delimiter, literal=True) != fields - 1).any():
            return None
        where = pl.DataFrame({"line": pl.int_range(first_line, first_line + len(lines),
                                                   eager=True), "raw": lines})
        parts = lines.str.split_exact(delimiter, fields - 1).struct.unnest() \
            if fields > 1 else pl.DataFrame({"field_0": lines})
        wanted = [(c, self.names.index(c)) for c in self.decoder.columns if c in self.names]
        if not wanted:
            return pl.DataFrame({"__row": range(len(lines))}), where
        empty_is_null = [pl.when(pl.col(f"field_{i}") != "").then(pl.col(f"field_{i}"))
                         .alias(c) for c, i in wanted]
        return parts.select(empty_is_null), where

    def _parse(self, chunk: bytes, first_line: int, letters: list[DeadLetter]
               ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The records of a chunk parsed by Python's csv module: the wanted columns as text
        and each row's (line, raw text); records that are not rows go to `letters`."""
        stream, name = self.decoder.stream, self.display_name
        rows: list[list[str]] = []
        lines: list[int] = []
        raws: list[str] = []
        for line, raw, fields in self.records(chunk, first_line):
            if self.names is None and isinstance(fields, list):
                self.names = fields  # the header
                continue
            if isinstance(fields, str):
                letters.append(DeadLetter(stream, fields, f"{name}:{line}", raw))
            elif self.names is not None and len(fields) != len(self.names):
                letters.append(DeadLetter(
                    stream, f"expected {len(self.names)} fields, got {len(fields)}",
                    f"{name}:{line}", raw))
            else:
                rows.append(fields)
                lines.append(line)
                raws.append(raw)
        names = self.names or []
        wanted = {c: names.index(c) for c in self.decoder.columns if c in names}
        frame = pl.DataFrame({c: [row[i] or None for row in rows] for c, i in wanted.items()},
                             schema={c: pl.String for c in wanted})
        if not wanted:  # none of the stream's columns: the rows still count (all NULL)
            frame = pl.DataFrame({"__row": range(len(rows))})
        return frame, pl.DataFrame({"line": lines, "raw": raws},
                                   schema={"line": pl.Int64, "raw": pl.String})

    def _typed(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series | None]:
        """The text columns cast to their types (TIMESTAMP left as text, for decode_frame);
        the rows where a value did not cast."""
        exprs, checks = [], []
        for column in frame.columns:
            if column not in self.decoder.columns:
                exprs.append(pl.col(column))
                continue
            kind = self.decoder.columns[column]
            text = pl.col(column)
            if kind == FrysType.INT:
                value = text.str.strip_chars().cast(pl.Int64, strict=False)
            elif kind == FrysType.FLOAT:
                value = text.str.strip_chars().cast(pl.Float64, strict=False)
            elif kind == FrysType.BOOL:
                lower = text.str.strip_chars().str.to_lowercase()
                value = pl.when(lower == "true").then(True).when(lower == "false").then(False)
            else:
                exprs.append(text)
                continue
            exprs.append(value.alias(column))
            checks.append((text.is_not_null() & value.is_null()).alias(column))
        if not checks:
            return frame, None
        typed = frame.select(*exprs, pl.any_horizontal(checks).alias("__bad"))
        return typed.drop("__bad"), typed.get_column("__bad")

    def _reason(self, record: dict[str, str | None]) -> str:
        for column, text in record.items():
            kind = self.decoder.columns[column]
            if text is None or kind not in (FrysType.INT, FrysType.FLOAT, FrysType.BOOL):
                continue
            check = self._typed(pl.DataFrame({column: [text]}, schema={column: pl.String}))[1]
            if check is not None and check[0]:
                return f"field {column}: expected {kind.name}, got {text!r}"
        return "a value of the wrong type"  # pragma: no cover (some field failed to cast)


class CsvFileSource(JsonlFileSource):
    """A bounded source (registry.Source): the records of one CSV file, decoded chunk by
    chunk. Position, seek and their guarantees are JsonlFileSource's (offsets are at record
    starts, lines are physical lines); with `header=true` a resumed source reads the
    header again from the file's start (the position's fingerprints prove it is the same
    file)."""

    def __init__(self, path: Path, decoder: StreamDecoder, display_name: str,
                 options: CsvOptions, chunk_bytes: int | None = None) -> None:
        super().__init__(path, decoder, display_name, chunk_bytes)
        self.csv = CsvDecoder(decoder, options, display_name)

    def batches(self) -> Iterator[Batch]:
        quote = self.csv.options.quote.encode()
        with open(self.path, "rb") as file:
            if self._seeked:
                if self.csv.names is None:
                    read_header(file, self.csv)
                file.seek(self._offset)
            else:
                if file.read(len(UTF8_BOM)) != UTF8_BOM:
                    file.seek(0)
                self._offset = file.tell()
                self._consumed(UTF8_BOM, self._offset)
            try:
                for chunk in whole_record_chunks(file.read, self.chunk_bytes, quote):
                    end = min(self._offset + len(chunk), file.tell())
                    self._consumed(chunk, end - self._offset)
                    line = self._line
                    self._offset = end
                    self._line += chunk.count(b"\n")
                    yield self.csv.decode(chunk, line)
            except ValueError as error:
                raise ConnectorError(f"cannot read the source file {self.display_name} "
                                     f"(stream {self.decoder.stream}) after line "
                                     f"{self._line}: {error}") from None


def read_header(file: IO[bytes], csv_decoder: CsvDecoder) -> None:
    """The header record, read from the file's start (a resumed source, which then seeks
    to its offset); ConnectorError if it cannot be read."""
    first = file.read(len(UTF8_BOM))
    if first != UTF8_BOM:
        file.seek(0)
    quote = csv_decoder.options.quote.encode()
    for chunk in whole_record_chunks(file.read, 64 << 10, quote):
        for _, _, fields in csv_decoder.records(chunk, 1):
            if isinstance(fields, list):
                csv_decoder.names = fields
                return
            break
        break
    raise ConnectorError(f"cannot resume the source file {csv_decoder.display_name}: its "
                         "header record cannot be read")


class CsvWriter(JsonlWriter):
    """A `file:` sink writing CSV records (registry.Sink): the JSONL sink's guarantees
    (written through, fsynced at pre_commit, cut back to the checkpointed length by
    `recover`), in CSV. With `header=true` a header record starts the file: written when
    a batch or a pre_commit finds the file empty (a new file, or one cut back to nothing).
    NULL is an empty field; TIMESTAMP is ISO-8601 UTC with milliseconds."""

    def __init__(self, stream: IO[bytes], path: Path, options: CsvOptions,
                 columns: list[str]) -> None:
        super().__init__(stream, close_at_end=True, durable=True, path=path)
        self.options = options
        self.columns = columns

    def _header_if_empty(self, columns: list[str]) -> None:
        if self.options.header and columns and self._stream.seek(0, 2) == 0:
            self._write_frame(pl.DataFrame(schema={c: pl.String for c in columns}), True)

    def _write_frame(self, frame: pl.DataFrame, header: bool) -> None:
        frame.write_csv(self._stream, include_header=header,
                        separator=self.options.delimiter, quote_char=self.options.quote,
                        line_terminator="\n")

    def write(self, batch: pl.DataFrame) -> None:
        self._header_if_empty(batch.columns)
        self._write_frame(to_json_frame(batch), False)
        self._stream.flush()
        self.rows_written += batch.height

    def pre_commit(self, checkpoint_id: int) -> dict[str, int | str] | None:
        self._header_if_empty(self.columns)
        return super().pre_commit(checkpoint_id)


def open_csv_sink(path: Path, options: CsvOptions, columns: list[str],
                  resume: bool = False) -> CsvWriter:
    """open_file_sink (connectors/jsonl.py) writing CSV: created afresh, or appended to
    when a job resumes (`recover` then cuts it back)."""
    from frys.connectors.jsonl import open_file_sink

    plain = open_file_sink(path, resume)
    return CsvWriter(plain._stream, path, options, columns)
