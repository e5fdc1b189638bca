"""W6's cost per publish: where an interval join's emission latency comes from.

    .venv/bin/python benchmarks/join_publish_times.py [--events 300000] [--batch 1000]
        [--interval-join PATH] [--paced]

The first `--events` orders and shipments of run_joins.py's W6 data (joins_w6.py), published
in `--batch`-row publishes taking turns as fast as frys takes them (unpaced), INNER and LEFT:
the wall time of each publish (p50, p99, max), and how much of it the join operator spent
in `process` (joining a batch against the other side's buffer) and in `advance` (pruning on
the watermark; LEFT: emitting the unmatched rows), mean per publish. With `--paced`, also
run_joins.py's paced latency run (W6's p50/p99 at 100k events/s offered) on the same rows.

`--interval-join PATH` runs another version of operators/interval_join.py (say
`git show <commit>:operators/interval_join.py > /tmp/old_interval_join.py`), loaded in its
place before any job is built: the same harness, before and after a change.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import polars as pl


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def quantiles(values: list[float]) -> str:
    series = pl.Series(values) * 1000
    return (f"p50 {series.quantile(0.5):6.2f}  p99 {series.quantile(0.99):6.2f}  "
            f"max {series.max():6.2f} ms")


def measure(w6, kind: str, orders: pl.DataFrame, shipments: pl.DataFrame,
            batch: int) -> None:
    pipeline = w6.W6.pipeline(kind)
    pipeline.subscribe("joined", lambda frame: None)
    operator = pipeline.runtime.queries[0].operator
    spent = {"process": 0.0, "advance": 0.0}
    for step in spent:  # time the operator's two calls, as the runner makes them
        call = getattr(operator, step)

        def timed(*args, _call=call, _step=step):
            started = time.perf_counter()
            try:
                return _call(*args)
            finally:
                spent[_step] += time.perf_counter() - started

        setattr(operator, step, timed)
    publishes: list[float] = []
    for offset in range(0, orders.height, batch):
        for name, frame in w6.W6.inputs(orders.slice(offset, batch),
                                                shipments.slice(offset, batch)):
            started = time.perf_counter()
            pipeline.publish(name, frame)
            publishes.append(time.perf_counter() - started)
    pipeline.finish()
    count = len(publishes)
    print(f"  {kind:<6} publish {quantiles(publishes)}; per publish: process "
          f"{spent['process'] / count * 1000:.2f} ms, advance "
          f"{spent['advance'] / count * 1000:.2f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--interval-join", type=Path, default=None,
                        help="an operators/interval_join.py to run instead of frys' own")
    parser.add_argument("--paced", action="store_true",
                        help="also run_joins.py's paced latency run (100k events/s)")
    args = parser.parse_args()
    if args.interval_join is not None:
        load("frys.operators.interval_join", args.interval_join)
    import joins_w6  # after the operator's stand-in: nothing of frys' joins loaded before

    orders, shipments = joins_w6.make(args.events, args.keys)
    which = args.interval_join or "operators/interval_join.py"
    print(f"W6, {args.events:,} orders + {args.events:,} shipments in unpaced publishes of "
          f"{args.batch:,} rows; interval join from {which}")
    for kind in joins_w6.KINDS:
        measure(joins_w6, kind, orders, shipments, args.batch)
        if args.paced:
            latency = joins_w6.W6.run_latency(kind, orders, shipments, 100_000, args.batch)
            print(f"  {kind:<6} paced at 100,000 events/s: p50 {latency.p50_ms:.1f} ms, p99 "
                  f"{latency.p99_ms:.1f} ms, max {latency.max_ms:.1f} ms (achieved "
                  f"{latency.achieved:,.0f})", flush=True)


if __name__ == "__main__":
    main()
