"""Key shares: a source read whole by every process of a cluster, each process keeping the
rows of its own key groups, so that no row crosses between processes.

A file source is read in parallel as stripes (connectors/file_partitions.py): each process
reads part of the file and routes every row to the key group of its key, so that on two
processes half of the rows cross to the other, pickled, sent and unpickled; and each key
group waits for the slowest stripe's watermark, holding the windows the stripes ahead have
filled. Where reading the whole source costs about what routing its rows does (an Arrow
IPC file or folder: its record batches are mapped, nothing is decoded:
registry.Connector.rereadable), every process reads it whole instead, as one partition
named `keys=i/n:t` (a key share), and keeps only the rows of the key groups that process
holds. Then

* no row crosses: each process's rows are its own key groups' (a key group g is on worker
  g % W of W workers, key_group_names.py; worker w on process w // t, t workers a
  process: timely numbers workers process by process), and share i keeps the key groups
  whose process is i;
* each share's watermark is the one the embedded runtime's single reader has at the same
  row (it is taken over every row read, kept or not), and each key group listens to the
  one share that feeds it (InputClock), so windows fire as in the embedded runtime, with
  no partition behind to wait for;
* every row is kept by exactly one share (its key group's), so the shares together send
  each row once; a row that cannot be decoded has no key: share 0 sends it to
  dead_letters, the others drop it.

A stream is read this way only when every query reading it is keyed by the same keys
(the rows' groups are those of the one routing they will meet); otherwise, or with
`--source-partitions 1`, on one process, on more than MAX_SHARES processes, or from
`frys.bytewax.flow()` (which is not told the processes), its sources are read as before.

Why at most MAX_SHARES processes: every process reads all N rows (r_s a row: mapping,
decoding and the share's hash and filter), so that part does not shrink as processes are
added, while the exchange it saves shrinks: with stripes each of P processes reads N/P
rows (r a row) and sends and receives about N(P-1)/P^2 rows (x a row crossing, with the
watermark drift the crossing brings). Shares pay while P r_s - r < (P-1) x / P. Measured on
W2 from Arrow at P = 2 (32M events): r about 0.008 us, r_s about 0.014 us, and shares ran
0.6 s faster than stripes, which puts x near 0.1 us: the break-even is near P = 7. Only
P = 2 could be measured on this 2-core machine, so the limit stays well below it.

A share names its share of the cluster it started on: a resumed run keeps its shares, on
any number of processes (rows of key groups now held elsewhere are routed there). Each
share keeps the key groups of process i when group g is on worker g mod W, as bytewax
places them for up to 16 workers and 1,024 groups (key_group_names.py); past that, bytewax
places groups by its hash, and some rows cross to where their group is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from frys.engine.scaleout.key_groups import key_group_expression

_NAME = re.compile(r"keys=(\d+)/(\d+):(\d+)")


@dataclass(frozen=True)
class KeyShare:
    """Share `index` of `count`, of a cluster of `count` processes of `threads` workers
    each: the key groups on process `index` (see the module docstring)."""

    index: int
    count: int
    threads: int

    def __post_init__(self) -> None:
        if not (0 <= self.index < self.count and self.threads > 0):
            raise ValueError(f"no key share {self.index} of {self.count}")

    @property
    def name(self) -> str:
        return f"keys={self.index}/{self.count}:{self.threads}"

    @classmethod
    def parse(cls, name: str) -> KeyShare | None:
        """The share a partition name names, or None when it names no share (a stripe)."""
        match = _NAME.fullmatch(name)
        if match is None:
            return None
        try:
            return cls(*(int(number) for number in match.groups()))
        except ValueError:
            return None

    def _process_of(self, group: Any) -> Any:
        """The process holding key group `group` (an int, or a polars expression of one):
        group g is on worker g mod W, worker w on process w div t."""
        return (group % (self.count * self.threads)) // self.threads

    def serves(self, group: int) -> bool:
        """Whether key group `group` is one this share keeps the rows of."""
        return bool(self._process_of(group) == self.index)

    def keeps(self, keys: list[pl.Expr], groups: int) -> pl.Expr:
        """Whether a row is this share's: its key group's process is this share's (the
        Router's hash: key_groups.key_group_expression)."""
        return self._process_of(key_group_expression(keys, groups)) == self.index


# the most processes a cluster reads sources as key shares on (see the module docstring)
MAX_SHARES = 4


def shares(processes: int, threads: int, groups: int) -> tuple[str, ...]:
    """The partitions of a source read as key shares on `processes` processes of `threads`
    workers and `groups` key groups: one per process that holds a key group."""
    count = max(1, min(processes, -(-groups // threads)))
    return tuple(KeyShare(i, count, threads).name for i in range(count))


def listed_by(parts: tuple[str, ...], process: int, processes: int) -> list[str]:
    """The shares among `parts` that process `process` of `processes` reads: its own, and
    on a cluster smaller than the one the shares were made for, share i on process
    i % processes."""
    return [part for part in parts
            if (share := KeyShare.parse(part)) is not None
            and share.index % processes == process]
