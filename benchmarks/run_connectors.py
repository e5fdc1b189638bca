"""Events/s through every connector, each beside its peer in the same run: the broker's own
tool or a plain client loop doing the same sends and receives without a job, and polars
reading the same CSV/Parquet file.

Each broker has its module benchmarks/bench_<scheme>.py (`measure(events)` -> rows of
(label, events/s); see each module's docstring for exactly what is timed). A broker whose
server is not reachable is reported as skipped, naming it; the others still run. Run from
the repository root with the servers on their standard local ports:

    .venv/bin/python benchmarks/run_connectors.py [--events 200000] [--file-events 1000000]
        [--only files,redis,nats,amqp,mqtt,postgresql]
"""

from __future__ import annotations

import argparse
import importlib
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# section -> (module, the server's port on 127.0.0.1, or None for files)
SECTIONS = {
    "files": ("run_file_formats", None),
    "redis": ("bench_redis", 6379),
    "nats": ("bench_nats", 4222),
    "amqp": ("bench_amqp", 5672),
    "mqtt": ("bench_mqtt", 1883),
    "postgresql": ("bench_postgresql", 5432),
}


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000,
                        help="events through each broker (default 200,000)")
    parser.add_argument("--file-events", type=int, default=1_000_000,
                        help="events in the CSV/Parquet file (default 1,000,000)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help="comma-separated sections: " + ", ".join(SECTIONS))
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    for section in args.only.split(","):
        module_name, port = SECTIONS[section]
        if port is not None and not listening(port):
            print(f"\n[{section}] skipped: nothing listens on 127.0.0.1:{port}")
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            print(f"\n[{section}] skipped: {error}")
            continue
        count = args.file_events if section == "files" else args.events
        print(f"\n[{section}] {count:,} events")
        started = time.perf_counter()
        for label, rate in module.measure(count):
            print(f"  {label:48s} {rate:>12,.0f} events/s")
        print(f"  ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
