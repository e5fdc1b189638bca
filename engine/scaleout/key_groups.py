"""Key groups: the unit in which keyed state is placed on workers and moved between them.

A query's rows are routed by the hash of their key (operators/partitioning.py) modulo a
fixed number of key groups, `KEY_GROUPS` unless the run says otherwise. Each key group is
one bytewax key (named by `group_names`, so that bytewax spreads the groups evenly over
the workers: key_group_names.py), so it is bytewax that places groups on workers,
snapshots each group's state under its own key and, on a resume with another number of
workers, hands each group's state to the worker that now owns it: rescaling needs no
frys code, as long as the number of groups and the hash stay the same. Both are recorded
with every group's state (`assignment_fingerprint`) and a resume under another refuses,
rather than send a key's rows to a group whose state is another key's.

The hash is polars' (a fixed seed), which polars promises stable within one version: the
fingerprint hashes a fixed probe, so an upgrade that changes the hash is caught.

How many: every key group is an operator instance of its own, and an operator call
costs a fixed ~0.5 ms besides its rows, so each source batch costs that many calls per
keyed query; but the groups are also the most workers a keyed query can use, now and
after a rescale. `frys run` makes 4 per worker of the cluster (`default_key_groups`;
even over the workers, key_group_names.py), and a resumed run keeps its folder's. W6
from Arrow (4M events) on one worker took 1.59x the embedded runtime's time with 16
groups and 1.25x with 4; W2 from Arrow 1.19x and 0.98x. `KEY_GROUPS` (16) is the
default of `frys.bytewax.flow`, which is not told the number of workers.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import polars as pl

KEY_GROUPS = 16
KEY_GROUPS_PER_WORKER = 4
KEY_GROUP_COLUMN = "__frys_key_group"
# a fixed seed: the assignment must be the same in every process and every run
_SEED = 0x66727973


def key_group_expression(keys: list[pl.Expr], groups: int) -> pl.Expr:
    """A row's key group (UInt64 in [0, groups)): the hash of its key expressions."""
    named = [key.alias(f"k{i}") for i, key in enumerate(keys)]
    hashed = (pl.struct(named) if len(named) > 1 else named[0]).hash(_SEED)
    return (hashed % groups).alias(KEY_GROUP_COLUMN)


def key_group_column(batch: pl.DataFrame, keys: list[pl.Expr], groups: int) -> pl.Series:
    """Each row's key group (key_group_expression)."""
    return batch.select(key_group_expression(keys, groups)).to_series()


def split_by_key_group(batch: pl.DataFrame, keys: list[pl.Expr], groups: int
                       ) -> list[tuple[int, pl.DataFrame]]:
    """The batch cut into one batch per key group present, each keeping the rows' order."""
    if batch.height == 0:
        return []
    column = key_group_column(batch, keys, groups)
    first = column[0]
    if (column == first).all():  # one key (a run of one symbol): no copy
        return [(int(first), batch)]
    parts = batch.with_columns(column).partition_by(KEY_GROUP_COLUMN, as_dict=True,
                                                   maintain_order=True)
    return [(int(group[0]), part.drop(KEY_GROUP_COLUMN))  # type: ignore[call-overload]
            for group, part in parts.items()]


def default_key_groups(workers: int) -> int:
    """The key groups of a run on `workers` workers: KEY_GROUPS_PER_WORKER each, so a
    resume may spread them over up to that many times more workers."""
    return max(1, KEY_GROUPS_PER_WORKER * workers)


@lru_cache(maxsize=8)
def group_names(groups: int) -> tuple[str, ...]:
    """The bytewax key of each key group: on W <= 16 workers, group g is on worker g % W
    (key_group_names.py)."""
    from frys.engine.scaleout.key_group_names import NUMBERS

    return tuple(f"g{NUMBERS[g]}" if g < len(NUMBERS) else str(g) for g in range(groups))


@lru_cache(maxsize=8)
def assignment_fingerprint(groups: int) -> str:
    """What a key's group depends on: the number of groups and the hash (a probe hashed
    now), so that state kept under one assignment is never read under another."""
    probe = pl.DataFrame({"i": [0, 1, -7, 1 << 40, None], "s": ["", "a", "ÿ", "frys", None],
                          "f": [0.0, -1.5, 1e300, 2.0, None]})
    values = [key_group_column(probe, [pl.col(c)], 1 << 30).to_list() for c in probe.columns]
    digest = hashlib.sha256(repr((groups, values, group_names(groups))).encode()
                            ).hexdigest()[:16]
    return f"{groups}/{digest}"
