"""A `file:` source read as several partitions (connectors/file_partitions.py): whatever
the cut, the partitions read in order hold exactly the rows and dead letters of the whole
file, numbered as in the whole file, and each resumes from its own positions."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
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


@settings(max_examples=60, deadline=None)
@given(lines=LINES, split=st.integers(1, 400), trailing_newline=st.booleans())
def test_jsonl_partitions_read_the_whole_file_once(tmp_path_factory: pytest.TempPathFactory,
                                                   lines: list[str], split: int,
                                                   trailing_newline: bool) -> None:
    folder = tmp_path_factory.mktemp("parts")
    path = folder / "events.jsonl"
    text = "\n".join(lines) + ("\n" if trailing_newline and lines else "")
    path.write_text(text, encoding="utf-8")
    whole = _read(JsonlFileSource(path, StreamDecoder.for_stream(STREAM), str(path)))
    parts = partitions(path, "file:events.jsonl", split)
    if path.stat().st_size <= split:
        assert parts == [WHOLE]
        return
    rows: list[dict] = []
    dead: list[tuple[str, str]] = []
    for part in parts:
        part_rows, part_dead = _read(open_partition(path, _context(folder), part))
        rows += part_rows
        dead += part_dead
    # (dead letters of one chunk come malformed lines first: compared by line)
    assert rows == whole[0]
    assert sorted(dead, key=_line) == sorted(whole[1], key=_line)


def _line(letter: tuple[str, str]) -> int:
    return int(letter[0].rsplit(":", 1)[1])


def test_a_jsonl_partition_resumes_from_its_own_position(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"n": i, "text": "x" * (i % 7)}) + "\n"
                            for i in range(5000)))
    parts = partitions(path, "file:events.jsonl", 20_000)
    assert len(parts) > 3
    part = parts[2]
    first = open_partition(path, _context(tmp_path), part)
    assert isinstance(first, JsonlFileSource)
    first.chunk_bytes = 4096  # several batches, so there is a middle to resume from
    batches = first.batches()
    seen = next(batches)[0]["n"].to_list()
    position = first.position()
    rest_in_one_run = [n for batch, _ in batches for n in batch["n"].to_list()]
    resumed = open_partition(path, _context(tmp_path), part)
    resumed.seek(position)
    assert [n for batch, _ in resumed.batches() for n in batch["n"].to_list()] \
        == rest_in_one_run
    assert seen and rest_in_one_run and seen[-1] + 1 == rest_in_one_run[0]


def test_numbers_of_lines_in_a_later_partition_are_the_files(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [json.dumps({"n": i, "text": "t"}) for i in range(1000)]
    lines[777] = "{not json"
    path.write_text("\n".join(lines) + "\n")
    letters = []
    for part in partitions(path, "file:events.jsonl", 4000):
        letters += _read(open_partition(path, _context(tmp_path), part))[1]
    assert [position for position, _ in letters] == [f"{path}:778"]


def _arrow_file(path: Path, batches: int, rows: int) -> list[int]:
    values = list(range(batches * rows))
    schema = pa.schema([("n", pa.int64()), ("text", pa.string())])
    with ipc.new_file(str(path), schema) as writer:
        for b in range(batches):
            chunk = values[b * rows:(b + 1) * rows]
            writer.write_batch(pa.record_batch([pa.array(chunk), pa.array([str(v) for v in chunk])],
                                               schema=schema))
    return values


def test_arrow_partitions_are_ranges_of_record_batches(tmp_path: Path) -> None:
    path = tmp_path / "events.arrow"
    values = _arrow_file(path, batches=10, rows=500)
    parts = partitions(path, "file:events.arrow", path.stat().st_size // 4)
    assert len(parts) >= 3 and all(p.startswith("groups=") for p in parts)
    got = []
    for part in parts:
        got += [row["n"] for row in _read(open_partition(path, _context(tmp_path), part))[0]]
    assert got == values


def test_a_folder_of_part_files_is_a_partition_per_part(tmp_path: Path) -> None:
    folder = tmp_path / "events.arrow"
    folder.mkdir()
    expected = []
    for i in range(3):
        expected += [v + 10_000 * i for v in range(100)]
        pl.DataFrame({"n": [v + 10_000 * i for v in range(100)], "text": ["a"] * 100}) \
            .write_ipc(folder / f"part-{i:05d}.arrow")
    parts = partitions(folder, "file:events.arrow", 1 << 30)
    assert parts == [f"part=part-{i:05d}.arrow" for i in range(3)]
    got = []
    for part in parts:
        got += [row["n"] for row in _read(open_partition(folder, _context(tmp_path), part))[0]]
    assert got == expected


def test_csv_and_followed_files_stay_whole(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("n,text\n" + "".join(f"{i},x\n" for i in range(10_000)))
    assert partitions(path, "file:events.csv", 100) == [WHOLE]
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text("".join('{"n": 1}\n' for _ in range(10_000)))
    assert partitions(jsonl, "file:events.jsonl?follow=true", 100) == [WHOLE]


def test_an_unknown_partition_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"n": 1}\n')
    with pytest.raises(ConnectorError, match="no partition"):
        open_partition(path, _context(tmp_path), "rows=1-2")
