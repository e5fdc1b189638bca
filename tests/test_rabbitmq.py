"""The `amqp:` connector against a real RabbitMQ at 127.0.0.1:5672, guest/guest, vhost /
(tests/brokers.py: under CI=true a missing server fails these tests, elsewhere they skip
naming it). Each test uses queues and exchanges of its own name and deletes them after. The
shared broker cannot be restarted, so a broker going away mid-run is the server closing the
connection (`rabbitmqctl close_connection`), and a broker down at start a closed port."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import polars as pl
import pytest
from brokers import closed_port, crash_trial, frys, require_server

from frys.connectors.decode import StreamDecoder
from frys.connectors.rabbitmq import AmqpUri, RabbitMQSink, RabbitMQSource
from frys.connectors.registry import IDLE, ConnectorError, UriProblem, check_uri
from frys.dsl.types import FrysType

ROOT = Path(__file__).resolve().parent.parent
PORT = 5672
SERVER = f"amqp://127.0.0.1:{PORT}/%2F"


@pytest.fixture
def channel() -> Iterator[object]:
    require_server("RabbitMQ", PORT)
    import pika

    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", PORT))
    yield connection.channel()
    connection.close()


@pytest.fixture
def names(channel: object) -> Iterator[list[str]]:
    """Unique queue (and exchange) names for one test, deleted afterwards."""
    prefix = f"frys_test_{uuid.uuid4().hex[:10]}"
    made = [f"{prefix}_{i}" for i in range(4)]
    yield made
    for name in made:
        channel.queue_delete(name)  # type: ignore[attr-defined]
        channel.exchange_delete(name)  # type: ignore[attr-defined]


def uri(options: str, role: str = "source") -> AmqpUri:
    return AmqpUri.parse(f"{SERVER}?{options}", role)  # type: ignore[arg-type]


SCHEMA = {"k": FrysType.STRING, "v": FrysType.INT, "ts": FrysType.TIMESTAMP}


def decoder() -> StreamDecoder:
    return StreamDecoder("ev", dict(SCHEMA), "ts")


def publish(channel: object, queue: str, bodies: list[bytes],
            ids: list[str] | None = None, exchange: str = "", declare: bool = True) -> None:
    import pika

    if declare and not exchange:  # the default exchange drops what has no queue yet
        channel.queue_declare(queue, durable=True)  # type: ignore[attr-defined]
    for n, body in enumerate(bodies):
        properties = pika.BasicProperties(message_id=ids[n] if ids else None,
                                          delivery_mode=2)
        channel.basic_publish(exchange, queue, body, properties)  # type: ignore[attr-defined]


def events(values: range) -> list[bytes]:
    return [json.dumps({"k": f"k{n % 2}", "v": n, "ts": 1000 + n}).encode() for n in values]


def drain(source: RabbitMQSource, quiet: float = 0.3) -> tuple[pl.DataFrame, list]:
    """Every batch until the source has had nothing new for `quiet` seconds, concatenated,
    and the dead letters."""
    frames, letters = [], []
    last = time.monotonic()
    for item in source.batches():
        if item is IDLE:
            if time.monotonic() - last >= quiet:
                break
            time.sleep(0.01)
            continue
        last = time.monotonic()
        frames.append(item[0])
        letters.extend(item[1])
    return pl.concat(frames) if frames else decoder().empty(), letters


def queue_depth(channel: object, queue: str) -> int:
    return channel.queue_declare(queue, passive=True).method.message_count  # type: ignore[attr-defined,no-any-return]


def wait_for_depth(channel: object, queue: str, depth: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while queue_depth(channel, queue) != depth:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# ------------------------------------------------------------------ URI check

@pytest.mark.parametrize(("text", "role", "problem"), [
    ("amqp://guest:guest@localhost:5672/%2F?queue=orders", "source", None),
    ("amqp://localhost?queue=orders&prefetch=500&format=msgpack&max_bytes=1000", "source",
     None),
    ("amqp://localhost/prod?exchange=ev&exchange_type=topic&routing_key=eu.%23", "source",
     None),
    ("amqp://localhost?exchange=ev&routing_key=k&persistent=false&mandatory=false", "sink",
     None),
    ("amqp://localhost?queue=q&queue_type=quorum&declare=false", "sink", None),
    ("amqp://localhost?queue=q&prefech=5", "source",
     "unknown amqp: option 'prefech' in 'amqp://localhost?queue=q&prefech=5' (did you "
     "mean 'prefetch'?)"),
    ("amqp://localhost/", "source", "needs 'queue=NAME' or 'exchange=NAME'"),
    ("amqp://localhost?queue=q&mandatory=true", "source",
     "mandatory is an option of a amqp: sink, not of a source"),
    ("amqp://localhost?queue=q&prefetch=70000", "source",
     "prefetch must be a positive whole number up to 65535"),
    ("amqp:///?queue=q", "source", "names no host"),
    ("amqp://localhost:0x/?queue=q", "source", "bad port"),
    ("amqp://localhost?queue=q&format=xml", "sink", "format must be json or msgpack or arrow"),
    ("amqp://localhost?queue=q&exchange_type=fanout", "sink", "add 'exchange=NAME'"),
    ("amqp://localhost?queue=q&queue_type=quorum&durable=false", "source",
     "a quorum queue is always durable"),
    ("amqp://localhost?queue=q&connect_timeout=-1", "source", "connect_timeout must be"),
    ("amqp://localhost?queue=q&heartbeat=0.5", "source", "heartbeat must be a positive"),
    ("amqp://localhost?queue=", "source", "queue is empty"),
])
def test_the_uri_check_names_each_problem(text: str, role: str, problem: str | None) -> None:
    found = check_uri(text, role)
    if problem is None:
        assert found is None
    else:
        assert isinstance(found, UriProblem) and problem in found.message, found


@pytest.mark.parametrize(("text", "vhost", "user"), [
    ("amqp://localhost?queue=q", "/", "guest"),
    ("amqp://localhost/?queue=q", "/", "guest"),
    ("amqp://localhost/%2F?queue=q", "/", "guest"),
    ("amqp://al%40ice:p%3Ass@localhost/prod%2Feu?queue=q", "prod/eu", "al@ice"),
])
def test_the_vhost_and_credentials_are_read_as_pika_reads_them(text: str, vhost: str,
                                                               user: str) -> None:
    parsed = AmqpUri.parse(text, "source")
    assert (parsed.vhost, parsed.user) == (vhost, user)
    assert "p:ss" not in parsed.display  # credentials never in positions or messages


# ------------------------------------------------------------------ broker down, refused

def test_rabbitmq_down_at_start_is_a_clear_error_after_retrying() -> None:
    port = closed_port()
    text = f"amqp://127.0.0.1:{port}/?queue=q&connect_timeout=0.3"
    with pytest.raises(ConnectorError) as caught:
        RabbitMQSource(AmqpUri.parse(text, "source"), decoder())
    message = str(caught.value)
    assert f"cannot reach RabbitMQ at 127.0.0.1:{port} for the source of stream ev" in message
    assert "tried for 0.3s" in message
    with pytest.raises(ConnectorError, match=f"RabbitMQ at 127.0.0.1:{port} for the sink"):
        RabbitMQSink(AmqpUri.parse(text, "sink"), "job", "out")


def test_frys_run_with_rabbitmq_down_names_the_server(tmp_path: Path) -> None:
    port = closed_port()
    job = tmp_path / "job.frysql"
    job.write_text(f"CREATE STREAM ev (v INT) WITH (source = "
                   f"'amqp://127.0.0.1:{port}/?queue=q&connect_timeout=0.2');\n"
                   "SELECT v FROM ev;\n")
    run = subprocess.run([sys.executable, "-m", "frys", "run", "--exit-when-idle", "200ms",
                          str(job)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode != 0
    assert f"cannot reach RabbitMQ at 127.0.0.1:{port}" in run.stderr


def test_wrong_credentials_and_a_missing_queue_are_refused_at_once(channel, names) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConnectorError, match="refused the source of stream ev: user "
                                             "'guest' or its password is wrong"):
        RabbitMQSource(AmqpUri.parse(f"amqp://guest:nope@127.0.0.1/?queue={names[0]}",
                                     "source"), decoder())
    with pytest.raises(ConnectorError, match=f"cannot declare queue {names[0]}: NOT_FOUND"):
        RabbitMQSource(uri(f"queue={names[0]}&declare=false"), decoder())
    channel.queue_declare(names[1], durable=False)
    with pytest.raises(ConnectorError, match=r"PRECONDITION_FAILED.*match its durable="):
        RabbitMQSource(uri(f"queue={names[1]}"), decoder())


# ------------------------------------------------------------------ decoding

def test_bad_messages_are_dead_letters_named_by_delivery_tag_and_id(channel, names) -> None:  # type: ignore[no-untyped-def]
    queue = names[0]
    source = RabbitMQSource(uri(f"queue={queue}&max_bytes=200"), decoder())
    bodies = [b'{"k": "a", "v": 1, "ts": 1000}',
              b'{"k": "b", "v": "many", "ts": 2000}',  # wrong type
              b'not json',
              json.dumps({"k": "c" * 300, "v": 3, "ts": 3000}).encode(),  # oversize
              b'{"k": "d", "v": 4}',  # no event time
              b'{\n "k": "e",\n "v": 5, "ts": "2024-01-01T00:00:00Z"}']
    publish(channel, queue, bodies, [f"m{n}" for n in range(len(bodies))])
    batch, letters = drain(source)
    source.close()
    assert batch["k"].to_list() == ["a", "e"]
    where = f"{SERVER}/{queue}@"
    found = sorted((letter.position, letter.reason.split(":")[0]) for letter in letters)
    assert [position for position, _ in found] == [
        f"{where}2 message_id=m1", f"{where}3 message_id=m2", f"{where}4 message_id=m3",
        f"{where}5 message_id=m4"]
    reasons = {letter.position.split(" ")[0][len(where):]: letter.reason
               for letter in letters}
    assert "malformed JSON" in reasons["3"]
    assert reasons["4"] == "message of 329 bytes is larger than max_bytes=200"
    assert "v" in reasons["2"]


def test_msgpack_and_arrow_round_trip_through_the_sink(channel, names) -> None:  # type: ignore[no-untyped-def]
    rows = pl.DataFrame({"k": ["x", None, "z"], "v": [1, 2, None],
                         "ts": pl.Series([1000, 2000, 3000]).cast(pl.Datetime("ms", "UTC"))})
    for queue, form in ((names[0], "msgpack"), (names[1], "arrow")):
        sink = RabbitMQSink(uri(f"queue={queue}&format={form}", "sink"), "job", "out")
        sink.write(rows)
        assert sink.pre_commit(1)["rows"] == 3
        sink.close()
        assert queue_depth(channel, queue) == (3 if form == "msgpack" else 1)
        source = RabbitMQSource(uri(f"queue={queue}&format={form}"), decoder())
        batch, letters = drain(source)
        source.close()
        assert letters == []
        assert batch.to_dicts() == rows.to_dicts()
    # no checkpoints (position() never asked): each batch acked at the next pull
    assert queue_depth(channel, names[0]) == 0
    assert queue_depth(channel, names[1]) == 0


# ------------------------------------------------------------------ acks, prefetch, resume

def test_prefetch_bounds_the_deliveries_waiting_for_a_checkpoint(channel, names) -> None:  # type: ignore[no-untyped-def]
    queue = names[0]
    publish(channel, queue, events(range(12)), [f"m{n}" for n in range(12)])
    source = RabbitMQSource(uri(f"queue={queue}&prefetch=5"), decoder())
    source.position()  # a checkpointed run: acks wait for commit()
    batch, _ = drain(source)
    assert batch["v"].to_list() == [0, 1, 2, 3, 4]  # the broker sends no more
    source.commit()
    batch, _ = drain(source)
    assert batch["v"].to_list() == [5, 6, 7, 8, 9]
    source.commit()
    source.close()
    assert queue_depth(channel, queue) == 2


def test_a_window_waiting_for_a_checkpoint_warns_once(channel, names, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import frys.connectors.rabbitmq as rabbitmq

    monkeypatch.setattr(rabbitmq, "_STALL_WARNING_SECONDS", 0.05)
    queue = names[0]
    publish(channel, queue, events(range(3)))
    source = RabbitMQSource(uri(f"queue={queue}&prefetch=2"), decoder())
    source.position()
    with pytest.warns(RuntimeWarning, match="all prefetch=2 deliveries wait to be "
                                            "acknowledged at the next checkpoint"):
        assert drain(source, quiet=0.5)[0]["v"].to_list() == [0, 1]
    source.close()


def test_without_checkpoints_each_batch_is_acked_and_nothing_stalls(channel, names) -> None:  # type: ignore[no-untyped-def]
    queue = names[0]
    publish(channel, queue, events(range(40)))
    source = RabbitMQSource(uri(f"queue={queue}&prefetch=5"), decoder())
    batch, _ = drain(source)
    assert batch["v"].to_list() == list(range(40))
    source.close()
    assert queue_depth(channel, queue) == 0


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_a_resumed_source_drops_the_redeliveries_its_checkpoint_holds(  # type: ignore[no-untyped-def]
        channel, names, queue_type: str) -> None:
    """The crash between a checkpoint and its ack: the checkpoint's deliveries come back
    redelivered and are dropped by id; those after the checkpoint are taken again; a
    message without an id is taken again (at-least-once)."""
    queue = names[0]
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": queue_type})
    ids = [f"m{n}" for n in range(10)]
    publish(channel, queue, events(range(10)), ids, declare=False)
    publish(channel, queue, events(range(10, 11)), declare=False)  # no message_id
    first = RabbitMQSource(uri(f"queue={queue}&queue_type={queue_type}"), decoder())
    first.position()
    batch, _ = drain(first)
    assert batch["v"].to_list() == list(range(11))
    checkpoint = first.position()
    publish(channel, queue, events(range(11, 14)), ["m11", "m12", "m13"], declare=False)
    assert drain(first)[0]["v"].to_list() == [11, 12, 13]  # after the checkpoint
    first.close()  # killed: nothing acknowledged
    assert wait_for_depth(channel, queue, 14)  # (a quorum queue counts returns a bit later)
    resumed = RabbitMQSource(uri(f"queue={queue}&queue_type={queue_type}"), decoder())
    resumed.seek(checkpoint)
    batch, _ = drain(resumed)
    assert batch["v"].to_list() == [10, 11, 12, 13]
    resumed.commit()
    assert queue_depth(channel, queue) == 0
    publish(channel, queue, events(range(14, 16)), ["m14", "m3"], declare=False)  # fresh
    assert drain(resumed)[0]["v"].to_list() == [14, 15]
    resumed.close()


def test_a_frys_sinks_rows_published_again_after_its_crash_are_taken_once(  # type: ignore[no-untyped-def]
        channel, names) -> None:
    queue = names[0]
    rows = pl.DataFrame({"k": ["a"] * 8, "v": list(range(8)),
                         "ts": pl.Series(range(8)).cast(pl.Datetime("ms", "UTC"))})
    sink = RabbitMQSink(uri(f"queue={queue}", "sink"), "up", "out")
    sink.write(rows[:3])
    state = sink.pre_commit(1)
    sink.write(rows[3:5])  # after the checkpoint, then the crash
    sink.pre_commit(2)
    sink.abort()
    resumed = RabbitMQSink(uri(f"queue={queue}", "sink"), "up", "out")
    resumed.recover(state)
    resumed.write(rows[3:8])  # the replay: rows 3, 4 again, then new ones
    resumed.pre_commit(3)
    resumed.close()
    assert queue_depth(channel, queue) == 10
    method, properties, _ = channel.basic_get(queue)
    assert (properties.message_id, properties.app_id, properties.delivery_mode) == (
        f"{state['producer']}/1", "frys", 2)
    channel.basic_nack(method.delivery_tag, requeue=True)
    source = RabbitMQSource(uri(f"queue={queue}"), decoder())
    assert sorted(drain(source)[0]["v"].to_list()) == list(range(8))
    source.close()


def test_an_arrow_message_partly_taken_gives_only_its_new_rows(channel, names) -> None:  # type: ignore[no-untyped-def]
    queue = names[0]
    rows = pl.DataFrame({"k": ["a"] * 6, "v": list(range(6)),
                         "ts": pl.Series(range(6)).cast(pl.Datetime("ms", "UTC"))})
    sink = RabbitMQSink(uri(f"queue={queue}&format=arrow", "sink"), "up", "out")
    sink.write(rows[:2])
    state = sink.pre_commit(1)
    sink.write(rows[2:4])
    sink.pre_commit(2)
    sink.close()
    resumed = RabbitMQSink(uri(f"queue={queue}&format=arrow", "sink"), "up", "out")
    resumed.recover(state)
    resumed.write(rows[2:6])  # one message: rows 3-6, of which 3 and 4 were taken
    resumed.pre_commit(3)
    resumed.close()
    source = RabbitMQSource(uri(f"queue={queue}&format=arrow"), decoder())
    assert drain(source)[0]["v"].to_list() == list(range(6))
    source.close()


def test_a_source_of_an_exchange_reads_its_own_exclusive_queue(channel, names) -> None:  # type: ignore[no-untyped-def]
    exchange = names[0]
    source = RabbitMQSource(uri(f"exchange={exchange}&exchange_type=topic&routing_key=eu.%23"),
                            decoder())
    assert source.queue.startswith("amq.gen-")
    publish(channel, "eu.paris", events(range(2)), exchange=exchange)
    publish(channel, "us.nyc", events(range(2, 3)), exchange=exchange)
    assert drain(source)[0]["v"].to_list() == [0, 1]
    source.close()


def test_the_sink_refuses_a_message_no_queue_takes(channel, names) -> None:  # type: ignore[no-untyped-def]
    exchange = names[0]
    sink = RabbitMQSink(uri(f"exchange={exchange}&routing_key=nowhere", "sink"), "job", "out")
    sink.write(pl.DataFrame({"k": ["a"], "v": [1]}))
    with pytest.raises(ConnectorError, match=r"was returned: 312 NO_ROUTE .*mandatory=false"):
        sink.pre_commit(1)
    sink.abort()
    relaxed = RabbitMQSink(uri(f"exchange={exchange}&routing_key=nowhere&mandatory=false",
                               "sink"), "job", "out")
    relaxed.write(pl.DataFrame({"k": ["a"], "v": [1]}))
    relaxed.pre_commit(1)
    relaxed.close()


# ------------------------------------------------------------------ connections lost

def close_connections_of(text: str) -> int:
    """Close, server-side, every connection whose name holds `text`; how many."""
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    listed = subprocess.run([ctl, "-q", "list_connections", "pid", "client_properties"],
                            capture_output=True, text=True, timeout=30, check=True).stdout
    pids = [line.split("\t", 1)[0] for line in listed.splitlines() if text in line]
    for pid in pids:
        subprocess.run([ctl, "-q", "close_connection", pid, "test: broker gone"],
                       capture_output=True, timeout=30, check=True)
    return len(pids)


def test_a_connection_closed_by_the_broker_is_reopened_and_nothing_is_lost(  # type: ignore[no-untyped-def]
        channel, names) -> None:
    queue = names[0]
    publish(channel, queue, events(range(4)), [f"m{n}" for n in range(4)])
    source = RabbitMQSource(uri(f"queue={queue}"), decoder())
    source.position()  # checkpointed: the four stay unacknowledged
    got = drain(source)[0]["v"].to_list()
    assert close_connections_of(f"/{queue})") == 1
    publish(channel, queue, events(range(4, 7)), [f"m{n}" for n in range(4, 7)])
    with pytest.warns(RuntimeWarning, match="lost the connection"):
        got += drain(source, quiet=1.0)[0]["v"].to_list()
    assert got == list(range(7))  # the four redelivered ones dropped: already taken
    source.commit()
    assert queue_depth(channel, queue) == 0
    source.close()


def test_a_deleted_queue_is_declared_again_and_read(channel, names) -> None:  # type: ignore[no-untyped-def]
    queue = names[0]
    publish(channel, queue, events(range(2)))
    source = RabbitMQSource(uri(f"queue={queue}"), decoder())
    got = drain(source)[0]["v"].to_list()
    channel.queue_delete(queue)
    with pytest.warns(RuntimeWarning, match=r"cancelled the consumer \(queue deleted\?\)"):
        drain(source, quiet=0.3)
    publish(channel, queue, events(range(2, 4)))
    got += drain(source, quiet=1.0)[0]["v"].to_list()
    assert got == [0, 1, 2, 3]
    source.close()


def test_the_sink_reconnects_and_publishes_what_was_unconfirmed(channel, names) -> None:  # type: ignore[no-untyped-def]
    queue = names[0]
    sink = RabbitMQSink(uri(f"queue={queue}", "sink"), "job", "out")
    sink.write(pl.DataFrame({"k": ["a", "b"], "v": [1, 2], "ts": [1, 2]}))
    sink.pre_commit(1)
    assert close_connections_of(f"/{queue})") == 1
    with pytest.warns(RuntimeWarning, match="lost the connection"):
        sink.write(pl.DataFrame({"k": ["c"], "v": [3], "ts": [3]}))
        sink.pre_commit(2)
    sink.close()
    source = RabbitMQSource(uri(f"queue={queue}"), decoder())
    batch, letters = drain(source)
    source.close()
    assert letters == []
    assert batch["k"].to_list() == ["a", "b", "c"]


# ------------------------------------------------------------------ jobs

def test_a_job_reads_one_queue_and_writes_another(channel, names, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source, sink = names[0], names[1]
    channel.queue_declare(source, durable=True)
    publish(channel, source, events(range(5)) + [b'{"k": "bad", "v": "many", "ts": 1}'])
    job = tmp_path / "job.frysql"
    job.write_text(
        f"CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP) WITH (event_time = ts, "
        f"source = '{SERVER}?queue={source}');\n"
        f"CREATE STREAM out (k STRING, v INT, ts TIMESTAMP) WITH "
        f"(sink = '{SERVER}?queue={sink}&format=msgpack');\n"
        "INSERT INTO out SELECT k, v * 10 AS v, ts FROM ev WHERE v > 0;\n")
    run = frys("run", "--exit-when-idle", "300ms", str(job))
    assert run.returncode == 0, run.stderr
    assert "many" in run.stderr and f"/{source}@6" in run.stderr
    got = []
    while True:
        method, _, body = channel.basic_get(sink, auto_ack=True)
        if method is None:
            break
        got.append(msgspec.msgpack.decode(body))
    assert [(row["k"], row["v"]) for row in got] == [("k1", 10), ("k0", 20), ("k1", 30),
                                                     ("k0", 40)]
    assert queue_depth(channel, source) == 0  # acked


CRASH_JOB = """
CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP)
    WITH (event_time = ts, source = '{server}?queue={queue}');
CREATE STREAM out WITH (sink = 'file:out.jsonl');
CREATE STREAM counted WITH (sink = '{server}?queue={sink}');
INSERT INTO out SELECT k, window_start, COUNT(*) AS n, SUM(v) AS s FROM ev
    GROUP BY k, TUMBLE(1s);
INSERT INTO counted SELECT k, window_start, COUNT(*) AS n FROM ev GROUP BY k, TUMBLE(1s);
"""

WRITER = """
import json, sys, time, pika
queue, count = sys.argv[1], int(sys.argv[2])
connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672))
channel = connection.channel()
channel.queue_declare(queue, durable=True)
for start in range(0, count, 50):
    for n in range(start, min(start + 50, count)):
        body = json.dumps({"k": "k%d" % (n % 3), "v": n, "ts": 1000 + n * 7})
        channel.basic_publish("", queue, body, pika.BasicProperties(
            message_id="w%d" % n, delivery_mode=2))
    connection.process_data_events(0)
    time.sleep(0.03)
connection.close()
"""


def test_a_job_killed_again_and_again_writes_what_one_run_writes(  # type: ignore[no-untyped-def]
        channel, names, tmp_path: Path) -> None:
    """SIGKILL `frys run --state` while it reads a queue another process publishes to
    (messages with ids); start it again each time; once the writer is done and the job
    has gone idle, its file output equals one uninterrupted run's: no message lost, none
    counted twice. Its amqp: sink published some rows twice (replays after the kills), and
    a frys source reading that queue takes each row once."""
    count = 3000
    whole, trial = tmp_path / "whole", tmp_path / "trial"
    for folder, queue, sink in ((whole, names[0], names[2]), (trial, names[1], names[3])):
        folder.mkdir()
        (folder / "job.frysql").write_text(CRASH_JOB.format(server=SERVER, queue=queue,
                                                            sink=sink))
    expected, got = crash_trial(
        whole, trial, lambda target: [sys.executable, "-c", WRITER, target, str(count)],
        names[0], names[1], seed=5)
    assert got == expected
    assert queue_depth(channel, names[1]) == 0
    # the amqp: sink: maybe duplicates on the broker, each row once through a frys source
    assert queue_depth(channel, names[3]) >= len(expected)
    counted = StreamDecoder("counted", {"k": FrysType.STRING, "n": FrysType.INT,
                                        "window_start": FrysType.TIMESTAMP}, None)
    source = RabbitMQSource(uri(f"queue={names[3]}"), counted)
    read = drain(source)[0]
    source.close()
    assert read.height == len(expected)
    assert sorted(zip(read["k"], read["n"], strict=True)) == sorted(
        (row["k"], row["n"]) for row in map(json.loads, expected))


def test_the_documented_example_compiles() -> None:
    from frys.compiler import compile_text

    text = (ROOT / "docs" / "connectors.md").read_text()
    section = text[text.index("## RabbitMQ"):]
    example = re.findall(r"```frysql\n(.*?)```", section, flags=re.S)[0]
    job = compile_text(example, "docs/connectors.md")
    assert set(job.streams) >= {"orders", "totals"}


def test_on_bytewax_with_snapshots_nothing_is_acked_before_a_snapshot_holds_it(  # type: ignore[no-untyped-def]
        channel, names, tmp_path: Path) -> None:
    """`frys run --runtime bytewax -r DIR` takes the source's position before it reads, as
    the embedded runtime's first checkpoint does: killed before bytewax's first snapshot
    (a long -s), the run has acknowledged nothing, and every message waits in the queue
    for the run that resumes (acknowledged as they went, they were lost with the run)."""
    queue = names[0]
    publish(channel, queue, events(range(30)))
    job = tmp_path / "job.frysql"
    job.write_text(f"""
CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP)
    WITH (event_time = ts, source = '{SERVER}?queue={queue}');
CREATE STREAM out WITH (sink = 'file:out.jsonl');
INSERT INTO out SELECT k, v FROM ev;
""")
    run = subprocess.Popen([sys.executable, "-m", "frys", "run", "--runtime", "bytewax",
                            str(job), "-r", str(tmp_path / "recovery"), "-s", "600"],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    out = tmp_path / "out.jsonl"
    try:
        deadline = time.monotonic() + 30
        while not (out.exists() and len(out.read_text().splitlines()) == 30):
            assert run.poll() is None, run.stderr.read() if run.stderr else ""
            assert time.monotonic() < deadline, "the run did not take the 30 messages"
            time.sleep(0.05)
    finally:
        run.kill()
        run.wait()
    assert wait_for_depth(channel, queue, 30)  # all back in the queue, none acknowledged
