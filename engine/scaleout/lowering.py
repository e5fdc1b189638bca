"""A JobGraph lowered onto a bytewax Dataflow (docs/scale-out.md).

* every source becomes a bytewax partitioned source (engine/scaleout/io.py), one producer
  of its stream;
* every stateful query becomes a router (each row to the key group of its key,
  operators/partitioning.py; each watermark MARK and END to every key group) and a
  bytewax stateful step keyed by key group (engine/scaleout/group_step.py); a query
  without keys is one group, gathered on one worker;
* a stateless filter/projection runs inside every step producing its input (no
  exchange, no step of its own; its clocks in that step's snapshot: chained.py);
* every sink and the rows of each bare SELECT become a bytewax sink of one partition;
* every item is `(stream, envelope)` (engine/scaleout/inband.py): a columnar batch of one
  producer (never one event per item), or its watermark, or its end.

The producers of each stream are numbered here, before any step is built, so that every
step reading a stream knows all of them and takes the minimum of their watermarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from frys.connectors import registry
from frys.connectors.file_partitions import DEFAULT_SPLIT_BYTES
from frys.dsl.analyzed import DEAD_LETTERS, OVERFLOW, StreamDef
from frys.dsl.errors import FrysError
from frys.engine.graph import JobGraph, PatternMatchSpec, QueryNode, TableJoinSpec
from frys.engine.query_runner import query_names
from frys.engine.runtime import (
    DEFAULT_OPTIONS,
    RuntimeOptions,
    job_fingerprint,
    job_name_of,
    operator_settings,
)
from frys.engine.scaleout.chained import ChainedQuery, Chains
from frys.engine.scaleout.group_step import GroupPlan, builder
from frys.engine.scaleout.inband import ROWS, STATS, Item, ProducerSpec, routed_offsets
from frys.engine.scaleout.io import (
    ENCODED,
    FrysSink,
    FrysSource,
    SinkPlan,
    SourcePlan,
    StatsSink,
)
from frys.engine.scaleout.key_groups import (
    KEY_GROUPS,
    assignment_fingerprint,
    group_names,
    split_by_key_group,
)
from frys.engine.scaleout.key_shares import MAX_SHARES, KeyShare, shares
from frys.operators.registry import partition_keys

OWN = "__frys_own_watermark"
OFFSETS = "__frys_offset"


@dataclass(frozen=True)
class ScaleOutOptions:
    """Settings of a scale-out run beyond the embedded runtime's (RuntimeOptions)."""

    key_groups: int = KEY_GROUPS
    runtime: RuntimeOptions = DEFAULT_OPTIONS
    # where the run's counters go at the end (JSON; the summary of `frys run`), or None
    stats_path: Path | None = None
    # the rows of bare SELECTs: tagged with their query's name ("_query"), as `frys run
    # --format tagged`; None: tagged when the job has several
    tagged: bool | None = None
    # the job's file sources of more than one stripe of `split_bytes` are read by up to
    # `source_partitions` partitions in all, in parallel, stripes dealt round robin
    # (connectors/file_partitions.py, source_partitions), each a producer of its stream;
    # 1: every source whole. `frys run` reads with as many as the cluster has workers
    source_partitions: int = 1
    split_bytes: int = DEFAULT_SPLIT_BYTES
    # per source URI, the partitions to read it as instead (a resumed run: the ones its
    # recovery folder's positions were kept under, cluster.check_recovery)
    recovered_parts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # this process's index and the cluster's number of processes, when it is one process of
    # several (-p, -a): each source of one partition is then listed by one process only
    # (`home_process`), so that bytewax, which gives every such partition to the first
    # worker that lists it, does not put every whole file on process 0 while the others
    # only get routed rows
    process: tuple[int, int] | None = None
    # a resumed run: per sink URI, the writers its recovery folder kept (a sink it does
    # not name had one); None: a fresh run, where a shared sink (a folder of part files)
    # gets one writer per process
    recovered_writers: dict[str, int] | None = None
    # the workers of each process (-w): which process holds a key group (key_shares.py)
    threads: int = 1
    # the run takes recovery snapshots (-r): each source starts as a checkpointed one
    # (io.SourcePartition), as a run of the embedded runtime on --state takes a
    # checkpoint before it reads anything
    snapshotted: bool = False

    @property
    def processes(self) -> int:
        """The cluster's processes (1: this one alone)."""
        return self.process[1] if self.process is not None else 1

    def sink_writers(self, uri: str) -> int:
        """The writers of the sink of `uri` (SinkPlan.writers)."""
        if self.recovered_writers is not None:
            return self.recovered_writers.get(uri, 1)
        shared = registry.connector_for(uri).shared_sink
        return self.processes if shared is not None and shared(uri) else 1


@dataclass
class _Lowering:
    graph: JobGraph
    base_dir: Path
    options: ScaleOutOptions
    flow: Dataflow
    producers: dict[str, list[ProducerSpec]] = field(default_factory=dict)
    parts: dict[str, list[Stream[Item]]] = field(default_factory=dict)
    stats: list[Stream[Item]] = field(default_factory=list)
    # the stateless queries, run in the steps that produce their inputs (chained.py)
    chains: Chains = field(default_factory=Chains)
    steps: int = 0
    homes: int = 0  # sources placed so far (`listed`)

    def step(self, kind: str) -> str:
        self.steps += 1
        return f"{kind}{self.steps}"

    def listed(self, partitions: int) -> bool:
        """Whether this process lists a source of `partitions` partitions: several are for
        bytewax to spread; one alone goes to the next process in turn."""
        if self.options.process is None or partitions > 1:
            return True
        index, processes = self.options.process
        self.homes += 1
        return home_process(self.homes - 1, processes) == index


def lower(graph: JobGraph, base_dir: Path,
          options: ScaleOutOptions = ScaleOutOptions()) -> Dataflow:
    """The job as a bytewax Dataflow; FrysError (at the construct) for what the scale-out
    runtime does not run."""
    refuse_unsupported(graph)
    job_name = options.runtime.job_name or job_name_of(graph.source_name)
    flow = Dataflow(f"frys_{''.join(c if c.isalnum() else '_' for c in job_name)}")
    low = _Lowering(graph, base_dir, options, flow,
                    producers={name: [] for name in graph.topics},
                    parts={name: [] for name in graph.topics})
    order = _dependency_order(graph)
    names = query_names(graph)
    job = job_fingerprint(graph)  # in every snapshot: a changed job is refused its state
    # 1. number every stream's producers
    source_plans = []
    share_keys = key_shared_sources(graph, base_dir, options)
    partitions = source_partitions(
        graph, base_dir, options.source_partitions, options.split_bytes,
        options.recovered_parts,
        {uri: shares(options.processes, options.threads, options.key_groups)
         for uri in share_keys})
    for source in graph.sources:
        stream = graph.topics[source.topic]
        connector = registry.connector_for(source.uri)
        parts = partitions[source.uri]
        kept_by = share_keys.get(source.uri)
        producers, dead = [], []
        for part in parts:
            named = f"source {source.uri}" + (f" [{part}]" if len(parts) > 1 else "")
            producers.append(_add(low, source.topic, ProducerSpec(
                named, connector.unbounded, stream.is_table, KeyShare.parse(part))))
            dead.append(_add(low, DEAD_LETTERS, ProducerSpec(f"{named} (dead letters)",
                                                             lazy=True)))
        source_plans.append(SourcePlan(source.uri, stream, graph.topics[DEAD_LETTERS],
                                       tuple(parts), tuple(producers), tuple(dead), base_dir,
                                       job_name, graph.source_name, stream.is_table, job,
                                       # (key shares: each process lists its own)
                                       kept_by is not None or low.listed(len(parts)),
                                       options.process, tuple(kept_by or ()),
                                       options.key_groups, low.chains,
                                       options.snapshotted))
    group_plans: dict[int, GroupPlan | tuple[QueryNode, int, str]] = {}
    settings = operator_settings(options.runtime)
    for node in order:
        name = names[node.index, node.stage]
        keys = partition_keys(node.operator, node.inputs)
        if keys is None:  # stateless: one output producer per input producer
            first = len(low.producers[node.output_topic])
            for producer in low.producers[node.inputs[0]]:
                _add(low, node.output_topic, ProducerSpec(f"{name} <- {producer.name}",
                                                          producer.lazy,
                                                          producer.loads_table))
            group_plans[id(node)] = (node, first, name)
            continue
        keyed = any(keys)
        groups = options.key_groups if keyed else 1
        late_targets = node.operator.late_targets(node.inputs)
        writes: dict[str, tuple[StreamDef, int]] = {}
        for target in _written_by(node):
            first = len(low.producers[target])
            lazy = target != node.output_topic
            for group in range(groups):
                _add(low, target, ProducerSpec(f"{name} [key group {group}]", lazy))
            writes[target] = (graph.topics[target], first)
        table_first = None
        if isinstance(node.operator, TableJoinSpec) and not node.operator.versioned:
            table_first = node.operator.table.table
        group_settings = settings
        if keyed and settings.max_pattern_bytes is not None:
            # the byte budget of a whole pattern query, shared by its key groups: each
            # gets its part, so the query's state stays within it as on one process
            group_settings = replace(settings, max_pattern_bytes=max(
                1, settings.max_pattern_bytes // groups))
        group_plans[id(node)] = GroupPlan(
            node, name, {}, writes, keyed, group_settings,
            assignment_fingerprint(groups), job, table_first, late_targets, low.chains)
    # 2. build the steps, writers before readers
    for source_plan in source_plans:
        items = op.input(low.step("source"), flow, FrysSource(source_plan))
        for name in (source_plan.stream.name, DEAD_LETTERS):
            low.parts[name].append(items)
        low.stats.append(items)
    for node in order:
        query_plan = group_plans[id(node)]
        if isinstance(query_plan, tuple):
            _stateless(low, *query_plan, settings)
        else:
            keys = partition_keys(node.operator, node.inputs)
            assert keys is not None
            _keyed(low, query_plan, keys)
    tagged = options.tagged
    if tagged is None:
        tagged = sum(1 for node in graph.queries if node.to_caller) > 1
    for sink in graph.sinks:
        if not options.runtime.open_sinks and registry.connector_for(sink.uri).writes_outside:
            continue
        _sink(low, sink.topic, SinkPlan(sink.uri, graph.topics[sink.topic], base_dir,
                                        job_name, graph.source_name,
                                        writers=options.sink_writers(sink.uri),
                                        process=options.process))
    for node in graph.queries:
        if node.to_caller:
            _sink(low, node.output_topic,
                  SinkPlan(None, graph.topics[node.output_topic], base_dir, job_name,
                           graph.source_name, node.output_topic if tagged else None))
    if options.stats_path is not None and low.stats:
        stats = _select(low, STATS, low.stats)
        if stats is not None:
            op.output(low.step("summary"), op.map(low.step("summary_key"), stats, _to_sink),
                      StatsSink(options.stats_path, tuple(graph.topics)))
    return flow


def home_process(placed: int, processes: int) -> int:
    """The process that lists the `placed`-th source of one partition: round robin. Sinks
    are left where bytewax puts a partition every process lists (process 0): with the
    first source's process writing the sink, rows cross between the processes both ways;
    a sink on another process than W2's one source made every crossing go one way and
    cost 20% (W2 from Arrow, 8M events, -p 2: 2.5 s against 2.05 s)."""
    return placed % processes


def source_partitions(graph: JobGraph, base_dir: Path, count: int, split_bytes: int,
                      recovered: dict[str, tuple[str, ...]] | None = None,
                      shared: dict[str, tuple[str, ...]] | None = None
                      ) -> dict[str, tuple[str, ...]]:
    """Per source URI, the partitions it is read as (registry.Connector.partitions, stripes of
    about `split_bytes`; ("all",): the whole source), or the ones `recovered` names for it,
    or, for a fresh run, its key shares in `shared` (key_shares.py). The job's splittable
    sources share `count` partitions: each is read by count // (their number) of them, at
    least one. Two files on two workers are read whole, one by each process
    (_Lowering.listed), rather than both in halves: every partition is one more producer
    whose watermark each key group waits for, and a join of two files split in two ran at
    0.88x one process where reading them whole ran at 1.21x (W6 from JSON Lines, 8M events)."""
    splittable = [source for source in graph.sources
                  if registry.connector_for(source.uri).partitions is not None
                  and not graph.topics[source.topic].is_table]
    each = max(1, count // max(1, len(splittable)))
    parts: dict[str, tuple[str, ...]] = {}
    for source in graph.sources:
        split = registry.connector_for(source.uri).partitions
        parts[source.uri] = ("all",)
        if recovered and source.uri in recovered:
            parts[source.uri] = recovered[source.uri]
        elif shared and source.uri in shared:
            parts[source.uri] = shared[source.uri]
        # (a table is read by one partition: its rows are upserts in file order)
        elif each > 1 and source in splittable and split is not None:
            parts[source.uri] = tuple(split(source.uri, base_dir, each, split_bytes))
    return parts


def key_shared_sources(graph: JobGraph, base_dir: Path, options: ScaleOutOptions
                       ) -> dict[str, list[pl.Expr]]:
    """Per source URI read as key shares (engine/scaleout/key_shares.py), the keys its
    rows are kept by: a source that costs little to read whole (registry.Connector.
    rereadable), of a stream every query reading it keys the same way, in a cluster of
    2 to MAX_SHARES processes reading its sources in parallel (source_partitions above 1); and
    any source a resumed run recorded as shares, whose rows must be kept the same way."""
    fresh = 1 < options.processes <= MAX_SHARES and options.source_partitions > 1
    keyed: dict[str, list[pl.Expr]] = {}
    for source in graph.sources:
        recovered = options.recovered_parts.get(source.uri)
        if recovered is not None:
            if not any(KeyShare.parse(part) for part in recovered):
                continue
        elif not fresh:
            continue
        else:
            rereadable = registry.connector_for(source.uri).rereadable
            if (rereadable is None or graph.topics[source.topic].is_table
                    or not rereadable(source.uri, base_dir)):
                continue
        keys = _common_keys(graph, source.topic)
        if keys is not None:
            keyed[source.uri] = keys
        elif recovered is not None:
            raise FrysError.at(
                f"--runtime bytewax: the recovered run read {source.uri} as key shares, "
                f"and stream {source.topic} is no longer read by queries of one key",
                graph.topics[source.topic].span, graph.source_name)
    return keyed


def _common_keys(graph: JobGraph, stream: str) -> list[pl.Expr] | None:
    """The keys every query reading `stream` routes its rows by, when they are the same
    and there are some; else None (a stateless query reading it, a global aggregate,
    queries of different keys, no query)."""
    common: list[pl.Expr] | None = None
    for node in graph.queries:
        if stream not in node.inputs:
            continue
        keys = partition_keys(node.operator, node.inputs)
        if keys is None or not any(keys):
            return None
        for name, stream_keys in zip(node.inputs, keys, strict=True):
            if name != stream:
                continue
            if not stream_keys:
                return None
            if common is None:
                common = stream_keys
            elif [str(k) for k in common] != [str(k) for k in stream_keys]:
                return None
    return common


def _add(low: _Lowering, stream: str, producer: ProducerSpec) -> int:
    low.producers[stream].append(producer)
    return len(low.producers[stream]) - 1


def _written_by(node: QueryNode) -> list[str]:
    """The streams a stateful query writes, once each: its output, its inputs' late
    streams, its timeouts stream, `overflow` for a pattern."""
    targets = [node.output_topic, *node.operator.late_targets(node.inputs).values()]
    if node.operator.timeouts_stream is not None:
        targets.append(node.operator.timeouts_stream)
    if isinstance(node.operator, PatternMatchSpec):
        targets.append(OVERFLOW)
    return list(dict.fromkeys(targets))


def _dependency_order(graph: JobGraph) -> list[QueryNode]:
    """The queries, each after every query writing one of its inputs (the graph has no
    loops: dsl/stream_graph.py refuses them)."""
    writers: dict[str, list[QueryNode]] = {}
    for node in graph.queries:
        for target in _written_by(node):
            writers.setdefault(target, []).append(node)
    order: list[QueryNode] = []
    seen: set[int] = set()

    def visit(node: QueryNode) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        for stream in node.inputs:
            for writer in writers.get(stream, []):
                visit(writer)
        order.append(node)

    for node in graph.queries:
        visit(node)
    return order


def _is_stream(stream: str, item: Item) -> bool:
    return item[0] == stream


def _select(low: _Lowering, stream: str, parts: list[Stream[Item]]) -> Stream[Item] | None:
    """The items of `stream` among the parts that may carry it, as one bytewax stream."""
    selected = [op.filter(low.step(f"only_{_safe(stream)}_"), part, partial(_is_stream, stream))
                for part in dict.fromkeys(parts)]
    if not selected:
        return None
    return selected[0] if len(selected) == 1 else op.merge(low.step("merge"), *selected)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def _inputs(low: _Lowering, node: QueryNode) -> Stream[Item] | None:
    streams = [s for s in (_select(low, name, low.parts[name])
                           for name in dict.fromkeys(node.inputs)) if s is not None]
    if not streams:
        return None
    return streams[0] if len(streams) == 1 else op.merge(low.step("merge"), *streams)


def _stateless(low: _Lowering, node: QueryNode, first: int, name: str, settings: Any
               ) -> None:
    """A stateless query runs in every step that produces its input (chained.py): its
    rows leave with that step's, on the same bytewax streams."""
    low.chains.add(ChainedQuery(node, name, low.graph.topics[node.output_topic], first,
                                settings))
    low.parts[node.output_topic].extend(low.parts[node.inputs[0]])


class Router:
    """Each item of a query's inputs to its key groups: a batch's rows by the hash of
    their key (each group's rows with their `own` watermarks), every other envelope to
    every group; the value carries its group (GroupLogic learns its key from it)."""

    def __init__(self, keys: dict[str, list[pl.Expr]], groups: int, keyed: bool,
                 numbered: dict[str, int] | None = None,
                 producers: dict[str, list[ProducerSpec]] | None = None) -> None:
        self.keys = keys
        self.groups = groups
        self.keyed = keyed
        # per input stream, its number of producers, when the query numbers its events
        # (a pattern's MATCH_IDS): rows then carry their numbers (inband.routed_offsets)
        self.numbered = numbered or {}
        self.names = group_names(groups)
        every = list(enumerate(self.names))
        # per input stream and producer, the groups its marks and end go to: a key share's
        # only to the groups it feeds (the others do not wait for it: InputClock), every
        # other producer's to every group
        self.reach = {stream: [every if spec.share is None else
                               [(g, name) for g, name in every if spec.share.serves(g)]
                               for spec in specs]
                      for stream, specs in (producers or {}).items()}

    def __call__(self, item: Item) -> list[tuple[str, tuple[int, str, Any]]]:
        stream, envelope = item
        if envelope[0] != ROWS:
            if not self.keyed:
                return [("0", (0, stream, envelope))]
            reach = self.reach.get(stream)
            groups = reach[envelope[1]] if reach else enumerate(self.names)
            return [(name, (g, stream, envelope)) for g, name in groups]
        _, producer, batch, own, first = envelope
        offsets = None
        if stream in self.numbered:
            offsets = routed_offsets(batch, producer, first, self.numbered[stream])
        if not self.keyed:
            return [("0", (0, stream, (ROWS, producer, batch, own, offsets)))]
        extra = {}
        if own is not None:
            extra[OWN] = own
        if offsets is not None:
            extra[OFFSETS] = offsets
        if extra:
            batch = batch.with_columns(series.alias(name) for name, series in extra.items())
        routed = []
        for group, part in split_by_key_group(batch, self.keys[stream], self.groups):
            part_own = part[OWN] if own is not None else None
            part_offsets = part[OFFSETS] if offsets is not None else None
            if extra:
                part = part.drop(*extra)
            routed.append((self.names[group],
                           (group, stream, (ROWS, producer, part, part_own, part_offsets))))
        return routed


def _keyed(low: _Lowering, plan: GroupPlan, keys: list[list[pl.Expr]]) -> None:
    node = plan.node
    plan.inputs = {name: (low.graph.topics[name], list(low.producers[name]))
                   for name in dict.fromkeys(node.inputs)}
    items = _inputs(low, node)
    if items is None:
        return
    by_stream: dict[str, list[pl.Expr]] = {}
    for stream, stream_keys in zip(node.inputs, keys, strict=True):
        by_stream.setdefault(stream, stream_keys)
    numbered = None
    if isinstance(node.operator, PatternMatchSpec):
        numbered = {name: len(producers) for name, (_, producers) in plan.inputs.items()}
    routed = op.flat_map(low.step("route"), items,
                         Router(by_stream, low.options.key_groups, plan.keyed, numbered,
                                {name: producers
                                 for name, (_, producers) in plan.inputs.items()}))
    out = op.stateful_batch(low.step("query"), routed, builder(plan))
    values = op.map(low.step("values"), out, _value)
    for target in plan.writes:
        low.parts[target].append(values)
    low.stats.append(values)


def _value(keyed: tuple[str, Item]) -> Item:
    return keyed[1]


def _to_sink(item: Item) -> tuple[str, Any]:
    return ("0", item[1])


class _ToWriter:
    """An item to the sink partition that writes it: an opener to the writer it opens,
    rows to this process's own writer (`local`; "0" for a single writer), so that they
    do not cross processes; rows bound for a single writer go encoded when the sink's
    connector encodes batch by batch (SinkPlan.row_encoder), so that the process writing
    them does not encode every row of the cluster."""

    def __init__(self, plan: SinkPlan) -> None:
        self.local = plan.local_writer
        self.encode = plan.row_encoder()

    def __call__(self, item: Item) -> tuple[str, Any]:
        envelope = item[1]
        if envelope[0] == OPEN:
            return envelope[1], envelope
        if self.encode is not None and envelope[0] == ROWS:
            batch = envelope[2]
            return self.local, (ENCODED, self.encode(batch), batch.height)
        return self.local, envelope


def _sink(low: _Lowering, stream: str, plan: SinkPlan) -> None:
    items = _select(low, stream, low.parts[stream])
    if items is None or plan.writers > 1:
        # every writer is opened, whether rows come or not (bytewax builds a sink's
        # partition at its first item): the sink is opened as the embedded runtime opens
        # it (an empty file when nothing writes the stream), and each writer of a shared
        # sink clears its earlier parts, or recovers its share on a resume
        openers = op.input(low.step("open"), low.flow, _Openers(plan))
        items = openers if items is None else op.merge(low.step("merge"), items, openers)
    op.output(low.step("sink"), op.map(low.step("sink_key"), items, _ToWriter(plan)),
              FrysSink(plan))


OPEN = "open"  # an opener's envelope: (OPEN, the partition it opens)


class _Openers(FixedPartitionedSource):  # type: ignore[type-arg]
    """One opener per writer of a sink, on the writer's own process."""

    def __init__(self, plan: SinkPlan) -> None:
        self.plan = plan

    def list_parts(self) -> list[str]:
        return self.plan.own_parts()

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _Opener:
        return _Opener(for_part)


class _Opener(StatefulSourcePartition):  # type: ignore[type-arg]
    """One envelope that is no rows but opens sink partition `part`, then the end."""

    def __init__(self, part: str) -> None:
        self.part = part
        self.sent = False

    def next_batch(self) -> list[Item]:
        if self.sent:
            raise StopIteration
        self.sent = True
        return [("", (OPEN, self.part))]

    def snapshot(self) -> None:
        return None


def refuse_unsupported(graph: JobGraph) -> None:
    """FrysError at the first construct the scale-out runtime does not run, with why."""
    def refuse(message: str, stream: StreamDef) -> None:
        raise FrysError.at(f"--runtime bytewax: {message}", stream.span, graph.source_name)

    for connector in (*graph.sources, *graph.sinks):
        if registry.connector_for(connector.uri).unbounded:
            refuse(f"{connector.uri}: a push source lives in one process (the in-process "
                   "bus); run this job on the embedded runtime", graph.topics[connector.topic])
    for stream in graph.topics.values():
        if stream.queue == "persistent":
            refuse(f"stream {stream.name} is persistent: its log belongs to one process; "
                   "write it with a wal: sink and read it with a wal: source instead", stream)
        if stream.max_future_ms is not None:
            refuse(f"stream {stream.name} has max_future, which judges each event against "
                   "the whole stream's watermark as it arrives: not yet on this runtime",
                   stream)
    for node in graph.queries:
        keys = partition_keys(node.operator, node.inputs)
        if keys is None:
            continue
        seen: dict[str, list[pl.Expr]] = {}
        for name, stream_keys in zip(node.inputs, keys, strict=True):
            if name in seen and [str(k) for k in seen[name]] != [str(k) for k in stream_keys]:
                refuse(f"a join of stream {name} with itself on different keys routes its "
                       "rows two ways: not yet on this runtime", graph.topics[name])
            seen[name] = stream_keys
