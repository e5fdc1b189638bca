"""Raw records -> typed columnar batches of a stream's schema, and dead letters for the rest.

Two paths give the same result:

* the fast path hands a whole chunk of JSON lines to polars' NDJSON reader with the stream's
  schema, so decoding is columnar and runs in native code;
* when the reader rejects a chunk (malformed JSON, a value of the wrong type) the chunk is
  halved until the bad lines are isolated, and those lines are decoded one by one with
  msgspec, so one bad line costs a few small re-reads, not a per-line pass over the file.

Value rules (both paths): INT takes JSON integers; FLOAT takes integers and floats; BOOL takes
true/false; STRING takes strings, and other scalars as their JSON text; TIMESTAMP takes an
integer epoch time in the stream's `time_unit` (milliseconds unless the stream says 's', 'us'
or 'ns'; finer units are floored to the millisecond) or an ISO-8601 string (no offset means
UTC) between 0001-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z
(TIMESTAMP_MIN_MS..TIMESTAMP_MAX_MS). A missing field or `null` is
NULL, except the event-time column, which must be present. Fields not in the schema are
ignored. Every rejected record becomes a DeadLetter naming the stream, the reason (with the
field) and its position (file:line).

Data warnings (DataWarning, once per stream and kind, kept in `StreamDecoder.warnings` and
raised through Python's `warnings`): a schema column that none of a stream's first batch of
events has (it would be NULL without a word), naming the fields they do have; integer times
that all look like epoch seconds (1e9..1e10: 2001-2286 as seconds, January 1970 as
milliseconds) on a stream that did not choose its `time_unit`.

Line rules (both paths, whatever the neighbouring lines): a key given twice takes its first
value (polars' reader's rule, so the fast path needs no check; the per-line path decodes the
rare line that repeats a column's key again, keeping first values); a lone UTF-16 surrogate escape
(`"\ud800"`) anywhere in the line makes it malformed JSON; a line nested deeper than
MAX_DEPTH arrays/objects is a dead letter (msgspec would raise RecursionError, polars'
reader stops at 1024).
"""

from __future__ import annotations

import io
import json
import re
import reprlib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
import polars as pl

# TIMESTAMP's range (dsl/limits.py): what Python's datetime holds and polars' Datetime("ms")
# can both hold and format (polars panics formatting past year 262142; Python stops at 9999)
from frys.dsl.analyzed import DEFAULT_TIME_UNIT, StreamDef
from frys.dsl.limits import TIMESTAMP_MAX_MS, TIMESTAMP_MIN_MS
from frys.dsl.types import TIMESTAMP_DTYPE, FrysType

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# Below this many lines a rejected chunk is decoded line by line instead of halved again.
_PER_LINE_THRESHOLD = 64
_ISO_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%#z"
_NAIVE_ISO_FORMAT = "%Y-%m-%dT%H:%M:%S%.f"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RANGE_TEXT = "0001-01-01T00:00:00.000Z..9999-12-31T23:59:59.999Z"
# Arrays/objects a line may nest (the line's object is level 1).
MAX_DEPTH = 256
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_STRING_LITERAL = re.compile(rb'"(?:[^"\\]|\\.)*"')
_ESCAPE = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring = 3, 6, 6, 60


def _too_deep(line: bytes) -> bool:
    """Whether the JSON text nests more than MAX_DEPTH arrays and objects."""
    if line.count(b"[") + line.count(b"{") <= MAX_DEPTH:
        return False
    brackets = _STRING_LITERAL.sub(b"", line).translate(None, delete=_NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > MAX_DEPTH:
            return True
    return False


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _lone_surrogate(line: bytes) -> str | None:
    """The first UTF-16 surrogate escape without its partner, or None."""
    if b"\\ud" not in line and b"\\uD" not in line:
        return None
    high = None  # a high surrogate escape waiting for its low half right after it
    for match in _ESCAPE.finditer(line):
        code = int(match[1], 16) if match[1] else None
        if high is not None:
            if code is None or not 0xDC00 <= code <= 0xDFFF or match.start() != high.end():
                return high[0].decode()
            high = None
            continue
        if code is not None and 0xD800 <= code <= 0xDBFF:
            high = match
        elif code is not None and 0xDC00 <= code <= 0xDFFF:
            return match[0].decode()
    return None if high is None else high[0].decode()


def line_problem(line: bytes) -> str | None:
    """Why a JSON line is refused before it is parsed (the same on every path), or None."""
    if _too_deep(line):
        return f"nested too deeply: more than {MAX_DEPTH} levels of arrays and objects"
    surrogate = _lone_surrogate(line)
    if surrogate is not None:
        return f"malformed JSON: lone UTF-16 surrogate escape {surrogate}"
    return None


def _first_values(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """An object whose repeated keys keep their first value."""
    record: dict[str, object] = {}
    for key, value in pairs:
        record.setdefault(key, value)
    return record


def _show(value: object) -> str:
    return _SHORT.repr(value) if isinstance(value, (list, dict)) else repr(value)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that could not be decoded into its stream: the row of `dead_letters`."""

    stream: str
    reason: str
    position: str
    raw: str


def dead_letter_frame(letters: Sequence[DeadLetter]) -> pl.DataFrame:
    return pl.DataFrame(
        {"stream": [d.stream for d in letters], "reason": [d.reason for d in letters],
         "position": [d.position for d in letters], "raw": [d.raw for d in letters]},
        schema={"stream": pl.String, "reason": pl.String, "position": pl.String,
                "raw": pl.String})


class _BadValue(Exception):
    pass


# per time_unit: its name in messages, and how many of it make a millisecond (a fraction:
# coarser units multiply, finer ones are floored to the millisecond, TIMESTAMP's precision)
_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds",
               "ns": "nanoseconds"}
_PER_MILLISECOND = {"s": (1000, 1), "ms": (1, 1), "us": (1, 1000), "ns": (1, 1_000_000)}
# epoch seconds that read as milliseconds land in January 1970: integer times all in this
# range (2001-09-09 to 2286-11-20 as seconds) are most likely seconds
SECONDS_LOOKALIKE = (1_000_000_000, 10_000_000_000)


def epoch_to_millis(value: int, time_unit: str = DEFAULT_TIME_UNIT) -> int:
    """An integer epoch time in `time_unit` as epoch milliseconds (floored)."""
    multiply, divide = _PER_MILLISECOND[time_unit]
    return value * multiply // divide


def epoch_expr_to_millis(values: pl.Expr, time_unit: str = DEFAULT_TIME_UNIT) -> pl.Expr:
    """`epoch_to_millis` over an Int64 column: NULL where the result would leave TIMESTAMP's
    range (checked before multiplying, so seconds never overflow 64 bits)."""
    multiply, divide = _PER_MILLISECOND[time_unit]
    if multiply == 1:
        return values if divide == 1 else values // divide
    lowest, highest = -(-TIMESTAMP_MIN_MS // multiply), TIMESTAMP_MAX_MS // multiply
    return pl.when(values.is_between(lowest, highest)).then(values * multiply)


# the shortest String column of times iso_column_millis parses with Arrow
ARROW_PARSE_MIN_ROWS = 10_000


def iso_column_millis(values: pl.Series) -> pl.Series | None:
    """Epoch milliseconds (Int64, NULL where `values` is) of a String column whose every
    non-NULL value is ISO-8601 text that Arrow's native parser reads: all with an offset
    (`Z`, `+01:00`), or all without one (taken as UTC, as the decoding rules say). One
    vectorized pass, about 12x polars' strptime with a format (a CSV of ISO times spent
    most of its decoding there). None when any value is not such text (epoch numbers,
    padding, sub-millisecond digits, other ISO forms): the caller's per-form path then
    judges each value, so the result never depends on which path ran. Columns shorter
    than ARROW_PARSE_MIN_ROWS are left to polars: importing pyarrow (0.1-0.2 s) would cost
    a small job more than it saves, and a job that never sees a large batch never pays."""
    if values.dtype != pl.String or values.len() < ARROW_PARSE_MIN_ROWS \
            or values.null_count() == values.len():
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    array = values.to_arrow()
    for target in (pa.timestamp("ms", tz="UTC"), pa.timestamp("ms")):
        try:
            parsed = pc.cast(array, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        return pl.Series(values.name, parsed.cast(pa.int64()), dtype=pl.Int64)
    return None


def parse_timestamp_millis(value: object, time_unit: str = DEFAULT_TIME_UNIT) -> int:
    """Epoch milliseconds of an integer epoch time in `time_unit` (also as decimal text) or
    of an ISO-8601 string (no offset means UTC)."""
    unit = _UNIT_NAMES[time_unit]
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _BadValue(f"expected epoch {unit} or an ISO-8601 string, got {_show(value)}")
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER_TEXT.fullmatch(text):
            value = int(text)
    if isinstance(value, int):
        millis = epoch_to_millis(value, time_unit)
        if not TIMESTAMP_MIN_MS <= millis <= TIMESTAMP_MAX_MS:
            raise _BadValue(f"timestamp {value} is out of range (epoch {unit} of "
                            f"{_RANGE_TEXT})")
        return millis
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _BadValue(f"cannot parse {value!r} as a TIMESTAMP (ISO-8601 in "
                        f"{_RANGE_TEXT}, or epoch {unit})") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # integer arithmetic: float timestamps can land a millisecond off
    millis = (moment - _EPOCH) // timedelta(milliseconds=1)
    if not TIMESTAMP_MIN_MS <= millis <= TIMESTAMP_MAX_MS:  # an offset past the range's end
        raise _BadValue(f"timestamp {value!r} is out of range ({_RANGE_TEXT})")
    return millis


def _text_of(value: object) -> str:
    """A non-string JSON value as STRING: the text polars' NDJSON reader makes of it, so the
    fast and the per-line path agree (`1.0` -> '1', `true` -> 'true')."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # also past 64 bits, where polars' reader gives up
    line = msgspec.json.encode({"v": value})
    try:
        text = pl.read_ndjson(io.BytesIO(line), schema={"v": pl.String})["v"][0]
    except pl.exceptions.PolarsError:  # e.g. an integer past 64 bits inside a list
        return line[len(b'{"v":'):-1].decode()
    return str(text)


def _convert(value: object, column_type: FrysType, time_unit: str) -> object:
    if value is None:
        return None
    if column_type == FrysType.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _BadValue(f"expected INT, got {_show(value)}")
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _BadValue(f"INT value {value} is out of the 64-bit range")
        return value
    if column_type == FrysType.FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _BadValue(f"expected FLOAT, got {_show(value)}")
        return float(value)
    if column_type == FrysType.BOOL:
        if not isinstance(value, bool):
            raise _BadValue(f"expected BOOL, got {_show(value)}")
        return value
    if column_type == FrysType.STRING:
        return value if isinstance(value, str) else _text_of(value)
    if column_type == FrysType.TIMESTAMP:
        return parse_timestamp_millis(value, time_unit)
    raise _BadValue(f"unsupported column type {column_type}")  # pragma: no cover


class FrysWarning(UserWarning):
    """The base of frys's warnings: the job runs, but probably not as meant."""


class DataWarning(FrysWarning):
    """A stream's input decodes, but probably not as meant: a column no event has, epoch
    seconds read as milliseconds. Raised once per stream and kind."""


# how many field names a warning lists before it says how many more there are
_FIELDS_SHOWN = 20


class StreamDecoder:
    """Decodes records into batches of one stream's schema (see the module docstring).

    `time_unit` is the stream's option: the unit of integer epoch times; None (not chosen)
    reads them as milliseconds and warns when they look like seconds. `warnings` lists the
    DataWarning messages given so far (each also raised through Python's `warnings`), for a
    command line to print."""

    def __init__(self, stream: str, columns: dict[str, FrysType],
                 event_time: str | None, time_unit: str | None = None) -> None:
        self.stream = stream
        self.columns = columns
        self.event_time = event_time
        self.time_unit = time_unit or DEFAULT_TIME_UNIT
        # only a stream that did not choose its unit is second-guessed
        self._watch_for_seconds = time_unit is None
        self.warnings: list[str] = []
        self._checked_fields = False  # the first batch of events was checked for absent columns
        self._timestamps = [c for c, t in columns.items() if t == FrysType.TIMESTAMP]
        self._column_keys = [msgspec.json.encode(c) for c in columns]  # '"name"' as bytes
        # first attempt reads timestamps as epoch-ms integers, the second as strings
        self._schema_int = {c: (pl.Int64 if t == FrysType.TIMESTAMP else t.polars_dtype)
                            for c, t in columns.items()}
        self._schema_str = {c: (pl.String if t == FrysType.TIMESTAMP else t.polars_dtype)
                            for c, t in columns.items()}
        self._output_schema = {c: t.polars_dtype for c, t in columns.items()}

    @classmethod
    def for_stream(cls, stream: StreamDef) -> StreamDecoder:
        """The decoder of a stream of the job, with every option that affects decoding."""
        return cls(stream.name, stream.columns or {}, stream.event_time, stream.time_unit)

    def set_time_unit(self, time_unit: str) -> None:
        """The unit the stream chose for its integer times (its `time_unit` option): no
        longer second-guessed by the seconds warning."""
        self.time_unit = time_unit
        self._watch_for_seconds = False

    # ------------------------------------------------------------------ JSON lines

    def decode_jsonl(self, chunk: bytes, first_line: int, source: str
                     ) -> tuple[pl.DataFrame, list[DeadLetter]]:
        """Decode whole lines of JSON (`chunk` ends at a line boundary); `first_line` is the
        1-based number of the chunk's first line in `source`, for dead-letter positions."""
        frames: list[pl.DataFrame] = []
        letters: list[DeadLetter] = []
        self._decode_chunk(chunk, first_line, source, frames, letters)
        frames = [f for f in frames if f.height]
        if not frames:
            return self.empty(), letters
        frame = frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical")
        if not self._checked_fields:
            self._checked_fields = True
            self._warn_absent_in_chunk(frame, chunk)
        return frame, letters

    def _warn_absent_in_chunk(self, frame: pl.DataFrame, chunk: bytes) -> None:
        """The absent-column warning for the first chunk that gave events. All-NULL columns
        are found by null counts; only when there are some are the chunk's lines parsed
        again, to tell a key no line has from one given as null."""
        all_null = [c for c in self.columns if frame[c].null_count() == frame.height]
        if not all_null:
            return
        keys: dict[str, None] = {}  # in order of first appearance
        lines = [line for line in chunk.split(b"\n") if line.strip()]
        for line in lines:
            try:
                record = msgspec.json.decode(line)
            except (msgspec.DecodeError, RecursionError):
                continue
            if isinstance(record, dict):
                keys.update(dict.fromkeys(record))
        self._warn_absent([c for c in all_null if c not in keys], list(keys),
                          f"the first {len(lines)} lines")

    def _decode_chunk(self, chunk: bytes, first_line: int, source: str,
                      frames: list[pl.DataFrame], letters: list[DeadLetter]) -> None:
        if not chunk.strip():
            return
        for schema in ((self._schema_int, self._schema_str) if self._timestamps
                       else (self._schema_int,)):
            try:
                raw = pl.read_ndjson(io.BytesIO(chunk), schema=schema)
            except pl.exceptions.PolarsError:
                continue
            frames.append(self._finish_columns(raw, chunk, first_line, source, letters))
            return
        lines = chunk.split(b"\n")
        if chunk.endswith(b"\n"):
            lines.pop()
        if len(lines) <= _PER_LINE_THRESHOLD:
            records = []
            for offset, line in enumerate(lines):
                if line.strip():
                    records.append((line, f"{source}:{first_line + offset}"))
            frame, bad = self.decode_lines(records)
            frames.append(frame)
            letters.extend(bad)
            return
        half = len(lines) // 2
        self._decode_chunk(b"\n".join(lines[:half]) + b"\n", first_line, source, frames,
                           letters)
        self._decode_chunk(b"\n".join(lines[half:]) + b"\n", first_line + half, source,
                           frames, letters)

    def _suspects(self, raw: pl.DataFrame, chunk: bytes) -> set[int]:
        """Rows the reader may have read differently from the per-line path: a lone
        surrogate escape, nesting deeper than MAX_DEPTH (polars reads up to 1024 levels).
        Cheap whole-chunk searches first; lines are looked at only when one allows a
        suspect."""
        lines: list[bytes] | None = None
        suspects: set[int] = set()

        def rows() -> list[bytes]:
            nonlocal lines
            if lines is None:
                lines = [line for line in chunk.split(b"\n") if line.strip()]
            return lines

        # a backslash is rare in event data: one fast byte search rules surrogates out
        if b"\\" in chunk and (b"\\ud" in chunk or b"\\uD" in chunk):
            suspects.update(i for i, line in enumerate(rows())
                            if _lone_surrogate(line) is not None)
        # each row opens at least its own object, so no row can open more than this
        # (arrays counted only where there is one: `in` is a memchr, a count a byte loop,
        # and the two counts were 5% of reading flat JSON Lines)
        opened = chunk.count(b"{") + (chunk.count(b"[") if b"[" in chunk else 0)
        if opened - raw.height + 1 > MAX_DEPTH:
            suspects.update(i for i, line in enumerate(rows()) if _too_deep(line))
        return suspects

    def _finish_columns(self, raw: pl.DataFrame, chunk: bytes, first_line: int, source: str,
                        letters: list[DeadLetter]) -> pl.DataFrame:
        """Timestamps to Datetime(ms, UTC); rows with an unreadable or out-of-range timestamp
        or no event time, and the suspects (`_suspects`), are decoded again per line and
        become dead letters or go back to their place (vectorized check, per-row work only
        for those rows)."""
        self._watch_integer_times(raw)
        converted = []
        bad = pl.lit(False)
        for column in self._timestamps:
            values = pl.col(column)
            fast = iso_column_millis(raw[column]) if raw.schema[column] == pl.String else None
            if fast is not None:
                millis = pl.lit(fast)
            elif raw.schema[column] == pl.String:
                as_int = epoch_expr_to_millis(
                    values.str.strip_chars().cast(pl.Int64, strict=False), self.time_unit)
                as_iso = values.str.to_datetime(_ISO_FORMAT, time_unit="ms", time_zone="UTC",
                                                strict=False).dt.epoch("ms")
                millis = pl.coalesce([as_int, as_iso])
            else:
                millis = epoch_expr_to_millis(values, self.time_unit)
            converted.append(millis.alias(column))
            bad = bad | (values.is_not_null()
                         & ~millis.is_between(TIMESTAMP_MIN_MS, TIMESTAMP_MAX_MS).fill_null(False))
        if self.event_time is not None:
            bad = bad | pl.col(self.event_time).is_null()
        suspects = self._suspects(raw, chunk)
        if suspects:
            bad = bad | pl.int_range(pl.len()).is_in(sorted(suspects))
        if not self._timestamps and not suspects:
            return raw
        # one with_columns: `bad` sees the raw columns, not the converted ones
        checked = raw.with_columns(*converted, bad.alias("__bad"),
                                   pl.int_range(pl.len()).alias("__row"))
        good = checked.filter(~pl.col("__bad")).drop("__bad")
        bad_rows = checked.filter(pl.col("__bad"))["__row"].to_list()
        if bad_rows:
            # Rows polars could not parse (e.g. an ISO string without offset) get a second,
            # per-row chance with Python's parser before they become dead letters; the ones
            # that pass go back to their place, since arrival order breaks event-time ties.
            lines = [(line, f"{source}:{first_line + i}")
                     for i, line in enumerate(chunk.split(b"\n")) if line.strip()]
            recovered = []
            for row in bad_rows:
                frame, rejected = self.decode_lines([lines[row]])
                letters.extend(rejected)
                if frame.height:
                    recovered.append(frame.with_columns(  # back to Int64 ms, as `good`
                        *(pl.col(c).dt.epoch("ms") for c in self._timestamps),
                        pl.lit(row, dtype=pl.Int64).alias("__row")))
            if recovered:
                good = pl.concat([good, *recovered], how="vertical").sort("__row")
        return good.drop("__row").with_columns(
            [pl.col(c).cast(TIMESTAMP_DTYPE) for c in self._timestamps])

    # ------------------------------------------------------------------ warnings

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        # 5 frames up is the program's `Pipeline.publish` call on the API paths
        warnings.warn(message, DataWarning, stacklevel=5)

    def _warn_absent(self, absent: list[str], fields: list[str], events: str) -> None:
        """Warn that schema columns `absent` are in none of `events` (which have `fields`):
        they decode as NULL, which is right for an optional field and silent data loss for
        a misspelt one; the fields that do appear show which it is."""
        if not absent:
            return
        shown = ", ".join(fields[:_FIELDS_SHOWN]) or "none"
        if len(fields) > _FIELDS_SHOWN:
            shown += f" and {len(fields) - _FIELDS_SHOWN} more"
        noun = "column" if len(absent) == 1 else "columns"
        self._warn(f"stream {self.stream}: {noun} {', '.join(absent)} of its schema "
                   f"{'is' if len(absent) == 1 else 'are'} in none of {events}, so NULL "
                   f"there; the fields they have: {shown}")

    def _watch_integer_times(self, frame: pl.DataFrame) -> None:
        """Warn (once) when every integer time of a TIMESTAMP column of this batch lies in
        SECONDS_LOOKALIKE, on a stream that did not choose its time_unit: as milliseconds
        those are January 1970, as seconds 2001-2286. One min/max per integer column per
        batch, until the warning is given."""
        if not self._watch_for_seconds or frame.height == 0:
            return
        integer = [c for c in self._timestamps
                   if c in frame.columns and frame.schema[c].is_integer()]
        if not integer:
            return
        low, high = SECONDS_LOOKALIKE
        bounds = frame.select(*(pl.col(c).min().alias(f"{c} min") for c in integer),
                              *(pl.col(c).max().alias(f"{c} max") for c in integer)).row(0)
        for index, column in enumerate(integer):
            least, most = bounds[index], bounds[len(integer) + index]
            if least is None or not (low <= least and most < high):
                continue
            self._watch_for_seconds = False
            as_seconds = [datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")
                          for t in (least, most)]
            self._warn(
                f"stream {self.stream}: column {column} has integer times {least}..{most}, "
                f"read as epoch milliseconds (January 1970); as epoch seconds they would be "
                f"{as_seconds[0]}..{as_seconds[1]}. If they are seconds, declare the stream "
                f"WITH (time_unit = 's'); time_unit = 'ms' keeps milliseconds and this "
                f"warning quiet")
            return

    # ------------------------------------------------------------------ API inputs

    def decode_events(self, records: Sequence[tuple[object, str, str]]
                      ) -> tuple[pl.DataFrame, list[DeadLetter]]:
        """`decode_records` for events given to the API (dicts), with the data warnings: a
        schema column none of the first batch's events has, integer times that look like
        epoch seconds."""
        if not self._checked_fields and records:
            self._checked_fields = True
            keys: dict[str, None] = {}  # in order of first appearance
            for record, _, _ in records:
                if isinstance(record, dict):
                    keys.update(dict.fromkeys(record))
            self._warn_absent([c for c in self.columns if c not in keys], list(keys),
                              f"the first {len(records)} events")
        if self._watch_for_seconds and self._timestamps:
            # per record, but only until the warning: the dict path is per record anyway
            self._watch_integer_times(pl.DataFrame(
                {c: [value if type(value) is int and _INT64_MIN <= value <= _INT64_MAX
                     else None
                     for record, _, _ in records
                     for value in [record.get(c) if isinstance(record, dict) else None]]
                 for c in self._timestamps},
                schema={c: pl.Int64 for c in self._timestamps}, strict=False))
        return self.decode_records(records)

    def decode_frame(self, frame: pl.DataFrame, position: str
                     ) -> tuple[pl.DataFrame, list[DeadLetter]]:
        """A user's DataFrame in the stream's schema, and dead letters for the rows that
        cannot be in it.

        Columns: a missing one is NULL (and warned about, for the first frame), extra ones
        are dropped, the others are cast; a column that cannot be cast at all raises
        TypeError naming the stream (that is the program's mistake, not its data's).
        TIMESTAMP columns take what JSON input takes, by the same rules: integers in the
        stream's time_unit, strings of such integers or ISO-8601 (no offset means UTC);
        and datetimes (zoned ones converted to UTC, naive ones taken as UTC). A row with a
        time that cannot be read or is outside TIMESTAMP's range, or with no event time, is a
        dead letter with the reason naming the field, positioned `<position> row <n>` (the
        0-based row of the frame); the other rows keep their order. The check is vectorized;
        only flagged rows are looked at one by one."""
        if frame.height and not self._checked_fields:
            self._checked_fields = True
            self._warn_absent([c for c in self.columns if c not in frame.columns],
                              frame.columns, f"the first DataFrame's {frame.height} rows")
        self._watch_integer_times(frame)
        names, dtypes, target = _target(self.columns)
        if (frame.columns == names and frame.dtypes == dtypes
                and (self.event_time is None or not frame[self.event_time].null_count())):
            # already the stream's schema with every event time: only a datetime outside
            # TIMESTAMP's range can be wrong (checked per batch: kept cheap)
            outside = [(~pl.col(c).dt.epoch("ms").is_between(TIMESTAMP_MIN_MS,
                                                             TIMESTAMP_MAX_MS)).fill_null(False)
                       for c in self._timestamps]
            if not outside or frame.height == 0:
                return frame, []
            flags = frame.select(pl.any_horizontal(outside).alias("__bad")).to_series()
            if not flags.any():
                return frame, []
            return self._drop_bad_rows(frame, frame, flags, position)
        exprs = []
        bad = pl.lit(False)
        for name, column_type in self.columns.items():
            if name not in frame.columns:
                dtype = pl.Int64 if column_type == FrysType.TIMESTAMP else column_type.polars_dtype
                exprs.append(pl.lit(None, dtype=dtype).alias(name))
                continue
            if column_type != FrysType.TIMESTAMP:
                exprs.append(pl.col(name))
                continue
            fast = iso_column_millis(frame[name]) if frame.schema[name] == pl.String else None
            millis = pl.lit(fast) if fast is not None else self._frame_millis(
                name, frame.schema[name])
            exprs.append(millis.alias(name))
            bad = bad | (pl.col(name).is_not_null()
                         & ~millis.is_between(TIMESTAMP_MIN_MS, TIMESTAMP_MAX_MS)
                         .fill_null(False))
        if self.event_time is not None:
            bad = bad | (pl.col(self.event_time).is_null() if self.event_time in frame.columns
                         else pl.lit(True))
        try:
            checked = frame.select(*exprs, bad.alias("__bad"))
            flags = checked.get_column("__bad")
            batch = checked.drop("__bad")
            letters: list[DeadLetter] = []
            if flags.any():
                batch, letters = self._drop_bad_rows(frame, batch, flags, position)
            return batch.cast(target), letters
        except pl.exceptions.PolarsError as error:
            raise TypeError(f"DataFrame does not fit stream {self.stream}: {error}") from None

    def _frame_millis(self, name: str, dtype: pl.DataType) -> pl.Expr:
        """Epoch milliseconds (Int64) of a frame's TIMESTAMP column; NULL where unreadable
        (the caller flags the non-NULL values this leaves NULL or out of range)."""
        values = pl.col(name)
        if dtype.is_integer():
            return epoch_expr_to_millis(values.cast(pl.Int64), self.time_unit)
        if isinstance(dtype, pl.Datetime):
            return values.dt.epoch("ms")  # zoned: UTC's epoch; naive: taken as UTC
        if dtype == pl.String:
            text = values.str.strip_chars()
            return pl.coalesce(
                epoch_expr_to_millis(text.cast(pl.Int64, strict=False), self.time_unit),
                text.str.to_datetime(_ISO_FORMAT, time_unit="ms", time_zone="UTC",
                                     strict=False).dt.epoch("ms"),
                # no offset, the common case of a frame, spared the per-row fallback
                text.str.to_datetime(_NAIVE_ISO_FORMAT, time_unit="ms", strict=False)
                .dt.epoch("ms"))
        if dtype == pl.Null:
            return values.cast(pl.Int64)
        return values.cast(TIMESTAMP_DTYPE).dt.epoch("ms")  # e.g. Date; may refuse the frame

    def _drop_bad_rows(self, frame: pl.DataFrame, batch: pl.DataFrame, flags: pl.Series,
                       position: str) -> tuple[pl.DataFrame, list[DeadLetter]]:
        """The rows `flags` marks, judged one by one: a string time Python's parser reads
        (a form polars' parser does not) goes back into the batch in its place; every other
        row becomes a dead letter naming its first bad field."""
        rows = flags.arg_true().to_list()
        # the raw rows, datetimes as epoch ms: an out-of-range one has no Python datetime
        shown = frame.filter(flags).with_columns(
            pl.col(c).dt.epoch("ms") for c in self._timestamps
            if c in frame.columns and isinstance(frame.schema[c], pl.Datetime))
        letters: list[DeadLetter] = []
        recovered: list[int] = []
        fixes: dict[str, tuple[list[int], list[int]]] = {}  # column -> (rows, epoch ms)
        for row, record in zip(rows, shown.iter_rows(named=True), strict=True):
            reason, fixed = self._judge_frame_row(record, frame.schema)
            if reason is None:
                for column, millis in fixed.items():
                    fixes.setdefault(column, ([], []))
                    fixes[column][0].append(row)
                    fixes[column][1].append(millis)
                recovered.append(row)
            else:
                letters.append(DeadLetter(self.stream, reason, f"{position} row {row}",
                                          json.dumps(record, default=str)))
        for column, (fixed_rows, values) in fixes.items():
            batch = batch.with_columns(batch.get_column(column).scatter(fixed_rows, values))
        keep = ~flags
        if recovered:
            keep = keep.scatter(recovered, True)
        return batch.filter(keep), letters

    def _judge_frame_row(self, record: Mapping[str, object], schema: pl.Schema
                         ) -> tuple[str | None, dict[str, int]]:
        """Why a flagged row cannot be in the stream (None if it can), and the times of its
        string TIMESTAMP columns as Python's parser reads them."""
        fixed: dict[str, int] = {}
        for column in self._timestamps:
            value = record.get(column)
            if value is None:
                if column == self.event_time:
                    return f"field {column}: the event time is missing", fixed
                continue
            if isinstance(schema[column], pl.Datetime):
                # _drop_bad_rows shows Datetime columns as epoch milliseconds
                assert isinstance(value, int)
                if not TIMESTAMP_MIN_MS <= value <= TIMESTAMP_MAX_MS:
                    return (f"field {column}: {value} ms is outside TIMESTAMP's range "
                            "(0001-01-01 to 9999-12-31)"), fixed
                continue
            try:
                millis = parse_timestamp_millis(value, self.time_unit)
            except _BadValue as error:
                return f"field {column}: {error}", fixed
            if schema[column] == pl.String:
                fixed[column] = millis
        return None, fixed

    # ------------------------------------------------------------------ records

    def decode_lines(self, lines: list[tuple[bytes, str]]
                     ) -> tuple[pl.DataFrame, list[DeadLetter]]:
        """Decode JSON lines one at a time: (raw line, position) -> batch and dead letters."""
        records: list[tuple[object, str, str]] = []
        letters: list[DeadLetter] = []
        for line, position in lines:
            raw = line.decode("utf-8", errors="replace")
            problem = line_problem(line)
            if problem is not None:
                letters.append(DeadLetter(self.stream, problem, position, raw))
                continue
            try:
                record = msgspec.json.decode(line)
                if isinstance(record, dict) and any(line.count(key) > 1
                                                    for key in self._column_keys):
                    # a column's key given twice: the first value wins, as on the fast path
                    # (msgspec keeps the last); the line is valid JSON, msgspec said so
                    record = json.loads(raw, object_pairs_hook=_first_values)
                records.append((record, position, raw))
            except msgspec.DecodeError as error:
                letters.append(DeadLetter(self.stream, f"malformed JSON: {error}", position, raw))
            except RecursionError:  # within MAX_DEPTH, but the stack was already deep
                letters.append(DeadLetter(self.stream, "nested too deeply for the stack",
                                          position, raw))
        frame, bad = self.decode_records(records)
        return frame, letters + bad

    def decode_records(self, records: Sequence[tuple[object, str, str]]
                       ) -> tuple[pl.DataFrame, list[DeadLetter]]:
        """Validate decoded records (record, position, raw text) against the schema."""
        columns: dict[str, list[object]] = {c: [] for c in self.columns}
        letters: list[DeadLetter] = []
        for record, position, raw in records:
            row, reason = self._row(record)
            if reason is not None:
                letters.append(DeadLetter(self.stream, reason, position, raw))
                continue
            for column, value in zip(self.columns, row, strict=True):
                columns[column].append(value)
        schema: dict[str, pl.DataType | type[pl.DataType]] = dict(self._output_schema)
        for column in self._timestamps:
            schema[column] = pl.Int64
        frame = pl.DataFrame(columns, schema=schema)
        return frame.with_columns([pl.col(c).cast(TIMESTAMP_DTYPE) for c in self._timestamps]
                                  ), letters

    def _row(self, record: object) -> tuple[list[object], str | None]:
        if not isinstance(record, dict):
            return [], f"expected a JSON object, got {type(record).__name__}"
        row = []
        for column, column_type in self.columns.items():
            value = record.get(column)
            if value is None and column == self.event_time:
                return [], f"field {column}: the event time is missing"
            try:
                row.append(_convert(value, column_type, self.time_unit))
            except _BadValue as error:
                return [], f"field {column}: {error}"
        return row, None

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self._output_schema)


_TARGETS: dict[tuple[tuple[str, FrysType], ...],
               tuple[list[str], list[pl.DataType], pl.Schema]] = {}


def _target(columns: Mapping[str, FrysType]) -> tuple[list[str], list[pl.DataType], pl.Schema]:
    key = tuple(columns.items())
    found = _TARGETS.get(key)
    if found is None:
        schema = pl.Schema({n: t.polars_dtype for n, t in columns.items()})
        found = _TARGETS[key] = (schema.names(), schema.dtypes(), schema)
    return found
