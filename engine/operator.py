"""The operator contract: what every query operator offers the runtime, and nothing more.

An operator (operators/) turns batches into output batches and moves with event time. The
runtime (engine/query_runner.py QueryRunner) calls, in any interleaving:

* `process(batch, source)`: a batch of one input stream (`source.stream`), each row judged
  under the watermark it arrived under (`source.arrivals`, see engine/channel.py Delivery);
* `advance(watermark)`: event time reached `watermark` (never called with a lower one);
  END_OF_TIME means the input ended and everything must come out;

and each returns one `Emitted`: the output rows and every side output of that call (late
events, timed-out partial matches, shed partial matches, debug traces), so the runtime
never reads or clears an operator's internals. `counters()` says what the operator counted
so far (late events, windows left short, partial matches discarded over a limit);
`snapshot()` / `restore()` take and give back its whole state as columnar tables and
scalars (`OperatorState`, versioned), what checkpoints are made of; `state_size()` is
what it holds, in bytes.

Operators are built from their plan node (engine/graph.py) and the `OperatorSettings` of
the run, by operators/registry.py; the runtime has no knowledge of operator kinds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # (only annotations: the command line reads this module's defaults)
    import polars as pl


@dataclass(frozen=True, slots=True)
class BatchSource:
    """Where a batch comes from: its input stream, the watermark each of its rows arrived
    under (None: all under the operator's current one), and the position of the input in
    the query's inputs (QueryNode.inputs; None: the operator finds it by stream name). A
    query reading one stream twice (a self-join) gets each batch once per position."""

    stream: str
    arrivals: pl.Series | None = None
    input: int | None = None
    # each row's number among the stream's events (Delivery.offsets); None: the operator
    # numbers the rows it is handed, in order (what MATCH_IDS show)
    offsets: pl.Series | None = None


@dataclass(slots=True)
class Emitted:
    """Everything one call of an operator hands out.

    rows: output batches, in order. late: the late events of the processed batch, with all
    their fields (only when the input stream has a `late` stream; otherwise they are only
    counted). timeouts: rows of partial matches that timed out (EMIT TIMEOUTS TO). overflow:
    rows of partial matches shed over a limit (the `overflow` stream, without its `query`
    column). traces: why each partial match ended (--trace-matches), as records."""

    rows: list[pl.DataFrame] = field(default_factory=list)
    late: list[pl.DataFrame] = field(default_factory=list)
    timeouts: list[pl.DataFrame] = field(default_factory=list)
    overflow: list[pl.DataFrame] = field(default_factory=list)
    traces: list[dict[str, object]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OperatorCounters:
    """What an operator counted since it started (cumulative)."""

    late_events: int = 0
    incomplete_windows: int = 0  # count windows still short at the end
    discarded_partials: int = 0  # over --max-partial-matches
    discarded_for_bytes: int = 0  # over the pattern byte budgets


# a pattern query's partial matches kept per partition, by default
DEFAULT_MAX_PARTIALS = 10_000
# byte budgets of a pattern query's state (shared buffer and partial matches)
DEFAULT_MAX_PARTITION_BYTES = 64 << 20  # per partition
DEFAULT_MAX_PATTERN_BYTES = 1 << 30  # per query, all partitions


@dataclass(frozen=True, slots=True)
class OperatorSettings:
    """The run's settings that shape operators (engine.runtime.RuntimeOptions has them
    under the same names); None: no bound."""

    max_partial_matches: int = DEFAULT_MAX_PARTIALS
    max_pattern_bytes_per_partition: int | None = DEFAULT_MAX_PARTITION_BYTES
    max_pattern_bytes: int | None = DEFAULT_MAX_PATTERN_BYTES
    trace_matches: bool = False


@dataclass(frozen=True, slots=True)
class OperatorState:
    """An operator's state between two calls, columnar: tables (polars DataFrames, to be
    written as Arrow IPC) and scalars, tagged with the operator's kind and the version of
    its layout; `restore` refuses a state of another kind or version rather than guess."""

    kind: str
    version: int
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    scalars: dict[str, int | None] = field(default_factory=dict)

    def check(self, kind: str, version: int) -> None:
        if (self.kind, self.version) != (kind, version):
            raise ValueError(f"cannot restore a {self.kind} state of layout version "
                             f"{self.version} into a {kind} operator of version {version}")

    def size(self) -> int:
        """Bytes its tables take (polars' estimate) plus 8 per scalar."""
        return (sum(int(t.estimated_size()) for t in self.tables.values())
                + 8 * len(self.scalars))


class Operator(Protocol):
    def wants_arrivals(self, rows: int) -> bool:
        """True: give `process` the arrival watermarks of a batch of `rows` rows even when
        no row is behind its own (an operator that moves event time inside a big batch)."""
        ...

    def process(self, batch: pl.DataFrame, source: BatchSource) -> Emitted: ...

    def advance(self, watermark: int) -> Emitted: ...

    def counters(self) -> OperatorCounters: ...

    def snapshot(self) -> OperatorState:
        """The state as of now (between calls); the operator goes on unchanged. An
        operator built from the same plan node and restored from it continues exactly as
        this one would, output and counters alike."""
        ...

    def restore(self, state: OperatorState) -> None:
        """Take over a snapshot's state (on a freshly built operator)."""
        ...

    def state_size(self) -> int:
        """Bytes of state held now (an estimate), for budgets and metrics."""
        ...


class SideOutputs:
    """The plumbing operators share: side outputs gathered during a call (`pending`), then
    handed out with the call's rows as one Emitted (`emit`)."""

    pending: Emitted

    def emit(self, rows: list[pl.DataFrame]) -> Emitted:
        out = self.pending
        out.rows.extend(rows)
        self.pending = Emitted()
        return out
