"""Key shares (engine/scaleout/key_shares.py): on a cluster of processes, a source that
costs little to read whole (an Arrow IPC file) is read by every process, each keeping the
rows of its own key groups. What must hold: every key group is fed by exactly one share;
only the sources of streams every reader keys the same way are read so; each share's
watermark is taken over every row it read; a key group waits for no share but its own;
and a `-p 2` run gives the embedded runtime's rows, counters and dead letters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scaleout_helpers import assert_same_outputs, bytewax, write_template
from test_scaleout import T0, events

from frys.compiler import compile_text
from frys.engine.planner import plan
from frys.engine.scaleout.inband import END, MARK, ROWS, InputClock, ProducerClock, ProducerSpec
from frys.engine.scaleout.io import FrysSource
from frys.engine.scaleout.key_groups import key_group_column
from frys.engine.scaleout.key_shares import MAX_SHARES, KeyShare, listed_by, shares
from frys.engine.scaleout.lowering import Router, ScaleOutOptions, lower

pytest.importorskip("bytewax")


def write_arrow(path: Path, rows: list[dict[str, Any]], batch_rows: int = 40) -> None:
    """`rows` as an Arrow IPC file of record batches of `batch_rows` rows (ts in epoch ms
    as a UTC timestamp)."""
    frame = pl.DataFrame(rows).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))
    table = frame.to_arrow()
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=batch_rows)


# ------------------------------------------------------------------ the shares themselves


@given(processes=st.integers(1, 8), threads=st.integers(1, 4), groups=st.integers(1, 64))
def test_every_key_group_is_kept_by_exactly_one_share(processes: int, threads: int,
                                                       groups: int) -> None:
    named = shares(processes, threads, groups)
    parsed = [KeyShare.parse(name) for name in named]
    assert all(share is not None and share.name == name
               for share, name in zip(parsed, named, strict=True))
    for group in range(groups):
        assert sum(1 for share in parsed if share is not None and share.serves(group)) == 1
    # each share keeps the groups of the process it is named for: on W <= 16 workers,
    # key group g is on worker g % W (key_group_names.py), and worker w on process w // t
    if processes * threads <= 16 and len(named) == processes:
        for group in range(groups):
            worker = group % (processes * threads)
            assert [s.index for s in parsed if s is not None and s.serves(group)] == [
                worker // threads]


def test_a_share_keeps_the_rows_of_its_key_groups() -> None:
    batch = pl.DataFrame({"k": list(range(200)), "v": list(range(200))})
    keys = [pl.col("k")]
    group = key_group_column(batch, keys, 8)
    kept = [batch.filter(KeyShare(i, 2, 1).keeps(keys, 8)) for i in range(2)]
    assert sorted(kept[0]["k"].to_list() + kept[1]["k"].to_list()) == list(range(200))
    for i, rows in enumerate(kept):
        assert rows.height > 0
        groups = group.filter(batch["k"].is_in(rows["k"].implode()))
        assert all(g % 2 == i for g in groups.to_list())


def test_share_names_are_parsed_strictly() -> None:
    assert KeyShare.parse("keys=1/2:1") == KeyShare(1, 2, 1)
    for name in ("all", "stripes=0/2:4194304", "keys=2/2:1", "keys=0/2:0", "keys=0/2"):
        assert KeyShare.parse(name) is None, name
    # a cluster smaller than the one the shares were made for reads them all, in turn
    parts = shares(4, 1, 16)
    assert listed_by(parts, 0, 2) == ["keys=0/4:1", "keys=2/4:1"]
    assert listed_by(parts, 1, 2) == ["keys=1/4:1", "keys=3/4:1"]
    # never more shares than key groups' processes
    assert shares(4, 1, 2) == ("keys=0/2:1", "keys=1/2:1")


# ------------------------------------------------------------------ which sources


def _listed(tmp_path: Path, job: str, process: int | None, processes: int = 2,
            **options: Any) -> list[list[str]]:
    """The partitions process `process` of `processes` lists of each source of `job`
    (None: one process alone)."""
    (tmp_path / "job.frysql").write_text(job)
    options.setdefault("source_partitions", processes)  # as `frys run` on the cluster
    graph = plan(compile_text(job, str(tmp_path / "job.frysql")))
    flow = lower(graph, tmp_path, ScaleOutOptions(
        key_groups=8, process=None if process is None else (process, processes), **options))
    return [step.source.list_parts() for step in flow.substeps
            if isinstance(getattr(step, "source", None), FrysSource)]


def _stream(name: str, source: str) -> str:
    return (f"CREATE STREAM {name} (k INT, v INT, ts TIMESTAMP) WITH (event_time = ts, "
            f"watermark = 10ms, source = 'file:{source}');\n")


WINDOW = "SELECT k, COUNT(*) AS n FROM ev GROUP BY k, TUMBLE(100ms);\n"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    rows = [{"k": i % 7, "v": i, "ts": T0 + i} for i in range(2000)]
    write_arrow(tmp_path / "ev.arrow", rows)
    write_arrow(tmp_path / "other.arrow", rows)
    (tmp_path / "ev.jsonl").write_text("".join(
        json.dumps({**row, "ts": row["ts"]}) + "\n" for row in rows) * 40)
    return tmp_path


def test_an_arrow_source_keyed_one_way_is_read_as_shares(files: Path) -> None:
    job = _stream("ev", "ev.arrow") + WINDOW
    assert _listed(files, job, 0) == [["keys=0/2:1"]]
    assert _listed(files, job, 1) == [["keys=1/2:1"]]
    # two workers a process: the shares are the processes', each process's workers
    # hold its key groups
    assert _listed(files, job, 1, threads=2) == [["keys=1/2:2"]]


@pytest.mark.parametrize("job,why", [
    (_stream("ev", "ev.jsonl") + WINDOW, "JSON Lines is decoded: stripes"),
    (_stream("ev", "ev.arrow") + WINDOW + "SELECT k, v FROM ev WHERE v > 3;\n",
     "a stateless query reads the stream"),
    (_stream("ev", "ev.arrow") + WINDOW +
     "SELECT v, COUNT(*) AS n FROM ev GROUP BY v, TUMBLE(100ms);\n",
     "two queries key the stream two ways"),
    (_stream("ev", "ev.arrow") + "SELECT COUNT(*) AS n FROM ev GROUP BY TUMBLE(100ms);\n",
     "a global aggregate has no key"),
], ids=["jsonl", "stateless", "two keys", "global"])
def test_other_sources_are_read_as_before(files: Path, job: str, why: str) -> None:
    listed = _listed(files, job, 0)
    assert not any(part.startswith("keys=") for parts in listed for part in parts), why


def test_shares_need_a_small_cluster_reading_in_parallel(files: Path) -> None:
    job = _stream("ev", "ev.arrow") + WINDOW
    assert _listed(files, job, None, source_partitions=2) == [["all"]]  # one process
    assert _listed(files, job, 0, source_partitions=1) == [["all"]]  # read whole, once
    # past MAX_SHARES processes every process reading the whole file costs more than the
    # exchange it saves: stripes (the file's 2,000 rows are one stripe: read whole)
    assert _listed(files, job, 0, processes=MAX_SHARES + 1) == [["all"]]
    assert _listed(files, job, 0, processes=MAX_SHARES) == [["keys=0/4:1"]]


def test_a_join_reads_both_sides_as_shares(files: Path) -> None:
    job = (_stream("ev", "ev.arrow") + _stream("other", "other.arrow") +
           "SELECT e.k, e.v, o.v AS w FROM ev e JOIN other o ON e.k = o.k WITHIN 5ms;\n")
    assert _listed(files, job, 1) == [["keys=1/2:1"], ["keys=1/2:1"]]


# ------------------------------------------------------------------ event time


def test_a_shares_watermark_is_taken_over_every_row_it_read() -> None:
    job = compile_text(_stream("ev", "ev.arrow") + WINDOW, "job.frysql")
    stream = plan(job).topics["ev"]
    clock = ProducerClock(stream)
    batch = pl.DataFrame({"k": [1, 2, 3, 4], "v": [0, 0, 0, 0],
                          "ts": [T0 + 50, T0 + 5, T0 + 90, T0 + 20]}).with_columns(
        pl.col("ts").cast(pl.Datetime("ms", "UTC")))
    keep = pl.Series([False, True, False, True])
    envelopes = clock.rows(3, batch, keep)
    rows, mark = envelopes
    assert rows[0] == ROWS and rows[2]["k"].to_list() == [2, 4]
    # each kept row's own watermark is the one before it among all the rows read
    assert rows[3].to_list() == [T0 + 40, T0 + 80]
    assert mark == (MARK, -1, T0 + 80)  # the newest row read, kept or not, minus 10 ms
    assert clock.sent == 2  # rows are numbered among the share's own
    # a batch of none of the share's rows still moves its watermark
    later = batch.with_columns(pl.col("ts") + pl.duration(milliseconds=100))
    assert clock.rows(3, later, pl.Series([False] * 4)) == [(MARK, -1, T0 + 180)]


def test_a_key_group_waits_for_no_share_but_its_own() -> None:
    job = compile_text(_stream("ev", "ev.arrow") + WINDOW, "job.frysql")
    stream = plan(job).topics["ev"]
    producers = [ProducerSpec(f"share {i}", share=KeyShare(i, 2, 1)) for i in range(2)]
    clock = InputClock(stream, producers, group=3)  # fed by share 1
    assert clock.mark(1, T0 + 500)
    assert clock.watermark == T0 + 500  # share 0, still at the start, does not hold it
    assert clock.producer_done(1)  # its own share's end ends the stream
    # the router sends each share's marks and end only to the groups it feeds
    router = Router({"ev": [pl.col("k")]}, 4, True, None, {"ev": producers})
    assert [value[0] for _, value in router(("ev", (MARK, 0, T0)))] == [0, 2]
    assert [value[0] for _, value in router(("ev", (END, 1)))] == [1, 3]


# ------------------------------------------------------------------ whole runs


def _share_inputs(tmp_path: Path, job: str) -> Path:
    template = write_template(tmp_path / "template", job, {})
    ev = events(11, count=1500, keys=9, disorder=25, late_every=9)
    # a row without an event time: a dead letter, sent once (by share 0)
    ev.insert(700, {**ev[700], "ts": None})
    write_arrow(template / "ev.arrow", ev)
    # the join's inputs in time order: what its interval join drops as late then does
    # not hang on how a runtime interleaves the two streams
    write_arrow(template / "a.arrow", events(12, count=1500, keys=9))
    write_arrow(template / "b.arrow", events(13, count=1500, keys=9))
    return template


SHARED_JOB = """
CREATE STREAM ev (k INT, g STRING, v INT, f FLOAT, ts TIMESTAMP)
    WITH (event_time = ts, watermark = 30ms, late = ev_late, source = 'file:ev.arrow');
CREATE STREAM a (k INT, g STRING, v INT, f FLOAT, ts TIMESTAMP)
    WITH (event_time = ts, watermark = 10ms, source = 'file:a.arrow');
CREATE STREAM b (k INT, g STRING, v INT, f FLOAT, ts TIMESTAMP)
    WITH (event_time = ts, watermark = 10ms, source = 'file:b.arrow');
CREATE STREAM ev_late WITH (sink = 'file:out/ev_late.jsonl');
CREATE STREAM windows WITH (sink = 'file:out/windows.jsonl');
CREATE STREAM joined WITH (sink = 'file:out/joined.jsonl');
INSERT INTO windows SELECT k, window_start, COUNT(*) AS n, SUM(v) AS s, LAST(v) AS last_v
    FROM ev GROUP BY k, TUMBLE(100ms);
INSERT INTO joined SELECT a.k, a.v, b.v AS w FROM a JOIN b ON a.k = b.k WITHIN 15ms;
"""


@pytest.mark.parametrize("runtime", [bytewax(1, processes=2), bytewax(2, processes=2)],
                         ids=["-p 2", "-p 2 -w 2"])
def test_a_cluster_reading_shares_gives_the_embedded_runtimes_rows(
        tmp_path: Path, runtime: Any) -> None:
    """Windows with late events routed to a late stream, and a join of two sources, all
    read as key shares on two processes: the same rows, late events, events per stream and dead
    letters (one, counted once) as the embedded runtime's."""
    template = _share_inputs(tmp_path, SHARED_JOB)
    outcome = assert_same_outputs(template, "job.frysql", [runtime], tmp_path / "runs")
    assert outcome.summary["dead letters"]["(total)"] == 1
    assert outcome.outputs["out/ev_late.jsonl"], "no late event: the case tests less"
    assert len(outcome.outputs["out/joined.jsonl"]) > 100


def test_a_folder_of_arrow_parts_keyed_two_ways_on_three_processes(tmp_path: Path) -> None:
    """A folder of Arrow parts read as shares, rows kept by the hash of two key columns
    (a struct), into hopping windows with late events, on three processes: the embedded
    runtime's rows and counters."""
    template = write_template(tmp_path / "template", """
CREATE STREAM ev (k INT, g STRING, v INT, f FLOAT, ts TIMESTAMP)
    WITH (event_time = ts, watermark = 25ms, source = 'file:ev.arrow');
CREATE STREAM out WITH (sink = 'file:out/hops.jsonl');
INSERT INTO out SELECT k, g, window_start, COUNT(*) AS n, SUM(v) AS s
    FROM ev GROUP BY k, g, HOP(100ms, 50ms);
""", {})
    (template / "ev.arrow").mkdir()
    rows = events(21, count=3000, keys=7, disorder=20, late_every=11)
    for part in range(3):
        write_arrow(template / "ev.arrow" / f"part-{part:05d}.arrow",
                    rows[part * 1000:(part + 1) * 1000], batch_rows=64)
    outcome = assert_same_outputs(template, "job.frysql", [bytewax(1, processes=3)],
                                  tmp_path / "runs")
    assert outcome.summary["late events dropped"]["(total)"] > 0
    assert len(outcome.outputs["out/hops.jsonl"]) > 500
