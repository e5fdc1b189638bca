"""The `nats:` connector against a real NATS server with JetStream at 127.0.0.1:4222
(tests/brokers.py: under CI=true a missing server fails these tests, elsewhere they skip
naming it). Each test uses JetStream streams and subjects of its own name and deletes them
after; the restart tests run a nats-server of their own on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
import pytest
from brokers import closed_port, crash_trial, frys, private_server, require_server

from frys.connectors.decode import StreamDecoder
from frys.connectors.nats_jetstream import (
    JetStreamSource,
    NatsUri,
    _LoopThread,
)
from frys.connectors.nats_jetstream_sink import JetStreamSink
from frys.connectors.registry import IDLE, ConnectorError, UriProblem, check_uri
from frys.dsl.types import FrysType

ROOT = Path(__file__).resolve().parent.parent
PORT = 4222


class Nats:
    """A plain nats-py client for the tests (its own loop thread): publish, read back,
    look at consumers."""

    def __init__(self, port: int = PORT) -> None:
        import nats

        self.loop = _LoopThread("test-nats")
        self.client = self.loop.run(nats.connect(f"nats://127.0.0.1:{port}"), 10)
        self.js = self.client.jetstream()

    def run(self, coroutine: Any) -> Any:
        return self.loop.run(coroutine, 30)

    def add_stream(self, name: str, *subjects: str, **config: Any) -> None:
        self.run(self.js.add_stream(name=name, subjects=list(subjects), **config))

    def publish(self, subject: str, *payloads: bytes | str | dict[str, Any]) -> list[int]:
        """Each payload published through JetStream (a dict as JSON); their sequences."""
        async def send() -> list[int]:
            sequences = []
            for payload in payloads:
                data = (json.dumps(payload).encode() if isinstance(payload, dict)
                        else payload.encode() if isinstance(payload, str) else payload)
                sequences.append((await self.js.publish(subject, data)).seq)
            return sequences
        return self.run(send())

    def messages(self, stream: str) -> list[tuple[bytes, dict[str, str]]]:
        """Every message of the stream, in order: (payload, headers)."""
        async def read() -> list[tuple[bytes, dict[str, str]]]:
            info = await self.js.stream_info(stream)
            out = []
            for sequence in range(info.state.first_seq, info.state.last_seq + 1):
                message = await self.js.get_msg(stream, sequence)
                out.append((message.data or b"", dict(message.headers or {})))
            return out
        return self.run(read())

    def consumer(self, stream: str, name: str) -> Any:
        return self.run(self.js.consumer_info(stream, name))

    def delete_stream(self, name: str) -> None:
        import nats.js.errors

        with contextlib.suppress(nats.js.errors.NotFoundError):
            self.run(self.js.delete_stream(name))

    def close(self) -> None:
        self.loop.close(self.client)


@pytest.fixture
def nats_client() -> Iterator[Nats]:
    require_server("NATS", PORT)
    client = Nats()
    yield client
    client.close()


@pytest.fixture
def names(nats_client: Nats) -> Iterator[list[str]]:
    """Unique names for one test: name(i) serves as a JetStream stream and as the first
    token of its subjects; those streams are deleted afterwards."""
    prefix = f"frys_test_{uuid.uuid4().hex[:10]}"
    made = [f"{prefix}_{i}" for i in range(4)]
    yield made
    for name in made:
        nats_client.delete_stream(name)


def uri(name: str, subject: str = "ev", options: str = "", role: str = "source",
        port: int = PORT) -> NatsUri:
    text = f"nats://127.0.0.1:{port}/{name}.{subject}?stream={name}" + (
        f"&{options}" if options else "")
    return NatsUri.parse(text, role)  # type: ignore[arg-type]


SCHEMA = {"k": FrysType.STRING, "v": FrysType.INT, "ts": FrysType.TIMESTAMP}


def decoder() -> StreamDecoder:
    return StreamDecoder("ev", dict(SCHEMA), "ts")


def drain(source: JetStreamSource, until: int | None = None, seconds: float = 5.0
          ) -> tuple[pl.DataFrame, list[Any]]:
    """Batches until `until` rows (or, without it, the first IDLE after some rows or a
    quiet half second), concatenated, and the dead letters."""
    frames, letters = [], []
    rows, quiet_since = 0, time.monotonic()
    deadline = time.monotonic() + seconds
    for item in source.batches():
        if item is IDLE:
            if until is None and time.monotonic() - quiet_since > 0.5:
                break
            if (until is not None and rows >= until) or time.monotonic() > deadline:
                break
            time.sleep(0.005)
            continue
        quiet_since = time.monotonic()
        frames.append(item[0])
        letters.extend(item[1])
        rows += item[0].height
        if until is not None and rows >= until:
            break
    return pl.concat(frames) if frames else decoder().empty(), letters


def event(n: int, k: str = "a") -> dict[str, Any]:
    return {"k": k, "v": n, "ts": 1000 + n}


# ------------------------------------------------------------------ URI check

@pytest.mark.parametrize(("text", "role", "problem"), [
    ("nats://localhost:4222/orders.>?stream=ORDERS", "source", None),
    ("nats://localhost/orders.*?stream=O&durable=d&deliver=new&batch=10&ack_wait=60",
     "source", None),
    ("nats://localhost/o?stream=O&deliver=by_start_time&start_time=2024-01-01T00:00:00Z",
     "source", None),
    ("nats://localhost/orders?stream=O&format=arrow&max_bytes=1000&connect_timeout=2",
     "sink", None),
    ("nats://localhost/orders?stream=O&durabel=d", "source",
     "unknown nats: option 'durabel' in 'nats://localhost/orders?stream=O&durabel=d' (did "
     "you mean 'durable'?); known: "),
    ("nats://localhost/orders", "source", "needs the JetStream stream: add 'stream=NAME'"),
    ("nats://localhost/orders?stream=O&durable=d", "sink",
     "durable is an option of a nats: source, not of a sink"),
    ("nats://localhost/orders.*?stream=O", "sink", "no wildcards in 'orders.*'"),
    ("nats://localhost/or*ders?stream=O", "source", "is not a NATS subject"),
    ("nats://localhost/a.>.b?stream=O", "source", "is not a NATS subject"),
    ("nats://localhost/?stream=O", "source", "names no subject"),
    ("nats:///orders?stream=O", "source", "names no host"),
    ("nats://localhost:99999/orders?stream=O", "source", "bad port"),
    ("nats://localhost/orders?stream=a.b", "source", "NATS names cannot hold"),
    ("nats://localhost/orders?stream=O&deliver=oldest", "source",
     "deliver must be all or new or by_start_time"),
    ("nats://localhost/orders?stream=O&deliver=by_start_time", "source",
     "deliver=by_start_time and start_time=<ISO-8601> go together"),
    ("nats://localhost/o?stream=O&deliver=by_start_time&start_time=monday", "source",
     "start_time must be an ISO-8601 time"),
    ("nats://localhost/orders?stream=O&batch=0", "source",
     "batch must be a positive whole number up to 100000"),
    ("nats://localhost/orders?stream=O&format=xml", "sink",
     "format must be json or msgpack or arrow"),
])
def test_the_uri_check_names_each_problem(text: str, role: str, problem: str | None) -> None:
    found = check_uri(text, role)
    if problem is None:
        assert found is None
    else:
        assert isinstance(found, UriProblem) and problem in found.message, found


# ------------------------------------------------------------------ broker down

def test_nats_down_at_start_is_a_clear_error_after_retrying() -> None:
    port = closed_port()
    text = f"nats://127.0.0.1:{port}/ev?stream=EV&connect_timeout=0.5"
    before = threading.active_count()
    started = time.monotonic()
    with pytest.raises(ConnectorError) as caught:
        JetStreamSource(NatsUri.parse(text, "source"), decoder(), "job")
    message = str(caught.value)
    assert f"cannot reach NATS at 127.0.0.1:{port} for the source of stream ev" in message
    assert "tried for 0.5s" in message
    assert time.monotonic() - started >= 0.25  # it did retry, with backoff
    with pytest.raises(ConnectorError, match=f"NATS at 127.0.0.1:{port} for the sink"):
        JetStreamSink(NatsUri.parse(text, "sink"), "job", "out")
    assert threading.active_count() == before  # the loop threads ended


def test_frys_run_with_nats_down_names_the_server(tmp_path: Path) -> None:
    port = closed_port()
    job = tmp_path / "job.frysql"
    job.write_text(f"CREATE STREAM ev (v INT) WITH (source = "
                   f"'nats://127.0.0.1:{port}/ev?stream=EV&connect_timeout=0.2');\n"
                   "SELECT v FROM ev;\n")
    run = frys("run", "--exit-when-idle", "200ms", str(job))
    assert run.returncode != 0
    assert f"cannot reach NATS at 127.0.0.1:{port}" in run.stderr


# ------------------------------------------------------------------ decoding

def test_bad_messages_are_dead_letters_named_by_their_stream_sequence(  # type: ignore[no-untyped-def]
        nats_client, names) -> None:
    name = names[0]
    nats_client.add_stream(name, f"{name}.>")
    good = nats_client.publish(f"{name}.ev", event(1))
    wrong_type = nats_client.publish(f"{name}.ev", {"k": "b", "v": "many", "ts": 2})
    not_json = nats_client.publish(f"{name}.ev", "v=3, k=c")
    oversize = nats_client.publish(f"{name}.ev", {"k": "x" * 300, "v": 4, "ts": 4})
    last = nats_client.publish(f"{name}.ev", {"k": "e", "v": 5, "ts": "2024-01-01T00:00:05Z"})
    source = JetStreamSource(uri(name, options="max_bytes=200"), decoder(), "job")
    batch, letters = drain(source)
    source.close()
    assert batch["v"].to_list() == [1, 5]
    where = f"nats://127.0.0.1:{PORT}/{name}.ev@"
    reasons = {letter.position: letter.reason for letter in letters}
    assert sorted(reasons) == sorted(where + str(s[0]) for s in (wrong_type, not_json,
                                                                 oversize))
    assert "field v" in reasons[where + str(wrong_type[0])]
    assert "malformed JSON" in reasons[where + str(not_json[0])]
    assert "larger than max_bytes=200" in reasons[where + str(oversize[0])]
    assert where + str(good[0]) not in reasons and where + str(last[0]) not in reasons


@pytest.mark.parametrize("encoding", ["json", "msgpack", "arrow"])
def test_the_sink_writes_what_the_source_reads_back(  # type: ignore[no-untyped-def]
        nats_client, names, encoding) -> None:
    name = names[0]
    rows = pl.DataFrame({"k": [f"k{n}" for n in range(500)],
                         "v": [None if n == 3 else n for n in range(500)],
                         "ts": pl.Series([n * 1000 for n in range(500)]).cast(
                             pl.Datetime("ms", "UTC"))})
    sink = JetStreamSink(uri(name, options=f"format={encoding}", role="sink"), "job", "out")
    sink.write(rows)
    assert sink.pre_commit(1) == {"base": sink.base, "rows": 500}
    sink.close()  # the stream was created by the sink, capturing its subject
    stored = nats_client.messages(name)
    ids = [headers["Nats-Msg-Id"] for _, headers in stored]
    assert ids[-1] == f"job/out/{sink.base}/500"
    if encoding != "arrow":
        assert len(stored) == 500 and ids[0] == f"job/out/{sink.base}/1"
    if encoding == "msgpack":
        assert msgspec.msgpack.decode(stored[3][0]) == {
            "k": "k3", "v": None, "ts": "1970-01-01T00:00:03.000Z"}
    source = JetStreamSource(uri(name, options=f"format={encoding}"), decoder(), "job")
    read, letters = drain(source, until=500)
    source.close()
    assert letters == []
    assert read.equals(rows)


# ------------------------------------------------------------------ positions and acks

def test_messages_are_acked_at_commit_and_a_resume_starts_after_the_checkpoint(  # type: ignore[no-untyped-def]
        nats_client, names) -> None:
    name = names[0]
    nats_client.add_stream(name, f"{name}.>")
    sequences = nats_client.publish(f"{name}.ev", *(event(n) for n in range(10)))
    first = JetStreamSource(uri(name, options="batch=4"), decoder(), "job")
    batches = first.batches()
    taken = next(item for item in batches if item is not IDLE)
    assert taken[0]["v"].to_list() == [0, 1, 2, 3]
    checkpoint = first.position()
    assert checkpoint == sequences[3]
    taken = next(item for item in batches if item is not IDLE)  # then the process dies
    assert taken[0]["v"].to_list() == [4, 5, 6, 7]
    first.close()  # no commit: nothing acked
    assert nats_client.consumer(name, "job").num_ack_pending >= 8
    resumed = JetStreamSource(uri(name, options="batch=4"), decoder(), "job")
    resumed.seek(checkpoint)
    batch, _ = drain(resumed, until=6)
    assert batch["v"].to_list() == [4, 5, 6, 7, 8, 9]
    assert resumed.position() == sequences[-1]
    resumed.commit()
    info = nats_client.consumer(name, "job")
    assert info.num_ack_pending == 0 and info.ack_floor.stream_seq == sequences[-1]
    resumed.close()
    again = JetStreamSource(uri(name), decoder(), "job")
    assert drain(again)[0].height == 0  # everything acked: nothing read again
    again.close()
    # a checkpoint older than what was acked (the newest one damaged): read from there
    older = JetStreamSource(uri(name), decoder(), "job")
    older.seek(sequences[6])
    assert drain(older, until=3)[0]["v"].to_list() == [7, 8, 9]
    older.close()


def test_a_run_without_a_checkpoint_reads_its_unacked_messages_again_at_once(  # type: ignore[no-untyped-def]
        nats_client, names) -> None:
    """A crashed run's unacked messages are not left to ack_wait (30 min here): the next
    run recreates the consumer after its ack floor and reads them first, in order."""
    name = names[0]
    nats_client.add_stream(name, f"{name}.>")
    nats_client.publish(f"{name}.ev", *(event(n) for n in range(3)))
    crashed = JetStreamSource(uri(name, options="ack_wait=1800"), decoder(), "job")
    assert drain(crashed, until=2)[0]["v"].to_list()[:2] == [0, 1]
    crashed.commit()  # 0 and 1 (and 2 if fetched) acked; then more, unacked
    acked = crashed.position()
    nats_client.publish(f"{name}.ev", *(event(n) for n in range(3, 6)))
    drain(crashed, until=6 - acked)
    crashed.close()
    nats_client.publish(f"{name}.ev", event(6))
    again = JetStreamSource(uri(name), decoder(), "job")
    started = time.monotonic()
    assert drain(again, until=7 - acked)[0]["v"].to_list() == list(range(acked, 7))
    assert time.monotonic() - started < 3
    again.close()


def test_wildcards_deliver_new_and_by_start_time(nats_client, names) -> None:  # type: ignore[no-untyped-def]
    name = names[0]
    nats_client.add_stream(name, f"{name}.>")
    nats_client.publish(f"{name}.eu.ev", event(0))
    nats_client.publish(f"{name}.us.ev", event(1))
    nats_client.publish(f"{name}.us.other", event(2))
    time.sleep(0.05)
    middle = datetime.now(UTC)
    time.sleep(0.05)
    nats_client.publish(f"{name}.eu.ev", event(3))
    everything = JetStreamSource(uri(name, "*.ev"), decoder(), "all")
    assert drain(everything)[0]["v"].to_list() == [0, 1, 3]
    everything.close()
    deep = JetStreamSource(uri(name, ">", "durable=deep"), decoder(), "x")
    assert drain(deep)[0]["v"].to_list() == [0, 1, 2, 3]
    deep.close()
    since = JetStreamSource(uri(name, "*.ev", "deliver=by_start_time&start_time="
                                + middle.strftime("%Y-%m-%dT%H:%M:%S.%fZ")), decoder(),
                           "since")
    assert drain(since)[0]["v"].to_list() == [3]
    since.close()
    new = JetStreamSource(uri(name, "*.ev", "deliver=new"), decoder(), "new")
    assert drain(new)[0].height == 0
    nats_client.publish(f"{name}.us.ev", event(4))
    assert drain(new)[0]["v"].to_list() == [4]
    new.close()
    with pytest.raises(ConnectorError, match="durable consumer deep .* reads "
                       rf"{name}\.>, not {name}\.eu\.ev; name another"):
        JetStreamSource(uri(name, "eu.ev", "durable=deep"), decoder(), "x")


def test_a_message_delivered_again_while_held_is_not_yielded_twice(  # type: ignore[no-untyped-def]
        nats_client, names) -> None:
    name = names[0]
    nats_client.add_stream(name, f"{name}.>")
    nats_client.publish(f"{name}.ev", *(event(n) for n in range(3)))
    source = JetStreamSource(uri(name, options="ack_wait=0.3"), decoder(), "job")
    assert drain(source, until=3)[0]["v"].to_list() == [0, 1, 2]
    time.sleep(0.8)  # ack_wait passes while the job holds them: delivered again
    nats_client.publish(f"{name}.ev", event(3))
    assert drain(source)[0]["v"].to_list() == [3]
    assert nats_client.consumer(name, "job").num_redelivered >= 1
    source.commit()
    assert nats_client.consumer(name, "job").num_ack_pending == 0
    source.close()


def test_interest_retention_is_refused(nats_client, names) -> None:  # type: ignore[no-untyped-def]
    from nats.js.api import RetentionPolicy

    name = names[0]
    nats_client.add_stream(name, f"{name}.>", retention=RetentionPolicy.INTEREST)
    with pytest.raises(ConnectorError, match="interest retention"):
        JetStreamSource(uri(name), decoder(), "job")


def test_a_mistyped_stream_is_refused_naming_the_overlap(nats_client, names) -> None:  # type: ignore[no-untyped-def]
    """A stream name that does not exist is created capturing the subject; if another
    stream captures it already (the real one, its name mistyped), the server refuses."""
    name = names[0]
    nats_client.add_stream(name, f"{name}.>")
    for role, opener in (("source", lambda u: JetStreamSource(u, decoder(), "job")),
                         ("sink", lambda u: JetStreamSink(u, "job", "out"))):
        typo = NatsUri.parse(f"nats://127.0.0.1:{PORT}/{name}.ev?stream={names[1]}", role)
        with pytest.raises(ConnectorError, match=f"cannot create the JetStream stream "
                           f"{names[1]} for .*{name}.ev: subjects overlap"):
            opener(typo)


def test_closing_leaves_no_thread_and_no_warning(nats_client, names) -> None:  # type: ignore[no-untyped-def]
    name = names[0]
    before = threading.active_count()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        source = JetStreamSource(uri(name), decoder(), "job")
        next(source.batches())
        sink = JetStreamSink(uri(name, role="sink"), "job", "out")
        sink.write(pl.DataFrame({"k": ["a"], "v": [1], "ts": [1]}))
        assert drain(source, until=1)[0]["v"].to_list() == [1]
        source.commit()
        source.close()
        sink.close()
    assert threading.active_count() == before


# ------------------------------------------------------------------ a restarted NATS

@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[tuple[int, Callable[[], None], Callable[[], None]]]:
    """A nats-server of the test's own, JetStream storing in tmp_path, on a free loopback
    port, that the test can stop and start again: (port, stop, start)."""
    require_server("NATS", PORT)  # the same installation: its server binary
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not Path(binary).exists():
        pytest.fail("nats-server is not installed, though a NATS server runs", pytrace=False)
    with private_server("nats-server", lambda port: [
            binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path)]) as server:
        yield server


def test_a_nats_restarted_in_the_middle_loses_nothing(own_nats) -> None:  # type: ignore[no-untyped-def]
    port, stop, start = own_nats
    client = Nats(port)
    client.add_stream("EV", "ev.>")
    client.publish("ev.a", *(event(n) for n in range(3)))
    client.close()
    source = JetStreamSource(NatsUri.parse(
        f"nats://127.0.0.1:{port}/ev.a?stream=EV&batch=2", "source"), decoder(), "job")
    sink = JetStreamSink(NatsUri.parse(f"nats://127.0.0.1:{port}/ev.out?stream=EV", "sink"),
                         "job", "out")
    batches = source.batches()
    got = list(next(item for item in batches if item is not IDLE)[0]["v"])
    stop()
    assert next(batches) is IDLE  # NATS is down: the job is not blocked
    written: list[int] = []

    def write_while_down() -> None:  # the sink waits for its PubAcks across the restart
        sink.write(pl.DataFrame({"k": ["o"] * 3, "v": [10, 11, 12], "ts": [1, 2, 3]}))
        written.append(3)

    writer = threading.Thread(target=write_while_down)
    writer.start()
    time.sleep(0.3)
    start()
    writer.join(30)
    assert written == [3]
    client = Nats(port)
    client.publish("ev.a", *(event(n) for n in range(3, 6)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "fetching failed" while down
        deadline = time.monotonic() + 15
        while (not got or got[-1] != 5) and time.monotonic() < deadline:
            item = next(batches)
            if item is IDLE:
                time.sleep(0.01)
            else:
                got += item[0]["v"].to_list()
    assert got == [0, 1, 2, 3, 4, 5]
    source.commit()
    assert client.consumer("EV", "job").num_ack_pending == 0
    outs = [json.loads(data)["v"] for data, headers in client.messages("EV")
            if headers.get("Nats-Msg-Id", "").startswith("job/out/")]
    assert outs == [10, 11, 12]  # each once, though some may have been sent twice
    source.close()
    sink.close()
    client.close()


# ------------------------------------------------------------------ sink recovery

def frame(values: range) -> pl.DataFrame:
    return pl.DataFrame({"k": [f"k{n}" for n in values], "v": list(values),
                         "ts": pl.Series([n * 1000 for n in values]).cast(
                             pl.Datetime("ms", "UTC"))})


def test_a_recovered_sink_skips_the_rows_it_published_before_the_crash(  # type: ignore[no-untyped-def]
        nats_client, names) -> None:
    name = names[0]
    sink = JetStreamSink(uri(name, role="sink"), "job", "out")
    sink.write(frame(range(3)))
    state = sink.pre_commit(1)
    sink.write(frame(range(3, 5)))  # published after the checkpoint, then a crash
    sink.close()
    resumed = JetStreamSink(uri(name, role="sink"), "job", "out")
    resumed.recover(state)
    resumed.write(frame(range(3, 7)))  # the replay: rows 3, 4 again, then new ones
    resumed.close()
    values = [json.loads(data)["v"] for data, _ in nats_client.messages(name)]
    assert values == [0, 1, 2, 3, 4, 5, 6]
    # another writer published last: the message ids still drop the replay (dedup window)
    again = JetStreamSink(uri(name, role="sink"), "job", "out")
    nats_client.publish(f"{name}.ev", event(99))
    again.recover(state)
    again.write(frame(range(3, 8)))
    again.close()
    values = [json.loads(data)["v"] for data, _ in nats_client.messages(name)]
    assert values == [0, 1, 2, 3, 4, 5, 6, 99, 7]
    nats_client.run(nats_client.js.purge_stream(name))
    gone = JetStreamSink(uri(name, role="sink"), "job", "out")
    nats_client.publish(f"{name}.ev", {"k": "x"})
    gone.recover(state)  # nothing of this sink's there: the message ids decide
    assert (gone.rows, gone.skip_upto) == (state["rows"], state["rows"])
    gone.close()


def test_a_sink_finding_fewer_rows_than_its_checkpoint_is_refused(  # type: ignore[no-untyped-def]
        nats_client, names) -> None:
    """The stream holds an older state than the checkpoint (restored from an older
    backup): the sink's last message there holds row 1, the checkpoint says 2."""
    name = names[0]
    sink = JetStreamSink(uri(name, role="sink"), "job", "out")
    sink.write(frame(range(2)))
    state = sink.pre_commit(1)
    sink.close()
    first = nats_client.messages(name)[0]
    nats_client.delete_stream(name)
    nats_client.add_stream(name, f"{name}.ev")
    nats_client.run(nats_client.js.publish(f"{name}.ev", first[0], headers=first[1]))
    resumed = JetStreamSink(uri(name, role="sink"), "job", "out")
    with pytest.raises(ConnectorError, match="holds row 1, before the checkpoint's 2"):
        resumed.recover(state)
    resumed.close()


# ------------------------------------------------------------------ jobs

def test_a_job_reads_one_subject_and_publishes_to_another(  # type: ignore[no-untyped-def]
        nats_client, names, tmp_path: Path) -> None:
    name = names[0]
    nats_client.add_stream(name, f"{name}.>")
    nats_client.publish(f"{name}.in", *({"k": f"k{n % 2}", "v": n, "ts": 1000 * n}
                                        for n in range(5)))
    nats_client.publish(f"{name}.in", "not json", {"k": "bad", "v": "many", "ts": 1})
    job = tmp_path / "job.frysql"
    job.write_text(
        f"CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP) WITH (event_time = ts, "
        f"source = 'nats://127.0.0.1:{PORT}/{name}.in?stream={name}');\n"
        f"CREATE STREAM out (k STRING, v INT, ts TIMESTAMP) WITH "
        f"(sink = 'nats://127.0.0.1:{PORT}/{name}.out?stream={name}&format=msgpack');\n"
        "INSERT INTO out SELECT k, v * 10 AS v, ts FROM ev WHERE v > 0;\n")
    run = frys("run", "--exit-when-idle", "300ms", str(job))
    assert run.returncode == 0, run.stderr
    assert "malformed JSON" in run.stderr and "field v" in run.stderr
    assert f"{name}.in@6" in run.stderr  # the dead letter's stream sequence
    outs = [msgspec.msgpack.decode(data) for data, headers in nats_client.messages(name)
            if headers.get("Nats-Msg-Id", "").startswith("job/out/")]
    assert [(o["k"], o["v"]) for o in outs] == [("k1", 10), ("k0", 20), ("k1", 30),
                                                ("k0", 40)]
    consumer = nats_client.consumer(name, "job_ev")  # the default durable: <job>_<stream>
    assert consumer.num_ack_pending == 0 and consumer.num_pending == 0  # acked at the end


CRASH_JOB = """
CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP)
    WITH (event_time = ts,
          source = 'nats://127.0.0.1:{port}/{stream}.in?stream={stream}&batch=50');
CREATE STREAM out WITH (sink = 'file:out.jsonl');
CREATE STREAM counted WITH (sink = 'nats://127.0.0.1:{port}/{stream}.counted?stream={stream}');
INSERT INTO out SELECT k, window_start, COUNT(*) AS n, SUM(v) AS s FROM ev
    GROUP BY k, TUMBLE(1s);
INSERT INTO counted SELECT k, window_start, COUNT(*) AS n FROM ev GROUP BY k, TUMBLE(1s);
"""

WRITER = """
import asyncio, json, sys, nats
async def main(stream, count):
    client = await nats.connect("nats://127.0.0.1:4222")
    js = client.jetstream()
    for start in range(0, count, 50):
        acks = [await js.publish_async(stream + ".in", json.dumps(
                    {"k": "k%d" % (n % 3), "v": n, "ts": 1000 + n * 7}).encode())
                for n in range(start, min(start + 50, count))]
        await asyncio.gather(*acks)
        await asyncio.sleep(0.03)
    await client.close()
asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def test_a_job_killed_again_and_again_writes_what_one_run_writes(  # type: ignore[no-untyped-def]
        nats_client, names, tmp_path: Path) -> None:
    """SIGKILL `frys run --state` while it reads a JetStream subject another process
    publishes to; start it again each time; once the writer is done and the job has gone
    idle, its file output equals one uninterrupted run's: no message lost, none counted
    twice; its NATS sink holds the same rows, each once."""
    count = 3000
    whole, trial = tmp_path / "whole", tmp_path / "trial"
    for folder, stream in ((whole, names[0]), (trial, names[1])):
        folder.mkdir()
        nats_client.add_stream(stream, f"{stream}.>")
        (folder / "job.frysql").write_text(CRASH_JOB.format(port=PORT, stream=stream))
    expected, got = crash_trial(
        whole, trial, lambda target: [sys.executable, "-c", WRITER, target, str(count)],
        names[0], names[1], seed=5, lifetime=(0.6, 1.3))
    assert got == expected
    assert nats_client.consumer(names[1], "job_ev").num_ack_pending == 0

    def counted(stream: str) -> list[str]:
        return sorted(data.decode() for data, headers in nats_client.messages(stream)
                      if headers.get("Nats-Msg-Id", "").startswith("job/counted/"))
    assert len(counted(names[1])) == len(expected)
    assert counted(names[1]) == counted(names[0])


def test_the_documented_example_compiles() -> None:
    import re

    from frys.compiler import compile_text

    text = (ROOT / "docs" / "connectors.md").read_text()
    section = text[text.index("## NATS JetStream"):]
    example = re.findall(r"```frysql\n(.*?)```", section, flags=re.S)[0]
    job = compile_text(example, "docs/connectors.md")
    assert set(job.streams) >= {"orders", "totals"}


def test_the_loop_thread_runs_and_times_out() -> None:
    loop = _LoopThread("test")
    assert loop.run(asyncio.sleep(0, "done"), 1) == "done"
    with pytest.raises(TimeoutError, match=r"no answer within 0\.05s"):
        loop.run(asyncio.sleep(5), 0.05)
    loop.close(None)
    assert not loop.thread.is_alive() and loop.loop.is_closed()
