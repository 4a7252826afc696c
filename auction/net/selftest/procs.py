"""Processes as /proc shows them (Linux): whether one has ended, its children and all its descendants.

What the orphan checks of the selftest and the suite read: a process that outlived its parent would still be
listed, re-parented to init.
"""

from __future__ import annotations

import time
from pathlib import Path


def state(pid: int) -> str | None:
    """The process's state letter from /proc (R, S, Z ...), or None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] not in "ZX":
                found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    """Children, their children, and so on."""
    out, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def ended(pid: int, within: float = 10.0) -> bool:
    """Poll /proc until the process is gone (or a zombie nobody reaped yet), for at most ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if state(pid) in (None, "Z", "X"):
            return True
        time.sleep(0.02)
    return False


def rss_kib(pid: int) -> int:
    """Resident memory of a process in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_wait_s(pid: int) -> float:
    """Seconds the process's main thread has spent ready to run but waiting for a CPU (the second field of
    /proc/PID/schedstat, in ns): time the machine's other work took from it. 0.0 where the kernel does not say."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0
