"""The `mqtt:` connector against a real Mosquitto at 127.0.0.1:1883, and against a private
mosquitto of the test's own for restarts (tests/brokers.py: under CI=true a missing server
fails these tests, elsewhere they skip naming it). Each test uses topics and client ids of
its own (uuid) and removes the sessions it made."""

from __future__ import annotations

import getpass
import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import polars as pl
import pytest
from brokers import (
    closed_port,
    frys,
    kill_while_writing,
    private_server,
    require_server,
    server_listening,
)

from frys.connectors.decode import StreamDecoder
from frys.connectors.mqtt import MqttSink, MqttSource, MqttUri
from frys.connectors.registry import IDLE, ConnectorError, UriProblem, check_uri
from frys.dsl.types import FrysType

ROOT = Path(__file__).resolve().parent.parent
PORT = 1883

SCHEMA = {"k": FrysType.STRING, "v": FrysType.INT, "ts": FrysType.TIMESTAMP}


def decoder() -> StreamDecoder:
    return StreamDecoder("ev", dict(SCHEMA), "ts")


class Broker:
    """Unique names for one test, a publisher, and the cleanup of the sessions made."""

    def __init__(self, port: int = PORT) -> None:
        self.port = port
        self.base = f"frys_test/{uuid.uuid4().hex[:12]}"
        self.client_ids: list[str] = []

    def client_id(self) -> str:
        self.client_ids.append(f"frys-test-{uuid.uuid4().hex[:12]}")
        return self.client_ids[-1]

    def uri(self, topic: str, options: str = "", role: str = "source") -> MqttUri:
        text = f"mqtt://127.0.0.1:{self.port}/{topic}" + (f"?{options}" if options else "")
        return MqttUri.parse(text, role)  # type: ignore[arg-type]

    def source(self, topic: str, client_id: str, options: str = "") -> MqttSource:
        """A source, once the broker granted its subscription (what is published after
        this returns reaches it; on a loaded machine a publish could otherwise win the
        race with the SUBSCRIBE and go to no one)."""
        joined = "&".join(filter(None, [f"client_id={client_id}", options]))
        source = MqttSource(self.uri(topic, joined), decoder(), "unused")
        assert source.subscribed.wait(10), "the broker never granted the subscription"
        return source

    def publish(self, topic: str, payloads: list[bytes], qos: int = 1,
                retain: bool = False) -> None:
        client = _client()
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        infos = [client.publish(topic, payload, qos, retain) for payload in payloads]
        for info in infos:
            info.wait_for_publish(10)
        client.disconnect()
        client.loop_stop()

    def forget_sessions(self) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        if not server_listening(self.port):
            return
        for client_id in self.client_ids:
            client = _client(client_id)
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = 0
            client.connect("127.0.0.1", self.port, clean_start=True, properties=properties)
            client.loop_start()
            client.disconnect()
            client.loop_stop()


def _client(client_id: str = "") -> object:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    return paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                       protocol=paho.MQTTv5)


@pytest.fixture
def broker() -> Iterator[Broker]:
    require_server("Mosquitto", PORT)
    made = Broker()
    yield made
    made.forget_sessions()


def event(k: str, v: object, ts: object = 1000) -> bytes:
    return json.dumps({"k": k, "v": v, "ts": ts}).encode()


def drain(source: MqttSource, wanted: int, seconds: float = 5.0
          ) -> tuple[pl.DataFrame, list]:
    """Batches until `wanted` rows and dead letters together have come, or the time is
    up; then until the first IDLE (so that nothing more is waiting)."""
    frames, letters = [], []
    deadline = time.monotonic() + seconds
    batches = source.batches()
    while time.monotonic() < deadline:
        item = next(batches)
        if item is IDLE:
            if sum(f.height for f in frames) + len(letters) >= wanted:
                break
            time.sleep(0.01)
            continue
        frames.append(item[0])
        letters.extend(item[1])
    return (pl.concat(frames) if frames else decoder().empty()), letters


def crash(source: MqttSource) -> None:
    """What a killed process leaves: the connection dropped, nothing sent after."""
    source._closing = True
    source.client.loop_stop()
    sock = source.client.socket()
    if sock is not None:
        sock.close()


# ------------------------------------------------------------------ URI check

@pytest.mark.parametrize(("text", "role", "problem"), [
    ("mqtt://localhost:1883/sensors/#?qos=1&client_id=c&clean_session=false", "source",
     None),
    ("mqtt://localhost/a/+/c?inflight=100&count=10&max_bytes=1000&format=msgpack",
     "source", None),
    ("mqtt://user:pw@localhost/out?qos=0&retain=true&format=arrow", "sink", None),
    ("mqtt://localhost/sensors/#?qso=1", "source",
     "unknown mqtt: option 'qso' in 'mqtt://localhost/sensors/#?qso=1' (did you mean "
     "'qos'?)"),
    ("mqtt://localhost/t?qos=2", "source", "qos must be 0 or 1"),
    ("mqtt://localhost/t?retain=true", "source",
     "retain is an option of a mqtt: sink, not of a source"),
    ("mqtt://localhost/t?inflight=5", "sink",
     "inflight is an option of a mqtt: source, not of a sink"),
    ("mqtt://localhost/sensors/#", "sink", "a sink publishes to one topic"),
    ("mqtt://localhost/a/#/b", "source", "'#' must be the whole last level"),
    ("mqtt://localhost/a/b+", "source", "'+' must be a whole level"),
    ("mqtt://localhost/", "source", "names no topic"),
    ("mqtt:///t", "source", "names no host"),
    ("mqtt://localhost:0x1/t", "source", "bad port"),
    ("mqtt://localhost/t?inflight=70000", "source",
     "inflight must be a positive whole number up to 65535"),
    ("mqtt://localhost/t?format=xml", "source", "format must be json or msgpack or arrow"),
])
def test_the_uri_check_names_each_problem(text: str, role: str, problem: str | None) -> None:
    found = check_uri(text, role)
    if problem is None:
        assert found is None
    else:
        assert isinstance(found, UriProblem) and problem in found.message, found


def test_a_hash_in_the_path_is_the_wildcard_not_a_fragment() -> None:
    assert MqttUri.parse("mqtt://h/sensors/#", "source").topic == "sensors/#"
    assert MqttUri.parse("mqtt://h/sensors/#?qos=0", "source").qos == 0
    assert MqttUri.parse("mqtt://h/sensors/%23?qos=0", "source").topic == "sensors/#"
    assert MqttUri.parse("mqtt://h/#", "source").topic == "#"
    spaced = MqttUri.parse("mqtt://u%40x:p%23w@h:1884/a%20b/+", "source")
    assert (spaced.topic, spaced.username, spaced.password, spaced.port) == (
        "a b/+", "u@x", "p#w", 1884)
    assert spaced.display == "mqtt://h:1884/a b/+"


# ------------------------------------------------------------------ broker down

def test_a_broker_down_at_start_is_a_clear_error_after_retrying() -> None:
    port = closed_port()
    text = f"mqtt://127.0.0.1:{port}/ev?connect_timeout=0.3"
    started = time.monotonic()
    with pytest.raises(ConnectorError) as caught:
        MqttSource(MqttUri.parse(text, "source"), decoder(), "job.ev")
    assert time.monotonic() - started >= 0.14  # tried 3 times (waits of 50, 100 ms)
    message = str(caught.value)
    assert (f"cannot reach the MQTT broker at 127.0.0.1:{port} for the source of stream "
            "ev (tried for 0.3s)") in message
    with pytest.raises(ConnectorError, match=f"127.0.0.1:{port} for the sink of stream o"):
        MqttSink(MqttUri.parse(text, "sink"), "o")


def test_frys_run_with_the_broker_down_names_it(tmp_path: Path) -> None:
    port = closed_port()
    job = tmp_path / "job.frysql"
    job.write_text(f"CREATE STREAM ev (v INT) WITH (source = "
                   f"'mqtt://127.0.0.1:{port}/ev/#?connect_timeout=0.2');\n"
                   "SELECT v FROM ev;\n")
    run = subprocess.run([sys.executable, "-m", "frys", "run", "--exit-when-idle", "200ms",
                          str(job)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode != 0
    assert f"cannot reach the MQTT broker at 127.0.0.1:{port}" in run.stderr


# ------------------------------------------------------------------ decoding

def test_wildcards_select_topics_and_bad_messages_are_dead_letters(broker: Broker) -> None:
    base = broker.base
    source = broker.source(f"{base}/+/temp/#", broker.client_id(), "max_bytes=200")
    broker.publish(f"{base}/kitchen/temp", [event("a", 1)])
    broker.publish(f"{base}/hall/temp/raw", [event("b", 2)])
    broker.publish(f"{base}/hall/humidity", [event("skip", 0)])  # not matched
    broker.publish(f"{base}/attic/temp", [
        event("c", "seven"),  # wrong type
        b'{"k": "d", "v": ',  # not JSON
        event("e", 5, "2024-01-01T00:00:00Z"),
        event("big", 1, 1) + b" " * 300,  # over max_bytes
        b"\xff\xfe",  # not UTF-8
        event("f", None, 3000)])
    batch, letters = drain(source, 8)
    source.close()
    assert batch["k"].to_list() == ["a", "b", "e", "f"]
    assert batch["v"].to_list() == [1, 2, 5, None]
    where = f"mqtt://127.0.0.1:{PORT}/{base}/attic/temp@"
    assert sorted(letter.position for letter in letters) == [
        where + str(n) for n in (3, 4, 6, 7)]
    reasons = {letter.position.rsplit("@", 1)[1]: letter.reason for letter in letters}
    assert "field v" in reasons["3"]
    assert "malformed JSON" in reasons["4"]
    assert reasons["6"] == (f"message of {len(event('big', 1, 1)) + 300} bytes is larger "
                            "than max_bytes=200")


def test_msgpack_and_arrow_sinks_are_read_back_by_the_source(broker: Broker) -> None:
    frame = pl.DataFrame({"k": ["x", "y"], "v": [1, None],
                          "ts": pl.Series([1000, 2000]).cast(pl.Datetime("ms", "UTC"))})
    for form in ("msgpack", "arrow"):
        topic = f"{broker.base}/{form}"
        source = broker.source(topic, broker.client_id(), f"format={form}")
        sink = MqttSink(broker.uri(topic, f"format={form}", "sink"), "out")
        sink.write(frame)
        sink.pre_commit(1)
        sink.close()
        batch, letters = drain(source, 1 if form == "arrow" else 2)
        source.close()
        assert letters == []
        assert batch.equals(frame), form
    broker.publish(f"{broker.base}/msgpack", [msgspec.msgpack.encode([1, 2])])
    source = broker.source(f"{broker.base}/msgpack", broker.client_ids[0], "format=msgpack")
    _, letters = drain(source, 1)
    source.close()
    assert len(letters) == 1 and letters[0].position.endswith("/msgpack@3")


def test_the_sink_publishes_at_qos_0_or_1_and_retains_if_asked(broker: Broker) -> None:
    topic = f"{broker.base}/retained"
    sink = MqttSink(broker.uri(topic, "qos=0&retain=true", "sink"), "out")
    sink.write(pl.DataFrame({"k": ["last"], "v": [9], "ts": [5000]}))
    sink.pre_commit(1)
    sink.close()
    # a new subscription gets the retained message
    source = broker.source(topic, broker.client_id())
    batch, _ = drain(source, 1)
    source.close()
    assert batch["k"].to_list() == ["last"]
    broker.publish(topic, [b""], retain=True)  # clear the retained message


# ------------------------------------------------------------------ sessions and acks

def test_messages_published_while_the_job_is_down_are_delivered_after(broker: Broker) -> None:
    topic, client_id = f"{broker.base}/ev", broker.client_id()
    source = broker.source(topic, client_id)
    source.close()  # the subscription stays in the session
    broker.publish(topic, [event("k", n) for n in range(5)])
    source = broker.source(topic, client_id)
    assert drain(source, 5)[0]["v"].to_list() == [0, 1, 2, 3, 4]
    source.commit()
    source.close()
    source = broker.source(topic, client_id)  # acked: nothing comes again
    assert drain(source, 0, seconds=0.3)[0].height == 0
    source.close()


def test_clean_session_forgets_what_was_published_while_down(broker: Broker) -> None:
    topic, client_id = f"{broker.base}/ev", broker.client_id()
    broker.source(topic, client_id, "clean_session=true").close()
    broker.publish(topic, [event("k", 1)])
    source = broker.source(topic, client_id, "clean_session=true")
    assert drain(source, 0, seconds=0.3)[0].height == 0
    source.close()


def test_without_a_commit_a_crash_delivers_everything_again(broker: Broker) -> None:
    topic, client_id = f"{broker.base}/ev", broker.client_id()
    source = broker.source(topic, client_id)
    broker.publish(topic, [event("k", n) for n in range(3)])
    assert drain(source, 3)[0]["v"].to_list() == [0, 1, 2]
    crash(source)  # no commit: no PUBACK
    again = broker.source(topic, client_id)
    assert drain(again, 3)[0]["v"].to_list() == [0, 1, 2]  # at least once
    again.close()


def test_a_resumed_source_drops_the_redelivered_messages_its_checkpoint_holds(
        broker: Broker) -> None:
    """The crash between a checkpoint and its commit: the broker redelivers (DUP, same
    packet ids) what the checkpoint holds; those are acked and dropped, the rest is read,
    and identical payloads after the checkpoint are not mistaken for redeliveries."""
    topic, client_id = f"{broker.base}/ev", broker.client_id()
    source = broker.source(topic, client_id, "count=3")
    broker.publish(topic, [event("k", n) for n in range(3)] + [event("k", 0)] * 2)
    # the first batch takes what has arrived, up to count=3: wait for all five, or a
    # slow delivery would make it shorter than the checkpoint this test needs
    deadline = time.monotonic() + 5.0
    while source._queued < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    batches = source.batches()
    first = next(batches)
    while first is IDLE:
        first = next(batches)
    assert first[0]["v"].to_list() == [0, 1, 2]
    checkpoint = source.position()
    assert checkpoint["arrivals"] == 3 and len(checkpoint["in_state"]) == 40  # 3 entries
    assert drain(source, 2)[0]["v"].to_list() == [0, 0]  # after the checkpoint
    crash(source)  # the checkpoint is written; its commit never came
    broker.publish(topic, [event("k", 3)])
    resumed = broker.source(topic, client_id)
    resumed.seek(checkpoint)
    batch, _ = drain(resumed, 3)
    assert batch["v"].to_list() == [0, 0, 3]
    position = resumed.position()
    assert position["arrivals"] == 6
    resumed.commit()
    resumed.close()
    again = broker.source(topic, client_id)  # the dropped ones were acked too
    assert drain(again, 0, seconds=0.3)[0].height == 0
    again.close()


def test_a_resume_after_the_commit_reached_the_broker_loses_nothing(broker: Broker) -> None:
    topic, client_id = f"{broker.base}/ev", broker.client_id()
    source = broker.source(topic, client_id)
    broker.publish(topic, [event("k", n) for n in range(2)])
    drain(source, 2)
    checkpoint = source.position()
    source.commit()
    crash(source)
    broker.publish(topic, [event("k", n) for n in range(2)])  # the same payloads, new
    resumed = broker.source(topic, client_id)
    resumed.seek(checkpoint)
    assert drain(resumed, 2)[0]["v"].to_list() == [0, 1]
    resumed.close()


def test_the_inflight_window_is_backpressure_until_a_commit(broker: Broker) -> None:
    """The broker sends at most `inflight` unacknowledged messages; the source says so
    when the window is full, and the commit (after a checkpoint) lets the rest come."""
    topic, client_id = f"{broker.base}/ev", broker.client_id()
    source = broker.source(topic, client_id, "inflight=5")
    broker.publish(topic, [event("k", n) for n in range(8)])
    with pytest.warns(RuntimeWarning, match=r"5 messages delivered and not acknowledged "
                                            r"\(inflight=5\)"):
        first, _ = drain(source, 5)
    assert first["v"].to_list() == [0, 1, 2, 3, 4]
    assert drain(source, 0, seconds=0.3)[0].height == 0  # the broker holds the rest
    source.commit()
    assert drain(source, 3)[0]["v"].to_list() == [5, 6, 7]
    source.commit()
    source.close()


def test_a_bad_position_is_refused(broker: Broker) -> None:
    source = broker.source(f"{broker.base}/ev", broker.client_id())
    with pytest.raises(ConnectorError, match="is not a position of an mqtt: source"):
        source.seek({"arrivals": 1, "in_state": "!!"})
    source.close()


# ------------------------------------------------------------------ a broker restarted

@pytest.fixture
def own_mosquitto(tmp_path: Path) -> Iterator[tuple[int, Callable[[], None],
                                                     Callable[[], None]]]:
    """A mosquitto of the test's own on a free loopback port, persisting its sessions in
    tmp_path, that the test can stop and start again: (port, stop, start)."""
    require_server("Mosquitto", PORT)  # the same installation: its broker binary
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        pytest.fail("mosquitto is not installed, though a Mosquitto server runs",
                    pytrace=False)
    config = tmp_path / "mosquitto.conf"

    def command(port: int) -> list[str]:
        # `user`: mosquitto started by root would drop to the user "mosquitto", who cannot
        # write its persistence file in tmp_path
        config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                          f"user {getpass.getuser()}\n"
                          f"persistence true\npersistence_location {tmp_path}/\n")
        return [binary, "-c", str(config)]

    # stopped by SIGTERM: it writes its persistence file on the way out
    with private_server("mosquitto", command) as server:
        yield server


def test_a_broker_restarted_in_the_middle_is_reconnected_and_nothing_is_lost(
        own_mosquitto) -> None:  # type: ignore[no-untyped-def]
    port, stop, start = own_mosquitto
    broker = Broker(port)
    topic, client_id = f"{broker.base}/ev", broker.client_id()
    source = broker.source(topic, client_id)
    broker.publish(topic, [event("k", n) for n in range(3)])
    got = drain(source, 3)[0]["v"].to_list()  # in the job, not acked yet
    stop()
    with pytest.warns(RuntimeWarning, match="lost the connection"):
        assert next(source.batches()) is IDLE  # down: the job is not blocked
    start()
    broker.publish(topic, [event("k", n) for n in range(3, 6)])
    # the three unacked ones come again (DUP) and are dropped; the new ones are read
    got += drain(source, 3, seconds=15)[0]["v"].to_list()
    assert got == [0, 1, 2, 3, 4, 5]
    source.commit()
    source.close()
    again = broker.source(topic, client_id)
    assert drain(again, 0, seconds=0.3)[0].height == 0  # all acked
    again.close()


# ------------------------------------------------------------------ jobs

def subscribe(broker: Broker, topic: str) -> tuple[object, list[bytes]]:
    received: list[bytes] = []
    granted = threading.Event()  # the SUBACK: from then on, what is published reaches it
    client = _client()
    client.on_message = lambda client, userdata, message: received.append(  # type: ignore[attr-defined]
        message.payload)
    client.on_subscribe = lambda *_: granted.set()  # type: ignore[attr-defined]
    client.connect("127.0.0.1", broker.port)  # type: ignore[attr-defined]
    client.subscribe(topic, qos=1)  # type: ignore[attr-defined]
    client.loop_start()  # type: ignore[attr-defined]
    assert granted.wait(10), "the broker never granted the subscription"
    return client, received


def test_a_job_reads_a_topic_filter_and_publishes_to_a_topic(broker: Broker,
                                                             tmp_path: Path) -> None:
    client_id = broker.client_id()
    out_topic = f"{broker.base}/out"
    listener, received = subscribe(broker, out_topic)
    job = tmp_path / "job.frysql"
    job.write_text(
        f"CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP) WITH (event_time = ts, "
        f"source = 'mqtt://127.0.0.1:{PORT}/{broker.base}/in/#?client_id={client_id}');\n"
        f"CREATE STREAM out (k STRING, v INT) WITH "
        f"(sink = 'mqtt://127.0.0.1:{PORT}/{out_topic}');\n"
        "INSERT INTO out SELECT k, v * 10 AS v FROM ev WHERE v > 0;\n")
    frys("run", "--exit-when-idle", "100ms", str(job))  # makes the session
    broker.publish(f"{broker.base}/in/a", [event("a", n, 1000 * n) for n in range(3)])
    broker.publish(f"{broker.base}/in/b/c", [event("b", 3, 3000), b"not json"])
    run = frys("run", "--exit-when-idle", "300ms", str(job))
    assert run.returncode == 0, run.stderr
    assert f"mqtt://127.0.0.1:{PORT}/{broker.base}/in/b/c@5" in run.stderr
    deadline = time.monotonic() + 10
    while len(received) < 3 and time.monotonic() < deadline:  # the last PUBACKed may lag
        time.sleep(0.01)
    listener.loop_stop()  # type: ignore[attr-defined]
    listener.disconnect()  # type: ignore[attr-defined]
    assert [json.loads(payload) for payload in received] == [
        {"k": "a", "v": 10}, {"k": "a", "v": 20}, {"k": "b", "v": 30}]


CRASH_JOB = """
CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP)
    WITH (event_time = ts,
          source = 'mqtt://127.0.0.1:{port}/{topic}/#?client_id={client_id}&count=50');
CREATE STREAM out WITH (sink = 'file:out.jsonl');
INSERT INTO out SELECT k, v FROM ev;
"""

PUBLISHER = """
import sys, time
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
topic, count = sys.argv[1], int(sys.argv[2])
client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
client.connect("127.0.0.1", 1883)
client.loop_start()
for start in range(0, count, 50):
    infos = [client.publish("%s/k%d" % (topic, n % 3),
                            '{"k": "k%d", "v": %d, "ts": %d}' % (n % 3, n, 1000 + n * 7), 1)
             for n in range(start, min(start + 50, count))]
    for info in infos:
        info.wait_for_publish(10)
    time.sleep(0.03)
client.disconnect()
client.loop_stop()
"""


def test_a_job_killed_again_and_again_writes_each_event_once(broker: Broker,
                                                            tmp_path: Path) -> None:
    """SIGKILL `frys run --state` while it reads a topic filter another process publishes
    to; start it again each time; once the publisher is done and the job has gone idle,
    its file output holds every event exactly once."""
    count = 800  # under Mosquitto's default max_queued_messages while the job is down
    client_id = broker.client_id()
    (tmp_path / "job.frysql").write_text(CRASH_JOB.format(
        port=PORT, topic=broker.base, client_id=client_id))
    state = str(tmp_path / "state")
    first = frys("run", "--state", state, "--exit-when-idle", "100ms",
                 str(tmp_path / "job.frysql"))  # the session, before anything is published
    assert first.returncode == 0, first.stderr
    publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER, broker.base, str(count)],
                                 cwd=ROOT)
    kills = kill_while_writing(tmp_path / "job.frysql", tmp_path / "state", publisher,
                               seed=7, lifetime=(0.6, 1.2), runs=5,
                               checkpoint_every_events=60, final_idle="500ms")
    assert kills >= 1
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(row["v"] for row in rows) == list(range(count))


def test_the_documented_example_compiles() -> None:
    import re

    from frys.compiler import compile_text

    text = (ROOT / "docs" / "connectors.md").read_text()
    section = text[text.index("## MQTT"):]
    example = re.findall(r"```frysql\n(.*?)```", section, flags=re.S)[0]
    job = compile_text(example, "docs/connectors.md")
    assert set(job.streams) >= {"readings", "alerts"}
