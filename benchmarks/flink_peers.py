"""What the Flink peers (peer_flink_patterns.py, peer_flink_joins.py) share. They run with
the Python of the Flink venv (tests/flink_oracle/install.py), so this imports nothing but
the standard library."""

from __future__ import annotations

import os

# lines of input in a peer's warm-up run: a job over them costs Flink's fixed cost
# (planning, the local cluster, a cold JVM) and little more
WARMUP = 10_000


def warmup_copy(csv_path: str) -> str:
    """The first WARMUP lines of a CSV file, in a file beside it; its path."""
    path = f"{csv_path}.warmup"
    with open(csv_path, "rb") as source, open(path, "wb") as target:
        for number, line in enumerate(source):
            if number == WARMUP:
                break
            target.write(line)
    return path


def peak_rss_mb() -> float:
    """Summed VmHWM of this process and all its descendants (a peer's JVM gateway, say),
    in MB."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    total_kb = 0
    stack = [os.getpid()]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        total_kb += int(line.split()[1])
        except OSError:
            pass
    return total_kb / 1024
