"""``FILE.lock``: one writer per journal, an OS lock the kernel drops however its holder dies."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


class Lock:
    """An exclusive, non-blocking OS lock on ``FILE.lock``, released by the kernel when the holder dies."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def take(cls, path: Path) -> tuple[Lock | None, str]:
        """(the lock, "") or (None, who holds it)."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children (PEP 446)
        if not _try_lock(fd):
            holder = _read_holder(fd)
            os.close(fd)
            return None, holder
        os.ftruncate(fd, 0)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        os.pwrite(fd, f"pid {os.getpid()} since {stamp}\n".encode(), 0)
        return cls(fd), ""

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text if text.startswith("pid ") else "another process (pid unknown)"


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
