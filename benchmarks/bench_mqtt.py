"""Events/s through Mosquitto: its own clients beside a frys job.

The runs use a mosquitto of their own on a free loopback port, configured with
`max_queued_messages 0`: a publisher far faster than its subscriber otherwise overflows
Mosquitto's default queue of 1000 messages per session, which then drops QoS 1 messages
(the frys job acknowledges only after its checkpoints). Without the mosquitto binary they
use the broker at 127.0.0.1:1883.

* peer: `mosquitto_pub -l -q 1` publishes N JSON events, one a line, while `mosquitto_sub
  -q 1` (MQTT 5, Receive Maximum 65535) receives them: publish -> broker -> subscriber;
* frys: the same N events published the same way to a topic a `frys run --state` job
  subscribes to (`mqtt:` source, PUBACKs after its checkpoints, every 20000 events), which
  publishes each on to another topic (`mqtt:` sink, QoS 1) that `mosquitto_sub` receives:
  publish -> broker -> frys -> broker -> subscriber. The clock starts once a warm-up event
  has come all the way through (the job is up and subscribed) and stops at the last event
  out.

Without the mosquitto clients on PATH, a plain paho-mqtt loop publishes and receives
instead (slower: paho publishes about 10k messages/s in Python).

    python benchmarks/bench_mqtt.py --events 200000
"""

from __future__ import annotations

import contextlib
import getpass
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
from connector_timing import bench_main
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PORT = 1883  # the broker's: set by `own_broker`
JOB = """
CREATE STREAM ev (k STRING, v INT, ts TIMESTAMP)
    WITH (event_time = ts, source = 'mqtt://{host}:{port}/{base}/in?client_id={client_id}');
CREATE STREAM out WITH (sink = 'mqtt://{host}:{port}/{base}/out');
INSERT INTO out SELECT k, v, ts FROM ev;
"""
MOSQUITTO_PUB, MOSQUITTO_SUB = shutil.which("mosquitto_pub"), shutil.which("mosquitto_sub")


def lines(start: int, events: int) -> bytes:
    return b"".join(b'{"k": "k%d", "v": %d, "ts": %d}\n' % (n % 10, n, 1_700_000_000_000 + n)
                    for n in range(start, start + events))


class Counter:
    """A QoS 1 subscriber of `topic` that counts what arrives: mosquitto_sub (one line a
    message) or a paho client. MQTT 5 with a Receive Maximum of 65535: with the default,
    Mosquitto sends 20 at a time and drops what it cannot queue (1000) for a slow one."""

    def __init__(self, topic: str) -> None:
        self.count = 0
        self.last_at = 0.0
        self._changed = threading.Condition()
        self.process: subprocess.Popen[bytes] | None = None
        self.client: paho.Client | None = None
        if MOSQUITTO_SUB is not None:
            self.process = subprocess.Popen(
                [MOSQUITTO_SUB, "-h", HOST, "-p", str(PORT), "-V", "5", "-D", "connect",
                 "receive-maximum", "65535", "-q", "1", "-t", topic],
                stdout=subprocess.PIPE)
            threading.Thread(target=self._read, daemon=True).start()
            time.sleep(0.5)  # subscribed by then
            return
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.on_message = lambda client, userdata, message: self._arrived(1)
        properties = Properties(PacketTypes.CONNECT)
        properties.ReceiveMaximum = 65535
        self.client.connect(HOST, PORT, properties=properties)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        subscribed.wait(10)

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for chunk in iter(lambda: self.process.stdout.read1(1 << 16), b""):  # type: ignore[union-attr]
            self._arrived(chunk.count(b"\n"))

    def _arrived(self, count: int) -> None:
        with self._changed:
            self.count += count
            self.last_at = time.perf_counter()
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.count >= count, timeout):
                raise RuntimeError(f"{self.count} of {count} messages arrived in "
                                   f"{timeout:g}s")

    def close(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()


def publish(topic: str, start: int, events: int) -> None:
    """Events start.. start+events-1 at QoS 1, acknowledged by the broker when it returns."""
    if MOSQUITTO_PUB is not None:
        # at most 50000 a connection: mosquitto_pub -l (2.0.11) loses messages once its
        # packet ids wrap past 65535 on one connection
        for first in range(start, start + events, 50_000):
            count = min(50_000, start + events - first)
            subprocess.run([MOSQUITTO_PUB, "-h", HOST, "-p", str(PORT), "-q", "1", "-t",
                            topic, "-l"], input=lines(first, count), check=True, timeout=600)
        return
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.connect(HOST, PORT)
    client.loop_start()
    infos = [client.publish(topic, line, 1) for line in lines(start, events).splitlines()]
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def peer(events: int) -> float:
    topic = f"frys_bench/{uuid.uuid4().hex[:12]}"
    counter = Counter(topic)
    started = time.perf_counter()
    publish(topic, 0, events)
    counter.wait_for(events, 600)
    counter.close()
    return events / (counter.last_at - started)


def frys_job(events: int) -> float:
    base = f"frys_bench/{uuid.uuid4().hex[:12]}"
    client_id = f"frys-bench-{uuid.uuid4().hex[:12]}"
    counter = Counter(f"{base}/out")
    with tempfile.TemporaryDirectory() as folder:
        job = Path(folder) / "job.frysql"
        job.write_text(JOB.format(host=HOST, port=PORT, base=base, client_id=client_id))
        log = Path(folder) / "stderr.txt"  # a file: a pipe nobody reads could fill
        process = subprocess.Popen(
            [sys.executable, "-m", "frys", "run", "--no-progress", "--state",
             str(Path(folder) / "state"), "--checkpoint-every-events", "20000",
             "--exit-when-idle", "3s", str(job)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("w"))
        try:
            deadline = time.monotonic() + 60
            while counter.count == 0:  # warm up until one event has come through
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"the frys job did not start: {log.read_text()}")
                publish(f"{base}/in", 0, 1)
                time.sleep(0.5)
            warm = counter.count
            started = time.perf_counter()
            publish(f"{base}/in", 1, events)
            counter.wait_for(warm + events, 600)
            elapsed = counter.last_at - started
            process.wait(120)  # it stops once idle (3 s), at a checkpoint
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            counter.close()
            _forget_session(client_id)
        if process.returncode != 0:
            raise RuntimeError(f"the frys job failed: {log.read_text()}")
    return events / elapsed


def _forget_session(client_id: str) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=paho.MQTTv5)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 0
    client.connect(HOST, PORT, clean_start=True, properties=properties)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


@contextlib.contextmanager
def own_broker() -> Iterator[None]:
    """A mosquitto of this run's own with no queue limit (PORT set to its port), or the
    broker at 1883 when there is no mosquitto binary."""
    global PORT
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        yield
        return
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "mosquitto.conf"
        config.write_text(f"listener {port} {HOST}\nallow_anonymous true\n"
                          f"user {getpass.getuser()}\nmax_queued_messages 0\n")
        broker = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            for _ in range(250):
                with contextlib.suppress(OSError), socket.create_connection((HOST, port)):
                    break
                time.sleep(0.02)
            PORT = port
            yield
        finally:
            PORT = 1883
            broker.terminate()
            broker.wait(10)


def measure(events: int) -> list[tuple[str, float]]:
    """(label, events/s) rows: Mosquitto's own clients, then the frys job."""
    client = "mosquitto_pub -> mosquitto_sub" if MOSQUITTO_SUB else "paho -> paho"
    with own_broker():
        return [(f"mqtt: {client} (QoS 1)", peer(events)),
                ("mqtt: mosquitto -> frys (mqtt: source, --state) -> mosquitto (QoS 1)",
                 frys_job(events))]


if __name__ == "__main__":
    bench_main(measure, __doc__.split("\n\n")[0])
