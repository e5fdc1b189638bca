"""Where the scale-out runtime's work lands: key groups spread evenly over bytewax's
workers (engine/scaleout/key_group_names.py), whatever their number, and the cores shared
out among the polars thread pools of a -p cluster's processes, and the whole files among
the processes, and the encoding of a single writer's rows on the processes that made
them."""

from __future__ import annotations

import os
import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar

import bytewax.operators as op
import polars as pl
import pytest
from bytewax.dataflow import Dataflow
from bytewax.run import cli_main
from bytewax.testing import TestingSource

from frys.compiler import compile_text
from frys.connectors.jsonl import JsonlWriter
from frys.engine.planner import plan
from frys.engine.scaleout.cluster import POLARS_THREADS_ENV, run_processes
from frys.engine.scaleout.inband import ROWS
from frys.engine.scaleout.io import (
    ENCODED,
    FrysSink,
    FrysSource,
    SinkPartition,
    SinkPlan,
    StdoutPartition,
)
from frys.engine.scaleout.key_group_names import MODULUS, NUMBERS, bytewax_worker, siphash13
from frys.engine.scaleout.key_groups import group_names
from frys.engine.scaleout.lowering import ScaleOutOptions, _ToWriter, lower


def test_siphash13_is_rusts_default_hasher() -> None:
    # reference values of SipHash-1-3 with the zero key (Rust's DefaultHasher::new())
    assert siphash13(b"") == 0xD1FBA762150C532C
    # where bytewax 0.21 put the keys "0".."15" (the names before these) on two workers
    assert [g for g in range(16) if bytewax_worker(str(g), 2) == 0] == [4, 5, 11, 12, 13, 15]


def test_every_name_hashes_to_its_group() -> None:
    for group, number in enumerate(NUMBERS):
        assert siphash13(b"g%d\xff" % number) % MODULUS == group
    assert len(set(NUMBERS)) == len(NUMBERS)


@pytest.mark.parametrize("groups", [3, 8, 16, 128, 1024])
@pytest.mark.parametrize("workers", [2, 3, 4, 5, 8, 16])
def test_groups_are_spread_round_robin(groups: int, workers: int) -> None:
    names = group_names(groups)
    assert [bytewax_worker(name, workers) for name in names] \
        == [g % workers for g in range(groups)]


class _Where(op.StatefulBatchLogic):  # type: ignore[misc,type-arg]
    seen: ClassVar[dict[int, set[str]]] = defaultdict(set)

    def on_batch(self, values: list[Any]) -> tuple[list[Any], bool]:
        _Where.seen[threading.get_ident()].update(values)
        return [], False

    def snapshot(self) -> None:
        return None


@pytest.mark.parametrize("workers", [2, 4])
def test_bytewax_runs_each_worker_an_equal_share(workers: int) -> None:
    """The hash above is bytewax's: a real run puts 16 groups 16/W to a worker."""
    _Where.seen.clear()
    names = group_names(16)
    flow = Dataflow("placement")
    keyed = op.input("in", flow, TestingSource([(name, name) for name in names]))
    op.inspect("out", op.stateful_batch("where", keyed, lambda _resume: _Where()))
    cli_main(flow, workers_per_process=workers)
    shares = sorted(sorted(names.index(n) for n in got) for got in _Where.seen.values())
    assert shares == sorted([g for g in range(16) if g % workers == w]
                            for w in range(workers))


@pytest.mark.parametrize("preset", [None, "3"])
def test_local_processes_share_the_cores_in_polars_pools(
        capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        preset: str | None) -> None:
    """Each process of a -p cluster sizes polars' thread pool to its share of the cores
    (P pools of every core would fight over them); a POLARS_MAX_THREADS set is kept."""
    if preset is None:
        monkeypatch.delenv(POLARS_THREADS_ENV, raising=False)
    else:
        monkeypatch.setenv(POLARS_THREADS_ENV, preset)
    run_processes(lambda i, _addresses: [
        sys.executable, "-c", f"import os; print('{i}', os.environ['{POLARS_THREADS_ENV}'])"], 2)
    printed = sorted(capfd.readouterr().out.split("\n"))[1:]
    share = str(max(1, len(os.sched_getaffinity(0)) // 2)) if preset is None else preset
    assert printed == [f"0 {share}", f"1 {share}"]


def test_whole_sources_are_spread_over_the_processes(tmp_path: Path) -> None:
    """bytewax gives a partition to the first worker listing it: each source of one
    partition is listed by one process of a cluster, in turn, so process 0 does not read
    every whole file; the sink is every process's (bytewax puts it on process 0)."""
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.jsonl").write_text('{"k": 1, "ts": 0}\n')
    job = tmp_path / "job.frysql"
    job.write_text("".join(
        f"CREATE STREAM {name} (k INT, ts TIMESTAMP) WITH (event_time = ts, "
        f"source = 'file:{name}.jsonl');\n" for name in ("a", "b", "c")) +
        "CREATE STREAM out WITH (sink = 'file:out.jsonl');\n"
        "INSERT INTO out SELECT k, COUNT(*) AS n FROM a GROUP BY k, TUMBLE(1 SECOND);\n")
    graph = plan(compile_text(job.read_text(), str(job)))
    listed = {process: _listed(lower(graph, tmp_path, ScaleOutOptions(process=(process, 2))))
              for process in range(2)}
    # in the flow's order: sources a, b, c (processes 0, 1, 0), the sink
    assert listed[0] == [("FrysSource", ["all"]), ("FrysSource", []),
                         ("FrysSource", ["all"]), ("FrysSink", ["0"])]
    assert listed[1] == [("FrysSource", []), ("FrysSource", ["all"]),
                         ("FrysSource", []), ("FrysSink", ["0"])]
    # one process alone lists everything
    assert all(parts for _, parts in _listed(lower(graph, tmp_path, ScaleOutOptions())))


def _listed(flow: Any) -> list[tuple[str, list[str]]]:
    """The frys sources and sinks of a lowered flow, in its order, with the partitions
    this process lists of each."""
    found: list[tuple[str, list[str]]] = []
    for step in flow.substeps:
        connector = getattr(step, "source", None) or getattr(step, "sink", None)
        if isinstance(connector, (FrysSource, FrysSink)):
            found.append((type(connector).__name__, connector.list_parts()))
    return found


ROWS_OUT = pl.DataFrame({"k": [1, 2], "n": [3, 4], "window_start": [0, 1000]}).with_columns(
    pl.col("window_start").cast(pl.Datetime("ms", "UTC")))


def _sink_plan(tmp_path: Path, uri: str | None, writers: int = 1,
               tag: str | None = None) -> SinkPlan:
    job = tmp_path / "job.frysql"
    job.write_text("CREATE STREAM out (k INT, n INT, window_start TIMESTAMP);\n")
    graph = plan(compile_text(job.read_text(), str(job)))
    return SinkPlan(uri, graph.topics["out"], tmp_path, "job", str(job), stdout_tag=tag,
                    writers=writers, process=(1, 2))


def _written(write: Any, rows: pl.DataFrame) -> bytes:
    import io

    stream = io.BytesIO()
    write(JsonlWriter(stream, close_at_end=False), rows)
    return stream.getvalue()


def test_rows_for_one_json_lines_writer_travel_encoded(tmp_path: Path) -> None:
    """A JSON Lines file has one writer (process 0): the process that made the rows
    encodes them, and the writer appends the bytes, the same file as writing the rows."""
    to_writer = _ToWriter(_sink_plan(tmp_path, "file:out.jsonl"))
    key, envelope = to_writer(("out", (ROWS, 0, ROWS_OUT, None, None)))
    assert key == "0" and envelope[0] == ENCODED and envelope[2] == 2
    assert envelope[1] == _written(JsonlWriter.write, ROWS_OUT)
    partition = SinkPartition(_sink_plan(tmp_path, "file:out.jsonl"), None)
    partition.write_batch([envelope, envelope])
    partition.close()
    assert (tmp_path / "out.jsonl").read_bytes() == 2 * envelope[1]
    assert pl.read_ndjson(tmp_path / "out.jsonl")["k"].to_list() == [1, 2, 1, 2]


def test_rows_of_a_bare_select_travel_encoded_with_their_tag(tmp_path: Path) -> None:
    to_writer = _ToWriter(_sink_plan(tmp_path, None, tag="q"))
    _, envelope = to_writer(("out", (ROWS, 0, ROWS_OUT, None, None)))
    tagged = ROWS_OUT.select(pl.lit("q").alias("_query"), pl.all())
    assert envelope[:1] == (ENCODED,) and envelope[1] == _written(JsonlWriter.write, tagged)
    import io

    stream = io.BytesIO()
    StdoutPartition(stream).write_batch([envelope])
    assert stream.getvalue() == envelope[1]


@pytest.mark.parametrize(("uri", "writers"), [("file:out.parquet", 2), ("file:out.csv", 1)])
def test_rows_stay_batches_where_the_sink_does_not_encode_them_alone(
        tmp_path: Path, uri: str, writers: int) -> None:
    """A folder of part files is written where the rows are (no crossing to encode for);
    a CSV file's header makes its encoding not one of each batch alone."""
    rows = (ROWS, 0, ROWS_OUT, None, None)
    key, envelope = _ToWriter(_sink_plan(tmp_path, uri, writers))(("out", rows))
    assert envelope is rows and key == ("0001" if writers == 2 else "0")
