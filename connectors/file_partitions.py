"""A `file:` source read as several partitions (registry.Connector.partitions), so that a
runtime reading partitions in parallel (the scale-out runtime) is not held to one reader:

* a JSON Lines file over `split_bytes`: byte ranges of about `split_bytes`, each owning
  the lines that start in it (a line crossing a boundary belongs to the range it starts
  in), numbered as in the whole file so dead letters name the file's own lines;
* an Arrow IPC or Parquet file: ranges of record batches / row groups, about
  `split_bytes` of file each;
* a folder of part files (what a columnar sink writes): one partition per part file;
* anything else (CSV, msgpack, a followed file): one partition, the whole source.

Partition names are derived from the file alone (its size, its groups), so every process
of a cluster and every resumed run lists the same ones. Each partition is one producer of
its stream with a watermark of its own: the stream's watermark is their minimum, so the
partitions of a time-ordered file hold the watermark at the earliest one's progress (the
windows of later ranges wait, nothing is late that was not).
"""

from __future__ import annotations

from pathlib import Path

from frys.connectors.registry import ConnectorError, Source, SourceContext

WHOLE = "all"


def partitions(path: Path, uri: str, split_bytes: int) -> list[str]:
    """The partitions of the `file:` source `uri` at `path` (see the module docstring)."""
    from frys.connectors import files_formats

    fmt = files_formats.format_of(path.name)
    query = uri.partition("?")[2]
    if "follow=" in query and "follow=false" not in query:
        return [WHOLE]
    if fmt is None:  # JSON Lines
        if not path.is_file():
            return [WHOLE]  # opening it says what is wrong
        size = path.stat().st_size
        count = -(-size // split_bytes)
        if count <= 1:
            return [WHOLE]
        bounds = [size * i // count for i in range(count + 1)]
        return [f"bytes={bounds[i]}-{bounds[i + 1]}" for i in range(count)]
    if fmt == "columnar":
        from frys.connectors.files_columnar import EXTENSIONS, _parts, _Reader

        kind = EXTENSIONS[path.suffix.lower()]
        if path.is_dir():
            parts = _parts(path, kind)
            return [f"part={p.name}" for p in parts] if len(parts) > 1 else [WHOLE]
        if not path.is_file():
            return [WHOLE]
        groups = _Reader(path, kind).groups
        count = min(groups, -(-path.stat().st_size // split_bytes))
        if count <= 1:
            return [WHOLE]
        bounds = [groups * i // count for i in range(count + 1)]
        return [f"groups={bounds[i]}-{bounds[i + 1]}" for i in range(count)]
    return [WHOLE]


def open_partition(path: Path, context: SourceContext, part: str) -> Source:
    """One partition named by `partitions`, as a Source of its own."""
    kind, _, value = part.partition("=")
    if kind == "bytes":
        from frys.connectors.jsonl import JsonlFileSource

        start, end = (int(v) for v in value.split("-"))
        if not path.is_file():
            raise ConnectorError(f"source file not found: {path} (stream "
                                 f"{context.stream_name})")
        return JsonlFileSource(path, context.decoder, str(path), byte_range=(start, end))
    if kind in ("groups", "part"):
        from frys.connectors.files_columnar import EXTENSIONS, ColumnarFileSource

        file_kind = EXTENSIONS[path.suffix.lower()]
        if kind == "part":
            part_path = path / value
            if not part_path.is_file():
                raise ConnectorError(f"source file not found: {part_path} (stream "
                                     f"{context.stream_name})")
            return ColumnarFileSource(part_path, context.decoder, f"{path}/{value}", file_kind)
        first, end = (int(v) for v in value.split("-"))
        return ColumnarFileSource(path, context.decoder, str(path), file_kind, (first, end))
    raise ConnectorError(f"no partition {part!r} of the source file {path}")
