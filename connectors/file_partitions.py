"""A `file:` source read as several partitions (registry.Connector.partitions), so that a
runtime reading partitions in parallel (the scale-out runtime) is not held to one reader.

A file is cut into stripes and the stripes are dealt round robin to at most `count`
partitions (registry.Stripes): partition i of n reads stripes i, i + n, i + 2n, ... in
file order. Every partition of a time-ordered file thus moves through time with the
others, and the stream's watermark (the minimum of its partitions') lags the newest row
read by about n stripes; contiguous ranges would hold it at the first range's progress
while the later ranges' windows stayed open, their state growing with the file.

* a JSON Lines file of more than one stripe of `stripe_bytes`: each partition owns the
  lines that start in its stripes (a line crossing a stripe's end belongs to the stripe it
  starts in), numbered as in the whole file, so dead letters name the file's own lines
  (a partition counts the lines of the stripes it skips, reading them, only when a number
  is needed, for a dead letter; it reads only its own stripes else, and its position keeps
  the range not counted: jsonl.FilePosition.counted);
* a Parquet file or an Arrow IPC file: stripes of whole row groups or record batches,
  about `stripe_bytes` of file each. Reading Arrow is mapping its record batches, with
  no decoding to share out, but a file read whole leaves its one reader routing every
  row to the other processes: W2 from Arrow (32M events) on `-p 2` ran in 6.6 s split
  against 7.3-7.8 s whole, once a window fold no longer regrouped the windows the
  other partition held open (W4: 6.7-6.9 s against 6.6). Earlier, before that, whole
  had won (8M events: 2.1-2.2 s against 2.3-3.0);
* a folder of part files (what a columnar sink, or a JSON Lines sink with `parts=true`,
  writes): stripes of one part file;
* anything else (CSV, msgpack, a followed file): one partition, the whole source.

A partition is named `stripes=i/n:size` (size in bytes, record batches or row groups, or
part files), from the file and the arguments alone, so every process of a cluster and
every resumed run lists the same ones; a partition's positions are the whole file's.
"""

from __future__ import annotations

import re
from pathlib import Path

from frys.connectors.registry import ConnectorError, Source, SourceContext, Stripes

WHOLE = "all"
# the stripes' size: small enough that the partitions of a time-ordered file stay close in
# time (their stream's watermark lags the newest row by about one stripe per partition),
# big enough that reading a stripe costs what reading a batch does
DEFAULT_SPLIT_BYTES = 4 << 20
_NAME = re.compile(r"stripes=(\d+)/(\d+):(\d+)")


def partitions(path: Path, uri: str, count: int, stripe_bytes: int) -> list[str]:
    """The partitions of the `file:` source `uri` at `path`, at most `count` (see the
    module docstring)."""
    from frys.connectors import files_formats

    fmt = files_formats.format_of(path.name)
    query = uri.partition("?")[2]
    if count <= 1 or ("follow=" in query and "follow=false" not in query):
        return [WHOLE]
    if fmt is None:  # JSON Lines
        if path.is_dir():  # a folder of parts (connectors/files_jsonl_parts.py)
            from frys.connectors.files_jsonl_parts import part_files

            return _named(len(part_files(path)), count, 1)
        if not path.is_file():
            return [WHOLE]  # opening it says what is wrong
        return _named(-(-path.stat().st_size // stripe_bytes), count, stripe_bytes)
    if fmt == "columnar":
        from frys.connectors.files_columnar import EXTENSIONS, _parts, _Reader

        kind = EXTENSIONS[path.suffix.lower()]
        if path.is_dir():
            return _named(len(_parts(path, kind)), count, 1)
        if not path.is_file():
            return [WHOLE]
        groups = _Reader(path, kind).groups
        if groups == 0:
            return [WHOLE]
        per_stripe = max(1, round(stripe_bytes * groups / max(1, path.stat().st_size)))
        return _named(-(-groups // per_stripe), count, per_stripe)
    return [WHOLE]


def rereadable(path: Path, uri: str) -> bool:
    """Whether the `file:` source `uri` at `path` costs little to read whole, however many
    processes do (registry.Connector.rereadable): an Arrow IPC file or folder of parts. Its
    record batches are mapped, not decoded, so every process of a cluster reading it whole
    costs less than routing half its rows between two: W2 from Arrow (32M events) on `-p 2`
    ran in 4.2-4.7 s read whole by both processes, each keeping its own key groups' rows,
    against 4.8-5.3 s read as stripes. (Arrow files are never followed: checking the URI
    refuses `follow=true` on them.)"""
    from frys.connectors import files_formats
    from frys.connectors.files_columnar import EXTENSIONS

    return (files_formats.format_of(path.name) == "columnar"
            and EXTENSIONS.get(path.suffix.lower()) == "arrow"
            and (path.is_file() or path.is_dir()))


def _named(stripes: int, count: int, size: int) -> list[str]:
    parts = min(stripes, count)
    if parts <= 1:
        return [WHOLE]
    return [f"stripes={i}/{parts}:{size}" for i in range(parts)]


def open_partition(path: Path, context: SourceContext, part: str) -> Source:
    """One partition named by `partitions`, as a Source of its own."""
    match = _NAME.fullmatch(part)
    try:
        if match is None:
            raise ValueError(part)
        stripes = Stripes(*(int(number) for number in match.groups()))
    except ValueError:  # (Stripes refuses an index past its count, a size of 0)
        raise ConnectorError(f"no partition {part!r} of the source file {path}") from None
    from frys.connectors import files_formats

    if files_formats.format_of(path.name) == "columnar":
        from frys.connectors.files_columnar import EXTENSIONS, ColumnarFileSource

        return ColumnarFileSource(path, context.decoder, str(path),
                                  EXTENSIONS[path.suffix.lower()], stripes)
    from frys.connectors.jsonl import JsonlFileSource

    if path.is_dir():
        from frys.connectors.files_jsonl_parts import JsonlFolderSource

        return JsonlFolderSource(path, context.decoder, str(path), stripes)
    if not path.is_file():
        raise ConnectorError(f"source file not found: {path} (stream {context.stream_name})")
    return JsonlFileSource(path, context.decoder, str(path), stripes=stripes)
