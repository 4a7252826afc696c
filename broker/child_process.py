"""Child processes that never outlive this one: ``popen_tied`` starts them, ``signal_group`` signals one
with whatever it started, ``log_tail`` reads the end of the log it wrote.

Every process liqnet starts goes through here: the brokers (``broker.server``), ``liqnet network``'s house and
keepers, and the selftest's cluster. Each child leads a process group of its own and, on Linux, asks the
kernel (``PR_SET_PDEATHSIG``) for SIGTERM when its parent dies, even by SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Linux sends the parent-death signal when the THREAD that forked the child ends (prctl(2)), not the
# process. asyncio.to_thread workers end with their event loop, so every child is forked from this one
# thread, which lives as long as the process.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="liqnet-spawn")


def popen_tied(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen`` for a child that must not outlive this process, whatever ends it.

    The child gets a process group of its own (stop it, and whatever it started, with ``os.killpg``; a
    Ctrl-C at the terminal reaches only us, and we stop it in order) and, on Linux, SIGTERM from the
    kernel when this process dies, SIGKILL included. Elsewhere only the signal forwarding holds.
    """
    return _SPAWNER.submit(_popen, list(argv), kwargs).result()


def _popen(argv: list[str], kwargs: dict[str, Any]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, start_new_session=True, preexec_fn=_die_with_parent(), **kwargs)


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that sets PR_SET_PDEATHSIG to SIGTERM (Linux), or None where there is none.

    Everything is resolved before the fork: between fork and exec the child may only make the call.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent, term = os.getpid(), int(signal.SIGTERM)
    getppid, exit_now = os.getppid, os._exit

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, term, 0, 0, 0)
        if getppid() != parent:  # the parent died before the call: nobody will signal us now
            exit_now(1)

    return preexec


def signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the child's process group (the child leads it: ``popen_tied``), or the child alone."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)


def log_tail(path: Path, lines: int = 1, *, missing: str = "no log", empty: str = "no output") -> str:
    """The last ``lines`` lines of a child's log file: what to show when it died or did not start."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return missing
    return "\n".join(text[-lines:]) or empty
