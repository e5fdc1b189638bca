"""The `redis:` connector against a real Redis at 127.0.0.1:6379 (tests/brokers.py: under
CI=true a missing server fails these tests, elsewhere they skip naming it). Each test uses
streams of its own name and deletes them after."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
from brokers import closed_port, crash_trial, frys, private_server, require_server
from hypothesis import given, settings
from hypothesis import strategies as st

from frys.connectors.decode import StreamDecoder
from frys.connectors.redis_streams import (
    RedisStreamSink,
    RedisStreamSource,
    RedisUri,
)
from frys.connectors.registry import IDLE, ConnectorError, UriProblem, check_uri
from frys.dsl.types import FrysType

ROOT = Path(__file__).resolve().parent.parent
PORT = 6379


@pytest.fixture
def redis_client() -> Iterator[object]:
    require_server("Redis", PORT)
    import redis

    client = redis.Redis(port=PORT, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def names(redis_client: object) -> Iterator[list[str]]:
    """Unique stream names for one test (name(i)), deleted afterwards."""
    prefix = f"frys_test_{uuid.uuid4().hex[:10]}"
    made = [f"{prefix}_{i}" for i in range(4)]
    yield made
    redis_client.delete(*made)  # type: ignore[attr-defined]


def uri(stream: str, options: str = "", role: str = "source") -> RedisUri:
    text = f"redis://127.0.0.1:{PORT}/{stream}" + (f"?{options}" if options else "")
    return RedisUri.parse(text, role)  # type: ignore[arg-type]


SCHEMA = {"k": FrysType.STRING, "v": FrysType.INT, "f": FrysType.FLOAT, "b": FrysType.BOOL,
          "ts": FrysType.TIMESTAMP}


def decoder() -> StreamDecoder:
    return StreamDecoder("ev", dict(SCHEMA), "ts")


def drain(source: RedisStreamSource) -> tuple[pl.DataFrame, list]:
    """Every batch until the first IDLE, concatenated, and the dead letters."""
    frames, letters = [], []
    for item in source.batches():
        if item is IDLE:
            break
        frames.append(item[0])
        letters.extend(item[1])
    return pl.concat(frames) if frames else decoder().empty(), letters


# ------------------------------------------------------------------ URI check

@pytest.mark.parametrize(("text", "role", "problem"), [
    ("redis://localhost:6379/orders?group=g", "source", None),
    ("redis://localhost/orders?group=g&consumer=c&start=$&count=10&block=50", "source",
     None),
    ("redis://localhost/orders?maxlen=1000&approximate=false", "sink", None),
    ("redis://localhost/orders?format=json&field=body", "sink", None),
    ("redis://localhost/orders?grup=g", "source",
     "unknown redis: option 'grup' in 'redis://localhost/orders?grup=g' (did you mean "
     "'group'?); known: "),
    ("redis://localhost/orders", "source",
     "a redis: source needs a consumer group: add 'group=NAME'"),
    ("redis://localhost/orders?group=g&maxlen=5", "source",
     "maxlen is an option of a redis: sink, not of a source"),
    ("redis://localhost/orders?group=g", "sink",
     "group is an option of a redis: source, not of a sink"),
    ("redis://localhost/?group=g", "source", "names no stream"),
    ("redis:///orders?group=g", "source", "names no host"),
    ("redis://localhost:99999/orders?group=g", "source", "bad port"),
    ("redis://localhost/orders?group=g&start=yesterday", "source",
     "start must be 0, $ or an entry id"),
    ("redis://localhost/orders?group=g&block=5000", "source",
     "block must be a positive whole number up to 1000"),
    ("redis://localhost/orders?group=g&field=x", "source", "add 'format=json'"),
    ("redis://localhost/orders?format=xml", "sink", "format must be fields or json"),
])
def test_the_uri_check_names_each_problem(text: str, role: str, problem: str | None) -> None:
    found = check_uri(text, role)
    if problem is None:
        assert found is None
    else:
        assert isinstance(found, UriProblem) and problem in found.message


# ------------------------------------------------------------------ broker down

def test_redis_down_at_start_is_a_clear_error_after_retrying() -> None:
    port = closed_port()
    text = f"redis://127.0.0.1:{port}/ev?group=g&connect_timeout=0.3"
    with pytest.raises(ConnectorError) as caught:
        RedisStreamSource(RedisUri.parse(text, "source"), decoder(), "job")
    message = str(caught.value)
    assert f"cannot reach Redis at 127.0.0.1:{port} for the source of stream ev" in message
    assert "tried for 0.3s" in message


def test_frys_run_with_redis_down_names_the_server(tmp_path: Path) -> None:
    port = closed_port()
    job = tmp_path / "job.frysql"
    job.write_text(f"CREATE STREAM ev (v INT) WITH (source = "
                   f"'redis://127.0.0.1:{port}/ev?group=g&connect_timeout=0.2');\n"
                   "SELECT v FROM ev;\n")
    run = subprocess.run([sys.executable, "-m", "frys", "run", "--exit-when-idle", "200ms",
                          str(job)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode != 0
    assert f"cannot reach Redis at 127.0.0.1:{port}" in run.stderr


def test_a_sink_that_cannot_open_is_an_error_at_its_stream_without_a_traceback(
        tmp_path: Path) -> None:
    port = closed_port()
    (tmp_path / "in.jsonl").write_text('{"v": 1}\n')
    job = tmp_path / "job.frysql"
    job.write_text("CREATE STREAM ev (v INT) WITH (source = 'file:in.jsonl');\n"
                   f"CREATE STREAM out (v INT) WITH (sink = "
                   f"'redis://127.0.0.1:{port}/out?connect_timeout=0.2');\n"
                   "INSERT INTO out SELECT v FROM ev;\n")
    run = subprocess.run([sys.executable, "-m", "frys", "run", str(job)],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 1
    assert run.stderr.startswith(f"{job}:2:15: error: cannot reach Redis at 127.0.0.1:{port} "
                                 "for the sink of stream out")
    assert "Traceback" not in run.stderr


# ------------------------------------------------------------------ typing

def test_field_values_are_typed_by_the_schema(redis_client, names) -> None:  # type: ignore[no-untyped-def]
    stream = names[0]
    entries = [
        {"k": "a", "v": "1", "f": "1.5", "b": "true", "ts": "2024-01-01T00:00:01Z"},
        {"k": "b", "v": "-2", "f": "3", "b": "0", "ts": "1704067202000"},
        {"k": "c", "v": " 7 ", "f": "-0.25", "b": "FALSE", "ts": "2024-01-01T00:00:03.5"},
        {"k": "d", "b": "1", "ts": "2024-01-01T01:00:04+01:00"},  # v, f missing: NULL
    ]
    for entry in entries:
        redis_client.xadd(stream, entry)
    source = RedisStreamSource(uri(stream, "group=g"), decoder(), "job")
    batch, letters = drain(source)
    source.close()
    assert letters == []
    assert batch.schema == pl.Schema({"k": pl.String, "v": pl.Int64, "f": pl.Float64,
                                      "b": pl.Boolean,
                                      "ts": pl.Datetime("ms", "UTC")})
    assert batch["v"].to_list() == [1, -2, 7, None]
    assert batch["f"].to_list() == [1.5, 3.0, -0.25, None]
    assert batch["b"].to_list() == [True, False, False, True]
    assert [t.isoformat() for t in batch["ts"].to_list()] == [
        "2024-01-01T00:00:01+00:00", "2024-01-01T00:00:02+00:00",
        "2024-01-01T00:00:03.500000+00:00", "2024-01-01T00:00:04+00:00"]


def test_bad_entries_are_dead_letters_named_by_their_entry_id(redis_client, names) -> None:  # type: ignore[no-untyped-def]
    stream = names[0]
    good = redis_client.xadd(stream, {"k": "a", "v": "1", "ts": "1000"})
    bad_int = redis_client.xadd(stream, {"k": "b", "v": "1.5", "ts": "2000"})
    bad_bool = redis_client.xadd(stream, {"k": "c", "b": "yes", "ts": "3000"})
    bad_time = redis_client.xadd(stream, {"k": "d", "ts": "soon"})
    no_time = redis_client.xadd(stream, {"k": "e"})
    last = redis_client.xadd(stream, {"k": "f", "f": "nan", "ts": "4000"})
    source = RedisStreamSource(uri(stream, "group=g"), decoder(), "job")
    batch, letters = drain(source)
    source.close()
    assert batch["k"].to_list() == ["a"]
    where = f"redis://127.0.0.1:{PORT}/{stream}@"
    assert [(letter.position, letter.reason.split(":")[0]) for letter in letters] == [
        (where + bad_int, "field v"), (where + bad_bool, "field b"),
        (where + last, "field f"), (where + bad_time, "field ts"),
        (where + no_time, "field ts")]
    assert "expected INT (integer text), got '1.5'" in letters[0].reason
    assert json.loads(letters[0].raw) == {"k": "b", "v": "1.5", "ts": "2000"}
    assert good not in {letter.position for letter in letters}


def test_json_field_mode_decodes_the_events_json(redis_client, names) -> None:  # type: ignore[no-untyped-def]
    stream = names[0]
    redis_client.xadd(stream, {"data": json.dumps(
        {"k": "a", "v": 1, "f": 2.5, "b": True, "ts": "2024-01-01T00:00:00Z"})})
    redis_client.xadd(stream, {"data": '{\n  "k": "b", "v": 2,\n "ts": 1000}'})
    broken = redis_client.xadd(stream, {"data": '{"k": "c", "v": '})
    wrong_field = redis_client.xadd(stream, {"body": '{"k": "d", "ts": 1}'})
    wrong_type = redis_client.xadd(stream, {"data": '{"k": "e", "v": "7", "ts": 1}'})
    source = RedisStreamSource(uri(stream, "group=g&format=json"), decoder(), "job")
    batch, letters = drain(source)
    source.close()
    assert batch["k"].to_list() == ["a", "b"]
    assert batch["v"].to_list() == [1, 2]
    assert batch["b"].to_list() == [True, None]
    where = f"redis://127.0.0.1:{PORT}/{stream}@"
    assert sorted(letter.position for letter in letters) == sorted(
        where + entry for entry in (broken, wrong_field, wrong_type))
    reasons = {letter.position[len(where):]: letter.reason for letter in letters}
    assert reasons[wrong_field] == "no field 'data' (format=json)"
    assert "malformed JSON" in reasons[broken]
    assert "field v" in reasons[wrong_type]


# ------------------------------------------------------------------ positions and acks

def test_entries_are_acked_at_commit_and_a_resume_acks_the_checkpointed_ones(  # type: ignore[no-untyped-def]
        redis_client, names) -> None:
    stream = names[0]
    ids = [redis_client.xadd(stream, {"k": f"k{n}", "v": str(n), "ts": str(1000 + n)})
           for n in range(10)]
    first = RedisStreamSource(uri(stream, "group=g&count=4"), decoder(), "job")
    batches = first.batches()
    taken = next(batches)
    assert taken is not IDLE and taken[0]["v"].to_list() == [0, 1, 2, 3]
    checkpoint = first.position()
    assert checkpoint == ids[3]
    taken = next(batches)  # read after the checkpoint, then the process dies: no commit
    assert taken is not IDLE and taken[0]["v"].to_list() == [4, 5, 6, 7]
    first.client.close()
    assert redis_client.xpending(stream, "g")["pending"] == 8
    resumed = RedisStreamSource(uri(stream, "group=g&count=4"), decoder(), "job")
    resumed.seek(checkpoint)
    # the checkpointed entries are acked; the ones after it are pending, read again first
    assert redis_client.xpending(stream, "g")["pending"] == 4
    batch, _ = drain(resumed)
    assert batch["v"].to_list() == [4, 5, 6, 7, 8, 9]
    assert resumed.position() == ids[-1]
    resumed.commit()
    assert redis_client.xpending(stream, "g")["pending"] == 0
    resumed.close()
    again = RedisStreamSource(uri(stream, "group=g"), decoder(), "job")
    assert next(again.batches()) is IDLE  # everything acked: nothing to read again
    again.close()


def test_a_run_without_a_checkpoint_reads_its_pending_entries_again(  # type: ignore[no-untyped-def]
        redis_client, names) -> None:
    stream = names[0]
    for n in range(3):
        redis_client.xadd(stream, {"k": "a", "v": str(n), "ts": str(n)})
    crashed = RedisStreamSource(uri(stream, "group=g"), decoder(), "job")
    assert drain(crashed)[0]["v"].to_list() == [0, 1, 2]
    crashed.client.close()  # no commit
    redis_client.xadd(stream, {"k": "a", "v": "3", "ts": "3"})
    again = RedisStreamSource(uri(stream, "group=g"), decoder(), "job")
    assert drain(again)[0]["v"].to_list() == [0, 1, 2, 3]  # at-least-once
    again.close()


def test_start_dollar_reads_only_new_entries(redis_client, names) -> None:  # type: ignore[no-untyped-def]
    stream = names[0]
    redis_client.xadd(stream, {"k": "old", "ts": "1"})
    source = RedisStreamSource(uri(stream, "group=g&start=$"), decoder(), "job")
    redis_client.xadd(stream, {"k": "new", "ts": "2"})
    assert drain(source)[0]["k"].to_list() == ["new"]
    source.close()


def test_a_dropped_connection_is_reopened_and_nothing_is_lost(redis_client, names) -> None:  # type: ignore[no-untyped-def]
    stream = names[0]
    for n in range(3):
        redis_client.xadd(stream, {"k": "a", "v": str(n), "ts": str(n)})
    source = RedisStreamSource(uri(stream, "group=g&count=2"), decoder(), "job")
    batches = source.batches()
    got = list(next(batches)[0]["v"])  # type: ignore[index]
    redis_client.client_kill_filter(_id=source.client.client_id())  # the server drops it
    for n in range(3, 6):
        redis_client.xadd(stream, {"k": "a", "v": str(n), "ts": str(n)})
    got += drain(source)[0]["v"].to_list()
    assert got == [0, 1, 2, 3, 4, 5]
    source.close()


def test_a_group_that_vanished_is_made_again_and_new_entries_are_read(  # type: ignore[no-untyped-def]
        redis_client, names) -> None:
    """What a Redis that keeps nothing on disk does when it restarts: the stream and the
    group are gone; the source makes them again and reads what is added from then on."""
    stream = names[0]
    redis_client.xadd(stream, {"k": "a", "v": "0", "ts": "0"})
    source = RedisStreamSource(uri(stream, "group=g"), decoder(), "job")
    batches = source.batches()
    assert list(next(batches)[0]["v"]) == [0]  # type: ignore[index]
    redis_client.delete(stream)
    with pytest.warns(RuntimeWarning, match="the consumer group g is gone"):
        assert next(batches) is IDLE
    redis_client.xadd(stream, {"k": "a", "v": "1", "ts": "1"})
    assert drain(source)[0]["v"].to_list() == [1]
    source.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[int, Callable[[], None], Callable[[], None]]]:
    """A redis-server of the test's own on a free loopback port, persisting every write
    (AOF, fsync always), that the test can stop and start again: (port, stop, start)."""
    require_server("Redis", PORT)  # the same installation: its server binary
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not on PATH, though a Redis server runs", pytrace=False)
    with private_server("redis-server", lambda port: [
            binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
            "yes", "--appendfsync", "always", "--dir", str(tmp_path)]) as server:
        yield server


def test_a_redis_restarted_in_the_middle_is_reconnected_and_nothing_is_lost(  # type: ignore[no-untyped-def]
        own_redis) -> None:
    import redis

    port, stop, start = own_redis
    client = redis.Redis(port=port, decode_responses=True)
    for n in range(3):
        client.xadd("ev", {"k": "a", "v": str(n), "ts": str(n)})
    text = f"redis://127.0.0.1:{port}/ev?group=g&count=2"
    source = RedisStreamSource(RedisUri.parse(text, "source"), decoder(), "job")
    batches = source.batches()
    got = list(next(batches)[0]["v"])  # type: ignore[index]
    stop()
    with pytest.warns(RuntimeWarning, match="lost the connection"):
        assert next(batches) is IDLE  # down: the job is not blocked
    start()
    client = redis.Redis(port=port, decode_responses=True)
    for n in range(3, 6):
        client.xadd("ev", {"k": "a", "v": str(n), "ts": str(n)})
    for _ in range(500):  # IDLE until the backoff has passed
        item = next(batches)
        if item is not IDLE:
            got += item[0]["v"].to_list()
        if got[-1] == 5:
            break
        time.sleep(0.01)
    assert got == [0, 1, 2, 3, 4, 5]
    source.commit()
    assert client.xpending("ev", "g")["pending"] == 0
    source.close()
    client.close()


# ------------------------------------------------------------------ the sink

def frame(values: range) -> pl.DataFrame:
    return pl.DataFrame({"k": [f"k{n}" for n in values], "v": list(values),
                         "b": [n % 2 == 0 for n in values],
                         "ts": pl.Series([n * 1000 for n in values]).cast(
                             pl.Datetime("ms", "UTC"))})


def test_the_sink_writes_fields_that_the_source_reads_back(redis_client, names) -> None:  # type: ignore[no-untyped-def]
    stream = names[0]
    sink = RedisStreamSink(uri(stream, "", "sink"), "out", resume=False)
    sink.write(frame(range(3)).with_columns(
        *(pl.when(pl.col("v") == 1).then(None).otherwise(pl.col(c)).alias(c)
          for c in ("v", "b"))))
    sink.pre_commit(1)
    sink.close()
    entries = redis_client.xrange(stream)
    assert [fields for _, fields in entries] == [
        {"k": "k0", "v": "0", "b": "true", "ts": "1970-01-01T00:00:00.000Z"},
        {"k": "k1", "ts": "1970-01-01T00:00:01.000Z"},  # NULL: no field
        {"k": "k2", "v": "2", "b": "true", "ts": "1970-01-01T00:00:02.000Z"}]
    source = RedisStreamSource(uri(stream, "group=g"), decoder(), "job")
    read = drain(source)[0]
    assert read["v"].to_list() == [0, None, 2]
    assert read["b"].to_list() == [True, None, True]
    source.close()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text()), min_size=1, max_size=12))
def test_the_sink_packs_any_text_as_redis_stores_it(texts: list[str | None]) -> None:
    """The sink packs its XADDs itself (RESP, column-wise): any text, multi-byte, with
    CR/LF or '$' and '*' in it, arrives byte for byte; a row whose every field is NULL is
    not added, and the ids still count it."""
    import redis

    require_server("Redis", 6379)
    client = redis.Redis(host="127.0.0.1", port=6379, decode_responses=True)
    stream = f"frys-test-pack-{uuid.uuid4().hex}"
    try:
        sink = RedisStreamSink(uri(stream, "", "sink"), "out", resume=False)
        sink.write(pl.DataFrame({"s\r\n$é": texts}, schema={"s\r\n$é": pl.String}))
        sink.close()
        entries = client.xrange(stream)
        assert [fields["s\r\n$é"] for _, fields in entries] == [t for t in texts
                                                                  if t is not None]
        assert [int(entry_id.split("-")[1]) for entry_id, _ in entries] == [
            n for n, t in enumerate(texts, 1) if t is not None]
    finally:
        client.delete(stream)
        client.close()


def test_the_json_sink_and_maxlen(redis_client, names) -> None:  # type: ignore[no-untyped-def]
    stream = names[0]
    sink = RedisStreamSink(uri(stream, "format=json&field=body&maxlen=5&approximate=false",
                               "sink"), "out", resume=False)
    sink.write(frame(range(8)))
    sink.close()
    entries = redis_client.xrange(stream)
    assert [json.loads(fields["body"])["v"] for _, fields in entries] == [3, 4, 5, 6, 7]
    assert json.loads(entries[0][1]["body"])["ts"] == "1970-01-01T00:00:03.000Z"


def test_a_recovered_sink_skips_the_rows_it_wrote_before_the_crash(  # type: ignore[no-untyped-def]
        redis_client, names) -> None:
    stream = names[0]
    sink = RedisStreamSink(uri(stream, "", "sink"), "out", resume=False)
    sink.write(frame(range(3)))
    state = sink.pre_commit(1)
    sink.write(frame(range(3, 5)))  # written after the checkpoint, then a crash
    sink.client.close()
    resumed = RedisStreamSink(uri(stream, "", "sink"), "out", resume=True)
    resumed.recover(state)
    resumed.write(frame(range(3, 7)))  # the replay: rows 3, 4 again, then new ones
    resumed.close()
    values = [int(fields["v"]) for _, fields in redis_client.xrange(stream)]
    assert values == [0, 1, 2, 3, 4, 5, 6]


def test_a_sink_whose_stream_has_another_writer_is_refused_on_recovery(  # type: ignore[no-untyped-def]
        redis_client, names) -> None:
    stream = names[0]
    sink = RedisStreamSink(uri(stream, "", "sink"), "out", resume=False)
    sink.write(frame(range(2)))
    state = sink.pre_commit(1)
    sink.close()
    redis_client.xadd(stream, {"k": "intruder"}, id=f"{state['base'] + 5}-0")
    resumed = RedisStreamSink(uri(stream, "", "sink"), "out", resume=True)
    with pytest.raises(ConnectorError, match="another writer adds to it"):
        resumed.recover(state)
    resumed.close()
    redis_client.delete(stream)
    gone = RedisStreamSink(uri(stream, "", "sink"), "out", resume=True)
    with pytest.raises(ConnectorError, match="deleted or recreated since"):
        gone.recover(state)
    gone.close()


# ------------------------------------------------------------------ jobs

def test_a_job_reads_one_stream_and_writes_another(redis_client, names) -> None:  # type: ignore[no-untyped-def]
    source, sink = names[0], names[1]
    for n in range(5):
        redis_client.xadd(source, {"k": f"k{n % 2}", "v": str(n), "b": str(n % 2),
                                   "ts": str(1000 * n)})
    redis_client.xadd(source, {"k": "bad", "v": "many", "ts": "1"})
    job = Path(ROOT / "tests" / f".{source}.frysql")
    job.write_text(
        f"CREATE STREAM ev (k STRING, v INT, b BOOL, ts TIMESTAMP) WITH (event_time = ts, "
        f"source = 'redis://127.0.0.1:{PORT}/{source}?group=job');\n"
        f"CREATE STREAM out (k STRING, v INT, b BOOL, ts TIMESTAMP) WITH "
        f"(sink = 'redis://127.0.0.1:{PORT}/{sink}');\n"
        "INSERT INTO out SELECT k, v * 10 AS v, NOT b AS b, ts FROM ev WHERE v > 0;\n")
    try:
        run = frys("run", "--exit-when-idle", "300ms", str(job))
    finally:
        job.unlink()
    assert run.returncode == 0, run.stderr
    assert "field v: expected INT (integer text), got 'many'" in run.stderr
    assert [(f["k"], f["v"], f["b"]) for _, f in redis_client.xrange(sink)] == [
        ("k1", "10", "false"), ("k0", "20", "true"), ("k1", "30", "false"),
        ("k0", "40", "true")]
    assert redis_client.xpending(source, "job")["pending"] == 0  # acked at the end


CRASH_JOB = """
CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP)
    WITH (event_time = ts, source = 'redis://127.0.0.1:{port}/{stream}?group=job&count=50');
CREATE STREAM out WITH (sink = 'file:out.jsonl');
CREATE STREAM counted WITH (sink = 'redis://127.0.0.1:{port}/{sink}');
INSERT INTO out SELECT k, window_start, COUNT(*) AS n, SUM(v) AS s FROM ev
    GROUP BY k, TUMBLE(1s);
INSERT INTO counted SELECT k, window_start, COUNT(*) AS n FROM ev GROUP BY k, TUMBLE(1s);
"""

WRITER = """
import sys, time, redis
stream, count = sys.argv[1], int(sys.argv[2])
client = redis.Redis(port=6379)
for start in range(0, count, 50):
    pipe = client.pipeline(transaction=False)
    for n in range(start, min(start + 50, count)):
        pipe.xadd(stream, {"k": "k%d" % (n % 3), "v": n, "ts": 1000 + n * 7})
    pipe.execute()
    time.sleep(0.03)
"""


def test_a_job_killed_again_and_again_writes_what_one_run_writes(  # type: ignore[no-untyped-def]
        redis_client, names, tmp_path: Path) -> None:
    """SIGKILL `frys run --state` while it reads a Redis stream another process adds to;
    start it again each time; once the writer is done and the job has gone idle, its
    file output equals one uninterrupted run's: no entry lost, none counted twice."""
    count = 3000
    whole, trial = tmp_path / "whole", tmp_path / "trial"
    for folder, stream, sink in ((whole, names[0], names[2]), (trial, names[1], names[3])):
        folder.mkdir()
        (folder / "job.frysql").write_text(CRASH_JOB.format(port=PORT, stream=stream,
                                                            sink=sink))
    expected, got = crash_trial(
        whole, trial, lambda target: [sys.executable, "-c", WRITER, target, str(count)],
        names[0], names[1], seed=5)
    assert got == expected
    assert redis_client.xpending(names[1], "job")["pending"] == 0
    # the Redis sink: the same entries, each once (ids differ: each run has its base)
    added = [fields for _, fields in redis_client.xrange(names[3])]
    assert len(added) == len(expected)
    assert sorted(map(str, added)) == sorted(
        str(fields) for _, fields in redis_client.xrange(names[2]))


def test_the_documented_example_compiles() -> None:
    import re

    from frys.compiler import compile_text

    text = (ROOT / "docs" / "connectors.md").read_text()
    section = text[text.index("## Redis Streams"):]
    example = re.findall(r"```frysql\n(.*?)```", section, flags=re.S)[0]
    job = compile_text(example, "docs/connectors.md")
    assert set(job.streams) >= {"trades", "averages"}
