"""A `file:` source read as several partitions (connectors/file_partitions.py): whatever
the stripes and however many partitions, the partitions together hold exactly the rows
and dead letters of the whole file, numbered as in the whole file, each partition's in
file order, its stripes dealt round robin; and each resumes from its own positions."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frys.connectors.decode import StreamDecoder
from frys.connectors.file_partitions import WHOLE, open_partition, partitions
from frys.connectors.jsonl import JsonlFileSource
from frys.connectors.registry import ConnectorError, SourceContext
from frys.dsl.analyzed import StreamDef
from frys.dsl.types import FrysType

STREAM = StreamDef("s", {"n": FrysType.INT, "text": FrysType.STRING})


def _context(base: Path) -> SourceContext:
    return SourceContext(base, "job", STREAM, None, StreamDecoder.for_stream(STREAM),  # type: ignore[arg-type]
                         None, lambda letters: None)  # type: ignore[arg-type]


def _read(source: object) -> tuple[list[dict], list[tuple[str, str]]]:
    rows: list[dict] = []
    dead: list[tuple[str, str]] = []
    for batch, letters in source.batches():  # type: ignore[attr-defined]
        rows.extend(batch.to_dicts())
        dead.extend((d.position, d.raw) for d in letters)
    return rows, dead


# lines of all lengths (a cut lands anywhere: in a line, on a newline, after one), some
# malformed, some blank
LINES = st.lists(st.one_of(
    st.builds(lambda n, t: json.dumps({"n": n, "text": t}),
              st.integers(-10**6, 10**6), st.text(max_size=40)),
    st.sampled_from(["{broken", "", "   ", '{"n": "x"}'])), min_size=0, max_size=60)


@settings(max_examples=80, deadline=None)
@given(lines=LINES, stripe=st.integers(1, 400), count=st.integers(2, 5),
       trailing_newline=st.booleans(), chunk_bytes=st.sampled_from([None, 7, 64]))
def test_jsonl_partitions_read_the_whole_file_once(tmp_path_factory: pytest.TempPathFactory,
                                                   lines: list[str], stripe: int, count: int,
                                                   trailing_newline: bool,
                                                   chunk_bytes: int | None) -> None:
    folder = tmp_path_factory.mktemp("parts")
    path = folder / "events.jsonl"
    text = "\n".join(lines) + ("\n" if trailing_newline and lines else "")
    path.write_text(text, encoding="utf-8")
    whole = _read(JsonlFileSource(path, StreamDecoder.for_stream(STREAM), str(path)))
    parts = partitions(path, "file:events.jsonl", count, stripe)
    size = path.stat().st_size
    if size <= stripe:
        assert parts == [WHOLE]
        return
    assert len(parts) == min(count, -(-size // stripe))
    rows: list[dict] = []
    dead: list[tuple[str, str]] = []
    for part in parts:
        source = open_partition(path, _context(folder), part)
        if chunk_bytes is not None:
            source.chunk_bytes = chunk_bytes  # type: ignore[attr-defined]
        part_rows, part_dead = _read(source)
        assert _in_order_within(part_rows, whole[0])  # each partition's rows in file order
        rows += part_rows
        dead += part_dead
    # (dead letters of one chunk come malformed lines first: compared by line)
    assert sorted(rows, key=_key) == sorted(whole[0], key=_key)
    assert sorted(dead, key=_line) == sorted(whole[1], key=_line)


def _in_order_within(rows: list[dict], whole: list[dict]) -> bool:
    """`rows` is a subsequence of `whole`."""
    rest = iter(whole)
    return all(any(row == other for other in rest) for row in rows)


def _key(row: dict) -> str:
    return json.dumps(row, sort_keys=True)


def test_stripes_are_dealt_round_robin(tmp_path: Path) -> None:
    """Partition i of n reads the lines starting in stripes i, i + n, ...: with one line
    per stripe, every n-th line."""
    path = tmp_path / "events.jsonl"
    lines = [json.dumps({"n": i, "text": "x" * (40 - len(str(i)))}) for i in range(30)]
    assert {len(line) + 1 for line in lines} == {len(lines[0]) + 1}
    path.write_text("".join(line + "\n" for line in lines))
    width = len(lines[0]) + 1
    parts = partitions(path, "file:events.jsonl", 3, width)
    assert parts == [f"stripes={i}/3:{width}" for i in range(3)]
    for i, part in enumerate(parts):
        got = [row["n"] for row in _read(open_partition(path, _context(tmp_path), part))[0]]
        assert got == list(range(i, 30, 3))


def test_a_line_longer_than_stripes_belongs_to_the_stripe_it_starts_in(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [json.dumps({"n": 0, "text": "a"}), json.dumps({"n": 1, "text": "b" * 500}),
             json.dumps({"n": 2, "text": "c"}), "{broken", json.dumps({"n": 4, "text": "d"})]
    path.write_text("".join(line + "\n" for line in lines))
    seen: dict[str, list[int]] = {}
    letters = []
    for part in partitions(path, "file:events.jsonl", 4, 50):
        rows, dead = _read(open_partition(path, _context(tmp_path), part))
        seen[part] = [row["n"] for row in rows]
        letters += dead
    assert sorted(n for ns in seen.values() for n in ns) == [0, 1, 2, 4]
    assert [position for position, _ in letters] == [f"{path}:4"]
def _line(letter: tuple[str, str]) -> int:
    return int(letter[0].rsplit(":", 1)[1])


@pytest.mark.parametrize("index", [0, 2])
def test_a_jsonl_partition_resumes_from_its_own_position(tmp_path: Path, index: int) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"n": i, "text": "x" * (i % 7)}) + "\n"
                            for i in range(5000)))
    parts = partitions(path, "file:events.jsonl", 4, 20_000)
    assert len(parts) == 4
    part = parts[index]
    first = open_partition(path, _context(tmp_path), part)
    assert isinstance(first, JsonlFileSource)
    first.chunk_bytes = 4096  # several batches, so there is a middle to resume from
    batches = first.batches()
    seen = []
    for _ in range(8):  # past its first stripe (about 5 chunks)
        seen += next(batches)[0]["n"].to_list()
    position = first.position()
    rest_in_one_run = [n for batch, _ in batches for n in batch["n"].to_list()]
    resumed = open_partition(path, _context(tmp_path), part)
    resumed.seek(position)
    assert [n for batch, _ in resumed.batches() for n in batch["n"].to_list()] \
        == rest_in_one_run
    assert seen and rest_in_one_run and seen[-1] < rest_in_one_run[0]
    assert sorted(seen + rest_in_one_run) == seen + rest_in_one_run


def test_numbers_of_lines_in_a_later_partition_are_the_files(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [json.dumps({"n": i, "text": "t"}) for i in range(1000)]
    lines[777] = "{not json"
    lines[31] = "[1, 2]"
    path.write_text("\n".join(lines) + "\n")
    letters = []
    for part in partitions(path, "file:events.jsonl", 3, 4000):
        letters += _read(open_partition(path, _context(tmp_path), part))[1]
    assert sorted(position for position, _ in letters) == [f"{path}:32", f"{path}:778"]


def _arrow_file(path: Path, batches: int, rows: int) -> list[int]:
    values = list(range(batches * rows))
    schema = pa.schema([("n", pa.int64()), ("text", pa.string())])
    with ipc.new_file(str(path), schema) as writer:
        for b in range(batches):
            chunk = values[b * rows:(b + 1) * rows]
            writer.write_batch(pa.record_batch([pa.array(chunk), pa.array([str(v) for v in chunk])],
                                               schema=schema))
    return values


def _parquet_file(path: Path, groups: int, rows: int) -> list[int]:
    values = list(range(groups * rows))
    table = pa.table({"n": pa.array(values, pa.int64()),
                      "text": pa.array([str(v) for v in values])})
    pq.write_table(table, str(path), row_group_size=rows, compression="none")
    assert pq.ParquetFile(str(path)).num_row_groups == groups
    return values


def _read_by_stripes(tmp_path: Path, path: Path, parts: list[str], values: list[int],
                     stripes: int, stripe_rows: int) -> None:
    """Partition i of n reads stripes i, i + n, ... of `stripe_rows` rows, and together
    they read every row once."""
    got = []
    for i, part in enumerate(parts):
        rows = [row["n"] for row in _read(open_partition(path, _context(tmp_path), part))[0]]
        assert rows == [v for s in range(i, stripes, len(parts))
                        for v in values[s * stripe_rows:(s + 1) * stripe_rows]]
        got += rows
    assert sorted(got) == values


@pytest.mark.parametrize(("name", "count", "stripe_rows"), [
    ("events.parquet", 3, 2000),  # 10 row groups of 1000 rows: 5 stripes of 2
    ("events.arrow", 2, 1000),  # 10 record batches of 500 rows: 5 stripes of 2
])
def test_columnar_partitions_are_stripes_of_groups(tmp_path: Path, name: str, count: int,
                                                   stripe_rows: int) -> None:
    """A Parquet file's partitions are stripes of row groups, an Arrow file's of record
    batches (a file read whole would leave its reader routing every row to the others);
    a stripe as big as the file is the file whole."""
    path = tmp_path / name
    values = (_parquet_file(path, groups=10, rows=1000) if name.endswith(".parquet")
              else _arrow_file(path, batches=10, rows=500))
    parts = partitions(path, f"file:{name}", count, path.stat().st_size // 5)
    assert parts == [f"stripes={i}/{count}:2" for i in range(count)]
    _read_by_stripes(tmp_path, path, parts, values, stripes=5, stripe_rows=stripe_rows)
    assert partitions(path, f"file:{name}", 4, path.stat().st_size) == [WHOLE]


def test_a_parquet_partition_resumes_from_its_own_position(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    _parquet_file(path, groups=12, rows=100)
    part = partitions(path, "file:events.parquet", 2, path.stat().st_size // 12)[1]
    first = open_partition(path, _context(tmp_path), part)
    batches = first.batches()
    seen = [n for _ in range(3) for n in next(batches)[0]["n"].to_list()]
    position = first.position()
    rest = [n for batch, _ in batches for n in batch["n"].to_list()]
    resumed = open_partition(path, _context(tmp_path), part)
    resumed.seek(position)
    assert [n for batch, _ in resumed.batches() for n in batch["n"].to_list()] == rest
    assert seen + rest == [n for b in range(1, 12, 2) for n in range(b * 100, b * 100 + 100)]


def test_a_folder_of_part_files_is_dealt_a_part_at_a_time(tmp_path: Path) -> None:
    folder = tmp_path / "events.arrow"
    folder.mkdir()
    expected = []
    for i in range(5):
        expected += [v + 10_000 * i for v in range(100)]
        pl.DataFrame({"n": [v + 10_000 * i for v in range(100)], "text": ["a"] * 100}) \
            .write_ipc(folder / f"part-{i:05d}.arrow")
    parts = partitions(folder, "file:events.arrow", 2, 1 << 30)
    assert parts == ["stripes=0/2:1", "stripes=1/2:1"]
    got = []
    for i, part in enumerate(parts):
        rows = [row["n"] for row in _read(open_partition(folder, _context(tmp_path), part))[0]]
        assert rows == [v + 10_000 * p for p in range(i, 5, 2) for v in range(100)]
        got += rows
    assert sorted(got) == expected


def test_csv_and_followed_files_stay_whole(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("n,text\n" + "".join(f"{i},x\n" for i in range(10_000)))
    assert partitions(path, "file:events.csv", 4, 100) == [WHOLE]
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text("".join('{"n": 1}\n' for _ in range(10_000)))
    assert partitions(jsonl, "file:events.jsonl?follow=true", 4, 100) == [WHOLE]
    assert partitions(jsonl, "file:events.jsonl", 1, 100) == [WHOLE]


def test_an_unknown_partition_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"n": 1}\n')
    with pytest.raises(ConnectorError, match="no partition"):
        open_partition(path, _context(tmp_path), "rows=1-2")
    with pytest.raises(ConnectorError, match="no partition"):
        open_partition(path, _context(tmp_path), "stripes=3/3:10")


def test_a_partition_reads_only_its_own_stripes_until_a_line_number_is_needed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stripes a partition skips are read (to count their lines) only for a dead
    letter's number or a position: with tens of partitions, each reading the whole file
    would cost more than decoding its share."""
    import frys.connectors.jsonl as jsonl

    read_at: list[int] = []

    def pread(file: object, at: int, size: int) -> bytes:
        data = real(file, at, size)  # type: ignore[arg-type]
        read_at.append(len(data))
        return data

    real = jsonl._pread
    monkeypatch.setattr(jsonl, "_pread", pread)
    path = tmp_path / "events.jsonl"
    lines = [json.dumps({"n": i, "text": "x" * 40}) for i in range(40_000)]
    path.write_text("\n".join(lines) + "\n")
    size = path.stat().st_size
    parts = partitions(path, "file:events.jsonl", 4, 64 << 10)
    rows, dead = _read(open_partition(path, _context(tmp_path), parts[3]))
    assert not dead and len(rows) > 9_000
    assert sum(read_at) < size // 20  # fingerprints only: not the other stripes
    lines[39_990] = "{not json"  # in the last stripe, partition 3's or another's
    path.write_text("\n".join(lines) + "\n")
    letters = []
    for part in parts:
        letters += _read(open_partition(path, _context(tmp_path), part))[1]
    assert [position for position, _ in letters] == [f"{path}:39991"]


@pytest.mark.parametrize("index", [1, 3])
def test_a_resumed_partition_numbers_its_dead_letters_as_the_file(tmp_path: Path,
                                                                  index: int) -> None:
    path = tmp_path / "events.jsonl"
    lines = [json.dumps({"n": i, "text": "x" * (i % 7)}) for i in range(20_000)]
    for bad in range(1234, 20_000, 1000):
        lines[bad] = "{broken"
    path.write_text("\n".join(lines) + "\n")
    parts = partitions(path, "file:events.jsonl", 4, 20_000)
    whole = [position for part in parts
             for position, _ in _read(open_partition(path, _context(tmp_path), part))[1]]
    assert sorted(whole) == sorted(f"{path}:{bad + 1}" for bad in range(1234, 20_000, 1000))
    first = open_partition(path, _context(tmp_path), parts[index])
    first.chunk_bytes = 4096  # type: ignore[attr-defined]
    batches = first.batches()
    early = [d.position for _ in range(8) for d in next(batches)[1]]
    resumed = open_partition(path, _context(tmp_path), parts[index])
    resumed.seek(first.position())
    late = [d.position for _, letters in resumed.batches() for d in letters]
    mine = [position for position, _ in
            _read(open_partition(path, _context(tmp_path), parts[index]))[1]]
    assert late and early + late == mine  # the numbers of one uninterrupted read
    assert set(late) <= set(whole)  # the file's own (a position counts the skipped lines)
