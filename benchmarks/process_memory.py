"""Memory of the measuring process, for the benchmark harnesses (Linux /proc)."""

from __future__ import annotations


def rss_now_mb() -> float:
    """This process' resident set size now, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak_rss() -> bool:
    """Reset this process' RSS high-water mark (Linux: ru_maxrss and VmHWM) to its RSS, so
    that a peak read later covers only what ran since; False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True
