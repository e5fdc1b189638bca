"""`frys.bytewax`: a frys job as a bytewax Dataflow, for bytewax's own runner.

    python -m bytewax.run "frys.bytewax:flow('jobs/fraud.frysql')" -w 2

runs the job on bytewax as `frys run --runtime bytewax jobs/fraud.frysql -w 2` does
(docs/scale-out.md), except that each file source is read whole unless `flow` is given
`source_partitions` (`frys run` reads with as many partitions as the cluster has workers:
bytewax's runner does not tell the flow how many that is); every process of a cluster
builds the same Dataflow from the same job file. The lowering itself is
engine/scaleout/lowering.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from frys.connectors.file_partitions import DEFAULT_SPLIT_BYTES
from frys.engine.scaleout.key_groups import KEY_GROUPS


def flow(job: str | Path, *, key_groups: int = KEY_GROUPS, stats_path: str | Path | None = None,
         tagged: bool | None = None, source_partitions: int = 1,
         split_bytes: int = DEFAULT_SPLIT_BYTES, snapshotted: bool = False,
         **runtime_options: Any) -> Any:
    """The job in the file `job` as a bytewax `Dataflow`: sources as partitioned sources
    (a file of more than one stripe of `split_bytes` as up to `source_partitions`
    partitions, connectors/file_partitions.py), each stateful query as a step keyed by
    `key_groups` key groups, sinks as sinks, the rows of bare SELECTs on stdout. A resume
    (bytewax's -r) must give the same `source_partitions` and `split_bytes` as the run
    that wrote the folder; give `snapshotted=True` when the runner takes snapshots (-r):
    a broker source then acknowledges nothing before a commit, from its first delivery
    (bytewax does not tell the flow). `runtime_options`: engine.runtime.RuntimeOptions
    fields (max_partial_matches, ...). Raises FrysError for a job that does not compile or
    uses what the scale-out runtime does not run."""
    from frys.compiler import compile_text
    from frys.engine.planner import plan
    from frys.engine.runtime import RuntimeOptions
    from frys.engine.scaleout.lowering import ScaleOutOptions, lower

    path = Path(job)
    options = RuntimeOptions(**runtime_options)
    graph = plan(compile_text(path.read_text(encoding="utf-8"), str(path),
                              limits=options.limits))
    return lower(graph, path.parent, ScaleOutOptions(
        key_groups=key_groups, runtime=options,
        stats_path=Path(stats_path) if stats_path is not None else None, tagged=tagged,
        source_partitions=source_partitions, split_bytes=split_bytes,
        snapshotted=snapshotted))
