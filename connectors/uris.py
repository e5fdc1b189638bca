"""Connector URIs, parsed without touching the disk (the analyzer checks them).

* ``file:<path>``: a file, relative to the job file's folder;
* ``wal:<dir>[?options]``: a WAL directory (relative to the job file's folder), options
  ``fsync=always|never|batch[:<ms>[:<bytes>]]``, ``segment_bytes=N``, ``retention_bytes=N``,
  ``retention_seconds=N``, ``consumer=NAME`` (a source's consumer name; default
  ``<job>.<stream>``) and ``follow=true|false`` (a source's: follow the log as it grows
  until the run is stopped, the default, or read to its current end and end the input);
* ``bus:<topic>``: a topic of the job's broker (connectors/broker.py), by name.

The WAL package is imported only when a `wal:` URI is parsed: checking or opening `file:`
URIs must not pay for it (connectors/registry.py loads connectors lazily for the same
reason).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from frys.dsl.stream_graph import Feed

if TYPE_CHECKING:
    from frys.connectors.wal.log import FsyncPolicy, Retention
    from frys.dsl.analyzed import StreamDef


@dataclass(frozen=True)
class WalUri:
    """`wal:<dir>[?fsync=always|batch[:ms[:bytes]]|never&segment_bytes=N&retention_bytes=N
    &retention_seconds=S&consumer=NAME&follow=true|false]`."""

    directory: Path
    fsync: FsyncPolicy | None
    segment_bytes: int | None
    retention: Retention
    consumer: str | None
    # a source's: follow the log as it grows (None: not given, which for a source means
    # true); a sink refuses it (connectors/wal_topic.py)
    follow: bool | None = None

    @staticmethod
    def parse(uri: str, base_dir: Path) -> WalUri:
        """Raises WalError naming what is wrong."""
        from frys.connectors.wal.log import FsyncPolicy, Retention, WalError
        from frys.connectors.wal.offsets import check_consumer_name

        if not uri.startswith("wal:"):
            raise WalError(f"not a wal: URI: {uri!r}")
        path_text, _, query = uri[len("wal:"):].partition("?")
        if not path_text:
            raise WalError(f"{uri!r} names no directory; expected e.g. 'wal:data/orders'")
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        known = {"fsync", "segment_bytes", "retention_bytes", "retention_seconds", "consumer",
                 "follow"}
        unknown = sorted(set(params) - known)
        if unknown:
            from frys.dsl.errors import did_you_mean

            raise WalError(f"unknown wal: option {unknown[0]!r} in {uri!r}"
                           f"{did_you_mean(unknown[0], sorted(known))}; known: "
                           f"{', '.join(sorted(known))}")
        follow = params.get("follow")
        if follow not in (None, "true", "false"):
            raise WalError(f"follow must be true or false in {uri!r}, not {follow!r}")

        def number(key: str) -> int | None:
            text = params.get(key)
            if text is None:
                return None
            # ASCII digits only: isdigit alone also takes "²", which int() refuses
            if not (text.isascii() and text.isdigit()) or int(text) == 0:
                raise WalError(f"{key} must be a positive whole number in {uri!r}, "
                               f"not {text!r}")
            return int(text)

        if "consumer" in params:
            check_consumer_name(params["consumer"])
        path = Path(path_text)
        fsync = FsyncPolicy.parse(params["fsync"]) if "fsync" in params else None
        retention_seconds = number("retention_seconds")
        return WalUri(path if path.is_absolute() else base_dir / path, fsync,
                      number("segment_bytes"),
                      Retention(number("retention_bytes"),
                                float(retention_seconds) if retention_seconds else None),
                      params.get("consumer"),
                      None if follow is None else follow == "true")


def resolve_file_uri(uri: str, base_dir: Path) -> Path:
    """'file:rel/path.jsonl' relative to the job file's folder; absolute paths stay."""
    path = Path(uri[len("file:"):])
    return path if path.is_absolute() else base_dir / path


def check_wal_uri(uri: str) -> str | None:
    """The problem with a `wal:` URI, or None (for the analyzer)."""
    from frys.connectors.wal.log import WalError

    try:
        WalUri.parse(uri, Path("."))
    except WalError as error:
        return str(error)
    return None


def check_bus_uri(uri: str) -> str | None:
    """The problem with a `bus:` URI, or None."""
    name = uri[len("bus:"):]
    if not name or any(not word or "*" in word or "#" in word for word in name.split(".")):
        return (f"{uri!r} must name one topic: dot-separated words without wildcards, "
                "e.g. 'bus:alerts.high'")
    return None


def bus_feeds(streams: Mapping[str, StreamDef]) -> list[Feed]:
    """The links `bus:` URIs make between a job's own streams (dsl/stream_graph.py): the
    job's streams are topics of its broker, so a `bus:` sink naming one of them publishes
    into it, and a `bus:` source naming one reads everything published to it."""
    feeds = []
    for stream in streams.values():
        for role in ("sink", "source"):
            uri = getattr(stream, role)
            if uri is None or not uri.startswith("bus:"):
                continue
            topic = uri[len("bus:"):]
            if topic not in streams:
                continue
            span = stream.option_spans.get(role, stream.span)
            how = f"{role} = '{uri}'"
            feeds.append(Feed(stream.name, topic, how, span) if role == "sink"
                         else Feed(topic, stream.name, how, span))
    return feeds
